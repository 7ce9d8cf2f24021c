//! `qvca hsm migrate --key URI` through the real binary: a file-key CA's root key moves into a
//! SoftHSM2 token (sensitive, not extractable) keeping its root certificate; the key files go;
//! tokens in the files named with `--rewrap` become version 2 in the same step and tokens
//! elsewhere still decrypt through the escrowed version 1 key; a failure before the commit
//! leaves nothing behind, and a crash at any point leaves a CA that works and a migration that
//! a second run finishes.

use super::SoftHsm;
use super::cli::{HsmCa, ROOT_URI, assert_no_pin, assert_no_pin_in};
use super::secrets_cli::{decrypted_with, encrypt_with, kid_of, secret_keys_listed};
use crate::support::{TestCa, copy_dir, describe, openssl_ok, path_str, snapshot, stderr};
use std::path::{Path, PathBuf};

/// A CA whose root key (of `key_type`) is a file protected by the CA password, with a Server
/// certificate, next to an empty token `qvca`.
fn file_key_ca(key_type: &str) -> HsmCa {
    let hca = HsmCa::new();
    hca.ok(&["init", "--key-type", key_type]);
    hca.ok(&["issue", "server", "QVS01", "--key-type", "p256"]);
    hca
}

/// The serials of every root certificate in the index.
fn root_serials(ca: &TestCa) -> Vec<String> {
    ca.index()["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .filter(|e| e["kind"] == "root")
        .map(|e| e["serial"].as_str().expect("serial").to_owned())
        .collect()
}

/// The key file of `serial`.
fn key_file(ca: &TestCa, serial: &str) -> PathBuf {
    ca.dir().join("keys").join(format!("{serial}.pem"))
}

/// A file of `name` in the scratch area holding `text`.
fn scratch(ca: &TestCa, name: &str, text: &str) -> PathBuf {
    let path = ca.path().join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// `openssl verify` accepts `cert` under `root`.
fn assert_verifies(root: &Path, cert: &Path) {
    let text = openssl_ok(&[
        "verify",
        "-x509_strict",
        "-CAfile",
        path_str(root),
        path_str(cert),
    ]);
    assert!(text.contains(": OK"), "{text}");
}

/// The objects pkcs11-tool lists in the token `qvca`.
fn token_objects(hsm: &SoftHsm) -> String {
    hsm.pkcs11_tool_ok("qvca", &["--list-objects"])
}

#[test]
fn migrate_moves_the_root_key_into_the_token_keeping_the_root_and_rewraps_the_named_files() {
    let hca = file_key_ca("rsa2048");
    // A renewed root: `renew --root` gave the same key a second key file.
    hca.ok(&["-y", "renew", "QlikViewCA", "--root"]);
    let root_pem = hca.root();
    let root_before = std::fs::read(&root_pem).expect("root");
    let serials = root_serials(&hca.ca);
    assert_eq!(serials.len(), 2);
    for serial in &serials {
        assert!(key_file(&hca.ca, serial).is_file(), "{serial}");
    }
    let kid = kid_of(hca.ca.path(), &root_pem);
    let dsn = encrypt_with(hca.qvca(), "dsn-secret-1", "dsn");
    let smtp = encrypt_with(hca.qvca(), "smtp-secret-2", "smtp");
    let other = encrypt_with(hca.qvca(), "elsewhere-secret-3", "");
    assert!(dsn.starts_with(&format!("qvca:v1:{kid}:")), "{dsn}");
    let named = scratch(
        &hca.ca,
        "app.ini",
        &format!("dsn={dsn}\nsmtp={smtp}\nplain=1\n"),
    );
    let elsewhere = scratch(&hca.ca, "other.ini", &format!("x={other}\n"));

    let report = hca.json(&[
        "-y",
        "hsm",
        "migrate",
        "--key",
        ROOT_URI,
        "--rewrap",
        path_str(&named),
        "--context",
        "dsn",
        "--context",
        "smtp",
    ]);
    assert_eq!(report["imported"], true, "{report}");
    assert_eq!(report["v1_escrowed"], true, "{report}");
    assert_eq!(report["secrets_key_generated"], true, "{report}");
    assert_eq!(report["files"][0]["rewrapped"], 2, "{report}");
    assert_eq!(
        report["key_files_removed"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );

    // The index says where the key lives; the root certificate is the same; no key file.
    let index = hca.ca.index();
    let recorded = &index["settings"]["root_key"];
    assert_eq!(recorded["key_label"], "qvca-root", "{index}");
    assert_eq!(
        recorded["secrets_key_label"],
        format!("qvca SecretsKey {kid}"),
        "{index}"
    );
    assert!(
        recorded["secrets_v1_escrow"]
            .as_str()
            .is_some_and(|e| e.starts_with(&format!("qvca:v2:{kid}:"))),
        "{index}"
    );
    assert_eq!(std::fs::read(hca.root()).expect("root"), root_before);
    for serial in &serials {
        assert!(!key_file(&hca.ca, serial).exists(), "{serial}");
    }
    // In the token: sensitive, not extractable (imported, so never "never extractable").
    let listed = hca
        .hsm
        .pkcs11_tool_ok("qvca", &["--list-objects", "--type", "privkey"]);
    assert!(listed.contains("qvca-root"), "{listed}");
    assert!(listed.contains("sensitive"), "{listed}");
    assert!(
        !listed
            .lines()
            .any(|l| l.contains("Access:") && l.contains(" extractable") && !l.contains("never")),
        "{listed}"
    );
    assert!(secret_keys_listed(&hca.hsm).contains(&format!("qvca SecretsKey {kid}")));

    // The named file is version 2 now (every other byte kept); its tokens open.
    let text = std::fs::read_to_string(&named).expect("named");
    assert!(!text.contains("qvca:v1:"), "{text}");
    assert!(text.ends_with("\nplain=1\n"), "{text}");
    let tokens = qvca::secrets::find_tokens(text.as_bytes());
    assert_eq!(tokens.len(), 2);
    let token = |i: usize| text[tokens[i].clone()].to_owned();
    assert!(token(0).starts_with(&format!("qvca:v2:{kid}:")));
    assert_eq!(decrypted_with(hca.qvca(), &token(0), "dsn"), "dsn-secret-1");
    assert_eq!(
        decrypted_with(hca.qvca(), &token(1), "smtp"),
        "smtp-secret-2"
    );
    // A token elsewhere still opens (the escrowed v1 key), new ones are version 2.
    assert_eq!(decrypted_with(hca.qvca(), &other, ""), "elsewhere-secret-3");
    assert!(encrypt_with(hca.qvca(), "new", "").starts_with("qvca:v2:"));
    // And `secrets rewrap` moves it without a backup.
    let out = hca.run(&[
        "secrets",
        "rewrap",
        "--in",
        path_str(&elsewhere),
        "--in-place",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let moved = std::fs::read_to_string(&elsewhere).expect("elsewhere");
    assert!(moved.starts_with(&format!("x=qvca:v2:{kid}:")), "{moved}");
    assert_eq!(
        decrypted_with(hca.qvca(), moved.trim_end().trim_start_matches("x="), ""),
        "elsewhere-secret-3"
    );

    // The root signs in the token now: a new certificate and the old one verify.
    hca.ok(&["issue", "server", "QVS02", "--key-type", "p256"]);
    assert_verifies(&hca.root(), &hca.cert("QVS02"));
    assert_verifies(&hca.root(), &hca.cert("QVS01"));
    let log = hca.ok(&["log"]);
    assert!(log.contains("hsm migrate"), "{log}");
    assert_no_pin_in(&hca.ca.dir());

    // Nothing is left to do: a second run is refused (exit 3), nothing changed.
    let before = snapshot(&hca.ca.dir());
    let out = hca.run(&["-y", "hsm", "migrate", "--key", ROOT_URI]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(stderr(&out).contains("already lives"), "{}", describe(&out));
    assert_eq!(snapshot(&hca.ca.dir()), before);
}

#[test]
fn a_named_file_that_cannot_be_rewritten_after_the_commit_is_reported_and_its_tokens_still_open() {
    let hca = file_key_ca("p256");
    let token = encrypt_with(hca.qvca(), "linked-value", "");
    let named = scratch(&hca.ca, "app.ini", &format!("a={token}\n"));
    std::fs::hard_link(&named, hca.ca.path().join("app-link.ini")).expect("hard link");
    let out = hca.run(&[
        "-y",
        "hsm",
        "migrate",
        "--key",
        ROOT_URI,
        "--rewrap",
        path_str(&named),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = stderr(&out);
    assert!(text.contains("was not rewritten"), "{text}");
    assert!(text.contains("hard links"), "{text}");
    assert!(text.contains("secrets rewrap --in"), "{text}");
    assert!(!hca.ca.index()["settings"]["root_key"].is_null());
    assert_eq!(
        std::fs::read_to_string(&named).expect("named"),
        format!("a={token}\n")
    );
    assert_eq!(decrypted_with(hca.qvca(), &token, ""), "linked-value");
}

#[test]
fn a_p256_root_migrates_and_a_password_less_ca_needs_only_the_pin_afterwards() {
    let hca = HsmCa::new();
    hca.ok(&["init", "--key-type", "p256", "--no-password"]);
    hca.ok(&["-y", "hsm", "migrate", "--key", ROOT_URI]);
    let out = hca
        .ca
        .qvca_without_password()
        .env("SOFTHSM2_CONF", hca.hsm.conf())
        .args(["--pkcs11-module", super::MODULE, "--pin-file"])
        .arg(hca.hsm.pin_file())
        .args(["issue", "client", "--key-type", "p256"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", describe(&out));
    assert_no_pin(&out, "issue client");
    assert_verifies(&hca.root(), &hca.cert("QVProxy"));
}

#[test]
fn a_migration_that_cannot_rewrap_a_named_file_changes_nothing_and_leaves_nothing_in_the_token() {
    let hca = file_key_ca("p256");
    let token = encrypt_with(hca.qvca(), "value", "dsn");
    let named = scratch(&hca.ca, "app.ini", &format!("dsn={token}\n"));
    let before = snapshot(&hca.ca.dir());
    let objects_before = token_objects(&hca.hsm);
    // The token was made for context "dsn"; only the empty context is tried.
    let out = hca.run(&[
        "-y",
        "hsm",
        "migrate",
        "--key",
        ROOT_URI,
        "--rewrap",
        path_str(&named),
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let text = stderr(&out);
    assert!(text.contains("app.ini"), "{text}");
    assert!(text.contains("nothing was migrated"), "{text}");
    assert_eq!(snapshot(&hca.ca.dir()), before, "the CA changed");
    assert_eq!(
        std::fs::read_to_string(&named).expect("named"),
        format!("dsn={token}\n")
    );
    assert_eq!(token_objects(&hca.hsm), objects_before, "objects were left");
    // With the right context it works.
    hca.ok(&[
        "-y",
        "hsm",
        "migrate",
        "--key",
        ROOT_URI,
        "--rewrap",
        path_str(&named),
        "--context",
        "dsn",
    ]);
}

#[test]
fn a_label_taken_by_another_key_and_a_uri_with_an_id_are_refused_before_anything_changes() {
    let hca = file_key_ca("p256");
    hca.hsm.pkcs11_tool_ok(
        "qvca",
        &[
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--label",
            "qvca-root",
        ],
    );
    let before = snapshot(&hca.ca.dir());
    let out = hca.run(&["-y", "hsm", "migrate", "--key", ROOT_URI]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(
        stderr(&out).contains("another object= label"),
        "{}",
        describe(&out)
    );
    let out = hca.run(&[
        "-y",
        "hsm",
        "migrate",
        "--key",
        "pkcs11:token=qvca;object=root2;id=%01",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("id="), "{}", describe(&out));
    let out = hca.run(&["hsm", "migrate", "--key", "pkcs11:token=qvca;object=root2"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(stderr(&out).contains("--yes"), "{}", describe(&out));
    let out = hca.run(&[
        "-y",
        "hsm",
        "migrate",
        "--key",
        "pkcs11:token=qvca;object=root2?pin-value=Leaked-1234",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(!stderr(&out).contains("Leaked-1234"), "{}", describe(&out));
    assert_eq!(snapshot(&hca.ca.dir()), before, "the CA changed");
}

/// Every crash point `hsm migrate` passes, with how many occurrences to try.
const POINTS: &[(&str, usize)] = &[
    ("migrate-after-import", 1),
    ("before-write", 6),
    ("before-rename", 6),
    ("after-log-append", 1),
    ("before-index-commit", 1),
    ("migrate-after-commit", 1),
    ("rewrap-before-write", 1),
    ("migrate-before-key-removal", 1),
];

#[cfg(feature = "test-hooks")]
#[test]
fn a_migration_killed_at_any_point_leaves_a_working_ca_and_a_second_run_finishes_it() {
    let template = file_key_ca("p256");
    let token = encrypt_with(template.qvca(), "crash-value", "ctx");
    let mut crashes = 0;
    for (point, count) in POINTS {
        for n in 1..=*count {
            let hca = HsmCa::new();
            copy_dir(&template.ca.dir(), &hca.ca.dir());
            let named = scratch(&hca.ca, "app.ini", &format!("a={token}\n"));
            let args = [
                "-y",
                "hsm",
                "migrate",
                "--key",
                ROOT_URI,
                "--rewrap",
                path_str(&named),
                "--context",
                "ctx",
            ];
            let out = hca
                .qvca()
                .args(args)
                .env("QVCA_TEST_CRASH_AT", format!("{point}#{n}"))
                .output()
                .expect("run");
            if out.status.code().is_some() {
                assert!(out.status.success(), "{point}#{n}: {}", describe(&out));
                break; // not reached (again) by this operation
            }
            crashes += 1;
            let what = format!("hsm migrate crashed at {point}#{n}");
            // The CA opens, and is either the file-key CA or the migrated one.
            let listed = hca.run(&["list", "--all"]);
            assert!(listed.status.success(), "{what}: {}", describe(&listed));
            let index = hca.ca.index();
            let root_serial = root_serials(&hca.ca)[0].clone();
            if index["settings"]["root_key"].is_null() {
                assert!(key_file(&hca.ca, &root_serial).is_file(), "{what}");
            }
            // The token still opens, as v1 or v2, whatever the file holds now.
            let text = std::fs::read_to_string(&named).expect("named");
            let now = &text[qvca::secrets::find_tokens(text.as_bytes())[0].clone()];
            assert_eq!(
                decrypted_with(hca.qvca(), now, "ctx"),
                "crash-value",
                "{what}"
            );
            // A second run finishes the migration.
            let again = hca.run(&args);
            assert!(
                again.status.success(),
                "{what}, run again: {}",
                describe(&again)
            );
            let index = hca.ca.index();
            assert!(!index["settings"]["root_key"].is_null(), "{what}");
            assert!(!key_file(&hca.ca, &root_serial).exists(), "{what}");
            let text = std::fs::read_to_string(&named).expect("named");
            assert!(text.starts_with("a=qvca:v2:"), "{what}: {text}");
            let now = &text[qvca::secrets::find_tokens(text.as_bytes())[0].clone()];
            assert_eq!(
                decrypted_with(hca.qvca(), now, "ctx"),
                "crash-value",
                "{what}"
            );
            hca.ok(&["issue", "server", "QVS09", "--key-type", "p256"]);
            assert_verifies(&hca.root(), &hca.cert("QVS09"));
            let log = hca.run(&["log", "--verify"]);
            assert!(log.status.success(), "{what}: {}", describe(&log));
        }
    }
    assert!(
        crashes >= 6,
        "only {crashes} crashes: are the crash points compiled in?"
    );
}
