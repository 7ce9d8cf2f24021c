//! `verify`: a healthy CA passes; a certificate of another CA, another key type or the wrong
//! name fails with a plain reason.

use super::{certificate_file, issue_server};
use crate::support::{TestCa, json_of, lab_ca};
use predicates::prelude::*;

// -------------------------------------------------------------------------------------- verify

#[test]
fn verify_without_files_passes_on_a_healthy_ca() {
    let ca = TestCa::with_setup(&["QVS01"]);
    ca.qvca().arg("verify").assert().code(0);
    let report = ca.json(&["verify"]);
    assert_eq!(report["ok"], true);
    assert_eq!(report["results"].as_array().expect("results").len(), 3);
}

#[test]
fn verify_rejects_a_certificate_from_another_ca() {
    let ca = lab_ca();
    let other = lab_ca();
    issue_server(&other, "QVS01");
    let foreign = certificate_file(&other, "QVS01");

    let out = ca
        .qvca()
        .args(["--json", "verify"])
        .arg(&foreign)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(5));
    let report = json_of(&out);
    assert_eq!(report["ok"], false);
    assert!(
        !report["results"][0]["problems"]
            .as_array()
            .expect("problems")
            .is_empty()
    );
}

#[test]
fn verify_explains_plainly_a_certificate_signed_by_a_root_of_another_key_type() {
    let ca = lab_ca(); // P-256 root
    let other = TestCa::new();
    other
        .qvca()
        .args(["init", "--no-password"]) // RSA root
        .assert()
        .success();
    issue_server(&other, "QVS01");
    let foreign = certificate_file(&other, "QVS01");

    ca.qvca()
        .arg("verify")
        .arg(&foreign)
        .assert()
        .code(5)
        .stdout(
            predicate::str::contains("root")
                .and(predicate::str::contains("UnsupportedSignatureAlgorithm").not())
                .and(predicate::str::contains("[6, ").not()),
        );
}

#[test]
fn verify_with_the_wrong_name_fails() {
    let ca = lab_ca();
    issue_server(&ca, "QVS01");
    ca.qvca()
        .args(["verify", "--name", "WRONG"])
        .arg(certificate_file(&ca, "QVS01"))
        .assert()
        .code(5)
        .stdout(predicate::str::contains("WRONG"));
}

#[test]
fn verify_with_the_right_name_passes() {
    let ca = lab_ca();
    issue_server(&ca, "QVS01");
    ca.qvca()
        .args(["verify", "--name", "QVS01"])
        .arg(certificate_file(&ca, "QVS01"))
        .assert()
        .code(0);
}
