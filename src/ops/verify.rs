//! Certificate verification: real path validation to the root with rustls-webpki (signature,
//! validity period, EKU, revocation when a CRL is given), the machine name against the SAN,
//! and the key usages a QlikView service needs.
//!
//! Revocation fails closed: a CRL past its nextUpdate fails the check, a CA's CRL that cannot
//! be read is an error (see [`crate::ops::revocation::verification_crl`]), and a certificate
//! the CA's index marks revoked fails even before a new CRL lists it.

use crate::domain::reason::RevocationReason;
use crate::error::Result;
use crate::pki::certificate::CertificateDetails;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde::Serialize;
use time::OffsetDateTime;

/// The outcome of verifying one certificate.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// What was verified (a file name or the certificate's name in the CA).
    pub target: String,
    /// The subject's common name.
    pub subject: Option<String>,
    /// The serial number.
    pub serial: Option<String>,
    /// True when no problem was found.
    pub ok: bool,
    /// The checks that passed.
    pub passed: Vec<String>,
    /// The problems found, one sentence each.
    pub problems: Vec<String>,
}

/// What to check besides the chain.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions<'a> {
    /// The machine name the certificate must be valid for (`--name`).
    pub name: Option<&'a str>,
    /// A DER CRL of the root to check revocation against (one past its nextUpdate fails).
    pub crl_der: Option<&'a [u8]>,
    /// The issuing CA's index: a certificate it marks revoked fails even before a CRL lists it.
    pub index: Option<&'a crate::store::Index>,
    /// Intermediate CA certificates that may complete the path to the root (`--chain`, and
    /// any further certificates in the file being verified).
    pub intermediates: &'a [CertificateDer<'a>],
}

/// Verifies `cert` against `root` at `now`.
pub fn verify_certificate(
    target: &str,
    root_der: &CertificateDer<'_>,
    cert_der: &CertificateDer<'_>,
    options: &VerifyOptions<'_>,
    now: OffsetDateTime,
) -> Verification {
    let mut result = Verification {
        target: target.to_owned(),
        subject: None,
        serial: None,
        ok: false,
        passed: Vec::new(),
        problems: Vec::new(),
    };
    let details = match CertificateDetails::from_der(cert_der) {
        Ok(d) => d,
        Err(e) => {
            result.problems.push(e.message().to_owned());
            return result;
        }
    };
    result.subject = details.subject_cn.clone();
    result.serial = Some(details.serial.to_hex());

    if cert_der.as_ref() == root_der.as_ref() {
        check_root(&details, now, &mut result);
    } else {
        check_leaf(root_der, cert_der, &details, options, now, &mut result);
    }
    result.ok = result.problems.is_empty();
    result
}

fn check_root(details: &CertificateDetails, now: OffsetDateTime, result: &mut Verification) {
    check_validity(details, now, result);
    if details.is_ca == Some(true) && details.basic_constraints_critical {
        result
            .passed
            .push("basicConstraints CA:TRUE (critical)".into());
    } else {
        result
            .problems
            .push("the root lacks a critical basicConstraints CA:TRUE".into());
    }
    for usage in ["keyCertSign", "cRLSign"] {
        if details.key_usage.iter().any(|u| u == usage) {
            result.passed.push(format!("key usage {usage}"));
        } else {
            result
                .problems
                .push(format!("the root lacks the key usage {usage}"));
        }
    }
    if details.is_self_issued() {
        result.passed.push("self-signed root".into());
    } else {
        result.problems.push("the root is not self-issued".into());
    }
}

fn check_validity(details: &CertificateDetails, now: OffsetDateTime, result: &mut Verification) {
    if now < details.not_before {
        result.problems.push(format!(
            "not valid before {}",
            crate::ops::issue::date(details.not_before)
        ));
    } else if now >= details.not_after {
        result.problems.push(format!(
            "expired on {}",
            crate::ops::issue::date(details.not_after)
        ));
    } else {
        result.passed.push(format!(
            "valid until {}",
            crate::ops::issue::date(details.not_after)
        ));
    }
}

/// The checks of a Server or Client certificate: the path to the root (signature, validity,
/// EKU, the CRL when given), a revocation the CA's index records, the usages a QlikView service
/// needs, and the machine name (`--name`).
fn check_leaf(
    root_der: &CertificateDer<'_>,
    cert_der: &CertificateDer<'_>,
    details: &CertificateDetails,
    options: &VerifyOptions<'_>,
    now: OffsetDateTime,
    result: &mut Verification,
) {
    let Some((anchor, end_entity)) = path_ends(root_der, cert_der, result) else {
        return;
    };
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(now.unix_timestamp()).unwrap_or(0),
    ));
    let crl = read_crl(options, result);
    let crls: Vec<&webpki::CertRevocationList<'_>> = crl.iter().collect();
    let revocation = if crls.is_empty() {
        None
    } else {
        webpki::RevocationOptionsBuilder::new(&crls).ok().map(|b| {
            b.with_status_policy(webpki::UnknownStatusPolicy::Allow)
                .with_expiration_policy(webpki::ExpirationPolicy::Enforce)
                .build()
        })
    };

    let anchors = [anchor];
    let mut chain_ok = true;
    for (label, usage) in usages_to_check(details) {
        match end_entity.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            options.intermediates,
            time,
            usage,
            revocation,
            None,
        ) {
            Ok(_) => result
                .passed
                .push(format!("chains to the root for {label}")),
            Err(e) => {
                chain_ok = false;
                let problem = describe_in_path(&e, label, options.intermediates.len());
                if !result.problems.contains(&problem) {
                    result.problems.push(problem);
                }
            }
        }
    }
    if chain_ok {
        result.passed.push(format!(
            "signature, validity (until {}) and usage checked",
            crate::ops::issue::date(details.not_after)
        ));
        if revocation.is_some() {
            result.passed.push("not revoked on the CRL".into());
        }
    }
    check_service_certificate(details, options, result);
    if let Some(name) = options.name {
        check_name(&end_entity, details, name, result);
    }
}

/// The root as a trust anchor and the certificate as an end entity, for webpki; `None` (with
/// the problem recorded) when either cannot serve.
fn path_ends<'a>(
    root_der: &'a CertificateDer<'_>,
    cert_der: &'a CertificateDer<'a>,
    result: &mut Verification,
) -> Option<(rustls_pki_types::TrustAnchor<'a>, webpki::EndEntityCert<'a>)> {
    let anchor = match webpki::anchor_from_trusted_cert(root_der) {
        Ok(a) => a,
        Err(e) => {
            result
                .problems
                .push(format!("the root cannot be used as a trust anchor: {e}"));
            return None;
        }
    };
    match webpki::EndEntityCert::try_from(cert_der) {
        Ok(end_entity) => Some((anchor, end_entity)),
        Err(e) => {
            result.problems.push(describe(&e));
            None
        }
    }
}

/// The CRL to check revocation against, if one was given; one that cannot be read is a problem.
fn read_crl(
    options: &VerifyOptions<'_>,
    result: &mut Verification,
) -> Option<webpki::CertRevocationList<'static>> {
    match options
        .crl_der
        .map(webpki::OwnedCertRevocationList::from_der)
    {
        Some(Ok(crl)) => Some(webpki::CertRevocationList::from(crl)),
        Some(Err(e)) => {
            result
                .problems
                .push(format!("the CRL cannot be read: {}", describe(&e)));
            None
        }
        None => None,
    }
}

/// The extended key usages to build the path for: serverAuth and clientAuth as the
/// certificate carries them (clientAuth when it carries neither).
fn usages_to_check(details: &CertificateDetails) -> Vec<(&'static str, webpki::KeyUsage)> {
    let mut usages = Vec::new();
    if details.has_eku("serverAuth") {
        usages.push(("serverAuth", webpki::KeyUsage::server_auth()));
    }
    if details.has_eku("clientAuth") || usages.is_empty() {
        usages.push(("clientAuth", webpki::KeyUsage::client_auth()));
    }
    usages
}

/// What a service certificate must be besides its path: not revoked in the CA's index, not a
/// CA, and allowed digitalSignature (which TLS needs).
fn check_service_certificate(
    details: &CertificateDetails,
    options: &VerifyOptions<'_>,
    result: &mut Verification,
) {
    if let Some(problem) = options
        .index
        .and_then(|index| revoked_in_index(index, details))
    {
        result.problems.push(problem);
    }
    if details.is_ca == Some(true) {
        result
            .problems
            .push("a CA certificate is not a service certificate".into());
    }
    if details.key_usage.iter().any(|u| u == "digitalSignature") {
        result.passed.push("key usage digitalSignature".into());
    } else if details.key_usage.is_empty() && options.index.is_none() {
        // A foreign certificate (verified against --root, not this CA) without the
        // extension: RFC 5280 then restricts nothing. qvca's own always carry it.
        result
            .passed
            .push("no key usage extension (no restriction)".into());
    } else {
        result
            .problems
            .push("the key usage lacks digitalSignature, which TLS needs".into());
    }
}

/// Whether the certificate is valid for the machine name `name` (`--name`).
fn check_name(
    end_entity: &webpki::EndEntityCert<'_>,
    details: &CertificateDetails,
    name: &str,
    result: &mut Verification,
) {
    match ServerName::try_from(name) {
        Ok(server_name) => match end_entity.verify_is_valid_for_subject_name(&server_name) {
            Ok(()) => result.passed.push(format!("valid for the name {name}")),
            Err(_) => result.problems.push(format!(
                "not valid for the name {name}: its SAN holds {}",
                if details.dns_names.is_empty() {
                    "no DNS name".to_owned()
                } else {
                    details.dns_names.join(", ")
                }
            )),
        },
        Err(_) => result
            .problems
            .push(format!("{name:?} is not a valid machine name")),
    }
}

/// The problem when the CA's index marks this very certificate revoked.
fn revoked_in_index(index: &crate::store::Index, details: &CertificateDetails) -> Option<String> {
    let entry = index.by_serial(&details.serial)?;
    if entry.status != crate::store::EntryStatus::Revoked
        || !entry
            .sha256
            .eq_ignore_ascii_case(&details.sha256_fingerprint)
    {
        return None;
    }
    let (reason, at) = entry.revocation.as_ref().map_or_else(
        || (RevocationReason::Unspecified, String::new()),
        |r| (r.reason, format!(" on {}", crate::ops::issue::date(r.at))),
    );
    Some(format!(
        "it has been revoked ({reason}{at}, recorded in the CA's index; publish it with `qvca crl`)"
    ))
}

/// A sentence for a webpki error met while building the path from a certificate to the root,
/// in plain words, with what to do where there is something to do. `usage` names the EKU
/// checked; `intermediates` is how many `--chain` certificates were given.
pub fn describe_in_path(error: &webpki::Error, usage: &str, intermediates: usize) -> String {
    use webpki::Error as E;
    let date = |t: &UnixTime| {
        OffsetDateTime::from_unix_timestamp(i64::try_from(t.as_secs()).unwrap_or(i64::MAX))
            .map_or_else(|_| "an unreadable date".to_owned(), crate::ops::issue::date)
    };
    match error {
        E::UnknownIssuer if intermediates == 0 => "unknown issuer: it was not issued by the \
            root, and no intermediate CA certificate was given; if an intermediate CA issued \
            it, pass that certificate with --chain FILE"
            .into(),
        E::UnknownIssuer => "unknown issuer: no path leads from it through the --chain \
            certificates to the root (wrong root, or an intermediate is missing)"
            .into(),
        E::InvalidSignatureForPublicKey => "bad signature: a signature on the path does not \
            verify with its issuer's key (the certificate was altered, or another CA with the \
            same name issued it)"
            .into(),
        E::CertExpired { not_after, .. } => format!(
            "expired: a certificate on the path was valid only until {}",
            date(not_after)
        ),
        E::CertNotValidYet { not_before, .. } => format!(
            "not yet valid: a certificate on the path is valid only from {}",
            date(not_before)
        ),
        E::RequiredEkuNotFoundContext(_) | E::EmptyEkuExtension => {
            format!("missing EKU: its extended key usage does not allow {usage}")
        }
        E::EndEntityUsedAsCa => "a certificate on the path that signs others is not a CA \
            (its basicConstraints says CA:FALSE or is absent)"
            .into(),
        E::PathLenConstraintViolated => "the path is longer than a CA's pathLenConstraint \
            allows"
            .into(),
        E::NameConstraintViolation => "a CA's name constraints do not allow its names".into(),
        E::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
        | E::UnsupportedSignatureAlgorithmContext(_) => "it was not issued by the root (its \
            signature does not fit the root's key type), or its signature uses an algorithm \
            no longer accepted (such as SHA-1 or MD5)"
            .into(),
        E::UnsupportedCertVersion => "it is not an X.509 version 3 certificate".into(),
        E::CertRevoked => "revoked: it is on the CRL".into(),
        other => describe(other),
    }
}

/// A sentence for a webpki error.
pub fn describe(error: &webpki::Error) -> String {
    use webpki::Error as E;
    match error {
        E::UnknownIssuer => "it was not issued by this CA's root (unknown issuer)".into(),
        E::InvalidSignatureForPublicKey => {
            "its signature does not verify against the root's key".into()
        }
        E::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
        | E::UnsupportedSignatureAlgorithmContext(_) => {
            "it was not issued by this CA's root (its signature does not fit the root's key type)"
                .into()
        }
        E::CertExpired { .. } => "it has expired".into(),
        E::CertNotValidYet { .. } => "it is not valid yet".into(),
        E::CertRevoked => "it has been revoked (it is on the CRL)".into(),
        E::RequiredEkuNotFoundContext(_) => "its extended key usage does not allow this use".into(),
        E::CaUsedAsEndEntity => "it is a CA certificate, not a service certificate".into(),
        E::CrlExpired { .. } => "the CRL is past its nextUpdate: run `qvca crl`".into(),
        E::BadDer | E::BadDerTime | E::TrailingData(_) => "it is not valid DER".into(),
        other => format!("path validation failed: {other}"),
    }
}

/// Verifies every current certificate of a CA against its root.
pub fn verify_ca(
    ca: &crate::ops::ca::Ca,
    name: Option<&str>,
    now: OffsetDateTime,
) -> Result<Vec<Verification>> {
    let root_der = ca.root_der()?;
    let crl_der = crate::ops::revocation::verification_crl(None, Some(ca))?;
    let mut out = Vec::new();
    // In `list`'s order, whatever order the index holds the entries in (bulk issuance records
    // them as they finish).
    let mut entries = ca.index().current_entries();
    entries.sort_by_cached_key(|e| crate::ops::inventory::seed_order(e.kind, &e.name));
    for entry in entries {
        if entry.status == crate::store::EntryStatus::Revoked {
            continue;
        }
        if let Some(name) = name
            && !entry.name.eq_ignore_ascii_case(name)
        {
            continue;
        }
        let cert = ca.certificate_der(entry)?;
        let own_name =
            (entry.kind == crate::domain::kind::CertKind::Server).then_some(entry.name.as_str());
        let options = VerifyOptions {
            name: name
                .or(own_name)
                .filter(|_| entry.kind == crate::domain::kind::CertKind::Server),
            crl_der: crl_der.as_deref(),
            index: Some(ca.index()),
            intermediates: &[],
        };
        out.push(verify_certificate(
            &format!("{} {}", entry.kind.description(), entry.name),
            &root_der,
            &cert,
            &options,
            now,
        ));
    }
    Ok(out)
}
