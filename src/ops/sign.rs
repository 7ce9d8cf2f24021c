//! Keyless enrolment (`qvca sign`): the node makes its key and a PKCS#10 request, and the CA
//! signs the request with the Server or Client profile. The private key never leaves the node;
//! the certificate is recorded in the index like an issued one, marked keyless.
//!
//! The request decides only the public key. The name passes the rule of its kind as with
//! `issue` (a machine name for a Server, a common name for a Client, never the root's name);
//! subject, SAN, key usages and EKUs come from the profile and the name. What the request asked
//! for beyond that is left out and listed ([`SignReport::dropped_from_request`]); a request for
//! a CA certificate is refused outright, since a node never needs one. Issuing itself is
//! [`crate::ops::issue::issue_batch`]: the same checks, serial allocation, validity, supersession and
//! commit as every other certificate.

use crate::domain::kind::CertKind;
use crate::domain::name::{CommonName, DEFAULT_CLIENT_NAME, FqdnPolicy, MachineName};
use crate::error::{Error, Result};
use crate::ops::ca::{LockedCa, RootSigner};
use crate::ops::issue::{IssueOptions, IssueOutcome, LeafRequest, OutcomeKind, issue_batch};
use crate::pki::csr::SigningRequest;
use crate::pki::profile::Profile;

/// A request checked for signing: its name validated, ready for [`sign_request`].
#[derive(Debug, Clone)]
pub struct CheckedRequest {
    csr: SigningRequest,
    leaf: LeafRequest,
    warnings: Vec<String>,
}

impl CheckedRequest {
    /// The name the certificate will be issued to.
    pub fn name(&self) -> &str {
        self.leaf.name.as_str()
    }

    /// Server or Client.
    pub fn kind(&self) -> CertKind {
        self.leaf.kind()
    }

    /// Notes for a person (a machine name longer than NetBIOS allows).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The request.
    pub fn request(&self) -> &SigningRequest {
        &self.csr
    }
}

/// Checks that `csr` can be signed as a `kind` certificate named `name` (default: the
/// request's common name; for a Client without one, `QVProxy`). `fqdn` is `--allow-fqdn`.
pub fn check_request(
    csr: SigningRequest,
    kind: CertKind,
    name: Option<&str>,
    fqdn: FqdnPolicy,
) -> Result<CheckedRequest> {
    refuse_ca_request(&csr)?;
    let mut warnings = Vec::new();
    let leaf = leaf_for(&csr, kind, name, fqdn, &mut warnings)?;
    let leaf = leaf.with_node_key(csr.spki_der().to_vec(), csr.key_type());
    Ok(CheckedRequest {
        csr,
        leaf,
        warnings,
    })
}

/// Refuses a request for a CA certificate: a node never needs one.
fn refuse_ca_request(csr: &SigningRequest) -> Result<()> {
    if csr.asks_for_ca() {
        return Err(Error::failed(format!(
            "{} asks for a CA certificate (basicConstraints CA:TRUE); nothing was signed: qvca \
             signs only Server and Client certificates, and a node never needs a CA: make the \
             request again without basicConstraints CA:TRUE",
            csr.source()
        )));
    }
    Ok(())
}

/// The certificate to issue for `csr`: a `kind` certificate named `name` (default: the
/// request's common name; for a Client without one, `QVProxy`), the name checked by the rule
/// of its kind; a machine name longer than NetBIOS allows adds a warning.
fn leaf_for(
    csr: &SigningRequest,
    kind: CertKind,
    name: Option<&str>,
    fqdn: FqdnPolicy,
    warnings: &mut Vec<String>,
) -> Result<LeafRequest> {
    let given = name.or_else(|| csr.common_name());
    let problem = |e: Error| name_problem(csr, kind, name.is_none(), &e);
    match (kind, given) {
        (CertKind::Server, Some(given)) => {
            let machine = MachineName::parse(given, fqdn).map_err(problem)?;
            warnings.extend(machine.netbios_warning());
            Ok(LeafRequest::server(&machine))
        }
        (CertKind::Client, given) => {
            let given = given.unwrap_or(DEFAULT_CLIENT_NAME);
            Ok(LeafRequest::client(
                &CommonName::parse(given).map_err(problem)?,
            ))
        }
        (CertKind::Server, None) => Err(Error::usage(format!(
            "{} has {}: give the machine name with --name MACHINE",
            csr.source(),
            if csr.common_name_count() > 1 {
                "more than one common name"
            } else {
                "no common name that can be read"
            }
        ))),
        (CertKind::Root, _) => Err(Error::usage(
            "a request is signed as a Server or a Client certificate, never as a root",
        )),
    }
}

/// The refusal of a name that breaks the rule of `kind`; a name taken from the request's
/// common name says so and how to give another.
fn name_problem(csr: &SigningRequest, kind: CertKind, from_request: bool, e: &Error) -> Error {
    if !from_request {
        return Error::failed(format!("nothing was signed: {}", e.message()));
    }
    let option = match kind {
        CertKind::Server => "--name MACHINE",
        _ => "--name NAME",
    };
    Error::failed(format!(
        "nothing was signed: the common name of {} cannot name a {} certificate: {}; \
         give the name with {option}",
        csr.source(),
        kind.description(),
        e.message()
    ))
}

/// What `sign` did.
#[derive(Debug, Clone)]
pub struct SignReport {
    /// Issued (or kept: a valid certificate for the name exists and `force` was not given).
    pub outcome: IssueOutcome,
    /// What the request asked for that the certificate does not carry, one part each
    /// (`subjectAltName DNS:evil.example`, `extendedKeyUsage codeSigning`, `subject O=Evil`).
    pub dropped_from_request: Vec<String>,
    /// The signed certificate (PEM) when one was issued.
    pub certificate_pem: Option<String>,
}

/// Signs a checked request with the built-in profile of its kind for `days` (default: the
/// profile's) and records the certificate as keyless; with `force` a valid certificate for the
/// same name is superseded, else kept.
pub fn sign_request(
    ca: &mut LockedCa,
    signer: &RootSigner,
    request: &CheckedRequest,
    days: Option<u32>,
    force: bool,
) -> Result<SignReport> {
    let options = IssueOptions {
        profile: Profile::builtin(request.kind()),
        key_type: None,
        days,
        force,
        jobs: 1,
    };
    ca.set_operation_label("sign");
    let mut outcomes = issue_batch(
        ca,
        signer,
        std::slice::from_ref(&request.leaf),
        &options,
        &mut |_| {},
    )?;
    let outcome = outcomes
        .pop()
        .ok_or_else(|| Error::failed("internal error: signing gave no outcome"))?;
    match &outcome.result {
        OutcomeKind::Issued { serial, .. } => {
            let entry = ca.index().by_serial(serial).ok_or_else(|| {
                Error::failed("internal error: the signed certificate is not in the index")
            })?;
            let der = ca.certificate_der(entry)?;
            let dropped_from_request = request.csr.dropped_from(&der)?;
            Ok(SignReport {
                outcome,
                dropped_from_request,
                certificate_pem: Some(crate::pki::certificate::to_pem("CERTIFICATE", &der)),
            })
        }
        OutcomeKind::Kept { .. } => Ok(SignReport {
            outcome,
            dropped_from_request: Vec::new(),
            certificate_pem: None,
        }),
        OutcomeKind::Failed { message } => {
            Err(Error::failed(format!("nothing was signed: {message}")))
        }
    }
}
