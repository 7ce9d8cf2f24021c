//! The operations log: one JSON object a line in `<ca-dir>/oplog.jsonl`, one record per state
//! change (init, issue, renew, revoke, crl, restore, sign, setup, export of a key), hash-chained
//! so that an edited, reordered, deleted or truncated record is detected.
//!
//! A record:
//!
//! ```json
//! {"seq":3,"time":"2025-01-02T03:04:05Z","user":"admin","host":"ca01","command":"issue server",
//!  "serials":["5A…"],"names":["QVS01"],"outcome":"ok","prev":"<hash of seq 2>","hash":"…"}
//! ```
//!
//! - `hash` is the lower-case hex SHA-256 of the record's JSON without its `hash` field (as
//!   qvca serializes it, fields in this order); `prev` is the `hash` of the record before it,
//!   or [`GENESIS`] (64 zeros) for seq 1. `seq` counts from 1 without gaps.
//! - The index commits the log: every commit of `index.json` ([`crate::store::Store::save_index`],
//!   the only way an index reaches disk) first appends the record durably (append, fsync), then
//!   writes the index naming that record's seq and hash ([`LogHead`]). So truncating the log
//!   (its last records deleted) is detected: the index names a record the log no longer holds.
//! - A crash between the append and the index commit leaves a record the index does not name:
//!   it is reported as uncommitted (the operation it describes did not take effect) and does not
//!   break verification. The next logged change chains after it and lists its seq in its
//!   `interrupted` field, so the log says for good which records never took effect. A torn last
//!   line (a crash inside the append) is cut off by the next append.
//! - `user` is the login name from `USER`/`USERNAME` (whatever the environment says: not proof of
//!   identity), `host` the host name. Names and serials come from the index (validated names).
//!   Nothing secret is ever recorded.
//! - A CA made by a qvca without a log has no `oplog.jsonl` and no head in its index: its log
//!   starts with its next change, and verification says so and passes.
//! - Backups carry the log; a restored CA's log is the backup's log followed by a `restore`
//!   record (the replaced CA directory, kept aside, keeps its own).
//!
//! The chain is not a signature: whoever can write the CA directory (and so its keys) can
//! rewrite the log and the index together. It detects accidents, naive edits and a log that
//! does not belong to the index; a backup kept elsewhere holds a copy to compare with.

use crate::domain::serial::Serial;
use crate::error::{Error, ErrorKind, Result};
use crate::store::{CaLock, Index, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;
use time::OffsetDateTime;

/// The log file name in the CA directory.
pub const OPLOG_FILE: &str = "oplog.jsonl";
/// The `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The outcome written for an operation (its index commit follows the append).
pub const OUTCOME_OK: &str = "ok";

/// The last record an index commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogHead {
    /// Its sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
}

/// What a state change was, for its log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    command: String,
    serials: Vec<String>,
    names: Vec<String>,
}

impl Operation {
    /// An operation of the command `command` (`issue server`, `revoke`, `export pfx` ...).
    pub fn new(command: impl Into<String>) -> Self {
        Self {
            command: command.into(),
            serials: Vec::new(),
            names: Vec::new(),
        }
    }

    /// Adds a certificate the operation touched (its serial and name).
    pub fn with_certificate(mut self, serial: &Serial, name: &str) -> Self {
        self.add_certificate(serial, name);
        self
    }

    /// Adds a certificate the operation touched (its serial and name).
    pub fn add_certificate(&mut self, serial: &Serial, name: &str) {
        self.serials.push(serial.to_hex());
        if !self.names.iter().any(|n| n == name) {
            self.names.push(name.to_owned());
        }
    }

    /// The command recorded.
    pub fn command(&self) -> &str {
        &self.command
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// 1, 2, 3 ... without gaps.
    pub seq: u64,
    /// When (UTC, whole seconds).
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The login name from the environment.
    pub user: String,
    /// The host name.
    pub host: String,
    /// The command (`issue server`, `revoke` ...).
    pub command: String,
    /// Serials of the certificates concerned (upper-case hex).
    #[serde(default)]
    pub serials: Vec<String>,
    /// Names of the certificates concerned.
    #[serde(default)]
    pub names: Vec<String>,
    /// `ok`.
    pub outcome: String,
    /// Earlier records that were appended but never committed (a crash before the index
    /// commit): the operations they describe did not take effect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interrupted: Vec<u64>,
    /// The hash of the record before, or [`GENESIS`].
    pub prev: String,
    /// SHA-256 (hex) of this record without this field.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
}

impl Record {
    /// The hash this record's contents give (its `hash` field left out).
    pub fn computed_hash(&self) -> String {
        let mut bare = self.clone();
        bare.hash.clear();
        let bytes = serde_json::to_vec(&bare).unwrap_or_default();
        hex(&Sha256::digest(&bytes))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the log of `store` lives.
pub fn log_path(store: &Store) -> PathBuf {
    store.dir().join(OPLOG_FILE)
}

/// Reads the log text (bounded); `None` when there is none.
pub fn read_log(store: &Store) -> Result<Option<String>> {
    let path = store.confined(log_path(store))?;
    match crate::input::read_text_limited(&path, crate::input::TEXT_LIMIT, "the operations log") {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes the log text of a backup into a CA being restored (before its index is committed).
pub fn write_log(store: &Store, text: &str) -> Result<()> {
    crate::store::atomic::write_atomic(
        &store.confined(log_path(store))?,
        text.as_bytes(),
        crate::store::FileMode::Secret,
        crate::store::Durability::Synced,
    )
}

fn current_user() -> String {
    let user = ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned());
    printable(&user)
}

fn current_host() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .map_or_else(|| "unknown".to_owned(), |h| printable(&h))
}

/// Control characters removed and the length bounded: what the environment gives is shown on
/// terminals later.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(128).collect()
}

/// Where the log ended before an append (`None`: there was no log), to take the record back
/// when the index commit that follows fails.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Appended(Option<u64>);

/// Appends the record of `op` to the log of `store` durably and records it as the head of
/// `index` (which the caller then commits). Called by [`Store::save_index`] only, under the lock.
pub(crate) fn append(
    store: &Store,
    _lock: &CaLock,
    index: &mut Index,
    op: &Operation,
) -> Result<Appended> {
    let path = store.confined(log_path(store))?;
    let text = read_log(store)?;
    let point = chain_point(text.as_deref(), index.oplog.as_ref());
    let mut record = Record {
        seq: point.after.as_ref().map_or(1, |h| h.seq + 1),
        time: now_seconds(),
        user: current_user(),
        host: current_host(),
        command: op.command.clone(),
        serials: op.serials.clone(),
        names: op.names.clone(),
        outcome: OUTCOME_OK.to_owned(),
        interrupted: point.interrupted,
        prev: point.after.map_or_else(|| GENESIS.to_owned(), |h| h.hash),
        hash: String::new(),
    };
    record.hash = record.computed_hash();
    let mut line = serde_json::to_vec(&record)
        .map_err(|e| Error::failed(format!("encoding the log record failed: {e}")))?;
    line.push(b'\n');

    let mut file = open_for_append(&path)?;
    if let Some(len) = point.keep_len {
        file.set_len(len as u64)
            .map_err(|e| Error::io("cutting the torn last line of", &path, e))?;
    }
    let before = Appended(
        text.as_ref()
            .map(|t| point.keep_len.unwrap_or(t.len()) as u64),
    );
    file.write_all(&line)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io("appending to the operations log", &path, e))?;
    if text.is_none() {
        crate::store::atomic::sync_dir(store.dir())?;
    }
    crate::store::crash_point("after-log-append");
    index.oplog = Some(LogHead {
        seq: record.seq,
        hash: record.hash,
    });
    Ok(before)
}

/// Where the next record goes in a log (`text`, `None` when there is none) whose index
/// commits `committed`.
struct ChainPoint {
    /// The record to chain after: the log's last record when it is the committed one or a later
    /// (uncommitted) one; else the committed head (the log is damaged: keep the chain of the
    /// index, and verification keeps reporting the damage).
    after: Option<LogHead>,
    /// The records after the committed one, which never took effect.
    interrupted: Vec<u64>,
    /// The length to cut the log to first, when its last line is torn.
    keep_len: Option<usize>,
}

/// Finds the [`ChainPoint`] of the log `text` for an index committing `committed`.
fn chain_point(text: Option<&str>, committed: Option<&LogHead>) -> ChainPoint {
    let mut point = ChainPoint {
        after: committed.cloned(),
        interrupted: Vec::new(),
        keep_len: None,
    };
    let Some(text) = text else {
        return point;
    };
    if !text.is_empty() && !text.ends_with('\n') {
        // A torn last line: an append cut short by a crash, never committed.
        point.keep_len = Some(text.rfind('\n').map_or(0, |i| i + 1));
    }
    let whole = &text[..point.keep_len.unwrap_or(text.len())];
    if let Some(last) = whole
        .lines()
        .last()
        .and_then(|l| serde_json::from_str::<Record>(l).ok())
    {
        let base = committed.map_or(0, |h| h.seq);
        if last.seq > base {
            point.interrupted = (base + 1..=last.seq).collect();
        }
        if last.seq >= base {
            point.after = Some(LogHead {
                seq: last.seq,
                hash: last.hash,
            });
        }
    }
    point
}

/// Opens (or creates, owner-only) the log at `path` for appending, refusing a symbolic link.
fn open_for_append(path: &std::path::Path) -> Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    crate::store::no_follow(&mut options);
    options.open(path).map_err(|e| {
        if crate::store::is_symlink_error(&e) {
            crate::store::symlink_refusal(path)
        } else {
            Error::io("opening the operations log", path, e)
        }
    })
}

/// Takes back the record [`append`] wrote when the index commit failed (a full disk, a
/// read-only file system): a failed operation leaves the CA as it was, its log included. Best
/// effort: a record left behind is only an uncommitted one.
pub(crate) fn undo_append(store: &Store, before: Appended) {
    let path = log_path(store);
    match before.0 {
        None => {
            let _ = std::fs::remove_file(&path);
        }
        Some(len) => {
            if let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path) {
                let _ = file.set_len(len).and_then(|()| file.sync_all());
            }
        }
    }
}

fn now_seconds() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

/// A record as `log` shows it: the record and whether it took effect.
#[derive(Debug, Clone, Serialize)]
pub struct ShownRecord {
    /// The record.
    #[serde(flatten)]
    pub record: Record,
    /// False for a record the index never committed (its operation did not take effect).
    pub committed: bool,
}

/// The log read and checked.
#[derive(Debug, Clone, Serialize)]
pub struct LogReport {
    /// The log file.
    pub file: PathBuf,
    /// The records that could be read, in order.
    pub records: Vec<ShownRecord>,
    /// The seq the index commits (0: none).
    pub committed_seq: u64,
    /// Records appended but not committed (a crash before the index commit).
    pub uncommitted: Vec<u64>,
    /// What is wrong with the chain, one sentence each (empty: intact).
    pub problems: Vec<String>,
    /// A remark that is no problem (a CA without a log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl LogReport {
    /// True when the chain is intact and agrees with the index.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Reads and checks the log of `store` against `index` (whose head commits it).
pub fn check(store: &Store, index: &Index) -> Result<LogReport> {
    let file = log_path(store);
    let text = read_log(store)?;
    let head = index.oplog.clone();
    let mut report = LogReport {
        file,
        records: Vec::new(),
        committed_seq: head.as_ref().map_or(0, |h| h.seq),
        uncommitted: Vec::new(),
        problems: Vec::new(),
        note: None,
    };
    let Some(text) = text else {
        report_missing_log(&mut report, head.as_ref());
        return Ok(report);
    };
    let last_seq = read_chain(&text, &mut report);
    if !report.problems.is_empty() {
        return Ok(report);
    }
    // Without a head every record is one the index never committed (an older CA's first
    // change, cut short).
    if let Some(h) = &head {
        check_head(&mut report, h, last_seq);
    }
    if !report.problems.is_empty() {
        return Ok(report);
    }
    mark_uncommitted(&mut report);
    Ok(report)
}

/// A CA without a log file: fine when its index commits no record (made by a qvca without a
/// log), else the log was deleted.
fn report_missing_log(report: &mut LogReport, head: Option<&LogHead>) {
    match head {
        None => {
            report.note = Some(
                "this CA has no operations log yet (made by a qvca without one): the log \
                 starts with its next change"
                    .to_owned(),
            );
        }
        Some(h) => report.problems.push(format!(
            "the operations log {} is missing, but the index commits its record {}: it \
             was deleted; restore it from a backup",
            report.file.display(),
            h.seq
        )),
    }
}

/// Reads the records of the log `text` into `report` while they chain, stopping at the first
/// problem (recorded) or at a torn, uncommitted last line (noted); returns the seq of the last
/// record read (0: none).
fn read_chain(text: &str, report: &mut LogReport) -> u64 {
    let torn = !text.is_empty() && !text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut prev_hash = GENESIS.to_owned();
    let mut expected = 1u64;
    for (i, line) in lines.iter().enumerate() {
        let number = i + 1;
        let last_line = number == lines.len();
        let record = match serde_json::from_str::<Record>(line) {
            Ok(r) => r,
            Err(_) if last_line && torn && expected > report.committed_seq => {
                report.note = Some(format!(
                    "line {number} is a torn, uncommitted record (a crash while it was being \
                     written); the next change cuts it off"
                ));
                break;
            }
            Err(e) => {
                report.problems.push(format!(
                    "line {number} (record {expected}) is not a valid record: it was edited \
                     ({e})"
                ));
                break;
            }
        };
        if let Some(problem) = chain_problem(&record, number, expected, &prev_hash) {
            report.problems.push(problem);
            break;
        }
        prev_hash = record.hash.clone();
        expected += 1;
        report.records.push(ShownRecord {
            committed: true,
            record,
        });
    }
    expected - 1
}

/// Why `record`, on line `number`, does not continue the chain where record `expected` (after
/// the hash `prev_hash`) belongs: missing or reordered records, an edited record, or a broken
/// link.
fn chain_problem(record: &Record, number: usize, expected: u64, prev_hash: &str) -> Option<String> {
    if record.seq > expected {
        let missing = if record.seq == expected + 1 {
            format!("record {expected} is missing")
        } else {
            format!("records {expected} to {} are missing", record.seq - 1)
        };
        return Some(format!(
            "{missing} (line {number} holds record {}): deleted",
            record.seq
        ));
    }
    if record.seq < expected {
        return Some(format!(
            "line {number} holds record {} where record {expected} belongs: the log was \
             reordered or a record was copied",
            record.seq
        ));
    }
    if record.computed_hash() != record.hash {
        return Some(format!(
            "record {} (line {number}) was edited: its contents do not give its hash",
            record.seq
        ));
    }
    if record.prev != prev_hash {
        return Some(format!(
            "record {} (line {number}) does not chain to record {}: record {} was edited \
             or replaced",
            record.seq,
            expected.saturating_sub(1),
            expected.saturating_sub(1)
        ));
    }
    None
}

/// Checks that the log holds the record the index commits (`head`), unchanged; `last_seq` is
/// the last record read.
fn check_head(report: &mut LogReport, head: &LogHead, last_seq: u64) {
    match report.records.iter().find(|r| r.record.seq == head.seq) {
        None => report.problems.push(format!(
            "the log ends at record {last_seq} but the index commits record {}: the log \
             was truncated (its last records deleted)",
            head.seq
        )),
        Some(r) if r.record.hash != head.hash => report.problems.push(format!(
            "record {} is not the one the index committed: the log was replaced or its \
             tail rewritten",
            head.seq
        )),
        Some(_) => {}
    }
}

/// Marks the records that never took effect: those after the committed one, and those a later
/// record lists as interrupted.
fn mark_uncommitted(report: &mut LogReport) {
    let interrupted: Vec<u64> = report
        .records
        .iter()
        .flat_map(|r| r.record.interrupted.clone())
        .collect();
    for shown in &mut report.records {
        let seq = shown.record.seq;
        if seq > report.committed_seq {
            report.uncommitted.push(seq);
            shown.committed = false;
        } else if interrupted.contains(&seq) {
            shown.committed = false;
        }
    }
}

/// The refusal `log --verify` gives for a broken chain (exit 5).
pub fn broken(report: &LogReport) -> Error {
    Error::verification(format!(
        "the operations log {} is broken: {}; compare it with the log in a backup of the \
         CA",
        report.file.display(),
        report.problems.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_covers_every_field_but_itself() {
        let mut record = Record {
            seq: 1,
            time: now_seconds(),
            user: "u".into(),
            host: "h".into(),
            command: "init".into(),
            serials: vec!["0A".into()],
            names: vec!["QlikViewCA".into()],
            outcome: OUTCOME_OK.into(),
            interrupted: Vec::new(),
            prev: GENESIS.into(),
            hash: String::new(),
        };
        let hash = record.computed_hash();
        record.hash = hash.clone();
        assert_eq!(record.computed_hash(), hash);
        record.user = "v".into();
        assert_ne!(record.computed_hash(), hash);
    }
}
