//! The library's operations API takes checked values (issue 15): a revocation reason is a
//! `RevocationReason`, a leaf request a checked name; `verify`'s CRL choice is one library
//! function; the CLI calls no test hook. The CRL and the index are judged with openssl and the
//! index's JSON.

use crate::support::{PASSWORD, openssl_ok, p256_ca, path_str, run, stderr};
use qvca::domain::name::{FqdnPolicy, MachineName};
use qvca::domain::reason::RevocationReason;
use qvca::domain::secret::Password;
use qvca::ops::ca::Ca;
use qvca::ops::issue::{IssueOptions, LeafRequest, issue_batch};
use qvca::ops::lifecycle::{revoke, write_crl};
use qvca::ops::revocation::verification_crl;
use qvca::pki::profile::Profile;
use std::path::Path;

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn the_cli_calls_no_test_hook_of_the_store() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin"),
        &mut files,
    );
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        for hook in ["crash_point", "injected_write_failure"] {
            assert!(
                !text.contains(hook),
                "{} calls the test hook {hook}: the library's own operations hold it",
                file.display()
            );
        }
    }
}

#[test]
fn a_reason_given_to_the_library_reaches_the_index_and_the_crl_by_its_rfc_name() {
    let ca = p256_ca(&[]);
    let mut locked = Ca::open_for_update(&ca.dir()).expect("open");
    let signer = locked
        .unlock(&|| Ok(Password::new(PASSWORD)))
        .expect("unlock");
    let machine = MachineName::parse("QVS01", FqdnPolicy::Refuse).expect("machine name");
    let options = IssueOptions {
        profile: Profile::builtin(qvca::domain::kind::CertKind::Server),
        key_type: None,
        days: Some(30),
        force: false,
        jobs: 1,
    };
    let outcomes = issue_batch(
        &mut locked,
        &signer,
        &[LeafRequest::server(&machine)],
        &options,
        &mut |_| {},
    )
    .expect("issue");
    assert!(outcomes[0].is_issued());
    let revoked = revoke(&mut locked, "QVS01", RevocationReason::KeyCompromise).expect("revoke");
    let crl = ca.path().join("published.pem");
    let report = write_crl(&mut locked, &signer, Some(&crl), 7, false).expect("crl");
    assert_eq!(report.revoked, std::slice::from_ref(&revoked.serial));
    drop(locked);

    let entry = ca.index()["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .find(|e| e["name"] == "QVS01")
        .expect("QVS01")
        .clone();
    assert_eq!(entry["revocation"]["reason"], "keyCompromise");
    let text = openssl_ok(&["crl", "-in", path_str(&crl), "-noout", "-text"]);
    assert!(text.contains("Key Compromise"), "{text}");
    assert!(text.contains(&revoked.serial.to_hex()), "{text}");
}

#[test]
fn verification_checks_the_crl_the_index_records_unless_one_is_given() {
    let ca = p256_ca(&[]);
    let published = ca.path().join("published.pem");
    let out = run(&ca, &["crl", "--out", path_str(&published)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let opened = Ca::open(&ca.dir()).expect("open");

    let der = verification_crl(None, Some(&opened))
        .expect("the CA's CRL")
        .expect("one was written");
    let openssl_der = ca.path().join("published.der");
    openssl_ok(&[
        "crl",
        "-in",
        path_str(&published),
        "-outform",
        "DER",
        "-out",
        path_str(&openssl_der),
    ]);
    assert_eq!(der, std::fs::read(&openssl_der).expect("read"));

    let given = vec![1, 2, 3];
    assert_eq!(
        verification_crl(Some(given.clone()), Some(&opened)).expect("given"),
        Some(given)
    );
    assert_eq!(verification_crl(None, None).expect("none"), None);

    // The CRL the index records is gone: verification fails closed (exit 5), naming it.
    std::fs::remove_file(&published).expect("remove");
    let e = verification_crl(None, Some(&opened)).expect_err("fails closed");
    assert_eq!(e.kind(), qvca::ErrorKind::Verification);
    assert!(e.message().contains("published.pem"), "{}", e.message());
}
