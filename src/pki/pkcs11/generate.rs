//! Generating the root key pair inside the token.
//!
//! The private key is made a token object that is private, sensitive, never extractable and
//! sign-only (`CKA_DECRYPT`, `CKA_UNWRAP`, `CKA_DERIVE` false); every attribute is set
//! explicitly, because defaults differ between HSMs (Thales Luna makes keys session objects,
//! `CKA_TOKEN=false`, unless told otherwise). The public key object gets the same label and
//! id. The id is 20 random bytes; the label must not be taken by any object in the token.

use crate::error::{Error, Result};
use crate::pki::key::KeyType;
use crate::pki::pkcs11::from_pkcs11;
use crate::pki::pkcs11::public_key::{KeyAlgorithm, ec_params_der};
use crate::pki::pkcs11::token::{KeyObject, UserSession};
use crate::pki::pkcs11::uri::MAX_OBJECT_LABEL_LEN;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use rand::Rng;

/// The length of the random `CKA_ID` given to new keys.
pub const KEY_ID_LEN: usize = 20;

/// Checks a label for a new object: 1 to 255 bytes, no control characters.
pub(crate) fn check_new_label(label: &str) -> Result<()> {
    if label.is_empty() || label.len() > MAX_OBJECT_LABEL_LEN {
        return Err(Error::usage(format!(
            "a key label must be 1 to {MAX_OBJECT_LABEL_LEN} bytes long, not {}",
            label.len()
        )));
    }
    if label.chars().any(char::is_control) {
        return Err(Error::usage(
            "a key label must not contain control characters",
        ));
    }
    Ok(())
}

/// A fresh random object id.
pub(crate) fn random_id() -> Vec<u8> {
    let mut id = vec![0u8; KEY_ID_LEN];
    rand::rng().fill_bytes(&mut id);
    id
}

/// The private key attributes every qvca root key gets, generated or imported.
pub(crate) fn private_key_policy(label: &str, id: &[u8]) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Decrypt(false),
        Attribute::Unwrap(false),
        Attribute::Derive(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ]
}

/// The public key attributes every qvca root key's public half gets.
pub(crate) fn public_key_policy(label: &str, id: &[u8]) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::Encrypt(false),
        Attribute::Wrap(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ]
}

impl UserSession {
    /// Refuses when any object in the token already has `label`.
    pub(crate) fn refuse_taken_label(&self, label: &str) -> Result<()> {
        if self.label_exists(label)? {
            return Err(Error::refused(format!(
                "an object labelled {label:?} exists already ({}): choose another label, or use the existing key with object={label}",
                self.token().place()
            )));
        }
        Ok(())
    }

    /// Destroys objects made by a step that failed half-way; errors are ignored (the caller
    /// reports the original failure).
    pub(crate) fn destroy_quietly(&self, handles: &[ObjectHandle]) {
        for handle in handles {
            let _ = self.session().destroy_object(*handle);
        }
    }

    /// Removes a key pair this command made a moment ago (the private key and the public key
    /// object with its label and id), when a later step failed before anything used it.
    /// Failures are ignored: the objects are then left, as after a crash.
    pub(crate) fn destroy_key_pair(&self, key: &KeyObject) {
        let mut handles = vec![key.handle];
        if let Ok(publics) = self.session().find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Label(key.label().as_bytes().to_vec()),
            Attribute::Id(key.id().to_vec()),
        ]) {
            handles.extend(publics);
        }
        self.destroy_quietly(&handles);
    }

    /// Generates a key pair of `key_type` labelled `label` in the token; refuses when the
    /// label is taken. On any failure after generation both halves are destroyed again.
    pub fn generate_key_pair(&self, key_type: KeyType, label: &str) -> Result<KeyObject> {
        let wanted = KeyAlgorithm::of_key_type(key_type);
        check_new_label(label)?;
        self.refuse_taken_label(label)?;
        let id = random_id();
        let mut public = public_key_policy(label, &id);
        let private = private_key_policy(label, &id);
        let mechanism = match wanted {
            KeyAlgorithm::Rsa { bits } => {
                public.push(Attribute::ModulusBits((bits as u64).into()));
                public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
                Mechanism::RsaPkcsKeyPairGen
            }
            algorithm => {
                public.push(Attribute::EcParams(ec_params_der(algorithm)?));
                Mechanism::EccKeyPairGen
            }
        };
        let place = self.place_for(&format!("label {label:?}"));
        let (public_handle, private_handle) = self
            .session()
            .generate_key_pair(&mechanism, &public, &private)
            .map_err(|e| from_pkcs11(&format!("generating a {key_type} key pair"), &place, &e))?;
        let key = self.key_object(private_handle).and_then(|key| {
            if key.public_key().algorithm() == wanted {
                Ok(key)
            } else {
                Err(Error::failed(format!(
                    "the token made a {} key when {} was asked for ({place})",
                    key.public_key().algorithm().name(),
                    wanted.name()
                )))
            }
        });
        if key.is_err() {
            self.destroy_quietly(&[private_handle, public_handle]);
        }
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_private_key_policy_is_sensitive_unextractable_and_sign_only() {
        let policy = private_key_policy("root", &[1]);
        for wanted in [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
        ] {
            assert!(policy.contains(&wanted), "{wanted:?} missing");
        }
    }

    #[test]
    fn labels_are_checked() {
        assert!(check_new_label("").is_err());
        assert!(check_new_label(&"x".repeat(256)).is_err());
        assert!(check_new_label("a\nb").is_err());
        assert!(check_new_label("qvca root 2026").is_ok());
    }
}
