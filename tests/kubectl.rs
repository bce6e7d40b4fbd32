//! `lpa run --scaler kubectl` through the real binary and the real kubectl
//! (pinned, from .tools) against the stand-in API server, load-testing a
//! service in the test process. Everything on 127.0.0.1.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use lpa_core::log::{DecisionRecord, Outcome};
use lpa_core::Reason;
use serde_json::Value;

use crate::support::apiserver::{ApiServer, HpaApi, Mode, Objects, Request};
use crate::support::service::Service;
use crate::support::{lpa, refused_addr, stderr, stdout, tool};

/// Mean latency over 80 ms breaches; the service answers in 0 ms (calm)
/// or 200 ms (breach): wide margins, so a busy machine cannot flip a
/// decision. Two calm runs before a decay.
const CONFIG: &str = "targets:\n  - {method: GET, endpoint: /work, type: mean, target: 80}\ndecay: {replicas: 1, unchangedRuns: 2}\nminReplicas: 1\nmaxReplicas: 10\n";
const SLOW: u64 = 200;
const FAST: u64 = 0;

struct Setup {
    dir: tempfile::TempDir,
    api: ApiServer,
    service: Service,
    kubeconfig: PathBuf,
}

impl Setup {
    /// A Deployment `web` in `default` at `replicas`, and the service.
    fn new(replicas: Option<u32>, delay_ms: u64) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let api = ApiServer::start();
        api.add("deployments", "default", "web", replicas);
        let kubeconfig = api.kubeconfig(dir.path());
        fs::write(dir.path().join("evaluation_config.yaml"), CONFIG).unwrap();
        Setup {
            service: Service::start(delay_ms),
            api,
            kubeconfig,
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn state(&self) -> PathBuf {
        self.path("decay_info.json")
    }

    fn log(&self) -> PathBuf {
        self.path("decisions.jsonl")
    }

    /// `lpa run --scaler kubectl` for `target` with everything pointed into
    /// the temp dir; `extra` adds or overrides flags.
    fn run_cmd(&self, target: &str, extra: &[&str]) -> Command {
        let given = |flag: &str| {
            extra
                .iter()
                .any(|a| *a == flag || a.starts_with(&format!("{flag}=")))
        };
        let mut c = lpa();
        c.arg("run")
            .args(["--scaler", "kubectl", "--target", target]);
        if !given("-n") {
            c.args(["-n", "default"]);
        }
        if !given("--kubeconfig") {
            c.arg(format!("--kubeconfig={}", self.kubeconfig.display()));
        }
        if !given("--kubectl") {
            c.arg(format!("--kubectl={}", tool("kubectl").display()));
        }
        if !given("--kubectl-timeout") {
            c.args(["--kubectl-timeout", "30s"]);
        }
        if !given("--decay-info") {
            c.arg(format!("--decay-info={}", self.state().display()));
        }
        if !given("--decision-log") {
            c.arg(format!("--decision-log={}", self.log().display()));
        }
        c.arg(format!(
            "--evaluation-config={}",
            self.path("evaluation_config.yaml").display()
        ))
        .args(extra)
        // kubectl's discovery cache goes under $HOME; keep it in the temp dir.
        .env("HOME", self.dir.path())
        .env("locustHost", self.service.url())
        .env("locustUsers", "2")
        .env("locustSpawnRate", "100")
        .env("locustRunTime", "1s");
        c
    }

    fn run(&self, extra: &[&str]) -> Output {
        self.run_cmd("deployment/web", extra)
            .output()
            .expect("spawn lpa")
    }

    /// [`Setup::run`] in the background, its output piped.
    fn spawn(&self, extra: &[&str]) -> std::process::Child {
        self.run_cmd("deployment/web", extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lpa")
    }

    fn records(&self) -> Vec<DecisionRecord> {
        match fs::read_to_string(self.log()) {
            Ok(text) => text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l}: {e}")))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn saved_state(&self) -> Value {
        serde_json::from_str(&fs::read_to_string(self.state()).expect("state file")).unwrap()
    }

    fn replicas(&self) -> Option<u32> {
        self.api.replicas("deployments", "default", "web")
    }
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstderr:\n{}",
        o.status,
        stderr(o)
    );
    assert_eq!(stdout(o), "", "run prints data only in the log");
}

/// Exit 1, nothing on stdout, exactly one error line on stderr containing
/// `want`; returns that line.
fn one_error(o: &Output, want: &str) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "stderr:\n{err}");
    assert_eq!(stdout(o), "");
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("lpa: error"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line expected:\n{err}");
    assert!(errors[0].starts_with("lpa: error: "), "{err}");
    assert!(errors[0].contains(want), "want {want:?} in:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    errors[0].to_string()
}

fn write_state(s: &Setup, json: &str) {
    fs::write(s.state(), json).unwrap();
}

#[test]
fn scales_up_on_a_breach_with_a_precondition() {
    let s = Setup::new(Some(2), SLOW);
    let o = s.run(&["--once"]);
    ok(&o);
    assert_eq!(s.replicas(), Some(3));
    let writes = s.api.scale_writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    // kubectl's --current-replicas path: GET /scale, then PUT it back with
    // the resourceVersion it read, so a concurrent write would conflict.
    let put: Value = serde_json::from_str(&writes[0].body).unwrap();
    assert_eq!(writes[0].method, "PUT");
    assert_eq!(
        writes[0].path,
        "/apis/apps/v1/namespaces/default/deployments/web/scale"
    );
    assert_eq!(put["spec"]["replicas"], 3);
    assert_eq!(put["metadata"]["resourceVersion"], "1");

    let r = s.records();
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].current, r[0].decided, &r[0].outcome),
        (2, 3, &Outcome::Applied)
    );
    // The read's status.readyReplicas, as the API server wrote it.
    assert_eq!(r[0].observation.ready_replicas, Some(2));
    assert_eq!(r[0].target, "deployment/web -n default");
    assert!(
        r[0].time.as_deref().is_some_and(|t| t.ends_with('Z')),
        "{:?}",
        r[0].time
    );
    match &r[0].reasons[0] {
        Reason::Target {
            key,
            observed,
            target,
            breached,
            ..
        } => {
            assert_eq!(key, "GET_/work");
            assert!(
                *breached && *observed > 80.0 && *target == 80.0,
                "{:?}",
                r[0].reasons
            );
        }
        other => panic!("first reason should be the target: {other:?}"),
    }
    assert_eq!(
        r[0].reasons.last(),
        Some(&Reason::ScaleUp { from: 2, to: 3 })
    );
    assert_eq!(s.saved_state()["last_replicas"], 3);
    assert_eq!(s.saved_state()["runs_since_change"], 0);
    let err = stderr(&o);
    assert!(
        err.contains("lpa run: #1 deployment/web -n default: GET_/work mean"),
        "{err}"
    );
    assert!(
        err.contains("scale up 2 -> 3 => 3 (scaled 2 -> 3)"),
        "{err}"
    );
}

#[test]
fn holds_when_calm_and_counts_the_calm_run() {
    let s = Setup::new(Some(2), FAST);
    ok(&s.run(&["--once"]));
    assert_eq!(s.replicas(), Some(2));
    assert!(s.api.scale_writes().is_empty());
    let r = s.records();
    assert_eq!((r[0].decided, &r[0].outcome), (2, &Outcome::Applied));
    assert_eq!(
        r[0].reasons.last(),
        Some(&Reason::Hold {
            replicas: 2,
            calm_runs: 1,
            needed: 2
        })
    );
    assert_eq!(s.saved_state()["runs_since_change"], 1);
}

#[test]
fn decays_after_the_configured_calm_runs() {
    let s = Setup::new(Some(3), FAST);
    // Two invocations sharing the state file, then a bounded loop.
    ok(&s.run(&["--once"]));
    ok(&s.run(&["--once"]));
    assert_eq!(s.replicas(), Some(3));
    ok(&s.run(&["--max-cycles", "2", "--interval", "0s"]));
    assert_eq!(
        s.replicas(),
        Some(2),
        "decayed once after 2 calm runs, then calm run 1"
    );
    let decided: Vec<u32> = s.records().iter().map(|r| r.decided).collect();
    assert_eq!(decided, vec![3, 3, 2, 2]);
    assert_eq!(
        s.records()[2].reasons.last(),
        Some(&Reason::Decay { from: 3, to: 2 })
    );
    assert_eq!(s.saved_state()["runs_since_change"], 1);
    let writes = s.api.scale_writes();
    assert_eq!(writes.len(), 1);
}

/// A state file holding an array is no state: read field by field it said
/// 5 calm runs at 2, and a calm run decayed at once.
#[test]
fn a_state_file_holding_an_array_starts_fresh_and_is_kept() {
    let s = Setup::new(Some(2), FAST);
    write_state(&s, "[5, 2]");
    let o = s.run(&["--once"]);
    ok(&o);
    assert_eq!(s.replicas(), Some(2), "held, not decayed");
    assert_eq!(s.saved_state()["runs_since_change"], 1);
    let kept = s.path("decay_info.json.corrupt");
    assert_eq!(fs::read_to_string(&kept).unwrap(), "[5, 2]");
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "lpa: warning: state file {}: holds an array, not a state object; starting fresh; the original is kept in {}\n",
            s.state().display(),
            kept.display()
        )),
        "{err}"
    );
}

#[test]
fn dry_run_changes_nothing() {
    let s = Setup::new(Some(2), SLOW);
    write_state(&s, "{\"runs_since_change\": 1, \"last_replicas\": 2}");
    let before = fs::read(s.state()).unwrap();
    let o = s.run(&["--once", "--dry-run"]);
    ok(&o);
    assert!(
        s.api.scale_writes().is_empty(),
        "{:?}",
        s.api.scale_writes()
    );
    assert_eq!(
        fs::read(s.state()).unwrap(),
        before,
        "state file unchanged byte for byte"
    );
    assert_eq!(s.replicas(), Some(2));
    let r = s.records();
    assert_eq!((r[0].decided, &r[0].outcome), (3, &Outcome::DryRun));
    assert_eq!(r[0].outcome.to_string(), "dry run");
    assert!(
        stderr(&o).contains("(not applied: dry run)"),
        "{}",
        stderr(&o)
    );
    assert!(s.api.events().is_empty(), "a dry run records no Event");
}

/// What `lpa check` warns of, `lpa run` says before it scales for real;
/// a bound on the scale-up silences it.
#[test]
fn run_warns_of_an_unbounded_proportional_scale_up_before_its_first_cycle() {
    let s = Setup::new(Some(2), SLOW);
    let unbounded = "targets:\n  - {method: GET, endpoint: /work, type: mean, target: 80}\nscaleUp: {mode: proportional}\nload: {timeout: 4s}\n";
    fs::write(s.path("evaluation_config.yaml"), unbounded).unwrap();
    let o = s.run(&["--once", "--dry-run"]);
    ok(&o);
    let err = stderr(&o);
    let warning = "lpa run: warning: scaleUp proportional with no maxChange and no maxReplicas: one run can multiply the replicas by observed / target, 50x where a request times out at 4s against the 80ms target; set scaleUp.maxChange or maxReplicas";
    let at = err.find(warning).unwrap_or_else(|| panic!("{err}"));
    let first_cycle = err.find("lpa run: #1 ").unwrap_or_else(|| panic!("{err}"));
    assert!(at < first_cycle, "the warning comes first:\n{err}");

    let o = s.run(&["--once", "--dry-run", "--max-replicas", "6"]);
    ok(&o);
    assert!(!stderr(&o).contains("warning: scaleUp"), "{}", stderr(&o));
}

#[test]
fn run_warns_of_a_load_test_that_fills_the_interval() {
    let s = Setup::new(Some(2), SLOW);
    let o = s.run(&["--once", "--dry-run", "--interval", "1s"]);
    ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains(
            "lpa run: warning: the load test runs 1s of every 1s interval: cycles run back to back"
        ),
        "{err}"
    );
    for quiet in ["2s", "0s"] {
        let o = s.run(&["--once", "--dry-run", "--interval", quiet]);
        ok(&o);
        assert!(!stderr(&o).contains("back to back"), "{}", stderr(&o));
    }
}

/// Changes the replicas to `to` just before the first request that
/// `when` matches is answered.
fn outside_writer(
    to: u32,
    when: fn(&Request) -> bool,
) -> impl FnMut(&Request, &mut Objects) + Send {
    let mut done = false;
    move |req, objects| {
        if !done && when(req) {
            done = true;
            let o = objects.values_mut().next().unwrap();
            o.replicas = Some(to);
            o.resource_version += 1;
        }
    }
}

#[test]
fn an_outside_change_before_the_scale_is_not_overwritten() {
    let s = Setup::new(Some(2), SLOW);
    write_state(&s, "{\"runs_since_change\": 1, \"last_replicas\": 2}");
    let before = fs::read(s.state()).unwrap();
    // Between lpa's `kubectl get` and kubectl scale's read of /scale.
    s.api.on_request(outside_writer(5, |r| {
        r.method == "GET" && r.path.ends_with("/scale")
    }));
    let o = s.run(&["--once"]);
    ok(&o);
    assert_eq!(s.replicas(), Some(5), "the outside write stands");
    assert!(s.api.scale_writes().is_empty());
    let r = s.records();
    assert_eq!((r[0].current, r[0].decided), (2, 3));
    let Outcome::OutsideChange { seen, detail: why } = &r[0].outcome else {
        panic!("not refused: {:?}", r[0].outcome)
    };
    assert_eq!(*seen, Some(5));
    assert!(why.contains("replicas changed outside lpa since they were read (expected 2, now 5); not overwritten"), "{why}");
    assert!(
        stderr(&o).contains("not applied: deployment/web -n default: replicas changed outside lpa"),
        "{}",
        stderr(&o)
    );
    assert_eq!(fs::read(s.state()).unwrap(), before, "no state change");

    // The next cycle sees the change and resets the decay counter.
    s.service.set_delay_ms(FAST);
    ok(&s.run(&["--once"]));
    let r = s.records();
    assert_eq!(
        r[1].reasons[0],
        Reason::OutsideChange {
            expected: 2,
            seen: 5
        }
    );
    assert_eq!(
        r[1].reasons.last(),
        Some(&Reason::Hold {
            replicas: 5,
            calm_runs: 1,
            needed: 2
        })
    );
    assert_eq!(s.saved_state()["runs_since_change"], 1);
    assert_eq!(s.saved_state()["last_replicas"], 5);
}

#[test]
fn an_outside_change_between_kubectls_read_and_write_conflicts() {
    let s = Setup::new(Some(2), SLOW);
    // Lands just before kubectl's PUT: its resourceVersion is stale, the
    // server answers 409, kubectl re-reads and its precondition fails.
    s.api.on_request(outside_writer(7, |r| r.method == "PUT"));
    ok(&s.run(&["--once"]));
    assert_eq!(s.replicas(), Some(7));
    let writes = s.api.scale_writes();
    assert_eq!(writes.len(), 1, "one PUT, refused: {writes:?}");
    let r = s.records();
    assert!(
        matches!(&r[0].outcome, Outcome::OutsideChange { seen: Some(7), detail } if detail.contains("(expected 2, now 7)")),
        "{:?}",
        r[0].outcome
    );
    assert!(!s.state().exists(), "no state saved");
}

#[test]
fn statefulsets_and_replicasets_scale_too() {
    let s = Setup::new(None, SLOW);
    s.api.add("statefulsets", "default", "db", Some(1));
    s.api.add("replicasets", "default", "web-5d9c7b", Some(4));
    let o = s.run_cmd("sts/db", &["--once"]).output().unwrap();
    ok(&o);
    assert_eq!(s.api.replicas("statefulsets", "default", "db"), Some(2));
    fs::remove_file(s.state()).unwrap();
    ok(&s
        .run_cmd("replicaset/web-5d9c7b", &["--once"])
        .output()
        .unwrap());
    assert_eq!(
        s.api.replicas("replicasets", "default", "web-5d9c7b"),
        Some(5)
    );
    let targets: Vec<String> = s.records().into_iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        vec![
            "statefulset/db -n default",
            "replicaset/web-5d9c7b -n default"
        ]
    );
}

#[test]
fn a_deployment_without_spec_replicas_counts_as_one() {
    let s = Setup::new(None, SLOW);
    ok(&s.run(&["--once"]));
    let r = s.records();
    assert_eq!((r[0].current, r[0].decided), (1, 2));
    assert_eq!(s.replicas(), Some(2));
    let put: Value = serde_json::from_str(&s.api.scale_writes()[0].body).unwrap();
    assert_eq!(put["spec"]["replicas"], 2);
}

#[test]
fn kubectl_missing_is_one_error_before_anything_runs() {
    let s = Setup::new(Some(2), SLOW);
    let o = s.run(&["--once", "--kubectl", "/nonexistent/kubectl"]);
    one_error(&o, "kubectl /nonexistent/kubectl: cannot start: No such file or directory (os error 2) (install kubectl, or pass --kubectl PATH or set LPA_KUBECTL)");
    assert!(s.api.requests().is_empty());
    assert!(!s.state().exists() && !s.log().exists());
}

#[test]
fn lpa_kubectl_env_picks_the_binary() {
    let s = Setup::new(Some(2), FAST);
    let mut c = lpa();
    c.arg("run")
        .args([
            "--scaler",
            "kubectl",
            "--target",
            "deployment/web",
            "-n",
            "default",
            "--once",
        ])
        .arg(format!("--kubeconfig={}", s.kubeconfig.display()))
        .arg(format!(
            "--evaluation-config={}",
            s.path("evaluation_config.yaml").display()
        ))
        .arg(format!("--decay-info={}", s.state().display()))
        .env("HOME", s.dir.path())
        .env("LPA_KUBECTL", "/nonexistent/from-env/kubectl")
        .env("locustHost", s.service.url());
    one_error(
        &c.output().unwrap(),
        "kubectl /nonexistent/from-env/kubectl: cannot start",
    );
}

#[test]
fn kubectl_failing_changes_nothing_and_the_loop_goes_on() {
    let s = Setup::new(Some(2), SLOW);
    write_state(&s, "{\"runs_since_change\": 1, \"last_replicas\": 2}");
    let before = fs::read(s.state()).unwrap();
    s.api.set_mode(Mode::Fail);
    let o = s.run(&["--once"]);
    let line = one_error(&o, "read replicas: ");
    assert!(
        line.contains(" get deployment/web -n default -o json --kubeconfig="),
        "{line}"
    );
    assert!(line.contains("exit 1: "), "{line}");
    assert!(
        line.contains("exit 1: Error from server (InternalError): "),
        "kubectl stderr kept: {line}"
    );
    assert_eq!(fs::read(s.state()).unwrap(), before);
    assert!(s.records().is_empty(), "no decision, no record");
    // The HPA check at start is advisory: its failure is a warning, and
    // the loop's own read says the server is down.
    let err = stderr(&o);
    assert!(
        err.lines().any(|l| l.starts_with(
            "lpa run: warning: not checked for a HorizontalPodAutoscaler on deployment/web: "
        ) && l.contains(
            " get --raw /apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers "
        ) && l.contains("exit 1: Error from server (InternalError)")),
        "{err}"
    );

    // Without --once the loop goes on after a failure.
    let o = s.run(&["--max-cycles", "2", "--interval", "0s"]);
    let err = stderr(&o);
    assert_eq!(err.matches("read replicas failed: ").count(), 2, "{err}");
    one_error(&o, "2 of 2 cycles failed; the last: read replicas: ");
    assert_eq!(fs::read(s.state()).unwrap(), before);
}

/// A scale the server made but answered too late: the call times out,
/// and a read after it finds the count asked for. Applied, as it was;
/// taken as failed, the next cycle read lpa's own scale as someone
/// else's change and reset the decay counter.
#[test]
fn a_scale_that_timed_out_but_was_made_counts_as_lpas_own() {
    let s = Setup::new(Some(2), SLOW);
    s.api.set_mode(Mode::ApplyThenHang);
    let o = s.run(&[
        "--max-cycles",
        "2",
        "--interval",
        "0s",
        // Room for each read around the scale, however busy the machine:
        // only the scale may time out.
        "--kubectl-timeout",
        "5s",
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(
        err.matches(": timed out after 5s and was killed; read again, the count is the ")
            .count(),
        2,
        "{err}"
    );
    assert!(
        err.contains("(scaled 2 -> 3)") && err.contains("(scaled 3 -> 4)"),
        "{err}"
    );
    assert!(!err.contains("outside lpa"), "{err}");
    assert_eq!(s.api.replicas("deployments", "default", "web"), Some(4));
}

/// A scale the server made but answered with an error: a 504 from a
/// gateway, or a 503 whose retry (client-go's, after Retry-After) met
/// lpa's own change as a conflict. A read after finds the count asked
/// for: applied, where the next cycle read it as someone else's change.
#[test]
fn a_scale_made_but_answered_with_an_error_counts_as_lpas_own() {
    for (mode, said) in [
        (
            Mode::ApplyThenFail,
            "; read again, the count is the 3 asked for: applied",
        ),
        (
            Mode::ApplyThenRetry,
            "; the count is the 3 asked for (lpa's own write, sent again after a 503, or another's to the same count): taken as applied",
        ),
    ] {
        let s = Setup::new(Some(2), SLOW);
        s.api.set_mode(mode);
        let o = s.run(&["--once"]);
        let err = stderr(&o);
        assert!(o.status.success(), "{mode:?}: {err}");
        assert!(
            err.contains(said) && err.contains("(scaled 2 -> 3)"),
            "{mode:?}: {err}"
        );
        let r = s.records();
        assert_eq!(r[0].outcome, Outcome::Applied, "{mode:?}: {err}");
        assert_eq!(s.saved_state()["last_replicas"], 3, "{mode:?}");
        assert_eq!(s.replicas(), Some(3));
    }
}

#[test]
fn kubectl_hanging_is_killed_at_the_timeout() {
    let s = Setup::new(Some(2), SLOW);
    s.api.set_mode(Mode::Hang);
    let o = s.run(&["--once", "--kubectl-timeout", "1s"]);
    let line = one_error(&o, "read replicas: ");
    // Which call hung, where the line said "kubectl: timed out".
    assert!(
        line.contains(" get deployment/web -n default ")
            && line.contains(": timed out after 1s and was killed"),
        "{line}"
    );
    assert!(!s.state().exists());
    assert!(s.api.scale_writes().is_empty());
}

#[test]
fn a_scale_that_fails_is_logged_and_saves_no_state() {
    let s = Setup::new(Some(2), SLOW);
    // Reads work; the scale's reads and writes fail.
    let api_mode = |r: &Request| r.path.ends_with("/scale");
    let mut failing = false;
    s.api.on_request(move |r, objects| {
        if api_mode(r) && !failing {
            failing = true;
            // Deleting the object makes every later request a 404.
            objects.clear();
        }
    });
    let o = s.run(&["--once"]);
    one_error(&o, "scale: ");
    let r = s.records();
    assert_eq!(r[0].decided, 3);
    let Outcome::ScaleFailed { error } = &r[0].outcome else {
        panic!("not failed: {:?}", r[0].outcome)
    };
    assert!(
        r[0].outcome.to_string().starts_with("scale failed: "),
        "{:?}",
        r[0].outcome
    );
    assert!(error.contains("not found"), "{error}");
    assert!(!s.state().exists());
}

/// The real kubectl, but `kubectl scale` exits 1 with `error: ...` on stderr.
fn failing_scale_kubectl(dir: &Path) -> PathBuf {
    let script = dir.join("kubectl-scale-fails");
    write_script(
        &script,
        &format!(
            "#!/bin/sh\nif [ \"$1\" = scale ]; then echo 'error: scaling refused by the test' >&2; exit 1; fi\nexec '{}' \"$@\"\n",
            tool("kubectl").display()
        ),
    );
    script
}

#[test]
fn once_with_a_failed_scale_says_the_failure_once() {
    let s = Setup::new(Some(2), SLOW);
    let kubectl = failing_scale_kubectl(s.dir.path());
    let o = s.run(&["--once", &format!("--kubectl={}", kubectl.display())]);
    let line = one_error(&o, "scale: ");
    assert!(line.contains("scaling refused by the test"), "{line}");
    let err = stderr(&o);
    assert_eq!(
        err.matches("scaling refused by the test").count(),
        1,
        "the failure once:\n{err}"
    );
    // The cycle line still says what was decided and that it did not take.
    assert!(
        err.contains("scale up 2 -> 3 => 3 (not applied: scale failed)"),
        "{err}"
    );
    assert_eq!(s.replicas(), Some(2));
    assert!(!s.state().exists());
    assert!(matches!(
        s.records()[0].outcome,
        Outcome::ScaleFailed { .. }
    ));
}

/// A kubectl stand-in that records it ran; for checks that it never does.
fn marker_kubectl(dir: &Path) -> (PathBuf, PathBuf) {
    let marker = dir.join("kubectl-ran");
    let script = dir.join("fake-kubectl");
    write_script(
        &script,
        &format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\necho '{{}}'\n",
            marker.display()
        ),
    );
    (script, marker)
}

/// `text` as an executable script at `path`.
fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A kubectl of version v0.0.0-fake that runs `answer` (shell) for every
/// other call: the `--kubectl=PATH` flag for it.
fn fake_kubectl(s: &Setup, name: &str, answer: &str) -> String {
    let path = s.path(name);
    write_script(
        &path,
        &format!("#!/bin/sh\ncase \"$1\" in\n  version) echo '{{\"clientVersion\":{{\"gitVersion\":\"v0.0.0-fake\"}}}}' ;;\n  *) {answer} ;;\nesac\n"),
    );
    format!("--kubectl={}", path.display())
}

#[test]
fn dangerous_names_are_rejected_before_kubectl_runs() {
    let s = Setup::new(Some(2), SLOW);
    let (fake, marker) = marker_kubectl(s.dir.path());
    let kubectl = format!("--kubectl={}", fake.display());
    for (target, ns, want) in [
        ("deployment/x;rm -rf /", "default", "invalid target \"deployment/x;rm -rf /\": name \"x;rm -rf /\" is not a valid Kubernetes name (DNS-1123 subdomain"),
        ("deployment/$(touch pwned)", "default", "name \"$(touch pwned)\" is not a valid Kubernetes name"),
        ("deployment/`id`", "default", "is not a valid Kubernetes name"),
        ("deployment/web", "default;id", "invalid namespace \"default;id\": not a valid Kubernetes namespace (DNS-1123 label"),
        ("deployment/web", "$(id)", "invalid namespace \"$(id)\""),
    ] {
        let o = s
            .run_cmd(target, &["--once", kubectl.as_str(), "-n", ns])
            .output()
            .unwrap();
        one_error(&o, want);
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    }
    assert!(
        !marker.exists(),
        "kubectl ran: {:?}",
        fs::read_to_string(&marker)
    );
    assert!(!s.path("pwned").exists());
    assert!(s.api.requests().is_empty());
    assert!(!s.state().exists() && !s.log().exists());
}

#[test]
fn bad_input_is_one_clear_error_line_and_no_state() {
    let s = Setup::new(Some(2), SLOW);
    let (fake, marker) = marker_kubectl(s.dir.path());
    let kubectl = format!("--kubectl={}", fake.display());
    let dir_path = s.dir.path().to_str().unwrap().to_string();
    let dir_error = format!("kubeconfig {dir_path}: a directory, not a kubeconfig file");
    for (target, extra, want) in [
        ("pod/web", vec![], "invalid target \"pod/web\": unknown kind \"pod\" (expected deployment, statefulset or replicaset)"),
        ("web", vec![], "invalid target \"web\": expected KIND/NAME, e.g. deployment/fibonacci"),
        ("deployment/web", vec!["--kubeconfig", "/nonexistent/kubeconfig"], "kubeconfig /nonexistent/kubeconfig: no such file"),
        ("deployment/web", vec!["--kubeconfig", dir_path.as_str()], dir_error.as_str()),
    ] {
        let mut args = vec!["--once", kubectl.as_str()];
        args.extend(extra);
        let o = s.run_cmd(target, &args).output().unwrap();
        one_error(&o, want);
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    }
    assert!(!marker.exists());
    assert!(!s.state().exists() && !s.log().exists());
    assert!(!s.path(".decay_info.json.lock").exists());
}

#[test]
fn kubectl_output_that_is_not_json_is_one_error() {
    let s = Setup::new(Some(2), SLOW);
    let kubectl = fake_kubectl(&s, "kubectl-says-hello", "echo 'hello, this is not JSON'");
    let o = s.run(&["--once", &kubectl]);
    let line = one_error(&o, "read replicas: ");
    assert!(
        line.contains(
            "output is not JSON (expected value at line 1 column 1): \"hello, this is not JSON\""
        ),
        "{line}"
    );
    assert!(
        stderr(&o).contains("via kubectl v0.0.0-fake"),
        "{}",
        stderr(&o)
    );
    assert!(!s.state().exists());
    assert!(s.records().is_empty());
}

/// `kubectl version --client` talks to no server and gets 10 s whatever
/// --kubectl-timeout; a kubectl that hangs in it is named as the start-up
/// check, where the line named no step and its 10 s was nowhere written.
#[test]
fn a_kubectl_that_hangs_at_the_start_up_check_is_named_with_its_floor() {
    let s = Setup::new(Some(2), SLOW);
    let fake = s.path("kubectl-hangs");
    write_script(&fake, "#!/bin/sh\nexec sleep 60\n");
    let started = Instant::now();
    let o = s.run(&[
        "--once",
        "--kubectl-timeout",
        "1s",
        &format!("--kubectl={}", fake.display()),
    ]);
    let line = one_error(&o, "start-up check: ");
    assert!(
        line.contains("timed out after 10s and was killed (`version --client` gets at least 10s, whatever --kubectl-timeout)"),
        "{line}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(!s.state().exists());
}

/// A kubectl that prints far more than any answer (a broken wrapper) is
/// one error naming the limit, where lpa kept 64 MiB a stream (270 MB of
/// RSS, past its pod's 128Mi) and then blamed kubectl's SIGPIPE.
#[test]
fn kubectl_output_past_the_limit_is_one_error_naming_it() {
    let s = Setup::new(Some(2), SLOW);
    let kubectl = fake_kubectl(
        &s,
        "kubectl-says-too-much",
        "head -c 20000000 /dev/zero | tr '\\0' a",
    );
    let o = s.run(&["--once", &kubectl]);
    let line = one_error(&o, "read replicas: ");
    assert!(
        line.contains("printed more than 16 MiB, more than any answer lpa asks for; not read"),
        "{line}"
    );
    assert!(!s.state().exists());
    assert!(s.records().is_empty());
}

#[test]
fn sigterm_ends_the_loop_with_state_saved_and_exit_0() {
    let s = Setup::new(Some(2), SLOW);
    let mut child = s
        .run_cmd("deployment/web", &["--interval", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (bounded) for the first cycle's record, then signal while the
    // loop sleeps out its interval.
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.records().is_empty() {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!(
                "no first cycle: {}",
                stderr(&child.wait_with_output().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Bounded wait: the loop must notice within its poll, well before 60s.
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("lpa did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    ok(&o);
    assert!(
        stderr(&o).contains("lpa run: stopped by signal after 1 cycle; state saved in "),
        "{}",
        stderr(&o)
    );
    assert_eq!(s.saved_state()["last_replicas"], 3);
    assert_eq!(s.replicas(), Some(3));
    assert_eq!(s.records().len(), 1);
}

#[test]
fn sigterm_during_the_load_test_stops_before_deciding() {
    let s = Setup::new(Some(2), SLOW);
    write_state(&s, "{\"runs_since_change\": 1, \"last_replicas\": 2}");
    let before = fs::read(s.state()).unwrap();
    let mut child = s
        .run_cmd("deployment/web", &["--interval", "60s"])
        .env("locustRunTime", "3s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // lpa's `kubectl get` done means the load test has started.
    let read = |r: &Request| r.method == "GET" && r.path.ends_with("/deployments/web");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !s.api.requests().iter().any(read) {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("no read: {}", stderr(&child.wait_with_output().unwrap()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("lpa did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    ok(&o);
    assert!(
        stderr(&o).contains("stopped by signal after 0 cycles"),
        "{}",
        stderr(&o)
    );
    assert!(s.records().is_empty(), "nothing decided");
    assert!(s.api.scale_writes().is_empty());
    assert_eq!(fs::read(s.state()).unwrap(), before, "state as last saved");
}

/// A kubeconfig with two contexts: `live` on the stand-in server and `dead`
/// on a loopback port nothing listens on, `dead` being the current one.
/// Returns its path, the dead server's address and what keeps it dead.
fn two_contexts(s: &Setup) -> (PathBuf, String, rustix::fd::OwnedFd) {
    // Connections to it are refused, at once and without leaving 127.0.0.1.
    let (held, dead) = refused_addr();
    let dead = dead.to_string();
    let path = s.path("two-contexts");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: live\n  cluster:\n    server: {}\n- name: dead\n  cluster:\n    server: http://{dead}\nusers:\n- name: nobody\n  user: {{}}\ncontexts:\n- name: live\n  context:\n    cluster: live\n    user: nobody\n    namespace: default\n- name: dead\n  context:\n    cluster: dead\n    user: nobody\n    namespace: default\ncurrent-context: dead\n",
        s.api.url()
    );
    fs::write(&path, text).unwrap();
    (path, dead, held)
}

#[test]
fn context_picks_the_cluster_over_the_current_context() {
    let s = Setup::new(Some(2), SLOW);
    let (kubeconfig, _, _held) = two_contexts(&s);
    let kubeconfig = format!("--kubeconfig={}", kubeconfig.display());
    let o = s.run(&["--once", &kubeconfig, "--context", "live"]);
    ok(&o);
    assert_eq!(s.replicas(), Some(3));
    assert_eq!(s.api.scale_writes().len(), 1);
    let r = s.records();
    assert_eq!(
        (r.len(), r[0].decided, &r[0].outcome),
        (1, 3, &Outcome::Applied)
    );
    assert_eq!(s.saved_state()["last_replicas"], 3);
    let err = stderr(&o);
    assert!(err.contains("(context live)"), "{err}");
}

#[test]
fn a_current_context_changed_mid_run_does_not_move_the_loop() {
    // A shared ~/.kube/config: someone runs `kubectl config use-context`
    // beside lpa. kubectl reads the current context on every call.
    let s = Setup::new(Some(2), SLOW);
    let (kubeconfig, _, _held) = two_contexts(&s);
    let text = fs::read_to_string(&kubeconfig).unwrap();
    fs::write(
        &kubeconfig,
        text.replace("current-context: dead", "current-context: live"),
    )
    .unwrap();
    let child = s.spawn(&[
        &format!("--kubeconfig={}", kubeconfig.display()),
        "--interval",
        "1s",
        "--max-cycles",
        "3",
    ]);
    wait_for("the first cycle's record", 60, || !s.records().is_empty());
    fs::write(&kubeconfig, text).unwrap();
    let o = child.wait_with_output().unwrap();
    ok(&o);
    let err = stderr(&o);
    assert!(err.contains("(context live)"), "{err}");
    assert!(!err.contains("refused"), "{err}");
    let r = s.records();
    assert_eq!(r.len(), 3, "{err}");
    assert!(r.iter().all(|r| r.outcome == Outcome::Applied), "{r:?}");
}

/// A site's kubectl wrapper that adds `flags` of its own to every call.
fn kubectl_wrapper(s: &Setup, flags: &str) -> PathBuf {
    let wrapper = s.path("kubectl-wrapper");
    let script = format!(
        "#!/bin/sh\nexec {} {flags} \"$@\"\n",
        tool("kubectl").display()
    );
    fs::write(&wrapper, script).unwrap();
    fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    wrapper
}

#[test]
fn a_kubectl_wrappers_own_context_is_the_one_kept() {
    // A site's wrapper picks the cluster itself; the kubeconfig's current
    // context is another. Named on each call, the file's would override
    // the wrapper's (kubectl takes the last --context given).
    let s = Setup::new(Some(2), SLOW);
    let (kubeconfig, _, _held) = two_contexts(&s);
    let wrapper = kubectl_wrapper(&s, "--context=live");
    let o = s.run(&[
        "--once",
        &format!("--kubeconfig={}", kubeconfig.display()),
        &format!("--kubectl={}", wrapper.display()),
    ]);
    ok(&o);
    assert!(stderr(&o).contains("(context live)"), "{}", stderr(&o));
    assert_eq!(s.replicas(), Some(3));
}

#[test]
fn without_n_the_hpa_check_looks_where_a_wrappers_own_namespace_scales() {
    // The site's wrapper picks the namespace; the context says default.
    // An HPA scales the workload there: lpa must not start beside it.
    let s = Setup::new(Some(2), SLOW);
    s.api.add("deployments", "shop", "web", Some(2));
    s.api
        .add_hpa("shop", "web", ["apps/v1", "Deployment", "web"]);
    let wrapper = kubectl_wrapper(&s, "-n shop");
    let o = lpa()
        .args([
            "run",
            "--scaler",
            "kubectl",
            "--target",
            "deployment/web",
            "--once",
        ])
        .arg(format!("--kubeconfig={}", s.kubeconfig.display()))
        .arg(format!("--kubectl={}", wrapper.display()))
        .arg(format!("--decay-info={}", s.state().display()))
        .arg(format!("--decision-log={}", s.log().display()))
        .arg(format!(
            "--evaluation-config={}",
            s.path("evaluation_config.yaml").display()
        ))
        .env("HOME", s.path(""))
        .env("locustHost", s.service.url())
        .env("locustRunTime", "1s")
        .output()
        .unwrap();
    one_error(
        &o,
        "deployment/web is scaled by the HorizontalPodAutoscaler shop/web too",
    );
    assert!(s.api.scale_writes().is_empty());
}

#[test]
fn without_context_the_dead_current_context_is_one_error_and_no_change() {
    let s = Setup::new(Some(2), SLOW);
    let (kubeconfig, dead, _held) = two_contexts(&s);
    write_state(&s, "{\"runs_since_change\": 1, \"last_replicas\": 2}");
    let before = fs::read(s.state()).unwrap();
    let o = s.run(&["--once", &format!("--kubeconfig={}", kubeconfig.display())]);
    let line = one_error(&o, "read replicas: ");
    assert!(
        line.contains(&format!("The connection to the server {dead} was refused")),
        "{line}"
    );
    assert!(stderr(&o).contains("(context dead)"), "{}", stderr(&o));
    assert!(s.api.requests().is_empty(), "the live server was not asked");
    assert_eq!(fs::read(s.state()).unwrap(), before, "state untouched");
    assert!(s.records().is_empty(), "no decision, no record");
    assert_eq!(s.replicas(), Some(2));
}

#[test]
fn a_context_not_in_the_kubeconfig_is_one_error_before_anything_runs() {
    let s = Setup::new(Some(2), SLOW);
    let (kubeconfig, _, _held) = two_contexts(&s);
    let o = s.run(&[
        "--once",
        &format!("--kubeconfig={}", kubeconfig.display()),
        "--context",
        "nope",
    ]);
    let line = one_error(&o, "context \"nope\" is not in kubeconfig ");
    assert!(
        line.ends_with(" (its contexts: \"dead\", \"live\")"),
        "{line}"
    );
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(s.api.requests().is_empty());
    assert!(!s.state().exists() && !s.log().exists());
    assert!(!s.path(".decay_info.json.lock").exists());
    // Named by $KUBECONFIG, the file is named too: which one to edit.
    let flagged = s.run_cmd("deployment/web", &["--once", "--context", "nope"]);
    let mut c = lpa();
    c.args(
        flagged
            .get_args()
            .filter(|a| !a.to_string_lossy().starts_with("--kubeconfig=")),
    );
    for (k, v) in flagged.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    let o = c.env("KUBECONFIG", &kubeconfig).output().unwrap();
    let line = one_error(&o, "context \"nope\" is not in the kubeconfig $KUBECONFIG=");
    assert!(line.contains(&kubeconfig.display().to_string()), "{line}");
    assert!(s.api.requests().is_empty());
}

#[test]
fn a_kubeconfig_kubectl_cannot_load_is_one_error_before_anything_runs() {
    let s = Setup::new(Some(2), SLOW);
    let broken = s.path("broken-kubeconfig");
    fs::write(&broken, "apiVersion: v1\nkind: Config\nclusters: [\n").unwrap();
    // Not --once: a loop would fail on it every cycle, for good.
    let o = s.run(&[
        &format!("--kubeconfig={}", broken.display()),
        "--max-cycles",
        "3",
        "--interval",
        "0",
    ]);
    let line = one_error(
        &o,
        &format!("kubeconfig {}: kubectl cannot load it: ", broken.display()),
    );
    assert!(line.contains("yaml: line 3"), "{line}");
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(s.api.requests().is_empty());
    assert!(!s.state().exists() && !s.log().exists());
    assert!(!s.path(".decay_info.json.lock").exists());
}

/// `kubectl get events` with the real kubectl, as a person would run it.
fn get_events(s: &Setup, extra: &[&str]) -> Output {
    Command::new(tool("kubectl"))
        .arg(format!("--kubeconfig={}", s.kubeconfig.display()))
        .args(["get", "events", "-n", "default"])
        .args(extra)
        .env("HOME", s.dir.path())
        .output()
        .unwrap()
}

#[test]
fn scales_refusals_failures_and_failed_probes_are_events_on_the_workload() {
    let s = Setup::new(Some(2), SLOW);
    // 2 -> 3 applied.
    ok(&s.run(&["--once"]));
    // 3 -> 4 refused: someone scales to 5 between lpa's read and kubectl's.
    s.api.on_request(outside_writer(5, |r| {
        r.method == "GET" && r.path.ends_with("/scale")
    }));
    ok(&s.run(&["--once"]));
    // Calm at 5: the outside change resets the counter, two calm runs, a decay.
    s.service.set_delay_ms(FAST);
    ok(&s.run(&["--max-cycles", "3", "--interval", "0s"]));
    assert_eq!(s.replicas(), Some(4));
    // Nothing listens there: the load test fails, nothing is decided.
    let (_held, dead) = refused_addr();
    let o = s
        .run_cmd("deployment/web", &["--once"])
        .env("locustHost", format!("http://{dead}"))
        .output()
        .unwrap();
    one_error(&o, "load test: ");
    // The workload is deleted as kubectl scale reads it: the scale fails.
    s.service.set_delay_ms(SLOW);
    let mut deleted = false;
    s.api.on_request(move |r, objects| {
        if !deleted && r.path.ends_with("/scale") {
            deleted = true;
            objects.clear();
        }
    });
    one_error(&s.run(&["--once"]), "scale: ");

    let records = s.records();
    let summaries: Vec<&str> = records
        .iter()
        .filter(|r| r.decided != r.current)
        .map(|r| r.summary.as_str())
        .collect();
    assert_eq!(summaries.len(), 4, "{records:?}");
    let events = s.api.events();
    let reasons: Vec<&str> = events
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "ScaledUp",
            "ScaleRefused",
            "ScaledDown",
            "ProbeFailed",
            "ScaleFailed"
        ]
    );
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for e in &events {
        assert_eq!(e["apiVersion"], "events.k8s.io/v1");
        assert_eq!(e["reportingController"], "lpa");
        assert_eq!(e["reportingInstance"], host.trim());
        assert_eq!(
            e["regarding"],
            serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                "namespace": "default", "uid": "stand-in-web"})
        );
        assert_eq!(e["metadata"]["namespace"], "default");
    }
    assert_eq!(events[0]["note"], summaries[0]);
    assert_eq!(events[0]["action"], "Scale");
    assert_eq!(events[3]["action"], "LoadTest");
    assert!(
        events[1]["note"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{} (not applied: deployment/web -n default: replicas changed outside lpa since they were read (expected 3, now 5)", summaries[1])),
        "{}",
        events[1]["note"]
    );
    assert!(
        events[3]["note"]
            .as_str()
            .unwrap()
            .starts_with("load test failed: "),
        "{}",
        events[3]["note"]
    );
    assert!(
        events[4]["note"]
            .as_str()
            .unwrap()
            .contains("(not applied: scale failed: "),
        "{}",
        events[4]["note"]
    );

    // What a person sees, through the real kubectl and its field selector.
    let o = get_events(&s, &["--field-selector", "involvedObject.name=web"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    eprintln!("kubectl get events --field-selector involvedObject.name=web:\n{text}");
    let lines: Vec<&str> = text.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    assert_eq!(lines.len(), 6, "{text}");
    for (line, (reason, kind)) in lines[1..].iter().zip([
        ("ScaledUp", "Normal"),
        ("ScaleRefused", "Warning"),
        ("ScaledDown", "Normal"),
        ("ProbeFailed", "Warning"),
        ("ScaleFailed", "Warning"),
    ]) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert!(cells[0].ends_with('s'), "{line}");
        assert_eq!(&cells[1..4], [kind, reason, "deployment/web"], "{line}");
    }
    assert!(lines[1].ends_with(summaries[0]), "{}", lines[1]);
    assert!(lines[3].ends_with(summaries[2]), "{}", lines[3]);
    let o = get_events(
        &s,
        &["--field-selector", "involvedObject.name=web", "-o", "wide"],
    );
    let wide = stdout(&o);
    assert!(
        wide.lines()
            .nth(1)
            .unwrap()
            .contains(&format!(" lpa, {} ", host.trim())),
        "SOURCE is the controller and the instance:\n{wide}"
    );
    // kubectl 1.37 reads core v1 events (the events.k8s.io ones, converted)
    // as a Table, with the selector for the server to apply.
    let lists: Vec<Request> = s
        .api
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/events"))
        .collect();
    assert_eq!(lists[0].path, "/api/v1/namespaces/default/events");
    assert!(
        lists[0]
            .query
            .contains("fieldSelector=involvedObject.name%3Dweb"),
        "{:?}",
        lists[0]
    );
    assert!(
        lists[0]
            .accept
            .starts_with("application/json;as=Table;v=v1;g=meta.k8s.io"),
        "{:?}",
        lists[0]
    );
    // lpa's creates: one POST each, to events.k8s.io.
    let posts: Vec<Request> = s
        .api
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 5);
    assert!(posts
        .iter()
        .all(|r| r.path == "/apis/events.k8s.io/v1/namespaces/default/events"));
    // The selector is the server's: another name has none.
    let o = get_events(&s, &["--field-selector", "involvedObject.name=other"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert!(
        stderr(&o).contains("No resources found in default namespace."),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_event_that_cannot_be_recorded_is_a_warning_and_the_scale_stands() {
    let s = Setup::new(Some(2), SLOW);
    s.api.forbid_events();
    let o = s.run(&["--once"]);
    ok(&o);
    assert_eq!(s.replicas(), Some(3));
    assert_eq!(s.saved_state()["last_replicas"], 3);
    let err = stderr(&o);
    let warning = err
        .lines()
        .find(|l| {
            l.starts_with(
                "lpa: warning: cannot record the ScaledUp event on deployment/web -n default: ",
            )
        })
        .unwrap_or_else(|| panic!("no warning:\n{err}"));
    assert!(
        warning.contains("create --raw /apis/events.k8s.io/v1/namespaces/default/events -f -")
            && warning.contains("Error from server (Forbidden): events.events.k8s.io is forbidden"),
        "{warning}"
    );
    assert!(s.api.events().is_empty());
}

const HPAS: &str = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers";

/// The requests for the namespace's HPA list.
fn hpa_lists(s: &Setup) -> Vec<Request> {
    let lists: Vec<Request> = s
        .api
        .requests()
        .into_iter()
        .filter(|r| r.path == HPAS)
        .collect();
    assert!(lists.iter().all(|r| r.method == "GET"), "{lists:?}");
    lists
}

#[test]
fn an_hpa_on_the_target_is_one_error_line_before_anything_runs() {
    let s = Setup::new(Some(2), SLOW);
    s.api
        .add_hpa("default", "web-cpu", ["apps/v1", "Deployment", "web"]);
    let o = s.run(&["--once"]);
    one_error(&o, "deployment/web -n default is scaled by the HorizontalPodAutoscaler default/web-cpu too, and two autoscalers on one workload scale over each other: delete the HPA (kubectl delete hpa web-cpu -n default), or scale deployment/web with one of them only");
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert_eq!(hpa_lists(&s).len(), 1, "one list request");
    assert!(s.api.scale_writes().is_empty());
    assert_eq!(s.replicas(), Some(2));
    assert!(!s.state().exists() && !s.log().exists());
    assert!(!s.path(".decay_info.json.lock").exists());
    assert!(s.api.events().is_empty());

    // A dry run scales nothing: it says so and runs.
    let o = s.run(&["--once", "--dry-run"]);
    ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains("lpa run: warning: deployment/web -n default is scaled by the HorizontalPodAutoscaler default/web-cpu too, and two autoscalers on one workload scale over each other: delete the HPA (kubectl delete hpa web-cpu -n default), or scale deployment/web with one of them only; a dry run scales nothing, so it runs"),
        "{err}"
    );
    assert!(s.api.scale_writes().is_empty());
    assert_eq!(s.records()[0].outcome, Outcome::DryRun);
}

#[test]
fn an_hpa_on_another_workload_lets_run_scale() {
    let s = Setup::new(Some(2), SLOW);
    s.api
        .add_hpa("default", "api", ["apps/v1", "Deployment", "api"]);
    // Same name, another kind; a kind in the wrong case, which the HPA
    // controller cannot map; the same target in another namespace.
    s.api
        .add_hpa("default", "db", ["apps/v1", "StatefulSet", "web"]);
    s.api
        .add_hpa("default", "typo", ["apps/v1", "deployment", "web"]);
    s.api
        .add_hpa("shop", "web", ["apps/v1", "Deployment", "web"]);
    let o = s.run(&["--once"]);
    ok(&o);
    assert!(
        !stderr(&o).contains("HorizontalPodAutoscaler"),
        "{}",
        stderr(&o)
    );
    assert_eq!(s.replicas(), Some(3));
    assert_eq!(hpa_lists(&s).len(), 1);
}

#[test]
fn an_hpa_list_forbidden_or_absent_is_one_warning_and_run_scales() {
    for (api, why) in [
        (HpaApi::Forbidden, "listing them in default is forbidden (RBAC: list on horizontalpodautoscalers in autoscaling)"),
        (HpaApi::Absent, "the API server has no autoscaling/v2 API"),
    ] {
        let s = Setup::new(Some(2), SLOW);
        s.api.set_hpa_api(api);
        let o = s.run(&["--once"]);
        ok(&o);
        let err = stderr(&o);
        let warnings: Vec<&str> = err.lines().filter(|l| l.contains("HorizontalPodAutoscaler")).collect();
        assert_eq!(
            warnings,
            [format!("lpa run: warning: not checked for a HorizontalPodAutoscaler on deployment/web: {why}")],
            "{err}"
        );
        assert_eq!(s.replicas(), Some(3));
        assert_eq!(s.saved_state()["last_replicas"], 3);
        assert_eq!(hpa_lists(&s).len(), 1);
    }
}

#[test]
fn a_refusal_at_the_count_asked_for_is_applied_unless_an_hpa_scales_it_too() {
    // Another sets the count lpa asks for just before lpa's scale: the
    // count is lpa's decision, taken as applied; where an HPA scales the
    // workload too, the refusal names it, as any other.
    for hpa in [false, true] {
        let s = Setup::new(Some(2), SLOW);
        if hpa {
            hpa_at_scale_read(&s);
        }
        s.api.on_request(outside_writer(3, scale_read));
        let o = s.run(&["--once"]);
        ok(&o);
        assert_eq!(s.replicas(), Some(3));
        let r = s.records();
        assert_eq!(
            matches!(r[0].outcome, Outcome::Applied),
            !hpa,
            "{:?}: {}",
            r[0].outcome,
            stderr(&o)
        );
        assert!(s.api.scale_writes().is_empty(), "lpa wrote nothing");
    }
}

/// kubectl's read of the workload's scale subresource, before its write.
fn scale_read(r: &Request) -> bool {
    r.method == "GET" && r.path.ends_with("/scale")
}

/// An HPA on the workload, created after lpa started: at kubectl's read of
/// the scale, just before lpa's scale.
fn hpa_at_scale_read(s: &Setup) {
    s.api.add_hpa_at(
        scale_read,
        "default",
        "web",
        ["apps/v1", "Deployment", "web"],
    );
}

#[test]
fn a_refused_scale_names_the_hpa_that_targets_the_workload_by_then() {
    let s = Setup::new(Some(2), SLOW);
    hpa_at_scale_read(&s);
    s.api.on_request(outside_writer(5, scale_read));
    let o = s.run(&["--once"]);
    ok(&o);
    assert_eq!(s.replicas(), Some(5));
    let r = s.records();
    let Outcome::OutsideChange { detail, .. } = &r[0].outcome else {
        panic!("not refused: {:?}", r[0].outcome)
    };
    assert!(
        detail.ends_with("replicas changed outside lpa since they were read (expected 2, now 5; the HorizontalPodAutoscaler default/web scales it too); not overwritten"),
        "{detail}"
    );
    assert!(stderr(&o).contains(detail.as_str()), "{}", stderr(&o));
    let events = s.api.events();
    assert!(
        events[0]["note"]
            .as_str()
            .unwrap()
            .contains("the HorizontalPodAutoscaler default/web scales it too"),
        "{events:?}"
    );
    // One list at start, one for the refusal.
    assert_eq!(hpa_lists(&s).len(), 2);
}

/// The decision records of a log other than the setup's own.
fn records_in(path: &Path) -> Vec<DecisionRecord> {
    fs::read_to_string(path)
        .map(|t| {
            t.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits (bounded) until `done`, or fails naming `what`.
fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGTERM, then the output of a loop that must stop within 30 s.
fn terminate(child: std::process::Child) -> Output {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut child = child;
    wait_for("lpa to stop on SIGTERM", 30, || {
        child.try_wait().unwrap().is_some()
    });
    child.wait_with_output().unwrap()
}

#[test]
fn a_second_stop_signal_ends_the_kubectl_it_runs_too() {
    // The scale is made and never answered: kubectl waits on it (as it
    // retries a conflict, for minutes), and a second signal ends lpa at
    // once. Left running, kubectl outlived lpa by its request timeout.
    let s = Setup::new(Some(2), SLOW);
    s.api.set_mode(Mode::ApplyThenHang);
    let mut child = s.spawn(&["--interval", "60s", "--kubectl-timeout", "25s"]);
    wait_for("the scale write", 60, || !s.api.scale_writes().is_empty());
    // kubectl's argv names this test's kubeconfig, and `scale`.
    let mine = s.kubeconfig.display().to_string();
    let kubectls = || {
        fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| fs::read(e.ok()?.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).into_owned())
            .filter(|c| c.contains(&mine) && c.contains("\0scale\0"))
            .count()
    };
    assert_eq!(kubectls(), 1, "kubectl scale runs");
    for _ in 0..2 {
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_for("lpa to exit", 10, || child.try_wait().unwrap().is_some());
    assert_eq!(child.wait().unwrap().code(), Some(1));
    wait_for("kubectl to end", 5, || kubectls() == 0);
}

#[test]
fn two_loops_on_one_lease_scale_one_at_a_time_and_hand_over_on_stop() {
    let s = Setup::new(Some(2), SLOW);
    let log_b = s.path("b.jsonl");
    let loop_of = |state: &str, log: &Path| {
        s.run_cmd(
            "deployment/web",
            &[
                "--lease",
                "lpa-web",
                "--interval",
                "1s",
                &format!("--decay-info={}", s.path(state).display()),
                &format!("--decision-log={}", log.display()),
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
    };
    let a = loop_of("a.json", &s.log());
    wait_for("the first loop's first decision", 60, || {
        !s.records().is_empty()
    });
    let b = loop_of("b.json", &log_b);
    // B reads the Lease each cycle and stands by; A goes on deciding.
    let decided = s.records().len();
    wait_for("the first loop's next decisions", 60, || {
        s.records().len() >= decided + 3
    });
    assert!(records_in(&log_b).is_empty(), "the standby decided");
    let holder = s.api.lease("default", "lpa-web").expect("a Lease")["spec"]["holderIdentity"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(holder.contains(&format!("_{}_", a.id())), "{holder}");
    let out_a = terminate(a);
    ok(&out_a);
    let err_a = stderr(&out_a);
    assert!(
        err_a.contains("lease default/lpa-web: created, held by ")
            && err_a.contains("lpa run: lease default/lpa-web: released"),
        "{err_a}"
    );
    let a_last = s.records().last().unwrap().at_secs;
    // Released, the Lease goes to B at its next cycle, not after its
    // duration: B takes it with no holder (below), where a Lease run out
    // is taken from its last holder. Said, not timed: a busy machine's
    // cycle is long.
    wait_for("the standby to take over", 60, || {
        !records_in(&log_b).is_empty()
    });
    let out_b = terminate(b);
    ok(&out_b);
    let err_b = stderr(&out_b);
    assert!(
        err_b.contains(&format!(
            "standby: lease default/lpa-web held by {holder} (renewed "
        )) && err_b.contains("lease default/lpa-web: taken by ")
            && err_b.contains(" (no holder)"),
        "{err_b}"
    );
    // One at a time: B decided only after A's last decision.
    let b_records = records_in(&log_b);
    assert!(
        b_records[0].at_secs >= a_last,
        "{} < {a_last}",
        b_records[0].at_secs
    );
    // Every scale write was one loop's decision: A's then B's, each from
    // the count the one before left.
    let decided: Vec<(u32, u32)> = s
        .records()
        .iter()
        .chain(&b_records)
        .filter(|r| r.decided != r.current && r.outcome.is_applied())
        .map(|r| (r.current, r.decided))
        .collect();
    assert_eq!(s.api.scale_writes().len(), decided.len(), "{decided:?}");
    assert!(decided.windows(2).all(|w| w[0].1 == w[1].0), "{decided:?}");
    let lease = s.api.lease("default", "lpa-web").unwrap();
    assert!(lease["spec"].get("holderIdentity").is_none(), "{lease}");
    assert_eq!(lease["spec"]["leaseTransitions"], 1, "{lease}");
}

#[test]
fn a_release_on_stopping_is_one_short_write_within_a_pod_grace_period() {
    let s = Setup::new(Some(2), SLOW);
    let child = s.spawn(&[
        "--lease",
        "lpa-web",
        "--interval",
        "60s",
        "--kubectl-timeout",
        "25s",
    ]);
    // The first cycle scaled and told the workload: the loop waits.
    wait_for("the first cycle's event", 60, || !s.api.events().is_empty());
    let before = s.api.requests().len();
    // The API server stops answering, as it does when the pod's node is
    // cut off from it: the release must not take a whole kubectl timeout
    // (two, with a read first), past the 30 s a pod has to stop.
    s.api.set_mode(Mode::Hang);
    let stopping = Instant::now();
    let out = terminate(child);
    let took = stopping.elapsed();
    ok(&out);
    let err = stderr(&out);
    assert!(
        took < Duration::from_secs(10),
        "took {took:?} to stop:\n{err}"
    );
    assert!(
        err.contains("lpa run: warning: cannot release the lease: "),
        "{err}"
    );
    // One request: the write, with the resourceVersion of the last one.
    let sent: Vec<Request> = s.api.requests().split_off(before);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].method, "PUT");
    assert_eq!(
        sent[0].path,
        "/apis/coordination.k8s.io/v1/namespaces/default/leases/lpa-web"
    );
}

#[test]
fn a_lease_held_by_another_process_of_the_same_host_and_pid_is_not_taken_as_ours() {
    // Two containers of one pod (or two pods with hostNetwork on one
    // node) share a host name, and each runs lpa as pid 1 of its own.
    let s = Setup::new(Some(2), SLOW);
    let cmd = s.run_cmd("deployment/web", &["--lease", "lpa-web", "--once"]);
    // sh execs lpa once the Lease is in place: lpa has sh's pid.
    let mut wrapped = Command::new("sh");
    wrapped
        .args(["-c", "read go; exec \"$@\"", "sh"])
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    let mut child = wrapped.spawn().unwrap();
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let other = format!("{}_{}", host.trim(), child.id());
    s.api.put_lease(
        "default",
        "lpa-web",
        serde_json::json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "lpa-web", "namespace": "default"},
            "spec": {"holderIdentity": other, "leaseDurationSeconds": 60,
                     "leaseTransitions": 1}}),
    );
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"go\n").unwrap();
    }
    let o = child.wait_with_output().unwrap();
    ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "standby: lease default/lpa-web held by {other} (renewed 0s ago, as read here)"
        )),
        "{err}"
    );
    assert!(s.records().is_empty() && s.api.scale_writes().is_empty());
    assert_eq!(
        s.api.lease("default", "lpa-web").unwrap()["spec"]["holderIdentity"],
        other.as_str()
    );
}

#[test]
fn a_loop_stopped_during_its_read_neither_takes_the_lease_nor_load_tests() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let s = Setup::new(Some(2), SLOW);
    // The first read of the workload is slow; the signal comes during it.
    let reading = Arc::new(AtomicBool::new(false));
    let flag = reading.clone();
    s.api.on_request(move |r, _| {
        if r.method == "GET"
            && r.path.ends_with("/deployments/web")
            && !flag.swap(true, Ordering::SeqCst)
        {
            std::thread::sleep(Duration::from_millis(1500));
        }
    });
    let child = s
        .run_cmd(
            "deployment/web",
            &["--lease", "lpa-web", "--interval", "60s"],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the first read", 30, || reading.load(Ordering::SeqCst));
    let out = terminate(child);
    ok(&out);
    let err = stderr(&out);
    assert!(
        err.contains("lpa run: stopped by signal after 0 cycles; state untouched (no cycle ran)"),
        "{err}"
    );
    assert!(
        !s.api.requests().iter().any(|r| r.path.contains("/leases")),
        "{err}"
    );
    assert!(s.service.requests().is_empty(), "load-tested:\n{err}");
}

/// Stores the Lease `lpa-web` in `default` as another holder wrote it:
/// `metadata` beside its name and namespace, and `spec`.
fn put_lease(s: &Setup, metadata: Value, spec: Value) {
    let mut lease = serde_json::json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": metadata, "spec": spec});
    lease["metadata"]["name"] = "lpa-web".into();
    lease["metadata"]["namespace"] = "default".into();
    s.api.put_lease("default", "lpa-web", lease);
}

/// `cycles` cycles a second apart on the Lease `lpa-web`.
fn run_on_lease(s: &Setup, cycles: &str) -> Output {
    s.run(&[
        "--lease",
        "lpa-web",
        "--interval",
        "1s",
        "--max-cycles",
        cycles,
    ])
}

/// The kubeconfig is one of the loop's inputs: a state file or a
/// decision log on it replaced or appended to it, and every kubectl call
/// after failed.
#[test]
fn an_output_on_the_kubeconfig_is_one_error_and_the_kubeconfig_kept() {
    let s = Setup::new(Some(2), SLOW);
    let kept = fs::read_to_string(&s.kubeconfig).unwrap();
    let at_it = format!("{}", s.kubeconfig.display());
    for (flag, want) in [
        ("--decay-info", "the kubeconfig"),
        ("--decision-log", "is the same file as the kubeconfig"),
    ] {
        let o = s.run(&["--once", &format!("{flag}={at_it}")]);
        one_error(&o, want);
        assert_eq!(fs::read_to_string(&s.kubeconfig).unwrap(), kept);
    }
    assert!(s.api.scale_writes().is_empty());
}

/// A loop that only stood by saved nothing, and its last line says so.
#[test]
fn a_standby_stopped_by_a_signal_says_it_saved_nothing() {
    let s = Setup::new(Some(2), SLOW);
    put_lease(
        &s,
        serde_json::json!({"annotations": {"lpa/target": "deployment/web"}}),
        serde_json::json!({"holderIdentity": "other_1_abc", "leaseDurationSeconds": 3600}),
    );
    let child = s.spawn(&["--lease", "lpa-web", "--interval", "1s"]);
    let lease_reads = || {
        s.api
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/leases/lpa-web"))
            .count()
    };
    wait_for("two cycles standing by", 60, || lease_reads() >= 2);
    let o = terminate(child);
    ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains("; state untouched (no cycle decided and saved it)"),
        "{err}"
    );
    assert!(!s.state().exists());
}

#[test]
fn a_lease_its_holder_stopped_renewing_is_taken_after_its_duration() {
    // Also where another tool writes the Lease's metadata at every read:
    // its resourceVersion moves, its holder's record does not.
    for relabelled in [false, true] {
        lease_not_renewed_is_taken(relabelled);
    }
}

fn lease_not_renewed_is_taken(relabelled: bool) {
    let s = Setup::new(Some(2), SLOW);
    put_lease(
        &s,
        serde_json::json!({}),
        serde_json::json!({"holderIdentity": "gone_1", "leaseDurationSeconds": 2,
                     "renewTime": "2026-01-01T00:00:00.000000Z", "leaseTransitions": 4}),
    );
    if relabelled {
        s.api.relabel_leases();
    }
    let started = Instant::now();
    let o = run_on_lease(&s, "5");
    ok(&o);
    let err = stderr(&o);
    // The renewTime is months old, but only this host's clock counts: the
    // record has to stay unchanged for the 2 s it says.
    assert!(
        err.contains("#1 deployment/web -n default: standby: lease default/lpa-web held by gone_1 (renewed 0s ago, as read here)"),
        "{err}"
    );
    assert!(
        err.contains("lease default/lpa-web: taken by ")
            && err.contains(" from gone_1 (not renewed for "),
        "{err}"
    );
    let records = s.records();
    assert!(
        !records.is_empty() && records.len() < 5,
        "{}",
        records.len()
    );
    assert_eq!(s.api.scale_writes().len(), records.len());
    assert!(started.elapsed() >= Duration::from_secs(2));
    let lease = s.api.lease("default", "lpa-web").unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 5, "{lease}");
}

#[test]
fn a_lease_another_tool_wrote_keeps_its_other_fields_through_a_take_and_a_release() {
    let s = Setup::new(Some(2), SLOW);
    put_lease(
        &s,
        serde_json::json!({"labels": {"team": "shop"}, "annotations": {"note": "kept"}}),
        serde_json::json!({"holderIdentity": "gone_1", "leaseDurationSeconds": 1,
                     "preferredHolder": "gone_1", "strategy": "OldestEmulationVersion",
                     "leaseTransitions": 4}),
    );
    let o = run_on_lease(&s, "4");
    ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains(" from gone_1 (not renewed for ") && err.contains(": released"),
        "{err}"
    );
    let lease = s.api.lease("default", "lpa-web").unwrap();
    assert_eq!(lease["metadata"]["labels"]["team"], "shop", "{lease}");
    assert_eq!(lease["metadata"]["annotations"]["note"], "kept", "{lease}");
    assert_eq!(lease["spec"]["preferredHolder"], "gone_1", "{lease}");
    assert_eq!(
        lease["spec"]["strategy"], "OldestEmulationVersion",
        "{lease}"
    );
    assert_eq!(lease["spec"]["leaseTransitions"], 5, "{lease}");
    assert!(lease["spec"].get("holderIdentity").is_none(), "{lease}");
}

#[test]
fn a_once_run_creates_the_lease_scales_and_leaves_it_free() {
    let s = Setup::new(Some(2), SLOW);
    let o = s.run(&["--lease", "lpa-web", "--once"]);
    ok(&o);
    assert_eq!(s.replicas(), Some(3));
    let err = stderr(&o);
    assert!(
        err.contains(": created, held by ") && err.contains("lease default/lpa-web: released"),
        "{err}"
    );
    let lease = s.api.lease("default", "lpa-web").unwrap();
    assert!(lease["spec"].get("holderIdentity").is_none(), "{lease}");
    assert_eq!(lease["spec"]["leaseTransitions"], 0, "{lease}");
    // Read, created, released: the release writes the Lease as created.
    let calls: Vec<String> = s
        .api
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/leases"))
        .map(|r| r.method)
        .collect();
    assert_eq!(calls, ["GET", "POST", "PUT"]);
}

#[test]
fn a_loop_that_loses_the_race_for_a_free_lease_stands_by() {
    let released = serde_json::json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "lpa-web", "namespace": "default"},
        "spec": {"leaseDurationSeconds": 1, "leaseTransitions": 2}});
    // Released by its holder, so free, and none yet: each time another
    // loop writes it first.
    for (before, lost) in [
        (Some(released), "written by another instance first"),
        (None, "created by another instance first"),
    ] {
        let s = Setup::new(Some(2), SLOW);
        if let Some(lease) = before {
            s.api.put_lease("default", "lpa-web", lease);
        }
        s.api.race_lease_writes("racer_1");
        let o = s.run(&["--lease", "lpa-web", "--once"]);
        ok(&o);
        let want = format!("#1 deployment/web -n default: standby: lease default/lpa-web {lost}");
        assert!(stderr(&o).contains(&want), "{}", stderr(&o));
        assert!(s.records().is_empty() && s.api.scale_writes().is_empty());
        assert_eq!(
            s.api.lease("default", "lpa-web").unwrap()["spec"]["holderIdentity"],
            "racer_1"
        );
    }
}

#[test]
fn one_lease_named_for_two_targets_is_an_error_not_a_standby_for_good() {
    let s = Setup::new(Some(2), SLOW);
    s.api.add("deployments", "default", "api", Some(2));
    ok(&s.run(&["--lease", "lpa", "--once"]));
    let lease = s.api.lease("default", "lpa").unwrap();
    assert_eq!(
        lease["metadata"]["annotations"]["lpa/target"], "deployment/web",
        "{lease}"
    );
    // A loop on another target, given the same name: its Lease is held
    // (released, here, but it would be renewed), and it must not wait on
    // it for ever.
    let o = s
        .run_cmd("deployment/api", &["--lease", "lpa", "--once"])
        .output()
        .unwrap();
    one_error(
        &o,
        "lease: lease default/lpa guards deployment/web (its lpa/target annotation), not deployment/api: give each target a --lease of its own",
    );
    assert_eq!(s.api.replicas("deployments", "default", "api"), Some(2));
}

#[test]
fn a_dry_run_neither_reads_nor_takes_the_lease() {
    let s = Setup::new(Some(2), SLOW);
    let o = s.run(&["--lease", "lpa-web", "--dry-run", "--once"]);
    ok(&o);
    assert!(
        stderr(&o).contains("lease lpa-web: neither read nor taken in a dry run"),
        "{}",
        stderr(&o)
    );
    assert!(s.api.lease("default", "lpa-web").is_none());
    assert!(!s.api.requests().iter().any(|r| r.path.contains("leases")));
}

#[test]
fn a_bad_lease_name_or_a_lease_without_a_cluster_is_one_error_line() {
    let s = Setup::new(Some(2), SLOW);
    one_error(
        &s.run(&["--lease", "Web_Lease", "--once"]),
        "--lease (or LPA_LEASE): invalid value \"Web_Lease\" (expected a Kubernetes name",
    );
    let o = lpa()
        .args([
            "run",
            "--scaler",
            "local",
            "--replica-cmd",
            "true",
            "--lease",
            "lpa-web",
            "--once",
        ])
        .output()
        .unwrap();
    one_error(
        &o,
        "--lease lpa-web: a Lease is kept in a cluster; it needs --scaler kubectl",
    );
    assert!(s.api.requests().is_empty());
}

/// The state's copy `lpa-state` in `default`, as stored: its annotations
/// and its `state.json` read as JSON.
fn state_map(s: &Setup) -> (Value, Value) {
    let map = s
        .api
        .configmap("default", "lpa-state")
        .expect("the ConfigMap lpa-state");
    let json = map["data"]["state.json"].as_str().expect("state.json");
    (
        map["metadata"]["annotations"].clone(),
        serde_json::from_str(json).unwrap(),
    )
}

/// The requests made of the ConfigMap `lpa-state`.
fn state_map_calls(s: &Setup) -> Vec<String> {
    s.api.configmap_calls("default")
}

/// Stores the ConfigMap `lpa-state` in `default` as another loop (or a
/// hand) wrote it: `state.json` holding `json`, annotated for `target`.
fn put_state_map(s: &Setup, target: Option<&str>, json: &str) {
    let annotations = match target {
        Some(t) => serde_json::json!({ "lpa/target": t }),
        None => serde_json::json!({}),
    };
    s.api.put_configmap(
        "default",
        "lpa-state",
        annotations,
        serde_json::json!({ "state.json": json }),
    );
}

#[test]
fn a_new_pod_goes_on_from_the_state_the_last_loop_kept_in_its_configmap() {
    let s = Setup::new(Some(3), FAST);
    let o = s.run(&["--state-configmap", "lpa-state", "--once"]);
    ok(&o);
    assert!(
        stderr(&o).contains("hold 3 (calm run 1 of 2 before decay)"),
        "{}",
        stderr(&o)
    );
    let (annotations, state) = state_map(&s);
    assert_eq!(annotations["lpa/target"], "deployment/web");
    assert_eq!(state, s.saved_state());
    assert_eq!(state_map_calls(&s), ["GET", "POST"]);
    let version = s.api.configmap("default", "lpa-state").unwrap()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();

    // A new pod: its state directory is empty, the ConfigMap is not.
    let fresh = tempfile::tempdir().unwrap();
    let o = s.run(&[
        "--state-configmap",
        "lpa-state",
        &format!(
            "--decay-info={}",
            fresh.path().join("decay_info.json").display()
        ),
        &format!("--decision-log={}", fresh.path().join("d.jsonl").display()),
        "--max-cycles",
        "2",
        "--interval",
        "0s",
    ]);
    ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("#1 deployment/web -n default: state: read from configmap default/lpa-state (resourceVersion {version}), in place of the state file's")),
        "{err}"
    );
    // The calm run it counted is the second of two, where a loop that
    // started afresh would count its first; then the decay.
    assert!(
        err.contains("#1 deployment/web -n default: GET_/work mean ")
            && err.contains("; hold 3 (calm run 2 of 2 before decay) => 3 (unchanged)"),
        "{err}"
    );
    let records = records_in(&fresh.path().join("d.jsonl"));
    assert_eq!(
        records[1].reasons.last(),
        Some(&Reason::Decay { from: 3, to: 2 }),
        "{err}"
    );
    assert_eq!(s.replicas(), Some(2));
    // Each cycle wrote it, naming the version it read or last wrote.
    let calls = state_map_calls(&s);
    assert_eq!(calls.len(), 5, "{calls:?}");
    assert_eq!(calls[2], "GET");
    assert_eq!(calls[3], format!("PUT {version}"));
    assert!(
        calls[4].starts_with("PUT ") && calls[4] != calls[3],
        "{calls:?}"
    );
    let (_, state) = state_map(&s);
    let local: Value =
        serde_json::from_str(&fs::read_to_string(fresh.path().join("decay_info.json")).unwrap())
            .unwrap();
    assert_eq!(state, local);
    assert_eq!(state["last_replicas"], 2);
}

#[test]
fn a_standby_that_takes_the_lease_over_decides_from_the_holders_state() {
    let s = Setup::new(Some(3), FAST);
    // This loop's own file says no calm run yet; the holder, which
    // stopped renewing, kept one in the ConfigMap.
    write_state(&s, r#"{"runs_since_change":0,"last_replicas":3}"#);
    put_lease(
        &s,
        serde_json::json!({}),
        serde_json::json!({"holderIdentity": "gone_1", "leaseDurationSeconds": 2,
                     "leaseTransitions": 1}),
    );
    put_state_map(
        &s,
        Some("deployment/web"),
        r#"{"runs_since_change":1,"last_replicas":3}"#,
    );
    let o = s.run(&[
        "--lease",
        "lpa-web",
        "--state-configmap",
        "lpa-state",
        "--interval",
        "1s",
        "--max-cycles",
        "5",
    ]);
    ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains("#1 deployment/web -n default: standby: lease default/lpa-web held by gone_1")
            && err.contains(" from gone_1 (not renewed for ")
            && err.contains("state: read from configmap default/lpa-state (resourceVersion "),
        "{err}"
    );
    let records = s.records();
    assert_eq!(
        records[0].reasons.last(),
        Some(&Reason::Hold {
            replicas: 3,
            calm_runs: 2,
            needed: 2
        }),
        "{err}"
    );
    // The standby cycles wrote nothing: the first write is the taker's.
    let calls = state_map_calls(&s);
    assert_eq!(calls[0], "GET", "{calls:?}");
    assert_eq!(calls.len(), 1 + records.len(), "{calls:?}");
}

#[test]
fn a_state_configmap_of_another_target_is_one_error_line() {
    let s = Setup::new(Some(2), SLOW);
    let theirs = r#"{"runs_since_change":1,"last_replicas":4}"#;
    put_state_map(&s, Some("deployment/api"), theirs);
    let o = s.run(&["--state-configmap", "lpa-state", "--once"]);
    one_error(
        &o,
        "state configmap: configmap default/lpa-state keeps the state of deployment/api (its lpa/target annotation), not deployment/web: give each target a --state-configmap of its own",
    );
    assert_eq!(s.replicas(), Some(2));
    assert!(s.records().is_empty() && s.service.requests().is_empty());
    assert_eq!(
        s.api.configmap("default", "lpa-state").unwrap()["data"]["state.json"],
        theirs
    );
}

#[test]
fn a_state_configmap_that_is_not_state_is_a_warning_and_the_state_file_decides() {
    let s = Setup::new(Some(3), FAST);
    write_state(&s, r#"{"runs_since_change":2,"last_replicas":3}"#);
    put_state_map(&s, None, "[5, 2]");
    let o = s.run(&["--state-configmap", "lpa-state", "--once"]);
    ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "lpa: warning: configmap default/lpa-state: not valid state (holds an array, not a state object): deciding from the state file {}; the next save writes over it",
            s.state().display()
        )),
        "{err}"
    );
    assert_eq!(
        s.records()[0].reasons.last(),
        Some(&Reason::Decay { from: 3, to: 2 })
    );
    let (annotations, state) = state_map(&s);
    assert_eq!(state, s.saved_state());
    assert_eq!(annotations["lpa/target"], "deployment/web");
}

#[test]
fn a_state_configmap_write_refused_or_failing_is_a_warning_and_the_cycle_scales() {
    for (status, said) in [(403, "(Forbidden)"), (500, "(InternalError)")] {
        let s = Setup::new(Some(2), SLOW);
        s.api.refuse_configmap_writes(Some(status));
        let o = s.run(&["--state-configmap", "lpa-state", "--once"]);
        ok(&o);
        let err = stderr(&o);
        let warning = err
            .lines()
            .find(|l| l.starts_with("lpa: warning: state saved in "))
            .unwrap_or_else(|| panic!("no warning:\n{err}"));
        assert!(
            warning.contains(&format!("{} but not in the cluster: ", s.state().display()))
                && warning.contains(said),
            "{warning}"
        );
        assert!(err.contains("(scaled 2 -> 3)"), "{err}");
        assert_eq!(s.replicas(), Some(3));
        assert_eq!(s.saved_state()["last_replicas"], 3);
        assert!(s.api.configmap("default", "lpa-state").is_none());
    }
}

#[test]
fn a_state_configmap_without_a_cluster_is_one_error_and_a_dry_run_only_reads_it() {
    let o = lpa()
        .args([
            "run",
            "--scaler",
            "local",
            "--replica-cmd",
            "true",
            "--state-configmap",
            "lpa-state",
            "--once",
        ])
        .output()
        .unwrap();
    one_error(
        &o,
        "--state-configmap lpa-state: a ConfigMap is kept in a cluster; it needs --scaler kubectl",
    );
    // A dry run decides from the state the deciding loop kept, and
    // writes neither it nor its own file.
    let s = Setup::new(Some(3), FAST);
    let kept = r#"{"runs_since_change":2,"last_replicas":3}"#;
    put_state_map(&s, Some("deployment/web"), kept);
    let o = s.run(&["--state-configmap", "lpa-state", "--dry-run", "--once"]);
    ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains("state configmap lpa-state: read before each decision, never written in a dry run")
            && err.contains("#1 deployment/web -n default: state: read from configmap default/lpa-state (resourceVersion ")
            && err.contains("): the dry run decides from it, and writes neither it nor the state file"),
        "{err}"
    );
    let records = s.records();
    assert_eq!(
        records[0].reasons.last(),
        Some(&Reason::Decay { from: 3, to: 2 }),
        "{err}"
    );
    assert_eq!(records[0].outcome, Outcome::DryRun);
    assert_eq!(s.replicas(), Some(3));
    assert!(!s.state().exists());
    assert_eq!(state_map_calls(&s), ["GET"]);
    assert_eq!(
        s.api.configmap("default", "lpa-state").unwrap()["data"]["state.json"],
        kept
    );
}

#[test]
fn a_loop_that_takes_its_lease_back_reads_the_state_the_holder_wrote_meanwhile() {
    let s = Setup::new(Some(3), FAST);
    let child = s.spawn(&[
        "--lease",
        "lpa-web",
        "--state-configmap",
        "lpa-state",
        "--interval",
        "3s",
        "--max-cycles",
        "3",
    ]);
    // The first cycle: a calm run of this loop's, kept in the ConfigMap.
    wait_for("the first decision", 60, || !s.records().is_empty());
    assert_eq!(state_map(&s).1["runs_since_change"], 1);
    // Another loop takes the Lease, counts a calm run more, and stops
    // renewing.
    put_lease(
        &s,
        serde_json::json!({"annotations": {"lpa/target": "deployment/web"}}),
        serde_json::json!({"holderIdentity": "other_1", "leaseDurationSeconds": 2,
                     "leaseTransitions": 1}),
    );
    put_state_map(
        &s,
        Some("deployment/web"),
        r#"{"runs_since_change":2,"last_replicas":3}"#,
    );
    let o = child.wait_with_output().unwrap();
    ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains("#2 deployment/web -n default: standby: lease default/lpa-web lost: now held by other_1")
            && err.contains(" from other_1 (not renewed for ")
            && err.contains("#3 deployment/web -n default: state: read from configmap default/lpa-state"),
        "{err}"
    );
    // Its own file said one calm run; the holder's state, two: a decay.
    let records = s.records();
    assert_eq!(records.len(), 2, "{err}");
    assert_eq!(
        records[1].reasons.last(),
        Some(&Reason::Decay { from: 3, to: 2 }),
        "{err}"
    );
    assert_eq!(s.replicas(), Some(2));
}

#[test]
fn a_restart_after_failed_writes_keeps_its_newer_state_file() {
    let s = Setup::new(Some(3), FAST);
    let run = || s.run(&["--state-configmap", "lpa-state", "--once"]);
    ok(&run());
    // The next save reaches the file only: the ConfigMap says one calm
    // run, the file two.
    s.api.refuse_configmap_writes(Some(500));
    let o = run();
    ok(&o);
    assert!(
        stderr(&o).contains("but not in the cluster: "),
        "{}",
        stderr(&o)
    );
    assert_eq!(state_map(&s).1["runs_since_change"], 1);
    assert_eq!(s.saved_state()["runs_since_change"], 2);
    // Restarted in the same pod, the loop finds the ConfigMap as it last
    // wrote it: no one wrote it since, so the file is newer, and decays.
    s.api.refuse_configmap_writes(None);
    let o = run();
    ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains("state: configmap default/lpa-state (resourceVersion ")
            && err.contains(") is unchanged since the state file was last in step with it: the file, as new or newer, decides")
            && err.contains("decay 3 -> 2"),
        "{err}"
    );
    assert_eq!(s.replicas(), Some(2));
    assert_eq!(state_map(&s).1, s.saved_state());
}

/// `n` cycles back to back, with `extra`.
fn run_cycles(s: &Setup, n: &str, extra: &[&str]) -> Output {
    let cycles = ["--max-cycles", n, "--interval", "0s"];
    s.run(&[extra, &cycles[..]].concat())
}

#[test]
fn a_state_configmap_deleted_while_the_loop_runs_is_created_again() {
    let s = Setup::new(Some(3), FAST);
    // Deleted by hand (or with its namespace's cleanup) after the first
    // cycle wrote it: the replace that follows finds none.
    s.api.delete_configmap_once_written();
    let o = run_cycles(&s, "3", &["--state-configmap", "lpa-state"]);
    ok(&o);
    let err = stderr(&o);
    assert!(!err.contains("but not in the cluster"), "{err}");
    let calls = state_map_calls(&s);
    assert_eq!(calls[..2], ["GET", "POST"], "{calls:?}");
    assert!(calls[2].starts_with("PUT "), "{calls:?}");
    assert_eq!(calls[3], "POST", "{calls:?}");
    assert!(calls[4].starts_with("PUT "), "{calls:?}");
    assert_eq!(state_map(&s).1, s.saved_state());
}

/// Stores the ConfigMap `lpa-state` in `default` with `data`, as made by
/// hand: no annotation.
fn put_state_data(s: &Setup, data: Value) {
    s.api
        .put_configmap("default", "lpa-state", serde_json::json!({}), data);
}

#[test]
fn a_state_configmap_keeps_the_keys_it_does_not_write() {
    let s = Setup::new(Some(3), FAST);
    // Created by hand (a kustomize generator, a kubectl edit) with a
    // note beside the state.
    put_state_data(
        &s,
        serde_json::json!({ "state.json": "{\"runs_since_change\":1}", "owner": "team-web" }),
    );
    let o = s.run(&["--state-configmap", "lpa-state", "--once"]);
    ok(&o);
    let map = s.api.configmap("default", "lpa-state").unwrap();
    assert_eq!(map["data"]["owner"], "team-web", "{map}");
    assert_eq!(state_map(&s).1, s.saved_state());
    assert_eq!(s.saved_state()["runs_since_change"], 2);
}

#[test]
fn a_state_configmap_its_other_keys_fill_is_not_written_past_the_limit() {
    let s = Setup::new(Some(3), FAST);
    // A key beside the state that leaves it no room: the API server
    // counts every key, and lpa keeps them.
    let filler = "x".repeat(999_960);
    put_state_data(
        &s,
        serde_json::json!({ "state.json": "{\"runs_since_change\":1}", "blob": filler }),
    );
    let o = s.run(&["--state-configmap", "lpa-state", "--once"]);
    ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains("configmap default/lpa-state: not written: the state is ")
            && err.contains(
                " bytes and the ConfigMap's other keys 999964, past the 1000000 a ConfigMap holds"
            ),
        "{err}"
    );
    assert_eq!(state_map_calls(&s), ["GET"]);
    // The file has it.
    assert_eq!(s.saved_state()["runs_since_change"], 2);
}

#[test]
fn a_dry_run_decides_each_cycle_from_the_state_the_deciding_loop_kept_by_then() {
    let s = Setup::new(Some(3), FAST);
    put_state_map(
        &s,
        Some("deployment/web"),
        r#"{"runs_since_change":0,"last_replicas":3}"#,
    );
    // The deciding loop saves its next calm run after the dry run's first
    // read.
    s.api.configmap_data_after_read(
        serde_json::json!({ "state.json": r#"{"runs_since_change":2,"last_replicas":3}"# }),
    );
    let o = run_cycles(&s, "2", &["--state-configmap", "lpa-state", "--dry-run"]);
    ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains("#1 deployment/web -n default: GET_/work mean ")
            && err.contains("; hold 3 (calm run 1 of 2 before decay)"),
        "{err}"
    );
    let records = s.records();
    assert_eq!(
        records[1].reasons.last(),
        Some(&Reason::Decay { from: 3, to: 2 }),
        "{err}"
    );
    assert_eq!(state_map_calls(&s), ["GET", "GET"]);
    assert!(!s.state().exists());
}

#[test]
fn a_state_configmap_created_empty_by_hand_is_no_warning_and_is_written() {
    let s = Setup::new(Some(3), FAST);
    // `kubectl create configmap lpa-state`, so that the Role needs no
    // `create`: no state in it yet.
    put_state_data(&s, serde_json::json!({}));
    let o = s.run(&["--state-configmap", "lpa-state", "--once"]);
    ok(&o);
    let err = stderr(&o);
    assert!(!err.contains("warning"), "{err}");
    assert!(
        err.contains(
            "#1 deployment/web -n default: state: configmap default/lpa-state (resourceVersion "
        ) && err.contains(
            ") holds no state yet: the state file decides, and its save is written there"
        ),
        "{err}"
    );
    assert_eq!(state_map(&s).1, s.saved_state());
    assert_eq!(state_map_calls(&s), ["GET", "PUT 101"]);
}

#[test]
fn a_state_configmap_with_a_bad_field_decides_from_the_rest() {
    let s = Setup::new(Some(3), FAST);
    // A hand edit wrote the count as a string: the rest is still state.
    put_state_map(
        &s,
        Some("deployment/web"),
        r#"{"runs_since_change":"2","last_replicas":3}"#,
    );
    let o = s.run(&["--state-configmap", "lpa-state", "--once"]);
    ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains("lpa: warning: configmap default/lpa-state (resourceVersion ")
            && err.contains("): read in part (")
            && err.contains("): the rest decides, in place of the state file's"),
        "{err}"
    );
    assert!(err.contains("decay 3 -> 2"), "{err}");
    assert_eq!(s.replicas(), Some(2));
    assert_eq!(state_map(&s).1, s.saved_state());
}

/// `cmd` run as pid 1 of a pid namespace of its own, as the `run` image
/// runs lpa (no init). Needs root: `None` without it.
fn as_pid_one(cmd: &Command) -> Option<Command> {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: unshare --pid needs root");
        return None;
    }
    let mut wrapped = Command::new("unshare");
    wrapped
        .args(["--pid", "--fork", "--kill-child", "--mount-proc"])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    Some(wrapped)
}

/// The children of `parent`, each with whether it is a zombie.
fn children_of(parent: u32) -> Vec<(u32, bool)> {
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let after: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
            (after.get(1)?.parse::<u32>().ok()? == parent).then(|| (pid, after[0] == "Z"))
        })
        .collect()
}

/// lpa as pid 1 of `unshare`'s namespace, spawned, and its pid here.
fn spawn_as_pid_one(cmd: &mut Command) -> (std::process::Child, u32) {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lpa = None;
    wait_for("lpa to start under unshare", 10, || {
        lpa = children_of(child.id()).first().map(|&(pid, _)| pid);
        lpa.is_some()
    });
    (child, lpa.unwrap())
}

#[test]
fn as_pid_one_the_orphans_of_what_it_starts_are_reaped() {
    let s = Setup::new(Some(2), FAST);
    // A wrapper that leaves a child behind: orphaned when kubectl exits,
    // handed to pid 1, a zombie for the pod's life unless pid 1 reaps it.
    let calls = s.path("calls");
    let wrapper = s.path("kubectl-wrapper");
    write_script(
        &wrapper,
        &format!(
            "#!/bin/sh\necho \"$1\" >> '{}'\nsleep 0.05 &\nexec '{}' \"$@\"\n",
            calls.display(),
            tool("kubectl").display()
        ),
    );
    let kubectl = format!("--kubectl={}", wrapper.display());
    let Some(mut cmd) = as_pid_one(&s.run_cmd(
        "deployment/web",
        &[&kubectl, "--interval", "1s", "--max-cycles", "10"],
    )) else {
        return;
    };
    let (mut child, lpa) = spawn_as_pid_one(&mut cmd);
    // How long each zombie has stayed one: a count at an instant is
    // timing (a busy machine delays a sweep, a kubectl's own caller has
    // yet to wait), how long one lasts is not. Unreaped, the first
    // cycle's orphan stays until lpa ends, 9 s on.
    let mut since: HashMap<u32, Instant> = HashMap::new();
    let mut longest = Duration::ZERO;
    while child.try_wait().unwrap().is_none() {
        let zombies: Vec<u32> = children_of(lpa)
            .into_iter()
            .filter_map(|(pid, z)| z.then_some(pid))
            .collect();
        since.retain(|pid, _| zombies.contains(pid));
        for pid in zombies {
            longest = longest.max(since.entry(pid).or_insert_with(Instant::now).elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = child.wait_with_output().unwrap();
    ok(&o);
    let made = fs::read_to_string(&calls).unwrap().lines().count();
    assert!(made >= 12, "{made} kubectl calls");
    // A sweep each 250 ms: a zombie lasting seconds was not reaped.
    assert!(
        longest < Duration::from_secs(3),
        "a zombie lasted {longest:?} of {made} orphans"
    );
}

#[test]
fn as_pid_one_a_stop_signal_during_the_start_up_checks_ends_lpa() {
    let s = Setup::new(Some(2), FAST);
    // The start-up check's kubectl, held as a slow API server holds it.
    let slow = fake_kubectl(&s, "slow-kubectl", "sleep 20");
    let Some(mut cmd) = as_pid_one(&s.run_cmd("deployment/web", &[&slow])) else {
        return;
    };
    let (mut child, lpa) = spawn_as_pid_one(&mut cmd);
    // A kubectl of lpa's is past main's first lines, where pid 1 gets its
    // default actions: a signal before them is ignored, as pid 1's are.
    wait_for("lpa to start kubectl", 10, || !children_of(lpa).is_empty());
    let killed = Command::new("kill")
        .args(["-TERM", &lpa.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let sent = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if sent.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("lpa as pid 1 went on after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
    assert!(!s.state().exists());
    assert!(s.api.scale_writes().is_empty());
}
