//! `lpa evaluate`: the CPA evaluate hook.
//!
//! 1. Read CPA's JSON from stdin (v2, or the v0 shapes).
//! 2. Load and validate the evaluation config.
//! 3. Lock the state file, load the state (a corrupt file starts fresh).
//! 4. `decide`; save the next state unless this is an `api_dry_run`.
//! 5. Only then print `{"targetReplicas": N}`: on any error stdout stays
//!    empty and the exit is non-zero, which CPA reads as "do not scale".

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use lpa_core::wire::{parse_evaluate_input, MetricReport};
use lpa_drivers::state_file::{Loaded, StateFile};

use crate::cli::EvaluateArgs;
use crate::settings::{load_config, Failure, Result};

/// CPA's inputs are small; a runaway producer must not exhaust memory.
const MAX_STDIN: u64 = 16 << 20;

pub fn run(args: EvaluateArgs) -> Result<ExitCode> {
    let mut input = String::new();
    std::io::stdin()
        .take(MAX_STDIN)
        .read_to_string(&mut input)
        .map_err(|e| Failure::new(format!("evaluate stdin: cannot read: {e}")))?;
    let eval = parse_evaluate_input(&input)?;
    let policy = load_config(&args.policy)?.policy;
    let current = eval.current_replicas().ok_or_else(|| {
        Failure::new("evaluate stdin: resource.spec.replicas: missing, and no metric carries current_replicas")
    })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let obs = eval.observation(now, current);

    let store = StateFile::new(&args.state.decay_info);
    let lock = store.lock()?;
    let (state, loaded) = lock.load()?;
    if let Loaded::Corrupt(why) = &loaded {
        eprintln!(
            "lpa: warning: state file {}: {why}; starting fresh",
            store.path().display()
        );
    }
    let decision = lpa_core::decide(&obs, &policy, &state);
    let dry = eval.run_type.is_dry_run();
    if !dry {
        lock.save(&decision.next_state)?;
    }
    drop(lock);

    let name = eval.resource.name.as_deref().unwrap_or("target");
    eprintln!(
        "lpa evaluate: {name}: {decision}{} => targetReplicas {}{}",
        failure_kinds(&eval.metrics),
        decision.replicas,
        if dry {
            " (dry run: state not saved)"
        } else {
            ""
        }
    );
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", eval.answer(decision.replicas))
        .and_then(|()| out.flush())
        .map_err(|e| Failure::new(format!("stdout: {e}")))?;
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
