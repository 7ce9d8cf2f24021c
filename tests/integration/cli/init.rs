//! `init`: the single root, its name, key type and validity, and `--force` keeping every old CA.

use super::certificate_file;
use crate::support::{TestCa, lab_ca, listed, path_str, tool, x509_text};
use predicates::prelude::*;
use std::path::PathBuf;

// ---------------------------------------------------------------------------------------- init

#[test]
fn init_creates_a_single_qlikviewca_root() {
    let ca = TestCa::new();
    ca.qvca().arg("init").assert().success();

    assert!(ca.dir().join("index.json").is_file());
    let rows = listed(&ca, false);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["kind"], "root");
    assert_eq!(rows[0]["issued_to"], "QlikViewCA");
    assert_eq!(rows[0]["issued_by"], "QlikViewCA");
    assert_eq!(rows[0]["status"], "valid");

    let text = x509_text(&certificate_file(&ca, "QlikViewCA"));
    assert!(text.contains("Subject: CN = QlikViewCA"), "{text}");
    assert!(text.contains("Issuer: CN = QlikViewCA"), "{text}");
    assert!(text.contains("CA:TRUE"), "{text}");
    assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
    assert!(
        text.contains("Public-Key: (2048 bit)"),
        "default key: {text}"
    );
    assert!(text.contains("sha256WithRSAEncryption"), "{text}");
}

#[test]
fn init_with_cn_gives_the_root_that_name() {
    let ca = TestCa::new();
    ca.qvca()
        .args([
            "init",
            "--no-password",
            "--key-type",
            "p256",
            "--cn",
            "MyCA",
        ])
        .assert()
        .success();

    let rows = listed(&ca, false);
    assert_eq!(rows[0]["issued_to"], "MyCA");
    let text = x509_text(&certificate_file(&ca, "MyCA"));
    assert!(text.contains("Subject: CN = MyCA"), "{text}");
}

#[test]
fn init_with_key_type_p384_makes_an_ecdsa_p384_root() {
    let ca = TestCa::new();
    ca.qvca()
        .args(["init", "--no-password", "--key-type", "p384"])
        .assert()
        .success();

    let text = x509_text(&certificate_file(&ca, "QlikViewCA"));
    assert!(text.contains("id-ecPublicKey"), "{text}");
    assert!(text.contains("Public-Key: (384 bit)"), "{text}");
    assert!(text.contains("P-384"), "{text}");
    assert!(text.contains("ecdsa-with-SHA384"), "{text}");
}

#[test]
fn init_with_days_30_makes_a_root_valid_for_30_days() {
    let ca = TestCa::new();
    ca.qvca()
        .args([
            "init",
            "--no-password",
            "--key-type",
            "p256",
            "--days",
            "30",
        ])
        .assert()
        .success();

    let cert = certificate_file(&ca, "QlikViewCA");
    let day = 24 * 60 * 60;
    // -checkend N succeeds when the certificate is still valid N seconds from now.
    let (valid_in_29_days, _) = tool(
        "openssl",
        &[
            "x509",
            "-in",
            path_str(&cert),
            "-noout",
            "-checkend",
            &(29 * day).to_string(),
        ],
    );
    let (valid_in_31_days, _) = tool(
        "openssl",
        &[
            "x509",
            "-in",
            path_str(&cert),
            "-noout",
            "-checkend",
            &(31 * day).to_string(),
        ],
    );
    assert!(
        valid_in_29_days,
        "a 30-day root must still be valid in 29 days"
    );
    assert!(
        !valid_in_31_days,
        "a 30-day root must have expired in 31 days"
    );
}

#[test]
fn init_twice_is_refused_and_leaves_the_ca_untouched() {
    let ca = lab_ca();
    let before = ca.snapshot();

    ca.qvca()
        .args(["init", "--no-password", "--key-type", "p256"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("--force"));

    assert_eq!(
        ca.snapshot(),
        before,
        "a refused init must not change the CA"
    );
}

#[test]
fn init_force_replaces_the_ca_and_keeps_the_old_one_beside_it() {
    let ca = lab_ca();
    let old_index = std::fs::read(ca.dir().join("index.json")).expect("index");
    let old_root = ca.index()["certificates"][0]["serial"].clone();

    ca.qvca()
        .args([
            "-y",
            "init",
            "--no-password",
            "--key-type",
            "p256",
            "--force",
        ])
        .assert()
        .success();

    assert_ne!(
        ca.index()["certificates"][0]["serial"],
        old_root,
        "a new root"
    );
    let aside: Vec<PathBuf> = std::fs::read_dir(ca.path())
        .expect("scratch dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("ca.replaced-") && n.len() > "ca.replaced-".len())
        })
        .collect();
    assert_eq!(aside.len(), 1, "one <ca-dir>.replaced-<timestamp> sibling");
    assert!(aside[0].is_dir());
    assert_eq!(
        std::fs::read(aside[0].join("index.json")).expect("old index kept"),
        old_index
    );
}

#[test]
fn init_force_again_within_the_same_second_still_keeps_every_old_ca() {
    let ca = lab_ca();
    // Occupy the aside names of the coming seconds, as an earlier `init --force` in the
    // same second would have done.
    let now = time::OffsetDateTime::now_utc();
    for offset in -1..=10 {
        let t = now + time::Duration::seconds(offset);
        let stamp = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        let earlier = ca.path().join(format!("ca.replaced-{stamp}"));
        std::fs::create_dir(&earlier).expect("earlier aside dir");
        std::fs::write(earlier.join("index.json"), "{}").expect("earlier index");
    }
    let old_index = std::fs::read(ca.dir().join("index.json")).expect("index");

    ca.qvca()
        .args([
            "-y",
            "init",
            "--no-password",
            "--key-type",
            "p256",
            "--force",
        ])
        .assert()
        .success();

    let kept = std::fs::read_dir(ca.path())
        .expect("scratch dir")
        .flatten()
        .any(|e| std::fs::read(e.path().join("index.json")).ok() == Some(old_index.clone()));
    assert!(
        kept,
        "the replaced CA must be kept somewhere beside the new one"
    );
}
