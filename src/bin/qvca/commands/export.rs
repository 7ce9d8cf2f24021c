//! `qvca export license-service` and `qvca export root`.

use super::Context;
use crate::cli::{
    ExportCertArgs, ExportCommand, ExportLicenseServiceArgs, ExportPfxArgs, ExportRootArgs,
};
use crate::exit;
use crate::password::Purpose;
use qvca::ops::ca::Ca;
use qvca::ops::export::{RESTART_REMINDER, export_license_service, exportable, pfx_for};
use qvca::pki::certificate::to_pem;
use qvca::pki::pkcs12::PfxEncryption;
use qvca::store::atomic::{FileMode, refuse_existing_output, write_output};
use serde::Serialize;
use std::fmt::Write;
use std::path::PathBuf;

/// Runs an `export` subcommand.
pub fn run(ctx: &Context, command: &ExportCommand) -> qvca::Result<u8> {
    match command {
        ExportCommand::LicenseService(args) => license_service(ctx, args),
        ExportCommand::Pfx(args) => pfx(ctx, args),
        ExportCommand::Root(args) => root(ctx, args),
        ExportCommand::Cert(args) => cert(ctx, args),
    }
}

#[derive(Serialize)]
struct PfxExport<'a> {
    path: &'a std::path::Path,
    name: &'a str,
    serial: &'a qvca::domain::serial::Serial,
    encryption: PfxEncryption,
    bytes: usize,
}

fn pfx(ctx: &Context, args: &ExportPfxArgs) -> qvca::Result<u8> {
    // Under the lock: the export of a key is logged (`qvca log`).
    let mut ca = Ca::open_for_update(&ctx.ca_dir()?)?;
    let entry = exportable(&ca, &args.name)?.clone();
    let entry = &entry;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(qvca::domain::name::file_name(&entry.name, "pfx")));
    refuse_existing_output(&out, args.force)?;
    let signer = ctx.unlock(&ca)?;
    let password = ctx.pfx_password(
        Purpose::New,
        &format!("PKCS#12 password of {}", out.display()),
    )?;
    let encryption = PfxEncryption::from_legacy_flag(args.legacy);
    let bytes = pfx_for(&ca, &signer, entry, &password, encryption)?;
    write_output(&out, &bytes, FileMode::Secret, args.force)?;
    ca.commit(
        &qvca::store::oplog::Operation::new("export pfx")
            .with_certificate(&entry.serial, &entry.name),
    )?;
    let report = PfxExport {
        path: &out,
        name: &entry.name,
        serial: &entry.serial,
        encryption,
        bytes: bytes.len(),
    };
    ctx.out.report(&report, |text| {
        let _ = writeln!(
            text,
            "wrote {} ({} {} with its key and the root; {} encryption)",
            out.display(),
            entry.kind.description(),
            entry.name,
            if args.legacy {
                "legacy 3DES"
            } else {
                "AES-256"
            }
        );
    });
    Ok(exit::SUCCESS)
}

fn license_service(ctx: &Context, args: &ExportLicenseServiceArgs) -> qvca::Result<u8> {
    let mut ca = Ca::open_for_update(&ctx.ca_dir()?)?;
    // Fail on an ambiguous or missing certificate before asking for a password.
    qvca::ops::export::choose_server(&ca, args.machine.as_deref())?;
    let signer = ctx.unlock(&ca)?;
    let export = export_license_service(
        &mut ca,
        &signer,
        args.machine.as_deref(),
        args.out.as_deref(),
    )?;
    ctx.out.report(&export, |text| {
        for file in &export.files {
            let _ = writeln!(
                text,
                "{} {}",
                if file.changed {
                    "wrote    "
                } else {
                    "unchanged"
                },
                file.path.display()
            );
        }
        let _ = writeln!(
            text,
            "Server certificate of {} (serial {}).",
            export.machine, export.server_serial
        );
        if export.changed {
            let _ = writeln!(text, "{RESTART_REMINDER}");
        } else {
            let _ = writeln!(
                text,
                "The export was already current; no restart is needed."
            );
        }
    });
    Ok(exit::SUCCESS)
}

/// The JSON shape of `export root` and `export cert` when they write a file.
#[derive(Serialize)]
struct CertificateExport {
    path: Option<PathBuf>,
    format: &'static str,
    subject: String,
    sha1_thumbprint: String,
    chain: bool,
}

fn root(ctx: &Context, args: &ExportRootArgs) -> qvca::Result<u8> {
    let ca = Ca::open(&ctx.ca_dir()?)?;
    let root_der = ca.root_der()?;
    let default_name = qvca::domain::name::file_name(&ca.index().settings.root_cn, "cer");
    let target = CertificateTarget {
        out: args.out.as_deref(),
        der: args.der,
        force: args.force,
        default_name: &default_name,
    };
    write_certificates(ctx, &[root_der.as_ref()], &target)
}

fn cert(ctx: &Context, args: &ExportCertArgs) -> qvca::Result<u8> {
    let ca = Ca::open(&ctx.ca_dir()?)?;
    let entry = ca.resolve(&args.name)?;
    let cert_der = ca.certificate_der(entry)?;
    let root_der = ca.root_der()?;
    let mut certificates = vec![cert_der.as_ref()];
    if args.chain && entry.kind != qvca::domain::kind::CertKind::Root {
        certificates.push(root_der.as_ref());
    }
    let default_name = qvca::domain::name::file_name(&entry.name, "cer");
    let target = CertificateTarget {
        out: args.out.as_deref(),
        der: args.der,
        force: args.force,
        default_name: &default_name,
    };
    write_certificates(ctx, &certificates, &target)
}

/// Where `export root` and `export cert` write.
struct CertificateTarget<'a> {
    out: Option<&'a std::path::Path>,
    der: bool,
    force: bool,
    /// The file name used for DER without --out.
    default_name: &'a str,
}

/// Writes certificates (the first one's details are reported): PEM to stdout unless a file is
/// named, DER (one certificate) to a file.
fn write_certificates(
    ctx: &Context,
    certificates: &[&[u8]],
    target: &CertificateTarget<'_>,
) -> qvca::Result<u8> {
    let first = certificates
        .first()
        .ok_or_else(|| qvca::Error::failed("internal error: no certificate to export"))?;
    let details = qvca::pki::certificate::CertificateDetails::from_der(first)?;
    let (bytes, format) = if target.der {
        (first.to_vec(), "der")
    } else {
        let pem: String = certificates
            .iter()
            .map(|der| to_pem("CERTIFICATE", der))
            .collect();
        (pem.into_bytes(), "pem")
    };
    let path = match (target.out, target.der) {
        (Some(path), _) => Some(path.to_path_buf()),
        (None, true) => Some(PathBuf::from(target.default_name)),
        (None, false) => None,
    };
    let Some(path) = path else {
        ctx.out.data(&bytes);
        return Ok(exit::SUCCESS);
    };
    write_output(&path, &bytes, FileMode::Public, target.force)?;
    let report = CertificateExport {
        path: Some(path.clone()),
        format,
        subject: details.subject.clone(),
        sha1_thumbprint: details.sha1_thumbprint.clone(),
        chain: certificates.len() > 1,
    };
    ctx.out.report(&report, |text| {
        let _ = writeln!(
            text,
            "wrote {} ({}, {}, thumbprint {}{})",
            path.display(),
            format.to_uppercase(),
            details.subject,
            details.sha1_thumbprint,
            if report.chain { ", with the root" } else { "" }
        );
    });
    Ok(exit::SUCCESS)
}
