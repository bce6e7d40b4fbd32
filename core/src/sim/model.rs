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

use serde::Serialize;

use super::rng::SplitMix64;
use crate::stats::Recording;

/// The busiest utilisation the M/M/1 part is evaluated at.
const RHO_CAP: f64 = 0.98;

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
        let served_per_sec = s.capacity * f64::from(ready);
        let rho = (rate / served_per_sec).min(RHO_CAP);
        let mean_sojourn_ms = 1000.0 / (s.capacity * (1.0 - rho));
        let b0 = self.backlog;
        let slope = rate - served_per_sec;
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
        let served_per_sec = self.service.capacity * f64::from(self.ready(cycle));
        self.backlog = if served_per_sec == 0.0 {
            0.0
        } else {
            (self.backlog + (rate - served_per_sec) * self.interval_secs).max(0.0)
        };
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
}
