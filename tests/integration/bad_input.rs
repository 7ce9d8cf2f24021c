//! Bad input and damaged state: no CA, wrong or missing passwords, a damaged index or key,
//! bad templates, leaves that would outlive the root, and usage errors. Each one must end with
//! the documented exit code, a message that says what to do, no panic, and no change to the CA.

use crate::support::{
    PASSWORD, TestCa, bare_qvca, lab_ca, protected_ca, root_serial, write_scratch,
};
use predicates::prelude::*;
use std::time::Duration;

fn no_panic() -> impl Predicate<str> {
    predicate::str::contains("panicked").not()
}

// ------------------------------------------------------------------------------------ no CA

#[test]
fn commands_without_a_ca_are_not_found_and_say_how_to_create_one() {
    let ca = TestCa::new();
    let commands: [&[&str]; 5] = [
        &["list"],
        &["show", "X"],
        &["issue", "server", "QVS01"],
        &["issue", "client"],
        &["verify"],
    ];
    for args in commands {
        ca.qvca()
            .args(args)
            .assert()
            .code(6)
            .stderr(predicate::str::contains("qvca init").and(no_panic()));
    }
    assert!(
        !ca.dir().exists(),
        "looking for a CA must not create its directory"
    );
}

// -------------------------------------------------------------------------------- passwords

#[test]
fn a_wrong_password_is_refused_and_changes_nothing() {
    let ca = protected_ca();
    let wrong = write_scratch(&ca, "wrong.txt", "not the password\n");
    let before = ca.snapshot();

    ca.qvca_without_password()
        .arg("--password-file")
        .arg(&wrong)
        .args(["issue", "server", "QVS01", "--key-type", "p256"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("password").and(no_panic()));

    assert_eq!(ca.snapshot(), before);
}

#[test]
fn a_missing_password_without_a_terminal_fails_at_once_naming_both_sources() {
    let ca = protected_ca();
    let before = ca.snapshot();

    ca.qvca_without_password()
        .args(["issue", "server", "QVS01", "--key-type", "p256"])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("--password-file")
                .and(predicate::str::contains("QVCA_PASSWORD")),
        );
    assert_eq!(ca.snapshot(), before);
}

#[test]
fn init_without_a_password_source_or_terminal_fails_at_once_and_creates_nothing() {
    let ca = TestCa::new();
    ca.qvca_without_password()
        .args(["init", "--key-type", "p256"])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("--password-file")
                .and(predicate::str::contains("QVCA_PASSWORD")),
        );
    assert!(!ca.dir().join("index.json").exists());
}

#[test]
fn the_password_can_come_from_qvca_password() {
    let ca = TestCa::new();
    // Created with the password from the environment ...
    ca.qvca_without_password()
        .env("QVCA_PASSWORD", PASSWORD)
        .args(["init", "--key-type", "p256"])
        .timeout(Duration::from_secs(10))
        .assert()
        .success();
    // ... it opens with the same password from the environment and from the file.
    ca.qvca_without_password()
        .env("QVCA_PASSWORD", PASSWORD)
        .args(["issue", "server", "QVS01", "--key-type", "p256"])
        .timeout(Duration::from_secs(10))
        .assert()
        .success();
    ca.qvca()
        .args(["issue", "server", "QVS02", "--key-type", "p256"])
        .assert()
        .success();
}

#[test]
fn an_empty_password_file_is_refused() {
    let ca = protected_ca();
    let before = ca.snapshot();
    for (name, contents) in [("empty.txt", ""), ("blank-line.txt", "\nsecond line\n")] {
        let file = write_scratch(&ca, name, contents);
        ca.qvca_without_password()
            .arg("--password-file")
            .arg(&file)
            .args(["issue", "server", "QVS01", "--key-type", "p256"])
            .timeout(Duration::from_secs(10))
            .assert()
            .code(1)
            .stderr(predicate::str::contains(name).and(predicate::str::contains("empty")));
    }
    assert_eq!(ca.snapshot(), before);
}

#[test]
fn an_empty_password_file_cannot_set_the_password_of_a_new_ca() {
    let ca = TestCa::new();
    let file = write_scratch(&ca, "empty.txt", "");
    ca.qvca_without_password()
        .arg("--password-file")
        .arg(&file)
        .args(["init", "--key-type", "p256"])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("empty"));
    assert!(!ca.dir().join("index.json").exists());
}

#[test]
fn an_empty_qvca_password_is_refused() {
    let ca = protected_ca();
    ca.qvca_without_password()
        .env("QVCA_PASSWORD", "")
        .args(["issue", "server", "QVS01", "--key-type", "p256"])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("QVCA_PASSWORD").and(predicate::str::contains("empty")));
}

#[test]
fn a_missing_password_file_is_an_error_naming_it() {
    let ca = protected_ca();
    ca.qvca_without_password()
        .args(["--password-file", "no-such-password.txt"])
        .args(["issue", "server", "QVS01", "--key-type", "p256"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no-such-password.txt"));
}

// ---------------------------------------------------------------------------- damaged state

#[test]
fn a_damaged_index_is_reported_with_advice_to_restore_and_without_a_panic() {
    let ca = lab_ca();
    let index = ca.dir().join("index.json");
    let good = std::fs::read(&index).expect("index");
    let damages: [(&str, Vec<u8>); 4] = [
        ("truncated", good[..good.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("garbage", b"\x00\xffnot json at all\n".to_vec()),
        (
            "wrong shape",
            br#"{"format": 1, "certificates": "none"}"#.to_vec(),
        ),
    ];
    let commands: [&[&str]; 5] = [
        &["list"],
        &["show", "QlikViewCA"],
        &["issue", "server", "QVS01", "--key-type", "p256"],
        &["verify"],
        &["status"],
    ];
    for (damage, bytes) in damages {
        std::fs::write(&index, &bytes).expect("damage the index");
        let before = ca.snapshot();
        for args in commands {
            let assert = ca.qvca().args(args).assert().code(1);
            let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
            assert!(
                stderr.contains("index") && stderr.contains("restore"),
                "{damage} index, qvca {args:?}:\n{stderr}"
            );
            assert!(
                !stderr.contains("panicked"),
                "{damage}, {args:?}:\n{stderr}"
            );
        }
        assert_eq!(ca.snapshot(), before, "{damage}: nothing may be rewritten");
    }
}

#[test]
fn an_index_of_an_unknown_format_version_is_refused() {
    let ca = lab_ca();
    let index = ca.dir().join("index.json");
    let mut value = ca.index();
    value["format"] = 99.into();
    std::fs::write(&index, serde_json::to_vec_pretty(&value).expect("JSON")).expect("write");

    ca.qvca()
        .arg("list")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("format").and(predicate::str::contains("99")));
}

#[test]
fn a_damaged_root_key_is_reported_cleanly() {
    let ca = protected_ca();
    let key = ca
        .dir()
        .join("keys")
        .join(format!("{}.pem", root_serial(&ca)));
    std::fs::write(&key, "garbage\n").expect("damage the key");
    let before = ca.snapshot();

    let assert = ca
        .qvca()
        .args(["issue", "server", "QVS01", "--key-type", "p256"])
        .timeout(Duration::from_secs(10))
        .assert()
        .failure()
        .stderr(
            predicate::str::contains(key.file_name().and_then(|n| n.to_str()).expect("name"))
                .and(predicate::str::contains("restore"))
                .and(no_panic()),
        );
    assert_ne!(
        assert.get_output().status.code(),
        Some(4),
        "not a wrong password"
    );
    assert_eq!(ca.snapshot(), before);
}

#[test]
fn a_root_key_that_belongs_to_another_root_is_detected() {
    let ca = lab_ca();
    let other = lab_ca();
    let own_key = ca
        .dir()
        .join("keys")
        .join(format!("{}.pem", root_serial(&ca)));
    let other_key = other
        .dir()
        .join("keys")
        .join(format!("{}.pem", root_serial(&other)));
    std::fs::copy(&other_key, &own_key).expect("swap the key");
    let before = ca.snapshot();

    ca.qvca()
        .args(["issue", "server", "QVS01", "--key-type", "p256"])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("does not belong")
                .and(predicate::str::contains("restore"))
                .and(no_panic()),
        );
    assert_eq!(
        ca.snapshot(),
        before,
        "nothing may be signed with the wrong key"
    );
}

// -------------------------------------------------------------------------------- templates

const SERVER_TEMPLATE: &str = "kind = \"server\"
key_type = \"p256\"
validity_days = 30
key_usage = [\"digitalSignature\"]
extended_key_usage = [\"serverAuth\", \"clientAuth\"]
";

#[test]
fn a_missing_template_is_an_error_naming_it() {
    let ca = lab_ca();
    ca.qvca()
        .args([
            "issue",
            "server",
            "QVS01",
            "--template",
            "no-such-template.toml",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no-such-template.toml"));

    let fresh = TestCa::new();
    fresh
        .qvca()
        .args(["init", "--no-password", "--template", "no-such-root.toml"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no-such-root.toml"));
    assert!(!fresh.dir().join("index.json").exists());
}

#[test]
fn a_valid_template_is_used() {
    let ca = lab_ca();
    let template = write_scratch(&ca, "server.toml", SERVER_TEMPLATE);
    ca.qvca()
        .args(["issue", "server", "QVS01", "--template"])
        .arg(&template)
        .assert()
        .success();
    let shown = ca.json(&["show", "QVS01"]);
    assert_eq!(shown["entry"]["key_type"], "p256");
    assert_eq!(shown["details"]["public_key"], "ECDSA P-256");
}

fn assert_template_refused(template_text: &str, keywords: &[&str]) {
    let ca = lab_ca();
    let template = write_scratch(&ca, "bad-server.toml", template_text);
    let before = ca.snapshot();

    let assert = ca
        .qvca()
        .args(["issue", "server", "QVS01", "--template"])
        .arg(&template)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    for keyword in keywords.iter().chain(&["bad-server.toml"]) {
        assert!(stderr.contains(keyword), "{keyword:?} in:\n{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(ca.snapshot(), before);
}

#[test]
fn a_template_with_an_unknown_field_is_refused_with_its_line() {
    let text = format!("{SERVER_TEMPLATE}colour = \"blue\"\n");
    assert_template_refused(&text, &["line 6", "colour"]);
}

#[test]
fn a_template_with_an_unknown_key_type_is_refused_with_its_line_and_field() {
    let text = SERVER_TEMPLATE.replace("\"p256\"", "\"dsa1024\"");
    assert_template_refused(&text, &["line 2", "key_type", "dsa1024"]);
}

#[test]
fn a_template_with_a_value_of_the_wrong_type_is_refused_with_its_line_and_field() {
    let text = SERVER_TEMPLATE.replace("validity_days = 30", "validity_days = \"thirty\"");
    assert_template_refused(&text, &["line 3", "validity_days"]);
}

#[test]
fn a_template_with_an_unknown_key_usage_is_refused_with_its_line_and_field() {
    let text = SERVER_TEMPLATE.replace(
        "[\"digitalSignature\"]",
        "[\"digitalSignature\", \"flying\"]",
    );
    assert_template_refused(&text, &["line 4", "key_usage", "flying"]);
}

#[test]
fn a_template_of_the_wrong_kind_is_refused() {
    let text = SERVER_TEMPLATE.replace("kind = \"server\"", "kind = \"client\"");
    assert_template_refused(&text, &["line 1", "kind"]);
}

// ------------------------------------------------------------------ validity beyond the root

#[test]
fn a_leaf_that_would_outlive_the_root_is_refused_naming_the_root_expiry() {
    let ca = TestCa::new();
    ca.qvca()
        .args([
            "init",
            "--no-password",
            "--key-type",
            "p256",
            "--days",
            "100",
        ])
        .assert()
        .success();
    let root_expiry = ca.index()["certificates"][0]["not_after"]
        .as_str()
        .expect("not_after")[..10]
        .to_owned();
    let before = ca.snapshot();

    for extra in [&["--days", "200"][..], &[][..]] {
        // --days 200, and the profile's default of 1826 days.
        ca.qvca()
            .args(["issue", "server", "QVS01", "--key-type", "p256"])
            .args(extra)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(root_expiry.as_str()).and(no_panic()));
    }
    assert_eq!(ca.snapshot(), before, "nothing may be issued");

    ca.qvca()
        .args([
            "issue",
            "server",
            "QVS01",
            "--key-type",
            "p256",
            "--days",
            "90",
        ])
        .assert()
        .success();
}

// ----------------------------------------------------------------------------- usage errors

#[test]
fn usage_errors_exit_2() {
    let ca = lab_ca();
    let before = ca.snapshot();
    let usages: [&[&str]; 7] = [
        &["--frobnicate", "list"],
        &["list", "--frobnicate"],
        &["issue", "server"],
        &["issue"],
        &["issue", "server", "QVS01", "--key-type", "dsa1024"],
        &["issue", "server", "QVS01", "--days", "0"],
        &["no-such-command"],
    ];
    for args in usages {
        ca.qvca()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::is_empty().not().and(no_panic()));
    }
    assert_eq!(ca.snapshot(), before);
    bare_qvca().assert().code(2);
}

#[test]
fn help_and_version_succeed() {
    bare_qvca()
        .arg("--help")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Exit codes"));
    bare_qvca()
        .arg("--version")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("qvca"));
}

#[test]
fn inspect_of_a_file_that_is_not_a_certificate_fails_cleanly() {
    let ca = TestCa::new();
    let junk = write_scratch(&ca, "junk.txt", "hello, not a certificate\n");
    bare_qvca()
        .arg("inspect")
        .arg(&junk)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("junk.txt").and(no_panic()));
    bare_qvca()
        .args(["inspect", "no-such-file.pem"])
        .current_dir(ca.path())
        .assert()
        .code(6)
        .stderr(predicate::str::contains("no-such-file.pem"));
}

#[test]
fn endless_files_are_refused_at_once_wherever_qvca_reads_one() {
    let ca = protected_ca();
    let zero = "/dev/zero";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["inspect", zero], "inspect"),
        (vec!["license", "inspect", zero], "license inspect"),
        (vec!["verify", "--root", zero, zero], "verify --root"),
        (vec!["issue", "server", "--from-file", zero], "--from-file"),
        (
            vec!["issue", "server", "QVS09", "--template", zero],
            "--template",
        ),
        (vec!["backup", "verify", zero], "backup verify"),
    ];
    for (args, what) in cases {
        let out = ca
            .qvca()
            .env("QVCA_PFX_PASSWORD", "backup password")
            .args(&args)
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains("never ends"), "{what}: {err}");
    }
    let out = ca
        .qvca_without_password()
        .args(["--password-file", zero, "issue", "server", "QVS09"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "password file: {err}");
    assert!(err.contains("never ends"), "password file: {err}");
}

#[test]
fn a_ca_dir_that_is_a_file_and_a_text_file_given_to_verify_get_plain_messages() {
    let ca = protected_ca();
    let file = write_scratch(&ca, "names.txt", "QVS01\n");
    let out = bare_qvca()
        .arg("--ca-dir")
        .arg(&file)
        .arg("list")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is a file, not a directory"), "{err}");
    let out = ca.qvca().arg("verify").arg(&file).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is not a certificate"), "{err}");
    assert!(!err.contains("ASN.1"), "{err}");
}

#[test]
fn a_result_that_cannot_be_written_to_stdout_is_exit_1_once() {
    let ca = protected_ca();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' --ca-dir '{}' list > /dev/full",
            env!("CARGO_BIN_EXE_qvca"),
            ca.dir().display()
        ))
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("writing to stdout failed").count(), 1, "{err}");
}
