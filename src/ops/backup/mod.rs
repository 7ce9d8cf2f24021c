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
//! A CA whose root key lives in a PKCS#11 token is backed up without it (the key never leaves
//! the token): the root certificate travels in the CA state, and the index in it records where
//! the key lives (token label and serial, key label and id, the SecretsKey's label). Such a
//! backup holds no key for any root certificate; `restore` checks that the key it finds in the
//! token signs for the root. The key itself is backed up with the HSM's own means.
//!
//! Every backup is read back from disk and verified before it gets its final name.
//!
//! One module per job: this one makes a backup; `state` is the format of the CA state,
//! `contents` checks every bag against it, `import` reads a PKCS#12 without it (from
//! Windows, openssl), `verify` opens and checks a backup file, `restore` restores one and
//! `rotation` names backups and prunes them (`--keep`).

mod contents;
mod import;
mod restore;
mod rotation;
mod state;
mod verify;

pub use restore::{
    OpenedBackup, RestoreOptions, RestoreReport, RestoreSituation, open_backup, restore,
    restore_rollback, restore_situation,
};
pub use rotation::backup_name_key;
pub use state::STATE_BAG_NAME;
pub use verify::{
    BackupEntry, BackupVerification, root_key_from_backup, verify_backup_bytes, verify_backup_file,
};

use crate::domain::kind::CertKind;
use crate::domain::secret::{Password, SecretBytes};
use crate::error::{Error, Result};
use crate::ops::backup::rotation::{BackupOwner, Pruned, next_backup_name, prune_backups};
use crate::ops::backup::state::{
    BackupState, HistoricCertificate, KeyRecord, STATE_FORMAT, sha256_hex,
};
use crate::ops::ca::{Ca, RootSigner};
use crate::pki::certificate::to_pem;
use crate::pki::pkcs12::{PfxContents, PfxEncryption, PfxKey, public_key_of, write_pfx};
use crate::store::atomic::{UnnamedFile, parent_dir};
use crate::store::{Entry, EntryStatus, create_private_dir};
use base64::Engine;
use serde::Serialize;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

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
    let (dir, final_path) = destination(target, now)?;
    let bytes = SecretBytes::new(build_backup(ca, signer, password, encryption, now)?);
    let replace = matches!(target, BackupTarget::Replace(_));
    let (written, verification) =
        write_verified(&dir, &final_path, replace, bytes.expose(), password)?;
    let (pruned, not_recognised): Pruned = match (keep, target) {
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
        bytes: written,
        certificates: verification.entries.len(),
        keys: verification.entries.iter().filter(|e| e.has_key).count(),
        encryption,
        verified: true,
        pruned,
        not_recognised,
    })
}

/// The folder a backup is written in and its final name there (created owner-only when it
/// does not exist); a `--out` file that exists already is refused (exit 3).
fn destination(target: &BackupTarget, now: OffsetDateTime) -> Result<(PathBuf, PathBuf)> {
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
    Ok((dir, final_path))
}

/// Writes the backup under a temporary name in `dir`, reads it back from disk and verifies it,
/// and only then names it `final_path` (replacing a file there only when `replace`). Returns
/// its size and its verification.
fn write_verified(
    dir: &Path,
    final_path: &Path,
    replace: bool,
    bytes: &[u8],
    password: &Password,
) -> Result<(u64, BackupVerification)> {
    let unnamed = UnnamedFile::write(dir, ".qvca-backup-tmp-", ".partial", bytes)?;
    crate::store::crash_point("backup-before-verify");
    let written = unnamed.read_back()?;
    let verification = verify_backup_bytes(&written, password, unnamed.path())?;
    if !verification.ok || !verification.has_ca_state {
        return Err(Error::verification(format!(
            "the backup read back from disk does not verify ({}); nothing was written",
            verification.problems.join("; ")
        )));
    }
    // A backup never replaces a file it was not asked to (a named one without --force, or a
    // file that took the generated name meanwhile).
    unnamed.name(final_path, replace, |e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::refused(format!(
                "{} appeared while the backup was written; nothing was replaced: pass \
                 --force to replace it, or choose another name",
                final_path.display()
            ))
        } else {
            Error::io("naming the backup", final_path, e)
        }
    })?;
    crate::store::crash_point("backup-after-rename");
    Ok((written.len() as u64, verification))
}

/// A current certificate with its key: a key entry of the backup.
struct KeyEntry {
    name: String,
    key: SecretBytes,
    cert_der: Vec<u8>,
}

/// The CA's certificates and keys as a backup carries them.
#[derive(Default)]
struct Collected {
    /// The current certificates with their keys: the backup's key entries.
    current: Vec<KeyEntry>,
    /// Every other certificate (superseded, revoked, keyless), carried in the CA state.
    historic: Vec<HistoricCertificate>,
    /// The public key of every private key in the backup.
    keys: Vec<KeyRecord>,
}

/// Builds the PKCS#12 bytes of a backup.
fn build_backup(
    ca: &Ca,
    signer: &RootSigner,
    password: &Password,
    encryption: PfxEncryption,
    now: OffsetDateTime,
) -> Result<Vec<u8>> {
    let collected = collect_entries(ca, signer)?;
    // Only a CRL that does not exist is left out; one that cannot be read fails the backup.
    let crl_pem = crate::ops::revocation::read_ca_crl(ca)?.map(|crl| to_pem("X509 CRL", &crl.der));
    let state_json = BackupState {
        format: STATE_FORMAT,
        qvca_version: env!("CARGO_PKG_VERSION").to_owned(),
        created: now,
        index: ca.index().clone(),
        historic: collected.historic,
        crl_pem,
        keys: collected.keys,
        oplog: crate::store::oplog::read_log(ca.store())?,
    }
    .to_json()?;
    let aliases = unique_aliases(&collected.current);
    let contents = PfxContents {
        keys: collected
            .current
            .iter()
            .zip(&aliases)
            .map(|(entry, alias)| PfxKey {
                friendly_name: alias,
                pkcs8: &entry.key,
                cert_der: &entry.cert_der,
            })
            .collect(),
        trusted: Vec::new(),
        secrets: vec![(STATE_BAG_NAME, state_json.expose())],
    };
    write_pfx(&contents, password, encryption)
}

/// Sorts every certificate of the index into a key entry (the current certificate of each
/// name, with its key) or the CA state, and records the public key of every key.
fn collect_entries(ca: &Ca, signer: &RootSigner) -> Result<Collected> {
    let mut collected = Collected::default();
    let mut used_names = std::collections::HashSet::new();
    for entry in &ca.index().certificates {
        let cert_der = ca.certificate_der(entry)?;
        let key = backed_up_key(ca, signer, entry)?;
        if let Some(key) = &key {
            collected.keys.push(key_record(entry, key)?);
        }
        let is_current = entry.status == EntryStatus::Active
            && used_names.insert((entry.kind, entry.name.to_ascii_lowercase()));
        match (is_current, key) {
            (true, Some(key)) => collected.current.push(KeyEntry {
                name: entry.name.clone(),
                key,
                cert_der: cert_der.to_vec(),
            }),
            (_, key) => collected.historic.push(HistoricCertificate {
                serial: entry.serial.clone(),
                cert_pem: to_pem("CERTIFICATE", &cert_der),
                key_pkcs8: key
                    .map(|k| base64::engine::general_purpose::STANDARD.encode(k.expose())),
            }),
        }
    }
    Ok(collected)
}

/// The key of `entry` that the backup carries, if any.
fn backed_up_key(ca: &Ca, signer: &RootSigner, entry: &Entry) -> Result<Option<SecretBytes>> {
    // A root key in a PKCS#11 token never leaves it: the CA state records where it lives, and
    // the HSM's own backup keeps the key (docs/hsm.md).
    if entry.kind == CertKind::Root && ca.index().settings.root_key.is_some() {
        return Ok(None);
    }
    match ca.open_key(signer, entry) {
        Ok(key) => Ok(Some(key)),
        // A keyless certificate's key lives on the node: the backup carries its certificate.
        Err(_) if entry.keyless => Ok(None),
        // The key of a superseded or revoked certificate is not needed to run the CA.
        Err(_) if entry.status != EntryStatus::Active => Ok(None),
        Err(e) => Err(e),
    }
}

/// The state's record of the public key of `entry`'s private key.
fn key_record(entry: &Entry, key: &SecretBytes) -> Result<KeyRecord> {
    let spki = public_key_of(key).ok_or_else(|| {
        Error::failed(format!(
            "the private key of {} {} (serial {}) cannot be read",
            entry.kind.description(),
            entry.name,
            entry.serial
        ))
    })?;
    Ok(KeyRecord {
        serial: entry.serial.clone(),
        spki_sha256: sha256_hex(&spki),
    })
}

/// The friendly names of the key entries. Aliases must be unique in a PKCS#12 key store: a
/// Client certificate named like a machine (unlikely) gets " (2)" appended.
fn unique_aliases(current: &[KeyEntry]) -> Vec<String> {
    let mut aliases: Vec<String> = Vec::new();
    for entry in current {
        let mut alias = entry.name.clone();
        while aliases.iter().any(|a| a.eq_ignore_ascii_case(&alias)) {
            alias.push_str(" (2)");
        }
        aliases.push(alias);
    }
    aliases
}
