//! Damaged, foreign and missing backup files: wrong passwords, flipped bytes, truncation, PFX
//! files from openssl and keytool, another CA's backup; none of them changes anything.

use super::{
    assert_rejected_without_change, backup_into_dir, certificate_fingerprints, qvca_at,
    relative_snapshot, write_damaged,
};
use crate::support::{
    PFX_PASSWORD, TestCa, assert_code, describe, openssl_ok, p256_ca, path_str, pfx_password_file,
    replaced_dirs, run, scratch_names, stderr, tool,
};
use serde_json::Value;
use std::path::PathBuf;

/// A PKCS#12 file that openssl made from an exported Server certificate, its key and the
/// root certificate (no key for the root, no qvca state).
pub(crate) fn openssl_pfx_without_state(ca: &TestCa) -> PathBuf {
    let export = ca.path().join("exported");
    ca.qvca()
        .args(["export", "license-service", "--machine", "QVS01", "--out"])
        .arg(&export)
        .assert()
        .success();
    let pfx = ca.path().join("openssl-made.pfx");
    let pass = format!("pass:{PFX_PASSWORD}");
    openssl_ok(&[
        "pkcs12",
        "-export",
        "-in",
        path_str(&export.join("server.pem")),
        "-inkey",
        path_str(&export.join("server_key.pem")),
        "-certfile",
        path_str(&export.join("root.pem")),
        "-name",
        "QVS01",
        "-passout",
        &pass,
        "-out",
        path_str(&pfx),
    ]);
    pfx
}

// ---------------------------------------------------------------------------------------------
// Damaged, foreign and missing files change nothing

#[test]
fn a_wrong_backup_password_is_exit_4_for_verify_and_restore_and_changes_nothing() {
    let ca = p256_ca(&["QVS01"]);
    let file = backup_into_dir(&ca, &[]);
    let before = ca.snapshot();
    let names = scratch_names(&ca);
    for args in [
        vec!["backup", "verify", path_str(&file)],
        vec!["restore", path_str(&file)],
        vec!["-y", "restore", path_str(&file)],
        vec!["-y", "restore", "--force", path_str(&file)],
    ] {
        let out = ca
            .qvca()
            .env("QVCA_PFX_PASSWORD", "not the backup password")
            .args(&args)
            .output()
            .expect("run");
        assert_code(&out, 4, &format!("{args:?} with a wrong password"));
        assert!(
            stderr(&out).contains("wrong password"),
            "{}",
            describe(&out)
        );
        assert_eq!(ca.snapshot(), before);
        assert_eq!(scratch_names(&ca), names);
    }
}

#[test]
fn a_flipped_byte_anywhere_in_a_backup_is_exit_4_and_never_a_panic() {
    let ca = p256_ca(&["QVS01"]);
    for legacy in [false, true] {
        let file = backup_into_dir(&ca, if legacy { &["--legacy"] } else { &[] });
        let good = std::fs::read(&file).expect("read");
        let len = good.len();
        for offset in [
            0,
            1,
            4,
            40,
            len / 4,
            len / 2,
            3 * len / 4,
            len - 40,
            len - 2,
            len - 1,
        ] {
            let mut bad = good.clone();
            bad[offset] ^= 0x5a;
            let damaged = write_damaged(&ca, &format!("flipped-{legacy}-{offset}.pfx"), &bad);
            assert_rejected_without_change(
                &ca,
                &damaged,
                4,
                &format!("a flipped byte at {offset} of {len} (legacy={legacy})"),
            );
        }
    }
}

#[test]
fn a_truncated_or_empty_backup_is_exit_4_and_changes_nothing() {
    let ca = p256_ca(&["QVS01"]);
    let file = backup_into_dir(&ca, &[]);
    let good = std::fs::read(&file).expect("read");
    for keep in [1, 100, good.len() / 2, good.len() - 1] {
        let damaged = write_damaged(&ca, &format!("truncated-{keep}.pfx"), &good[..keep]);
        assert_rejected_without_change(&ca, &damaged, 4, &format!("the first {keep} bytes"));
    }
    let mut longer = good.clone();
    longer.extend_from_slice(b"trailing junk");
    let damaged = write_damaged(&ca, "appended.pfx", &longer);
    assert_rejected_without_change(&ca, &damaged, 4, "a backup with bytes appended");
    let empty = write_damaged(&ca, "empty.pfx", b"");
    assert_rejected_without_change(&ca, &empty, 4, "an empty file");
    let text = write_damaged(&ca, "notes.pfx", b"not a PKCS#12 file at all\n");
    assert_rejected_without_change(&ca, &text, 4, "a text file");
}

#[test]
fn a_missing_backup_file_is_exit_6_and_changes_nothing() {
    let ca = p256_ca(&["QVS01"]);
    let missing = ca.path().join("no-such-backup.pfx");
    assert_rejected_without_change(&ca, &missing, 6, "a nonexistent file");
}

#[test]
fn backup_verify_of_a_pfx_made_by_openssl_says_the_qvca_state_is_missing() {
    let ca = p256_ca(&["QVS01"]);
    let pfx = openssl_pfx_without_state(&ca);
    let out = run(&ca, &["backup", "verify", path_str(&pfx)]);
    assert_code(&out, 5, "backup verify of an openssl PFX");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("qvca's CA state"), "{}", describe(&out));
    let out = run(&ca, &["--json", "backup", "verify", path_str(&pfx)]);
    assert_code(&out, 5, "backup verify --json");
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["ok"], false);
    assert_eq!(report["has_ca_state"], false);
    assert!(
        report["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["name"] == "QVS01" && e["kind"] == "server" && e["has_key"] == true),
        "{report}"
    );
}

#[test]
fn restoring_a_pfx_made_by_openssl_explains_what_is_missing_and_refuses_a_root_without_its_key() {
    let ca = p256_ca(&["QVS01"]);
    let pfx = openssl_pfx_without_state(&ca);
    let target = ca.path().join("from-openssl");
    let restore = |extra: &[&str]| {
        qvca_at(&ca, &target)
            .arg("--password-file")
            .arg(ca.password_file())
            .arg("--pfx-password-file")
            .arg(pfx_password_file(&ca))
            .arg("restore")
            .args(extra)
            .arg(&pfx)
            .output()
            .expect("run")
    };
    let out = restore(&[]);
    assert_code(&out, 1, "restore of an openssl PFX without --force");
    // Said once, and --force (which cannot help) is not suggested.
    let err = stderr(&out);
    assert!(
        err.contains("cannot be restored as a new CA"),
        "{}",
        describe(&out)
    );
    assert!(!err.contains("--force"), "{}", describe(&out));
    assert_eq!(err.matches("private key").count(), 1, "{}", describe(&out));
    assert!(!target.exists());
    // The PFX holds the root certificate but not the root's key: no CA can work without it.
    let out = restore(&["--force"]);
    assert_code(
        &out,
        1,
        "restore --force of an openssl PFX without the root key",
    );
    assert!(
        stderr(&out).contains("private key of Root"),
        "{}",
        describe(&out)
    );
    assert!(!target.exists());
}

#[test]
fn a_pfx_from_openssl_and_keytool_with_every_key_restores_only_with_force_as_a_working_ca() {
    // The reachable form of a state-less restore: every certificate comes with its key.
    let ca = p256_ca(&["QVS01"]);
    let export = ca.path().join("exported");
    ca.qvca()
        .args(["export", "license-service", "--machine", "QVS01", "--out"])
        .arg(&export)
        .assert()
        .success();
    let root_serial = ca.index()["certificates"][0]["serial"]
        .as_str()
        .expect("serial")
        .to_owned();
    let root_key = ca.path().join("root-key.pem");
    let passin = format!("file:{}", ca.password_file().display());
    openssl_ok(&[
        "pkey",
        "-in",
        path_str(&ca.dir().join("keys").join(format!("{root_serial}.pem"))),
        "-passin",
        &passin,
        "-out",
        path_str(&root_key),
    ]);
    let pass = format!("pass:{PFX_PASSWORD}");
    let root_pfx = ca.path().join("root.pfx");
    openssl_ok(&[
        "pkcs12",
        "-export",
        "-in",
        path_str(&export.join("root.pem")),
        "-inkey",
        path_str(&root_key),
        "-name",
        "QlikViewCA",
        "-passout",
        &pass,
        "-out",
        path_str(&root_pfx),
    ]);
    let server_pfx = ca.path().join("server.pfx");
    openssl_ok(&[
        "pkcs12",
        "-export",
        "-in",
        path_str(&export.join("server.pem")),
        "-inkey",
        path_str(&export.join("server_key.pem")),
        "-name",
        "QVS01",
        "-passout",
        &pass,
        "-out",
        path_str(&server_pfx),
    ]);
    let both = ca.path().join("both.p12");
    for source in [&root_pfx, &server_pfx] {
        let (ok, out) = tool(
            "keytool",
            &[
                "-importkeystore",
                "-noprompt",
                "-srckeystore",
                path_str(source),
                "-srcstoretype",
                "PKCS12",
                "-srcstorepass",
                PFX_PASSWORD,
                "-destkeystore",
                path_str(&both),
                "-deststoretype",
                "PKCS12",
                "-deststorepass",
                PFX_PASSWORD,
            ],
        );
        assert!(ok, "keytool -importkeystore: {out}");
    }
    let target = ca.path().join("from-keytool");
    let restore = |extra: &[&str]| {
        qvca_at(&ca, &target)
            .arg("--password-file")
            .arg(ca.password_file())
            .arg("--pfx-password-file")
            .arg(pfx_password_file(&ca))
            .arg("restore")
            .args(extra)
            .arg(&both)
            .output()
            .expect("run")
    };
    let out = restore(&[]);
    assert_code(&out, 1, "restore without --force");
    assert!(
        stderr(&out).contains("qvca's CA state"),
        "{}",
        describe(&out)
    );
    assert!(stderr(&out).contains("--force"), "{}", describe(&out));
    assert!(!target.exists(), "nothing was created");
    let out = restore(&["--force"]);
    assert_code(&out, 0, "restore --force");
    let in_target = |args: &[&str]| {
        qvca_at(&ca, &target)
            .arg("--password-file")
            .arg(ca.password_file())
            .args(args)
            .output()
            .expect("run")
    };
    let list = in_target(&["--json", "list"]);
    assert_code(&list, 0, "list");
    let listed: Value = serde_json::from_slice(&list.stdout).expect("json");
    let text = listed.to_string();
    assert!(
        text.contains("\"QVS01\"") && text.contains("\"QlikViewCA\""),
        "{text}"
    );
    assert_code(
        &in_target(&["issue", "server", "QVS02", "--key-type", "p256"]),
        0,
        "issue in a CA restored from certificates",
    );
    assert_code(&in_target(&["verify"]), 0, "verify");
}

#[test]
fn a_backup_of_a_different_ca_is_refused_and_with_force_replaces_it_keeping_the_old_one_aside() {
    let ca = p256_ca(&["QVS01"]);
    let other = p256_ca(&["OTHER01"]);
    let other_backup = backup_into_dir(&other, &[]);
    let before = relative_snapshot(&ca.dir());
    let names = scratch_names(&ca);
    for args in [
        vec!["restore", path_str(&other_backup)],
        vec!["-y", "restore", path_str(&other_backup)],
        vec!["restore", "--dry-run", path_str(&other_backup)],
    ] {
        let out = run(&ca, &args);
        assert_code(&out, 3, &format!("{args:?} over a different root"));
        assert!(
            stderr(&out).contains("different root"),
            "{}",
            describe(&out)
        );
        assert!(stderr(&out).contains("--force"), "{}", describe(&out));
        assert_eq!(
            relative_snapshot(&ca.dir()),
            before,
            "{args:?} changed the CA"
        );
        assert_eq!(scratch_names(&ca), names, "{args:?}");
    }

    let out = run(
        &ca,
        &[
            "-y",
            "--json",
            "restore",
            "--force",
            path_str(&other_backup),
        ],
    );
    assert_code(&out, 0, "restore --force over a different root");
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["situation"], "different-root");
    let replaced = replaced_dirs(&ca);
    assert_eq!(replaced.len(), 1, "{replaced:?}");
    assert_eq!(
        report["replaced_ca_moved_to"].as_str().map(PathBuf::from),
        Some(replaced[0].clone()),
        "{report}"
    );
    // The old CA is intact in the replaced dir: its index and every file.
    assert_eq!(relative_snapshot(&replaced[0]), before);
    // The CA dir now holds the other CA.
    let restored = ca.index();
    assert_eq!(restored["certificates"], other.index()["certificates"]);
    assert_eq!(
        certificate_fingerprints(&ca.dir()),
        certificate_fingerprints(&other.dir())
    );
}
