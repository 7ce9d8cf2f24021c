//! `doctor` and `status` on a CA whose root key lives in a SoftHSM2 token, through the real
//! binary: a named check for each step of reaching the key (`hsm-module`, `hsm-token`,
//! `hsm-login`, `hsm-root-key`, `hsm-key-attributes`), each with advice; the root's key file
//! that a token CA does not have is not reported missing; the login checks are skipped without
//! a PIN source (like `keys-match` without the CA password); a token that cannot be used prints
//! the report and then fails with the SPEC's exit code (1 unreachable, 4 wrong PIN), within the
//! time limit, never echoing the PIN.

use super::cli::{HsmCa, ROOT_URI, assert_no_pin};
use super::{MODULE, hanging_config};
use crate::support::{describe, path_str, stderr};
use serde_json::Value;
use std::process::Output;
use std::time::{Duration, Instant};

/// The five token checks, in the order doctor reports them.
const TOKEN_CHECKS: [&str; 5] = [
    "hsm-module",
    "hsm-token",
    "hsm-login",
    "hsm-root-key",
    "hsm-key-attributes",
];

/// An HSM CA with a Server and a Client certificate and a current license-service export:
/// everything doctor checks is in order.
fn healthy(key_type: &str) -> HsmCa {
    let hca = HsmCa::init(key_type);
    hca.ok(&["issue", "server", "QVS01", "--key-type", "p256"]);
    hca.ok(&["issue", "client", "--key-type", "p256"]);
    let export = hca.ca.path().join("export");
    hca.ok(&[
        "export",
        "license-service",
        "--machine",
        "QVS01",
        "--out",
        path_str(&export),
    ]);
    hca
}

/// The `--json` report of a doctor run (stdout holds exactly one JSON document).
fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed one JSON document ({e}): {}",
            describe(out)
        )
    })
}

/// The check `name` of a report.
fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

fn status_of(report: &Value, name: &str) -> String {
    check(report, name)["status"]
        .as_str()
        .expect("status")
        .to_owned()
}

/// Runs qvca with `args` after `--json doctor`-style options, for a doctor report.
fn doctor_json(cmd: &mut assert_cmd::Command) -> Output {
    cmd.args(["--json", "doctor"]).output().expect("run doctor")
}

#[test]
fn doctor_on_a_healthy_hsm_ca_checks_every_step_to_the_key_and_finds_nothing() {
    for key_type in ["p256", "rsa2048"] {
        let hca = healthy(key_type);
        let out = doctor_json(&mut hca.qvca());
        assert_eq!(out.status.code(), Some(0), "doctor: {}", describe(&out));
        assert_no_pin(&out, "doctor");
        let report = report(&out);
        assert_eq!(report["ok"], true, "{report:#}");
        for name in TOKEN_CHECKS {
            assert_eq!(status_of(&report, name), "ok", "{name}: {report:#}");
        }
        // A token CA has no root key file: that is not a missing file.
        assert_eq!(status_of(&report, "index-files"), "ok", "{report:#}");
        let keys = check(&report, "keys-match");
        assert_eq!(keys["status"], "ok", "{report:#}");
        assert!(
            keys["message"]
                .as_str()
                .expect("message")
                .contains("the root's key is in the PKCS#11 token"),
            "{keys}"
        );
        assert!(
            check(&report, "hsm-module")["message"]
                .as_str()
                .expect("message")
                .contains(MODULE)
        );
        assert!(
            check(&report, "hsm-token")["message"]
                .as_str()
                .expect("message")
                .contains("\"qvca\""),
        );
        // The checks come in dependency order, before keys-match.
        let names: Vec<&str> = report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .map(|c| c["name"].as_str().expect("name"))
            .collect();
        let at = names
            .iter()
            .position(|n| *n == "hsm-module")
            .expect("hsm-module");
        assert_eq!(
            &names[at..at + 6],
            &[TOKEN_CHECKS.as_slice(), &["keys-match"]].concat()
        );

        // The text form says the same, one line per check.
        let text = hca.ok(&["doctor"]);
        for name in TOKEN_CHECKS {
            assert!(
                text.lines()
                    .any(|l| l.starts_with("ok ") && l.contains(&format!(" {name} "))),
                "{name}: {text}"
            );
        }
    }
}

#[test]
fn without_a_pin_the_login_checks_are_skipped_with_the_reason_not_failed() {
    let hca = healthy("p256");
    // The module is given, no PIN source, no terminal.
    let out = hca
        .qvca_without_token_options()
        .args(["--pkcs11-module", MODULE, "doctor"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ok       hsm-module") && text.contains("ok       hsm-token"),
        "{text}"
    );
    for name in [
        "hsm-login",
        "hsm-root-key",
        "hsm-key-attributes",
        "keys-match",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("skipped  {name} "))),
            "{name}: {text}"
        );
    }
    assert!(
        text.contains("--pin-file") && text.contains("QVCA_PKCS11_PIN"),
        "{text}"
    );

    // For monitoring: the skipped checks are -1, the exit code is unchanged.
    let out = hca
        .qvca_without_token_options()
        .args([
            "--pkcs11-module",
            MODULE,
            "doctor",
            "--format",
            "prometheus",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let metrics = String::from_utf8_lossy(&out.stdout);
    assert!(
        metrics.contains("qvca_check_status{check=\"hsm-token\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("qvca_check_status{check=\"hsm-login\"} -1"),
        "{metrics}"
    );
    assert!(metrics.contains("qvca_doctor_ok 1"), "{metrics}");
}

#[test]
fn a_wrong_pin_prints_the_report_and_exits_4_without_echoing_the_pin() {
    let hca = healthy("p256");
    let wrong = hca.hsm.dir().join("wrong-pin.txt");
    let wrong_pin = "Wrong-PIN-20202";
    std::fs::write(&wrong, format!("{wrong_pin}\n")).expect("pin file");
    let out = hca
        .qvca_without_token_options()
        .args(["--pkcs11-module", MODULE, "--pin-file"])
        .arg(&wrong)
        .args(["--json", "doctor"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert_no_pin(&out, "doctor with a wrong PIN");
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!all.contains(wrong_pin), "{all}");
    let report = report(&out);
    assert_eq!(report["ok"], false);
    assert_eq!(status_of(&report, "hsm-token"), "ok");
    assert_eq!(status_of(&report, "hsm-login"), "problem", "{report:#}");
    assert_eq!(status_of(&report, "hsm-root-key"), "skipped");
    assert_eq!(status_of(&report, "keys-match"), "skipped");
    let text = stderr(&out);
    assert!(text.contains("qvca: error:"), "{text}");
    assert!(text.contains("refused the PIN"), "{text}");
}

#[test]
fn a_missing_token_prints_the_report_and_exits_1_naming_the_module_token_and_key() {
    let hca = healthy("p256");
    let out = std::process::Command::new("softhsm2-util")
        .args(["--delete-token", "--token", "qvca"])
        .env("SOFTHSM2_CONF", hca.hsm.conf())
        .output()
        .expect("softhsm2-util");
    assert!(out.status.success(), "{}", describe(&out));
    let out = hca.run(&["doctor"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_no_pin(&out, "doctor with the token gone");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ok       hsm-module"), "{text}");
    assert!(text.contains("PROBLEM  hsm-token"), "{text}");
    assert!(
        text.contains("-> check that the token is present and reachable"),
        "{text}"
    );
    assert!(text.contains("skipped  hsm-login"), "{text}");
    let error = stderr(&out);
    assert!(error.contains("qvca: error:"), "{error}");
    assert!(error.contains("\"qvca\""), "{error}");
    assert!(error.contains("qvca-root"), "{error}");
    assert!(error.contains(MODULE), "{error}");
}

#[test]
fn an_unreachable_module_is_reported_within_the_time_limit_with_exit_1_not_a_hang() {
    let hca = healthy("p256");
    let conf = hanging_config(hca.hsm.dir());
    let started = Instant::now();
    let out = hca
        .qvca()
        .env("SOFTHSM2_CONF", &conf)
        .env("QVCA_TEST_PKCS11_TIMEOUT_SECS", "2")
        .timeout(Duration::from_secs(120))
        .args(["doctor", "--format", "prometheus"])
        .output()
        .expect("run");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    // The metrics are still written for the textfile collector: the module check is a problem.
    let metrics = String::from_utf8_lossy(&out.stdout);
    assert!(
        metrics.contains("qvca_check_status{check=\"hsm-module\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("qvca_check_status{check=\"hsm-token\"} -1"),
        "{metrics}"
    );
    assert!(metrics.contains("qvca_doctor_ok 0"), "{metrics}");
    let error = stderr(&out);
    assert!(error.contains("did not finish within 2 s"), "{error}");
    assert!(
        error.contains("\"qvca\"") && error.contains("qvca-root"),
        "{error}"
    );
    assert!(error.contains(MODULE), "{error}");
}

#[test]
fn a_missing_module_is_exit_1_and_no_module_at_all_exit_2_each_with_the_report() {
    let hca = healthy("p256");
    let out = hca
        .qvca_without_token_options()
        .args(["--pkcs11-module", "/nonexistent/libpkcs11.so", "--pin-file"])
        .arg(hca.hsm.pin_file())
        .arg("doctor")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("PROBLEM  hsm-module"), "{text}");
    assert!(text.contains("/nonexistent/libpkcs11.so"), "{text}");
    assert!(stderr(&out).contains("/nonexistent/libpkcs11.so"));

    let out = hca
        .qvca_without_token_options()
        .arg("--pin-file")
        .arg(hca.hsm.pin_file())
        .arg("doctor")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("PROBLEM  hsm-module"), "{text}");
    assert!(stderr(&out).contains("--pkcs11-module"));
}

#[test]
fn a_key_that_is_not_the_roots_is_a_problem_exit_5() {
    let hca = healthy("p256");
    hca.hsm.pkcs11_tool_ok(
        "qvca",
        &[
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--label",
            "other",
            "--id",
            "0c0d",
            "--usage-sign",
            "--sensitive",
            "--private",
        ],
    );
    let path = hca.ca.dir().join("index.json");
    let mut index = hca.ca.index();
    let recorded = &mut index["settings"]["root_key"];
    recorded["uri"] = "pkcs11:token=qvca;object=other".into();
    recorded["key_label"] = "other".into();
    recorded["key_id"] = "0c0d".into();
    std::fs::write(&path, serde_json::to_vec_pretty(&index).expect("json")).expect("write");
    let out = doctor_json(&mut hca.qvca());
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    let report = report(&out);
    let key = check(&report, "hsm-root-key");
    assert_eq!(key["status"], "problem", "{report:#}");
    assert!(
        key["message"]
            .as_str()
            .expect("message")
            .contains("is not the key of the root certificate"),
        "{key}"
    );
    assert!(key["advice"].as_str().expect("advice").contains("backup"));
    assert_eq!(status_of(&report, "keys-match"), "skipped", "{report:#}");
}

#[test]
fn a_missing_root_certificate_file_is_reported_not_a_crash_of_doctor() {
    let hca = healthy("p256");
    let index = hca.ca.index();
    let serial = index["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .find(|c| c["kind"] == "root")
        .and_then(|c| c["serial"].as_str())
        .expect("root serial")
        .to_owned();
    std::fs::remove_file(hca.ca.dir().join("certs").join(format!("{serial}.pem")))
        .expect("remove the root certificate");
    let out = doctor_json(&mut hca.qvca());
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    let report = report(&out);
    assert_eq!(status_of(&report, "index-files"), "problem", "{report:#}");
    assert_eq!(status_of(&report, "hsm-login"), "ok", "{report:#}");
    let key = check(&report, "hsm-root-key");
    assert_eq!(key["status"], "problem", "{report:#}");
    assert!(
        key["message"]
            .as_str()
            .expect("message")
            .contains("root certificate cannot be read"),
        "{key}"
    );
}

#[test]
fn a_root_key_that_can_leave_the_token_or_derive_is_named_with_advice() {
    let hca = HsmCa::new();
    // A key made carelessly with the token's tool: extractable, may derive (and, as
    // pkcs11-tool makes it, decrypt and unwrap).
    hca.hsm.pkcs11_tool_ok(
        "qvca",
        &[
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--label",
            "qvca-root",
            "--id",
            "0a0b",
            "--usage-sign",
            "--usage-derive",
            "--extractable",
            "--private",
        ],
    );
    hca.ok(&["init", "--key", ROOT_URI]);
    hca.ok(&["issue", "server", "QVS01", "--key-type", "p256"]);
    let out = doctor_json(&mut hca.qvca());
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    let report = report(&out);
    let attributes = check(&report, "hsm-key-attributes");
    assert_eq!(attributes["status"], "problem", "{report:#}");
    let message = attributes["message"].as_str().expect("message");
    assert!(message.contains("CKA_EXTRACTABLE is true"), "{message}");
    assert!(message.contains("CKA_DERIVE is true"), "{message}");
    let advice = attributes["advice"].as_str().expect("advice");
    assert!(advice.contains("CKA_EXTRACTABLE=false"), "{advice}");
    // The key itself is the root's: it signs, and the leaf keys are checked.
    assert_eq!(status_of(&report, "hsm-root-key"), "ok");
    assert_eq!(status_of(&report, "keys-match"), "ok");
}

#[test]
fn status_says_where_the_root_key_lives_without_touching_the_token() {
    let hca = healthy("p256");
    // No module, no PIN: status never reaches the token.
    let out = hca
        .qvca_without_token_options()
        .args(["--json", "status"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", describe(&out));
    let status: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(status["state"], 2, "{status:#}");
    let key = &status["root_key"];
    assert_eq!(key["uri"], ROOT_URI, "{status:#}");
    assert_eq!(key["token_label"], "qvca");
    assert_eq!(key["key_label"], "qvca-root");
    assert!(key["token_serial"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(key["key_id"].as_str().is_some_and(|s| !s.is_empty()));

    let out = hca
        .qvca_without_token_options()
        .arg("status")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2\n");
    let text = stderr(&out);
    assert!(
        text.contains("the root key lives in the PKCS#11 token \"qvca\""),
        "{text}"
    );
    assert!(text.contains("qvca-root"), "{text}");
}
