//! `qvca log [--since DATE] [--verify]`: the operations log of the CA (see
//! `qvca::store::oplog`), one line per record; `--verify` checks its chain (exit 5 if broken).

use super::Context;
use crate::cli::LogArgs;
use crate::exit;
use crate::output::{printable_value, short_serial};
use qvca::ops::ca::Ca;
use qvca::store::oplog::{self, LogReport, ShownRecord};
use serde::Serialize;
use std::fmt::Write;
use time::OffsetDateTime;

/// What `log --verify --json` prints.
#[derive(Serialize)]
struct Verified<'a> {
    ok: bool,
    file: &'a std::path::Path,
    records: usize,
    committed_seq: u64,
    uncommitted: &'a [u64],
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
}

/// Runs `log`.
pub fn run(ctx: &Context, args: &LogArgs) -> qvca::Result<u8> {
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let ca = Ca::open(&ctx.ca_dir()?)?;
    let report = oplog::check(ca.store(), ca.index())?;
    if args.verify {
        return verify(ctx, &report);
    }
    let shown: Vec<&ShownRecord> = report
        .records
        .iter()
        .filter(|r| since.is_none_or(|s| r.record.time >= s))
        .collect();
    ctx.out.report(&shown, |text| {
        for r in &shown {
            let _ = writeln!(text, "{}", line(r));
        }
    });
    if let Some(note) = &report.note {
        ctx.out.note(note);
    }
    if !report.is_intact() {
        ctx.out.warn(&format!(
            "{} (records after the damage are not shown; `qvca log --verify` checks the log)",
            oplog::broken(&report)
        ));
    }
    Ok(exit::SUCCESS)
}

fn verify(ctx: &Context, report: &LogReport) -> qvca::Result<u8> {
    if !report.is_intact() {
        return Err(oplog::broken(report));
    }
    let verified = Verified {
        ok: true,
        file: &report.file,
        records: report.records.len(),
        committed_seq: report.committed_seq,
        uncommitted: &report.uncommitted,
        note: report.note.as_deref(),
    };
    ctx.out.report(&verified, |text| {
        let _ = writeln!(
            text,
            "OK: the operations log {} is intact: {} records, the index commits record {}",
            report.file.display(),
            report.records.len(),
            report.committed_seq
        );
        for seq in &report.uncommitted {
            let _ = writeln!(
                text,
                "note: record {seq} was appended but never committed (qvca stopped before its \
                 index commit): its operation did not take effect"
            );
        }
        if let Some(note) = &report.note {
            let _ = writeln!(text, "note: {note}");
        }
    });
    Ok(exit::SUCCESS)
}

/// One record as a line: seq, time, user@host, command, names (serials), outcome.
fn line(shown: &ShownRecord) -> String {
    let r = &shown.record;
    let mut what: Vec<String> = r
        .names
        .iter()
        .map(|n| printable_value(n).into_owned())
        .collect();
    if !r.serials.is_empty() {
        let serials: Vec<String> = r.serials.iter().map(|s| short_serial(s, 8)).collect();
        what.push(format!("({})", serials.join(", ")));
    }
    let outcome = if shown.committed {
        r.outcome.as_str()
    } else {
        "interrupted (not committed)"
    };
    format!(
        "{:>4}  {}  {}@{}  {}  {}  {}",
        r.seq,
        r.time
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        printable_value(&r.user),
        printable_value(&r.host),
        printable_value(&r.command),
        what.join(" "),
        outcome
    )
}

/// `--since`: a day (from its start, UTC) or an RFC 3339 moment.
fn parse_since(text: &str) -> qvca::Result<OffsetDateTime> {
    let day = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(date) = time::Date::parse(text, &day) {
        return Ok(date.midnight().assume_utc());
    }
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(|_| {
        qvca::Error::usage(format!(
            "--since {:?} is not a date: give YYYY-MM-DD (UTC) or an RFC 3339 time such as \
             2025-01-31T12:00:00Z",
            printable_value(text)
        ))
    })
}
