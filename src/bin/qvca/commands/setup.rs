//! `qvca setup [MACHINE...]`: the QMS first start in one idempotent step.

use super::issue::outcome_line;
use super::{Context, jobs};
use crate::cli::SetupArgs;
use crate::exit;
use crate::output::date;
use crate::password::Purpose;
use qvca::domain::name::{FqdnPolicy, parse_machine_args, this_machine};
use qvca::ops::export::RESTART_REMINDER;
use qvca::ops::setup::{PasswordUse, SetupRequest, setup_with};
use std::fmt::Write;

/// Runs `setup`.
pub fn run(ctx: &Context, args: &SetupArgs) -> qvca::Result<u8> {
    let policy = if args.allow_fqdn {
        FqdnPolicy::Allow
    } else {
        FqdnPolicy::Refuse
    };
    let machines = if args.machines.is_empty() {
        vec![this_machine()?]
    } else {
        parse_machine_args(&args.machines, policy).map_err(|problems| {
            qvca::Error::failed(format!(
                "nothing was changed: bad machine name(s):\n  {}",
                problems.join("\n  ")
            ))
        })?
    };
    for machine in &machines {
        if let Some(warning) = machine.netbios_warning() {
            ctx.out.warn(&warning);
        }
    }
    let request = SetupRequest {
        machines,
        no_password: args.no_password,
        jobs: jobs(args.jobs),
        export_dir: args.export_dir.clone(),
    };
    let dir = ctx.ca_dir()?;
    let pin = |r: &qvca::ops::hsm::PinRequest<'_>| crate::pin::get(ctx.global, r);
    let token = crate::pin::access(ctx.global, &pin);
    let report = setup_with(
        &dir,
        &request,
        &|purpose| match purpose {
            PasswordUse::NewCa => ctx.ca_password(Purpose::New),
            PasswordUse::Unlock => ctx.ca_password(Purpose::Existing),
        },
        Some(&token),
        &mut |_| {},
    )?;
    ctx.out.report(&report, |text| {
        match &report.created_root {
            Some(root) => {
                let _ = writeln!(
                    text,
                    "created root {} in {} (serial {}, valid until {})",
                    root.common_name,
                    report.ca_dir.display(),
                    root.serial,
                    date(root.not_after)
                );
            }
            None => {
                let _ = writeln!(text, "kept    root in {}", report.ca_dir.display());
            }
        }
        for outcome in &report.certificates {
            let _ = writeln!(text, "{}", outcome_line(outcome));
        }
        let export = &report.license_service_export;
        let _ = writeln!(
            text,
            "{} license-service export of {} in {}",
            if export.changed { "wrote  " } else { "current" },
            export.machine,
            export.dir.display()
        );
        if export.changed {
            let _ = writeln!(text, "{RESTART_REMINDER}");
        }
    });
    if report
        .created_root
        .as_ref()
        .is_some_and(|r| !r.password_protected)
    {
        ctx.out
            .warn("the keys are stored WITHOUT a password (--no-password): for labs only");
    }
    let failed = report
        .certificates
        .iter()
        .any(|o| matches!(o.result, qvca::ops::issue::OutcomeKind::Failed { .. }));
    Ok(if failed { exit::ERROR } else { exit::SUCCESS })
}
