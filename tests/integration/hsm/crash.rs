//! A crash at any point of what a CA whose root key is in a token does (issue, renew, renew
//! --root, revoke, crl) leaves a CA that works: every certificate in its index verifies against
//! its root with openssl, its operations log verifies, and the operation run again completes.
//! The token is only signed with, so one token serves every round; the CA directory is put
//! back from a copy before each.

use super::cli::HsmCa;
use crate::support::{copy_dir, openssl_ok, path_str};
use std::process::Output;

/// Crash points these operations pass, with how many occurrences to try.
const POINTS: &[(&str, usize)] = &[
    ("before-write", 4),
    ("before-rename", 4),
    ("after-write-certificate", 1),
    ("before-index-commit", 1),
    ("after-log-append", 1),
    ("crl-before-write", 1),
];

fn crashed(out: &Output) -> bool {
    !out.status.success() && out.status.code().is_none()
}

fn assert_usable(hsm: &HsmCa, what: &str) {
    let log = hsm.run(&["log", "--verify"]);
    assert!(
        log.status.success(),
        "{what}: log --verify: {}",
        crate::support::describe(&log)
    );
    let root = hsm.root();
    let index = hsm.ca.index();
    let mut args = vec![
        "verify".to_owned(),
        "-CAfile".to_owned(),
        path_str(&root).to_owned(),
    ];
    // Leaves (a renewed root keeps its key and subject, so they verify against either root).
    for entry in index["certificates"].as_array().expect("certificates") {
        if entry["kind"] == "root" {
            continue;
        }
        let serial = entry["serial"].as_str().expect("serial");
        let cert = hsm.ca.dir().join("certs").join(format!("{serial}.pem"));
        args.push(path_str(&cert).to_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    openssl_ok(&args);
}

#[test]
fn a_crash_at_any_point_of_an_hsm_cas_operations_leaves_a_usable_ca() {
    let hsm = HsmCa::init("p256");
    hsm.ok(&["issue", "server", "QVS01", "QVS02"]);
    hsm.ok(&["issue", "client"]);
    let template = hsm.ca.path().join("template");
    copy_dir(&hsm.ca.dir(), &template);
    let scenarios: [&[&str]; 5] = [
        &["issue", "server", "QVS09"],
        &["renew", "QVS01"],
        &["-y", "renew", "QlikViewCA", "--root"],
        &["-y", "revoke", "QVS02"],
        &["crl"],
    ];
    let mut crashes = 0;
    for args in scenarios {
        for (point, count) in POINTS {
            for n in 1..=*count {
                std::fs::remove_dir_all(hsm.ca.dir()).expect("remove the CA");
                copy_dir(&template, &hsm.ca.dir());
                let out = hsm
                    .qvca()
                    .args(args)
                    .env("QVCA_TEST_CRASH_AT", format!("{point}#{n}"))
                    .output()
                    .expect("run");
                if !crashed(&out) {
                    break; // not reached (again) by this operation
                }
                crashes += 1;
                let what = format!("{args:?} crashed at {point}#{n}");
                assert_usable(&hsm, &what);
                let again = hsm.run(args);
                assert!(
                    again.status.code().is_some_and(|c| c == 0 || c == 3),
                    "{what}: running it again fails: {}",
                    crate::support::describe(&again)
                );
                assert_usable(&hsm, &format!("{what}, then run again"));
            }
        }
    }
    assert!(
        crashes >= 10,
        "only {crashes} crashes were provoked: are the crash points compiled in?"
    );
}
