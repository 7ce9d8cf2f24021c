//! The root's signing key, behind one type whatever holds it.
//!
//! Everything the root signs (the root certificate itself, Server and Client certificates,
//! signed requests, CRLs, a renewed root) goes through a [`RootKey`], which rcgen uses as its
//! [`rcgen::SigningKey`]. The key is either a software key decrypted from the CA's key file, or
//! a key in a PKCS#11 token ([`crate::pki::pkcs11`]) that signs there and never leaves it.
//!
//! The SecretsKey (version 1) is derived from the root's private key bytes, so it asks
//! [`RootKey::key_material`] whether those bytes can be read: a software key says yes, a key
//! in a token says no.

use crate::domain::secret::SecretBytes;
use crate::error::{Error, Result};
use crate::pki::key::key_pair_from_pkcs8;
use crate::pki::pkcs11::location::TokenKeyLocation;
use crate::pki::pkcs11::public_key::PublicKey;
use crate::pki::pkcs11::signer::{TokenKey, take_last_error};
use rcgen::{KeyPair, PublicKeyData, SignatureAlgorithm, SigningKey};
use std::path::Path;
use std::sync::Arc;

/// The root's private key, ready to sign. Cloning shares the key (no copy of its bytes).
#[derive(Clone)]
pub struct RootKey {
    backend: Arc<Backend>,
}

/// Where the key lives and how it signs. One per command, behind an `Arc`: the size of its
/// variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Backend {
    /// A key decrypted from the CA's key file, held in memory until dropped.
    Software {
        /// The key, as rcgen signs with it.
        pair: KeyPair,
        /// Its PKCS#8 DER (zeroized when dropped).
        pkcs8: SecretBytes,
    },
    /// A key in a PKCS#11 token: it signs there (through a pool of sessions, so several
    /// threads sign at once) and its bytes never leave the token.
    Token {
        /// The key, as rcgen signs with it (boxed: it is far larger than a software key).
        key: Box<TokenKey>,
        /// Where it lives, as the CA directory records it.
        location: Box<TokenKeyLocation>,
    },
}

impl RootKey {
    /// A software key from its PKCS#8 DER; `source` names where it came from in errors.
    pub fn from_pkcs8(pkcs8: SecretBytes, source: &Path) -> Result<Self> {
        let pair = key_pair_from_pkcs8(&pkcs8, source)?;
        Ok(Self::software(pair, pkcs8))
    }

    /// A software key from a freshly generated key pair.
    pub fn from_key_pair(pair: KeyPair) -> Self {
        let pkcs8 = crate::pki::key::pkcs8_der(&pair);
        Self::software(pair, pkcs8)
    }

    /// A key in a PKCS#11 token, opened (logged in) already, at `location`.
    pub fn in_token(key: TokenKey, location: TokenKeyLocation) -> Self {
        Self {
            backend: Arc::new(Backend::Token {
                key: Box::new(key),
                location: Box::new(location),
            }),
        }
    }

    fn software(pair: KeyPair, pkcs8: SecretBytes) -> Self {
        Self {
            backend: Arc::new(Backend::Software { pair, pkcs8 }),
        }
    }

    /// The key's SubjectPublicKeyInfo in DER, to compare with a certificate's.
    pub fn public_key_info(&self) -> Vec<u8> {
        self.subject_public_key_info()
    }

    /// Checks that this key is the key of a certificate with SubjectPublicKeyInfo `spki_der`;
    /// `refusal` is the error when it is not. A key in a token must also sign a challenge that
    /// verifies under the certificate's key (its public key object could be stale).
    pub fn check_matches(&self, spki_der: &[u8], refusal: impl FnOnce() -> Error) -> Result<()> {
        if self.public_key_info() != spki_der {
            return Err(refusal());
        }
        if let Backend::Token { key, .. } = self.backend.as_ref()
            && !key.signs_for(&PublicKey::from_spki_der(spki_der)?)?
        {
            return Err(refusal());
        }
        Ok(())
    }

    /// The private key's bytes (PKCS#8 DER) when they can be read: `Some` for a software key.
    /// The SecretsKey version 1 is derived from them.
    pub fn key_material(&self) -> Option<&SecretBytes> {
        match self.backend.as_ref() {
            Backend::Software { pkcs8, .. } => Some(pkcs8),
            Backend::Token { .. } => None,
        }
    }

    /// Where the key lives, for messages: "key file" for a software key, "PKCS#11 token" for
    /// a key in a token.
    pub fn location(&self) -> &'static str {
        match self.backend.as_ref() {
            Backend::Software { .. } => "key file",
            Backend::Token { .. } => "PKCS#11 token",
        }
    }

    /// The token and key that hold a key in a token; `None` for a software key.
    pub fn token_location(&self) -> Option<&TokenKeyLocation> {
        match self.backend.as_ref() {
            Backend::Software { .. } => None,
            Backend::Token { location, .. } => Some(location.as_ref()),
        }
    }
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootKey")
            .field("location", &self.location())
            .finish_non_exhaustive()
    }
}

impl PublicKeyData for RootKey {
    fn der_bytes(&self) -> &[u8] {
        match self.backend.as_ref() {
            Backend::Software { pair, .. } => pair.der_bytes(),
            Backend::Token { key, .. } => key.der_bytes(),
        }
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self.backend.as_ref() {
            Backend::Software { pair, .. } => pair.algorithm(),
            Backend::Token { key, .. } => key.algorithm(),
        }
    }
}

impl SigningKey for RootKey {
    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        match self.backend.as_ref() {
            Backend::Software { pair, .. } => pair.sign(msg),
            Backend::Token { key, .. } => key.sign(msg),
        }
    }
}

/// What an rcgen signing failure says for a person: for a key in a token, the token's own
/// error (rcgen's says only "remote key error"), else rcgen's message.
pub fn signing_failure(err: &rcgen::Error) -> String {
    if matches!(err, rcgen::Error::RemoteKeyError)
        && let Some(inner) = take_last_error()
    {
        return inner.message().to_owned();
    }
    err.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::key::KeyType;

    #[test]
    fn a_software_key_signs_and_gives_its_bytes_for_the_secrets_key() {
        let pair = KeyType::P256.generate().expect("key");
        let spki = pair.subject_public_key_info();
        let key = RootKey::from_key_pair(pair);
        assert_eq!(key.public_key_info(), spki);
        assert!(key.key_material().is_some());
        let again = RootKey::from_pkcs8(key.key_material().expect("bytes").clone(), Path::new("k"))
            .expect("reads");
        assert_eq!(again.public_key_info(), spki);
        assert!(key.check_matches(b"other", || Error::failed("no")).is_err());
        let params = rcgen::CertificateParams::new(vec!["x".to_owned()]).expect("params");
        let cert = params.self_signed(&key).expect("signs");
        let details =
            crate::pki::certificate::CertificateDetails::from_der(cert.der()).expect("parses");
        assert_eq!(details.spki_der, spki);
    }
}
