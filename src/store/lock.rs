//! The CA lock: one exclusive advisory lock per CA directory, so that concurrent qvca
//! processes serialize their state changes. Waiting is bounded: after the timeout the caller
//! gets a clear "CA is busy" error instead of hanging.
//!
//! The lock file is `<ca-dir>/.lock`, and a restore or `init --force` replaces the whole
//! directory, `.lock` included. So a lock only counts once it is known to be the lock of the
//! directory that is at the CA path *now*: after `flock` succeeds, the file held is compared
//! (device and inode) with a fresh look at `<ca-dir>/.lock`; when they differ, the directory
//! was swapped while this process waited, and it locks the new one instead. The swapping
//! operation locks the new directory's `.lock` before the swap and holds both locks until it is
//! done (see [`crate::store::staged`]), so at no instant is the directory at the CA path
//! unlocked, and whoever gets the lock next loads the index of the CA that is there.
//!
//! Taking the lock opens an existing lock file read-only (a lock needs no write access, so a CA
//! directory under systemd's `ReadOnlyPaths` can still be locked) and creates it (0600) only
//! when it is missing. A `.lock` that is a symbolic link is refused, never followed.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long to wait for another qvca process by default; `QVCA_LOCK_TIMEOUT` (seconds) overrides.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(120);
/// The environment variable that overrides the lock timeout, in seconds.
pub const LOCK_TIMEOUT_ENV: &str = "QVCA_LOCK_TIMEOUT";

/// How a waiting process is told about: the CLI installs a function that prints the line on
/// stderr (the library never prints). Called once per wait, after [`WAIT_NOTICE_AFTER`].
static WAIT_NOTICE: std::sync::OnceLock<fn(&str)> = std::sync::OnceLock::new();
/// How long a wait goes on before the waiting notice is given.
pub const WAIT_NOTICE_AFTER: Duration = Duration::from_secs(1);

/// Installs the function that tells a person that this process waits for the CA lock.
pub fn on_wait(notice: fn(&str)) {
    let _ = WAIT_NOTICE.set(notice);
}

/// An exclusive lock on a CA directory, released when dropped (or when the process dies).
/// Holding one is what entitles a caller to change the CA: the store's commit takes it.
#[derive(Debug)]
pub struct CaLock {
    file: File,
    path: PathBuf,
}

impl CaLock {
    /// Takes the lock on `lock_path`, waiting at most the configured timeout; if the directory
    /// was swapped while waiting, the lock of the directory now in place is taken instead.
    pub fn acquire(lock_path: &Path) -> Result<Self> {
        let timeout = lock_timeout();
        let started = Instant::now();
        loop {
            let file = open_lock_file(lock_path)?;
            wait_for_lock(&file, lock_path, started, timeout)?;
            if is_in_place(&file, lock_path)? {
                return Ok(Self {
                    file,
                    path: lock_path.to_owned(),
                });
            }
            // The directory was replaced while we waited: this lock guards the old one.
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True while the file this lock holds is still the lock file at its path.
    pub fn is_in_place(&self) -> bool {
        is_in_place(&self.file, &self.path).unwrap_or(false)
    }
}

/// Opens the lock file without following a symbolic link, creating it (0600) if missing.
fn open_lock_file(path: &Path) -> Result<File> {
    loop {
        crate::store::refuse_symlink(path)?;
        let mut existing = OpenOptions::new();
        existing.read(true);
        crate::store::no_follow(&mut existing);
        match existing.open(path) {
            Ok(file) => return Ok(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(open_error(path, e)),
        }
        let mut create = OpenOptions::new();
        create.write(true).create_new(true);
        crate::store::no_follow(&mut create);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            create.mode(0o600);
        }
        match create.open(path) {
            Ok(file) => return Ok(file),
            // Another process created it just now: open that one.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(open_error(path, e)),
        }
    }
}

fn open_error(path: &Path, e: std::io::Error) -> Error {
    if crate::store::is_symlink_error(&e) {
        crate::store::symlink_refusal(path)
    } else {
        Error::io("opening the lock file", path, e)
    }
}

/// Waits until `file` is locked by this process, or the timeout since `started` passes.
fn wait_for_lock(file: &File, path: &Path, started: Instant, timeout: Duration) -> Result<()> {
    let mut pause = Duration::from_millis(5);
    let mut told = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) if started.elapsed() < timeout => {
                if !told && started.elapsed() >= WAIT_NOTICE_AFTER {
                    told = true;
                    if let Some(notice) = WAIT_NOTICE.get() {
                        let holder = holder_pid(file)
                            .map(|pid| format!(" (pid {pid})"))
                            .unwrap_or_default();
                        notice(&format!(
                            "waiting for another qvca{holder} to release the CA lock {}; giving \
                             up after {} s",
                            path.display(),
                            timeout.as_secs()
                        ));
                    }
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(Error::failed(format!(
                    "the CA is busy: another qvca process has held {} for more than {} s; \
                     wait for it to finish and retry (or raise {LOCK_TIMEOUT_ENV})",
                    path.display(),
                    timeout.as_secs()
                )));
            }
            Err(TryLockError::Error(e)) => return Err(Error::io("locking", path, e)),
        }
    }
}

/// The process holding the lock on `file`, from the kernel's lock table (Linux only).
fn holder_pid(file: &File) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata().ok()?;
        let inode = meta.ino().to_string();
        let locks = std::fs::read_to_string("/proc/locks").ok()?;
        // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF": pid, then major:minor:inode.
        locks.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let position = fields.iter().position(|f| *f == "FLOCK")?;
            let pid = fields.get(position + 3)?;
            let device_inode = fields.get(position + 4)?;
            (device_inode.rsplit(':').next() == Some(inode.as_str()))
                .then(|| pid.parse().ok())
                .flatten()
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        None
    }
}

/// True when the open `file` is the file now at `path` (same device and inode). On Windows a
/// directory with an open file in it cannot be renamed, so the held file is always in place.
fn is_in_place(file: &File, path: &Path) -> Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let held = file
            .metadata()
            .map_err(|e| Error::io("checking the lock file", path, e))?;
        match std::fs::symlink_metadata(path) {
            Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("checking the lock file", path, e)),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        Ok(true)
    }
}

fn lock_timeout() -> Duration {
    std::env::var(LOCK_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_LOCK_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_whose_file_was_replaced_is_not_in_place_and_a_new_one_takes_the_new_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".lock");
        let old = CaLock::acquire(&path).expect("lock");
        assert!(old.is_in_place());
        std::fs::rename(&path, dir.path().join("old.lock")).expect("rename");
        assert!(!old.is_in_place());
        let new = CaLock::acquire(&path).expect("the new file is free");
        assert!(new.is_in_place());
    }

    #[cfg(unix)]
    #[test]
    fn a_lock_file_that_is_a_symlink_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"").expect("write");
        let path = dir.path().join(".lock");
        std::os::unix::fs::symlink(&outside, &path).expect("symlink");
        let err = CaLock::acquire(&path).expect_err("refused");
        assert!(err.message().contains("symbolic link"), "{}", err.message());
    }
}
