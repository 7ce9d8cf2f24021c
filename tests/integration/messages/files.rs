//! docs/bad-input.md, "Files given to inspect, verify, restore, backup verify", "Hostile
//! backups and PKCS#12 files (issue 11, items 1 and 5)", the backup and PKCS#12 rows of "Names
//! from every source (issue 11, item 2)", and "Issue 13: files from elsewhere (inspect, verify
//! --chain)".

use super::pin;
use crate::backup::{
    attackers_clear_root_pfx, content_infos, edit_pfx, openssl_pfx_without_state, scrypt_algorithm,
    shrouded_key_bags,
};
use crate::support::{
    PFX_PASSWORD, TestCa, bare_qvca, openssl_ok, p256_ca, path_str, pfx_password_file,
};
use std::path::{Path, PathBuf};

/// A fast CA: P-256, no CA password.
fn lab_ca() -> TestCa {
    let ca = TestCa::new();
    ca.qvca()
        .args(["init", "--no-password", "--key-type", "p256"])
        .assert()
        .success();
    ca
}

/// `qvca` on `ca` with the PFX password file too.
fn qvca(ca: &TestCa) -> assert_cmd::Command {
    let mut cmd = ca.qvca();
    cmd.arg("--pfx-password-file").arg(pfx_password_file(ca));
    cmd
}

/// The certificate of `name` exported as PEM into the scratch directory.
fn certificate_file(ca: &TestCa, name: &str) -> PathBuf {
    let out = ca.path().join(format!("{name}.pem"));
    ca.qvca()
        .args(["export", "cert", name, "--force", "--out"])
        .arg(&out)
        .assert()
        .success();
    out
}

/// A backup of `ca` written to `name` in its scratch directory.
fn backup(ca: &TestCa, name: &str) -> PathBuf {
    let file = ca.path().join(name);
    qvca(ca)
        .args(["backup", "--out", path_str(&file)])
        .assert()
        .success();
    file
}

/// `bytes` written to `name` in the scratch directory.
fn write(ca: &TestCa, name: &str, bytes: &[u8]) -> PathBuf {
    let path = ca.path().join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

/// The root's serial.
fn root_serial(ca: &TestCa) -> String {
    ca.index()["certificates"][0]["serial"]
        .as_str()
        .expect("root serial")
        .to_owned()
}

/// `backup verify FILE` and `restore FILE` (with `-y`), pinned as `<case>_verify` and
/// `<case>_restore`.
fn verify_and_restore(ca: &TestCa, case: &str, file: &Path) {
    pin!(
        &format!("{case}_verify"),
        qvca(ca).args(["backup", "verify", path_str(file)])
    );
    pin!(
        &format!("{case}_restore"),
        qvca(ca).args(["-y", "restore", path_str(file)])
    );
}

#[test]
fn files_that_are_not_what_the_command_reads() {
    let ca = lab_ca();
    let junk = write(&ca, "junk.txt", b"hello, not a certificate\n");
    pin!(
        "inspect_not_a_certificate",
        bare_qvca().current_dir(ca.path()).arg("inspect").arg(&junk)
    );
    pin!(
        "inspect_missing_file",
        bare_qvca()
            .current_dir(ca.path())
            .args(["inspect", "no-such-file.pem"])
    );
    pin!("verify_text_file", ca.qvca().arg("verify").arg(&junk));

    ca.qvca()
        .args(["issue", "server", "QVS01", "QVS02", "--key-type", "p256"])
        .assert()
        .success();
    let other = lab_ca();
    other
        .qvca()
        .args(["issue", "server", "QVS01", "--key-type", "p256"])
        .assert()
        .success();
    pin!(
        "verify_certificate_of_another_ca",
        ca.qvca()
            .arg("verify")
            .arg(certificate_file(&other, "QVS01"))
    );
    let rsa = TestCa::new();
    rsa.qvca()
        .args(["init", "--no-password"])
        .assert()
        .success();
    rsa.qvca()
        .args(["issue", "server", "QVS01", "--key-type", "p256"])
        .assert()
        .success();
    pin!(
        "verify_certificate_of_a_root_of_another_key_type",
        ca.qvca().arg("verify").arg(certificate_file(&rsa, "QVS01"))
    );
    let own = certificate_file(&ca, "QVS01");
    pin!(
        "verify_wrong_name",
        ca.qvca().args(["verify", "--name", "WRONG"]).arg(&own)
    );
    ca.qvca()
        .args(["-y", "revoke", "QVS01", "--reason", "keyCompromise"])
        .assert()
        .success();
    pin!(
        "verify_revoked_before_a_crl",
        ca.qvca().arg("verify").arg(&own)
    );
    let published = ca.path().join("published.crl");
    ca.qvca()
        .args(["crl", "--out", path_str(&published)])
        .assert()
        .success();
    pin!(
        "verify_revoked_with_the_crl",
        ca.qvca()
            .args(["verify", "--crl", path_str(&published)])
            .arg(&own)
    );
}

#[test]
fn damaged_and_foreign_backups() {
    let ca = p256_ca(&["QVS01"]);
    let good = std::fs::read(backup(&ca, "good.pfx")).expect("read");
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x5a;
    verify_and_restore(
        &ca,
        "backup_flipped_byte",
        &write(&ca, "flipped.pfx", &flipped),
    );
    verify_and_restore(
        &ca,
        "backup_truncated",
        &write(&ca, "truncated.pfx", &good[..good.len() / 2]),
    );
    verify_and_restore(&ca, "backup_empty", &write(&ca, "empty.pfx", b""));
    verify_and_restore(
        &ca,
        "backup_text",
        &write(&ca, "notes.pfx", b"not a PKCS#12 file at all\n"),
    );
    verify_and_restore(&ca, "backup_missing", &ca.path().join("no-such-backup.pfx"));

    // A PFX made by openssl: no qvca state, no root key.
    let pfx = openssl_pfx_without_state(&ca);
    pin!(
        "openssl_pfx_verify",
        qvca(&ca).args(["backup", "verify", path_str(&pfx)])
    );
    let target = ca.path().join("from-openssl");
    for (case, extra) in [
        ("openssl_pfx_restore", &[][..]),
        ("openssl_pfx_restore_force", &["--force"][..]),
    ] {
        pin!(
            case,
            bare_qvca()
                .current_dir(ca.path())
                .arg("--ca-dir")
                .arg(&target)
                .arg("--password-file")
                .arg(ca.password_file())
                .arg("--pfx-password-file")
                .arg(pfx_password_file(&ca))
                .arg("restore")
                .args(extra)
                .arg(&pfx)
        );
    }

    // A backup of another CA, and of this one without -y.
    let other = p256_ca(&["OTHER01"]);
    let other_backup = backup(&other, "other.pfx");
    pin!(
        "restore_different_root",
        qvca(&ca).args(["-y", "restore", path_str(&other_backup)])
    );
    let own = ca.path().join("good.pfx");
    pin!(
        "restore_same_root_without_yes",
        qvca(&ca).args(["restore", path_str(&own)])
    );
    pin!(
        "backup_keep_0",
        qvca(&ca).args(["backup", "--dir", "backups", "--keep", "0"])
    );
    pin!(
        "backup_verify_dev_zero",
        qvca(&ca).args(["backup", "verify", "/dev/zero"])
    );
}

#[test]
fn hostile_pkcs12_files() {
    let ca = p256_ca(&["QVS01"]);
    let genuine = std::fs::read(backup(&ca, "genuine.pfx")).expect("read");
    // The MAC stripped and an attacker's root (the root's serial and name) appended.
    let attacker = attackers_clear_root_pfx(&ca, &root_serial(&ca));
    let hostile = edit_pfx(&genuine, false, |safes| {
        safes.extend(content_infos(&attacker));
    });
    let file = write(&ca, "mac-stripped.pfx", &hostile);
    verify_and_restore(&ca, "mac_stripped_attackers_root", &file);
    pin!(
        "mac_stripped_attackers_root_restore_force",
        qvca(&ca).args(["-y", "restore", "--force", path_str(&file)])
    );
    // A foreign MAC-less file with clear bags: refused by backup verify and restore, shown by
    // inspect with a warning.
    let clear = write(&ca, "clear.pfx", &attackers_clear_root_pfx(&ca, "01"));
    pin!(
        "mac_less_pkcs12_verify",
        qvca(&ca).args(["backup", "verify", path_str(&clear)])
    );
    pin!(
        "mac_less_pkcs12_restore_force",
        qvca(&ca).args(["-y", "restore", "--force", path_str(&clear)])
    );
    pin!(
        "mac_less_pkcs12_inspect",
        qvca(&ca).args(["inspect", path_str(&clear)])
    );

    // KDF ceilings: scrypt at 1 GiB and p = 16 in 50 bags; a MAC of a billion iterations.
    let scrypt = scrypt_algorithm(20, 8, 16);
    let bomb = edit_pfx(&genuine, false, |safes| {
        safes.push(shrouded_key_bags(&scrypt, 50));
    });
    let file = write(&ca, "scrypt.pfx", &bomb);
    pin!(
        "scrypt_bomb_inspect",
        qvca(&ca).args(["inspect", path_str(&file)])
    );
    pin!(
        "scrypt_bomb_verify",
        qvca(&ca).args(["backup", "verify", path_str(&file)])
    );
    let mut pfx = <pkcs12::Pfx as der::Decode>::from_der(&genuine).expect("pfx");
    if let Some(mac) = pfx.mac_data.as_mut() {
        mac.iterations = 1_000_000_000;
    }
    let file = write(
        &ca,
        "mac-iterations.pfx",
        &der::Encode::to_der(&pfx).expect("der"),
    );
    pin!(
        "mac_iterations_bomb_verify",
        qvca(&ca).args(["backup", "verify", path_str(&file)])
    );
}

#[test]
fn backups_rewritten_with_their_password() {
    use qvca::domain::secret::{Password, SecretBytes};
    use qvca::pki::pkcs12::{Integrity, PfxContents, PfxEncryption, PfxKey, read_pfx, write_pfx};
    let ca = p256_ca(&["QVS01"]);
    let genuine = std::fs::read(backup(&ca, "genuine.pfx")).expect("read");
    let password = Password::new(PFX_PASSWORD);
    let archive = read_pfx(&genuine, &password, "backup", Integrity::Required).expect("open");
    attackers_clear_root_pfx(&ca, &root_serial(&ca));
    let attacker = ca.path().join("attacker");
    let pem = |name: &str| {
        let text = std::fs::read_to_string(attacker.join(name)).expect("pem");
        der::pem::decode_vec(text.as_bytes()).expect("pem").1
    };
    let attacker_key = SecretBytes::new(pem("key.pem"));
    let attacker_cert = pem("cert.pem");
    let certs: Vec<Vec<u8>> = archive
        .keys
        .iter()
        .map(|k| archive.certificate_for(k).expect("certificate").der.clone())
        .collect();
    let names: Vec<String> = archive
        .keys
        .iter()
        .map(|k| k.friendly_name.clone().unwrap_or_default())
        .collect();
    let state = archive
        .secrets
        .iter()
        .find(|s| s.friendly_name.as_deref() == Some("qvca-state"))
        .expect("state");
    let rewrite = |extra: Option<(&str, &SecretBytes, &[u8])>| {
        let mut keys: Vec<PfxKey> = archive
            .keys
            .iter()
            .zip(&certs)
            .zip(&names)
            .map(|((k, cert), name)| PfxKey {
                friendly_name: name,
                pkcs8: &k.pkcs8,
                cert_der: cert,
            })
            .collect();
        if let Some((friendly_name, pkcs8, cert_der)) = extra {
            keys.push(PfxKey {
                friendly_name,
                pkcs8,
                cert_der,
            });
        }
        let contents = PfxContents {
            keys,
            trusted: Vec::new(),
            secrets: vec![("qvca-state", state.bytes.expose())],
        };
        write_pfx(&contents, &password, PfxEncryption::Modern).expect("write")
    };
    let extra_root = write(
        &ca,
        "extra-root.pfx",
        &rewrite(Some(("QlikViewCA (2)", &attacker_key, &attacker_cert))),
    );
    verify_and_restore(&ca, "extra_root_entry", &extra_root);
    let duplicate = write(
        &ca,
        "duplicate.pfx",
        &rewrite(Some(("QVS01 (2)", &archive.keys[1].pkcs8, &certs[1]))),
    );
    // A key entry the CA state does not name at all (another certificate and key).
    attackers_clear_root_pfx(&ca, "01");
    let stranger_key = SecretBytes::new(pem("key.pem"));
    let stranger_cert = pem("cert.pem");
    let unnamed = write(
        &ca,
        "unnamed.pfx",
        &rewrite(Some(("Stranger", &stranger_key, &stranger_cert))),
    );
    pin!(
        "entry_the_state_does_not_name_verify",
        qvca(&ca).args(["backup", "verify", path_str(&unnamed)])
    );
    pin!(
        "duplicate_key_entry_verify",
        qvca(&ca).args(["backup", "verify", path_str(&duplicate)])
    );
}

#[test]
fn names_in_backups_and_foreign_pkcs12_files() {
    let ca = p256_ca(&["QVS01"]);
    let hostile = crate::trust_names::backup_naming_the_server(&ca, "/abs/path/SRV");
    pin!(
        "backup_state_names_a_path_verify",
        qvca(&ca).args(["backup", "verify", path_str(&hostile)])
    );
    let target = ca.path().join("restored");
    pin!(
        "backup_state_names_a_path_restore",
        bare_qvca()
            .current_dir(ca.path())
            .arg("--ca-dir")
            .arg(&target)
            .arg("--password-file")
            .arg(ca.password_file())
            .arg("--pfx-password-file")
            .arg(pfx_password_file(&ca))
            .args(["-y", "restore", path_str(&hostile)])
    );

    // A foreign PKCS#12 whose root CN is a path.
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
    openssl_ok(&[
        "pkcs12",
        "-export",
        "-in",
        path_str(&cert),
        "-inkey",
        path_str(&key),
        "-passout",
        &format!("pass:{PFX_PASSWORD}"),
        "-out",
        path_str(&pfx),
    ]);
    let fresh = TestCa::new();
    pin!(
        "foreign_pfx_root_cn_is_a_path",
        fresh
            .qvca()
            .arg("--pfx-password-file")
            .arg(pfx_password_file(&ca))
            .args(["-y", "restore", "--force", path_str(&pfx)])
    );
}

#[test]
fn endless_files() {
    let ca = p256_ca(&[]);
    let zero = "/dev/zero";
    for (case, args) in [
        ("dev_zero_inspect", vec!["inspect", zero]),
        ("dev_zero_license", vec!["license", "inspect", zero]),
        ("dev_zero_verify_root", vec!["verify", "--root", zero, zero]),
        ("dev_zero_verify_crl", vec!["verify", "--crl", zero]),
        ("dev_zero_verify_file", vec!["verify", zero]),
        (
            "dev_zero_from_file",
            vec!["issue", "server", "--from-file", zero],
        ),
        (
            "dev_zero_template",
            vec!["issue", "server", "QVS09", "--template", zero],
        ),
        ("dev_zero_backup_verify", vec!["backup", "verify", zero]),
    ] {
        pin!(
            case,
            ca.qvca()
                .env("QVCA_PFX_PASSWORD", "backup password")
                .args(&args)
        );
    }
    pin!(
        "dev_zero_password_file",
        ca.qvca_without_password()
            .args(["--password-file", zero, "issue", "server", "QVS09"])
    );
}
