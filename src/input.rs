//! Reading what comes from outside, with a bound on how much is read.
//!
//! Every file qvca reads on a user's behalf (backups, PKCS#12 files, certificates, CRLs,
//! requests, templates, machine lists, password files, license keys) goes through
//! [`read_limited`] or [`read_stdin_limited`] with a ceiling that suits its kind: a path such as
//! `/dev/zero`, a FIFO that never ends, or a file of gigabytes gives a clear error at once
//! instead of filling the memory. The ceilings are far above any real file of the kind.

use crate::error::{Error, ErrorKind, Result};
use std::io::Read;
use std::path::Path;

/// The most a password file may hold (its first line is the password).
pub const PASSWORD_FILE_LIMIT: u64 = 64 * 1024;
/// The most a certificate, CRL, key, request or license file may hold.
pub const DOCUMENT_LIMIT: u64 = 16 * 1024 * 1024;
/// The most a PKCS#12 file (a backup of a large CA included) may hold.
pub const PKCS12_LIMIT: u64 = 128 * 1024 * 1024;
/// The most a template, a machine list or a config file with tokens may hold.
pub const TEXT_LIMIT: u64 = 64 * 1024 * 1024;

/// Reads the whole of `path`, refusing more than `limit` bytes. `what` names the file's role in
/// messages ("the backup", "the password file"). A missing file keeps the not-found kind.
pub fn read_limited(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| {
        let err = Error::io(&format!("reading {what}"), path, e);
        if err.kind() == ErrorKind::NotFound {
            Error::not_found(format!("{what} {} does not exist", path.display()))
        } else {
            err
        }
    })?;
    if let Ok(meta) = file.metadata()
        && meta.is_dir()
    {
        return Err(Error::failed(format!(
            "{what} {} is a directory: give a file",
            path.display()
        )));
    }
    read_bounded(file, limit).map_err(|e| match e {
        Bounded::TooLarge => too_large(what, &path.display().to_string(), limit),
        Bounded::Io(e) => Error::io(&format!("reading {what}"), path, e),
    })
}

/// Reads standard input to its end, refusing more than `limit` bytes.
pub fn read_stdin_limited(limit: u64, what: &str) -> Result<Vec<u8>> {
    read_bounded(std::io::stdin().lock(), limit).map_err(|e| match e {
        Bounded::TooLarge => too_large(what, "standard input", limit),
        Bounded::Io(e) => Error::failed(format!("cannot read {what} from standard input: {e}")),
    })
}

/// Reads a file as UTF-8 text, bounded as [`read_limited`].
pub fn read_text_limited(path: &Path, limit: u64, what: &str) -> Result<String> {
    let bytes = read_limited(path, limit, what)?;
    String::from_utf8(bytes).map_err(|_| {
        Error::failed(format!(
            "{what} {} is not UTF-8 text: save it as UTF-8 (or ASCII)",
            path.display()
        ))
    })
}

enum Bounded {
    TooLarge,
    Io(std::io::Error),
}

fn read_bounded(reader: impl Read, limit: u64) -> std::result::Result<Vec<u8>, Bounded> {
    let mut buffer = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut buffer)
        .map_err(Bounded::Io)?;
    if buffer.len() as u64 > limit {
        return Err(Bounded::TooLarge);
    }
    Ok(buffer)
}

fn too_large(what: &str, source: &str, limit: u64) -> Error {
    Error::failed(format!(
        "{what} {source} is larger than {} MiB (or never ends, like /dev/zero): it cannot be \
         what qvca expects here; check the path",
        (limit / (1024 * 1024)).max(1)
    ))
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_file_is_refused_at_the_limit() {
        let err = read_limited(Path::new("/dev/zero"), 1024, "the backup").expect_err("endless");
        assert!(err.message().contains("never ends"), "{err}");
    }

    #[test]
    fn a_file_within_the_limit_is_read_whole() {
        let dir = tempfile::tempdir().expect("temp");
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").expect("write");
        assert_eq!(read_limited(&path, 5, "f").expect("read"), b"12345");
        assert!(read_limited(&path, 4, "f").is_err());
    }

    #[test]
    fn a_missing_file_is_not_found_and_a_directory_is_refused() {
        let dir = tempfile::tempdir().expect("temp");
        let err = read_limited(&dir.path().join("none"), 5, "the backup").expect_err("missing");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = read_limited(dir.path(), 5, "the backup").expect_err("dir");
        assert!(err.message().contains("is a directory"), "{err}");
    }
}
