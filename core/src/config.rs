//! The evaluation config: parsing and validation, from text to a [`Policy`].
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
//! Everything else is an optional extension. Parsing walks the YAML tree by
//! hand rather than through `#[derive(Deserialize)]` so that every error can
//! name the file, the field path (`targets[2].type`), the bad value and what
//! was expected, and so that unknown fields become warnings, not failures
//! (a typo must not take an autoscaler down, but it must not go unnoticed).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_yaml::Value;

use crate::duration::{format_duration, parse_duration};

/// A validated autoscaling policy. After parsing, the invariants hold:
/// at least one target, no duplicates, `min_replicas <= max_replicas`,
/// quantiles in (0, 1], finite non-negative targets.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub targets: Vec<Target>,
    pub decay: Decay,
    pub min_replicas: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<u32>,
    pub scale_up: ScaleUp,
    /// HPA's downscale stabilization: the highest recommendation inside the
    /// window wins. Zero disables it.
    #[serde(serialize_with = "ser_duration")]
    pub downscale_stabilization: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadSpec>,
}

impl Policy {
    /// A policy with the seed guide's decay and the given targets; handy in
    /// tests and simulations.
    pub fn with_targets(targets: Vec<Target>) -> Policy {
        Policy {
            targets,
            decay: Decay::default(),
            min_replicas: 1,
            max_replicas: None,
            scale_up: ScaleUp::default(),
            downscale_stabilization: Duration::ZERO,
            load: None,
        }
    }
}

/// One latency or error target on one request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    pub method: String,
    pub endpoint: String,
    #[serde(rename = "type")]
    pub kind: TargetKind,
    /// Milliseconds for latency types, a fraction in [0, 1] for `errorRate`.
    pub target: f64,
}

impl Target {
    /// The request key this target reads: `"{METHOD}_{endpoint}"`, as
    /// invokust and the original autoscaler keyed their statistics.
    pub fn key(&self) -> String {
        request_key(&self.method, &self.endpoint)
    }
}

/// The key under which a request's statistics are reported.
pub fn request_key(method: &str, name: &str) -> String {
    format!("{}_{}", method.to_ascii_uppercase(), name)
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
/// unchanged runs the next run removes `replicas`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decay {
    pub replicas: u32,
    pub unchanged_runs: u32,
}

impl Default for Decay {
    fn default() -> Self {
        Decay {
            replicas: 1,
            unchanged_runs: 3,
        }
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

/// The native load generator's settings (`load:`). Everything is optional:
/// without it the targets' requests are sent with Locust's defaults.
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
    pub wait_time: WaitTime,
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

/// Locust's wait times between a user's requests.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum WaitTime {
    /// `constant(s)`; Locust's default is `constant(0)`.
    Constant(Duration),
    /// `between(min, max)`, uniform.
    Between(Duration, Duration),
    /// `constant_throughput(n)`: at most n tasks per second per user.
    ConstantThroughput(f64),
    /// `constant_pacing(s)`: each task iteration takes at least s.
    ConstantPacing(Duration),
    #[default]
    None,
}

impl fmt::Display for WaitTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitTime::Constant(d) => write!(f, "constant({})", d.as_secs_f64()),
            WaitTime::Between(a, b) => {
                write!(f, "between({}, {})", a.as_secs_f64(), b.as_secs_f64())
            }
            WaitTime::ConstantThroughput(n) => write!(f, "constant_throughput({n})"),
            WaitTime::ConstantPacing(d) => write!(f, "constant_pacing({})", d.as_secs_f64()),
            WaitTime::None => f.write_str("constant(0)"),
        }
    }
}

impl Serialize for WaitTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl WaitTime {
    pub const EXPECTED: &'static str =
        "a number of seconds, constant(S), between(MIN, MAX), constant_throughput(N) or constant_pacing(S)";

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
    pub method: String,
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
}

impl RequestSpec {
    pub fn key(&self) -> String {
        request_key(&self.method, &self.name)
    }

    /// The headers as logs may show them: credential values replaced.
    pub fn redacted_headers(&self) -> BTreeMap<&str, &str> {
        redact_headers(&self.headers)
    }
}

impl std::fmt::Debug for RequestSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestSpec")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("name", &self.name)
            .field("weight", &self.weight)
            .field("headers", &self.redacted_headers())
            .field("body", &self.body)
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

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_duration(*d))
}

fn ser_opt_duration<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_duration(d, s),
        None => s.serialize_none(),
    }
}

/// A config error: always names the file and, for a bad field, the path,
/// the offending value and what was expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: malformed YAML: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}: {field}: invalid value {value} (expected {expected})")]
    Invalid {
        file: String,
        field: String,
        value: String,
        expected: String,
    },
    #[error("{file}: {field}: missing (expected {expected})")]
    Missing {
        file: String,
        field: String,
        expected: String,
    },
}

/// Something accepted but probably not meant, such as an unknown field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: String,
    pub field: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.field, self.message)
    }
}

/// A parsed policy plus the warnings the caller should print.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub policy: Policy,
    pub warnings: Vec<Warning>,
}

/// Parses an evaluation config. `file` is only used in messages.
pub fn parse_policy(file: &str, text: &str) -> Result<Parsed, ConfigError> {
    let root: Value = serde_yaml::from_str(text).map_err(|e| ConfigError::Syntax {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    let mut p = Parser {
        file,
        warnings: Vec::new(),
    };
    let policy = p.policy(&root)?;
    Ok(Parsed {
        policy,
        warnings: p.warnings,
    })
}

struct Parser<'f> {
    file: &'f str,
    warnings: Vec<Warning>,
}

type Map = serde_yaml::Mapping;

impl ConfigError {
    /// A bad value at `field` of `file`; every YAML parser of lpa-core
    /// (policy, scenario, sweep) reports through this.
    pub(crate) fn invalid(file: &str, field: &str, value: &Value, expected: &str) -> ConfigError {
        ConfigError::Invalid {
            file: file.to_string(),
            field: field.to_string(),
            value: show(value),
            expected: expected.to_string(),
        }
    }

    pub(crate) fn missing(file: &str, field: &str, expected: &str) -> ConfigError {
        ConfigError::Missing {
            file: file.to_string(),
            field: field.to_string(),
            expected: expected.to_string(),
        }
    }
}

impl Parser<'_> {
    fn invalid(&self, field: &str, value: &Value, expected: &str) -> ConfigError {
        ConfigError::invalid(self.file, field, value, expected)
    }

    fn missing(&self, field: &str, expected: &str) -> ConfigError {
        ConfigError::missing(self.file, field, expected)
    }

    fn mapping<'v>(&self, v: &'v Value, field: &str) -> Result<&'v Map, ConfigError> {
        v.as_mapping()
            .ok_or_else(|| self.invalid(field, v, "a mapping of fields"))
    }

    /// Warns about keys not in `known`; keeps parsing.
    fn check_keys(&mut self, map: &Map, prefix: &str, known: &[&str]) {
        for key in map.keys() {
            let name = key
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| show(key));
            if !known.contains(&name.as_str()) {
                let field = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                self.warnings.push(Warning {
                    file: self.file.to_string(),
                    field,
                    message: format!(
                        "unknown field {name:?} ignored (known here: {})",
                        known.join(", ")
                    ),
                });
            }
        }
    }

    fn policy(&mut self, root: &Value) -> Result<Policy, ConfigError> {
        if root.is_null() {
            return Err(self.missing("targets", "a list of at least one target"));
        }
        let map = self.mapping(root, "(top level)")?;
        self.check_keys(
            map,
            "",
            &[
                "targets",
                "decay",
                "minReplicas",
                "maxReplicas",
                "scaleUp",
                "downscaleStabilization",
                "load",
            ],
        );
        let targets = self.targets(map.get("targets"))?;
        let decay = match map.get("decay") {
            None | Some(Value::Null) => Decay::default(),
            Some(v) => self.decay(v)?,
        };
        let min_replicas = match map.get("minReplicas") {
            None => 1,
            Some(v) => self.count(v, "minReplicas")?,
        };
        let max_replicas = match map.get("maxReplicas") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let max = self.count(v, "maxReplicas")?;
                if max == 0 || max < min_replicas {
                    return Err(self.invalid(
                        "maxReplicas",
                        v,
                        &format!("at least 1 and at least minReplicas ({min_replicas})"),
                    ));
                }
                Some(max)
            }
        };
        let scale_up = match map.get("scaleUp") {
            None | Some(Value::Null) => ScaleUp::default(),
            Some(v) => self.scale_up(v)?,
        };
        let downscale_stabilization = match map.get("downscaleStabilization") {
            None | Some(Value::Null) => Duration::ZERO,
            Some(v) => self.duration(v, "downscaleStabilization")?,
        };
        let load = match map.get("load") {
            None | Some(Value::Null) => None,
            Some(v) => Some(self.load(v)?),
        };
        Ok(Policy {
            targets,
            decay,
            min_replicas,
            max_replicas,
            scale_up,
            downscale_stabilization,
            load,
        })
    }

    fn targets(&mut self, v: Option<&Value>) -> Result<Vec<Target>, ConfigError> {
        const EXPECTED: &str = "a list of at least one target";
        let list = match v {
            None | Some(Value::Null) => return Err(self.missing("targets", EXPECTED)),
            Some(Value::Sequence(list)) => list,
            Some(other) => return Err(self.invalid("targets", other, EXPECTED)),
        };
        if list.is_empty() {
            return Err(self.invalid("targets", &Value::Sequence(vec![]), EXPECTED));
        }
        let mut targets: Vec<Target> = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let target = self.target(item, i)?;
            if let Some(j) = targets
                .iter()
                .position(|t| t.key() == target.key() && t.kind == target.kind)
            {
                return Err(ConfigError::Invalid {
                    file: self.file.to_string(),
                    field: format!("targets[{i}]"),
                    value: format!("{} {} {}", target.method, target.endpoint, target.kind),
                    expected: format!("no duplicate of targets[{j}]"),
                });
            }
            targets.push(target);
        }
        Ok(targets)
    }

    fn target(&mut self, v: &Value, i: usize) -> Result<Target, ConfigError> {
        let at = format!("targets[{i}]");
        let map = self.mapping(v, &at)?;
        self.check_keys(map, &at, &["method", "endpoint", "type", "target"]);
        let method = match map.get("method") {
            None => "GET".to_string(),
            Some(v) => {
                let field = format!("{at}.method");
                let m = self.string(v, &field, "an HTTP method such as GET")?;
                if m.is_empty() || !m.chars().all(|c| c.is_ascii_alphabetic()) {
                    return Err(self.invalid(&field, v, "an HTTP method such as GET"));
                }
                m.to_ascii_uppercase()
            }
        };
        let endpoint_field = format!("{at}.endpoint");
        let endpoint = match map.get("endpoint") {
            None => return Err(self.missing(&endpoint_field, "a path such as /fibonacci?n=10")),
            Some(v) => {
                let e = self.string(v, &endpoint_field, "a path such as /fibonacci?n=10")?;
                if e.is_empty() || e.chars().any(char::is_whitespace) {
                    return Err(self.invalid(&endpoint_field, v, "a path such as /fibonacci?n=10"));
                }
                e
            }
        };
        let type_field = format!("{at}.type");
        let kind = match map.get("type") {
            None => return Err(self.missing(&type_field, TargetKind::EXPECTED)),
            Some(v) => match v.as_str().and_then(TargetKind::parse) {
                Some(k) => k,
                None => return Err(self.invalid(&type_field, v, TargetKind::EXPECTED)),
            },
        };
        let target_field = format!("{at}.target");
        let target = match map.get("target") {
            None => {
                return Err(self.missing(&target_field, "a number"));
            }
            Some(v) => {
                let expected = if kind.is_latency() {
                    "a non-negative number of milliseconds"
                } else {
                    "a fraction of failed requests from 0 to 1"
                };
                let n = v
                    .as_f64()
                    .filter(|n| n.is_finite() && *n >= 0.0)
                    .ok_or_else(|| self.invalid(&target_field, v, expected))?;
                if !kind.is_latency() && n > 1.0 {
                    return Err(self.invalid(&target_field, v, expected));
                }
                n
            }
        };
        Ok(Target {
            method,
            endpoint,
            kind,
            target,
        })
    }

    fn decay(&mut self, v: &Value) -> Result<Decay, ConfigError> {
        let map = self.mapping(v, "decay")?;
        self.check_keys(map, "decay", &["replicas", "unchangedRuns"]);
        let d = Decay::default();
        Ok(Decay {
            replicas: match map.get("replicas") {
                None => d.replicas,
                Some(v) => self.count(v, "decay.replicas")?,
            },
            unchanged_runs: match map.get("unchangedRuns") {
                None => d.unchanged_runs,
                Some(v) => self.count(v, "decay.unchangedRuns")?,
            },
        })
    }

    fn scale_up(&mut self, v: &Value) -> Result<ScaleUp, ConfigError> {
        let map = self.mapping(v, "scaleUp")?;
        self.check_keys(
            map,
            "scaleUp",
            &["mode", "replicas", "tolerance", "maxChange"],
        );
        let mode = match map.get("mode") {
            None => "step",
            Some(v) => v
                .as_str()
                .filter(|m| matches!(*m, "step" | "proportional"))
                .ok_or_else(|| self.invalid("scaleUp.mode", v, "step or proportional"))?,
        };
        if mode == "step" {
            let replicas = match map.get("replicas") {
                None => 1,
                Some(v) => {
                    let n = self.count(v, "scaleUp.replicas")?;
                    if n == 0 {
                        return Err(self.invalid("scaleUp.replicas", v, "a whole number >= 1"));
                    }
                    n
                }
            };
            return Ok(ScaleUp::Step { replicas });
        }
        let tolerance = match map.get("tolerance") {
            None => 0.1,
            Some(v) => v
                .as_f64()
                .filter(|t| t.is_finite() && (0.0..1.0).contains(t))
                .ok_or_else(|| {
                    self.invalid(
                        "scaleUp.tolerance",
                        v,
                        "a fraction from 0 up to (not including) 1",
                    )
                })?,
        };
        let max_change = match map.get("maxChange") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let n = self.count(v, "scaleUp.maxChange")?;
                if n == 0 {
                    return Err(self.invalid("scaleUp.maxChange", v, "a whole number >= 1"));
                }
                Some(n)
            }
        };
        Ok(ScaleUp::Proportional {
            tolerance,
            max_change,
        })
    }

    fn load(&mut self, v: &Value) -> Result<LoadSpec, ConfigError> {
        let map = self.mapping(v, "load")?;
        self.check_keys(
            map,
            "load",
            &[
                "users",
                "spawnRate",
                "runTime",
                "waitTime",
                "arrivalRate",
                "timeout",
                "grace",
                "failStatus",
                "requests",
            ],
        );
        let mut spec = LoadSpec {
            fail_status: 400,
            ..LoadSpec::default()
        };
        if let Some(v) = map.get("users") {
            let n = self.count(v, "load.users")?;
            if n == 0 {
                return Err(self.invalid("load.users", v, "a whole number >= 1"));
            }
            spec.users = Some(n);
        }
        if let Some(v) = map.get("spawnRate") {
            spec.spawn_rate = Some(self.positive(v, "load.spawnRate", "users per second > 0")?);
        }
        if let Some(v) = map.get("runTime") {
            let d = self.duration(v, "load.runTime")?;
            if d.is_zero() {
                return Err(self.invalid("load.runTime", v, "a duration > 0 such as 5s"));
            }
            spec.run_time = Some(d);
        }
        if let Some(v) = map.get("waitTime") {
            let text = match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            spec.wait_time = text
                .as_deref()
                .and_then(WaitTime::parse)
                .ok_or_else(|| self.invalid("load.waitTime", v, WaitTime::EXPECTED))?;
        }
        if let Some(v) = map.get("arrivalRate") {
            spec.arrival_rate =
                Some(self.positive(v, "load.arrivalRate", "requests per second > 0")?);
        }
        if let Some(v) = map.get("timeout") {
            let d = self.duration(v, "load.timeout")?;
            if d.is_zero() {
                return Err(self.invalid("load.timeout", v, "a duration > 0 such as 2s"));
            }
            spec.timeout = Some(d);
        }
        if let Some(v) = map.get("grace") {
            spec.grace = Some(self.duration(v, "load.grace")?);
        }
        if let Some(v) = map.get("failStatus") {
            let n = self.count(v, "load.failStatus")?;
            if !(100..=600).contains(&n) {
                return Err(self.invalid("load.failStatus", v, "an HTTP status from 100 to 600"));
            }
            spec.fail_status = n as u16;
        }
        if let Some(v) = map.get("requests") {
            let list = v
                .as_sequence()
                .ok_or_else(|| self.invalid("load.requests", v, "a list of requests"))?;
            for (i, item) in list.iter().enumerate() {
                let r = self.request(item, i)?;
                spec.requests.push(r);
            }
        }
        Ok(spec)
    }

    fn request(&mut self, v: &Value, i: usize) -> Result<RequestSpec, ConfigError> {
        let at = format!("load.requests[{i}]");
        let map = self.mapping(v, &at)?;
        self.check_keys(
            map,
            &at,
            &["method", "path", "name", "weight", "headers", "body"],
        );
        let method = match map.get("method") {
            None => "GET".to_string(),
            Some(v) => {
                let field = format!("{at}.method");
                let m = self.string(v, &field, "an HTTP method such as GET")?;
                if m.is_empty() || !m.chars().all(|c| c.is_ascii_alphabetic()) {
                    return Err(self.invalid(&field, v, "an HTTP method such as GET"));
                }
                m.to_ascii_uppercase()
            }
        };
        let path_field = format!("{at}.path");
        let path = match map.get("path") {
            None => return Err(self.missing(&path_field, "a path starting with /")),
            Some(v) => {
                let p = self.string(v, &path_field, "a path starting with /")?;
                if !p.starts_with('/') || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(self.invalid(&path_field, v, "a path starting with /"));
                }
                p
            }
        };
        let name = match map.get("name") {
            None => path.clone(),
            Some(v) => self.string(v, &format!("{at}.name"), "a string")?,
        };
        let weight = match map.get("weight") {
            None => 1,
            Some(v) => {
                let field = format!("{at}.weight");
                let n = self.count(v, &field)?;
                if n == 0 {
                    return Err(self.invalid(&field, v, "a whole number >= 1"));
                }
                n
            }
        };
        let mut headers = BTreeMap::new();
        if let Some(v) = map.get("headers") {
            let field = format!("{at}.headers");
            let hmap = self.mapping(v, &field)?;
            for (k, val) in hmap {
                let name = k.as_str().filter(|n| is_header_name(n)).ok_or_else(|| {
                    self.invalid(&field, k, "header names made of letters, digits and -")
                })?;
                let hfield = format!("{field}.{name}");
                let value = match val {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ if is_sensitive_header(name) => {
                        let shown = Value::String(REDACTED.into());
                        return Err(self.invalid(&hfield, &shown, "a string"));
                    }
                    other => return Err(self.invalid(&hfield, other, "a string")),
                };
                if value.chars().any(|c| c == '\r' || c == '\n') {
                    let shown = if is_sensitive_header(name) {
                        &Value::String(REDACTED.into())
                    } else {
                        val
                    };
                    return Err(self.invalid(&hfield, shown, "a single-line value"));
                }
                headers.insert(name.to_string(), value);
            }
        }
        let body = match map.get("body") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            // A structured body is sent as JSON, the common case for APIs.
            Some(other) => Some(serde_json::to_string(other).map_err(|_| {
                self.invalid(&format!("{at}.body"), other, "a string or JSON-able value")
            })?),
        };
        Ok(RequestSpec {
            method,
            path,
            name,
            weight,
            headers,
            body,
        })
    }

    fn string(&self, v: &Value, field: &str, expected: &str) -> Result<String, ConfigError> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| self.invalid(field, v, expected))
    }

    fn count(&self, v: &Value, field: &str) -> Result<u32, ConfigError> {
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| self.invalid(field, v, "a whole number >= 0"))
    }

    fn positive(&self, v: &Value, field: &str, expected: &str) -> Result<f64, ConfigError> {
        v.as_f64()
            .filter(|n| n.is_finite() && *n > 0.0)
            .ok_or_else(|| self.invalid(field, v, expected))
    }

    fn duration(&self, v: &Value, field: &str) -> Result<Duration, ConfigError> {
        let parsed = match v {
            Value::Number(n) => n.as_f64().and_then(|s| parse_duration(&s.to_string())),
            Value::String(s) => parse_duration(s),
            _ => None,
        };
        parsed
            .ok_or_else(|| self.invalid(field, v, "seconds, or a duration such as 30s, 5m, 500ms"))
    }
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// Renders a YAML value for an error message: strings quoted, others as YAML.
pub(crate) fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_string(),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim_end().replace('\n', " "))
            .unwrap_or_else(|_| format!("{other:?}")),
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

    #[test]
    fn seed_config_parses_unchanged() {
        let parsed = parse_policy("evaluation_config.yaml", SEED).unwrap();
        assert!(parsed.warnings.is_empty());
        let p = parsed.policy;
        assert_eq!(
            p.targets,
            vec![Target {
                method: "GET".into(),
                endpoint: "/fibonacci?n=10".into(),
                kind: TargetKind::Mean,
                target: 7.0
            }]
        );
        assert_eq!(p.targets[0].key(), "GET_/fibonacci?n=10");
        assert_eq!(
            p.decay,
            Decay {
                replicas: 1,
                unchanged_runs: 3
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

    #[test]
    fn errors_name_file_field_value_and_expectation() {
        let e = err("targets:\n  - {endpoint: /a, type: mean, target: 1}\n  - {endpoint: /b, type: mean, target: 1}\n  - {endpoint: /c, type: p1000, target: 1}\n");
        assert_eq!(
            e,
            "eval.yaml: targets[2].type: invalid value \"p1000\" (expected mean, median, min, max, a percentile pNN such as p95 or p99.9, or errorRate)"
        );
        assert_eq!(
            err("targets:\n  - {endpoint: /a, type: mean, target: -3}\n"),
            "eval.yaml: targets[0].target: invalid value -3 (expected a non-negative number of milliseconds)"
        );
        assert_eq!(
            err("targets:\n  - {endpoint: /a, type: mean, target: fast}\n"),
            "eval.yaml: targets[0].target: invalid value \"fast\" (expected a non-negative number of milliseconds)"
        );
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
            err(
                "targets:\n  - {endpoint: /a, type: mean, target: 1}\ndecay: {unchangedRuns: -1}\n"
            ),
            "eval.yaml: decay.unchangedRuns: invalid value -1 (expected a whole number >= 0)"
        );
    }

    #[test]
    fn unknown_fields_warn_with_their_name() {
        let parsed = parse_policy(
            "eval.yaml",
            "targets:\n  - {endpoint: /a, type: mean, target: 1, trget: 2}\ndecay: {replicas: 1, unchangedRun: 3}\nextra: 1\n",
        )
        .unwrap();
        let fields: Vec<_> = parsed.warnings.iter().map(|w| w.field.as_str()).collect();
        assert_eq!(fields, ["extra", "targets[0].trget", "decay.unchangedRun"]);
        assert!(parsed.warnings[0]
            .to_string()
            .contains("unknown field \"extra\""));
    }

    #[test]
    fn extensions_parse() {
        let p = parse_policy(
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
    - {path: "/health", name: health}
"#,
        )
        .unwrap()
        .policy;
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
        let load = p.load.unwrap();
        assert_eq!(load.users, Some(50));
        assert_eq!(
            load.wait_time,
            WaitTime::Between(Duration::from_millis(500), Duration::from_millis(1500))
        );
        assert_eq!(load.requests[0].body.as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(load.requests[0].weight, 3);
        assert_eq!(load.requests[1].key(), "GET_health");
        assert_eq!(load.fail_status, 400);
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
        let policy = parse_policy("e.yaml", text).unwrap().policy;
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
