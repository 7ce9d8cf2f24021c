//! Public keys as qvca needs them: the key algorithm, the subjectPublicKey BIT STRING contents
//! (what rcgen's `PublicKeyData::der_bytes` returns) and the SubjectPublicKeyInfo DER (what a
//! certificate carries, and what SecretsKey key ids are computed from).
//!
//! Built from token attributes: RSA from `CKA_MODULUS` and `CKA_PUBLIC_EXPONENT` (encoded as a
//! PKCS#1 RSAPublicKey), EC from `CKA_EC_PARAMS` (a named-curve OID: P-256 or P-384) and
//! `CKA_EC_POINT` (a DER OCTET STRING around the uncompressed point, or the bare point on
//! some older tokens).

use crate::error::{Error, Result};
use crate::pki::key::KeyType;
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912::{ID_EC_PUBLIC_KEY, RSA_ENCRYPTION, SECP_256_R_1, SECP_384_R_1};
use der::asn1::{Any, BitString, OctetStringRef, UintRef};
use der::{Decode, Encode};
use pkcs8::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};

/// The key algorithms qvca roots use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// RSA with this modulus size in bits; signs sha256WithRSAEncryption.
    Rsa {
        /// The modulus size in bits.
        bits: usize,
    },
    /// ECDSA on P-256; signs ecdsa-with-SHA256.
    EcP256,
    /// ECDSA on P-384; signs ecdsa-with-SHA384.
    EcP384,
}

impl KeyAlgorithm {
    /// The rcgen signature algorithm a key of this kind signs certificates with.
    pub fn signature_algorithm(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            Self::Rsa { .. } => &rcgen::PKCS_RSA_SHA256,
            Self::EcP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::EcP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        }
    }

    /// The qvca key type (`--key-type`) of a key of this kind; `None` for an RSA size qvca
    /// does not make.
    pub fn key_type(self) -> Option<KeyType> {
        match self {
            Self::Rsa { bits: 2048 } => Some(KeyType::Rsa2048),
            Self::Rsa { bits: 3072 } => Some(KeyType::Rsa3072),
            Self::Rsa { bits: 4096 } => Some(KeyType::Rsa4096),
            Self::Rsa { .. } => None,
            Self::EcP256 => Some(KeyType::P256),
            Self::EcP384 => Some(KeyType::P384),
        }
    }

    /// The kind of key of a qvca key type.
    pub fn of_key_type(key_type: KeyType) -> Self {
        match key_type {
            KeyType::Rsa2048 => Self::Rsa { bits: 2048 },
            KeyType::Rsa3072 => Self::Rsa { bits: 3072 },
            KeyType::Rsa4096 => Self::Rsa { bits: 4096 },
            KeyType::P256 => Self::EcP256,
            KeyType::P384 => Self::EcP384,
        }
    }

    /// A short name for messages: "RSA-3072", "P-256", "P-384".
    pub fn name(self) -> String {
        match self {
            Self::Rsa { bits } => format!("RSA-{bits}"),
            Self::EcP256 => "P-256".to_owned(),
            Self::EcP384 => "P-384".to_owned(),
        }
    }

    /// The curve's OID for EC keys.
    pub(crate) fn curve_oid(self) -> Option<ObjectIdentifier> {
        match self {
            Self::Rsa { .. } => None,
            Self::EcP256 => Some(SECP_256_R_1),
            Self::EcP384 => Some(SECP_384_R_1),
        }
    }

    /// The length of one coordinate (and of the private scalar) for EC keys.
    pub(crate) fn field_len(self) -> Option<usize> {
        match self {
            Self::Rsa { .. } => None,
            Self::EcP256 => Some(32),
            Self::EcP384 => Some(48),
        }
    }
}

/// A public key with its algorithm, subjectPublicKey bytes and SubjectPublicKeyInfo DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    algorithm: KeyAlgorithm,
    subject_public_key: Vec<u8>,
    spki_der: Vec<u8>,
}

/// PKCS#1 RSAPublicKey.
#[derive(der::Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

impl PublicKey {
    /// An RSA public key from its modulus and public exponent (big-endian, as PKCS#11 gives them).
    pub fn from_rsa(modulus: &[u8], public_exponent: &[u8]) -> Result<Self> {
        let bad =
            |e: der::Error| Error::failed(format!("the token's RSA public key is malformed: {e}"));
        let modulus = UintRef::new(modulus).map_err(bad)?;
        let public_exponent = UintRef::new(public_exponent).map_err(bad)?;
        let bits = bit_length(modulus.as_bytes());
        if !(1024..=16384).contains(&bits) {
            return Err(Error::failed(format!(
                "the token's RSA key has a {bits}-bit modulus; qvca roots are RSA-2048, 3072 or 4096"
            )));
        }
        let der = RsaPublicKey {
            modulus,
            public_exponent,
        }
        .to_der()
        .map_err(bad)?;
        Self::assemble(KeyAlgorithm::Rsa { bits }, RSA_ENCRYPTION, Any::null(), der)
    }

    /// An EC public key from `CKA_EC_PARAMS` and `CKA_EC_POINT`.
    pub fn from_ec_attributes(ec_params: &[u8], ec_point: &[u8]) -> Result<Self> {
        let algorithm = curve_from_params(ec_params)?;
        let point = unwrap_ec_point(ec_point, algorithm)?;
        Self::from_ec_point(algorithm, point)
    }

    /// An EC public key from the curve and the uncompressed point `04 || X || Y`.
    pub fn from_ec_point(algorithm: KeyAlgorithm, point: &[u8]) -> Result<Self> {
        let (Some(oid), Some(field)) = (algorithm.curve_oid(), algorithm.field_len()) else {
            return Err(Error::failed("an RSA key has no EC point"));
        };
        if point.len() != 1 + 2 * field || point[0] != 0x04 {
            return Err(Error::failed(format!(
                "the token's {} public point is not an uncompressed point of {} bytes",
                algorithm.name(),
                1 + 2 * field
            )));
        }
        let params = Any::encode_from(&oid)
            .map_err(|e| Error::failed(format!("cannot encode the curve OID: {e}")))?;
        Self::assemble(algorithm, ID_EC_PUBLIC_KEY, params, point.to_vec())
    }

    /// Parses a SubjectPublicKeyInfo (e.g. from a certificate); RSA, P-256 and P-384 only.
    pub fn from_spki_der(spki_der: &[u8]) -> Result<Self> {
        let bad =
            |e: der::Error| Error::failed(format!("the SubjectPublicKeyInfo is malformed: {e}"));
        let spki = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(bad)?;
        let key = spki.subject_public_key.as_bytes().ok_or_else(|| {
            Error::failed("the SubjectPublicKeyInfo's key is not a whole number of bytes")
        })?;
        if spki.algorithm.oid == RSA_ENCRYPTION {
            let rsa = RsaPublicKey::from_der(key).map_err(bad)?;
            return Self::from_rsa(rsa.modulus.as_bytes(), rsa.public_exponent.as_bytes());
        }
        if spki.algorithm.oid == ID_EC_PUBLIC_KEY {
            let params = spki
                .algorithm
                .parameters
                .ok_or_else(|| Error::failed("the EC SubjectPublicKeyInfo names no curve"))?;
            let oid = params.decode_as::<ObjectIdentifier>().map_err(|_| {
                Error::failed("the EC SubjectPublicKeyInfo does not name its curve by OID")
            })?;
            return Self::from_ec_point(curve_from_oid(oid)?, key);
        }
        Err(Error::failed(format!(
            "the key algorithm {} is not one qvca roots use (RSA, P-256, P-384)",
            spki.algorithm.oid
        )))
    }

    fn assemble(
        algorithm: KeyAlgorithm,
        oid: ObjectIdentifier,
        parameters: Any,
        subject_public_key: Vec<u8>,
    ) -> Result<Self> {
        let spki = SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid,
                parameters: Some(parameters),
            },
            subject_public_key: BitString::from_bytes(&subject_public_key)
                .map_err(|e| Error::failed(format!("cannot encode the public key: {e}")))?,
        };
        let spki_der = spki
            .to_der()
            .map_err(|e| Error::failed(format!("cannot encode the public key: {e}")))?;
        Ok(Self {
            algorithm,
            subject_public_key,
            spki_der,
        })
    }

    /// The key algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The subjectPublicKey BIT STRING contents: a PKCS#1 RSAPublicKey, or the EC point.
    pub fn subject_public_key(&self) -> &[u8] {
        &self.subject_public_key
    }

    /// The SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// True when `signature` over `message` verifies under this key with the key's certificate
    /// signature algorithm (the DER form for ECDSA), checked in software by aws-lc (through
    /// rustls-webpki's algorithms).
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        use rustls_pki_types::SignatureVerificationAlgorithm;
        let algorithm: &dyn SignatureVerificationAlgorithm = match self.algorithm {
            KeyAlgorithm::Rsa { .. } => webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
            KeyAlgorithm::EcP256 => webpki::aws_lc_rs::ECDSA_P256_SHA256,
            KeyAlgorithm::EcP384 => webpki::aws_lc_rs::ECDSA_P384_SHA384,
        };
        algorithm
            .verify_signature(&self.subject_public_key, message, signature)
            .is_ok()
    }

    /// True when a certificate's SubjectPublicKeyInfo (DER) holds this same key.
    pub fn matches_spki(&self, spki_der: &[u8]) -> bool {
        Self::from_spki_der(spki_der).is_ok_and(|other| other == *self)
    }
}

/// The number of significant bits in a big-endian unsigned integer.
fn bit_length(bytes: &[u8]) -> usize {
    let mut i = 0;
    while i < bytes.len() && bytes[i] == 0 {
        i += 1;
    }
    match bytes.get(i) {
        None => 0,
        Some(&first) => (bytes.len() - i) * 8 - first.leading_zeros() as usize,
    }
}

/// The curve named by `CKA_EC_PARAMS` (a DER OID; explicit parameters are refused).
pub(crate) fn curve_from_params(ec_params: &[u8]) -> Result<KeyAlgorithm> {
    let oid = ObjectIdentifier::from_der(ec_params).map_err(|_| {
        Error::failed(
            "the token's EC key does not name its curve by OID (CKA_EC_PARAMS); qvca supports the named curves P-256 and P-384",
        )
    })?;
    curve_from_oid(oid)
}

fn curve_from_oid(oid: ObjectIdentifier) -> Result<KeyAlgorithm> {
    if oid == SECP_256_R_1 {
        Ok(KeyAlgorithm::EcP256)
    } else if oid == SECP_384_R_1 {
        Ok(KeyAlgorithm::EcP384)
    } else {
        Err(Error::failed(format!(
            "the EC key is on the curve {oid}; qvca supports P-256 and P-384"
        )))
    }
}

/// The DER `CKA_EC_PARAMS` value for a curve.
pub(crate) fn ec_params_der(algorithm: KeyAlgorithm) -> Result<Vec<u8>> {
    let oid = algorithm
        .curve_oid()
        .ok_or_else(|| Error::failed("an RSA key has no EC parameters"))?;
    oid.to_der()
        .map_err(|e| Error::failed(format!("cannot encode the curve OID: {e}")))
}

/// The DER `CKA_EC_POINT` value (an OCTET STRING around the point).
pub(crate) fn ec_point_der(point: &[u8]) -> Result<Vec<u8>> {
    OctetStringRef::new(point)
        .and_then(|o| o.to_der())
        .map_err(|e| Error::failed(format!("cannot encode the EC point: {e}")))
}

/// The uncompressed point inside `CKA_EC_POINT`: PKCS#11 says a DER OCTET STRING, some older
/// tokens give the bare point.
fn unwrap_ec_point(ec_point: &[u8], algorithm: KeyAlgorithm) -> Result<&[u8]> {
    let expected = algorithm.field_len().map_or(0, |f| 1 + 2 * f);
    if let Ok(inner) = <&OctetStringRef>::from_der(ec_point)
        && inner.as_bytes().len() == expected
    {
        return Ok(inner.as_bytes());
    }
    if ec_point.len() == expected && ec_point.first() == Some(&0x04) {
        return Ok(ec_point);
    }
    Err(Error::failed(format!(
        "the token's {} public point (CKA_EC_POINT, {} bytes) is neither a DER OCTET STRING around an uncompressed point nor a bare one",
        algorithm.name(),
        ec_point.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P256_OID_DER: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

    fn point(len: usize) -> Vec<u8> {
        let mut p = vec![0x04];
        p.extend((1..len as u32).map(|i| (i * 7) as u8));
        p
    }

    #[test]
    fn an_ec_point_is_unwrapped_from_its_octet_string() {
        let raw = point(65);
        let wrapped = ec_point_der(&raw).expect("encode");
        assert_eq!(wrapped[..2], [0x04, 0x41]);
        let key = PublicKey::from_ec_attributes(&P256_OID_DER, &wrapped).expect("valid");
        assert_eq!(key.algorithm(), KeyAlgorithm::EcP256);
        assert_eq!(key.subject_public_key(), &raw[..]);
        // Bare points from older tokens are accepted too.
        let bare = PublicKey::from_ec_attributes(&P256_OID_DER, &raw).expect("valid");
        assert_eq!(bare, key);
    }

    #[test]
    fn the_spki_round_trips_and_matches() {
        let raw = point(97);
        let key = PublicKey::from_ec_point(KeyAlgorithm::EcP384, &raw).expect("valid");
        let again = PublicKey::from_spki_der(key.spki_der()).expect("parse");
        assert_eq!(again, key);
        assert!(key.matches_spki(key.spki_der()));
        let mut different = raw.clone();
        different[5] ^= 1;
        let other = PublicKey::from_ec_point(KeyAlgorithm::EcP384, &different).expect("valid");
        assert!(!other.matches_spki(key.spki_der()));
    }

    #[test]
    fn rsa_keys_are_encoded_as_pkcs1_and_sized() {
        let mut modulus = vec![0x00, 0xc3];
        modulus.extend(std::iter::repeat_n(0x5a, 255));
        let key = PublicKey::from_rsa(&modulus, &[0x01, 0x00, 0x01]).expect("valid");
        assert_eq!(key.algorithm(), KeyAlgorithm::Rsa { bits: 2048 });
        let again = PublicKey::from_spki_der(key.spki_der()).expect("parse");
        assert_eq!(again, key);
        assert!(PublicKey::from_rsa(&[0x01; 64], &[0x03]).is_err());
    }

    #[test]
    fn unsupported_curves_and_bad_points_are_refused() {
        // secp256k1
        let k1 = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
        assert!(PublicKey::from_ec_attributes(&k1, &point(65)).is_err());
        assert!(PublicKey::from_ec_attributes(&P256_OID_DER, &point(64)).is_err());
        let mut compressed = point(33);
        compressed[0] = 0x02;
        assert!(PublicKey::from_ec_attributes(&P256_OID_DER, &compressed).is_err());
        assert!(PublicKey::from_ec_attributes(&[0x05, 0x00], &point(65)).is_err());
    }
}
