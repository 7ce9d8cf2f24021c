//! `qvca list`: the seed's certificate table with serial, expiry and status; filters; a
//! layout that fits the terminal (`--wide` or a pipe: every column in full).

use super::Context;
use crate::cli::ListArgs;
use crate::exit;
use crate::output::{date, short_serial, table, terminal_width};
use qvca::ops::ca::Ca;
use qvca::ops::inventory::{ListFilter, ListedCertificate, list_filtered};
use serde::Serialize;

#[derive(Serialize)]
struct ListReport<'a> {
    ca_dir: &'a std::path::Path,
    certificates: &'a [ListedCertificate],
}

/// Runs `list`.
pub fn run(ctx: &Context, args: &ListArgs) -> qvca::Result<u8> {
    let dir = ctx.ca_dir()?;
    let ca = Ca::open(&dir)?;
    let filter = ListFilter {
        kind: args.kind,
        status: args.status,
        expiring_within_days: args.expiring_within,
    };
    let rows = list_filtered(&ca, args.all, &filter, time::OffsetDateTime::now_utc());
    let report = ListReport {
        ca_dir: &dir,
        certificates: &rows,
    };
    ctx.out.report(&report, |text| {
        let full = full_table(&rows);
        let fits = |t: &str| {
            terminal_width().is_none_or(|width| t.lines().all(|l| l.chars().count() <= width))
        };
        if args.wide || fits(&full) {
            text.push_str(&full);
        } else {
            text.push_str(&narrow_table(&rows));
        }
    });
    Ok(exit::SUCCESS)
}

/// The seed's table with every column in full.
fn full_table(rows: &[ListedCertificate]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.location.to_owned(),
                r.issued_to.clone(),
                r.issued_by.clone(),
                r.description.to_owned(),
                r.serial.to_hex(),
                date(r.expires),
                r.status.as_str().to_owned(),
            ]
        })
        .collect();
    table(
        &[
            "Location",
            "Issued To",
            "Issued By",
            "Description",
            "Serial",
            "Expires",
            "Status",
        ],
        &cells,
    )
}

/// The table for an 80-column console: the store and issuer (always the root) left out, the
/// serial shortened to the 8 digits `show` and `revoke` accept.
fn narrow_table(rows: &[ListedCertificate]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.issued_to.clone(),
                r.description.to_owned(),
                short_serial(&r.serial.to_hex(), 8),
                date(r.expires),
                r.status.as_str().to_owned(),
            ]
        })
        .collect();
    table(
        &["Issued To", "Description", "Serial", "Expires", "Status"],
        &cells,
    )
}
