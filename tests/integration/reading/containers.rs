//! Foreign containers in `inspect`: v1 CRLs, PEM chains among text, PKCS#7 bundles, requests
//! and private keys (described, never shown).

use super::{ForeignPki, inspect_json};
use crate::support::*;
use std::path::Path;

fn inspect_text(file: &Path, password: Option<&str>) -> std::process::Output {
    let mut cmd = bare_qvca();
    if let Some(p) = password {
        cmd.env("QVCA_PFX_PASSWORD", p);
    }
    cmd.arg("inspect").arg(file).output().expect("run qvca")
}

// ------------------------------------------------------------------------------ containers

#[test]
fn a_version_1_crl_from_openssl_ca_gencrl_inspects_with_its_revoked_certificate() {
    let pki = ForeignPki::new();
    std::fs::create_dir(pki.path("newcerts")).expect("mkdir");
    pki.write("index.txt", "");
    pki.write("serial", "01\n");
    // No crlnumber and no crl_extensions: openssl writes a version 1 CRL.
    let config = format!(
        "[ca]\ndefault_ca = own\n[own]\ndir = {dir}\ndatabase = $dir/index.txt\n\
         new_certs_dir = $dir/newcerts\ncertificate = $dir/root.pem\nprivate_key = $dir/root.key\n\
         serial = $dir/serial\ndefault_md = sha256\ndefault_crl_days = 30\npolicy = any\n\
         [any]\ncommonName = supplied\n",
        dir = pki.dir.path().display()
    );
    pki.write("ca.cnf", config);
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
    let text = openssl_ok(&["crl", "-in", pki.p("v1.crl"), "-noout", "-text"]);
    assert!(text.contains("Version 1"), "openssl made a v1 CRL:\n{text}");
    openssl_ok(&[
        "crl",
        "-in",
        pki.p("v1.crl"),
        "-outform",
        "DER",
        "-out",
        pki.p("v1.der"),
    ]);

    for file in ["v1.crl", "v1.der"] {
        let (out, json) = inspect_json(&pki.path(file), None);
        assert_code(&out, 0, &format!("inspect of the v1 CRL {file}"));
        let crl = &json["crls"][0];
        assert_eq!(crl["version"], 1, "{json}");
        assert_eq!(crl["revoked"].as_array().map(Vec::len), Some(1), "{json}");
        // The intermediate's serial, as `openssl ca -revoke` recorded it.
        assert_eq!(crl["revoked"][0]["serial"], "1005", "{json}");
        assert!(
            crl["issuer"]
                .as_str()
                .is_some_and(|i| i.contains("Foreign Root"))
        );
    }
    // With its issuer in the same file, the CRL's signature is checked.
    let both = pki.write(
        "root-and-crl.pem",
        format!("{}{}", pki.read("root.pem"), pki.read("v1.crl")),
    );
    let (out, json) = inspect_json(&both, None);
    assert_code(&out, 0, "inspect of a root with its CRL");
    assert_eq!(
        json["crls"][0]["signature"],
        "signed by certificate 1; the signature verifies"
    );
}

#[test]
fn a_pem_chain_among_explanatory_text_shows_each_certificate_and_which_signs_which() {
    let pki = ForeignPki::new();
    let chain = pki.write(
        "chain.pem",
        format!(
            "subject=CN = web01\nissuer=CN = Foreign Intermediate\n{}\nthe intermediate:\n{}\n\
             and the root, with headers:\n{}\ntrailing words\n",
            pki.read("leaf.pem"),
            pki.read("inter.pem"),
            pki.read("root.pem").replacen(
                "-----BEGIN CERTIFICATE-----\n",
                "-----BEGIN CERTIFICATE-----\nComment: made by openssl\n\n",
                1
            )
        ),
    );
    let (out, json) = inspect_json(&chain, None);
    assert_code(&out, 0, "inspect of a chain with text");
    let subjects: Vec<&str> = json["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .filter_map(|c| c["subject_cn"].as_str())
        .collect();
    assert_eq!(subjects, ["web01", "Foreign Intermediate", "Foreign Root"]);
    let links: Vec<(u64, Option<u64>)> = json["chain"]
        .as_array()
        .expect("chain")
        .iter()
        .map(|l| {
            (
                l["certificate"].as_u64().unwrap_or(0),
                l["signed_by"].as_u64(),
            )
        })
        .collect();
    assert_eq!(links, [(1, Some(2)), (2, Some(3)), (3, Some(3))], "{json}");

    // The old `X509 CERTIFICATE` label reads too, and is flagged.
    let old = pki.write(
        "old.pem",
        pki.read("leaf.pem")
            .replace("CERTIFICATE", "X509 CERTIFICATE"),
    );
    let (out, json) = inspect_json(&old, None);
    assert_code(&out, 0, "inspect of an old header");
    assert!(
        json["certificates"][0]["non_der"]
            .to_string()
            .contains("X509 CERTIFICATE")
    );

    // An intermediate of the same name with another key: the link is named, the signature fails.
    pki.issue("impostor", "/CN=Foreign Intermediate", "root", "ca");
    let wrong = pki.write(
        "wrong.pem",
        format!("{}{}", pki.read("leaf.pem"), pki.read("impostor.pem")),
    );
    let out = inspect_text(&wrong, None);
    assert_code(&out, 0, "inspect of a chain whose signature fails");
    assert!(
        stdout(&out).contains("the signature does NOT verify"),
        "{}",
        describe(&out)
    );
}

#[test]
fn pkcs7_bundles_from_crl2pkcs7_show_their_certificates_in_pem_and_der() {
    let pki = ForeignPki::new();
    let chain = pki.write(
        "chain.pem",
        format!("{}{}", pki.read("leaf.pem"), pki.read("inter.pem")),
    );
    openssl_ok(&[
        "crl2pkcs7",
        "-nocrl",
        "-certfile",
        path_str(&chain),
        "-out",
        pki.p("bundle.p7b"),
    ]);
    openssl_ok(&[
        "crl2pkcs7",
        "-nocrl",
        "-certfile",
        path_str(&chain),
        "-outform",
        "DER",
        "-out",
        pki.p("bundle.p7b.der"),
    ]);
    for (file, kind) in [("bundle.p7b", "pem"), ("bundle.p7b.der", "pkcs7")] {
        let (out, json) = inspect_json(&pki.path(file), None);
        assert_code(&out, 0, &format!("inspect of {file}"));
        assert_eq!(json["kind"], kind);
        assert_eq!(
            json["certificates"].as_array().map(Vec::len),
            Some(2),
            "{json}"
        );
        assert_eq!(json["chain"][0]["signed_by"], 2, "{json}");
    }
}

#[test]
fn requests_under_both_pem_labels_and_in_der_show_subject_key_extensions_and_signature() {
    let pki = ForeignPki::new();
    openssl_ok(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        pki.p("req.key"),
        "-out",
        pki.p("req.pem"),
        "-subj",
        "/CN=QVS07",
        "-addext",
        "subjectAltName=DNS:QVS07",
        "-addext",
        "extendedKeyUsage=serverAuth",
    ]);
    openssl_ok(&[
        "req",
        "-in",
        pki.p("req.pem"),
        "-outform",
        "DER",
        "-out",
        pki.p("req.der"),
    ]);
    let certreq = pki.write(
        "certreq.req",
        pki.read("req.pem")
            .replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"),
    );
    for file in [pki.path("req.pem"), pki.path("req.der"), certreq] {
        let (out, json) = inspect_json(&file, None);
        assert_code(&out, 0, &format!("inspect of {}", file.display()));
        let request = &json["requests"][0];
        assert_eq!(request["subject_cn"], "QVS07", "{json}");
        assert_eq!(request["public_key"], "RSA 2048");
        assert_eq!(request["signature_valid"], true);
        let extensions = request["requested_extensions"].to_string();
        assert!(extensions.contains("DNS:QVS07") && extensions.contains("serverAuth"));
    }
    // One changed byte in the subject: the signature no longer verifies, and inspect says so.
    let mut der = std::fs::read(pki.path("req.der")).expect("read");
    let at = der
        .windows(5)
        .position(|w| w == b"QVS07")
        .expect("the CN in the DER");
    der[at + 4] = b'8';
    let tampered = pki.write("tampered.der", der);
    let (out, json) = inspect_json(&tampered, None);
    assert_code(&out, 0, "inspect of a tampered request");
    assert_eq!(json["requests"][0]["signature_valid"], false, "{json}");
}

#[test]
fn private_keys_are_described_with_format_size_and_encryption_and_never_shown() {
    let pki = ForeignPki::new();
    openssl_ok(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        pki.p("rsa8.pem"),
    ]);
    openssl_ok(&[
        "rsa",
        "-in",
        pki.p("rsa8.pem"),
        "-traditional",
        "-out",
        pki.p("rsa1.pem"),
    ]);
    openssl_ok(&["ec", "-in", pki.p("leaf.key"), "-out", pki.p("sec1.pem")]);
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
    openssl_ok(&[
        "rsa",
        "-in",
        pki.p("rsa8.pem"),
        "-traditional",
        "-aes256",
        "-passout",
        "pass:secret",
        "-out",
        pki.p("legacy.pem"),
    ]);
    openssl_ok(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        pki.p("leaf.key"),
        "-outform",
        "DER",
        "-out",
        pki.p("key.der"),
    ]);
    let cases = [
        ("rsa8.pem", "PKCS#8", Some("RSA 2048"), false, None),
        ("rsa1.pem", "PKCS#1 (RSA)", Some("RSA 2048"), false, None),
        ("sec1.pem", "SEC1 (EC)", Some("ECDSA P-256"), false, None),
        ("key.der", "PKCS#8", Some("ECDSA P-256"), false, None),
        (
            "enc8.pem",
            "PKCS#8 (encrypted)",
            None,
            true,
            Some("PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), 4096 iterations"),
        ),
        (
            "legacy.pem",
            "PKCS#1 (RSA) (legacy OpenSSL PEM encryption)",
            Some("RSA"),
            true,
            Some("Proc-Type: 4,ENCRYPTED, AES-256-CBC"),
        ),
    ];
    for (file, format, algorithm, encrypted, encryption) in cases {
        let (out, json) = inspect_json(&pki.path(file), None);
        assert_code(&out, 0, &format!("inspect of {file}"));
        let key = &json["keys"][0];
        assert_eq!(key["format"], format, "{file}: {json}");
        assert_eq!(key["algorithm"].as_str(), algorithm, "{file}: {json}");
        assert_eq!(key["encrypted"], encrypted, "{file}: {json}");
        if let Some(how) = encryption {
            assert!(
                key["encryption"].as_str().is_some_and(|e| e.contains(how)),
                "{file}: {json}"
            );
        }
        // Not one line of the key's base64 appears in the report.
        let text = stdout(&inspect_text(&pki.path(file), None));
        let source = std::fs::read(pki.path(file)).expect("read");
        for line in String::from_utf8_lossy(&source).lines() {
            if line.len() > 20 && !line.starts_with("-----") && !line.contains(':') {
                assert!(
                    !text.contains(line),
                    "{file}: key material in the report:\n{text}"
                );
            }
        }
    }
}
