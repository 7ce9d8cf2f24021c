//! What a backup holds, checked bag by bag: every key entry, every certificate the CA state
//! carries, and each of them against what the state records; then every index entry paired
//! with its certificate and key, and the chain to the root.

use crate::domain::kind::CertKind;
use crate::domain::secret::SecretBytes;
use crate::domain::serial::Serial;
use crate::error::{Error, Result};
use crate::ops::backup::state::{BackupState, HistoricCertificate, sha256_hex};
use crate::pki::certificate::{CertificateDetails, parse_one_certificate};
use crate::pki::pkcs12::{PfxArchive, key_matches, public_key_of};
use crate::store::{Entry, EntryStatus, Index};
use base64::Engine;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use time::OffsetDateTime;

/// A certificate with its key, as restored.
pub(super) struct RestoredCertificate {
    pub(super) entry: Entry,
    pub(super) cert_der: Vec<u8>,
    pub(super) key: Option<SecretBytes>,
}

/// The complete contents of a backup, checked.
pub(super) struct BackupContents {
    pub(super) index: Index,
    pub(super) certificates: Vec<RestoredCertificate>,
    pub(super) crl_pem: Option<String>,
    pub(super) has_ca_state: bool,
    pub(super) oplog: Option<String>,
    /// When the backup was written, as its (authenticated) CA state records it.
    pub(super) created: Option<OffsetDateTime>,
}

impl BackupContents {
    /// The contents a CA state describes; its certificates are paired with the index later
    /// ([`certificates_of_index`]).
    fn of_state(state: BackupState) -> Self {
        Self {
            index: state.index,
            certificates: Vec::new(),
            crl_pem: state.crl_pem,
            has_ca_state: true,
            oplog: state.oplog,
            created: Some(state.created),
        }
    }
}

/// The backup's current root among its certificates.
pub(super) fn current_root(certificates: &[RestoredCertificate]) -> Option<&RestoredCertificate> {
    certificates
        .iter()
        .find(|c| c.entry.kind == CertKind::Root && c.entry.status == EntryStatus::Active)
}

/// A certificate found in a backup, with its key when the backup holds one.
pub(super) struct FoundCertificate {
    pub(super) der: Vec<u8>,
    pub(super) serial: Serial,
    pub(super) sha256: String,
    pub(super) key: Option<SecretBytes>,
    /// Where it was found, for messages ("the key entry QVS01", "the CA state").
    pub(super) origin: String,
}

/// The key entries (certificate + key, matched by local key id) and the certificates that
/// belong to no key.
pub(super) fn key_entries(
    archive: &PfxArchive,
    problems: &mut Vec<String>,
) -> Result<(Vec<FoundCertificate>, Vec<Vec<u8>>)> {
    let mut found = Vec::new();
    let mut used = vec![false; archive.certs.len()];
    for key in &archive.keys {
        let name = key.friendly_name.as_deref().unwrap_or("(unnamed)");
        let Some(position) = key.local_key_id.as_ref().and_then(|id| {
            archive
                .certs
                .iter()
                .position(|c| c.local_key_id.as_ref() == Some(id))
        }) else {
            problems.push(format!("the key {name} has no certificate"));
            continue;
        };
        used[position] = true;
        let der = archive.certs[position].der.clone();
        let details = CertificateDetails::from_der(&der)?;
        if !key_matches(&key.pkcs8, &details.spki_der) {
            problems.push(format!("the key {name} does not belong to its certificate"));
        }
        found.push(FoundCertificate {
            serial: details.serial.clone(),
            sha256: details.sha256_fingerprint.clone(),
            der,
            key: Some(key.pkcs8.clone()),
            origin: format!("the key entry {name}"),
        });
    }
    let loose = archive
        .certs
        .iter()
        .zip(used)
        .filter(|(_, used)| !used)
        .map(|(c, _)| c.der.clone())
        .collect();
    Ok((found, loose))
}

/// The contents of a backup with qvca's CA state: the state names every bag the backup may
/// hold, so a certificate outside the key entries that it does not carry itself is a problem,
/// and every certificate and key found is checked against it ([`check_against_state`]).
pub(super) fn contents_with_state(
    state: BackupState,
    found: &mut Vec<FoundCertificate>,
    loose_certs: Vec<Vec<u8>>,
    problems: &mut Vec<String>,
) -> Result<BackupContents> {
    state.check_format_known()?;
    for der in loose_certs {
        let subject = CertificateDetails::from_der(&der)
            .map_or_else(|_| "unreadable".to_owned(), |d| d.subject);
        problems.push(format!(
            "it holds a certificate ({subject}) that its CA state does not name: a bag was \
             added after the backup was written"
        ));
    }
    for historic in &state.historic {
        found.push(historic_certificate(historic)?);
    }
    check_against_state(&state, found, problems);
    Ok(BackupContents::of_state(state))
}

/// A superseded or revoked certificate carried in the CA state.
fn historic_certificate(historic: &HistoricCertificate) -> Result<FoundCertificate> {
    let der = parse_one_certificate(historic.cert_pem.as_bytes(), Path::new("backup"))?.to_vec();
    let details = CertificateDetails::from_der(&der)?;
    let key = historic
        .key_pkcs8
        .as_ref()
        .map(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map(SecretBytes::new)
                .map_err(|_| Error::authentication("a key in the CA state is damaged"))
        })
        .transpose()?;
    Ok(FoundCertificate {
        serial: details.serial.clone(),
        sha256: details.sha256_fingerprint.clone(),
        der,
        key,
        origin: "the CA state".into(),
    })
}

/// Every certificate and key found must be one the state names, exactly as it recorded it.
fn check_against_state(
    state: &BackupState,
    found: &[FoundCertificate],
    problems: &mut Vec<String>,
) {
    check_state_index(&state.index, problems);
    check_unique_serials(found, problems);
    let recorded_keys: HashMap<&Serial, &str> = state
        .keys
        .iter()
        .map(|k| (&k.serial, k.spki_sha256.as_str()))
        .collect();
    for cert in found {
        let Some(entry) = state.index.by_serial(&cert.serial) else {
            problems.push(format!(
                "{} holds a certificate (serial {}) that the CA state does not name: a bag was \
                 added after the backup was written",
                cert.origin, cert.serial
            ));
            continue;
        };
        check_recorded_certificate(entry, cert, problems);
        // Format 1 records no public keys.
        if state.format >= 2 {
            check_recorded_key(entry, cert, recorded_keys.get(&cert.serial), problems);
        }
    }
}

/// The state's index names each serial once, and each current certificate once.
fn check_state_index(index: &Index, problems: &mut Vec<String>) {
    let mut serials = HashSet::new();
    for entry in &index.certificates {
        if !serials.insert(&entry.serial) {
            problems.push(format!("its CA state names serial {} twice", entry.serial));
        }
    }
    let mut names = HashSet::new();
    for entry in index
        .certificates
        .iter()
        .filter(|e| e.status == EntryStatus::Active)
    {
        if !names.insert((entry.kind, entry.name.to_ascii_lowercase())) {
            problems.push(format!(
                "its CA state names two current {} certificates {}",
                entry.kind.description(),
                entry.name
            ));
        }
    }
}

/// A certificate found has the SHA-256 the state records for its serial.
fn check_recorded_certificate(entry: &Entry, cert: &FoundCertificate, problems: &mut Vec<String>) {
    if !entry.sha256.eq_ignore_ascii_case(&cert.sha256) {
        problems.push(format!(
            "the certificate of {} {} (serial {}) in {} is not the one the CA state records \
             (SHA-256 {}, recorded {})",
            entry.kind.description(),
            entry.name,
            entry.serial,
            cert.origin,
            cert.sha256,
            entry.sha256
        ));
    }
}

/// A key found has the public-key hash the state records for its serial (`recorded`), and
/// the state records no key that is missing.
fn check_recorded_key(
    entry: &Entry,
    cert: &FoundCertificate,
    recorded: Option<&&str>,
    problems: &mut Vec<String>,
) {
    match (&cert.key, recorded) {
        (Some(key), Some(recorded)) => {
            let actual = public_key_of(key).map(|spki| sha256_hex(&spki));
            if actual
                .as_deref()
                .is_none_or(|a| !a.eq_ignore_ascii_case(recorded))
            {
                problems.push(format!(
                    "the private key of {} {} (serial {}) in {} is not the one the CA state \
                     records",
                    entry.kind.description(),
                    entry.name,
                    entry.serial,
                    cert.origin
                ));
            }
        }
        (Some(_), None) => problems.push(format!(
            "{} holds a private key for serial {} that the CA state does not name",
            cert.origin, cert.serial
        )),
        (None, Some(_)) => problems.push(missing_key(entry)),
        (None, None) => {}
    }
}

/// "the private key of Server QVS01 (serial S) is missing".
fn missing_key(entry: &Entry) -> String {
    format!(
        "the private key of {} {} (serial {}) is missing",
        entry.kind.description(),
        entry.name,
        entry.serial
    )
}

/// A serial may appear once in a backup.
pub(super) fn check_unique_serials(found: &[FoundCertificate], problems: &mut Vec<String>) {
    let mut seen = HashSet::new();
    for cert in found {
        if !seen.insert(&cert.serial) {
            problems.push(format!(
                "serial {} appears twice in the backup (again in {})",
                cert.serial, cert.origin
            ));
        }
    }
}

/// Pairs every index entry with its certificate (and key); active entries need their key.
pub(super) fn certificates_of_index(
    index: &Index,
    found: &[FoundCertificate],
    problems: &mut Vec<String>,
) -> Vec<RestoredCertificate> {
    let by_serial: HashMap<&Serial, &FoundCertificate> =
        found.iter().map(|c| (&c.serial, c)).collect();
    let mut certificates = Vec::new();
    for entry in &index.certificates {
        let Some(cert) = by_serial.get(&entry.serial) else {
            problems.push(format!(
                "the certificate of {} {} (serial {}) is missing",
                entry.kind.description(),
                entry.name,
                entry.serial
            ));
            continue;
        };
        let in_token = entry.kind == CertKind::Root && index.settings.root_key.is_some();
        if cert.key.is_none() && entry.status == EntryStatus::Active && !entry.keyless && !in_token
        {
            problems.push(missing_key(entry));
        }
        if cert.key.is_some() && in_token {
            // The state says the root key never leaves its token: a key for a root
            // certificate in such a backup was put there after it was written.
            problems.push(format!(
                "it holds a private key for the root certificate (serial {}), whose key its CA \
                 state says lives in a PKCS#11 token and is in no backup: a bag was added after \
                 the backup was written",
                entry.serial
            ));
        }
        certificates.push(RestoredCertificate {
            entry: entry.clone(),
            cert_der: cert.der.clone(),
            key: cert.key.clone(),
        });
    }
    certificates
}

/// The chain: every certificate verifies against the root.
pub(super) fn check_chain(certificates: &[RestoredCertificate], problems: &mut Vec<String>) {
    let Some(root) = current_root(certificates) else {
        problems.push("there is no root certificate with its key".into());
        return;
    };
    // A root without its key is reported with every other missing key (certificates_of_index).
    let root_der = rustls_pki_types::CertificateDer::from(root.cert_der.clone());
    for c in certificates {
        if c.entry.kind == CertKind::Root {
            continue;
        }
        // Validity is not judged here: an expired certificate is still part of the CA.
        let cert_der = rustls_pki_types::CertificateDer::from(c.cert_der.clone());
        let at = c.entry.not_before + time::Duration::minutes(20);
        let check = crate::ops::verify::verify_certificate(
            &c.entry.name,
            &root_der,
            &cert_der,
            &crate::ops::verify::VerifyOptions::default(),
            at.min(c.entry.not_after - time::Duration::seconds(1)),
        );
        if !check.ok {
            problems.push(format!(
                "{} {} (serial {}) does not chain to the root: {}",
                c.entry.kind.description(),
                c.entry.name,
                c.entry.serial,
                check.problems.join("; ")
            ));
        }
    }
}
