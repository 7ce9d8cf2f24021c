//! Every other command on a CA whose root key lives in a SoftHSM2 token, once each: `passwd`
//! re-encrypts the leaf keys only; `export` (pfx, cert, root, license-service) and `package`
//! hand out leaf keys and certificates, never the root key; `status`, `show` of the root,
//! `verify`, `renew --root` and `setup` over the CA work.

use super::cli::{HsmCa, assert_no_pin, assert_no_pin_in};
use crate::support::{describe, openssl_ok, path_str, pfx_password_file, stderr};
use std::path::Path;

/// An HSM CA with a Server certificate QVS01 and the Client certificate.
fn hsm_ca() -> HsmCa {
    let hca = HsmCa::init("p256");
    hca.ok(&["issue", "server", "QVS01", "--key-type", "p256"]);
    hca.ok(&["issue", "client", "--key-type", "p256"]);
    hca
}

/// The names of the files in `dir`.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn passwd_re_encrypts_the_leaf_keys_only_and_the_root_still_signs_in_the_token() {
    let hca = hsm_ca();
    let keys_before = names(&hca.ca.dir().join("keys"));
    assert_eq!(keys_before.len(), 2, "{keys_before:?}");
    let new_password = hca.ca.path().join("new-password.txt");
    std::fs::write(&new_password, "a new CA password 2\n").expect("write");
    let report = hca.json(&["passwd", "--new-password-file", path_str(&new_password)]);
    assert_eq!(report["keys_reencrypted"], 2, "{report}");
    assert_eq!(names(&hca.ca.dir().join("keys")), keys_before);
    // The old password no longer opens the leaf keys; the new one does, and the token signs.
    let out = hca.run(&["issue", "server", "QVS02", "--key-type", "p256"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    std::fs::copy(&new_password, hca.ca.password_file()).expect("copy");
    hca.ok(&["issue", "server", "QVS02", "--key-type", "p256"]);
    let text = openssl_ok(&[
        "verify",
        "-CAfile",
        path_str(&hca.root()),
        path_str(&hca.cert("QVS02")),
    ]);
    assert!(text.contains(": OK"), "{text}");
}

#[test]
fn export_and_package_hand_out_leaf_keys_and_certificates_never_the_root_key() {
    let hca = hsm_ca();
    let pfx_password = pfx_password_file(&hca.ca);
    let pfx = hca.ca.path().join("QVS01.pfx");
    let mut cmd = hca.qvca();
    let out = cmd
        .arg("--pfx-password-file")
        .arg(&pfx_password)
        .args(["export", "pfx", "QVS01", "--out", path_str(&pfx)])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", describe(&out));
    let info = openssl_ok(&[
        "pkcs12",
        "-in",
        path_str(&pfx),
        "-passin",
        &format!("file:{}", path_str(&pfx_password)),
        "-nokeys",
        "-info",
    ]);
    assert!(info.contains("QlikViewCA"), "{info}");
    // The root's key: refused, saying where it lives.
    let mut cmd = hca.qvca();
    let out = cmd
        .arg("--pfx-password-file")
        .arg(&pfx_password)
        .args(["export", "pfx", "QlikViewCA", "--out"])
        .arg(hca.ca.path().join("root.pfx"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("PKCS#11 token"), "{}", describe(&out));
    assert!(!hca.ca.path().join("root.pfx").exists());
    // Certificates, the root, the license-service files.
    let chain = hca.ca.path().join("chain.pem");
    hca.ok(&[
        "export",
        "cert",
        "QVS01",
        "--chain",
        "--out",
        path_str(&chain),
    ]);
    let der = hca.ca.path().join("QlikViewCA.cer");
    hca.ok(&["export", "root", "--der", "--out", path_str(&der)]);
    let exported = hca.ca.path().join("license");
    hca.ok(&[
        "export",
        "license-service",
        "--machine",
        "QVS01",
        "--out",
        path_str(&exported),
    ]);
    assert_eq!(
        names(&exported),
        ["root.pem", "server.pem", "server_key.pem"]
    );
    // A node package.
    let package = hca.ca.path().join("QVS01-package");
    let mut cmd = hca.qvca();
    let out = cmd
        .arg("--pfx-password-file")
        .arg(&pfx_password)
        .args(["package", "QVS01", "--out", path_str(&package)])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", describe(&out));
    assert_no_pin(&out, "package");
    assert!(!names(&package).is_empty());
    assert_no_pin_in(hca.ca.path());
}

#[test]
fn status_show_verify_renew_root_and_setup_work_on_an_hsm_ca() {
    let hca = hsm_ca();
    let status = hca.json(&["status"]);
    assert_eq!(status["state"], 2, "{status}");

    let shown = hca.json(&["show", "QlikViewCA"]);
    assert!(shown.get("key_file").is_none(), "{shown}");
    assert_eq!(shown["key_in_token"]["token_label"], "qvca", "{shown}");
    let text = hca.ok(&["show", "QlikViewCA"]);
    assert!(text.contains("in a PKCS#11 token"), "{text}");
    assert!(!text.contains("Key file"), "{text}");

    let cert = hca.cert("QVS01");
    let out = hca.run(&["verify", path_str(&cert), "--name", "QVS01"]);
    assert!(out.status.success(), "{}", describe(&out));

    let renewed = hca.json(&["-y", "renew", "QlikViewCA", "--root"]);
    let serial = renewed["new_serial"].as_str().expect("serial").to_owned();
    assert!(
        !hca.ca
            .dir()
            .join("keys")
            .join(format!("{serial}.pem"))
            .exists()
    );
    let out = hca.run(&["verify", path_str(&cert), "--name", "QVS01"]);
    assert!(out.status.success(), "{}", describe(&out));

    // `setup` over the existing CA issues what is missing through the token.
    let exported = hca.ca.path().join("export");
    let report = hca.json(&["setup", "QVS05", "--export-dir", path_str(&exported)]);
    assert!(report.get("created_root").is_none(), "{report}");
    assert_verifies_under_root(&hca, "QVS05");
}

/// `openssl verify` accepts the certificate of `name` under the CA's root.
fn assert_verifies_under_root(hca: &HsmCa, name: &str) {
    let text = openssl_ok(&[
        "verify",
        "-CAfile",
        path_str(&hca.root()),
        path_str(&hca.cert(name)),
    ]);
    assert!(text.contains(": OK"), "{text}");
}
