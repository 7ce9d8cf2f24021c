//! Reading certificates: PEM/DER decoding and the details `show`, `inspect`, `list` and
//! `verify` report (subject, issuer, serial, validity, SAN, key usages, EKUs, key type and
//! size, SHA-1 and SHA-256 thumbprints as Windows shows them).

use crate::domain::serial::Serial;
use crate::error::{Error, Result};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5280, rfc5912};
use der::{Decode, Encode};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::path::Path;
use time::OffsetDateTime;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName,
    SubjectKeyIdentifier,
};

/// The details of one X.509 certificate, as qvca reports them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CertificateDetails {
    /// The subject DN (RFC 4514).
    pub subject: String,
    /// The subject's common name ("Issued To").
    pub subject_cn: Option<String>,
    /// The issuer DN (RFC 4514).
    pub issuer: String,
    /// The issuer's common name ("Issued By").
    pub issuer_cn: Option<String>,
    /// The serial number.
    pub serial: Serial,
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
    /// Key usage names (RFC 5280 spelling), empty when the extension is absent.
    pub key_usage: Vec<String>,
    /// Extended key usage names (`serverAuth`, `clientAuth`, or the OID).
    pub extended_key_usage: Vec<String>,
    /// basicConstraints CA flag (None when the extension is absent).
    pub is_ca: Option<bool>,
    /// Whether basicConstraints is marked critical.
    pub basic_constraints_critical: bool,
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
    /// The SubjectPublicKeyInfo in DER (for comparing with a key).
    #[serde(skip)]
    pub spki_der: Vec<u8>,
}

impl CertificateDetails {
    /// Decodes a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| Error::failed(format!("not a valid X.509 certificate: {e}")))?;
        let tbs = cert.tbs_certificate();
        let found = StrictExtensions::of(tbs)?;
        let spki_der = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(|e| undecodable("public key", e))?;
        let facts = DerFacts::of(der, &spki_der);
        Ok(Self {
            subject: tbs.subject().to_string(),
            subject_cn: common_name(tbs.subject()),
            issuer: tbs.issuer().to_string(),
            issuer_cn: common_name(tbs.issuer()),
            serial: Serial::from_be_bytes(tbs.serial_number().as_bytes())?,
            not_before: to_datetime(tbs.validity().not_before)?,
            not_after: to_datetime(tbs.validity().not_after)?,
            dns_names: found.dns_names,
            ip_addresses: found.ip_addresses,
            key_usage: found.key_usage,
            extended_key_usage: found.extended_key_usage,
            is_ca: found.basic.map(|(_, ca)| ca),
            basic_constraints_critical: found.basic.is_some_and(|(critical, _)| critical),
            public_key: facts.public_key,
            signature_algorithm: algorithm_name(&cert.signature_algorithm().oid),
            subject_key_id: found.subject_key_id,
            authority_key_id: found.authority_key_id,
            sha1_thumbprint: facts.sha1_thumbprint,
            sha256_fingerprint: facts.sha256_fingerprint,
            spki_der,
        })
    }

    /// True when issuer and subject are the same name (a root).
    pub fn is_self_issued(&self) -> bool {
        self.subject == self.issuer
    }

    /// True when the certificate allows the EKU with this RFC 5280 name.
    pub fn has_eku(&self, name: &str) -> bool {
        self.extended_key_usage.iter().any(|e| e == name)
    }
}

/// What a certificate's DER and its SubjectPublicKeyInfo alone say, computed the same way for
/// the strict [`CertificateDetails`] (`show`, `verify`) and the lenient report of `inspect`:
/// the public key in words and the thumbprints.
pub(crate) struct DerFacts {
    /// The public key, e.g. "RSA 2048" or "ECDSA P-256".
    pub(crate) public_key: String,
    /// SHA-1 thumbprint of the DER, upper-case hex.
    pub(crate) sha1_thumbprint: String,
    /// SHA-256 fingerprint of the DER, upper-case hex.
    pub(crate) sha256_fingerprint: String,
}

impl DerFacts {
    /// The facts of the certificate `der` whose SubjectPublicKeyInfo is `spki_der`.
    pub(crate) fn of(der: &[u8], spki_der: &[u8]) -> Self {
        Self {
            public_key: describe_public_key(spki_der),
            sha1_thumbprint: hex::encode_upper(Sha1::digest(der)),
            sha256_fingerprint: hex::encode_upper(Sha256::digest(der)),
        }
    }
}

/// The error for a part of a certificate that does not decode strictly.
fn undecodable(what: &str, e: der::Error) -> Error {
    Error::failed(format!("the certificate's {what} cannot be decoded: {e}"))
}

/// The extensions [`CertificateDetails`] reports, each decoded strictly: one that does not
/// decode makes the certificate unreadable.
struct StrictExtensions {
    dns_names: Vec<String>,
    ip_addresses: Vec<String>,
    key_usage: Vec<String>,
    extended_key_usage: Vec<String>,
    /// basicConstraints: critical, CA.
    basic: Option<(bool, bool)>,
    subject_key_id: Option<String>,
    authority_key_id: Option<String>,
}

impl StrictExtensions {
    /// Reads them from a certificate, in the order SAN, keyUsage, EKU, basicConstraints, key ids.
    fn of(tbs: &x509_cert::TbsCertificate) -> Result<Self> {
        let (dns_names, ip_addresses) = san_entries(tbs)?;
        let key_usage = tbs
            .get_extension::<KeyUsage>()
            .map_err(|e| undecodable("keyUsage", e))?
            .map(|(_, ku)| key_usage_names(&ku))
            .unwrap_or_default();
        let extended_key_usage = tbs
            .get_extension::<ExtendedKeyUsage>()
            .map_err(|e| undecodable("extendedKeyUsage", e))?
            .map(|(_, eku)| eku.0.iter().map(eku_name).collect())
            .unwrap_or_default();
        let basic = tbs
            .get_extension::<BasicConstraints>()
            .map_err(|e| undecodable("basicConstraints", e))?
            .map(|(critical, b)| (critical, b.ca));
        let subject_key_id = tbs
            .get_extension::<SubjectKeyIdentifier>()
            .map_err(|e| undecodable("subjectKeyIdentifier", e))?
            .map(|(_, ski)| hex::encode_upper(ski.0.as_bytes()));
        let authority_key_id = tbs
            .get_extension::<AuthorityKeyIdentifier>()
            .map_err(|e| undecodable("authorityKeyIdentifier", e))?
            .and_then(|(_, aki)| aki.key_identifier)
            .map(|id| hex::encode_upper(id.as_bytes()));
        Ok(Self {
            dns_names,
            ip_addresses,
            key_usage,
            extended_key_usage,
            basic,
            subject_key_id,
            authority_key_id,
        })
    }
}

/// The SAN dNSName and iPAddress entries of a certificate (other kinds are left out).
fn san_entries(tbs: &x509_cert::TbsCertificate) -> Result<(Vec<String>, Vec<String>)> {
    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    if let Some((_, san)) = tbs
        .get_extension::<SubjectAltName>()
        .map_err(|e| undecodable("subjectAltName", e))?
    {
        for name in san.0 {
            match name {
                GeneralName::DnsName(n) => dns_names.push(n.to_string()),
                GeneralName::IpAddress(octets) => {
                    ip_addresses.push(ip_to_string(octets.as_bytes()))
                }
                _ => {}
            }
        }
    }
    Ok((dns_names, ip_addresses))
}

fn common_name(name: &x509_cert::name::Name) -> Option<String> {
    name.common_name()
        .ok()
        .flatten()
        .map(|cn| cn.value().into_owned())
}

fn to_datetime(t: x509_cert::time::Time) -> Result<OffsetDateTime> {
    let secs = i64::try_from(t.to_unix_duration().as_secs())
        .map_err(|_| Error::failed("a certificate date is out of range"))?;
    OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|_| Error::failed("a certificate date is out of range"))
}

pub(crate) fn ip_to_string(octets: &[u8]) -> String {
    match octets.len() {
        4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(octets).unwrap_or_default()).to_string(),
        16 => {
            std::net::Ipv6Addr::from(<[u8; 16]>::try_from(octets).unwrap_or_default()).to_string()
        }
        _ => hex::encode(octets),
    }
}

fn key_usage_names(ku: &KeyUsage) -> Vec<String> {
    key_usage_names_of_bits(ku.0.bits())
}

/// RFC 5280 keyUsage names, bit 0 (digitalSignature) first (a profile's
/// [`crate::pki::profile::KeyUsage`] is a bit of it).
pub(crate) const KEY_USAGE_NAMES: [&str; 9] = [
    "digitalSignature",
    "contentCommitment",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
];

/// The keyUsage names of the bits set in `bits` (bit 0 = digitalSignature, as both x509-cert
/// and x509-parser number them): the one table for every reader of certificates and requests.
pub(crate) fn key_usage_names_of_bits(bits: u16) -> Vec<String> {
    KEY_USAGE_NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| bits & (1 << bit) != 0)
        .map(|(_, name)| (*name).to_owned())
        .collect()
}

/// The extended key usages qvca names (RFC 5280 spelling) with their OIDs: the one table for
/// certificates, requests and profiles (a profile's [`crate::pki::profile::ExtendedKeyUsage`]
/// is a position in it).
pub(crate) const EKU_NAMES: [(ObjectIdentifier, &str); 6] = [
    (rfc5280::ID_KP_SERVER_AUTH, "serverAuth"),
    (rfc5280::ID_KP_CLIENT_AUTH, "clientAuth"),
    (rfc5280::ID_KP_CODE_SIGNING, "codeSigning"),
    (rfc5280::ID_KP_EMAIL_PROTECTION, "emailProtection"),
    (rfc5280::ID_KP_TIME_STAMPING, "timeStamping"),
    (rfc5280::ID_KP_OCSP_SIGNING, "ocspSigning"),
];

/// The name of an extended key usage, or its OID when it has none in [`EKU_NAMES`].
pub(crate) fn eku_name(oid: &ObjectIdentifier) -> String {
    name_in(&EKU_NAMES, oid)
}

/// The name `table` gives `oid`, or the OID itself.
fn name_in(table: &[(ObjectIdentifier, &str)], oid: &ObjectIdentifier) -> String {
    table
        .iter()
        .find(|(o, _)| o == oid)
        .map_or_else(|| oid.to_string(), |(_, n)| (*n).to_owned())
}

/// A signature algorithm in the words openssl uses, or its OID.
pub(crate) fn algorithm_name(oid: &ObjectIdentifier) -> String {
    let known = [
        (
            rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
            "sha256WithRSAEncryption",
        ),
        (
            rfc5912::SHA_384_WITH_RSA_ENCRYPTION,
            "sha384WithRSAEncryption",
        ),
        (
            rfc5912::SHA_512_WITH_RSA_ENCRYPTION,
            "sha512WithRSAEncryption",
        ),
        (rfc5912::SHA_1_WITH_RSA_ENCRYPTION, "sha1WithRSAEncryption"),
        (rfc5912::ECDSA_WITH_SHA_256, "ecdsa-with-SHA256"),
        (rfc5912::ECDSA_WITH_SHA_384, "ecdsa-with-SHA384"),
        (rfc5912::ECDSA_WITH_SHA_512, "ecdsa-with-SHA512"),
        (rfc5912::ID_RSASSA_PSS, "rsassaPss"),
    ];
    name_in(&known, oid)
}

/// The RSA public key structure (PKCS #1), only to read the modulus size.
#[derive(der::Sequence)]
struct RsaPublicKey<'a> {
    modulus: der::asn1::UintRef<'a>,
    _public_exponent: der::asn1::UintRef<'a>,
}

/// The algorithm of a public key and its size or curve, read from its SubjectPublicKeyInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKeyAlgorithm {
    /// RSA with a modulus of this many bits (`None`: the key is malformed).
    Rsa(Option<usize>),
    /// ECDSA on the named curve with this OID (`None`: no named curve).
    Ecdsa(Option<ObjectIdentifier>),
    /// Ed25519.
    Ed25519,
    /// Another algorithm, by its OID.
    Other(ObjectIdentifier),
    /// Not a SubjectPublicKeyInfo at all.
    Unreadable,
}

impl PublicKeyAlgorithm {
    /// Reads the algorithm, and the RSA modulus size or the ECDSA curve, of a
    /// SubjectPublicKeyInfo (DER).
    pub fn of(spki_der: &[u8]) -> Self {
        let Ok(spki) = x509_cert::spki::SubjectPublicKeyInfoRef::from_der(spki_der) else {
            return Self::Unreadable;
        };
        let oid = spki.algorithm.oid;
        if oid == rfc5912::RSA_ENCRYPTION {
            let bits = spki
                .subject_public_key
                .as_bytes()
                .and_then(|raw| RsaPublicKey::from_der(raw).ok())
                .map(|k| {
                    let m = k.modulus.as_bytes();
                    m.len() * 8 - m.first().map_or(0, |b| b.leading_zeros() as usize)
                });
            return Self::Rsa(bits);
        }
        if oid == rfc5912::ID_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            return Self::Ecdsa(curve);
        }
        if oid == const_oid::db::rfc8410::ID_ED_25519 {
            return Self::Ed25519;
        }
        Self::Other(oid)
    }
}

impl std::fmt::Display for PublicKeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rsa(Some(bits)) => write!(f, "RSA {bits}"),
            Self::Rsa(None) => f.write_str("RSA (malformed)"),
            Self::Ecdsa(Some(c)) if *c == rfc5912::SECP_256_R_1 => f.write_str("ECDSA P-256"),
            Self::Ecdsa(Some(c)) if *c == rfc5912::SECP_384_R_1 => f.write_str("ECDSA P-384"),
            Self::Ecdsa(Some(c)) if *c == rfc5912::SECP_521_R_1 => f.write_str("ECDSA P-521"),
            Self::Ecdsa(Some(c)) => write!(f, "ECDSA {c}"),
            Self::Ecdsa(None) => f.write_str("ECDSA"),
            Self::Ed25519 => f.write_str("Ed25519"),
            Self::Other(oid) => write!(f, "{oid}"),
            Self::Unreadable => f.write_str("unknown"),
        }
    }
}

/// Describes a SubjectPublicKeyInfo as "RSA 2048", "ECDSA P-256", ...
pub fn describe_public_key(spki_der: &[u8]) -> String {
    PublicKeyAlgorithm::of(spki_der).to_string()
}

/// Encodes DER as PEM with the given label ("CERTIFICATE", "X509 CRL", ...), LF line endings.
pub fn to_pem(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der)
        .expect("PEM encoding of an in-memory buffer cannot fail")
}

/// Decodes one PEM block into its label and DER bytes.
pub fn pem_decode(pem: &[u8]) -> Result<(String, Vec<u8>)> {
    der::pem::decode_vec(pem)
        .map(|(label, der)| (label.to_owned(), der))
        .map_err(|e| Error::failed(format!("not valid PEM: {e}")))
}

/// Reads one certificate from PEM or DER bytes; `source` names it in errors.
pub fn parse_one_certificate(bytes: &[u8], source: &Path) -> Result<CertificateDer<'static>> {
    let mut all = parse_certificates(bytes, source)?;
    if all.is_empty() {
        return Err(Error::failed(format!(
            "{} holds no certificate",
            source.display()
        )));
    }
    Ok(all.swap_remove(0))
}

/// Reads every certificate from PEM (any number of CERTIFICATE blocks) or DER bytes.
pub fn parse_certificates(bytes: &[u8], source: &Path) -> Result<Vec<CertificateDer<'static>>> {
    if looks_like_pem(bytes) {
        let certs = CertificateDer::pem_slice_iter(bytes)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| {
                Error::failed(format!(
                    "{} is not valid PEM ({e}); give a PEM or DER certificate",
                    source.display()
                ))
            })?;
        return Ok(certs);
    }
    x509_cert::Certificate::from_der(bytes).map_err(|_| {
        Error::failed(format!(
            "{} is not a certificate: give a PEM or DER certificate file (`qvca inspect FILE` \
             says what a file holds)",
            source.display()
        ))
    })?;
    Ok(vec![CertificateDer::from(bytes.to_vec())])
}

/// Reads a CRL from PEM (`X509 CRL`) or DER bytes and returns its DER.
pub fn parse_crl(bytes: &[u8]) -> Result<Vec<u8>> {
    if looks_like_pem(bytes) {
        return rustls_pki_types::CertificateRevocationListDer::from_pem_slice(bytes)
            .map(|crl| crl.as_ref().to_vec())
            .map_err(|e| Error::failed(format!("not a PEM CRL: {e}")));
    }
    Ok(bytes.to_vec())
}

/// True when the bytes look like PEM text (a `-----BEGIN` line near the start).
pub fn looks_like_pem(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    head.windows(11).any(|w| w == b"-----BEGIN ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_reported_not_panicked_on() {
        assert!(CertificateDetails::from_der(b"not a certificate").is_err());
        assert!(parse_certificates(b"\x30\x03\x02\x01\x01", Path::new("x")).is_err());
        assert!(parse_certificates(b"-----BEGIN CERTIFICATE-----\n!!!\n", Path::new("x")).is_err());
    }
}
