//! Backup and restore of a CA whose root key lives in a SoftHSM2 token: the backup holds
//! everything but the root key and records where it lives; `backup verify` accepts it;
//! `restore` checks that the key it finds in the token signs for the root certificate (exit 5
//! otherwise, naming the module, the token and the key). A backup that claims a token root can
//! smuggle neither a root key, nor a PIN, nor a library to load.

use super::MODULE;
use super::cli::{HsmCa, ROOT_URI, assert_no_pin};
use super::secrets_cli::{decrypted_with, encrypt_with};
use crate::support::{
    PFX_PASSWORD, describe, openssl_ok, p256_ca, path_str, pfx_password_file, stderr,
};
use std::path::{Path, PathBuf};
use std::process::Output;

/// `qvca` for `hca`'s token, but with the CA directory `dir`.
fn qvca_at(hca: &HsmCa, dir: &Path) -> assert_cmd::Command {
    let mut cmd = crate::support::bare_qvca();
    cmd.current_dir(hca.ca.path())
        .arg("--ca-dir")
        .arg(dir)
        .arg("--password-file")
        .arg(hca.ca.password_file())
        .arg("--pfx-password-file")
        .arg(pfx_password_file(&hca.ca))
        .arg("--pkcs11-module")
        .arg(MODULE)
        .arg("--pin-file")
        .arg(hca.hsm.pin_file())
        .env("SOFTHSM2_CONF", hca.hsm.conf());
    cmd
}

/// A backup of `hca` at `<scratch>/<name>`, which must hold `leaf_keys` keys (the root's is
/// never one of them).
fn backup(hca: &HsmCa, name: &str, leaf_keys: u64) -> PathBuf {
    let file = hca.ca.path().join(name);
    let out = qvca_at(hca, &hca.ca.dir())
        .args(["--json", "backup", "--out", path_str(&file)])
        .output()
        .expect("run");
    assert!(out.status.success(), "backup: {}", describe(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["keys"], leaf_keys, "{report}");
    file
}

/// The CA state (`qvca-state`) and the key bags' certificates of a backup.
fn open_backup(file: &Path) -> (serde_json::Value, qvca::pki::pkcs12::PfxArchive) {
    let bytes = std::fs::read(file).expect("backup");
    let archive = qvca::pki::pkcs12::read_pfx(
        &bytes,
        &qvca::domain::secret::Password::new(PFX_PASSWORD),
        "backup",
        qvca::pki::pkcs12::Integrity::Required,
    )
    .expect("open");
    let state = archive
        .secrets
        .iter()
        .find(|s| s.friendly_name.as_deref() == Some("qvca-state"))
        .expect("state bag");
    let json = serde_json::from_slice(state.bytes.expose()).expect("state JSON");
    (json, archive)
}

/// `genuine` with its CA state changed by `edit`, written (under the same password) to
/// `<scratch>/<name>`: what someone who knows the backup password can make.
fn with_state(
    scratch: &Path,
    genuine: &Path,
    name: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> PathBuf {
    let (mut state, archive) = open_backup(genuine);
    edit(&mut state);
    let state_bytes = serde_json::to_vec(&state).expect("JSON");
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
    let bytes = qvca::pki::pkcs12::write_pfx(
        &contents,
        &qvca::domain::secret::Password::new(PFX_PASSWORD),
        qvca::pki::pkcs12::PfxEncryption::Modern,
    )
    .expect("write");
    let path = scratch.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

/// Asserts the exit code, no panic and no PIN; returns stderr.
fn failed(out: &Output, code: i32, what: &str) -> String {
    assert_eq!(out.status.code(), Some(code), "{what}: {}", describe(out));
    let text = stderr(out);
    assert!(!text.contains("panicked"), "{what}: {}", describe(out));
    assert_no_pin(out, what);
    text
}

#[test]
fn an_hsm_ca_is_backed_up_without_its_root_key_and_restored_where_the_token_key_signs_for_it() {
    let hca = HsmCa::init("p256");
    hca.ok(&["issue", "server", "QVS01", "--key-type", "p256"]);
    hca.ok(&["issue", "client", "--key-type", "p256"]);
    let token = encrypt_with(hca.qvca(), "backed-up-secret", "ctx");
    let file = backup(&hca, "hsm.pfx", 2);

    // The backup records where the key lives, and no key bag belongs to the root.
    let (state, archive) = open_backup(&file);
    let recorded = &state["index"]["settings"]["root_key"];
    assert_eq!(recorded["token_label"], "qvca", "{state}");
    assert_eq!(recorded["key_label"], "qvca-root", "{state}");
    assert!(
        recorded["token_serial"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(recorded["key_id"].as_str().is_some_and(|s| s.len() == 40));
    assert!(
        recorded["secrets_key_label"]
            .as_str()
            .is_some_and(|l| l.starts_with("qvca SecretsKey ")),
        "{state}"
    );
    assert_eq!(archive.keys.len(), 2);
    for key in &archive.keys {
        assert_ne!(key.friendly_name.as_deref(), Some("QlikViewCA"));
    }

    // `backup verify` accepts it: the root is there without its key.
    let out = qvca_at(&hca, &hca.ca.dir())
        .args(["--json", "backup", "verify", path_str(&file)])
        .output()
        .expect("run");
    assert!(out.status.success(), "verify: {}", describe(&out));
    let verification: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(verification["ok"], true, "{verification}");
    let root = verification["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["kind"] == "root")
        .expect("root entry")
        .clone();
    assert_eq!(root["has_key"], false, "{verification}");

    // Restored elsewhere with the token at hand: it signs, and its secrets open.
    let restored = hca.ca.path().join("restored");
    let out = qvca_at(&hca, &restored)
        .args(["-y", "restore", path_str(&file)])
        .output()
        .expect("run");
    assert!(out.status.success(), "restore: {}", describe(&out));
    assert_no_pin(&out, "restore");
    let root_serial = state["index"]["certificates"][0]["serial"]
        .as_str()
        .expect("serial");
    assert!(
        !restored
            .join("keys")
            .join(format!("{root_serial}.pem"))
            .exists(),
        "the restored CA has a root key file"
    );
    let cert = hca.ca.path().join("QVS02.pem");
    qvca_at(&hca, &restored)
        .args(["issue", "server", "QVS02", "--key-type", "p256"])
        .assert()
        .success();
    qvca_at(&hca, &restored)
        .args(["export", "cert", "QVS02", "--out", path_str(&cert)])
        .assert()
        .success();
    let root_pem = hca.root();
    let text = openssl_ok(&["verify", "-CAfile", path_str(&root_pem), path_str(&cert)]);
    assert!(text.contains(": OK"), "{text}");
    assert_eq!(
        decrypted_with(qvca_at(&hca, &restored), &token, "ctx"),
        "backed-up-secret"
    );

    // A token whose key under that label and id is another key: exit 5, nothing restored.
    let id = recorded["key_id"].as_str().expect("key id").to_owned();
    for object in ["privkey", "pubkey"] {
        hca.hsm.pkcs11_tool_ok(
            "qvca",
            &["--delete-object", "--type", object, "--label", "qvca-root"],
        );
    }
    hca.hsm.pkcs11_tool_ok(
        "qvca",
        &[
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--label",
            "qvca-root",
            "--id",
            &id,
        ],
    );
    let elsewhere = hca.ca.path().join("elsewhere");
    let out = qvca_at(&hca, &elsewhere)
        .args(["-y", "restore", path_str(&file)])
        .output()
        .expect("run");
    let text = failed(&out, 5, "restore with another key in the token");
    assert!(text.contains("does not sign for"), "{text}");
    assert!(text.contains(MODULE), "{text}");
    assert!(text.contains("\"qvca\""), "{text}");
    assert!(text.contains("qvca-root"), "{text}");
    assert!(
        !elsewhere.join("index.json").exists(),
        "something was restored"
    );
    // --dry-run checks the token too.
    let out = qvca_at(&hca, &elsewhere)
        .args(["restore", "--dry-run", path_str(&file)])
        .output()
        .expect("run");
    failed(&out, 5, "restore --dry-run with another key in the token");
}

#[test]
fn a_backup_of_a_migrated_ca_restores_with_the_escrow_and_needs_the_secrets_key_in_the_token() {
    let hca = HsmCa::new();
    hca.ok(&["init", "--key-type", "p256"]);
    hca.ok(&["issue", "server", "QVS01", "--key-type", "p256"]);
    let v1 = encrypt_with(hca.qvca(), "from-the-file-key-days", "");
    hca.ok(&["-y", "hsm", "migrate", "--key", ROOT_URI]);
    let file = backup(&hca, "migrated.pfx", 1);
    let restored = hca.ca.path().join("restored");
    qvca_at(&hca, &restored)
        .args(["-y", "restore", path_str(&file)])
        .assert()
        .success();
    assert_eq!(
        decrypted_with(qvca_at(&hca, &restored), &v1, ""),
        "from-the-file-key-days"
    );
    // A token that lost the SecretsKey: refused (exit 5), nothing restored.
    let label = hca.ca.index()["settings"]["root_key"]["secrets_key_label"]
        .as_str()
        .expect("label")
        .to_owned();
    hca.hsm.pkcs11_tool_ok(
        "qvca",
        &["--delete-object", "--type", "secrkey", "--label", &label],
    );
    let elsewhere = hca.ca.path().join("elsewhere");
    let out = qvca_at(&hca, &elsewhere)
        .args(["-y", "restore", path_str(&file)])
        .output()
        .expect("run");
    let text = failed(&out, 5, "restore without the SecretsKey");
    assert!(text.contains("not the CA's SecretsKey"), "{text}");
    assert!(!elsewhere.join("index.json").exists());
}

#[test]
fn a_backup_claiming_a_token_root_cannot_smuggle_a_root_key_a_pin_or_a_library() {
    // A file-key CA's backup whose state is edited to claim a token root: its root key bag
    // is then one the state says cannot exist.
    let ca = p256_ca(&[]);
    let genuine = ca.path().join("genuine.pfx");
    ca.qvca()
        .arg("--pfx-password-file")
        .arg(pfx_password_file(&ca))
        .args(["backup", "--out", path_str(&genuine)])
        .assert()
        .success();
    let location = |uri: &str| {
        serde_json::json!({
            "uri": uri,
            "token_label": "qvca",
            "token_serial": "",
            "key_label": "qvca-root",
            "key_id": "0a0b",
        })
    };
    let claims_token = with_state(ca.path(), &genuine, "claims.pfx", |state| {
        state["index"]["settings"]["root_key"] = location("pkcs11:token=qvca;object=qvca-root");
    });
    let verify = |file: &Path| {
        ca.qvca()
            .arg("--pfx-password-file")
            .arg(pfx_password_file(&ca))
            .args(["backup", "verify", path_str(file)])
            .output()
            .expect("run")
    };
    let restore = |file: &Path, target: &Path| {
        crate::support::bare_qvca()
            .current_dir(ca.path())
            .arg("--ca-dir")
            .arg(target)
            .arg("--password-file")
            .arg(ca.password_file())
            .arg("--pfx-password-file")
            .arg(pfx_password_file(&ca))
            .args(["-y", "restore", path_str(file)])
            .output()
            .expect("run")
    };
    let out = verify(&claims_token);
    let text = failed(&out, 5, "verify of a smuggled root key");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("lives in a PKCS#11 token"),
        "{text}{}",
        describe(&out)
    );
    let target = ca.path().join("target");
    let text = failed(&restore(&claims_token, &target), 5, "restore");
    assert!(text.contains("lives in a PKCS#11 token"), "{text}");
    assert!(!target.join("index.json").exists());

    // A PIN or a malformed URI in the recorded location: refused, the PIN never echoed.
    for (name, uri, secret) in [
        (
            "pin.pfx",
            "pkcs11:token=qvca;object=qvca-root?pin-value=Hunter2-Smuggled",
            Some("Hunter2-Smuggled"),
        ),
        (
            "bogus.pfx",
            "pkcs11:token=qvca;object=qvca-root;bogus=1",
            None,
        ),
        (
            "source.pfx",
            "pkcs11:token=qvca;object=qvca-root?pin-source=file:/etc/shadow",
            None,
        ),
    ] {
        let file = with_state(ca.path(), &genuine, name, |state| {
            state["index"]["settings"]["root_key"] = location(uri);
        });
        for out in [verify(&file), restore(&file, &target)] {
            let text = failed(&out, 4, name);
            assert!(text.contains("settings.root_key"), "{name}: {text}");
            if let Some(secret) = secret {
                assert!(!text.contains(secret), "{name}: {text}");
                assert!(!String::from_utf8_lossy(&out.stdout).contains(secret));
            }
        }
        assert!(!target.join("index.json").exists());
    }
}

#[test]
fn a_backup_naming_a_module_is_restored_only_when_the_same_module_is_given() {
    let hca = HsmCa::init("p256");
    hca.ok(&["issue", "server", "QVS01", "--key-type", "p256"]);
    let file = backup(&hca, "hsm.pfx", 1);
    let evil = hca.ca.path().join("evil.so");
    std::fs::write(&evil, b"not a library").expect("write");
    let hostile = with_state(hca.ca.path(), &file, "module.pfx", |state| {
        let uri = format!("{ROOT_URI}?module-path={}", evil.display());
        state["index"]["settings"]["root_key"]["uri"] = uri.into();
    });
    let target = hca.ca.path().join("target");
    // --pkcs11-module names SoftHSM2, the backup another library: refused, nothing loaded.
    let out = qvca_at(&hca, &target)
        .args(["-y", "restore", path_str(&hostile)])
        .output()
        .expect("run");
    let text = failed(&out, 2, "restore of a backup naming a module");
    assert!(text.contains("does not load a library"), "{text}");
    assert!(text.contains("evil.so"), "{text}");
    assert!(!target.join("index.json").exists());
    // Without any module option, the same.
    let out = crate::support::bare_qvca()
        .current_dir(hca.ca.path())
        .arg("--ca-dir")
        .arg(&target)
        .arg("--password-file")
        .arg(hca.ca.password_file())
        .arg("--pfx-password-file")
        .arg(pfx_password_file(&hca.ca))
        .arg("--pin-file")
        .arg(hca.hsm.pin_file())
        .env("SOFTHSM2_CONF", hca.hsm.conf())
        .args(["-y", "restore", path_str(&hostile)])
        .output()
        .expect("run");
    failed(&out, 2, "restore of a backup naming a module, no option");
}
