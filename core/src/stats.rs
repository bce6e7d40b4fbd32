//! Latency statistics: from raw samples to the per-request summary that the
//! metric JSON carries and `decide` reads.
//!
//! Percentiles use the nearest-rank definition (Hyndman & Fan 1996,
//! definition 1; also what HdrHistogram's `value_at_quantile` and wrk
//! report): the p-th percentile of n sorted samples is the sample at rank
//! ceil(p/100 × n), 1-based. It is exact: latencies are kept in nanoseconds
//! and sorted, with no bucketing.
//!
//! Locust differs: it rounds every response time into a bucket first (to the
//! millisecond below 100 ms, to 10 ms below 1 s, to 100 ms above) and walks
//! the buckets, so its p95 of a 1234 ms request reads 1200 ms. The Locust
//! driver inherits that rounding; the native driver does not.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Percent;

/// Percentiles every summary carries, Locust's standard set plus p99.9.
pub const STANDARD_PERCENTILES: [f64; 10] =
    [50.0, 66.0, 75.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.9, 100.0];

/// `Percent::to_string` of each standard percentile, in the same order.
const STANDARD_LABELS: [&str; 10] = [
    "p50", "p66", "p75", "p80", "p90", "p95", "p98", "p99", "p99.9", "p100",
];

/// One request's statistics, with invokust's field names (milliseconds, as
/// Locust reports them), so the metric JSON stays readable by old tooling.
///
/// Every value is optional: a metric produced by another tool may carry only
/// `avg_response_time`, and a request with no samples has no latencies. A
/// missing value is "no data" to `decide`, never zero.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RequestStats {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_requests: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_failures: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_response_time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_response_time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_response_time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_time: Option<f64>,
    /// `"p95" -> ms`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_time_percentiles: BTreeMap<String, f64>,
    /// Requests per second over the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_rps: Option<f64>,
}

impl RequestStats {
    /// The latency at a percentile, falling back on the median for p50 and
    /// the max for p100 when a producer did not list them.
    pub fn percentile(&self, p: Percent) -> Option<f64> {
        let label = p.to_string();
        if let Some(v) = self.response_time_percentiles.get(&label) {
            return Some(*v);
        }
        if p.percent() == 50.0 {
            self.median_response_time
        } else if p.percent() == 100.0 {
            self.max_response_time
        } else {
            None
        }
    }

    /// Failed / all, when both are known and there was at least one request.
    pub fn error_rate(&self) -> Option<f64> {
        let n = self.num_requests?;
        (n > 0).then(|| self.num_failures.unwrap_or(0) as f64 / n as f64)
    }
}

/// The raw recording of one request key: every latency and the failures.
/// Failed requests keep their latency (as Locust does), so a service that
/// hangs reads as slow.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    /// Nanoseconds, unsorted.
    pub latencies_ns: Vec<u64>,
    pub failures: u64,
}

impl Recording {
    pub fn record(&mut self, latency: Duration, ok: bool) {
        self.latencies_ns
            .push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
        if !ok {
            self.failures += 1;
        }
    }

    /// Merges another thread's recording into this one.
    pub fn merge(&mut self, other: Recording) {
        if self.latencies_ns.is_empty() {
            self.latencies_ns = other.latencies_ns;
        } else {
            self.latencies_ns.extend_from_slice(&other.latencies_ns);
        }
        self.failures += other.failures;
    }

    /// Summarises the recording over a run of `elapsed`, with the standard
    /// percentiles plus `extra` (the ones targets ask for).
    pub fn summarize(
        mut self,
        method: &str,
        name: &str,
        elapsed: Duration,
        extra: &[Percent],
    ) -> RequestStats {
        let n = self.latencies_ns.len();
        let mut stats = RequestStats {
            request_type: Some(method.to_string()),
            name: Some(name.to_string()),
            num_requests: Some(n as u64),
            num_failures: Some(self.failures),
            ..RequestStats::default()
        };
        if elapsed > Duration::ZERO {
            stats.total_rps = Some(n as f64 / elapsed.as_secs_f64());
        }
        if n == 0 {
            return stats;
        }
        self.latencies_ns.sort_unstable();
        let sorted = &self.latencies_ns;
        let sum: u128 = sorted.iter().map(|&x| u128::from(x)).sum();
        stats.avg_response_time = Some(ns_to_ms(sum as f64 / n as f64));
        stats.min_response_time = Some(ns_to_ms(sorted[0] as f64));
        stats.max_response_time = Some(ns_to_ms(sorted[n - 1] as f64));
        stats.median_response_time = Some(ns_to_ms(nearest_rank(sorted, 0.5) as f64));
        // Fixed labels: formatting floats into keys was most of the cost of
        // a summary in the simulator's hot loop.
        for (p, label) in STANDARD_PERCENTILES.iter().zip(STANDARD_LABELS) {
            stats.response_time_percentiles.insert(
                label.to_string(),
                ns_to_ms(nearest_rank(sorted, p / 100.0) as f64),
            );
        }
        for p in extra {
            stats.response_time_percentiles.insert(
                p.to_string(),
                ns_to_ms(nearest_rank(sorted, p.quantile()) as f64),
            );
        }
        stats
    }
}

/// The nearest-rank quantile of sorted, non-empty data: rank ceil(q × n).
pub fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    debug_assert!(!sorted.is_empty());
    let n = sorted.len();
    // The small epsilon keeps 0.95 × 100 = 95.00000000000001 at rank 95.
    let rank = ((q * n as f64) - 1e-9).ceil().max(1.0) as usize;
    sorted[rank.min(n) - 1]
}

fn ns_to_ms(ns: f64) -> f64 {
    ns / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ms: &[u64]) -> Recording {
        let mut r = Recording::default();
        for &m in ms {
            r.record(Duration::from_millis(m), true);
        }
        r
    }

    #[test]
    fn nearest_rank_matches_the_definition() {
        let data: Vec<u64> = (1..=100).collect();
        assert_eq!(nearest_rank(&data, 0.5), 50);
        assert_eq!(nearest_rank(&data, 0.95), 95);
        assert_eq!(nearest_rank(&data, 0.99), 99);
        assert_eq!(nearest_rank(&data, 0.999), 100);
        assert_eq!(nearest_rank(&data, 1.0), 100);
        assert_eq!(nearest_rank(&data, 0.001), 1);
        assert_eq!(nearest_rank(&[7], 0.5), 7);
        // Median of an even count is the lower middle value, not an average.
        assert_eq!(nearest_rank(&[1, 2, 3, 4], 0.5), 2);
    }

    #[test]
    fn summary_is_exact() {
        let s = rec(&[1, 2, 3, 4, 100]).summarize("GET", "/x", Duration::from_secs(5), &[]);
        assert_eq!(s.num_requests, Some(5));
        assert_eq!(s.avg_response_time, Some(22.0));
        assert_eq!(s.min_response_time, Some(1.0));
        assert_eq!(s.max_response_time, Some(100.0));
        assert_eq!(s.median_response_time, Some(3.0));
        assert_eq!(s.response_time_percentiles["p90"], 100.0);
        assert_eq!(s.total_rps, Some(1.0));
    }

    #[test]
    fn sub_millisecond_latencies_are_not_bucketed() {
        let mut r = Recording::default();
        r.record(Duration::from_micros(1_234), true);
        r.record(Duration::from_micros(1_236), false);
        let s = r.summarize("GET", "/x", Duration::from_secs(1), &[]);
        assert_eq!(s.avg_response_time, Some(1.235));
        assert_eq!(s.num_failures, Some(1));
        assert_eq!(s.error_rate(), Some(0.5));
    }

    #[test]
    fn extra_percentiles_are_computed() {
        let data: Vec<u64> = (1..=1000).collect();
        let s = rec(&data).summarize(
            "GET",
            "/x",
            Duration::from_secs(1),
            &[Percent::new(97.5).unwrap()],
        );
        assert_eq!(s.percentile(Percent::new(97.5).unwrap()), Some(975.0));
        assert_eq!(s.percentile(Percent::new(99.9).unwrap()), Some(999.0));
    }

    #[test]
    fn standard_labels_are_the_percents_own() {
        for (p, label) in STANDARD_PERCENTILES.iter().zip(STANDARD_LABELS) {
            assert_eq!(Percent::new(*p).unwrap().to_string(), label);
        }
    }

    #[test]
    fn empty_recording_has_no_latency() {
        let s = Recording::default().summarize("GET", "/x", Duration::from_secs(1), &[]);
        assert_eq!(s.num_requests, Some(0));
        assert_eq!(s.avg_response_time, None);
        assert_eq!(s.error_rate(), None);
        assert_eq!(s.percentile(Percent::new(50.0).unwrap()), None);
    }

    #[test]
    fn merge_adds_up() {
        let mut a = rec(&[1, 2]);
        let mut b = rec(&[3]);
        b.failures = 1;
        a.merge(b);
        let s = a.summarize("GET", "/x", Duration::from_secs(1), &[]);
        assert_eq!((s.num_requests, s.num_failures), (Some(3), Some(1)));
    }
}
