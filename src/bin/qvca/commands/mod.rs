//! One file per command: arguments → request → one library call → render.

mod backup;
mod completions;
mod crl;
mod doctor;
mod export;
mod init;
mod inspect;
mod issue;
mod license;
mod list;
mod package;
mod ports;
mod renew;
mod restore;
mod revoke;
mod secrets;
mod setup;
mod show;
mod status;
mod verify;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::output::Output;
use crate::password::{self, Purpose, Which};
use qvca::secret::Password;
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
        match &self.global.ca_dir {
            Some(dir) => Ok(dir.clone()),
            None => qvca::store::default_ca_dir(),
        }
    }

    /// The CA password, from the file, the environment or a prompt.
    pub fn ca_password(&self, purpose: Purpose) -> qvca::Result<Password> {
        password::get(self.global, Which::Ca, purpose)
    }

    /// The PKCS#12 password, from the file, the environment or a prompt.
    pub fn pfx_password(&self, purpose: Purpose) -> qvca::Result<Password> {
        password::get(self.global, Which::Pfx, purpose)
    }
}

/// Runs the chosen command and returns its exit code.
pub fn run(cli: &Cli, out: Output) -> anyhow::Result<u8> {
    let ctx = Context {
        global: &cli.global,
        out,
    };
    match &cli.command {
        Command::Setup(args) => setup::run(&ctx, args),
        Command::Init(args) => init::run(&ctx, args),
        Command::Issue(command) => issue::run(&ctx, command),
        Command::List(args) => list::run(&ctx, args),
        Command::Show(args) => show::run(&ctx, args),
        Command::Inspect(args) => inspect::run(&ctx, args),
        Command::Verify(args) => verify::run(&ctx, args),
        Command::Status => status::run(&ctx),
        Command::Export(command) => export::run(&ctx, command),
        Command::Package(args) => package::run(&ctx, args),
        Command::Backup(args) => backup::run(&ctx, args),
        Command::Restore(args) => restore::run(&ctx, args),
        Command::Secrets(command) => secrets::run(&ctx, command),
        Command::Renew(args) => renew::run(&ctx, args),
        Command::Revoke(args) => revoke::run(&ctx, args),
        Command::Crl(args) => crl::run(&ctx, args),
        Command::Doctor(args) => doctor::run(&ctx, args),
        Command::Ports(args) => ports::run(&ctx, args),
        Command::License(command) => license::run(&ctx, command),
        Command::Completions(args) => completions::completions(&ctx, args),
        Command::Man => completions::man(&ctx),
    }
}

/// Tells that a stale license-service export was refreshed, with the seed's restart order.
pub fn note_reexport(ctx: &Context, export: &qvca::export::LicenseServiceExport) {
    ctx.out.note(&format!(
        "Re-exported the license-service files of {} to {}. {}",
        export.machine,
        export.dir.display(),
        qvca::export::RESTART_REMINDER
    ));
}

/// The number of key generation threads: `--jobs`, else every core.
pub fn jobs(requested: Option<u16>) -> usize {
    requested.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        usize::from,
    )
}
