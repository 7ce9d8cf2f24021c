//! `qvca backup` and `qvca backup verify FILE`.

use super::Context;
use crate::cli::{BackupArgs, BackupCommand, BackupVerifyArgs};
use crate::exit;
use crate::output::date;
use crate::password::Purpose;
use qvca::ops::backup::{BackupTarget, backup, verify_backup_file};
use qvca::ops::ca::Ca;
use qvca::pki::pkcs12::PfxEncryption;
use std::fmt::Write;
use std::path::PathBuf;

/// Runs `backup` or `backup verify`.
pub fn run(ctx: &Context, args: &BackupArgs) -> qvca::Result<u8> {
    match &args.command {
        Some(BackupCommand::Verify(verify)) => run_verify(ctx, verify),
        None => run_backup(ctx, args),
    }
}

fn run_backup(ctx: &Context, args: &BackupArgs) -> qvca::Result<u8> {
    let ca = Ca::open_for_update(&ctx.ca_dir()?)?;
    let target = match (&args.out, &args.dir) {
        (Some(file), _) if args.force => BackupTarget::Replace(file.clone()),
        (Some(file), _) => BackupTarget::File(file.clone()),
        (None, Some(dir)) => BackupTarget::Dir(dir.clone()),
        (None, None) => BackupTarget::Dir(PathBuf::from(".")),
    };
    if let BackupTarget::File(file) = &target {
        // Before any password is asked for.
        qvca::store::atomic::refuse_existing_output(file, false)?;
    }
    let signer = ctx.unlock(&ca)?;
    let password = ctx.pfx_password(Purpose::New, "backup password")?;
    let report = backup(
        &ca,
        &signer,
        &password,
        &target,
        args.keep.map(|n| n as usize),
        PfxEncryption::from_legacy_flag(args.legacy),
    )?;
    ctx.out.report(&report, |text| {
        let pruned = match report.pruned.len() {
            0 => String::new(),
            n => format!("; {n} older backup(s) removed"),
        };
        let pruned = match report.not_recognised.len() {
            0 => pruned,
            n => format!(
                "{pruned}; {n} file(s) named like backups left alone (not backups of this CA \
                 under this password)"
            ),
        };
        let _ = writeln!(
            text,
            "backup {}: {} bytes, {} certificates, {} keys, verified{pruned}",
            report.file.display(),
            report.bytes,
            report.certificates,
            report.keys
        );
    });
    Ok(exit::SUCCESS)
}

fn run_verify(ctx: &Context, args: &BackupVerifyArgs) -> qvca::Result<u8> {
    let password = ctx.pfx_password(
        Purpose::Existing,
        &format!("backup password of {}", args.file.display()),
    )?;
    let verification = verify_backup_file(&args.file, &password)?;
    ctx.out.report(&verification, |text| {
        let verdict = if verification.ok { "OK" } else { "PROBLEMS" };
        let _ = writeln!(
            text,
            "{verdict}  {}: root {}, {} certificates{}",
            args.file.display(),
            verification.root.as_deref().unwrap_or("missing"),
            verification.entries.len(),
            verification
                .crl_number
                .map(|n| format!(", CRL number {n}"))
                .unwrap_or_default()
        );
        for entry in &verification.entries {
            let _ = writeln!(
                text,
                "  {:<7} {:<20} serial {}  expires {}  {}{}",
                entry.kind.description(),
                entry.name,
                entry.serial,
                date(entry.not_after),
                entry.status.as_str(),
                match (entry.has_key, entry.keyless) {
                    (true, _) => "",
                    (false, true) => "  (keyless: its key is on the node)",
                    (false, false) => "  (no key)",
                }
            );
        }
        for problem in &verification.problems {
            let _ = writeln!(text, "  problem: {problem}");
        }
    });
    Ok(if verification.ok {
        exit::SUCCESS
    } else {
        exit::PROBLEMS_FOUND
    })
}
