//! What a load test shows a person: the progress line while it runs, one
//! summary line on stderr after it, and the Locust-like table of `lpa
//! loadtest`, for either driver.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use lpa_core::config::Percent;
use lpa_core::stats::RequestStats;
use lpa_core::wire::{FailureStats, MetricReport};
use lpa_drivers::load::{self, LoadOutcome, LoadPlan, Progress};

use crate::settings::Result;
use crate::text::count;

/// Runs the plan, with a progress line on stderr when it is a terminal.
pub(super) fn run_with_progress(plan: &LoadPlan) -> Result<LoadOutcome> {
    let tty = std::io::stderr().is_terminal();
    let show = |p: &Progress| {
        say_partial!(
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
        say_partial!("\r{:60}\r", "");
    }
    Ok(result?)
}

/// What the summary line counts.
struct Counts {
    requests: u64,
    failed: u64,
    rps: Option<f64>,
}

/// One stderr line saying what ran, after the run (so that bad input
/// leaves only its error line): `HOST for 5s{how}: PACE: N requests, F
/// failed, R requests/s{tail}`.
fn summary(cmd: &str, plan: &LoadPlan, how: &str, pace: &str, c: Counts, tail: &str) {
    say!(
        "lpa {cmd}: {} for {}s{how}: {pace}: {}, {} failed, {:.1} requests/s{tail}",
        plan.host,
        plan.run_time.as_secs_f64(),
        count(c.requests, "request"),
        c.failed,
        c.rps.unwrap_or(0.0)
    );
}

/// The summary line of a native run.
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
    let counts = Counts {
        requests: outcome.num_requests,
        failed: outcome.num_failures,
        rps: outcome.run.aggregate.total_rps,
    };
    summary(cmd, plan, "", &pace, counts, "");
}

/// The summary line of a Locust run, with Locust's exit code.
pub(super) fn announce_locust(cmd: &str, plan: &LoadPlan, report: &MetricReport) {
    let run = report.run.clone().unwrap_or_default();
    let pace = format!("{} at {}/s", count(plan.users, "user"), plan.spawn_rate);
    let counts = Counts {
        requests: report.num_requests.unwrap_or(0),
        failed: report.num_requests_fail.unwrap_or(0),
        rps: run.aggregate.total_rps,
    };
    let exit = run
        .exit_code
        .map_or_else(|| "unknown".to_string(), |c| c.to_string());
    let tail = format!(" (Locust exit code {exit})");
    summary(cmd, plan, " with Locust", &pace, counts, &tail);
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.2}"))
}

fn row(name: &str, s: &RequestStats) -> String {
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

/// Locust's summary: the column names, one row per request named "METHOD
/// name", the Aggregated row, a note on the latencies, then the failure
/// kinds (occurrences, request, error), if any.
fn table<'a>(
    requests: impl Iterator<Item = &'a RequestStats>,
    aggregate: &RequestStats,
    note: &str,
    failures: &BTreeMap<String, FailureStats>,
) -> String {
    let mut t = format!(
        "{:<40} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
        "Name", "reqs", "fails", "mean", "min", "max", "p50", "p90", "p95", "p99", "req/s"
    );
    t.push_str(&format!("{}\n", "-".repeat(40 + 8 + 7 + 9 * 8 + 10)));
    for s in requests {
        let name = format!(
            "{} {}",
            s.request_type.as_deref().unwrap_or(""),
            s.name.as_deref().unwrap_or("")
        );
        t.push_str(&row(&name, s));
        t.push('\n');
    }
    t.push_str(&row("Aggregated", aggregate));
    t.push_str(&format!("\n(latencies in ms{note})\n"));
    if !failures.is_empty() {
        t.push_str("\nFailures\n");
        for f in failures.values() {
            t.push_str(&format!(
                "{:>8}  {} {}: {}\n",
                f.occurrences, f.method, f.name, f.error
            ));
        }
    }
    t
}

/// The table of a native run, and what of the run it does not show: the
/// open model's late and dropped sends, requests left unanswered.
pub(super) fn native_table(o: &LoadOutcome) -> String {
    let mut t = table(o.requests.values(), &o.run.aggregate, "", &o.failures);
    if let (Some(late), Some(dropped)) = (o.run.late, o.run.dropped) {
        t.push_str(&format!(
            "\nopen model: {late} late sends (> 1 ms behind schedule), {dropped} dropped\n"
        ));
    }
    unanswered(&mut t, o.run.unfinished);
    t
}

fn unanswered(t: &mut String, unfinished: Option<u64>) {
    if let Some(unfinished) = unfinished.filter(|&n| n > 0) {
        t.push_str(&format!(
            "\n{} unanswered at run time + grace, counted as failures\n",
            count(unfinished, "request")
        ));
    }
}

/// The table of a Locust run, with where its percentiles come from.
pub(super) fn locust_table(report: &MetricReport) -> String {
    let aggregate = report.run.as_ref().map(|r| r.aggregate.clone());
    let mut t = table(
        report.requests.values(),
        &aggregate.unwrap_or_default(),
        "; percentiles from Locust's buckets: rounded to 1 ms below 100 ms, \
         10 ms below 1 s, 100 ms below 10 s",
        &report.failures,
    );
    unanswered(&mut t, report.run.as_ref().and_then(|r| r.unfinished));
    t
}
