//! `lpa demo`: the seed guide's walkthrough on one machine, for real.
//!
//! The fibonacci service (`lpa serve --serial`: one request at a time, a
//! fixed cost each, so a replica has a real capacity and more replicas
//! serve more) runs on the local pool behind its round-robin proxy, and
//! the real loop (`RunLoop`, the same as `lpa run`) autoscales it
//! with the seed's evaluation config. Phases go by cycles:
//!
//! ```text
//!   calm ──► load (clients looping like the guide's `while true; do wget ...; done`) ──► recover
//!   1 replica   breach → scale up until the mean is back under 7 ms      decay 1 every 4th cycle
//! ```
//!
//! Each cycle is one line on stdout (replicas, mean against target, the
//! background load's throughput, the decision); replica starts and stops
//! go to stderr; a summary ends it, and the decision log stays on disk.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use lpa_core::config::{EvaluationConfig, LoadSpec, Override, Overrides, WaitTime};
use lpa_core::duration::format_duration;
use lpa_core::log::DecisionRecord;
use lpa_core::{Policy, Reason};
use lpa_drivers::decision_log::DecisionLog;
use lpa_drivers::demo_service;
use lpa_drivers::load::{self, LoadOverrides, LoadPlan};
use lpa_drivers::run_loop::{Cycle, Options, RunLoop, Step};
use lpa_drivers::scale::local::{LocalOptions, LocalPool, ReplicaCommand};
use lpa_drivers::scale::ScaleTarget;
use lpa_drivers::state_file::StateFile;

use super::output::write_file;
use super::stop_signals;
use crate::cli::DemoArgs;
use crate::settings::{parse_config, read_config, Failure, Result};
use crate::text::count;

/// The seed guide's evaluation config, as the example ships it.
const EVALUATION_CONFIG: &str = include_str!("../../examples/fibonacci/evaluation_config.yaml");
/// lpa's recommended config, offered after a run with the seed's.
const RECOMMENDED_CONFIG: &str = include_str!("../../examples/recommended.yaml");
/// What the guide's load generator asks for (`wget .../fibonacci?n=23`).
const LOAD_PATH: &str = "/fibonacci?n=23";

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let listen = args.listen;
    let config = config(&args)?;
    let policy = &config.policy;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::new(format!("cannot find the lpa executable: {e}")))?;
    let command = ReplicaCommand::from_argv(vec![
        exe.to_string_lossy().into_owned(),
        "serve".into(),
        "--listen".into(),
        "127.0.0.1:{port}".into(),
        "--serial".into(),
        "--cost".into(),
        // Plain seconds: the one form of lpa's durations that keeps microseconds.
        args.cost.as_secs_f64().to_string(),
        "--exit-with-parent".into(),
    ])?;

    let max_replicas = policy.max_replicas().unwrap_or(MAX_REPLICAS);
    let options = LocalOptions {
        max_replicas,
        ..LocalOptions::default()
    };
    let mut pool = LocalPool::new(command, listen, options)?;
    let addr = lpa_drivers::proxy::reachable(pool.addr());
    if listen.ip().is_unspecified() {
        say!("lpa demo: warning: --listen {listen}: the demo's service answers on every interface of this machine, not on loopback alone");
    }
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let events = Arc::clone(&events);
        pool.set_observer(move |e| lock(&events).push(e.to_string()));
    }
    let plan = LoadPlan::from_config(
        &config,
        &LoadOverrides {
            host: Some(addr.into()),
            ..LoadOverrides::default()
        },
    )?;
    // A config written for another service: said once, up front, where
    // each cycle would show only failures.
    let unknown: Vec<String> = plan
        .requests
        .iter()
        .filter(|r| !demo_service::serves(r.path.split('?').next().unwrap_or_default()))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    if !unknown.is_empty() {
        say!(
            "lpa demo: warning: the demo's service has no endpoint for {}: it answers 404, and those requests fail every load test (it serves the seed guide's /fibonacci?n=N, and /delay?ms=N, /status/CODE and /healthz)",
            unknown.join(", ")
        );
    }

    let stop = Arc::new(AtomicBool::new(false));
    let signalled = Arc::new(AtomicBool::new(false));
    let mut scratch = Scratch::default();
    // Before any file is made, so that no signal finds one made and not
    // listed. SIGHUP as `lpa run` has it: a closed terminal killed the demo
    // before its summary and left its state directory behind.
    stop_signals::install(
        &[
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ],
        &[&stop, &signalled],
        Arc::clone(&scratch.made),
    )?;

    // Files only once the address is ours: bad input leaves nothing behind.
    let dir = match &args.decision_log {
        Some(_) => None,
        None => {
            let d = private_dir(
                &std::env::temp_dir(),
                &format!("lpa-demo-{}", std::process::id()),
            )?;
            scratch.made(d.clone());
            Some(d)
        }
    };
    let log_path = args.decision_log.clone().unwrap_or_else(|| {
        dir.as_ref()
            .expect("set without --decision-log")
            .join("decisions.jsonl")
    });
    let held_log = hold_log(&log_path, args.evaluation_config.as_deref(), &mut scratch)?;
    let state_dir = state_dir_in(dir.as_deref())?;
    scratch.made(state_dir.clone());
    scratch.state_dir = Some(state_dir.clone());
    let state = StateFile::new(state_dir.join("decay_info.json"));
    drop(state.lock()?);

    // A stop cuts a drain's open connections, as in `lpa run`: Ctrl-C
    // during a decay waited out the drain.
    pool.stop_on(&stop);
    let phases = Phases::new(&args);
    pool.scale(0, 1)?;
    if stop.load(Ordering::SeqCst) {
        return Err(Failure::new(format!(
            "stopped by signal before the first cycle; decision log {} left as it was",
            log_path.display()
        )));
    }
    // A fresh log per demo, now that it runs: appending to an older run
    // would mix two stories.
    held_log.set_len(0).map_err(|e| {
        Failure::new(format!(
            "decision log {}: cannot empty it: {e}",
            log_path.display()
        ))
    })?;
    let mut log = DecisionLog::open(&log_path)?;
    scratch.start();
    print_header(&args, policy, &plan, &phases, addr);
    for e in lock(&events).drain(..) {
        say!("  {e}");
    }

    let mut background = Background::new(addr, args.load_clients);
    if phases.calm == 0 {
        background.start();
    }
    let measure =
        |current: u32| load::run(&plan, None).map(|outcome| outcome.into_report(Some(current)));
    let started = Instant::now();
    let mut story = Story::default();
    let run_options = Options {
        interval: args.interval,
        max_cycles: Some(phases.total()),
        dry_run: false,
    };
    let mut last_report = Instant::now();
    let mut out = io::stdout().lock();
    let _ = writeln!(
        out,
        "\n{:>5}  {:>5}  {:<7}  {:>8}  {:>18}  {:>10}  decision",
        "cycle", "time", "phase", "replicas", "latency (target)", "load req/s"
    );
    RunLoop {
        target: &mut pool,
        measure,
        policy,
        state: &state,
        log: Some(&mut log),
        options: run_options,
        stop: &stop,
    }
    .run(|cycle| {
            let phase = phases.of(cycle.number);
            let rate = background.take_rate(last_report.elapsed());
            last_report = Instant::now();
            story.add(cycle, phase, rate);
            print_cycle(&mut out, cycle, phase, started.elapsed(), rate);
            for e in lock(&events).drain(..) {
                say!("         {e}");
            }
            if cycle.number == phases.calm {
                background.start();
                let _ = writeln!(out, "{:>5}  load starts: {} looping on GET {LOAD_PATH}, each request on a new connection", "", count(args.load_clients, "client"));
            } else if cycle.number == phases.calm + phases.load {
                background.stop();
                let _ = writeln!(out, "{:>5}  load stops", "");
            } else if phase == Phase::Recover {
                if let Some(r) = &cycle.record {
                    if r.outcome.is_applied()
                        && r.decided <= policy.min_replicas()
                        && story.peak > policy.min_replicas()
                    {
                        let _ = writeln!(out, "{:>5}  back at {}: done", "", count(r.decided, "replica"));
                        stop.store(true, Ordering::SeqCst);
                    }
                }
            }
            let _ = out.flush();
    });
    background.stop();
    drop(pool);
    for e in lock(&events).drain(..) {
        say!("  {e}");
    }
    let plot_path = plot_path(&log_path);
    let files = Files {
        plot: super::report::plot_log(
            &log_path,
            &plot_path,
            Some(("background load (requests/s answered)", &story.rates)),
        )
        .map(|()| plot_path),
        config: replay_config(&args, dir.as_deref(), &log_path),
        recommended: recommended_config(&args, dir.as_deref(), &log_path),
        max_replicas,
        demo_flags: demo_flags(&args),
        log: log_path,
    };
    story.print(&mut out, signalled.load(Ordering::SeqCst), &files, &phases);
    let _ = out.flush();
    drop(held_log);
    Ok(ExitCode::SUCCESS)
}

/// What the demo makes before its first cycle, in the order made, shared
/// with the second signal's exit (which no destructor follows). A demo
/// that does not start removes all of it; one that started keeps its
/// directory and log, and its decay state goes when it ends, however it
/// ends.
#[derive(Default)]
struct Scratch {
    made: Arc<Mutex<Vec<PathBuf>>>,
    state_dir: Option<PathBuf>,
}

impl Scratch {
    fn made(&mut self, path: PathBuf) {
        lock(&self.made).push(path);
    }

    /// Started: from now on only the decay state is removed.
    fn start(&mut self) {
        *lock(&self.made) = self.state_dir.iter().cloned().collect();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let made = lock(&self.made).clone();
        stop_signals::remove_all(&made);
    }
}

/// Opens the decision log without emptying it (an older log stays whole
/// until the demo has started) and locks it for the demo's life: a second
/// demo given the same log is refused before it changes anything, where
/// both wrote their records into it. The log must not be the evaluation
/// config, which it would overwrite.
fn hold_log(path: &Path, config: Option<&Path>, scratch: &mut Scratch) -> Result<std::fs::File> {
    let shown = path.display();
    if let Some(config) = config {
        crate::settings::distinct_files(("--decision-log", path), ("--evaluation-config", config))?;
    }
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(Failure::new(format!(
            "decision log {shown}: not a regular file (the demo reads it back for its summary and picture)"
        )));
    }
    // Made here, or there already: only a log this demo made is removed
    // when it cannot start, and only once its lock is won, where a demo
    // that lost the race to another removed that one's log.
    let (file, made) = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(file) => (file, true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(|e| Failure::new(format!("decision log {shown}: cannot open: {e}")))?;
            (file, false)
        }
        Err(e) => {
            return Err(Failure::new(format!(
                "decision log {shown}: cannot create: {e}"
            )))
        }
    };
    match file.try_lock() {
        Ok(()) => {
            if made {
                scratch.made(path.to_path_buf());
            }
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => Err(Failure::new(format!(
            "decision log {shown}: another process holds its lock (another lpa demo writing it?): give this demo another --decision-log"
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(Failure::new(format!(
            "decision log {shown}: cannot lock it: {e}"
        ))),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A private directory for the decay state: inside the demo's own directory,
/// or a new one next to it when the log goes elsewhere.
fn state_dir_in(dir: Option<&std::path::Path>) -> Result<PathBuf> {
    match dir {
        Some(d) => {
            let d = d.join("state");
            std::fs::create_dir(&d)
                .map_err(|e| Failure::new(format!("{}: cannot create: {e}", d.display())))?;
            Ok(d)
        }
        None => private_dir(
            &std::env::temp_dir(),
            &format!("lpa-demo-{}-state", std::process::id()),
        ),
    }
}

/// A new directory in `parent` (the temp dir), made here and readable by
/// this user only: `NAME`, else `NAME-1`, `NAME-2`, ... The name is
/// guessable (the pid), and an existing directory or link of that name may
/// be another user's, placed there to have the demo write through it.
fn private_dir(parent: &std::path::Path, name: &str) -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = parent.join(name);
    let mut tried = base.clone();
    for n in 1..=100 {
        match std::fs::DirBuilder::new().mode(0o700).create(&tried) {
            Ok(()) => return Ok(tried),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                tried = base.with_file_name(format!("{name}-{n}"));
            }
            Err(e) => {
                return Err(Failure::new(format!(
                    "{}: cannot create: {e}",
                    tried.display()
                )))
            }
        }
    }
    Err(Failure::new(format!(
        "{}: cannot create: it and 100 like it exist already",
        base.display()
    )))
}

/// The most replicas when neither --max-replicas nor the config sets a
/// maximum.
const MAX_REPLICAS: u32 = 8;
/// The most a config's maxReplicas starts: each replica is a process on
/// this machine (--max-replicas allows as many).
const MOST_REPLICAS: u32 = 64;

/// The seed's evaluation config (or --evaluation-config), bounded by
/// --max-replicas, else its own maxReplicas, else 8, with the demo's load
/// test: the guide's 10 users at 10/s, waits shortened from `between(5,
/// 9)` so that a short test gathers enough samples for a steady mean. The
/// waits scale with the cost, so the test itself keeps one replica about a
/// third busy whatever the cost. The config's requests, timeout, grace and
/// failStatus are kept.
fn config(args: &DemoArgs) -> Result<EvaluationConfig> {
    let overrides = Overrides {
        max_replicas: args.max_replicas.map(|value| Override {
            value,
            source: "--max-replicas".into(),
        }),
        ..Overrides::default()
    };
    let name = match &args.evaluation_config {
        None => "examples/fibonacci/evaluation_config.yaml".to_string(),
        Some(path) => path.display().to_string(),
    };
    let mut config = match &args.evaluation_config {
        None => parse_config(&name, EVALUATION_CONFIG, &overrides)?,
        Some(path) => read_config(path, &overrides, "")?,
    };
    let min = config.policy.min_replicas();
    let max = match config.policy.max_replicas() {
        Some(m) if m <= MOST_REPLICAS => m,
        Some(m) => {
            say!("lpa demo: warning: {name}: maxReplicas: {m} is more local replicas than the demo starts: held at {MOST_REPLICAS}");
            MOST_REPLICAS
        }
        None => MAX_REPLICAS.max(min).min(MOST_REPLICAS),
    };
    config
        .policy
        .set_replica_bounds(min, Some(max))
        .map_err(|_| {
            Failure::new(format!(
                "{name}: minReplicas: {min} is more local replicas than the demo starts ({MOST_REPLICAS})"
            ))
        })?;
    let given = config.load.take().unwrap_or_default();
    let unused: Vec<&str> = [
        ("load.users", given.users.is_some()),
        ("load.spawnRate", given.spawn_rate.is_some()),
        ("load.runTime", given.run_time.is_some()),
        ("load.waitTime", given.wait_time.is_some()),
        ("load.arrivalRate", given.arrival_rate.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, set)| set.then_some(field))
    .collect();
    if !unused.is_empty() {
        say!(
            "lpa demo: warning: {name}: {} not used: the demo runs its own load test (the guide's 10 users, each --run-time, waits scaled to --cost)",
            unused.join(", ")
        );
    }
    // The env vars of the seed's Dockerfile, which `lpa run` reads.
    let ignored: Vec<&str> = [
        "locustUsers",
        "locustSpawnRate",
        "locustRunTime",
        "locustHost",
    ]
    .into_iter()
    .filter(|v| std::env::var_os(v).is_some())
    .collect();
    if !ignored.is_empty() {
        say!(
            "lpa demo: warning: env {} not used: the demo runs its own load test (the guide's 10 users, each --run-time, waits scaled to --cost) on its own service",
            ignored.join(", ")
        );
    }
    let wait = (args.cost * 20).max(Duration::from_millis(20));
    config.load = Some(LoadSpec {
        users: Some(10),
        spawn_rate: Some(10.0),
        run_time: Some(args.run_time),
        wait_time: Some(WaitTime::Between(wait, wait * 2)),
        arrival_rate: None,
        ..given
    });
    if args.run_time >= args.interval {
        return Err(Failure::new(format!(
            "--run-time {} must be shorter than --interval {}",
            format_duration(args.run_time),
            format_duration(args.interval)
        )));
    }
    Ok(config)
}

/// The phases in whole cycles.
struct Phases {
    calm: u64,
    load: u64,
    recover: u64,
}

impl Phases {
    fn new(args: &DemoArgs) -> Phases {
        let cycles = |d: Duration| (d.as_secs_f64() / args.interval.as_secs_f64()).ceil() as u64;
        Phases {
            calm: cycles(args.calm),
            load: cycles(args.load).max(1),
            recover: cycles(args.recover).max(1),
        }
    }

    fn total(&self) -> u64 {
        self.calm + self.load + self.recover
    }

    fn of(&self, cycle: u64) -> Phase {
        if cycle <= self.calm {
            Phase::Calm
        } else if cycle <= self.calm + self.load {
            Phase::Load
        } else {
            Phase::Recover
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Calm,
    Load,
    Recover,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Calm => "calm",
            Phase::Load => "load",
            Phase::Recover => "recover",
        }
    }
}

fn print_header(
    args: &DemoArgs,
    policy: &Policy,
    plan: &LoadPlan,
    phases: &Phases,
    addr: SocketAddr,
) {
    let i = format_duration(args.interval);
    // As each cycle's line: a reader gone early loses the text, and the
    // demo still ends by stopping its replicas (`println!` would panic).
    let mut out = io::stdout().lock();
    let _ = writeln!(
        out,
        "lpa demo: the seed guide's fibonacci service on local replicas, autoscaled by lpa\n"
    );
    let _ = writeln!(out,
        "  service    http://{addr}/fibonacci?n=10 (try it with curl while the demo runs)\n             replicas are `lpa serve` processes behind a round-robin proxy; each serves one request at a time, {} ms each",
        args.cost.as_secs_f64() * 1000.0
    );
    let targets: Vec<String> = policy
        .targets()
        .iter()
        .map(|t| {
            format!(
                "{} of {} {} at most {} ms",
                t.kind(),
                t.method(),
                t.endpoint(),
                t.target()
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "  policy     {}: {}; decay {} after {}; at most {}",
        match &args.evaluation_config {
            Some(p) => p.display().to_string(),
            None => "the seed's evaluation_config.yaml".to_string(),
        },
        targets.join(", "),
        count(policy.decay().replicas, "replica"),
        count(policy.decay().unchanged_runs, "unchanged run"),
        count(policy.max_replicas().unwrap_or(MAX_REPLICAS), "replica")
    );
    let _ = writeln!(out, "  load test  every {i}: {}", plan.describe());
    let _ = writeln!(out,
        "  phases     calm {}, load {} ({} on GET {LOAD_PATH}), then recover (at most {}, ends back at {})",
        count(phases.calm, "cycle"),
        count(phases.load, "cycle"),
        count(args.load_clients, "client"),
        count(phases.recover, "cycle"),
        count(policy.min_replicas(), "replica")
    );
}

/// The observed mean of the first target, and its target.
fn mean(record: &DecisionRecord) -> Option<(f64, f64, bool)> {
    record.reasons.iter().find_map(|r| match r {
        Reason::Target {
            observed,
            target,
            breached,
            ..
        } => Some((*observed, *target, *breached)),
        _ => None,
    })
}

fn action(record: &DecisionRecord) -> String {
    let actions: Vec<String> = record
        .reasons
        .iter()
        .filter(|r| !matches!(r, Reason::Target { .. }))
        .map(ToString::to_string)
        .collect();
    let mut text = actions.join("; ");
    if !record.outcome.is_applied() {
        text.push_str(&format!(" (not applied: {})", record.outcome));
    }
    text
}

fn print_cycle(
    out: &mut impl Write,
    cycle: &Cycle,
    phase: Phase,
    elapsed: Duration,
    rate: Option<f64>,
) {
    let secs = elapsed.as_secs();
    let time = format!("{}:{:02}", secs / 60, secs % 60);
    let rate = rate.map_or("-".to_string(), |r| format!("{r:.0}"));
    for w in &cycle.warnings {
        say!("lpa demo: warning: {w}");
    }
    match (&cycle.record, &cycle.failure) {
        (Some(r), failure) => {
            let latency = match mean(r) {
                Some((m, t, b)) => format!("{m:.1} ms {} {t} ms", if b { "> " } else { "<=" }),
                None => "no data".to_string(),
            };
            let _ = writeln!(
                out,
                "{:>5}  {time:>5}  {:<7}  {:>8}  {latency:>18}  {rate:>10}  {}",
                cycle.number,
                phase.name(),
                r.current,
                action(r)
            );
            if let Some((step, e)) = failure {
                let _ = writeln!(out, "{:>5}  {} failed: {e}", "", step.name());
            }
        }
        (None, Some((step, e))) => {
            let _ = writeln!(
                out,
                "{:>5}  {time:>5}  {:<7}  {} failed: {e} (nothing changed)",
                cycle.number,
                phase.name(),
                step.name()
            );
        }
        (None, None) => {}
    }
}

/// The picture of the run, beside its log: `decisions.jsonl` -> `decisions.png`.
fn plot_path(log: &Path) -> PathBuf {
    let png = log.with_extension("png");
    if png == log {
        PathBuf::from(format!("{}.png", log.display()))
    } else {
        png
    }
}

/// An evaluation config the closing hint can name: the one given, or the
/// seed's written beside the log (the demo's own directory by default).
fn replay_config(args: &DemoArgs, dir: Option<&Path>, log: &Path) -> Result<PathBuf> {
    if let Some(p) = &args.evaluation_config {
        return Ok(p.clone());
    }
    write_beside(dir, log, "evaluation_config.yaml", EVALUATION_CONFIG)
}

/// After a run with the seed's config, the recommended one written beside
/// the log, for the hint that runs the demo again with it: the binary may
/// run far from the repository's `examples/`.
fn recommended_config(args: &DemoArgs, dir: Option<&Path>, log: &Path) -> Option<Result<PathBuf>> {
    args.evaluation_config
        .is_none()
        .then(|| write_beside(dir, log, "recommended.yaml", RECOMMENDED_CONFIG))
}

/// `text` as `name` in the demo's own directory, or beside a log given
/// elsewhere as `{stem}.{name}`.
fn write_beside(dir: Option<&Path>, log: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let path = match dir {
        Some(d) => d.join(name),
        None => {
            let stem = log
                .file_stem()
                .map_or_else(|| "demo".to_string(), |s| s.to_string_lossy().into_owned());
            log.with_file_name(format!("{stem}.{name}"))
        }
    };
    write_file(&path, text.as_bytes())?;
    Ok(path)
}

/// How to run this lpa, as a command to copy: `lpa` when that is the lpa
/// on PATH, else this executable's own path.
fn lpa_command() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "cargo run --release --".to_string();
    };
    let same = |p: &Path| {
        p.canonicalize()
            .ok()
            .zip(exe.canonicalize().ok())
            .is_some_and(|(a, b)| a == b)
    };
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("lpa"))
            .find(|c| c.is_file())
            .is_some_and(|c| same(&c))
    });
    if on_path {
        "lpa".to_string()
    } else {
        shell_word(&exe.display().to_string())
    }
}

/// A word a POSIX shell reads back as is: quoted when it has to be.
fn shell_word(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:=@,%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The files the summary points to.
struct Files {
    log: PathBuf,
    plot: Result<PathBuf>,
    config: Result<PathBuf>,
    /// Written after a run with the seed's config.
    recommended: Option<Result<PathBuf>>,
    /// The maxReplicas that bounded the run (--max-replicas's, the
    /// config's or the default), given again to its replay.
    max_replicas: u32,
    /// The flags that made this run other than the default demo.
    demo_flags: String,
}

/// The demo's flags given other than their defaults, each as ` --flag
/// value`: the hint to run "the same demo" with another policy runs the same
/// phases, load and cost, which a bare `lpa demo` would not.
fn demo_flags(args: &DemoArgs) -> String {
    #[derive(clap::Parser)]
    struct Defaults {
        #[command(flatten)]
        demo: DemoArgs,
    }
    let Ok(Defaults { demo: d }) = <Defaults as clap::Parser>::try_parse_from(["demo"]) else {
        return String::new();
    };
    // Plain seconds when milliseconds would round the value.
    let time = |t: Duration| {
        if t.subsec_nanos().is_multiple_of(1_000_000) {
            format_duration(t)
        } else {
            t.as_secs_f64().to_string()
        }
    };
    [
        ("--calm", time(args.calm), time(d.calm)),
        ("--load", time(args.load), time(d.load)),
        ("--recover", time(args.recover), time(d.recover)),
        (
            "--load-clients",
            args.load_clients.to_string(),
            d.load_clients.to_string(),
        ),
        ("--cost", time(args.cost), time(d.cost)),
        ("--interval", time(args.interval), time(d.interval)),
        ("--run-time", time(args.run_time), time(d.run_time)),
        (
            "--max-replicas",
            args.max_replicas.map_or(String::new(), |m| m.to_string()),
            d.max_replicas.map_or(String::new(), |m| m.to_string()),
        ),
    ]
    .into_iter()
    .filter(|(_, given, default)| given != default)
    .map(|(flag, given, _)| format!(" {flag} {given}"))
    .collect()
}

/// What the summary tells.
#[derive(Default)]
struct Story {
    cycles: u64,
    /// The highest count decided (and applied), and when.
    peak: u32,
    peak_cycle: u64,
    /// The highest count in the table's replicas column, and from when.
    shown_peak: u32,
    shown_peak_cycle: u64,
    /// The background load's answered requests/s, per logged decision.
    rates: Vec<f64>,
    over: u64,
    first_breach: Option<u64>,
    recovered: Option<u64>,
    final_replicas: u32,
    /// The cycle that decided the final count, when any changed it, and
    /// its phase.
    final_decided: Option<(u64, Phase)>,
    failed: u64,
    /// The decays made while the load was on, in order.
    load_decays: Vec<Decay>,
    /// The last cycle run under the load: a decay there has no load cycle
    /// after it to breach in.
    last_load_cycle: Option<u64>,
}

/// A decay made while the load was on, and the first breach of the load
/// phase at the count it left (before any scale-up): the flap the seed
/// rule makes and the model's veto exists to stop.
struct Decay {
    from: u32,
    to: u32,
    cycle: u64,
    /// The breaching cycle, its mean and the count it read at.
    breach: Option<(u64, f64, u32)>,
}

impl Story {
    fn add(&mut self, cycle: &Cycle, phase: Phase, rate: Option<f64>) {
        self.cycles = cycle.number;
        if cycle.failure.is_some() {
            self.failed += 1;
        }
        let Some(r) = &cycle.record else { return };
        // Kept in step with the log's lines; no background load running is
        // none answered.
        if !matches!(cycle.failure, Some((Step::Log, _))) {
            self.rates.push(rate.unwrap_or(0.0));
        }
        if r.current > self.shown_peak {
            self.shown_peak = r.current;
            self.shown_peak_cycle = cycle.number;
        }
        let now = r.replicas_after();
        if now > self.peak {
            self.peak = now;
            self.peak_cycle = cycle.number;
        }
        self.final_replicas = now;
        if now != r.current {
            self.final_decided = Some((cycle.number, phase));
        }
        match mean(r) {
            Some((observed, _, true)) => {
                self.over += 1;
                self.first_breach.get_or_insert(cycle.number);
                // The latest decay still standing: a scale-up ends its watch.
                let open = self
                    .load_decays
                    .last_mut()
                    .filter(|d| phase == Phase::Load && d.breach.is_none() && d.to >= r.current);
                if let Some(d) = open {
                    d.breach = Some((cycle.number, observed, r.current));
                }
            }
            Some((_, _, false))
                if self.first_breach.is_some()
                    && self.recovered.is_none()
                    && phase == Phase::Load =>
            {
                self.recovered = Some(cycle.number);
            }
            _ => {}
        }
        if phase == Phase::Load {
            self.last_load_cycle = Some(cycle.number);
            if now < r.current {
                self.load_decays.push(Decay {
                    from: r.current,
                    to: now,
                    cycle: cycle.number,
                    breach: None,
                });
            }
        }
    }

    /// The summary's line on decays under the load.
    fn decays_line(&self) -> String {
        if self.load_decays.is_empty() {
            return "none".to_string();
        }
        let made: Vec<String> = self
            .load_decays
            .iter()
            .map(|d| {
                let last = if Some(d.cycle) == self.last_load_cycle {
                    ", the load's last"
                } else {
                    ""
                };
                format!("{} -> {} at cycle {}{last}", d.from, d.to, d.cycle)
            })
            .collect();
        let breaches: Vec<String> = self
            .load_decays
            .iter()
            .filter_map(|d| d.breach)
            .map(|(cycle, ms, at)| format!("{ms:.1} ms on {at} at cycle {cycle}"))
            .collect();
        let then = if breaches.is_empty() {
            "none followed by a breach".to_string()
        } else {
            format!(
                "{} followed by a breach ({})",
                breaches.len(),
                breaches.join(", ")
            )
        };
        format!("{} ({}); {then}", self.load_decays.len(), made.join(", "))
    }

    /// The summary's line on the final count: how long after the load
    /// the replicas it added were given back.
    fn final_line(&self) -> String {
        let n = self.final_replicas;
        match (self.final_decided, self.last_load_cycle) {
            (Some((c, Phase::Recover)), Some(last)) => format!(
                "{n} (decided at cycle {c}, {} after the load's last)",
                count(c.saturating_sub(last), "cycle")
            ),
            (Some((c, Phase::Load)), _) => format!("{n} (decided at cycle {c}, under the load)"),
            (Some((c, _)), _) => format!("{n} (decided at cycle {c})"),
            (None, _) => n.to_string(),
        }
    }

    fn print(&self, out: &mut impl Write, signalled: bool, files: &Files, phases: &Phases) {
        let _ = writeln!(
            out,
            "\nsummary{}",
            if signalled {
                " (stopped by signal)"
            } else {
                ""
            }
        );
        if self.rates.is_empty() {
            self.print_nothing_logged(out, files);
            return;
        }
        // As the table counts: a count shows from the cycle after the one
        // that decided it.
        let peak = if self.peak > self.shown_peak {
            format!(
                "{} (decided at cycle {}, the last)",
                self.peak, self.peak_cycle
            )
        } else if self.peak == self.shown_peak && self.peak_cycle < self.shown_peak_cycle {
            format!(
                "{} (from cycle {}, decided at cycle {})",
                self.shown_peak, self.shown_peak_cycle, self.peak_cycle
            )
        } else {
            format!("{} (from cycle {})", self.shown_peak, self.shown_peak_cycle)
        };
        let _ = writeln!(out, "  peak replicas         {peak}");
        let _ = writeln!(
            out,
            "  cycles over target    {} of {}",
            self.over, self.cycles
        );
        let recover = match (self.first_breach, self.recovered) {
            (Some(b), Some(r)) => format!(
                "{} (first breach at cycle {b}, back under target at cycle {r}, load still on)",
                r - b
            ),
            (Some(b), None) => {
                format!("not under target again while the load was on (first breach at cycle {b})")
            }
            (None, _) => "no breach".to_string(),
        };
        let _ = writeln!(out, "  cycles to recover     {recover}");
        let _ = writeln!(out, "  decays under load     {}", self.decays_line());
        let _ = writeln!(out, "  final replicas        {}", self.final_line());
        if self.failed > 0 {
            let _ = writeln!(out, "  failed cycles         {}", self.failed);
        }
        let log = shell_word(&files.log.display().to_string());
        let _ = writeln!(out, "  decision log          {}", files.log.display());
        match &files.plot {
            Ok(p) => {
                let _ = writeln!(
                    out,
                    "  plot                  {} (replicas and each target over the run)",
                    p.display()
                );
            }
            Err(e) => {
                let _ = writeln!(out, "  plot                  not drawn: {e}");
            }
        }
        let lpa = lpa_command();
        let _ = writeln!(out, "\nNext, with the decision log:");
        let _ = writeln!(
            out,
            "  scores and a picture  {lpa} report {log} --plot run.svg"
        );
        match &files.config {
            Ok(config) => {
                let _ = writeln!(
                    out,
                    "  replay under another policy (edit the config first)\n                        {lpa} simulate --evaluation-config {} --max-replicas {} --replay {log}",
                    shell_word(&config.display().to_string()),
                    files.max_replicas
                );
            }
            Err(e) => {
                let _ = writeln!(out, "  replay                not offered: {e}");
            }
        }
        match &files.recommended {
            Some(Ok(config)) => {
                let _ = writeln!(
                    out,
                    "  the learned model (the same demo; it vetoes a decay that would breach)\n                        {lpa} demo{} --evaluation-config {}",
                    files.demo_flags,
                    shell_word(&config.display().to_string())
                );
            }
            Some(Err(e)) => {
                let _ = writeln!(out, "  the learned model     not offered: {e}");
            }
            None => {}
        }
        // Breaches held at 1 by --max-replicas 1 are breaches all the same.
        if !signalled && self.cycles > phases.calm && self.first_breach.is_none() {
            let _ = writeln!(
                out,
                "\nThe load never breached the target: this machine may be faster than expected. Try more clients or a higher cost: lpa demo --load-clients 12 --cost 4ms"
            );
        }
    }

    /// A stop before any decision was logged: nothing to sum up, and `lpa
    /// report` and `simulate --replay` refuse an empty log, so neither is
    /// offered.
    fn print_nothing_logged(&self, out: &mut impl Write, files: &Files) {
        let why = if self.cycles == 0 {
            "stopped before the first cycle ended".to_string()
        } else {
            format!(
                "{} run, {} failed",
                count(self.cycles, "cycle"),
                self.failed
            )
        };
        let _ = writeln!(out, "  no decision logged    {why}");
        let _ = writeln!(
            out,
            "  decision log          {} (empty)",
            files.log.display()
        );
        if let Some(Ok(config)) = &files.recommended {
            let _ = writeln!(
                out,
                "\nNext:\n  the learned model (the same demo; it vetoes a decay that would breach)\n                        {} demo{} --evaluation-config {}",
                lpa_command(),
                files.demo_flags,
                shell_word(&config.display().to_string())
            );
        }
    }
}

/// The guide's `while true; do wget -q -O- http://fibonacci:5000/fibonacci?n=23; done`,
/// in threads: each client sends one request per new connection, reads
/// the whole answer, and goes again. Every step has a timeout, and a stop
/// ends each loop after its current request.
struct Background {
    addr: SocketAddr,
    clients: u32,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Background {
    fn new(addr: SocketAddr, clients: u32) -> Background {
        Background {
            addr,
            clients,
            stop: Arc::new(AtomicBool::new(false)),
            done: Arc::new(AtomicU64::new(0)),
            threads: Vec::new(),
        }
    }

    fn start(&mut self) {
        self.stop.store(false, Ordering::SeqCst);
        for _ in 0..self.clients {
            let (addr, stop, done) = (self.addr, Arc::clone(&self.stop), Arc::clone(&self.done));
            let spawned = thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        match fetch(addr, &stop) {
                            Ok(true) => {
                                done.fetch_add(1, Ordering::Relaxed);
                            }
                            // wget in a loop would retry at once; a short
                            // pause keeps a failing run from spinning.
                            _ => thread::sleep(Duration::from_millis(20)),
                        }
                    }
                });
            if let Ok(t) = spawned {
                self.threads.push(t);
            }
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }

    /// Requests answered per second since the last call, while running.
    fn take_rate(&self, since: Duration) -> Option<f64> {
        let n = self.done.swap(0, Ordering::Relaxed);
        (!self.threads.is_empty() && !since.is_zero()).then(|| n as f64 / since.as_secs_f64())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One request on a new connection; true for a 200. The answer may take
/// up to 10 s behind a full proxy, but a stop ends the wait within a
/// quarter second: the demo's end, or Ctrl-C, joins every client.
fn fetch(addr: SocketAddr, stop: &AtomicBool) -> io::Result<bool> {
    let timeout = Duration::from_secs(10);
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(Duration::from_millis(250)))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(
        format!("GET {LOAD_PATH} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let started = Instant::now();
    let mut answer = Vec::with_capacity(256);
    let mut chunk = [0u8; 4096];
    while answer.len() < 64 * 1024 {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if stop.load(Ordering::SeqCst) || started.elapsed() >= timeout {
                    return Err(e);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(answer.starts_with(b"HTTP/1.1 200 "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Another user's link where the demo's directory goes is left alone:
    /// the demo makes a directory of its own beside it, private.
    #[test]
    fn a_name_taken_in_the_temp_dir_is_not_written_through() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        std::fs::create_dir(&victim).unwrap();
        std::os::unix::fs::symlink(&victim, tmp.path().join("lpa-demo-7")).unwrap();
        let d = private_dir(tmp.path(), "lpa-demo-7").unwrap();
        assert_eq!(d, tmp.path().join("lpa-demo-7-1"));
        let mode = std::fs::metadata(&d).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert_eq!(
            private_dir(tmp.path(), "lpa-demo-7").unwrap(),
            tmp.path().join("lpa-demo-7-2")
        );
        assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 0);
    }
}
