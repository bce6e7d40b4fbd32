//! CPA hook stdin (evaluate and metric shapes), through to a decision.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lpa_core::config::{Target, TargetKind};
use lpa_core::wire::{evaluate_answer, parse_evaluate_input, parse_metric_input};
use lpa_core::{decide, Policy, State};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_metric_input(text);
    if let Ok(input) = parse_evaluate_input(text) {
        let current = input.current_replicas().unwrap_or(1);
        let obs = input.observation(0, current);
        let mut policy = Policy::with_targets(vec![Target {
            method: "GET".into(),
            endpoint: "/".into(),
            kind: TargetKind::Mean,
            target: 7.0,
        }]);
        policy.max_replicas = Some(50);
        let d = decide(&obs, &policy, &State::default());
        let answer = evaluate_answer(d.replicas);
        assert!(answer.starts_with("{\"targetReplicas\":"));
    }
});
