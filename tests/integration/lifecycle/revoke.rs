//! Revoking certificates: every RFC 5280 reason, what is refused, and what a revoked
//! certificate can no longer be used for (export, package, verify), judged by openssl.

use super::{crl_serials, crl_text, run_code};
use crate::support::{
    TestCa, active_serial, cert_file, describe, entry_by_serial, json_of, p256_ca, path_str,
    pfx_password_file, run, stderr, stdout,
};
use std::collections::BTreeSet;

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
