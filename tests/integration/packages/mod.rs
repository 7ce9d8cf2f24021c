//! Issue 12: node packages for Windows Server 2012 R2 to 2025 and keyless enrolment, tested as
//! far as Linux allows. For each key type, PFX and keyless packages with hostile-but-valid
//! names: every `.ps1` starts with a UTF-8 BOM, parses with the PowerShell grammar (no ERROR or
//! MISSING node), holds the names only as single-quoted strings, and uses only commands and
//! .NET types that Windows PowerShell 5.1 on .NET 4.5 has (`tests/windows/ps51-api.txt`, with
//! sources); the `.cmd` wrappers hold no value; `request.inf` is UTF-16 with the INF escaping;
//! every `.sh` passes shellcheck. `install.sh` runs for real, twice, with a password file
//! without its final newline; the keyless round trip (request, sign, accept, renew) runs for
//! real with openssl.

use crate::support::{PFX_PASSWORD, TestCa, assert_code, path_str};
use std::path::{Path, PathBuf};
use std::process::Output;

mod contents;
mod install_sh;
mod keyless;
mod powershell;

/// The PFX password in a file WITHOUT a final newline (what `echo -n`, editors set to "no final
/// newline" and many secret stores write).
fn pfx_password_file_without_newline(ca: &TestCa) -> PathBuf {
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
        .arg(pfx_password_file_without_newline(ca))
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
