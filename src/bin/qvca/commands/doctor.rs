//! `qvca doctor [--warn-days N]`: exit 0 when all is well, 5 otherwise. On a CA whose root
//! key lives in a PKCS#11 token, the token's checks come first (`ops::hsm_doctor`); when the
//! token cannot be used at all (module, token, PIN), the report is printed and doctor then
//! fails with that error's exit code (1, or 4 for a wrong PIN), the error on stderr.

use super::Context;
use crate::cli::{DoctorArgs, DoctorFormat};
use crate::exit;
use qvca::ops::ca::{Ca, RootSigner};
use qvca::ops::doctor::{CheckStatus, DoctorReport, doctor, doctor_with_token};
use std::fmt::Write;

/// Runs `doctor`.
pub fn run(ctx: &Context, args: &DoctorArgs) -> qvca::Result<u8> {
    let ca = Ca::open(&ctx.ca_dir()?)?;
    if ca.index().settings.root_key.is_some() {
        return run_on_token_ca(ctx, args, &ca);
    }
    // The key checks need the CA password; without one available, they are skipped (never
    // prompted for without a terminal), and a wrong one is an error like everywhere else.
    let signer = keys_signer(&ca, ctx.unlock(&ca))?;
    let report = doctor(
        &ca,
        signer.as_ref(),
        args.warn_days,
        time::OffsetDateTime::now_utc(),
    )?;
    print(ctx, args, &ca, &report)
}

/// The unlocked root for the key checks; `None` when the CA password is not available.
fn keys_signer(ca: &Ca, unlocked: qvca::Result<RootSigner>) -> qvca::Result<Option<RootSigner>> {
    match unlocked {
        Ok(signer) => Ok(Some(signer)),
        Err(e) if e.kind() == qvca::ErrorKind::Failed && ca.is_password_protected() => Ok(None),
        Err(e) => Err(e),
    }
}

/// `doctor` on a CA whose root key lives in a PKCS#11 token: the token is checked step by
/// step (the PIN only when one can be had), the root is unlocked with the key found there.
fn run_on_token_ca(ctx: &Context, args: &DoctorArgs, ca: &Ca) -> qvca::Result<u8> {
    let pin = |request: &qvca::ops::hsm::PinRequest<'_>| crate::pin::get(ctx.global, request);
    let access = crate::pin::access(ctx.global, &pin);
    let token = qvca::ops::hsm_doctor::check_token(ca, &access, crate::pin::available(ctx.global))?;
    let signer = match &token.key {
        Some(key) => keys_signer(
            ca,
            crate::password::unlock_with_root_key(ctx.global, ca, key),
        )?,
        None => None,
    };
    let report = doctor_with_token(
        ca,
        signer.as_ref(),
        Some(token.checks),
        args.warn_days,
        time::OffsetDateTime::now_utc(),
    )?;
    let code = print(ctx, args, ca, &report)?;
    match token.failure {
        // The report (text, JSON or Prometheus) stays the one document on stdout; the error
        // goes to stderr as every error does, and decides the exit code.
        Some(failure) => {
            ctx.out.problem(&format!("qvca: error: {failure}"));
            Ok(exit::code_for_error(&failure))
        }
        None => Ok(code),
    }
}

/// Prints the report as text or Prometheus exposition; exit 0 when all is well, 5 otherwise.
fn print(ctx: &Context, args: &DoctorArgs, ca: &Ca, report: &DoctorReport) -> qvca::Result<u8> {
    if args.format == DoctorFormat::Prometheus {
        let last_backup = args
            .backup_dir
            .as_deref()
            .and_then(qvca::ops::monitoring::newest_backup_time);
        let text = qvca::ops::monitoring::prometheus_text(
            ca,
            report,
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
    ctx.out.report_attention(report, |text, quiet| {
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
