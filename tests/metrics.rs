//! `lpa run --metrics-listen` through the real binary, watched by the real
//! tools: Debian's Prometheus (started here on 127.0.0.1, scraping every
//! second) reads `lpa_desired_replicas` after a scale-up, its `promtool`
//! lints a real scrape, and `/healthz` answers as a liveness probe would
//! see it. The scaled service is the local pool of real `lpa serve`
//! replicas. Everything on 127.0.0.1, every wait bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::local::{run_local, wait_bounded, Lines};
use crate::support::{stderr, tool};

/// A replica that serves one request at a time in 30 ms: the seed's 7 ms
/// mean breaches every cycle, so the pool scales up to --max-replicas.
fn slow_replica() -> String {
    format!(
        "{} serve --listen 127.0.0.1:{{port}} --serial --cost 0.03 --exit-with-parent",
        env!("CARGO_BIN_EXE_lpa")
    )
}

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// [`slow_replica`], but every replica after the first waits 8 s before
/// it listens: a scale-up holds its cycle that long.
fn slow_to_start_replica(dir: &Path) -> String {
    let mark = dir.join("first-started");
    format!(
        "sh -c 'test -e {0} && sleep 8; touch {0}; exec {1} serve --listen 127.0.0.1:{{port}} --serial --cost 0.03 --exit-with-parent'",
        mark.display(),
        env!("CARGO_BIN_EXE_lpa")
    )
}

/// `lpa run --scaler local` with metrics on a free port; returns it, its
/// stderr lines and the metrics address it printed.
fn start_lpa(dir: &Path, extra: &[&str]) -> (Killed, Lines, SocketAddr) {
    start_lpa_with(dir, &slow_replica(), extra)
}

/// [`start_lpa`] with the replicas' command.
fn start_lpa_with(dir: &Path, replica: &str, extra: &[&str]) -> (Killed, Lines, SocketAddr) {
    let mut args = vec!["--metrics-listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut c = run_local(replica, &args, dir);
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut lines = Lines::new(child.stderr.take().unwrap());
    let child = Killed(child);
    if !lines.wait_for("lpa run: metrics on http://", Duration::from_secs(30)) {
        panic!(
            "no metrics address: {}",
            lines.rest(Duration::from_millis(100))
        );
    }
    let addr = lines
        .seen
        .lines()
        .find_map(|l| l.split("metrics on http://").nth(1)?.split('/').next())
        .unwrap()
        .parse()
        .unwrap();
    (child, lines, addr)
}

/// An HTTP/1.0 GET (no chunked answer, the server closes): status line
/// and headers, and the body.
fn get(addr: SocketAddr, target: &str) -> (String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {target} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_string(), body.to_string())
}

/// The status code of a response head.
fn status(head: &str) -> u16 {
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Percent-encodes a PromQL query for a URL.
fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Debian's Prometheus on a loopback port it binds itself (0), scraping
/// `target` every second, its data and log in `dir`; returns once its log
/// names the port. A port the test found free and let go could be another
/// process's by the time Prometheus binds it.
fn start_prometheus(dir: &Path, target: SocketAddr) -> (Killed, SocketAddr) {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: lpa\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let log_path = dir.join("prometheus.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(tool("prometheus"))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg("--web.listen-address=127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {} ({e}): scripts/setup-tools.sh installs Debian's prometheus",
                tool("prometheus").display()
            )
        });
    let child = Killed(child);
    // Its web server logs `msg="Listening on" address=127.0.0.1:PORT` once
    // bound (after "Start listening for connections" with the 0 it was given).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let bound = log
            .lines()
            .filter(|l| l.contains("msg=\"Listening on\""))
            .find_map(|l| l.split(" address=").nth(1)?.split(' ').next()?.parse().ok());
        if let Some(addr) = bound {
            return (child, addr);
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus named no bound address within 30 s:\n{log}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Asks Prometheus' query API; the first result's value, if any.
fn query(prometheus: SocketAddr, promql: &str) -> Option<String> {
    let (head, body) = get(
        prometheus,
        &format!("/api/v1/query?query={}", encode(promql)),
    );
    if status(&head) != 200 {
        return None;
    }
    let json: Value = serde_json::from_str(&body).ok()?;
    assert_eq!(json["status"], "success", "{body}");
    json["data"]["result"][0]["value"][1]
        .as_str()
        .map(str::to_string)
}

/// Polls `promql` until it reads `want`, for at most `limit`.
fn wait_for_value(
    prometheus: SocketAddr,
    promql: &str,
    want: &str,
    limit: Duration,
) -> Option<String> {
    let deadline = Instant::now() + limit;
    let mut last = None;
    while Instant::now() < deadline {
        // Prometheus may not listen yet: a refused connection is a retry.
        if TcpStream::connect_timeout(&prometheus, Duration::from_secs(1)).is_ok() {
            last = query(prometheus, promql);
            if last.as_deref() == Some(want) {
                return last;
            }
        }
        thread::sleep(Duration::from_millis(250));
    }
    last
}

#[test]
fn prometheus_reads_the_desired_replicas_after_a_scale_up() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("decisions.jsonl");
    let (mut lpa, mut lines, metrics) = start_lpa(
        dir.path(),
        &[
            "--replicas",
            "1",
            "--max-replicas",
            "2",
            "--interval",
            "1s",
            "--run-time",
            "300ms",
            "--decision-log",
            log.to_str().unwrap(),
        ],
    );
    let (_prometheus, prometheus) = start_prometheus(dir.path(), metrics);
    let limit = Duration::from_secs(60);
    let desired = wait_for_value(prometheus, "lpa_desired_replicas", "2", limit);
    let prometheus_log =
        || std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    assert_eq!(
        desired.as_deref(),
        Some("2"),
        "lpa:\n{}\nprometheus:\n{}",
        lines.rest(Duration::from_millis(100)),
        prometheus_log()
    );
    // The scale-up that made it 2, as the decision log has it.
    let first: Value = serde_json::from_str(
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            &first["current"],
            &first["decided"],
            &first["outcome"]["kind"]
        ),
        (&Value::from(1), &Value::from(2), &Value::from("applied"))
    );
    assert_eq!(
        wait_for_value(
            prometheus,
            r#"lpa_scale_events_total{direction="up",outcome="applied"}"#,
            "1",
            limit
        )
        .as_deref(),
        Some("1")
    );
    assert_eq!(
        wait_for_value(prometheus, "lpa_current_replicas", "2", limit).as_deref(),
        Some("2")
    );
    // Prometheus' own word on the target: scraped, parsed, no error.
    let (_, targets) = get(prometheus, "/api/v1/targets");
    let targets: Value = serde_json::from_str(&targets).unwrap();
    let active = &targets["data"]["activeTargets"][0];
    assert_eq!(active["health"], "up", "{active}");
    assert_eq!(active["lastError"], "", "{active}");
    assert_eq!(
        query(
            prometheus,
            r#"lpa_target_value{key="GET_/fibonacci?n=10",kind="mean"}"#
        )
        .as_deref(),
        Some("0.007"),
        "the seed's 7 ms target, in seconds"
    );
    let observed: f64 = query(
        prometheus,
        r#"lpa_target_observed{key="GET_/fibonacci?n=10",kind="mean"}"#,
    )
    .unwrap()
    .parse()
    .unwrap();
    assert!(observed > 0.007 && observed < 10.0, "{observed}");
    let requests: f64 = query(prometheus, "lpa_probe_requests_total")
        .unwrap()
        .parse()
        .unwrap();
    assert!(requests > 0.0, "{requests}");
    // Every probe request is in the histogram (one query: one scrape).
    assert_eq!(
        query(
            prometheus,
            "lpa_probe_requests_total - lpa_probe_request_duration_seconds_count"
        )
        .as_deref(),
        Some("0")
    );

    assert!(Command::new("kill")
        .args(["-TERM", &lpa.0.id().to_string()])
        .status()
        .unwrap()
        .success());
    wait_bounded(&mut lpa.0, Duration::from_secs(30));
    assert!(
        lpa.0.wait().unwrap().success(),
        "{}",
        lines.rest(Duration::from_secs(1))
    );
}

/// The first cycle's scale-up waits 8 s for its replica to listen, within
/// its --ready-timeout: a loop doing so is not stuck, and /healthz stays
/// 200 all along, where it answered 503 "the loop is stuck" after 3 s.
#[test]
fn promtool_lints_a_real_scrape_and_healthz_waits_out_a_slow_replica() {
    let dir = tempfile::tempdir().unwrap();
    let (_lpa, mut lines, metrics) = start_lpa_with(
        dir.path(),
        &slow_to_start_replica(dir.path()),
        &[
            "--interval",
            "1s",
            // The next cycle starts at once (this one outlasts the
            // interval): its load test is how long /metrics keeps this
            // one's figures.
            "--run-time",
            "1s",
            "--max-replicas",
            "2",
            "--ready-timeout",
            "30s",
        ],
    );
    let asked = Instant::now();
    let deadline = asked + Duration::from_secs(30);
    let mut answered = Duration::ZERO;
    while !lines.wait_for("lpa run: #1 ", Duration::from_millis(200)) {
        let (head, body) = get(metrics, "/healthz");
        assert!(
            status(&head) == 200 && body == "ok\n",
            "{head}\n{body}\n{}",
            lines.rest(Duration::from_millis(100))
        );
        answered = asked.elapsed();
        assert!(
            Instant::now() < deadline,
            "{}",
            lines.rest(Duration::from_millis(100))
        );
    }
    // The 8 s of the start were asked about, not skipped: a span, which a
    // busy machine's slow answers leave be, where a count did not.
    assert!(answered > Duration::from_secs(7), "{answered:?}");
    let (head, _) = get(metrics, "/healthz");
    assert!(status(&head) == 200, "{head}");

    let (head, exposition) = get(metrics, "/metrics");
    assert!(status(&head) == 200, "{head}");
    assert!(
        head.lines()
            .any(|l| l
                .eq_ignore_ascii_case("content-type: text/plain; version=0.0.4; charset=utf-8")),
        "{head}"
    );
    for name in [
        "lpa_build_info{version=\"",
        "lpa_target_observed{key=\"GET_/fibonacci?n=10\",kind=\"mean\"} ",
        "lpa_target_value{key=\"GET_/fibonacci?n=10\",kind=\"mean\"} 0.007",
        "lpa_probe_requests_total ",
        "lpa_probe_failures_total 0",
        "lpa_probe_request_duration_seconds_bucket{le=\"+Inf\"} ",
        "lpa_current_replicas 1",
        "lpa_desired_replicas 2",
        "lpa_scale_events_total{direction=\"up\",outcome=\"applied\"} 1",
        "lpa_cycle_duration_seconds_count 1",
        "lpa_calm_runs 0",
    ] {
        assert!(
            exposition.lines().any(|l| l.starts_with(name)),
            "{name:?} not in:\n{exposition}"
        );
    }
    let mut promtool = Command::new(tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (scripts/setup-tools.sh installs Debian's prometheus)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let lint = promtool.wait_with_output().unwrap();
    assert!(
        lint.status.success() && lint.stdout.is_empty() && lint.stderr.is_empty(),
        "promtool check metrics: {:?}\n{}{}\n{exposition}",
        lint.status,
        String::from_utf8_lossy(&lint.stdout),
        stderr(&lint)
    );

    let (head, body) = get(metrics, "/other");
    assert!(status(&head) == 404, "{head}");
    assert!(body.contains("lpa serves /metrics and /healthz"), "{body}");
}

#[test]
fn healthz_stays_ok_while_back_to_back_cycles_run_their_load_tests() {
    let dir = tempfile::tempdir().unwrap();
    // --interval 0 asks for cycles back to back: they end a 4 s load test
    // apart, more than 3 s (3 intervals, at least 1 s each).
    let (_lpa, mut lines, metrics) = start_lpa(
        dir.path(),
        &["--interval", "0", "--run-time", "4s", "--max-replicas", "2"],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !lines.seen.contains("lpa run: #2 ") {
        assert!(Instant::now() < deadline, "{}", lines.seen);
        let (head, body) = get(metrics, "/healthz");
        assert!(status(&head) == 200, "{head}\n{body}\n{}", lines.seen);
        lines.wait_for("lpa run: #2 ", Duration::from_millis(200));
    }
}

#[test]
fn scrapers_that_stop_reading_or_say_nothing_do_not_stall_healthz() {
    let dir = tempfile::tempdir().unwrap();
    let (_lpa, _lines, metrics) = start_lpa(dir.path(), &["--interval", "1s"]);
    // Thousands of pipelined scrapes, answers never read: megabytes of
    // expositions that no socket buffer holds.
    let mut stuck = TcpStream::connect_timeout(&metrics, Duration::from_secs(5)).unwrap();
    stuck
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stuck.write_all(&b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(3000));
    // And one that never sends its request.
    let mut idle = TcpStream::connect_timeout(&metrics, Duration::from_secs(5)).unwrap();
    // And more such than the server answers at once (64): each new one
    // takes the place of the one silent longest.
    let silent: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect_timeout(&metrics, Duration::from_secs(5)).unwrap())
        .collect();
    thread::sleep(Duration::from_millis(500));

    // The kubelet's probe, with its timeout.
    let mut probe = TcpStream::connect_timeout(&metrics, Duration::from_secs(2)).unwrap();
    probe
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    write!(probe, "GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = String::new();
    let read = probe.read_to_string(&mut answer);
    assert!(
        read.is_ok() && answer.starts_with("HTTP/1.1 200 "),
        "{read:?} {answer:?}"
    );

    // The idle connection is closed in seconds, not held for good (here
    // at once, the oldest of the silent).
    idle.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut buf = [0u8; 64];
    let closed = Instant::now();
    assert!(
        matches!(idle.read(&mut buf), Ok(0) | Err(_)) && closed.elapsed() < Duration::from_secs(10),
        "{:?}",
        closed.elapsed()
    );
    drop((stuck, silent));
}

#[test]
fn a_metrics_address_in_use_is_one_error_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let log = dir.path().join("decisions.jsonl");
    let mut c = run_local(
        &slow_replica(),
        &["--once", "--decision-log", log.to_str().unwrap()],
        dir.path(),
    );
    c.env("LPA_METRICS_LISTEN", &addr);
    let o = c.output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(
        err.lines().last().unwrap(),
        format!("lpa: error: --metrics-listen {addr} (env LPA_METRICS_LISTEN): cannot listen: Address already in use (os error 98)")
    );
    assert!(!err.contains(" ready on "), "no replica started: {err}");
    // Nothing made: no decision log, no state, no claim or lock beside it.
    let made: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(made.is_empty(), "{made:?}");
}

/// deploy/run's container listens for metrics where its port, its liveness
/// probe and its scrape annotations say.
#[test]
fn deploy_run_probes_healthz_on_the_metrics_port() {
    let docs = crate::deploy::kustomize("deploy/run");
    let pod = &crate::deploy::only(&docs, "Deployment")["spec"]["template"];
    let container = &pod["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let listen = args
        .windows(2)
        .find(|w| w[0] == "--metrics-listen")
        .map(|w| w[1])
        .expect("--metrics-listen in deploy/run's args");
    let listen: SocketAddr = listen.parse().unwrap();
    assert!(
        listen.ip().is_unspecified(),
        "{listen}: reachable from the kubelet and Prometheus"
    );
    let port = container["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some("metrics"))
        .expect("a port named metrics");
    assert_eq!(
        port["containerPort"].as_u64(),
        Some(u64::from(listen.port()))
    );
    let probe = &container["livenessProbe"]["httpGet"];
    assert_eq!(probe["path"].as_str(), Some("/healthz"));
    assert_eq!(probe["port"].as_str(), Some("metrics"));
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(
        annotations["prometheus.io/port"].as_str(),
        Some(listen.port().to_string().as_str())
    );
    assert_eq!(annotations["prometheus.io/path"].as_str(), Some("/metrics"));
}

/// The alerts shipped in deploy/prometheus load in the real promtool, and
/// their unit tests (series as a loop writes them) pass: each fires where
/// it should and stays quiet beside it.
#[test]
fn the_shipped_alerts_pass_promtools_checks_and_their_unit_tests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus");
    for args in [
        ["check", "rules", "lpa.rules.yaml"],
        ["test", "rules", "lpa.rules.test.yaml"],
    ] {
        let out = Command::new(tool("promtool"))
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool (scripts/setup-tools.sh installs Debian's prometheus)");
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(out.status.success(), "promtool {}: {said}", args.join(" "));
        assert!(
            said.contains("SUCCESS"),
            "promtool {}: {said}",
            args.join(" ")
        );
    }
}
