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
    match cli::parse().and_then(cmd::run) {
        Ok(code) => code,
        Err(e) => {
            say!("lpa: error: {e}");
            ExitCode::from(e.code)
        }
    }
}
