//! `install.sh` run for real: twice with a password file, every check before any write, no
//! terminal, and killed at the password prompt.

use super::{node_ca, pfx_package, pfx_password_file_without_newline, run_script};
use crate::support::{assert_code, describe, openssl_ok, path_str, stdout, tool};
use std::path::Path;

#[test]
fn install_sh_runs_twice_with_a_password_file_without_final_newline_and_the_second_run_changes_nothing()
 {
    let ca = node_ca("rsa2048", "QlikViewCA", "QVProxy");
    let pfx = pfx_package(&ca, &[]);
    let target = ca.path().join("node");
    let password = pfx_password_file_without_newline(&ca);
    assert!(!std::fs::read(&password).expect("pw").ends_with(b"\n"));

    let first = run_script(
        &pfx.join("install.sh"),
        &[path_str(&target)],
        Some(&password),
    );
    assert_code(&first, 0, "first run");
    assert!(
        stdout(&first).contains("installed Server key"),
        "{}",
        describe(&first)
    );
    let installed = crate::support::snapshot(&target);
    assert_eq!(installed.len(), 5, "{installed:?}");
    openssl_ok(&[
        "verify",
        "-CAfile",
        path_str(&target.join("root.pem")),
        path_str(&target.join("server.pem")),
        path_str(&target.join("client.pem")),
    ]);
    let cert_key = openssl_ok(&[
        "x509",
        "-in",
        path_str(&target.join("server.pem")),
        "-noout",
        "-pubkey",
    ]);
    let key_pub = openssl_ok(&[
        "pkey",
        "-in",
        path_str(&target.join("server_key.pem")),
        "-pubout",
    ]);
    assert_eq!(cert_key, key_pub);

    let second = run_script(
        &pfx.join("install.sh"),
        &[path_str(&target)],
        Some(&password),
    );
    assert_code(&second, 0, "second run");
    let said = stdout(&second);
    assert!(said.contains("Nothing changed"), "{said}");
    assert!(!said.contains("installed "), "{said}");
    assert_eq!(crate::support::snapshot(&target), installed);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for (file, mode) in [("server_key.pem", 0o600), ("server.pem", 0o644)] {
            let meta = std::fs::metadata(target.join(file)).expect("meta");
            assert_eq!(meta.permissions().mode() & 0o777, mode, "{file}");
        }
    }
}

#[test]
fn install_sh_checks_everything_before_writing_anything() {
    let ca = node_ca("p256", "QlikViewCA", "QVProxy");
    let pfx = pfx_package(&ca, &[]);
    let target = ca.path().join("node");
    let wrong = ca.path().join("wrong.txt");
    std::fs::write(&wrong, "not the password\n").expect("write");
    let out = run_script(&pfx.join("install.sh"), &[path_str(&target)], Some(&wrong));
    assert_code(&out, 1, "wrong password");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the password does not open QVS01.pfx"),
        "{}",
        describe(&out)
    );
    assert!(
        !target.exists(),
        "a failed check wrote {}",
        target.display()
    );

    // A package whose Client PFX was replaced by another CA's: refused, nothing written.
    let other = node_ca("p256", "OtherCA", "QVProxy");
    let other_pfx = pfx_package(&other, &[]);
    std::fs::copy(other_pfx.join("QVProxy.pfx"), pfx.join("QVProxy.pfx")).expect("copy");
    let out = run_script(
        &pfx.join("install.sh"),
        &[path_str(&target)],
        Some(&pfx_password_file_without_newline(&ca)),
    );
    assert_code(&out, 1, "foreign Client PFX");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not hold the packaged certificate"),
        "{}",
        describe(&out)
    );
    assert!(!target.exists());
}

#[test]
fn install_sh_without_a_password_source_and_without_a_terminal_fails_at_once() {
    let ca = node_ca("p256", "QlikViewCA", "QVProxy");
    let pfx = pfx_package(&ca, &[]);
    let out = run_script(
        &pfx.join("install.sh"),
        &[path_str(&ca.path().join("n"))],
        None,
    );
    assert_code(&out, 1, "no password");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("QVCA_PFX_PASSWORD_FILE"),
        "{}",
        describe(&out)
    );
}

#[test]
fn install_sh_killed_at_the_password_prompt_gives_the_terminal_its_echo_back() {
    use rexpect::reader::Options;
    use rexpect::session::spawn_with_options;
    let ca = node_ca("p256", "QlikViewCA", "QVProxy");
    let pfx = pfx_package(&ca, &[]);
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        // rexpect starts the terminal without echo: turn it on, as a login terminal has it.
        .arg("stty echo; sh \"$1\" \"$2\"; echo \"rc=$?\"; stty -a")
        .arg("outer")
        .arg(pfx.join("install.sh"))
        .arg(ca.path().join("node"))
        .env("QVCA_SKIP_TRUST_STORE", "1")
        .env_remove("QVCA_PFX_PASSWORD_FILE");
    let mut session = spawn_with_options(
        command,
        Options::new()
            .timeout_ms(Some(30_000))
            .strip_ansi_escape_codes(true),
    )
    .expect("spawn in a pty");
    session.exp_string("PFX password:").expect("the prompt");
    // Let the script turn echo off and wait in read, then end it as a service manager would.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let script_pid = process_running(&pfx.join("install.sh")).expect("install.sh runs");
    let (ok, text) = tool("kill", &["-TERM", &script_pid]);
    assert!(ok, "{text}");
    session
        .exp_string("rc=143")
        .expect("install.sh ended by SIGTERM");
    let settings = session.exp_eof().expect("stty -a");
    let flags: Vec<&str> = settings
        .split(|c: char| c.is_whitespace() || c == ';')
        .collect();
    assert!(
        flags.contains(&"echo") && !flags.contains(&"-echo"),
        "the terminal was left without echo:\n{settings}"
    );
    assert!(!ca.path().join("node").exists());
}

/// The id of the process whose command line is `sh SCRIPT ...` (the script's path is unique to
/// the test's temporary directory).
fn process_running(script: &Path) -> Option<String> {
    let wanted = path_str(script).as_bytes().to_vec();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if !pid.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let mut args = cmdline.split(|b| *b == 0);
            (args.next() == Some(b"sh") && args.next() == Some(wanted.as_slice())).then_some(pid)
        })
}
