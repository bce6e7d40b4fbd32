//! `lpa simulate` through the real binary: scenarios, replay, sweeps, plots
//! and bad input.

use std::path::Path;
use std::process::Output;

use crate::support::{fixture, lpa, stderr, stdout};

fn simulate(args: &[&str]) -> Output {
    let seed = fixture("evaluation/seed.yaml");
    lpa()
        .arg("simulate")
        .arg("--evaluation-config")
        .arg(&seed)
        .args(args)
        .output()
        .expect("run lpa")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A failure as the house rules want it: exit 1, nothing on stdout, one
/// error line on stderr containing `needle`.
fn assert_fails(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert_eq!(stdout(o), "", "stdout must stay empty on error");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert_eq!(
        err.trim_end()
            .lines()
            .filter(|l| l.starts_with("lpa: error"))
            .count(),
        1,
        "{err}"
    );
}

#[test]
fn step_scenario_prints_the_table_and_scores_and_is_reproducible() {
    let step = fixture("scenarios/step.yaml");
    let o = simulate(&["--scenario", path(&step), "--cycles", "40"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("# target 1: GET_/fibonacci?n=10 mean <= 7ms"),
        "{out}"
    );
    assert!(
        out.contains("cycle  time_s   load/s ready replicas mean<=7ms decided  decision"),
        "{out}"
    );
    // Cycle 20 is the step to 1500 req/s: two replicas saturate.
    let row20 = out
        .lines()
        .find(|l| l.trim_start().starts_with("20 "))
        .unwrap();
    assert!(
        row20.contains("1500.0") && row20.contains('!') && row20.contains("scale up 2 -> 3"),
        "{row20}"
    );
    assert!(
        out.contains("scores: scenario step, seed 1, 40 cycles of 15s"),
        "{out}"
    );
    assert!(
        out.contains("recovery            step at cycle 20: 5 cycles"),
        "{out}"
    );
    let again = simulate(&["--scenario", path(&step), "--cycles", "40"]);
    assert_eq!(out, stdout(&again), "same seed, same output");
    let other = simulate(&["--scenario", path(&step), "--cycles", "40", "--seed", "9"]);
    assert!(stdout(&other).contains("seed 9"));
    assert_ne!(out, stdout(&other));
}

#[test]
fn trace_files_in_json_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("trace.json");
    let csv = dir.path().join("trace.csv");
    let spike = fixture("scenarios/spike.yaml");
    for out in [&json, &csv] {
        let o = simulate(&["--scenario", path(&spike), "--quiet", "--out", path(out)]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stdout(&o).starts_with("scores: scenario spike"),
            "{}",
            stdout(&o)
        );
    }
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(trace["rows"].as_array().unwrap().len(), 100);
    assert_eq!(trace["scores"]["cycles"], 100);
    assert_eq!(trace["targets"][0]["key"], "GET_/fibonacci?n=10");
    let csv = std::fs::read_to_string(&csv).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "cycle,at_secs,load,ready,replicas,backlog,GET_/fibonacci?n=10 mean <= 7ms,failures,breached,decided,action"
    );
    assert_eq!(lines.count(), 100);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
}

#[test]
fn csv_load_profile_is_read_relative_to_the_scenario() {
    let o = simulate(&[
        "--scenario",
        path(&fixture("scenarios/recorded.yaml")),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("60 cycles of 15s"), "{}", stdout(&o));
}

#[test]
fn plots_in_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let step = fixture("scenarios/step.yaml");
    let svg = dir.path().join("step.svg");
    let png = dir.path().join("step.png");
    for p in [&svg, &png] {
        let o = simulate(&["--scenario", path(&step), "--quiet", "--plot", path(p)]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stderr(&o).contains("plot written to"), "{}", stderr(&o));
    }
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
    assert!(svg.contains("observed latency against target"));
    assert!(svg.trim_end().ends_with("</svg>"));
    let png = std::fs::read(&png).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // 1200 x 960, from the IHDR chunk.
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 1200);
    assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 960);
    assert!(
        png.len() > 20_000,
        "a blank image would compress to almost nothing"
    );
}

#[test]
fn replay_shows_recorded_and_new_decisions_side_by_side() {
    let new = fixture("replay/new-policy.yaml");
    let o = lpa()
        .args(["simulate", "--evaluation-config", path(&new), "--replay"])
        .arg(fixture("replay/decisions.jsonl"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let line3 = out
        .lines()
        .find(|l| l.trim_start().starts_with("3 "))
        .unwrap();
    assert!(
        line3.contains(" *  hold 3 (calm run 3 of 3 before decay) | decay 3 -> 2"),
        "{line3}"
    );
    assert!(out.contains("same decision       6 of 16"), "{out}");
    assert!(
        out.contains("caveat: the observations were measured under the recorded replica counts"),
        "{out}"
    );
}

#[test]
fn replay_corrupt_line_stops_or_skips_as_asked() {
    let corrupt = fixture("replay/decisions-corrupt.jsonl");
    let o = simulate(&["--replay", path(&corrupt)]);
    assert_fails(&o, "decisions-corrupt.jsonl:5: corrupt decision record");
    let o = simulate(&[
        "--replay",
        path(&corrupt),
        "--on-bad-line",
        "skip",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("decisions-corrupt.jsonl:5: corrupt decision record"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("replay: 15 records"), "{}", stdout(&o));
}

#[test]
fn sweep_prints_the_pareto_front_best_first() {
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("points.csv");
    let o = simulate(&[
        "--scenario",
        path(&fixture("scenarios/step.yaml")),
        "--cycles",
        "60",
        "--sweep",
        path(&fixture("sweeps/decay.yaml")),
        "--jobs",
        "2",
        "--out",
        path(&all),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("128 points x 60 cycles in"),
        "{}",
        stderr(&o)
    );
    let out = stdout(&o);
    assert!(
        out.starts_with("sweep: 128 points over scenario step"),
        "{out}"
    );
    let rows: Vec<(u64, u64)> = out
        .lines()
        .skip(2)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect();
    assert!(rows.len() >= 2, "{out}");
    // Best first: cycles over target rise, cost falls, strictly.
    for w in rows.windows(2) {
        assert!(w[0].0 < w[1].0 && w[0].1 > w[1].1, "not a front: {rows:?}");
    }
    assert_eq!(std::fs::read_to_string(&all).unwrap().lines().count(), 129);
}

#[test]
fn bad_input_is_one_clear_error() {
    let step = fixture("scenarios/step.yaml");
    let o = simulate(&[
        "--scenario",
        path(&fixture("scenarios/bad/negative-rate.yaml")),
    ]);
    assert_fails(
        &o,
        "negative-rate.yaml: load.from: invalid value -100 (expected a rate in requests/s, >= 0)",
    );
    let o = simulate(&[
        "--scenario",
        path(&step),
        "--sweep",
        path(&fixture("sweeps/bad/empty-range.yaml")),
    ]);
    assert_fails(&o, "empty-range.yaml: unchangedRuns: invalid value from: 5 to: 1 (expected at least one value: the range is empty)");
    let dir = tempfile::tempdir().unwrap();
    let gif = dir.path().join("x.gif");
    let o = simulate(&["--scenario", path(&step), "--plot", path(&gif)]);
    assert_fails(
        &o,
        "x.gif: unknown format (expected a .svg or .png file name)",
    );
    let o = simulate(&["--scenario", path(&dir.path().join("missing.yaml"))]);
    assert_fails(&o, "missing.yaml: cannot read the scenario");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no partial output"
    );
}
