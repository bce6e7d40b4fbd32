//! The evaluation config: from text to an [`EvaluationConfig`] (the
//! [`Policy`] that `decide` reads, and the `load:` section the load
//! generator reads).
//!
//! The seed guide's file works unchanged:
//!
//! ```yaml
//! targets:
//!   - method: "GET"
//!     endpoint: "/fibonacci?n=10"
//!     type: "mean"
//!     target: 7
//! decay:
//!   replicas: 1
//!   unchangedRuns: 3
//! ```
//!
//! Everything else is an optional extension. The text is deserialized into
//! raw types through [`crate::parse`] (errors name the file, the field path,
//! the value and what was expected; unknown fields are warnings), then
//! checked into the types below, whose fields are private where an
//! invariant lives: a `Policy` always has targets, no duplicates and
//! `1 <= minReplicas <= maxReplicas`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::duration::{format_duration, parse_duration};
use crate::parse::{
    fields_of, from_text, from_yaml, invalid, invalid_shown, name_the_typo, At, Count,
    DurationField, Format, ParseError, Parsed, Raw, ReplicaCount, Spelling, Text, UnknownKeys,
    Warning,
};

/// What an evaluation config file holds: the policy `decide` applies and the
/// optional `load:` section for the native load generator. Kept apart so
/// the load settings (credential headers among them) never travel into
/// `decide` or a simulation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvaluationConfig {
    #[serde(flatten)]
    pub policy: Policy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadSpec>,
}

/// A validated autoscaling policy. The invariants hold after parsing and
/// through every setter: at least one target, no duplicates,
/// `1 <= min_replicas <= max_replicas`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub(crate) targets: Vec<Target>,
    pub(crate) decay: Decay,
    pub(crate) min_replicas: u32,
    /// `None`: no upper bound of lpa's (shown as `unbounded`).
    #[serde(serialize_with = "ser_bound")]
    pub(crate) max_replicas: Option<u32>,
    pub(crate) scale_up: ScaleUp,
    /// HPA's downscale stabilization: the highest recommendation inside the
    /// window wins. Zero disables it.
    #[serde(serialize_with = "ser_duration")]
    pub(crate) downscale_stabilization: Duration,
    /// The learned latency model (`model:`); `None`: the configured rule alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) model: Option<ModelConfig>,
}

/// Why a policy could not be built as asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    #[error("a policy needs at least one target")]
    NoTargets,
    #[error("targets[{index}] duplicates targets[{first}]")]
    Duplicate { index: usize, first: usize },
    #[error("maxReplicas {max} is below minReplicas {min}")]
    Bounds { min: u32, max: u32 },
    #[error("no target {index}")]
    NoSuchTarget { index: usize },
    #[error("{0}")]
    Target(#[from] TargetError),
    #[error("{field} {value} (expected {expected})")]
    Invalid {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
}

impl Policy {
    /// A policy with the seed guide's decay and the given targets.
    pub fn new(targets: Vec<Target>) -> Result<Policy, PolicyError> {
        if targets.is_empty() {
            return Err(PolicyError::NoTargets);
        }
        // By a map: compared pair by pair, 10 000 targets took 14 s.
        let mut seen = std::collections::HashMap::new();
        for (i, t) in targets.iter().enumerate() {
            // Equal percentiles are written alike.
            let id = (t.key(), t.kind.to_string());
            if let Some(&first) = seen.get(&id) {
                return Err(PolicyError::Duplicate { index: i, first });
            }
            seen.insert(id, i);
        }
        Ok(Policy {
            targets,
            decay: Decay::default(),
            min_replicas: 1,
            max_replicas: None,
            scale_up: ScaleUp::default(),
            downscale_stabilization: Duration::ZERO,
            model: None,
        })
    }

    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    pub fn decay(&self) -> Decay {
        self.decay
    }

    pub fn min_replicas(&self) -> u32 {
        self.min_replicas
    }

    pub fn max_replicas(&self) -> Option<u32> {
        self.max_replicas
    }

    pub fn scale_up(&self) -> ScaleUp {
        self.scale_up
    }

    pub fn downscale_stabilization(&self) -> Duration {
        self.downscale_stabilization
    }

    pub fn set_decay(&mut self, decay: Decay) -> Result<(), PolicyError> {
        decay.check()?;
        self.decay = decay;
        Ok(())
    }

    /// `min` must be at least 1 (lpa never decides 0 replicas: a latency
    /// probe cannot see a service that has none), `max` at least `min`.
    pub fn set_replica_bounds(&mut self, min: u32, max: Option<u32>) -> Result<(), PolicyError> {
        if min == 0 {
            return Err(PolicyError::Invalid {
                field: "minReplicas",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        if let Some(max) = max.filter(|&m| m < min) {
            return Err(PolicyError::Bounds { min, max });
        }
        self.min_replicas = min;
        self.max_replicas = max;
        Ok(())
    }

    pub fn set_scale_up(&mut self, scale_up: ScaleUp) -> Result<(), PolicyError> {
        scale_up.check()?;
        self.scale_up = scale_up;
        Ok(())
    }

    pub fn set_downscale_stabilization(&mut self, window: Duration) {
        self.downscale_stabilization = window;
    }

    /// The learned latency model's settings; `None` when it is off.
    pub fn model(&self) -> Option<ModelConfig> {
        self.model
    }

    pub fn set_model(&mut self, model: Option<ModelConfig>) -> Result<(), PolicyError> {
        if let Some(m) = &model {
            m.check()?;
        }
        self.model = model;
        Ok(())
    }

    /// Sets the value of target `index` (a sweep varies the first one).
    pub fn set_target_value(&mut self, index: usize, value: f64) -> Result<(), PolicyError> {
        let t = self
            .targets
            .get(index)
            .ok_or(PolicyError::NoSuchTarget { index })?;
        let changed = Target::new(t.method.as_str(), &t.endpoint, t.kind, value)?;
        self.targets[index] = changed;
        Ok(())
    }
}

/// One latency or error target on one request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    pub(crate) method: Method,
    pub(crate) endpoint: String,
    #[serde(rename = "type")]
    pub(crate) kind: TargetKind,
    /// Milliseconds for latency types, a fraction in [0, 1] for `errorRate`.
    pub(crate) target: f64,
}

/// Which part of a target was wrong, and what it should have been.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: invalid value {value:?} (expected {expected})")]
pub struct TargetError {
    pub field: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl Target {
    pub const ENDPOINT_EXPECTED: &'static str =
        "a path starting with /, such as /fibonacci?n=10 (the host goes in locustHost)";

    /// A target on `METHOD endpoint`. The endpoint is the path and query of
    /// the request, starting with `/`; the value is milliseconds for a
    /// latency and a fraction from 0 to 1 for `errorRate`.
    pub fn new(
        method: &str,
        endpoint: &str,
        kind: TargetKind,
        target: f64,
    ) -> Result<Target, TargetError> {
        let method = Method::parse(method).ok_or_else(|| TargetError {
            field: "method",
            value: method.to_string(),
            expected: Method::EXPECTED,
        })?;
        if !is_path(endpoint) {
            return Err(TargetError {
                field: "endpoint",
                value: endpoint.to_string(),
                expected: Target::ENDPOINT_EXPECTED,
            });
        }
        if !kind.accepts(target) {
            return Err(TargetError {
                field: "target",
                value: target.to_string(),
                expected: kind.value_expected(),
            });
        }
        Ok(Target {
            method,
            endpoint: endpoint.to_string(),
            kind,
            target,
        })
    }

    pub fn method(&self) -> &str {
        self.method.as_str()
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn kind(&self) -> TargetKind {
        self.kind
    }

    pub fn target(&self) -> f64 {
        self.target
    }

    /// The request key this target reads: `"{METHOD}_{endpoint}"`, as
    /// invokust and the original autoscaler keyed their statistics.
    pub fn key(&self) -> String {
        request_key(self.method.as_str(), &self.endpoint)
    }

    /// `GET /fibonacci?n=10 mean`, for people.
    pub fn label(&self) -> String {
        format!("{} {} {}", self.method, self.endpoint, self.kind)
    }
}

/// The key under which a request's statistics are reported.
pub fn request_key(method: &str, name: &str) -> String {
    format!("{}_{}", method.to_ascii_uppercase(), name)
}

/// A path and query relative to the host: starts with `/`, no white space
/// or control characters.
fn is_path(p: &str) -> bool {
    p.starts_with('/') && !p.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// An HTTP method a load test sends: the standard ones (RFC 9110 and
/// PATCH, RFC 5789) but CONNECT and TRACE, which test nothing of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

impl Method {
    pub const EXPECTED: &'static str =
        "an HTTP method: GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS";

    /// Parses a method in any case (`get` is `GET`).
    pub fn parse(text: &str) -> Option<Method> {
        Some(match text.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }

    /// Whether a request of this method carries a body by nature, so an
    /// empty one still says `content-length: 0`.
    pub fn has_body(self) -> bool {
        matches!(self, Method::Post | Method::Put | Method::Patch)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Method {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, Method::parse, Method::EXPECTED)
    }
}

impl PartialEq<&str> for Method {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// What a target compares. Latencies breach when observed > target (strict,
/// as the original did).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TargetKind {
    Mean,
    Median,
    Min,
    Max,
    Percentile(Percent),
    /// Failed requests / all requests, 0..=1.
    ErrorRate,
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetKind::Mean => f.write_str("mean"),
            TargetKind::Median => f.write_str("median"),
            TargetKind::Min => f.write_str("min"),
            TargetKind::Max => f.write_str("max"),
            TargetKind::Percentile(p) => write!(f, "{p}"),
            TargetKind::ErrorRate => f.write_str("errorRate"),
        }
    }
}

impl Serialize for TargetKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TargetKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, TargetKind::parse, TargetKind::EXPECTED)
    }
}

impl TargetKind {
    pub const EXPECTED: &'static str =
        "mean, median, min, max, a percentile pNN such as p95 or p99.9, or errorRate";

    pub fn parse(text: &str) -> Option<TargetKind> {
        match text {
            "mean" => Some(TargetKind::Mean),
            "median" => Some(TargetKind::Median),
            "min" => Some(TargetKind::Min),
            "max" => Some(TargetKind::Max),
            "errorRate" => Some(TargetKind::ErrorRate),
            _ => Percent::parse(text).map(TargetKind::Percentile),
        }
    }

    pub fn is_latency(&self) -> bool {
        !matches!(self, TargetKind::ErrorRate)
    }

    /// The unit suffix used when rendering observed and target values.
    pub fn unit(&self) -> &'static str {
        if self.is_latency() {
            "ms"
        } else {
            ""
        }
    }

    /// What a target value of this kind must be.
    /// Whether `target` is one this kind can meet. A latency of 0 is
    /// never met: every run would breach and scale to the maximum.
    pub fn accepts(&self, target: f64) -> bool {
        if self.is_latency() {
            target.is_finite() && target > 0.0
        } else {
            (0.0..=1.0).contains(&target)
        }
    }

    pub fn value_expected(&self) -> &'static str {
        if self.is_latency() {
            "a number of milliseconds above 0"
        } else {
            "a fraction of failed requests from 0 to 1"
        }
    }
}

/// A percentile in (0, 100], kept as written so `p99.9` renders as `p99.9`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percent(f64);

impl Percent {
    /// Parses `p50`, `p99.9`, `p100`. Rejects `p0`, `p101`, `p`, `p1e2`.
    pub fn parse(text: &str) -> Option<Percent> {
        let digits = text.strip_prefix('p')?;
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return None;
        }
        let value: f64 = digits.parse().ok()?;
        Percent::new(value)
    }

    pub fn new(percent: f64) -> Option<Percent> {
        (percent > 0.0 && percent <= 100.0).then_some(Percent(percent))
    }

    pub fn percent(self) -> f64 {
        self.0
    }

    /// The quantile in (0, 1].
    pub fn quantile(self) -> f64 {
        self.0 / 100.0
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// Scale-down after calm runs, as the original: after `unchanged_runs`
/// calm runs the next run removes `replicas`. A run is calm when no target
/// breached, every target had data, and at most `max_error_rate` of its
/// requests failed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decay {
    pub replicas: u32,
    pub unchanged_runs: u32,
    /// Failed / all requests a run may have and still count as calm.
    pub max_error_rate: f64,
}

impl Default for Decay {
    fn default() -> Self {
        Decay {
            replicas: 1,
            unchanged_runs: 3,
            max_error_rate: Decay::DEFAULT_MAX_ERROR_RATE,
        }
    }
}

impl Decay {
    /// One failed request in a hundred: a small baseline error rate must
    /// not block decay forever.
    pub const DEFAULT_MAX_ERROR_RATE: f64 = 0.01;
    const ERROR_RATE_EXPECTED: &'static str = "a fraction of failed requests from 0 to 1";

    fn check(&self) -> Result<(), PolicyError> {
        if !(self.max_error_rate.is_finite() && (0.0..=1.0).contains(&self.max_error_rate)) {
            return Err(PolicyError::Invalid {
                field: "decay.maxErrorRate",
                value: self.max_error_rate.to_string(),
                expected: Decay::ERROR_RATE_EXPECTED,
            });
        }
        Ok(())
    }
}

/// How far to scale up on a breach.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "camelCase")]
pub enum ScaleUp {
    /// The original behaviour: current + `replicas` (1 by default).
    #[serde(rename_all = "camelCase")]
    Step { replicas: u32 },
    /// HPA's rule: ceil(current × max(observed / target)), ignored while the
    /// ratio is within `1 + tolerance`, at most `max_change` more per run.
    #[serde(rename_all = "camelCase")]
    Proportional {
        tolerance: f64,
        #[serde(skip_serializing_if = "Option::is_none")]
        max_change: Option<u32>,
    },
}

impl Default for ScaleUp {
    fn default() -> Self {
        ScaleUp::Step { replicas: 1 }
    }
}

/// A field of a policy set to a value it cannot take.
fn bad(field: &'static str, value: String, expected: &'static str) -> Result<(), PolicyError> {
    Err(PolicyError::Invalid {
        field,
        value,
        expected,
    })
}

impl ScaleUp {
    const TOLERANCE_EXPECTED: &'static str = "a fraction from 0 up to (not including) 1";

    fn check(&self) -> Result<(), PolicyError> {
        match *self {
            ScaleUp::Step { replicas: 0 } => bad("scaleUp.replicas", "0".into(), "at least 1"),
            ScaleUp::Proportional { tolerance, .. }
                if !(tolerance.is_finite() && (0.0..1.0).contains(&tolerance)) =>
            {
                bad(
                    "scaleUp.tolerance",
                    tolerance.to_string(),
                    ScaleUp::TOLERANCE_EXPECTED,
                )
            }
            ScaleUp::Proportional {
                max_change: Some(0),
                ..
            } => bad("scaleUp.maxChange", "0".into(), "at least 1"),
            _ => Ok(()),
        }
    }
}

/// The learned latency model (`model:` in the evaluation config), opt-in:
/// see docs/algorithm.md, "The latency model". Its presence turns it on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelConfig {
    /// Scale-ups size for, and decays only go to, a predicted latency at
    /// most target × (1 − margin).
    pub margin: f64,
    /// Calm runs the model learns from before it decides; until then the
    /// configured rule does.
    pub learn_runs: u32,
    /// The share of the unloaded latency that queues (the service's own
    /// work, as against network and fixed overhead).
    pub queue_share: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            margin: 0.1,
            learn_runs: 3,
            queue_share: 0.5,
        }
    }
}

impl ModelConfig {
    const MARGIN_EXPECTED: &'static str = "a fraction from 0 up to (not including) 1";
    const SHARE_EXPECTED: &'static str = "a fraction above 0, at most 1";
    const RUNS_EXPECTED: &'static str = "a whole number >= 1";

    fn check(&self) -> Result<(), PolicyError> {
        if !(self.margin.is_finite() && (0.0..1.0).contains(&self.margin)) {
            return bad(
                "model.margin",
                self.margin.to_string(),
                ModelConfig::MARGIN_EXPECTED,
            );
        }
        if !(self.queue_share.is_finite() && self.queue_share > 0.0 && self.queue_share <= 1.0) {
            return bad(
                "model.queueShare",
                self.queue_share.to_string(),
                ModelConfig::SHARE_EXPECTED,
            );
        }
        if self.learn_runs == 0 {
            return bad("model.learnRuns", "0".into(), ModelConfig::RUNS_EXPECTED);
        }
        Ok(())
    }
}

/// The native load generator's settings (`load:`). Everything is optional:
/// without it the targets' requests are sent with the default probe.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LoadSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spawn_rate: Option<f64>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_duration"
    )]
    pub run_time: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_time: Option<WaitTime>,
    /// Open model: requests per second in total, users cap the concurrency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrival_rate: Option<f64>,
    /// Per-request timeout (connect, send, receive each).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_duration"
    )]
    pub timeout: Option<Duration>,
    /// How long requests still in flight at the deadline may finish.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_duration"
    )]
    pub grace: Option<Duration>,
    /// A response with a status at or above this counts as a failure.
    pub fail_status: u16,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<RequestSpec>,
}

impl LoadSpec {
    /// Locust's and lpa's rule: a status of 400 or more is a failure.
    pub const DEFAULT_FAIL_STATUS: u16 = 400;
}

/// The most users a load test runs. Each native user is a thread: past a
/// few tens of thousands the system refuses them, and their per-user
/// records alone asked for hundreds of gigabytes at u32::MAX. A probe that
/// needs more is itself the load.
/// The most replicas a bound may name: Kubernetes' `replicas` is an int32.
pub const MAX_REPLICAS: u32 = i32::MAX as u32;
pub const MAX_USERS: u32 = 10_000;
pub const USERS_EXPECTED: &str = "a whole number from 1 to 10000 (each user is a thread)";

/// The highest open-model rate: more than the native users send from one
/// machine (bench/loadgen measures what they send a CPU-second), so no
/// probe that could run is refused, and a typo (1e300) is not planned as
/// 18446744073709551615 requests a run.
pub const MAX_ARRIVAL_RATE: f64 = 1e6;
/// The longest load test: a day. Longer is a typo (`locustRunTime=1e9`
/// ran for 31 years, and a CPA hook with it hung until its timeout).
pub const MAX_RUN_TIME: Duration = Duration::from_secs(86_400);
pub const RUN_TIME_EXPECTED: &str = "a duration > 0, at most 24h, such as 5, 5s or 1m";
pub const ARRIVAL_RATE_EXPECTED: &str = "requests per second > 0, at most 1000000";

/// Locust's wait times between a user's requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WaitTime {
    /// `constant(s)`; `constant(0)` sends back to back.
    Constant(Duration),
    /// `between(min, max)`, uniform.
    Between(Duration, Duration),
    /// `constant_throughput(n)`: at most n tasks per second per user.
    ConstantThroughput(f64),
    /// `constant_pacing(s)`: each task iteration takes at least s.
    ConstantPacing(Duration),
}

impl fmt::Display for WaitTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitTime::Constant(d) => write!(f, "constant({})", d.as_secs_f64()),
            WaitTime::Between(a, b) => {
                write!(f, "between({}, {})", a.as_secs_f64(), b.as_secs_f64())
            }
            // As Python writes it: 1e-300, where its 300 digits were
            // written out (a pace beyond any clock ends the user, and is
            // valid).
            WaitTime::ConstantThroughput(n) if !(1e-4..1e16).contains(n) => {
                write!(f, "constant_throughput({n:e})")
            }
            WaitTime::ConstantThroughput(n) => write!(f, "constant_throughput({n})"),
            WaitTime::ConstantPacing(d) => write!(f, "constant_pacing({})", d.as_secs_f64()),
        }
    }
}

impl Serialize for WaitTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WaitTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, WaitTime::parse, WaitTime::EXPECTED)
    }
}

impl WaitTime {
    pub const EXPECTED: &'static str =
        "a number of seconds, constant(S), between(MIN, MAX) with MIN <= MAX, constant_throughput(N) or constant_pacing(S)";

    /// Parses Locust's spelling: `between(5, 9)`, `constant(1)`,
    /// `constant_throughput(2)`, `constant_pacing(2)`, or a bare number of
    /// seconds.
    pub fn parse(text: &str) -> Option<WaitTime> {
        let text = text.trim();
        if let Some(d) = parse_duration(text) {
            return Some(WaitTime::Constant(d));
        }
        let (name, args) = text.split_once('(')?;
        let args = args.strip_suffix(')')?;
        let nums: Vec<f64> = args
            .split(',')
            .map(|a| {
                a.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
            })
            .collect::<Option<_>>()?;
        // try_from: a huge number is no wait time, not a panic.
        let secs = |s: &f64| Duration::try_from_secs_f64(*s).ok();
        match (name.trim(), nums.as_slice()) {
            ("constant", [s]) => Some(WaitTime::Constant(secs(s)?)),
            ("between", [a, b]) if a <= b => Some(WaitTime::Between(secs(a)?, secs(b)?)),
            ("constant_throughput", [n]) if *n > 0.0 => Some(WaitTime::ConstantThroughput(*n)),
            ("constant_pacing", [s]) => Some(WaitTime::ConstantPacing(secs(s)?)),
            _ => None,
        }
    }
}

/// One request the native generator sends. Serialize and Debug show the
/// values of credential headers ([`is_sensitive_header`]) as
/// [`REDACTED`]; the field keeps the real value for sending.
#[derive(Clone, PartialEq, Serialize)]
pub struct RequestSpec {
    pub method: Method,
    /// Path and query, relative to the host.
    pub path: String,
    /// The name statistics are keyed by (Locust's `name=`); the path if unset.
    pub name: String,
    pub weight: u32,
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        serialize_with = "ser_redacted_headers"
    )]
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Follow a 301, 302, 303, 307 or 308 with a Location, as python-requests
    /// does, up to [`RequestSpec::MAX_REDIRECTS`]; off, a 3xx is the answer.
    #[serde(rename = "followRedirects", skip_serializing_if = "std::ops::Not::not")]
    pub follow_redirects: bool,
}

impl RequestSpec {
    pub const PATH_EXPECTED: &'static str = "a path starting with /";
    /// python-requests' limit (`requests.models.DEFAULT_REDIRECT_LIMIT`), and
    /// FastHttpUser's `max_redirects`: the 31st redirect is a failure.
    pub const MAX_REDIRECTS: u32 = 30;

    /// A GET-like request of `method` on `path`, weight 1, keyed by its
    /// path; `None` when the path is not one ([`RequestSpec::PATH_EXPECTED`]).
    pub fn new(method: Method, path: &str) -> Option<RequestSpec> {
        is_path(path).then(|| RequestSpec {
            method,
            path: path.to_string(),
            name: path.to_string(),
            weight: 1,
            headers: BTreeMap::new(),
            body: None,
            follow_redirects: false,
        })
    }

    /// Parses a request as a command line gives it: `/path` (GET) or
    /// `METHOD /path`.
    pub fn parse(text: &str) -> Option<RequestSpec> {
        let text = text.trim();
        let (method, path) = match text.split_once(char::is_whitespace) {
            Some((m, p)) => (Method::parse(m)?, p.trim()),
            None => (Method::Get, text),
        };
        RequestSpec::new(method, path)
    }

    pub fn key(&self) -> String {
        request_key(self.method.as_str(), &self.name)
    }

    /// The headers as logs may show them: credential values replaced.
    pub fn redacted_headers(&self) -> BTreeMap<&str, &str> {
        redact_headers(&self.headers)
    }
}

impl fmt::Debug for RequestSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSpec")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("name", &self.name)
            .field("weight", &self.weight)
            .field("headers", &self.redacted_headers())
            .field("body", &self.body)
            .field("follow_redirects", &self.follow_redirects)
            .finish()
    }
}

/// What a credential header's value is shown as.
pub const REDACTED: &str = "<redacted>";

/// Headers whose values are credentials, never to be printed or logged
/// (compared without regard to case, as HTTP header names are).
pub fn is_sensitive_header(name: &str) -> bool {
    [
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
    ]
    .iter()
    .any(|s| name.eq_ignore_ascii_case(s))
}

/// A header value as logs may show it.
pub fn redact_header<'a>(name: &str, value: &'a str) -> &'a str {
    if is_sensitive_header(name) {
        REDACTED
    } else {
        value
    }
}

/// The headers with credential values replaced by [`REDACTED`].
pub fn redact_headers(headers: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str(), redact_header(k, v)))
        .collect()
}

fn ser_redacted_headers<S: serde::Serializer>(
    headers: &BTreeMap<String, String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    redact_headers(headers).serialize(s)
}

fn ser_bound<S: serde::Serializer>(max: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
    match max {
        Some(n) => s.serialize_u32(*n),
        None => s.serialize_str("unbounded"),
    }
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_duration(*d))
}

pub(crate) fn ser_opt_duration<S: serde::Serializer>(
    d: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_duration(d, s),
        None => s.serialize_none(),
    }
}

/// Replica bounds given outside the file (flags, env, CPA's own config),
/// with where they came from for messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub min_replicas: Option<Override>,
    pub max_replicas: Option<Override>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub value: u32,
    /// Where it came from, as a person would name it: `--max-replicas or
    /// env maxReplicas`.
    pub source: String,
}

/// Parses an evaluation config. `file` is only used in messages; the
/// overrides replace the file's replica bounds and are checked with them.
pub fn parse_evaluation_config(
    file: &str,
    text: &str,
    overrides: &Overrides,
) -> Result<Parsed<EvaluationConfig>, ParseError> {
    let known = [
        ("", fields_of::<RawConfig>()),
        ("targets[]", fields_of::<RawTarget>()),
        ("decay", fields_of::<RawDecay>()),
        ("scaleUp", fields_of::<RawScaleUp>()),
        ("load", fields_of::<RawLoad>()),
        ("load.requests[]", fields_of::<RawRequest>()),
        ("model", fields_of::<RawModel>()),
    ];
    let parsed = from_yaml::<RawConfig>(file, text, UnknownKeys::Warn, &known)?;
    let mut warnings = parsed.warnings;
    let at = At {
        file,
        format: Format::Yaml,
    };
    let value = parsed
        .value
        .check(at, overrides, &mut warnings)
        .map_err(|e| name_the_typo(e, &warnings))?;
    Ok(Parsed { value, warnings })
}

/// The policy of an evaluation config, warnings dropped: for tests and
/// examples.
pub fn parse_policy(file: &str, text: &str) -> Result<Policy, ParseError> {
    parse_evaluation_config(file, text, &Overrides::default()).map(|p| p.value.policy)
}

// The file as written, before the checks that need several fields.

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a mapping of fields")]
struct RawConfig {
    targets: Option<Vec<RawTarget>>,
    decay: Option<RawDecay>,
    min_replicas: Option<ReplicaCount>,
    max_replicas: Option<ReplicaCount>,
    scale_up: Option<RawScaleUp>,
    downscale_stabilization: Option<DurationField>,
    load: Option<RawLoad>,
    /// Present (even empty, `model:`) turns the model on.
    #[serde(default, deserialize_with = "present")]
    model: Option<Option<RawModel>>,
}

/// A field that is there, even as null: `Some(None)` for `model:` alone.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a mapping of fields")]
struct RawModel {
    margin: Option<Raw>,
    learn_runs: Option<Count>,
    queue_share: Option<Raw>,
}

#[derive(Deserialize)]
#[serde(expecting = "a mapping of fields")]
struct RawTarget {
    method: Option<Method>,
    endpoint: Option<Text>,
    #[serde(rename = "type")]
    kind: Option<TargetKind>,
    target: Option<Raw>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a mapping of fields")]
struct RawDecay {
    replicas: Option<Count>,
    unchanged_runs: Option<Count>,
    max_error_rate: Option<Raw>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a mapping of fields")]
struct RawScaleUp {
    mode: Option<ScaleMode>,
    replicas: Option<Count>,
    tolerance: Option<Raw>,
    max_change: Option<Count>,
}

#[derive(Clone, Copy, PartialEq)]
enum ScaleMode {
    Step,
    Proportional,
}

impl<'de> Deserialize<'de> for ScaleMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let parse = |s: &str| match s {
            "step" => Some(ScaleMode::Step),
            "proportional" => Some(ScaleMode::Proportional),
            _ => None,
        };
        from_text(d, parse, "step or proportional")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a mapping of fields")]
struct RawLoad {
    users: Option<Count>,
    spawn_rate: Option<Raw>,
    // As written, for its error: 25h, not the 90000s it reads as.
    run_time: Option<Raw>,
    wait_time: Option<WaitTime>,
    arrival_rate: Option<Raw>,
    timeout: Option<DurationField>,
    grace: Option<DurationField>,
    // Read as given, so that a value no count reads (`abc`) is refused as
    // a status too, not as "a whole number from 0 to 4294967295".
    fail_status: Option<Raw>,
    requests: Option<Vec<RawRequest>>,
}

#[derive(Deserialize)]
#[serde(expecting = "a mapping of fields")]
struct RawRequest {
    method: Option<Method>,
    path: Option<Text>,
    name: Option<Text>,
    weight: Option<Count>,
    headers: Option<Headers>,
    body: Option<Raw>,
    #[serde(rename = "followRedirects")]
    follow_redirects: Option<Raw>,
}

/// Request headers: names as HTTP allows them, single-line values, and
/// credential values never shown in an error.
struct Headers(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Headers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of header names to values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Headers, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(name) = map.next_key::<Raw>()? {
                    let name = name
                        .as_str()
                        .filter(|n| is_header_name(n))
                        .map(str::to_string)
                        .ok_or_else(|| {
                            invalid_shown(
                                &name.shown(),
                                "header names made of letters, digits and -",
                            )
                        })?;
                    let value: HeaderValue = map.next_value_seed(HeaderSeed(&name))?;
                    out.insert(name, value.0);
                }
                Ok(Headers(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

struct HeaderValue(String);

struct HeaderSeed<'a>(&'a str);

impl<'de> serde::de::DeserializeSeed<'de> for HeaderSeed<'_> {
    type Value = HeaderValue;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<HeaderValue, D::Error> {
        let raw = Raw::deserialize(d)?;
        let secret = is_sensitive_header(self.0);
        let bad = |expected| {
            if secret {
                invalid_shown(&format!("{REDACTED:?}"), expected)
            } else {
                invalid(expected)
            }
        };
        let value = match raw.value() {
            serde_yaml::Value::String(s) => s.clone(),
            serde_yaml::Value::Number(n) => n.to_string(),
            serde_yaml::Value::Bool(b) => b.to_string(),
            _ => return Err(bad("a string")),
        };
        if value.chars().any(|c| c == '\r' || c == '\n') {
            return Err(bad("a single-line value"));
        }
        Ok(HeaderValue(value))
    }
}

/// An HTTP header name: a token of RFC 9110 (letters, digits and
/// ``!#$%&'*+-.^_`|~``).
pub(crate) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// The checks after deserializing: they name the file and field of every
/// bad value, and warn of every number written as a string (accepted: the
/// original's `int()` read a quoted `unchangedRuns`, and `3.0`, and a
/// config written that way for it keeps working; other quoted numbers and
/// counts too, rather than a second rule for which may be written so).
struct Checker<'a, 'w> {
    at: At<'a>,
    warnings: &'w mut Vec<Warning>,
}

impl Checker<'_, '_> {
    fn quoted(&mut self, path: &str, raw: &Raw) {
        self.warnings.push(self.at.warning(
            path,
            format!(
                "number written as a string {}: read as a number; write it without quotes",
                raw.shown()
            ),
        ));
    }

    /// A bound of the replica count (its range checked as it was read).
    fn replicas(&mut self, c: Option<ReplicaCount>, path: &str) -> Result<Option<u32>, ParseError> {
        self.count(c.map(|c| c.0), path, 0)
    }

    /// A whole number of at least `min`.
    fn count(&mut self, c: Option<Count>, path: &str, min: u32) -> Result<Option<u32>, ParseError> {
        let Some(c) = c else { return Ok(None) };
        if c.value < min {
            return Err(self
                .at
                .invalid(path, &c.raw, &format!("a whole number >= {min}")));
        }
        match c.spelling {
            Spelling::Whole => {}
            Spelling::Quoted => self.quoted(path, &c.raw),
            Spelling::Decimal => self.warnings.push(self.at.warning(
                path,
                format!(
                    "whole number written as {}: read as {}; write it without the decimal point",
                    c.raw.shown(),
                    c.value
                ),
            )),
        }
        Ok(Some(c.value))
    }

    /// A number that `ok` accepts; `expected` says which.
    fn number(
        &mut self,
        raw: Option<Raw>,
        path: &str,
        ok: impl Fn(f64) -> bool,
        expected: &str,
    ) -> Result<Option<f64>, ParseError> {
        let Some(raw) = raw else { return Ok(None) };
        match raw.number() {
            Some((v, quoted)) if v.is_finite() && ok(v) => {
                if quoted {
                    self.quoted(path, &raw);
                }
                Ok(Some(v))
            }
            _ if raw.octal_like() => Err(self.at.invalid(path, &raw, crate::parse::OCTAL)),
            _ => Err(self.at.invalid(path, &raw, expected)),
        }
    }
}

impl RawConfig {
    fn check(
        self,
        at: At,
        overrides: &Overrides,
        warnings: &mut Vec<Warning>,
    ) -> Result<EvaluationConfig, ParseError> {
        const TARGETS: &str = "a list of at least one target";
        let mut c = Checker { at, warnings };
        let raw_targets = self.targets.ok_or_else(|| at.missing("targets", TARGETS))?;
        if raw_targets.is_empty() {
            return Err(at.invalid("targets", "[]", TARGETS));
        }
        let mut targets = Vec::with_capacity(raw_targets.len());
        for (i, t) in raw_targets.into_iter().enumerate() {
            targets.push(t.check(&mut c, i)?);
        }
        let labels: Vec<String> = targets.iter().map(Target::label).collect();
        let mut policy = Policy::new(targets).map_err(|e| match e {
            PolicyError::Duplicate { index, first } => at.invalid(
                &format!("targets[{index}]"),
                labels[index].as_str(),
                &format!("no duplicate of targets[{first}]"),
            ),
            other => at.invalid("targets", other.to_string(), TARGETS),
        })?;
        if let Some(d) = self.decay {
            policy.decay = d.check(&mut c)?;
        }
        policy.scale_up = match self.scale_up {
            Some(s) => s.check(&mut c)?,
            None => ScaleUp::default(),
        };
        if let Some(d) = self.downscale_stabilization {
            policy.downscale_stabilization = d.0;
        }
        let min = c.replicas(self.min_replicas, "minReplicas")?;
        let max = c.replicas(self.max_replicas, "maxReplicas")?;
        let (min, max) = replica_bounds(at, min, max, overrides, c.warnings)?;
        policy.min_replicas = min;
        policy.max_replicas = max;
        policy.model = match self.model {
            None => None,
            Some(m) => Some(
                m.unwrap_or(RawModel {
                    margin: None,
                    learn_runs: None,
                    queue_share: None,
                })
                .check(&mut c)?,
            ),
        };
        let load = self.load.map(|l| l.check(&mut c)).transpose()?;
        Ok(EvaluationConfig { policy, load })
    }
}

/// The bounds from the file, then the overrides; 0 as the minimum reads
/// as 1, with a warning.
fn replica_bounds(
    at: At,
    min: Option<u32>,
    max: Option<u32>,
    overrides: &Overrides,
    warnings: &mut Vec<Warning>,
) -> Result<(u32, Option<u32>), ParseError> {
    let from_file = |v: u32| (v, at.file.to_string());
    let from_override = |o: &Override| (o.value, o.source.clone());
    let (mut min_value, min_from) = overrides
        .min_replicas
        .as_ref()
        .map(from_override)
        .or(min.map(from_file))
        .unwrap_or((1, String::new()));
    if min_value == 0 {
        warnings.push(Warning {
            file: min_from.clone(),
            path: "minReplicas".into(),
            message: "0 is read as 1: lpa never scales to 0 replicas, since a latency probe \
                cannot measure a service with none and could never scale it back up; for \
                scale-to-zero, put a request-driven scaler in front (KEDA's HTTP add-on, \
                Knative)"
                .into(),
        });
        min_value = 1;
    }
    let max_value = overrides
        .max_replicas
        .as_ref()
        .map(from_override)
        .or(max.map(from_file));
    if let Some((m, source)) = &max_value {
        if *m == 0 || *m < min_value {
            // The minimum's source when it is another: an env's 7 read
            // as the file's fault.
            let from = if min_from.is_empty() || min_from == *source {
                String::new()
            } else {
                format!(", from {min_from}")
            };
            return Err(ParseError::Invalid {
                file: source.clone(),
                path: "maxReplicas".into(),
                value: m.to_string(),
                expected: format!("at least 1 and at least minReplicas ({min_value}{from})"),
            });
        }
    }
    Ok((min_value, max_value.map(|(m, _)| m)))
}

impl RawTarget {
    fn check(self, c: &mut Checker, i: usize) -> Result<Target, ParseError> {
        let at = c.at;
        let path = |f: &str| format!("targets[{i}].{f}");
        let method = self.method.unwrap_or(Method::Get);
        let endpoint = self
            .endpoint
            .ok_or_else(|| at.missing(&path("endpoint"), Target::ENDPOINT_EXPECTED))?;
        if !is_path(&endpoint.value) {
            return Err(at.invalid(&path("endpoint"), &endpoint.raw, Target::ENDPOINT_EXPECTED));
        }
        let kind = self
            .kind
            .ok_or_else(|| at.missing(&path("type"), TargetKind::EXPECTED))?;
        let raw = self
            .target
            .ok_or_else(|| at.missing(&path("target"), "a number"))?;
        let value = c
            .number(
                Some(raw),
                &path("target"),
                |v| kind.accepts(v),
                kind.value_expected(),
            )?
            .unwrap_or_default();
        Target::new(method.as_str(), &endpoint.value, kind, value)
            .map_err(|e| at.invalid(&path(e.field), format!("{:?}", e.value), e.expected))
    }
}

impl RawDecay {
    fn check(self, c: &mut Checker) -> Result<Decay, ParseError> {
        let d = Decay::default();
        Ok(Decay {
            replicas: c
                .count(self.replicas, "decay.replicas", 0)?
                .unwrap_or(d.replicas),
            unchanged_runs: c
                .count(self.unchanged_runs, "decay.unchangedRuns", 0)?
                .unwrap_or(d.unchanged_runs),
            max_error_rate: c
                .number(
                    self.max_error_rate,
                    "decay.maxErrorRate",
                    |v| (0.0..=1.0).contains(&v),
                    Decay::ERROR_RATE_EXPECTED,
                )?
                .unwrap_or(d.max_error_rate),
        })
    }
}

impl RawModel {
    fn check(self, c: &mut Checker) -> Result<ModelConfig, ParseError> {
        let m = ModelConfig::default();
        let learn_runs = match self.learn_runs {
            Some(n) if n.value == 0 => {
                return Err(c
                    .at
                    .invalid("model.learnRuns", &n.raw, ModelConfig::RUNS_EXPECTED))
            }
            n => c.count(n, "model.learnRuns", 1)?,
        };
        Ok(ModelConfig {
            margin: c
                .number(
                    self.margin,
                    "model.margin",
                    |v| (0.0..1.0).contains(&v),
                    ModelConfig::MARGIN_EXPECTED,
                )?
                .unwrap_or(m.margin),
            queue_share: c
                .number(
                    self.queue_share,
                    "model.queueShare",
                    |v| v > 0.0 && v <= 1.0,
                    ModelConfig::SHARE_EXPECTED,
                )?
                .unwrap_or(m.queue_share),
            learn_runs: learn_runs.unwrap_or(m.learn_runs),
        })
    }
}

impl RawScaleUp {
    fn check(self, c: &mut Checker) -> Result<ScaleUp, ParseError> {
        // A field of the other mode changes nothing: said, or a config that
        // meant proportional, and forgot its mode, reads as if it were.
        let mut not_used = |path: &str, set: bool, mode: &str, other: &str| {
            if set {
                let message =
                    format!("not used: it is a field of mode {other}, and mode is {mode}");
                c.warnings.push(c.at.warning(path, message));
            }
        };
        if self.mode.unwrap_or(ScaleMode::Step) == ScaleMode::Step {
            not_used(
                "scaleUp.tolerance",
                self.tolerance.is_some(),
                "step",
                "proportional",
            );
            not_used(
                "scaleUp.maxChange",
                self.max_change.is_some(),
                "step",
                "proportional",
            );
            let replicas = c.count(self.replicas, "scaleUp.replicas", 1)?.unwrap_or(1);
            return Ok(ScaleUp::Step { replicas });
        }
        not_used(
            "scaleUp.replicas",
            self.replicas.is_some(),
            "proportional",
            "step",
        );
        Ok(ScaleUp::Proportional {
            tolerance: c
                .number(
                    self.tolerance,
                    "scaleUp.tolerance",
                    |t| (0.0..1.0).contains(&t),
                    ScaleUp::TOLERANCE_EXPECTED,
                )?
                .unwrap_or(0.1),
            max_change: c.count(self.max_change, "scaleUp.maxChange", 1)?,
        })
    }
}

impl RawLoad {
    fn check(self, c: &mut Checker) -> Result<LoadSpec, ParseError> {
        let at = c.at;
        let nonzero = |d: Option<DurationField>, path: &str, example: &str| match d {
            Some(DurationField(d)) if d.is_zero() => {
                Err(at.invalid(path, "0", &format!("a duration > 0 such as {example}")))
            }
            other => Ok(other.map(|d| d.0)),
        };
        let fail_status = match self.fail_status {
            None => None,
            Some(raw) => match raw.count() {
                Some((value, spelling)) if (100..=600).contains(&value) => {
                    let status = Count {
                        value,
                        raw,
                        spelling,
                    };
                    c.count(Some(status), "load.failStatus", 100)?
                }
                _ => {
                    return Err(at.invalid(
                        "load.failStatus",
                        &raw,
                        "an HTTP status from 100 to 600",
                    ))
                }
            },
        };
        let users = match self.users {
            Some(u) if !(1..=MAX_USERS).contains(&u.value) => {
                return Err(at.invalid("load.users", &u.raw, USERS_EXPECTED))
            }
            u => c.count(u, "load.users", 1)?,
        };
        let mut requests = Vec::new();
        for (i, r) in self.requests.unwrap_or_default().into_iter().enumerate() {
            requests.push(r.check(c, i)?);
        }
        Ok(LoadSpec {
            users,
            spawn_rate: c.number(
                self.spawn_rate,
                "load.spawnRate",
                |v| v > 0.0,
                "users per second > 0",
            )?,
            run_time: match self.run_time {
                None => None,
                Some(raw) => match crate::parse::duration_of(raw.value()) {
                    Some(d) if !d.is_zero() && d <= MAX_RUN_TIME => Some(d),
                    _ => return Err(at.invalid("load.runTime", &raw, RUN_TIME_EXPECTED)),
                },
            },
            wait_time: self.wait_time,
            arrival_rate: c.number(
                self.arrival_rate,
                "load.arrivalRate",
                |v| v > 0.0 && v <= MAX_ARRIVAL_RATE,
                ARRIVAL_RATE_EXPECTED,
            )?,
            timeout: nonzero(self.timeout, "load.timeout", "2s")?,
            grace: self.grace.map(|d| d.0),
            fail_status: fail_status.map_or(LoadSpec::DEFAULT_FAIL_STATUS, |s| s as u16),
            requests,
        })
    }
}

impl RawRequest {
    fn check(self, c: &mut Checker, i: usize) -> Result<RequestSpec, ParseError> {
        let at = c.at;
        let path_of = |f: &str| format!("load.requests[{i}].{f}");
        let path = self
            .path
            .ok_or_else(|| at.missing(&path_of("path"), RequestSpec::PATH_EXPECTED))?;
        let mut spec = RequestSpec::new(self.method.unwrap_or(Method::Get), &path.value)
            .ok_or_else(|| at.invalid(&path_of("path"), &path.raw, RequestSpec::PATH_EXPECTED))?;
        if let Some(name) = self.name {
            spec.name = name.value;
        }
        if let Some(w) = c.count(self.weight, &path_of("weight"), 1)? {
            spec.weight = w;
        }
        spec.headers = self.headers.map(|h| h.0).unwrap_or_default();
        spec.body = match self.body {
            None => None,
            Some(raw) => match raw.value() {
                serde_yaml::Value::Null => None,
                serde_yaml::Value::String(s) => Some(s.clone()),
                // JSON has no NaN or infinity: serde_json wrote null.
                other if non_finite(other) => {
                    return Err(at.invalid(
                        &path_of("body"),
                        &raw,
                        "a string or JSON-able value (JSON has no .nan or .inf)",
                    ))
                }
                // A structured body is sent as JSON, the common case for APIs.
                other => Some(serde_json::to_string(other).map_err(|_| {
                    at.invalid(&path_of("body"), &raw, "a string or JSON-able value")
                })?),
            },
        };
        if let Some(raw) = self.follow_redirects {
            spec.follow_redirects = match raw.value() {
                serde_yaml::Value::Bool(b) => *b,
                _ => return Err(at.invalid(&path_of("followRedirects"), &raw, "true or false")),
            };
        }
        Ok(spec)
    }
}

/// Whether a number in `v` is NaN or infinite.
fn non_finite(v: &serde_yaml::Value) -> bool {
    use serde_yaml::Value;
    match v {
        Value::Number(n) => n.as_f64().is_some_and(|f| !f.is_finite()),
        Value::Sequence(list) => list.iter().any(non_finite),
        Value::Mapping(m) => m.iter().any(|(k, v)| non_finite(k) || non_finite(v)),
        Value::Tagged(t) => non_finite(&t.value),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"targets:
  - method: "GET"
    endpoint: "/fibonacci?n=10"
    type: "mean"
    target: 7
decay: 
  replicas: 1
  unchangedRuns: 3
"#;

    fn err(text: &str) -> String {
        parse_policy("eval.yaml", text).unwrap_err().to_string()
    }

    /// An evaluation config of one target and the load section `{load}`.
    fn with_load(load: &str) -> Result<EvaluationConfig, ParseError> {
        parse_evaluation_config(
            "eval.yaml",
            &format!("targets: [{{endpoint: /a, type: mean, target: 7}}]\nload: {{{load}}}\n"),
            &Overrides::default(),
        )
        .map(|p| p.value)
    }

    #[test]
    fn load_users_are_at_most_what_threads_can_be() {
        let e = |users: &str| with_load(&format!("users: {users}"));
        assert_eq!(
            e("10001").unwrap_err().to_string(),
            "eval.yaml: load.users: invalid value 10001 (expected a whole number from 1 to 10000 (each user is a thread))"
        );
        assert!(e("0")
            .unwrap_err()
            .to_string()
            .contains("load.users: invalid value 0"));
        assert_eq!(e("10000").unwrap().load.unwrap().users, Some(10000));
    }

    /// A load section's run time and failure status: a bad one names its
    /// bound as written, where `failStatus: abc` read as a bad count and a
    /// run time of years was taken.
    #[test]
    fn load_run_time_and_fail_status_are_held_to_their_bounds() {
        let e = |load: &str| with_load(load).map(|c| c.load.unwrap());
        let run_time = "(expected a duration > 0, at most 24h, such as 5, 5s or 1m)";
        for (bad, shown) in [
            ("25h", "\"25h\""),
            ("0", "0"),
            ("soon", "\"soon\""),
            ("1e9", "1000000000.0"),
        ] {
            assert_eq!(
                e(&format!("runTime: {bad}")).unwrap_err().to_string(),
                format!("eval.yaml: load.runTime: invalid value {shown} {run_time}")
            );
        }
        assert_eq!(
            e("runTime: 24h").unwrap().run_time,
            Some(Duration::from_secs(86_400))
        );
        for bad in ["abc", "99", "601", "-1"] {
            assert!(
                e(&format!("failStatus: {bad}"))
                    .unwrap_err()
                    .to_string()
                    .ends_with("(expected an HTTP status from 100 to 600)"),
                "{bad}"
            );
        }
        assert_eq!(e("failStatus: 500").unwrap().fail_status, 500);
    }

    #[test]
    fn seed_config_parses_unchanged() {
        let parsed =
            parse_evaluation_config("evaluation_config.yaml", SEED, &Overrides::default()).unwrap();
        assert!(parsed.warnings.is_empty());
        let p = parsed.value.policy;
        assert_eq!(
            p.targets,
            vec![Target::new("GET", "/fibonacci?n=10", TargetKind::Mean, 7.0).unwrap()]
        );
        assert_eq!(p.targets[0].key(), "GET_/fibonacci?n=10");
        assert_eq!(
            p.decay,
            Decay {
                replicas: 1,
                unchanged_runs: 3,
                max_error_rate: 0.01
            }
        );
        assert_eq!(p.min_replicas, 1);
        assert_eq!(p.max_replicas, None);
        assert_eq!(p.scale_up, ScaleUp::Step { replicas: 1 });
    }

    #[test]
    fn target_types() {
        for (text, kind) in [
            ("mean", TargetKind::Mean),
            ("median", TargetKind::Median),
            ("min", TargetKind::Min),
            ("max", TargetKind::Max),
            ("errorRate", TargetKind::ErrorRate),
            ("p50", TargetKind::Percentile(Percent(50.0))),
            ("p99.9", TargetKind::Percentile(Percent(99.9))),
            ("p100", TargetKind::Percentile(Percent(100.0))),
        ] {
            assert_eq!(TargetKind::parse(text), Some(kind), "{text}");
            assert_eq!(kind.to_string(), text);
        }
        for bad in ["p0", "p101", "p1000", "p", "p-5", "P95", "avg", "p1e2", ""] {
            assert_eq!(TargetKind::parse(bad), None, "{bad}");
        }
    }

    /// A misspelt required field read as "missing" alone, and the warning
    /// naming the misspelling was not shown, the file having failed.
    #[test]
    fn a_missing_field_beside_its_misspelling_names_it() {
        assert_eq!(
            err("target:\n  - {endpoint: /a, type: mean, target: 1}\n"),
            "eval.yaml: targets: missing (expected a list of at least one target; \"target\" is there, an unknown field: did you mean \"targets\"?)"
        );
        assert_eq!(
            err("targets:\n  - {endpoint: /a, type: mean, targt: 7}\n"),
            "eval.yaml: targets[0].target: missing (expected a number; \"targt\" is there, an unknown field: did you mean \"target\"?)"
        );
        assert_eq!(
            err("targets:\n  - {endpoint: /a, typ: mean, target: 7}\nload:\n  requests:\n    - {pth: /x}\n"),
            "eval.yaml: targets[0].type: missing (expected mean, median, min, max, a percentile pNN such as p95 or p99.9, or errorRate; \"typ\" is there, an unknown field: did you mean \"type\"?)"
        );
        // Another mapping's unknown field is not this one's typo.
        assert_eq!(
            err("targets:\n  - {endpoint: /a, type: mean}\n  - {endpoint: /b, type: mean, targt: 7}\n"),
            "eval.yaml: targets[0].target: missing (expected a number)"
        );
    }

    #[test]
    fn errors_name_file_field_value_and_expectation() {
        let e = err("targets:\n  - {endpoint: /a, type: mean, target: 1}\n  - {endpoint: /b, type: mean, target: 1}\n  - {endpoint: /c, type: p1000, target: 1}\n");
        assert_eq!(
            e,
            "eval.yaml: targets[2].type: invalid value \"p1000\" (expected mean, median, min, max, a percentile pNN such as p95 or p99.9, or errorRate)"
        );
        assert_eq!(
            err("targets:\n  - {endpoint: /a, type: mean, target: -3}\n"),
            "eval.yaml: targets[0].target: invalid value -3 (expected a number of milliseconds above 0)"
        );
        assert_eq!(
            err("targets: [{endpoint: /a, type: p95, target: 0}]\n"),
            "eval.yaml: targets[0].target: invalid value 0 (expected a number of milliseconds above 0)"
        );
        assert_eq!(
            err("targets:\n  - {endpoint: /a, type: mean, target: fast}\n"),
            "eval.yaml: targets[0].target: invalid value \"fast\" (expected a number of milliseconds above 0)"
        );
        for big in ["3000000000", "4294967296"] {
            assert_eq!(
                err(&format!("targets: [{{endpoint: /a, type: mean, target: 1}}]\nmaxReplicas: {big}\n")),
                format!("eval.yaml: maxReplicas: invalid value {big} (expected a whole number from 0 to 2147483647, as Kubernetes' replicas)")
            );
        }
        assert_eq!(
            err("decay: {replicas: 1}\n"),
            "eval.yaml: targets: missing (expected a list of at least one target)"
        );
        assert_eq!(
            err("targets: []\n"),
            "eval.yaml: targets: invalid value [] (expected a list of at least one target)"
        );
        assert_eq!(
            err("targets:\n  - {endpoint: /a, type: mean, target: 1}\n  - {method: get, endpoint: /a, type: mean, target: 2}\n"),
            "eval.yaml: targets[1]: invalid value GET /a mean (expected no duplicate of targets[0])"
        );
        assert_eq!(
            err("targets:\n  - {endpoint: /a, type: errorRate, target: 5}\n"),
            "eval.yaml: targets[0].target: invalid value 5 (expected a fraction of failed requests from 0 to 1)"
        );
        assert!(err("targets: [\n").starts_with("eval.yaml: malformed YAML: "));
        assert_eq!(
            err("targets:\n  - {endpoint: /a, type: mean, target: 1}\nminReplicas: 3\nmaxReplicas: 2\n"),
            "eval.yaml: maxReplicas: invalid value 2 (expected at least 1 and at least minReplicas (3))"
        );
        assert_eq!(
            err("targets: [{endpoint: /a, type: mean, target: 7}]\nload: {requests: [{path: /a, body: {a: .nan}}]}\n"),
            "eval.yaml: load.requests[0].body: invalid value a: .nan (expected a string or JSON-able value (JSON has no .nan or .inf))"
        );
        // 010 was octal 8 to the original, and read here as 10.
        for (field, text) in [
            ("decay.unchangedRuns", "decay: {unchangedRuns: 010}\n"),
            ("targets[0].target", ""),
        ] {
            let target = if text.is_empty() { "010" } else { "7" };
            assert_eq!(
                err(&format!(
                    "targets: [{{endpoint: /a, type: mean, target: {target}}}]\n{text}"
                )),
                format!(
                    "eval.yaml: {field}: invalid value \"010\" (expected {})",
                    crate::parse::OCTAL
                )
            );
        }
        // A minimum from elsewhere is named, not blamed on the file.
        let env_min = Overrides {
            min_replicas: Some(Override {
                value: 7,
                source: "env minReplicas".into(),
            }),
            ..Overrides::default()
        };
        assert_eq!(
            parse_evaluation_config(
                "eval.yaml",
                "targets: [{endpoint: /a, type: mean, target: 1}]\nmaxReplicas: 6\n",
                &env_min
            )
            .unwrap_err()
            .to_string(),
            "eval.yaml: maxReplicas: invalid value 6 (expected at least 1 and at least minReplicas (7, from env minReplicas))"
        );
        assert_eq!(
            err(
                "targets:\n  - {endpoint: /a, type: mean, target: 1}\ndecay: {unchangedRuns: -1}\n"
            ),
            "eval.yaml: decay.unchangedRuns: invalid value -1 (expected a whole number from 0 to 4294967295)"
        );
    }

    #[test]
    fn a_key_that_is_no_name_is_said_as_the_key() {
        let e = |key: &str| {
            let text = format!("targets: [{{endpoint: /a, type: mean, target: 1}}]\n{key}: x\n");
            parse_evaluation_config("e.yaml", &text, &Overrides::default())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            e("1"),
            "e.yaml: (top level): invalid value integer 1 as a key (expected a field name, which is a string)"
        );
        assert_eq!(
            e("~"),
            "e.yaml: (top level): invalid value ~ (null) as a key (expected a field name, which is a string)"
        );
    }

    #[test]
    fn unknown_fields_warn_with_their_name() {
        let parsed = parse_evaluation_config(
            "eval.yaml",
            "targets:\n  - {endpoint: /a, type: mean, target: 1, trget: 2}\ndecay: {replicas: 1, unchangedRun: 3}\nextra: 1\n",
            &Overrides::default(),
        )
        .unwrap();
        let fields: Vec<_> = parsed.warnings.iter().map(|w| w.path.as_str()).collect();
        assert_eq!(fields, ["extra", "targets[0].trget", "decay.unchangedRun"]);
        assert!(parsed.warnings[0]
            .to_string()
            .contains("unknown field \"extra\""));
        // A key with a line break or an escape sequence is quoted and
        // escaped in the path too: one line, nothing a terminal obeys.
        let parsed = parse_evaluation_config(
            "eval.yaml",
            "targets: [{endpoint: /a, type: mean, target: 1}]\n\"a\\nb\\e[2J\": 1\n",
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            parsed.warnings[0].to_string().lines().next(),
            Some("eval.yaml: \"a\\nb\\u{1b}[2J\": unknown field \"a\\nb\\u{1b}[2J\" ignored (known here: targets, decay, minReplicas, maxReplicas, scaleUp, downscaleStabilization, load, model)")
        );
    }

    /// Unknown fields past twenty are counted, not listed: 2000 targets
    /// merging 2000 unknown keys made 4 million warning lines.
    #[test]
    fn unknown_fields_past_twenty_are_counted() {
        let keys: Vec<String> = (0..30).map(|i| format!("k{i}: 1")).collect();
        let text = format!(
            "base: &b {{{}}}\ntargets:\n  - {{<<: *b, endpoint: /a, type: mean, target: 1}}\n",
            keys.join(", ")
        );
        let parsed = parse_evaluation_config("e.yaml", &text, &Overrides::default()).unwrap();
        assert_eq!(parsed.warnings.len(), 21);
        assert_eq!(
            parsed.warnings[20].to_string(),
            "e.yaml: (others): 11 more unknown fields ignored, none above those listed (not listed one by one)"
        );
        // A typo at the top, past twenty nested ones, is still said.
        let text = format!("{text}maxReplica: 5\n");
        let parsed = parse_evaluation_config("e.yaml", &text, &Overrides::default()).unwrap();
        assert!(
            parsed.warnings.iter().any(|w| w.path == "maxReplica"),
            "{:?}",
            parsed.warnings
        );
    }

    /// libyaml's time grows with the square of the nesting before
    /// serde_yaml's depth limit stops it: refused at once, by line and
    /// column; what serde_yaml reads (up to 128 levels) is not.
    #[test]
    fn brackets_nested_past_what_can_be_read_are_refused_at_once() {
        let parse = |text: String| parse_evaluation_config("e.yaml", &text, &Overrides::default());
        let e = parse(format!("a: {}", "[".repeat(1 << 20))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "e.yaml: malformed YAML: more than 200 nested [ or { at line 1 column 204; a document nested that deep cannot be read"
        );
        let nested = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        let e = parse(format!(
            "targets: [{{endpoint: /a, type: mean, target: 7}}]\nextra: {nested}\n"
        ));
        assert_eq!(e.unwrap().warnings.len(), 1, "unknown field extra, read");
    }

    #[test]
    fn an_arrival_rate_past_any_probe_is_refused() {
        let parse = |rate: &str| {
            let text = format!("targets: [{{endpoint: /a, type: mean, target: 7}}]\nload: {{arrivalRate: {rate}}}\n");
            parse_evaluation_config("e.yaml", &text, &Overrides::default())
                .map(|p| p.value.load.unwrap().arrival_rate)
        };
        assert_eq!(parse("1000000").unwrap(), Some(1e6));
        assert_eq!(
            parse("1e300").unwrap_err().to_string(),
            "e.yaml: load.arrivalRate: invalid value 1e300 (expected requests per second > 0, at most 1000000)"
        );
    }

    #[test]
    fn a_field_of_the_other_scale_up_mode_is_a_warning() {
        let warnings = |scale_up: &str| {
            let text = format!(
                "targets: [{{endpoint: /a, type: mean, target: 7}}]\nscaleUp: {scale_up}\n"
            );
            parse_evaluation_config("e.yaml", &text, &Overrides::default())
                .unwrap()
                .warnings
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            warnings("{tolerance: 0.2, maxChange: 4}"),
            [
                "e.yaml: scaleUp.tolerance: not used: it is a field of mode proportional, and mode is step",
                "e.yaml: scaleUp.maxChange: not used: it is a field of mode proportional, and mode is step",
            ]
        );
        assert_eq!(
            warnings("{mode: proportional, replicas: 2}"),
            ["e.yaml: scaleUp.replicas: not used: it is a field of mode step, and mode is proportional"]
        );
        assert!(warnings("{mode: step, replicas: 2}").is_empty());
        assert!(warnings("{mode: proportional, tolerance: 0.2, maxChange: 4}").is_empty());
    }

    #[test]
    fn every_quoted_number_is_read_with_a_warning() {
        let parsed = parse_evaluation_config(
            "e.yaml",
            "targets: [{endpoint: /a, type: mean, target: \"7\"}]\nminReplicas: \"2\"\nscaleUp: {mode: proportional, tolerance: \"0.2\"}\nload: {users: \"5\", requests: [{path: /a, weight: \"3\"}]}\n",
            &Overrides::default(),
        )
        .unwrap();
        let fields: Vec<_> = parsed.warnings.iter().map(|w| w.path.as_str()).collect();
        assert_eq!(
            fields,
            [
                "targets[0].target",
                "scaleUp.tolerance",
                "minReplicas",
                "load.users",
                "load.requests[0].weight"
            ]
        );
        let p = &parsed.value.policy;
        assert_eq!((p.min_replicas(), p.targets()[0].target()), (2, 7.0));
        assert_eq!(parsed.value.load.unwrap().requests[0].weight, 3);
    }

    #[test]
    fn a_count_written_as_a_whole_decimal_is_read_with_a_warning() {
        let parsed = parse_evaluation_config(
            "e.yaml",
            "targets: [{endpoint: /a, type: mean, target: 7}]\ndecay: {replicas: 1.0, unchangedRuns: 3.0}\n",
            &Overrides::default(),
        )
        .unwrap();
        let warnings: Vec<_> = parsed.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            [
                "e.yaml: decay.replicas: whole number written as 1.0: read as 1; write it without the decimal point",
                "e.yaml: decay.unchangedRuns: whole number written as 3.0: read as 3; write it without the decimal point",
            ]
        );
        let decay = parsed.value.policy.decay();
        assert_eq!((decay.replicas, decay.unchanged_runs), (1, 3));
        for bad in ["3.5", "-1.0", "\"3.0\"", "1e10"] {
            let text = format!("targets: [{{endpoint: /a, type: mean, target: 7}}]\ndecay: {{unchangedRuns: {bad}}}\n");
            assert!(
                parse_evaluation_config("e.yaml", &text, &Overrides::default()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn extensions_parse() {
        let config = parse_evaluation_config(
            "eval.yaml",
            r#"
targets:
  - {method: POST, endpoint: /api, type: p99.9, target: 250}
  - {endpoint: /api, type: errorRate, target: 0.01}
minReplicas: 2
maxReplicas: 20
scaleUp: {mode: proportional, tolerance: 0.2, maxChange: 4}
downscaleStabilization: 5m
load:
  users: 50
  spawnRate: 25
  runTime: 10s
  waitTime: between(0.5, 1.5)
  timeout: 2s
  grace: 500ms
  requests:
    - {method: POST, path: /api, weight: 3, headers: {Content-Type: application/json}, body: {a: 1}}
    - {path: "/health", name: health, followRedirects: true}
"#,
            &Overrides::default(),
        )
        .unwrap()
        .value;
        let p = &config.policy;
        assert_eq!(p.targets[0].kind, TargetKind::Percentile(Percent(99.9)));
        assert_eq!(p.targets[1].method, "GET");
        assert_eq!((p.min_replicas, p.max_replicas), (2, Some(20)));
        assert_eq!(
            p.scale_up,
            ScaleUp::Proportional {
                tolerance: 0.2,
                max_change: Some(4)
            }
        );
        assert_eq!(p.downscale_stabilization, Duration::from_secs(300));
        let load = config.load.unwrap();
        assert_eq!(load.users, Some(50));
        assert_eq!(
            load.wait_time,
            Some(WaitTime::Between(
                Duration::from_millis(500),
                Duration::from_millis(1500)
            ))
        );
        assert_eq!(load.requests[0].body.as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(load.requests[0].weight, 3);
        assert_eq!(load.requests[1].key(), "GET_health");
        // A 3xx is measured as it is unless a request says otherwise.
        assert!(!load.requests[0].follow_redirects);
        assert!(load.requests[1].follow_redirects);
        assert_eq!(load.fail_status, 400);
    }

    #[test]
    fn follow_redirects_is_true_or_false() {
        assert_eq!(
            err("targets: [{endpoint: /a, type: mean, target: 1}]\nload: {requests: [{path: /a, followRedirects: yes please}]}"),
            "eval.yaml: load.requests[0].followRedirects: invalid value \"yes please\" (expected true or false)"
        );
    }

    #[test]
    fn the_model_section_turns_the_model_on_and_checks_its_fields() {
        let with = |extra: &str| {
            parse_evaluation_config(
                "eval.yaml",
                &format!("targets: [{{endpoint: /a, type: mean, target: 7}}]\n{extra}"),
                &Overrides::default(),
            )
        };
        assert_eq!(with("").unwrap().value.policy.model, None);
        // Present, even empty or bare, is on with the defaults.
        for on in ["model: {}\n", "model:\n"] {
            assert_eq!(
                with(on).unwrap().value.policy.model,
                Some(ModelConfig::default()),
                "{on}"
            );
        }
        let parsed =
            with("model: {margin: 0.2, learnRuns: 5, queueShare: 0.75, margn: 1}\n").unwrap();
        assert_eq!(
            parsed.value.policy.model,
            Some(ModelConfig {
                margin: 0.2,
                learn_runs: 5,
                queue_share: 0.75
            })
        );
        assert!(
            parsed.warnings[0].to_string().contains("model.margn"),
            "{:?}",
            parsed.warnings
        );
        for (bad, message) in [
            ("model: {margin: 1}", "eval.yaml: model.margin: invalid value 1 (expected a fraction from 0 up to (not including) 1)"),
            ("model: {margin: -0.1}", "eval.yaml: model.margin: invalid value -0.1 (expected a fraction from 0 up to (not including) 1)"),
            ("model: {queueShare: 0}", "eval.yaml: model.queueShare: invalid value 0 (expected a fraction above 0, at most 1)"),
            ("model: {learnRuns: 0}", "eval.yaml: model.learnRuns: invalid value 0 (expected a whole number >= 1)"),
            ("model: on", "eval.yaml: model: "),
        ] {
            let e = with(&format!("{bad}\n")).unwrap_err().to_string();
            assert!(e.starts_with(message), "{bad}: {e}");
        }
        let mut p = with("").unwrap().value.policy;
        assert!(p
            .set_model(Some(ModelConfig {
                margin: f64::NAN,
                ..ModelConfig::default()
            }))
            .is_err());
    }

    #[test]
    fn wait_times() {
        assert_eq!(
            WaitTime::parse("between(5, 9)"),
            Some(WaitTime::Between(
                Duration::from_secs(5),
                Duration::from_secs(9)
            ))
        );
        assert_eq!(
            WaitTime::parse("constant(1)"),
            Some(WaitTime::Constant(Duration::from_secs(1)))
        );
        assert_eq!(
            WaitTime::parse("constant_throughput(2)"),
            Some(WaitTime::ConstantThroughput(2.0))
        );
        // A rate beyond any clock is valid (its user waits out the run),
        // and written as Python writes it, read back the same.
        for (text, shown) in [
            ("constant_throughput(1e-300)", "constant_throughput(1e-300)"),
            ("constant_throughput(0.5)", "constant_throughput(0.5)"),
            ("constant_throughput(2)", "constant_throughput(2)"),
        ] {
            let wait = WaitTime::parse(text).unwrap();
            assert_eq!(wait.to_string(), shown);
            assert_eq!(WaitTime::parse(shown), Some(wait));
        }
        assert_eq!(
            WaitTime::parse("0.5"),
            Some(WaitTime::Constant(Duration::from_millis(500)))
        );
        let pacing = WaitTime::parse("constant_pacing(2.5)");
        assert_eq!(
            pacing,
            Some(WaitTime::ConstantPacing(Duration::from_millis(2500)))
        );
        assert_eq!(pacing.unwrap().to_string(), "constant_pacing(2.5)");
        for bad in [
            "constant_pacing(-1)",
            "constant(1e300)",
            "between(0, 1e300)",
            "between(9, 5)",
            "between(1)",
            "constant(-1)",
            "wait(1)",
            "constant_throughput(0)",
        ] {
            assert_eq!(WaitTime::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn credential_headers_are_redacted_in_serialize_debug_and_errors() {
        let text = "targets: [{endpoint: /a, type: mean, target: 1}]\nload: {requests: [{path: /a, headers: {authorization: Bearer tok1, Cookie: c=tok2, Proxy-Authorization: tok3, Set-Cookie: tok4, X-Id: shown}}]}";
        let policy = parse_evaluation_config("e.yaml", text, &Overrides::default())
            .unwrap()
            .value;
        let r = &policy.load.as_ref().unwrap().requests[0];
        assert_eq!(
            r.headers["authorization"], "Bearer tok1",
            "the real value is kept for sending"
        );
        let json = serde_json::to_string(&policy).unwrap();
        let debug = format!("{policy:?}");
        for shown in [&json, &debug] {
            assert!(!shown.contains("tok"), "{shown}");
            assert!(
                shown.contains("shown") && shown.contains(REDACTED),
                "{shown}"
            );
        }
        let bad = "targets: [{endpoint: /a, type: mean, target: 1}]\nload: {requests: [{path: /a, headers: {Cookie: \"a=tok5\\nb\", Authorization: [tok6]}}]}";
        let err = parse_policy("e.yaml", bad).unwrap_err().to_string();
        assert!(!err.contains("tok") && err.contains(REDACTED), "{err}");
    }
}
