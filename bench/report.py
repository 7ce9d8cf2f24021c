#!/usr/bin/env python3
"""Turns the hyperfine JSON files of bench/compare.sh into docs/BENCHMARKS.md (on stdout).

Arguments: JSON_DIR KEYGEN_MS GCM_US RSS100_MIB RSS1000_MIB CORES QVCA OPENSSL EASYRSA CFSSL HYPERFINE
       or: --hsm-section JSON_DIR CORES   (only the section on the root key in SoftHSM2)
The in-process figures of benches/hsm.rs are read from criterion's estimates in target/criterion.
"""
import json
import pathlib
import platform
import statistics
import sys
import time

LIMITS = """## Where the limits are

- **Bulk RSA issuance is bound by RSA key generation.** With `--jobs` on both cores, qvca
  issues 100 certificates in the time aws-lc needs just to generate 100 RSA-2048 keys on two
  cores (the "raw key generation" row: everything else is noise). The ratio to
  `openssl xargs -P2` is therefore the ratio of the two libraries' prime searches plus
  openssl's process start-up: on this machine openssl generated keys faster than the reference
  figures in the issue (7.6 s for 100 with `xargs -P2`, against ~13 s there), so the 3× target
  would need key generation faster than aws-lc's. The measurements above show it: 100
  certificates take no longer than 100 bare aws-lc key generations (criterion, in-process)
  divided over the cores, and `--jobs 1` takes 100 times one key generation; signing, sealing
  (one scrypt per command), PEM, the index and the file writes are within the noise of RSA's
  random prime search.
- **One P-256 certificate is bound by durable writes.** qvca's CPU time for a P-256 issuance is
  about 1.5 ms (openssl's: about 4 ms), but qvca makes the new files and the index durable
  before it reports success: one `syncfs` for the certificate and key, an fsync of the new
  index and of the directory that holds it. openssl writes without syncing. Those syncs are
  about 1 ms of the 2.7 ms here. Dropping them would meet the target and break the guarantee
  that a reported success survives a power cut, so they stay.
"""

HSM_SECTION = sys.argv[1] == "--hsm-section"
if HSM_SECTION:
    json_dir, cores = sys.argv[2], int(sys.argv[3])
else:
    (json_dir, keygen_ms, gcm_us, rss100, rss1000, cores, v_qvca, v_openssl, v_easyrsa, v_cfssl,
     v_hyperfine) = sys.argv[1:12]
    keygen_ms, gcm_us = float(keygen_ms), float(gcm_us)
    rss100, rss1000, cores = int(rss100), int(rss1000), int(cores)

groups = {}
for path in sorted(pathlib.Path(json_dir).glob("*.json")):
    data = json.loads(path.read_text())
    groups[path.stem] = [(r["command"], statistics.median(r["times"]), r["mean"], r.get("stddev") or 0.0)
                         for r in data["results"]]


def median(group, name):
    for command, med, _, _ in groups.get(group, []):
        if command == name:
            return med
    return None


def fmt(seconds):
    if seconds is None:
        return "n/a"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.1f} ms"


def table(key, title):
    """One hyperfine group as a Markdown table under `title` (nothing if it was not measured)."""
    if key not in groups:
        return []
    rows = groups[key]
    base = rows[0][1]
    lines = [title, "", "| command | median | mean ± σ | relative to the first row |", "|---|---|---|---|"]
    for command, med, mean, sd in rows:
        ratio = med / base if base else 0
        lines.append(f"| {command} | {fmt(med)} | {fmt(mean)} ± {fmt(sd)} | {ratio:.2f}× |")
    lines.append("")
    return lines


def criterion_ns(bench_id):
    """Criterion's median for `bench_id` (nanoseconds), or None when it was not measured."""
    path = pathlib.Path("target/criterion") / bench_id / "new" / "estimates.json"
    try:
        return json.loads(path.read_text())["median"]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None


def fmt_ns(ns):
    if ns is None:
        return "n/a"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e3:.0f} µs"


def hsm_section():
    """The root key in SoftHSM2 beside a key file (issue 16)."""
    out = ["## The root key in SoftHSM2 beside a key file", ""]
    out.append("The same qvca commands on CAs whose root key is a file or lives in a SoftHSM2 token "
               "(`init --key pkcs11:...`); leaf keys are P-256 throughout, so the root's signatures are "
               "what differs. Every qvca run on a token CA loads the PKCS#11 module, logs in and proves "
               "that the key signs for the root certificate (one signature) before it signs anything. "
               f"Measured on {time.strftime('%Y-%m-%d', time.gmtime())}, {cores} cores (SoftHSM2 from Debian's "
               "`softhsm2`).")
    out.append("")
    out += table("hsm-server", "### One server certificate (`issue server QVS01`)")
    out += table("hsm-bulk100", f"### 100 server certificates (`issue server --from-file`, {cores} cores)")
    out += table("hsm-crl", "### A CRL listing 100 revoked certificates (`crl`)")
    rows = []
    for key_type, label in (("p256", "P-256"), ("rsa2048", "RSA-2048")):
        for where in ("key file", "SoftHSM2"):
            cells = [criterion_ns(f"{group}, root {key_type}/{where}") for group in
                     ("server certificate", "CRL of 1,000 revoked", f"64 certificates on {cores} threads")]
            if any(c is not None for c in cells):
                rows.append(f"| {label} | {where} | " + " | ".join(fmt_ns(c) for c in cells) + " |")
    if rows:
        out += ["### In-process, the root's share alone (criterion, `cargo bench --bench hsm`)", "",
                f"| root | key | sign a server certificate | sign a CRL of 1,000 revoked | 64 certificates on {cores} threads |",
                "|---|---|---|---|---|"] + rows + [""]
    out.append("SoftHSM2 is software: it signs on the calling thread, so these figures are qvca's cost of "
               "going through PKCS#11 (the calls, the session pool, ECDSA's raw r‖s turned into DER) plus "
               "SoftHSM2's own work, not a hardware HSM's speed. The 64-certificate column shows what "
               "signing on every core gains over 64 single signatures; with SoftHSM2 a second session can "
               "gain at most a second core. A network HSM adds its round trip (typically 1–5 ms) to every "
               "signature, and there the sessions overlap their waiting: the pool opens up to one session "
               "per signing thread, so a bulk issuance with `--jobs N` keeps N signatures in flight. A "
               "token CA also pays, once per command, the module's start-up, a login and one signature "
               "proving that the key is the root's.")
    out.append("")
    return out


if HSM_SECTION:
    print("\n".join(hsm_section()))
    sys.exit(0)

cpu = "unknown CPU"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass

out = []
out.append("# Benchmarks")
out.append("")
out.append(f"Measured by `bash bench/compare.sh` on {time.strftime('%Y-%m-%d', time.gmtime())}: "
           f"{cores} cores ({cpu}), {platform.system()} {platform.release()}.")
out.append(f"Versions: {v_qvca}; {v_openssl}; {v_easyrsa}; cfssl {v_cfssl}; {v_hyperfine}.")
out.append("Medians of hyperfine runs; every group was measured in one hyperfine run, so only the "
           "ratios within a group count. Criterion micro-benchmarks: `cargo bench`.")
out.append("")

titles = {
    "root-rsa2048": "Root creation, RSA-2048",
    "root-p256": "Root creation, P-256",
    "server-rsa2048": "One server certificate with a new RSA-2048 key",
    "server-p256": "One server certificate with a new P-256 key",
    "bulk100-rsa2048": "100 server certificates, RSA-2048",
    "pkcs12": "PKCS#12 export of one certificate with its key",
    "startup": "Start-up",
    "bulk100-jobs": "qvca: 100 RSA-2048 certificates by --jobs (2 cores)",
    "bulk1000-jobs": "qvca: 1,000 RSA-2048 certificates by --jobs",
    "backup-restore-1000": "qvca: backup and restore of a CA with 1,000 certificates",
    "list-10000": "qvca: list over 10,000 certificates",
    "secrets-100k": "qvca: secrets over 100,000 lines",
    "ca-password-kdf": "qvca: the CA-password key derivation (scrypt, once per command)",
    "rewrap-10mb": "qvca: rotation of a 10 MB config",
}
for key, title in titles.items():
    if key not in groups:
        continue
    rows = groups[key]
    base = rows[0][1]
    out.append(f"## {title}")
    out.append("")
    out.append("| command | median | mean ± σ | relative to the first row |")
    out.append("|---|---|---|---|")
    for command, med, mean, sd in rows:
        ratio = med / base if base else 0
        out.append(f"| {command} | {fmt(med)} | {fmt(mean)} ± {fmt(sd)} | {ratio:.2f}× |")
    if key == "ca-password-kdf" and len(rows) == 2:
        out.append("")
        out.append(f"The CA password costs {fmt(rows[1][1] - rows[0][1])} per command (one scrypt "
                   "derivation, N=2^14, r=8, p=1), whatever the number of keys the command seals or opens.")
    out.append("")

out.append(f"Peak RSS of bulk issuance: {rss100} MiB for 100 certificates, {rss1000} MiB for 1,000.")
out.append("")
if any(key in groups for key in ("hsm-server", "hsm-bulk100", "hsm-crl")):
    out += hsm_section()

targets = []


def target(text, ok, detail):
    targets.append(f"| {text} | {detail} | {'met' if ok else 'NOT met'} |")


q100 = median("bulk100-rsa2048", "qvca --from-file")
ox = median("bulk100-rsa2048", "openssl xargs -P2")
if q100 and ox:
    target("100 RSA-2048 certificates ≥ 3× faster than openssl xargs -P2", ox / q100 >= 3,
           f"{ox / q100:.1f}× ({fmt(q100)} vs {fmt(ox)})")
j1, jall = median("bulk100-jobs", "jobs 1"), median("bulk100-jobs", "jobs all")
if j1 and jall:
    target("--jobs on 2 cores ≥ 1.8× faster than --jobs 1", j1 / jall >= 1.8, f"{j1 / jall:.2f}×")
if q100 and keygen_ms:
    raw = 100 * keygen_ms / 1000 / cores
    target("bulk throughput within 10% of raw aws-lc RSA-2048 key generation on all cores",
           q100 <= raw * 1.10, f"{fmt(q100)} vs {fmt(raw)} of pure key generation ({keygen_ms:.0f} ms a key)")
qp, op = median("server-p256", "qvca"), median("server-p256", "openssl (one process)")
if qp and op:
    target("one P-256 server certificate ≤ ½ of openssl's single-process req -x509 -CA", qp <= op / 2,
           f"{fmt(qp)} vs {fmt(op)} ({qp / op:.2f}×)")
qs, os_ = median("startup", "qvca --version"), median("startup", "openssl version")
if qs and os_:
    target("qvca --version start-up no slower than openssl version", qs <= os_ * 1.05, f"{fmt(qs)} vs {fmt(os_)}")
ql = median("list-10000", "list (10,000 certificates)")
if ql:
    target("list over 10,000 certificates under 100 ms", ql < 0.1, fmt(ql))
qe = median("secrets-100k", "encrypt --in 100,000 lines")
if qe and gcm_us:
    in_process = 100_000 * gcm_us / 1e6
    target("secrets encrypt --in 100,000 lines ≥ ½ of the in-process AES-GCM rate", qe <= 2 * in_process,
           f"{fmt(qe)} vs {fmt(in_process)} in-process ({gcm_us:.2f} µs a value)")
target("peak RSS of 1,000 certificates under 64 MiB and flat in the count",
       rss1000 < 64 and rss1000 <= rss100 * 1.25 + 4, f"{rss100} MiB (100) → {rss1000} MiB (1,000)")

out.append("## Targets")
out.append("")
out.append("| target | measured | |")
out.append("|---|---|---|")
out.extend(targets)
out.append("")
out.append(LIMITS)
print("\n".join(out))
