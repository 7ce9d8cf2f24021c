//! Machine names (seed 001: "reference the QlikView Server by its machine name, and not by the
//! IP address or fully qualified domain name"): what is refused, what is warned about, and that
//! a refused name, alone or in a bulk list, leaves the CA exactly as it was.

use crate::support::{TestCa, lab_ca, openssl_ok, write_scratch};
use predicates::prelude::*;

/// Runs `issue server <names>` and asserts it is refused with exit 1, stderr containing every
/// keyword, and the CA directory unchanged.
fn assert_refused(names: &[&str], keywords: &[&str]) {
    let ca = lab_ca();
    let before = ca.snapshot();

    let assert = ca
        .qvca()
        .args(["issue", "server", "--key-type", "p256", "--"])
        .args(names)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    for keyword in keywords {
        assert!(stderr.contains(keyword), "{keyword:?} in:\n{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        ca.snapshot(),
        before,
        "a refused name must not change the CA"
    );
}

/// The Server certificates of the CA (current ones), by name.
fn servers(ca: &TestCa) -> Vec<String> {
    ca.json(&["list"])["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .filter(|r| r["kind"] == "server")
        .map(|r| r["issued_to"].as_str().expect("name").to_owned())
        .collect()
}

// ------------------------------------------------------------------- IP addresses and FQDNs

#[test]
fn issuing_for_an_ipv4_address_is_refused() {
    assert_refused(&["10.1.2.3"], &["10.1.2.3", "IP address", "machine name"]);
}

#[test]
fn issuing_for_the_ipv6_loopback_address_is_refused() {
    assert_refused(&["::1"], &["IP address"]);
}

#[test]
fn issuing_for_an_ipv6_link_local_address_is_refused() {
    assert_refused(&["fe80::1"], &["IP address"]);
}

#[test]
fn allow_fqdn_does_not_let_an_ip_address_through() {
    let ca = lab_ca();
    let before = ca.snapshot();
    ca.qvca()
        .args([
            "issue",
            "server",
            "10.1.2.3",
            "--allow-fqdn",
            "--key-type",
            "p256",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("IP address"));
    assert_eq!(ca.snapshot(), before);
}

#[test]
fn issuing_for_a_fully_qualified_domain_name_is_refused_with_a_pointer_to_allow_fqdn() {
    assert_refused(
        &["qvs01.corp.local"],
        &["qvs01.corp.local", "--allow-fqdn", "qvs01"],
    );
}

#[test]
fn allow_fqdn_issues_a_certificate_for_the_fully_qualified_name() {
    let ca = lab_ca();
    ca.qvca()
        .args([
            "issue",
            "server",
            "qvs01.corp.local",
            "--allow-fqdn",
            "--key-type",
            "p256",
        ])
        .assert()
        .success();

    let shown = ca.json(&["show", "qvs01.corp.local"]);
    assert_eq!(shown["details"]["dns_names"][0], "qvs01.corp.local");
    let cert = shown["certificate_file"]
        .as_str()
        .expect("certificate file");
    let text = openssl_ok(&["x509", "-in", cert, "-noout", "-text"]);
    assert!(text.contains("DNS:qvs01.corp.local"), "{text}");
    assert!(text.contains("Subject: CN = qvs01.corp.local"), "{text}");
}

// ----------------------------------------------------------------- characters and lengths

#[test]
fn an_empty_machine_name_is_refused() {
    assert_refused(&[""], &["empty"]);
}

#[test]
fn an_empty_machine_name_among_good_ones_is_refused_and_nothing_is_issued() {
    assert_refused(&["QVS01", ""], &["empty"]);
}

#[test]
fn a_machine_name_argument_containing_a_newline_is_refused() {
    assert_refused(&["QVS01\nQVS02"], &["QVS01"]);
}

#[test]
fn a_64_character_machine_name_is_refused() {
    let name = "Q".repeat(64);
    assert_refused(&[&name], &["64 characters", "63"]);
}

#[test]
fn a_63_character_machine_name_is_the_longest_accepted() {
    let ca = lab_ca();
    let name = "Q".repeat(63);
    ca.qvca()
        .args(["issue", "server", &name, "--key-type", "p256"])
        .assert()
        .success();
    assert_eq!(servers(&ca), [name]);
}

#[test]
fn a_non_ascii_machine_name_is_refused() {
    assert_refused(&["ünicode"], &["ünicode", "non-ASCII"]);
}

#[test]
fn an_underscore_in_a_machine_name_is_refused() {
    assert_refused(&["qv_s01"], &["qv_s01", "'_'"]);
}

#[test]
fn a_space_in_a_machine_name_is_refused() {
    assert_refused(&["qvs 01"], &["qvs 01"]);
}

#[test]
fn a_leading_hyphen_is_refused() {
    assert_refused(&["-qvs01"], &["-qvs01", "hyphen"]);
}

#[test]
fn a_trailing_hyphen_is_refused() {
    assert_refused(&["qvs01-"], &["qvs01-", "hyphen"]);
}

#[test]
fn every_bad_name_on_the_command_line_is_reported_and_nothing_is_issued() {
    assert_refused(
        &["10.1.2.3", "GOOD01", "qvs02.corp.local", "bad_name"],
        &[
            "10.1.2.3",
            "qvs02.corp.local",
            "bad_name",
            "nothing was issued",
        ],
    );
}

#[test]
fn setup_refuses_an_ip_address_before_creating_anything() {
    let ca = TestCa::new();
    ca.qvca()
        .args(["setup", "10.1.2.3"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("IP address"));
    assert!(!ca.dir().exists(), "no CA directory was created");
}

// -------------------------------------------------------------------------- NetBIOS limit

#[test]
fn a_16_character_machine_name_is_issued_with_a_netbios_warning() {
    let ca = lab_ca();
    let name = "QLIKVIEW-SERVER1";
    assert_eq!(name.len(), 16);
    ca.qvca()
        .args(["issue", "server", name, "--key-type", "p256"])
        .assert()
        .success()
        .stderr(predicate::str::contains("NetBIOS").and(predicate::str::contains(name)));
    assert_eq!(servers(&ca), [name]);
}

#[test]
fn a_15_character_machine_name_gets_no_warning() {
    let ca = lab_ca();
    let name = "QLIKVIEW-SERVER";
    assert_eq!(name.len(), 15);
    ca.qvca()
        .args(["issue", "server", name, "--key-type", "p256"])
        .assert()
        .success()
        .stderr(predicate::str::contains("NetBIOS").not());
}

// ------------------------------------------------------------------------ --from-file lists

#[test]
fn a_machine_list_with_bad_lines_issues_nothing_and_reports_every_bad_line() {
    let ca = lab_ca();
    let hosts = write_scratch(
        &ca,
        "hosts.txt",
        "GOOD01\n\n# the web tier\n10.0.0.1\nGOOD02\nqvs.corp.local\nbad_one\nGOOD03\n",
    );
    let before = ca.snapshot();

    let assert = ca
        .qvca()
        .args(["issue", "server", "--key-type", "p256", "--from-file"])
        .arg(&hosts)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    // Each bad line is reported on a line of its own that names its number and its value.
    for (number, value) in [(4, "10.0.0.1"), (6, "qvs.corp.local"), (7, "bad_one")] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(value) && l.contains(&format!(" {number}"))),
            "line {number} ({value}) reported in:\n{stderr}"
        );
    }
    assert!(stderr.contains("hosts.txt"), "the file is named:\n{stderr}");
    for good in ["GOOD01", "GOOD02", "GOOD03"] {
        assert!(!stderr.contains(good), "{good} is not a problem:\n{stderr}");
    }
    assert_eq!(
        ca.snapshot(),
        before,
        "nothing may be issued when any line is bad"
    );
}

#[test]
fn bad_lines_of_a_machine_list_are_reported_as_line_numbers_of_the_file() {
    let ca = lab_ca();
    let hosts = write_scratch(&ca, "hosts.txt", "GOOD01\nGOOD02\n10.0.0.1\n");
    ca.qvca()
        .args(["issue", "server", "--key-type", "p256", "--from-file"])
        .arg(&hosts)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("line 3").or(predicate::str::contains("hosts.txt:3")));
}

#[test]
fn blank_lines_comments_and_surrounding_spaces_in_a_machine_list_are_ignored() {
    let ca = lab_ca();
    let hosts = write_scratch(
        &ca,
        "hosts.txt",
        "# QlikView nodes\n\nQVS01\n   \n  QVS02  \n# QVS99 is retired\n\t\nQVS03\n",
    );

    let report = ca.json(&[
        "issue",
        "server",
        "--key-type",
        "p256",
        "--from-file",
        hosts.to_str().expect("UTF-8 path"),
    ]);
    assert_eq!(report["issued"], 3, "{report}");
    assert_eq!(servers(&ca), ["QVS01", "QVS02", "QVS03"]);
}

#[test]
fn a_name_repeated_in_another_case_is_issued_once() {
    let ca = lab_ca();
    let hosts = write_scratch(&ca, "hosts.txt", "QVS01\nqvs01\nQvS01\n");
    ca.qvca()
        .args(["issue", "server", "--key-type", "p256", "--from-file"])
        .arg(&hosts)
        .assert()
        .success();
    assert_eq!(servers(&ca), ["QVS01"]);
}

#[test]
fn a_machine_list_with_only_comments_is_a_usage_error() {
    let ca = lab_ca();
    let hosts = write_scratch(&ca, "hosts.txt", "# nothing yet\n\n");
    let before = ca.snapshot();
    ca.qvca()
        .args(["issue", "server", "--from-file"])
        .arg(&hosts)
        .assert()
        .code(2);
    assert_eq!(ca.snapshot(), before);
}

#[test]
fn a_missing_machine_list_is_an_error_naming_it() {
    let ca = lab_ca();
    ca.qvca()
        .args(["issue", "server", "--from-file", "no-such-hosts.txt"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no-such-hosts.txt"));
}

// ------------------------------------------------------------------------- case-insensitive

#[test]
fn an_existing_machine_is_found_whatever_the_case() {
    let ca = lab_ca();
    let first = ca.json(&["issue", "server", "QVS01", "--key-type", "p256"]);
    let serial = first["results"][0]["serial"].clone();

    let out = ca
        .qvca()
        .args(["--json", "issue", "server", "qvs01", "--key-type", "p256"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3), "kept");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["results"][0]["outcome"], "kept");
    assert_eq!(report["results"][0]["serial"], serial);
    assert_eq!(servers(&ca), ["QVS01"]);
}
