//! Revocation state that never goes backwards.
//!
//! - **The CA's current CRL**: the file the index's `last_crl` record names (else
//!   `<ca-dir>/crl.pem`). Only "there is no such file" means "no CRL": a CRL that exists but
//!   cannot be read is an error, so a damaged or unreadable CRL never silently switches a
//!   revocation check off or drops out of a backup.
//! - **Restores over the same root key**: comparing a backup's index with the CA it would
//!   replace says what the restore would un-revoke and whether it would lower the CRL number.
//!   Such a restore needs `--force`, and even then the restored CA keeps every revocation the
//!   replaced CA knew about (a certificate revoked there stays revoked, with its reason and
//!   date) and its CRL numbers continue from the highest either of them issued.
//!
//! A new root (`init --force`, or a restore of a backup with another root key) starts a new
//! CRL numbering: its CRLs are signed by another key, so nothing it lists can be confused with
//! the old root's.

use crate::domain::kind::CertKind;
use crate::domain::reason::RevocationReason;
use crate::domain::serial::Serial;
use crate::error::{Error, Result};
use crate::ops::ca::Ca;
use crate::pki::certificate::{CertificateDetails, parse_crl, to_pem};
use crate::store::{Entry, EntryStatus, Index, Store};
use serde::Serialize;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// The CA's current CRL as read from disk.
#[derive(Debug, Clone)]
pub struct CaCrl {
    /// Where it was read from.
    pub path: PathBuf,
    /// The CRL in DER.
    pub der: Vec<u8>,
    /// What it says (thisUpdate, nextUpdate, the revoked serials ...).
    pub details: crate::pki::inspect::CrlDetails,
}

/// The path of the CA's current CRL: the one the index records as last written, else the
/// default `<ca-dir>/crl.pem`.
pub fn ca_crl_path(ca: &Ca) -> PathBuf {
    ca.index().last_crl.as_ref().map_or_else(
        || Store::at(ca.dir()).crl_path(),
        |record| PathBuf::from(&record.path),
    )
}

/// Reads the CA's current CRL. `Ok(None)` only when the file does not exist; a file that
/// exists but cannot be read, or is not a CRL, is an error naming it.
pub fn read_ca_crl(ca: &Ca) -> Result<Option<CaCrl>> {
    let path = ca_crl_path(ca);
    let bytes = match crate::input::read_limited(&path, crate::input::DOCUMENT_LIMIT, "the CRL") {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == crate::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::failed(format!(
                "the CA's CRL {} cannot be read ({}): make it readable, or write a new one \
                 with `qvca crl`",
                path.display(),
                e.message()
            )));
        }
    };
    let (der, details) = parse_crl(&bytes)
        .and_then(|der| crate::pki::inspect::crl_details(&der).map(|details| (der, details)))
        .map_err(|e| {
            Error::failed(format!(
                "the CA's CRL {} is damaged ({}): write a new one with `qvca crl`",
                path.display(),
                e.message()
            ))
        })?;
    Ok(Some(CaCrl { path, der, details }))
}

/// The CRL that `verify` checks revocation against (DER): the one the user gave (`--crl`),
/// else, when the certificates are verified against this CA's own root (`ca`), the CA's
/// current CRL: the file its index records as last written, as `doctor` reads it
/// ([`read_ca_crl`]). That one fails closed (exit 5): a CRL the index records that is missing,
/// unreadable or damaged is an error, never a silently skipped revocation check. `Ok(None)`
/// when there is no CRL to check against.
pub fn verification_crl(given: Option<Vec<u8>>, ca: Option<&Ca>) -> Result<Option<Vec<u8>>> {
    match (given, ca) {
        (Some(given), _) => Ok(Some(given)),
        (None, Some(ca)) => ca_crl_for_verification(ca),
        (None, None) => Ok(None),
    }
}

/// The CA's current CRL for [`verification_crl`], failing closed.
fn ca_crl_for_verification(ca: &Ca) -> Result<Option<Vec<u8>>> {
    match read_ca_crl(ca) {
        Ok(Some(crl)) => Ok(Some(crl.der)),
        Ok(None) => match &ca.index().last_crl {
            None => Ok(None),
            Some(record) => Err(Error::verification(format!(
                "cannot check revocation: the CRL {} (number {}) that the CA index records is \
                 missing; write a new one with `qvca crl`, or pass --crl FILE",
                record.path, record.number
            ))),
        },
        Err(e) => Err(Error::verification(format!(
            "cannot check revocation: {}; or pass --crl FILE",
            e.message()
        ))),
    }
}

/// A revocation the CA knows about that a backup lacks: restoring the backup as it is would
/// make the certificate valid again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostRevocation {
    /// Server or Client.
    pub kind: CertKind,
    /// Issued To.
    pub name: String,
    /// The certificate's serial.
    pub serial: Serial,
    /// The RFC 5280 reason it was revoked for.
    pub reason: RevocationReason,
    /// When it was revoked.
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    /// What the backup says about it: `active` or `superseded`, or absent (`null`: it was
    /// issued after the backup was made).
    pub in_backup: Option<EntryStatus>,
}

impl LostRevocation {
    /// One phrase for messages: `Server QVS01 (serial …, keyCompromise on 2026-…)`.
    pub fn describe(&self) -> String {
        let state = match self.in_backup {
            Some(status) => format!("{} in the backup", status.as_str()),
            None => "not in the backup".to_owned(),
        };
        format!(
            "{} {} (serial {}, revoked {} for {}; {state})",
            self.kind.description(),
            self.name,
            self.serial,
            crate::ops::issue::date(self.revoked_at),
            self.reason
        )
    }
}

/// How a backup's state compares with the CA it would replace, when both have the same root key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RollbackCheck {
    /// Certificates revoked in the CA that the backup has as active, superseded or not at all.
    pub lost_revocations: Vec<LostRevocation>,
    /// The number of the last CRL the CA issued.
    pub ca_crl_number: u64,
    /// The number of the last CRL recorded in the backup.
    pub backup_crl_number: u64,
}

impl RollbackCheck {
    /// Compares the index of the CA (`current`) with a backup's.
    pub fn compare(current: &Index, backup: &Index) -> Self {
        let lost_revocations = current
            .certificates
            .iter()
            .filter(|e| e.status == EntryStatus::Revoked)
            .filter_map(|revoked| {
                let in_backup = backup.by_serial(&revoked.serial).map(|e| e.status);
                if in_backup == Some(EntryStatus::Revoked) {
                    return None;
                }
                let revocation = revoked.revocation.as_ref();
                Some(LostRevocation {
                    kind: revoked.kind,
                    name: revoked.name.clone(),
                    serial: revoked.serial.clone(),
                    reason: revocation.map_or(RevocationReason::Unspecified, |r| r.reason),
                    revoked_at: revocation.map_or(revoked.not_before, |r| r.at),
                    in_backup,
                })
            })
            .collect();
        Self {
            lost_revocations,
            ca_crl_number: current.crl_number,
            backup_crl_number: backup.crl_number,
        }
    }

    /// True when restoring the backup as it is would un-revoke a certificate or lower the CRL
    /// number: the backup is older than the CA's current state.
    pub fn goes_backwards(&self) -> bool {
        !self.lost_revocations.is_empty() || self.backup_crl_number < self.ca_crl_number
    }

    /// What the backup lacks, in one sentence.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.lost_revocations.is_empty() {
            parts.push(format!(
                "it would un-revoke {}",
                self.lost_revocations
                    .iter()
                    .map(LostRevocation::describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if self.backup_crl_number < self.ca_crl_number {
            parts.push(format!(
                "its CRL number {} is lower than the {} this root already issued",
                self.backup_crl_number, self.ca_crl_number
            ));
        }
        parts.join("; and ")
    }

    /// Refuses a restore that goes backwards unless `force`.
    pub fn require_force(&self, dir: &Path, force: bool) -> Result<()> {
        if !self.goes_backwards() || force {
            return Ok(());
        }
        Err(Error::refused(format!(
            "the backup is older than the CA in {}: {}. Nothing was changed. Pass --force to \
             restore it anyway: the restored CA then keeps every revocation listed here and \
             continues CRL numbers after {}",
            dir.display(),
            self.describe(),
            self.ca_crl_number.max(self.backup_crl_number)
        )))
    }
}

/// What [`guard_restore`] carried from the replaced CA into the restored index.
#[derive(Debug, Default)]
pub struct CarriedRevocations {
    /// The comparison it was based on.
    pub check: Option<RollbackCheck>,
    /// Revoked certificates the backup does not have at all (issued after it), with their DER:
    /// they become entries of the restored CA, so its CRLs keep listing them.
    pub added: Vec<(Entry, Vec<u8>)>,
    /// The replaced CA's CRL (PEM), when it is newer than the backup's.
    pub newer_crl_pem: Option<String>,
}

/// Compares a backup (its index and root certificate) with the CA in `dir`. `Ok(None)` when
/// there is no CA there or its root has another key: nothing of it carries over.
pub fn compare_with_ca(
    dir: &Path,
    backup_index: &Index,
    backup_root_der: Option<&[u8]>,
) -> Result<Option<RollbackCheck>> {
    Ok(ca_with_same_root_key(dir, backup_root_der)?
        .map(|ca| RollbackCheck::compare(ca.index(), backup_index)))
}

/// Guards a restore of `backup_index` over the CA in `dir` (held locked by the caller): when
/// both have the same root key, refuses a restore that goes backwards unless `force`, and then
/// merges the CA's revocations and CRL number into `backup_index`. The caller writes the
/// returned certificates and CRL with the restored CA.
pub fn guard_restore(
    dir: &Path,
    backup_index: &mut Index,
    backup_root_der: Option<&[u8]>,
    force: bool,
) -> Result<CarriedRevocations> {
    let Some(ca) = ca_with_same_root_key(dir, backup_root_der)? else {
        return Ok(CarriedRevocations::default());
    };
    let check = RollbackCheck::compare(ca.index(), backup_index);
    check.require_force(dir, force)?;
    let mut carried = CarriedRevocations::default();
    for lost in &check.lost_revocations {
        let Some(current) = ca.index().by_serial(&lost.serial) else {
            continue;
        };
        match backup_index.by_serial_mut(&lost.serial) {
            Some(entry) => {
                entry.status = EntryStatus::Revoked;
                entry.revocation.clone_from(&current.revocation);
            }
            None => {
                let der = ca.certificate_der(current).map_err(|e| {
                    Error::failed(format!(
                        "cannot keep the revocation of {}: {}; nothing was changed. Restore \
                         the certificate file, or move {} aside and restore into an empty \
                         directory (that restore does not know the revocation)",
                        lost.describe(),
                        e.message(),
                        dir.display()
                    ))
                })?;
                backup_index.certificates.push(current.clone());
                carried.added.push((current.clone(), der.to_vec()));
            }
        }
    }
    backup_index.crl_number = backup_index.crl_number.max(ca.index().crl_number);
    let backup_crl = backup_index.last_crl.as_ref().map_or(0, |r| r.number);
    if let Some(record) = &ca.index().last_crl
        && record.number > backup_crl
        && let Ok(Some(crl)) = read_ca_crl(&ca)
    {
        backup_index.last_crl = Some(record.clone());
        carried.newer_crl_pem = Some(to_pem("X509 CRL", &crl.der));
    }
    carried.check = Some(check);
    Ok(carried)
}

/// The CA in `dir` when its root is the backup's: one of its root certificates (current or
/// superseded by a renewal) is the backup's root, or its current root has the same public key.
fn ca_with_same_root_key(dir: &Path, backup_root_der: Option<&[u8]>) -> Result<Option<Ca>> {
    let Some(backup_root_der) = backup_root_der else {
        return Ok(None);
    };
    if !Store::at(dir).has_ca() {
        return Ok(None);
    }
    let ca = Ca::open(dir)?;
    let backup = CertificateDetails::from_der(backup_root_der)?;
    let known_root = ca.index().certificates.iter().any(|e| {
        e.kind == CertKind::Root && e.sha256.eq_ignore_ascii_case(&backup.sha256_fingerprint)
    });
    // A damaged root file does not hide the lineage the index already shows.
    let same_key = known_root
        || ca
            .root_der()
            .ok()
            .and_then(|der| CertificateDetails::from_der(&der).ok())
            .is_some_and(|current| current.spki_der == backup.spki_der);
    Ok(same_key.then_some(ca))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::key::{KeyProtection, KeyType};
    use crate::store::{Revocation, Settings};

    fn entry(serial: u8, status: EntryStatus) -> Entry {
        let now = OffsetDateTime::now_utc();
        Entry {
            serial: Serial::from_be_bytes(&[serial]).expect("serial"),
            kind: CertKind::Server,
            name: format!("QVS{serial:02}"),
            key_type: KeyType::P256,
            not_before: now,
            not_after: now + time::Duration::days(1),
            status,
            sha256: String::new(),
            superseded_by: None,
            revocation: (status == EntryStatus::Revoked).then_some(Revocation {
                at: now,
                reason: RevocationReason::KeyCompromise,
            }),
            keyless: false,
        }
    }

    fn index(entries: Vec<Entry>, crl_number: u64) -> Index {
        let mut index = Index::new(Settings {
            root_cn: "QlikViewCA".into(),
            key_protection: KeyProtection::None,
            created: OffsetDateTime::now_utc(),
            root_subject: crate::domain::subject::SubjectFields::default(),
            root_key: None,
        });
        index.certificates = entries;
        index.crl_number = crl_number;
        index
    }

    #[test]
    fn a_backup_that_lacks_a_revocation_goes_backwards() {
        let current = index(
            vec![
                entry(1, EntryStatus::Revoked),
                entry(2, EntryStatus::Revoked),
                entry(3, EntryStatus::Revoked),
            ],
            2,
        );
        let backup = index(
            vec![
                entry(1, EntryStatus::Active),
                entry(2, EntryStatus::Revoked),
            ],
            2,
        );
        let check = RollbackCheck::compare(&current, &backup);
        assert!(check.goes_backwards());
        let lost: Vec<_> = check
            .lost_revocations
            .iter()
            .map(|l| (l.name.as_str(), l.in_backup))
            .collect();
        assert_eq!(
            lost,
            [("QVS01", Some(EntryStatus::Active)), ("QVS03", None)]
        );
        assert!(check.describe().contains("keyCompromise"));
        assert!(check.require_force(Path::new("ca"), false).is_err());
        assert!(check.require_force(Path::new("ca"), true).is_ok());
    }

    #[test]
    fn a_lower_crl_number_alone_goes_backwards_and_an_equal_state_does_not() {
        let same = index(vec![entry(1, EntryStatus::Revoked)], 3);
        assert!(!RollbackCheck::compare(&same, &same.clone()).goes_backwards());
        let older = index(vec![entry(1, EntryStatus::Revoked)], 2);
        let check = RollbackCheck::compare(&same, &older);
        assert!(check.goes_backwards());
        assert!(check.describe().contains("CRL number 2"));
        // A newer backup (more revocations, higher number) is not a step back.
        assert!(!RollbackCheck::compare(&older, &same).goes_backwards());
    }
}
