//! Prometheus metrics of `lpa run` and the small HTTP server that exposes
//! them (`--metrics-listen`): `/metrics` in the Prometheus text format
//! (0.0.4, encoded by the Prometheus org's `prometheus-client`) and
//! `/healthz` for a liveness probe.
//!
//! ```text
//!   run loop ──measure──► Metrics::observe_probe ─┐
//!            ──cycle────► Metrics::observe_cycle ─┤ atomics
//!                                                 ▼
//!   MetricsServer (own threads) ◄── GET /metrics, /healthz ── Prometheus, kubelet
//! ```
//!
//! The loop only ever updates atomics (and, per cycle, a few labelled
//! series behind short locks); encoding and every socket live on the
//! server's threads, so a slow or stuck scraper cannot slow the loop. Each
//! connection has its own thread and a deadline, so one cannot stall the
//! others either: the kubelet's probe of `/healthz` is answered while a
//! scraper stops reading.
//!
//! Units follow Prometheus conventions: seconds and ratios. Targets'
//! values (`lpa_target_observed`, `lpa_target_value`) are in seconds for
//! latency kinds (mean, pNN, ...) and a 0-1 ratio for `errorRate`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use lpa_core::log::Outcome;
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
    leader: LateGauge,
    state_map_failures: Counter,
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
            leader: Family::default(),
            state_map_failures: Counter::default(),
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
            "Cycles that failed, by the step that failed (read, lease, state_configmap, load_test, state_file, scale, decision_log)",
            m.cycle_failures.clone(),
        );
        registry.register(
            "lpa_calm_runs",
            "The decay counter: calm runs since the last change, as the state file holds it",
            m.calm_runs.clone(),
        );
        registry.register(
            "lpa_leader",
            "1 while this loop leads (holds the target's Lease, --lease, or runs without one); 0 while another holds it and this one stands by, or the target or its Lease cannot be read or written",
            m.leader.clone(),
        );
        registry.register(
            "lpa_state_configmap_write_failures",
            "Saves of the state that could not be kept in the --state-configmap ConfigMap too (the state file has them)",
            m.state_map_failures.clone(),
        );
        // Counters with labels start at 0 rather than at their first
        // event: `increase()` takes a series' first sample as its start,
        // so an alert on "2 failed scales" would need a third after each
        // start of lpa if the series appeared with the first.
        for direction in ["up", "down"] {
            for outcome in Outcome::KINDS {
                let _ = m
                    .scale_events
                    .get_or_create(&ScaleLabels { direction, outcome });
            }
        }
        for step in Step::ALL {
            let _ = m.cycle_failures.get_or_create(&StepLabels {
                step: step_label(step),
            });
        }
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
        // The last load test read nothing: an older reading shown as its
        // value would keep LpaTargetBreached firing on it.
        if matches!(cycle.failure, Some((Step::Measure, _))) {
            self.target_observed.clear();
        }
        if cycle.state_map_failed {
            self.state_map_failures.inc();
        }
        if let Some(state) = &cycle.state {
            set(&self.calm_runs, state.runs_since_change);
        }
        // Every cycle says it: a loop that could not reach the API server
        // kept its last 1 beside the loop that took its Lease, and one
        // whose load test failed kept its 0 while it held the Lease.
        set(&self.leader, u32::from(cycle.leads));
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
        Step::Lease => "lease",
        Step::StateMap => "state_configmap",
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // An Instant is whole whatever a panicking holder did.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// At most this many scrapes are answered at once. Each is bounded by
/// [`IO_TIMEOUT`], so a client that holds its connection open costs one
/// slot for that long, never for good; and a connection past the limit
/// takes the slot of the one that has waited longest for its request
/// ([`Waiting`]), so clients that connect and say nothing cannot keep a
/// probe out: 64 of them, reconnecting, failed every `/healthz`, and the
/// kubelet would restart lpa for it.
const MAX_CONNECTIONS: usize = 64;
/// How long a connection may take to send its request, and to take the
/// answer: a scraper that stops reading must not hold a thread (and the
/// kubelet's next probe) forever.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// A request head longer than this is not a scrape.
const MAX_HEAD: usize = 8 * 1024;

/// `/metrics` and `/healthz` on their own threads, one per connection (at
/// most [`MAX_CONNECTIONS`]), each answered once and closed; stops when
/// dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks a free one) and serves `metrics`.
    pub fn start(addr: SocketAddr, metrics: Arc<Metrics>) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        // Polled, so that dropping the server needs no connection to itself.
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("lpa-metrics".into())
            .spawn(move || accept(&listener, &metrics, &stopping))?;
        Ok(MetricsServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The connections still waiting for their request head, oldest first.
#[derive(Default)]
struct Waiting {
    next: AtomicU64,
    streams: Mutex<std::collections::VecDeque<(u64, TcpStream)>>,
}

impl Waiting {
    /// Lists a connection; its id, for [`Waiting::heard`].
    fn add(&self, stream: &TcpStream) -> u64 {
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        if let Ok(copy) = stream.try_clone() {
            lock(&self.streams).push_back((id, copy));
        }
        id
    }

    fn heard(&self, id: u64) {
        lock(&self.streams).retain(|(i, _)| *i != id);
    }

    /// Ends the connection that has waited longest; whether there was one.
    /// Its thread's read returns at once, and the thread frees its slot.
    fn drop_oldest(&self) -> bool {
        let oldest = lock(&self.streams).pop_front();
        oldest.is_some_and(|(_, s)| s.shutdown(std::net::Shutdown::Both).is_ok())
    }
}

fn accept(listener: &TcpListener, metrics: &Arc<Metrics>, stop: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    let waiting = Arc::new(Waiting::default());
    while !stop.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(20));
                continue;
            }
            // Out of fds, a connection reset before accept: the next one
            // may do better.
            Err(_) => {
                thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        // Past the limit, one that has said nothing yet makes room; the
        // threads of those ended may not have exited yet, hence twice.
        let busy = active.fetch_add(1, Ordering::SeqCst);
        if busy >= 2 * MAX_CONNECTIONS || (busy >= MAX_CONNECTIONS && !waiting.drop_oldest()) {
            active.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let id = waiting.add(&stream);
        let (metrics, slot, waits) = (
            Arc::clone(metrics),
            Arc::clone(&active),
            Arc::clone(&waiting),
        );
        let spawned = thread::Builder::new()
            .name("lpa-metrics-conn".into())
            // An exposition of a few KiB; 64 of them must not cost 128 MiB.
            .stack_size(256 * 1024)
            .spawn(move || {
                let _ = serve(stream, &metrics, || waits.heard(id));
                waits.heard(id);
                slot.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            waiting.heard(id);
            active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Reads one request head and answers it, all within [`IO_TIMEOUT`];
/// `heard` once the head is in.
fn serve(mut stream: TcpStream, metrics: &Metrics, heard: impl FnOnce()) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || head.len() > MAX_HEAD {
            return Ok(());
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    heard();
    let line = String::from_utf8_lossy(head.split(|b| *b == b'\n').next().unwrap_or(&[]));
    let mut words = line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, content_type, extra, body) = answer(metrics, method, target);
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        out.extend_from_slice(body.as_bytes());
    }
    stream.write_all(&out)?;
    stream.flush()
}

/// Status, content type, extra header lines and body for a request.
fn answer(
    metrics: &Metrics,
    method: &str,
    target: &str,
) -> (u16, &'static str, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    if !matches!(method, "GET" | "HEAD") {
        return (
            405,
            TEXT,
            "Allow: GET, HEAD\r\n",
            format!("method {method} not allowed\n"),
        );
    }
    match target.split('?').next().unwrap_or("") {
        "/metrics" => (200, prometheus_text::CONTENT_TYPE, "", metrics.encode()),
        "/healthz" => match metrics.health() {
            Ok(()) => (200, TEXT, "", "ok\n".into()),
            Err(since) => (
                503,
                TEXT,
                "",
                format!(
                    "no cycle has ended for {:.0}s (more than 3 intervals, or 3 times a cycle's load test and waits): the loop is stuck\n",
                    since.as_secs_f64()
                ),
            ),
        },
        other => (
            404,
            TEXT,
            "",
            // The target as sent, but not its escape sequences.
            format!(
                "{}: not found (lpa serves /metrics and /healthz)\n",
                lpa_core::text::escape_controls(other)
            ),
        ),
    }
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
            notes: Vec::new(),
            standby: None,
            leads: true,
            state_map_failed: false,
            saved: false,
        }
    }

    /// deploy/prometheus's alerts name only metrics lpa serves: a renamed
    /// metric would leave an alert that never fires.
    #[test]
    fn the_shipped_alerts_name_only_metrics_lpa_serves() {
        let m = Metrics::new("1", Duration::from_secs(15));
        m.observe_cycle(&cycle(2, Some(10.0), Outcome::Applied));
        m.observe_cycle(&Cycle {
            failure: Some((Step::Apply, "x".into())),
            ..cycle(2, Some(10.0), Outcome::ScaleFailed { error: "x".into() })
        });
        m.observe_probe(10, 1, &[1_000_000]);
        let text = m.encode();
        let families: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        let served = |name: &str| {
            families.contains(&name)
                || ["_count", "_sum", "_bucket"].iter().any(|suffix| {
                    name.strip_suffix(suffix)
                        .is_some_and(|family| families.contains(&family))
                })
        };
        let rules = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/prometheus/lpa.rules.yaml"
        ))
        .unwrap();
        let mut named = Vec::new();
        for line in rules.lines().filter(|l| !l.trim_start().starts_with('#')) {
            let mut rest = line;
            while let Some(at) = rest.find("lpa_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                named.push(name);
            }
        }
        assert!(named.len() >= 6, "{named:?}");
        for name in &named {
            assert!(served(name), "{name} is not served:\n{text}");
        }
    }

    #[test]
    fn leader_is_1_while_deciding_and_0_while_standing_by() {
        let m = Metrics::new("1", Duration::from_secs(15));
        assert!(line(&m.encode(), "lpa_leader ").is_none(), "no cycle yet");
        m.observe_cycle(&cycle(2, Some(10.0), Outcome::Applied));
        assert_eq!(line(&m.encode(), "lpa_leader "), Some("lpa_leader 1"));
        let standby = Cycle {
            record: None,
            state: None,
            standby: Some("lease default/lpa held by b_1".into()),
            leads: false,
            ..cycle(2, Some(10.0), Outcome::Applied)
        };
        m.observe_cycle(&standby);
        assert_eq!(line(&m.encode(), "lpa_leader "), Some("lpa_leader 0"));
        assert!(m.health().is_ok(), "a standby's cycles keep it alive");
        // A holder cut off from the API server fails at the lease step:
        // it scales nothing, and another may take the Lease meanwhile.
        m.observe_cycle(&cycle(2, Some(10.0), Outcome::Applied));
        let unreachable = Cycle {
            record: None,
            state: None,
            failure: Some((Step::Lease, "timed out".into())),
            leads: false,
            ..cycle(2, Some(10.0), Outcome::Applied)
        };
        m.observe_cycle(&unreachable);
        assert_eq!(line(&m.encode(), "lpa_leader "), Some("lpa_leader 0"));
        // So one that cannot read its target, before the lease step, where
        // it kept its 1 beside the loop that took its Lease; and a holder
        // whose load test failed is still the one that leads.
        m.observe_cycle(&cycle(2, Some(10.0), Outcome::Applied));
        m.observe_cycle(&Cycle {
            failure: Some((Step::Read, "Unable to connect to the server".into())),
            ..unreachable
        });
        assert_eq!(line(&m.encode(), "lpa_leader "), Some("lpa_leader 0"));
        m.observe_cycle(&Cycle {
            record: None,
            state: None,
            failure: Some((Step::Measure, "refused".into())),
            ..cycle(2, Some(10.0), Outcome::Applied)
        });
        assert_eq!(line(&m.encode(), "lpa_leader "), Some("lpa_leader 1"));
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
            notes: Vec::new(),
            standby: None,
            leads: true,
            state_map_failed: false,
            saved: false,
        });
        assert!(m.health().is_ok(), "a failed cycle is a cycle");
        assert!(m
            .encode()
            .lines()
            .any(|l| l == "lpa_cycle_failures_total{step=\"load_test\"} 1"));
    }

    /// Over HTTP: 503 and how long, once no cycle ended in time; a path's
    /// escape sequence is not sent back as is.
    #[test]
    fn healthz_answers_503_when_stale_and_404_shows_no_escapes() {
        let metrics = Arc::new(Metrics::new("1", Duration::from_secs(1)));
        *lock(&metrics.last_cycle) = Instant::now() - Duration::from_secs(4);
        let server =
            MetricsServer::start("127.0.0.1:0".parse().unwrap(), Arc::clone(&metrics)).unwrap();
        let get = |path: &str| {
            let mut c = TcpStream::connect(server.addr()).unwrap();
            c.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
                .unwrap();
            let mut answer = String::new();
            c.read_to_string(&mut answer).unwrap();
            answer
        };
        let answer = get("/healthz");
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.ends_with("no cycle has ended for 4s (more than 3 intervals, or 3 times a cycle's load test and waits): the loop is stuck\n"), "{answer}");
        let answer = get("/\x1b[31mred");
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
        assert!(
            answer.ends_with("/\\u{1b}[31mred: not found (lpa serves /metrics and /healthz)\n"),
            "{answer:?}"
        );
    }

    #[test]
    fn a_failed_load_test_leaves_no_reading() {
        let m = Metrics::new("1", Duration::from_secs(10));
        m.observe_cycle(&cycle(2, Some(9.5), Outcome::Applied));
        assert!(line(&m.encode(), "lpa_target_observed{").is_some());
        m.observe_cycle(&Cycle {
            record: None,
            state: None,
            failure: Some((Step::Measure, "connection refused".into())),
            ..cycle(2, Some(9.5), Outcome::Applied)
        });
        let text = m.encode();
        assert!(line(&text, "lpa_target_observed{").is_none(), "{text}");
        assert!(line(&text, "lpa_target_value{").is_some(), "{text}");
    }

    /// `increase()` takes a series' first sample as its start: a counter
    /// that appeared with its first event would hide that event from
    /// every alert on it.
    #[test]
    fn labelled_counters_start_at_zero() {
        let text = Metrics::new("1", Duration::from_secs(10)).encode();
        for direction in ["up", "down"] {
            for outcome in Outcome::KINDS {
                let want = format!(
                    "lpa_scale_events_total{{direction=\"{direction}\",outcome=\"{outcome}\"}} 0"
                );
                assert!(text.lines().any(|l| l == want), "{want} not in:\n{text}");
            }
        }
        for step in Step::ALL {
            let want = format!(
                "lpa_cycle_failures_total{{step=\"{}\"}} 0",
                step_label(step)
            );
            assert!(text.lines().any(|l| l == want), "{want} not in:\n{text}");
        }
    }
}
