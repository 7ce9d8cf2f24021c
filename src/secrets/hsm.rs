//! The SecretsKey of a CA whose root key is in a token (version 2): the key that protects
//! secrets tokens stays in the token, and every value gets its own data key derived there.
//!
//! Version 1 derives the SecretsKey from the root's private key bytes, which a token never
//! gives out. Version 2 keeps a second, symmetric key in the token next to the root key and
//! derives a fresh data key per value with HMAC inside the token; only AES-GCM runs in
//! software, with a data key that exists in memory for one value and is zeroized.
//!
//! # Construction (version 2)
//!
//! ```text
//! spki      = DER of the root certificate's SubjectPublicKeyInfo
//! kid       = SHA-256(spki)[0..8], written as 16 lower-case hex characters (as in v1)
//! K         = a 256-bit secret key object in the token, next to the root key:
//!               CKO_SECRET_KEY, CKK_GENERIC_SECRET (YubiHSM: CKK_SHA256_HMAC), CKA_VALUE_LEN 32,
//!               CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE true; CKA_EXTRACTABLE false;
//!               CKA_SIGN true; CKA_VERIFY, CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP,
//!               CKA_DERIVE false;
//!               CKA_LABEL "qvca SecretsKey <kid>", CKA_ID = the root key's CKA_ID
//! salt      = 16 fresh random bytes per value
//! info      = "qvca SecretsKey v2" || 0x00 || kid (8 bytes) || salt      (43 bytes)
//! data key  = HMAC-SHA256(K, info), computed in the token with CKM_SHA256_HMAC (32 bytes)
//! aad       = "qvca:v2:<kid>:<context>"
//! sealed    = AES-256-GCM(data key, nonce = 12 zero bytes, plaintext, aad) = ciphertext || tag
//! token     = "qvca:v2:<kid>:" || base64url(salt || sealed), without padding
//! ```
//!
//! The all-zero nonce is safe because each data key seals exactly one value: a nonce repeats
//! under a key only if a 128-bit salt repeats (as in age, whose payload key comes from a
//! 16-byte nonce and whose first chunk uses nonce zero). The kid binds every token to its
//! root twice: in the HMAC input, so another root's K gives another data key, and in the
//! associated data, so a token moved to another context, CA or version no longer opens.
//!
//! # Where K comes from, and what else the CA directory records
//!
//! `init --key URI` makes K right after the root key (or finds it, when the URI names an
//! existing root key that has one), checking first that the token offers
//! `CKM_GENERIC_SECRET_KEY_GEN` and `CKM_SHA256_HMAC`: a token without them is refused before
//! anything is created. The index records K's label next to the root key's location
//! (`settings.root_key.secrets_key_label`); commands find K by that label *and* the root key's
//! `CKA_ID`, and refuse a recorded label that is not the root's.
//!
//! # Versions side by side
//!
//! ```text
//! qvca:v1:<kid>:…   sealed by a file-key CA (v1, the module above); a CA whose root key is a
//!                   file opens only these
//! qvca:v2:<kid>:…   sealed through the token (this module); a CA whose root key is in a token
//!                   seals only these
//! ```
//!
//! The kid is the same for both versions of one root (it hashes the root certificate's
//! public key), so the version prefix, not the kid, says which key opens a token.
//!
//! # Moving a file-key CA into a token (`qvca hsm migrate`) and the escrowed v1 key
//!
//! While the root key file is still at hand, its v1 SecretsKey is derived one last time and
//! kept *escrowed under v2* in the index (`settings.root_key.secrets_v1_escrow`):
//!
//! ```text
//! escrow = encrypt_token(context = "qvca SecretsKey v1 escrow", plaintext = v1 SecretsKey)
//!        = "qvca:v2:<kid>:…"                     (the construction above, nothing new)
//! ```
//!
//! A `qvca:v1:` token met later by the migrated CA opens by unsealing the v1 key through the
//! token, in memory only (zeroized after use): configuration files that `migrate --rewrap`
//! did not reach keep working, and `secrets rewrap` (without `--from-backup`) moves them to
//! v2 whenever convenient. Nothing secret is on disk in the clear: the escrow opens only with
//! K, which never leaves the token. A CA that was never a file-key CA has no escrow and
//! refuses `qvca:v1:` tokens, pointing at `secrets rewrap --from-backup` (a backup of the
//! file-key CA they came from). `secrets derive --reveal` has nothing to reveal in version 2.

use super::KeyId;
use crate::domain::secret::SecretBytes;
use crate::error::{Error, Result};
use crate::pki::pkcs11::pool::{ObjectLocator, PoolError, PooledSession, SessionPool};
use crate::pki::pkcs11::signer::TokenKey;
use crate::pki::pkcs11::token::{KeyObject, UserSession};
use crate::pki::pkcs11::{Place, from_pkcs11, rv_of};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cryptoki::error::RvError;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use rand::Rng;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The HMAC label of version 2 (version 1's HKDF label is "qvca SecretsKey v1").
pub const DERIVATION_LABEL: &[u8] = b"qvca SecretsKey v2";
/// The prefix of version 2 tokens.
pub const TOKEN_PREFIX: &str = "qvca:v2:";
/// The label prefix of the SecretsKey object; the kid follows.
pub const OBJECT_LABEL_PREFIX: &str = crate::pki::pkcs11::location::SECRETS_KEY_LABEL_PREFIX;
/// The per-value salt length.
pub const SALT_LEN: usize = 16;
/// The longest token accepted for decryption, in characters.
pub const MAX_TOKEN_LEN: usize = 1 << 20;

const TAG_LEN: usize = 16;

/// The SecretsKey object in a token (its handle stays inside the crate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretsKeyObject {
    handle: ObjectHandle,
    label: String,
    id: Vec<u8>,
    kid: KeyId,
}

impl SecretsKeyObject {
    /// The object's label, `qvca SecretsKey <kid>`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The object's id: the root key's `CKA_ID`.
    pub fn id(&self) -> &[u8] {
        &self.id
    }

    /// The key id of the root this SecretsKey belongs to.
    pub fn kid(&self) -> KeyId {
        self.kid
    }
}

/// The label of the SecretsKey object for a root.
pub fn object_label(kid: KeyId) -> String {
    format!("{OBJECT_LABEL_PREFIX}{kid}")
}

fn secret_template(label: &str, id: &[u8], key_type: KeyType) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(key_type),
        Attribute::ValueLen(32u64.into()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Verify(false),
        Attribute::Encrypt(false),
        Attribute::Decrypt(false),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        Attribute::Derive(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ]
}

/// Checks that a token offering `mechanisms` can make and use a SecretsKey: a generic secret
/// key generated in the token (`CKM_GENERIC_SECRET_KEY_GEN`) that signs with
/// `CKM_SHA256_HMAC`. `place` names the token in the refusal.
fn check_mechanisms(mechanisms: &[MechanismType], place: &Place) -> Result<()> {
    let missing: Vec<&str> = [
        (
            MechanismType::GENERIC_SECRET_KEY_GEN,
            "CKM_GENERIC_SECRET_KEY_GEN",
        ),
        (MechanismType::SHA256_HMAC, "CKM_SHA256_HMAC"),
    ]
    .into_iter()
    .filter(|(mechanism, _)| !mechanisms.contains(mechanism))
    .map(|(_, name)| name)
    .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::failed(format!(
        "the token cannot make the CA's SecretsKey, a 256-bit HMAC-SHA256 key kept in the \
         token ({place}): it does not offer {}; nothing was created. qvca needs a token with \
         HMAC-SHA256 (see docs/hsm.md for the HSM families that have it)",
        missing.join(" and ")
    )))
}

impl UserSession {
    /// Checks, before anything is made in the token, that it can make and use a SecretsKey
    /// (`CKM_GENERIC_SECRET_KEY_GEN` and `CKM_SHA256_HMAC`); a failure that says so otherwise.
    pub fn check_secrets_key_support(&self) -> Result<()> {
        let token = self.token();
        let place = token.place();
        let mechanisms = token
            .module()
            .context()
            .get_mechanism_list(token.slot())
            .map_err(|e| from_pkcs11("listing the token's mechanisms", &place, &e))?;
        check_mechanisms(&mechanisms, &place)
    }

    /// The SecretsKey of `root` if the token holds one (see
    /// [`UserSession::find_secrets_key`]), else `None`.
    pub fn find_secrets_key_if_any(
        &self,
        root: &KeyObject,
        root_spki: &[u8],
    ) -> Result<Option<SecretsKeyObject>> {
        match self.find_secrets_key(root, root_spki) {
            Ok(found) => Ok(Some(found)),
            Err(e) if e.kind() == crate::error::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Generates the SecretsKey for `root` (whose certificate has the SubjectPublicKeyInfo
    /// `root_spki`) in the token. Refuses when one exists already: replacing it would make
    /// every token sealed under it unreadable.
    pub fn generate_secrets_key(
        &self,
        root: &KeyObject,
        root_spki: &[u8],
    ) -> Result<SecretsKeyObject> {
        let kid = root_kid(root, root_spki)?;
        let label = object_label(kid);
        let place = self.place_for(&format!("label {label:?}"));
        if self.label_exists(&label)? {
            return Err(Error::refused(format!(
                "a SecretsKey for this root exists already ({place}); generating another would make every secrets token sealed under it unreadable: use it as it is"
            )));
        }
        let generic = self.session().generate_key(
            &Mechanism::GenericSecretKeyGen,
            &secret_template(&label, root.id(), KeyType::GENERIC_SECRET),
        );
        let handle = match generic {
            Ok(handle) => handle,
            // YubiHSM 2 makes HMAC keys only with the key type naming the hash.
            Err(e)
                if matches!(
                    rv_of(&e),
                    Some(
                        RvError::TemplateInconsistent
                            | RvError::KeyTypeInconsistent
                            | RvError::AttributeValueInvalid
                    )
                ) =>
            {
                self.session()
                    .generate_key(
                        &Mechanism::GenericSecretKeyGen,
                        &secret_template(&label, root.id(), KeyType::SHA256_HMAC),
                    )
                    .map_err(|e| from_pkcs11("generating the SecretsKey", &place, &e))?
            }
            Err(e) => return Err(from_pkcs11("generating the SecretsKey", &place, &e)),
        };
        Ok(SecretsKeyObject {
            handle,
            label,
            id: root.id().to_vec(),
            kid,
        })
    }

    /// Finds the SecretsKey of `root` (whose certificate has the SubjectPublicKeyInfo
    /// `root_spki`): the secret key with the root key's id and the kid's label.
    pub fn find_secrets_key(&self, root: &KeyObject, root_spki: &[u8]) -> Result<SecretsKeyObject> {
        let kid = root_kid(root, root_spki)?;
        let label = object_label(kid);
        let place = self.place_for(&format!("label {label:?}"));
        let found = self
            .session()
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(root.id().to_vec()),
            ])
            .map_err(|e| from_pkcs11("searching for the SecretsKey", &place, &e))?;
        match found.as_slice() {
            [handle] => Ok(SecretsKeyObject {
                handle: *handle,
                label,
                id: root.id().to_vec(),
                kid,
            }),
            [] => Err(Error::not_found(format!(
                "the token holds no SecretsKey for the root with key id {kid} ({place}); create it (qvca init or qvca hsm migrate do), or restore the token from the HSM's backup"
            ))),
            _ => Err(Error::failed(format!(
                "the token holds several SecretsKeys for the root with key id {kid} ({place}); remove the copies"
            ))),
        }
    }
}

/// The kid of a root, after checking that `root_spki` is really the root key's.
fn root_kid(root: &KeyObject, root_spki: &[u8]) -> Result<KeyId> {
    if !root.public_key().matches_spki(root_spki) {
        return Err(Error::failed(format!(
            "the root certificate's public key is not the key labelled {:?} in the token; the SecretsKey must belong to the CA's own root",
            root.label()
        )));
    }
    Ok(KeyId::for_root(root_spki))
}

/// A SecretsKey in a token, sealing and opening secrets tokens through a session pool.
/// `Send + Sync`.
#[derive(Debug)]
pub struct HsmSecretsKey {
    pool: Arc<SessionPool>,
    locator: ObjectLocator,
    kid: KeyId,
    place: Place,
}

impl HsmSecretsKey {
    /// The SecretsKey `key`, used through the sessions of `pool`.
    pub fn new(pool: Arc<SessionPool>, key: &SecretsKeyObject) -> Self {
        let locator = ObjectLocator {
            class: ObjectClass::SECRET_KEY,
            label: key.label.clone(),
            id: key.id.clone(),
        };
        let place = Place {
            object: Some(locator.describe()),
            ..pool.token().place()
        };
        Self {
            pool,
            locator,
            kid: key.kid,
            place,
        }
    }

    /// Opens the SecretsKey of the root key `root` (opened and checked against the root
    /// certificate, whose SubjectPublicKeyInfo is `root_spki`) through the root key's own
    /// session pool: the secret key labelled `qvca SecretsKey <kid>` with the root key's id.
    /// `recorded_label`, the label the CA directory records, must be that label.
    pub fn open(root: &TokenKey, root_spki: &[u8], recorded_label: Option<&str>) -> Result<Self> {
        if !root.public_key().matches_spki(root_spki) {
            return Err(Error::failed(format!(
                "the root certificate's public key is not the key labelled {:?} in the token; \
                 the SecretsKey must belong to the CA's own root",
                root.label()
            )));
        }
        let kid = KeyId::for_root(root_spki);
        let label = object_label(kid);
        if let Some(recorded) = recorded_label
            && recorded != label
        {
            return Err(Error::failed(format!(
                "the CA directory records the SecretsKey label {recorded:?}, but this root's is \
                 {label:?}: the index is damaged; restore the CA directory from a backup"
            )));
        }
        let pool = Arc::clone(root.pool());
        let locator = ObjectLocator {
            class: ObjectClass::SECRET_KEY,
            label: label.clone(),
            id: root.id().to_vec(),
        };
        let place = Place {
            object: Some(locator.describe()),
            ..pool.token().place()
        };
        let handle = pool.with_session(&place, |pooled: &mut PooledSession| {
            let found = pooled
                .session()
                .find_objects(&[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::Label(label.as_bytes().to_vec()),
                    Attribute::Id(root.id().to_vec()),
                ])
                .map_err(|err| PoolError::Pkcs11 {
                    action: "searching for the SecretsKey",
                    err,
                })?;
            Ok(found)
        })?;
        match handle.as_slice() {
            [_] => Ok(Self {
                pool,
                locator,
                kid,
                place,
            }),
            [] => Err(Error::not_found(format!(
                "the token holds no SecretsKey for the root with key id {kid} ({place}): the \
                 secrets tokens of this CA cannot be sealed or opened; restore the token from \
                 the HSM's backup (the SecretsKey is backed up with the root key)"
            ))),
            _ => Err(Error::failed(format!(
                "the token holds several SecretsKeys for the root with key id {kid} ({place}); \
                 remove the copies"
            ))),
        }
    }

    /// The key id of the root this SecretsKey belongs to.
    pub fn kid(&self) -> KeyId {
        self.kid
    }

    /// The object's label in the token (`qvca SecretsKey <kid>`).
    pub fn label(&self) -> &str {
        &self.locator.label
    }

    /// Removes the SecretsKey object from the token: only to undo a command that made it and
    /// then failed before anything used it (`hsm migrate`).
    pub fn destroy_unused(&self) -> Result<()> {
        self.pool.destroy(&self.locator, &self.place)
    }

    /// The data key for one value: HMAC-SHA256(K, info) computed in the token.
    fn data_key(&self, salt: &[u8; SALT_LEN]) -> Result<Zeroizing<[u8; 32]>> {
        let mut info = Vec::with_capacity(DERIVATION_LABEL.len() + 1 + 8 + SALT_LEN);
        info.extend_from_slice(DERIVATION_LABEL);
        info.push(0);
        info.extend_from_slice(self.kid.as_bytes());
        info.extend_from_slice(salt);
        let mac = Zeroizing::new(self.pool.with_session(
            &self.place,
            |pooled: &mut PooledSession| {
                let handle = pooled.handle(&self.locator, &self.place)?;
                pooled
                    .session()
                    .sign(&Mechanism::Sha256Hmac, handle, &info)
                    .map_err(|err| PoolError::Pkcs11 {
                        action: "deriving a data key (CKM_SHA256_HMAC)",
                        err,
                    })
            },
        )?);
        if mac.len() != 32 {
            return Err(Error::failed(format!(
                "the token returned a {}-byte HMAC-SHA256 ({}); 32 bytes were expected",
                mac.len(),
                self.place
            )));
        }
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&mac);
        Ok(key)
    }

    fn aad(&self, context: &str) -> String {
        format!("{TOKEN_PREFIX}{}:{context}", self.kid)
    }

    /// Seals `plaintext` for `context` into a `qvca:v2:<kid>:…` token.
    pub fn encrypt_token(&self, context: &str, plaintext: &[u8]) -> Result<String> {
        let mut salt = [0u8; SALT_LEN];
        rand::rng().fill_bytes(&mut salt);
        let key = self.data_key(&salt)?;
        let cipher = Aes256Gcm::new_from_slice(key.as_ref())
            .map_err(|_| Error::failed("AES-256-GCM refused a 32-byte key (impossible)"))?;
        let aad = self.aad(context);
        let sealed = cipher
            .encrypt(
                &Nonce::default(),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Error::failed("AES-256-GCM encryption failed"))?;
        let mut body = salt.to_vec();
        body.extend_from_slice(&sealed);
        Ok(format!(
            "{TOKEN_PREFIX}{}:{}",
            self.kid,
            URL_SAFE_NO_PAD.encode(body)
        ))
    }

    /// Opens a `qvca:v2:<kid>:…` token sealed for `context`. A malformed token, one of
    /// another root, another context or a changed one is an authentication error (exit 4), as
    /// for version 1.
    pub fn decrypt_token(&self, context: &str, token: &str) -> Result<SecretBytes> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Error::authentication(format!(
                "the secrets token is {} characters long; at most {MAX_TOKEN_LEN} are accepted",
                token.len()
            )));
        }
        let Some(rest) = token.strip_prefix(TOKEN_PREFIX) else {
            let version = if token.starts_with("qvca:v1:") {
                "a version 1 token (made with a file key); rewrap it with qvca secrets rewrap on the CA it came from"
            } else {
                "not a qvca:v2: token"
            };
            return Err(Error::authentication(format!(
                "the secrets value is {version}"
            )));
        };
        let (kid_text, body) = rest.split_once(':').ok_or_else(|| {
            Error::authentication("the secrets token has no key id (qvca:v2:<kid>:<data>)")
        })?;
        let kid = KeyId::parse(kid_text).ok_or_else(|| {
            Error::authentication("the secrets token's key id is not 16 hex characters")
        })?;
        if kid != self.kid {
            return Err(Error::authentication(format!(
                "the secrets token was sealed by the CA whose root has key id {kid}; this CA's is {}: open it with that CA",
                self.kid
            )));
        }
        let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| {
            Error::authentication("the secrets token's data is not unpadded base64url")
        })?;
        if body.len() < SALT_LEN + TAG_LEN {
            return Err(Error::authentication(
                "the secrets token is too short to be one",
            ));
        }
        let (salt, sealed) = body.split_at(SALT_LEN);
        let mut salt_array = [0u8; SALT_LEN];
        salt_array.copy_from_slice(salt);
        let key = self.data_key(&salt_array)?;
        let cipher = Aes256Gcm::new_from_slice(key.as_ref())
            .map_err(|_| Error::failed("AES-256-GCM refused a 32-byte key (impossible)"))?;
        let aad = self.aad(context);
        cipher
            .decrypt(
                &Nonce::default(),
                Payload {
                    msg: sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map(SecretBytes::new)
            .map_err(|_| {
                Error::authentication(format!(
                    "the secrets token does not open for context {context:?}: it was sealed for another context, or changed"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secrets_key_template_is_sign_only_and_never_leaves_the_token() {
        let template = secret_template("qvca SecretsKey 00", &[1], KeyType::GENERIC_SECRET);
        for wanted in [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Encrypt(false),
            Attribute::Decrypt(false),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
        ] {
            assert!(template.contains(&wanted), "{wanted:?} missing");
        }
    }

    #[test]
    fn a_token_without_hmac_cannot_have_a_secrets_key_and_the_refusal_names_what_is_missing() {
        let place = Place {
            module: "/usr/lib/pkcs11/some-hsm.so".into(),
            token: Some("qvca".into()),
            object: None,
        };
        let err = check_mechanisms(&[MechanismType::ECDSA, MechanismType::RSA_PKCS], &place)
            .expect_err("no HMAC");
        assert_eq!(err.kind(), crate::error::ErrorKind::Failed);
        assert!(err.message().contains("CKM_SHA256_HMAC"), "{err}");
        assert!(
            err.message().contains("CKM_GENERIC_SECRET_KEY_GEN"),
            "{err}"
        );
        assert!(err.message().contains("some-hsm.so"), "{err}");
        assert!(err.message().contains("nothing was created"), "{err}");
        let err = check_mechanisms(&[MechanismType::GENERIC_SECRET_KEY_GEN], &place)
            .expect_err("no HMAC signing");
        assert!(
            !err.message().contains("CKM_GENERIC_SECRET_KEY_GEN and"),
            "{err}"
        );
        check_mechanisms(
            &[
                MechanismType::GENERIC_SECRET_KEY_GEN,
                MechanismType::SHA256_HMAC,
            ],
            &place,
        )
        .expect("both offered");
    }

    #[test]
    fn the_derivation_info_layout_is_43_bytes() {
        assert_eq!(DERIVATION_LABEL.len() + 1 + 8 + SALT_LEN, 43);
    }
}
