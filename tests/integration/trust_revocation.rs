//! Revocation and CRLs never go backwards, and destructive operations ask the same way
//! everywhere (issue 11, items 6 and 7; the root's pathLenConstraint of item 8): an older
//! backup restored over the same root keeps every revocation and the CRL numbering, `verify`
//! fails closed on a CRL it cannot use, `backup` refuses an unreadable CRL, `init --force`,
//! `renew --root` and `revoke` need `--yes` without a terminal, and `QVCA_PASSWORD` is a
//! password while `QVCA_PASSWORD_FILE` names a file. Judged with openssl where it fits.

use crate::support::{
    PASSWORD, PFX_PASSWORD, TestCa, assert_code, backup_to, bare_qvca, cert_file, crl_number,
    describe, entry_by_serial, openssl_ok, p256_ca, path_str, pfx_password_file, run, stderr, tool,
};
use serde_json::Value;
use std::path::PathBuf;

/// The serial of the newest entry named `name` (whatever its status).
fn serial_of(ca: &TestCa, name: &str) -> String {
    ca.index()["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .rev()
        .find(|e| e["name"] == name)
        .and_then(|e| e["serial"].as_str())
        .unwrap_or_else(|| panic!("no entry {name}"))
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// Item 6: restores never un-revoke, CRL numbers never go back

#[test]
fn restoring_an_older_backup_that_would_unrevoke_a_compromised_key_needs_force_and_keeps_it_revoked()
 {
    let ca = p256_ca(&["QVS01", "QVS02"]);
    let old_backup = backup_to(&ca, "old.pfx");
    let qvs01 = serial_of(&ca, "QVS01");
    assert_code(
        &run(&ca, &["-y", "revoke", "QVS01", "--reason", "keyCompromise"]),
        0,
        "revoke QVS01",
    );
    // A certificate issued after the backup and revoked: the backup has never heard of it.
    assert_code(
        &run(&ca, &["issue", "server", "QVS03", "--key-type", "p256"]),
        0,
        "issue QVS03",
    );
    let qvs03 = serial_of(&ca, "QVS03");
    assert_code(
        &run(
            &ca,
            &["-y", "revoke", "QVS03", "--reason", "cessationOfOperation"],
        ),
        0,
        "revoke QVS03",
    );
    assert_code(&run(&ca, &["crl"]), 0, "crl");
    let before = ca.snapshot();

    // Confirmed, but not forced: refused, naming what it would un-revoke; nothing changed.
    let out = run(&ca, &["-y", "restore", path_str(&old_backup)]);
    assert_code(&out, 3, "restore of an older backup without --force");
    let message = stderr(&out);
    for needle in [
        qvs01.as_str(),
        "QVS01",
        "keyCompromise",
        qvs03.as_str(),
        "--force",
    ] {
        assert!(message.contains(needle), "{needle}: {}", describe(&out));
    }
    assert_eq!(ca.snapshot(), before, "nothing changed");
    // A dry run says the same.
    let out = run(&ca, &["restore", "--dry-run", path_str(&old_backup)]);
    assert_code(&out, 3, "dry run of an older backup");

    // Forced: restored, and both revocations survive with their reasons.
    let out = run(
        &ca,
        &["-y", "--json", "restore", "--force", path_str(&old_backup)],
    );
    assert_code(&out, 0, "restore --force");
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        report["revocations_kept"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );
    let qvs01_entry = entry_by_serial(&ca, &qvs01);
    assert_eq!(qvs01_entry["status"], "revoked");
    assert_eq!(qvs01_entry["revocation"]["reason"], "keyCompromise");
    assert_eq!(entry_by_serial(&ca, &qvs03)["status"], "revoked");

    // verify (the whole CA, and the file) agrees, and so does openssl with the next CRL.
    let out = run(&ca, &["verify", path_str(&cert_file(&ca, &qvs01))]);
    assert_code(
        &out,
        5,
        "verify of the compromised certificate after restore",
    );
    assert_code(&run(&ca, &["crl"]), 0, "crl after restore");
    let crl = ca.dir().join("crl.pem");
    let listed = openssl_ok(&["crl", "-in", path_str(&crl), "-noout", "-text"]);
    assert!(
        listed.contains(&qvs01) && listed.contains(&qvs03),
        "{listed}"
    );
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
            path_str(&cert_file(&ca, &qvs01)),
        ],
    );
    assert!(!ok && text.contains("revoked"), "{text}");
    let out = run(
        &ca,
        &["backup", "verify", path_str(&backup_to(&ca, "new.pfx"))],
    );
    assert_code(&out, 0, "a backup of the restored CA verifies");
}

#[test]
fn after_restoring_an_older_backup_the_next_crl_number_is_above_every_one_issued() {
    let ca = p256_ca(&["QVS01"]);
    assert_code(&run(&ca, &["crl"]), 0, "crl 1");
    let old_backup = backup_to(&ca, "old.pfx");
    for _ in 0..3 {
        assert_code(&run(&ca, &["crl"]), 0, "crl");
    }
    let crl = ca.dir().join("crl.pem");
    let highest = crl_number(&crl);
    assert_eq!(highest, 4);
    let before = ca.snapshot();

    let out = run(&ca, &["-y", "restore", path_str(&old_backup)]);
    assert_code(&out, 3, "restore that would lower the CRL number");
    assert!(stderr(&out).contains("CRL number 1"), "{}", describe(&out));
    assert_eq!(ca.snapshot(), before, "nothing changed");

    let out = run(&ca, &["-y", "restore", "--force", path_str(&old_backup)]);
    assert_code(&out, 0, "restore --force");
    assert_eq!(ca.index()["crl_number"], highest);
    // The newest CRL came along instead of the backup's older one.
    assert_eq!(crl_number(&crl), highest);
    assert_code(&run(&ca, &["crl"]), 0, "crl after restore");
    assert_eq!(crl_number(&crl), highest + 1);
}

#[test]
fn a_backup_from_before_a_root_renewal_is_the_same_root_key_and_keeps_later_revocations() {
    let ca = p256_ca(&["QVS01"]);
    let old_backup = backup_to(&ca, "old.pfx");
    let qvs01 = serial_of(&ca, "QVS01");
    assert_code(
        &run(&ca, &["-y", "renew", "QlikViewCA", "--root"]),
        0,
        "renew --root",
    );
    assert_code(
        &run(&ca, &["-y", "revoke", "QVS01", "--reason", "keyCompromise"]),
        0,
        "revoke",
    );
    let out = run(&ca, &["-y", "restore", path_str(&old_backup)]);
    assert_code(&out, 3, "restore of a pre-renewal backup without --force");
    assert!(stderr(&out).contains(&qvs01), "{}", describe(&out));
    let out = run(&ca, &["-y", "restore", "--force", path_str(&old_backup)]);
    assert_code(&out, 0, "restore --force");
    assert_eq!(entry_by_serial(&ca, &qvs01)["status"], "revoked");
    assert_eq!(
        entry_by_serial(&ca, &qvs01)["revocation"]["reason"],
        "keyCompromise"
    );
}

// ---------------------------------------------------------------------------------------------
// Item 6: verify fails closed, backup refuses an unreadable CRL

/// Replaces the CA's CRL by a directory: unreadable even for root.
pub(crate) fn make_crl_unreadable(ca: &TestCa) -> PathBuf {
    let crl = ca.dir().join("crl.pem");
    std::fs::remove_file(&crl).expect("remove crl");
    std::fs::create_dir(&crl).expect("a directory in its place");
    crl
}

#[test]
fn verify_fails_closed_when_the_cas_crl_cannot_be_read() {
    let ca = p256_ca(&["QVS01"]);
    assert_code(&run(&ca, &["crl"]), 0, "crl");
    let valid = cert_file(&ca, &serial_of(&ca, "QVS01"));
    assert_code(
        &run(&ca, &["verify", path_str(&valid)]),
        0,
        "verify with a CRL",
    );
    let crl = make_crl_unreadable(&ca);
    for args in [vec!["verify", path_str(&valid)], vec!["verify"]] {
        let out = run(&ca, &args);
        assert_code(&out, 5, "verify with an unreadable CRL");
        let message = stderr(&out);
        assert!(message.contains(path_str(&crl)), "{}", describe(&out));
        assert!(message.contains("qvca crl"), "{}", describe(&out));
    }
    // Garbage in the CRL's place fails the same way.
    std::fs::remove_dir(&crl).expect("rmdir");
    std::fs::write(
        &crl,
        "-----BEGIN X509 CRL-----\n!!!\n-----END X509 CRL-----\n",
    )
    .expect("w");
    let out = run(&ca, &["verify", path_str(&valid)]);
    assert_code(&out, 5, "verify with a damaged CRL");
    // The CRL the index records is gone: fail closed, too.
    std::fs::remove_file(&crl).expect("rm");
    let out = run(&ca, &["verify", path_str(&valid)]);
    assert_code(&out, 5, "verify with a missing CRL");
}

/// Signs a CRL with the CA's root key whose nextUpdate has passed (python `cryptography`).
pub(crate) fn stale_crl(ca: &TestCa) -> PathBuf {
    let root_serial = serial_of(ca, "QlikViewCA");
    let key = ca.path().join("root-key.pem");
    openssl_ok(&[
        "pkey",
        "-in",
        path_str(&ca.dir().join("keys").join(format!("{root_serial}.pem"))),
        "-passin",
        &format!("pass:{PASSWORD}"),
        "-out",
        path_str(&key),
    ]);
    let out = ca.path().join("stale.pem");
    let script = r#"
import sys, datetime
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
cert = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
key = serialization.load_pem_private_key(open(sys.argv[2], "rb").read(), None)
now = datetime.datetime.now(datetime.timezone.utc)
crl = (x509.CertificateRevocationListBuilder()
       .issuer_name(cert.subject)
       .last_update(now - datetime.timedelta(days=10))
       .next_update(now - datetime.timedelta(days=1))
       .add_extension(x509.CRLNumber(99), critical=False)
       .sign(key, hashes.SHA256()))
open(sys.argv[3], "wb").write(crl.public_bytes(serialization.Encoding.PEM))
"#;
    let status = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(cert_file(ca, &root_serial))
        .arg(&key)
        .arg(&out)
        .status()
        .expect("python3 with cryptography");
    assert!(status.success(), "python3 could not sign the stale CRL");
    out
}

#[test]
fn verify_fails_closed_when_the_crl_is_past_its_next_update() {
    let ca = p256_ca(&["QVS01"]);
    assert_code(&run(&ca, &["crl"]), 0, "crl");
    let valid = cert_file(&ca, &serial_of(&ca, "QVS01"));
    let stale = stale_crl(&ca);
    // Given explicitly ...
    let out = run(
        &ca,
        &["verify", "--crl", path_str(&stale), path_str(&valid)],
    );
    assert_code(&out, 5, "verify --crl with a stale CRL");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nextUpdate"),
        "{}",
        describe(&out)
    );
    // ... and as the CA's own CRL.
    std::fs::copy(&stale, ca.dir().join("crl.pem")).expect("copy");
    let out = run(&ca, &["verify", path_str(&valid)]);
    assert_code(&out, 5, "verify with the CA's stale CRL");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nextUpdate"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_certificate_revoked_in_the_index_is_reported_revoked_before_any_crl_is_written() {
    let ca = p256_ca(&["QVS01", "QVS02"]);
    let revoked = cert_file(&ca, &serial_of(&ca, "QVS01"));
    let valid = cert_file(&ca, &serial_of(&ca, "QVS02"));
    assert_code(
        &run(&ca, &["-y", "revoke", "QVS01", "--reason", "keyCompromise"]),
        0,
        "revoke",
    );
    assert!(!ca.dir().join("crl.pem").exists(), "no CRL was written");
    let out = run(&ca, &["verify", path_str(&revoked)]);
    assert_code(&out, 5, "verify of a certificate revoked in the index");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("revoked") && stdout.contains("keyCompromise"),
        "{}",
        describe(&out)
    );
    assert_code(&run(&ca, &["verify", path_str(&valid)]), 0, "the other one");
}

#[test]
fn backup_fails_when_the_crl_exists_but_cannot_be_read() {
    let ca = p256_ca(&["QVS01"]);
    assert_code(&run(&ca, &["crl"]), 0, "crl");
    let crl = make_crl_unreadable(&ca);
    let backups = ca.path().join("backups");
    let out = run(&ca, &["backup", "--dir", path_str(&backups)]);
    assert_code(&out, 1, "backup with an unreadable CRL");
    assert!(stderr(&out).contains(path_str(&crl)), "{}", describe(&out));
    let written: Vec<_> = std::fs::read_dir(&backups)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(written.is_empty(), "nothing written: {written:?}");
    // No CRL at all is fine: the backup simply has none.
    std::fs::remove_dir(&crl).expect("rmdir");
    let mut index = ca.index();
    index.as_object_mut().expect("object").remove("last_crl");
    std::fs::write(
        ca.dir().join("index.json"),
        serde_json::to_vec_pretty(&index).expect("json"),
    )
    .expect("write index");
    assert_code(
        &run(&ca, &["backup", "--dir", path_str(&backups)]),
        0,
        "backup without a CRL",
    );
}

// ---------------------------------------------------------------------------------------------
// Item 7: one confirmation for every command that replaces or revokes

#[test]
fn init_force_renew_root_and_revoke_without_a_terminal_need_yes() {
    let ca = p256_ca(&["QVS01"]);
    let before = ca.snapshot();
    for args in [
        vec!["init", "--force", "--key-type", "p256"],
        vec!["renew", "QlikViewCA", "--root"],
        vec!["revoke", "QVS01"],
    ] {
        let out = run(&ca, &args);
        assert_code(&out, 3, &format!("{args:?} without --yes"));
        let message = stderr(&out);
        assert!(
            message.contains("--yes") && message.contains("no terminal"),
            "{args:?}: {}",
            describe(&out)
        );
        assert_eq!(ca.snapshot(), before, "{args:?} changed the CA");
    }

    let root = serial_of(&ca, "QlikViewCA");
    assert_code(
        &run(&ca, &["-y", "renew", "QlikViewCA", "--root"]),
        0,
        "renew --root -y",
    );
    assert_ne!(serial_of(&ca, "QlikViewCA"), root, "renewed");
    assert_code(&run(&ca, &["-y", "revoke", "QVS01"]), 0, "revoke -y");

    let out = run(&ca, &["--yes", "init", "--force", "--key-type", "p256"]);
    assert_code(&out, 0, "init --force --yes");
    let message = stderr(&out);
    assert!(
        message.contains("SecretsKey") && message.contains("secrets rewrap"),
        "init --force says what happens to tokens: {}",
        describe(&out)
    );
    assert_eq!(
        ca.index()["certificates"].as_array().map(Vec::len),
        Some(1),
        "a new CA"
    );
}

// ---------------------------------------------------------------------------------------------
// Item 7: QVCA_PASSWORD is a password, QVCA_PASSWORD_FILE names a file

#[test]
fn qvca_password_is_a_password_and_qvca_password_file_names_a_file() {
    let ca = p256_ca(&[]);
    let issue = |name: &str, env: &[(&str, &str)]| {
        let mut cmd = ca.qvca_without_password();
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(["issue", "server", name, "--key-type", "p256"])
            .output()
            .expect("run")
    };
    let password_file = path_str(&ca.password_file()).to_owned();
    assert_code(
        &issue("ENV01", &[("QVCA_PASSWORD", PASSWORD)]),
        0,
        "QVCA_PASSWORD holding the password",
    );
    assert_code(
        &issue("ENV02", &[("QVCA_PASSWORD_FILE", &password_file)]),
        0,
        "QVCA_PASSWORD_FILE naming the password file",
    );
    // A file name in QVCA_PASSWORD is a (wrong) password, never read as a file.
    assert_code(
        &issue("ENV03", &[("QVCA_PASSWORD", &password_file)]),
        4,
        "a file name in QVCA_PASSWORD",
    );
    // The file variable comes before the password variable.
    assert_code(
        &issue(
            "ENV04",
            &[
                ("QVCA_PASSWORD_FILE", &password_file),
                ("QVCA_PASSWORD", "not the password"),
            ],
        ),
        0,
        "QVCA_PASSWORD_FILE before QVCA_PASSWORD",
    );
    // An empty or unreadable file variable is an error naming it, not a fall-through.
    for bad in ["", "/nonexistent/ca-password"] {
        let out = issue(
            "ENV05",
            &[("QVCA_PASSWORD_FILE", bad), ("QVCA_PASSWORD", PASSWORD)],
        );
        assert_code(&out, 1, "a bad QVCA_PASSWORD_FILE");
        assert!(
            stderr(&out).contains("QVCA_PASSWORD_FILE"),
            "{}",
            describe(&out)
        );
    }
    // The PKCS#12 password the same way.
    let pfx_file = pfx_password_file(&ca);
    let backup = ca.path().join("b.pfx");
    ca.qvca()
        .env("QVCA_PFX_PASSWORD_FILE", &pfx_file)
        .args(["backup", "--out", path_str(&backup)])
        .assert()
        .success();
    bare_qvca()
        .env("QVCA_PFX_PASSWORD", PFX_PASSWORD)
        .args(["backup", "verify", path_str(&backup)])
        .assert()
        .success();

    // Without any source and without a terminal: exit 1 at once, naming all three.
    let out = issue("ENV06", &[]);
    assert_code(&out, 1, "no password source");
    for needle in ["--password-file", "QVCA_PASSWORD_FILE", "QVCA_PASSWORD "] {
        assert!(
            stderr(&out).contains(needle),
            "{needle}: {}",
            describe(&out)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Item 8: the root signs only leaves

#[test]
fn the_root_has_path_length_zero_also_when_renewed_and_its_leaves_still_verify() {
    let ca = p256_ca(&["QVS01"]);
    let leaf = cert_file(&ca, &serial_of(&ca, "QVS01"));
    for round in ["created", "renewed"] {
        let root = ca.root_pem();
        let text = openssl_ok(&["x509", "-in", path_str(&root), "-noout", "-text"]);
        assert!(text.contains("CA:TRUE, pathlen:0"), "{round} root: {text}");
        let verified = openssl_ok(&[
            "verify",
            "-x509_strict",
            "-CAfile",
            path_str(&root),
            path_str(&leaf),
        ]);
        assert!(verified.contains("OK"), "{verified}");
        assert_code(&run(&ca, &["verify"]), 0, "qvca verify");
        assert_code(
            &run(&ca, &["-y", "renew", "QlikViewCA", "--root"]),
            0,
            "renew --root",
        );
    }
}
