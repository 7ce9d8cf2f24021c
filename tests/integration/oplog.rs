//! The operations log (`qvca log`, `<ca-dir>/oplog.jsonl`): every state change is one
//! hash-chained JSON line the index commits; edits, deletions and truncation are found by
//! `log --verify` (exit 5), a crash between the append and the index commit is not.

use crate::support::{
    PFX_PASSWORD, TestCa, assert_code, describe, p256_ca, path_str, run, stderr, stdout,
};
use serde_json::Value;
use std::path::PathBuf;

/// The records of `log --json`.
fn records(ca: &TestCa) -> Vec<Value> {
    let out = run(ca, &["--json", "log"]);
    assert_code(&out, 0, "log --json");
    serde_json::from_slice::<Value>(&out.stdout)
        .expect("JSON")
        .as_array()
        .expect("an array")
        .clone()
}

fn commands(ca: &TestCa) -> Vec<String> {
    records(ca)
        .iter()
        .map(|r| r["command"].as_str().expect("command").to_owned())
        .collect()
}

fn log_file(ca: &TestCa) -> PathBuf {
    ca.dir().join("oplog.jsonl")
}

fn log_lines(ca: &TestCa) -> Vec<String> {
    std::fs::read_to_string(log_file(ca))
        .expect("log")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(ca: &TestCa, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(log_file(ca), text).expect("write log");
}

/// init, the root, QVS01, QVS02 and QVProxy, QVS02 revoked: records 1 to 4.
fn four_records() -> TestCa {
    let ca = p256_ca(&["QVS01", "QVS02"]);
    assert_code(&run(&ca, &["-y", "revoke", "QVS02"]), 0, "revoke");
    assert_eq!(
        commands(&ca),
        ["init", "issue server", "issue client", "revoke"]
    );
    ca
}

fn assert_broken(ca: &TestCa, expect: &str, what: &str) {
    let out = run(ca, &["log", "--verify"]);
    assert_code(&out, 5, what);
    assert!(
        stderr(&out).contains(expect),
        "{what}: the message should say {expect:?}: {}",
        describe(&out)
    );
}

#[test]
fn every_state_change_is_logged_in_order_and_the_log_verifies() {
    let ca = p256_ca(&["QVS01"]);
    assert_code(&run(&ca, &["-y", "revoke", "QVS01"]), 0, "revoke");
    assert_code(&run(&ca, &["crl"]), 0, "crl");
    let pfx = ca.path().join("proxy.pfx");
    assert_code(
        &run(&ca, &["export", "pfx", "QVProxy", "--out", path_str(&pfx)]),
        0,
        "export pfx",
    );
    // Reading and backing up change nothing and log nothing.
    assert_code(&run(&ca, &["list"]), 0, "list");
    let backups = ca.path().join("backups");
    let out = run(&ca, &["--json", "backup", "--dir", path_str(&backups)]);
    assert_code(&out, 0, "backup");
    let backup: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let backup = backup["file"].as_str().expect("file").to_owned();

    let before = records(&ca);
    let names: Vec<&str> = before
        .iter()
        .map(|r| r["command"].as_str().expect("command"))
        .collect();
    assert_eq!(
        names,
        [
            "init",
            "issue server",
            "issue client",
            "revoke",
            "crl",
            "export pfx"
        ]
    );
    for (i, r) in before.iter().enumerate() {
        assert_eq!(r["seq"], i as u64 + 1);
        assert_eq!(r["outcome"], "ok");
        assert_eq!(r["committed"], true);
        assert!(r["time"].as_str().expect("time").ends_with('Z'), "{r}");
        assert!(r["host"].as_str().is_some_and(|h| !h.is_empty()), "{r}");
    }
    assert_eq!(before[1]["names"], serde_json::json!(["QVS01"]));
    assert_eq!(before[3]["names"], serde_json::json!(["QVS01"]));
    assert_eq!(before[3]["serials"], before[1]["serials"]);
    assert_eq!(before[5]["names"], serde_json::json!(["QVProxy"]));
    // No secret reaches the log.
    let text = std::fs::read_to_string(log_file(&ca)).expect("log");
    assert!(!text.contains(crate::support::PASSWORD) && !text.contains(PFX_PASSWORD));
    assert_eq!(ca.index()["oplog"]["seq"], 6);

    let out = run(&ca, &["log", "--verify"]);
    assert_code(&out, 0, "log --verify");
    assert!(stdout(&out).starts_with("OK"), "{}", describe(&out));
    let out = run(&ca, &["log"]);
    assert_code(&out, 0, "log");
    let shown = stdout(&out);
    assert_eq!(shown.lines().count(), 6, "{shown}");
    assert!(
        shown
            .lines()
            .nth(3)
            .is_some_and(|l| l.contains("revoke") && l.contains("QVS01"))
    );

    // The restored CA's log: the backup's, then the restore.
    let out = run(&ca, &["-y", "restore", &backup]);
    assert_code(&out, 0, "restore");
    let after = records(&ca);
    assert_eq!(after.len(), 7, "{after:?}");
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(
            old["hash"], new["hash"],
            "the backup's records come back unchanged"
        );
    }
    assert_eq!(after[6]["command"], "restore");
    assert_eq!(after[6]["prev"], before[5]["hash"]);
    assert_code(
        &run(&ca, &["log", "--verify"]),
        0,
        "log --verify after restore",
    );
}

#[test]
fn an_edited_byte_names_the_record() {
    let ca = four_records();
    let mut lines = log_lines(&ca);
    lines[1] = lines[1].replace("\"issue server\"", "\"issue serveR\"");
    write_lines(&ca, &lines);
    assert_broken(&ca, "record 2 (line 2) was edited", "an edited record");
    // `log` still shows what it can, and says the log is broken.
    let out = run(&ca, &["log"]);
    assert_code(&out, 0, "log of a broken log");
    assert!(stderr(&out).contains("broken"), "{}", describe(&out));
}

#[test]
fn an_edit_with_a_recomputed_hash_breaks_the_chain() {
    let ca = four_records();
    let mut lines = log_lines(&ca);
    let mut record: Value = serde_json::from_str(&lines[1]).expect("record");
    record["hash"] = Value::String("ab".repeat(32));
    lines[1] = serde_json::to_string(&record).expect("json");
    write_lines(&ca, &lines);
    assert_broken(&ca, "record 2", "a replaced hash");
}

#[test]
fn a_deleted_middle_record_is_found() {
    let ca = four_records();
    let mut lines = log_lines(&ca);
    lines.remove(1);
    write_lines(&ca, &lines);
    assert_broken(&ca, "record 2 is missing", "a deleted record");
}

#[test]
fn a_truncated_log_is_found() {
    let ca = four_records();
    let mut lines = log_lines(&ca);
    lines.pop();
    write_lines(&ca, &lines);
    assert_broken(&ca, "truncated", "a truncated log");
    std::fs::remove_file(log_file(&ca)).expect("remove");
    assert_broken(&ca, "missing", "a deleted log");
}

#[test]
fn since_filters_by_day_or_moment() {
    let ca = four_records();
    assert_eq!(
        stdout(&run(&ca, &["log", "--since", "2000-01-01"]))
            .lines()
            .count(),
        4
    );
    let out = run(&ca, &["log", "--since", "2999-01-01T00:00:00Z"]);
    assert_code(&out, 0, "log --since in the future");
    assert_eq!(stdout(&out), "");
    let out = run(&ca, &["log", "--since", "yesterday"]);
    assert_code(&out, 2, "log --since yesterday");
    assert!(stderr(&out).contains("YYYY-MM-DD"), "{}", describe(&out));
}

#[test]
fn a_ca_without_a_log_verifies_with_a_note_and_starts_one() {
    let ca = four_records();
    std::fs::remove_file(log_file(&ca)).expect("remove");
    let mut index = ca.index();
    index.as_object_mut().expect("object").remove("oplog");
    std::fs::write(
        ca.dir().join("index.json"),
        serde_json::to_vec_pretty(&index).expect("json"),
    )
    .expect("write index");
    let out = run(&ca, &["log", "--verify"]);
    assert_code(&out, 0, "verify without a log");
    assert!(
        stdout(&out).contains("no operations log"),
        "{}",
        describe(&out)
    );
    assert_code(&run(&ca, &["crl"]), 0, "crl");
    assert_eq!(commands(&ca), ["crl"]);
    assert_code(&run(&ca, &["log", "--verify"]), 0, "verify of the new log");
}

#[cfg(feature = "test-hooks")]
#[test]
fn a_crash_between_the_append_and_the_index_commit_leaves_a_log_that_verifies() {
    let ca = four_records();
    let out = ca
        .qvca()
        .env("QVCA_TEST_CRASH_AT", "after-log-append")
        .args(["issue", "server", "QVS09", "--key-type", "p256"])
        .output()
        .expect("run");
    assert!(
        out.status.code().is_none(),
        "it crashed: {}",
        describe(&out)
    );
    assert_eq!(
        ca.index()["oplog"]["seq"],
        4,
        "the index did not commit record 5"
    );
    let out = run(&ca, &["log", "--verify"]);
    assert_code(&out, 0, "verify after the crash");
    assert!(
        stdout(&out).contains("record 5 was appended but never committed"),
        "{}",
        describe(&out)
    );
    let shown = records(&ca);
    assert_eq!(shown.len(), 5);
    assert_eq!(shown[4]["committed"], false);

    // The next change chains after it and records that it never took effect.
    assert_code(
        &run(&ca, &["issue", "server", "QVS10", "--key-type", "p256"]),
        0,
        "issue after the crash",
    );
    let shown = records(&ca);
    assert_eq!(shown.len(), 6);
    assert_eq!(shown[5]["interrupted"], serde_json::json!([5]));
    assert_eq!(shown[4]["committed"], false);
    assert_eq!(shown[5]["committed"], true);
    let out = run(&ca, &["log", "--verify"]);
    assert_code(&out, 0, "verify after the next change");
    let out = run(&ca, &["log"]);
    assert!(stdout(&out).contains("interrupted"), "{}", describe(&out));
}

#[test]
fn setup_and_package_are_logged_and_a_setup_that_changes_nothing_logs_nothing() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let setup = ["init", "setup", "setup", "export license-service"];
    assert_eq!(commands(&ca), setup);
    assert_code(&run(&ca, &["setup", "QVS01"]), 0, "setup again");
    assert_eq!(commands(&ca), setup, "a setup that kept everything");
    let out = ca.path().join("pkg");
    assert_code(
        &run(&ca, &["package", "QVS01", "--out", path_str(&out)]),
        0,
        "package",
    );
    let shown = records(&ca);
    assert_eq!(shown[4]["command"], "package");
    assert_eq!(shown[4]["names"], serde_json::json!(["QVS01", "QVProxy"]));
    assert_code(&run(&ca, &["log", "--verify"]), 0, "verify");
}

#[test]
fn a_bulk_issue_is_logged_and_indexed_in_the_order_the_names_were_given() {
    // Workers finish in any order; the record must not depend on which finished first.
    let names = ["QVS06", "QVS01", "QVS05", "QVS02", "QVS04", "QVS03"];
    for _ in 0..3 {
        let ca = p256_ca(&[]);
        let mut args = vec!["issue", "server", "--jobs", "4"];
        args.extend(names);
        assert_code(&run(&ca, &args), 0, "bulk issue");
        let records = records(&ca);
        let issued = records
            .iter()
            .find(|r| r["command"] == "issue server")
            .expect("the bulk issue is logged");
        let logged: Vec<&str> = issued["names"]
            .as_array()
            .expect("names")
            .iter()
            .map(|n| n.as_str().expect("name"))
            .collect();
        assert_eq!(logged, names, "{issued}");
        let index: Value = serde_json::from_str(
            &std::fs::read_to_string(ca.dir().join("index.json")).expect("index"),
        )
        .expect("JSON");
        let indexed: Vec<&str> = index["certificates"]
            .as_array()
            .expect("certificates")
            .iter()
            .filter(|c| c["kind"] == "server")
            .map(|c| c["name"].as_str().expect("name"))
            .collect();
        assert_eq!(indexed, names);
    }
}
