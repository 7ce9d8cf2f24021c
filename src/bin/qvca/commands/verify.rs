//! `qvca verify [FILE...]`: path validation to the root; exit 5 if anything fails.

use super::Context;
use crate::cli::VerifyArgs;
use crate::exit;
use qvca::Error;
use qvca::input::{DOCUMENT_LIMIT, read_limited};
use qvca::ops::ca::Ca;
use qvca::ops::revocation::verification_crl;
use qvca::ops::verify::{Verification, VerifyOptions, verify_ca, verify_certificate};
use qvca::pki::certificate::{parse_certificates, parse_crl, parse_one_certificate};
use serde::Serialize;
use std::fmt::Write;

#[derive(Serialize)]
struct VerifyReport<'a> {
    ok: bool,
    results: &'a [Verification],
}

/// Runs `verify`.
pub fn run(ctx: &Context, args: &VerifyArgs) -> qvca::Result<u8> {
    let now = time::OffsetDateTime::now_utc();
    let crl_der = match &args.crl {
        Some(path) => Some(parse_crl(&read_limited(path, DOCUMENT_LIMIT, "the file")?)?),
        None => None,
    };
    let results = if args.files.is_empty() {
        if args.root.is_some() || args.chain.is_some() {
            return Err(Error::usage(
                "--root and --chain need certificate FILEs to verify",
            ));
        }
        let ca = Ca::open(&ctx.ca_dir()?)?;
        let results = verify_ca(&ca, args.name.as_deref(), now)?;
        if results.is_empty()
            && let Some(name) = &args.name
        {
            return Err(Error::not_found(format!(
                "no current certificate named {name} in this CA"
            )));
        }
        results
    } else {
        // Against the CA's own root, its index and its CRL (fail closed) count too.
        let (root_der, ca) = match &args.root {
            Some(path) => (
                parse_one_certificate(&read_limited(path, DOCUMENT_LIMIT, "the file")?, path)?,
                None,
            ),
            None => {
                let ca = Ca::open(&ctx.ca_dir()?)?;
                (ca.root_der()?, Some(ca))
            }
        };
        let crl_der = verification_crl(crl_der, ca.as_ref())?;
        let chain = match &args.chain {
            Some(path) => {
                let certs =
                    parse_certificates(&read_limited(path, DOCUMENT_LIMIT, "the file")?, path)?;
                if certs.is_empty() {
                    return Err(Error::failed(format!(
                        "{} holds no certificate: give the intermediate CA certificates (PEM)",
                        path.display()
                    )));
                }
                certs
            }
            None => Vec::new(),
        };
        let mut results = Vec::new();
        for file in &args.files {
            let bytes = read_limited(file, DOCUMENT_LIMIT, "the certificate file")?;
            // A file with a full chain: the first certificate is verified, the others help.
            let mut certs = parse_certificates(&bytes, file)?;
            if certs.is_empty() {
                return Err(Error::failed(format!(
                    "{} holds no certificate",
                    file.display()
                )));
            }
            let cert = certs.remove(0);
            certs.extend(chain.iter().cloned());
            let options = VerifyOptions {
                name: args.name.as_deref(),
                crl_der: crl_der.as_deref(),
                index: ca.as_ref().map(Ca::index),
                intermediates: &certs,
            };
            results.push(verify_certificate(
                &file.display().to_string(),
                &root_der,
                &cert,
                &options,
                now,
            ));
        }
        results
    };
    let ok = results.iter().all(|r| r.ok);
    ctx.out.report(
        &VerifyReport {
            ok,
            results: &results,
        },
        |text| {
            for r in &results {
                let who = match (&r.subject, &r.serial) {
                    (Some(cn), Some(serial)) if r.target.ends_with(cn.as_str()) => {
                        format!("{} (serial {serial})", r.target)
                    }
                    (Some(cn), Some(serial)) => format!("{} ({cn}, serial {serial})", r.target),
                    _ => r.target.clone(),
                };
                if r.ok {
                    let _ = writeln!(text, "OK    {who}: {}", r.passed.join("; "));
                } else {
                    let _ = writeln!(text, "FAIL  {who}: {}", r.problems.join("; "));
                }
            }
        },
    );
    Ok(if ok {
        exit::SUCCESS
    } else {
        exit::PROBLEMS_FOUND
    })
}
