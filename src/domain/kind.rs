//! The kinds of certificate in the QlikView trust domain.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The three kinds of certificate in the QlikView trust domain (seed 001).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum CertKind {
    /// The QlikViewCA root (Trusted Root Certification Authorities).
    Root,
    /// A Server certificate, issued to a machine name (Personal).
    Server,
    /// The QVProxy Client certificate (Personal).
    Client,
}

impl std::str::FromStr for CertKind {
    type Err = Error;

    /// Parses `root`, `server` or `client` (any case).
    fn from_str(text: &str) -> Result<Self> {
        [CertKind::Root, CertKind::Server, CertKind::Client]
            .into_iter()
            .find(|k| k.description().eq_ignore_ascii_case(text))
            .ok_or_else(|| {
                Error::usage(format!("unknown kind {text:?}: use root, server or client"))
            })
    }
}

impl CertKind {
    /// The seed's "Description" column.
    pub fn description(self) -> &'static str {
        match self {
            CertKind::Root => "Root",
            CertKind::Server => "Server",
            CertKind::Client => "Client",
        }
    }

    /// Checks `name` against the rule of this kind: a machine name (FQDNs allowed, as
    /// `--allow-fqdn` may have issued them) for a Server, a common name for the root and the
    /// Client. The one check every certificate name passes, whatever its source.
    pub fn check_name(self, name: &str) -> Result<()> {
        match self {
            CertKind::Server => crate::domain::name::MachineName::parse(
                name,
                crate::domain::name::FqdnPolicy::Allow,
            )
            .map(drop),
            CertKind::Root | CertKind::Client => {
                crate::domain::name::CommonName::parse(name).map(drop)
            }
        }
    }

    /// The word that names this kind on the command line (`issue server`, `issue client`).
    pub fn command(self) -> &'static str {
        match self {
            CertKind::Root => "root",
            CertKind::Server => "server",
            CertKind::Client => "client",
        }
    }

    /// The seed's "Location (Windows store)" column.
    pub fn windows_location(self) -> &'static str {
        match self {
            CertKind::Root => "Local Computer / Trusted Root Certification Authorities",
            CertKind::Server | CertKind::Client => "Local Computer / Personal",
        }
    }
}
