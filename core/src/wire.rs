//! Wire formats: the CPA hook stdin (v2, and the v0 shapes the original
//! was built for), the metric JSON (invokust field names) and the evaluate
//! answer. All pure `&str -> Result` functions through [`crate::parse`];
//! the binary does the reading.

use std::collections::BTreeMap;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::decide::Observation;
use crate::names::{is_dns1123_label, is_dns1123_subdomain, LABEL_RULE, SUBDOMAIN_RULE};
use crate::parse::{from_json, from_json_value, from_text, invalid, ParseError};
use crate::stats::RequestStats;

/// CPA's `runType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunType {
    Scaler,
    Api,
    ApiDryRun,
}

impl RunType {
    pub fn parse(text: &str) -> Option<RunType> {
        match text {
            "scaler" => Some(RunType::Scaler),
            "api" => Some(RunType::Api),
            "api_dry_run" => Some(RunType::ApiDryRun),
            _ => None,
        }
    }

    /// A dry run must change no state.
    pub fn is_dry_run(self) -> bool {
        self == RunType::ApiDryRun
    }
}

impl<'de> Deserialize<'de> for RunType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, RunType::parse, "scaler, api or api_dry_run")
    }
}

/// Which CPA wrote the input, and so which answer it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpaVersion {
    /// CPA v0.x (the original's): `run_type`, the resource as a name, and
    /// the answer `{"target_replicas": N}`.
    V0,
    /// CPA v1 and v2: `runType`, the resource as an object, and the answer
    /// `{"targetReplicas": N}`.
    V2,
}

/// The scaled resource as CPA passes it: only what lpa reads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resource {
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    /// `spec.replicas`, if present.
    pub replicas: Option<u32>,
    /// `status.readyReplicas`: 0 when the resource has a status without it
    /// (Kubernetes leaves a zero out), `None` without a status.
    pub ready_replicas: Option<u32>,
}

/// The metric hook's stdin.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricInput {
    pub resource: Resource,
    pub run_type: RunType,
}

/// The evaluate hook's stdin, with the metric values parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluateInput {
    pub resource: Resource,
    pub run_type: RunType,
    pub version: CpaVersion,
    pub metrics: Vec<MetricReport>,
}

impl EvaluateInput {
    /// Current replicas: the resource's `spec.replicas` (fresher), else the
    /// metrics' `current_replicas`.
    pub fn current_replicas(&self) -> Option<u32> {
        self.resource
            .replicas
            .or_else(|| self.metrics.iter().find_map(|m| m.current_replicas))
    }

    /// All metrics combined into one observation at `at_secs`. With several
    /// (CPA's `per-pod` mode, one metric a pod), a latency target reads the
    /// worst measurement, so it breaches if any measurement breaches; a
    /// request key has no data only if no measurement has data for it; the
    /// counts of requests and failures add up.
    pub fn observation(&self, at_secs: u64, current_replicas: u32) -> Observation {
        let mut requests: BTreeMap<String, RequestStats> = BTreeMap::new();
        for m in &self.metrics {
            for (k, v) in &m.requests {
                match requests.get_mut(k) {
                    Some(seen) => seen.combine(v),
                    None => {
                        requests.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        Observation {
            at_secs,
            current_replicas,
            requests,
            ready_replicas: self.resource.ready_replicas,
            // CPA's config is not in its stdin: the hook reads its env.
            applier_window_secs: None,
        }
    }

    /// The field of [`answer`](Self::answer), for the log line beside it.
    pub fn answer_key(&self) -> &'static str {
        match self.version {
            CpaVersion::V2 => "targetReplicas",
            CpaVersion::V0 => "target_replicas",
        }
    }

    /// The answer this CPA reads.
    pub fn answer(&self, replicas: u32) -> String {
        match self.version {
            CpaVersion::V2 => evaluate_answer(replicas),
            CpaVersion::V0 => format!("{{\"target_replicas\":{}}}", replicas.min(i32::MAX as u32)),
        }
    }
}

/// The metric JSON: invokust's shape plus lpa's additions. Unknown fields are
/// kept out of the way (ignored) so other producers' output still reads.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(expecting = "a JSON object with \"requests\"")]
pub struct MetricReport {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_replicas: Option<u32>,
    pub requests: BTreeMap<String, RequestStats>,
    /// Failure kinds, keyed `"{METHOD}_{name}: {error}"`; `{}` when none
    /// failed, as invokust wrote it, for tooling that reads it unchecked.
    #[serde(default)]
    pub failures: BTreeMap<String, FailureStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_requests: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_requests_fail: Option<u64>,
    /// How the load test ran (driver, users, run time, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunInfo>,
}

/// How a load test ran, under `run` in the metric JSON: the native
/// driver's and the Locust driver's records in one shape, each writing the
/// fields it knows (same name, same meaning). Every field may be absent,
/// so another producer's metric JSON, or an older lpa's, still reads;
/// fields lpa does not know are ignored.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunInfo {
    /// `native` or `locust`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// `closed` (users loop with a wait time) or `open` (arrival rate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Locust: the locustfile it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locustfile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<u32>,
    /// Native: users started before the run time ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users_started: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spawn_rate: Option<f64>,
    /// Native: seconds from the start until the last user started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ramp_up_secs: Option<f64>,
    /// `5s`; Locust's in whole seconds, as it got it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_time: Option<String>,
    /// Locust: how long tasks in flight at the run time could finish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<String>,
    /// Native: how long requests in flight at the run time could finish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace: Option<String>,
    /// Native: the bound of connecting and of each read and write.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Native: the users' waits, as Locust spells them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_time: Option<String>,
    /// Locust: 0 clean; 1 the run had failures (or a locustfile check set it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Native: until every user had stopped or was given up; Locust: the
    /// wall time of its process, startup included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elapsed_secs: Option<f64>,
    /// Requests unanswered at run time + grace, counted as failures (Locust:
    /// at run time + `--stop-timeout`; absent when its failure kinds are
    /// incomplete).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unfinished: Option<u64>,
    /// Native, open model: task runs per second in total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrival_rate: Option<f64>,
    /// Open model: sends that left more than 1 ms after their scheduled time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late: Option<u64>,
    /// Open model: scheduled sends never made because every user was busy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
    /// All requests together (Locust's "Aggregated" row); absent reads as
    /// no data.
    pub aggregate: RequestStats,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FailureStats {
    pub method: String,
    pub name: String,
    pub error: String,
    /// invokust spelled it `occurences`; its metric JSON keeps working.
    #[serde(alias = "occurences")]
    pub occurrences: u64,
}

/// The evaluate answer CPA v2 reads: exactly `{"targetReplicas": N}`.
pub fn evaluate_answer(replicas: u32) -> String {
    // CPA parses into an int32: never print more than i32::MAX.
    let n = replicas.min(i32::MAX as u32);
    format!("{{\"targetReplicas\":{n}}}")
}

/// Parses a metric JSON value (a metric hook's stdout).
pub fn parse_metric(what: &str, text: &str) -> Result<MetricReport, ParseError> {
    let v: Value = from_json(what, text)?;
    metric_from_value(what, &v)
}

fn metric_from_value(what: &str, v: &Value) -> Result<MetricReport, ParseError> {
    if v.is_object() && v.get("requests").is_none() {
        return Err(ParseError::Missing {
            file: what.to_string(),
            path: "requests".into(),
            expected: "an object of request statistics keyed METHOD_name".into(),
        });
    }
    let mut report: MetricReport = from_json_value(what, v)?;
    check_plausible(what, &report)?;
    count_invokust_failures(what, &mut report)?;
    Ok(report)
}

/// invokust (the original's metric) wrote no per-request `num_failures`:
/// a request's failures are the `occurrences` of the `failures` entries of
/// its method and name (Locust 0.13 counted them in `num_requests` too).
/// Without this a failing service read as calm and decayed. A producer
/// that writes `num_failures` (lpa) is read as it wrote it. More failures
/// than requests (or than a u64 holds) no run has: an error, as a
/// `num_failures` past `num_requests` is, where the sum overflowed (a
/// panic, or in release a small count) or read as an error rate above 1.
fn count_invokust_failures(what: &str, report: &mut MetricReport) -> Result<(), ParseError> {
    for (key, stats) in &mut report.requests {
        if stats.num_failures.is_some() {
            continue;
        }
        let mut entries = report
            .failures
            .values()
            .filter(|f| format!("{}_{}", f.method, f.name) == *key);
        let Some(first) = entries.next() else {
            continue;
        };
        let failed = entries.try_fold(first.occurrences, |sum, f| sum.checked_add(f.occurrences));
        let bound = stats.num_requests.unwrap_or(u64::MAX);
        match failed {
            Some(failed) if failed <= bound => {
                if failed > 0 {
                    stats.num_failures = Some(failed);
                }
            }
            _ => {
                return Err(ParseError::Invalid {
                    file: what.to_string(),
                    path: "failures".into(),
                    value: match failed {
                        Some(n) => format!("{n} occurrences for {key}"),
                        None => format!("more than {} occurrences for {key}", u64::MAX),
                    },
                    expected: match stats.num_requests {
                        Some(n) => format!("at most requests.{key}.num_requests, {n}: Locust counts a failure as a request too"),
                        None => format!("at most {} in all", u64::MAX),
                    },
                })
            }
        }
    }
    Ok(())
}

/// Numbers no measurement can have are an error, not a decision: a
/// negative latency reads as calm and a huge one sizes for millions of
/// replicas.
fn check_plausible(what: &str, report: &MetricReport) -> Result<(), ParseError> {
    let aggregate = report
        .run
        .as_ref()
        .map(|r| ("run.aggregate".to_string(), &r.aggregate));
    let requests = report
        .requests
        .iter()
        .map(|(k, s)| (format!("requests.{k}"), s));
    for (at, stats) in requests.chain(aggregate) {
        if let Some(bad) = stats.implausible() {
            return Err(bad.at(what, &at));
        }
    }
    match (report.num_requests, report.num_requests_fail) {
        (Some(n), Some(f)) if f > n => Err(ParseError::Invalid {
            file: what.to_string(),
            path: "num_requests_fail".into(),
            value: f.to_string(),
            expected: format!("at most num_requests, {n}"),
        }),
        _ => Ok(()),
    }
}

/// Parses the metric hook's stdin: CPA v2 `{"resource": ..., "runType": ...}`
/// or v0's bare resource.
pub fn parse_metric_input(text: &str) -> Result<MetricInput, ParseError> {
    let raw: RawMetricInput = from_json("metric stdin", text)?;
    let resource = match raw.resource {
        Some(ResourceField::Object(r)) => r.checked("metric stdin", "resource.")?,
        // v0: the resource itself.
        _ => RawResource {
            kind: raw.kind,
            metadata: raw.metadata,
            spec: raw.spec,
            status: raw.status,
        }
        .checked("metric stdin", "")?,
    };
    Ok(MetricInput {
        resource,
        run_type: raw.run_type.or(raw.run_type_v0).unwrap_or(RunType::Scaler),
    })
}

/// Parses the evaluate hook's stdin: CPA v2, or v0.10's `run_type` with the
/// resource as a name.
pub fn parse_evaluate_input(text: &str) -> Result<EvaluateInput, ParseError> {
    const WHAT: &str = "evaluate stdin";
    let raw: RawEvaluateInput = from_json(WHAT, text)?;
    let metrics_raw = raw.metrics.ok_or_else(|| ParseError::Missing {
        file: WHAT.into(),
        path: "metrics".into(),
        expected: "a list of {\"resource\", \"value\"} from the metric hook".into(),
    })?;
    // CPA (Go) writes the list it appended no pod's metric to as `null`.
    let null = metrics_raw.is_none();
    let metrics_raw = metrics_raw.unwrap_or_default();
    // CPA's per-pod mode calls the metric hook once per pod: with none, the
    // list is empty. At 0 replicas that is the disabled hold per-resource
    // mode reaches too, not a metric hook that printed nothing.
    let no_pods = matches!(
        &raw.resource,
        Some(ResourceField::Object(RawResource {
            spec: Some(RawSpec {
                replicas: Some(Replicas(0))
            }),
            ..
        }))
    );
    if metrics_raw.is_empty() && !no_pods {
        return Err(ParseError::Invalid {
            file: WHAT.into(),
            path: "metrics".into(),
            value: if null { "null" } else { "[]" }.into(),
            expected: "at least one metric (did the metric hook print anything?)".into(),
        });
    }
    let mut metrics = Vec::with_capacity(metrics_raw.len());
    for (i, m) in metrics_raw.into_iter().enumerate() {
        let what = format!("{WHAT}: metrics[{i}].value");
        let report = match m.value {
            None => {
                return Err(ParseError::Missing {
                    file: WHAT.into(),
                    path: format!("metrics[{i}].value"),
                    expected: "the metric hook's JSON output as a string".into(),
                })
            }
            Some(Value::String(s)) => parse_metric(&what, &s)?,
            // Lenient: a producer that embedded the object itself.
            Some(v @ Value::Object(_)) => metric_from_value(&what, &v)?,
            Some(other) => {
                return Err(ParseError::Invalid {
                    file: WHAT.into(),
                    path: format!("metrics[{i}].value"),
                    value: other.to_string(),
                    expected: "the metric hook's JSON output as a string".into(),
                })
            }
        };
        metrics.push(report);
    }
    let named = matches!(raw.resource, Some(ResourceField::Name(_)));
    // With both run types (a v2 input a tool added the old one to), v2's
    // decides, as it decides the run type: the answer's key was v0's.
    let version = if named || (raw.run_type.is_none() && raw.run_type_v0.is_some()) {
        CpaVersion::V0
    } else {
        CpaVersion::V2
    };
    let resource = match raw.resource {
        Some(ResourceField::Object(r)) => r.checked(WHAT, "resource.")?,
        Some(ResourceField::Name(name)) => Resource {
            name: Some(kube_name(
                WHAT,
                "resource",
                name,
                SUBDOMAIN_RULE,
                is_dns1123_subdomain,
            )?),
            ..Resource::default()
        },
        None => Resource::default(),
    };
    Ok(EvaluateInput {
        resource,
        run_type: raw.run_type.or(raw.run_type_v0).unwrap_or(RunType::Scaler),
        version,
        metrics,
    })
}

// The hook inputs as CPA writes them.

#[derive(Deserialize)]
#[serde(expecting = "a JSON object")]
struct RawMetricInput {
    resource: Option<ResourceField>,
    #[serde(rename = "runType")]
    run_type: Option<RunType>,
    #[serde(rename = "run_type")]
    run_type_v0: Option<RunType>,
    // v0 sent the resource itself.
    kind: Option<Value>,
    metadata: Option<RawMetadata>,
    spec: Option<RawSpec>,
    status: Option<RawStatus>,
}

#[derive(Deserialize)]
#[serde(expecting = "a JSON object with \"metrics\"")]
struct RawEvaluateInput {
    /// Absent, `null`, or the list.
    #[serde(default, deserialize_with = "present")]
    metrics: Option<Option<Vec<RawMetric>>>,
    resource: Option<ResourceField>,
    #[serde(rename = "runType")]
    run_type: Option<RunType>,
    #[serde(rename = "run_type")]
    run_type_v0: Option<RunType>,
}

/// `Some` for a field that is there, `null` included, so that a field's
/// absence and its `null` can be told apart.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(expecting = "a metric {\"resource\", \"value\"}")]
struct RawMetric {
    value: Option<Value>,
}

/// `resource` is an object in CPA v1+ and the resource's name in v0.10.
enum ResourceField {
    Object(RawResource),
    Name(String),
}

impl<'de> Deserialize<'de> for ResourceField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = ResourceField;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a Kubernetes resource object, or its name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ResourceField, E> {
                Ok(ResourceField::Name(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ResourceField, A::Error> {
                RawResource::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(ResourceField::Object)
            }
        }
        d.deserialize_any(Visit)
    }
}

#[derive(Deserialize, Default)]
struct RawResource {
    kind: Option<Value>,
    metadata: Option<RawMetadata>,
    spec: Option<RawSpec>,
    status: Option<RawStatus>,
}

/// The status is the platform's report, not configuration: a value lpa
/// cannot read is no report, never an error that stops the autoscaler.
#[derive(Deserialize, Default)]
struct RawStatus {
    #[serde(rename = "readyReplicas")]
    ready_replicas: Option<Value>,
}

impl RawStatus {
    fn ready(&self) -> Option<u32> {
        match &self.ready_replicas {
            None | Some(Value::Null) => Some(0),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n <= i32::MAX as u32),
        }
    }
}

#[derive(Deserialize, Default)]
struct RawMetadata {
    name: Option<Value>,
    namespace: Option<Value>,
}

#[derive(Deserialize, Default)]
struct RawSpec {
    replicas: Option<Replicas>,
}

/// `spec.replicas`: what Kubernetes allows, an int32 >= 0.
struct Replicas(u32);

impl<'de> Deserialize<'de> for Replicas {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|&n| n <= i32::MAX as u32)
            .map(Replicas)
            .ok_or_else(|| invalid("a whole number from 0 to 2147483647, as Kubernetes' replicas"))
    }
}

impl RawResource {
    /// The resource, its kind, name and namespace held to Kubernetes'
    /// rules: they go into the API paths of `stateConfigMap` and into the
    /// log line, where a `/`, `?` or newline CPA would never send could
    /// name another object or forge a line. `at` prefixes the field paths.
    fn checked(self, what: &str, at: &str) -> Result<Resource, ParseError> {
        let text = |v: Option<Value>| v.and_then(|v| v.as_str().map(str::to_string));
        let (name, namespace) = self
            .metadata
            .map(|m| (text(m.name), text(m.namespace)))
            .unwrap_or_default();
        let field = |f: &str, v: Option<String>, rule: &str, ok: fn(&str) -> bool| {
            v.map(|v| kube_name(what, &format!("{at}{f}"), v, rule, ok))
                .transpose()
        };
        Ok(Resource {
            kind: field("kind", text(self.kind), KIND_RULE, is_kind)?,
            name: field("metadata.name", name, SUBDOMAIN_RULE, is_dns1123_subdomain)?,
            namespace: field(
                "metadata.namespace",
                namespace,
                LABEL_RULE,
                is_dns1123_label,
            )?,
            replicas: self.spec.and_then(|s| s.replicas).map(|r| r.0),
            ready_replicas: self.status.and_then(|s| s.ready()),
        })
    }
}

const KIND_RULE: &str = "a Kubernetes kind: letters, digits and '-', starting with a letter and ending with a letter or digit, at most 63 characters";

/// A kind whose lower case is a DNS-1035 label, as the API server holds a
/// custom resource's kind (`Deployment`, `Web-App`).
fn is_kind(s: &str) -> bool {
    s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && !s.ends_with('-')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// `value`, when it follows `rule`.
fn kube_name(
    what: &str,
    path: &str,
    value: String,
    rule: &str,
    ok: fn(&str) -> bool,
) -> Result<String, ParseError> {
    if ok(&value) {
        return Ok(value);
    }
    Err(ParseError::Invalid {
        file: what.into(),
        path: path.into(),
        // As JSON writes it: quoted, a control character escaped.
        value: Value::String(value).to_string(),
        expected: rule.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_is_exactly_target_replicas() {
        assert_eq!(evaluate_answer(3), r#"{"targetReplicas":3}"#);
        assert_eq!(
            evaluate_answer(u32::MAX),
            r#"{"targetReplicas":2147483647}"#
        );
    }

    #[test]
    fn v2_evaluate_input() {
        let metric =
            r#"{"current_replicas": 2, "requests": {"GET_/test": {"avg_response_time": 4}}}"#;
        let stdin = serde_json::json!({
            "metrics": [{"resource": "fibonacci", "value": metric}],
            "resource": {"kind": "Deployment", "metadata": {"name": "fibonacci"}, "spec": {"replicas": 3}},
            "runType": "api_dry_run"
        })
        .to_string();
        let e = parse_evaluate_input(&stdin).unwrap();
        assert_eq!(e.run_type, RunType::ApiDryRun);
        assert_eq!(e.current_replicas(), Some(3));
        assert_eq!(e.resource.name.as_deref(), Some("fibonacci"));
        let o = e.observation(5, 3);
        assert_eq!(o.requests["GET_/test"].avg_response_time, Some(4.0));
    }

    #[test]
    fn ready_replicas_are_read_from_the_resource_status() {
        let metric =
            r#"{"current_replicas": 2, "requests": {"GET_/test": {"avg_response_time": 4}}}"#;
        let input = |status: &str| {
            let stdin = format!(
                r#"{{"metrics": [{{"resource": "x", "value": {}}}], "resource": {{"kind": "Deployment", "metadata": {{"name": "x"}}, "spec": {{"replicas": 3}}{status}}}, "runType": "scaler"}}"#,
                serde_json::to_string(metric).unwrap()
            );
            parse_evaluate_input(&stdin)
                .unwrap()
                .observation(0, 3)
                .ready_replicas
        };
        assert_eq!(
            input(r#", "status": {"replicas": 3, "readyReplicas": 2}"#),
            Some(2)
        );
        // Kubernetes leaves a zero out.
        assert_eq!(input(r#", "status": {"replicas": 3}"#), Some(0));
        assert_eq!(input(""), None);
        // The platform's report, not configuration: unreadable is no report.
        assert_eq!(input(r#", "status": {"readyReplicas": -1}"#), None);
        assert_eq!(input(r#", "status": {"readyReplicas": "2"}"#), None);
    }

    #[test]
    fn v0_evaluate_input_and_metric_replicas() {
        let metric =
            r#"{"current_replicas": 2, "requests": {"GET_/test": {"avg_response_time": 4}}}"#;
        let stdin = serde_json::json!({
            "metrics": [{"deployment": "x", "value": metric}],
            "run_type": "scaler"
        })
        .to_string();
        let e = parse_evaluate_input(&stdin).unwrap();
        assert_eq!(e.current_replicas(), Some(2));
    }

    #[test]
    fn cpa_v0_10_input_is_answered_in_its_own_words() {
        // metric.ResourceMetrics of CPA v0.10.0, as encoding/json writes it.
        let metric = r#"{"current_replicas": 3, "requests": {"GET_/a": {"avg_response_time": 4}}}"#;
        let stdin = serde_json::json!({
            "resource": "fibonacci",
            "run_type": "api_dry_run",
            "metrics": [{"resource": "fibonacci", "value": metric}]
        })
        .to_string();
        let e = parse_evaluate_input(&stdin).unwrap();
        assert_eq!(e.version, CpaVersion::V0);
        assert_eq!(e.run_type, RunType::ApiDryRun);
        assert_eq!(e.resource.name.as_deref(), Some("fibonacci"));
        assert_eq!(e.current_replicas(), Some(3));
        assert_eq!(e.answer(4), r#"{"target_replicas":4}"#);
        let v2 = parse_evaluate_input(
            r#"{"metrics": [{"value": "{\"requests\": {}}"}], "resource": {"spec": {"replicas": 1}}, "runType": "scaler"}"#,
        )
        .unwrap();
        assert_eq!(v2.answer(4), r#"{"targetReplicas":4}"#);
        let both = parse_evaluate_input(
            r#"{"metrics": [{"value": "{\"requests\": {}}"}], "resource": {"spec": {"replicas": 1}}, "runType": "scaler", "run_type": "api_dry_run"}"#,
        )
        .unwrap();
        assert_eq!(
            (both.run_type, both.answer(4)),
            (RunType::Scaler, r#"{"targetReplicas":4}"#.to_string())
        );
    }

    #[test]
    fn several_metrics_combine_worst_latency_and_summed_counts() {
        let pod = |mean: f64, failed: u64| {
            serde_json::json!({"requests": {"GET_/a": {
                "num_requests": 100, "num_failures": failed, "avg_response_time": mean,
                "response_time_percentiles": {"p95": mean * 2.0}}}})
            .to_string()
        };
        let stdin = serde_json::json!({
            "metrics": [
                {"resource": "pod-1", "value": pod(50.0, 1)},
                {"resource": "pod-2", "value": pod(1.0, 2)},
                {"resource": "pod-3", "value": "{\"requests\": {\"GET_/b\": {\"num_requests\": 0}}}"}
            ],
            "resource": {"spec": {"replicas": 2}}
        })
        .to_string();
        let o = parse_evaluate_input(&stdin).unwrap().observation(0, 2);
        let a = &o.requests["GET_/a"];
        assert_eq!(a.avg_response_time, Some(50.0));
        assert_eq!(
            a.percentile(crate::config::Percent::new(95.0).unwrap()),
            Some(100.0)
        );
        assert_eq!((a.num_requests, a.num_failures), (Some(200), Some(3)));
        assert_eq!(o.requests["GET_/b"].num_requests, Some(0));
    }

    #[test]
    fn metric_input_v2_and_v0() {
        let v2 = r#"{"resource": {"kind": "Deployment", "metadata": {"name": "f", "namespace": "d"}, "spec": {"replicas": 2}}, "runType": "scaler"}"#;
        let m = parse_metric_input(v2).unwrap();
        assert_eq!(m.resource.replicas, Some(2));
        assert_eq!(m.resource.namespace.as_deref(), Some("d"));
        let v0 = r#"{"kind": "Deployment", "metadata": {"name": "f"}, "spec": {"replicas": 4}}"#;
        assert_eq!(parse_metric_input(v0).unwrap().resource.replicas, Some(4));
    }

    #[test]
    fn names_follow_kubernetes_rules() {
        let input = |kind: &str, name: &str, ns: &str| {
            serde_json::json!({"resource": {"kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": {"replicas": 2}}})
                .to_string()
        };
        assert!(parse_metric_input(&input("Pod", "web-7d4b9c-x2x9z", "shop")).is_ok());
        assert!(parse_metric_input(&input("Web-App", "web.v2", "shop")).is_ok());
        for (kind, name, ns, want) in [
            (
                "Deployment",
                "web",
                "shop/configmaps/x",
                "metric stdin: resource.metadata.namespace: invalid value \"shop/configmaps/x\"",
            ),
            (
                "Deployment",
                "web\u{1b}[31m",
                "shop",
                "metric stdin: resource.metadata.name: invalid value \"web\\u001b[31m\"",
            ),
            (
                "Deploy/ment",
                "web",
                "shop",
                "metric stdin: resource.kind: invalid value \"Deploy/ment\"",
            ),
        ] {
            let e = parse_metric_input(&input(kind, name, ns))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(want), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
        let v0 = r#"{"metrics": [{"value": "{\"requests\": {}}"}], "resource": "a b", "run_type": "scaler"}"#;
        let e = parse_evaluate_input(v0).unwrap_err().to_string();
        assert!(
            e.starts_with("evaluate stdin: resource: invalid value \"a b\""),
            "{e}"
        );
    }

    #[test]
    fn bad_inputs_are_named() {
        let e = parse_evaluate_input(r#"{"metrics": []}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("evaluate stdin: metrics: invalid value []"),
            "{e}"
        );
        let e = parse_evaluate_input(r#"{"metrics": [{"resource": "x", "value": "not json"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("evaluate stdin: metrics[0].value: not JSON"),
            "{e}"
        );
        let e = parse_evaluate_input("{").unwrap_err().to_string();
        assert!(e.starts_with("evaluate stdin: not JSON"), "{e}");
        let e = parse_evaluate_input(r#"{"metrics": [{"value": "{}"}], "runType": "x"}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "evaluate stdin: runType: invalid value \"x\" (expected scaler, api or api_dry_run)"
        );
        let e = parse_evaluate_input(r#"{"metrics": [{"value": "{\"requests\": {\"GET_/a\": {\"avg_response_time\": \"slow\"}}}"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("evaluate stdin: metrics[0].value: requests.GET_/a.avg_response_time: invalid value \"slow\" (expected a number)"),
            "{e}"
        );
        // Past int32 is what Kubernetes refuses, not a number below 0.
        for replicas in ["-1", "2147483648"] {
            let e = parse_evaluate_input(&format!(
                r#"{{"metrics": [{{"value": "{{}}"}}], "resource": {{"spec": {{"replicas": {replicas}}}}}}}"#
            ))
            .unwrap_err()
            .to_string();
            assert!(
                e.contains(&format!(
                    "resource.spec.replicas: invalid value {replicas} (expected a whole number from 0 to 2147483647, as Kubernetes' replicas)"
                )),
                "{e}"
            );
        }
    }

    /// Another producer's run record reads: unknown fields ignored, the
    /// known ones typed, the absent ones absent.
    #[test]
    fn a_run_record_of_another_producer_reads() {
        let m = parse_metric(
            "metric",
            r#"{"requests": {}, "run": {"driver": "k6", "users": 3, "vus_max": 9,
                "aggregate": {"total_rps": 2.5}}}"#,
        )
        .unwrap();
        let run = m.run.unwrap();
        assert_eq!(run.driver.as_deref(), Some("k6"));
        assert_eq!((run.users, run.exit_code), (Some(3), None));
        assert_eq!(run.aggregate.total_rps, Some(2.5));
        let m = parse_metric("metric", r#"{"requests": {}, "run": {}}"#).unwrap();
        assert_eq!(m.run, Some(RunInfo::default()));
        let e = parse_metric("metric", r#"{"requests": {}, "run": {"users": "many"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("metric: run.users: invalid value"), "{e}");
    }

    /// invokust's failures, in its spelling, read; and lpa writes `{}` for
    /// none, as invokust did, where tooling reads the field unchecked.
    #[test]
    fn invokust_failures_read_and_none_is_written_empty() {
        let m = parse_metric(
            "metric",
            r#"{"requests": {}, "failures": {"GET_/x": {"method": "GET", "name": "/x",
                "error": "500", "occurences": 2}}}"#,
        )
        .unwrap();
        assert_eq!(m.failures["GET_/x"].occurrences, 2);
        let none = serde_json::to_value(MetricReport::default()).unwrap();
        assert_eq!(none["failures"], serde_json::json!({}));
    }

    /// More failures entries for a request than it had requests, or than a
    /// u64 holds, are one error naming the request, not a panic or a
    /// wrapped count.
    #[test]
    fn invokust_failures_past_the_requests_are_an_error() {
        let metric = |a: u64, b: u64| {
            format!(
                r#"{{"requests": {{"GET_/x": {{"num_requests": 40}}}},
                "failures": {{"GET_/x_a": {{"method": "GET", "name": "/x", "error": "500", "occurences": {a}}},
                             "GET_/x_b": {{"method": "GET", "name": "/x", "error": "503", "occurences": {b}}}}}}}"#
            )
        };
        let e = |a, b| {
            parse_metric("metric", &metric(a, b))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            e(30, 30),
            "metric: failures: invalid value 60 occurrences for GET_/x (expected at most requests.GET_/x.num_requests, 40: Locust counts a failure as a request too)"
        );
        assert_eq!(
            e(u64::MAX, 5),
            "metric: failures: invalid value more than 18446744073709551615 occurrences for GET_/x (expected at most requests.GET_/x.num_requests, 40: Locust counts a failure as a request too)"
        );
        let m = parse_metric("metric", &metric(30, 10)).unwrap();
        assert_eq!(m.requests["GET_/x"].num_failures, Some(40));
    }

    /// A request without `num_failures` (invokust's) fails as often as its
    /// `failures` say; one with it (lpa's) as it says.
    #[test]
    fn invokust_failures_are_counted_where_num_failures_is_absent() {
        let m = parse_metric(
            "metric",
            r#"{"requests": {"GET_/x": {"num_requests": 10}, "GET_/y": {"num_requests": 10, "num_failures": 1}},
                "failures": {"GET_/x": {"method": "GET", "name": "/x", "error": "500", "occurences": 4},
                             "GET_/y": {"method": "GET", "name": "/y", "error": "500", "occurences": 9}}}"#,
        )
        .unwrap();
        assert_eq!(m.requests["GET_/x"].num_failures, Some(4));
        assert_eq!(m.requests["GET_/y"].num_failures, Some(1));
    }
}
