//! `lpa completions SHELL` and `lpa man`: generated from the clap
//! definition, so they can never drift from the real flags.

use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;
use roff::{roman, Roff};

use super::output::{stage_file, Staged};
use crate::cli::{help_extra, Cli, CompletionsArgs, ManArgs};
use crate::settings::{emit, Failure, Result};

pub fn completions(args: CompletionsArgs) -> Result<ExitCode> {
    // Without the hidden subcommands (`serve`), which clap_complete's
    // scripts would offer: a new Command, as clap cannot remove one.
    let full = Cli::command();
    let mut cmd = clap::Command::new(full.get_name().to_string())
        .version(env!("CARGO_PKG_VERSION"))
        .args(full.get_arguments().cloned())
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    // Its -h says "see more with '--help'" as lpa's own does.
    if let Some(about) = full.get_long_about() {
        cmd = cmd.long_about(about.clone());
    }
    // Into a buffer first: clap_complete panics on a write error, and
    // `lpa completions bash | head` closes the pipe early.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "lpa", &mut script);
    emit(&script)?;
    Ok(ExitCode::SUCCESS)
}

/// lpa(1), whose COMMANDS section names lpa-run(1) and the others, and one
/// page per visible subcommand, as `man` expects them: `lpa-run.1` for
/// `man lpa-run`.
pub fn man(args: ManArgs) -> Result<ExitCode> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    // Gives each subcommand its page name (lpa-run) and usage (lpa run).
    cmd.build();
    let commands: Vec<&clap::Command> =
        cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    if let Some(dir) = &args.dir {
        // Before any page: a file in the way made create_dir_all's "File
        // exists" read as a failure of the page DIR/lpa.1.
        std::fs::create_dir_all(dir).map_err(|e| {
            let why = if dir.exists() && !dir.is_dir() {
                "it is a file, not a directory".to_string()
            } else {
                e.to_string()
            };
            Failure::new(format!(
                "--dir {}: cannot make a directory for the man pages: {why}",
                dir.display()
            ))
        })?;
        // Every page is staged before any is put in place: a full disk
        // leaves the pages that were there, not some pages cut short.
        let mut staged = vec![stage_page(dir, "lpa", page(&cmd, None)?)?];
        for sub in &commands {
            staged.push(stage_page(
                dir,
                sub.get_display_name().unwrap_or(sub.get_name()),
                page(sub, Some(sub.get_name()))?,
            )?);
        }
        let mut written = Vec::new();
        for (file, page) in staged {
            page.keep()?;
            written.push(file);
        }
        say!(
            "lpa man: wrote {} pages to {}: {}",
            written.len(),
            dir.display(),
            written.join(" ")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let text = match args.command.as_deref() {
        None => page(&cmd, None)?,
        Some(name) => {
            let sub = commands
                .iter()
                .find(|s| s.get_name() == name)
                .ok_or_else(|| {
                    let names: Vec<&str> = commands.iter().map(|s| s.get_name()).collect();
                    Failure::new(format!(
                        "no man page for {name:?} (expected one of {})",
                        names.join(", ")
                    ))
                })?;
            page(sub, Some(name))?
        }
    };
    emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn stage_page(dir: &Path, name: &str, text: Vec<u8>) -> Result<(String, Staged)> {
    let file = format!("{name}.1");
    let staged = stage_file(&dir.join(&file), &text)?;
    Ok((file, staged))
}

/// clap_mangen's page, then the note, the examples in no-fill mode (as
/// written: never filled, hyphenated or re-wrapped) and SEE ALSO.
fn page(cmd: &clap::Command, subcommand: Option<&str>) -> Result<Vec<u8>> {
    let extra = subcommand.and_then(help_extra);
    // The help's Examples heading stays out: the page has its own section.
    let cmd = cmd.clone().after_help(None::<&str>);
    let source = format!("lpa {}", env!("CARGO_PKG_VERSION"));
    let mut text = Vec::new();
    clap_mangen::Man::new(cmd)
        .source(source)
        .render(&mut text)
        .map_err(|e| Failure::new(e.to_string()))?;
    let mut roff = Roff::new();
    if let Some(extra) = extra {
        if !extra.note.is_empty() {
            roff.control("SH", ["NOTES"]);
            roff.text([roman(extra.note)]);
        }
        roff.control("SH", ["EXAMPLES"]);
        roff.control("nf", []);
        for line in extra.examples.lines() {
            // The help's two-space indent; the section indents already.
            roff.text([roman(line.strip_prefix("  ").unwrap_or(line))]);
        }
        roff.control("fi", []);
    }
    if subcommand.is_some() {
        roff.control("SH", ["SEE ALSO"]);
        roff.text([roman("lpa(1)")]);
    }
    roff.to_writer(&mut text)
        .map_err(|e| Failure::new(e.to_string()))?;
    Ok(text)
}
