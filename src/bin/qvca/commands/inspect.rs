//! `qvca inspect FILE`: the details of any PEM, DER, CRL or PKCS#12 file.

use super::Context;
use crate::cli::InspectArgs;
use crate::exit;
use crate::output::date;
use crate::password::Purpose;
use qvca::Error;
use qvca::certificate::CertificateDetails;
use qvca::input::{PKCS12_LIMIT, read_limited};
use qvca::inspect::{FileKind, Inspection, detect, inspect_pkcs12, inspect_plain};
use serde::Serialize;
use std::fmt::Write;

#[derive(Serialize)]
struct InspectReport<'a> {
    file: &'a std::path::Path,
    kind: FileKind,
    #[serde(flatten)]
    contents: &'a Inspection,
}

/// Runs `inspect`.
pub fn run(ctx: &Context, args: &InspectArgs) -> anyhow::Result<u8> {
    let bytes = read_limited(&args.file, PKCS12_LIMIT, "the file")?;
    let kind = detect(&bytes)
        .map_err(|e| Error::failed(format!("{}: {}", args.file.display(), e.message())))?;
    let contents = if kind == FileKind::Pkcs12 {
        let password = ctx.pfx_password(Purpose::Existing)?;
        inspect_pkcs12(&bytes, &password, &args.file.display().to_string())?
    } else {
        inspect_plain(&bytes)?
    };
    if contents.certificates.is_empty()
        && contents.crls.is_empty()
        && contents.keys.is_empty()
        && contents.pkcs12_entries.is_none()
    {
        return Err(Error::failed(format!(
            "{} holds no certificate, CRL or key",
            args.file.display()
        ))
        .into());
    }
    let report = InspectReport {
        file: &args.file,
        kind,
        contents: &contents,
    };
    ctx.out.report(&report, |text| render(text, &contents));
    Ok(exit::SUCCESS)
}

fn render(text: &mut String, contents: &Inspection) {
    let count = contents.certificates.len();
    for (i, details) in contents.certificates.iter().enumerate() {
        if count > 1 {
            let _ = writeln!(text, "Certificate {} of {count}:", i + 1);
        } else {
            let _ = writeln!(text, "Certificate:");
        }
        render_details(text, details);
    }
    for crl in &contents.crls {
        let _ = writeln!(text, "CRL:");
        let _ = writeln!(text, "  {:<22}{}", "Issuer:", crl.issuer);
        let _ = writeln!(text, "  {:<22}{}", "This update:", date(crl.this_update));
        let next = crl.next_update.map_or_else(|| "none".to_owned(), date);
        let _ = writeln!(text, "  {:<22}{next}", "Next update:");
        let number = crl.crl_number.as_deref().unwrap_or("none");
        let _ = writeln!(text, "  {:<22}{number}", "CRL number:");
        let _ = writeln!(text, "  {:<22}{}", "Revoked:", crl.revoked.len());
        for r in &crl.revoked {
            let _ = writeln!(
                text,
                "    serial {} on {} ({})",
                r.serial,
                date(r.revoked_at),
                r.reason.as_deref().unwrap_or("no reason given")
            );
        }
    }
    for key in &contents.keys {
        let state = if key.encrypted {
            "encrypted"
        } else {
            "NOT encrypted"
        };
        let _ = writeln!(text, "Private key: {} ({state})", key.label);
    }
    for label in &contents.other_blocks {
        let _ = writeln!(text, "Other PEM block: {label}");
    }
    if let Some(protection) = &contents.pkcs12_protection {
        let _ = writeln!(text, "PKCS#12 protection:");
        let mac = match (&protection.mac, protection.mac_iterations) {
            (Some(mac), Some(n)) => format!("HMAC-{mac}, {n} iterations"),
            (Some(mac), None) => format!("HMAC-{mac}"),
            _ => "NONE: this file has no integrity protection; anyone could have changed \
                  it without knowing its password"
                .into(),
        };
        let _ = writeln!(text, "  {:<31}{mac}", "MAC:");
        for part in &protection.parts {
            let iterations = part
                .iterations
                .map(|n| format!(", {n} iterations"))
                .unwrap_or_default();
            let _ = writeln!(
                text,
                "  {:<31}{}{iterations}",
                format!("{}:", part.protects),
                part.algorithm
            );
        }
        let _ = writeln!(
            text,
            "  {:<31}{}",
            "Windows Server 2016 and older:",
            if protection.legacy_windows_compatible {
                "can import it (3DES/SHA-1)"
            } else {
                "cannot import it (AES): write it with --legacy for them"
            }
        );
    }
    for entry in contents.pkcs12_entries.iter().flatten() {
        let name = entry
            .friendly_name
            .as_deref()
            .unwrap_or("(no friendly name)");
        let matches = match entry.key_matches_certificate {
            Some(true) => ", key matches the certificate",
            Some(false) => ", KEY DOES NOT MATCH THE CERTIFICATE",
            None => "",
        };
        let _ = writeln!(text, "Entry \"{name}\": {}{matches}", entry.kind);
        if let Some(details) = &entry.certificate {
            render_details(text, details);
        }
    }
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
