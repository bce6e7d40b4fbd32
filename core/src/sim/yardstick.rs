//! Yardsticks a policy is judged against, on the same scenario, seed and
//! model: the oracle, the seed guide's policy, and Kubernetes' HPA on CPU
//! and on latency.
//!
//! **Held.** A cycle holds the targets when every target's statistic, read
//! from the model's noise-free latency distribution of that cycle
//! ([`CycleLatency::statistic`]: the mean, the quantile, the error rate a
//! load test of `samples` requests reads without sampling noise), is at or
//! below the target (a breach is strictly above, as in `decide`). The
//! scores' "cycles over target" stay what the policy's noisy load test
//! measured; "over (model)" counts the cycles that did not hold.
//!
//! **The oracle** knows the load to come and plans the fewest replicas
//! that hold every cycle. With `ready` replicas serving, the fewest that
//! hold cycle c is `need(c)`, found by search on the model (more replicas
//! never hold less: utilisation and wait only fall). A replica serves
//! `startupCycles` after it exists, so the count that exists at c must
//! already cover the cycles it prepares for:
//!
//! ```text
//! oracle(c) = max(floor, need(c), need(c+1), ..., need(c + startupCycles))
//! ```
//!
//! where `floor` is max(1, minReplicas) from cycle 1 on (decisions are
//! clamped to it; cycle 0's count predates any decision, for a policy as
//! for the oracle) and 1 at cycle 0; maxReplicas is not applied (the
//! oracle shows what holding costs). Removals take the newest replicas
//! first, so those serving at c are the ones that existed all through
//! [c − startupCycles, c]: min of `oracle` there, which is at least
//! `need(c)`. `need` is computed along the backlog the oracle's own counts
//! leave, cycle by cycle; when holding needs spare capacity (ρ < 1, every
//! target tighter than the service at saturation) no backlog ever forms,
//! and any trajectory that holds every cycle has at least `oracle(c)`
//! replicas at every c: the oracle is then the exact lower bound, cycle by
//! cycle, of every policy that never breaches on the model. At cycle 0 it
//! has what it needs (prepared before the run), not the scenario's count.
//!
//! **HPA** is the Kubernetes controller (`pkg/controller/podautoscaler`,
//! `horizontal.go` and `replica_calculator.go`) with autoscaling/v2's
//! default behaviour (`pkg/apis/autoscaling/v2/defaults.go`), evaluated once
//! per cycle (the cycle's interval as its sync period):
//!
//! - desired = ceil(ready × ratio), held at current while |1 − ratio| <=
//!   0.1 (the controller's default tolerance); "Algorithm details" in the
//!   Kubernetes docs (tasks/run-application/horizontal-pod-autoscale);
//! - CPU: ratio = utilisation / target in whole percent, utilisation = the
//!   model's busy fraction of the serving replicas (at most 100 %, as
//!   metrics-server reads it over the cycle, with no noise). Replicas still
//!   starting are set aside; on a scale-up they count as 0 % and the ratio
//!   is computed again (the docs' not-yet-ready rule). A replica's first
//!   metric window after readiness, which Kubernetes also ignores, falls
//!   inside the cycle it starts serving in here;
//! - latency (KEDA with a Prometheus latency query, `metricType: Value`):
//!   ratio = observed / target per target, the same noisy measurement the
//!   policy sees; the largest proposal wins; a target without data blocks a
//!   scale-down (the controller's invalid-metric rule);
//! - stabilization: the highest recommendation of the last 300 s bounds a
//!   scale-down (none for a scale-up);
//! - rate: a scale-up adds at most max(4 pods, 100 %) of the count at the
//!   start of the period, a scale-down removes at most 100 %, both per 15 s
//!   (the `periodSeconds` defaults.go sets; the API reference's "per 60
//!   seconds" in HorizontalPodAutoscalerBehavior is not what the code does),
//!   counted from the scale events the controller keeps;
//! - minReplicas max(1, the policy's), maxReplicas the policy's.
//!
//! HPA on CPU is "perfectly tuned": its target utilisation is the highest
//! whole percent at which the service holds every target at steady state
//! (no backlog, ρ = utilisation) under the model, found from the model by
//! checking each percent. The tolerance band lets it run up to 10 % above
//! that before it acts, as a real HPA does.

use serde::Serialize;

use super::model::{backlog_after, CycleLatency, Service};
use super::{run, trace, Controller, PolicyController, Scenario, Scores, Seen, Trace};
use crate::config::{Policy, Target};
use crate::decide::Observation;

/// Whether every target holds on the noise-free distribution `latency`,
/// for load tests of `samples` requests. A cycle with no replica serving
/// never holds, whatever its refused requests' latency reads.
pub fn holds(latency: &CycleLatency, targets: &[Target], samples: u32) -> bool {
    latency.serving()
        && targets
            .iter()
            .all(|t| latency.statistic(t.kind, samples) <= t.target)
}

/// Whether a target was breached as measured (observed > target).
pub(crate) fn breached_as_measured(obs: &Observation, targets: &[Target]) -> bool {
    targets
        .iter()
        .any(|t| obs.observed(t).is_some_and(|v| v > t.target))
}

/// No replica count holds the targets under the model: even idle, the
/// service misses a target.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("no replica count holds the targets under the scenario's model (cycle {cycle}, {rate} requests/s): even idle, the service misses a target")]
pub struct Unreachable {
    pub cycle: u32,
    pub rate: f64,
}

/// The fewest replicas from `floor` of `service` that hold the targets at
/// `rate` behind `backlog`; `None` when no count does.
fn need(
    service: &Service,
    interval_secs: f64,
    targets: &[Target],
    floor: u32,
    rate: f64,
    backlog: f64,
) -> Option<u32> {
    let held = |r: u32| {
        holds(
            &CycleLatency::new(service, interval_secs, r, rate, backlog),
            targets,
            service.samples,
        )
    };
    if held(floor) {
        return Some(floor);
    }
    // Doubling, then bisection: `held` is monotone in the count.
    let mut bad = floor;
    let mut good = loop {
        if bad == u32::MAX {
            return None;
        }
        let next = bad.saturating_mul(2).max(bad + 1);
        if held(next) {
            break next;
        }
        bad = next;
    };
    while good - bad > 1 {
        let mid = bad + (good - bad) / 2;
        if held(mid) {
            good = mid;
        } else {
            bad = mid;
        }
    }
    Some(good)
}

/// The oracle's plan for a scenario (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Oracle {
    /// Replicas that must serve at each cycle.
    pub need: Vec<u32>,
    /// Replicas that exist at each cycle.
    pub replicas: Vec<u32>,
}

impl Oracle {
    pub fn plan(scenario: &Scenario, policy: &Policy) -> Result<Oracle, Unreachable> {
        let t = scenario.interval_secs as f64;
        let mut need = Vec::with_capacity(scenario.cycles as usize);
        let mut backlog = 0.0;
        for cycle in 0..scenario.cycles {
            let rate = scenario.load.rate(cycle);
            let service = scenario.service_at(cycle);
            let n = self::need(&service, t, &policy.targets, 1, rate, backlog)
                .ok_or(Unreachable { cycle, rate })?;
            // The backlog along serving exactly `need`: the oracle serves at
            // least that, so its own backlog is at most this one.
            backlog = backlog_after(&service, t, n, rate, backlog);
            need.push(n);
        }
        let ahead = scenario.service.startup_cycles as usize;
        let floor = policy.min_replicas.max(1);
        let replicas = (0..need.len())
            .map(|c| {
                let end = need.len().min(c.saturating_add(ahead).saturating_add(1));
                let most = need[c..end].iter().copied().max().unwrap_or(1);
                // Cycle 0's count was there before any decision, as the
                // scenario's is for a policy: minReplicas binds from cycle 1.
                if c == 0 {
                    most
                } else {
                    most.max(floor)
                }
            })
            .collect();
        Ok(Oracle { need, replicas })
    }

    pub fn replica_cycles(&self) -> u64 {
        self.replicas.iter().map(|&r| u64::from(r)).sum()
    }
}

/// The oracle as a controller: it follows its plan.
struct OracleController<'o> {
    oracle: &'o Oracle,
    last: String,
}

impl Controller for OracleController<'_> {
    fn decide(&mut self, seen: &Seen<'_>) -> (u32, bool) {
        let c = seen.cycle as usize;
        let next = self.oracle.replicas.get(c + 1).copied();
        let next = next.unwrap_or(self.oracle.replicas[c]);
        self.last = format!(
            "oracle: {} serving needed now; {next} next",
            self.oracle.need[c]
        );
        (next, breached_as_measured(seen.obs, seen.targets))
    }

    fn action(&self) -> String {
        self.last.clone()
    }
}

/// The HPA controller's tunables, at Kubernetes' defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HpaRules {
    /// `--horizontal-pod-autoscaler-tolerance`.
    pub tolerance: f64,
    pub scale_up_window_secs: u64,
    /// `--horizontal-pod-autoscaler-downscale-stabilization`.
    pub scale_down_window_secs: u64,
    /// Scale-up policies, the larger wins (`selectPolicy: Max`).
    pub scale_up_pods: u32,
    pub scale_up_percent: u32,
    pub scale_up_period_secs: u64,
    pub scale_down_percent: u32,
    pub scale_down_period_secs: u64,
}

impl Default for HpaRules {
    fn default() -> Self {
        HpaRules {
            tolerance: 0.1,
            scale_up_window_secs: 0,
            scale_down_window_secs: 300,
            scale_up_pods: 4,
            scale_up_percent: 100,
            scale_up_period_secs: 15,
            scale_down_percent: 100,
            scale_down_period_secs: 15,
        }
    }
}

/// What the HPA scales on.
#[derive(Debug, Clone, PartialEq)]
pub enum HpaMetric {
    /// CPU against a target utilisation in whole percent.
    Cpu { target_percent: u32 },
    /// The policy's targets, as measured (KEDA, `metricType: Value`).
    Latency,
}

/// The highest whole-percent utilisation at which the service holds every
/// target at steady state under the model; `None` if not even 1 % does.
pub fn hpa_cpu_target(service: &Service, targets: &[Target]) -> Option<u32> {
    (1..=100).rev().find(|&p| {
        let rate = service.capacity * f64::from(p) / 100.0;
        // One replica is any number of them: each serves an even share.
        let steady = CycleLatency::new(service, 1.0, 1, rate, 0.0);
        holds(&steady, targets, service.samples)
    })
}

/// [`hpa_cpu_target`] for every way the scenario's service runs: tuned
/// to the least of them, as one HPA spec serves every release.
pub fn hpa_cpu_target_for(scenario: &Scenario, targets: &[Target]) -> Option<u32> {
    scenario
        .services()
        .map(|s| hpa_cpu_target(&s, targets))
        .try_fold(100, |least, p| p.map(|p| p.min(least)))
}

/// One HPA: its rules, bounds and the history the controller keeps.
#[derive(Debug, Clone)]
pub struct Hpa {
    pub rules: HpaRules,
    pub metric: HpaMetric,
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// (time, raw desired count) of past syncs, for stabilization.
    recommendations: Vec<(u64, u32)>,
    /// (time, replicas added) and (time, replicas removed), for the rates.
    scale_ups: Vec<(u64, u32)>,
    scale_downs: Vec<(u64, u32)>,
    last: String,
}

/// What one sync saw.
#[derive(Debug, Clone, Copy)]
pub struct HpaInput<'a> {
    pub at_secs: u64,
    pub current: u32,
    pub ready: u32,
    /// The serving replicas' busy fraction; `None` when none serves.
    pub busy: Option<f64>,
    pub obs: &'a Observation,
    pub targets: &'a [Target],
}

impl Hpa {
    pub fn new(metric: HpaMetric, policy: &Policy) -> Hpa {
        Hpa {
            rules: HpaRules::default(),
            metric,
            min_replicas: policy.min_replicas.max(1),
            max_replicas: policy.max_replicas.unwrap_or(u32::MAX),
            recommendations: Vec::new(),
            scale_ups: Vec::new(),
            scale_downs: Vec::new(),
            last: String::new(),
        }
    }

    /// What the last sync did, in words.
    pub fn explain(&self) -> &str {
        &self.last
    }

    /// One sync of the controller (`reconcileAutoscaler`): the replica count
    /// it sets.
    pub fn sync(&mut self, input: &HpaInput<'_>) -> u32 {
        let current = input.current;
        let (to, why) = if current == 0 {
            (0, "hpa: 0 replicas: autoscaling disabled".to_string())
        } else if current > self.max_replicas {
            (self.max_replicas, "hpa: above maxReplicas".to_string())
        } else if current < self.min_replicas {
            (self.min_replicas, "hpa: below minReplicas".to_string())
        } else {
            match self.proposal(input) {
                Err(hold) => (current, hold.to_string()),
                Ok((desired, seen)) => {
                    let stable = self.stabilize(input.at_secs, current, desired);
                    let to = self.limit_rate(input.at_secs, current, stable);
                    let mut why = format!("hpa: {seen} -> {desired}");
                    if stable != desired {
                        why.push_str(&format!(", stabilized {stable}"));
                    }
                    if to != stable {
                        why.push_str(&format!(", rate-limited {to}"));
                    }
                    (to, why)
                }
            }
        };
        if to != current {
            self.record_scale(input.at_secs, current, to);
        }
        self.last = why;
        to
    }

    /// The metric's desired count (`computeReplicasForMetrics`), and what it
    /// saw; an error means no scaling this sync.
    fn proposal(&self, input: &HpaInput<'_>) -> Result<(u32, String), HpaHold> {
        let tolerance = self.rules.tolerance;
        let current = input.current;
        match self.metric {
            HpaMetric::Cpu { target_percent } => {
                let busy = input.busy.ok_or(HpaHold::NoMetrics)?;
                let desired = cpu_replicas(current, input.ready, busy, target_percent, tolerance);
                Ok((
                    desired,
                    format!("cpu {}% of {target_percent}%", utilization(busy, 1, 1)),
                ))
            }
            HpaMetric::Latency => {
                let mut best: Option<u32> = None;
                let mut invalid = 0;
                let mut seen = Vec::new();
                for t in input.targets {
                    let Some(v) = input.obs.observed(t) else {
                        invalid += 1;
                        continue;
                    };
                    let ratio = if t.target > 0.0 {
                        v / t.target
                    } else if v > 0.0 {
                        f64::INFINITY
                    } else {
                        1.0
                    };
                    seen.push(format!("{} {:.2}/{}", t.kind, v, t.target));
                    let r = if (1.0 - ratio).abs() <= tolerance {
                        current
                    } else {
                        ceil_count(ratio * f64::from(input.ready))
                    };
                    best = Some(best.map_or(r, |b| b.max(r)));
                }
                match best {
                    // Some metric missing and the rest would scale down: no
                    // scaling, as the controller does with invalid metrics.
                    Some(r) if invalid == 0 || r >= current => Ok((r, seen.join(", "))),
                    _ => Err(HpaHold::NoData),
                }
            }
        }
    }

    /// `stabilizeRecommendationWithBehaviors`: the current count, raised to
    /// the lowest recommendation of the scale-up window and lowered to the
    /// highest of the scale-down window (both include this one).
    fn stabilize(&mut self, now: u64, current: u32, desired: u32) -> u32 {
        let r = &self.rules;
        let (mut up, mut down) = (desired, desired);
        for &(at, rec) in &self.recommendations {
            // "After(now − window)": strictly inside the window.
            if at + r.scale_up_window_secs > now {
                up = up.min(rec);
            }
            if at + r.scale_down_window_secs > now {
                down = down.max(rec);
            }
        }
        let longest = r.scale_up_window_secs.max(r.scale_down_window_secs);
        self.recommendations.retain(|&(at, _)| at + longest >= now);
        self.recommendations.push((now, desired));
        current.max(up).min(down)
    }

    /// `convertDesiredReplicasWithBehaviorRate`: the scaling policies over
    /// their periods, then maxReplicas / minReplicas.
    fn limit_rate(&self, now: u64, current: u32, desired: u32) -> u32 {
        let r = &self.rules;
        let changed = |events: &[(u64, u32)], period: u64| -> i64 {
            events
                .iter()
                .filter(|&&(at, _)| at + period > now)
                .map(|&(_, n)| i64::from(n))
                .sum()
        };
        let start = |period: u64| {
            i64::from(current) - changed(&self.scale_ups, period)
                + changed(&self.scale_downs, period)
        };
        let clamp = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        if desired > current {
            let p = r.scale_up_period_secs;
            let by_pods = start(p) + i64::from(r.scale_up_pods);
            // As the controller computes it: ceil in floating point.
            let by_percent =
                (start(p) as f64 * (1.0 + f64::from(r.scale_up_percent) / 100.0)).ceil() as i64;
            let limit = clamp(by_pods.max(by_percent)).max(current);
            desired.min(limit.min(self.max_replicas))
        } else if desired < current {
            let p = r.scale_down_period_secs;
            let by_percent =
                (start(p) as f64 * (1.0 - f64::from(r.scale_down_percent) / 100.0)) as i64;
            let limit = clamp(by_percent).min(current);
            desired.max(limit.max(self.min_replicas))
        } else {
            desired
        }
    }

    /// `storeScaleEvent`, keeping only the events a period can still count.
    fn record_scale(&mut self, now: u64, from: u32, to: u32) {
        let r = self.rules;
        let (events, period, n) = if to > from {
            (&mut self.scale_ups, r.scale_up_period_secs, to - from)
        } else {
            (&mut self.scale_downs, r.scale_down_period_secs, from - to)
        };
        events.retain(|&(at, _)| at + period >= now);
        events.push((now, n));
    }
}

/// A utilisation as the metrics pipeline reports it: each pod's usage in
/// whole millicores of a 1000m request, summed, in whole percent
/// (`GetResourceUtilizationRatio` divides integers).
fn utilization(busy: f64, pods_busy: u32, pods: u32) -> u32 {
    let usage = (busy.clamp(0.0, 1.0) * 1000.0).round() as u64;
    let total = usage * u64::from(pods_busy) * 100;
    (total / (u64::from(pods.max(1)) * 1000)) as u32
}

/// A count from `ceil(x)`, saturating as an `int32` conversion would not.
fn ceil_count(x: f64) -> u32 {
    if x.is_nan() {
        0
    } else {
        x.ceil().clamp(0.0, f64::from(u32::MAX)) as u32
    }
}

/// `GetResourceReplicas` for CPU with every serving replica reporting and
/// the ones still starting set aside.
fn cpu_replicas(current: u32, ready: u32, busy: f64, target: u32, tolerance: f64) -> u32 {
    let target = f64::from(target.max(1));
    let ratio = f64::from(utilization(busy, ready, ready)) / target;
    let unready = current.saturating_sub(ready);
    if unready == 0 || ratio <= 1.0 {
        if (1.0 - ratio).abs() <= tolerance {
            return current;
        }
        return ceil_count(ratio * f64::from(ready));
    }
    // A scale-up with replicas still starting: they count as idle, and the
    // direction must survive that.
    let all = ready + unready;
    let again = f64::from(utilization(busy, ready, all)) / target;
    if (1.0 - again).abs() <= tolerance || again < 1.0 {
        return current;
    }
    let n = ceil_count(again * f64::from(all));
    if n < current {
        current
    } else {
        n
    }
}

/// The HPA as a controller of the simulation.
struct HpaController {
    hpa: Hpa,
}

impl Controller for HpaController {
    fn decide(&mut self, seen: &Seen<'_>) -> (u32, bool) {
        let to = self.hpa.sync(&HpaInput {
            at_secs: seen.obs.at_secs,
            current: seen.obs.current_replicas,
            ready: seen.ready,
            busy: seen.model.busy_fraction(seen.cycle, seen.rate),
            obs: seen.obs,
            targets: seen.targets,
        });
        (to, breached_as_measured(seen.obs, seen.targets))
    }

    fn action(&self) -> String {
        self.hpa.explain().to_string()
    }
}

/// Who sets the replica count in a simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Yardstick {
    /// The policy under test.
    Policy,
    /// The seed guide's rule (+1 on a breach, decay 1 after 3 calm runs)
    /// with the policy's targets and replica bounds.
    Seed,
    HpaCpu,
    HpaLatency,
    Oracle,
}

impl Yardstick {
    pub const ALL: [Yardstick; 5] = [
        Yardstick::Policy,
        Yardstick::Seed,
        Yardstick::HpaCpu,
        Yardstick::HpaLatency,
        Yardstick::Oracle,
    ];

    /// The name in tables and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Yardstick::Policy => "policy",
            Yardstick::Seed => "seed",
            Yardstick::HpaCpu => "hpa-cpu",
            Yardstick::HpaLatency => "hpa-latency",
            Yardstick::Oracle => "oracle",
        }
    }

    /// The key in JSON: `hpa_cpu`.
    pub fn key(self) -> &'static str {
        match self {
            Yardstick::HpaCpu => "hpa_cpu",
            Yardstick::HpaLatency => "hpa_latency",
            other => other.name(),
        }
    }
}

/// The seed guide's policy with `policy`'s targets and replica bounds.
pub fn seed_policy(policy: &Policy) -> Policy {
    Policy {
        min_replicas: policy.min_replicas,
        max_replicas: policy.max_replicas,
        targets: policy.targets.clone(),
        decay: crate::config::Decay::default(),
        scale_up: crate::config::ScaleUp::default(),
        downscale_stabilization: std::time::Duration::ZERO,
        model: None,
    }
}

/// Why a yardstick cannot run on a scenario.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NoYardstick {
    #[error(transparent)]
    Unreachable(#[from] Unreachable),
    #[error(
        "no CPU target utilisation holds the targets under the scenario's model, not even 1 %"
    )]
    NoCpuTarget,
}

/// How one controller did on one scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Outcome {
    pub scores: Scores,
    /// Cycles that did not hold on the model's noise-free values.
    pub model_cycles_over_target: u32,
}

impl Outcome {
    /// Sums another run (another seed) into this one.
    pub fn add(&mut self, other: &Outcome) {
        self.scores.add(&other.scores);
        self.model_cycles_over_target += other.model_cycles_over_target;
    }
}

/// Runs `which` on the scenario: its trace (`keep_rows`) and outcome.
fn run_one(
    scenario: &Scenario,
    policy: &Policy,
    which: Yardstick,
    keep_rows: bool,
) -> Result<super::Run, NoYardstick> {
    let hpa = |metric| HpaController {
        hpa: Hpa::new(metric, policy),
    };
    Ok(match which {
        Yardstick::Policy => {
            let mut c = PolicyController::new(policy);
            run(scenario, policy, scenario.replicas, &mut c, keep_rows, true)
        }
        Yardstick::Seed => {
            let seed = seed_policy(policy);
            let mut c = PolicyController::new(&seed);
            run(scenario, &seed, scenario.replicas, &mut c, keep_rows, true)
        }
        Yardstick::HpaCpu => {
            let target =
                hpa_cpu_target_for(scenario, &policy.targets).ok_or(NoYardstick::NoCpuTarget)?;
            let mut c = hpa(HpaMetric::Cpu {
                target_percent: target,
            });
            run(scenario, policy, scenario.replicas, &mut c, keep_rows, true)
        }
        Yardstick::HpaLatency => {
            let mut c = hpa(HpaMetric::Latency);
            run(scenario, policy, scenario.replicas, &mut c, keep_rows, true)
        }
        Yardstick::Oracle => {
            let oracle = Oracle::plan(scenario, policy)?;
            let mut c = OracleController {
                oracle: &oracle,
                last: String::new(),
            };
            run(
                scenario,
                policy,
                oracle.replicas[0],
                &mut c,
                keep_rows,
                true,
            )
        }
    })
}

/// The trace of a yardstick on the scenario, as [`super::simulate`] gives
/// the policy's.
pub fn simulate(
    scenario: &Scenario,
    policy: &Policy,
    which: Yardstick,
) -> Result<Trace, NoYardstick> {
    Ok(trace(
        scenario,
        policy,
        run_one(scenario, policy, which, true)?,
    ))
}

/// Every controller on the same scenario and seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    pub policy: Outcome,
    pub seed: Outcome,
    /// `None` when no CPU target holds the targets.
    pub hpa_cpu: Option<Outcome>,
    pub hpa_latency: Outcome,
    /// `None` when no replica count holds the targets.
    pub oracle: Option<Outcome>,
    /// HPA on CPU's target utilisation, whole percent.
    pub hpa_cpu_target_percent: Option<u32>,
}

impl Comparison {
    pub fn outcome(&self, which: Yardstick) -> Option<&Outcome> {
        match which {
            Yardstick::Policy => Some(&self.policy),
            Yardstick::Seed => Some(&self.seed),
            Yardstick::HpaCpu => self.hpa_cpu.as_ref(),
            Yardstick::HpaLatency => Some(&self.hpa_latency),
            Yardstick::Oracle => self.oracle.as_ref(),
        }
    }

    /// Sums another seed's comparison into this one.
    pub fn add(&mut self, other: &Comparison) {
        self.policy.add(&other.policy);
        self.seed.add(&other.seed);
        self.hpa_latency.add(&other.hpa_latency);
        for (mine, theirs) in [
            (&mut self.hpa_cpu, &other.hpa_cpu),
            (&mut self.oracle, &other.oracle),
        ] {
            if let (Some(m), Some(t)) = (mine.as_mut(), theirs) {
                m.add(t);
            }
        }
    }
}

/// How `which` does on the scenario, without keeping the trace.
pub fn outcome(
    scenario: &Scenario,
    policy: &Policy,
    which: Yardstick,
) -> Result<Outcome, NoYardstick> {
    let r = run_one(scenario, policy, which, false)?;
    Ok(Outcome {
        scores: r.scores,
        model_cycles_over_target: r.over_model,
    })
}

/// Runs the policy and every yardstick on the scenario.
pub fn compare(scenario: &Scenario, policy: &Policy) -> Comparison {
    let one = |which| outcome(scenario, policy, which);
    let must = |which| one(which).unwrap_or_default();
    Comparison {
        policy: must(Yardstick::Policy),
        seed: must(Yardstick::Seed),
        hpa_cpu: one(Yardstick::HpaCpu).ok(),
        hpa_latency: must(Yardstick::HpaLatency),
        oracle: one(Yardstick::Oracle).ok(),
        hpa_cpu_target_percent: hpa_cpu_target_for(scenario, &policy.targets),
    }
}

/// Why HPA does not scale at a sync, as the controller decides with
/// missing or invalid metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum HpaHold {
    #[error("hpa: no metrics from a serving replica: hold")]
    NoMetrics,
    #[error("hpa: a target has no data: hold")]
    NoData,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_policy;
    use crate::sim::{parse_scenario, LoadProfile};

    fn policy(extra: &str) -> Policy {
        parse_policy(
            "p.yaml",
            &format!("targets: [{{endpoint: /a, type: mean, target: 7}}]\n{extra}"),
        )
        .unwrap()
    }

    /// An HPA on CPU at 50 %, synced with (seconds, current, ready, busy);
    /// the counts it sets.
    fn cpu_syncs(hpa: &mut Hpa, steps: &[(u64, u32, u32, f64)]) -> Vec<u32> {
        let obs = Observation::default();
        steps
            .iter()
            .map(|&(at_secs, current, ready, busy)| {
                hpa.sync(&HpaInput {
                    at_secs,
                    current,
                    ready,
                    busy: Some(busy),
                    obs: &obs,
                    targets: &[],
                })
            })
            .collect()
    }

    fn cpu_hpa(extra: &str) -> Hpa {
        Hpa::new(HpaMetric::Cpu { target_percent: 50 }, &policy(extra))
    }

    #[test]
    fn hpa_scales_by_the_ratio_outside_the_tolerance() {
        let mut h = cpu_hpa("");
        // 54 % of 50 % is within 10 %: hold; 60 % is not: ceil(4 × 1.2).
        assert_eq!(
            cpu_syncs(&mut h, &[(0, 4, 4, 0.54), (15, 4, 4, 0.60)]),
            vec![4, 5]
        );
        // Utilisation is whole percent, truncated: 0.5449 reads 54 %, in
        // the band; 55 % is a ratio of 1.1, which the controller's float
        // arithmetic puts just outside it (|1 − 1.1| > 0.1).
        let mut h = cpu_hpa("");
        assert_eq!(
            cpu_syncs(&mut h, &[(0, 10, 10, 0.5449), (15, 10, 10, 0.5549)]),
            vec![10, 11]
        );
    }

    #[test]
    fn hpa_scale_up_is_limited_to_four_pods_or_double_per_period() {
        let mut h = cpu_hpa("");
        // 100 % of 50 % asks for 2 × ready; from 1 the 4-pod policy allows 5.
        assert_eq!(cpu_syncs(&mut h, &[(0, 1, 1, 1.0)]), vec![2]);
        let mut wants_many = Hpa::new(HpaMetric::Cpu { target_percent: 10 }, &policy(""));
        assert_eq!(cpu_syncs(&mut wants_many, &[(0, 1, 1, 1.0)]), vec![5]);
        assert_eq!(cpu_syncs(&mut wants_many, &[(15, 5, 5, 1.0)]), vec![10]);
        assert_eq!(cpu_syncs(&mut wants_many, &[(30, 10, 10, 1.0)]), vec![20]);
        // Syncs 5 s apart share one 15 s period: 1 -> 5, then nothing more
        // until the first scale-up leaves the period.
        let mut fast = Hpa::new(HpaMetric::Cpu { target_percent: 10 }, &policy(""));
        assert_eq!(
            cpu_syncs(
                &mut fast,
                &[
                    (0, 1, 1, 1.0),
                    (5, 5, 5, 1.0),
                    (10, 5, 5, 1.0),
                    (15, 5, 5, 1.0)
                ]
            ),
            vec![5, 5, 5, 10]
        );
        // maxReplicas caps it.
        let mut capped = Hpa::new(
            HpaMetric::Cpu { target_percent: 10 },
            &policy("maxReplicas: 3\n"),
        );
        assert_eq!(cpu_syncs(&mut capped, &[(0, 1, 1, 1.0)]), vec![3]);
    }

    #[test]
    fn hpa_scale_down_waits_for_the_highest_recommendation_of_five_minutes() {
        let mut h = cpu_hpa("");
        let got = cpu_syncs(
            &mut h,
            &[
                (0, 4, 4, 0.75),   // wants 6
                (15, 6, 6, 0.25),  // wants 3, but 6 was recommended 15 s ago
                (299, 6, 6, 0.25), // still inside the window
                (300, 6, 6, 0.25), // the 6 is exactly 300 s old: out
            ],
        );
        assert_eq!(got, vec![6, 6, 6, 3]);
        // Never below minReplicas.
        let mut h = cpu_hpa("minReplicas: 2\n");
        assert_eq!(cpu_syncs(&mut h, &[(0, 4, 4, 0.05)]), vec![2]);
    }

    #[test]
    fn hpa_counts_starting_replicas_as_idle_on_a_scale_up() {
        // 4 serving at 70 % of 50 %, 4 starting: 4 × 70 / 8 = 35 %, a
        // scale-down direction once they count: hold.
        let mut h = cpu_hpa("");
        assert_eq!(cpu_syncs(&mut h, &[(0, 8, 4, 0.70)]), vec![8]);
        // 4 serving at 100 %, 2 starting: 66 % of 50 % over 6: ceil(1.32 × 6) = 8.
        let mut h = cpu_hpa("");
        assert_eq!(cpu_syncs(&mut h, &[(0, 6, 4, 1.0)]), vec![8]);
        // Nothing serving: no metrics, no scaling.
        let mut h = cpu_hpa("");
        let obs = Observation::default();
        let n = h.sync(&HpaInput {
            at_secs: 0,
            current: 3,
            ready: 0,
            busy: None,
            obs: &obs,
            targets: &[],
        });
        assert_eq!(n, 3);
    }

    fn scenario(load: &str, startup: u32) -> Scenario {
        parse_scenario(
            "s.yaml",
            &format!("cycles: 40\nreplicas: 2\nservice: {{capacity: 500, baseLatency: 2, startupCycles: {startup}}}\nload: {load}\n"),
            &mut |_| Err(std::io::ErrorKind::NotFound.into()),
        )
        .unwrap()
    }

    #[test]
    fn the_cpu_target_is_the_highest_percent_that_holds() {
        // mean = 2 + 2 / (1 − u) <= 7 up to u = 0.6.
        let s = scenario("{type: constant, rate: 100}", 1);
        assert_eq!(hpa_cpu_target(&s.service, &policy("").targets), Some(60));
        let tight = parse_policy("p", "targets: [{endpoint: /a, type: mean, target: 3}]").unwrap();
        // Idle, one request takes 2 + 2 ms: 3 ms is out of reach.
        assert_eq!(hpa_cpu_target(&s.service, &tight.targets), None);
        assert!(matches!(
            Oracle::plan(&s, &tight),
            Err(Unreachable { cycle: 0, .. })
        ));
        // Refused requests are fast, but a service down holds nothing.
        let down = CycleLatency::new(&s.service, 15.0, 0, 10.0, 0.0);
        assert!(down.mean() < 7.0 && !holds(&down, &policy("").targets, 200));
    }

    /// A service that changes: the oracle follows it cycle by cycle, and
    /// HPA on CPU is tuned to the least of its ways, as one spec serves
    /// every release.
    #[test]
    fn the_yardsticks_follow_a_changed_service() {
        let s = parse_scenario(
            "s.yaml",
            "cycles: 30\nreplicas: 4\nservice:\n  capacity: 500\n  baseLatency: 2\n  changes:\n    - {at: 10, capacity: 800, baseLatency: 1.5}\n    - {at: 20, capacity: 420}\nload: {type: constant, rate: 1000}\n",
            &mut |_| Err(std::io::ErrorKind::NotFound.into()),
        )
        .unwrap();
        assert_eq!(s.service_at(9).capacity, 500.0);
        assert_eq!(
            (s.service_at(10).capacity, s.service_at(10).base_latency_ms),
            (800.0, 1.5)
        );
        // What a change leaves out stays as it was.
        assert_eq!(
            (s.service_at(29).capacity, s.service_at(29).base_latency_ms),
            (420.0, 1.5)
        );
        let o = Oracle::plan(&s, &policy("")).unwrap();
        // 1000/s: 4 hold 6 ms; then 2 hold 4.8 ms; then 5 hold 6.05 ms.
        assert_eq!(
            [o.need[9], o.need[10], o.need[19], o.need[20]],
            [4, 2, 2, 5]
        );
        let out = outcome(&s, &policy(""), Yardstick::Oracle).unwrap();
        assert_eq!(out.model_cycles_over_target, 0);
        // 60 % at first; the last service holds 7 ms only to 56 %.
        assert_eq!(hpa_cpu_target(&s.service, &policy("").targets), Some(60));
        assert_eq!(hpa_cpu_target_for(&s, &policy("").targets), Some(56));
    }

    #[test]
    fn the_oracle_prepares_startup_cycles_ahead_and_never_breaches() {
        let s = scenario("{type: step, from: 400, to: 1500, at: 20}", 2);
        let o = Oracle::plan(&s, &policy("")).unwrap();
        // 400/s needs 2 (u = 0.4), 1500/s needs 5 (u = 0.6).
        assert_eq!(o.need[19..21], [2, 5]);
        // Started two cycles ahead of the step, so they serve at 20.
        assert_eq!(o.replicas[16..21], [2, 2, 5, 5, 5]);
        assert_eq!(o.replica_cycles(), 18 * 2 + 22 * 5);
        let out = outcome(&s, &policy(""), Yardstick::Oracle).unwrap();
        assert_eq!(out.model_cycles_over_target, 0);
        assert_eq!(out.scores.replica_cycles, o.replica_cycles());
        assert_eq!(
            s.load,
            LoadProfile::Step {
                from: 400.0,
                to: 1500.0,
                at: 20
            }
        );
    }

    #[test]
    fn the_seed_yardstick_is_the_policy_when_the_policy_is_the_seeds() {
        let s = scenario("{type: sine, mean: 1000, amplitude: 600, period: 20}", 1);
        let c = compare(&s, &policy("decay: {replicas: 1, unchangedRuns: 3}\n"));
        assert_eq!(c.policy, c.seed);
        assert_eq!(c.hpa_cpu_target_percent, Some(60));
        let oracle = c.oracle.unwrap();
        assert_eq!(oracle.model_cycles_over_target, 0);
        for o in [&c.policy, c.hpa_cpu.as_ref().unwrap(), &c.hpa_latency] {
            assert!(
                o.model_cycles_over_target > 0
                    || o.scores.replica_cycles >= oracle.scores.replica_cycles
            );
        }
    }
}
