//! Certificate profiles: key type, validity, key usages, EKUs and subject fields of the root,
//! Server and Client certificates.
//!
//! The profiles live as TOML templates in `templates/` and are compiled into the binary; a
//! `--template FILE` replaces one. Every error names the template, the line and the field.

use crate::domain::kind::CertKind;
use crate::domain::subject::SubjectFields;
use crate::error::{Error, Result};
use crate::pki::key::KeyType;
use serde::Deserialize;
use std::path::Path;
use toml::Spanned;

/// The built-in root profile (`templates/root.toml`).
pub const ROOT_TEMPLATE: &str = include_str!("../../templates/root.toml");
/// The built-in Server profile (`templates/server.toml`).
pub const SERVER_TEMPLATE: &str = include_str!("../../templates/server.toml");
/// The built-in Client profile (`templates/client.toml`).
pub const CLIENT_TEMPLATE: &str = include_str!("../../templates/client.toml");

/// The longest validity a profile may ask for (100 years).
const MAX_VALIDITY_DAYS: u32 = 36_525;

/// A key usage bit (RFC 5280 4.2.1.3), named as in the templates; the discriminant is the bit,
/// which gives the name ([`KeyUsage::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUsage {
    /// digitalSignature
    DigitalSignature = 0,
    /// contentCommitment (formerly nonRepudiation)
    ContentCommitment = 1,
    /// keyEncipherment (RSA only)
    KeyEncipherment = 2,
    /// dataEncipherment
    DataEncipherment = 3,
    /// keyAgreement
    KeyAgreement = 4,
    /// keyCertSign (CA only)
    KeyCertSign = 5,
    /// cRLSign (CA only)
    CrlSign = 6,
}

impl KeyUsage {
    /// Every key usage a template may name, in bit order.
    const ALL: [KeyUsage; 7] = [
        KeyUsage::DigitalSignature,
        KeyUsage::ContentCommitment,
        KeyUsage::KeyEncipherment,
        KeyUsage::DataEncipherment,
        KeyUsage::KeyAgreement,
        KeyUsage::KeyCertSign,
        KeyUsage::CrlSign,
    ];

    /// Its RFC 5280 name, from the one keyUsage name table.
    pub fn name(self) -> &'static str {
        crate::pki::certificate::KEY_USAGE_NAMES[self as usize]
    }

    /// The rcgen equivalent.
    pub fn to_rcgen(self) -> rcgen::KeyUsagePurpose {
        use rcgen::KeyUsagePurpose as K;
        match self {
            KeyUsage::DigitalSignature => K::DigitalSignature,
            KeyUsage::ContentCommitment => K::ContentCommitment,
            KeyUsage::KeyEncipherment => K::KeyEncipherment,
            KeyUsage::DataEncipherment => K::DataEncipherment,
            KeyUsage::KeyAgreement => K::KeyAgreement,
            KeyUsage::KeyCertSign => K::KeyCertSign,
            KeyUsage::CrlSign => K::CrlSign,
        }
    }
}

/// An extended key usage (RFC 5280 4.2.1.12), named as in the templates; the discriminant is
/// its position in the one table of EKU names and OIDs ([`ExtendedKeyUsage::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtendedKeyUsage {
    /// TLS server authentication.
    ServerAuth = 0,
    /// TLS client authentication.
    ClientAuth = 1,
    /// Code signing.
    CodeSigning = 2,
    /// E-mail protection.
    EmailProtection = 3,
    /// Time stamping.
    TimeStamping = 4,
    /// OCSP signing.
    OcspSigning = 5,
}

impl ExtendedKeyUsage {
    /// Every extended key usage a template may name, in table order.
    const ALL: [ExtendedKeyUsage; 6] = [
        ExtendedKeyUsage::ServerAuth,
        ExtendedKeyUsage::ClientAuth,
        ExtendedKeyUsage::CodeSigning,
        ExtendedKeyUsage::EmailProtection,
        ExtendedKeyUsage::TimeStamping,
        ExtendedKeyUsage::OcspSigning,
    ];

    /// Its RFC 5280 name, from the one table of EKU names.
    pub fn name(self) -> &'static str {
        crate::pki::certificate::EKU_NAMES[self as usize].1
    }

    /// The rcgen equivalent.
    pub fn to_rcgen(self) -> rcgen::ExtendedKeyUsagePurpose {
        use rcgen::ExtendedKeyUsagePurpose as E;
        match self {
            ExtendedKeyUsage::ServerAuth => E::ServerAuth,
            ExtendedKeyUsage::ClientAuth => E::ClientAuth,
            ExtendedKeyUsage::CodeSigning => E::CodeSigning,
            ExtendedKeyUsage::EmailProtection => E::EmailProtection,
            ExtendedKeyUsage::TimeStamping => E::TimeStamping,
            ExtendedKeyUsage::OcspSigning => E::OcspSigning,
        }
    }
}

/// A validated certificate profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Which certificate this profile makes.
    pub kind: CertKind,
    /// The key type of new keys.
    pub key_type: KeyType,
    /// Validity in days.
    pub validity_days: u32,
    /// Key usages (keyEncipherment is dropped for ECDSA keys when issuing).
    pub key_usage: Vec<KeyUsage>,
    /// Extended key usages.
    pub extended_key_usage: Vec<ExtendedKeyUsage>,
    /// Subject fields.
    pub subject: SubjectFields,
    /// Where the CRL can be fetched (`crl_distribution_points`, Server and Client only): put
    /// into the CRL distribution points extension. Empty by default.
    pub crl_distribution_points: Vec<String>,
    /// Where the root certificate can be fetched (`authority_info_access_ca_issuers`, Server
    /// and Client only): caIssuers in the authority information access extension. Empty by
    /// default.
    pub authority_info_access_ca_issuers: Vec<String>,
}

/// The URL schemes a CRL distribution point or caIssuers location may use.
const URL_SCHEMES: [&str; 3] = ["http://", "https://", "ldap://"];

/// Checks one URL of a profile: http, https or ldap, printable ASCII without spaces (an
/// IA5String in the certificate), a host after the scheme, at most 1024 characters.
fn check_url(url: &str) -> std::result::Result<(), String> {
    let scheme = URL_SCHEMES
        .iter()
        .find(|s| url.len() >= s.len() && url[..s.len()].eq_ignore_ascii_case(s));
    let Some(scheme) = scheme else {
        return Err(format!(
            "{url:?} is not an http://, https:// or ldap:// URL (e.g. \"http://pki.example.local/qvca.crl\")"
        ));
    };
    if url.len() > 1024 {
        return Err(format!("{url:.40?}... is longer than 1024 characters"));
    }
    if let Some(bad) = url.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "{url:?} contains {bad:?}: a URL in a certificate is printable ASCII without spaces \
             (percent-encode the rest, e.g. %20 for a space)"
        ));
    }
    let host = url[scheme.len()..]
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("{url:?} has no host after {scheme}"));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    kind: Spanned<String>,
    key_type: Spanned<String>,
    validity_days: Spanned<i64>,
    key_usage: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    extended_key_usage: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    subject: Option<RawSubject>,
    #[serde(default)]
    crl_distribution_points: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    authority_info_access_ca_issuers: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSubject {
    common_name: Option<Spanned<String>>,
    organization: Option<Spanned<String>>,
    organizational_unit: Option<Spanned<String>>,
    locality: Option<Spanned<String>>,
    state: Option<Spanned<String>>,
    country: Option<Spanned<String>>,
}

impl Profile {
    /// The built-in profile for `kind`.
    pub fn builtin(kind: CertKind) -> Self {
        let (text, name) = match kind {
            CertKind::Root => (ROOT_TEMPLATE, "templates/root.toml"),
            CertKind::Server => (SERVER_TEMPLATE, "templates/server.toml"),
            CertKind::Client => (CLIENT_TEMPLATE, "templates/client.toml"),
        };
        Self::parse(text, name, kind).expect("built-in templates are validated by the test suite")
    }

    /// Reads a `--template FILE` that must describe a `kind` certificate.
    pub fn from_file(path: &Path, kind: CertKind) -> Result<Self> {
        let text = crate::input::read_text_limited(path, crate::input::TEXT_LIMIT, "the template")
            .map_err(|e| {
                Error::failed(format!(
                    "cannot read the template {}: {}; check the path and its permissions",
                    path.display(),
                    e.message()
                ))
            })?;
        Self::parse(&text, &path.display().to_string(), kind)
    }

    /// Parses and validates a template; `source` names it in errors. The checks run in the
    /// order of the template's fields, so the first error named is the first one written.
    pub fn parse(text: &str, source: &str, kind: CertKind) -> Result<Self> {
        let raw: RawProfile = toml::from_str(text).map_err(|e| {
            let detail = e.to_string().trim_end().replace('\n', "\n  ");
            Error::failed(format!("template {source}: {detail}"))
        })?;
        let template = Template { text, source, kind };
        template.check_kind(&raw.kind)?;
        let key_type = template.key_type(&raw.key_type)?;
        let validity_days = template.validity_days(&raw.validity_days)?;
        let key_usage = parse_names(&raw.key_usage, &KeyUsage::ALL.map(|u| (u.name(), u)))
            .map_err(|(span, problem)| template.at(span, "key_usage", problem))?;
        let extended_key_usage = match &raw.extended_key_usage {
            Some(list) => parse_names(list, &ExtendedKeyUsage::ALL.map(|u| (u.name(), u)))
                .map_err(|(span, problem)| template.at(span, "extended_key_usage", problem))?,
            None => Vec::new(),
        };
        template.check_usages(&raw, &key_usage, &extended_key_usage)?;
        let subject = template.subject(raw.subject.unwrap_or_default())?;
        let crl_distribution_points =
            template.urls(&raw.crl_distribution_points, "crl_distribution_points")?;
        let authority_info_access_ca_issuers = template.urls(
            &raw.authority_info_access_ca_issuers,
            "authority_info_access_ca_issuers",
        )?;
        Ok(Profile {
            kind,
            key_type,
            validity_days,
            key_usage,
            extended_key_usage,
            subject,
            crl_distribution_points,
            authority_info_access_ca_issuers,
        })
    }

    /// The common name of a Client certificate: `given` (the NAME argument) if there is one,
    /// else this profile's `subject.common_name` (`QVProxy` in the built-in one). A
    /// `--template` (`template` names it) whose common name differs from a given NAME is
    /// refused: its common name is honoured or rejected, never silently ignored.
    pub fn client_common_name(
        &self,
        given: Option<&str>,
        template: Option<&Path>,
    ) -> Result<crate::domain::name::CommonName> {
        let from_profile = self.subject.common_name.as_deref();
        match (given, from_profile, template) {
            (Some(given), Some(cn), Some(path)) if !crate::domain::name::same_name(given, cn) => {
                Err(Error::failed(format!(
                    "template {}: field `subject.common_name` is {cn:?} but NAME is {given:?}: \
                     give only one of them (leave NAME out to use the template's, or remove the \
                     field)",
                    path.display()
                )))
            }
            (Some(given), _, _) => crate::domain::name::CommonName::parse(given),
            (None, Some(cn), _) => crate::domain::name::CommonName::parse(cn),
            (None, None, _) => {
                crate::domain::name::CommonName::parse(crate::domain::name::DEFAULT_CLIENT_NAME)
            }
        }
    }

    /// The key usages that apply to a key of `key_type` (keyEncipherment is RSA only).
    pub fn key_usage_for(&self, key_type: KeyType) -> Vec<KeyUsage> {
        self.key_usage
            .iter()
            .copied()
            .filter(|u| key_type.is_rsa() || *u != KeyUsage::KeyEncipherment)
            .collect()
    }
}

/// A template being validated: its text (for line numbers), its name and the kind of
/// certificate it must describe. Every check names the template, the line and the field.
struct Template<'a> {
    text: &'a str,
    source: &'a str,
    kind: CertKind,
}

impl Template<'_> {
    /// The error for `field` at `span`: "template SOURCE, line N, field `FIELD`: PROBLEM".
    fn at(&self, span: std::ops::Range<usize>, field: &str, problem: String) -> Error {
        let line = self.text[..span.start.min(self.text.len())]
            .matches('\n')
            .count()
            + 1;
        Error::failed(format!(
            "template {}, line {line}, field `{field}`: {problem}",
            self.source
        ))
    }

    /// The `kind` field must name the kind of certificate the command makes.
    fn check_kind(&self, kind: &Spanned<String>) -> Result<()> {
        let expected = kind_name(self.kind);
        if kind.get_ref() != expected {
            return Err(self.at(
                kind.span(),
                "kind",
                format!(
                    "is {:?} but this command needs a {expected:?} profile",
                    kind.get_ref()
                ),
            ));
        }
        Ok(())
    }

    /// The `key_type` field as a key type.
    fn key_type(&self, key_type: &Spanned<String>) -> Result<KeyType> {
        key_type
            .get_ref()
            .parse()
            .map_err(|e: Error| self.at(key_type.span(), "key_type", e.message().to_owned()))
    }

    /// The `validity_days` field: 1 to [`MAX_VALIDITY_DAYS`].
    fn validity_days(&self, validity_days: &Spanned<i64>) -> Result<u32> {
        let days = *validity_days.get_ref();
        u32::try_from(days)
            .ok()
            .filter(|d| (1..=MAX_VALIDITY_DAYS).contains(d))
            .ok_or_else(|| {
                self.at(
                    validity_days.span(),
                    "validity_days",
                    format!("{days} is out of range: give 1 to {MAX_VALIDITY_DAYS} days"),
                )
            })
    }

    /// The usage rules of the kind: a root signs certificates and CRLs; a Server or Client
    /// certificate does neither, signs TLS handshakes and has its own EKU.
    fn check_usages(
        &self,
        raw: &RawProfile,
        key_usage: &[KeyUsage],
        extended_key_usage: &[ExtendedKeyUsage],
    ) -> Result<()> {
        let usage_error =
            |problem: &str| self.at(raw.key_usage.span(), "key_usage", problem.into());
        let is_ca_usage = |u: &KeyUsage| matches!(u, KeyUsage::KeyCertSign | KeyUsage::CrlSign);
        if self.kind == CertKind::Root {
            if !(key_usage.contains(&KeyUsage::KeyCertSign)
                && key_usage.contains(&KeyUsage::CrlSign))
            {
                return Err(usage_error("a root must have keyCertSign and cRLSign"));
            }
            return Ok(());
        }
        if key_usage.iter().any(is_ca_usage) {
            return Err(usage_error("keyCertSign and cRLSign are for the root only"));
        }
        if !key_usage.contains(&KeyUsage::DigitalSignature) {
            return Err(usage_error("TLS certificates need digitalSignature"));
        }
        let needed = if self.kind == CertKind::Server {
            ExtendedKeyUsage::ServerAuth
        } else {
            ExtendedKeyUsage::ClientAuth
        };
        if !extended_key_usage.contains(&needed) {
            let span = raw.extended_key_usage.as_ref().map_or(0..0, |s| s.span());
            return Err(self.at(
                span,
                "extended_key_usage",
                format!(
                    "a {} certificate needs {}",
                    kind_name(self.kind),
                    needed.name()
                ),
            ));
        }
        Ok(())
    }

    /// The `[subject]` table: the common name (none for a Server certificate, which is issued
    /// to the machine name; required otherwise), then the country and the other text fields.
    fn subject(&self, raw: RawSubject) -> Result<SubjectFields> {
        let common_name = self.common_name(&raw.common_name)?;
        let country = self.text_field(&raw.country, "country")?;
        if let (Some(value), Some(c)) = (&raw.country, &country)
            && !(c.len() == 2 && c.chars().all(|ch| ch.is_ascii_uppercase()))
        {
            return Err(self.at(
                value.span(),
                "subject.country",
                format!("{c:?} is not a two-letter country code such as \"SE\""),
            ));
        }
        Ok(SubjectFields {
            common_name,
            organization: self.text_field(&raw.organization, "organization")?,
            organizational_unit: self
                .text_field(&raw.organizational_unit, "organizational_unit")?,
            locality: self.text_field(&raw.locality, "locality")?,
            state: self.text_field(&raw.state, "state")?,
            country,
        })
    }

    /// `subject.common_name`: refused for a Server certificate, required for the others.
    fn common_name(&self, field: &Option<Spanned<String>>) -> Result<Option<String>> {
        if self.kind == CertKind::Server
            && let Some(cn) = field
        {
            return Err(self.at(
                cn.span(),
                "subject.common_name",
                "a Server certificate is always issued to the machine name: remove this field"
                    .into(),
            ));
        }
        // The common name is the certificate's name everywhere (files, scripts, the Windows
        // store): the one common-name rule, on the value exactly as written.
        let common_name = match field {
            None => None,
            Some(value) => Some(
                crate::domain::name::CommonName::parse(value.get_ref())
                    .map_err(|e| {
                        self.at(
                            value.span(),
                            "subject.common_name",
                            format!("{} (the common-name rule)", e.message()),
                        )
                    })?
                    .as_str()
                    .to_owned(),
            ),
        };
        if self.kind != CertKind::Server && common_name.is_none() {
            return Err(Error::failed(format!(
                "template {}: field `subject.common_name` is missing: the {} certificate needs \
                 one",
                self.source,
                kind_name(self.kind)
            )));
        }
        Ok(common_name)
    }

    /// One optional subject text field (`subject.NAME`), trimmed and held to the subject-text
    /// rule.
    fn text_field(&self, field: &Option<Spanned<String>>, name: &str) -> Result<Option<String>> {
        let Some(value) = field else {
            return Ok(None);
        };
        let v = value.get_ref().trim();
        crate::domain::name::check_subject_text(v).map_err(|problem| {
            self.at(
                value.span(),
                &format!("subject.{name}"),
                format!(
                    "{problem} (the rule: 1 to 64 printable characters, no control or \
                     formatting characters)"
                ),
            )
        })?;
        Ok(Some(v.to_owned()))
    }

    /// A list of URLs (`field`) for the certificates the root issues: refused in the root's
    /// own template, each URL checked, duplicates dropped.
    fn urls(
        &self,
        list: &Option<Spanned<Vec<Spanned<String>>>>,
        field: &str,
    ) -> Result<Vec<String>> {
        let Some(list) = list else {
            return Ok(Vec::new());
        };
        if self.kind == CertKind::Root {
            return Err(self.at(
                list.span(),
                field,
                "belongs in the server and client templates: the URLs go into the certificates \
                 the root issues, not into the root itself"
                    .into(),
            ));
        }
        let mut out: Vec<String> = Vec::new();
        for item in list.get_ref() {
            check_url(item.get_ref()).map_err(|problem| self.at(item.span(), field, problem))?;
            if !out.contains(item.get_ref()) {
                out.push(item.get_ref().clone());
            }
        }
        Ok(out)
    }
}

fn kind_name(kind: CertKind) -> &'static str {
    match kind {
        CertKind::Root => "root",
        CertKind::Server => "server",
        CertKind::Client => "client",
    }
}

type SpannedProblem = (std::ops::Range<usize>, String);

fn parse_names<T: Copy + PartialEq>(
    list: &Spanned<Vec<Spanned<String>>>,
    names: &[(&str, T)],
) -> std::result::Result<Vec<T>, SpannedProblem> {
    let mut out = Vec::new();
    for item in list.get_ref() {
        let value = names
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(item.get_ref()))
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let known: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
                (
                    item.span(),
                    format!(
                        "unknown value {:?}: use one of {}",
                        item.get_ref(),
                        known.join(", ")
                    ),
                )
            })?;
        if !out.contains(&value) {
            out.push(value);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_profiles_are_valid_and_match_the_spec() {
        let root = Profile::builtin(CertKind::Root);
        assert_eq!(root.key_type, KeyType::Rsa2048);
        assert_eq!(root.subject.common_name.as_deref(), Some("QlikViewCA"));
        let server = Profile::builtin(CertKind::Server);
        assert_eq!(
            server.extended_key_usage,
            vec![ExtendedKeyUsage::ServerAuth, ExtendedKeyUsage::ClientAuth]
        );
        let client = Profile::builtin(CertKind::Client);
        assert_eq!(client.subject.common_name.as_deref(), Some("QVProxy"));
        assert!(server.validity_days < root.validity_days);
    }

    #[test]
    fn unknown_fields_and_bad_values_name_the_line_and_field() {
        let bad_field =
            SERVER_TEMPLATE.replace("kind = \"server\"", "kind = \"server\"\ncolour = 1");
        let err = Profile::parse(&bad_field, "t.toml", CertKind::Server).expect_err("unknown");
        assert!(err.message().contains("colour"), "{err}");
        assert!(err.message().contains("line"), "{err}");

        let bad_value = SERVER_TEMPLATE.replace("\"keyEncipherment\"", "\"keyEncypherment\"");
        let err = Profile::parse(&bad_value, "t.toml", CertKind::Server).expect_err("typo");
        assert!(err.message().contains("field `key_usage`"), "{err}");
        assert!(err.message().contains("keyEncypherment"), "{err}");

        let bad_days = CLIENT_TEMPLATE.replace("validity_days = 1826", "validity_days = 0");
        let err = Profile::parse(&bad_days, "t.toml", CertKind::Client).expect_err("days");
        assert!(err.message().contains("validity_days"), "{err}");

        let wrong_kind =
            Profile::parse(CLIENT_TEMPLATE, "t.toml", CertKind::Server).expect_err("kind");
        assert!(
            wrong_kind.message().contains("field `kind`"),
            "{wrong_kind}"
        );
    }

    #[test]
    fn subject_fields_follow_the_name_rules_and_the_error_names_the_field() {
        for (kind, template) in [
            (CertKind::Root, ROOT_TEMPLATE),
            (CertKind::Client, CLIENT_TEMPLATE),
        ] {
            let cn = Profile::builtin(kind).subject.common_name.expect("cn");
            for (hostile, rule) in [
                ("/tmp/x/ABS", "common-name rule"),
                ("../../y", "common-name rule"),
                ("QV\\u001b[31m", "U+001B"),
                (" QVProxy", "space"),
            ] {
                let text = template.replace(
                    &format!("common_name = \"{cn}\""),
                    &format!("common_name = \"{hostile}\""),
                );
                let err = Profile::parse(&text, "t.toml", kind).expect_err(hostile);
                assert!(
                    err.message().contains("field `subject.common_name`"),
                    "{err}"
                );
                assert!(err.message().contains(rule), "{err}");
            }
            let text = template.replace(
                &format!("common_name = \"{cn}\""),
                &format!("common_name = \"{cn}\"\norganization = \"Acme\\u202e\""),
            );
            let err = Profile::parse(&text, "t.toml", kind).expect_err("bidi");
            assert!(err.message().contains("subject.organization"), "{err}");
        }
        let apostrophe = ROOT_TEMPLATE.replace("\"QlikViewCA\"", "\"Acme's CA $(x)\"");
        let root = Profile::parse(&apostrophe, "t.toml", CertKind::Root).expect("valid");
        assert_eq!(root.subject.common_name.as_deref(), Some("Acme's CA $(x)"));
    }

    #[test]
    fn a_client_templates_common_name_is_used_or_conflicts_never_ignored() {
        let builtin = Profile::builtin(CertKind::Client);
        let name = |p: &Profile, given, template| {
            p.client_common_name(given, template)
                .map(|n| n.as_str().to_owned())
        };
        assert_eq!(name(&builtin, None, None).expect("default"), "QVProxy");
        assert_eq!(name(&builtin, Some("Other"), None).expect("given"), "Other");
        let text = CLIENT_TEMPLATE.replace("\"QVProxy\"", "\"QVClient2\"");
        let custom = Profile::parse(&text, "c.toml", CertKind::Client).expect("valid");
        let path = Some(Path::new("c.toml"));
        assert_eq!(name(&custom, None, path).expect("template"), "QVClient2");
        assert_eq!(
            name(&custom, Some("qvclient2"), path).expect("same"),
            "qvclient2"
        );
        let err = name(&custom, Some("Other"), path).expect_err("conflict");
        assert!(err.message().contains("subject.common_name"), "{err}");
        assert!(name(&builtin, Some("a/b"), None).is_err());
    }

    #[test]
    fn ecdsa_keys_never_get_key_encipherment() {
        let server = Profile::builtin(CertKind::Server);
        assert!(
            !server
                .key_usage_for(KeyType::P256)
                .contains(&KeyUsage::KeyEncipherment)
        );
        assert!(
            server
                .key_usage_for(KeyType::Rsa2048)
                .contains(&KeyUsage::KeyEncipherment)
        );
    }

    #[test]
    fn profile_urls_are_checked() {
        for good in [
            "http://pki.example.local/qvca.crl",
            "HTTPS://pki.example.local:8443/root.cer",
            "ldap://dc01/CN=QlikViewCA,CN=CDP?certificateRevocationList",
            "http://pki/a%20b.crl",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for (bad, problem) in [
            ("ftp://pki/qvca.crl", "not an http://"),
            ("pki.example.local/qvca.crl", "not an http://"),
            ("http://", "no host"),
            ("http:///qvca.crl", "no host"),
            ("http://:80/qvca.crl", "no host"),
            ("http://pki/a b.crl", "' '"),
            ("http://pki/a\tb.crl", "'\\t'"),
            ("http://pki/\u{7f}", "'\\u{7f}'"),
            ("http://pki/ä.crl", "'ä'"),
        ] {
            let message = check_url(bad).expect_err(bad);
            assert!(message.contains(problem), "{bad}: {message}");
        }
        let long = format!("http://pki/{}", "a".repeat(1100));
        assert!(check_url(&long).expect_err("long").contains("1024"));
    }
}
