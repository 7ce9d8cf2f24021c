//! Living with the CA: renewal, revocation and CRLs.
//!
//! - **Renewing** a Server or Client certificate issues a new key and serial for the same
//!   subject and profile; the old certificate is marked superseded and stays valid until it
//!   expires or is revoked. A keyless certificate (its key lives on the node) is never renewed
//!   here: the CA cannot make a key for it; the node makes a new request and `qvca sign`
//!   signs it.
//! - **Renewing the root** keeps its key and subject and issues a new self-signed certificate
//!   with a new serial and validity: every certificate it signed still chains to it, and the
//!   SecretsKey (derived from the key) and all tokens stay valid.
//! - **Revoking** marks a certificate revoked with a reason; the next **CRL** lists it, signed
//!   by the root with a monotonically increasing CRL number, until the certificate expires.

use crate::domain::kind::CertKind;
use crate::domain::name::{CommonName, FqdnPolicy, MachineName};
use crate::domain::reason::RevocationReason;
use crate::domain::serial::Serial;
use crate::error::{Error, Result};
use crate::ops::ca::{Ca, RootSigner};
use crate::ops::issue::{IssueOptions, IssueOutcome, LeafRequest, issue_batch};
use crate::pki::certificate::{CertificateDetails, to_pem};
use crate::pki::profile::Profile;
use crate::store::atomic::{Durability, FileMode};
use crate::store::oplog::Operation;
use crate::store::{CrlRecord, Entry, EntryStatus, Revocation};
use serde::Serialize;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// The default CRL validity in days (`crl --days`).
pub const DEFAULT_CRL_DAYS: u32 = 30;

/// The reason code a CRL entry carries for `reason`.
fn reason_code(reason: RevocationReason) -> rcgen::RevocationReason {
    match reason {
        RevocationReason::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
        RevocationReason::Superseded => rcgen::RevocationReason::Superseded,
        RevocationReason::CessationOfOperation => rcgen::RevocationReason::CessationOfOperation,
        RevocationReason::AffiliationChanged => rcgen::RevocationReason::AffiliationChanged,
        RevocationReason::Unspecified => rcgen::RevocationReason::Unspecified,
    }
}

/// The current certificates that `renew --expiring-within DAYS` picks: valid now, expiring
/// within the window, Server or Client, with a key the CA holds (the root is renewed on its
/// own, with `--root`; keyless ones are [`due_on_nodes`]).
pub fn due_for_renewal(ca: &Ca, within_days: u32, now: OffsetDateTime) -> Vec<Entry> {
    expiring_leaves(ca, within_days, now)
        .filter(|e| !e.keyless)
        .cloned()
        .collect()
}

/// The keyless certificates that expire within the window: their nodes must make new requests
/// (`renew` cannot renew them).
pub fn due_on_nodes(ca: &Ca, within_days: u32, now: OffsetDateTime) -> Vec<Entry> {
    expiring_leaves(ca, within_days, now)
        .filter(|e| e.keyless)
        .cloned()
        .collect()
}

fn expiring_leaves(ca: &Ca, within_days: u32, now: OffsetDateTime) -> impl Iterator<Item = &Entry> {
    let limit = now + Duration::days(i64::from(within_days));
    ca.index().current_entries().into_iter().filter(move |e| {
        e.kind != CertKind::Root
            && e.status == EntryStatus::Active
            && e.is_usable_at(now)
            && e.not_after <= limit
    })
}

/// Refuses to renew a keyless certificate: its key lives on the node, so the CA cannot make its
/// successor (the node makes a new request, signed with `qvca sign`).
pub fn check_renewable(entry: &Entry) -> Result<()> {
    if entry.keyless {
        return Err(crate::ops::ca::keyless_refusal(entry));
    }
    Ok(())
}

/// Renews Server and Client certificates: a new key (of the same type) and serial for the same
/// subject, under the built-in profile of its kind (or `profile` when given); the old one is
/// marked superseded. Returns one outcome per certificate. A keyless certificate among them
/// refuses the whole renewal before anything is issued ([`check_renewable`]).
pub fn renew_leaves(
    ca: &mut crate::ops::ca::LockedCa,
    signer: &RootSigner,
    entries: &[Entry],
    days: Option<u32>,
    jobs: usize,
    progress: &mut dyn FnMut(&IssueOutcome),
) -> Result<Vec<IssueOutcome>> {
    for entry in entries {
        check_renewable(entry)?;
    }
    let mut outcomes = Vec::new();
    ca.set_operation_label("renew");
    for kind in [CertKind::Server, CertKind::Client] {
        let requests = entries
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| {
                let mut request = match kind {
                    CertKind::Server => {
                        LeafRequest::server(&MachineName::parse(&e.name, FqdnPolicy::Allow)?)
                    }
                    _ => LeafRequest::client(&CommonName::parse(&e.name)?),
                };
                request.key_type = Some(e.key_type);
                Ok(request)
            })
            .collect::<Result<Vec<LeafRequest>>>()?;
        if requests.is_empty() {
            continue;
        }
        let options = IssueOptions {
            profile: Profile::builtin(kind),
            key_type: None,
            days,
            force: true,
            jobs,
        };
        outcomes.extend(issue_batch(ca, signer, &requests, &options, progress)?);
    }
    Ok(outcomes)
}

/// What a root renewal did.
#[derive(Debug, Clone, Serialize)]
pub struct RootRenewal {
    /// The old root's serial (now superseded).
    pub old_serial: Serial,
    /// The new root's serial.
    pub new_serial: Serial,
    /// The new root's end of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// The SHA-1 thumbprint of the new root (what Windows shows).
    pub sha1_thumbprint: String,
    /// True: the key (and so the SecretsKey) was kept.
    pub key_kept: bool,
}

/// Renews the root with the same key and subject; returns the renewal and a signer for the new
/// root certificate (the old signer still signs, but names the old certificate).
pub fn renew_root(
    ca: &mut crate::ops::ca::LockedCa,
    signer: &RootSigner,
    days: Option<u32>,
) -> Result<(RootRenewal, RootSigner)> {
    let old = ca.root_entry()?.clone();
    let serial = ca.index().fresh_serial();
    let (der, details) = self_sign_renewed_root(ca, signer, &old, &serial, days)?;
    write_renewed_root(ca, signer, &old, &serial, &der)?;
    let root_cn = ca.index().settings.root_cn.clone();
    ca.index_mut().certificates.push(Entry::issued(
        CertKind::Root,
        &root_cn,
        old.key_type,
        &details,
    ));
    ca.supersede(&old.serial, &serial);
    ca.commit(
        &Operation::new("renew root")
            .with_certificate(&old.serial, &root_cn)
            .with_certificate(&serial, &root_cn),
    )?;
    let renewed_signer = signer.with_root_certificate(der)?;
    Ok((
        RootRenewal {
            old_serial: old.serial,
            new_serial: serial,
            not_after: details.not_after,
            sha1_thumbprint: details.sha1_thumbprint,
            key_kept: true,
        },
        renewed_signer,
    ))
}

/// The renewed root certificate (DER and details), self-signed with the root's key under the
/// CA's root name and subject; refused if its subject would differ from the current root's.
fn self_sign_renewed_root(
    ca: &Ca,
    signer: &RootSigner,
    old: &Entry,
    serial: &Serial,
    days: Option<u32>,
) -> Result<(Vec<u8>, CertificateDetails)> {
    let settings = &ca.index().settings;
    let mut profile = Profile::builtin(CertKind::Root);
    profile.subject = settings.root_subject.clone();
    let days = days.unwrap_or(profile.validity_days);
    let params = crate::ops::issue::root_params(
        &profile,
        &settings.root_cn,
        old.key_type,
        days,
        serial,
        OffsetDateTime::now_utc(),
    );
    let cert = params.self_signed(signer.root_key()).map_err(|e| {
        Error::failed(format!(
            "self-signing the renewed root failed: {}",
            crate::pki::signer::signing_failure(&e)
        ))
    })?;
    let der = cert.der().to_vec();
    let details = CertificateDetails::from_der(&der)?;
    if details.subject != signer.root().subject {
        return Err(Error::failed(format!(
            "the renewed root's subject ({}) would differ from the current one ({}), so the \
             certificates it signed would no longer chain to it; nothing was changed",
            details.subject,
            signer.root().subject
        )));
    }
    Ok((der, details))
}

/// Writes the renewed root certificate; the key stays the same, so its sealed key file is
/// stored again under the new serial (a key in a token has no file: only the certificate).
fn write_renewed_root(
    ca: &Ca,
    signer: &RootSigner,
    old: &Entry,
    serial: &Serial,
    der: &[u8],
) -> Result<()> {
    let cert_pem = to_pem("CERTIFICATE", der);
    if signer.root_key().token_location().is_some() {
        return ca
            .store()
            .write_cert(serial, cert_pem.as_bytes(), Durability::Synced);
    }
    let sealed_key = ca.store().read_key_pem(&old.serial)?;
    ca.store().write_cert_and_key(
        serial,
        cert_pem.as_bytes(),
        sealed_key.expose(),
        Durability::Synced,
    )
}

/// The certificate `revoke NAME|SERIAL` would revoke; refuses the root and one already revoked.
pub fn revocable<'a>(ca: &'a Ca, name_or_serial: &str) -> Result<&'a Entry> {
    let entry = ca.resolve(name_or_serial)?;
    if entry.kind == CertKind::Root {
        return Err(Error::refused(format!(
            "refusing to revoke the root {}: a root cannot be revoked by its own CRL; to retire \
             it, create a new root (`qvca init --force`) and rotate secrets with `qvca secrets \
             rewrap`",
            entry.name
        )));
    }
    if entry.status == EntryStatus::Revoked {
        return Err(Error::refused(format!(
            "{} (serial {}) is already revoked",
            entry.name, entry.serial
        )));
    }
    Ok(entry)
}

/// Revokes a Server or Client certificate (by name or serial) with an RFC 5280 reason.
pub fn revoke(
    ca: &mut crate::ops::ca::LockedCa,
    name_or_serial: &str,
    reason: RevocationReason,
) -> Result<Entry> {
    let entry = revocable(ca, name_or_serial)?.clone();
    let now = OffsetDateTime::now_utc();
    let stored = ca.index_mut().by_serial_mut(&entry.serial).ok_or_else(|| {
        Error::failed("internal error: the resolved certificate vanished from the index")
    })?;
    stored.status = EntryStatus::Revoked;
    stored.revocation = Some(Revocation { at: now, reason });
    let revoked = stored.clone();
    ca.commit(&Operation::new("revoke").with_certificate(&revoked.serial, &revoked.name))?;
    Ok(revoked)
}

/// What `crl` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct CrlReport {
    /// The CRL file.
    pub path: PathBuf,
    /// Its CRL number.
    pub number: u64,
    /// thisUpdate.
    #[serde(with = "time::serde::rfc3339")]
    pub this_update: OffsetDateTime,
    /// nextUpdate.
    #[serde(with = "time::serde::rfc3339")]
    pub next_update: OffsetDateTime,
    /// The revoked serials listed.
    pub revoked: Vec<Serial>,
}

/// Writes a CRL signed by the root: the next CRL number, thisUpdate now, nextUpdate in `days`,
/// and every revoked certificate that has not expired yet. An existing `out` file is replaced
/// only with `force`, or when it is the CRL file this CA wrote last (kept current).
pub fn write_crl(
    ca: &mut crate::ops::ca::LockedCa,
    signer: &RootSigner,
    out: Option<&Path>,
    days: u32,
    force: bool,
) -> Result<CrlReport> {
    if days == 0 {
        return Err(Error::usage("--days must be at least 1"));
    }
    let replace = force || out.is_none_or(|out| is_the_last_crl(ca, out));
    if let Some(out) = out {
        crate::store::atomic::refuse_existing_output(out, replace)?;
    }
    // Whole seconds: what the CRL encodes, and one time format in every JSON report.
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::now_utc());
    let next_update = now + Duration::days(i64::from(days));
    let revoked = ca.index().listed_on_crl(now);
    let revoked_serials: Vec<Serial> = revoked.iter().map(|e| e.serial.clone()).collect();
    // Reserve the number first: a crash after this commit skips a number, never reuses one.
    let number = ca.index().crl_number + 1;
    let pem = sign_crl(signer, &revoked, (now, next_update), number)?;
    let path = std::path::absolute(out.map_or_else(|| ca.store().crl_path(), Path::to_path_buf))
        .map_err(|e| Error::failed(format!("cannot resolve the CRL path: {e}")))?;
    ca.index_mut().crl_number = number;
    ca.commit_step()?;
    crate::store::crash_point("crl-before-write");
    crate::store::atomic::write_output(&path, pem.as_bytes(), FileMode::Public, replace)?;
    // Only a CRL that was written is recorded for `doctor`.
    ca.index_mut().last_crl = Some(CrlRecord {
        path: path.display().to_string(),
        number,
        this_update: now,
        next_update,
    });
    ca.commit(&Operation::new("crl"))?;
    Ok(CrlReport {
        path,
        number,
        this_update: now,
        next_update,
        revoked: revoked_serials,
    })
}

/// The CRL numbered `number` (PEM), valid from `this_update` to `next_update`, listing
/// `revoked` with their revocation times and reasons, signed by the root.
fn sign_crl(
    signer: &RootSigner,
    revoked: &[&Entry],
    (this_update, next_update): (OffsetDateTime, OffsetDateTime),
    number: u64,
) -> Result<String> {
    let revoked_certs = revoked
        .iter()
        .map(|e| {
            let revocation = e.revocation.as_ref();
            rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from_slice(e.serial.as_bytes()),
                revocation_time: revocation.map_or(this_update, |r| r.at),
                reason_code: revocation.map(|r| reason_code(r.reason)),
                invalidity_date: None,
            }
        })
        .collect();
    let params = rcgen::CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: rcgen::SerialNumber::from_slice(&number.to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    };
    let crl = params.signed_by(signer.issuer()).map_err(|e| {
        Error::failed(format!(
            "signing the CRL failed: {}",
            crate::pki::signer::signing_failure(&e)
        ))
    })?;
    crl.pem()
        .map_err(|e| Error::failed(format!("encoding the CRL failed: {e}")))
}

/// True when `out` is the file the CA's last CRL was written to.
fn is_the_last_crl(ca: &crate::ops::ca::Ca, out: &Path) -> bool {
    let Some(last) = &ca.index().last_crl else {
        return false;
    };
    std::path::absolute(out).is_ok_and(|out| out == Path::new(&last.path))
}
