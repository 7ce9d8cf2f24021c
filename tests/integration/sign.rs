//! Issue 12, keyless enrolment: `qvca sign` signs requests made by `openssl req` and in the
//! format certreq writes, with the Server or Client profile. openssl judges the certificates
//! (only the profile's SAN and EKUs, the request's public key, a chain to the root); bad
//! requests are refused with SPEC's exit codes and change nothing; the keyless certificate
//! lives through list, revoke, the CRL, backup, restore and doctor, and what needs its key
//! refuses clearly.

use crate::support::{
    TestCa, active_entry, assert_code, bare_qvca, openssl_ok, path_str, protected_ca, run, tool,
};
use base64::Engine;
use std::path::{Path, PathBuf};

/// A request made by `openssl req -new` with a fresh key (`rsa:2048`, `rsa:1024`, `ec`
/// (P-256) or `ed25519`), the subject `subject` and `-addext` extensions; returns its path.
pub(crate) fn openssl_request(
    ca: &TestCa,
    file: &str,
    key: &str,
    subject: &str,
    addext: &[&str],
) -> PathBuf {
    let csr = ca.path().join(file);
    let key_file = ca.path().join(format!("{file}.key"));
    let mut args: Vec<&str> = vec!["req", "-new", "-nodes", "-subj", subject];
    match key {
        "ec" => args.extend([
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-sha256",
        ]),
        other => args.extend(["-newkey", other]),
    }
    for ext in addext {
        args.extend(["-addext", ext]);
    }
    args.extend(["-keyout", path_str(&key_file), "-out", path_str(&csr)]);
    openssl_ok(&args);
    csr
}

/// The PEM public key of a request or a certificate, as openssl prints it.
fn public_key(file: &Path, request: bool) -> String {
    let command = if request { "req" } else { "x509" };
    openssl_ok(&[command, "-in", path_str(file), "-noout", "-pubkey"])
}

/// `sign` with `--json`, which must succeed; returns the JSON report.
fn sign_json(ca: &TestCa, args: &[&str]) -> serde_json::Value {
    let out = run(ca, &[&["--json", "sign"], args].concat());
    assert_code(&out, 0, &format!("sign {args:?}"));
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn dropped(report: &serde_json::Value) -> Vec<String> {
    report["dropped_from_request"]
        .as_array()
        .expect("dropped_from_request")
        .iter()
        .map(|v| v.as_str().expect("string").to_owned())
        .collect()
}

#[test]
fn openssl_requests_are_signed_with_only_the_profiles_name_san_and_ekus() {
    let ca = protected_ca();
    let root = ca.root_pem();
    let extras = [
        "subjectAltName=DNS:evil.example,IP:10.0.0.1",
        "extendedKeyUsage=codeSigning",
    ];
    for (name, key, addext) in [
        ("QVS11", "rsa:2048", &[][..]),
        ("QVS12", "ec", &[][..]),
        ("QVS13", "rsa:2048", &extras[..]),
        ("QVS14", "ec", &extras[..]),
    ] {
        let subject = format!("/CN={name}/O=Evil Corp");
        let csr = openssl_request(&ca, &format!("{name}.csr"), key, &subject, addext);
        let report = sign_json(&ca, &[path_str(&csr), "--server"]);
        assert_eq!(report["results"][0]["outcome"], "issued", "{report}");
        assert_eq!(report["file"], format!("{name}.cer"), "{report}");
        let cert = ca.path().join(format!("{name}.cer"));

        let text = openssl_ok(&["x509", "-in", path_str(&cert), "-noout", "-text"]);
        assert!(text.contains(&format!("Subject: CN = {name}\n")), "{text}");
        assert!(text.contains(&format!("DNS:{name}\n")), "{text}");
        for foreign in ["evil.example", "10.0.0.1", "Code Signing", "Evil Corp"] {
            assert!(!text.contains(foreign), "{name}: {foreign} in\n{text}");
        }
        assert!(
            text.contains("TLS Web Server Authentication, TLS Web Client Authentication\n"),
            "{text}"
        );
        assert!(text.contains("CA:FALSE"), "{text}");
        let verified = openssl_ok(&[
            "verify",
            "-CAfile",
            path_str(&root),
            "-purpose",
            "sslserver",
            path_str(&cert),
        ]);
        assert!(verified.contains(": OK"), "{verified}");
        assert_eq!(public_key(&csr, true), public_key(&cert, false), "{name}");

        let mut expected = vec!["subject O=Evil Corp".to_owned()];
        if !addext.is_empty() {
            expected.extend(
                [
                    "subjectAltName DNS:evil.example",
                    "subjectAltName IP:10.0.0.1",
                    "extendedKeyUsage codeSigning",
                ]
                .map(str::to_owned),
            );
        }
        assert_eq!(dropped(&report), expected, "{name}");

        // Recorded like an issued certificate, marked keyless, with no key file.
        let entry = active_entry(&ca, name);
        assert_eq!(entry["keyless"], true, "{entry}");
        let serial = entry["serial"].as_str().expect("serial");
        assert!(!ca.dir().join("keys").join(format!("{serial}.pem")).exists());
        assert!(
            ca.dir()
                .join("certs")
                .join(format!("{serial}.pem"))
                .exists()
        );
    }
    let key_types: Vec<serde_json::Value> = ["QVS11", "QVS12"]
        .iter()
        .map(|n| active_entry(&ca, n)["key_type"].clone())
        .collect();
    assert_eq!(key_types, ["rsa2048", "p256"]);
}

#[test]
fn a_request_in_certreq_format_is_signed() {
    let ca = protected_ca();
    let root = ca.root_pem();
    let pem = openssl_request(&ca, "node.csr", "rsa:2048", "/CN=QVS21", &[]);
    let der = ca.path().join("node.der");
    openssl_ok(&[
        "req",
        "-in",
        path_str(&pem),
        "-outform",
        "DER",
        "-out",
        path_str(&der),
    ]);
    let b64 = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&der).expect("der"));
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    let certreq = ca.path().join("QVS21.req");
    std::fs::write(
        &certreq,
        format!(
            "-----BEGIN NEW CERTIFICATE REQUEST-----\r\n{}\r\n-----END NEW CERTIFICATE REQUEST-----\r\n",
            lines.join("\r\n")
        ),
    )
    .expect("write");
    let report = sign_json(&ca, &[path_str(&certreq), "--server"]);
    assert_eq!(report["results"][0]["outcome"], "issued", "{report}");
    assert!(dropped(&report).is_empty(), "{report}");
    let cert = ca.path().join("QVS21.cer");
    let verified = openssl_ok(&["verify", "-CAfile", path_str(&root), path_str(&cert)]);
    assert!(verified.contains(": OK"), "{verified}");
    assert_eq!(public_key(&pem, true), public_key(&cert, false));

    // The DER itself signs too (as QVS22, so that QVS21 is not kept).
    let report = sign_json(&ca, &[path_str(&der), "--server", "--name", "QVS22"]);
    assert_eq!(report["results"][0]["name"], "QVS22", "{report}");
    assert_eq!(dropped(&report), ["subject CN=QVS21"], "{report}");

    // And so does the certreq text on standard input (`-`).
    let out = ca
        .qvca()
        .args(["--json", "sign", "-", "--server", "--name", "QVS23"])
        .write_stdin(std::fs::read(&certreq).expect("read"))
        .output()
        .expect("run");
    assert_code(&out, 0, "stdin");
    assert!(ca.path().join("QVS23.cer").is_file());
}

#[test]
fn a_client_request_gets_the_client_profile() {
    let ca = protected_ca();
    let root = ca.root_pem();
    let csr = openssl_request(
        &ca,
        "proxy.csr",
        "ec",
        "/CN=QVProxy",
        &["subjectAltName=DNS:evil.example"],
    );
    let out = ca.path().join("proxy.pem");
    let report = sign_json(&ca, &[path_str(&csr), "--client", "--out", path_str(&out)]);
    assert_eq!(report["results"][0]["kind"], "client", "{report}");
    assert_eq!(dropped(&report), ["subjectAltName DNS:evil.example"]);
    let text = openssl_ok(&["x509", "-in", path_str(&out), "-noout", "-text"]);
    assert!(text.contains("Subject: CN = QVProxy\n"), "{text}");
    assert!(text.contains("TLS Web Client Authentication\n"), "{text}");
    assert!(!text.contains("Server Authentication"), "{text}");
    assert!(!text.contains("Subject Alternative Name"), "{text}");
    let verified = openssl_ok(&[
        "verify",
        "-CAfile",
        path_str(&root),
        "-purpose",
        "sslclient",
        path_str(&out),
    ]);
    assert!(verified.contains(": OK"), "{verified}");
}

#[test]
fn a_request_for_a_ca_certificate_is_refused() {
    let ca = protected_ca();
    let csr = openssl_request(
        &ca,
        "ca.csr",
        "rsa:2048",
        "/CN=QVS31",
        &["basicConstraints=critical,CA:TRUE"],
    );
    let before = ca.snapshot();
    let stderr = assert_code(
        &run(&ca, &["sign", path_str(&csr), "--server"]),
        1,
        "CA:TRUE",
    );
    assert!(stderr.contains("asks for a CA certificate"), "{stderr}");
    assert_eq!(ca.snapshot(), before, "nothing changed");
    assert!(!ca.path().join("QVS31.cer").exists());
}

#[test]
fn a_request_with_a_broken_signature_is_an_integrity_failure() {
    let ca = protected_ca();
    let pem = openssl_request(&ca, "node.csr", "rsa:2048", "/CN=QVS41", &[]);
    let der = ca.path().join("node.der");
    openssl_ok(&[
        "req",
        "-in",
        path_str(&pem),
        "-outform",
        "DER",
        "-out",
        path_str(&der),
    ]);
    // The signature is the last thing in the request: flip a bit of its last byte.
    let mut bytes = std::fs::read(&der).expect("der");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&der, &bytes).expect("write");
    let (_, text) = tool(
        "openssl",
        &[
            "req",
            "-in",
            path_str(&der),
            "-inform",
            "DER",
            "-verify",
            "-noout",
        ],
    );
    assert!(
        text.contains("verify failure"),
        "openssl rejects it too: {text}"
    );

    let before = ca.snapshot();
    let stderr = assert_code(
        &run(&ca, &["sign", path_str(&der), "--server"]),
        4,
        "flipped",
    );
    assert!(stderr.contains("fails its signature check"), "{stderr}");
    assert_eq!(ca.snapshot(), before, "nothing changed");
}

#[test]
fn keys_that_issue_would_not_make_are_refused() {
    let ca = protected_ca();
    for (key, shown) in [("rsa:1024", "RSA 1024"), ("ed25519", "Ed25519")] {
        let csr = openssl_request(&ca, "weak.csr", key, "/CN=QVS51", &[]);
        let stderr = assert_code(&run(&ca, &["sign", path_str(&csr), "--server"]), 1, key);
        assert!(stderr.contains(shown), "{stderr}");
        assert!(stderr.contains("RSA 2048"), "says what to do: {stderr}");
    }
    // A good key, but a request signed with SHA-1 (older certreq's default).
    let csr = ca.path().join("sha1.csr");
    let key = ca.path().join("sha1.key");
    openssl_ok(&[
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
    let stderr = assert_code(&run(&ca, &["sign", path_str(&csr), "--server"]), 1, "sha1");
    assert!(stderr.contains("sha1WithRSAEncryption"), "{stderr}");
    assert!(stderr.contains("HashAlgorithm = sha256"), "{stderr}");
}

#[test]
fn request_names_follow_the_rules_of_issue() {
    let ca = protected_ca();
    for (cn, problem) in [
        ("10.1.2.3", "an IP address"),
        ("qvs01.corp.local", "--allow-fqdn"),
        ("QlikViewCA", "named like the root"),
        ("qlikviewca", "named like the root"),
    ] {
        let csr = openssl_request(&ca, "bad.csr", "ec", &format!("/CN={cn}"), &[]);
        let before = ca.snapshot();
        let stderr = assert_code(&run(&ca, &["sign", path_str(&csr), "--server"]), 1, cn);
        assert!(stderr.contains(problem), "{cn}: {stderr}");
        assert_eq!(ca.snapshot(), before, "{cn}: nothing changed");
    }
    // A name like the root is refused for a Client too, and so is one given with --name.
    let csr = openssl_request(&ca, "root-like.csr", "ec", "/CN=QlikViewCA", &[]);
    let stderr = assert_code(
        &run(&ca, &["sign", path_str(&csr), "--client"]),
        1,
        "client",
    );
    assert!(stderr.contains("named like the root"), "{stderr}");
    let csr = openssl_request(&ca, "ip.csr", "ec", "/CN=10.1.2.3", &[]);
    let stderr = assert_code(
        &run(
            &ca,
            &["sign", path_str(&csr), "--server", "--name", "10.9.9.9"],
        ),
        1,
        "--name IP",
    );
    assert!(stderr.contains("an IP address"), "{stderr}");

    // A Server request without a common name needs --name (a Client one is QVProxy).
    let csr = openssl_request(&ca, "no-cn.csr", "ec", "/O=Acme", &[]);
    let stderr = assert_code(&run(&ca, &["sign", path_str(&csr), "--server"]), 2, "no CN");
    assert!(stderr.contains("--name MACHINE"), "{stderr}");
    let report = sign_json(&ca, &[path_str(&csr), "--client"]);
    assert_eq!(report["results"][0]["name"], "QVProxy", "{report}");

    // --name gives the machine name; the request's CN is then dropped, and said so.
    let csr = openssl_request(&ca, "ip.csr", "ec", "/CN=10.1.2.3", &[]);
    let report = sign_json(&ca, &[path_str(&csr), "--server", "--name", "QVS61"]);
    assert_eq!(dropped(&report), ["subject CN=10.1.2.3"], "{report}");
    // --allow-fqdn is the escape hatch, as with issue.
    let csr = openssl_request(&ca, "fqdn.csr", "ec", "/CN=qvs62.corp.local", &[]);
    let report = sign_json(&ca, &[path_str(&csr), "--server", "--allow-fqdn"]);
    assert_eq!(report["results"][0]["name"], "qvs62.corp.local", "{report}");
}

#[test]
fn an_existing_valid_certificate_is_kept_unless_forced() {
    let ca = protected_ca();
    let csr = openssl_request(&ca, "node.csr", "ec", "/CN=QVS71", &[]);
    let first = sign_json(&ca, &[path_str(&csr), "--server"]);
    let serial = first["results"][0]["serial"].clone();

    let other = ca.path().join("again.cer");
    let before = ca.snapshot();
    let out = run(
        &ca,
        &[
            "--json",
            "sign",
            path_str(&csr),
            "--server",
            "--out",
            path_str(&other),
        ],
    );
    assert_code(&out, 3, "kept");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["results"][0]["outcome"], "kept", "{report}");
    assert_eq!(report["results"][0]["serial"], serial, "{report}");
    assert_eq!(report["kept"], 1, "{report}");
    assert!(report["file"].is_null(), "{report}");
    assert!(!other.exists(), "no file for a kept certificate");
    assert_eq!(ca.snapshot(), before, "nothing changed");

    let forced = sign_json(
        &ca,
        &[
            path_str(&csr),
            "--server",
            "--out",
            path_str(&other),
            "--force",
        ],
    );
    assert_eq!(forced["results"][0]["supersedes"], serial, "{forced}");
    let listed = ca.json(&["list", "--all"]);
    let statuses: Vec<&str> = listed["certificates"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["issued_to"] == "QVS71")
        .map(|r| r["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["superseded", "valid"], "{listed}");
}

#[test]
fn an_existing_out_file_is_refused_without_force() {
    let ca = protected_ca();
    let csr = openssl_request(&ca, "node.csr", "ec", "/CN=QVS81", &[]);
    let existing = ca.path().join("QVS81.cer");
    std::fs::write(&existing, "mine\n").expect("write");
    let before = ca.snapshot();
    let stderr = assert_code(
        &run(&ca, &["sign", path_str(&csr), "--server"]),
        3,
        "exists",
    );
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read(&existing).expect("read"), b"mine\n");
    assert_eq!(ca.snapshot(), before, "nothing was signed");

    assert_code(
        &run(&ca, &["sign", path_str(&csr), "--server", "--force"]),
        0,
        "force",
    );
    let text = std::fs::read_to_string(&existing).expect("read");
    assert!(text.starts_with("-----BEGIN CERTIFICATE-----"), "{text}");
}

#[test]
fn requests_that_are_not_requests_are_refused() {
    let ca = protected_ca();
    let root = ca.root_pem();
    let garbage = ca.path().join("garbage.csr");
    std::fs::write(&garbage, "hello, this is not a request\n").expect("write");
    for (file, code, says) in [
        ("/dev/zero", 1, "never ends"),
        (path_str(&garbage), 1, "not a certificate request"),
        (path_str(&root), 1, "not a certificate request"),
        ("missing.csr", 6, "does not exist"),
    ] {
        let stderr = assert_code(&run(&ca, &["sign", file, "--server"]), code, file);
        assert!(stderr.contains(says), "{file}: {stderr}");
    }
    let stderr = assert_code(&run(&ca, &["sign", path_str(&garbage)]), 2, "no profile");
    assert!(stderr.contains("--server"), "{stderr}");
}

#[test]
fn a_keyless_certificate_lives_through_list_revoke_crl_backup_restore_and_doctor() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let csr = openssl_request(&ca, "node.csr", "rsa:2048", "/CN=QVS02", &[]);
    let report = sign_json(&ca, &[path_str(&csr), "--server"]);
    let serial = report["results"][0]["serial"]
        .as_str()
        .expect("serial")
        .to_owned();

    let listed = ca.json(&["list"]);
    assert!(
        listed["certificates"]
            .as_array()
            .expect("rows")
            .iter()
            .any(|r| r["issued_to"] == "QVS02" && r["status"] == "valid"),
        "{listed}"
    );
    // doctor does not count the missing key as a problem.
    let doctor = run(&ca, &["--json", "doctor"]);
    assert_code(&doctor, 0, "doctor");

    // Backed up as a certificate without a key, verified, restored into a new directory.
    let backup = ca.path().join("backup.pfx");
    assert_code(
        &run(&ca, &["backup", "--out", path_str(&backup)]),
        0,
        "backup",
    );
    let verified = run(&ca, &["--json", "backup", "verify", path_str(&backup)]);
    assert_code(&verified, 0, "backup verify");
    let verified: serde_json::Value = serde_json::from_slice(&verified.stdout).expect("JSON");
    let in_backup = verified["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["serial"] == serial.as_str())
        .cloned()
        .expect("the keyless certificate is in the backup");
    assert_eq!(in_backup["has_key"], false, "{in_backup}");
    assert_eq!(in_backup["keyless"], true, "{in_backup}");
    let restored = ca.path().join("restored");
    let restored_run = |args: &[&str]| {
        bare_qvca()
            .arg("--ca-dir")
            .arg(&restored)
            .arg("--password-file")
            .arg(ca.password_file())
            .arg("--pfx-password-file")
            .arg(ca.path().join("pfx-password.txt"))
            .current_dir(ca.path())
            .args(args)
            .output()
            .expect("run qvca")
    };
    assert_code(&restored_run(&["restore", path_str(&backup)]), 0, "restore");
    // The restored CA exports its license-service files again (the keyless Server is never
    // chosen: its key is not here), then doctor finds nothing to report.
    assert_code(&restored_run(&["export", "license-service"]), 0, "export");
    assert_code(&restored_run(&["doctor"]), 0, "doctor of the restored CA");
    assert!(!restored.join("keys").join(format!("{serial}.pem")).exists());

    // Revoked by name in the restored CA, and on its CRL.
    assert_code(&restored_run(&["-y", "revoke", "QVS02"]), 0, "revoke");
    let crl = ca.path().join("revoked.crl");
    assert_code(&restored_run(&["crl", "--out", path_str(&crl)]), 0, "crl");
    let text = openssl_ok(&["crl", "-in", path_str(&crl), "-noout", "-text"]);
    assert!(text.contains(&format!("Serial Number: {serial}")), "{text}");
    let root = ca.root_pem();
    let (ok, text) = tool(
        "openssl",
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            path_str(&root),
            "-CRLfile",
            path_str(&crl),
            path_str(&ca.path().join("QVS02.cer")),
        ],
    );
    assert!(!ok && text.contains("revoked"), "{text}");
}

#[test]
fn what_needs_the_key_of_a_keyless_certificate_refuses_clearly() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let csr = openssl_request(&ca, "node.csr", "ec", "/CN=QVS02", &[]);
    sign_json(&ca, &[path_str(&csr), "--server"]);
    let package_dir = ca.path().join("pkg");
    for args in [
        vec!["export", "pfx", "QVS02"],
        vec!["renew", "QVS02"],
        vec!["package", "QVS02", "--out", path_str(&package_dir)],
        vec!["export", "license-service", "--machine", "QVS02"],
    ] {
        let before = ca.snapshot();
        let stderr = assert_code(&run(&ca, &args), 1, &args.join(" "));
        assert!(
            stderr.contains("lives on the node (keyless"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("qvca sign"), "{args:?}: {stderr}");
        assert_eq!(ca.snapshot(), before, "{args:?}: nothing changed");
    }
    assert!(!package_dir.exists());
    assert!(!ca.path().join("QVS02.pfx").exists());
    // Renewing what expires leaves it to its node, and says so.
    let out = run(&ca, &["renew", "--expiring-within", "3650"]);
    let stderr = assert_code(&out, 0, "renew --expiring-within");
    assert!(
        stderr.contains("QVS02") && stderr.contains("keyless"),
        "{stderr}"
    );
    assert_eq!(active_entry(&ca, "QVS02")["keyless"], true);
}
