//! Several qvca processes on one CA at once: writers serialize on the CA lock and every
//! issued certificate reaches the index; readers never see a torn index.

use crate::support::{TestCa, describe, protected_ca, qvca_process};
use std::collections::HashSet;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

/// `qvca --ca-dir DIR --password-file FILE ARGS...` as a plain process (not yet started).
fn qvca(ca: &TestCa, args: &[&str]) -> Command {
    let mut command = qvca_process();
    command
        .arg("--ca-dir")
        .arg(ca.dir())
        .arg("--password-file")
        .arg(ca.password_file())
        .args(args)
        .current_dir(ca.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Starts `qvca issue server NAME --json` for every name, all before waiting for any.
fn start_issuers(ca: &TestCa, names: &[String]) -> Vec<Child> {
    names
        .iter()
        .map(|name| {
            qvca(
                ca,
                &[
                    "--json",
                    "issue",
                    "server",
                    name,
                    "--key-type",
                    "p256",
                    "--jobs",
                    "1",
                ],
            )
            .spawn()
            .expect("spawn qvca")
        })
        .collect()
}

/// Waits for a process and describes how it ended.
fn wait(child: Child) -> Output {
    child.wait_with_output().expect("wait for qvca")
}

/// The serials the `issue --json` reports of successful runs name as issued.
fn issued_serials(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .flat_map(|output| {
            let report: serde_json::Value =
                serde_json::from_slice(&output.stdout).expect("issue --json output");
            report["results"]
                .as_array()
                .expect("results")
                .iter()
                .filter(|r| r["outcome"] == "issued")
                .map(|r| r["serial"].as_str().expect("serial").to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// (kind, name, serial) of every index entry.
fn index_entries(ca: &TestCa) -> Vec<(String, String, String)> {
    ca.index()["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .map(|e| {
            let field = |k: &str| e[k].as_str().expect("string field").to_owned();
            (field("kind"), field("name"), field("serial"))
        })
        .collect()
}

#[test]
fn sixteen_parallel_issuers_all_succeed_and_every_certificate_reaches_the_index() {
    let ca = protected_ca();
    let names: Vec<String> = (1..=16).map(|i| format!("NODE{i}")).collect();
    let outputs: Vec<Output> = start_issuers(&ca, &names).into_iter().map(wait).collect();
    for output in &outputs {
        assert!(output.status.success(), "{}", describe(output));
    }

    let serials = issued_serials(&outputs);
    assert_eq!(serials.len(), 16, "one issued certificate per process");
    let distinct: HashSet<&String> = serials.iter().collect();
    assert_eq!(distinct.len(), 16, "16 distinct serials: {serials:?}");

    let entries = index_entries(&ca);
    assert_eq!(entries.len(), 17, "16 servers and the root: {entries:?}");
    assert_eq!(entries.iter().filter(|e| e.0 == "root").count(), 1);
    let indexed: HashSet<String> = entries
        .iter()
        .filter(|e| e.0 == "server")
        .map(|e| e.1.clone())
        .collect();
    let expected: HashSet<String> = names.iter().cloned().collect();
    assert_eq!(
        indexed, expected,
        "every machine is in the index exactly once"
    );
    let indexed_serials: HashSet<&String> = entries.iter().map(|e| &e.2).collect();
    for serial in &serials {
        assert!(indexed_serials.contains(serial), "{serial} is in the index");
        assert!(
            ca.dir()
                .join("certs")
                .join(format!("{serial}.pem"))
                .is_file(),
            "{serial} has its certificate file"
        );
        assert!(
            ca.dir()
                .join("keys")
                .join(format!("{serial}.pem"))
                .is_file(),
            "{serial} has its key file"
        );
    }

    let verify = qvca(&ca, &["verify"]).output().expect("verify");
    assert_eq!(verify.status.code(), Some(0), "{}", describe(&verify));
}

#[test]
fn sixteen_parallel_issuers_of_one_machine_issue_it_exactly_once() {
    let ca = protected_ca();
    let names = vec!["QVS01".to_owned(); 16];
    let outputs: Vec<Output> = start_issuers(&ca, &names).into_iter().map(wait).collect();
    let codes: Vec<Option<i32>> = outputs.iter().map(|o| o.status.code()).collect();
    assert_eq!(
        codes.iter().filter(|c| **c == Some(0)).count(),
        1,
        "exactly one process issues: {codes:?}"
    );
    assert_eq!(
        codes.iter().filter(|c| **c == Some(3)).count(),
        15,
        "the others find the valid certificate and keep it (exit 3): {codes:?}"
    );
    assert_eq!(issued_serials(&outputs).len(), 1);
    let servers = index_entries(&ca)
        .into_iter()
        .filter(|e| e.0 == "server")
        .count();
    assert_eq!(servers, 1, "one Server certificate for QVS01");
}

#[test]
fn readers_listing_while_eight_issuers_write_always_see_a_complete_index() {
    let ca = protected_ca();
    let names: Vec<String> = (1..=8).map(|i| format!("NODE{i}")).collect();
    let writing = AtomicBool::new(true);

    let (issuers, reads) = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let mut outputs = Vec::new();
                    // At least one read each; keep reading while the issuers write.
                    loop {
                        outputs.push(qvca(&ca, &["list", "--json"]).output().expect("list"));
                        if !writing.load(Ordering::SeqCst) {
                            break;
                        }
                    }
                    outputs
                })
            })
            .collect();
        let issuers: Vec<Output> = start_issuers(&ca, &names).into_iter().map(wait).collect();
        writing.store(false, Ordering::SeqCst);
        let reads: Vec<Output> = readers
            .into_iter()
            .flat_map(|r| r.join().expect("reader thread"))
            .collect();
        (issuers, reads)
    });

    for output in &issuers {
        assert!(output.status.success(), "{}", describe(output));
    }
    assert!(reads.len() >= 8);
    for output in &reads {
        assert!(output.status.success(), "{}", describe(output));
        let listing: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("list --json is JSON ({e}): {}", describe(output)));
        let rows = listing["certificates"].as_array().expect("certificates");
        assert!(
            rows.iter().any(|r| r["kind"] == "root"),
            "every listing shows the root: {listing}"
        );
        assert!(rows.len() <= 9, "at most the root and 8 servers");
    }
    let finished = ca.json(&["list"]);
    assert_eq!(
        finished["certificates"]
            .as_array()
            .expect("certificates")
            .len(),
        9,
        "the root and 8 servers"
    );
}

#[test]
fn parallel_inits_of_one_directory_create_exactly_one_ca() {
    let ca = TestCa::new();
    let children: Vec<Child> = (0..8)
        .map(|_| {
            qvca(&ca, &["init", "--no-password", "--key-type", "p256"])
                .spawn()
                .expect("spawn qvca")
        })
        .collect();
    let outputs: Vec<Output> = children.into_iter().map(wait).collect();
    let codes: Vec<Option<i32>> = outputs.iter().map(|o| o.status.code()).collect();
    assert_eq!(
        codes.iter().filter(|c| **c == Some(0)).count(),
        1,
        "one init wins: {codes:?}"
    );
    assert_eq!(
        codes.iter().filter(|c| **c == Some(3)).count(),
        7,
        "the others refuse (exit 3): {codes:?}\n{}",
        outputs.iter().map(describe).collect::<Vec<_>>().join("\n")
    );
    let entries = index_entries(&ca);
    assert_eq!(entries.len(), 1, "one root: {entries:?}");
    let files = std::fs::read_dir(ca.dir().join("certs"))
        .expect("certs")
        .count();
    assert_eq!(files, 1, "no stray root certificates from the losers");
    let verify = qvca(&ca, &["verify"]).output().expect("verify");
    assert_eq!(verify.status.code(), Some(0), "{}", describe(&verify));
}

#[test]
fn parallel_setups_of_a_new_ca_all_succeed_like_reruns() {
    let ca = TestCa::new();
    let children: Vec<Child> = (0..4)
        .map(|_| qvca(&ca, &["setup", "QVS01"]).spawn().expect("spawn qvca"))
        .collect();
    let outputs: Vec<Output> = children.into_iter().map(wait).collect();
    for output in &outputs {
        assert_eq!(output.status.code(), Some(0), "{}", describe(output));
    }
    let entries = index_entries(&ca);
    assert_eq!(
        entries.len(),
        3,
        "one root, one QVS01, one QVProxy: {entries:?}"
    );
}

#[test]
fn a_mixed_crowd_of_issuers_revokers_backups_and_crls_loses_no_update() {
    let ca = protected_ca();
    ca.qvca()
        .args([
            "issue",
            "server",
            "OLD01",
            "OLD02",
            "OLD03",
            "OLD04",
            "--key-type",
            "p256",
        ])
        .assert()
        .success();
    std::fs::write(ca.path().join("pfx.txt"), "crowd-pfx-pass\n").expect("write");
    let pfx = ca.path().join("pfx.txt");
    let backups = ca.path().join("backups");
    let mut children = Vec::new();
    for i in 0..6 {
        let name = format!("NEW{i:02}");
        children.push((
            "issue",
            qvca(&ca, &["issue", "server", &name, "--key-type", "p256"])
                .spawn()
                .expect("spawn"),
        ));
    }
    for old in ["OLD01", "OLD02", "OLD03", "OLD04"] {
        children.push((
            "revoke",
            qvca(&ca, &["-y", "revoke", old, "--reason", "superseded"])
                .spawn()
                .expect("spawn"),
        ));
    }
    for _ in 0..3 {
        children.push(("crl", qvca(&ca, &["crl"]).spawn().expect("spawn")));
        let mut backup = qvca(&ca, &["backup", "--dir", backups.to_str().expect("utf-8")]);
        backup.arg("--pfx-password-file").arg(&pfx);
        children.push(("backup", backup.spawn().expect("spawn")));
        children.push((
            "list",
            qvca(&ca, &["--json", "list", "--all"])
                .spawn()
                .expect("spawn"),
        ));
    }
    for (what, child) in children {
        let out = wait(child);
        assert!(out.status.success(), "{what}: {}", describe(&out));
        if what == "list" {
            serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .expect("a complete index, never a torn one");
        }
    }
    let index = ca.index();
    let entries = index["certificates"].as_array().expect("certificates");
    let named = |prefix: &str, status: &str| {
        entries
            .iter()
            .filter(|e| {
                e["name"].as_str().is_some_and(|n| n.starts_with(prefix)) && e["status"] == status
            })
            .count()
    };
    assert_eq!(
        named("NEW", "active"),
        6,
        "every issuance reached the index"
    );
    assert_eq!(
        named("OLD", "revoked"),
        4,
        "every revocation reached the index"
    );
    assert_eq!(index["crl_number"], 3, "three CRLs, three numbers");
    // The last CRL lists every revocation that happened before it; the final state verifies.
    ca.qvca().args(["crl"]).assert().success();
    let crl = std::fs::read_to_string(ca.dir().join("crl.pem")).expect("crl");
    assert!(crl.contains("BEGIN X509 CRL"));
    ca.qvca().arg("verify").assert().success();
    for backup in std::fs::read_dir(&backups).expect("backups").flatten() {
        ca.qvca()
            .arg("--pfx-password-file")
            .arg(&pfx)
            .args(["backup", "verify"])
            .arg(backup.path())
            .assert()
            .success();
    }
}

#[test]
fn a_process_that_waits_too_long_for_the_lock_says_the_ca_is_busy() {
    let ca = protected_ca();
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(ca.dir().join(".lock"))
        .expect("lock file");
    lock.lock().expect("hold the CA lock");
    let started = std::time::Instant::now();
    let out = qvca(&ca, &["issue", "server", "BUSY01", "--key-type", "p256"])
        .env("QVCA_LOCK_TIMEOUT", "1")
        .output()
        .expect("run");
    let waited = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("busy"),
        "{}",
        describe(&out)
    );
    assert!(
        waited < std::time::Duration::from_secs(30),
        "it gave up after the timeout, not never"
    );
    // Readers do not need the lock.
    qvca(&ca, &["list"])
        .output()
        .map(|o| assert!(o.status.success()))
        .expect("list");
    lock.unlock().expect("unlock");
    qvca(&ca, &["issue", "server", "BUSY01", "--key-type", "p256"])
        .output()
        .map(|o| assert!(o.status.success(), "{}", describe(&o)))
        .expect("run");
}

#[test]
fn a_process_waiting_for_the_lock_says_so_naming_the_holder_and_the_timeout() {
    let ca = crate::support::p256_ca(&[]);
    let lock = ca.dir().join(".lock");
    std::fs::write(&lock, b"").ok();
    let mut holder = std::process::Command::new("flock")
        .arg(&lock)
        .args(["sleep", "3"])
        .spawn()
        .expect("flock (util-linux)");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = ca
        .qvca()
        .env("QVCA_LOCK_TIMEOUT", "20")
        .args(["issue", "server", "QVS07", "--key-type", "p256"])
        .output()
        .expect("run");
    let _ = holder.wait();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("waiting for another qvca (pid "), "{err}");
    assert!(err.contains("giving up after 20 s"), "{err}");
}
