//! `lpa report` through the real binary: the scores of a fresh `lpa run
//! --scaler local` log and of a recorded fixture, checked against values
//! computed here from the records themselves; `--json`; the plots as PNG
//! and SVG; simulation traces; and bad input.

use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::Value;

use crate::local::{run_local, serve_cmd, wait_bounded};
use crate::support::{fixture, lpa, stderr, stdout, stopped_while_staged};

fn report(args: &[&str]) -> Output {
    lpa().arg("report").args(args).output().expect("run lpa")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `lpa simulate` of a fixture scenario under the seed's policy.
fn simulate(scenario: &str, args: &[&str]) -> Output {
    let o = lpa()
        .arg("simulate")
        .arg("--evaluation-config")
        .arg(fixture("evaluation/seed.yaml"))
        .arg("--scenario")
        .arg(fixture(&format!("scenarios/{scenario}")))
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

/// The scores, computed from a decision log's records independently of
/// lpa's scorer: cycle n is the n-th record; a recovery runs from the first
/// breached record of an episode to the first record whose targets all have
/// data and none breached.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    cycles: u64,
    over: u64,
    replica_cycles: u64,
    changes: u64,
    reversals: u64,
    peak: u64,
    /// (first breached cycle, cycles to recover or None).
    recoveries: Vec<(u64, Option<u64>)>,
    applied: u64,
    refused: u64,
    failed: u64,
    dry_run: u64,
}

fn expected(log: &Path) -> Expected {
    let mut e = Expected::default();
    let mut last_up: Option<bool> = None;
    let mut open: Option<u64> = None;
    let text = std::fs::read_to_string(log).unwrap();
    for (i, line) in text.lines().enumerate() {
        let r: Value = serde_json::from_str(line).unwrap();
        let n = i as u64 + 1;
        let current = r["current"].as_u64().unwrap();
        let decided = r["decided"].as_u64().unwrap();
        let reasons = r["reasons"].as_array().unwrap();
        let targets: Vec<&Value> = reasons.iter().filter(|x| x["reason"] == "target").collect();
        let breached = targets.iter().any(|t| t["breached"] == true);
        let no_data = reasons.iter().any(|x| x["reason"] == "noData");
        e.cycles += 1;
        e.replica_cycles += current;
        e.peak = e.peak.max(current);
        if breached {
            e.over += 1;
            if open.is_none() {
                open = Some(n);
                e.recoveries.push((n, None));
            }
        } else if !no_data && !targets.is_empty() {
            if let Some(at) = open.take() {
                e.recoveries.last_mut().unwrap().1 = Some(n - at);
            }
        }
        if decided != current {
            e.changes += 1;
            let up = decided > current;
            if last_up == Some(!up) {
                e.reversals += 1;
            }
            last_up = Some(up);
            // The typed outcome, or the fields of logs written before it.
            let why = r["not_applied"].as_str().unwrap_or("");
            let kind = r["outcome"]["kind"].as_str();
            if kind == Some("applied") || r["applied"] == true {
                e.applied += 1;
            } else if kind == Some("dry_run") || r["dry_run"] == true {
                e.dry_run += 1;
            } else if kind == Some("scale_failed") || why.starts_with("scale failed") {
                e.failed += 1;
            } else {
                e.refused += 1;
            }
        }
    }
    e
}

/// The numbers of `lpa report LOG --json`, in the same shape.
fn reported(json: &Value) -> Expected {
    let s = &json["scores"];
    let n = |v: &Value| v.as_u64().unwrap();
    Expected {
        cycles: n(&s["cycles"]),
        over: n(&s["cycles_over_target"]),
        replica_cycles: n(&s["replica_cycles"]),
        changes: n(&s["scale_changes"]),
        reversals: n(&s["reversals"]),
        peak: n(&s["peak_replicas"]),
        recoveries: s["recoveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (n(&r["step_at"]), r["cycles"].as_u64()))
            .collect(),
        applied: n(&json["decisions"]["applied"]),
        refused: n(&json["decisions"]["refused"]),
        failed: n(&json["decisions"]["failed"]),
        dry_run: n(&json["decisions"]["dry_run"]),
    }
}

/// The text report carries the same numbers as `e`.
fn assert_text_matches(out: &str, e: &Expected) {
    let line = |head: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(head))
            .unwrap_or_else(|| panic!("no {head:?} line in: {out}"))
            .to_string()
    };
    assert!(
        line("cycles over target").contains(&format!("target  {} (", e.over)),
        "{out}"
    );
    assert!(
        line("replica-cycles").contains(&format!(
            "replica-cycles      {} (mean {:.2} replicas, peak {})",
            e.replica_cycles,
            e.replica_cycles as f64 / e.cycles as f64,
            e.peak
        )),
        "{out}"
    );
    let reversals = if e.reversals == 1 {
        "1 reversal)".to_string()
    } else {
        format!("{} reversals)", e.reversals)
    };
    assert!(
        line("scale changes").contains(&format!("changes       {} ({reversals}", e.changes)),
        "{out}"
    );
    let recovery = line("recovery");
    if e.recoveries.is_empty() {
        assert!(recovery.ends_with("no breach"), "{out}");
    }
    for (at, cycles) in &e.recoveries {
        let start = format!("breach at cycle {at} (");
        assert!(recovery.contains(&start), "{start:?} in {out}");
        match cycles {
            Some(1) => assert!(recovery.contains("): 1 cycle ("), "{out}"),
            Some(c) => assert!(recovery.contains(&format!("): {c} cycles (")), "{out}"),
            None => assert!(
                recovery.contains("not within every target by the end"),
                "{out}"
            ),
        }
    }
    assert!(
        line("decisions to scale")
            .contains(&format!("scale  {}: {} applied", e.changes, e.applied)),
        "{out}"
    );
}

fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    )
}

/// Every text of an SVG, which must parse as XML.
fn svg_texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).expect("the SVG parses as XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_string())
        .collect()
}

#[test]
fn a_fresh_local_run_is_scored_as_its_records_say() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("decisions.jsonl");
    let mut c = run_local(
        &serve_cmd(),
        &[
            "--replicas",
            "2",
            "--max-replicas",
            "4",
            "--max-cycles",
            "4",
            "--interval",
            "1s",
            "--run-time",
            "300ms",
            "--decision-log",
            path(&log),
        ],
        dir.path(),
    );
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    wait_bounded(&mut child, std::time::Duration::from_secs(60));
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let e = expected(&log);
    assert_eq!(e.cycles, 4, "{e:?}");

    let o = report(&[path(&log)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with(&format!(
            "report: decision log {} (local pool on 127.0.0.1:",
            log.display()
        )),
        "{out}"
    );
    assert!(out.contains("): 4 cycles over "), "{out}");
    assert_text_matches(&out, &e);

    let o = report(&[path(&log), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: Value = serde_json::from_str(&stdout(&o)).expect("--json prints JSON");
    assert_eq!(reported(&json), e);
    assert_eq!(json["source"], "decision_log");
    assert_eq!(json["file"], path(&log));
}

/// `lpa run --decision-log-max-size` with room for about three lines a
/// file (a line here is about 1.1 kB) and six cycles: one rotation, and
/// the six records are all there, whole, FILE.1's before FILE's, each
/// cycle's count read where the previous one left it (the local pool
/// applies every decision), so none was lost at the seam. Each file is
/// a log `lpa report` and `lpa simulate --replay` read alone, and the two
/// joined read as one run.
#[test]
fn a_rotated_decision_log_loses_no_line_and_both_files_read_alone() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("decisions.jsonl");
    let max = 4000;
    let mut c = run_local(
        &serve_cmd(),
        &[
            "--max-cycles",
            "6",
            "--interval",
            "0",
            "--run-time",
            "200ms",
            "--decision-log",
            path(&log),
            "--decision-log-max-size",
            &max.to_string(),
        ],
        dir.path(),
    );
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    wait_bounded(&mut child, std::time::Duration::from_secs(60));
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("warning"), "{err}");

    let rotated = dir.path().join("decisions.jsonl.1");
    let mut records = Vec::new();
    for file in [&rotated, &log] {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(text.ends_with('\n'), "{}: {text}", file.display());
        assert!(
            text.len() <= max,
            "{}: {} bytes",
            file.display(),
            text.len()
        );
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("a whole JSON line"))
            .collect();
        assert!(!lines.is_empty(), "{} is empty", file.display());
        let o = report(&[path(file)]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stdout(&o).contains(&format!("): {} cycles over ", lines.len())),
            "{}",
            stdout(&o)
        );
        let o = lpa()
            .arg("simulate")
            .arg("--evaluation-config")
            .arg(fixture("evaluation/seed.yaml"))
            .arg("--replay")
            .arg(file)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        records.extend(lines);
    }
    assert_eq!(records.len(), 6, "{records:#?}");
    for pair in records.windows(2) {
        assert_eq!(pair[1]["current"], pair[0]["decided"], "{pair:#?}");
        assert!(pair[1]["at_secs"].as_u64() >= pair[0]["at_secs"].as_u64());
    }

    let joined = dir.path().join("joined.jsonl");
    let both = [&rotated, &log].map(|f| std::fs::read_to_string(f).unwrap());
    std::fs::write(&joined, both.concat()).unwrap();
    let o = report(&[path(&joined)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    assert!(stdout(&o).contains("): 6 cycles over "), "{}", stdout(&o));
}

#[test]
fn the_recorded_fixture_scores_as_counted_by_hand() {
    let log = fixture("replay/decisions.jsonl");
    let e = expected(&log);
    // Read off the fixture: replicas 3 3 3 3 2 3 4 5 5 5 5 4 5 5 5 5; the
    // mean breaches at records 5-7 and 12; changes down, up, up, up, down,
    // up, down.
    assert_eq!(
        e,
        Expected {
            cycles: 16,
            over: 4,
            replica_cycles: 65,
            changes: 7,
            reversals: 4,
            peak: 5,
            recoveries: vec![(5, Some(3)), (12, Some(1))],
            applied: 7,
            ..Expected::default()
        }
    );
    let o = report(&[path(&log)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_text_matches(&out, &e);
    // The fixture's records are 15 s apart.
    assert!(
        out.contains(
            "breach at cycle 5 (1:15): 3 cycles (0:45); breach at cycle 12 (3:00): 1 cycle (0:15)"
        ),
        "{out}"
    );
    let o = report(&["--json", path(&log)]);
    let json: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(reported(&json), e);
    assert_eq!(json["duration_secs"], 240.0);
}

/// A log a newer lpa wrote, with reasons and gaps this one does not know
/// (a rollback appends to it): read as it reads, where the whole log was
/// refused for one record (helper A23).
#[test]
fn a_newer_lpas_reasons_do_not_stop_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("newer.jsonl");
    let good = std::fs::read_to_string(fixture("replay/decisions.jsonl")).unwrap();
    let newer = good.replace(
        r#""reasons":["#,
        r#""reasons":[{"reason":"brandNew","from":3,"why":{"a":[1]}},{"reason":"modelFallback","gap":{"gap":"brandNew"}},"#,
    );
    assert_ne!(newer, good);
    std::fs::write(&log, newer).unwrap();
    let e = expected(&fixture("replay/decisions.jsonl"));
    let o = report(&[path(&log)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_text_matches(&stdout(&o), &e);
    // Replayed, a newer lpa's action is said as such, not left blank.
    let action = dir.path().join("action.jsonl");
    std::fs::write(
        &action,
        good.replace(r#"{"reason":"hold","#, r#"{"reason":"holdLonger","#),
    )
    .unwrap();
    let o = lpa()
        .args(["simulate", "--evaluation-config"])
        .arg(fixture("evaluation/seed.yaml"))
        .args(["--replay", path(&action)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("(a reason of a newer lpa) | hold 3"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn refused_failed_dry_run_and_no_data_cycles_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mixed.jsonl");
    let text = std::fs::read_to_string(fixture("replay/decisions.jsonl")).unwrap();
    let mut lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Record 6 (3 -> 4) refused, 7 (4 -> 5) failed, 11 (5 -> 4) a dry run;
    // record 9 measured nothing for the target.
    lines[5]["applied"] = false.into();
    lines[5]["not_applied"] =
        "replicas changed outside lpa (3 -> 4); the decay counter resets next cycle".into();
    lines[6]["applied"] = false.into();
    lines[6]["not_applied"] = "scale failed: kubectl scale: exit status 1".into();
    lines[10]["applied"] = false.into();
    lines[10]["dry_run"] = true.into();
    lines[10]["not_applied"] = "dry run".into();
    lines[8]["reasons"] = serde_json::json!([
        {"reason": "noData", "key": "GET_/fibonacci?n=10", "kind": "mean"},
        {"reason": "holdNoData", "replicas": 5}
    ]);
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&log, body).unwrap();
    let e = expected(&log);
    assert_eq!((e.applied, e.refused, e.failed, e.dry_run), (4, 1, 1, 1));
    // Record 8 is within the target again: the no-data record 9 changes nothing.
    assert_eq!(e.recoveries, vec![(5, Some(3)), (12, Some(1))]);

    let o = report(&[path(&log)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_text_matches(&out, &e);
    assert!(
        out.contains("decisions to scale  7: 4 applied, 1 refused (replicas changed outside lpa), 1 failed, 1 not applied (dry run)"),
        "{out}"
    );
    let o = report(&[path(&log), "--json"]);
    assert_eq!(reported(&serde_json::from_str(&stdout(&o)).unwrap()), e);

    let svg = dir.path().join("mixed.svg");
    let o = report(&[path(&log), "--plot", path(&svg)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let texts = svg_texts(&std::fs::read_to_string(&svg).unwrap());
    for label in [
        "scale up (applied)",
        "scale down (applied)",
        "scale failed",
        "no data",
    ] {
        assert!(texts.iter().any(|t| t == label), "{label:?} in {texts:?}");
    }
    assert!(texts.iter().any(|t| t.starts_with("refused:")), "{texts:?}");
    assert!(
        texts.iter().any(|t| t.starts_with("decided, not applied")),
        "{texts:?}"
    );
}

#[test]
fn plots_in_png_and_svg_with_human_labels() {
    let dir = tempfile::tempdir().unwrap();
    let log = fixture("replay/decisions.jsonl");
    let png = dir.path().join("run.png");
    let svg = dir.path().join("run.svg");
    for p in [&png, &svg] {
        let o = report(&[path(&log), "--plot", path(p)]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stderr(&o).contains("plot written to"), "{}", stderr(&o));
        // The scores still go to stdout.
        assert!(stdout(&o).contains("cycles over target  4 (25.0 %)"));
    }
    let bytes = std::fs::read(&png).unwrap();
    // 1200 wide; two panels of 300 (replicas, the one target) under a title.
    let (w, h) = png_size(&bytes);
    assert_eq!(w, 1200);
    assert!((660..=720).contains(&h), "{h}");
    assert!(
        bytes.len() > 20_000,
        "a blank image compresses to almost nothing"
    );

    let texts = svg_texts(&std::fs::read_to_string(&svg).unwrap());
    for label in [
        "GET /fibonacci?n=10 mean",
        "target 7 ms",
        "over target (breach)",
        "replicas (current)",
        "scale up (applied)",
        "time in the run (m:ss)",
        "4:00",
    ] {
        assert!(texts.iter().any(|t| t == label), "{label:?} in {texts:?}");
    }
    assert!(
        !texts.iter().any(|t| t.contains("GET_/")),
        "an internal key in {texts:?}"
    );
}

#[test]
fn simulation_traces_score_as_the_simulation_did() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let csv = dir.path().join("trace.csv");
    // With no replica, nothing serves the load test: over target at every
    // cycle, however fast the refusals read (a report once scored it 0).
    let zero = dir.path().join("zero.yaml");
    std::fs::write(
        &zero,
        "name: zero\ninterval: 15s\ncycles: 10\nreplicas: 0\nservice: {capacity: 500, startupCycles: 0}\nload: {type: constant, rate: 400}\n",
    )
    .unwrap();
    for (scenario, args, span, over) in [
        (
            fixture("scenarios/step.yaml"),
            ["--cycles", "60"],
            "60 cycles over 15:00",
            None,
        ),
        (
            zero,
            ["--cycles", "10"],
            "10 cycles over 2:30",
            Some("cycles over target  10 (100.0 %)"),
        ),
    ] {
        let mut sim_scores = String::new();
        for out in [&json, &csv] {
            let o = lpa()
                .args(["simulate", "--evaluation-config"])
                .arg(fixture("evaluation/seed.yaml"))
                .arg("--scenario")
                .arg(&scenario)
                .args(args)
                .args(["--quiet", "--out", path(out)])
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
            sim_scores = stdout(&o);
        }
        // Every score but recovery, which the simulation counts from its
        // known load step and a report from the first breach; the
        // yardsticks only from the JSON, which keeps them.
        let lines = |heads: &[&str]| -> Vec<String> {
            sim_scores
                .lines()
                .filter(|l| heads.iter().any(|h| l.trim_start().starts_with(h)))
                .map(str::to_string)
                .collect()
        };
        let same = lines(&["cycles over target", "replica-cycles", "scale changes"]);
        let yardsticks = lines(&["vs oracle", "vs bound"]);
        assert_eq!((same.len(), yardsticks.len()), (3, 2), "{sim_scores}");
        if let Some(over) = over {
            assert_eq!(same[0].trim(), over, "{sim_scores}");
        }
        for trace in [&json, &csv] {
            let o = report(&[path(trace)]);
            assert!(o.status.success(), "{}", stderr(&o));
            let out = stdout(&o);
            assert!(out.contains("simulation trace"), "{out}");
            assert!(out.contains(span), "{out}");
            for l in &same {
                assert!(out.lines().any(|o| o == *l), "{l:?} in {out}");
            }
            for l in &yardsticks {
                let shown = out.lines().any(|o| o == *l);
                assert_eq!(shown, trace == &json, "{l:?} in {out}");
            }
            assert!(!out.contains("decisions to scale"), "{out}");
        }
    }
    simulate(
        "step.yaml",
        &["--cycles", "60", "--quiet", "--out", path(&csv)],
    );
    let png = dir.path().join("trace.png");
    let o = report(&[path(&csv), "--plot", path(&png)]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Replicas, the target and the load: three panels of 300 under a title
    // line and the scores' lines of 22.
    let (w, h) = png_size(&std::fs::read(&png).unwrap());
    assert_eq!(w, 1200);
    assert!(h >= 960 && (h - 38 - 900) % 22 == 0, "{h}");
}

/// Exit 1, nothing on stdout, one error line containing `needle`.
fn assert_fails(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(stdout(o), "", "stdout must stay empty");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("lpa: error: "), "{err}");
    assert!(err.contains(needle), "{needle:?} in {err}");
}

#[test]
fn bad_input_is_one_error_line_and_no_plot() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name);
    let good = std::fs::read_to_string(fixture("replay/decisions.jsonl")).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(2, "{\"at_secs\": 1764288020, \"note\": \"not a decision\"}");
    std::fs::write(d("bad-line.jsonl"), lines.join("\n") + "\n").unwrap();
    let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
    lines[3] = lines[3].replacen(
        "\"avg_response_time\":3.999525",
        "\"avg_response_time\":-5",
        1,
    );
    std::fs::write(d("impossible.jsonl"), lines.join("\n") + "\n").unwrap();
    let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
    lines[3] = lines[3].replacen("\"observed\":3.999525", "\"observed\":-5", 1);
    std::fs::write(d("negative-reason.jsonl"), lines.join("\n") + "\n").unwrap();
    // A breach flag its own numbers deny: scored as written, it hid a
    // cycle over target.
    let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
    lines[5] = lines[5].replacen("\"breached\":true", "\"breached\":false", 1);
    std::fs::write(d("flag.jsonl"), lines.join("\n") + "\n").unwrap();
    let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
    lines[3] = lines[3].replacen(
        "{\"at_secs\":1764288045",
        "{\"at_secs\":18446744073709551615",
        1,
    );
    std::fs::write(d("far-future.jsonl"), lines.join("\n") + "\n").unwrap();
    std::fs::write(d("empty.jsonl"), "").unwrap();
    std::fs::write(d("blank.jsonl"), "\n  \n").unwrap();
    std::fs::write(
        d("replay.json"),
        "{\"rows\": [], \"summary\": {\"records\": 0}}\n",
    )
    .unwrap();
    std::fs::write(d("sweep.csv"), "unchanged_runs,decay_replicas\n1,1\n").unwrap();
    // What `lpa simulate --seeds 3 --out` writes: summed scores, no cycles.
    std::fs::write(
        d("seeds.json"),
        "{\"scenario\": \"step\", \"seeds\": [1, 2, 3], \"scores\": {\"cycles\": 360}}\n",
    )
    .unwrap();
    let missing = d("missing.jsonl");
    let plot = d("out.png");
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec![path(&missing).into()],
            format!("{}: cannot read:", missing.display()),
        ),
        (
            vec![path(&d("bad-line.jsonl")).into()],
            format!(
                "{}:3: not a decision record:",
                d("bad-line.jsonl").display()
            ),
        ),
        (
            vec![path(&d("impossible.jsonl")).into()],
            format!(
                "{}:4: observation.requests.GET_/fibonacci?n=10.avg_response_time: invalid value -5 (expected a latency in ms from 0 to 86400000 (a day))",
                d("impossible.jsonl").display()
            ),
        ),
        (
            vec![path(&d("negative-reason.jsonl")).into()],
            "negative-reason.jsonl:4: reasons[0].observed: invalid value -5 (expected a number >= 0)".into(),
        ),
        (
            vec![path(&d("flag.jsonl")).into()],
            "flag.jsonl:6: reasons[0].breached: invalid value false (expected true: observed 9.599475 against target 7, as lpa writes it)".into(),
        ),
        (
            vec![path(&d("far-future.jsonl")).into()],
            "far-future.jsonl:4: at_secs: invalid value 18446744073709551615 (expected seconds since 1970 up to 253402300799, the end of the year 9999)".into(),
        ),
        (
            vec![path(&d("empty.jsonl")).into()],
            "empty.jsonl: empty: no decision records".into(),
        ),
        (
            vec![path(&d("blank.jsonl")).into()],
            "blank.jsonl: empty: no decision records".into(),
        ),
        (
            vec![path(&d("replay.json")).into()],
            "output of `lpa simulate --replay --out`, not a run".into(),
        ),
        (
            vec![path(&d("sweep.csv")).into()],
            "output of `lpa simulate --sweep --out`, not a run".into(),
        ),
        (
            vec![path(&d("seeds.json")).into()],
            "output of `lpa simulate --seeds N --out`, not a run".into(),
        ),
        (
            vec![
                path(&fixture("replay/decisions.jsonl")).into(),
                "--plot".into(),
                path(&d("out.jpg")).into(),
            ],
            "unknown format (expected a .svg or .png file name)".into(),
        ),
    ];
    for (args, needle) in cases {
        let mut args = args;
        if !args.iter().any(|a| a == "--plot") {
            args.extend(["--plot".to_string(), path(&plot).to_string()]);
        }
        let o = lpa().arg("report").args(&args).output().unwrap();
        assert_fails(&o, &needle);
        assert!(!plot.exists(), "{args:?} drew a plot");
    }
    assert!(!d("out.jpg").exists());
}

/// A trace edited by hand, or another program's, is one error line naming
/// the line (CSV) or row (JSON) and the field: each row as simulate writes
/// it (no negative numbers, breached true or false, one row a cycle in
/// order, time going forward, the CSV's columns named as simulate names
/// them, known target kinds), where such rows were read and scored.
#[test]
fn a_trace_not_as_simulate_writes_it_is_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.csv");
    simulate(
        "step.yaml",
        &["--cycles", "5", "--quiet", "--out", path(&good)],
    );
    let text = std::fs::read_to_string(&good).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let row = |i: usize| lines[i].split(',').map(str::to_string).collect::<Vec<_>>();
    let edit = |i: usize, col: usize, value: &str| {
        let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let mut r = row(i);
        r[col] = value.to_string();
        out[i] = r.join(",");
        out.join("\n") + "\n"
    };
    // cycle,at_secs,load,ready,replicas,backlog,TARGET,failures,breached,decided,action
    let cases = [
        (
            edit(2, 6, "NaN"),
            "good.csv:3: GET_/fibonacci?n=10 mean <= 7ms \"NaN\" is not a number >= 0",
        ),
        (
            edit(2, 6, "-5"),
            "good.csv:3: GET_/fibonacci?n=10 mean <= 7ms \"-5\" is not a number >= 0",
        ),
        (
            edit(2, 8, "maybe"),
            "good.csv:3: breached \"maybe\" is neither true nor false",
        ),
        (
            edit(3, 0, "77"),
            "good.csv:4: cycle 77 after cycle 1: a trace has one row a cycle, in order",
        ),
        (
            edit(3, 1, "0"),
            "good.csv:4: at_secs 0, where cycle 2 of 15 s starts at 30",
        ),
        (
            edit(2, 4, "4294967296"),
            "good.csv:3: replicas \"4294967296\" is more than 4294967295",
        ),
        (
            edit(2, 3, "99"),
            "good.csv:3: ready 99 above replicas 2: a replica is ready only once it runs",
        ),
        (
            edit(0, 5, "bogus"),
            "good.csv:1: column 6 is \"bogus\", where a trace has \"backlog\"",
        ),
    ];
    // Written over the good file: the error names it as the user does.
    let fails = |file: &Path, text: String, want: &str| {
        std::fs::write(file, text).unwrap();
        let o = report(&[path(file)]);
        assert_eq!(o.status.code(), Some(1), "{want}");
        assert_eq!(stdout(&o), "");
        assert_eq!(
            stderr(&o),
            format!("lpa: error: {}{want}\n", dir.path().join("").display())
        );
    };
    for (text, want) in cases {
        fails(&good, text, want);
    }
    // The JSON trace, checked as the CSV is.
    let good = dir.path().join("good.json");
    simulate(
        "step.yaml",
        &["--cycles", "5", "--quiet", "--out", path(&good)],
    );
    let text = std::fs::read_to_string(&good).unwrap();
    let first_observed = text
        .split("\"observed\": [")
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap();
    let cases = [
        ("\"interval_secs\": 15", "\"interval_secs\": 0", "good.json: interval_secs 0: a scenario's cycle lasts from 1 s to a day"),
        ("\"interval_secs\": 15", "\"interval_secs\": 18446744073709551615", "good.json: interval_secs 18446744073709551615: a scenario's cycle lasts from 1 s to a day"),
        ("\"at_secs\": 15,", "\"at_secs\": 15000000000000,", "good.json: rows[1]: at_secs 15000000000000, where cycle 1 of 15 s starts at 15"),
        ("\"kind\": \"mean\",\n      \"target\": 7.0", "\"kind\": \"errorRate\",\n      \"target\": 5.0", "good.json: targets[0]: \"errorRate\" <= 5 is no target (expected mean, median, min, max or pNN and a value >= 0, or errorRate and a fraction from 0 to 1)"),
        ("\"kind\": \"mean\"", "\"kind\": \"bogus\"", "good.json: targets[0]: \"bogus\" <= 7 is no target (expected mean, median, min, max or pNN and a value >= 0, or errorRate and a fraction from 0 to 1)"),
        ("\"target\": 7.0", "\"target\": -7.0", "good.json: targets[0]: \"mean\" <= -7 is no target (expected mean, median, min, max or pNN and a value >= 0, or errorRate and a fraction from 0 to 1)"),
        (first_observed, "-5", "good.json: rows[0]: observed -5 is not a number >= 0"),
        (first_observed, "1, 2", "good.json: rows[0]: 2 values observed, for 1 target"),
        ("\"cycle\": 1,", "\"cycle\": 7,", "good.json: rows[1]: cycle 7 after cycle 0: a trace has one row a cycle, in order"),
    ];
    for (from, to, want) in cases {
        fails(&good, text.replacen(from, to, 1), want);
    }
}

/// A trace is one pretty-printed JSON document: one that does not parse
/// (cut short, or edited by hand) was read as a decision log and blamed
/// its first line, `{`, for not being a decision record.
#[test]
fn a_json_trace_that_does_not_parse_is_named_as_a_trace() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.json");
    simulate("step.yaml", &["--quiet", "--out", path(&whole)]);
    let text = std::fs::read_to_string(&whole).unwrap();
    let cut = dir.path().join("cut.json");
    std::fs::write(&cut, &text[..text.len() / 2]).unwrap();
    let edited = dir.path().join("edited.json");
    std::fs::write(&edited, text.replacen("\"seed\": 1,", "\"seed\": 1,,", 1)).unwrap();
    for (trace, needle) in [
        (&cut, "cut.json: not a simulation trace: the JSON does not parse: EOF while parsing"),
        (&edited, "edited.json: not a simulation trace: the JSON does not parse: key must be a string at line 3 column 13"),
    ] {
        assert_fails(&report(&[path(trace)]), needle);
    }
}

/// What a crash leaves at the end of a log is no record: a line cut short,
/// a character cut in two (`é` is two bytes), zero bytes a file system
/// allotted but never wrote. `lpa report` and `--replay` leave it out with
/// a warning, where a cut `é` or a zero tail was an error ("stream did not
/// contain valid UTF-8", with no line). Bytes that are not UTF-8 inside
/// the log name their line; a byte order mark is read past.
#[test]
fn a_last_line_cut_short_is_left_out_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixture("replay/decisions.jsonl")).unwrap();
    let cut_in_e = br#"{"at_secs":1764288300,"target":"caf"#.iter().chain(b"\xc3");
    let tails: [(&str, Vec<u8>, Vec<u8>); 5] = [
        ("half", b"{\"at_secs\":17642".to_vec(), Vec::new()),
        ("cut_e", cut_in_e.clone().copied().collect(), Vec::new()),
        ("cut_e_zeros", cut_in_e.copied().collect(), vec![0; 4096]),
        ("zeros", b"{\"at_secs\":17642".to_vec(), vec![0; 4096]),
        ("zeros_after_newline", Vec::new(), vec![0; 4096]),
    ];
    for (name, tail, zeros) in tails {
        let log = dir.path().join(format!("{name}.jsonl"));
        std::fs::write(&log, [&good[..], &tail, &zeros].concat()).unwrap();
        let warning = format!(
            "{name}.jsonl:17: the last line is cut short (a crash while writing?); left out"
        );
        let replay = lpa()
            .args(["simulate", "--quiet", "--evaluation-config"])
            .arg(fixture("evaluation/seed.yaml"))
            .args(["--replay", path(&log)])
            .output()
            .unwrap();
        for (o, read) in [
            (report(&[path(&log)]), "16 cycles over 4:00"),
            (replay, "replay: 16 records of"),
        ] {
            let err = stderr(&o);
            assert!(o.status.success(), "{name}: {err}");
            assert_eq!(err.contains(&warning), !tail.is_empty(), "{name}: {err}");
            assert!(stdout(&o).contains(read), "{}", stdout(&o));
        }
    }
    let bad = dir.path().join("latin.jsonl");
    let mut lines: Vec<&[u8]> = good.split_inclusive(|&b| b == b'\n').collect();
    lines.insert(3, b"caf\xe9\n");
    std::fs::write(&bad, lines.concat()).unwrap();
    assert_fails(
        &report(&[path(&bad)]),
        "latin.jsonl: cannot read: line 4 is not UTF-8 text",
    );
    // So in a last line a crash did not cut: its bad byte is not the end
    // of what was written, and the record was left out in silence.
    let last = good.len()
        - 1
        - good[..good.len() - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .unwrap();
    let mut whole_last = good[..good.len() - 1].to_vec();
    whole_last.insert(good.len() - last + 12, 0xe9);
    std::fs::write(&bad, whole_last).unwrap();
    assert_fails(
        &report(&[path(&bad)]),
        "latin.jsonl: cannot read: line 16 is not UTF-8 text",
    );
    let bom = dir.path().join("bom.jsonl");
    std::fs::write(&bom, [&b"\xef\xbb\xbf"[..], &good].concat()).unwrap();
    let o = report(&[path(&bom)]);
    assert!(stdout(&o).contains("16 cycles over 4:00"), "{}", stderr(&o));
}

/// A log's words (its target, a Locust name) are its writer's: an escape
/// sequence reached the terminal, and a control character made the SVG
/// XML no parser reads. Both are shown escaped.
#[test]
fn control_characters_of_a_log_are_shown_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(fixture("replay/decisions.jsonl")).unwrap();
    let log = dir.path().join("ctl.jsonl");
    std::fs::write(
        &log,
        good.replace(
            "\"target\":\"deployment/fibonacci\"",
            "\"target\":\"deployment/x\\u001b[31m\\u0001\"",
        ),
    )
    .unwrap();
    let svg = dir.path().join("ctl.svg");
    let o = report(&[path(&log), "--plot", path(&svg)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("report: decision log "), "{out}");
    assert!(out.contains("(deployment/x\\u{1b}[31m\\u{1})"), "{out}");
    assert!(!out.contains('\u{1b}'), "{out}");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(!text
        .chars()
        .any(|c| c.is_control() && !"\t\n\r".contains(c)));
    // --replay names the requests a log measured when none is a target's.
    std::fs::write(
        &log,
        good.replace(
            "\"GET_/fibonacci?n=10\":{",
            "\"GET_/x\\u001b]0;t\\u0007\":{",
        ),
    )
    .unwrap();
    let o = lpa()
        .args(["simulate", "--replay", path(&log), "--evaluation-config"])
        .arg(fixture("evaluation/seed.yaml"))
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(
        err.contains("(its requests: GET_/x\\u{1b}]0;t\\u{7})"),
        "{err}"
    );
    assert!(!err.contains('\u{1b}'), "{err}");
}

/// The fixture's decision log with the times of lines 7 and 8 set back
/// 60 and 45 s (a clock set back, or two logs joined out of order).
pub(crate) fn log_going_back(dir: &Path) -> std::path::PathBuf {
    let log = dir.join("back.jsonl");
    let text = std::fs::read_to_string(fixture("replay/decisions.jsonl")).unwrap();
    let mut lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (i, back) in [(6, 60), (7, 45)] {
        let at = lines[i]["at_secs"].as_u64().unwrap() - back;
        lines[i]["at_secs"] = at.into();
        lines[i]["observation"]["at_secs"] = at.into();
    }
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&log, body).unwrap();
    log
}

#[test]
fn a_log_whose_time_goes_back_is_read_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_going_back(dir.path());
    let o = report(&[path(&log)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(
        err,
        format!(
            "lpa report: warning: {}:7: at_secs 1764288030 is before 1764288075 of line 6 (a clock set back, or logs joined out of order); 2 such lines in all, each read as taking no time\n",
            log.display()
        )
    );
    // Clamped: cycles 7 and 8 end when cycle 6 did (1:30), so the breach
    // of cycle 5 (1:15) is over 0:15 later, and the run still lasts 4:00.
    let out = stdout(&o);
    assert!(out.contains("16 cycles over 4:00"), "{out}");
    assert!(
        out.contains("breach at cycle 5 (1:15): 3 cycles (0:15)"),
        "{out}"
    );
}

#[test]
fn simulate_plots_label_people_first_and_mark_every_breach() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("spike.svg");
    let trace = dir.path().join("spike.json");
    let o = simulate(
        "spike.yaml",
        &["--quiet", "--plot", path(&svg), "--out", path(&trace)],
    );
    let out = stdout(&o);
    // The recovery is named by the profile's kind; counts agree in number.
    assert!(
        out.contains("recovery            spike at cycle 30: "),
        "{out}"
    );
    assert!(out.contains("(1 reversal)"), "{out}");
    let text = std::fs::read_to_string(&svg).unwrap();
    let texts = svg_texts(&text);
    for label in [
        "GET /fibonacci?n=10 mean",
        "target 7 ms",
        "over target (breach)",
    ] {
        assert!(texts.iter().any(|t| t == label), "{label:?} in {texts:?}");
    }
    assert!(!texts.iter().any(|t| t.contains("GET_/")), "{texts:?}");
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("scenario spike under seed.yaml")),
        "{texts:?}"
    );

    // Every breached cycle has its own marker, however close to the line
    // (the step scenario breaches by 0.01 ms); one more is the legend's.
    let svg = dir.path().join("step.svg");
    let trace = dir.path().join("step.json");
    simulate(
        "step.yaml",
        &["--quiet", "--plot", path(&svg), "--out", path(&trace)],
    );
    let t: Value = serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    let rows = t["rows"].as_array().unwrap();
    let breached: Vec<f64> = rows
        .iter()
        .filter(|r| r["breached"] == true)
        .map(|r| r["observed"][0].as_f64().unwrap())
        .collect();
    assert!(
        breached.iter().any(|v| *v < 7.05),
        "no breach just over the line: {breached:?}"
    );
    let doc_text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&doc_text).unwrap();
    let marks = doc
        .descendants()
        .filter(|n| n.has_tag_name("circle") && n.attribute("fill") == Some("#D55E00"))
        .count();
    assert_eq!(marks, breached.len() + 1);
}

/// A stop signal while the plot is drawn leaves no file behind: the plot
/// goes to a hidden file beside its path, which a SIGTERM left there.
#[test]
fn a_stop_signal_while_the_plot_is_drawn_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.json");
    simulate(
        "step.yaml",
        &["--quiet", "--cycles", "200000", "--out", path(&trace)],
    );
    let plot = dir.path().join("r.png");
    let (o, left) = stopped_while_staged(
        lpa().args(["report", path(&trace), "--plot", path(&plot)]),
        dir.path(),
        &["trace.json"],
        "-TERM",
    );
    assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
    assert_eq!(left, Vec::<std::ffi::OsString>::new());
}
