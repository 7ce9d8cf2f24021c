//! `qvca passwd [--new-password-file FILE]`: change the CA password.

use super::Context;
use crate::cli::PasswdArgs;
use crate::exit;
use crate::password;
use qvca::ops::ca::Ca;
use qvca::ops::passwd::change_password;
use std::fmt::Write;

/// Runs `passwd`.
pub fn run(ctx: &Context, args: &PasswdArgs) -> qvca::Result<u8> {
    let new_file = args.new_password_file.as_deref();
    // A new password from a file or the environment is read first: without one and without a
    // terminal this fails at once, before anything is unlocked.
    let given = password::get_new_ca(ctx.global, new_file, false)?;
    let ca = Ca::open_for_update(&ctx.ca_dir()?)?;
    // The current password first: a wrong one fails (exit 4) with nothing changed.
    let signer = ctx.unlock(&ca)?;
    let new = match given {
        Some(new) => new,
        None => password::get_new_ca(ctx.global, new_file, true)?
            .ok_or_else(|| qvca::Error::failed("internal error: no new CA password"))?,
    };
    let report = change_password(ca, &signer, new)?;
    if let Some(old) = &report.old_ca_not_removed {
        ctx.out.problem(&format!(
            "warning: the replaced CA in {} holds the keys under the OLD password and could not \
             be removed: delete it (rm -r) now",
            old.display()
        ));
    }
    ctx.out.report(&report, |text| {
        let _ = writeln!(
            text,
            "changed password of {} keys in {}",
            report.keys_reencrypted,
            report.ca_dir.display()
        );
    });
    Ok(exit::SUCCESS)
}
