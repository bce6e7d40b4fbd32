//! Prometheus metrics of `lpa run` and the small HTTP server that exposes
//! them (`--metrics-listen`): `/metrics` in the Prometheus text format
//! (0.0.4, encoded by the Prometheus org's `prometheus-client`) and
//! `/healthz` for a liveness probe.
//!
//! ```text
//!   run loop ──measure──► Metrics::observe_probe ─┐
//!            ──cycle────► Metrics::observe_cycle ─┤ atomics
//!                                                 ▼
//!   MetricsServer (own thread) ◄── GET /metrics, /healthz ── Prometheus, kubelet
//! ```
//!
//! The loop only ever updates atomics (and, per cycle, a few labelled
//! series behind short locks); encoding and every socket live on the
//! server's thread, so a slow or stuck scraper cannot slow the loop.
//!
//! Units follow Prometheus conventions: seconds and ratios. Targets'
//! values (`lpa_target_observed`, `lpa_target_value`) are in seconds for
//! latency kinds (mean, pNN, ...) and a 0-1 ratio for `errorRate`.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use lpa_core::Reason;
use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::run_loop::{Cycle, Step};

/// A target of the evaluation config: its request key and kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    key: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScaleLabels {
    /// `up` or `down`.
    direction: &'static str,
    /// The decision log's outcome kind: `applied`, `dry_run`,
    /// `outside_change`, `scale_failed`.
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    step: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;
/// A gauge without labels that has no series until its first value: a
/// count lpa has not decided yet is absent, not 0.
type LateGauge = Family<Vec<(String, String)>, Gauge>;

fn set(gauge: &LateGauge, value: u32) {
    gauge.get_or_create(&Vec::new()).set(i64::from(value));
}

/// Every metric of `lpa run`, updated by the loop, read by the server.
pub struct Metrics {
    registry: Registry,
    target_observed: Family<TargetLabels, FloatGauge>,
    target_value: Family<TargetLabels, FloatGauge>,
    probe_requests: Counter,
    probe_failures: Counter,
    probe_duration: Histogram,
    current_replicas: LateGauge,
    desired_replicas: LateGauge,
    scale_events: Family<ScaleLabels, Counter>,
    cycle_duration: Histogram,
    cycle_failures: Family<StepLabels, Counter>,
    calm_runs: LateGauge,
    /// When the last cycle ended (the start, before the first).
    last_cycle: Mutex<Instant>,
    /// `/healthz` fails when no cycle ended within this.
    stale_after: Duration,
}

/// Probe latencies: 1 ms to 10 s, so a few-ms target falls between buckets.
const PROBE_BUCKETS: [f64; 13] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];
/// Cycles: a load test of seconds plus kubectl calls.
const CYCLE_BUCKETS: [f64; 10] = [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0];

impl Metrics {
    /// `period` is how often a working loop ends a cycle: its interval, or
    /// its load test (run time + grace) when that is longer, since the
    /// next cycle starts only when one ends. `/healthz` answers 503 once no
    /// cycle has ended for 3 periods (of at least 1 s each).
    pub fn new(version: &str, period: Duration) -> Metrics {
        let mut m = Metrics {
            registry: Registry::default(),
            target_observed: Family::default(),
            target_value: Family::default(),
            probe_requests: Counter::default(),
            probe_failures: Counter::default(),
            probe_duration: Histogram::new(PROBE_BUCKETS),
            current_replicas: Family::default(),
            desired_replicas: Family::default(),
            scale_events: Family::default(),
            cycle_duration: Histogram::new(CYCLE_BUCKETS),
            cycle_failures: Family::default(),
            calm_runs: Family::default(),
            last_cycle: Mutex::new(Instant::now()),
            stale_after: 3 * period.max(Duration::from_secs(1)),
        };
        let registry = &mut m.registry;
        registry.register(
            "lpa_build",
            "The lpa that serves these metrics",
            Info::new(BuildLabels {
                version: version.to_string(),
            }),
        );
        registry.register(
            "lpa_target_observed",
            "The last load test's value of each target of the evaluation config (seconds for latency kinds, a 0-1 ratio for errorRate); absent while the target has no data",
            m.target_observed.clone(),
        );
        registry.register(
            "lpa_target_value",
            "Each target of the evaluation config (seconds for latency kinds, a 0-1 ratio for errorRate); observed above it breaches",
            m.target_value.clone(),
        );
        registry.register(
            "lpa_probe_requests",
            "Requests the load tests sent",
            m.probe_requests.clone(),
        );
        registry.register(
            "lpa_probe_failures",
            "Requests of the load tests that failed (connection error, timeout, status >= 400)",
            m.probe_failures.clone(),
        );
        registry.register_with_unit(
            "lpa_probe_request_duration",
            "Latency of the load tests' requests, whole body included",
            Unit::Seconds,
            m.probe_duration.clone(),
        );
        registry.register(
            "lpa_current_replicas",
            "Replicas the target had at the start of the last decided cycle",
            m.current_replicas.clone(),
        );
        registry.register(
            "lpa_desired_replicas",
            "Replicas the last decision asked for",
            m.desired_replicas.clone(),
        );
        registry.register(
            "lpa_scale_events",
            "Decisions to change the replica count, by direction (up, down) and outcome (applied, dry_run, outside_change, scale_failed)",
            m.scale_events.clone(),
        );
        registry.register_with_unit(
            "lpa_cycle_duration",
            "Time from a cycle's start to its end: read, load test, decide, scale, log",
            Unit::Seconds,
            m.cycle_duration.clone(),
        );
        registry.register(
            "lpa_cycle_failures",
            "Cycles that failed, by the step that failed (read, load_test, state_file, scale, decision_log)",
            m.cycle_failures.clone(),
        );
        registry.register(
            "lpa_calm_runs",
            "The decay counter: calm runs since the last change, as the state file holds it",
            m.calm_runs.clone(),
        );
        m
    }

    /// One load test's requests: counts and every request's latency.
    pub fn observe_probe(&self, requests: u64, failures: u64, latencies_ns: &[u64]) {
        self.probe_requests.inc_by(requests);
        self.probe_failures.inc_by(failures);
        for ns in latencies_ns {
            self.probe_duration.observe(*ns as f64 / 1e9);
        }
    }

    /// One cycle as the run loop reports it.
    pub fn observe_cycle(&self, cycle: &Cycle) {
        *lock(&self.last_cycle) = Instant::now();
        self.cycle_duration.observe(cycle.duration.as_secs_f64());
        if let Some((step, _)) = &cycle.failure {
            self.cycle_failures
                .get_or_create(&StepLabels {
                    step: step_label(*step),
                })
                .inc();
        }
        if let Some(state) = &cycle.state {
            set(&self.calm_runs, state.runs_since_change);
        }
        let Some(record) = &cycle.record else { return };
        set(&self.current_replicas, record.current);
        set(&self.desired_replicas, record.decided);
        for reason in &record.reasons {
            match reason {
                Reason::Target {
                    key,
                    kind,
                    observed,
                    target,
                    ..
                } => {
                    let labels = TargetLabels {
                        key: key.clone(),
                        kind: kind.to_string(),
                    };
                    let unit = if kind.is_latency() { 1e-3 } else { 1.0 };
                    self.target_observed
                        .get_or_create(&labels)
                        .set(observed * unit);
                    self.target_value.get_or_create(&labels).set(target * unit);
                }
                Reason::NoData { key, kind } => {
                    self.target_observed.remove(&TargetLabels {
                        key: key.clone(),
                        kind: kind.to_string(),
                    });
                }
                _ => {}
            }
        }
        if record.decided != record.current {
            let direction = if record.decided > record.current {
                "up"
            } else {
                "down"
            };
            self.scale_events
                .get_or_create(&ScaleLabels {
                    direction,
                    outcome: record.outcome.kind(),
                })
                .inc();
        }
    }

    /// The exposition, in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut text, &self.registry);
        text
    }

    /// Whether a cycle ended within the last 3 periods; else how long ago.
    pub fn health(&self) -> Result<(), Duration> {
        let since = lock(&self.last_cycle).elapsed();
        if since <= self.stale_after {
            Ok(())
        } else {
            Err(since)
        }
    }
}

fn step_label(step: Step) -> &'static str {
    match step {
        Step::Read => "read",
        Step::Measure => "load_test",
        Step::State => "state_file",
        Step::Apply => "scale",
        Step::Log => "decision_log",
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // An Instant is whole whatever a panicking holder did.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `/metrics` and `/healthz` on their own thread; stops when dropped.
pub struct MetricsServer {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    thread: Option<thread::JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks a free one) and serves `metrics`.
    pub fn start(addr: SocketAddr, metrics: Arc<Metrics>) -> io::Result<MetricsServer> {
        let server = tiny_http::Server::http(addr).map_err(io::Error::other)?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("not an IP listener"))?;
        let server = Arc::new(server);
        let serving = Arc::clone(&server);
        let thread = thread::Builder::new()
            .name("lpa-metrics".into())
            .spawn(move || {
                for request in serving.incoming_requests() {
                    let response = answer(&metrics, request.method(), request.url());
                    // A scraper that went away is its own problem.
                    let _ = request.respond(response);
                }
            })?;
        Ok(MetricsServer {
            server,
            addr,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Response = tiny_http::Response<io::Cursor<Vec<u8>>>;

fn answer(metrics: &Metrics, method: &tiny_http::Method, url: &str) -> Response {
    let text = |code: u16, body: String| {
        tiny_http::Response::from_string(body)
            .with_status_code(code)
            .with_header(header("Content-Type", "text/plain; charset=utf-8"))
    };
    if !matches!(method, tiny_http::Method::Get | tiny_http::Method::Head) {
        return text(405, format!("method {method} not allowed\n"))
            .with_header(header("Allow", "GET, HEAD"));
    }
    match url.split('?').next().unwrap_or("") {
        "/metrics" => tiny_http::Response::from_string(metrics.encode())
            .with_header(header("Content-Type", prometheus_text::CONTENT_TYPE)),
        "/healthz" => match metrics.health() {
            Ok(()) => text(200, "ok\n".into()),
            Err(since) => text(
                503,
                format!(
                    "no cycle has ended for {:.0}s (more than 3 intervals or load tests): the loop is stuck\n",
                    since.as_secs_f64()
                ),
            ),
        },
        other => text(
            404,
            format!("{other}: not found (lpa serves /metrics and /healthz)\n"),
        ),
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
        .expect("static header names and values are valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use lpa_core::log::{DecisionRecord, Outcome};
    use lpa_core::{config::parse_policy, decide, Observation, State};

    fn cycle(current: u32, mean_ms: Option<f64>, outcome: Outcome) -> Cycle {
        let policy = parse_policy(
            "p.yaml",
            "targets:\n  - {endpoint: /a, type: p95, target: 7}\n  - {endpoint: /a, type: errorRate, target: 0.05}\n",
        )
        .unwrap();
        let mut obs = Observation {
            current_replicas: current,
            ..Observation::default()
        };
        if let Some(ms) = mean_ms {
            let mut stats = lpa_core::stats::RequestStats {
                num_requests: Some(10),
                num_failures: Some(1),
                ..Default::default()
            };
            let p95 = lpa_core::config::Percent::new(95.0).unwrap();
            stats.response_time_percentiles.insert(p95, ms);
            obs.requests.insert("GET_/a".into(), stats);
        }
        let decision = decide(&obs, &policy, &State::default());
        let mut record = DecisionRecord::new("t", &obs, &decision);
        record.outcome = outcome;
        Cycle {
            number: 1,
            duration: Duration::from_millis(1500),
            state: Some(decision.next_state.clone()),
            record: Some(record),
            failure: None,
            warnings: Vec::new(),
        }
    }

    fn line<'a>(text: &'a str, head: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(head))
    }

    #[test]
    fn a_cycle_shows_as_its_record_says_in_base_units() {
        let m = Metrics::new("1.2.3", Duration::from_secs(10));
        m.observe_probe(10, 1, &[1_500_000, 30_000_000]);
        m.observe_cycle(&cycle(2, Some(9.5), Outcome::Applied));
        let text = m.encode();
        for want in [
            "lpa_build_info{version=\"1.2.3\"} 1",
            "lpa_target_observed{key=\"GET_/a\",kind=\"p95\"} 0.0095",
            "lpa_target_value{key=\"GET_/a\",kind=\"p95\"} 0.007",
            "lpa_target_observed{key=\"GET_/a\",kind=\"errorRate\"} 0.1",
            "lpa_target_value{key=\"GET_/a\",kind=\"errorRate\"} 0.05",
            "lpa_probe_requests_total 10",
            "lpa_probe_failures_total 1",
            "lpa_probe_request_duration_seconds_bucket{le=\"0.002\"} 1",
            "lpa_probe_request_duration_seconds_bucket{le=\"0.05\"} 2",
            "lpa_probe_request_duration_seconds_count 2",
            "lpa_current_replicas 2",
            "lpa_desired_replicas 3",
            "lpa_scale_events_total{direction=\"up\",outcome=\"applied\"} 1",
            "lpa_cycle_duration_seconds_bucket{le=\"2\"} 1",
            "lpa_calm_runs 0",
            "# TYPE lpa_probe_requests_total counter",
        ] {
            assert!(text.lines().any(|l| l == want), "{want:?} not in:\n{text}");
        }
        assert!(m.health().is_ok());
    }

    #[test]
    fn nothing_decided_yet_is_no_series_rather_than_zero() {
        let m = Metrics::new("1", Duration::from_secs(10));
        let text = m.encode();
        for name in [
            "lpa_current_replicas",
            "lpa_desired_replicas",
            "lpa_calm_runs",
        ] {
            assert!(!text.contains(name), "{text}");
        }
    }

    #[test]
    fn refused_and_no_data_cycles() {
        let m = Metrics::new("1", Duration::from_secs(10));
        m.observe_cycle(&cycle(2, Some(9.5), Outcome::DryRun));
        m.observe_cycle(&cycle(
            2,
            Some(9.5),
            Outcome::OutsideChange {
                seen: Some(5),
                detail: "d".into(),
            },
        ));
        let text = m.encode();
        assert_eq!(
            line(
                &text,
                "lpa_scale_events_total{direction=\"up\",outcome=\"dry_run\"}"
            ),
            Some("lpa_scale_events_total{direction=\"up\",outcome=\"dry_run\"} 1")
        );
        assert!(line(
            &text,
            "lpa_scale_events_total{direction=\"up\",outcome=\"outside_change\"} 1"
        )
        .is_some());
        // No data for the target: its observed series goes, its target stays.
        m.observe_cycle(&cycle(2, None, Outcome::Applied));
        let text = m.encode();
        assert!(
            line(&text, "lpa_target_observed{key=\"GET_/a\",kind=\"p95\"}").is_none(),
            "{text}"
        );
        assert!(
            line(&text, "lpa_target_value{key=\"GET_/a\",kind=\"p95\"}").is_some(),
            "{text}"
        );
    }

    #[test]
    fn health_fails_after_three_intervals_without_a_cycle() {
        let m = Metrics::new("1", Duration::from_secs(1));
        assert!(m.health().is_ok());
        *lock(&m.last_cycle) = Instant::now() - Duration::from_secs(4);
        assert!(m.health().unwrap_err() >= Duration::from_secs(4));
        m.observe_cycle(&Cycle {
            number: 2,
            duration: Duration::ZERO,
            record: None,
            state: None,
            failure: Some((Step::Measure, "no host".into())),
            warnings: Vec::new(),
        });
        assert!(m.health().is_ok(), "a failed cycle is a cycle");
        assert!(m
            .encode()
            .lines()
            .any(|l| l == "lpa_cycle_failures_total{step=\"load_test\"} 1"));
    }
}
