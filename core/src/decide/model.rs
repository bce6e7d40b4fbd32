//! The learned latency model: what load the service is under, read from its
//! latency, and how many replicas hold a target at that load.
//!
//! Each latency target is modelled as a queue per replica (Kleinrock,
//! "Queueing Systems", vol. 1, §3.2: M/M/1's mean time in the system is
//! 1 / (μ − λ); M/D/1 has the same form once half the service time is
//! counted as fixed):
//!
//! ```text
//! L(n) = b + c / (1 − k/n)      b + c = U, the unloaded latency; c = s × U
//! ```
//!
//! with `k` the offered load in replicas' worth and `n` the serving
//! replicas. A reading L at n gives k = n (1 − c / (L − b)); the prediction
//! at m is L(m). `s` (`queueShare`) is configured; `U` is learned: the
//! lowest latency seen (the floor) bounds it from above, and pairs of runs
//! at the same load on either side of a scale change correct it. Past
//! saturation the reading only bounds k from below; the growth of the
//! backlog's wait over a run gives it (an open system's queue grows at
//! (k/n − 1) replicas' worth of work per second).
//!
//! Everything here is pure and total: readings that are NaN, zero, negative
//! or absurd are ignored, never trusted, and the state it writes holds only
//! finite numbers (JSON has no NaN).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{ModelConfig, Target, TargetKind};

/// Above this utilisation a reading says little about the load: the queue
/// dominates and a small error in U is a large one in k.
const RHO_SATURATED: f64 = 0.9;
/// Readings within this of the floor are at the floor (a 200-sample mean
/// moves by about 7 % run to run, and the floor is the lowest of many).
const FLOOR_TOLERANCE: f64 = 0.1;
/// Pair estimates of U kept, for the state's reader (and U, for a state
/// written before `pair_runs`).
const PAIRS_KEPT: usize = 5;
/// Pairs of runs U is fitted to. Each pair alone places U within about
/// ±15 % (the sine scenario's ranged from 3.0 to 5.1 ms around a true 4):
/// nine, fitted at once, hold it closer without lagging a service change
/// by more than a few scale changes (5, 9 and 15 measured on the five
/// scenarios: within a few cycles over target of each other).
const PAIR_RUNS_KEPT: usize = 9;
/// Values of U tried between a quarter of the floor and the floor: steps
/// of 0.25 % of the floor, finer than any pair can tell.
const FIT_STEPS: u32 = 300;
/// Thirds taken off the best step's neighbourhood: 2/3 to the 60th is
/// below a float's precision.
const REFINE_STEPS: u32 = 60;
/// A residual's cap (natural log): a pair the curve says saturates counts
/// as a bad miss, not an infinite one.
const MAX_RESIDUAL: f64 = 3.0;
/// How much better than the old count could give a reading must be to show
/// a scale-up's replicas serving.
const ARRIVAL_TOLERANCE: f64 = 0.1;
/// How much a load may exceed what a pending scale-up was sized for before
/// the model sizes again (the load's noise, and a load still rising a
/// little, are in that margin).
const RESIZE_TOLERANCE: f64 = 0.25;
/// A pair never puts U below this share of the floor: one bad pair must not
/// make the model see a queue where none is.
const MIN_UNLOADED_SHARE: f64 = 0.25;
/// A previous run older than this is not the same load.
const STALE_SECS: u64 = 900;
/// Gaps between runs kept for their usual spacing.
const GAPS_KEPT: usize = 5;
/// A gap shorter than this is no schedule's (runs asked for between the
/// scheduled ones, CPA's API): three such of five made the "usual"
/// spacing 1 s, and one noisy reading sized the count to the max.
const MIN_SCHEDULE_SECS: u64 = 5;
/// A backlog whose wait grew by more than this share of the run is an open
/// system's (arrivals that do not wait for answers): its growth says the
/// load. Below it a run cannot tell a slight overload from a closed loop.
const OPEN_GROWTH: f64 = 0.1;
/// Bounds that keep absurd readings finite.
const MAX_WAIT_SECS: f64 = 3.2e7;
const MAX_UTILISATION: f64 = 1e6;
/// The least utilisation a scale-up sizes for while U is only the floor.
const UNCHECKED_UTILISATION: f64 = 0.5;
/// A decay holds the highest load of at least this many calm runs: three
/// lucky readings in a row must not be enough to open the door.
const MIN_DECAY_WINDOW: u32 = 4;
/// Start-ups timed, for their median.
const STARTUPS_KEPT: usize = 3;
/// Runs of start-up a drain is sized for until a scale-up was timed. A
/// drain sized for too short a start-up leaves the backlog that grew
/// meanwhile for a run more, a run that reads seconds over the target;
/// one sized for too long a start-up keeps a replica more for the two
/// runs of the drain (and the model trims it). One run, the least, left
/// the spike scenario's first scale-up (two runs of start-up) a run over
/// target in 2 of 40 seeds. The trend keeps one run: projected further
/// without a timed start-up, the sine kept 0.1 % more replica-cycles and
/// breached no less.
const UNTIMED_DRAIN_STARTUP: u32 = 2;
/// After this many runs a scale-up's replicas are taken as serving.
const MAX_WAIT_RUNS: u32 = 8;
/// Runs a scale-up past saturation drains the backlog in. A run that
/// starts with a backlog reads over the target however fast it drains:
/// draining in one run had about as many cycles over target as in two
/// (20 seeds: spike 101 against 102, trace 687 against 691), and its
/// extra replicas went again a few runs later at the same load (a flap,
/// in 19 of the spike scenario's 20 seeds; in 5 at two runs).
pub(crate) const DRAIN_RUNS: f64 = 2.0;
/// Runs a load's trend is fitted over: fewer cannot tell a slow rise
/// from the readings' noise, more lag a turn (4 to 8 measured on the
/// scenarios: bench/decision-quality.notes.md).
const TREND_RUNS: usize = 8;
/// A reading's noise, relative: the mean of a few hundred requests moves
/// about 7 % run to run.
const READING_NOISE: f64 = 0.07;
/// How many standard errors a fitted rise must clear to be a trend. A trend
/// seen in noise is a flap (a scale-up, and its decay at the same load):
/// at two, the step and spike scenarios' steady loads flapped more often;
/// at three, a rising load was seen a run or two later (measured on seeds
/// 1 to 40: bench/decision-quality.notes.md). The reading must also be
/// past the limit before it scales.
const TREND_SIGNIFICANCE: f64 = 2.5;
/// Runs ahead a trend is projected when replicas start within a run: the
/// last run the count chosen now holds alone. Its replicas serve from the
/// run after next (one run to start); the model decides nothing ahead
/// until they do, so replicas a later decision adds serve two runs after
/// that. Each run more a scale-up was seen to take adds one.
const TREND_HORIZON_RUNS: u32 = 3;
/// How long a breach is remembered (seconds): a decay back to the count
/// that breached needs the load fallen since. HPA's default downscale
/// stabilization window, which keeps the highest count of that long
/// whatever the load did; older, the count is tried again. Kept for 8
/// runs instead, the demo's pool (3 s a run) decayed back to the count
/// 24 s after it breached; from 8 to 20 runs of 15 s the fixture
/// scenarios decided within 0.5 % of each other, and with no limit the
/// sine kept 5 % more replica-cycles (its slow fall rarely reads as a
/// fall).
const BREACH_SECS: u64 = 300;
/// Of a reading's noise, how much more load a decay past half the
/// replicas holds. Read at many replicas, latency barely moves with load:
/// 4.4 ms at 6 replicas read 0.3 replicas' worth under a U learned 7 %
/// high, where 1.0 was offered, and the decay 6 -> 1 read 72 ms (helper
/// A22's M/M/1 service: 11 such decays in 60 seeds, none at 0.5). Half
/// costs the spike 1 to 3 % more replica-cycles, a whole one 19 %; on
/// every decay, a whole one cost the sine 10 %.
const DEEP_DECAY_NOISE: f64 = 0.5;
/// How much a scale-up must add (a factor) before a reading no lower
/// says it did not help: a load may grow 12 % in a run, seldom 50 %.
const TELLING_SCALE_UP: f64 = 1.5;

pub(crate) fn trend_horizon_runs() -> u32 {
    TREND_HORIZON_RUNS
}

/// What the model remembers between runs (`model` in the state file).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ModelState {
    /// When the last run was learned (seconds since the epoch).
    pub at_secs: u64,
    /// The replica count of that run.
    pub replicas: u32,
    /// Calm runs learned from.
    pub calm_runs: u32,
    /// Per modelled target, keyed `"{request key} {type}"`.
    #[serde(default)]
    pub targets: BTreeMap<String, TargetModel>,
    /// A scale-up whose replicas may still be starting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// Runs the last scale-ups' replicas took to serve, newest last: how
    /// long the old count still serves after the next one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub startup_runs: Vec<u32>,
    /// Seconds between the last runs (recent ones, more than 0 apart),
    /// newest last: their usual spacing times a backlog's growth.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<u64>,
}

/// One target's model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetModel {
    /// U, the latency with no load (ms): fitted to `pair_runs`, at most
    /// the floor; the floor until there is a pair.
    pub unloaded_ms: f64,
    /// The lowest reading seen (ms): an upper bound of U.
    pub floor_ms: f64,
    /// A reading under U by more than a reading's noise, held until the
    /// next run says whether the service reads that fast (ms).
    /// The floor only ever falls, so one stray run (a redirect answered,
    /// a cached reply) taken for it would bound U under every later
    /// reading, and read each calm run as saturation: no decay again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_ms: Option<f64>,
    /// U as pairs of runs at one load read it (ms), newest last. Until the
    /// first, U is only the floor, which a service that is never idle
    /// never shows, and a decay would look safer than it is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pairs: Vec<f64>,
    /// The readings of those pairs, newest last: U is the one under which
    /// the curve reads them best, all at once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pair_runs: Vec<PairRun>,
    /// U as the pairs last set it (ms), before a lower reading since
    /// moved the floor: a reading well under it says U is wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_ms: Option<f64>,
    /// The last run's reading (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ms: Option<f64>,
    /// The last run's utilisation when it was saturated (from the backlog's
    /// growth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rho: Option<f64>,
    /// Load estimates (replicas' worth) of the calm runs since the last
    /// change, newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loads: Vec<f64>,
    /// (seconds since the epoch, reading in ms, serving replicas) of the
    /// last unsaturated runs, newest last: the load's trend. Readings, not
    /// loads: each is read again with what the model knows now, so a U
    /// learned since does not look like a change of load.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trend: Vec<(u64, f64, u32)>,
    /// The last run that breached this target, within `BREACH_SECS`: what
    /// a count read, not what the curve predicts of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breach: Option<Breach>,
}

/// A run that read over the target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    /// Its reading (ms).
    pub ms: f64,
    /// The replicas that served it.
    pub replicas: u32,
    /// When (seconds since the epoch).
    pub at_secs: u64,
}

/// A scale-up the model sized, until a calm run after its replicas serve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub from: u32,
    pub to: u32,
    /// Load per target (replicas' worth) it was sized for.
    pub loads: BTreeMap<String, f64>,
    /// Runs since it was decided.
    pub runs: u32,
    /// A reading has shown the added replicas serving.
    #[serde(default)]
    pub arrived: bool,
    /// Calm runs since it was decided.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub calm: u32,
}

impl ModelState {
    /// Runs the old count served after the last scale-ups: at least the
    /// run that follows the decision, whose reading is taken while the
    /// new replicas start. `None` until a scale-up was timed.
    fn timed_startup(&self) -> Option<u32> {
        // The median: one slow start (a node added for the pods, an image
        // pulled) does not size every scale-up after it; for two, the
        // faster, until a third says which is the rule.
        let mut kept = self.startup_runs.clone();
        kept.sort_unstable();
        kept.get(kept.len().saturating_sub(1) / 2)
            .map(|&r| r.max(1))
    }

    /// The usual seconds between runs: the lower median of the last gaps
    /// of a schedule's length (sane ones: an edited state's nonsense is
    /// not a spacing).
    fn usual_gap(&self) -> Option<u64> {
        let mut kept: Vec<u64> = self
            .gaps
            .iter()
            .copied()
            .filter(|g| (MIN_SCHEDULE_SECS..=STALE_SECS).contains(g))
            .collect();
        kept.sort_unstable();
        kept.get(kept.len().saturating_sub(1) / 2).copied()
    }

    /// Runs a backlog keeps growing after a scale-up, for its drain.
    pub(crate) fn drain_startup(&self) -> u32 {
        self.timed_startup().unwrap_or(UNTIMED_DRAIN_STARTUP)
    }

    /// Runs a rising load is projected further than replicas that start
    /// within a run need.
    pub(crate) fn trend_startup(&self) -> u32 {
        self.timed_startup().unwrap_or(1)
    }
}

/// Drops all but the last `n` of `v` (newest last).
fn keep_newest<T>(v: &mut Vec<T>, n: usize) {
    v.drain(..v.len().saturating_sub(n));
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Pending {
    fn is_sane(&self) -> bool {
        self.loads.values().copied().all(is_load)
    }
}

/// Whether `l` is a load the model could have read: replicas' worth, of
/// at most `u32::MAX` replicas at `MAX_UTILISATION`. An edited state's
/// 1e300 was printed in the reasons, 300 digits long.
fn is_load(l: f64) -> bool {
    (0.0..=f64::from(u32::MAX) * MAX_UTILISATION).contains(&l)
}

impl TargetModel {
    /// A target's model from its first reading (ms): U and the floor are
    /// that reading, nothing more learned yet.
    fn first(reading_ms: f64) -> TargetModel {
        TargetModel {
            unloaded_ms: reading_ms,
            floor_ms: reading_ms,
            low_ms: None,
            pairs: Vec::new(),
            pair_runs: Vec::new(),
            checked_ms: None,
            last_ms: None,
            last_rho: None,
            loads: Vec::new(),
            trend: Vec::new(),
            breach: None,
        }
    }

    fn is_sane(&self) -> bool {
        let ok = |v: f64| v.is_finite() && v > 0.0;
        ok(self.unloaded_ms)
            && ok(self.floor_ms)
            && self.unloaded_ms <= self.floor_ms
            && self.low_ms.is_none_or(|l| ok(l) && l < self.floor_ms)
            && self.last_ms.is_none_or(ok)
            && self.checked_ms.is_none_or(ok)
            // A utilisation: an edited -5 read a breach as 7 replicas'
            // worth of load and sized 1 -> 15.
            && self
                .last_rho
                .is_none_or(|r| r > 0.0 && r <= MAX_UTILISATION * 2.0)
            && self.pairs.iter().copied().all(ok)
            && self.pair_runs.iter().all(PairRun::is_sane)
            && self.loads.iter().copied().all(is_load)
            && self
                .trend
                .iter()
                .all(|(_, l, n)| l.is_finite() && *l > 0.0 && *n >= 1)
            && self.breach.is_none_or(|b| ok(b.ms) && b.replicas >= 1)
    }

    /// Takes a reading (ms) into the floor. One under U by more than a
    /// reading's noise waits for the next run: read as low too (a
    /// release, a warmed cache), both set the floor; back up, it was a
    /// stray and is dropped.
    fn see(&mut self, reading_ms: f64) {
        let far = |l: f64| l < self.unloaded_ms * (1.0 - READING_NOISE);
        match self.low_ms.take() {
            Some(held) if far(reading_ms) => {
                self.floor_ms = held.min(reading_ms);
            }
            None if far(reading_ms) => self.low_ms = Some(reading_ms),
            _ => self.floor_ms = self.floor_ms.min(reading_ms),
        }
    }

    /// Whether a pair of runs has checked U.
    pub fn established(&self) -> bool {
        !self.pairs.is_empty()
    }

    /// Keeps a pair of runs, and what it says of U alone, and sets U from
    /// the kept ones.
    fn learn(&mut self, estimate: f64, run: PairRun, share: f64) {
        if !(estimate.is_finite() && estimate > 0.0 && run.is_sane()) {
            return;
        }
        self.pairs
            .push(estimate.clamp(self.floor_ms * MIN_UNLOADED_SHARE, self.floor_ms));
        if self.pairs.len() > PAIRS_KEPT {
            self.pairs.remove(0);
        }
        self.keep(run, share);
    }

    /// Keeps a pair of runs for the fit, and sets U from the kept ones.
    fn keep(&mut self, run: PairRun, share: f64) {
        if !run.is_sane() {
            return;
        }
        self.pair_runs.push(run);
        if self.pair_runs.len() > PAIR_RUNS_KEPT {
            self.pair_runs.remove(0);
        }
        self.settle(share);
        self.checked_ms = Some(self.unloaded_ms);
    }

    /// A reading under the checked U by more than a reading's noise: no
    /// load reads that fast, so the service changed (a release, a warmed
    /// cache, a faster dependency) or its pairs placed U high. Returns the
    /// U it contradicts.
    /// Read through the old U, the reading says no load at all, and a
    /// decay to what no load needs breaches at once (the release
    /// scenario: 4 -> 1 at 1000 requests/s, seconds of latency).
    fn contradicted_by(&self, reading_ms: f64) -> Option<f64> {
        self.checked_ms
            .filter(|&u| self.established() && reading_ms < u * (1.0 - READING_NOISE))
    }

    /// Forgets what the service was: its pairs, and the loads and trend read
    /// through them. U is the floor again until a pair checks it.
    fn forget(&mut self) {
        self.pairs.clear();
        self.pair_runs.clear();
        self.checked_ms = None;
        self.loads.clear();
        self.trend.clear();
        self.breach = None;
    }

    /// U from the pairs and the floor.
    fn settle(&mut self, share: f64) {
        let u = if !self.pair_runs.is_empty() {
            self.fit(share)
        } else if !self.pairs.is_empty() {
            median(&self.pairs)
        } else {
            self.floor_ms
        };
        self.unloaded_ms = u.min(self.floor_ms);
    }

    /// The U in [floor / 4, floor] under which the curve reads the kept
    /// pairs best: the least sum of |ln(reading) − ln(prediction)|. All at
    /// once, a pair that cannot tell U (two runs at a low utilisation,
    /// where the curve is flat) weighs as little as it tells; alone, its
    /// estimate counted as much as any. Absolute, not squared: one pair
    /// spoiled by a load that changed between its runs moves U as little
    /// as it moved a median. Of equal fits, the lowest U: it reads more
    /// load, so it decays later and sizes more.
    fn fit(&self, share: f64) -> f64 {
        let (lo, hi) = (self.floor_ms * MIN_UNLOADED_SHARE, self.floor_ms);
        let miss = |u: f64| -> f64 {
            let curve = Curve::new(u, share);
            self.pair_runs
                .iter()
                .map(|r| {
                    let predicted = curve.predict(r.load(&curve), r.replicas);
                    let residual = r.ms.ln() - predicted.ln();
                    if residual.is_nan() {
                        MAX_RESIDUAL
                    } else {
                        residual.abs().min(MAX_RESIDUAL)
                    }
                })
                .sum()
        };
        let step = (hi - lo) / f64::from(FIT_STEPS);
        let mut best = (f64::INFINITY, hi);
        for i in 0..=FIT_STEPS {
            let u = lo + step * f64::from(i);
            let m = miss(u);
            if m < best.0 {
                best = (m, u);
            }
        }
        // Then to the kink of the best step's neighbourhood (where one
        // pair reads exactly), which the steps only bracket.
        let (mut a, mut b) = ((best.1 - step).max(lo), (best.1 + step).min(hi));
        for _ in 0..REFINE_STEPS {
            let (x, y) = (a + (b - a) / 3.0, b - (b - a) / 3.0);
            if miss(x) <= miss(y) {
                b = y;
            } else {
                a = x;
            }
        }
        let refined = (a + b) / 2.0;
        if miss(refined) <= best.0 {
            refined
        } else {
            best.1
        }
    }
}

/// A pair of runs at one load on either side of a scale change: the run
/// after it, and what gives the load it read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairRun {
    /// The run before a decay: its replicas and reading (ms), which give
    /// the load under each U tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<(u32, f64)>,
    /// The load a scale-up was sized for (replicas' worth), when the pair
    /// is a scale-up and the first calm run after its replicas served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<f64>,
    /// The replicas of the run after.
    pub replicas: u32,
    /// Its reading (ms).
    pub ms: f64,
}

impl PairRun {
    fn is_sane(&self) -> bool {
        let ok = |v: f64| v.is_finite() && v > 0.0;
        self.replicas >= 1
            && ok(self.ms)
            && self.before.is_none_or(|(n, l)| n >= 1 && ok(l))
            && self.load.is_none_or(|k| k.is_finite() && k >= 0.0)
            && self.before.is_some() != self.load.is_some()
    }

    /// The load of the pair under `curve`.
    fn load(&self, curve: &Curve) -> f64 {
        match (self.before, self.load) {
            (Some((n, l)), _) => f64::from(n) * curve.utilisation(l),
            (None, Some(k)) => k,
            (None, None) => 0.0,
        }
    }
}

/// The model's curve for one target: L = b + c / (1 − ρ).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Curve {
    /// The part of the latency that does not queue (ms).
    pub(crate) b: f64,
    /// The part that queues, at zero load (ms).
    pub(crate) c: f64,
}

impl Curve {
    pub(crate) fn new(unloaded_ms: f64, queue_share: f64) -> Curve {
        Curve {
            b: unloaded_ms * (1.0 - queue_share),
            c: unloaded_ms * queue_share,
        }
    }

    pub(crate) fn unloaded(&self) -> f64 {
        self.b + self.c
    }

    /// The utilisation a reading says, in [0, 1).
    pub(crate) fn utilisation(&self, latency_ms: f64) -> f64 {
        if latency_ms.is_nan() || latency_ms <= self.unloaded() {
            return 0.0;
        }
        (1.0 - self.c / (latency_ms - self.b)).clamp(0.0, 1.0 - f64::EPSILON)
    }

    /// The latency at utilisation ρ; infinite at or past saturation.
    pub(crate) fn latency(&self, rho: f64) -> f64 {
        if rho >= 1.0 {
            f64::INFINITY
        } else {
            self.b + self.c / (1.0 - rho.max(0.0))
        }
    }

    /// The latency predicted at `replicas` under `load`.
    pub(crate) fn predict(&self, load: f64, replicas: u32) -> f64 {
        if replicas == 0 {
            return f64::INFINITY;
        }
        self.latency(load / f64::from(replicas))
    }

    /// The highest utilisation at which the latency is at most `limit`;
    /// `None` when even no load reads above it.
    pub(crate) fn utilisation_for(&self, limit_ms: f64) -> Option<f64> {
        (limit_ms > self.unloaded()).then(|| 1.0 - self.c / (limit_ms - self.b))
    }

    /// The fewest replicas (at least 1) that hold `limit` under `load`.
    pub(crate) fn replicas_for(&self, load: f64, limit_ms: f64) -> Option<u32> {
        let rho = self.utilisation_for(limit_ms)?;
        Some(count(load / rho))
    }
}

/// The median of a non-empty list (0 for an empty one).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The smallest whole count at or above `x` (at least 1), saturating.
fn count(x: f64) -> u32 {
    // Clear of float noise: 5.000000001 replicas is 5.
    let n = (x - 1e-9).ceil();
    if n.is_nan() || n < 1.0 {
        1
    } else if n >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        n as u32
    }
}

/// One modelled target's reading of this run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct View {
    /// `"{request key} {type}"`.
    pub(crate) label: String,
    pub(crate) key: String,
    pub(crate) kind: TargetKind,
    pub(crate) target_ms: f64,
    /// target × (1 − margin).
    pub(crate) limit_ms: f64,
    pub(crate) observed_ms: f64,
    pub(crate) curve: Curve,
    pub(crate) estimate: Estimate,
    /// The highest load of the calm runs since the last change, this one
    /// included: what a decay must hold.
    pub(crate) decay_load: f64,
    /// How many runs that is of.
    pub(crate) decay_runs: u32,
    /// More than `decay_load` by `DEEP_DECAY_NOISE` of its noise, where
    /// `decay_load` alone would leave fewer than half the replicas and
    /// this holds more.
    pub(crate) deep_load: Option<f64>,
    /// The highest load of the calm runs before a fall that this run and
    /// the last read, which a decay no longer holds.
    pub(crate) fell_from: Option<f64>,
    /// U was checked by a pair of runs (else it is only the floor).
    pub(crate) established: bool,
    /// The checked U this run's reading fell under: what was learned of
    /// the service is forgotten.
    pub(crate) faster: Option<f64>,
    /// The checked U this run's reading fell under, the first run to: a
    /// decay waits for the next.
    pub(crate) stray: Option<f64>,
    /// The load rises beyond the noise.
    pub(crate) rising: Option<Rise>,
    /// A count that read over the target in the last runs.
    pub(crate) breach: Option<BreachSeen>,
}

/// A run that read over the target, read through the curve now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BreachSeen {
    pub(crate) replicas: u32,
    pub(crate) ms: f64,
    pub(crate) secs_ago: u64,
    /// The load it reads now (replicas' worth; saturated, a lower bound),
    /// and how much a reading's noise moves it.
    pub(crate) load: f64,
    pub(crate) noise: f64,
}

/// A load rising run over run, fitted over the last runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rise {
    /// Replicas' worth a run.
    pub(crate) per_run: f64,
    /// The load projected `runs` ahead.
    pub(crate) ahead: f64,
    /// Runs ahead: `TREND_HORIZON_RUNS`, and the start-up's runs past one.
    pub(crate) runs: u32,
}

impl View {
    /// The load a count chosen now must hold: this run's, or where a
    /// rising one is headed by the time new replicas serve.
    pub(crate) fn load_ahead(&self) -> f64 {
        self.rising
            .map_or(self.estimate.load, |r| r.ahead.max(self.estimate.load))
    }

    /// That no count holds the limit, U (or the floor) being above it.
    pub(crate) fn no_headroom(&self) -> Gap {
        Gap::NoHeadroom {
            key: self.key.clone(),
            kind: self.kind,
            limit: self.limit_ms,
            unloaded: self.curve.unloaded(),
        }
    }

    /// The fewest replicas that hold `decay_load`, or where those are
    /// fewer than half the serving ones, `deep_load`, down to half at
    /// least: a reading near the limit moves with so little load that the
    /// noise alone held 9 -> 8 for good at no load (helper A25).
    pub(crate) fn decay_count(&self) -> Option<u32> {
        let plain = self.curve.replicas_for(self.decay_load, self.limit_ms)?;
        let Some(deep) = self.deep_load else {
            return Some(plain);
        };
        let wide = self.curve.replicas_for(deep, self.limit_ms)?;
        Some(wide.min(self.estimate.serving.div_ceil(2)).max(plain))
    }
}

/// How much the load read at `serving` from `latency` moves with the
/// reading's noise (`READING_NOISE` of it).
fn load_noise(curve: &Curve, latency: f64, serving: u32) -> f64 {
    let queue = latency - curve.b;
    if queue.is_nan() || queue <= 0.0 {
        return 0.0;
    }
    let e = f64::from(serving) * curve.c * READING_NOISE * latency / (queue * queue);
    if e.is_finite() {
        e
    } else {
        0.0
    }
}

/// The highest of the earlier calm runs' `loads` when the last of them and
/// `now` both read below it beyond the noise: the load fell. Two runs, as
/// one may be a low reading of the same load; on `curve` at `serving`,
/// where the decay window's runs all were.
fn fall(curve: &Curve, loads: &[f64], now: f64, serving: u32) -> Option<f64> {
    let (&last, before) = loads.split_last()?;
    let high = before.iter().copied().reduce(f64::max)?;
    let low = last.max(now);
    let noise = |load: f64| load_noise_at(curve, load, serving);
    clearly_more((high, noise(high)), (low, noise(low))).then_some(high)
}

/// How much a load read at `serving` moves with its reading's noise.
fn load_noise_at(curve: &Curve, load: f64, serving: u32) -> f64 {
    load_noise(curve, curve.predict(load, serving), serving)
}

/// Whether a load is more than another beyond both readings' noise: each
/// (load, its noise). The test of a fall.
fn clearly_more(high: (f64, f64), low: (f64, f64)) -> bool {
    high.0 - low.0 > TREND_SIGNIFICANCE * high.1.hypot(low.1)
}

/// The trend's readings as (seconds, load, the load's noise) on `curve`.
fn trend_loads(curve: &Curve, trend: &[(u64, f64, u32)]) -> Vec<(u64, f64, f64)> {
    trend
        .iter()
        .map(|&(at, latency, serving)| {
            let load = f64::from(serving) * curve.utilisation(latency);
            (at, load, load_noise(curve, latency, serving))
        })
        .collect()
}

/// The least-squares trend of `points` (seconds, load, noise), when it rises
/// significantly, projected `runs` ahead. A run ahead is the runs' usual
/// spacing (the median of the trend's gaps, lower), not the time since the
/// last run (`interval`, taken only when the trend's times have no gap): a
/// loop restarted minutes after its last run projected its trend minutes
/// a run ahead (a run read 60 s after runs 1 s apart answered 9 replicas
/// where it answered 4 at 1 s), and a run in the same second as the last
/// projected none.
pub(crate) fn rise(points: &[(u64, f64, f64)], interval: Option<f64>, runs: u32) -> Option<Rise> {
    let n = points.len();
    if n < 3 {
        return None;
    }
    // Times from a state file may be in any order: f64, never u64 minus.
    let t0 = points[0].0 as f64;
    let xs: Vec<f64> = points.iter().map(|(t, _, _)| *t as f64 - t0).collect();
    let ys: Vec<f64> = points.iter().map(|(_, l, _)| *l).collect();
    let nf = n as f64;
    let noise = (points.iter().map(|(_, _, e)| e * e).sum::<f64>() / nf).sqrt();
    let mx = xs.iter().sum::<f64>() / nf;
    let my = ys.iter().sum::<f64>() / nf;
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    if sxx.is_nan() || sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = sxy / sxx;
    let sse: f64 = xs
        .iter()
        .zip(&ys)
        .map(|(x, y)| (y - my - slope * (x - mx)).powi(2))
        .sum();
    // A few points make the residuals' spread a poor judge: a
    // straight-looking run of noise must not pass for a trend, so the
    // readings' known noise bounds it from below.
    let se = (sse / (nf - 2.0) / sxx).sqrt().max(noise / sxx.sqrt());
    if !(slope > 0.0 && slope >= TREND_SIGNIFICANCE * se) {
        return None;
    }
    let now = my + slope * (xs[n - 1] - mx);
    let mut times = xs.clone();
    times.sort_by(f64::total_cmp);
    let mut gaps: Vec<f64> = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|&g| g > 0.0)
        .collect();
    gaps.sort_by(f64::total_cmp);
    let spacing = gaps.get(gaps.len().saturating_sub(1) / 2).copied();
    let per_run = slope * spacing.or(interval.filter(|&i| i > 0.0))?;
    let ahead = now + per_run * f64::from(runs);
    (ahead.is_finite() && per_run.is_finite()).then_some(Rise {
        per_run,
        ahead,
        runs,
    })
}

/// The load a reading says, at the replicas taken to serve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Estimate {
    pub(crate) serving: u32,
    /// Replicas' worth; at saturation a lower bound raised by the backlog's
    /// growth.
    pub(crate) load: f64,
    pub(crate) saturated: bool,
    /// Saturated, and the wait fell since the last run: a backlog drains.
    pub(crate) draining: bool,
    /// Queued work at the end of the run, in replica-seconds.
    pub(crate) backlog: f64,
    /// Saturated, and the backlog grew too slowly to tell an open system
    /// from clients that wait for their answers.
    pub(crate) closed: bool,
}

/// Why the model leaves a decision to the configured rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "gap", rename_all = "camelCase")]
pub enum Gap {
    /// Fewer calm runs learned than `learnRuns`.
    #[serde(rename_all = "camelCase")]
    Learning { calm_runs: u32, needed: u32 },
    /// A breached target the model does not cover (errorRate, min).
    #[serde(rename_all = "camelCase")]
    NotModelled { key: String, kind: TargetKind },
    /// The target less the margin is not above the unloaded latency: no
    /// count holds it.
    #[serde(rename_all = "camelCase")]
    NoHeadroom {
        key: String,
        kind: TargetKind,
        limit: f64,
        unloaded: f64,
    },
    /// U is still only the floor (no pair of runs at the same load yet).
    #[serde(rename_all = "camelCase")]
    Unestablished { key: String, kind: TargetKind },
    /// A reading under the checked U: the service changed, or U was
    /// learned high; what was learned is forgotten until a pair checks U
    /// again.
    #[serde(rename_all = "camelCase")]
    FasterThanLearned {
        key: String,
        kind: TargetKind,
        reading: f64,
        checked: f64,
    },
    /// No modelled target had a reading this run.
    NoReading,
    /// The run's failures were above decay.maxErrorRate, and no target
    /// had a model to read it with.
    Unclean,
    /// A gap this lpa does not know, read from a decision log: a newer
    /// lpa's (as [`crate::decide::Reason::Newer`]).
    #[serde(other)]
    Newer,
}

/// Whether the model covers a target: latencies that grow with the queue.
pub(crate) fn models(target: &Target) -> bool {
    target.kind.is_latency() && target.kind != TargetKind::Min
}

fn label(t: &Target) -> String {
    format!("{} {}", t.key(), t.kind)
}

/// This run, read through the model.
#[derive(Debug, Clone)]
pub(crate) struct Assessment {
    /// The state learned so far, this run included (pending not yet set).
    pub(crate) next: ModelState,
    pub(crate) views: Vec<View>,
    /// Seconds since the last run, when it is recent.
    pub(crate) interval: Option<f64>,
    /// Set when the model does not decide this run.
    pub(crate) gap: Option<Gap>,
    /// The scale-up still waited for, as it was before this run.
    pub(crate) pending: Option<Pending>,
    /// A reading shows the pending scale-up's replicas serving.
    pub(crate) arrived: bool,
    /// The replicas taken to serve this run: the old count while a pending
    /// scale-up's replicas still start.
    pub(crate) serving: u32,
    /// The run had readings, but failures above decay.maxErrorRate.
    pub(crate) unclean: bool,
}

/// What one run brings: the observed values of the modelled targets, and
/// the facts of the run the learning needs.
pub(crate) struct Run<'a> {
    pub(crate) at_secs: u64,
    pub(crate) current: u32,
    /// (target, observed) for each modelled target with a finite reading.
    pub(crate) readings: Vec<(&'a Target, f64)>,
    /// No breach, no missing data, failures within decay.maxErrorRate.
    pub(crate) calm: bool,
    /// Failures within decay.maxErrorRate: the readings can be learned from.
    pub(crate) clean: bool,
    /// The count lpa's last decision left, when it is the current one (no
    /// outside change).
    pub(crate) ours: bool,
    /// Calm runs counted toward a decay, this one included (a decay holds
    /// the highest load of at least four (`MIN_DECAY_WINDOW`) of them).
    pub(crate) decay_window: u32,
    /// Replicas ready to serve, when the platform says (a Deployment's
    /// `status.readyReplicas`); else the model infers it.
    pub(crate) ready: Option<u32>,
    /// The recent needs come in bursts: a load that falls is a burst's
    /// end, which says nothing of the next.
    pub(crate) bursty: bool,
}

impl Assessment {
    /// Learns from `run` and reads its load. `prior` is the state the
    /// last decision left.
    pub(crate) fn new(
        config: ModelConfig,
        prior: Option<&ModelState>,
        run: &Run<'_>,
    ) -> Assessment {
        // The last run is the same load's when it is recent; its time
        // apart (when more than 0) times a backlog's growth.
        let since = prior
            .and_then(|p| run.at_secs.checked_sub(p.at_secs))
            .filter(|&s| s <= STALE_SECS);
        let recent = since.is_some();
        let prior = prior.cloned().unwrap_or_default();
        // A run sooner than the usual spacing (CPA's API asked between
        // its scheduled runs, a restart) did not see the backlog grow
        // over so short a time: its wait came over the usual one, and
        // read over 1 s, one noisy reading sized the count to the max.
        let interval = since
            .filter(|&s| s > 0)
            .map(|s| s.max(prior.usual_gap().unwrap_or(s)) as f64);
        let pending = prior.pending.clone().filter(|p| {
            run.ours
                && p.to == run.current
                && p.runs < MAX_WAIT_RUNS
                && p.to > p.from
                && p.is_sane()
        });
        let decayed = run.ours && recent && prior.replicas > run.current;
        let share = config.queue_share;

        // This run's readings, and what was learned before it.
        struct Learned<'t> {
            target: &'t Target,
            label: String,
            model: TargetModel,
            observed: f64,
            last: Option<Previous>,
            usable: bool,
            /// The checked U this run's reading contradicts.
            faster: Option<f64>,
            /// The checked U this run's reading contradicts, the first run
            /// to: a stray until the next run reads as low.
            stray: Option<f64>,
            /// The model began with this run's reading.
            fresh: bool,
        }
        let mut learned = Vec::new();
        for &(t, l) in &run.readings {
            // A latency of zero or less is a foreign producer's error, not
            // a reading.
            if !(l.is_finite() && l > 0.0) {
                continue;
            }
            let label = label(t);
            let usable = run.clean;
            let old = prior.targets.get(&label).filter(|m| m.is_sane()).cloned();
            let fresh = old.is_none();
            let Some(m) = old.or_else(|| usable.then(|| TargetModel::first(l))) else {
                continue;
            };
            let last = m.last_ms.filter(|_| recent).map(|latency| Previous {
                latency,
                rho: m.last_rho,
            });
            learned.push(Learned {
                target: t,
                label,
                model: m,
                observed: l,
                last,
                usable,
                faster: None,
                stray: None,
                fresh,
            });
        }

        // Do the pending scale-up's replicas serve yet? The platform's
        // ready count says so when it reports one; else a reading the old
        // count could not give, or two calm runs (one calm run right after
        // a scale-up may be the old count on a lucky run).
        let ready = run.ready.map(|r| r.clamp(1, run.current.max(1)));
        // The first reading under the checked U may be a stray (a
        // redirect, a cached reply): nothing is learned from it, no decay
        // made on it, and it says nothing of which count served. Taken for
        // a change of the service, every stray forgot the model and
        // decayed by the rule, into a breach when the service was as
        // before. A held one is told by the next run, or by none: one much
        // later is a new first one, not its second.
        for x in &mut learned {
            if !recent || !x.usable {
                x.model.low_ms = None;
            }
            if x.usable && x.model.low_ms.is_none() {
                x.stray = x.model.contradicted_by(x.observed);
            }
        }
        let stray_run = learned.iter().any(|x| x.stray.is_some());
        let arrived = pending.as_ref().is_some_and(|p| {
            if let Some(r) = ready {
                return r >= p.to;
            }
            p.arrived
                // Two calm runs in a row: one may be the old count on a
                // lucky run, two at a load it breached at are not (a
                // rising load hides the new replicas' readings otherwise).
                || (run.calm && p.calm >= 1 && !stray_run)
                || !stray_run && learned.iter().any(|x| {
                    let Some(&k) = p.loads.get(&x.label) else {
                        return false;
                    };
                    let curve = Curve::new(x.model.unloaded_ms, share);
                    let old = estimate(&curve, x.observed, p.from, x.last, interval);
                    // The old count saturated at that load: any reading it
                    // could not give (not saturated, or a backlog falling).
                    if k / f64::from(p.from.max(1)) >= RHO_SATURATED {
                        return old.draining || !old.saturated;
                    }
                    x.observed * (1.0 + ARRIVAL_TOLERANCE) < curve.predict(k, p.from)
                })
        });

        // Learn, so this run's reading is read with what it taught.
        for x in &mut learned {
            if !x.usable {
                continue;
            }
            let (m, l) = (&mut x.model, x.observed);
            if x.stray.is_some() {
                m.low_ms = Some(l);
                continue;
            }
            x.faster = m.contradicted_by(l);
            if x.faster.is_some() {
                // A pair across this run would mix what was learned,
                // now known wrong, with what is read now.
                m.forget();
                x.last = None;
            }
            if !x.fresh {
                m.see(l);
            }
            m.settle(share);
            if let (true, Some(before)) = (decayed, x.last) {
                learn_from_decay(m, share, (prior.replicas, before.latency), (run.current, l));
            }
            if let (true, None, Some(p)) = (run.calm && arrived, x.faster, &pending) {
                if let Some(&k) = p.loads.get(&x.label) {
                    learn_from_scale_up(m, share, k, ready.unwrap_or(run.current), l);
                }
            }
        }
        let serving = match (&pending, ready) {
            (_, Some(r)) => r,
            (Some(p), None) if !arrived => p.from,
            _ => run.current,
        };

        let mut next = ModelState {
            at_secs: run.at_secs,
            replicas: run.current,
            calm_runs: prior.calm_runs.saturating_add(u32::from(run.calm)),
            targets: BTreeMap::new(),
            pending: None,
            // Only a reported ready count times it: two calm runs, or a
            // reading, may show replicas that served a run earlier.
            startup_runs: {
                let mut kept: Vec<u32> = prior
                    .startup_runs
                    .iter()
                    .copied()
                    .filter(|&r| r < MAX_WAIT_RUNS)
                    .collect();
                if let Some(p) = pending
                    .as_ref()
                    .filter(|p| arrived && !p.arrived && ready.is_some())
                {
                    kept.push(p.runs);
                }
                keep_newest(&mut kept, STARTUPS_KEPT);
                kept
            },
            gaps: {
                // Only a schedule's: runs asked for between its runs, five
                // in a row, left it none, and the next read 1 s again.
                let mut kept = prior.gaps.clone();
                kept.extend(since.filter(|&s| s >= MIN_SCHEDULE_SECS));
                keep_newest(&mut kept, GAPS_KEPT);
                kept
            },
        };
        let horizon = TREND_HORIZON_RUNS + next.trend_startup() - 1;
        let mut views = Vec::new();
        for x in learned {
            let mut m = x.model;
            let curve = Curve::new(m.unloaded_ms, share);
            let estimate = estimate(&curve, x.observed, serving, x.last, interval);
            // The calm runs' loads bound a decay; any other run starts over.
            // Not a gap: loads of before it hold the first decay after it
            // (at a cost of a run), where one reading alone, after a clock
            // set back too, decayed into a breach.
            let mut fell_from = None;
            if x.stray.is_some() {
                // Kept as they were: the next run says what it was.
            } else if run.calm && x.usable {
                fell_from = (!run.bursty)
                    .then(|| fall(&curve, &m.loads, estimate.load, serving))
                    .flatten();
                if fell_from.is_some() {
                    // Only the last run read the fall with this one.
                    keep_newest(&mut m.loads, 1);
                }
                m.loads.push(estimate.load);
                let keep = run.decay_window.max(MIN_DECAY_WINDOW) as usize;
                keep_newest(&mut m.loads, keep);
            } else {
                m.loads.clear();
            }
            if (!recent || !x.usable || estimate.saturated) && x.stray.is_none() {
                m.trend.clear();
            }
            if x.usable && !estimate.saturated && x.stray.is_none() {
                m.trend.push((run.at_secs, x.observed, serving.max(1)));
                keep_newest(&mut m.trend, TREND_RUNS);
            }
            let rising = recent
                .then(|| rise(&trend_loads(&curve, &m.trend), interval, horizon))
                .flatten();
            if x.stray.is_none() {
                m.last_ms = x.usable.then_some(x.observed);
                m.last_rho = (x.usable && estimate.saturated && estimate.serving > 0)
                    .then(|| estimate.load / f64::from(estimate.serving));
            }
            // What a count read outlives the curve's word on it for a while:
            // a decay back to it needs the load fallen since (below). Not
            // under bursts: there a fall is a burst's end, and the bursts'
            // hold keeps what the recent needs say.
            let ago = |b: &Breach| run.at_secs.saturating_sub(b.at_secs);
            // A breach from the future (a clock set back, a hand-edited
            // file) would never age: it is dropped.
            let current = |b: &Breach| b.at_secs <= run.at_secs && ago(b) < BREACH_SECS;
            m.breach = m
                .breach
                .filter(|b| recent && !run.bursty && fell_from.is_none() && current(b));
            let breach = m.breach.map(|b| BreachSeen {
                replicas: b.replicas,
                ms: b.ms,
                secs_ago: ago(&b),
                load: f64::from(b.replicas) * curve.utilisation(b.ms),
                noise: load_noise(&curve, b.ms, b.replicas),
            });
            // A saturated run after a saturated one reads the backlog the
            // count before built, not what this count holds: a drain read
            // at 10 replicas took the place of 11 s read at 1, and the
            // decay went back to 1 (a service whose latency is flat up to
            // a cliff). The fewer replicas' breach stays.
            let inherited = estimate.saturated
                && x.last
                    .is_some_and(|p| curve.utilisation(p.latency) >= RHO_SATURATED)
                && m.breach.is_some_and(|b| b.replicas < serving.max(1));
            if x.usable
                && !run.bursty
                && !inherited
                && x.faster.is_none()
                && x.observed > x.target.target
            {
                m.breach = Some(Breach {
                    ms: x.observed,
                    replicas: serving.max(1),
                    at_secs: run.at_secs,
                });
            }
            let decay_load = m.loads.iter().copied().fold(estimate.load, f64::max);
            let decay_runs = m.loads.len().max(1) as u32;
            let limit_ms = x.target.target * (1.0 - config.margin);
            let deep_load = curve
                .replicas_for(decay_load, limit_ms)
                .filter(|&m| m.saturating_mul(2) < serving)
                .and_then(|plain| {
                    let deep = decay_load
                        + DEEP_DECAY_NOISE * load_noise_at(&curve, decay_load, serving.max(1));
                    (curve.replicas_for(deep, limit_ms)? > plain).then_some(deep)
                });
            views.push(View {
                label: x.label.clone(),
                key: x.target.key(),
                kind: x.target.kind,
                target_ms: x.target.target,
                limit_ms,
                observed_ms: x.observed,
                curve,
                estimate,
                decay_load,
                decay_runs,
                deep_load,
                fell_from,
                established: m.established(),
                faster: x.faster,
                stray: x.stray,
                rising,
                breach,
            });
            next.targets.insert(x.label, m);
        }
        // Targets without a reading this run keep what was learned.
        for (label, m) in &prior.targets {
            if !next.targets.contains_key(label) && m.is_sane() {
                let mut kept = m.clone();
                kept.last_ms = None;
                kept.low_ms = None;
                kept.last_rho = None;
                kept.loads.clear();
                kept.trend.clear();
                next.targets.insert(label.clone(), kept);
            }
        }
        let gap = (next.calm_runs < config.learn_runs).then_some(Gap::Learning {
            calm_runs: next.calm_runs,
            needed: config.learn_runs,
        });
        Assessment {
            next,
            views,
            interval,
            gap,
            pending,
            arrived,
            serving,
            unclean: !run.clean && !run.readings.is_empty(),
        }
    }

    /// Whether the readings still fit the old count under the load the
    /// pending scale-up was sized for: its replicas are yet to serve.
    pub(crate) fn waiting(&self) -> Option<&Pending> {
        let p = self.pending.as_ref().filter(|_| !self.arrived)?;
        self.views
            .iter()
            .all(|v| {
                p.loads
                    .get(&v.label)
                    .is_none_or(|&k| v.estimate.load <= k * (1.0 + RESIZE_TOLERANCE))
            })
            .then_some(p)
    }

    /// A breach at the count a scale-up added, the first run its
    /// replicas serve, reading no better than the count before did (both
    /// unsaturated, so no backlog in either): the pending scale-up, the
    /// view, and the reading before. A bottleneck outside these replicas
    /// (a shared database) reads so, and the model reads each such run
    /// as more load, up to maxReplicas; the line said only "load rising"
    /// (helper A22).
    /// Only a scale-up by half or more: a load that rises outran 8 -> 9
    /// (12 % more replicas, 9 % more load) and read no lower (helper A27).
    pub(crate) fn not_helping(&self) -> Option<(&Pending, &View, f64)> {
        let p = self.pending.as_ref().filter(|p| {
            self.arrived && !p.arrived && f64::from(p.to) >= TELLING_SCALE_UP * f64::from(p.from)
        })?;
        self.views.iter().find_map(|v| {
            if v.observed_ms <= v.target_ms || v.estimate.saturated {
                return None;
            }
            let trend = &self.next.targets.get(&v.label)?.trend;
            let &(_, before, _) = trend.iter().rev().find(|&&(_, _, n)| n == p.from)?;
            (v.observed_ms >= before * (1.0 - READING_NOISE)).then_some((p, v, before))
        })
    }

    /// A target the model would need to size a breach but cannot.
    pub(crate) fn gap_for_breach(&self, targets: &[Target], breached: &[bool]) -> Option<Gap> {
        if let Some(g) = &self.gap {
            return Some(g.clone());
        }
        for (t, &b) in targets.iter().zip(breached) {
            if b && !models(t) {
                return Some(Gap::NotModelled {
                    key: t.key(),
                    kind: t.kind,
                });
            }
        }
        self.no_headroom()
    }

    /// A target whose reading fell under its checked U, the first run to,
    /// and that U.
    pub(crate) fn stray(&self) -> Option<(&View, f64)> {
        self.views.iter().find_map(|v| v.stray.map(|u| (v, u)))
    }

    /// Why the model cannot decide a decay, if it cannot.
    pub(crate) fn gap_for_decay(&self) -> Option<Gap> {
        if let Some(g) = &self.gap {
            return Some(g.clone());
        }
        if let Some((v, checked)) = self.views.iter().find_map(|v| v.faster.map(|c| (v, c))) {
            return Some(Gap::FasterThanLearned {
                key: v.key.clone(),
                kind: v.kind,
                reading: v.observed_ms,
                checked,
            });
        }
        if let Some(v) = self.views.iter().find(|v| {
            !self
                .next
                .targets
                .get(&v.label)
                .is_some_and(TargetModel::established)
        }) {
            return Some(Gap::Unestablished {
                key: v.key.clone(),
                kind: v.kind,
            });
        }
        self.no_headroom()
    }

    /// A modelled target whose limit is not above its unloaded latency.
    pub(crate) fn no_headroom(&self) -> Option<Gap> {
        self.views
            .iter()
            .find(|v| v.established && v.curve.utilisation_for(v.limit_ms).is_none())
            .map(View::no_headroom)
    }

    /// Every breached modelled target is draining a backlog.
    pub(crate) fn draining(&self, breached: impl Fn(&View) -> bool) -> bool {
        let mut any = false;
        for v in self.views.iter().filter(|v| breached(v)) {
            if !v.estimate.draining {
                return false;
            }
            any = true;
        }
        any
    }

    /// The replicas a breach needs, and the view that needs the most.
    pub(crate) fn scale_up(&self, current: u32) -> Option<(u32, &View)> {
        let interval = self.interval;
        let startup = self.next.drain_startup();
        self.views
            .iter()
            .filter_map(|v| size(v, interval, startup).map(|m| (m, v)))
            .max_by_key(|(m, _)| *m)
            .map(|(m, v)| (m.max(current.saturating_add(1)), v))
    }

    /// When `v`'s backlog, not its load, sizes `replicas`: the
    /// replica-seconds queued by the time new replicas serve, and the runs
    /// they take to.
    pub(crate) fn backlog_sizes(&self, v: &View, replicas: u32) -> Option<(f64, u32)> {
        let startup = self.next.drain_startup();
        let (d, queued) = drain(v, self.interval, startup)?;
        let load = v.curve.replicas_for(v.load_ahead(), v.limit_ms)?;
        (d == replicas && d > load).then_some((queued, startup))
    }

    /// The fewest replicas that hold every target at the highest load of
    /// the calm runs since the last change, and the view that needs them.
    pub(crate) fn hold(&self) -> Option<(u32, &View)> {
        self.views
            .iter()
            .filter_map(|v| v.decay_count().map(|m| (m, v)))
            .max_by_key(|(m, _)| *m)
    }

    /// A rising load that `current` replicas would not hold, within the
    /// target, by the time replicas added now serve: the replicas that
    /// would hold it within the limit, and the view that needs the most.
    /// Never while a scale-up's replicas still start.
    pub(crate) fn ahead(&self, current: u32) -> Option<(u32, &View)> {
        if self.pending.is_some() && !self.arrived {
            return None;
        }
        self.views
            .iter()
            .filter_map(|v| {
                let r = v.rising?;
                // The margin spent, and the trend says the target goes next.
                (v.observed_ms > v.limit_ms && v.curve.predict(r.ahead, current) > v.target_ms)
                    .then_some(())?;
                v.curve.replicas_for(r.ahead, v.limit_ms).map(|m| (m, v))
            })
            .max_by_key(|(m, _)| *m)
            .map(|(m, v)| (m.max(current.saturating_add(1)), v))
    }

    /// The fewest replicas that hold every target at this run's load, or
    /// where a rising one is headed. A draining backlog's reading says how
    /// fast it drains, not the load: the load the pending scale-up was
    /// sized for stands in.
    pub(crate) fn need_now(&self) -> Option<u32> {
        self.views
            .iter()
            .filter_map(|v| {
                let load = if v.estimate.draining {
                    *self.pending.as_ref()?.loads.get(&v.label)?
                } else {
                    v.load_ahead()
                };
                v.curve.replicas_for(load, v.limit_ms)
            })
            .max()
    }

    /// A count at or above `to` that read over its target in the last runs,
    /// at a load not clearly more than the one a decay holds now (the test
    /// of a fall): a decay must leave more replicas than that. The curve's
    /// shape is assumed, the reading was not: a service whose latency
    /// climbs faster than the curve's (the demo's pool: a fixed cost per
    /// request behind a proxy) reads a load at the higher count that the
    /// lower one seems to hold, and breaches again.
    pub(crate) fn breached_at(&self, to: u32) -> Option<(&View, BreachSeen)> {
        let serving = self.serving.max(1);
        self.views
            .iter()
            .filter_map(|v| {
                let b = v.breach.filter(|b| to <= b.replicas)?;
                let held = (v.decay_load, load_noise_at(&v.curve, v.decay_load, serving));
                (!clearly_more((b.load, b.noise), held)).then_some((v, b))
            })
            .max_by_key(|(_, b)| b.replicas)
    }

    /// The worst predicted latency at `replicas` (over the decay loads),
    /// with its view.
    pub(crate) fn predicted_at(&self, replicas: u32) -> Option<(f64, &View)> {
        self.views
            .iter()
            .map(|v| (v.curve.predict(v.decay_load, replicas), v))
            .max_by(|a, b| (a.0 / a.1.limit_ms).total_cmp(&(b.0 / b.1.limit_ms)))
    }

    /// The state to persist after a decision from `current` to `decided`;
    /// `sized` is set when the model sized a scale-up.
    pub(crate) fn finish(
        mut self,
        current: u32,
        decided: u32,
        sized: bool,
        calm: bool,
    ) -> ModelState {
        if decided != current {
            for m in self.next.targets.values_mut() {
                m.loads.clear();
            }
        }
        // A stray says nothing of which count served.
        let stray = self.stray().is_some();
        self.next.pending = if decided > current && sized {
            Some(Pending {
                // Sized again while the first replicas still start: the
                // old count is what serves.
                from: self.serving,
                to: decided,
                loads: self
                    .views
                    .iter()
                    .map(|v| (v.label.clone(), v.estimate.load))
                    .collect(),
                runs: 0,
                arrived: false,
                calm: 0,
            })
        } else if decided != current || (calm && self.arrived) {
            None
        } else {
            self.pending.map(|p| Pending {
                runs: p.runs.saturating_add(1),
                arrived: p.arrived || self.arrived,
                calm: p.calm.saturating_add(u32::from(calm && !stray)),
                ..p
            })
        };
        self.next
    }
}

/// The previous run's reading of a target, for the backlog's growth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Previous {
    pub(crate) latency: f64,
    /// Its utilisation, when it was saturated.
    pub(crate) rho: Option<f64>,
}

/// Reads the load at `serving` replicas from a reading of `latency`.
/// `last` is the previous run's, `interval` the seconds since.
pub(crate) fn estimate(
    curve: &Curve,
    latency: f64,
    serving: u32,
    last: Option<Previous>,
    interval: Option<f64>,
) -> Estimate {
    let n = f64::from(serving);
    let rho = curve.utilisation(latency);
    if rho < RHO_SATURATED {
        return Estimate {
            serving,
            load: n * rho,
            saturated: false,
            draining: false,
            backlog: 0.0,
            closed: false,
        };
    }
    // The wait beyond the unloaded latency, in seconds (at most a year:
    // past that a reading is garbage, and the state must stay finite).
    let wait = |l: f64| ((l - curve.unloaded()) / 1000.0).clamp(0.0, MAX_WAIT_SECS);
    let w = wait(latency);
    let before = last.filter(|p| curve.utilisation(p.latency) >= RHO_SATURATED);
    // An open system's backlog grows at (ρ − 1) replicas' worth of work a
    // second; a run's mean wait is the backlog's mean over the run.
    let growth = interval.map(|i| match before {
        // Growing over two runs at ρ₁ then ρ₂, the mean wait moved by
        // (ρ₁ − 1 + ρ₂ − 1) × interval / 2.
        Some(p) => {
            let moved = 1.0 + (w - wait(p.latency)) / i;
            p.rho.map_or(moved, |r1| 2.0 * moved - r1)
        }
        // Onset: the wait grew from 0 over the run, (ρ − 1) × interval / 2
        // on average.
        None => 1.0 + 2.0 * w / i,
    });
    let r = growth.map_or(rho, |g| g.clamp(rho, MAX_UTILISATION));
    let backlog = match (interval, growth) {
        (Some(i), Some(g)) => n * (w + (g - 1.0).max(0.0) * i / 2.0),
        _ => n * w,
    };
    Estimate {
        serving,
        load: n * r,
        saturated: true,
        draining: before.is_some_and(|p| w < wait(p.latency)),
        backlog,
        closed: growth.is_none_or(|g| g < 1.0 + OPEN_GROWTH),
    }
}

/// The replicas that drain a saturated view's backlog within `DRAIN_RUNS`
/// of new replicas serving, `startup` runs from now, and the
/// replica-seconds queued by then.
fn drain(v: &View, interval: Option<f64>, startup: u32) -> Option<(u32, f64)> {
    let e = &v.estimate;
    let i = interval.filter(|_| e.saturated)?;
    let more = (e.load - f64::from(e.serving)).max(0.0) * i * f64::from(startup);
    let queued = e.backlog + more;
    Some((count(e.load + queued / (i * DRAIN_RUNS)), queued))
}

/// The replicas a breached view needs, the old count serving `startup`
/// more runs; `None` without headroom.
fn size(v: &View, interval: Option<f64>, startup: u32) -> Option<u32> {
    let e = &v.estimate;
    let rho = v.curve.utilisation_for(v.limit_ms);
    let rho = if v.established {
        rho?
    } else {
        // U is only the floor, which may be a loaded reading near the
        // limit: it would size for a utilisation near 0. Until a pair
        // tells U, at least half (what follows the scale-up teaches it).
        rho.unwrap_or(0.0).max(UNCHECKED_UTILISATION)
    };
    let mut m = count(v.load_ahead() / rho);
    if let Some((d, _)) = drain(v, interval, startup) {
        m = m.max(d);
    }
    if e.saturated {
        let n = f64::from(e.serving);
        if e.closed {
            // Clients that wait for their answers grow no backlog: their
            // wait falls in proportion to the replicas. Up to HPA's default
            // step (double, or 4 more), that reading wins if larger.
            let limit = (v.limit_ms - v.curve.b).max(f64::MIN_POSITIVE);
            let closed = count(n * (v.observed_ms - v.curve.b) / limit);
            let step = e.serving.saturating_mul(2).max(e.serving.saturating_add(4));
            m = m.max(closed.min(step));
        }
    }
    Some(m)
}

/// A decay from `before` (replicas, ms) to `after` at the same load: the U
/// under which the reading before predicts the reading after.
fn learn_from_decay(m: &mut TargetModel, share: f64, before: (u32, f64), after: (u32, f64)) {
    let (n1, l1) = before;
    let (n2, l2) = after;
    let near = |l: f64| l <= m.floor_ms * (1.0 + FLOOR_TOLERANCE);
    let run = PairRun {
        before: Some(before),
        load: None,
        replicas: n2,
        ms: l2,
    };
    if near(l1) && near(l2) {
        // The same floor at two counts: no queue at either, so alone it
        // says U is the floor; among the others it is two readings like
        // any pair's (a reading 5 % up at one replica fewer is a queue).
        m.learn(m.floor_ms, run, share);
        return;
    }
    let saturated = |l: f64| Curve::new(m.unloaded_ms, share).utilisation(l) >= RHO_SATURATED;
    if saturated(l1) || saturated(l2) {
        // A backlog is not the steady queue the curve describes: no
        // estimate of its own. Among the others it still says which way
        // U lies (a decay into a backlog: the load was higher than U read).
        m.keep(run, share);
        return;
    }
    let predicted = |u: f64| {
        let curve = Curve::new(u, share);
        curve.predict(f64::from(n1) * curve.utilisation(l1), n2)
    };
    // Higher U reads less load before, so predicts less after: bisection.
    let (mut lo, mut hi) = (m.floor_ms * MIN_UNLOADED_SHARE, m.floor_ms);
    let found = if predicted(hi) >= l2 {
        hi
    } else if predicted(lo) <= l2 {
        lo
    } else {
        for _ in 0..60 {
            let mid = (lo + hi) / 2.0;
            if predicted(mid) > l2 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        (lo + hi) / 2.0
    };
    m.learn(found, run, share);
}

/// A scale-up sized for `load`, and the first calm run after it at
/// `replicas`: the U under which they read `latency` at that load.
fn learn_from_scale_up(m: &mut TargetModel, share: f64, load: f64, replicas: u32, latency: f64) {
    let rho = load / f64::from(replicas.max(1));
    if rho.is_nan() || rho >= RHO_SATURATED || !latency.is_finite() {
        return;
    }
    let run = PairRun {
        before: None,
        load: Some(load),
        replicas: replicas.max(1),
        ms: latency,
    };
    m.learn(latency / ((1.0 - share) + share / (1.0 - rho)), run, share);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The simulator's service: 2 ms outside the queue, 2 ms of queue at no
    /// load (500 requests/s per replica): U = 4 ms, s = 0.5.
    fn curve() -> Curve {
        Curve::new(4.0, 0.5)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn the_curve_reads_a_load_and_predicts_other_counts() {
        // (reading ms, at n) -> load; then predictions at other counts.
        let c = curve();
        for (latency, n, load) in [
            (7.0, 5, 3.0),             // ρ = 0.6
            (6.0, 6, 3.0),             // ρ = 0.5
            (5.0 + 1.0 / 3.0, 2, 0.8), // ρ = 0.4
            (4.0, 3, 0.0),             // idle
            (3.5, 3, 0.0),             // below U: no load, never negative
        ] {
            let k = f64::from(n) * c.utilisation(latency);
            assert!(close(k, load), "{latency} at {n}: {k}");
        }
        assert!(close(c.predict(3.0, 5), 7.0));
        assert!(close(c.predict(3.0, 6), 6.0));
        assert!(close(c.predict(0.8, 1), 12.0));
        assert_eq!(c.predict(3.0, 3), f64::INFINITY);
        assert_eq!(c.predict(1.0, 0), f64::INFINITY);
        // 6.3 ms holds up to ρ = 1 − 2 / 4.3.
        assert!(close(c.utilisation_for(6.3).unwrap(), 1.0 - 2.0 / 4.3));
        assert_eq!(c.replicas_for(3.0, 6.3), Some(6));
        assert_eq!(c.replicas_for(3.0, 7.0), Some(5));
        assert_eq!(c.replicas_for(0.0, 6.3), Some(1));
        // No count holds a limit at or below the unloaded latency.
        assert_eq!(c.replicas_for(1.0, 4.0), None);
        assert_eq!(c.utilisation(f64::NAN), 0.0);
    }

    #[test]
    fn a_trend_must_clear_the_readings_noise() {
        let pts = |loads: &[f64]| -> Vec<(u64, f64, f64)> {
            loads
                .iter()
                .enumerate()
                .map(|(i, &l)| (15 * i as u64, l, 0.1))
                .collect()
        };
        // Too few runs, a flat load, a falling one: no rise.
        assert_eq!(rise(&pts(&[1.0, 1.5]), Some(15.0), 3), None);
        // A run ahead is the runs' spacing (15 s here), not the gap since
        // the last, when runs were missed.
        let r = rise(&pts(&[1.0, 1.2, 1.4, 1.6]), Some(300.0), 3).unwrap();
        assert!(close(r.per_run, 0.2), "{r:?}");
        assert_eq!(rise(&pts(&[1.0, 1.0, 1.0]), Some(15.0), 3), None);
        assert_eq!(rise(&pts(&[1.6, 1.4, 1.2, 1.0]), Some(15.0), 3), None);
        // A perfectly straight rise of 1 % a run: no residual at all, but
        // well inside what the readings' noise moves.
        assert_eq!(rise(&pts(&[1.0, 1.01, 1.02, 1.03]), Some(15.0), 3), None);
        // 0.2 a run against noise of 0.1: projected three runs ahead.
        let r = rise(&pts(&[1.0, 1.2, 1.4, 1.6]), Some(15.0), 3).unwrap();
        assert!(close(r.per_run, 0.2), "{r:?}");
        assert!(close(r.ahead, 2.2), "{r:?}");
        // Six runs along a straight line, against noise of 0.1 a run: a
        // rise of 0.065 a run clears 2.5 standard errors (2.7), one of
        // 0.055 does not (2.3).
        let line = |k: f64| pts(&(0..6).map(|i| 1.0 + k * f64::from(i)).collect::<Vec<_>>());
        assert!(rise(&line(0.065), Some(15.0), 3).is_some());
        assert_eq!(rise(&line(0.055), Some(15.0), 3), None);
        // Noise that happens to climb, but not by 2.5 standard errors.
        assert_eq!(
            rise(&pts(&[1.0, 0.9, 1.1, 1.05, 1.0, 1.1]), Some(15.0), 3),
            None
        );
        // A run in the same second as the last (no time since) projects
        // by the runs' spacing, as one a second later does.
        assert_eq!(
            rise(&pts(&[1.0, 1.2, 1.4, 1.6]), None, 3),
            rise(&pts(&[1.0, 1.2, 1.4, 1.6]), Some(1.0), 3)
        );
        assert!(rise(&pts(&[1.0, 1.2, 1.4, 1.6]), None, 3).is_some());
        // Absurd input reads as no trend, never a panic.
        assert_eq!(
            rise(
                &[(5, 1.0, 0.1), (5, 2.0, 0.1), (5, 3.0, 0.1)],
                Some(15.0),
                3
            ),
            None
        );
        assert_eq!(
            rise(
                &[(30, 1.0, 0.1), (15, 2.0, 0.1), (0, 3.0, 0.1)],
                Some(15.0),
                3
            ),
            None
        );
    }

    #[test]
    fn past_saturation_the_backlog_growth_reads_the_load() {
        let c = curve();
        let at = |ms: f64| Previous {
            latency: ms,
            rho: None,
        };
        // Onset at 2 replicas, 15 s runs: 1.5 × capacity grows a wait of
        // 0.5 × 15 / 2 = 3.75 s on average.
        let onset = estimate(&c, 4.0 + 3750.0, 2, Some(at(6.0)), Some(15.0));
        assert!(onset.saturated && !onset.draining && !onset.closed);
        assert!(close(onset.load, 3.0), "{onset:?}");
        // Queued at the run's end: 7.5 s of wait at 2 replicas.
        assert!(close(onset.backlog, 15.0), "{onset:?}");
        // The next run, still 2 serving: the mean wait moved by 7.5 s.
        let second = estimate(
            &c,
            4.0 + 11_250.0,
            2,
            Some(Previous {
                latency: 4.0 + 3750.0,
                rho: Some(1.5),
            }),
            Some(15.0),
        );
        assert!(close(second.load, 3.0), "{second:?}");
        // A load that rose from 1.35 to 4.28 of one replica between the
        // runs: the mean wait moved by (0.35 + 3.28) × 15 / 2.
        let w1 = 0.35 * 7.5;
        let w2 = 0.35 * 15.0 + 3.28 * 7.5;
        let rising = estimate(
            &c,
            4.0 + 1000.0 * w2,
            1,
            Some(Previous {
                latency: 4.0 + 1000.0 * w1,
                rho: Some(1.35),
            }),
            Some(15.0),
        );
        assert!(close(rising.load, 4.28), "{rising:?}");
        // The wait fell: the added replicas drain the backlog.
        let draining = estimate(&c, 4.0 + 1667.0, 6, Some(at(11_254.0)), Some(15.0));
        assert!(draining.saturated && draining.draining);
        // Without the interval only the queue's bound is known: ρ < 1.
        let blind = estimate(&c, 3754.0, 2, None, None);
        assert!(blind.load < 2.0 && blind.closed);
        // 25 ms where 4.2 is unloaded, 3 s runs: a wait of 21 ms grew far
        // too little for an open system's backlog; clients that wait.
        let demo = estimate(&Curve::new(4.2, 0.5), 25.3, 1, Some(at(4.2)), Some(3.0));
        assert!(demo.saturated && demo.closed, "{demo:?}");
    }

    fn view(curve: Curve, observed: f64, estimate: Estimate) -> View {
        View {
            label: "GET_/a mean".into(),
            key: "GET_/a".into(),
            kind: TargetKind::Mean,
            target_ms: 7.0,
            limit_ms: 6.3,
            observed_ms: observed,
            curve,
            estimate,
            decay_load: estimate.load,
            decay_runs: 1,
            deep_load: None,
            fell_from: None,
            rising: None,
            established: true,
            faster: None,
            stray: None,
            breach: None,
        }
    }

    #[test]
    fn the_start_up_is_the_median_of_the_timed_ones_and_at_least_a_run() {
        let startup = |runs: &[u32]| {
            let m = ModelState {
                startup_runs: runs.to_vec(),
                ..ModelState::default()
            };
            assert_eq!(m.drain_startup(), m.trend_startup(), "{runs:?}");
            m.trend_startup()
        };
        // None timed: a drain is sized for two runs, a trend projected for
        // one.
        let untimed = ModelState::default();
        assert_eq!((untimed.drain_startup(), untimed.trend_startup()), (2, 1));
        // Ready by the run after the decision: one run.
        assert_eq!(startup(&[0]), 1);
        assert_eq!(startup(&[3]), 3);
        // One slow start among two is not yet the rule; among three it
        // is outvoted, and two slow ones are.
        assert_eq!(startup(&[1, 7]), 1);
        assert_eq!(startup(&[1, 7, 1]), 1);
        assert_eq!(startup(&[7, 1, 3]), 3);
        assert_eq!(startup(&[7, 7, 1]), 7);
    }

    #[test]
    fn sizing_holds_the_limit_drains_the_backlog_and_hedges_a_closed_loop() {
        let c = curve();
        // (what, reading, serving, previous, interval, replicas)
        let cases = [
            (
                "7.5 ms at 5 reads 3.2 of load: 6 hold it",
                7.5,
                5,
                None,
                Some(15.0),
                6,
            ),
            (
                "the step's onset: 6 hold 3",
                3754.0,
                2,
                Some(6.0),
                Some(15.0),
                6,
            ),
            // 3.6 of load, 19.5 s of wait: 39 replica-seconds queued, as
            // many again before new replicas serve, drained in two runs:
            // 3.6 + 78 / 30 = 6.2; 7 hold 3.6 (3.6 / 0.535 = 6.7).
            (
                "the spike's onset",
                4.0 + 19_500.0,
                1,
                Some(6.0),
                Some(15.0),
                7,
            ),
            // 300 s of wait at 1 replica, still growing at 3.6: 319.5
            // replica-seconds queued, 39 more before new replicas serve:
            // 3.6 + 358.5 / 30 = 15.6. The backlog, not the load, sizes it.
            (
                "a long backlog",
                4.0 + 300_000.0,
                1,
                Some(4.0 + 300_000.0 - 39_000.0),
                Some(15.0),
                16,
            ),
        ];
        for (what, reading, serving, before, interval, want) in cases {
            let e = estimate(
                &c,
                reading,
                serving,
                before.map(|l| Previous {
                    latency: l,
                    rho: None,
                }),
                interval,
            );
            assert_eq!(
                size(&view(c, reading, e), interval, 1),
                Some(want),
                "{what}: {e:?}"
            );
        }
        // The demo: 25.3 ms at 1 replica; the queue alone asks for 2, the
        // latency ratio for 6, HPA's step allows 5.
        let d = Curve::new(4.2, 0.5);
        let e = estimate(
            &d,
            25.3,
            1,
            Some(Previous {
                latency: 4.2,
                rho: None,
            }),
            Some(3.0),
        );
        assert_eq!(size(&view(d, 25.3, e), Some(3.0), 1), Some(5));
        // No headroom: nothing to size.
        let slow = Curve::new(6.5, 0.5);
        let e = estimate(&slow, 9.0, 2, None, Some(15.0));
        assert_eq!(size(&view(slow, 9.0, e), Some(15.0), 1), None);
        // Unless U is only a floor: a loaded reading just under the limit
        // would ask for a utilisation near 0; half, until a pair tells U.
        let floor = Curve::new(5.44, 0.5);
        let e = estimate(
            &floor,
            4.0 + 19_500.0,
            1,
            Some(Previous {
                latency: 6.0,
                rho: None,
            }),
            Some(15.0),
        );
        let mut v = view(floor, 4.0 + 19_500.0, e);
        v.limit_ms = 5.6;
        assert_eq!(size(&v, Some(15.0), 1), Some(65), "{e:?}");
        v.established = false;
        assert_eq!(size(&v, Some(15.0), 1), Some(8), "3.6 / 0.5 = 7.2: {e:?}");
    }

    /// An edited state's nonsense is dropped, never trusted.
    #[test]
    fn a_negative_utilisation_or_an_absurd_load_in_the_state_is_nonsense() {
        let mut m = TargetModel::first(4.0);
        assert!(m.is_sane());
        m.last_rho = Some(-5.0);
        assert!(!m.is_sane());
        m.last_rho = Some(1.5);
        m.loads = vec![1e300];
        assert!(!m.is_sane());
        m.loads = vec![3.0];
        assert!(m.is_sane());
        let pending = |load: f64| Pending {
            from: 0,
            to: 1,
            loads: [("a".to_string(), load)].into_iter().collect(),
            runs: 0,
            arrived: false,
            calm: 0,
        };
        assert!(pending(50.0).is_sane() && !pending(1e300).is_sane());
    }

    #[test]
    fn pairs_of_runs_at_one_load_find_the_unloaded_latency() {
        // Never idle: the floor, 5.33 ms at 2 replicas under 0.8 of load,
        // is U = 4 ms plus a queue. A decay to 1 reads 12 ms.
        let mut m = TargetModel::first(5.0 + 1.0 / 3.0);
        learn_from_decay(&mut m, 0.5, (2, 5.0 + 1.0 / 3.0), (1, 12.0));
        assert!((m.unloaded_ms - 4.0).abs() < 1e-6, "{m:?}");
        assert!(m.established());
        // A scale-up sized for 3 reads 5 ms at 9: U is 4 again.
        let mut m = TargetModel::first(4.9);
        learn_from_scale_up(&mut m, 0.5, 3.0, 9, 5.0);
        assert!(close(m.unloaded_ms, 4.0), "{m:?}");
        // The floor read on both sides of a decay is U.
        let mut m = TargetModel::first(4.0);
        learn_from_decay(&mut m, 0.5, (3, 4.0), (2, 4.0));
        assert_eq!((m.unloaded_ms, m.pairs.clone()), (4.0, vec![4.0]));
        // Alone, near it too; fitted, a reading up at one replica fewer
        // is some queue.
        let mut m = TargetModel::first(4.0);
        learn_from_decay(&mut m, 0.5, (3, 4.1), (2, 4.2));
        assert_eq!(m.pairs, vec![4.0]);
        assert!(m.unloaded_ms < 4.0, "{m:?}");
        // A backlog after a decay is not the queue the curve describes.
        let mut m = TargetModel::first(4.0);
        learn_from_decay(&mut m, 0.5, (2, 5.0), (1, 3000.0));
        assert!(!m.established());
        // U never goes above the floor, nor below a quarter of it.
        let mut m = TargetModel::first(4.0);
        learn_from_scale_up(&mut m, 0.5, 0.5, 2, 30.0);
        assert_eq!(m.unloaded_ms, 4.0);
        learn_from_scale_up(&mut m, 0.5, 0.1, 2, 0.5);
        assert_eq!(m.pairs, vec![4.0, 1.0]);
        assert!((1.0..=4.0).contains(&m.unloaded_ms), "{m:?}");
    }

    /// A scale-up sized for `load`, read at `replicas` on the simulator's
    /// service times `factor`.
    fn scaled_up(load: f64, replicas: u32, factor: f64) -> PairRun {
        PairRun {
            before: None,
            load: Some(load),
            replicas,
            ms: curve().predict(load, replicas) * factor,
        }
    }

    #[test]
    fn one_pair_spoiled_by_a_load_change_does_not_move_u() {
        let mut m = TargetModel::first(4.4);
        for (load, replicas) in [(3.0, 5), (2.0, 4), (4.0, 7)] {
            let r = scaled_up(load, replicas, 1.0);
            learn_from_scale_up(&mut m, 0.5, load, replicas, r.ms);
        }
        assert!(close(m.unloaded_ms, 4.0), "{m:?}");
        // The load rose 20 % between the sizing and the reading.
        let r = scaled_up(3.6, 6, 1.0);
        learn_from_scale_up(&mut m, 0.5, 3.0, 6, r.ms);
        assert!(close(m.unloaded_ms, 4.0), "{m:?}");
        // Only the newest are kept; garbage is not.
        for _ in 0..PAIR_RUNS_KEPT {
            let r = scaled_up(3.0, 5, 1.0);
            learn_from_scale_up(&mut m, 0.5, 3.0, 5, r.ms);
        }
        assert_eq!(m.pair_runs.len(), PAIR_RUNS_KEPT);
        assert_eq!(m.pairs.len(), PAIRS_KEPT);
        learn_from_scale_up(&mut m, 0.5, 3.0, 5, f64::NAN);
        learn_from_scale_up(&mut m, 0.5, 3.0, 5, -1.0);
        assert!(m.pair_runs.iter().all(|r| r.ms > 0.0), "{m:?}");
        assert!(close(m.unloaded_ms, 4.0), "{m:?}");
    }

    #[test]
    fn a_state_without_pair_runs_keeps_the_median_of_its_pairs() {
        let mut m = TargetModel::first(4.2);
        m.pairs = vec![4.0, 4.1, 2.5, 3.9];
        m.settle(0.5);
        assert!(close(m.unloaded_ms, 3.95), "{m:?}");
        assert!(m.established());
    }
}
