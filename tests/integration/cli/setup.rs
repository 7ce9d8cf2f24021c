//! `setup` and `status`: idempotent runs, the license service export, and `--out-dir`.

use crate::support::{TestCa, openssl_ok, path_str, snapshot, x509_text};

// -------------------------------------------------------------------------------------- status

#[test]
fn status_is_0_without_a_ca_1_with_only_a_root_and_2_after_setup() {
    let ca = TestCa::new();
    ca.qvca().arg("status").assert().code(0).stdout("0\n");
    assert!(
        !ca.dir().exists(),
        "status must not create the CA directory"
    );

    ca.qvca()
        .args(["init", "--key-type", "p256"])
        .assert()
        .success();
    ca.qvca().arg("status").assert().code(0).stdout("1\n");

    ca.qvca().args(["setup", "QVS01"]).assert().success();
    ca.qvca().arg("status").assert().code(0).stdout("2\n");
}

#[test]
fn status_json_has_the_state_and_the_reasons() {
    let ca = TestCa::new();
    let report = ca.json(&["status"]);
    assert_eq!(report["state"], 0);
    assert_eq!(report["name"], "Initializing");
    let reasons = report["reasons"].as_array().expect("reasons");
    assert!(
        reasons.iter().any(|r| r
            .as_str()
            .is_some_and(|r| r.contains("qvca init") || r.contains("qvca setup"))),
        "{report}"
    );

    let ca = TestCa::with_setup(&["QVS01"]);
    let report = ca.json(&["status"]);
    assert_eq!(report["state"], 2);
    assert_eq!(report["name"], "Running");
    assert!(!report["reasons"].as_array().expect("reasons").is_empty());
    assert_eq!(report["servers"][0], "QVS01");
    assert_eq!(report["client"], "QVProxy");
}

// --------------------------------------------------------------------------------------- setup

#[test]
fn setup_run_twice_changes_nothing_the_second_time() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let certificates = ca.index()["certificates"].clone();
    let before = ca.snapshot();

    let report = ca.json(&["setup", "QVS01"]);
    assert!(report.get("created_root").is_none(), "{report}");
    let outcomes = report["certificates"].as_array().expect("certificates");
    assert!(outcomes.iter().all(|o| o["outcome"] == "kept"), "{report}");
    assert_eq!(report["license_service_export"]["changed"], false);

    assert_eq!(ca.index()["certificates"], certificates);
    assert_eq!(
        ca.snapshot(),
        before,
        "a second setup must not touch any file"
    );
}

#[test]
fn setup_writes_the_license_service_export() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let export = ca.dir().join("Exported Certificates");
    let root = export.join("root.pem");
    let server = export.join("server.pem");
    let key = export.join("server_key.pem");
    for file in [&root, &server, &key] {
        assert!(file.is_file(), "{} exists", file.display());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "server_key.pem mode {mode:o}");
    }

    // The exported server certificate is QVS01's, chains to root.pem, and the key is its key.
    let server_text = x509_text(&server);
    assert!(server_text.contains("Subject: CN = QVS01"), "{server_text}");
    openssl_ok(&["verify", "-CAfile", path_str(&root), path_str(&server)]);
    assert!(
        std::fs::read_to_string(&key)
            .expect("key")
            .starts_with("-----BEGIN PRIVATE KEY-----"),
        "unencrypted PKCS#8"
    );
    let cert_public = openssl_ok(&["x509", "-in", path_str(&server), "-noout", "-pubkey"]);
    let key_public = openssl_ok(&["pkey", "-in", path_str(&key), "-pubout"]);
    assert_eq!(
        cert_public, key_public,
        "server_key.pem belongs to server.pem"
    );
    assert_eq!(
        snapshot(&export).len(),
        3,
        "exactly root.pem, server.pem and server_key.pem"
    );
}

#[test]
fn a_bare_license_service_export_uses_what_setup_chose_and_long_candidate_lists_are_cut() {
    let ca = TestCa::with_setup(&["QMS01", "QVS01"]);
    let report = ca.json(&["export", "license-service"]);
    assert_eq!(report["machine"], "QMS01", "{report}");
    assert_eq!(
        report["dir"].as_str().map(std::path::Path::new),
        Some(ca.dir().join("Exported Certificates").as_path()),
        "{report}"
    );

    // Without a recorded export, a long list of candidates is sorted and cut.
    let many = crate::support::p256_ca(&[]);
    let names: Vec<String> = (1..=12).map(|i| format!("NODE{i:02}")).collect();
    many.qvca()
        .args(["issue", "server", "--key-type", "p256"])
        .args(&names)
        .assert()
        .success();
    let out = many
        .qvca()
        .args(["export", "license-service"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("NODE01, NODE02"), "{err}");
    assert!(err.contains("and 4 more"), "{err}");
    assert!(!err.contains("NODE12"), "{err}");
}

#[test]
fn out_dir_names_the_output_folder_of_setup_export_package_and_backup_alike() {
    let ca = crate::support::p256_ca(&["QVS01"]);
    let base = ca.path();
    for (args, made) in [
        (
            vec![
                "export",
                "license-service",
                "--machine",
                "QVS01",
                "--out-dir",
            ],
            "lic",
        ),
        (vec!["package", "QVS01", "--out-dir"], "pkg"),
        (vec!["backup", "--out-dir"], "bak"),
    ] {
        let dir = base.join(made);
        let out = crate::support::run(
            &ca,
            &[args.as_slice(), &[dir.to_str().expect("utf-8")]].concat(),
        );
        crate::support::assert_code(&out, 0, made);
        assert!(dir.is_dir(), "{made}");
    }
    let fresh = TestCa::new();
    let exported = fresh.path().join("exported");
    fresh
        .qvca()
        .args(["setup", "QVS01", "--out-dir"])
        .arg(&exported)
        .assert()
        .success();
    assert!(exported.join("server.pem").is_file());
}
