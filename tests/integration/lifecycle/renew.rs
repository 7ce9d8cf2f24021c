//! Renewal of leaves (new serial and key, key type kept, license service export refreshed,
//! `--expiring-within`) and of the root (same key, so issued certificates and secrets stay valid).

use super::{
    active_or_revoked_serial, check_status, doctor, extension_value, key_file, other_dir, run_code,
};
use crate::support::{
    TestCa, active_serial, assert_code, cert_file, cert_public_key, describe, entries,
    entry_by_serial, json_of, key_public_key, listed, openssl_ok, p256_ca, path_str, run, snapshot,
    stderr, stdout, tool,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The SHA-256 fingerprint of a certificate file (so PEM formatting does not matter).
fn fingerprint(cert: &Path) -> String {
    openssl_ok(&[
        "x509",
        "-in",
        path_str(cert),
        "-noout",
        "-fingerprint",
        "-sha256",
    ])
}

// ------------------------------------------------------------------------------------------ renew

#[test]
fn renewing_a_server_gives_a_new_serial_and_key_and_keeps_the_old_one_listed_as_superseded() {
    let ca = p256_ca(&["QVS01"]);
    let old = active_serial(&ca, "QVS01");
    let out = run_code(&ca, &["--json", "renew", "QVS01"], 0);
    let report = json_of(&out);
    let result = &report["results"][0];
    assert_eq!(result["outcome"], "issued", "{report}");
    assert_eq!(result["supersedes"], old.as_str());
    let new = active_serial(&ca, "QVS01");
    assert_eq!(result["serial"], new.as_str());
    assert_ne!(new, old);

    // A new key: openssl sees another public key, and the new key file belongs to the new cert.
    let old_public = cert_public_key(&cert_file(&ca, &old));
    let new_public = cert_public_key(&cert_file(&ca, &new));
    assert_ne!(old_public, new_public);
    assert_eq!(
        key_public_key(
            &key_file(&ca, &new),
            &format!("file:{}", ca.password_file().display())
        ),
        new_public
    );
    let subject = openssl_ok(&[
        "x509",
        "-in",
        path_str(&cert_file(&ca, &new)),
        "-noout",
        "-subject",
        "-ext",
        "subjectAltName",
    ]);
    assert!(
        subject.contains("CN = QVS01") && subject.contains("DNS:QVS01"),
        "{subject}"
    );

    let all = listed(&ca, true);
    let old_row = all
        .iter()
        .find(|r| r["serial"] == old.as_str())
        .expect("the old certificate is still listed with --all");
    assert_eq!(old_row["status"], "superseded");
    assert!(
        listed(&ca, false)
            .iter()
            .all(|r| r["serial"] != old.as_str())
    );

    // The human output says what happened to the old one and what to do about it.
    let ca2 = p256_ca(&["QVS01"]);
    let old2 = active_serial(&ca2, "QVS01");
    let out = run_code(&ca2, &["renew", "QVS01"], 0);
    let all_output = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all_output.contains("superseded"), "{all_output}");
    assert!(all_output.contains("qvca revoke"), "{all_output}");
    assert!(all_output.contains(&old2), "{all_output}");
}

#[test]
fn renewing_keeps_the_key_type_of_the_certificate() {
    let ca = p256_ca(&["QVS01"]);
    run_code(&ca, &["renew", "QVS01", "QVProxy"], 0);
    for name in ["QVS01", "QVProxy"] {
        let serial = active_serial(&ca, name);
        assert_eq!(entry_by_serial(&ca, &serial)["key_type"], "p256", "{name}");
        let text = openssl_ok(&[
            "x509",
            "-in",
            path_str(&cert_file(&ca, &serial)),
            "-noout",
            "-text",
        ]);
        assert!(text.contains("prime256v1"), "{name} is not P-256: {text}");
    }
}

#[test]
fn renewing_the_exported_server_refreshes_the_license_service_export_and_reminds_to_restart() {
    let ca = p256_ca(&["QVS01", "QVS02"]);
    let export = ca.path().join("exported");
    run_code(
        &ca,
        &[
            "export",
            "license-service",
            "--machine",
            "QVS01",
            "--out",
            path_str(&export),
        ],
        0,
    );

    // Renewing another machine leaves the export alone and says nothing about restarts.
    let before = snapshot(&export);
    let out = run_code(&ca, &["renew", "QVS02"], 0);
    assert_eq!(snapshot(&export), before);
    assert!(!stderr(&out).contains("Restart"), "{}", describe(&out));

    let out = run_code(&ca, &["renew", "QVS01"], 0);
    let new = cert_file(&ca, &active_serial(&ca, "QVS01"));
    assert_eq!(fingerprint(&export.join("server.pem")), fingerprint(&new));
    let exported_key = openssl_ok(&[
        "pkey",
        "-in",
        path_str(&export.join("server_key.pem")),
        "-pubout",
    ]);
    assert_eq!(exported_key, cert_public_key(&new));
    let err = stderr(&out);
    assert!(
        err.contains(
            "Restart the QlikView Management Service (QMS) before the Qlik License Service"
        ),
        "{}",
        describe(&out)
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(export.join("server_key.pem"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let (_, report) = doctor(&ca, &[]);
    assert_eq!(check_status(&report, "license-service-export"), "ok");
}

#[test]
fn renewing_from_another_directory_refreshes_a_license_service_export_made_with_a_relative_path() {
    let ca = p256_ca(&["QVS01"]);
    run_code(
        &ca,
        &[
            "export",
            "license-service",
            "--machine",
            "QVS01",
            "--out",
            "exported",
        ],
        0,
    );
    let export = ca.path().join("exported");
    assert!(export.join("server.pem").is_file());

    let elsewhere = other_dir(&ca);
    let out = ca
        .qvca()
        .args(["renew", "QVS01"])
        .current_dir(&elsewhere)
        .output()
        .expect("run");
    assert_code(&out, 0, "renew");
    assert!(
        !elsewhere.join("exported").exists(),
        "a second export (with an unencrypted key) appeared in the current directory"
    );
    let new = cert_file(&ca, &active_serial(&ca, "QVS01"));
    assert_eq!(fingerprint(&export.join("server.pem")), fingerprint(&new));
}

#[test]
fn renew_expiring_within_picks_exactly_the_valid_ones_due_and_then_has_nothing_to_do() {
    let ca = TestCa::new();
    run_code(&ca, &["init", "--key-type", "p256"], 0);
    run_code(
        &ca,
        &["issue", "server", "LONG1", "LONG2", "--key-type", "p256"],
        0,
    );
    run_code(
        &ca,
        &[
            "issue",
            "server",
            "SHORT1",
            "SHORT2",
            "GONE",
            "--days",
            "10",
            "--key-type",
            "p256",
        ],
        0,
    );
    run_code(
        &ca,
        &["issue", "client", "--days", "10", "--key-type", "p256"],
        0,
    );
    // A revoked certificate is not renewed, however soon it expires.
    run_code(&ca, &["-y", "revoke", "GONE"], 0);
    let long: Vec<String> = ["LONG1", "LONG2", "QlikViewCA"]
        .iter()
        .map(|n| active_serial(&ca, n))
        .collect();
    let due: BTreeMap<String, String> = ["SHORT1", "SHORT2", "QVProxy"]
        .iter()
        .map(|n| ((*n).to_owned(), active_serial(&ca, n)))
        .collect();

    let report = ca.json(&["renew", "--expiring-within", "30"]);
    let renewed: BTreeMap<String, String> = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            assert_eq!(r["outcome"], "issued", "{report}");
            (
                r["name"].as_str().expect("name").to_owned(),
                r["supersedes"].as_str().expect("supersedes").to_owned(),
            )
        })
        .collect();
    assert_eq!(renewed, due, "{report}");
    for serial in &long {
        assert_eq!(entry_by_serial(&ca, serial)["status"], "active");
    }
    for serial in due.values() {
        assert_eq!(entry_by_serial(&ca, serial)["status"], "superseded");
    }
    assert_eq!(
        entry_by_serial(&ca, &active_or_revoked_serial(&ca, "GONE"))["status"],
        "revoked"
    );

    // Nothing is due any more: exit 0 and not a byte changes.
    let before = ca.snapshot();
    let out = run_code(&ca, &["renew", "--expiring-within", "30"], 0);
    assert!(stdout(&out).contains("nothing"), "{}", describe(&out));
    let report = ca.json(&["renew", "--expiring-within", "30"]);
    assert_eq!(report["results"], serde_json::json!([]));
    assert_eq!(ca.snapshot(), before);
}

#[test]
fn renew_needs_names_or_expiring_within_and_unknown_names_are_not_found() {
    let ca = p256_ca(&["QVS01"]);
    let before = ca.snapshot();
    run_code(&ca, &["renew"], 2);
    run_code(&ca, &["renew", "QVS01", "--expiring-within", "30"], 2);
    run_code(&ca, &["renew", "QVS99"], 6);
    assert_eq!(ca.snapshot(), before);
}

#[test]
fn renewing_the_root_needs_the_root_flag() {
    let ca = p256_ca(&["QVS01"]);
    let before = ca.snapshot();
    let out = run_code(&ca, &["renew", "QlikViewCA"], 2);
    assert!(stderr(&out).contains("--root"), "{}", describe(&out));
    let out = run_code(&ca, &["renew", "QVS01", "--root"], 2);
    assert!(stderr(&out).contains("QVS01"), "{}", describe(&out));
    assert_eq!(ca.snapshot(), before);
}

#[test]
fn renewing_the_root_succeeds_when_the_exported_machine_was_revoked() {
    let ca = p256_ca(&["QVS01", "QVS02"]);
    run_code(&ca, &["export", "license-service", "--machine", "QVS01"], 0);
    run_code(
        &ca,
        &["-y", "revoke", "QVS01", "--reason", "keyCompromise"],
        0,
    );
    let old_root = active_serial(&ca, "QlikViewCA");

    let out = run(&ca, &["-y", "renew", "QlikViewCA", "--root"]);
    let renewed = active_serial(&ca, "QlikViewCA") != old_root;
    assert!(renewed, "the root was not renewed: {}", describe(&out));
    // The root was renewed, so the command succeeded; the export is a matter for a warning.
    assert_code(
        &out,
        0,
        "renew --root after the exported machine was revoked",
    );
}

#[test]
fn renewing_the_root_keeps_its_key_so_issued_certificates_and_secrets_stay_valid() {
    let ca = p256_ca(&["QVS01"]);
    let export = ca.path().join("exported");
    run_code(
        &ca,
        &[
            "export",
            "license-service",
            "--machine",
            "QVS01",
            "--out",
            path_str(&export),
        ],
        0,
    );
    run_code(&ca, &["-y", "revoke", "QVProxy"], 0);
    let leaves: Vec<PathBuf> = entries(&ca)
        .iter()
        .filter(|e| e["kind"] != "root")
        .map(|e| cert_file(&ca, e["serial"].as_str().expect("serial")))
        .collect();
    let old_serial = active_serial(&ca, "QlikViewCA");
    let old_root = ca.path().join("old-root.pem");
    std::fs::copy(ca.root_pem(), &old_root).expect("copy");
    let kid_before = ca.json(&["secrets", "derive"])["kid"].clone();
    let token = ca
        .qvca()
        .args(["secrets", "encrypt"])
        .write_stdin("Server=db01;Password=s3cret")
        .output()
        .expect("encrypt");
    assert_code(&token, 0, "encrypt");
    let token = stdout(&token);

    // Without a terminal and without -y it goes ahead: the key is kept, nothing is lost.
    let out = run_code(&ca, &["-y", "--json", "renew", "QlikViewCA", "--root"], 0);
    let report = json_of(&out);
    assert_eq!(report["old_serial"], old_serial.as_str());
    assert_eq!(report["key_kept"], true);
    let new_serial = active_serial(&ca, "QlikViewCA");
    assert_eq!(report["new_serial"], new_serial.as_str());
    assert_ne!(new_serial, old_serial);

    let new_root = ca.dir().join("certs").join(format!("{new_serial}.pem"));
    assert_eq!(cert_public_key(&new_root), cert_public_key(&old_root));
    assert_eq!(
        extension_value(&new_root, "subjectKeyIdentifier"),
        extension_value(&old_root, "subjectKeyIdentifier")
    );
    let serial_line = openssl_ok(&["x509", "-in", path_str(&new_root), "-noout", "-serial"]);
    assert_eq!(serial_line.trim(), format!("serial={new_serial}"));
    let subject = openssl_ok(&[
        "x509",
        "-in",
        path_str(&new_root),
        "-noout",
        "-subject",
        "-issuer",
    ]);
    assert!(
        subject.contains("subject=CN = QlikViewCA") && subject.contains("issuer=CN = QlikViewCA")
    );

    let all = listed(&ca, true);
    let row = |serial: &str| {
        all.iter()
            .find(|r| r["serial"] == serial)
            .unwrap_or_else(|| panic!("{serial} not listed"))
            .clone()
    };
    assert_eq!(row(&old_serial)["status"], "superseded");
    assert_eq!(row(&new_serial)["status"], "valid");

    // Every leaf issued before, the revoked one too, chains to the NEW root for openssl.
    for leaf in &leaves {
        let (ok, text) = tool(
            "openssl",
            &["verify", "-CAfile", path_str(&new_root), path_str(leaf)],
        );
        assert!(ok, "{}: {text}", leaf.display());
    }
    // A CRL made now is signed by the new root and openssl takes it with the new root.
    run_code(&ca, &["crl"], 0);
    let crl = ca.dir().join("crl.pem");
    let (ok, text) = tool(
        "openssl",
        &[
            "crl",
            "-in",
            path_str(&crl),
            "-CAfile",
            path_str(&new_root),
            "-noout",
        ],
    );
    assert!(ok && text.contains("verify OK"), "{text}");

    // The SecretsKey is the same, and tokens made before still decrypt.
    assert_eq!(ca.json(&["secrets", "derive"])["kid"], kid_before);
    let plain = ca
        .qvca()
        .args(["secrets", "decrypt"])
        .write_stdin(token)
        .output()
        .expect("decrypt");
    assert_code(&plain, 0, "decrypt");
    assert_eq!(stdout(&plain).trim(), "Server=db01;Password=s3cret");

    // The license-service export now carries the new root.
    assert_eq!(
        fingerprint(&export.join("root.pem")),
        fingerprint(&new_root)
    );
    let (_, report) = doctor(&ca, &[]);
    assert_eq!(check_status(&report, "license-service-export"), "ok");
    assert_eq!(check_status(&report, "keys-match"), "ok");
}
