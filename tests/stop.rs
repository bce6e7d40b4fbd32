//! How `lpa run --scaler local` stops replicas that do not want to stop:
//! SIGTERM to the replica's process group, then SIGKILL when the grace
//! (3 s, README "Scaling down drains") is over. The hostile replicas are
//! real `lpa serve` processes with SIGTERM ignored: `trap "" TERM` in sh,
//! and an ignored signal stays ignored across exec. None of them watches
//! its stdin (no --exit-with-parent), so only the signals can end them.
//! Last, a replica that never becomes ready takes what it started with it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::local::{
    assert_all_gone, replica_pids, run_local, serve_alive, sigterm, wait_bounded, Lines,
};

/// The documented wait between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(3);
/// What a busy 2-core machine may add to a bound: spawning `kill`, the
/// load test's ramp, scheduling. Well under the grace, so an early kill or
/// a second grace still fails the test.
const SLACK: Duration = Duration::from_millis(2500);
/// Lines arrive through a pipe and a thread: a measured interval may start
/// this much late.
const EARLY: Duration = Duration::from_millis(250);
/// How long the test waits for any one step before it gives up.
const STEP: Duration = Duration::from_secs(30);

/// `lpa serve` with SIGTERM ignored; `wrapper` is sh code around `SERVE`.
fn hostile(wrapper: &str) -> String {
    let serve = format!(
        "{} serve --listen 127.0.0.1:{{port}}",
        env!("CARGO_BIN_EXE_lpa")
    );
    format!("sh -c '{}'", wrapper.replace("SERVE", &serve))
}

/// The replica is the server itself: sh ignores SIGTERM and execs it.
const EXEC: &str = "trap \"\" TERM; exec SERVE";

/// Whether `pid` has SIGTERM ignored (SigIgn in /proc: bit 15 - 1): the
/// hostile child is what the test says it is.
fn ignores_sigterm(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (15 - 1)) != 0)
}

/// No process with this pid: lpa reaped its child (a pid is not reused
/// within seconds).
fn reaped(pid: u32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The processes for which `pick(parent pid, state, argv with NULs)` holds.
fn processes(pick: impl Fn(u32, char, &[u8]) -> bool) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // "pid (comm) state ppid ...": comm may hold anything but ')'.
        let mut fields = stat.rsplit(')').next().unwrap_or("").split_whitespace();
        let state = fields.next().and_then(|s| s.chars().next());
        let ppid = fields.next().and_then(|p| p.parse::<u32>().ok());
        let (Some(state), Some(ppid)) = (state, ppid) else {
            continue;
        };
        let argv = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if pick(ppid, state, &argv) {
            found.push(pid);
        }
    }
    found
}

fn children_of(parent: u32) -> Vec<u32> {
    processes(|ppid, _, _| ppid == parent)
}

/// Live (not zombie) processes running exactly `argv`.
fn running(argv: &[&str]) -> Vec<u32> {
    let want: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    processes(|_, state, cmdline| state != 'Z' && cmdline == want)
}

/// Kills (SIGKILL, by pid) what a failing test would leave running: lpa
/// with a 60 s interval, and replicas nothing else can stop. Only processes
/// of this lpa binary, so a pid reused meanwhile is left alone.
struct Cleanup(Vec<u32>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for pid in &self.0 {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(env!("CARGO_BIN_EXE_lpa")) {
                let _ = Command::new("kill")
                    .args(["-s", "KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

fn start(replica_cmd: &str, extra: &[&str], dir: &std::path::Path) -> (Child, Lines) {
    let mut c = run_local(replica_cmd, extra, dir);
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let lines = Lines::new(child.stderr.take().unwrap());
    (child, lines)
}

/// lpa with one replica (`wrapper` around `SERVE`), past its first cycle
/// and waiting out a 60 s interval, and the replica's pid. One replica
/// whatever the first run reads: a machine busy with other tests can push
/// it past the seed's 7 ms, and a second replica is not what the callers
/// are about.
fn one_replica_idling(wrapper: &str, dir: &std::path::Path) -> (Child, Lines, Cleanup, Vec<u32>) {
    let (mut child, mut lines) = start(
        &hostile(wrapper),
        &[
            "--interval",
            "60s",
            "--run-time",
            "300ms",
            "--max-replicas",
            "1",
        ],
        dir,
    );
    let mut cleanup = Cleanup(vec![child.id()]);
    expect_line(&mut child, &mut lines, "lpa run: #1 ");
    let pids = replica_pids(&lines.seen);
    cleanup.0.extend(&pids);
    assert_eq!(pids.len(), 1, "{}", lines.seen);
    (child, lines, cleanup, pids)
}

/// Waits for a line containing `what`; on timeout kills lpa and fails with
/// what it said.
fn expect_line(child: &mut Child, lines: &mut Lines, what: &str) -> Instant {
    if !lines.wait_for(what, STEP) {
        let _ = child.kill();
        panic!(
            "no {what:?} from lpa:\n{}",
            lines.rest(Duration::from_millis(200))
        );
    }
    Instant::now()
}

/// The last line seen so far; after `expect_line`, the line it waited for.
fn last(lines: &Lines) -> &str {
    lines.seen.lines().last().unwrap_or("")
}

fn assert_killed(line: &str, pid: u32) {
    assert!(
        line.contains(&format!(
            "(pid {pid}, still running 3s after SIGTERM: killed with SIGKILL)"
        )),
        "{line}"
    );
}

fn assert_within(what: &str, took: Duration, low: Duration, high: Duration) {
    // Shown with --nocapture: how close to the bound a machine runs.
    eprintln!("{what}: {took:?}");
    assert!(
        took >= low && took <= high,
        "{what} took {took:?}, expected {low:?} to {high:?}"
    );
}

#[test]
fn a_replica_ignoring_sigterm_is_killed_on_scale_down_and_on_exit() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    // Three replicas, at most one: the first cycle scales down to 1 (the
    // two newest go, together), then --once ends lpa, which stops the
    // other.
    let (mut child, mut lines) = start(
        &hostile(EXEC),
        &[
            "--replicas",
            "3",
            "--max-replicas",
            "1",
            "--once",
            "--run-time",
            "300ms",
            "--drain-timeout",
            "0s",
        ],
        dir.path(),
    );
    let mut cleanup = Cleanup(vec![child.id()]);
    let header = expect_line(&mut child, &mut lines, "lpa run: local pool on ");
    let pids = replica_pids(&lines.seen);
    cleanup.0.extend(&pids);
    assert_eq!(pids.len(), 3, "{}", lines.seen);
    let warned = "lpa run: warning: --replicas 3: above maxReplicas 1";
    assert!(
        lines.seen.contains(warned) || lines.wait_for(warned, Duration::from_secs(5)),
        "{}",
        lines.seen
    );
    for pid in &pids {
        assert!(
            ignores_sigterm(*pid),
            "replica {pid} does not ignore SIGTERM"
        );
    }

    // Scale-down: the load test (300 ms), SIGTERM, the grace, SIGKILL; the
    // two together, one grace, where one after the other took two.
    expect_line(&mut child, &mut lines, "replica 3 drained and stopped");
    assert_killed(last(&lines), pids[2]);
    let stopped = expect_line(&mut child, &mut lines, "replica 2 drained and stopped");
    assert_killed(last(&lines), pids[1]);
    for (n, pid) in [(2, pids[1]), (3, pids[2])] {
        assert!(reaped(pid), "replica {n} (pid {pid}) left behind");
    }
    assert_within(
        "the scale-down",
        stopped - header,
        GRACE - EARLY,
        GRACE + Duration::from_millis(300) + SLACK,
    );
    assert!(serve_alive(pids[0]), "replica 1 must still serve");
    let cycle = expect_line(&mut child, &mut lines, "lpa run: #1 ");
    assert!(
        last(&lines).contains("GET_/fibonacci?n=10 mean")
            && last(&lines).ends_with("(scaled 3 -> 1)"),
        "the stubborn replicas served the load test: {}",
        last(&lines)
    );

    // Exit after --once: SIGTERM, the grace, SIGKILL, then lpa ends; no
    // drain, as nothing is served any more.
    expect_line(&mut child, &mut lines, "replica 1 stopped");
    assert_killed(last(&lines), pids[0]);
    wait_bounded(&mut child, STEP);
    let ended = Instant::now();
    let status = child.wait().unwrap();
    let err = lines.rest(Duration::from_secs(5)).to_string();
    assert!(status.success(), "{err}");
    assert!(reaped(pids[0]), "replica 1 (pid {}) left behind", pids[0]);
    assert_within("the exit", ended - cycle, GRACE - EARLY, GRACE + SLACK);
    assert!(started.elapsed() < Duration::from_secs(20), "{err}");
}

#[test]
fn a_replica_ignoring_sigterm_is_killed_when_lpa_gets_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut lines, _cleanup, pids) = one_replica_idling(EXEC, dir.path());
    assert!(ignores_sigterm(pids[0]));
    // While the loop sleeps out its interval.
    let signalled = Instant::now();
    sigterm(&child);
    wait_bounded(&mut child, STEP);
    let took = signalled.elapsed();
    let status = child.wait().unwrap();
    let err = lines.rest(Duration::from_secs(5)).to_string();
    assert!(status.success(), "{err}");
    assert!(
        err.contains("lpa run: stopped by signal after 1 cycle"),
        "{err}"
    );
    let line = err
        .lines()
        .find(|l| l.contains("replica 1 stopped"))
        .unwrap_or_else(|| panic!("no stop line:\n{err}"));
    assert_killed(line, pids[0]);
    assert!(reaped(pids[0]), "replica 1 (pid {}) left behind", pids[0]);
    assert_within("the stop", took, GRACE, GRACE + SLACK);
}

#[test]
fn processes_a_replica_started_are_stopped_with_it() {
    // The server is not the replica but its child, in the replica's process
    // group: a wrapper script that does not exec. Either the wrapper too
    // ignores SIGTERM (it waits for the server), or it ends at once and
    // leaves its child behind to the group's SIGKILL.
    for (wrapper, how) in [
        (
            "trap \"\" TERM; SERVE; exit 0",
            "still running 3s after SIGTERM: killed with SIGKILL",
        ),
        (
            "(trap \"\" TERM; exec SERVE); exit 0",
            "exited after SIGTERM; processes it started were still there 3s after: killed with SIGKILL",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (mut child, mut lines) = start(
            &hostile(wrapper),
            &["--once", "--run-time", "300ms"],
            dir.path(),
        );
        let mut cleanup = Cleanup(vec![child.id()]);
        expect_line(&mut child, &mut lines, "lpa run: local pool on ");
        let replica = replica_pids(&lines.seen)[0];
        let servers = children_of(replica);
        cleanup.0.push(replica);
        cleanup.0.extend(&servers);
        assert_eq!(servers.len(), 1, "{wrapper}: {servers:?}");
        let server = servers[0];
        assert!(serve_alive(server) && ignores_sigterm(server), "{wrapper}");
        let cycle = expect_line(&mut child, &mut lines, "lpa run: #1 ");
        wait_bounded(&mut child, STEP);
        let took = cycle.elapsed();
        let err = lines.rest(Duration::from_secs(5)).to_string();
        assert!(
            err.contains(&format!(
                "replica 1 stopped (pid {replica}, {how})"
            )),
            "{wrapper}:\n{err}"
        );
        assert!(reaped(replica), "{wrapper}: the replica was not reaped");
        // Not lpa's child: init reaps it. SIGKILL is sent but takes effect
        // on the kernel's time, so a moment.
        assert_all_gone(&[server], Duration::from_secs(1));
        assert_within(wrapper, took, GRACE - EARLY, GRACE + SLACK);
    }
}

#[test]
fn a_replica_that_never_listens_is_stopped_with_what_it_started() {
    // The shell forks the sleep (a command follows it); the sleep's argv
    // carries the port, so the test finds its own.
    let dir = tempfile::tempdir().unwrap();
    let mut c = run_local(
        "sh -c 'sleep 29.{port}; exit 0'",
        &["--once", "--ready-timeout", "300ms"],
        dir.path(),
    );
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    wait_bounded(&mut child, STEP);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("did not accept connections within 300 ms"),
        "{err}"
    );
    let port = err
        .split("replica on 127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no port in {err}"));
    let sleep = format!("29.{port}");
    // SIGKILL takes effect on the kernel's time; then the orphan is init's
    // to reap. (One left by a failure ends by itself within 30 s.)
    let deadline = Instant::now() + Duration::from_secs(2);
    while !running(&["sleep", &sleep]).is_empty() {
        assert!(
            Instant::now() < deadline,
            "sleep {sleep} outlived its replica"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A signal while the first replicas start ends the run, and stops them
/// at once: before the handler, the default action ended lpa and left
/// them; then lpa waited for them to be ready (up to --ready-timeout).
#[test]
fn a_signal_while_the_first_replica_starts_stops_it_too() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut lines) = start(
        &hostile("sleep 3; exec SERVE"),
        &["--interval", "60s", "--run-time", "300ms"],
        dir.path(),
    );
    let mut cleanup = Cleanup(vec![child.id()]);
    expect_line(&mut child, &mut lines, "lpa run: local: listening on ");
    let signalled = Instant::now();
    sigterm(&child);
    wait_bounded(&mut child, STEP);
    let status = child.wait().unwrap();
    let took = signalled.elapsed();
    let err = lines.rest(Duration::from_secs(5)).to_string();
    let pids: Vec<u32> = err
        .lines()
        .filter(|l| l.contains("a stop signal came before replica 1 (pid "))
        .filter_map(|l| l.split("(pid ").nth(1)?.split(')').next()?.parse().ok())
        .collect();
    cleanup.0.extend(&pids);
    assert!(status.success(), "{status}: {err}");
    assert!(
        err.contains("lpa run: stopped by signal after 0 cycles; state untouched (no cycle ran)"),
        "{err}"
    );
    assert_eq!(pids.len(), 1, "{err}");
    assert!(reaped(pids[0]), "replica 1 (pid {}) left behind", pids[0]);
    assert!(
        replica_pids(&err).is_empty(),
        "waited for it: {took:?}\n{err}"
    );
    assert!(!dir.path().join("decay_info.json").exists());
}

/// One loop per state file: a second `lpa run` on it fails at once, where
/// both ran and mixed their decay counters.
#[test]
fn a_second_loop_on_one_state_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _lines, _cleanup, _) = one_replica_idling("exec SERVE", dir.path());
    let second = run_local("nothing-to-start {port}", &["--once"], dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr).to_string();
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("decay_info.json: in use by another lpa run (it holds ")
            && err.contains("give each its own --decay-info"),
        "{err}"
    );
    sigterm(&child);
    wait_bounded(&mut child, STEP);
    assert!(child.wait().unwrap().success());
    // Released with the loop: the next one runs.
    let again = run_local("nothing-to-start {port}", &["--once"], dir.path())
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&again.stderr).contains("in use"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

/// A second signal while the first stop waits out a replica's grace ends
/// lpa at once, exit 1, and takes the replica with it: a replica that
/// ignores SIGTERM and does not watch its stdin would otherwise outlive
/// lpa for good.
#[test]
fn a_second_signal_exits_at_once_and_leaves_no_replica() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut lines, _cleanup, pids) = one_replica_idling(EXEC, dir.path());
    assert!(ignores_sigterm(pids[0]));
    sigterm(&child);
    // The orderly stop has begun: it sends the replica SIGTERM, which it
    // ignores, and waits 3 s before its SIGKILL.
    std::thread::sleep(Duration::from_millis(500));
    let signalled = Instant::now();
    sigterm(&child);
    wait_bounded(&mut child, STEP);
    let took = signalled.elapsed();
    let status = child.wait().unwrap();
    let err = lines.rest(Duration::from_millis(500)).to_string();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(took < GRACE, "the second signal waited {took:?}: {err}");
    // The replica is lpa serve, not lpa's child any more: gone, or a zombie
    // init has yet to reap.
    let gone = || {
        std::fs::read_to_string(format!("/proc/{}/stat", pids[0])).map_or(true, |s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gone() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(gone(), "replica 1 (pid {}) outlived lpa:\n{err}", pids[0]);
}
