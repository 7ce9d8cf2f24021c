//! The CA lock: one exclusive advisory lock per CA directory, so that concurrent qvca
//! processes serialize their state changes. Waiting is bounded: after the timeout the caller
//! gets a clear "CA is busy" error instead of hanging.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long to wait for another qvca process by default; `QVCA_LOCK_TIMEOUT` (seconds) overrides.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(120);
/// The environment variable that overrides the lock timeout, in seconds.
pub const LOCK_TIMEOUT_ENV: &str = "QVCA_LOCK_TIMEOUT";

/// An exclusive lock on a CA directory, released when dropped (or when the process dies).
#[derive(Debug)]
pub struct CaLock {
    _file: File,
    path: PathBuf,
}

impl CaLock {
    /// Takes the lock on `lock_path`, waiting at most the configured timeout.
    pub fn acquire(lock_path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_path)
            .map_err(|e| Error::io("opening the lock file", lock_path, e))?;
        let timeout = lock_timeout();
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            match file.try_lock() {
                Ok(()) => {
                    return Ok(Self {
                        _file: file,
                        path: lock_path.to_owned(),
                    });
                }
                Err(TryLockError::WouldBlock) if started.elapsed() < timeout => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::failed(format!(
                        "the CA is busy: another qvca process has held {} for more than {} s; \
                         wait for it to finish and retry (or raise {LOCK_TIMEOUT_ENV})",
                        lock_path.display(),
                        timeout.as_secs()
                    )));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(Error::io("locking", lock_path, e));
                }
            }
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
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
