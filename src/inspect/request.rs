//! Reading PKCS#10 certificate requests (what `certreq -new` and `openssl req` write) for
//! `inspect`: subject, key, requested extensions, and whether the request's self-signature
//! verifies. Lenient and for looking only; signing reads requests its own, strict way.

use super::ext::{
    ExtensionReport, algorithm_name, common_name_of, describe_extensions, name_to_string,
};
use crate::certificate::describe_public_key;
use crate::error::{Error, Result};
use der::Decode;
use serde::Serialize;
use x509_parser::prelude::{FromDer, X509CertificationRequest, X509Extension};

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

/// Reads a DER PKCS#10 request leniently.
pub fn read_request(der: &[u8]) -> Result<RequestReport> {
    let (_, csr) = X509CertificationRequest::from_der(der)
        .map_err(|e| Error::failed(format!("not a PKCS#10 certificate request: {e}")))?;
    let info = &csr.certification_request_info;
    let mut problems = Vec::new();
    let mut non_der = Vec::new();
    let strict = x509_cert::request::CertReq::from_der(der);
    if let Err(e) = &strict {
        non_der.push(format!("the request is not strict DER ({e})"));
    }
    let mut requested_extensions = Vec::new();
    let mut attributes = Vec::new();
    for attribute in info.attributes() {
        let oid = attribute.oid.to_id_string();
        if oid == EXTENSION_REQUEST {
            match extensions_of(attribute.value) {
                Some(extensions) => {
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
                    requested_extensions =
                        describe_extensions(&parsed, &mut problems, &mut non_der);
                }
                None => problems.push(
                    "the extensionRequest attribute cannot be decoded; its extensions are not \
                     shown"
                        .into(),
                ),
            }
        } else if oid == CHALLENGE_PASSWORD {
            attributes.push("challengePassword (present; not shown)".into());
        } else {
            attributes.push(super::ext::oid_words(&attribute.oid));
        }
    }
    let signature_valid = match csr.verify_signature() {
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
    Ok(RequestReport {
        subject: name_to_string(&info.subject, &mut non_der, "subject"),
        subject_cn: common_name_of(&info.subject),
        public_key: describe_public_key(info.subject_pki.raw),
        signature_algorithm: algorithm_name(&csr.signature_algorithm.algorithm),
        signature_valid,
        requested_extensions,
        attributes,
        strict_der: strict.is_ok(),
        non_der,
        problems,
    })
}

/// The Extension TLVs inside an extensionRequest attribute value (SET { SEQUENCE OF Extension }).
fn extensions_of(value: &[u8]) -> Option<Vec<&[u8]>> {
    match value.first()? {
        0x31 => {
            let set = super::der_walk::children(value)?;
            super::der_walk::children(set.first()?)
        }
        _ => super::der_walk::children(value),
    }
}
