//! `lpa simulate` through the real binary: scenarios, replay, sweeps, plots
//! and bad input.

use std::path::Path;
use std::process::Output;

use crate::support::{file_size_limit, fixture, lpa, stderr, stdout};

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

/// `examples/recommended.yaml` of this checkout.
fn recommended_config() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/recommended.yaml")
}

/// Line `n` of a replay's table.
fn replay_line(out: &str, n: u32) -> &str {
    out.lines()
        .find(|l| l.trim_start().starts_with(&format!("{n} ")))
        .unwrap_or_else(|| panic!("no line {n}: {out}"))
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

/// `lpa simulate` of `scenario` under `config` (where `simulate` runs the
/// seed's), with `extra` arguments: its stdout, the run having succeeded.
fn simulate_under(config: &Path, scenario: &Path, extra: &[&str]) -> String {
    let o = lpa()
        .arg("simulate")
        .args([
            "--evaluation-config",
            path(config),
            "--scenario",
            path(scenario),
        ])
        .args(extra)
        .output()
        .expect("run lpa");
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

/// [`simulate_under`] with `--compare --quiet`.
fn compare_under(config: &Path, scenario: &Path, extra: &[&str]) -> String {
    let args: Vec<&str> = ["--compare", "--quiet"]
        .iter()
        .chain(extra)
        .copied()
        .collect();
    simulate_under(config, scenario, &args)
}

/// A run that must succeed (under `seed.yaml` unless `args` names another
/// config): its stdout.
fn simulate_ok(args: &[&str]) -> String {
    let o = simulate(args);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
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

/// The heights, in pixels from the top, of the longest polyline drawn in
/// `colour` (a legend's sample is a two-point one).
fn line_heights(svg: &str, colour: &str) -> Vec<u32> {
    let stroke = format!("stroke=\"{colour}\"");
    let points = svg
        .split("<polyline")
        .filter(|e| e.split('>').next().unwrap().contains(&stroke))
        .map(|e| {
            e.split("points=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
        })
        .max_by_key(|p| p.len())
        .unwrap_or_else(|| panic!("no {colour} line"));
    points
        .split_whitespace()
        .map(|p| p.split(',').nth(1).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn a_long_run_plots_small_and_keeps_its_peak() {
    // 200 000 cycles drew a 16 MB SVG, a point and a shaded span per cycle.
    let dir = tempfile::tempdir().unwrap();
    let spike = fixture("scenarios/spike.yaml");
    let svg = dir.path().join("long.svg");
    let o = simulate(&[
        "--scenario",
        path(&spike),
        "--cycles",
        "200000",
        "--samples",
        "1",
        "--quiet",
        "--plot",
        path(&svg),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.len() < 1_000_000, "{} bytes", svg.len());
    assert!(svg.trim_end().ends_with("</svg>"));
    // The load (orange) is 250 req/s but for the spike's 8 cycles at
    // 1800, 36 pixels higher on an axis up to the peak's capacity: a
    // picture of every 100th cycle, say, would have lost them.
    let load = line_heights(&svg, "#E69F00");
    let (top, base) = (load.iter().min().unwrap(), load.iter().max().unwrap());
    assert!(base - top > 20, "spike at {top}, base at {base}");
    assert!(load.len() <= 4000, "{} points", load.len());
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
    let line3 = replay_line(&out, 3);
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

/// The decision log of one `lpa demo --evaluation-config
/// examples/recommended.yaml` on the build before a count that breached
/// was remembered: 5 replicas read 7.37 ms (line 8), 6 were added, and
/// two runs later the model decayed 6 -> 5 (line 11), to read 7.55 ms
/// (line 13). Replayed now, that decay is held.
#[test]
fn replaying_the_demos_decay_then_breach_holds_the_decay() {
    let recommended = recommended_config();
    let o = lpa()
        .args([
            "simulate",
            "--evaluation-config",
            path(&recommended),
            "--replay",
        ])
        .arg(fixture("replay/demo-decay-then-breach.jsonl"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        replay_line(&out, 8).contains("scale up 5 -> 6 | scale up 5 -> 6"),
        "{out}"
    );
    assert!(
        replay_line(&out, 11).contains(" *  decay 6 -> 5 | decay 6 -> 5 held: 5 replicas read 7.37ms > 7ms 9s ago, at a load not clearly more than now"),
        "{out}"
    );
    // The load's end (line 20): a decay past half the replicas holds
    // half a reading's noise more, 6 -> 2 where 6 -> 1 was recorded.
    assert!(
        replay_line(&out, 20).contains(" *  decay 6 -> 1 | decay 6 -> 2"),
        "{out}"
    );
    assert!(out.contains("same decision       18 of 20"), "{out}");
}

/// A target the log never measured (a renamed endpoint) holds every new
/// decision for want of data; with `--quiet` only the count of agreeing
/// decisions showed, as if the policies had been compared.
#[test]
fn replay_warns_of_a_target_the_log_never_measured() {
    let log = fixture("replay/decisions.jsonl");
    let o = lpa()
        .args(["simulate", "--evaluation-config"])
        .arg(fixture("evaluation/test-endpoint.yaml"))
        .args(["--replay", path(&log), "--quiet"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).trim_end(),
        format!(
            "lpa simulate: warning: target GET /test mean: no record of {} measured GET_/test (its requests: GET_/fibonacci?n=10), so the new policy has no data for it",
            log.display()
        )
    );
    assert!(stdout(&o).contains("replay: 16 records"), "{}", stdout(&o));
    let o = simulate(&["--replay", path(&log), "--quiet"]);
    assert_eq!(stderr(&o), "", "the seed's target is measured");
}

/// Replaying another output of `lpa simulate` read its first line as a
/// corrupt record and suggested `--on-bad-line skip`, which skipped every
/// line, one warning each.
#[test]
fn replay_names_the_output_it_was_given_instead_of_a_log() {
    let dir = tempfile::tempdir().unwrap();
    let step = fixture("scenarios/step.yaml");
    let log = fixture("replay/decisions.jsonl");
    let trace = "lpa simulate --scenario ... --out";
    for (file, source, what) in [
        ("trace.json", &step, trace),
        ("trace.csv", &step, trace),
        ("replay.json", &log, "lpa simulate --replay --out"),
    ] {
        let out = dir.path().join(file);
        let flag = if source == &step {
            "--scenario"
        } else {
            "--replay"
        };
        simulate_ok(&[flag, path(source), "--quiet", "--out", path(&out)]);
        for on_bad in ["stop", "skip"] {
            let o = simulate(&["--replay", path(&out), "--on-bad-line", on_bad]);
            assert_fails(
                &o,
                &format!("{file}: this is the output of `{what}`, not a decision log"),
            );
        }
    }
}

#[test]
fn replay_of_a_log_whose_time_goes_back_warns_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = crate::report::log_going_back(dir.path());
    let o = simulate(&["--replay", path(&log), "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "lpa simulate: warning: {}:7: at_secs 1764288030 is before 1764288075 of line 6 (a clock set back, or logs joined out of order); 2 such lines in all, each re-decided at its own time, in the log's order\n",
            log.display()
        )
    );
    assert!(stdout(&o).contains("replay: 16 records"), "{}", stdout(&o));
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

/// What `lpa report` refuses of a record, replay refuses too: a time past
/// the year 9999 was re-decided, and printed in the table.
#[test]
fn replay_refuses_a_record_report_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(fixture("replay/decisions.jsonl")).unwrap();
    let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
    lines[3] = lines[3].replacen(
        "{\"at_secs\":1764288045",
        "{\"at_secs\":18446744073709551615",
        1,
    );
    let log = dir.path().join("far.jsonl");
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let why = "far.jsonl:4: at_secs: invalid value 18446744073709551615 (expected seconds since 1970 up to 253402300799, the end of the year 9999)";
    assert_fails(&simulate(&["--replay", path(&log)]), why);
    let o = simulate(&["--replay", path(&log), "--on-bad-line", "skip", "--quiet"]);
    assert!(stderr(&o).contains(why), "{}", stderr(&o));
    assert!(stdout(&o).contains("replay: 15 records"), "{}", stdout(&o));
}

/// A recorded latency no measurement can have is a bad line, as the
/// metric hook refuses it: re-decided, -5 ms read as a calm run and 1e308
/// ms as "scale up 3 -> 4294967295".
#[test]
fn replay_of_an_impossible_latency_stops_or_skips_as_asked() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(fixture("replay/decisions.jsonl")).unwrap();
    for bad in ["-5", "1e308"] {
        let lines: Vec<String> = good
            .lines()
            .enumerate()
            .map(|(i, l)| match i {
                3 => l.replacen(
                    "\"avg_response_time\":3.999525",
                    &format!("\"avg_response_time\":{bad}"),
                    1,
                ),
                _ => l.to_string(),
            })
            .collect();
        assert_ne!(lines[3], good.lines().nth(3).unwrap());
        let log = dir.path().join("decisions.jsonl");
        std::fs::write(&log, lines.join("\n") + "\n").unwrap();
        let why = format!(
            "decisions.jsonl:4: observation.requests.GET_/fibonacci?n=10.avg_response_time: invalid value {bad} (expected a latency in ms from 0 to 86400000 (a day))"
        );
        assert_fails(&simulate(&["--replay", path(&log)]), &why);
        let o = simulate(&["--replay", path(&log), "--on-bad-line", "skip", "--quiet"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("{why}; skipped")),
            "{}",
            stderr(&o)
        );
        assert!(stdout(&o).contains("replay: 15 records"), "{}", stdout(&o));
    }
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
        stderr(&o).contains("128 points x 1 seed x 60 cycles in"),
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
        .skip(3)
        .take_while(|l| !l.starts_with("vs_bound:"))
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
fn a_sweep_over_seeds_judges_every_point_by_the_configs_targets() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("targets.yaml");
    std::fs::write(&spec, "target: [7, 9]\nmargin: [0.1, 0.2]\n").unwrap();
    let step = fixture("scenarios/step.yaml");
    let points = dir.path().join("points.json");
    let out = simulate_under(
        &recommended_config(),
        &step,
        &[
            "--sweep",
            path(&spec),
            "--seeds",
            "3",
            "--out",
            path(&points),
        ],
    );
    assert!(
        out.starts_with(
            "sweep: 4 points over scenario step (seeds 1 to 3 (3 runs summed), 120 cycles)"
        ),
        "{out}"
    );
    assert!(
        out.contains("every point judged by the evaluation config's targets (GET_/fibonacci?n=10 mean <= 7ms)"),
        "{out}"
    );
    let all = read_json(&points);
    let point = |target: f64, margin: f64| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|p| p["point"]["target"] == target && p["point"]["margin"] == margin)
            .unwrap_or_else(|| panic!("no point {target} {margin}: {all}"))
            .clone()
    };
    // Each point is its config run alone over the same seeds: the same
    // replicas; over target as the config's 7 ms judges.
    let recommended = std::fs::read_to_string(recommended_config()).unwrap();
    for (target, margin) in [(7.0, 0.1), (7.0, 0.2), (9.0, 0.1), (9.0, 0.2)] {
        let text = recommended
            .replace("target: 7", &format!("target: {target}"))
            .replace("margin: 0.1", &format!("margin: {margin}"));
        assert_ne!(text == recommended, (target, margin) != (7.0, 0.1));
        let config = dir.path().join(format!("{target}-{margin}.yaml"));
        std::fs::write(&config, text).unwrap();
        let alone = dir.path().join(format!("{target}-{margin}.json"));
        simulate_under(
            &config,
            &step,
            &["--seeds", "3", "--quiet", "--out", path(&alone)],
        );
        let alone = read_json(&alone);
        let swept = point(target, margin);
        let (a, s) = (&alone["scores"], &swept["scores"]);
        assert_eq!(
            s["replica_cycles"], a["replica_cycles"],
            "{target} {margin}"
        );
        assert_eq!(s["scale_changes"], a["scale_changes"], "{target} {margin}");
        if target == 7.0 {
            assert_eq!(s, a, "{target} {margin}");
            assert_eq!(
                swept["bound_replica_cycles"], alone["bound_replica_cycles"]["policy"],
                "{target} {margin}"
            );
        } else {
            // Judged at 9 ms alone, at 7 in the sweep: every cycle over 9
            // is over 7, and at 9 ms some cycles read between.
            let (own, held) = (
                num(&a["cycles_over_target"].to_string()),
                num(&s["cycles_over_target"].to_string()),
            );
            assert!(
                held > own,
                "{target} {margin}: {held} judged at 7, {own} at 9"
            );
        }
    }
    // The front's vs_bound is each point's replica-cycles over its bound.
    let front: Vec<Vec<&str>> = out
        .lines()
        .skip(3)
        .take_while(|l| !l.starts_with("vs_bound:"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(!front.is_empty(), "{out}");
    for row in &front {
        let param = |name: &str| -> f64 {
            let cell = row.iter().find_map(|c| c.strip_prefix(name));
            cell.unwrap_or_else(|| panic!("no {name} in {row:?}"))
                .parse()
                .unwrap()
        };
        let p = point(param("target="), param("margin="));
        let ratio = p["scores"]["replica_cycles"].as_f64().unwrap()
            / p["bound_replica_cycles"].as_f64().unwrap();
        assert_eq!(row[3], format!("{ratio:.2}x"), "{out}");
    }
}

/// Sweeps `spec` over the spike under the recommended config, two seeds,
/// and checks each `--out` CSV row against the config run alone with the
/// row's parameters (`config_for` writes that config from the row's
/// cells). Returns the rows' `columns`, for the caller to check the grid.
fn each_point_runs_as_its_own_config(
    spec: &str,
    config_for: impl Fn(&str, &dyn Fn(&str) -> String) -> String,
    columns: &[&str],
) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let spec_file = dir.path().join("spec.yaml");
    std::fs::write(&spec_file, spec).unwrap();
    let spike = fixture("scenarios/spike.yaml");
    let csv = dir.path().join("points.csv");
    let out = simulate_under(
        &recommended_config(),
        &spike,
        &[
            "--sweep",
            path(&spec_file),
            "--seeds",
            "2",
            "--out",
            path(&csv),
        ],
    );
    assert!(out.starts_with("sweep: "), "{out}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| head.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let recommended = std::fs::read_to_string(recommended_config()).unwrap();
    let mut seen = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let cell = |name: &str| row[col(name)].to_string();
        let config = dir.path().join(format!("{i}.yaml"));
        std::fs::write(&config, config_for(&recommended, &cell)).unwrap();
        let alone = dir.path().join(format!("{i}.json"));
        simulate_under(
            &config,
            &spike,
            &["--seeds", "2", "--quiet", "--out", path(&alone)],
        );
        let a = &read_json(&alone)["scores"];
        for field in ["replica_cycles", "cycles_over_target", "scale_changes"] {
            assert_eq!(cell(field), a[field].to_string(), "row {i} {field}: {text}");
        }
        seen.push(
            columns
                .iter()
                .map(|c| cell(c))
                .collect::<Vec<_>>()
                .join("/"),
        );
    }
    // A knob the policy decides by: the points are not all alike.
    let costs: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r[col("replica_cycles")]).collect();
    assert!(costs.len() > 1, "{text}");
    seen.sort();
    seen
}

/// The model's other knobs sweep like the margin: each point is the
/// config run alone with that knob, and the CSV names what was swept.
#[test]
fn a_sweep_varies_the_models_queue_share_and_learn_runs() {
    let seen = each_point_runs_as_its_own_config(
        "queueShare: [0.5, 0.75]\nlearnRuns: [3, 6]\n",
        |recommended, cell| {
            assert_eq!(cell("margin"), "0.1", "not swept, the config's");
            assert_eq!(cell("downscale_stabilization"), "", "not swept, unnamed");
            recommended.replace(
                "margin: 0.1",
                &format!(
                    "margin: 0.1\n  queueShare: {}\n  learnRuns: {}",
                    cell("queue_share"),
                    cell("learn_runs")
                ),
            )
        },
        &["queue_share", "learn_runs"],
    );
    assert_eq!(seen, ["0.5/3", "0.5/6", "0.75/3", "0.75/6"]);

    let o = lpa()
        .args(["simulate", "--scenario"])
        .arg(fixture("scenarios/spike.yaml"))
        .arg("--sweep")
        .arg(fixture("sweeps/bad/queue-share-zero.yaml"))
        .args(["--evaluation-config", path(&recommended_config())])
        .output()
        .unwrap();
    assert_fails(
        &o,
        "queue-share-zero.yaml: queueShare: invalid value 0 (expected shares above 0 and up to 1)",
    );
}

/// HPA's downscale stabilization window sweeps as durations.
#[test]
fn a_sweep_varies_the_downscale_stabilization_window() {
    let seen = each_point_runs_as_its_own_config(
        "downscaleStabilization: [0, 30s, 5m]\n",
        |recommended, cell| {
            assert_eq!(cell("queue_share"), "", "not swept, unnamed");
            format!(
                "{recommended}\ndownscaleStabilization: {}\n",
                cell("downscale_stabilization")
            )
        },
        &["downscale_stabilization"],
    );
    assert_eq!(seen, ["0s", "300s", "30s"]);
}

#[test]
fn pareto_draws_the_bound_of_each_panel_and_refuses_a_corrupt_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = Vec::new();
    for sc in ["step", "spike"] {
        let json = dir.path().join(format!("{sc}.json"));
        compare_under(
            &recommended_config(),
            &fixture(&format!("scenarios/{sc}.yaml")),
            &["--seeds", "2", "--out", path(&json)],
        );
        inputs.push(json);
    }
    let pareto = |plot: &Path| {
        lpa()
            .args(["simulate", "--pareto"])
            .args(&inputs)
            .arg("--plot")
            .arg(plot)
            .output()
            .unwrap()
    };
    let svg = dir.path().join("both.svg");
    let o = pareto(&svg);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&svg).unwrap();
    // One purple line per panel.
    assert_eq!(
        text.matches(r##"stroke="#CC79A7" stroke-width="2""##)
            .count(),
        2,
        "{text}"
    );
    let mut spike = read_json(&inputs[1]);
    spike["bound_curve"][1] = serde_json::json!([3]);
    std::fs::write(&inputs[1], spike.to_string()).unwrap();
    let refused = dir.path().join("refused.svg");
    let o = pareto(&refused);
    assert_fails(&o, "spike.json: bound_curve: invalid value [[0.0,");
    assert!(
        stderr(&o)
            .contains("(expected [cycles over target, replica-cycles] pairs of numbers >= 0)"),
        "{}",
        stderr(&o)
    );
    assert!(!refused.exists(), "no plot from a refused input");
    // Every count drawn is checked, not only the bound.
    spike["bound_curve"] = serde_json::Value::Null;
    for (at, value, needle) in [
        (
            &["scores", "replica_cycles"][..],
            serde_json::json!(-5),
            "scores.replica_cycles: invalid value -5",
        ),
        (
            &["baselines", "hpa_latency", "cycles_over_target"],
            serde_json::json!(1e308),
            "baselines.hpa_latency.cycles_over_target: invalid value 1e+308",
        ),
        (
            &["seeds"],
            serde_json::json!("x"),
            "seeds: invalid value \"x\"",
        ),
        (
            &["baselines"],
            serde_json::Value::Null,
            "not the JSON of lpa simulate --compare --out",
        ),
    ] {
        let mut bad = spike.clone();
        let (last, parents) = at.split_last().unwrap();
        let mut v = &mut bad;
        for key in parents {
            v = &mut v[*key];
        }
        v[*last] = value;
        std::fs::write(&inputs[1], bad.to_string()).unwrap();
        assert_fails(&pareto(&refused), needle);
        assert!(!refused.exists(), "no plot from {at:?}");
    }
    // More panels than a page holds: refused before any file is read.
    let o = lpa()
        .args(["simulate", "--pareto"])
        .args((0..65).map(|i| format!("absent-{i}.json")))
        .arg("--plot")
        .arg(&refused)
        .output()
        .unwrap();
    assert_fails(&o, "--pareto: 65 files, where one plot draws at most 64 (a panel each, 32 rows of 400 px); draw them in parts");
    assert!(!refused.exists());
}

/// A sweep whose points, seeds and cycles multiply past 100 million says
/// so before it starts, where it ran without a word for as long as it
/// took. Its first line is read, then it is stopped.
#[test]
fn a_long_sweep_says_how_long_before_it_starts() {
    use std::io::{BufRead, BufReader};
    let mut child = lpa()
        .args(["simulate", "--quiet", "--evaluation-config"])
        .arg(fixture("evaluation/seed.yaml"))
        .arg("--scenario")
        .arg(fixture("scenarios/step.yaml"))
        .arg("--sweep")
        .arg(fixture("sweeps/bench-1000.yaml"))
        .args(["--seeds", "1000"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        line,
        "lpa simulate: note: 1000 points x 1000 seeds x 120 cycles = 120000000 simulated cycles before any output; Ctrl-C stops it\n"
    );
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
    for (sweep, error) in [
        ("empty-range.yaml", "unchangedRuns: invalid value from: 5 to: 1 (expected at least one value: the range is empty)"),
        ("nothing-swept.yaml", "a parameter to sweep: missing (expected one or more of unchangedRuns, decayReplicas, scaleUp, stepReplicas, tolerance, target, margin, learnRuns, queueShare, downscaleStabilization)"),
        ("margin-without-model.yaml", "margin: the evaluation config has no model: section, so no margin to vary"),
    ] {
        let file = fixture(&format!("sweeps/bad/{sweep}"));
        let o = simulate(&["--scenario", path(&step), "--sweep", path(&file)]);
        assert_fails(&o, &format!("{sweep}: {error}"));
    }
    let o = lpa()
        .args([
            "simulate",
            "--evaluation-config",
            path(&recommended_config()),
        ])
        .args(["--scenario", path(&step), "--sweep"])
        .arg(fixture("sweeps/bad/margin-one.yaml"))
        .output()
        .unwrap();
    assert_fails(
        &o,
        "margin-one.yaml: margin: invalid value 1 (expected fractions from 0 up to (not including) 1)",
    );
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

/// The compare table's rows, by yardstick: over_target, over_model,
/// replica_cycles, vs_oracle, vs_bound, reversals, recovery.
fn compare_rows(out: &str) -> Vec<(String, Vec<String>)> {
    let table = out
        .split_once(
            "\nyardstick    over_target over_model replica_cycles vs_oracle vs_bound reversals recovery\n",
        )
        .unwrap_or_else(|| panic!("no compare table in: {out}"))
        .1;
    table
        .lines()
        .take_while(|l| !l.starts_with("hpa-cpu targets") && !l.starts_with("over_target:"))
        .map(|l| {
            let mut f = l.split_whitespace().map(str::to_string);
            (f.next().unwrap(), f.collect())
        })
        .collect()
}

fn num(cell: &str) -> u64 {
    cell.parse()
        .unwrap_or_else(|_| panic!("not a count: {cell:?}"))
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The relations every compare table of `cycles` (all seeds) must satisfy.
fn check_compare_relations(out: &str, cycles: u64) -> Vec<(String, Vec<String>)> {
    let rows = compare_rows(out);
    let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        names,
        ["policy", "seed", "hpa-cpu", "hpa-latency", "oracle"],
        "{out}"
    );
    let oracle = &rows[4].1;
    // The oracle holds every cycle on the model's noise-free values.
    assert_eq!(oracle[1], "0", "{out}");
    assert_eq!(oracle[3], "1.00x", "{out}");
    let oracle_cost = num(&oracle[2]);
    for (name, r) in &rows {
        let cost = num(&r[2]);
        assert_eq!(
            r[3],
            format!("{:.2}x", cost as f64 / oracle_cost as f64),
            "{name}"
        );
        // Whoever never breached on the model paid at least the oracle.
        if r[1] == "0" {
            assert!(
                cost >= oracle_cost,
                "{name} holds with less than the oracle: {out}"
            );
        }
        assert!(num(&r[0]) <= cycles && num(&r[1]) <= cycles, "{name}");
    }
    rows
}

#[test]
fn compare_prints_the_policy_beside_every_yardstick_and_writes_them_to_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("step.json");
    let step = fixture("scenarios/step.yaml");
    let out = simulate_ok(&[
        "--scenario",
        path(&step),
        "--compare",
        "--quiet",
        "--out",
        path(&json),
    ]);
    assert!(
        out.contains("compare: scenario step, seed 1, 120 cycles of 15s each"),
        "{out}"
    );
    assert!(
        out.contains("hpa-cpu targets 60 % CPU: the highest utilisation that holds every target at steady state under the model."),
        "{out}"
    );
    let rows = check_compare_relations(&out, 120);
    // seed.yaml is the seed rule: the two rows are one run.
    assert_eq!(rows[0].1, rows[1].1, "{out}");
    // The scores block names the oracle too.
    let oracle_cost = num(&rows[4].1[2]);
    assert!(
        out.contains(&format!(
            "  vs oracle           {} (the oracle's {oracle_cost}:",
            rows[0].1[3]
        )),
        "{out}"
    );

    let j = read_json(&json);
    assert_eq!(j["rows"].as_array().unwrap().len(), 120);
    assert_eq!(j["oracle_replica_cycles"], oracle_cost);
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let score_keys = keys(&j["scores"]);
    assert_eq!(
        score_keys,
        [
            "cycles",
            "cycles_over_target",
            "peak_replicas",
            "recoveries",
            "replica_cycles",
            "reversals",
            "scale_changes"
        ]
    );
    assert_eq!(keys(&j["baselines"]), ["hpa_cpu", "hpa_latency", "seed"]);
    for (key, row) in [("seed", 1), ("hpa_cpu", 2), ("hpa_latency", 3)] {
        let b = &j["baselines"][key];
        assert_eq!(keys(b), score_keys, "{key}");
        assert_eq!(b["cycles_over_target"], num(&rows[row].1[0]), "{key}");
        assert_eq!(b["replica_cycles"], num(&rows[row].1[2]), "{key}");
        assert_eq!(b["reversals"], num(&rows[row].1[5]), "{key}");
    }
    assert_eq!(j["baselines"]["seed"], j["scores"]);
    assert_eq!(j["model_cycles_over_target"]["oracle"], 0);
    assert_eq!(j["hpa_cpu_target_utilization"], 60);
    // The bound, per yardstick at its cycles over target: what vs_bound
    // divides by, never above what a run spent, and never lower for fewer
    // cycles over target.
    let bound = &j["bound_replica_cycles"];
    assert_eq!(
        keys(bound),
        ["hpa_cpu", "hpa_latency", "oracle", "policy", "seed"]
    );
    let mut by_over = Vec::new();
    for (key, (name, r)) in ["policy", "seed", "hpa_cpu", "hpa_latency", "oracle"]
        .iter()
        .zip(&rows)
    {
        let least = bound[key].as_u64().unwrap();
        let cost = num(&r[2]);
        assert_eq!(
            r[4],
            format!("{:.2}x", cost as f64 / least as f64),
            "{name}"
        );
        assert!(least <= cost && least > 0, "{name}: bound {least}: {out}");
        by_over.push((num(&r[0]), least));
    }
    by_over.sort();
    assert!(by_over.windows(2).all(|w| w[0].1 >= w[1].1), "{by_over:?}");
    // The curve --pareto draws passes through each yardstick's bound, at
    // its count read as an expectation of half a cycle more.
    let curve: Vec<(f64, f64)> = j["bound_curve"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c[0].as_f64().unwrap(), c[1].as_f64().unwrap()))
        .collect();
    for (over, least) in by_over {
        let over = over as f64 + 0.5;
        let w = curve
            .windows(2)
            .find(|w| w[0].0 <= over && over <= w[1].0)
            .unwrap_or_else(|| panic!("{over} past the curve"));
        let on = w[0].1 + (w[1].1 - w[0].1) * (over - w[0].0) / (w[1].0 - w[0].0).max(1e-12);
        // `least` is rounded down.
        assert!(
            (0.0..1.0).contains(&(on - least as f64)),
            "at {over}: {on} against {least}"
        );
    }
    assert!(
        out.contains("vs_bound: replica-cycles against the fewest any policy can expect"),
        "{out}"
    );
    // The score block's line is the policy's row.
    assert!(
        out.contains(&format!("  vs bound            {} (", rows[0].1[4])),
        "{out}"
    );
}

#[test]
fn an_over_provisioned_policy_holds_and_pays_more_than_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("eight.yaml");
    std::fs::write(
        &policy,
        "targets: [{method: GET, endpoint: /fibonacci?n=10, type: mean, target: 7}]\nminReplicas: 8\n",
    )
    .unwrap();
    let out = compare_under(&policy, &fixture("scenarios/step.yaml"), &[]);
    let rows = check_compare_relations(&out, 120);
    // From the scenario's 2 at cycle 0, 8 replicas hold 1500/s at 37.5 %:
    // never over target on the model.
    assert_eq!(rows[0].1[1], "0", "{out}");
    assert_eq!(rows[0].1[2], "954", "{out}");
    // The oracle keeps the policy's floor from cycle 1 on: 2 + 119 × 8.
    assert_eq!(rows[4].1[2], "954", "{out}");
}

/// Five replicas in every cycle, the count that sits on the target: half
/// the load tests read over. With minReplicas 5 nothing spends less for as
/// many cycles over target; with 1, a policy could give up whole cycles
/// instead (one replica, always over) and keep the rest safe at 6.
#[test]
fn the_bound_is_reached_by_five_replicas_on_the_target_when_nothing_goes_lower() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("flat.yaml");
    std::fs::write(
        &scenario,
        "cycles: 100\nreplicas: 5\nservice: {capacity: 500, baseLatency: 2}\nload: {type: constant, rate: 1500}\n",
    )
    .unwrap();
    let vs_bound = |floor: u32| {
        let policy = dir.path().join(format!("floor-{floor}.yaml"));
        std::fs::write(
            &policy,
            format!("targets: [{{endpoint: /a, type: mean, target: 7}}]\nminReplicas: {floor}\nmaxReplicas: 5\n"),
        )
        .unwrap();
        let out = compare_under(&policy, &scenario, &["--seeds", "20"]);
        let rows = check_compare_relations(&out, 2000);
        // The oracle: 5 in every cycle, 1500/s on 5 a mean of exactly 7 ms.
        let oracle = &rows[4].1;
        assert_eq!(oracle[2], "10000", "{out}");
        assert!((950..=1050).contains(&num(&oracle[0])), "{out}");
        oracle[4].trim_end_matches('x').parse::<f64>().unwrap()
    };
    // At a floor of 5 only cycle 0 (before any decision) may go lower.
    let pinned = vs_bound(5);
    assert!((1.0..=1.02).contains(&pinned), "{pinned}");
    // At a floor of 1: 6 replicas in all but B of a seed's 100 cycles and
    // 1 in those, for the same B = 100 p(5), about 50: 600 - 5 B = 350,
    // so 500 is about 1.43x.
    let free = vs_bound(1);
    assert!((1.38..=1.48).contains(&free), "{free}");
}

#[test]
fn seeds_sum_the_runs_of_each_seed() {
    let dir = tempfile::tempdir().unwrap();
    let spike = fixture("scenarios/spike.yaml");
    let summed = dir.path().join("sum.json");
    let out = simulate_ok(&[
        "--scenario",
        path(&spike),
        "--compare",
        "--seeds",
        "3",
        "--out",
        path(&summed),
    ]);
    assert!(
        out.starts_with("scores: scenario spike, seeds 1 to 3 (3 runs summed), 300 cycles of 15s"),
        "no per-cycle table for several seeds: {out}"
    );
    assert!(out
        .contains("compare: scenario spike, seeds 1 to 3 (3 runs summed), 100 cycles of 15s each"));
    check_compare_relations(&out, 300);
    let sum = read_json(&summed);
    assert_eq!(sum["seeds"], serde_json::json!([1, 2, 3]));
    assert!(sum.get("rows").is_none() && sum.get("seed").is_none());
    let mut each = Vec::new();
    for seed in ["1", "2", "3"] {
        let one = dir.path().join(format!("{seed}.json"));
        simulate_ok(&[
            "--scenario",
            path(&spike),
            "--compare",
            "--seed",
            seed,
            "--quiet",
            "--out",
            path(&one),
        ]);
        each.push(read_json(&one));
    }
    let total = |f: &dyn Fn(&serde_json::Value) -> &serde_json::Value| -> u64 {
        each.iter().map(|j| f(j).as_u64().unwrap()).sum()
    };
    for field in [
        "cycles",
        "cycles_over_target",
        "replica_cycles",
        "scale_changes",
        "reversals",
    ] {
        assert_eq!(
            sum["scores"][field],
            total(&|j| &j["scores"][field]),
            "{field}"
        );
        for b in ["seed", "hpa_cpu", "hpa_latency"] {
            assert_eq!(
                sum["baselines"][b][field],
                total(&|j| &j["baselines"][b][field]),
                "{b} {field}"
            );
        }
        assert_eq!(
            sum["oracle"][field],
            total(&|j| &j["oracle"][field]),
            "oracle {field}"
        );
    }
    assert_eq!(
        sum["oracle_replica_cycles"],
        total(&|j| &j["oracle_replica_cycles"])
    );
    // The seeds differ: the sum is not three times one run.
    assert_ne!(each[0]["rows"], each[1]["rows"]);
}

#[test]
fn hpa_yardsticks_keep_their_scale_up_limits_and_stabilization_cycle_by_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let mut scaled_up = 0;
    for yardstick in ["hpa-cpu", "hpa-latency"] {
        for scenario in ["step", "spike", "sine", "trace"] {
            let json = dir.path().join(format!("{yardstick}-{scenario}.json"));
            let file = fixture(&format!("scenarios/{scenario}.yaml"));
            let out = simulate_ok(&[
                "--scenario",
                path(&file),
                "--yardstick",
                yardstick,
                "--quiet",
                "--out",
                path(&json),
            ]);
            assert!(
                out.contains(&format!("yardstick {yardstick}, seed 1")),
                "{out}"
            );
            let j = read_json(&json);
            assert_eq!(j["yardstick"], yardstick);
            let rows: Vec<(u64, u64)> = j["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["replicas"].as_u64().unwrap(),
                        r["decided"].as_u64().unwrap(),
                    )
                })
                .collect();
            for (c, &(current, decided)) in rows.iter().enumerate() {
                let tag = format!("{yardstick} {scenario} cycle {c}: {current} -> {decided}");
                assert!(decided >= 1, "{tag}");
                // Syncs are 15 s apart and the period is 15 s: each may add
                // at most max(4 pods, 100 %) of what it found.
                assert!(decided <= (current + 4).max(2 * current), "{tag}");
                if decided > current {
                    scaled_up += 1;
                }
                // A scale-down is never below a scale-up of the last 300 s.
                if decided < current {
                    for (e, &(before, up)) in rows[c.saturating_sub(19)..c].iter().enumerate() {
                        assert!(
                            up <= before || up <= decided,
                            "{tag}: {up} at cycle {} is within 300 s",
                            c - 19 + e
                        );
                    }
                }
            }
        }
    }
    assert!(scaled_up > 10, "the limits were never exercised");
}

#[test]
fn the_trace_scenario_peaks_at_ten_replicas_for_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("oracle.json");
    let out = simulate_ok(&[
        "--scenario",
        path(&fixture("scenarios/trace.yaml")),
        "--yardstick",
        "oracle",
        "--quiet",
        "--out",
        path(&json),
    ]);
    assert!(
        out.starts_with("scores: scenario trace, yardstick oracle, seed 1, 229 cycles of 15s"),
        "{out}"
    );
    assert!(out.contains("vs oracle           1.00x"), "{out}");
    let j = read_json(&json);
    assert_eq!(j["scores"]["peak_replicas"], 10);
    let peak_load = j["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["load"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(peak_load, 2850.0);
    assert_eq!(j["oracle_replica_cycles"], j["scores"]["replica_cycles"]);
    // The bound of the run's own cycles over target, and the line that
    // divides by it.
    let cost = j["scores"]["replica_cycles"].as_u64().unwrap();
    let least = j["bound_replica_cycles"]["oracle"].as_u64().unwrap();
    assert!(least > 0 && least <= cost, "{least} of {cost}");
    let over = j["scores"]["cycles_over_target"].as_u64().unwrap();
    assert!(
        out.contains(&format!(
            "  vs bound            {:.2}x ({least}: the fewest any policy can expect for {over} cycles over target)",
            cost as f64 / least as f64
        )),
        "{out}"
    );
}

#[test]
fn bad_traces_and_bad_combinations_are_one_clear_error() {
    for (scenario, needle) in [
        (
            "arrivals-bad-timestamp.yaml",
            "bad-timestamp.csv:4: TIMESTAMP: invalid value \"2023-11-16 18:17:6x.0781490\" (expected a timestamp: 2023-11-16 18:17:03.9799600, RFC 3339",
        ),
        (
            "arrivals-out-of-order.yaml",
            "out-of-order.csv:5: TIMESTAMP: invalid value \"2023-11-16 18:17:04.1206440\" (expected a time at or after the previous arrival's 2023-11-16 18:17:24.0781490: timestamps out of order)",
        ),
        (
            "arrivals-zero-scale.yaml",
            "arrivals-zero-scale.yaml: load.scale: invalid value 0 (expected a factor > 0)",
        ),
    ] {
        let file = fixture(&format!("scenarios/bad/{scenario}"));
        assert_fails(&simulate(&["--scenario", path(&file)]), needle);
    }
    let dir = tempfile::tempdir().unwrap();
    let negative = dir.path().join("negative.yaml");
    let trace = fixture("traces/azure-llm-code-2023.csv");
    std::fs::write(
        &negative,
        format!(
            "service: {{capacity: 500}}\nload: {{type: arrivals, file: {}, scale: -2}}\n",
            trace.display()
        ),
    )
    .unwrap();
    let o = simulate(&["--scenario", path(&negative)]);
    assert_fails(
        &o,
        "negative.yaml: load.scale: invalid value -2 (expected a factor > 0)",
    );
    // Past a recording's end its load is unknown: it held the last
    // interval's rate (one of the trace's busiest) for as long as asked.
    let trace_scenario = fixture("scenarios/trace.yaml");
    let o = simulate(&["--scenario", path(&trace_scenario), "--cycles", "1000"]);
    assert_fails(&o, &format!("--cycles 1000: {}'s recording (load.file) holds 229 intervals, and past them its load is unknown; at most 229", path(&trace_scenario)));
    let long = dir.path().join("long.yaml");
    std::fs::write(
        &long,
        format!(
            "cycles: 230\nservice: {{capacity: 500}}\nload: {{type: arrivals, file: {}, timeColumn: TIMESTAMP}}\n",
            trace.display()
        ),
    )
    .unwrap();
    assert_fails(
        &simulate(&["--scenario", path(&long)]),
        "long.yaml: cycles: invalid value 230 (expected at most the recording's 229 intervals (load.file))",
    );
    // A shorter run than the step's: said, where the scores said the
    // profile had no step.
    let step = fixture("scenarios/step.yaml");
    let o = simulate(&["--scenario", path(&step), "--cycles", "10", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        format!("lpa simulate: warning: --cycles 10 ends the run before load.at 20 of {}: the run holds none of it\n", path(&step))
    );
    assert!(
        stdout(&o).contains("recovery            no load step in the run's 10 cycles"),
        "{}",
        stdout(&o)
    );
    // A spike whose 8 cycles at its peak all run (30 to 37) is whole.
    let spike = fixture("scenarios/spike.yaml");
    for (cycles, said) in [("37", true), ("38", false)] {
        let o = simulate(&["--scenario", path(&spike), "--cycles", cycles, "--quiet"]);
        assert_eq!(
            stderr(&o).contains("ends the run before the spike"),
            said,
            "{cycles}: {}",
            stderr(&o)
        );
    }
    // A ramp started and cut off before it ends is said too.
    let ramp = fixture("scenarios/ramp.yaml");
    let o = simulate(&["--scenario", path(&ramp), "--cycles", "20", "--quiet"]);
    assert_eq!(
        stderr(&o),
        format!("lpa simulate: warning: --cycles 20 ends the run before the ramp of {} ends (load.end 110): the run holds part of it\n", path(&ramp))
    );
    let svg = dir.path().join("x.svg");
    let o = simulate(&[
        "--scenario",
        path(&step),
        "--seeds",
        "2",
        "--plot",
        path(&svg),
    ]);
    assert_fails(&o, "--plot draws one run: use it without --seeds");
    let csv = dir.path().join("x.csv");
    let o = simulate(&[
        "--scenario",
        path(&step),
        "--seeds",
        "2",
        "--out",
        path(&csv),
    ]);
    assert_fails(
        &o,
        "x.csv: a CSV holds one run's cycles; with --seeds write a .json file",
    );
    // Nor the comparison, which it used to drop without a word.
    let o = simulate(&["--scenario", path(&step), "--compare", "--out", path(&csv)]);
    assert_fails(
        &o,
        "x.csv: a CSV holds one run's cycles, not the comparison; with --compare write a .json file",
    );
    assert!(!csv.exists());
    let tight = dir.path().join("tight.yaml");
    std::fs::write(
        &tight,
        "targets: [{endpoint: /fibonacci?n=10, type: mean, target: 3}]\n",
    )
    .unwrap();
    let json = dir.path().join("x.json");
    // Unreachable targets are not an error: the yardsticks that cannot
    // hold them say so.
    let out = compare_under(&tight, &step, &["--out", path(&json)]);
    assert!(
        out.contains("vs oracle           - (no replica count holds the targets"),
        "{out}"
    );
    assert!(
        out.contains("oracle                 -  (cannot hold the targets under the model)"),
        "{out}"
    );
    assert_eq!(
        read_json(&json)["oracle_replica_cycles"],
        serde_json::Value::Null
    );
    // Asking for the trace of one that cannot run is an error.
    let o = lpa()
        .args(["simulate", "--evaluation-config", path(&tight)])
        .args(["--scenario", path(&step), "--yardstick", "oracle"])
        .output()
        .unwrap();
    assert_fails(
        &o,
        "no replica count holds the targets under the scenario's model (cycle 0, 400 requests/s)",
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with('.') || n == "x.svg" || n == "x.csv"),
        "{names:?}"
    );
}

/// The recommended config (the seed's target with the latency model)
/// against the seed policy it extends, on the step scenario over five
/// seeds: the numbers the binary prints, row against row.
#[test]
fn the_recommended_config_beats_the_seed_policy_on_the_step() {
    let recommended = recommended_config();
    let out = compare_under(
        &recommended,
        &fixture("scenarios/step.yaml"),
        &["--seeds", "5"],
    );
    let rows = check_compare_relations(&out, 600);
    let (policy, seed) = (&rows[0].1, &rows[1].1);
    let cell = |r: &Vec<String>, i: usize| num(&r[i]);
    // Over target a quarter as often, measured and on the model.
    assert!(4 * cell(policy, 0) <= cell(seed, 0), "{out}");
    assert!(cell(policy, 1) < cell(seed, 1), "{out}");
    // Flapping gone: a tenth of the reversals.
    assert!(10 * cell(policy, 5) <= cell(seed, 5), "{out}");
    // For at most 1 % more replica-cycles, and back under target sooner.
    assert!(100 * cell(policy, 2) <= 101 * cell(seed, 2), "{out}");
    assert!(cell(policy, 6) < cell(seed, 6), "{out}");
}

/// `downscaleStabilization` keeps what the load needed inside the window,
/// never the count a run merely held at: a window longer than the calm
/// runs used to block every decay of the configured rule for good, and
/// the model's first decay while it learned.
#[test]
fn a_stabilization_window_keeps_what_the_load_needed_not_the_count_held() {
    let dir = tempfile::tempdir().unwrap();
    let with_window = |base: &Path, window: &str| {
        let text = std::fs::read_to_string(base).unwrap();
        let p = dir.path().join(format!("{window}.yaml"));
        std::fs::write(&p, format!("{text}\ndownscaleStabilization: {window}\n")).unwrap();
        p
    };
    let run = |config: &Path, scenario: &Path| simulate_under(config, scenario, &[]);
    // (load, replicas, decided, decision) per cycle of the table.
    let rows = |out: &str| -> Vec<(f64, u32, u32, String)> {
        out.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.first()?.parse::<u32>().ok()?;
                let decision = f[7..].join(" ");
                Some((
                    f[2].parse().ok()?,
                    f[4].parse().ok()?,
                    f[6].parse().ok()?,
                    decision,
                ))
            })
            .collect()
    };

    // The seed's rule, a 1-minute window, 3 calm runs of 15 s: after the
    // spike it decays, one replica at a time, all the way down.
    let seed = with_window(&fixture("evaluation/seed.yaml"), "1m");
    let spike = fixture("scenarios/spike.yaml");
    let out = run(&seed, &spike);
    let r = rows(&out);
    let peak = r.iter().map(|x| x.1).max().unwrap();
    let last = r.last().unwrap();
    assert!(peak >= 5 && last.2 == 1, "{out}");
    assert!(
        r.iter()
            .filter(|x| x.3.contains("decay") && !x.3.contains("stabilized"))
            .count()
            >= peak as usize - 1,
        "{out}"
    );

    // The model and a 5-minute window, on a service seen idle: the decay
    // that teaches the model its unloaded latency is not held by the runs
    // that held 2 while it learned (what a scale-up that drains a backlog
    // recommends: decide.rs's unit tests).
    let model = with_window(&recommended_config(), "5m");
    let scenario = dir.path().join("idle.yaml");
    std::fs::write(
        &scenario,
        "name: idle\ninterval: 15s\ncycles: 8\nseed: 1\nreplicas: 2\n\
         service: {capacity: 500, baseLatency: 2, startupCycles: 1, samples: 200}\n\
         load: {type: constant, rate: 0}\n",
    )
    .unwrap();
    let out = run(&model, &scenario);
    let r = rows(&out);
    assert!(r.iter().any(|x| x.3.ends_with("decay 2 -> 1")), "{out}");
    assert_eq!(r.last().unwrap().2, 1, "{out}");
}

/// The rows of `lpa simulate` on a fixture scenario under
/// `examples/recommended.yaml`, one seed.
fn recommended_rows(scenario: &str, seed: u64) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let recommended = recommended_config();
    let scenario = fixture(scenario);
    let out = dir.path().join("trace.json");
    let o = lpa()
        .arg("simulate")
        .arg("--evaluation-config")
        .arg(&recommended)
        .args(["--scenario", path(&scenario), "--quiet"])
        .args(["--seed", &seed.to_string(), "--out", path(&out)])
        .output()
        .expect("run lpa");
    assert!(o.status.success(), "{}", stderr(&o));
    read_json(&out)["rows"].as_array().unwrap().clone()
}

/// Replicas that take three cycles to start: the first spike teaches the
/// model how long, and the second spike's scale-up drains what queues
/// meanwhile. Sized as if they started in one, the backlog outlived the
/// spike and a second scale-up came at its last cycle (seeds 1, 4, 5).
#[test]
fn a_slow_start_seen_once_sizes_the_next_spike_to_drain_its_backlog() {
    for seed in 1..=6 {
        let rows = recommended_rows("scenarios/slow-start.yaml", seed);
        let at = |c: u64| &rows[c as usize];
        let field = |c: u64, f: &str| at(c)[f].as_u64().unwrap();
        // The second spike, cycles 70 to 77: one scale-up, at its first.
        assert!(
            field(70, "decided") > field(70, "replicas"),
            "seed {seed}: {}",
            at(70)
        );
        for c in 71..=77 {
            assert!(
                field(c, "decided") <= field(c, "replicas"),
                "seed {seed}, cycle {c}: {}",
                at(c)
            );
        }
        // Its backlog drained by the spike's last two cycles.
        for c in 76..=77 {
            assert_eq!(
                at(c)["breached"],
                false,
                "seed {seed}, cycle {c}: {}",
                at(c)
            );
        }
    }
}

/// A release makes the service faster under a steady load. Read through
/// the unloaded latency learned before it, the first runs after say no
/// load at all, and the model decayed 4 -> 1 at 1000 requests/s: seconds
/// of latency for three cycles (35 of seeds 1 to 40). A reading that far
/// under what the pairs checked is a changed service: the model forgets
/// the old one, decays by the configured rule, and learns the new one.
#[test]
fn a_release_that_speeds_the_service_up_is_not_read_as_the_load_gone() {
    for seed in 1..=8 {
        let rows = recommended_rows("scenarios/release.yaml", seed);
        // The faster service, cycles 40 to 79: 2 replicas hold 4.8 ms.
        for row in &rows[40..80] {
            let mean = row["observed"][0].as_f64().unwrap();
            assert!(mean < 100.0, "seed {seed}: {row}");
            assert!(row["decided"].as_u64().unwrap() >= 2, "seed {seed}: {row}");
        }
        // And gives back what the old service needed (seed 3 keeps 3).
        assert!(
            rows[79]["replicas"].as_u64().unwrap() <= 3,
            "seed {seed}: {}",
            rows[79]
        );
        // The slower one from cycle 80 needs 5; the model gets there.
        assert!(
            rows[119]["replicas"].as_u64().unwrap() >= 5,
            "seed {seed}: {}",
            rows[119]
        );
    }
}

#[test]
fn an_output_that_cannot_be_written_fails_before_any_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let step = fixture("scenarios/step.yaml");
    let old = dir.path().join("old.json");
    std::fs::write(&old, "OLD\n").unwrap();
    let missing = dir.path().join("no-such-dir/p.png");
    let o = simulate(&[
        "--scenario",
        path(&step),
        "--quiet",
        "--out",
        path(&old),
        "--plot",
        path(&missing),
    ]);
    assert_fails(&o, "p.png: cannot write: No such file or directory");
    assert_eq!(std::fs::read_to_string(&old).unwrap(), "OLD\n");
    // The system's words, not the temporary file's name nor the plot
    // library's nested debug form.
    let to_dir = dir.path().join("no-such-dir/trace.json");
    let o = simulate(&["--scenario", path(&step), "--quiet", "--out", path(&to_dir)]);
    assert_fails(&o, "trace.json: cannot write: No such file or directory");
    assert!(!stderr(&o).contains("at path"), "{}", stderr(&o));
    let a_dir = dir.path().join("a.svg");
    std::fs::create_dir(&a_dir).unwrap();
    let o = simulate(&["--scenario", path(&step), "--quiet", "--plot", path(&a_dir)]);
    assert_fails(&o, "a.svg: cannot write: is a directory");
    std::fs::remove_dir(&a_dir).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "only old.json: {names:?}");
}

/// An output that names an input (by any path to it) would destroy it:
/// `--replay run.jsonl --out run.jsonl` replaced the recorded run with the
/// replay's table. Refused before anything is written, as is `lpa report
/// LOG --plot LOG`.
#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let dir = tempfile::tempdir().unwrap();
    let copy = |from: &str, to: &str| {
        let to = dir.path().join(to);
        std::fs::copy(fixture(from), &to).unwrap();
        to
    };
    let log = copy("replay/decisions.jsonl", "run.json");
    let recorded = std::fs::read(&log).unwrap();
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&log, &link).unwrap();
    let scenario = copy("scenarios/recorded.yaml", "recorded.yaml");
    let data = copy("scenarios/recorded-load.csv", "recorded-load.csv");
    let profile = std::fs::read(&data).unwrap();
    for (args, needle) in [
        (
            vec!["--replay", path(&log), "--out", path(&log)],
            "--out {log} is the same file as --replay {log}: writing it would destroy that",
        ),
        (
            vec!["--replay", path(&log), "--quiet", "--out", path(&link)],
            "--out {link} is the same file as --replay {log}",
        ),
        (
            vec!["--scenario", path(&scenario), "--out", path(&data)],
            "--out {data} is the same file as the data file of --scenario",
        ),
    ] {
        let needle = needle
            .replace("{log}", path(&log))
            .replace("{link}", path(&link))
            .replace("{data}", path(&data));
        assert_fails(&simulate(&args), &needle);
    }
    let plot = copy("replay/decisions.jsonl", "run.svg");
    let o = lpa()
        .args(["report", path(&plot), "--plot", path(&plot)])
        .output()
        .unwrap();
    assert_fails(
        &o,
        "--plot {0} is the same file as the log {0}"
            .replace("{0}", path(&plot))
            .as_str(),
    );
    assert_eq!(std::fs::read(&log).unwrap(), recorded);
    assert_eq!(std::fs::read(&plot).unwrap(), recorded);
    assert_eq!(std::fs::read(&data).unwrap(), profile);
}

/// A full disk (here a file-size limit) refuses the picture in the
/// system's words, where the PNG backend's said
/// `ImageError(IoError(Custom { kind: Other, error: "File too large ..`.
#[test]
fn a_plot_a_full_disk_refuses_is_one_line_in_the_systems_words() {
    let dir = tempfile::tempdir().unwrap();
    let step = fixture("scenarios/step.yaml");
    for name in ["full.png", "full.svg"] {
        let mut run = lpa();
        run.arg("simulate")
            .arg("--evaluation-config")
            .arg(fixture("evaluation/seed.yaml"))
            .args(["--scenario", path(&step), "--quiet", "--plot"])
            .arg(dir.path().join(name));
        let o = file_size_limit(&run, 8).output().unwrap();
        assert_fails(
            &o,
            &format!("{name}: cannot draw the plot: File too large (os error 27)"),
        );
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn replay_refuses_the_flags_of_a_simulation() {
    let log = fixture("replay/decisions.jsonl");
    for flag in [
        &["--compare"][..],
        &["--seeds", "5"],
        &["--yardstick", "oracle"],
        &["--cycles", "3"],
        &["--seed", "4"],
        &["--samples", "5"],
        &["--jobs", "3"],
    ] {
        let o = simulate(&[&["--replay", path(&log), "--quiet"][..], flag].concat());
        assert_eq!(o.status.code(), Some(2), "{flag:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("'--replay <FILE>' cannot be used with"),
            "{flag:?}: {}",
            stderr(&o)
        );
        assert_eq!(stdout(&o), "");
    }
}

/// A flag that does nothing where it is given is refused, not dropped:
/// `--on-bad-line` outside a replay (its default kept clap from checking
/// that it needs --replay), and a simulation's flags beside `--pareto`,
/// which only draws files already written.
#[test]
fn flags_that_would_go_unused_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let step = fixture("scenarios/step.yaml");
    let o = simulate(&[
        "--scenario",
        path(&step),
        "--quiet",
        "--on-bad-line",
        "skip",
    ]);
    assert_fails(&o, "--on-bad-line: says what to do with a corrupt line of a decision log; use it with --replay");
    let json = dir.path().join("step.json");
    let o = simulate(&[
        "--scenario",
        path(&step),
        "--compare",
        "--quiet",
        "--out",
        path(&json),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = dir.path().join("pareto.svg");
    for flag in [
        &["--seeds", "5"][..],
        &["--cycles", "3"],
        &["--seed", "4"],
        &["--samples", "5"],
        &["--yardstick", "oracle"],
        &["--jobs", "3"],
        &["--quiet"],
        &["--on-bad-line", "skip"],
    ] {
        let o = simulate(&[&["--pareto", path(&json), "--plot", path(&svg)][..], flag].concat());
        // clap's usage error (2), or lpa's line (1) for --on-bad-line.
        assert!(
            matches!(o.status.code(), Some(1 | 2)),
            "{flag:?}: {}",
            stderr(&o)
        );
        assert_eq!(stdout(&o), "");
        assert!(!svg.exists(), "{flag:?}: nothing drawn");
    }
}

#[test]
fn an_arrivals_trace_longer_than_the_cycle_limit_is_one_error() {
    let file = fixture("scenarios/bad/arrivals-too-long.yaml");
    assert_fails(
        &simulate(&["--scenario", path(&file)]),
        "arrivals-too-long.yaml: load.file: invalid value \"../../traces/bad/too-long.csv\" (expected arrivals spanning at most 10000000 intervals (15s each), the most cycles a scenario runs, not 315537897599s from the first arrival to the last, 21035859839 intervals)",
    );
}

#[test]
fn a_timeout_no_request_can_meet_is_one_error() {
    let file = fixture("scenarios/bad/timeout-in-seconds.yaml");
    assert_fails(
        &simulate(&["--scenario", path(&file)]),
        "timeout-in-seconds.yaml: service.timeout: invalid value 1 (expected milliseconds above service.baseLatency, 2: at or below it every request times out)",
    );
    let file = fixture("scenarios/bad/change-past-timeout.yaml");
    assert_fails(
        &simulate(&["--scenario", path(&file)]),
        "change-past-timeout.yaml: service.changes[0].baseLatency: invalid value 10 (expected milliseconds >= 0 below service.timeout, 5: at or above it every request times out)",
    );
}

#[test]
fn a_load_no_cluster_could_serve_is_one_quick_error() {
    let file = fixture("scenarios/bad/huge-rate.yaml");
    let started = std::time::Instant::now();
    assert_fails(
        &simulate(&["--scenario", path(&file)]),
        "huge-rate.yaml: load.rate: invalid value 1000000000000.0 (expected a rate at most 75000000 requests/s: 150000 replicas of 500 requests/s, more than a Kubernetes cluster runs)",
    );
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
}

#[test]
fn more_replicas_at_the_start_than_a_cluster_runs_is_one_error() {
    let file = fixture("scenarios/bad/huge-replicas.yaml");
    assert_fails(
        &simulate(&["--scenario", path(&file)]),
        "huge-replicas.yaml: replicas: invalid value 4000000000 (expected a whole number from 0 to 150000)",
    );
}

/// Windows editors save UTF-8 with a byte order mark; YAML read with one
/// was "more than one document".
#[test]
fn a_config_and_scenario_saved_with_a_byte_order_mark_read_as_without() {
    let dir = tempfile::tempdir().unwrap();
    let with_bom = |name: &str| {
        let copy = dir.path().join(name.replace('/', "-"));
        let text = std::fs::read_to_string(fixture(name)).unwrap();
        std::fs::write(&copy, format!("\u{feff}{text}")).unwrap();
        copy
    };
    let (config, scenario) = (
        with_bom("evaluation/seed.yaml"),
        with_bom("scenarios/step.yaml"),
    );
    let plain = simulate_under(
        &fixture("evaluation/seed.yaml"),
        &fixture("scenarios/step.yaml"),
        &["--quiet"],
    );
    let bom = simulate_under(&config, &scenario, &["--quiet"]);
    assert_eq!(bom.replace("scenarios-step", "step"), plain);
}

#[test]
fn cycles_with_no_replica_serving_are_over_target() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("none.yaml");
    std::fs::write(
        &scenario,
        "replicas: 0\ncycles: 5\nservice: {capacity: 500}\nload: {type: constant, rate: 100}\n",
    )
    .unwrap();
    let out = compare_under(&fixture("evaluation/seed.yaml"), &scenario, &[]);
    assert!(out.contains("cycles over target  5 (100.0 %)"), "{out}");
    let policy = out
        .lines()
        .find(|l| l.starts_with("policy "))
        .unwrap_or_else(|| panic!("{out}"));
    let over: Vec<&str> = policy.split_whitespace().skip(1).take(2).collect();
    assert_eq!(over, ["5", "5"], "over_target as over_model: {out}");
}

#[test]
fn a_sweep_range_too_long_to_count_is_one_error_not_an_empty_sweep() {
    let o = simulate(&[
        "--scenario",
        path(&fixture("scenarios/step.yaml")),
        "--sweep",
        path(&fixture("sweeps/bad/huge-range.yaml")),
    ]);
    assert_fails(
        &o,
        "huge-range.yaml: unchangedRuns: invalid value from: 1 to: 1e300 (expected at most 1000000 values)",
    );
}

#[test]
fn a_swept_tolerance_is_checked_by_the_sweep_and_must_be_used() {
    let sweep = |file: &str| {
        simulate(&[
            "--scenario",
            path(&fixture("scenarios/step.yaml")),
            "--sweep",
            path(&fixture(&format!("sweeps/bad/{file}"))),
        ])
    };
    assert_fails(
        &sweep("tolerance-one.yaml"),
        "tolerance-one.yaml: tolerance: invalid value 1 (expected fractions from 0 up to (not including) 1)",
    );
    assert!(!stderr(&sweep("tolerance-one.yaml")).contains("seed.yaml"));
    assert_fails(
        &sweep("tolerance-without-proportional.yaml"),
        "tolerance-without-proportional.yaml: tolerance: the evaluation config's scaleUp is not proportional and the sweep has no scaleUp, so no tolerance to vary",
    );
}

#[test]
fn a_trace_quote_left_open_is_one_error_at_its_line() {
    let file = fixture("scenarios/bad/arrivals-open-quote.yaml");
    assert_fails(
        &simulate(&["--scenario", path(&file)]),
        "open-quote.csv:3: malformed CSV: a quoted field is not closed: it runs to the end of the file",
    );
}

#[test]
fn a_trace_error_names_the_trace_as_the_user_can_open_it() {
    let file = fixture("scenarios/bad/arrivals-bad-timestamp.yaml");
    let trace = file
        .parent()
        .unwrap()
        .join("../../traces/bad/bad-timestamp.csv");
    assert!(trace.exists(), "{}", trace.display());
    let o = simulate(&["--scenario", path(&file)]);
    assert_fails(&o, &format!("lpa: error: {}:4: TIMESTAMP", trace.display()));
}

#[test]
fn an_empty_trace_is_one_error_saying_so() {
    let file = fixture("scenarios/bad/arrivals-empty.yaml");
    let trace = file.parent().unwrap().join("../../traces/bad/empty.csv");
    assert_fails(
        &simulate(&["--scenario", path(&file)]),
        &format!(
            "arrivals-empty.yaml: load.file: invalid value \"../../traces/bad/empty.csv\" (expected a CSV of request arrivals with a header line: {} is empty)",
            trace.display()
        ),
    );
}

/// The bound never asks more of a run than the run's own plan spent: a 0
/// read was judged against the count that makes every chance nil, above
/// what the oracle spent for its own 0 (minReplicas 10 on the step: 1193
/// beside 1192); and from no replica, where every decision holds at 0 and
/// every cycle reads refused (over target), it asked for replicas no run
/// could have.
#[test]
fn the_bound_is_below_what_each_run_spent() {
    let dir = tempfile::tempdir().unwrap();
    let seed = std::fs::read_to_string(fixture("evaluation/seed.yaml")).unwrap();
    let config = dir.path().join("min10.yaml");
    std::fs::write(&config, format!("{seed}\nminReplicas: 10\n")).unwrap();
    let none = dir.path().join("none.yaml");
    std::fs::write(
        &none,
        "cycles: 10\nreplicas: 0\nservice: {capacity: 500, baseLatency: 2, samples: 200, startupCycles: 2}\nload: {type: constant, rate: 100}\n",
    )
    .unwrap();
    for (config, scenario) in [
        (config.clone(), fixture("scenarios/step.yaml")),
        (fixture("evaluation/seed.yaml"), none.clone()),
    ] {
        let out = dir.path().join("out.json");
        compare_under(&config, &scenario, &["--out", path(&out)]);
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let bound = &j["bound_replica_cycles"];
        for (key, scores) in [("policy", &j["scores"])]
            .into_iter()
            .chain(["seed", "hpa_cpu", "hpa_latency"].map(|k| (k, &j["baselines"][k])))
        {
            let (least, cost) = (
                bound[key].as_u64().unwrap(),
                scores["replica_cycles"].as_u64().unwrap(),
            );
            assert!(least <= cost, "{scenario:?} {key}: bound {least} > {cost}");
        }
        if let Some(oracle) = j["oracle_replica_cycles"].as_u64() {
            assert!(
                bound["oracle"].as_u64().unwrap() <= oracle,
                "{scenario:?}: {bound}"
            );
        }
    }
}

/// A stop signal while `--out` is written leaves no file behind: the
/// trace goes to a temporary file beside its path as it is made, and a
/// SIGINT then left a hidden one of hundreds of MB.
#[test]
fn a_stop_signal_while_the_trace_is_written_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("trace.json");
    let seed = fixture("evaluation/seed.yaml");
    let step = fixture("scenarios/step.yaml");
    let (o, left) = crate::support::stopped_while_staged(
        lpa()
            .args(["simulate", "--quiet", "--cycles", "400000"])
            .arg("--evaluation-config")
            .arg(&seed)
            .arg("--scenario")
            .arg(&step)
            .arg("--out")
            .arg(&out),
        dir.path(),
        &[],
        "-INT",
    );
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(left.is_empty(), "{left:?}");
}
