//! Shell completions and the man pages.

use super::{bare, bare_ok};
use crate::support::{assert_code, bare_qvca, path_str, tool};
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------- completions and man

#[test]
fn completions_exist_for_bash_zsh_fish_and_powershell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let script = bare_ok(&["completions", shell]);
        assert!(script.len() > 1000, "{shell}: {script}");
        assert!(script.contains("qvca"), "{shell}");
        for command in ["renew", "revoke", "crl", "doctor", "ports", "license"] {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
    }
    assert_code(&bare(&["completions", "tcsh"]), 2, "an unknown shell");
}

#[test]
fn the_bash_completion_parses_and_completes_subcommands() {
    let dir = tempfile::tempdir().expect("temp");
    let file = dir.path().join("qvca.bash");
    std::fs::write(&file, bare_ok(&["completions", "bash"])).expect("write");
    let (ok, text) = tool("bash", &["-n", path_str(&file)]);
    assert!(ok, "bash -n: {text}");

    let probe = format!(
        "source '{}'; COMP_WORDS=(qvca re); COMP_CWORD=1; COMP_LINE='qvca re'; COMP_POINT=7; \
         _qvca qvca re qvca; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let (ok, text) = tool("bash", &["-c", &probe]);
    assert!(ok, "{text}");
    let offered: BTreeSet<&str> = text.lines().map(str::trim).collect();
    for expected in ["renew", "revoke", "restore"] {
        assert!(offered.contains(expected), "{expected} not offered: {text}");
    }
    assert!(!offered.contains("doctor"), "{text}");
}

#[test]
fn man_prints_a_roff_page_about_qvca() {
    let page = bare_ok(&["man"]);
    assert!(
        page.starts_with(".TH") || page.starts_with(".ie"),
        "{}",
        &page[..page.len().min(200)]
    );
    assert!(page.contains(".TH qvca"), "the title is qvca");
    assert!(page.contains(".SH NAME"));
    assert!(page.contains("renew") && page.contains("revoke"));
}

#[test]
fn man_has_a_page_per_command_and_writes_them_all() {
    let page = bare_ok(&["man", "issue", "server"]);
    assert!(page.contains(".TH qvca-issue-server"), "{page}");
    assert!(page.contains("\\-\\-from\\-file"), "its own options");
    let dir = tempfile::tempdir().expect("temp");
    let pages = dir.path().join("man1");
    bare_qvca()
        .args(["man", "--out-dir"])
        .arg(&pages)
        .assert()
        .success();
    for name in [
        "qvca.1",
        "qvca-issue-server.1",
        "qvca-backup-verify.1",
        "qvca-sign.1",
    ] {
        assert!(pages.join(name).is_file(), "{name} missing");
    }
    let out = bare_qvca().args(["man", "nonsense"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
}
