//! `qvca sign REQUEST (--server | --client)`: keyless enrolment.

use super::Context;
use super::issue::{exit_code, outcome_line};
use crate::cli::SignArgs;
use qvca::Error;
use qvca::domain::kind::CertKind;
use qvca::domain::name::FqdnPolicy;
use qvca::ops::ca::Ca;
use qvca::ops::issue::{IssueOutcome, OutcomeKind};
use qvca::ops::sign::{check_request, sign_request};
use qvca::pki::csr::SigningRequest;
use qvca::store::atomic::{FileMode, refuse_existing_output, write_output};
use serde::Serialize;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The JSON shape of `sign`: `issue`'s, plus what was dropped from the request and the file.
#[derive(Serialize)]
struct SignReport<'a> {
    results: &'a [IssueOutcome],
    issued: usize,
    kept: usize,
    failed: usize,
    dropped_from_request: &'a [String],
    file: Option<&'a Path>,
}

/// Runs `sign`.
pub fn run(ctx: &Context, args: &SignArgs) -> qvca::Result<u8> {
    let kind = if args.client {
        CertKind::Client
    } else {
        CertKind::Server
    };
    let fqdn = if args.allow_fqdn {
        FqdnPolicy::Allow
    } else {
        FqdnPolicy::Refuse
    };
    let csr = SigningRequest::read(&args.request)?;
    let checked = check_request(csr, kind, args.name.as_deref(), fqdn)?;
    for warning in checked.warnings() {
        ctx.out.warn(warning);
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(qvca::domain::name::file_name(checked.name(), "cer")));
    // Before the password prompt and before anything is signed.
    refuse_existing_output(&out, args.force)?;

    let mut ca = Ca::open_for_update(&ctx.ca_dir()?)?;
    let signer = ctx.unlock(&ca)?;
    let report = sign_request(&mut ca, &signer, &checked, args.days, args.force)?;
    let file = match &report.certificate_pem {
        Some(pem) => {
            write_output(&out, pem.as_bytes(), FileMode::Public, args.force)
                .map_err(|e| not_written(&ca, &report.outcome, &out, e))?;
            Some(out.as_path())
        }
        None => None,
    };
    for part in &report.dropped_from_request {
        ctx.out.warn(&format!(
            "dropped from the request: {part} (the {} profile and the name decide what the \
             certificate carries)",
            kind.description()
        ));
    }
    let outcomes = std::slice::from_ref(&report.outcome);
    if ctx.global.quiet && !ctx.global.json && !report.outcome.is_issued() {
        ctx.out.problem(&outcome_line(&report.outcome));
    }
    let shown = SignReport {
        results: outcomes,
        issued: usize::from(report.outcome.is_issued()),
        kept: usize::from(matches!(report.outcome.result, OutcomeKind::Kept { .. })),
        failed: 0,
        dropped_from_request: &report.dropped_from_request,
        file,
    };
    ctx.out.report(&shown, |text| {
        let _ = writeln!(text, "{}", outcome_line(&report.outcome));
        if let Some(file) = file {
            let _ = writeln!(
                text,
                "wrote {} (PEM; the key stays on the node: install it there with `certreq \
                 -accept` or next to the key the request was made with)",
                file.display()
            );
        }
    });
    super::refresh_export(ctx, &mut ca, &signer);
    Ok(exit_code(outcomes))
}

/// The certificate was signed and recorded but its file could not be written: say where the
/// CA keeps it.
fn not_written(ca: &Ca, outcome: &IssueOutcome, out: &Path, e: Error) -> Error {
    let OutcomeKind::Issued { serial, .. } = &outcome.result else {
        return e;
    };
    Error::new(
        e.kind(),
        format!(
            "the certificate for {} was signed and recorded (serial {serial}), but {} could not \
             be written: {}; the CA keeps a copy in {}",
            outcome.name,
            out.display(),
            e.message(),
            ca.store().cert_path(serial).display()
        ),
    )
}
