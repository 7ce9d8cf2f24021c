//! Issue 11, item 2 (and the client template of item 8): no name, from any source, can inject
//! code or leave its directory. Hostile-but-valid names reach the package scripts as data (the
//! rendered install.sh is run for real, install.ps1 is parsed with tree-sitter); names that
//! break the rules are refused from templates, backups and foreign PKCS#12 files; numeric
//! machine names, root-like leaf names and ambiguous revocations are refused; nothing printed
//! for a terminal carries a raw control character.

use crate::support::{
    PFX_PASSWORD, TestCa, assert_code, assert_powershell_holds_names_as_verbatim_strings,
    bare_qvca, describe, lab_ca, lab_ca_with, openssl_ok, path_str, pfx_password_file, read_ps1,
    run, stderr, tool,
};
use std::path::{Path, PathBuf};

/// Raw bytes a terminal would act on: C0 controls other than line feed and tab, DEL, C1
/// controls (as UTF-8) and the right-to-left override.
fn raw_controls(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    text.chars()
        .filter(|c| {
            (c.is_control() && !matches!(c, '\n' | '\t'))
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .map(|c| format!("U+{:04X}", u32::from(c)))
        .collect()
}

// ------------------------------------------------------------------ names in the package scripts

/// Packages QVS01 of a CA whose root and Client have the given names, then runs the rendered
/// install.sh for real and parses install.ps1.
fn package_and_run(root: &str, client: &str) {
    let ca = lab_ca_with("p256", &["--cn", root]);
    ca.qvca()
        .args(["issue", "server", "QVS01", "--key-type", "p256"])
        .assert()
        .success();
    ca.qvca()
        .args(["issue", "client", "--key-type", "p256", "--", client])
        .assert()
        .success();
    let pkg = ca.path().join("pkg");
    let out = run(&ca, &["package", "QVS01", "--out", path_str(&pkg)]);
    assert_code(&out, 0, "package");
    let files: Vec<String> = std::fs::read_dir(&pkg)
        .expect("package dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".qvca-package")
        .collect();
    assert_eq!(files.len(), 9, "{files:?}");

    let ps1 = read_ps1(&pkg.join("install.ps1"));
    assert_powershell_holds_names_as_verbatim_strings(&ps1, &[root, client], "install.ps1");

    let script = pkg.join("install.sh");
    let (ok, text) = tool("sh", &["-n", path_str(&script)]);
    assert!(ok, "sh -n: {text}");
    if std::process::Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_ok()
    {
        let (ok, text) = tool("shellcheck", &["-s", "sh", path_str(&script)]);
        assert!(ok, "shellcheck: {text}");
    }
    // Run it from an empty directory: a `$(touch PWNED)` that ran would leave a file here.
    let cwd = ca.path().join("run");
    std::fs::create_dir(&cwd).expect("mkdir");
    let target = ca.path().join("node-certs");
    let out = std::process::Command::new("sh")
        .arg(&script)
        .arg(&target)
        .current_dir(&cwd)
        .env("QVCA_PFX_PASSWORD_FILE", pfx_password_file(&ca))
        .env("QVCA_SKIP_TRUST_STORE", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("install.sh");
    assert_code(&out, 0, "install.sh");
    for dir in [&cwd, &pkg, &ca.path().to_path_buf(), &target] {
        assert!(!dir.join("PWNED").exists(), "a name ran as code in {dir:?}");
    }
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!("Client certificate {client}: "))
            && said.contains(&format!("root {root}: ")),
        "the names are not intact in:\n{said}"
    );
    openssl_ok(&[
        "verify",
        "-CAfile",
        path_str(&target.join("root.pem")),
        path_str(&target.join("server.pem")),
        path_str(&target.join("client.pem")),
    ]);
}

#[test]
fn a_root_and_client_named_with_shell_syntax_reach_install_sh_as_data_and_it_runs() {
    package_and_run("Acme's CA $(touch PWNED) MARK", "QV$(touch PWNED)MARK");
}

#[test]
fn hostile_but_valid_names_give_scripts_that_parse_and_run() {
    for (root, client) in [
        (
            "\u{dc}n\u{ef}c\u{f8}d\u{e9} CA \u{2019}MARK\u{2018}",
            "x';calc;'MARK",
        ),
        (
            "`id` %PATH% $env:TEMP #> <# MARK",
            "\"q\" & | ; < > * ? : MARK",
        ),
    ] {
        package_and_run(root, client);
    }
}

// ------------------------------------------------------------------------------- templates

fn template(ca: &TestCa, kind: &str, common_name: &str) -> PathBuf {
    let usage = if kind == "root" {
        "key_usage = [\"keyCertSign\", \"cRLSign\"]\n"
    } else {
        "key_usage = [\"digitalSignature\"]\nextended_key_usage = [\"clientAuth\"]\n"
    };
    let text = format!(
        "kind = \"{kind}\"\nkey_type = \"p256\"\nvalidity_days = 365\n{usage}\n[subject]\n\
         common_name = {}\n",
        toml_string(common_name)
    );
    let path = ca.path().join(format!("{kind}.toml"));
    std::fs::write(&path, text).expect("template");
    path
}

fn toml_string(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

#[test]
fn a_template_common_name_that_is_a_path_is_refused_naming_the_field() {
    let ca = TestCa::new();
    let abs = ca.path().join("x").join("ABS");
    for hostile in [path_str(&abs), "../../y"] {
        let root = template(&ca, "root", hostile);
        let out = ca
            .qvca()
            .args(["init", "--no-password", "--template"])
            .arg(&root)
            .output()
            .expect("run");
        assert_code(&out, 1, hostile);
        let err = stderr(&out);
        assert!(err.contains("subject.common_name"), "{err}");
        assert!(err.contains("common-name rule"), "{err}");
        assert!(!ca.dir().exists(), "a refused template created the CA");
    }
    assert!(!ca.path().join("x").exists());

    let ca = lab_ca();
    let before = ca.snapshot();
    let client = template(&ca, "client", "../../y");
    let out = ca
        .qvca()
        .args(["issue", "client", "--template"])
        .arg(&client)
        .output()
        .expect("run");
    assert_code(&out, 1, "client template");
    assert!(
        stderr(&out).contains("subject.common_name"),
        "{}",
        stderr(&out)
    );
    assert_eq!(ca.snapshot(), before);
}

#[test]
fn a_client_templates_common_name_is_honoured_or_refused_never_ignored() {
    let ca = lab_ca();
    let client = template(&ca, "client", "QVClient2");
    let before = ca.snapshot();
    let out = ca
        .qvca()
        .args(["issue", "client", "Other", "--template"])
        .arg(&client)
        .output()
        .expect("run");
    assert_code(&out, 1, "NAME against the template");
    assert!(
        stderr(&out).contains("subject.common_name"),
        "{}",
        stderr(&out)
    );
    assert_eq!(ca.snapshot(), before);

    ca.qvca()
        .args(["issue", "client", "--template"])
        .arg(&client)
        .assert()
        .success();
    let clients: Vec<String> = ca.json(&["list"])["certificates"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["kind"] == "client")
        .map(|r| r["issued_to"].as_str().expect("name").to_owned())
        .collect();
    assert_eq!(clients, ["QVClient2"]);
}

// ------------------------------------------------------------------------- backups and PFX

/// A backup of a real CA whose state has been rewritten (under the right password) so that
/// the Server is named `server_name`.
pub(crate) fn backup_naming_the_server(ca: &TestCa, server_name: &str) -> PathBuf {
    let genuine = ca.path().join("genuine.pfx");
    let out = run(ca, &["backup", "--out", path_str(&genuine)]);
    assert_code(&out, 0, "backup");
    let password = qvca::domain::secret::Password::new(PFX_PASSWORD);
    let bytes = std::fs::read(&genuine).expect("backup");
    let archive = qvca::pki::pkcs12::read_pfx(
        &bytes,
        &password,
        "genuine.pfx",
        qvca::pki::pkcs12::Integrity::Required,
    )
    .expect("open");
    let state = archive
        .secrets
        .iter()
        .find(|s| s.friendly_name.as_deref() == Some("qvca-state"))
        .expect("state bag");
    let mut json: serde_json::Value =
        serde_json::from_slice(state.bytes.expose()).expect("state JSON");
    for entry in json["index"]["certificates"]
        .as_array_mut()
        .expect("entries")
    {
        if entry["kind"] == "server" {
            entry["name"] = server_name.into();
        }
    }
    let state_bytes = serde_json::to_vec(&json).expect("JSON");
    let keys: Vec<(String, qvca::domain::secret::SecretBytes, Vec<u8>)> = archive
        .keys
        .iter()
        .map(|k| {
            let cert = archive.certificate_for(k).expect("certificate");
            (
                k.friendly_name.clone().unwrap_or_default(),
                k.pkcs8.clone(),
                cert.der.clone(),
            )
        })
        .collect();
    let contents = qvca::pki::pkcs12::PfxContents {
        keys: keys
            .iter()
            .map(|(name, key, cert)| qvca::pki::pkcs12::PfxKey {
                friendly_name: name,
                pkcs8: key,
                cert_der: cert,
            })
            .collect(),
        trusted: Vec::new(),
        secrets: vec![("qvca-state", &state_bytes)],
    };
    let hostile = qvca::pki::pkcs12::write_pfx(
        &contents,
        &password,
        qvca::pki::pkcs12::PfxEncryption::Modern,
    )
    .expect("write");
    let path = ca.path().join("hostile.pfx");
    std::fs::write(&path, hostile).expect("write");
    path
}

#[test]
fn a_backup_whose_index_names_a_server_with_a_path_never_verifies_or_restores() {
    let ca = TestCa::new();
    ca.qvca()
        .args(["init", "--key-type", "p256"])
        .assert()
        .success();
    ca.qvca()
        .args(["issue", "server", "QVS01", "--key-type", "p256"])
        .assert()
        .success();
    let hostile = backup_naming_the_server(&ca, "/abs/path/SRV");

    let out = run(&ca, &["backup", "verify", path_str(&hostile)]);
    assert_code(&out, 4, "backup verify");
    let err = stderr(&out);
    assert!(err.contains("certificates[1].name"), "{err}");
    assert!(err.contains("machine-name rule"), "{err}");

    let target = ca.path().join("restored");
    let out = bare_qvca()
        .current_dir(ca.path())
        .arg("--ca-dir")
        .arg(&target)
        .arg("--password-file")
        .arg(ca.password_file())
        .arg("--pfx-password-file")
        .arg(pfx_password_file(&ca))
        .args(["-y", "restore", path_str(&hostile)])
        .output()
        .expect("run");
    assert_code(&out, 4, "restore");
    assert!(
        stderr(&out).contains("machine-name rule"),
        "{}",
        describe(&out)
    );
    assert!(!target.exists(), "a refused restore created {target:?}");
    assert!(!Path::new("/abs/path/SRV").exists());
}

#[test]
fn a_foreign_pfx_whose_root_cn_is_a_path_is_refused_with_exit_4() {
    let ca = TestCa::new();
    let key = ca.path().join("key.pem");
    let cert = ca.path().join("cert.pem");
    openssl_ok(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        path_str(&key),
        "-out",
        path_str(&cert),
        "-days",
        "30",
        "-subj",
        "/CN=..\\/..\\/evil",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    let pfx = ca.path().join("foreign.pfx");
    let pass = format!("pass:{PFX_PASSWORD}");
    openssl_ok(&[
        "pkcs12",
        "-export",
        "-in",
        path_str(&cert),
        "-inkey",
        path_str(&key),
        "-passout",
        &pass,
        "-out",
        path_str(&pfx),
    ]);
    let out = run(&ca, &["-y", "restore", "--force", path_str(&pfx)]);
    assert_code(&out, 4, "restore --force");
    let err = stderr(&out);
    assert!(
        err.contains("../../evil") && err.contains("common name"),
        "{err}"
    );
    assert!(!ca.dir().exists(), "a refused restore created the CA");
}

// ---------------------------------------------------------------------------- machine names

#[test]
fn a_machine_name_that_inet_aton_reads_as_a_number_is_refused_as_an_ip_address() {
    let ca = lab_ca();
    let before = ca.snapshot();
    for number in ["167837954", "0x0a010102", "0777", "1234"] {
        let out = ca
            .qvca()
            .args(["issue", "server", "--key-type", "p256", number])
            .output()
            .expect("run");
        assert_code(&out, 1, number);
        assert!(stderr(&out).contains("IP address"), "{}", stderr(&out));
    }
    assert_eq!(ca.snapshot(), before);
}

#[test]
fn a_machine_list_starting_with_a_byte_order_mark_is_accepted() {
    let ca = lab_ca();
    let list = ca.path().join("hosts.txt");
    std::fs::write(&list, "\u{feff}QVS01\r\nQVS02\r\n").expect("list");
    ca.qvca()
        .args(["issue", "server", "--key-type", "p256", "--from-file"])
        .arg(&list)
        .assert()
        .success();
    let mut servers: Vec<String> = ca.json(&["list"])["certificates"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["kind"] == "server")
        .map(|r| r["issued_to"].as_str().expect("name").to_owned())
        .collect();
    servers.sort();
    assert_eq!(servers, ["QVS01", "QVS02"]);
}

#[test]
fn a_server_or_client_named_like_the_root_is_refused() {
    let ca = lab_ca();
    let before = ca.snapshot();
    for args in [
        ["issue", "server", "QlikViewCA"],
        ["issue", "client", "qlikviewca"],
    ] {
        let out = ca
            .qvca()
            .args(args)
            .args(["--key-type", "p256"])
            .output()
            .expect("run");
        assert_code(&out, 1, &args.join(" "));
        assert!(
            stderr(&out).contains("named like the root"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(ca.snapshot(), before);
}

#[test]
fn revoking_a_name_that_a_server_and_the_client_share_is_refused_listing_their_serials() {
    let ca = lab_ca();
    ca.qvca()
        .args(["issue", "server", "QVS01", "--key-type", "p256"])
        .assert()
        .success();
    ca.qvca()
        .args(["issue", "client", "QVS01", "--key-type", "p256"])
        .assert()
        .success();
    let serials: Vec<String> = ca.json(&["list"])["certificates"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["kind"] != "root")
        .map(|r| r["serial"].as_str().expect("serial").to_owned())
        .collect();
    assert_eq!(serials.len(), 2);
    let before = ca.snapshot();
    let out = ca
        .qvca()
        .args(["-y", "revoke", "QVS01", "--reason", "keyCompromise"])
        .output()
        .expect("run");
    assert_code(&out, 3, "revoke of an ambiguous name");
    let err = stderr(&out);
    for serial in &serials {
        assert!(err.contains(serial.as_str()), "{serial} in {err}");
    }
    assert_eq!(ca.snapshot(), before);
    ca.qvca()
        .args(["-y", "revoke", serials[0].as_str()])
        .assert()
        .success();
}

// ------------------------------------------------------------------------- terminal output

#[test]
fn license_claims_with_control_characters_are_never_written_raw() {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let jti = "x\u{1b}]0;pwned\u{7}\u{1b}[2J\r\u{0}\u{9b}\u{202e}evil";
    let claims = serde_json::json!({ "jti": jti, "license\u{1b}[31m": "a\nClaims: forged" });
    let key = format!(
        "{}.{}.{}",
        b64(br#"{"alg":"RS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes()),
        b64(&[0u8; 256])
    );
    let ca = TestCa::new();
    let out = ca
        .qvca()
        .args(["license", "inspect", &key])
        .output()
        .expect("run");
    assert_code(&out, 0, "license inspect");
    assert_eq!(
        raw_controls(&out.stdout),
        Vec::<String>::new(),
        "{}",
        describe(&out)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\\u{1b}]0;pwned"), "{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("Claims: forged")),
        "a claim started a line of its own:\n{text}"
    );

    // JSON stays exact.
    let json = ca.json(&["license", "inspect", &key]);
    assert_eq!(json["claims"]["jti"], jti);
}

#[test]
fn an_error_quoting_a_name_never_writes_raw_control_characters() {
    let ca = lab_ca();
    ca.qvca()
        .args(["issue", "server", "QVS01", "--key-type", "p256"])
        .assert()
        .success();
    let hostile = "\u{1b}]0;pwned\u{7}\u{1b}[2J\rQVS02\u{202e}";
    let out = ca
        .qvca()
        .args(["export", "license-service", "--machine", hostile])
        .output()
        .expect("run");
    assert_code(&out, 6, "export of an unknown machine");
    assert_eq!(
        raw_controls(&out.stderr),
        Vec::<String>::new(),
        "{}",
        describe(&out)
    );
}
