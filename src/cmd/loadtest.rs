//! `lpa loadtest`: run a load test (the native generator, or real Locust with
//! a locustfile: see `load_driver`) and print a Locust-like table (or the
//! metric JSON with `--json`).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use lpa_core::config::{Method, Percent, RequestSpec};
use lpa_core::stats::RequestStats;
use lpa_core::wire::FailureStats;
use lpa_drivers::load::{self, LoadOutcome, LoadPlan, Progress};
use lpa_drivers::locust::Selection;

use super::load_driver::{self, Measured};

use crate::cli::{LoadtestArgs, PolicyArgs};
use crate::settings::{load_config, Failure, Result};
use crate::text::count;

pub fn run(args: LoadtestArgs) -> Result<ExitCode> {
    let config = match &args.evaluation_config {
        Some(path) => Some(load_config(&PolicyArgs {
            evaluation_config: path.clone(),
            min_replicas: None,
            max_replicas: None,
        })?),
        None => None,
    };
    let mut overrides = args.load.overrides();
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
        eprintln!("lpa: warning: --request is ignored: the locustfile decides what Locust sends (--load-driver native sends it)");
    }
    let measured = load_driver::measure("loadtest", &prepared, &args.driver)?;
    let mut out = std::io::stdout().lock();
    let text = match (args.json, measured) {
        (true, measured) => {
            let report = measured.into_report(None);
            serde_json::to_string(&report).map_err(|e| Failure::new(e.to_string()))?
        }
        (false, Measured::Native(outcome)) => table(&outcome),
        (false, Measured::Locust(report)) => load_driver::locust_table(&report),
    };
    writeln!(out, "{}", text.trim_end())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::new(format!("stdout: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// One stderr line saying what ran (after the run, so that a bad input
/// leaves only its error line).
pub(super) fn announce(cmd: &str, plan: &LoadPlan, outcome: &LoadOutcome) {
    let pace = match plan.arrival_rate {
        Some(r) => format!(
            "{r} requests/s (open model), at most {} concurrent",
            plan.users
        ),
        None => format!(
            "{} at {}/s, wait {}",
            count(plan.users, "user"),
            plan.spawn_rate,
            plan.wait_text()
        ),
    };
    eprintln!(
        "lpa {cmd}: {} for {}s: {pace}: {}, {} failed, {:.1} requests/s",
        plan.host,
        plan.run_time.as_secs_f64(),
        count(outcome.num_requests, "request"),
        outcome.num_failures,
        outcome.run.aggregate.total_rps.unwrap_or(0.0)
    );
}

/// Runs the plan, with a progress line on stderr when it is a terminal.
pub(super) fn run_with_progress(plan: &LoadPlan) -> Result<LoadOutcome> {
    let tty = std::io::stderr().is_terminal();
    let show = |p: &Progress| {
        eprint!(
            "\r{:>5.1}s/{:.0}s  users {}/{}  requests {}  failures {}   ",
            p.elapsed.as_secs_f64(),
            p.run_time.as_secs_f64(),
            p.users_started,
            p.users,
            p.requests,
            p.failures
        );
    };
    let result = load::run(plan, if tty { Some(&show) } else { None });
    if tty {
        eprint!("\r{:60}\r", "");
    }
    Ok(result?)
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.2}"))
}

pub(super) fn row(name: &str, s: &RequestStats) -> String {
    let p = |label: &str| ms(Percent::parse(label).and_then(|p| s.percentile(p)));
    format!(
        "{:<40} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        name,
        s.num_requests.unwrap_or(0),
        s.num_failures.unwrap_or(0),
        ms(s.avg_response_time),
        ms(s.min_response_time),
        ms(s.max_response_time),
        ms(s.median_response_time),
        p("p90"),
        p("p95"),
        p("p99"),
        s.total_rps
            .map_or_else(|| "-".to_string(), |r| format!("{r:.1}")),
    )
}

/// The table's column names and rule.
pub(super) fn header() -> String {
    let mut t = format!(
        "{:<40} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
        "Name", "reqs", "fails", "mean", "min", "max", "p50", "p90", "p95", "p99", "req/s"
    );
    t.push_str(&format!("{}\n", "-".repeat(40 + 8 + 7 + 9 * 8 + 10)));
    t
}

/// One table row per request, named "METHOD name", for either driver.
pub(super) fn request_rows<'a>(requests: impl Iterator<Item = &'a RequestStats>) -> String {
    let mut rows = String::new();
    for s in requests {
        let name = format!(
            "{} {}",
            s.request_type.as_deref().unwrap_or(""),
            s.name.as_deref().unwrap_or("")
        );
        rows.push_str(&row(&name, s));
        rows.push('\n');
    }
    rows
}

/// The Failures section of either driver's table: occurrences, request and
/// error of each kind; empty without failure kinds.
pub(super) fn failure_rows(failures: &BTreeMap<String, FailureStats>) -> String {
    if failures.is_empty() {
        return String::new();
    }
    let mut t = String::from("\nFailures\n");
    for f in failures.values() {
        t.push_str(&format!(
            "{:>8}  {} {}: {}\n",
            f.occurrences, f.method, f.name, f.error
        ));
    }
    t
}

/// Locust's summary: one row per request, then Aggregated; then failures.
fn table(o: &LoadOutcome) -> String {
    let mut t = header();
    t.push_str(&request_rows(o.requests.values()));
    t.push_str(&row("Aggregated", &o.run.aggregate));
    t.push_str("\n(latencies in ms)\n");
    t.push_str(&failure_rows(&o.failures));
    if let (Some(late), Some(dropped)) = (o.run.late, o.run.dropped) {
        t.push_str(&format!(
            "\nopen model: {late} late sends (> 1 ms behind schedule), {dropped} dropped\n"
        ));
    }
    if let Some(unfinished) = o.run.unfinished.filter(|&n| n > 0) {
        t.push_str(&format!(
            "\n{} unanswered at run time + grace, counted as failures\n",
            count(unfinished, "request")
        ));
    }
    t
}
