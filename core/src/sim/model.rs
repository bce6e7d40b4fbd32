//! The modelled service: replicas that start up, serve a share of the load,
//! queue, saturate and drain.
//!
//! Each ready replica is an M/M/1 queue (Kleinrock, "Queueing Systems",
//! vol. 1, §3.2) with service rate `capacity` and an even share of the
//! load, so its utilisation is ρ = load / (ready × capacity) and a request's
//! time in the system is exponential with mean 1 / (capacity × (1 − ρ)):
//! mean and percentiles follow from ρ (p95 = mean × ln 20).
//!
//! M/M/1 has no steady state at ρ >= 1. Past saturation a fluid backlog
//! takes over: the excess `(load − ready × capacity) × interval` requests
//! queue, every request waits `backlog / (ready × capacity)` for the ones
//! ahead of it, and the backlog drains over later cycles with whatever
//! capacity the load leaves free. The M/M/1 part is then evaluated at
//! ρ = 0.98, the busiest it can be while still finite.
//!
//! The measurement is a finite sample: `samples` latencies drawn per
//! request key per cycle and summarised by [`Recording`], exactly as a real
//! load test's samples are, so the noise of a short test is in the trace.
//! [`CycleLatency`] is the same distribution in closed form: the values a
//! measurement reads without that noise, which the yardsticks judge by.

use serde::Serialize;

use super::rng::SplitMix64;
use crate::config::TargetKind;
use crate::stats::Recording;

/// The busiest utilisation the M/M/1 part is evaluated at.
pub(crate) const RHO_CAP: f64 = 0.98;

/// The service's parameters (`service:` in a scenario).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// Requests per second one replica serves (its M/M/1 service rate).
    pub capacity: f64,
    /// Milliseconds every request spends outside the queue (network, TLS).
    pub base_latency_ms: f64,
    /// Cycles a new replica takes before it serves traffic.
    pub startup_cycles: u32,
    /// Latencies measured per request key per cycle.
    pub samples: u32,
    /// A request slower than this fails, recorded at the timeout (as the
    /// native driver records a hung request), when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<f64>,
}

/// A change to the service from a cycle on (`service.changes` in a
/// scenario): a release, a warmed cache, a dependency that got faster or
/// slower. What it does not name stays as it was.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceChange {
    /// The first cycle the service runs changed.
    pub at: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_latency_ms: Option<f64>,
}

impl Service {
    /// The service after `change`.
    pub fn changed(&self, change: &ServiceChange) -> Service {
        Service {
            capacity: change.capacity.unwrap_or(self.capacity),
            base_latency_ms: change.base_latency_ms.unwrap_or(self.base_latency_ms),
            ..self.clone()
        }
    }
}

impl Default for Service {
    fn default() -> Self {
        Service {
            capacity: 100.0,
            base_latency_ms: 1.0,
            startup_cycles: 1,
            samples: 200,
            timeout_ms: None,
        }
    }
}

/// The service's state between cycles.
#[derive(Debug, Clone)]
pub struct ServiceModel {
    service: Service,
    interval_secs: f64,
    /// Replicas in batches of (first cycle serving, count), oldest first.
    /// Batches, not one entry per replica: a proportional policy without
    /// maxReplicas can ask for millions.
    batches: Vec<(u32, u32)>,
    /// Requests queued beyond what the replicas could serve.
    backlog: f64,
}

impl ServiceModel {
    pub fn new(service: Service, interval_secs: f64, replicas: u32) -> ServiceModel {
        ServiceModel {
            service,
            interval_secs,
            batches: vec![(0, replicas)],
            backlog: 0.0,
        }
    }

    /// Replicas that exist (what the scale target reports).
    pub fn replicas(&self) -> u32 {
        self.batches.iter().map(|b| b.1).sum()
    }

    /// Replicas serving traffic at `cycle`.
    pub fn ready(&self, cycle: u32) -> u32 {
        self.batches
            .iter()
            .filter(|b| b.0 <= cycle)
            .map(|b| b.1)
            .sum()
    }

    pub fn backlog(&self) -> f64 {
        self.backlog
    }

    /// The service changes from the next cycle measured on; the replicas
    /// and their queue stay.
    pub fn set_service(&mut self, service: Service) {
        self.service = service;
    }

    /// Measures one cycle under `rate` requests/s: fills `recording` with
    /// the sampled latencies. The state moves on only with [`Self::advance`],
    /// so several request keys can measure the same cycle.
    pub fn measure(&self, cycle: u32, rate: f64, rng: &mut SplitMix64, recording: &mut Recording) {
        let s = &self.service;
        let ready = self.ready(cycle);
        let n = s.samples as usize;
        recording.latencies_ns.reserve(n);
        if ready == 0 {
            // Nothing listens: every request is refused at once, and a
            // queue cannot outlive the replicas that held it.
            for _ in 0..n {
                record(recording, s.base_latency_ms, false);
            }
            return;
        }
        let Queue {
            served_per_sec,
            mean_sojourn_ms,
            backlog: b0,
            slope,
        } = Queue::new(s, ready, rate, self.backlog);
        let t = self.interval_secs;
        let mut push = |latency: f64| match s.timeout_ms {
            Some(limit) if latency > limit => record(recording, limit, false),
            _ => record(recording, latency, true),
        };
        if b0 <= 0.0 && slope <= 0.0 {
            // No backlog, now or during the cycle: latencies are base plus
            // an exponential. Draw them in ascending order (Rényi's
            // representation: the k-th smallest of n exponentials is the
            // sum of independent exponentials with means m/n, m/(n-1), ...,
            // m/(n-k+1)): the same distribution of samples, but the sort in
            // `summarize` then finds them sorted, which halves a cycle.
            let mut acc = 0.0;
            for k in 0..n {
                acc += rng.exponential(mean_sojourn_ms / (n - k) as f64);
                push(s.base_latency_ms + acc);
            }
            return;
        }
        for _ in 0..n {
            // The backlog is linear over the cycle; a request arriving at u
            // waits for the requests queued ahead of it.
            let u = rng.unit() * t;
            let wait_ms = 1000.0 * (b0 + slope * u).max(0.0) / served_per_sec;
            push(s.base_latency_ms + wait_ms + rng.exponential(mean_sojourn_ms));
        }
    }

    /// Ends `cycle` under `rate` requests/s: the backlog grows by the excess
    /// over the serving capacity or drains by the spare.
    pub fn advance(&mut self, cycle: u32, rate: f64) {
        self.backlog = backlog_after(
            &self.service,
            self.interval_secs,
            self.ready(cycle),
            rate,
            self.backlog,
        );
    }

    /// Scales to `replicas` after `cycle`: new replicas serve from
    /// `cycle + 1 + startup_cycles`; a scale-down removes the newest first
    /// (those still starting go before those serving).
    pub fn scale(&mut self, cycle: u32, replicas: u32) {
        let next = cycle.saturating_add(1);
        let ready_from = next.saturating_add(self.service.startup_cycles);
        let have = self.replicas();
        if replicas > have {
            self.batches.push((ready_from, replicas - have));
        } else {
            let mut drop = have - replicas;
            while drop > 0 {
                let Some(last) = self.batches.last_mut() else {
                    break;
                };
                let n = last.1.min(drop);
                last.1 -= n;
                drop -= n;
                if last.1 == 0 {
                    self.batches.pop();
                }
            }
        }
        // Batches serving by the next cycle are one batch from then on.
        let serving: u32 = self
            .batches
            .iter()
            .filter(|b| b.0 <= next)
            .map(|b| b.1)
            .sum();
        self.batches.retain(|b| b.0 > next);
        if serving > 0 {
            self.batches.insert(0, (0, serving));
        }
    }

    /// The distribution this cycle's latencies are drawn from under `rate`,
    /// for noise-free expectations (the yardsticks).
    pub fn latency(&self, cycle: u32, rate: f64) -> CycleLatency {
        CycleLatency::new(
            &self.service,
            self.interval_secs,
            self.ready(cycle),
            rate,
            self.backlog,
        )
    }

    /// The busy fraction of the serving replicas over `cycle` under `rate`
    /// (what their CPU would read): the requests there were to serve, queued
    /// ones included, over what they could serve, at most 1. `None` when no
    /// replica serves.
    pub fn busy_fraction(&self, cycle: u32, rate: f64) -> Option<f64> {
        let ready = self.ready(cycle);
        (ready > 0).then(|| {
            let can = self.service.capacity * f64::from(ready) * self.interval_secs;
            ((self.backlog + rate * self.interval_secs) / can).min(1.0)
        })
    }
}

/// The requests queued at the end of a cycle of `interval_secs` with
/// `ready` replicas serving `rate` requests/s behind `backlog`: the excess
/// over their capacity queues, their spare capacity drains it, and a queue
/// does not outlive the replicas that held it.
pub(crate) fn backlog_after(
    service: &Service,
    interval_secs: f64,
    ready: u32,
    rate: f64,
    backlog: f64,
) -> f64 {
    let served_per_sec = service.capacity * f64::from(ready);
    if served_per_sec == 0.0 {
        0.0
    } else {
        (backlog + (rate - served_per_sec) * interval_secs).max(0.0)
    }
}

/// One cycle's queue: what both the sampled measurement and the noise-free
/// expectations are computed from.
struct Queue {
    served_per_sec: f64,
    /// M/M/1 time in the system at ρ (capped at [`RHO_CAP`]).
    mean_sojourn_ms: f64,
    /// Requests queued at the start of the cycle.
    backlog: f64,
    /// How fast the backlog grows (requests/s; negative drains).
    slope: f64,
}

impl Queue {
    fn new(s: &Service, ready: u32, rate: f64, backlog: f64) -> Queue {
        let served_per_sec = s.capacity * f64::from(ready);
        let rho = (rate / served_per_sec).min(RHO_CAP);
        Queue {
            served_per_sec,
            mean_sojourn_ms: 1000.0 / (s.capacity * (1.0 - rho)),
            backlog,
            slope: rate - served_per_sec,
        }
    }
}

/// The distribution of one cycle's latencies, exactly as [`ServiceModel::measure`]
/// draws them, for noise-free values: a request arriving at u, uniform over
/// the cycle [0, t], takes L = base + W(u) + S, where S is exponential with
/// the M/M/1 mean m and W(u) = 1000 × max(0, b₀ + (λ − C)u) / C ms is the wait
/// behind the fluid backlog (b₀ queued at the start, λ offered, C served per
/// second). W is piecewise linear, so
///
/// ```text
/// P(L − base ≤ y) = (1/t) ∫ 1{W(u) < y} (1 − e^(−(y − W(u))/m)) du
/// E[min(L − base, Y)] = E[min(W, Y)] + m × P(L − base ≤ Y)
/// ```
///
/// both have closed forms piece by piece, and quantiles are found by
/// bisection on the first. A timeout T records slower requests at T and as
/// failures, so the mean is E[min(L, T)], a quantile min(Q, T) and the error
/// rate P(L > T). With no replica serving, every request is refused at once
/// (base latency, failed), as `measure` records it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CycleLatency {
    base_ms: f64,
    sojourn_ms: f64,
    /// W(u) = max(0, wait0_ms + wait_slope × u) in ms, u in seconds.
    wait0_ms: f64,
    wait_slope: f64,
    interval_secs: f64,
    timeout_ms: Option<f64>,
    refused: bool,
}

impl CycleLatency {
    /// The cycle with `ready` replicas serving `rate` requests/s behind
    /// `backlog` queued requests.
    pub fn new(
        service: &Service,
        interval_secs: f64,
        ready: u32,
        rate: f64,
        backlog: f64,
    ) -> CycleLatency {
        let q = Queue::new(service, ready, rate, backlog);
        let per_request_ms = if ready == 0 {
            0.0
        } else {
            1000.0 / q.served_per_sec
        };
        CycleLatency {
            base_ms: service.base_latency_ms,
            sojourn_ms: q.mean_sojourn_ms,
            wait0_ms: q.backlog * per_request_ms,
            wait_slope: q.slope * per_request_ms,
            interval_secs,
            timeout_ms: service.timeout_ms,
            refused: ready == 0,
        }
    }

    /// W's linear pieces over [0, t]: (u₁, u₂, a, c) with W = a + c·u >= 0.
    fn pieces(&self) -> [(f64, f64, f64, f64); 2] {
        let (t, a, c) = (self.interval_secs, self.wait0_ms, self.wait_slope);
        // Past u* the backlog has drained and W stays 0.
        let drained = if c < 0.0 { (a / -c).min(t) } else { t };
        [(0.0, drained, a, c), (drained, t, 0.0, 0.0)]
    }

    /// Over the pieces, where W < y: its length, ∫ e^(−(y − W)/m) du, and
    /// ∫ min(W, y) du over the whole cycle.
    fn below(&self, y: f64) -> (f64, f64, f64) {
        let m = self.sojourn_ms;
        let (mut len, mut tail, mut capped) = (0.0, 0.0, 0.0);
        for (u1, u2, a, c) in self.pieces() {
            if u2 <= u1 {
                continue;
            }
            let (v1, v2) = if c == 0.0 {
                if a < y {
                    (u1, u2)
                } else {
                    (u1, u1)
                }
            } else if c > 0.0 {
                (u1, u2.min((y - a) / c).max(u1))
            } else {
                (u1.max((y - a) / c).min(u2), u2)
            };
            let d = v2 - v1;
            capped += y * ((u2 - u1) - d);
            if d <= 0.0 {
                continue;
            }
            len += d;
            capped += d * (a + c * (v1 + v2) / 2.0);
            let z1 = (y - a - c * v1).max(0.0);
            let z2 = (y - a - c * v2).max(0.0);
            tail += if c == 0.0 {
                d * (-z1 / m).exp()
            } else {
                // Written around the smaller exponent, so nothing overflows
                // and a slope near 0 keeps its precision (expm1).
                (-z1.min(z2) / m).exp() * (m / c.abs()) * -(-c.abs() * d / m).exp_m1()
            };
        }
        (len, tail, capped)
    }

    /// Whether any replica serves (else every request is refused).
    pub fn serving(&self) -> bool {
        !self.refused
    }

    /// P(L − base <= y), the timeout not applied.
    fn queued_cdf(&self, y: f64) -> f64 {
        if y <= 0.0 {
            return 0.0;
        }
        let (len, tail, _) = self.below(y);
        ((len - tail) / self.interval_secs).clamp(0.0, 1.0)
    }

    /// P(L <= x): the share of requests answered within `x` ms, before the
    /// timeout is applied.
    pub fn cdf(&self, x_ms: f64) -> f64 {
        if self.refused {
            return if x_ms >= self.base_ms { 1.0 } else { 0.0 };
        }
        self.queued_cdf(x_ms - self.base_ms)
    }

    /// The mean latency as recorded (slower than the timeout at the timeout).
    pub fn mean(&self) -> f64 {
        if self.refused {
            return self.base_ms;
        }
        let t = self.interval_secs;
        match self.timeout_ms {
            Some(limit) if limit <= self.base_ms => limit,
            Some(limit) => {
                let y = limit - self.base_ms;
                let (_, _, capped) = self.below(y);
                self.base_ms + capped / t + self.sojourn_ms * self.queued_cdf(y)
            }
            None => {
                let wait: f64 = self
                    .pieces()
                    .iter()
                    .map(|&(u1, u2, a, c)| (u2 - u1).max(0.0) * (a + c * (u1 + u2) / 2.0))
                    .sum();
                self.base_ms + wait / t + self.sojourn_ms
            }
        }
    }

    /// The latency at quantile `q` in (0, 1), as recorded.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.refused {
            return self.base_ms;
        }
        let q = q.clamp(f64::MIN_POSITIVE, 1.0 - f64::EPSILON);
        let wait_max = self
            .wait0_ms
            .max(self.wait0_ms + self.wait_slope * self.interval_secs);
        // P(W + S <= w_max + s_q) >= P(S <= s_q) = q: the answer lies below.
        let (mut lo, mut hi) = (0.0, wait_max.max(0.0) - self.sojourn_ms * (1.0 - q).ln());
        for _ in 0..200 {
            let mid = (lo + hi) / 2.0;
            if mid <= lo || mid >= hi {
                break;
            }
            if self.queued_cdf(mid) >= q {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let x = self.base_ms + hi;
        self.timeout_ms.map_or(x, |limit| x.min(limit))
    }

    /// The share of requests that fail: refused, or slower than the timeout.
    pub fn failure_ratio(&self) -> f64 {
        if self.refused {
            return 1.0;
        }
        match self.timeout_ms {
            None => 0.0,
            Some(limit) if limit <= self.base_ms => 1.0,
            Some(limit) => 1.0 - self.queued_cdf(limit - self.base_ms),
        }
    }

    /// What a target's statistic reads without sampling noise, for a load
    /// test of `samples` requests: the mean, the error rate, or the
    /// quantile for median and percentiles. The slowest and fastest of n
    /// samples sit, on average, at quantiles n/(n+1) and 1/(n+1) (the
    /// expected value of F at the k-th of n order statistics is k/(n+1));
    /// max and min read there, and no percentile reads above the max.
    pub fn statistic(&self, kind: TargetKind, samples: u32) -> f64 {
        let n = f64::from(samples.max(1));
        let top = n / (n + 1.0);
        match kind {
            TargetKind::Mean => self.mean(),
            TargetKind::Median => self.quantile(0.5),
            TargetKind::Percentile(p) => self.quantile(p.quantile().min(top)),
            TargetKind::Max => self.quantile(top),
            TargetKind::Min => self.quantile(1.0 / (n + 1.0)),
            TargetKind::ErrorRate => self.failure_ratio(),
        }
    }
}

/// `Recording::record` without the `Duration` round trip, which costs more
/// than the draw itself: the same nanoseconds land in the same vector.
fn record(recording: &mut Recording, latency_ms: f64, ok: bool) {
    // `as` saturates: an absurd latency is u64::MAX ns, as record() does.
    recording
        .latencies_ns
        .push((latency_ms.max(0.0) * 1e6) as u64);
    if !ok {
        recording.failures += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_ms(model: &mut ServiceModel, cycle: u32, rate: f64) -> f64 {
        let mut rec = Recording::default();
        let mut rng = SplitMix64::new(7);
        model.measure(cycle, rate, &mut rng, &mut rec);
        model.advance(cycle, rate);
        let n = rec.latencies_ns.len() as f64;
        rec.latencies_ns
            .iter()
            .map(|&x| x as f64 / 1e6)
            .sum::<f64>()
            / n
    }

    fn service() -> Service {
        Service {
            capacity: 500.0,
            base_latency_ms: 2.0,
            startup_cycles: 2,
            samples: 20_000,
            timeout_ms: None,
        }
    }

    #[test]
    fn mean_follows_mm1() {
        let mut m = ServiceModel::new(service(), 15.0, 2);
        // ρ = 500 / 1000 = 0.5: 2 ms + 1 / (500 × 0.5) s = 2 + 4 ms.
        let mean = mean_ms(&mut m, 0, 500.0);
        assert!((mean - 6.0).abs() < 0.15, "mean {mean}");
        assert_eq!(m.backlog(), 0.0);
    }

    #[test]
    fn percentiles_follow_mm1_too() {
        // Exponential sojourn: p95 = mean × ln 20, with 2 ms base on top.
        let m = ServiceModel::new(service(), 15.0, 2);
        let mut rec = Recording::default();
        m.measure(0, 500.0, &mut SplitMix64::new(11), &mut rec);
        let s = rec.summarize("GET", "/", std::time::Duration::ZERO, &[]);
        let p95 = s.response_time_percentiles["p95"];
        let p50 = s.median_response_time.unwrap();
        assert!((p95 - (2.0 + 4.0 * 20f64.ln())).abs() < 0.4, "p95 {p95}");
        assert!((p50 - (2.0 + 4.0 * 2f64.ln())).abs() < 0.15, "p50 {p50}");
    }

    #[test]
    fn saturation_builds_a_backlog_that_drains() {
        let mut m = ServiceModel::new(service(), 10.0, 1);
        let hot = mean_ms(&mut m, 0, 600.0);
        assert!((m.backlog() - 1000.0).abs() < 1e-6, "{}", m.backlog());
        // Waiting for half the backlog on average: 500 requests / 500 per s.
        assert!(hot > 1000.0, "{hot}");
        // Twice the capacity drains 1000 requests in 2 s of a 10 s cycle.
        m.scale(0, 2);
        m.scale(0, 2);
        let _ = mean_ms(&mut m, 3, 0.0);
        assert_eq!(m.backlog(), 0.0);
    }

    #[test]
    fn new_replicas_serve_after_the_startup_delay_and_leave_first() {
        let mut m = ServiceModel::new(service(), 15.0, 1);
        m.scale(4, 3);
        assert_eq!(
            (m.replicas(), m.ready(5), m.ready(6), m.ready(7)),
            (3, 1, 1, 3)
        );
        m.scale(7, 2);
        assert_eq!((m.replicas(), m.ready(7)), (2, 2));
        // Counts are batches, not per-replica entries: a runaway policy
        // asking for billions costs nothing.
        m.scale(8, u32::MAX);
        assert_eq!(
            (m.replicas(), m.ready(9), m.ready(11)),
            (u32::MAX, 2, u32::MAX)
        );
        m.scale(11, 1);
        assert_eq!((m.replicas(), m.ready(12)), (1, 1));
    }

    #[test]
    fn no_ready_replica_refuses_everything_and_timeouts_fail() {
        let mut m = ServiceModel::new(service(), 15.0, 0);
        let mut rec = Recording::default();
        m.measure(0, 10.0, &mut SplitMix64::new(1), &mut rec);
        m.advance(0, 10.0);
        assert_eq!(m.backlog(), 0.0);
        assert_eq!(rec.failures, 20_000);
        let mut s = service();
        s.timeout_ms = Some(50.0);
        let m = ServiceModel::new(s, 15.0, 1);
        let mut rec = Recording::default();
        m.measure(0, 1000.0, &mut SplitMix64::new(1), &mut rec);
        assert!(rec.failures > 19_000);
        assert!(rec.latencies_ns.iter().all(|&x| x <= 50_000_000));
    }

    /// Draws `n` latencies of one cycle through `measure` (the sampled
    /// truth) for comparison with the closed forms.
    fn drawn(m: &ServiceModel, rate: f64, n: usize) -> (Vec<f64>, u64) {
        let mut rec = Recording::default();
        let mut rng = SplitMix64::new(5);
        while rec.latencies_ns.len() < n {
            m.measure(0, rate, &mut rng, &mut rec);
        }
        let mut v: Vec<f64> = rec.latencies_ns.iter().map(|&x| x as f64 / 1e6).collect();
        v.sort_by(f64::total_cmp);
        (v, rec.failures)
    }

    #[test]
    fn closed_forms_match_the_drawn_latencies() {
        let p95 = TargetKind::Percentile(crate::config::Percent::new(95.0).unwrap());
        let mut slow = service();
        slow.timeout_ms = Some(900.0);
        // Calm (M/M/1 only), a backlog draining within the cycle, one
        // growing through it, and one cut by a timeout.
        let cases: [(Service, u32, f64, f64); 4] = [
            (service(), 2, 700.0, 0.0),
            (service(), 2, 700.0, 4000.0),
            (service(), 2, 1300.0, 500.0),
            (slow, 1, 650.0, 300.0),
        ];
        for (s, ready, rate, backlog) in cases {
            let mut m = ServiceModel::new(s.clone(), 10.0, ready);
            m.backlog = backlog;
            let (v, failures) = drawn(&m, rate, 400_000);
            let n = v.len() as f64;
            let d = m.latency(0, rate);
            let mean = v.iter().sum::<f64>() / n;
            let at = |q: f64| v[((q * n).ceil() as usize).clamp(1, v.len()) - 1];
            let tag = format!("ready {ready} rate {rate} backlog {backlog}");
            assert!(
                (d.mean() - mean).abs() / mean < 0.01,
                "{tag}: mean {} vs {mean}",
                d.mean()
            );
            for q in [0.1, 0.5, 0.9, 0.95, 0.99] {
                let (want, got) = (at(q), d.quantile(q));
                assert!(
                    (got - want).abs() / want < 0.02,
                    "{tag}: q{q} {got} vs {want}"
                );
                // The CDF and the quantile are inverses.
                assert!(
                    (d.cdf(got) - q).abs() < 1e-9 || got == s.timeout_ms.unwrap_or(f64::NAN),
                    "{tag}"
                );
            }
            let ratio = failures as f64 / n;
            assert!(
                (d.failure_ratio() - ratio).abs() < 0.005,
                "{tag}: {} vs {ratio}",
                d.failure_ratio()
            );
            assert_eq!(d.statistic(TargetKind::Mean, 200), d.mean());
            assert_eq!(d.statistic(p95, 200), d.quantile(0.95));
        }
    }

    #[test]
    fn steady_state_values_are_the_textbook_ones() {
        // ρ = 0.6 at 500/s: mean 2 + 1000 / (500 × 0.4) = 7 ms, p95 = 2 + 5 ln 20.
        let d = CycleLatency::new(&service(), 15.0, 2, 600.0, 0.0);
        assert!((d.mean() - 7.0).abs() < 1e-9, "{}", d.mean());
        assert!((d.quantile(0.95) - (2.0 + 5.0 * 20f64.ln())).abs() < 1e-9);
        assert!((d.quantile(0.5) - (2.0 + 5.0 * 2f64.ln())).abs() < 1e-9);
        assert_eq!(d.failure_ratio(), 0.0);
        // Max of 200 samples reads at 200/201, min at 1/201.
        let max = d.statistic(TargetKind::Max, 200);
        assert!((max - (2.0 + 5.0 * 201f64.ln())).abs() < 1e-9, "{max}");
        let none = CycleLatency::new(&service(), 15.0, 0, 600.0, 0.0);
        assert_eq!((none.mean(), none.failure_ratio()), (2.0, 1.0));
        let m = ServiceModel::new(service(), 15.0, 2);
        assert_eq!(m.busy_fraction(0, 600.0), Some(0.6));
        assert_eq!(m.busy_fraction(0, 5000.0), Some(1.0));
        assert_eq!(
            ServiceModel::new(service(), 15.0, 0).busy_fraction(0, 1.0),
            None
        );
    }
}
