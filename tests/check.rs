//! `lpa check`: the effective policy and load settings, and their errors.

use crate::support::{fixture, lpa, stderr, stdout, written};

#[test]
fn seed_config_shows_defaults_filled_in() {
    let out = lpa()
        .args(["check", "--evaluation-config"])
        .arg(fixture("evaluation/seed.yaml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_yaml::Value = serde_yaml::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["targets"][0]["type"].as_str(), Some("mean"));
    assert_eq!(doc["decay"]["unchangedRuns"].as_u64(), Some(3));
    assert_eq!(doc["minReplicas"].as_u64(), Some(1));
    assert_eq!(doc["scaleUp"]["mode"].as_str(), Some("step"));
    assert_eq!(doc["effectiveLoad"]["users"].as_u64(), Some(10));
    assert_eq!(doc["effectiveLoad"]["runTime"].as_str(), Some("5s"));
    assert_eq!(
        doc["effectiveLoad"]["requests"][0]["path"].as_str(),
        Some("/fibonacci?n=10")
    );
    assert!(doc["effectiveLoad"]["host"].is_null());
    assert!(stderr(&out).contains("no host set"), "{}", stderr(&out));
}

#[test]
fn env_settings_of_the_original_are_applied_and_validated() {
    let out = lpa()
        .args(["check", "--json", "--evaluation-config"])
        .arg(fixture("evaluation/seed.yaml"))
        .env("locustHost", "http://fibonacci:5000")
        .env("locustUsers", "25")
        .env("locustSpawnRate", "5")
        .env("locustRunTime", "1m")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let load = &doc["effectiveLoad"];
    assert_eq!(load["host"], "http://fibonacci:5000");
    assert_eq!(load["users"], 25);
    assert_eq!(load["spawnRate"], 5.0);
    assert_eq!(load["runTime"], "60s");

    for (var, value, expected) in [
        ("locustUsers", "0", "locustUsers"),
        ("locustRunTime", "-5", "locustRunTime"),
        ("locustHatchRate", "0", "locustHatchRate"),
        ("locustHost", "fibonacci:5000", "locustHost"),
    ] {
        let out = lpa()
            .args(["check", "--evaluation-config"])
            .arg(fixture("evaluation/seed.yaml"))
            .env(var, value)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{var}={value}: {err}");
        assert_eq!(stdout(&out), "", "{var}={value}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(expected) && err.contains(value),
            "{var}={value}: {err}"
        );
    }
}

#[test]
fn bad_config_is_one_line() {
    let out = lpa()
        .args(["check", "--evaluation-config"])
        .arg(fixture("evaluation/bad/unknown-type.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out).trim_end(),
        format!(
            "lpa: error: {}: targets[0].type: invalid value \"p1000\" (expected mean, median, min, max, a percentile pNN such as p95 or p99.9, or errorRate)",
            fixture("evaluation/bad/unknown-type.yaml").display()
        )
    );
}

/// An endpoint without its leading `/` would be sent to port 80 of the
/// host's name, and an unknown method fails every request: both are
/// refused when the config is read, naming the file, field and value.
#[test]
fn endpoint_without_slash_and_unknown_method_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (body, want) in [
        (
            "targets:\n  - {method: GET, endpoint: \"fibonacci?n=10\", type: mean, target: 7}\n",
            "targets[0].endpoint: invalid value \"fibonacci?n=10\" (expected a path starting with /, such as /fibonacci?n=10 (the host goes in locustHost))",
        ),
        (
            "targets:\n  - {method: GTE, endpoint: /fibonacci?n=10, type: mean, target: 7}\n",
            "targets[0].method: invalid value \"GTE\" (expected an HTTP method: GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS)",
        ),
        (
            "targets:\n  - {endpoint: /a, type: mean, target: 7}\nload: {requests: [{method: GTE, path: /a}]}\n",
            "load.requests[0].method: invalid value \"GTE\"",
        ),
    ] {
        let file = dir.path().join("eval.yaml");
        std::fs::write(&file, body).unwrap();
        let out = lpa()
            .args(["check", "--evaluation-config"])
            .arg(&file)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(stdout(&out), "");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(&format!("lpa: error: {}: ", file.display())) && err.contains(want),
            "want {want}: {err}"
        );
    }
}

/// Every default is shown, an unset maxReplicas too: as unbounded, right
/// after minReplicas, with a note on CPA's own bound; a set one as its value.
#[test]
fn unset_max_replicas_is_shown_as_unbounded() {
    let out = lpa()
        .args(["check", "--evaluation-config"])
        .arg(fixture("evaluation/seed.yaml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("minReplicas: 1\nmaxReplicas: unbounded\n"),
        "{text}"
    );
    assert!(
        stderr(&out).contains("CPA's own maxReplicas"),
        "{}",
        stderr(&out)
    );
    for (flag, expected) in [
        ("--max-replicas=5", serde_json::json!(5)),
        ("--min-replicas=1", serde_json::json!("unbounded")),
    ] {
        let out = lpa()
            .args(["check", "--json", flag, "--evaluation-config"])
            .arg(fixture("evaluation/seed.yaml"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(doc["maxReplicas"], expected, "{flag}");
    }
}

/// Under CPA (its config file read), check prints the policy the evaluate
/// hook applies: CPA's minReplicas and maxReplicas over the evaluation
/// config's, and CPA's default maxReplicas, 10, where neither its file nor
/// its env sets one, with the evaluate hook's warning. Without the file,
/// the evaluation config's bounds stand.
#[test]
fn check_bounds_the_policy_as_cpa_does() {
    let dir = tempfile::tempdir().unwrap();
    let config = written(
        &dir,
        "max20.yaml",
        "targets:\n  - {method: GET, endpoint: /x, type: mean, target: 7}\nmaxReplicas: 20\n",
    );
    let bounded = written(
        &dir,
        "bounded.yaml",
        "runMode: per-resource\nminReplicas: 2\nmaxReplicas: 5\n",
    );
    let unbounded = written(
        &dir,
        "unbounded.yaml",
        "runMode: per-resource\ninterval: 15000\n",
    );
    let absent = dir.path().join("absent.yaml");
    // Go's JSON sets a field from a key of its name in any case, the
    // greatest of several (sigs.k8s.io/yaml sorts them); a key written
    // twice is its last value. lpa read the exact names alone, and the
    // file as no YAML at all for the duplicate.
    let folded = written(
        &dir,
        "folded.yaml",
        "RunMode: per-resource\nMinReplicas: 3\nminreplicas: 2\nMAXREPLICAS: 9\nmaxReplicas: 4\nmaxReplicas: 6\n",
    );
    // A null leaves a number as it was (Go's JSON into an int32).
    let nulled = written(
        &dir,
        "nulled.yaml",
        "runMode: per-resource\nmaxReplicas: 5\nmaxreplicas: null\n",
    );
    // CPA clamps to a negative maxReplicas, which Kubernetes refuses.
    let negative = written(
        &dir,
        "negative.yaml",
        "runMode: per-resource\nmaxReplicas: -1\n",
    );
    // goyaml.v2 resolves `!!` tags as YAML 1.1: serde_yaml refused the
    // file, and lpa read its bounds from the env alone.
    let tagged = written(
        &dir,
        "tagged.yaml",
        "runMode: per-resource\nminReplicas: !!int 02\nmaxReplicas: !!float 1_2\nrequireKubernetesMetrics: !!bool yes\n",
    );
    for (cpa, env, bounds, warning) in [
        (&bounded, None, (2, 5), None),
        (&tagged, None, (2, 12), None),
        (
            &negative,
            None,
            (1, 20),
            Some("negative.yaml: maxReplicas: -1 is below 0: CPA asks for -1 replicas every interval, which Kubernetes refuses, and never scales"),
        ),
        (&bounded, Some("7"), (2, 7), None),
        (&folded, None, (2, 6), None),
        (&nulled, None, (1, 5), None),
        // CPA reads its env's int32s as YAML 1.1: octal 017, hex 0x5.
        (&bounded, Some("017"), (2, 15), None),
        (&bounded, Some("0x8"), (2, 8), None),
        (
            &unbounded,
            None,
            (1, 10),
            Some("max20.yaml: maxReplicas: 20 is above CPA's maxReplicas, 10"),
        ),
        (
            &absent,
            None,
            (1, 20),
            Some("cannot read CPA's config (configPath)"),
        ),
    ] {
        let mut cmd = lpa();
        cmd.args(["check", "--json", "--evaluation-config"])
            .arg(&config)
            .env("configPath", cpa);
        if let Some(max) = env {
            cmd.env("maxReplicas", max);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let seen = (doc["minReplicas"].as_u64(), doc["maxReplicas"].as_u64());
        assert_eq!(seen, (Some(bounds.0), Some(bounds.1)), "{cpa:?} {env:?}");
        let err = stderr(&out);
        let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
        match warning {
            None => assert_eq!(warnings, Vec::<&str>::new(), "{cpa:?}"),
            Some(w) => {
                assert_eq!(warnings.len(), 1, "{err}");
                assert!(warnings[0].contains(w), "{err}");
            }
        }
    }
    // More of goyaml.v2's reading: an integer before a float under
    // !!float, verbatim tags, tags on mappings ignored, a Latin-1 string
    // in JSON (Go's encoding/json takes it), UTF-16 with its mark; and
    // the env's !! tags.
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            "runMode: per-resource\nmaxReplicas: 7\n"
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    for (name, bytes, env, max) in [
        ("f017.yaml", b"runMode: per-resource\nmaxReplicas: !!float 017\n".to_vec(), None, 15),
        ("verbatim.yaml", b"runMode: per-resource\nmaxReplicas: !<tag:yaml.org,2002:int> 017\n".to_vec(), None, 15),
        ("mapped.yaml", b"runMode: per-resource\nmaxReplicas: 7\nrequireKubernetesMetrics: !!bool yes\nscaleTargetRef: !!str {name: web}\n".to_vec(), None, 7),
        ("latin1.json", b"{\"runMode\":\"per-resource\",\"maxReplicas\":7,\"namespace\":\"caf\xe9\"}".to_vec(), None, 7),
        ("utf16.yaml", utf16, None, 7),
        ("binary.yaml", b"runMode: !!binary cGVyLXJlc291cmNl\n!!binary bWF4UmVwbGljYXM=: 3\n".to_vec(), None, 3),
        ("seq.yaml", b"runMode: !!seq per-resource\nmaxReplicas: 3\nnote: !!timestamp 2024-01-01\n".to_vec(), None, 3),
        ("plain.yaml", b"runMode: per-resource\n".to_vec(), Some("!!int 017"), 15),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let mut cmd = lpa();
        cmd.args(["check", "--json", "--evaluation-config"])
            .arg(&config)
            .env("configPath", &path);
        if let Some(max) = env {
            cmd.env("maxReplicas", max);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(doc["maxReplicas"], max, "{name}: {}", stderr(&out));
        assert!(!stderr(&out).contains("warning"), "{name}: {}", stderr(&out));
    }
    // A tag goyaml.v2 refuses too stops CPA: said, as a file lpa cannot
    // read, whose bounds it takes from the env alone.
    let refused = written(
        &dir,
        "refused.yaml",
        "runMode: per-resource\nmaxReplicas: !!int 5.0\n",
    );
    let said = said_by_check(
        &config,
        &[("configPath", refused.to_str().unwrap())],
        "refused.yaml: ",
    );
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].ends_with("refused.yaml: CPA's config is not YAML (cannot decode 5.0 as a !!int): if Go's YAML cannot read it either, CPA stops at start-up with \"invalid format of YAML/JSON configuration\"; lpa reads its minReplicas, maxReplicas and downscaleStabilization from the env alone"),
        "{said:?}"
    );
    // In the env, CPA decodes into a zero: a null maxReplicas is 0, which
    // would scale the workload to 0, and is refused; a null minReplicas is
    // 0 (read as 1, said); of the env's text, Go reads the first document.
    let checked = |flags: &[&str], env: (&str, &str)| {
        lpa()
            .arg("check")
            .args(flags)
            .arg("--evaluation-config")
            .arg(&config)
            .env("configPath", &bounded)
            .env(env.0, env.1)
            .output()
            .unwrap()
    };
    // Blank is null to Go as well.
    for null in ["~", " ", "\n"] {
        let out = checked(&[], ("maxReplicas", null));
        assert_eq!(
            stderr(&out),
            format!("lpa: error: max replicas (--max-replicas or maxReplicas): invalid value {null:?} (null, which CPA decodes as 0 and so scales the workload to 0; expected a whole number from 1)\n")
        );
    }
    let out = checked(&["--json"], ("minReplicas", "# two\n---\n2"));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["minReplicas"], 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(r##"lpa check: warning: CPA's env var minReplicas="# two\n---\n2" is null, which CPA decodes as 0, not as its default"##),
        "{}",
        stderr(&out)
    );
    // The flag, decimal, over the env's YAML: 010 is ten.
    let out = checked(&["--json", "--max-replicas", "010"], ("maxReplicas", "017"));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["maxReplicas"], 10, "{}", stderr(&out));
    // With no maxReplicas anywhere, the 10 printed is CPA's default: said.
    let seed = fixture("evaluation/seed.yaml");
    let out = lpa()
        .args(["check", "--json", "--evaluation-config"])
        .arg(&seed)
        .env("configPath", &unbounded)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["maxReplicas"], 10);
    assert!(
        stderr(&out).contains("lpa check: note: maxReplicas 10 is CPA's default: neither the evaluation config nor CPA's config or env sets one\n"),
        "{}",
        stderr(&out)
    );
}

/// The lines of a successful `lpa check` of `config` under `env` that
/// hold `text`.
fn said_by_check(config: &std::path::Path, env: &[(&str, &str)], text: &str) -> Vec<String> {
    let out = lpa()
        .args(["check", "--evaluation-config"])
        .arg(config)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stderr(&out)
        .lines()
        .filter(|l| l.contains(text))
        .map(str::to_string)
        .collect()
}

/// The seed guide's image sets locustUsers, locustRunTime and
/// locustHatchRate: over a config's `load:` section they are a note each,
/// where they replaced it without a word. The same values are no note.
#[test]
fn settings_that_replace_the_configs_load_section_are_noted() {
    let dir = tempfile::tempdir().unwrap();
    let config = written(
        &dir,
        "load.yaml",
        "targets: [{method: GET, endpoint: /x, type: mean, target: 7}]\nload: {users: 4, runTime: 3s, spawnRate: 2}\n",
    );
    let notes = |env: &[(&str, &str)]| {
        said_by_check(&config, env, "replaces the evaluation config's load.")
    };
    assert_eq!(
        notes(&[
            ("locustUsers", "10"),
            ("locustRunTime", "5"),
            ("locustHatchRate", "10")
        ]),
        [
            "lpa check: note: --users (locustUsers) 10 replaces the evaluation config's load.users 4",
            "lpa check: note: --spawn-rate (locustHatchRate, locustSpawnRate) 10 replaces the evaluation config's load.spawnRate 2",
            "lpa check: note: --run-time (locustRunTime) 5s replaces the evaluation config's load.runTime 3s",
        ]
    );
    assert_eq!(
        notes(&[("locustUsers", "4"), ("locustRunTime", "3s")]),
        Vec::<String>::new()
    );
}

/// A path holding a newline is printed with it escaped: the error stays
/// the one line a log reader takes for one message.
#[test]
fn an_error_naming_a_path_with_a_newline_is_one_line() {
    let out = lpa()
        .args(["check", "--evaluation-config", "/nonexistent-lpa/a\nb.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("lpa: error: /nonexistent-lpa/a\\nb.yaml: "),
        "{err}"
    );
}

/// CPA kills a metric hook that runs past its `metric.timeout`, and has
/// no metric: a load test that long is a warning, as is one that fills
/// CPA's interval, from its config file or its env as CPA reads them.
#[test]
fn a_probe_longer_than_cpas_metric_timeout_or_interval_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let cpa = written(
        &dir,
        "config.yaml",
        "runMode: per-resource\ninterval: 10000\nmetric:\n  type: shell\n  timeout: 7000\n  shell: {entrypoint: /bin/sh, command: [-c, lpa metric]}\n",
    );
    // What check warns of with CPA's file `cpa` and `env`.
    let warned = |cpa: &std::path::Path, env: &[(&str, &str)]| {
        let cpa = [("configPath", cpa.to_str().unwrap())];
        said_by_check(
            &fixture("evaluation/seed.yaml"),
            &[&cpa[..], env].concat(),
            "lpa check: warning: ",
        )
    };
    let warnings = |env: &[(&str, &str)]| warned(&cpa, env);
    let timeout = format!(
        "CPA's metric method ({}) timeout 7000 ms is within the load test's 6s, its 1s grace: the metric hook does not answer, and CPA scales nothing; set its timeout a few seconds above 7000 ms, or shorten the run time (locustRunTime, --run-time or load.runTime)",
        cpa.display()
    );
    let interval = "the load test runs 12s of every 10000 ms interval of CPA's";
    // The guide's 5 s: 6 s with the grace, within 7 s.
    assert_eq!(warnings(&[("locustRunTime", "5")]), Vec::<String>::new());
    let w = warnings(&[("locustRunTime", "6")]);
    assert!(w.len() == 1 && w[0].contains(&timeout), "{w:?}");
    let w = warnings(&[("locustRunTime", "12")]);
    assert!(w.len() == 2 && w[1].contains(interval), "{w:?}");
    // CPA's env over its file, as CPA reads them.
    let w = warnings(&[
        ("locustRunTime", "12"),
        ("interval", "20000"),
        ("metric", r#"{"type": "shell", "timeout": 30000}"#),
    ]);
    assert_eq!(w, Vec::<String>::new());
    // The env's timeout is named as the env's, where the file was blamed;
    // a method without one is killed as it starts (CPA's time.After(0)).
    let w = warnings(&[("metric", r#"{"type": "shell", "timeout": 3000}"#)]);
    assert!(
        w.len() == 1 && w[0].contains("CPA's metric method (the env var metric) timeout 3000 ms"),
        "{w:?}"
    );
    let w = warnings(&[("metric", "type: shell")]);
    assert!(
        w.len() == 1
            && w[0].contains(
                "(the env var metric) sets no timeout (0 ms), and CPA kills the hook as it starts"
            ),
        "{w:?}"
    );
    // Go reads a value that starts with { as JSON: YAML's flow mapping
    // is refused, where lpa read it and warned of its timeout.
    assert_eq!(
        warnings(&[("metric", "{type: shell, timeout: 3000}")]),
        [
            r#"lpa check: warning: CPA's env var metric="{type: shell, timeout: 3000}" starts with { and is not JSON, as Go reads it: CPA stops at start-up with "invalid format of YAML/JSON field value""#
        ]
    );
    // A value CPA refuses, CPA does not start with: said, not read as
    // unset (no timeout warning).
    let w = warnings(&[("metric", "[3000]"), ("interval", "15s")]);
    assert_eq!(
        w,
        [
            r#"lpa check: warning: CPA's env var interval="15s" is not an integer: CPA stops at start-up with "invalid format of integer field value""#,
            r#"lpa check: warning: CPA's env var metric="[3000]" is not a YAML or JSON mapping: CPA stops at start-up with "invalid format of YAML/JSON field value""#,
        ]
    );
    // So is a method whose timeout Go cannot decode into an int; null is
    // Go's unset, and no error.
    let w = warnings(&[
        ("metric", r#"{"type":"shell","timeout":"12000"}"#),
        ("preMetric", "null"),
        ("postMetric", ""),
        ("preScale", "---"),
        ("postScale", "  "),
    ]);
    // An empty value is no document to Go's decoder (EOF); spaces, or
    // `---` alone, are one, of null (Go's line reader ends each line with
    // a newline, and `---` then is the document's first line).
    assert_eq!(
        w,
        [
            r#"lpa check: warning: CPA's env var postMetric="" holds no YAML document (Go's decoder answers EOF): CPA stops at start-up with "invalid format of YAML/JSON field value""#,
            r#"lpa check: warning: CPA's env var metric="{\"type\":\"shell\",\"timeout\":\"12000\"}" has a timeout that is not a whole number of milliseconds: CPA stops at start-up with "invalid format of YAML/JSON field value""#,
        ]
    );
    // A whole float is Go's YAML's whole number: a timeout, not none; its
    // JSON's is refused.
    let w = warnings(&[("metric", "type: shell\ntimeout: 3.0e3")]);
    assert!(
        w.len() == 1 && w[0].contains("(the env var metric) timeout 3000 ms"),
        "{w:?}"
    );
    let w = warnings(&[("metric", r#"{"type": "shell", "timeout": 3000.0}"#)]);
    assert!(
        w.len() == 1 && w[0].contains("has a timeout that is not a whole number"),
        "{w:?}"
    );
    // The same in CPA's file stops CPA too, where lpa read it as no
    // timeout and advised setting one.
    let bad = written(
        &dir,
        "bad.yaml",
        "interval: 15000.5\nMaxReplicas: 99999999999\nmaxReplicas: 5\ndownscaleStabilization: \"30\"\nmetric:\n  type: shell\n  timeout: 3000.5\n",
    );
    let w = warned(&bad, &[]);
    let stops = r#"CPA stops at start-up with "invalid format of YAML/JSON configuration""#;
    // A quoted number is a string to Go.
    assert_eq!(
        w[..4],
        [
            format!("lpa check: warning: CPA's config {}: interval: 15000.5 is not a whole number: {stops}", bad.display()),
            format!("lpa check: warning: CPA's config {}: maxReplicas: 99999999999 does not fit CPA's 32-bit field: {stops}", bad.display()),
            format!(r#"lpa check: warning: CPA's config {}: downscaleStabilization: "30" is not a whole number: {stops}"#, bad.display()),
            format!("lpa check: warning: CPA's config {}: metric has a timeout that is not a whole number of milliseconds: {stops}", bad.display()),
        ]
    );
    assert!(!w.iter().any(|w| w.contains("metric method")), "{w:?}");
    // YAML 1.1's integers, as Go's decoder reads them, are no error (its
    // prefixes in either case; `08`, no octal, is YAML 1.1's float 8, a
    // whole number to Go's JSON); nor is YAML's " 5" to a 32-bit field
    // from the env, which CPA decodes as YAML (only its Go ints go through
    // ParseInt). A null there CPA decodes into a zero: said.
    let fine = written(
        &dir,
        "fine.yaml",
        "runMode: per-resource\ninterval: 15_000\nmaxReplicas: 0X10\nminReplicas: 0B1\ninitialReadinessDelay: 0O17\ncpuInitializationPeriod: 08\ndownscaleStabilization: +1_2e1\n",
    );
    let w = warned(&fine, &[("logVerbosity", " 5"), ("startTime", "null")]);
    assert_eq!(
        w,
        [
            r#"lpa check: warning: CPA's env var startTime="null" is null, which CPA decodes as 0, not as its default: CPA panics at start-up (it divides by startTime) and never scales"#
        ]
    );
    // A run mode CPA compares as written: with a space, or another case,
    // it fails every interval.
    let unknown = "is neither per-pod nor per-resource as CPA compares it, space and case included: CPA fails every interval with \"unknown run mode\" and never scales";
    let w = warned(&fine, &[("runMode", " per-pod")]);
    assert_eq!(
        w,
        [format!(
            r#"lpa check: warning: CPA's env var runMode=" per-pod" {unknown}"#
        )]
    );
    let cased = written(&dir, "cased.yaml", "runMode: Per-Resource\n");
    let w = warned(&cased, &[]);
    assert!(
        w.contains(&format!(
            r#"lpa check: warning: CPA's config {}: runMode: "Per-Resource" {unknown}"#,
            cased.display()
        )),
        "{w:?}"
    );
    // Into its string field, Go makes a number its text: "5", unknown.
    let numbered = written(&dir, "numbered.yaml", "runMode: 5\n");
    let w = warned(&numbered, &[]);
    assert!(
        w.contains(&format!(
            r#"lpa check: warning: CPA's config {}: runMode: 5 {unknown}"#,
            numbered.display()
        )),
        "{w:?}"
    );
    // JSON's encoding/json refuses a number for a string, and either
    // reading a mapping: CPA stops at start-up.
    for (name, text) in [
        ("numbered.json", "{\"runMode\": 5}"),
        ("mapped.yaml", "runMode: {mode: per-resource}\n"),
    ] {
        let w = warned(&written(&dir, name, text), &[]);
        assert!(
            w.iter().any(|w| w.contains(": runMode: ")
                && w.contains(" is not a string: CPA stops at start-up")),
            "{name}: {w:?}"
        );
    }
    // Values CPA panics on, in the file and the env.
    let zero = written(&dir, "zero.yaml", "runMode: per-resource\ninterval: 0\n");
    let w = warned(&zero, &[("startTime", "0")]);
    assert!(
        w.iter().any(|w| w.ends_with("zero.yaml: interval: 0 is not above 0: CPA panics as it starts its loop (Go's time.NewTicker refuses a non-positive interval) and never scales"))
            && w.contains(&r#"lpa check: warning: CPA's env var startTime="0" is 0: CPA panics at start-up (it divides by startTime) and never scales"#.to_string()),
        "{w:?}"
    );
    // Go's YAML reader ends the first document at the first --- after any
    // line, a comment's too: CPA reads none of the settings after it.
    let late = written(
        &dir,
        "late.yaml",
        "# the CPA's config\n---\nrunMode: per-resource\nmaxReplicas: 50\n",
    );
    let w = warned(&late, &[]);
    assert!(
        w.iter().any(|w| w.contains("CPA reads only its first YAML document, the lines before its first --- line, which hold no settings")),
        "{w:?}"
    );
    // So after a leading ---, and settings past a first document that
    // holds some (after --- or ...), which lpa did not say.
    for (name, text, said) in [
        ("lead.yaml", "---\n# the CPA's config\n---\nmaxReplicas: 50\n", "which hold no settings"),
        ("twice.yaml", "---\n---\nrunMode: per-resource\nmaxReplicas: 50\n", "which hold no settings"),
        ("second.yaml", "runMode: per-resource\n---\n# more\nmaxReplicas: 50\n", ": the settings from line 3 on follow a --- or ... line, in a YAML document past its first, which CPA never reads"),
        ("ended.yaml", "runMode: per-resource\n...\nmaxReplicas: 50\n", ": the settings from line 3 on follow"),
    ] {
        let w = warned(&written(&dir, name, text), &[]);
        assert!(w.iter().any(|w| w.contains(said)), "{name}: {w:?}");
    }
    // A --- line before any other, or documents past the first with no
    // settings, are nothing to say.
    for (name, text) in [
        ("opened.yaml", "---\nrunMode: per-resource\n"),
        ("empty.yaml", "runMode: per-resource\n---\n# nothing\n...\n"),
    ] {
        let w = warned(&written(&dir, name, text), &[]);
        assert!(!w.iter().any(|w| w.contains("document")), "{name}: {w:?}");
    }
    // Without CPA's file, nothing is known of its clock.
    let out = lpa()
        .args(["check", "--evaluation-config"])
        .arg(fixture("evaluation/seed.yaml"))
        .env("configPath", dir.path().join("absent.yaml"))
        .env("locustRunTime", "60")
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("metric method"), "{}", stderr(&out));
}

/// A target that no request of the evaluation config's load.requests, or
/// of --request, sends gets no data at any run: said before the first, as
/// it is for a locustfile. One of the config's requests is the target's.
#[test]
fn a_target_no_request_sends_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("orders.yaml");
    let write = |requests: &str| {
        std::fs::write(
            &config,
            format!("targets:\n  - {{method: GET, endpoint: /items, type: mean, target: 7}}\nload:\n  requests:\n{requests}"),
        )
        .unwrap();
    };
    let warning = |sender: &str| {
        format!("warning: target GET_/items mean: {sender} sends no such request (method and name), so it will have no data")
    };
    // What check says of a config sending these requests.
    let said = |requests: &str| {
        write(requests);
        let out = lpa()
            .args(["check", "--evaluation-config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out)
    };
    let err = said("    - {method: POST, path: /orders}\n");
    assert!(
        err.contains(&warning("the evaluation config's load.requests")),
        "{err}"
    );
    let err = said("    - {method: POST, path: /orders}\n    - {path: /items}\n");
    assert!(!err.contains("sends no such request"), "{err}");

    // --request wins over load.requests.
    let service = crate::support::service::Service::start(0);
    let out = lpa()
        .args([
            "loadtest",
            "--run-time",
            "1",
            "--request",
            "/other",
            "--host",
            &service.url(),
            "--evaluation-config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains(&warning("--request")),
        "{}",
        stderr(&out)
    );
}

/// A proportional scale-up bounded by neither maxChange nor maxReplicas
/// is a warning with the worst multiple one run can ask for: the probe's
/// timeout over the latency target. Either bound silences it.
#[test]
fn an_unbounded_proportional_scale_up_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let check = |extra: &str, flags: &[&str]| {
        let config = dir.path().join("eval.yaml");
        std::fs::write(
            &config,
            format!(
                "targets: [{{endpoint: /a, type: mean, target: 8}}, {{endpoint: /a, type: errorRate, target: 0.01}}]\n{extra}"
            ),
        )
        .unwrap();
        let out = lpa()
            .args(["check", "--evaluation-config"])
            .arg(&config)
            .args(flags)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out)
    };
    let warned = check("scaleUp: {mode: proportional}\nload: {timeout: 4s}\n", &[]);
    assert!(
        warned.contains("lpa check: warning: scaleUp proportional with no maxChange and no maxReplicas: one run can multiply the replicas by observed / target, 500x where a request times out at 4s against the 8ms target; set scaleUp.maxChange or maxReplicas"),
        "{warned}"
    );
    for (extra, flags) in [
        ("scaleUp: {mode: proportional, maxChange: 4}\n", &[][..]),
        ("scaleUp: {mode: proportional}\nmaxReplicas: 20\n", &[]),
        ("scaleUp: {mode: proportional}\n", &["--max-replicas", "20"]),
        ("scaleUp: {mode: step, replicas: 2}\n", &[]),
    ] {
        let quiet = check(extra, flags);
        assert!(
            !quiet.contains("warning: scaleUp"),
            "{extra} {flags:?}: {quiet}"
        );
    }
}

/// With Locust as the driver, check stops where metric would: at the
/// pre-1.0 API and at a locustfile Locust cannot load. The native driver
/// translates the old API, so the seed guide's file still checks there.
#[test]
fn check_rejects_a_locustfile_metric_would_reject() {
    let check = |locustfile: &str, driver: &str| {
        lpa()
            .args(["check", "--load-driver", driver, "--evaluation-config"])
            .arg(fixture("evaluation/seed.yaml"))
            .arg("--locustfile")
            .arg(fixture(locustfile))
            .env("LOCUST_BIN", crate::support::tool("locust"))
            .output()
            .unwrap()
    };
    for (file, says) in [
        (
            "locust/seed_locustfile.py",
            "is written for Locust before 1.0",
        ),
        ("locust/broken.py", "SyntaxError: '(' was never closed"),
    ] {
        let out = check(file, "locust");
        assert_eq!(out.status.code(), Some(1), "{file}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{file}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{file}: {err}");
        assert!(
            err.starts_with("lpa: error: ") && err.contains(says),
            "{file}: {err}"
        );
    }
    let out = check("locust/seed_locustfile.py", "native");
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A file that is not a config at all (the wrong path: `/etc/passwd`) is
/// one scalar to YAML; the error shows its start, not the whole file.
#[test]
fn a_file_that_is_no_config_is_one_short_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwd");
    let lines: Vec<String> = (0..40)
        .map(|i| format!("user{i}:x:{i}:{i}:user:/home/user{i}:/usr/sbin/nologin"))
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = lpa()
        .args(["check", "--evaluation-config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(
        err,
        format!(
            "lpa: error: {}: (top level): invalid value \"user0:x:0:0:user:/home/user0:/usr/sbin/nologin user1:x:1:1:user:/home/user1:... (expected a mapping of fields)\n",
            file.display()
        )
    );
}

/// A path to an endless stream (`/dev/zero`) read until memory ran out and
/// ended lpa with no error line; a config, scenario or sweep is read no
/// further than 1 MiB, and a recording no further than 256 MiB.
#[test]
fn an_endless_file_is_one_error_line_not_all_memory() {
    let step = "fixtures/scenarios/step.yaml";
    let seed = "fixtures/evaluation/seed.yaml";
    let settings = |what: &str| {
        format!("cannot read {what}: more than 1 MiB, more than a file of settings holds")
    };
    let record = |what: &str| {
        format!(
            "{what}: more than 256 MiB, more than lpa reads at once; give it a part of the file"
        )
    };
    for (args, said) in [
        (
            vec!["check", "--evaluation-config", "/dev/zero"],
            settings("the evaluation config"),
        ),
        (
            vec![
                "simulate",
                "--evaluation-config",
                seed,
                "--scenario",
                "/dev/zero",
            ],
            settings("the scenario"),
        ),
        (
            vec![
                "simulate",
                "--evaluation-config",
                seed,
                "--scenario",
                step,
                "--sweep",
                "/dev/zero",
            ],
            settings("the sweep spec"),
        ),
        (vec!["report", "/dev/zero"], record("cannot read")),
        (
            vec![
                "simulate",
                "--evaluation-config",
                seed,
                "--replay",
                "/dev/zero",
            ],
            record("cannot read the decision log"),
        ),
    ] {
        let out = lpa().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(stdout(&out), "");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        // Some name where the file came from after the reason.
        assert!(
            err.starts_with(&format!("lpa: error: /dev/zero: {said}")),
            "{err}"
        );
    }
}
