//! `lpa loadtest`: run a load test (the native generator, or real Locust with
//! a locustfile: see `load_driver`) and print a Locust-like table (or the
//! metric JSON with `--json`).

use std::process::ExitCode;

use lpa_core::config::{Method, RequestSpec};
use lpa_drivers::locust::Selection;

use super::load_driver::{self, Measured};
use super::load_text;
use crate::cli::{LoadtestArgs, PolicyArgs};
use crate::settings::{load_config, print_line, Failure, Result};

pub fn run(args: LoadtestArgs) -> Result<ExitCode> {
    let config = match &args.evaluation_config {
        Some(path) => Some(load_config(&PolicyArgs {
            evaluation_config: path.clone(),
            min_replicas: None,
            max_replicas: None,
        })?),
        None => None,
    };
    let mut overrides = args.load.overrides()?;
    overrides.requests = args.requests.clone();
    let root = RequestSpec::new(Method::Get, "/");
    let prepared = load_driver::prepare(
        &args.driver,
        config.as_ref(),
        &overrides,
        root.as_ref(),
        None,
    )?;
    if matches!(prepared.selection, Selection::Locust { .. }) && !args.requests.is_empty() {
        say!("lpa: warning: --request is ignored: the locustfile decides what Locust sends (--load-driver native sends it)");
    }
    let measured = load_driver::measure("loadtest", &prepared, &args.driver)?;
    let text = match (args.json, measured) {
        (true, measured) => {
            let report = measured.into_report(None);
            serde_json::to_string(&report).map_err(|e| Failure::new(e.to_string()))?
        }
        (false, Measured::Native(outcome)) => load_text::native_table(&outcome),
        (false, Measured::Locust(report)) => load_text::locust_table(&report),
    };
    print_line(text.trim_end())?;
    Ok(ExitCode::SUCCESS)
}
