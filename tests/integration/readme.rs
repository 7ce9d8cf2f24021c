//! README.md is pinned to the binary: every ```console block runs, in README order, against the
//! real `qvca` in one scratch area, and what it prints must be what the README shows.
//!
//! The rules a block follows (so the README stays readable for a person):
//!
//! - a line starting with `$ ` is a command, run with `sh -c` (stdout and stderr together, as a
//!   console shows them); the lines after it up to the next command are its output;
//! - in output, `[..]` stands for any text within a line (serials, dates, sizes) and a line
//!   `...` for any number of lines;
//! - a command that exits non-zero must be followed by `$ echo $?` or print `qvca: error`, so a
//!   failure is never shown as if it succeeded;
//! - `$ export NAME=VALUE` sets NAME for the commands that follow (as in a console session);
//! - `/srv/qvca`, `/etc/qvca` and `/var/backups/qvca` are folders of the scratch area: the
//!   paths are rewritten in commands and back in output.
//!
//! Before the first block, the scratch area holds what the README takes as given: the CA
//! password in `/etc/qvca/ca-password`, the PFX and backup passwords in `pfx.pass` and
//! `backup.pass`, the license key of Qlik's sample in `key.txt`, and `passwords.txt` with two
//! values. Blocks that cannot run here (Windows, cron, systemd, firewalls) are ```sh or
//! ```text, not ```console.

use super::support::PASSWORD;
use std::collections::BTreeMap;
use std::path::Path;

/// The folders of the README's examples that live in the scratch area.
const VIRTUAL_DIRS: [&str; 3] = ["/srv/qvca", "/etc/qvca", "/var/backups/qvca"];

/// One ```console block: its first line number in README.md and its commands.
struct Block {
    line: usize,
    commands: Vec<Command>,
}

/// One `$ ` command with the output the README shows for it.
struct Command {
    line: usize,
    text: String,
    expected: Vec<String>,
}

/// The ```console blocks of a Markdown text.
fn console_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for (number, line) in markdown.lines().enumerate() {
        let number = number + 1;
        match current.as_mut() {
            None if line.trim_end() == "```console" => {
                current = Some(Block {
                    line: number,
                    commands: Vec::new(),
                });
            }
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some(block) => {
                if let Some(command) = line.strip_prefix("$ ") {
                    block.commands.push(Command {
                        line: number,
                        text: command.to_owned(),
                        expected: Vec::new(),
                    });
                } else {
                    let command = block.commands.last_mut().unwrap_or_else(|| {
                        panic!("README.md:{number}: output before the first `$ ` command")
                    });
                    command.expected.push(line.to_owned());
                }
            }
        }
    }
    assert!(
        current.is_none(),
        "README.md: a ```console block is not closed"
    );
    blocks
}

/// Whether one line matches a pattern line in which `[..]` stands for any text.
fn line_matches(pattern: &str, line: &str) -> bool {
    let mut parts = pattern.split("[..]");
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Whether the lines match the pattern lines, where a line `...` stands for any lines.
fn lines_match(patterns: &[String], lines: &[&str]) -> bool {
    match patterns.split_first() {
        None => lines.is_empty(),
        Some((first, rest)) if first == "..." => {
            (0..=lines.len()).any(|skip| lines_match(rest, &lines[skip..]))
        }
        Some((first, rest)) => lines
            .split_first()
            .is_some_and(|(line, more)| line_matches(first, line) && lines_match(rest, more)),
    }
}

/// Rewrites the README's absolute example folders into the scratch area.
fn into_sandbox(text: &str, sandbox: &Path) -> String {
    let mut text = text.to_owned();
    for dir in VIRTUAL_DIRS {
        text = text.replace(dir, &format!("{}{dir}", sandbox.display()));
    }
    text
}

/// Writes the files the README takes as given.
fn prepare(sandbox: &Path) {
    for dir in VIRTUAL_DIRS {
        std::fs::create_dir_all(format!("{}{dir}", sandbox.display())).expect("mkdir");
    }
    let files = [
        ("etc/qvca/ca-password", format!("{PASSWORD}\n")),
        ("pfx.pass", "pfx password 42\n".to_owned()),
        ("backup.pass", "backup password 42\n".to_owned()),
        ("key.txt", super::lifecycle::SEED_003_SLK.to_owned()),
        ("passwords.txt", "first secret\nsecond secret\n".to_owned()),
    ];
    for (name, content) in files {
        std::fs::write(sandbox.join(name), content).expect("write a README fixture");
    }
}

#[test]
fn the_readme_console_blocks_are_what_the_binary_prints() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let blocks = console_blocks(&readme);
    assert!(blocks.len() >= 10, "README.md has its console blocks");
    let temp = tempfile::tempdir().expect("temp dir");
    // Canonical, so that paths qvca prints match the ones rewritten back.
    let sandbox = temp.path().canonicalize().expect("canonical temp dir");
    prepare(&sandbox);
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_qvca"))
        .parent()
        .expect("bin dir")
        .to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut last_code = 0;
    for block in &blocks {
        for (i, command) in block.commands.iter().enumerate() {
            let text = into_sandbox(&command.text, &sandbox);
            if let Some((name, value)) = text
                .strip_prefix("export ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|assignment| assignment.split_once('='))
            {
                env.insert(name.to_owned(), value.to_owned());
                last_code = 0;
                continue;
            }
            // `exec 2>&1` keeps stdout and stderr in one pipe, in the order they were written;
            // `(exit N)` gives `echo $?` the previous command's exit code.
            let script = format!("exec 2>&1; (exit {last_code}); {text}");
            let mut sh = std::process::Command::new("sh");
            sh.arg("-c")
                .arg(script)
                .current_dir(&sandbox)
                .env_clear()
                .env("PATH", &path)
                .env("HOME", &sandbox)
                .env("LANG", "C.UTF-8")
                .envs(&env)
                .stdin(std::process::Stdio::null());
            let out = sh.output().expect("sh");
            last_code = out.status.code().unwrap_or(-1);
            let printed =
                String::from_utf8_lossy(&out.stdout).replace(&sandbox.display().to_string(), "");
            let lines: Vec<&str> = printed.lines().map(str::trim_end).collect();
            let mut expected: Vec<String> = command
                .expected
                .iter()
                .map(|l| l.trim_end().to_owned())
                .collect();
            // A blank line before the next command only separates them.
            while expected.last().is_some_and(String::is_empty) {
                expected.pop();
            }
            if !lines_match(&expected, &lines) {
                failures.push(format!(
                    "README.md:{} (block at line {}): $ {}\n--- the README shows:\n{}\n--- qvca printed (exit {last_code}):\n{}",
                    command.line,
                    block.line,
                    command.text,
                    expected.join("\n"),
                    lines.join("\n")
                ));
            }
            let next_is_echo = block
                .commands
                .get(i + 1)
                .is_some_and(|c| c.text.trim_start().starts_with("echo $?"));
            if last_code != 0 && !next_is_echo && !printed.contains("qvca: error") {
                failures.push(format!(
                    "README.md:{}: $ {} exits {last_code}, which the README does not show \
                     (add `$ echo $?`):\n{printed}",
                    command.line, command.text
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} README command(s) differ from the binary:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_readme_matcher_takes_wildcards_and_nothing_else() {
    let p = |lines: &[&str]| lines.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert!(line_matches("serial [..], valid", "serial 0A1B, valid"));
    assert!(line_matches("a [..] b [..]", "a x b yz"));
    assert!(!line_matches("serial [..], valid", "serial 0A1B valid"));
    assert!(!line_matches("exact", "exact and more"));
    assert!(lines_match(&p(&["a", "...", "z"]), &["a", "b", "c", "z"]));
    assert!(lines_match(&p(&["a", "...", "z"]), &["a", "z"]));
    assert!(!lines_match(&p(&["a", "z"]), &["a", "b", "z"]));
    assert!(!lines_match(&p(&[]), &["unexpected"]));
}

#[test]
fn the_readme_sections_the_templates_point_to_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let headings: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| l.trim_start_matches('#').trim())
        .collect();
    let mut pointers = 0;
    for entry in std::fs::read_dir(root.join("templates")).expect("templates") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("template");
        for (at, pointer) in text.match_indices("README, \"") {
            let rest = &text[at + pointer.len()..];
            let section = rest.split('"').next().unwrap_or_default();
            pointers += 1;
            assert!(
                headings.contains(&section),
                "{} points to the README section {section:?}, which does not exist",
                path.display()
            );
        }
    }
    assert!(pointers > 0, "the templates point to the README");
}

#[test]
fn verify_lists_the_certificates_in_the_order_list_does() {
    let ca = super::support::p256_ca(&["QVS02", "qms01", "QVS10"]);
    let list = ca.json(&["list"]);
    let listed: Vec<String> = list["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .map(|c| c["serial"].as_str().expect("serial").to_owned())
        .collect();
    let verify = ca.json(&["verify"]);
    let verified: Vec<String> = verify["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["serial"].as_str().expect("serial").to_owned())
        .collect();
    assert_eq!(verified, listed, "verify: {verify}\nlist: {list}");
}
