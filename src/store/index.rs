//! The CA index (`index.json`): the CA settings and one entry per certificate ever issued.
//!
//! The index is the commit point of every state change: certificate and key files are written
//! first, then the index is replaced atomically. A file that no index entry names is the
//! harmless leftover of an interrupted operation.
//!
//! Every name an index carries (the root's common name and subject, each certificate's name,
//! the exported machine) is checked against the rule of its kind while it is deserialized, so
//! an index read from disk or from a backup never holds a name that `issue` would refuse
//! ([`Index::validate`] runs the same checks on an index built in memory).

use crate::domain::kind::CertKind;
use crate::domain::serial::Serial;
use crate::error::{Error, Result};
use crate::pki::key::{KeyProtection, KeyType};
use serde::{Deserialize, Deserializer, Serialize};
use std::path::Path;
use time::OffsetDateTime;

/// The version of the index format this build writes.
pub const INDEX_FORMAT: u32 = 1;

/// The whole persistent state of a CA besides the certificate and key files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// The index format version.
    pub format: u32,
    /// Settings chosen at `init`.
    pub settings: Settings,
    /// The number of the last CRL issued (0 before the first).
    #[serde(default)]
    pub crl_number: u64,
    /// Every certificate issued, in issue order.
    #[serde(default, deserialize_with = "checked_entries")]
    pub certificates: Vec<Entry>,
    /// What `export license-service` last wrote, so `doctor` can check it is current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_service_export: Option<ExportRecord>,
    /// The last CRL written, so `doctor` can warn before its nextUpdate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_crl: Option<CrlRecord>,
    /// The last record of the operations log this index commits (absent before the first
    /// logged change, and in a CA made by an older qvca): see [`crate::store::oplog`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oplog: Option<crate::store::oplog::LogHead>,
}

/// A record of the last CRL `crl` wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrlRecord {
    /// Where it was written.
    pub path: String,
    /// Its CRL number.
    pub number: u64,
    /// thisUpdate.
    #[serde(with = "time::serde::rfc3339")]
    pub this_update: OffsetDateTime,
    /// nextUpdate.
    #[serde(with = "time::serde::rfc3339")]
    pub next_update: OffsetDateTime,
}

/// CA settings fixed at `init`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The root's common name (`QlikViewCA` unless `init --cn` chose another).
    #[serde(deserialize_with = "checked_root_cn")]
    pub root_cn: String,
    /// How private keys are stored at rest.
    pub key_protection: KeyProtection,
    /// When the CA was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// The root's subject fields besides its common name (to renew it with the same subject).
    #[serde(default, deserialize_with = "checked_subject")]
    pub root_subject: crate::domain::subject::SubjectFields,
    /// Where the root key lives when it is in a PKCS#11 token (`init --key URI`): the URI
    /// without any PIN, the token's label and serial, the key's label and id. Absent for a CA
    /// whose root key is a key file (whose index stays byte for byte as before). Checked while
    /// it is deserialized: a `pin-value` or malformed URI is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_key: Option<crate::pki::pkcs11::location::TokenKeyLocation>,
}

/// What became of a certificate after it was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryStatus {
    /// In use (it may still have expired: see [`Entry::state_at`]).
    Active,
    /// Replaced by a newer certificate for the same name (renew or `--force`).
    Superseded,
    /// Revoked; listed on the CRL until it expires.
    Revoked,
}

impl EntryStatus {
    /// The lower-case word used in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Active => "active",
            EntryStatus::Superseded => "superseded",
            EntryStatus::Revoked => "revoked",
        }
    }
}

/// A revocation: when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// When the certificate was revoked.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The RFC 5280 reason (stored by its name, e.g. `keyCompromise`).
    pub reason: crate::domain::reason::RevocationReason,
}

/// One issued certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The certificate's serial number; also names its files.
    pub serial: Serial,
    /// Root, Server or Client.
    pub kind: CertKind,
    /// Issued To: the common name (machine name, `QVProxy`, `QlikViewCA`).
    pub name: String,
    /// The key type of the certificate's key.
    pub key_type: KeyType,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Active, superseded or revoked.
    pub status: EntryStatus,
    /// SHA-256 of the certificate DER, upper-case hex (the Windows "thumbprint" style).
    pub sha256: String,
    /// The serial of the certificate that replaced this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<Serial>,
    /// The revocation, if revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<Revocation>,
    /// True when the CA never held the private key: it lives on the node, which made a request
    /// that `qvca sign` signed. Such a certificate has no key file; it cannot be exported with
    /// a key, packaged or renewed by the CA (the node makes a new request instead).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keyless: bool,
}

/// The state of a certificate at a moment, as `list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CertState {
    /// Active and not close to expiry.
    Valid,
    /// Active and expiring within the warning window.
    Expiring,
    /// Past its end of validity.
    Expired,
    /// Revoked.
    Revoked,
    /// Replaced by a newer certificate.
    Superseded,
}

impl std::str::FromStr for CertState {
    type Err = Error;

    /// Parses the word `list` shows (`valid`, `expiring`, `expired`, `revoked`, `superseded`).
    fn from_str(text: &str) -> Result<Self> {
        [
            CertState::Valid,
            CertState::Expiring,
            CertState::Expired,
            CertState::Revoked,
            CertState::Superseded,
        ]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(text))
        .ok_or_else(|| {
            Error::usage(format!(
                "unknown status {text:?}: use valid, expiring, expired, revoked or superseded"
            ))
        })
    }
}

impl CertState {
    /// The lower-case word used in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CertState::Valid => "valid",
            CertState::Expiring => "expiring",
            CertState::Expired => "expired",
            CertState::Revoked => "revoked",
            CertState::Superseded => "superseded",
        }
    }
}

impl Entry {
    /// The entry of a certificate just issued (or restored): active, from its details.
    pub fn issued(
        kind: CertKind,
        name: &str,
        key_type: KeyType,
        details: &crate::pki::certificate::CertificateDetails,
    ) -> Self {
        Self {
            serial: details.serial.clone(),
            kind,
            name: name.to_owned(),
            key_type,
            not_before: details.not_before,
            not_after: details.not_after,
            status: EntryStatus::Active,
            sha256: details.sha256_fingerprint.clone(),
            superseded_by: None,
            revocation: None,
            keyless: false,
        }
    }

    /// Checks the name against the rule of the entry's kind: a machine name (FQDNs allowed,
    /// as `--allow-fqdn` may have issued them) for a Server, a common name otherwise.
    pub fn check_name(&self) -> Result<()> {
        check_name_of(self.kind, &self.name)
    }

    /// The state at `now`, with `warn` as the "expiring" window.
    pub fn state_at(&self, now: OffsetDateTime, warn: time::Duration) -> CertState {
        match self.status {
            EntryStatus::Revoked => CertState::Revoked,
            EntryStatus::Superseded => CertState::Superseded,
            EntryStatus::Active if self.not_after <= now => CertState::Expired,
            EntryStatus::Active if self.not_after - now <= warn => CertState::Expiring,
            EntryStatus::Active => CertState::Valid,
        }
    }

    /// True when the certificate is active and within its validity period at `now`.
    pub fn is_usable_at(&self, now: OffsetDateTime) -> bool {
        self.status == EntryStatus::Active && self.not_before <= now && now < self.not_after
    }
}

fn check_name_of(kind: CertKind, name: &str) -> Result<()> {
    kind.check_name(name)
}

fn check_root_cn(name: &str) -> std::result::Result<(), String> {
    crate::domain::name::CommonName::parse(name)
        .map(drop)
        .map_err(|e| format!("{} (the common-name rule)", e.message()))
}

fn entry_problem(position: usize, entry: &Entry, problem: &str) -> String {
    format!(
        "field `certificates[{position}].name` ({} serial {}): {problem} (the {} rule)",
        entry.kind.description(),
        entry.serial,
        if entry.kind == CertKind::Server {
            "machine-name"
        } else {
            "common-name"
        }
    )
}

fn checked_entries<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<Entry>, D::Error> {
    let entries = Vec::<Entry>::deserialize(d)?;
    for (position, entry) in entries.iter().enumerate() {
        entry
            .check_name()
            .map_err(|e| serde::de::Error::custom(entry_problem(position, entry, e.message())))?;
    }
    Ok(entries)
}

fn checked_root_cn<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    let name = String::deserialize(d)?;
    check_root_cn(&name).map_err(|problem| {
        serde::de::Error::custom(format!("field `settings.root_cn`: {problem}"))
    })?;
    Ok(name)
}

fn checked_subject<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<crate::domain::subject::SubjectFields, D::Error> {
    let subject = crate::domain::subject::SubjectFields::deserialize(d)?;
    subject.validate().map_err(|(field, problem)| {
        serde::de::Error::custom(format!("field `settings.root_subject.{field}`: {problem}"))
    })?;
    Ok(subject)
}

fn checked_machine<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    let name = String::deserialize(d)?;
    check_name_of(CertKind::Server, &name).map_err(|e| {
        serde::de::Error::custom(format!(
            "field `license_service_export.machine`: {}",
            e.message()
        ))
    })?;
    Ok(name)
}

/// A record of the last license-service export (seed 001: root.pem, server.pem, server_key.pem).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportRecord {
    /// The directory the three files were written to.
    pub dir: String,
    /// The machine whose Server certificate was exported.
    #[serde(deserialize_with = "checked_machine")]
    pub machine: String,
    /// The exported Server certificate's serial.
    pub server_serial: Serial,
    /// SHA-256 of the exported root certificate.
    pub root_sha256: String,
    /// When the export was written.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl Index {
    /// A fresh index for a new CA.
    pub fn new(settings: Settings) -> Self {
        Self {
            format: INDEX_FORMAT,
            settings,
            crl_number: 0,
            certificates: Vec::new(),
            license_service_export: None,
            last_crl: None,
            oplog: None,
        }
    }

    /// Parses `index.json`, with an error that names the file and what to do.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        let index: Index = serde_json::from_slice(bytes).map_err(|e| {
            Error::failed(format!(
                "the CA index {} is damaged ({e}); restore the CA from a backup \
                 (`qvca restore FILE`)",
                path.display()
            ))
        })?;
        if index.format != INDEX_FORMAT {
            return Err(Error::failed(format!(
                "the CA index {} has format {}, which this qvca does not know (it writes \
                 format {INDEX_FORMAT}); use the qvca version that created it",
                path.display(),
                index.format
            )));
        }
        Ok(index)
    }

    /// Checks every name the index carries against the rule of its kind, as deserializing an
    /// index does; the error names the field and the rule. For an index built in memory from
    /// outside data (a foreign PKCS#12's certificates).
    pub fn validate(&self) -> Result<()> {
        check_root_cn(&self.settings.root_cn)
            .map_err(|problem| Error::failed(format!("field `settings.root_cn`: {problem}")))?;
        self.settings
            .root_subject
            .validate()
            .map_err(|(field, problem)| {
                Error::failed(format!("field `settings.root_subject.{field}`: {problem}"))
            })?;
        for (position, entry) in self.certificates.iter().enumerate() {
            entry
                .check_name()
                .map_err(|e| Error::failed(entry_problem(position, entry, e.message())))?;
        }
        if let Some(export) = &self.license_service_export {
            check_name_of(CertKind::Server, &export.machine).map_err(|e| {
                Error::failed(format!(
                    "field `license_service_export.machine`: {}",
                    e.message()
                ))
            })?;
        }
        Ok(())
    }

    /// Serializes the index (pretty JSON, so admins can read it).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::failed(format!("encoding the CA index failed: {e}")))?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// The current root entry (the newest active root).
    pub fn root(&self) -> Option<&Entry> {
        self.certificates
            .iter()
            .rev()
            .find(|e| e.kind == CertKind::Root && e.status == EntryStatus::Active)
    }

    /// The entry with this serial.
    pub fn by_serial(&self, serial: &Serial) -> Option<&Entry> {
        self.certificates.iter().find(|e| &e.serial == serial)
    }

    /// The entry with this serial, for changing its status.
    pub fn by_serial_mut(&mut self, serial: &Serial) -> Option<&mut Entry> {
        self.certificates.iter_mut().find(|e| &e.serial == serial)
    }

    /// The newest active entry of `kind` issued to `name` (compared case-insensitively).
    pub fn current(&self, kind: CertKind, name: &str) -> Option<&Entry> {
        self.certificates.iter().rev().find(|e| {
            e.kind == kind && e.status == EntryStatus::Active && e.name.eq_ignore_ascii_case(name)
        })
    }

    /// The entries `list` shows by default: all but superseded ones, and of several
    /// non-superseded entries for one (kind, name) only the newest; in issue order.
    pub fn current_entries(&self) -> Vec<&Entry> {
        let mut newest: std::collections::HashMap<(CertKind, String), usize> =
            std::collections::HashMap::new();
        for (position, entry) in self.certificates.iter().enumerate() {
            if entry.status != EntryStatus::Superseded {
                newest.insert((entry.kind, entry.name.to_ascii_lowercase()), position);
            }
        }
        let mut positions: Vec<usize> = newest.into_values().collect();
        positions.sort_unstable();
        positions
            .into_iter()
            .map(|p| &self.certificates[p])
            .collect()
    }

    /// The certificates a CRL issued at `now` lists: revoked and not expired yet.
    pub fn listed_on_crl(&self, now: OffsetDateTime) -> Vec<&Entry> {
        self.certificates
            .iter()
            .filter(|e| e.status == EntryStatus::Revoked && e.not_after > now)
            .collect()
    }

    /// True when a serial is already taken.
    pub fn has_serial(&self, serial: &Serial) -> bool {
        self.by_serial(serial).is_some()
    }

    /// A new random serial that no certificate in the index has.
    pub fn fresh_serial(&self) -> Serial {
        loop {
            let serial = Serial::random();
            if !self.has_serial(&serial) {
                return serial;
            }
        }
    }

    /// `count` new random serials, distinct from each other and from every serial in the index
    /// (the serials of one batch).
    pub fn fresh_serials(&self, count: usize) -> Vec<Serial> {
        let mut taken = std::collections::HashSet::new();
        std::iter::repeat_with(|| self.fresh_serial())
            .filter(|serial| taken.insert(serial.clone()))
            .take(count)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index as JSON with one Server entry named `server` and the root named `root`.
    fn index_json(root: &str, server: &str) -> String {
        let entry = |kind: &str, name: &str, serial: &str| {
            serde_json::json!({
                "serial": serial,
                "kind": kind,
                "name": name,
                "key_type": "p256",
                "not_before": "2026-01-01T00:00:00Z",
                "not_after": "2030-01-01T00:00:00Z",
                "status": "active",
                "sha256": "00",
            })
        };
        serde_json::json!({
            "format": INDEX_FORMAT,
            "settings": {
                "root_cn": root,
                "key_protection": "encrypted",
                "created": "2026-01-01T00:00:00Z",
            },
            "certificates": [
                entry("root", root, "01"),
                entry("server", server, "02"),
            ],
        })
        .to_string()
    }

    #[test]
    fn fresh_serials_are_new_to_the_index_and_to_each_other() {
        let json = index_json("QlikViewCA", "QVS01");
        let index = Index::parse(json.as_bytes(), Path::new("index.json")).expect("valid");
        let serials = index.fresh_serials(500);
        assert_eq!(serials.len(), 500);
        let distinct: std::collections::HashSet<&Serial> = serials.iter().collect();
        assert_eq!(distinct.len(), 500);
        assert!(serials.iter().all(|s| !index.has_serial(s)));
        assert!(!index.has_serial(&index.fresh_serial()));
    }

    #[test]
    fn a_revocation_reason_is_stored_by_its_rfc_5280_name() {
        let json = index_json("QlikViewCA", "QVS01");
        let mut value: serde_json::Value = serde_json::from_str(&json).expect("json");
        value["certificates"][1]["status"] = "revoked".into();
        value["certificates"][1]["revocation"] = serde_json::json!({
            "at": "2026-02-01T00:00:00Z",
            "reason": "cessationOfOperation",
        });
        let index =
            Index::parse(value.to_string().as_bytes(), Path::new("index.json")).expect("valid");
        let revocation = index.certificates[1].revocation.as_ref().expect("revoked");
        assert_eq!(
            revocation.reason,
            crate::domain::reason::RevocationReason::CessationOfOperation
        );
        let written: serde_json::Value =
            serde_json::from_slice(&index.to_json().expect("json")).expect("parse");
        assert_eq!(
            written["certificates"][1]["revocation"], value["certificates"][1]["revocation"],
            "the revocation is written back unchanged"
        );
        let now = OffsetDateTime::parse(
            "2026-03-01T00:00:00Z",
            &time::format_description::well_known::Rfc3339,
        )
        .expect("time");
        let listed: Vec<&str> = index
            .listed_on_crl(now)
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(listed, ["QVS01"]);
    }

    #[test]
    fn an_index_with_a_hostile_name_never_deserializes() {
        let good = index_json("Acme's CA $(x)", "QVS01");
        let index = Index::parse(good.as_bytes(), Path::new("index.json")).expect("valid");
        index.validate().expect("valid");

        for (root, server, field, rule) in [
            (
                "QlikViewCA",
                "/abs/path/SRV",
                "certificates[1].name",
                "machine-name",
            ),
            (
                "QlikViewCA",
                "../../y",
                "certificates[1].name",
                "machine-name",
            ),
            (
                "QlikViewCA",
                "167837954",
                "certificates[1].name",
                "IP address",
            ),
            (
                "QlikViewCA",
                "QV$(touch X)",
                "certificates[1].name",
                "machine-name",
            ),
            ("/tmp/x/ABS", "QVS01", "certificates[0].name", "common-name"),
            (
                "Evil\u{1b}]0;x\u{7}",
                "QVS01",
                "certificates[0].name",
                "U+001B",
            ),
        ] {
            let json = index_json(root, server);
            let err = Index::parse(json.as_bytes(), Path::new("index.json"))
                .expect_err(&format!("{root:?} / {server:?}"));
            assert!(err.message().contains(field), "{err}");
            assert!(err.message().contains(rule), "{err}");
            // The same rule in the deserializer a backup's state goes through.
            assert!(serde_json::from_str::<Index>(&json).is_err());
        }
        // The settings are checked on their own too.
        let mut value: serde_json::Value = serde_json::from_str(&good).expect("json");
        value["settings"]["root_cn"] = "../../y".into();
        let err = serde_json::from_value::<Index>(value).expect_err("root_cn");
        assert!(err.to_string().contains("settings.root_cn"), "{err}");
    }

    #[test]
    fn a_file_key_index_has_no_root_key_field_and_a_token_one_is_checked_when_read() {
        let json = index_json("QlikViewCA", "QVS01");
        let index = Index::parse(json.as_bytes(), Path::new("index.json")).expect("valid");
        assert_eq!(index.settings.root_key, None);
        let written = String::from_utf8(index.to_json().expect("json")).expect("utf-8");
        assert!(!written.contains("root_key"), "{written}");

        let mut value: serde_json::Value = serde_json::from_str(&json).expect("json");
        value["settings"]["root_key"] = serde_json::json!({
            "uri": "pkcs11:token=qvca;object=root",
            "token_label": "qvca",
            "token_serial": "1a2b",
            "key_label": "root",
            "key_id": "0102",
        });
        let index = Index::parse(value.to_string().as_bytes(), Path::new("index.json"))
            .expect("a token root key");
        let location = index.settings.root_key.as_ref().expect("recorded");
        assert_eq!(location.key_id(), &[1, 2]);
        let again = String::from_utf8(index.to_json().expect("json")).expect("utf-8");
        assert!(
            again.contains("\"uri\": \"pkcs11:token=qvca;object=root\""),
            "{again}"
        );

        value["settings"]["root_key"]["uri"] = "pkcs11:token=qvca?pin-value=hunter2".into();
        let err = Index::parse(value.to_string().as_bytes(), Path::new("index.json"))
            .expect_err("pin-value");
        assert_eq!(err.kind(), crate::error::ErrorKind::Failed);
        assert!(err.message().contains("pin-value"), "{err}");
        assert!(!err.message().contains("hunter2"), "{err}");
        value["settings"]["root_key"]["uri"] = "pkcs11:token=qvca;object=root%".into();
        let err = Index::parse(value.to_string().as_bytes(), Path::new("index.json"))
            .expect_err("malformed");
        assert!(err.message().contains("settings.root_key.uri"), "{err}");
    }

    #[test]
    fn validate_checks_an_index_built_in_memory() {
        let json = index_json("QlikViewCA", "QVS01");
        let mut index = Index::parse(json.as_bytes(), Path::new("index.json")).expect("valid");
        index.certificates[1].name = "/abs/path/SRV".into();
        let err = index.validate().expect_err("hostile");
        assert!(err.message().contains("certificates[1].name"), "{err}");
        index.certificates[1].name = "QVS01".into();
        index.settings.root_subject.organization = Some("Acme\u{202e}".into());
        let err = index.validate().expect_err("bidi");
        assert!(
            err.message().contains("settings.root_subject.organization"),
            "{err}"
        );
    }
}
