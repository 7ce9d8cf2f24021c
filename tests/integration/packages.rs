//! Issue 12: node packages for Windows Server 2012 R2 to 2025 and keyless enrolment, tested as
//! far as Linux allows. For each key type, PFX and keyless packages with hostile-but-valid
//! names: every `.ps1` starts with a UTF-8 BOM, parses with the PowerShell grammar (no ERROR or
//! MISSING node), holds the names only as single-quoted strings, and uses only commands and
//! .NET types that Windows PowerShell 5.1 on .NET 4.5 has (`tests/windows/ps51-api.txt`, with
//! sources); the `.cmd` wrappers hold no value; `request.inf` is UTF-16 with the INF escaping;
//! every `.sh` passes shellcheck. `install.sh` runs for real, twice, with a password file
//! without its final newline; the keyless round trip (request, sign, accept, renew) runs for
//! real with openssl.

use crate::support::{
    TestCa, all_nodes, assert_powershell_holds_names_as_verbatim_strings, openssl_ok,
    parse_powershell, read_ps1, tool,
};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Output;

const PFX_PASSWORD: &str = "pfx pass 42";

/// Root and Client names that are valid but hostile to scripts; each holds `MARK`.
const HOSTILE: [(&str, &str); 2] = [
    (
        "Acme's CA \u{2019}$(touch PWNED)\u{2018} `id` %PATH% MARK",
        "QV\"x\" & | ; < > + , = # %TEMP% $env:X MARK",
    ),
    (
        "\u{dc}n\u{ef}c\u{f8}d\u{e9} #> <# @' '@ CA MARK",
        "x';calc;'\u{201B} \u{fc} ${IFS} MARK",
    ),
];

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_code(out: &Output, code: i32, what: &str) {
    assert_eq!(out.status.code(), Some(code), "{what}: {}", describe(out));
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The PFX password in a file WITHOUT a final newline (what `echo -n`, editors set to "no final
/// newline" and many secret stores write).
fn pfx_password_file(ca: &TestCa) -> PathBuf {
    let path = ca.path().join("pfx-password.txt");
    std::fs::write(&path, PFX_PASSWORD).expect("write");
    path
}

/// A CA whose root and Client have the given names, with a Server certificate for QVS01, all of
/// `key_type`; the root key is encrypted under the CA password (P-256, for speed).
fn node_ca(key_type: &str, root: &str, client: &str) -> TestCa {
    let ca = TestCa::new();
    ca.qvca()
        .args(["init", "--key-type", "p256", "--cn", root])
        .assert()
        .success();
    ca.qvca()
        .args(["issue", "server", "QVS01", "--key-type", key_type])
        .assert()
        .success();
    ca.qvca()
        .args(["issue", "client", "--key-type", key_type, "--", client])
        .assert()
        .success();
    ca
}

fn pfx_package(ca: &TestCa, extra: &[&str]) -> PathBuf {
    let out = ca.path().join("pfx-package");
    let run = ca
        .qvca()
        .arg("--pfx-password-file")
        .arg(pfx_password_file(ca))
        .args(["package", "QVS01", "--out", path_str(&out)])
        .args(extra)
        .output()
        .expect("run");
    assert_code(&run, 0, "package");
    out
}

fn keyless_package(ca: &TestCa, extra: &[&str]) -> PathBuf {
    let out = ca.path().join("keyless-package");
    // Keyless packages need no password at all: the CA's key is not used.
    let run = ca
        .qvca_without_password()
        .args(["package", "QVS01", "--keyless", "--out", path_str(&out)])
        .args(extra)
        .output()
        .expect("run");
    assert_code(&run, 0, "package --keyless");
    out
}

fn files_of(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("package dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n != ".qvca-package"))
        .collect();
    files.sort();
    files
}

fn named(dir: &Path, extension: &str) -> Vec<PathBuf> {
    files_of(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect()
}

// --------------------------------------------------------------- what Windows PowerShell 5.1 has

/// The allowlist of tests/windows/ps51-api.txt: command names and .NET type names (lower case).
struct Allowlist {
    commands: HashSet<String>,
    types: HashSet<String>,
}

fn allowlist() -> Allowlist {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/windows/ps51-api.txt");
    let text = std::fs::read_to_string(&path).expect("ps51-api.txt");
    let mut list = Allowlist {
        commands: HashSet::new(),
        types: HashSet::new(),
    };
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 4, "ps51-api.txt: {line:?} needs 4 fields");
        assert!(
            fields[3].starts_with("https://"),
            "ps51-api.txt: {line:?} has no source"
        );
        let name = fields[0].to_lowercase();
        match fields[1] {
            "cmdlet" => {
                list.commands.insert(name);
            }
            "type" | "accelerator" | "attribute" => {
                list.types.insert(name);
            }
            _ => {}
        }
    }
    list
}

/// Members that exist only in newer .NET or behave differently under PowerShell 7.
const NOT_ON_PURPOSE: [&str; 5] = [
    "GetRSAPrivateKey",
    "GetECDsaPrivateKey",
    "CopyWithPrivateKey",
    "PrivateKey",
    "EphemeralKeySet",
];

/// Every command a script runs is a cmdlet of the allowlist or a function it defines; every
/// .NET type it names (`[Type]`, `New-Object Type`) is in the allowlist, or is one of the
/// QvcaNodeInstall types its own Add-Type compiles; nothing of PowerShell 7 only.
fn check_api(text: &str, what: &str, allow: &Allowlist) {
    let tree = parse_powershell(text, what);
    let mut nodes = Vec::new();
    all_nodes(tree.root_node(), &mut nodes);
    let source = |n: &tree_sitter::Node<'_>| text[n.byte_range()].to_string();
    let functions: HashSet<String> = nodes
        .iter()
        .filter(|n| n.kind() == "function_name")
        .map(|n| source(n).to_lowercase())
        .collect();
    let own_types = text.contains("namespace QvcaNodeInstall");
    let type_allowed = |name: &str| {
        let name = name.trim_end_matches("[]").to_lowercase();
        allow.types.contains(&name)
            || allow.types.contains(&format!("system.{name}"))
            || (own_types && name.starts_with("qvcanodeinstall."))
    };
    let mut problems = Vec::new();
    let mut commands = 0;
    let mut types = 0;
    for node in &nodes {
        let line = node.start_position().row + 1;
        match node.kind() {
            "command" => {
                let Some(name) = node.child_by_field_name("command_name") else {
                    continue;
                };
                if name.kind() != "command_name" {
                    continue; // `& $variable`: an executable by path (icacls.exe, certreq.exe)
                }
                commands += 1;
                let command = source(&name);
                let lower = command.to_lowercase();
                if !allow.commands.contains(&lower) && !functions.contains(&lower) {
                    problems.push(format!("line {line}: the command {command}"));
                }
                if lower == "new-object"
                    && let Some(elements) = node.child_by_field_name("command_elements")
                {
                    let mut cursor = elements.walk();
                    let type_name = elements
                        .children(&mut cursor)
                        .find(|c| c.kind() == "generic_token")
                        .map(|c| source(&c));
                    match type_name {
                        Some(t) if type_allowed(&t) => types += 1,
                        other => problems.push(format!("line {line}: New-Object {other:?}")),
                    }
                }
            }
            "type_spec" => {
                types += 1;
                let name = source(node);
                if !type_allowed(&name) {
                    problems.push(format!("line {line}: the type [{name}]"));
                }
            }
            "member_name" => {
                let member = source(node);
                if NOT_ON_PURPOSE.contains(&member.as_str()) {
                    problems.push(format!("line {line}: .{member} (see ps51-api.txt)"));
                }
                if member == "Dispose"
                    && !node
                        .parent()
                        .is_some_and(|p| source(&p).starts_with("$key.Dispose"))
                {
                    problems.push(format!(
                        "line {line}: Dispose() on something else than the CngKey \
                         (X509Store, X509Certificate and X509Chain have it from .NET 4.6)"
                    ));
                }
            }
            "pipeline_chain_tail" | "parallel_statement" => {
                problems.push(format!("line {line}: {} is PowerShell 7 only", node.kind()));
            }
            _ if node.child_count() == 0 => {
                let token = source(node);
                if matches!(token.as_str(), "??" | "??=" | "?." | "?[") {
                    problems.push(format!("line {line}: {token} is PowerShell 7 only"));
                }
                if token.eq_ignore_ascii_case("-Parallel") {
                    problems.push(format!("line {line}: -Parallel is PowerShell 7 only"));
                }
            }
            _ => {}
        }
    }
    assert!(
        commands > 10 && types > 10,
        "{what}: the walk found {commands} commands and {types} types"
    );
    assert!(
        problems.is_empty(),
        "{what} uses what Windows PowerShell 5.1 on .NET 4.5 may not have (add a sourced row \
         to tests/windows/ps51-api.txt if it does):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_allowlist_check_finds_what_windows_powershell_5_1_lacks() {
    let allow = allowlist();
    let script = "function Foo-Bar { param([string] $A) }\n\
                  Foo-Bar -A 'x'\n\
                  $k = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPrivateKey($c)\n\
                  Import-PfxCertificate -FilePath 'a.pfx' -CertStoreLocation Cert:\\LocalMachine\\My\n\
                  $s = New-Object System.Net.Http.HttpClient\n\
                  $c.PrivateKey\n\
                  $store.Dispose()\n\
                  Get-ChildItem . && Write-Host 'x'\n\
                  Write-Host $x ?? 'y'\n";
    let padding = "Write-Host 'a'\n[string]$b = 'c'\n".repeat(12);
    let result = std::panic::catch_unwind(|| {
        check_api(&format!("{padding}{script}"), "a probe", &allow);
    });
    let message = result
        .err()
        .and_then(|e| e.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    for expected in [
        "RSACertificateExtensions",
        "Import-PfxCertificate",
        "System.Net.Http.HttpClient",
        ".PrivateKey",
        "Dispose()",
        "pipeline_chain_tail",
        "??",
    ] {
        assert!(message.contains(expected), "{expected} in:\n{message}");
    }
    assert!(!message.contains("Foo-Bar"), "{message}");
}

// ------------------------------------------------------------------------------ the files

/// An INF string value back to its text: the outer quotes off, `""` and `%%` single again.
fn inf_value(line: &str, key: &str) -> String {
    let raw = line
        .strip_prefix(&format!("{key} = "))
        .unwrap_or_else(|| panic!("{line:?} is not {key}"));
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{line:?} is not a quoted INF string"));
    assert!(
        !inner.replace("\"\"", "").contains('"') && !inner.replace("%%", "").contains('%'),
        "{line:?}: a quote or percent sign is not doubled"
    );
    inner.replace("\"\"", "\"").replace("%%", "%")
}

/// A `CN=` subject in CertStrToName's syntax back to the name.
fn x500_common_name(subject: &str) -> String {
    let value = subject.strip_prefix("CN=").expect("CN=");
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => {
            assert!(
                !value.contains([',', '+', '=', '"', ';', '<', '>', '#', '\\']),
                "{subject:?} needs quoting"
            );
            value.to_owned()
        }
    }
}

fn read_inf(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("inf");
    let utf16 = bytes
        .strip_prefix(&[0xFF, 0xFE])
        .unwrap_or_else(|| panic!("{} is not UTF-16LE with a BOM", path.display()));
    let units: Vec<u16> = utf16
        .chunks(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    let text = String::from_utf16(&units).expect("UTF-16");
    assert!(
        !text.replace("\r\n", "").contains('\n'),
        "{} has a line end without CR",
        path.display()
    );
    text
}

fn assert_crlf(text: &str, what: &str) {
    assert!(
        !text.replace("\r\n", "").contains('\n'),
        "{what} has a line end without CR"
    );
}

fn shellcheck(script: &Path) {
    let (ok, text) = tool("sh", &["-n", path_str(script)]);
    assert!(ok, "sh -n {}: {text}", script.display());
    let (ok, text) = tool("shellcheck", &["-s", "sh", path_str(script)]);
    assert!(ok, "shellcheck {}: {text}", script.display());
}

/// Every file of a package checked as its reader takes it.
fn check_package_files(dir: &Path, root: &str, client: &str, allow: &Allowlist) {
    for ps1 in named(dir, "ps1") {
        let what = ps1
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let text = read_ps1(&ps1);
        assert_crlf(&text, &what);
        let names: &[&str] = if what == "uninstall.ps1" {
            &[root]
        } else {
            &[root, client]
        };
        assert_powershell_holds_names_as_verbatim_strings(&text, names, &what);
        check_api(&text, &what, allow);
    }
    let cmds = named(dir, "cmd");
    assert!(cmds.len() >= 2, "{cmds:?}");
    let first = std::fs::read(&cmds[0]).expect("cmd");
    for cmd in &cmds {
        let bytes = std::fs::read(cmd).expect("cmd");
        assert_eq!(bytes, first, "every .cmd wrapper is the same file");
        let text = String::from_utf8(bytes).expect("ASCII");
        assert!(text.is_ascii(), "{}", cmd.display());
        assert_crlf(&text, &cmd.display().to_string());
        assert!(
            text.contains("%SystemRoot%\\System32\\WindowsPowerShell\\v1.0\\powershell.exe\"\r\n")
                && text.contains("-NoProfile -ExecutionPolicy Bypass -File \"%~dpn0.ps1\" %*"),
            "{text}"
        );
        assert!(
            !text.contains("MARK") && !text.contains("QVS01"),
            "a .cmd holds no value"
        );
        let ps1 = cmd.with_extension("ps1");
        assert!(
            ps1.is_file(),
            "{} runs a missing {}",
            cmd.display(),
            ps1.display()
        );
    }
    for sh in named(dir, "sh") {
        shellcheck(&sh);
    }
    let readme = std::fs::read(dir.join("README.txt")).expect("README");
    let readme = String::from_utf8(readme[3..].to_vec()).expect("UTF-8");
    assert_crlf(&readme, "README.txt");
    assert!(readme.contains(root) && readme.contains(client), "{readme}");
    assert!(readme.contains("Set-AuthenticodeSignature"), "{readme}");
}

#[test]
fn every_package_renders_scripts_that_parse_and_use_only_windows_powershell_5_1() {
    let allow = allowlist();
    for key_type in ["rsa2048", "p256"] {
        for (root, client) in HOSTILE {
            let ca = node_ca(key_type, root, client);
            let pfx = pfx_package(&ca, &[]);
            check_package_files(&pfx, root, client, &allow);
            let install = read_ps1(&pfx.join("install.ps1"));
            assert!(
                install.contains("$PfxEncryption    = 'aes256'"),
                "the AES check knows the package's encryption"
            );

            let keyless = keyless_package(&ca, &["--key-type", key_type]);
            check_package_files(&keyless, root, client, &allow);
            for file in files_of(&keyless) {
                let bytes = std::fs::read(&file).expect("read");
                assert!(
                    !String::from_utf8_lossy(&bytes).contains("PRIVATE KEY")
                        && file.extension().is_none_or(|e| e != "pfx"),
                    "{} in a keyless package",
                    file.display()
                );
            }
            let server = read_inf(&keyless.join("request.inf"));
            let client_inf = read_inf(&keyless.join("client-request.inf"));
            let line = |text: &str, key: &str| -> String {
                text.lines()
                    .find(|l| l.starts_with(&format!("{key} = ")))
                    .unwrap_or_else(|| panic!("no {key} in {text}"))
                    .to_owned()
            };
            assert_eq!(
                x500_common_name(&inf_value(&line(&server, "Subject"), "Subject")),
                "QVS01"
            );
            assert_eq!(
                x500_common_name(&inf_value(&line(&client_inf, "Subject"), "Subject")),
                client
            );
            assert_eq!(
                inf_value(&line(&client_inf, "FriendlyName"), "FriendlyName"),
                format!("{client} (QlikView Client)")
            );
            for inf in [&server, &client_inf] {
                assert!(inf.contains("\r\nMachineKeySet = TRUE\r\n"), "{inf}");
                assert!(inf.contains("\r\nExportable = FALSE\r\n"), "{inf}");
                if key_type == "rsa2048" {
                    assert!(inf.contains("\r\nKeyLength = 2048\r\n"), "{inf}");
                    assert!(
                        inf.contains(
                            "ProviderName = \"Microsoft Enhanced RSA and AES Cryptographic \
                             Provider\"\r\nProviderType = 24\r\n"
                        ),
                        "{inf}"
                    );
                } else {
                    assert!(inf.contains("\r\nKeyAlgorithm = ECDSA_P256\r\n"), "{inf}");
                    assert!(
                        inf.contains("ProviderName = \"Microsoft Software Key Storage Provider\""),
                        "{inf}"
                    );
                }
            }
            assert!(server.contains("_continue_ = \"dns=QVS01\""), "{server}");
        }
    }
}

#[test]
fn a_legacy_package_tells_install_ps1_so_and_the_readme_drops_the_aes_hint() {
    let ca = node_ca("p256", "QlikViewCA", "QVProxy");
    let pfx = pfx_package(&ca, &["--legacy"]);
    let install = read_ps1(&pfx.join("install.ps1"));
    assert!(install.contains("$PfxEncryption    = '3des'"));
    let readme = String::from_utf8_lossy(&std::fs::read(pfx.join("README.txt")).expect("readme"))
        .into_owned();
    assert!(
        !readme.contains("cannot read these AES-256 PFX files"),
        "{readme}"
    );
}

// ------------------------------------------------------------------------------ install.sh

fn run_script(script: &Path, args: &[&str], password_file: Option<&Path>) -> Output {
    let mut command = std::process::Command::new("sh");
    command
        .arg(script)
        .args(args)
        .env("QVCA_SKIP_TRUST_STORE", "1")
        .env_remove("QVCA_PFX_PASSWORD_FILE")
        .stdin(std::process::Stdio::null());
    if let Some(file) = password_file {
        command.env("QVCA_PFX_PASSWORD_FILE", file);
    }
    command.output().expect("run the script")
}

#[test]
fn install_sh_runs_twice_with_a_password_file_without_final_newline_and_the_second_run_changes_nothing()
 {
    let ca = node_ca("rsa2048", "QlikViewCA", "QVProxy");
    let pfx = pfx_package(&ca, &[]);
    let target = ca.path().join("node");
    let password = pfx_password_file(&ca);
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
        Some(&pfx_password_file(&ca)),
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

fn public_key_of_cert(cert: &Path) -> String {
    openssl_ok(&["x509", "-in", path_str(cert), "-noout", "-pubkey"])
}

fn public_key_of_key(key: &Path) -> String {
    openssl_ok(&["pkey", "-in", path_str(key), "-pubout"])
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
        assert_eq!(csr_key, public_key_of_key(&key));
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
            public_key_of_cert(&target.join(format!("{name}.pem"))),
            public_key_of_key(&target.join(format!("{name}_key.pem"))),
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

// ------------------------------------------------------------------------- the CSP attribute

/// `openssl pkcs12 -info` of a package's Server PFX (the MAC is verified on the way).
fn pfx_info(ca: &TestCa, pfx: &Path) -> String {
    openssl_ok(&[
        "pkcs12",
        "-info",
        "-nodes",
        "-in",
        path_str(pfx),
        "-passin",
        &format!("file:{}", path_str(&pfx_password_file(ca))),
    ])
}

#[test]
fn rsa_keys_in_pfx_files_name_the_aes_csp_and_ecdsa_keys_name_none() {
    let csp = "Microsoft CSP Name: Microsoft Enhanced RSA and AES Cryptographic Provider";
    let rsa = node_ca("rsa2048", "QlikViewCA", "QVProxy");
    for legacy in [false, true] {
        let extra: &[&str] = if legacy {
            &["--legacy", "--force"]
        } else {
            &[]
        };
        let package = pfx_package(&rsa, extra);
        for pfx in ["QVS01.pfx", "QVProxy.pfx"] {
            let info = pfx_info(&rsa, &package.join(pfx));
            assert_eq!(
                info.matches(csp).count(),
                1,
                "{pfx}, legacy {legacy}:\n{info}"
            );
        }
        // qvca itself still reads them, MAC and all.
        let json = rsa.json(&[
            "--pfx-password-file",
            path_str(&pfx_password_file(&rsa)),
            "inspect",
            path_str(&package.join("QVS01.pfx")),
        ]);
        assert_eq!(
            json["pkcs12_protection"]["legacy_windows_compatible"],
            legacy
        );
    }
    let ecdsa = node_ca("p256", "QlikViewCA", "QVProxy");
    let package = pfx_package(&ecdsa, &[]);
    let info = pfx_info(&ecdsa, &package.join("QVS01.pfx"));
    assert!(!info.contains("Microsoft CSP Name"), "{info}");
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
fn a_package_readme_lists_only_the_ports_of_the_nodes_roles() {
    let ca = crate::support::p256_ca(&["QVS01"]);
    let all = ca.path().join("all");
    let qvs = ca.path().join("qvs");
    for (dir, roles) in [(&all, None), (&qvs, Some("qvs"))] {
        let mut args = vec!["package", "QVS01", "--out", path_str(dir)];
        if let Some(roles) = roles {
            args.extend(["--role", roles]);
        }
        assert_code(&crate::support::run(&ca, &args), 0, "package");
    }
    let readme = |dir: &Path| {
        let bytes = std::fs::read(dir.join("README.txt")).expect("README.txt");
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let everything = readme(&all);
    let only_qvs = readme(&qvs);
    let port_lines = |text: &str| {
        text.lines()
            .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
            .count()
    };
    assert!(
        port_lines(&only_qvs) < port_lines(&everything),
        "{only_qvs}\n---\n{everything}"
    );
    assert!(only_qvs.contains("QlikView Server"), "{only_qvs}");
    assert!(
        !only_qvs.contains("QlikView Management Service ("),
        "{only_qvs}"
    );
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
