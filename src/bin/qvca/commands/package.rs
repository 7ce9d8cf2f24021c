//! `qvca package MACHINE`: everything one node needs, in one folder; with `--keyless`, the
//! requests the node makes instead of any key.

use super::Context;
use crate::cli::PackageArgs;
use crate::exit;
use crate::password::Purpose;
use qvca::ops::ca::Ca;
use qvca::ops::package::{
    KeylessPackageRequest, PackageReport, PackageRequest, build_keyless_package, build_package,
};
use qvca::pki::pkcs12::PfxEncryption;
use std::fmt::Write;
use std::path::PathBuf;

/// Runs `package`.
pub fn run(ctx: &Context, args: &PackageArgs) -> qvca::Result<u8> {
    let mut ca = Ca::open_for_update(&ctx.ca_dir()?)?;
    if args.keyless {
        return run_keyless(ctx, &ca, args);
    }
    let server = qvca::ops::export::exportable(&ca, &args.machine)?;
    let request = PackageRequest {
        machine: server.name.clone(),
        out: args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{}-package", server.name))),
        encryption: PfxEncryption::from_legacy_flag(args.legacy),
        force: args.force,
        roles: roles(args),
    };
    refuse_existing(&request.out, args.force)?;
    let signer = ctx.unlock(&ca)?;
    let password = ctx.pfx_password(Purpose::New, "PKCS#12 password of the package's PFX files")?;
    let report = build_package(&mut ca, &signer, &request, &password)?;
    print_report(
        ctx,
        &report,
        "On the node, as administrator: install.cmd (Windows; README.txt has the options), \
         or sh install.sh (Linux).",
    );
    Ok(exit::SUCCESS)
}

/// `package MACHINE --keyless`: needs neither the CA password nor a PFX password.
fn run_keyless(ctx: &Context, ca: &Ca, args: &PackageArgs) -> qvca::Result<u8> {
    let machine = qvca::domain::name::MachineName::parse(
        &args.machine,
        qvca::domain::name::FqdnPolicy::Refuse,
    )?;
    let request = KeylessPackageRequest {
        out: args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{machine}-package"))),
        machine,
        key_type: args
            .key_type
            .map_or(qvca::pki::key::KeyType::Rsa2048, Into::into),
        key_storage: args.key_storage,
        force: args.force,
        roles: roles(args),
    };
    refuse_existing(&request.out, args.force)?;
    let report = build_keyless_package(ca, &request)?;
    let requests = report
        .keyless
        .as_ref()
        .map(|k| k.requests.join(" and "))
        .unwrap_or_default();
    print_report(
        ctx,
        &report,
        &format!(
            "No private key is in it. On the node, as administrator: keyless-request.cmd \
             (Windows) or sh keyless-request.sh (Linux); bring {requests} here and sign them \
             with qvca sign (README.txt has the round trip)."
        ),
    );
    Ok(exit::SUCCESS)
}

/// Refuses an existing `--out` before any password is asked for (the library checks again).
fn refuse_existing(out: &std::path::Path, force: bool) -> qvca::Result<()> {
    if out.exists() && !force {
        return Err(qvca::Error::refused(format!(
            "{} exists already; pass --force to replace it, or choose another --out",
            out.display()
        )));
    }
    Ok(())
}

fn print_report(ctx: &Context, report: &PackageReport, next: &str) {
    ctx.out.report(report, |text| {
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
        let _ = writeln!(text, "{next}");
    });
}

/// The roles given with `--role` (names clap has already checked against the same list).
fn roles(args: &PackageArgs) -> Vec<qvca::qlik::ports::Role> {
    args.role
        .iter()
        .filter_map(|name| qvca::qlik::ports::Role::from_name(name))
        .collect()
}
