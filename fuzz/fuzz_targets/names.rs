//! Machine names from arguments and `--from-file` lists.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qvca::domain::name::{CommonName, FqdnPolicy, MachineName, parse_machine_list};

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
        if let Ok(name) = CommonName::parse(text) {
            // What is accepted never hides, reorders or separates anything.
            assert!(!name
                .as_str()
                .chars()
                .any(|c| qvca::domain::name::is_hidden_char(c) || c == '/' || c == '\\'));
        }
        // Whatever the name, its file name is one component that stays in its directory.
        let file = qvca::domain::name::file_name(text, "pfx");
        assert!(!file.contains(['/', '\\']) && !file.starts_with('.') && file.ends_with(".pfx"));
    }
});
