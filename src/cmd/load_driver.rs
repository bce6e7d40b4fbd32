//! The load driver of `lpa loadtest` and `lpa metric`: lpa's native users, or
//! real Locust running the user's locustfile (`--load-driver`, env
//! `loadDriver`). Both end in the same metric JSON, so `decide` cannot tell
//! them apart.
//!
//! 1. Build the [`LoadPlan`] as the native driver would (host, users, spawn
//!    rate, run time, grace, percentiles): flags > env > config > defaults.
//! 2. Pick the driver: `auto` takes Locust when the locustfile exists and a
//!    `locust` executable is found (`LOCUST_BIN`, else `PATH`); the open
//!    model (`--arrival-rate`) only exists natively.
//! 3. Run it, then say on stderr which driver ran and why, and what it
//!    measured (after the run, so that bad input leaves only its error line).

use lpa_core::wire::MetricReport;
use lpa_drivers::load::{LoadOutcome, LoadPlan};
use lpa_drivers::locust::{self, DriverChoice, LocustPlan, Selection};

use super::loadtest::{announce, failure_rows, header, request_rows, row, run_with_progress};
use crate::cli::{DriverArgs, LoadDriver};
use crate::settings::{Failure, Result};
use crate::text::count;

/// What a load test measured, by the driver that ran it.
pub(super) enum Measured {
    Native(Box<LoadOutcome>),
    Locust(MetricReport),
}

impl Measured {
    /// The metric JSON, with the replica count the caller knows.
    pub(super) fn into_report(self, current_replicas: Option<u32>) -> MetricReport {
        match self {
            Measured::Native(outcome) => outcome.into_report(current_replicas),
            Measured::Locust(mut report) => {
                report.current_replicas = current_replicas;
                report
            }
        }
    }
}

/// Picks the driver for `plan`.
pub(super) fn select(args: &DriverArgs, plan: &LoadPlan) -> Result<Selection> {
    let choice = match args.load_driver {
        LoadDriver::Native => DriverChoice::Native,
        LoadDriver::Locust => DriverChoice::Locust,
        LoadDriver::Auto => DriverChoice::Auto,
    };
    if plan.arrival_rate.is_some() {
        const WHY: &str = "--arrival-rate (open model) needs the native driver; Locust's users are a closed model";
        return match choice {
            DriverChoice::Locust => Err(Failure::new(format!("--load-driver locust: {WHY}"))),
            _ => Ok(Selection::Native {
                why: format!("{}: {WHY}", driver_word(choice)),
            }),
        };
    }
    locust::select(choice, &args.locustfile, args.locust_bin.as_deref()).map_err(Failure::new)
}

fn driver_word(choice: DriverChoice) -> &'static str {
    match choice {
        DriverChoice::Native => "--load-driver native",
        DriverChoice::Locust => "--load-driver locust",
        DriverChoice::Auto => "auto",
    }
}

/// Runs the selected driver and reports the run on stderr.
pub(super) fn measure(
    cmd: &str,
    selection: &Selection,
    args: &DriverArgs,
    plan: &LoadPlan,
) -> Result<Measured> {
    match selection {
        Selection::Native { why } => {
            let outcome = run_with_progress(plan)?;
            eprintln!("lpa {cmd}: load driver native ({why})");
            announce(cmd, plan, &outcome);
            Ok(Measured::Native(Box::new(outcome)))
        }
        Selection::Locust { program, why } => {
            let locust_plan =
                LocustPlan::from_load_plan(plan, program.clone(), args.locustfile.clone());
            let locust::LocustOutcome { report, warnings } = locust::run(&locust_plan)?;
            eprintln!("lpa {cmd}: load driver locust ({why})");
            let run = report.run.as_ref();
            let field = |name: &str| run.and_then(|r| r.get(name)).cloned().unwrap_or_default();
            eprintln!(
                "lpa {cmd}: {} for {}s with Locust: {} at {}/s: {}, {} failed, {:.1} requests/s (Locust exit code {})",
                plan.host,
                plan.run_time.as_secs_f64(),
                count(plan.users, "user"),
                plan.spawn_rate,
                count(report.num_requests.unwrap_or(0), "request"),
                report.num_requests_fail.unwrap_or(0),
                field("aggregate").get("total_rps").and_then(|v| v.as_f64()).unwrap_or(0.0),
                field("exit_code"),
            );
            for w in warnings {
                eprintln!("lpa {cmd}: warning: {w}");
            }
            Ok(Measured::Locust(report))
        }
    }
}

/// The loadtest table of a Locust run: the native table's columns and
/// failures, and a note that the percentiles come from Locust's buckets.
pub(super) fn locust_table(report: &MetricReport) -> String {
    let mut t = header();
    t.push_str(&request_rows(report.requests.values()));
    let aggregate = report
        .run
        .as_ref()
        .and_then(|r| r.get("aggregate"))
        .and_then(|a| serde_json::from_value(a.clone()).ok())
        .unwrap_or_default();
    t.push_str(&row("Aggregated", &aggregate));
    t.push_str(
        "\n(latencies in ms; percentiles from Locust's buckets: rounded to 1 ms below 100 ms, \
         10 ms below 1 s, 100 ms below 10 s)\n",
    );
    t.push_str(&failure_rows(&report.failures));
    t
}
