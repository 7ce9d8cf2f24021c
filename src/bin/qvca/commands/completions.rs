//! `qvca completions SHELL` and `qvca man`, generated from the clap definitions.

use super::Context;
use crate::cli::{Cli, CompletionsArgs};
use crate::exit;
use clap::CommandFactory;

/// Prints shell completions.
pub fn completions(ctx: &Context, args: &CompletionsArgs) -> anyhow::Result<u8> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "qvca", &mut script);
    ctx.out.data(&script);
    Ok(exit::SUCCESS)
}

/// Prints the manual page (roff).
pub fn man(ctx: &Context) -> anyhow::Result<u8> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|e| qvca::Error::failed(format!("rendering the manual page failed: {e}")))?;
    ctx.out.data(&page);
    Ok(exit::SUCCESS)
}
