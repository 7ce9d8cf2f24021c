//! The seed port tables and firewall rules, judged by sh, shellcheck, a stub iptables and nft.

use super::{bare, bare_ok};
use crate::support::{assert_code, path_str, tool};
use serde_json::Value;
use std::collections::BTreeSet;

/// Seed 001: service-to-service and certificate-installation ports.
const SEED_001_PORTS: [u16; 12] = [
    4747, 4749, 4720, 4750, 80, 443, 4780, 4799, 4730, 14720, 14730, 14750,
];

/// Seed 001: the ports a firewall opens for all QlikView services.
const QLIKVIEW_SERVICE_PORTS: [u16; 9] = [4747, 4749, 4720, 4750, 80, 443, 4780, 4799, 4730];

/// Seed 001: certificate installation, on the local server only.
const INSTALLATION_PORTS: [u16; 3] = [14720, 14730, 14750];

/// Seeds 000 and 002: the Qlik Sense site.
const SEED_002_PORTS: [u16; 10] = [4444, 4570, 4241, 4242, 4243, 4244, 4432, 4747, 5050, 5151];

/// The port numbers rows of the `ports` tables start with.
fn table_ports(text: &str) -> BTreeSet<u16> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|first| first.parse().ok())
        .collect()
}

#[test]
fn ports_lists_every_port_of_seeds_001_and_002() {
    let text = bare_ok(&["ports"]);
    let listed = table_ports(&text);
    for port in SEED_001_PORTS.iter().chain(&SEED_002_PORTS) {
        assert!(listed.contains(port), "{port} missing:\n{text}");
    }
    assert!(text.contains("localhost only"), "{text}");

    let report: Value = serde_json::from_str(&bare_ok(&["--json", "ports"])).expect("JSON");
    let ports = report["ports"].as_array().expect("ports");
    let numbers: BTreeSet<u64> = ports
        .iter()
        .map(|p| p["port"].as_u64().expect("port"))
        .collect();
    for port in SEED_001_PORTS.iter().chain(&SEED_002_PORTS) {
        assert!(
            numbers.contains(&u64::from(*port)),
            "{port} missing: {report}"
        );
    }
    for port in INSTALLATION_PORTS {
        let row = ports
            .iter()
            .find(|p| p["port"] == port)
            .expect("installation port");
        assert_eq!(row["table"], "certificate-installation", "{row}");
    }
    let password_port = ports.iter().find(|p| p["port"] == 4570).expect("4570");
    assert_eq!(password_port["localhost_only"], true);
}

#[test]
fn ports_role_qvs_limits_the_tables_and_the_rules_to_4747_and_4749() {
    let text = bare_ok(&["ports", "--role", "qvs"]);
    assert_eq!(table_ports(&text), BTreeSet::from([4747, 4749]), "{text}");
    let report: Value =
        serde_json::from_str(&bare_ok(&["--json", "ports", "--role", "qvs"])).expect("JSON");
    let numbers: BTreeSet<u64> = report["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| p["port"].as_u64().expect("port"))
        .collect();
    assert_eq!(numbers, BTreeSet::from([4747, 4749]));
    for tool in ["iptables", "nftables", "netsh"] {
        let rules = bare_ok(&["ports", "--firewall", tool, "--role", "qvs"]);
        assert_eq!(
            opened_ports(&rules),
            BTreeSet::from([4747, 4749]),
            "{tool}:\n{rules}"
        );
    }
}

/// The ports a firewall script opens, whatever the tool (comments left out).
fn opened_ports(rules: &str) -> BTreeSet<u16> {
    let mut ports = BTreeSet::new();
    for line in rules.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with("REM") {
            continue;
        }
        for marker in ["--dport ", "tcp dport ", "localport="] {
            if let Some(rest) = line.split(marker).nth(1) {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                ports.insert(digits.parse().expect("a port number"));
            }
        }
    }
    ports
}

#[test]
fn iptables_rules_are_an_idempotent_shell_script_of_check_or_append_lines() {
    let script = bare_ok(&["ports", "--firewall", "iptables"]);
    let mut ports = BTreeSet::new();
    for line in script.lines() {
        if line.is_empty() || line.starts_with('#') || line == "set -e" {
            continue;
        }
        let (check, append) = line
            .split_once(" || ")
            .unwrap_or_else(|| panic!("not `check || append`: {line}"));
        let check_rule = check
            .strip_prefix("iptables -C ")
            .and_then(|c| c.strip_suffix(" 2>/dev/null"))
            .unwrap_or_else(|| panic!("not an iptables -C check: {line}"));
        let append_rule = append
            .strip_prefix("iptables -A ")
            .unwrap_or_else(|| panic!("not an iptables -A append: {line}"));
        assert_eq!(check_rule, append_rule, "{line}");
        let rest = check_rule
            .strip_prefix("INPUT -p tcp --dport ")
            .unwrap_or_else(|| panic!("not an inbound TCP rule: {line}"));
        let port: u16 = rest
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port: {line}"));
        assert!(check_rule.ends_with("-j ACCEPT"), "{line}");
        assert!(ports.insert(port), "{port} opened twice");
    }
    assert_eq!(ports, BTreeSet::from(QLIKVIEW_SERVICE_PORTS));

    let file = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(file.path(), &script).expect("write");
    let (ok, text) = tool("sh", &["-n", path_str(file.path())]);
    assert!(ok, "sh -n: {text}");
    let (ok, text) = tool("shellcheck", &["-s", "sh", path_str(file.path())]);
    assert!(ok, "shellcheck: {text}");
}

#[test]
fn the_iptables_script_appends_missing_rules_once_and_stops_on_a_failure() {
    let dir = tempfile::tempdir().expect("temp");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    // A stub iptables that logs its arguments; -C answers CHECK_EXIT, -A answers APPEND_EXIT.
    let stub = bin.join("iptables");
    std::fs::write(
        &stub,
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> \"$LOG\"\ncase \"$1\" in\n  -C) exit \"$CHECK_EXIT\" ;;\n  *) exit \"$APPEND_EXIT\" ;;\nesac\n",
    )
    .expect("stub");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let script = dir.path().join("open-ports.sh");
    std::fs::write(&script, bare_ok(&["ports", "--firewall", "iptables"])).expect("write");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run_script = |check: &str, append: &str| {
        let log = dir.path().join(format!("log-{check}-{append}"));
        let status = std::process::Command::new("sh")
            .arg(&script)
            .env("PATH", &path)
            .env("LOG", &log)
            .env("CHECK_EXIT", check)
            .env("APPEND_EXIT", append)
            .status()
            .expect("sh");
        let lines: Vec<String> = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        (status.success(), lines)
    };

    // Nothing there yet: every rule is checked, then appended.
    let (ok, calls) = run_script("1", "0");
    assert!(ok);
    let appended: Vec<&String> = calls.iter().filter(|c| c.starts_with("-A ")).collect();
    assert_eq!(appended.len(), QLIKVIEW_SERVICE_PORTS.len(), "{calls:#?}");
    for port in QLIKVIEW_SERVICE_PORTS {
        assert!(
            appended
                .iter()
                .any(|c| c.starts_with(&format!("-A INPUT -p tcp --dport {port} "))),
            "{port}: {calls:#?}"
        );
    }
    // Everything there already: checked only, nothing appended.
    let (ok, calls) = run_script("0", "0");
    assert!(ok);
    assert_eq!(calls.len(), QLIKVIEW_SERVICE_PORTS.len());
    assert!(calls.iter().all(|c| c.starts_with("-C ")), "{calls:#?}");
    // An append that fails stops the script with an error.
    let (ok, calls) = run_script("1", "1");
    assert!(!ok, "a failed iptables -A must fail the script");
    assert_eq!(calls.iter().filter(|c| c.starts_with("-A ")).count(), 1);
}

#[test]
fn netsh_rules_are_inbound_allow_rules_for_each_tcp_port_in_a_cmd_script() {
    let script = bare_ok(&["ports", "--firewall", "netsh"]);
    assert!(script.contains("\r\n"), "a .cmd script has CRLF lines");
    let mut ports = BTreeSet::new();
    for line in script.split("\r\n") {
        if line.is_empty() || line.starts_with("REM") || line == "@echo off" {
            continue;
        }
        if line.starts_with("netsh advfirewall firewall delete rule ") {
            // Re-running replaces a rule instead of adding a duplicate.
            assert!(line.ends_with(">nul 2>&1"), "{line}");
            continue;
        }
        assert!(
            line.starts_with("netsh advfirewall firewall add rule "),
            "{line:?}"
        );
        assert_eq!(line.matches('"').count(), 2, "quoted rule name: {line}");
        let port: u16 = line
            .split("localport=")
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no localport: {line}"));
        assert!(
            line.contains(&format!(
                "dir=in action=allow protocol=TCP localport={port}"
            )),
            "{line}"
        );
        assert!(ports.insert(port), "{port} twice");
    }
    assert_eq!(ports, BTreeSet::from(QLIKVIEW_SERVICE_PORTS));
}

#[test]
fn nftables_rules_are_accepted_by_nft_and_open_each_port_once() {
    let rules = bare_ok(&["ports", "--firewall", "nftables"]);
    assert!(rules.starts_with("#!/usr/sbin/nft -f\n"), "{rules}");
    assert!(rules.contains("table inet filter {"), "{rules}");
    assert!(
        rules.contains("type filter hook input priority filter;"),
        "{rules}"
    );
    let accept_lines: Vec<&str> = rules
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("tcp dport "))
        .collect();
    for line in &accept_lines {
        assert!(line.contains(" accept"), "{line}");
    }
    assert_eq!(accept_lines.len(), QLIKVIEW_SERVICE_PORTS.len());
    assert_eq!(opened_ports(&rules), BTreeSet::from(QLIKVIEW_SERVICE_PORTS));

    // nft judges the syntax when it can run here (it may lack netlink in a sandbox).
    let dir = tempfile::tempdir().expect("temp");
    let trivial = dir.path().join("trivial.nft");
    std::fs::write(&trivial, "table inet qvca_probe {\n}\n").expect("write");
    let nft_works = std::process::Command::new("nft")
        .args(["-c", "-f", path_str(&trivial)])
        .output()
        .is_ok_and(|o| o.status.success());
    if nft_works {
        for role in [None, Some("sense-repository"), Some("qvs,qds,qvws,qms,dsc")] {
            let mut args = vec!["ports", "--firewall", "nftables"];
            if let Some(role) = role {
                args.extend(["--role", role]);
            }
            let file = dir.path().join("rules.nft");
            std::fs::write(&file, bare_ok(&args)).expect("write");
            let (ok, text) = tool("nft", &["-c", "-f", path_str(&file)]);
            assert!(ok, "nft -c rejects the rules for {role:?}: {text}");
        }
    }
}

#[test]
fn the_sense_repository_role_opens_4444_but_keeps_the_localhost_only_4570_closed_and_says_so() {
    for tool in ["iptables", "nftables", "netsh"] {
        let rules = bare_ok(&["ports", "--firewall", tool, "--role", "sense-repository"]);
        let opened = opened_ports(&rules);
        assert!(opened.contains(&4444), "{tool}:\n{rules}");
        assert!(!opened.contains(&4570), "{tool}:\n{rules}");
        let note = rules
            .lines()
            .find(|l| l.contains("4570"))
            .unwrap_or_else(|| panic!("{tool}: 4570 is not mentioned:\n{rules}"));
        assert!(
            note.starts_with('#') || note.starts_with("REM"),
            "{tool}: {note}"
        );
        assert!(note.contains("localhost"), "{tool}: {note}");
    }
}

#[test]
fn certificate_installation_ports_are_never_opened_but_are_named_in_a_comment() {
    for roles in [None, Some("qds,dsc,qvws")] {
        for tool in ["iptables", "nftables", "netsh"] {
            let mut args = vec!["ports", "--firewall", tool];
            if let Some(roles) = roles {
                args.extend(["--role", roles]);
            }
            let rules = bare_ok(&args);
            let opened = opened_ports(&rules);
            for port in INSTALLATION_PORTS {
                assert!(
                    !opened.contains(&port),
                    "{tool} {roles:?} opens {port}:\n{rules}"
                );
                assert!(
                    rules
                        .lines()
                        .any(|l| (l.starts_with('#') || l.starts_with("REM"))
                            && l.contains(&port.to_string())),
                    "{tool} {roles:?}: {port} not explained:\n{rules}"
                );
            }
        }
    }
}

#[test]
fn ports_json_with_a_firewall_carries_the_same_rules() {
    let text = bare_ok(&["ports", "--firewall", "iptables", "--role", "qms"]);
    let report: Value = serde_json::from_str(&bare_ok(&[
        "--json",
        "ports",
        "--firewall",
        "iptables",
        "--role",
        "qms",
    ]))
    .expect("JSON");
    assert_eq!(report["firewall"], "iptables");
    assert_eq!(report["rules"], text.as_str());
    assert_eq!(opened_ports(&text), BTreeSet::from([4780, 4799]));
}

#[test]
fn an_unknown_role_or_firewall_is_a_usage_error() {
    assert_code(&bare(&["ports", "--role", "qlikview"]), 2, "bad role");
    assert_code(&bare(&["ports", "--firewall", "pf"]), 2, "bad firewall");
}
