//! docs/bad-input.md, "Machine names and lists" and "Names from every source (issue 11, item 2)".

use super::{pin, pin_text, transcript};
use crate::support::TestCa;

/// A fast CA: P-256, no CA password.
fn lab_ca() -> TestCa {
    let ca = TestCa::new();
    ca.qvca()
        .args(["init", "--no-password", "--key-type", "p256"])
        .assert()
        .success();
    ca
}

/// `issue server --key-type p256 -- NAMES` on `ca`, pinned as `name`.
fn issue(ca: &TestCa, name: &str, names: &[&str]) {
    pin!(
        name,
        ca.qvca()
            .args(["issue", "server", "--key-type", "p256", "--"])
            .args(names)
    );
}

#[test]
fn machine_names_and_lists() {
    let ca = lab_ca();
    issue(&ca, "ipv4", &["10.1.2.3"]);
    for (case, name) in [
        ("ipv6_loopback", "::1"),
        ("ipv6_link_local", "fe80::1"),
        ("ipv6_bracketed", "[2001:db8::1]"),
        ("ipv6_zone_id", "fe80::1%eth0"),
        ("ipv4_short", "10.1.2"),
        ("ipv4_hex", "0x0a.1.2.3"),
    ] {
        issue(&ca, case, &[name]);
    }
    pin!(
        "ip_with_allow_fqdn",
        ca.qvca().args([
            "issue",
            "server",
            "--allow-fqdn",
            "--key-type",
            "p256",
            "10.1.2.3"
        ])
    );
    issue(&ca, "fqdn", &["qvs01.corp.local"]);
    issue(&ca, "empty", &[""]);
    issue(&ca, "empty_among_good", &["GOOD01", "", "GOOD02"]);
    issue(&ca, "line_break", &["QVS01\nQVS02"]);
    issue(&ca, "64_characters", &[&"q".repeat(64)]);
    issue(&ca, "non_ascii", &["ünicode"]);
    issue(&ca, "underscore", &["qv_s01"]);
    issue(&ca, "space", &["qvs 01"]);
    issue(&ca, "leading_hyphen", &["-qvs01"]);
    issue(&ca, "trailing_hyphen", &["qvs01-"]);
    issue(
        &ca,
        "several_bad_names",
        &["10.1.2.3", "GOOD01", "qvs02.corp.local", "bad_name"],
    );

    let hosts = ca.path().join("hosts.txt");
    std::fs::write(
        &hosts,
        "GOOD01\n# a comment\n10.0.0.1\nqvs02.corp.local\n\nbad_name\nGOOD02\n",
    )
    .expect("hosts");
    pin!(
        "list_with_bad_lines",
        ca.qvca()
            .args(["issue", "server", "--key-type", "p256", "--from-file"])
            .arg(&hosts)
    );
    std::fs::write(&hosts, "# nothing yet\n\n").expect("hosts");
    pin!(
        "list_with_only_comments",
        ca.qvca()
            .args(["issue", "server", "--from-file"])
            .arg(&hosts)
    );
    pin!(
        "missing_list",
        ca.qvca()
            .args(["issue", "server", "--from-file", "no-such-hosts.txt"])
    );
    // Last: it changes the CA.
    issue(&ca, "16_characters_netbios_warning", &["QVSERVER01234567"]);

    let empty = TestCa::new();
    pin!("setup_ip", empty.qvca().args(["setup", "10.1.2.3"]));
}

#[test]
fn names_from_every_source() {
    let ca = lab_ca();
    for (case, name) in [
        ("inet_aton_decimal", "167837954"),
        ("inet_aton_hex", "0x0a010102"),
        ("inet_aton_octal", "0777"),
        ("all_digits", "1234"),
    ] {
        issue(&ca, case, &[name]);
    }
    for (case, name) in [
        ("common_name_escape", "QV\u{1b}[31mClient"),
        ("common_name_bidi", "QV\u{202e}Client"),
        ("common_name_slash", "QV/Client"),
        ("common_name_backslash", "QV\\Client"),
    ] {
        pin!(
            case,
            ca.qvca()
                .args(["issue", "client", "--key-type", "p256", name])
        );
    }
    pin!(
        "common_name_65_characters",
        ca.qvca()
            .args(["issue", "client", "--key-type", "p256", &"q".repeat(65)])
    );
    let fresh = TestCa::new();
    pin!(
        "cn_option_control",
        fresh.qvca().args([
            "init",
            "--no-password",
            "--key-type",
            "p256",
            "--cn",
            "Root\u{7}CA"
        ])
    );

    // Templates: a common name that is a path, a subject field with a bidi override.
    let template = |kind: &str, subject: &str| {
        let usage = if kind == "root" {
            "key_usage = [\"keyCertSign\", \"cRLSign\"]\n"
        } else {
            "key_usage = [\"digitalSignature\"]\nextended_key_usage = [\"clientAuth\"]\n"
        };
        let path = ca.path().join(format!("{kind}.toml"));
        std::fs::write(
            &path,
            format!(
                "kind = \"{kind}\"\nkey_type = \"p256\"\nvalidity_days = 365\n{usage}\n\
                 [subject]\n{subject}\n"
            ),
        )
        .expect("template");
        path
    };
    let root = template("root", "common_name = \"../../y\"");
    pin!(
        "template_common_name_path",
        fresh
            .qvca()
            .args(["init", "--no-password", "--template"])
            .arg(&root)
    );
    let abs = ca.path().join("x").join("ABS");
    let root = template(
        "root",
        &format!("common_name = \"{}\"", abs.to_string_lossy()),
    );
    pin!(
        "template_common_name_absolute_path",
        fresh
            .qvca()
            .args(["init", "--no-password", "--template"])
            .arg(&root)
    );
    let client = template(
        "client",
        "common_name = \"QVClient2\"\norganization = \"Acme\u{202e}Evil\"",
    );
    pin!(
        "template_organization_bidi",
        ca.qvca()
            .args(["issue", "client", "--template"])
            .arg(&client)
    );
    let client = template("client", "common_name = \"QVClient2\"");
    pin!(
        "template_common_name_against_name",
        ca.qvca()
            .args(["issue", "client", "Other", "--template"])
            .arg(&client)
    );

    pin!(
        "server_named_like_the_root",
        ca.qvca()
            .args(["issue", "server", "QlikViewCA", "--key-type", "p256"])
    );
    pin!(
        "client_named_like_the_root",
        ca.qvca()
            .args(["issue", "client", "qlikviewca", "--key-type", "p256"])
    );

    let hostile = "\u{1b}]0;pwned\u{7}\u{1b}[2J\rQVS02\u{202e}";
    pin!(
        "error_quoting_control_characters",
        ca.qvca()
            .args(["export", "license-service", "--machine", hostile])
    );

    // A list starting with a byte-order mark is accepted.
    let list = ca.path().join("bom.txt");
    std::fs::write(&list, "\u{feff}QVS01\r\nQVS02\r\n").expect("list");
    pin!(
        "list_with_byte_order_mark",
        ca.qvca()
            .args(["issue", "server", "--key-type", "p256", "--from-file"])
            .arg(&list)
    );
    // A name a Server and the Client share.
    ca.qvca()
        .args(["issue", "client", "QVS01", "--key-type", "p256"])
        .assert()
        .success();
    pin!(
        "revoke_shared_name",
        ca.qvca()
            .args(["-y", "revoke", "QVS01", "--reason", "keyCompromise"])
    );
}

/// Hostile-but-valid names are accepted (the scripts that get them are judged by trust_names.rs).
#[test]
fn hostile_but_valid_names_are_accepted() {
    let ca = TestCa::new();
    pin!(
        "hostile_but_valid_root_name",
        ca.qvca().args([
            "init",
            "--no-password",
            "--key-type",
            "p256",
            "--cn",
            "Acme's CA $(touch X) `id` %PATH% #> Ünïcødé ’"
        ])
    );
    pin!(
        "hostile_but_valid_client_name",
        ca.qvca().args([
            "issue",
            "client",
            "--key-type",
            "p256",
            "QV$(touch X)';calc;'"
        ])
    );
}

#[test]
fn license_claims_with_control_characters() {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let jti = "x\u{1b}]0;pwned\u{7}\u{1b}[2J\r\u{0}\u{9b}\u{202e}evil";
    let claims = serde_json::json!({ "jti": jti, "license\u{1b}[31m": "a\nClaims: forged" });
    let key = format!(
        "{}.{}.{}",
        b64(br#"{"alg":"RS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes()),
        b64(&[0u8; 256])
    );
    let ca = TestCa::new();
    let mut cmd = ca.qvca();
    cmd.args(["license", "inspect", &key]);
    // The key is long: the command line shows where it came from instead.
    let out = cmd.output().expect("run");
    pin_text!(
        "license_claims_control_characters",
        &transcript("qvca license inspect KEY-WITH-CONTROL-CHARACTERS", &out)
    );
    let out = ca
        .qvca()
        .args(["--json", "license", "inspect", &key])
        .output()
        .expect("run");
    pin_text!(
        "license_claims_control_characters_json",
        &transcript(
            "qvca --json license inspect KEY-WITH-CONTROL-CHARACTERS",
            &out
        )
    );
}
