//! Wire formats: the CPA hook stdin (v2 and the v0 shapes the original was
//! built for), the metric JSON (invokust field names) and the evaluate answer.
//! All pure `&str -> Result` functions; the binary does the reading.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decide::Observation;
use crate::stats::RequestStats;

/// CPA's `runType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WireError {
    #[error("{what}: not JSON: {message}")]
    NotJson { what: String, message: String },
    #[error("{what}: {field}: invalid value {value} (expected {expected})")]
    Invalid {
        what: String,
        field: String,
        value: String,
        expected: String,
    },
    #[error("{what}: {field}: missing (expected {expected})")]
    Missing {
        what: String,
        field: String,
        expected: String,
    },
}

/// The scaled resource as CPA passes it: only what lpa reads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resource {
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    /// `spec.replicas`, if present.
    pub replicas: Option<u32>,
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
    pub metrics: Vec<MetricReport>,
}

impl EvaluateInput {
    /// Current replicas: the resource's `spec.replicas` (fresher), else the
    /// metric's `current_replicas`.
    pub fn current_replicas(&self) -> Option<u32> {
        self.resource
            .replicas
            .or_else(|| self.metrics.iter().find_map(|m| m.current_replicas))
    }

    /// All metrics' requests merged into one observation at `at_secs`.
    pub fn observation(&self, at_secs: u64, current_replicas: u32) -> Observation {
        let mut requests = BTreeMap::new();
        for m in &self.metrics {
            for (k, v) in &m.requests {
                requests.insert(k.clone(), v.clone());
            }
        }
        Observation {
            at_secs,
            current_replicas,
            requests,
        }
    }
}

/// The metric JSON: invokust's shape plus lpa's additions. Unknown fields are
/// kept out of the way (ignored) so other producers' output still reads.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MetricReport {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_replicas: Option<u32>,
    #[serde(default)]
    pub requests: BTreeMap<String, RequestStats>,
    /// Failure kinds, keyed `"{METHOD}_{name}: {error}"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failures: BTreeMap<String, FailureStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_requests: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_requests_fail: Option<u64>,
    /// How the load test ran (driver, users, run time, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FailureStats {
    pub method: String,
    pub name: String,
    pub error: String,
    pub occurrences: u64,
}

/// The evaluate answer CPA v2 reads: exactly `{"targetReplicas": N}`.
pub fn evaluate_answer(replicas: u32) -> String {
    // CPA parses into an int32: never print more than i32::MAX.
    let n = replicas.min(i32::MAX as u32);
    format!("{{\"targetReplicas\":{n}}}")
}

fn not_json(what: &str, e: serde_json::Error) -> WireError {
    WireError::NotJson {
        what: what.to_string(),
        message: e.to_string(),
    }
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}...", s.chars().take(77).collect::<String>())
    } else {
        s
    }
}

/// Parses a metric JSON value (a metric hook's stdout).
pub fn parse_metric(what: &str, text: &str) -> Result<MetricReport, WireError> {
    let v: Value = serde_json::from_str(text).map_err(|e| not_json(what, e))?;
    metric_from_value(what, v)
}

fn metric_from_value(what: &str, v: Value) -> Result<MetricReport, WireError> {
    if !v.is_object() {
        return Err(WireError::Invalid {
            what: what.to_string(),
            field: "(top level)".into(),
            value: show(&v),
            expected: "a JSON object with \"requests\"".into(),
        });
    }
    if v.get("requests").is_none() {
        return Err(WireError::Missing {
            what: what.to_string(),
            field: "requests".into(),
            expected: "an object of request statistics keyed METHOD_name".into(),
        });
    }
    serde_json::from_value(v).map_err(|e| WireError::Invalid {
        what: what.to_string(),
        field: "requests".into(),
        value: e.to_string(),
        expected: "invokust request statistics (num_requests, avg_response_time, ... in ms)".into(),
    })
}

/// Parses the metric hook's stdin: CPA v2 `{"resource": ..., "runType": ...}`
/// or v0's bare resource.
pub fn parse_metric_input(text: &str) -> Result<MetricInput, WireError> {
    const WHAT: &str = "metric stdin";
    let v: Value = serde_json::from_str(text).map_err(|e| not_json(WHAT, e))?;
    let obj = v.as_object().ok_or_else(|| WireError::Invalid {
        what: WHAT.into(),
        field: "(top level)".into(),
        value: show(&v),
        expected: "a JSON object".into(),
    })?;
    let run_type = run_type(WHAT, obj)?;
    let resource = match obj.get("resource") {
        Some(r) if r.is_object() => resource(WHAT, "resource", r)?,
        // v0: the resource itself.
        _ => resource(WHAT, "(top level)", &v)?,
    };
    Ok(MetricInput { resource, run_type })
}

/// Parses the evaluate hook's stdin (v2, or v0 with `run_type` and
/// `deployment` in place of `resource`).
pub fn parse_evaluate_input(text: &str) -> Result<EvaluateInput, WireError> {
    const WHAT: &str = "evaluate stdin";
    let v: Value = serde_json::from_str(text).map_err(|e| not_json(WHAT, e))?;
    let obj = v.as_object().ok_or_else(|| WireError::Invalid {
        what: WHAT.into(),
        field: "(top level)".into(),
        value: show(&v),
        expected: "a JSON object with \"metrics\"".into(),
    })?;
    let run_type = run_type(WHAT, obj)?;
    let resource = match obj.get("resource").or_else(|| obj.get("deployment")) {
        Some(r) => resource(WHAT, "resource", r)?,
        None => Resource::default(),
    };
    let metrics_v = obj.get("metrics").ok_or_else(|| WireError::Missing {
        what: WHAT.into(),
        field: "metrics".into(),
        expected: "a list of {\"resource\", \"value\"} from the metric hook".into(),
    })?;
    let list = metrics_v.as_array().ok_or_else(|| WireError::Invalid {
        what: WHAT.into(),
        field: "metrics".into(),
        value: show(metrics_v),
        expected: "a list of {\"resource\", \"value\"}".into(),
    })?;
    if list.is_empty() {
        return Err(WireError::Invalid {
            what: WHAT.into(),
            field: "metrics".into(),
            value: "[]".into(),
            expected: "at least one metric (did the metric hook print anything?)".into(),
        });
    }
    let mut metrics = Vec::with_capacity(list.len());
    for (i, m) in list.iter().enumerate() {
        let field = format!("metrics[{i}].value");
        let value = m.get("value").ok_or_else(|| WireError::Missing {
            what: WHAT.into(),
            field: field.clone(),
            expected: "the metric hook's JSON output as a string".into(),
        })?;
        let report = match value {
            Value::String(s) => {
                let inner = format!("{WHAT}: {field}");
                parse_metric(&inner, s)?
            }
            // Lenient: a producer that embedded the object itself.
            Value::Object(_) => metric_from_value(&format!("{WHAT}: {field}"), value.clone())?,
            other => {
                return Err(WireError::Invalid {
                    what: WHAT.into(),
                    field,
                    value: show(other),
                    expected: "the metric hook's JSON output as a string".into(),
                })
            }
        };
        metrics.push(report);
    }
    Ok(EvaluateInput {
        resource,
        run_type,
        metrics,
    })
}

fn run_type(what: &str, obj: &serde_json::Map<String, Value>) -> Result<RunType, WireError> {
    match obj.get("runType").or_else(|| obj.get("run_type")) {
        None | Some(Value::Null) => Ok(RunType::Scaler),
        Some(v) => v
            .as_str()
            .and_then(RunType::parse)
            .ok_or_else(|| WireError::Invalid {
                what: what.into(),
                field: "runType".into(),
                value: show(v),
                expected: "scaler, api or api_dry_run".into(),
            }),
    }
}

fn resource(what: &str, field: &str, v: &Value) -> Result<Resource, WireError> {
    if !v.is_object() {
        return Err(WireError::Invalid {
            what: what.into(),
            field: field.into(),
            value: show(v),
            expected: "a Kubernetes resource object".into(),
        });
    }
    let replicas = match v.pointer("/spec/replicas") {
        None | Some(Value::Null) => None,
        Some(r) => Some(
            r.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n <= i32::MAX as u32)
                .ok_or_else(|| WireError::Invalid {
                    what: what.into(),
                    field: format!("{field}.spec.replicas"),
                    value: show(r),
                    expected: "a whole number >= 0".into(),
                })?,
        ),
    };
    let text = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    Ok(Resource {
        kind: text("/kind"),
        name: text("/metadata/name"),
        namespace: text("/metadata/namespace"),
        replicas,
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
    fn metric_input_v2_and_v0() {
        let v2 = r#"{"resource": {"kind": "Deployment", "metadata": {"name": "f", "namespace": "d"}, "spec": {"replicas": 2}}, "runType": "scaler"}"#;
        let m = parse_metric_input(v2).unwrap();
        assert_eq!(m.resource.replicas, Some(2));
        assert_eq!(m.resource.namespace.as_deref(), Some("d"));
        let v0 = r#"{"kind": "Deployment", "metadata": {"name": "f"}, "spec": {"replicas": 4}}"#;
        assert_eq!(parse_metric_input(v0).unwrap().resource.replicas, Some(4));
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
            e.starts_with("evaluate stdin: metrics[0].value: requests: invalid value"),
            "{e}"
        );
        let e = parse_evaluate_input(
            r#"{"metrics": [{"value": "{}"}], "resource": {"spec": {"replicas": -1}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("resource.spec.replicas: invalid value -1"),
            "{e}"
        );
    }
}
