//! Locust's final statistics (the `--json-file` output, one entry per
//! request name and method) into lpa's [`RequestStats`].
//!
//! Locust does not keep raw samples. Each response time is rounded into a
//! bucket as it is recorded (`locust/stats.py`, `bucket_response_time`):
//! to the millisecond below 100 ms, to 10 ms below 1 s, to 100 ms below
//! 10 s, to the second above; Python's `round`, so ties go to the even
//! neighbour (`round(2.5) == 2`). The JSON carries those buckets
//! (`response_times`, `{"5": 812, "150": 3}`), so percentiles read from them
//! are as coarse as Locust's own: a 1234 ms request counts as 1200 ms.
//! Sums, min and max are kept exactly, so the mean, min and max are not
//! rounded.
//!
//! Percentiles replicate Locust's walk (`calculate_response_time_percentile`)
//! so they equal the numbers in Locust's CSV and web UI: with
//! `k = int(n × q)`, walk the buckets from the slowest down, and return the
//! first bucket at which at most `k` requests remain below it. The median
//! additionally is clamped into `[min, max]`, as Locust's
//! `median_response_time` does; other percentiles are not (Locust's p100 of
//! a 1234 ms max reads 1200).

use std::collections::BTreeMap;

use lpa_core::config::{request_key, Percent};
use lpa_core::stats::{RequestStats, INVOKUST_PERCENTILES, STANDARD_PERCENTILES};
use serde::Deserialize;

/// One entry of Locust's `--json`/`--json-file` output (`StatsEntryDict`);
/// only the fields lpa reads.
#[derive(Debug, Clone, Deserialize)]
pub struct LocustEntry {
    pub name: String,
    pub method: String,
    pub num_requests: u64,
    /// Requests without a response time (custom clients may report None).
    #[serde(default)]
    pub num_none_requests: u64,
    pub num_failures: u64,
    /// Milliseconds, summed exactly.
    pub total_response_time: f64,
    pub max_response_time: f64,
    pub min_response_time: Option<f64>,
    /// Bucket (ms, as a string key in JSON) -> count.
    #[serde(default)]
    pub response_times: BTreeMap<String, u64>,
}

/// Parses the JSON array Locust writes.
pub fn parse_entries(text: &str) -> Result<Vec<LocustEntry>, serde_json::Error> {
    serde_json::from_str(text)
}

/// Buckets as numbers, slowest first, the order Locust walks them.
fn buckets_descending(entry: &LocustEntry) -> Vec<(f64, u64)> {
    let mut buckets: Vec<(f64, u64)> = entry
        .response_times
        .iter()
        .filter_map(|(k, &n)| k.parse::<f64>().ok().map(|ms| (ms, n)))
        .collect();
    buckets.sort_by(|a, b| b.0.total_cmp(&a.0));
    buckets
}

/// Locust's `calculate_response_time_percentile`, step for step. `q` must be
/// the same double Locust uses (see [`locust_quantile`]) for `int(n × q)` to
/// agree at exact multiples.
pub fn bucket_percentile(buckets_desc: &[(f64, u64)], samples: u64, q: f64) -> Option<f64> {
    if samples == 0 || buckets_desc.is_empty() {
        return None;
    }
    let wanted = (samples as f64 * q).trunc();
    let mut processed = 0u64;
    for &(ms, count) in buckets_desc {
        processed += count;
        if (samples.saturating_sub(processed)) as f64 <= wanted {
            return Some(ms);
        }
    }
    // Locust returns 0 here ("all response times were None").
    Some(0.0)
}

/// The quantile as Locust's literal would be: `p99.9` -> `0.999` parsed from
/// decimal text, not `99.9 / 100.0` (which is a different double and can
/// move `int(n × q)` at exact multiples of n).
pub fn locust_quantile(p: Percent) -> f64 {
    let text = format!("{}", p.percent());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let decimal = format!("{:0>3}{frac}", int);
    let (whole, rest) = decimal.split_at(decimal.len() - 2 - frac.len());
    let shifted = format!("{whole}.{rest}");
    shifted.parse().unwrap_or_else(|_| p.quantile())
}

/// One entry as lpa's statistics, with the standard percentiles plus
/// `extra`. `run_secs` is the run's length for the rate.
pub fn request_stats(
    entry: &LocustEntry,
    extra: &[Percent],
    run_secs: Option<f64>,
) -> RequestStats {
    let samples = entry.num_requests.saturating_sub(entry.num_none_requests);
    let mut stats = RequestStats {
        // Locust's Aggregated row has no method.
        request_type: (!entry.method.is_empty()).then(|| entry.method.clone()),
        name: Some(entry.name.clone()),
        num_requests: Some(entry.num_requests),
        num_failures: Some(entry.num_failures),
        ..RequestStats::default()
    };
    if let Some(secs) = run_secs.filter(|s| *s > 0.0) {
        let rps = entry.num_requests as f64 / secs;
        stats.total_rps = Some(rps);
        // invokust's field, as the native driver writes it.
        stats.total_rpm = Some(rps * 60.0);
    }
    if samples == 0 {
        return stats;
    }
    let buckets = buckets_descending(entry);
    stats.avg_response_time = Some(entry.total_response_time / samples as f64);
    stats.min_response_time = entry.min_response_time;
    stats.max_response_time = Some(entry.max_response_time);
    stats.median_response_time = bucket_percentile(&buckets, samples, 0.5).map(|m| {
        let m = m.min(entry.max_response_time);
        match entry.min_response_time {
            Some(min) => m.max(min),
            None => m,
        }
    });
    // invokust's keys too ("55", ..., "95"), as the native driver writes
    // them: the metric JSON is one shape whichever driver measured it.
    let wanted = STANDARD_PERCENTILES
        .iter()
        .chain(&INVOKUST_PERCENTILES)
        .filter_map(|&p| Percent::new(p))
        .chain(extra.iter().copied());
    for p in wanted {
        if let Some(v) = bucket_percentile(&buckets, samples, locust_quantile(p)) {
            stats.response_time_percentiles.insert(p, v);
        }
    }
    stats
}

/// All entries keyed `"{METHOD}_{name}"`. The rate is over the whole run
/// (`run_secs`, ramp-up included), as the native driver counts it; Locust's
/// global start time, which its own `total_rps` uses, is not in its JSON.
pub fn requests(
    entries: &[LocustEntry],
    extra: &[Percent],
    run_secs: f64,
) -> BTreeMap<String, RequestStats> {
    entries
        .iter()
        .map(|e| {
            (
                request_key(&e.method, &e.name),
                request_stats(e, extra, Some(run_secs)),
            )
        })
        .collect()
}

/// All entries merged into one, as Locust builds its "Aggregated" row
/// (`StatsEntry.extend`): counts and sums add, buckets merge.
pub fn aggregate(entries: &[LocustEntry]) -> LocustEntry {
    let mut total = LocustEntry {
        name: "Aggregated".into(),
        method: String::new(),
        num_requests: 0,
        num_none_requests: 0,
        num_failures: 0,
        total_response_time: 0.0,
        max_response_time: 0.0,
        min_response_time: None,
        response_times: BTreeMap::new(),
    };
    for e in entries {
        total.num_requests += e.num_requests;
        total.num_none_requests += e.num_none_requests;
        total.num_failures += e.num_failures;
        total.total_response_time += e.total_response_time;
        total.max_response_time = total.max_response_time.max(e.max_response_time);
        total.min_response_time = match (total.min_response_time, e.min_response_time) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        for (bucket, n) in &e.response_times {
            *total.response_times.entry(bucket.clone()).or_default() += n;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(buckets: &[(u64, u64)]) -> LocustEntry {
        let n: u64 = buckets.iter().map(|b| b.1).sum();
        LocustEntry {
            name: "/x".into(),
            method: "GET".into(),
            num_requests: n,
            num_none_requests: 0,
            num_failures: 0,
            total_response_time: buckets.iter().map(|&(ms, c)| (ms * c) as f64).sum(),
            max_response_time: buckets.iter().map(|b| b.0).max().unwrap_or(0) as f64,
            min_response_time: buckets.iter().map(|b| b.0 as f64).reduce(f64::min),
            response_times: buckets.iter().map(|&(ms, c)| (ms.to_string(), c)).collect(),
        }
    }

    /// lpa's numbers from a recorded `--json-file` equal Locust's own CSV of
    /// the same run (fixtures/locust/recorded/README.md).
    #[test]
    fn recorded_run_equals_locusts_csv() {
        let json = include_str!("../../../fixtures/locust/recorded/delay_and_errors.json");
        let csv =
            include_str!("../../../fixtures/locust/recorded/delay_and_errors_final_stats.csv");
        let entries = parse_entries(json).unwrap();
        let mut stats = requests(&entries, &[], 2.0);
        stats.insert(
            "_Aggregated".into(),
            request_stats(&aggregate(&entries), &[], None),
        );
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let mut rows = 0;
        for line in lines {
            let row: BTreeMap<&str, &str> = header.iter().copied().zip(line.split(',')).collect();
            let num = |col: &str| row[col].parse::<f64>().unwrap();
            let key = format!("{}_{}", row["Type"], row["Name"]);
            let s = &stats[&key];
            assert_eq!(
                s.num_requests.unwrap() as f64,
                num("Request Count"),
                "{key}"
            );
            assert_eq!(
                s.num_failures.unwrap() as f64,
                num("Failure Count"),
                "{key}"
            );
            let mean = s.avg_response_time.unwrap();
            assert!(
                (mean - num("Average Response Time")).abs() < 1e-9,
                "{key}: {mean}"
            );
            assert_eq!(
                s.median_response_time,
                Some(num("Median Response Time")),
                "{key}"
            );
            assert_eq!(s.min_response_time, Some(num("Min Response Time")), "{key}");
            assert_eq!(s.max_response_time, Some(num("Max Response Time")), "{key}");
            for (label, col) in [
                ("p50", "50%"),
                ("p66", "66%"),
                ("p75", "75%"),
                ("p80", "80%"),
                ("p90", "90%"),
                ("p95", "95%"),
                ("p98", "98%"),
                ("p99", "99%"),
                ("p99.9", "99.9%"),
                ("p100", "100%"),
            ] {
                assert_eq!(
                    s.response_time_percentiles[label].trunc(),
                    num(col),
                    "{key} {label}"
                );
            }
            rows += 1;
        }
        assert_eq!(rows, 3);
        assert_eq!(
            stats["GET_/status/500"].num_failures,
            stats["GET_/status/500"].num_requests
        );
    }

    #[test]
    fn quantiles_are_the_literals_locust_uses() {
        let q = |p: f64| locust_quantile(Percent::new(p).unwrap());
        assert_eq!(q(50.0), 0.5);
        assert_eq!(q(95.0), 0.95);
        assert_eq!(q(99.9), 0.999);
        assert_eq!(q(99.99), 0.9999);
        assert_eq!(q(5.0), 0.05);
        assert_eq!(q(0.5), 0.005);
        assert_eq!(q(100.0), 1.0);
    }

    #[test]
    fn walk_matches_locust() {
        // Values from locust.stats.calculate_response_time_percentile on the
        // same dict (Locust 2.47.0):
        //   d = {1: 50, 2: 30, 3: 15, 100: 4, 1200: 1}
        //   [calc(d, 100, q) for q in (0.5, 0.8, 0.95, 0.99, 1.0)]
        //   == [2, 3, 100, 1200, 1200]
        // (Locust's walk lands one rank above nearest-rank: p50 of these 100
        // samples is the 51st, 2 ms, where nearest-rank gives the 50th, 1 ms.)
        let e = entry(&[(1, 50), (2, 30), (3, 15), (100, 4), (1200, 1)]);
        let b = buckets_descending(&e);
        let got: Vec<f64> = [0.5, 0.8, 0.95, 0.99, 1.0]
            .iter()
            .map(|&q| bucket_percentile(&b, 100, q).unwrap())
            .collect();
        assert_eq!(got, [2.0, 3.0, 100.0, 1200.0, 1200.0]);
    }

    #[test]
    fn summary_from_an_entry() {
        let mut e = entry(&[(4, 3), (5, 1)]);
        e.num_failures = 1;
        e.total_response_time = 17.5;
        e.min_response_time = Some(4.2);
        e.max_response_time = 5.1;
        let s = requests(&[e], &[Percent::new(97.5).unwrap()], 2.0);
        let s = &s["GET_/x"];
        assert_eq!(s.num_requests, Some(4));
        assert_eq!(s.num_failures, Some(1));
        assert_eq!(s.avg_response_time, Some(4.375));
        // Bucket 4 is below the exact min 4.2: clamped like Locust's median.
        assert_eq!(s.median_response_time, Some(4.2));
        assert_eq!(s.response_time_percentiles["p97.5"], 5.0);
        assert_eq!(s.response_time_percentiles["p100"], 5.0);
        assert_eq!(s.total_rps, Some(2.0));
        // invokust's fields, as the native driver writes them.
        assert_eq!(s.total_rpm, Some(120.0));
        let json = serde_json::to_value(s).unwrap();
        for key in ["55", "65", "75", "85", "95"] {
            assert!(
                json["response_time_percentiles"][key].is_number(),
                "{key}: {json}"
            );
        }
    }

    #[test]
    fn aggregate_merges_buckets() {
        let a = entry(&[(1, 2), (5, 1)]);
        let mut b = entry(&[(5, 1), (120, 1)]);
        b.num_failures = 1;
        let t = aggregate(&[a, b]);
        assert_eq!((t.num_requests, t.num_failures), (5, 1));
        assert_eq!(t.response_times["5"], 2);
        assert_eq!(t.min_response_time, Some(1.0));
        assert_eq!(t.max_response_time, 120.0);
        let s = request_stats(&t, &[], None);
        assert_eq!(s.avg_response_time, Some(132.0 / 5.0));
        assert_eq!(s.response_time_percentiles["p50"], 5.0);
    }

    #[test]
    fn an_entry_without_samples_has_no_latency() {
        let mut e = entry(&[]);
        e.num_requests = 2;
        e.num_none_requests = 2;
        let s = request_stats(&e, &[], None);
        assert_eq!(s.num_requests, Some(2));
        assert_eq!(s.avg_response_time, None);
        assert!(s.response_time_percentiles.is_empty());
    }
}
