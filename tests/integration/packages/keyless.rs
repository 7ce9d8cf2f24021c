//! Keyless enrolment on Linux: the round trip, `accept` refusing a foreign certificate, options
//! that cannot work, `request.sh` and the sign commands a package prints.

use super::{files_of, keyless_package, named, node_ca, run_script};
use crate::support::{
    TestCa, assert_code, cert_public_key, describe, key_public_key, openssl_ok, path_str, stdout,
};
use std::path::{Path, PathBuf};

// --------------------------------------------------------------------------- keyless on Linux

/// Stands in for `qvca sign` (made on another branch; the lead switches this to
/// `qvca sign REQUEST --server|--client --out CERT` after merging): signs the request with the
/// CA's root key, which is encrypted in the CA directory and read by openssl with the CA
/// password (SPEC: `openssl pkey -passin` reads the keys at rest).
/// Signs a node's request on the CA with `qvca sign` (`--force`: a renewal replaces the
/// node's current certificate, and the output file of an earlier round).
fn sign_with_qvca(ca: &TestCa, request: &Path, server: bool, out: &Path) {
    let profile = if server { "--server" } else { "--client" };
    ca.qvca()
        .args([
            "sign",
            path_str(request),
            profile,
            "--force",
            "--out",
            path_str(out),
        ])
        .assert()
        .success();
}

/// The node's round trip: request, sign on the CA, accept; each step twice.
fn keyless_round_trip(ca: &TestCa, package: &Path, target: &Path, new: bool) {
    let request = package.join("keyless-request.sh");
    let mut args = vec![path_str(target)];
    if new {
        args.insert(0, "--new");
    }
    let out = run_script(&request, &args, None);
    assert_code(&out, 0, "keyless-request.sh");
    assert!(stdout(&out).contains("qvca sign QVS01.csr --server --out QVS01.cer"));
    let pending = target.join("pending");
    let requests: Vec<PathBuf> = named(package, "csr");
    assert_eq!(requests.len(), 2, "{requests:?}");
    for csr in &requests {
        let server = csr.file_name().is_some_and(|n| n == "QVS01.csr");
        let key = pending.join(if server {
            "server_key.pem"
        } else {
            "client_key.pem"
        });
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        openssl_ok(&["req", "-verify", "-noout", "-in", path_str(csr)]);
        let csr_key = openssl_ok(&["req", "-in", path_str(csr), "-noout", "-pubkey"]);
        assert_eq!(csr_key, key_public_key(&key, "pass:"));
    }
    let pending_before = crate::support::snapshot(&pending);
    let again = run_script(&request, &[path_str(target)], None);
    assert_code(&again, 0, "keyless-request.sh again");
    assert!(
        stdout(&again).contains("Nothing changed"),
        "{}",
        describe(&again)
    );
    assert_eq!(crate::support::snapshot(&pending), pending_before);

    for csr in &requests {
        let server = csr.file_name().is_some_and(|n| n == "QVS01.csr");
        sign_with_qvca(ca, csr, server, &csr.with_extension("cer"));
    }
    let accept = package.join("keyless-accept.sh");
    let out = run_script(&accept, &[path_str(target)], None);
    assert_code(&out, 0, "keyless-accept.sh");
    assert!(!pending.exists(), "the pending keys moved into place");
    openssl_ok(&[
        "verify",
        "-CAfile",
        path_str(&target.join("root.pem")),
        path_str(&target.join("server.pem")),
        path_str(&target.join("client.pem")),
    ]);
    for name in ["server", "client"] {
        assert_eq!(
            cert_public_key(&target.join(format!("{name}.pem"))),
            key_public_key(&target.join(format!("{name}_key.pem")), "pass:"),
            "{name}"
        );
    }
    let installed = crate::support::snapshot(target);
    let again = run_script(&accept, &[path_str(target)], None);
    assert_code(&again, 0, "keyless-accept.sh again");
    assert!(
        stdout(&again).contains("Nothing changed"),
        "{}",
        describe(&again)
    );
    assert_eq!(crate::support::snapshot(target), installed);
}

#[test]
fn the_keyless_round_trip_works_on_linux_and_no_key_ever_leaves_the_node() {
    for key_type in ["rsa2048", "p256"] {
        let client = "QV+Proxy \"x\" \u{dc}n\u{ef} $(touch PWNED) MARK";
        let ca = node_ca(key_type, "QlikViewCA", client);
        let package = keyless_package(&ca, &["--key-type", key_type]);
        let target = ca.path().join("node");
        keyless_round_trip(&ca, &package, &target, false);
        let said = openssl_ok(&[
            "x509",
            "-in",
            path_str(&target.join("client.pem")),
            "-noout",
            "-subject",
            "-nameopt",
            "multiline,-esc_msb,utf8",
        ]);
        assert!(said.contains(client), "{said}");
        let expected_key = if key_type == "p256" { "EC" } else { "RSA" };
        let text = openssl_ok(&[
            "pkey",
            "-in",
            path_str(&target.join("server_key.pem")),
            "-text",
            "-noout",
        ]);
        assert!(
            text.contains(expected_key) || text.contains("Private-Key"),
            "{text}"
        );
        assert!(!ca.path().join("PWNED").exists() && !package.join("PWNED").exists());

        // Renewal: a new request on the node; the key in use stays until the new certificate
        // is accepted.
        let old_key = std::fs::read(target.join("server_key.pem")).expect("key");
        let out = run_script(
            &package.join("keyless-request.sh"),
            &[path_str(&target)],
            None,
        );
        assert_code(&out, 0, "a request again after the round trip");
        assert!(
            stdout(&out).contains("accepted already"),
            "{}",
            describe(&out)
        );
        assert!(
            stdout(&out).contains("Nothing changed"),
            "{}",
            describe(&out)
        );
        keyless_round_trip(&ca, &package, &target, true);
        let new_key = std::fs::read(target.join("server_key.pem")).expect("key");
        assert_ne!(old_key, new_key, "renewal made a new key on the node");

        for file in files_of(&package) {
            let bytes = std::fs::read(&file).expect("read");
            assert!(
                !String::from_utf8_lossy(&bytes).contains("PRIVATE KEY"),
                "{} holds a private key",
                file.display()
            );
        }
    }
}

#[test]
fn keyless_accept_refuses_a_certificate_for_a_key_not_made_here() {
    let ca = node_ca("p256", "QlikViewCA", "QVProxy");
    let package = keyless_package(&ca, &["--key-type", "p256"]);
    let target = ca.path().join("node");
    let out = run_script(
        &package.join("keyless-request.sh"),
        &[path_str(&target)],
        None,
    );
    assert_code(&out, 0, "keyless-request.sh");
    // A request made elsewhere, signed by the same CA.
    let stranger = ca.path().join("stranger.csr");
    openssl_ok(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        path_str(&ca.path().join("stranger.key")),
        "-subj",
        "/CN=QVS01",
        "-out",
        path_str(&stranger),
    ]);
    sign_with_qvca(&ca, &stranger, true, &package.join("QVS01.cer"));
    sign_with_qvca(
        &ca,
        &package.join("client-QVS01.csr"),
        false,
        &package.join("client-QVS01.cer"),
    );
    let out = run_script(
        &package.join("keyless-accept.sh"),
        &[path_str(&target)],
        None,
    );
    assert_code(&out, 1, "a certificate for a stranger's key");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("belongs to no key made here"),
        "{}",
        describe(&out)
    );
    assert!(!target.join("server.pem").exists() && !target.join("client.pem").exists());
}

// ------------------------------------------------------------------------------- bad input

#[test]
fn keyless_options_that_cannot_work_are_usage_errors_and_write_nothing() {
    let ca = node_ca("p256", "QlikViewCA", "QVProxy");
    let out_dir = ca.path().join("pkg");
    for (args, code, needle) in [
        (
            vec!["--keyless", "--key-type", "p256", "--key-storage", "capi"],
            2,
            "CAPI providers hold RSA keys only",
        ),
        (vec!["--keyless", "--legacy"], 2, "--legacy"),
        (vec!["--key-type", "p256"], 2, "--keyless"),
        (vec!["--key-storage", "cng"], 2, "--keyless"),
    ] {
        let out = ca
            .qvca_without_password()
            .args(["package", "QVS01", "--out", path_str(&out_dir)])
            .args(&args)
            .output()
            .expect("run");
        assert_code(&out, code, &format!("{args:?}"));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{args:?}: {}",
            describe(&out)
        );
        assert!(!out_dir.exists());
    }
    for machine in ["10.1.2.3", "qvs01.corp.local"] {
        let out = ca
            .qvca_without_password()
            .args(["package", machine, "--keyless", "--out", path_str(&out_dir)])
            .output()
            .expect("run");
        assert_code(&out, 1, machine);
        assert!(!out_dir.exists());
    }
    std::fs::create_dir(&out_dir).expect("mkdir");
    let out = ca
        .qvca_without_password()
        .args(["package", "QVS01", "--keyless", "--out", path_str(&out_dir)])
        .output()
        .expect("run");
    assert_code(&out, 3, "existing --out");
}

#[test]
fn keyless_request_sh_refuses_an_incomplete_earlier_request_until_new_is_given() {
    let ca = node_ca("p256", "QlikViewCA", "QVProxy");
    let package = keyless_package(&ca, &["--key-type", "p256"]);
    let target = ca.path().join("node");
    let request = package.join("keyless-request.sh");
    assert_code(
        &run_script(&request, &[path_str(&target)], None),
        0,
        "request",
    );
    std::fs::remove_file(package.join("client-QVS01.csr")).expect("remove");
    let pending = crate::support::snapshot(&target.join("pending"));
    let out = run_script(&request, &[path_str(&target)], None);
    assert_code(&out, 1, "incomplete");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("incomplete")
            && String::from_utf8_lossy(&out.stderr).contains("--new"),
        "{}",
        describe(&out)
    );
    assert_eq!(crate::support::snapshot(&target.join("pending")), pending);
    let out = run_script(&request, &["--new", path_str(&target)], None);
    assert_code(&out, 0, "--new");
    assert_ne!(crate::support::snapshot(&target.join("pending")), pending);
    assert!(package.join("client-QVS01.csr").is_file());
}

#[test]
fn the_sign_commands_a_keyless_package_prints_are_safe_to_paste_whatever_the_client_name() {
    let ca = crate::support::p256_ca(&["QVS01"]);
    let hostile = "C'$(touch PWNED)\u{2019};calc;\u{2018}%PATH%\"x";
    ca.qvca()
        .args([
            "issue",
            "client",
            "--key-type",
            "p256",
            "--force",
            "--",
            hostile,
        ])
        .assert()
        .success();
    let package = ca.path().join("kpkg");
    let out = crate::support::run(
        &ca,
        &["package", "QVS01", "--keyless", "--out", path_str(&package)],
    );
    assert_code(&out, 0, "package --keyless");
    let readme =
        String::from_utf8_lossy(&std::fs::read(package.join("README.txt")).expect("readme"))
            .into_owned();
    let lines: Vec<&str> = readme
        .lines()
        .filter(|l| l.trim_start().starts_with("qvca sign"))
        .collect();
    assert_eq!(lines.len(), 2, "{readme}");
    let scratch = ca.path().join("paste");
    std::fs::create_dir_all(&scratch).expect("mkdir");
    for line in lines {
        assert!(
            !line.contains(['$', '\'', '"', ';', '`', '%', '\u{2019}']),
            "{line}"
        );
        // Pasted into a shell on the QMS (qvca stubbed out), it runs nothing else.
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("qvca() {{ :; }}; {line}"))
            .current_dir(&scratch)
            .status()
            .expect("sh");
        assert!(status.success());
    }
    assert!(!scratch.join("PWNED").exists());
}
