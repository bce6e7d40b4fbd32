//! Faults around the state file: writers killed at random points, and
//! locations that cannot be written.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{fixture, lpa, run_with_stdin, stderr, stdout};

fn calm_stdin(replicas: u32) -> String {
    let metric = serde_json::json!({
        "requests": {"GET_/fibonacci?n=10": {"num_requests": 100, "num_failures": 0, "avg_response_time": 1.0}}
    });
    serde_json::json!({
        "metrics": [{"resource": "fibonacci", "value": metric.to_string()}],
        "resource": {"spec": {"replicas": replicas}},
        "runType": "scaler",
    })
    .to_string()
}

/// A tiny xorshift: the kill points must vary, and must be reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn assert_valid_state(path: &Path, context: &str) {
    match fs::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("{context}: {e}"),
        Ok(bytes) => {
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{context}: unreadable state {:?}: {e}",
                    String::from_utf8_lossy(&bytes)
                )
            });
            assert!(v["runs_since_change"].is_u64(), "{context}: {v}");
        }
    }
}

/// SIGKILL `lpa evaluate` at random points, hundreds of times: the state
/// file is always the old or the new version, never a torn one, and the
/// next evaluation always works.
#[test]
fn sigkill_at_random_points_never_leaves_an_unreadable_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("decay_info.json");
    let cfg = dir.path().join("eval.yaml");
    let text = fs::read_to_string(fixture("evaluation/seed.yaml"))
        .unwrap()
        .replace("unchangedRuns: 3", "unchangedRuns: 100000");
    fs::write(&cfg, text).unwrap();
    let stdin = calm_stdin(3);
    let evaluate = || {
        let mut c = lpa();
        c.args(["evaluate", "--evaluation-config"])
            .arg(&cfg)
            .arg("--decay-info")
            .arg(&state);
        c
    };
    // Kill points spread over a whole run, measured on this machine (a debug
    // build on a loaded CI box is much slower than a release build).
    let mut runs: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let out = run_with_stdin(evaluate(), &stdin);
            assert!(out.status.success(), "{}", stderr(&out));
            t.elapsed()
        })
        .collect();
    runs.sort();
    // Self-calibrating: the span grows after a kill and shrinks after a
    // finished run, so about a third of the runs finish whatever the load
    // on the machine (a fixed span failed under a loaded test run).
    let mut span = (runs[2].as_micros() as u64 * 12 / 10).max(100);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut killed, mut finished) = (0, 0);
    for i in 0..200 {
        let mut child = evaluate()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        // Spin rather than sleep: sleeps are too coarse for a ~1 ms process.
        let wait = Duration::from_micros(rng.below(span));
        let start = Instant::now();
        while start.elapsed() < wait {
            std::hint::spin_loop();
        }
        match child.try_wait().unwrap() {
            Some(_) => {
                finished += 1;
                span = (span * 97 / 100).max(100);
            }
            None => {
                child.kill().unwrap();
                killed += 1;
                span = span * 105 / 100;
            }
        }
        child.wait().unwrap();
        assert_valid_state(&state, &format!("after run {i}"));
    }
    eprintln!("sigkill test: {killed} killed, {finished} finished, kill points in 0..{span} us at the end");
    // Both outcomes must have happened, or the test did not test anything.
    assert!(
        killed > 20 && finished > 20,
        "killed {killed}, finished {finished}"
    );
    let out = run_with_stdin(evaluate(), &stdin);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "{\"targetReplicas\":3}\n");
    assert!(!stderr(&out).contains("starting fresh"), "{}", stderr(&out));
    // Killed writers' temp files do not pile up.
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn read_only_state_directory_is_a_clear_error_and_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    fs::create_dir(&ro).unwrap();
    let state = ro.join("decay_info.json");
    fs::write(&state, "{\"runs_since_change\": 1}").unwrap();
    let mut perms = fs::metadata(&ro).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o555);
    fs::set_permissions(&ro, perms).unwrap();
    // Root ignores directory permissions; the test means nothing then.
    if fs::write(ro.join("probe"), "x").is_ok() {
        eprintln!("running as root: a read-only directory is writable, using /proc instead");
        let out = evaluate_at(Path::new("/proc/lpa-state/decay_info.json"));
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(stdout(&out), "");
        assert!(stderr(&out).contains("state file /proc/lpa-state/decay_info.json: cannot"));
        return;
    }
    let out = evaluate_at(&state);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("cannot"), "{}", stderr(&out));
    assert_eq!(
        fs::read_to_string(&state).unwrap(),
        "{\"runs_since_change\": 1}"
    );
}

fn evaluate_at(state: &Path) -> std::process::Output {
    let mut c = lpa();
    c.args(["evaluate", "--evaluation-config"])
        .arg(fixture("evaluation/seed.yaml"))
        .arg("--decay-info")
        .arg(state);
    run_with_stdin(c, &calm_stdin(2))
}

/// /proc accepts the lock file open but not a new file: the failure comes
/// at the write, after the decision, and still nothing reaches stdout.
#[test]
fn state_write_failure_after_deciding_prints_nothing() {
    let out = evaluate_at(Path::new("/proc/self/decay_info.json"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}
