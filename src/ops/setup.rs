//! `setup`: the QMS first start in one idempotent step. Creates the root if there is none,
//! a Server certificate for each machine and the QVProxy Client certificate unless valid ones
//! exist, then writes the license-service export. Re-running changes nothing that is still valid.

use crate::domain::kind::CertKind;
use crate::domain::name::{CommonName, DEFAULT_CLIENT_NAME, MachineName};
use crate::domain::secret::Password;
use crate::error::Result;
use crate::ops::ca::Ca;
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
    let store = Store::at(dir);
    let mut new_password = None;
    let created_root = if store.has_ca() {
        None
    } else {
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
            Ok(report) => Some(report),
            // Another setup created the CA while this one waited for the lock: carry on
            // with it, as a re-run would.
            Err(e) if e.kind() == crate::error::ErrorKind::Refused && store.has_ca() => None,
            Err(e) => return Err(e),
        }
    };

    let mut ca = Ca::open_for_update(dir)?;
    let signer = ca.unlock_with(
        &|| match &new_password {
            Some(p) => Ok(p.clone()),
            None => password(PasswordUse::Unlock),
        },
        token,
    )?;

    ca.set_operation_label("setup");
    let servers: Vec<LeafRequest> = request.machines.iter().map(LeafRequest::server).collect();
    let mut certificates = issue_batch(
        &mut ca,
        &signer,
        &servers,
        &IssueOptions {
            profile: Profile::builtin(CertKind::Server),
            key_type: None,
            days: None,
            force: false,
            jobs: request.jobs,
        },
        progress,
    )?;
    let client = LeafRequest::client(&CommonName::parse(DEFAULT_CLIENT_NAME)?);
    certificates.extend(issue_batch(
        &mut ca,
        &signer,
        std::slice::from_ref(&client),
        &IssueOptions {
            profile: Profile::builtin(CertKind::Client),
            key_type: None,
            days: None,
            force: false,
            jobs: 1,
        },
        progress,
    )?);

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
