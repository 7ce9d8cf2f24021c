//! qvca with its root key in a SoftHSM2 token, through the real binary: `init --key URI`
//! generates (or finds) the key in the token, and everything the root signs (the root itself,
//! Server and Client certificates in bulk, a signed request, renewals of a leaf and of the root,
//! the CRL) is signed there. openssl and rustls-webpki judge the results; the PIN never appears
//! in any output or file.

use super::{MODULE, PIN, SoftHsm};
use crate::support::{TestCa, describe, openssl_ok, path_str, snapshot, stderr, tool};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use std::path::{Path, PathBuf};
use std::process::Output;

/// The URI of the root key the tests make.
pub const ROOT_URI: &str = "pkcs11:token=qvca;object=qvca-root";

/// A CA whose root key is in a SoftHSM2 token of its own.
pub struct HsmCa {
    /// The scratch area and CA directory.
    pub ca: TestCa,
    /// The token directory and configuration.
    pub hsm: SoftHsm,
}

impl HsmCa {
    /// A token `qvca` and nothing else yet.
    pub fn new() -> Self {
        let hsm = SoftHsm::new();
        hsm.init_token("qvca");
        Self {
            ca: TestCa::new(),
            hsm,
        }
    }

    /// A token `qvca` and a CA whose root key of `key_type` was generated there with
    /// `init --key ROOT_URI`.
    pub fn init(key_type: &str) -> Self {
        let this = Self::new();
        this.ok(&["init", "--key", ROOT_URI, "--key-type", key_type]);
        this
    }

    /// `qvca` for this CA with the CA password, this test's SoftHSM2 configuration (for this
    /// child process only), the module and the PIN file.
    pub fn qvca(&self) -> assert_cmd::Command {
        let mut cmd = self.qvca_without_token_options();
        cmd.arg("--pkcs11-module")
            .arg(MODULE)
            .arg("--pin-file")
            .arg(self.hsm.pin_file());
        cmd
    }

    /// `qvca` for this CA with the CA password and the SoftHSM2 configuration only.
    pub fn qvca_without_token_options(&self) -> assert_cmd::Command {
        let mut cmd = self.ca.qvca();
        cmd.env("SOFTHSM2_CONF", self.hsm.conf());
        cmd
    }

    /// Runs qvca (no terminal: stdin is empty).
    pub fn run(&self, args: &[&str]) -> Output {
        self.qvca().args(args).output().expect("run qvca")
    }

    /// Runs qvca and returns its stdout, failing the test unless it succeeds.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "qvca {args:?}: {}", describe(&out));
        assert_no_pin(&out, &format!("qvca {args:?}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The `--json` report of a command that succeeds.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).expect("JSON on stdout")
    }

    /// The certificate of `name` (PEM) exported to the scratch area.
    pub fn cert(&self, name: &str) -> PathBuf {
        let out = self.ca.path().join(format!("{name}.pem"));
        self.ok(&["export", "cert", name, "--force", "--out", path_str(&out)]);
        out
    }

    /// The root certificate (PEM) exported to the scratch area.
    pub fn root(&self) -> PathBuf {
        let out = self.ca.path().join("root.pem");
        self.ok(&["export", "root", "--force", "--out", path_str(&out)]);
        out
    }
}

/// The PIN is in neither stdout nor stderr.
pub fn assert_no_pin(out: &Output, what: &str) {
    for stream in [&out.stdout, &out.stderr] {
        assert!(
            !String::from_utf8_lossy(stream).contains(PIN),
            "{what} printed the PIN: {}",
            describe(out)
        );
    }
}

/// No file under `dir` holds the PIN.
pub fn assert_no_pin_in(dir: &Path) {
    for (path, bytes) in snapshot(dir) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(PIN),
            "{} holds the PIN",
            path.display()
        );
    }
}

/// `openssl verify -x509_strict` accepts `cert` under `root` for `purpose`.
fn assert_verifies(root: &Path, cert: &Path, purpose: &str) {
    let text = openssl_ok(&[
        "verify",
        "-x509_strict",
        "-purpose",
        purpose,
        "-CAfile",
        path_str(root),
        path_str(cert),
    ]);
    assert!(text.contains(": OK"), "{}: {text}", cert.display());
}

/// The public key (PEM) of a certificate, as openssl prints it.
fn certificate_public_key(cert: &Path) -> String {
    openssl_ok(&["x509", "-in", path_str(cert), "-noout", "-pubkey"])
}

/// The public key (PEM) of the token's key labelled `label`, read out with pkcs11-tool.
fn token_public_key(hsm: &SoftHsm, label: &str) -> String {
    let der = hsm.dir().join(format!("{label}.pub.der"));
    hsm.pkcs11_tool_ok(
        "qvca",
        &[
            "--read-object",
            "--type",
            "pubkey",
            "--label",
            label,
            "-o",
            path_str(&der),
        ],
    );
    openssl_ok(&["pkey", "-pubin", "-inform", "DER", "-in", path_str(&der)])
}

/// A PKCS#10 request for `name` made by openssl with a fresh P-256 key.
fn openssl_request(dir: &Path, name: &str) -> PathBuf {
    let csr = dir.join(format!("{name}.csr"));
    let key = dir.join(format!("{name}.key"));
    openssl_ok(&[
        "req",
        "-new",
        "-nodes",
        "-subj",
        &format!("/CN={name}"),
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-keyout",
        path_str(&key),
        "-out",
        path_str(&csr),
    ]);
    csr
}

/// Everything an HSM root signs, for a root of `root_type` and leaves of `leaf_type`: the
/// root's key is the token's (compared with what pkcs11-tool reads out of the token when
/// `pkcs11_tool_reads_it`: OpenSC 0.23 cannot export a P-384 public key, "cannot create
/// EVP_PKEY") and has no key file; bulk Server issuance on two threads, the
/// Client, a signed request, a renewed leaf and a CRL all verify with openssl; the revoked
/// certificate fails `-crl_check`; the PIN is nowhere.
fn everything_an_hsm_root_signs_verifies(
    root_type: &str,
    leaf_type: &str,
    pkcs11_tool_reads_it: bool,
) {
    let hca = HsmCa::init(root_type);
    let index = hca.ca.index();
    let recorded = &index["settings"]["root_key"];
    assert_eq!(recorded["uri"], ROOT_URI, "{index}");
    assert_eq!(recorded["token_label"], "qvca", "{index}");
    assert_eq!(recorded["key_label"], "qvca-root", "{index}");
    assert_eq!(
        recorded["key_id"].as_str().map(str::len),
        Some(40),
        "{index}"
    );
    let root_serial = index["certificates"][0]["serial"]
        .as_str()
        .expect("root serial")
        .to_owned();
    assert!(
        !hca.ca
            .dir()
            .join("keys")
            .join(format!("{root_serial}.pem"))
            .exists(),
        "a root key file exists for a root in a token"
    );
    let root = hca.root();
    if pkcs11_tool_reads_it {
        assert_eq!(
            certificate_public_key(&root),
            token_public_key(&hca.hsm, "qvca-root"),
            "the root certificate does not carry the token's key"
        );
    }
    let text = openssl_ok(&[
        "verify",
        "-x509_strict",
        "-CAfile",
        path_str(&root),
        path_str(&root),
    ]);
    assert!(text.contains(": OK"), "{text}");

    // Bulk: three Server certificates on two threads, each signing through its own session.
    let issued = hca.json(&[
        "issue",
        "server",
        "QVS01",
        "QVS02",
        "QVS03",
        "--jobs",
        "2",
        "--key-type",
        leaf_type,
    ]);
    assert_eq!(
        issued["results"].as_array().map(Vec::len),
        Some(3),
        "{issued}"
    );
    hca.ok(&["issue", "client", "--key-type", leaf_type]);
    let csr = openssl_request(hca.ca.path(), "QVS21");
    let signed = hca.ca.path().join("QVS21.cer");
    hca.ok(&[
        "sign",
        path_str(&csr),
        "--server",
        "--out",
        path_str(&signed),
    ]);
    hca.ok(&["renew", "QVS01"]);
    hca.ok(&["-y", "revoke", "QVS02", "--reason", "keyCompromise"]);
    let crl = hca.ca.path().join("crl.pem");
    hca.ok(&["crl", "--out", path_str(&crl)]);

    for (name, purpose) in [
        ("QVS01", "sslserver"),
        ("QVS03", "sslserver"),
        ("QVProxy", "sslclient"),
    ] {
        assert_verifies(&root, &hca.cert(name), purpose);
    }
    assert_verifies(&root, &signed, "sslserver");
    let text = openssl_ok(&[
        "crl",
        "-in",
        path_str(&crl),
        "-noout",
        "-CAfile",
        path_str(&root),
    ]);
    assert!(text.contains("verify OK"), "{text}");
    let revoked = hca.cert("QVS02");
    let (ok, text) = tool(
        "openssl",
        &[
            "verify",
            "-crl_check",
            "-CRLfile",
            path_str(&crl),
            "-CAfile",
            path_str(&root),
            path_str(&revoked),
        ],
    );
    assert!(!ok && text.contains("revoked"), "{text}");
    let text = openssl_ok(&[
        "verify",
        "-crl_check",
        "-CRLfile",
        path_str(&crl),
        "-CAfile",
        path_str(&root),
        path_str(&hca.cert("QVS03")),
    ]);
    assert!(text.contains(": OK"), "{text}");

    assert_no_pin_in(&hca.ca.dir());
    assert_no_pin_in(hca.ca.path());
}

#[test]
fn an_rsa_root_in_a_token_signs_everything_and_openssl_verifies_it() {
    everything_an_hsm_root_signs_verifies("rsa2048", "p256", true);
}

#[test]
fn a_p256_root_in_a_token_signs_everything_and_openssl_verifies_it() {
    everything_an_hsm_root_signs_verifies("p256", "rsa2048", true);
}

#[test]
fn a_p384_root_in_a_token_signs_everything_and_openssl_verifies_it() {
    everything_an_hsm_root_signs_verifies("p384", "p256", false);
}

#[test]
fn renewing_an_hsm_root_keeps_the_key_in_the_token_and_old_and_new_certificates_verify() {
    let hca = HsmCa::init("p256");
    hca.ok(&["issue", "server", "QVS01", "--key-type", "p256"]);
    let old_root = std::fs::read(hca.root()).expect("old root");
    let renewed = hca.json(&["-y", "renew", "QlikViewCA", "--root"]);
    assert_eq!(renewed["key_kept"], true, "{renewed}");
    let new_serial = renewed["new_serial"]
        .as_str()
        .unwrap_or_else(|| panic!("no new serial in {renewed}"))
        .to_owned();
    assert!(
        !hca.ca
            .dir()
            .join("keys")
            .join(format!("{new_serial}.pem"))
            .exists(),
        "the renewed root got a key file"
    );
    let new_root = hca.root();
    assert_ne!(old_root, std::fs::read(&new_root).expect("new root"));
    assert_eq!(
        certificate_public_key(&new_root),
        token_public_key(&hca.hsm, "qvca-root")
    );
    hca.ok(&["issue", "server", "QVS02", "--key-type", "p256"]);
    assert_verifies(&new_root, &hca.cert("QVS02"), "sslserver");
    // Same key and subject: what the old root signed verifies under the new one.
    assert_verifies(&new_root, &hca.cert("QVS01"), "sslserver");
    let crl = hca.ca.path().join("crl.pem");
    hca.ok(&["crl", "--out", path_str(&crl)]);
    let text = openssl_ok(&[
        "crl",
        "-in",
        path_str(&crl),
        "-noout",
        "-CAfile",
        path_str(&new_root),
    ]);
    assert!(text.contains("verify OK"), "{text}");
}

/// A PEM file's first certificate or CRL in DER.
fn pem_der(path: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(path).expect("read PEM");
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("base64")
}

#[test]
fn rustls_webpki_accepts_what_an_hsm_root_signed_and_its_crl_revokes() {
    let hca = HsmCa::init("p256");
    hca.ok(&["issue", "server", "QVS01", "QVS02", "--key-type", "p256"]);
    hca.ok(&["-y", "revoke", "QVS02"]);
    let crl_path = hca.ca.path().join("crl.pem");
    hca.ok(&["crl", "--out", path_str(&crl_path)]);
    let root = CertificateDer::from(pem_der(&hca.root()));
    let anchor = webpki::anchor_from_trusted_cert(&root).expect("webpki anchor");
    let crl = webpki::OwnedCertRevocationList::from_der(
        CertificateRevocationListDer::from(pem_der(&crl_path)).as_ref(),
    )
    .expect("webpki reads the CRL");
    let crls = [&webpki::CertRevocationList::Owned(crl)];
    let revocation = webpki::RevocationOptionsBuilder::new(&crls)
        .expect("CRLs given")
        .build();
    let check = |name: &str| {
        let der = CertificateDer::from(pem_der(&hca.cert(name)));
        let leaf = webpki::EndEntityCert::try_from(&der).expect("webpki parses the leaf");
        leaf.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            std::slice::from_ref(&anchor),
            &[],
            UnixTime::now(),
            webpki::KeyUsage::server_auth(),
            Some(revocation),
            None,
        )
        .map(|_| ())
        .and_then(|()| {
            leaf.verify_is_valid_for_subject_name(
                &ServerName::try_from(name.to_owned()).expect("name"),
            )
        })
    };
    check("QVS01").expect("webpki: QVS01 chains to the HSM root and is not revoked");
    let err = check("QVS02").expect_err("QVS02 is revoked");
    assert!(matches!(err, webpki::Error::CertRevoked), "{err:?}");
}

#[test]
fn init_uses_an_existing_key_the_uri_names_and_says_so() {
    let hca = HsmCa::new();
    hca.hsm.pkcs11_tool_ok(
        "qvca",
        &[
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--label",
            "existing",
            "--id",
            "0a0b",
            "--usage-sign",
            "--sensitive",
        ],
    );
    // Asking for another type than the key has is refused, and nothing is created.
    let out = hca.run(&[
        "init",
        "--key",
        "pkcs11:token=qvca;object=existing",
        "--key-type",
        "rsa2048",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("p256"), "{}", describe(&out));
    assert!(!hca.ca.dir().join("index.json").exists());

    let report = hca.json(&["init", "--key", "pkcs11:token=qvca;object=existing"]);
    assert_eq!(report["root_key"]["generated"], false, "{report}");
    assert_eq!(report["root_key"]["key_id"], "0a0b", "{report}");
    assert_eq!(report["key_type"], "p256", "{report}");
    hca.ok(&["issue", "server", "QVS01", "--key-type", "p256"]);
    let root = hca.root();
    assert_eq!(
        certificate_public_key(&root),
        token_public_key(&hca.hsm, "existing")
    );
    assert_verifies(&root, &hca.cert("QVS01"), "sslserver");
}

#[test]
fn the_module_and_pin_can_come_from_the_uri_and_the_environment() {
    let hca = HsmCa::new();
    let uri = format!(
        "pkcs11:token=qvca;object=qvca-root?module-path={MODULE}&pin-source=file:{}",
        path_str(&hca.hsm.pin_file())
    );
    let out = hca
        .qvca_without_token_options()
        .args(["init", "--key", &uri, "--key-type", "p256"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("generated there now"), "{text}");
    // The module path is recorded, the PIN source is not.
    let recorded = hca.ca.index()["settings"]["root_key"]["uri"].clone();
    assert_eq!(
        recorded,
        format!("pkcs11:token=qvca;object=qvca-root?module-path={MODULE}")
    );
    // Later commands find the module in the CA directory and the PIN in QVCA_PKCS11_PIN.
    let out = hca
        .qvca_without_token_options()
        .env("QVCA_PKCS11_PIN", PIN)
        .args(["issue", "server", "QVS01", "--key-type", "p256"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", describe(&out));
    assert_no_pin(&out, "issue with QVCA_PKCS11_PIN");
    assert_verifies(&hca.root(), &hca.cert("QVS01"), "sslserver");
    assert_no_pin_in(&hca.ca.dir());
}

#[test]
fn a_token_root_ca_without_a_password_needs_only_the_pin() {
    let hca = HsmCa::new();
    let out = hca
        .qvca()
        .args([
            "init",
            "--key",
            ROOT_URI,
            "--key-type",
            "p256",
            "--no-password",
        ])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", describe(&out));
    let out = crate::support::bare_qvca()
        .arg("--ca-dir")
        .arg(hca.ca.dir())
        .env("SOFTHSM2_CONF", hca.hsm.conf())
        .args(["--pkcs11-module", MODULE, "--pin-file"])
        .arg(hca.hsm.pin_file())
        .args(["issue", "client", "--key-type", "p256"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn on_a_terminal_the_pin_is_asked_for_naming_the_token_and_never_echoed() {
    use crate::terminal::{TIMEOUT_MS, answer, expect, finish, qvca_pid, spawn};
    let hca = HsmCa::new();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_qvca"));
    command
        .arg("--ca-dir")
        .arg(hca.ca.dir())
        .arg("--password-file")
        .arg(hca.ca.password_file())
        .args(["--pkcs11-module", MODULE])
        .args(["init", "--key", ROOT_URI, "--key-type", "p256"])
        .env("SOFTHSM2_CONF", hca.hsm.conf())
        .env_remove("QVCA_PKCS11_PIN")
        .env_remove("QVCA_PKCS11_MODULE")
        .current_dir(hca.ca.path());
    let mut session = spawn(command, TIMEOUT_MS);
    let pid = qvca_pid(path_str(&hca.ca.dir()));
    expect(
        &mut session,
        "User PIN of the PKCS#11 token (label \"qvca\")",
    );
    answer(&mut session, pid, PIN);
    let (rest, code) = finish(&mut session);
    assert_eq!(code, 0, "{rest}");
    assert!(rest.contains("generated there now"), "{rest}");
    assert!(!rest.contains(PIN), "the PIN was echoed: {rest}");
}
