//! `list`, `show` and `inspect`: the seed table, the `--json` rows, filters, and certificate
//! details of PEM and DER files.

use super::{certificate_file, issue_server};
use crate::support::{TestCa, lab_ca, listed, openssl_ok, path_str};
use predicates::prelude::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

/// An openssl fingerprint (`-sha1` or `-sha256`) as upper-case hex without colons.
fn openssl_fingerprint(cert: &Path, digest: &str) -> String {
    let out = openssl_ok(&[
        "x509",
        "-in",
        path_str(cert),
        "-noout",
        "-fingerprint",
        digest,
    ]);
    let (_, hex) = out.trim().split_once('=').expect("openssl prints NAME=HEX");
    hex.replace(':', "").to_ascii_uppercase()
}

// ---------------------------------------------------------------------------------------- list

#[test]
fn list_shows_the_seed_table() {
    let ca = TestCa::with_setup(&["QVS01"]);

    let out = ca.qvca().arg("list").output().expect("run");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let header = text.lines().next().expect("a header line");
    for column in [
        "Location",
        "Issued To",
        "Issued By",
        "Description",
        "Serial",
        "Expires",
        "Status",
    ] {
        assert!(header.contains(column), "column {column} in {header:?}");
    }
    assert!(
        text.contains("Trusted Root Certification Authorities"),
        "{text}"
    );
    assert!(text.contains("Local Computer / Personal"), "{text}");
    for name in ["QVS01", "QVProxy", "QlikViewCA"] {
        assert!(text.contains(name), "{name} in {text}");
    }
    assert_eq!(text.lines().count(), 4, "a header and three rows:\n{text}");
}

#[test]
fn list_json_has_one_object_per_certificate_with_the_seed_fields() {
    let ca = TestCa::with_setup(&["QVS01"]);

    let rows = listed(&ca, false);
    let kinds: Vec<&str> = rows
        .iter()
        .map(|r| r["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["server", "client", "root"], "the seed's order");
    let expected = [
        ("QVS01", "Server", "Local Computer / Personal"),
        ("QVProxy", "Client", "Local Computer / Personal"),
        (
            "QlikViewCA",
            "Root",
            "Local Computer / Trusted Root Certification Authorities",
        ),
    ];
    for (row, (issued_to, description, location)) in rows.iter().zip(expected) {
        assert_eq!(row["issued_to"], issued_to);
        assert_eq!(row["issued_by"], "QlikViewCA");
        assert_eq!(row["description"], description);
        assert_eq!(row["location"], location);
        assert_eq!(row["status"], "valid");
        assert!(row["serial"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(row["expires"].as_str().is_some_and(|s| s.len() >= 10));
    }
}

#[test]
fn list_piped_into_head_prints_the_header_first_and_exits_cleanly() {
    let ca = TestCa::with_setup(&["QVS01"]);
    let spawn_list = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_qvca"))
            .env_remove("QVCA_DIR")
            .env_remove("QVCA_PASSWORD")
            .arg("--ca-dir")
            .arg(ca.dir())
            .arg("list")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn qvca list")
    };

    // `qvca list | head -1`: the reader takes one line and goes away.
    let mut child = spawn_list();
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("read a line");
    assert!(first.starts_with("Location"), "{first:?}");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0));

    // A reader that is gone before qvca writes anything (a closed pipe).
    let mut child = spawn_list();
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a closed stdout is not an error: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

// ------------------------------------------------------------------------------ show, inspect

#[test]
fn show_finds_a_certificate_by_name_in_any_case_and_by_serial() {
    let ca = lab_ca();
    let serial = issue_server(&ca, "QVS01");

    for target in [
        "QVS01",
        "qvs01",
        serial.as_str(),
        &serial.to_ascii_lowercase(),
    ] {
        let shown = ca.json(&["show", target]);
        assert_eq!(shown["entry"]["serial"], serial.as_str(), "show {target}");
        assert_eq!(shown["entry"]["name"], "QVS01");
        assert_eq!(shown["details"]["dns_names"][0], "QVS01");
    }
    ca.qvca()
        .args(["show", "qvs01"])
        .assert()
        .success()
        .stdout(predicate::str::contains("QVS01").and(predicate::str::contains(&serial)));
}

#[test]
fn show_of_an_unknown_name_is_not_found() {
    let ca = lab_ca();
    ca.qvca()
        .args(["show", "NOPE"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("NOPE").and(predicate::str::contains("list")));
}

fn assert_inspect_reports(ca: &TestCa, file: &Path, pem: &Path) {
    let out = ca.qvca().arg("inspect").arg(file).output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    for expected in [
        "CN=QVS01",
        "CN=QlikViewCA",
        "DNS:QVS01",
        "digitalSignature",
        "serverAuth",
        "clientAuth",
        "CA:FALSE",
    ] {
        assert!(text.contains(expected), "{expected} in:\n{text}");
    }
    let sha1 = openssl_fingerprint(pem, "-sha1");
    let sha256 = openssl_fingerprint(pem, "-sha256");
    assert!(text.contains(&sha1), "SHA-1 thumbprint {sha1} in:\n{text}");
    assert!(
        text.contains(&sha256),
        "SHA-256 fingerprint {sha256} in:\n{text}"
    );

    let json = ca.json(&["inspect", path_str(file)]);
    let details = &json["certificates"][0];
    assert_eq!(details["sha1_thumbprint"], sha1.as_str());
    assert_eq!(details["sha256_fingerprint"], sha256.as_str());
    assert_eq!(details["subject_cn"], "QVS01");
}

#[test]
fn inspect_reports_the_details_of_a_pem_certificate() {
    let ca = lab_ca();
    issue_server(&ca, "QVS01");
    let pem = certificate_file(&ca, "QVS01");
    assert_inspect_reports(&ca, &pem, &pem);
}

#[test]
fn inspect_reads_a_der_certificate_too() {
    let ca = lab_ca();
    issue_server(&ca, "QVS01");
    let pem = certificate_file(&ca, "QVS01");
    let der = ca.path().join("qvs01.cer");
    openssl_ok(&[
        "x509",
        "-in",
        path_str(&pem),
        "-outform",
        "DER",
        "-out",
        path_str(&der),
    ]);
    assert_inspect_reports(&ca, &der, &pem);
}

#[test]
fn list_filters_by_kind_status_and_expiry_and_show_takes_a_serial_prefix() {
    let ca = crate::support::p256_ca(&["QVS01", "QVS02"]);
    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["list"];
        all.extend_from_slice(args);
        ca.json(&all)["certificates"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| r["issued_to"].as_str().expect("name").to_owned())
            .collect()
    };
    assert_eq!(names(&["--kind", "server"]), ["QVS01", "QVS02"]);
    assert_eq!(names(&["--kind", "client"]), ["QVProxy"]);
    assert_eq!(names(&["--status", "revoked"]), Vec::<String>::new());
    assert_eq!(names(&["--expiring-within", "30"]), Vec::<String>::new());
    assert_eq!(names(&["--expiring-within", "36500"]).len(), 4);
    ca.qvca().args(["-y", "revoke", "QVS02"]).assert().success();
    assert_eq!(names(&["--status", "revoked"]), ["QVS02"]);
    let out = ca
        .qvca()
        .args(["list", "--kind", "nonsense"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));

    // show and revoke accept a unique serial prefix of at least 8 hex digits.
    let serial = ca.json(&["show", "QVS01"])["entry"]["serial"]
        .as_str()
        .expect("serial")
        .to_owned();
    let shown = ca.json(&["show", &serial[..8]]);
    assert_eq!(shown["entry"]["serial"], serial.as_str(), "{shown}");
    let out = ca
        .qvca()
        .args(["show", &serial[..7]])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(6), "7 digits are not a prefix");
}
