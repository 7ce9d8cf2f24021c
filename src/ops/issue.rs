//! Issuing Server and Client certificates: building the X.509 parameters from a profile,
//! generating keys in parallel, signing with the root, and committing the batch to the store
//! in one index update.
//!
//! A batch checks everything it can before the first key is made (the validity against the
//! root's expiry, existing certificates), then reports one outcome per name: issued, kept
//! (a valid certificate exists and `--force` was not given) or failed.

use crate::domain::kind::CertKind;
use crate::domain::name::{CommonName, MachineName, same_name};
use crate::domain::secret::SecretBytes;
use crate::domain::serial::Serial;
use crate::error::{Error, Result};
use crate::ops::ca::{Ca, RootSigner};
use crate::pki::certificate::{CertificateDetails, to_pem};
use crate::pki::key::KeyType;
use crate::pki::profile::Profile;
use crate::store::{Durability, Entry};
use rcgen::{CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, SanType};
use serde::Serialize;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use time::{Duration, OffsetDateTime};

/// Certificates start this long before they are issued, so that nodes whose clocks run a
/// little behind the QMS accept them at once.
pub const BACKDATE: Duration = Duration::minutes(10);

/// Where the key of a new certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The CA generates the key and keeps it, sealed, in the store.
    Generate,
    /// The key lives on the node (keyless enrolment, `qvca sign`): the CA certifies this public
    /// key (SubjectPublicKeyInfo DER, from a checked request) and never holds the private key.
    Node {
        /// The public key, exactly as the request carries it.
        spki_der: Vec<u8>,
    },
}

/// Whom a leaf certificate is issued to: its kind with the checked name of that kind, so a
/// request cannot carry a name its kind's rule would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeafName {
    /// A Server certificate for a machine: CN and SAN dNSName are the machine name.
    Server(MachineName),
    /// A Client certificate with this common name (`QVProxy` by default).
    Client(CommonName),
}

impl LeafName {
    /// Server or Client.
    pub fn kind(&self) -> CertKind {
        match self {
            LeafName::Server(_) => CertKind::Server,
            LeafName::Client(_) => CertKind::Client,
        }
    }

    /// The name as given (the certificate's common name).
    pub fn as_str(&self) -> &str {
        match self {
            LeafName::Server(machine) => machine.as_str(),
            LeafName::Client(name) => name.as_str(),
        }
    }

    /// The SAN dNSName: a Server's machine name; a Client has none.
    pub fn dns_name(&self) -> Option<&str> {
        match self {
            LeafName::Server(machine) => Some(machine.as_str()),
            LeafName::Client(_) => None,
        }
    }
}

/// What to issue: one certificate of a kind to a name, under a profile.
#[derive(Debug, Clone)]
pub struct LeafRequest {
    /// Whom it is issued to: Server or Client, with the checked name.
    pub name: LeafName,
    /// This certificate's key type, overriding the batch's (renewal keeps each one's own).
    pub key_type: Option<KeyType>,
    /// A key the CA generates, or the node's public key.
    pub key_source: KeySource,
}

impl LeafRequest {
    /// A Server certificate for a machine: CN and SAN dNSName are the machine name.
    pub fn server(machine: &MachineName) -> Self {
        Self::to(LeafName::Server(machine.clone()))
    }

    /// A Client certificate with this common name.
    pub fn client(name: &CommonName) -> Self {
        Self::to(LeafName::Client(name.clone()))
    }

    /// A request for `name` with a key the CA generates (the batch's key type).
    fn to(name: LeafName) -> Self {
        Self {
            name,
            key_type: None,
            key_source: KeySource::Generate,
        }
    }

    /// Server or Client.
    pub fn kind(&self) -> CertKind {
        self.name.kind()
    }

    /// The same request for a key that lives on the node: the certificate certifies
    /// `spki_der` (of `key_type`) and the CA keeps no key for it.
    pub fn with_node_key(mut self, spki_der: Vec<u8>, key_type: KeyType) -> Self {
        self.key_type = Some(key_type);
        self.key_source = KeySource::Node { spki_der };
        self
    }

    /// The outcome of this request.
    fn outcome(&self, result: OutcomeKind) -> IssueOutcome {
        IssueOutcome {
            name: self.name.as_str().to_owned(),
            kind: self.kind(),
            result,
        }
    }
}

/// Choices that apply to a whole batch.
#[derive(Debug, Clone)]
pub struct IssueOptions {
    /// The profile (built in or `--template`).
    pub profile: Profile,
    /// `--key-type`, else the profile's.
    pub key_type: Option<KeyType>,
    /// `--days`, else the profile's.
    pub days: Option<u32>,
    /// Replace valid certificates (`--force`).
    pub force: bool,
    /// Worker threads for key generation (`--jobs`).
    pub jobs: usize,
}

/// What happened to one requested name.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IssueOutcome {
    /// The name as requested.
    pub name: String,
    /// Server or Client.
    pub kind: CertKind,
    /// The outcome.
    #[serde(flatten)]
    pub result: OutcomeKind,
}

/// The outcome of one name in a batch.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum OutcomeKind {
    /// A new certificate was issued.
    Issued {
        /// Its serial.
        serial: Serial,
        /// Its end of validity.
        #[serde(with = "time::serde::rfc3339")]
        not_after: OffsetDateTime,
        /// The certificate it supersedes, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        supersedes: Option<Serial>,
    },
    /// A valid certificate exists and was kept (use `--force` to replace it).
    Kept {
        /// The existing certificate's serial.
        serial: Serial,
        /// Its end of validity.
        #[serde(with = "time::serde::rfc3339")]
        not_after: OffsetDateTime,
    },
    /// Issuing failed for this name.
    Failed {
        /// What went wrong.
        message: String,
    },
}

impl IssueOutcome {
    /// True when a new certificate was issued.
    pub fn is_issued(&self) -> bool {
        matches!(self.result, OutcomeKind::Issued { .. })
    }
}

/// Builds the subject DN from a common name and the profile's optional fields.
fn distinguished_name(common_name: &str, profile: &Profile) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    let fields = &profile.subject;
    let optional = [
        (DnType::CountryName, &fields.country),
        (DnType::StateOrProvinceName, &fields.state),
        (DnType::LocalityName, &fields.locality),
        (DnType::OrganizationName, &fields.organization),
        (DnType::OrganizationalUnitName, &fields.organizational_unit),
    ];
    for (ty, value) in optional {
        if let Some(v) = value {
            dn.push(ty, v.as_str());
        }
    }
    dn.push(DnType::CommonName, common_name);
    dn
}

/// Sets the key usages (fitted to the key type) and EKUs of a profile.
fn apply_usages(params: &mut CertificateParams, profile: &Profile, key_type: KeyType) {
    params.key_usages = profile
        .key_usage_for(key_type)
        .iter()
        .map(|u| u.to_rcgen())
        .collect();
    params.extended_key_usages = profile
        .extended_key_usage
        .iter()
        .map(|u| u.to_rcgen())
        .collect();
}

/// The parameters of a root certificate.
pub fn root_params(
    profile: &Profile,
    common_name: &str,
    key_type: KeyType,
    days: u32,
    serial: &Serial,
    now: OffsetDateTime,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(common_name, profile);
    params.serial_number = Some(rcgen::SerialNumber::from_slice(serial.as_bytes()));
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(i64::from(days));
    // pathLenConstraint 0: the root signs only leaves, never another CA.
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    apply_usages(&mut params, profile, key_type);
    params.key_identifier_method = rcgen::KeyIdMethod::Sha256;
    params
}

/// The parameters of a leaf (Server or Client) certificate.
pub fn leaf_params(
    request: &LeafRequest,
    profile: &Profile,
    key_type: KeyType,
    validity: (OffsetDateTime, OffsetDateTime),
    serial: &Serial,
) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(request.name.as_str(), profile);
    if let Some(dns) = request.name.dns_name() {
        let name = dns
            .to_owned()
            .try_into()
            .map_err(|e| Error::failed(format!("{dns:?} cannot be a DNS name: {e}")))?;
        params.subject_alt_names = vec![SanType::DnsName(name)];
    }
    params.serial_number = Some(rcgen::SerialNumber::from_slice(serial.as_bytes()));
    (params.not_before, params.not_after) = validity;
    params.is_ca = IsCa::ExplicitNoCa;
    apply_usages(&mut params, profile, key_type);
    if !profile.crl_distribution_points.is_empty() {
        params.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
            uris: profile.crl_distribution_points.clone(),
        }];
    }
    if !profile.authority_info_access_ca_issuers.is_empty() {
        params.custom_extensions.push(authority_info_access(
            &profile.authority_info_access_ca_issuers,
        )?);
    }
    params.use_authority_key_identifier_extension = true;
    params.key_identifier_method = rcgen::KeyIdMethod::Sha256;
    Ok(params)
}

/// The authority information access extension (RFC 5280 4.2.2.1, not critical) with one
/// caIssuers access description per URL.
fn authority_info_access(urls: &[String]) -> Result<rcgen::CustomExtension> {
    use der::Encode;
    use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax, name::GeneralName};
    let mut descriptions = Vec::new();
    for url in urls {
        let location = der::asn1::Ia5String::new(url)
            .map_err(|e| Error::failed(format!("{url:?} cannot be put into a certificate: {e}")))?;
        descriptions.push(AccessDescription {
            access_method: const_oid::db::rfc5280::ID_AD_CA_ISSUERS,
            access_location: GeneralName::UniformResourceIdentifier(location),
        });
    }
    let content = AuthorityInfoAccessSyntax(descriptions)
        .to_der()
        .map_err(|e| {
            Error::failed(format!(
                "cannot encode the authority information access: {e}"
            ))
        })?;
    // id-pe-authorityInfoAccess, 1.3.6.1.5.5.7.1.1.
    Ok(rcgen::CustomExtension::from_oid_content(
        &[1, 3, 6, 1, 5, 5, 7, 1, 1],
        content,
    ))
}

/// The validity of a leaf issued now for `days`, refused (never truncated) when it would end
/// after the root.
pub fn leaf_validity(
    days: u32,
    now: OffsetDateTime,
    root: &CertificateDetails,
) -> Result<(OffsetDateTime, OffsetDateTime)> {
    let not_after = now + Duration::days(i64::from(days));
    if not_after > root.not_after {
        let max_days = (root.not_after - now).whole_days();
        let advice = if max_days >= 1 {
            format!(
                "issue it with --days {max_days} or less, or renew the root first (`qvca renew QlikViewCA --root`)"
            )
        } else {
            "renew the root first (`qvca renew QlikViewCA --root`)".to_owned()
        };
        return Err(Error::failed(format!(
            "refusing a {days}-day certificate: it would end on {}, after the root {} expires on \
             {}; {advice}",
            date(not_after),
            root.subject_cn.as_deref().unwrap_or("root"),
            date(root.not_after)
        )));
    }
    Ok((now - BACKDATE, not_after))
}

/// A calendar date for messages (YYYY-MM-DD).
pub fn date(t: OffsetDateTime) -> String {
    let d = t.date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// One signed certificate with its sealed key (none when the key lives on the node), ready to
/// be written.
struct Signed {
    serial: Serial,
    cert_pem: String,
    sealed_key: Option<SecretBytes>,
    details: CertificateDetails,
    key_type: KeyType,
}

/// Signs a certificate for the request's key (generating and sealing one unless it lives on
/// the node): the work of one worker.
fn make_one(
    request: &LeafRequest,
    options: &IssueOptions,
    key_type: KeyType,
    validity: (OffsetDateTime, OffsetDateTime),
    serial: &Serial,
    signer: &RootSigner,
) -> Result<Signed> {
    let params = leaf_params(request, &options.profile, key_type, validity, serial)?;
    let signing_failed = |e: rcgen::Error| {
        Error::failed(format!(
            "signing the certificate for {} failed: {}",
            request.name.as_str(),
            crate::pki::signer::signing_failure(&e)
        ))
    };
    let (der, sealed_key) = match &request.key_source {
        KeySource::Generate => {
            let key: KeyPair = key_type.generate()?;
            let cert = params
                .signed_by(&key, signer.issuer())
                .map_err(signing_failed)?;
            let pkcs8 = crate::pki::key::pkcs8_der(&key);
            let sealed_key = signer.protector().seal(pkcs8.expose())?;
            (cert.der().to_vec(), Some(sealed_key))
        }
        KeySource::Node { spki_der } => {
            let public_key = rcgen::SubjectPublicKeyInfo::from_der(spki_der).map_err(|e| {
                Error::failed(format!(
                    "the public key for {} cannot be certified: {e}",
                    request.name.as_str()
                ))
            })?;
            let cert = params
                .signed_by(&public_key, signer.issuer())
                .map_err(signing_failed)?;
            (cert.der().to_vec(), None)
        }
    };
    let details = CertificateDetails::from_der(&der)?;
    if let KeySource::Node { spki_der } = &request.key_source
        && &details.spki_der != spki_der
    {
        return Err(Error::failed(format!(
            "the certificate for {} would not carry the requested public key exactly (its \
             encoding is unusual); make the request again with certreq or openssl",
            request.name.as_str()
        )));
    }
    Ok(Signed {
        serial: serial.clone(),
        cert_pem: to_pem("CERTIFICATE", &der),
        sealed_key,
        details,
        key_type,
    })
}

/// The "kept" outcome of a request whose valid certificate exists (and `--force` was not given).
fn kept_outcome(
    ca: &Ca,
    request: &LeafRequest,
    options: &IssueOptions,
    now: OffsetDateTime,
) -> Option<IssueOutcome> {
    let entry = ca.index().current(request.kind(), request.name.as_str())?;
    (entry.is_usable_at(now) && !options.force).then(|| {
        request.outcome(OutcomeKind::Kept {
            serial: entry.serial.clone(),
            not_after: entry.not_after,
        })
    })
}

/// What a `--dry-run` reports for one certificate: what would happen, nothing written.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedAction {
    /// `issue` (new), `replace` (`--force` over a valid one, or renew), `keep`, `revoke`.
    pub action: &'static str,
    /// Root, Server or Client.
    pub kind: CertKind,
    /// Issued To.
    pub name: String,
    /// The current certificate concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<Serial>,
}

impl PlannedAction {
    /// The plan for an existing certificate.
    pub fn for_entry(action: &'static str, entry: &Entry) -> Self {
        Self {
            action,
            kind: entry.kind,
            name: entry.name.clone(),
            serial: Some(entry.serial.clone()),
        }
    }
}

/// What `issue` would do with `requests`, decided from the index alone (a `--dry-run`).
pub fn plan_issue(ca: &Ca, requests: &[LeafRequest], options: &IssueOptions) -> Vec<PlannedAction> {
    let now = OffsetDateTime::now_utc();
    requests
        .iter()
        .map(|request| {
            let current = ca.index().current(request.kind(), request.name.as_str());
            let action = match (kept_outcome(ca, request, options, now), current) {
                (Some(_), _) => "keep",
                (None, Some(_)) => "replace",
                (None, None) => "issue",
            };
            PlannedAction {
                action,
                kind: request.kind(),
                name: request.name.as_str().to_owned(),
                serial: current.map(|e| e.serial.clone()),
            }
        })
        .collect()
}

/// When every request would be kept, their outcomes: decided from the index alone, so a re-run
/// that changes nothing needs no CA password.
pub fn all_kept(
    ca: &Ca,
    requests: &[LeafRequest],
    options: &IssueOptions,
) -> Option<Vec<IssueOutcome>> {
    let now = OffsetDateTime::now_utc();
    requests
        .iter()
        .map(|request| kept_outcome(ca, request, options, now))
        .collect()
}

/// Issues certificates for `requests` in one batch and commits them with one index update.
///
/// `progress` is called once per name as its outcome becomes known. Fails as a whole (nothing
/// issued) when the validity would outlive the root or the store cannot be written.
pub fn issue_batch(
    ca: &mut crate::ops::ca::LockedCa,
    signer: &RootSigner,
    requests: &[LeafRequest],
    options: &IssueOptions,
    progress: &mut dyn FnMut(&IssueOutcome),
) -> Result<Vec<IssueOutcome>> {
    let now = OffsetDateTime::now_utc();
    check_requests(ca, requests)?;
    let key_type = options.key_type.unwrap_or(options.profile.key_type);
    let days = options.days.unwrap_or(options.profile.validity_days);
    let validity = leaf_validity(days, now, signer.root())?;

    let mut outcomes: Vec<Option<IssueOutcome>> = vec![None; requests.len()];
    let mut report = |position: usize, result: OutcomeKind| {
        let outcome = requests[position].outcome(result);
        progress(&outcome);
        outcomes[position] = Some(outcome);
    };
    let plan = BatchPlan {
        requests,
        work: plan_work(ca, requests, options, now, &mut report),
        options,
        key_type,
        validity,
    };
    let written = generate_and_write(ca, signer, &plan, &mut report)?;
    commit_issued(ca, written)?;
    Ok(outcomes.into_iter().flatten().collect())
}

/// One certificate a batch makes: the position of its request, the serial it gets and the
/// certificate it replaces.
struct Work {
    position: usize,
    serial: Serial,
    replaces: Option<Serial>,
}

/// What a batch makes, decided before the first key is generated.
struct BatchPlan<'a> {
    requests: &'a [LeafRequest],
    work: Vec<Work>,
    options: &'a IssueOptions,
    key_type: KeyType,
    validity: (OffsetDateTime, OffsetDateTime),
}

/// The certificates to make: each request once (repeats of a name dropped), except those whose
/// valid certificate is kept (reported at once); each gets a fresh serial.
fn plan_work(
    ca: &Ca,
    requests: &[LeafRequest],
    options: &IssueOptions,
    now: OffsetDateTime,
    report: &mut dyn FnMut(usize, OutcomeKind),
) -> Vec<Work> {
    let mut pending: Vec<(usize, Option<Serial>)> = Vec::new();
    let mut seen = HashSet::new();
    for (position, request) in requests.iter().enumerate() {
        if !seen.insert((request.kind(), request.name.as_str().to_ascii_lowercase())) {
            continue;
        }
        match kept_outcome(ca, request, options, now) {
            Some(outcome) => report(position, outcome.result),
            None => {
                let existing = ca.index().current(request.kind(), request.name.as_str());
                pending.push((position, existing.map(|e| e.serial.clone())));
            }
        }
    }
    let serials = ca.index().fresh_serials(pending.len());
    pending
        .into_iter()
        .zip(serials)
        .map(|((position, replaces), serial)| Work {
            position,
            serial,
            replaces,
        })
        .collect()
}

/// Commits the written certificates in one index update (after making their files durable):
/// each new entry, the ones they supersede, and one log record naming them all.
fn commit_issued(
    ca: &mut crate::ops::ca::LockedCa,
    written: Vec<(Option<Serial>, Entry)>,
) -> Result<()> {
    if written.is_empty() {
        return Ok(());
    }
    let serials: Vec<Serial> = written.iter().map(|(_, e)| e.serial.clone()).collect();
    ca.store().sync_batch(&serials)?;
    let command = match ca.operation_label() {
        Some(label) => label.to_owned(),
        None => issue_command(&written),
    };
    let mut op = crate::store::oplog::Operation::new(command);
    for (_, entry) in &written {
        op.add_certificate(&entry.serial, &entry.name);
    }
    for (replaced, entry) in written {
        let serial = entry.serial.clone();
        ca.index_mut().certificates.push(entry);
        if let Some(old) = replaced {
            ca.supersede(&old, &serial);
        }
    }
    ca.commit(&op)
}

/// The command a batch is logged under: `issue server` or `issue client` when it issued one
/// kind, else `issue`.
fn issue_command(written: &[(Option<Serial>, Entry)]) -> String {
    let mut kinds: Vec<&str> = written.iter().map(|(_, e)| e.kind.command()).collect();
    kinds.dedup();
    match kinds.as_slice() {
        [one] => format!("issue {one}"),
        _ => "issue".to_owned(),
    }
}

/// Refuses the whole batch when a Server or Client would be named like the root: Windows lists
/// them side by side, and `revoke`, `show` and `export` could not tell them apart. (That each
/// name passes the rule of its kind, the request's [`LeafName`] guarantees.)
fn check_requests(ca: &Ca, requests: &[LeafRequest]) -> Result<()> {
    let root = &ca.index().settings.root_cn;
    let clashing: Vec<String> = requests
        .iter()
        .filter(|r| same_name(r.name.as_str(), root))
        .map(|r| format!("{} {:?}", r.kind().description(), r.name.as_str()))
        .collect();
    if clashing.is_empty() {
        return Ok(());
    }
    Err(Error::failed(format!(
        "nothing was issued: {} would be named like the root {root:?}; a Server or Client \
         certificate cannot share the root's name (compared without case): choose another name",
        clashing.join(", ")
    )))
}

/// Runs the workers and writes each signed certificate as it arrives; returns the entries to
/// commit with the serial each replaces.
fn generate_and_write(
    ca: &Ca,
    signer: &RootSigner,
    plan: &BatchPlan<'_>,
    report: &mut dyn FnMut(usize, OutcomeKind),
) -> Result<Vec<(Option<Serial>, Entry)>> {
    let produce = |i: usize| {
        let work = &plan.work[i];
        let request = &plan.requests[work.position];
        let key_type = request.key_type.unwrap_or(plan.key_type);
        make_one(
            request,
            plan.options,
            key_type,
            plan.validity,
            &work.serial,
            signer,
        )
    };
    let mut written = Vec::with_capacity(plan.work.len());
    let mut consume = |i: usize, signed: Result<Signed>| -> Result<()> {
        let work = &plan.work[i];
        match signed {
            Ok(signed) => {
                let entry = write_signed(ca, &plan.requests[work.position], signed)?;
                report(
                    work.position,
                    OutcomeKind::Issued {
                        serial: work.serial.clone(),
                        not_after: entry.not_after,
                        supersedes: work.replaces.clone(),
                    },
                );
                written.push((i, work.replaces.clone(), entry));
            }
            Err(e) => report(
                work.position,
                OutcomeKind::Failed {
                    message: e.message().to_owned(),
                },
            ),
        }
        Ok(())
    };
    let jobs = plan.options.jobs.clamp(1, plan.work.len().max(1));
    run_workers(plan.work.len(), jobs, &produce, &mut consume)?;
    // Workers finish in any order; the index and the operations log list the batch in the
    // order it was asked for, so the same command always records the same thing.
    written.sort_by_key(|(i, _, _)| *i);
    Ok(written
        .into_iter()
        .map(|(_, replaces, entry)| (replaces, entry))
        .collect())
}

/// Writes a signed certificate (and its sealed key, unless the key lives on the node) to the
/// store, not yet synced or committed; returns its index entry.
fn write_signed(ca: &Ca, request: &LeafRequest, signed: Signed) -> Result<Entry> {
    match &signed.sealed_key {
        Some(sealed_key) => ca.store().write_cert_and_key(
            &signed.serial,
            signed.cert_pem.as_bytes(),
            sealed_key.expose(),
            Durability::Deferred,
        )?,
        None => ca.store().write_cert(
            &signed.serial,
            signed.cert_pem.as_bytes(),
            Durability::Deferred,
        )?,
    }
    crate::store::crash_point("after-write-certificate");
    let mut entry = Entry::issued(
        request.kind(),
        request.name.as_str(),
        signed.key_type,
        &signed.details,
    );
    entry.keyless = signed.sealed_key.is_none();
    Ok(entry)
}

/// Produces items `0..count` on `jobs` worker threads and hands each to `consume` on this
/// thread as it arrives (in any order); the first error of `consume` stops the workers and is
/// returned.
fn run_workers<T: Send>(
    count: usize,
    jobs: usize,
    produce: &(dyn Fn(usize) -> T + Sync),
    consume: &mut dyn FnMut(usize, T) -> Result<()>,
) -> Result<()> {
    if jobs == 1 {
        // One worker: no thread to start and no channel to cross.
        for i in 0..count {
            consume(i, produce(i))?;
        }
        return Ok(());
    }
    let next = AtomicUsize::new(0);
    let cancelled = AtomicBool::new(false);
    let (sender, receiver) = mpsc::sync_channel::<(usize, T)>(jobs * 2);
    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..jobs {
            let sender = sender.clone();
            let (next, cancelled) = (&next, &cancelled);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count || cancelled.load(Ordering::Relaxed) {
                        break;
                    }
                    if sender.send((i, produce(i))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        for (i, item) in receiver {
            if let Err(e) = consume(i, item) {
                cancelled.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::name::FqdnPolicy;

    #[test]
    fn a_server_request_carries_its_machine_name_in_the_san_and_a_client_request_none() {
        let machine = MachineName::parse("QVS01", FqdnPolicy::Refuse).expect("machine");
        let server = LeafRequest::server(&machine);
        assert_eq!(server.kind(), CertKind::Server);
        assert_eq!(server.name.as_str(), "QVS01");
        assert_eq!(server.name.dns_name(), Some("QVS01"));
        let client = LeafRequest::client(&CommonName::parse("QVProxy").expect("name"));
        assert_eq!(client.kind(), CertKind::Client);
        assert_eq!(client.name.dns_name(), None);

        let now = OffsetDateTime::now_utc();
        let validity = (now, now + Duration::days(1));
        let serial = Serial::random();
        let params = |request: &LeafRequest| {
            let profile = Profile::builtin(request.kind());
            leaf_params(request, &profile, KeyType::P256, validity, &serial).expect("params")
        };
        assert!(matches!(
            params(&server).subject_alt_names.as_slice(),
            [SanType::DnsName(name)] if name.as_str() == "QVS01"
        ));
        assert!(params(&client).subject_alt_names.is_empty());
    }
}
