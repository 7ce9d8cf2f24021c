//! Key types of PKCS#12 files restored without qvca's CA state: the key type recorded is the
//! one of the certificate's own public key, and a key qvca does not support (ECDSA P-521,
//! Ed25519) is refused with a message naming it, never recorded as RSA 2048.

use crate::support::{
    PFX_PASSWORD, TestCa, assert_code, bare_qvca, describe, openssl_ok, path_str,
    pfx_password_file, stderr,
};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A PKCS#12 file made by openssl: a self-signed CA `QlikViewCA` with its key, made with
/// openssl's `-newkey` arguments `newkey` (no qvca state).
fn foreign_root_pfx(ca: &TestCa, label: &str, newkey: &[&str]) -> PathBuf {
    let key = ca.path().join(format!("{label}-key.pem"));
    let cert = ca.path().join(format!("{label}-cert.pem"));
    let mut args = vec!["req", "-x509"];
    args.extend_from_slice(newkey);
    args.extend_from_slice(&[
        "-nodes",
        "-keyout",
        path_str(&key),
        "-out",
        path_str(&cert),
        "-subj",
        "/CN=QlikViewCA",
        "-days",
        "3650",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl_ok(&args);
    let pfx = ca.path().join(format!("{label}.pfx"));
    let pass = format!("pass:{PFX_PASSWORD}");
    openssl_ok(&[
        "pkcs12",
        "-export",
        "-in",
        path_str(&cert),
        "-inkey",
        path_str(&key),
        "-name",
        "QlikViewCA",
        "-passout",
        &pass,
        "-out",
        path_str(&pfx),
    ]);
    pfx
}

/// `qvca --ca-dir TARGET` with the CA and PFX passwords, run from the scratch directory.
fn qvca_into(ca: &TestCa, target: &Path, args: &[&str]) -> std::process::Output {
    bare_qvca()
        .arg("--ca-dir")
        .arg(target)
        .current_dir(ca.path())
        .arg("--password-file")
        .arg(ca.password_file())
        .arg("--pfx-password-file")
        .arg(pfx_password_file(ca))
        .args(args)
        .output()
        .expect("run qvca")
}

#[test]
fn a_foreign_pfx_with_a_p521_or_ed25519_root_key_is_refused_never_recorded_as_rsa2048() {
    let ca = TestCa::new();
    for (label, newkey, shown) in [
        (
            "p521",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"][..],
            "ECDSA P-521",
        ),
        ("ed25519", &["-newkey", "ed25519"][..], "Ed25519"),
    ] {
        let pfx = foreign_root_pfx(&ca, label, newkey);
        let target = ca.path().join(format!("restored-{label}"));
        let expected = format!("it has an {shown} key, which qvca does not support");
        let out = qvca_into(&ca, &target, &["restore", "--force", path_str(&pfx)]);
        assert_code(&out, 1, &format!("restore --force of a {shown} root"));
        assert!(stderr(&out).contains(&expected), "{}", describe(&out));
        assert!(
            stderr(&out).contains("RSA 2048, 3072 or 4096 bit keys and ECDSA P-256 or P-384"),
            "{}",
            describe(&out)
        );
        assert!(!target.exists(), "nothing was created: {}", describe(&out));
        let out = qvca_into(&ca, &target, &["backup", "verify", path_str(&pfx)]);
        assert_code(&out, 1, &format!("backup verify of a {shown} root"));
        assert!(stderr(&out).contains(&expected), "{}", describe(&out));
    }
}

#[test]
fn a_foreign_pfx_with_a_p384_root_key_restores_recording_p384() {
    let ca = TestCa::new();
    let pfx = foreign_root_pfx(
        &ca,
        "p384",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
    );
    let target = ca.path().join("restored-p384");
    let out = qvca_into(&ca, &target, &["restore", "--force", path_str(&pfx)]);
    assert_code(&out, 0, "restore --force of a P-384 root");
    let out = qvca_into(&ca, &target, &["--json", "list"]);
    assert_code(&out, 0, "list");
    let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        listed["certificates"][0]["key_type"],
        "p384",
        "{}",
        describe(&out)
    );
}
