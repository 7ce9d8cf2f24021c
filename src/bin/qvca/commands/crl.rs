//! `qvca crl [--out FILE] [--days N]`.

use super::Context;
use crate::cli::CrlArgs;
use crate::exit;
use crate::output::date;
use qvca::ops::ca::Ca;
use qvca::ops::lifecycle::write_crl;
use std::fmt::Write;

/// Runs `crl`.
pub fn run(ctx: &Context, args: &CrlArgs) -> qvca::Result<u8> {
    let mut ca = Ca::open_for_update(&ctx.ca_dir()?)?;
    let signer = ctx.unlock(&ca)?;
    let report = write_crl(&mut ca, &signer, args.out.as_deref(), args.days, args.force)?;
    ctx.out.report(&report, |text| {
        let _ = writeln!(
            text,
            "wrote CRL number {} to {}: {} revoked certificate(s), next update {}",
            report.number,
            report.path.display(),
            report.revoked.len(),
            date(report.next_update)
        );
    });
    Ok(exit::SUCCESS)
}
