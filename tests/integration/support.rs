//! Test support: a temporary CA directory with a password file, and a `qvca` command bound
//! to it with a clean environment; and every helper more than one test module needs (runs,
//! openssl readers, the index, scratch files, PowerShell parsing), defined here once.

#![allow(dead_code)]

use assert_cmd::Command;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The CA password every test CA uses.
pub const PASSWORD: &str = "correct horse battery staple";

/// A scratch area holding a CA directory and a password file.
pub struct TestCa {
    pub temp: tempfile::TempDir,
}

impl TestCa {
    /// An empty scratch area (no CA yet).
    pub fn new() -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        std::fs::write(temp.path().join("password.txt"), format!("{PASSWORD}\n"))
            .expect("password file");
        Self { temp }
    }

    /// A CA created with `setup` for the given machines (root, servers, QVProxy, export).
    pub fn with_setup(machines: &[&str]) -> Self {
        let ca = Self::new();
        ca.qvca().arg("setup").args(machines).assert().success();
        ca
    }

    /// The scratch directory.
    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// The CA directory.
    pub fn dir(&self) -> PathBuf {
        self.temp.path().join("ca")
    }

    /// The password file.
    pub fn password_file(&self) -> PathBuf {
        self.temp.path().join("password.txt")
    }

    /// `qvca --ca-dir <dir> --password-file <file>` with no QVCA_* variables inherited.
    pub fn qvca(&self) -> Command {
        let mut cmd = self.qvca_without_password();
        cmd.arg("--password-file").arg(self.password_file());
        cmd
    }

    /// `qvca --ca-dir <dir>` with no password source at all.
    pub fn qvca_without_password(&self) -> Command {
        let mut cmd = bare_qvca();
        cmd.arg("--ca-dir").arg(self.dir()).current_dir(self.path());
        cmd
    }

    /// The root certificate file (PEM) of the CA.
    pub fn root_pem(&self) -> PathBuf {
        let out = self.path().join("root.pem");
        self.qvca()
            .args(["export", "root", "--force", "--out"])
            .arg(&out)
            .assert()
            .success();
        out
    }

    /// The parsed index.json.
    pub fn index(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.dir().join("index.json")).expect("index");
        serde_json::from_str(&text).expect("index JSON")
    }

    /// A snapshot of every file under the CA directory (path → bytes), to prove nothing changed.
    pub fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        snapshot(&self.dir())
    }

    /// The `--json` output of a command that succeeds.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.qvca().arg("--json").args(args).output().expect("run");
        assert!(
            out.status.success(),
            "qvca {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON on stdout")
    }
}

/// The environment variables qvca reads that a caller could leak into a test's run.
pub const QVCA_VARIABLES: [&str; 10] = [
    "QVCA_DIR",
    "QVCA_PASSWORD",
    "QVCA_PASSWORD_FILE",
    "QVCA_PFX_PASSWORD",
    "QVCA_PFX_PASSWORD_FILE",
    "QVCA_NEW_PASSWORD",
    "QVCA_NEW_PASSWORD_FILE",
    "QVCA_PKCS11_MODULE",
    "QVCA_PKCS11_PIN",
    "XDG_DATA_HOME",
];

/// The qvca binary with a clean environment (no QVCA_* variables from the caller).
pub fn bare_qvca() -> Command {
    let mut cmd = Command::cargo_bin("qvca").expect("qvca binary");
    for var in QVCA_VARIABLES {
        cmd.env_remove(var);
    }
    cmd
}

/// The qvca binary as a plain process to spawn, wait for or kill, with the clean environment
/// of [`bare_qvca`].
pub fn qvca_process() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_qvca"));
    for var in QVCA_VARIABLES {
        cmd.env_remove(var);
    }
    cmd
}

/// Every file below `dir` with its bytes, sorted by path (the lock file excluded).
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n != ".lock") {
                let bytes = std::fs::read(&path).expect("read");
                files.push((path, bytes));
            }
        }
    }
    files.sort();
    files
}

/// Runs a third-party tool and returns (success, stdout + stderr).
pub fn tool(program: &str, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed (.ci/run installs it): {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Runs openssl and returns its output, failing the test when openssl fails.
pub fn openssl_ok(args: &[&str]) -> String {
    let (ok, text) = tool("openssl", args);
    assert!(ok, "openssl {args:?} failed:\n{text}");
    text
}

/// `openssl x509 -noout -text` of a certificate file.
pub fn x509_text(cert: &Path) -> String {
    openssl_ok(&["x509", "-in", path_str(cert), "-noout", "-text"])
}

/// The public key of a certificate as openssl prints it (PEM SubjectPublicKeyInfo).
pub fn cert_public_key(cert: &Path) -> String {
    openssl_ok(&["x509", "-in", path_str(cert), "-noout", "-pubkey"])
}

/// The public key of a private key file as openssl derives it; `passin` as openssl takes it
/// (`pass:` for a key in the clear, `file:<path>` for an encrypted one).
pub fn key_public_key(key: &Path, passin: &str) -> String {
    openssl_ok(&["pkey", "-in", path_str(key), "-passin", passin, "-pubout"])
}

/// The CRL number openssl reads from a CRL file (it prints it in hex).
pub fn crl_number(crl: &Path) -> u64 {
    let out = openssl_ok(&["crl", "-in", path_str(crl), "-noout", "-crlnumber"]);
    let hex = out
        .trim()
        .strip_prefix("crlNumber=0x")
        .unwrap_or_else(|| panic!("openssl printed no CRL number: {out}"));
    u64::from_str_radix(hex, 16).expect("hex CRL number")
}

/// The backup and PFX password the shared helpers use (keytool wants at least six characters).
pub const PFX_PASSWORD: &str = "backup pass 42";

/// A path as UTF-8 text, for command lines.
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// The file holding [`PFX_PASSWORD`] in the CA's scratch area (written once).
pub fn pfx_password_file(ca: &TestCa) -> PathBuf {
    let path = ca.path().join("pfx-password.txt");
    if !path.exists() {
        std::fs::write(&path, format!("{PFX_PASSWORD}\n")).expect("write");
    }
    path
}

/// A CA made with `init --no-password --key-type p256` (fast), for tests where neither the CA
/// password nor the key type matters.
pub fn lab_ca() -> TestCa {
    lab_ca_with("p256", &[])
}

/// A CA made with `init --no-password --key-type <key_type>` and any further `init` arguments.
pub fn lab_ca_with(key_type: &str, extra_init: &[&str]) -> TestCa {
    let ca = TestCa::new();
    ca.qvca()
        .args(["init", "--no-password", "--key-type", key_type])
        .args(extra_init)
        .assert()
        .success();
    ca
}

/// A password-protected CA with only a P-256 root (quick to make, still a real scrypt-sealed
/// key): for tests where the password matters and the key type does not.
pub fn protected_ca() -> TestCa {
    let ca = TestCa::new();
    ca.qvca()
        .args(["init", "--key-type", "p256"])
        .assert()
        .success();
    ca
}

/// A CA with a password and P-256 keys (fast): the root, the given servers and QVProxy.
pub fn p256_ca(servers: &[&str]) -> TestCa {
    let ca = TestCa::new();
    pfx_password_file(&ca);
    ca.qvca()
        .args(["init", "--key-type", "p256"])
        .assert()
        .success();
    if !servers.is_empty() {
        ca.qvca()
            .args(["issue", "server"])
            .args(servers)
            .args(["--key-type", "p256"])
            .assert()
            .success();
    }
    ca.qvca()
        .args(["issue", "client", "--key-type", "p256"])
        .assert()
        .success();
    ca
}

/// Runs qvca with the CA password and the PFX password file; stdin is an empty pipe, so
/// there is no terminal to confirm or prompt on.
pub fn run(ca: &TestCa, args: &[&str]) -> std::process::Output {
    ca.qvca()
        .arg("--pfx-password-file")
        .arg(pfx_password_file(ca))
        .args(args)
        .output()
        .expect("run qvca")
}

/// A backup of the CA at `<scratch>/<name>`.
pub fn backup_to(ca: &TestCa, name: &str) -> PathBuf {
    let file = ca.path().join(name);
    let out = run(ca, &["backup", "--out", path_str(&file)]);
    assert_code(&out, 0, "backup");
    file
}

/// Every key file (`keys/*.pem`) of the CA, sorted.
pub fn key_files(ca: &TestCa) -> Vec<PathBuf> {
    let mut keys: Vec<PathBuf> = std::fs::read_dir(ca.dir().join("keys"))
        .expect("keys")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pem"))
        .collect();
    keys.sort();
    keys
}

/// Copies a directory tree, keeping the permissions of every file and directory.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
        let mode = std::fs::metadata(entry.path()).expect("meta").permissions();
        std::fs::set_permissions(&target, mode).expect("chmod");
    }
}

/// Writes `contents` to `<scratch>/<name>`; the path.
pub fn write_scratch(ca: &TestCa, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = ca.path().join(name);
    std::fs::write(&path, contents).expect("write a scratch file");
    path
}

/// A password file `<scratch>/<name>` holding `password` and a newline.
pub fn password_file_for(ca: &TestCa, name: &str, password: &str) -> PathBuf {
    write_scratch(ca, name, format!("{password}\n"))
}

/// `<scratch>/new-password.txt` holding `password` (for restore and passwd).
pub fn new_password_file(ca: &TestCa, password: &str) -> PathBuf {
    password_file_for(ca, "new-password.txt", password)
}

/// The names in a directory.
pub fn names_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// The names in the scratch directory (CA dir, `.replaced-*`, staging dirs, backups...).
pub fn scratch_names(ca: &TestCa) -> BTreeSet<String> {
    names_in(ca.path())
}

/// The directories `init --force` and `restore` kept a replaced CA in.
pub fn replaced_dirs(ca: &TestCa) -> Vec<PathBuf> {
    scratch_names(ca)
        .into_iter()
        .filter(|n| n.starts_with("ca.replaced-"))
        .map(|n| ca.path().join(n))
        .collect()
}

/// [`run`] with the CA password taken from another file.
pub fn run_with_password(ca: &TestCa, password_file: &Path, args: &[&str]) -> std::process::Output {
    ca.qvca_without_password()
        .arg("--password-file")
        .arg(password_file)
        .arg("--pfx-password-file")
        .arg(pfx_password_file(ca))
        .args(args)
        .output()
        .expect("run qvca")
}

/// Exit code, stdout and stderr of a run, for assertion messages.
pub fn describe(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The stdout of a run as text.
pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The stderr of a run as text.
pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts an exit code and that nothing panicked; the stderr of the run, for further checks.
pub fn assert_code(out: &std::process::Output, code: i32, what: &str) -> String {
    assert_eq!(out.status.code(), Some(code), "{what}: {}", describe(out));
    let stderr = stderr(out);
    assert!(
        !stderr.contains("panicked"),
        "{what} panicked: {}",
        describe(out)
    );
    stderr
}

/// The stdout of a run parsed as JSON, failing the test (showing the whole run) when it is not.
pub fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", describe(out)))
}

// ---------------------------------------------------------------------------------- the index

/// The index entries, in index order.
pub fn entries(ca: &TestCa) -> Vec<serde_json::Value> {
    ca.index()["certificates"]
        .as_array()
        .expect("certificates array")
        .clone()
}

/// The index entry of the newest active certificate named `name`.
pub fn active_entry(ca: &TestCa, name: &str) -> serde_json::Value {
    entries(ca)
        .into_iter()
        .rev()
        .find(|e| e["name"] == name && e["status"] == "active")
        .unwrap_or_else(|| panic!("no active certificate named {name}"))
}

/// The serial (hex, as the index and the file names spell it) of the newest active certificate
/// named `name`.
pub fn active_serial(ca: &TestCa, name: &str) -> String {
    active_entry(ca, name)["serial"]
        .as_str()
        .expect("serial")
        .to_owned()
}

/// The index entry with this serial.
pub fn entry_by_serial(ca: &TestCa, serial: &str) -> serde_json::Value {
    entries(ca)
        .into_iter()
        .find(|e| e["serial"] == serial)
        .unwrap_or_else(|| panic!("no entry with serial {serial}"))
}

/// The serial of the (first) root in the index.
pub fn root_serial(ca: &TestCa) -> String {
    entries(ca)
        .iter()
        .find(|e| e["kind"] == "root")
        .and_then(|e| e["serial"].as_str())
        .expect("root serial")
        .to_owned()
}

/// `<ca-dir>/certs/<serial>.pem`.
pub fn cert_file(ca: &TestCa, serial: &str) -> PathBuf {
    ca.dir().join("certs").join(format!("{serial}.pem"))
}

/// The `certificates` rows of `list --json` (with `--all`: superseded ones too).
pub fn listed(ca: &TestCa, all: bool) -> Vec<serde_json::Value> {
    let args: &[&str] = if all { &["list", "--all"] } else { &["list"] };
    ca.json(args)["certificates"]
        .as_array()
        .expect("certificates array")
        .clone()
}

// ------------------------------------------------------------------------ PowerShell scripts

/// The text of a rendered `.ps1`: it must start with a UTF-8 byte-order mark (Windows
/// PowerShell 5.1 reads a file without one in the ANSI code page); the text after it.
pub fn read_ps1(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = bytes
        .strip_prefix(&[0xEF, 0xBB, 0xBF])
        .unwrap_or_else(|| panic!("{} does not start with a UTF-8 BOM", path.display()));
    String::from_utf8(text.to_vec()).expect("UTF-8")
}

/// Parses PowerShell with the tree-sitter-powershell grammar, failing the test on any ERROR or
/// MISSING node (naming its line and the text around it).
pub fn parse_powershell(text: &str, what: &str) -> tree_sitter::Tree {
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_powershell::LANGUAGE.into())
        .expect("PowerShell grammar");
    let tree = parser.parse(text, None).expect("parse");
    if tree.root_node().has_error() {
        let mut nodes = Vec::new();
        all_nodes(tree.root_node(), &mut nodes);
        let bad: Vec<String> = nodes
            .iter()
            .filter(|n| n.is_error() || n.is_missing())
            .take(5)
            .map(|n| {
                let line = n.start_position().row;
                let context = text.lines().nth(line).unwrap_or_default();
                format!("line {}: {} in {context:?}", line + 1, n.kind())
            })
            .collect();
        panic!("{what} has a syntax error: {}", bad.join("; "));
    }
    tree
}

/// Every node of a tree, depth first.
pub fn all_nodes<'t>(node: tree_sitter::Node<'t>, out: &mut Vec<tree_sitter::Node<'t>>) {
    out.push(node);
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        all_nodes(child, out);
    }
}

/// The leaves of a tree (nodes without children), in order.
pub fn leaves<'t>(node: tree_sitter::Node<'t>, out: &mut Vec<tree_sitter::Node<'t>>) {
    if node.child_count() == 0 {
        out.push(node);
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        leaves(child, out);
    }
}

/// The value of a PowerShell verbatim string by the language's rule: any of the five single
/// quotation marks ends it unless doubled. None when a quote is not doubled.
pub fn powershell_verbatim_value(literal: &str) -> Option<String> {
    let is_quote = |c: char| matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}');
    let mut chars = literal.chars();
    if !chars.next().is_some_and(is_quote) || !chars.next_back().is_some_and(is_quote) {
        return None;
    }
    let mut value = String::new();
    while let Some(c) = chars.next() {
        if is_quote(c) && !chars.next().is_some_and(is_quote) {
            return None;
        }
        value.push(c);
    }
    Some(value)
}

/// A PowerShell script parses without ERROR or MISSING nodes, and every piece of it that holds
/// `MARK` (which every hostile name carries) is a single-quoted string whose value is exactly
/// one of `names`; each of `names` is there.
pub fn assert_powershell_holds_names_as_verbatim_strings(ps1: &str, names: &[&str], what: &str) {
    let tree = parse_powershell(ps1, what);
    let mut all = Vec::new();
    leaves(tree.root_node(), &mut all);
    let mut values = Vec::new();
    for leaf in all {
        let text = &ps1[leaf.byte_range()];
        if text.contains("MARK") {
            assert_eq!(
                leaf.kind(),
                "verbatim_string_characters",
                "{text:?} in {what} is not a single-quoted string"
            );
            values.push(
                powershell_verbatim_value(text)
                    .unwrap_or_else(|| panic!("{text:?}: a quotation mark is not doubled")),
            );
        }
    }
    for name in names {
        assert!(values.iter().any(|v| v == name), "{name:?} in {values:?}");
    }
}
