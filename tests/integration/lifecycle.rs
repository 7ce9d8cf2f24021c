//! Living with the CA through the real binary: revocations and CRLs judged by openssl, renewal of
//! leaves and of the root (same key), backups that carry revocations and the CRL number, doctor's
//! checks and the faults they catch, status, the seed port tables and firewall rules (judged by
//! sh, shellcheck, a stub iptables and nft), Signed License Keys, completions and the man page.

use crate::support::{
    PASSWORD, TestCa, assert_code, bare_qvca, describe, openssl_ok, p256_ca, path_str,
    pfx_password_file, run, snapshot, stderr, stdout, tool,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// The sample Signed License Key of seed 003, wrapped exactly as the page shows it.
pub(crate) const SEED_003_SLK: &str = "\
eyJhbGciOiJSUzUxMiIsInR5cCI6IkpXVCIsImtpZCI6ImEzMzdhZDE3LTk1ODctNGNhOS05M2I3LTBi
MmI5ZTNlOWI0OCJ9.eyJqdGkiOiI2MjNhYTlhZi05NTBmLTQ3ZjctOGJmMC1mNGQzOWY0MmQ5N
mMiLCJsaWNlbnNlIjoiOTk5OTAwMDAwMDAwMTI1MyJ9.YJqTct2ngqLfl2VP3jxW4RsDNK2MTL-BpJ
WnBdIfF5gGbJcX0hc__tfIa2ab5ZrL9h6tsZxTwgucTFiRTAOz8PaOQP7JTnhPCyrBZwpnmhvCrSHx2
C-HbCARFUIueBzMg8fgvWH-3HxBuxx6jnDhekDTUbb12vBq7CySampJkgMT7QsDdUkeJy5E7O0U
8yhd1RtEDeuTbeX35eIdQUN4DyJWHHPiT9qZt1AV0_Ofe1iLKxYZMa5jC0kIsVwYnRCJzibZlrLE7mS
VlNitxmcm8OoUrR_ZIk8VuOkoz_qqy8N_wwrt7FcT2slWz50XzuL8TIWY9mcGIL
";

const SEED_003_KID: &str = "a337ad17-9587-4ca9-93b7-0b2b9e3e9b48";
const SEED_003_LICENSE: &str = "9999000000001253";

/// Seed 001: service-to-service and certificate-installation ports.
const SEED_001_PORTS: [u16; 12] = [
    4747, 4749, 4720, 4750, 80, 443, 4780, 4799, 4730, 14720, 14730, 14750,
];
/// Seed 001: the ports a firewall opens for all QlikView services.
const QLIKVIEW_SERVICE_PORTS: [u16; 9] = [4747, 4749, 4720, 4750, 80, 443, 4780, 4799, 4730];
/// Seed 001: certificate installation, on the local server only.
const INSTALLATION_PORTS: [u16; 3] = [14720, 14730, 14750];
/// Seeds 000 and 002: the Qlik Sense site.
const SEED_002_PORTS: [u16; 10] = [4444, 4570, 4241, 4242, 4243, 4244, 4432, 4747, 5050, 5151];

// ------------------------------------------------------------------------------------ helpers

/// Runs qvca and asserts the exit code.
fn run_code(ca: &TestCa, args: &[&str], code: i32) -> Output {
    let out = run(ca, args);
    assert_code(&out, code, &format!("qvca {args:?}"));
    out
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", describe(out)))
}

/// The index entries, in index order.
fn entries(ca: &TestCa) -> Vec<Value> {
    ca.index()["certificates"]
        .as_array()
        .expect("certificates array")
        .clone()
}

/// The serial of the newest active certificate named `name`.
fn active_serial(ca: &TestCa, name: &str) -> String {
    entries(ca)
        .iter()
        .rev()
        .find(|e| e["name"] == name && e["status"] == "active")
        .unwrap_or_else(|| panic!("no active certificate named {name}"))["serial"]
        .as_str()
        .expect("serial")
        .to_owned()
}

/// The index entry with this serial.
fn entry_by_serial(ca: &TestCa, serial: &str) -> Value {
    entries(ca)
        .into_iter()
        .find(|e| e["serial"] == serial)
        .unwrap_or_else(|| panic!("no entry with serial {serial}"))
}

/// `<ca-dir>/certs/<serial>.pem`.
fn cert_file(ca: &TestCa, serial: &str) -> PathBuf {
    ca.dir().join("certs").join(format!("{serial}.pem"))
}

/// `<ca-dir>/keys/<serial>.pem`.
fn key_file(ca: &TestCa, serial: &str) -> PathBuf {
    ca.dir().join("keys").join(format!("{serial}.pem"))
}

/// The `certificates` rows of `list --json` (with `--all`: superseded ones too).
fn listed(ca: &TestCa, all: bool) -> Vec<Value> {
    let args: &[&str] = if all { &["list", "--all"] } else { &["list"] };
    ca.json(args)["certificates"]
        .as_array()
        .expect("certificates")
        .clone()
}

/// The public key of a certificate, as openssl prints it (PEM).
fn cert_public_key(cert: &Path) -> String {
    openssl_ok(&["x509", "-in", path_str(cert), "-noout", "-pubkey"])
}

/// The public key of an encrypted key file of the CA, opened by openssl with the CA password.
fn key_public_key(ca: &TestCa, key: &Path) -> String {
    let passin = format!("file:{}", ca.password_file().display());
    openssl_ok(&["pkey", "-in", path_str(key), "-passin", &passin, "-pubout"])
}

/// The SHA-256 fingerprint of a certificate file (so PEM formatting does not matter).
fn fingerprint(cert: &Path) -> String {
    openssl_ok(&[
        "x509",
        "-in",
        path_str(cert),
        "-noout",
        "-fingerprint",
        "-sha256",
    ])
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

/// The CRL number, as `openssl crl -crlnumber` prints it (hex).
fn crl_number(crl: &Path) -> u64 {
    let out = openssl_ok(&["crl", "-in", path_str(crl), "-noout", "-crlnumber"]);
    let hex = out
        .trim()
        .strip_prefix("crlNumber=0x")
        .unwrap_or_else(|| panic!("openssl printed no CRL number: {out}"));
    u64::from_str_radix(hex, 16).expect("hex CRL number")
}

/// lastUpdate and nextUpdate of a CRL, parsed from openssl's output.
fn crl_updates(crl: &Path) -> (OffsetDateTime, OffsetDateTime) {
    let out = openssl_ok(&[
        "crl",
        "-in",
        path_str(crl),
        "-noout",
        "-lastupdate",
        "-nextupdate",
    ]);
    let field = |name: &str| {
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {out}"));
        openssl_time(line)
    };
    (field("lastUpdate="), field("nextUpdate="))
}

/// An openssl date such as `Dec  3 11:34:56 2026 GMT`.
fn openssl_time(text: &str) -> OffsetDateTime {
    let format = time::macros::format_description!(
        "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT"
    );
    PrimitiveDateTime::parse(text.trim(), format)
        .unwrap_or_else(|e| panic!("openssl date {text:?}: {e}"))
        .assume_utc()
}

/// The serials a CRL lists (upper-case hex), per `openssl crl -text`.
fn crl_serials(crl: &Path) -> BTreeSet<String> {
    crl_text(crl)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
        .map(|s| s.trim().to_ascii_uppercase())
        .collect()
}

/// The "Revocation Date" openssl shows for one serial of a CRL.
fn revocation_date(crl: &Path, serial: &str) -> String {
    let text = crl_text(crl);
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("Serial Number: {serial}") {
            let date = lines.next().expect("a line after the serial");
            return date
                .trim()
                .strip_prefix("Revocation Date: ")
                .unwrap_or_else(|| panic!("no revocation date after {serial}: {text}"))
                .to_owned();
        }
    }
    panic!("{serial} is not on the CRL:\n{text}");
}

/// `openssl verify -crl_check` of one certificate against the root and a CRL.
fn openssl_verify_with_crl(root: &Path, crl: &Path, cert: &Path) -> (bool, String) {
    tool(
        "openssl",
        &[
            "verify",
            "-crl_check",
            "-CRLfile",
            path_str(crl),
            "-CAfile",
            path_str(root),
            path_str(cert),
        ],
    )
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

/// Asserts that exactly the named checks are not ok, with these statuses.
fn assert_findings(report: &Value, expected: &[(&str, &str)]) {
    let findings: BTreeMap<String, String> = doctor_checks(report)
        .into_iter()
        .filter(|(_, status)| status != "ok")
        .collect();
    let expected: BTreeMap<String, String> = expected
        .iter()
        .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
        .collect();
    assert_eq!(findings, expected, "{report:#}");
    assert_eq!(report["ok"], expected.is_empty(), "{report:#}");
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

// ------------------------------------------------------------------------------ revoke and crl

#[test]
fn a_crl_after_a_key_compromise_verifies_against_the_root_and_names_serial_reason_and_number() {
    let ca = p256_ca(&["QVS01"]);
    let serial = active_serial(&ca, "QVS01");
    let out = run_code(
        &ca,
        &["-y", "revoke", "QVS01", "--reason", "keyCompromise"],
        0,
    );
    assert!(stdout(&out).contains(&serial), "{}", describe(&out));
    assert!(
        stdout(&out).contains("qvca crl"),
        "revoke says to publish the CRL: {}",
        describe(&out)
    );
    run_code(&ca, &["crl"], 0);

    let crl = ca.dir().join("crl.pem");
    let root = ca.root_pem();
    let (ok, text) = tool(
        "openssl",
        &[
            "crl",
            "-in",
            path_str(&crl),
            "-CAfile",
            path_str(&root),
            "-noout",
        ],
    );
    assert!(ok && text.contains("verify OK"), "{text}");

    let text = crl_text(&crl);
    assert!(text.contains(&format!("Serial Number: {serial}")), "{text}");
    assert!(text.contains("Key Compromise"), "{text}");
    assert!(text.contains("X509v3 CRL Number"), "{text}");
    assert!(text.contains("Next Update:"), "{text}");
    assert!(text.contains("Issuer: CN = QlikViewCA"), "{text}");
    assert_eq!(crl_number(&crl), 1);
    // The CRL names its issuer's key the way the root does (what path builders match on).
    let aki = text
        .lines()
        .skip_while(|l| !l.contains("Authority Key Identifier"))
        .nth(1)
        .expect("an authority key identifier")
        .trim()
        .to_owned();
    assert_eq!(
        aki.replace("keyid:", ""),
        extension_value(&root, "subjectKeyIdentifier")
    );
}

#[test]
fn openssl_rejects_the_revoked_certificate_with_the_crl_and_accepts_a_valid_one() {
    let ca = p256_ca(&["QVS01", "QVS02"]);
    let revoked = cert_file(&ca, &active_serial(&ca, "QVS01"));
    let valid = cert_file(&ca, &active_serial(&ca, "QVS02"));
    run_code(
        &ca,
        &["-y", "revoke", "QVS01", "--reason", "keyCompromise"],
        0,
    );
    run_code(&ca, &["crl"], 0);
    let root = ca.root_pem();
    let crl = ca.dir().join("crl.pem");

    let (ok, text) = openssl_verify_with_crl(&root, &crl, &revoked);
    assert!(!ok, "openssl accepted a revoked certificate: {text}");
    assert!(text.contains("certificate revoked"), "{text}");

    let (ok, text) = openssl_verify_with_crl(&root, &crl, &valid);
    assert!(ok, "{text}");
    assert!(text.contains(": OK"), "{text}");
}

#[test]
fn crl_numbers_go_up_by_one_on_every_run_and_a_cron_run_without_new_revocations_succeeds() {
    let ca = p256_ca(&["QVS01"]);
    run_code(&ca, &["-y", "revoke", "QVS01"], 0);
    let crl = ca.dir().join("crl.pem");
    for expected in 1..=3_u64 {
        // As cron runs it: the password from the environment, no terminal, nothing new revoked.
        let out = ca
            .qvca_without_password()
            .env("QVCA_PASSWORD", PASSWORD)
            .args(["--json", "crl"])
            .output()
            .expect("run");
        assert_code(&out, 0, "crl from cron");
        assert_eq!(json_of(&out)["number"], expected);
        assert_eq!(crl_number(&crl), expected);
        assert_eq!(ca.index()["crl_number"], expected);
    }
}

#[test]
fn a_crl_with_nothing_revoked_is_still_a_valid_signed_crl() {
    let ca = p256_ca(&["QVS01"]);
    let report = ca.json(&["crl"]);
    assert_eq!(report["number"], 1);
    assert_eq!(report["revoked"], serde_json::json!([]));
    let crl = ca.dir().join("crl.pem");
    let (ok, text) = tool(
        "openssl",
        &[
            "crl",
            "-in",
            path_str(&crl),
            "-CAfile",
            path_str(&ca.root_pem()),
            "-noout",
        ],
    );
    assert!(ok && text.contains("verify OK"), "{text}");
    assert!(crl_serials(&crl).is_empty());
}

#[test]
fn crl_days_puts_next_update_that_many_days_after_this_update() {
    let ca = p256_ca(&[]);
    let before = OffsetDateTime::now_utc();
    let report = ca.json(&["crl", "--days", "2"]);
    let crl = ca.dir().join("crl.pem");
    let (last, next) = crl_updates(&crl);
    assert!(
        (last - before).abs() < Duration::minutes(2),
        "thisUpdate {last} is not now ({before})"
    );
    assert!(
        (next - last - Duration::days(2)).abs() <= Duration::seconds(1),
        "nextUpdate {next} is not 2 days after {last}"
    );
    let reported = OffsetDateTime::parse(
        report["next_update"].as_str().expect("next_update"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    assert!((reported - next).abs() < Duration::seconds(1), "{report}");

    // The default is 30 days.
    run_code(&ca, &["crl"], 0);
    let (last, next) = crl_updates(&crl);
    assert!((next - last - Duration::days(30)).abs() <= Duration::seconds(1));
}

#[test]
fn crl_days_out_of_range_is_a_usage_error_that_writes_nothing() {
    let ca = p256_ca(&[]);
    let before = ca.snapshot();
    for days in ["0", "-1", "3651", "soon"] {
        run_code(&ca, &["crl", "--days", days], 2);
    }
    assert_eq!(ca.snapshot(), before);
}

#[test]
fn crl_out_writes_the_crl_to_that_file() {
    let ca = p256_ca(&["QVS01"]);
    run_code(&ca, &["-y", "revoke", "QVS01"], 0);
    let out_file = ca.path().join("published").join("qlikview.crl");
    std::fs::create_dir_all(out_file.parent().expect("parent")).expect("mkdir");
    let report = ca.json(&["crl", "--out", path_str(&out_file)]);
    assert_eq!(report["path"], path_str(&out_file));
    assert!(out_file.is_file());
    assert!(
        !ca.dir().join("crl.pem").exists(),
        "the default CRL was written too"
    );
    assert_eq!(crl_number(&out_file), 1);
    assert_eq!(
        crl_serials(&out_file),
        BTreeSet::from([active_or_revoked_serial(&ca, "QVS01")])
    );
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

#[test]
fn the_crl_lists_exactly_the_revoked_certificates_that_have_not_expired() {
    let ca = p256_ca(&["QVS01", "QVS02", "QVS03"]);
    // One superseded certificate revoked by serial, as renew's advice says.
    let old_qvs02 = active_serial(&ca, "QVS02");
    run_code(&ca, &["renew", "QVS02"], 0);
    run_code(
        &ca,
        &["-y", "revoke", &old_qvs02, "--reason", "superseded"],
        0,
    );
    run_code(
        &ca,
        &["-y", "revoke", "QVS01", "--reason", "keyCompromise"],
        0,
    );
    let report = ca.json(&["crl"]);

    let now = OffsetDateTime::now_utc();
    let expected: BTreeSet<String> = entries(&ca)
        .iter()
        .filter(|e| e["status"] == "revoked")
        .filter(|e| {
            OffsetDateTime::parse(
                e["not_after"].as_str().expect("not_after"),
                &time::format_description::well_known::Rfc3339,
            )
            .expect("date")
                > now
        })
        .map(|e| e["serial"].as_str().expect("serial").to_owned())
        .collect();
    assert_eq!(expected.len(), 2);
    let reported: BTreeSet<String> = report["revoked"]
        .as_array()
        .expect("revoked")
        .iter()
        .map(|s| s.as_str().expect("serial").to_owned())
        .collect();
    assert_eq!(reported, expected);
    assert_eq!(crl_serials(&ca.dir().join("crl.pem")), expected);
    assert!(crl_text(&ca.dir().join("crl.pem")).contains("Superseded"));
}

#[test]
fn a_revoked_certificate_past_its_end_of_validity_is_dropped_from_the_next_crl() {
    // qvca never issues an already expired certificate, so time is moved for one index entry:
    // the CRL is built from the index's not_after, which is what this simulates.
    let ca = p256_ca(&["QVS01", "QVS02"]);
    let expired = active_serial(&ca, "QVS01");
    let live = active_serial(&ca, "QVS02");
    run_code(&ca, &["-y", "revoke", "QVS01"], 0);
    run_code(&ca, &["-y", "revoke", "QVS02"], 0);
    run_code(&ca, &["crl"], 0);
    let crl = ca.dir().join("crl.pem");
    assert_eq!(
        crl_serials(&crl),
        BTreeSet::from([expired.clone(), live.clone()])
    );

    let index_path = ca.dir().join("index.json");
    let mut index = ca.index();
    for entry in index["certificates"].as_array_mut().expect("certificates") {
        if entry["serial"] == expired.as_str() {
            entry["not_after"] = Value::from("2020-01-01T00:00:00Z");
        }
    }
    std::fs::write(
        &index_path,
        serde_json::to_vec_pretty(&index).expect("encode"),
    )
    .expect("write index");

    let report = ca.json(&["crl"]);
    assert_eq!(report["revoked"], serde_json::json!([live.clone()]));
    assert_eq!(crl_serials(&crl), BTreeSet::from([live]));
}

#[test]
fn revoke_accepts_every_rfc_5280_reason_in_any_case_and_openssl_reads_it_back() {
    let ca = p256_ca(&["A", "B", "C", "D", "E"]);
    let cases = [
        ("A", "KEYCOMPROMISE", Some("Key Compromise")),
        ("B", "superseded", Some("Superseded")),
        ("C", "cessationofoperation", Some("Cessation Of Operation")),
        ("D", "affiliationChanged", Some("Affiliation Changed")),
        // RFC 5280 5.3.1: unspecified is written by leaving the reason code out.
        ("E", "unspecified", None),
    ];
    let mut serials = Vec::new();
    for (name, reason, _) in cases {
        serials.push(active_serial(&ca, name));
        let report = ca.json(&["-y", "revoke", name, "--reason", reason]);
        assert_eq!(report["status"], "revoked");
        let spelled = report["revocation"]["reason"].as_str().expect("reason");
        assert!(spelled.eq_ignore_ascii_case(reason), "{report}");
    }
    run_code(&ca, &["crl"], 0);
    let text = crl_text(&ca.dir().join("crl.pem"));
    for ((_, _, shown), serial) in cases.iter().zip(&serials) {
        let block: String = text
            .split("Serial Number: ")
            .find(|b| b.starts_with(serial.as_str()))
            .unwrap_or_else(|| panic!("{serial} missing: {text}"))
            .to_owned();
        match shown {
            Some(shown) => assert!(block.contains(shown), "{serial}: {block}"),
            None => assert!(!block.contains("Reason Code"), "{serial}: {block}"),
        }
    }
}

#[test]
fn revoking_the_root_or_a_certificate_twice_is_refused_with_exit_3_and_changes_nothing() {
    let ca = p256_ca(&["QVS01"]);
    let before = ca.snapshot();
    let out = run_code(&ca, &["revoke", "QlikViewCA"], 3);
    assert!(stderr(&out).contains("root"), "{}", describe(&out));
    let root_serial = active_serial(&ca, "QlikViewCA");
    run_code(&ca, &["revoke", &root_serial], 3);
    assert_eq!(ca.snapshot(), before);

    let serial = active_serial(&ca, "QVS01");
    run_code(
        &ca,
        &["-y", "revoke", "QVS01", "--reason", "keyCompromise"],
        0,
    );
    let after_first = ca.snapshot();
    let out = run_code(&ca, &["revoke", "QVS01"], 3);
    assert!(
        stderr(&out).contains("already revoked"),
        "{}",
        describe(&out)
    );
    run_code(&ca, &["revoke", &serial.to_ascii_lowercase()], 3);
    assert_eq!(ca.snapshot(), after_first);
    let entry = entry_by_serial(&ca, &serial);
    assert_eq!(
        entry["revocation"]["reason"], "keyCompromise",
        "the first reason stays"
    );
}

#[test]
fn revoking_an_unknown_name_is_exit_6_and_a_bad_reason_exit_2_and_neither_changes_anything() {
    let ca = p256_ca(&["QVS01"]);
    let before = ca.snapshot();
    let out = run_code(&ca, &["revoke", "QVS99"], 6);
    assert!(stderr(&out).contains("QVS99"), "{}", describe(&out));
    run_code(&ca, &["revoke", "00DEADBEEF"], 6);
    let out = run_code(&ca, &["revoke", "QVS01", "--reason", "because"], 2);
    assert!(
        stderr(&out).contains("keyCompromise"),
        "the error lists the reasons: {}",
        describe(&out)
    );
    assert_eq!(ca.snapshot(), before);
    assert_eq!(
        entry_by_serial(&ca, &active_serial(&ca, "QVS01"))["status"],
        "active"
    );

    let empty = TestCa::new();
    run_code(&empty, &["revoke", "QVS01"], 6);
    run_code(&empty, &["crl"], 6);
    assert!(!empty.dir().exists());
}

#[test]
fn a_revoked_certificate_is_no_longer_exported_or_packaged() {
    let ca = p256_ca(&["QVS01"]);
    run_code(
        &ca,
        &["-y", "revoke", "QVS01", "--reason", "keyCompromise"],
        0,
    );
    let pfx_password = pfx_password_file(&ca);
    let pfx = ca.path().join("QVS01.pfx");
    let package = ca.path().join("QVS01-package");
    for args in [
        vec!["export", "pfx", "QVS01", "--out", path_str(&pfx)],
        vec!["package", "QVS01", "--out", path_str(&package)],
    ] {
        let out = ca
            .qvca()
            .arg("--pfx-password-file")
            .arg(&pfx_password)
            .args(&args)
            .output()
            .expect("run");
        assert!(!out.status.success(), "{args:?}: {}", describe(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", describe(&out));
        assert!(
            stderr(&out).contains("revoked"),
            "{args:?}: {}",
            describe(&out)
        );
    }
    assert!(!pfx.exists());
    assert!(!package.exists());
    let out = run(
        &ca,
        &[
            "export",
            "license-service",
            "--machine",
            "QVS01",
            "--out",
            path_str(&ca.path().join("ls")),
        ],
    );
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(!ca.path().join("ls").join("server_key.pem").exists());
}

#[test]
fn verify_with_the_crl_reports_a_revoked_certificate_file_as_a_problem() {
    let ca = p256_ca(&["QVS01", "QVS02"]);
    let revoked = cert_file(&ca, &active_serial(&ca, "QVS01"));
    let valid = cert_file(&ca, &active_serial(&ca, "QVS02"));
    run_code(
        &ca,
        &["-y", "revoke", "QVS01", "--reason", "keyCompromise"],
        0,
    );
    let published = ca.path().join("published.crl");
    run_code(&ca, &["crl", "--out", path_str(&published)], 0);

    let out = run_code(
        &ca,
        &["verify", "--crl", path_str(&published), path_str(&revoked)],
        5,
    );
    assert!(stdout(&out).contains("revoked"), "{}", describe(&out));
    let out = run_code(
        &ca,
        &[
            "--json",
            "verify",
            "--crl",
            path_str(&published),
            path_str(&revoked),
        ],
        5,
    );
    let report = json_of(&out);
    assert_eq!(report["ok"], false);
    let problems = report["results"][0]["problems"].to_string();
    assert!(problems.contains("revoked"), "{report}");

    let out = run_code(
        &ca,
        &[
            "verify",
            "--name",
            "QVS02",
            "--crl",
            path_str(&published),
            path_str(&valid),
        ],
        0,
    );
    assert!(stdout(&out).contains("not revoked"), "{}", describe(&out));
}

#[test]
fn renewing_a_revoked_certificate_issues_a_replacement_and_the_old_one_stays_on_the_crl() {
    let ca = p256_ca(&["QVS01"]);
    let revoked = active_serial(&ca, "QVS01");
    run_code(
        &ca,
        &["-y", "revoke", "QVS01", "--reason", "keyCompromise"],
        0,
    );
    run_code(&ca, &["renew", "QVS01"], 0);
    let replacement = active_serial(&ca, "QVS01");
    assert_ne!(replacement, revoked);
    assert_eq!(entry_by_serial(&ca, &revoked)["status"], "revoked");
    run_code(&ca, &["crl"], 0);
    assert_eq!(
        crl_serials(&ca.dir().join("crl.pem")),
        BTreeSet::from([revoked])
    );
}

#[test]
fn a_crl_that_cannot_be_written_keeps_the_last_good_crl_on_record() {
    let ca = healthy_ca();
    let (code, report) = doctor(&ca, &[]);
    assert_eq!(check_status(&report, "crl"), "ok", "{report:#}");
    assert_eq!(code, 0, "{report:#}");

    let nowhere = ca.path().join("no-such-dir").join("crl.pem");
    let out = run(&ca, &["crl", "--out", path_str(&nowhere)]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(!nowhere.exists());

    // The CRL in the CA dir is as current as before; doctor should still say so.
    let (code, report) = doctor(&ca, &[]);
    assert_eq!(check_status(&report, "crl"), "ok", "{report:#}");
    assert_eq!(code, 0);
}

#[test]
fn a_crl_written_to_a_relative_path_is_found_by_doctor_from_another_directory() {
    let ca = p256_ca(&["QVS01"]);
    // Run from the scratch directory: `--out published.crl` is <scratch>/published.crl.
    run_code(&ca, &["crl", "--out", "published.crl"], 0);
    assert!(ca.path().join("published.crl").is_file());
    let (_, report) = doctor(&ca, &[]);
    assert_eq!(check_status(&report, "crl"), "ok", "{report:#}");

    let out = ca
        .qvca()
        .args(["--json", "doctor"])
        .current_dir(other_dir(&ca))
        .output()
        .expect("run");
    let report = json_of(&out);
    assert_eq!(check_status(&report, "crl"), "ok", "{report:#}");
}

// ----------------------------------------------------------------------------- backup round trip

#[test]
fn revocations_and_the_crl_number_survive_backup_wipe_and_restore_and_numbering_continues() {
    let ca = p256_ca(&["QVS01", "QVS02", "QVS03"]);
    let pfx_password = pfx_password_file(&ca);
    run_code(
        &ca,
        &["-y", "revoke", "QVS01", "--reason", "keyCompromise"],
        0,
    );
    run_code(
        &ca,
        &["-y", "revoke", "QVS02", "--reason", "cessationOfOperation"],
        0,
    );
    for _ in 0..3 {
        run_code(&ca, &["crl"], 0);
    }
    let index_before = ca.index();
    assert_eq!(index_before["crl_number"], 3);
    let revoked_before: Vec<Value> = entries(&ca)
        .into_iter()
        .filter(|e| e["status"] == "revoked")
        .collect();
    assert_eq!(revoked_before.len(), 2);
    let old_crl = ca.path().join("old.crl");
    std::fs::copy(ca.dir().join("crl.pem"), &old_crl).expect("copy");

    let backup = ca.path().join("backup.pfx");
    let with_pfx = |args: &[&str]| {
        ca.qvca()
            .arg("--pfx-password-file")
            .arg(&pfx_password)
            .args(args)
            .output()
            .expect("run")
    };
    assert_code(
        &with_pfx(&["backup", "--out", path_str(&backup)]),
        0,
        "backup",
    );
    std::fs::remove_dir_all(ca.dir()).expect("wipe the CA dir");
    assert_code(&with_pfx(&["restore", path_str(&backup)]), 0, "restore");

    let revoked_after: Vec<Value> = entries(&ca)
        .into_iter()
        .filter(|e| e["status"] == "revoked")
        .collect();
    assert_eq!(
        revoked_after, revoked_before,
        "revocations (dates, reasons) survive"
    );
    assert_eq!(ca.index()["crl_number"], 3);

    let report = ca.json(&["crl"]);
    assert_eq!(report["number"], 4, "numbering continues: {report}");
    let crl = ca.dir().join("crl.pem");
    assert_eq!(crl_number(&crl), 4);
    assert_eq!(crl_serials(&crl), crl_serials(&old_crl));
    for entry in &revoked_before {
        let serial = entry["serial"].as_str().expect("serial");
        assert_eq!(
            revocation_date(&crl, serial),
            revocation_date(&old_crl, serial),
            "the revocation date of {serial} is kept"
        );
    }
    let text = crl_text(&crl);
    assert!(text.contains("Key Compromise") && text.contains("Cessation Of Operation"));
    let (ok, text) = tool(
        "openssl",
        &[
            "crl",
            "-in",
            path_str(&crl),
            "-CAfile",
            path_str(&ca.root_pem()),
            "-noout",
        ],
    );
    assert!(ok && text.contains("verify OK"), "{text}");
}

// ------------------------------------------------------------------------------------------ renew

#[test]
fn renewing_a_server_gives_a_new_serial_and_key_and_keeps_the_old_one_listed_as_superseded() {
    let ca = p256_ca(&["QVS01"]);
    let old = active_serial(&ca, "QVS01");
    let out = run_code(&ca, &["--json", "renew", "QVS01"], 0);
    let report = json_of(&out);
    let result = &report["results"][0];
    assert_eq!(result["outcome"], "issued", "{report}");
    assert_eq!(result["supersedes"], old.as_str());
    let new = active_serial(&ca, "QVS01");
    assert_eq!(result["serial"], new.as_str());
    assert_ne!(new, old);

    // A new key: openssl sees another public key, and the new key file belongs to the new cert.
    let old_public = cert_public_key(&cert_file(&ca, &old));
    let new_public = cert_public_key(&cert_file(&ca, &new));
    assert_ne!(old_public, new_public);
    assert_eq!(key_public_key(&ca, &key_file(&ca, &new)), new_public);
    let subject = openssl_ok(&[
        "x509",
        "-in",
        path_str(&cert_file(&ca, &new)),
        "-noout",
        "-subject",
        "-ext",
        "subjectAltName",
    ]);
    assert!(
        subject.contains("CN = QVS01") && subject.contains("DNS:QVS01"),
        "{subject}"
    );

    let all = listed(&ca, true);
    let old_row = all
        .iter()
        .find(|r| r["serial"] == old.as_str())
        .expect("the old certificate is still listed with --all");
    assert_eq!(old_row["status"], "superseded");
    assert!(
        listed(&ca, false)
            .iter()
            .all(|r| r["serial"] != old.as_str())
    );

    // The human output says what happened to the old one and what to do about it.
    let ca2 = p256_ca(&["QVS01"]);
    let old2 = active_serial(&ca2, "QVS01");
    let out = run_code(&ca2, &["renew", "QVS01"], 0);
    let all_output = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all_output.contains("superseded"), "{all_output}");
    assert!(all_output.contains("qvca revoke"), "{all_output}");
    assert!(all_output.contains(&old2), "{all_output}");
}

#[test]
fn renewing_keeps_the_key_type_of_the_certificate() {
    let ca = p256_ca(&["QVS01"]);
    run_code(&ca, &["renew", "QVS01", "QVProxy"], 0);
    for name in ["QVS01", "QVProxy"] {
        let serial = active_serial(&ca, name);
        assert_eq!(entry_by_serial(&ca, &serial)["key_type"], "p256", "{name}");
        let text = openssl_ok(&[
            "x509",
            "-in",
            path_str(&cert_file(&ca, &serial)),
            "-noout",
            "-text",
        ]);
        assert!(text.contains("prime256v1"), "{name} is not P-256: {text}");
    }
}

#[test]
fn renewing_the_exported_server_refreshes_the_license_service_export_and_reminds_to_restart() {
    let ca = p256_ca(&["QVS01", "QVS02"]);
    let export = ca.path().join("exported");
    run_code(
        &ca,
        &[
            "export",
            "license-service",
            "--machine",
            "QVS01",
            "--out",
            path_str(&export),
        ],
        0,
    );

    // Renewing another machine leaves the export alone and says nothing about restarts.
    let before = snapshot(&export);
    let out = run_code(&ca, &["renew", "QVS02"], 0);
    assert_eq!(snapshot(&export), before);
    assert!(!stderr(&out).contains("Restart"), "{}", describe(&out));

    let out = run_code(&ca, &["renew", "QVS01"], 0);
    let new = cert_file(&ca, &active_serial(&ca, "QVS01"));
    assert_eq!(fingerprint(&export.join("server.pem")), fingerprint(&new));
    let exported_key = openssl_ok(&[
        "pkey",
        "-in",
        path_str(&export.join("server_key.pem")),
        "-pubout",
    ]);
    assert_eq!(exported_key, cert_public_key(&new));
    let err = stderr(&out);
    assert!(
        err.contains(
            "Restart the QlikView Management Service (QMS) before the Qlik License Service"
        ),
        "{}",
        describe(&out)
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(export.join("server_key.pem"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let (_, report) = doctor(&ca, &[]);
    assert_eq!(check_status(&report, "license-service-export"), "ok");
}

#[test]
fn renewing_from_another_directory_refreshes_a_license_service_export_made_with_a_relative_path() {
    let ca = p256_ca(&["QVS01"]);
    run_code(
        &ca,
        &[
            "export",
            "license-service",
            "--machine",
            "QVS01",
            "--out",
            "exported",
        ],
        0,
    );
    let export = ca.path().join("exported");
    assert!(export.join("server.pem").is_file());

    let elsewhere = other_dir(&ca);
    let out = ca
        .qvca()
        .args(["renew", "QVS01"])
        .current_dir(&elsewhere)
        .output()
        .expect("run");
    assert_code(&out, 0, "renew");
    assert!(
        !elsewhere.join("exported").exists(),
        "a second export (with an unencrypted key) appeared in the current directory"
    );
    let new = cert_file(&ca, &active_serial(&ca, "QVS01"));
    assert_eq!(fingerprint(&export.join("server.pem")), fingerprint(&new));
}

#[test]
fn renew_expiring_within_picks_exactly_the_valid_ones_due_and_then_has_nothing_to_do() {
    let ca = TestCa::new();
    run_code(&ca, &["init", "--key-type", "p256"], 0);
    run_code(
        &ca,
        &["issue", "server", "LONG1", "LONG2", "--key-type", "p256"],
        0,
    );
    run_code(
        &ca,
        &[
            "issue",
            "server",
            "SHORT1",
            "SHORT2",
            "GONE",
            "--days",
            "10",
            "--key-type",
            "p256",
        ],
        0,
    );
    run_code(
        &ca,
        &["issue", "client", "--days", "10", "--key-type", "p256"],
        0,
    );
    // A revoked certificate is not renewed, however soon it expires.
    run_code(&ca, &["-y", "revoke", "GONE"], 0);
    let long: Vec<String> = ["LONG1", "LONG2", "QlikViewCA"]
        .iter()
        .map(|n| active_serial(&ca, n))
        .collect();
    let due: BTreeMap<String, String> = ["SHORT1", "SHORT2", "QVProxy"]
        .iter()
        .map(|n| ((*n).to_owned(), active_serial(&ca, n)))
        .collect();

    let report = ca.json(&["renew", "--expiring-within", "30"]);
    let renewed: BTreeMap<String, String> = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            assert_eq!(r["outcome"], "issued", "{report}");
            (
                r["name"].as_str().expect("name").to_owned(),
                r["supersedes"].as_str().expect("supersedes").to_owned(),
            )
        })
        .collect();
    assert_eq!(renewed, due, "{report}");
    for serial in &long {
        assert_eq!(entry_by_serial(&ca, serial)["status"], "active");
    }
    for serial in due.values() {
        assert_eq!(entry_by_serial(&ca, serial)["status"], "superseded");
    }
    assert_eq!(
        entry_by_serial(&ca, &active_or_revoked_serial(&ca, "GONE"))["status"],
        "revoked"
    );

    // Nothing is due any more: exit 0 and not a byte changes.
    let before = ca.snapshot();
    let out = run_code(&ca, &["renew", "--expiring-within", "30"], 0);
    assert!(stdout(&out).contains("nothing"), "{}", describe(&out));
    let report = ca.json(&["renew", "--expiring-within", "30"]);
    assert_eq!(report["results"], serde_json::json!([]));
    assert_eq!(ca.snapshot(), before);
}

#[test]
fn renew_needs_names_or_expiring_within_and_unknown_names_are_not_found() {
    let ca = p256_ca(&["QVS01"]);
    let before = ca.snapshot();
    run_code(&ca, &["renew"], 2);
    run_code(&ca, &["renew", "QVS01", "--expiring-within", "30"], 2);
    run_code(&ca, &["renew", "QVS99"], 6);
    assert_eq!(ca.snapshot(), before);
}

#[test]
fn renewing_the_root_needs_the_root_flag() {
    let ca = p256_ca(&["QVS01"]);
    let before = ca.snapshot();
    let out = run_code(&ca, &["renew", "QlikViewCA"], 2);
    assert!(stderr(&out).contains("--root"), "{}", describe(&out));
    let out = run_code(&ca, &["renew", "QVS01", "--root"], 2);
    assert!(stderr(&out).contains("QVS01"), "{}", describe(&out));
    assert_eq!(ca.snapshot(), before);
}

#[test]
fn renewing_the_root_succeeds_when_the_exported_machine_was_revoked() {
    let ca = p256_ca(&["QVS01", "QVS02"]);
    run_code(&ca, &["export", "license-service", "--machine", "QVS01"], 0);
    run_code(
        &ca,
        &["-y", "revoke", "QVS01", "--reason", "keyCompromise"],
        0,
    );
    let old_root = active_serial(&ca, "QlikViewCA");

    let out = run(&ca, &["-y", "renew", "QlikViewCA", "--root"]);
    let renewed = active_serial(&ca, "QlikViewCA") != old_root;
    assert!(renewed, "the root was not renewed: {}", describe(&out));
    // The root was renewed, so the command succeeded; the export is a matter for a warning.
    assert_code(
        &out,
        0,
        "renew --root after the exported machine was revoked",
    );
}

#[test]
fn renewing_the_root_keeps_its_key_so_issued_certificates_and_secrets_stay_valid() {
    let ca = p256_ca(&["QVS01"]);
    let export = ca.path().join("exported");
    run_code(
        &ca,
        &[
            "export",
            "license-service",
            "--machine",
            "QVS01",
            "--out",
            path_str(&export),
        ],
        0,
    );
    run_code(&ca, &["-y", "revoke", "QVProxy"], 0);
    let leaves: Vec<PathBuf> = entries(&ca)
        .iter()
        .filter(|e| e["kind"] != "root")
        .map(|e| cert_file(&ca, e["serial"].as_str().expect("serial")))
        .collect();
    let old_serial = active_serial(&ca, "QlikViewCA");
    let old_root = ca.path().join("old-root.pem");
    std::fs::copy(ca.root_pem(), &old_root).expect("copy");
    let kid_before = ca.json(&["secrets", "derive"])["kid"].clone();
    let token = ca
        .qvca()
        .args(["secrets", "encrypt"])
        .write_stdin("Server=db01;Password=s3cret")
        .output()
        .expect("encrypt");
    assert_code(&token, 0, "encrypt");
    let token = stdout(&token);

    // Without a terminal and without -y it goes ahead: the key is kept, nothing is lost.
    let out = run_code(&ca, &["-y", "--json", "renew", "QlikViewCA", "--root"], 0);
    let report = json_of(&out);
    assert_eq!(report["old_serial"], old_serial.as_str());
    assert_eq!(report["key_kept"], true);
    let new_serial = active_serial(&ca, "QlikViewCA");
    assert_eq!(report["new_serial"], new_serial.as_str());
    assert_ne!(new_serial, old_serial);

    let new_root = ca.dir().join("certs").join(format!("{new_serial}.pem"));
    assert_eq!(cert_public_key(&new_root), cert_public_key(&old_root));
    assert_eq!(
        extension_value(&new_root, "subjectKeyIdentifier"),
        extension_value(&old_root, "subjectKeyIdentifier")
    );
    let serial_line = openssl_ok(&["x509", "-in", path_str(&new_root), "-noout", "-serial"]);
    assert_eq!(serial_line.trim(), format!("serial={new_serial}"));
    let subject = openssl_ok(&[
        "x509",
        "-in",
        path_str(&new_root),
        "-noout",
        "-subject",
        "-issuer",
    ]);
    assert!(
        subject.contains("subject=CN = QlikViewCA") && subject.contains("issuer=CN = QlikViewCA")
    );

    let all = listed(&ca, true);
    let row = |serial: &str| {
        all.iter()
            .find(|r| r["serial"] == serial)
            .unwrap_or_else(|| panic!("{serial} not listed"))
            .clone()
    };
    assert_eq!(row(&old_serial)["status"], "superseded");
    assert_eq!(row(&new_serial)["status"], "valid");

    // Every leaf issued before, the revoked one too, chains to the NEW root for openssl.
    for leaf in &leaves {
        let (ok, text) = tool(
            "openssl",
            &["verify", "-CAfile", path_str(&new_root), path_str(leaf)],
        );
        assert!(ok, "{}: {text}", leaf.display());
    }
    // A CRL made now is signed by the new root and openssl takes it with the new root.
    run_code(&ca, &["crl"], 0);
    let crl = ca.dir().join("crl.pem");
    let (ok, text) = tool(
        "openssl",
        &[
            "crl",
            "-in",
            path_str(&crl),
            "-CAfile",
            path_str(&new_root),
            "-noout",
        ],
    );
    assert!(ok && text.contains("verify OK"), "{text}");

    // The SecretsKey is the same, and tokens made before still decrypt.
    assert_eq!(ca.json(&["secrets", "derive"])["kid"], kid_before);
    let plain = ca
        .qvca()
        .args(["secrets", "decrypt"])
        .write_stdin(token)
        .output()
        .expect("decrypt");
    assert_code(&plain, 0, "decrypt");
    assert_eq!(stdout(&plain).trim(), "Server=db01;Password=s3cret");

    // The license-service export now carries the new root.
    assert_eq!(
        fingerprint(&export.join("root.pem")),
        fingerprint(&new_root)
    );
    let (_, report) = doctor(&ca, &[]);
    assert_eq!(check_status(&report, "license-service-export"), "ok");
    assert_eq!(check_status(&report, "keys-match"), "ok");
}

// ----------------------------------------------------------------------------------------- doctor

#[test]
fn doctor_on_a_healthy_ca_exits_0_with_every_check_ok() {
    let ca = healthy_ca();
    let (code, report) = doctor(&ca, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["ok"], true);
    let checks = doctor_checks(&report);
    let names: BTreeSet<&str> = checks.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "no-password",
            "permissions",
            "keys-match",
            "expiry",
            "index-files",
            "staging-leftovers",
            "license-service-export",
            "crl",
        ])
    );
    assert!(checks.values().all(|s| s == "ok"), "{report:#}");

    let out = run_code(&ca, &["doctor"], 0);
    assert!(stdout(&out).lines().count() >= 7, "{}", describe(&out));
}

#[test]
fn a_key_file_readable_by_others_is_a_permissions_problem() {
    use std::os::unix::fs::PermissionsExt;
    let ca = healthy_ca();
    let key = key_file(&ca, &active_serial(&ca, "QVS01"));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (code, report) = doctor(&ca, &[]);
    assert_eq!(code, 5);
    assert_findings(&report, &[("permissions", "problem")]);
    assert!(report.to_string().contains(path_str(&key)), "{report:#}");

    // The cron line `qvca doctor -q` must mail the problem: -q drops OK lines, never problems.
    let out = run_code(&ca, &["-q", "doctor"], 5);
    let text = stdout(&out);
    assert!(text.contains("PROBLEM  permissions"), "{}", describe(&out));
    assert!(!text.contains("ok "), "{}", describe(&out));
}

#[test]
fn doctor_quiet_on_a_healthy_ca_prints_nothing() {
    let ca = healthy_ca();
    let out = run_code(&ca, &["-q", "doctor"], 0);
    assert_eq!(stdout(&out), "", "{}", describe(&out));
}

#[test]
fn a_missing_certificate_file_is_an_index_files_problem() {
    let ca = healthy_ca();
    let cert = cert_file(&ca, &active_serial(&ca, "QVProxy"));
    std::fs::remove_file(&cert).expect("rm");
    let (code, report) = doctor(&ca, &[]);
    assert_eq!(code, 5);
    assert_eq!(
        check_status(&report, "index-files"),
        "problem",
        "{report:#}"
    );
    assert_eq!(report["ok"], false);
}

#[test]
fn a_stale_license_service_export_is_a_problem() {
    let ca = healthy_ca();
    let exported = ca.dir().join("Exported Certificates").join("server.pem");
    assert!(exported.is_file());
    std::fs::copy(cert_file(&ca, &active_serial(&ca, "QVProxy")), &exported).expect("copy");
    let (code, report) = doctor(&ca, &[]);
    assert_eq!(code, 5);
    assert_findings(&report, &[("license-service-export", "problem")]);

    // Exporting again fixes it.
    run_code(&ca, &["export", "license-service", "--machine", "QVS01"], 0);
    let (code, report) = doctor(&ca, &[]);
    assert_eq!(code, 0, "{report:#}");
}

#[test]
fn a_certificate_inside_the_warning_window_is_an_expiry_warning_unless_the_window_is_shorter() {
    let ca = healthy_ca();
    run_code(
        &ca,
        &[
            "issue",
            "server",
            "QVS09",
            "--days",
            "10",
            "--key-type",
            "p256",
        ],
        0,
    );
    let (code, report) = doctor(&ca, &[]);
    assert_eq!(code, 5);
    assert_findings(&report, &[("expiry", "warning")]);
    assert!(report.to_string().contains("QVS09"), "{report:#}");

    let (code, report) = doctor(&ca, &["--warn-days", "5"]);
    assert_eq!(code, 0, "{report:#}");
    assert_findings(&report, &[]);
}

#[test]
fn a_crl_close_to_its_next_update_is_a_crl_warning() {
    let ca = healthy_ca();
    run_code(&ca, &["crl", "--days", "1"], 0);
    let (code, report) = doctor(&ca, &[]);
    assert_eq!(code, 5);
    assert_findings(&report, &[("crl", "warning")]);

    run_code(&ca, &["crl"], 0);
    let (code, _) = doctor(&ca, &[]);
    assert_eq!(code, 0);
}

#[test]
fn a_revocation_not_yet_on_a_crl_is_a_crl_warning() {
    let ca = p256_ca(&["QVS01", "QVS02"]);
    run_code(&ca, &["export", "license-service", "--machine", "QVS01"], 0);
    // Revoked, and no CRL was ever written.
    run_code(&ca, &["-y", "revoke", "QVS02"], 0);
    let (code, report) = doctor(&ca, &[]);
    assert_eq!(code, 5);
    assert_findings(&report, &[("crl", "warning")]);
    run_code(&ca, &["crl"], 0);
    let (code, report) = doctor(&ca, &[]);
    assert_eq!(code, 0, "{report:#}");

    // Revoked after the last CRL.
    ca.qvca()
        .args(["issue", "server", "QVS03", "--key-type", "p256"])
        .assert()
        .success();
    run_code(&ca, &["-y", "revoke", "QVS03"], 0);
    let (code, report) = doctor(&ca, &[]);
    assert_eq!(code, 5);
    assert_findings(&report, &[("crl", "warning")]);
    assert!(report.to_string().contains("QVS03"), "{report:#}");
}

#[test]
fn a_ca_without_a_password_is_a_no_password_warning() {
    let ca = TestCa::new();
    run_code(&ca, &["setup", "QVS01", "--no-password"], 0);
    run_code(&ca, &["crl"], 0);
    let (code, report) = doctor(&ca, &[]);
    assert_eq!(code, 5);
    assert_findings(&report, &[("no-password", "warning")]);
    let out = run_code(&ca, &["doctor"], 5);
    assert!(
        stdout(&out).contains("WITHOUT a password"),
        "{}",
        describe(&out)
    );
}

#[test]
fn doctor_without_any_password_source_skips_the_key_check_and_still_passes() {
    let ca = healthy_ca();
    let out = ca
        .qvca_without_password()
        .args(["--json", "doctor"])
        .output()
        .expect("run");
    assert_code(&out, 0, "doctor without a password");
    let report = json_of(&out);
    assert_eq!(check_status(&report, "keys-match"), "skipped");
    assert!(
        doctor_checks(&report)
            .iter()
            .all(|(name, status)| name == "keys-match" || status == "ok"),
        "{report:#}"
    );
    assert_eq!(report["ok"], true);

    // A wrong password is an error like everywhere else, not a skipped check.
    let wrong = ca.path().join("wrong.txt");
    std::fs::write(&wrong, "not the password\n").expect("write");
    let out = ca
        .qvca_without_password()
        .arg("--password-file")
        .arg(&wrong)
        .arg("doctor")
        .output()
        .expect("run");
    assert_code(&out, 4, "doctor with a wrong password");
}

#[test]
fn doctor_without_a_ca_is_not_found() {
    let ca = TestCa::new();
    run_code(&ca, &["doctor"], 6);
    assert!(!ca.dir().exists());
}

// ----------------------------------------------------------------------------------------- status

#[test]
fn status_json_gives_0_1_2_with_reasons_and_always_exits_0() {
    let ca = TestCa::new();
    let report = ca.json(&["status"]);
    assert_eq!(report["state"], 0);
    assert_eq!(report["name"], "Initializing");
    assert!(
        report["reasons"].to_string().contains("qvca init"),
        "{report}"
    );

    run_code(&ca, &["init", "--key-type", "p256"], 0);
    let report = ca.json(&["status"]);
    assert_eq!(report["state"], 1);
    assert_eq!(report["name"], "Certificates not installed");
    let reasons = report["reasons"].to_string();
    assert!(
        reasons.contains("Server") && reasons.contains("Client"),
        "{report}"
    );
    assert_eq!(report["password_protected"], true);

    run_code(&ca, &["setup", "QVS01"], 0);
    let report = ca.json(&["status"]);
    assert_eq!(report["state"], 2);
    assert_eq!(report["name"], "Running");
    assert!(!report["reasons"].as_array().expect("reasons").is_empty());

    // Renewing the root keeps a running node running.
    run_code(&ca, &["-y", "renew", "QlikViewCA", "--root"], 0);
    assert_eq!(ca.json(&["status"])["state"], 2);

    // Revoking the only Server certificate takes the node back to 1.
    run_code(&ca, &["-y", "revoke", "QVS01"], 0);
    let out = run_code(&ca, &["status"], 0);
    assert_eq!(stdout(&out), "1\n");
    let report = ca.json(&["status"]);
    assert_eq!(report["state"], 1);
    assert!(report["reasons"].to_string().contains("Server"), "{report}");
}

#[test]
fn status_on_a_ca_without_a_password_says_so_in_its_reasons() {
    let ca = TestCa::new();
    run_code(&ca, &["setup", "QVS01", "--no-password"], 0);
    let report = ca.json(&["status"]);
    assert_eq!(report["state"], 2);
    assert_eq!(report["password_protected"], false);
    assert!(
        report["reasons"].to_string().contains("WITHOUT a password"),
        "{report}"
    );
    let out = run_code(&ca, &["status"], 0);
    assert_eq!(stdout(&out), "2\n");
    assert!(
        stderr(&out).contains("WITHOUT a password"),
        "{}",
        describe(&out)
    );
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

/// The port numbers rows of the `ports` tables start with.
fn table_ports(text: &str) -> BTreeSet<u16> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|first| first.parse().ok())
        .collect()
}

#[test]
fn ports_lists_every_port_of_seeds_001_and_002() {
    let text = bare_ok(&["ports"]);
    let listed = table_ports(&text);
    for port in SEED_001_PORTS.iter().chain(&SEED_002_PORTS) {
        assert!(listed.contains(port), "{port} missing:\n{text}");
    }
    assert!(text.contains("localhost only"), "{text}");

    let report: Value = serde_json::from_str(&bare_ok(&["--json", "ports"])).expect("JSON");
    let ports = report["ports"].as_array().expect("ports");
    let numbers: BTreeSet<u64> = ports
        .iter()
        .map(|p| p["port"].as_u64().expect("port"))
        .collect();
    for port in SEED_001_PORTS.iter().chain(&SEED_002_PORTS) {
        assert!(
            numbers.contains(&u64::from(*port)),
            "{port} missing: {report}"
        );
    }
    for port in INSTALLATION_PORTS {
        let row = ports
            .iter()
            .find(|p| p["port"] == port)
            .expect("installation port");
        assert_eq!(row["table"], "certificate-installation", "{row}");
    }
    let password_port = ports.iter().find(|p| p["port"] == 4570).expect("4570");
    assert_eq!(password_port["localhost_only"], true);
}

#[test]
fn ports_role_qvs_limits_the_tables_and_the_rules_to_4747_and_4749() {
    let text = bare_ok(&["ports", "--role", "qvs"]);
    assert_eq!(table_ports(&text), BTreeSet::from([4747, 4749]), "{text}");
    let report: Value =
        serde_json::from_str(&bare_ok(&["--json", "ports", "--role", "qvs"])).expect("JSON");
    let numbers: BTreeSet<u64> = report["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| p["port"].as_u64().expect("port"))
        .collect();
    assert_eq!(numbers, BTreeSet::from([4747, 4749]));
    for tool in ["iptables", "nftables", "netsh"] {
        let rules = bare_ok(&["ports", "--firewall", tool, "--role", "qvs"]);
        assert_eq!(
            opened_ports(&rules),
            BTreeSet::from([4747, 4749]),
            "{tool}:\n{rules}"
        );
    }
}

/// The ports a firewall script opens, whatever the tool (comments left out).
fn opened_ports(rules: &str) -> BTreeSet<u16> {
    let mut ports = BTreeSet::new();
    for line in rules.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with("REM") {
            continue;
        }
        for marker in ["--dport ", "tcp dport ", "localport="] {
            if let Some(rest) = line.split(marker).nth(1) {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                ports.insert(digits.parse().expect("a port number"));
            }
        }
    }
    ports
}

#[test]
fn iptables_rules_are_an_idempotent_shell_script_of_check_or_append_lines() {
    let script = bare_ok(&["ports", "--firewall", "iptables"]);
    let mut ports = BTreeSet::new();
    for line in script.lines() {
        if line.is_empty() || line.starts_with('#') || line == "set -e" {
            continue;
        }
        let (check, append) = line
            .split_once(" || ")
            .unwrap_or_else(|| panic!("not `check || append`: {line}"));
        let check_rule = check
            .strip_prefix("iptables -C ")
            .and_then(|c| c.strip_suffix(" 2>/dev/null"))
            .unwrap_or_else(|| panic!("not an iptables -C check: {line}"));
        let append_rule = append
            .strip_prefix("iptables -A ")
            .unwrap_or_else(|| panic!("not an iptables -A append: {line}"));
        assert_eq!(check_rule, append_rule, "{line}");
        let rest = check_rule
            .strip_prefix("INPUT -p tcp --dport ")
            .unwrap_or_else(|| panic!("not an inbound TCP rule: {line}"));
        let port: u16 = rest
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port: {line}"));
        assert!(check_rule.ends_with("-j ACCEPT"), "{line}");
        assert!(ports.insert(port), "{port} opened twice");
    }
    assert_eq!(ports, BTreeSet::from(QLIKVIEW_SERVICE_PORTS));

    let file = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(file.path(), &script).expect("write");
    let (ok, text) = tool("sh", &["-n", path_str(file.path())]);
    assert!(ok, "sh -n: {text}");
    let (ok, text) = tool("shellcheck", &["-s", "sh", path_str(file.path())]);
    assert!(ok, "shellcheck: {text}");
}

#[test]
fn the_iptables_script_appends_missing_rules_once_and_stops_on_a_failure() {
    let dir = tempfile::tempdir().expect("temp");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    // A stub iptables that logs its arguments; -C answers CHECK_EXIT, -A answers APPEND_EXIT.
    let stub = bin.join("iptables");
    std::fs::write(
        &stub,
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> \"$LOG\"\ncase \"$1\" in\n  -C) exit \"$CHECK_EXIT\" ;;\n  *) exit \"$APPEND_EXIT\" ;;\nesac\n",
    )
    .expect("stub");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let script = dir.path().join("open-ports.sh");
    std::fs::write(&script, bare_ok(&["ports", "--firewall", "iptables"])).expect("write");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run_script = |check: &str, append: &str| {
        let log = dir.path().join(format!("log-{check}-{append}"));
        let status = std::process::Command::new("sh")
            .arg(&script)
            .env("PATH", &path)
            .env("LOG", &log)
            .env("CHECK_EXIT", check)
            .env("APPEND_EXIT", append)
            .status()
            .expect("sh");
        let lines: Vec<String> = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        (status.success(), lines)
    };

    // Nothing there yet: every rule is checked, then appended.
    let (ok, calls) = run_script("1", "0");
    assert!(ok);
    let appended: Vec<&String> = calls.iter().filter(|c| c.starts_with("-A ")).collect();
    assert_eq!(appended.len(), QLIKVIEW_SERVICE_PORTS.len(), "{calls:#?}");
    for port in QLIKVIEW_SERVICE_PORTS {
        assert!(
            appended
                .iter()
                .any(|c| c.starts_with(&format!("-A INPUT -p tcp --dport {port} "))),
            "{port}: {calls:#?}"
        );
    }
    // Everything there already: checked only, nothing appended.
    let (ok, calls) = run_script("0", "0");
    assert!(ok);
    assert_eq!(calls.len(), QLIKVIEW_SERVICE_PORTS.len());
    assert!(calls.iter().all(|c| c.starts_with("-C ")), "{calls:#?}");
    // An append that fails stops the script with an error.
    let (ok, calls) = run_script("1", "1");
    assert!(!ok, "a failed iptables -A must fail the script");
    assert_eq!(calls.iter().filter(|c| c.starts_with("-A ")).count(), 1);
}

#[test]
fn netsh_rules_are_inbound_allow_rules_for_each_tcp_port_in_a_cmd_script() {
    let script = bare_ok(&["ports", "--firewall", "netsh"]);
    assert!(script.contains("\r\n"), "a .cmd script has CRLF lines");
    let mut ports = BTreeSet::new();
    for line in script.split("\r\n") {
        if line.is_empty() || line.starts_with("REM") || line == "@echo off" {
            continue;
        }
        if line.starts_with("netsh advfirewall firewall delete rule ") {
            // Re-running replaces a rule instead of adding a duplicate.
            assert!(line.ends_with(">nul 2>&1"), "{line}");
            continue;
        }
        assert!(
            line.starts_with("netsh advfirewall firewall add rule "),
            "{line:?}"
        );
        assert_eq!(line.matches('"').count(), 2, "quoted rule name: {line}");
        let port: u16 = line
            .split("localport=")
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no localport: {line}"));
        assert!(
            line.contains(&format!(
                "dir=in action=allow protocol=TCP localport={port}"
            )),
            "{line}"
        );
        assert!(ports.insert(port), "{port} twice");
    }
    assert_eq!(ports, BTreeSet::from(QLIKVIEW_SERVICE_PORTS));
}

#[test]
fn nftables_rules_are_accepted_by_nft_and_open_each_port_once() {
    let rules = bare_ok(&["ports", "--firewall", "nftables"]);
    assert!(rules.starts_with("#!/usr/sbin/nft -f\n"), "{rules}");
    assert!(rules.contains("table inet filter {"), "{rules}");
    assert!(
        rules.contains("type filter hook input priority filter;"),
        "{rules}"
    );
    let accept_lines: Vec<&str> = rules
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("tcp dport "))
        .collect();
    for line in &accept_lines {
        assert!(line.contains(" accept"), "{line}");
    }
    assert_eq!(accept_lines.len(), QLIKVIEW_SERVICE_PORTS.len());
    assert_eq!(opened_ports(&rules), BTreeSet::from(QLIKVIEW_SERVICE_PORTS));

    // nft judges the syntax when it can run here (it may lack netlink in a sandbox).
    let dir = tempfile::tempdir().expect("temp");
    let trivial = dir.path().join("trivial.nft");
    std::fs::write(&trivial, "table inet qvca_probe {\n}\n").expect("write");
    let nft_works = std::process::Command::new("nft")
        .args(["-c", "-f", path_str(&trivial)])
        .output()
        .is_ok_and(|o| o.status.success());
    if nft_works {
        for role in [None, Some("sense-repository"), Some("qvs,qds,qvws,qms,dsc")] {
            let mut args = vec!["ports", "--firewall", "nftables"];
            if let Some(role) = role {
                args.extend(["--role", role]);
            }
            let file = dir.path().join("rules.nft");
            std::fs::write(&file, bare_ok(&args)).expect("write");
            let (ok, text) = tool("nft", &["-c", "-f", path_str(&file)]);
            assert!(ok, "nft -c rejects the rules for {role:?}: {text}");
        }
    }
}

#[test]
fn the_sense_repository_role_opens_4444_but_keeps_the_localhost_only_4570_closed_and_says_so() {
    for tool in ["iptables", "nftables", "netsh"] {
        let rules = bare_ok(&["ports", "--firewall", tool, "--role", "sense-repository"]);
        let opened = opened_ports(&rules);
        assert!(opened.contains(&4444), "{tool}:\n{rules}");
        assert!(!opened.contains(&4570), "{tool}:\n{rules}");
        let note = rules
            .lines()
            .find(|l| l.contains("4570"))
            .unwrap_or_else(|| panic!("{tool}: 4570 is not mentioned:\n{rules}"));
        assert!(
            note.starts_with('#') || note.starts_with("REM"),
            "{tool}: {note}"
        );
        assert!(note.contains("localhost"), "{tool}: {note}");
    }
}

#[test]
fn certificate_installation_ports_are_never_opened_but_are_named_in_a_comment() {
    for roles in [None, Some("qds,dsc,qvws")] {
        for tool in ["iptables", "nftables", "netsh"] {
            let mut args = vec!["ports", "--firewall", tool];
            if let Some(roles) = roles {
                args.extend(["--role", roles]);
            }
            let rules = bare_ok(&args);
            let opened = opened_ports(&rules);
            for port in INSTALLATION_PORTS {
                assert!(
                    !opened.contains(&port),
                    "{tool} {roles:?} opens {port}:\n{rules}"
                );
                assert!(
                    rules
                        .lines()
                        .any(|l| (l.starts_with('#') || l.starts_with("REM"))
                            && l.contains(&port.to_string())),
                    "{tool} {roles:?}: {port} not explained:\n{rules}"
                );
            }
        }
    }
}

#[test]
fn ports_json_with_a_firewall_carries_the_same_rules() {
    let text = bare_ok(&["ports", "--firewall", "iptables", "--role", "qms"]);
    let report: Value = serde_json::from_str(&bare_ok(&[
        "--json",
        "ports",
        "--firewall",
        "iptables",
        "--role",
        "qms",
    ]))
    .expect("JSON");
    assert_eq!(report["firewall"], "iptables");
    assert_eq!(report["rules"], text.as_str());
    assert_eq!(opened_ports(&text), BTreeSet::from([4780, 4799]));
}

#[test]
fn an_unknown_role_or_firewall_is_a_usage_error() {
    assert_code(&bare(&["ports", "--role", "qlikview"]), 2, "bad role");
    assert_code(&bare(&["ports", "--firewall", "pf"]), 2, "bad firewall");
}

// -------------------------------------------------------------------------------- license inspect

fn assert_decodes_the_seed_sample(text: &str) {
    assert!(text.contains(SEED_003_KID), "{text}");
    assert!(text.contains(SEED_003_LICENSE), "{text}");
    assert!(text.contains("RS512"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("not verified"),
        "it must say the signature is not verified: {text}"
    );
}

#[test]
fn the_seed_license_key_decodes_from_an_argument_with_its_line_breaks() {
    assert!(SEED_003_SLK.lines().count() > 3, "the sample stays wrapped");
    let text = bare_ok(&["license", "inspect", SEED_003_SLK]);
    assert_decodes_the_seed_sample(&text);
}

#[test]
fn the_seed_license_key_decodes_from_stdin() {
    let dir = tempfile::tempdir().expect("temp");
    let out = bare_qvca()
        .args(["license", "inspect"])
        .current_dir(dir.path())
        .write_stdin(SEED_003_SLK)
        .output()
        .expect("run");
    assert_code(&out, 0, "license inspect < key");
    assert_decodes_the_seed_sample(&stdout(&out));
}

#[test]
fn the_seed_license_key_decodes_from_a_file() {
    let dir = tempfile::tempdir().expect("temp");
    let file = dir.path().join("license key.txt");
    std::fs::write(&file, SEED_003_SLK.replace('\n', "\r\n")).expect("write");
    let text = bare_ok(&["license", "inspect", path_str(&file)]);
    assert_decodes_the_seed_sample(&text);
}

#[test]
fn license_inspect_json_has_the_header_and_the_claims() {
    let report: Value =
        serde_json::from_str(&bare_ok(&["--json", "license", "inspect", SEED_003_SLK]))
            .expect("JSON");
    assert_eq!(report["header"]["kid"], SEED_003_KID);
    assert_eq!(report["header"]["alg"], "RS512");
    assert_eq!(report["header"]["typ"], "JWT");
    assert_eq!(report["claims"]["license"], SEED_003_LICENSE);
    assert_eq!(
        report["claims"]["jti"],
        "623aa9af-950f-47f7-8bf0-f4d39f42d96c"
    );
    assert_eq!(report["signature_verified"], false);
    assert!(report["signature_length"].as_u64().expect("length") > 0);
}

#[test]
fn malformed_license_keys_fail_with_exit_1_naming_the_part_that_is_wrong() {
    let cases = [
        ("garbage", "1 part"),
        ("abc.def", "2 part"),
        ("a.b.c.d", "4 part"),
        ("!!.e30.c2ln", "header"),
        ("e30.!!.c2ln", "claims"),
        ("e30.e30.!!", "signature"),
        ("e30.e30.", "signature"),
        ("e30.bm90IGpzb24.c2ln", "claims"),
        ("bm90IGpzb24.e30.c2ln", "header"),
        ("W10.e30.c2ln", "header"),
    ];
    for (key, part) in cases {
        let out = bare(&["license", "inspect", key]);
        assert_code(&out, 1, key);
        assert!(stderr(&out).contains(part), "{key}: {}", describe(&out));
        assert!(stdout(&out).is_empty(), "{key}: {}", describe(&out));
    }
    let out = bare(&["license", "inspect", ""]);
    assert_code(&out, 1, "an empty key");
    let out = bare(&["license", "inspect"]);
    assert_code(&out, 1, "nothing on stdin");
}

#[test]
fn truncated_and_mangled_license_keys_never_panic() {
    let compact: String = SEED_003_SLK.split_whitespace().collect();
    let mut variants: Vec<String> = (1..compact.len())
        .step_by(13)
        .map(|n| compact[..n].to_owned())
        .collect();
    variants.push(compact.replace('.', ".."));
    variants.push(compact.replace('-', "+"));
    variants.push(format!("Bearer {compact}"));
    variants.push("\u{feff}".to_owned() + &compact);
    variants.push("é.ü.ß".to_owned());
    for key in &variants {
        let out = bare(&["license", "inspect", key]);
        let code = out.status.code();
        assert!(
            code == Some(0) || code == Some(1),
            "{key:?}: {}",
            describe(&out)
        );
        assert!(
            !stderr(&out).contains("panicked"),
            "{key:?}: {}",
            describe(&out)
        );
    }
    // Bytes that are not UTF-8 on stdin.
    let dir = tempfile::tempdir().expect("temp");
    let out = bare_qvca()
        .args(["license", "inspect"])
        .current_dir(dir.path())
        .write_stdin(vec![0xff, 0xfe, b'.', 0x80, b'.', 0x00])
        .output()
        .expect("run");
    assert_code(&out, 1, "binary stdin");
}

// ---------------------------------------------------------------------------- completions and man

#[test]
fn completions_exist_for_bash_zsh_fish_and_powershell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let script = bare_ok(&["completions", shell]);
        assert!(script.len() > 1000, "{shell}: {script}");
        assert!(script.contains("qvca"), "{shell}");
        for command in ["renew", "revoke", "crl", "doctor", "ports", "license"] {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
    }
    assert_code(&bare(&["completions", "tcsh"]), 2, "an unknown shell");
}

#[test]
fn the_bash_completion_parses_and_completes_subcommands() {
    let dir = tempfile::tempdir().expect("temp");
    let file = dir.path().join("qvca.bash");
    std::fs::write(&file, bare_ok(&["completions", "bash"])).expect("write");
    let (ok, text) = tool("bash", &["-n", path_str(&file)]);
    assert!(ok, "bash -n: {text}");

    let probe = format!(
        "source '{}'; COMP_WORDS=(qvca re); COMP_CWORD=1; COMP_LINE='qvca re'; COMP_POINT=7; \
         _qvca qvca re qvca; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let (ok, text) = tool("bash", &["-c", &probe]);
    assert!(ok, "{text}");
    let offered: BTreeSet<&str> = text.lines().map(str::trim).collect();
    for expected in ["renew", "revoke", "restore"] {
        assert!(offered.contains(expected), "{expected} not offered: {text}");
    }
    assert!(!offered.contains("doctor"), "{text}");
}

#[test]
fn man_prints_a_roff_page_about_qvca() {
    let page = bare_ok(&["man"]);
    assert!(
        page.starts_with(".TH") || page.starts_with(".ie"),
        "{}",
        &page[..page.len().min(200)]
    );
    assert!(page.contains(".TH qvca"), "the title is qvca");
    assert!(page.contains(".SH NAME"));
    assert!(page.contains("renew") && page.contains("revoke"));
}

#[test]
fn man_has_a_page_per_command_and_writes_them_all() {
    let page = bare_ok(&["man", "issue", "server"]);
    assert!(page.contains(".TH qvca-issue-server"), "{page}");
    assert!(page.contains("\\-\\-from\\-file"), "its own options");
    let dir = tempfile::tempdir().expect("temp");
    let pages = dir.path().join("man1");
    bare_qvca()
        .args(["man", "--out-dir"])
        .arg(&pages)
        .assert()
        .success();
    for name in [
        "qvca.1",
        "qvca-issue-server.1",
        "qvca-backup-verify.1",
        "qvca-sign.1",
    ] {
        assert!(pages.join(name).is_file(), "{name} missing");
    }
    let out = bare_qvca().args(["man", "nonsense"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn crl_json_times_are_whole_seconds_like_every_other_report() {
    let ca = p256_ca(&["QVS01"]);
    let report = ca.json(&["crl"]);
    for field in ["this_update", "next_update"] {
        let text = report[field].as_str().expect("time");
        assert!(
            !text.contains('.'),
            "{field} has fractional seconds: {text}"
        );
    }
}

#[test]
fn doctor_in_prometheus_format_parses_with_prometheus_client_and_keeps_the_exit_code() {
    let ca = p256_ca(&["QVS01"]);
    let backups = ca.path().join("backups");
    let out = run(&ca, &["backup", "--dir", path_str(&backups)]);
    assert_code(&out, 0, "backup");
    let out = run(
        &ca,
        &[
            "doctor",
            "--format",
            "prometheus",
            "--backup-dir",
            path_str(&backups),
        ],
    );
    let text = stdout(&out);
    // A real parser judges the exposition format.
    let script = "import sys\nfrom prometheus_client.parser import text_string_to_metric_families\n\
                  for family in text_string_to_metric_families(sys.stdin.read()):\n    \
                  for sample in family.samples:\n        \
                  print(sample.name, sorted(sample.labels.items()), sample.value)\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with prometheus_client (.ci/run installs it)");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), text.as_bytes())
        .expect("write");
    let parsed = child.wait_with_output().expect("parser");
    let samples = String::from_utf8_lossy(&parsed.stdout);
    assert!(
        parsed.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    assert!(samples.contains("qvca_doctor_ok"), "{samples}");
    assert!(
        samples.contains("qvca_certificate_expiry_seconds [('kind', 'server'), ('name', 'QVS01')"),
        "{samples}"
    );
    assert!(
        samples.contains("qvca_last_backup_age_seconds"),
        "{samples}"
    );
    assert!(
        samples.contains("qvca_check_status [('check', 'permissions')]"),
        "{samples}"
    );
    let code = out.status.code();
    // The CA has no CRL yet, which doctor may flag; the exit code is doctor's either way.
    let expected = if samples.contains("qvca_doctor_ok [] 1.0") {
        0
    } else {
        5
    };
    assert_eq!(code, Some(expected), "{}", describe(&out));
}
