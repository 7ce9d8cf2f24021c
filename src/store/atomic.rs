//! The one way files reach disk: write a temporary file in the target's directory, fsync it,
//! rename it over the target, fsync the directory. A crash at any instant leaves either the
//! old file or the new one, never a torn one; a secret file is 0600 from its first byte.

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
    crate::store::crash_point("before-write");
    if let Some(e) = crate::store::injected_write_failure() {
        return Err(Error::io("writing", path, e));
    }
    let dir = parent_dir(path);
    let mut builder = tempfile::Builder::new();
    builder.prefix(".qvca-tmp-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let bits = match mode {
            FileMode::Public => 0o644,
            FileMode::Secret => 0o600,
            FileMode::Exact(bits) => bits,
        };
        builder.permissions(std::fs::Permissions::from_mode(bits));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut temp = builder.tempfile_in(dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::failed(format!(
                "cannot write {}: the folder {} does not exist; create it first",
                path.display(),
                dir.display()
            ))
        } else {
            Error::io("creating a temporary file in", dir, e)
        }
    })?;
    temp.write_all(data)
        .map_err(|e| Error::io("writing", temp.path(), e))?;
    if durability == Durability::Synced {
        temp.as_file()
            .sync_all()
            .map_err(|e| Error::io("syncing", temp.path(), e))?;
    }
    crate::store::crash_point("before-rename");
    temp.persist(path)
        .map_err(|e| Error::io("replacing", path, e.error))?;
    if durability == Durability::Synced {
        sync_dir(dir)?;
    }
    Ok(())
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
}
