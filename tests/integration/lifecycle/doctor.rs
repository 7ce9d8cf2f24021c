//! doctor's checks and the faults they catch (text, JSON and Prometheus output) and status.

use super::{check_status, doctor, doctor_checks, healthy_ca, key_file, run_code};
use crate::support::{
    TestCa, active_serial, assert_code, cert_file, describe, json_of, p256_ca, path_str, run,
    stderr, stdout,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

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
