#!/usr/bin/env bash
# qvca side by side with openssl, easy-rsa and cfssl on the same machine, in the same run
# (each comparison is one hyperfine run, so only the ratios within a group matter), plus
# qvca-only scale runs. Prints a table of medians and ratios and writes docs/BENCHMARKS.md.
#
# Usage: bash bench/compare.sh            (about 15-25 minutes on 2 cores)
#        RUNS=3 HEAVY_RUNS=2 bash bench/compare.sh
#        ONLY=hsm bash bench/compare.sh   (only the root key in SoftHSM2 beside a key file;
#                                          replaces that section of docs/BENCHMARKS.md)
# Installs hyperfine, easy-rsa, golang-cfssl, openssl and softhsm2 from Debian packages if
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

runs=${RUNS:-10}
heavy_runs=${HEAVY_RUNS:-3}
only=${ONLY:-all}
softhsm=/usr/lib/softhsm/libsofthsm2.so

need=()
command -v hyperfine >/dev/null 2>&1 || need+=(hyperfine)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
[ -e "$softhsm" ] && command -v softhsm2-util >/dev/null 2>&1 || need+=(softhsm2)
if [ "$only" = all ]; then
    [ -x /usr/share/easy-rsa/easyrsa ] || need+=(easy-rsa)
    command -v cfssl >/dev/null 2>&1 || need+=(golang-cfssl)
fi
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi

cargo build --release --locked -q
qvca="$repo/target/release/qvca"
easyrsa=/usr/share/easy-rsa/easyrsa
w=$(mktemp -d /tmp/qvca-bench.XXXXXX)
trap 'rm -rf "$w"' EXIT
json="$w/json"
mkdir -p "$json"
export EASYRSA_BATCH=1

echo "pfx-bench-password" > "$w/pfx.pass"
echo "ca-bench-password" > "$w/ca.pass"
seq -f 'QVS%04g' 1 100 > "$w/hosts100"
seq -f 'QVS%04g' 1 1000 > "$w/hosts1000"
seq -f 'N%05g' 1 10000 > "$w/hosts10000"

cat > "$w/ca-csr.json" <<EOF
{"CN": "QlikViewCA", "key": {"algo": "rsa", "size": 2048}, "ca": {"expiry": "87600h"}}
EOF
cat > "$w/ca-csr-ec.json" <<EOF
{"CN": "QlikViewCA", "key": {"algo": "ecdsa", "size": 256}, "ca": {"expiry": "87600h"}}
EOF
cat > "$w/cfssl.json" <<EOF
{"signing": {"profiles": {"server": {"usages": ["signing", "key encipherment", "server auth", "client auth"], "expiry": "43800h"}}}}
EOF
cat > "$w/server-csr.json" <<EOF
{"CN": "QVS01", "hosts": ["QVS01"], "key": {"algo": "rsa", "size": 2048}}
EOF
cat > "$w/server-csr-ec.json" <<EOF
{"CN": "QVS01", "hosts": ["QVS01"], "key": {"algo": "ecdsa", "size": 256}}
EOF

# run NAME RUNS [hyperfine args...]
run() {
    local name=$1 n=$2
    shift 2
    echo "== $name"
    hyperfine --style basic --warmup 1 --runs "$n" --export-json "$json/$name.json" "$@"
}

# --- fixtures -------------------------------------------------------------------------------
"$qvca" --ca-dir "$w/np-rsa" init --no-password -q
"$qvca" --ca-dir "$w/np-p256" init --no-password --key-type p256 -q
"$qvca" --ca-dir "$w/pw-rsa" --password-file "$w/ca.pass" init -q
cp -a "$w/np-rsa" "$w/np-rsa-empty"
cp -a "$w/np-p256" "$w/np-p256-empty"
cp -a "$w/pw-rsa" "$w/pw-rsa-empty"
"$qvca" --ca-dir "$w/np-rsa" issue server QVS01 -q

# Criterion's median of benchmark ID (nanoseconds), from its own estimates.json, never from its
# terminal text; a missing estimate stops the script instead of writing 0 into the report.
criterion_median_ns() {
    local id=$1 file
    file="target/criterion/$id/new/estimates.json"
    [ -f "$file" ] || { echo "criterion wrote no estimate for '$id' ($file)" >&2; exit 1; }
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["median"]["point_estimate"])' "$file"
}

# --- the root key in SoftHSM2 beside a key file (issue 16) ------------------------------------
# The same commands on CAs whose root key (RSA-2048 or P-256) is a file or lives in a SoftHSM2
# token of the benchmark's own; leaf keys are P-256 throughout, so that the root's signatures
# are what differs. Each qvca run on a token CA loads the module, logs in and proves the key
# signs for the root before it signs anything.
export SOFTHSM2_CONF="$w/softhsm2.conf"
mkdir -p "$w/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$w/tokens" > "$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label qvca-bench --so-pin bench-so-1357 --pin bench-pin-2468 >/dev/null
echo bench-pin-2468 > "$w/pin"
hsm="$qvca --pkcs11-module $softhsm --pin-file $w/pin"
$hsm --ca-dir "$w/hsm-rsa-empty" init --no-password --key "pkcs11:token=qvca-bench;object=root-rsa" -q
$hsm --ca-dir "$w/hsm-p256-empty" init --no-password --key-type p256 --key "pkcs11:token=qvca-bench;object=root-p256" -q
# hsm_group NAME RUNS PREPARE ARGS: one hyperfine run of qvca ARGS on each of the four CAs
# (copied afresh by PREPARE).
hsm_group() {
    local name=$1 n=$2 prepare=$3 args=$4
    run "$name" "$n" --prepare "$prepare" \
        -n "key file, RSA-2048 root" "$qvca --ca-dir $w/h/np-rsa $args" \
        -n "SoftHSM2, RSA-2048 root" "$hsm --ca-dir $w/h/hsm-rsa $args" \
        -n "key file, P-256 root" "$qvca --ca-dir $w/h/np-p256 $args" \
        -n "SoftHSM2, P-256 root" "$hsm --ca-dir $w/h/hsm-p256 $args"
}
copy_empty="rm -rf $w/h && mkdir -p $w/h && for c in np-rsa hsm-rsa np-p256 hsm-p256; do cp -a $w/\$c-empty $w/h/\$c; done"
hsm_runs() {
    hsm_group hsm-server "$runs" "$copy_empty" "issue server QVS01 --key-type p256 -q"
    hsm_group hsm-bulk100 "$heavy_runs" "$copy_empty" "issue server --from-file $w/hosts100 --key-type p256 -q"
    # CAs with 100 revoked certificates, for the CRL.
    for c in np-rsa hsm-rsa np-p256 hsm-p256; do
        cp -a "$w/$c-empty" "$w/$c-revoked"
        $hsm --ca-dir "$w/$c-revoked" issue server --from-file "$w/hosts100" --key-type p256 -q
        while read -r name; do
            "$qvca" --ca-dir "$w/$c-revoked" --yes revoke "$name" --reason superseded -q
        done < "$w/hosts100"
    done
    run hsm-crl "$runs" \
        -n "key file, RSA-2048 root" "$qvca --ca-dir $w/np-rsa-revoked crl -q" \
        -n "SoftHSM2, RSA-2048 root" "$hsm --ca-dir $w/hsm-rsa-revoked crl -q" \
        -n "key file, P-256 root" "$qvca --ca-dir $w/np-p256-revoked crl -q" \
        -n "SoftHSM2, P-256 root" "$hsm --ca-dir $w/hsm-p256-revoked crl -q"
    # In-process (criterion, benches/hsm.rs): the root's share without process start-up.
    cargo bench --bench hsm -q >/dev/null 2>&1
    for group in "server certificate" "CRL of 1,000 revoked" "64 certificates on $(nproc) threads"; do
        for key_type in p256 rsa2048; do
            for where in "key file" SoftHSM2; do
                criterion_median_ns "$group, root $key_type/$where" >/dev/null
            done
        done
    done
}
hsm_runs
if [ "$only" = hsm ]; then
    section=$(python3 bench/report.py --hsm-section "$json" "$(nproc)")
    python3 - docs/BENCHMARKS.md "$section" <<'PY'
import sys
path, section = sys.argv[1], sys.argv[2].rstrip("\n") + "\n"
lines = open(path).read().split("\n")
title = section.split("\n", 1)[0]
start = next((i for i, l in enumerate(lines) if l == title), None)
if start is None:
    start = end = next(i for i, l in enumerate(lines) if l == "## Targets")
else:
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
lines[start:end] = section.split("\n")
open(path, "w").write("\n".join(lines))
PY
    cat docs/BENCHMARKS.md
    exit 0
fi

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$w/o-root.key" -out "$w/o-root.pem" -subj /CN=QlikViewCA -days 3650 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$w/o-root-ec.key" -out "$w/o-root-ec.pem" \
    -subj /CN=QlikViewCA -days 3650 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
mkdir -p "$w/o" "$w/ol" "$w/ox" "$w/cf"
(EASYRSA_PKI="$w/e-pki" "$easyrsa" init-pki >/dev/null 2>&1 && EASYRSA_REQ_CN=QlikViewCA EASYRSA_PKI="$w/e-pki" "$easyrsa" build-ca nopass >/dev/null 2>&1)
cp -a "$w/e-pki" "$w/e-pki-empty"
echo 0 > "$w/e-counter"
(cd "$w/cf" && cfssl gencert -initca "$w/ca-csr.json" 2>/dev/null | cfssljson -bare ca)
(cd "$w/cf" && cfssl gencert -initca "$w/ca-csr-ec.json" 2>/dev/null | cfssljson -bare ca-ec)
o_server="openssl req -x509 -newkey rsa:2048 -nodes -CA $w/o-root.pem -CAkey $w/o-root.key -subj /CN=QVS01 -addext subjectAltName=DNS:QVS01 -days 1826"
o_server_ec="openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -CA $w/o-root-ec.pem -CAkey $w/o-root-ec.key -subj /CN=QVS01 -addext subjectAltName=DNS:QVS01 -days 1826"

# --- side by side ---------------------------------------------------------------------------
run root-rsa2048 "$runs" --prepare "rm -rf $w/r && mkdir -p $w/r" \
    -n qvca "$qvca --ca-dir $w/r/q init --no-password -q" \
    -n openssl "openssl req -x509 -newkey rsa:2048 -nodes -keyout $w/r/k -out $w/r/c -subj /CN=QlikViewCA -days 3650 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null" \
    -n easy-rsa "EASYRSA_PKI=$w/r/e $easyrsa init-pki >/dev/null 2>&1 && EASYRSA_REQ_CN=QlikViewCA EASYRSA_PKI=$w/r/e $easyrsa build-ca nopass >/dev/null 2>&1" \
    -n cfssl "cd $w/r && cfssl gencert -initca $w/ca-csr.json 2>/dev/null | cfssljson -bare ca"

run root-p256 "$runs" --prepare "rm -rf $w/r && mkdir -p $w/r" \
    -n qvca "$qvca --ca-dir $w/r/q init --no-password --key-type p256 -q" \
    -n openssl "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $w/r/k -out $w/r/c -subj /CN=QlikViewCA -days 3650 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null" \
    -n easy-rsa "EASYRSA_ALGO=ec EASYRSA_CURVE=prime256v1 EASYRSA_PKI=$w/r/e $easyrsa init-pki >/dev/null 2>&1 && EASYRSA_REQ_CN=QlikViewCA EASYRSA_ALGO=ec EASYRSA_CURVE=prime256v1 EASYRSA_PKI=$w/r/e $easyrsa build-ca nopass >/dev/null 2>&1" \
    -n cfssl "cd $w/r && cfssl gencert -initca $w/ca-csr-ec.json 2>/dev/null | cfssljson -bare ca"

cp -a "$w/np-rsa-empty" "$w/np-rsa-tpl"
cp -a "$w/np-p256" "$w/np-p256-tpl"
run server-rsa2048 "$runs" --prepare "rm -rf $w/one && cp -a $w/np-rsa-tpl $w/one" \
    -n qvca "$qvca --ca-dir $w/one issue server QVS01 -q" \
    -n "openssl (one process)" "$o_server -keyout $w/o/k.pem -out $w/o/c.pem 2>/dev/null" \
    -n "openssl (req + x509)" "openssl req -new -newkey rsa:2048 -nodes -keyout $w/o/k2.pem -subj /CN=QVS01 -out $w/o/r.csr 2>/dev/null && openssl x509 -req -in $w/o/r.csr -CA $w/o-root.pem -CAkey $w/o-root.key -days 1826 -out $w/o/c2.pem 2>/dev/null" \
    -n easy-rsa "n=\$(cat $w/e-counter); echo \$((n+1)) > $w/e-counter; EASYRSA_PKI=$w/e-pki $easyrsa build-server-full s\$n nopass >/dev/null 2>&1" \
    -n cfssl "cd $w/cf && cfssl gencert -ca ca.pem -ca-key ca-key.pem -config $w/cfssl.json -profile server $w/server-csr.json 2>/dev/null | cfssljson -bare s"

run server-p256 "$runs" --prepare "rm -rf $w/one && cp -a $w/np-p256-tpl $w/one" \
    -n qvca "$qvca --ca-dir $w/one issue server QVS01 --key-type p256 -q" \
    -n "openssl (one process)" "$o_server_ec -keyout $w/o/k.pem -out $w/o/c.pem 2>/dev/null" \
    -n "openssl (req + x509)" "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $w/o/k2.pem -subj /CN=QVS01 -out $w/o/r.csr 2>/dev/null && openssl x509 -req -in $w/o/r.csr -CA $w/o-root-ec.pem -CAkey $w/o-root-ec.key -days 1826 -out $w/o/c2.pem 2>/dev/null" \
    -n cfssl "cd $w/cf && cfssl gencert -ca ca-ec.pem -ca-key ca-ec-key.pem -config $w/cfssl.json -profile server $w/server-csr-ec.json 2>/dev/null | cfssljson -bare s"

run bulk100-rsa2048 "$heavy_runs" \
    --prepare "rm -rf $w/b $w/ol $w/ox $w/eb && cp -a $w/np-rsa-empty $w/b && cp -a $w/e-pki-empty $w/eb && mkdir -p $w/ol $w/ox" \
    -n "qvca --from-file" "$qvca --ca-dir $w/b issue server --from-file $w/hosts100 -q" \
    -n "openssl loop" "for i in \$(seq 1 100); do $o_server -keyout $w/ol/k\$i.pem -out $w/ol/c\$i.pem 2>/dev/null; done" \
    -n "openssl xargs -P2" "seq 1 100 | xargs -P2 -I{} sh -c '$o_server -keyout $w/ox/k{}.pem -out $w/ox/c{}.pem 2>/dev/null'" \
    -n "easy-rsa loop" "for i in \$(seq 1 100); do EASYRSA_PKI=$w/eb $easyrsa build-server-full s\$i nopass >/dev/null 2>&1; done" \
    -n "cfssl loop" "cd $w/cf && for i in \$(seq 1 100); do cfssl gencert -ca ca.pem -ca-key ca-key.pem -config $w/cfssl.json -profile server $w/server-csr.json 2>/dev/null | cfssljson -bare b\$i; done"

openssl pkcs12 -export -in "$w/o/c.pem" -inkey "$w/o/k.pem" -passout pass:x -out /dev/null 2>/dev/null || true
run pkcs12 "$runs" \
    -n "qvca export pfx" "$qvca --ca-dir $w/np-rsa --pfx-password-file $w/pfx.pass export pfx QVS01 --out $w/o/q.pfx --force -q" \
    -n "qvca export pfx --legacy" "$qvca --ca-dir $w/np-rsa --pfx-password-file $w/pfx.pass export pfx QVS01 --legacy --out $w/o/ql.pfx --force -q" \
    -n "openssl pkcs12 -export" "openssl pkcs12 -export -in $w/o-root.pem -inkey $w/o-root.key -passout file:$w/pfx.pass -out $w/o/o.pfx" \
    -n "openssl pkcs12 -export -legacy" "openssl pkcs12 -export -legacy -in $w/o-root.pem -inkey $w/o-root.key -passout file:$w/pfx.pass -out $w/o/ol.pfx"

run startup 50 -N \
    -n "qvca --version" "$qvca --version" \
    -n "openssl version" "openssl version"

# --- qvca at scale ----------------------------------------------------------------------------
run bulk100-jobs "$heavy_runs" --prepare "rm -rf $w/b && cp -a $w/np-rsa-empty $w/b" \
    -n "jobs 1" "$qvca --ca-dir $w/b issue server --from-file $w/hosts100 --jobs 1 -q" \
    -n "jobs all" "$qvca --ca-dir $w/b issue server --from-file $w/hosts100 -q" \
    -n "jobs all, password" "rm -rf $w/b && cp -a $w/pw-rsa-empty $w/b && $qvca --ca-dir $w/b --password-file $w/ca.pass issue server --from-file $w/hosts100 -q"

run bulk1000-jobs 1 --prepare "rm -rf $w/b && cp -a $w/np-rsa-empty $w/b" \
    -n "1,000, jobs 1" "$qvca --ca-dir $w/b issue server --from-file $w/hosts1000 --jobs 1 -q" \
    -n "1,000, jobs all" "$qvca --ca-dir $w/b issue server --from-file $w/hosts1000 -q"

# Peak memory of bulk issuance, 100 and 1,000 certificates (it must not grow with the count).
rss() { # rss HOSTS
    rm -rf "$w/m" && cp -a "$w/np-rsa-empty" "$w/m"
    python3 - "$qvca" "$w/m" "$1" <<'PY'
import resource, subprocess, sys
subprocess.run([sys.argv[1], "--ca-dir", sys.argv[2], "issue", "server", "--from-file", sys.argv[3], "-q"], check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
PY
}
rss100=$(rss "$w/hosts100")
rss1000=$(rss "$w/hosts1000")
echo "peak RSS: 100 certificates ${rss100} MiB, 1,000 certificates ${rss1000} MiB"
cp -a "$w/m" "$w/ca1000"
"$qvca" --ca-dir "$w/ca1000" --pfx-password-file "$w/pfx.pass" backup --out "$w/ca1000.pfx" -q

run backup-restore-1000 "$heavy_runs" --prepare "rm -rf $w/restored" \
    -n "backup (1,000 certificates)" "$qvca --ca-dir $w/ca1000 --pfx-password-file $w/pfx.pass backup --out $w/b1000.pfx -q" \
    -n "restore (1,000 certificates)" "$qvca --ca-dir $w/restored --pfx-password-file $w/pfx.pass restore $w/ca1000.pfx -q"

"$qvca" --ca-dir "$w/ca10k" init --no-password --key-type p256 -q
"$qvca" --ca-dir "$w/ca10k" issue server --from-file "$w/hosts10000" --key-type p256 -q
run list-10000 "$runs" -N \
    -n "list (10,000 certificates)" "$qvca --ca-dir $w/ca10k list" \
    -n "list --json (10,000 certificates)" "$qvca --ca-dir $w/ca10k --json list"

python3 - "$w" <<'PY'
import sys
w = sys.argv[1]
with open(f"{w}/lines100k", "w") as f:
    for i in range(100_000):
        f.write(f"Provider=SQLOLEDB;Data Source=QVDB{i % 97:02};User ID=qv;Password=pw-{i:06}-xyz\n")
PY
"$qvca" --ca-dir "$w/pw-rsa" --password-file "$w/ca.pass" issue server QVS01 -q
run secrets-100k "$runs" \
    -n "encrypt --in 100,000 lines" "$qvca --ca-dir $w/np-rsa secrets encrypt --in $w/lines100k --out $w/tokens -q" \
    -n "encrypt --in 100,000 lines, password" "$qvca --ca-dir $w/pw-rsa --password-file $w/ca.pass secrets encrypt --in $w/lines100k --out $w/tokens2 -q" \
    -n "decrypt --in 100,000 lines" "$qvca --ca-dir $w/np-rsa secrets decrypt --in $w/tokens --out $w/plain -q"

# The CA-password key derivation, paid once per command: the same command on both CAs.
run ca-password-kdf "$runs" -N \
    -n "secrets derive, no password" "$qvca --ca-dir $w/np-rsa secrets derive" \
    -n "secrets derive, scrypt CA password" "$qvca --ca-dir $w/pw-rsa --password-file $w/ca.pass secrets derive"

# Rotation: a 10 MB config with tokens of an old root, rewrapped in place.
"$qvca" --ca-dir "$w/rot" init --no-password -q
"$qvca" --ca-dir "$w/rot" --pfx-password-file "$w/pfx.pass" backup --out "$w/rot-old.pfx" -q
head -n 20000 "$w/lines100k" > "$w/rot-lines"
"$qvca" --ca-dir "$w/rot" secrets encrypt --in "$w/rot-lines" --out "$w/rot-tokens" -q
python3 - "$w" <<'PY'
import sys
w = sys.argv[1]
tokens = open(f"{w}/rot-tokens").read().split()
filler = "<!-- " + "x" * 300 + " -->\n"
with open(f"{w}/config-10mb.xml", "w") as f:
    f.write("<configuration>\n")
    size, i = 0, 0
    while size < 10 * 1024 * 1024:
        line = f'  <add key="conn{i}" value="{tokens[i % len(tokens)]}"/>\n' + filler
        f.write(line)
        size += len(line)
        i += 1
    f.write("</configuration>\n")
PY
"$qvca" --ca-dir "$w/rot" init --no-password --force -q
run rewrap-10mb "$heavy_runs" --prepare "cp $w/config-10mb.xml $w/config-run.xml" \
    -n "rewrap --in-place (10 MB config)" "$qvca --ca-dir $w/rot --pfx-password-file $w/pfx.pass secrets rewrap --from-backup $w/rot-old.pfx --in $w/config-run.xml --in-place -q"

# Raw aws-lc RSA-2048 key generation rate and one AES-GCM token (criterion, in-process), read
# from criterion's own estimates.json (its median, in nanoseconds).
cargo bench --bench qvca -q -- "key generation/rsa2048" >/dev/null 2>&1
cargo bench --bench qvca -q -- "encrypt a 100-byte value" >/dev/null 2>&1
keygen_ms=$(python3 -c 'import sys; print(float(sys.argv[1]) / 1e6)' "$(criterion_median_ns "key generation/rsa2048")")
gcm_us=$(python3 -c 'import sys; print(float(sys.argv[1]) / 1e3)' "$(criterion_median_ns "encrypt a 100-byte value into a token")")

python3 bench/report.py "$json" "$keygen_ms" "$gcm_us" "$rss100" "$rss1000" "$(nproc)" \
    "$("$qvca" --version)" "$(openssl version)" "$("$easyrsa" --version 2>/dev/null | head -1 || echo easy-rsa)" \
    "$(cfssl version 2>/dev/null | head -1)" "$(hyperfine --version)" > docs/BENCHMARKS.md
cat docs/BENCHMARKS.md
