//! `qvca package MACHINE`: everything one node needs, in one folder.

use super::Context;
use crate::cli::PackageArgs;
use crate::exit;
use crate::password::Purpose;
use qvca::ca::Ca;
use qvca::package::{PackageRequest, build_package};
use qvca::pkcs12::PfxEncryption;
use std::fmt::Write;
use std::path::PathBuf;

/// Runs `package`.
pub fn run(ctx: &Context, args: &PackageArgs) -> anyhow::Result<u8> {
    let ca = Ca::open(&ctx.ca_dir()?)?;
    let server = qvca::export::exportable(&ca, &args.machine)?;
    let request = PackageRequest {
        machine: server.name.clone(),
        out: args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{}-package", server.name))),
        encryption: PfxEncryption::from_legacy_flag(args.legacy),
        force: args.force,
    };
    if request.out.exists() && !args.force {
        return Err(qvca::Error::refused(format!(
            "{} exists already; pass --force to replace it, or choose another --out",
            request.out.display()
        ))
        .into());
    }
    let signer = ca.unlock(&|| ctx.ca_password(Purpose::Existing))?;
    let password = ctx.pfx_password(Purpose::New)?;
    let report = build_package(&ca, &signer, &request, &password)?;
    ctx.out.report(&report, |text| {
        let _ = writeln!(
            text,
            "wrote the package for {} to {}:",
            report.machine,
            report.dir.display()
        );
        for file in &report.files {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            let _ = writeln!(text, "  {name}");
        }
        let _ = writeln!(
            text,
            "On the node (as administrator): .\\install.ps1 -ServiceAccount DOMAIN\\svc-qlikview; \
             on Linux: sh install.sh"
        );
    });
    Ok(exit::SUCCESS)
}
