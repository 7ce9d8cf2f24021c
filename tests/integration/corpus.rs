//! The corpus: `inspect` over real-world files no one on this project made, the pyca
//! `cryptography-vectors` package (its `x509/` and `pkcs12/` folders, NIST's PKITS data
//! among them; `.ci/run` installs it with pip). Python `cryptography` decides which files are
//! real certificates, CRLs, requests and PKCS#12 files (tests/corpus/classify.py); each must
//! inspect without an error, without a panic, and in well under a second. qvca's library is
//! run in-process, so the ~1,200 files take seconds; a sample also goes through the binary.

use crate::support::*;
use qvca::domain::secret::Password;
use qvca::pki::inspect::inspect_file;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A generous bound per file: the requirement is one second on a release build; a debug
/// build on a busy two-core machine is allowed more, so that only a real hang or a
/// quadratic blow-up fails.
const PER_FILE: Duration = Duration::from_secs(3);

/// The files the issue names: each once failed the whole `inspect` for one part.
const NAMED: &[&str] = &[
    "x509/cryptography.io.old_header.pem",
    "x509/cryptography.io.with_headers.pem",
    "x509/cryptography.io.with_garbage.pem",
    "x509/cryptography.io.chain_with_garbage.pem",
    "x509/san_edipartyname.der",
    "x509/san_x400address.der",
    "x509/utf8-dnsname.pem",
    "x509/custom/two_basic_constraints.pem",
    "x509/custom/crl_empty.pem",
    "pkcs12/cert-aes256cbc-no-key.p12",
    "pkcs12/java-truststore.p12",
    "pkcs12/no-password.p12",
];

fn vectors_dir() -> Option<PathBuf> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import cryptography_vectors, os; print(os.path.dirname(cryptography_vectors.__file__))",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    dir.join("x509").is_dir().then_some(dir)
}

struct Entry {
    kind: String,
    password: Option<String>,
    path: PathBuf,
}

fn classify(dirs: &[PathBuf]) -> Vec<Entry> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/classify.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .args(dirs)
        .output()
        .expect("python3 runs the classifier");
    assert!(
        out.status.success(),
        "classify.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, '\t');
            let kind = parts.next()?.to_owned();
            let password = match parts.next()? {
                "-" => None,
                "<empty>" => Some(String::new()),
                p => Some(p.to_owned()),
            };
            Some(Entry {
                kind,
                password,
                path: PathBuf::from(parts.next()?),
            })
        })
        .collect()
}

/// Inspects one file in-process: Ok, or the reason it failed (an error, a panic, too slow).
fn inspect_in_process(bytes: &[u8], password: Option<&Password>, what: &str) -> Result<(), String> {
    let started = Instant::now();
    let result = std::panic::catch_unwind(|| inspect_file(bytes, password, what));
    let elapsed = started.elapsed();
    match result {
        Err(_) => Err("PANICKED".into()),
        Ok(Err(e)) => Err(format!("exit {:?}: {}", e.kind(), e.message())),
        Ok(Ok(_)) if elapsed > PER_FILE => Err(format!("took {elapsed:?}")),
        Ok(Ok(_)) => Ok(()),
    }
}

/// Runs the corpus over the given files and returns the failures (one line each) and counts.
fn inspect_all(entries: &[Entry]) -> (Vec<String>, std::collections::BTreeMap<String, usize>) {
    let mut failures = Vec::new();
    let mut counts = std::collections::BTreeMap::new();
    for entry in entries {
        let bytes = std::fs::read(&entry.path).expect("read a corpus file");
        let what = entry.path.display().to_string();
        *counts.entry(entry.kind.clone()).or_insert(0) += 1;
        if entry.kind == "pkcs12" {
            // Without a password: the protection, exit 0.
            if let Err(e) = inspect_in_process(&bytes, None, &what) {
                failures.push(format!("{what} (no password): {e}"));
            }
            // With the password cryptography used (none means the empty one).
            let password = Password::new(entry.password.as_deref().unwrap_or(""));
            if let Err(e) = inspect_in_process(&bytes, Some(&password), &what) {
                failures.push(format!("{what} (with its password): {e}"));
            }
        } else if let Err(e) = inspect_in_process(&bytes, None, &what) {
            failures.push(format!("{what}: {e}"));
        }
    }
    (failures, counts)
}

#[test]
// The counts (and a skip) belong in the test log, where CI keeps them.
#[allow(clippy::print_stderr)]
fn every_certificate_crl_request_and_pkcs12_of_the_cryptography_vectors_inspects() {
    let Some(dir) = vectors_dir() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the corpus: .ci/run installs cryptography-vectors with pip"
        );
        eprintln!(
            "SKIPPED: the corpus test needs the PyPI package cryptography-vectors \
             (pip install cryptography-vectors; .ci/run installs it)"
        );
        return;
    };
    let entries = classify(&[dir.join("x509"), dir.join("pkcs12")]);
    assert!(
        entries.len() > 1000,
        "the classifier found {} files",
        entries.len()
    );
    let started = Instant::now();
    let (failures, counts) = inspect_all(&entries);
    eprintln!(
        "corpus: {} files read ({counts:?}) in {:?}; {} failures",
        entries.len(),
        started.elapsed(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} files failed:\n{}",
        failures.len(),
        entries.len(),
        failures.join("\n")
    );

    // The files the issue names, through the binary: exit 0, no panic.
    for name in NAMED {
        let path = dir.join(name);
        let entry = entries.iter().find(|e| e.path == path);
        let mut cmd = bare_qvca();
        if let Some(Entry {
            password: Some(p), ..
        }) = entry
        {
            cmd.env("QVCA_PFX_PASSWORD", p);
        }
        let out = cmd.arg("inspect").arg(&path).output().expect("run qvca");
        assert_code(&out, 0, &format!("inspect {name}"));
    }
}
