//! The qvca command: parse the arguments, run one command, map the outcome to an exit code.
//! This is the only exit point.

mod cli;
mod commands;
mod exit;
mod output;
mod password;
mod pin;

use clap::Parser;
use std::process::ExitCode;

/// Reports a command line clap could not parse: clap's message (with a hint for the common
/// `issue NAME` slip) on stderr, and with `--json` the error object on stdout as for every other
/// error. `--help` and `--version` are not errors.
fn usage_error(e: clap::Error) -> ExitCode {
    if !e.use_stderr() {
        // Printing fails only when the terminal is gone; the exit code still tells.
        let _ = e.print();
        return ExitCode::from(0);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut message = e.render().to_string();
    if e.kind() == clap::error::ErrorKind::InvalidSubcommand
        && let Some(position) = args.iter().position(|a| a == "issue")
        && let Some(name) = args.get(position + 1)
    {
        message.push_str(&format!(
            "\nhint: a Server certificate is `qvca issue server {name}`, the Client certificate \
             `qvca issue client`\n"
        ));
    }
    let json = args.iter().any(|a| a == "--json");
    output::Output::usage(&message, json);
    ExitCode::from(exit::USAGE)
}

fn main() -> ExitCode {
    // Keys and passwords will be in memory: never let them reach a core file.
    qvca::platform::disable_core_dumps();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let out = output::Output::new(&cli.global);
    if !cli.global.quiet {
        qvca::store::lock::on_wait(output::Output::waiting);
    }
    match commands::run(&cli, out) {
        Ok(_) if output::stdout_failed() => ExitCode::from(exit::ERROR),
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = exit::code_for_error(&e);
            out.error(&e.to_string(), code);
            ExitCode::from(code)
        }
    }
}
