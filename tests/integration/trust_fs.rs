//! The file-system side of the trust boundary (issue 11, items 3, 4 and 8): one lock that holds
//! across restore and `init --force`; nothing outside qvca's own output deleted, followed or
//! replaced by surprise; leftovers of killed runs reported and cleaned up; no symlink inside the
//! CA directory followed out of it.
//!
//! The tests that pause or kill qvca at named points need the `test-hooks` feature.
#![cfg_attr(not(feature = "test-hooks"), allow(dead_code, unused_imports))]

use crate::support::{
    PFX_PASSWORD, TestCa, assert_code, backup_to, bare_qvca, describe, p256_ca, path_str,
    pfx_password_file, qvca_process, run, scratch_names, stderr,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The names of the index's certificates.
fn index_names(ca: &TestCa) -> Vec<String> {
    ca.index()["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .map(|e| e["name"].as_str().expect("name").to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Item 3: one lock across restore and init --force

#[cfg(feature = "test-hooks")]
/// A qvca process the test can pause at named points (test-hooks: QVCA_TEST_PAUSE_AT).
struct Paused {
    child: Child,
    dir: tempfile::TempDir,
}

#[cfg(feature = "test-hooks")]
impl Paused {
    /// Starts `qvca ARGS` pausing at each of `points`.
    fn start(ca: &TestCa, points: &[&str], args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("pause dir");
        let child = qvca_process()
            .arg("--ca-dir")
            .arg(ca.dir())
            .arg("--password-file")
            .arg(ca.password_file())
            .arg("--pfx-password-file")
            .arg(pfx_password_file(ca))
            .args(args)
            .env("QVCA_TEST_PAUSE_AT", points.join(","))
            .env("QVCA_TEST_PAUSE_DIR", dir.path())
            .env("QVCA_LOCK_TIMEOUT", "60")
            .current_dir(ca.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn qvca");
        Self { child, dir }
    }

    fn is_paused_at(&self, point: &str) -> bool {
        self.dir.path().join(format!("{point}.paused")).exists()
    }

    /// Waits until the process pauses at `point` (or has exited).
    fn wait_paused(&mut self, point: &str) {
        let started = Instant::now();
        while !self.is_paused_at(point) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("qvca exited with {status} before pausing at {point}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "qvca never paused at {point}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn resume(&self, point: &str) {
        std::fs::write(self.dir.path().join(format!("{point}.resume")), b"").expect("resume");
    }

    fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    fn finish(self) -> Output {
        self.child.wait_with_output().expect("wait for qvca")
    }
}

#[cfg(feature = "test-hooks")]
/// True once process `pid` has the file `path` open (it then waits on that lock file).
fn has_open(pid: u32, path: &Path) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .any(|target| target == path)
}

#[cfg(feature = "test-hooks")]
/// Runs `swap` (a restore or `init --force`), pausing it at `before` (it holds the CA lock,
/// the new CA built) and at `after` (swapped, locks still held); an issue queues on the lock
/// of the CA being replaced, and another starts after the swap and stops before its commit.
/// Both must reach the index of the CA that ends up in place (or one fail cleanly; here both
/// can succeed, so both must).
fn assert_no_issue_is_lost_around_a_swap(ca: &TestCa, swap: &[&str], before: &str, after: &str) {
    let lock = std::fs::canonicalize(ca.dir())
        .expect("ca dir")
        .join(".lock");
    let mut swapping = Paused::start(ca, &[before, after], swap);
    swapping.wait_paused(before);

    // An issue queues on the lock of the CA that is about to be replaced.
    let mut waiting = Paused::start(
        ca,
        &[],
        &["issue", "server", "WAITER", "--key-type", "p256"],
    );
    let started = Instant::now();
    while !has_open(waiting.child.id(), &lock) {
        assert!(!waiting.has_exited(), "the waiting issue ended early");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the issue never opened the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // The swap happens; another issue starts on the swapped-in CA and stops before its commit.
    swapping.resume(before);
    swapping.wait_paused(after);
    let late = Paused::start(
        ca,
        &["before-index-commit"],
        &["issue", "server", "LATE", "--key-type", "p256"],
    );
    std::thread::sleep(Duration::from_millis(1500));

    // The swap finishes. Let the waiting issue run (if it can) before the late one commits.
    swapping.resume(after);
    let swapped = swapping.finish();
    assert_code(&swapped, 0, &format!("{swap:?}"));
    let started = Instant::now();
    while !waiting.has_exited() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    late.resume("before-index-commit");
    let late = late.finish();
    let waiting = waiting.finish();
    assert_code(&waiting, 0, &format!("the issue that waited on {swap:?}"));
    assert_code(
        &late,
        0,
        &format!("the issue started after the swap of {swap:?}"),
    );

    let names = index_names(ca);
    for name in ["WAITER", "LATE"] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} is missing from the index after {swap:?}: {names:?}"
        );
    }
    // Every certificate the index names is there and chains to the root in place.
    let out = run(ca, &["--json", "verify"]);
    assert_code(&out, 0, "verify");
}

#[cfg(feature = "test-hooks")]
#[test]
fn an_issue_waiting_on_a_restore_and_one_started_after_its_swap_both_reach_the_index() {
    let ca = p256_ca(&["QVS01"]);
    let backup = backup_to(&ca, "before.pfx");
    assert_no_issue_is_lost_around_a_swap(
        &ca,
        &["-y", "restore", path_str(&backup)],
        "restore-before-swap",
        "restore-after-swap",
    );
    let names = index_names(&ca);
    assert!(names.iter().any(|n| n == "QVS01"), "{names:?}");
}

#[cfg(feature = "test-hooks")]
#[test]
fn an_issue_waiting_on_init_force_and_one_started_after_its_swap_both_reach_the_new_ca() {
    let ca = p256_ca(&["QVS01"]);
    assert_no_issue_is_lost_around_a_swap(
        &ca,
        &["-y", "init", "--force", "--key-type", "p256"],
        "before-index-commit",
        "init-after-swap",
    );
    let names = index_names(&ca);
    assert!(!names.iter().any(|n| n == "QVS01"), "a new CA: {names:?}");
}

#[cfg(feature = "test-hooks")]
/// The status and message of one doctor check.
fn doctor_check(ca: &TestCa, name: &str) -> (String, String) {
    let out = ca
        .qvca()
        .args(["--json", "doctor"])
        .output()
        .expect("doctor");
    let report: Value = serde_json::from_slice(&out.stdout).expect("doctor JSON");
    let check = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("doctor has no {name} check: {report}"));
    (
        check["status"].as_str().expect("status").to_owned(),
        check["message"].as_str().expect("message").to_owned(),
    )
}

#[cfg(feature = "test-hooks")]
#[test]
fn a_killed_restore_leaves_a_staging_dir_that_doctor_reports_and_the_next_restore_removes() {
    let ca = p256_ca(&["QVS01"]);
    let backup = backup_to(&ca, "b.pfx");
    let out = ca
        .qvca()
        .arg("--pfx-password-file")
        .arg(pfx_password_file(&ca))
        .args(["-y", "restore", path_str(&backup)])
        .env("QVCA_TEST_CRASH_AT", "restore-before-swap")
        .output()
        .expect("run");
    assert!(out.status.code().is_none(), "killed: {}", describe(&out));
    let staging: Vec<String> = scratch_names(&ca)
        .into_iter()
        .filter(|n| n.starts_with("ca.restore-"))
        .collect();
    assert_eq!(staging.len(), 1, "{staging:?}");
    assert!(
        ca.path().join(&staging[0]).join("keys").is_dir(),
        "the staging dir holds the keys"
    );

    let (status, message) = doctor_check(&ca, "staging-leftovers");
    assert_eq!(status, "warning", "{message}");
    assert!(message.contains(&staging[0]), "{message}");

    let out = run(&ca, &["-y", "restore", path_str(&backup)]);
    assert_code(&out, 0, "the next restore");
    assert!(
        !ca.path().join(&staging[0]).exists(),
        "the next restore removed {}",
        staging[0]
    );
    let (status, message) = doctor_check(&ca, "staging-leftovers");
    assert_eq!(status, "ok", "{message}");
}

#[test]
fn a_restored_ca_has_its_lock_file_and_read_only_commands_never_create_one() {
    let ca = p256_ca(&["QVS01"]);
    let backup = backup_to(&ca, "b.pfx");
    std::fs::remove_dir_all(ca.dir()).expect("wipe");
    let out = run(&ca, &["restore", path_str(&backup)]);
    assert_code(&out, 0, "restore into a missing dir");

    // The shipped backup unit makes <ca-dir>/.lock writable: it must exist, owner-only.
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/systemd/qvca-backup.service"),
    )
    .expect("unit");
    assert!(unit.contains("/.lock"), "the unit names the lock file");
    let lock = ca.dir().join(".lock");
    let meta = std::fs::symlink_metadata(&lock).expect("the restored CA has .lock");
    assert!(meta.is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let dir_mode = std::fs::metadata(ca.dir())
            .expect("dir")
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
    }

    // Read-only commands never create the lock file (a CA under ReadOnlyPaths has none to
    // create): list, show, verify, status, doctor.
    std::fs::remove_file(&lock).expect("rm .lock");
    let before = std::fs::read_dir(ca.dir()).expect("ls").count();
    for args in [
        vec!["list", "--all"],
        vec!["show", "QVS01"],
        vec!["verify"],
        vec!["status"],
        vec!["doctor"],
    ] {
        let out = run(&ca, &args);
        assert!(
            matches!(out.status.code(), Some(0 | 5)),
            "{args:?}: {}",
            describe(&out)
        );
        assert!(!lock.exists(), "{args:?} created {}", lock.display());
        assert_eq!(std::fs::read_dir(ca.dir()).expect("ls").count(), before);
    }
    // A command that changes the CA creates it again.
    let out = run(&ca, &["issue", "server", "QVS02", "--key-type", "p256"]);
    assert_code(&out, 0, "issue");
    assert!(lock.is_file());
}

#[test]
fn a_restore_into_a_non_empty_directory_that_is_not_a_ca_is_refused_and_moves_nothing() {
    let ca = p256_ca(&[]);
    let backup = backup_to(&ca, "b.pfx");
    let documents = ca.path().join("documents");
    std::fs::create_dir(&documents).expect("mkdir");
    std::fs::write(documents.join("thesis.odt"), b"years of work").expect("write");
    let names = scratch_names(&ca);
    for args in [vec!["restore"], vec!["-y", "restore", "--force"]] {
        let out = bare_qvca()
            .arg("--ca-dir")
            .arg(&documents)
            .arg("--password-file")
            .arg(ca.password_file())
            .arg("--pfx-password-file")
            .arg(pfx_password_file(&ca))
            .args(&args)
            .arg(&backup)
            .current_dir(ca.path())
            .output()
            .expect("run");
        assert_code(&out, 3, &format!("{args:?} into a folder of documents"));
        assert!(stderr(&out).contains("not empty"), "{}", describe(&out));
        assert_eq!(scratch_names(&ca), names, "{args:?} moved something");
        assert_eq!(
            std::fs::read(documents.join("thesis.odt")).expect("read"),
            b"years of work"
        );
        assert_eq!(std::fs::read_dir(&documents).expect("ls").count(), 1);
    }
}

// ---------------------------------------------------------------------------------------------
// Item 4: package --force replaces only a package

fn package(ca: &TestCa, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["--json", "package", "QVS01", "--out", path_str(out)];
    args.extend_from_slice(extra);
    run(ca, &args)
}

#[test]
fn package_force_replaces_only_a_package_and_keeps_the_old_one_aside() {
    let ca = p256_ca(&["QVS01"]);
    // A folder of documents is never replaced, not even with --force.
    let documents = ca.path().join("documents");
    std::fs::create_dir(&documents).expect("mkdir");
    std::fs::write(documents.join("thesis.odt"), b"years of work").expect("write");
    let names = scratch_names(&ca);
    let out = package(&ca, &documents, &["--force"]);
    assert_code(&out, 3, "package --force over a folder of documents");
    assert!(
        stderr(&out).contains("not a qvca package"),
        "{}",
        describe(&out)
    );
    assert_eq!(scratch_names(&ca), names, "nothing moved or left behind");
    assert_eq!(
        std::fs::read(documents.join("thesis.odt")).expect("read"),
        b"years of work"
    );

    // A package is replaced with --force, and the old one is kept aside, not deleted.
    let out_dir = ca.path().join("QVS01-package");
    assert_code(&package(&ca, &out_dir, &[]), 0, "package");
    let first_pfx = std::fs::read(out_dir.join("QVS01.pfx")).expect("pfx");
    assert_code(
        &package(&ca, &out_dir, &[]),
        3,
        "package again without --force",
    );
    let out = package(&ca, &out_dir, &["--force"]);
    assert_code(&out, 0, "package --force over a package");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let aside = PathBuf::from(
        report["replaced_package_moved_to"]
            .as_str()
            .unwrap_or_else(|| panic!("the report names where the old package went: {report}")),
    );
    assert_eq!(
        std::fs::read(aside.join("QVS01.pfx")).expect("old pfx"),
        first_pfx
    );
    assert!(out_dir.join("install.ps1").is_file());

    // A package the user added a document to is not a package any more.
    std::fs::write(out_dir.join("notes.txt"), b"mine").expect("write");
    let out = package(&ca, &out_dir, &["--force"]);
    assert_code(&out, 3, "package --force over a package with a user's file");
    assert_eq!(
        std::fs::read(out_dir.join("notes.txt")).expect("read"),
        b"mine"
    );
}

/// The process id the next process on this machine probably gets.
fn next_pid() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .expect("ns_last_pid")
        + 1
}

#[cfg(target_os = "linux")]
#[test]
fn a_planted_symlink_named_like_the_package_staging_dir_is_never_followed() {
    let ca = p256_ca(&["QVS01"]);
    let out_dir = ca.path().join("QVS01-package");
    let elsewhere = ca.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    // Plant `QVS01-package.tmp-<pid>` for every process id the run may get.
    let first = next_pid();
    let planted: Vec<u32> = (first..first + 3000).collect();
    for pid in &planted {
        std::os::unix::fs::symlink(
            &elsewhere,
            ca.path().join(format!("QVS01-package.tmp-{pid}")),
        )
        .expect("symlink");
    }
    let child = Command::new(env!("CARGO_BIN_EXE_qvca"))
        .arg("--ca-dir")
        .arg(ca.dir())
        .arg("--password-file")
        .arg(ca.password_file())
        .arg("--pfx-password-file")
        .arg(pfx_password_file(&ca))
        .args(["package", "QVS01", "--out", path_str(&out_dir)])
        .env_remove("QVCA_DIR")
        .env_remove("QVCA_PASSWORD")
        .env_remove("QVCA_PFX_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let out = child.wait_with_output().expect("wait");
    assert!(
        planted.contains(&pid),
        "qvca ran as pid {pid}, outside the planted range (the machine is too busy): rerun"
    );
    assert_code(&out, 3, "package with its staging name taken by a symlink");
    assert!(stderr(&out).contains(".tmp-"), "{}", describe(&out));
    assert_eq!(
        std::fs::read_dir(&elsewhere).expect("ls").count(),
        0,
        "nothing was written through the planted link"
    );
    assert!(!out_dir.exists());
}

// ---------------------------------------------------------------------------------------------
// Item 4: files the user named are replaced only with --force

#[test]
fn every_command_that_writes_a_named_file_refuses_to_replace_it_without_force() {
    let ca = p256_ca(&["QVS01"]);
    let old_backup = backup_to(&ca, "old.pfx");
    let plain = ca.path().join("plain.txt");
    std::fs::write(&plain, "Pwd=one\n").expect("write");
    let tokens = ca.path().join("tokens.txt");
    let out = run(
        &ca,
        &[
            "secrets",
            "encrypt",
            "--in",
            path_str(&plain),
            "--out",
            path_str(&tokens),
        ],
    );
    assert_code(&out, 0, "secrets encrypt into a new file");

    let target = ca.path().join("precious.txt");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("export root", vec!["export", "root"]),
        ("export root --der", vec!["export", "root", "--der"]),
        ("export pfx", vec!["export", "pfx", "QVS01"]),
        ("backup --out", vec!["backup"]),
        ("crl --out", vec!["crl"]),
        (
            "secrets encrypt",
            vec!["secrets", "encrypt", "--in", path_str(&plain)],
        ),
        (
            "secrets decrypt",
            vec!["secrets", "decrypt", "--in", path_str(&tokens)],
        ),
        (
            "secrets rewrap",
            vec![
                "secrets",
                "rewrap",
                "--from-backup",
                path_str(&old_backup),
                "--in",
                path_str(&tokens),
            ],
        ),
    ];
    for (what, args) in cases {
        std::fs::write(&target, b"the user's own file").expect("write");
        let mut refused = args.clone();
        refused.extend(["--out", path_str(&target)]);
        let out = run(&ca, &refused);
        assert_code(&out, 3, &format!("{what} over an existing file"));
        assert!(
            stderr(&out).contains("--force"),
            "{what}: {}",
            describe(&out)
        );
        assert_eq!(
            std::fs::read(&target).expect("read"),
            b"the user's own file",
            "{what} replaced the file without --force"
        );
        let mut forced = args.clone();
        forced.extend(["--force", "--out", path_str(&target)]);
        let out = run(&ca, &forced);
        assert_code(&out, 0, &format!("{what} --force"));
        assert_ne!(
            std::fs::read(&target).expect("read"),
            b"the user's own file"
        );
        std::fs::remove_file(&target).expect("rm");
    }

    // The CRL file the CA wrote last is its own: kept current without --force.
    let crl = ca.path().join("published.crl");
    for round in 1..=2 {
        let out = run(&ca, &["crl", "--out", path_str(&crl)]);
        assert_code(
            &out,
            0,
            &format!("crl --out to the CA's own CRL, round {round}"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Item 4: secrets rewrap --in-place through a link or on a hard-linked file

/// A CA whose root was replaced after `old.pfx` was made, and a token made under the old root.
fn rotated_ca_with_old_token() -> (TestCa, PathBuf, String) {
    let ca = p256_ca(&[]);
    let old_backup = backup_to(&ca, "old.pfx");
    let out = ca
        .qvca()
        .args(["secrets", "encrypt"])
        .write_stdin("Pwd=secret")
        .output()
        .expect("encrypt");
    assert_code(&out, 0, "encrypt");
    let token = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    let out = run(&ca, &["-y", "init", "--force", "--key-type", "p256"]);
    assert_code(&out, 0, "init --force");
    (ca, old_backup, token)
}

#[cfg(unix)]
#[test]
fn rewrap_in_place_through_a_symlink_rewrites_the_target_keeping_its_mode_and_owner() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let (ca, old_backup, token) = rotated_ca_with_old_token();
    let configs = ca.path().join("configs");
    std::fs::create_dir(&configs).expect("mkdir");
    let real = configs.join("app.ini");
    std::fs::write(&real, format!("[db]\nconn={token}\n")).expect("write");
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let is_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if is_root {
        std::os::unix::fs::chown(&real, Some(4321), Some(4322)).expect("chown");
    }
    let link = ca.path().join("app.ini");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");

    let out = run(
        &ca,
        &[
            "secrets",
            "rewrap",
            "--from-backup",
            path_str(&old_backup),
            "--in",
            path_str(&link),
            "--in-place",
        ],
    );
    assert_code(&out, 0, "rewrap --in-place through a link");
    let meta = std::fs::symlink_metadata(&link).expect("link");
    assert!(meta.file_type().is_symlink(), "the link is still a link");
    let text = std::fs::read_to_string(&real).expect("read");
    assert!(!text.contains(&token), "the target was rewritten: {text}");
    assert!(text.starts_with("[db]\nconn=qvca:v1:"), "{text}");
    let meta = std::fs::metadata(&real).expect("meta");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    if is_root {
        assert_eq!(
            (meta.uid(), meta.gid()),
            (4321, 4322),
            "owner and group kept"
        );
    }
    // The rewrapped token decrypts under the current root.
    let new_token = text.trim().strip_prefix("[db]\nconn=").expect("token");
    let out = ca
        .qvca()
        .args(["secrets", "decrypt"])
        .write_stdin(new_token)
        .output()
        .expect("decrypt");
    assert_code(&out, 0, "decrypt");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Pwd=secret");
}

#[cfg(unix)]
#[test]
fn rewrap_in_place_of_a_hard_linked_file_is_refused_unless_forced_and_then_says_so() {
    let (ca, old_backup, token) = rotated_ca_with_old_token();
    let file = ca.path().join("app.ini");
    let other = ca.path().join("app-copy.ini");
    let original = format!("conn={token}\n");
    std::fs::write(&file, &original).expect("write");
    std::fs::hard_link(&file, &other).expect("hard link");
    let args = [
        "secrets",
        "rewrap",
        "--from-backup",
        path_str(&old_backup),
        "--in",
        path_str(&file),
        "--in-place",
    ];
    let out = run(&ca, &args);
    assert_code(&out, 3, "rewrap --in-place of a hard-linked file");
    assert!(stderr(&out).contains("hard link"), "{}", describe(&out));
    assert_eq!(std::fs::read_to_string(&file).expect("read"), original);

    let mut forced = args.to_vec();
    forced.push("--force");
    let out = run(&ca, &forced);
    assert_code(&out, 0, "rewrap --in-place --force of a hard-linked file");
    assert!(
        stderr(&out).contains("hard link"),
        "it says so: {}",
        describe(&out)
    );
    assert_ne!(std::fs::read_to_string(&file).expect("read"), original);
    assert_eq!(
        std::fs::read_to_string(&other).expect("read"),
        original,
        "the other name keeps the old contents, as the warning says"
    );
}

// ---------------------------------------------------------------------------------------------
// Item 4: backup --keep prunes only this CA's backups

/// `qvca --json backup --dir DIR --keep N`: the report.
fn backup_keep(ca: &TestCa, dir: &Path, keep: &str) -> Value {
    let out = run(
        ca,
        &["--json", "backup", "--dir", path_str(dir), "--keep", keep],
    );
    assert_code(&out, 0, "backup --keep");
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn file_names(values: &Value) -> Vec<String> {
    let mut names: Vec<String> = values
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    Path::new(p.as_str().expect("path"))
                        .file_name()
                        .expect("name")
                        .to_string_lossy()
                        .into_owned()
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn keep_never_deletes_real_backups_because_of_planted_far_future_files() {
    let ca = p256_ca(&["QVS01"]);
    let dir = ca.path().join("backups");
    let first = PathBuf::from(backup_keep(&ca, &dir, "5")["file"].as_str().expect("file"));
    let second = PathBuf::from(backup_keep(&ca, &dir, "5")["file"].as_str().expect("file"));

    // Another CA's genuine backup under the same password, and garbage, all named as if made
    // in 2091: by name alone they are the newest backups.
    let other = p256_ca(&[]);
    std::fs::write(
        other.path().join("pfx-password.txt"),
        format!("{PFX_PASSWORD}\n"),
    )
    .expect("write");
    let other_backup = std::fs::read(backup_to(&other, "other.pfx")).expect("read");
    let planted = [
        (
            "qvca-backup-20910101T000000Z.pfx",
            b"not a backup at all".to_vec(),
        ),
        ("qvca-backup-20910102T000000Z.pfx", other_backup),
        ("qvca-backup-20910103T000000Z-2.pfx", Vec::new()),
    ];
    for (name, bytes) in &planted {
        std::fs::write(dir.join(name), bytes).expect("plant");
    }

    let report = backup_keep(&ca, &dir, "2");
    let third = PathBuf::from(report["file"].as_str().expect("file"));
    assert_eq!(
        file_names(&report["pruned"]),
        vec![
            first
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned()
        ],
        "only the oldest real backup goes: {report}"
    );
    let mut planted_names: Vec<String> = planted.iter().map(|(n, _)| (*n).to_owned()).collect();
    planted_names.sort();
    assert_eq!(
        file_names(&report["not_recognised"]),
        planted_names,
        "{report}"
    );
    assert!(
        second.is_file() && third.is_file(),
        "the two newest real backups stay"
    );
    for (name, bytes) in &planted {
        assert_eq!(
            &std::fs::read(dir.join(name)).expect("read"),
            bytes,
            "{name}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Item 8: no symbolic link inside the CA directory is followed out of it

/// Every file below `dir` (names relative to it).
fn tree(dir: &Path) -> Vec<String> {
    crate::support::snapshot(dir)
        .into_iter()
        .map(|(p, _)| p.strip_prefix(dir).expect("below").display().to_string())
        .collect()
}

#[cfg(unix)]
#[test]
fn symlinks_inside_the_ca_dir_are_refused_naming_the_path_and_never_followed() {
    let ca = p256_ca(&["QVS01"]);
    let outside = ca.path().join("outside");
    std::fs::create_dir(&outside).expect("mkdir");

    // keys/ and certs/ moved out of the CA and linked back in.
    for dir in ["keys", "certs"] {
        let inside = ca.dir().join(dir);
        let moved = outside.join(dir);
        std::fs::rename(&inside, &moved).expect("move out");
        std::os::unix::fs::symlink(&moved, &inside).expect("symlink");
        let before = tree(&moved);
        let mut cases = vec![
            (vec!["issue", "server", "NEW01", "--key-type", "p256"], 1),
            (vec!["doctor"], 5),
        ];
        if dir == "certs" {
            cases.push((vec!["show", "QVS01"], 1));
        }
        for (args, code) in cases {
            let out = run(&ca, &args);
            assert_code(&out, code, &format!("{args:?} with {dir} a symbolic link"));
            let text = format!("{}{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
            assert!(
                text.contains("symbolic link") && text.contains(path_str(&inside)),
                "{args:?} names {}: {}",
                inside.display(),
                describe(&out)
            );
        }
        assert_eq!(tree(&moved), before, "nothing was written through {dir}");
        std::fs::remove_file(&inside).expect("rm link");
        std::fs::rename(&moved, &inside).expect("move back");
    }

    // The lock file and the index.
    let before = ca.snapshot();
    for (file, args) in [
        (
            ".lock",
            vec!["issue", "server", "NEW02", "--key-type", "p256"],
        ),
        ("index.json", vec!["list"]),
    ] {
        let inside = ca.dir().join(file);
        let moved = outside.join(file);
        if inside.exists() {
            std::fs::rename(&inside, &moved).expect("move out");
        } else {
            std::fs::write(&moved, b"").expect("write");
        }
        std::os::unix::fs::symlink(&moved, &inside).expect("symlink");
        let out = run(&ca, &args);
        assert_code(&out, 1, &format!("{args:?} with {file} a symbolic link"));
        assert!(
            stderr(&out).contains("symbolic link") && stderr(&out).contains(path_str(&inside)),
            "{}",
            describe(&out)
        );
        std::fs::remove_file(&inside).expect("rm link");
        std::fs::rename(&moved, &inside).expect("move back");
    }
    assert_eq!(ca.snapshot(), before, "nothing changed");
}

#[cfg(target_os = "linux")]
#[test]
fn a_ca_restored_by_root_over_a_service_accounts_ca_keeps_that_accounts_ownership() {
    use std::os::unix::fs::MetadataExt;
    if !std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        return; // only root can hand files to another account
    }
    let ca = p256_ca(&["QVS01"]);
    let backup = backup_to(&ca, "b.pfx");
    // The CA belongs to the account the backup unit runs as (User=qvca).
    let status = Command::new("chown")
        .args(["-R", "4321:4322"])
        .arg(ca.dir())
        .status()
        .expect("chown");
    assert!(status.success());
    let out = run(&ca, &["-y", "restore", path_str(&backup)]);
    assert_code(&out, 0, "restore by root");
    let mut paths = vec![ca.dir(), ca.dir().join(".lock")];
    paths.extend(
        crate::support::snapshot(&ca.dir())
            .into_iter()
            .map(|(p, _)| p),
    );
    for path in paths {
        let meta = std::fs::symlink_metadata(&path).expect("meta");
        assert_eq!(
            (meta.uid(), meta.gid()),
            (4321, 4322),
            "{} belongs to the CA's account",
            path.display()
        );
    }
}

#[test]
fn keep_ranks_backups_by_the_time_inside_them_not_by_a_planted_file_name() {
    let ca = p256_ca(&["QVS01"]);
    let dir = ca.path().join("bk");
    let backup = || {
        let out = run(&ca, &["--json", "backup", "--dir", path_str(&dir)]);
        assert_code(&out, 0, "backup");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        PathBuf::from(report["file"].as_str().expect("file"))
    };
    let first = backup();
    let old_copy = std::fs::read(&first).expect("read");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ca.qvca()
        .args(["issue", "server", "QVS02", "--key-type", "p256"])
        .assert()
        .success();
    let second = backup();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // A genuine but old backup copied under a far-future name (write access, no password).
    let planted = dir.join("qvca-backup-20910101T000000Z.pfx");
    std::fs::write(&planted, &old_copy).expect("plant");
    let out = run(
        &ca,
        &["--json", "backup", "--dir", path_str(&dir), "--keep", "2"],
    );
    assert_code(&out, 0, "backup --keep 2");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let newest = PathBuf::from(report["file"].as_str().expect("file"));
    assert!(
        newest.exists() && second.exists(),
        "the two newest backups stay: {report}"
    );
    assert!(
        !planted.exists(),
        "the old copy under a future name goes first: {report}"
    );
    assert!(!first.exists(), "{report}");
}
