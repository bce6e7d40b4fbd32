//! The decision log record: one JSON line per cycle of `lpa run`, and the
//! input `lpa simulate --replay` re-decides. It carries the whole
//! observation, so a recorded run can be decided again under another policy.

use serde::{Deserialize, Serialize};

use crate::decide::{Decision, Observation, Reason};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// Seconds since the Unix epoch (the observation's time).
    pub at_secs: u64,
    /// The same instant as RFC 3339 text (UTC), for people and log tools;
    /// filled in by the writer, since the core reads no clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// What was scaled: `deployment/fibonacci`, `local`, ...
    pub target: String,
    pub current: u32,
    pub decided: u32,
    /// The decision as one readable line.
    pub summary: String,
    pub reasons: Vec<Reason>,
    /// Whether the decision was applied (scaled, or nothing to scale).
    pub applied: bool,
    /// Why not, when it was not: dry run, kubectl failure, outside change...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_applied: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    pub observation: Observation,
}

impl DecisionRecord {
    pub fn new(target: &str, obs: &Observation, decision: &Decision) -> DecisionRecord {
        DecisionRecord {
            at_secs: obs.at_secs,
            time: None,
            target: target.to_string(),
            current: obs.current_replicas,
            decided: decision.replicas,
            summary: decision.to_string(),
            reasons: decision.reasons.clone(),
            applied: false,
            not_applied: None,
            dry_run: false,
            observation: obs.clone(),
        }
    }
}

/// Renders a number for people, without float noise: 7, 7.5, 0.013 (three
/// decimals at most). Every log line and table of lpa writes numbers so.
pub fn num(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}
