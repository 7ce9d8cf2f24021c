//! The SecretsKey version 2 through the real binary: `init --key` makes it in the token next
//! to the root key, `secrets encrypt|decrypt` seal and open `qvca:v2:` tokens there (one value
//! and whole files), a version 1 token met by an HSM CA says to rewrap it, and `secrets rewrap
//! --from-backup` moves a file-key CA's tokens to an HSM CA.

use super::cli::{HsmCa, ROOT_URI, assert_no_pin, assert_no_pin_in};
use super::{MODULE, SoftHsm};
use crate::support::{PFX_PASSWORD, TestCa, describe, openssl_ok, path_str, stderr};
use std::path::{Path, PathBuf};
use std::process::Output;

/// `secrets encrypt --context CONTEXT` of `value` with `cmd`: the token.
pub fn encrypt_with(mut cmd: assert_cmd::Command, value: &str, context: &str) -> String {
    let out = cmd
        .args(["secrets", "encrypt", "--context", context])
        .write_stdin(format!("{value}\n"))
        .output()
        .expect("run");
    assert!(out.status.success(), "encrypt: {}", describe(&out));
    assert_no_pin(&out, "secrets encrypt");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim_end()
        .to_owned()
}

/// `secrets decrypt --context CONTEXT` of `token` with `cmd`.
pub fn decrypt_with(mut cmd: assert_cmd::Command, token: &str, context: &str) -> Output {
    cmd.args(["secrets", "decrypt", "--context", context])
        .write_stdin(format!("{token}\n"))
        .output()
        .expect("run")
}

/// The value `token` decrypts to with `cmd`, failing the test otherwise.
pub fn decrypted_with(cmd: assert_cmd::Command, token: &str, context: &str) -> String {
    let out = decrypt_with(cmd, token, context);
    assert!(out.status.success(), "decrypt: {}", describe(&out));
    assert_no_pin(&out, "secrets decrypt");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim_end()
        .to_owned()
}

/// The key id of the root certificate `cert` (PEM): SHA-256 of its SubjectPublicKeyInfo,
/// first 8 bytes in hex, computed with openssl.
pub fn kid_of(dir: &Path, cert: &Path) -> String {
    let spki = dir.join("spki.der");
    let pem = dir.join("spki.pem");
    openssl_ok(&[
        "x509",
        "-in",
        path_str(cert),
        "-noout",
        "-pubkey",
        "-out",
        path_str(&pem),
    ]);
    openssl_ok(&[
        "pkey",
        "-pubin",
        "-in",
        path_str(&pem),
        "-outform",
        "DER",
        "-out",
        path_str(&spki),
    ]);
    let digest = openssl_ok(&["dgst", "-sha256", "-r", path_str(&spki)]);
    digest[..16].to_owned()
}

/// The secret key objects pkcs11-tool lists in the token `qvca`.
pub fn secret_keys_listed(hsm: &SoftHsm) -> String {
    hsm.pkcs11_tool_ok("qvca", &["--list-objects", "--type", "secrkey"])
}

/// A file of `name` in the scratch area holding `text`.
fn scratch(ca: &TestCa, name: &str, text: &str) -> PathBuf {
    let path = ca.path().join(name);
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn init_makes_the_secrets_key_in_the_token_and_tokens_are_version_2_sealed_there() {
    let hca = HsmCa::init("p256");
    let index = hca.ca.index();
    let root = hca.root();
    let kid = kid_of(hca.ca.path(), &root);
    let label = format!("qvca SecretsKey {kid}");
    assert_eq!(
        index["settings"]["root_key"]["secrets_key_label"], label,
        "{index}"
    );
    let listed = secret_keys_listed(&hca.hsm);
    assert!(listed.contains(&label), "{listed}");
    assert!(listed.contains("never extractable"), "{listed}");

    // `derive` names the kid; there is no key to reveal.
    assert_eq!(hca.ok(&["secrets", "derive"]).trim(), kid);
    let out = hca.run(&["secrets", "derive", "--reveal"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(stderr(&out).contains("never leaves"), "{}", describe(&out));

    // One value, sealed in the token, round-trips; another context does not open it.
    let token = encrypt_with(hca.qvca(), "Pwd=s3cret-value", "dsn");
    assert!(token.starts_with(&format!("qvca:v2:{kid}:")), "{token}");
    assert!(!token.contains("s3cret"));
    assert_eq!(
        decrypted_with(hca.qvca(), &token, "dsn"),
        "Pwd=s3cret-value"
    );
    let out = decrypt_with(hca.qvca(), &token, "other");
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));

    // Whole files: every line sealed, then opened again, line endings kept.
    let values = scratch(
        &hca.ca,
        "values.txt",
        "Server=a;Pwd=1\n\nServer=b;Pwd=2\r\n",
    );
    let tokens = hca.ca.path().join("tokens.txt");
    let plain = hca.ca.path().join("plain.txt");
    hca.ok(&[
        "secrets",
        "encrypt",
        "--context",
        "bulk",
        "--in",
        path_str(&values),
        "--out",
        path_str(&tokens),
    ]);
    let sealed = std::fs::read_to_string(&tokens).expect("tokens");
    assert_eq!(sealed.matches("qvca:v2:").count(), 2, "{sealed}");
    hca.ok(&[
        "secrets",
        "decrypt",
        "--context",
        "bulk",
        "--in",
        path_str(&tokens),
        "--out",
        path_str(&plain),
    ]);
    assert_eq!(
        std::fs::read(&plain).expect("plain"),
        std::fs::read(&values).expect("values")
    );

    // Secrets need the token's PIN, not the CA password.
    let out = hca
        .ca
        .qvca_without_password()
        .env("SOFTHSM2_CONF", hca.hsm.conf())
        .args(["--pkcs11-module", MODULE, "--pin-file"])
        .arg(hca.hsm.pin_file())
        .args(["secrets", "decrypt", "--context", "dsn"])
        .write_stdin(format!("{token}\n"))
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", describe(&out));
    assert_no_pin_in(&hca.ca.dir());
}

#[test]
fn an_hsm_ca_told_a_version_1_token_says_to_rewrap_it_and_a_file_ca_told_a_version_2_one_says_whose_it_is()
 {
    let hca = HsmCa::init("p256");
    let file_ca = TestCa::new();
    file_ca
        .qvca()
        .args(["init", "--key-type", "p256"])
        .assert()
        .success();
    let v1 = encrypt_with(file_ca.qvca(), "value", "");
    let v2 = encrypt_with(hca.qvca(), "value", "");

    let out = decrypt_with(hca.qvca(), &v1, "");
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let text = stderr(&out);
    assert!(text.contains("version 1"), "{text}");
    assert!(text.contains("secrets rewrap --from-backup"), "{text}");

    let out = decrypt_with(file_ca.qvca(), &v2, "");
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let text = stderr(&out);
    assert!(text.contains("version 2"), "{text}");
    assert!(text.contains("PKCS#11 token"), "{text}");

    // `secrets rewrap` without a backup has no old key for a CA that was never a file-key CA.
    let file = scratch(&hca.ca, "app.ini", &format!("conn={v1}\n"));
    let out = hca.run(&["secrets", "rewrap", "--in", path_str(&file), "--in-place"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("--from-backup"), "{}", describe(&out));
}

#[test]
fn rewrap_from_a_file_key_ca_backup_moves_its_tokens_to_version_2_in_the_token() {
    // The old CA: a file key, tokens in a configuration file, a backup.
    let old = TestCa::new();
    old.qvca()
        .args(["init", "--key-type", "rsa2048"])
        .assert()
        .success();
    let pfx_password = old.path().join("pfx.txt");
    std::fs::write(&pfx_password, format!("{PFX_PASSWORD}\n")).expect("write");
    let backup = old.path().join("old.pfx");
    old.qvca()
        .arg("--pfx-password-file")
        .arg(&pfx_password)
        .args(["backup", "--out", path_str(&backup)])
        .assert()
        .success();
    let dsn = encrypt_with(old.qvca(), "Provider=SQLOLEDB;Pwd=alpha", "dsn");
    let smtp = encrypt_with(old.qvca(), "smtp-password-beta", "smtp");

    // The new CA: its root key in a token; the file moves to qvca:v2 under it.
    let hca = HsmCa::init("p256");
    let config = scratch(
        &hca.ca,
        "QVConfig.xml",
        &format!("<c dsn=\"{dsn}\"/>\n<m smtp='{smtp}'/>\n"),
    );
    let mut cmd = hca.qvca();
    let out = cmd
        .arg("--pfx-password-file")
        .arg(&pfx_password)
        .args(["secrets", "rewrap", "--from-backup", path_str(&backup)])
        .args(["--context", "dsn", "--context", "smtp", "--in"])
        .arg(&config)
        .arg("--in-place")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("rewrapped 2 token(s)"),
        "{}",
        describe(&out)
    );
    let text = std::fs::read_to_string(&config).expect("config");
    assert_eq!(text.matches("qvca:v2:").count(), 2, "{text}");
    assert!(!text.contains("qvca:v1:"), "{text}");
    assert!(text.starts_with("<c dsn=\"qvca:v2:"), "{text}");
    let tokens = qvca::secrets::find_tokens(text.as_bytes());
    let token = |i: usize| text[tokens[i].clone()].to_owned();
    assert_eq!(
        decrypted_with(hca.qvca(), &token(0), "dsn"),
        "Provider=SQLOLEDB;Pwd=alpha"
    );
    assert_eq!(
        decrypted_with(hca.qvca(), &token(1), "smtp"),
        "smtp-password-beta"
    );
    // Run again: everything is current.
    let mut cmd = hca.qvca();
    let again = cmd
        .arg("--pfx-password-file")
        .arg(&pfx_password)
        .args([
            "--json",
            "secrets",
            "rewrap",
            "--from-backup",
            path_str(&backup),
        ])
        .args(["--context", "dsn", "--context", "smtp", "--in"])
        .arg(&config)
        .arg("--in-place")
        .output()
        .expect("run");
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).expect("json");
    assert_eq!(report["rewrapped"], 0, "{report}");
    assert_eq!(report["already_current"], 2, "{report}");

    // A backup of an HSM CA has no key to rewrap from: refused, saying why.
    let hsm_backup = hca.ca.path().join("hsm.pfx");
    let mut cmd = hca.qvca();
    cmd.arg("--pfx-password-file")
        .arg(&pfx_password)
        .args(["backup", "--out", path_str(&hsm_backup)])
        .assert()
        .success();
    let mut cmd = hca.qvca();
    let out = cmd
        .arg("--pfx-password-file")
        .arg(&pfx_password)
        .args([
            "secrets",
            "rewrap",
            "--from-backup",
            path_str(&hsm_backup),
            "--in",
        ])
        .arg(&config)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(stderr(&out).contains("PKCS#11 token"), "{}", describe(&out));
}

#[test]
fn init_with_an_existing_root_key_reuses_its_secrets_key_so_old_tokens_still_open() {
    let hca = HsmCa::init("p256");
    let token = encrypt_with(hca.qvca(), "kept value", "ctx");
    let listed = secret_keys_listed(&hca.hsm);
    // A new CA directory over the same key: the SecretsKey is found, not made again.
    let replaced = hca.json(&["-y", "init", "--force", "--key", ROOT_URI]);
    assert_eq!(replaced["root_key"]["generated"], false, "{replaced}");
    assert_eq!(
        replaced["root_key"]["secrets_key_generated"], false,
        "{replaced}"
    );
    assert_eq!(secret_keys_listed(&hca.hsm), listed);
    assert_eq!(decrypted_with(hca.qvca(), &token, "ctx"), "kept value");
}

#[test]
fn a_misrecorded_or_missing_secrets_key_is_a_clear_error() {
    let hca = HsmCa::init("p256");
    let index_path = hca.ca.dir().join("index.json");
    let genuine = std::fs::read_to_string(&index_path).expect("index");
    let label = hca.ca.index()["settings"]["root_key"]["secrets_key_label"]
        .as_str()
        .expect("label")
        .to_owned();
    // The index names another (well-formed) label: the index is damaged, exit 1.
    let other = "qvca SecretsKey 0011223344556677";
    std::fs::write(&index_path, genuine.replace(&label, other)).expect("write");
    let mut cmd = hca.qvca();
    let out = cmd
        .args(["secrets", "encrypt"])
        .write_stdin("value\n")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("index is damaged"),
        "{}",
        describe(&out)
    );
    std::fs::write(&index_path, &genuine).expect("write");
    // The token lost its SecretsKey: not found (exit 6), saying what to restore.
    hca.hsm.pkcs11_tool_ok(
        "qvca",
        &["--delete-object", "--type", "secrkey", "--label", &label],
    );
    let mut cmd = hca.qvca();
    let out = cmd
        .args(["secrets", "encrypt"])
        .write_stdin("value\n")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(6), "{}", describe(&out));
    let text = stderr(&out);
    assert!(text.contains("no SecretsKey"), "{text}");
    assert!(text.contains("HSM's backup"), "{text}");
    assert_no_pin(&out, "secrets encrypt");
}
