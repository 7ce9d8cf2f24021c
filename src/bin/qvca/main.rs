//! The qvca command: parse the arguments, run one command, map the outcome to an exit code.
//! This is the only exit point.

mod cli;
mod commands;
mod exit;
mod output;
mod password;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Keys and passwords will be in memory: never let them reach a core file.
    qvca::platform::disable_core_dumps();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            // Printing fails only when the terminal is gone; the exit code still tells.
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let out = output::Output::new(&cli.global);
    match commands::run(&cli, out) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = exit::code_for_error(&e);
            out.error(&e.to_string(), code);
            ExitCode::from(code)
        }
    }
}
