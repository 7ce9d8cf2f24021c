//! Restores: a round trip under a new CA password with everything identical, issuing after a
//! restore, and restoring over the same CA (`--yes`, `--dry-run`, empty or slash-ended dirs).

use super::{backup_into_dir, certificate_fingerprints, qvca_at, relative_snapshot};
use crate::support::{
    TestCa, assert_code, describe, names_in, new_password_file, openssl_ok, p256_ca, path_str,
    pfx_password_file, replaced_dirs, run, run_with_password, scratch_names, stderr, tool,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The CA password the restored CA gets: different from the one it was backed up with.
const NEW_PASSWORD: &str = "a different CA password";

/// The public key (`openssl pkey -pubout`) of every `keys/*.pem`, opened with `password_file`.
fn key_public_keys(ca_dir: &Path, password_file: &Path) -> BTreeMap<String, String> {
    let passin = format!("file:{}", password_file.display());
    let mut keys = BTreeMap::new();
    for entry in std::fs::read_dir(ca_dir.join("keys")).expect("keys dir") {
        let path = entry.expect("entry").path();
        let public = openssl_ok(&[
            "pkey",
            "-in",
            path_str(&path),
            "-passin",
            &passin,
            "-pubout",
        ]);
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        keys.insert(name, public);
    }
    keys
}

/// The serials in an index.
fn serials(index: &Value) -> Vec<String> {
    index["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .map(|e| e["serial"].as_str().expect("serial").to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Round trip

#[test]
fn a_backup_restores_into_a_missing_ca_dir_under_a_new_ca_password_with_everything_identical() {
    let ca = p256_ca(&["QVS01", "QVS02", "QVS03"]);
    ca.qvca()
        .args(["issue", "server", "QVS02", "--force", "--key-type", "p256"])
        .assert()
        .success();
    // The license-service export is recorded in the index; a restore drops that record.
    ca.qvca()
        .args(["export", "license-service", "--machine", "QVS01", "--out"])
        .arg(ca.path().join("ls-export"))
        .assert()
        .success();
    let index_before = ca.index();
    let statuses: Vec<&str> = index_before["certificates"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == "superseded").count(), 1);
    assert_eq!(
        statuses.len(),
        6,
        "root, QVS01, QVS02 twice, QVS03, QVProxy"
    );
    assert!(index_before.get("license_service_export").is_some());
    let fingerprints_before = certificate_fingerprints(&ca.dir());
    let public_keys_before = key_public_keys(&ca.dir(), &ca.password_file());
    assert_eq!(fingerprints_before.len(), 6);
    assert_eq!(
        public_keys_before.len(),
        6,
        "every key, the superseded one's too"
    );

    let file = backup_into_dir(&ca, &[]);
    std::fs::remove_dir_all(ca.dir()).expect("wipe the CA");

    let new_password = new_password_file(&ca, NEW_PASSWORD);
    let out = run_with_password(&ca, &new_password, &["restore", path_str(&file)]);
    assert_code(&out, 0, "restore into a missing dir");
    assert!(replaced_dirs(&ca).is_empty(), "nothing was replaced");

    // Certificates: the same files with the same fingerprints.
    assert_eq!(certificate_fingerprints(&ca.dir()), fingerprints_before);
    // Keys: the same public keys, now under the new password, no longer under the old one.
    assert_eq!(
        key_public_keys(&ca.dir(), &new_password),
        public_keys_before
    );
    let old_passin = format!("file:{}", ca.password_file().display());
    for entry in std::fs::read_dir(ca.dir().join("keys")).expect("keys") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("key");
        assert!(
            text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
            "{path:?} is encrypted at rest"
        );
        let (ok, _) = tool(
            "openssl",
            &[
                "pkey",
                "-in",
                path_str(&path),
                "-passin",
                &old_passin,
                "-noout",
            ],
        );
        assert!(!ok, "{path:?} still opens with the old CA password");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{path:?}");
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ca.dir())
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700, "the restored CA dir is private");
    }

    // The index: every entry and status, the settings and the CRL number; only the
    // license-service export record is dropped (and the log head moves on to the restore's
    // record: see oplog.rs).
    let index_after = ca.index();
    let mut expected = index_before.clone();
    expected
        .as_object_mut()
        .expect("object")
        .remove("license_service_export");
    expected.as_object_mut().expect("object").remove("oplog");
    let mut actual = index_after.clone();
    actual
        .as_object_mut()
        .expect("object")
        .remove("license_service_export");
    actual.as_object_mut().expect("object").remove("oplog");
    assert!(
        index_after
            .get("license_service_export")
            .is_none_or(Value::is_null)
    );
    assert_eq!(actual, expected);
    assert_eq!(index_after["settings"], index_before["settings"]);
    assert_eq!(index_after["crl_number"], index_before["crl_number"]);

    // The restored CA issues under the new password, with a serial it never used.
    let out = run_with_password(
        &ca,
        &new_password,
        &["--json", "issue", "server", "NEW01", "--key-type", "p256"],
    );
    assert_code(&out, 0, "issue after restore");
    let issued: Value = serde_json::from_slice(&out.stdout).expect("json");
    let serial = issued["results"][0]["serial"].as_str().expect("serial");
    assert!(!serials(&index_before).iter().any(|s| s == serial));
    let out = run_with_password(&ca, &new_password, &["verify"]);
    assert_code(&out, 0, "verify after restore");
}

#[test]
fn issuing_continues_after_a_restore_with_fresh_unique_serials_and_verify_passes() {
    let ca = p256_ca(&["QVS01"]);
    let file = backup_into_dir(&ca, &[]);
    let old_serials = serials(&ca.index());
    ca.qvca()
        .args(["issue", "server", "LOST01", "--key-type", "p256"])
        .assert()
        .success();
    // Restore over the same root (confirmed with -y): LOST01 was issued after the backup.
    let out = run(&ca, &["-y", "restore", path_str(&file)]);
    assert_code(&out, 0, "restore -y");
    assert_eq!(serials(&ca.index()), old_serials);
    let out = run(
        &ca,
        &[
            "--json",
            "issue",
            "server",
            "QVS02",
            "QVS03",
            "QVS04",
            "--key-type",
            "p256",
        ],
    );
    assert_code(&out, 0, "issue after restore");
    let all = serials(&ca.index());
    assert_eq!(all.len(), old_serials.len() + 3);
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "serials are unique: {all:?}");
    // Serials are positive and at most 20 octets.
    for serial in &all {
        assert!(serial.len() <= 40, "{serial}");
        assert!(
            u8::from_str_radix(&serial[..2], 16).expect("hex") < 0x80,
            "{serial}"
        );
    }
    let out = run(&ca, &["verify"]);
    assert_code(&out, 0, "verify after restore");
    let out = run(&ca, &["--json", "list"]);
    assert_code(&out, 0, "list");
}

// ---------------------------------------------------------------------------------------------
// Restores over the same CA

#[test]
fn restoring_over_the_same_root_without_a_terminal_and_without_yes_is_refused() {
    let ca = p256_ca(&["QVS01"]);
    let file = backup_into_dir(&ca, &[]);
    let before = ca.snapshot();
    let names = scratch_names(&ca);
    let out = run(&ca, &["restore", path_str(&file)]);
    assert_code(&out, 3, "restore over the same root without -y");
    assert!(stderr(&out).contains("-y"), "{}", describe(&out));
    assert_eq!(ca.snapshot(), before);
    assert_eq!(scratch_names(&ca), names);
}

#[test]
fn restoring_over_the_same_root_with_yes_replaces_it_and_keeps_the_old_one_aside() {
    let ca = p256_ca(&["QVS01"]);
    let file = backup_into_dir(&ca, &[]);
    let backed_up = ca.index();
    ca.qvca()
        .args(["issue", "server", "QVS02", "--key-type", "p256"])
        .assert()
        .success();
    let before = relative_snapshot(&ca.dir());
    let out = run(&ca, &["-y", "--json", "restore", path_str(&file)]);
    assert_code(&out, 0, "restore -y");
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["situation"], "same-root");
    assert_eq!(report["dry_run"], false);
    let replaced = replaced_dirs(&ca);
    assert_eq!(replaced.len(), 1, "{replaced:?}");
    assert_eq!(
        relative_snapshot(&replaced[0]),
        before,
        "the old CA is kept whole"
    );
    // The same index, but for the log head, which names the restore's own record.
    let without_log = |mut index: Value| {
        index.as_object_mut().expect("object").remove("oplog");
        index
    };
    assert_eq!(
        without_log(ca.index()),
        without_log(backed_up),
        "the CA is back to the backup"
    );
    let names: Vec<String> = scratch_names(&ca)
        .into_iter()
        .filter(|n| n.contains("restore"))
        .collect();
    assert!(names.is_empty(), "no staging dir left: {names:?}");
}

#[test]
fn a_dry_run_restore_reports_and_changes_nothing() {
    let ca = p256_ca(&["QVS01"]);
    let file = backup_into_dir(&ca, &[]);
    let before = ca.snapshot();
    let names = scratch_names(&ca);
    let out = run(&ca, &["--json", "restore", "--dry-run", path_str(&file)]);
    assert_code(&out, 0, "restore --dry-run");
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["situation"], "same-root");
    assert_eq!(ca.snapshot(), before);
    assert_eq!(scratch_names(&ca), names);

    // Into a missing directory: nothing is created.
    let target = ca.path().join("not-yet");
    let out = qvca_at(&ca, &target)
        .arg("--password-file")
        .arg(ca.password_file())
        .arg("--pfx-password-file")
        .arg(pfx_password_file(&ca))
        .args(["restore", "--dry-run", path_str(&file)])
        .output()
        .expect("run");
    assert_code(&out, 0, "restore --dry-run into a missing dir");
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing was changed"));
    assert!(!target.exists());
}

#[test]
fn restoring_into_an_existing_empty_directory_just_restores() {
    let ca = p256_ca(&["QVS01"]);
    let file = backup_into_dir(&ca, &[]);
    let target = ca.path().join("empty-ca");
    std::fs::create_dir(&target).expect("mkdir");
    let out = qvca_at(&ca, &target)
        .arg("--password-file")
        .arg(ca.password_file())
        .arg("--pfx-password-file")
        .arg(pfx_password_file(&ca))
        .args(["--json", "restore", path_str(&file)])
        .output()
        .expect("run");
    assert_code(&out, 0, "restore into an empty dir");
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["situation"], "new-ca");
    assert!(target.join("index.json").is_file());
    let leftovers: Vec<String> = scratch_names(&ca)
        .into_iter()
        .filter(|n| n.starts_with("empty-ca."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}; {report}");
    assert!(report.get("replaced_ca_moved_to").is_none(), "{report}");
}

#[test]
fn a_restore_without_a_ca_password_and_without_a_terminal_fails_at_once_and_creates_nothing() {
    let ca = p256_ca(&["QVS01"]);
    let file = backup_into_dir(&ca, &[]);
    let target = ca.path().join("restored");
    let out = qvca_at(&ca, &target)
        .arg("--pfx-password-file")
        .arg(pfx_password_file(&ca))
        .args(["restore", path_str(&file)])
        .output()
        .expect("run");
    assert_code(&out, 1, "restore without a CA password");
    assert!(
        stderr(&out).contains("--password-file"),
        "{}",
        describe(&out)
    );
    assert!(stderr(&out).contains("QVCA_PASSWORD"), "{}", describe(&out));
    assert!(!target.exists());
    let names: Vec<String> = scratch_names(&ca)
        .into_iter()
        .filter(|n| n.starts_with("restored"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn a_backup_of_a_missing_ca_is_exit_6_and_creates_nothing() {
    let scratch = TestCa::new();
    let out_dir = scratch.path().join("backups");
    let out = run(&scratch, &["backup", "--dir", path_str(&out_dir)]);
    assert_code(&out, 6, "backup without a CA");
    assert!(!scratch.dir().exists());
    assert!(!out_dir.exists());
}

#[test]
fn a_ca_dir_given_with_a_trailing_slash_restores_like_one_without() {
    let ca = p256_ca(&["QVS01"]);
    let file = backup_into_dir(&ca, &[]);
    // Into a missing directory.
    let target = ca.path().join("restored");
    let with_slash = format!("{}/", target.display());
    let out = qvca_at(&ca, Path::new(&with_slash))
        .arg("--password-file")
        .arg(ca.password_file())
        .arg("--pfx-password-file")
        .arg(pfx_password_file(&ca))
        .args(["restore", path_str(&file)])
        .output()
        .expect("run");
    // A restored CA has its lock file (the backup unit needs it); nothing else hidden.
    let leftovers: Vec<String> = names_in(&target)
        .into_iter()
        .filter(|n| n.starts_with('.') && n != ".lock")
        .collect();
    assert_code(
        &out,
        0,
        &format!("restore into {with_slash} (left {leftovers:?})"),
    );
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Over the same CA, confirmed.
    let before = ca.snapshot();
    let with_slash = format!("{}/", ca.dir().display());
    let out = qvca_at(&ca, Path::new(&with_slash))
        .arg("--password-file")
        .arg(ca.password_file())
        .arg("--pfx-password-file")
        .arg(pfx_password_file(&ca))
        .args(["-y", "restore", path_str(&file)])
        .output()
        .expect("run");
    let after = ca.snapshot();
    assert_code(&out, 0, &format!("restore -y into {with_slash}"));
    assert_eq!(replaced_dirs(&ca).len(), 1);
    assert_eq!(
        after.len(),
        before.len(),
        "no staging files inside the CA dir"
    );
}

#[test]
fn a_restore_says_which_machine_to_export_for_the_license_service() {
    let ca = TestCa::with_setup(&["QMS01"]);
    let file = ca.path().join("b.pfx");
    assert_code(
        &run(&ca, &["backup", "--out", path_str(&file)]),
        0,
        "backup",
    );
    let target = ca.path().join("restored");
    let out = qvca_at(&ca, &target)
        .arg("--password-file")
        .arg(ca.password_file())
        .arg("--pfx-password-file")
        .arg(pfx_password_file(&ca))
        .args(["restore", path_str(&file)])
        .output()
        .expect("run");
    assert_code(&out, 0, "restore");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("qvca export license-service --machine QMS01"),
        "{text}"
    );
}
