//! Describing private key files for `inspect`: the format (PKCS#8, PKCS#1, SEC1), the
//! algorithm and size, and whether and how the key is encrypted. Key material is never
//! decrypted, copied into a report or shown.

use crate::pki::der_walk::children;
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5912, rfc8410};
use der::Decode;
use serde::Serialize;

/// A private key found in a file (its contents are never shown).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KeySummary {
    /// The PEM label, or "DER" for a binary file.
    pub label: String,
    /// "PKCS#8", "PKCS#8 (encrypted)", "PKCS#1 (RSA)", "SEC1 (EC)" or the label's own words.
    pub format: String,
    /// The key, e.g. "RSA 2048", "ECDSA P-256", "Ed25519"; None when it cannot be seen
    /// (encrypted keys hide it).
    pub algorithm: Option<String>,
    /// True when the key is encrypted.
    pub encrypted: bool,
    /// How it is encrypted, e.g. "PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), 2048 iterations".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
    /// What could not be decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Describes a private key block from its label, PEM headers and DER.
pub fn describe_key(label: &str, headers: &[(String, String)], der: &[u8]) -> KeySummary {
    let mut summary = KeySummary {
        label: label.to_owned(),
        format: label.to_owned(),
        algorithm: None,
        encrypted: false,
        encryption: None,
        problem: None,
    };
    let legacy = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("Proc-Type") && v.contains("ENCRYPTED"));
    if legacy {
        let cipher = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("DEK-Info"))
            .map_or("unknown cipher", |(_, v)| v.split(',').next().unwrap_or(v));
        summary.encrypted = true;
        summary.format = format!("{} (legacy OpenSSL PEM encryption)", pem_format(label));
        summary.algorithm = label_algorithm(label);
        summary.encryption = Some(format!(
            "legacy OpenSSL PEM encryption (Proc-Type: 4,ENCRYPTED, {cipher}, MD5-based key \
             derivation): convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
        ));
        return summary;
    }
    match label {
        "ENCRYPTED PRIVATE KEY" => encrypted_pkcs8(der, &mut summary),
        "RSA PRIVATE KEY" => {
            summary.format = "PKCS#1 (RSA)".into();
            summary.algorithm = rsa_private_bits(der).map(|b| format!("RSA {b}"));
        }
        "EC PRIVATE KEY" => {
            summary.format = "SEC1 (EC)".into();
            summary.algorithm = Some(sec1_curve(der));
        }
        "PRIVATE KEY" => plain_pkcs8(der, &mut summary),
        _ => summary.algorithm = label_algorithm(label),
    }
    if summary.algorithm.is_none() && !summary.encrypted {
        summary.problem = Some("the key's structure cannot be decoded".into());
    }
    summary
}

/// Describes a DER private key of unknown format, or None when the bytes are no key qvca
/// recognises (PKCS#8 plain or encrypted, PKCS#1, SEC1).
pub fn describe_der_key(der: &[u8]) -> Option<KeySummary> {
    if !crate::pki::der_walk::is_one_element(der) {
        return None;
    }
    let parts = children(der)?;
    let label = match parts.as_slice() {
        [version, alg, key, ..]
            if is_integer(version) && alg.first() == Some(&0x30) && key.first() == Some(&0x04) =>
        {
            "PRIVATE KEY"
        }
        [alg, data] if alg.first() == Some(&0x30) && data.first() == Some(&0x04) => {
            "ENCRYPTED PRIVATE KEY"
        }
        [version, modulus, _, _, _, _, _, _, _, ..]
            if is_integer(version) && is_integer(modulus) =>
        {
            "RSA PRIVATE KEY"
        }
        [version, key, ..] if is_integer(version) && key.first() == Some(&0x04) => "EC PRIVATE KEY",
        _ => return None,
    };
    let mut summary = describe_key(label, &[], der);
    summary.label = "DER".into();
    Some(summary)
}

fn is_integer(tlv: &[u8]) -> bool {
    tlv.first() == Some(&0x02)
}

fn pem_format(label: &str) -> &'static str {
    match label {
        "RSA PRIVATE KEY" => "PKCS#1 (RSA)",
        "EC PRIVATE KEY" => "SEC1 (EC)",
        "DSA PRIVATE KEY" => "DSA",
        _ => "private key",
    }
}

fn label_algorithm(label: &str) -> Option<String> {
    match label {
        "RSA PRIVATE KEY" => Some("RSA".into()),
        "EC PRIVATE KEY" => Some("ECDSA".into()),
        "DSA PRIVATE KEY" => Some("DSA".into()),
        _ => None,
    }
}

fn encrypted_pkcs8(der: &[u8], summary: &mut KeySummary) {
    summary.encrypted = true;
    summary.format = "PKCS#8 (encrypted)".into();
    let algorithm = children(der)
        .and_then(|parts| parts.first().copied())
        .and_then(|alg| x509_cert::spki::AlgorithmIdentifierOwned::from_der(alg).ok());
    summary.encryption = Some(match algorithm {
        Some(alg) => {
            let (words, iterations) = crate::pki::pkcs12::describe_algorithm(&alg);
            match iterations {
                Some(n) => format!("{words}, {n} iterations"),
                None => words,
            }
        }
        None => "unreadable encryption parameters".into(),
    });
}

fn plain_pkcs8(der: &[u8], summary: &mut KeySummary) {
    summary.format = "PKCS#8".into();
    let Some(parts) = children(der) else {
        return;
    };
    let (Some(alg), Some(key)) = (parts.get(1), parts.get(2)) else {
        return;
    };
    let Ok(alg) = x509_cert::spki::AlgorithmIdentifierOwned::from_der(alg) else {
        return;
    };
    let inner = der::asn1::OctetString::from_der(key)
        .ok()
        .map(|o| zeroize::Zeroizing::new(o.into_bytes()));
    summary.algorithm = Some(match alg.oid {
        rfc5912::RSA_ENCRYPTION => inner
            .as_ref()
            .and_then(|k| rsa_private_bits(k))
            .map_or_else(|| "RSA".into(), |b| format!("RSA {b}")),
        rfc5912::ID_RSASSA_PSS => inner
            .as_ref()
            .and_then(|k| rsa_private_bits(k))
            .map_or_else(|| "RSA-PSS".into(), |b| format!("RSA-PSS {b}")),
        rfc5912::ID_EC_PUBLIC_KEY => {
            let curve = alg
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            curve.map_or_else(|| "ECDSA".into(), |c| format!("ECDSA {}", curve_name(&c)))
        }
        rfc8410::ID_ED_25519 => "Ed25519".into(),
        rfc8410::ID_ED_448 => "Ed448".into(),
        rfc8410::ID_X_25519 => "X25519".into(),
        rfc8410::ID_X_448 => "X448".into(),
        rfc5912::ID_DSA => "DSA".into(),
        other => other.to_string(),
    });
}

/// The modulus size of a PKCS#1 RSAPrivateKey.
fn rsa_private_bits(der: &[u8]) -> Option<usize> {
    let parts = children(der)?;
    let modulus = der::asn1::UintRef::from_der(parts.get(1)?).ok()?;
    let m = modulus.as_bytes();
    Some(m.len() * 8 - m.first().map_or(0, |b| b.leading_zeros() as usize))
}

/// The curve of a SEC1 ECPrivateKey, from its `[0]` parameters.
fn sec1_curve(der: &[u8]) -> String {
    let curve = children(der).and_then(|parts| {
        parts
            .iter()
            .find(|p| p.first() == Some(&0xA0))
            .and_then(|p| children(p))
            .and_then(|inner| inner.first().copied())
            .and_then(|oid| ObjectIdentifier::from_der(oid).ok())
    });
    curve.map_or_else(
        || "ECDSA (curve not named in the key)".into(),
        |c| format!("ECDSA {}", curve_name(&c)),
    )
}

fn curve_name(oid: &ObjectIdentifier) -> String {
    match *oid {
        rfc5912::SECP_256_R_1 => "P-256".into(),
        rfc5912::SECP_384_R_1 => "P-384".into(),
        rfc5912::SECP_521_R_1 => "P-521".into(),
        other => other.to_string(),
    }
}
