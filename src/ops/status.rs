//! `status`: the state of this CA as the Qlik Sense repository reports a node's state on its
//! state port (seed 002: `0` Initializing, `1` Certificates not installed, `2` Running).

use crate::domain::kind::CertKind;
use crate::error::Result;
use crate::store::Store;
use serde::Serialize;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// The three states of seed 002.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// 0: no CA yet.
    Initializing,
    /// 1: a root, but not a valid Server and Client certificate.
    CertificatesNotInstalled,
    /// 2: root, at least one Server and the Client certificate are valid.
    Running,
}

impl ServiceState {
    /// The number Qlik reports.
    pub fn code(self) -> u8 {
        match self {
            ServiceState::Initializing => 0,
            ServiceState::CertificatesNotInstalled => 1,
            ServiceState::Running => 2,
        }
    }

    /// The name Qlik gives the state.
    pub fn label(self) -> &'static str {
        match self {
            ServiceState::Initializing => "Initializing",
            ServiceState::CertificatesNotInstalled => "Certificates not installed",
            ServiceState::Running => "Running",
        }
    }
}

/// The result of `status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// 0, 1 or 2.
    pub state: u8,
    /// "Initializing", "Certificates not installed" or "Running".
    pub name: &'static str,
    /// Why the state is what it is, one sentence each.
    pub reasons: Vec<String>,
    /// The CA directory.
    pub ca_dir: PathBuf,
    /// False for `--no-password` CAs (labs only); absent without a CA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_protected: Option<bool>,
    /// Where the root key lives when it is in a PKCS#11 token (the URI, the token's label and
    /// serial, the key's label and id, as the CA directory records them); absent for a key
    /// file. The token itself is not reached (`doctor` checks it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_key: Option<crate::pki::pkcs11::location::TokenKeyLocation>,
    /// Valid Server certificates (machine names).
    pub servers: Vec<String>,
    /// The valid Client certificate's name, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// Works out the state of the CA in `dir`.
pub fn status(dir: &Path, now: OffsetDateTime) -> Result<StatusReport> {
    let store = Store::at(dir);
    let mut report = StatusReport {
        state: 0,
        name: ServiceState::Initializing.label(),
        reasons: Vec::new(),
        ca_dir: dir.to_owned(),
        password_protected: None,
        root_key: None,
        servers: Vec::new(),
        client: None,
    };
    if !store.has_ca() {
        report.reasons.push(format!(
            "no CA in {}: run `qvca setup` or `qvca init`",
            dir.display()
        ));
        return Ok(report);
    }
    let ca = crate::ops::ca::Ca::open(dir)?;
    report.password_protected = Some(ca.is_password_protected());
    report.root_key = ca.index().settings.root_key.clone();
    if !ca.is_password_protected() {
        report
            .reasons
            .push("keys are stored WITHOUT a password (init --no-password): for labs only".into());
    }
    let root_ok = root_is_valid(&ca, now, &mut report.reasons);
    report.servers = ca
        .usable(CertKind::Server, now)
        .iter()
        .map(|e| e.name.clone())
        .collect();
    report.client = ca
        .usable(CertKind::Client, now)
        .first()
        .map(|e| e.name.clone());
    let state = state_with_root(root_ok, &mut report);
    report.state = state.code();
    report.name = state.label();
    Ok(report)
}

/// True when the CA's active root is valid at `now`; else why not, added to `reasons`.
fn root_is_valid(ca: &crate::ops::ca::Ca, now: OffsetDateTime, reasons: &mut Vec<String>) -> bool {
    match ca.index().root() {
        Some(root) if root.is_usable_at(now) => true,
        Some(root) => {
            reasons.push(format!(
                "the root {} is not valid now (it expires {})",
                root.name,
                crate::ops::issue::date(root.not_after)
            ));
            false
        }
        None => {
            reasons.push("the CA has no active root".into());
            false
        }
    }
}

/// The state of a CA whose root is valid or not (`root_ok`), given the valid Server and Client
/// certificates in `report`: Running when all are there; the reasons say which are missing.
fn state_with_root(root_ok: bool, report: &mut StatusReport) -> ServiceState {
    if report.servers.is_empty() {
        report
            .reasons
            .push("no valid Server certificate: issue one with `qvca issue server MACHINE`".into());
    }
    if report.client.is_none() {
        report
            .reasons
            .push("no valid Client certificate: issue it with `qvca issue client`".into());
    }
    if root_ok && !report.servers.is_empty() && report.client.is_some() {
        report.reasons.push(format!(
            "root, {} Server certificate(s) and the {} Client certificate are valid",
            report.servers.len(),
            report.client.as_deref().unwrap_or_default()
        ));
        ServiceState::Running
    } else {
        ServiceState::CertificatesNotInstalled
    }
}
