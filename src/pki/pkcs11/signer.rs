//! [`TokenKey`]: a private key in a token as an rcgen signing key, so that rcgen's `Issuer`
//! signs certificates and CRLs in the token.
//!
//! - RSA signs with `CKM_SHA256_RSA_PKCS` (sha256WithRSAEncryption); a token that only offers
//!   `CKM_RSA_PKCS` gets the DigestInfo made in software.
//! - ECDSA signs with `CKM_ECDSA` over a SHA-256 (P-256) or SHA-384 (P-384) digest made in
//!   software (SoftHSM2 has no `CKM_ECDSA_SHA256`); the token returns the raw `r || s`, which
//!   becomes the DER `SEQUENCE { r INTEGER, s INTEGER }` X.509 needs.
//!
//! Signatures go through a [`SessionPool`], so a `TokenKey` is `Send + Sync` and several threads
//! sign at once, each on its own session.

use crate::error::{Error, Result};
use crate::pki::pkcs11::pool::{ObjectLocator, PoolError, PooledSession, SessionPool};
use crate::pki::pkcs11::public_key::{KeyAlgorithm, PublicKey};
use crate::pki::pkcs11::token::{KeyObject, Token};
use crate::pki::pkcs11::{Place, from_pkcs11};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use der::Encode;
use der::asn1::UintRef;
use rand::Rng;
use sha2::{Digest, Sha256, Sha384};
use std::cell::RefCell;
use std::sync::Arc;

/// How RSA signatures are asked of the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RsaMechanism {
    /// `CKM_SHA256_RSA_PKCS`: the token hashes.
    Sha256RsaPkcs,
    /// `CKM_RSA_PKCS` over a DigestInfo made in software.
    RsaPkcsDigestInfo,
}

/// The DER DigestInfo prefix for SHA-256 (RFC 8017 section 9.2, note 1).
const SHA256_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// Picks the RSA mechanism the token offers, or says that it offers neither.
pub(crate) fn rsa_mechanism(token: &Token) -> Result<RsaMechanism> {
    let mechanisms = token
        .module()
        .context()
        .get_mechanism_list(token.slot())
        .map_err(|e| from_pkcs11("listing the token's mechanisms", &token.place(), &e))?;
    if mechanisms.contains(&MechanismType::SHA256_RSA_PKCS) {
        Ok(RsaMechanism::Sha256RsaPkcs)
    } else if mechanisms.contains(&MechanismType::RSA_PKCS) {
        Ok(RsaMechanism::RsaPkcsDigestInfo)
    } else {
        Err(Error::failed(format!(
            "the token offers neither CKM_SHA256_RSA_PKCS nor CKM_RSA_PKCS ({}); it cannot sign with RSA for qvca",
            token.place()
        )))
    }
}

/// Signs `msg` with the private key `handle` as a certificate signature of `algorithm`.
pub(crate) fn sign_in_session(
    session: &Session,
    handle: ObjectHandle,
    algorithm: KeyAlgorithm,
    rsa: RsaMechanism,
    msg: &[u8],
) -> std::result::Result<Vec<u8>, PoolError> {
    let pkcs11 = |err| PoolError::Pkcs11 {
        action: "signing",
        err,
    };
    match algorithm {
        KeyAlgorithm::Rsa { .. } => match rsa {
            RsaMechanism::Sha256RsaPkcs => session
                .sign(&Mechanism::Sha256RsaPkcs, handle, msg)
                .map_err(pkcs11),
            RsaMechanism::RsaPkcsDigestInfo => {
                let mut digest_info = SHA256_DIGEST_INFO_PREFIX.to_vec();
                digest_info.extend_from_slice(&Sha256::digest(msg));
                session
                    .sign(&Mechanism::RsaPkcs, handle, &digest_info)
                    .map_err(pkcs11)
            }
        },
        KeyAlgorithm::EcP256 => {
            let raw = session
                .sign(&Mechanism::Ecdsa, handle, &Sha256::digest(msg))
                .map_err(pkcs11)?;
            Ok(ecdsa_raw_to_der(&raw, 32)?)
        }
        KeyAlgorithm::EcP384 => {
            let raw = session
                .sign(&Mechanism::Ecdsa, handle, &Sha384::digest(msg))
                .map_err(pkcs11)?;
            Ok(ecdsa_raw_to_der(&raw, 48)?)
        }
    }
}

/// An ECDSA-Sig-Value (RFC 3279 section 2.2.3).
#[derive(der::Sequence)]
struct EcdsaSigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// Converts PKCS#11's raw `r || s` (each `field` bytes) into DER.
pub(crate) fn ecdsa_raw_to_der(raw: &[u8], field: usize) -> Result<Vec<u8>> {
    if raw.len() != 2 * field {
        return Err(Error::failed(format!(
            "the token returned a {}-byte ECDSA signature; {} bytes (r || s) were expected",
            raw.len(),
            2 * field
        )));
    }
    let (r, s) = raw.split_at(field);
    let bad = |e: der::Error| Error::failed(format!("cannot encode the ECDSA signature: {e}"));
    EcdsaSigValue {
        r: UintRef::new(r).map_err(bad)?,
        s: UintRef::new(s).map_err(bad)?,
    }
    .to_der()
    .map_err(bad)
}

/// A private key in a token, usable as an rcgen signing key. `Send + Sync`.
#[derive(Debug)]
pub struct TokenKey {
    pool: Arc<SessionPool>,
    locator: ObjectLocator,
    public_key: PublicKey,
    rsa: RsaMechanism,
    place: Place,
}

thread_local! {
    /// The error behind the last `rcgen::Error::RemoteKeyError` a token key returned on this
    /// thread (rcgen calls `sign` on the thread that asked for the signature).
    static LAST_ERROR: RefCell<Option<Error>> = const { RefCell::new(None) };
}

/// The error behind the last `rcgen::Error::RemoteKeyError` a [`TokenKey`] returned on this
/// thread (rcgen's error carries no message, so callers fetch the real one here).
pub fn take_last_error() -> Option<Error> {
    LAST_ERROR.with(|last| last.borrow_mut().take())
}

impl TokenKey {
    /// The key `key` (found with [`crate::pki::pkcs11::token::UserSession::find_private_key`] or made by
    /// generate/import), signing through the sessions of `pool`.
    pub fn new(pool: Arc<SessionPool>, key: &KeyObject) -> Result<Self> {
        let locator = ObjectLocator {
            class: ObjectClass::PRIVATE_KEY,
            label: key.label().to_owned(),
            id: key.id().to_vec(),
        };
        let place = Place {
            object: Some(locator.describe()),
            ..pool.token().place()
        };
        let rsa = match key.public_key().algorithm() {
            KeyAlgorithm::Rsa { .. } => rsa_mechanism(pool.token())?,
            _ => RsaMechanism::Sha256RsaPkcs,
        };
        Ok(Self {
            pool,
            locator,
            public_key: key.public_key().clone(),
            rsa,
            place,
        })
    }

    /// The key's public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The key's label (`CKA_LABEL`).
    pub fn label(&self) -> &str {
        &self.locator.label
    }

    /// The key's id (`CKA_ID`).
    pub fn id(&self) -> &[u8] {
        &self.locator.id
    }

    /// Removes the key (private and public objects) from the token: only to undo a command
    /// that put it there and then failed before anything used it (`hsm migrate`).
    pub(crate) fn destroy_unused(&self) -> Result<()> {
        self.pool.destroy(&self.locator, &self.place)?;
        let public = ObjectLocator {
            class: ObjectClass::PUBLIC_KEY,
            ..self.locator.clone()
        };
        self.pool.destroy(&public, &self.place)
    }

    /// The session pool the key signs through.
    pub fn pool(&self) -> &Arc<SessionPool> {
        &self.pool
    }

    /// Signs `msg` as a certificate signature (sha256WithRSAEncryption, ecdsa-with-SHA256 or
    /// ecdsa-with-SHA384, by key type), returning the signature bytes for X.509.
    pub fn sign_message(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let algorithm = self.public_key.algorithm();
        self.pool
            .with_session(&self.place, |pooled: &mut PooledSession| {
                let handle = pooled.handle(&self.locator, &self.place)?;
                sign_in_session(pooled.session(), handle, algorithm, self.rsa, msg)
            })
    }

    /// True when the token's private key signs so that `expected` verifies it: the check that
    /// the key in the token belongs to the root certificate (compare it with the certificate's
    /// SubjectPublicKeyInfo). A token's public key object could be stale; a signature cannot.
    pub fn signs_for(&self, expected: &PublicKey) -> Result<bool> {
        let mut challenge = b"qvca key check ".to_vec();
        let mut nonce = [0u8; 32];
        rand::rng().fill_bytes(&mut nonce);
        challenge.extend_from_slice(&nonce);
        let signature = self.sign_message(&challenge)?;
        Ok(expected.verifies(&challenge, &signature))
    }
}

impl rcgen::PublicKeyData for TokenKey {
    fn der_bytes(&self) -> &[u8] {
        self.public_key.subject_public_key()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.public_key.algorithm().signature_algorithm()
    }
}

impl rcgen::SigningKey for TokenKey {
    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        self.sign_message(msg).map_err(|e| {
            LAST_ERROR.with(|last| *last.borrow_mut() = Some(e));
            rcgen::Error::RemoteKeyError
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn token_key_and_pool_are_send_and_sync() {
        assert_send_sync::<TokenKey>();
        assert_send_sync::<SessionPool>();
    }

    #[test]
    fn raw_ecdsa_signatures_become_der_with_minimal_integers() {
        // r has leading zeros, s has its top bit set (needs a 0x00 pad in DER).
        let mut raw = vec![0u8; 64];
        raw[2] = 0x01;
        raw[31] = 0x02;
        raw[32] = 0x80;
        raw[63] = 0x03;
        let der = ecdsa_raw_to_der(&raw, 32).expect("encode");
        assert_eq!(der[0], 0x30);
        // r: 30 bytes (two leading zeros stripped), s: 33 bytes (0x00 pad).
        assert_eq!(&der[2..4], &[0x02, 30]);
        assert_eq!(der[4], 0x01);
        let s_at = 4 + 30;
        assert_eq!(&der[s_at..s_at + 3], &[0x02, 33, 0x00]);
        assert_eq!(der[s_at + 3], 0x80);
        assert_eq!(der.len(), 2 + 2 + 30 + 2 + 33);
    }

    #[test]
    fn a_raw_signature_of_the_wrong_length_is_refused() {
        assert!(ecdsa_raw_to_der(&[1u8; 63], 32).is_err());
        assert!(ecdsa_raw_to_der(&[1u8; 64], 48).is_err());
    }

    #[test]
    fn the_sha256_digest_info_prefix_is_the_rfc_8017_one() {
        assert_eq!(
            hex::encode(SHA256_DIGEST_INFO_PREFIX),
            "3031300d060960864801650304020105000420"
        );
    }
}
