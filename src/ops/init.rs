//! Creating the QlikViewCA root: a self-signed CA certificate (basicConstraints CA:TRUE
//! critical with pathLenConstraint 0, keyCertSign + cRLSign, subject key id) and a new CA
//! directory around it.
//! Replacing an existing CA (`--force`) keeps the old one aside, never deletes it: losing a
//! root loses every secret encrypted under its SecretsKey.

use crate::domain::kind::CertKind;
use crate::domain::name::{CommonName, DEFAULT_ROOT_NAME};
use crate::domain::serial::Serial;
use crate::error::{Error, Result};
use crate::ops::ca::Ca;
use crate::ops::hsm::{TokenAccess, TokenRoot, TokenRootReport, check_key_request, make_root_key};
use crate::pki::certificate::{CertificateDetails, to_pem};
use crate::pki::key::{KeyProtector, KeyType};
use crate::pki::pkcs11::uri::Pkcs11Uri;
use crate::pki::profile::Profile;
use crate::pki::signer::RootKey;
use crate::store::staged::still_a_ca;
use crate::store::{CaLock, Durability, Entry, Index, Settings, StagedDir, Staging, Store};
use serde::Serialize;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// What `init` should create.
#[derive(Debug)]
pub struct InitRequest {
    /// The root profile (built in or `--template`).
    pub profile: Profile,
    /// `--cn`, else the profile's common name.
    pub common_name: Option<CommonName>,
    /// `--key-type`, else the profile's.
    pub key_type: Option<KeyType>,
    /// `--days`, else the profile's.
    pub days: Option<u32>,
    /// How to store keys: encrypted under the CA password, or not (`--no-password`).
    pub protector: KeyProtector,
    /// Replace an existing CA (`--force`), keeping the old one aside.
    pub force: bool,
}

/// What `init` did.
#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    /// The CA directory.
    pub ca_dir: PathBuf,
    /// The root's common name.
    pub common_name: String,
    /// The root's serial.
    pub serial: Serial,
    /// The root's key type.
    pub key_type: KeyType,
    /// The root's end of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// The root's SHA-256 fingerprint.
    pub sha256: String,
    /// False for `--no-password` CAs (labs only).
    pub password_protected: bool,
    /// Where the replaced CA was moved (with `--force`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_ca_moved_to: Option<PathBuf>,
    /// The root key in a PKCS#11 token (`init --key URI`): where, and whether it was generated
    /// or an existing key was used. Absent for a key file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_key: Option<TokenRootReport>,
}

/// The root key of `init --key URI`: the URI naming it and how to reach its token.
type InToken<'a> = Option<(&'a Pkcs11Uri, &'a TokenAccess<'a>)>;

/// Describes the CA in `dir` for a refusal or confirmation message, if there is one.
pub fn describe_existing(dir: &Path) -> Option<String> {
    let ca = Ca::open(dir).ok()?;
    let root = ca.root_entry().ok()?;
    Some(format!(
        "root {} (serial {}, expires {}) and {} issued certificate(s)",
        root.name,
        root.serial,
        crate::ops::issue::date(root.not_after),
        ca.index().certificates.len().saturating_sub(1)
    ))
}

/// Refuses (exit 3) when `dir` already holds a CA, saying what is there and what to do.
pub fn refuse_existing(dir: &Path) -> Result<()> {
    if !Store::at(dir).has_ca() {
        return Ok(());
    }
    let what = describe_existing(dir).unwrap_or_else(|| "a CA".into());
    Err(Error::refused(format!(
        "{} already holds a CA ({what}); pass --force to replace it (the old CA is kept as \
         {}.replaced-<timestamp>), or use another --ca-dir",
        dir.display(),
        dir.display()
    )))
}

/// Creates the root in `dir`. Refuses (exit 3) if a CA exists there, unless `force`; then the
/// new CA is built in a staging directory next to the old one (locked from the start) and
/// swapped in while the old CA's lock is held, and the old one is kept aside.
pub fn init(dir: &Path, request: InitRequest) -> Result<InitReport> {
    init_with(dir, request, None)
}

/// Like [`init`], with the root key in the PKCS#11 token `uri` names (`init --key URI`): the
/// key is used when it exists, else generated there (labelled with the URI's `object=`, of
/// the request's key type), and the root certificate is signed in the token. Leaf keys stay
/// files protected as the request says. The CA directory records where the key lives.
pub fn init_in_token(
    dir: &Path,
    request: InitRequest,
    uri: &Pkcs11Uri,
    access: &TokenAccess<'_>,
) -> Result<InitReport> {
    // A URI that names no key, or no module to load, is refused before the CA directory is
    // touched.
    check_key_request(uri, access)?;
    init_with(dir, request, Some((uri, access)))
}

fn init_with(dir: &Path, request: InitRequest, in_token: InToken<'_>) -> Result<InitReport> {
    let now = OffsetDateTime::now_utc();
    let dir = &crate::store::normalized(dir);
    let store = Store::at(dir);
    if store.has_ca() && !request.force {
        refuse_existing(dir)?;
    }
    // The token is reached (PIN, module, key found or generated) before the CA directory is
    // touched: a wrong PIN or an unreachable token leaves nothing behind.
    let token_root = match in_token {
        None => None,
        Some((uri, access)) => {
            let key_type = request.key_type.unwrap_or(request.profile.key_type);
            Some(make_root_key(
                uri,
                key_type,
                request.key_type.is_some(),
                access,
            )?)
        }
    };
    if !store.has_ca() {
        store.create_dirs()?;
        let lock = store.lock()?;
        // Another process may have created a CA while we waited for the lock.
        if store.has_ca() {
            return Err(Error::refused(format!(
                "{} already holds a CA (created by another qvca process just now)",
                dir.display()
            )));
        }
        return create_root(&store, &lock, &request, token_root, now);
    }
    if !request.force {
        refuse_existing(dir)?;
    }
    let _old_lock = store.lock()?;
    let staged = StagedDir::create(dir, Staging::Init)?;
    let staged_store = Store::at(staged.path());
    staged_store.create_dirs()?;
    let lock = staged
        .lock()
        .ok_or_else(|| Error::failed("internal error: the staged CA is not locked"))?;
    let mut report = create_root(&staged_store, lock, &request, token_root, now)?;
    let installed = staged.install(&|dir| still_a_ca(dir, "nothing was replaced"), now)?;
    crate::store::crash_point("init-after-swap");
    report.ca_dir = dir.clone();
    report.replaced_ca_moved_to = installed.aside.clone();
    Ok(report)
}

/// Generates the root key and certificate in `store` (held locked) and commits the new index.
fn create_root(
    store: &Store,
    lock: &CaLock,
    request: &InitRequest,
    token_root: Option<TokenRoot>,
    now: OffsetDateTime,
) -> Result<InitReport> {
    let profile = &request.profile;
    let common_name = root_common_name(request);
    let key_type = request.key_type.unwrap_or(profile.key_type);
    let days = request.days.unwrap_or(profile.validity_days);
    let serial = Serial::random();

    let (key, key_type, token_report) = match token_root {
        None => (RootKey::from_key_pair(key_type.generate()?), key_type, None),
        Some(made) => (made.key, made.key_type, Some(made.report)),
    };
    let params =
        crate::ops::issue::root_params(profile, &common_name, key_type, days, &serial, now);
    let (der, details) = self_sign_root(&params, &key)?;
    write_root(store, request, &key, &serial, &der)?;

    let mut index = Index::new(Settings {
        root_cn: common_name.clone(),
        key_protection: request.protector.protection(),
        created: now,
        root_subject: profile.subject.clone(),
        root_key: key.token_location().cloned(),
    });
    index.certificates.push(Entry::issued(
        CertKind::Root,
        &common_name,
        key_type,
        &details,
    ));
    store.save_index(
        &mut index,
        lock,
        &crate::store::oplog::Operation::new("init").with_certificate(&serial, &common_name),
    )?;

    Ok(InitReport {
        ca_dir: store.dir().to_owned(),
        common_name,
        serial,
        key_type,
        not_after: details.not_after,
        sha256: details.sha256_fingerprint,
        password_protected: request.protector.protection()
            == crate::pki::key::KeyProtection::Encrypted,
        replaced_ca_moved_to: None,
        root_key: token_report,
    })
}

/// The root's common name: `--cn`, else the profile's, else `QlikViewCA`.
fn root_common_name(request: &InitRequest) -> String {
    match &request.common_name {
        Some(cn) => cn.as_str().to_owned(),
        None => request
            .profile
            .subject
            .common_name
            .clone()
            .unwrap_or_else(|| DEFAULT_ROOT_NAME.to_owned()),
    }
}

/// The self-signed root certificate (DER and details), checked to carry the root key.
fn self_sign_root(
    params: &rcgen::CertificateParams,
    key: &RootKey,
) -> Result<(Vec<u8>, CertificateDetails)> {
    let cert = params.self_signed(key).map_err(|e| {
        Error::failed(format!(
            "self-signing the root failed: {}",
            crate::pki::signer::signing_failure(&e)
        ))
    })?;
    let der = cert.der().to_vec();
    let details = CertificateDetails::from_der(&der)?;
    key.check_matches(&details.spki_der, || {
        Error::failed("the new root certificate does not carry the root key (impossible)")
    })?;
    Ok((der, details))
}

/// Writes the root certificate and, for a software key, the key sealed under the CA password
/// (a key in a token stays there: only the certificate is written).
fn write_root(
    store: &Store,
    request: &InitRequest,
    key: &RootKey,
    serial: &Serial,
    der: &[u8],
) -> Result<()> {
    let cert_pem = to_pem("CERTIFICATE", der);
    match key.key_material() {
        Some(pkcs8) => {
            let sealed = request.protector.seal(pkcs8.expose())?;
            store.write_cert_and_key(
                serial,
                cert_pem.as_bytes(),
                sealed.expose(),
                Durability::Synced,
            )
        }
        None => store.write_cert(serial, cert_pem.as_bytes(), Durability::Synced),
    }
}
