//! The SecretsKey: the key that encrypts passwords and connection strings, derived from the
//! root's private key so that restoring a backup of the certificates restores it too (seed 001:
//! "The certificates include a SecretsKey that handles encryption and decryption of data such
//! as passwords and connection strings").
//!
//! # Construction (version 1)
//!
//! ```text
//! spki      = DER of the root certificate's SubjectPublicKeyInfo
//! kid       = lower-case hex of SHA-256(spki)[0..8]              (16 characters, public)
//! ikm       = the root's private key material, independent of its PKCS#8 wrapping:
//!               RSA:   the PKCS #1 RSAPrivateKey DER (PKCS#8 privateKey field)
//!               ECDSA: the private scalar (SEC1 ECPrivateKey privateKey field)
//! SecretsKey = HKDF-SHA256(salt = SHA-256(spki), ikm, info = "qvca SecretsKey v1", L = 32)
//! ```
//!
//! Tokens are `qvca:v1:<kid>:<base64url(nonce || ciphertext || tag)>` (no padding), made
//! with AES-256-GCM under the SecretsKey, a fresh random 96-bit nonce per value, and the
//! associated data `qvca:v1:<kid>:<context>`, which binds the version, the key id and the
//! context label: a token moved to another context no longer decrypts.
//!
//! A CA whose root key lives in a PKCS#11 token cannot derive version 1 (the token never gives
//! out the key's bytes): its SecretsKey is version 2, a key kept in the token ([`hsm`]), whose
//! tokens start `qvca:v2:`. [`CaSecretsKey`] is a CA's SecretsKey whichever version it is.

mod ca_key;
pub mod hsm;
mod lines;
mod scan;
mod token;

pub use ca_key::{CaSecretsKey, ESCROW_CONTEXT, TokenVersion, escrow_v1};
pub use lines::{decrypt_lines, encrypt_lines, value_line_count};
pub use scan::{Rewrap, RewrapSummary, Sealer, find_tokens, rewrap_text, rewrap_tokens};
pub use token::{TOKEN_PREFIX, decrypt_token, encrypt_token, parse_token};

use crate::domain::secret::SecretBytes;
use crate::error::{Error, Result};
use crate::pki::signer::RootKey;
use der::Decode;
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::Zeroizing;

/// The HKDF info label of version 1; a new construction gets a new label and token version.
pub const DERIVATION_LABEL: &[u8] = b"qvca SecretsKey v1";

/// A SecretsKey's public identifier: the first 8 bytes of SHA-256 of the root's
/// SubjectPublicKeyInfo, as 16 lower-case hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// The key id of the root with this SubjectPublicKeyInfo (DER).
    pub fn for_root(spki_der: &[u8]) -> Self {
        let digest = Sha256::digest(spki_der);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        Self(id)
    }

    /// Parses the 16 hex characters of a token's key id.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let bytes = hex::decode(text).ok()?;
        let mut id = [0u8; 8];
        id.copy_from_slice(&bytes);
        Some(Self(id))
    }

    /// The 8 bytes (version 2 binds them into every data key).
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// The 32-byte SecretsKey with its key id. Zeroized on drop; `Debug` shows only the kid.
pub struct SecretsKey {
    key: Zeroizing<[u8; 32]>,
    kid: KeyId,
}

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretsKey(kid {}, [redacted])", self.kid)
    }
}

/// The ECPrivateKey structure of SEC1 (RFC 5915), only to take the private scalar.
#[derive(der::Sequence)]
struct EcPrivateKey<'a> {
    _version: der::asn1::UintRef<'a>,
    private_key: &'a der::asn1::OctetStringRef,
    #[asn1(context_specific = "0", optional = "true")]
    _parameters: Option<der::asn1::AnyRef<'a>>,
    #[asn1(context_specific = "1", optional = "true")]
    _public_key: Option<der::asn1::AnyRef<'a>>,
}

impl SecretsKey {
    /// Derives the SecretsKey from the root's private key (PKCS#8 DER) and the root
    /// certificate's SubjectPublicKeyInfo (DER), as the module documentation describes.
    pub fn derive(root_pkcs8: &SecretBytes, root_spki_der: &[u8]) -> Result<Self> {
        let ikm = key_material(root_pkcs8)?;
        let salt = Sha256::digest(root_spki_der);
        let hkdf = Hkdf::<Sha256>::new(Some(&salt), ikm.expose());
        let mut key = Zeroizing::new([0u8; 32]);
        hkdf.expand(DERIVATION_LABEL, key.as_mut())
            .map_err(|_| Error::failed("HKDF cannot produce 32 bytes (impossible)"))?;
        Ok(Self {
            key,
            kid: KeyId::for_root(root_spki_der),
        })
    }

    /// The SecretsKey of a root key, when its bytes can be read (version 1 derives from them).
    pub fn for_root(root_key: &RootKey) -> Result<Self> {
        let Some(pkcs8) = root_key.key_material() else {
            return Err(Error::refused(format!(
                "the root key lives in a {} whose bytes cannot be read, so the SecretsKey \
                 version 1 cannot be derived from it",
                root_key.location()
            )));
        };
        Self::derive(pkcs8, &root_key.public_key_info())
    }

    /// The key unsealed from a migrated CA's escrow (see [`hsm`]), for the root with key id
    /// `kid`.
    pub(crate) fn from_escrow(key: Zeroizing<[u8; 32]>, kid: KeyId) -> Self {
        Self { key, kid }
    }

    /// The key id.
    pub fn kid(&self) -> KeyId {
        self.kid
    }

    /// The 32 key bytes (for `secrets derive --reveal`).
    pub fn expose(&self) -> &[u8; 32] {
        &self.key
    }
}

/// The key material a SecretsKey is derived from (see the module documentation).
fn key_material(pkcs8: &SecretBytes) -> Result<SecretBytes> {
    let info = pkcs8::PrivateKeyInfoRef::from_der(pkcs8.expose())
        .map_err(|e| Error::failed(format!("the root key is not valid PKCS#8: {e}")))?;
    let oid = info.algorithm.oid;
    let raw = info.private_key.as_bytes();
    if oid == const_oid::db::rfc5912::RSA_ENCRYPTION {
        return Ok(SecretBytes::new(raw.to_vec()));
    }
    if oid == const_oid::db::rfc5912::ID_EC_PUBLIC_KEY {
        let ec = EcPrivateKey::from_der(raw)
            .map_err(|e| Error::failed(format!("the root's EC key cannot be read: {e}")))?;
        return Ok(SecretBytes::new(ec.private_key.as_bytes().to_vec()));
    }
    Err(Error::failed(format!(
        "the root key's algorithm {oid} has no SecretsKey construction (RSA and ECDSA do)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_round_trip_through_text() {
        let kid = KeyId::for_root(b"spki");
        assert_eq!(KeyId::parse(&kid.to_string()), Some(kid));
        assert_eq!(kid.to_string().len(), 16);
        assert!(KeyId::parse("xyz").is_none());
        assert!(KeyId::parse("0123456789abcdeg").is_none());
    }

    #[test]
    fn deriving_twice_gives_the_same_key_and_debug_hides_it() {
        let key = crate::pki::key::KeyType::P256.generate().expect("keygen");
        let der = crate::pki::key::pkcs8_der(&key);
        let spki = crate::pki::key::public_key_info(&key);
        let a = SecretsKey::derive(&der, &spki).expect("derive");
        let b = SecretsKey::derive(&der, &spki).expect("derive");
        assert_eq!(a.expose(), b.expose());
        assert_eq!(a.kid(), b.kid());
        assert!(!format!("{a:?}").contains(&hex::encode(a.expose())));
    }
}
