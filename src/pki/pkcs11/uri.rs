//! PKCS#11 URIs (RFC 7512): `pkcs11:token=…;object=…;id=%01%02?module-path=…&pin-source=file:…`.
//!
//! Parsing is strict because a URI reaches qvca from command lines and CA directories: every
//! attribute must be one qvca understands, none may repeat, values are percent-decoded and
//! checked against PKCS#11's own limits, and the whole URI is bounded in length. `pin-value`
//! is refused: a PIN in a URI ends up in shell history, process lists and the CA directory.
//! The [`Display`](std::fmt::Display) form is canonical and can never contain a PIN.
//!
//! Supported path attributes: `token`, `manufacturer`, `model`, `serial`, `slot-id`, `object`,
//! `id`, `type`. Supported query attributes: `module-path`, `pin-source`.

use crate::error::{Error, Result};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The longest URI accepted, in bytes.
pub const MAX_URI_LEN: usize = 4096;
/// The longest object label accepted, in bytes (PKCS#11 itself sets no limit).
pub const MAX_OBJECT_LABEL_LEN: usize = 255;
/// The longest object id accepted, in bytes.
pub const MAX_ID_LEN: usize = 255;
/// The longest module or PIN file path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 1024;

/// Characters besides RFC 3986 `unreserved` that may appear unencoded in a path value
/// (RFC 7512 `pk11-path-res-avail`).
const PATH_RES_AVAIL: &[u8] = b":[]@!$'()*+,=&";
/// Characters besides RFC 3986 `unreserved` that may appear unencoded in a query value
/// (RFC 7512 `pk11-query-res-avail`).
const QUERY_RES_AVAIL: &[u8] = b":[]@!$'()*+,=/?|";

/// The `type` attribute: which class of object the URI names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectType {
    /// `type=private`: a private key (what qvca signs with).
    Private,
    /// `type=public`: a public key.
    Public,
    /// `type=cert`: a certificate.
    Cert,
    /// `type=secret-key`: a secret (symmetric) key.
    SecretKey,
    /// `type=data`: a data object.
    Data,
}

impl ObjectType {
    /// The attribute value as written in a URI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Public => "public",
            Self::Cert => "cert",
            Self::SecretKey => "secret-key",
            Self::Data => "data",
        }
    }

    fn parse(value: &str) -> Result<Self> {
        Ok(match value {
            "private" => Self::Private,
            "public" => Self::Public,
            "cert" => Self::Cert,
            "secret-key" => Self::SecretKey,
            "data" => Self::Data,
            other => {
                return Err(Error::usage(format!(
                    "the PKCS#11 URI has type={other:?}; RFC 7512 types are private, public, cert, secret-key and data (qvca's root key is type=private)"
                )));
            }
        })
    }
}

/// A PKCS#11 URI, parsed and validated. Construct it with [`str::parse`] or [`Pkcs11Uri::new`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    token: Option<String>,
    manufacturer: Option<String>,
    model: Option<String>,
    serial: Option<String>,
    slot_id: Option<u64>,
    object: Option<String>,
    id: Option<Vec<u8>>,
    object_type: Option<ObjectType>,
    module_path: Option<PathBuf>,
    pin_source: Option<PathBuf>,
}

impl Pkcs11Uri {
    /// An empty URI (`pkcs11:`), to be filled with the `with_*` methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// The token label (`token=`).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The token manufacturer (`manufacturer=`).
    pub fn manufacturer(&self) -> Option<&str> {
        self.manufacturer.as_deref()
    }

    /// The token model (`model=`).
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// The token serial number (`serial=`).
    pub fn serial(&self) -> Option<&str> {
        self.serial.as_deref()
    }

    /// The slot id (`slot-id=`).
    pub fn slot_id(&self) -> Option<u64> {
        self.slot_id
    }

    /// The object label (`object=`).
    pub fn object(&self) -> Option<&str> {
        self.object.as_deref()
    }

    /// The object id (`id=`), as bytes.
    pub fn id(&self) -> Option<&[u8]> {
        self.id.as_deref()
    }

    /// The object type (`type=`).
    pub fn object_type(&self) -> Option<ObjectType> {
        self.object_type
    }

    /// The PKCS#11 module to load (`module-path=`).
    pub fn module_path(&self) -> Option<&Path> {
        self.module_path.as_deref()
    }

    /// The file holding the PIN (`pin-source=file:…`).
    pub fn pin_source(&self) -> Option<&Path> {
        self.pin_source.as_deref()
    }

    /// Sets the token label, checked like a parsed one.
    pub fn with_token(mut self, label: &str) -> Result<Self> {
        self.token = Some(checked_text("token", label, 32)?);
        Ok(self)
    }

    /// Sets the token serial number, checked like a parsed one.
    pub fn with_serial(mut self, serial: &str) -> Result<Self> {
        self.serial = Some(checked_text("serial", serial, 16)?);
        Ok(self)
    }

    /// Sets the object label, checked like a parsed one.
    pub fn with_object(mut self, label: &str) -> Result<Self> {
        self.object = Some(checked_text("object", label, MAX_OBJECT_LABEL_LEN)?);
        Ok(self)
    }

    /// Sets the object id.
    pub fn with_id(mut self, id: &[u8]) -> Result<Self> {
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return Err(Error::usage(format!(
                "an object id must be 1 to {MAX_ID_LEN} bytes long, not {}",
                id.len()
            )));
        }
        self.id = Some(id.to_vec());
        Ok(self)
    }

    /// Sets the object type.
    pub fn with_type(mut self, object_type: ObjectType) -> Self {
        self.object_type = Some(object_type);
        self
    }

    /// Sets the module path, which must be absolute.
    pub fn with_module_path(mut self, path: &Path) -> Result<Self> {
        self.module_path = Some(checked_path("module-path", path)?);
        Ok(self)
    }

    /// The same URI without its query (no module path, no PIN source): the form qvca
    /// records in a CA directory, since both are properties of the machine, not of the key.
    pub fn without_query(&self) -> Self {
        Self {
            module_path: None,
            pin_source: None,
            ..self.clone()
        }
    }

    /// The same URI without its PIN source (the module path kept): the form a CA directory
    /// records, since where the PIN comes from is a property of each command run.
    pub fn without_pin_source(&self) -> Self {
        Self {
            pin_source: None,
            ..self.clone()
        }
    }

    /// Parses a URI; see the module documentation for what is accepted.
    pub fn parse(text: &str) -> Result<Self> {
        if text.len() > MAX_URI_LEN {
            return Err(Error::usage(format!(
                "the PKCS#11 URI is {} bytes long; at most {MAX_URI_LEN} are accepted",
                text.len()
            )));
        }
        if let Some((pos, c)) = text
            .char_indices()
            .find(|(_, c)| !c.is_ascii() || c.is_ascii_control() || *c == ' ')
        {
            return Err(Error::usage(format!(
                "the PKCS#11 URI has the character {c:?} at byte {pos}, which must be percent-encoded (a space is %20)"
            )));
        }
        let rest = match text.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case("pkcs11:") => &text[7..],
            _ => {
                return Err(Error::usage(
                    "a PKCS#11 URI starts with \"pkcs11:\", e.g. pkcs11:token=qvca;object=root (RFC 7512)",
                ));
            }
        };
        if rest.contains('#') {
            return Err(Error::usage(
                "the PKCS#11 URI has a fragment ('#'); RFC 7512 URIs have none: percent-encode a '#' in a value as %23",
            ));
        }
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        let mut uri = Self::default();
        if !path.is_empty() {
            for attribute in path.split(';') {
                uri.set_path_attribute(attribute)?;
            }
        }
        if let Some(query) = query {
            if query.is_empty() {
                return Err(Error::usage(
                    "the PKCS#11 URI ends with an empty query ('?'): remove the '?' or add module-path=…",
                ));
            }
            for attribute in query.split('&') {
                uri.set_query_attribute(attribute)?;
            }
        }
        Ok(uri)
    }

    fn set_path_attribute(&mut self, attribute: &str) -> Result<()> {
        refuse_pin_value(attribute)?;
        let (name, raw) = split_attribute(attribute, "path")?;
        let value = percent_decode(name, raw, PATH_RES_AVAIL)?;
        match name {
            "token" => set_once(&mut self.token, name, text_value(name, value, 32)?),
            "manufacturer" => set_once(&mut self.manufacturer, name, text_value(name, value, 32)?),
            "model" => set_once(&mut self.model, name, text_value(name, value, 16)?),
            "serial" => set_once(&mut self.serial, name, text_value(name, value, 16)?),
            "object" => set_once(
                &mut self.object,
                name,
                text_value(name, value, MAX_OBJECT_LABEL_LEN)?,
            ),
            "slot-id" => {
                let text = text_value(name, value, 20)?;
                if !text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Error::usage(format!(
                        "slot-id={text:?} in the PKCS#11 URI is not a decimal number"
                    )));
                }
                let slot = text.parse::<u64>().map_err(|_| {
                    Error::usage(format!("slot-id={text} in the PKCS#11 URI is too large"))
                })?;
                set_once(&mut self.slot_id, name, slot)
            }
            "id" => {
                if value.is_empty() || value.len() > MAX_ID_LEN {
                    return Err(Error::usage(format!(
                        "id= in the PKCS#11 URI must be 1 to {MAX_ID_LEN} bytes, percent-encoded (e.g. id=%01%02)"
                    )));
                }
                set_once(&mut self.id, name, value)
            }
            "type" => {
                let text = text_value(name, value, 16)?;
                set_once(&mut self.object_type, name, ObjectType::parse(&text)?)
            }
            "library-manufacturer"
            | "library-description"
            | "library-version"
            | "slot-description"
            | "slot-manufacturer" => Err(Error::usage(format!(
                "the PKCS#11 URI attribute {name}= is valid RFC 7512 but qvca does not use it: select the token with token=, serial= or slot-id= instead"
            ))),
            _ => Err(Error::usage(format!(
                "the PKCS#11 URI has the unknown attribute {name:?}; qvca understands token, manufacturer, model, serial, slot-id, object, id and type (and module-path, pin-source after '?')"
            ))),
        }
    }

    fn set_query_attribute(&mut self, attribute: &str) -> Result<()> {
        refuse_pin_value(attribute)?;
        let (name, raw) = split_attribute(attribute, "query")?;
        let value = percent_decode(name, raw, QUERY_RES_AVAIL)?;
        match name {
            "module-path" => {
                let text = text_value(name, value, MAX_PATH_LEN)?;
                let path = checked_path(name, Path::new(&text))?;
                set_once(&mut self.module_path, name, path)
            }
            "pin-source" => {
                let text = text_value(name, value, MAX_PATH_LEN)?;
                let path = pin_source_path(&text)?;
                set_once(&mut self.pin_source, name, path)
            }
            "module-name" => Err(Error::usage(
                "the PKCS#11 URI attribute module-name= is not supported: give the module's full path with module-path=/path/to/module.so",
            )),
            _ => Err(Error::usage(format!(
                "the PKCS#11 URI has the unknown query attribute {name:?}; qvca understands module-path and pin-source"
            ))),
        }
    }
}

impl FromStr for Pkcs11Uri {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pkcs11:")?;
        let text = |name: &str, value: &Option<String>| {
            value
                .as_ref()
                .map(|v| format!("{name}={}", encode(v.as_bytes(), PATH_ENCODE_KEEP)))
        };
        let path: Vec<String> = [
            text("token", &self.token),
            text("manufacturer", &self.manufacturer),
            text("model", &self.model),
            text("serial", &self.serial),
            self.slot_id.map(|slot| format!("slot-id={slot}")),
            text("object", &self.object),
            self.id.as_ref().map(|id| format!("id={}", encode(id, b""))),
            self.object_type.map(|t| format!("type={}", t.as_str())),
        ]
        .into_iter()
        .flatten()
        .collect();
        f.write_str(&path.join(";"))?;
        let mut query: Vec<String> = Vec::new();
        if let Some(module) = &self.module_path {
            query.push(format!(
                "module-path={}",
                encode(module.to_string_lossy().as_bytes(), QUERY_ENCODE_KEEP)
            ));
        }
        if let Some(pin) = &self.pin_source {
            query.push(format!(
                "pin-source=file:{}",
                encode(pin.to_string_lossy().as_bytes(), QUERY_ENCODE_KEEP)
            ));
        }
        if !query.is_empty() {
            write!(f, "?{}", query.join("&"))?;
        }
        Ok(())
    }
}

/// Reserved characters the canonical form leaves unencoded in path values ('&' is encoded
/// although RFC 7512 allows it, so that a value never looks like a query delimiter).
const PATH_ENCODE_KEEP: &[u8] = b":[]@!$'()*+,=";
/// Reserved characters the canonical form leaves unencoded in query values.
const QUERY_ENCODE_KEEP: &[u8] = b":[]@!$'()*+,=/";

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes everything except RFC 3986 `unreserved` and the characters in `keep`.
fn encode(bytes: &[u8], keep: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if is_unreserved(b) || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Refuses `pin-value` wherever it appears, before anything could echo its value.
fn refuse_pin_value(attribute: &str) -> Result<()> {
    if attribute == "pin-value" || attribute.starts_with("pin-value=") {
        return Err(Error::usage(
            "the PKCS#11 URI contains pin-value: qvca refuses PINs in URIs, because they end up in shell history, process lists and the CA directory; put the PIN in a file only you can read and use pin-source=file:/path/to/pin or --pin-file",
        ));
    }
    Ok(())
}

fn split_attribute<'a>(attribute: &'a str, component: &str) -> Result<(&'a str, &'a str)> {
    if attribute.is_empty() {
        return Err(Error::usage(format!(
            "the PKCS#11 URI has an empty attribute in its {component} (two separators in a row, or one at the end)"
        )));
    }
    let Some((name, value)) = attribute.split_once('=') else {
        // Not echoed: a stray value could be a secret pasted in the wrong place.
        return Err(Error::usage(format!(
            "the PKCS#11 URI has an attribute without '=' in its {component}: attributes are name=value, separated by ';' (and '&' after '?')"
        )));
    };
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        let shown: String = name.chars().take(40).collect();
        return Err(Error::usage(format!(
            "the PKCS#11 URI has the malformed attribute name {shown:?}: names are lower-case, like token or module-path"
        )));
    }
    if value.is_empty() {
        return Err(Error::usage(format!(
            "the PKCS#11 URI attribute {name}= has an empty value: give a value or leave the attribute out"
        )));
    }
    Ok((name, value))
}

/// Decodes `%XX` escapes, refusing raw characters RFC 7512 does not allow in this component.
fn percent_decode(name: &str, raw: &str, res_avail: &[u8]) -> Result<Vec<u8>> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            let decoded = hex
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(decoded) = decoded else {
                return Err(Error::usage(format!(
                    "the value of {name}= in the PKCS#11 URI has a '%' that is not followed by two hex digits (write a literal '%' as %25)"
                )));
            };
            out.push(decoded);
            i += 3;
        } else if is_unreserved(b) || res_avail.contains(&b) {
            out.push(b);
            i += 1;
        } else {
            return Err(Error::usage(format!(
                "the value of {name}= in the PKCS#11 URI contains {:?}, which must be percent-encoded as %{b:02X}",
                char::from(b)
            )));
        }
    }
    Ok(out)
}

fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<()> {
    if slot.is_some() {
        return Err(Error::usage(format!(
            "the PKCS#11 URI gives {name}= twice; give each attribute once"
        )));
    }
    *slot = Some(value);
    Ok(())
}

/// A decoded value that must be text: UTF-8, no control characters, at most `max` bytes.
fn text_value(name: &str, value: Vec<u8>, max: usize) -> Result<String> {
    let text = String::from_utf8(value).map_err(|_| {
        Error::usage(format!(
            "the value of {name}= in the PKCS#11 URI is not UTF-8 text after percent-decoding"
        ))
    })?;
    checked_text(name, &text, max)
}

fn checked_text(name: &str, text: &str, max: usize) -> Result<String> {
    if text.is_empty() {
        return Err(Error::usage(format!("{name} must not be empty")));
    }
    if text.len() > max {
        return Err(Error::usage(format!(
            "{name} is {} bytes long; PKCS#11 allows at most {max}",
            text.len()
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(Error::usage(format!(
            "{name} contains a control character, which no token label or path has"
        )));
    }
    Ok(text.to_owned())
}

fn checked_path(name: &str, path: &Path) -> Result<PathBuf> {
    let shown = path.display();
    if path.as_os_str().len() > MAX_PATH_LEN {
        return Err(Error::usage(format!(
            "{name} is longer than {MAX_PATH_LEN} bytes"
        )));
    }
    if !path.is_absolute() {
        return Err(Error::usage(format!(
            "{name} {shown} is not an absolute path: give the full path, e.g. /usr/lib/softhsm/libsofthsm2.so"
        )));
    }
    Ok(path.to_path_buf())
}

/// `pin-source` as a path: `file:/p`, `file:///p` or a plain absolute path.
fn pin_source_path(text: &str) -> Result<PathBuf> {
    let path = if let Some(rest) = text.strip_prefix("file://") {
        if !rest.starts_with('/') {
            return Err(Error::usage(
                "pin-source=file://host/… names another host; use pin-source=file:/path/to/pin-file",
            ));
        }
        rest
    } else if let Some(rest) = text.strip_prefix("file:") {
        rest
    } else if text.starts_with('/') {
        text
    } else {
        return Err(Error::usage(
            "pin-source in the PKCS#11 URI must be a file: pin-source=file:/path/to/pin-file (commands and other schemes are not supported)",
        ));
    };
    checked_path("pin-source", Path::new(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn usage(text: &str) -> String {
        let err = Pkcs11Uri::parse(text).expect_err(text);
        assert_eq!(err.kind(), ErrorKind::Usage, "{text}: {err}");
        err.message().to_owned()
    }

    #[test]
    fn a_full_uri_is_parsed_and_decoded() {
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=My%20Token;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;serial=0123abcd;slot-id=7;object=qvca%20root;id=%01%02%ff;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
        )
        .expect("valid");
        assert_eq!(uri.token(), Some("My Token"));
        assert_eq!(uri.manufacturer(), Some("SoftHSM project"));
        assert_eq!(uri.model(), Some("SoftHSM v2"));
        assert_eq!(uri.serial(), Some("0123abcd"));
        assert_eq!(uri.slot_id(), Some(7));
        assert_eq!(uri.object(), Some("qvca root"));
        assert_eq!(uri.id(), Some(&[1u8, 2, 0xff][..]));
        assert_eq!(uri.object_type(), Some(ObjectType::Private));
        assert_eq!(
            uri.module_path(),
            Some(Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert_eq!(uri.pin_source(), Some(Path::new("/run/pin")));
    }

    #[test]
    fn display_is_canonical_and_parses_back_to_the_same_uri() {
        for text in [
            "pkcs11:token=qvca;object=root",
            "pkcs11:object=a%3Bb%3Fc%25d&e;token=t%2Fx",
            "pkcs11:id=%00%FF;type=private?module-path=/opt/a%20b/m.so",
            "PKCS11:serial=12;slot-id=0?pin-source=file:///etc/pin",
            "pkcs11:",
            "pkcs11:token=:[]@!$'()*+,=&?module-path=/x/:[]@!$'()*+,=/?|",
        ] {
            let uri = Pkcs11Uri::parse(text).expect(text);
            let shown = uri.to_string();
            assert_eq!(
                Pkcs11Uri::parse(&shown).expect(&shown),
                uri,
                "{text} -> {shown}"
            );
        }
        let uri = Pkcs11Uri::parse("pkcs11:object=root;token=qvca;id=%aB").expect("valid");
        assert_eq!(uri.to_string(), "pkcs11:token=qvca;object=root;id=%AB");
    }

    #[test]
    fn pin_value_is_refused_without_echoing_the_pin() {
        let msg = usage("pkcs11:token=qvca?pin-value=hunter2");
        assert!(msg.contains("pin-source"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        let msg = usage("pkcs11:token=qvca?module-path=/m.so&pin-value=hunter2&pin-value=x");
        assert!(!msg.contains("hunter2"), "{msg}");
        usage("pkcs11:token=qvca?pin-value");
        let msg = usage("pkcs11:token=qvca;pin-value=hunter2");
        assert!(msg.contains("pin-source"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        let msg = usage("pkcs11:token=qvca;hunter2");
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn display_never_contains_a_pin_even_with_a_pin_source() {
        let uri = Pkcs11Uri::parse("pkcs11:token=t?pin-source=file:/run/pin").expect("valid");
        assert_eq!(uri.to_string(), "pkcs11:token=t?pin-source=file:/run/pin");
        assert_eq!(uri.without_query().to_string(), "pkcs11:token=t");
        let uri = Pkcs11Uri::parse("pkcs11:token=t?module-path=/m.so&pin-source=file:/run/pin")
            .expect("valid");
        assert_eq!(
            uri.without_pin_source().to_string(),
            "pkcs11:token=t?module-path=/m.so"
        );
    }

    #[test]
    fn unknown_and_unsupported_attributes_are_refused_by_name() {
        assert!(usage("pkcs11:token=a;colour=red").contains("\"colour\""));
        assert!(usage("pkcs11:token=a;x-vendor=1").contains("x-vendor"));
        assert!(usage("pkcs11:library-version=3").contains("library-version"));
        assert!(usage("pkcs11:token=a?module-name=softhsm2").contains("module-path"));
        assert!(usage("pkcs11:token=a?foo=bar").contains("\"foo\""));
        assert!(usage("pkcs11:Token=a").contains("lower-case"));
    }

    #[test]
    fn duplicate_attributes_are_refused() {
        assert!(usage("pkcs11:token=a;token=a").contains("token= twice"));
        assert!(usage("pkcs11:id=%01;id=%01").contains("id= twice"));
        assert!(usage("pkcs11:token=a?module-path=/a&module-path=/b").contains("twice"));
    }

    #[test]
    fn hostile_inputs_are_usage_errors_not_panics() {
        let long = format!("pkcs11:object={}", "a".repeat(MAX_URI_LEN));
        for text in [
            "",
            "pkcs11",
            "pkcs1:token=a",
            "http://x",
            "pkcs11:token",
            "pkcs11:=a",
            "pkcs11:token=",
            "pkcs11:token=a;",
            "pkcs11:;token=a",
            "pkcs11:token=a;;object=b",
            "pkcs11:token=%",
            "pkcs11:token=%4",
            "pkcs11:token=%zz",
            "pkcs11:token=%C3%28",
            "pkcs11:token=a%00b",
            "pkcs11:token=a b",
            "pkcs11:token=a\nb",
            "pkcs11:token=é",
            "pkcs11:token=a#frag",
            "pkcs11:token=a/b",
            "pkcs11:token=a?",
            "pkcs11:token=a?&module-path=/m",
            "pkcs11:slot-id=-1",
            "pkcs11:slot-id=99999999999999999999",
            "pkcs11:slot-id=1e3",
            "pkcs11:type=secret",
            "pkcs11:token=123456789012345678901234567890123",
            "pkcs11:serial=12345678901234567",
            "pkcs11:token=a?module-path=relative/m.so",
            "pkcs11:token=a?pin-source=|/bin/cat",
            "pkcs11:token=a?pin-source=file://host/pin",
            "pkcs11:token=a?pin-source=env:PIN",
            "pkcs11:token=a?module-path=/a&b",
            long.as_str(),
        ] {
            usage(text);
        }
    }

    #[test]
    fn a_long_id_is_refused() {
        let id = "%01".repeat(MAX_ID_LEN + 1);
        usage(&format!("pkcs11:id={id}"));
        let id = "%01".repeat(MAX_ID_LEN);
        assert!(Pkcs11Uri::parse(&format!("pkcs11:id={id}")).is_ok());
    }

    #[test]
    fn the_builder_checks_like_the_parser() {
        let uri = Pkcs11Uri::new()
            .with_token("qvca")
            .and_then(|u| u.with_object("root ca"))
            .and_then(|u| u.with_id(&[0xde, 0xad]))
            .map(|u| u.with_type(ObjectType::Private))
            .and_then(|u| u.with_module_path(Path::new("/usr/lib/softhsm/libsofthsm2.so")))
            .expect("valid");
        assert_eq!(
            uri.to_string(),
            "pkcs11:token=qvca;object=root%20ca;id=%DE%AD;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so"
        );
        assert!(Pkcs11Uri::new().with_token(&"x".repeat(33)).is_err());
        assert!(Pkcs11Uri::new().with_id(&[]).is_err());
        assert!(
            Pkcs11Uri::new()
                .with_module_path(Path::new("m.so"))
                .is_err()
        );
    }
}
