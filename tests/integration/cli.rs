//! The everyday commands through the real binary: init, issue, list, show, inspect, verify,
//! status and setup, their exit codes, their files and their `--json` shapes. openssl judges the
//! certificates wherever a property of the certificate itself is claimed.

use crate::support::{TestCa, bare_qvca, openssl_ok, snapshot, tool};
use predicates::prelude::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// A CA for tests where neither the password nor the key type matters (fast: P-256, no password).
fn lab_ca() -> TestCa {
    let ca = TestCa::new();
    ca.qvca()
        .args(["init", "--no-password", "--key-type", "p256"])
        .assert()
        .success();
    ca
}

/// Issues a P-256 Server certificate and returns its serial.
fn issue_server(ca: &TestCa, machine: &str) -> String {
    let report = ca.json(&["issue", "server", machine, "--key-type", "p256"]);
    assert_eq!(report["results"][0]["outcome"], "issued", "{report}");
    report["results"][0]["serial"]
        .as_str()
        .expect("serial")
        .to_owned()
}

/// The PEM file of a certificate of the CA, as `show` reports it.
fn certificate_file(ca: &TestCa, name_or_serial: &str) -> PathBuf {
    let shown = ca.json(&["show", name_or_serial]);
    PathBuf::from(
        shown["certificate_file"]
            .as_str()
            .expect("certificate_file"),
    )
}

/// `openssl x509 -noout -text` of a PEM certificate.
fn openssl_text(cert: &Path) -> String {
    openssl_ok(&["x509", "-in", path_str(cert), "-noout", "-text"])
}

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

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

/// The `certificates` array of `list --json` (optionally `--all`).
fn listed(ca: &TestCa, all: bool) -> Vec<Value> {
    let args: &[&str] = if all { &["list", "--all"] } else { &["list"] };
    ca.json(args)["certificates"]
        .as_array()
        .expect("certificates array")
        .clone()
}

fn stdout_json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

// ---------------------------------------------------------------------------------------- init

#[test]
fn init_creates_a_single_qlikviewca_root() {
    let ca = TestCa::new();
    ca.qvca().arg("init").assert().success();

    assert!(ca.dir().join("index.json").is_file());
    let rows = listed(&ca, false);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["kind"], "root");
    assert_eq!(rows[0]["issued_to"], "QlikViewCA");
    assert_eq!(rows[0]["issued_by"], "QlikViewCA");
    assert_eq!(rows[0]["status"], "valid");

    let text = openssl_text(&certificate_file(&ca, "QlikViewCA"));
    assert!(text.contains("Subject: CN = QlikViewCA"), "{text}");
    assert!(text.contains("Issuer: CN = QlikViewCA"), "{text}");
    assert!(text.contains("CA:TRUE"), "{text}");
    assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
    assert!(
        text.contains("Public-Key: (2048 bit)"),
        "default key: {text}"
    );
    assert!(text.contains("sha256WithRSAEncryption"), "{text}");
}

#[test]
fn init_with_cn_gives_the_root_that_name() {
    let ca = TestCa::new();
    ca.qvca()
        .args([
            "init",
            "--no-password",
            "--key-type",
            "p256",
            "--cn",
            "MyCA",
        ])
        .assert()
        .success();

    let rows = listed(&ca, false);
    assert_eq!(rows[0]["issued_to"], "MyCA");
    let text = openssl_text(&certificate_file(&ca, "MyCA"));
    assert!(text.contains("Subject: CN = MyCA"), "{text}");
}

#[test]
fn init_with_key_type_p384_makes_an_ecdsa_p384_root() {
    let ca = TestCa::new();
    ca.qvca()
        .args(["init", "--no-password", "--key-type", "p384"])
        .assert()
        .success();

    let text = openssl_text(&certificate_file(&ca, "QlikViewCA"));
    assert!(text.contains("id-ecPublicKey"), "{text}");
    assert!(text.contains("Public-Key: (384 bit)"), "{text}");
    assert!(text.contains("P-384"), "{text}");
    assert!(text.contains("ecdsa-with-SHA384"), "{text}");
}

#[test]
fn init_with_days_30_makes_a_root_valid_for_30_days() {
    let ca = TestCa::new();
    ca.qvca()
        .args([
            "init",
            "--no-password",
            "--key-type",
            "p256",
            "--days",
            "30",
        ])
        .assert()
        .success();

    let cert = certificate_file(&ca, "QlikViewCA");
    let day = 24 * 60 * 60;
    // -checkend N succeeds when the certificate is still valid N seconds from now.
    let (valid_in_29_days, _) = tool(
        "openssl",
        &[
            "x509",
            "-in",
            path_str(&cert),
            "-noout",
            "-checkend",
            &(29 * day).to_string(),
        ],
    );
    let (valid_in_31_days, _) = tool(
        "openssl",
        &[
            "x509",
            "-in",
            path_str(&cert),
            "-noout",
            "-checkend",
            &(31 * day).to_string(),
        ],
    );
    assert!(
        valid_in_29_days,
        "a 30-day root must still be valid in 29 days"
    );
    assert!(
        !valid_in_31_days,
        "a 30-day root must have expired in 31 days"
    );
}

#[test]
fn init_twice_is_refused_and_leaves_the_ca_untouched() {
    let ca = lab_ca();
    let before = ca.snapshot();

    ca.qvca()
        .args(["init", "--no-password", "--key-type", "p256"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("--force"));

    assert_eq!(
        ca.snapshot(),
        before,
        "a refused init must not change the CA"
    );
}

#[test]
fn init_force_replaces_the_ca_and_keeps_the_old_one_beside_it() {
    let ca = lab_ca();
    let old_index = std::fs::read(ca.dir().join("index.json")).expect("index");
    let old_root = ca.index()["certificates"][0]["serial"].clone();

    ca.qvca()
        .args([
            "-y",
            "init",
            "--no-password",
            "--key-type",
            "p256",
            "--force",
        ])
        .assert()
        .success();

    assert_ne!(
        ca.index()["certificates"][0]["serial"],
        old_root,
        "a new root"
    );
    let aside: Vec<PathBuf> = std::fs::read_dir(ca.path())
        .expect("scratch dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("ca.replaced-") && n.len() > "ca.replaced-".len())
        })
        .collect();
    assert_eq!(aside.len(), 1, "one <ca-dir>.replaced-<timestamp> sibling");
    assert!(aside[0].is_dir());
    assert_eq!(
        std::fs::read(aside[0].join("index.json")).expect("old index kept"),
        old_index
    );
}

#[test]
fn init_force_again_within_the_same_second_still_keeps_every_old_ca() {
    let ca = lab_ca();
    // Occupy the aside names of the coming seconds, as an earlier `init --force` in the
    // same second would have done.
    let now = time::OffsetDateTime::now_utc();
    for offset in -1..=10 {
        let t = now + time::Duration::seconds(offset);
        let stamp = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        let earlier = ca.path().join(format!("ca.replaced-{stamp}"));
        std::fs::create_dir(&earlier).expect("earlier aside dir");
        std::fs::write(earlier.join("index.json"), "{}").expect("earlier index");
    }
    let old_index = std::fs::read(ca.dir().join("index.json")).expect("index");

    ca.qvca()
        .args([
            "-y",
            "init",
            "--no-password",
            "--key-type",
            "p256",
            "--force",
        ])
        .assert()
        .success();

    let kept = std::fs::read_dir(ca.path())
        .expect("scratch dir")
        .flatten()
        .any(|e| std::fs::read(e.path().join("index.json")).ok() == Some(old_index.clone()));
    assert!(
        kept,
        "the replaced CA must be kept somewhere beside the new one"
    );
}

// --------------------------------------------------------------------------------------- issue

#[test]
fn issuing_a_server_certificate_again_keeps_the_first_one() {
    let ca = lab_ca();
    let first = issue_server(&ca, "QVS01");

    ca.qvca()
        .args(["issue", "server", "QVS01", "--key-type", "p256"])
        .assert()
        .code(3)
        .stdout(predicate::str::contains("kept").and(predicate::str::contains("qvca renew QVS01")));

    let out = ca
        .qvca()
        .args(["--json", "issue", "server", "QVS01", "--key-type", "p256"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    let report = stdout_json(&out);
    assert_eq!(report["results"][0]["outcome"], "kept");
    assert_eq!(report["results"][0]["serial"], first.as_str());
    assert_eq!(report["kept"], 1);
    assert_eq!(report["issued"], 0);
    let servers = listed(&ca, true)
        .into_iter()
        .filter(|r| r["kind"] == "server")
        .count();
    assert_eq!(servers, 1, "nothing new was issued");
}

#[test]
fn issuing_with_force_supersedes_the_old_certificate() {
    let ca = lab_ca();
    let old = issue_server(&ca, "QVS01");

    let report = ca.json(&["issue", "server", "QVS01", "--key-type", "p256", "--force"]);
    let result = &report["results"][0];
    assert_eq!(result["outcome"], "issued");
    let new = result["serial"].as_str().expect("serial");
    assert_ne!(new, old);
    assert_eq!(result["supersedes"], old.as_str());

    let all = listed(&ca, true);
    let old_row = all
        .iter()
        .find(|r| r["serial"] == old.as_str())
        .expect("the old certificate is still listed with --all");
    assert_eq!(old_row["status"], "superseded");
    let current = listed(&ca, false);
    assert!(
        current.iter().all(|r| r["serial"] != old.as_str()),
        "{current:?}"
    );
    assert!(current.iter().any(|r| r["serial"] == new));
    assert_eq!(ca.json(&["show", "QVS01"])["entry"]["serial"], new);
}

#[test]
fn the_client_certificate_is_qvproxy_for_client_authentication_only() {
    let ca = lab_ca();
    ca.qvca()
        .args(["issue", "client", "--key-type", "p256"])
        .assert()
        .success();

    let text = openssl_text(&certificate_file(&ca, "QVProxy"));
    assert!(text.contains("Subject: CN = QVProxy"), "{text}");
    assert!(text.contains("Issuer: CN = QlikViewCA"), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(!text.contains("TLS Web Server Authentication"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    let rows = listed(&ca, false);
    let client = rows
        .iter()
        .find(|r| r["kind"] == "client")
        .expect("client row");
    assert_eq!(client["issued_to"], "QVProxy");
    assert_eq!(client["description"], "Client");
}

#[test]
fn a_client_certificate_can_be_issued_under_another_name() {
    let ca = lab_ca();
    ca.qvca()
        .args(["issue", "client", "OtherProxy", "--key-type", "p256"])
        .assert()
        .success();

    let text = openssl_text(&certificate_file(&ca, "OtherProxy"));
    assert!(text.contains("Subject: CN = OtherProxy"), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
}

#[test]
fn a_server_certificate_names_the_machine_and_serves_both_directions() {
    let ca = lab_ca();
    issue_server(&ca, "QVS01");

    let text = openssl_text(&certificate_file(&ca, "QVS01"));
    assert!(text.contains("Subject: CN = QVS01"), "{text}");
    assert!(text.contains("DNS:QVS01"), "{text}");
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    let root = ca.root_pem();
    let verified = openssl_ok(&[
        "verify",
        "-CAfile",
        path_str(&root),
        path_str(&certificate_file(&ca, "QVS01")),
    ]);
    assert!(verified.contains("OK"), "{verified}");
}

#[test]
fn bulk_issue_from_a_file_issues_every_machine() {
    let ca = lab_ca();
    let hosts = ca.path().join("hosts.txt");
    std::fs::write(&hosts, "QVS01\nQVS02\nQVS03\nQVS04\nQVS05\n").expect("hosts");

    let report = ca.json(&[
        "issue",
        "server",
        "--from-file",
        path_str(&hosts),
        "--key-type",
        "p256",
    ]);
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.len(), 5, "{report}");
    assert!(results.iter().all(|r| r["outcome"] == "issued"), "{report}");
    assert_eq!(report["issued"], 5);
    let servers: Vec<String> = listed(&ca, false)
        .iter()
        .filter(|r| r["kind"] == "server")
        .map(|r| r["issued_to"].as_str().expect("name").to_owned())
        .collect();
    assert_eq!(servers, ["QVS01", "QVS02", "QVS03", "QVS04", "QVS05"]);
}

#[test]
fn bulk_issue_keeps_an_existing_certificate_and_still_issues_the_others() {
    let ca = lab_ca();
    let existing = issue_server(&ca, "QVS02");
    let hosts = ca.path().join("hosts.txt");
    std::fs::write(&hosts, "QVS01\nQVS02\nQVS03\n").expect("hosts");

    let out = ca
        .qvca()
        .args(["--json", "issue", "server", "--from-file"])
        .arg(&hosts)
        .args(["--key-type", "p256"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(3),
        "one kept certificate means exit 3"
    );
    let report = stdout_json(&out);
    let outcome = |name: &str| {
        report["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {report}"))
            .clone()
    };
    assert_eq!(outcome("QVS01")["outcome"], "issued");
    assert_eq!(outcome("QVS02")["outcome"], "kept");
    assert_eq!(outcome("QVS02")["serial"], existing.as_str());
    assert_eq!(outcome("QVS03")["outcome"], "issued");
    assert_eq!(
        (report["issued"].clone(), report["kept"].clone()),
        (2.into(), 1.into())
    );
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

// -------------------------------------------------------------------------------------- verify

#[test]
fn verify_without_files_passes_on_a_healthy_ca() {
    let ca = TestCa::with_setup(&["QVS01"]);
    ca.qvca().arg("verify").assert().code(0);
    let report = ca.json(&["verify"]);
    assert_eq!(report["ok"], true);
    assert_eq!(report["results"].as_array().expect("results").len(), 3);
}

#[test]
fn verify_rejects_a_certificate_from_another_ca() {
    let ca = lab_ca();
    let other = lab_ca();
    issue_server(&other, "QVS01");
    let foreign = certificate_file(&other, "QVS01");

    let out = ca
        .qvca()
        .args(["--json", "verify"])
        .arg(&foreign)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(5));
    let report = stdout_json(&out);
    assert_eq!(report["ok"], false);
    assert!(
        !report["results"][0]["problems"]
            .as_array()
            .expect("problems")
            .is_empty()
    );
}

#[test]
fn verify_explains_plainly_a_certificate_signed_by_a_root_of_another_key_type() {
    let ca = lab_ca(); // P-256 root
    let other = TestCa::new();
    other
        .qvca()
        .args(["init", "--no-password"]) // RSA root
        .assert()
        .success();
    issue_server(&other, "QVS01");
    let foreign = certificate_file(&other, "QVS01");

    ca.qvca()
        .arg("verify")
        .arg(&foreign)
        .assert()
        .code(5)
        .stdout(
            predicate::str::contains("root")
                .and(predicate::str::contains("UnsupportedSignatureAlgorithm").not())
                .and(predicate::str::contains("[6, ").not()),
        );
}

#[test]
fn verify_with_the_wrong_name_fails() {
    let ca = lab_ca();
    issue_server(&ca, "QVS01");
    ca.qvca()
        .args(["verify", "--name", "WRONG"])
        .arg(certificate_file(&ca, "QVS01"))
        .assert()
        .code(5)
        .stdout(predicate::str::contains("WRONG"));
}

#[test]
fn verify_with_the_right_name_passes() {
    let ca = lab_ca();
    issue_server(&ca, "QVS01");
    ca.qvca()
        .args(["verify", "--name", "QVS01"])
        .arg(certificate_file(&ca, "QVS01"))
        .assert()
        .code(0);
}

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
    let server_text = openssl_text(&server);
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

// ------------------------------------------------------------------------------- -q and --json

#[test]
fn quiet_issue_prints_nothing_on_success() {
    let ca = lab_ca();
    ca.qvca()
        .args(["-q", "issue", "server", "QVS01", "--key-type", "p256"])
        .assert()
        .code(0)
        .stdout("")
        .stderr("");
    assert_eq!(ca.json(&["show", "QVS01"])["entry"]["name"], "QVS01");
}

#[test]
fn json_output_parses_for_every_reporting_command() {
    let ca = TestCa::new();
    let init = ca.json(&["init", "--no-password", "--key-type", "p256"]);
    assert_eq!(init["common_name"], "QlikViewCA");
    assert_eq!(init["password_protected"], false);
    assert!(init["serial"].is_string());

    let issue = ca.json(&["issue", "server", "QVS01", "--key-type", "p256"]);
    assert_eq!(issue["issued"], 1);
    let list = ca.json(&["list"]);
    assert_eq!(list["certificates"].as_array().expect("rows").len(), 2);
    let show = ca.json(&["show", "QVS01"]);
    assert_eq!(show["status"], "valid");
    let verify = ca.json(&["verify"]);
    assert_eq!(verify["ok"], true);
    let status = ca.json(&["status"]);
    assert_eq!(status["state"], 1);

    let fresh = TestCa::new();
    let setup = fresh.json(&["setup", "QVS01"]);
    assert_eq!(setup["created_root"]["common_name"], "QlikViewCA");
    assert_eq!(setup["certificates"].as_array().expect("outcomes").len(), 2);
    assert_eq!(setup["license_service_export"]["machine"], "QVS01");
}

#[test]
fn json_errors_are_an_error_object_with_the_exit_code() {
    let ca = lab_ca();
    let out = ca
        .qvca()
        .args(["--json", "show", "NOPE"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(6));
    let report = stdout_json(&out);
    assert_eq!(report["error"]["exit_code"], 6);
    assert!(
        report["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("NOPE"))
    );
}

#[test]
fn json_usage_errors_are_an_error_object_too() {
    let out = bare_qvca().args(["--json", "bogus"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let report = stdout_json(&out);
    assert_eq!(report["error"]["exit_code"], 2);
    assert!(
        report["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("bogus")),
        "{report}"
    );
    // Without --json, stdout stays empty.
    let out = bare_qvca().arg("bogus").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn issue_with_a_machine_name_instead_of_server_hints_at_issue_server() {
    let out = bare_qvca().args(["issue", "QVS01"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("qvca issue server QVS01"), "{err}");
}

#[test]
fn a_rerun_that_keeps_everything_needs_no_password_and_if_missing_makes_it_exit_0() {
    let ca = TestCa::with_setup(&["QVS01"]);
    // No password source and no terminal: "kept" is decided before anything is unlocked.
    let out = ca
        .qvca_without_password()
        .args(["issue", "server", "QVS01"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("kept"));
    for args in [
        vec!["issue", "server", "QVS01", "--if-missing"],
        vec!["issue", "client", "--if-missing"],
    ] {
        let out = ca
            .qvca_without_password()
            .args(&args)
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A missing one is issued with --if-missing (and then needs the password).
    let out = ca
        .qvca()
        .args(["issue", "server", "QVS01", "QVS02", "--if-missing"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("kept") && text.contains("issued"), "{text}");
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

#[test]
fn dry_runs_of_issue_renew_and_revoke_report_and_change_nothing_without_a_password() {
    let ca = crate::support::p256_ca(&["QVS01"]);
    let before = ca.snapshot();
    let plan = |args: &[&str]| -> Vec<(String, String)> {
        let out = ca
            .qvca_without_password()
            .arg("--json")
            .args(args)
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(report["dry_run"], true);
        report["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .map(|a| {
                (
                    a["action"].as_str().expect("action").to_owned(),
                    a["name"].as_str().expect("name").to_owned(),
                )
            })
            .collect()
    };
    let pair = |a: &str, n: &str| (a.to_owned(), n.to_owned());
    assert_eq!(
        plan(&["issue", "server", "QVS01", "QVS02", "--dry-run"]),
        [pair("keep", "QVS01"), pair("issue", "QVS02")]
    );
    assert_eq!(
        plan(&["issue", "server", "QVS01", "--force", "--dry-run"]),
        [pair("replace", "QVS01")]
    );
    assert_eq!(
        plan(&["renew", "QVS01", "--dry-run"]),
        [pair("renew", "QVS01")]
    );
    assert_eq!(
        plan(&["revoke", "QVS01", "--dry-run"]),
        [pair("revoke", "QVS01")]
    );
    assert_eq!(ca.snapshot(), before, "a dry run changed the CA");
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
