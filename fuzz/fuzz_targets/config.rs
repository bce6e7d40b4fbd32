//! The evaluation config parser, then a decision under whatever it accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lpa_core::{decide, parse_policy, Observation, State};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(policy) = parse_policy("fuzz.yaml", text) {
        let obs = Observation {
            at_secs: 1,
            current_replicas: 3,
            ..Default::default()
        };
        let d = decide(&obs, &policy, &State::default());
        assert!(d.replicas >= policy.min_replicas());
        let _ = d.to_string();
    }
});
