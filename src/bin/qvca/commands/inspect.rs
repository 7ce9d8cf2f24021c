//! `qvca inspect FILE`: the details of any certificate file (PEM or DER).

use super::Context;
use crate::cli::InspectArgs;
use crate::exit;
use crate::output::date;
use qvca::Error;
use qvca::certificate::{CertificateDetails, parse_certificates};
use serde::Serialize;
use std::fmt::Write;

#[derive(Serialize)]
struct InspectReport<'a> {
    file: &'a std::path::Path,
    kind: &'static str,
    certificates: Vec<CertificateDetails>,
}

/// Runs `inspect`.
pub fn run(ctx: &Context, args: &InspectArgs) -> anyhow::Result<u8> {
    let bytes = std::fs::read(&args.file).map_err(|e| Error::io("reading", &args.file, e))?;
    let certificates = parse_certificates(&bytes, &args.file)?
        .iter()
        .map(|der| CertificateDetails::from_der(der))
        .collect::<qvca::Result<Vec<_>>>()?;
    if certificates.is_empty() {
        return Err(Error::failed(format!(
            "{} holds no certificate (PEM CERTIFICATE block or DER)",
            args.file.display()
        ))
        .into());
    }
    let report = InspectReport {
        file: &args.file,
        kind: "certificate",
        certificates,
    };
    ctx.out.report(&report, |text| {
        for (i, details) in report.certificates.iter().enumerate() {
            if report.certificates.len() > 1 {
                let _ = writeln!(
                    text,
                    "Certificate {} of {}:",
                    i + 1,
                    report.certificates.len()
                );
            }
            render_details(text, details);
        }
    });
    Ok(exit::SUCCESS)
}

/// The human rendering of a certificate's details, as Windows and openssl name the fields.
pub fn render_details(text: &mut String, d: &CertificateDetails) {
    let mut line = |label: &str, value: &str| {
        let _ = writeln!(text, "  {label:<22}{value}");
    };
    line("Subject:", &d.subject);
    line("Issuer:", &d.issuer);
    line("Serial number:", &d.serial.to_hex());
    line("Valid from:", &date(d.not_before));
    line("Valid to:", &date(d.not_after));
    if !d.dns_names.is_empty() || !d.ip_addresses.is_empty() {
        let mut names: Vec<String> = d.dns_names.iter().map(|n| format!("DNS:{n}")).collect();
        names.extend(d.ip_addresses.iter().map(|n| format!("IP:{n}")));
        line("Subject alt. names:", &names.join(", "));
    }
    let ca = match d.is_ca {
        Some(true) => "CA:TRUE",
        Some(false) => "CA:FALSE",
        None => "absent",
    };
    let critical = if d.basic_constraints_critical {
        " (critical)"
    } else {
        ""
    };
    line("Basic constraints:", &format!("{ca}{critical}"));
    line("Key usage:", &or_none(&d.key_usage));
    line("Extended key usage:", &or_none(&d.extended_key_usage));
    line("Public key:", &d.public_key);
    line("Signature algorithm:", &d.signature_algorithm);
    if let Some(ski) = &d.subject_key_id {
        line("Subject key id:", ski);
    }
    if let Some(aki) = &d.authority_key_id {
        line("Authority key id:", aki);
    }
    line("Thumbprint (SHA-1):", &d.sha1_thumbprint);
    line("SHA-256 fingerprint:", &d.sha256_fingerprint);
}

fn or_none(values: &[String]) -> String {
    if values.is_empty() {
        "none".into()
    } else {
        values.join(", ")
    }
}
