//! Replay: the observations of a recorded decision log, decided again under
//! another policy.
//!
//! The new policy keeps its own [`State`] from record to record, but the
//! world stays the recorded one: the replica count each observation was
//! measured under is what the recorded decisions left. So the new policy's
//! idea of "what the last decision left" is the recorded outcome, else every
//! record would look like an outside change. Caveat: had the new policy
//! been in charge, its different replica counts would have changed the
//! latencies observed afterwards; replay cannot know how.

use serde::Serialize;

use super::action;
use crate::config::Policy;
use crate::decide::{decide, Reason, State};
use crate::log::DecisionRecord;

/// One re-decided record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayRow {
    /// The 1-based line of the record in the log.
    pub line: usize,
    pub at_secs: u64,
    pub current: u32,
    pub recorded: u32,
    pub new: u32,
    /// Per target of the new policy; `None` when there was no data.
    pub observed: Vec<Option<f64>>,
    pub recorded_action: String,
    pub new_action: String,
}

/// How often the two policies agreed, and where they part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ReplaySummary {
    pub records: usize,
    pub agreed: usize,
    /// The new policy would have had more replicas than recorded.
    pub new_higher: usize,
    pub new_lower: usize,
    /// The counts the recorded decisions left for the interval after
    /// each: a dry run's, or a refused scale's, decided count served none.
    pub recorded_replica_cycles: u64,
    pub new_replica_cycles: u64,
}

/// Re-decides `(line, record)` pairs in order under `policy`.
pub fn replay(
    records: &[(usize, DecisionRecord)],
    policy: &Policy,
) -> (Vec<ReplayRow>, ReplaySummary) {
    let mut state = State::default();
    let mut rows = Vec::with_capacity(records.len());
    let mut sum = ReplaySummary::default();
    for (line, rec) in records {
        let obs = &rec.observation;
        let d = decide(obs, policy, &state);
        // A newer lpa's reason may be its action: said, not left blank.
        let recorded_action = rec
            .reasons
            .iter()
            .filter(|r| r.is_action() || **r == Reason::Newer)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        sum.records += 1;
        match d.replicas.cmp(&rec.decided) {
            std::cmp::Ordering::Equal => sum.agreed += 1,
            std::cmp::Ordering::Greater => sum.new_higher += 1,
            std::cmp::Ordering::Less => sum.new_lower += 1,
        }
        let left = rec.replicas_after();
        sum.recorded_replica_cycles += u64::from(left);
        sum.new_replica_cycles += u64::from(d.replicas);
        rows.push(ReplayRow {
            line: *line,
            at_secs: obs.at_secs,
            current: obs.current_replicas,
            recorded: rec.decided,
            new: d.replicas,
            observed: policy.targets.iter().map(|t| obs.observed(t)).collect(),
            recorded_action,
            new_action: action(&d),
        });
        state = State {
            last_replicas: Some(left),
            ..d.next_state
        };
    }
    (rows, sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_policy;
    use crate::decide::Observation;
    use crate::stats::RequestStats;

    fn record(at: u64, current: u32, mean: f64, decided: u32) -> DecisionRecord {
        let mut obs = Observation {
            at_secs: at,
            current_replicas: current,
            ..Default::default()
        };
        obs.requests.insert(
            "GET_/a".into(),
            RequestStats {
                num_requests: Some(100),
                num_failures: Some(0),
                avg_response_time: Some(mean),
                ..Default::default()
            },
        );
        let policy = parse_policy("p", "targets: [{endpoint: /a, type: mean, target: 7}]").unwrap();
        let mut r = DecisionRecord::new("local", &obs, &decide(&obs, &policy, &State::default()));
        r.decided = decided;
        r
    }

    #[test]
    fn new_policy_keeps_its_own_counter_without_false_outside_changes() {
        // Recorded: held at 3 all along. New policy: decay after 1 calm run.
        let recs: Vec<_> = (0..4)
            .map(|i| (i + 1, record(15 * i as u64, 3, 2.0, 3)))
            .collect();
        let p = parse_policy("new", "targets: [{endpoint: /a, type: mean, target: 7}]\ndecay: {replicas: 1, unchangedRuns: 1}\n")
            .unwrap();
        let (rows, sum) = replay(&recs, &p);
        let new: Vec<u32> = rows.iter().map(|r| r.new).collect();
        // Calm 1, decay (the world stays at 3, so not an outside change), calm 1, decay.
        assert_eq!(new, vec![3, 2, 3, 2]);
        assert!(
            rows.iter().all(|r| !r.new_action.contains("outside")),
            "{rows:?}"
        );
        assert_eq!((sum.records, sum.agreed, sum.new_lower), (4, 2, 2));
        assert_eq!(rows[0].observed, vec![Some(2.0)]);
        assert_eq!(sum.recorded_replica_cycles, 12);
    }

    /// A dry run decided 5 and left 3 serving the interval after: the
    /// recorded cost is 3's.
    #[test]
    fn a_decision_that_took_no_effect_costs_what_it_left() {
        let mut rec = record(0, 3, 9.0, 5);
        rec.outcome = crate::log::Outcome::DryRun;
        let p = parse_policy("p", "targets: [{endpoint: /a, type: mean, target: 7}]").unwrap();
        let (rows, sum) = replay(&[(1, rec)], &p);
        assert_eq!((rows[0].recorded, sum.recorded_replica_cycles), (5, 3));
    }
}
