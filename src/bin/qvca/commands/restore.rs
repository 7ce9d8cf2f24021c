//! `qvca restore FILE`: rebuild the CA from a backup.

use super::Context;
use crate::cli::RestoreArgs;
use crate::exit;
use crate::password::{Purpose, confirm_change};
use qvca::ops::backup::{
    RestoreOptions, RestoreSituation, open_backup, restore, restore_rollback, restore_situation,
};
use qvca::pki::key::{KeyProtection, KeyProtector};
use std::fmt::Write;

/// Runs `restore`.
pub fn run(ctx: &Context, args: &RestoreArgs) -> qvca::Result<u8> {
    let dir = ctx.ca_dir()?;
    let pfx_password = ctx.pfx_password(
        Purpose::Existing,
        &format!("backup password of {}", args.file.display()),
    )?;
    let backup = open_backup(&args.file, &pfx_password)?;
    let situation = restore_situation(&dir, &backup)?;
    // An older backup of the same root key is refused (exit 3) before anything is asked.
    let rollback = restore_rollback(&dir, &backup)?;
    if let Some(check) = &rollback {
        check.require_force(&dir, args.force)?;
    }
    let verification = &backup.verification;
    if !args.dry_run {
        let question = match situation {
            RestoreSituation::NewCa => None,
            RestoreSituation::SameRoot => Some(format!(
                "Replace the CA in {} with the backup (same root {})? The current one is kept aside.",
                dir.display(),
                verification.root.as_deref().unwrap_or("?")
            )),
            RestoreSituation::DifferentRoot if args.force => Some(format!(
                "Replace the CA in {} with a DIFFERENT root ({})? The current one is kept aside.",
                dir.display(),
                verification.root.as_deref().unwrap_or("?")
            )),
            RestoreSituation::DifferentRoot => None, // refused by the library with advice
        };
        if let Some(mut question) = question {
            if let Some(check) = rollback.as_ref().filter(|c| c.goes_backwards()) {
                question = format!(
                    "{question} The backup is older: {}; the restored CA keeps those revocations \
                     and continues CRL numbers after {}.",
                    check.describe(),
                    check.ca_crl_number.max(check.backup_crl_number)
                );
            }
            confirm_change(
                ctx.global,
                &format!("replacing the CA in {} (restore)", dir.display()),
                &question,
            )?;
        }
    }
    let pin = |r: &qvca::ops::hsm::PinRequest<'_>| crate::pin::get(ctx.global, r);
    let token = crate::pin::access(ctx.global, &pin);
    let report = restore(
        &dir,
        backup,
        &|protection| match protection {
            KeyProtection::None => Ok(KeyProtector::unprotected()),
            KeyProtection::Encrypted => Ok(KeyProtector::encrypted(ctx.ca_password(Purpose::New)?)),
        },
        Some(&token),
        RestoreOptions {
            force: args.force,
            dry_run: args.dry_run,
        },
    )?;
    ctx.out.report(&report, |text| {
        let what = format!(
            "the CA {} ({} certificates, {} keys)",
            report.backup.root.as_deref().unwrap_or("?"),
            report.backup.entries.len(),
            report.keys_restored
        );
        if report.dry_run {
            let action = match report.situation {
                RestoreSituation::NewCa => "would restore",
                RestoreSituation::SameRoot => "would replace the CA (same root) with",
                RestoreSituation::DifferentRoot => "would replace a CA with a DIFFERENT root by",
            };
            let _ = writeln!(
                text,
                "dry run: {action} {what} in {}; nothing was changed",
                report.ca_dir.display()
            );
        } else {
            let _ = writeln!(text, "restored {what} into {}", report.ca_dir.display());
            if let Some(old) = &report.replaced_ca_moved_to {
                let _ = writeln!(text, "the replaced CA was kept in {}", old.display());
            }
            if !report.revocations_kept.is_empty() {
                let _ = writeln!(
                    text,
                    "kept {} revocation(s) the backup did not have: {}; publish them: `qvca crl`",
                    report.revocations_kept.len(),
                    report
                        .revocations_kept
                        .iter()
                        .map(qvca::ops::revocation::LostRevocation::describe)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            let export = match &report.license_service_machine {
                Some(machine) => format!("qvca export license-service --machine {machine}"),
                None => "qvca export license-service --machine MACHINE".to_owned(),
            };
            let _ = writeln!(
                text,
                "Next: `{export}` on the QMS, then restart the QMS, then the Qlik License Service."
            );
        }
    });
    Ok(exit::SUCCESS)
}
