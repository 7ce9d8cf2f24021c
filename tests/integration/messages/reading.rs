//! docs/bad-input.md, "Issue 13: files from elsewhere (inspect, verify --chain)": fixed files
//! from pyca's `cryptography-vectors` (the corpus `.ci/run` installs), and a small foreign PKI
//! that openssl makes (reading.rs's `ForeignPki`).
//!
//! Not pinned here: a PKCS#12 encrypted with RC4 (no tool here writes one), and PBMAC1 files
//! (reading.rs builds them by hand with a Python script; the wrong-password message they end in
//! is the one pinned in passwords.rs).

use super::pin;
use crate::reading::{ForeignPki, LEAVES_SCRIPT, openssl_pfx};
use crate::support::{bare_qvca, openssl_ok, path_str, tool};
use std::path::PathBuf;

/// The folder of the installed `cryptography_vectors` package.
fn vectors() -> PathBuf {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import cryptography_vectors, os; print(os.path.dirname(cryptography_vectors.__file__))",
        ])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "pip install cryptography-vectors (.ci/run does): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// `inspect` of a vector file, run from the vectors folder (so the path is relative).
#[test]
fn inspect_files_from_elsewhere() {
    let dir = vectors();
    for (case, file, password) in [
        ("old_pem_label", "x509/cryptography.io.old_header.pem", None),
        (
            "pem_rfc1421_headers",
            "x509/cryptography.io.with_headers.pem",
            None,
        ),
        (
            "pem_with_text",
            "x509/cryptography.io.chain_with_garbage.pem",
            None,
        ),
        (
            "two_basic_constraints",
            "x509/custom/two_basic_constraints.pem",
            None,
        ),
        ("san_x400address", "x509/san_x400address.der", None),
        ("san_edipartyname", "x509/san_edipartyname.der", None),
        ("utf8_dnsname", "x509/utf8-dnsname.pem", None),
        ("negative_serial", "x509/custom/negative_serial.pem", None),
        ("pre_2000_utctime", "x509/custom/post2000utctime.pem", None),
        (
            "request_bad_signature",
            "x509/requests/invalid_signature.pem",
            None,
        ),
        (
            "pkcs12_without_password",
            "pkcs12/cert-key-aes256cbc.p12",
            None,
        ),
        (
            "pkcs12_rc2_3des",
            "pkcs12/cert-rc2-key-3des.p12",
            Some("cryptography"),
        ),
        ("pkcs12_empty_password", "pkcs12/no-password.p12", Some("")),
    ] {
        let mut cmd = bare_qvca();
        cmd.current_dir(&dir);
        if let Some(password) = password {
            cmd.env("QVCA_PFX_PASSWORD", password);
        }
        pin!(case, cmd.args(["inspect", file]));
    }
}

#[test]
fn foreign_files_made_here() {
    let pki = ForeignPki::new();
    // One damaged PEM block among good ones.
    let damaged = pki.write(
        "damaged-block.pem",
        format!(
            "{}-----BEGIN CERTIFICATE-----\nMIIBdamaged!!\n-----END CERTIFICATE-----\n{}",
            pki.read("leaf.pem"),
            pki.read("inter.pem")
        ),
    );
    pin!(
        "one_damaged_pem_block",
        bare_qvca().arg("inspect").arg(&damaged)
    );
    // A file of nothing but a damaged block.
    let only = pki.write(
        "only-damaged.pem",
        "-----BEGIN CERTIFICATE-----\nMIIBdamaged!!\n-----END CERTIFICATE-----\n",
    );
    pin!(
        "only_a_damaged_pem_block",
        bare_qvca().arg("inspect").arg(&only)
    );
    // A chain whose issuer by name did not sign: an impostor intermediate.
    pki.issue("impostor", "/CN=Foreign Intermediate", "leaf", "ca");
    let chain = pki.write(
        "impostor-chain.pem",
        format!("{}{}", pki.read("leaf.pem"), pki.read("impostor.pem")),
    );
    pin!(
        "chain_signature_does_not_verify",
        bare_qvca().arg("inspect").arg(&chain)
    );
    // A private key, encrypted.
    openssl_ok(&[
        "pkcs8",
        "-topk8",
        "-in",
        pki.p("leaf.key"),
        "-v2",
        "aes-256-cbc",
        "-iter",
        "4096",
        "-passout",
        "pass:secret",
        "-out",
        pki.p("enc8.pem"),
    ]);
    pin!(
        "private_key_encrypted",
        bare_qvca().arg("inspect").arg(pki.path("enc8.pem"))
    );
    pin!(
        "private_key_clear",
        bare_qvca().arg("inspect").arg(pki.path("leaf.key"))
    );
    // A PKCS#12 with an empty password, from a password file.
    if let Some(file) = openssl_pfx(&pki, "empty.p12", "", &[]) {
        let empty = pki.write("empty-password.txt", "\n");
        pin!(
            "pkcs12_empty_password_from_file",
            bare_qvca()
                .arg("--pfx-password-file")
                .arg(&empty)
                .arg("inspect")
                .arg(&file)
        );
    }

    // A version 1 CRL (openssl ca -gencrl without CRL extensions).
    std::fs::create_dir(pki.path("newcerts")).expect("mkdir");
    pki.write("index.txt", "");
    pki.write("serial", "01\n");
    pki.write(
        "ca.cnf",
        format!(
            "[ca]\ndefault_ca = own\n[own]\ndir = {dir}\ndatabase = $dir/index.txt\n\
             new_certs_dir = $dir/newcerts\ncertificate = $dir/root.pem\n\
             private_key = $dir/root.key\nserial = $dir/serial\ndefault_md = sha256\n\
             default_crl_days = 30\npolicy = any\n[any]\ncommonName = supplied\n",
            dir = pki.dir.path().display()
        ),
    );
    openssl_ok(&[
        "ca",
        "-config",
        pki.p("ca.cnf"),
        "-revoke",
        pki.p("inter.pem"),
    ]);
    openssl_ok(&[
        "ca",
        "-config",
        pki.p("ca.cnf"),
        "-gencrl",
        "-out",
        pki.p("v1.crl"),
    ]);
    pin!(
        "crl_version_1",
        bare_qvca().arg("inspect").arg(pki.path("v1.crl"))
    );
}

#[test]
fn verify_with_root_and_chain() {
    let pki = ForeignPki::new();
    openssl_ok(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        pki.p("other-root.key"),
        "-out",
        pki.p("other-root.pem"),
        "-subj",
        "/CN=Other Root",
        "-days",
        "30",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
    ]);
    let (leaf, root, inter) = (pki.p("leaf.pem"), pki.p("root.pem"), pki.p("inter.pem"));
    for (case, args) in [
        ("verify_without_chain", vec![leaf, "--root", root]),
        (
            "verify_wrong_root",
            vec![leaf, "--root", pki.p("other-root.pem"), "--chain", inter],
        ),
        (
            "verify_chain_wrong_name",
            vec![leaf, "--root", root, "--chain", inter, "--name", "web02"],
        ),
        (
            "verify_chain_without_files",
            vec!["--root", root, "--chain", inter],
        ),
    ] {
        pin!(case, bare_qvca().arg("verify").args(&args));
    }
    let script = pki.write("leaves.py", LEAVES_SCRIPT);
    let (ok, text) = tool("python3", &[path_str(&script), pki.p("")]);
    assert!(ok, "the leaves could not be made:\n{text}");
    for file in ["expired", "future", "codesign"] {
        pin!(
            &format!("verify_chain_{file}"),
            bare_qvca()
                .arg("verify")
                .arg(pki.path(&format!("{file}.pem")))
                .args(["--root", root, "--chain", inter])
        );
    }
    pki.issue("impostor", "/CN=Foreign Intermediate", "leaf", "ca");
    pin!(
        "verify_impostor_intermediate",
        bare_qvca()
            .arg("verify")
            .args([leaf, "--root", root, "--chain", pki.p("impostor.pem")])
    );
}
