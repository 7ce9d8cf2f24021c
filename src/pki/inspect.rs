//! `inspect`: what any certificate, CRL, request, key, PKCS#7 bundle or PKCS#12 file holds,
//! without needing a CA.
//!
//! Reading is lenient and reporting exact: every part that decodes is shown, every part that
//! does not is named with the reason (an undecodable extension is shown raw with its decode
//! error), and encodings that are not strict DER are read and flagged. Only a file that is
//! none of the kinds above fails. Issuance and verification never read through here: they
//! stay strict ([`crate::pki::certificate::CertificateDetails`]).
//!
//! Containers: PEM (blocks among explanatory text, RFC 1421 headers, old labels such as
//! `X509 CERTIFICATE` and `NEW CERTIFICATE REQUEST`), DER, PKCS#7 certificate bundles
//! (`.p7b`), PKCS#12 (with its password for the contents; without it, its protection).

mod cert;
mod crl;

pub(crate) mod ext;
mod key;
mod pem;
mod pfx;
mod request;

pub use cert::{CertificateReport, ChainLink, chain_links};
pub use crl::{CrlDetails, RevokedEntry, crl_details};
pub use ext::ExtensionReport;
pub use key::KeySummary;
pub use pfx::{PfxEntryReport, list_entries};
pub use request::RequestReport;

use crate::domain::secret::Password;
use crate::error::{Error, Result};
use crate::pki::pkcs12::{Integrity, PfxProtection, describe_protection, read_pfx};
use der::Decode;
use serde::Serialize;
use x509_cert::ext::pkix::CrlReason;

/// The kind of file, decided from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// PEM text (certificates, CRLs, requests, keys, PKCS#7).
    Pem,
    /// A DER certificate.
    DerCertificate,
    /// A DER CRL.
    DerCrl,
    /// A DER PKCS#10 certificate request.
    DerRequest,
    /// A DER PKCS#7 (CMS) bundle of certificates (`.p7b`).
    Pkcs7,
    /// A DER private key (PKCS#8, PKCS#1 or SEC1).
    DerKey,
    /// A PKCS#12 file (its contents need the password).
    Pkcs12,
}

/// The PKCS#7 signedData content type.
const SIGNED_DATA: &str = "1.2.840.113549.1.7.2";

/// Decides what a file is; unknown content is an error that says which formats are read.
pub fn detect(bytes: &[u8]) -> Result<FileKind> {
    if crate::pki::certificate::looks_like_pem(bytes) {
        return Ok(FileKind::Pem);
    }
    if CertificateReport::read(bytes).is_ok() {
        return Ok(FileKind::DerCertificate);
    }
    if crl_details(bytes).is_ok() {
        return Ok(FileKind::DerCrl);
    }
    if request::read_request(bytes).is_ok() {
        return Ok(FileKind::DerRequest);
    }
    if pkcs7_parts(bytes).is_some()
        || crate::pki::der_walk::ber_to_der(bytes).is_some_and(|der| pkcs7_parts(&der).is_some())
    {
        return Ok(FileKind::Pkcs7);
    }
    if crate::pki::pkcs12::looks_like_pfx(bytes) {
        return Ok(FileKind::Pkcs12);
    }
    if key::describe_der_key(bytes).is_some() {
        return Ok(FileKind::DerKey);
    }
    Err(Error::failed(
        "not a file qvca can read: give a certificate, CRL, certificate request, private key \
         or PKCS#7 bundle (PEM or DER), or a PKCS#12 (.pfx/.p12) file",
    ))
}

/// Everything found in a file.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Inspection {
    /// Certificates, in the order of the file.
    pub certificates: Vec<CertificateReport>,
    /// Which certificate of the file signed which, with the signatures checked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<ChainLink>,
    /// CRLs.
    pub crls: Vec<CrlDetails>,
    /// PKCS#10 certificate requests.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<RequestReport>,
    /// Private keys (described, never shown).
    pub keys: Vec<KeySummary>,
    /// PEM blocks qvca does not interpret.
    pub other_blocks: Vec<String>,
    /// Parts of the file that could not be read at all (the rest is shown).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// For PKCS#12 files: how they are protected (read without the password).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkcs12_protection: Option<PfxProtection>,
    /// For PKCS#12 files opened with their password: their entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkcs12_entries: Option<Vec<PfxEntryReport>>,
    /// For PKCS#12 files read without a password: what that leaves unread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkcs12_locked: Option<String>,
}

impl Inspection {
    /// True when nothing at all was found.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
            && self.crls.is_empty()
            && self.requests.is_empty()
            && self.keys.is_empty()
            && self.pkcs12_protection.is_none()
    }
}

/// Inspects any file: `password` is used for PKCS#12 files only; without one, a PKCS#12 file's
/// protection is reported (and the certificates it stores in the clear), and the rest is
/// marked as needing the password. `source` names the file in messages.
pub fn inspect_file(bytes: &[u8], password: Option<&Password>, source: &str) -> Result<Inspection> {
    let kind = detect(bytes).map_err(|e| Error::failed(format!("{source}: {}", e.message())))?;
    match (kind, password) {
        (FileKind::Pkcs12, Some(password)) => inspect_pkcs12(bytes, password, source),
        (FileKind::Pkcs12, None) => inspect_pkcs12_without_password(bytes),
        _ => inspect_plain(bytes),
    }
}

/// Inspects a file that is not PKCS#12 (PEM, DER certificate, CRL, request, key, PKCS#7).
pub fn inspect_plain(bytes: &[u8]) -> Result<Inspection> {
    let mut found = Inspection::default();
    match detect(bytes)? {
        FileKind::DerCertificate => found.certificates.push(CertificateReport::read(bytes)?),
        FileKind::DerCrl => found.crls.push(crl_details(bytes)?),
        FileKind::DerRequest => found.requests.push(request::read_request(bytes)?),
        FileKind::Pkcs7 => read_pkcs7(bytes, &mut found),
        FileKind::DerKey => found.keys.extend(key::describe_der_key(bytes)),
        FileKind::Pkcs12 => {
            return Err(Error::usage(
                "a PKCS#12 file is read with inspect_file or inspect_pkcs12",
            ));
        }
        FileKind::Pem => {
            let (blocks, problems) = pem::pem_blocks(bytes);
            found.problems = problems;
            for (n, block) in blocks.iter().enumerate() {
                read_pem_block(n + 1, block, &mut found);
            }
        }
    }
    finish(&mut found);
    if found.is_empty() {
        let why = if found.problems.is_empty() {
            String::new()
        } else {
            format!(" ({})", found.problems.join("; "))
        };
        return Err(Error::failed(format!(
            "holds no certificate, CRL, certificate request or private key that qvca can \
             read{why}"
        )));
    }
    Ok(found)
}

fn read_pem_block(n: usize, block: &pem::PemBlock, found: &mut Inspection) {
    let label = block.label.as_str();
    let failed = |found: &mut Inspection, e: Error| {
        found.problems.push(format!(
            "PEM block {n} ({label}) cannot be read: {}",
            e.message()
        ));
    };
    match label {
        "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => {
            match CertificateReport::read(&block.der) {
                Ok(mut c) => {
                    if label != "CERTIFICATE" {
                        c.non_der.push(format!(
                            "the PEM label is {label} (today's label is CERTIFICATE)"
                        ));
                    }
                    found.certificates.push(c);
                }
                Err(e) => failed(found, e),
            }
        }
        "X509 CRL" => match crl_details(&block.der) {
            Ok(c) => found.crls.push(c),
            Err(e) => failed(found, e),
        },
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => {
            match request::read_request(&block.der) {
                Ok(r) => found.requests.push(r),
                Err(e) => failed(found, e),
            }
        }
        "PKCS7" | "PKCS #7 SIGNED DATA" | "CERTIFICATE CHAIN" => read_pkcs7(&block.der, found),
        "PRIVATE KEY"
        | "ENCRYPTED PRIVATE KEY"
        | "RSA PRIVATE KEY"
        | "EC PRIVATE KEY"
        | "DSA PRIVATE KEY"
        | "ANY PRIVATE KEY" => {
            found
                .keys
                .push(key::describe_key(label, &block.headers, &block.der));
        }
        _ => found.other_blocks.push(block.label.clone()),
    }
}

/// The certificates and the CRLs of a PKCS#7 bundle, each a DER element.
type Pkcs7Parts<'a> = (Vec<&'a [u8]>, Vec<&'a [u8]>);

/// The certificates and CRLs of a PKCS#7 signedData, as DER elements; `None` when the bytes
/// are not a PKCS#7 signedData at all.
fn pkcs7_parts(der: &[u8]) -> Option<Pkcs7Parts<'_>> {
    if !crate::pki::der_walk::is_one_element(der) {
        return None;
    }
    let info = crate::pki::der_walk::children(der)?;
    let oid: const_oid::ObjectIdentifier =
        const_oid::ObjectIdentifier::from_der(info.first()?).ok()?;
    if oid.to_string() != SIGNED_DATA {
        return None;
    }
    let explicit = crate::pki::der_walk::children(info.get(1)?)?;
    let signed = crate::pki::der_walk::children(explicit.first()?)?;
    let mut certificates = Vec::new();
    let mut crls = Vec::new();
    for part in signed {
        match part.first() {
            Some(0xA0) => certificates = crate::pki::der_walk::children(part)?,
            Some(0xA1) => crls = crate::pki::der_walk::children(part)?,
            _ => {}
        }
    }
    Some((certificates, crls))
}

fn read_pkcs7(der: &[u8], found: &mut Inspection) {
    // Some tools write BER (indefinite lengths): read it as DER.
    let rewritten = match pkcs7_parts(der) {
        Some(_) => None,
        None => crate::pki::der_walk::ber_to_der(der),
    };
    let der = rewritten.as_deref().unwrap_or(der);
    let Some((certificates, crls)) = pkcs7_parts(der) else {
        found.problems.push(
            "a PKCS#7 block is not a signedData bundle qvca can read: convert it with \
             `openssl pkcs7 -print_certs`"
                .into(),
        );
        return;
    };
    if certificates.is_empty() && crls.is_empty() {
        found
            .problems
            .push("the PKCS#7 bundle holds no certificate and no CRL".into());
    }
    for (i, cert) in certificates.iter().enumerate() {
        match CertificateReport::read(cert) {
            Ok(c) => found.certificates.push(c),
            Err(e) => found.problems.push(format!(
                "certificate {} of the PKCS#7 bundle cannot be read: {}",
                i + 1,
                e.message()
            )),
        }
    }
    for (i, crl) in crls.iter().enumerate() {
        match crl_details(crl) {
            Ok(c) => found.crls.push(c),
            Err(e) => found.problems.push(format!(
                "CRL {} of the PKCS#7 bundle cannot be read: {}",
                i + 1,
                e.message()
            )),
        }
    }
}

/// Relates the parts of a file: which certificate signs which, and which signs each CRL.
fn finish(found: &mut Inspection) {
    found.chain = chain_links(&found.certificates);
    for crl in &mut found.crls {
        crl.signature = Some(crl::crl_signature(crl, &found.certificates));
    }
}

/// Opens a PKCS#12 file with its password and lists its protection and entries.
pub fn inspect_pkcs12(bytes: &[u8], password: &Password, source: &str) -> Result<Inspection> {
    let protection = describe_protection(bytes)?;
    let archive = read_pfx(bytes, password, source, Integrity::Optional)?;
    Ok(Inspection {
        pkcs12_protection: Some(protection),
        pkcs12_entries: Some(list_entries(&archive)?),
        ..Inspection::default()
    })
}

/// Reports a PKCS#12 file's protection without its password, with the certificates it
/// stores in the clear (if any); its keys and encrypted parts need the password.
pub fn inspect_pkcs12_without_password(bytes: &[u8]) -> Result<Inspection> {
    let protection = describe_protection(bytes)?;
    let mut found = Inspection::default();
    if protection.parts.iter().all(|p| !p.encrypted) && !protection.integrity_protected {
        // Nothing is encrypted and no MAC needs a password (Java trust stores, `-nomac
        // -certpbe NONE -keypbe NONE`): everything can be read.
        let entries = read_pfx(bytes, &Password::new(""), "the file", Integrity::Optional)
            .and_then(|archive| list_entries(&archive));
        if let Ok(entries) = entries {
            found.pkcs12_protection = Some(protection);
            found.pkcs12_entries = Some(entries);
            return Ok(found);
        }
    }
    for (i, der) in crate::pki::pkcs12::clear_certificates(bytes)?
        .iter()
        .enumerate()
    {
        match CertificateReport::read(der) {
            Ok(c) => found.certificates.push(c),
            Err(e) => found.problems.push(format!(
                "certificate {} stored in the clear cannot be read: {}",
                i + 1,
                e.message()
            )),
        }
    }
    finish(&mut found);
    let shown = if found.certificates.is_empty() {
        ""
    } else {
        " (the certificates shown are stored in the clear; without the password their \
         integrity is not checked)"
    };
    found.pkcs12_locked = Some(format!(
        "the contents need the password: give it with --pfx-password-file FILE or \
         QVCA_PFX_PASSWORD{shown}"
    ));
    found.pkcs12_protection = Some(protection);
    Ok(found)
}

/// The RFC 5280 name of a CRL reason code.
pub fn reason_name(reason: CrlReason) -> &'static str {
    ext::reason_words(reason as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_bytes_are_refused_with_the_formats_qvca_reads() {
        let err = detect(b"hello").expect_err("not a known format");
        assert!(err.message().contains("PKCS#12"));
        assert!(detect(&[]).is_err());
    }

    #[test]
    fn a_damaged_pem_block_is_an_error_not_a_panic() {
        assert!(inspect_plain(b"-----BEGIN CERTIFICATE-----\nAAAA").is_err());
        assert!(
            inspect_plain(b"-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n")
                .is_err()
        );
    }

    #[test]
    fn reason_names_follow_rfc_5280() {
        assert_eq!(reason_name(CrlReason::KeyCompromise), "keyCompromise");
        assert_eq!(reason_name(CrlReason::RemoveFromCRL), "removeFromCRL");
        assert_eq!(reason_name(CrlReason::AaCompromise), "aACompromise");
    }
}
