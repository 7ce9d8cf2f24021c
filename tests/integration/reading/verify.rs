//! `verify --root --chain` on foreign paths, and why one fails.

use super::ForeignPki;
use crate::support::*;

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
