//! The token format: `qvca:v1:<kid>:<base64url(nonce || ciphertext || tag)>`, AES-256-GCM
//! with the associated data `qvca:v1:<kid>:<context>`.

use super::{KeyId, SecretsKey};
use crate::domain::secret::SecretBytes;
use crate::error::{Error, Result};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;

/// What every version-1 token starts with.
pub const TOKEN_PREFIX: &str = "qvca:v1:";
/// The prefix shared by all versions, to recognise tokens of a newer version.
const ANY_VERSION_PREFIX: &str = "qvca:v";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A token taken apart (not yet authenticated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedToken {
    /// The key id it names.
    pub kid: KeyId,
    /// nonce || ciphertext || tag.
    pub payload: Vec<u8>,
}

fn associated_data(kid: KeyId, context: &str) -> Vec<u8> {
    format!("{TOKEN_PREFIX}{kid}:{context}").into_bytes()
}

fn cipher(key: &SecretsKey) -> Aes256Gcm {
    Aes256Gcm::new(key.expose().into())
}

/// Encrypts one value into a token under `key`, bound to `context`.
pub fn encrypt_token(key: &SecretsKey, plaintext: &[u8], context: &str) -> Result<String> {
    encrypt_with(&cipher(key), key.kid(), plaintext, context)
}

/// Encrypts with a ready cipher (bulk work builds the AES key schedule once).
pub(crate) fn encrypt_with(
    cipher: &Aes256Gcm,
    kid: KeyId,
    plaintext: &[u8],
    context: &str,
) -> Result<String> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let aad = associated_data(kid, context);
    let sealed = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| Error::failed("the value is too long to encrypt"))?;
    let mut payload = Vec::with_capacity(NONCE_LEN + sealed.len());
    payload.extend_from_slice(&nonce);
    payload.extend_from_slice(&sealed);
    Ok(format!(
        "{TOKEN_PREFIX}{kid}:{}",
        URL_SAFE_NO_PAD.encode(&payload)
    ))
}

/// Takes a token apart; every malformation is an authentication error (exit 4) that says
/// what is wrong with it.
pub fn parse_token(token: &str) -> Result<ParsedToken> {
    let token = token.trim();
    let Some(rest) = token.strip_prefix(TOKEN_PREFIX) else {
        if token.starts_with(super::hsm::TOKEN_PREFIX) {
            return Err(Error::authentication(
                "the token is a version v2 token (qvca:v2:), sealed through the PKCS#11 token \
                 of a CA whose root key lives there; this key opens version v1 tokens only: \
                 decrypt it with that CA",
            ));
        }
        if let Some(other) = token.strip_prefix(ANY_VERSION_PREFIX) {
            let version: String = other.chars().take_while(|c| *c != ':').take(10).collect();
            return Err(Error::authentication(format!(
                "malformed token: version v{version} is not known to this qvca (it reads v1 and \
                 v2)"
            )));
        }
        return Err(Error::authentication(
            "malformed token: it does not start with qvca:v1:",
        ));
    };
    let Some((kid_text, encoded)) = rest.split_once(':') else {
        return Err(Error::authentication(
            "malformed token: it has no key id section (qvca:v1:<kid>:<data>)",
        ));
    };
    let kid = KeyId::parse(kid_text).ok_or_else(|| {
        Error::authentication("malformed token: the key id is not 16 hex characters")
    })?;
    let payload = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| {
        Error::authentication("malformed token: the data is not valid base64url (A-Z a-z 0-9 - _): damaged or truncated")
    })?;
    if payload.len() < NONCE_LEN + TAG_LEN {
        return Err(Error::authentication(format!(
            "malformed token: the data is {} bytes, shorter than a nonce and a tag ({}); it was \
             truncated",
            payload.len(),
            NONCE_LEN + TAG_LEN
        )));
    }
    Ok(ParsedToken { kid, payload })
}

/// Decrypts a token made under `key` for `context`.
pub fn decrypt_token(key: &SecretsKey, token: &str, context: &str) -> Result<SecretBytes> {
    decrypt_with(&cipher(key), key.kid(), &parse_token(token)?, context)
}

/// Decrypts a parsed token with a ready cipher.
pub(crate) fn decrypt_with(
    cipher: &Aes256Gcm,
    kid: KeyId,
    token: &ParsedToken,
    context: &str,
) -> Result<SecretBytes> {
    if token.kid != kid {
        return Err(Error::authentication(format!(
            "unknown key id {}: the token was made under another root's SecretsKey (this CA's \
             key id is {kid}); after a root change, `qvca secrets rewrap --from-backup OLD.pfx` \
             moves tokens to the current key",
            token.kid
        )));
    }
    let (nonce, sealed) = token.payload.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at the nonce length");
    let aad = associated_data(kid, context);
    cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: sealed,
                aad: &aad,
            },
        )
        .map(SecretBytes::new)
        .map_err(|_| {
            Error::authentication(format!(
                "authentication failed: the token was altered, or it was made for another \
                 context than {context:?} (give the right --context)"
            ))
        })
}

/// A ready-to-use cipher for bulk work.
pub(crate) fn bulk_cipher(key: &SecretsKey) -> Aes256Gcm {
    cipher(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn key() -> SecretsKey {
        let pair = crate::pki::key::KeyType::P256.generate().expect("keygen");
        SecretsKey::derive(
            &crate::pki::key::pkcs8_der(&pair),
            &crate::pki::key::public_key_info(&pair),
        )
        .expect("derive")
    }

    #[test]
    fn tokens_round_trip_and_differ_each_time() {
        let key = key();
        let a = encrypt_token(&key, b"Server=db;Password=x", "dsn").expect("encrypt");
        let b = encrypt_token(&key, b"Server=db;Password=x", "dsn").expect("encrypt");
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("qvca:v1:{}:", key.kid())));
        let plain = decrypt_token(&key, &a, "dsn").expect("decrypt");
        assert_eq!(plain.expose(), b"Server=db;Password=x");
    }

    #[test]
    fn every_kind_of_bad_token_is_an_authentication_error_saying_which() {
        let key = key();
        let token = encrypt_token(&key, b"v", "a").expect("encrypt");
        let cases = [
            ("hello".to_owned(), "does not start"),
            ("qvca:v2:0011223344556677:AAAA".to_owned(), "version v2"),
            ("qvca:v1:zz:AAAA".to_owned(), "key id"),
            ("qvca:v1:0011223344556677".to_owned(), "no key id section"),
            (format!("{}!", &token[..token.len() - 1]), "base64url"),
            (token[..30].to_owned(), "truncated"),
            (
                "qvca:v1:0011223344556677:".to_owned() + &"A".repeat(40),
                "unknown key id",
            ),
        ];
        for (bad, expected) in cases {
            let err = decrypt_token(&key, &bad, "a").expect_err(&bad);
            assert_eq!(err.kind(), ErrorKind::Authentication, "{bad}");
            assert!(err.message().contains(expected), "{bad}: {err}");
        }
        let err = decrypt_token(&key, &token, "b").expect_err("wrong context");
        assert!(err.message().contains("another context"));
    }
}
