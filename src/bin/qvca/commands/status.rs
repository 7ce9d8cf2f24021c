//! `qvca status`: 0 Initializing, 1 Certificates not installed, 2 Running (seed 002). The
//! number alone goes to stdout, as Qlik's state port returns it; the reasons to stderr.

use super::Context;
use crate::exit;
use qvca::ops::status::status;

/// Runs `status`.
pub fn run(ctx: &Context) -> qvca::Result<u8> {
    let report = status(&ctx.ca_dir()?, time::OffsetDateTime::now_utc())?;
    if ctx.out.is_json() {
        ctx.out.report(&report, |_| {});
    } else {
        ctx.out.data(format!("{}\n", report.state).as_bytes());
        ctx.out.note(&format!("{} {}", report.state, report.name));
        for reason in &report.reasons {
            ctx.out.note(&format!("  {reason}"));
        }
        if let Some(key) = &report.root_key {
            ctx.out.note(&format!(
                "  the root key lives in the PKCS#11 {key} (`qvca doctor` checks it)"
            ));
        }
    }
    Ok(exit::SUCCESS)
}
