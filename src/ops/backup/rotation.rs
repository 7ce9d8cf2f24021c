//! Backup names in a `--dir` (`qvca-backup-<UTC timestamp>[-N].pfx`) and `--keep` pruning:
//! only files that open under the backup password as a backup of this CA's root count and are
//! deleted, ranked by the time recorded inside them.

use crate::domain::kind::CertKind;
use crate::domain::secret::Password;
use crate::error::{Error, Result};
use crate::ops::backup::verify::read_contents;
use crate::pki::certificate::CertificateDetails;
use crate::store::EntryStatus;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// Backup file names in a `--dir`: `qvca-backup-<UTC timestamp>[-N].pfx`.
const BACKUP_PREFIX: &str = "qvca-backup-";

/// The next free `qvca-backup-<YYYYMMDDTHHMMSSZ>[-N].pfx` in `dir`.
pub(super) fn next_backup_name(dir: &Path, now: OffsetDateTime) -> PathBuf {
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
pub(super) struct BackupOwner<'a> {
    /// The password of the backup just written (`--keep` prunes only backups under it).
    pub(super) password: &'a Password,
    /// The public key of this CA's root.
    pub(super) root_spki: &'a [u8],
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
        let (contents, problems) = read_contents(path, self.password).ok()?;
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

/// What `--keep` did: the backups it deleted, and the files named like backups it left alone
/// because they are not recognised as this CA's.
pub(super) type Pruned = (Vec<PathBuf>, Vec<PathBuf>);

/// Deletes all but the newest `keep` backups of this CA in `dir` (the one `just_written`
/// always counts as one of them, whatever the clock said before). Only files that `owner`
/// recognises count and are deleted; other files named like backups are returned as not
/// recognised and left alone; nothing else is touched.
pub(super) fn prune_backups(
    dir: &Path,
    keep: usize,
    just_written: &Path,
    owner: &BackupOwner<'_>,
) -> Result<Pruned> {
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
