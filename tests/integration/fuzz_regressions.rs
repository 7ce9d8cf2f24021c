//! Every input a fuzz target ever crashed on (fuzz/regressions/<target>/) is replayed here
//! through the same entry points, so a fixed crash stays fixed.

use predicates::prelude::*;
use std::path::Path;

fn inputs(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| std::fs::read(e.path()).expect("read"))
        .collect()
}

#[test]
fn machine_names_that_once_crashed_the_parser_are_refused_cleanly() {
    use qvca::domain::name::{FqdnPolicy, MachineName, parse_machine_list};
    let found = inputs("names");
    assert!(!found.is_empty(), "the names finding is kept");
    for data in found {
        let text = String::from_utf8_lossy(&data);
        for policy in [FqdnPolicy::Refuse, FqdnPolicy::Allow] {
            let _ = MachineName::parse(&text, policy);
            let _ = parse_machine_list(&text, "regression", policy);
        }
    }
}

#[test]
fn the_cli_refuses_a_multi_byte_dotted_name_without_a_panic() {
    let ca = crate::support::TestCa::new();
    ca.qvca()
        .args(["init", "--no-password", "--key-type", "p256"])
        .assert()
        .success();
    ca.qvca()
        .args(["issue", "server", "--allow-fqdn", "0.o\u{68f}\u{453}.1"])
        .assert()
        .code(1)
        .stderr(
            predicates::str::contains("non-ASCII").and(predicates::str::contains("panicked").not()),
        );
}
