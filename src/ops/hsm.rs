//! The root key of a CA in a PKCS#11 token: making (or finding) it for `init --key URI`, and
//! opening it again for every command that signs.
//!
//! The library never asks for anything itself: a command hands over a [`TokenAccess`] that
//! says which module to load (when the option or environment names one) and how to get the PIN
//! (the CLI reads `--pin-file`, `pin-source=file:`, `QVCA_PKCS11_PIN` or prompts on a terminal).
//! Reaching the token, logging in and checking the key happen within
//! [`connect_timeout`] (60 s), so an unreachable HSM is
//! a clear error (exit 1) naming the module, the token and the object, never a hang.

use crate::error::{Error, Result};
use crate::pki::key::KeyType;
use crate::pki::pkcs11::deadline::run_with_deadline;
use crate::pki::pkcs11::location::{TokenKeyLocation, connect_timeout, resolve_module};
use crate::pki::pkcs11::module::Module;
use crate::pki::pkcs11::pin::Pin;
use crate::pki::pkcs11::pool::{PoolOptions, SessionPool};
use crate::pki::pkcs11::public_key::{KeyAlgorithm, PublicKey};
use crate::pki::pkcs11::signer::TokenKey;
use crate::pki::pkcs11::token::{KeyObject, KeySelector, TokenSelector, UserSession};
use crate::pki::pkcs11::uri::Pkcs11Uri;
use crate::pki::signer::RootKey;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What a PIN is asked for: the token (for a prompt) and the PIN file the URI names, if any.
#[derive(Debug, Clone)]
pub struct PinRequest<'a> {
    /// The token, for a prompt: `token "qvca" (serial 1a2b)`.
    pub token: String,
    /// `pin-source=file:` of the URI given to this command (never from a CA directory).
    pub pin_source: Option<&'a Path>,
}

/// How this command reaches a token: the module named by an option or the environment, and
/// the PIN, asked for only when the token is about to be used.
pub struct TokenAccess<'a> {
    /// `--pkcs11-module PATH` or `QVCA_PKCS11_MODULE`; else the URI's `module-path`.
    pub module: Option<PathBuf>,
    /// Gets the user PIN of the token described.
    pub pin: &'a dyn Fn(&PinRequest<'_>) -> Result<Pin>,
}

impl std::fmt::Debug for TokenAccess<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAccess")
            .field("module", &self.module)
            .finish_non_exhaustive()
    }
}

/// What `init --key` did with the key: where it is, and whether it was made or found.
#[derive(Debug, Clone, Serialize)]
pub struct TokenRootReport {
    /// The URI recorded in the CA directory (no PIN source).
    pub uri: String,
    /// The module that was loaded.
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The token's serial number.
    pub token_serial: String,
    /// The key's label.
    pub key_label: String,
    /// The key's id, in hex.
    pub key_id: String,
    /// True when `init` generated the key in the token; false when it used the existing key
    /// the URI names.
    pub generated: bool,
    /// The label of the SecretsKey object next to the root key (version 2).
    pub secrets_key_label: String,
    /// True when the SecretsKey was generated now; false when the existing root key had one.
    pub secrets_key_generated: bool,
}

/// A root key made in (or found in) a token for `init`, with where it lives.
#[derive(Debug)]
pub struct TokenRoot {
    /// The key, ready to sign.
    pub key: RootKey,
    /// What to record and report.
    pub report: TokenRootReport,
    /// The key type (`--key-type` for a generated key; the existing key's own type).
    pub key_type: KeyType,
}

/// Checks what `init --key URI` is asked before anything is touched: the URI names a key
/// (`object=` and/or `id=`, type private), and one module is named (an option or the
/// environment, or the URI's `module-path`; two different ones are refused). Returns the
/// module to load and the key selector (usage errors, exit 2).
pub fn check_key_request(
    uri: &Pkcs11Uri,
    access: &TokenAccess<'_>,
) -> Result<(PathBuf, KeySelector)> {
    let selector = KeySelector::from_uri(uri)?;
    if let (Some(given), Some(in_uri)) = (access.module.as_deref(), uri.module_path())
        && given != in_uri
    {
        return Err(Error::usage(format!(
            "the URI's module-path ({}) and --pkcs11-module/QVCA_PKCS11_MODULE ({}) name \
             different modules: give one of them",
            in_uri.display(),
            given.display()
        )));
    }
    let module = resolve_module(access.module.as_deref(), uri.module_path())?;
    Ok((module, selector))
}

/// Finds the key `uri` names in its token, or generates it there (labelled with `object=`)
/// when there is none: RSA or ECDSA of `key_type` (for an existing key, `key_type` must match
/// it when `explicit`). Loading the module, logging in and the key work happen within the
/// connect time limit.
pub fn make_root_key(
    uri: &Pkcs11Uri,
    key_type: KeyType,
    explicit: bool,
    access: &TokenAccess<'_>,
) -> Result<TokenRoot> {
    let (module, selector) = check_key_request(uri, access)?;
    let tokens = TokenSelector::from_uri(uri);
    let pin = (access.pin)(&PinRequest {
        token: tokens.to_string(),
        pin_source: uri.pin_source(),
    })?;
    let given = uri.clone();
    let (token_key, object, token, generated, secrets) =
        in_token_session(&module, tokens, pin, move |session| {
            let (object, generated) = find_or_generate(&session, &selector, &given, key_type)?;
            let secrets = secrets_key_or_undo(&session, &object, generated)?;
            let token = session.token().description().clone();
            let pool = SessionPool::new(session, &PoolOptions::default())?;
            Ok((
                TokenKey::new(pool, &object)?,
                object,
                token,
                generated,
                secrets,
            ))
        })?;
    let algorithm = token_key.public_key().algorithm();
    let found_type = check_found_type(&object, algorithm, generated, explicit, key_type)?;
    let location =
        TokenKeyLocation::of_key(uri, &token, &object)?.with_secrets_key(secrets.0.clone())?;
    let report = TokenRootReport {
        uri: location.uri().to_string(),
        module,
        token_label: location.token_label().to_owned(),
        token_serial: location.token_serial().to_owned(),
        key_label: location.key_label().to_owned(),
        key_id: hex::encode(location.key_id()),
        generated,
        secrets_key_label: secrets.0,
        secrets_key_generated: secrets.1,
    };
    debug_assert_eq!(KeyAlgorithm::of_key_type(found_type), algorithm);
    Ok(TokenRoot {
        key: RootKey::in_token(token_key, location),
        report,
        key_type: found_type,
    })
}

/// Runs `work` in a user session of the token `tokens` selects (logged in with `pin`) through
/// the PKCS#11 module at `module`; loading the module, logging in and `work` happen within the
/// connect time limit.
pub(crate) fn in_token_session<T: Send + 'static>(
    module: &Path,
    tokens: TokenSelector,
    pin: Pin,
    work: impl FnOnce(UserSession) -> Result<T> + Send + 'static,
) -> Result<T> {
    let what = format!(
        "reaching the token ({tokens}) through the PKCS#11 module {}",
        module.display()
    );
    let path = module.to_owned();
    run_with_deadline(&what, connect_timeout(), move || {
        let session = Module::open(&path)?.token(&tokens)?.login(&pin)?;
        work(session)
    })
}

/// The private key `selector` finds in the token, else one generated now as `key_type` under
/// the URI's `object=` label (refused without a label, or with an `id=`, or when the token
/// cannot hold the SecretsKey). Returns the key and whether it was generated.
fn find_or_generate(
    session: &UserSession,
    selector: &KeySelector,
    given: &Pkcs11Uri,
    key_type: KeyType,
) -> Result<(KeyObject, bool)> {
    if let Some(object) = session.find_private_key_if_any(selector)? {
        return Ok((object, false));
    }
    let Some(label) = given.object() else {
        return Err(Error::usage(format!(
            "no private key with {selector} in the token ({}); to generate \
             the root key there, name it with object=LABEL in the URI",
            session.token().description()
        )));
    };
    if given.id().is_some() {
        return Err(Error::usage(format!(
            "no private key with {selector} in the token ({}); qvca gives a \
             new key a random id: leave id= out of the URI to generate it",
            session.token().description()
        )));
    }
    // Refuse a token that cannot hold the SecretsKey before anything is made.
    session.check_secrets_key_support()?;
    Ok((session.generate_key_pair(key_type, label)?, true))
}

/// [`secrets_key_for`], removing the key pair `object` again on failure when this run made it
/// (`made_now`): nothing may be left half-made.
pub(crate) fn secrets_key_or_undo(
    session: &UserSession,
    object: &KeyObject,
    made_now: bool,
) -> Result<(String, bool)> {
    secrets_key_for(session, object).inspect_err(|_| {
        if made_now {
            session.destroy_key_pair(object);
        }
    })
}

/// The qvca key type of the token key `object` (of `algorithm`): refused when it is not one,
/// or when an existing key (not `generated`) differs from the `key_type` asked `explicit`ly.
fn check_found_type(
    object: &KeyObject,
    algorithm: KeyAlgorithm,
    generated: bool,
    explicit: bool,
    key_type: KeyType,
) -> Result<KeyType> {
    let found_type = algorithm.key_type().ok_or_else(|| {
        Error::failed(format!(
            "the key {} in the token is {}, which is not a qvca root key type (rsa2048, \
             rsa3072, rsa4096, p256, p384)",
            object.label(),
            algorithm.name()
        ))
    })?;
    if !generated && explicit && found_type != key_type {
        return Err(Error::usage(format!(
            "the existing key {:?} in the token is {found_type}, not the {key_type} that \
             --key-type asks for: leave --key-type out to use it, or name another key",
            object.label()
        )));
    }
    Ok(found_type)
}

/// The SecretsKey of the root key `object`: the one the token holds, else one generated now
/// (after checking that the token can make it). Returns its label and whether it was made.
pub(crate) fn secrets_key_for(session: &UserSession, object: &KeyObject) -> Result<(String, bool)> {
    let spki = object.public_key().spki_der();
    if let Some(found) = session.find_secrets_key_if_any(object, spki)? {
        return Ok((found.label().to_owned(), false));
    }
    session.check_secrets_key_support()?;
    let made = session.generate_secrets_key(object, spki).map_err(|e| {
        Error::new(
            e.kind(),
            format!(
                "the token did not make the CA's SecretsKey (a 256-bit HMAC-SHA256 key kept \
                 next to the root key): {}; nothing was created",
                e.message()
            ),
        )
    })?;
    Ok((made.label().to_owned(), true))
}

/// Opens the root key recorded at `location` and checks that it signs for the root
/// certificate's SubjectPublicKeyInfo `root_spki`; `access` says how to reach the token (none:
/// a failure that says the command cannot reach it).
pub fn open_root_key(
    location: &TokenKeyLocation,
    access: Option<&TokenAccess<'_>>,
    root_spki: &[u8],
    root_serial: &str,
) -> Result<RootKey> {
    let key = open_token_key(location, access, root_spki, root_serial)?;
    Ok(RootKey::in_token(key, location.clone()))
}

/// Like [`open_root_key`], giving the token key itself (for the SecretsKey, which works
/// through the same sessions).
pub fn open_token_key(
    location: &TokenKeyLocation,
    access: Option<&TokenAccess<'_>>,
    root_spki: &[u8],
    root_serial: &str,
) -> Result<TokenKey> {
    open_token_key_or(location, access, root_spki, |module| {
        Error::failed(format!(
            "the key in the PKCS#11 token ({location}, module {}) is not the key of the root \
             certificate (serial {root_serial}): the CA directory points at another key; \
             nothing was signed: restore the CA directory from a backup, or the token from the \
             HSM's backup",
            module.display()
        ))
    })
}

/// Opens the key recorded at `location` (module from `access` or the URI, PIN from `access`)
/// and checks that it signs for `root_spki`; `mismatch(module)` is the error when it does not.
pub(crate) fn open_token_key_or(
    location: &TokenKeyLocation,
    access: Option<&TokenAccess<'_>>,
    root_spki: &[u8],
    mismatch: impl FnOnce(&Path) -> Error,
) -> Result<TokenKey> {
    let Some(access) = access else {
        return Err(Error::failed(format!(
            "the root key of this CA lives in a PKCS#11 token ({location}), which this command \
             cannot reach yet: use `qvca issue server MACHINE`, `qvca issue client` and `qvca \
             export license-service` instead (they take --pkcs11-module and --pin-file)"
        )));
    };
    let module = location.module_to_load(access.module.as_deref())?;
    let expected = PublicKey::from_spki_der(root_spki)?;
    let pin = (access.pin)(&PinRequest {
        token: location.to_string(),
        pin_source: None,
    })?;
    location.open(&module, &pin, &expected, connect_timeout(), || {
        mismatch(&module)
    })
}
