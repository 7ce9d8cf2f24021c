//! CRLs judged by openssl: numbering, dates, what they list, where they are written, and the
//! revocations and CRL number a backup carries across a wipe and restore.

use super::{
    active_or_revoked_serial, check_status, crl_serials, crl_text, doctor, extension_value,
    healthy_ca, other_dir, run_code,
};
use crate::support::{
    PASSWORD, active_serial, assert_code, cert_file, crl_number, describe, entries, json_of,
    openssl_ok, p256_ca, path_str, pfx_password_file, run, stdout, tool,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// lastUpdate and nextUpdate of a CRL, parsed from openssl's output.
fn crl_updates(crl: &Path) -> (OffsetDateTime, OffsetDateTime) {
    let out = openssl_ok(&[
        "crl",
        "-in",
        path_str(crl),
        "-noout",
        "-lastupdate",
        "-nextupdate",
    ]);
    let field = |name: &str| {
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {out}"));
        openssl_time(line)
    };
    (field("lastUpdate="), field("nextUpdate="))
}

/// An openssl date such as `Dec  3 11:34:56 2026 GMT`.
fn openssl_time(text: &str) -> OffsetDateTime {
    let format = time::macros::format_description!(
        "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT"
    );
    PrimitiveDateTime::parse(text.trim(), format)
        .unwrap_or_else(|e| panic!("openssl date {text:?}: {e}"))
        .assume_utc()
}

/// The "Revocation Date" openssl shows for one serial of a CRL.
fn revocation_date(crl: &Path, serial: &str) -> String {
    let text = crl_text(crl);
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("Serial Number: {serial}") {
            let date = lines.next().expect("a line after the serial");
            return date
                .trim()
                .strip_prefix("Revocation Date: ")
                .unwrap_or_else(|| panic!("no revocation date after {serial}: {text}"))
                .to_owned();
        }
    }
    panic!("{serial} is not on the CRL:\n{text}");
}

/// `openssl verify -crl_check` of one certificate against the root and a CRL.
fn openssl_verify_with_crl(root: &Path, crl: &Path, cert: &Path) -> (bool, String) {
    tool(
        "openssl",
        &[
            "verify",
            "-crl_check",
            "-CRLfile",
            path_str(crl),
            "-CAfile",
            path_str(root),
            path_str(cert),
        ],
    )
}

// ------------------------------------------------------------------------------ revoke and crl

#[test]
fn a_crl_after_a_key_compromise_verifies_against_the_root_and_names_serial_reason_and_number() {
    let ca = p256_ca(&["QVS01"]);
    let serial = active_serial(&ca, "QVS01");
    let out = run_code(
        &ca,
        &["-y", "revoke", "QVS01", "--reason", "keyCompromise"],
        0,
    );
    assert!(stdout(&out).contains(&serial), "{}", describe(&out));
    assert!(
        stdout(&out).contains("qvca crl"),
        "revoke says to publish the CRL: {}",
        describe(&out)
    );
    run_code(&ca, &["crl"], 0);

    let crl = ca.dir().join("crl.pem");
    let root = ca.root_pem();
    let (ok, text) = tool(
        "openssl",
        &[
            "crl",
            "-in",
            path_str(&crl),
            "-CAfile",
            path_str(&root),
            "-noout",
        ],
    );
    assert!(ok && text.contains("verify OK"), "{text}");

    let text = crl_text(&crl);
    assert!(text.contains(&format!("Serial Number: {serial}")), "{text}");
    assert!(text.contains("Key Compromise"), "{text}");
    assert!(text.contains("X509v3 CRL Number"), "{text}");
    assert!(text.contains("Next Update:"), "{text}");
    assert!(text.contains("Issuer: CN = QlikViewCA"), "{text}");
    assert_eq!(crl_number(&crl), 1);
    // The CRL names its issuer's key the way the root does (what path builders match on).
    let aki = text
        .lines()
        .skip_while(|l| !l.contains("Authority Key Identifier"))
        .nth(1)
        .expect("an authority key identifier")
        .trim()
        .to_owned();
    assert_eq!(
        aki.replace("keyid:", ""),
        extension_value(&root, "subjectKeyIdentifier")
    );
}

#[test]
fn openssl_rejects_the_revoked_certificate_with_the_crl_and_accepts_a_valid_one() {
    let ca = p256_ca(&["QVS01", "QVS02"]);
    let revoked = cert_file(&ca, &active_serial(&ca, "QVS01"));
    let valid = cert_file(&ca, &active_serial(&ca, "QVS02"));
    run_code(
        &ca,
        &["-y", "revoke", "QVS01", "--reason", "keyCompromise"],
        0,
    );
    run_code(&ca, &["crl"], 0);
    let root = ca.root_pem();
    let crl = ca.dir().join("crl.pem");

    let (ok, text) = openssl_verify_with_crl(&root, &crl, &revoked);
    assert!(!ok, "openssl accepted a revoked certificate: {text}");
    assert!(text.contains("certificate revoked"), "{text}");

    let (ok, text) = openssl_verify_with_crl(&root, &crl, &valid);
    assert!(ok, "{text}");
    assert!(text.contains(": OK"), "{text}");
}

#[test]
fn crl_numbers_go_up_by_one_on_every_run_and_a_cron_run_without_new_revocations_succeeds() {
    let ca = p256_ca(&["QVS01"]);
    run_code(&ca, &["-y", "revoke", "QVS01"], 0);
    let crl = ca.dir().join("crl.pem");
    for expected in 1..=3_u64 {
        // As cron runs it: the password from the environment, no terminal, nothing new revoked.
        let out = ca
            .qvca_without_password()
            .env("QVCA_PASSWORD", PASSWORD)
            .args(["--json", "crl"])
            .output()
            .expect("run");
        assert_code(&out, 0, "crl from cron");
        assert_eq!(json_of(&out)["number"], expected);
        assert_eq!(crl_number(&crl), expected);
        assert_eq!(ca.index()["crl_number"], expected);
    }
}

#[test]
fn a_crl_with_nothing_revoked_is_still_a_valid_signed_crl() {
    let ca = p256_ca(&["QVS01"]);
    let report = ca.json(&["crl"]);
    assert_eq!(report["number"], 1);
    assert_eq!(report["revoked"], serde_json::json!([]));
    let crl = ca.dir().join("crl.pem");
    let (ok, text) = tool(
        "openssl",
        &[
            "crl",
            "-in",
            path_str(&crl),
            "-CAfile",
            path_str(&ca.root_pem()),
            "-noout",
        ],
    );
    assert!(ok && text.contains("verify OK"), "{text}");
    assert!(crl_serials(&crl).is_empty());
}

#[test]
fn crl_days_puts_next_update_that_many_days_after_this_update() {
    let ca = p256_ca(&[]);
    let before = OffsetDateTime::now_utc();
    let report = ca.json(&["crl", "--days", "2"]);
    let crl = ca.dir().join("crl.pem");
    let (last, next) = crl_updates(&crl);
    assert!(
        (last - before).abs() < Duration::minutes(2),
        "thisUpdate {last} is not now ({before})"
    );
    assert!(
        (next - last - Duration::days(2)).abs() <= Duration::seconds(1),
        "nextUpdate {next} is not 2 days after {last}"
    );
    let reported = OffsetDateTime::parse(
        report["next_update"].as_str().expect("next_update"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    assert!((reported - next).abs() < Duration::seconds(1), "{report}");

    // The default is 30 days.
    run_code(&ca, &["crl"], 0);
    let (last, next) = crl_updates(&crl);
    assert!((next - last - Duration::days(30)).abs() <= Duration::seconds(1));
}

#[test]
fn crl_days_out_of_range_is_a_usage_error_that_writes_nothing() {
    let ca = p256_ca(&[]);
    let before = ca.snapshot();
    for days in ["0", "-1", "3651", "soon"] {
        run_code(&ca, &["crl", "--days", days], 2);
    }
    assert_eq!(ca.snapshot(), before);
}

#[test]
fn crl_out_writes_the_crl_to_that_file() {
    let ca = p256_ca(&["QVS01"]);
    run_code(&ca, &["-y", "revoke", "QVS01"], 0);
    let out_file = ca.path().join("published").join("qlikview.crl");
    std::fs::create_dir_all(out_file.parent().expect("parent")).expect("mkdir");
    let report = ca.json(&["crl", "--out", path_str(&out_file)]);
    assert_eq!(report["path"], path_str(&out_file));
    assert!(out_file.is_file());
    assert!(
        !ca.dir().join("crl.pem").exists(),
        "the default CRL was written too"
    );
    assert_eq!(crl_number(&out_file), 1);
    assert_eq!(
        crl_serials(&out_file),
        BTreeSet::from([active_or_revoked_serial(&ca, "QVS01")])
    );
}

#[test]
fn the_crl_lists_exactly_the_revoked_certificates_that_have_not_expired() {
    let ca = p256_ca(&["QVS01", "QVS02", "QVS03"]);
    // One superseded certificate revoked by serial, as renew's advice says.
    let old_qvs02 = active_serial(&ca, "QVS02");
    run_code(&ca, &["renew", "QVS02"], 0);
    run_code(
        &ca,
        &["-y", "revoke", &old_qvs02, "--reason", "superseded"],
        0,
    );
    run_code(
        &ca,
        &["-y", "revoke", "QVS01", "--reason", "keyCompromise"],
        0,
    );
    let report = ca.json(&["crl"]);

    let now = OffsetDateTime::now_utc();
    let expected: BTreeSet<String> = entries(&ca)
        .iter()
        .filter(|e| e["status"] == "revoked")
        .filter(|e| {
            OffsetDateTime::parse(
                e["not_after"].as_str().expect("not_after"),
                &time::format_description::well_known::Rfc3339,
            )
            .expect("date")
                > now
        })
        .map(|e| e["serial"].as_str().expect("serial").to_owned())
        .collect();
    assert_eq!(expected.len(), 2);
    let reported: BTreeSet<String> = report["revoked"]
        .as_array()
        .expect("revoked")
        .iter()
        .map(|s| s.as_str().expect("serial").to_owned())
        .collect();
    assert_eq!(reported, expected);
    assert_eq!(crl_serials(&ca.dir().join("crl.pem")), expected);
    assert!(crl_text(&ca.dir().join("crl.pem")).contains("Superseded"));
}

#[test]
fn a_revoked_certificate_past_its_end_of_validity_is_dropped_from_the_next_crl() {
    // qvca never issues an already expired certificate, so time is moved for one index entry:
    // the CRL is built from the index's not_after, which is what this simulates.
    let ca = p256_ca(&["QVS01", "QVS02"]);
    let expired = active_serial(&ca, "QVS01");
    let live = active_serial(&ca, "QVS02");
    run_code(&ca, &["-y", "revoke", "QVS01"], 0);
    run_code(&ca, &["-y", "revoke", "QVS02"], 0);
    run_code(&ca, &["crl"], 0);
    let crl = ca.dir().join("crl.pem");
    assert_eq!(
        crl_serials(&crl),
        BTreeSet::from([expired.clone(), live.clone()])
    );

    let index_path = ca.dir().join("index.json");
    let mut index = ca.index();
    for entry in index["certificates"].as_array_mut().expect("certificates") {
        if entry["serial"] == expired.as_str() {
            entry["not_after"] = Value::from("2020-01-01T00:00:00Z");
        }
    }
    std::fs::write(
        &index_path,
        serde_json::to_vec_pretty(&index).expect("encode"),
    )
    .expect("write index");

    let report = ca.json(&["crl"]);
    assert_eq!(report["revoked"], serde_json::json!([live.clone()]));
    assert_eq!(crl_serials(&crl), BTreeSet::from([live]));
}

#[test]
fn a_crl_that_cannot_be_written_keeps_the_last_good_crl_on_record() {
    let ca = healthy_ca();
    let (code, report) = doctor(&ca, &[]);
    assert_eq!(check_status(&report, "crl"), "ok", "{report:#}");
    assert_eq!(code, 0, "{report:#}");

    let nowhere = ca.path().join("no-such-dir").join("crl.pem");
    let out = run(&ca, &["crl", "--out", path_str(&nowhere)]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(!nowhere.exists());

    // The CRL in the CA dir is as current as before; doctor should still say so.
    let (code, report) = doctor(&ca, &[]);
    assert_eq!(check_status(&report, "crl"), "ok", "{report:#}");
    assert_eq!(code, 0);
}

#[test]
fn a_crl_written_to_a_relative_path_is_found_by_doctor_from_another_directory() {
    let ca = p256_ca(&["QVS01"]);
    // Run from the scratch directory: `--out published.crl` is <scratch>/published.crl.
    run_code(&ca, &["crl", "--out", "published.crl"], 0);
    assert!(ca.path().join("published.crl").is_file());
    let (_, report) = doctor(&ca, &[]);
    assert_eq!(check_status(&report, "crl"), "ok", "{report:#}");

    let out = ca
        .qvca()
        .args(["--json", "doctor"])
        .current_dir(other_dir(&ca))
        .output()
        .expect("run");
    let report = json_of(&out);
    assert_eq!(check_status(&report, "crl"), "ok", "{report:#}");
}

// ----------------------------------------------------------------------------- backup round trip

#[test]
fn revocations_and_the_crl_number_survive_backup_wipe_and_restore_and_numbering_continues() {
    let ca = p256_ca(&["QVS01", "QVS02", "QVS03"]);
    let pfx_password = pfx_password_file(&ca);
    run_code(
        &ca,
        &["-y", "revoke", "QVS01", "--reason", "keyCompromise"],
        0,
    );
    run_code(
        &ca,
        &["-y", "revoke", "QVS02", "--reason", "cessationOfOperation"],
        0,
    );
    for _ in 0..3 {
        run_code(&ca, &["crl"], 0);
    }
    let index_before = ca.index();
    assert_eq!(index_before["crl_number"], 3);
    let revoked_before: Vec<Value> = entries(&ca)
        .into_iter()
        .filter(|e| e["status"] == "revoked")
        .collect();
    assert_eq!(revoked_before.len(), 2);
    let old_crl = ca.path().join("old.crl");
    std::fs::copy(ca.dir().join("crl.pem"), &old_crl).expect("copy");

    let backup = ca.path().join("backup.pfx");
    let with_pfx = |args: &[&str]| {
        ca.qvca()
            .arg("--pfx-password-file")
            .arg(&pfx_password)
            .args(args)
            .output()
            .expect("run")
    };
    assert_code(
        &with_pfx(&["backup", "--out", path_str(&backup)]),
        0,
        "backup",
    );
    std::fs::remove_dir_all(ca.dir()).expect("wipe the CA dir");
    assert_code(&with_pfx(&["restore", path_str(&backup)]), 0, "restore");

    let revoked_after: Vec<Value> = entries(&ca)
        .into_iter()
        .filter(|e| e["status"] == "revoked")
        .collect();
    assert_eq!(
        revoked_after, revoked_before,
        "revocations (dates, reasons) survive"
    );
    assert_eq!(ca.index()["crl_number"], 3);

    let report = ca.json(&["crl"]);
    assert_eq!(report["number"], 4, "numbering continues: {report}");
    let crl = ca.dir().join("crl.pem");
    assert_eq!(crl_number(&crl), 4);
    assert_eq!(crl_serials(&crl), crl_serials(&old_crl));
    for entry in &revoked_before {
        let serial = entry["serial"].as_str().expect("serial");
        assert_eq!(
            revocation_date(&crl, serial),
            revocation_date(&old_crl, serial),
            "the revocation date of {serial} is kept"
        );
    }
    let text = crl_text(&crl);
    assert!(text.contains("Key Compromise") && text.contains("Cessation Of Operation"));
    let (ok, text) = tool(
        "openssl",
        &[
            "crl",
            "-in",
            path_str(&crl),
            "-CAfile",
            path_str(&ca.root_pem()),
            "-noout",
        ],
    );
    assert!(ok && text.contains("verify OK"), "{text}");
}

#[test]
fn crl_json_times_are_whole_seconds_like_every_other_report() {
    let ca = p256_ca(&["QVS01"]);
    let report = ca.json(&["crl"]);
    for field in ["this_update", "next_update"] {
        let text = report[field].as_str().expect("time");
        assert!(
            !text.contains('.'),
            "{field} has fractional seconds: {text}"
        );
    }
}
