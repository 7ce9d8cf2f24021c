//! Reading CRLs, version 1 (no version field, no extensions: the default of `openssl ca
//! -gencrl` and many CAs) and version 2, leniently: what decodes is shown, what does not is
//! named.

use super::ext::{
    ExtensionReport, algorithm_name, describe_extensions, name_to_string, serial_hex,
};
use crate::error::{Error, Result};
use der::Decode;
use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::prelude::{CertificateRevocationList, FromDer, ParsedExtension};

/// A revoked certificate on a CRL.
#[derive(Debug, Clone, Serialize)]
pub struct RevokedEntry {
    /// Its serial (upper-case hex, as `list` and `show` print serials).
    pub serial: String,
    /// When it was revoked.
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    /// The RFC 5280 reason, if given.
    pub reason: Option<String>,
}

/// The details of a CRL.
#[derive(Debug, Clone, Serialize)]
pub struct CrlDetails {
    /// The CRL version: 1 (no version field) or 2.
    pub version: u32,
    /// The issuer DN.
    pub issuer: String,
    /// thisUpdate.
    #[serde(with = "time::serde::rfc3339")]
    pub this_update: OffsetDateTime,
    /// nextUpdate.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_update: Option<OffsetDateTime>,
    /// The CRL number.
    pub crl_number: Option<String>,
    /// The signature algorithm.
    pub signature_algorithm: String,
    /// The revoked certificates.
    pub revoked: Vec<RevokedEntry>,
    /// The CRL's own extensions.
    pub extensions: Vec<ExtensionReport>,
    /// True when the whole CRL is strict DER.
    pub strict_der: bool,
    /// Encodings that are not strict DER but were read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub non_der: Vec<String>,
    /// Parts that could not be decoded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Which certificate of the same file signed it, and whether the signature verifies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The CRL's DER (for the signature check against a certificate of the same file).
    #[serde(skip)]
    pub der: Vec<u8>,
}

/// Decodes a DER CRL (version 1 or 2). Fails only when the bytes are not a CRL at all.
pub fn crl_details(der: &[u8]) -> Result<CrlDetails> {
    let (rest, crl) = CertificateRevocationList::from_der(der)
        .map_err(|e| Error::failed(format!("not a valid CRL: {e}")))?;
    let der = &der[..der.len() - rest.len()];
    let tbs = &crl.tbs_cert_list;
    let mut problems = Vec::new();
    let mut non_der = Vec::new();
    let strict = x509_cert::crl::CertificateList::<x509_cert::certificate::Rfc5280>::from_der(der);
    let version = tbs.version.map_or(1, |v| v.0 + 1);
    if let Err(e) = &strict {
        // x509-cert 0.3 cannot read a version 1 CRL (it wants the version field): only a
        // failure of a version 2 CRL says something about its encoding.
        if version != 1 {
            non_der.push(format!("the CRL is not strict DER ({e})"));
        }
    }
    let extensions = describe_extensions(tbs.extensions(), &mut problems, &mut non_der);
    let crl_number = crl.crl_number().map(|n| n.to_str_radix(16).to_uppercase());
    let mut revoked = Vec::new();
    for entry in crl.iter_revoked_certificates() {
        let mut reason = None;
        for ext in entry.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::ReasonCode(code) => {
                    reason = Some(super::ext::reason_words(code.0).to_owned());
                }
                ParsedExtension::ParseError { error } => problems.push(format!(
                    "an entry extension ({}) of serial {} cannot be decoded ({error})",
                    super::ext::oid_words(&ext.oid),
                    hex::encode_upper(entry.raw_serial())
                )),
                _ => {}
            }
        }
        revoked.push(RevokedEntry {
            serial: serial_hex(entry.raw_serial()),
            revoked_at: entry.revocation_date.to_datetime(),
            reason,
        });
    }
    Ok(CrlDetails {
        version,
        issuer: name_to_string(&tbs.issuer, &mut non_der, "issuer"),
        this_update: tbs.this_update.to_datetime(),
        next_update: tbs.next_update.map(|t| t.to_datetime()),
        crl_number,
        signature_algorithm: algorithm_name(&crl.signature_algorithm.algorithm),
        revoked,
        extensions,
        // A version 1 CRL that reads is DER as far as anyone checks: x509-cert cannot say.
        strict_der: strict.is_ok() || version == 1,
        non_der,
        problems,
        signature: None,
        der: der.to_vec(),
    })
}

/// Checks a CRL's signature against the certificates of the same file whose subject is its
/// issuer, in words.
pub fn crl_signature(crl: &CrlDetails, certificates: &[super::cert::CertificateReport]) -> String {
    let Ok((_, parsed)) = CertificateRevocationList::from_der(&crl.der) else {
        return "cannot be checked".into();
    };
    let issuer = parsed.tbs_cert_list.issuer.as_raw();
    let mut found = false;
    for (i, cert) in certificates.iter().enumerate() {
        let Ok((_, c)) = x509_parser::certificate::X509Certificate::from_der(&cert.der) else {
            continue;
        };
        if c.tbs_certificate.subject().as_raw() != issuer {
            continue;
        }
        found = true;
        if parsed.verify_signature(c.public_key()).is_ok() {
            return format!("signed by certificate {}; the signature verifies", i + 1);
        }
    }
    if found {
        "its issuer is in this file, but the signature does NOT verify with its key".into()
    } else {
        "its issuer's certificate is not in this file (signature not checked)".into()
    }
}
