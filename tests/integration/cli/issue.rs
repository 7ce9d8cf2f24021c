//! `issue`: server and client certificates, bulk issue, what is kept and what `--force`
//! supersedes, judged by openssl.

use super::{certificate_file, issue_server};
use crate::support::{TestCa, bare_qvca, json_of, lab_ca, listed, openssl_ok, path_str, x509_text};
use predicates::prelude::*;

// --------------------------------------------------------------------------------------- issue

#[test]
fn issuing_a_server_certificate_again_keeps_the_first_one() {
    let ca = lab_ca();
    let first = issue_server(&ca, "QVS01");

    ca.qvca()
        .args(["issue", "server", "QVS01", "--key-type", "p256"])
        .assert()
        .code(3)
        .stdout(predicate::str::contains("kept").and(predicate::str::contains("qvca renew QVS01")));

    let out = ca
        .qvca()
        .args(["--json", "issue", "server", "QVS01", "--key-type", "p256"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    let report = json_of(&out);
    assert_eq!(report["results"][0]["outcome"], "kept");
    assert_eq!(report["results"][0]["serial"], first.as_str());
    assert_eq!(report["kept"], 1);
    assert_eq!(report["issued"], 0);
    let servers = listed(&ca, true)
        .into_iter()
        .filter(|r| r["kind"] == "server")
        .count();
    assert_eq!(servers, 1, "nothing new was issued");
}

#[test]
fn issuing_with_force_supersedes_the_old_certificate() {
    let ca = lab_ca();
    let old = issue_server(&ca, "QVS01");

    let report = ca.json(&["issue", "server", "QVS01", "--key-type", "p256", "--force"]);
    let result = &report["results"][0];
    assert_eq!(result["outcome"], "issued");
    let new = result["serial"].as_str().expect("serial");
    assert_ne!(new, old);
    assert_eq!(result["supersedes"], old.as_str());

    let all = listed(&ca, true);
    let old_row = all
        .iter()
        .find(|r| r["serial"] == old.as_str())
        .expect("the old certificate is still listed with --all");
    assert_eq!(old_row["status"], "superseded");
    let current = listed(&ca, false);
    assert!(
        current.iter().all(|r| r["serial"] != old.as_str()),
        "{current:?}"
    );
    assert!(current.iter().any(|r| r["serial"] == new));
    assert_eq!(ca.json(&["show", "QVS01"])["entry"]["serial"], new);
}

#[test]
fn the_client_certificate_is_qvproxy_for_client_authentication_only() {
    let ca = lab_ca();
    ca.qvca()
        .args(["issue", "client", "--key-type", "p256"])
        .assert()
        .success();

    let text = x509_text(&certificate_file(&ca, "QVProxy"));
    assert!(text.contains("Subject: CN = QVProxy"), "{text}");
    assert!(text.contains("Issuer: CN = QlikViewCA"), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(!text.contains("TLS Web Server Authentication"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    let rows = listed(&ca, false);
    let client = rows
        .iter()
        .find(|r| r["kind"] == "client")
        .expect("client row");
    assert_eq!(client["issued_to"], "QVProxy");
    assert_eq!(client["description"], "Client");
}

#[test]
fn a_client_certificate_can_be_issued_under_another_name() {
    let ca = lab_ca();
    ca.qvca()
        .args(["issue", "client", "OtherProxy", "--key-type", "p256"])
        .assert()
        .success();

    let text = x509_text(&certificate_file(&ca, "OtherProxy"));
    assert!(text.contains("Subject: CN = OtherProxy"), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
}

#[test]
fn a_server_certificate_names_the_machine_and_serves_both_directions() {
    let ca = lab_ca();
    issue_server(&ca, "QVS01");

    let text = x509_text(&certificate_file(&ca, "QVS01"));
    assert!(text.contains("Subject: CN = QVS01"), "{text}");
    assert!(text.contains("DNS:QVS01"), "{text}");
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    let root = ca.root_pem();
    let verified = openssl_ok(&[
        "verify",
        "-CAfile",
        path_str(&root),
        path_str(&certificate_file(&ca, "QVS01")),
    ]);
    assert!(verified.contains("OK"), "{verified}");
}

#[test]
fn bulk_issue_from_a_file_issues_every_machine() {
    let ca = lab_ca();
    let hosts = ca.path().join("hosts.txt");
    std::fs::write(&hosts, "QVS01\nQVS02\nQVS03\nQVS04\nQVS05\n").expect("hosts");

    let report = ca.json(&[
        "issue",
        "server",
        "--from-file",
        path_str(&hosts),
        "--key-type",
        "p256",
    ]);
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.len(), 5, "{report}");
    assert!(results.iter().all(|r| r["outcome"] == "issued"), "{report}");
    assert_eq!(report["issued"], 5);
    let servers: Vec<String> = listed(&ca, false)
        .iter()
        .filter(|r| r["kind"] == "server")
        .map(|r| r["issued_to"].as_str().expect("name").to_owned())
        .collect();
    assert_eq!(servers, ["QVS01", "QVS02", "QVS03", "QVS04", "QVS05"]);
}

#[test]
fn bulk_issue_keeps_an_existing_certificate_and_still_issues_the_others() {
    let ca = lab_ca();
    let existing = issue_server(&ca, "QVS02");
    let hosts = ca.path().join("hosts.txt");
    std::fs::write(&hosts, "QVS01\nQVS02\nQVS03\n").expect("hosts");

    let out = ca
        .qvca()
        .args(["--json", "issue", "server", "--from-file"])
        .arg(&hosts)
        .args(["--key-type", "p256"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(3),
        "one kept certificate means exit 3"
    );
    let report = json_of(&out);
    let outcome = |name: &str| {
        report["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {report}"))
            .clone()
    };
    assert_eq!(outcome("QVS01")["outcome"], "issued");
    assert_eq!(outcome("QVS02")["outcome"], "kept");
    assert_eq!(outcome("QVS02")["serial"], existing.as_str());
    assert_eq!(outcome("QVS03")["outcome"], "issued");
    assert_eq!(
        (report["issued"].clone(), report["kept"].clone()),
        (2.into(), 1.into())
    );
}

#[test]
fn issue_with_a_machine_name_instead_of_server_hints_at_issue_server() {
    let out = bare_qvca().args(["issue", "QVS01"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("qvca issue server QVS01"), "{err}");
}

#[test]
fn a_rerun_that_keeps_everything_needs_no_password_and_if_missing_makes_it_exit_0() {
    let ca = TestCa::with_setup(&["QVS01"]);
    // No password source and no terminal: "kept" is decided before anything is unlocked.
    let out = ca
        .qvca_without_password()
        .args(["issue", "server", "QVS01"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("kept"));
    for args in [
        vec!["issue", "server", "QVS01", "--if-missing"],
        vec!["issue", "client", "--if-missing"],
    ] {
        let out = ca
            .qvca_without_password()
            .args(&args)
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A missing one is issued with --if-missing (and then needs the password).
    let out = ca
        .qvca()
        .args(["issue", "server", "QVS01", "QVS02", "--if-missing"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("kept") && text.contains("issued"), "{text}");
}
