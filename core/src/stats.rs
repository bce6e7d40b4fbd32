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

/// The percentiles invokust reported, under bare keys (`"95"`): kept in the
/// metric JSON so tooling written against the original reads it.
pub const INVOKUST_PERCENTILES: [f64; 5] = [55.0, 65.0, 75.0, 85.0, 95.0];

/// One request's statistics, with invokust's field names (milliseconds, as
/// Locust reports them), so the metric JSON stays readable by old tooling.
///
/// Every value is optional: a metric produced by another tool may carry only
/// `avg_response_time`, and a request with no samples has no latencies. A
/// missing value is "no data" to `decide`, never zero.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestStats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_requests: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_failures: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_response_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_response_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_response_time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_response_time: Option<f64>,
    /// Milliseconds at each percentile; written `"p95": ms` and, for
    /// invokust's set, also `"95": ms`.
    #[serde(skip_serializing_if = "Percentiles::is_empty")]
    pub response_time_percentiles: Percentiles,
    /// Requests per second over the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_rps: Option<f64>,
    /// Requests per minute: invokust's field, `total_rps × 60`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_rpm: Option<f64>,
}

/// Latencies at percentiles, looked up by value: `p99.90` and `p99.9` are
/// one percentile, as are invokust's `"95"` and lpa's `"p95"`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Percentiles(Vec<(Percent, f64)>);

impl Percentiles {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, p: Percent) -> Option<f64> {
        self.0.iter().find(|(q, _)| *q == p).map(|(_, v)| *v)
    }

    /// Sets the value at `p`, keeping the list ordered by percentile.
    pub fn insert(&mut self, p: Percent, ms: f64) {
        match self
            .0
            .binary_search_by(|(q, _)| q.partial_cmp(&p).unwrap_or(std::cmp::Ordering::Less))
        {
            Ok(i) => self.0[i].1 = ms,
            Err(i) => self.0.insert(i, (p, ms)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (Percent, f64)> + '_ {
        self.0.iter().copied()
    }
}

impl std::ops::Index<&str> for Percentiles {
    type Output = f64;

    /// By label (`"p95"`); panics when absent, as a map's index does.
    fn index(&self, label: &str) -> &f64 {
        let p = Percent::parse(label).expect("a percentile label such as p95");
        self.0
            .iter()
            .find(|(q, _)| *q == p)
            .map(|(_, v)| v)
            .expect("no such percentile")
    }
}

impl Serialize for Percentiles {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let invokust: Vec<(f64, f64)> = self
            .iter()
            .filter(|(p, _)| INVOKUST_PERCENTILES.contains(&p.percent()))
            .map(|(p, v)| (p.percent(), v))
            .collect();
        let mut map = s.serialize_map(Some(self.0.len() + invokust.len()))?;
        for (p, v) in self.iter() {
            map.serialize_entry(&p.to_string(), &v)?;
        }
        for (p, v) in invokust {
            map.serialize_entry(&p.to_string(), &v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Percentiles {
    /// Reads `"p95"` and invokust's `"95"`; keys that name no percentile
    /// (another producer's) are skipped.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, f64>::deserialize(d)?;
        let mut out = Percentiles::default();
        for (k, v) in map {
            let p = Percent::parse(&k).or_else(|| k.parse().ok().and_then(Percent::new));
            if let Some(p) = p {
                if out.get(p).is_none() {
                    out.insert(p, v);
                }
            }
        }
        Ok(out)
    }
}

/// The longest latency a measurement can report (ms): a day. Past it the
/// number is a producer's bug (a unit mix-up, an overflow), and sizing for
/// it would ask for millions of replicas.
pub const MAX_LATENCY_MS: f64 = 86_400_000.0;

/// A value in a request's statistics that no measurement can have.
#[derive(Debug, Clone, PartialEq)]
pub struct Implausible {
    /// The field, as the metric JSON names it (`avg_response_time`,
    /// `response_time_percentiles.p95`).
    pub field: String,
    pub value: String,
    pub expected: String,
}

impl Implausible {
    /// The error naming it in `file`, its field under `under`
    /// (`requests.KEY`, `observation`).
    pub fn at(self, file: &str, under: &str) -> crate::parse::ParseError {
        crate::parse::ParseError::Invalid {
            file: file.to_string(),
            path: format!("{under}.{}", self.field),
            value: self.value,
            expected: self.expected,
        }
    }
}

impl RequestStats {
    /// The first value no measurement can have: a latency below 0 or over
    /// [`MAX_LATENCY_MS`], or more failures than requests. A NaN passes:
    /// it reads as no data.
    pub fn implausible(&self) -> Option<Implausible> {
        let named = [
            ("avg_response_time", self.avg_response_time),
            ("median_response_time", self.median_response_time),
            ("min_response_time", self.min_response_time),
            ("max_response_time", self.max_response_time),
        ]
        .into_iter()
        .map(|(f, v)| (f.to_string(), v));
        let percentiles = self
            .response_time_percentiles
            .iter()
            .map(|(p, v)| (format!("response_time_percentiles.{p}"), Some(v)));
        for (field, v) in named.chain(percentiles) {
            match v {
                Some(v) if !v.is_nan() && !(0.0..=MAX_LATENCY_MS).contains(&v) => {
                    return Some(Implausible {
                        field,
                        value: show_number(v),
                        expected: format!("a latency in ms from 0 to {MAX_LATENCY_MS} (a day)"),
                    })
                }
                _ => {}
            }
        }
        match (self.num_requests, self.num_failures) {
            (Some(n), Some(f)) if f > n => Some(Implausible {
                field: "num_failures".into(),
                value: f.to_string(),
                expected: format!("at most num_requests, {n}"),
            }),
            _ => None,
        }
    }

    /// The latency at a percentile, falling back on the median for p50 and
    /// the max for p100 when a producer did not list them.
    pub fn percentile(&self, p: Percent) -> Option<f64> {
        if let Some(v) = self.response_time_percentiles.get(p) {
            return Some(v);
        }
        if p.percent() == 50.0 {
            self.median_response_time
        } else if p.percent() == 100.0 {
            self.max_response_time
        } else {
            None
        }
    }

    /// Folds another measurement of the same request into this one: counts
    /// and rates add up, every latency is the worse of the two (a target
    /// breaches if either measurement breaches it), and a value only one
    /// side has is kept.
    pub fn combine(&mut self, other: &RequestStats) {
        fn add<T: std::ops::Add<Output = T> + Copy>(a: &mut Option<T>, b: Option<T>) {
            *a = match (*a, b) {
                (Some(x), Some(y)) => Some(x + y),
                (x, y) => x.or(y),
            };
        }
        fn worst(a: &mut Option<f64>, b: Option<f64>) {
            *a = match (*a, b) {
                (Some(x), Some(y)) => Some(x.max(y)),
                (x, y) => x.or(y),
            };
        }
        add(&mut self.num_requests, other.num_requests);
        add(&mut self.num_failures, other.num_failures);
        add(&mut self.total_rps, other.total_rps);
        add(&mut self.total_rpm, other.total_rpm);
        worst(&mut self.avg_response_time, other.avg_response_time);
        worst(&mut self.median_response_time, other.median_response_time);
        worst(&mut self.min_response_time, other.min_response_time);
        worst(&mut self.max_response_time, other.max_response_time);
        for (p, v) in other.response_time_percentiles.iter() {
            let mut mine = self.response_time_percentiles.get(p);
            worst(&mut mine, Some(v));
            self.response_time_percentiles.insert(p, mine.unwrap_or(v));
        }
    }

    /// Failed / all, when both are known and there was at least one request.
    pub fn error_rate(&self) -> Option<f64> {
        let n = self.num_requests?;
        (n > 0).then(|| self.num_failures.unwrap_or(0) as f64 / n as f64)
    }
}

/// A number as JSON would write it, short: `-3`, `1e308`.
fn show_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:?}")
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
            let rps = n as f64 / elapsed.as_secs_f64();
            stats.total_rps = Some(rps);
            stats.total_rpm = Some(rps * 60.0);
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
        let wanted = STANDARD_PERCENTILES
            .iter()
            .chain(&INVOKUST_PERCENTILES)
            .filter_map(|&p| Percent::new(p))
            .chain(extra.iter().copied());
        for p in wanted {
            stats
                .response_time_percentiles
                .insert(p, ns_to_ms(nearest_rank(sorted, p.quantile()) as f64));
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
    fn percentiles_are_found_by_value_and_written_for_invokust_too() {
        let s =
            rec(&(1..=100).collect::<Vec<_>>()).summarize("GET", "/x", Duration::from_secs(1), &[]);
        assert_eq!(s.percentile(Percent::parse("p98.0").unwrap()), Some(98.0));
        let json = serde_json::to_value(&s).unwrap();
        let p = &json["response_time_percentiles"];
        assert_eq!(
            (p["p95"].as_f64(), p["95"].as_f64()),
            (Some(95.0), Some(95.0))
        );
        assert_eq!(p["55"].as_f64(), Some(55.0));
        assert_eq!(json["total_rpm"].as_f64(), Some(6000.0));
        let back: RequestStats = serde_json::from_value(json).unwrap();
        assert_eq!(back, s);
        let invokust: RequestStats =
            serde_json::from_str(r#"{"response_time_percentiles": {"95": 12, "x": 1}}"#).unwrap();
        assert_eq!(invokust.percentile(Percent::new(95.0).unwrap()), Some(12.0));
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
