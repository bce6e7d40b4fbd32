//! Snapshot tests of simulated traces: the seed guide's policy (mean <= 7 ms,
//! decay 1 replica per 3 unchanged runs) under the scenario fixtures. A
//! change of policy behaviour (or of the service model) shows in review as
//! a diff of these tables.

// Tests and benches read fixtures and time themselves; the library may not
// (core/clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::fmt::Write as _;
use std::path::PathBuf;

use lpa_core::log::DecisionRecord;
use lpa_core::sim::{self, replay::replay, Scenario, Trace};
use lpa_core::{parse_policy, Policy};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn seed_policy() -> Policy {
    let text = std::fs::read_to_string(fixtures().join("evaluation/seed.yaml")).unwrap();
    parse_policy("seed.yaml", &text).unwrap()
}

fn scenario(name: &str) -> Scenario {
    let dir = fixtures().join("scenarios");
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    sim::parse_scenario(name, &text, &mut |rel| {
        std::fs::read_to_string(dir.join(rel))
    })
    .unwrap()
}

/// One line per cycle, rounded so the table reads in review.
fn table(trace: &Trace) -> String {
    let mut out = String::from("cycle load ready replicas observed decided action\n");
    for r in &trace.rows {
        let observed: Vec<String> = r
            .observed
            .iter()
            .map(|v| {
                v.map_or("-".into(), |v| {
                    format!("{v:.2}{}", if r.breached { "!" } else { "" })
                })
            })
            .collect();
        let _ = writeln!(
            out,
            "{:>3} {:>6.0} {:>2} {:>2} {:>10} {:>2}  {}",
            r.cycle,
            r.load,
            r.ready,
            r.replicas,
            observed.join(","),
            r.decided,
            r.action
        );
    }
    let _ = write!(out, "scores: {:?}", trace.scores);
    out
}

fn check(file: &str) {
    let s = scenario(file);
    let p = seed_policy();
    let trace = sim::simulate(&s, &p);
    // The same seed gives the same trace, every time.
    assert_eq!(trace, sim::simulate(&s, &p), "{file}: not deterministic");
    assert_eq!(
        trace.scores,
        sim::score(&s, &p),
        "{file}: scores differ from the full trace's"
    );
    insta::assert_snapshot!(file.trim_end_matches(".yaml"), table(&trace));
}

#[test]
fn seed_policy_under_a_step() {
    check("step.yaml");
}

#[test]
fn seed_policy_under_a_spike() {
    check("spike.yaml");
}

#[test]
fn seed_policy_under_a_slow_ramp() {
    check("ramp.yaml");
}

#[test]
fn seed_policy_under_a_sine() {
    check("sine.yaml");
}

#[test]
fn seed_policy_under_a_recorded_csv_load() {
    check("recorded.yaml");
}

#[test]
fn another_seed_gives_another_trace() {
    let s = scenario("step.yaml");
    let other = Scenario {
        seed: 2,
        ..s.clone()
    };
    let p = seed_policy();
    assert_ne!(sim::simulate(&s, &p).rows, sim::simulate(&other, &p).rows);
}

#[test]
fn replaying_the_log_under_its_own_policy_agrees_everywhere() {
    let text = std::fs::read_to_string(fixtures().join("replay/decisions.jsonl")).unwrap();
    let records: Vec<(usize, DecisionRecord)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, serde_json::from_str(l).unwrap()))
        .collect();
    let (rows, summary) = replay(&records, &seed_policy());
    assert_eq!(summary.agreed, records.len(), "{rows:#?}");
    for (row, (_, rec)) in rows.iter().zip(&records) {
        assert!(
            rec.summary.ends_with(&row.new_action),
            "{} vs {}",
            rec.summary,
            row.new_action
        );
    }
}
