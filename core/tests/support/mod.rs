//! The fixtures the core's tests and its bench read.

// Each test crate and the bench use their part of it.
#![allow(dead_code)]

use std::path::PathBuf;

use lpa_core::sim::{self, Scenario};
use lpa_core::{parse_policy, Policy};

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// `fixtures/evaluation/NAME`, parsed.
pub fn policy(name: &str) -> Policy {
    let text = std::fs::read_to_string(fixtures().join("evaluation").join(name)).unwrap();
    parse_policy(name, &text).unwrap()
}

/// The seed guide's policy.
pub fn seed_policy() -> Policy {
    policy("seed.yaml")
}

/// `fixtures/scenarios/NAME`, parsed, its trace files read beside it.
pub fn scenario(name: &str) -> Scenario {
    let dir = fixtures().join("scenarios");
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    sim::parse_scenario(name, &text, &mut |rel| {
        std::fs::read_to_string(dir.join(rel))
    })
    .unwrap()
}
