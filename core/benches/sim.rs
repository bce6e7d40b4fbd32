//! Speed of the decision core and of the simulation, as a table.
//!
//! `cargo bench -p lpa-core --bench sim` (a plain binary, no harness: it
//! prints figures, it asserts nothing). The parallel sweep is timed through
//! the real binary by `scripts/bench-sim.sh`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lpa_core::sim::{self, Scenario};
use lpa_core::stats::RequestStats;
use lpa_core::{decide, parse_policy, Observation, Policy, State};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn seed_policy() -> Policy {
    let text = std::fs::read_to_string(fixtures().join("evaluation/seed.yaml")).unwrap();
    parse_policy("seed.yaml", &text).unwrap().policy
}

fn scenario(name: &str) -> Scenario {
    let dir = fixtures().join("scenarios");
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    sim::parse_scenario(name, &text, &mut |rel| {
        std::fs::read_to_string(dir.join(rel)).map_err(|e| e.to_string())
    })
    .unwrap()
}

fn observation(mean: f64) -> Observation {
    let mut obs = Observation {
        at_secs: 1_000,
        current_replicas: 3,
        ..Observation::default()
    };
    obs.requests.insert(
        "GET_/fibonacci?n=10".into(),
        RequestStats {
            num_requests: Some(200),
            num_failures: Some(0),
            avg_response_time: Some(mean),
            ..RequestStats::default()
        },
    );
    obs
}

/// Runs `f` `n` times, best of 3 rounds, and returns the time per call.
fn time<T>(n: u64, mut f: impl FnMut(u64) -> T) -> Duration {
    (0..3)
        .map(|_| {
            let start = Instant::now();
            for i in 0..n {
                black_box(f(i));
            }
            start.elapsed() / n as u32
        })
        .min()
        .unwrap()
}

fn row(what: &str, per: Duration, unit: &str) {
    let secs = per.as_secs_f64();
    println!(
        "{what:<52} {:>12.3} µs {:>14.0} {unit}/s",
        secs * 1e6,
        1.0 / secs
    );
}

fn main() {
    let policy = seed_policy();
    let state = State {
        runs_since_change: 1,
        last_replicas: Some(3),
        ..State::default()
    };
    let calm = observation(4.0);
    let hot = observation(9.0);
    println!(
        "{:<52} {:>15} {:>16}",
        "benchmark (one core)", "per call", "rate"
    );
    row(
        "decide(): seed policy, calm (hold)",
        time(2_000_000, |_| decide(&calm, &policy, &state)),
        "decisions",
    );
    row(
        "decide(): seed policy, breach (scale up)",
        time(2_000_000, |_| decide(&hot, &policy, &state)),
        "decisions",
    );
    let mut stabilized = policy.clone();
    stabilized.downscale_stabilization = Duration::from_secs(300);
    let mut s = state.clone();
    row(
        "decide(): with a 300 s stabilization window, threaded",
        time(1_000_000, |i| {
            let mut o = calm.clone();
            o.at_secs = 15 * i;
            let d = decide(&o, &stabilized, &s);
            s = d.next_state.clone();
            d.replicas
        }),
        "decisions",
    );

    let mut step = scenario("step.yaml");
    step.cycles = 10_000;
    let per_run = time(3, |_| sim::simulate(&step, &policy).rows.len());
    row(
        "simulate(): step, 10 000 cycles x 200 samples (one run)",
        per_run,
        "runs",
    );
    row("  ... per cycle", per_run / 10_000, "cycles");
    let per_run = time(3, |_| sim::score(&step, &policy).replica_cycles);
    row(
        "score(): step, 10 000 cycles x 200 samples (one run)",
        per_run,
        "runs",
    );
    let per_cycle = per_run / 10_000;
    row("  ... per cycle", per_cycle, "cycles");
    step.service.samples = 50;
    let per_run = time(3, |_| sim::score(&step, &policy).replica_cycles);
    row(
        "score(): step, 10 000 cycles x 50 samples (one run)",
        per_run,
        "runs",
    );
    println!(
        "\n1 000-point sweep of 1 000 cycles x 200 samples, estimated: {:.2} s on one core, {:.2} s on two",
        per_cycle.as_secs_f64() * 1e6,
        per_cycle.as_secs_f64() * 1e6 / 2.0
    );
}
