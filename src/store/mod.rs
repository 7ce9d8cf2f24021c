//! The CA directory: its layout, the index, the lock and atomic writes. All CA state reaches
//! disk through this module.
//!
//! ```text
//! <ca-dir>/            0700
//!   index.json         settings + one entry per certificate (the commit point)   0600
//!   certs/<SERIAL>.pem certificates                                              0644
//!   keys/<SERIAL>.pem  private keys, encrypted PKCS#8 unless --no-password       0600
//!   crl.pem            the latest CRL
//!   oplog.jsonl        the operations log, hash-chained (see [`oplog`])                0600
//!   .lock              the advisory lock that serializes qvca processes              0600
//! ```
//!
//! The CA directory itself may be reached through a symbolic link; nothing inside it is: a
//! symbolic link in place of `index.json`, `certs`, `keys`, a certificate, a key or `.lock`
//! is refused with its path named ([`Store::confined`]), so no read or write is led out of
//! the directory.

// The store is where raw file-system writes belong (clippy.toml keeps them out of the rest).
#![allow(clippy::disallowed_methods)]

pub mod atomic;
pub mod index;
pub mod lock;
pub mod oplog;
pub mod staged;

pub use atomic::{Durability, FileMode};
pub use index::{
    CertState, CrlRecord, Entry, EntryStatus, ExportRecord, Index, Revocation, Settings,
};
pub use lock::CaLock;
pub use staged::{StagedDir, Staging};

use crate::domain::serial::Serial;
use crate::error::{Error, ErrorKind, Result};
use std::path::{Path, PathBuf};

/// The index file name.
pub const INDEX_FILE: &str = "index.json";
/// The lock file name.
pub const LOCK_FILE: &str = ".lock";
/// The default CRL file name.
pub const CRL_FILE: &str = "crl.pem";
const CERTS_DIR: &str = "certs";
const KEYS_DIR: &str = "keys";

/// A CA directory on disk (which may not hold a CA yet).
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store at `dir`; nothing is touched until used.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { root: dir.into() }
    }

    /// The CA directory.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// Where the index lives.
    pub fn index_path(&self) -> PathBuf {
        self.root.join(INDEX_FILE)
    }

    /// Where the certificate with `serial` lives.
    pub fn cert_path(&self, serial: &Serial) -> PathBuf {
        self.root.join(CERTS_DIR).join(format!("{serial}.pem"))
    }

    /// Where the private key of the certificate with `serial` lives.
    pub fn key_path(&self, serial: &Serial) -> PathBuf {
        self.root.join(KEYS_DIR).join(format!("{serial}.pem"))
    }

    /// The default CRL path.
    pub fn crl_path(&self) -> PathBuf {
        self.root.join(CRL_FILE)
    }

    /// The certificates directory.
    pub fn certs_dir(&self) -> PathBuf {
        self.root.join(CERTS_DIR)
    }

    /// The keys directory.
    pub fn keys_dir(&self) -> PathBuf {
        self.root.join(KEYS_DIR)
    }

    /// True when the directory holds a CA (an index).
    pub fn has_ca(&self) -> bool {
        self.index_path().is_file()
    }

    /// Reads the index; "no CA" is a not-found error that says how to create one.
    pub fn load_index(&self) -> Result<Index> {
        let path = self.confined(self.index_path())?;
        let bytes = crate::input::read_limited(&path, crate::input::TEXT_LIMIT, "the CA index")
            .map_err(|e| {
                if e.kind() == ErrorKind::NotFound {
                    Error::not_found(format!(
                        "no CA in {}: create one with `qvca init` (or `qvca setup`), or point \
                         --ca-dir / QVCA_DIR at an existing CA",
                        self.root.display()
                    ))
                } else {
                    e
                }
            })?;
        Index::parse(&bytes, &path)
    }

    /// Creates the CA directory and its subdirectories if missing, and makes them private
    /// (0700) even when they existed already (e.g. made by an install script with 0755).
    pub fn create_dirs(&self) -> Result<()> {
        for dir in [self.root.clone(), self.certs_dir(), self.keys_dir()] {
            let dir = self.confined(dir)?;
            create_private_dir(&dir)?;
            make_private(&dir)?;
        }
        Ok(())
    }

    /// Takes the CA lock (creating the directory if needed).
    pub fn lock(&self) -> Result<CaLock> {
        if !self.root.exists() {
            create_private_dir(&self.root)?;
        }
        CaLock::acquire(&self.root.join(LOCK_FILE))
    }

    /// Commits a new index: the atomic, durable write that makes a state change happen, with
    /// its record appended to the operations log first ([`oplog`]; the index then names that
    /// record). Only the holder of this directory's lock can commit, and only while the
    /// directory it locked is still the one at this path.
    pub fn save_index(
        &self,
        index: &mut Index,
        lock: &CaLock,
        op: &oplog::Operation,
    ) -> Result<()> {
        self.check_lock(lock)?;
        let previous = index.oplog.clone();
        let appended = oplog::append(self, lock, index, op)?;
        self.write_index(index).inspect_err(|_| {
            oplog::undo_append(self, appended);
            index.oplog = previous;
        })
    }

    /// Commits an intermediate step of an operation whose last commit is logged by
    /// [`Store::save_index`] (the CRL number reserved before the CRL is written): no record.
    pub fn save_index_step(&self, index: &Index, lock: &CaLock) -> Result<()> {
        self.check_lock(lock)?;
        self.write_index(index)
    }

    fn check_lock(&self, lock: &CaLock) -> Result<()> {
        if lock.path() != self.root.join(LOCK_FILE) || !lock.is_in_place() {
            return Err(Error::failed(format!(
                "internal error: {} was about to be changed without holding its lock",
                self.root.display()
            )));
        }
        Ok(())
    }

    fn write_index(&self, index: &Index) -> Result<()> {
        crash_point("before-index-commit");
        atomic::write_atomic(
            &self.confined(self.index_path())?,
            &index.to_json()?,
            FileMode::Secret,
            Durability::Synced,
        )
    }

    /// Reads a stored certificate (PEM).
    pub fn read_cert_pem(&self, serial: &Serial) -> Result<Vec<u8>> {
        let path = self.confined(self.cert_path(serial))?;
        std::fs::read(&path).map_err(|e| missing_state(&path, e))
    }

    /// Reads a stored private key (PEM, possibly encrypted).
    pub fn read_key_pem(&self, serial: &Serial) -> Result<crate::domain::secret::SecretBytes> {
        let path = self.confined(self.key_path(serial))?;
        std::fs::read(&path)
            .map(crate::domain::secret::SecretBytes::new)
            .map_err(|e| missing_state(&path, e))
    }

    /// Writes a certificate and its sealed key for a new serial (not yet committed to the index).
    pub fn write_cert_and_key(
        &self,
        serial: &Serial,
        cert_pem: &[u8],
        sealed_key_pem: &[u8],
        durability: Durability,
    ) -> Result<()> {
        atomic::write_atomic(
            &self.confined(self.key_path(serial))?,
            sealed_key_pem,
            FileMode::Secret,
            durability,
        )?;
        atomic::write_atomic(
            &self.confined(self.cert_path(serial))?,
            cert_pem,
            FileMode::Public,
            durability,
        )
    }

    /// Writes the certificate of a new serial whose key the CA does not hold (keyless: the key
    /// lives on the node), not yet committed to the index.
    pub fn write_cert(
        &self,
        serial: &Serial,
        cert_pem: &[u8],
        durability: Durability,
    ) -> Result<()> {
        atomic::write_atomic(
            &self.confined(self.cert_path(serial))?,
            cert_pem,
            FileMode::Public,
            durability,
        )
    }

    /// Removes the private key file of `serial` (a root key moved into a PKCS#11 token by
    /// `hsm migrate`), durably: the keys directory is synced afterwards. Only the holder of this
    /// directory's lock may; a file already gone is fine. The file system may keep the old
    /// blocks (as after `passwd`).
    pub fn remove_key(&self, serial: &Serial, lock: &CaLock) -> Result<()> {
        self.check_lock(lock)?;
        let path = self.confined(self.key_path(serial))?;
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io("removing", &path, e)),
        }
        atomic::sync_dir(&self.keys_dir())
    }

    /// `path` (inside the CA directory) when neither it nor a directory between the CA
    /// directory and it is a symbolic link; else an error naming the link (exit 1).
    pub fn confined(&self, path: PathBuf) -> Result<PathBuf> {
        if let Ok(inside) = path.strip_prefix(&self.root) {
            let mut at = self.root.clone();
            for part in inside.components() {
                at.push(part);
                refuse_symlink(&at)?;
            }
        }
        Ok(path)
    }

    /// Makes a batch of [`Durability::Deferred`] writes durable before the index commits them:
    /// the certificate of each serial, and its key when one was written (a keyless
    /// certificate has none).
    pub fn sync_batch(&self, serials: &[Serial]) -> Result<()> {
        if crate::platform::sync_file_system(&self.root)
            .map_err(|e| Error::io("syncing the file system of", &self.root, e))?
        {
            return Ok(());
        }
        for serial in serials {
            let key = self.key_path(serial);
            if key.is_file() {
                atomic::sync_file(&key)?;
            }
            atomic::sync_file(&self.cert_path(serial))?;
        }
        atomic::sync_dir(&self.keys_dir())?;
        atomic::sync_dir(&self.certs_dir())
    }
}

/// A file the index names is missing or unreadable: the CA is damaged.
fn missing_state(path: &Path, e: std::io::Error) -> Error {
    let err = Error::io("reading", path, e);
    if err.kind() == ErrorKind::NotFound {
        Error::failed(format!(
            "{} is missing although the CA index names it; restore the CA from a backup if the \
             file cannot be recovered",
            path.display()
        ))
    } else {
        err
    }
}

/// Refuses `path` if it is a symbolic link (exit 1, naming it); a missing path is fine.
pub fn refuse_symlink(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(symlink_refusal(path)),
        _ => Ok(()),
    }
}

/// The refusal of a symbolic link inside the CA directory.
pub fn symlink_refusal(path: &Path) -> Error {
    Error::failed(format!(
        "{} is a symbolic link: qvca does not follow links inside the CA directory (one could \
         lead its keys, index or lock out of it); replace the link with the real file or \
         directory",
        path.display()
    ))
}

/// Makes `open` fail on a symbolic link in the last component (O_NOFOLLOW on Linux; elsewhere
/// callers check with [`refuse_symlink`] first).
pub fn no_follow(options: &mut std::fs::OpenOptions) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = options;
}

/// True for the error an O_NOFOLLOW open gives on a symbolic link.
pub fn is_symlink_error(e: &std::io::Error) -> bool {
    #[cfg(target_os = "linux")]
    {
        e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = e;
        false
    }
}

/// Creates a directory readable by its owner only (0700 on Unix).
pub fn create_private_dir(path: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(path)
        .map_err(|e| Error::io("creating the directory", path, e))
}

/// The path without a trailing separator or `.` components (`ca/` → `ca`), so that siblings
/// such as `ca.replaced-…` land next to it, not inside it.
pub fn normalized(path: &Path) -> PathBuf {
    let normal: PathBuf = path.components().collect();
    if normal.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        normal
    }
}

/// A path next to `path` whose name is `path`'s name plus `suffix` (`ca` → `ca.replaced-…`).
pub fn sibling_path(path: &Path, suffix: &str) -> PathBuf {
    let mut name = normalized(path).into_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Puts the fully built directory `staging` in place of the existing `dir`, keeping the old
/// one as `aside`. Where the platform can, the two are exchanged atomically first, so that at no
/// instant is there no directory at `dir`.
pub fn swap_in(staging: &Path, dir: &Path, aside: &Path) -> Result<()> {
    let swapped = crate::platform::exchange_dirs(staging, dir)
        .map_err(|e| Error::io("swapping in the new CA at", dir, e))?;
    if swapped {
        // The new CA is in place; the old one now sits at the staging path.
        crash_point("swap-between-renames");
        std::fs::rename(staging, aside)
            .map_err(|e| Error::io("keeping the old CA as", aside, e))?;
    } else {
        std::fs::rename(dir, aside)
            .map_err(|e| Error::io("moving the old CA aside to", aside, e))?;
        crash_point("swap-between-renames");
        std::fs::rename(staging, dir).map_err(|e| Error::io("moving the new CA into", dir, e))?;
    }
    atomic::sync_dir(atomic::parent_dir(dir))
}

/// Restricts an existing directory to its owner (0700 on Unix; on Windows the ACL is left to
/// the admin, see README).
pub fn make_private(dir: &Path) -> Result<()> {
    restrict(dir, 0o700)
}

/// Restricts an existing file to its owner (0600 on Unix).
pub fn make_owner_only(file: &Path) -> Result<()> {
    restrict(file, 0o600)
}

/// Sets the Unix permission bits of an existing file or directory (nothing elsewhere).
fn restrict(path: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("restricting the permissions of", path, e))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// True when a file can be read by others than its owner (always false on Windows, where
/// the ACL decides).
pub fn readable_by_others(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// The platform's default CA directory (SPEC.md): `%ProgramData%\QlikTech\qvca` on Windows,
/// `$XDG_DATA_HOME/qvca` or `~/.local/share/qvca` elsewhere.
pub fn default_ca_dir() -> Result<PathBuf> {
    #[cfg(windows)]
    {
        let program_data = std::env::var_os("ProgramData")
            .ok_or_else(|| Error::failed("%ProgramData% is not set: pass --ca-dir"))?;
        Ok(PathBuf::from(program_data).join("QlikTech").join("qvca"))
    }
    #[cfg(not(windows))]
    {
        if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
            return Ok(PathBuf::from(xdg).join("qvca"));
        }
        let home = std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                Error::failed(
                    "neither XDG_DATA_HOME nor HOME is set: pass --ca-dir or set QVCA_DIR",
                )
            })?;
        Ok(PathBuf::from(home)
            .join(".local")
            .join("share")
            .join("qvca"))
    }
}

/// Aborts the process at a named point when the crash-safety tests ask for it
/// (`QVCA_TEST_CRASH_AT=<point>` or `<point>#<n>` for its n-th occurrence; built only with the
/// `test-hooks` feature). The concurrency tests can also pause there
/// (`QVCA_TEST_PAUSE_AT=<point>[,<point>...]`): the process creates `<point>.paused` in
/// `QVCA_TEST_PAUSE_DIR` and waits (at most a minute) until the test creates `<point>.resume`.
/// A hook of the library's own operations, not part of its API:
///
/// ```compile_fail
/// qvca::store::crash_point("before-write");
/// ```
#[cfg(feature = "test-hooks")]
pub(crate) fn crash_point(point: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    pause_point(point);
    if let Ok(target) = std::env::var("QVCA_TEST_CRASH_AT") {
        let (name, nth) = match target.split_once('#') {
            Some((name, n)) => (name.to_owned(), n.parse::<usize>().unwrap_or(1)),
            None => (target.clone(), 1),
        };
        if name == point && SEEN.fetch_add(1, Ordering::SeqCst) + 1 == nth {
            std::process::abort();
        }
    }
}

/// No-op outside test builds.
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub(crate) fn crash_point(_point: &str) {}

/// Waits at `point` while a test holds it (see [`crash_point`]).
#[cfg(feature = "test-hooks")]
fn pause_point(point: &str) {
    let Ok(points) = std::env::var("QVCA_TEST_PAUSE_AT") else {
        return;
    };
    let Some(dir) = std::env::var_os("QVCA_TEST_PAUSE_DIR").map(PathBuf::from) else {
        return;
    };
    if !points.split(',').any(|p| p == point) {
        return;
    }
    let _ = std::fs::write(dir.join(format!("{point}.paused")), b"");
    let resume = dir.join(format!("{point}.resume"));
    let started = std::time::Instant::now();
    while !resume.exists() && started.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A write failure the tests ask for (`QVCA_TEST_WRITE_FAIL=full|readonly[#n]`: the n-th atomic
/// write fails as on a full disk or a read-only file system; built only with `test-hooks`).
#[cfg(feature = "test-hooks")]
pub(crate) fn injected_write_failure() -> Option<std::io::Error> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static WRITES: AtomicUsize = AtomicUsize::new(0);
    let wanted = std::env::var("QVCA_TEST_WRITE_FAIL").ok()?;
    let (kind, nth) = match wanted.split_once('#') {
        Some((kind, n)) => (kind.to_owned(), n.parse::<usize>().unwrap_or(1)),
        None => (wanted.clone(), 1),
    };
    let this = WRITES.fetch_add(1, Ordering::SeqCst) + 1;
    if this < nth {
        return None;
    }
    Some(match kind.as_str() {
        "readonly" => std::io::Error::from(std::io::ErrorKind::ReadOnlyFilesystem),
        _ => std::io::Error::from(std::io::ErrorKind::StorageFull),
    })
}

/// No write ever fails on purpose outside test builds.
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub(crate) fn injected_write_failure() -> Option<std::io::Error> {
    None
}

/// A sortable UTC timestamp for file names: `YYYYMMDDTHHMMSSZ`.
pub fn file_stamp(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
