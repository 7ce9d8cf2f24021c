//! The file-system side of the trust boundary (issue 11, items 3, 4 and 8): one lock that holds
//! across restore and `init --force`; nothing outside qvca's own output deleted, followed or
//! replaced by surprise; leftovers of killed runs reported and cleaned up; no symlink inside the
//! CA directory followed out of it.

use crate::support::{TestCa, bare_qvca};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The backup password.
const PFX_PASSWORD: &str = "trust fs backup pass";

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// The file holding the backup password.
fn pfx_password_file(ca: &TestCa) -> PathBuf {
    let path = ca.path().join("pfx-password.txt");
    if !path.exists() {
        std::fs::write(&path, format!("{PFX_PASSWORD}\n")).expect("write");
    }
    path
}

/// A CA with a password and P-256 keys: the root, the given servers and QVProxy.
fn p256_ca(servers: &[&str]) -> TestCa {
    let ca = TestCa::new();
    ca.qvca()
        .args(["init", "--key-type", "p256"])
        .assert()
        .success();
    if !servers.is_empty() {
        ca.qvca()
            .args(["issue", "server"])
            .args(servers)
            .args(["--key-type", "p256"])
            .assert()
            .success();
    }
    ca.qvca()
        .args(["issue", "client", "--key-type", "p256"])
        .assert()
        .success();
    ca
}

/// Runs qvca with the CA and backup passwords; stdin is empty (no terminal).
fn run(ca: &TestCa, args: &[&str]) -> Output {
    ca.qvca()
        .arg("--pfx-password-file")
        .arg(pfx_password_file(ca))
        .args(args)
        .output()
        .expect("run qvca")
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts an exit code and that nothing panicked.
fn assert_code(out: &Output, code: i32, what: &str) {
    assert_eq!(out.status.code(), Some(code), "{what}: {}", describe(out));
    assert!(
        !stderr(out).contains("panicked"),
        "{what}: {}",
        describe(out)
    );
}

/// A backup of the CA at `<scratch>/<name>`.
fn backup_to(ca: &TestCa, name: &str) -> PathBuf {
    let file = ca.path().join(name);
    let out = run(ca, &["backup", "--out", path_str(&file)]);
    assert_code(&out, 0, "backup");
    file
}

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

/// A qvca process the test can pause at named points (test-hooks: QVCA_TEST_PAUSE_AT).
struct Paused {
    child: Child,
    dir: tempfile::TempDir,
}

impl Paused {
    /// Starts `qvca ARGS` pausing at each of `points`.
    fn start(ca: &TestCa, points: &[&str], args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("pause dir");
        let mut command = Command::new(env!("CARGO_BIN_EXE_qvca"));
        for var in [
            "QVCA_DIR",
            "QVCA_PASSWORD",
            "QVCA_PFX_PASSWORD",
            "XDG_DATA_HOME",
        ] {
            command.env_remove(var);
        }
        let child = command
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

/// True once process `pid` has the file `path` open (it then waits on that lock file).
fn has_open(pid: u32, path: &Path) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .any(|target| target == path)
}

#[test]
fn an_issue_waiting_on_a_restore_and_one_started_after_its_swap_both_reach_the_index() {
    let ca = p256_ca(&["QVS01"]);
    let backup = backup_to(&ca, "before.pfx");
    let lock = std::fs::canonicalize(ca.dir())
        .expect("ca dir")
        .join(".lock");

    // The restore holds the CA lock with the new CA built, before swapping it in.
    let mut restore = Paused::start(
        &ca,
        &["restore-before-swap", "restore-after-swap"],
        &["-y", "restore", path_str(&backup)],
    );
    restore.wait_paused("restore-before-swap");

    // An issue queues on the lock of the CA that is about to be replaced.
    let mut waiting = Paused::start(
        &ca,
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

    // The restore swaps; another issue starts on the swapped-in CA and stops before its commit.
    restore.resume("restore-before-swap");
    restore.wait_paused("restore-after-swap");
    let mut late = Paused::start(
        &ca,
        &["before-index-commit"],
        &["issue", "server", "LATE", "--key-type", "p256"],
    );
    std::thread::sleep(Duration::from_millis(1500));

    // The restore finishes. Let the waiting issue run (if it can) before the late one commits.
    restore.resume("restore-after-swap");
    let restored = restore.finish();
    assert_code(&restored, 0, "restore");
    let started = Instant::now();
    while !waiting.has_exited() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    late.resume("before-index-commit");
    let late = late.finish();
    let waiting = waiting.finish();
    assert_code(&waiting, 0, "the issue that waited on the restore");
    assert_code(&late, 0, "the issue started after the swap");

    let names = index_names(&ca);
    for name in ["WAITER", "LATE", "QVS01", "QVProxy"] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} is missing from the index after the restore: {names:?}"
        );
    }
    // And every certificate the index names is there; the CA is healthy.
    let out = run(&ca, &["--json", "verify"]);
    assert_code(&out, 0, "verify");
}
