//! Lenient reading of one X.509 certificate for `inspect`: every field that decodes is shown,
//! every part that does not is named with its raw bytes and the decode error, and encodings
//! that are not strict DER (but that openssl and Python `cryptography` accept) are read and
//! flagged. Issuance and verification never use this: they read through the strict
//! [`crate::pki::certificate::CertificateDetails::from_der`].

use super::ext::{
    ExtensionReport, common_name_of, describe_extensions, name_to_string, san_entries, serial_hex,
};
use crate::error::{Error, Result};
use crate::pki::certificate::DerFacts;
use der::Decode;
use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate, X509Extension};

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
        serial_problems(serial, &mut problems);
        let extensions = describe_extensions(tbs.extensions(), &mut problems, &mut non_der);
        let found = KnownExtensions::of(tbs.extensions());
        let spki_der = tbs.public_key().raw.to_vec();
        let facts = DerFacts::of(der, &spki_der);
        Ok(Self {
            subject: name_to_string(tbs.subject(), &mut non_der, "subject"),
            subject_cn: common_name_of(tbs.subject()),
            issuer: name_to_string(tbs.issuer(), &mut non_der, "issuer"),
            issuer_cn: common_name_of(tbs.issuer()),
            version: tbs.version().0 + 1,
            serial: serial_hex(serial),
            not_before: tbs.validity().not_before.to_datetime(),
            not_after: tbs.validity().not_after.to_datetime(),
            dns_names: found.dns_names,
            ip_addresses: found.ip_addresses,
            other_names: found.other_names,
            key_usage: found.key_usage,
            extended_key_usage: found.extended_key_usage,
            is_ca: found.basic.map(|(_, ca, _)| ca),
            basic_constraints_critical: found.basic.is_some_and(|(critical, _, _)| critical),
            path_length: found.basic.and_then(|(_, _, len)| len),
            public_key: facts.public_key,
            signature_algorithm: super::ext::algorithm_name(&cert.signature_algorithm.algorithm),
            subject_key_id: found.subject_key_id,
            authority_key_id: found.authority_key_id,
            sha1_thumbprint: facts.sha1_thumbprint,
            sha256_fingerprint: facts.sha256_fingerprint,
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

/// Notes what RFC 5280 says of a serial number that is empty, longer than 20 octets or
/// negative.
fn serial_problems(serial: &[u8], problems: &mut Vec<String>) {
    if serial.is_empty() {
        problems.push("the serial number is empty (RFC 5280 requires 1 to 20 octets)".into());
    } else if serial.len() > 21 || (serial.len() == 21 && serial[0] != 0) {
        problems.push(format!(
            "the serial number has {} octets (RFC 5280 allows at most 20)",
            serial.len()
        ));
    }
    if serial.first().is_some_and(|b| b & 0x80 != 0) {
        problems.push("the serial number is negative (RFC 5280 requires a positive one)".into());
    }
}

/// The extensions `inspect` shows as fields of their own, each from the first extension of
/// its kind that decodes (a duplicate is named among the problems by [`describe_extensions`]).
#[derive(Default)]
struct KnownExtensions {
    dns_names: Vec<String>,
    ip_addresses: Vec<String>,
    other_names: Vec<String>,
    key_usage: Vec<String>,
    extended_key_usage: Vec<String>,
    /// basicConstraints: critical, CA, pathLenConstraint.
    basic: Option<(bool, bool, Option<u32>)>,
    subject_key_id: Option<String>,
    authority_key_id: Option<String>,
}

impl KnownExtensions {
    /// Collects them from a certificate's extensions.
    fn of(extensions: &[X509Extension<'_>]) -> Self {
        let mut found = Self::default();
        for ext in extensions {
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) if found.dns_names.is_empty() => {
                    san_entries(
                        &san.general_names,
                        &mut found.dns_names,
                        &mut found.ip_addresses,
                        &mut found.other_names,
                    );
                }
                ParsedExtension::KeyUsage(ku) if found.key_usage.is_empty() => {
                    found.key_usage = super::ext::key_usage_names(ku);
                }
                ParsedExtension::ExtendedKeyUsage(eku) if found.extended_key_usage.is_empty() => {
                    found.extended_key_usage = super::ext::eku_names(eku);
                }
                ParsedExtension::BasicConstraints(bc) if found.basic.is_none() => {
                    found.basic = Some((ext.critical, bc.ca, bc.path_len_constraint));
                }
                ParsedExtension::SubjectKeyIdentifier(id) if found.subject_key_id.is_none() => {
                    found.subject_key_id = Some(hex::encode_upper(id.0));
                }
                ParsedExtension::AuthorityKeyIdentifier(aki)
                    if found.authority_key_id.is_none() =>
                {
                    found.authority_key_id = aki
                        .key_identifier
                        .as_ref()
                        .map(|id| hex::encode_upper(id.0));
                }
                _ => {}
            }
        }
        found
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
    parsed
        .iter()
        .enumerate()
        .filter_map(|(i, cert)| Some(link_of(i, cert.as_ref()?, &parsed)))
        .collect()
}

/// How certificate `i` (0-based) of a file relates to the others: the first issuer by name
/// whose key verifies its signature, else why none does.
fn link_of(
    i: usize,
    cert: &X509Certificate<'_>,
    parsed: &[Option<X509Certificate<'_>>],
) -> ChainLink {
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
                return link;
            }
            Err(e) => failure = Some(signature_failure(i, j, &e)),
        }
    }
    if let Some(failure) = failure {
        link.signature = failure;
    }
    link
}

/// Why the signature of certificate `i` does not verify with the key of certificate `j`, its
/// issuer by name (both 0-based), in words.
fn signature_failure(i: usize, j: usize, error: &x509_parser::error::X509Error) -> String {
    match error {
        x509_parser::error::X509Error::SignatureUnsupportedAlgorithm => format!(
            "issued by certificate {} (by name); its signature algorithm is not one qvca checks",
            j + 1
        ),
        _ if i == j => "self-issued, but the signature does NOT verify with its own key".into(),
        _ => format!(
            "issued by certificate {} (by name), but the signature does NOT verify with its key",
            j + 1
        ),
    }
}
