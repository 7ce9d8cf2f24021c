//! Finding a token in a module, logging in, and finding the key object in it.
//!
//! PKCS#11 login is per application and token: logging in on one session logs in every session
//! of this process on that token, and the login lasts while at least one session stays open.
//! A [`UserSession`] is one logged-in read-write session (read-write because AWS CloudHSM's
//! SDK 5 has no read-only sessions, and generating or importing keys needs one anyway).

use crate::error::{Error, Result};
use crate::pki::pkcs11::module::Module;
use crate::pki::pkcs11::pin::Pin;
use crate::pki::pkcs11::public_key::PublicKey;
use crate::pki::pkcs11::uri::{ObjectType, Pkcs11Uri};
use crate::pki::pkcs11::{Place, from_pkcs11};
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Limit, Slot, TokenInfo};
use cryptoki::types::AuthPin;
use std::fmt;

/// Which token to use: every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenSelector {
    /// The token label (`token=`).
    pub label: Option<String>,
    /// The token serial number (`serial=`).
    pub serial: Option<String>,
    /// The token manufacturer (`manufacturer=`).
    pub manufacturer: Option<String>,
    /// The token model (`model=`).
    pub model: Option<String>,
    /// The slot id (`slot-id=`).
    pub slot_id: Option<u64>,
}

impl TokenSelector {
    /// The token attributes of a PKCS#11 URI.
    pub fn from_uri(uri: &Pkcs11Uri) -> Self {
        Self {
            label: uri.token().map(str::to_owned),
            serial: uri.serial().map(str::to_owned),
            manufacturer: uri.manufacturer().map(str::to_owned),
            model: uri.model().map(str::to_owned),
            slot_id: uri.slot_id(),
        }
    }

    /// Selects a token by its label.
    pub fn by_label(label: &str) -> Self {
        Self {
            label: Some(label.to_owned()),
            ..Self::default()
        }
    }

    fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    fn matches(&self, token: &TokenDescription) -> bool {
        self.label.as_ref().is_none_or(|l| *l == token.label)
            && self.serial.as_ref().is_none_or(|s| *s == token.serial)
            && self
                .manufacturer
                .as_ref()
                .is_none_or(|m| *m == token.manufacturer)
            && self.model.as_ref().is_none_or(|m| *m == token.model)
            && self.slot_id.is_none_or(|s| s == token.slot_id)
    }
}

impl fmt::Display for TokenSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(l) = &self.label {
            parts.push(format!("label {l:?}"));
        }
        if let Some(s) = &self.serial {
            parts.push(format!("serial {s:?}"));
        }
        if let Some(m) = &self.manufacturer {
            parts.push(format!("manufacturer {m:?}"));
        }
        if let Some(m) = &self.model {
            parts.push(format!("model {m:?}"));
        }
        if let Some(s) = self.slot_id {
            parts.push(format!("slot-id {s}"));
        }
        if parts.is_empty() {
            f.write_str("any token")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// What a token says about itself (`CK_TOKEN_INFO`), plus its slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenDescription {
    /// The slot id (not stable across restarts on SoftHSM2; prefer label and serial).
    pub slot_id: u64,
    /// The token label.
    pub label: String,
    /// The token serial number.
    pub serial: String,
    /// The token manufacturer.
    pub manufacturer: String,
    /// The token model.
    pub model: String,
}

impl TokenDescription {
    fn from_info(slot: Slot, info: &TokenInfo) -> Self {
        Self {
            slot_id: slot.id(),
            label: info.label().to_owned(),
            serial: info.serial_number().to_owned(),
            manufacturer: info.manufacturer_id().to_owned(),
            model: info.model().to_owned(),
        }
    }
}

impl fmt::Display for TokenDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} (serial {:?}, slot {}, {} {})",
            self.label, self.serial, self.slot_id, self.manufacturer, self.model
        )
    }
}

impl Module {
    /// The initialised tokens this module offers.
    pub fn tokens(&self) -> Result<Vec<TokenDescription>> {
        Ok(self
            .token_infos()?
            .into_iter()
            .map(|(slot, info)| TokenDescription::from_info(slot, &info))
            .collect())
    }

    fn token_infos(&self) -> Result<Vec<(Slot, TokenInfo)>> {
        let place = self.place();
        let slots = self
            .context()
            .get_slots_with_initialized_token()
            .map_err(|e| from_pkcs11("listing the tokens", &place, &e))?;
        let mut out = Vec::with_capacity(slots.len());
        for slot in slots {
            match self.context().get_token_info(slot) {
                Ok(info) => out.push((slot, info)),
                // A token removed between the two calls is simply not there.
                Err(P11Error::Pkcs11(RvError::TokenNotPresent, _)) => {}
                Err(e) => return Err(from_pkcs11("reading a token's description", &place, &e)),
            }
        }
        Ok(out)
    }

    /// The one token that matches `selector`. With an empty selector, the module must offer
    /// exactly one token.
    pub fn token(&self, selector: &TokenSelector) -> Result<Token> {
        let all = self.token_infos()?;
        let seen = || {
            if all.is_empty() {
                "the module offers no initialised token (SoftHSM2: softhsm2-util --init-token --free --label LABEL, with SOFTHSM2_CONF naming its token directory)".to_owned()
            } else {
                let list: Vec<String> = all
                    .iter()
                    .map(|(s, i)| TokenDescription::from_info(*s, i).to_string())
                    .collect();
                format!("tokens seen: {}", list.join("; "))
            }
        };
        let matching: Vec<&(Slot, TokenInfo)> = all
            .iter()
            .filter(|(slot, info)| selector.matches(&TokenDescription::from_info(*slot, info)))
            .collect();
        match matching.as_slice() {
            [] => Err(Error::failed(format!(
                "no token with {selector} in the PKCS#11 module {}; {}",
                self.path().display(),
                seen()
            ))),
            [(slot, info)] => Ok(Token {
                module: self.clone(),
                slot: *slot,
                info: info.clone(),
                description: TokenDescription::from_info(*slot, info),
            }),
            _ if selector.is_empty() => Err(Error::usage(format!(
                "the PKCS#11 module {} offers several tokens: name one with token= (or serial=) in the URI; {}",
                self.path().display(),
                seen()
            ))),
            _ => Err(Error::usage(format!(
                "several tokens match {selector} in the PKCS#11 module {}: add serial= to the URI; {}",
                self.path().display(),
                seen()
            ))),
        }
    }
}

/// A token found in a module, not yet logged in. `Send + Sync`.
#[derive(Clone)]
pub struct Token {
    module: Module,
    slot: Slot,
    info: TokenInfo,
    description: TokenDescription,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("module", &self.module)
            .field("description", &self.description)
            .finish()
    }
}

impl Token {
    /// What the token says about itself.
    pub fn description(&self) -> &TokenDescription {
        &self.description
    }

    /// The module the token belongs to.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// The number of sessions the token allows at once, if it says.
    pub fn max_sessions(&self) -> Option<u64> {
        let limit = |l: Limit| match l {
            Limit::Max(n) => Some(n),
            Limit::Unavailable | Limit::Infinite => None,
        };
        match (
            limit(self.info.max_session_count()),
            limit(self.info.max_rw_session_count()),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True when the user PIN is locked after too many wrong tries.
    pub fn pin_locked(&self) -> bool {
        self.info.user_pin_locked()
    }

    pub(crate) fn slot(&self) -> Slot {
        self.slot
    }

    pub(crate) fn place(&self) -> Place {
        Place {
            token: Some(self.description.label.clone()),
            ..self.module.place()
        }
    }

    /// Opens a read-write session, for the session pool.
    pub(crate) fn open_session(&self) -> Result<Session> {
        self.module
            .context()
            .open_rw_session(self.slot)
            .map_err(|e| from_pkcs11("opening a session", &self.place(), &e))
    }

    /// Opens a session and logs in as the user with `pin`. (If this process is logged in to
    /// the token already, the token accepts the login without checking the PIN.)
    pub fn login(&self, pin: &Pin) -> Result<UserSession> {
        let place = self.place();
        // Fresh flags: the PIN may have been locked since the token was found.
        let info = self
            .module
            .context()
            .get_token_info(self.slot)
            .map_err(|e| from_pkcs11("reading the token's state", &place, &e))?;
        if info.user_pin_locked() {
            return Err(Error::authentication(format!(
                "the user PIN is locked ({place}): the token's security officer must set a new user PIN with the token's own tool; qvca does not try a PIN on a locked token"
            )));
        }
        if !info.user_pin_initialized() {
            return Err(Error::failed(format!(
                "the token has no user PIN yet ({place}): initialise it (SoftHSM2: softhsm2-util --init-token ... --pin PIN)"
            )));
        }
        let session = self.open_session()?;
        let auth = AuthPin::new(pin.expose().into());
        match session.login(UserType::User, Some(&auth)) {
            Ok(()) => {}
            // Another session of this process is logged in already: so is this one.
            Err(P11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(from_pkcs11("logging in", &place, &e)),
        }
        Ok(UserSession {
            token: self.clone(),
            session,
        })
    }
}

/// Which key object to use: a label, an id, or both (both must match).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySelector {
    /// The object label (`object=`).
    pub label: Option<String>,
    /// The object id (`id=`).
    pub id: Option<Vec<u8>>,
}

impl KeySelector {
    /// The object attributes of a PKCS#11 URI naming a private key. Refuses a URI whose
    /// `type` is not `private`, and one that names no object at all.
    pub fn from_uri(uri: &Pkcs11Uri) -> Result<Self> {
        if let Some(t) = uri.object_type()
            && t != ObjectType::Private
        {
            return Err(Error::usage(format!(
                "the PKCS#11 URI names a {} object (type={}); qvca needs the private key: use type=private or leave type out",
                t.as_str(),
                t.as_str()
            )));
        }
        let selector = Self {
            label: uri.object().map(str::to_owned),
            id: uri.id().map(<[u8]>::to_vec),
        };
        if selector.label.is_none() && selector.id.is_none() {
            return Err(Error::usage(
                "the PKCS#11 URI does not name a key: add object=LABEL and/or id=%xx (e.g. pkcs11:token=qvca;object=root)",
            ));
        }
        Ok(selector)
    }

    /// Selects a key by its label.
    pub fn by_label(label: &str) -> Self {
        Self {
            label: Some(label.to_owned()),
            id: None,
        }
    }

    pub(crate) fn template(&self, class: ObjectClass) -> Vec<Attribute> {
        let mut template = vec![Attribute::Class(class)];
        if let Some(label) = &self.label {
            template.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        if let Some(id) = &self.id {
            template.push(Attribute::Id(id.clone()));
        }
        template
    }
}

impl fmt::Display for KeySelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.label, &self.id) {
            (Some(l), Some(i)) => write!(f, "label {l:?} and id {}", hex::encode(i)),
            (Some(l), None) => write!(f, "label {l:?}"),
            (None, Some(i)) => write!(f, "id {}", hex::encode(i)),
            (None, None) => f.write_str("any label and id"),
        }
    }
}

/// A private key object found in (or created in) a token, with its public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyObject {
    pub(crate) handle: ObjectHandle,
    label: String,
    id: Vec<u8>,
    public_key: PublicKey,
}

impl KeyObject {
    /// The key's label (`CKA_LABEL`).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The key's id (`CKA_ID`).
    pub fn id(&self) -> &[u8] {
        &self.id
    }

    /// The key's public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// A selector that finds this key again (label and id).
    pub fn selector(&self) -> KeySelector {
        KeySelector {
            label: Some(self.label.clone()),
            id: Some(self.id.clone()),
        }
    }

    /// The URI naming this key in `token` (without module path or PIN source).
    pub fn uri(&self, token: &TokenDescription) -> Result<Pkcs11Uri> {
        let mut uri = Pkcs11Uri::new().with_token(&token.label)?;
        if !token.serial.is_empty() {
            uri = uri.with_serial(&token.serial)?;
        }
        if !self.label.is_empty() {
            uri = uri.with_object(&self.label)?;
        }
        if !self.id.is_empty() {
            uri = uri.with_id(&self.id)?;
        }
        Ok(uri.with_type(ObjectType::Private))
    }
}

/// A logged-in read-write session on a token. `Send`, not `Sync`: one thread at a time.
///
/// PKCS#11 keeps the login per process and token: while any session of this process is logged
/// in, a further [`Token::login`] succeeds without the token checking its PIN.
pub struct UserSession {
    token: Token,
    session: Session,
}

impl fmt::Debug for UserSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSession")
            .field("token", &self.token)
            .field("session", &self.session.handle())
            .finish()
    }
}

impl UserSession {
    /// The token this session is on.
    pub fn token(&self) -> &Token {
        &self.token
    }

    pub(crate) fn session(&self) -> &Session {
        &self.session
    }

    pub(crate) fn into_parts(self) -> (Token, Session) {
        (self.token, self.session)
    }

    pub(crate) fn place_for(&self, object: &str) -> Place {
        Place {
            object: Some(object.to_owned()),
            ..self.token.place()
        }
    }

    /// The one private key matching `selector`, with its public key; a failure naming what
    /// the token holds when there is none.
    pub fn find_private_key(&self, selector: &KeySelector) -> Result<KeyObject> {
        match self.find_private_key_if_any(selector)? {
            Some(key) => Ok(key),
            None => Err(self.no_such_key(selector, &self.place_for(&selector.to_string()))),
        }
    }

    /// The one private key matching `selector`, or `None` when there is none; several are
    /// refused (the URI must name one).
    pub fn find_private_key_if_any(&self, selector: &KeySelector) -> Result<Option<KeyObject>> {
        let place = self.place_for(&selector.to_string());
        let handles = self
            .session
            .find_objects(&selector.template(ObjectClass::PRIVATE_KEY))
            .map_err(|e| from_pkcs11("searching for the key", &place, &e))?;
        match handles.as_slice() {
            [] => Ok(None),
            [handle] => self.key_object(*handle).map(Some),
            several => {
                let found: Vec<String> = several.iter().map(|h| self.describe_object(*h)).collect();
                Err(Error::usage(format!(
                    "{} private keys match {selector} ({place}): {}; name one by both object= and id= in the URI",
                    several.len(),
                    found.join("; ")
                )))
            }
        }
    }

    /// The error for a key that is not there, listing what is.
    fn no_such_key(&self, selector: &KeySelector, place: &Place) -> Error {
        let keys: Vec<String> = self
            .session
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
            .unwrap_or_default()
            .into_iter()
            .map(|h| self.describe_object(h))
            .collect();
        let others = self
            .session
            .find_objects(&selector.template(ObjectClass::PUBLIC_KEY))
            .map(|v| !v.is_empty())
            .unwrap_or(false)
            || self
                .session
                .find_objects(&selector.template(ObjectClass::CERTIFICATE))
                .map(|v| !v.is_empty())
                .unwrap_or(false);
        let hint = if others {
            "; a public key or certificate with that name exists, but not the private key"
        } else {
            ""
        };
        let list = if keys.is_empty() {
            "the token holds no private keys".to_owned()
        } else {
            format!("private keys seen: {}", keys.join("; "))
        };
        Error::failed(format!(
            "no private key with {selector} ({place}){hint}; {list}"
        ))
    }

    /// "label \"x\", id 0102" for messages.
    pub(crate) fn describe_object(&self, handle: ObjectHandle) -> String {
        let attrs = self
            .session
            .get_attributes(handle, &[AttributeType::Label, AttributeType::Id])
            .unwrap_or_default();
        let mut label = String::new();
        let mut id = String::new();
        for attr in attrs {
            match attr {
                Attribute::Label(l) => label = String::from_utf8_lossy(&l).into_owned(),
                Attribute::Id(i) => id = hex::encode(i),
                _ => {}
            }
        }
        format!("label {label:?}, id {id}")
    }

    /// Reads a private key object's label, id and public key.
    pub(crate) fn key_object(&self, handle: ObjectHandle) -> Result<KeyObject> {
        let place = self.place_for(&self.describe_object(handle));
        let attrs = self
            .session
            .get_attributes(
                handle,
                &[
                    AttributeType::Label,
                    AttributeType::Id,
                    AttributeType::KeyType,
                ],
            )
            .map_err(|e| from_pkcs11("reading the key's attributes", &place, &e))?;
        let mut label = Vec::new();
        let mut id = Vec::new();
        let mut key_type = None;
        for attr in attrs {
            match attr {
                Attribute::Label(l) => label = l,
                Attribute::Id(i) => id = i,
                Attribute::KeyType(k) => key_type = Some(k),
                _ => {}
            }
        }
        let label = String::from_utf8(label)
            .map_err(|_| Error::failed(format!("the key's label is not UTF-8 ({place})")))?;
        let key_type = key_type.ok_or_else(|| {
            Error::failed(format!("the token does not say the key's type ({place})"))
        })?;
        let public_key = self.read_public_key(handle, key_type, &label, &id, &place)?;
        Ok(KeyObject {
            handle,
            label,
            id,
            public_key,
        })
    }

    /// The public key of a private key: from the matching public key object, else from the
    /// private key's own public attributes.
    fn read_public_key(
        &self,
        private: ObjectHandle,
        key_type: KeyType,
        label: &str,
        id: &[u8],
        place: &Place,
    ) -> Result<PublicKey> {
        let source = self.public_key_source(private, key_type, label, id, place)?;
        if key_type == KeyType::RSA {
            return self.read_rsa_public_key(source, place);
        }
        if key_type == KeyType::EC {
            return self.read_ec_public_key(source, place);
        }
        Err(Error::failed(format!(
            "the key is of type {key_type}, not RSA or EC ({place}); qvca roots are RSA or ECDSA"
        )))
    }

    /// The object to read the public key of `private` from: the one public key object of
    /// `key_type` with its id (or, without an id, its label), else `private` itself.
    fn public_key_source(
        &self,
        private: ObjectHandle,
        key_type: KeyType,
        label: &str,
        id: &[u8],
        place: &Place,
    ) -> Result<ObjectHandle> {
        let mut template = vec![
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(key_type),
        ];
        if !id.is_empty() {
            template.push(Attribute::Id(id.to_vec()));
        } else {
            template.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        let publics = self
            .session
            .find_objects(&template)
            .map_err(|e| from_pkcs11("searching for the public key", place, &e))?;
        // Several public keys with one id would be a broken token; take none of them.
        Ok(match publics.as_slice() {
            [one] => *one,
            _ => private,
        })
    }

    /// The RSA public key (modulus and exponent) of the object `source`.
    fn read_rsa_public_key(&self, source: ObjectHandle, place: &Place) -> Result<PublicKey> {
        let attrs = self
            .session
            .get_attributes(
                source,
                &[AttributeType::Modulus, AttributeType::PublicExponent],
            )
            .map_err(|e| from_pkcs11("reading the RSA public key", place, &e))?;
        let (mut n, mut e) = (None, None);
        for attr in attrs {
            match attr {
                Attribute::Modulus(m) => n = Some(m),
                Attribute::PublicExponent(x) => e = Some(x),
                _ => {}
            }
        }
        match (n, e) {
            (Some(n), Some(e)) => PublicKey::from_rsa(&n, &e),
            _ => Err(Error::failed(format!(
                "the token shows no RSA public key for the key ({place}); import the public key object with the same id"
            ))),
        }
    }

    /// The EC public key of the object `source`: from its curve and point, else from its
    /// SubjectPublicKeyInfo.
    fn read_ec_public_key(&self, source: ObjectHandle, place: &Place) -> Result<PublicKey> {
        let attrs = self
            .session
            .get_attributes(
                source,
                &[
                    AttributeType::EcParams,
                    AttributeType::EcPoint,
                    AttributeType::PublicKeyInfo,
                ],
            )
            .map_err(|e| from_pkcs11("reading the EC public key", place, &e))?;
        let (mut params, mut point, mut spki) = (None, None, None);
        for attr in attrs {
            match attr {
                Attribute::EcParams(p) => params = Some(p),
                Attribute::EcPoint(p) => point = Some(p),
                Attribute::PublicKeyInfo(s) if !s.is_empty() => spki = Some(s),
                _ => {}
            }
        }
        match (params, point, spki) {
            (Some(params), Some(point), _) => PublicKey::from_ec_attributes(&params, &point),
            (_, _, Some(spki)) => PublicKey::from_spki_der(&spki),
            _ => Err(Error::failed(format!(
                "the token has no public key object for the EC key ({place}); import the public key with the same id (an EC private key does not carry its public point)"
            ))),
        }
    }

    /// True when any object (of any class) has this label.
    pub(crate) fn label_exists(&self, label: &str) -> Result<bool> {
        let place = self.place_for(&format!("label {label:?}"));
        self.session
            .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
            .map(|v| !v.is_empty())
            .map_err(|e| from_pkcs11("searching for objects", &place, &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn uri(text: &str) -> Pkcs11Uri {
        Pkcs11Uri::parse(text).expect(text)
    }

    #[test]
    fn a_key_selector_takes_label_and_id_from_the_uri() {
        let selector =
            KeySelector::from_uri(&uri("pkcs11:token=t;object=root;id=%01%02")).expect("selector");
        assert_eq!(selector.label.as_deref(), Some("root"));
        assert_eq!(selector.id.as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(selector.to_string(), "label \"root\" and id 0102");
    }

    #[test]
    fn a_uri_naming_no_key_or_a_public_key_is_a_usage_error() {
        let err = KeySelector::from_uri(&uri("pkcs11:token=t")).expect_err("no key");
        assert_eq!(err.kind(), ErrorKind::Usage);
        assert!(err.message().contains("object="), "{err}");
        let err =
            KeySelector::from_uri(&uri("pkcs11:object=root;type=public")).expect_err("public");
        assert_eq!(err.kind(), ErrorKind::Usage);
        assert!(err.message().contains("type=private"), "{err}");
        assert!(KeySelector::from_uri(&uri("pkcs11:object=root;type=private")).is_ok());
    }

    #[test]
    fn a_token_selector_matches_every_given_field() {
        let token = TokenDescription {
            slot_id: 3,
            label: "qvca".into(),
            serial: "abc".into(),
            manufacturer: "SoftHSM project".into(),
            model: "SoftHSM v2".into(),
        };
        assert!(TokenSelector::default().matches(&token));
        assert!(
            TokenSelector::from_uri(&uri("pkcs11:token=qvca;serial=abc;slot-id=3")).matches(&token)
        );
        assert!(!TokenSelector::from_uri(&uri("pkcs11:token=qvca;serial=abd")).matches(&token));
        assert!(!TokenSelector::from_uri(&uri("pkcs11:model=other")).matches(&token));
        assert_eq!(
            TokenSelector::from_uri(&uri("pkcs11:token=qvca;serial=abc")).to_string(),
            "label \"qvca\", serial \"abc\""
        );
    }
}
