//! `inspect`: what any PEM, DER, CRL or PKCS#12 file holds, without needing a CA.

use crate::certificate::{CertificateDetails, looks_like_pem};
use crate::error::{Error, Result};
use crate::pkcs12::{
    Integrity, PfxEntryReport, PfxProtection, describe_protection, list_entries, read_pfx,
};
use crate::secret::Password;
use crate::serial::Serial;
use der::Decode;
use serde::Serialize;
use time::OffsetDateTime;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::{CrlNumber, CrlReason};

/// The kind of file, decided from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// PEM text (certificates, CRLs, keys).
    Pem,
    /// A DER certificate.
    DerCertificate,
    /// A DER CRL.
    DerCrl,
    /// A PKCS#12 file (needs a password to open).
    Pkcs12,
}

/// Decides what a file is; unknown content is an error that says which formats are read.
pub fn detect(bytes: &[u8]) -> Result<FileKind> {
    if looks_like_pem(bytes) {
        return Ok(FileKind::Pem);
    }
    if x509_cert::Certificate::from_der(bytes).is_ok() {
        return Ok(FileKind::DerCertificate);
    }
    if CertificateList::<x509_cert::certificate::Rfc5280>::from_der(bytes).is_ok() {
        return Ok(FileKind::DerCrl);
    }
    if crate::pkcs12::looks_like_pfx(bytes) {
        return Ok(FileKind::Pkcs12);
    }
    Err(Error::failed(
        "not a file qvca can read: give a PEM or DER certificate, a CRL, or a PKCS#12 (.pfx) file",
    ))
}

/// A revoked certificate on a CRL.
#[derive(Debug, Clone, Serialize)]
pub struct RevokedEntry {
    /// Its serial.
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
    /// The revoked certificates.
    pub revoked: Vec<RevokedEntry>,
}

/// A private key found in a PEM file (its contents are never shown).
#[derive(Debug, Clone, Serialize)]
pub struct KeySummary {
    /// The PEM label.
    pub label: String,
    /// True for encrypted PKCS#8.
    pub encrypted: bool,
}

/// Everything found in a file.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Inspection {
    /// Certificates.
    pub certificates: Vec<CertificateDetails>,
    /// CRLs.
    pub crls: Vec<CrlDetails>,
    /// Private keys (described, not shown).
    pub keys: Vec<KeySummary>,
    /// PEM blocks qvca does not interpret.
    pub other_blocks: Vec<String>,
    /// For PKCS#12 files: how they are protected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkcs12_protection: Option<PfxProtection>,
    /// For PKCS#12 files: their entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkcs12_entries: Option<Vec<PfxEntryReport>>,
}

/// Inspects a PEM, DER certificate or DER CRL file (PKCS#12: see [`inspect_pkcs12`]).
pub fn inspect_plain(bytes: &[u8]) -> Result<Inspection> {
    let mut found = Inspection::default();
    match detect(bytes)? {
        FileKind::DerCertificate => found
            .certificates
            .push(CertificateDetails::from_der(bytes)?),
        FileKind::DerCrl => found.crls.push(crl_details(bytes)?),
        FileKind::Pkcs12 => {
            return Err(Error::usage(
                "a PKCS#12 file needs its password: use inspect_pkcs12",
            ));
        }
        FileKind::Pem => {
            let text = String::from_utf8_lossy(bytes);
            let blocks = pem_blocks(&text)?;
            for (label, der) in blocks {
                match label.as_str() {
                    "CERTIFICATE" => found.certificates.push(CertificateDetails::from_der(&der)?),
                    "X509 CRL" => found.crls.push(crl_details(&der)?),
                    "ENCRYPTED PRIVATE KEY" => found.keys.push(KeySummary {
                        label,
                        encrypted: true,
                    }),
                    "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {
                        found.keys.push(KeySummary {
                            label,
                            encrypted: false,
                        })
                    }
                    _ => found.other_blocks.push(label),
                }
            }
        }
    }
    Ok(found)
}

/// Every PEM block of a text: (label, DER).
fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let label_end = block[11..]
            .find("-----")
            .ok_or_else(|| Error::failed("a PEM BEGIN line is not terminated"))?;
        let label = &block[11..11 + label_end];
        let end_marker = format!("-----END {label}-----");
        let end = block
            .find(&end_marker)
            .ok_or_else(|| Error::failed(format!("the PEM block {label} has no END line")))?;
        let whole = &block[..end + end_marker.len()];
        let (_, der) = der::pem::decode_vec(whole.as_bytes())
            .map_err(|e| Error::failed(format!("the PEM block {label} is damaged: {e}")))?;
        blocks.push((label.to_owned(), der));
        rest = &block[end + end_marker.len()..];
    }
    Ok(blocks)
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

fn time_of(t: x509_cert::time::Time) -> Result<OffsetDateTime> {
    let secs = i64::try_from(t.to_unix_duration().as_secs())
        .map_err(|_| Error::failed("a CRL date is out of range"))?;
    OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|_| Error::failed("a CRL date is out of range"))
}

/// The RFC 5280 name of a CRL reason code.
pub fn reason_name(reason: CrlReason) -> &'static str {
    match reason {
        CrlReason::Unspecified => "unspecified",
        CrlReason::KeyCompromise => "keyCompromise",
        CrlReason::CaCompromise => "cACompromise",
        CrlReason::AffiliationChanged => "affiliationChanged",
        CrlReason::Superseded => "superseded",
        CrlReason::CessationOfOperation => "cessationOfOperation",
        CrlReason::CertificateHold => "certificateHold",
        CrlReason::RemoveFromCRL => "removeFromCRL",
        CrlReason::PrivilegeWithdrawn => "privilegeWithdrawn",
        CrlReason::AaCompromise => "aACompromise",
    }
}

/// Decodes a DER CRL.
pub fn crl_details(der: &[u8]) -> Result<CrlDetails> {
    let crl = CertificateList::<x509_cert::certificate::Rfc5280>::from_der(der)
        .map_err(|e| Error::failed(format!("not a valid CRL: {e}")))?;
    let tbs = &crl.tbs_cert_list;
    let crl_number = tbs.crl_extensions.as_ref().and_then(|exts| {
        exts.iter()
            .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_CRL_NUMBER)
            .and_then(|e| CrlNumber::from_der(e.extn_value.as_bytes()).ok())
            .map(|n| hex::encode_upper(n.0.as_bytes()))
    });
    let mut revoked = Vec::new();
    for entry in tbs.revoked_certificates.iter().flatten() {
        let reason = entry.crl_entry_extensions.as_ref().and_then(|exts| {
            exts.iter()
                .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_CRL_REASONS)
                .and_then(|e| CrlReason::from_der(e.extn_value.as_bytes()).ok())
                .map(|r| reason_name(r).to_owned())
        });
        revoked.push(RevokedEntry {
            serial: Serial::from_be_bytes(entry.serial_number.as_bytes()).map_or_else(
                |_| hex::encode_upper(entry.serial_number.as_bytes()),
                |s| s.to_hex(),
            ),
            revoked_at: time_of(entry.revocation_date)?,
            reason,
        });
    }
    Ok(CrlDetails {
        issuer: tbs.issuer.to_string(),
        this_update: time_of(tbs.this_update)?,
        next_update: tbs.next_update.map(time_of).transpose()?,
        crl_number,
        revoked,
    })
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
    fn encode_round_trip_of_a_crl_number_is_readable() {
        let n = CrlNumber(der::asn1::Uint::new(&[1, 2]).expect("uint"));
        let der = der::Encode::to_der(&n).expect("der");
        assert_eq!(
            CrlNumber::from_der(&der).expect("decode").0.as_bytes(),
            &[1, 2]
        );
    }
}
