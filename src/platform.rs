//! The little that differs between platforms, kept in one place behind `cfg`.
//!
//! - Core dumps are switched off for the process (Linux), so that keys and passwords in memory
//!   never land in a core file.
//! - A batch of new files is made durable with one `syncfs` (Linux) instead of an fsync each.
//! - Two directories are swapped atomically where the kernel can (Linux `renameat2` with
//!   `RENAME_EXCHANGE`), so a restore never leaves a moment without a CA directory.

use std::path::Path;

/// Disables core dumps for this process where the platform allows (RLIMIT_CORE = 0 on Linux).
/// Windows does not write core dumps of console programs unless WER is configured to.
pub fn disable_core_dumps() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{Resource, Rlimit, setrlimit};
        // Failing to lower a limit is harmless: the dump would still need a crash.
        let _ = setrlimit(
            Resource::Core,
            Rlimit {
                current: Some(0),
                maximum: Some(0),
            },
        );
    }
}

/// Makes every write to the file system holding `dir` durable with one `syncfs` (Linux).
/// Returns `Ok(false)` where the platform has no such call (the caller then fsyncs each file).
pub fn sync_file_system(dir: &Path) -> std::io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        let handle = std::fs::File::open(dir)?;
        rustix::fs::syncfs(&handle)?;
        Ok(true)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        Ok(false)
    }
}

/// Atomically swaps two existing directories. Returns `Ok(false)` where the platform or file
/// system cannot (the caller then falls back to two renames).
pub fn exchange_dirs(a: &Path, b: &Path) -> std::io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (a, b);
        Ok(false)
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    #[test]
    fn exchanging_two_directories_swaps_their_contents() {
        let temp = tempfile::tempdir().expect("tempdir");
        let (a, b) = (temp.path().join("a"), temp.path().join("b"));
        std::fs::create_dir(&a).expect("a");
        std::fs::create_dir(&b).expect("b");
        std::fs::write(a.join("marker"), "a").expect("write");
        if exchange_dirs(&a, &b).expect("exchange") {
            assert!(b.join("marker").is_file());
            assert!(!a.join("marker").exists());
        }
    }
}
