//! `qvca show NAME|SERIAL`: the details of one certificate of the CA.

use super::Context;
use super::inspect::render_details;
use crate::cli::ShowArgs;
use crate::exit;
use qvca::ops::ca::Ca;
use qvca::pki::certificate::CertificateDetails;
use qvca::store::Entry;
use serde::Serialize;
use std::fmt::Write;

#[derive(Serialize)]
struct ShowReport<'a> {
    entry: &'a Entry,
    status: &'static str,
    certificate_file: std::path::PathBuf,
    /// None for a keyless certificate (its key lives on the node) and for a root whose key
    /// lives in a PKCS#11 token.
    #[serde(skip_serializing_if = "Option::is_none")]
    key_file: Option<std::path::PathBuf>,
    /// Where the root key lives when it is in a PKCS#11 token.
    #[serde(skip_serializing_if = "Option::is_none")]
    key_in_token: Option<&'a qvca::pki::pkcs11::location::TokenKeyLocation>,
    details: &'a CertificateDetails,
}

/// Runs `show`.
pub fn run(ctx: &Context, args: &ShowArgs) -> qvca::Result<u8> {
    let ca = Ca::open(&ctx.ca_dir()?)?;
    let entry = ca.resolve(&args.target)?;
    let details = CertificateDetails::from_der(&ca.certificate_der(entry)?)?;
    let status = entry
        .state_at(
            time::OffsetDateTime::now_utc(),
            time::Duration::days(i64::from(qvca::ops::inventory::DEFAULT_WARN_DAYS)),
        )
        .as_str();
    let key_in_token = ca
        .index()
        .settings
        .root_key
        .as_ref()
        .filter(|_| entry.kind == qvca::domain::kind::CertKind::Root);
    let report = ShowReport {
        entry,
        status,
        certificate_file: ca.store().cert_path(&entry.serial),
        key_file: (!entry.keyless && key_in_token.is_none())
            .then(|| ca.store().key_path(&entry.serial)),
        key_in_token,
        details: &details,
    };
    ctx.out.report(&report, |text| {
        let _ = writeln!(
            text,
            "{} certificate {} ({}), status {status}",
            entry.kind.description(),
            entry.name,
            entry.kind.windows_location()
        );
        if let Some(newer) = &entry.superseded_by {
            let _ = writeln!(text, "Superseded by: {newer}");
        }
        if let Some(revocation) = &entry.revocation {
            let _ = writeln!(
                text,
                "Revoked: {} ({})",
                crate::output::date(revocation.at),
                revocation.reason
            );
        }
        render_details(text, &details);
        let _ = writeln!(
            text,
            "Certificate file: {}",
            report.certificate_file.display()
        );
        match (&report.key_file, report.key_in_token) {
            (Some(key_file), _) => {
                let _ = writeln!(text, "Key file: {}", key_file.display());
            }
            (None, Some(location)) => {
                let _ = writeln!(
                    text,
                    "Key: in a PKCS#11 token, never leaving it ({location}; URI {})",
                    location.uri()
                );
            }
            (None, None) => {
                let _ = writeln!(
                    text,
                    "Key: on the node (keyless: signed from its request; the CA never held it)"
                );
            }
        }
    });
    Ok(exit::SUCCESS)
}
