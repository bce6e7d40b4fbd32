//! Security through the real binary: credential headers of the config's
//! `load.requests[].headers` are sent as written but never shown, in
//! `lpa check`, `lpa loadtest --json`, `lpa run`'s stderr and decision log.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{lpa, stderr, stdout};

const SECRETS: [&str; 4] = ["tok-auth", "tok-cookie", "tok-proxy", "tok-set"];

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("eval.yaml");
    std::fs::write(
        &path,
        "targets: [{method: GET, endpoint: /healthz, type: mean, target: 500}]\n\
         load:\n  users: 1\n  runTime: 500ms\n  requests:\n    - path: /healthz\n      headers:\n        \
         Authorization: Bearer tok-auth\n        cookie: sid=tok-cookie\n        \
         Proxy-Authorization: Basic tok-proxy\n        Set-Cookie: tok-set\n        X-Trace: visible-7\n",
    )
    .unwrap();
    path
}

fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} shows {s}: {text}");
    }
}

/// A service that answers 200 and keeps the first request head it reads,
/// to prove the real values are sent. Bounded: 2000 connections or 20 s.
fn recording_service() -> (String, Arc<Mutex<Option<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let first = Arc::new(Mutex::new(None));
    let keep = Arc::clone(&first);
    thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(20);
        for conn in listener.incoming().take(2000) {
            if Instant::now() > until {
                return;
            }
            let Ok(mut conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut head = String::new();
            while !head.ends_with("\r\n\r\n") {
                match reader.read_line(&mut head) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            // The preflight connects and sends nothing.
            if !head.is_empty() {
                keep.lock().unwrap().get_or_insert(head);
            }
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    (format!("http://{addr}"), first)
}

#[test]
fn check_shows_credential_headers_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    for json in [false, true] {
        let mut c = lpa();
        c.arg("check").arg("--evaluation-config").arg(&cfg);
        if json {
            c.arg("--json");
        }
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert_no_secret("lpa check", &text);
        assert!(
            text.contains("visible-7") && text.contains("<redacted>"),
            "{text}"
        );
    }
}

#[test]
fn loadtest_sends_credentials_and_never_prints_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (url, first) = recording_service();
    let out = lpa()
        .args(["loadtest", "--json", "--host", &url])
        .arg("--evaluation-config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_secret("lpa loadtest", &format!("{}{}", stdout(&out), stderr(&out)));
    let head = first.lock().unwrap().clone().expect("a request arrived");
    let head = head.to_ascii_lowercase();
    for s in SECRETS {
        assert!(head.contains(s), "{s} was not sent: {head}");
    }
}

#[test]
fn run_decision_log_and_stderr_never_show_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let log = dir.path().join("decisions.jsonl");
    let replica = format!(
        "{} serve --listen 127.0.0.1:{{port}} --exit-with-parent",
        env!("CARGO_BIN_EXE_lpa")
    );
    let out = lpa()
        .args([
            "run",
            "--scaler",
            "local",
            "--once",
            "--replica-cmd",
            &replica,
        ])
        .args(["--listen", "127.0.0.1:0"])
        .arg("--evaluation-config")
        .arg(&cfg)
        .arg("--decay-info")
        .arg(dir.path().join("decay.json"))
        .arg("--decision-log")
        .arg(&log)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged.lines().count(), 1, "{logged}");
    assert_no_secret("decision log", &logged);
    assert_no_secret("lpa run", &format!("{}{}", stdout(&out), stderr(&out)));
}
