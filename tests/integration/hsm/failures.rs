//! What goes wrong with a root key in a token, through the real binary: each a clear message
//! with the SPEC's exit code (wrong PIN 4, unreachable module or token 1, a malformed URI 2),
//! nothing written, the PIN never echoed, and never a hang.

use super::cli::{HsmCa, ROOT_URI, assert_no_pin};
use super::{MODULE, SoftHsm, hanging_config};
use crate::support::{describe, snapshot, stderr};
use std::process::Output;
use std::time::{Duration, Instant};

/// Asserts the exit code and that nothing panicked or printed the PIN; returns stderr.
fn failed(out: &Output, code: i32, what: &str) -> String {
    assert_eq!(out.status.code(), Some(code), "{what}: {}", describe(out));
    let text = stderr(out);
    assert!(!text.contains("panicked"), "{what}: {}", describe(out));
    assert_no_pin(out, what);
    text
}

/// A PIN file holding `pin`, in the test's token directory.
fn pin_file(hsm: &SoftHsm, pin: &str) -> std::path::PathBuf {
    let path = hsm.dir().join("other-pin.txt");
    std::fs::write(&path, format!("{pin}\n")).expect("pin file");
    path
}

#[test]
fn a_wrong_pin_is_exit_4_naming_the_token_and_nothing_changes() {
    let hca = HsmCa::init("p256");
    hca.ok(&["issue", "server", "QVS01", "--key-type", "p256"]);
    let before = snapshot(&hca.ca.dir());
    let wrong = "Wrong-PIN-31337";
    let out = hca
        .qvca_without_token_options()
        .args(["--pkcs11-module", MODULE, "--pin-file"])
        .arg(pin_file(&hca.hsm, wrong))
        .args(["issue", "server", "QVS02", "--key-type", "p256"])
        .output()
        .expect("run");
    let text = failed(&out, 4, "issue with a wrong PIN");
    assert!(text.contains("refused the PIN"), "{text}");
    assert!(text.contains("\"qvca\""), "{text}");
    assert!(text.contains(MODULE), "{text}");
    assert!(!text.contains(wrong), "{text}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(wrong));
    assert_eq!(
        snapshot(&hca.ca.dir()),
        before,
        "a wrong PIN changed the CA"
    );

    // At init, too: no CA is created.
    let fresh = HsmCa::new();
    let out = fresh
        .qvca_without_token_options()
        .args(["--pkcs11-module", MODULE, "--pin-file"])
        .arg(pin_file(&fresh.hsm, wrong))
        .args(["init", "--key", ROOT_URI, "--key-type", "p256"])
        .output()
        .expect("run");
    failed(&out, 4, "init with a wrong PIN");
    assert!(!fresh.ca.dir().exists(), "a wrong PIN left a CA directory");
}

#[test]
fn a_wrong_ca_password_is_exit_4_before_the_token_is_asked_for_a_pin() {
    let hca = HsmCa::init("p256");
    hca.ok(&["issue", "server", "QVS01", "--key-type", "p256"]);
    let wrong = hca.ca.path().join("wrong-password.txt");
    std::fs::write(&wrong, "not the CA password\n").expect("write");
    // No PIN source at all: were the token reached first, this would fail for want of a PIN.
    let out = crate::support::bare_qvca()
        .arg("--ca-dir")
        .arg(hca.ca.dir())
        .arg("--password-file")
        .arg(&wrong)
        .env("SOFTHSM2_CONF", hca.hsm.conf())
        .args(["--pkcs11-module", MODULE])
        .args(["issue", "server", "QVS02", "--key-type", "p256"])
        .output()
        .expect("run");
    let text = failed(&out, 4, "issue with a wrong CA password");
    assert!(!text.contains("PIN"), "{text}");
}

#[test]
fn no_pin_and_no_terminal_fails_at_once_naming_the_pin_file_option_and_the_variable() {
    let hca = HsmCa::init("p256");
    let started = Instant::now();
    let out = hca
        .qvca_without_token_options()
        .args(["--pkcs11-module", MODULE])
        .args(["issue", "client", "--key-type", "p256"])
        .output()
        .expect("run");
    assert!(started.elapsed() < Duration::from_secs(30));
    let text = failed(&out, 1, "issue without a PIN");
    assert!(text.contains("--pin-file"), "{text}");
    assert!(text.contains("QVCA_PKCS11_PIN"), "{text}");
    assert!(text.contains("no terminal"), "{text}");
}

#[test]
fn a_pin_value_in_the_uri_is_a_usage_error_that_never_echoes_it() {
    let hca = HsmCa::new();
    let secret = "Typed-Pin-8086";
    for uri in [
        format!("pkcs11:token=qvca;object=root?pin-value={secret}"),
        format!("pkcs11:token=qvca;object=root;pin-value={secret}"),
    ] {
        let out = hca.run(&["init", "--key", &uri]);
        let text = failed(&out, 2, "init with pin-value");
        assert!(text.contains("pin-value"), "{text}");
        assert!(text.contains("--pin-file"), "{text}");
        assert!(!text.contains(secret), "{text}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains(secret));
        assert!(!hca.ca.dir().exists(), "something was created");
    }
    // Other malformed URIs are usage errors too.
    for uri in [
        "pkcs11:token=qvca",
        "http://qvca",
        "pkcs11:token=qvca;object=a%zz",
    ] {
        let out = hca.run(&["init", "--key", uri]);
        failed(&out, 2, uri);
    }
}

#[test]
fn a_pin_value_in_the_ca_index_is_refused_without_echoing_it() {
    let hca = HsmCa::init("p256");
    let path = hca.ca.dir().join("index.json");
    let mut index = hca.ca.index();
    index["settings"]["root_key"]["uri"] =
        "pkcs11:token=qvca;object=qvca-root?pin-value=Leak-4242".into();
    std::fs::write(&path, serde_json::to_vec_pretty(&index).expect("json")).expect("write");
    let out = hca.run(&["issue", "client", "--key-type", "p256"]);
    let text = failed(&out, 1, "issue with a hostile index");
    assert!(text.contains("settings.root_key.uri"), "{text}");
    assert!(!text.contains("Leak-4242"), "{text}");
    let out = hca.run(&["list"]);
    failed(&out, 1, "list with a hostile index");
}

#[test]
fn init_refuses_to_generate_a_key_the_uri_names_by_an_id_or_without_a_label() {
    let hca = HsmCa::new();
    let out = hca.run(&["init", "--key", "pkcs11:token=qvca;object=root;id=%01"]);
    let text = failed(&out, 2, "init naming an absent id");
    assert!(text.contains("leave id= out"), "{text}");
    let out = hca.run(&["init", "--key", "pkcs11:token=qvca;id=%01"]);
    let text = failed(&out, 2, "init naming only an absent id");
    assert!(text.contains("object=LABEL"), "{text}");
    assert!(!hca.ca.dir().join("index.json").exists());
    // A label another object has (here a data object) is refused, not overwritten.
    let data = hca.hsm.dir().join("data.bin");
    std::fs::write(&data, b"data").expect("write");
    hca.hsm.pkcs11_tool_ok(
        "qvca",
        &[
            "--write-object",
            crate::support::path_str(&data),
            "--type",
            "data",
            "--label",
            "taken",
            "--private",
        ],
    );
    let out = hca.run(&["init", "--key", "pkcs11:token=qvca;object=taken"]);
    let text = failed(&out, 3, "init over a taken label");
    assert!(text.contains("exists already"), "{text}");
}

#[test]
fn a_missing_token_is_exit_1_naming_the_module_the_token_and_the_key() {
    // At init: the URI names a token the module does not have.
    let hca = HsmCa::new();
    let out = hca.run(&["init", "--key", "pkcs11:token=absent;object=qvca-root"]);
    let text = failed(&out, 1, "init on a missing token");
    assert!(text.contains("\"absent\""), "{text}");
    assert!(
        text.contains("\"qvca\""),
        "the tokens seen are listed: {text}"
    );
    assert!(text.contains(MODULE), "{text}");
    assert!(
        !hca.ca.dir().exists(),
        "a missing token left a CA directory"
    );

    // Later: the CA's token was deleted.
    let hca = HsmCa::init("p256");
    let out = std::process::Command::new("softhsm2-util")
        .args(["--delete-token", "--token", "qvca"])
        .env("SOFTHSM2_CONF", hca.hsm.conf())
        .output()
        .expect("softhsm2-util");
    assert!(out.status.success(), "{}", describe(&out));
    let before = snapshot(&hca.ca.dir());
    let out = hca.run(&["crl"]);
    let text = failed(&out, 1, "crl with the token gone");
    assert!(text.contains("\"qvca\""), "{text}");
    assert!(text.contains("qvca-root"), "{text}");
    assert!(text.contains(MODULE), "{text}");
    assert_eq!(snapshot(&hca.ca.dir()), before);
}

#[test]
fn a_missing_key_object_is_exit_1_naming_it() {
    let hca = HsmCa::init("p256");
    hca.hsm.pkcs11_tool_ok(
        "qvca",
        &[
            "--delete-object",
            "--type",
            "privkey",
            "--label",
            "qvca-root",
        ],
    );
    let out = hca.run(&["issue", "client", "--key-type", "p256"]);
    let text = failed(&out, 1, "issue with the key gone");
    assert!(text.contains("no private key"), "{text}");
    assert!(text.contains("qvca-root"), "{text}");
    assert!(text.contains(MODULE), "{text}");
}

#[test]
fn a_missing_or_unnamed_module_is_a_clear_error() {
    let hca = HsmCa::new();
    let out = hca
        .qvca_without_token_options()
        .args(["--pkcs11-module", "/nonexistent/libpkcs11.so", "--pin-file"])
        .arg(hca.hsm.pin_file())
        .args(["init", "--key", ROOT_URI])
        .output()
        .expect("run");
    let text = failed(&out, 1, "init with a missing module");
    assert!(text.contains("/nonexistent/libpkcs11.so"), "{text}");
    assert!(
        !hca.ca.dir().exists(),
        "a missing module left a CA directory"
    );

    let out = hca
        .qvca_without_token_options()
        .args(["--pin-file"])
        .arg(hca.hsm.pin_file())
        .args(["init", "--key", ROOT_URI])
        .output()
        .expect("run");
    let text = failed(&out, 2, "init without a module");
    assert!(text.contains("--pkcs11-module"), "{text}");
    assert!(text.contains("QVCA_PKCS11_MODULE"), "{text}");
    assert!(text.contains("module-path"), "{text}");

    // Two different modules named at once.
    let out = hca
        .qvca()
        .args([
            "init",
            "--key",
            "pkcs11:token=qvca;object=r?module-path=/usr/lib/other/libother.so",
        ])
        .output()
        .expect("run");
    let text = failed(&out, 2, "init with two modules");
    assert!(text.contains("different modules"), "{text}");
    assert!(!hca.ca.dir().exists(), "something was created");

    // A CA made with a module, later run where the module is missing.
    let hca = HsmCa::init("p256");
    let out = hca
        .qvca_without_token_options()
        .args(["--pkcs11-module", "/nonexistent/libpkcs11.so", "--pin-file"])
        .arg(hca.hsm.pin_file())
        .args(["crl"])
        .output()
        .expect("run");
    let text = failed(&out, 1, "crl with a missing module");
    assert!(text.contains("/nonexistent/libpkcs11.so"), "{text}");
}

#[test]
fn an_index_pointing_at_another_key_than_the_roots_is_refused_and_nothing_is_signed() {
    let hca = HsmCa::init("p256");
    hca.hsm.pkcs11_tool_ok(
        "qvca",
        &[
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--label",
            "other",
            "--id",
            "0c0d",
            "--usage-sign",
            "--sensitive",
        ],
    );
    let path = hca.ca.dir().join("index.json");
    let mut index = hca.ca.index();
    let recorded = &mut index["settings"]["root_key"];
    recorded["uri"] = "pkcs11:token=qvca;object=other".into();
    recorded["key_label"] = "other".into();
    recorded["key_id"] = "0c0d".into();
    std::fs::write(&path, serde_json::to_vec_pretty(&index).expect("json")).expect("write");
    let before = snapshot(&hca.ca.dir());
    let out = hca.run(&["issue", "server", "QVS01", "--key-type", "p256"]);
    let text = failed(&out, 1, "issue with another key");
    assert!(
        text.contains("is not the key of the root certificate"),
        "{text}"
    );
    assert!(text.contains("\"other\""), "{text}");
    assert_eq!(snapshot(&hca.ca.dir()), before, "something was written");
}

#[test]
fn an_unreachable_token_is_an_error_within_the_time_limit_not_a_hang() {
    let hca = HsmCa::init("p256");
    let conf = hanging_config(hca.hsm.dir());
    let started = Instant::now();
    let out = hca
        .qvca()
        .env("SOFTHSM2_CONF", &conf)
        .env("QVCA_TEST_PKCS11_TIMEOUT_SECS", "2")
        .timeout(Duration::from_secs(120))
        .args(["crl"])
        .output()
        .expect("run");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    let text = failed(&out, 1, "crl with an unreachable token");
    assert!(text.contains("did not finish within 2 s"), "{text}");
    assert!(text.contains("\"qvca\""), "{text}");
    assert!(text.contains(MODULE), "{text}");
}
