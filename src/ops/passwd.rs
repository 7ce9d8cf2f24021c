//! `passwd`: changing the CA password, re-encrypting every private key the CA holds.
//!
//! The change is one staged replacement of the whole CA directory ([`StagedDir`] with
//! [`Staging::Passwd`]): a full copy of the CA is built next to it, every key re-sealed under
//! the new password and the index saying so, locked from its creation; then it is swapped in
//! while the old CA's lock is still held. A crash before the swap leaves the old CA untouched
//! (and a staging directory that `doctor` reports and the next staged operation removes); a
//! crash after it leaves the new CA in place.
//!
//! Unlike `restore` and `init --force`, the replaced directory is NOT kept aside: it holds the
//! keys under the old password, perhaps a leaked one, and keeping it would defeat the change.
//! It is removed right after the swap (a plain `remove_dir_all`: the file system may still hold
//! the old blocks; see the README). A CA made with `--no-password` gains a password: its keys
//! become encrypted and the index's `key_protection` says so.

use crate::domain::secret::Password;
use crate::domain::serial::Serial;
use crate::error::{Error, Result};
use crate::ops::ca::{LockedCa, RootSigner};
use crate::pki::key::{KeyProtection, KeyProtector};
use crate::store::atomic::{Durability, FileMode, write_atomic};
use crate::store::staged::still_a_ca;
use crate::store::{INDEX_FILE, LOCK_FILE, StagedDir, Staging, Store, crash_point};
use std::path::{Path, PathBuf};

/// New passwords shorter than this many characters get a warning (they are still accepted).
pub const SHORT_PASSWORD_CHARS: usize = 12;

/// The warning for a new password shorter than [`SHORT_PASSWORD_CHARS`].
pub const SHORT_PASSWORD_WARNING: &str =
    "a short password can be guessed offline; 16 or more characters recommended";

/// True when a new password is short enough to deserve [`SHORT_PASSWORD_WARNING`].
pub fn is_short(password: &Password) -> bool {
    password.expose().chars().count() < SHORT_PASSWORD_CHARS
}

/// What `passwd` did (the JSON of `qvca --json passwd`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PasswdReport {
    /// The CA directory.
    #[serde(skip)]
    pub ca_dir: PathBuf,
    /// How many private keys were re-encrypted under the new password.
    pub keys_reencrypted: usize,
    /// How keys are stored now (always `encrypted`).
    pub key_protection: KeyProtection,
    /// The replaced CA (keys under the OLD password) when removing it failed after the new
    /// one was in place: the password was changed, but this directory must be deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_ca_not_removed: Option<PathBuf>,
}

/// Re-encrypts every private key of `ca` under `new` and installs the result atomically.
/// `signer` is the root unlocked with the current password (so a wrong current password has
/// already failed with exit 4, nothing changed). A new password equal to the current one is
/// refused (exit 3: unchanged); an empty one is a usage error.
pub fn change_password(ca: LockedCa, signer: &RootSigner, new: Password) -> Result<PasswdReport> {
    if new.is_empty() {
        return Err(Error::usage(
            "the new CA password is empty: give a non-empty one; nothing was changed",
        ));
    }
    if signer.protector().has_password(&new) {
        return Err(Error::refused(
            "the new CA password is the same as the current one: the password is unchanged and \
             nothing was written; give a different new password",
        ));
    }
    let new_protector = KeyProtector::encrypted(new);
    let staged = StagedDir::create(ca.dir(), Staging::Passwd)?;
    let keys_reencrypted = write_resealed_ca(&ca, signer, &staged, &new_protector)?;
    crash_point("passwd-before-swap");
    let installed = staged.install(
        &|dir| still_a_ca(dir, "nothing was changed"),
        time::OffsetDateTime::now_utc(),
    )?;
    crash_point("passwd-after-swap");
    let old_ca_not_removed = match &installed.aside {
        Some(old) => crate::store::staged::remove_replaced(old)
            .err()
            .map(|_| old.clone()),
        None => None,
    };
    let report = PasswdReport {
        ca_dir: ca.dir().to_owned(),
        keys_reencrypted,
        key_protection: new_protector.protection(),
        old_ca_not_removed,
    };
    drop(installed);
    drop(ca);
    Ok(report)
}

/// Builds the copy of `ca` in `staged`: every file as it is, but the keys re-sealed by `new`
/// and the index (written last, under the staged lock) saying they are encrypted. Returns how
/// many keys were re-sealed. Key files the index does not name are not carried over (they
/// would keep the old password); keyless entries have none.
fn write_resealed_ca(
    ca: &LockedCa,
    signer: &RootSigner,
    staged: &StagedDir,
    new: &KeyProtector,
) -> Result<usize> {
    let lock = staged
        .lock()
        .ok_or_else(|| Error::failed("internal error: the staged CA is not locked"))?;
    let store = Store::at(staged.path());
    store.create_dirs()?;
    copy_tree(ca.dir(), staged.path(), true)?;
    let mut resealed: Vec<Serial> = Vec::new();
    for entry in &ca.index().certificates {
        if entry.keyless {
            continue;
        }
        let key_path = ca.store().confined(ca.store().key_path(&entry.serial))?;
        if !key_path.is_file() {
            // A historic certificate whose key is gone: nothing to re-encrypt.
            continue;
        }
        let pkcs8 = ca.open_key(signer, entry)?;
        let sealed = new.seal(pkcs8.expose())?;
        write_atomic(
            &store.key_path(&entry.serial),
            sealed.expose(),
            FileMode::Secret,
            Durability::Deferred,
        )?;
        resealed.push(entry.serial.clone());
    }
    sync_tree(staged.path())?;
    let mut index = ca.index().clone();
    index.settings.key_protection = new.protection();
    store.save_index(
        &mut index,
        lock,
        &crate::store::oplog::Operation::new("passwd"),
    )?;
    Ok(resealed.len())
}

/// Copies the files under `from` into `to` (same modes, not yet synced), skipping at the top
/// level what the staged CA writes itself: the lock, the index, the keys and temporary files.
/// A symbolic link inside the CA directory is refused, as everywhere.
fn copy_tree(from: &Path, to: &Path, top: bool) -> Result<()> {
    let entries = std::fs::read_dir(from).map_err(|e| Error::io("listing", from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("listing", from, e))?;
        let name = entry.file_name();
        let name_text = name.to_string_lossy();
        if name_text.starts_with(".qvca-tmp-")
            || (top && [LOCK_FILE, INDEX_FILE, "keys"].contains(&name_text.as_ref()))
        {
            continue;
        }
        let source = entry.path();
        let target = to.join(&name);
        let kind = entry
            .file_type()
            .map_err(|e| Error::io("looking at", &source, e))?;
        if kind.is_symlink() {
            return Err(crate::store::symlink_refusal(&source));
        } else if kind.is_dir() {
            crate::store::create_private_dir(&target)?;
            copy_tree(&source, &target, false)?;
        } else if kind.is_file() {
            let data = std::fs::read(&source).map_err(|e| Error::io("reading", &source, e))?;
            write_atomic(
                &target,
                &data,
                FileMode::of_existing(&source),
                Durability::Deferred,
            )?;
        }
    }
    Ok(())
}

/// Makes everything written under `dir` durable: one `syncfs` where the platform has it, else
/// every file and directory.
fn sync_tree(dir: &Path) -> Result<()> {
    if crate::platform::sync_file_system(dir)
        .map_err(|e| Error::io("syncing the file system of", dir, e))?
    {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))? {
        let path = entry.map_err(|e| Error::io("listing", dir, e))?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            crate::store::atomic::sync_file(&path)?;
        }
    }
    crate::store::atomic::sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_under_twelve_characters_are_short() {
        assert!(is_short(&Password::new("elevenchars")));
        assert!(!is_short(&Password::new("twelve-chars")));
        assert!(is_short(&Password::new("ääääää")));
    }
}
