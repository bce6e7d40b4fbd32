//! One module per subcommand; `run` dispatches.

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::settings::Result;

mod check;
mod demo;
mod docs;
mod evaluate;
pub(crate) mod hook;
mod load_driver;
mod load_text;
mod loadtest;
mod metric;
pub mod output;
mod report;
mod run;
mod serve;
mod simulate;
pub mod stop_signals;

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Evaluate(args) => evaluate::run(args),
        Command::Check(args) => check::run(args),
        Command::Loadtest(args) => loadtest::run(args),
        Command::Metric(args) => metric::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Completions(args) => docs::completions(args),
        Command::Man(args) => docs::man(args),
        Command::Run(args) => run::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Report(args) => report::run(args),
    }
}
