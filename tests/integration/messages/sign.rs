//! docs/bad-input.md, "Issue 12: keyless enrolment (`qvca sign`)" and the `package --keyless`
//! rows of "Issue 12: Windows node packages and keyless enrolment".
//!
//! Not pinned here (no qvca message of their own, or not run by the binary):
//! - the renderer refusing a value in a `.cmd` or `.inf` template, and two package files named
//!   alike: reachable only through the library (package::tests);
//! - the rows of `install.sh`, `keyless-request.sh`, `keyless-accept.sh` and `install.ps1`: they
//!   are the scripts' own words, judged by packages.rs (install.ps1 is not run here at all).

use super::pin;
use crate::sign::openssl_request;
use crate::support::{TestCa, p256_ca, path_str, pfx_password_file};

/// `qvca` on `ca` with the PFX password file too.
fn qvca(ca: &TestCa) -> assert_cmd::Command {
    let mut cmd = ca.qvca();
    cmd.arg("--pfx-password-file").arg(pfx_password_file(ca));
    cmd
}

/// `sign FILE --server` (and `extra`), pinned as `case`.
fn sign(ca: &TestCa, case: &str, file: &str, extra: &[&str]) {
    pin!(case, qvca(ca).args(["sign", file]).args(extra));
}

#[test]
fn requests_refused() {
    let ca = p256_ca(&[]);
    let csr = openssl_request(
        &ca,
        "ca.csr",
        "ec",
        "/CN=QVS31",
        &["basicConstraints=critical,CA:TRUE"],
    );
    sign(&ca, "request_for_a_ca", path_str(&csr), &["--server"]);

    let pem = openssl_request(&ca, "node.csr", "ec", "/CN=QVS41", &[]);
    let der = ca.path().join("node.der");
    crate::support::openssl_ok(&[
        "req",
        "-in",
        path_str(&pem),
        "-outform",
        "DER",
        "-out",
        path_str(&der),
    ]);
    let mut bytes = std::fs::read(&der).expect("der");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&der, &bytes).expect("write");
    sign(
        &ca,
        "request_broken_signature",
        path_str(&der),
        &["--server"],
    );

    for (case, key) in [
        ("request_rsa_1024", "rsa:1024"),
        ("request_ed25519", "ed25519"),
    ] {
        let csr = openssl_request(&ca, "weak.csr", key, "/CN=QVS51", &[]);
        sign(&ca, case, path_str(&csr), &["--server"]);
    }
    let csr = ca.path().join("sha1.csr");
    let key = ca.path().join("sha1.key");
    crate::support::openssl_ok(&[
        "req",
        "-new",
        "-nodes",
        "-newkey",
        "rsa:2048",
        "-sha1",
        "-subj",
        "/CN=QVS52",
        "-keyout",
        path_str(&key),
        "-out",
        path_str(&csr),
    ]);
    sign(&ca, "request_sha1", path_str(&csr), &["--server"]);

    for (case, cn) in [
        ("request_cn_ip", "10.1.2.3"),
        ("request_cn_fqdn", "qvs01.corp.local"),
        ("request_cn_like_the_root", "qlikviewca"),
    ] {
        let csr = openssl_request(&ca, "bad.csr", "ec", &format!("/CN={cn}"), &[]);
        sign(&ca, case, path_str(&csr), &["--server"]);
    }
    let csr = openssl_request(&ca, "root-like.csr", "ec", "/CN=QlikViewCA", &[]);
    sign(
        &ca,
        "request_client_like_the_root",
        path_str(&csr),
        &["--client"],
    );
    let csr = openssl_request(&ca, "ip.csr", "ec", "/CN=10.1.2.3", &[]);
    sign(
        &ca,
        "request_name_option_ip",
        path_str(&csr),
        &["--server", "--name", "10.9.9.9"],
    );
    let csr = openssl_request(&ca, "no-cn.csr", "ec", "/O=Acme", &[]);
    sign(
        &ca,
        "request_without_common_name",
        path_str(&csr),
        &["--server"],
    );

    let garbage = ca.path().join("garbage.csr");
    std::fs::write(&garbage, "hello, this is not a request\n").expect("write");
    let root = ca.root_pem();
    sign(&ca, "request_dev_zero", "/dev/zero", &["--server"]);
    sign(&ca, "request_garbage", path_str(&garbage), &["--server"]);
    sign(
        &ca,
        "request_is_a_certificate",
        path_str(&root),
        &["--server"],
    );
    sign(&ca, "request_missing", "missing.csr", &["--server"]);
    sign(&ca, "request_without_profile", path_str(&garbage), &[]);
}

#[test]
fn requests_signed_and_kept() {
    let ca = p256_ca(&[]);
    let csr = openssl_request(
        &ca,
        "QVS14.csr",
        "ec",
        "/CN=QVS14/O=Evil Corp",
        &[
            "subjectAltName=DNS:evil.example,IP:10.0.0.1",
            "extendedKeyUsage=codeSigning",
        ],
    );
    sign(
        &ca,
        "request_asking_for_more",
        path_str(&csr),
        &["--server"],
    );
    let other = ca.path().join("again.cer");
    sign(
        &ca,
        "request_valid_certificate_exists",
        path_str(&csr),
        &["--server", "--out", path_str(&other)],
    );
    let csr = openssl_request(&ca, "node.csr", "ec", "/CN=QVS81", &[]);
    std::fs::write(ca.path().join("QVS81.cer"), "mine\n").expect("write");
    sign(&ca, "request_out_exists", path_str(&csr), &["--server"]);
}

#[test]
fn what_needs_the_key_of_a_keyless_certificate() {
    let ca = p256_ca(&["QVS01"]);
    let csr = openssl_request(&ca, "node.csr", "ec", "/CN=QVS02", &[]);
    qvca(&ca)
        .args(["sign", path_str(&csr), "--server"])
        .assert()
        .success();
    // Before renew --expiring-within below supersedes the others.
    let backup = ca.path().join("backup.pfx");
    qvca(&ca)
        .args(["backup", "--out", path_str(&backup)])
        .assert()
        .success();
    pin!(
        "keyless_backup_verify",
        qvca(&ca).args(["backup", "verify", path_str(&backup)])
    );
    let package_dir = ca.path().join("pkg");
    for (case, args) in [
        ("keyless_export_pfx", vec!["export", "pfx", "QVS02"]),
        ("keyless_renew", vec!["renew", "QVS02"]),
        (
            "keyless_package",
            vec!["package", "QVS02", "--out", path_str(&package_dir)],
        ),
        (
            "keyless_export_license_service",
            vec!["export", "license-service", "--machine", "QVS02"],
        ),
        (
            "keyless_renew_expiring_within",
            vec!["renew", "--expiring-within", "3650"],
        ),
    ] {
        pin!(case, qvca(&ca).args(&args));
    }
    pin!("keyless_doctor", qvca(&ca).arg("doctor"));
}

#[test]
fn keyless_package_options() {
    let ca = TestCa::new();
    ca.qvca()
        .args(["init", "--no-password", "--key-type", "p256"])
        .assert()
        .success();
    let out_dir = ca.path().join("pkg");
    let package = |machine: &str, args: &[&str]| {
        let mut cmd = ca.qvca_without_password();
        cmd.args(["package", machine, "--out", path_str(&out_dir)])
            .args(args);
        cmd
    };
    for (case, args) in [
        (
            "package_keyless_capi_p256",
            &["--keyless", "--key-type", "p256", "--key-storage", "capi"][..],
        ),
        ("package_keyless_legacy", &["--keyless", "--legacy"][..]),
        (
            "package_key_type_without_keyless",
            &["--key-type", "p256"][..],
        ),
        (
            "package_key_storage_without_keyless",
            &["--key-storage", "cng"][..],
        ),
    ] {
        pin!(case, &mut package("QVS01", args));
    }
    pin!(
        "package_keyless_ip",
        &mut package("10.1.2.3", &["--keyless"])
    );
    pin!(
        "package_keyless_fqdn",
        &mut package("qvs01.corp.local", &["--keyless"])
    );
    std::fs::create_dir(&out_dir).expect("mkdir");
    pin!(
        "package_keyless_out_exists",
        &mut package("QVS01", &["--keyless"])
    );
}
