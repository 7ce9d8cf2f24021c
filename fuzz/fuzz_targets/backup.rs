//! Backup files given to `backup verify` and `restore`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qvca::secret::Password;

fuzz_target!(|data: &[u8]| {
    let _ = qvca::backup::verify_backup_bytes(data, &Password::new("fuzz"), std::path::Path::new("fuzz.pfx"));
});
