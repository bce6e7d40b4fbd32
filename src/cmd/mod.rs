//! One module per subcommand; `run` dispatches.

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::settings::Result;

mod check;
mod evaluate;
mod simulate;

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Evaluate(args) => evaluate::run(args),
        Command::Check(args) => check::run(args),
        Command::Simulate(args) => simulate::run(args),
    }
}
