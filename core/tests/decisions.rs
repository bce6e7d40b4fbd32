//! Snapshots of whole Decisions (reasons included) over the CPA stdin
//! fixtures, so any change of behaviour shows up in review.

// Tests and benches read fixtures and time themselves; the library may not
// (core/clippy.toml).
#![allow(clippy::disallowed_methods)]

use lpa_core::wire::parse_evaluate_input;
use lpa_core::{decide, State};

mod support;
use support::{fixtures, policy};

/// (CPA stdin fixture, policy fixture, prior state)
fn cases() -> Vec<(&'static str, &'static str, State)> {
    let calm3 = State {
        runs_since_change: 3,
        last_replicas: Some(3),
        ..State::default()
    };
    vec![
        ("breach", "seed.yaml", State::default()),
        (
            "calm",
            "seed.yaml",
            State {
                runs_since_change: 1,
                last_replicas: Some(3),
                ..State::default()
            },
        ),
        ("calm", "seed.yaml", calm3.clone()),
        ("dry-run", "seed.yaml", calm3.clone()),
        ("failing-fast", "seed.yaml", calm3.clone()),
        ("no-results", "seed.yaml", calm3.clone()),
        ("zero-replicas", "seed.yaml", State::default()),
        ("v0", "seed.yaml", State::default()),
        ("invokust-minimal", "test-endpoint.yaml", State::default()),
        (
            "percentiles-proportional",
            "extended.yaml",
            State::default(),
        ),
        ("calm", "extended.yaml", calm3),
        (
            "breach",
            "seed.yaml",
            State {
                runs_since_change: 2,
                last_replicas: Some(5),
                ..State::default()
            },
        ),
    ]
}

#[test]
fn decisions_over_fixtures() {
    for (i, (stdin, policy_name, state)) in cases().into_iter().enumerate() {
        let text = std::fs::read_to_string(
            fixtures()
                .join("cpa/evaluate")
                .join(format!("{stdin}.json")),
        )
        .unwrap();
        let input = parse_evaluate_input(&text).unwrap();
        let current = input.current_replicas().unwrap();
        let obs = input.observation(1_700_000_000, current);
        let decision = decide(&obs, &policy(policy_name), &state);
        let name = format!("{i:02}-{stdin}-{}", policy_name.trim_end_matches(".yaml"));
        insta::with_settings!({
            snapshot_suffix => name,
            description => format!("{stdin}.json with {policy_name}, prior state {state:?}"),
            omit_expression => true,
        }, {
            insta::assert_yaml_snapshot!("decision", serde_json::json!({
                "line": decision.to_string(),
                "decision": decision,
            }));
        });
    }
}
