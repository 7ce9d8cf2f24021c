//! The root key in a PKCS#11 token (a hardware security module, a smart card, a TPM or a
//! cloud KMS behind its PKCS#11 library), reached through the `cryptoki` binding.
//!
//! - [`uri`]: RFC 7512 PKCS#11 URIs, strict, never with a PIN; [`pin`]: the zeroized PIN.
//! - [`module`]: loading a PKCS#11 module once per process.
//! - [`token`]: finding the token, logging in, finding the key and its public key
//!   ([`public_key`]: RSA/EC public keys, SubjectPublicKeyInfo, signature checks).
//! - [`generate`] and [`import`]: making the root key in the token, or moving a file key in.
//! - [`pool`] and [`signer`]: a session pool and [`signer::TokenKey`], an rcgen signing key
//!   that the root's [`crate::pki::signer::RootKey`] wraps.
//! - [`attributes`]: named checks of a key's attributes, for `doctor` and `status`.
//! - [`probe`]: the steps from loading the module to checking the key, one by one, for `doctor`.
//! - [`deadline`]: running blocking PKCS#11 calls with a time limit.
//! - [`location`]: where a CA's root key lives (what the CA directory records).
//!
//! Errors use qvca's kinds: a wrong or locked PIN is an authentication error (exit 4); a module,
//! token or key that cannot be reached is a failure (exit 1) whose message names the module,
//! the token and the object. Messages never contain a PIN or key material.
//!
//! What this module does not do: the SecretsKey of a CA with its root in a token (version 2)
//! lives in `secrets::hsm`, above this layer.

pub mod attributes;
pub mod deadline;
pub mod generate;
pub mod import;
pub mod location;
pub mod module;
pub mod pin;
pub mod pool;
pub mod probe;
pub mod public_key;
pub mod signer;
pub mod token;
pub mod uri;

use crate::error::Error;
use cryptoki::error::{Error as P11Error, RvError};
use std::fmt;

/// Where a PKCS#11 call failed, for messages: the module, the token and the object involved.
#[derive(Debug, Clone, Default)]
pub(crate) struct Place {
    pub module: String,
    pub token: Option<String>,
    pub object: Option<String>,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "module {}", self.module)?;
        if let Some(token) = &self.token {
            write!(f, ", token {token:?}")?;
        }
        if let Some(object) = &self.object {
            write!(f, ", object {object}")?;
        }
        Ok(())
    }
}

/// The PKCS#11 return value inside a cryptoki error, if it carries one.
pub(crate) fn rv_of(err: &P11Error) -> Option<RvError> {
    match err {
        P11Error::Pkcs11(rv, _) => Some(*rv),
        _ => None,
    }
}

/// Turns a cryptoki error from `action` ("signing", "logging in", ...) at `place` into an
/// [`Error`] whose kind and advice fit the PKCS#11 return value.
pub(crate) fn from_pkcs11(action: &str, place: &Place, err: &P11Error) -> Error {
    let Some(rv) = rv_of(err) else {
        return Error::failed(format!("{action} failed ({place}): {err}"));
    };
    match rv {
        RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange => {
            Error::authentication(format!(
                "the token refused the PIN ({place}): check the PIN given by --pin-file, \
                 pin-source or QVCA_PKCS11_PIN and try again; repeated wrong PINs can lock the \
                 token"
            ))
        }
        RvError::PinLocked => Error::authentication(format!(
            "the user PIN is locked ({place}): the token's security officer must set a new user \
             PIN with the token's own tool (for example `pkcs11-tool --module MODULE --login \
             --login-type so --init-pin`)"
        )),
        RvError::PinExpired => Error::authentication(format!(
            "the user PIN has expired ({place}): set a new PIN with the token's own tool, then \
             try again"
        )),
        RvError::TokenNotPresent | RvError::TokenNotRecognized | RvError::DeviceRemoved => {
            Error::failed(format!(
                "the token is not present ({place}): check that it is plugged in or reachable, \
                 then try again"
            ))
        }
        RvError::DeviceError | RvError::DeviceMemory | RvError::GeneralError => {
            Error::failed(format!(
                "{action} failed: the token reported a device error ({place}): {err}; check the \
                 HSM's health and logs"
            ))
        }
        RvError::SessionCount => Error::failed(format!(
            "{action} failed: the token allows no more sessions ({place}); close other \
             applications using it and try again"
        )),
        RvError::UserNotLoggedIn => Error::failed(format!(
            "{action} failed: the session is no longer logged in ({place}); the token may have \
             been reset: run the command again"
        )),
        RvError::MechanismInvalid | RvError::MechanismParamInvalid => Error::failed(format!(
            "{action} failed: the token does not offer the mechanism needed ({place}): {err}"
        )),
        RvError::KeyFunctionNotPermitted | RvError::KeyTypeInconsistent => Error::failed(format!(
            "{action} failed: the key may not be used this way ({place}): {err}; check the key's \
             attributes (CKA_SIGN)"
        )),
        RvError::TemplateInconsistent
        | RvError::TemplateIncomplete
        | RvError::AttributeValueInvalid
        | RvError::AttributeTypeInvalid => Error::failed(format!(
            "{action} failed: the token refused the key attributes ({place}): {err}; this token \
             may need vendor-specific attributes"
        )),
        _ => Error::failed(format!("{action} failed ({place}): {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use cryptoki::context::Function;

    fn place() -> Place {
        Place {
            module: "/usr/lib/softhsm/libsofthsm2.so".into(),
            token: Some("qvca".into()),
            object: Some("label \"root\"".into()),
        }
    }

    #[test]
    fn an_incorrect_pin_is_an_authentication_error_that_names_the_token() {
        let err = from_pkcs11(
            "logging in",
            &place(),
            &P11Error::Pkcs11(RvError::PinIncorrect, Function::Login),
        );
        assert_eq!(err.kind(), ErrorKind::Authentication);
        assert!(err.message().contains("\"qvca\""), "{err}");
        assert!(err.message().contains("libsofthsm2.so"), "{err}");
    }

    #[test]
    fn a_locked_pin_is_an_authentication_error_that_says_it_is_locked() {
        let err = from_pkcs11(
            "logging in",
            &place(),
            &P11Error::Pkcs11(RvError::PinLocked, Function::Login),
        );
        assert_eq!(err.kind(), ErrorKind::Authentication);
        assert!(err.message().contains("locked"), "{err}");
    }

    #[test]
    fn a_missing_token_is_a_failure_exit_1() {
        let err = from_pkcs11(
            "opening a session",
            &place(),
            &P11Error::Pkcs11(RvError::TokenNotPresent, Function::OpenSession),
        );
        assert_eq!(err.kind(), ErrorKind::Failed);
        assert!(err.message().contains("not present"), "{err}");
    }

    #[test]
    fn other_errors_are_failures_naming_the_object() {
        let err = from_pkcs11(
            "signing",
            &place(),
            &P11Error::Pkcs11(RvError::FunctionFailed, Function::Sign),
        );
        assert_eq!(err.kind(), ErrorKind::Failed);
        assert!(err.message().contains("root"), "{err}");
        assert!(err.message().starts_with("signing failed"), "{err}");
    }
}
