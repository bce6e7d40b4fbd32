//! `lpa metric`: the CPA metric hook.
//!
//! 1. Read CPA's JSON from stdin (v2 `{"resource", "runType"}` or v0's bare
//!    resource); the resource's `spec.replicas` becomes `current_replicas`.
//! 2. Load the evaluation config; build the load plan from it and the
//!    flags/env (`locustHost`, `locustUsers`, `locustHatchRate`, ...).
//! 3. Run the test with the load driver `--load-driver` picks (native, or
//!    real Locust with `locustFilePath`; see `load_driver`), which returns
//!    by run time + grace (native) or + Locust's startup slack (Locust) even
//!    against a hung service, and print only the metric JSON on stdout; logs
//!    go to stderr.
//!    On any error stdout stays empty and the exit is non-zero.

use std::process::ExitCode;

use lpa_core::wire::{parse_metric_input, MetricReport};

use super::{hook, load_driver};
use crate::cli::MetricArgs;
use crate::settings::{load_config, print_line, Failure, Result};

pub fn run(args: MetricArgs) -> Result<ExitCode> {
    let metric_input = parse_metric_input(&hook::read_stdin("metric")?)?;
    let config = load_config(&args.policy)?;
    let prepared = load_driver::prepare(
        &args.driver,
        Some(&config),
        &args.load.overrides()?,
        None,
        None,
    )?;
    let cpa = hook::CpaConfig::load(|k| std::env::var(k).ok());
    if let Some(why) = hook::cpa_metric_timeout_error(&prepared.plan, &cpa) {
        return Err(Failure::new(why));
    }
    if metric_input.resource.replicas == Some(0) {
        // Nothing serves: a probe would only measure refused connections.
        // Say so in a metric evaluate reads as "autoscaling disabled".
        say!(
            "lpa metric: {}: 0 replicas: no load test (autoscaling is disabled at 0; scale it up to resume)",
            metric_input.resource.name.as_deref().unwrap_or("target")
        );
        let report = MetricReport {
            current_replicas: Some(0),
            ..MetricReport::default()
        };
        return emit_report(&report);
    }
    if metric_input.resource.kind.as_deref() == Some("Pod") {
        // CPA scales workloads, never pods: a pod here is CPA's per-pod
        // run mode, its default when its config names no runMode.
        say!(
            "lpa metric: warning: {}: {PER_POD}",
            metric_input.resource.name.as_deref().unwrap_or("a pod")
        );
    }
    let measured = load_driver::measure("metric", &prepared, &args.driver)?;
    emit_report(&measured.into_report(metric_input.resource.replicas))
}

/// Why per-pod mode is the wrong one for a probe of the service.
pub(super) const PER_POD: &str = "CPA runs this hook once per pod (runMode per-pod, CPA's default when its config sets none), and each run load-tests the whole service at its host: n pods make n probes in a row every interval; set runMode: per-resource in CPA's config (the lpa image's /config.yaml does)";

fn emit_report(report: &MetricReport) -> Result<ExitCode> {
    let text = serde_json::to_string(report).map_err(|e| Failure::new(e.to_string()))?;
    print_line(&text)?;
    Ok(ExitCode::SUCCESS)
}
