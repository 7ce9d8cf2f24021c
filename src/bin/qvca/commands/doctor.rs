//! `qvca doctor [--warn-days N]`: exit 0 when all is well, 5 otherwise.

use super::Context;
use crate::cli::{DoctorArgs, DoctorFormat};
use crate::exit;
use qvca::ops::ca::Ca;
use qvca::ops::doctor::{CheckStatus, doctor};
use std::fmt::Write;

/// Runs `doctor`.
pub fn run(ctx: &Context, args: &DoctorArgs) -> qvca::Result<u8> {
    let ca = Ca::open(&ctx.ca_dir()?)?;
    // The key checks need the CA password; without one available, they are skipped (never
    // prompted for without a terminal), and a wrong one is an error like everywhere else.
    let signer = match ctx.unlock(&ca) {
        Ok(signer) => Some(signer),
        Err(e) if e.kind() == qvca::ErrorKind::Failed && ca.is_password_protected() => None,
        Err(e) => return Err(e),
    };
    let report = doctor(
        &ca,
        signer.as_ref(),
        args.warn_days,
        time::OffsetDateTime::now_utc(),
    )?;
    if args.format == DoctorFormat::Prometheus {
        let last_backup = args
            .backup_dir
            .as_deref()
            .and_then(qvca::ops::monitoring::newest_backup_time);
        let text = qvca::ops::monitoring::prometheus_text(
            &ca,
            &report,
            time::OffsetDateTime::now_utc(),
            last_backup,
        );
        ctx.out.data(text.as_bytes());
        return Ok(if report.ok {
            exit::SUCCESS
        } else {
            exit::PROBLEMS_FOUND
        });
    }
    // With -q only what needs attention is printed: the cron line `qvca doctor -q` mails
    // exactly the warnings and problems.
    ctx.out.report_attention(&report, |text, quiet| {
        for check in &report.checks {
            if quiet && matches!(check.status, CheckStatus::Ok | CheckStatus::Skipped) {
                continue;
            }
            let label = match check.status {
                CheckStatus::Ok => "ok     ",
                CheckStatus::Warning => "warning",
                CheckStatus::Problem => "PROBLEM",
                CheckStatus::Skipped => "skipped",
            };
            let _ = writeln!(text, "{label}  {:<24}{}", check.name, check.message);
            if let Some(advice) = &check.advice {
                let _ = writeln!(text, "         {:<24}-> {advice}", "");
            }
        }
    });
    Ok(if report.ok {
        exit::SUCCESS
    } else {
        exit::PROBLEMS_FOUND
    })
}
