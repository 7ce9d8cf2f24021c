//! `qvca completions SHELL` and `qvca man`, generated from the clap definitions.

use super::Context;
use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit;
use clap::CommandFactory;

/// Prints shell completions.
pub fn completions(ctx: &Context, args: &CompletionsArgs) -> qvca::Result<u8> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "qvca", &mut script);
    ctx.out.data(&script);
    Ok(exit::SUCCESS)
}

/// Prints one manual page (roff), or writes every page into `--out-dir`.
pub fn man(ctx: &Context, args: &ManArgs) -> qvca::Result<u8> {
    let mut command = Cli::command().disable_help_subcommand(true);
    // Building names every subcommand's page `qvca-<command>` (as the top page refers to them).
    command.build();
    if let Some(dir) = &args.out_dir {
        qvca::store::create_private_dir(dir)?;
        clap_mangen::generate_to(command, dir)
            .map_err(|e| qvca::Error::io("writing the manual pages into", dir, e))?;
        ctx.out
            .note(&format!("wrote the manual pages into {}", dir.display()));
        return Ok(exit::SUCCESS);
    }
    let mut page_of = &command;
    for name in &args.command {
        page_of = page_of.find_subcommand(name).ok_or_else(|| {
            qvca::Error::usage(format!(
                "no command `{}`: `qvca --help` lists them",
                args.command.join(" ")
            ))
        })?;
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(page_of.clone())
        .render(&mut page)
        .map_err(|e| qvca::Error::failed(format!("rendering the manual page failed: {e}")))?;
    ctx.out.data(&page);
    Ok(exit::SUCCESS)
}
