//! `qvca renew NAME... | --expiring-within DAYS | QlikViewCA --root`.

use super::issue::{exit_code, print_outcomes};
use super::{Context, jobs};
use crate::cli::RenewArgs;
use crate::exit;
use crate::output::date;
use crate::password::confirm_change;
use qvca::Error;
use qvca::domain::kind::CertKind;
use qvca::ops::ca::Ca;
use qvca::ops::lifecycle::{
    check_renewable, due_for_renewal, due_on_nodes, renew_leaves, renew_root,
};
use qvca::store::Entry;
use std::fmt::Write;

/// Runs `renew`.
pub fn run(ctx: &Context, args: &RenewArgs) -> qvca::Result<u8> {
    let mut ca = Ca::open_for_update(&ctx.ca_dir()?)?;
    if args.root {
        return renew_the_root(ctx, &mut ca, args);
    }
    let now = time::OffsetDateTime::now_utc();
    let entries: Vec<Entry> = match args.expiring_within {
        Some(days) => {
            let on_nodes = due_on_nodes(&ca, days, now);
            for entry in &on_nodes {
                ctx.out.warn(&format!(
                    "{} {} (serial {}) expires on {} and is keyless: its node must make a new \
                     request, signed with `qvca sign`; renew cannot renew it",
                    entry.kind.description(),
                    entry.name,
                    entry.serial,
                    date(entry.not_after)
                ));
            }
            let due = due_for_renewal(&ca, days, now);
            if due.is_empty() {
                ctx.out.report(&super::issue::outcome_report(&[]), |text| {
                    let what = if on_nodes.is_empty() {
                        "nothing"
                    } else {
                        "no certificate whose key the CA holds"
                    };
                    let _ = writeln!(
                        text,
                        "{what} expires within {days} days; nothing was renewed"
                    );
                });
                return Ok(exit::SUCCESS);
            }
            due
        }
        None => {
            let mut entries = Vec::new();
            for name in &args.names {
                let entry = ca.resolve(name)?;
                if entry.kind == CertKind::Root {
                    return Err(Error::usage(format!(
                        "{} is the root: renewing it is its own step, `qvca renew {} --root`",
                        entry.name, entry.name
                    )));
                }
                // Refused before the password prompt: the CA cannot make a keyless one's key.
                check_renewable(entry)?;
                entries.push(entry.clone());
            }
            entries
        }
    };
    if args.dry_run {
        let plan: Vec<qvca::ops::issue::PlannedAction> = entries
            .iter()
            .map(|e| qvca::ops::issue::PlannedAction::for_entry("renew", e))
            .collect();
        return Ok(super::print_plan(ctx, &plan));
    }
    let signer = ctx.unlock(&ca)?;
    let outcomes = renew_leaves(
        &mut ca,
        &signer,
        &entries,
        args.days,
        jobs(args.jobs),
        &mut |_| {},
    )?;
    print_outcomes(ctx, &outcomes);
    let superseded: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match &o.result {
            qvca::ops::issue::OutcomeKind::Issued {
                supersedes: Some(old),
                ..
            } => Some(old.to_hex()),
            _ => None,
        })
        .collect();
    if !superseded.is_empty() {
        ctx.out.note(&format!(
            "The old certificate(s) are marked superseded and stay valid until they expire or are \
             revoked; once every node has the new ones: qvca revoke SERIAL --reason superseded \
             (serials: {})",
            superseded.join(", ")
        ));
    }
    super::refresh_export(ctx, &mut ca, &signer);
    Ok(exit_code(&outcomes))
}

fn renew_the_root(
    ctx: &Context,
    ca: &mut qvca::ops::ca::LockedCa,
    args: &RenewArgs,
) -> qvca::Result<u8> {
    let root = ca.root_entry()?.clone();
    if let Some(other) = args
        .names
        .iter()
        .find(|n| !n.eq_ignore_ascii_case(&root.name))
    {
        return Err(Error::usage(format!(
            "--root renews the root {}; {other:?} is not it (renew other certificates without --root)",
            root.name
        )));
    }
    let question = format!(
        "Renew the root {} (serial {}, expires {})? It keeps its key, so the SecretsKey and every \
         token stay valid; the new root certificate must then be distributed to every node.",
        root.name,
        root.serial,
        date(root.not_after)
    );
    confirm_change(
        ctx.global,
        &format!("renewing the root {} (renew --root)", root.name),
        &question,
    )?;
    let signer = ctx.unlock(ca)?;
    let (renewal, renewed) = renew_root(ca, &signer, args.days)?;
    ctx.out.report(&renewal, |text| {
        let _ = writeln!(
            text,
            "renewed the root {}: serial {}, valid until {}, SHA-1 thumbprint {}",
            root.name,
            renewal.new_serial,
            date(renewal.not_after),
            renewal.sha1_thumbprint
        );
        let _ = writeln!(
            text,
            "The key was kept: every issued certificate still chains to it, and the SecretsKey and \
             all tokens stay valid. The old root (serial {}) is superseded.",
            renewal.old_serial
        );
        let _ = writeln!(
            text,
            "Distribute the new root to every node: `qvca export root --der` or `qvca package MACHINE`."
        );
    });
    super::refresh_export(ctx, ca, &renewed);
    Ok(exit::SUCCESS)
}
