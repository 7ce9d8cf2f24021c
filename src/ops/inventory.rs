//! What the CA holds, as `list` shows it: the seed's certificate table (Location, Issued To,
//! Issued By, Description) with serial, expiry and status.

use crate::domain::kind::CertKind;
use crate::domain::serial::Serial;
use crate::ops::ca::Ca;
use crate::store::CertState;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

/// Certificates expiring within this window are "expiring" in `list` (and by default in `doctor`).
pub const DEFAULT_WARN_DAYS: u32 = 30;

/// One row of `qvca list`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ListedCertificate {
    /// The Windows store the certificate belongs in (seed 001).
    pub location: &'static str,
    /// Issued To: machine name, `QVProxy` or the root's name.
    pub issued_to: String,
    /// Issued By: the root's name.
    pub issued_by: String,
    /// Server, Client or Root.
    pub description: &'static str,
    /// root, server or client.
    pub kind: CertKind,
    /// Serial number, hex.
    pub serial: Serial,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// valid, expiring, expired, revoked or superseded.
    pub status: CertState,
    /// Key type.
    pub key_type: crate::pki::key::KeyType,
    /// SHA-256 fingerprint, hex.
    pub sha256: String,
    /// True when the CA never held the key (it lives on the node: `qvca sign`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub keyless: bool,
}

/// Which rows `list` keeps (`--kind`, `--status`, `--expiring-within`); the default keeps all.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListFilter {
    /// Only this kind.
    pub kind: Option<CertKind>,
    /// Only this state.
    pub status: Option<CertState>,
    /// Only certificates still in use that expire within this many days (expired ones too).
    pub expiring_within_days: Option<u32>,
}

impl ListFilter {
    /// True when `row` passes every filter that is set.
    pub fn keeps(&self, row: &ListedCertificate, now: OffsetDateTime) -> bool {
        self.kind.is_none_or(|k| k == row.kind)
            && self.status.is_none_or(|s| s == row.status)
            && self.expiring_within_days.is_none_or(|days| {
                matches!(
                    row.status,
                    CertState::Valid | CertState::Expiring | CertState::Expired
                ) && row.expires <= now + Duration::days(i64::from(days))
            })
    }

    /// True when the filter asks for superseded certificates, which only `--all` lists.
    pub fn needs_all(&self) -> bool {
        self.status == Some(CertState::Superseded)
    }
}

/// The rows of `list` that pass `filter`, in the seed's order.
pub fn list_filtered(
    ca: &Ca,
    all: bool,
    filter: &ListFilter,
    now: OffsetDateTime,
) -> Vec<ListedCertificate> {
    let mut rows = list(ca, all || filter.needs_all(), now);
    rows.retain(|row| filter.keeps(row, now));
    rows
}

/// The rows of `list`: current certificates, or with `all` every one ever issued.
pub fn list(ca: &Ca, all: bool, now: OffsetDateTime) -> Vec<ListedCertificate> {
    let warn = Duration::days(i64::from(DEFAULT_WARN_DAYS));
    let issued_by = ca.index().settings.root_cn.clone();
    let entries: Vec<_> = if all {
        ca.index().certificates.iter().collect()
    } else {
        ca.index().current_entries()
    };
    let mut rows: Vec<ListedCertificate> = entries
        .into_iter()
        .map(|e| ListedCertificate {
            location: e.kind.windows_location(),
            issued_to: e.name.clone(),
            issued_by: issued_by.clone(),
            description: e.kind.description(),
            kind: e.kind,
            serial: e.serial.clone(),
            expires: e.not_after,
            status: e.state_at(now, warn),
            key_type: e.key_type,
            sha256: e.sha256.clone(),
            keyless: e.keyless,
        })
        .collect();
    rows.sort_by_cached_key(|r| seed_order(r.kind, &r.issued_to));
    rows
}

/// The order `list` shows certificates in, and every other listing follows (`verify`): the
/// seed's order, Server certificates by name, then the Client, then the root. A stable sort by
/// this key keeps issue order within one name.
pub fn seed_order(kind: CertKind, name: &str) -> (u8, String) {
    let rank = match kind {
        CertKind::Server => 0,
        CertKind::Client => 1,
        CertKind::Root => 2,
    };
    (rank, name.to_ascii_lowercase())
}
