//! Property tests: invariants of decide() and parsers that take any input.

use std::collections::BTreeMap;
use std::time::Duration;

use lpa_core::config::{Decay, ScaleUp, Target, TargetKind};
use lpa_core::decide::{Reason, Recommendation};
use lpa_core::stats::RequestStats;
use lpa_core::wire::{parse_evaluate_input, parse_metric, parse_metric_input};
use lpa_core::{decide, parse_policy, Observation, Policy, State};
use proptest::prelude::*;

fn policy_strategy() -> impl Strategy<Value = Policy> {
    (
        // lpa never decides 0 replicas: minReplicas is at least 1.
        1u32..5,
        prop::option::of(5u32..20),
        0u32..4,
        0u32..6,
        prop_oneof![
            (1u32..4).prop_map(|r| ScaleUp::Step { replicas: r }),
            (0.0f64..0.5, prop::option::of(1u32..5)).prop_map(|(t, m)| ScaleUp::Proportional {
                tolerance: t,
                max_change: m
            }),
        ],
        (0u64..600, 0.0f64..50.0, 0.0f64..=1.0),
    )
        .prop_map(
            |(min, max, dr, runs, scale_up, (window, target, max_error_rate))| {
                let mut p = Policy::new(vec![
                    Target::new("GET", "/a", TargetKind::Mean, target).unwrap(),
                    Target::new("GET", "/a", TargetKind::ErrorRate, 0.1).unwrap(),
                ])
                .unwrap();
                p.set_replica_bounds(min, max.map(|m| m.max(min))).unwrap();
                p.set_decay(Decay {
                    replicas: dr,
                    unchanged_runs: runs,
                    max_error_rate,
                })
                .unwrap();
                p.set_scale_up(scale_up).unwrap();
                p.set_downscale_stabilization(Duration::from_secs(window));
                p
            },
        )
}

fn obs_strategy() -> impl Strategy<Value = Observation> {
    (
        0u32..40,
        prop::option::of((0u64..1000, 0u64..1000, prop::num::f64::ANY)),
        0u64..10_000,
    )
        .prop_map(|(replicas, stats, at)| {
            let mut requests = BTreeMap::new();
            if let Some((n, f, mean)) = stats {
                requests.insert(
                    "GET_/a".to_string(),
                    RequestStats {
                        num_requests: Some(n),
                        num_failures: Some(f.min(n)),
                        avg_response_time: Some(mean),
                        ..RequestStats::default()
                    },
                );
            }
            Observation {
                at_secs: at,
                current_replicas: replicas,
                requests,
            }
        })
}

fn state_strategy() -> impl Strategy<Value = State> {
    (
        0u32..10,
        prop::option::of(0u32..40),
        prop::collection::vec((0u64..10_000, 0u32..40), 0..5),
    )
        .prop_map(|(runs, last, recs)| State {
            runs_since_change: runs,
            last_replicas: last,
            recommendations: recs
                .into_iter()
                .map(|(at_secs, replicas)| Recommendation { at_secs, replicas })
                .collect(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// min <= replicas <= max, unless autoscaling is disabled (0 replicas).
    #[test]
    fn replicas_stay_within_bounds(p in policy_strategy(), o in obs_strategy(), s in state_strategy()) {
        let d = decide(&o, &p, &s);
        if d.reasons == vec![Reason::Disabled] {
            prop_assert_eq!(d.replicas, 0);
        } else {
            prop_assert!(d.replicas >= p.min_replicas(), "{} < min {}: {}", d.replicas, p.min_replicas(), d);
            prop_assert!(d.replicas <= p.max_replicas().unwrap_or(u32::MAX), "{}", d);
        }
    }

    /// A decay never raises the count, and never happens on a run with more
    /// failures than decay.maxErrorRate allows, or without data.
    #[test]
    fn decay_only_lowers_and_only_when_clean(p in policy_strategy(), o in obs_strategy(), s in state_strategy()) {
        let d = decide(&o, &p, &s);
        if let Some(Reason::Decay { from, to }) = d.action() {
            prop_assert!(to < from);
            prop_assert!(d.replicas <= o.current_replicas);
            let (failed, total) = o.failures();
            prop_assert!(failed as f64 <= p.decay().max_error_rate * total as f64, "{} of {}: {}", failed, total, d);
            prop_assert!(o.requests.contains_key("GET_/a"));
        }
        // Scaling down only ever happens through a decay (or a max clamp).
        if d.replicas < o.current_replicas {
            let by_decay = matches!(d.action(), Some(Reason::Decay { .. })) || d.reasons.iter().any(|r| matches!(r, Reason::Decay { .. }));
            let by_clamp = d.reasons.iter().any(|r| matches!(r, Reason::Clamped { .. }));
            prop_assert!(by_decay || by_clamp, "{}", d);
        }
    }

    /// Pure: the same inputs give the same decision.
    #[test]
    fn decide_is_deterministic(p in policy_strategy(), o in obs_strategy(), s in state_strategy()) {
        prop_assert_eq!(decide(&o, &p, &s), decide(&o, &p, &s));
    }

    /// Parsers return errors, never panic, on any text.
    #[test]
    fn parsers_never_panic(text in ".{0,300}") {
        let _ = parse_policy("f.yaml", &text);
        let _ = parse_evaluate_input(&text);
        let _ = parse_metric_input(&text);
        let _ = parse_metric("metric", &text);
    }

    /// Structured-but-wrong JSON and YAML do not panic either.
    #[test]
    fn structured_garbage_never_panics(
        replicas in prop_oneof![Just("2".to_string()), Just("-1".to_string()), Just("1e99".to_string()), Just("\"x\"".to_string()), Just("null".to_string())],
        value in prop_oneof![Just("\"{}\"".to_string()), Just("7".to_string()), Just("\"{\\\"requests\\\":[]}\"".to_string()), Just("{\"requests\":{\"GET_/a\":{\"avg_response_time\":-1}}}".to_string())],
        target in prop_oneof![Just("7"), Just("-1"), Just("1e400"), Just("[]"), Just("{a: 1}"), Just("~")],
        kind in prop_oneof![Just("mean"), Just("p99.9"), Just("p0"), Just("errorRate"), Just("[1]")],
    ) {
        let stdin = format!("{{\"metrics\":[{{\"resource\":\"x\",\"value\":{value}}}],\"resource\":{{\"spec\":{{\"replicas\":{replicas}}}}}}}");
        if let Ok(input) = parse_evaluate_input(&stdin) {
            let obs = input.observation(0, input.current_replicas().unwrap_or(1));
            let p = Policy::new(vec![Target::new("GET", "/a", TargetKind::Mean, 1.0).unwrap()]).unwrap();
            let _ = decide(&obs, &p, &State::default());
        }
        let yaml = format!("targets:\n  - {{endpoint: /a, type: {kind}, target: {target}}}\n");
        let _ = parse_policy("f.yaml", &yaml);
    }
}
