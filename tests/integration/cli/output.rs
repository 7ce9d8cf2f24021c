//! Output modes: `-q`, `--json` reports and error objects, and `--dry-run` plans.

use crate::support::{TestCa, bare_qvca, json_of, lab_ca};
use serde_json::Value;

// ------------------------------------------------------------------------------- -q and --json

#[test]
fn quiet_issue_prints_nothing_on_success() {
    let ca = lab_ca();
    ca.qvca()
        .args(["-q", "issue", "server", "QVS01", "--key-type", "p256"])
        .assert()
        .code(0)
        .stdout("")
        .stderr("");
    assert_eq!(ca.json(&["show", "QVS01"])["entry"]["name"], "QVS01");
}

#[test]
fn json_output_parses_for_every_reporting_command() {
    let ca = TestCa::new();
    let init = ca.json(&["init", "--no-password", "--key-type", "p256"]);
    assert_eq!(init["common_name"], "QlikViewCA");
    assert_eq!(init["password_protected"], false);
    assert!(init["serial"].is_string());

    let issue = ca.json(&["issue", "server", "QVS01", "--key-type", "p256"]);
    assert_eq!(issue["issued"], 1);
    let list = ca.json(&["list"]);
    assert_eq!(list["certificates"].as_array().expect("rows").len(), 2);
    let show = ca.json(&["show", "QVS01"]);
    assert_eq!(show["status"], "valid");
    let verify = ca.json(&["verify"]);
    assert_eq!(verify["ok"], true);
    let status = ca.json(&["status"]);
    assert_eq!(status["state"], 1);

    let fresh = TestCa::new();
    let setup = fresh.json(&["setup", "QVS01"]);
    assert_eq!(setup["created_root"]["common_name"], "QlikViewCA");
    assert_eq!(setup["certificates"].as_array().expect("outcomes").len(), 2);
    assert_eq!(setup["license_service_export"]["machine"], "QVS01");
}

#[test]
fn json_errors_are_an_error_object_with_the_exit_code() {
    let ca = lab_ca();
    let out = ca
        .qvca()
        .args(["--json", "show", "NOPE"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(6));
    let report = json_of(&out);
    assert_eq!(report["error"]["exit_code"], 6);
    assert!(
        report["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("NOPE"))
    );
}

#[test]
fn json_usage_errors_are_an_error_object_too() {
    let out = bare_qvca().args(["--json", "bogus"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let report = json_of(&out);
    assert_eq!(report["error"]["exit_code"], 2);
    assert!(
        report["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("bogus")),
        "{report}"
    );
    // Without --json, stdout stays empty.
    let out = bare_qvca().arg("bogus").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn dry_runs_of_issue_renew_and_revoke_report_and_change_nothing_without_a_password() {
    let ca = crate::support::p256_ca(&["QVS01"]);
    let before = ca.snapshot();
    let plan = |args: &[&str]| -> Vec<(String, String)> {
        let out = ca
            .qvca_without_password()
            .arg("--json")
            .args(args)
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(report["dry_run"], true);
        report["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .map(|a| {
                (
                    a["action"].as_str().expect("action").to_owned(),
                    a["name"].as_str().expect("name").to_owned(),
                )
            })
            .collect()
    };
    let pair = |a: &str, n: &str| (a.to_owned(), n.to_owned());
    assert_eq!(
        plan(&["issue", "server", "QVS01", "QVS02", "--dry-run"]),
        [pair("keep", "QVS01"), pair("issue", "QVS02")]
    );
    assert_eq!(
        plan(&["issue", "server", "QVS01", "--force", "--dry-run"]),
        [pair("replace", "QVS01")]
    );
    assert_eq!(
        plan(&["renew", "QVS01", "--dry-run"]),
        [pair("renew", "QVS01")]
    );
    assert_eq!(
        plan(&["revoke", "QVS01", "--dry-run"]),
        [pair("revoke", "QVS01")]
    );
    assert_eq!(ca.snapshot(), before, "a dry run changed the CA");
}
