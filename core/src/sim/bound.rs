//! The bound: the fewest replica-cycles any policy can expect to spend for
//! a given number of cycles over target, on a scenario's load.
//!
//! The oracle is one point: the fewest replicas that hold every cycle on
//! the model's noise-free values. But a load test reads with noise, so the
//! oracle's own counts read over target in about half the cycles where it
//! sits on the target, and a policy that keeps a margin pays replicas for
//! fewer such cycles. The bound is the whole trade-off, and it is a lower
//! bound on every policy, however it decides:
//!
//! - **p(c, n)**, the chance that cycle c's load test reads over some
//!   target with n replicas serving and no backlog, is exact under the
//!   model: each sample is `base + Exp(m)` with `m` the M/M/1 time in the
//!   system at ρ = load / (n × capacity) (capped as the model caps it), so
//!   the mean of N samples is `base + Gamma(N, m/N)` (its tail is a
//!   Poisson sum), and the r-th smallest exceeds t when fewer than r of N
//!   samples fall at or below t (a binomial sum). With several targets the
//!   largest single chance is taken: the chance that any breaches is at
//!   least that.
//! - A backlog only adds a wait to every sample, and a cycle's count is
//!   chosen freely, as if replicas started at once and the load were known
//!   ahead: every real schedule's chance is at least p(c, ready(c)), and
//!   it pays for at least its ready replicas.
//! - For any weight μ >= 0, any policy's replica-cycles plus μ times its
//!   cycles over target is, in expectation, at least Σ_c min_n (n + μ p(c,
//!   n)) (the over-target count's expectation is the sum of each cycle's
//!   chance given what came before). So with B cycles over target expected,
//!   replica-cycles are at least max_μ (Σ_c min_n (n + μ p(c, n)) − μB):
//!   the lower convex hull of each cycle's (n, p(n)), its segments taken
//!   cheapest first (fewest cycles over target per replica given up).
//!
//! Under a request timeout a slower sample is recorded at the timeout and
//! failed: the error rate's chance is a binomial sum, a percentile's is as
//! above below the timeout and nil at or above it, and the mean's is at
//! least its unclipped chance less the chance that any sample reaches the
//! timeout (where none does, the two means are one).
//!
//! The bound is of expectations; a sum over seeds reads with their noise.

use crate::config::{Policy, Target, TargetKind};

use super::model::{Service, RHO_CAP};
use super::Scenario;

/// A chance below this is no chance: more replicas do not lower it further
/// by anything a sum of cycles could show.
const NEGLIGIBLE: f64 = 1e-12;
/// Standard deviations either side of a sum's centre that its terms are
/// summed over: beyond them every term is below e^-72 of the largest.
const TAIL_SDS: f64 = 12.0;

/// One scenario's trade-off between replica-cycles and cycles over target,
/// for one seed (every seed offers the same load).
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    /// Replicas summed over the cycles when each has as many as lower its
    /// chance of reading over target to nothing more.
    most: f64,
    /// The chances summed at those counts.
    most_over: f64,
    /// Cheapest first.
    segments: Vec<Segment>,
}

/// A segment of a cycle's hull: `replicas` given up for `over` cycles over
/// target added, in each of `cycles` cycles in a row. A load that holds
/// gives every cycle the same hull, and a segment a cycle made a
/// 10 000 000-cycle run keep 1 GB; in 16 bytes, as a lone (f64, f64) was,
/// a load that changes every cycle keeps no more than it did.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    replicas: u32,
    cycles: u32,
    over: f64,
}

impl Bound {
    /// The bound for `policy`'s targets on `scenario`'s load and service.
    pub fn of(scenario: &Scenario, policy: &Policy) -> Bound {
        let floor = policy.min_replicas.max(1);
        // From no replica, none serves, and the load test's requests are
        // refused: over target, as the simulation counts such a cycle. A
        // decision holds at 0 (lpa's, as HPA's), so any cycle may keep it.
        let from_none = scenario.replicas == 0;
        let mut most = 0.0;
        let mut most_over = 0.0;
        let mut segments: Vec<Segment> = Vec::new();
        let mut last_hull = Vec::new();
        for cycle in 0..scenario.cycles {
            let service = scenario.service_at(cycle);
            let rate = scenario.load.rate(cycle);
            // Cycle 0's count predates any decision; minReplicas binds from
            // cycle 1, as for the oracle.
            let low = if cycle == 0 { 1 } else { floor };
            let mut points = chances(&service, rate, &policy.targets, low);
            if from_none {
                points.insert(0, (0, 1.0));
            }
            let hull = hull(&points);
            let &(n, p) = hull.last().expect("a hull has a point");
            most += n as f64;
            most_over += p;
            let from = segments.len().saturating_sub(hull.len() - 1);
            if hull == last_hull && segments[from..].iter().all(|s| s.cycles < u32::MAX) {
                for s in &mut segments[from..] {
                    s.cycles += 1;
                }
            } else {
                for w in hull.windows(2) {
                    segments.push(Segment {
                        // No cluster runs 2^32 replicas (a scenario at most
                        // 150 000).
                        replicas: u32::try_from(w[1].0 - w[0].0).unwrap_or(u32::MAX),
                        cycles: 1,
                        over: w[0].1 - w[1].1,
                    });
                }
                last_hull = hull;
            }
        }
        // Cheapest first: fewest cycles over target per replica given up.
        // A hull's slopes differ, and the sort is stable: the order is each
        // cycle's segment on its own, as taken one by one.
        let slope = |s: &Segment| s.over / f64::from(s.replicas);
        segments.sort_by(|a, b| slope(a).total_cmp(&slope(b)));
        Bound {
            most,
            most_over,
            segments,
        }
    }

    /// The fewest replica-cycles `runs` seeds can expect to spend in all
    /// with `over_target` cycles over target expected in all.
    pub fn least(&self, over_target: f64, runs: u32) -> f64 {
        let runs = f64::from(runs.max(1));
        let budget = over_target / runs;
        let mut last = (self.most_over, self.most);
        for (over, cost) in self.corners() {
            if over > budget {
                // Less than every cycle safe costs nothing less; between two
                // corners, the line joining them.
                let share = ((budget - last.0) / (over - last.0)).max(0.0);
                return runs * (last.1 - (last.1 - cost) * share);
            }
            last = (over, cost);
        }
        runs * last.1
    }

    /// The bound's corners over `runs` seeds as (cycles over target,
    /// replica-cycles), from none over target to `up_to`: straight lines
    /// join them.
    pub fn curve(&self, runs: u32, up_to: f64) -> Vec<(f64, f64)> {
        let scale = f64::from(runs.max(1));
        std::iter::once((0.0, self.most * scale))
            .chain(
                self.corners()
                    .map(|(over, cost)| (over * scale, cost * scale))
                    .take_while(|&(over, _)| over < up_to),
            )
            .chain(std::iter::once((up_to, self.least(up_to, runs))))
            .collect()
    }

    /// One seed's corners after each segment taken, cheapest first: (cycles
    /// over target, replica-cycles), from every cycle safe toward every
    /// cycle at the floor.
    fn corners(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.segments
            .iter()
            .flat_map(|&s| std::iter::repeat_n(s, s.cycles as usize))
            .scan((self.most_over, self.most), |at, s| {
                *at = (at.0 + s.over, at.1 - f64::from(s.replicas));
                Some(*at)
            })
    }
}

/// (n, p(n)) from `low` replicas up to the count past which more do not
/// lower the chance; counts that saturate (all with the same chance) are
/// represented by `low` alone.
fn chances(service: &Service, rate: f64, targets: &[Target], low: u32) -> Vec<(u64, f64)> {
    let chance = |n: u64| over_chance(service, rate, n as f64, targets);
    // No count reads over less often than this: the idle service's chance,
    // where each is the exact one and falls as counts rise; nil where a
    // mean under a timeout is only bounded from below, not monotone.
    let clipped_mean =
        service.timeout_ms.is_some() && targets.iter().any(|t| matches!(t.kind, TargetKind::Mean));
    let least = if clipped_mean {
        0.0
    } else {
        over_chance(service, 0.0, 1.0, targets)
    };
    let mut points = vec![(u64::from(low), chance(u64::from(low)))];
    // Below this count ρ is capped: the chance is the same as at `low`.
    let unsaturated = (rate / (service.capacity * RHO_CAP)).ceil();
    let first = (unsaturated.min(1e15) as u64).max(u64::from(low) + 1);
    // Where the chance only creeps toward the least (a target the idle
    // service itself reads over now and then), the search stops at twice
    // the unsaturated count and the next count gets the least chance: one
    // no count goes below, so the bound stays a lower one.
    let last = first.saturating_mul(2).saturating_add(64);
    let mut n = first;
    while let Some(&(_, before)) = points.last().filter(|&&(_, p)| p - least > NEGLIGIBLE) {
        if n > last {
            points.push((n, least));
            break;
        }
        // A lower bound may rise with the count; a lower one still is one.
        points.push((n, chance(n).min(before)));
        n += 1;
    }
    points
}

/// The lower convex hull of points in ascending n with p not rising.
fn hull(points: &[(u64, f64)]) -> Vec<(u64, f64)> {
    let mut h: Vec<(u64, f64)> = Vec::with_capacity(points.len());
    for &pt in points {
        while h.len() >= 2 {
            let (a, b) = (h[h.len() - 2], h[h.len() - 1]);
            // b is above the chord from a to pt: not on the lower hull.
            let cross = (b.0 - a.0) as f64 * (pt.1 - a.1) - (b.1 - a.1) * (pt.0 - a.0) as f64;
            if cross <= 0.0 {
                h.pop();
            } else {
                break;
            }
        }
        h.push(pt);
    }
    h
}

/// The chance a load test of the service's `samples` requests reads over
/// some target with `replicas` serving `rate` requests/s and no backlog:
/// the largest of the targets' own.
fn over_chance(service: &Service, rate: f64, replicas: f64, targets: &[Target]) -> f64 {
    let rho = (rate / (service.capacity * replicas)).min(RHO_CAP);
    let mean_ms = 1000.0 / (service.capacity * (1.0 - rho));
    let samples = u64::from(service.samples.max(1));
    let base = service.base_latency_ms;
    // A sample slower than the timeout is recorded at it, and failed: the
    // chance one is, and that any of the test's are.
    let slow = service
        .timeout_ms
        .map_or(0.0, |limit| (-((limit - base) / mean_ms).max(0.0)).exp());
    let any_slow = -(samples as f64 * (-slow).ln_1p()).exp_m1();
    targets
        .iter()
        .map(|t| {
            // How far above the fixed part the target lies, in means of the
            // exponential part.
            let room = (t.target - base) / mean_ms;
            match t.kind {
                // Only a timeout fails a request while a replica serves.
                TargetKind::ErrorRate => failures_over(samples, slow, t.target),
                // No latency is recorded above the timeout.
                _ if service.timeout_ms.is_some_and(|limit| t.target >= limit) => 0.0,
                _ if room <= 0.0 => 1.0,
                // Where no sample reaches the timeout the recorded mean is
                // the unclipped one: at least its chance, less theirs.
                TargetKind::Mean => {
                    (poisson_at_most(samples as f64 * room, samples - 1) - any_slow).max(0.0)
                }
                TargetKind::Min => order_over(samples, 1, room),
                TargetKind::Max => order_over(samples, samples, room),
                TargetKind::Median => order_over(samples, rank(samples, 0.5), room),
                TargetKind::Percentile(p) => order_over(samples, rank(samples, p.quantile()), room),
            }
        })
        .fold(0.0, f64::max)
}

/// P(more than a share `target` of n requests fail), each failing with
/// chance `slow`: the error rate is failures / n, over when strictly above.
fn failures_over(n: u64, slow: f64, target: f64) -> f64 {
    if slow <= 0.0 || target >= 1.0 || target.is_nan() {
        return 0.0;
    }
    if target < 0.0 {
        return 1.0;
    }
    // The most failures that are not over, as the division reads them.
    let mut k = (target * n as f64).floor() as u64;
    while k > 0 && k as f64 / n as f64 > target {
        k -= 1;
    }
    while k < n && (k + 1) as f64 / n as f64 <= target {
        k += 1;
    }
    1.0 - binomial_at_most(n, slow, k)
}

/// The nearest rank of quantile q in n samples, as the recording reads it.
fn rank(n: u64, q: f64) -> u64 {
    (((q * n as f64) - 1e-9).ceil().max(1.0) as u64).min(n)
}

/// P(the r-th smallest of n exponential samples > `room` means): fewer
/// than r of them at or below it.
fn order_over(n: u64, r: u64, room: f64) -> f64 {
    let below = -(-room).exp_m1();
    binomial_at_most(n, below, r - 1)
}

/// P(X <= k) for X ~ Poisson(x).
fn poisson_at_most(x: f64, k: u64) -> f64 {
    let sd = x.sqrt();
    let lo = (x - TAIL_SDS * sd - TAIL_SDS).max(0.0) as u64;
    let hi = ((x + TAIL_SDS * sd + TAIL_SDS) as u64).min(k);
    if lo > k {
        return 0.0;
    }
    // Term i + 1 is term i times x / (i + 1).
    let peak = (x.floor() as u64).clamp(lo, hi);
    let ln_peak = -x + peak as f64 * x.ln() - ln_factorial(peak);
    ratio_sum(ln_peak, peak, lo, hi, |i| x / i as f64).min(1.0)
}

/// P(X <= k) for X ~ Binomial(n, q).
fn binomial_at_most(n: u64, q: f64, k: u64) -> f64 {
    if q <= 0.0 {
        return 1.0;
    }
    if q >= 1.0 {
        return if k >= n { 1.0 } else { 0.0 };
    }
    let centre = n as f64 * q;
    let sd = (centre * (1.0 - q)).sqrt();
    let lo = (centre - TAIL_SDS * sd - TAIL_SDS).max(0.0) as u64;
    let hi = ((centre + TAIL_SDS * sd + TAIL_SDS) as u64).min(k).min(n);
    if lo > k {
        return 0.0;
    }
    // Term i + 1 is term i times (n - i) / (i + 1) × q / (1 - q).
    let odds = q / (1.0 - q);
    let peak = (((n + 1) as f64 * q).floor() as u64).clamp(lo, hi);
    let ln_peak = ln_factorial(n) - ln_factorial(peak) - ln_factorial(n - peak)
        + peak as f64 * q.ln()
        + (n - peak) as f64 * (-q).ln_1p();
    ratio_sum(ln_peak, peak, lo, hi, |i| {
        (n - i + 1) as f64 / i as f64 * odds
    })
    .min(1.0)
}

/// Σ of the terms lo..=hi of a sequence whose largest there is term
/// `peak`, e^`ln_peak`, and whose term i is term i − 1 times `up(i)`: a
/// logarithm for the peak, and products for the rest (each at most 1
/// relative to it, so nothing overflows).
fn ratio_sum(ln_peak: f64, peak: u64, lo: u64, hi: u64, up: impl Fn(u64) -> f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    for i in peak + 1..=hi {
        term *= up(i);
        sum += term;
    }
    term = 1.0;
    for i in (lo..peak).rev() {
        term /= up(i + 1);
        sum += term;
    }
    ln_peak.exp() * sum
}

/// ln(n!), by Lanczos' approximation of Γ (g = 7, nine terms: relative
/// error near 1e-15).
fn ln_factorial(n: u64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if n < 2 {
        return 0.0;
    }
    // Γ(n + 1) = n!, and Lanczos gives Γ(z + 1) for z = n.
    let z = n as f64;
    let mut sum = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        sum += c / (z + i as f64);
    }
    let t = z + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (z + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_policy;
    use crate::sim::{parse_scenario, ServiceModel, SplitMix64};
    use crate::stats::Recording;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn factorials_and_sums_match_direct_computation() {
        let mut f = 1.0_f64;
        for n in 1..=30_u64 {
            f *= n as f64;
            assert!(close(ln_factorial(n), f.ln(), 1e-10), "{n}");
        }
        // P(Poisson(3) <= 2) = e^-3 (1 + 3 + 4.5).
        assert!(close(
            poisson_at_most(3.0, 2),
            (-3.0_f64).exp() * 8.5,
            1e-12
        ));
        // P(Binomial(4, 0.5) <= 1) = 5/16.
        assert!(close(binomial_at_most(4, 0.5, 1), 5.0 / 16.0, 1e-12));
        assert_eq!(binomial_at_most(4, 1.0, 3), 0.0);
        assert_eq!(binomial_at_most(4, 0.0, 0), 1.0);
    }

    /// Load tests of 8000, drawn by the model's own sampler with
    /// `replicas` serving `rate`: (the share read over, the chance) per
    /// target.
    fn sampled(
        service: &Service,
        targets: &[Target],
        rate: f64,
        replicas: u32,
        rng: &mut SplitMix64,
    ) -> Vec<(f64, f64)> {
        let model = ServiceModel::new(service.clone(), 15.0, replicas);
        let mut over = vec![0_u32; targets.len()];
        for _ in 0..TRIALS {
            let mut rec = Recording::default();
            model.measure(0, rate, rng, &mut rec);
            let stats = rec.summarize("GET", "/a", std::time::Duration::ZERO, &[]);
            let obs = crate::decide::Observation {
                requests: [(targets[0].key(), stats)].into_iter().collect(),
                ..Default::default()
            };
            for (o, t) in over.iter_mut().zip(targets) {
                *o += u32::from(obs.observed(t).unwrap() > t.target);
            }
        }
        over.iter()
            .zip(targets)
            .map(|(o, t)| {
                let exact =
                    over_chance(service, rate, f64::from(replicas), std::slice::from_ref(t));
                (f64::from(*o) / f64::from(TRIALS), exact)
            })
            .collect()
    }

    const TRIALS: u32 = 8000;

    /// 500 requests/s a replica, 2 ms outside the queue, 200 samples a test.
    fn service(timeout_ms: Option<f64>) -> Service {
        Service {
            capacity: 500.0,
            base_latency_ms: 2.0,
            samples: 200,
            timeout_ms,
            ..Service::default()
        }
    }

    /// Targets on one key, `{type: T, target: V}` each.
    fn targets(each: &[&str]) -> Vec<Target> {
        let list: Vec<String> = each
            .iter()
            .map(|t| format!("  - {{endpoint: /a, {t}}}\n"))
            .collect();
        parse_policy("p.yaml", &format!("targets:\n{}", list.concat()))
            .unwrap()
            .targets
    }

    /// Four standard errors of a share of the trials.
    fn tol(p: f64) -> f64 {
        4.0 * (p * (1.0 - p) / f64::from(TRIALS)).sqrt() + 1e-3
    }

    /// The closed forms against the model's own sampler: the share of
    /// sampled load tests that read over each target.
    #[test]
    fn chances_match_the_sampled_load_tests() {
        let service = service(None);
        let targets = targets(&[
            "type: mean, target: 7",
            "type: p95, target: 16",
            "type: median, target: 5.5",
        ]);
        let mut rng = SplitMix64::new(7);
        // 60, 58 and 56 % busy: each target is read over in some tests and
        // under in others at two of the three at least, where a wrong rank
        // or a tail a few per cent off shows.
        let mut between = vec![0; targets.len()];
        for (rate, replicas) in [(1500.0, 5_u32), (1450.0, 5), (1400.0, 5)] {
            let each = sampled(&service, &targets, rate, replicas, &mut rng);
            for ((b, t), &(share, exact)) in between.iter_mut().zip(&targets).zip(&each) {
                assert!(
                    close(share, exact, tol(exact)),
                    "{} at {rate}/s on {replicas}: sampled {share}, exact {exact}",
                    t.kind
                );
                *b += u32::from((0.1..0.9).contains(&exact));
            }
        }
        assert!(
            between.iter().all(|&b| b >= 2),
            "{between:?}: the checks must be able to fail"
        );
    }

    fn step() -> (Scenario, Policy) {
        let scenario = parse_scenario(
            "s.yaml",
            "cycles: 100\nreplicas: 5\nservice: {capacity: 500, baseLatency: 2}\nload: {type: step, from: 1500, to: 1500, at: 1}\n",
            &mut |_| Err(std::io::ErrorKind::NotFound.into()),
        )
        .unwrap();
        let policy = parse_policy(
            "p.yaml",
            "targets: [{endpoint: /a, type: mean, target: 7}]\n",
        )
        .unwrap();
        (scenario, policy)
    }

    #[test]
    fn the_bound_is_the_dual_of_every_weight_on_cycles_over_target() {
        let (scenario, policy) = step();
        let b = Bound::of(&scenario, &policy);
        let p = |n: u64| over_chance(&scenario.service, 1500.0, n as f64, &policy.targets);
        // 1500/s at 500/s a replica: 4 replicas are 75 % busy, a mean of
        // 2 + 8 = 10 ms, always over; 5 are 60 % (2 + 5 = 7 ms, on the
        // target: half the tests read over); 6 are 50 % (6 ms).
        assert!(p(4) > 0.999 && close(p(5), 0.5, 0.05) && p(6) < 1e-3);
        // For a weight mu, no policy spends less than
        // L(mu) - mu B = sum over cycles of min over n of (n + mu p(n)),
        // less mu B. Every count from 1 to 40, not only the hull's, at the
        // weights where the hull's slopes make two counts tie.
        let counts: Vec<(f64, f64)> = (1..=40).map(|n| (n as f64, p(n))).collect();
        let dual = |mu: f64, budget: f64| {
            let per_cycle = counts
                .iter()
                .map(|&(n, pn)| n + mu * pn)
                .fold(f64::INFINITY, f64::min);
            100.0 * per_cycle - mu * budget
        };
        let mut weights = vec![0.0];
        for (i, a) in counts.iter().enumerate() {
            for c in &counts[i + 1..] {
                // Chances under 1e-9 apart: weights past a billion
                // replica-cycles a cycle, where the bound's search stops.
                if a.1 - c.1 > 1e-9 {
                    weights.push((c.0 - a.0) / (a.1 - c.1));
                }
            }
        }
        for budget in [0.01, 0.5, 2.0, 5.0, 10.0, 25.0, 50.0, 99.0] {
            let best = weights
                .iter()
                .map(|&mu| dual(mu, budget))
                .fold(f64::NEG_INFINITY, f64::max);
            let got = b.least(budget, 1);
            assert!(
                close(got, best, 1e-6),
                "budget {budget}: {got} against {best}"
            );
        }
        // Sitting on the target in every cycle (5 replicas, half the tests
        // over) is not the cheapest way to have that many over: a cycle at
        // one replica gives up five for one cycle over.
        assert!(b.least(100.0 * p(5), 1) < 500.0);
        // The same per seed over twenty seeds, and nothing below the floor.
        assert!(close(b.least(200.0, 20), 20.0 * b.least(10.0, 1), 1e-6));
        assert!(close(b.least(1e9, 1), 100.0, 1e-9));
        // The curve's corners are the bound's, and lines between them too.
        let curve = b.curve(20, 1200.0);
        assert_eq!(curve[0], (0.0, b.least(0.0, 20)));
        assert!(close(curve.last().unwrap().0, 1200.0, 1e-6));
        for w in curve.windows(2) {
            let mid = ((w[0].0 + w[1].0) / 2.0, (w[0].1 + w[1].1) / 2.0);
            assert!(w[1].0 >= w[0].0 && w[1].1 <= w[0].1);
            if w[0].0 > 0.0 {
                assert!(close(b.least(mid.0, 20), mid.1, 1e-6), "{mid:?}");
            }
        }
    }

    #[test]
    fn a_load_that_holds_keeps_one_hull_however_long() {
        let (mut scenario, policy) = step();
        let short = Bound::of(&scenario, &policy);
        scenario.cycles = 100_000;
        let long = Bound::of(&scenario, &policy);
        // The hull of cycle 0, which no minReplicas binds, and the rest's:
        // as many entries as for 100 cycles, where each cycle kept its own.
        assert!(long.segments.len() <= 2 * short.segments.len());
        assert!(close(
            long.least(1000.0, 1),
            1000.0 * short.least(1.0, 1),
            1e-6
        ));
    }

    #[test]
    fn from_no_replica_the_cycles_before_the_first_serves_cost_nothing_more() {
        let (mut scenario, policy) = step();
        let b = Bound::of(&scenario, &policy);
        scenario.replicas = 0;
        let from_zero = Bound::of(&scenario, &policy);
        // A mean target over the 2 ms base reads under it when every
        // request is refused: cycle 0 (no replica) and cycle 1 (one
        // starting) can be had without an over-target cycle, at 0 and 1
        // replicas, where 8 make them safe with some serving.
        assert_eq!(scenario.service.startup_cycles, 1);
        let at = |b: &Bound| b.least(10.0, 1);
        let saved = at(&b) - at(&from_zero);
        assert!(saved > 0.0 && saved <= 15.0 + 1e-9, "{saved}");
    }

    /// Under a timeout: the error rate and percentiles exactly, nothing
    /// over a target at or above the timeout, and the mean's chance at most
    /// what the sampled tests read.
    #[test]
    fn a_timeout_clips_the_samples_and_fails_them() {
        let mut rng = SplitMix64::new(11);
        for limit in [20.0, 60.0] {
            let service = service(Some(limit));
            let targets = targets(&[
                "type: errorRate, target: 0.02",
                "type: p95, target: 16",
                "type: max, target: 50",
                "type: mean, target: 7",
            ]);
            let chances = sampled(&service, &targets, 1500.0, 5, &mut rng);
            let [errors, p95, max, mean] = chances[..] else {
                unreachable!()
            };
            // 1500/s on 5 of 500/s: 5 ms in the queue. At 20 ms, a sample
            // fails with chance e^-3.6 (2.7 %): about 5.5 of 200.
            for (sampled, exact) in [errors, p95] {
                assert!(
                    close(sampled, exact, tol(exact)),
                    "{limit}: {sampled} {exact}"
                );
            }
            if limit == 20.0 {
                assert!((0.1..0.9).contains(&errors.1), "{errors:?}");
                // Never over a target at or above the timeout.
                assert_eq!(max, (0.0, 0.0));
            } else {
                assert!(max.1 > 0.0 && close(max.0, max.1, tol(max.1)), "{max:?}");
            }
            // The mean's chance is a lower one: equal where no sample
            // reaches 60 ms, nil where most tests have one at 20.
            assert!(mean.1 <= mean.0 + tol(mean.0), "{limit}: {mean:?}");
            if limit == 60.0 {
                assert!(close(mean.0, mean.1, tol(mean.1)), "{mean:?}");
            }
        }
    }
}
