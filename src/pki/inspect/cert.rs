//! Lenient reading of one X.509 certificate for `inspect`: every field that decodes is shown,
//! every part that does not is named with its raw bytes and the decode error, and encodings
//! that are not strict DER (but that openssl and Python `cryptography` accept) are read and
//! flagged. Issuance and verification never use this: they read through the strict
//! [`crate::pki::certificate::CertificateDetails::from_der`].

use super::ext::{
    ExtensionReport, common_name_of, describe_extensions, name_to_string, san_entries,
};
use crate::error::{Error, Result};
use crate::pki::certificate::describe_public_key;
use der::Decode;
use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

/// What `inspect` shows of one certificate. The field names of
/// [`crate::pki::certificate::CertificateDetails`] mean the same here; the extra fields say what
/// could not be decoded and what is not strict DER.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateReport {
    /// The subject DN (RFC 4514).
    pub subject: String,
    /// The subject's common name ("Issued To").
    pub subject_cn: Option<String>,
    /// The issuer DN (RFC 4514).
    pub issuer: String,
    /// The issuer's common name ("Issued By").
    pub issuer_cn: Option<String>,
    /// The X.509 version (1, 2 or 3).
    pub version: u32,
    /// The serial number, upper-case hex as encoded (empty when the certificate has none).
    pub serial: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// SAN dNSName entries.
    pub dns_names: Vec<String>,
    /// SAN iPAddress entries.
    pub ip_addresses: Vec<String>,
    /// Every other SAN entry, as `email:`, `URI:`, `DirName:`, `x400Address`, ...
    pub other_names: Vec<String>,
    /// Key usage names (RFC 5280 spelling), empty when the extension is absent or undecodable.
    pub key_usage: Vec<String>,
    /// Extended key usage names (`serverAuth`, `clientAuth`, or the OID).
    pub extended_key_usage: Vec<String>,
    /// basicConstraints CA flag (None when the extension is absent or undecodable).
    pub is_ca: Option<bool>,
    /// Whether basicConstraints is marked critical.
    pub basic_constraints_critical: bool,
    /// basicConstraints pathLenConstraint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_length: Option<u32>,
    /// The public key, e.g. "RSA 2048" or "ECDSA P-256".
    pub public_key: String,
    /// The signature algorithm, e.g. "sha256WithRSAEncryption".
    pub signature_algorithm: String,
    /// Subject key identifier, hex.
    pub subject_key_id: Option<String>,
    /// Authority key identifier, hex.
    pub authority_key_id: Option<String>,
    /// SHA-1 thumbprint of the DER, upper-case hex (what Windows shows as "Thumbprint").
    pub sha1_thumbprint: String,
    /// SHA-256 fingerprint of the DER, upper-case hex.
    pub sha256_fingerprint: String,
    /// Every extension: OID, name, criticality, and its value or why it cannot be decoded.
    pub extensions: Vec<ExtensionReport>,
    /// True when the whole certificate is strict DER (what issuance and `verify` need).
    pub strict_der: bool,
    /// Encodings that are not strict DER but were read, one sentence each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub non_der: Vec<String>,
    /// Parts that could not be decoded, one sentence each (the rest is shown).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// The certificate's DER (for the signature checks between certificates of one file).
    #[serde(skip)]
    pub der: Vec<u8>,
    /// The SubjectPublicKeyInfo in DER (for comparing with a key).
    #[serde(skip)]
    pub spki_der: Vec<u8>,
}

impl CertificateReport {
    /// Reads a DER certificate leniently. Fails only when the bytes are not a certificate at all.
    pub fn read(der: &[u8]) -> Result<Self> {
        let (rest, cert) = X509Certificate::from_der(der)
            .map_err(|e| Error::failed(format!("not an X.509 certificate: {e}")))?;
        let der = &der[..der.len() - rest.len()];
        let mut non_der = Vec::new();
        let mut problems = Vec::new();
        let strict = x509_cert::Certificate::from_der(der);
        if let Err(e) = &strict {
            non_der.push(format!(
                "the certificate is not strict DER ({e}); openssl and Windows may still read \
                 it, but qvca's verify and signing do not"
            ));
        }
        let tbs = &cert.tbs_certificate;
        let serial = tbs.raw_serial();
        if serial.is_empty() {
            problems.push("the serial number is empty (RFC 5280 requires 1 to 20 octets)".into());
        } else if serial.len() > 21 || (serial.len() == 21 && serial[0] != 0) {
            problems.push(format!(
                "the serial number has {} octets (RFC 5280 allows at most 20)",
                serial.len()
            ));
        }
        if serial.first().is_some_and(|b| b & 0x80 != 0) {
            problems
                .push("the serial number is negative (RFC 5280 requires a positive one)".into());
        }
        let extensions = describe_extensions(tbs.extensions(), &mut problems, &mut non_der);

        let mut dns_names = Vec::new();
        let mut ip_addresses = Vec::new();
        let mut other_names = Vec::new();
        let mut key_usage = Vec::new();
        let mut extended_key_usage = Vec::new();
        let mut basic = None;
        let mut subject_key_id = None;
        let mut authority_key_id = None;
        for ext in tbs.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) if dns_names.is_empty() => {
                    san_entries(
                        &san.general_names,
                        &mut dns_names,
                        &mut ip_addresses,
                        &mut other_names,
                    );
                }
                ParsedExtension::KeyUsage(ku) if key_usage.is_empty() => {
                    key_usage = super::ext::key_usage_names(ku);
                }
                ParsedExtension::ExtendedKeyUsage(eku) if extended_key_usage.is_empty() => {
                    extended_key_usage = super::ext::eku_names(eku);
                }
                ParsedExtension::BasicConstraints(bc) if basic.is_none() => {
                    basic = Some((ext.critical, bc.ca, bc.path_len_constraint));
                }
                ParsedExtension::SubjectKeyIdentifier(id) if subject_key_id.is_none() => {
                    subject_key_id = Some(hex::encode_upper(id.0));
                }
                ParsedExtension::AuthorityKeyIdentifier(aki) if authority_key_id.is_none() => {
                    authority_key_id = aki
                        .key_identifier
                        .as_ref()
                        .map(|id| hex::encode_upper(id.0));
                }
                _ => {}
            }
        }
        let spki_der = tbs.public_key().raw.to_vec();
        Ok(Self {
            subject: name_to_string(tbs.subject(), &mut non_der, "subject"),
            subject_cn: common_name_of(tbs.subject()),
            issuer: name_to_string(tbs.issuer(), &mut non_der, "issuer"),
            issuer_cn: common_name_of(tbs.issuer()),
            version: tbs.version().0 + 1,
            serial: hex::encode_upper(trim_serial(serial)),
            not_before: tbs.validity().not_before.to_datetime(),
            not_after: tbs.validity().not_after.to_datetime(),
            dns_names,
            ip_addresses,
            other_names,
            key_usage,
            extended_key_usage,
            is_ca: basic.map(|(_, ca, _)| ca),
            basic_constraints_critical: basic.is_some_and(|(critical, _, _)| critical),
            path_length: basic.and_then(|(_, _, len)| len),
            public_key: describe_public_key(&spki_der),
            signature_algorithm: super::ext::algorithm_name(&cert.signature_algorithm.algorithm),
            subject_key_id,
            authority_key_id,
            sha1_thumbprint: hex::encode_upper(Sha1::digest(der)),
            sha256_fingerprint: hex::encode_upper(Sha256::digest(der)),
            extensions,
            strict_der: strict.is_ok(),
            non_der,
            problems,
            der: der.to_vec(),
            spki_der,
        })
    }

    /// True when issuer and subject are the same name (a root, or self-issued).
    pub fn is_self_issued(&self) -> bool {
        self.subject == self.issuer
    }
}

/// A serial without the leading zero octets of its encoding (as `Serial::to_hex` shows it).
fn trim_serial(serial: &[u8]) -> &[u8] {
    let zeros = serial.iter().take_while(|b| **b == 0).count();
    if zeros == serial.len() {
        &serial[serial.len().saturating_sub(1)..]
    } else {
        &serial[zeros..]
    }
}

/// How one certificate of a file relates to the others.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChainLink {
    /// The certificate's position in the file (1-based).
    pub certificate: usize,
    /// The position of the certificate of this file that signed it, if any.
    pub signed_by: Option<usize>,
    /// What the signature check found, in words.
    pub signature: String,
}

/// The most certificates of one file whose signatures are checked against each other, and
/// the most issuers by name tried for one certificate: enough for any real bundle, and a
/// bound on the work a file of thousands of same-named certificates can ask for.
const MAX_CHAIN_CERTIFICATES: usize = 1_000;
const MAX_ISSUER_CANDIDATES: usize = 8;

/// Which certificate of a file signs which: for each certificate, the certificate of the same
/// file whose subject is its issuer, with the signature checked against that one's key.
pub fn chain_links(certificates: &[CertificateReport]) -> Vec<ChainLink> {
    if certificates.len() > MAX_CHAIN_CERTIFICATES {
        return Vec::new();
    }
    let parsed: Vec<Option<X509Certificate<'_>>> = certificates
        .iter()
        .map(|c| X509Certificate::from_der(&c.der).ok().map(|(_, x)| x))
        .collect();
    let mut links = Vec::new();
    for (i, cert) in parsed.iter().enumerate() {
        let Some(cert) = cert else {
            continue;
        };
        let issuer = cert.tbs_certificate.issuer().as_raw();
        let candidates: Vec<usize> = parsed
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.as_ref()
                    .is_some_and(|c| c.tbs_certificate.subject().as_raw() == issuer)
            })
            .map(|(j, _)| j)
            .take(MAX_ISSUER_CANDIDATES)
            .collect();
        let mut link = ChainLink {
            certificate: i + 1,
            signed_by: None,
            signature: if candidates.is_empty() {
                "issued by a certificate that is not in this file".into()
            } else {
                String::new()
            },
        };
        let mut failure = None;
        for j in candidates {
            let Some(signer) = &parsed[j] else {
                continue;
            };
            match cert.verify_signature(Some(signer.public_key())) {
                Ok(()) => {
                    link.signed_by = Some(j + 1);
                    link.signature = if i == j {
                        "self-signed; the signature verifies".into()
                    } else {
                        format!("signed by certificate {}; the signature verifies", j + 1)
                    };
                    failure = None;
                    break;
                }
                Err(x509_parser::error::X509Error::SignatureUnsupportedAlgorithm) => {
                    failure = Some(format!(
                        "issued by certificate {} (by name); its signature algorithm is not one \
                         qvca checks",
                        j + 1
                    ));
                }
                Err(_) => {
                    failure = Some(if i == j {
                        "self-issued, but the signature does NOT verify with its own key".into()
                    } else {
                        format!(
                            "issued by certificate {} (by name), but the signature does NOT verify \
                             with its key",
                            j + 1
                        )
                    });
                }
            }
        }
        if let Some(failure) = failure {
            link.signature = failure;
        }
        links.push(link);
    }
    links
}
