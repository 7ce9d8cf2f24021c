//! qvca's artifacts judged by OpenSSL 3: certificate chains and extensions, the private keys at
//! rest, the license-service export and the serial numbers of a bulk run.

use crate::support::{
    PASSWORD, TestCa, active_serial, cert_public_key, key_files, key_public_key, lab_ca,
    lab_ca_with, openssl_ok, path_str, tool, x509_text,
};
use base64::Engine;
use std::collections::HashSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// `<ca-dir>/certs/<serial>.pem` of the certificate issued to `name`.
fn cert_file_of(ca: &TestCa, name: &str) -> PathBuf {
    ca.dir()
        .join("certs")
        .join(format!("{}.pem", active_serial(ca, name)))
}

/// An extension in `openssl x509 -text` output: whether it is critical, and its value lines
/// (everything indented deeper than the extension's name, up to the next extension).
fn extension(text: &str, name: &str) -> Option<(bool, String)> {
    let mut lines = text.lines();
    let header = lines.find(|l| l.trim_start().starts_with(name))?;
    let indent = header.len() - header.trim_start().len();
    let critical = header.contains("critical");
    let value: Vec<&str> = lines
        .take_while(|l| l.len() - l.trim_start().len() > indent && !l.trim().is_empty())
        .map(str::trim)
        .collect();
    Some((critical, value.join("\n")))
}

/// The value of an extension that must be present.
fn required_extension(text: &str, name: &str) -> (bool, String) {
    extension(text, name).unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

/// A key identifier as openssl prints it, without an optional `keyid:` prefix.
fn key_id(value: &str) -> String {
    value
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .trim_start_matches("keyid:")
        .to_ascii_uppercase()
}

/// The permission bits of a file or directory.
fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The DER of the first certificate in a PEM file.
fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM body is base64")
}

/// One DER TLV at the start of `der`: (tag, content, rest).
fn der_tlv(der: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = der[0];
    let (len, header) = match der[1] {
        short if short < 0x80 => (usize::from(short), 2),
        long => {
            let octets = usize::from(long & 0x7f);
            let len = der[2..2 + octets]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, 2 + octets)
        }
    };
    (tag, &der[header..header + len], &der[header + len..])
}

/// The content octets of a certificate's serialNumber INTEGER, exactly as encoded.
fn der_serial(cert_der: &[u8]) -> Vec<u8> {
    let (tag, certificate, _) = der_tlv(cert_der);
    assert_eq!(tag, 0x30, "Certificate is a SEQUENCE");
    let (tag, tbs, _) = der_tlv(certificate);
    assert_eq!(tag, 0x30, "TBSCertificate is a SEQUENCE");
    let (tag, content, rest) = der_tlv(tbs);
    // Skip the explicit [0] version, present in every v3 certificate.
    let (tag, content) = if tag == 0xa0 {
        let (tag, content, _) = der_tlv(rest);
        (tag, content)
    } else {
        (tag, content)
    };
    assert_eq!(tag, 0x02, "serialNumber is an INTEGER");
    content.to_vec()
}

// ---------------------------------------------------------------------------------------------
// Chains
// ---------------------------------------------------------------------------------------------

#[test]
fn openssl_verify_accepts_the_server_and_client_certificates_under_the_root() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let root = ca.root_pem();
    let server = cert_file_of(&ca, "QVS01");
    let client = cert_file_of(&ca, "QVProxy");
    for cert in [&server, &client] {
        let out = openssl_ok(&["verify", "-CAfile", path_str(&root), path_str(cert)]);
        assert!(out.contains(": OK"), "{out}");
    }
    // The purposes the QlikView services use them for: the Server certificate both ways.
    openssl_ok(&[
        "verify",
        "-purpose",
        "sslserver",
        "-verify_hostname",
        "QVS01",
        "-CAfile",
        path_str(&root),
        path_str(&server),
    ]);
    openssl_ok(&[
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        path_str(&root),
        path_str(&server),
    ]);
    openssl_ok(&[
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        path_str(&root),
        path_str(&client),
    ]);
    // The files the license service reads chain the same way.
    let export = ca.dir().join("Exported Certificates");
    openssl_ok(&[
        "verify",
        "-CAfile",
        path_str(&export.join("root.pem")),
        path_str(&export.join("server.pem")),
    ]);
}

#[test]
fn openssl_verify_rejects_a_server_name_the_certificate_was_not_issued_to() {
    let ca = lab_ca();
    ca.qvca()
        .args(["issue", "server", "QVS01", "--key-type", "p256"])
        .assert()
        .success();
    let root = ca.root_pem();
    let (ok, out) = tool(
        "openssl",
        &[
            "verify",
            "-verify_hostname",
            "QVS02",
            "-CAfile",
            path_str(&root),
            path_str(&cert_file_of(&ca, "QVS01")),
        ],
    );
    assert!(
        !ok,
        "a certificate for QVS01 must not verify as QVS02:\n{out}"
    );
    assert!(out.contains("hostname mismatch"), "{out}");
}

#[test]
fn openssl_verify_rejects_the_qvproxy_certificate_for_a_tls_server() {
    let ca = lab_ca();
    ca.qvca()
        .args(["issue", "client", "--key-type", "p256"])
        .assert()
        .success();
    let root = ca.root_pem();
    let (ok, out) = tool(
        "openssl",
        &[
            "verify",
            "-purpose",
            "sslserver",
            "-CAfile",
            path_str(&root),
            path_str(&cert_file_of(&ca, "QVProxy")),
        ],
    );
    assert!(!ok, "the Client certificate has no serverAuth:\n{out}");
    assert!(out.contains("unsuitable certificate purpose"), "{out}");
}

#[test]
fn openssl_verify_rejects_a_server_certificate_from_another_qvca_ca() {
    let ours = lab_ca();
    let theirs = lab_ca();
    theirs
        .qvca()
        .args(["issue", "server", "QVS01", "--key-type", "p256"])
        .assert()
        .success();
    // Both roots are called QlikViewCA: only the key identifiers and the signature tell them apart.
    let our_root = ours.root_pem();
    let (ok, out) = tool(
        "openssl",
        &[
            "verify",
            "-CAfile",
            path_str(&our_root),
            path_str(&cert_file_of(&theirs, "QVS01")),
        ],
    );
    assert!(!ok, "a foreign Server certificate must not verify:\n{out}");
    assert!(out.contains("error"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// Certificate contents
// ---------------------------------------------------------------------------------------------

#[test]
fn the_root_is_a_critical_ca_that_signs_certificates_and_crls_with_a_subject_key_id() {
    let ca = lab_ca();
    let text = x509_text(&ca.root_pem());
    assert!(text.contains("Subject: CN = QlikViewCA"), "{text}");
    assert!(text.contains("Issuer: CN = QlikViewCA"), "{text}");

    let (critical, value) = required_extension(&text, "X509v3 Basic Constraints");
    assert!(critical, "Basic Constraints must be critical:\n{text}");
    assert!(value.contains("CA:TRUE"), "{value}");

    let (critical, value) = required_extension(&text, "X509v3 Key Usage");
    assert!(critical, "Key Usage must be critical:\n{text}");
    assert!(value.contains("Certificate Sign"), "{value}");
    assert!(value.contains("CRL Sign"), "{value}");

    let (_, ski) = required_extension(&text, "X509v3 Subject Key Identifier");
    assert!(
        !key_id(&ski).is_empty(),
        "empty Subject Key Identifier:\n{text}"
    );
}

#[test]
fn a_server_certificate_names_its_machine_authenticates_both_ways_and_points_to_the_root_key() {
    let ca = lab_ca();
    ca.qvca()
        .args(["issue", "server", "QVS01", "--key-type", "p256"])
        .assert()
        .success();
    let root = x509_text(&ca.root_pem());
    let text = x509_text(&cert_file_of(&ca, "QVS01"));

    assert!(text.contains("Subject: CN = QVS01\n"), "{text}");
    assert!(text.contains("Issuer: CN = QlikViewCA"), "{text}");
    let (_, san) = required_extension(&text, "X509v3 Subject Alternative Name");
    assert_eq!(san, "DNS:QVS01", "the SAN is exactly the machine name");
    let (_, eku) = required_extension(&text, "X509v3 Extended Key Usage");
    assert!(eku.contains("TLS Web Server Authentication"), "{eku}");
    assert!(eku.contains("TLS Web Client Authentication"), "{eku}");
    let (critical, bc) = required_extension(&text, "X509v3 Basic Constraints");
    assert!(critical, "Basic Constraints should be critical:\n{text}");
    assert_eq!(bc, "CA:FALSE");

    let (_, aki) = required_extension(&text, "X509v3 Authority Key Identifier");
    let (_, root_ski) = required_extension(&root, "X509v3 Subject Key Identifier");
    assert_eq!(
        key_id(&aki),
        key_id(&root_ski),
        "the Authority Key Identifier is the root's Subject Key Identifier"
    );
}

#[test]
fn the_client_certificate_is_qvproxy_with_only_tls_client_authentication() {
    let ca = lab_ca();
    ca.qvca()
        .args(["issue", "client", "--key-type", "p256"])
        .assert()
        .success();
    let root = x509_text(&ca.root_pem());
    let text = x509_text(&cert_file_of(&ca, "QVProxy"));

    assert!(text.contains("Subject: CN = QVProxy\n"), "{text}");
    assert!(text.contains("Issuer: CN = QlikViewCA"), "{text}");
    let (_, eku) = required_extension(&text, "X509v3 Extended Key Usage");
    assert_eq!(
        eku, "TLS Web Client Authentication",
        "clientAuth and nothing else"
    );
    let (_, bc) = required_extension(&text, "X509v3 Basic Constraints");
    assert_eq!(bc, "CA:FALSE");
    let (_, aki) = required_extension(&text, "X509v3 Authority Key Identifier");
    let (_, root_ski) = required_extension(&root, "X509v3 Subject Key Identifier");
    assert_eq!(key_id(&aki), key_id(&root_ski));
}

#[test]
fn default_keys_are_rsa_2048_and_signatures_sha256_with_rsa() {
    let ca = TestCa::with_setup(&["QVS01"]);
    for name in ["QlikViewCA", "QVS01", "QVProxy"] {
        let text = x509_text(&cert_file_of(&ca, name));
        assert!(
            text.contains("Public Key Algorithm: rsaEncryption"),
            "{name}:\n{text}"
        );
        assert!(text.contains("Public-Key: (2048 bit)"), "{name}:\n{text}");
        assert!(
            text.contains("Signature Algorithm: sha256WithRSAEncryption"),
            "{name}:\n{text}"
        );
    }
    // RSA leaf keys may encipher (TLS 1.2 RSA key exchange with the old Windows services).
    let (_, usage) =
        required_extension(&x509_text(&cert_file_of(&ca, "QVS01")), "X509v3 Key Usage");
    assert!(usage.contains("Digital Signature"), "{usage}");
    assert!(usage.contains("Key Encipherment"), "{usage}");
}

#[test]
fn p384_keys_are_ecdsa_on_secp384r1_without_key_encipherment() {
    let ca = lab_ca_with("p384", &[]);
    ca.qvca()
        .args(["issue", "server", "QVS01", "--key-type", "p384"])
        .assert()
        .success();
    ca.qvca()
        .args(["issue", "client", "--key-type", "p384"])
        .assert()
        .success();
    for name in ["QlikViewCA", "QVS01", "QVProxy"] {
        let text = x509_text(&cert_file_of(&ca, name));
        assert!(
            text.contains("Public Key Algorithm: id-ecPublicKey"),
            "{name}:\n{text}"
        );
        assert!(text.contains("Public-Key: (384 bit)"), "{name}:\n{text}");
        assert!(text.contains("ASN1 OID: secp384r1"), "{name}:\n{text}");
        assert!(
            text.contains("Signature Algorithm: ecdsa-with-SHA384"),
            "{name}:\n{text}"
        );
    }
    for name in ["QVS01", "QVProxy"] {
        let (_, usage) =
            required_extension(&x509_text(&cert_file_of(&ca, name)), "X509v3 Key Usage");
        assert!(usage.contains("Digital Signature"), "{name}: {usage}");
        assert!(!usage.contains("Key Encipherment"), "{name}: {usage}");
    }
}

// ---------------------------------------------------------------------------------------------
// Private keys at rest
// ---------------------------------------------------------------------------------------------

#[test]
fn every_stored_key_is_pbes2_encrypted_pkcs8_that_openssl_opens_with_the_ca_password_only() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let keys = key_files(&ca);
    assert_eq!(keys.len(), 3, "root, QVS01 and QVProxy keys: {keys:?}");
    let wrong = ca.path().join("wrong-password.txt");
    std::fs::write(&wrong, "not the CA password\n").expect("write");
    let passin = format!("file:{}", path_str(&ca.password_file()));
    for key in &keys {
        let pem = std::fs::read_to_string(key).expect("read key");
        assert!(
            pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
            "{}: {}",
            key.display(),
            pem.lines().next().unwrap_or("")
        );
        let asn1 = openssl_ok(&["asn1parse", "-in", path_str(key)]);
        assert!(asn1.contains(":PBES2"), "{asn1}");
        assert!(asn1.contains(":scrypt"), "{asn1}");
        assert!(asn1.contains(":aes-256-cbc"), "{asn1}");

        openssl_ok(&["pkey", "-in", path_str(key), "-passin", &passin, "-noout"]);
        openssl_ok(&[
            "pkey",
            "-in",
            path_str(key),
            "-passin",
            &format!("pass:{PASSWORD}"),
            "-noout",
        ]);
        let (ok, out) = tool(
            "openssl",
            &[
                "pkey",
                "-in",
                path_str(key),
                "-passin",
                &format!("file:{}", path_str(&wrong)),
                "-noout",
            ],
        );
        assert!(
            !ok,
            "a wrong password must not open {}:\n{out}",
            key.display()
        );
    }
}

#[test]
fn key_files_are_owner_only_and_the_ca_directory_is_private() {
    let ca = TestCa::with_setup(&["QVS01"]);
    assert_eq!(mode(&ca.dir()), 0o700, "CA dir");
    assert_eq!(mode(&ca.dir().join("keys")), 0o700, "keys dir");
    assert_eq!(mode(&ca.dir().join("index.json")), 0o600, "index.json");
    for key in key_files(&ca) {
        assert_eq!(mode(&key), 0o600, "{}", key.display());
    }
}

#[test]
fn every_stored_key_holds_the_public_key_of_its_certificate() {
    let ca = TestCa::with_setup(&["QVS01", "QVS02"]);
    let passin = format!("file:{}", path_str(&ca.password_file()));
    let index = ca.index();
    let entries = index["certificates"].as_array().expect("certificates");
    assert_eq!(entries.len(), 4, "root, two servers, QVProxy");
    let mut distinct = HashSet::new();
    for entry in entries {
        let serial = entry["serial"].as_str().expect("serial");
        let cert = ca.dir().join("certs").join(format!("{serial}.pem"));
        let key = ca.dir().join("keys").join(format!("{serial}.pem"));
        let from_cert = cert_public_key(&cert);
        assert_eq!(
            key_public_key(&key, &passin),
            from_cert,
            "key and certificate of {} ({serial})",
            entry["name"]
        );
        assert!(
            distinct.insert(from_cert),
            "every certificate has its own key"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The license-service export
// ---------------------------------------------------------------------------------------------

#[test]
fn the_license_service_key_is_unencrypted_pkcs8_of_server_pem_and_owner_only() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let export = ca.dir().join("Exported Certificates");
    let mut names: Vec<String> = std::fs::read_dir(&export)
        .expect("export dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["root.pem", "server.pem", "server_key.pem"]);

    let key = export.join("server_key.pem");
    let pem = std::fs::read_to_string(&key).expect("read key");
    assert!(
        pem.starts_with("-----BEGIN PRIVATE KEY-----\n"),
        "{}",
        pem.lines().next().unwrap_or("")
    );
    // Opens without any password (an empty -passin keeps openssl from ever prompting).
    openssl_ok(&["pkey", "-in", path_str(&key), "-passin", "pass:", "-noout"]);
    assert_eq!(
        key_public_key(&key, "pass:"),
        cert_public_key(&export.join("server.pem")),
        "server_key.pem belongs to server.pem"
    );
    assert_eq!(mode(&key), 0o600, "server_key.pem");

    assert_eq!(
        std::fs::read(export.join("server.pem")).expect("server.pem"),
        std::fs::read(cert_file_of(&ca, "QVS01")).expect("stored QVS01"),
        "server.pem is the stored QVS01 certificate"
    );
    assert_eq!(
        std::fs::read(export.join("root.pem")).expect("root.pem"),
        std::fs::read(ca.root_pem()).expect("exported root"),
        "root.pem is the CA root"
    );
}

#[test]
fn a_second_license_service_export_leaves_the_files_untouched() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let export = ca.dir().join("Exported Certificates");
    let stamp = |name: &str| {
        let meta = std::fs::metadata(export.join(name)).expect("exported file");
        (meta.ino(), meta.mtime(), meta.mtime_nsec())
    };
    let before: Vec<_> = ["root.pem", "server.pem", "server_key.pem"]
        .iter()
        .map(|n| stamp(n))
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = ca
        .qvca()
        .args(["export", "license-service"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after: Vec<_> = ["root.pem", "server.pem", "server_key.pem"]
        .iter()
        .map(|n| stamp(n))
        .collect();
    assert_eq!(before, after, "an unchanged export rewrites nothing");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("no restart is needed"), "{stdout}");
}

#[test]
fn exporting_with_two_servers_for_other_hosts_requires_choosing_one_with_machine() {
    let ca = lab_ca();
    // Names that cannot be this host's, so that neither is picked as "this host".
    ca.qvca()
        .args([
            "issue",
            "server",
            "QVTESTA",
            "QVTESTB",
            "--key-type",
            "p256",
        ])
        .assert()
        .success();
    let out_dir = ca.path().join("license");
    let out = ca
        .qvca()
        .args(["export", "license-service", "--out"])
        .arg(&out_dir)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("QVTESTA") && stderr.contains("QVTESTB"),
        "{stderr}"
    );
    assert!(stderr.contains("--machine"), "{stderr}");
    assert!(!out_dir.join("server.pem").exists(), "nothing is exported");

    ca.qvca()
        .args(["export", "license-service", "--machine", "QVTESTB", "--out"])
        .arg(&out_dir)
        .assert()
        .success();
    assert_eq!(
        std::fs::read(out_dir.join("server.pem")).expect("server.pem"),
        std::fs::read(cert_file_of(&ca, "QVTESTB")).expect("stored QVTESTB"),
    );
    let text = x509_text(&out_dir.join("server.pem"));
    assert!(text.contains("Subject: CN = QVTESTB\n"), "{text}");
    assert_eq!(
        key_public_key(&out_dir.join("server_key.pem"), "pass:"),
        cert_public_key(&out_dir.join("server.pem")),
    );
}

#[test]
fn exporting_without_machine_picks_the_server_certificate_of_this_host() {
    let Ok(this_host) = qvca::domain::name::this_machine() else {
        // A host name that is no valid machine name: nothing to pick by.
        return;
    };
    let ca = lab_ca();
    ca.qvca()
        .args(["issue", "server", "QVTESTA", this_host.as_str(), "QVTESTB"])
        .args(["--key-type", "p256"])
        .assert()
        .success();
    let out_dir = ca.path().join("license");
    ca.qvca()
        .args(["export", "license-service", "--out"])
        .arg(&out_dir)
        .assert()
        .success();
    assert_eq!(
        std::fs::read(out_dir.join("server.pem")).expect("server.pem"),
        std::fs::read(cert_file_of(&ca, this_host.as_str())).expect("this host's certificate"),
        "the export is this host's Server certificate"
    );
}

#[test]
fn re_exporting_makes_a_loosened_server_key_owner_only_again() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let key = ca
        .dir()
        .join("Exported Certificates")
        .join("server_key.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    ca.qvca()
        .args(["export", "license-service"])
        .assert()
        .success();
    assert_eq!(
        mode(&key),
        0o600,
        "after an export the unencrypted server_key.pem is 0600 (SPEC: export license-service)"
    );
}

#[test]
fn init_into_an_existing_directory_makes_it_private() {
    let ca = TestCa::new();
    std::fs::create_dir(ca.dir()).expect("mkdir");
    std::fs::set_permissions(ca.dir(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    ca.qvca()
        .args(["init", "--no-password", "--key-type", "p256"])
        .assert()
        .success();
    assert_eq!(mode(&ca.dir()), 0o700, "SPEC: the CA dir is 0700 on Unix");
}

// ---------------------------------------------------------------------------------------------
// Serial numbers
// ---------------------------------------------------------------------------------------------

#[test]
fn a_thousand_bulk_serials_are_distinct_positive_and_at_most_20_octets() {
    const COUNT: usize = 1000;
    let ca = lab_ca();
    let list = ca.path().join("machines.txt");
    let names: String = (1..=COUNT).map(|i| format!("NODE{i:04}\n")).collect();
    std::fs::write(&list, names).expect("machine list");
    ca.qvca()
        .args(["-q", "issue", "server", "--key-type", "p256", "--from-file"])
        .arg(&list)
        .assert()
        .success();

    let index = ca.index();
    let entries = index["certificates"].as_array().expect("certificates");
    assert_eq!(entries.len(), COUNT + 1, "1,000 servers and the root");
    let servers = entries.iter().filter(|e| e["kind"] == "server").count();
    assert_eq!(servers, COUNT);

    let mut seen = HashSet::new();
    for entry in entries {
        let hex = entry["serial"].as_str().expect("serial");
        assert!(seen.insert(hex.to_owned()), "serial {hex} appears twice");
        let bytes = hex_bytes(hex);
        assert!(bytes.iter().any(|b| *b != 0), "serial {hex} is zero");
        assert!(bytes.len() <= 20, "serial {hex} is longer than 20 octets");

        // The INTEGER as encoded in the certificate: positive, minimal, at most 20 octets.
        let pem = std::fs::read_to_string(ca.dir().join("certs").join(format!("{hex}.pem")))
            .expect("certificate file");
        let der = der_serial(&pem_to_der(&pem));
        assert!(der.len() <= 20, "{hex}: {} octets in DER", der.len());
        assert_eq!(der[0] & 0x80, 0, "{hex}: negative serial in DER");
        assert!(
            !(der.len() > 1 && der[0] == 0 && der[1] & 0x80 == 0),
            "{hex}: non-minimal INTEGER encoding"
        );
        let magnitude: Vec<u8> = der.iter().copied().skip_while(|b| *b == 0).collect();
        assert_eq!(
            magnitude, bytes,
            "{hex}: the index names the certificate's serial"
        );
    }

    // openssl reads the same numbers (a sample: one process per certificate).
    for entry in entries.iter().step_by(COUNT / 50).take(50) {
        let hex = entry["serial"].as_str().expect("serial");
        let cert = ca.dir().join("certs").join(format!("{hex}.pem"));
        let out = openssl_ok(&["x509", "-in", path_str(&cert), "-noout", "-serial"]);
        let printed = out.trim().strip_prefix("serial=").expect("serial= line");
        assert!(
            !printed.starts_with('-'),
            "openssl sees a negative serial: {printed}"
        );
        assert!(printed.len() <= 40, "{printed}");
        assert_eq!(
            printed.trim_start_matches('0'),
            hex.trim_start_matches('0'),
            "openssl and the index agree"
        );
    }
}

/// Hex as the index writes it, as bytes.
fn hex_bytes(hex: &str) -> Vec<u8> {
    hex::decode(hex).unwrap_or_else(|e| panic!("{hex:?} is not even-length hex: {e}"))
}
