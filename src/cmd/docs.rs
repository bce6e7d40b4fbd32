//! `lpa completions SHELL` and `lpa man`: generated from the clap
//! definition, so they can never drift from the real flags.

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::settings::{emit, Failure, Result};

pub fn completions(args: CompletionsArgs) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    // Into a buffer first: clap_complete panics on a write error, and
    // `lpa completions bash | head` closes the pipe early.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "lpa", &mut script);
    emit(&script)?;
    Ok(ExitCode::SUCCESS)
}

/// The main page, then one section per subcommand (hidden ones left out),
/// so `man lpa` documents every flag.
pub fn man() -> Result<ExitCode> {
    let cmd = Cli::command();
    let mut page = Vec::new();
    let render = |c: clap::Command, buf: &mut Vec<u8>| clap_mangen::Man::new(c).render(buf);
    render(cmd.clone(), &mut page).map_err(|e| Failure::new(e.to_string()))?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("lpa-{}", sub.get_name());
        render(sub.clone().name(name), &mut page).map_err(|e| Failure::new(e.to_string()))?;
    }
    emit(&page)?;
    Ok(ExitCode::SUCCESS)
}
