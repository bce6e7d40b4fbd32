//! Locustfiles run by the native users (`lpa_core::locustfile` translates
//! them) through the real binary against a test service on 127.0.0.1 that
//! keeps every request it gets: what was really sent (methods, paths,
//! bodies, how many, in which mix), what stderr says about it, and the one
//! error line of a locustfile outside the translated subset.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::local::{run_local, serve_cmd};
use crate::support::service::Service;
use crate::support::{fixture, lpa, run_with_stdin, stderr, stdout, tool};

fn translate_fixture(name: &str) -> PathBuf {
    fixture(&format!("locust/translate/{name}"))
}

/// `lpa loadtest --json` with the native driver running `locustfile`.
fn native(locustfile: &Path, host: &str, extra: &[&str]) -> Command {
    let mut c = lpa();
    c.args([
        "loadtest",
        "--json",
        "--load-driver",
        "native",
        "--host",
        host,
    ])
    .arg("--locustfile")
    .arg(locustfile)
    .args(extra);
    c
}

/// Runs a load test that must succeed; its metric JSON and stderr.
fn report(mut c: Command) -> (Value, String) {
    let out = c.output().expect("run lpa");
    assert!(out.status.success(), "{}", stderr(&out));
    let json = serde_json::from_str(&stdout(&out)).expect("metric JSON");
    (json, stderr(&out))
}

/// The request lines the service got, without ` HTTP/1.1`.
fn lines(service: &Service) -> Vec<String> {
    service
        .heads()
        .iter()
        .map(|h| {
            let first = h.lines().next().unwrap_or_default();
            first.trim_end_matches(" HTTP/1.1").to_string()
        })
        .collect()
}

fn count(lines: &[String], line: &str) -> usize {
    lines.iter().filter(|l| *l == line).count()
}

/// A header's value in a request head (names compared without case).
fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// The seed guide's file (pre-1.0), today's equivalent and the 0.x
/// `min_wait`/`max_wait` file all wait 5-9 s after each task: 10 users
/// started within the first second of a 2 s run send one request each,
/// exactly 10.
#[test]
fn waits_of_the_guide_and_its_equivalents_bound_the_requests() {
    for name in ["guide.py", "today.py", "min_max_wait.py"] {
        let service = Service::start(0);
        let file = translate_fixture(name);
        let (r, err) = report(native(
            &file,
            &service.url(),
            &["--users", "10", "--spawn-rate", "10", "--run-time", "2s"],
        ));
        assert_eq!(r["num_requests"], 10, "{name}: {r}");
        assert_eq!(r["requests"]["GET_/fibonacci?n=10"]["num_requests"], 10);
        assert_eq!(
            lines(&service),
            vec!["GET /fibonacci?n=10".to_string(); 10],
            "{name}"
        );
        assert!(
            err.contains(&format!(
                "lpa loadtest: load driver native (--load-driver native; translated {}: 1 user class, 1 task): \
                 10 users at 10/s, wait between(5, 9), about 10 requests per 2s run",
                file.display()
            )),
            "{name}: {err}"
        );
    }
}

/// As CPA runs the metric hook in the default image: env only, `auto`, no
/// Locust. The guide's locustfile drives the native users instead of being
/// dropped.
#[test]
fn the_metric_hook_translates_the_locustfile_when_locust_is_missing() {
    let service = Service::start(0);
    let file = translate_fixture("guide.py");
    let mut c = lpa();
    c.arg("metric")
        .env("locustHost", service.url())
        .env("locustFilePath", &file)
        .env("locustRunTime", "2")
        .env("LOCUST_BIN", "/nonexistent/locust")
        .env("evaluationConfigFilePath", fixture("evaluation/seed.yaml"));
    let stdin = std::fs::read_to_string(fixture("cpa/metric-v2.json")).unwrap();
    let out = run_with_stdin(c, &stdin);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        r["requests"]["GET_/fibonacci?n=10"]["num_requests"], 10,
        "{r}"
    );
    assert_eq!(r["run"]["driver"], "native");
    assert_eq!(r["run"]["wait_time"], "between(5, 9)");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "lpa metric: load driver native (auto: locustfile {f} exists but LOCUST_BIN /nonexistent/locust \
             is not an executable file; translated {f}: 1 user class, 1 task): 10 users at 10/s, \
             wait between(5, 9), about 10 requests per 2s run",
            f = file.display()
        )),
        "{err}"
    );
    assert_eq!(count(&lines(&service), "GET /fibonacci?n=10"), 10);
}

/// `@task(3)` and `@task(1)`: three picks of the first for one of the
/// second. No wait, so a second gives hundreds of picks; each user's picks
/// come from its own seeded generator, and the share stays within 0.05.
#[test]
fn task_weights_set_the_mix() {
    let service = Service::start(0);
    let (r, err) = report(native(
        &translate_fixture("task_weights.py"),
        &service.url(),
        &["--users", "4", "--spawn-rate", "100", "--run-time", "1s"],
    ));
    let sent = lines(&service);
    let (browse, cart) = (
        count(&sent, "GET /browse?page=1"),
        count(&sent, "GET /cart"),
    );
    assert_eq!(browse + cart, sent.len(), "{sent:?}");
    assert!(sent.len() >= 400, "{} requests", sent.len());
    let share = browse as f64 / sent.len() as f64;
    assert!((0.70..=0.80).contains(&share), "browse share {share}");
    // `name="cart"` names the statistics, as in Locust.
    assert_eq!(r["requests"]["GET_cart"]["num_requests"], cart);
    assert_eq!(r["requests"]["GET_/browse?page=1"]["num_requests"], browse);
    assert!(
        err.contains("wait constant(0), no wait: as many requests as the service answers in 1s"),
        "{err}"
    );
}

/// Locust's tags settings hold Locust to some tasks; the native users run
/// them all, and say so, where they sent other requests than Locust would
/// have without a word.
#[test]
fn locusts_tags_settings_are_said_to_be_locusts() {
    let service = Service::start(0);
    let mut c = native(
        &translate_fixture("task_weights.py"),
        &service.url(),
        &["--users", "1", "--run-time", "300ms"],
    );
    c.env("LOCUST_TAGS", "cart").env("LOCUST_EXCLUDE_TAGS", "");
    let (_, err) = report(c);
    assert!(
        err.contains("warning: LOCUST_TAGS=cart is Locust's: the native users run every task of ")
            && err.contains("task_weights.py, tagged or not"),
        "{err}"
    );
    assert!(!err.contains("LOCUST_EXCLUDE_TAGS"), "{err}");
}

/// Class weights 3:1 split 8 users 6:2, as Locust's dispatcher does; each
/// user runs a task every 0.1 s (constant_pacing), so the requests split
/// 3:1 as well. `--host` wins over the classes' `host`.
#[test]
fn user_class_weights_split_the_users() {
    let service = Service::start(0);
    let (r, err) = report(native(
        &translate_fixture("user_classes.py"),
        &service.url(),
        &["--users", "8", "--spawn-rate", "100", "--run-time", "1s"],
    ));
    assert!(
        err.contains("8 users at 100/s (Reader 6, Writer 2), wait constant_pacing(0.1), about 80 requests per 1s run"),
        "{err}"
    );
    assert_eq!(r["run"]["host"], service.url().as_str());
    let sent = lines(&service);
    let (reads, writes) = (count(&sent, "GET /read"), count(&sent, "POST /write"));
    assert_eq!(reads + writes, sent.len(), "{sent:?}");
    // Each user: a task at its start (within 0.07 s) and every 0.1 s after.
    assert!((72..=80).contains(&sent.len()), "{} requests", sent.len());
    let share = reads as f64 / sent.len() as f64;
    assert!((0.70..=0.80).contains(&share), "read share {share}");
    // The writer is a FastHttpUser: a text body says text/plain, as
    // geventhttpclient sends it.
    for (head, body) in service.requests() {
        if head.starts_with("POST /write ") {
            assert_eq!(body, "x=1");
            assert_eq!(
                header(&head, "content-type").as_deref(),
                Some("text/plain; charset=utf-8")
            );
        }
    }

    // Without a host flag or env, the classes' host is the one to test.
    let out = lpa()
        .args(["check", "--json", "--load-driver", "native"])
        .arg("--evaluation-config")
        .arg(fixture("evaluation/seed.yaml"))
        .arg("--locustfile")
        .arg(translate_fixture("user_classes.py"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["effectiveLoad"]["host"], "http://127.0.0.1:1");
    assert_eq!(doc["effectiveLoad"]["userClasses"][0]["name"], "Reader");
    assert_eq!(doc["effectiveLoad"]["userClasses"][1]["weight"], 1);
    assert!(
        stderr(&out).contains("target GET_/fibonacci?n=10 mean: ")
            && stderr(&out).contains("sends no such request"),
        "a target the locustfile never sends is named: {}",
        stderr(&out)
    );
}

/// A task's two calls go out in order, and constant_pacing(1) makes each
/// task run take a second: 2 users (starting at 0 and 0.5 s) in 2 s run
/// twice each, 8 requests. Headers, name= and the JSON body as written.
#[test]
fn a_task_sends_its_requests_in_order_and_pacing_bounds_the_runs() {
    let service = Service::start(0);
    let (r, _) = report(native(
        &translate_fixture("post_json.py"),
        &service.url(),
        &["--users", "2", "--spawn-rate", "2", "--run-time", "2s"],
    ));
    let sent = service.requests();
    assert_eq!(sent.len(), 8, "{sent:?}");
    assert!(sent[0].0.starts_with("GET /items/1 "), "{sent:?}");
    assert!(sent[1].0.starts_with("POST /orders "), "{sent:?}");
    for (head, body) in &sent {
        if head.starts_with("GET ") {
            assert_eq!(header(head, "x-client").as_deref(), Some("lpa-test"));
            assert_eq!(body, "");
        } else {
            assert_eq!(
                header(head, "content-type").as_deref(),
                Some("application/json")
            );
            assert_eq!(body, r#"{"item": 1, "quantity": 2, "note": "gift wrap"}"#);
        }
    }
    assert_eq!(r["requests"]["GET_/items/1"]["num_requests"], 4);
    assert_eq!(r["requests"]["POST_create order"]["num_requests"], 4);
}

/// What the native users send equals what real Locust sends for the same
/// file: the request lines, content types and bodies (JSON as requests
/// serialises it, query parameters as requests encodes them). 20 users for
/// 2 s make about 60 task picks per driver, so a task of weight 1 in 5 is
/// left out with a chance of 0.8^60, about 1 in 650 000.
#[test]
fn the_translation_sends_what_real_locust_sends() {
    for name in ["post_json.py", "tasks_dict.py", "python_semantics.py"] {
        let file = translate_fixture(name);
        let seen = |driver: &str| {
            let service = Service::start(0);
            let out = lpa()
                .args(["loadtest", "--json", "--load-driver", driver])
                .args([
                    "--host",
                    &service.url(),
                    "--users",
                    "20",
                    "--spawn-rate",
                    "20",
                ])
                .args(["--run-time", "2s", "--locustfile"])
                .arg(&file)
                .env("LOCUST_BIN", tool("locust"))
                .output()
                .unwrap();
            assert!(out.status.success(), "{driver}: {}", stderr(&out));
            kinds_received(&service)
        };
        let (native, locust) = (seen("native"), seen("locust"));
        assert!(!native.is_empty());
        assert_eq!(native, locust, "{name}");
    }
}

/// The kinds of request `service` received: request line, content type and
/// body, each once, sorted.
fn kinds_received(service: &Service) -> Vec<(String, Option<String>, String)> {
    let mut kinds: Vec<_> = service
        .requests()
        .into_iter()
        .map(|(head, body)| {
            let line = head.lines().next().unwrap_or_default().to_string();
            (line, header(&head, "content-type"), body)
        })
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// Redirects are followed as Locust (python-requests) follows them, the
/// service taking 100 ms over a page and none over a redirect: a request's
/// time covers the page it leads to; `allow_redirects=False` and
/// HttpUser's `head()` measure the 3xx itself; a 303 turns a POST into a
/// GET without its body, a 307 keeps both. The requests the service got
/// are the ones real Locust sends.
#[test]
fn a_translated_request_follows_redirects_as_locust_does() {
    let file = translate_fixture("redirects.py");
    let run = |driver: &str| {
        let service = Service::start(100);
        let out = lpa()
            .args(["loadtest", "--json", "--load-driver", driver])
            .args(["--host", &service.url(), "--users", "2"])
            .args(["--spawn-rate", "2", "--run-time", "2s", "--locustfile"])
            .arg(&file)
            .env("LOCUST_BIN", tool("locust"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{driver}: {}", stderr(&out));
        let json: Value = serde_json::from_str(&stdout(&out)).expect("metric JSON");
        (json, kinds_received(&service))
    };
    let (r, sent) = run("native");
    assert_eq!(r["num_requests_fail"].as_u64(), Some(0), "{r}");
    let ms = |key: &str, field: &str| {
        r["requests"][key][field]
            .as_f64()
            .unwrap_or_else(|| panic!("{key}.{field}: {r}"))
    };
    for key in ["GET_followed", "POST_form", "POST_kept"] {
        assert!(ms(key, "min_response_time") >= 100.0, "{key}: {r}");
    }
    // Timed to the 3xx: a median, which a stall of a busy machine leaves be.
    for key in ["GET_not followed", "HEAD_head"] {
        assert!(ms(key, "median_response_time") < 50.0, "{key}: {r}");
    }
    let form = Some("application/x-www-form-urlencoded".to_string());
    let json = Some("application/json".to_string());
    let expected = [
        ("GET /done HTTP/1.1", None, ""),
        ("GET /page HTTP/1.1", None, ""),
        ("GET /redirect/302/page HTTP/1.1", None, ""),
        ("HEAD /redirect/302/page HTTP/1.1", None, ""),
        ("POST /orders HTTP/1.1", json.clone(), r#"{"n": 1}"#),
        ("POST /redirect/303/done HTTP/1.1", form, "a=1"),
        ("POST /redirect/307/orders HTTP/1.1", json, r#"{"n": 1}"#),
    ]
    .map(|(line, ct, body)| (line.to_string(), ct, body.to_string()));
    assert_eq!(sent, expected);
    assert_eq!(run("locust").1, sent);
}

/// A redirect loop ends as requests ends it, after 30 redirects: one
/// failure that says why, and 31 requests at the service.
#[test]
fn a_redirect_loop_is_one_failure_after_30_redirects() {
    let service = Service::start(0);
    let (r, _) = report(native(
        &translate_fixture("redirect_loop.py"),
        &service.url(),
        &["--users", "1", "--run-time", "1s"],
    ));
    assert_eq!(
        r["requests"]["GET_/loop"]["num_failures"].as_u64(),
        Some(1),
        "{r}"
    );
    assert_eq!(
        r["failures"]["GET_/loop: too many redirects (more than 30)"]["occurrences"].as_u64(),
        Some(1),
        "{r}"
    );
    assert_eq!(count(&lines(&service), "GET /loop"), 31);
}

/// The on_start login is outside the subset: one error line with the file,
/// the line, the construct and both ways out; exit 1, nothing on stdout,
/// nothing sent. With real Locust there, `auto` runs Locust as before.
#[test]
fn an_untranslatable_locustfile_is_one_error_line_with_both_ways_out() {
    let file = translate_fixture("login.py");
    let expected = format!(
        "lpa: error: {}:7: cannot translate on_start (code that runs before the tasks, such as a login) \
         for lpa's native users; use the image with Locust (the Dockerfile's `locust` target), which runs \
         the locustfile itself, or describe the load in the evaluation config's `load:` section \
         (load.requests), which the native users then send instead\n",
        file.display()
    );
    let service = Service::start(0);
    let check = |out: Output| {
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert_eq!(stdout(&out), "");
        assert_eq!(stderr(&out), expected);
    };
    check(
        native(&file, &service.url(), &["--run-time", "1s"])
            .output()
            .unwrap(),
    );
    // auto, Locust missing: the metric hook as CPA runs it.
    let mut c = lpa();
    c.arg("metric")
        .env("locustHost", service.url())
        .env("locustFilePath", &file)
        .env("LOCUST_BIN", "/nonexistent/locust")
        .env("evaluationConfigFilePath", fixture("evaluation/seed.yaml"));
    let stdin = std::fs::read_to_string(fixture("cpa/metric-v2.json")).unwrap();
    check(run_with_stdin(c, &stdin));
    assert!(service.heads().is_empty(), "nothing was sent");

    let (_, err) = report({
        let mut c = lpa();
        c.args(["loadtest", "--json", "--host", &service.url()])
            .args(["--users", "1", "--run-time", "2s", "--locustfile"])
            .arg(&file)
            .env("LOCUST_BIN", tool("locust"));
        c
    });
    assert!(
        err.contains("lpa loadtest: load driver locust (auto: locustfile "),
        "{err}"
    );
    let sent = lines(&service);
    assert_eq!(
        sent.first().map(String::as_str),
        Some("POST /login"),
        "{sent:?}"
    );
    assert!(sent.iter().any(|l| l == "GET /profile"), "{sent:?}");
}

/// A locustfile that declares Latin-1 (PEP 263), as older editors saved
/// them, is read as Python reads it by both drivers: its name `caf\xe9`
/// is the request's `café`. Undeclared, the same bytes are one error line
/// naming the line, and nothing is sent.
#[test]
fn a_locustfile_is_read_in_the_coding_it_declares() {
    let dir = tempfile::tempdir().unwrap();
    let body = b"from locust import HttpUser, task, constant\n\nclass U(HttpUser):\n    wait_time = constant(1)\n\n    @task\n    def t(self):\n        self.client.get(\"/latin\", name=\"caf\xe9\")\n";
    let declared = dir.path().join("declared.py");
    std::fs::write(
        &declared,
        [&b"# -*- coding: latin-1 -*-\n"[..], body].concat(),
    )
    .unwrap();
    let service = Service::start(0);
    for driver in ["native", "locust"] {
        let mut c = lpa();
        c.args(["loadtest", "--json", "--load-driver", driver])
            .args(["--host", &service.url(), "--users", "1", "--run-time", "1s"])
            .arg("--locustfile")
            .arg(&declared)
            .env("LOCUST_BIN", tool("locust"));
        let (json, _) = report(c);
        assert!(
            json["requests"]["GET_café"]["num_requests"].as_u64() > Some(0),
            "{driver}: {json}"
        );
    }
    // A coding lpa has no table for: Locust reads it, so its driver runs
    // the file; the native driver names the line it cannot read.
    let cp1252 = dir.path().join("cp1252.py");
    std::fs::write(&cp1252, [&b"# -*- coding: cp1252 -*-\n"[..], body].concat()).unwrap();
    let run = |driver: &str| {
        let mut c = lpa();
        c.args(["loadtest", "--json", "--load-driver", driver])
            .args(["--host", &service.url(), "--users", "1", "--run-time", "1s"])
            .arg("--locustfile")
            .arg(&cp1252)
            .env("LOCUST_BIN", tool("locust"));
        c
    };
    let (json, _) = report(run("locust"));
    assert!(
        json["requests"]["GET_café"]["num_requests"].as_u64() > Some(0),
        "{json}"
    );
    let out = run("native").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("line 9 is not ASCII, and line 1 declares coding cp1252"),
        "{}",
        stderr(&out)
    );
    assert!(lines(&service).iter().all(|l| l == "GET /latin"));
    let undeclared = dir.path().join("undeclared.py");
    std::fs::write(&undeclared, body).unwrap();
    for driver in ["native", "locust"] {
        let out = lpa()
            .args([
                "loadtest",
                "--load-driver",
                driver,
                "--host",
                &service.url(),
            ])
            .arg("--locustfile")
            .arg(&undeclared)
            .env("LOCUST_BIN", tool("locust"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{driver}");
        assert_eq!(stdout(&out), "");
        let err = stderr(&out);
        assert!(
            err.lines().count() == 1
                && err.contains(
                    "line 8 is not UTF-8, which Python reads without a coding declaration"
                ),
            "{driver}: {err}"
        );
    }
}

/// The second way out: the config's load.requests say what to send, and
/// the locustfile (even one that cannot be translated) is not used, as the
/// driver line says.
#[test]
fn load_requests_of_the_config_win_over_the_locustfile() {
    let service = Service::start(0);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("eval.yaml");
    std::fs::write(
        &config,
        "targets: [{endpoint: /from-config, type: mean, target: 50}]\n\
         load: {requests: [{path: /from-config}]}\n",
    )
    .unwrap();
    for name in ["today.py", "login.py"] {
        let (r, err) = report({
            let mut c = native(
                &translate_fixture(name),
                &service.url(),
                &["--run-time", "1s"],
            );
            c.arg("--evaluation-config").arg(&config);
            c
        });
        assert!(r["requests"]["GET_/from-config"]["num_requests"].as_u64() > Some(0));
        assert!(
            err.contains(
                "(--load-driver native), not using the locustfile (the evaluation config's load.requests says what to send): "
            ),
            "{name}: {err}"
        );
    }
    assert!(lines(&service).iter().all(|l| l == "GET /from-config"));
}

/// `--load-driver native` with a locustfile that is not there says so, as
/// auto does: before, the driver line read "(--load-driver native)" and
/// the config's requests went out in place of the file's without a word.
/// A path other than the default is a warning too, where it was the
/// driver line's note alone (a typo in locustFilePath).
#[test]
fn a_missing_locustfile_under_the_native_driver_is_said() {
    let service = Service::start(0);
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.py");
    let (r, err) = report(native(&missing, &service.url(), &["--run-time", "1s"]));
    assert!(r["num_requests"].as_u64() > Some(0), "{r}");
    let said = format!(
        "load driver native (--load-driver native: no locustfile at {}): ",
        missing.display()
    );
    assert!(err.contains(&said), "{err}");
    let warned = format!(
        "warning: locustfile {} (locustFilePath or --locustfile) does not exist: its requests are not sent",
        missing.display()
    );
    assert!(err.contains(&warned), "{err}");
}

/// Without a locustfile or a load: section, the probe is small and says
/// so: 10 users waiting 0.5-1 s send tens of requests in a run (between 10,
/// one per user, and 40, four per user at the shortest waits), not
/// thousands; `lpa check` and the first line of `lpa run` state the plan.
#[test]
fn the_default_probe_is_small_and_stated() {
    let service = Service::start(0);
    let dir = tempfile::tempdir().unwrap();
    let (r, err) = report({
        let mut c = lpa();
        c.args([
            "loadtest",
            "--json",
            "--host",
            &service.url(),
            "--run-time",
            "2s",
        ])
        .arg("--evaluation-config")
        .arg(fixture("evaluation/seed.yaml"))
        .arg("--locustfile")
        .arg(dir.path().join("none.py"));
        c
    });
    let n = r["num_requests"].as_u64().unwrap();
    assert!((10..=40).contains(&n), "{n} requests");
    assert!(
        err.contains("10 users at 10/s, wait between(0.5, 1), about 25 requests per 2s run"),
        "{err}"
    );

    let out = lpa()
        .args(["check", "--json", "--evaluation-config"])
        .arg(fixture("evaluation/seed.yaml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let load = &doc["effectiveLoad"];
    assert_eq!(load["waitTime"], "between(0.5, 1)");
    assert_eq!(load["expectedRequests"], 65);
    assert_eq!(
        load["probe"],
        "10 users at 10/s, wait between(0.5, 1), about 65 requests per 5s run"
    );
    assert!(
        stderr(&out).contains("about 65 requests per 5s run"),
        "{}",
        stderr(&out)
    );

    // More samples without more load: an arrival rate.
    let out = lpa()
        .args([
            "check",
            "--json",
            "--arrival-rate",
            "20",
            "--evaluation-config",
        ])
        .arg(fixture("evaluation/seed.yaml"))
        .output()
        .unwrap();
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        doc["effectiveLoad"]["probe"],
        "20 requests/s (open model), at most 10 concurrent, about 100 requests per 5s run"
    );

    let out = run_local(&serve_cmd(), &["--once", "--run-time", "1s"], dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // The loop's first line (after the local pool's own start).
    let err = stderr(&out);
    let first = err
        .lines()
        .find(|l| l.starts_with("lpa run: local pool on "))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        first.contains(
            ": 10 users at 10/s, wait between(0.5, 1), about 13 requests per 1s run; one cycle"
        ),
        "{first}"
    );
}

/// `lpa run` sends what loadtest and metric's native users send: the
/// locustfile (here the seed guide's, through its env var) translated,
/// not the targets with the default wait.
#[test]
fn run_translates_the_locustfile_as_loadtest_does() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_local(&serve_cmd(), &["--once", "--run-time", "1s"], dir.path())
        .env("locustFilePath", fixture("locust/seed_locustfile.py"))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let first = err
        .lines()
        .find(|l| l.starts_with("lpa run: local pool on "))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        first.contains(": 10 users at 10/s, wait between(5, 9), "),
        "{first}"
    );
    assert!(
        err.contains(&format!(
            "\nlpa run: load: translated {}: 1 user class, 1 task\n",
            fixture("locust/seed_locustfile.py").display()
        )),
        "{err}"
    );
    // One that cannot be translated stops run before anything starts.
    let out = run_local("nothing-to-start {port}", &["--once"], dir.path())
        .arg("--locustfile")
        .arg(fixture("locust/broken.py"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("broken.py:8: cannot translate"), "{err}");
    // The way out is run's: it has no Locust driver to switch to.
    assert!(
        err.ends_with("(lpa run sends with the native users only; Locust itself runs the locustfile under the CPA hooks, in the image with Locust)\n"),
        "{err}"
    );
}
