//! The root's signing key, behind one type whatever holds it.
//!
//! Everything the root signs (the root certificate itself, Server and Client certificates,
//! signed requests, CRLs, a renewed root) goes through a [`RootKey`], which rcgen uses as its
//! [`rcgen::SigningKey`]. Today the key is a software key decrypted from the CA's key file; a
//! key that never leaves a token signs through the same type.
//!
//! The SecretsKey (version 1) is derived from the root's private key bytes, so it asks
//! [`RootKey::key_material`] whether those bytes can be read: a software key says yes, a key
//! in a token says no.

use crate::domain::secret::SecretBytes;
use crate::error::{Error, Result};
use crate::pki::key::key_pair_from_pkcs8;
use rcgen::{KeyPair, PublicKeyData, SignatureAlgorithm, SigningKey};
use std::path::Path;
use std::sync::Arc;

/// The root's private key, ready to sign. Cloning shares the key (no copy of its bytes).
#[derive(Clone)]
pub struct RootKey {
    backend: Arc<Backend>,
}

/// Where the key lives and how it signs.
enum Backend {
    /// A key decrypted from the CA's key file, held in memory until dropped.
    Software {
        /// The key, as rcgen signs with it.
        pair: KeyPair,
        /// Its PKCS#8 DER (zeroized when dropped).
        pkcs8: SecretBytes,
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
    /// `refusal` is the error when it is not.
    pub fn check_matches(&self, spki_der: &[u8], refusal: impl FnOnce() -> Error) -> Result<()> {
        if self.public_key_info() == spki_der {
            Ok(())
        } else {
            Err(refusal())
        }
    }

    /// The private key's bytes (PKCS#8 DER) when they can be read: `Some` for a software key.
    /// The SecretsKey version 1 is derived from them.
    pub fn key_material(&self) -> Option<&SecretBytes> {
        match self.backend.as_ref() {
            Backend::Software { pkcs8, .. } => Some(pkcs8),
        }
    }

    /// Where the key lives, for messages: "key file" for a software key.
    pub fn location(&self) -> &'static str {
        match self.backend.as_ref() {
            Backend::Software { .. } => "key file",
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
        }
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self.backend.as_ref() {
            Backend::Software { pair, .. } => pair.algorithm(),
        }
    }
}

impl SigningKey for RootKey {
    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        match self.backend.as_ref() {
            Backend::Software { pair, .. } => pair.sign(msg),
        }
    }
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
