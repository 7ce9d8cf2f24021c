//! `qvca ports [--firewall netsh|nftables|iptables] [--role ...]`.

use super::Context;
use crate::cli::PortsArgs;
use crate::exit;
use crate::output::table;
use qvca::qlik::ports::{PortTable, Role, firewall_rules, ports_for};

/// Runs `ports`.
pub fn run(ctx: &Context, args: &PortsArgs) -> qvca::Result<u8> {
    let roles: Vec<Role> = args
        .role
        .iter()
        .filter_map(|name| Role::from_name(name))
        .collect();
    if let Some(tool) = args.firewall {
        let rules = firewall_rules(&roles, tool);
        if ctx.out.is_json() {
            ctx.out.report(
                &serde_json::json!({ "firewall": tool, "rules": rules }),
                |_| {},
            );
        } else {
            ctx.out.data(rules.as_bytes());
        }
        return Ok(exit::SUCCESS);
    }
    let ports = ports_for(&roles);
    ctx.out
        .report(&serde_json::json!({ "ports": ports }), |text| {
            for (title, kind) in [
                (
                    "Ports for service to service communication (seed 001)",
                    PortTable::ServiceToService,
                ),
                (
                    "Ports for certificate installation, on the local server (seed 001)",
                    PortTable::CertificateInstallation,
                ),
                (
                    "Qlik Sense site ports (seeds 000, 002)",
                    PortTable::QlikSense,
                ),
            ] {
                let rows: Vec<Vec<String>> = ports
                    .iter()
                    .filter(|p| p.table == kind)
                    .map(|p| {
                        vec![
                            p.port.to_string(),
                            p.role.service().to_owned(),
                            if p.tls { "yes" } else { "no" }.to_owned(),
                            p.protocol.to_owned(),
                            if p.localhost_only {
                                format!("{} (localhost only)", p.purpose)
                            } else {
                                p.purpose.to_owned()
                            },
                        ]
                    })
                    .collect();
                if rows.is_empty() {
                    continue;
                }
                text.push_str(title);
                text.push('\n');
                text.push_str(&table(
                    &["Port", "Service", "TLS", "Protocol", "Purpose"],
                    &rows,
                ));
                text.push('\n');
            }
        });
    Ok(exit::SUCCESS)
}
