//! Profile templates given with `--template FILE`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qvca::pki::profile::Profile;
use qvca::domain::kind::CertKind;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for kind in [CertKind::Root, CertKind::Server, CertKind::Client] {
            if let Ok(profile) = Profile::parse(text, "fuzz.toml", kind) {
                assert!(profile.validity_days >= 1);
                assert_eq!(profile.kind, kind);
            }
        }
    }
});
