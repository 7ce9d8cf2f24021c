//! `qvca revoke NAME|SERIAL [--reason R]`.

use super::Context;
use crate::cli::RevokeArgs;
use crate::exit;
use crate::password::confirm_change;
use qvca::domain::reason::RevocationReason;
use qvca::ops::ca::Ca;
use qvca::ops::lifecycle::{revocable, revoke};
use std::fmt::Write;

/// Runs `revoke`.
pub fn run(ctx: &Context, args: &RevokeArgs) -> qvca::Result<u8> {
    let mut ca = Ca::open_for_update(&ctx.ca_dir()?)?;
    // A bad reason or an unknown name is reported before anything is asked.
    let reason: RevocationReason = args.reason.parse()?;
    let target = revocable(&ca, &args.target)?;
    if args.dry_run {
        let plan = [qvca::ops::issue::PlannedAction::for_entry("revoke", target)];
        return Ok(super::print_plan(ctx, &plan));
    }
    confirm_change(
        ctx.global,
        &format!("revoking {} (serial {})", target.name, target.serial),
        &format!(
            "Revoke {} {} (serial {}) for {reason}? Services refuse it once the next CRL is \
             published; a revocation cannot be undone.",
            target.kind.description(),
            target.name,
            target.serial
        ),
    )?;
    let entry = revoke(&mut ca, &args.target, reason)?;
    ctx.out.report(&entry, |text| {
        let _ = writeln!(
            text,
            "revoked {} {} (serial {}), reason {}",
            entry.kind.description(),
            entry.name,
            entry.serial,
            entry
                .revocation
                .as_ref()
                .map_or(RevocationReason::Unspecified, |r| r.reason)
        );
        let _ = writeln!(
            text,
            "It is no longer exported or packaged. Publish the revocation: `qvca crl`."
        );
    });
    Ok(exit::SUCCESS)
}
