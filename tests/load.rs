//! `lpa loadtest` through the real binary against `lpa serve` started as a
//! separate process on 127.0.0.1. Run times are 1-3 s to keep the suite fast.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::service::Service;
use crate::support::{lpa, refused_addr, stderr, stdout};

/// `lpa serve` as a child process, killed when dropped.
pub struct Served {
    child: Child,
    pub url: String,
}

impl Served {
    pub fn start(extra: &[&str]) -> Served {
        let mut child = lpa()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn lpa serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the listening line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Served {
            child,
            url: format!("http://{addr}"),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `lpa loadtest --json` and returns the report and the wall time.
fn loadtest_json(cmd: &mut Command) -> (Value, Duration) {
    let started = Instant::now();
    let out = cmd.arg("--json").output().expect("run lpa loadtest");
    let wall = started.elapsed();
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "one JSON line: {text}");
    (serde_json::from_str(&text).expect("JSON report"), wall)
}

/// A 1 s load test by 2 users against `host`, of the requests an
/// evaluation config (`yaml`) names, each user waiting `wait` seconds.
fn loadtest_config(host: &str, yaml: &str, wait: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("eval.yaml");
    std::fs::write(&config, yaml).unwrap();
    let (r, _) = loadtest_json(
        lpa()
            .args([
                "loadtest",
                "--host",
                host,
                "--users",
                "2",
                "--run-time",
                "1s",
            ])
            .args(["--wait-time", wait, "--evaluation-config"])
            .arg(&config),
    );
    r
}

fn f(v: &Value, path: &str) -> f64 {
    v.pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{path} missing in {v}"))
}

#[test]
fn a_known_delay_is_measured_within_tolerance() {
    let s = Served::start(&[]);
    let (r, _) = loadtest_json(lpa().args([
        "loadtest",
        "--host",
        &s.url,
        "--request",
        "/delay?ms=20",
        "--users",
        "4",
        "--run-time",
        "2s",
        // Many samples: no wait (the default probe waits 0.5-1 s).
        "--wait-time",
        "0",
    ]));
    let key = "/requests/GET_~1delay?ms=20";
    assert!(f(&r, &format!("{key}/num_requests")) >= 20.0, "{r}");
    assert_eq!(f(&r, &format!("{key}/num_failures")), 0.0);
    // The server sleeps 20 ms: nothing can be faster; loopback adds a few
    // ms at most to the typical request. A mean is a stall's too, which a
    // loaded 2-core machine has: its bound is looser.
    assert!(f(&r, &format!("{key}/min_response_time")) >= 20.0, "{r}");
    let p50 = f(&r, &format!("{key}/response_time_percentiles/p50"));
    assert!((20.0..30.0).contains(&p50), "p50 {p50} ms");
    let mean = f(&r, &format!("{key}/avg_response_time"));
    assert!((20.0..40.0).contains(&mean), "mean {mean} ms");
    assert_eq!(r["run"]["driver"], "native");
    assert_eq!(r["run"]["model"], "closed");
    assert_eq!(r["run"]["users_started"], 4);
}

#[test]
fn failures_are_counted_per_request_and_kind() {
    let s = Served::start(&[]);
    let (r, _) = loadtest_json(lpa().args([
        "loadtest",
        "--host",
        &s.url,
        "--request",
        "/status/503",
        "--request",
        "POST /delay?ms=2",
        "--users",
        "2",
        "--run-time",
        "1s",
    ]));
    let bad = &r["requests"]["GET_/status/503"];
    let n = bad["num_requests"].as_u64().unwrap();
    assert!(n > 0);
    assert_eq!(bad["num_failures"].as_u64(), Some(n));
    assert_eq!(
        r["failures"]["GET_/status/503: HTTP 503"]["occurrences"].as_u64(),
        Some(n)
    );
    assert_eq!(
        r["requests"]["POST_/delay?ms=2"]["num_failures"].as_u64(),
        Some(0)
    );
    let total = r["num_requests"].as_u64().unwrap();
    assert_eq!(
        total,
        n + r["requests"]["POST_/delay?ms=2"]["num_requests"]
            .as_u64()
            .unwrap()
    );
    assert_eq!(r["num_requests_fail"].as_u64(), Some(n));

    // The table: one row per request, the aggregate, then the failures.
    let out = lpa()
        .args([
            "loadtest",
            "--host",
            &s.url,
            "--request",
            "/status/503",
            "--users",
            "1",
            "--run-time",
            "0.5s",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    for want in [
        "Name",
        "p99",
        "req/s",
        "GET /status/503",
        "Aggregated",
        "Failures",
        "HTTP 503",
    ] {
        assert!(table.contains(want), "{want} missing in\n{table}");
    }
}

/// Each user's output buffer is sized to the plan's longest head line (a
/// line that does not fit is an error in ureq), and bodies stream through
/// it: a 6 KiB token and a 200 KiB body must go through intact, request
/// after request on the same keep-alive connection.
#[test]
fn long_header_lines_and_large_bodies_go_through() {
    let s = Served::start(&[]);
    let token = "t".repeat(6 * 1024);
    let body = "b".repeat(200 * 1024);
    let r = loadtest_config(
        &s.url,
        &format!(
            "targets: [{{endpoint: /delay?ms=1, type: mean, target: 50}}]\n\
             load:\n  requests:\n\
             \x20   - {{method: POST, path: /delay?ms=1, headers: {{Authorization: Bearer {token}}}, body: {body}}}\n"
        ),
        "0",
    );
    let n = r["num_requests"].as_u64().unwrap();
    assert!(n >= 10, "{r}");
    assert_eq!(r["num_requests_fail"].as_u64(), Some(0), "{r}");
}

/// A request of `load.requests` measures a 3xx as it is, as before; with
/// `followRedirects: true` it follows it to the page (100 ms) and is
/// timed to its end.
#[test]
fn load_requests_follow_redirects_only_when_asked() {
    let service = Service::start(100);
    let r = loadtest_config(
        &service.url(),
        "targets: [{endpoint: /a, type: mean, target: 50}]\n\
         load: {requests: [{path: /redirect/302/as-is, name: as-is}, \
         {path: /redirect/302/followed, name: followed, followRedirects: true}]}\n",
        "0.01",
    );
    assert_eq!(r["num_requests_fail"].as_u64(), Some(0), "{r}");
    // Timed to the 3xx: a median, which a stall of a busy machine leaves be.
    assert!(
        f(&r, "/requests/GET_as-is/median_response_time") < 50.0,
        "{r}"
    );
    assert!(
        f(&r, "/requests/GET_followed/min_response_time") >= 100.0,
        "{r}"
    );
    let heads = service.heads();
    assert!(
        heads.iter().all(|h| !h.starts_with("GET /as-is ")),
        "{heads:?}"
    );
    assert!(
        heads.iter().any(|h| h.starts_with("GET /followed ")),
        "{heads:?}"
    );
}

/// A server that words each failure anew (here a Location unlike every
/// other) gets a bounded account: at most 32 kinds and the rest as
/// "other", each cut at 200 characters, where a run made one kind per
/// request (540 MB of table from 3 s), and kept per request. A redirect
/// to a port that refuses is the service's failure, named, where the run
/// read as "no request reached" a service that answered every request.
#[test]
fn failure_kinds_are_bounded_and_a_refused_redirect_is_the_services_failure() {
    let service = Service::start(0);
    let (_held, refused) = refused_addr();
    let r = loadtest_config(
        &service.url(),
        &format!(
            "targets: [{{endpoint: /scatter, type: mean, target: 50}}]\n\
             load: {{requests: [{{path: /scatter, followRedirects: true}}, \
             {{path: /redirect/302/abs/http://{refused}/x, name: /away, followRedirects: true}}]}}\n"
        ),
        "0",
    );
    let n = r["num_requests"].as_u64().unwrap();
    assert!(
        f(&r, "/requests/GET_~1scatter/num_requests") > 40.0,
        "more requests than kinds kept: {r}"
    );
    let failures = r["failures"].as_object().unwrap();
    assert!(failures.len() <= 34, "{}", failures.len());
    assert!(failures.keys().all(|k| k.len() < 260), "{failures:?}");
    let counted: u64 = failures
        .values()
        .map(|f| f["occurrences"].as_u64().unwrap())
        .sum();
    assert_eq!((counted, r["num_requests_fail"].as_u64()), (n, Some(n)));
    assert!(
        failures.contains_key("GET_/scatter: other failures (a run keeps 32 kinds)"),
        "{failures:?}"
    );
    // The kinds are kept per request: /scatter's do not take /away's place.
    let away = format!("GET_/away: redirect to {refused}: connection refused");
    assert_eq!(
        failures[&away]["occurrences"], r["requests"]["GET_/away"]["num_requests"],
        "{r}"
    );
}

/// RFC 9110, 8.6: a GET without content carries no Content-Length (as
/// Locust's clients send it; some servers and firewalls refuse a GET that
/// announces a body), while an empty POST says 0 (nginx answers 411 to a
/// POST without a length).
#[test]
fn a_get_announces_no_body_and_an_empty_post_says_zero() {
    let service = Service::start(0);
    let r = loadtest_config(
        &service.url(),
        "targets: [{endpoint: /g, type: mean, target: 50}]\n\
         load: {requests: [{path: /g}, {method: POST, path: /p}, {method: POST, path: /b, body: hi}]}\n",
        "0",
    );
    assert_eq!(r["num_requests_fail"].as_u64(), Some(0), "{r}");
    let heads = service.heads();
    let with = |line: &str| -> Vec<String> {
        heads
            .iter()
            .filter(|h| h.starts_with(line))
            .map(|h| h.to_ascii_lowercase())
            .collect()
    };
    let (gets, posts, bodies) = (with("GET /g "), with("POST /p "), with("POST /b "));
    assert!(
        !gets.is_empty() && !posts.is_empty() && !bodies.is_empty(),
        "{heads:?}"
    );
    assert!(
        gets.iter().all(|h| !h.contains("content-length")),
        "{gets:?}"
    );
    assert!(
        posts.iter().all(|h| h.contains("content-length: 0\r\n")),
        "{posts:?}"
    );
    assert!(
        bodies.iter().all(|h| h.contains("content-length: 2\r\n")),
        "{bodies:?}"
    );
}

#[test]
fn a_hung_service_reads_as_slow_and_the_run_is_bounded() {
    let s = Served::start(&["--hang-max", "30s"]);
    let (r, wall) = loadtest_json(lpa().args([
        "loadtest",
        "--host",
        &s.url,
        "--request",
        "/hang",
        "--users",
        "2",
        "--run-time",
        "1s",
    ]));
    // Run time 1 s + grace 1 s; the slack covers process start on a busy machine.
    assert!(wall < Duration::from_secs(5), "took {wall:?}");
    let hang = &r["requests"]["GET_/hang"];
    assert_eq!(hang["num_requests"].as_u64(), Some(2), "{r}");
    assert_eq!(hang["num_failures"].as_u64(), Some(2));
    let mean = hang["avg_response_time"].as_f64().unwrap();
    assert!(mean >= 1000.0, "a hang must read as slow, got {mean} ms");
    assert_eq!(r["run"]["unfinished"].as_u64(), Some(2));
    assert_eq!(
        r["failures"]["GET_/hang: no response within run time + grace"]["occurrences"].as_u64(),
        Some(2)
    );
}

#[test]
fn users_start_at_the_spawn_rate_within_the_run_time() {
    let s = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("eval.yaml");
    // Each user sends one request, then waits past the end of the run.
    std::fs::write(
        &config,
        "targets: [{endpoint: /delay?ms=1, type: mean, target: 50}]\nload: {waitTime: constant(10), users: 50}\n",
    )
    .unwrap();
    // Env vars as CPA sets them; locustSpawnRate is the newer name.
    let (r, _) = loadtest_json(
        lpa()
            .args(["loadtest", "--evaluation-config"])
            .arg(&config)
            .env("locustHost", &s.url)
            .env("locustUsers", "6")
            .env("locustSpawnRate", "1")
            .env("locustRunTime", "4.5s"),
    );
    // Users start at 0, 1, 2, 3 and 4 s; the sixth would start at 5 s,
    // after the 4.5 s run time, which counts the ramp-up. Half a second
    // either side: a busy machine wakes the spawner late.
    assert_eq!(r["run"]["users"], 6, "{r}");
    assert_eq!(r["run"]["users_started"], 5);
    assert_eq!(r["num_requests"], 5);
    let ramp = f(&r, "/run/ramp_up_secs");
    assert!((3.95..4.5).contains(&ramp), "ramp-up {ramp} s");
}

/// A service on 127.0.0.1 that answers every request head it reads with
/// `answer` (the test's bytes, as they go on the wire), on kept-alive
/// connections, for as long as the test runs.
fn answering(answer: Vec<u8>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let answer = std::sync::Arc::clone(&answer);
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = conn.read(&mut buf) {
                    seen.extend_from_slice(&buf[..n]);
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        if conn.write_all(&answer).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    url
}

/// `lpa loadtest --json` of 2 users for 1 s against `url`: the report.
fn loadtest_of(url: &str) -> Value {
    let (r, _) = loadtest_json(lpa().args([
        "loadtest",
        "--host",
        url,
        "--load-driver",
        "native",
        "--users",
        "2",
        "--run-time",
        "1s",
    ]));
    r
}

/// A response head over the user's 8 KiB buffer failed as "connection
/// closed early", which the service never did: a 9 KiB policy header is
/// read now, and one past the limit fails saying so.
#[test]
fn a_large_response_head_is_read_and_one_past_the_limit_is_named() {
    let head = |kib: usize| {
        let policy = "script-src https://cdn.example.com ".repeat(kib * 1024 / 35);
        format!(
            "HTTP/1.1 200 OK\r\nContent-Security-Policy: {policy}\r\nContent-Length: 2\r\n\r\nok"
        )
        .into_bytes()
    };
    let r = loadtest_of(&answering(head(9)));
    assert!(r["num_requests"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["num_requests_fail"], 0, "{r}");
    let r = loadtest_of(&answering(head(20)));
    let sent = r["num_requests"].as_u64().unwrap();
    assert!(sent > 0, "{r}");
    assert_eq!(
        r["failures"]["GET_/: response head over 16 KiB"]["occurrences"].as_u64(),
        Some(sent),
        "{r}"
    );
}

/// lpa asks for no protocol switch: a 101 is no answer, where it was
/// timed as one (0.7 ms, no failure) and a service that never answered
/// read as calm enough to decay.
#[test]
fn a_switching_protocols_nobody_asked_for_is_a_failure() {
    let r = loadtest_of(&answering(
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n".to_vec(),
    ));
    let sent = r["num_requests"].as_u64().unwrap();
    assert!(sent > 0, "{r}");
    assert_eq!(
        r["failures"]["GET_/: HTTP 101 Switching Protocols, to a request that asked for none"]
            ["occurrences"]
            .as_u64(),
        Some(sent),
        "{r}"
    );
}

/// Rates and waits pass validation however small or long; a start, send
/// or wake too far away to be a time at all is past the run's end, where
/// adding it to the clock panicked (a user thread's panic left exit 0).
#[test]
fn a_rate_or_wait_beyond_any_clock_ends_the_user_not_the_run() {
    let s = Served::start(&[]);
    for (flags, started, sent) in [
        (
            &[
                "--users",
                "2",
                "--spawn-rate",
                "1e-20",
                "--wait-time",
                "constant(10)",
            ][..],
            1,
            1,
        ),
        (&["--users", "2", "--arrival-rate", "1e-20"], 2, 1),
        (&["--users", "1", "--wait-time", "constant(1e19)"], 1, 1),
        (
            &["--users", "1", "--wait-time", "constant_throughput(1e-20)"],
            1,
            1,
        ),
    ] {
        let out = lpa()
            .args([
                "loadtest",
                "--host",
                &s.url,
                "--load-driver",
                "native",
                "--run-time",
                "1s",
            ])
            .args(["--request", "/delay?ms=1", "--json"])
            .args(flags)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert!(out.status.success(), "{flags:?}: {err}");
        assert!(!err.contains("panicked"), "{flags:?}: {err}");
        let r: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(r["run"]["users_started"], started, "{flags:?}: {r}");
        assert_eq!(r["num_requests"], sent, "{flags:?}: {r}");
    }
}

#[test]
fn the_open_model_sends_on_schedule() {
    let s = Served::start(&[]);
    let (r, _) = loadtest_json(lpa().args([
        "loadtest",
        "--host",
        &s.url,
        "--request",
        "/delay?ms=5",
        "--users",
        "4",
        "--arrival-rate",
        "50",
        "--run-time",
        "2s",
    ]));
    assert_eq!(r["run"]["model"], "open");
    let sent = r["num_requests"].as_u64().unwrap();
    let dropped = r["run"]["dropped"].as_u64().unwrap();
    assert_eq!(sent + dropped, 100, "{r}");
    assert!(sent >= 95, "{r}");
    assert!(r["run"]["late"].as_u64().is_some());
    assert!(f(&r, "/requests/GET_~1delay?ms=5/min_response_time") >= 5.0);
}

/// Five users at 100 ms a request take 50 of the 100 sends a second, so
/// at the run time half the schedule is still owed. Those sends are
/// dropped: the users went on sending them in the grace, and the ones in
/// flight at its end read as 5 failures of a service that answered every
/// request in 100 ms.
#[test]
fn an_open_model_behind_schedule_sends_nothing_after_the_run_time() {
    let s = Served::start(&[]);
    let (r, _) = loadtest_json(lpa().args([
        "loadtest",
        "--host",
        &s.url,
        "--request",
        "/delay?ms=100",
        "--users",
        "5",
        "--arrival-rate",
        "100",
        "--run-time",
        "2s",
    ]));
    assert_eq!(r["num_requests_fail"], 0, "{r}");
    assert_eq!(r["run"]["unfinished"], 0, "{r}");
    let sent = r["num_requests"].as_u64().unwrap();
    let dropped = r["run"]["dropped"].as_u64().unwrap();
    assert_eq!(sent + dropped, 200, "{r}");
    assert!(sent <= 110, "{r}");
    assert!(f(&r, "/run/elapsed_secs") < 2.5, "{r}");
}

/// A slow schedule's last send comes long before the run time; the run
/// still lasts it, and its rate is over it (it ended after the last send,
/// and reported 100 requests/s for one send at 0.4/s).
#[test]
fn a_slow_open_model_lasts_its_run_time() {
    let s = Served::start(&[]);
    let (r, _) = loadtest_json(lpa().args([
        "loadtest",
        "--host",
        &s.url,
        "--request",
        "/",
        "--arrival-rate",
        "0.4",
        "--run-time",
        "2s",
    ]));
    assert_eq!(r["num_requests"], 1, "{r}");
    let secs = f(&r, "/run/elapsed_secs");
    assert!((2.0..2.5).contains(&secs), "{r}");
    let rps = f(&r, "/requests/GET_~1/total_rps");
    assert!((0.4..0.51).contains(&rps), "{r}");
}

/// Runs lpa and checks the bad-input contract: non-zero exit, nothing on
/// stdout, one error line containing `want`.
pub fn assert_rejected(cmd: &mut Command, want: &str) {
    let started = Instant::now();
    let out = cmd.output().expect("run lpa");
    assert!(!out.status.success(), "{want}: exit 0");
    assert_eq!(stdout(&out), "", "{want}: stdout not empty");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("lpa: error: ") && err.contains(want),
        "want {want:?}, got {err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{want}: not fast"
    );
}

#[test]
fn bad_inputs_fail_fast_with_one_line() {
    let s = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let bad_load = dir.path().join("bad-load.yaml");
    std::fs::write(
        &bad_load,
        "targets: [{endpoint: /, type: mean, target: 5}]\nload: {waitTime: sometimes}\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut c = lpa();
        c.arg("loadtest").args(args);
        c
    };
    let h = s.url.as_str();
    // Port 1 on loopback: nothing listens there.
    assert_rejected(
        &mut run(&["--host", "http://127.0.0.1:1"]),
        "cannot connect to http://127.0.0.1:1",
    );
    assert_rejected(
        &mut run(&["--host", "127.0.0.1:8080"]),
        "host (--host or locustHost): invalid value \"127.0.0.1:8080\"",
    );
    assert_rejected(
        &mut run(&["--host", "http://"]),
        "invalid value \"http://\"",
    );
    assert_rejected(&mut run(&[]), "no host to load-test");
    assert_rejected(
        &mut run(&["--host", h, "--users", "0"]),
        "users (--users or locustUsers): invalid value \"0\"",
    );
    assert_rejected(
        &mut run(&["--host", h, "--run-time", "0"]),
        "run time (--run-time or locustRunTime): invalid value \"0\"",
    );
    assert_rejected(
        &mut run(&["--host", h, "--run-time", "-1"]),
        "invalid value \"-1\"",
    );
    assert_rejected(
        &mut run(&["--host", h, "--spawn-rate", "0"]),
        "spawn rate (--spawn-rate, locustHatchRate or locustSpawnRate): invalid value \"0\"",
    );
    assert_rejected(
        &mut run(&["--host", h, "--request", "no-slash"]),
        "request (--request): invalid value \"no-slash\"",
    );
    let mut c = run(&["--host", h, "--evaluation-config"]);
    c.arg(&bad_load);
    assert_rejected(&mut c, "load.waitTime: invalid value \"sometimes\"");
}

/// A bad value of a load setting, as a flag or as the original's env var,
/// is one error line naming the setting, its flag and env var, and exit
/// code 1, as every other bad input (not clap's multi-line usage, exit 2).
#[test]
fn a_bad_load_setting_is_one_line_and_exit_code_1() {
    // Flags, env vars, and the line's start.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&["--users", "many"], &[], "users (--users or locustUsers): invalid value \"many\" (expected a whole number from 1 to 10000 (each user is a thread))"),
        (&["--users", "4294967295"], &[], "users (--users or locustUsers): invalid value \"4294967295\" (expected a whole number from 1 to 10000 (each user is a thread))"),
        (&["--spawn-rate", "-1"], &[], "spawn rate (--spawn-rate, locustHatchRate or locustSpawnRate): invalid value \"-1\""),
        (&[], &[("locustSpawnRate", "0")], "spawn rate (--spawn-rate, locustHatchRate or locustSpawnRate): invalid value \"0\""),
        (&[], &[("locustRunTime", "soon")], "run time (--run-time or locustRunTime): invalid value \"soon\" (expected a duration > 0, at most 24h, such as 5, 5s or 1m)"),
        (&[], &[("locustRunTime", "1e9")], "run time (--run-time or locustRunTime): invalid value \"1e9\" (expected a duration > 0, at most 24h, such as 5, 5s or 1m)"),
        (&["--arrival-rate", "0"], &[], "arrival rate (--arrival-rate): invalid value \"0\" (expected requests per second > 0, at most 1000000)"),
        (&["--arrival-rate", "1e300"], &[], "arrival rate (--arrival-rate): invalid value \"1e300\" (expected requests per second > 0, at most 1000000)"),
        (&["--wait-time", "sometimes"], &[], "wait time (--wait-time): invalid value \"sometimes\""),
        (&["--request=GET"], &[], "request (--request): invalid value \"GET\""),
    ];
    for (args, env, want) in cases {
        let out = lpa()
            .args(["loadtest", "--host", "http://127.0.0.1:1"])
            .args(*args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?} {env:?}: {err}");
        assert_eq!(stdout(&out), "");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            err.starts_with(&format!("lpa: error: {want}")),
            "want {want:?}, got {err}"
        );
    }
}

/// A target's whole URL given as the host says what a host is and where
/// the path and query go; a scheme in capitals is a scheme.
#[test]
fn a_host_with_a_query_is_explained_and_an_upper_case_scheme_accepted() {
    for host in [
        ["--host", "http://127.0.0.1:5000/fibonacci?n=10"],
        ["--host", "http://127.0.0.1:5000?n=10"],
    ] {
        let out = lpa().arg("loadtest").args(host).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("(expected scheme://host[:port] such as http://127.0.0.1:5000, with no query: a host has at most a path prefix, and /"),
            "{err}"
        );
        assert!(
            err.contains("?n=10 belongs in the targets' endpoint)"),
            "{err}"
        );
    }
    let out = lpa()
        .args(["check", "--evaluation-config"])
        .arg(crate::support::fixture("evaluation/seed.yaml"))
        .env("locustHost", "http://fibonacci:5000/fibonacci?n=10")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("lpa: error: host (--host or locustHost): invalid value \"http://fibonacci:5000/fibonacci?n=10\"")
            && err.contains("/fibonacci?n=10 belongs in the targets' endpoint"),
        "{err}"
    );

    let s = Served::start(&[]);
    let upper = s.url.replacen("http://", "HTTP://", 1);
    let (r, _) = loadtest_json(lpa().args([
        "loadtest",
        "--host",
        &upper,
        "--request",
        "/delay?ms=1",
        "--users",
        "1",
        "--run-time",
        "1s",
    ]));
    assert_eq!(r["run"]["host"].as_str(), Some(s.url.as_str()), "{r}");
    assert!(r["num_requests"].as_u64().unwrap() >= 1, "{r}");
}
