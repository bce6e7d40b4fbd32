//! The Locust driver against real Locust (the pinned one from
//! scripts/setup-tools.sh) and a real HTTP server on 127.0.0.1.
//!
//! Each Locust run costs 1-2 s of startup, so one run is shared by several
//! assertions: `driver_report_equals_locusts_own_csv` checks counts, means
//! and percentiles against Locust's CSV of the same run and, through the
//! always-failing endpoint, that exit code 1 yields statistics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lpa_drivers::locust::{self, LocustError, LocustPlan};

use crate::support::{fixture, tool};

/// A small HTTP/1.1 server with keep-alive: `/delay?ms=N` answers after N
/// ms, `/status/CODE` answers CODE, anything else 200.
mod server {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    pub struct Server {
        pub addr: SocketAddr,
        stop: Arc<AtomicBool>,
    }

    impl Server {
        pub fn start() -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if flag.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        thread::spawn(move || serve(conn));
                    }
                }
            });
            Server { addr, stop }
        }

        pub fn url(&self) -> String {
            format!("http://{}", self.addr)
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            // Wakes the accept loop so it sees the flag.
            let _ = TcpStream::connect(self.addr);
        }
    }

    fn serve(conn: TcpStream) {
        // An idle keep-alive connection ends after this; no thread outlives
        // its client by much.
        let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
        let mut writer = match conn.try_clone() {
            Ok(w) => w,
            Err(_) => return,
        };
        let mut reader = BufReader::new(conn);
        // Bounded: a client gets at most this many requests per connection.
        for _ in 0..1_000_000 {
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                return;
            }
            let mut body_len = 0usize;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 {
                    return;
                }
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                if let Some((k, v)) = header.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        body_len = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            if body_len > 0 {
                let mut body = vec![0; body_len];
                if std::io::Read::read_exact(&mut reader, &mut body).is_err() {
                    return;
                }
            }
            let target = request_line.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = respond(target);
            let reply = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
                body.len()
            );
            if writer.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    }

    fn respond(target: &str) -> (u16, String) {
        if let Some(ms) = target.strip_prefix("/delay?ms=") {
            let ms: u64 = ms.parse().unwrap_or(0);
            thread::sleep(Duration::from_millis(ms));
            return (200, "ok".into());
        }
        if let Some(code) = target.strip_prefix("/status/") {
            return (code.parse().unwrap_or(500), "status".into());
        }
        (200, "ok".into())
    }
}

fn plan(locustfile: PathBuf, host: &str, run_time: Duration) -> LocustPlan {
    LocustPlan::new(
        tool("locust"),
        locustfile,
        host.to_string(),
        5,
        5.0,
        run_time,
    )
}

/// Locust's `_stats.csv`: `"METHOD_name"` -> column -> value.
fn read_csv(path: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rows = text.lines().map(split_csv_line);
    let header = rows.next().expect("csv header");
    rows.filter(|r| r.first().is_some_and(|t| !t.is_empty()))
        .map(|r| {
            let key = format!("{}_{}", r[0], r[1]);
            (key, header.iter().cloned().zip(r).collect())
        })
        .collect()
}

/// Python's csv module quoting: fields with a comma or quote are quoted,
/// quotes doubled.
fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}

fn num(row: &BTreeMap<String, String>, col: &str) -> f64 {
    row.get(col)
        .unwrap_or_else(|| panic!("no column {col} in {row:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("column {col}: {e}"))
}

#[test]
fn driver_report_equals_locusts_own_csv() {
    let server = server::Server::start();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("run");
    let mut p = plan(
        fixture("locust/delay_and_errors.py"),
        &server.url(),
        Duration::from_secs(3),
    );
    p.extra_args = vec!["--csv".into(), prefix.clone().into()];
    let report = locust::run(&p).expect("a run with failures is a report, not an error");

    let run = report.run.as_ref().unwrap();
    assert_eq!(run["driver"], "locust");
    assert_eq!(
        run["exit_code"], 1,
        "/status/500 fails, so Locust exits 1: {run}"
    );

    // Locust's CSV code on the final statistics (see the locustfile for why
    // not the periodically rewritten run_stats.csv).
    let csv = read_csv(&dir.path().join("run_final_stats.csv"));
    let keys: Vec<&String> = report.requests.keys().collect();
    assert_eq!(keys, ["GET_/delay?ms=5", "GET_/status/500"]);
    for (key, stats) in &report.requests {
        let row = &csv[key];
        let n = stats.num_requests.unwrap();
        assert!(n > 0, "{key}: no requests");
        assert_eq!(n as f64, num(row, "Request Count"), "{key}");
        assert_eq!(
            stats.num_failures.unwrap() as f64,
            num(row, "Failure Count"),
            "{key}"
        );
        // Locust writes repr(float): the mean is the same division.
        let mean = stats.avg_response_time.unwrap();
        let csv_mean = num(row, "Average Response Time");
        assert!(
            (mean - csv_mean).abs() <= 1e-9 * csv_mean.max(1.0),
            "{key}: {mean} vs {csv_mean}"
        );
        assert_eq!(
            stats.median_response_time.unwrap(),
            num(row, "Median Response Time"),
            "{key}"
        );
        assert_eq!(
            stats.min_response_time.unwrap(),
            num(row, "Min Response Time"),
            "{key}"
        );
        assert_eq!(
            stats.max_response_time.unwrap(),
            num(row, "Max Response Time"),
            "{key}"
        );
        for (label, col) in [
            ("p50", "50%"),
            ("p90", "90%"),
            ("p95", "95%"),
            ("p99", "99%"),
            ("p99.9", "99.9%"),
            ("p100", "100%"),
        ] {
            // The CSV's percentiles are int(...) of the bucket.
            assert_eq!(
                stats.response_time_percentiles[label].trunc(),
                num(row, col),
                "{key} {label}"
            );
        }
    }
    let delayed = &report.requests["GET_/delay?ms=5"];
    assert_eq!(delayed.num_failures, Some(0));
    assert!(delayed.avg_response_time.unwrap() >= 5.0, "{delayed:?}");
    let failing = &report.requests["GET_/status/500"];
    assert_eq!(failing.num_failures, failing.num_requests);
    assert_eq!(
        report.num_requests_fail, failing.num_failures,
        "totals add up the endpoints"
    );
}

#[test]
fn broken_locustfile_is_one_clear_error_with_locusts_message() {
    let p = plan(
        fixture("locust/broken.py"),
        "http://127.0.0.1:9",
        Duration::from_secs(1),
    );
    let e = locust::run(&p).unwrap_err();
    assert!(matches!(e, LocustError::Rejected { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.starts_with("locust could not run "), "{msg}");
    assert!(
        msg.contains("(exit code 1): SyntaxError: '(' was never closed (at "),
        "{msg}"
    );
    assert!(msg.contains("broken.py:8)"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
}

#[test]
fn seed_locustfile_is_rejected_by_locust_and_explained_by_lpa() {
    // The premise: today's Locust refuses the guide's locustfile.
    let out = std::process::Command::new(tool("locust"))
        .args(["-f"])
        .arg(fixture("locust/seed_locustfile.py"))
        .args([
            "--headless",
            "-u",
            "1",
            "-t",
            "1s",
            "--host",
            "http://127.0.0.1:9",
        ])
        .output()
        .expect("run locust");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("The HttpLocust class has been renamed to HttpUser in version 1.0"),
        "{stderr}"
    );
    assert_eq!(
        locust::locust_message(&stderr),
        format!(
            "ImportError: The HttpLocust class has been renamed to HttpUser in version 1.0. For more info see: \
             https://docs.locust.io/en/latest/changelog.html#changelog-1-0 (at {}:8)",
            fixture("locust/seed_locustfile.py").display()
        )
    );

    // lpa names every change before Locust runs.
    let p = plan(
        fixture("locust/seed_locustfile.py"),
        "http://127.0.0.1:9",
        Duration::from_secs(1),
    );
    let msg = locust::run(&p).unwrap_err().to_string();
    assert!(
        msg.contains("seed_locustfile.py is written for Locust before 1.0"),
        "{msg}"
    );
    assert!(
        msg.contains(
            "change line 1: HttpLocust -> HttpUser; line 8: HttpLocust -> HttpUser; \
             line 9: task_set = UserBehavior -> tasks = [UserBehavior] (see README.md, \"Using an existing locustfile\")"
        ),
        "{msg}"
    );
}

#[test]
fn ported_seed_locustfile_measures_the_fibonacci_endpoint() {
    let server = server::Server::start();
    let p = plan(
        fixture("locust/fibonacci.py"),
        &server.url(),
        Duration::from_secs(2),
    );
    let report = locust::run(&p).unwrap();
    let fib = &report.requests["GET_/fibonacci?n=10"];
    assert!(fib.num_requests.unwrap() > 0, "{fib:?}");
    assert_eq!(fib.num_failures, Some(0));
    assert_eq!(report.run.as_ref().unwrap()["exit_code"], 0);
}
