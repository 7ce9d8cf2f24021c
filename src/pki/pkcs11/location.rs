//! Where a CA's root key lives in a token: what the CA directory records, and opening the key
//! again from it.
//!
//! The record holds the URI the key was named by at `init` (canonical, without any PIN source;
//! its `module-path` kept if it had one), and what identifies the key for certain: the token's
//! label and serial number and the key's label and id. Commands find the token by label and
//! serial and the key by label and id, so a token re-initialised under the same label, or
//! another key given the same label, is never taken for the CA's.
//!
//! A record read from a CA directory is checked like every other index value: a URI that does
//! not parse (a `pin-value` among them), a PIN source, a label or id out of PKCS#11's limits, or
//! a URI that contradicts the recorded fields is refused.

use crate::error::{Error, Result};
use crate::pki::pkcs11::deadline::{DEFAULT_CONNECT_TIMEOUT, run_with_deadline};
use crate::pki::pkcs11::module::Module;
use crate::pki::pkcs11::pin::Pin;
use crate::pki::pkcs11::pool::{PoolOptions, SessionPool};
use crate::pki::pkcs11::public_key::PublicKey;
use crate::pki::pkcs11::signer::TokenKey;
use crate::pki::pkcs11::token::{KeyObject, KeySelector, TokenDescription, TokenSelector};
use crate::pki::pkcs11::uri::{MAX_ID_LEN, MAX_OBJECT_LABEL_LEN, ObjectType, Pkcs11Uri};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest token label PKCS#11 allows (`CK_TOKEN_INFO.label`).
const MAX_TOKEN_LABEL_LEN: usize = 32;
/// The longest token serial number PKCS#11 allows (`CK_TOKEN_INFO.serialNumber`).
const MAX_TOKEN_SERIAL_LEN: usize = 16;
/// What the label of a CA's SecretsKey object (version 2, `secrets::hsm`) starts with; the
/// root's key id (16 hex characters) follows.
pub const SECRETS_KEY_LABEL_PREFIX: &str = "qvca SecretsKey ";
/// The longest escrowed version-1 SecretsKey accepted from an index (a version-2 token of 32
/// bytes is about 110 characters).
const MAX_ESCROW_LEN: usize = 512;

/// Where a CA's root key lives: the URI it was named by and the token and key that hold it.
/// Constructing one is the check (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RecordedLocation", into = "RecordedLocation")]
pub struct TokenKeyLocation {
    uri: Pkcs11Uri,
    token_label: String,
    token_serial: String,
    key_label: String,
    key_id: Vec<u8>,
    secrets_key_label: Option<String>,
    secrets_v1_escrow: Option<String>,
}

/// The form of a [`TokenKeyLocation`] in `index.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordedLocation {
    /// The PKCS#11 URI (RFC 7512), without a PIN source.
    uri: String,
    /// The token's label.
    token_label: String,
    /// The token's serial number.
    token_serial: String,
    /// The key's label (`CKA_LABEL`).
    key_label: String,
    /// The key's id (`CKA_ID`), in hex.
    key_id: String,
    /// The label of the SecretsKey object next to the root key (version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secrets_key_label: Option<String>,
    /// The version-1 SecretsKey of the CA's file-key past (`hsm migrate`), sealed under the
    /// token's SecretsKey: a `qvca:v2:` token, opened only through the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secrets_v1_escrow: Option<String>,
}

impl TryFrom<RecordedLocation> for TokenKeyLocation {
    type Error = String;

    fn try_from(recorded: RecordedLocation) -> std::result::Result<Self, String> {
        let uri = Pkcs11Uri::parse(&recorded.uri)
            .map_err(|e| format!("field `settings.root_key.uri`: {}", e.message()))?;
        let key_id = hex::decode(&recorded.key_id).map_err(|_| {
            "field `settings.root_key.key_id`: not hexadecimal (the key's CKA_ID)".to_owned()
        })?;
        let mut location = Self::new(
            uri,
            recorded.token_label,
            recorded.token_serial,
            recorded.key_label,
            key_id,
        )
        .map_err(|e| e.message().to_owned())?;
        if let Some(label) = recorded.secrets_key_label {
            location = location
                .with_secrets_key(label)
                .map_err(|e| e.message().to_owned())?;
        }
        if let Some(escrow) = recorded.secrets_v1_escrow {
            location = location
                .with_v1_escrow(escrow)
                .map_err(|e| e.message().to_owned())?;
        }
        Ok(location)
    }
}

impl From<TokenKeyLocation> for RecordedLocation {
    fn from(location: TokenKeyLocation) -> Self {
        Self {
            uri: location.uri.to_string(),
            token_label: location.token_label,
            token_serial: location.token_serial,
            key_label: location.key_label,
            key_id: hex::encode(location.key_id),
            secrets_key_label: location.secrets_key_label,
            secrets_v1_escrow: location.secrets_v1_escrow,
        }
    }
}

/// Checks a recorded text field: at most `max` bytes, no control characters (empty only when
/// `may_be_empty`).
fn check_field(field: &str, value: &str, max: usize, may_be_empty: bool) -> Result<()> {
    if value.is_empty() && !may_be_empty {
        return Err(Error::failed(format!(
            "field `settings.root_key.{field}` is empty"
        )));
    }
    if value.len() > max {
        return Err(Error::failed(format!(
            "field `settings.root_key.{field}` is {} bytes long; PKCS#11 allows at most {max}",
            value.len()
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::failed(format!(
            "field `settings.root_key.{field}` contains a control character"
        )));
    }
    Ok(())
}

/// Refuses a URI attribute that contradicts the recorded value.
fn check_agrees<T: PartialEq + ?Sized>(
    attribute: &str,
    in_uri: Option<&T>,
    recorded: &T,
) -> Result<()> {
    match in_uri {
        Some(value) if value != recorded => Err(Error::failed(format!(
            "field `settings.root_key.uri`: its {attribute}= differs from the recorded one"
        ))),
        _ => Ok(()),
    }
}

impl TokenKeyLocation {
    /// A location from its parts, checked as the module documentation says.
    pub fn new(
        uri: Pkcs11Uri,
        token_label: String,
        token_serial: String,
        key_label: String,
        key_id: Vec<u8>,
    ) -> Result<Self> {
        if uri.pin_source().is_some() {
            return Err(Error::failed(
                "field `settings.root_key.uri` has a pin-source: a CA directory never records \
                 where a PIN comes from",
            ));
        }
        if uri.object_type().is_some_and(|t| t != ObjectType::Private) {
            return Err(Error::failed(
                "field `settings.root_key.uri` names an object that is not a private key",
            ));
        }
        check_field("token_label", &token_label, MAX_TOKEN_LABEL_LEN, false)?;
        check_field("token_serial", &token_serial, MAX_TOKEN_SERIAL_LEN, true)?;
        check_field("key_label", &key_label, MAX_OBJECT_LABEL_LEN, true)?;
        if key_id.len() > MAX_ID_LEN || (key_id.is_empty() && key_label.is_empty()) {
            return Err(Error::failed(format!(
                "field `settings.root_key.key_id` must be at most {MAX_ID_LEN} bytes, and the \
                 key must have a label or an id"
            )));
        }
        check_agrees("token", uri.token(), token_label.as_str())?;
        check_agrees("serial", uri.serial(), token_serial.as_str())?;
        check_agrees("object", uri.object(), key_label.as_str())?;
        check_agrees("id", uri.id(), key_id.as_slice())?;
        Ok(Self {
            uri,
            token_label,
            token_serial,
            key_label,
            key_id,
            secrets_key_label: None,
            secrets_v1_escrow: None,
        })
    }

    /// The same location with the label of the CA's SecretsKey object (version 2), checked:
    /// `qvca SecretsKey ` and 16 lower-case hex characters (the root's key id).
    pub fn with_secrets_key(mut self, label: String) -> Result<Self> {
        check_field("secrets_key_label", &label, MAX_OBJECT_LABEL_LEN, false)?;
        let kid_ok = label
            .strip_prefix(SECRETS_KEY_LABEL_PREFIX)
            .is_some_and(|kid| {
                kid.len() == 16
                    && kid
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            });
        if !kid_ok {
            return Err(Error::failed(format!(
                "field `settings.root_key.secrets_key_label` is not `{SECRETS_KEY_LABEL_PREFIX}` \
                 followed by the root's 16-hex-digit key id"
            )));
        }
        self.secrets_key_label = Some(label);
        Ok(self)
    }

    /// The same location with the escrowed version-1 SecretsKey (`hsm migrate`), checked for
    /// the shape of a `qvca:v2:<kid>:<base64url>` token of bounded length (only the token can
    /// open it).
    pub fn with_v1_escrow(mut self, escrow: String) -> Result<Self> {
        let well_formed = escrow.len() <= MAX_ESCROW_LEN
            && escrow
                .strip_prefix("qvca:v2:")
                .and_then(|rest| rest.split_once(':'))
                .is_some_and(|(kid, data)| {
                    kid.len() == 16
                        && kid.bytes().all(|b| b.is_ascii_hexdigit())
                        && !data.is_empty()
                        && data
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                });
        if !well_formed {
            return Err(Error::failed(format!(
                "field `settings.root_key.secrets_v1_escrow` is not a qvca:v2 token of at most \
                 {MAX_ESCROW_LEN} characters"
            )));
        }
        self.secrets_v1_escrow = Some(escrow);
        Ok(self)
    }

    /// The label of the CA's SecretsKey object in the token, when the CA records one.
    pub fn secrets_key_label(&self) -> Option<&str> {
        self.secrets_key_label.as_deref()
    }

    /// The escrowed version-1 SecretsKey (a `qvca:v2:` token sealed by the token's
    /// SecretsKey), when the CA was moved into the token from a key file.
    pub fn secrets_v1_escrow(&self) -> Option<&str> {
        self.secrets_v1_escrow.as_deref()
    }

    /// The location of `key`, found in (or made in) `token` from `uri` (the URI the user gave;
    /// its PIN source is dropped).
    pub fn of_key(uri: &Pkcs11Uri, token: &TokenDescription, key: &KeyObject) -> Result<Self> {
        Self::new(
            uri.without_pin_source(),
            token.label.clone(),
            token.serial.clone(),
            key.label().to_owned(),
            key.id().to_vec(),
        )
    }

    /// The URI as recorded (canonical, no PIN source).
    pub fn uri(&self) -> &Pkcs11Uri {
        &self.uri
    }

    /// The module path the URI names, if it names one.
    pub fn module_path(&self) -> Option<&Path> {
        self.uri.module_path()
    }

    /// The token's label.
    pub fn token_label(&self) -> &str {
        &self.token_label
    }

    /// The token's serial number (empty when the token reports none).
    pub fn token_serial(&self) -> &str {
        &self.token_serial
    }

    /// The key's label.
    pub fn key_label(&self) -> &str {
        &self.key_label
    }

    /// The key's id.
    pub fn key_id(&self) -> &[u8] {
        &self.key_id
    }

    /// Selects the recorded token: its label, and its serial when it has one.
    pub fn token_selector(&self) -> TokenSelector {
        TokenSelector {
            label: Some(self.token_label.clone()),
            serial: (!self.token_serial.is_empty()).then(|| self.token_serial.clone()),
            ..TokenSelector::default()
        }
    }

    /// Selects the recorded key: its label and id.
    pub fn key_selector(&self) -> KeySelector {
        KeySelector {
            label: (!self.key_label.is_empty()).then(|| self.key_label.clone()),
            id: (!self.key_id.is_empty()).then(|| self.key_id.clone()),
        }
    }

    /// Opens the recorded key through the module at `module` with `pin` and checks that it
    /// signs for `expected` (the root certificate's public key): loading the module, finding
    /// the token, logging in and the check all happen within `timeout`. `mismatch` is the error
    /// when the key is not the certificate's.
    pub fn open(
        &self,
        module: &Path,
        pin: &Pin,
        expected: &PublicKey,
        timeout: Duration,
        mismatch: impl FnOnce() -> Error,
    ) -> Result<TokenKey> {
        let what = "reaching the token, logging in and checking the key";
        let shown = module.display().to_string();
        let (module, pin) = (module.to_path_buf(), pin.clone());
        let (tokens, keys) = (self.token_selector(), self.key_selector());
        let expected_key = expected.clone();
        let (key, matches) = run_with_deadline(what, timeout, move || {
            let session = Module::open(&module)?.token(&tokens)?.login(&pin)?;
            let object = session.find_private_key(&keys)?;
            let pool = SessionPool::new(session, &PoolOptions::default())?;
            let key = TokenKey::new(pool, &object)?;
            let matches = key.public_key() == &expected_key && key.signs_for(&expected_key)?;
            Ok((key, matches))
        })
        .map_err(|e| {
            Error::new(
                e.kind(),
                format!(
                    "the CA's root key ({self}, PKCS#11 module {shown}) cannot be used: {}",
                    e.message()
                ),
            )
        })?;
        if !matches {
            return Err(mismatch());
        }
        Ok(key)
    }

    /// The module to load: `given` (an option or the environment) when there is one, else the
    /// recorded URI's `module-path`; a failure naming all three ways when there is none.
    pub fn module_to_load(&self, given: Option<&Path>) -> Result<PathBuf> {
        resolve_module(given, self.module_path())
    }
}

/// The module to load from `given` (`--pkcs11-module` or `QVCA_PKCS11_MODULE`) and the URI's
/// `module-path`: `given` wins; neither is a usage error that names the three ways.
pub fn resolve_module(given: Option<&Path>, in_uri: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = given {
        if !path.is_absolute() {
            return Err(Error::usage(format!(
                "the PKCS#11 module {} is not an absolute path: give the module's full path, \
                 e.g. /usr/lib/softhsm/libsofthsm2.so",
                path.display()
            )));
        }
        return Ok(path.to_path_buf());
    }
    in_uri.map(Path::to_path_buf).ok_or_else(|| {
        Error::usage(
            "no PKCS#11 module to load: give its path with --pkcs11-module PATH, \
             QVCA_PKCS11_MODULE, or module-path= in the URI (SoftHSM2: \
             /usr/lib/softhsm/libsofthsm2.so)",
        )
    })
}

/// The time limit for reaching a token, logging in and checking the key: 60 s (tests built
/// with the `test-hooks` feature may shorten it with `QVCA_TEST_PKCS11_TIMEOUT_SECS`, to prove
/// that an unreachable HSM is an error, not a hang).
pub fn connect_timeout() -> Duration {
    #[cfg(feature = "test-hooks")]
    if let Some(secs) = std::env::var("QVCA_TEST_PKCS11_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        return Duration::from_secs(secs);
    }
    DEFAULT_CONNECT_TIMEOUT
}

impl fmt::Display for TokenKeyLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token {:?}", self.token_label)?;
        if !self.token_serial.is_empty() {
            write!(f, " (serial {})", self.token_serial)?;
        }
        write!(f, ", key {:?}", self.key_label)?;
        if !self.key_id.is_empty() {
            write!(f, " (id {})", hex::encode(&self.key_id))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(uri: &str) -> serde_json::Value {
        serde_json::json!({
            "uri": uri,
            "token_label": "qvca",
            "token_serial": "0123abcd",
            "key_label": "root",
            "key_id": "0a0b",
        })
    }

    fn refused(value: serde_json::Value) -> String {
        serde_json::from_value::<TokenKeyLocation>(value)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn a_recorded_location_round_trips_through_json() {
        let value = recorded("pkcs11:token=qvca;object=root?module-path=/usr/lib/m.so");
        let location: TokenKeyLocation = serde_json::from_value(value.clone()).expect("valid");
        assert_eq!(location.key_id(), &[0x0a, 0x0b]);
        assert_eq!(location.module_path(), Some(Path::new("/usr/lib/m.so")));
        assert_eq!(serde_json::to_value(&location).expect("json"), value);
        assert_eq!(
            location.to_string(),
            "token \"qvca\" (serial 0123abcd), key \"root\" (id 0a0b)"
        );
        assert_eq!(
            location.key_selector().id.as_deref(),
            Some(&[0x0a, 0x0b][..])
        );
        assert_eq!(
            location.token_selector().serial.as_deref(),
            Some("0123abcd")
        );
    }

    #[test]
    fn a_hostile_recorded_location_is_refused_without_echoing_a_pin() {
        let msg = refused(recorded("pkcs11:token=qvca?pin-value=hunter2"));
        assert!(msg.contains("pin-value"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        let msg = refused(recorded("pkcs11:token=qvca;pin-value=hunter2"));
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(
            refused(recorded("pkcs11:token=qvca?pin-source=file:/etc/pin")).contains("pin-source")
        );
        assert!(refused(recorded("http://x")).contains("settings.root_key.uri"));
        assert!(refused(recorded("pkcs11:token=other")).contains("token="));
        assert!(refused(recorded("pkcs11:object=other")).contains("object="));
        assert!(refused(recorded("pkcs11:id=%0c")).contains("id="));
        assert!(refused(recorded("pkcs11:object=root;type=public")).contains("private key"));
        let mut value = recorded("pkcs11:token=qvca");
        value["key_id"] = "zz".into();
        assert!(refused(value).contains("key_id"));
        let mut value = recorded("pkcs11:token=qvca");
        value["token_label"] = "x".repeat(33).into();
        assert!(refused(value).contains("token_label"));
        let mut value = recorded("pkcs11:token=qvca");
        value["key_label"] = "a\u{1b}[2J".into();
        assert!(refused(value).contains("control"));
        let mut value = recorded("pkcs11:token=qvca");
        value["extra"] = 1.into();
        assert!(refused(value).contains("extra"));
    }

    #[test]
    fn the_secrets_key_label_and_escrow_round_trip_and_hostile_ones_are_refused() {
        let mut value = recorded("pkcs11:token=qvca;object=root");
        value["secrets_key_label"] = "qvca SecretsKey 0123456789abcdef".into();
        value["secrets_v1_escrow"] = "qvca:v2:0123456789abcdef:AAAA-_bb".into();
        let location: TokenKeyLocation = serde_json::from_value(value.clone()).expect("valid");
        assert_eq!(
            location.secrets_key_label(),
            Some("qvca SecretsKey 0123456789abcdef")
        );
        assert_eq!(
            location.secrets_v1_escrow(),
            Some("qvca:v2:0123456789abcdef:AAAA-_bb")
        );
        assert_eq!(serde_json::to_value(&location).expect("json"), value);
        // Absent: not written (an index of stage 1 reads and writes unchanged).
        let plain: TokenKeyLocation =
            serde_json::from_value(recorded("pkcs11:token=qvca")).expect("valid");
        let written = serde_json::to_value(&plain).expect("json");
        assert!(written.get("secrets_key_label").is_none(), "{written}");
        assert!(written.get("secrets_v1_escrow").is_none(), "{written}");
        for (field, bad) in [
            ("secrets_key_label", "root"),
            ("secrets_key_label", "qvca SecretsKey 0123"),
            ("secrets_key_label", "qvca SecretsKey 0123456789ABCDEF"),
            (
                "secrets_key_label",
                "qvca SecretsKey 0123456789abcdef\u{1b}",
            ),
            ("secrets_v1_escrow", "qvca:v1:0123456789abcdef:AAAA"),
            ("secrets_v1_escrow", "qvca:v2:0123:AAAA"),
            ("secrets_v1_escrow", "qvca:v2:0123456789abcdef:"),
            ("secrets_v1_escrow", "qvca:v2:0123456789abcdef:AA AA"),
        ] {
            let mut value = recorded("pkcs11:token=qvca");
            value[field] = bad.into();
            assert!(refused(value).contains(field), "{field} {bad:?}");
        }
        let mut value = recorded("pkcs11:token=qvca");
        value["secrets_v1_escrow"] = format!("qvca:v2:0123456789abcdef:{}", "A".repeat(600)).into();
        assert!(refused(value).contains("secrets_v1_escrow"));
    }

    #[test]
    fn the_module_comes_from_the_option_first_then_the_uri() {
        let uri = Path::new("/usr/lib/uri.so");
        let given = Path::new("/opt/given.so");
        assert_eq!(
            resolve_module(Some(given), Some(uri)).expect("given"),
            given
        );
        assert_eq!(resolve_module(None, Some(uri)).expect("uri"), uri);
        let err = resolve_module(None, None).expect_err("none");
        assert!(err.message().contains("--pkcs11-module"), "{err}");
        assert!(err.message().contains("QVCA_PKCS11_MODULE"), "{err}");
        assert!(resolve_module(Some(Path::new("rel.so")), None).is_err());
    }
}
