//! The one way files reach disk: write a temporary file in the target's directory, fsync it,
//! rename it over the target, fsync the directory. A crash at any instant leaves either the
//! old file or the new one, never a torn one; a secret file is 0600 from its first byte.
//!
//! The temporary file (`.qvca-tmp-<random>`) is created exclusively (`O_CREAT | O_EXCL`, so a
//! planted file or symbolic link of that name is never opened) and is owner-only until its
//! final mode is set just before the rename. Files the user named go through
//! [`write_output`] (never replaces without `--force`), in-place rewrites through
//! [`rewrite_in_place`] (keeps the file's identity: link target, mode, owner, group).

use crate::error::{Error, Result};
use std::fs::File;
use std::io::Write;
use std::path::Path;

/// Who may read a file that qvca writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    /// Certificates, CRLs, reports: 0644 on Unix.
    Public,
    /// Private keys, backups, the CA index, anything with secrets: 0600 on Unix from creation.
    Secret,
    /// Exactly these Unix permission bits (to rewrite a file in place keeping its mode).
    Exact(u32),
}

impl FileMode {
    /// The mode an existing file has, to keep it when the file is rewritten.
    pub fn of_existing(path: &Path) -> FileMode {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(path) {
                return FileMode::Exact(meta.permissions().mode() & 0o7777);
            }
        }
        let _ = path;
        FileMode::Secret
    }
}

/// Whether a write must be durable before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file and its directory before returning.
    Synced,
    /// Leave syncing to a later [`sync_dir`] of a batch (the batch commits with one fsync'd write).
    Deferred,
}

/// Writes `data` to `path` atomically with the given mode, replacing any existing file.
pub fn write_atomic(
    path: &Path,
    data: &[u8],
    mode: FileMode,
    durability: Durability,
) -> Result<()> {
    write_via_temp(path, data, mode, durability, Replace::Yes)
}

/// Whether the final rename may replace a file at the target path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replace {
    /// Replace whatever is there (qvca's own files, `--force`).
    Yes,
    /// Fail if anything appeared there (a file the user named, without `--force`).
    No,
    /// Replace it, giving the new file this owner and group first (an in-place rewrite).
    KeepingOwner(u32, u32),
}

/// Refuses (exit 3) when something exists at `path`, a file the user named, unless `force`.
/// Commands check this before any costly work or password prompt; [`write_output`] checks it
/// again at the final rename.
pub fn refuse_existing_output(path: &Path, force: bool) -> Result<()> {
    if !force && std::fs::symlink_metadata(path).is_ok() {
        return Err(exists_refusal(path));
    }
    Ok(())
}

fn exists_refusal(path: &Path) -> Error {
    Error::refused(format!(
        "{} exists already; pass --force to replace it, or choose another --out",
        path.display()
    ))
}

/// Writes a file the user named (`--out` and the like) atomically: without `force`, an
/// existing file (or symbolic link) at `path` is never replaced (exit 3), not even one that
/// appears while qvca works; with `force` it is replaced (a symbolic link itself, never the
/// file it points to).
pub fn write_output(path: &Path, data: &[u8], mode: FileMode, force: bool) -> Result<()> {
    refuse_existing_output(path, force)?;
    let replace = if force { Replace::Yes } else { Replace::No };
    write_via_temp(path, data, mode, Durability::Synced, replace)
}

/// What [`rewrite_in_place`] rewrote.
#[derive(Debug, Clone)]
pub struct Rewritten {
    /// The file that got the new contents (the target when the path was a symbolic link).
    pub file: std::path::PathBuf,
    /// The number of names (hard links) the file had; the others keep the old contents.
    pub links: u64,
}

/// Replaces the contents of the existing file at `path` atomically, keeping what makes it that
/// file: through a symbolic link the target is rewritten (the link stays), and the new file
/// gets the old one's mode, owner and group (or nothing changes and the error says why). A file
/// with several hard links is refused (exit 3) unless `allow_hard_links`, since its other names
/// would keep the old contents.
pub fn rewrite_in_place(path: &Path, data: &[u8], allow_hard_links: bool) -> Result<Rewritten> {
    let file = std::fs::canonicalize(path).map_err(|e| Error::io("resolving", path, e))?;
    let meta = std::fs::metadata(&file).map_err(|e| Error::io("reading", &file, e))?;
    if !meta.is_file() {
        return Err(Error::refused(format!(
            "{} is not a regular file: it cannot be rewritten in place; use --out",
            file.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let links = meta.nlink();
        if links > 1 && !allow_hard_links {
            return Err(Error::refused(format!(
                "{} has {links} hard links: rewriting it replaces this name only, and the \
                 other {} keep the old contents; pass --force to rewrite it anyway, or write \
                 the result elsewhere with --out",
                file.display(),
                links - 1
            )));
        }
        write_via_temp(
            &file,
            data,
            FileMode::Exact(meta.mode() & 0o7777),
            Durability::Synced,
            Replace::KeepingOwner(meta.uid(), meta.gid()),
        )?;
        Ok(Rewritten { file, links })
    }
    #[cfg(not(unix))]
    {
        let _ = allow_hard_links;
        write_via_temp(
            &file,
            data,
            FileMode::of_existing(&file),
            Durability::Synced,
            Replace::Yes,
        )?;
        Ok(Rewritten { file, links: 1 })
    }
}

/// Writes the result of `secrets rewrap` to `path`: back into the file it was read from when
/// `in_place` (through [`rewrite_in_place`]; `force` allows a file with several hard links),
/// else into a file the user named (through [`write_output`]; `force` replaces an existing
/// one). Returns what an in-place rewrite rewrote. A crash at any moment leaves the file
/// entirely old or entirely new.
pub fn write_rewrapped(
    path: &Path,
    data: &[u8],
    in_place: bool,
    force: bool,
) -> Result<Option<Rewritten>> {
    crate::store::crash_point("rewrap-before-write");
    if in_place {
        rewrite_in_place(path, data, force).map(Some)
    } else {
        write_output(path, data, FileMode::Secret, force).map(|()| None)
    }
}

/// The one way a file reaches disk: a new temporary file (created exclusively, with its final
/// mode from the start) in the target's directory, synced, then renamed over the target.
fn write_via_temp(
    path: &Path,
    data: &[u8],
    mode: FileMode,
    durability: Durability,
    replace: Replace,
) -> Result<()> {
    crate::store::crash_point("before-write");
    if let Some(e) = crate::store::injected_write_failure() {
        return Err(Error::io("writing", path, e));
    }
    let mut temp = create_temp(path, mode)?;
    temp.write_all(data)
        .map_err(|e| Error::io("writing", temp.path(), e))?;
    set_final_owner_and_mode(&temp, path, mode, replace)?;
    if durability == Durability::Synced {
        temp.as_file()
            .sync_all()
            .map_err(|e| Error::io("syncing", temp.path(), e))?;
    }
    crate::store::crash_point("before-rename");
    rename_over(temp, path, replace)?;
    if durability == Durability::Synced {
        sync_dir(parent_dir(path))?;
    }
    Ok(())
}

/// The Unix permission bits of a mode.
#[cfg(unix)]
fn unix_bits(mode: FileMode) -> u32 {
    match mode {
        FileMode::Public => 0o644,
        FileMode::Secret => 0o600,
        FileMode::Exact(bits) => bits,
    }
}

/// Creates the temporary file for `path` in its directory, exclusively, never more open than
/// the final `mode` (and owner-only) while it is being written.
fn create_temp(path: &Path, mode: FileMode) -> Result<tempfile::NamedTempFile> {
    let dir = parent_dir(path);
    let mut builder = tempfile::Builder::new();
    builder.prefix(".qvca-tmp-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(unix_bits(mode) & 0o700));
    }
    #[cfg(not(unix))]
    let _ = mode;
    builder.tempfile_in(dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::failed(format!(
                "cannot write {}: the folder {} does not exist; create it first",
                path.display(),
                dir.display()
            ))
        } else {
            Error::io("creating a temporary file in", dir, e)
        }
    })
}

/// Gives the written temporary file its final mode, and for an in-place rewrite the owner and
/// group of the file it replaces (or refuses, naming `path`).
fn set_final_owner_and_mode(
    temp: &tempfile::NamedTempFile,
    path: &Path,
    mode: FileMode,
    replace: Replace,
) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Replace::KeepingOwner(uid, gid) = replace {
            std::os::unix::fs::fchown(temp.as_file(), Some(uid), Some(gid)).map_err(|e| {
                Error::refused(format!(
                    "cannot rewrite {} keeping its owner and group (uid {uid}, gid {gid}): {e}; \
                     run qvca as its owner (or root), or write the result elsewhere with --out",
                    path.display()
                ))
            })?;
        }
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(unix_bits(mode)))
            .map_err(|e| Error::io("setting the permissions of", temp.path(), e))?;
    }
    #[cfg(not(unix))]
    let _ = (temp, path, mode, replace);
    Ok(())
}

/// Renames the temporary file to `path`: over an existing file, or (without `--force`) only
/// when nothing is there (exit 3 otherwise).
fn rename_over(temp: tempfile::NamedTempFile, path: &Path, replace: Replace) -> Result<()> {
    match replace {
        Replace::No => temp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                exists_refusal(path)
            } else {
                Error::io("naming", path, e.error)
            }
        })?,
        Replace::Yes | Replace::KeepingOwner(..) => temp
            .persist(path)
            .map_err(|e| Error::io("replacing", path, e.error))?,
    };
    Ok(())
}

/// A file written and synced under a temporary name in its target's folder, not named yet:
/// the caller reads it back from disk and checks it ([`UnnamedFile::read_back`]) before
/// [`UnnamedFile::name`] gives it its final name. Dropped unnamed, it is removed, so a check
/// that fails leaves nothing behind.
pub struct UnnamedFile {
    temp: tempfile::NamedTempFile,
}

impl UnnamedFile {
    /// Writes `data` to a new owner-only file `<prefix><random><suffix>` in `dir` (created
    /// exclusively) and syncs it.
    pub fn write(dir: &Path, prefix: &str, suffix: &str, data: &[u8]) -> Result<Self> {
        let mut temp = tempfile::Builder::new()
            .prefix(prefix)
            .suffix(suffix)
            .tempfile_in(dir)
            .map_err(|e| Error::io("creating a temporary file in", dir, e))?;
        temp.write_all(data)
            .and_then(|()| temp.as_file().sync_all())
            .map_err(|e| Error::io("writing", temp.path(), e))?;
        Ok(Self { temp })
    }

    /// The temporary file's path (to name it in messages).
    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// The file's contents as they reached the disk.
    pub fn read_back(&self) -> Result<Vec<u8>> {
        std::fs::read(self.temp.path()).map_err(|e| Error::io("reading back", self.temp.path(), e))
    }

    /// Renames the file to `target` and syncs the folder. An existing file at `target` is
    /// replaced only when `replace`; `rename_error` turns a failed rename into the caller's
    /// error (`AlreadyExists`: something appeared at `target` meanwhile).
    pub fn name(
        self,
        target: &Path,
        replace: bool,
        rename_error: impl FnOnce(std::io::Error) -> Error,
    ) -> Result<()> {
        let renamed = if replace {
            self.temp.persist(target)
        } else {
            self.temp.persist_noclobber(target)
        };
        renamed.map_err(|e| rename_error(e.error))?;
        sync_dir(parent_dir(target))
    }
}

/// Makes the directory entries of `dir` (renames, new files) durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("syncing the directory", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Makes a file's contents durable (for files written with [`Durability::Deferred`]).
pub fn sync_file(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io("syncing", path, e))
}

/// The directory a path lives in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// True when the file at `path` already holds exactly `data` (so a rewrite can be skipped).
pub fn holds_exactly(path: &Path, data: &[u8]) -> bool {
    std::fs::read(path).is_ok_and(|existing| existing == data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrapped_text_replaces_a_file_in_place_keeping_its_mode_or_goes_to_a_new_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("app.ini");
        std::fs::write(&config, b"old").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640))
                .expect("chmod");
        }
        let rewritten = write_rewrapped(&config, b"new", true, false)
            .expect("in place")
            .expect("an in-place rewrite says what it rewrote");
        assert_eq!(rewritten.links, 1);
        assert_eq!(std::fs::read(&config).expect("read"), b"new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&config)
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o640, "the file keeps its mode");
        }

        let out = dir.path().join("out.ini");
        assert!(
            write_rewrapped(&out, b"one", false, false)
                .expect("new file")
                .is_none()
        );
        let refused = write_rewrapped(&out, b"two", false, false).expect_err("exists");
        assert_eq!(refused.kind(), crate::ErrorKind::Refused);
        write_rewrapped(&out, b"two", false, true).expect("--force");
        assert_eq!(std::fs::read(&out).expect("read"), b"two");
    }

    #[test]
    fn secret_files_are_created_owner_only_and_replace_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key.pem");
        write_atomic(&path, b"one", FileMode::Secret, Durability::Synced).expect("write");
        write_atomic(&path, b"two", FileMode::Secret, Durability::Synced).expect("rewrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers = std::fs::read_dir(dir.path()).expect("ls").count();
        assert_eq!(leftovers, 1, "no temporary files are left behind");
    }

    #[test]
    fn an_unnamed_file_is_read_back_before_it_is_named_and_vanishes_unless_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("backup.pfx");
        let unnamed = UnnamedFile::write(dir.path(), ".t-", ".partial", b"one").expect("write");
        assert_eq!(unnamed.read_back().expect("read back"), b"one");
        assert!(!target.exists(), "not named before it is checked");
        drop(unnamed);
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);

        std::fs::write(&target, b"old").expect("plant");
        let unnamed = UnnamedFile::write(dir.path(), ".t-", ".partial", b"two").expect("write");
        let refused = unnamed
            .name(&target, false, |e| {
                Error::refused(format!("{:?}", e.kind()))
            })
            .expect_err("never replaces without being asked to");
        assert_eq!(refused.kind(), crate::ErrorKind::Refused);
        assert_eq!(std::fs::read(&target).expect("read"), b"old");
        let unnamed = UnnamedFile::write(dir.path(), ".t-", ".partial", b"three").expect("write");
        unnamed
            .name(&target, true, |e| Error::io("naming", &target, e))
            .expect("replace");
        assert_eq!(std::fs::read(&target).expect("read"), b"three");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }
}
