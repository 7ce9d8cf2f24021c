//! `qvca list`: the seed's certificate table with serial, expiry and status.

use super::Context;
use crate::cli::ListArgs;
use crate::exit;
use crate::output::{date, table};
use qvca::ca::Ca;
use qvca::inventory::{ListedCertificate, list};
use serde::Serialize;

#[derive(Serialize)]
struct ListReport<'a> {
    ca_dir: &'a std::path::Path,
    certificates: &'a [ListedCertificate],
}

/// Runs `list`.
pub fn run(ctx: &Context, args: &ListArgs) -> anyhow::Result<u8> {
    let dir = ctx.ca_dir()?;
    let ca = Ca::open(&dir)?;
    let rows = list(&ca, args.all, time::OffsetDateTime::now_utc());
    let report = ListReport {
        ca_dir: &dir,
        certificates: &rows,
    };
    ctx.out.report(&report, |text| {
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
        text.push_str(&table(
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
        ));
    });
    Ok(exit::SUCCESS)
}
