//! `qvca hsm migrate --key URI`: move a file-key CA's root key into a PKCS#11 token.

use super::Context;
use crate::cli::{HsmCommand, HsmMigrateArgs};
use crate::exit;
use crate::password::confirm_change;
use qvca::ops::ca::Ca;
use qvca::ops::migrate::{MigrateRequest, finish_migration, migrate};
use qvca::pki::pkcs11::uri::Pkcs11Uri;
use std::fmt::Write;

/// Runs an `hsm` subcommand.
pub fn run(ctx: &Context, command: &HsmCommand) -> qvca::Result<u8> {
    match command {
        HsmCommand::Migrate(args) => run_migrate(ctx, args),
    }
}

fn run_migrate(ctx: &Context, args: &HsmMigrateArgs) -> qvca::Result<u8> {
    // A malformed URI (a PIN in it among them) is refused before anything else happens.
    let uri = Pkcs11Uri::parse(&args.key)?;
    let contexts = if args.context.is_empty() {
        vec![String::new()]
    } else {
        args.context.clone()
    };
    let request = MigrateRequest {
        uri: &uri,
        rewrap: &args.rewrap,
        contexts: &contexts,
    };
    let pin = |r: &qvca::ops::hsm::PinRequest<'_>| crate::pin::get(ctx.global, r);
    let access = crate::pin::access(ctx.global, &pin);
    let mut ca = Ca::open_for_update(&ctx.ca_dir()?)?;
    let report = if ca.index().settings.root_key.is_some() {
        finish_migration(&mut ca, &request, &access)?
    } else {
        let root = ca.root_entry()?;
        let question = format!(
            "Move the root key of {} (serial {}) into the PKCS#11 token and remove its key file? \
             The root certificate stays; back up the CA first (`qvca backup`).",
            root.name, root.serial
        );
        confirm_change(
            ctx.global,
            &format!(
                "moving the root key of {} into a token (hsm migrate)",
                root.name
            ),
            &question,
        )?;
        let signer = ctx.unlock(&ca)?;
        migrate(&mut ca, &signer, &request, &access)?
    };
    ctx.out.report(&report, |text| {
        if report.finished_interrupted {
            let _ = writeln!(
                text,
                "The root key of this CA already lives in the PKCS#11 token {:?}: finished what \
                 an interrupted `hsm migrate` left.",
                report.token_label
            );
        } else {
            let _ = writeln!(
                text,
                "Moved the root key (serial {}) into the PKCS#11 token {:?} (serial {}): key {:?}, \
                 id {}{}. It is sensitive and not extractable; the root certificate is kept.",
                report.root_serial,
                report.token_label,
                report.token_serial,
                report.key_label,
                report.key_id,
                if report.imported {
                    ""
                } else {
                    " (imported by an earlier, interrupted run)"
                }
            );
        }
        let _ = writeln!(
            text,
            "The SecretsKey is {:?} in the token{}; new secrets tokens are qvca:v2.",
            report.secrets_key_label,
            if report.v1_escrowed {
                ", with the old v1 key escrowed under it: qvca:v1 tokens still decrypt"
            } else {
                ""
            }
        );
        for file in &report.files {
            let _ = writeln!(
                text,
                "rewrapped {} token(s) in {} ({} already current)",
                file.rewrapped,
                file.file.display(),
                file.already_current
            );
        }
        for file in &report.key_files_removed {
            let _ = writeln!(text, "removed the root key file {}", file.display());
        }
        let _ = writeln!(
            text,
            "Next: `qvca backup` (the backup holds everything but the root key), and back up the \
             token with the HSM's own means (docs/hsm.md)."
        );
    });
    for file in &report.not_rewritten {
        ctx.out.warn(&format!(
            "{} was not rewritten ({}); its qvca:v1 tokens still decrypt through the escrowed \
             key: move them later with `qvca secrets rewrap --in {} --in-place`",
            file.file.display(),
            file.problem,
            file.file.display()
        ));
    }
    Ok(exit::SUCCESS)
}
