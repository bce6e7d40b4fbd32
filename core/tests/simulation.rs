//! Snapshot tests of simulated traces: the seed guide's policy (mean <= 7 ms,
//! decay 1 replica per 3 unchanged runs) under the scenario fixtures. A
//! change of policy behaviour (or of the service model) shows in review as
//! a diff of these tables.

// Tests and benches read fixtures and time themselves; the library may not
// (core/clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::fmt::Write as _;

use lpa_core::log::DecisionRecord;
use lpa_core::sim::yardstick::{self, Oracle, Yardstick};
use lpa_core::sim::{self, replay::replay, Scenario, ServiceModel, Trace};
use lpa_core::{parse_policy, Policy};

mod support;
use support::{fixtures, scenario, seed_policy};

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

#[test]
fn seed_policy_under_the_azure_trace() {
    let s = scenario("trace.yaml");
    // 229 whole intervals of 15 s; the busiest holds 450 arrivals, × 95.
    assert_eq!(s.cycles, 229);
    let peak = (0..s.cycles).map(|c| s.load.rate(c)).fold(0.0, f64::max);
    assert!((peak - 2850.0).abs() < 1e-9, "{peak}");
    check("trace.yaml");
}

/// Every replica-count sequence in 1..=`most` over the scenario's cycles
/// that holds every cycle on the model's noise-free values, run through the
/// real service model (start-up delay, newest removed first, backlog).
fn holding_sequences(s: &Scenario, p: &Policy, most: u32) -> Vec<Vec<u32>> {
    let n = s.cycles as usize;
    let mut out = Vec::new();
    let mut seq = vec![1u32; n];
    loop {
        let mut model = ServiceModel::new(s.service.clone(), s.interval_secs as f64, seq[0]);
        let holds = (0..s.cycles).all(|c| {
            let rate = s.load.rate(c);
            let ok = yardstick::holds(&model.latency(c, rate), p.targets(), s.service.samples);
            model.advance(c, rate);
            if let Some(&next) = seq.get(c as usize + 1) {
                model.scale(c, next);
            }
            ok
        });
        if holds {
            out.push(seq.clone());
        }
        // The next sequence, odometer style.
        let Some(i) = seq.iter().rposition(|&r| r < most) else {
            return out;
        };
        seq[i] += 1;
        seq[i + 1..].iter_mut().for_each(|r| *r = 1);
    }
}

#[test]
fn the_oracle_is_the_least_of_every_trajectory_that_holds_cycle_by_cycle() {
    let mean_and_p95 = parse_policy(
        "p.yaml",
        "targets: [{endpoint: /a, type: mean, target: 7}, {endpoint: /a, type: p95, target: 16}]",
    )
    .unwrap();
    let mut rng = sim::SplitMix64::new(17);
    for (startup, policy) in [(0, seed_policy()), (1, seed_policy()), (2, mean_and_p95)] {
        for _ in 0..3 {
            let rates: Vec<f64> = (0..6).map(|_| (rng.unit() * 1700.0).round()).collect();
            let text = format!(
                "cycles: 6\nservice: {{capacity: 500, baseLatency: 2, startupCycles: {startup}}}\nload: {{type: csv, file: r.csv}}\n"
            );
            let csv = rates.iter().map(|r| format!("{r}\n")).collect::<String>();
            let s = sim::parse_scenario("s.yaml", &text, &mut |_| Ok(csv.clone())).unwrap();
            let oracle = Oracle::plan(&s, &policy).unwrap();
            let all = holding_sequences(&s, &policy, 6);
            assert!(
                all.contains(&oracle.replicas),
                "{rates:?}: the oracle's own plan must hold"
            );
            for seq in &all {
                assert!(
                    seq.iter().zip(&oracle.replicas).all(|(a, b)| a >= b),
                    "{rates:?} startup {startup}: {seq:?} holds with fewer than the oracle's {:?}",
                    oracle.replicas
                );
            }
        }
    }
}

#[test]
fn every_yardstick_runs_on_every_fixture_and_the_oracle_never_breaches_on_the_model() {
    let p = seed_policy();
    for file in [
        "step.yaml",
        "spike.yaml",
        "ramp.yaml",
        "sine.yaml",
        "recorded.yaml",
        "trace.yaml",
    ] {
        let s = scenario(file);
        let c = yardstick::compare(&s, &p);
        let oracle = c.oracle.as_ref().unwrap();
        assert_eq!(oracle.model_cycles_over_target, 0, "{file}");
        let plan = Oracle::plan(&s, &p).unwrap();
        assert_eq!(
            oracle.scores.replica_cycles,
            plan.replica_cycles(),
            "{file}"
        );
        // The trace follows the plan, and enough of it serves every cycle.
        let t = yardstick::simulate(&s, &p, Yardstick::Oracle).unwrap();
        for (row, (&want, &need)) in t.rows.iter().zip(plan.replicas.iter().zip(&plan.need)) {
            assert_eq!(row.replicas, want, "{file} cycle {}", row.cycle);
            assert!(
                row.ready >= need,
                "{file} cycle {}: {} serving < {need}",
                row.cycle,
                row.ready
            );
        }
        assert_eq!(c.policy, c.seed, "{file}: seed.yaml is the seed rule");
        for y in Yardstick::ALL {
            let o = c.outcome(y).unwrap();
            assert_eq!(o.scores.cycles, s.cycles, "{file} {y:?}");
            if o.model_cycles_over_target == 0 {
                assert!(
                    o.scores.replica_cycles >= plan.replica_cycles(),
                    "{file} {y:?}"
                );
            }
            // A yardstick's own trace scores as its outcome does.
            let trace = yardstick::simulate(&s, &p, y).unwrap();
            assert_eq!(trace.scores, o.scores, "{file} {y:?}");
        }
    }
}
