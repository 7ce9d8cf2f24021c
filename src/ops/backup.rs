//! Backups and restores of the whole CA in ONE password-protected PKCS#12 file.
//!
//! A backup holds the root and every current Server and Client certificate with its private
//! key as ordinary PKCS#12 key entries (friendly names `QlikViewCA`, `<machine-name>`,
//! `QVProxy`), so an admin can also import it by hand with MMC or `openssl pkcs12`; plus one
//! secret bag, `qvca-state`, with everything else a complete restore needs: the index (with
//! superseded and revoked entries and their reasons), the settings, the CRL number, the latest
//! CRL, and the certificates and keys of superseded and revoked entries, and the certificates
//! of keyless entries (signed from a node's request: their keys live on the nodes and are in
//! no backup). The secret bag is encrypted like the keys: a backup never holds a key in the
//! clear.
//!
//! Every backup is read back from disk and verified before it gets its final name.

use crate::domain::kind::CertKind;
use crate::domain::secret::{Password, SecretBytes};
use crate::domain::serial::Serial;
use crate::error::{Error, ErrorKind, Result};
use crate::ops::ca::{Ca, RootSigner};
use crate::pki::certificate::{CertificateDetails, parse_one_certificate, to_pem};
use crate::pki::key::{KeyProtection, KeyProtector};
use crate::pki::pkcs12::{
    Integrity, PfxArchive, PfxContents, PfxEncryption, PfxKey, key_matches, public_key_of,
    read_pfx, write_pfx,
};
use crate::store::atomic::{parent_dir, sync_dir};
use crate::store::{
    Entry, EntryStatus, Index, Settings, StagedDir, Staging, Store, create_private_dir,
};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// The friendly name of the secret bag that carries the CA state.
pub const STATE_BAG_NAME: &str = "qvca-state";
/// The version of the state format this build writes (2: with the public-key manifest).
const STATE_FORMAT: u32 = 2;
/// Backup file names in a `--dir`: `qvca-backup-<UTC timestamp>[-N].pfx`.
const BACKUP_PREFIX: &str = "qvca-backup-";

/// A certificate (and key) of an entry that is not a key entry of its own: superseded or
/// revoked, or keyless (no key at all).
#[derive(Serialize, Deserialize)]
struct HistoricCertificate {
    serial: Serial,
    cert_pem: String,
    /// PKCS#8 DER, base64; absent when the key file was already gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_pkcs8: Option<String>,
}

/// The SHA-256 of the public key of one private key in the backup, by certificate serial.
#[derive(Serialize, Deserialize)]
struct KeyRecord {
    serial: Serial,
    /// SHA-256 of the key's SubjectPublicKeyInfo DER, upper-case hex.
    spki_sha256: String,
}

/// The CA state carried in the `qvca-state` secret bag. With the index (which records the
/// SHA-256 of every certificate) and `keys` it names every bag the backup may hold: a restore
/// accepts exactly those bags and nothing else.
#[derive(Serialize, Deserialize)]
struct BackupState {
    format: u32,
    qvca_version: String,
    #[serde(with = "time::serde::rfc3339")]
    created: OffsetDateTime,
    index: Index,
    #[serde(default)]
    historic: Vec<HistoricCertificate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crl_pem: Option<String>,
    /// Format 2: the public key of every private key in the backup (absent in format 1).
    #[serde(default)]
    keys: Vec<KeyRecord>,
    /// The operations log (absent in backups of older qvca versions and of CAs without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    oplog: Option<String>,
}

/// Where `backup` writes.
#[derive(Debug, Clone)]
pub enum BackupTarget {
    /// Exactly this file (`--out`), which must not exist yet (exit 3 otherwise).
    File(PathBuf),
    /// Exactly this file, replacing an existing one once the new backup verified (`--force`).
    Replace(PathBuf),
    /// A new `qvca-backup-<timestamp>.pfx` in this directory (`--dir`).
    Dir(PathBuf),
}

/// What `backup` did.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// The backup file.
    pub file: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Certificates in it (all entries of the index).
    pub certificates: usize,
    /// Private keys in it.
    pub keys: usize,
    /// The encryption used.
    pub encryption: PfxEncryption,
    /// True: the file was read back and verified before it got its name.
    pub verified: bool,
    /// Older backups removed by `--keep`.
    pub pruned: Vec<PathBuf>,
    /// Files named like backups that `--keep` left alone: they do not open under this backup
    /// password as a backup of this CA's root (planted, damaged, another CA's, or made under
    /// another password), so they are never counted or deleted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_recognised: Vec<PathBuf>,
}

/// One certificate as a backup lists it.
#[derive(Debug, Clone, Serialize)]
pub struct BackupEntry {
    /// Issued To.
    pub name: String,
    /// Root, Server or Client.
    pub kind: CertKind,
    /// Serial.
    pub serial: Serial,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Active, superseded or revoked.
    pub status: EntryStatus,
    /// Whether its private key is in the backup.
    pub has_key: bool,
    /// True when the CA never held its key (it lives on the node).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub keyless: bool,
}

/// Backup entries in the order `list` shows certificates (Servers by name, the Client, the
/// root; within one name, issue order), so that reports are stable.
fn sorted_as_list(mut entries: Vec<BackupEntry>) -> Vec<BackupEntry> {
    entries.sort_by_cached_key(|e| crate::ops::inventory::seed_order(e.kind, &e.name));
    entries
}

/// The result of verifying a backup.
#[derive(Debug, Clone, Serialize)]
pub struct BackupVerification {
    /// The file.
    pub file: PathBuf,
    /// True when nothing is wrong.
    pub ok: bool,
    /// True when the file carries qvca's CA state (else only certificates, e.g. from another tool).
    pub has_ca_state: bool,
    /// The root's common name.
    pub root: Option<String>,
    /// The SHA-256 of the root certificate.
    pub root_sha256: Option<String>,
    /// Every certificate.
    pub entries: Vec<BackupEntry>,
    /// The CRL number carried.
    pub crl_number: Option<u64>,
    /// What is wrong, one sentence each.
    pub problems: Vec<String>,
}

/// A certificate with its key, as restored.
struct RestoredCertificate {
    entry: Entry,
    cert_der: Vec<u8>,
    key: Option<SecretBytes>,
}

/// The complete contents of a backup, checked.
struct BackupContents {
    index: Index,
    certificates: Vec<RestoredCertificate>,
    crl_pem: Option<String>,
    has_ca_state: bool,
    oplog: Option<String>,
    /// When the backup was written, as its (authenticated) CA state records it.
    created: Option<OffsetDateTime>,
}

/// Writes a backup of the CA (held locked by the caller) and verifies it before naming it.
pub fn backup(
    ca: &Ca,
    signer: &RootSigner,
    password: &Password,
    target: &BackupTarget,
    keep: Option<usize>,
    encryption: PfxEncryption,
) -> Result<BackupReport> {
    if keep == Some(0) {
        return Err(Error::usage(
            "--keep 0 would delete the new backup too: keep at least 1",
        ));
    }
    let now = OffsetDateTime::now_utc();
    let (dir, final_path) = match target {
        BackupTarget::File(path) => {
            crate::store::atomic::refuse_existing_output(path, false)?;
            (parent_dir(path).to_path_buf(), path.clone())
        }
        BackupTarget::Replace(path) => (parent_dir(path).to_path_buf(), path.clone()),
        BackupTarget::Dir(dir) => (dir.clone(), next_backup_name(dir, now)),
    };
    if !dir.is_dir() {
        create_private_dir(&dir)?;
    }

    let bytes = SecretBytes::new(build_backup(ca, signer, password, encryption, now)?);

    // Write under a temporary name, sync, read back from disk and verify, then rename.
    let mut temp = tempfile::Builder::new()
        .prefix(".qvca-backup-tmp-")
        .suffix(".partial")
        .tempfile_in(&dir)
        .map_err(|e| Error::io("creating a temporary file in", &dir, e))?;
    temp.write_all(bytes.expose())
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| Error::io("writing", temp.path(), e))?;
    crate::store::crash_point("backup-before-verify");
    let written =
        std::fs::read(temp.path()).map_err(|e| Error::io("reading back", temp.path(), e))?;
    let verification = verify_backup_bytes(&written, password, temp.path())?;
    if !verification.ok || !verification.has_ca_state {
        return Err(Error::verification(format!(
            "the backup read back from disk does not verify ({}); nothing was written",
            verification.problems.join("; ")
        )));
    }
    // A backup never replaces a file it was not asked to (a named one without --force, or a
    // file that took the generated name meanwhile).
    if matches!(target, BackupTarget::Replace(_)) {
        temp.persist(&final_path)
            .map_err(|e| Error::io("naming the backup", &final_path, e.error))?;
    } else {
        temp.persist_noclobber(&final_path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                Error::refused(format!(
                    "{} appeared while the backup was written; nothing was replaced: pass \
                     --force to replace it, or choose another name",
                    final_path.display()
                ))
            } else {
                Error::io("naming the backup", &final_path, e.error)
            }
        })?;
    }
    sync_dir(&dir)?;
    crate::store::crash_point("backup-after-rename");

    let (pruned, not_recognised) = match (keep, target) {
        (Some(n), BackupTarget::Dir(dir)) => {
            let this_ca = BackupOwner {
                password,
                root_spki: &signer.root().spki_der,
            };
            prune_backups(dir, n, &final_path, &this_ca)?
        }
        _ => (Vec::new(), Vec::new()),
    };
    Ok(BackupReport {
        file: final_path,
        bytes: written.len() as u64,
        certificates: verification.entries.len(),
        keys: verification.entries.iter().filter(|e| e.has_key).count(),
        encryption,
        verified: true,
        pruned,
        not_recognised,
    })
}

/// Builds the PKCS#12 bytes of a backup.
fn build_backup(
    ca: &Ca,
    signer: &RootSigner,
    password: &Password,
    encryption: PfxEncryption,
    now: OffsetDateTime,
) -> Result<Vec<u8>> {
    let index = ca.index();
    let mut current: Vec<(String, SecretBytes, Vec<u8>)> = Vec::new();
    let mut historic = Vec::new();
    let mut keys = Vec::new();
    let mut used_names = std::collections::HashSet::new();
    for entry in &index.certificates {
        let cert_der = ca.certificate_der(entry)?;
        // A keyless certificate's key lives on the node: the backup carries its certificate.
        let key = match ca.open_key(signer, entry) {
            Ok(key) => Some(key),
            Err(_) if entry.keyless => None,
            Err(e) if entry.status != EntryStatus::Active => {
                // The key of a superseded or revoked certificate is not needed to run the CA.
                let _ = e;
                None
            }
            Err(e) => return Err(e),
        };
        if let Some(key) = &key {
            let spki = public_key_of(key).ok_or_else(|| {
                Error::failed(format!(
                    "the private key of {} {} (serial {}) cannot be read",
                    entry.kind.description(),
                    entry.name,
                    entry.serial
                ))
            })?;
            keys.push(KeyRecord {
                serial: entry.serial.clone(),
                spki_sha256: sha256_hex(&spki),
            });
        }
        let is_current = entry.status == EntryStatus::Active
            && used_names.insert((entry.kind, entry.name.to_ascii_lowercase()));
        match (is_current, key) {
            (true, Some(key)) => current.push((entry.name.clone(), key, cert_der.to_vec())),
            (_, key) => historic.push(HistoricCertificate {
                serial: entry.serial.clone(),
                cert_pem: to_pem("CERTIFICATE", &cert_der),
                key_pkcs8: key
                    .map(|k| base64::engine::general_purpose::STANDARD.encode(k.expose())),
            }),
        }
    }
    // Only a CRL that does not exist is left out; one that cannot be read fails the backup.
    let crl_pem = crate::ops::revocation::read_ca_crl(ca)?.map(|crl| to_pem("X509 CRL", &crl.der));
    let state = BackupState {
        format: STATE_FORMAT,
        qvca_version: env!("CARGO_PKG_VERSION").to_owned(),
        created: now,
        index: index.clone(),
        historic,
        crl_pem,
        keys,
        oplog: crate::store::oplog::read_log(ca.store())?,
    };
    let state_json = SecretBytes::new(
        serde_json::to_vec(&state)
            .map_err(|e| Error::failed(format!("encoding the CA state failed: {e}")))?,
    );
    drop(state);
    let _ = signer;

    // Aliases must be unique in a PKCS#12 key store: a Client certificate named like a
    // machine (unlikely) gets its kind appended.
    let mut aliases: Vec<String> = Vec::new();
    for (name, _, _) in &current {
        let mut alias = name.clone();
        while aliases.iter().any(|a| a.eq_ignore_ascii_case(&alias)) {
            alias.push_str(" (2)");
        }
        aliases.push(alias);
    }
    let contents = PfxContents {
        keys: current
            .iter()
            .zip(&aliases)
            .map(|((_, key, cert), alias)| PfxKey {
                friendly_name: alias,
                pkcs8: key,
                cert_der: cert,
            })
            .collect(),
        trusted: Vec::new(),
        secrets: vec![(STATE_BAG_NAME, state_json.expose())],
    };
    write_pfx(&contents, password, encryption)
}

/// Opens and checks a backup: password, integrity, every key against its certificate, the
/// chain to the root, and the completeness of the CA state.
pub fn verify_backup_file(path: &Path, password: &Password) -> Result<BackupVerification> {
    let bytes = read_backup_file(path)?;
    let mut verification = verify_backup_bytes(bytes.expose(), password, path)?;
    if !verification.has_ca_state {
        verification.problems.push(
            "it holds certificates but not qvca's CA state (index, settings, CRL number): it was \
             not written by `qvca backup`"
                .into(),
        );
        verification.ok = false;
    }
    Ok(verification)
}

fn read_backup_file(path: &Path) -> Result<SecretBytes> {
    let bytes = crate::input::read_limited(path, crate::input::PKCS12_LIMIT, "the backup file")
        .map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                Error::not_found(format!("no backup file {}", path.display()))
            } else {
                e
            }
        })?;
    if bytes.is_empty() {
        return Err(Error::authentication(format!(
            "{} is empty: it is not a backup (a failed copy?)",
            path.display()
        )));
    }
    Ok(SecretBytes::new(bytes))
}

/// Verifies backup bytes as [`verify_backup_file`] does with a file (`path` names it in messages).
pub fn verify_backup_bytes(
    bytes: &[u8],
    password: &Password,
    path: &Path,
) -> Result<BackupVerification> {
    let archive = read_pfx(
        bytes,
        password,
        &path.display().to_string(),
        Integrity::Required,
    )?;
    let (contents, problems) = check_contents(&archive)?;
    Ok(verification_of(&contents, problems, path))
}

/// The verification report of checked backup contents.
fn verification_of(
    contents: &BackupContents,
    problems: Vec<String>,
    path: &Path,
) -> BackupVerification {
    let root = contents
        .certificates
        .iter()
        .find(|c| c.entry.kind == CertKind::Root && c.entry.status == EntryStatus::Active);
    BackupVerification {
        file: path.to_owned(),
        ok: problems.is_empty(),
        has_ca_state: contents.has_ca_state,
        root: root.map(|r| r.entry.name.clone()),
        root_sha256: root.map(|r| r.entry.sha256.clone()),
        entries: sorted_as_list(
            contents
                .certificates
                .iter()
                .map(|c| BackupEntry {
                    name: c.entry.name.clone(),
                    kind: c.entry.kind,
                    serial: c.entry.serial.clone(),
                    not_after: c.entry.not_after,
                    status: c.entry.status,
                    has_key: c.key.is_some(),
                    keyless: c.entry.keyless,
                })
                .collect(),
        ),
        crl_number: contents.has_ca_state.then_some(contents.index.crl_number),
        problems,
    }
}

/// A certificate found in a backup, with its key when the backup holds one.
struct FoundCertificate {
    der: Vec<u8>,
    serial: Serial,
    sha256: String,
    key: Option<SecretBytes>,
    /// Where it was found, for messages ("the key entry QVS01", "the CA state").
    origin: String,
}

/// Reconstructs the CA contents from an opened archive and lists every problem found.
///
/// With qvca's CA state, the state names every bag the backup may hold: each certificate must
/// have the SHA-256 the index records for its serial, each key the public-key hash the state
/// records (format 2) and its certificate's public key; a serial may appear once; a bag the
/// state does not name is a problem. Every leaf must chain to the root.
fn check_contents(archive: &PfxArchive) -> Result<(BackupContents, Vec<String>)> {
    let mut problems = Vec::new();
    let state = read_state(archive, &mut problems)?;
    let (mut found, loose_certs) = key_entries(archive, &mut problems)?;

    let mut created = None;
    let (index, has_ca_state, crl_pem, oplog) = match state {
        Some(state) => {
            if state.format > STATE_FORMAT {
                return Err(Error::failed(format!(
                    "the backup was written by qvca {} in state format {}, which this qvca \
                     does not know: restore it with that version",
                    state.qvca_version, state.format
                )));
            }
            for der in loose_certs {
                let subject = CertificateDetails::from_der(&der)
                    .map_or_else(|_| "unreadable".to_owned(), |d| d.subject);
                problems.push(format!(
                    "it holds a certificate ({subject}) that its CA state does not name: a bag \
                     was added after the backup was written"
                ));
            }
            for historic in &state.historic {
                found.push(historic_certificate(historic)?);
            }
            check_against_state(&state, &found, &mut problems);
            created = Some(state.created);
            (state.index, true, state.crl_pem, state.oplog)
        }
        None => {
            // Without qvca state only what can work is restored: certificates with their keys,
            // and the self-signed root.
            for der in loose_certs {
                let details = CertificateDetails::from_der(&der)?;
                if details.is_ca == Some(true) && details.is_self_issued() {
                    found.push(FoundCertificate {
                        serial: details.serial.clone(),
                        sha256: details.sha256_fingerprint.clone(),
                        der,
                        key: None,
                        origin: "a certificate bag".into(),
                    });
                }
            }
            check_unique_serials(&found, &mut problems);
            (index_from_certificates(&found)?, false, None, None)
        }
    };

    let certificates = certificates_of_index(&index, &found, &mut problems);
    check_chain(&certificates, &mut problems);
    Ok((
        BackupContents {
            index,
            certificates,
            crl_pem,
            has_ca_state,
            oplog,
            created,
        },
        problems,
    ))
}

/// The CA state from its secret bag; any other secret bag, or a second state, is a problem.
fn read_state(archive: &PfxArchive, problems: &mut Vec<String>) -> Result<Option<BackupState>> {
    let mut state = None;
    for secret in &archive.secrets {
        let name = secret.friendly_name.as_deref().unwrap_or("(unnamed)");
        if name != STATE_BAG_NAME {
            problems.push(format!(
                "it holds a secret bag {name:?} that qvca does not write: a bag was added after \
                 the backup was written"
            ));
            continue;
        }
        if state.is_some() {
            problems.push(
                "it holds two CA states: a bag was added after the backup was written".into(),
            );
            continue;
        }
        state = Some(
            serde_json::from_slice::<BackupState>(secret.bytes.expose()).map_err(|e| {
                Error::authentication(format!("the CA state in the backup is damaged: {e}"))
            })?,
        );
    }
    Ok(state)
}

/// The key entries (certificate + key, matched by local key id) and the certificates that
/// belong to no key.
fn key_entries(
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
    let index = &state.index;
    let mut serials = std::collections::HashSet::new();
    for entry in &index.certificates {
        if !serials.insert(&entry.serial) {
            problems.push(format!("its CA state names serial {} twice", entry.serial));
        }
    }
    let mut names = std::collections::HashSet::new();
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
    check_unique_serials(found, problems);
    let recorded_keys: std::collections::HashMap<&Serial, &str> = state
        .keys
        .iter()
        .map(|k| (&k.serial, k.spki_sha256.as_str()))
        .collect();
    for cert in found {
        let Some(entry) = index.by_serial(&cert.serial) else {
            problems.push(format!(
                "{} holds a certificate (serial {}) that the CA state does not name: a bag was \
                 added after the backup was written",
                cert.origin, cert.serial
            ));
            continue;
        };
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
        if state.format < 2 {
            continue;
        }
        match (&cert.key, recorded_keys.get(&cert.serial)) {
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
            (None, Some(_)) => problems.push(format!(
                "the private key of {} {} (serial {}) is missing",
                entry.kind.description(),
                entry.name,
                entry.serial
            )),
            (None, None) => {}
        }
    }
}

/// A serial may appear once in a backup.
fn check_unique_serials(found: &[FoundCertificate], problems: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
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
fn certificates_of_index(
    index: &Index,
    found: &[FoundCertificate],
    problems: &mut Vec<String>,
) -> Vec<RestoredCertificate> {
    let by_serial: std::collections::HashMap<&Serial, &FoundCertificate> =
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
        if cert.key.is_none() && entry.status == EntryStatus::Active && !entry.keyless {
            problems.push(format!(
                "the private key of {} {} (serial {}) is missing",
                entry.kind.description(),
                entry.name,
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
fn check_chain(certificates: &[RestoredCertificate], problems: &mut Vec<String>) {
    let root = certificates
        .iter()
        .find(|c| c.entry.kind == CertKind::Root && c.entry.status == EntryStatus::Active);
    let Some(root) = root else {
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

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode_upper(sha2::Sha256::digest(bytes))
}

/// An index for a PFX without qvca state (e.g. exported from Windows): the self-signed CA is
/// the root, certificates with serverAuth are Servers, the others Clients.
fn index_from_certificates(found: &[FoundCertificate]) -> Result<Index> {
    let mut root = None;
    let mut entries = Vec::new();
    for cert in found {
        let d = CertificateDetails::from_der(&cert.der)?;
        let name = d.subject_cn.clone().unwrap_or_else(|| d.subject.clone());
        let kind = if d.is_ca == Some(true) && d.is_self_issued() {
            root = Some(name.clone());
            CertKind::Root
        } else if d.has_eku("serverAuth") {
            CertKind::Server
        } else {
            CertKind::Client
        };
        let key_type = crate::pki::key::KeyType::of_public_key(&d.spki_der)
            .unwrap_or(crate::pki::key::KeyType::Rsa2048);
        let entry = Entry::issued(kind, &name, key_type, &d);
        // The names come from outside: the same rule as for every other name.
        entry.check_name().map_err(|e| {
            Error::authentication(format!(
                "the {} certificate with serial {} cannot be restored: its common name is not \
                 a name qvca accepts ({}); nothing was changed",
                kind.description(),
                d.serial,
                e.message()
            ))
        })?;
        entries.push(entry);
    }
    entries.sort_by_key(|e| e.kind != CertKind::Root);
    let mut index = Index::new(Settings {
        root_cn: root.unwrap_or_else(|| crate::domain::name::DEFAULT_ROOT_NAME.to_owned()),
        key_protection: KeyProtection::Encrypted,
        created: OffsetDateTime::now_utc(),
        root_subject: crate::domain::subject::SubjectFields::default(),
        root_key: None,
    });
    index.certificates = entries;
    Ok(index)
}

/// The SecretsKey of the root in a backup (for rotating tokens with `secrets rewrap`).
pub fn secrets_key_from_backup(
    path: &Path,
    password: &Password,
) -> Result<crate::secrets::SecretsKey> {
    let bytes = read_backup_file(path)?;
    let archive = read_pfx(
        bytes.expose(),
        password,
        &path.display().to_string(),
        Integrity::Required,
    )?;
    let (contents, _) = check_contents(&archive)?;
    let root = contents
        .certificates
        .iter()
        .find(|c| c.entry.kind == CertKind::Root && c.entry.status == EntryStatus::Active)
        .ok_or_else(|| Error::failed(format!("{} holds no root certificate", path.display())))?;
    let key = root.key.as_ref().ok_or_else(|| {
        Error::failed(format!(
            "{} holds the root certificate but not its private key, from which the SecretsKey \
             is derived",
            path.display()
        ))
    })?;
    let details = CertificateDetails::from_der(&root.cert_der)?;
    crate::secrets::SecretsKey::derive(key, &details.spki_der)
}

/// What a restore found at the target, and will do or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestoreSituation {
    /// No CA at the target: a plain restore.
    NewCa,
    /// A CA with the same root: replaced (kept aside), after confirmation.
    SameRoot,
    /// A CA with a different root: refused unless `--force`; then kept aside.
    DifferentRoot,
}

/// What `restore` did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// The CA directory.
    pub ca_dir: PathBuf,
    /// The backup's verification.
    pub backup: BackupVerification,
    /// What was found at the target.
    pub situation: RestoreSituation,
    /// True with `--dry-run`: nothing was changed.
    pub dry_run: bool,
    /// Where the replaced CA directory was kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_ca_moved_to: Option<PathBuf>,
    /// Keys re-encrypted under the CA password.
    pub keys_restored: usize,
    /// Revocations of the replaced CA (same root key) that the backup lacked and the restored
    /// CA keeps (`--force` over an older backup).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub revocations_kept: Vec<crate::ops::revocation::LostRevocation>,
    /// The machine whose license-service export the backed-up CA last wrote (the export itself
    /// is not restored: write it again with `export license-service --machine NAME`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_service_machine: Option<String>,
}

/// A backup read and checked once: what `restore` works from.
pub struct OpenedBackup {
    file: PathBuf,
    contents: BackupContents,
    problems: Vec<String>,
    /// The verification report (as `backup verify` prints it).
    pub verification: BackupVerification,
}

/// Reads and checks a backup file (a wrong password or a damaged file is exit 4).
pub fn open_backup(backup_file: &Path, pfx_password: &Password) -> Result<OpenedBackup> {
    let bytes = read_backup_file(backup_file)?;
    let archive = read_pfx(
        bytes.expose(),
        pfx_password,
        &backup_file.display().to_string(),
        Integrity::Required,
    )?;
    let (contents, problems) = check_contents(&archive)?;
    let verification = verification_of(&contents, problems.clone(), backup_file);
    Ok(OpenedBackup {
        file: backup_file.to_owned(),
        contents,
        problems,
        verification,
    })
}

/// What restoring `backup` over `dir` would meet, without changing anything.
pub fn restore_situation(dir: &Path, backup: &OpenedBackup) -> Result<RestoreSituation> {
    situation_for(dir, backup.verification.root_sha256.as_deref())
}

/// What restoring `backup` over `dir` would un-revoke or roll back; `None` when there is no CA
/// with the same root key there (see [`crate::ops::revocation`]).
pub fn restore_rollback(
    dir: &Path,
    backup: &OpenedBackup,
) -> Result<Option<crate::ops::revocation::RollbackCheck>> {
    crate::ops::revocation::compare_with_ca(
        dir,
        &backup.contents.index,
        backup_root_der(&backup.contents.certificates),
    )
}

/// The certificate of the backup's current root.
fn backup_root_der(certificates: &[RestoredCertificate]) -> Option<&[u8]> {
    certificates
        .iter()
        .find(|c| c.entry.kind == CertKind::Root && c.entry.status == EntryStatus::Active)
        .map(|c| c.cert_der.as_slice())
}

fn situation_for(dir: &Path, backup_root_sha256: Option<&str>) -> Result<RestoreSituation> {
    if !Store::at(dir).has_ca() {
        refuse_unless_empty_or_ca(dir)?;
        return Ok(RestoreSituation::NewCa);
    }
    let existing = Ca::open(dir)?;
    let existing_root = existing.root_entry()?.sha256.clone();
    Ok(if backup_root_sha256 == Some(existing_root.as_str()) {
        RestoreSituation::SameRoot
    } else {
        RestoreSituation::DifferentRoot
    })
}

/// A restore goes into a missing or empty directory, or replaces a CA; anything else at the
/// target (documents, a damaged CA without its index) is refused (exit 3), never moved aside.
fn refuse_unless_empty_or_ca(dir: &Path) -> Result<()> {
    // The CA directory may be reached through a symbolic link: judge what it leads to.
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("looking at", dir, e)),
        Ok(meta) if meta.is_dir() => {
            if crate::store::staged::is_empty_but_lock(dir)? || Store::at(dir).has_ca() {
                Ok(())
            } else {
                Err(Error::refused(format!(
                    "{} is not empty and holds no CA (no {}): restore into a new or empty \
                     directory with --ca-dir, or move its contents away first",
                    dir.display(),
                    crate::store::INDEX_FILE
                )))
            }
        }
        Ok(_) => Err(Error::refused(format!(
            "{} exists and is not a directory: restore into a new or empty directory with \
             --ca-dir",
            dir.display()
        ))),
    }
}

/// Options of a restore.
#[derive(Debug, Clone, Copy, Default)]
pub struct RestoreOptions {
    /// Replace a CA with a different root (`--force`), or restore a PFX without qvca state
    /// from its certificates alone.
    pub force: bool,
    /// Report only.
    pub dry_run: bool,
}

/// Restores a backup into `dir`: verifies everything first, builds the new CA directory next to
/// it, then swaps it in; a replaced CA directory is kept as `<dir>.replaced-<timestamp>`.
/// The caller has confirmed a same-root replacement. `protector` seals the keys at rest (the
/// CA password of the restored CA; a CA backed up without a password stays without one only
/// if the protector is unprotected).
pub fn restore(
    dir: &Path,
    backup: OpenedBackup,
    protector: &dyn Fn(KeyProtection) -> Result<KeyProtector>,
    options: RestoreOptions,
) -> Result<RestoreReport> {
    let OpenedBackup {
        file: backup_file,
        mut contents,
        problems,
        verification,
    } = backup;
    let backup_file = backup_file.as_path();
    if !contents.has_ca_state {
        // What --force cannot mend is said once, without suggesting --force.
        if !problems.is_empty() {
            return Err(Error::failed(format!(
                "{} was not written by `qvca backup`, and cannot be restored as a new CA either: \
                 {}. A CA cannot work without its root key: export the root with its key from \
                 the old CA (or restore a `qvca backup` file)",
                backup_file.display(),
                problems.join("; ")
            )));
        }
        if !options.force {
            return Err(Error::failed(format!(
                "{} was not written by `qvca backup`: it lacks qvca's CA state (the index, \
                 settings and CRL number). It holds a root with its private key, so --force \
                 restores its certificates and keys as a new CA",
                backup_file.display()
            )));
        }
    } else if !problems.is_empty() {
        return Err(Error::verification(format!(
            "the backup {} does not verify, nothing was changed: {}",
            backup_file.display(),
            problems.join("; ")
        )));
    }

    let store = Store::at(dir);
    let lock = if store.has_ca() {
        Some(store.lock()?)
    } else {
        None
    };
    let situation = situation_for(dir, verification.root_sha256.as_deref())?;
    if situation == RestoreSituation::DifferentRoot && !options.force {
        let existing = Ca::open(dir)?;
        let root = existing.root_entry()?;
        return Err(Error::refused(format!(
            "{} holds a CA with a different root ({} serial {}) than the backup ({}); pass \
             --force to replace it (it is kept as {}.replaced-<timestamp>), or restore into \
             another --ca-dir",
            dir.display(),
            root.name,
            root.serial,
            verification.root.as_deref().unwrap_or("unknown"),
            dir.display()
        )));
    }
    // Revocations and CRL numbers never go backwards (same root key only).
    let carried = crate::ops::revocation::guard_restore(
        dir,
        &mut contents.index,
        backup_root_der(&contents.certificates),
        options.force,
    )?;
    contents
        .certificates
        .extend(
            carried
                .added
                .into_iter()
                .map(|(entry, cert_der)| RestoredCertificate {
                    entry,
                    cert_der,
                    key: None,
                }),
        );
    contents.crl_pem = carried.newer_crl_pem.or(contents.crl_pem);
    let mut report = RestoreReport {
        ca_dir: dir.to_owned(),
        backup: verification,
        situation,
        dry_run: options.dry_run,
        replaced_ca_moved_to: None,
        keys_restored: contents
            .certificates
            .iter()
            .filter(|c| c.key.is_some())
            .count(),
        revocations_kept: carried
            .check
            .map(|c| c.lost_revocations)
            .unwrap_or_default(),
        license_service_machine: contents
            .index
            .license_service_export
            .as_ref()
            .map(|record| record.machine.clone()),
    };
    if options.dry_run {
        return Ok(report);
    }

    let protector = protector(contents.index.settings.key_protection)?;
    let now = OffsetDateTime::now_utc();
    let dir = &crate::store::normalized(dir);
    // Built in a staging directory locked from the start, swapped in while the old CA's lock
    // is still held: an issue waiting on either lock then works on the restored CA.
    let staged = StagedDir::create(dir, Staging::Restore)?;
    write_restored_ca(&staged, dir, &contents, &protector)?;
    crate::store::crash_point("restore-before-swap");
    let installed = staged.install(&refuse_unless_empty_or_ca, now)?;
    report.replaced_ca_moved_to = installed.aside.clone();
    crate::store::crash_point("restore-after-swap");
    drop(installed);
    drop(lock);
    Ok(report)
}

fn write_restored_ca(
    staged: &StagedDir,
    final_dir: &Path,
    contents: &BackupContents,
    protector: &KeyProtector,
) -> Result<()> {
    let lock = staged
        .lock()
        .ok_or_else(|| Error::failed("internal error: the staged CA is not locked"))?;
    let store = Store::at(staged.path());
    store.create_dirs()?;
    let mut index = contents.index.clone();
    index.settings.key_protection = protector.protection();
    // The license-service export recorded in the backup is not part of the restored directory.
    index.license_service_export = None;
    // The CRL travels with the backup and lands at the restored CA's default place.
    index.last_crl = match (&contents.crl_pem, index.last_crl.take()) {
        (Some(_), Some(mut record)) => {
            record.path = Store::at(final_dir).crl_path().display().to_string();
            Some(record)
        }
        _ => None,
    };
    for c in &contents.certificates {
        let cert_pem = to_pem("CERTIFICATE", &c.cert_der);
        match &c.key {
            Some(key) => {
                let sealed = protector.seal(key.expose())?;
                store.write_cert_and_key(
                    &c.entry.serial,
                    cert_pem.as_bytes(),
                    sealed.expose(),
                    crate::store::Durability::Deferred,
                )?;
            }
            None => crate::store::atomic::write_atomic(
                &store.cert_path(&c.entry.serial),
                cert_pem.as_bytes(),
                crate::store::FileMode::Public,
                crate::store::Durability::Deferred,
            )?,
        }
    }
    if let Some(crl) = &contents.crl_pem {
        crate::store::atomic::write_atomic(
            &store.crl_path(),
            crl.as_bytes(),
            crate::store::FileMode::Public,
            crate::store::Durability::Deferred,
        )?;
    }
    // Every certificate written, with its key when it has one (a keyless certificate or a
    // historic one whose key was gone has none).
    let serials: Vec<Serial> = contents
        .certificates
        .iter()
        .map(|c| c.entry.serial.clone())
        .collect();
    store.sync_batch(&serials)?;
    // The restored CA's log: the backup's, then this restore (see `store::oplog`).
    if let Some(log) = &contents.oplog {
        crate::store::oplog::write_log(&store, log)?;
    }
    let root = index.root().map(|r| (r.serial.clone(), r.name.clone()));
    let mut op = crate::store::oplog::Operation::new("restore");
    if let Some((serial, name)) = root {
        op.add_certificate(&serial, &name);
    }
    store.save_index(&mut index, lock, &op)?;
    Ok(())
}

/// The next free `qvca-backup-<YYYYMMDDTHHMMSSZ>[-N].pfx` in `dir`.
fn next_backup_name(dir: &Path, now: OffsetDateTime) -> PathBuf {
    let stamp = crate::store::file_stamp(now);
    let mut candidate = dir.join(format!("{BACKUP_PREFIX}{stamp}.pfx"));
    let mut n = 2;
    while candidate.exists() {
        candidate = dir.join(format!("{BACKUP_PREFIX}{stamp}-{n}.pfx"));
        n += 1;
    }
    candidate
}

/// Parses a backup file name into its sort key (timestamp, counter); None for other files.
pub fn backup_name_key(name: &str) -> Option<(String, u32)> {
    let rest = name.strip_prefix(BACKUP_PREFIX)?.strip_suffix(".pfx")?;
    let (stamp, counter) = match rest.split_once('-') {
        Some((stamp, n)) => (stamp, n.parse::<u32>().ok().filter(|n| *n >= 2)?),
        None => (rest, 1),
    };
    let bytes = stamp.as_bytes();
    let well_formed = bytes.len() == 16
        && bytes[8] == b'T'
        && bytes[15] == b'Z'
        && bytes[..8]
            .iter()
            .chain(&bytes[9..15])
            .all(u8::is_ascii_digit);
    well_formed.then(|| (stamp.to_owned(), counter))
}

/// What makes a file in a backup directory one of this CA's backups.
struct BackupOwner<'a> {
    /// The password of the backup just written (`--keep` prunes only backups under it).
    password: &'a Password,
    /// The public key of this CA's root.
    root_spki: &'a [u8],
}

impl BackupOwner<'_> {
    /// True when `path` is a regular file (not a link) that opens under the password (its MAC
    /// verifies), holds qvca's CA state without problems, and whose root has this CA's root
    /// key. Nobody without the backup password can make such a file, so planted files with
    /// backup-like names are never counted or deleted.
    ///
    /// Returns when the backup was written, as its authenticated CA state records it (`None`
    /// for a file that is not recognised): backups are ranked by that, never by their file
    /// name, which anyone who can write the folder can choose.
    fn recognises(&self, path: &Path) -> Option<OffsetDateTime> {
        if !std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
            return None;
        }
        let bytes = read_backup_file(path).ok()?;
        let archive = read_pfx(
            bytes.expose(),
            self.password,
            &path.display().to_string(),
            Integrity::Required,
        )
        .ok()?;
        let (contents, problems) = check_contents(&archive).ok()?;
        let ours = contents.has_ca_state
            && problems.is_empty()
            && contents.certificates.iter().any(|c| {
                c.entry.kind == CertKind::Root
                    && c.entry.status == EntryStatus::Active
                    && CertificateDetails::from_der(&c.cert_der)
                        .is_ok_and(|d| d.spki_der == self.root_spki)
            });
        if ours { contents.created } else { None }
    }
}

/// Deletes all but the newest `keep` backups of this CA in `dir` (the one `just_written`
/// always counts as one of them, whatever the clock said before). Only files that `owner`
/// recognises count and are deleted; other files named like backups are returned as not
/// recognised and left alone; nothing else is touched.
fn prune_backups(
    dir: &Path,
    keep: usize,
    just_written: &Path,
    owner: &BackupOwner<'_>,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let named: Vec<((String, u32), PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| Error::io("listing", dir, e))?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            backup_name_key(&name).map(|key| (key, e.path()))
        })
        .filter(|(_, path)| path.file_name() != just_written.file_name())
        .collect();
    // Ranked by the time recorded inside each backup (then by name): a copy of an old backup
    // planted under a far-future name is old, and cannot push newer backups out.
    let mut backups = Vec::new();
    let mut not_recognised = Vec::new();
    for (key, path) in named {
        match owner.recognises(&path) {
            Some(created) => backups.push(((created, key), path)),
            None => not_recognised.push((key, path)),
        }
    }
    backups.sort();
    let excess = backups.len().saturating_sub(keep.saturating_sub(1));
    let mut removed = Vec::new();
    for (_, path) in backups.into_iter().take(excess) {
        std::fs::remove_file(&path).map_err(|e| Error::io("removing the old backup", &path, e))?;
        removed.push(path);
    }
    Ok((
        removed,
        not_recognised.into_iter().map(|(_, p)| p).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_backup_names_are_recognised() {
        assert!(backup_name_key("qvca-backup-20261123T105402Z.pfx").is_some());
        assert_eq!(
            backup_name_key("qvca-backup-20261123T105402Z-3.pfx").map(|k| k.1),
            Some(3)
        );
        for other in [
            "qvca-backup-20261123T105402Z.pfx.bak",
            "qvca-backup-latest.pfx",
            "my-qvca-backup-20261123T105402Z.pfx",
            "qvca-backup-20261123T105402Z-1.pfx",
            "qvca-backup-2026112XT105402Z.pfx",
            ".qvca-backup-tmp-abc.partial",
        ] {
            assert!(backup_name_key(other).is_none(), "{other}");
        }
    }

    #[test]
    fn later_backups_sort_after_earlier_ones() {
        let mut keys = [
            backup_name_key("qvca-backup-20261123T105402Z-2.pfx"),
            backup_name_key("qvca-backup-20261124T000000Z.pfx"),
            backup_name_key("qvca-backup-20261123T105402Z.pfx"),
        ];
        keys.sort();
        assert_eq!(keys[0].as_ref().map(|k| k.1), Some(1));
        assert_eq!(keys[1].as_ref().map(|k| k.1), Some(2));
        assert_eq!(
            keys[2].as_ref().map(|k| k.0.as_str()),
            Some("20261124T000000Z")
        );
    }
}
