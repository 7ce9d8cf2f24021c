//! Living with the CA through the real binary: revocations and CRLs judged by openssl, renewal of
//! leaves and of the root (same key), backups that carry revocations and the CRL number, doctor's
//! checks and the faults they catch, status, the seed port tables and firewall rules (judged by
//! sh, shellcheck, a stub iptables and nft), Signed License Keys, completions and the man page.

use crate::support::{
    TestCa, assert_code, bare_qvca, describe, entries, json_of, openssl_ok, path_str, run, stderr,
    stdout,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

mod completions;
mod crl;
mod doctor;
mod license;
mod ports;
mod renew;
mod revoke;

pub(crate) use license::SEED_003_SLK;

// ------------------------------------------------------------------------------------ helpers

/// Runs qvca and asserts the exit code.
fn run_code(ca: &TestCa, args: &[&str], code: i32) -> Output {
    let out = run(ca, args);
    assert_code(&out, code, &format!("qvca {args:?}"));
    out
}

/// `<ca-dir>/keys/<serial>.pem`.
fn key_file(ca: &TestCa, serial: &str) -> PathBuf {
    ca.dir().join("keys").join(format!("{serial}.pem"))
}

/// The value lines of one extension in `openssl x509 -text` (e.g. the subject key identifier).
fn extension_value(cert: &Path, ext: &str) -> String {
    let text = openssl_ok(&["x509", "-in", path_str(cert), "-noout", "-ext", ext]);
    let value: Vec<&str> = text.lines().skip(1).map(str::trim).collect();
    assert!(!value.is_empty(), "no {ext} in {}: {text}", cert.display());
    value.join("")
}

/// `openssl crl -noout -text`.
fn crl_text(crl: &Path) -> String {
    openssl_ok(&["crl", "-in", path_str(crl), "-noout", "-text"])
}

/// The serials a CRL lists (upper-case hex), per `openssl crl -text`.
fn crl_serials(crl: &Path) -> BTreeSet<String> {
    crl_text(crl)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
        .map(|s| s.trim().to_ascii_uppercase())
        .collect()
}

/// `qvca --json doctor ARGS` without a terminal: the exit code and the report.
fn doctor(ca: &TestCa, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["--json", "doctor"];
    args.extend_from_slice(extra);
    let out = run(ca, &args);
    assert!(!stderr(&out).contains("panicked"), "{}", describe(&out));
    (out.status.code().expect("exit code"), json_of(&out))
}

/// Every check of a doctor report: name → status.
fn doctor_checks(report: &Value) -> BTreeMap<String, String> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().expect("name").to_owned(),
                c["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect()
}

/// The status of one doctor check.
fn check_status(report: &Value, name: &str) -> String {
    doctor_checks(report)
        .remove(name)
        .unwrap_or_else(|| panic!("no check named {name}: {report}"))
}

/// A healthy CA: setup (root, QVS01, QVProxy, license-service export) and a CRL.
fn healthy_ca() -> TestCa {
    let ca = TestCa::with_setup(&["QVS01"]);
    run_code(&ca, &["export", "license-service", "--machine", "QVS01"], 0);
    run_code(&ca, &["crl"], 0);
    ca
}

/// A scratch directory that is not the one the tests usually run qvca from.
fn other_dir(ca: &TestCa) -> PathBuf {
    let dir = ca.path().join("elsewhere");
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

/// The serial of the newest certificate named `name`, whatever its status.
fn active_or_revoked_serial(ca: &TestCa, name: &str) -> String {
    entries(ca)
        .iter()
        .rev()
        .find(|e| e["name"] == name)
        .expect("entry")["serial"]
        .as_str()
        .expect("serial")
        .to_owned()
}

// ------------------------------------------------------------------------------------------ ports

/// `qvca ARGS` without a CA (ports, license, completions need none).
fn bare(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp");
    bare_qvca()
        .args(args)
        .current_dir(dir.path())
        .output()
        .expect("run qvca")
}

fn bare_ok(args: &[&str]) -> String {
    let out = bare(args);
    assert_code(&out, 0, &format!("qvca {args:?}"));
    stdout(&out)
}
