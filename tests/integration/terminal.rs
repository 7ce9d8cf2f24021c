//! qvca on a terminal (a pseudo-terminal driven with rexpect): the password prompts of
//! `init`, the confirmation of `init --force`, and the guarantee that nothing waits for input
//! that cannot come when stdin is not a terminal.

use crate::support::{
    PASSWORD, QVCA_VARIABLES, TestCa, openssl_ok, path_str, protected_ca, replaced_dirs, tool,
};
use rexpect::process::WaitStatus;
use rexpect::reader::Options;
use rexpect::session::{PtySession, spawn_with_options};
use std::process::Command;
use std::time::{Duration, Instant};

/// The longest any expected output may take (generous: a debug build on a loaded CI machine).
pub(crate) const TIMEOUT_MS: u64 = 30_000;
/// How long a command that must not wait for input may take to fail.
const FAIL_FAST_MS: u64 = 5_000;

/// Spawns `command` in a new pseudo-terminal (stdin, stdout and stderr all the terminal).
///
/// The child gets SIGINT at its default disposition (`env --default-signal=INT`): when the test
/// runner itself was started with SIGINT ignored (a background job of a non-interactive
/// shell), the child would inherit that, and a Ctrl-C sent through the terminal would hang.
pub(crate) fn spawn(command: Command, timeout_ms: u64) -> PtySession {
    let mut command = with_default_sigint(&command);
    for var in QVCA_VARIABLES {
        command.env_remove(var);
    }
    spawn_with_options(
        command,
        Options::new()
            .timeout_ms(Some(timeout_ms))
            .strip_ansi_escape_codes(true),
    )
    .expect("spawn in a pty")
}

/// `command` run through `env --default-signal=INT` (coreutils), same arguments,
/// environment and working directory.
fn with_default_sigint(command: &Command) -> Command {
    let mut wrapped = Command::new("env");
    wrapped
        .arg("--default-signal=INT")
        .arg(command.get_program());
    wrapped.args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}

/// `qvca --ca-dir DIR ARGS...` in a pseudo-terminal, with no password source.
fn spawn_qvca(ca: &TestCa, args: &[&str]) -> PtySession {
    let mut command = Command::new(env!("CARGO_BIN_EXE_qvca"));
    command.arg("--ca-dir").arg(ca.dir()).args(args);
    command.current_dir(ca.path());
    spawn(command, TIMEOUT_MS)
}

/// Waits for the output `needle`, failing with what was seen instead.
pub(crate) fn expect(session: &mut PtySession, needle: &str) -> String {
    session
        .exp_string(needle)
        .unwrap_or_else(|e| panic!("waiting for {needle:?}: {e}"))
}

/// Reads everything up to the end of the output and returns it with the exit code.
pub(crate) fn finish(session: &mut PtySession) -> (String, i32) {
    let rest = session.exp_eof().expect("the command ends");
    match session.process().wait().expect("wait") {
        WaitStatus::Exited(_, code) => (rest, code),
        other => panic!("qvca did not exit normally: {other:?}\n{rest}"),
    }
}

/// The pid of the running qvca process whose command line contains `marker` (a test's unique
/// scratch path), whether rexpect started it directly or through bash.
pub(crate) fn qvca_pid(marker: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
                continue;
            };
            if comm.trim_end() != "qvca" {
                continue;
            }
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(marker) {
                return pid;
            }
        }
        assert!(Instant::now() < deadline, "no qvca process with {marker:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The system calls a process waiting for terminal input blocks in.
const INPUT_SYSCALLS: &[u64] = if cfg!(target_arch = "x86_64") {
    &[0, 7, 23, 270, 271] // read, poll, select, pselect6, ppoll
} else if cfg!(target_arch = "aarch64") {
    &[63, 72, 73] // read, pselect6, ppoll
} else {
    &[]
};

/// Waits until `pid` is blocked reading its terminal. A prompt is printed before the terminal
/// is switched to no-echo mode with TCSAFLUSH, which discards input that arrived earlier:
/// typing as soon as the prompt appears would lose the keystrokes, as it would for a person.
fn wait_until_reading(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(TIMEOUT_MS / 1000);
    let mut readable = false;
    while Instant::now() < deadline {
        if let Ok(syscall) = std::fs::read_to_string(format!("/proc/{pid}/syscall")) {
            readable = true;
            let number = syscall
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok());
            if number.is_some_and(|n| INPUT_SYSCALLS.contains(&n)) {
                // Let the terminal settle after the mode switch.
                std::thread::sleep(Duration::from_millis(30));
                return;
            }
        } else if !readable {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Without /proc/<pid>/syscall, give the prompt a moment instead.
    std::thread::sleep(Duration::from_millis(500));
}

/// Types `line` once the process waits for it.
pub(crate) fn answer(session: &mut PtySession, pid: u32, line: &str) {
    wait_until_reading(pid);
    session.send_line(line).expect("type into the terminal");
}

/// The root key file of a CA.
fn root_key(ca: &TestCa) -> std::path::PathBuf {
    let index = ca.index();
    let root = index["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .find(|e| e["kind"] == "root")
        .expect("root entry")
        .clone();
    ca.dir()
        .join("keys")
        .join(format!("{}.pem", root["serial"].as_str().expect("serial")))
}

#[test]
fn init_on_a_terminal_asks_for_the_new_password_twice_and_again_after_a_mismatch() {
    let ca = TestCa::new();
    let password = "pty typed password 42";
    let mut session = spawn_qvca(&ca, &["init", "--key-type", "p256"]);
    let pid = qvca_pid(path_str(&ca.dir()));

    expect(&mut session, "New CA password");
    answer(&mut session, pid, "first attempt");
    expect(&mut session, "Repeat the CA password");
    answer(&mut session, pid, "a different attempt");
    expect(&mut session, "do not match");

    expect(&mut session, "New CA password");
    answer(&mut session, pid, password);
    expect(&mut session, "Repeat the CA password");
    answer(&mut session, pid, password);
    let (output, code) = finish(&mut session);
    assert_eq!(code, 0, "init succeeds:\n{output}");
    assert!(output.contains("Created the root"), "{output}");
    assert!(
        !output.contains(password),
        "the password is never echoed:\n{output}"
    );

    assert!(ca.dir().join("index.json").is_file(), "the CA exists");
    assert_eq!(ca.index()["settings"]["key_protection"], "encrypted");
    // The typed password (not one of the mismatched ones) protects the root key.
    let key = root_key(&ca);
    openssl_ok(&[
        "pkey",
        "-in",
        path_str(&key),
        "-passin",
        &format!("pass:{password}"),
        "-noout",
    ]);
    let (ok, _) = tool(
        "openssl",
        &[
            "pkey",
            "-in",
            path_str(&key),
            "-passin",
            "pass:first attempt",
            "-noout",
        ],
    );
    assert!(!ok, "the first, mismatched password was not used");
}

#[test]
fn init_force_on_a_terminal_asks_before_replacing_and_no_leaves_the_ca_unchanged() {
    let ca = TestCa::new();
    ca.qvca()
        .args(["init", "--no-password", "--key-type", "p256"])
        .assert()
        .success();
    let before = ca.snapshot();

    let mut session = spawn_qvca(&ca, &["init", "--force"]);
    let pid = qvca_pid(path_str(&ca.dir()));
    let question = expect(&mut session, "[y/N]");
    assert!(question.contains("Replace the CA"), "{question}");
    assert!(
        question.contains("replaced-"),
        "says where the old CA is kept: {question}"
    );
    wait_until_reading(pid);
    session.send("n").expect("type n");
    session.flush().expect("flush");
    let (output, code) = finish(&mut session);
    assert_eq!(code, 3, "refused:\n{output}");
    assert!(output.contains("Nothing was changed"), "{output}");
    assert_eq!(ca.snapshot(), before, "the CA is unchanged");
    assert!(replaced_dirs(&ca).is_empty(), "nothing was moved aside");
}

#[test]
fn init_force_on_a_terminal_answered_yes_replaces_the_ca_and_keeps_the_old_one_aside() {
    let ca = TestCa::new();
    ca.qvca()
        .args(["init", "--no-password", "--key-type", "p256"])
        .assert()
        .success();
    let old_root = ca.index()["certificates"][0]["serial"].clone();

    let mut session = spawn_qvca(
        &ca,
        &["init", "--force", "--no-password", "--key-type", "p256"],
    );
    let pid = qvca_pid(path_str(&ca.dir()));
    expect(&mut session, "[y/N]");
    wait_until_reading(pid);
    session.send("y").expect("type y");
    session.flush().expect("flush");
    let (output, code) = finish(&mut session);
    assert_eq!(code, 0, "{output}");
    assert_ne!(
        ca.index()["certificates"][0]["serial"],
        old_root,
        "a new root"
    );
    let kept = replaced_dirs(&ca);
    assert_eq!(kept.len(), 1, "the old CA is kept aside: {kept:?}");
    let old_index =
        std::fs::read_to_string(ca.path().join(&kept[0]).join("index.json")).expect("old index");
    let old_index: serde_json::Value = serde_json::from_str(&old_index).expect("JSON");
    assert_eq!(old_index["certificates"][0]["serial"], old_root);
}

#[test]
fn with_stdin_redirected_a_missing_password_fails_at_once_instead_of_prompting() {
    let ca = TestCa::new();
    ca.qvca()
        .args(["init", "--key-type", "p256"])
        .assert()
        .success();
    let before = ca.snapshot();

    // stderr (and stdout) are still the terminal, /dev/tty is there: only stdin is not.
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(r#""$0" --ca-dir "$1" issue server QVS01 < /dev/null"#)
        .arg(env!("CARGO_BIN_EXE_qvca"))
        .arg(ca.dir())
        .current_dir(ca.path());
    let mut session = spawn(command, FAIL_FAST_MS);
    let started = Instant::now();
    let (output, code) = finish(&mut session);
    assert_eq!(code, 1, "{output}");
    assert!(
        started.elapsed() < Duration::from_millis(FAIL_FAST_MS),
        "qvca must not wait for input"
    );
    assert!(output.contains("--password-file"), "{output}");
    assert!(output.contains("QVCA_PASSWORD"), "{output}");
    assert!(
        !output.contains("CA password:"),
        "no prompt was shown:\n{output}"
    );
    assert_eq!(ca.snapshot(), before, "nothing was issued");
}

#[test]
fn issue_on_a_terminal_prompts_once_for_the_ca_password_and_keeps_json_stdout_clean() {
    let ca = protected_ca();
    let report = ca.path().join("issue.json");
    // stdin and stderr are the terminal; stdout goes to a file, as in `qvca --json ... > file`.
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(r#""$0" --ca-dir "$1" --json issue server QVS01 --key-type p256 > "$2""#)
        .arg(env!("CARGO_BIN_EXE_qvca"))
        .arg(ca.dir())
        .arg(&report)
        .current_dir(ca.path());
    let mut session = spawn(command, TIMEOUT_MS);
    let pid = qvca_pid(path_str(&ca.dir()));
    let prompt = expect(&mut session, "CA password");
    assert!(
        !prompt.contains("New"),
        "an existing password is asked for: {prompt}"
    );
    answer(&mut session, pid, PASSWORD);
    let (output, code) = finish(&mut session);
    assert_eq!(code, 0, "{output}");
    assert!(
        !output.contains("Repeat"),
        "an existing password is asked once:\n{output}"
    );

    let json = std::fs::read_to_string(&report).expect("report");
    let value: serde_json::Value = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("stdout is only the JSON report ({e}):\n{json}"));
    assert_eq!(value["issued"], 1, "{value}");
    assert!(!json.contains("password"), "no prompt on stdout:\n{json}");
}

#[test]
fn a_wrong_password_typed_at_the_prompt_fails_with_exit_4_and_changes_nothing() {
    let ca = protected_ca();
    let before = ca.snapshot();
    let mut session = spawn_qvca(&ca, &["issue", "server", "QVS01", "--key-type", "p256"]);
    let pid = qvca_pid(path_str(&ca.dir()));
    // A typed CA password gets three tries.
    for attempt in 1..=3 {
        if attempt > 1 {
            expect(&mut session, &format!("(try {} of 3)", attempt - 1));
        }
        expect(&mut session, "CA password: ");
        answer(&mut session, pid, &format!("not the CA password {attempt}"));
    }
    let (output, code) = finish(&mut session);
    assert_eq!(code, 4, "{output}");
    assert!(output.contains("wrong CA password"), "{output}");
    assert_eq!(ca.snapshot(), before, "nothing was issued");
}

#[test]
fn init_on_a_terminal_asks_again_for_an_empty_password_and_ctrl_c_then_creates_nothing() {
    let ca = TestCa::new();
    let mut session = spawn_qvca(&ca, &["init", "--key-type", "p256"]);
    let pid = qvca_pid(path_str(&ca.dir()));
    expect(&mut session, "New CA password");
    answer(&mut session, pid, "");
    // An empty password is not taken: it is explained and the same question comes again.
    expect(&mut session, "an empty password is not allowed here");
    expect(&mut session, "New CA password");
    wait_until_reading(pid);
    session.send_control('c').expect("Ctrl-C");
    session.exp_eof().expect("qvca ends on Ctrl-C");
    let status = session.process().wait().expect("wait");
    assert!(
        !matches!(status, WaitStatus::Exited(_, 0)),
        "an interrupted init does not succeed: {status:?}"
    );
    assert!(
        !ca.dir().join("index.json").exists(),
        "no CA was created by an interrupted init"
    );
    assert!(
        !ca.dir().join("keys").exists(),
        "no key directory was left behind"
    );
}

/// `qvca list ARGS` in a pseudo-terminal `columns` wide; returns what it printed.
fn list_in_a_terminal(ca: &TestCa, columns: u16, args: &str) -> String {
    let mut command = Command::new("sh");
    command.arg("-c").arg(format!(
        "stty cols {columns} rows 40; exec '{}' --ca-dir '{}' list {args}",
        env!("CARGO_BIN_EXE_qvca"),
        ca.dir().display()
    ));
    command.current_dir(ca.path());
    let mut session = spawn(command, TIMEOUT_MS);
    let (text, code) = finish(&mut session);
    assert_eq!(code, 0, "{text}");
    text
}

#[test]
fn list_fits_an_80_column_terminal_and_wide_shows_every_column() {
    let ca = crate::support::p256_ca(&["QVS01", "QLIKVIEW-WEB-01"]);
    let narrow = list_in_a_terminal(&ca, 80, "");
    assert!(narrow.contains("QLIKVIEW-WEB-01"), "{narrow}");
    for line in narrow.lines() {
        assert!(line.trim_end().chars().count() <= 80, "too wide: {line:?}");
    }
    let long_hex_run = |line: &str| {
        line.split(|c: char| !c.is_ascii_hexdigit())
            .any(|run| run.len() > 8)
    };
    assert!(
        !narrow.lines().any(long_hex_run),
        "serials shortened: {narrow}"
    );
    assert!(!narrow.contains("Local Computer"), "{narrow}");
    let wide = list_in_a_terminal(&ca, 80, "--wide");
    assert!(wide.contains("Local Computer / Personal"), "{wide}");
    assert!(
        wide.lines().any(|l| l.trim_end().chars().count() > 80),
        "{wide}"
    );
}

#[test]
fn a_prompt_says_which_password_it_wants_and_explains_an_empty_entry() {
    let ca = protected_ca();
    let mut session = spawn_qvca(&ca, &["issue", "server", "QVS09", "--key-type", "p256"]);
    let pid = qvca_pid(path_str(&ca.dir()));
    expect(&mut session, "CA password");
    answer(&mut session, pid, "");
    expect(
        &mut session,
        "an empty password is not allowed here: type the password, or press Ctrl-C",
    );
    answer(&mut session, pid, PASSWORD);
    let (output, code) = finish(&mut session);
    assert_eq!(code, 0, "issue succeeds after the explanation:\n{output}");

    // A backup asks for a new backup password (not "New PKCS#12 password").
    let backups = ca.path().join("backups");
    let mut session = spawn_qvca(
        &ca,
        &[
            "--password-file",
            path_str(&ca.password_file()),
            "backup",
            "--dir",
            path_str(&backups),
        ],
    );
    let pid = qvca_pid(path_str(&ca.dir()));
    expect(&mut session, "New backup password");
    answer(&mut session, pid, "a backup password typed here");
    expect(&mut session, "Repeat the backup password");
    answer(&mut session, pid, "a backup password typed here");
    let (output, code) = finish(&mut session);
    assert_eq!(code, 0, "backup succeeds:\n{output}");
}

#[test]
fn a_short_new_password_typed_at_the_prompt_is_warned_about_and_accepted() {
    let ca = TestCa::new();
    let mut session = spawn_qvca(&ca, &["init", "--key-type", "p256"]);
    let pid = qvca_pid(path_str(&ca.dir()));
    expect(&mut session, "New CA password");
    answer(&mut session, pid, "short1");
    expect(&mut session, "Repeat the CA password");
    answer(&mut session, pid, "short1");
    expect(
        &mut session,
        "warning: a short password can be guessed offline; 16 or more characters recommended",
    );
    let (output, code) = finish(&mut session);
    assert_eq!(code, 0, "a short password is still accepted:\n{output}");
}

#[test]
fn a_wrong_ca_password_at_the_prompt_can_be_typed_again() {
    let ca = protected_ca();
    let mut session = spawn_qvca(&ca, &["crl"]);
    let pid = qvca_pid(path_str(&ca.dir()));
    expect(&mut session, "CA password");
    answer(&mut session, pid, "not the password");
    expect(&mut session, "wrong CA password (try 1 of 3)");
    expect(&mut session, "CA password");
    answer(&mut session, pid, PASSWORD);
    let (output, code) = finish(&mut session);
    assert_eq!(code, 0, "the second try succeeds:\n{output}");
    assert!(ca.dir().join("crl.pem").is_file(), "the CRL was written");
}

#[test]
fn three_wrong_ca_passwords_at_the_prompt_fail_with_exit_4_and_change_nothing() {
    let ca = protected_ca();
    let before = ca.snapshot();
    let mut session = spawn_qvca(&ca, &["crl"]);
    let pid = qvca_pid(path_str(&ca.dir()));
    for attempt in 1..=3 {
        if attempt > 1 {
            expect(&mut session, &format!("(try {} of 3)", attempt - 1));
        }
        expect(&mut session, "CA password: ");
        answer(&mut session, pid, &format!("wrong attempt {attempt}"));
    }
    let (output, code) = finish(&mut session);
    assert_eq!(code, 4, "three wrong passwords:\n{output}");
    assert!(output.contains("wrong CA password"), "{output}");
    assert_eq!(ca.snapshot(), before, "nothing changed");
}

#[test]
fn passwd_on_a_terminal_asks_for_the_current_password_then_the_new_one_twice() {
    let ca = protected_ca();
    let new = "a new password typed on a terminal";
    let mut session = spawn_qvca(&ca, &["passwd"]);
    let pid = qvca_pid(path_str(&ca.dir()));
    expect(&mut session, "CA password");
    answer(&mut session, pid, PASSWORD);
    expect(&mut session, "New CA password");
    answer(&mut session, pid, new);
    expect(&mut session, "Repeat the CA password");
    answer(&mut session, pid, new);
    let (output, code) = finish(&mut session);
    assert_eq!(code, 0, "passwd succeeds:\n{output}");
    assert!(output.contains("changed password of 1 keys"), "{output}");
    assert!(!output.contains(new), "never echoed:\n{output}");
    openssl_ok(&[
        "pkey",
        "-in",
        path_str(&root_key(&ca)),
        "-passin",
        &format!("pass:{new}"),
        "-noout",
    ]);
}

#[test]
fn a_prompt_naming_a_hostile_file_shows_its_control_characters_escaped() {
    // The prompt names the file; a name with a terminal escape must not reach the terminal raw.
    let ca = protected_ca();
    let pfx = ca.path().join("QVS01.pfx");
    let password_file = crate::support::pfx_password_file(&ca);
    ca.qvca()
        .args(["issue", "server", "QVS01"])
        .assert()
        .success();
    ca.qvca()
        .arg("--pfx-password-file")
        .arg(&password_file)
        .args(["export", "pfx", "QVS01", "--out"])
        .arg(&pfx)
        .assert()
        .success();
    let hostile = ca.path().join("evil\u{1b}[2Jname.pfx");
    std::fs::rename(&pfx, &hostile).expect("rename");
    let mut session = spawn_qvca(&ca, &["inspect", hostile.to_str().expect("utf-8")]);
    let pid = qvca_pid(path_str(&ca.dir()));
    let shown = expect(&mut session, "name.pfx");
    assert!(
        shown.contains("evil\\u{1b}[2J"),
        "escaped in the prompt:\n{shown:?}"
    );
    assert!(
        !shown.contains('\u{1b}'),
        "no raw escape in the prompt:\n{shown:?}"
    );
    answer(&mut session, pid, crate::support::PFX_PASSWORD);
    let (output, code) = finish(&mut session);
    assert_eq!(code, 0, "inspect succeeds:\n{output}");
}
