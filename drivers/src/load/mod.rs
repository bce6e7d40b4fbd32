//! The native load generator: Locust's user model on plain threads.
//!
//! A [`LoadPlan`] says what to send (weighted user classes, each with its
//! wait time and weighted tasks of one or more requests), how hard (users,
//! spawn rate, or an open-model arrival rate) and for how long; [`run`]
//! sends it and returns a [`LoadOutcome`], which becomes the metric JSON
//! ([`MetricReport`]) in one call. A `load:` section, the targets or
//! `--request` make one class whose tasks are one request each; a
//! translated locustfile ([`lpa_core::locustfile`]) makes its own classes.
//! What it does not do: decide anything (that is `lpa_core::decide`) or
//! talk to Kubernetes.
//!
//! ```text
//!  coordinator ── starts user i at i / spawn_rate ──► user thread (own ureq Agent, keep-alive)
//!       │         (its class: Locust's weighted            loop until the deadline:
//!       │          assignment, [`assign_classes`])           pick a task of its class by weight,
//!       │                                                   send its requests in order (each
//!       │                                                   read whole, recorded), wait
//!       │ at deadline + grace: take every user's slot (recordings, request in flight)
//!       ▼
//!  merge per request key ──► lpa_core::stats::Recording::summarize ──► LoadOutcome ──► MetricReport
//! ```
//!
//! Run time counts from the start, ramp-up included (as Locust's `-t`).
//! A request still unanswered at deadline + grace is recorded as a failure
//! with its elapsed time so far, and its user is stopped (its agent shut
//! down, which ends the wait at once): a hung service reads as slow, never
//! as "no data", [`run`] returns by run time + grace whatever the service
//! does, and no thread or socket outlives the run by more than a moment.
//!
//! ```
//! use lpa_drivers::load::{LoadOverrides, LoadPlan};
//! let config = lpa_core::config::parse_evaluation_config("eval.yaml",
//!     "targets: [{method: GET, endpoint: /fibonacci?n=10, type: p95, target: 7}]",
//!     &Default::default()).unwrap().value;
//! let plan = LoadPlan::from_config(&config, &LoadOverrides {
//!     host: Some("http://127.0.0.1:5000".parse().unwrap()),
//!     run_time: Some(std::time::Duration::from_secs(2)),
//!     ..LoadOverrides::default()
//! }).unwrap();
//! assert_eq!((plan.users, plan.spawn_rate), (10, 10.0));
//! assert_eq!(plan.requests[0].key(), "GET_/fibonacci?n=10");
//! assert_eq!(plan.describe(), "10 users at 10/s, wait between(0.5, 1), about 25 requests per 2s run");
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use lpa_core::config::{
    EvaluationConfig, LoadSpec, Method, Percent, RequestSpec, Target, TargetKind, WaitTime,
};
use lpa_core::duration::format_duration;
use lpa_core::locustfile::LocustPlan;
use lpa_core::stats::RequestStats;
use lpa_core::wire::{FailureStats, MetricReport, RunInfo};

mod engine;
mod host;
mod http;
mod transport;

pub use engine::run;
pub use host::{HostUrl, InvalidValue, HOST_EXPECTED};
pub use http::RequestError;

/// The seed guide's defaults (its Dockerfile: `locustUsers=10
/// locustHatchRate=10 locustRunTime=5`).
pub const DEFAULT_USERS: u32 = 10;
pub const DEFAULT_SPAWN_RATE: f64 = 10.0;
pub const DEFAULT_RUN_TIME: Duration = Duration::from_secs(5);
pub const DEFAULT_GRACE: Duration = Duration::from_secs(1);

/// The wait of the default probe (no locustfile, no `load.waitTime`): with
/// the guide's 10 users for 5 s, about 65 requests, each user idle more
/// than 99 % of the time, so the probe barely queues behind itself (see
/// docs/algorithm.md). Not Locust's `constant(0)`: users that never wait
/// queue behind each other and measure that queue.
pub const DEFAULT_WAIT: WaitTime =
    WaitTime::Between(Duration::from_millis(500), Duration::from_secs(1));
/// A response body larger than this is read and discarded up to the cap,
/// then the request counts as a failure ("response body over 10 MiB"): a
/// load test must not buffer, or wait on, an unbounded download.
pub const MAX_BODY: u64 = 10 << 20;

/// The failure of a request still unanswered at run time + grace. Lpa's
/// Locust plugin (`lpa_failures.py`) words it the same, so both drivers
/// key a hang as one failure kind.
pub const UNANSWERED: &str = "no response within run time + grace";

/// A sent request is "late" in the open model when it leaves this much
/// after its scheduled time.
pub const LATE_AFTER: Duration = Duration::from_millis(1);

/// Settings that override the config's `load:` section, which overrides
/// the defaults: typed and checked by whoever read them (the binary's
/// flags and env vars).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadOverrides {
    pub host: Option<HostUrl>,
    /// At least 1.
    pub users: Option<u32>,
    /// Users started per second: finite, above 0.
    pub spawn_rate: Option<f64>,
    /// Above zero; counts the ramp-up.
    pub run_time: Option<Duration>,
    /// Open model: task runs per second in total, finite, above 0.
    pub arrival_rate: Option<f64>,
    /// Every user class's wait.
    pub wait_time: Option<WaitTime>,
    /// Replaces the config's requests.
    pub requests: Vec<RequestSpec>,
    /// PEM file of the CAs that https:// hosts are verified against,
    /// instead of the built-in (Mozilla) roots: for private CAs.
    pub ca_bundle: Option<PathBuf>,
}

/// The distinct failure kinds a run keeps of each request, and the longest
/// a kind's words may be. Some words are the server's (a redirect's Location, the names
/// in a certificate, Locust's exception text with its URL): a server that
/// words each failure anew (a random Location) made one kind per request,
/// and a 3 s run printed 540 MB of table, or a metric JSON larger than
/// CPA's evaluate hook takes.
pub const MAX_FAILURE_KINDS: usize = 32;
const MAX_FAILURE_CHARS: usize = 200;

/// Counts `n` failures of `request` worded `error` in `kinds`; past
/// [`MAX_FAILURE_KINDS`] kinds of that request, a new one counts as its
/// [`other_failures`]. Per request: one request worded anew each time
/// must not take the places of another's kinds.
pub(crate) fn tally<R: Ord + Clone>(
    kinds: &mut BTreeMap<(R, String), u64>,
    request: R,
    error: String,
    n: u64,
) {
    let key = (request, error);
    if let Some(count) = kinds.get_mut(&key) {
        *count += n;
        return;
    }
    let (request, error) = key;
    let held = kinds
        .range((request.clone(), String::new())..)
        .take_while(|((r, _), _)| *r == request)
        .count();
    let error = if held < MAX_FAILURE_KINDS {
        error
    } else {
        other_failures()
    };
    *kinds.entry((request, error)).or_default() += n;
}

/// The kind past [`MAX_FAILURE_KINDS`].
pub(crate) fn other_failures() -> String {
    format!("other failures (a run keeps {MAX_FAILURE_KINDS} kinds)")
}

/// A failure's words, cut at [`MAX_FAILURE_CHARS`] characters.
pub(crate) fn failure_words(mut error: String) -> String {
    if let Some((cut, _)) = error.char_indices().nth(MAX_FAILURE_CHARS) {
        error.truncate(cut);
        error.push_str("...");
    }
    error
}

/// A validated load test: everything [`run`] needs.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadPlan {
    /// Request paths are appended to its base.
    pub host: HostUrl,
    pub users: u32,
    pub spawn_rate: f64,
    pub run_time: Duration,
    /// Open model: task runs per second in total (requests per second when
    /// every task is one request); `users` caps the concurrency.
    pub arrival_rate: Option<f64>,
    /// Bounds connecting and each read and write of a request.
    pub timeout: Duration,
    pub grace: Duration,
    pub fail_status: u16,
    /// Every request of the plan, sent by the tasks that name its index.
    pub requests: Vec<RequestSpec>,
    /// Who sends them: at least one class, each with at least one task.
    pub classes: Vec<UserClass>,
    /// Percentiles the targets ask for beyond the standard set.
    pub percentiles: Vec<Percent>,
    /// Seeds each user's request choice and `between` waits.
    pub seed: u64,
    /// The CAs to verify an https host against; `None`: the built-in roots.
    pub ca_bundle: Option<CaBundle>,
}

/// Users of one kind: their share of the users, their wait between tasks
/// and the tasks they pick from.
#[derive(Debug, Clone, PartialEq)]
pub struct UserClass {
    pub name: String,
    /// Relative share of the users (Locust's class `weight`), >= 1.
    pub weight: u32,
    pub wait_time: WaitTime,
    pub tasks: Vec<Task>,
}

/// What a user does once per loop: requests in order, then its wait.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub name: String,
    /// Relative frequency within its class, >= 1.
    pub weight: u32,
    /// Indexes into [`LoadPlan::requests`], sent in this order.
    pub requests: Vec<usize>,
}

/// The certificates of a CA bundle file, read once when the plan is made.
#[derive(Clone, PartialEq)]
pub struct CaBundle {
    pub path: PathBuf,
    /// DER of each certificate, in file order.
    pub certificates: Vec<Vec<u8>>,
}

impl std::fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CaBundle({}, {} certificates)",
            self.path.display(),
            self.certificates.len()
        )
    }
}

impl CaBundle {
    /// Reads the PEM certificates of `path`; a file without any is an error.
    pub fn read(path: &std::path::Path) -> Result<CaBundle, LoadError> {
        let bad = |message: String| LoadError::CaBundle {
            path: path.display().to_string(),
            message,
        };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string().to_lowercase()))?;
        let mut certificates = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => certificates.push(c.der().to_vec()),
                Ok(_) => {}
                Err(e) => return Err(bad(format!("not PEM: {e}"))),
            }
        }
        if certificates.is_empty() {
            return Err(bad(
                "no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into(),
            ));
        }
        Ok(CaBundle {
            path: path.to_path_buf(),
            certificates,
        })
    }
}

/// Why a load test could not run, or reached nothing. Errors about a
/// setting name it, not the flag or env var that set it.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{field}: invalid value {value:?} (expected {expected})")]
    Invalid {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("no host to load-test")]
    NoHost,
    #[error("{file}: host of class {class}: {source}")]
    ClassHost {
        file: String,
        class: String,
        source: InvalidValue,
    },
    #[error("{file}: the user classes have different hosts ({hosts}), and lpa load-tests one")]
    ClassHosts { file: String, hosts: String },
    #[error("unknown host name {host:?} in {url} ({message})")]
    UnknownHost {
        host: String,
        url: String,
        message: String,
    },
    #[error("cannot connect to {url} ({message})")]
    Unreachable { url: String, message: String },
    #[error("no request reached {url}: all {attempts} failed ({errors})")]
    NothingReached {
        url: String,
        attempts: u64,
        errors: String,
    },
    #[error("no request was sent to {url} within the run time {run_time}")]
    NothingSent { url: String, run_time: String },
    #[error("CA bundle {path}: {message}")]
    CaBundle { path: String, message: String },
    #[error("load.requests: {0} (expected requests that form a valid HTTP request with the host)")]
    Request(#[from] http::RequestError),
    #[error("cannot start a user thread: {0}")]
    Spawn(std::io::Error),
    #[error("{panicked} of {started} users stopped on an internal error (a bug in lpa: its message is above); the run is not a measurement")]
    UserPanicked { panicked: u32, started: u32 },
}

impl LoadPlan {
    /// Builds the plan from an evaluation config (its `load:` section and
    /// targets) and the flag/env overrides. Flags and env win over the
    /// config, the config over the defaults. One user class; each request
    /// its own task.
    pub fn from_config(
        config: &EvaluationConfig,
        overrides: &LoadOverrides,
    ) -> Result<LoadPlan, LoadError> {
        LoadPlan::from_parts(config.load.as_ref(), config.policy.targets(), overrides)
    }

    /// [`LoadPlan::from_config`] from its parts: a `load:` section if any,
    /// and the targets whose requests are sent when nothing else names one.
    pub fn from_parts(
        load: Option<&LoadSpec>,
        targets: &[Target],
        overrides: &LoadOverrides,
    ) -> Result<LoadPlan, LoadError> {
        let spec = load.cloned().unwrap_or_default();
        let host = overrides.host.clone().ok_or(LoadError::NoHost)?;
        let mut plan = LoadPlan::settings(load, targets, overrides, host)?;
        plan.requests = if !overrides.requests.is_empty() {
            overrides.requests.clone()
        } else if spec.requests.is_empty() {
            requests_of_targets(targets)
        } else {
            spec.requests.clone()
        };
        let wait_time = overrides
            .wait_time
            .or(spec.wait_time)
            .unwrap_or(DEFAULT_WAIT);
        plan.classes = vec![UserClass {
            name: "users".into(),
            weight: 1,
            wait_time,
            tasks: plan
                .requests
                .iter()
                .enumerate()
                .map(|(i, r)| Task {
                    name: r.key(),
                    weight: r.weight.max(1),
                    requests: vec![i],
                })
                .collect(),
        }];
        Ok(plan)
    }

    /// Builds the plan of a translated locustfile: its user classes, tasks
    /// and waits, with the users, spawn rate, run time, timeouts and
    /// arrival rate of the flags, env and `load:` section as
    /// [`LoadPlan::from_config`] takes them. `--wait-time` overrides every
    /// class's wait; a class's `host` is used only without a host flag or
    /// env (all classes must then agree).
    pub fn from_locustfile(
        load: Option<&LoadSpec>,
        targets: &[Target],
        overrides: &LoadOverrides,
        file: &str,
        locust: &LocustPlan,
    ) -> Result<LoadPlan, LoadError> {
        let host = match &overrides.host {
            Some(h) => h.clone(),
            None => {
                let hosts: Vec<(&str, Option<&str>)> = locust
                    .classes
                    .iter()
                    .map(|c| (c.name.as_str(), c.host.as_deref()))
                    .collect();
                match hosts.as_slice() {
                    [(class, Some(h)), rest @ ..] if rest.iter().all(|(_, o)| *o == Some(*h)) => {
                        h.parse().map_err(|source| LoadError::ClassHost {
                            file: file.to_string(),
                            class: class.to_string(),
                            source,
                        })?
                    }
                    _ if hosts.iter().all(|(_, h)| h.is_none()) => return Err(LoadError::NoHost),
                    _ => {
                        let each: Vec<String> = hosts
                            .iter()
                            .map(|(c, h)| format!("{c}: {}", h.unwrap_or("none")))
                            .collect();
                        return Err(LoadError::ClassHosts {
                            file: file.to_string(),
                            hosts: each.join(", "),
                        });
                    }
                }
            }
        };
        let mut plan = LoadPlan::settings(load, targets, overrides, host)?;
        let wait = overrides.wait_time;
        for class in &locust.classes {
            let mut tasks = Vec::with_capacity(class.tasks.len());
            for task in &class.tasks {
                let first = plan.requests.len();
                plan.requests.extend(task.requests.iter().cloned());
                tasks.push(Task {
                    name: task.name.clone(),
                    weight: task.weight.max(1),
                    requests: (first..plan.requests.len()).collect(),
                });
            }
            plan.classes.push(UserClass {
                name: class.name.clone(),
                weight: class.weight.max(1),
                wait_time: wait.unwrap_or(class.wait_time),
                tasks,
            });
        }
        Ok(plan)
    }

    /// Everything but the requests and classes: flags and env over the
    /// `load:` section over the defaults.
    fn settings(
        load: Option<&LoadSpec>,
        targets: &[Target],
        overrides: &LoadOverrides,
        host: HostUrl,
    ) -> Result<LoadPlan, LoadError> {
        let spec = load.cloned().unwrap_or_default();
        let users = overrides.users.or(spec.users).unwrap_or(DEFAULT_USERS);
        let spawn_rate = overrides
            .spawn_rate
            .or(spec.spawn_rate)
            .unwrap_or(DEFAULT_SPAWN_RATE);
        let run_time = overrides
            .run_time
            .or(spec.run_time)
            .unwrap_or(DEFAULT_RUN_TIME);
        let arrival_rate = overrides.arrival_rate.or(spec.arrival_rate);
        let grace = spec.grace.unwrap_or(DEFAULT_GRACE);
        // Without a configured timeout a request may take the whole run:
        // the deadline, not the timeout, is what bounds it then.
        let timeout = spec.timeout.unwrap_or(run_time + grace);
        let mut percentiles: Vec<Percent> = Vec::new();
        for t in targets {
            if let TargetKind::Percentile(p) = t.kind() {
                if !percentiles.contains(&p) {
                    percentiles.push(p);
                }
            }
        }
        Ok(LoadPlan {
            host,
            users,
            spawn_rate,
            run_time,
            arrival_rate,
            timeout,
            grace,
            fail_status: if spec.fail_status == 0 {
                400
            } else {
                spec.fail_status
            },
            requests: Vec::new(),
            classes: Vec::new(),
            percentiles,
            seed: 0x5eed_1ed5,
            ca_bundle: match &overrides.ca_bundle {
                Some(path) => Some(CaBundle::read(path)?),
                None => None,
            },
        })
    }

    /// The requests one run is expected to send: for the open model the
    /// arrival rate times the run time; for the closed model, each user
    /// started within the run time runs a task at its start and then one
    /// per mean wait until the end (the service's own time not counted, so
    /// rather above than below). `None`
    /// when a class does not wait: it sends as fast as the service answers.
    pub fn expected_requests(&self) -> Option<u64> {
        let per_task = |c: &UserClass| {
            let total: f64 = c.tasks.iter().map(|t| f64::from(t.weight)).sum();
            c.tasks
                .iter()
                .map(|t| f64::from(t.weight) * t.requests.len() as f64)
                .sum::<f64>()
                / total.max(1.0)
        };
        let run = self.run_time.as_secs_f64();
        if let Some(rate) = self.arrival_rate {
            let weights: f64 = self.classes.iter().map(|c| f64::from(c.weight)).sum();
            let mean: f64 = self
                .classes
                .iter()
                .map(|c| f64::from(c.weight) * per_task(c))
                .sum::<f64>()
                / weights.max(1.0);
            return Some(((rate * run).ceil() * mean).round() as u64);
        }
        let mut total = 0.0;
        for (i, &class) in self.user_classes().iter().enumerate() {
            let start = f64::from(i as u32) / self.spawn_rate;
            if start >= run {
                break;
            }
            let c = &self.classes[class];
            let period = match c.wait_time {
                WaitTime::Constant(d) | WaitTime::ConstantPacing(d) => d.as_secs_f64(),
                WaitTime::Between(a, b) => (a.as_secs_f64() + b.as_secs_f64()) / 2.0,
                WaitTime::ConstantThroughput(n) => 1.0 / n,
            };
            if period <= 0.0 {
                return None;
            }
            // Task runs start at start + k * period while before the end;
            // the epsilon keeps a run due exactly at the end out, and the
            // first, at start, is always in, however long the period.
            let runs = ((run - start) / period - 1e-9).ceil().max(1.0);
            total += runs * per_task(c);
        }
        Some(total.round() as u64)
    }

    /// The class of each user in spawn order ([`assign_classes`]).
    pub fn user_classes(&self) -> Vec<usize> {
        let names: Vec<(&str, u32)> = self
            .classes
            .iter()
            .map(|c| (c.name.as_str(), c.weight))
            .collect();
        assign_classes(&names, self.users)
    }

    /// The waits, as Locust spells them: one, or each class's.
    pub fn wait_text(&self) -> String {
        match self.classes.as_slice() {
            [first, rest @ ..] if rest.iter().all(|c| c.wait_time == first.wait_time) => {
                first.wait_time.to_string()
            }
            classes => classes
                .iter()
                .map(|c| format!("{} {}", c.name, c.wait_time))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// The probe's plan in one phrase: users, wait or arrival rate, and the
    /// requests a run is expected to send.
    pub fn describe(&self) -> String {
        let run = format_duration(self.run_time);
        let expected = match self.expected_requests() {
            Some(n) => format!("about {} per {run} run", crate::text::count(n, "request")),
            None => format!("no wait: as many requests as the service answers in {run}"),
        };
        if let Some(rate) = self.arrival_rate {
            let one_each = self
                .classes
                .iter()
                .all(|c| c.tasks.iter().all(|t| t.requests.len() == 1));
            let unit = if one_each {
                "requests/s"
            } else {
                "task runs/s"
            };
            return format!(
                "{rate} {unit} (open model), at most {} concurrent, {expected}",
                self.users
            );
        }
        let split = if self.classes.len() > 1 {
            let assigned = self.user_classes();
            let each: Vec<String> = self
                .classes
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let n = assigned.iter().filter(|&&a| a == i).count();
                    format!("{} {n}", c.name)
                })
                .collect();
            format!(" ({})", each.join(", "))
        } else {
            String::new()
        };
        format!(
            "{} at {}/s{split}, wait {}, {expected}",
            crate::text::count(self.users, "user"),
            self.spawn_rate,
            self.wait_text()
        )
    }

    /// The full URL of a request.
    pub fn url(&self, request: &RequestSpec) -> String {
        format!("{}{}", self.host.base(), request.path)
    }
}

/// Locust's assignment of users to classes, in spawn order: its
/// dispatcher's generator over the classes sorted by name, which gives
/// each next user to the class whose share is furthest below its weight
/// (Kullback-Leibler divergence; `locust/dispatch.py`, `_kl_generator`).
/// A class of weight 0 gets none.
pub fn assign_classes(classes: &[(&str, u32)], users: u32) -> Vec<usize> {
    // (divergence gain, users so far + weight, weight, name, index), as
    // Locust's heap entries, compared in that order.
    let mut state: Vec<(f64, f64, f64, &str, usize)> = classes
        .iter()
        .enumerate()
        .filter(|(_, (_, w))| *w > 0)
        .map(|(i, &(name, w))| {
            let w = f64::from(w);
            (w * (w / (w + 1.0)).log2(), w + 1.0, w, name, i)
        })
        .collect();
    let mut out = Vec::with_capacity(users as usize);
    if state.is_empty() {
        return out;
    }
    for _ in 0..users {
        let next = (0..state.len())
            .min_by(|&a, &b| {
                let (x, y) = (&state[a], &state[b]);
                x.0.total_cmp(&y.0)
                    .then(x.1.total_cmp(&y.1))
                    .then(x.2.total_cmp(&y.2))
                    .then(x.3.cmp(y.3))
            })
            .unwrap_or(0);
        let entry = &mut state[next];
        out.push(entry.4);
        entry.0 = entry.2 * (entry.1 / (entry.1 + 1.0)).log2();
        entry.1 += 1.0;
    }
    out
}

/// One request per distinct target (method, endpoint), weight 1: what the
/// original's locustfile did with the seed guide's config.
fn requests_of_targets(targets: &[Target]) -> Vec<RequestSpec> {
    let mut out: Vec<RequestSpec> = Vec::new();
    // A set, not a search of `out`: 10 000 targets took seconds.
    let mut seen = std::collections::HashSet::new();
    for t in targets {
        if !seen.insert(t.key()) {
            continue;
        }
        let method = Method::parse(t.method()).unwrap_or(Method::Get);
        out.extend(RequestSpec::new(method, t.endpoint()));
    }
    out
}

/// The progress of a running test, for a progress line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub elapsed: Duration,
    pub run_time: Duration,
    pub users_started: u32,
    pub users: u32,
    pub requests: u64,
    pub failures: u64,
}

/// The result of [`run`]: per-request statistics keyed `"{METHOD}_{name}"`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadOutcome {
    pub requests: BTreeMap<String, RequestStats>,
    /// Keyed `"{METHOD}_{name}: {error}"`, as in the metric JSON.
    pub failures: BTreeMap<String, FailureStats>,
    pub num_requests: u64,
    pub num_failures: u64,
    /// How the test ran: every field the native driver knows is set.
    pub run: RunInfo,
    /// Every request's latency in ns, unordered (for a histogram of them).
    pub latencies_ns: Vec<u64>,
}

impl LoadOutcome {
    /// The metric JSON, with the replica count the caller knows.
    pub fn into_report(self, current_replicas: Option<u32>) -> MetricReport {
        MetricReport {
            current_replicas,
            requests: self.requests,
            failures: self.failures,
            num_requests: Some(self.num_requests),
            num_requests_fail: Some(self.num_failures),
            run: Some(self.run),
        }
    }
}

impl From<LoadOutcome> for MetricReport {
    fn from(outcome: LoadOutcome) -> MetricReport {
        outcome.into_report(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> EvaluationConfig {
        lpa_core::config::parse_evaluation_config("eval.yaml", text, &Default::default())
            .unwrap()
            .value
    }

    fn host(h: &str) -> LoadOverrides {
        LoadOverrides {
            host: Some(h.parse().unwrap()),
            ..LoadOverrides::default()
        }
    }

    const SEED: &str = "targets: [{method: GET, endpoint: /fibonacci?n=10, type: mean, target: 7}]";

    #[test]
    fn defaults_follow_the_seed_guide() {
        let p = LoadPlan::from_config(&policy(SEED), &host("http://fibonacci:5000/")).unwrap();
        assert_eq!(p.host.base(), "http://fibonacci:5000");
        assert_eq!(
            (p.users, p.spawn_rate, p.run_time),
            (10, 10.0, Duration::from_secs(5))
        );
        assert_eq!(p.grace, DEFAULT_GRACE);
        assert_eq!(p.timeout, Duration::from_secs(6));
        assert_eq!(p.fail_status, 400);
        assert_eq!(
            p.url(&p.requests[0]),
            "http://fibonacci:5000/fibonacci?n=10"
        );
    }

    #[test]
    fn flags_override_the_load_section() {
        let pol = policy(&format!(
            "{SEED}\nload: {{users: 3, spawnRate: 1, runTime: 9s, timeout: 2s, requests: [{{path: /a, weight: 2}}, {{method: post, path: /b, name: b}}]}}"
        ));
        let p = LoadPlan::from_config(&pol, &host("http://x")).unwrap();
        assert_eq!(
            (p.users, p.spawn_rate, p.run_time, p.timeout),
            (3, 1.0, Duration::from_secs(9), Duration::from_secs(2))
        );
        assert_eq!(
            p.requests.iter().map(RequestSpec::key).collect::<Vec<_>>(),
            ["GET_/a", "POST_b"]
        );
        let o = LoadOverrides {
            users: Some(7),
            spawn_rate: Some(2.5),
            run_time: Some(Duration::from_secs(60)),
            arrival_rate: Some(100.0),
            ..host("http://x")
        };
        let p = LoadPlan::from_config(&pol, &o).unwrap();
        assert_eq!(
            (p.users, p.spawn_rate, p.run_time),
            (7, 2.5, Duration::from_secs(60))
        );
        assert_eq!(p.arrival_rate, Some(100.0));
        let o = LoadOverrides {
            requests: ["/x?a=1", "post /y"]
                .map(|r| RequestSpec::parse(r).unwrap())
                .to_vec(),
            ..host("http://x")
        };
        let p = LoadPlan::from_config(&pol, &o).unwrap();
        assert_eq!(
            p.requests.iter().map(RequestSpec::key).collect::<Vec<_>>(),
            ["GET_/x?a=1", "POST_/y"]
        );
        let none = LoadPlan::from_config(&pol, &LoadOverrides::default()).unwrap_err();
        assert!(matches!(none, LoadError::NoHost), "{none}");
    }

    #[test]
    fn the_default_probe_waits_and_says_what_it_sends() {
        let plan = |o: LoadOverrides| LoadPlan::from_config(&policy(SEED), &o);
        let wait = |w: &str| LoadOverrides {
            wait_time: WaitTime::parse(w),
            ..host("http://x")
        };
        let p = plan(host("http://x")).unwrap();
        assert_eq!(p.classes.len(), 1);
        assert_eq!(p.classes[0].wait_time, DEFAULT_WAIT);
        // Users start at 0, 0.1, ... 0.9 s and run a task every 0.75 s:
        // 7 runs each for the first five, 6 for the others.
        assert_eq!(p.expected_requests(), Some(65));
        assert_eq!(
            p.describe(),
            "10 users at 10/s, wait between(0.5, 1), about 65 requests per 5s run"
        );
        let p = plan(LoadOverrides {
            users: Some(1),
            run_time: Some(Duration::from_secs(1)),
            arrival_rate: None,
            ..host("http://x")
        })
        .unwrap();
        assert_eq!(
            p.describe(),
            "1 user at 10/s, wait between(0.5, 1), about 2 requests per 1s run"
        );
        let p = plan(wait("constant(0)")).unwrap();
        assert_eq!(p.expected_requests(), None);
        assert!(p
            .describe()
            .ends_with("wait constant(0), no wait: as many requests as the service answers in 5s"));
        let p = plan(LoadOverrides {
            arrival_rate: Some(2.0),
            ..host("http://x")
        })
        .unwrap();
        assert_eq!(
            p.describe(),
            "2 requests/s (open model), at most 10 concurrent, about 10 requests per 5s run"
        );
        let p = plan(wait("between(5, 9)")).unwrap();
        assert_eq!(p.expected_requests(), Some(10), "the guide's probe");
        let p = plan(wait("constant_pacing(999999999999)")).unwrap();
        assert_eq!(p.expected_requests(), Some(10), "one each, at its start");
        let configured = format!("{SEED}\nload: {{waitTime: constant_pacing(2)}}");
        let p = LoadPlan::from_config(&policy(&configured), &host("http://x")).unwrap();
        assert_eq!(p.wait_text(), "constant_pacing(2)");
        assert_eq!(p.expected_requests(), Some(30));
    }

    #[test]
    fn users_go_to_classes_as_locusts_dispatcher_gives_them() {
        // Sequences printed by Locust 2.47's own `_kl_generator`.
        let letters = |classes: &[(&str, u32)], n| -> String {
            assign_classes(classes, n)
                .into_iter()
                .map(|i| classes[i].0)
                .collect()
        };
        assert_eq!(letters(&[("A", 5), ("B", 1)], 12), "AABAAAAABAAA");
        assert_eq!(letters(&[("A", 3), ("B", 1)], 12), "ABAAABAAABAA");
        assert_eq!(letters(&[("C", 2), ("B", 1), ("A", 1)], 12), "CABCCABCCABC");
        assert_eq!(
            letters(&[("Web", 3), ("Admin", 1)], 8),
            "WebAdminWebWebWebAdminWebWeb"
        );
        assert_eq!(assign_classes(&[("A", 0), ("B", 2)], 3), [1, 1, 1]);
        assert!(assign_classes(&[("A", 0)], 3).is_empty());
    }

    #[test]
    fn a_translated_locustfile_keeps_its_classes_tasks_and_waits() {
        let locust = lpa_core::locustfile::translate(
            "l.py",
            "from locust import HttpUser, task, constant, between\n\
             class A(HttpUser):\n    host = 'http://a:1'\n    weight = 3\n    wait_time = constant(1)\n    \
             @task(2)\n    def two(self):\n        self.client.get('/1')\n        self.client.post('/2')\n\
             class B(HttpUser):\n    host = 'http://a:1'\n    wait_time = between(1, 3)\n    \
             @task\n    def one(self):\n        self.client.get('/b')\n",
        )
        .unwrap();
        let none = LoadOverrides::default();
        let p =
            LoadPlan::from_locustfile(None, policy(SEED).policy.targets(), &none, "l.py", &locust)
                .unwrap();
        assert_eq!(
            p.host.base(),
            "http://a:1",
            "the classes' host, without a flag"
        );
        assert_eq!(p.requests.len(), 3);
        assert_eq!(p.classes[0].tasks[0].requests, [0, 1]);
        assert_eq!(p.classes[1].tasks[0].requests, [2]);
        assert_eq!(p.wait_text(), "A constant(1), B between(1, 3)");
        // Users ABAAABAAAB: A's 7 (starting at 0, 0.2, 0.3, 0.4, 0.6, 0.7,
        // 0.8 s) run 5 tasks of 2 requests each; B's 3 run 3 tasks each.
        assert_eq!(
            p.describe(),
            "10 users at 10/s (A 7, B 3), wait A constant(1), B between(1, 3), about 79 requests per 5s run"
        );
        let flag = LoadOverrides {
            wait_time: WaitTime::parse("constant(2)"),
            ..host("http://flag:2")
        };
        let p =
            LoadPlan::from_locustfile(None, policy(SEED).policy.targets(), &flag, "l.py", &locust)
                .unwrap();
        assert_eq!(
            p.host.base(),
            "http://flag:2",
            "a host flag wins over the classes'"
        );
        assert_eq!(p.wait_text(), "constant(2)");

        let apart = lpa_core::locustfile::translate(
            "l.py",
            "from locust import HttpUser, task\n\
             class A(HttpUser):\n    host = 'http://a:1'\n    @task\n    def t(self):\n        self.client.get('/a')\n\
             class B(HttpUser):\n    @task\n    def t(self):\n        self.client.get('/b')\n",
        )
        .unwrap();
        let e =
            LoadPlan::from_locustfile(None, policy(SEED).policy.targets(), &none, "l.py", &apart)
                .unwrap_err()
                .to_string();
        assert_eq!(
            e,
            "l.py: the user classes have different hosts (A: http://a:1, B: none), and lpa load-tests one"
        );
        assert!(LoadPlan::from_locustfile(
            None,
            policy(SEED).policy.targets(),
            &host("http://x"),
            "l.py",
            &apart
        )
        .is_ok());
    }

    #[test]
    fn requests_come_from_distinct_targets() {
        let pol = policy("targets: [{endpoint: /a, type: mean, target: 1}, {endpoint: /a, type: p99, target: 9}, {method: POST, endpoint: /b, type: p99.9, target: 9}]");
        let p = LoadPlan::from_config(&pol, &host("http://x")).unwrap();
        assert_eq!(p.requests.len(), 2);
        assert_eq!(
            p.percentiles,
            [Percent::new(99.0).unwrap(), Percent::new(99.9).unwrap()]
        );
    }
}
