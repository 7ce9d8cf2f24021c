//! The rendered PowerShell: only what Windows PowerShell 5.1 on .NET 4.5 has (the allowlist
//! check itself is tested), scripts that parse, names held as verbatim strings, the `.cmd`
//! wrappers, `request.inf` and the legacy package.

use super::{files_of, keyless_package, named, node_ca, pfx_package};
use crate::support::{
    all_nodes, assert_powershell_holds_names_as_verbatim_strings, parse_powershell, path_str,
    read_ps1, tool,
};
use std::collections::HashSet;
use std::path::Path;

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
