//! The image's CPA config and the manifests, checked without Docker or a
//! cluster: the fields CPA v2 needs are present and point at commands the
//! real binary has.

use std::fs;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::support::{lpa, stderr};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn yaml(rel: &str) -> Value {
    serde_yaml::from_str(&fs::read_to_string(root().join(rel)).unwrap()).unwrap()
}

/// Both hooks: shell type, `/lpa` entrypoint, a command the binary has, and a
/// timeout (CPA kills a hook without one almost at once).
#[test]
fn cpa_config_hooks_are_complete_and_exist_in_the_binary() {
    let cfg = yaml("deploy/cpa/config.yaml");
    assert_eq!(cfg["runMode"].as_str(), Some("per-resource"));
    for (hook, min_timeout_ms) in [("metric", 30_000), ("evaluate", 1_000)] {
        let h = &cfg[hook];
        assert_eq!(h["type"].as_str(), Some("shell"), "{hook}.type");
        let timeout = h["timeout"].as_u64().unwrap_or(0);
        assert!(timeout >= min_timeout_ms, "{hook}.timeout {timeout} ms");
        assert_eq!(
            h["shell"]["entrypoint"].as_str(),
            Some("/lpa"),
            "{hook}.shell.entrypoint"
        );
        let command: Vec<&str> = h["shell"]["command"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(command, [hook]);
        let out = lpa().args(&command).arg("--help").output().unwrap();
        assert!(out.status.success(), "lpa {hook} --help: {}", stderr(&out));
    }
    // The metric hook must outlive the default load test: 5 s run time plus
    // grace and start-up, with room to spare.
    assert!(cfg["metric"]["timeout"].as_u64().unwrap() > 5_000 * 4);
}

/// Every `config:` entry of the example CPA resource is a string (CPA's CRD
/// requires it) and a name lpa or CPA reads.
#[test]
fn custom_pod_autoscaler_example_uses_known_config_names() {
    let cpa = yaml("deploy/cpa/custompodautoscaler.yaml");
    assert_eq!(
        cpa["apiVersion"].as_str(),
        Some("custompodautoscaler.com/v1")
    );
    assert_eq!(cpa["kind"].as_str(), Some("CustomPodAutoscaler"));
    assert_eq!(
        cpa["spec"]["scaleTargetRef"]["kind"].as_str(),
        Some("Deployment")
    );
    let known = [
        // CPA's own options
        "interval",
        "minReplicas",
        "maxReplicas",
        "downscaleStabilization",
        "startTime",
        "namespace",
        "logVerbosity",
        // lpa's, the original autoscaler's names
        "locustHost",
        "locustUsers",
        "locustHatchRate",
        "locustSpawnRate",
        "locustRunTime",
        "locustFilePath",
        "evaluationConfigFilePath",
        "decayInfoFilePath",
        "loadDriver",
    ];
    for entry in cpa["spec"]["config"].as_sequence().unwrap() {
        let name = entry["name"].as_str().unwrap();
        assert!(known.contains(&name), "unknown config name {name}");
        assert!(
            entry["value"].is_string(),
            "config {name}: value must be a string"
        );
    }
}

/// The Dockerfile ships the checked config where CPA looks for it, and the
/// state directory the read-only root filesystem leaves writable.
#[test]
fn dockerfile_ships_the_config_and_a_writable_state_dir() {
    let text = fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(text.contains("COPY deploy/cpa/config.yaml /config.yaml"));
    assert!(text.contains("decayInfoFilePath=/var/lib/lpa/decay_info.json"));
    assert!(text.contains("USER 65532:65532"));
    for base in text
        .lines()
        .filter(|l| l.starts_with("ARG ") && l.contains("_IMAGE="))
    {
        let image = base.split_once('=').unwrap().1;
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(
            !tag.is_empty() && tag != "latest",
            "base image not pinned: {image}"
        );
    }
    let cpa = yaml("deploy/cpa/custompodautoscaler.yaml");
    let mounts = &cpa["spec"]["template"]["spec"]["containers"][0]["volumeMounts"];
    assert!(mounts
        .as_sequence()
        .unwrap()
        .iter()
        .any(|m| m["mountPath"].as_str() == Some("/var/lib/lpa")));
}

/// CPA's method keys: each may be a shell hook.
const CPA_METHODS: &[&str] = &[
    "metric",
    "evaluate",
    "preMetric",
    "postMetric",
    "preEvaluate",
    "postEvaluate",
    "preScale",
    "postScale",
];

/// Every `*.yaml` under `dir` (relative to the repository), sorted.
fn yaml_files(dir: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join(dir), &mut out);
    out.sort();
    out
}

fn documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// The shell hooks of one CPA config (`name` says where it came from), each
/// checked for `shell.logStderr: true`; returns how many there were.
fn check_shell_hooks_log_stderr(name: &str, config: &Value) -> usize {
    let mut hooks = 0;
    for key in CPA_METHODS {
        let method = &config[*key];
        if method["type"].as_str() != Some("shell") {
            continue;
        }
        hooks += 1;
        assert_eq!(
            method["shell"]["logStderr"].as_bool(),
            Some(true),
            "{name}: {key}.shell.logStderr must be true, or CPA drops lpa's decision lines"
        );
    }
    hooks
}

/// CPA v2 logs a successful shell hook's stderr only with `logStderr: true`
/// on the shell method (`config.Shell.LogStderr`, default false, in CPA's
/// `config/execute.go`); lpa's one-line reasons go there. Every CPA config
/// in the repository sets it on every shell hook: the image's config.yaml,
/// any other config.yaml, and hooks a CustomPodAutoscaler's `config:` list
/// overrides (CPA reads an env var named after the key as YAML).
#[test]
fn every_cpa_shell_hook_logs_its_stderr() {
    let image_hooks =
        check_shell_hooks_log_stderr("deploy/cpa/config.yaml", &yaml("deploy/cpa/config.yaml"));
    assert_eq!(
        image_hooks, 2,
        "deploy/cpa/config.yaml: metric and evaluate"
    );
    for dir in ["deploy", "examples"] {
        for path in yaml_files(dir) {
            let text = fs::read_to_string(&path).unwrap();
            let name = path.strip_prefix(root()).unwrap().display().to_string();
            for doc in documents(&text) {
                if path.file_name().is_some_and(|f| f == "config.yaml") {
                    check_shell_hooks_log_stderr(&name, &doc);
                }
                if doc["kind"].as_str() != Some("CustomPodAutoscaler") {
                    continue;
                }
                for entry in doc["spec"]["config"].as_sequence().unwrap() {
                    let key = entry["name"].as_str().unwrap();
                    assert_ne!(
                        key, "configPath",
                        "{name}: replaces the image's config.yaml"
                    );
                    if CPA_METHODS.contains(&key) {
                        let method: Value =
                            serde_yaml::from_str(entry["value"].as_str().unwrap()).unwrap();
                        let config = serde_yaml::Mapping::from_iter([(key.into(), method)]);
                        check_shell_hooks_log_stderr(&name, &Value::Mapping(config));
                    }
                }
            }
        }
    }
    // The example's autoscaler image is the lpa image plus two files: its
    // CPA config is the lpa image's /config.yaml, deploy/cpa/config.yaml.
    let example = fs::read_to_string(root().join("examples/fibonacci/Dockerfile")).unwrap();
    assert!(example.contains("ARG LPA_IMAGE=lpa:"), "{example}");
    assert!(example.contains("FROM ${LPA_IMAGE}"), "{example}");
    let replaces_config = example.contains("configPath")
        || example
            .split_whitespace()
            .any(|word| word == "config.yaml" || word.ends_with("/config.yaml"));
    assert!(
        !replaces_config,
        "the example's image must keep the lpa image's /config.yaml"
    );
}
