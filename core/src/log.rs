//! The decision log record: one JSON line per cycle of `lpa run`, and the
//! input `lpa simulate --replay` re-decides. It carries the whole
//! observation, so a recorded run can be decided again under another policy.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::decide::{Decision, Observation, Reason};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RecordOnDisk")]
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
    /// What became of the decision.
    pub outcome: Outcome,
    pub observation: Observation,
}

/// What became of a decision: `{"kind": "applied"}`,
/// `{"kind": "outside_change", "seen": 5, "detail": "..."}`, ...
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// Took effect: scaled to the decided count, or nothing to scale.
    Applied,
    /// Decided only (`--dry-run`): nothing scaled, no state saved.
    DryRun,
    /// The count changed since it was read (someone else scaled): not
    /// overwritten, and the next cycle resets the decay counter.
    OutsideChange {
        /// The count the target had instead, when it said.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seen: Option<u32>,
        /// The scale target's words.
        detail: String,
    },
    /// The scale failed (kubectl's error, a replica that did not start).
    ScaleFailed { error: String },
}

impl Outcome {
    pub fn is_applied(&self) -> bool {
        matches!(self, Outcome::Applied)
    }

    /// Every [`Outcome::kind`].
    pub const KINDS: [&'static str; 4] = ["applied", "dry_run", "outside_change", "scale_failed"];

    /// Its `kind` as serialised: `applied`, `dry_run`, `outside_change`,
    /// `scale_failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::DryRun => "dry_run",
            Outcome::OutsideChange { .. } => "outside_change",
            Outcome::ScaleFailed { .. } => "scale_failed",
        }
    }
}

/// Why a decision was not applied, in words: `dry run`, `scale failed: ...`.
impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Applied => f.write_str("applied"),
            Outcome::DryRun => f.write_str("dry run"),
            Outcome::OutsideChange { detail, .. } => {
                write!(f, "{detail}; {RESETS}")
            }
            Outcome::ScaleFailed { error } => write!(f, "{FAILED}{error}"),
        }
    }
}

const RESETS: &str = "the decay counter resets next cycle";
const FAILED: &str = "scale failed: ";

impl DecisionRecord {
    /// A record of `decision`, applied unless the caller says otherwise.
    pub fn new(target: &str, obs: &Observation, decision: &Decision) -> DecisionRecord {
        DecisionRecord {
            at_secs: obs.at_secs,
            time: None,
            target: target.to_string(),
            current: obs.current_replicas,
            decided: decision.replicas,
            summary: decision.to_string(),
            reasons: decision.reasons.clone(),
            outcome: Outcome::Applied,
            observation: obs.clone(),
        }
    }

    /// The replica count the target was left at.
    pub fn replicas_after(&self) -> u32 {
        if self.outcome.is_applied() {
            self.decided
        } else {
            self.current
        }
    }
}

/// A record as read: today's `outcome`, or the three fields logs had before
/// it (`applied`, `not_applied` with the reason in words, `dry_run`).
#[derive(Deserialize)]
struct RecordOnDisk {
    at_secs: u64,
    #[serde(default)]
    time: Option<String>,
    target: String,
    current: u32,
    decided: u32,
    summary: String,
    reasons: Vec<Reason>,
    #[serde(default)]
    outcome: Option<Outcome>,
    #[serde(default)]
    applied: Option<bool>,
    #[serde(default)]
    not_applied: Option<String>,
    #[serde(default)]
    dry_run: bool,
    observation: Observation,
}

impl TryFrom<RecordOnDisk> for DecisionRecord {
    type Error = &'static str;

    fn try_from(r: RecordOnDisk) -> Result<DecisionRecord, &'static str> {
        let outcome = match (r.outcome, r.applied) {
            (Some(outcome), _) => outcome,
            (None, Some(true)) => Outcome::Applied,
            (None, Some(false)) if r.dry_run => Outcome::DryRun,
            (None, Some(false)) => {
                let why = r.not_applied.unwrap_or_default();
                match why.strip_prefix(FAILED) {
                    Some(error) => Outcome::ScaleFailed {
                        error: error.to_string(),
                    },
                    // The only other reason those logs wrote.
                    None => Outcome::OutsideChange {
                        seen: None,
                        detail: why
                            .strip_suffix(&format!("; {RESETS}"))
                            .unwrap_or(&why)
                            .to_string(),
                    },
                }
            }
            (None, None) => return Err("missing field `outcome`"),
        };
        Ok(DecisionRecord {
            at_secs: r.at_secs,
            time: r.time,
            target: r.target,
            current: r.current,
            decided: r.decided,
            summary: r.summary,
            reasons: r.reasons,
            outcome,
            observation: r.observation,
        })
    }
}

/// Where a log's time first goes back: a record timed before one above it
/// (a clock set back, logs joined out of order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBack {
    /// The line of the first record timed before one above it, and its time.
    pub line: usize,
    pub at_secs: u64,
    /// The latest time above that line, and the line that has it.
    pub latest_line: usize,
    pub latest_secs: u64,
    /// The records timed before one above them, that one included.
    pub lines: usize,
}

/// The first record of `(line, at_secs)`, in log order, timed before one
/// above it, and how many are; `None` when time never goes back. Each is
/// held against the latest time above it, not only the line before: after
/// a jump back, the records until the clock catches up go back too.
pub fn time_back(times: impl IntoIterator<Item = (usize, u64)>) -> Option<TimeBack> {
    let mut latest: Option<(usize, u64)> = None;
    let mut first: Option<TimeBack> = None;
    for (line, at_secs) in times {
        match latest {
            Some((latest_line, latest_secs)) if at_secs < latest_secs => {
                first
                    .get_or_insert(TimeBack {
                        line,
                        at_secs,
                        latest_line,
                        latest_secs,
                        lines: 0,
                    })
                    .lines += 1;
            }
            _ => latest = Some((line, at_secs)),
        }
    }
    first
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(fields: &str) -> String {
        format!(
            r#"{{"at_secs":1,"target":"t","current":2,"decided":3,"summary":"s","reasons":[],{fields}"observation":{{"at_secs":1,"current_replicas":2,"requests":{{}}}}}}"#
        )
    }

    fn read(fields: &str) -> Result<Outcome, String> {
        serde_json::from_str::<DecisionRecord>(&line(fields))
            .map(|r| r.outcome)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn outcomes_round_trip_as_one_tagged_field() {
        let all = [
            Outcome::Applied,
            Outcome::DryRun,
            Outcome::OutsideChange {
                seen: Some(5),
                detail: "deployment/web: replicas changed outside lpa".into(),
            },
            Outcome::ScaleFailed {
                error: "kubectl scale: exit 1".into(),
            },
        ];
        assert_eq!(all.each_ref().map(Outcome::kind), Outcome::KINDS);
        for outcome in all {
            let json = serde_json::to_string(&outcome).unwrap();
            assert!(
                json.starts_with(&format!(r#"{{"kind":"{}""#, outcome.kind())),
                "{json}"
            );
            assert_eq!(read(&format!(r#""outcome":{json},"#)), Ok(outcome));
        }
        assert_eq!(
            serde_json::to_string(&Outcome::OutsideChange {
                seen: None,
                detail: "d".into()
            })
            .unwrap(),
            r#"{"kind":"outside_change","detail":"d"}"#
        );
    }

    #[test]
    fn time_back_counts_against_the_latest_time_above() {
        assert_eq!(time_back([(1, 10), (2, 10), (4, 20)]), None);
        assert_eq!(
            time_back([(1, 10), (2, 30), (3, 5), (5, 25), (6, 40), (7, 39)]),
            Some(TimeBack {
                line: 3,
                at_secs: 5,
                latest_line: 2,
                latest_secs: 30,
                lines: 3
            })
        );
    }

    #[test]
    fn logs_written_before_the_typed_outcome_still_load() {
        assert_eq!(
            read(r#""applied":true,"dry_run":false,"#),
            Ok(Outcome::Applied)
        );
        assert_eq!(
            read(r#""applied":false,"not_applied":"dry run","dry_run":true,"#),
            Ok(Outcome::DryRun)
        );
        assert_eq!(
            read(r#""applied":false,"not_applied":"scale failed: kubectl scale: exit status 1","#),
            Ok(Outcome::ScaleFailed {
                error: "kubectl scale: exit status 1".into()
            })
        );
        let refused = read(
            r#""applied":false,"not_applied":"deployment/web: replicas changed outside lpa since they were read (expected 2, now 5); not overwritten; the decay counter resets next cycle","#,
        )
        .unwrap();
        assert_eq!(
            refused,
            Outcome::OutsideChange {
                seen: None,
                detail: "deployment/web: replicas changed outside lpa since they were read (expected 2, now 5); not overwritten".into()
            }
        );
        // Told the same way as when it was written.
        assert_eq!(
            refused.to_string(),
            "deployment/web: replicas changed outside lpa since they were read (expected 2, now 5); not overwritten; the decay counter resets next cycle"
        );
        assert_eq!(read(""), Err("missing field `outcome`".to_string()));
    }
}
