//! Restoring a backup: everything is checked first, the new CA directory is built in a staging
//! directory next to the target ([`StagedDir`], locked from the start) and swapped in; a
//! replaced CA is kept aside.

use crate::domain::secret::Password;
use crate::domain::serial::Serial;
use crate::error::{Error, Result};
use crate::ops::backup::contents::{BackupContents, RestoredCertificate, current_root};
use crate::ops::backup::verify::{BackupVerification, read_contents, verification_of};
use crate::ops::ca::Ca;
use crate::ops::hsm::{TokenAccess, open_token_key_or};
use crate::ops::revocation::{LostRevocation, RollbackCheck};
use crate::pki::certificate::{CertificateDetails, to_pem};
use crate::pki::key::{KeyProtection, KeyProtector};
use crate::secrets::hsm::HsmSecretsKey;
use crate::store::{CaLock, Durability, FileMode, Index, StagedDir, Staging, Store};
use serde::Serialize;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

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
    pub revocations_kept: Vec<LostRevocation>,
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
    let (contents, problems) = read_contents(backup_file, pfx_password)?;
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
pub fn restore_rollback(dir: &Path, backup: &OpenedBackup) -> Result<Option<RollbackCheck>> {
    crate::ops::revocation::compare_with_ca(
        dir,
        &backup.contents.index,
        backup_root_der(&backup.contents.certificates),
    )
}

/// The certificate of the backup's current root.
fn backup_root_der(certificates: &[RestoredCertificate]) -> Option<&[u8]> {
    current_root(certificates).map(|c| c.cert_der.as_slice())
}

/// What is at `dir`: no CA, or a CA with the backup's root or another one.
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
///
/// A backup of a CA whose root key lives in a PKCS#11 token holds no root key: `token` says
/// how to reach the token, whose key must sign for the backup's root certificate (exit 5
/// otherwise, naming the module, the token and the key), also with `--dry-run`; a module path
/// the backup records is loaded only when `token` names the same module.
pub fn restore(
    dir: &Path,
    backup: OpenedBackup,
    protector: &dyn Fn(KeyProtection) -> Result<KeyProtector>,
    token: Option<&TokenAccess<'_>>,
    options: RestoreOptions,
) -> Result<RestoreReport> {
    let OpenedBackup {
        file: backup_file,
        mut contents,
        problems,
        verification,
    } = backup;
    refuse_unrestorable(&backup_file, &contents, &problems, options.force)?;
    check_token_root(&backup_file, &contents, token)?;

    let store = Store::at(dir);
    let lock = if store.has_ca() {
        Some(store.lock()?)
    } else {
        None
    };
    let situation = situation_for(dir, verification.root_sha256.as_deref())?;
    if situation == RestoreSituation::DifferentRoot && !options.force {
        return Err(different_root_refusal(dir, &verification));
    }
    let revocations_kept = carry_revocations(dir, &mut contents, options.force)?;
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
        revocations_kept,
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
    report.replaced_ca_moved_to = install_restored_ca(dir, &contents, &protector)?;
    drop(lock);
    Ok(report)
}

/// For a backup of a CA whose root key lives in a PKCS#11 token (its CA state records where):
/// the key in the token must sign for the backup's root certificate (exit 5 otherwise, naming
/// the module, the token and the key), and the token must hold the CA's SecretsKey when the
/// state records one. A backup never chooses a library to load: when its state names a
/// `module-path`, the same module must be given with `--pkcs11-module` or `QVCA_PKCS11_MODULE`
/// (exit 2 otherwise). An unreachable token or module is exit 1, as everywhere.
fn check_token_root(
    backup_file: &Path,
    contents: &BackupContents,
    token: Option<&TokenAccess<'_>>,
) -> Result<()> {
    let Some(location) = &contents.index.settings.root_key else {
        return Ok(());
    };
    let root = current_root(&contents.certificates).ok_or_else(|| {
        Error::verification(format!(
            "{} holds no current root certificate; nothing was restored",
            backup_file.display()
        ))
    })?;
    if let Some(recorded) = location.module_path() {
        let given = token.and_then(|t| t.module.as_deref());
        if given != Some(recorded) {
            return Err(Error::usage(format!(
                "the backup {} says the root key is reached through the PKCS#11 module {}; \
                 qvca does not load a library because a backup names it: give the same module \
                 with --pkcs11-module (or QVCA_PKCS11_MODULE) to confirm it; nothing was \
                 restored",
                backup_file.display(),
                recorded.display()
            )));
        }
    }
    let details = CertificateDetails::from_der(&root.cert_der)?;
    let key = open_token_key_or(location, token, &details.spki_der, |module| {
        Error::verification(format!(
            "the key in the PKCS#11 token ({location}, module {}) does not sign for the \
             backup's root certificate (serial {}): it is not this CA's root key; nothing was \
             restored: restore the token from the HSM's backup, or name the module and token \
             that hold the root key",
            module.display(),
            root.entry.serial
        ))
    })?;
    if location.secrets_key_label().is_some() {
        HsmSecretsKey::open(&key, &details.spki_der, location.secrets_key_label()).map_err(
            |e| {
                Error::verification(format!(
                    "the PKCS#11 token holds the root key but not the CA's SecretsKey ({}); \
                     nothing was restored: restore the token from the HSM's backup, which \
                     keeps both",
                    e.message()
                ))
            },
        )?;
    }
    Ok(())
}

/// Refuses a backup that does not verify, and a PKCS#12 file without qvca's CA state unless
/// `force` (then it must hold a working CA: its root with its key).
fn refuse_unrestorable(
    backup_file: &Path,
    contents: &BackupContents,
    problems: &[String],
    force: bool,
) -> Result<()> {
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
        if !force {
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
    Ok(())
}

/// The refusal (exit 3) to replace the CA in `dir`, whose root is not the backup's, without
/// `--force`.
fn different_root_refusal(dir: &Path, verification: &BackupVerification) -> Error {
    let existing = match Ca::open(dir) {
        Ok(existing) => existing,
        Err(e) => return e,
    };
    let root = match existing.root_entry() {
        Ok(root) => root,
        Err(e) => return e,
    };
    Error::refused(format!(
        "{} holds a CA with a different root ({} serial {}) than the backup ({}); pass \
         --force to replace it (it is kept as {}.replaced-<timestamp>), or restore into \
         another --ca-dir",
        dir.display(),
        root.name,
        root.serial,
        verification.root.as_deref().unwrap_or("unknown"),
        dir.display()
    ))
}

/// Revocations and CRL numbers never go backwards (same root key only): the revocations of the
/// CA in `dir` that the backup lacks, its revoked certificates and a newer CRL join the
/// restored contents. Returns the revocations kept.
fn carry_revocations(
    dir: &Path,
    contents: &mut BackupContents,
    force: bool,
) -> Result<Vec<LostRevocation>> {
    let carried = crate::ops::revocation::guard_restore(
        dir,
        &mut contents.index,
        backup_root_der(&contents.certificates),
        force,
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
    contents.crl_pem = carried.newer_crl_pem.or(contents.crl_pem.take());
    Ok(carried
        .check
        .map(|c| c.lost_revocations)
        .unwrap_or_default())
}

/// Builds the restored CA in a staging directory locked from the start and swaps it in while
/// the old CA's lock is still held (an issue waiting on either lock then works on the restored
/// CA). Returns where the replaced CA directory was kept.
fn install_restored_ca(
    dir: &Path,
    contents: &BackupContents,
    protector: &KeyProtector,
) -> Result<Option<PathBuf>> {
    let now = OffsetDateTime::now_utc();
    let dir = &crate::store::normalized(dir);
    let staged = StagedDir::create(dir, Staging::Restore)?;
    write_restored_ca(&staged, dir, contents, protector)?;
    crate::store::crash_point("restore-before-swap");
    let installed = staged.install(&refuse_unless_empty_or_ca, now)?;
    let aside = installed.aside.clone();
    crate::store::crash_point("restore-after-swap");
    drop(installed);
    Ok(aside)
}

/// Writes the restored CA into the staging directory: certificates and keys (sealed by
/// `protector`), the CRL, the operations log, and last the index, which commits it.
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
    let mut index = restored_index(contents, protector, final_dir);
    write_restored_files(&store, contents, protector)?;
    commit_restored_index(&store, &mut index, contents.oplog.as_deref(), lock)
}

/// The restored CA's index: the backup's, with the new key protection, without the
/// license-service export record, and with the CRL at the restored CA's default place.
fn restored_index(contents: &BackupContents, protector: &KeyProtector, final_dir: &Path) -> Index {
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
    index
}

/// Every certificate with its key when it has one (a keyless certificate or a historic one
/// whose key was gone has none), and the CRL; synced as one batch.
fn write_restored_files(
    store: &Store,
    contents: &BackupContents,
    protector: &KeyProtector,
) -> Result<()> {
    for c in &contents.certificates {
        let cert_pem = to_pem("CERTIFICATE", &c.cert_der);
        match &c.key {
            Some(key) => {
                let sealed = protector.seal(key.expose())?;
                store.write_cert_and_key(
                    &c.entry.serial,
                    cert_pem.as_bytes(),
                    sealed.expose(),
                    Durability::Deferred,
                )?;
            }
            None => crate::store::atomic::write_atomic(
                &store.cert_path(&c.entry.serial),
                cert_pem.as_bytes(),
                FileMode::Public,
                Durability::Deferred,
            )?,
        }
    }
    if let Some(crl) = &contents.crl_pem {
        crate::store::atomic::write_atomic(
            &store.crl_path(),
            crl.as_bytes(),
            FileMode::Public,
            Durability::Deferred,
        )?;
    }
    let serials: Vec<Serial> = contents
        .certificates
        .iter()
        .map(|c| c.entry.serial.clone())
        .collect();
    store.sync_batch(&serials)
}

/// The restored CA's log (the backup's, then this restore; see `store::oplog`) and its index.
fn commit_restored_index(
    store: &Store,
    index: &mut Index,
    oplog: Option<&str>,
    lock: &CaLock,
) -> Result<()> {
    if let Some(log) = oplog {
        crate::store::oplog::write_log(store, log)?;
    }
    let root = index.root().map(|r| (r.serial.clone(), r.name.clone()));
    let mut op = crate::store::oplog::Operation::new("restore");
    if let Some((serial, name)) = root {
        op.add_certificate(&serial, &name);
    }
    store.save_index(index, lock, &op)
}
