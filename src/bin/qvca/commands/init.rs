//! `qvca init`: create the QlikViewCA root.

use super::Context;
use crate::cli::InitArgs;
use crate::exit;
use crate::output::date;
use crate::password::{Purpose, confirm_change};
use qvca::domain::kind::CertKind;
use qvca::domain::name::CommonName;
use qvca::ops::init::{InitRequest, describe_existing, init, init_in_token, refuse_existing};
use qvca::pki::key::KeyProtector;
use qvca::pki::pkcs11::uri::Pkcs11Uri;
use qvca::pki::profile::Profile;
use qvca::store::Store;
use std::fmt::Write;

/// Runs `init`.
pub fn run(ctx: &Context, args: &InitArgs) -> qvca::Result<u8> {
    // A malformed URI (a PIN in it among them) is refused before anything else happens.
    let key_uri = args.key.as_deref().map(Pkcs11Uri::parse).transpose()?;
    let dir = ctx.ca_dir()?;
    if !args.force {
        // Refuse before reading templates or asking for a password that would not be used.
        refuse_existing(&dir)?;
    }
    let profile = match &args.template {
        Some(path) => Profile::from_file(path, CertKind::Root)?,
        None => Profile::builtin(CertKind::Root),
    };
    let common_name = args.cn.as_deref().map(CommonName::parse).transpose()?;

    let store = Store::at(&dir);
    if store.has_ca() && args.force {
        let what = describe_existing(&dir).unwrap_or_else(|| "a CA".into());
        let question = format!(
            "Replace the CA in {} ({what})? It is kept as {}.replaced-<timestamp>. {}",
            dir.display(),
            dir.display(),
            SECRETS_KEY_NOTE
        );
        confirm_change(
            ctx.global,
            &format!("replacing the CA in {} (init --force)", dir.display()),
            &question,
        )?;
    }
    let protector = if args.no_password {
        KeyProtector::unprotected()
    } else {
        KeyProtector::encrypted(ctx.ca_password(Purpose::New)?)
    };
    run_init(
        ctx,
        &dir,
        profile,
        common_name,
        args,
        protector,
        key_uri.as_ref(),
    )
}

/// What replacing a root means for encrypted connection strings.
const SECRETS_KEY_NOTE: &str = "The new root gets a new key and so a new SecretsKey: tokens \
    encrypted under the old one can then only be moved over with `qvca secrets rewrap \
    --from-backup OLD.pfx`, which needs a backup of the old root.";

fn run_init(
    ctx: &Context,
    dir: &std::path::Path,
    profile: Profile,
    common_name: Option<CommonName>,
    args: &InitArgs,
    protector: KeyProtector,
    key_uri: Option<&Pkcs11Uri>,
) -> qvca::Result<u8> {
    let request = InitRequest {
        profile,
        common_name,
        key_type: args.key_type,
        days: args.days,
        protector,
        force: args.force,
    };
    let report = match key_uri {
        None => init(dir, request)?,
        Some(uri) => {
            let pin = |r: &qvca::ops::hsm::PinRequest<'_>| crate::pin::get(ctx.global, r);
            init_in_token(dir, request, uri, &crate::pin::access(ctx.global, &pin))?
        }
    };
    ctx.out.report(&report, |text| {
        let _ = writeln!(
            text,
            "Created the root {} in {} (serial {}, {}, valid until {}).",
            report.common_name,
            report.ca_dir.display(),
            report.serial,
            report.key_type,
            date(report.not_after)
        );
        let _ = writeln!(text, "SHA-256 fingerprint: {}", report.sha256);
        if let Some(key) = &report.root_key {
            let _ = writeln!(
                text,
                "The root key is in the PKCS#11 token {:?} (serial {}): key {:?}, id {}, {} \
                 (module {}). It never leaves the token; the CA directory records {}",
                key.token_label,
                key.token_serial,
                key.key_label,
                key.key_id,
                if key.generated {
                    "generated there now"
                } else {
                    "the existing key the URI names"
                },
                key.module.display(),
                key.uri
            );
            let _ = writeln!(
                text,
                "The SecretsKey is {:?} in the same token ({}): secrets tokens of this CA are \
                 qvca:v2, sealed there.",
                key.secrets_key_label,
                if key.secrets_key_generated {
                    "generated there now"
                } else {
                    "the existing root key's"
                }
            );
        }
        if let Some(old) = &report.replaced_ca_moved_to {
            let _ = writeln!(text, "The replaced CA was kept in {}.", old.display());
        }
        let _ = writeln!(
            text,
            "Next: `qvca issue server MACHINE`, `qvca issue client`, then back up the CA."
        );
    });
    if let Some(old) = &report.replaced_ca_moved_to {
        ctx.out.warn(&format!(
            "{SECRETS_KEY_NOTE} If you have none, make it from the kept CA now: `qvca --ca-dir \
             \"{}\" backup --out OLD.pfx`",
            old.display()
        ));
    }
    if !report.password_protected {
        ctx.out.warn(
            "the keys are stored WITHOUT a password (--no-password): use this CA for labs only",
        );
    }
    Ok(exit::SUCCESS)
}
