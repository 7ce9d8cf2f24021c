//! Machine names from arguments and `--from-file` lists.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qvca::name::{CommonName, FqdnPolicy, MachineName, parse_machine_list};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for policy in [FqdnPolicy::Refuse, FqdnPolicy::Allow] {
            if let Ok(name) = MachineName::parse(text, policy) {
                // What is accepted is a valid DNS name: ASCII letters, digits, hyphens, dots.
                assert!(name.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
                assert!(text.parse::<std::net::IpAddr>().is_err());
            }
            if let Ok(names) = parse_machine_list(text, "fuzz", policy) {
                for n in names {
                    assert!(!n.as_str().is_empty());
                }
            }
        }
        let _ = CommonName::parse(text);
    }
});
