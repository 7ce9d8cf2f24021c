//! Reading PKCS#10 certificate requests (what `certreq -new` and `openssl req` write) for
//! `inspect`: subject, key, requested extensions, and whether the request's self-signature
//! verifies. Lenient and for looking only; signing reads requests its own, strict way.

use super::ext::{
    ExtensionReport, algorithm_name, common_name_of, describe_extensions, name_to_string,
};
use crate::error::{Error, Result};
use crate::pki::certificate::describe_public_key;
use crate::pki::der_walk;
use der::Decode;
use serde::Serialize;
use x509_parser::der_parser::asn1_rs::BitString;
use x509_parser::der_parser::oid::Oid;
use x509_parser::prelude::{
    AlgorithmIdentifier, FromDer, SubjectPublicKeyInfo, X509Extension, X509Name,
};

/// The extensionRequest attribute (PKCS #9).
const EXTENSION_REQUEST: &str = "1.2.840.113549.1.9.14";
/// The challengePassword attribute (PKCS #9): reported as present, never shown.
const CHALLENGE_PASSWORD: &str = "1.2.840.113549.1.9.7";

/// What `inspect` shows of one certificate request.
#[derive(Debug, Clone, Serialize)]
pub struct RequestReport {
    /// The requested subject DN.
    pub subject: String,
    /// Its common name.
    pub subject_cn: Option<String>,
    /// The public key, e.g. "RSA 2048".
    pub public_key: String,
    /// The signature algorithm.
    pub signature_algorithm: String,
    /// Whether the request's signature verifies with its own key (proof of possession).
    pub signature_valid: Option<bool>,
    /// The requested extensions.
    pub requested_extensions: Vec<ExtensionReport>,
    /// Other attributes by OID or name (a challenge password is named, never shown).
    pub attributes: Vec<String>,
    /// True when the whole request is strict DER.
    pub strict_der: bool,
    /// Encodings that are not strict DER but were read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub non_der: Vec<String>,
    /// Parts that could not be decoded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// The parts of a PKCS#10 request: CertificationRequest ::= SEQUENCE { info SEQUENCE {
/// version, subject, subjectPKInfo, [0] attributes }, algorithm, signature }.
struct RequestParts<'a> {
    /// The whole CertificationRequestInfo (what the signature covers).
    info_tlv: &'a [u8],
    /// Its elements: version, subject, subjectPKInfo, then the attributes.
    info: Vec<&'a [u8]>,
    subject: X509Name<'a>,
    spki: SubjectPublicKeyInfo<'a>,
    algorithm: AlgorithmIdentifier<'a>,
    signature: BitString<'a>,
}

impl<'a> RequestParts<'a> {
    /// Splits a request into its parts; fails when the bytes are not a request at all.
    fn split(der: &'a [u8]) -> Result<Self> {
        let not_a_request = || Error::failed("not a PKCS#10 certificate request");
        let outer = der_walk::children(der).ok_or_else(not_a_request)?;
        let [info_tlv, alg_tlv, sig_tlv] = outer[..] else {
            return Err(not_a_request());
        };
        let info = der_walk::children(info_tlv).ok_or_else(not_a_request)?;
        let (Some(&version), Some(&subject_tlv), Some(&spki_tlv)) =
            (info.first(), info.get(1), info.get(2))
        else {
            return Err(not_a_request());
        };
        if version.first() != Some(&0x02) || spki_tlv.first() != Some(&0x30) {
            return Err(not_a_request());
        }
        let (_, subject) = X509Name::from_der(subject_tlv).map_err(|_| not_a_request())?;
        let (_, spki) = SubjectPublicKeyInfo::from_der(spki_tlv).map_err(|_| not_a_request())?;
        let (_, algorithm) = AlgorithmIdentifier::from_der(alg_tlv).map_err(|_| not_a_request())?;
        let (_, signature) = BitString::from_der(sig_tlv).map_err(|_| not_a_request())?;
        Ok(Self {
            info_tlv,
            info,
            subject,
            spki,
            algorithm,
            signature,
        })
    }

    /// Whether the request's signature verifies with its own key (`None` when qvca does not
    /// check its algorithm); a signature that fails is a problem.
    fn check_signature(&self, problems: &mut Vec<String>) -> Option<bool> {
        let signature_valid = match x509_parser::verify::verify_signature(
            &self.spki,
            &self.algorithm,
            &self.signature,
            self.info_tlv,
        ) {
            Ok(()) => Some(true),
            Err(x509_parser::error::X509Error::SignatureUnsupportedAlgorithm) => None,
            Err(_) => Some(false),
        };
        if signature_valid == Some(false) {
            problems.push(
                "the request's signature does not verify with its own key: it was altered after \
                 it was made, or made wrongly"
                    .into(),
            );
        }
        signature_valid
    }
}

/// Reads a DER PKCS#10 request leniently, part by part (see [`RequestParts`]).
pub fn read_request(der: &[u8]) -> Result<RequestReport> {
    let parts = RequestParts::split(der)?;
    let mut problems = Vec::new();
    let mut non_der = Vec::new();
    let strict = x509_cert::request::CertReq::from_der(der);
    if let Err(e) = &strict {
        non_der.push(format!("the request is not strict DER ({e})"));
    }
    let (requested_extensions, attributes) =
        read_attributes(&parts.info, &mut problems, &mut non_der);
    let signature_valid = parts.check_signature(&mut problems);
    Ok(RequestReport {
        subject: name_to_string(&parts.subject, &mut non_der, "subject"),
        subject_cn: common_name_of(&parts.subject),
        public_key: describe_public_key(parts.spki.raw),
        signature_algorithm: algorithm_name(&parts.algorithm.algorithm),
        signature_valid,
        requested_extensions,
        attributes,
        strict_der: strict.is_ok(),
        non_der,
        problems,
    })
}

/// The attributes of a request (the `[0]` after the first three elements of its info): the
/// requested extensions, and the other attributes by name.
fn read_attributes(
    info: &[&[u8]],
    problems: &mut Vec<String>,
    non_der: &mut Vec<String>,
) -> (Vec<ExtensionReport>, Vec<String>) {
    let mut requested_extensions = Vec::new();
    let mut attributes = Vec::new();
    let attribute_list = info.iter().skip(3).find(|t| t.first() == Some(&0xA0));
    for attribute in attribute_list
        .and_then(|a| der_walk::children(a))
        .unwrap_or_default()
    {
        let parts = der_walk::children(attribute).unwrap_or_default();
        let oid = parts
            .first()
            .and_then(|o| Oid::from_der(o).ok())
            .map(|(_, o)| o);
        let Some(oid) = oid else {
            problems.push("an attribute of the request cannot be decoded".into());
            continue;
        };
        let name = oid.to_id_string();
        let values = parts.get(1).and_then(|set| der_walk::children(set));
        if name == EXTENSION_REQUEST {
            match read_extension_request(values.as_deref(), problems, non_der) {
                Some(extensions) => requested_extensions = extensions,
                None => continue,
            }
        } else if name == CHALLENGE_PASSWORD {
            attributes.push("challengePassword (present; not shown)".into());
        } else {
            attributes.push(super::ext::oid_words(&oid));
        }
        if values.as_ref().is_none_or(|v| v.is_empty()) {
            problems.push(format!(
                "the attribute {} has no value (PKCS#10 requires at least one)",
                super::ext::oid_words(&oid)
            ));
        }
    }
    (requested_extensions, attributes)
}

/// The extensions of an extensionRequest attribute (its first value); `None` (with a problem
/// noted) when they cannot be decoded at all.
fn read_extension_request(
    values: Option<&[&[u8]]>,
    problems: &mut Vec<String>,
    non_der: &mut Vec<String>,
) -> Option<Vec<ExtensionReport>> {
    let extensions = values
        .and_then(|v| v.first())
        .and_then(|seq| der_walk::children(seq));
    let Some(extensions) = extensions else {
        problems.push(
            "the extensionRequest attribute cannot be decoded; its extensions are not shown".into(),
        );
        return None;
    };
    let parsed: Vec<X509Extension<'_>> = extensions
        .iter()
        .filter_map(|tlv| X509Extension::from_der(tlv).ok().map(|(_, e)| e))
        .collect();
    if parsed.len() != extensions.len() {
        problems.push(format!(
            "{} of the requested extensions cannot be decoded",
            extensions.len() - parsed.len()
        ));
    }
    Some(describe_extensions(&parsed, problems, non_der))
}
