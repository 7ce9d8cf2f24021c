//! Optional CRL distribution point and authority information access URLs in the Server and
//! Client profiles: absent by default, put into issued certificates as openssl reads them,
//! and a bad URL refused naming the field.

use super::support::{TestCa, assert_code, openssl_ok, p256_ca, path_str, run, stderr};

const CDP: &str = "http://pki.example.local/qvca.crl";
const CDP_LDAP: &str = "ldap://dc01.example.local/CN=QlikViewCA,CN=CDP";
const AIA: &str = "http://pki.example.local/QlikViewCA.cer";

/// The built-in template of `kind` with `lines` added before its `[subject]` table.
fn template(ca: &TestCa, kind: &str, lines: &str) -> String {
    let builtin = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("templates/{kind}.toml")),
    )
    .expect("template");
    let text = builtin.replacen("\n[subject]\n", &format!("\n{lines}\n[subject]\n"), 1);
    let path = ca.path().join(format!("{kind}-urls.toml"));
    std::fs::write(&path, text).expect("write template");
    path_str(&path).to_owned()
}

/// `openssl x509 -text` of the current certificate of NAME.
fn text_of(ca: &TestCa, name: &str) -> String {
    let pem = ca.path().join(format!("{name}.pem"));
    let out = run(
        ca,
        &["export", "cert", name, "--force", "--out", path_str(&pem)],
    );
    assert_code(&out, 0, "export cert");
    openssl_ok(&["x509", "-noout", "-text", "-in", path_str(&pem)])
}

#[test]
fn profile_urls_go_into_server_and_client_certificates_as_openssl_reads_them() {
    let ca = p256_ca(&[]);
    let lines = format!(
        "crl_distribution_points = [\"{CDP}\", \"{CDP_LDAP}\"]\n\
         authority_info_access_ca_issuers = [\"{AIA}\"]\n"
    );
    let server = template(&ca, "server", &lines);
    let out = run(
        &ca,
        &[
            "issue",
            "server",
            "QVS01",
            "--key-type",
            "p256",
            "--template",
            &server,
        ],
    );
    assert_code(&out, 0, "issue with URLs");
    let client = template(&ca, "client", &lines);
    let out = run(
        &ca,
        &[
            "issue",
            "client",
            "--force",
            "--key-type",
            "p256",
            "--template",
            &client,
        ],
    );
    assert_code(&out, 0, "issue client with URLs");
    for name in ["QVS01", "QVProxy"] {
        let text = text_of(&ca, name);
        assert!(text.contains("X509v3 CRL Distribution Points"), "{text}");
        assert!(text.contains(&format!("URI:{CDP}")), "{text}");
        assert!(text.contains(&format!("URI:{CDP_LDAP}")), "{text}");
        assert!(text.contains("Authority Information Access"), "{text}");
        assert!(text.contains(&format!("CA Issuers - URI:{AIA}")), "{text}");
    }
    // The CA's own CRL still covers them: verify (rustls-webpki) passes with a CRL present.
    assert_code(&run(&ca, &["crl"]), 0, "crl");
    assert_code(&run(&ca, &["verify"]), 0, "verify with a CRL");
}

#[test]
fn the_default_profiles_put_no_urls_into_certificates() {
    let ca = p256_ca(&["QVS01"]);
    for name in ["QVS01", "QVProxy", "QlikViewCA"] {
        let text = text_of(&ca, name);
        assert!(!text.contains("CRL Distribution Points"), "{name}: {text}");
        assert!(
            !text.contains("Authority Information Access"),
            "{name}: {text}"
        );
    }
}

#[test]
fn a_bad_url_in_a_template_is_refused_naming_the_field_and_nothing_is_issued() {
    let ca = p256_ca(&[]);
    let cases = [
        (
            "crl_distribution_points",
            "ftp://pki.example.local/qvca.crl",
            "not an http://",
        ),
        (
            "crl_distribution_points",
            "http://pki.example.local/my crl.crl",
            "' '",
        ),
        (
            "crl_distribution_points",
            "http://pki.example.local/\\u0007.crl",
            "'\\u{7}'",
        ),
        (
            "crl_distribution_points",
            "http://pki.example.local/qvcä.crl",
            "'ä'",
        ),
        (
            "authority_info_access_ca_issuers",
            "http:///root.cer",
            "no host",
        ),
        (
            "authority_info_access_ca_issuers",
            "pki.example.local/root.cer",
            "not an http://",
        ),
    ];
    for (field, url, problem) in cases {
        let server = template(&ca, "server", &format!("{field} = [\"{url}\"]\n"));
        let before = ca.snapshot();
        let out = run(
            &ca,
            &[
                "issue",
                "server",
                "QVS09",
                "--key-type",
                "p256",
                "--template",
                &server,
            ],
        );
        assert_code(&out, 1, url);
        let message = stderr(&out);
        assert!(
            message.contains(&format!("field `{field}`")),
            "{url}: {message}"
        );
        assert!(message.contains(problem), "{url}: {message}");
        assert_eq!(before, ca.snapshot(), "{url}: nothing is written");
    }
}

#[test]
fn the_root_template_refuses_urls_meant_for_the_leaves() {
    let ca = TestCa::new();
    let root = template(
        &ca,
        "root",
        &format!("crl_distribution_points = [\"{CDP}\"]\n"),
    );
    let out = ca
        .qvca()
        .args(["init", "--key-type", "p256", "--template", &root])
        .output()
        .expect("run");
    assert_code(&out, 1, "init with a CDP");
    let message = stderr(&out);
    assert!(
        message.contains("field `crl_distribution_points`")
            && message.contains("server and client"),
        "{message}"
    );
    assert!(!ca.dir().join("index.json").exists(), "no CA was created");
}
