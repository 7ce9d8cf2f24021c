//! `qvca issue server` and `qvca issue client`.

use super::{Context, jobs};
use crate::cli::{IssueClientArgs, IssueCommand, IssueServerArgs, LeafArgs};
use crate::exit;
use crate::output::date;
use qvca::Error;
use qvca::domain::kind::CertKind;
use qvca::domain::name::{FqdnPolicy, MachineName, parse_machine_args, parse_machine_list};
use qvca::ops::ca::Ca;
use qvca::ops::issue::{
    IssueOptions, IssueOutcome, LeafRequest, OutcomeKind, all_kept, issue_batch, plan_issue,
};
use qvca::pki::profile::Profile;
use serde::Serialize;
use std::fmt::Write;

/// Runs `issue server` or `issue client`.
pub fn run(ctx: &Context, command: &IssueCommand) -> qvca::Result<u8> {
    match command {
        IssueCommand::Server(args) => server(ctx, args),
        IssueCommand::Client(args) => client(ctx, args),
    }
}

fn server(ctx: &Context, args: &IssueServerArgs) -> qvca::Result<u8> {
    let policy = if args.allow_fqdn {
        FqdnPolicy::Allow
    } else {
        FqdnPolicy::Refuse
    };
    let machines = machine_names(args, policy)?;
    for machine in &machines {
        if let Some(warning) = machine.netbios_warning() {
            ctx.out.warn(&warning);
        }
    }
    let requests: Vec<LeafRequest> = machines.iter().map(LeafRequest::server).collect();
    let options = options(&args.leaf, CertKind::Server, jobs(args.jobs))?;
    issue(ctx, &requests, &options, &args.leaf)
}

fn client(ctx: &Context, args: &IssueClientArgs) -> qvca::Result<u8> {
    let options = options(&args.leaf, CertKind::Client, 1)?;
    let name = options
        .profile
        .client_common_name(args.name.as_deref(), args.leaf.template.as_deref())?;
    let request = LeafRequest::client(&name);
    issue(ctx, std::slice::from_ref(&request), &options, &args.leaf)
}

/// Every machine name from the arguments and `--from-file`, all validated before anything
/// is issued; every bad name is reported at once.
fn machine_names(args: &IssueServerArgs, policy: FqdnPolicy) -> qvca::Result<Vec<MachineName>> {
    let mut problems = Vec::new();
    let mut machines = parse_machine_args(&args.machines, policy).unwrap_or_else(|p| {
        problems.extend(p);
        Vec::new()
    });
    if let Some(path) = &args.from_file {
        let contents =
            qvca::input::read_text_limited(path, qvca::input::TEXT_LIMIT, "the machine list")
                .map_err(|e| {
                    Error::failed(format!(
                        "cannot read the machine list {}: {}",
                        path.display(),
                        e.message()
                    ))
                })?;
        match parse_machine_list(&contents, &path.display().to_string(), policy) {
            Ok(more) => {
                let mut seen: std::collections::HashSet<String> = machines
                    .iter()
                    .map(|m| m.as_str().to_ascii_lowercase())
                    .collect();
                machines.extend(
                    more.into_iter()
                        .filter(|m| seen.insert(m.as_str().to_ascii_lowercase())),
                );
            }
            Err(p) => problems.extend(p),
        }
    }
    if !problems.is_empty() {
        return Err(Error::failed(format!(
            "nothing was issued: {} bad machine name(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        )));
    }
    if machines.is_empty() {
        return Err(Error::usage(
            "give at least one MACHINE, or --from-file FILE with one machine name a line",
        ));
    }
    Ok(machines)
}

fn options(leaf: &LeafArgs, kind: CertKind, jobs: usize) -> qvca::Result<IssueOptions> {
    let profile = match &leaf.template {
        Some(path) => Profile::from_file(path, kind)?,
        None => Profile::builtin(kind),
    };
    Ok(IssueOptions {
        profile,
        key_type: leaf.key_type,
        days: leaf.days,
        force: leaf.force,
        jobs,
    })
}

/// The JSON shape of `issue`.
#[derive(Serialize)]
pub struct IssueReport<'a> {
    results: &'a [IssueOutcome],
    issued: usize,
    kept: usize,
    failed: usize,
}

fn issue(
    ctx: &Context,
    requests: &[LeafRequest],
    options: &IssueOptions,
    leaf: &LeafArgs,
) -> qvca::Result<u8> {
    let (dry_run, if_missing) = (leaf.dry_run, leaf.if_missing);
    if dry_run {
        let ca = Ca::open(&ctx.ca_dir()?)?;
        return Ok(super::print_plan(ctx, &plan_issue(&ca, requests, options)));
    }
    let mut ca = Ca::open_for_update(&ctx.ca_dir()?)?;
    // "kept" is decided before anything is unlocked: a re-run that changes nothing needs no
    // password.
    if let Some(kept) = all_kept(&ca, requests, options) {
        print_outcomes(ctx, &kept);
        return Ok(exit_code_for(&kept, if_missing));
    }
    let signer = ctx.unlock(&ca)?;
    let bar = ctx.out.progress_bar(requests.len() as u64, "issuing");
    let outcomes = issue_batch(&mut ca, &signer, requests, options, &mut |_| {
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    })?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    print_outcomes(ctx, &outcomes);
    super::refresh_export(ctx, &mut ca, &signer);
    Ok(exit_code_for(&outcomes, if_missing))
}

/// [`exit_code`], where `--if-missing` makes a kept certificate a success.
fn exit_code_for(outcomes: &[IssueOutcome], if_missing: bool) -> u8 {
    match exit_code(outcomes) {
        exit::REFUSED if if_missing => exit::SUCCESS,
        code => code,
    }
}

/// Prints one line per outcome and a summary line (or the JSON report).
pub fn print_outcomes(ctx: &Context, outcomes: &[IssueOutcome]) {
    let report = outcome_report(outcomes);
    let (issued, kept, failed) = (report.issued, report.kept, report.failed);
    if ctx.global.quiet && !ctx.global.json {
        // -q leaves only problems: kept and failed certificates are refusals and errors.
        for outcome in outcomes.iter().filter(|o| !o.is_issued()) {
            ctx.out.problem(&outcome_line(outcome));
        }
    }
    ctx.out.report(&report, |text| {
        for outcome in outcomes {
            let _ = writeln!(text, "{}", outcome_line(outcome));
        }
        if outcomes.len() > 1 {
            let _ = writeln!(text, "{issued} issued, {kept} kept, {failed} failed");
        }
    });
}

/// The JSON report of `issue` (and `renew`, `sign`) for these outcomes.
pub fn outcome_report(outcomes: &[IssueOutcome]) -> IssueReport<'_> {
    let count = |f: fn(&OutcomeKind) -> bool| outcomes.iter().filter(|o| f(&o.result)).count();
    IssueReport {
        results: outcomes,
        issued: count(|r| matches!(r, OutcomeKind::Issued { .. })),
        kept: count(|r| matches!(r, OutcomeKind::Kept { .. })),
        failed: count(|r| matches!(r, OutcomeKind::Failed { .. })),
    }
}

/// One human line for an outcome.
pub fn outcome_line(outcome: &IssueOutcome) -> String {
    let what = outcome.kind.description();
    match &outcome.result {
        OutcomeKind::Issued {
            serial,
            not_after,
            supersedes,
        } => {
            let replaced = supersedes
                .as_ref()
                .map(|old| format!("; supersedes {old}"))
                .unwrap_or_default();
            format!(
                "issued  {what} {}: serial {serial}, valid until {}{replaced}",
                outcome.name,
                date(*not_after)
            )
        }
        OutcomeKind::Kept { serial, not_after } => format!(
            "kept    {what} {}: a valid certificate exists (serial {serial}, valid until {}); \
             `qvca renew {}` replaces it",
            outcome.name,
            date(*not_after),
            outcome.name
        ),
        OutcomeKind::Failed { message } => {
            format!("failed  {what} {}: {message}", outcome.name)
        }
    }
}

/// The most severe outcome decides: a failure (1) over a kept certificate (3) over success.
pub fn exit_code(outcomes: &[IssueOutcome]) -> u8 {
    if outcomes
        .iter()
        .any(|o| matches!(o.result, OutcomeKind::Failed { .. }))
    {
        exit::ERROR
    } else if outcomes
        .iter()
        .any(|o| matches!(o.result, OutcomeKind::Kept { .. }))
    {
        exit::REFUSED
    } else {
        exit::SUCCESS
    }
}
