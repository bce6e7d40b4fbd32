//! Policy simulation: drives the real [`decide`] against a model of a
//! service, cycle by cycle, seeded and without a clock.
//!
//! ```text
//!  Scenario { service, load profile, replicas, interval } + Policy + seed
//!     │
//!     ▼   for each cycle c:
//!  1. load = profile.rate(c)                       (requests/s)
//!  2. ServiceModel::measure ──► samples ──► Recording::summarize ──► Observation
//!     (at_secs = c × interval: time is data)
//!  3. decide(&observation, &policy, &state) ──► Decision   (or a yardstick)
//!  4. state = decision.next_state; model.scale(c, decision.replicas)
//!     │
//!     ▼
//!  Trace { rows, scores }   (scores only, for sweeps)
//! ```
//!
//! The same scenario, policy and seed always give the same trace. Replay
//! ([`replay`]) re-decides a recorded decision log; sweeps ([`sweep`]) run a
//! grid of policies and keep the Pareto front; yardsticks ([`yardstick`])
//! run the oracle, the seed rule and Kubernetes' HPA through the same loop
//! in place of `decide`. The binary does the I/O, the plots and the
//! parallelism.
//!
//! ```
//! use lpa_core::{parse_policy, sim};
//!
//! let policy = parse_policy("seed.yaml", "
//! targets: [{endpoint: /fibonacci?n=10, type: mean, target: 7}]
//! ").unwrap();
//! let scenario = sim::parse_scenario("step.yaml", "
//! cycles: 40
//! replicas: 2
//! service: {capacity: 500, baseLatency: 2}
//! load: {type: step, from: 400, to: 1200, at: 10}
//! ", &mut |_| Err(std::io::ErrorKind::NotFound.into())).unwrap();
//! let trace = sim::simulate(&scenario, &policy);
//! assert_eq!(trace.rows.len(), 40);
//! assert!(trace.rows[39].replicas > 2);
//! assert_eq!(trace, sim::simulate(&scenario, &policy));
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::config::{Percent, Policy, Target, TargetKind};
use crate::decide::{decide, Decision, Observation, Reason, State};
use crate::stats::Recording;

pub mod bound;
pub mod load;
pub mod model;
pub mod replay;
pub mod rng;
mod scenario;
pub mod sweep;
pub mod yardstick;

pub use load::LoadProfile;
pub use model::{CycleLatency, Service, ServiceChange, ServiceModel};
pub use rng::SplitMix64;
pub use scenario::parse_scenario;

/// A simulation setup (a scenario file, parsed).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scenario {
    pub name: String,
    /// Seconds between cycles: the observation time advances by this.
    pub interval_secs: u64,
    pub cycles: u32,
    pub seed: u64,
    /// Replicas at cycle 0, all serving.
    pub replicas: u32,
    pub service: Service,
    /// Changes to the service, by cycle, ascending.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<ServiceChange>,
    pub load: LoadProfile,
}

impl Scenario {
    /// What the scenario holds that a run of `cycles` never reaches, as
    /// `(field, value)`: a service change, or the load's step, spike or
    /// ramp, at or past the last cycle.
    pub fn events_past(&self, cycles: u32) -> Vec<(String, u32)> {
        let changes = self
            .changes
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("service.changes[{i}].at"), c.at));
        let load = match &self.load {
            LoadProfile::Step { at, .. } | LoadProfile::Spike { at, .. } => {
                Some(("load.at".to_string(), *at))
            }
            LoadProfile::Ramp { start, .. } => Some(("load.start".to_string(), *start)),
            _ => None,
        };
        changes
            .chain(load)
            .filter(|&(_, at)| at >= cycles)
            .collect()
    }

    /// The ramp or spike that a run of `cycles` starts and cuts off before
    /// its end (the cycle the ramp reaches its rate, or the spike's load
    /// falls back): what it is, and its end as the scenario writes it.
    pub fn load_cut_off(&self, cycles: u32) -> Option<(&'static str, String)> {
        let (what, field, start, end) = match &self.load {
            LoadProfile::Ramp { start, end, .. } => ("ramp", "load.end", *start, *end),
            LoadProfile::Spike { at, length, .. } => (
                "spike",
                "load.at + load.length",
                *at,
                at.saturating_add(*length),
            ),
            _ => return None,
        };
        // A ramp's rate reaches `to` at cycle `end`; a spike's last cycle
        // at its peak is `end - 1`.
        let held_whole = if what == "ramp" {
            cycles > end
        } else {
            cycles >= end
        };
        (start < cycles && !held_whole).then(|| (what, format!("{field} {end}")))
    }

    /// The service as it runs at `cycle`.
    pub fn service_at(&self, cycle: u32) -> Service {
        self.changes
            .iter()
            .take_while(|c| c.at <= cycle)
            .fold(self.service.clone(), |s, c| s.changed(c))
    }

    /// The service as it runs between each change, first to last.
    pub fn services(&self) -> impl Iterator<Item = Service> + '_ {
        std::iter::once(0)
            .chain(self.changes.iter().map(|c| c.at))
            .map(|at| self.service_at(at))
    }
}

/// One cycle of a simulation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceRow {
    pub cycle: u32,
    pub at_secs: u64,
    /// Offered load, requests/s.
    pub load: f64,
    /// Replicas serving traffic this cycle.
    pub ready: u32,
    /// Replicas that exist (what the decision saw as current).
    pub replicas: u32,
    /// Requests queued beyond capacity at the end of the cycle.
    pub backlog: f64,
    /// Per target, in the policy's order; `None` when there was no data.
    pub observed: Vec<Option<f64>>,
    pub failures: u64,
    pub breached: bool,
    pub decided: u32,
    /// The decision's action, rendered (`scale up 2 -> 3`, `hold 3 ...`).
    pub action: String,
}

/// What a target is, for labels: `GET_/fibonacci?n=10 mean <= 7ms`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetLabel {
    pub key: String,
    pub kind: String,
    pub target: f64,
    pub unit: String,
}

impl TargetLabel {
    /// The labels of a policy's targets, in its order.
    pub fn of(policy: &Policy) -> Vec<TargetLabel> {
        policy
            .targets
            .iter()
            .map(|t| TargetLabel {
                key: t.key(),
                kind: t.kind.to_string(),
                target: t.target,
                unit: t.kind.unit().to_string(),
            })
            .collect()
    }
}

/// `GET_/fibonacci?n=10 mean <= 7ms`.
impl std::fmt::Display for TargetLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} <= {}{}",
            self.key,
            self.kind,
            crate::log::num(self.target),
            self.unit
        )
    }
}

/// How long the service took to get back under target after a load step
/// (or, in a recorded run, after a breach began).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recovery {
    /// The cycle of the step; in a recorded run, the first breached cycle
    /// of the episode.
    pub step_at: u32,
    /// Cycles from the step to the first cycle within every target; `None`
    /// when the simulation ended first.
    pub cycles: Option<u32>,
}

/// The scores a policy is judged by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Scores {
    pub cycles: u32,
    /// Cycles where some target was breached (as measured).
    pub cycles_over_target: u32,
    /// The cost: replicas summed over the cycles.
    pub replica_cycles: u64,
    /// Cycles whose decision changed the replica count.
    pub scale_changes: u32,
    /// Changes in the opposite direction of the previous one: flapping.
    pub reversals: u32,
    pub peak_replicas: u32,
    pub recoveries: Vec<Recovery>,
}

impl Scores {
    /// Sums another run of the same scenario (another seed) into this one;
    /// the peak is the highest, a recovery sums while both recovered.
    pub fn add(&mut self, other: &Scores) {
        self.cycles += other.cycles;
        self.cycles_over_target += other.cycles_over_target;
        self.replica_cycles += other.replica_cycles;
        self.scale_changes += other.scale_changes;
        self.reversals += other.reversals;
        self.peak_replicas = self.peak_replicas.max(other.peak_replicas);
        for (mine, theirs) in self.recoveries.iter_mut().zip(&other.recoveries) {
            mine.cycles = mine.cycles.zip(theirs.cycles).map(|(a, b)| a + b);
        }
    }

    /// The slowest recovery; `None` if there were no steps, `Some(None)`
    /// if some step never recovered.
    pub fn worst_recovery(&self) -> Option<Option<u32>> {
        self.recoveries
            .iter()
            .map(|r| r.cycles)
            .reduce(|a, b| match (a, b) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            })
    }
}

/// A whole simulation's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    pub scenario: String,
    pub seed: u64,
    pub interval_secs: u64,
    pub targets: Vec<TargetLabel>,
    pub rows: Vec<TraceRow>,
    pub scores: Scores,
}

/// Accumulates scores cycle by cycle, for a simulation or for a recorded
/// run (`lpa report`), so both are judged by the same numbers.
pub struct Scorer {
    scores: Scores,
    steps: Vec<u32>,
    /// A recorded run knows no load steps: each breach episode is one.
    from_breaches: bool,
    last_direction: i8,
}

impl Scorer {
    fn new(scenario: &Scenario) -> Scorer {
        let steps = scenario.load.steps(scenario.cycles);
        Scorer {
            scores: Scores {
                recoveries: steps
                    .iter()
                    .map(|&s| Recovery {
                        step_at: s,
                        cycles: None,
                    })
                    .collect(),
                ..Scores::default()
            },
            steps,
            from_breaches: false,
            last_direction: 0,
        }
    }

    /// For a recorded run: a recovery counts from the first breached cycle
    /// of each breach episode to the first cycle within every target.
    pub fn recorded() -> Scorer {
        Scorer {
            scores: Scores::default(),
            steps: Vec::new(),
            from_breaches: true,
            last_direction: 0,
        }
    }

    fn add(&mut self, cycle: u32, current: u32, breached: bool, decided: u32) {
        self.add_cycle(cycle, current, breached, !breached, decided);
    }

    /// One cycle: `current` replicas, a target `breached`, `within` every
    /// target (a cycle with no data for some target is neither), `decided`.
    pub fn add_cycle(
        &mut self,
        cycle: u32,
        current: u32,
        breached: bool,
        within: bool,
        decided: u32,
    ) {
        let s = &mut self.scores;
        s.cycles += 1;
        s.replica_cycles += u64::from(current);
        s.peak_replicas = s.peak_replicas.max(current);
        let open = s.recoveries.last().is_some_and(|r| r.cycles.is_none());
        if breached {
            s.cycles_over_target += 1;
            if self.from_breaches && !open {
                s.recoveries.push(Recovery {
                    step_at: cycle,
                    cycles: None,
                });
            }
        }
        if within {
            for (r, &at) in s.recoveries.iter_mut().zip(&self.steps) {
                if r.cycles.is_none() && cycle >= at {
                    r.cycles = Some(cycle - at);
                }
            }
            if let Some(r) = s.recoveries.last_mut().filter(|_| self.from_breaches) {
                if r.cycles.is_none() {
                    r.cycles = Some(cycle - r.step_at);
                }
            }
        }
        if decided != current {
            s.scale_changes += 1;
            let direction = if decided > current { 1 } else { -1 };
            if self.last_direction == -direction {
                s.reversals += 1;
            }
            self.last_direction = direction;
        }
    }

    pub fn finish(self) -> Scores {
        self.scores
    }
}

/// What a controller decides from at the end of a cycle: the cycle's
/// measurement and the model it was measured on (before the cycle's load
/// is queued).
pub(crate) struct Seen<'a> {
    pub cycle: u32,
    pub rate: f64,
    pub ready: u32,
    pub obs: &'a Observation,
    pub model: &'a ServiceModel,
    /// The policy's targets, which every controller is judged by.
    pub targets: &'a [Target],
}

/// Something that sets the replica count cycle by cycle: the policy
/// through [`decide`], or a yardstick ([`yardstick`]).
pub(crate) trait Controller {
    /// The replicas for the next cycle, and whether this cycle breached a
    /// target as measured.
    fn decide(&mut self, seen: &Seen<'_>) -> (u32, bool);
    /// The last decision, rendered for a trace row.
    fn action(&self) -> String;
}

/// The policy, through the one `decide`.
struct PolicyController<'p> {
    policy: &'p Policy,
    last: Decision,
}

impl<'p> PolicyController<'p> {
    fn new(policy: &'p Policy) -> Self {
        PolicyController {
            policy,
            last: Decision {
                replicas: 0,
                next_state: State::default(),
                reasons: Vec::new(),
            },
        }
    }
}

impl Controller for PolicyController<'_> {
    fn decide(&mut self, seen: &Seen<'_>) -> (u32, bool) {
        self.last = decide(seen.obs, self.policy, &self.last.next_state);
        (self.last.replicas, breached(&self.last))
    }

    fn action(&self) -> String {
        action(&self.last)
    }
}

/// What one cycle came to, for the caller's bookkeeping.
struct Cycle<'a> {
    cycle: u32,
    rate: f64,
    ready: u32,
    obs: &'a Observation,
    /// After the cycle's load was queued.
    model: &'a ServiceModel,
    decided: u32,
    breached: bool,
    /// Some target breached on the model's noise-free values (when asked).
    over_model: bool,
}

/// The simulation loop, written once: `initial` replicas at cycle 0, all
/// serving; `each` sees every cycle. `check_model` also judges each cycle
/// on the model's noise-free values (the yardsticks' "held").
fn drive<C: Controller>(
    scenario: &Scenario,
    policy: &Policy,
    initial: u32,
    controller: &mut C,
    check_model: bool,
    mut each: impl FnMut(&Cycle<'_>, &C),
) {
    // Each request key is measured once per cycle, with the percentiles
    // its targets ask for, as the real load driver does.
    let mut keys: BTreeMap<String, (String, String, Vec<Percent>)> = BTreeMap::new();
    for t in &policy.targets {
        let entry = keys.entry(t.key()).or_insert_with(|| {
            (
                t.method.as_str().to_string(),
                t.endpoint.clone(),
                Vec::new(),
            )
        });
        if let TargetKind::Percentile(p) = t.kind {
            entry.2.push(p);
        }
    }
    let mut rng = SplitMix64::new(scenario.seed);
    let mut model = ServiceModel::new(
        scenario.service.clone(),
        scenario.interval_secs as f64,
        initial,
    );
    for cycle in 0..scenario.cycles {
        if scenario.changes.iter().any(|c| c.at == cycle) {
            model.set_service(scenario.service_at(cycle));
        }
        let rate = scenario.load.rate(cycle);
        let ready = model.ready(cycle);
        let mut obs = Observation {
            at_secs: u64::from(cycle) * scenario.interval_secs,
            current_replicas: model.replicas(),
            requests: BTreeMap::new(),
            // What Kubernetes reports (`status.readyReplicas`), as CPA's
            // evaluate hook and `lpa run` read it.
            ready_replicas: Some(ready),
            // The simulated cluster applies each answer at once.
            applier_window_secs: None,
        };
        for (key, (method, name, extra)) in &keys {
            let mut rec = Recording::default();
            model.measure(cycle, rate, &mut rng, &mut rec);
            obs.requests.insert(
                key.clone(),
                rec.summarize(method, name, Duration::ZERO, extra),
            );
        }
        let over_model = check_model
            && !yardstick::holds(
                &model.latency(cycle, rate),
                &policy.targets,
                scenario.service.samples,
            );
        let (decided, breached) = controller.decide(&Seen {
            cycle,
            rate,
            ready,
            obs: &obs,
            model: &model,
            targets: &policy.targets,
        });
        // With nothing serving, the load test's requests are all refused:
        // they read fast (at the base latency), but nothing was served, and
        // no latency target can call that within. Over target, as "held"
        // has it (docs/algorithm.md): whatever the offered load, since the
        // load test's own requests went unserved.
        let breached = breached || ready == 0;
        // Every key sees the same service, which queues the load once.
        model.advance(cycle, rate);
        each(
            &Cycle {
                cycle,
                rate,
                ready,
                obs: &obs,
                model: &model,
                decided,
                breached,
                over_model,
            },
            controller,
        );
        model.scale(cycle, decided);
    }
}

fn breached(d: &Decision) -> bool {
    d.reasons
        .iter()
        .any(|r| matches!(r, Reason::Target { breached: true, .. }))
}

/// A run's outcome: the trace rows when kept, the scores, and the cycles
/// over target on the model's noise-free values when checked.
struct Run {
    rows: Vec<TraceRow>,
    scores: Scores,
    over_model: u32,
}

fn run<C: Controller>(
    scenario: &Scenario,
    policy: &Policy,
    initial: u32,
    controller: &mut C,
    keep_rows: bool,
    check_model: bool,
) -> Run {
    let mut scorer = Scorer::new(scenario);
    let mut rows = Vec::with_capacity(if keep_rows {
        scenario.cycles as usize
    } else {
        0
    });
    let mut over_model = 0;
    drive(
        scenario,
        policy,
        initial,
        controller,
        check_model,
        |c, ctl| {
            let current = c.obs.current_replicas;
            scorer.add(c.cycle, current, c.breached, c.decided);
            over_model += u32::from(c.over_model);
            if keep_rows {
                let (failures, _) = c.obs.failures();
                rows.push(TraceRow {
                    cycle: c.cycle,
                    at_secs: c.obs.at_secs,
                    load: c.rate,
                    ready: c.ready,
                    replicas: current,
                    backlog: c.model.backlog(),
                    observed: policy.targets.iter().map(|t| c.obs.observed(t)).collect(),
                    failures,
                    breached: c.breached,
                    decided: c.decided,
                    action: ctl.action(),
                });
            }
        },
    );
    Run {
        rows,
        scores: scorer.scores,
        over_model,
    }
}

fn trace(scenario: &Scenario, policy: &Policy, run: Run) -> Trace {
    Trace {
        scenario: scenario.name.clone(),
        seed: scenario.seed,
        interval_secs: scenario.interval_secs,
        targets: TargetLabel::of(policy),
        rows: run.rows,
        scores: run.scores,
    }
}

/// Runs a scenario under a policy, keeping every cycle.
pub fn simulate(scenario: &Scenario, policy: &Policy) -> Trace {
    let mut ctl = PolicyController::new(policy);
    let r = run(scenario, policy, scenario.replicas, &mut ctl, true, false);
    trace(scenario, policy, r)
}

/// Runs a scenario under a policy and keeps only the scores (sweeps).
pub fn score(scenario: &Scenario, policy: &Policy) -> Scores {
    let mut ctl = PolicyController::new(policy);
    run(scenario, policy, scenario.replicas, &mut ctl, false, false).scores
}

/// Runs a scenario under a policy, keeping only the scores, with every
/// cycle judged against `judge` rather than the policy's own targets. A
/// sweep that varies a target's value decides by each point's value but
/// judges every point by the evaluation config's, so that its points are
/// scored by one yardstick: a policy that scales at 9 ms is not "within
/// target" when the target held is 7. `judge` names the same requests as
/// the policy's targets (a sweep changes values, not requests).
pub fn score_judged(scenario: &Scenario, policy: &Policy, judge: &[Target]) -> Scores {
    let mut ctl = Judged {
        inner: PolicyController::new(policy),
        judge,
    };
    run(scenario, policy, scenario.replicas, &mut ctl, false, false).scores
}

/// A controller's decisions, judged against other targets.
struct Judged<'j, C> {
    inner: C,
    judge: &'j [Target],
}

impl<C: Controller> Controller for Judged<'_, C> {
    fn decide(&mut self, seen: &Seen<'_>) -> (u32, bool) {
        let (replicas, _) = self.inner.decide(seen);
        (
            replicas,
            yardstick::breached_as_measured(seen.obs, self.judge),
        )
    }

    fn action(&self) -> String {
        self.inner.action()
    }
}

/// The action part of a decision (what it did, without the per-target
/// comparisons, which a trace keeps as numbers).
pub fn action(d: &Decision) -> String {
    let mut out = String::new();
    for r in d.reasons.iter().filter(|r| {
        r.is_action()
            || matches!(
                r,
                Reason::Failures { .. }
                    | Reason::OutsideChange { .. }
                    | Reason::DecayNotApplied { .. }
            )
    }) {
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(&r.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_policy;

    fn seed_policy() -> Policy {
        parse_policy(
            "seed.yaml",
            "targets: [{method: GET, endpoint: /fibonacci?n=10, type: mean, target: 7}]\ndecay: {replicas: 1, unchangedRuns: 3}\n",
        )
        .unwrap()
    }

    fn scenario(load: LoadProfile) -> Scenario {
        Scenario {
            name: "t".into(),
            interval_secs: 15,
            cycles: 60,
            seed: 3,
            replicas: 2,
            service: Service {
                capacity: 500.0,
                base_latency_ms: 2.0,
                startup_cycles: 1,
                samples: 100,
                timeout_ms: None,
            },
            changes: Vec::new(),
            load,
        }
    }

    /// Two periods of a wave in 60 cycles, from 300 to 1300 requests/s.
    fn sine() -> LoadProfile {
        LoadProfile::Sine {
            mean: 800.0,
            amplitude: 500.0,
            period: 30,
        }
    }

    #[test]
    fn scale_up_under_a_step_then_recover_and_score() {
        let s = scenario(LoadProfile::Step {
            from: 400.0,
            to: 1600.0,
            at: 10,
        });
        let t = simulate(&s, &seed_policy());
        assert_eq!(t.rows[0].at_secs, 0);
        assert_eq!(t.rows[1].at_secs, 15);
        // 1600 req/s at 500 per replica and ρ <= 0.6 for 7 ms needs 6.
        let last = t.rows.last().unwrap();
        assert!(last.replicas >= 5 && last.replicas <= 7, "{last:?}");
        let r = &t.scores.recoveries;
        assert_eq!(r.len(), 1);
        assert!(matches!(r[0].cycles, Some(c) if c > 0 && c < 30), "{r:?}");
        assert_eq!(
            t.scores.replica_cycles,
            t.rows.iter().map(|r| u64::from(r.replicas)).sum::<u64>()
        );
        assert_eq!(t.scores, score(&s, &seed_policy()));
    }

    #[test]
    fn a_recorded_run_recovers_from_each_breach_episode() {
        // (current, breached, within, decided) per cycle, numbered from 1.
        let cycles = [
            (1, false, true, 1),
            (1, true, false, 2),
            (2, true, false, 3),
            (3, false, false, 3), // no data: neither over target nor within
            (3, false, true, 3),
            (3, false, true, 2),
            (2, true, false, 3),
        ];
        let mut scorer = Scorer::recorded();
        for (i, &(current, breached, within, decided)) in cycles.iter().enumerate() {
            scorer.add_cycle(i as u32 + 1, current, breached, within, decided);
        }
        let s = scorer.finish();
        assert_eq!(s.cycles, 7);
        assert_eq!(s.cycles_over_target, 3);
        assert_eq!(s.replica_cycles, 15);
        assert_eq!(s.peak_replicas, 3);
        assert_eq!(s.scale_changes, 4);
        // up, up, down, up: the down and the up after it reverse.
        assert_eq!(s.reversals, 2);
        assert_eq!(
            s.recoveries,
            vec![
                Recovery {
                    step_at: 2,
                    cycles: Some(3)
                },
                Recovery {
                    step_at: 7,
                    cycles: None
                },
            ]
        );
        assert_eq!(s.worst_recovery(), Some(None));
    }

    #[test]
    fn a_policy_judged_by_its_own_targets_scores_as_itself() {
        let loads = [
            LoadProfile::Step {
                from: 400.0,
                to: 1600.0,
                at: 10,
            },
            sine(),
        ];
        let model = parse_policy(
            "m.yaml",
            "targets: [{endpoint: /fibonacci?n=10, type: mean, target: 7}]\ndecay: {unchangedRuns: 2}\nmodel: {margin: 0.1}\n",
        )
        .unwrap();
        for load in loads {
            for p in [seed_policy(), model.clone()] {
                for seed in 1..=3 {
                    let s = Scenario {
                        seed,
                        ..scenario(load.clone())
                    };
                    assert_eq!(score_judged(&s, &p, &p.targets), score(&s, &p));
                }
            }
        }
    }

    #[test]
    fn a_policy_is_judged_by_the_targets_given_and_decides_by_its_own() {
        let s = scenario(sine());
        let held = seed_policy();
        let mut loose = held.clone();
        loose.set_target_value(0, 9.0).unwrap();
        let own = score(&s, &loose);
        let judged = score_judged(&s, &loose, &held.targets);
        // The same decisions: the same replicas.
        assert_eq!(judged.replica_cycles, own.replica_cycles);
        assert_eq!(judged.scale_changes, own.scale_changes);
        // Every reading over 9 is over 7, and more are.
        let t = simulate(&s, &loose);
        let over = |limit: f64| {
            t.rows
                .iter()
                .filter(|r| r.observed[0].is_some_and(|v| v > limit))
                .count() as u32
        };
        assert_eq!(own.cycles_over_target, over(9.0));
        assert_eq!(judged.cycles_over_target, over(7.0));
        assert!(
            judged.cycles_over_target > own.cycles_over_target,
            "{judged:?} {own:?}"
        );
    }

    #[test]
    fn seeds_name_traces() {
        let s = scenario(sine());
        let p = seed_policy();
        assert_eq!(simulate(&s, &p), simulate(&s, &p));
        let other = Scenario {
            seed: 4,
            ..s.clone()
        };
        assert_ne!(simulate(&s, &p).rows, simulate(&other, &p).rows);
    }

    #[test]
    fn several_keys_do_not_double_the_backlog() {
        let p = parse_policy(
            "two.yaml",
            "targets: [{endpoint: /a, type: mean, target: 7}, {endpoint: /b, type: p95, target: 20}]\n",
        )
        .unwrap();
        let mut s = scenario(LoadProfile::Constant { rate: 1200.0 });
        s.cycles = 1;
        s.replicas = 2;
        let t = simulate(&s, &p);
        // 200 req/s over capacity for 15 s.
        assert!(
            (t.rows[0].backlog - 3000.0).abs() < 1e-6,
            "{}",
            t.rows[0].backlog
        );
        assert!(t.rows[0].observed.iter().all(Option::is_some));
    }

    #[test]
    fn a_cycle_with_no_replica_serving_is_over_target() {
        let mut s = scenario(LoadProfile::Constant { rate: 100.0 });
        s.replicas = 0;
        s.cycles = 5;
        let trace = simulate(&s, &seed_policy());
        // Refused requests read the base latency, and fail.
        let row = &trace.rows[0];
        assert_eq!((row.ready, row.observed[0]), (0, Some(2.0)));
        assert_eq!(row.failures, 100);
        assert!(trace.rows.iter().all(|r| r.breached), "{:?}", trace.rows);
        assert_eq!(trace.scores.cycles_over_target, 5);
    }
}
