//! Certificate signing requests (PKCS#10) made on a node, for keyless enrolment (`qvca sign`).
//!
//! [`SigningRequest::parse`] is the one way a request enters qvca. It accepts PEM with either
//! header (`CERTIFICATE REQUEST` as openssl writes it, `NEW CERTIFICATE REQUEST` as certreq
//! writes it), bare base64 and DER; checks the key type and size against what `--key-type`
//! allows (RSA 2048/3072/4096, ECDSA P-256/P-384); checks the request's own signature, the
//! proof that whoever made it holds the private key; and lists what the request asks for
//! besides its key (subject fields, subject alternative names, key usages, extended key usages,
//! basic constraints, other extensions).
//!
//! What a certificate carries is decided by the profile and the validated name, never by the
//! request: [`SigningRequest::dropped_from`] names each requested part that the signed
//! certificate does not carry. The subject key identifier a request may carry (certreq adds
//! one) is not a request for content: the CA computes its own from the key.
//!
//! Not here: the name rules ([`crate::domain::name`]), building and recording the certificate
//! ([`crate::ops::sign`], [`crate::ops::issue`]).

use crate::error::{Error, Result};
use crate::pki::key::KeyType;
use base64::Engine;
use std::path::Path;
use x509_parser::oid_registry::{
    OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA, OID_PKCS1_SHA512WITHRSA,
    OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384, OID_X509_EXT_SUBJECT_KEY_IDENTIFIER, Oid,
};
use x509_parser::prelude::{
    FromDer, GeneralName, ParsedCriAttribute, ParsedExtension, X509Certificate,
    X509CertificationRequest, X509Error, X509Extension, X509Name,
};

/// The PEM labels a request may carry: openssl's and certreq's.
const REQUEST_LABELS: [&str; 2] = ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"];

/// The signature algorithms a request may be signed with (its proof of possession): what
/// `--key-type` keys sign with, SHA-256 or stronger.
const SIGNATURE_ALGORITHMS: [(&Oid<'static>, &str); 5] = [
    (&OID_PKCS1_SHA256WITHRSA, "sha256WithRSAEncryption"),
    (&OID_PKCS1_SHA384WITHRSA, "sha384WithRSAEncryption"),
    (&OID_PKCS1_SHA512WITHRSA, "sha512WithRSAEncryption"),
    (&OID_SIG_ECDSA_WITH_SHA256, "ecdsa-with-SHA256"),
    (&OID_SIG_ECDSA_WITH_SHA384, "ecdsa-with-SHA384"),
];

/// A checked PKCS#10 request: its signature verified with its own public key, its key of a
/// type qvca issues, and what it asks for, listed.
#[derive(Debug, Clone)]
pub struct SigningRequest {
    source: String,
    spki_der: Vec<u8>,
    key_type: KeyType,
    common_names: Vec<Option<String>>,
    asked: Vec<String>,
}

impl SigningRequest {
    /// Reads and checks the request in `path` (`-` reads standard input), bounded by
    /// [`crate::input::DOCUMENT_LIMIT`].
    pub fn read(path: &Path) -> Result<Self> {
        let what = "the certificate request";
        if path == Path::new("-") {
            let bytes = crate::input::read_stdin_limited(crate::input::DOCUMENT_LIMIT, what)?;
            return Self::parse(&bytes, "the request on standard input");
        }
        let bytes = crate::input::read_limited(path, crate::input::DOCUMENT_LIMIT, what)?;
        Self::parse(&bytes, &format!("the request {}", path.display()))
    }

    /// Decodes and checks a request; `source` names it in messages ("the request QVS01.req").
    ///
    /// Errors: not a request, or a key type qvca does not issue (exit 1); a signature that does
    /// not verify with the request's own key (exit 4: the request was altered, or made without
    /// the private key).
    pub fn parse(bytes: &[u8], source: &str) -> Result<Self> {
        let der = decode(bytes, source)?;
        let (rest, csr) = X509CertificationRequest::from_der(&der).map_err(|e| {
            Error::failed(format!(
                "{source} is not a PKCS#10 certificate request ({e}); make it with `certreq \
                 -new request.inf` or `openssl req -new`"
            ))
        })?;
        if !rest.is_empty() {
            return Err(Error::failed(format!(
                "{source} has {} bytes after the request: give exactly one request",
                rest.len()
            )));
        }
        let info = &csr.certification_request_info;
        let spki_der = info.subject_pki.raw.to_vec();
        let key_type = KeyType::of_public_key(&spki_der).ok_or_else(|| {
            Error::failed(format!(
                "{source} is for an {} key, which qvca does not certify: make the request with \
                 an RSA 2048, 3072 or 4096 bit key or an ECDSA P-256 or P-384 key (certreq: \
                 KeyLength = 2048 in request.inf; openssl: -newkey rsa:2048)",
                crate::pki::certificate::describe_public_key(&spki_der)
            ))
        })?;
        check_signature(&csr, source)?;
        let common_names = info
            .subject
            .iter_common_name()
            .map(|cn| attribute_text(cn.attr_value()))
            .collect();
        let asked = parts(&info.subject, requested_extensions(&csr));
        Ok(Self {
            source: source.to_owned(),
            spki_der,
            key_type,
            common_names,
            asked,
        })
    }

    /// Where the request came from, for messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The public key to certify (SubjectPublicKeyInfo DER, exactly as the request carries it).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The request's common name; `None` when it has none, or more than one, or one that is not
    /// text.
    pub fn common_name(&self) -> Option<&str> {
        match self.common_names.as_slice() {
            [Some(only)] => Some(only),
            _ => None,
        }
    }

    /// How many common names the subject holds.
    pub fn common_name_count(&self) -> usize {
        self.common_names.len()
    }

    /// True when the request asks for a CA certificate (basicConstraints CA:TRUE).
    pub fn asks_for_ca(&self) -> bool {
        self.asked.iter().any(|part| part == CA_TRUE)
    }

    /// Everything the request asks for besides its key, one part each (`subject CN=QVS01`,
    /// `subjectAltName DNS:evil.example`, `extendedKeyUsage codeSigning`, ...).
    pub fn asked(&self) -> &[String] {
        &self.asked
    }

    /// The requested parts that the certificate `certificate_der` (signed for this request)
    /// does not carry, in the request's order.
    pub fn dropped_from(&self, certificate_der: &[u8]) -> Result<Vec<String>> {
        let (_, cert) = X509Certificate::from_der(certificate_der).map_err(|e| {
            Error::failed(format!(
                "internal error: the signed certificate cannot be read back: {e}"
            ))
        })?;
        let carried = parts(cert.subject(), cert.extensions().iter());
        Ok(self
            .asked
            .iter()
            .filter(|part| !carried.iter().any(|c| c.eq_ignore_ascii_case(part)))
            .cloned()
            .collect())
    }
}

/// The part a request for a CA certificate lists.
const CA_TRUE: &str = "basicConstraints CA:TRUE";

/// The DER of a request given as DER, PEM (either label; text around it ignored), or bare
/// base64; UTF-8 or UTF-16 text with or without a byte-order mark, LF or CRLF lines.
fn decode(bytes: &[u8], source: &str) -> Result<Vec<u8>> {
    if bytes.first() == Some(&0x30) {
        return Ok(bytes.to_vec());
    }
    let text = text_of(bytes).ok_or_else(|| {
        Error::failed(format!(
            "{source} is neither a PEM or base64 text nor a DER request: give the file that \
             `certreq -new` or `openssl req -new` wrote"
        ))
    })?;
    let text = text.trim_start_matches('\u{FEFF}');
    let body = match text.find("-----BEGIN ") {
        Some(begin) => pem_body(&text[begin..], source)?,
        None => text,
    };
    let compact: String = body.split_ascii_whitespace().collect();
    if compact.is_empty() {
        return Err(Error::failed(format!(
            "{source} is empty: it holds no certificate request"
        )));
    }
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| {
            Error::failed(format!(
                "{source} is not a certificate request: expected PEM (-----BEGIN CERTIFICATE \
                 REQUEST----- or -----BEGIN NEW CERTIFICATE REQUEST-----), base64 or DER"
            ))
        })
}

/// The text of a file: UTF-8, or UTF-16 (little- or big-endian) with its byte-order mark.
fn text_of(bytes: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    let utf16 = |le: bool| {
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units).ok().map(std::borrow::Cow::Owned)
    };
    match bytes {
        [0xFF, 0xFE, ..] => utf16(true),
        [0xFE, 0xFF, ..] => utf16(false),
        _ => std::str::from_utf8(bytes)
            .ok()
            .map(std::borrow::Cow::Borrowed),
    }
}

/// The base64 between the BEGIN line at the start of `pem` and its END line; the label must be
/// a request's, and the text may hold only one block.
fn pem_body<'a>(pem: &'a str, source: &str) -> Result<&'a str> {
    let after_begin = &pem["-----BEGIN ".len()..];
    let label = after_begin
        .split_once("-----")
        .map(|(label, _)| label)
        .filter(|label| !label.contains('\n'))
        .ok_or_else(|| Error::failed(format!("{source} has a broken PEM BEGIN line")))?;
    if !REQUEST_LABELS.contains(&label) {
        return Err(Error::failed(format!(
            "{source} holds a PEM {label:?}, not a certificate request: give the request \
             file (-----BEGIN CERTIFICATE REQUEST----- or -----BEGIN NEW CERTIFICATE \
             REQUEST-----)"
        )));
    }
    let body_start = "-----BEGIN ".len() + label.len() + "-----".len();
    let end_marker = format!("-----END {label}-----");
    let body_len = pem[body_start..].find(&end_marker).ok_or_else(|| {
        Error::failed(format!(
            "{source} has no {end_marker} line: the request was cut off; copy the whole file"
        ))
    })?;
    let body = &pem[body_start..body_start + body_len];
    let after = &pem[body_start + body_len + end_marker.len()..];
    if after.contains("-----BEGIN ") {
        return Err(Error::failed(format!(
            "{source} holds more than one PEM block: give one request a file"
        )));
    }
    if body.contains(':') {
        return Err(Error::failed(format!(
            "{source} has PEM headers (an encrypted or legacy PEM?): a certificate request has none"
        )));
    }
    Ok(body)
}

/// The proof of possession: the request verifies with its own public key under an algorithm
/// qvca accepts.
fn check_signature(csr: &X509CertificationRequest<'_>, source: &str) -> Result<()> {
    let algorithm = &csr.signature_algorithm.algorithm;
    if !SIGNATURE_ALGORITHMS
        .iter()
        .any(|(oid, _)| *oid == algorithm)
    {
        let accepted: Vec<&str> = SIGNATURE_ALGORITHMS.iter().map(|(_, n)| *n).collect();
        return Err(Error::failed(format!(
            "{source} is signed with {}, which qvca does not accept: make it again signed with \
             SHA-256 (certreq: HashAlgorithm = sha256 in request.inf; openssl req: -sha256); \
             accepted: {}",
            oid_name(algorithm),
            accepted.join(", ")
        )));
    }
    csr.verify_signature().map_err(|e| match e {
        X509Error::SignatureVerificationError => Error::authentication(format!(
            "{source} fails its signature check: it was altered after it was made, or made \
             without the private key of the public key it carries; nothing was signed: make a \
             new request on the node"
        )),
        other => Error::failed(format!(
            "the signature of {source} cannot be checked ({other}); nothing was signed: make a \
             new request on the node"
        )),
    })
}

/// The extensions a request asks for (its extensionRequest attribute); none without one.
fn requested_extensions<'a>(
    csr: &'a X509CertificationRequest<'a>,
) -> impl Iterator<Item = &'a X509Extension<'a>> {
    csr.certification_request_info
        .iter_attributes()
        .filter_map(|attribute| match attribute.parsed_attribute() {
            ParsedCriAttribute::ExtensionRequest(request) => Some(request.extensions.iter()),
            _ => None,
        })
        .flatten()
}

/// What a subject and extensions say, one part each, in one vocabulary for requests and
/// certificates alike (so that a request's parts can be looked up in the certificate's).
fn parts<'a>(
    subject: &X509Name<'_>,
    extensions: impl Iterator<Item = &'a X509Extension<'a>>,
) -> Vec<String> {
    let mut parts = Vec::new();
    for rdn in subject.iter_rdn() {
        for attribute in rdn.iter() {
            let value = attribute_text(attribute.attr_value())
                .unwrap_or_else(|| format!("#{}", hex::encode(attribute.as_slice())));
            parts.push(format!(
                "subject {}={value}",
                attribute_name(attribute.attr_type())
            ));
        }
    }
    for extension in extensions {
        extension_parts(extension, &mut parts);
    }
    parts
}

fn extension_parts(extension: &X509Extension<'_>, parts: &mut Vec<String>) {
    match extension.parsed_extension() {
        ParsedExtension::SubjectAlternativeName(san) => {
            for name in &san.general_names {
                parts.push(format!("subjectAltName {}", general_name(name)));
            }
        }
        ParsedExtension::ExtendedKeyUsage(eku) => {
            for name in crate::pki::inspect::ext::flagged_eku_names(eku) {
                parts.push(format!("extendedKeyUsage {name}"));
            }
            for other in &eku.other {
                parts.push(format!("extendedKeyUsage {}", oid_name(other)));
            }
        }
        ParsedExtension::KeyUsage(ku) => {
            for name in crate::pki::inspect::ext::key_usage_names(ku) {
                parts.push(format!("keyUsage {name}"));
            }
        }
        ParsedExtension::BasicConstraints(bc) if bc.ca => parts.push(CA_TRUE.to_owned()),
        ParsedExtension::BasicConstraints(_) => {
            parts.push("basicConstraints CA:FALSE".to_owned());
        }
        // The CA computes the subject key identifier from the key itself.
        _ if extension.oid == OID_X509_EXT_SUBJECT_KEY_IDENTIFIER => {}
        _ => parts.push(format!(
            "extension {}{}",
            oid_name(&extension.oid),
            if extension.critical {
                " (critical)"
            } else {
                ""
            }
        )),
    }
}

fn general_name(name: &GeneralName<'_>) -> String {
    match name {
        GeneralName::DNSName(dns) => format!("DNS:{dns}"),
        GeneralName::IPAddress(octets) => format!("IP:{}", ip_text(octets)),
        GeneralName::RFC822Name(email) => format!("email:{email}"),
        GeneralName::URI(uri) => format!("URI:{uri}"),
        GeneralName::DirectoryName(dn) => format!("DirName:{dn}"),
        GeneralName::RegisteredID(oid) => format!("RID:{}", oid_name(oid)),
        GeneralName::OtherName(oid, _) => format!("othername:{}", oid_name(oid)),
        GeneralName::X400Address(_) => "X400Name".to_owned(),
        GeneralName::EDIPartyName(_) => "EdiPartyName".to_owned(),
        GeneralName::Invalid(_, bytes) => format!("invalid:#{}", hex::encode(bytes)),
    }
}

fn ip_text(octets: &[u8]) -> String {
    if let Ok(v4) = <[u8; 4]>::try_from(octets) {
        return std::net::Ipv4Addr::from(v4).to_string();
    }
    if let Ok(v6) = <[u8; 16]>::try_from(octets) {
        return std::net::Ipv6Addr::from(v6).to_string();
    }
    format!("#{}", hex::encode(octets))
}

/// A subject attribute's short name (`CN`, `O`, `OU`, ...) or its OID.
fn attribute_name(oid: &Oid<'_>) -> String {
    let known = [
        ("2.5.4.3", "CN"),
        ("2.5.4.6", "C"),
        ("2.5.4.7", "L"),
        ("2.5.4.8", "ST"),
        ("2.5.4.10", "O"),
        ("2.5.4.11", "OU"),
    ];
    let dotted = oid.to_id_string();
    known
        .iter()
        .find(|(id, _)| *id == dotted)
        .map_or_else(|| oid_name(oid), |(_, name)| (*name).to_owned())
}

/// The registry's short name of an OID, or the OID itself.
fn oid_name(oid: &Oid<'_>) -> String {
    x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
        .map_or_else(|_| oid.to_id_string(), str::to_owned)
}

/// The text of a directory string (UTF8, Printable, IA5, Numeric, T61 as Latin-1, BMP,
/// Universal); `None` for anything else.
fn attribute_text(value: &x509_parser::asn1_rs::Any<'_>) -> Option<String> {
    use x509_parser::asn1_rs::Tag;
    let data = value.data;
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::NumericString => {
            std::str::from_utf8(data).ok().map(str::to_owned)
        }
        Tag::T61String => Some(data.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString if data.len().is_multiple_of(2) => {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        Tag::UniversalString if data.len().is_multiple_of(4) => data
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, PublicKeyData, SanType,
    };

    /// A request made by rcgen for `cn` with extra SANs and EKUs.
    fn request(key: &KeyPair, cn: &str) -> Vec<u8> {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Evil Corp");
        params.subject_alt_names = vec![
            SanType::DnsName("evil.example".try_into().expect("dns")),
            SanType::IpAddress("10.0.0.1".parse().expect("ip")),
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params
            .serialize_request(key)
            .expect("request")
            .der()
            .to_vec()
    }

    #[test]
    fn pem_with_either_label_base64_and_der_all_decode_to_the_same_request() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let der = request(&key, "QVS01");
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let lines: Vec<String> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let certreq = format!(
            "-----BEGIN NEW CERTIFICATE REQUEST-----\r\n{}\r\n-----END NEW CERTIFICATE REQUEST-----\r\n",
            lines.join("\r\n")
        );
        let openssl = format!(
            "Certificate Request:\n  text\n-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
            lines.join("\n")
        );
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(certreq.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        for input in [
            der.clone(),
            certreq.into_bytes(),
            openssl.into_bytes(),
            b64.into_bytes(),
            utf16,
        ] {
            let parsed = SigningRequest::parse(&input, "test").expect("parses");
            assert_eq!(parsed.common_name(), Some("QVS01"));
            assert_eq!(parsed.key_type(), KeyType::P256);
            assert_eq!(parsed.spki_der(), key.subject_public_key_info().as_slice());
        }
    }

    #[test]
    fn what_a_request_asks_for_is_listed() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let parsed = SigningRequest::parse(&request(&key, "QVS01"), "test").expect("parses");
        for part in [
            "subject CN=QVS01",
            "subject O=Evil Corp",
            "subjectAltName DNS:evil.example",
            "subjectAltName IP:10.0.0.1",
            "extendedKeyUsage codeSigning",
        ] {
            assert!(
                parsed.asked().iter().any(|p| p == part),
                "{part}: {:?}",
                parsed.asked()
            );
        }
        assert!(!parsed.asks_for_ca());
    }

    #[test]
    fn a_request_with_a_broken_signature_is_an_integrity_failure() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let mut der = request(&key, "QVS01");
        let last = der.len() - 2;
        der[last] ^= 0x01;
        let err = SigningRequest::parse(&der, "test").expect_err("broken");
        assert_eq!(err.kind(), crate::ErrorKind::Authentication, "{err}");
    }

    #[test]
    fn other_pem_blocks_and_garbage_are_refused_with_what_they_are() {
        let err = SigningRequest::parse(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "test",
        )
        .expect_err("certificate");
        assert!(err.message().contains("not a certificate request"), "{err}");
        for garbage in [
            &b""[..],
            b"hello world!",
            b"\x30\x03\x02\x01\x01",
            b"\xff\x00\x01",
        ] {
            assert!(SigningRequest::parse(garbage, "test").is_err());
        }
    }

    #[test]
    fn mangled_requests_are_refused_never_panicked_on() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let der = request(&key, "QVS01");
        let pem = format!(
            "-----BEGIN NEW CERTIFICATE REQUEST-----\n{}\n-----END NEW CERTIFICATE REQUEST-----\n",
            base64::engine::general_purpose::STANDARD.encode(&der)
        )
        .into_bytes();
        // A small xorshift: reproducible mutations without a dependency.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        for _ in 0..4000 {
            for original in [&der, &pem] {
                let mut input = original.clone();
                match next(3) {
                    0 => {
                        let at = next(input.len());
                        input[at] ^= 1 << next(8);
                    }
                    1 => input.truncate(next(input.len())),
                    _ => {
                        let at = next(input.len());
                        input.insert(at, next(256) as u8);
                    }
                }
                if let Ok(parsed) = SigningRequest::parse(&input, "fuzz") {
                    let _ = parsed.asked();
                }
                // A hostile node signs whatever it likes with its own key: what a request asks
                // for is read from mangled content too, past the signature check.
                if let Ok((_, csr)) = X509CertificationRequest::from_der(&input) {
                    let _ = parts(
                        &csr.certification_request_info.subject,
                        requested_extensions(&csr),
                    );
                }
            }
        }
    }

    #[test]
    fn an_ed25519_request_is_refused_for_its_key_type() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("key");
        let err = SigningRequest::parse(&request(&key, "QVS01"), "test").expect_err("ed25519");
        assert!(err.message().contains("Ed25519"), "{err}");
        assert_eq!(err.kind(), crate::ErrorKind::Failed);
    }
}
