//! Backup rotation: `--keep` and the cron script (examples/backup-cron.sh) run end to end.

use super::{assert_no_temp_files, backup_into_dir, backup_json};
use crate::support::{
    TestCa, assert_code, describe, names_in, p256_ca, path_str, pfx_password_file, run, stderr,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

// ---------------------------------------------------------------------------------------------
// --keep

#[test]
fn keep_leaves_the_newest_backups_and_never_touches_anything_else() {
    let ca = p256_ca(&[]);
    let dir = ca.path().join("backups");
    std::fs::create_dir(&dir).expect("mkdir");
    let real = std::fs::read(backup_into_dir(&ca, &[])).expect("a real backup");
    for entry in std::fs::read_dir(&dir).expect("list") {
        std::fs::remove_file(entry.expect("entry").path()).expect("clear");
    }
    for old in [
        "qvca-backup-20200101T000000Z.pfx",
        "qvca-backup-20200102T000000Z.pfx",
        "qvca-backup-20200102T000000Z-2.pfx",
    ] {
        std::fs::write(dir.join(old), &real).expect("write");
    }
    let others: Vec<(&str, &[u8])> = vec![
        ("notes.txt", b"restore drill on Friday\n"),
        ("qvca-backup-latest.pfx", &real),
        ("qvca-backup-20200101T000000Z.pfx.bak", &real),
        ("my-qvca-backup-20190101T000000Z.pfx", &real),
        ("qvca-backup-20190101T000000Z-1.pfx", &real),
        ("qvca-backup-2019010XT000000Z.pfx", &real),
        (".qvca-backup-tmp-stale.partial", b"left by a crash"),
    ];
    for (name, bytes) in &others {
        std::fs::write(dir.join(name), bytes).expect("write");
    }
    let subdir = dir.join("qvca-backup-20000101T000000Z.pfx");
    std::fs::create_dir(&subdir).expect("mkdir");
    std::fs::write(subdir.join("inside.txt"), b"keep me").expect("write");

    let report = backup_json(&ca, &["--dir", path_str(&dir), "--keep", "2"]);
    let new_name = PathBuf::from(report["file"].as_str().expect("file"))
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let pruned: BTreeSet<String> = report["pruned"]
        .as_array()
        .expect("pruned")
        .iter()
        .map(|p| {
            PathBuf::from(p.as_str().expect("path"))
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        pruned,
        BTreeSet::from([
            "qvca-backup-20200101T000000Z.pfx".to_owned(),
            "qvca-backup-20200102T000000Z.pfx".to_owned(),
        ])
    );
    let mut expected: BTreeSet<String> = others.iter().map(|(n, _)| (*n).to_owned()).collect();
    expected.insert("qvca-backup-20000101T000000Z.pfx".to_owned());
    expected.insert("qvca-backup-20200102T000000Z-2.pfx".to_owned());
    expected.insert(new_name.clone());
    assert_eq!(names_in(&dir), expected);
    for (name, bytes) in &others {
        assert_eq!(
            &std::fs::read(dir.join(name)).expect("read"),
            bytes,
            "{name}"
        );
    }
    assert_eq!(
        std::fs::read(subdir.join("inside.txt")).expect("read"),
        b"keep me"
    );
    assert_eq!(
        std::fs::read(dir.join("qvca-backup-20200102T000000Z-2.pfx")).expect("read"),
        real
    );
    let out = run(&ca, &["backup", "verify", path_str(&dir.join(&new_name))]);
    assert_code(&out, 0, "the new backup verifies");

    // Three more runs: still the two newest backup-named files, everything else untouched.
    for _ in 0..3 {
        backup_json(&ca, &["--dir", path_str(&dir), "--keep", "2"]);
    }
    let backups: Vec<String> = names_in(&dir)
        .into_iter()
        .filter(|n| {
            n.starts_with("qvca-backup-2")
                && n.ends_with(".pfx")
                && !n.starts_with("qvca-backup-2000")
                && !n.starts_with("qvca-backup-2019")
        })
        .collect();
    assert_eq!(backups.len(), 2, "{backups:?}");
    assert!(
        backups.iter().all(|n| !n.starts_with("qvca-backup-2020")),
        "{backups:?}"
    );
    for (name, bytes) in &others {
        assert_eq!(
            &std::fs::read(dir.join(name)).expect("read"),
            bytes,
            "{name}"
        );
    }
    assert!(subdir.join("inside.txt").is_file());
}

#[test]
fn keep_never_deletes_the_backup_it_just_wrote() {
    let ca = p256_ca(&[]);
    let dir = ca.path().join("backups");
    let first = backup_into_dir(&ca, &[]);
    let bytes = std::fs::read(&first).expect("read");
    std::fs::remove_file(&first).expect("rm");
    std::fs::write(dir.join("qvca-backup-20991231T000000Z.pfx"), &bytes).expect("write");
    let report = backup_json(&ca, &["--dir", path_str(&dir), "--keep", "1"]);
    let file = PathBuf::from(report["file"].as_str().expect("file"));
    assert!(
        file.is_file(),
        "the report names {file:?} (verified={}) but --keep removed it: {report}",
        report["verified"]
    );
}

// ---------------------------------------------------------------------------------------------
// examples/backup-cron.sh

fn cron_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/backup-cron.sh")
}

fn run_cron(ca: &TestCa, backups: &Path, password_file: &Path) -> Output {
    std::process::Command::new("bash")
        .arg(cron_script())
        .env_remove("QVCA_PASSWORD")
        .env_remove("QVCA_PFX_PASSWORD")
        .env_remove("XDG_DATA_HOME")
        .env("QVCA", env!("CARGO_BIN_EXE_qvca"))
        .env("QVCA_DIR", ca.dir())
        .env("QVCA_BACKUP_DIR", backups)
        .env("QVCA_PASSWORD_FILE", password_file)
        .env("QVCA_PFX_PASSWORD_FILE", pfx_password_file(ca))
        .env("QVCA_KEEP", "2")
        .env("QVCA_BACKUP_LOG", "stderr")
        .current_dir(ca.path())
        .stdin(Stdio::null())
        .output()
        .expect("bash examples/backup-cron.sh")
}

#[test]
fn the_cron_script_runs_unattended_keeps_two_verified_backups_and_reports_a_wrong_password() {
    let ca = p256_ca(&["QVS01"]);
    let backups = ca.path().join("nightly");
    let before = ca.snapshot();
    for run_number in 1..=3 {
        let out = run_cron(&ca, &backups, &ca.password_file());
        assert_code(&out, 0, &format!("cron run {run_number}"));
        assert!(out.stdout.is_empty(), "{}", describe(&out));
        let log = stderr(&out);
        assert_eq!(log.lines().count(), 1, "one log line: {log}");
        assert!(
            log.contains("qvca-backup info") && log.contains("verified"),
            "{log}"
        );
        let files: Vec<String> = names_in(&backups).into_iter().collect();
        assert_eq!(files.len(), run_number.min(2), "{files:?}");
        assert!(
            files
                .iter()
                .all(|f| f.starts_with("qvca-backup-") && f.ends_with(".pfx"))
        );
        assert!(files.iter().any(|f| log.contains(f.as_str())), "{log}");
    }
    for file in names_in(&backups) {
        let out = run(&ca, &["backup", "verify", path_str(&backups.join(&file))]);
        assert_code(&out, 0, &format!("backup verify {file}"));
    }
    assert_eq!(ca.snapshot(), before, "a backup does not change the CA");
    assert_no_temp_files(&backups);

    let wrong = ca.path().join("wrong-password.txt");
    std::fs::write(&wrong, "not the CA password\n").expect("write");
    let files_before = names_in(&backups);
    let out = run_cron(&ca, &backups, &wrong);
    assert_code(&out, 4, "cron run with a wrong CA password");
    let log = stderr(&out);
    assert!(
        log.lines()
            .any(|l| l.contains("qvca-backup err") && l.contains("wrong password")),
        "{log}"
    );
    assert_eq!(names_in(&backups), files_before);
    assert_no_temp_files(&backups);
}
