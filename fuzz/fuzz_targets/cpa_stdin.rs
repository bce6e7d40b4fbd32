//! CPA hook stdin (evaluate and metric shapes), through to a decision.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lpa_core::config::{Target, TargetKind};
use lpa_core::wire::{parse_evaluate_input, parse_metric_input};
use lpa_core::{decide, Policy, State};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_metric_input(text);
    if let Ok(input) = parse_evaluate_input(text) {
        let current = input.current_replicas().unwrap_or(1);
        let obs = input.observation(0, current);
        let target = Target::new("GET", "/", TargetKind::Mean, 7.0).unwrap();
        let mut policy = Policy::new(vec![target]).unwrap();
        policy.set_replica_bounds(1, Some(50)).unwrap();
        let d = decide(&obs, &policy, &State::default());
        let answer = input.answer(d.replicas);
        assert!(
            answer.starts_with("{\"targetReplicas\":") || answer.starts_with("{\"target_replicas\":")
        );
    }
});
