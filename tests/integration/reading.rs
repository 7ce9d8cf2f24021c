//! Reading files qvca did not make (issue 13): certificates, chains, CRLs v1 and v2, PKCS#7
//! bundles, PKCS#10 requests, private keys and PKCS#12 files as openssl, keytool, NSS and
//! Python write them. `inspect` shows what it can and exits 0; `verify --root --chain` checks
//! foreign chains and says why one fails. The files are made here by the real tools.

use crate::support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

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

fn inspect_text(file: &Path, password: Option<&str>) -> std::process::Output {
    let mut cmd = bare_qvca();
    if let Some(p) = password {
        cmd.env("QVCA_PFX_PASSWORD", p);
    }
    cmd.arg("inspect").arg(file).output().expect("run qvca")
}

// ------------------------------------------------------------------------------ containers

#[test]
fn a_version_1_crl_from_openssl_ca_gencrl_inspects_with_its_revoked_certificate() {
    let pki = ForeignPki::new();
    std::fs::create_dir(pki.path("newcerts")).expect("mkdir");
    pki.write("index.txt", "");
    pki.write("serial", "01\n");
    // No crlnumber and no crl_extensions: openssl writes a version 1 CRL.
    let config = format!(
        "[ca]\ndefault_ca = own\n[own]\ndir = {dir}\ndatabase = $dir/index.txt\n\
         new_certs_dir = $dir/newcerts\ncertificate = $dir/root.pem\nprivate_key = $dir/root.key\n\
         serial = $dir/serial\ndefault_md = sha256\ndefault_crl_days = 30\npolicy = any\n\
         [any]\ncommonName = supplied\n",
        dir = pki.dir.path().display()
    );
    pki.write("ca.cnf", config);
    openssl_ok(&[
        "ca",
        "-config",
        pki.p("ca.cnf"),
        "-revoke",
        pki.p("inter.pem"),
    ]);
    openssl_ok(&[
        "ca",
        "-config",
        pki.p("ca.cnf"),
        "-gencrl",
        "-out",
        pki.p("v1.crl"),
    ]);
    let text = openssl_ok(&["crl", "-in", pki.p("v1.crl"), "-noout", "-text"]);
    assert!(text.contains("Version 1"), "openssl made a v1 CRL:\n{text}");
    openssl_ok(&[
        "crl",
        "-in",
        pki.p("v1.crl"),
        "-outform",
        "DER",
        "-out",
        pki.p("v1.der"),
    ]);

    for file in ["v1.crl", "v1.der"] {
        let (out, json) = inspect_json(&pki.path(file), None);
        assert_code(&out, 0, &format!("inspect of the v1 CRL {file}"));
        let crl = &json["crls"][0];
        assert_eq!(crl["version"], 1, "{json}");
        assert_eq!(crl["revoked"].as_array().map(Vec::len), Some(1), "{json}");
        // The intermediate's serial, as `openssl ca -revoke` recorded it.
        assert_eq!(crl["revoked"][0]["serial"], "1005", "{json}");
        assert!(
            crl["issuer"]
                .as_str()
                .is_some_and(|i| i.contains("Foreign Root"))
        );
    }
    // With its issuer in the same file, the CRL's signature is checked.
    let both = pki.write(
        "root-and-crl.pem",
        format!("{}{}", pki.read("root.pem"), pki.read("v1.crl")),
    );
    let (out, json) = inspect_json(&both, None);
    assert_code(&out, 0, "inspect of a root with its CRL");
    assert_eq!(
        json["crls"][0]["signature"],
        "signed by certificate 1; the signature verifies"
    );
}

#[test]
fn a_pem_chain_among_explanatory_text_shows_each_certificate_and_which_signs_which() {
    let pki = ForeignPki::new();
    let chain = pki.write(
        "chain.pem",
        format!(
            "subject=CN = web01\nissuer=CN = Foreign Intermediate\n{}\nthe intermediate:\n{}\n\
             and the root, with headers:\n{}\ntrailing words\n",
            pki.read("leaf.pem"),
            pki.read("inter.pem"),
            pki.read("root.pem").replacen(
                "-----BEGIN CERTIFICATE-----\n",
                "-----BEGIN CERTIFICATE-----\nComment: made by openssl\n\n",
                1
            )
        ),
    );
    let (out, json) = inspect_json(&chain, None);
    assert_code(&out, 0, "inspect of a chain with text");
    let subjects: Vec<&str> = json["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .filter_map(|c| c["subject_cn"].as_str())
        .collect();
    assert_eq!(subjects, ["web01", "Foreign Intermediate", "Foreign Root"]);
    let links: Vec<(u64, Option<u64>)> = json["chain"]
        .as_array()
        .expect("chain")
        .iter()
        .map(|l| {
            (
                l["certificate"].as_u64().unwrap_or(0),
                l["signed_by"].as_u64(),
            )
        })
        .collect();
    assert_eq!(links, [(1, Some(2)), (2, Some(3)), (3, Some(3))], "{json}");

    // The old `X509 CERTIFICATE` label reads too, and is flagged.
    let old = pki.write(
        "old.pem",
        pki.read("leaf.pem")
            .replace("CERTIFICATE", "X509 CERTIFICATE"),
    );
    let (out, json) = inspect_json(&old, None);
    assert_code(&out, 0, "inspect of an old header");
    assert!(
        json["certificates"][0]["non_der"]
            .to_string()
            .contains("X509 CERTIFICATE")
    );

    // An intermediate of the same name with another key: the link is named, the signature fails.
    pki.issue("impostor", "/CN=Foreign Intermediate", "root", "ca");
    let wrong = pki.write(
        "wrong.pem",
        format!("{}{}", pki.read("leaf.pem"), pki.read("impostor.pem")),
    );
    let out = inspect_text(&wrong, None);
    assert_code(&out, 0, "inspect of a chain whose signature fails");
    assert!(
        stdout(&out).contains("the signature does NOT verify"),
        "{}",
        describe(&out)
    );
}

#[test]
fn pkcs7_bundles_from_crl2pkcs7_show_their_certificates_in_pem_and_der() {
    let pki = ForeignPki::new();
    let chain = pki.write(
        "chain.pem",
        format!("{}{}", pki.read("leaf.pem"), pki.read("inter.pem")),
    );
    openssl_ok(&[
        "crl2pkcs7",
        "-nocrl",
        "-certfile",
        path_str(&chain),
        "-out",
        pki.p("bundle.p7b"),
    ]);
    openssl_ok(&[
        "crl2pkcs7",
        "-nocrl",
        "-certfile",
        path_str(&chain),
        "-outform",
        "DER",
        "-out",
        pki.p("bundle.p7b.der"),
    ]);
    for (file, kind) in [("bundle.p7b", "pem"), ("bundle.p7b.der", "pkcs7")] {
        let (out, json) = inspect_json(&pki.path(file), None);
        assert_code(&out, 0, &format!("inspect of {file}"));
        assert_eq!(json["kind"], kind);
        assert_eq!(
            json["certificates"].as_array().map(Vec::len),
            Some(2),
            "{json}"
        );
        assert_eq!(json["chain"][0]["signed_by"], 2, "{json}");
    }
}

#[test]
fn requests_under_both_pem_labels_and_in_der_show_subject_key_extensions_and_signature() {
    let pki = ForeignPki::new();
    openssl_ok(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        pki.p("req.key"),
        "-out",
        pki.p("req.pem"),
        "-subj",
        "/CN=QVS07",
        "-addext",
        "subjectAltName=DNS:QVS07",
        "-addext",
        "extendedKeyUsage=serverAuth",
    ]);
    openssl_ok(&[
        "req",
        "-in",
        pki.p("req.pem"),
        "-outform",
        "DER",
        "-out",
        pki.p("req.der"),
    ]);
    let certreq = pki.write(
        "certreq.req",
        pki.read("req.pem")
            .replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"),
    );
    for file in [pki.path("req.pem"), pki.path("req.der"), certreq] {
        let (out, json) = inspect_json(&file, None);
        assert_code(&out, 0, &format!("inspect of {}", file.display()));
        let request = &json["requests"][0];
        assert_eq!(request["subject_cn"], "QVS07", "{json}");
        assert_eq!(request["public_key"], "RSA 2048");
        assert_eq!(request["signature_valid"], true);
        let extensions = request["requested_extensions"].to_string();
        assert!(extensions.contains("DNS:QVS07") && extensions.contains("serverAuth"));
    }
    // One changed byte in the subject: the signature no longer verifies, and inspect says so.
    let mut der = std::fs::read(pki.path("req.der")).expect("read");
    let at = der
        .windows(5)
        .position(|w| w == b"QVS07")
        .expect("the CN in the DER");
    der[at + 4] = b'8';
    let tampered = pki.write("tampered.der", der);
    let (out, json) = inspect_json(&tampered, None);
    assert_code(&out, 0, "inspect of a tampered request");
    assert_eq!(json["requests"][0]["signature_valid"], false, "{json}");
}

#[test]
fn private_keys_are_described_with_format_size_and_encryption_and_never_shown() {
    let pki = ForeignPki::new();
    openssl_ok(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        pki.p("rsa8.pem"),
    ]);
    openssl_ok(&[
        "rsa",
        "-in",
        pki.p("rsa8.pem"),
        "-traditional",
        "-out",
        pki.p("rsa1.pem"),
    ]);
    openssl_ok(&["ec", "-in", pki.p("leaf.key"), "-out", pki.p("sec1.pem")]);
    openssl_ok(&[
        "pkcs8",
        "-topk8",
        "-in",
        pki.p("leaf.key"),
        "-v2",
        "aes-256-cbc",
        "-iter",
        "4096",
        "-passout",
        "pass:secret",
        "-out",
        pki.p("enc8.pem"),
    ]);
    openssl_ok(&[
        "rsa",
        "-in",
        pki.p("rsa8.pem"),
        "-traditional",
        "-aes256",
        "-passout",
        "pass:secret",
        "-out",
        pki.p("legacy.pem"),
    ]);
    openssl_ok(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        pki.p("leaf.key"),
        "-outform",
        "DER",
        "-out",
        pki.p("key.der"),
    ]);
    let cases = [
        ("rsa8.pem", "PKCS#8", Some("RSA 2048"), false, None),
        ("rsa1.pem", "PKCS#1 (RSA)", Some("RSA 2048"), false, None),
        ("sec1.pem", "SEC1 (EC)", Some("ECDSA P-256"), false, None),
        ("key.der", "PKCS#8", Some("ECDSA P-256"), false, None),
        (
            "enc8.pem",
            "PKCS#8 (encrypted)",
            None,
            true,
            Some("PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), 4096 iterations"),
        ),
        (
            "legacy.pem",
            "PKCS#1 (RSA) (legacy OpenSSL PEM encryption)",
            Some("RSA"),
            true,
            Some("Proc-Type: 4,ENCRYPTED, AES-256-CBC"),
        ),
    ];
    for (file, format, algorithm, encrypted, encryption) in cases {
        let (out, json) = inspect_json(&pki.path(file), None);
        assert_code(&out, 0, &format!("inspect of {file}"));
        let key = &json["keys"][0];
        assert_eq!(key["format"], format, "{file}: {json}");
        assert_eq!(key["algorithm"].as_str(), algorithm, "{file}: {json}");
        assert_eq!(key["encrypted"], encrypted, "{file}: {json}");
        if let Some(how) = encryption {
            assert!(
                key["encryption"].as_str().is_some_and(|e| e.contains(how)),
                "{file}: {json}"
            );
        }
        // Not one line of the key's base64 appears in the report.
        let text = stdout(&inspect_text(&pki.path(file), None));
        let source = std::fs::read(pki.path(file)).expect("read");
        for line in String::from_utf8_lossy(&source).lines() {
            if line.len() > 20 && !line.starts_with("-----") && !line.contains(':') {
                assert!(
                    !text.contains(line),
                    "{file}: key material in the report:\n{text}"
                );
            }
        }
    }
}

// ------------------------------------------------------------------------------ PKCS#12

/// Exports the leaf with its key and the intermediate with openssl and the given options.
pub(crate) fn openssl_pfx(
    pki: &ForeignPki,
    name: &str,
    password: &str,
    options: &[&str],
) -> Option<PathBuf> {
    let out = pki.path(name);
    let pass = format!("pass:{password}");
    let mut args = vec![
        "pkcs12",
        "-export",
        "-in",
        pki.p("leaf.pem"),
        "-inkey",
        pki.p("leaf.key"),
        "-certfile",
        pki.p("inter.pem"),
        "-name",
        "web01",
        "-passout",
        &pass,
        "-out",
        path_str(&out),
    ];
    args.extend_from_slice(options);
    let (ok, text) = tool("openssl", &args);
    if !ok {
        // RC2 needs the legacy provider; an openssl without it cannot write these files.
        assert!(
            options.contains(&"-legacy") && text.contains("unsupported"),
            "openssl {args:?} failed:\n{text}"
        );
        return None;
    }
    Some(out)
}

fn assert_pfx_reads(file: &Path, password: &str, windows_2016: bool, what: &str) {
    // Without the password: the protection and the Server 2016 verdict, exit 0.
    let (out, json) = inspect_json(file, None);
    assert_code(&out, 0, &format!("{what}: inspect without a password"));
    let protection = &json["pkcs12_protection"];
    assert_eq!(
        protection["legacy_windows_compatible"], windows_2016,
        "{what}: {protection}"
    );
    // With it: the entries, the key matching its certificate.
    let (out, json) = inspect_json(file, Some(password));
    assert_code(&out, 0, &format!("{what}: inspect with its password"));
    let entries = json["pkcs12_entries"].as_array().expect("entries");
    assert!(
        entries
            .iter()
            .any(|e| e["key_matches_certificate"] == true
                && e["certificate"]["subject_cn"] == "web01"),
        "{what}: {json}"
    );
    let protected = protection["integrity_protected"] == true
        || protection["parts"]
            .as_array()
            .is_some_and(|parts| parts.iter().any(|p| p["encrypted"] == true));
    if !password.is_empty() && protected {
        let (out, _) = inspect_json(file, Some("not the password"));
        assert_code(&out, 4, &format!("{what}: a wrong password"));
    }
}

#[test]
// A variant this openssl cannot write is named in the test log.
#[allow(clippy::print_stderr)]
fn pkcs12_files_from_openssl_with_each_cipher_and_mac_read_with_and_without_the_password() {
    let pki = ForeignPki::new();
    let cases: &[(&str, &[&str], bool)] = &[
        ("default.p12", &[], false),
        (
            "aes128-sha1.p12",
            &[
                "-keypbe",
                "AES-128-CBC",
                "-certpbe",
                "AES-128-CBC",
                "-macalg",
                "sha1",
            ],
            false,
        ),
        (
            "aes192-sha384.p12",
            &[
                "-keypbe",
                "AES-192-CBC",
                "-certpbe",
                "AES-192-CBC",
                "-macalg",
                "sha384",
            ],
            false,
        ),
        (
            "aes256-sha512.p12",
            &[
                "-keypbe",
                "AES-256-CBC",
                "-certpbe",
                "AES-256-CBC",
                "-macalg",
                "sha512",
            ],
            false,
        ),
        (
            "pbes2-3des.p12",
            &["-keypbe", "DES-EDE3-CBC", "-certpbe", "DES-EDE3-CBC"],
            false,
        ),
        (
            "3des-sha1.p12",
            &[
                "-keypbe",
                "PBE-SHA1-3DES",
                "-certpbe",
                "PBE-SHA1-3DES",
                "-macalg",
                "sha1",
            ],
            true,
        ),
        (
            "3des-many-iterations.p12",
            &[
                "-keypbe",
                "PBE-SHA1-3DES",
                "-certpbe",
                "PBE-SHA1-3DES",
                "-macalg",
                "sha1",
                "-iter",
                "700000",
            ],
            false,
        ),
        ("legacy.p12", &["-legacy"], true),
        (
            "rc2-128.p12",
            &[
                "-legacy",
                "-keypbe",
                "PBE-SHA1-RC2-128",
                "-certpbe",
                "PBE-SHA1-RC2-128",
            ],
            true,
        ),
        (
            "2des.p12",
            &[
                "-legacy",
                "-keypbe",
                "PBE-SHA1-2DES",
                "-certpbe",
                "PBE-SHA1-2DES",
            ],
            true,
        ),
        ("aes-nomac.p12", &["-nomac"], false),
        (
            "clear.p12",
            &["-keypbe", "NONE", "-certpbe", "NONE", "-nomac"],
            true,
        ),
    ];
    let mut read = 0;
    for (name, options, windows_2016) in cases {
        let Some(file) = openssl_pfx(&pki, name, PFX_PASSWORD, options) else {
            eprintln!("{name}: this openssl cannot write it (no legacy provider); skipped");
            continue;
        };
        assert_pfx_reads(&file, PFX_PASSWORD, *windows_2016, name);
        read += 1;
    }
    assert!(read >= 9, "only {read} PKCS#12 variants were made");
    // A file with nothing encrypted and no MAC shows its contents without any password.
    let (out, json) = inspect_json(&pki.path("clear.p12"), None);
    assert_code(&out, 0, "clear.p12 without a password");
    assert!(json["pkcs12_entries"].is_array(), "{json}");
}

#[test]
fn an_empty_pfx_password_is_a_real_password_from_a_file_and_from_the_environment() {
    let pki = ForeignPki::new();
    for (name, options) in [
        ("empty.p12", &[][..]),
        ("empty-legacy.p12", &["-legacy"][..]),
    ] {
        let Some(file) = openssl_pfx(&pki, name, "", options) else {
            continue;
        };
        assert_pfx_reads(&file, "", name == "empty-legacy.p12", name);
        // An empty first line of a password file is the empty password here.
        let password_file = pki.write("empty-password.txt", "\n");
        let out = bare_qvca()
            .arg("--pfx-password-file")
            .arg(&password_file)
            .args(["--json", "inspect"])
            .arg(&file)
            .output()
            .expect("run");
        assert_code(&out, 0, &format!("{name} with an empty password file"));
        let json: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert!(json["pkcs12_entries"].is_array(), "{json}");
    }
}

#[test]
fn without_a_password_inspect_gives_the_server_2016_verdict_of_a_modern_and_a_legacy_pfx() {
    let ca = p256_ca(&["QVS01"]);
    for (legacy, verdict) in [(false, "CANNOT import it"), (true, "can import it")] {
        let file = ca.path().join(format!("qvs01-{legacy}.pfx"));
        let mut args = vec!["export", "pfx", "QVS01", "--out", path_str(&file)];
        if legacy {
            args.push("--legacy");
        }
        let out = run(&ca, &args);
        assert_code(&out, 0, "export pfx");
        let out = ca.qvca().arg("inspect").arg(&file).output().expect("run");
        assert_code(&out, 0, "inspect without a password");
        let text = stdout(&out);
        assert!(
            text.contains(&format!("Windows Server 2016 and older: {verdict}")),
            "{text}"
        );
        assert!(text.contains("the contents need the password"), "{text}");
        if !legacy {
            assert!(text.contains("Windows Server 2019"), "{text}");
        }
    }
}

#[test]
fn keytool_stores_with_and_without_a_store_password_read() {
    let pki = ForeignPki::new();
    let keytool = |args: &[&str]| {
        let (ok, text) = tool("keytool", args);
        assert!(ok, "keytool {args:?} failed:\n{text}");
    };
    keytool(&[
        "-genkeypair",
        "-alias",
        "web01",
        "-keyalg",
        "EC",
        "-groupname",
        "secp256r1",
        "-dname",
        "CN=web01",
        "-validity",
        "30",
        "-storetype",
        "PKCS12",
        "-keystore",
        pki.p("keys.p12"),
        "-storepass",
        PFX_PASSWORD,
        "-keypass",
        PFX_PASSWORD,
    ]);
    keytool(&[
        "-importcert",
        "-noprompt",
        "-alias",
        "root",
        "-file",
        pki.p("root.pem"),
        "-storetype",
        "PKCS12",
        "-keystore",
        pki.p("trust.p12"),
        "-storepass",
        PFX_PASSWORD,
    ]);
    // A trust store without protection, as Java writes for "no password".
    keytool(&[
        "-J-Dkeystore.pkcs12.certProtectionAlgorithm=NONE",
        "-J-Dkeystore.pkcs12.macAlgorithm=NONE",
        "-importcert",
        "-noprompt",
        "-alias",
        "root",
        "-file",
        pki.p("root.pem"),
        "-storetype",
        "PKCS12",
        "-keystore",
        pki.p("open.p12"),
        "-storepass",
        PFX_PASSWORD,
    ]);
    let (out, json) = inspect_json(&pki.path("keys.p12"), Some(PFX_PASSWORD));
    assert_code(&out, 0, "keytool key store");
    assert!(
        json["pkcs12_entries"]
            .to_string()
            .contains("\"subject_cn\":\"web01\""),
        "{json}"
    );
    let (out, json) = inspect_json(&pki.path("trust.p12"), Some(PFX_PASSWORD));
    assert_code(&out, 0, "keytool trust store");
    assert!(
        json["pkcs12_entries"].to_string().contains("Foreign Root"),
        "{json}"
    );
    for file in ["keys.p12", "trust.p12", "open.p12"] {
        let (out, json) = inspect_json(&pki.path(file), None);
        assert_code(&out, 0, &format!("{file} without a password"));
        assert!(json["pkcs12_protection"].is_object(), "{json}");
    }
    // The unprotected store shows its root without any password.
    let (_, json) = inspect_json(&pki.path("open.p12"), None);
    assert!(json.to_string().contains("Foreign Root"), "{json}");
    assert_eq!(json["pkcs12_protection"]["integrity_protected"], false);
}

#[test]
fn pk12util_exports_from_an_nss_database_read() {
    let pki = ForeignPki::new();
    let db = format!("sql:{}", pki.p("nssdb").trim_end_matches('/'));
    std::fs::create_dir(pki.path("nssdb")).expect("mkdir");
    let pass = pki.write("pass.txt", format!("{PFX_PASSWORD}\n"));
    let run_ok = |program: &str, args: &[&str]| {
        let (ok, text) = tool(program, args);
        assert!(ok, "{program} {args:?} failed:\n{text}");
    };
    run_ok("certutil", &["-N", "-d", &db, "--empty-password"]);
    let source = openssl_pfx(&pki, "for-nss.p12", PFX_PASSWORD, &[]).expect("pfx");
    run_ok(
        "pk12util",
        &["-i", path_str(&source), "-d", &db, "-w", path_str(&pass)],
    );
    run_ok(
        "pk12util",
        &[
            "-o",
            pki.p("nss.p12"),
            "-n",
            "web01",
            "-d",
            &db,
            "-w",
            path_str(&pass),
        ],
    );
    let file = pki.path("nss.p12");
    let (out, json) = inspect_json(&file, Some(PFX_PASSWORD));
    assert_code(&out, 0, "pk12util export with its password");
    assert!(
        json["pkcs12_entries"].to_string().contains("web01"),
        "{json}"
    );
    let (out, _) = inspect_json(&file, None);
    assert_code(&out, 0, "pk12util export without a password");
}

/// Rewrites a PKCS#12 file's MAC as PBMAC1 (RFC 9579: PBKDF2-HMAC-SHA256, HMAC-SHA256), with
/// Python's own PBKDF2 and HMAC, and checks that Python `cryptography` (OpenSSL 3.4+ inside)
/// opens the result: an independent judge of the file qvca must verify.
pub(crate) const PBMAC1_SCRIPT: &str = r#"
import hashlib, hmac, os, sys
src, dst, password, tamper = sys.argv[1], sys.argv[2], sys.argv[3].encode(), sys.argv[4] == "1"

def tlv(data, pos):
    tag = data[pos]; n = data[pos + 1]; pos += 2
    if n & 0x80:
        k = n & 0x7F; n = int.from_bytes(data[pos:pos + k], "big"); pos += k
    return tag, pos, pos + n

def enc(tag, body):
    n = len(body)
    if n < 0x80: head = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big"); head = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + head + body

seq = lambda *p: enc(0x30, b"".join(p))
octets = lambda b: enc(0x04, b)
integer = lambda i: enc(0x02, i.to_bytes((i.bit_length() + 8) // 8, "big"))
oid = lambda der: enc(0x06, der)
NULL = b"\x05\x00"
PBMAC1 = oid(bytes.fromhex("2a864886f70d01050e"))
PBKDF2 = oid(bytes.fromhex("2a864886f70d01050c"))
HMAC_SHA256 = seq(oid(bytes.fromhex("2a864886f70d0209")), NULL)

data = open(src, "rb").read()
_, body, _ = tlv(data, 0)
_, v_start, v_end = tlv(data, body)             # version
_, a_body, a_end = tlv(data, v_end)              # authSafe ContentInfo
version, auth_safe = data[body:v_end], data[v_end:a_end]
_, o_body, o_end = tlv(data, a_body)             # contentType
_, e_body, e_end = tlv(data, o_end)              # [0]
_, s_body, s_end = tlv(data, e_body)             # OCTET STRING
content = data[s_body:s_end]
salt, iterations = os.urandom(16), 2048
key = hashlib.pbkdf2_hmac("sha256", password, salt, iterations, 32)
mac = hmac.new(key, content, hashlib.sha256).digest()
if tamper:
    mac = bytes([mac[0] ^ 1]) + mac[1:]
params = seq(seq(PBKDF2, seq(octets(salt), integer(iterations), integer(32), HMAC_SHA256)), HMAC_SHA256)
mac_data = seq(seq(seq(PBMAC1, params), octets(mac)), octets(b"NOT USED"), integer(1))
open(dst, "wb").write(seq(version, auth_safe, mac_data))
if not tamper:
    from cryptography.hazmat.primitives.serialization import pkcs12
    pkcs12.load_pkcs12(open(dst, "rb").read(), password)
"#;

#[test]
fn a_pbmac1_pkcs12_is_verified_and_a_wrong_password_or_altered_mac_is_refused() {
    let pki = ForeignPki::new();
    let source = openssl_pfx(&pki, "source.p12", PFX_PASSWORD, &[]).expect("pfx");
    let script = pki.write("pbmac1.py", PBMAC1_SCRIPT);
    for (name, tamper) in [("pbmac1.p12", "0"), ("pbmac1-altered.p12", "1")] {
        let (ok, text) = tool(
            "python3",
            &[
                path_str(&script),
                path_str(&source),
                pki.p(name),
                PFX_PASSWORD,
                tamper,
            ],
        );
        assert!(
            ok,
            "the PBMAC1 file could not be made or cryptography refused it:\n{text}"
        );
    }
    let file = pki.path("pbmac1.p12");
    let (out, json) = inspect_json(&file, None);
    assert_code(&out, 0, "PBMAC1 without a password");
    assert_eq!(
        json["pkcs12_protection"]["mac"],
        "PBMAC1 (PBKDF2-HMAC-SHA256, HMAC-SHA256)"
    );
    assert_eq!(
        json["pkcs12_protection"]["legacy_windows_compatible"],
        false
    );
    assert_pfx_reads(&file, PFX_PASSWORD, false, "PBMAC1");
    let (out, _) = inspect_json(&pki.path("pbmac1-altered.p12"), Some(PFX_PASSWORD));
    assert_code(&out, 4, "an altered PBMAC1 MAC");
}

// ------------------------------------------------------------------------------ verify

/// Makes leaves signed by the ForeignPki intermediate with Python `cryptography`.
pub(crate) const LEAVES_SCRIPT: &str = r#"
import datetime, sys
from cryptography import x509
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
d = sys.argv[1]
inter = x509.load_pem_x509_certificate(open(d + "/inter.pem", "rb").read())
key = serialization.load_pem_private_key(open(d + "/inter.key", "rb").read(), None)
now = datetime.datetime.now(datetime.timezone.utc)
day = datetime.timedelta(days=1)
def make(name, start, end, eku):
    k = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "web01")]))
        .issuer_name(inter.subject).public_key(k.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=False)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("web01")]), critical=False)
        .sign(key, hashes.SHA256()))
    open(d + "/" + name + ".pem", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
make("expired", now - 30 * day, now - day, ExtendedKeyUsageOID.SERVER_AUTH)
make("future", now + day, now + 30 * day, ExtendedKeyUsageOID.SERVER_AUTH)
make("codesign", now - day, now + 30 * day, ExtendedKeyUsageOID.CODE_SIGNING)
"#;

#[test]
fn verify_with_root_and_chain_checks_a_foreign_path_and_says_why_one_fails() {
    let pki = ForeignPki::new();
    openssl_ok(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        pki.p("other-root.key"),
        "-out",
        pki.p("other-root.pem"),
        "-subj",
        "/CN=Other Root",
        "-days",
        "30",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
    ]);
    let verify = |args: &[&str]| {
        bare_qvca()
            .arg("verify")
            .args(args)
            .output()
            .expect("run qvca")
    };
    let out = verify(&[
        pki.p("leaf.pem"),
        "--root",
        pki.p("root.pem"),
        "--chain",
        pki.p("inter.pem"),
        "--name",
        "web01",
    ]);
    assert_code(&out, 0, "a complete foreign path");
    // A full-chain file needs no --chain.
    let full = pki.write(
        "fullchain.pem",
        format!("{}{}", pki.read("leaf.pem"), pki.read("inter.pem")),
    );
    let out = verify(&[path_str(&full), "--root", pki.p("root.pem")]);
    assert_code(&out, 0, "a full-chain file");

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![pki.p("leaf.pem"), "--root", pki.p("root.pem")],
            "unknown issuer: it was not issued by the root, and no intermediate CA certificate \
             was given",
        ),
        (
            vec![
                pki.p("leaf.pem"),
                "--root",
                pki.p("other-root.pem"),
                "--chain",
                pki.p("inter.pem"),
            ],
            "unknown issuer: no path leads from it through the --chain certificates to the root",
        ),
        (
            vec![
                pki.p("leaf.pem"),
                "--root",
                pki.p("root.pem"),
                "--chain",
                pki.p("inter.pem"),
                "--name",
                "web02",
            ],
            "not valid for the name web02",
        ),
    ];
    for (args, reason) in cases {
        let out = verify(&args);
        assert_code(&out, 5, &format!("verify {args:?}"));
        assert!(
            stdout(&out).contains(reason),
            "{reason}: {}",
            describe(&out)
        );
    }

    // Leaves that Python `cryptography` signs with the intermediate: expired, not yet valid,
    // and one whose EKU allows only code signing.
    let script = pki.write("leaves.py", LEAVES_SCRIPT);
    let (ok, text) = tool("python3", &[path_str(&script), pki.p("")]);
    assert!(ok, "the leaves could not be made:\n{text}");
    for (file, reason) in [
        (
            "expired.pem",
            "expired: a certificate on the path was valid only until",
        ),
        (
            "future.pem",
            "not yet valid: a certificate on the path is valid only from",
        ),
        (
            "codesign.pem",
            "missing EKU: its extended key usage does not allow clientAuth",
        ),
    ] {
        let out = verify(&[
            pki.p(file),
            "--root",
            pki.p("root.pem"),
            "--chain",
            pki.p("inter.pem"),
        ]);
        assert_code(&out, 5, file);
        assert!(
            stdout(&out).contains(reason),
            "{reason}: {}",
            describe(&out)
        );
    }

    // An impostor intermediate (same name, other key): a bad signature on the path.
    pki.issue("impostor", "/CN=Foreign Intermediate", "leaf", "ca");
    let out = verify(&[
        pki.p("leaf.pem"),
        "--root",
        pki.p("root.pem"),
        "--chain",
        pki.p("impostor.pem"),
    ]);
    assert_code(&out, 5, "an impostor intermediate");
    assert!(
        stdout(&out).contains("bad signature") || stdout(&out).contains("unknown issuer"),
        "{}",
        describe(&out)
    );
}
