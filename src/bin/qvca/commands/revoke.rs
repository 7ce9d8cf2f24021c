//! `qvca revoke NAME|SERIAL [--reason R]`.

use super::Context;
use crate::cli::RevokeArgs;
use crate::exit;
use qvca::ca::Ca;
use qvca::lifecycle::revoke;
use std::fmt::Write;

/// Runs `revoke`.
pub fn run(ctx: &Context, args: &RevokeArgs) -> anyhow::Result<u8> {
    let mut ca = Ca::open_for_update(&ctx.ca_dir()?)?;
    let entry = revoke(&mut ca, &args.target, &args.reason)?;
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
                .map_or("unspecified", |r| r.reason.as_str())
        );
        let _ = writeln!(
            text,
            "It is no longer exported or packaged. Publish the revocation: `qvca crl`."
        );
    });
    Ok(exit::SUCCESS)
}
