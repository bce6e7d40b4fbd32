//! `lpa`: the latency-driven pod autoscaler's command line.
//!
//! A thin binary: argument parsing lives in `cli`, each subcommand in `cmd`,
//! and all behaviour in `lpa-core` (deciding) and `lpa-drivers` (I/O).
//! Data goes to stdout, logs to stderr; an error is one line on stderr and
//! a non-zero exit.

use std::process::ExitCode;

// First: the macros are visible only to modules declared after them.
#[macro_use]
mod say;

mod cli;
mod cmd;
mod plot;
mod settings;
mod text;

fn main() -> ExitCode {
    // As a container's pid 1: the orphans of what lpa starts are its own.
    lpa_drivers::reaper::start_if_init();
    cmd::stop_signals::default_actions_as_init();
    match cli::parse().and_then(cmd::run) {
        Ok(code) => code,
        Err(e) => {
            // One line whatever a path or a value held: a newline in a file
            // name started a second line, which a log reader takes for
            // another message.
            let line = e.to_string().replace('\n', "\\n").replace('\r', "\\r");
            say!("lpa: error: {line}");
            ExitCode::from(e.code)
        }
    }
}
