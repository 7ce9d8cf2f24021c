//! The one way qvca replaces a whole directory (`init --force`, `restore`, `package --force`):
//! build the new one in a staging directory next to it, then swap it in and keep the old one
//! aside as `<dir>.replaced-<timestamp>`. Nothing is deleted, and nothing that is not ours is
//! followed or reused:
//!
//! - the staging directory `<dir>.<kind>-<pid>` is created exclusively with mode 0700 (a
//!   planted file, directory or symbolic link of that name is never entered); a leftover of a
//!   killed run with the same name is removed only when it is recognisably ours;
//! - a staged CA locks its own `.lock` as soon as it exists, and the caller holds the old CA's
//!   lock too, so the directory at the CA path is locked at every instant of the swap (see
//!   [`crate::store::lock`]);
//! - the directory being replaced must pass the caller's check (a CA, a qvca package) unless it
//!   is empty, in which case it is filled (it may be a mount point or carry the right owner);
//! - when root replaces a directory owned by another account, the new tree gets that owner, so
//!   the service that ran on the old one (e.g. the shipped backup unit's `User=`) keeps working.
//!
//! `passwd` is the exception to "nothing is deleted": the CA it replaces holds the keys under
//! the OLD password (perhaps a leaked one), so it is not kept aside but moved to
//! `<dir>.passwd-old-<pid>` and removed by the caller right after the swap.
//!
//! Staging directories of killed `init --force`, `restore` and `passwd` runs hold encrypted
//! keys (and a `passwd-old` directory those under the old password): `doctor` reports them
//! ([`leftovers`]) and the next staged operation on the same CA removes those whose process is
//! gone.

use crate::error::{Error, Result};
use crate::store::{CaLock, INDEX_FILE, LOCK_FILE, normalized, sibling_path, swap_in};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// The check a staged CA makes of the directory it replaces ([`StagedDir::install`]): it must
/// still hold a CA; anything else that appeared at the path is refused (exit 3), the message
/// ending with `nothing_done` ("nothing was replaced").
pub fn still_a_ca(dir: &Path, nothing_done: &str) -> Result<()> {
    if crate::store::Store::at(dir).has_ca() {
        return Ok(());
    }
    Err(Error::refused(format!(
        "{} no longer holds a CA; {nothing_done}",
        dir.display()
    )))
}

/// What a staging directory is being built for (it names the directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staging {
    /// A new CA for `init --force`: `<ca-dir>.init-<pid>`.
    Init,
    /// A CA restored from a backup: `<ca-dir>.restore-<pid>`.
    Restore,
    /// A node package: `<out>.tmp-<pid>`.
    Package,
    /// A CA with every key re-sealed under a new password (`passwd`): `<ca-dir>.passwd-<pid>`.
    /// The replaced CA is not kept aside but moved to `<ca-dir>.passwd-old-<pid>` for the
    /// caller to remove (it holds the keys under the old password).
    Passwd,
}

impl Staging {
    fn suffix(self) -> &'static str {
        match self {
            Staging::Init => "init",
            Staging::Restore => "restore",
            Staging::Package => "tmp",
            Staging::Passwd => "passwd",
        }
    }

    fn holds_ca(self) -> bool {
        matches!(self, Staging::Init | Staging::Restore | Staging::Passwd)
    }

    /// True when the directory this kind replaces is kept aside (`<dir>.replaced-<time>`);
    /// false for `passwd`, whose replaced CA goes to `<dir>.passwd-old-<pid>` to be removed.
    fn keeps_replaced(self) -> bool {
        self != Staging::Passwd
    }

    /// What an interrupted run of this kind was doing (for messages).
    pub fn description(self) -> &'static str {
        match self {
            Staging::Init => "init --force",
            Staging::Restore => "restore",
            Staging::Package => "package",
            Staging::Passwd => "passwd",
        }
    }
}

/// A directory being built next to its final place; removed when dropped unless installed.
#[derive(Debug)]
pub struct StagedDir {
    path: PathBuf,
    target: PathBuf,
    kind: Staging,
    lock: Option<CaLock>,
    installed: bool,
}

/// A staged directory swapped into place. Holds the new directory's CA lock (if any) until
/// dropped.
#[derive(Debug)]
pub struct Installed {
    /// Where the directory that was replaced is kept, if there was one (for
    /// [`Staging::Passwd`]: `<dir>.passwd-old-<pid>`, which the caller removes).
    pub aside: Option<PathBuf>,
    _lock: Option<CaLock>,
}

impl StagedDir {
    /// Creates the staging directory for `target` exclusively (0700). A staged CA also gets its
    /// `.lock`, locked from this moment on, and stale staging directories of killed runs for
    /// the same CA are removed first.
    pub fn create(target: &Path, kind: Staging) -> Result<Self> {
        let target = real_target(target)?;
        let parent = crate::store::atomic::parent_dir(&target).to_path_buf();
        if !parent.is_dir() {
            std::fs::create_dir_all(&parent).map_err(|e| Error::io("creating", &parent, e))?;
        }
        if kind.holds_ca() {
            remove_stale(&target);
        }
        let path = sibling_path(
            &target,
            &format!(".{}-{}", kind.suffix(), std::process::id()),
        );
        if std::fs::symlink_metadata(&path).is_ok() {
            // Our own process id: whatever run left it is gone.
            if is_leftover(&path, kind) {
                std::fs::remove_dir_all(&path)
                    .map_err(|e| Error::io("removing the stale staging directory", &path, e))?;
            } else {
                return Err(Error::refused(format!(
                    "{} exists and was not left by qvca: it is in the way of the staging \
                     directory of this {}; move it away and retry",
                    path.display(),
                    kind.description()
                )));
            }
        }
        create_exclusive_dir(&path)?;
        let mut staged = Self {
            path,
            target,
            kind,
            lock: None,
            installed: false,
        };
        if kind.holds_ca() {
            staged.lock = Some(CaLock::acquire(&staged.path.join(LOCK_FILE))?);
        }
        Ok(staged)
    }

    /// The staging directory, to build the new contents in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the staged directory goes (symbolic links resolved).
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The staged CA's lock (for committing its index), if it holds a CA.
    pub fn lock(&self) -> Option<&CaLock> {
        self.lock.as_ref()
    }

    /// Puts the staged directory in place. A missing target is created; an empty one (or one
    /// holding only a `.lock`) is filled; any other directory must pass `replaceable` and is
    /// kept aside as `<target>.replaced-<timestamp>` (for [`Staging::Passwd`] moved to
    /// `<target>.passwd-old-<pid>`, for the caller to remove). Anything else is refused
    /// (exit 3).
    pub fn install(
        mut self,
        replaceable: &dyn Fn(&Path) -> Result<()>,
        now: OffsetDateTime,
    ) -> Result<Installed> {
        let target = self.target.clone();
        let mut aside = None;
        match std::fs::symlink_metadata(&target) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::rename(&self.path, &target)
                    .map_err(|e| Error::io("moving the new directory into", &target, e))?;
            }
            Err(e) => return Err(Error::io("looking at", &target, e)),
            Ok(meta) if meta.is_dir() => {
                adopt_owner(&self.path, &target)?;
                if is_empty_but_lock(&target)? {
                    move_contents(&self.path, &target)?;
                    std::fs::remove_dir(&self.path)
                        .map_err(|e| Error::io("removing", &self.path, e))?;
                    crate::store::make_private(&target)?;
                } else {
                    replaceable(&target)?;
                    let kept = if self.kind.keeps_replaced() {
                        aside_path(&target, now)
                    } else {
                        old_passwd_path(&target)
                    };
                    swap_in(&self.path, &target, &kept)?;
                    aside = Some(kept);
                }
            }
            Ok(_) => {
                return Err(Error::refused(format!(
                    "{} exists and is not a directory: move it away or choose another path",
                    target.display()
                )));
            }
        }
        self.installed = true;
        crate::store::atomic::sync_dir(crate::store::atomic::parent_dir(&target))?;
        Ok(Installed {
            aside,
            _lock: self.lock.take(),
        })
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.installed {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Where a replaced directory is kept: `<dir>.replaced-<UTC timestamp>`, with `-2`, `-3`, ...
/// appended when that name is taken (two replacements within one second).
pub fn aside_path(dir: &Path, now: OffsetDateTime) -> PathBuf {
    let base = format!(".replaced-{}", crate::store::file_stamp(now));
    let mut candidate = sibling_path(dir, &base);
    let mut n = 2;
    while std::fs::symlink_metadata(&candidate).is_ok() {
        candidate = sibling_path(dir, &format!("{base}-{n}"));
        n += 1;
    }
    candidate
}

/// Where `passwd` moves the CA it replaced (keys under the old password) until it removes it:
/// `<dir>.passwd-old-<pid>`.
fn old_passwd_path(dir: &Path) -> PathBuf {
    sibling_path(dir, &format!(".passwd-old-{}", std::process::id()))
}

/// True when `dir` has no entries but perhaps a `.lock` (it is filled, not replaced).
pub fn is_empty_but_lock(dir: &Path) -> Result<bool> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("listing", dir, e))?;
        if entry.file_name() != LOCK_FILE {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A staging directory that a killed `init --force`, `restore` or `passwd` left next to a CA
/// (or the old CA a killed `passwd` had swapped out but not yet removed).
#[derive(Debug, Clone)]
pub struct Leftover {
    /// The directory.
    pub path: PathBuf,
    /// What was interrupted.
    pub kind: Staging,
    /// True when its process still runs (the operation may be in progress).
    pub running: bool,
}

/// The staging directories of `init --force`, `restore` and `passwd` runs (and the old CAs
/// of `passwd` runs) next to the CA in `ca_dir`.
pub fn leftovers(ca_dir: &Path) -> Vec<Leftover> {
    let Ok(target) = real_target(ca_dir) else {
        return Vec::new();
    };
    staging_siblings(&target)
        .into_iter()
        .map(|(path, kind, pid)| Leftover {
            running: pid_is_running(pid) && !lock_is_free(&path),
            path,
            kind,
        })
        .collect()
}

/// `target` normalized, and resolved when it is a symbolic link (the staging directory goes
/// next to the real directory, on its file system).
fn real_target(target: &Path) -> Result<PathBuf> {
    let target = normalized(target);
    match std::fs::symlink_metadata(&target) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::canonicalize(&target)
            .map_err(|e| Error::io("resolving the symbolic link", &target, e)),
        _ => Ok(target),
    }
}

/// Every `<target>.init-<pid>`, `<target>.restore-<pid>`, `<target>.passwd-<pid>` and
/// `<target>.passwd-old-<pid>` next to `target`.
fn staging_siblings(target: &Path) -> Vec<(PathBuf, Staging, u32)> {
    let Some(name) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let parent = crate::store::atomic::parent_dir(target);
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let entry_name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = entry_name.strip_prefix(&name) else {
            continue;
        };
        for (kind, infix) in [
            (Staging::Init, ".init-"),
            (Staging::Restore, ".restore-"),
            (Staging::Passwd, ".passwd-"),
            (Staging::Passwd, ".passwd-old-"),
        ] {
            let pid = rest
                .strip_prefix(infix)
                .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|digits| digits.parse::<u32>().ok());
            if let Some(pid) = pid
                && entry.file_type().is_ok_and(|t| t.is_dir())
            {
                found.push((entry.path(), kind, pid));
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// Removes the staging directories of killed runs for the CA at `target` (best effort: what
/// cannot be removed is left for `doctor` to report).
fn remove_stale(target: &Path) {
    for (path, kind, pid) in staging_siblings(target) {
        if pid != std::process::id() && !pid_is_running(pid) && is_leftover(&path, kind) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// True when `path` is a real directory of ours, in no use, holding only what a staging
/// directory of `kind` holds (the caller knows its process is gone).
fn is_leftover(path: &Path, kind: Staging) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !meta.is_dir() || !owned_by_this_user(&meta) {
        return false;
    }
    if kind.holds_ca() && !lock_is_free(path) {
        return false;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return false;
    };
    entries.flatten().all(|entry| {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if name.starts_with(".qvca-tmp-") && !is_dir {
            return true;
        }
        if kind.holds_ca() {
            match name.as_str() {
                "certs" | "keys" => is_dir,
                INDEX_FILE
                | LOCK_FILE
                | crate::store::CRL_FILE
                | crate::store::oplog::OPLOG_FILE => !is_dir,
                _ => false,
            }
        } else {
            // What `package` writes: the PFX files, the root, the scripts and its marker.
            !is_dir
                && (name.ends_with(".pfx")
                    || name.ends_with(".cer")
                    || matches!(
                        name.as_str(),
                        "install.ps1" | "install.sh" | "README.txt" | ".qvca-package"
                    ))
        }
    })
}

/// True when nobody holds the CA lock inside `dir` (or there is none).
fn lock_is_free(dir: &Path) -> bool {
    let path = dir.join(LOCK_FILE);
    match std::fs::symlink_metadata(&path) {
        Err(_) => true,
        Ok(meta) if !meta.is_file() => false,
        Ok(_) => std::fs::File::open(&path).is_ok_and(|f| f.try_lock().is_ok()),
    }
}

/// True when a process with this id exists (Linux: `/proc/<pid>`; elsewhere assumed, so that
/// nothing is removed that might be in use).
fn pid_is_running(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(target_os = "linux")]
    {
        Path::new("/proc").join(pid.to_string()).exists()
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

fn owned_by_this_user(meta: &std::fs::Metadata) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        meta.uid() == rustix::process::geteuid().as_raw()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = meta;
        true
    }
}

/// Creates `path` as a new directory readable by its owner only; fails if anything (even a
/// dangling symbolic link) has that name.
fn create_exclusive_dir(path: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::refused(format!(
                "{} appeared while qvca was creating it: another process is using that name; \
                 retry",
                path.display()
            ))
        } else {
            Error::io("creating the directory", path, e)
        }
    })?;
    crate::store::make_private(path)
}

/// Moves the entries of `from` into the directory `to`, the index last (it is the commit point
/// of a CA).
fn move_contents(from: &Path, to: &Path) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(from)
        .map_err(|e| Error::io("listing", from, e))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort_by_key(|p| p.file_name() == Some(std::ffi::OsStr::new(INDEX_FILE)));
    for path in entries {
        let target = to.join(path.file_name().unwrap_or_default());
        std::fs::rename(&path, &target).map_err(|e| Error::io("moving into place", &target, e))?;
    }
    Ok(())
}

/// Gives the tree at `tree` the owner and group of `like`, when they differ and this process
/// may change owners (root); otherwise leaves it as created.
fn adopt_owner(tree: &Path, like: &Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let (Ok(want), Ok(have)) = (std::fs::metadata(like), std::fs::symlink_metadata(tree))
        else {
            return Ok(());
        };
        if (want.uid(), want.gid()) == (have.uid(), have.gid())
            || !rustix::process::geteuid().is_root()
        {
            return Ok(());
        }
        chown_tree(tree, want.uid(), want.gid())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (tree, like);
        Ok(())
    }
}

#[cfg(target_os = "linux")]
fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .map_err(|e| Error::io("changing the owner of", path, e))?;
    let is_dir = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
    if is_dir {
        for entry in std::fs::read_dir(path).map_err(|e| Error::io("listing", path, e))? {
            let entry = entry.map_err(|e| Error::io("listing", path, e))?;
            chown_tree(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Removes a directory that [`StagedDir::install`] has just swapped out, when keeping it aside
/// would defeat the operation (`passwd`: it holds keys under the old password).
pub fn remove_replaced(aside: &Path) -> std::io::Result<()> {
    std::fs::remove_dir_all(aside)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    #[test]
    fn a_staged_directory_replaces_only_what_the_check_accepts_and_keeps_the_old_one_aside() {
        let temp = tempfile::tempdir().expect("tempdir");
        let target = temp.path().join("out");
        std::fs::create_dir(&target).expect("mkdir");
        std::fs::write(target.join("mine.txt"), b"old").expect("write");

        let staged = StagedDir::create(&target, Staging::Package).expect("stage");
        std::fs::write(staged.path().join("new.txt"), b"new").expect("write");
        let staging = staged.path().to_path_buf();
        let refused = staged
            .install(&|_| Err(Error::refused("not ours")), now())
            .expect_err("refused");
        assert_eq!(refused.kind(), crate::error::ErrorKind::Refused);
        assert!(!staging.exists(), "a refused staging directory is removed");
        assert_eq!(
            std::fs::read(target.join("mine.txt")).expect("read"),
            b"old"
        );

        let staged = StagedDir::create(&target, Staging::Package).expect("stage");
        std::fs::write(staged.path().join("new.txt"), b"new").expect("write");
        let installed = staged.install(&|_| Ok(()), now()).expect("install");
        let aside = installed.aside.expect("kept aside");
        assert_eq!(std::fs::read(aside.join("mine.txt")).expect("read"), b"old");
        assert_eq!(std::fs::read(target.join("new.txt")).expect("read"), b"new");
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_symlink_with_the_staging_name_is_never_followed() {
        let temp = tempfile::tempdir().expect("tempdir");
        let target = temp.path().join("out");
        let elsewhere = temp.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).expect("mkdir");
        let planted = sibling_path(&target, &format!(".tmp-{}", std::process::id()));
        std::os::unix::fs::symlink(&elsewhere, &planted).expect("symlink");
        let err = StagedDir::create(&target, Staging::Package).expect_err("refused");
        assert_eq!(
            err.kind(),
            crate::error::ErrorKind::Refused,
            "{}",
            err.message()
        );
        assert!(std::fs::symlink_metadata(&planted).is_ok_and(|m| m.file_type().is_symlink()));
        assert_eq!(std::fs::read_dir(&elsewhere).expect("ls").count(), 0);
    }

    #[test]
    fn an_empty_target_is_filled_and_a_staged_ca_is_locked_from_the_start() {
        let temp = tempfile::tempdir().expect("tempdir");
        let target = temp.path().join("ca");
        std::fs::create_dir(&target).expect("mkdir");
        let staged = StagedDir::create(&target, Staging::Restore).expect("stage");
        assert!(staged.lock().is_some_and(CaLock::is_in_place));
        std::fs::write(staged.path().join(INDEX_FILE), b"{}").expect("write");
        let installed = staged
            .install(&|_| Err(Error::refused("never asked")), now())
            .expect("install");
        assert!(installed.aside.is_none());
        assert!(target.join(INDEX_FILE).is_file());
        assert!(target.join(LOCK_FILE).is_file());
    }
}
