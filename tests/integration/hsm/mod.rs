//! The root key in a PKCS#11 token, on a real SoftHSM2 (issue 16).
//!
//! Two kinds of tests share this harness:
//!
//! - the CLI tests ([`cli`], [`failures`]) run the qvca binary with `SOFTHSM2_CONF` set for
//!   that child process only (`Command::env`), so each test has its own token directory and
//!   every qvca run initialises the module afresh, as it does in production;
//! - the library tests (token, generate, import, signer, attributes, secrets) load the module
//!   into the test process itself. SoftHSM2 reads `SOFTHSM2_CONF` once, at `C_Initialize`, and
//!   a module is initialised once per process (`std::env::set_var` is unsound while other test
//!   threads run), so [`run_isolated`] re-executes this test binary for the one test
//!   (`<name> --exact`) with the configuration in the child's environment; tests stay parallel,
//!   one process each, and the parent checks that the child really ran one test.
//!
//! SoftHSM2 comes from Debian's `softhsm2` (`.ci/run` installs it), `pkcs11-tool` from `opensc`.

#![allow(dead_code)]

mod attributes;
mod backups;
mod bulk;
mod cli;
mod commands;
mod crash;
mod doctor;
mod failures;
mod generate;
mod import;
mod keytool;
mod migrate;
mod pki;
mod secrets;
mod secrets_cli;
mod signer;
mod token;

use qvca::pki::pkcs11::module::Module;
use qvca::pki::pkcs11::pin::Pin;
use qvca::pki::pkcs11::token::{TokenSelector, UserSession};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Debian's SoftHSM2 module.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The user PIN of every test token: distinctive, so a test can prove it is never written or
/// printed anywhere.
pub const PIN: &str = "Pin-7f3a9c-QVCA";
/// The security officer PIN of every test token.
pub const SO_PIN: &str = "So-5e1d2b-QVCA";

const CHILD_ENV: &str = "QVCA_HSM_TEST_CHILD";
const DIR_ENV: &str = "QVCA_HSM_TEST_DIR";
/// A hung child is killed after this long, so a test never hangs the suite.
const CHILD_TIMEOUT: Duration = Duration::from_secs(600);

/// A test's own SoftHSM2 configuration and token directory.
pub struct SoftHsm {
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl SoftHsm {
    /// A fresh configuration with an empty token directory (for the CLI tests, which hand it
    /// to each qvca process).
    pub fn new() -> Self {
        let temp = tempfile::tempdir().expect("tempdir");
        write_config(temp.path());
        Self {
            dir: temp.path().to_path_buf(),
            _temp: Some(temp),
        }
    }

    /// The directory holding `softhsm2.conf`, `tokens/` and the PIN file.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration file (`SOFTHSM2_CONF`).
    pub fn conf(&self) -> PathBuf {
        self.dir.join("softhsm2.conf")
    }

    /// The token directory (what backing up SoftHSM2 means).
    pub fn tokens(&self) -> PathBuf {
        self.dir.join("tokens")
    }

    /// A file holding [`PIN`] on its first line.
    pub fn pin_file(&self) -> PathBuf {
        let path = self.dir.join("pin.txt");
        if !path.exists() {
            std::fs::write(&path, format!("{PIN}\n")).expect("pin file");
        }
        path
    }

    /// Initialises a token with `label` in the first free slot.
    pub fn init_token(&self, label: &str) {
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label])
            .args(["--so-pin", SO_PIN, "--pin", PIN])
            .env("SOFTHSM2_CONF", self.conf())
            .output()
            .expect("softhsm2-util runs (apt-get install softhsm2)");
        assert!(
            out.status.success(),
            "softhsm2-util --init-token failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `pkcs11-tool --module MODULE --token-label TOKEN --login --pin PIN ARGS...`.
    pub fn pkcs11_tool(&self, token: &str, args: &[&str]) -> Output {
        Command::new("pkcs11-tool")
            .args([
                "--module",
                MODULE,
                "--token-label",
                token,
                "--login",
                "--pin",
                PIN,
            ])
            .args(args)
            .env("SOFTHSM2_CONF", self.conf())
            .output()
            .expect("pkcs11-tool runs (apt-get install opensc)")
    }

    /// Like [`SoftHsm::pkcs11_tool`], failing the test when pkcs11-tool fails.
    pub fn pkcs11_tool_ok(&self, token: &str, args: &[&str]) -> String {
        let out = self.pkcs11_tool(token, args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "pkcs11-tool {args:?}: {text}");
        text
    }

    /// The SoftHSM2 module, initialised for this process (library tests, in their child).
    pub fn module(&self) -> Module {
        Module::open(Path::new(MODULE)).expect("SoftHSM2 module loads")
    }

    /// A logged-in session on the token labelled `label` (library tests, in their child).
    pub fn login(&self, label: &str) -> UserSession {
        self.module()
            .token(&TokenSelector::by_label(label))
            .expect("token found")
            .login(&pin())
            .expect("login")
    }
}

/// The user PIN of the test tokens.
pub fn pin() -> Pin {
    Pin::new(PIN).expect("valid pin")
}

/// The libtest name of a test from its `module_path!()` and function name.
pub fn test_name(module_path: &str, name: &str) -> String {
    match module_path.split_once("::") {
        Some((_crate, rest)) => format!("{rest}::{name}"),
        None => name.to_owned(),
    }
}

fn write_config(dir: &Path) -> PathBuf {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).expect("token dir");
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            tokens.display()
        ),
    )
    .expect("softhsm2.conf");
    conf
}

/// The SoftHSM2 configuration a test's process gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Config {
    /// A normal configuration with an empty token directory.
    Normal,
    /// `SOFTHSM2_CONF` is a FIFO nobody writes to: `C_Initialize` blocks forever reading it,
    /// like a client library waiting for an unreachable network HSM.
    Hanging,
}

/// Makes `SOFTHSM2_CONF` a FIFO in `dir` that nobody writes to (see [`Config::Hanging`]).
pub fn hanging_config(dir: &Path) -> PathBuf {
    let conf = dir.join("hanging.conf");
    let made = Command::new("mkfifo")
        .arg(&conf)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo failed");
    conf
}

/// Runs `body` in a child process of this test binary that has its own SoftHSM2 config.
pub fn run_isolated(name: &str, body: impl FnOnce(&SoftHsm)) {
    run_isolated_with(name, Config::Normal, body);
}

/// Like [`run_isolated`], with the configuration chosen. The child's stderr is passed on
/// (libtest shows it with `--nocapture`).
#[allow(clippy::print_stderr)]
pub fn run_isolated_with(name: &str, config: Config, body: impl FnOnce(&SoftHsm)) {
    if std::env::var(CHILD_ENV).as_deref() == Ok(name) {
        let dir = PathBuf::from(std::env::var(DIR_ENV).expect("test dir in the environment"));
        body(&SoftHsm { dir, _temp: None });
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut conf = write_config(dir.path());
    if config == Config::Hanging {
        conf = hanging_config(dir.path());
    }
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args([
            name,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, name)
        .env(DIR_ENV, dir.path())
        .env("SOFTHSM2_CONF", &conf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("re-run the test binary");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if started.elapsed() > CHILD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name}: the test process hung for {CHILD_TIMEOUT:?} and was killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().expect("child output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        status.success(),
        "{name} failed in its own process:\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    // A misspelt name would run no test and still exit 0.
    assert!(
        stdout.contains("1 passed"),
        "{name}: the child ran no test:\n{stdout}"
    );
    eprint!("{stderr}");
}

/// Declares a library test that runs isolated with its own SoftHSM2:
/// `softhsm_test!(fn name(hsm) { … })`.
#[macro_export]
macro_rules! softhsm_test {
    ($(#[$meta:meta])* hanging fn $name:ident($hsm:ident) $body:block) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            let name = $crate::hsm::test_name(module_path!(), stringify!($name));
            $crate::hsm::run_isolated_with(
                &name,
                $crate::hsm::Config::Hanging,
                |$hsm: &$crate::hsm::SoftHsm| $body,
            );
        }
    };
    ($(#[$meta:meta])* fn $name:ident($hsm:ident) $body:block) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            let name = $crate::hsm::test_name(module_path!(), stringify!($name));
            $crate::hsm::run_isolated(&name, |$hsm: &$crate::hsm::SoftHsm| $body);
        }
    };
}
