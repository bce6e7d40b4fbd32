//! Real Locust as a load driver: users keep their locustfiles, lpa keeps the
//! decisions.
//!
//! ```text
//!  locustfile ──► legacy::scan (pre-1.0 API? stop with what to change)
//!       │
//!       ▼
//!  locust -f TMP/lpa_failures.py,FILE[,TMP/lpa_ca_bundle.py] --headless -u -r -t --host
//!         --processes 0 (LPA_PID: lpa's pid, which the plugin watches)
//!         --json-file TMP/stats ...   (REQUESTS_CA_BUNDLE, SSL_CERT_FILE: --ca-bundle)
//!       │  exit 0: clean run; 1: the run had failures (or a locustfile check
//!       │  set it); TMP/stats.json written = Locust finished its run;
//!       │  TMP/failures.csv written at exit by lpa's plugin
//!       ▼
//!  stats::requests (Locust's buckets -> RequestStats) ─┐
//!  failures::parse (error kinds)  ─────────────────────┴► MetricReport
//! ```
//!
//! Why `--json-file` and not `--json`: `--json` prints the stats on stdout,
//! which the locustfile shares (a `print()` in a task, or a library writing
//! to stdout, would corrupt the JSON). The file is Locust's alone, and its
//! presence tells a finished run from a Locust that never started (a broken
//! locustfile exits 1 as well, with nothing written). `--only-summary` and
//! `--loglevel WARNING` keep Locust's stderr (kept for error messages) small;
//! `--exit-code-on-error 1` pins the exit code of a run with failures against
//! a `locust.conf` or `LOCUST_EXIT_CODE_ON_ERROR` that says otherwise, and
//! `--processes 0` one process against a `locust.conf`'s `processes`.
//!
//! Failure kinds come from Locust's failures CSV, which its JSON lacks. Not
//! from `--csv`, whose failures file lags the run by up to a second (it is
//! rewritten once a second and not at exit): a small module lpa loads as
//! another locustfile writes it at exit with Locust's own code (see
//! `lpa_failures.py`).
//!
//! Locust stops its users at the run time and drops requests still in
//! flight (its `--stop-timeout` defaults to 0), where the native driver
//! counts them as failures after a grace period. [`LocustPlan::stop_timeout`]
//! gives them the grace, and the plugin records the ones still unanswered
//! at its end as the native driver does (a hang must not read as no data).

pub mod failures;
mod legacy;
mod message;
pub mod stats;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lpa_core::config::Percent;
use lpa_core::wire::{FailureStats, MetricReport, RunInfo};

use crate::process::{self, ProcessError};

pub use legacy::{scan as scan_legacy, Finding};
pub use message::locust_message;

/// Makes HttpUser verify against `REQUESTS_CA_BUNDLE`; loaded with
/// `--ca-bundle` only.
const CA_PLUGIN: &str = include_str!("lpa_ca_bundle.py");
const CA_PLUGIN_NAME: &str = "lpa_ca_bundle.py";

/// Where the migration is documented, for error messages.
pub const MIGRATION_DOC: &str = "README.md, \"Using an existing locustfile\"";

/// One Locust run.
#[derive(Debug, Clone)]
pub struct LocustPlan {
    /// The `locust` executable.
    pub program: PathBuf,
    pub locustfile: PathBuf,
    /// Base URL, `http://fibonacci:5000`.
    pub host: String,
    pub users: u32,
    /// Users started per second.
    pub spawn_rate: f64,
    /// Counted from the start, ramp-up included (Locust's `-t`). Locust takes
    /// whole seconds; a fraction rounds up.
    pub run_time: Duration,
    /// Lets tasks in flight at the run time finish (Locust's
    /// `--stop-timeout`); `None` stops users at once.
    pub stop_timeout: Option<Duration>,
    /// Percentiles targets ask for, beyond the standard set.
    pub percentiles: Vec<Percent>,
    /// How long Locust may take beyond the run time and stop timeout to
    /// start (imports, ~1-2 s) and write its stats before it is killed.
    pub slack: Duration,
    /// More arguments for Locust, after lpa's (`--tags`, a user class, ...).
    pub extra_args: Vec<OsString>,
    /// PEM file of the CAs to verify https:// hosts against (`--ca-bundle`),
    /// given to Locust as `REQUESTS_CA_BUNDLE` and `SSL_CERT_FILE`, with
    /// `lpa_ca_bundle.py` loaded to make HttpUser use it (Locust's HttpUser
    /// ignores the variable; see the module). A FastHttpUser verifies
    /// nothing unless it sets `insecure = False`, then against
    /// `SSL_CERT_FILE`. `None` leaves Locust's environment as lpa's.
    pub ca_bundle: Option<PathBuf>,
}

impl LocustPlan {
    /// A plan with the defaults: no stop timeout, 30 s slack.
    pub fn new(
        program: PathBuf,
        locustfile: PathBuf,
        host: String,
        users: u32,
        spawn_rate: f64,
        run_time: Duration,
    ) -> Self {
        LocustPlan {
            program,
            locustfile,
            host,
            users,
            spawn_rate,
            run_time,
            stop_timeout: None,
            percentiles: Vec::new(),
            slack: Duration::from_secs(30),
            extra_args: Vec::new(),
            ca_bundle: None,
        }
    }

    /// The Locust run of a native [`LoadPlan`](crate::load::LoadPlan): the
    /// same host, users, spawn rate, run time, extra percentiles and CA
    /// bundle. Its grace becomes Locust's stop timeout, so requests in
    /// flight at the run time can finish and count; lpa's plugin counts the
    /// ones still unanswered at its end as failures, as the native driver
    /// does. Requests and wait times are the locustfile's.
    pub fn from_load_plan(
        load: &crate::load::LoadPlan,
        program: PathBuf,
        locustfile: PathBuf,
    ) -> Self {
        let mut plan = LocustPlan::new(
            program,
            locustfile,
            load.host.to_string(),
            load.users,
            load.spawn_rate,
            load.run_time,
        );
        plan.stop_timeout = Some(load.grace);
        plan.percentiles = load.percentiles.clone();
        plan.ca_bundle = load.ca_bundle.as_ref().map(|b| b.path.clone());
        plan
    }

    /// The run time Locust gets: whole seconds, at least one.
    fn run_secs(&self) -> u64 {
        whole_secs(self.run_time).max(1)
    }

    fn run_time_arg(&self) -> String {
        format!("{}s", self.run_secs())
    }

    /// lpa's Python modules that Locust loads beside the locustfile, as
    /// (file name, source): each defines no User class. The first, which
    /// watches lpa, is loaded before the locustfile (see [`Self::args`]).
    fn plugins(&self) -> Vec<(&'static str, &'static str)> {
        let mut plugins = vec![(failures::PLUGIN_NAME, failures::PLUGIN)];
        if self.ca_bundle.is_some() {
            plugins.push((CA_PLUGIN_NAME, CA_PLUGIN));
        }
        plugins
    }

    /// The arguments after the program, for a run whose files go to `dir`:
    /// lpa's plugins as more locustfiles, `--json-file` at `dir/stats`
    /// (Locust appends `.json`).
    pub fn args(&self, dir: &Path) -> Vec<OsString> {
        // Locust splits -f at commas, and imports the files in order. The
        // failures plugin goes first: it ends Locust when lpa dies, which
        // it could not do behind a locustfile whose import never returned.
        let mut files = OsString::new();
        let plugins = self.plugins();
        let (first, rest) = plugins.split_first().expect("the failures plugin");
        files.push(dir.join(first.0));
        files.push(",");
        files.push(&self.locustfile);
        for (name, _) in rest {
            files.push(",");
            files.push(dir.join(name));
        }
        let mut args: Vec<OsString> = vec![
            "-f".into(),
            files,
            "--headless".into(),
            "-u".into(),
            self.users.to_string().into(),
            "-r".into(),
            self.spawn_rate.to_string().into(),
            "-t".into(),
            self.run_time_arg().into(),
            "--host".into(),
            self.host.clone().into(),
            "--json-file".into(),
            dir.join("stats").into(),
            "--only-summary".into(),
            "--loglevel".into(),
            "WARNING".into(),
            "--exit-code-on-error".into(),
            "1".into(),
            // One process, whose statistics the plugin completes, against
            // a locust.conf's `processes` (LOCUST_PROCESSES is refused by
            // name): forked workers outlived lpa and read a hung service
            // as no request.
            "--processes".into(),
            "0".into(),
        ];
        if let Some(stop) = self.stop_timeout {
            args.push("--stop-timeout".into());
            args.push(whole_secs(stop).to_string().into());
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.run_secs())
            + Duration::from_secs(self.stop_timeout.map_or(0, whole_secs))
            + self.slack
    }
}

/// Locust's `-t` and `--stop-timeout` take whole seconds; a fraction rounds
/// up so the run is never shorter than asked.
fn whole_secs(d: Duration) -> u64 {
    u64::try_from(d.as_millis().div_ceil(1000)).unwrap_or(u64::MAX)
}

#[derive(Debug, thiserror::Error)]
pub enum LocustError {
    #[error("cannot read locustfile {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "locustfile {path} is written for Locust before 1.0, which Locust 1.0 and later reject or \
         silently misread; change {changes} (see {MIGRATION_DOC})",
        changes = changes.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    OldApi {
        path: PathBuf,
        changes: Vec<Finding>,
    },
    #[error("locust: {0}")]
    Process(#[from] ProcessError),
    #[error("locustfile {path}: a comma in its path, where Locust's -f splits one file from the next; rename it, or link it under a name without one")]
    Comma { path: PathBuf },
    #[error("LOCUST_PROCESSES={0}: lpa runs Locust as one process, whose statistics its plugin completes (requests unanswered at the stop count as failures); with worker processes a hung service read as no data. Unset it; for more load than one Locust process makes, use --load-driver native")]
    Processes(String),
    #[error(
        "locust ended running {path} before it wrote its statistics (exit code {code}): {message}"
    )]
    Ended {
        path: PathBuf,
        code: String,
        message: String,
    },
    #[error("locust could not run {path} (exit code {code}): {message}{hint}", hint = hint(message))]
    Rejected {
        path: PathBuf,
        code: String,
        message: String,
    },
    #[error("locust made no requests with {path} (exit code {code}): {message}")]
    NoRequests {
        path: PathBuf,
        code: i32,
        message: String,
    },
    #[error("locust sent no request with {path} within the run time {run_time} (exit code 0): its users never reached one (an on_start or a task that waits longer than the run)")]
    NoneSent { path: PathBuf, run_time: String },
    #[error("locust wrote unreadable statistics to {path}: {message}")]
    BadStats { path: PathBuf, message: String },
    #[error("cannot create a temporary directory for Locust's statistics: {0}")]
    TempDir(std::io::Error),
    #[error("cannot write lpa's Locust plugin {path}: {source}")]
    Plugin {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Points at the migration notes when Locust's own message is about the
/// pre-1.0 API (a file the scan did not catch, e.g. via an import).
fn hint(message: &str) -> String {
    if message.contains("version 1.0") || message.contains("renamed to") {
        format!(" (see {MIGRATION_DOC})")
    } else {
        String::new()
    }
}

/// Fails when the locustfile (or, for a directory, any `.py` in it) uses the
/// pre-1.0 API, or when Locust could not run it as lpa runs it.
pub fn check_locustfile(path: &Path) -> Result<(), LocustError> {
    // Locust splits -f at commas: `my,file.py` would be `my` and `file.py`.
    if path.as_os_str().as_encoded_bytes().contains(&b',') {
        return Err(LocustError::Comma {
            path: path.to_path_buf(),
        });
    }
    // Workers are processes of their own, whose requests lpa's plugin does
    // not see: with 2, a hung service read as 0 requests, no data.
    if let Some(n) = std::env::var_os("LOCUST_PROCESSES").filter(|n| n != "1") {
        return Err(LocustError::Processes(n.to_string_lossy().into_owned()));
    }
    let unreadable = |source| LocustError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(unreadable)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "py"))
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    for file in files {
        let source = scan_source(&file).map_err(|source| LocustError::Unreadable {
            path: file.clone(),
            source,
        })?;
        let changes = legacy::scan(&source);
        if !changes.is_empty() {
            return Err(LocustError::OldApi {
                path: file,
                changes,
            });
        }
    }
    Ok(())
}

/// Stops where [`run`] would before its first request, without sending
/// any: the pre-1.0 API, then a locustfile Locust cannot load (a syntax
/// error, a failed import), which `locust --list` reports after importing
/// it and starting no user. For `lpa check`, which must not call a file
/// valid that `lpa metric` rejects.
pub fn check_loads(program: &Path, locustfile: &Path) -> Result<(), LocustError> {
    check_locustfile(locustfile)?;
    let mut cmd = Command::new(program);
    cmd.arg("-f").arg(locustfile).arg("--list");
    // An import that hangs is as broken as one that fails.
    let finished = process::run(&mut cmd, None, Duration::from_secs(60))?;
    if finished.status.success() {
        return Ok(());
    }
    Err(LocustError::Rejected {
        path: locustfile.to_path_buf(),
        code: exit_code_text(finished.status.code()),
        message: locust_message(&String::from_utf8_lossy(&finished.stderr)),
    })
}

/// Locust's exit code for a message; none when a signal ended it.
fn exit_code_text(code: Option<i32>) -> String {
    code.map_or_else(|| "none, killed by a signal".into(), |c| c.to_string())
}

/// What a Locust run measured, and what the caller should say about it.
#[derive(Debug, Clone, PartialEq)]
pub struct LocustOutcome {
    pub report: MetricReport,
    /// Things that did not stop the run but make the report less complete
    /// (failure kinds missing), for stderr.
    pub warnings: Vec<String>,
}

/// Runs Locust once and reads its statistics. A run with failures (exit
/// code 1) is a report, not an error; Locust's own errors are errors with its
/// message.
pub fn run(plan: &LocustPlan) -> Result<LocustOutcome, LocustError> {
    check_locustfile(&plan.locustfile)?;
    let dir = tempfile::Builder::new()
        .prefix("lpa-locust-")
        .tempdir()
        .map_err(LocustError::TempDir)?;
    for (name, source) in plan.plugins() {
        let path = dir.path().join(name);
        std::fs::write(&path, source).map_err(|source| LocustError::Plugin { path, source })?;
    }
    let stats_file = dir.path().join("stats.json");
    let mut cmd = Command::new(&plan.program);
    // Its own group, which lpa's timeout kills whole: a LOCUST_BIN that
    // is a wrapper script left its Locust running past the kill. The
    // plugin watches LPA_PID, not its parent, which may be that wrapper:
    // a Ctrl-C, which no longer reaches this group, ends lpa, and so it.
    cmd.args(plan.args(dir.path()))
        .process_group(0)
        .env("LPA_PID", std::process::id().to_string());
    if let Some(ca) = &plan.ca_bundle {
        // Absolute: the variables are read wherever the locustfile has
        // changed directory to.
        let ca = std::path::absolute(ca).unwrap_or_else(|_| ca.clone());
        cmd.env("REQUESTS_CA_BUNDLE", &ca).env("SSL_CERT_FILE", &ca);
    }
    let started = Instant::now();
    let finished = process::run(&mut cmd, None, plan.timeout())?;
    let wall = started.elapsed();
    let stderr = String::from_utf8_lossy(&finished.stderr);
    let code = finished.status.code();
    let text = match std::fs::read_to_string(&stats_file) {
        Ok(text) => text,
        // Locust exits 1 on a locustfile it cannot run; 0 or a signal is
        // a run that ended early (a task's os._exit(0), the OOM killer).
        Err(_) if matches!(code, Some(0) | None) => {
            return Err(LocustError::Ended {
                path: plan.locustfile.clone(),
                code: exit_code_text(code),
                message: locust_message(&stderr),
            })
        }
        Err(_) => {
            return Err(LocustError::Rejected {
                path: plan.locustfile.clone(),
                code: exit_code_text(code),
                message: locust_message(&stderr),
            })
        }
    };
    let entries = stats::parse_entries(&text).map_err(|e| LocustError::BadStats {
        path: stats_file.clone(),
        message: e.to_string(),
    })?;
    let code = code.unwrap_or(-1);
    // As the native driver's: a run with no request measured nothing, and
    // read as "no data" it held the replicas on a probe that never ran.
    if entries.is_empty() && code == 0 {
        return Err(LocustError::NoneSent {
            path: plan.locustfile.clone(),
            run_time: plan.run_time_arg(),
        });
    }
    if entries.is_empty() {
        return Err(LocustError::NoRequests {
            path: plan.locustfile.clone(),
            code,
            message: locust_message(&stderr),
        });
    }
    // A Locust stopped before its run time (a SIGTERM, a locustfile that
    // quits the runner) still writes its statistics and exits 0: its
    // rates were divided by the run time it did not run, and nothing said
    // the run was short. The wall time holds Locust's start-up too, so it
    // is below the run time only when Locust stopped early.
    let planned = plan.run_secs() as f64;
    let ran = wall.as_secs_f64();
    let short = (ran < planned).then(|| {
        format!(
            "locust ended after {ran:.1}s, before its run time {} (a signal, or the locustfile stopped the runner): the statistics are of the time it ran",
            plan.run_time_arg()
        )
    });
    let run_secs = planned.min(ran);
    let requests = stats::requests(&entries, &plan.percentiles, run_secs);
    let aggregate = stats::request_stats(
        &stats::aggregate(&entries),
        &plan.percentiles,
        Some(run_secs),
    );
    let (failures, warning) = failure_kinds(
        &dir.path().join(failures::CSV_NAME),
        aggregate.num_failures.unwrap_or(0),
    );
    // Exit code 1 with every request answered: a task raised (Locust logs
    // it and counts no failure), which the report showed only as "exit
    // code 1".
    let raised = (code == 1 && aggregate.num_failures == Some(0)).then(|| {
        format!(
            "locust exited 1 with no failed request, so a task raised or a locustfile check failed: {}",
            locust_message(&stderr)
        )
    });
    // Counted from the kinds, so only when they account for every failure.
    let unfinished = warning.is_none().then(|| {
        failures
            .values()
            .filter(|f| f.error == crate::load::UNANSWERED)
            .map(|f| f.occurrences)
            .sum()
    });
    let info = RunInfo {
        driver: Some("locust".into()),
        model: Some("closed".into()),
        locustfile: Some(plan.locustfile.display().to_string()),
        host: Some(plan.host.clone()),
        users: Some(plan.users),
        spawn_rate: Some(plan.spawn_rate),
        run_time: Some(plan.run_time_arg()),
        stop_timeout: plan.stop_timeout.map(|d| format!("{}s", whole_secs(d))),
        exit_code: Some(code),
        elapsed_secs: Some(wall.as_secs_f64()),
        unfinished,
        aggregate,
        ..RunInfo::default()
    };
    let report = MetricReport {
        current_replicas: None,
        num_requests: info.aggregate.num_requests,
        num_requests_fail: info.aggregate.num_failures,
        requests,
        failures,
        run: Some(info),
    };
    Ok(LocustOutcome {
        report,
        warnings: short.into_iter().chain(raised).chain(warning).collect(),
    })
}

/// The failure kinds of the plugin's CSV at `path`, and a warning when they
/// do not account for the run's `num_failures`. Kinds are detail on top of
/// the counts a decision uses, so a missing or bad file costs only the
/// detail, never the run; but it is said, so that the empty `failures` of a
/// run that failed is not read as "no kinds" (the plugin fails silently
/// inside Locust: see `lpa_failures.py`).
fn failure_kinds(
    path: &Path,
    num_failures: u64,
) -> (BTreeMap<String, FailureStats>, Option<String>) {
    let parsed = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read it: {e}"))
        .and_then(|text| failures::parse(&text).map_err(|e| format!("cannot parse it: {e}")));
    match parsed {
        Ok(kinds) => {
            let listed: u64 = kinds.values().map(|f| f.occurrences).sum();
            let warning = (listed != num_failures).then(|| {
                format!(
                    "Locust counted {num_failures} failures but its failures CSV lists {listed}"
                )
            });
            (kinds, warning)
        }
        Err(why) => {
            let warning = (num_failures > 0).then(|| {
                format!(
                    "Locust counted {num_failures} failures but the report has no failure kinds: \
                     Locust's failures CSV (written at its exit by lpa's plugin): {why}"
                )
            });
            (BTreeMap::new(), warning)
        }
    }
}

/// Why no `locust` executable was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocateError {
    /// The one the caller named is not an executable file.
    #[error("{} is not an executable file", .0.display())]
    NotExecutable(PathBuf),
    #[error("no locust executable on PATH")]
    NotOnPath,
}

/// The `locust` executable: `explicit` when given, else the first
/// `locust` on `PATH`.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, LocateError> {
    if let Some(p) = explicit {
        return if is_executable(p) {
            Ok(p.to_path_buf())
        } else {
            Err(LocateError::NotExecutable(p.to_path_buf()))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("locust"))
        .find(|p| is_executable(p))
        .ok_or(LocateError::NotOnPath)
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// Which load driver a command asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverChoice {
    Native,
    Locust,
    Auto,
}

/// The driver to run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Native { why: Why },
    Locust { program: PathBuf, why: Why },
}

impl Selection {
    pub fn why(&self) -> &Why {
        match self {
            Selection::Native { why } | Selection::Locust { why, .. } => why,
        }
    }
}

/// Why [`select`] chose its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// The caller asked for this driver by name.
    Asked,
    /// Auto: there is no locustfile at this path.
    NoLocustfile(PathBuf),
    /// Auto: the locustfile at this path exists and Locust was found.
    Found(PathBuf),
    /// Auto: the locustfile at this path exists, but no Locust.
    NoLocust(PathBuf, LocateError),
    /// Auto: the locustfile at this path is written for Locust before 1.0,
    /// which the Locust found rejects or misreads; the native users'
    /// translation reads that API.
    OldApi(PathBuf),
    /// The open model (an arrival rate) runs only natively.
    OpenModel,
}

/// Why the Locust driver, asked for by name, cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("locustfile {} does not exist", .0.display())]
    NoLocustfile(PathBuf),
    #[error(transparent)]
    NoLocust(LocateError),
    #[error("the open model (an arrival rate) needs the native driver; Locust's users are a closed model")]
    OpenModel,
}

/// Picks the driver. `auto` takes Locust when the locustfile exists and an
/// executable is found, else native; an explicit `locust` without either is
/// an error that says which is missing. `open_model`: the test has an
/// arrival rate, which only the native driver runs.
/// Whether the locustfile uses the pre-1.0 API; one that cannot be read is
/// left for the driver to report.
fn is_old_api(locustfile: &Path) -> bool {
    scan_source(locustfile).is_ok_and(|source| !legacy::scan(&source).is_empty())
}

/// A locustfile's text as Python reads it: UTF-8, or the coding it
/// declares ([`lpa_core::python_source`]); no more of it than a file of
/// settings holds, as the native driver reads it (a locustfile that was
/// /dev/zero took 2.1 GB before it failed).
pub fn read_source(file: &Path) -> std::io::Result<String> {
    read_with(file, lpa_core::python_source::decode)
}

/// A locustfile's text for a search of the pre-1.0 API, which Locust
/// then runs: in a coding lpa does not read, too (a cp1252 file ran
/// under Locust, and lpa refused it).
fn scan_source(file: &Path) -> std::io::Result<String> {
    read_with(file, lpa_core::python_source::decode_for_scan)
}

fn read_with(file: &Path, decode: fn(&[u8]) -> Result<String, String>) -> std::io::Result<String> {
    let bytes = crate::files::read_settings(file)?;
    decode(&bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

pub fn select(
    choice: DriverChoice,
    locustfile: &Path,
    locust_bin: Option<&Path>,
    open_model: bool,
) -> Result<Selection, SelectError> {
    let native = |why| Ok(Selection::Native { why });
    match choice {
        DriverChoice::Locust if open_model => Err(SelectError::OpenModel),
        _ if open_model => native(Why::OpenModel),
        DriverChoice::Native => native(Why::Asked),
        DriverChoice::Locust => {
            if !locustfile.exists() {
                return Err(SelectError::NoLocustfile(locustfile.to_path_buf()));
            }
            let program = locate(locust_bin).map_err(SelectError::NoLocust)?;
            Ok(Selection::Locust {
                program,
                why: Why::Asked,
            })
        }
        DriverChoice::Auto if !locustfile.exists() => {
            native(Why::NoLocustfile(locustfile.to_path_buf()))
        }
        DriverChoice::Auto => match locate(locust_bin) {
            // The original's locustfile, in an image with Locust: Locust
            // would refuse it every run, and no scaling would happen.
            Ok(_) if is_old_api(locustfile) => native(Why::OldApi(locustfile.to_path_buf())),
            Ok(program) => Ok(Selection::Locust {
                program,
                why: Why::Found(locustfile.to_path_buf()),
            }),
            Err(e) => native(Why::NoLocust(locustfile.to_path_buf(), e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_keep_stdout_clean_and_round_run_time_up() {
        let mut plan = LocustPlan::new(
            "locust".into(),
            "/locustfile.py".into(),
            "http://h:5000".into(),
            10,
            2.5,
            Duration::from_millis(4_200),
        );
        plan.stop_timeout = Some(Duration::from_millis(1_500));
        let args: Vec<String> = plan
            .args(Path::new("/tmp/x"))
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args.join(" "),
            "-f /tmp/x/lpa_failures.py,/locustfile.py --headless -u 10 -r 2.5 -t 5s --host http://h:5000 \
             --json-file /tmp/x/stats --only-summary --loglevel WARNING --exit-code-on-error 1 --processes 0 --stop-timeout 2"
        );
        assert_eq!(plan.timeout(), Duration::from_secs(37));

        plan.ca_bundle = Some("ca.pem".into());
        let args = plan.args(Path::new("/tmp/x"));
        assert_eq!(
            args[1],
            "/tmp/x/lpa_failures.py,/locustfile.py,/tmp/x/lpa_ca_bundle.py"
        );
    }

    #[test]
    fn failure_kinds_that_miss_failures_are_said() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("failures.csv");
        let (kinds, warning) = failure_kinds(&csv, 0);
        assert!(
            kinds.is_empty() && warning.is_none(),
            "no failures, no file: fine"
        );
        let (kinds, warning) = failure_kinds(&csv, 7);
        assert!(kinds.is_empty());
        let warning = warning.unwrap();
        assert!(
            warning.starts_with(
                "Locust counted 7 failures but the report has no failure kinds: Locust's failures CSV \
                 (written at its exit by lpa's plugin): cannot read it: "
            ),
            "{warning}"
        );
        std::fs::write(&csv, "Method,Name,Error,Occurrences\r\nGET,/x,\"boom\r\n").unwrap();
        let (_, warning) = failure_kinds(&csv, 7);
        assert!(warning
            .unwrap()
            .ends_with("cannot parse it: a quoted field is not closed (record 2)"));
        std::fs::write(&csv, "Method,Name,Error,Occurrences\r\nget,/x,boom,5\r\n").unwrap();
        let (kinds, warning) = failure_kinds(&csv, 7);
        assert_eq!(
            warning.as_deref(),
            Some("Locust counted 7 failures but its failures CSV lists 5")
        );
        let f = &kinds["GET_/x: boom"];
        assert_eq!((f.method.as_str(), f.occurrences), ("GET", 5));
        assert_eq!(failure_kinds(&csv, 5).1, None);
    }

    #[test]
    fn selection() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("locustfile.py");
        let missing = dir.path().join("missing.py");
        std::fs::write(&file, "").unwrap();
        let bin = dir.path().join("locust");
        std::fs::write(&bin, "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let notbin = dir.path().join("nope");
        let select = |choice, file, bin| select(choice, file, Some(bin), false);

        let s = select(DriverChoice::Auto, &file, &bin).unwrap();
        assert_eq!(
            s,
            Selection::Locust {
                program: bin.clone(),
                why: Why::Found(file.clone())
            }
        );
        let s = select(DriverChoice::Auto, &missing, &bin).unwrap();
        assert_eq!(s.why(), &Why::NoLocustfile(missing.clone()), "{s:?}");
        let s = select(DriverChoice::Auto, &file, &notbin).unwrap();
        assert!(matches!(s, Selection::Native { .. }), "{s:?}");
        assert_eq!(
            s.why(),
            &Why::NoLocust(file.clone(), LocateError::NotExecutable(notbin.clone()))
        );
        assert!(LocateError::NotExecutable(notbin.clone())
            .to_string()
            .ends_with("is not an executable file"));
        let s = select(DriverChoice::Native, &file, &bin).unwrap();
        assert_eq!(s, Selection::Native { why: Why::Asked });

        let e = select(DriverChoice::Locust, &missing, &bin).unwrap_err();
        assert_eq!(e, SelectError::NoLocustfile(missing.clone()));
        assert!(e.to_string().ends_with("missing.py does not exist"), "{e}");
        let e = select(DriverChoice::Locust, &file, &notbin).unwrap_err();
        assert_eq!(
            e,
            SelectError::NoLocust(LocateError::NotExecutable(notbin.clone()))
        );

        let open = |choice| super::select(choice, &file, Some(&bin), true);
        assert_eq!(open(DriverChoice::Locust), Err(SelectError::OpenModel));
        for choice in [DriverChoice::Auto, DriverChoice::Native] {
            assert_eq!(
                open(choice).unwrap(),
                Selection::Native {
                    why: Why::OpenModel
                }
            );
        }
    }

    #[test]
    fn old_locustfile_is_refused_before_locust_runs() {
        let seed =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/locust/seed_locustfile.py");
        let plan = LocustPlan::new(
            "/nonexistent/locust".into(),
            seed,
            "http://127.0.0.1:9".into(),
            1,
            1.0,
            Duration::from_secs(1),
        );
        let e = run(&plan).unwrap_err().to_string();
        assert!(e.contains("is written for Locust before 1.0"), "{e}");
        assert!(
            e.contains("change line 1: HttpLocust -> HttpUser; line 8: HttpLocust -> HttpUser; line 9: task_set = UserBehavior -> tasks = [UserBehavior]"),
            "{e}"
        );
    }
}
