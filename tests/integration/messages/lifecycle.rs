//! docs/bad-input.md, "License keys, revocation, usage", "Everyday slips (issue 14)", "Issue 11,
//! items 6 and 7: revocation never goes backwards; one confirmation" and "Issue 14: the
//! operations log (`qvca log`)".
//!
//! Not pinned here:
//! - a serial prefix several serials share: serials are random, so two that share eight hex
//!   digits cannot be made from the command line (the lib test of `by_serial_prefix` pins it);
//! - answering no at a confirmation on a terminal (terminal.rs drives a pseudo-terminal).

use super::{pin, pin_text, transcript};
use crate::support::{TestCa, p256_ca, path_str, pfx_password_file};
use crate::trust_revocation::{make_crl_unreadable, stale_crl};
use std::path::PathBuf;

/// `qvca` on `ca` with the PFX password file too.
fn qvca(ca: &TestCa) -> assert_cmd::Command {
    let mut cmd = ca.qvca();
    cmd.arg("--pfx-password-file").arg(pfx_password_file(ca));
    cmd
}

/// The serial of the newest entry named `name`.
fn serial_of(ca: &TestCa, name: &str) -> String {
    ca.index()["certificates"]
        .as_array()
        .expect("entries")
        .iter()
        .rev()
        .find(|e| e["name"] == name)
        .and_then(|e| e["serial"].as_str())
        .expect("serial")
        .to_owned()
}

/// The certificate file of the newest entry named `name` in the CA directory.
fn cert_file(ca: &TestCa, name: &str) -> PathBuf {
    ca.dir()
        .join("certs")
        .join(format!("{}.pem", serial_of(ca, name)))
}

/// A backup of `ca` named `name`.
fn backup(ca: &TestCa, name: &str) -> PathBuf {
    let file = ca.path().join(name);
    qvca(ca)
        .args(["backup", "--out", path_str(&file)])
        .assert()
        .success();
    file
}

#[test]
fn license_keys() {
    let ca = TestCa::new();
    for (case, key) in [
        ("license_garbage", "garbage"),
        ("license_two_parts", "eyJhbGciOiJSUzI1NiJ9.eyJqdGkiOiJ4In0"),
        ("license_header_not_base64url", "***.eyJqdGkiOiJ4In0.c2ln"),
        (
            "license_header_not_json",
            "bm90IGpzb24.eyJqdGkiOiJ4In0.c2ln",
        ),
        (
            "license_claims_not_json",
            "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln",
        ),
    ] {
        pin!(case, ca.qvca().args(["license", "inspect", key]));
    }
}

#[test]
fn revocation_and_usage() {
    let ca = p256_ca(&["QVS01", "QVS02"]);
    pin!(
        "revoke_the_root",
        qvca(&ca).args(["-y", "revoke", "QlikViewCA"])
    );
    pin!(
        "revoke_unknown_reason",
        qvca(&ca).args(["-y", "revoke", "QVS01", "--reason", "because"])
    );
    pin!(
        "revoke_unknown_name",
        qvca(&ca).args(["-y", "revoke", "NOSUCH"])
    );
    pin!("show_unknown_name", qvca(&ca).args(["show", "NOSUCH"]));
    pin!("show_short_serial_prefix", qvca(&ca).args(["show", "ABC"]));
    pin!(
        "renew_root_without_root_flag",
        qvca(&ca).args(["renew", "QlikViewCA"])
    );
    let existing = ca.path().join("existing.pfx");
    std::fs::write(&existing, "x").expect("write");
    pin!(
        "export_over_existing_file",
        qvca(&ca).args(["export", "pfx", "QVS01", "--out", path_str(&existing)])
    );
    let folder = ca.path().join("QVS01-package");
    std::fs::create_dir(&folder).expect("mkdir");
    pin!(
        "package_over_existing_folder",
        qvca(&ca).args(["package", "QVS01", "--out", path_str(&folder)])
    );
    let out = ca.path().join("QVS09-package");
    pin!(
        "package_machine_without_certificate",
        qvca(&ca).args(["package", "QVS09", "--out", path_str(&out)])
    );
    pin!(
        "export_cert_der_chain",
        qvca(&ca).args(["export", "cert", "QVS01", "--der", "--chain"])
    );
    pin!("man_nonsense", qvca(&ca).args(["man", "nonsense"]));
    pin!("issue_machine_name", qvca(&ca).args(["issue", "QVS01"]));
    pin!(
        "json_unknown_command",
        qvca(&ca).args(["--json", "frobnicate"])
    );
    pin!(
        "list_kind_nonsense",
        qvca(&ca).args(["list", "--kind", "nonsense"])
    );
    pin!(
        "list_status_nonsense",
        qvca(&ca).args(["list", "--status", "nonsense"])
    );
    for (case, args) in [
        ("usage_unknown_global_flag", &["--frobnicate", "list"][..]),
        ("usage_unknown_flag", &["list", "--frobnicate"][..]),
        ("usage_issue_server_without_names", &["issue", "server"][..]),
        ("usage_issue_without_kind", &["issue"][..]),
        (
            "usage_unknown_key_type",
            &["issue", "server", "QVS01", "--key-type", "dsa1024"][..],
        ),
        (
            "usage_zero_days",
            &["issue", "server", "QVS01", "--days", "0"][..],
        ),
    ] {
        pin!(case, qvca(&ca).args(args));
    }
    pin!("usage_no_arguments", &mut crate::support::bare_qvca());

    // stdout that cannot be written.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' --ca-dir '{}' --password-file '{}' list > /dev/full",
            env!("CARGO_BIN_EXE_qvca"),
            ca.dir().display(),
            ca.password_file().display()
        ))
        .output()
        .expect("run");
    pin_text!(
        "stdout_dev_full",
        &transcript("qvca --ca-dir [TMP]/ca list > /dev/full", &out)
    );

    // Twice revoked, and a revoked certificate exported.
    qvca(&ca)
        .args(["-y", "revoke", "QVS02", "--reason", "keyCompromise"])
        .assert()
        .success();
    pin!("revoke_twice", qvca(&ca).args(["-y", "revoke", "QVS02"]));
    let pfx = ca.path().join("QVS02.pfx");
    pin!(
        "export_revoked",
        qvca(&ca).args(["export", "pfx", "QVS02", "--out", path_str(&pfx)])
    );
}

#[test]
fn waiting_for_the_lock() {
    let ca = p256_ca(&[]);
    let lock = ca.dir().join(".lock");
    std::fs::write(&lock, b"").ok();
    let mut holder = std::process::Command::new("flock")
        .arg(&lock)
        .args(["sleep", "5"])
        .spawn()
        .expect("flock (util-linux)");
    std::thread::sleep(std::time::Duration::from_millis(300));
    pin!(
        "waiting_for_the_lock",
        ca.qvca().env("QVCA_LOCK_TIMEOUT", "20").args([
            "issue",
            "server",
            "QVS07",
            "--key-type",
            "p256"
        ])
    );
    let _ = holder.wait();
}

#[test]
fn revocation_never_goes_backwards() {
    let ca = p256_ca(&["QVS01", "QVS02"]);
    let old = backup(&ca, "old.pfx");
    qvca(&ca)
        .args(["-y", "revoke", "QVS01", "--reason", "keyCompromise"])
        .assert()
        .success();
    qvca(&ca)
        .args(["issue", "server", "QVS03", "--key-type", "p256"])
        .assert()
        .success();
    qvca(&ca)
        .args(["-y", "revoke", "QVS03", "--reason", "cessationOfOperation"])
        .assert()
        .success();
    pin!(
        "restore_would_unrevoke",
        qvca(&ca).args(["-y", "restore", path_str(&old)])
    );
    pin!(
        "restore_would_unrevoke_dry_run",
        qvca(&ca).args(["restore", "--dry-run", path_str(&old)])
    );

    // The CRL number: an older backup after three CRLs (no revocation in between).
    let ca = p256_ca(&["QVS01"]);
    qvca(&ca).arg("crl").assert().success();
    let old = backup(&ca, "old.pfx");
    for _ in 0..3 {
        qvca(&ca).arg("crl").assert().success();
    }
    pin!(
        "restore_lower_crl_number",
        qvca(&ca).args(["-y", "restore", path_str(&old)])
    );
}

#[test]
fn crls_that_cannot_be_used() {
    let ca = p256_ca(&["QVS01"]);
    qvca(&ca).arg("crl").assert().success();
    let valid = cert_file(&ca, "QVS01");
    let stale = stale_crl(&ca);
    pin!(
        "verify_crl_past_next_update",
        qvca(&ca).args(["verify", "--crl", path_str(&stale), path_str(&valid)])
    );
    let own = ca.dir().join("crl.pem");
    let saved = std::fs::read(&own).expect("crl");
    std::fs::copy(&stale, &own).expect("copy");
    pin!(
        "verify_cas_crl_past_next_update",
        qvca(&ca).args(["verify", path_str(&valid)])
    );
    std::fs::write(&own, saved).expect("put back");
    make_crl_unreadable(&ca);
    pin!(
        "verify_cas_crl_unreadable",
        qvca(&ca).args(["verify", path_str(&valid)])
    );
    let backups = ca.path().join("backups");
    pin!(
        "backup_crl_unreadable",
        qvca(&ca).args(["backup", "--dir", path_str(&backups)])
    );
}

#[test]
fn confirmations_without_a_terminal() {
    let ca = p256_ca(&["QVS01"]);
    let old = backup(&ca, "old.pfx");
    for (case, args) in [
        (
            "init_force_without_yes",
            &["init", "--force", "--key-type", "p256"][..],
        ),
        (
            "renew_root_without_yes",
            &["renew", "QlikViewCA", "--root"][..],
        ),
        ("revoke_without_yes", &["revoke", "QVS01"][..]),
        ("restore_without_yes", &["restore", path_str(&old)][..]),
    ] {
        pin!(case, qvca(&ca).args(args));
    }
}

/// init, QVS01, QVProxy, QVS02, QVS02 revoked: records 1 to 5 of the operations log. One
/// machine an `issue`: the log lists the names of one `issue` in no fixed order.
fn five_records() -> TestCa {
    let ca = p256_ca(&["QVS01"]);
    qvca(&ca)
        .args(["issue", "server", "QVS02", "--key-type", "p256"])
        .assert()
        .success();
    qvca(&ca).args(["-y", "revoke", "QVS02"]).assert().success();
    ca
}

/// The lines of the operations log of `ca`, `edit`ed and written back.
fn edit_log(ca: &TestCa, edit: impl FnOnce(&mut Vec<String>)) {
    let file = ca.dir().join("oplog.jsonl");
    let mut lines: Vec<String> = std::fs::read_to_string(&file)
        .expect("log")
        .lines()
        .map(str::to_owned)
        .collect();
    edit(&mut lines);
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(&file, text).expect("write log");
}

#[test]
fn operations_log() {
    let ca = five_records();
    pin!(
        "log_since_yesterday",
        qvca(&ca).args(["log", "--since", "yesterday"])
    );
    edit_log(&ca, |lines| {
        lines[1] = lines[1].replace("\"issue server\"", "\"issue serveR\"");
    });
    pin!(
        "log_verify_edited_byte",
        qvca(&ca).args(["log", "--verify"])
    );
    pin!("log_edited_byte", qvca(&ca).arg("log"));
    edit_log(&ca, |lines| lines[1] = "{ not json".to_owned());
    pin!(
        "log_verify_line_not_json",
        qvca(&ca).args(["log", "--verify"])
    );

    let ca = five_records();
    edit_log(&ca, |lines| {
        let mut record: serde_json::Value = serde_json::from_str(&lines[1]).expect("record");
        record["hash"] = serde_json::Value::String("ab".repeat(32));
        lines[1] = serde_json::to_string(&record).expect("json");
    });
    pin!(
        "log_verify_recomputed_hash",
        qvca(&ca).args(["log", "--verify"])
    );

    let ca = five_records();
    edit_log(&ca, |lines| {
        lines.remove(1);
    });
    pin!(
        "log_verify_deleted_record",
        qvca(&ca).args(["log", "--verify"])
    );

    let ca = five_records();
    edit_log(&ca, |lines| {
        lines.pop();
    });
    pin!("log_verify_truncated", qvca(&ca).args(["log", "--verify"]));
    std::fs::remove_file(ca.dir().join("oplog.jsonl")).expect("remove");
    pin!("log_verify_deleted", qvca(&ca).args(["log", "--verify"]));

    // A CA made by a qvca without the log.
    let mut index = ca.index();
    index.as_object_mut().expect("object").remove("oplog");
    std::fs::write(
        ca.dir().join("index.json"),
        serde_json::to_vec_pretty(&index).expect("json"),
    )
    .expect("write index");
    pin!("log_verify_no_log_yet", qvca(&ca).args(["log", "--verify"]));
}

#[cfg(feature = "test-hooks")]
#[test]
fn operations_log_after_a_crash() {
    let ca = five_records();
    let out = ca
        .qvca()
        .env("QVCA_TEST_CRASH_AT", "after-log-append")
        .args(["issue", "server", "QVS09", "--key-type", "p256"])
        .output()
        .expect("run");
    assert!(out.status.code().is_none(), "the crash hook killed issue");
    pin!(
        "log_verify_appended_never_committed",
        qvca(&ca).args(["log", "--verify"])
    );
    qvca(&ca)
        .args(["issue", "server", "QVS10", "--key-type", "p256"])
        .assert()
        .success();
    pin!("log_after_interrupted_record", qvca(&ca).arg("log"));
}
