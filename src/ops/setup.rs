//! `setup`: the QMS first start in one idempotent step. Creates the root if there is none,
//! a Server certificate for each machine and the QVProxy Client certificate unless valid ones
//! exist, then writes the license-service export. Re-running changes nothing that is still valid.

use crate::domain::kind::CertKind;
use crate::domain::name::{CommonName, DEFAULT_CLIENT_NAME, MachineName};
use crate::domain::secret::Password;
use crate::error::Result;
use crate::ops::ca::{Ca, LockedCa, RootSigner};
use crate::ops::export::{LicenseServiceExport, export_license_service};
use crate::ops::hsm::TokenAccess;
use crate::ops::init::{InitReport, InitRequest, init};
use crate::ops::issue::{IssueOptions, IssueOutcome, LeafRequest, issue_batch};
use crate::pki::key::KeyProtector;
use crate::pki::profile::Profile;
use crate::store::Store;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Which password a step needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordUse {
    /// A password for a new CA (asked twice on a terminal).
    NewCa,
    /// The password of the existing CA.
    Unlock,
}

/// What `setup` should do.
#[derive(Debug, Clone)]
pub struct SetupRequest {
    /// The machines that get Server certificates (at least one).
    pub machines: Vec<MachineName>,
    /// Store keys unencrypted if a new CA is created (labs only).
    pub no_password: bool,
    /// Key generation threads.
    pub jobs: usize,
    /// Where to write the license-service export (None: the platform default).
    pub export_dir: Option<PathBuf>,
}

/// What `setup` did.
#[derive(Debug, Clone, Serialize)]
pub struct SetupReport {
    /// The CA directory.
    pub ca_dir: PathBuf,
    /// The root created now, if there was none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_root: Option<InitReport>,
    /// One outcome per Server certificate and one for the Client certificate.
    pub certificates: Vec<IssueOutcome>,
    /// The license-service export.
    pub license_service_export: LicenseServiceExport,
}

/// Runs the QMS first start against the CA in `dir`.
pub fn setup(
    dir: &Path,
    request: &SetupRequest,
    password: &dyn Fn(PasswordUse) -> Result<Password>,
    progress: &mut dyn FnMut(&IssueOutcome),
) -> Result<SetupReport> {
    setup_with(dir, request, password, None, progress)
}

/// Like [`setup`]; when the existing CA's root key lives in a PKCS#11 token, `token` says how
/// to reach it ([`crate::ops::ca::Ca::unlock_with`]).
pub fn setup_with(
    dir: &Path,
    request: &SetupRequest,
    password: &dyn Fn(PasswordUse) -> Result<Password>,
    token: Option<&TokenAccess<'_>>,
    progress: &mut dyn FnMut(&IssueOutcome),
) -> Result<SetupReport> {
    let (created_root, new_password) = create_root_if_missing(dir, request, password)?;

    let mut ca = Ca::open_for_update(dir)?;
    let signer = ca.unlock_with(
        &|| match &new_password {
            Some(p) => Ok(p.clone()),
            None => password(PasswordUse::Unlock),
        },
        token,
    )?;

    ca.set_operation_label("setup");
    let certificates = issue_missing(&mut ca, &signer, request, progress)?;

    let machine = request.machines.first().map(|m| m.as_str().to_owned());
    let license_service_export = export_license_service(
        &mut ca,
        &signer,
        machine.as_deref(),
        request.export_dir.as_deref(),
    )?;

    Ok(SetupReport {
        ca_dir: dir.to_owned(),
        created_root,
        certificates,
        license_service_export,
    })
}

/// Creates the root with the built-in profile when `dir` holds no CA: returns what `init` did
/// and the password chosen for the new CA (so it is not asked again to unlock it).
fn create_root_if_missing(
    dir: &Path,
    request: &SetupRequest,
    password: &dyn Fn(PasswordUse) -> Result<Password>,
) -> Result<(Option<InitReport>, Option<Password>)> {
    if Store::at(dir).has_ca() {
        return Ok((None, None));
    }
    let mut new_password = None;
    let protector = if request.no_password {
        KeyProtector::unprotected()
    } else {
        let chosen = password(PasswordUse::NewCa)?;
        new_password = Some(chosen.clone());
        KeyProtector::encrypted(chosen)
    };
    let created = init(
        dir,
        InitRequest {
            profile: Profile::builtin(CertKind::Root),
            common_name: None,
            key_type: None,
            days: None,
            protector,
            force: false,
        },
    );
    match created {
        Ok(report) => Ok((Some(report), new_password)),
        // Another setup created the CA while this one waited for the lock: carry on
        // with it, as a re-run would.
        Err(e) if e.kind() == crate::error::ErrorKind::Refused && Store::at(dir).has_ca() => {
            Ok((None, new_password))
        }
        Err(e) => Err(e),
    }
}

/// Issues a Server certificate for each machine and the QVProxy Client certificate, keeping
/// the valid ones that exist: one outcome each.
fn issue_missing(
    ca: &mut LockedCa,
    signer: &RootSigner,
    request: &SetupRequest,
    progress: &mut dyn FnMut(&IssueOutcome),
) -> Result<Vec<IssueOutcome>> {
    let servers: Vec<LeafRequest> = request.machines.iter().map(LeafRequest::server).collect();
    let mut certificates = issue_batch(
        ca,
        signer,
        &servers,
        &builtin_options(CertKind::Server, request.jobs),
        progress,
    )?;
    let client = LeafRequest::client(&CommonName::parse(DEFAULT_CLIENT_NAME)?);
    certificates.extend(issue_batch(
        ca,
        signer,
        std::slice::from_ref(&client),
        &builtin_options(CertKind::Client, 1),
        progress,
    )?);
    Ok(certificates)
}

/// The built-in profile of `kind` with its own key type and validity, keeping valid
/// certificates.
fn builtin_options(kind: CertKind, jobs: usize) -> IssueOptions {
    IssueOptions {
        profile: Profile::builtin(kind),
        key_type: None,
        days: None,
        force: false,
        jobs,
    }
}
