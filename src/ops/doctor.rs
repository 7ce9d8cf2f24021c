//! `doctor`: every check an admin wants before an outage, each reported as ok, warning or
//! problem with one line of advice. Check names are stable (monitoring keys on them).

use crate::domain::kind::CertKind;
use crate::error::Result;
use crate::ops::ca::{Ca, RootSigner};
use crate::ops::revocation::read_ca_crl;
use crate::pki::certificate::{CertificateDetails, parse_one_certificate};
use crate::store::{Entry, EntryStatus, readable_by_others};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Nothing to do.
    Ok,
    /// Needs attention soon.
    Warning,
    /// Needs attention now.
    Problem,
    /// Could not be checked (e.g. no CA password available); does not fail `doctor`.
    Skipped,
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// A stable name: `no-password`, `permissions`, `keys-match`, `expiry`, `index-files`,
    /// `staging-leftovers`, `license-service-export`, `crl`; for a root key in a PKCS#11 token
    /// also `hsm-module`, `hsm-token`, `hsm-login`, `hsm-root-key`, `hsm-key-attributes`.
    pub name: &'static str,
    /// ok, warning, problem or skipped.
    pub status: CheckStatus,
    /// What was found.
    pub message: String,
    /// What to do (absent when ok).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

/// Everything `doctor` found.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// True when no check is a warning or problem.
    pub ok: bool,
    /// The CA directory.
    pub ca_dir: std::path::PathBuf,
    /// Every check.
    pub checks: Vec<Check>,
}

struct Checks(Vec<Check>);

impl Checks {
    fn add(
        &mut self,
        name: &'static str,
        status: CheckStatus,
        message: String,
        advice: Option<&str>,
    ) {
        self.0.push(Check {
            name,
            status,
            message,
            advice: advice.map(str::to_owned),
        });
    }

    fn ok(&mut self, name: &'static str, message: impl Into<String>) {
        self.add(name, CheckStatus::Ok, message.into(), None);
    }
}

/// The checks of a root key in a PKCS#11 token, made by `ops::hsm_doctor`, for
/// [`doctor_with_token`].
#[derive(Debug, Clone, Default)]
pub struct TokenChecks {
    /// `hsm-module`, `hsm-token`, `hsm-login`, `hsm-root-key`, `hsm-key-attributes`.
    pub checks: Vec<Check>,
    /// The `keys-match` check to report when the root could not be unlocked because of the
    /// token (no PIN, the token unreachable): says why, instead of asking for the CA password.
    pub keys_not_checked: Option<Check>,
}

/// Runs every check on the CA in `ca`. `signer` (the unlocked root) enables the key checks.
pub fn doctor(
    ca: &Ca,
    signer: Option<&RootSigner>,
    warn_days: u32,
    now: OffsetDateTime,
) -> Result<DoctorReport> {
    doctor_with_token(ca, signer, None, warn_days, now)
}

/// Like [`doctor`], for a CA whose root key lives in a PKCS#11 token: the checks of the token
/// and its key (`token`) come before `keys-match`.
pub fn doctor_with_token(
    ca: &Ca,
    signer: Option<&RootSigner>,
    token: Option<TokenChecks>,
    warn_days: u32,
    now: OffsetDateTime,
) -> Result<DoctorReport> {
    let mut checks = Checks(Vec::new());
    check_protection(ca, &mut checks);
    check_permissions(ca, &mut checks);
    check_index_files(ca, &mut checks);
    check_staging_leftovers(ca, &mut checks);
    let token = token.unwrap_or_default();
    checks.0.extend(token.checks);
    match (signer, token.keys_not_checked) {
        (None, Some(skipped)) => checks.0.push(skipped),
        _ => check_keys(ca, signer, &mut checks),
    }
    check_expiry(ca, warn_days, now, &mut checks);
    check_export(ca, &mut checks);
    check_crl(ca, now, &mut checks);
    let ok = checks
        .0
        .iter()
        .all(|c| matches!(c.status, CheckStatus::Ok | CheckStatus::Skipped));
    Ok(DoctorReport {
        ok,
        ca_dir: ca.dir().to_owned(),
        checks: checks.0,
    })
}

fn check_protection(ca: &Ca, checks: &mut Checks) {
    if ca.is_password_protected() {
        checks.ok(
            "no-password",
            "private keys are encrypted under the CA password",
        );
    } else {
        checks.add(
            "no-password",
            CheckStatus::Warning,
            "private keys are stored WITHOUT a password (init --no-password): labs only".into(),
            Some("for production, create the CA with a password and move the certificates over via backup and restore"),
        );
    }
}

fn check_permissions(ca: &Ca, checks: &mut Checks) {
    if cfg!(not(unix)) {
        checks.add(
            "permissions",
            CheckStatus::Skipped,
            "file modes are not checked on this platform".into(),
            Some("restrict the CA directory's ACL to Administrators and SYSTEM (README)"),
        );
        return;
    }
    let store = ca.store();
    let mut loose = Vec::new();
    let dir_mode_ok = {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(store.dir()).is_ok_and(|m| m.permissions().mode() & 0o077 == 0)
        }
        #[cfg(not(unix))]
        true
    };
    if !dir_mode_ok {
        loose.push(store.dir().display().to_string());
    }
    if readable_by_others(&store.index_path()) {
        loose.push(store.index_path().display().to_string());
    }
    if let Ok(keys) = std::fs::read_dir(store.keys_dir()) {
        for key in keys.flatten() {
            if readable_by_others(&key.path()) {
                loose.push(key.path().display().to_string());
            }
        }
    }
    if loose.is_empty() {
        checks.ok(
            "permissions",
            "the CA directory is 0700, the index and every key file 0600",
        );
    } else {
        checks.add(
            "permissions",
            CheckStatus::Problem,
            format!("readable by other users: {}", loose.join(", ")),
            Some("chmod 0700 the CA directory and 0600 the index and key files (chmod -R go= <ca-dir>)"),
        );
    }
}

/// `index-files`: every certificate the index names is there and matches it, every active key
/// the CA holds is there, nothing inside is a symbolic link; files no entry names are the
/// leftovers of an interrupted operation.
fn check_index_files(ca: &Ca, checks: &mut Checks) {
    let store = ca.store();
    // A symbolic link inside the CA directory is never followed (each is named once, sorted).
    let mut links = BTreeSet::new();
    for path in [
        store.certs_dir(),
        store.keys_dir(),
        store.dir().join(crate::store::LOCK_FILE),
    ] {
        if let Err(e) = store.confined(path) {
            links.insert(e.message().to_owned());
        }
    }
    let mut problems = Vec::new();
    for entry in &ca.index().certificates {
        let confined = store
            .confined(store.cert_path(&entry.serial))
            .and_then(|_| store.confined(store.key_path(&entry.serial)));
        match confined {
            Err(e) => {
                links.insert(e.message().to_owned());
            }
            Ok(_) => problems.extend(entry_file_problems(ca, entry)),
        }
    }
    let problems: Vec<String> = links.into_iter().chain(problems).collect();
    let leftovers = unnamed_files(ca);
    if !problems.is_empty() {
        checks.add(
            "index-files",
            CheckStatus::Problem,
            problems.join("; "),
            Some("restore the CA from a backup (`qvca restore FILE`)"),
        );
    } else if !leftovers.is_empty() {
        checks.add(
            "index-files",
            CheckStatus::Warning,
            format!(
                "{} file(s) that no index entry names, left by an interrupted operation: {}",
                leftovers.len(),
                leftovers.join(", ")
            ),
            Some("harmless; delete them once no qvca command is running"),
        );
    } else {
        checks.ok(
            "index-files",
            format!(
                "the index and the {} certificate files agree",
                ca.index().certificates.len()
            ),
        );
    }
}

/// What is wrong with the files of one index entry: its certificate file missing, unreadable
/// or another certificate; its key file missing (an active entry whose key the CA holds).
fn entry_file_problems(ca: &Ca, entry: &Entry) -> Vec<String> {
    let store = ca.store();
    let mut problems = Vec::new();
    let cert_path = store.cert_path(&entry.serial);
    match std::fs::read(&cert_path) {
        Err(_) => problems.push(format!(
            "{} {} (serial {}): certificate file missing",
            entry.kind.description(),
            entry.name,
            entry.serial
        )),
        Ok(pem) => match parse_one_certificate(&pem, &cert_path) {
            Ok(der) if hex::encode_upper(Sha256::digest(der.as_ref())) == entry.sha256 => {}
            Ok(_) => problems.push(format!(
                "{}: the certificate file does not match the index (fingerprint differs)",
                cert_path.display()
            )),
            Err(e) => problems.push(e.message().to_owned()),
        },
    }
    if entry.status == EntryStatus::Active
        && has_key_file(ca, entry)
        && !store.key_path(&entry.serial).is_file()
    {
        problems.push(format!(
            "{} {} (serial {}): key file missing",
            entry.kind.description(),
            entry.name,
            entry.serial
        ));
    }
    problems
}

/// True when the CA keeps `entry`'s private key in a file: not for a keyless certificate (its
/// key is on its node), nor for a root whose key lives in a PKCS#11 token.
fn has_key_file(ca: &Ca, entry: &Entry) -> bool {
    let root_in_token = entry.kind == CertKind::Root && root_key_in_token(ca);
    !(entry.keyless || root_in_token)
}

/// True when the CA's root key lives in a PKCS#11 token.
fn root_key_in_token(ca: &Ca) -> bool {
    ca.index().settings.root_key.is_some()
}

/// Files in `certs/` and `keys/` that no index entry names (a keyless certificate has no key
/// file, nor has a root whose key is in a token: one there is a leftover) and temporary files of interrupted writes in the CA directory.
fn unnamed_files(ca: &Ca) -> Vec<String> {
    let store = ca.store();
    let entries = &ca.index().certificates;
    let named_certs: HashSet<PathBuf> =
        entries.iter().map(|e| store.cert_path(&e.serial)).collect();
    let named_keys: HashSet<PathBuf> = entries
        .iter()
        .filter(|e| has_key_file(ca, e))
        .map(|e| store.key_path(&e.serial))
        .collect();
    let mut leftovers = Vec::new();
    for (dir, named) in [
        (store.certs_dir(), &named_certs),
        (store.keys_dir(), &named_keys),
    ] {
        if let Ok(files) = std::fs::read_dir(&dir) {
            for file in files.flatten() {
                let path = file.path();
                if !named.contains(&path) {
                    leftovers.push(path.display().to_string());
                }
            }
        }
    }
    if let Ok(files) = std::fs::read_dir(store.dir()) {
        for file in files.flatten() {
            if file.file_name().to_string_lossy().starts_with(".qvca-tmp-") {
                leftovers.push(file.path().display().to_string());
            }
        }
    }
    leftovers
}

/// Staging directories (`<ca-dir>.restore-<pid>`, `<ca-dir>.init-<pid>`,
/// `<ca-dir>.passwd-<pid>`, `<ca-dir>.passwd-old-<pid>`) that a killed restore, `init --force`
/// or `passwd` left next to the CA: they hold (encrypted) private keys, a `passwd-old` one
/// under the OLD password.
fn check_staging_leftovers(ca: &Ca, checks: &mut Checks) {
    let found = crate::store::staged::leftovers(ca.dir());
    let (running, stale): (Vec<_>, Vec<_>) = found.iter().partition(|l| l.running);
    let list = |items: &[&crate::store::staged::Leftover]| {
        items
            .iter()
            .map(|l| format!("{} ({})", l.path.display(), l.kind.description()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !stale.is_empty() {
        checks.add(
            "staging-leftovers",
            CheckStatus::Warning,
            format!(
                "left by an interrupted restore, init --force or passwd, holding encrypted private \
                 keys (a passwd-old one under the OLD password): {}",
                list(&stale)
            ),
            Some(
                "the next restore, init --force or passwd of this CA removes them; or delete \
                 them yourself (rm -r) once no qvca command is running",
            ),
        );
    } else if !running.is_empty() {
        checks.add(
            "staging-leftovers",
            CheckStatus::Warning,
            format!(
                "a restore, init --force or passwd is running: {}",
                list(&running)
            ),
            Some("run doctor again when it has finished"),
        );
    } else {
        checks.ok(
            "staging-leftovers",
            "no staging directory of an interrupted restore, init or passwd next to the CA",
        );
    }
}

/// Why `entry`'s key file does not hold the key of its certificate, if it does not.
fn key_mismatch(ca: &Ca, signer: &RootSigner, entry: &Entry) -> Option<String> {
    let matches = ca.open_key(signer, entry).and_then(|key| {
        let cert = CertificateDetails::from_der(&ca.certificate_der(entry)?)?;
        Ok(crate::pki::pkcs12::key_matches(&key, &cert.spki_der))
    });
    match matches {
        Ok(true) => None,
        Ok(false) => Some(format!(
            "{} {}: the key does not belong to the certificate",
            entry.kind.description(),
            entry.name
        )),
        Err(e) => Some(format!(
            "{} {}: {}",
            entry.kind.description(),
            entry.name,
            e.message()
        )),
    }
}

fn check_keys(ca: &Ca, signer: Option<&RootSigner>, checks: &mut Checks) {
    let Some(signer) = signer else {
        checks.add(
            "keys-match",
            CheckStatus::Skipped,
            "not checked: the CA password is needed to open the keys".into(),
            Some("run doctor with --password-file or QVCA_PASSWORD to check the keys too"),
        );
        return;
    };
    let mut bad = Vec::new();
    let mut count = 0;
    let mut keyless = 0;
    for entry in ca.index().current_entries() {
        if entry.status != EntryStatus::Active {
            continue;
        }
        if entry.keyless {
            // Its key lives on the node: there is nothing here to match.
            keyless += 1;
            continue;
        }
        if !has_key_file(ca, entry) {
            // The root's key in the token: `hsm-root-key` checks it.
            continue;
        }
        count += 1;
        if let Some(problem) = key_mismatch(ca, signer, entry) {
            bad.push(problem);
        }
    }
    if bad.is_empty() {
        let on_nodes = if keyless > 0 {
            format!(
                "; {keyless} keyless certificate(s) have their keys on their nodes (signed from \
                 requests)"
            )
        } else {
            String::new()
        };
        let in_token = if root_key_in_token(ca) {
            "; the root's key is in the PKCS#11 token (hsm-root-key)"
        } else {
            ""
        };
        checks.ok(
            "keys-match",
            format!(
                "each of the {count} current keys belongs to its certificate{on_nodes}{in_token}"
            ),
        );
    } else {
        checks.add(
            "keys-match",
            CheckStatus::Problem,
            bad.join("; "),
            Some("restore the CA from a backup, or re-issue the certificate with --force"),
        );
    }
}

fn describe(entry: &Entry) -> String {
    format!(
        "{} {} (expires {})",
        entry.kind.description(),
        entry.name,
        crate::ops::issue::date(entry.not_after)
    )
}

fn check_expiry(ca: &Ca, warn_days: u32, now: OffsetDateTime, checks: &mut Checks) {
    let warn = Duration::days(i64::from(warn_days));
    let mut expired = Vec::new();
    let mut expiring = Vec::new();
    let mut root_problem = None;
    let mut keyless_due = false;
    for entry in ca.index().current_entries() {
        if entry.status != EntryStatus::Active {
            continue;
        }
        keyless_due |= entry.keyless && entry.not_after - now <= warn;
        if entry.not_after <= now {
            if entry.kind == CertKind::Root {
                root_problem = Some(describe(entry));
            }
            expired.push(describe(entry));
        } else if entry.not_after - now <= warn {
            expiring.push(describe(entry));
        }
    }
    // `renew` cannot make a keyless certificate's successor: its node makes a new request.
    let on_nodes = if keyless_due {
        "; for a keyless certificate, make a new request on its node and sign it with `qvca sign`"
    } else {
        ""
    };
    if !expired.is_empty() {
        let advice = if root_problem.is_some() {
            "renew the root with `qvca renew QlikViewCA --root`, then renew the others"
        } else {
            "renew them: `qvca renew NAME` (or `qvca renew --expiring-within 0`)"
        };
        let advice = format!("{advice}{on_nodes}");
        checks.add(
            "expiry",
            CheckStatus::Problem,
            format!("expired: {}", expired.join(", ")),
            Some(&advice),
        );
    } else if !expiring.is_empty() {
        checks.add(
            "expiry",
            CheckStatus::Warning,
            format!("expiring within {warn_days} days: {}", expiring.join(", ")),
            Some(&format!(
                "renew them now: `qvca renew --expiring-within {warn_days}`{on_nodes}"
            )),
        );
    } else {
        checks.ok(
            "expiry",
            format!("no current certificate expires within {warn_days} days"),
        );
    }
}

/// `license-service-export`: the files the last export wrote still hold the current root,
/// the current Server certificate of its machine and that certificate's key (owner-only).
fn check_export(ca: &Ca, checks: &mut Checks) {
    let Some(record) = &ca.index().license_service_export else {
        check_never_exported(ca, checks);
        return;
    };
    let dir = Path::new(&record.dir);
    let mut stale = Vec::new();
    if !exported_root_is_current(ca, dir) {
        stale.push("root.pem is not the current root".to_owned());
    }
    let exported_server = std::fs::read(dir.join("server.pem"))
        .ok()
        .and_then(|pem| parse_one_certificate(&pem, dir).ok());
    match (
        ca.index().current(CertKind::Server, &record.machine),
        &exported_server,
    ) {
        (Some(current), Some(exported))
            if hex::encode_upper(Sha256::digest(exported.as_ref())) == current.sha256 => {}
        (None, _) => stale.push(format!(
            "{} has no current Server certificate",
            record.machine
        )),
        _ => stale.push(format!(
            "server.pem is not the current Server certificate of {}",
            record.machine
        )),
    }
    stale.extend(exported_key_problems(dir, exported_server.as_deref()));
    if stale.is_empty() {
        checks.ok(
            "license-service-export",
            format!(
                "{} holds the current root and the Server certificate of {}",
                dir.display(),
                record.machine
            ),
        );
    } else {
        checks.add(
            "license-service-export",
            CheckStatus::Problem,
            format!("{}: {}", dir.display(), stale.join("; ")),
            Some("run `qvca export license-service`, then restart the QMS before the Qlik License Service"),
        );
    }
}

/// `license-service-export` of a CA that never exported: a warning once there is a Server
/// certificate whose key the CA holds.
fn check_never_exported(ca: &Ca, checks: &mut Checks) {
    let has_server = ca
        .index()
        .current_entries()
        .iter()
        .any(|e| e.kind == CertKind::Server && !e.keyless);
    if has_server {
        checks.add(
            "license-service-export",
            CheckStatus::Warning,
            "the license-service files were never exported".into(),
            Some("run `qvca export license-service`, then restart the QMS before the Qlik License Service"),
        );
    } else {
        checks.ok(
            "license-service-export",
            "nothing to export yet (no Server certificate whose key the CA holds)",
        );
    }
}

/// True when `root.pem` in the export directory is the CA's current root.
fn exported_root_is_current(ca: &Ca, dir: &Path) -> bool {
    std::fs::read(dir.join("root.pem"))
        .ok()
        .and_then(|pem| parse_one_certificate(&pem, dir).ok())
        .zip(ca.root_der().ok())
        .is_some_and(|(exported, current)| exported == current)
}

/// What is wrong with `server_key.pem` in the export directory: missing, not the key of the
/// exported `server.pem` (`server`, DER), or readable by other users.
fn exported_key_problems(dir: &Path, server: Option<&[u8]>) -> Vec<String> {
    let key_path = dir.join("server_key.pem");
    let (Ok(pem), Some(server)) = (std::fs::read(&key_path), server) else {
        return vec!["server_key.pem is missing".to_owned()];
    };
    let mut problems = Vec::new();
    let matches = der::pem::decode_vec(&pem).ok().is_some_and(|(_, der)| {
        CertificateDetails::from_der(server).is_ok_and(|d| {
            crate::pki::pkcs12::key_matches(
                &crate::domain::secret::SecretBytes::new(der),
                &d.spki_der,
            )
        })
    });
    if !matches {
        problems.push("server_key.pem does not belong to server.pem".to_owned());
    }
    if readable_by_others(&key_path) {
        problems.push("server_key.pem is readable by other users".to_owned());
    }
    problems
}

/// `crl`: the CA's last CRL ([`crate::ops::revocation::read_ca_crl`], the file the index
/// records) is readable, not near or past its nextUpdate, and lists every live revocation.
fn check_crl(ca: &Ca, now: OffsetDateTime, checks: &mut Checks) {
    let revoked_live = ca.index().listed_on_crl(now);
    let Some(record) = &ca.index().last_crl else {
        check_no_crl(&revoked_live, checks);
        return;
    };
    let path = Path::new(&record.path);
    let Some(details) = read_ca_crl(ca).ok().flatten().map(|crl| crl.details) else {
        checks.add(
            "crl",
            CheckStatus::Problem,
            format!("the CRL {} is missing or unreadable", path.display()),
            Some("run `qvca crl`"),
        );
        return;
    };
    let next = details.next_update.unwrap_or(record.next_update);
    let period = next - details.this_update;
    let margin: Duration = (period / 3_i32)
        .max(Duration::days(1))
        .min(Duration::days(7));
    let listed: HashSet<String> = details.revoked.iter().map(|r| r.serial.clone()).collect();
    let missing: Vec<String> = revoked_live
        .iter()
        .filter(|e| !listed.contains(&e.serial.to_hex()))
        .map(|e| format!("{} ({})", e.name, e.serial))
        .collect();
    if next <= now {
        checks.add(
            "crl",
            CheckStatus::Problem,
            format!("the CRL {} expired on {} (nextUpdate): services that check it reject every certificate", path.display(), crate::ops::issue::date(next)),
            Some("run `qvca crl` now, and daily from cron"),
        );
    } else if next - now <= margin {
        checks.add(
            "crl",
            CheckStatus::Warning,
            format!(
                "the CRL {} reaches its nextUpdate on {}",
                path.display(),
                crate::ops::issue::date(next)
            ),
            Some("run `qvca crl` (daily from cron keeps it fresh)"),
        );
    } else if !missing.is_empty() {
        checks.add(
            "crl",
            CheckStatus::Warning,
            format!("revoked after the last CRL: {}", missing.join(", ")),
            Some("run `qvca crl` and publish it"),
        );
    } else {
        checks.ok(
            "crl",
            format!(
                "CRL number {} is current until {}",
                record.number,
                crate::ops::issue::date(next)
            ),
        );
    }
}

/// `crl` of a CA that never wrote one: a warning once something is revoked.
fn check_no_crl(revoked_live: &[&Entry], checks: &mut Checks) {
    if revoked_live.is_empty() {
        checks.ok("crl", "no CRL yet, and nothing is revoked");
    } else {
        checks.add(
            "crl",
            CheckStatus::Warning,
            format!(
                "{} certificate(s) are revoked but no CRL was ever written",
                revoked_live.len()
            ),
            Some("run `qvca crl` and publish the CRL where the services read it"),
        );
    }
}
