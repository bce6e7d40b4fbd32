//! A scenario file and the file its load names (an arrivals trace or a
//! rates CSV), then a short simulation of it under the recommended policy.
//! Invariants: errors, never a panic, and a parsed scenario simulates.
//!
//! Input: the scenario's YAML, a NUL, then the text of any file it names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lpa_core::parse_policy;
use lpa_core::sim::load::arrival_rates;
use lpa_core::sim::{parse_scenario, simulate};

const RECOMMENDED: &str = include_str!("../../examples/recommended.yaml");

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (yaml, file) = text.split_once('\0').unwrap_or((text, ""));
    let _ = arrival_rates(file, Some("TIMESTAMP"), 15, 95.0);
    let _ = arrival_rates(file, None, 1, 1.0);
    let mut read = |_: &str| Ok(file.to_string());
    if let Ok(mut scenario) = parse_scenario("fuzz.yaml", yaml, &mut read) {
        // A few cycles of few samples: the parser's bounds allow millions.
        scenario.cycles = scenario.cycles.min(40);
        scenario.service.samples = scenario.service.samples.min(500);
        let policy = parse_policy("recommended.yaml", RECOMMENDED).expect("recommended parses");
        let _ = simulate(&scenario, &policy);
    }
});
