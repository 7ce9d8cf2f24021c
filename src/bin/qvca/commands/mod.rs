//! One file per command: arguments → request → one library call → render.

mod backup;
mod completions;
mod crl;
mod doctor;
mod export;
mod hsm;
mod init;
mod inspect;
mod issue;
mod license;
mod list;
mod log;
mod package;
mod passwd;
mod ports;
mod renew;
mod restore;
mod revoke;
mod secrets;
mod setup;
mod show;
mod sign;
mod status;
mod verify;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::output::Output;
use crate::password::{self, Purpose, Which};
use qvca::domain::secret::Password;
use std::path::PathBuf;

/// What every command gets: the global options and the printer.
pub struct Context<'a> {
    /// The global options.
    pub global: &'a GlobalArgs,
    /// The printer.
    pub out: Output,
}

impl Context<'_> {
    /// The CA directory: `--ca-dir`, `QVCA_DIR`, or the platform default.
    pub fn ca_dir(&self) -> qvca::Result<PathBuf> {
        let dir = match &self.global.ca_dir {
            Some(dir) => dir.clone(),
            None => qvca::store::default_ca_dir()?,
        };
        if dir.exists() && !dir.is_dir() {
            return Err(qvca::Error::failed(format!(
                "the CA directory {} is a file, not a directory: point --ca-dir (or QVCA_DIR) at \
                 the CA's directory",
                dir.display()
            )));
        }
        // Absolute, so that paths recorded in the index mean the same from any directory.
        std::path::absolute(&dir).map_err(|e| {
            qvca::Error::failed(format!(
                "cannot resolve the CA directory {}: {e}",
                dir.display()
            ))
        })
    }

    /// The CA password, from the file, the environment or a prompt.
    pub fn ca_password(&self, purpose: Purpose) -> qvca::Result<Password> {
        password::get(self.global, Which::Ca, purpose)
    }

    /// The PKCS#12 password, from the file, the environment or a prompt that calls it `noun`
    /// ("backup password", "PKCS#12 password of FILE").
    pub fn pfx_password(&self, purpose: Purpose, noun: &str) -> qvca::Result<Password> {
        password::get_for(self.global, Which::Pfx, purpose, noun)
    }

    /// The PKCS#12 password if one was given (or a terminal can be asked); `None` otherwise.
    pub fn pfx_password_if_given(
        &self,
        purpose: Purpose,
        noun: &str,
    ) -> qvca::Result<Option<Password>> {
        password::get_if_given(self.global, Which::Pfx, purpose, noun)
    }

    /// Unlocks the root with the CA password (three tries when it is typed at a prompt).
    pub fn unlock(&self, ca: &qvca::ops::ca::Ca) -> qvca::Result<qvca::ops::ca::RootSigner> {
        password::unlock(self.global, ca)
    }
}

/// Runs the chosen command and returns its exit code.
pub fn run(cli: &Cli, out: Output) -> qvca::Result<u8> {
    let ctx = Context {
        global: &cli.global,
        out,
    };
    match &cli.command {
        Command::Setup(args) => setup::run(&ctx, args),
        Command::Init(args) => init::run(&ctx, args),
        Command::Issue(command) => issue::run(&ctx, command),
        Command::Sign(args) => sign::run(&ctx, args),
        Command::List(args) => list::run(&ctx, args),
        Command::Show(args) => show::run(&ctx, args),
        Command::Inspect(args) => inspect::run(&ctx, args),
        Command::Verify(args) => verify::run(&ctx, args),
        Command::Status => status::run(&ctx),
        Command::Export(command) => export::run(&ctx, command),
        Command::Package(args) => package::run(&ctx, args),
        Command::Backup(args) => backup::run(&ctx, args),
        Command::Restore(args) => restore::run(&ctx, args),
        Command::Passwd(args) => passwd::run(&ctx, args),
        Command::Secrets(command) => secrets::run(&ctx, command),
        Command::Hsm(command) => hsm::run(&ctx, command),
        Command::Renew(args) => renew::run(&ctx, args),
        Command::Revoke(args) => revoke::run(&ctx, args),
        Command::Crl(args) => crl::run(&ctx, args),
        Command::Doctor(args) => doctor::run(&ctx, args),
        Command::Log(args) => log::run(&ctx, args),
        Command::Ports(args) => ports::run(&ctx, args),
        Command::License(command) => license::run(&ctx, command),
        Command::Completions(args) => completions::completions(&ctx, args),
        Command::Man(args) => completions::man(&ctx, args),
    }
}

/// Refreshes a license-service export that a renewal made stale, and says so with the seed's
/// restart order. A refresh that cannot be done is a warning: the renewal itself succeeded.
pub fn refresh_export(
    ctx: &Context,
    ca: &mut qvca::ops::ca::LockedCa,
    signer: &qvca::ops::ca::RootSigner,
) {
    match qvca::ops::export::refresh_license_service_export(ca, signer) {
        Ok(Some(export)) => ctx.out.note(&format!(
            "Re-exported the license-service files of {} to {}. {}",
            export.machine,
            export.dir.display(),
            qvca::ops::export::RESTART_REMINDER
        )),
        Ok(None) => {}
        Err(e) => ctx.out.warn(&format!(
            "the license-service export is now out of date and could not be refreshed ({}); \
             run `qvca export license-service --machine NAME`",
            e.message()
        )),
    }
}

/// The number of key generation threads: `--jobs`, else every core.
pub fn jobs(requested: Option<u16>) -> usize {
    requested.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        usize::from,
    )
}

/// The JSON shape of a `--dry-run`.
#[derive(serde::Serialize)]
struct DryRunReport<'a> {
    dry_run: bool,
    actions: &'a [qvca::ops::issue::PlannedAction],
}

/// Prints what a `--dry-run` would do ("would issue", "would keep" ...); nothing was written.
pub fn print_plan(ctx: &Context, actions: &[qvca::ops::issue::PlannedAction]) -> u8 {
    use std::fmt::Write;
    let report = DryRunReport {
        dry_run: true,
        actions,
    };
    ctx.out.report(&report, |text| {
        for planned in actions {
            let serial = planned
                .serial
                .as_ref()
                .map(|s| format!(" (serial {s})"))
                .unwrap_or_default();
            let _ = writeln!(
                text,
                "would {:<8}{} {}{serial}",
                planned.action,
                planned.kind.description(),
                planned.name
            );
        }
        let _ = writeln!(text, "dry run: nothing was changed");
    });
    crate::exit::SUCCESS
}
