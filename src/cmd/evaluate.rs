//! `lpa evaluate`: the CPA evaluate hook.
//!
//! 1. Read CPA's JSON from stdin (v2, or the v0 shapes).
//! 2. Load and validate the evaluation config.
//! 3. Decide under the state file's lock (`StateFile::decide`, the run
//!    loop's transaction too): load the state (a corrupt file starts
//!    fresh), `decide`, save the next state unless this is an `api_dry_run`.
//! 4. Only then print `{"targetReplicas": N}`: on any error stdout stays
//!    empty and the exit is non-zero, which CPA reads as "do not scale".

use std::collections::BTreeMap;
use std::process::ExitCode;

use lpa_core::wire::{parse_evaluate_input, MetricReport};
use lpa_drivers::run_loop::now_secs;
use lpa_drivers::state_file::StateFile;

use super::hook;
use crate::cli::EvaluateArgs;
use crate::settings::{load_config_under, print_line, Failure, Result};

pub fn run(args: EvaluateArgs) -> Result<ExitCode> {
    let eval = parse_evaluate_input(&hook::read_stdin("evaluate")?)?;
    let cpa = hook::CpaConfig::load(|k| std::env::var(k).ok());
    if let Some(w) = &cpa.warning {
        say!("lpa: warning: {w}");
    }
    let mut policy = load_config_under(&args.policy, &cpa.file_bounds)?.policy;
    let name = args.policy.evaluation_config.display().to_string();
    if let Some(w) = cpa.bound(&mut policy, &name) {
        say!("lpa: warning: {w}");
    }
    let current = eval.current_replicas().ok_or_else(|| {
        Failure::new("evaluate stdin: resource.spec.replicas: missing, and no metric carries current_replicas")
    })?;
    let mut obs = eval.observation(now_secs(), current);
    obs.applier_window_secs = cpa.window_secs();

    // CPA scales after this answer: the decision takes effect unless dry.
    let dry = eval.run_type.is_dry_run();
    let decided = StateFile::new(&args.state.decay_info).decide(&obs, &policy, |_| !dry)?;
    if let Some(w) = decided.warning() {
        say!("lpa: warning: {w}");
    }
    decided.saved?;
    let decision = decided.decision;

    let name = eval.resource.name.as_deref().unwrap_or("target");
    say!(
        "lpa evaluate: {name}: {decision}{} => targetReplicas {}{}",
        failure_kinds(&eval.metrics),
        decision.replicas,
        if dry {
            " (dry run: state not saved)"
        } else {
            ""
        }
    );
    print_line(&eval.answer(decision.replicas))?;
    Ok(ExitCode::SUCCESS)
}

/// The most frequent failure kinds of the metrics (`; failures: HTTP 503
/// x40, connection reset x2`), so the one stderr line says what went wrong
/// and not only how often; empty when no metric names its failures.
fn failure_kinds(metrics: &[MetricReport]) -> String {
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    for f in metrics.iter().flat_map(|m| m.failures.values()) {
        *kinds.entry(f.error.as_str()).or_default() += f.occurrences;
    }
    let mut kinds: Vec<_> = kinds.into_iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if kinds.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = kinds
        .iter()
        .take(3)
        .map(|(error, n)| format!("{error} x{n}"))
        .collect();
    let more = match kinds.len().saturating_sub(3) {
        0 => String::new(),
        n => format!(" and {n} more kinds"),
    };
    format!("; failures: {}{more}", shown.join(", "))
}
