//! Reading files qvca did not make (issue 13): certificates, chains, CRLs v1 and v2, PKCS#7
//! bundles, PKCS#10 requests, private keys and PKCS#12 files as openssl, keytool, NSS and
//! Python write them. `inspect` shows what it can and exits 0; `verify --root --chain` checks
//! foreign chains and says why one fails. The files are made here by the real tools.

use crate::support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

mod containers;
mod pkcs12;
mod verify;

pub(crate) use pkcs12::openssl_pfx;
pub(crate) use verify::LEAVES_SCRIPT;

/// A scratch directory with a small foreign PKI made by openssl: a root, an intermediate and
/// a leaf (`web01`, serverAuth), all P-256.
pub(crate) struct ForeignPki {
    pub(crate) dir: tempfile::TempDir,
}

const EXTENSIONS: &str = "\
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:web01
authorityKeyIdentifier = keyid
";

impl ForeignPki {
    pub(crate) fn new() -> Self {
        let pki = Self {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        std::fs::write(pki.path("ext.cnf"), EXTENSIONS).expect("write ext.cnf");
        openssl_ok(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            pki.p("root.key"),
            "-out",
            pki.p("root.pem"),
            "-subj",
            "/CN=Foreign Root",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        pki.issue("inter", "/CN=Foreign Intermediate", "root", "ca");
        pki.issue("leaf", "/CN=web01", "inter", "leaf");
        pki
    }

    pub(crate) fn issue(&self, name: &str, subject: &str, issuer: &str, section: &str) {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        openssl_ok(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            self.p(&key),
            "-out",
            self.p(&csr),
            "-subj",
            subject,
        ]);
        openssl_ok(&[
            "x509",
            "-req",
            "-in",
            self.p(&csr),
            "-CA",
            self.p(&format!("{issuer}.pem")),
            "-CAkey",
            self.p(&format!("{issuer}.key")),
            "-set_serial",
            &format!("0x{:x}", 0x1000 + name.len()),
            "-days",
            "20",
            "-extfile",
            self.p("ext.cnf"),
            "-extensions",
            section,
            "-out",
            self.p(&format!("{name}.pem")),
        ]);
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn p(&self, name: &str) -> &str {
        let path = self.dir.path().join(name);
        // Leak one small string per call: tests are short-lived and this keeps call sites flat.
        Box::leak(path.to_str().expect("utf-8").to_owned().into_boxed_str())
    }

    pub(crate) fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).expect("read")
    }

    pub(crate) fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write");
        path
    }
}

/// `qvca --json inspect FILE` with optional PKCS#12 password; exit code and JSON.
fn inspect_json(file: &Path, password: Option<&str>) -> (std::process::Output, Value) {
    let mut cmd = bare_qvca();
    if let Some(p) = password {
        cmd.env("QVCA_PFX_PASSWORD", p);
    }
    let out = cmd
        .args(["--json", "inspect"])
        .arg(file)
        .output()
        .expect("run qvca");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, json)
}
