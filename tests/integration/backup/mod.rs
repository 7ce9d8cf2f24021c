//! Backups and restores through the real binary: one PKCS#12 file judged by openssl, keytool
//! and pk12util; restores that rebuild the CA under a new password; damaged and foreign files
//! that change nothing; `--keep`; no partial files; the cron script run end to end.

use crate::support::{
    TestCa, assert_code, bare_qvca, names_in, openssl_ok, path_str, pfx_password_file, run,
    scratch_names, snapshot,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod damaged;
mod hostile;
mod make;
mod restore;
mod rotation;

pub(crate) use damaged::openssl_pfx_without_state;
pub(crate) use hostile::{
    attackers_clear_root_pfx, content_infos, edit_pfx, scrypt_algorithm, shrouded_key_bags,
};

/// `qvca --ca-dir DIR` (no password) run from the scratch directory.
fn qvca_at(ca: &TestCa, dir: &Path) -> assert_cmd::Command {
    let mut cmd = bare_qvca();
    cmd.arg("--ca-dir").arg(dir).current_dir(ca.path());
    cmd
}

/// `qvca --json backup ARGS...`: the report, after checking the command succeeded.
fn backup_json(ca: &TestCa, args: &[&str]) -> Value {
    let mut all = vec!["--json", "backup"];
    all.extend_from_slice(args);
    let out = run(ca, &all);
    assert_code(&out, 0, "backup");
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// Writes a backup into `<scratch>/backups` and returns its path.
fn backup_into_dir(ca: &TestCa, extra: &[&str]) -> PathBuf {
    let dir = ca.path().join("backups");
    let mut args = vec!["--dir", path_str(&dir)];
    args.extend_from_slice(extra);
    let report = backup_json(ca, &args);
    PathBuf::from(report["file"].as_str().expect("file"))
}

/// A snapshot with paths relative to its directory, to compare a moved directory.
fn relative_snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    snapshot(dir)
        .into_iter()
        .map(|(p, b)| (p.strip_prefix(dir).expect("below dir").to_owned(), b))
        .collect()
}

/// `openssl x509 -fingerprint -sha256` of every `certs/*.pem`, by file name.
fn certificate_fingerprints(ca_dir: &Path) -> BTreeMap<String, String> {
    let mut fingerprints = BTreeMap::new();
    for entry in std::fs::read_dir(ca_dir.join("certs")).expect("certs dir") {
        let path = entry.expect("entry").path();
        let fp = openssl_ok(&[
            "x509",
            "-in",
            path_str(&path),
            "-noout",
            "-fingerprint",
            "-sha256",
        ]);
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        fingerprints.insert(name, fp);
    }
    fingerprints
}

fn write_damaged(ca: &TestCa, name: &str, bytes: &[u8]) -> PathBuf {
    let dir = ca.path().join("damaged");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

/// Both readers of a backup refuse `file` with `code`, and neither the CA nor its
/// surroundings change; a restore into a missing directory creates nothing either.
fn assert_rejected_without_change(ca: &TestCa, file: &Path, code: i32, what: &str) {
    let before = ca.snapshot();
    let names = scratch_names(ca);
    let out = run(ca, &["backup", "verify", path_str(file)]);
    assert_code(&out, code, &format!("backup verify of {what}"));
    for args in [
        vec!["restore", path_str(file)],
        vec!["-y", "restore", path_str(file)],
        vec!["-y", "restore", "--force", path_str(file)],
    ] {
        let out = run(ca, &args);
        assert_code(&out, code, &format!("{args:?} of {what}"));
        assert_eq!(ca.snapshot(), before, "{args:?} of {what} changed the CA");
        assert_eq!(
            scratch_names(ca),
            names,
            "{args:?} of {what} left something"
        );
    }
    let elsewhere = ca.path().join("restore-target");
    let out = qvca_at(ca, &elsewhere)
        .arg("--password-file")
        .arg(ca.password_file())
        .arg("--pfx-password-file")
        .arg(pfx_password_file(ca))
        .args(["restore", path_str(file)])
        .output()
        .expect("run");
    assert_code(&out, code, &format!("restore of {what} into a new dir"));
    assert!(
        !elsewhere.exists(),
        "restore of {what} created {elsewhere:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// No partial files

fn assert_no_temp_files(dir: &Path) {
    if !dir.exists() {
        return;
    }
    let leftovers: Vec<String> = names_in(dir)
        .into_iter()
        .filter(|n| n.starts_with(".qvca-backup-tmp-") || n.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "leftovers in {dir:?}: {leftovers:?}");
}
