//! The port tables of the seeds: QlikView service-to-service and certificate-installation
//! ports (seed 001), and the Qlik Sense site ports (seeds 000 and 002).

use serde::Serialize;

/// Which table of the seeds a port comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortTable {
    /// Seed 001, "Ports for service to service communication".
    ServiceToService,
    /// Seed 001, "Ports for certificate installation" (local server only).
    CertificateInstallation,
    /// Seeds 000 and 002, the ports of a Qlik Sense site.
    QlikSense,
}

/// A service role: which services run on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// QlikView Server (QVS).
    Qvs,
    /// QlikView Distribution Service (QDS).
    Qds,
    /// QlikView Web Server (QVWS) or IIS.
    Qvws,
    /// QlikView Management Service (QMS), the CA.
    Qms,
    /// Directory Service Connector (DSC).
    Dsc,
    /// Qlik Sense Repository Service (QRS).
    SenseRepository,
    /// Qlik Sense Proxy Service (QPS).
    SenseProxy,
    /// Qlik Sense Engine Service (QES).
    SenseEngine,
    /// Qlik Sense Scheduler Service (QSS).
    SenseScheduler,
    /// Qlik Sense Repository Database (QRD).
    SenseDatabase,
}

impl Role {
    /// Every role, QlikView first.
    pub const ALL: [Role; 10] = [
        Role::Qvs,
        Role::Qds,
        Role::Qvws,
        Role::Qms,
        Role::Dsc,
        Role::SenseRepository,
        Role::SenseProxy,
        Role::SenseEngine,
        Role::SenseScheduler,
        Role::SenseDatabase,
    ];

    /// The role with this command-line name (`--role`), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The role's name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Qvs => "qvs",
            Role::Qds => "qds",
            Role::Qvws => "qvws",
            Role::Qms => "qms",
            Role::Dsc => "dsc",
            Role::SenseRepository => "sense-repository",
            Role::SenseProxy => "sense-proxy",
            Role::SenseEngine => "sense-engine",
            Role::SenseScheduler => "sense-scheduler",
            Role::SenseDatabase => "sense-database",
        }
    }

    /// The service's full name, as the seeds write it.
    pub fn service(self) -> &'static str {
        match self {
            Role::Qvs => "QlikView Server",
            Role::Qds => "QlikView Distribution Service",
            Role::Qvws => "QlikView Web Server",
            Role::Qms => "QlikView Management Service",
            Role::Dsc => "Directory Service Connector",
            Role::SenseRepository => "Qlik Sense Repository Service",
            Role::SenseProxy => "Qlik Sense Proxy Service",
            Role::SenseEngine => "Qlik Sense Engine Service",
            Role::SenseScheduler => "Qlik Sense Scheduler Service",
            Role::SenseDatabase => "Qlik Sense Repository Database",
        }
    }

    /// True for the QlikView roles (seed 001), false for Qlik Sense.
    pub fn is_qlikview(self) -> bool {
        matches!(
            self,
            Role::Qvs | Role::Qds | Role::Qvws | Role::Qms | Role::Dsc
        )
    }
}

/// One port of the seed tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Port {
    /// The TCP port.
    pub port: u16,
    /// The service that listens on it.
    pub role: Role,
    /// Whether the seed lists it as SSL/TLS-enabled.
    pub tls: bool,
    /// Which table it comes from.
    pub table: PortTable,
    /// The protocol, as the seed names it.
    pub protocol: &'static str,
    /// True when the port may only be reached from the node itself.
    pub localhost_only: bool,
    /// What it is for.
    pub purpose: &'static str,
}

const fn port(
    port: u16,
    role: Role,
    tls: bool,
    table: PortTable,
    protocol: &'static str,
    purpose: &'static str,
) -> Port {
    Port {
        port,
        role,
        tls,
        table,
        protocol,
        localhost_only: false,
        purpose,
    }
}

use PortTable::{CertificateInstallation as Install, QlikSense as Sense, ServiceToService as S2S};

/// Every port of the seed tables.
pub const PORTS: &[Port] = &[
    // Seed 001, "Ports for service to service communication" (SSL/TLS-enabled ports marked).
    port(4747, Role::Qvs, false, S2S, "QVPX", "QlikView Server"),
    port(
        4749,
        Role::Qvs,
        true,
        S2S,
        "QVPX over SSL/TLS",
        "QlikView Server, certificate trust",
    ),
    port(
        4720,
        Role::Qds,
        true,
        S2S,
        "SOAP over SSL/TLS",
        "QlikView Distribution Service",
    ),
    port(
        4750,
        Role::Qvws,
        true,
        S2S,
        "SOAP over SSL/TLS",
        "QlikView Web Server",
    ),
    port(80, Role::Qvws, false, S2S, "HTTP", "QlikView Web Server"),
    port(443, Role::Qvws, true, S2S, "HTTPS", "QlikView Web Server"),
    port(
        4780,
        Role::Qms,
        true,
        S2S,
        "SOAP over SSL/TLS",
        "QlikView Management Service",
    ),
    port(
        4799,
        Role::Qms,
        true,
        S2S,
        "SOAP over SSL/TLS",
        "QlikView Management Service",
    ),
    port(
        4730,
        Role::Dsc,
        true,
        S2S,
        "SOAP over SSL/TLS",
        "Directory Service Connector",
    ),
    // Seed 001, "Ports for certificate installation" (on the local server; not service to service).
    port(
        14720,
        Role::Qds,
        false,
        Install,
        "SOAP",
        "certificate installation for the QDS",
    ),
    port(
        14730,
        Role::Dsc,
        false,
        Install,
        "SOAP",
        "certificate installation for the DSC",
    ),
    port(
        14750,
        Role::Qvws,
        false,
        Install,
        "SOAP",
        "certificate installation for the QVWS",
    ),
    // Seeds 000 and 002, a Qlik Sense site.
    port(
        4444,
        Role::SenseRepository,
        false,
        Sense,
        "HTTP",
        "security distribution to rim nodes (password-protected package) and QRS state (/status/servicestate)",
    ),
    Port {
        localhost_only: true,
        ..port(
            4570,
            Role::SenseRepository,
            false,
            Sense,
            "HTTP",
            "certificate password verification on rim nodes; closed once the certificate is unlocked",
        )
    },
    port(
        4241,
        Role::SenseRepository,
        true,
        Sense,
        "HTTPS",
        "QRS-to-QRS synchronization",
    ),
    port(
        4242,
        Role::SenseRepository,
        true,
        Sense,
        "HTTPS",
        "QRS API and QRS-to-QRS synchronization",
    ),
    port(
        4432,
        Role::SenseDatabase,
        false,
        Sense,
        "PostgreSQL",
        "repository database, for the QRS",
    ),
    port(
        443,
        Role::SenseProxy,
        true,
        Sense,
        "HTTPS",
        "QPS API service port (default)",
    ),
    port(
        80,
        Role::SenseProxy,
        false,
        Sense,
        "HTTP",
        "QPS API service port, only with client-side HTTP enabled",
    ),
    port(
        4243,
        Role::SenseProxy,
        true,
        Sense,
        "HTTPS",
        "QPS REST server",
    ),
    port(
        4244,
        Role::SenseProxy,
        true,
        Sense,
        "HTTPS",
        "QPS internal authentication module (NTLM)",
    ),
    port(
        4747,
        Role::SenseEngine,
        true,
        Sense,
        "HTTPS/WSS",
        "QES, web clients",
    ),
    port(
        5050,
        Role::SenseScheduler,
        false,
        Sense,
        "HTTP",
        "QSS master REST engine",
    ),
    port(
        5151,
        Role::SenseScheduler,
        false,
        Sense,
        "HTTP",
        "QSS slave REST engine",
    ),
];

/// The ports of the given roles (all roles when empty), in table order.
pub fn ports_for(roles: &[Role]) -> Vec<Port> {
    PORTS
        .iter()
        .filter(|p| roles.is_empty() || roles.contains(&p.role))
        .copied()
        .collect()
}

/// The QlikView ports (seed 001) a node running every QlikView service must open.
pub fn qlikview_ports() -> Vec<Port> {
    PORTS
        .iter()
        .filter(|p| p.role.is_qlikview())
        .copied()
        .collect()
}

/// The firewall tools `ports --firewall` writes rules for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Firewall {
    /// Windows: `netsh advfirewall firewall add rule ...` lines (a .cmd script).
    Netsh,
    /// Linux: an `nft -f` file.
    Nftables,
    /// Linux: an idempotent shell script of `iptables` commands.
    Iptables,
}

impl Firewall {
    /// Every tool, in the order `--firewall` lists them.
    pub const ALL: [Firewall; 3] = [Firewall::Netsh, Firewall::Nftables, Firewall::Iptables];

    /// The tool's name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Firewall::Netsh => "netsh",
            Firewall::Nftables => "nftables",
            Firewall::Iptables => "iptables",
        }
    }
}

impl std::str::FromStr for Firewall {
    type Err = crate::Error;

    /// Parses `netsh`, `nftables` or `iptables`.
    fn from_str(name: &str) -> crate::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == name)
            .ok_or_else(|| {
                crate::Error::usage(format!(
                    "unknown firewall {name:?}: use netsh, nftables or iptables"
                ))
            })
    }
}

/// The ports a firewall must open for `roles` (all QlikView roles when empty): inbound TCP,
/// reachable from other nodes. Certificate-installation and localhost-only ports are left out.
pub fn ports_to_open(roles: &[Role]) -> Vec<Port> {
    let wanted = firewall_roles(roles);
    let mut open: Vec<Port> = Vec::new();
    for port in PORTS.iter().filter(|p| wanted.contains(&p.role)) {
        if port.table == PortTable::CertificateInstallation || port.localhost_only {
            continue;
        }
        if !open.iter().any(|p| p.port == port.port) {
            open.push(*port);
        }
    }
    open
}

/// The roles firewall rules are for: the given ones, or every QlikView role.
fn firewall_roles(roles: &[Role]) -> Vec<Role> {
    if roles.is_empty() {
        Role::ALL.into_iter().filter(|r| r.is_qlikview()).collect()
    } else {
        roles.to_vec()
    }
}

/// The ports of `roles` that are deliberately not opened, with why (for comments).
fn ports_kept_closed(roles: &[Role]) -> Vec<(Port, &'static str)> {
    ports_for(&firewall_roles(roles))
        .into_iter()
        .filter_map(|p| {
            if p.localhost_only {
                Some((p, "reachable from localhost only"))
            } else if p.table == PortTable::CertificateInstallation {
                Some((p, "certificate installation on the local server only"))
            } else {
                None
            }
        })
        .collect()
}

fn rule_comment(port: &Port) -> String {
    format!("{} ({})", port.role.service(), port.protocol)
}

/// What a firewall script says and does: the services it is for, where the ports come from,
/// the ports it opens and the ones it leaves closed (with why).
struct RulePlan {
    scope: String,
    source: &'static str,
    open: Vec<Port>,
    closed: Vec<(Port, &'static str)>,
}

impl RulePlan {
    /// The plan for `roles` (all QlikView roles when empty).
    fn for_roles(roles: &[Role]) -> Self {
        let scope = if roles.is_empty() {
            "all QlikView services".to_owned()
        } else {
            roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let source = if firewall_roles(roles).iter().all(|r| r.is_qlikview()) {
            "QlikView certificate trust, seed 001"
        } else {
            "Qlik port tables, seeds 000-002"
        };
        Self {
            scope,
            source,
            open: ports_to_open(roles),
            closed: ports_kept_closed(roles),
        }
    }

    /// The start of a script: `first` (the interpreter line), a comment that says what the
    /// script opens (`about` after it), the `more` lines, then one comment per port left
    /// closed. `comment` starts a comment line and `eol` ends each line.
    fn preamble(
        &self,
        first: &str,
        about: &str,
        more: &[&str],
        comment: &str,
        eol: &str,
    ) -> String {
        let Self { scope, source, .. } = self;
        let mut text = format!("{first}{eol}");
        text.push_str(&format!(
            "{comment} Inbound TCP ports for {scope} ({source}).{about}{eol}"
        ));
        for line in more {
            text.push_str(&format!("{line}{eol}"));
        }
        for (p, why) in &self.closed {
            text.push_str(&format!(
                "{comment} not opened: {} {} ({why}){eol}",
                p.port,
                p.role.service()
            ));
        }
        text
    }
}

/// Ready-to-run firewall rules for the ports of `roles`.
pub fn firewall_rules(roles: &[Role], tool: Firewall) -> String {
    let plan = RulePlan::for_roles(roles);
    match tool {
        Firewall::Netsh => netsh_script(&plan),
        Firewall::Nftables => nftables_script(&plan),
        Firewall::Iptables => iptables_script(&plan),
    }
}

/// A Windows batch file of `netsh advfirewall` rules (CRLF line endings).
fn netsh_script(plan: &RulePlan) -> String {
    let mut text = plan.preamble(
        "@echo off",
        " Run as administrator.",
        &["REM Re-running replaces the rules instead of adding duplicates."],
        "REM",
        "\r\n",
    );
    for p in &plan.open {
        let name = format!("qvca {} TCP {}", p.role.service(), p.port);
        text.push_str(&format!(
            "netsh advfirewall firewall delete rule name=\"{name}\" >nul 2>&1\r\n"
        ));
        text.push_str(&format!(
            "netsh advfirewall firewall add rule name=\"{name}\" dir=in action=allow protocol=TCP localport={}\r\n",
            p.port
        ));
    }
    text
}

/// An `nft -f` file with one accept rule per port.
fn nftables_script(plan: &RulePlan) -> String {
    let mut text = plan.preamble(
        "#!/usr/sbin/nft -f",
        "",
        &["# Load with: nft -f FILE"],
        "#",
        "\n",
    );
    text.push_str(
        "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter;\n",
    );
    for p in &plan.open {
        text.push_str(&format!(
            "\t\ttcp dport {} accept comment \"qvca {}\"\n",
            p.port,
            rule_comment(p)
        ));
    }
    text.push_str("\t}\n}\n");
    text
}

/// A shell script that adds each iptables rule unless it exists already.
fn iptables_script(plan: &RulePlan) -> String {
    let mut text = plan.preamble(
        "#!/bin/sh",
        "",
        &[
            "# Idempotent: a rule that exists already is not added again.",
            "set -e",
        ],
        "#",
        "\n",
    );
    for p in &plan.open {
        let rule = format!(
            "INPUT -p tcp --dport {} -m comment --comment \"qvca {}\" -j ACCEPT",
            p.port,
            rule_comment(p)
        );
        text.push_str(&format!(
            "iptables -C {rule} 2>/dev/null || iptables -A {rule}\n"
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_port_of_seed_001_is_listed() {
        let ports: Vec<u16> = qlikview_ports().iter().map(|p| p.port).collect();
        for expected in [
            4747, 4749, 4720, 4750, 80, 443, 4780, 4799, 4730, 14720, 14730, 14750,
        ] {
            assert!(ports.contains(&expected), "{expected} missing");
        }
    }

    #[test]
    fn firewall_rules_open_service_ports_once_and_skip_local_ones() {
        let rules = firewall_rules(&[], Firewall::Iptables);
        for port in [4747, 4749, 4720, 4750, 80, 443, 4780, 4799, 4730] {
            assert!(rules.contains(&format!("--dport {port} ")), "{port}");
        }
        assert!(!rules.contains("--dport 14720"));
        let sense = firewall_rules(&[Role::SenseRepository], Firewall::Nftables);
        assert!(sense.contains("tcp dport 4444"));
        assert!(!sense.contains("tcp dport 4570"), "4570 is localhost-only");
        assert!(sense.contains("not opened: 4570"));
    }

    #[test]
    fn the_password_port_is_localhost_only() {
        let p = PORTS.iter().find(|p| p.port == 4570).expect("4570");
        assert!(p.localhost_only);
    }
}
