//! Exports judged by third-party tools: PKCS#12 files opened by openssl, Java keytool and NSS
//! pk12util; a mutual-TLS handshake between openssl s_server and s_client with exported files;
//! node packages whose scripts pass bash -n and shellcheck and actually run.

use crate::support::{PFX_PASSWORD, TestCa, openssl_ok, path_str, pfx_password_file, tool};
use std::path::PathBuf;

fn export_pfx(ca: &TestCa, name: &str, legacy: bool) -> PathBuf {
    let out = ca
        .path()
        .join(format!("{name}{}.pfx", if legacy { "-legacy" } else { "" }));
    let mut cmd = ca.qvca();
    cmd.arg("--pfx-password-file")
        .arg(pfx_password_file(ca))
        .args(["export", "pfx", name, "--out"])
        .arg(&out);
    if legacy {
        cmd.arg("--legacy");
    }
    cmd.assert().success();
    out
}

#[test]
fn a_modern_pfx_opens_with_openssl_and_uses_aes_and_sha256() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let pfx = export_pfx(&ca, "QVS01", false);
    let pass = format!("pass:{PFX_PASSWORD}");
    let info = openssl_ok(&[
        "pkcs12",
        "-in",
        path_str(&pfx),
        "-passin",
        &pass,
        "-info",
        "-nokeys",
    ]);
    assert!(info.contains("MAC: sha256"), "{info}");
    assert!(info.contains("AES-256-CBC"), "{info}");
    assert!(info.contains("friendlyName: QlikViewCA"), "{info}");
    assert!(info.contains("subject=CN = QVS01"), "{info}");
    let keys = openssl_ok(&[
        "pkcs12",
        "-in",
        path_str(&pfx),
        "-passin",
        &pass,
        "-nocerts",
        "-nodes",
    ]);
    assert!(keys.contains("friendlyName: QVS01"), "{keys}");
    assert!(keys.contains("BEGIN PRIVATE KEY"), "{keys}");
}

#[test]
fn a_legacy_pfx_uses_3des_for_keys_and_certificates_and_a_sha1_mac() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let pfx = export_pfx(&ca, "QVProxy", true);
    let pass = format!("pass:{PFX_PASSWORD}");
    let info = openssl_ok(&[
        "pkcs12",
        "-legacy",
        "-in",
        path_str(&pfx),
        "-passin",
        &pass,
        "-info",
        "-nokeys",
    ]);
    assert!(info.contains("MAC: sha1"), "{info}");
    assert!(
        info.contains("PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC"),
        "{info}"
    );
    let keys = openssl_ok(&[
        "pkcs12",
        "-legacy",
        "-in",
        path_str(&pfx),
        "-passin",
        &pass,
        "-info",
        "-nocerts",
        "-nodes",
    ]);
    assert!(
        keys.contains("Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC"),
        "{keys}"
    );
}

#[test]
fn pfx_files_open_with_java_keytool() {
    let ca = TestCa::with_setup(&["QVS01"]);
    for legacy in [false, true] {
        let pfx = export_pfx(&ca, "QVS01", legacy);
        let (ok, out) = tool(
            "keytool",
            &[
                "-list",
                "-storetype",
                "PKCS12",
                "-keystore",
                path_str(&pfx),
                "-storepass",
                PFX_PASSWORD,
            ],
        );
        assert!(ok, "keytool failed (legacy={legacy}):\n{out}");
        assert!(out.contains("PrivateKeyEntry"), "{out}");
        assert!(out.to_lowercase().contains("qvs01"), "{out}");
        assert!(out.contains("trustedCertEntry"), "{out}");
    }
}

#[test]
fn pfx_files_import_into_a_fresh_nss_database_with_pk12util() {
    let ca = TestCa::with_setup(&["QVS01"]);
    for legacy in [false, true] {
        let pfx = export_pfx(&ca, "QVS01", legacy);
        let db = ca.path().join(format!("nssdb-{legacy}"));
        std::fs::create_dir(&db).expect("mkdir");
        let db_arg = format!("sql:{}", db.display());
        let (ok, out) = tool("certutil", &["-N", "-d", &db_arg, "--empty-password"]);
        assert!(ok, "certutil -N failed: {out}");
        let (ok, out) = tool(
            "pk12util",
            &["-i", path_str(&pfx), "-d", &db_arg, "-W", PFX_PASSWORD],
        );
        assert!(ok, "pk12util failed (legacy={legacy}):\n{out}");
        let (ok, listing) = tool("certutil", &["-L", "-d", &db_arg]);
        assert!(ok, "{listing}");
        assert!(
            listing.contains("QVS01") || listing.contains("qvs01"),
            "{listing}"
        );
        let (ok, keys) = tool("certutil", &["-K", "-d", &db_arg]);
        assert!(ok, "{keys}");
        assert!(keys.contains("rsa"), "a private key was imported: {keys}");
    }
}

#[test]
fn pfx_files_written_by_openssl_open_with_qvca_inspect() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let export = ca.path().join("ls");
    ca.qvca()
        .args(["export", "license-service", "--machine", "QVS01", "--out"])
        .arg(&export)
        .assert()
        .success();
    for legacy in [false, true] {
        let pfx = ca.path().join(format!("openssl-{legacy}.pfx"));
        let mut args = vec!["pkcs12", "-export"];
        if legacy {
            args.push("-legacy");
        }
        let cert = export.join("server.pem");
        let key = export.join("server_key.pem");
        let pass = format!("pass:{PFX_PASSWORD}");
        args.extend([
            "-in",
            path_str(&cert),
            "-inkey",
            path_str(&key),
            "-name",
            "QVS01",
        ]);
        args.extend(["-passout", &pass, "-out", path_str(&pfx)]);
        openssl_ok(&args);
        let json = {
            let out = ca
                .qvca()
                .arg("--pfx-password-file")
                .arg(pfx_password_file(&ca))
                .args(["--json", "inspect"])
                .arg(&pfx)
                .output()
                .expect("run");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
        };
        assert_eq!(json["kind"], "pkcs12");
        let entries = json["pkcs12_entries"].as_array().expect("entries");
        assert!(entries.iter().any(|e| e["has_key"] == true
            && e["key_matches_certificate"] == true
            && e["certificate"]["subject_cn"] == "QVS01"));
        let protection = &json["pkcs12_protection"];
        assert_eq!(
            protection["legacy_windows_compatible"], legacy,
            "{protection}"
        );
    }
}

#[test]
fn a_wrong_pfx_password_is_exit_4() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let pfx = export_pfx(&ca, "QVS01", false);
    ca.qvca()
        .env("QVCA_PFX_PASSWORD", "not the password")
        .arg("inspect")
        .arg(&pfx)
        .assert()
        .code(4)
        .stderr(predicates::str::contains("wrong password"));
}

#[test]
fn exporting_over_an_existing_file_is_refused_without_force() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let pfx = export_pfx(&ca, "QVS01", false);
    let before = std::fs::read(&pfx).expect("read");
    ca.qvca()
        .arg("--pfx-password-file")
        .arg(pfx_password_file(&ca))
        .args(["export", "pfx", "QVS01", "--out"])
        .arg(&pfx)
        .assert()
        .code(3);
    assert_eq!(std::fs::read(&pfx).expect("read"), before);
}

#[test]
fn the_root_is_exported_as_pem_and_as_a_der_cer() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let pem = ca.root_pem();
    let cer = ca.path().join("QlikViewCA.cer");
    ca.qvca()
        .args(["export", "root", "--der", "--out"])
        .arg(&cer)
        .assert()
        .success();
    let from_der = openssl_ok(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        path_str(&cer),
        "-noout",
        "-fingerprint",
        "-sha256",
    ]);
    let from_pem = openssl_ok(&[
        "x509",
        "-in",
        path_str(&pem),
        "-noout",
        "-fingerprint",
        "-sha256",
    ]);
    assert_eq!(from_der, from_pem);
    assert!(from_pem.to_lowercase().contains("sha256 fingerprint="));
}

/// A free localhost port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[test]
fn openssl_s_server_and_s_client_complete_a_mutual_tls_handshake_with_exported_files() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let export = ca.path().join("ls");
    ca.qvca()
        .args(["export", "license-service", "--machine", "QVS01", "--out"])
        .arg(&export)
        .assert()
        .success();
    let client_pfx = export_pfx(&ca, "QVProxy", false);
    let pass = format!("pass:{PFX_PASSWORD}");
    let client_cert = ca.path().join("client.pem");
    let client_key = ca.path().join("client_key.pem");
    openssl_ok(&[
        "pkcs12",
        "-in",
        path_str(&client_pfx),
        "-passin",
        &pass,
        "-nokeys",
        "-clcerts",
        "-out",
        path_str(&client_cert),
    ]);
    openssl_ok(&[
        "pkcs12",
        "-in",
        path_str(&client_pfx),
        "-passin",
        &pass,
        "-nocerts",
        "-nodes",
        "-out",
        path_str(&client_key),
    ]);

    let port = free_port().to_string();
    let root = export.join("root.pem");
    let mut server = std::process::Command::new("openssl")
        .args([
            "s_server",
            "-accept",
            &port,
            "-naccept",
            "1",
            "-Verify",
            "1",
            "-verify_return_error",
        ])
        .args(["-cert", path_str(&export.join("server.pem"))])
        .args(["-key", path_str(&export.join("server_key.pem"))])
        .args(["-CAfile", path_str(&root)])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl s_server");
    // s_server prints ACCEPT once it listens; collect everything it prints on a thread.
    let stdout = server.stdout.take().expect("stdout");
    let (ready, accepted) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("ACCEPT") {
                let _ = ready.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    accepted
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("s_server did not start listening");
    let address = format!("127.0.0.1:{port}");

    let client = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &address,
            "-verify_return_error",
            "-verify_hostname",
            "QVS01",
        ])
        .args(["-servername", "QVS01", "-CAfile", path_str(&root)])
        .args([
            "-cert",
            path_str(&client_cert),
            "-key",
            path_str(&client_key),
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client");
    let client_out = String::from_utf8_lossy(&client.stdout).into_owned();
    let server_err = server.wait_with_output().expect("server output");
    let server_text = format!(
        "{}{}",
        reader.join().expect("reader"),
        String::from_utf8_lossy(&server_err.stderr)
    );
    assert!(
        client_out.contains("Verify return code: 0 (ok)"),
        "client:\n{client_out}\nserver:\n{server_text}"
    );
    assert!(
        server_text.contains("CN = QVProxy") || server_text.contains("CN=QVProxy"),
        "server:\n{server_text}"
    );
    assert!(
        !server_text.contains("verify error"),
        "server:\n{server_text}"
    );
}

#[test]
fn a_package_holds_the_files_a_node_needs_and_its_scripts_work() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let out = ca.path().join("pkg");
    ca.qvca()
        .arg("--pfx-password-file")
        .arg(pfx_password_file(&ca))
        .args(["package", "QVS01", "--out"])
        .arg(&out)
        .assert()
        .success();
    for name in [
        "QVS01.pfx",
        "QVProxy.pfx",
        "QlikViewCA.cer",
        "install.ps1",
        "install.cmd",
        "uninstall.ps1",
        "uninstall.cmd",
        "install.sh",
        "README.txt",
    ] {
        assert!(out.join(name).is_file(), "{name} missing");
    }
    let pass = format!("pass:{PFX_PASSWORD}");
    for pfx in ["QVS01.pfx", "QVProxy.pfx"] {
        openssl_ok(&[
            "pkcs12",
            "-in",
            path_str(&out.join(pfx)),
            "-passin",
            &pass,
            "-nokeys",
            "-info",
        ]);
    }
    let ps1 = std::fs::read_to_string(out.join("install.ps1")).expect("ps1");
    assert!(
        !ps1.contains("{{") && !ps1.contains("{%"),
        "template syntax left in install.ps1"
    );
    assert!(ps1.contains("Add-ToStore 'Root' $root") && ps1.contains("Add-ToStore 'My' $leaf"));
    assert!(
        ps1.contains("Read-Host -AsSecureString"),
        "the PFX password is asked for securely"
    );
    assert!(ps1.contains("$ServiceAccount"));
    let readme = std::fs::read_to_string(out.join("README.txt")).expect("readme");
    for port in [
        "4747", "4749", "4720", "4750", "4780", "4799", "4730", "14720", "14730", "14750",
    ] {
        assert!(readme.contains(port), "README.txt lacks port {port}");
    }
    let script = out.join("install.sh");
    let (ok, text) = tool("bash", &["-n", path_str(&script)]);
    assert!(ok, "bash -n: {text}");
    if std::process::Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_ok()
    {
        let (ok, text) = tool("shellcheck", &[path_str(&script)]);
        assert!(ok, "shellcheck: {text}");
    }

    // The Linux script really unpacks the certificates.
    let target = ca.path().join("node-certs");
    let status = std::process::Command::new("sh")
        .arg(&script)
        .arg(&target)
        .env("QVCA_PFX_PASSWORD_FILE", pfx_password_file(&ca))
        .env("QVCA_SKIP_TRUST_STORE", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("install.sh");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let server = target.join("server.pem");
    let key = target.join("server_key.pem");
    let cert_key = openssl_ok(&["x509", "-in", path_str(&server), "-noout", "-pubkey"]);
    let key_pub = openssl_ok(&["pkey", "-in", path_str(&key), "-pubout"]);
    assert_eq!(
        cert_key, key_pub,
        "the unpacked key belongs to the Server certificate"
    );
    openssl_ok(&[
        "verify",
        "-CAfile",
        path_str(&target.join("root.pem")),
        path_str(&server),
        path_str(&target.join("client.pem")),
    ]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn a_legacy_package_has_3des_pfx_files_and_a_script_that_reads_them() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let out = ca.path().join("pkg");
    ca.qvca()
        .arg("--pfx-password-file")
        .arg(pfx_password_file(&ca))
        .args(["package", "QVS01", "--legacy", "--out"])
        .arg(&out)
        .assert()
        .success();
    let json = ca.json(&[
        "--pfx-password-file",
        path_str(&pfx_password_file(&ca)),
        "inspect",
        path_str(&out.join("QVS01.pfx")),
    ]);
    assert_eq!(json["pkcs12_protection"]["legacy_windows_compatible"], true);
    let target = ca.path().join("node-certs");
    let status = std::process::Command::new("sh")
        .arg(out.join("install.sh"))
        .arg(&target)
        .env("QVCA_PFX_PASSWORD_FILE", pfx_password_file(&ca))
        .env("QVCA_SKIP_TRUST_STORE", "1")
        .output()
        .expect("install.sh");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(target.join("client_key.pem").is_file());
}

#[test]
fn packaging_refuses_an_existing_folder_and_a_machine_without_a_certificate() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let out = ca.path().join("pkg");
    std::fs::create_dir(&out).expect("mkdir");
    ca.qvca()
        .arg("--pfx-password-file")
        .arg(pfx_password_file(&ca))
        .args(["package", "QVS01", "--out"])
        .arg(&out)
        .assert()
        .code(3);
    ca.qvca()
        .arg("--pfx-password-file")
        .arg(pfx_password_file(&ca))
        .args(["package", "NOSUCH", "--out"])
        .arg(ca.path().join("other"))
        .assert()
        .code(6);
    assert!(!ca.path().join("other").exists());
}

#[test]
fn export_cert_writes_a_certificate_without_its_key_with_the_chain_or_as_der() {
    let ca = crate::support::p256_ca(&["QVS01"]);
    let root = ca.root_pem();
    // PEM on stdout, the certificate alone.
    let out = ca
        .qvca()
        .args(["export", "cert", "QVS01"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let pem = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 1, "{pem}");
    assert!(!pem.contains("PRIVATE KEY"));
    // --chain: the certificate, then the root; openssl verifies the first against the second.
    let chain = ca.path().join("chain.pem");
    ca.qvca()
        .args(["export", "cert", "QVS01", "--chain", "--out"])
        .arg(&chain)
        .assert()
        .success();
    let text = std::fs::read_to_string(&chain).expect("chain");
    assert_eq!(text.matches("BEGIN CERTIFICATE").count(), 2, "{text}");
    let leaf = ca.path().join("leaf.pem");
    std::fs::write(&leaf, &pem).expect("write");
    let verified = openssl_ok(&[
        "verify",
        "-CAfile",
        root.to_str().expect("utf-8"),
        leaf.to_str().expect("utf-8"),
    ]);
    assert!(verified.contains("OK"), "{verified}");
    // DER: one certificate, named after it by default.
    ca.qvca()
        .args(["export", "cert", "QVS01", "--der"])
        .assert()
        .success();
    let der = ca.path().join("QVS01.cer");
    let subject = openssl_ok(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        der.to_str().expect("utf-8"),
        "-noout",
        "-subject",
    ]);
    assert!(subject.contains("QVS01"), "{subject}");
    // --chain with --der is a usage error; an existing file needs --force.
    let out = ca
        .qvca()
        .args(["export", "cert", "QVS01", "--der", "--chain"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let out = ca
        .qvca()
        .args(["export", "cert", "QVS01", "--out"])
        .arg(&chain)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
}
