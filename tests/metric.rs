//! `lpa metric` (the CPA metric hook) through the real binary, and
//! `lpa metric | lpa evaluate` wrapped as CPA wraps it.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::load::{assert_rejected, Served};
use crate::support::{fixture, lpa, run_with_stdin, stderr, stdout};

fn config(dir: &std::path::Path, endpoint: &str, target_ms: u32) -> std::path::PathBuf {
    let path = dir.join("evaluation_config.yaml");
    std::fs::write(
        &path,
        format!(
            "targets:\n  - method: \"GET\"\n    endpoint: \"{endpoint}\"\n    type: \"mean\"\n    target: {target_ms}\ndecay:\n  replicas: 1\n  unchangedRuns: 3\n"
        ),
    )
    .unwrap();
    path
}

/// `lpa metric` as CPA runs it: env configuration, the stdin fixture.
fn metric(host: &str, config: &std::path::Path, stdin_fixture: &str) -> std::process::Output {
    let mut c = lpa();
    c.arg("metric")
        .env("locustHost", host)
        .env("locustUsers", "2")
        .env("locustHatchRate", "10")
        .env("locustRunTime", "1")
        .env("evaluationConfigFilePath", config);
    let stdin = std::fs::read_to_string(fixture(stdin_fixture)).unwrap();
    run_with_stdin(c, &stdin)
}

#[test]
fn metric_prints_only_the_metric_json_with_current_replicas() {
    let s = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "/delay?ms=5", 50);
    for (fixture, replicas) in [("cpa/metric-v2.json", 3), ("cpa/metric-v0.json", 4)] {
        let out = metric(&s.url, &cfg, fixture);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        assert_eq!(
            text.lines().count(),
            1,
            "stdout is only the metric JSON: {text}"
        );
        let m: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(m["current_replicas"], replicas, "{fixture}");
        let r = &m["requests"]["GET_/delay?ms=5"];
        assert!(r["num_requests"].as_u64().unwrap() > 0);
        assert!(r["avg_response_time"].as_f64().unwrap() >= 5.0);
        assert!(r["median_response_time"].as_f64().is_some());
        assert_eq!(m["run"]["users"], 2);
        assert_eq!(m["run"]["run_time"], "1s");
        assert!(stderr(&out).starts_with("lpa metric: "), "{}", stderr(&out));
    }
}

/// The metric hook, then the evaluate hook fed what CPA builds from it.
fn cycle(endpoint: &str, target_ms: u32) -> Value {
    let s = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), endpoint, target_ms);
    let out = metric(&s.url, &cfg, "cpa/metric-v2.json");
    assert!(out.status.success(), "{}", stderr(&out));
    let evaluate_stdin = json!({
        "metrics": [{"resource": "fibonacci", "value": stdout(&out)}],
        "resource": {"kind": "Deployment", "metadata": {"name": "fibonacci"}, "spec": {"replicas": 3}},
        "runType": "scaler"
    });
    let mut c = lpa();
    c.arg("evaluate")
        .env("evaluationConfigFilePath", &cfg)
        .env("decayInfoFilePath", dir.path().join("decay_info.json"));
    let out = run_with_stdin(c, &evaluate_stdin.to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn metric_then_evaluate_holds_a_fast_service_and_scales_up_a_slow_one() {
    // A target far above 1 ms: a few samples' mean is a stall's too.
    assert_eq!(cycle("/delay?ms=1", 500), json!({"targetReplicas": 3}));
    assert_eq!(cycle("/delay?ms=30", 10), json!({"targetReplicas": 4}));
}

#[test]
fn metric_ends_within_run_time_and_grace_on_a_hung_service() {
    let s = Served::start(&["--hang-max", "30s"]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "/hang", 50);
    let started = Instant::now();
    let out = metric(&s.url, &cfg, "cpa/metric-v2.json");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let m: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let r = &m["requests"]["GET_/hang"];
    assert_eq!(r["num_failures"], r["num_requests"]);
    assert!(r["avg_response_time"].as_f64().unwrap() >= 1000.0, "{m}");
}

#[test]
fn metric_bad_inputs_print_nothing_on_stdout() {
    let s = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "/", 50);
    let out = metric(&s.url, &cfg, "cpa/metric-bad.json");
    assert!(!out.status.success());
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("resource.spec.replicas: invalid value \"three\""),
        "{}",
        stderr(&out)
    );

    let stdin = std::fs::read_to_string(fixture("cpa/metric-v2.json")).unwrap();
    let with = |host: &str, users: &str| {
        let mut c = lpa();
        c.args(["metric", "--evaluation-config"])
            .arg(&cfg)
            .env("locustHost", host)
            .env("locustUsers", users)
            .env("locustRunTime", "1");
        c
    };
    for (host, users, want) in [
        (
            "http://127.0.0.1:1",
            "2",
            "cannot connect to http://127.0.0.1:1",
        ),
        (
            "not a url",
            "2",
            "host (--host or locustHost): invalid value",
        ),
        (
            s.url.as_str(),
            "0",
            "users (--users or locustUsers): invalid value \"0\"",
        ),
    ] {
        let out = run_with_stdin(with(host, users), &stdin);
        assert!(!out.status.success(), "{want}");
        assert_eq!(stdout(&out), "", "{want}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "want {want:?}, got {err}");
    }
    let _ = assert_rejected;
}

/// The seed guide's Dockerfile sets `locustHatchRate=10`; a CR that sets
/// `locustSpawnRate` (Locust's newer name, which lpa reads) to another
/// rate is asked to choose. Regression: locustHatchRate won in silence,
/// and the lpa image set it too, so a locustSpawnRate in the CR was never
/// used.
#[test]
fn spawn_rate_under_both_names_that_disagree_is_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "/", 50);
    let stdin = std::fs::read_to_string(fixture("cpa/metric-v2.json")).unwrap();
    let mut c = lpa();
    c.arg("metric")
        .env("locustHost", "http://127.0.0.1:1")
        .env("evaluationConfigFilePath", &cfg)
        .env("locustHatchRate", "10")
        .env("locustSpawnRate", "5");
    let out = run_with_stdin(c, &stdin);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "lpa: error: spawn rate (--spawn-rate, locustHatchRate or locustSpawnRate): locustHatchRate \"10\" and locustSpawnRate \"5\" disagree (set one of them: locustSpawnRate is Locust's newer name for locustHatchRate)\n"
    );

    // One name, or both agreeing, or the flag over both: no question.
    let check = |env: &[(&str, &str)], args: &[&str]| {
        let mut c = lpa();
        c.args(["check", "--json", "--evaluation-config"])
            .arg(&cfg)
            .args(args)
            .envs(env.iter().copied());
        let out = c.output().unwrap();
        assert!(out.status.success(), "{env:?}: {}", stderr(&out));
        let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
        v["effectiveLoad"]["spawnRate"].as_f64().unwrap()
    };
    assert_eq!(check(&[("locustSpawnRate", "5")], &[]), 5.0);
    assert_eq!(
        check(&[("locustHatchRate", "5"), ("locustSpawnRate", "5.0")], &[]),
        5.0
    );
    assert_eq!(
        check(
            &[("locustHatchRate", "10"), ("locustSpawnRate", "5")],
            &["--spawn-rate", "3"]
        ),
        3.0
    );
    // The flag wins when it equals locustHatchRate too. Regression: a flag
    // of the same value was taken for the env var, and the two names
    // disagreeing were an error though the flag settled it.
    assert_eq!(
        check(
            &[("locustHatchRate", "10"), ("locustSpawnRate", "5")],
            &["--spawn-rate", "10"]
        ),
        10.0
    );
}

/// CPA's per-pod run mode (its default when its config names none) hands
/// the metric hook each pod in turn, and each run probes the whole
/// service: the hook still measures, and says why that mode is the wrong
/// one; `lpa check` says so of a CPA config that leaves it per-pod.
#[test]
fn per_pod_mode_is_measured_with_a_warning() {
    let s = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "/delay?ms=5", 50);
    let out = metric(&s.url, &cfg, "cpa/metric-per-pod.json");
    assert!(out.status.success(), "{}", stderr(&out));
    let m: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        m["requests"]["GET_/delay?ms=5"]["num_requests"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(
        stderr(&out).contains("lpa metric: warning: fibonacci-7d4b9c-x2k8p: CPA runs this hook once per pod (runMode per-pod, CPA's default when its config sets none)"),
        "{}",
        stderr(&out)
    );
    let cpa_config = dir.path().join("config.yaml");
    let check = |cpa: &str| {
        std::fs::write(&cpa_config, cpa).unwrap();
        let out = lpa()
            .args(["check", "--evaluation-config"])
            .arg(&cfg)
            .env("configPath", &cpa_config)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out).contains("lpa check: warning: CPA runs this hook once per pod")
    };
    assert!(check("interval: 15000\n"));
    assert!(check("runMode: per-pod\n"));
    // The image's.
    let image = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/cpa/config.yaml");
    assert!(!check(&std::fs::read_to_string(image).unwrap()));
}

/// A CPA metric timeout within the run time kills every run before it
/// answers, and CPA logs only "timed out" (it drops the hook's stderr on
/// a timeout): the hook says so at once, as one error CPA logs, before
/// its run. One only a hung service would reach still runs.
#[test]
fn a_cpa_metric_timeout_within_the_run_time_is_one_error_before_any_request() {
    let s = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "/delay?ms=5", 50);
    let cpa = dir.path().join("config.yaml");
    for (timeout, refused) in [(900, true), (1500, false)] {
        std::fs::write(
            &cpa,
            format!("metric: {{type: shell, timeout: {timeout}, shell: {{entrypoint: /lpa, command: [metric]}}}}\nrunMode: per-resource\n"),
        )
        .unwrap();
        let mut c = lpa();
        c.arg("metric")
            .env("locustHost", &s.url)
            .env("locustUsers", "1")
            .env("locustRunTime", "1")
            .env("evaluationConfigFilePath", &cfg)
            .env("configPath", &cpa);
        let stdin = std::fs::read_to_string(fixture("cpa/metric-v2.json")).unwrap();
        let out = run_with_stdin(c, &stdin);
        assert_eq!(out.status.success(), !refused, "{}", stderr(&out));
        if refused {
            assert_eq!(stdout(&out), "");
            assert_eq!(
                stderr(&out),
                format!("lpa: error: CPA's metric method ({}) timeout 900 ms is within the load test's run time 1s: CPA kills this hook before it answers, every interval, and scales nothing; set the timeout a few seconds above 2000 ms, or shorten the run time (locustRunTime, --run-time or load.runTime)\n", cpa.display())
            );
        }
    }
}
