//! The image's CPA config and the manifests, checked without Docker or a
//! cluster: the fields CPA v2 needs are present and point at commands the
//! real binary has.

use std::fs;
use std::path::PathBuf;

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
