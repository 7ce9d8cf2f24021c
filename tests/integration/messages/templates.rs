//! docs/bad-input.md, "Templates" and "Issue 14: CRL distribution point and AIA URLs in the
//! profiles".

use super::pin;
use crate::support::TestCa;

const SERVER_TEMPLATE: &str = "kind = \"server\"
key_type = \"p256\"
validity_days = 30
key_usage = [\"digitalSignature\"]
extended_key_usage = [\"serverAuth\", \"clientAuth\"]
";

/// A fast CA: P-256, no CA password.
fn lab_ca(extra_init: &[&str]) -> TestCa {
    let ca = TestCa::new();
    ca.qvca()
        .args(["init", "--no-password", "--key-type", "p256"])
        .args(extra_init)
        .assert()
        .success();
    ca
}

/// `issue server QVS01 --template FILE` with `text` in FILE, pinned as `case`.
fn issue_with(ca: &TestCa, case: &str, text: &str) {
    let template = ca.path().join("bad-server.toml");
    std::fs::write(&template, text).expect("template");
    pin!(
        case,
        ca.qvca()
            .args(["issue", "server", "QVS01", "--template"])
            .arg(&template)
    );
}

#[test]
fn templates() {
    let ca = lab_ca(&[]);
    pin!(
        "missing_template",
        ca.qvca().args([
            "issue",
            "server",
            "QVS01",
            "--template",
            "no-such-template.toml"
        ])
    );
    let fresh = TestCa::new();
    pin!(
        "missing_root_template",
        fresh
            .qvca()
            .args(["init", "--no-password", "--template", "no-such-root.toml"])
    );
    issue_with(
        &ca,
        "unknown_field",
        &format!("{SERVER_TEMPLATE}colour = \"blue\"\n"),
    );
    issue_with(
        &ca,
        "unknown_key_type",
        &SERVER_TEMPLATE.replace("\"p256\"", "\"dsa1024\""),
    );
    issue_with(
        &ca,
        "wrong_value_type",
        &SERVER_TEMPLATE.replace("validity_days = 30", "validity_days = \"thirty\""),
    );
    issue_with(
        &ca,
        "unknown_key_usage",
        &SERVER_TEMPLATE.replace("[\"digitalSignature\"]", "[\"keyEncypherment\"]"),
    );
    issue_with(
        &ca,
        "wrong_kind",
        &SERVER_TEMPLATE.replace("kind = \"server\"", "kind = \"client\""),
    );
}

#[test]
fn a_leaf_that_would_outlive_the_root() {
    let ca = lab_ca(&["--days", "100"]);
    pin!(
        "leaf_outlives_root_days",
        ca.qvca().args([
            "issue",
            "server",
            "QVS01",
            "--key-type",
            "p256",
            "--days",
            "200"
        ])
    );
    pin!(
        "leaf_outlives_root_profile_default",
        ca.qvca()
            .args(["issue", "server", "QVS01", "--key-type", "p256"])
    );
}

#[test]
fn profile_urls() {
    let ca = lab_ca(&[]);
    let with_urls = |kind: &str, lines: &str| {
        let builtin = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("templates/{kind}.toml")),
        )
        .expect("template");
        builtin.replacen("\n[subject]\n", &format!("\n{lines}\n[subject]\n"), 1)
    };
    for (case, field, url) in [
        (
            "url_not_http",
            "crl_distribution_points",
            "ftp://pki.example.local/qvca.crl",
        ),
        (
            "url_bare_host",
            "crl_distribution_points",
            "pki.example.local/qvca.crl",
        ),
        (
            "url_space",
            "crl_distribution_points",
            "http://pki.example.local/my crl.crl",
        ),
        (
            "url_control",
            "crl_distribution_points",
            "http://pki.example.local/\\u0007.crl",
        ),
        (
            "url_non_ascii",
            "crl_distribution_points",
            "http://pki.example.local/qvcä.crl",
        ),
        (
            "url_no_host",
            "authority_info_access_ca_issuers",
            "http:///root.cer",
        ),
        (
            "url_too_long",
            "authority_info_access_ca_issuers",
            &format!("http://pki.example.local/{}.cer", "q".repeat(1024)),
        ),
    ] {
        issue_with(
            &ca,
            case,
            &with_urls("server", &format!("{field} = [\"{url}\"]\n")),
        );
    }
    let fresh = TestCa::new();
    for field in [
        "crl_distribution_points",
        "authority_info_access_ca_issuers",
    ] {
        let template = fresh.path().join("root-urls.toml");
        std::fs::write(
            &template,
            with_urls(
                "root",
                &format!("{field} = [\"http://pki.example.local/x\"]\n"),
            ),
        )
        .expect("template");
        pin!(
            &format!("root_template_{field}"),
            fresh
                .qvca()
                .args(["init", "--no-password", "--template"])
                .arg(&template)
        );
    }
}
