//! `lpa demo`, shortened: the whole loop on real local replicas under a
//! real background load. What it must show: replicas rise under the load,
//! the mean comes back under the target, replicas decay once the load
//! stops, and no replica outlives lpa (also when lpa is stopped mid-run).

use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use lpa_core::log::DecisionRecord;
use lpa_core::Reason;

use crate::local::{assert_all_gone, replica_pids, wait_bounded, Lines};
use crate::support::{lpa, stderr, stdout};

/// Cycles of 1.5 s: calm 2, load 10, recover at most 8 (about 30 s). The
/// costs and the target are the demo's scaled up by about 7, so that the
/// debug build and a busy machine (other tests run alongside) add little
/// to the latency in proportion: 5 clients at 20 ms a request need 3 or so
/// replicas to get the mean under 60 ms.
const SHORT: &[&str] = &[
    "--calm",
    "3s",
    "--load",
    "15s",
    "--recover",
    "12s",
    "--interval",
    "1500ms",
    "--run-time",
    "1s",
    "--load-clients",
    "5",
    "--cost",
    "20ms",
    "--max-replicas",
    "6",
];
const POLICY: &str = "targets:\n  - {method: GET, endpoint: /fibonacci?n=10, type: mean, target: 60}\ndecay: {replicas: 1, unchangedRuns: 2}\n";
const CALM: usize = 2;
const LOAD: usize = 10;

fn mean(r: &DecisionRecord) -> (f64, bool) {
    r.reasons
        .iter()
        .find_map(|x| match x {
            Reason::Target {
                observed, breached, ..
            } => Some((*observed, *breached)),
            _ => None,
        })
        .expect("a target reason")
}

#[test]
fn the_demo_scales_up_under_load_recovers_and_decays_after() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("demo.jsonl");
    let config = dir.path().join("evaluation_config.yaml");
    std::fs::write(&config, POLICY).unwrap();
    let mut child = lpa()
        .arg("demo")
        .args(SHORT)
        .arg("--evaluation-config")
        .arg(&config)
        .arg("--decision-log")
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the demo did not end within 120 s");
        }
        thread::sleep(Duration::from_millis(100));
    }
    let o = child.wait_with_output().unwrap();
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{out}\n{err}");
    let story = format!("{out}\n{err}");

    let records: Vec<DecisionRecord> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(records.len() > CALM + LOAD, "{story}");
    // Calm: one replica, under the target.
    for r in &records[..CALM] {
        assert_eq!(r.current, 1, "{story}");
        assert!(!mean(r).1, "calm cycle over target: {story}");
    }
    let load = &records[CALM..CALM + LOAD];
    let peak = load.iter().map(|r| r.decided).max().unwrap();
    assert!(peak >= 2, "no scale-up under load: {story}");
    let first_breach = load
        .iter()
        .position(|r| mean(r).1)
        .expect("the load breached the target");
    assert!(
        load[first_breach..]
            .iter()
            .any(|r| !mean(r).1 && r.current > 1),
        "the mean never came back under the target with more replicas: {story}"
    );
    let after = &records[CALM + LOAD..];
    assert!(
        after.iter().any(
            |r| r.reasons.iter().any(|x| matches!(x, Reason::Decay { .. }))
                && r.outcome.is_applied()
        ),
        "no decay after the load: {story}"
    );
    assert!(after.last().unwrap().decided < peak, "{story}");

    for part in [
        "load starts",
        "load stops",
        "summary",
        "peak replicas",
        "cycles over target",
        "cycles to recover",
        "final replicas",
    ] {
        assert!(out.contains(part), "{part:?} missing: {out}");
    }
    assert!(
        out.contains(&format!("decision log          {}", log.display())),
        "{out}"
    );
    // Decays with the load on, and the breaches at the counts they left
    // (until a scale-up), as the summary counts them; cycle n is record n-1.
    let mut decays = Vec::new();
    let mut breaches = 0;
    let mut standing: Option<u32> = None;
    for (i, r) in load.iter().enumerate() {
        let cycle = CALM + i + 1;
        if mean(r).1 && standing.is_some_and(|to| r.current <= to) {
            breaches += 1;
            standing = None;
        }
        if r.current > standing.unwrap_or(u32::MAX) {
            standing = None;
        }
        if r.replicas_after() < r.current {
            // The load's last cycle has none after it to breach in.
            let last = if i + 1 == load.len() {
                ", the load's last"
            } else {
                ""
            };
            decays.push(format!(
                "{} -> {} at cycle {cycle}{last}",
                r.current,
                r.replicas_after()
            ));
            standing = Some(r.replicas_after());
        }
    }
    let decays_line = out
        .lines()
        .find(|l| l.contains("decays under load"))
        .unwrap_or_else(|| panic!("no decays line: {out}"));
    if decays.is_empty() {
        assert!(decays_line.ends_with("decays under load     none"), "{out}");
    } else {
        let then = match breaches {
            0 => "none followed by a breach".to_string(),
            n => format!("{n} followed by a breach ("),
        };
        assert!(
            decays_line.contains(&format!(
                "decays under load     {} ({}); {then}",
                decays.len(),
                decays.join(", ")
            )),
            "{out}"
        );
    }
    // The final count, and how long after the load the last change to it
    // came; cycle n is record n-1.
    let changed = records
        .iter()
        .rposition(|r| r.replicas_after() != r.current)
        .expect("the demo changed its count");
    let last = records.last().unwrap().replicas_after();
    let final_line = out.lines().find(|l| l.contains("final replicas")).unwrap();
    let expected = if changed >= CALM + LOAD {
        let after = changed + 1 - (CALM + LOAD);
        format!(
            "final replicas        {last} (decided at cycle {}, {after} cycle{} after the load's last)",
            changed + 1,
            if after == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "final replicas        {last} (decided at cycle {}, under the load)",
            changed + 1
        )
    };
    assert!(final_line.ends_with(&expected), "{expected:?} in {out}");
    // The peak as the table counts it: from the cycle after its decision.
    let top = records.iter().map(|r| r.current).max().unwrap();
    let peak_line = out.lines().find(|l| l.contains("peak replicas")).unwrap();
    assert!(
        peak_line.contains(&format!("peak replicas         {top} (from cycle ")),
        "{out}"
    );
    if let Some((shown, decided)) = peak_line
        .split("from cycle ")
        .nth(1)
        .and_then(|t| t.trim_end_matches(')').split_once(", decided at cycle "))
    {
        let (shown, decided): (u64, u64) = (shown.parse().unwrap(), decided.parse().unwrap());
        assert!(decided < shown, "{peak_line}");
    }

    // The picture beside the log.
    let png = dir.path().join("demo.png");
    assert!(
        out.contains(&format!("plot                  {} (", png.display())),
        "{out}"
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 1200);

    // The closing hints work as printed: lpa is not on PATH here, so they
    // name this binary.
    let scores = hint(&out, "scores and a picture");
    assert_eq!(scores[0], env!("CARGO_BIN_EXE_lpa"), "{out}");
    let o = Command::new(&scores[0])
        .args(&scores[1..])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}: {}", scores, stderr(&o));
    assert!(stdout(&o).contains("cycles over target"), "{}", stdout(&o));
    assert!(dir.path().join("run.svg").exists());
    let replay = hint(&out, "replay under another policy");
    let o = Command::new(&replay[0])
        .args(&replay[1..])
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}: {}", replay, stderr(&o));
    assert!(stdout(&o).contains("replay: "), "{}", stdout(&o));
    // Its own config given, the demo offers no other.
    assert!(!out.contains("learned model"), "{out}");
    assert!(err.contains(" stopped (pid "), "{err}");
    let pids = replica_pids(&err);
    assert!(pids.len() >= 2, "{err}");
    assert_all_gone(&pids, Duration::ZERO);
}

/// The command printed after `label` in the demo's closing lines (on the
/// same line, or the next one), as words.
fn hint(out: &str, label: &str) -> Vec<String> {
    let mut lines = out
        .lines()
        .skip_while(|l| !l.trim_start().starts_with(label));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no {label:?} in {out}"));
    let rest = first.trim_start()[label.len()..].trim();
    let text = if rest.is_empty() || rest.starts_with('(') {
        lines.next().unwrap().trim()
    } else {
        rest
    };
    text.split_whitespace().map(str::to_string).collect()
}

/// `cmd` (an `lpa demo`) started, its stderr read as it comes, once
/// replica `n` is ready; killed, and the test failed, if not by `wait`.
fn until_ready(mut cmd: Command, n: u32, wait: Duration) -> (Child, Lines) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Lines::new(child.stderr.take().unwrap());
    if !lines.wait_for(&format!("replica {n} ready"), wait) {
        let _ = child.kill();
        panic!("no replica {n}: {}", lines.rest(Duration::from_millis(100)));
    }
    (child, lines)
}

/// `kill -SIGNAL` to the demo, as a terminal or a pod's stop sends it.
fn signal(child: &Child, signal: &str) {
    assert!(Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

/// The demo stopped by `signal`: it exits 0 with every replica gone.
/// Returns its stdout and stderr.
fn stopped(mut child: Child, mut lines: Lines, signal_name: &str) -> (String, String) {
    signal(&child, signal_name);
    wait_bounded(&mut child, Duration::from_secs(30));
    let seen = lines.rest(Duration::from_secs(5)).to_string();
    let o = child.wait_with_output().unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{:?}: {out}\n{seen}", o.status);
    assert_all_gone(&replica_pids(&seen), Duration::ZERO);
    (out, seen)
}

#[test]
fn sigterm_mid_demo_stops_every_replica_and_prints_the_summary() {
    let mut cmd = lpa();
    cmd.arg("demo").args([
        "--calm",
        "0s",
        "--load",
        "60s",
        "--interval",
        "1s",
        "--run-time",
        "500ms",
        "--load-clients",
        "4",
    ]);
    // Wait (bounded) for the load to have added a replica.
    let (mut child, mut lines) = until_ready(cmd, 2, Duration::from_secs(60));
    signal(&child, "-TERM");
    wait_bounded(&mut child, Duration::from_secs(30));
    let seen = lines.rest(Duration::from_secs(5)).to_string();
    let o = child.wait_with_output().unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{seen}");
    assert!(out.contains("summary (stopped by signal)"), "{out}");
    assert_all_gone(&replica_pids(&seen), Duration::ZERO);
    // The demo's own directory holds the log, its picture and the seed's
    // config that the replay hint names; the hint runs as printed.
    let log = out
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("decision log"))
        .map(|p| std::path::PathBuf::from(p.trim()))
        .unwrap();
    let demo_dir = log.parent().unwrap().to_path_buf();
    assert!(demo_dir.join("decisions.png").exists(), "{out}");
    let replay = hint(&out, "replay under another policy");
    assert!(
        replay.contains(
            &demo_dir
                .join("evaluation_config.yaml")
                .display()
                .to_string()
        ),
        "{replay:?}"
    );
    let o = Command::new(&replay[0])
        .args(&replay[1..])
        .output()
        .unwrap();
    assert!(o.status.success(), "{replay:?}: {}", stderr(&o));
    // Run with the seed's config, it offers the recommended one, written
    // beside the log as the repository has it, on the same demo: the flags
    // given other than their defaults.
    let again = hint(&out, "the learned model");
    let written = demo_dir.join("recommended.yaml");
    assert_eq!(
        &again[1..],
        [
            "demo",
            "--calm",
            "0s",
            "--load",
            "60s",
            "--load-clients",
            "4",
            "--interval",
            "1s",
            "--run-time",
            "500ms",
            "--evaluation-config",
            &written.display().to_string()
        ],
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(&written).unwrap(),
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/recommended.yaml"
        ))
        .unwrap()
    );
    let o = Command::new(&again[0])
        .args(["check", "--evaluation-config"])
        .arg(&written)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_dir_all(&demo_dir).unwrap();
}

#[test]
fn bad_demo_input_is_one_error_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("demo.jsonl");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "targets: []\n").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--listen".into(), addr.clone()], "cannot listen on"),
        (
            vec!["--run-time".into(), "3s".into()],
            "--run-time 3s must be shorter than --interval 3s",
        ),
        (
            vec!["--evaluation-config".into(), bad.display().to_string()],
            "bad.yaml",
        ),
        (
            vec!["--cost".into(), "soon".into()],
            "invalid duration \"soon\"",
        ),
        // The kernel binds these for TCP, and the proxy waited for good
        // on a connection that never came.
        (
            vec!["--listen".into(), "224.0.0.1:0".into()],
            "224.0.0.1 is a multicast or broadcast address",
        ),
        (
            vec!["--listen".into(), "[::ffff:255.255.255.255]:0".into()],
            "255.255.255.255 is a multicast or broadcast address",
        ),
    ];
    for (args, expected) in cases {
        let o = lpa()
            .arg("demo")
            .args(&args)
            .arg("--decision-log")
            .arg(&log)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = stderr(&o);
        assert!(!o.status.success(), "{args:?}: {err}");
        assert_eq!(stdout(&o), "", "{args:?}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!log.exists(), "{args:?}: the decision log was created");
    }
}

/// The decision log is written for the demo's whole run: given the
/// evaluation config's path it overwrote the config, and given another
/// running demo's log, both demos' records went into it.
#[test]
fn a_decision_log_that_is_the_config_or_another_demos_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mine.yaml");
    // The config's own bounds and load test: maxReplicas bounds the demo
    // (it ran to 8), its load test's users are the demo's to set.
    let text = format!(
        "{}maxReplicas: 2\nload:\n  users: 3\n",
        std::fs::read_to_string(crate::support::fixture("../examples/recommended.yaml")).unwrap()
    );
    std::fs::write(&config, &text).unwrap();
    let o = lpa()
        .arg("demo")
        .arg("--evaluation-config")
        .arg(&config)
        .arg("--decision-log")
        .arg(dir.path().join(".").join("mine.yaml"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("is the same file as --evaluation-config"),
        "{err}"
    );
    assert_eq!(stdout(&o), "");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text);

    // A named pipe: the demo reads its log back for the summary, and the
    // open waited for a reader for good.
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut child = lpa()
        .arg("demo")
        .arg("--decision-log")
        .arg(&fifo)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_bounded(&mut child, Duration::from_secs(30));
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("not a regular file"), "{err}");

    let log = dir.path().join("demo.jsonl");
    let mut cmd = lpa();
    cmd.arg("demo")
        .args([
            "--interval",
            "3s",
            "--run-time",
            "2s",
            "--evaluation-config",
        ])
        .arg(&config)
        .arg("--decision-log")
        .arg(&log)
        // The seed's Dockerfile's: `lpa run` reads them, the demo does not.
        .env("locustUsers", "3");
    let (child, lines) = until_ready(cmd, 1, Duration::from_secs(30));
    let second = lpa()
        .arg("demo")
        .arg("--decision-log")
        .arg(&log)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = stderr(&second);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(err.contains("another process holds its lock"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(stdout(&second), "");
    let (out, seen) = stopped(child, lines, "-INT");
    assert!(out.contains("at most 2 replicas"), "{out}");
    assert!(seen.contains("mine.yaml: load.users not used"), "{seen}");
    assert!(
        seen.contains("lpa demo: warning: env locustUsers not used"),
        "{seen}"
    );
    // Only the first demo's records: one pool's address in each, within
    // the config's maxReplicas.
    let written = std::fs::read_to_string(&log).unwrap();
    let mut targets = std::collections::BTreeSet::new();
    for line in written.lines() {
        let r: DecisionRecord = serde_json::from_str(line).unwrap();
        assert!(r.decided <= 2, "{line}");
        targets.insert(r.target);
    }
    assert!(targets.len() <= 1, "{written}");
}

#[test]
fn a_stop_before_the_first_decision_offers_no_command_on_the_empty_log() {
    let mut cmd = lpa();
    cmd.arg("demo")
        .args(["--interval", "3s", "--run-time", "2s"]);
    let (child, lines) = until_ready(cmd, 1, Duration::from_secs(30));
    // Inside the first cycle's 2 s load test.
    let (out, _) = stopped(child, lines, "-INT");
    assert!(out.contains("no decision logged"), "{out}");
    // No "peak replicas 0": one ran.
    assert!(!out.contains("peak replicas"), "{out}");
    assert!(!out.contains(" report "), "{out}");
    assert!(!out.contains("--replay"), "{out}");
    let again = hint(&out, "the learned model");
    assert_eq!(again[1], "demo", "{out}");
    std::fs::remove_dir_all(demo_dir(&out)).unwrap();
}

/// The directory of the demo's files, from its summary's decision log.
fn demo_dir(summary: &str) -> std::path::PathBuf {
    let log = summary
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("decision log"))
        .map(|p| p.trim().trim_end_matches(" (empty)").to_string())
        .unwrap_or_else(|| panic!("no decision log in {summary}"));
    std::path::Path::new(&log).parent().unwrap().to_path_buf()
}

/// A config written for another service is said up front: each cycle
/// would show only its requests failing.
#[test]
fn requests_the_demo_service_cannot_answer_are_named_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("other.yaml");
    std::fs::write(
        &config,
        "targets:\n  - {method: GET, endpoint: /api/orders, type: p95, target: 50}\n  - {method: GET, endpoint: /fibonacci?n=10, type: mean, target: 7}\n",
    )
    .unwrap();
    let mut cmd = lpa();
    cmd.arg("demo")
        .arg("--evaluation-config")
        .arg(&config)
        .args(["--interval", "3s", "--run-time", "2s"]);
    let (child, lines) = until_ready(cmd, 1, Duration::from_secs(30));
    let (out, seen) = stopped(child, lines, "-INT");
    let warning = seen
        .lines()
        .find(|l| l.contains("the demo's service has no endpoint"))
        .unwrap_or_else(|| panic!("no warning in {seen}"));
    assert!(
        warning.starts_with("lpa demo: warning: the demo's service has no endpoint for GET /api/orders: it answers 404"),
        "{warning}"
    );
    assert!(!warning.contains("/fibonacci?n=10,"), "{warning}");
    std::fs::remove_dir_all(demo_dir(&out)).unwrap();
}

#[test]
fn sighup_stops_the_demo_in_order_and_leaves_no_state_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = lpa();
    cmd.arg("demo")
        .args(["--interval", "3s", "--run-time", "2s", "--decision-log"])
        .arg(dir.path().join("demo.jsonl"));
    let (child, lines) = until_ready(cmd, 1, Duration::from_secs(30));
    let pid = child.id();
    // The terminal closed.
    let (out, _) = stopped(child, lines, "-HUP");
    assert!(out.contains("summary (stopped by signal)"), "{out}");
    let state = std::env::temp_dir().join(format!("lpa-demo-{pid}-state"));
    assert!(!state.exists(), "{} left behind", state.display());
}

#[test]
fn a_second_signal_leaves_no_demo_state_behind() {
    let dir = tempfile::tempdir().unwrap();
    // Requests that take 1000 s: the first stop waits out the cycle's load test.
    let mut cmd = lpa();
    cmd.arg("demo")
        .args(["--cost", "1000s", "--interval", "3s", "--run-time", "2s"])
        .arg("--decision-log")
        .arg(dir.path().join("demo.jsonl"));
    let (mut child, mut lines) = until_ready(cmd, 1, Duration::from_secs(30));
    let pid = child.id();
    let state = std::env::temp_dir().join(format!("lpa-demo-{pid}-state"));
    assert!(state.exists(), "{}", state.display());
    // Into the first cycle's load test (2 s, its requests hung, then the
    // grace), which the first stop waits out: a stop before it begins ends
    // at once, exit 0, and the second signal finds nothing to cut short.
    thread::sleep(Duration::from_secs(1));
    for _ in 0..2 {
        signal(&child, "-INT");
        thread::sleep(Duration::from_millis(300));
    }
    wait_bounded(&mut child, Duration::from_secs(10));
    let seen = lines.rest(Duration::from_secs(5)).to_string();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}\n{seen}", stdout(&o));
    assert_all_gone(&replica_pids(&seen), Duration::ZERO);
    assert!(!state.exists(), "{} left behind", state.display());
}

#[test]
fn the_replay_hint_replays_the_run_under_its_own_max_replicas() {
    let dir = tempfile::tempdir().unwrap();
    // 20 ms a request breaches the 7 ms target at once; --max-replicas 1
    // clamps every scale-up.
    let o = lpa()
        .arg("demo")
        .args(["--calm", "0s", "--load", "1s", "--recover", "1s"])
        .args(["--interval", "1s", "--run-time", "500ms", "--cost", "20ms"])
        .args(["--max-replicas", "1", "--load-clients", "1"])
        .arg("--decision-log")
        .arg(dir.path().join("demo.jsonl"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.contains("clamped 2 -> 1 by maxReplicas"), "{out}");
    assert!(!out.contains("never breached"), "{out}");
    let replay = hint(&out, "replay under another policy");
    let o = Command::new(&replay[0])
        .args(&replay[1..])
        .output()
        .unwrap();
    let text = stdout(&o);
    assert!(o.status.success(), "{replay:?}: {}", stderr(&o));
    let same = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("same decision"))
        .unwrap_or_else(|| panic!("{text}"));
    let words: Vec<&str> = same.split_whitespace().collect();
    assert_eq!(words[0], words[2], "{replay:?}: {text}");
}
