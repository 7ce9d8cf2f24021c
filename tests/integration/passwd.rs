//! `qvca passwd`: the CA password changes, every key is re-encrypted under the new one only
//! (judged by openssl), a wrong current password or a missing new one changes nothing, a
//! `--no-password` CA gains a password, and a crash at any point leaves a CA that opens with
//! exactly one of the two passwords.

use crate::support::{
    PASSWORD, TestCa, assert_code, copy_dir, describe, key_files, new_password_file, p256_ca,
    password_file_for, path_str, run_with_password, snapshot, stderr, stdout, tool,
};
use std::path::Path;

const NEW_PASSWORD: &str = "Platypus-Orbit-6402-new";

fn passwd(ca: &TestCa, new: &str) -> std::process::Output {
    let file = new_password_file(ca, new);
    ca.qvca()
        .args(["passwd", "--new-password-file"])
        .arg(file)
        .output()
        .expect("run")
}

/// True when openssl opens the key with the password in `file`.
fn opens_with(key: &Path, file: &Path) -> bool {
    tool(
        "openssl",
        &[
            "pkey",
            "-in",
            path_str(key),
            "-passin",
            &format!("file:{}", path_str(file)),
            "-noout",
        ],
    )
    .0
}

#[test]
fn passwd_reencrypts_every_key_under_the_new_password_and_not_the_old_one() {
    let ca = p256_ca(&["QVS01", "QVS02"]);
    let keys_before = key_files(&ca);
    assert_eq!(keys_before.len(), 4, "root, two servers, QVProxy");
    let file = new_password_file(&ca, NEW_PASSWORD);
    let out = ca
        .qvca()
        .args(["--json", "passwd", "--new-password-file"])
        .arg(&file)
        .output()
        .expect("run");
    assert_code(&out, 0, "passwd");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["keys_reencrypted"], 4, "{report}");
    assert_eq!(report["key_protection"], "encrypted", "{report}");

    let old = ca.password_file();
    assert_eq!(key_files(&ca), keys_before, "the same key files");
    for key in key_files(&ca) {
        assert!(
            opens_with(&key, &file),
            "{} opens with the new",
            key.display()
        );
        assert!(
            !opens_with(&key, &old),
            "{} not with the old",
            key.display()
        );
    }
    // The replaced CA (keys under the old password) is gone, not kept aside.
    let siblings: Vec<String> = std::fs::read_dir(ca.path())
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ca."))
        .collect();
    assert!(siblings.is_empty(), "left next to the CA: {siblings:?}");

    let verify = run_with_password(&ca, &file, &["verify"]);
    assert_code(&verify, 0, "verify with the new password");
    let issue = run_with_password(
        &ca,
        &file,
        &["issue", "server", "QVS03", "--key-type", "p256"],
    );
    assert_code(&issue, 0, "issue with the new password");
    let old_issue = run_with_password(
        &ca,
        &old,
        &["issue", "server", "QVS04", "--key-type", "p256"],
    );
    assert_code(&old_issue, 4, "issue with the old password");
    let old_doctor = run_with_password(&ca, &old, &["crl"]);
    assert_code(&old_doctor, 4, "crl with the old password");
}

#[test]
fn a_wrong_current_password_fails_with_exit_4_and_changes_nothing() {
    let ca = p256_ca(&["QVS01"]);
    let before = ca.snapshot();
    let wrong = password_file_for(&ca, "wrong.txt", "not the CA password at all");
    let new = new_password_file(&ca, NEW_PASSWORD);
    let out = ca
        .qvca_without_password()
        .arg("--password-file")
        .arg(&wrong)
        .args(["passwd", "--new-password-file"])
        .arg(&new)
        .output()
        .expect("run");
    assert_code(&out, 4, "passwd with a wrong current password");
    assert!(
        stderr(&out).contains("wrong CA password"),
        "{}",
        describe(&out)
    );
    assert_eq!(ca.snapshot(), before, "nothing changed");
}

#[test]
fn the_same_password_again_is_refused_as_unchanged() {
    let ca = p256_ca(&[]);
    let before = ca.snapshot();
    let out = passwd(&ca, PASSWORD);
    assert_code(&out, 3, "passwd to the same password");
    assert!(stderr(&out).contains("unchanged"), "{}", describe(&out));
    assert_eq!(ca.snapshot(), before, "nothing changed");
}

#[test]
fn without_a_new_password_or_a_terminal_passwd_fails_at_once_naming_the_sources() {
    let ca = p256_ca(&[]);
    let before = ca.snapshot();
    let out = ca.qvca().arg("passwd").output().expect("run");
    assert_code(&out, 1, "passwd without a new password");
    let err = stderr(&out);
    for name in [
        "--new-password-file",
        "QVCA_NEW_PASSWORD_FILE",
        "QVCA_NEW_PASSWORD",
    ] {
        assert!(err.contains(name), "names {name}: {}", describe(&out));
    }
    assert_eq!(ca.snapshot(), before, "nothing changed");
}

#[test]
fn the_new_password_comes_from_the_environment_too() {
    let ca = p256_ca(&[]);
    let first = new_password_file(&ca, NEW_PASSWORD);
    let out = ca
        .qvca()
        .arg("passwd")
        .env("QVCA_NEW_PASSWORD_FILE", &first)
        .output()
        .expect("run");
    assert_code(&out, 0, "passwd with QVCA_NEW_PASSWORD_FILE");
    let second = "Second-Password-From-Env-77";
    let out = ca
        .qvca_without_password()
        .arg("--password-file")
        .arg(&first)
        .arg("passwd")
        .env("QVCA_NEW_PASSWORD", second)
        .output()
        .expect("run");
    assert_code(&out, 0, "passwd with QVCA_NEW_PASSWORD");
    let second_file = password_file_for(&ca, "second.txt", second);
    for key in key_files(&ca) {
        assert!(opens_with(&key, &second_file), "{}", key.display());
    }
}

#[test]
fn a_short_new_password_is_accepted_with_a_warning() {
    let ca = p256_ca(&[]);
    let out = passwd(&ca, "short-pw");
    assert_code(&out, 0, "passwd to a short password");
    assert!(
        stderr(&out).contains("a short password can be guessed offline"),
        "{}",
        describe(&out)
    );
    assert!(
        stdout(&out).contains("changed password of 2 keys"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_no_password_ca_gains_a_password() {
    let ca = TestCa::new();
    ca.qvca_without_password()
        .args(["init", "--no-password", "--key-type", "p256"])
        .assert()
        .success();
    ca.qvca_without_password()
        .args(["issue", "server", "QVS01", "--key-type", "p256"])
        .assert()
        .success();
    let status = ca
        .qvca_without_password()
        .arg("status")
        .output()
        .expect("run");
    assert!(
        stdout(&status).contains("WITHOUT a password")
            || stderr(&status).contains("WITHOUT a password")
    );

    let file = new_password_file(&ca, NEW_PASSWORD);
    let out = ca
        .qvca_without_password()
        .args(["passwd", "--new-password-file"])
        .arg(&file)
        .output()
        .expect("run");
    assert_code(&out, 0, "passwd on a --no-password CA");
    assert_eq!(ca.index()["settings"]["key_protection"], "encrypted");
    for key in key_files(&ca) {
        let text = std::fs::read_to_string(&key).expect("read");
        assert!(
            text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
            "{}",
            key.display()
        );
        assert!(opens_with(&key, &file), "{}", key.display());
    }
    for args in [&["status"][..], &["doctor"][..]] {
        let out = run_with_password(&ca, &file, args);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!text.contains("WITHOUT a password"), "{args:?}: {text}");
    }
    let doctor = run_with_password(&ca, &file, &["--json", "doctor"]);
    let report: serde_json::Value = serde_json::from_slice(&doctor.stdout).expect("JSON");
    let no_password = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "no-password")
        .expect("the no-password check");
    assert_eq!(no_password["status"], "ok", "{no_password}");
    // Now a password is needed.
    let issue = ca
        .qvca_without_password()
        .args(["issue", "server", "QVS02", "--key-type", "p256"])
        .output()
        .expect("run");
    assert_code(&issue, 1, "issue without a password after passwd");
}

#[test]
fn the_new_password_appears_in_no_output_and_no_file() {
    let ca = p256_ca(&["QVS01"]);
    let file = new_password_file(&ca, NEW_PASSWORD);
    let mut outputs = Vec::new();
    for json in [false, true] {
        let mut cmd = ca.qvca();
        if json {
            // Back to the old password with the new one as the current one.
            cmd = ca.qvca_without_password();
            cmd.arg("--password-file").arg(&file).arg("--json");
            cmd.env("QVCA_NEW_PASSWORD", PASSWORD);
            cmd.arg("passwd");
        } else {
            cmd.args(["passwd", "--new-password-file"]).arg(&file);
        }
        let out = cmd.output().expect("run");
        assert_code(&out, 0, "passwd");
        outputs.push(out);
    }
    for out in &outputs {
        let text = format!("{}{}", stdout(out), stderr(out));
        assert!(
            !text.contains(NEW_PASSWORD) && !text.contains(PASSWORD),
            "{text}"
        );
    }
    for (path, bytes) in snapshot(ca.path()) {
        if path == file || path == ca.password_file() {
            continue;
        }
        for secret in [NEW_PASSWORD, PASSWORD] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds a password",
                path.display()
            );
        }
    }
}

/// Runs passwd with a crash at `point#n`; true when it crashed.
fn passwd_crashing(ca: &TestCa, new: &Path, point: &str, n: usize) -> bool {
    let out = ca
        .qvca()
        .args(["passwd", "--new-password-file"])
        .arg(new)
        .env("QVCA_TEST_CRASH_AT", format!("{point}#{n}"))
        .output()
        .expect("run");
    !out.status.success() && out.status.code().is_none()
}

#[cfg(feature = "test-hooks")]
#[test]
fn a_passwd_killed_at_any_moment_leaves_a_ca_that_opens_with_exactly_one_password() {
    let template = p256_ca(&["QVS01"]);
    let mut crashes = 0;
    for (point, count) in [
        ("before-write", 8),
        ("before-index-commit", 1),
        ("passwd-before-swap", 1),
        ("swap-between-renames", 1),
        ("passwd-after-swap", 1),
    ] {
        for n in 1..=count {
            let ca = TestCa::new();
            copy_dir(&template.dir(), &ca.dir());
            let mode = std::fs::metadata(template.dir())
                .expect("meta")
                .permissions();
            std::fs::set_permissions(ca.dir(), mode).expect("chmod");
            let new = new_password_file(&ca, NEW_PASSWORD);
            if !passwd_crashing(&ca, &new, point, n) {
                break;
            }
            crashes += 1;
            let what = format!("passwd crashed at {point}#{n}");
            let old = ca.password_file();
            // doctor unlocks the root (exit 4 on a wrong password); verify needs none.
            assert_code(&ca.qvca().arg("verify").output().expect("run"), 0, &what);
            let with_old = run_with_password(&ca, &old, &["doctor"]);
            let with_new = run_with_password(&ca, &new, &["doctor"]);
            let opened: Vec<bool> = [&with_old, &with_new]
                .iter()
                .map(|o| o.status.code().is_some_and(|c| c != 4))
                .collect();
            assert!(
                opened[0] != opened[1],
                "{what}: opens with exactly one password (old {}, new {})\n{}\n{}",
                opened[0],
                opened[1],
                describe(&with_old),
                describe(&with_new)
            );
            match point {
                "passwd-before-swap" => assert!(opened[0], "{what}: the old CA is in place"),
                "passwd-after-swap" => assert!(opened[1], "{what}: the new CA is in place"),
                _ => {}
            }
            let current = if opened[0] { &old } else { &new };
            for key in key_files(&ca) {
                assert!(opens_with(&key, current), "{what}: {}", key.display());
            }
            let doctor = run_with_password(&ca, current, &["--json", "doctor"]);
            let report: serde_json::Value =
                serde_json::from_slice(&doctor.stdout).expect("doctor JSON");
            for check in report["checks"].as_array().expect("checks") {
                let fine = matches!(check["status"].as_str(), Some("ok" | "skipped"))
                    || check["name"] == "staging-leftovers"
                    || check["name"] == "license-service-export";
                assert!(fine, "{what}: doctor: {check}");
            }
            if point == "passwd-before-swap" || point == "passwd-after-swap" {
                let leftovers = report["checks"]
                    .as_array()
                    .expect("checks")
                    .iter()
                    .find(|c| c["name"] == "staging-leftovers")
                    .expect("the staging-leftovers check")
                    .clone();
                assert_eq!(leftovers["status"], "warning", "{what}: {leftovers}");
                assert!(
                    leftovers["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("passwd")),
                    "{what}: {leftovers}"
                );
            }
            // Run again to the new password (or on to another one): it completes and the
            // leftovers of the crash are gone.
            let again_to = if opened[0] {
                NEW_PASSWORD
            } else {
                "Yet-Another-Password-99"
            };
            let again_file = password_file_for(&ca, "again.txt", again_to);
            let again = ca
                .qvca_without_password()
                .arg("--password-file")
                .arg(current)
                .args(["passwd", "--new-password-file"])
                .arg(&again_file)
                .output()
                .expect("run");
            assert_code(&again, 0, &format!("{what}, then run again"));
            let left: Vec<String> = std::fs::read_dir(ca.path())
                .expect("ls")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("ca."))
                .collect();
            assert!(left.is_empty(), "{what}: left after a rerun: {left:?}");
            assert_code(&run_with_password(&ca, &again_file, &["verify"]), 0, &what);
        }
    }
    assert!(
        crashes >= 4,
        "only {crashes} crashes: are the crash points compiled in?"
    );
}
