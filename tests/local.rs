//! `lpa run --scaler local`: the pool of real `lpa serve` replicas behind
//! the proxy, through the binary. Bad input first, then the loop, then what
//! happens to the replicas when lpa is stopped or killed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{file_size_limit, fixture, lpa, stderr, stdout};

/// The replica command of the demo, as a user would write it.
pub fn serve_cmd() -> String {
    format!(
        "{} serve --listen 127.0.0.1:{{port}} --serial --cost 0.003 --exit-with-parent",
        env!("CARGO_BIN_EXE_lpa")
    )
}

pub fn run_local(replica_cmd: &str, extra: &[&str], dir: &std::path::Path) -> Command {
    run_local_with(&fixture("evaluation/seed.yaml"), replica_cmd, extra, dir)
}

/// [`run_local`] deciding by `config`.
fn run_local_with(
    config: &std::path::Path,
    replica_cmd: &str,
    extra: &[&str],
    dir: &std::path::Path,
) -> Command {
    let mut c = lpa();
    c.args(["run", "--scaler", "local", "--replica-cmd", replica_cmd])
        .arg("--evaluation-config")
        .arg(config)
        .arg("--decay-info")
        .arg(dir.join("decay_info.json"))
        .args(extra)
        .stdin(Stdio::null());
    c
}

fn output(mut c: Command) -> Output {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    wait_bounded(&mut child, Duration::from_secs(60));
    child.wait_with_output().unwrap()
}

/// Sends lpa SIGTERM, as a pod's stop or `kill` does.
pub fn sigterm(child: &Child) {
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

pub fn wait_bounded(child: &mut Child, limit: Duration) {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("lpa did not exit within {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// One error line, non-zero exit, nothing on stdout.
fn assert_one_error(o: &Output, expected: &[&str]) {
    let err = stderr(o);
    assert!(!o.status.success(), "{err}");
    assert_eq!(stdout(o), "");
    let last = err.lines().last().unwrap_or("");
    assert!(last.starts_with("lpa: error: "), "{err}");
    for e in expected {
        assert!(last.contains(e), "expected {e:?} in {last:?}");
    }
}

/// The fields of `/proc/PID/stat` after the command name (state, parent,
/// process group, ...); empty when the process is gone.
fn stat_fields(pid: &str) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // "pid (comm) state ...": comm may hold anything, ')' too.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    rest.split_whitespace().map(str::to_string).collect()
}

/// Whether `pid` is a live `lpa serve` process (not gone, not a zombie, not
/// a reused pid of something else).
pub fn serve_alive(pid: u32) -> bool {
    let fields = stat_fields(&pid.to_string());
    let state = fields.first().and_then(|s| s.chars().next());
    if matches!(state, Some('Z' | 'X') | None) {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("serve"))
        .unwrap_or(false)
}

/// The pids in the pool's "replica N ready on ADDR (pid P, ...)" lines.
pub fn replica_pids(stderr: &str) -> Vec<u32> {
    stderr
        .lines()
        .filter(|l| l.contains(" ready on "))
        .filter_map(|l| l.split("(pid ").nth(1)?.split(',').next()?.parse().ok())
        .collect()
}

pub fn assert_all_gone(pids: &[u32], within: Duration) {
    assert!(!pids.is_empty());
    let deadline = Instant::now() + within;
    loop {
        let alive: Vec<u32> = pids.iter().copied().filter(|p| serve_alive(*p)).collect();
        if alive.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replicas still running: {alive:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_replica_command_that_exits_at_once_is_one_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let o = output(run_local(
        &format!(
            "{} serve --listen 127.0.0.1:{{port}} --cost nonsense",
            env!("CARGO_BIN_EXE_lpa")
        ),
        &["--once"],
        dir.path(),
    ));
    assert_one_error(
        &o,
        &[
            "replica command \"",
            "serve --listen 127.0.0.1:{port} --cost nonsense\"",
            "exited (exit status 1) before accepting connections",
            "stderr: lpa: error: --cost: invalid value \"nonsense\"",
        ],
    );
    assert!(
        !dir.path().join("decay_info.json").exists(),
        "no state written"
    );
}

#[test]
fn a_replica_command_that_never_listens_is_stopped_and_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let o = output(run_local(
        "sleep 30 {port}",
        &["--once", "--ready-timeout", "500ms"],
        dir.path(),
    ));
    assert_one_error(
        &o,
        &[
            "replica command \"sleep 30 {port}\"",
            "did not accept connections within 500 ms; no stderr",
        ],
    );
    // The sleep was killed, not waited for.
    assert!(started.elapsed() < Duration::from_secs(25));
}

/// A replica that loses its port to a process outside its process group
/// (`setsid`, as an unrelated server would be) that listens there first:
/// on its first start only, or on every start. Each squatter's group id is
/// a line of `dir/squatters`.
fn replica_losing_ports(dir: &std::path::Path, every_start: bool) -> String {
    let lpa = env!("CARGO_BIN_EXE_lpa");
    let mark = dir.join("first-started");
    let pids = dir.join("squatters");
    let squat = format!(
        "setsid sh -c \"echo \\$\\$ >> {pids}; exec timeout 60 {lpa} serve --listen 127.0.0.1:{{port}}\" & sleep 1;",
        pids = pids.display(),
    );
    let squat = if every_start {
        squat
    } else {
        let mark = mark.display();
        format!("if ! test -e {mark}; then touch {mark}; {squat} fi;")
    };
    format!("sh -c '{squat} exec {lpa} serve --listen 127.0.0.1:{{port}} --exit-with-parent'")
}

/// Stops the squatters [`replica_losing_ports`] started; their group ids.
fn stop_squatters(dir: &std::path::Path) -> Vec<String> {
    let squatters = std::fs::read_to_string(dir.join("squatters")).unwrap_or_default();
    let groups: Vec<String> = squatters.lines().map(str::to_string).collect();
    for group in &groups {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{group}")])
            .status();
    }
    groups
}

#[test]
fn a_replica_whose_port_another_process_took_starts_again_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let o = output(run_local(
        &replica_losing_ports(dir.path(), false),
        &["--once", "--run-time", "500ms"],
        dir.path(),
    ));
    let err = stderr(&o);
    // The connect that succeeded reached the squatter, not this replica, and
    // the line names the squatter's server (its group's, under `timeout`).
    let (named, taken) = err
        .lines()
        .find_map(|l| {
            l.split("replica 1: pid ")
                .nth(1)?
                .split_once(" (lpa) took ")
        })
        .unwrap_or_else(|| panic!("no port taken: {err}"));
    let fields = stat_fields(named);
    let squatters = stop_squatters(dir.path());
    assert_eq!(squatters.len(), 1, "a squatter on the first start only");
    assert_eq!(fields.get(2), squatters.first(), "pid {named}: {fields:?}");
    assert!(o.status.success(), "{err}");
    let (first, rest) = taken.split_once(' ').unwrap();
    let again = rest.rsplit(' ').next().unwrap();
    assert_ne!(first, again, "{err}");
    assert!(
        err.contains(&format!("replica 1 ready on {again} (pid ")),
        "{err}"
    );
    assert!(!err.contains(&format!("ready on {first} ")), "{err}");
    assert!(err.contains("lpa run: #1 "), "{err}");
}

#[test]
fn a_replica_that_loses_three_ports_in_a_row_is_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = output(run_local(
        &replica_losing_ports(dir.path(), true),
        &["--once"],
        dir.path(),
    ));
    let squatters = stop_squatters(dir.path());
    assert_eq!(squatters.len(), 3, "one squatter per start");
    assert_one_error(
        &o,
        &[
            "could not listen: 3 free ports in a row were taken before the replica bound them, the last by pid ",
            " (lpa), left running; the replica's own process group must listen on {port} (a server the command starts as a daemon",
        ],
    );
    let err = stderr(&o);
    assert_eq!(err.matches(" (lpa) took 127.0.0.1:").count(), 2, "{err}");
    assert!(!err.contains(" ready on "), "{err}");
    assert!(
        !dir.path().join("decay_info.json").exists(),
        "no state written"
    );
}

#[test]
fn bad_local_arguments_are_one_error_each() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let cases: Vec<(Vec<&str>, &str, Vec<&str>)> = vec![
        (
            vec!["--listen", &addr, "--once"],
            "srv {port}",
            vec!["cannot listen on", &addr, "in use"],
        ),
        (
            vec!["--once"],
            "srv --port 80",
            vec!["no {port} placeholder"],
        ),
        (vec!["--once"], "srv '{port}", vec!["unterminated ' quote"]),
        (
            vec!["--once"],
            "/nonexistent/srv {port}",
            vec!["cannot start /nonexistent/srv"],
        ),
    ];
    for (extra, cmd, expected) in cases {
        let o = output(run_local(cmd, &extra, dir.path()));
        assert_one_error(&o, &expected);
    }
    // clap's own error for a missing --replica-cmd.
    let o = output({
        let mut c = lpa();
        c.args(["run", "--scaler", "local", "--once"]);
        c
    });
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--replica-cmd"), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
}

/// An output on an input's path destroyed it: a decision log on the
/// evaluation config appended JSON to it (after cutting its last line, read
/// as a record cut short), a state file there replaced it; a log and a
/// state file on one path wrote over each other.
#[test]
fn an_output_on_the_path_of_an_input_or_another_output_is_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mine.yaml");
    let text = std::fs::read_to_string(fixture("evaluation/seed.yaml")).unwrap();
    std::fs::write(&config, &text).unwrap();
    let at = |name: &str| dir.path().join(name);
    let same = at(".").join("mine.yaml");
    let fresh = at("out.json");
    // A link to where the state will be, and a name the state's save
    // removes as its stale temp file.
    std::os::unix::fs::symlink("out.json", at("link.jsonl")).unwrap();
    let state_own = "--decay-info";
    let cases: Vec<([std::path::PathBuf; 2], [&str; 2])> = vec![
        (
            [same.clone(), at("decay_info.json")],
            ["--decision-log", "is the same file as --evaluation-config"],
        ),
        ([at("log.jsonl"), same], ["--evaluation-config", "own file"]),
        (
            [fresh.clone(), at(".").join("out.json")],
            ["--decision-log", "own file"],
        ),
        (
            [at("link.jsonl"), fresh.clone()],
            ["--decision-log", "own file"],
        ),
        (
            [at(".out.json.tmp.log"), fresh.clone()],
            ["--decision-log", "own file"],
        ),
        // Where the state's copy in the cluster is noted.
        (
            [at(".out.json.synced"), fresh.clone()],
            ["--decision-log", "own file"],
        ),
        // Rotation renames the log to FILE.1, replacing what was there.
        (
            [at("log.jsonl"), at("log.jsonl.1")],
            ["--decision-log's rotation to", "own file"],
        ),
    ];
    let run = |config: &Path, log: &Path, state: &Path, size: &str| {
        let mut c = lpa();
        c.args(["run", "--scaler", "local", "--replica-cmd", "srv {port}"])
            .args(["--once", "--decision-log-max-size", size])
            .arg("--evaluation-config")
            .arg(config)
            .arg("--decision-log")
            .arg(log)
            .arg("--decay-info")
            .arg(state)
            .stdin(Stdio::null());
        output(c)
    };
    for ([log, state], expected) in cases {
        let o = run(&config, &log, &state, "32MiB");
        assert_one_error(&o, &expected);
        if expected[1] == "own file" {
            assert!(stderr(&o).contains(state_own), "{}", stderr(&o));
        }
        assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
        assert!(!fresh.exists() && !at("log.jsonl").exists() && !at(".out.json.tmp.log").exists());
        assert!(!at(".out.json.synced").exists());
    }
    // The config where rotation would put the log's older lines; with
    // rotation off, nothing goes there.
    let rotated_config = at("log.jsonl.1");
    std::fs::write(&rotated_config, &text).unwrap();
    for (size, expected) in [("4kB", Some("--decision-log's rotation to")), ("off", None)] {
        let o = run(&rotated_config, &at("log.jsonl"), &fresh, size);
        match expected {
            Some(flag) => assert_one_error(&o, &[flag, "is the same file as --evaluation-config"]),
            // Past the check: the replica command is what fails.
            None => assert!(stderr(&o).contains("cannot start srv"), "{}", stderr(&o)),
        }
        assert_eq!(std::fs::read_to_string(&rotated_config).unwrap(), text);
    }
    // The locustfile (read at start, and by the CPA hooks) is an input too.
    let locustfile = at("lf.py");
    let script = std::fs::read_to_string(fixture("locust/seed_locustfile.py")).unwrap();
    std::fs::write(&locustfile, &script).unwrap();
    let with_locustfile = |log: &Path, state: &Path| {
        let mut c = lpa();
        c.args([
            "run",
            "--scaler",
            "local",
            "--replica-cmd",
            "srv {port}",
            "--once",
        ])
        .arg("--evaluation-config")
        .arg(&config)
        .arg("--decision-log")
        .arg(log)
        .arg("--decay-info")
        .arg(state)
        .env("locustFilePath", &locustfile)
        .stdin(Stdio::null());
        output(c)
    };
    let o = with_locustfile(&at("log.jsonl"), &at(".").join("lf.py"));
    assert_one_error(&o, &["--locustfile (locustFilePath)", "own file"]);
    let o = with_locustfile(&at("./lf.py"), &fresh);
    assert_one_error(
        &o,
        &[
            "--decision-log",
            "is the same file as --locustfile (locustFilePath)",
        ],
    );
    assert_eq!(std::fs::read_to_string(&locustfile).unwrap(), script);
}

/// A full disk takes a log line up to its last free block. The part left
/// had the next line joined to it once space came back, and `lpa report`
/// and `--replay` refused the whole log. Here the file-size limit stands
/// for the full disk: the third line goes in part way.
#[test]
fn a_log_line_a_full_disk_cut_short_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("decisions.jsonl");
    let run = run_local(
        &serve_cmd(),
        &[
            "--interval",
            "0",
            "--run-time",
            "200ms",
            "--max-cycles",
            "4",
        ],
        dir.path(),
    );
    // 3 KiB holds two records of about 1.1 kB.
    let mut limited = file_size_limit(&run, 3);
    limited.arg("--decision-log").arg(&log);
    let o = output(limited);
    let err = stderr(&o);
    assert!(
        err.contains("decision log failed:") && err.contains("cannot append"),
        "{err}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.ends_with('\n'), "a part of a line left: {text:?}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(!lines.is_empty() && lines.len() < 4, "{text}");
    for l in lines {
        serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"));
    }
}

/// A save that fails after the scale (a full disk; here a file-size limit
/// of 0, which leaves the empty lock files be) keeps the state in memory.
/// From the file's older state, the loop read its own decay as an outside
/// change every cycle, and never counted a calm run.
#[test]
fn a_state_the_disk_cannot_take_is_decided_from_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("decay_info.json");
    std::fs::write(&state, r#"{"runs_since_change": 3, "last_replicas": 2}"#).unwrap();
    // Every run calm, however busy the machine: the seed's decay, with a
    // target no stall of a loaded machine breaches.
    let calm = dir.path().join("calm.yaml");
    std::fs::write(
        &calm,
        "targets:\n  - {endpoint: \"/fibonacci?n=10\", type: mean, target: 500}\ndecay: {replicas: 1, unchangedRuns: 3}\n",
    )
    .unwrap();
    let quick = format!(
        "{} serve --listen 127.0.0.1:{{port}} --cost 0.0005 --exit-with-parent",
        env!("CARGO_BIN_EXE_lpa")
    );
    let run = run_local_with(
        &calm,
        &quick,
        &[
            "--replicas",
            "2",
            "--interval",
            "0",
            "--run-time",
            "300ms",
            "--max-cycles",
            "3",
        ],
        dir.path(),
    );
    let o = output(file_size_limit(&run, 0));
    let err = stderr(&o);
    assert!(err.contains("#1 ") && err.contains("decay 2 -> 1"), "{err}");
    assert!(
        err.contains("kept in memory, the next cycle decides from it"),
        "{err}"
    );
    assert!(!err.contains("changed outside lpa"), "{err}");
    assert!(
        err.contains("#3 ") && err.contains("calm run 2 of 3"),
        "{err}"
    );
    // The file was never written over.
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        r#"{"runs_since_change": 3, "last_replicas": 2}"#
    );
    // Stopped by a signal with the disk still full, the last line says the
    // state was not saved, where it said "saved in" the file.
    let run = run_local_with(
        &calm,
        &quick,
        &[
            "--replicas",
            "2",
            "--interval",
            "500ms",
            "--run-time",
            "200ms",
        ],
        dir.path(),
    );
    let mut child = file_size_limit(&run, 0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Lines::new(child.stderr.take().unwrap());
    assert!(
        lines.wait_for("kept in memory", Duration::from_secs(30)),
        "{}",
        lines.seen
    );
    sigterm(&child);
    wait_bounded(&mut child, Duration::from_secs(30));
    let err = lines.rest(Duration::from_secs(5)).to_string();
    assert!(
        err.contains("; state of the last cycle not saved (state file ")
            && err.contains("): the file holds an older one"),
        "{err}"
    );
}

/// A starting count the pool cannot run is one line, before the proxy
/// listens: `--replicas 100000` said "listening on" first, and
/// `--replicas 0` ran a loop that held at 0 for good.
#[test]
fn a_replica_count_the_pool_cannot_start_is_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    for n in ["0", "65", "100000"] {
        let o = output(run_local(
            &serve_cmd(),
            &["--replicas", n, "--once"],
            dir.path(),
        ));
        assert_one_error(
            &o,
            &[&format!(
                "--replicas {n}: the local pool starts 1 to 64 replicas"
            )],
        );
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    }
    assert!(!dir.path().join("decay_info.json").exists());
}

/// A policy whose bounds pass the pool's 64 is decided within them, with
/// a warning for each: before, every scale-up past 64 failed, cycle after
/// cycle, and a minReplicas past it failed the first.
#[test]
fn bounds_past_the_pools_limit_are_decided_within_it() {
    let dir = tempfile::tempdir().unwrap();
    let o = output(run_local(
        &serve_cmd(),
        &[
            "--min-replicas",
            "100",
            "--max-replicas",
            "200",
            "--once",
            "--dry-run",
            "--run-time",
            "200ms",
        ],
        dir.path(),
    ));
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    for field in ["minReplicas 100", "maxReplicas 200"] {
        let line = format!(
            "lpa run: warning: {field}: the local pool runs at most 64 replicas; lpa decides at most 64\n"
        );
        assert!(err.contains(&line), "{err}");
    }
    assert!(err.contains("=> 64 (not applied: dry run)"), "{err}");
}

/// A flag of the other scaler would go unused: `--scaler local --target
/// deployment/web` started a pool and read as if it scaled web.
#[test]
fn a_flag_of_the_other_scaler_is_one_error_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--target", "deployment/web"],
            "--target deployment/web: names a workload in a cluster; it needs --scaler kubectl",
        ),
        (&["-n", "shop"], "--namespace shop: names a workload"),
        (
            &["--kubeconfig", "/kc"],
            "--kubeconfig /kc: names a workload",
        ),
        (&["--context", "prod"], "--context prod: names a workload"),
    ];
    for (extra, expected) in cases {
        let mut args = extra.to_vec();
        args.push("--once");
        let o = output(run_local(&serve_cmd(), &args, dir.path()));
        assert_one_error(&o, &[expected]);
        assert!(!stderr(&o).contains("ready on"), "{}", stderr(&o));
    }
    // The reverse: the pool's flags with kubectl, where --replicas 3 was
    // taken in silence, as if it sized the workload.
    for flag in [
        ["--replica-cmd", "srv {port}"],
        ["--replicas", "3"],
        ["--listen", "127.0.0.1:0"],
        ["--ready-timeout", "1s"],
        ["--drain-timeout", "0s"],
    ] {
        let o = output({
            let mut c = lpa();
            c.args(["run", "--scaler", "kubectl", "--target", "deployment/web"])
                .args(flag)
                .args(["--kubectl", "/nonexistent/kubectl", "--once"])
                .arg("--evaluation-config")
                .arg(fixture("evaluation/seed.yaml"))
                .arg("--decay-info")
                .arg(dir.path().join("decay_info.json"));
            c
        });
        let shown = match flag[0] {
            "--replica-cmd" => format!("{} {:?}", flag[0], flag[1]),
            _ => flag.join(" "),
        };
        assert_one_error(
            &o,
            &[&format!(
                "{shown}: is for the local pool of --scaler local; --scaler kubectl has no pool"
            )],
        );
    }
    assert!(!dir.path().join("decay_info.json").exists());
}

/// Each of the load test's users keeps a connection to the proxy open:
/// with 300 users on the proxy's 256 connections, 44 queued behind the
/// probe itself every run, their requests failed, and lpa scaled up to
/// its maximum against its own wait. The proxy now has room for them.
#[test]
fn the_proxy_has_a_connection_for_every_user_of_the_load_test() {
    let dir = tempfile::tempdir().unwrap();
    let replica = format!(
        "{} serve --listen 127.0.0.1:{{port}} --exit-with-parent",
        env!("CARGO_BIN_EXE_lpa")
    );
    let args = [
        "--users",
        "300",
        "--spawn-rate",
        "1000",
        "--wait-time",
        "1",
        "--run-time",
        "2s",
        "--once",
    ];
    let o = output(run_local(&replica, &args, dir.path()));
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains(": 300 users at 1000/s"), "{err}");
    assert!(!err.contains("requests failed"), "{err}");
    assert!(!err.contains("connections were all open"), "{err}");
}

/// Reads lpa's stderr lines on a thread, so a test can wait for one.
pub struct Lines {
    rx: mpsc::Receiver<String>,
    pub seen: String,
}

impl Lines {
    pub fn new(pipe: impl Read + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines {
            rx,
            seen: String::new(),
        }
    }

    /// Waits (bounded) until a line contains `what`; false at EOF or timeout.
    pub fn wait_for(&mut self, what: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                    if line.contains(what) {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    pub fn rest(&mut self, limit: Duration) -> &str {
        while self.wait_for("\u{0}never", limit) {}
        &self.seen
    }
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

#[test]
fn the_loop_runs_on_local_replicas_and_sigterm_stops_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("decisions.jsonl");
    let mut c = run_local(
        &serve_cmd(),
        &[
            "--replicas",
            "2",
            // No second cycle to start a replica after the pids are read.
            "--interval",
            "60s",
            "--run-time",
            "500ms",
            "--decision-log",
            log.to_str().unwrap(),
        ],
        dir.path(),
    );
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut lines = Lines::new(child.stderr.take().unwrap());
    let decided = lines.wait_for("lpa run: #1 ", Duration::from_secs(30));
    if !decided {
        let _ = child.kill();
        panic!("no first cycle: {}", lines.rest(Duration::from_millis(100)));
    }
    // The proxy's port is the one it bound (the default 127.0.0.1:0): a
    // port the test found free could be another's by the time lpa binds it.
    let listen: SocketAddr = lines
        .seen
        .split("lpa run: local: listening on ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no proxy address: {}", lines.seen));
    // The service answers through the proxy, as the guide's Service does.
    let answer = get(listen, "/fibonacci?n=7");
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("\r\n\r\n8"),
        "{answer}"
    );
    let bad = get(listen, "/fibonacci?n=abc");
    assert!(
        bad.starts_with("HTTP/1.1 400") && bad.contains("Value 'abc' is not an integer"),
        "{bad}"
    );

    // Two to start with, and a third when the first cycle breached.
    let pids = replica_pids(&lines.seen);
    assert!(pids.len() >= 2, "{}", lines.seen);
    assert!(pids.iter().all(|p| serve_alive(*p)));
    sigterm(&child);
    wait_bounded(&mut child, Duration::from_secs(30));
    let status = child.wait().unwrap();
    let err = lines.rest(Duration::from_secs(5)).to_string();
    assert!(status.success(), "{err}");
    assert!(err.contains("stopped by signal"), "{err}");
    assert_eq!(
        // At exit: stopped at once, not drained.
        err.matches(" stopped (pid ").count(),
        pids.len(),
        "{err}"
    );
    // Stopped and reaped by lpa itself: gone at once, not later.
    assert_all_gone(&pids, Duration::ZERO);
    let text = std::fs::read_to_string(&log).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["current"], 2);
    assert!(first["target"]
        .as_str()
        .unwrap()
        .starts_with("local pool on 127.0.0.1:"));
}

#[test]
fn replicas_exit_when_lpa_is_killed_outright() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = run_local(
        &serve_cmd(),
        &["--replicas", "2", "--interval", "1s", "--run-time", "300ms"],
        dir.path(),
    );
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut lines = Lines::new(child.stderr.take().unwrap());
    if !lines.wait_for("lpa run: #1 ", Duration::from_secs(30)) {
        let _ = child.kill();
        panic!("no first cycle: {}", lines.rest(Duration::from_millis(100)));
    }
    let pids = replica_pids(&lines.seen);
    assert!(pids.len() >= 2, "{}", lines.seen);
    // SIGKILL: no destructor runs; the replicas' stdin watchdog must act.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_all_gone(&pids, Duration::from_secs(10));
}

/// run has no Locust driver: a loadDriver=locust left in the env from the
/// CPA hooks' settings is said to be unused, not ignored without a word.
#[test]
fn a_locust_load_driver_in_the_env_is_said_to_be_unused() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = run_local(&serve_cmd(), &["--once", "--run-time", "500ms"], dir.path());
    c.env("loadDriver", "locust");
    let o = output(c);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("lpa run: warning: loadDriver=locust is not used: lpa run sends with its native users only"),
        "{}",
        stderr(&o)
    );
    let mut c = run_local(&serve_cmd(), &["--once", "--run-time", "500ms"], dir.path());
    c.env("loadDriver", "native");
    let o = output(c);
    assert!(!stderr(&o).contains("loadDriver"), "{}", stderr(&o));
}
