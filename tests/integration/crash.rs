//! Crash safety: qvca is aborted (as by SIGKILL: no destructor, no cleanup) at every crash point
//! of every state-changing operation, and each time the CA must still open, `doctor` must find no
//! corruption (at most the explainable leftovers of an interrupted operation), every certificate
//! must verify against the root with openssl, and no key may be unencrypted or readable by others.
//! Also: injected disk-full and read-only failures change nothing.
//!
//! The crash points come from the `test-hooks` feature (QVCA_TEST_CRASH_AT=<point>#<n>), which
//! scripts/test.sh enables.
#![cfg(feature = "test-hooks")]

use crate::support::{TestCa, copy_dir, openssl_ok};
use std::path::{Path, PathBuf};
use std::process::Output;

/// Every crash point in the code, and how many occurrences of each to try.
const POINTS: &[(&str, usize)] = &[
    ("before-write", 8),
    ("before-rename", 8),
    ("after-write-certificate", 3),
    ("before-index-commit", 2),
    ("after-log-append", 2),
    ("after-export-file", 3),
    ("backup-before-verify", 1),
    ("backup-after-rename", 1),
    ("restore-before-swap", 1),
    ("swap-between-renames", 1),
    ("crl-before-write", 1),
    ("rewrap-before-write", 1),
];

const PFX_PASSWORD: &str = "crash-test-pfx";

struct Scenario {
    name: &'static str,
    args: Vec<String>,
    /// doctor checks an interrupted run of this operation may leave needing attention.
    may_need_attention: &'static [&'static str],
}

fn crashed(out: &Output) -> bool {
    !out.status.success() && out.status.code().is_none()
}

/// A CA with a root, three servers, the client, an export and a CRL.
fn fixture() -> TestCa {
    let ca = TestCa::new();
    ca.qvca()
        .args(["init", "--key-type", "p256"])
        .assert()
        .success();
    ca.qvca()
        .args([
            "issue",
            "server",
            "QVS01",
            "QVS02",
            "QVS03",
            "--key-type",
            "p256",
        ])
        .assert()
        .success();
    ca.qvca()
        .args(["issue", "client", "--key-type", "p256"])
        .assert()
        .success();
    ca.qvca().args(["-y", "revoke", "QVS03"]).assert().success();
    ca.qvca().args(["crl"]).assert().success();
    std::fs::write(ca.path().join("pfx.txt"), format!("{PFX_PASSWORD}\n")).expect("write");
    std::fs::write(
        ca.path().join("hosts.txt"),
        "NODE01\nNODE02\nNODE03\nNODE04\nNODE05\n",
    )
    .expect("write");
    ca
}

fn scenarios(ca: &TestCa) -> Vec<Scenario> {
    let p = |path: PathBuf| path.display().to_string();
    vec![
        Scenario {
            name: "bulk issuance",
            args: vec![
                "issue".into(),
                "server".into(),
                "--key-type".into(),
                "p256".into(),
                "--from-file".into(),
                p(ca.path().join("hosts.txt")),
            ],
            may_need_attention: &[],
        },
        Scenario {
            name: "backup",
            args: vec![
                "backup".into(),
                "--dir".into(),
                p(ca.path().join("backups")),
            ],
            may_need_attention: &[],
        },
        Scenario {
            name: "renew",
            args: vec!["renew".into(), "QVS01".into()],
            may_need_attention: &["license-service-export"],
        },
        Scenario {
            name: "crl",
            args: vec!["crl".into()],
            may_need_attention: &["crl"],
        },
        Scenario {
            name: "license-service export",
            args: vec![
                "export".into(),
                "license-service".into(),
                "--machine".into(),
                "QVS02".into(),
            ],
            may_need_attention: &["license-service-export"],
        },
    ]
}

/// A fresh copy of a fixture (cheaper than building one for each of hundreds of runs).
fn copy_of(template: &TestCa) -> TestCa {
    let ca = TestCa::new();
    copy_dir(template.path(), ca.path());
    ca
}

/// The invariants that must hold after any crash.
fn assert_usable(ca: &TestCa, what: &str, allowed: &[&str]) {
    let list = ca
        .qvca()
        .args(["--json", "list", "--all"])
        .output()
        .expect("list");
    assert!(
        list.status.success(),
        "{what}: the CA does not open: {}",
        String::from_utf8_lossy(&list.stderr)
    );

    let doctor = ca
        .qvca()
        .args(["--json", "doctor"])
        .output()
        .expect("doctor");
    let report: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: doctor printed no JSON ({e}): {}",
            String::from_utf8_lossy(&doctor.stderr)
        )
    });
    for check in report["checks"].as_array().expect("checks") {
        let name = check["name"].as_str().expect("name");
        let status = check["status"].as_str().expect("status");
        // Left by an interrupted operation, or true of the fixture itself (it never exported).
        let explainable =
            status == "warning" && matches!(name, "index-files" | "license-service-export");
        let fine = matches!(status, "ok" | "skipped") || explainable || allowed.contains(&name);
        assert!(
            fine,
            "{what}: doctor reports {name} {status}: {}",
            check["message"]
        );
    }

    // The operations log verifies (a record the crash kept from its commit is only noted).
    let log = ca
        .qvca()
        .args(["log", "--verify"])
        .output()
        .expect("log --verify");
    assert!(
        log.status.success(),
        "{what}: the operations log does not verify: {}",
        String::from_utf8_lossy(&log.stderr)
    );

    // Every certificate in the index verifies against the root with openssl.
    let root = ca.path().join("crash-root.pem");
    ca.qvca()
        .args(["export", "root", "--force", "--out"])
        .arg(&root)
        .assert()
        .success();
    let index = ca.index();
    let mut certs: Vec<String> = Vec::new();
    for entry in index["certificates"].as_array().expect("certificates") {
        let serial = entry["serial"].as_str().expect("serial");
        certs.push(
            ca.dir()
                .join("certs")
                .join(format!("{serial}.pem"))
                .display()
                .to_string(),
        );
    }
    let mut args = vec!["verify", "-CAfile", root.to_str().expect("utf-8")];
    args.extend(certs.iter().map(String::as_str));
    openssl_ok(&args);

    // No key file is unencrypted or readable by others.
    for key in std::fs::read_dir(ca.dir().join("keys"))
        .expect("keys")
        .flatten()
    {
        let text = std::fs::read_to_string(key.path()).unwrap_or_default();
        let name = key.file_name().to_string_lossy().into_owned();
        if name.starts_with(".qvca-tmp-") {
            // A temporary file of an interrupted write: created 0600, never renamed.
            assert_owner_only(&key.path(), what);
            continue;
        }
        assert!(
            text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
            "{what}: {name} is not encrypted"
        );
        assert_owner_only(&key.path(), what);
    }
}

fn assert_owner_only(path: &Path, what: &str) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(
        mode & 0o077,
        0,
        "{what}: {} has mode {mode:o}",
        path.display()
    );
}

/// Runs `args` with a crash at `point#n`; returns whether it crashed.
fn run_crashing(ca: &TestCa, args: &[String], point: &str, n: usize) -> bool {
    let out = ca
        .qvca()
        .arg("--pfx-password-file")
        .arg(ca.path().join("pfx.txt"))
        .args(args)
        .env("QVCA_TEST_CRASH_AT", format!("{point}#{n}"))
        .output()
        .expect("run");
    crashed(&out)
}

#[test]
fn a_crash_at_any_point_of_any_operation_leaves_a_usable_ca() {
    let template = fixture();
    let mut crashes = 0;
    for scenario_index in 0..scenarios(&template).len() {
        for (point, count) in POINTS {
            for n in 1..=*count {
                let ca = copy_of(&template);
                let scenario = scenarios(&ca).remove(scenario_index);
                if !run_crashing(&ca, &scenario.args, point, n) {
                    break; // this point is not reached (again) by this operation
                }
                crashes += 1;
                let what = format!("{} crashed at {point}#{n}", scenario.name);
                assert_usable(&ca, &what, scenario.may_need_attention);
                // And the operation, run again, completes.
                let again = ca
                    .qvca()
                    .arg("--pfx-password-file")
                    .arg(ca.path().join("pfx.txt"))
                    .args(&scenario.args)
                    .output()
                    .expect("rerun");
                assert!(
                    again.status.code().is_some_and(|c| c == 0 || c == 3),
                    "{what}: running it again fails: {}",
                    String::from_utf8_lossy(&again.stderr)
                );
                assert_usable(&ca, &format!("{what}, then run again"), &[]);
            }
        }
    }
    assert!(
        crashes >= 20,
        "only {crashes} crashes were provoked: are the crash points compiled in?"
    );
}

#[test]
fn a_backup_killed_at_any_moment_leaves_no_file_under_a_backup_name() {
    let ca = fixture();
    let dir = ca.path().join("backups");
    for (point, count) in [("backup-before-verify", 1), ("before-write", 2)] {
        for n in 1..=count {
            let args = vec![
                "backup".to_owned(),
                "--dir".to_owned(),
                dir.display().to_string(),
            ];
            if !run_crashing(&ca, &args, point, n) {
                // Not reached: the backup completed; start the next round with an empty dir.
                let _ = std::fs::remove_dir_all(&dir);
                continue;
            }
            let named: Vec<String> = std::fs::read_dir(&dir)
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|name| qvca::ops::backup::backup_name_key(name).is_some())
                        .collect()
                })
                .unwrap_or_default();
            assert!(named.is_empty(), "{point}#{n} left {named:?}");
        }
    }
}

#[test]
fn a_restore_killed_at_any_moment_leaves_a_usable_ca_at_the_ca_dir() {
    let ca = fixture();
    let backup = ca.path().join("b.pfx");
    ca.qvca()
        .arg("--pfx-password-file")
        .arg(ca.path().join("pfx.txt"))
        .args(["backup", "--out"])
        .arg(&backup)
        .assert()
        .success();
    let args = vec![
        "-y".to_owned(),
        "restore".to_owned(),
        backup.display().to_string(),
    ];
    for point in [
        "before-write",
        "before-index-commit",
        "restore-before-swap",
        "swap-between-renames",
        "restore-after-swap",
    ] {
        for n in 1..=3 {
            if !run_crashing(&ca, &args, point, n) {
                break;
            }
            assert_usable(
                &ca,
                &format!("restore crashed at {point}#{n}"),
                &["license-service-export", "staging-leftovers"],
            );
        }
    }
}

#[test]
fn an_in_place_rewrap_killed_at_any_moment_leaves_the_file_entirely_old_or_entirely_new() {
    let ca = fixture();
    let old_backup = ca.path().join("old.pfx");
    ca.qvca()
        .arg("--pfx-password-file")
        .arg(ca.path().join("pfx.txt"))
        .args(["backup", "--out"])
        .arg(&old_backup)
        .assert()
        .success();
    let token = {
        let out = ca
            .qvca()
            .args(["secrets", "encrypt"])
            .write_stdin("Pwd=crash")
            .output()
            .expect("encrypt");
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_owned()
    };
    ca.qvca()
        .args(["-y", "init", "--force", "--key-type", "p256"])
        .assert()
        .success();
    let config = ca.path().join("app.ini");
    let original = format!("[db]\nconn={token}\nother=1\n");
    for point in ["rewrap-before-write", "before-write", "before-rename"] {
        std::fs::write(&config, &original).expect("write");
        let args = vec![
            "secrets".to_owned(),
            "rewrap".to_owned(),
            "--from-backup".to_owned(),
            old_backup.display().to_string(),
            "--in".to_owned(),
            config.display().to_string(),
            "--in-place".to_owned(),
        ];
        assert!(
            run_crashing(&ca, &args, point, 1),
            "{point} was not reached"
        );
        let now = std::fs::read_to_string(&config).expect("read");
        assert_eq!(
            now, original,
            "{point}: the file must still be entirely the old one"
        );
    }
}

#[test]
fn a_full_disk_or_read_only_ca_dir_is_a_clear_error_and_changes_nothing() {
    let ca = fixture();
    for (kind, words) in [("full", "disk is full"), ("readonly", "read-only")] {
        for args in [
            vec!["issue", "server", "NEW01", "--key-type", "p256"],
            vec!["-y", "revoke", "QVS02"],
            vec!["crl"],
            vec!["renew", "QVS01"],
        ] {
            let before = ca.snapshot();
            let out = ca
                .qvca()
                .args(&args)
                .env("QVCA_TEST_WRITE_FAIL", kind)
                .output()
                .expect("run");
            assert_eq!(out.status.code(), Some(1), "{args:?} with a {kind} disk");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains(words), "{args:?}: {stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
            assert_eq!(
                before,
                ca.snapshot(),
                "{args:?} with a {kind} disk changed the CA"
            );
        }
    }
}
