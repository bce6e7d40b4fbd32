//! The state a file or a ConfigMap holds (anyone may edit either), then a
//! run of decisions from it under the recommended policy, with the state
//! each one saves read back as the next run reads it. Invariants: no
//! panic, the count within the policy's bounds, and every saved state read
//! back whole and equal (a state lpa writes and cannot read again is state
//! lost).
//!
//! Input: the state's bytes, a NUL, then 4 bytes per decision, up to 16:
//! current replicas, ready replicas (odd bytes) and the load, latency,
//! seconds since the last run.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use lpa_core::stats::RequestStats;
use lpa_core::{decide, parse_policy, Observation};
use lpa_drivers::state_file::{parse, Loaded};

const RECOMMENDED: &str = include_str!("../../examples/recommended.yaml");
const KEY: &str = "GET_/fibonacci?n=10";

fuzz_target!(|data: &[u8]| {
    let (state_bytes, runs) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let (mut state, _) = parse(state_bytes);
    let policy = parse_policy("recommended.yaml", RECOMMENDED).expect("recommended parses");
    // The clock starts where the state's own times are, as a real run's does.
    let mut at = state
        .recommendations
        .last()
        .map_or(1_796_353_645, |r| r.at_secs);
    for run in runs.chunks_exact(4).take(16) {
        at = at.saturating_add(u64::from(run[3]));
        let current = u32::from(run[0] % 24);
        let latency = f64::from(run[2]) / 8.0;
        let mut requests = BTreeMap::new();
        requests.insert(
            KEY.to_string(),
            RequestStats {
                num_requests: Some(200),
                num_failures: Some(0),
                avg_response_time: Some(latency),
                median_response_time: Some(latency),
                total_rps: Some(f64::from(run[1]) * 10.0),
                ..Default::default()
            },
        );
        let obs = Observation {
            at_secs: at,
            current_replicas: current,
            requests,
            ready_replicas: (run[1] & 1 == 1).then_some(u32::from(run[1] % 24)),
            applier_window_secs: None,
        };
        let d = decide(&obs, &policy, &state);
        if current > 0 {
            assert!(d.replicas >= policy.min_replicas(), "{}", d.replicas);
        }
        let _ = d.to_string();
        let json = serde_json::to_string(&d.next_state).expect("state serialises");
        let (back, loaded) = parse(json.as_bytes());
        assert_eq!(
            loaded,
            Loaded::Found,
            "saved state read back in part: {json}"
        );
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            json,
            "saved state read back different"
        );
        state = d.next_state;
    }
});
