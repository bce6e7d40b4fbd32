//! Speed of the decision core and of the simulation, as a table.
//!
//! `cargo bench -p lpa-core --bench sim` (a plain binary, no harness: it
//! prints figures, it asserts nothing). The parallel sweep is timed through
//! the real binary by `scripts/bench-sim.sh`.

// Tests and benches read fixtures and time themselves; the library may not
// (core/clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use lpa_core::sim;
use lpa_core::stats::RequestStats;
use lpa_core::{decide, Observation, State};

#[path = "../tests/support/mod.rs"]
mod support;
use support::{scenario, seed_policy};

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

/// CPU time of this thread, from /proc (Linux; clock ticks of 10 ms):
/// on a shared machine the wall clock also counts other people's work.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Runs `f` `n` times, best of 3 rounds: (wall, CPU) time per call.
fn time<T>(n: u64, mut f: impl FnMut(u64) -> T) -> (Duration, Option<Duration>) {
    (0..3)
        .map(|_| {
            let cpu0 = cpu_time();
            let start = Instant::now();
            for i in 0..n {
                black_box(f(i));
            }
            let wall = start.elapsed() / n as u32;
            let cpu = cpu0.zip(cpu_time()).map(|(a, b)| (b - a) / n as u32);
            (wall, cpu)
        })
        .min()
        .unwrap()
}

fn row(what: &str, (wall, cpu): (Duration, Option<Duration>), unit: &str) {
    let per = |d: Duration| {
        format!(
            "{:>11.3} µs {:>12.0}",
            d.as_secs_f64() * 1e6,
            1.0 / d.as_secs_f64()
        )
    };
    let cpu = cpu.filter(|d| !d.is_zero()).map_or("-".to_string(), per);
    println!("{what:<56} {} {cpu:>27}  {unit}/s", per(wall));
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
        "{:<56} {:>27} {:>27}",
        "benchmark (one thread)", "wall: per call, rate", "CPU: per call, rate"
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
    stabilized.set_downscale_stabilization(Duration::from_secs(300));
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
    let per_cycle = |(w, c): (Duration, Option<Duration>)| (w / 10_000, c.map(|c| c / 10_000));
    let run = time(3, |_| sim::simulate(&step, &policy).rows.len());
    row("simulate(): step, 10 000 cycles x 200 samples", run, "runs");
    row("  ... per cycle", per_cycle(run), "cycles");
    for samples in [200, 50] {
        step.service.samples = samples;
        let run = time(3, |_| sim::score(&step, &policy).replica_cycles);
        row(
            &format!("score() (sweep path): 10 000 cycles x {samples} samples"),
            run,
            "runs",
        );
        let (wall, cpu) = per_cycle(run);
        row("  ... per cycle", (wall, cpu), "cycles");
        let secs = cpu.unwrap_or(wall).as_secs_f64() * 1e6;
        println!(
            "  => 1 000 points x 1 000 cycles: {secs:.2} s of CPU, {:.2} s on two idle cores",
            secs / 2.0
        );
    }
}
