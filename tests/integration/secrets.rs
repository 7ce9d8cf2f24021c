//! The SecretsKey: known-answer vectors made by an independent implementation, round trips,
//! tampering, backup and rotation through the real binary, and a property test of the token
//! format.

use crate::support::{PASSWORD, TestCa, openssl_ok};
use assert_cmd::Command;
use predicates::prelude::*;
use proptest::prelude::*;
use qvca::domain::secret::SecretBytes;
use qvca::secrets::{SecretsKey, decrypt_token, encrypt_token, find_tokens};
use std::path::{Path, PathBuf};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/secrets")
}

fn vectors() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(vectors_dir().join("vectors.json")).expect("vectors");
    serde_json::from_str::<serde_json::Value>(&text)
        .expect("json")
        .as_array()
        .expect("array")
        .clone()
}

/// The PKCS#8 DER and SubjectPublicKeyInfo DER of a vector's root key.
fn vector_key(name: &str) -> (SecretBytes, Vec<u8>) {
    let pem = std::fs::read_to_string(vectors_dir().join(name)).expect("key");
    let (_, der) = der::pem::decode_vec(pem.as_bytes()).expect("pem");
    let pair = rcgen::KeyPair::try_from(der.as_slice()).expect("key pair");
    (
        SecretBytes::new(der),
        qvca::pki::key::public_key_info(&pair),
    )
}

#[test]
fn the_known_answer_vectors_give_the_same_key_id_key_and_plaintext() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 2, "an RSA and a P-256 vector");
    for v in vectors {
        let (pkcs8, spki) = vector_key(v["root_key"].as_str().expect("name"));
        let key = SecretsKey::derive(&pkcs8, &spki).expect("derive");
        assert_eq!(
            key.kid().to_string(),
            v["kid"].as_str().expect("kid"),
            "{v}"
        );
        assert_eq!(
            hex::encode(key.expose()),
            v["secrets_key_hex"].as_str().expect("key"),
            "{v}"
        );
        let plain = decrypt_token(
            &key,
            v["token"].as_str().expect("token"),
            v["context"].as_str().expect("context"),
        )
        .expect("the vector token decrypts");
        assert_eq!(
            plain.expose(),
            v["plaintext"].as_str().expect("plaintext").as_bytes()
        );
    }
}

/// A CA whose root key is a vector's key: a self-signed root made by openssl, restored with
/// `restore --force` from a PKCS#12 without qvca state.
fn ca_with_vector_root(key_file: &str) -> TestCa {
    let ca = TestCa::new();
    let key = vectors_dir().join(key_file);
    let cert = ca.path().join("root.pem");
    let pfx = ca.path().join("root.pfx");
    let key_arg = key.to_str().expect("utf-8");
    openssl_ok(&[
        "req",
        "-x509",
        "-new",
        "-key",
        key_arg,
        "-subj",
        "/CN=QlikViewCA",
        "-days",
        "3650",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        cert.to_str().expect("utf-8"),
    ]);
    openssl_ok(&[
        "pkcs12",
        "-export",
        "-inkey",
        key_arg,
        "-in",
        cert.to_str().expect("utf-8"),
        "-name",
        "QlikViewCA",
        "-passout",
        "pass:vector",
        "-out",
        pfx.to_str().expect("utf-8"),
    ]);
    ca.qvca()
        .env("QVCA_PFX_PASSWORD", "vector")
        .args(["restore", "--force"])
        .arg(&pfx)
        .assert()
        .success();
    ca
}

#[test]
fn a_ca_restored_with_a_vector_root_derives_its_key_id_and_decrypts_its_token() {
    for v in vectors() {
        let ca = ca_with_vector_root(v["root_key"].as_str().expect("name"));
        ca.qvca()
            .args(["secrets", "derive"])
            .assert()
            .success()
            .stdout(format!("{}\n", v["kid"].as_str().expect("kid")));
        ca.qvca()
            .args(["secrets", "derive", "--reveal", "--format", "hex"])
            .assert()
            .success()
            .stdout(format!("{}\n", v["secrets_key_hex"].as_str().expect("key")));
        ca.qvca()
            .args([
                "secrets",
                "decrypt",
                "--context",
                v["context"].as_str().expect("context"),
            ])
            .write_stdin(v["token"].as_str().expect("token"))
            .assert()
            .success()
            .stdout(format!("{}\n", v["plaintext"].as_str().expect("plaintext")));
    }
}

fn encrypt(ca: &TestCa, value: &[u8], context: &str) -> String {
    let out = ca
        .qvca()
        .args(["secrets", "encrypt", "--context", context])
        .write_stdin(value.to_vec())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim_end()
        .to_owned()
}

fn decrypt(ca: &TestCa, token: &str, context: &str) -> Command {
    let mut cmd = ca.qvca();
    cmd.args(["secrets", "decrypt", "--context", context])
        .write_stdin(token.to_owned());
    cmd
}

#[test]
fn ascii_unicode_empty_and_64_kib_values_round_trip() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let big = "x".repeat(64 * 1024);
    for value in [
        "Server=db;Uid=sa;Pwd=p@ss",
        "Lösenord: ✓ 密码 🚀",
        "",
        big.as_str(),
    ] {
        let token = encrypt(&ca, format!("{value}\n").as_bytes(), "dsn");
        assert!(token.starts_with("qvca:v1:"), "{token}");
        let out = decrypt(&ca, &token, "dsn").output().expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, format!("{value}\n").as_bytes());
    }
}

#[test]
fn the_same_value_twice_gives_different_tokens() {
    let ca = TestCa::with_setup(&["QVS01"]);
    assert_ne!(encrypt(&ca, b"same", ""), encrypt(&ca, b"same", ""));
}

#[test]
fn the_key_id_is_stable_and_computable_from_the_root_certificate_alone() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let kid = |ca: &TestCa| {
        let out = ca.qvca().args(["secrets", "derive"]).output().expect("run");
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_owned()
    };
    let first = kid(&ca);
    assert_eq!(first, kid(&ca));
    let root = ca.root_pem();
    let spki = ca.path().join("spki.der");
    let pubkey = openssl_ok(&[
        "x509",
        "-in",
        root.to_str().expect("utf-8"),
        "-noout",
        "-pubkey",
    ]);
    let pubkey_pem = ca.path().join("pub.pem");
    std::fs::write(&pubkey_pem, pubkey).expect("write");
    openssl_ok(&[
        "pkey",
        "-pubin",
        "-in",
        pubkey_pem.to_str().expect("utf-8"),
        "-outform",
        "DER",
        "-out",
        spki.to_str().expect("utf-8"),
    ]);
    let spki_der = std::fs::read(&spki).expect("spki");
    assert_eq!(first, qvca::secrets::KeyId::for_root(&spki_der).to_string());
    let digest = openssl_ok(&["dgst", "-sha256", "-hex", spki.to_str().expect("utf-8")]);
    let hex = digest.trim().rsplit(' ').next().expect("hex");
    assert_eq!(first, hex[..16]);
}

#[test]
fn tampered_foreign_truncated_and_garbage_tokens_fail_with_exit_4() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let token = encrypt(&ca, b"secret value", "ctx");
    let (head, data) = token.rsplit_once(':').expect("token");
    let kid = head.strip_prefix("qvca:v1:").expect("prefix");
    let other_kid = if kid.starts_with('0') { "1" } else { "0" }.to_owned() + &kid[1..];
    let flipped = {
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut bytes = engine.decode(data).expect("b64");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        format!("{head}:{}", engine.encode(bytes))
    };
    let cases = [
        (flipped, "authentication failed"),
        (format!("qvca:v1:{other_kid}:{data}"), "unknown key id"),
        (format!("qvca:v2:{kid}:{data}"), "v2"),
        (token[..token.len() - 4].to_owned(), "token"),
        (token[..token.len() - 21].to_owned(), "malformed token"),
        (format!("{head}:{}", &data[..10]), "truncated"),
        (format!("{head}:****"), "base64url"),
        ("not a token at all".to_owned(), "does not start"),
    ];
    for (bad, expected) in cases {
        decrypt(&ca, &bad, "ctx")
            .assert()
            .code(4)
            .stderr(
                predicate::str::contains(expected).and(predicate::str::contains("panicked").not()),
            )
            .stdout(predicate::str::contains("secret value").not());
    }
    decrypt(&ca, &token, "other")
        .assert()
        .code(4)
        .stderr(predicate::str::contains("another context"));
}

#[test]
fn flipping_any_single_byte_of_a_payload_is_detected() {
    use base64::Engine;
    let pair = qvca::pki::key::KeyType::P256.generate().expect("keygen");
    let key = SecretsKey::derive(
        &qvca::pki::key::pkcs8_der(&pair),
        &qvca::pki::key::public_key_info(&pair),
    )
    .expect("derive");
    let token = encrypt_token(&key, b"Password=abc", "ctx").expect("encrypt");
    let (head, data) = token.rsplit_once(':').expect("token");
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = engine.decode(data).expect("b64");
    for i in 0..payload.len() {
        for bit in [0x01, 0x80] {
            let mut bytes = payload.clone();
            bytes[i] ^= bit;
            let bad = format!("{head}:{}", engine.encode(&bytes));
            let err = decrypt_token(&key, &bad, "ctx").expect_err("tampered");
            assert_eq!(err.kind(), qvca::ErrorKind::Authentication);
        }
    }
}

#[test]
fn bulk_files_round_trip_and_a_bad_line_is_reported_with_no_output_left() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let values = ca.path().join("values.txt");
    let content = "Server=a;Pwd=1\r\n\nServer=b;Pwd=2\nÜnïcode ✓\n";
    std::fs::write(&values, content).expect("write");
    let tokens = ca.path().join("tokens.txt");
    ca.qvca()
        .args(["secrets", "encrypt", "--context", "bulk", "--in"])
        .arg(&values)
        .arg("--out")
        .arg(&tokens)
        .assert()
        .success();
    let token_text = std::fs::read_to_string(&tokens).expect("tokens");
    assert_eq!(
        token_text
            .lines()
            .filter(|l| l.starts_with("qvca:v1:"))
            .count(),
        3
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&tokens)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    let back = ca.path().join("back.txt");
    ca.qvca()
        .args(["secrets", "decrypt", "--context", "bulk", "--in"])
        .arg(&tokens)
        .arg("--out")
        .arg(&back)
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&back).expect("back"), content);

    // A damaged third token: the error names line 4 (line 2 is empty) and no file appears.
    let mut lines: Vec<String> = token_text.split('\n').map(str::to_owned).collect();
    lines[3] = lines[3].replace("qvca:v1:", "qvca:v1:X");
    std::fs::write(&tokens, lines.join("\n")).expect("write");
    let failed = ca.path().join("failed.txt");
    ca.qvca()
        .args(["secrets", "decrypt", "--context", "bulk", "--in"])
        .arg(&tokens)
        .arg("--out")
        .arg(&failed)
        .assert()
        .code(4)
        .stderr(predicate::str::contains("line 4"));
    assert!(!failed.exists(), "no output file after a failure");
}

#[test]
fn restoring_a_backup_restores_the_key_id_and_old_tokens_decrypt() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let token = encrypt(&ca, b"keep me", "dsn");
    let pfx_password = ca.path().join("pfx.txt");
    std::fs::write(&pfx_password, "backup-pass\n").expect("write");
    let backup = ca.path().join("backup.pfx");
    ca.qvca()
        .arg("--pfx-password-file")
        .arg(&pfx_password)
        .args(["backup", "--out"])
        .arg(&backup)
        .assert()
        .success();
    std::fs::remove_dir_all(ca.dir()).expect("wipe");
    ca.qvca()
        .arg("--pfx-password-file")
        .arg(&pfx_password)
        .arg("restore")
        .arg(&backup)
        .assert()
        .success();
    decrypt(&ca, &token, "dsn")
        .assert()
        .success()
        .stdout("keep me\n");
}

#[test]
fn rotation_rewraps_tokens_of_the_old_root_and_keeps_every_other_byte() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let pfx_password = ca.path().join("pfx.txt");
    std::fs::write(&pfx_password, "backup-pass\n").expect("write");
    let token_a = encrypt(&ca, b"Pwd=alpha", "dsn");
    let token_b = encrypt(&ca, b"Pwd=beta", "mail");
    let old = ca.path().join("old-root.pfx");
    ca.qvca()
        .arg("--pfx-password-file")
        .arg(&pfx_password)
        .args(["backup", "--out"])
        .arg(&old)
        .assert()
        .success();

    // A new root B replaces A.
    ca.qvca().args(["-y", "init", "--force"]).assert().success();
    decrypt(&ca, &token_a, "dsn")
        .assert()
        .code(4)
        .stderr(predicate::str::contains("unknown key id"));
    let token_new = encrypt(&ca, b"Pwd=gamma", "dsn");

    let config = ca.path().join("app.config");
    let original = format!(
        "<?xml version=\"1.0\"?>\r\n<connections>\r\n  <add name=\"a\" value=\"{token_a}\"/>\r\n  \
         <add name=\"b\" value='{token_b}' />\r\n  <add name=\"c\" value=\"{token_new}\"/>\r\n  \
         <!-- qvca:v1:notatoken -->\r\n</connections>\r\n"
    );
    std::fs::write(&config, &original).expect("write");
    ca.qvca()
        .arg("--pfx-password-file")
        .arg(&pfx_password)
        .args(["secrets", "rewrap", "--from-backup"])
        .arg(&old)
        .args(["--context", "dsn", "--context", "mail", "--in"])
        .arg(&config)
        .arg("--in-place")
        .assert()
        .success()
        .stdout(predicate::str::contains("rewrapped 2"));
    let rewritten = std::fs::read_to_string(&config).expect("config");
    let tokens_now: Vec<&str> = find_tokens(rewritten.as_bytes())
        .into_iter()
        .map(|r| &rewritten[r])
        .collect();
    assert_eq!(tokens_now.len(), 3);
    assert_eq!(
        tokens_now[2], token_new,
        "tokens already under the current key stay as they were"
    );
    // Every byte outside the tokens is identical.
    let mut skeleton_before = original.clone();
    let mut skeleton_after = rewritten.clone();
    for t in [&token_a, &token_b, &token_new] {
        skeleton_before = skeleton_before.replace(t.as_str(), "TOKEN");
    }
    for t in &tokens_now {
        skeleton_after = skeleton_after.replace(t, "TOKEN");
    }
    assert_eq!(skeleton_before, skeleton_after);
    decrypt(&ca, tokens_now[0], "dsn")
        .assert()
        .success()
        .stdout("Pwd=alpha\n");
    decrypt(&ca, tokens_now[1], "mail")
        .assert()
        .success()
        .stdout("Pwd=beta\n");
}

#[test]
fn rewrap_refuses_a_token_under_an_unknown_key_before_writing_anything() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let pfx_password = ca.path().join("pfx.txt");
    std::fs::write(&pfx_password, "backup-pass\n").expect("write");
    let old = ca.path().join("old-root.pfx");
    ca.qvca()
        .arg("--pfx-password-file")
        .arg(&pfx_password)
        .args(["backup", "--out"])
        .arg(&old)
        .assert()
        .success();
    let other = TestCa::with_setup(&["QVS09"]);
    let foreign = encrypt(&other, b"x", "");
    let config = ca.path().join("app.ini");
    let text = format!("a={foreign}\n");
    std::fs::write(&config, &text).expect("write");
    ca.qvca()
        .arg("--pfx-password-file")
        .arg(&pfx_password)
        .args(["secrets", "rewrap", "--from-backup"])
        .arg(&old)
        .arg("--in")
        .arg(&config)
        .arg("--in-place")
        .assert()
        .code(4)
        .stderr(predicate::str::contains("line 1").and(predicate::str::contains("neither")));
    assert_eq!(std::fs::read_to_string(&config).expect("config"), text);
}

#[test]
fn secrets_need_the_ca_password_and_never_take_values_from_argv() {
    let ca = TestCa::with_setup(&["QVS01"]);
    ca.qvca_without_password()
        .args(["secrets", "encrypt"])
        .write_stdin("value")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("QVCA_PASSWORD"));
    ca.qvca()
        .args(["secrets", "encrypt", "value-on-argv"])
        .assert()
        .code(2);
    let _ = PASSWORD;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_in_any_context_round_trip_and_fail_in_another(
        value in proptest::collection::vec(any::<u8>(), 0..512),
        context in ".{0,40}",
        other in ".{0,40}",
    ) {
        let key = property_key();
        let token = encrypt_token(key, &value, &context).expect("encrypt");
        let plain = decrypt_token(key, &token, &context).expect("decrypt");
        prop_assert_eq!(plain.expose(), &value[..]);
        if other != context {
            prop_assert!(decrypt_token(key, &token, &other).is_err());
        }
    }
}

fn property_key() -> &'static SecretsKey {
    static KEY: std::sync::OnceLock<SecretsKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let (pkcs8, spki) = vector_key("p256-root-key.pem");
        SecretsKey::derive(&pkcs8, &spki).expect("derive")
    })
}
