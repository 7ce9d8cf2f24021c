//! Bulk issuance with the root key in a token, through the real binary: keys are generated on
//! every `--jobs` thread as for a file key, and the signatures go through the token's session
//! pool, several sessions at once (a PKCS#11 session runs one operation at a time). The pool
//! tells what it did through the `test-hooks` log (`QVCA_TEST_PKCS11_POOL_LOG`, a line per
//! session lent), and `QVCA_TEST_PKCS11_HOLD_MS` makes each signature take as long as a
//! network HSM's round trip, so that concurrent signatures overlap for certain.

use super::cli::HsmCa;
use crate::support::{describe, openssl_ok, path_str};
use std::collections::BTreeSet;
use std::path::Path;

/// What the pool log of one command says: the most sessions lent at once and every session
/// number that was lent.
struct PoolUse {
    peak: usize,
    sessions: BTreeSet<usize>,
    lent: usize,
}

/// Reads `session N lent: K in use, L open` lines.
fn pool_use(log: &Path) -> PoolUse {
    let text = std::fs::read_to_string(log).expect("the pool wrote its log");
    let mut found = PoolUse {
        peak: 0,
        sessions: BTreeSet::new(),
        lent: 0,
    };
    for line in text.lines() {
        let rest = line.strip_prefix("session ").expect("a pool log line");
        let (number, rest) = rest.split_once(" lent: ").expect("lent");
        let (in_use, _) = rest.split_once(" in use").expect("in use");
        found
            .sessions
            .insert(number.parse().expect("session number"));
        found.peak = found.peak.max(in_use.parse().expect("count"));
        found.lent += 1;
    }
    found
}

/// Issues Server certificates for `names` on `jobs` threads, with each signature holding its
/// session for 300 ms; returns how the pool was used.
fn issue_logged(hca: &HsmCa, names: &[&str], jobs: &str, log_name: &str) -> PoolUse {
    let log = hca.ca.path().join(log_name);
    let out = hca
        .qvca()
        .env("QVCA_TEST_PKCS11_POOL_LOG", &log)
        .env("QVCA_TEST_PKCS11_HOLD_MS", "300")
        .args(["issue", "server"])
        .args(names)
        .args(["--jobs", jobs, "--key-type", "p256"])
        .output()
        .expect("run qvca");
    assert!(out.status.success(), "issue: {}", describe(&out));
    super::cli::assert_no_pin(&out, "issue");
    pool_use(&log)
}

#[test]
fn a_bulk_issue_signs_on_several_token_sessions_at_once_and_every_certificate_verifies() {
    let hca = HsmCa::init("rsa2048");
    let names = ["QVS01", "QVS02", "QVS03", "QVS04", "QVS05", "QVS06"];
    let used = issue_logged(&hca, &names, "4", "pool-jobs4.log");
    // The check that the key signs for the root, then one signature per certificate.
    assert_eq!(used.lent, 1 + names.len(), "one lend per signature");
    // Four threads sign at once; the pool starts with one session per core and opens more
    // while all are busy, so at least three are in use together even on two cores.
    assert!(
        used.peak >= 3,
        "four signing threads used {} session(s) at once; sessions lent: {:?}",
        used.peak,
        used.sessions
    );
    assert!(used.sessions.len() >= 3, "sessions: {:?}", used.sessions);

    // Every certificate is right: openssl verifies each under the root, as a TLS server.
    let root = hca.root();
    for name in names {
        let cert = hca.cert(name);
        let text = openssl_ok(&[
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-CAfile",
            path_str(&root),
            path_str(&cert),
        ]);
        assert!(text.contains(": OK"), "{name}: {text}");
    }
    let verify = hca.run(&["verify"]);
    assert!(verify.status.success(), "verify: {}", describe(&verify));

    // The log measures what it claims: one signing thread never uses two sessions at once.
    let single = issue_logged(&hca, &["QVS11", "QVS12", "QVS13"], "1", "pool-jobs1.log");
    assert_eq!(single.peak, 1, "sessions: {:?}", single.sessions);
    assert_eq!(single.lent, 4);
}
