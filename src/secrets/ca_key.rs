//! The SecretsKey of a CA, whichever version it is: version 1 for a CA whose root key is a file
//! (derived from the key's bytes, [`super::SecretsKey`]), version 2 for a CA whose root key is
//! in a PKCS#11 token ([`super::hsm::HsmSecretsKey`]), the latter with the version-1 key
//! escrowed under it when the CA was moved into the token (`hsm migrate`; see the module
//! documentation of [`super::hsm`]).
//!
//! Every command works through [`CaSecretsKey`]: it seals tokens of the CA's own version, opens
//! tokens of the versions it has a key for, and says what to do with any other token.

use super::hsm::{self, HsmSecretsKey};
use super::lines::{decrypt_lines_with, encrypt_lines_with};
use super::scan::Sealer;
use super::{KeyId, SecretsKey};
use crate::domain::secret::SecretBytes;
use crate::error::{Error, Result};
use serde::Serialize;
use zeroize::Zeroizing;

/// The context under which the version-1 SecretsKey of a migrated CA is sealed by the token's
/// SecretsKey (the escrow the index records).
pub const ESCROW_CONTEXT: &str = "qvca SecretsKey v1 escrow";

/// The version of a secrets token: which construction sealed it, and so which key opens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenVersion {
    /// `qvca:v1:`: sealed by the SecretsKey derived from a root key file.
    V1,
    /// `qvca:v2:`: sealed through the SecretsKey inside a PKCS#11 token.
    V2,
}

impl TokenVersion {
    /// The version a token says it is, from its prefix (`None` for anything else).
    pub fn of_token(token: &str) -> Option<Self> {
        if token.starts_with(super::TOKEN_PREFIX) {
            Some(Self::V1)
        } else if token.starts_with(hsm::TOKEN_PREFIX) {
            Some(Self::V2)
        } else {
            None
        }
    }

    /// `v1` or `v2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
        }
    }

    /// What a CA sealing this version is, for messages.
    pub(super) fn describe(self) -> &'static str {
        match self {
            Self::V1 => "a CA whose root key is a file, sealing qvca:v1: tokens",
            Self::V2 => "a CA whose root key is in a PKCS#11 token, sealing qvca:v2: tokens",
        }
    }
}

/// The key id a version-2 token names (checked for shape only).
pub(super) fn v2_kid(token: &str) -> Result<KeyId> {
    token
        .strip_prefix(hsm::TOKEN_PREFIX)
        .and_then(|rest| rest.split_once(':'))
        .and_then(|(kid, _)| KeyId::parse(kid))
        .ok_or_else(|| {
            Error::authentication(
                "malformed token: a qvca:v2: token needs a 16-hex-digit key id (qvca:v2:<kid>:<data>)",
            )
        })
}

/// The key that seals a CA's new tokens.
enum Current {
    /// A file-key CA's SecretsKey (version 1).
    File(SecretsKey),
    /// The SecretsKey in the CA's token (version 2).
    Token(HsmSecretsKey),
}

/// The SecretsKey of a CA: the key sealing its tokens, and for a CA moved into a token the
/// escrowed version-1 key that still opens its older tokens.
pub struct CaSecretsKey {
    current: Current,
    escrowed_v1: Option<SecretsKey>,
}

impl std::fmt::Debug for CaSecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaSecretsKey")
            .field("version", &self.version())
            .field("kid", &self.kid())
            .field("escrowed_v1", &self.escrowed_v1.is_some())
            .finish()
    }
}

impl CaSecretsKey {
    /// The SecretsKey of a CA whose root key is a file (version 1).
    pub fn file(key: SecretsKey) -> Self {
        Self {
            current: Current::File(key),
            escrowed_v1: None,
        }
    }

    /// The SecretsKey of a CA whose root key is in a token (version 2), with the escrowed
    /// version-1 key the index records (`escrow`, a `qvca:v2:` token), unsealed through the
    /// token now.
    pub fn token(key: HsmSecretsKey, escrow: Option<&str>) -> Result<Self> {
        let escrowed_v1 = escrow.map(|sealed| unescrow_v1(&key, sealed)).transpose()?;
        Ok(Self {
            current: Current::Token(key),
            escrowed_v1,
        })
    }

    /// The key id (the same for both versions of one root).
    pub fn kid(&self) -> KeyId {
        match &self.current {
            Current::File(key) => key.kid(),
            Current::Token(key) => key.kid(),
        }
    }

    /// The version of the tokens this CA seals.
    pub fn version(&self) -> TokenVersion {
        match &self.current {
            Current::File(_) => TokenVersion::V1,
            Current::Token(_) => TokenVersion::V2,
        }
    }

    /// The 32 key bytes, for `secrets derive --reveal`: only a version-1 key has any (a
    /// version-2 key never leaves its token); `None` otherwise.
    pub fn revealable(&self) -> Option<&SecretsKey> {
        match &self.current {
            Current::File(key) => Some(key),
            Current::Token(_) => None,
        }
    }

    /// The escrowed version-1 key of a CA moved into a token, if it has one (opens the
    /// `qvca:v1:` tokens sealed before the move; `secrets rewrap` moves them to version 2).
    pub fn escrowed_v1(&self) -> Option<&SecretsKey> {
        self.escrowed_v1.as_ref()
    }

    /// Seals `plaintext` for `context` into a token of this CA's version.
    pub fn encrypt_token(&self, plaintext: &[u8], context: &str) -> Result<String> {
        match &self.current {
            Current::File(key) => super::encrypt_token(key, plaintext, context),
            Current::Token(key) => key.encrypt_token(context, plaintext),
        }
    }

    /// Opens `token` (surrounding white space ignored) sealed for `context`: a token of this
    /// CA's version with its key, a `qvca:v1:` token of a migrated CA with the escrowed key. Any
    /// other token is an authentication error (exit 4) that says which CA can open it.
    pub fn decrypt_token(&self, token: &str, context: &str) -> Result<SecretBytes> {
        let token = token.trim();
        match (&self.current, TokenVersion::of_token(token)) {
            (Current::Token(key), Some(TokenVersion::V2)) => key.decrypt_token(context, token),
            (Current::Token(_), Some(TokenVersion::V1)) => match &self.escrowed_v1 {
                Some(v1) => super::decrypt_token(v1, token, context),
                None => Err(Error::authentication(format!(
                    "the token is a version 1 token (qvca:v1:), sealed by a CA whose root key \
                     was a file; this CA's root key is in a PKCS#11 token (key id {}) and opens \
                     qvca:v2: tokens: move the token with `qvca secrets rewrap --from-backup \
                     OLD.pfx`, OLD.pfx being a backup of the file-key CA that sealed it",
                    self.kid()
                ))),
            },
            (Current::File(_), Some(TokenVersion::V2)) => {
                let kid = v2_kid(token)?;
                let advice = if kid == self.kid() {
                    "it was sealed by this root after it moved into a PKCS#11 token (`qvca hsm \
                     migrate`): this CA directory is older than the move; use the migrated CA"
                        .to_owned()
                } else {
                    format!(
                        "decrypt it with the CA whose root key has key id {kid} and lives in a \
                         PKCS#11 token"
                    )
                };
                Err(Error::authentication(format!(
                    "the token is a version 2 token (qvca:v2:), sealed through the PKCS#11 token \
                     of a CA whose root key lives there; this CA's root key is a file (key id \
                     {}) and opens qvca:v1: tokens only: {advice}",
                    self.kid()
                )))
            }
            (Current::File(key), _) => super::decrypt_token(key, token, context),
            // Malformed, or of an unknown version: the version-1 parser says which.
            (Current::Token(_), None) => Err(super::parse_token(token)
                .err()
                .unwrap_or_else(|| Error::authentication("malformed token"))),
        }
    }

    /// Encrypts every non-empty line of `input` into a token of this CA's version (one per
    /// line); empty lines and line endings stay.
    pub fn encrypt_lines(&self, input: &[u8], context: &str) -> Result<Vec<u8>> {
        match &self.current {
            Current::File(key) => super::encrypt_lines(key, input, context),
            Current::Token(key) => {
                encrypt_lines_with(input, |value| key.encrypt_token(context, value))
            }
        }
    }

    /// Decrypts every non-empty line of `input` (each a token); the first bad line fails the
    /// whole run with its line number.
    pub fn decrypt_lines(&self, input: &[u8], context: &str) -> Result<SecretBytes> {
        match &self.current {
            Current::File(key) => super::decrypt_lines(key, input, context),
            Current::Token(_) => {
                decrypt_lines_with(input, |token| self.decrypt_token(token, context))
            }
        }
    }
}

impl Sealer for CaSecretsKey {
    fn version(&self) -> TokenVersion {
        CaSecretsKey::version(self)
    }

    fn kid(&self) -> KeyId {
        CaSecretsKey::kid(self)
    }

    fn seal(&self, plaintext: &[u8], context: &str) -> Result<String> {
        self.encrypt_token(plaintext, context)
    }
}

/// Seals the version-1 SecretsKey `v1` of a root under the token's SecretsKey `v2` of the same
/// root: the escrow `hsm migrate` records (a `qvca:v2:` token for [`ESCROW_CONTEXT`]).
pub fn escrow_v1(v2: &HsmSecretsKey, v1: &SecretsKey) -> Result<String> {
    if v1.kid() != v2.kid() {
        return Err(Error::failed(format!(
            "the version-1 SecretsKey (key id {}) is not of the root whose SecretsKey is in the \
             token (key id {}); nothing was escrowed",
            v1.kid(),
            v2.kid()
        )));
    }
    v2.encrypt_token(ESCROW_CONTEXT, v1.expose())
}

/// Opens the escrowed version-1 SecretsKey through the token's SecretsKey `v2`.
fn unescrow_v1(v2: &HsmSecretsKey, sealed: &str) -> Result<SecretsKey> {
    let opened = v2.decrypt_token(ESCROW_CONTEXT, sealed).map_err(|e| {
        Error::failed(format!(
            "the escrowed version-1 SecretsKey in the CA index does not open with the token's \
             SecretsKey ({}): the index is damaged, or the token's SecretsKey is not the one \
             the CA was moved with; restore the CA directory from a backup made after `qvca hsm \
             migrate`",
            e.message()
        ))
    })?;
    if opened.expose().len() != 32 {
        return Err(Error::failed(
            "the escrowed version-1 SecretsKey in the CA index is not 32 bytes long: the index \
             is damaged; restore the CA directory from a backup",
        ));
    }
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(opened.expose());
    Ok(SecretsKey::from_escrow(key, v2.kid()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn file_key() -> SecretsKey {
        let pair = crate::pki::key::KeyType::P256.generate().expect("keygen");
        SecretsKey::derive(
            &crate::pki::key::pkcs8_der(&pair),
            &crate::pki::key::public_key_info(&pair),
        )
        .expect("derive")
    }

    #[test]
    fn the_version_comes_from_the_prefix() {
        assert_eq!(TokenVersion::of_token("qvca:v1:x"), Some(TokenVersion::V1));
        assert_eq!(TokenVersion::of_token("qvca:v2:x"), Some(TokenVersion::V2));
        assert_eq!(TokenVersion::of_token("qvca:v3:x"), None);
        assert_eq!(TokenVersion::of_token("v1"), None);
    }

    #[test]
    fn a_file_key_ca_seals_version_1_and_names_the_owner_of_a_version_2_token() {
        let key = CaSecretsKey::file(file_key());
        assert_eq!(key.version(), TokenVersion::V1);
        assert!(key.revealable().is_some());
        let token = key.encrypt_token(b"value", "ctx").expect("sealed");
        assert!(token.starts_with("qvca:v1:"));
        assert_eq!(
            key.decrypt_token(&format!(" {token}\n"), "ctx")
                .expect("opened")
                .expose(),
            b"value"
        );
        let lines = key.encrypt_lines(b"a\n\nb\n", "ctx").expect("lines");
        assert_eq!(
            key.decrypt_lines(&lines, "ctx").expect("lines").expose(),
            b"a\n\nb\n"
        );
        // A version 2 token of this very root: the directory is older than the move.
        let own = format!("qvca:v2:{}:{}", key.kid(), "A".repeat(60));
        let err = key.decrypt_token(&own, "ctx").expect_err("v2");
        assert_eq!(err.kind(), ErrorKind::Authentication);
        assert!(err.message().contains("hsm migrate"), "{err}");
        let other = format!("qvca:v2:0011223344556677:{}", "A".repeat(60));
        let err = key.decrypt_token(&other, "ctx").expect_err("v2");
        assert!(err.message().contains("0011223344556677"), "{err}");
        assert!(err.message().contains("PKCS#11 token"), "{err}");
    }

    #[test]
    fn rewrapping_to_a_file_key_skips_current_tokens_and_refuses_version_2_ones() {
        let (old, new) = (file_key(), file_key());
        let old_token = super::super::encrypt_token(&old, b"x", "").expect("old");
        let new_token = super::super::encrypt_token(&new, b"y", "").expect("new");
        let text = format!("a={old_token}\nb={new_token}\n");
        let (out, summary) =
            super::super::rewrap_tokens(text.as_bytes(), &[&old], &new, &[String::new()])
                .expect("rewrap");
        assert_eq!(summary.rewrapped, 1);
        assert_eq!(summary.already_current, 1);
        assert!(!String::from_utf8_lossy(&out).contains(&old.kid().to_string()));
        let v2 = format!("c=qvca:v2:{}:{}\n", new.kid(), "A".repeat(60));
        let err = super::super::rewrap_tokens(v2.as_bytes(), &[&old], &new, &[String::new()])
            .expect_err("v2 under a file key");
        assert!(
            err.message().starts_with("line 1: a version 2 token"),
            "{err}"
        );
        let err = super::super::rewrap_tokens(text.as_bytes(), &[], &file_key(), &[String::new()])
            .expect_err("no old key");
        assert!(err.message().contains("--from-backup"), "{err}");
    }
}
