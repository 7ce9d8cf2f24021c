//! `qvca inspect FILE`: the details of any PEM, DER, CRL or PKCS#12 file.

use super::Context;
use crate::cli::InspectArgs;
use crate::exit;
use crate::output::date;
use crate::password::Purpose;
use qvca::Error;
use qvca::input::{PKCS12_LIMIT, read_limited};
use qvca::pki::certificate::CertificateDetails;
use qvca::pki::inspect::{
    CertificateReport, ExtensionReport, FileKind, Inspection, detect, inspect_file,
};
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
pub fn run(ctx: &Context, args: &InspectArgs) -> qvca::Result<u8> {
    let bytes = read_limited(&args.file, PKCS12_LIMIT, "the file")?;
    let source = args.file.display().to_string();
    let kind = detect(&bytes).map_err(|e| Error::failed(format!("{source}: {}", e.message())))?;
    // Only a PKCS#12 file needs a password; without one its protection is still reported.
    let password = if kind == FileKind::Pkcs12 {
        ctx.pfx_password_if_given(
            Purpose::ExistingMayBeEmpty,
            &format!("PKCS#12 password of {source}"),
        )?
    } else {
        None
    };
    let contents = inspect_file(&bytes, password.as_ref(), &source).map_err(|e| {
        // Errors that name the file already are passed on as they are.
        if e.message().starts_with(&source) || e.message().contains(&format!(" {source} ")) {
            e
        } else {
            Error::new(e.kind(), format!("{source}: {}", e.message()))
        }
    })?;
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
        render_report(text, details);
        if let Some(link) = contents.chain.iter().find(|l| l.certificate == i + 1) {
            let _ = writeln!(text, "  {:<22}{}", "Signature:", link.signature);
        }
    }
    for crl in &contents.crls {
        let _ = writeln!(text, "CRL (version {}):", crl.version);
        let _ = writeln!(text, "  {:<22}{}", "Issuer:", crl.issuer);
        let _ = writeln!(text, "  {:<22}{}", "This update:", date(crl.this_update));
        let next = crl.next_update.map_or_else(|| "none".to_owned(), date);
        let _ = writeln!(text, "  {:<22}{next}", "Next update:");
        let number = crl.crl_number.as_deref().unwrap_or("none");
        let _ = writeln!(text, "  {:<22}{number}", "CRL number:");
        let _ = writeln!(
            text,
            "  {:<22}{}",
            "Signature algorithm:", crl.signature_algorithm
        );
        if let Some(signature) = &crl.signature {
            let _ = writeln!(text, "  {:<22}{signature}", "Signature:");
        }
        render_extensions(text, &crl.extensions);
        render_notes(text, &crl.non_der, &crl.problems);
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
    for request in &contents.requests {
        let _ = writeln!(text, "Certificate request (PKCS#10):");
        let _ = writeln!(text, "  {:<22}{}", "Subject:", request.subject);
        let _ = writeln!(text, "  {:<22}{}", "Public key:", request.public_key);
        let _ = writeln!(
            text,
            "  {:<22}{}",
            "Signature algorithm:", request.signature_algorithm
        );
        let signature = match request.signature_valid {
            Some(true) => "verifies with the request's own key",
            Some(false) => "DOES NOT VERIFY with the request's own key",
            None => "not checked (an algorithm qvca does not check)",
        };
        let _ = writeln!(text, "  {:<22}{signature}", "Signature:");
        if request.requested_extensions.is_empty() {
            let _ = writeln!(text, "  {:<22}none", "Requested extensions:");
        } else {
            let _ = writeln!(text, "  Requested extensions:");
            render_extension_lines(text, &request.requested_extensions);
        }
        for attribute in &request.attributes {
            let _ = writeln!(text, "  {:<22}{attribute}", "Attribute:");
        }
        render_notes(text, &request.non_der, &request.problems);
    }
    for key in &contents.keys {
        let state = match (&key.encryption, key.encrypted) {
            (Some(how), _) => format!("encrypted: {how}"),
            (None, true) => "encrypted".to_owned(),
            (None, false) => "NOT encrypted".to_owned(),
        };
        let algorithm = key.algorithm.as_deref().unwrap_or("algorithm hidden");
        let _ = writeln!(
            text,
            "Private key: {} ({}), {algorithm}; {state}",
            key.label, key.format
        );
        if let Some(problem) = &key.problem {
            let _ = writeln!(text, "  Problem: {problem}");
        }
    }
    for label in &contents.other_blocks {
        let _ = writeln!(text, "Other PEM block: {label}");
    }
    if let Some(protection) = &contents.pkcs12_protection {
        let _ = writeln!(text, "PKCS#12 protection:");
        let mac = match (&protection.mac, protection.mac_iterations) {
            (Some(mac), n) => {
                let name = if mac.starts_with("PBMAC1") {
                    mac.clone()
                } else {
                    format!("HMAC-{mac}")
                };
                match n {
                    Some(n) => format!("{name}, {n} iterations"),
                    None => name,
                }
            }
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
        let verdict = if protection.legacy_windows_compatible {
            "can import it".to_owned()
        } else {
            format!(
                "CANNOT import it: {}; write it with --legacy (qvca) or `openssl pkcs12 \
                 -export -legacy` for them",
                protection.legacy_windows_reasons.join("; ")
            )
        };
        let _ = writeln!(text, "  {:<31}{verdict}", "Windows Server 2016 and older:");
    }
    if let Some(locked) = &contents.pkcs12_locked {
        let _ = writeln!(text, "Contents: {locked}");
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
            render_report(text, details);
        }
    }
    for problem in &contents.problems {
        let _ = writeln!(text, "Could not read: {problem}");
    }
}

/// The human rendering of a certificate `inspect` read leniently.
fn render_report(text: &mut String, d: &CertificateReport) {
    let mut line = |label: &str, value: &str| {
        let _ = writeln!(text, "  {label:<22}{value}");
    };
    line("Subject:", &d.subject);
    line("Issuer:", &d.issuer);
    line("Version:", &d.version.to_string());
    let serial = if d.serial.is_empty() {
        "(empty)"
    } else {
        &d.serial
    };
    line("Serial number:", serial);
    line("Valid from:", &date(d.not_before));
    line("Valid to:", &date(d.not_after));
    let mut names: Vec<String> = d.dns_names.iter().map(|n| format!("DNS:{n}")).collect();
    names.extend(d.ip_addresses.iter().map(|n| format!("IP:{n}")));
    names.extend(d.other_names.iter().cloned());
    if !names.is_empty() {
        line("Subject alt. names:", &names.join(", "));
    }
    render_constraints_and_keys(
        &mut line,
        &KeyLines {
            is_ca: d.is_ca,
            basic_constraints_critical: d.basic_constraints_critical,
            key_usage: &d.key_usage,
            extended_key_usage: &d.extended_key_usage,
            public_key: &d.public_key,
            signature_algorithm: &d.signature_algorithm,
            subject_key_id: d.subject_key_id.as_deref(),
            authority_key_id: d.authority_key_id.as_deref(),
            sha1_thumbprint: &d.sha1_thumbprint,
            sha256_fingerprint: &d.sha256_fingerprint,
        },
    );
    let undecoded: Vec<&ExtensionReport> =
        d.extensions.iter().filter(|e| e.value.is_none()).collect();
    if !undecoded.is_empty() {
        let _ = writeln!(text, "  Extensions not decoded:");
        for e in undecoded {
            render_extension_lines(text, std::slice::from_ref(e));
        }
    }
    render_notes(text, &d.non_der, &d.problems);
}

fn render_extensions(text: &mut String, extensions: &[ExtensionReport]) {
    if !extensions.is_empty() {
        let _ = writeln!(text, "  Extensions:");
        render_extension_lines(text, extensions);
    }
}

fn render_extension_lines(text: &mut String, extensions: &[ExtensionReport]) {
    for e in extensions {
        let name = e.name.as_deref().unwrap_or(&e.oid);
        let critical = if e.critical { " (critical)" } else { "" };
        let value = match (&e.value, &e.raw, &e.error) {
            (Some(v), _, _) => v.clone(),
            (None, Some(raw), Some(error)) => format!("UNDECODABLE ({error}): {raw}"),
            (None, Some(raw), None) => format!("not decoded by qvca: {raw}"),
            _ => String::new(),
        };
        let _ = writeln!(text, "    {name} [{}]{critical}: {value}", e.oid);
    }
}

fn render_notes(text: &mut String, non_der: &[String], problems: &[String]) {
    for note in non_der {
        let _ = writeln!(text, "  Not strict DER: {note}");
    }
    for problem in problems {
        let _ = writeln!(text, "  Problem: {problem}");
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
    render_constraints_and_keys(
        &mut line,
        &KeyLines {
            is_ca: d.is_ca,
            basic_constraints_critical: d.basic_constraints_critical,
            key_usage: &d.key_usage,
            extended_key_usage: &d.extended_key_usage,
            public_key: &d.public_key,
            signature_algorithm: &d.signature_algorithm,
            subject_key_id: d.subject_key_id.as_deref(),
            authority_key_id: d.authority_key_id.as_deref(),
            sha1_thumbprint: &d.sha1_thumbprint,
            sha256_fingerprint: &d.sha256_fingerprint,
        },
    );
}

/// The fields the strict details (`show`) and the lenient report (`inspect`) print alike.
struct KeyLines<'a> {
    is_ca: Option<bool>,
    basic_constraints_critical: bool,
    key_usage: &'a [String],
    extended_key_usage: &'a [String],
    public_key: &'a str,
    signature_algorithm: &'a str,
    subject_key_id: Option<&'a str>,
    authority_key_id: Option<&'a str>,
    sha1_thumbprint: &'a str,
    sha256_fingerprint: &'a str,
}

/// Basic constraints, key usages, key, signature algorithm, key ids and thumbprints: the
/// lines every rendering of a certificate shares.
fn render_constraints_and_keys(line: &mut dyn FnMut(&str, &str), d: &KeyLines<'_>) {
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
    line("Key usage:", &or_none(d.key_usage));
    line("Extended key usage:", &or_none(d.extended_key_usage));
    line("Public key:", d.public_key);
    line("Signature algorithm:", d.signature_algorithm);
    if let Some(ski) = d.subject_key_id {
        line("Subject key id:", ski);
    }
    if let Some(aki) = d.authority_key_id {
        line("Authority key id:", aki);
    }
    line("Thumbprint (SHA-1):", d.sha1_thumbprint);
    line("SHA-256 fingerprint:", d.sha256_fingerprint);
}

fn or_none(values: &[String]) -> String {
    if values.is_empty() {
        "none".into()
    } else {
        values.join(", ")
    }
}
