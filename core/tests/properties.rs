//! Property tests: invariants of decide() and parsers that take any input.

use std::collections::BTreeMap;
use std::time::Duration;

use lpa_core::config::{Decay, ModelConfig, ScaleUp, Target, TargetKind};
use lpa_core::decide::model::{Breach, ModelState, PairRun, Pending, TargetModel};
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
        prop::option::of(model_config_strategy()),
    )
        .prop_map(
            |(min, max, dr, runs, scale_up, (window, target, max_error_rate), model)| {
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
                p.set_model(model).unwrap();
                p
            },
        )
}

fn model_config_strategy() -> impl Strategy<Value = ModelConfig> {
    (0.0f64..0.9, 1u32..5, 0.05f64..=1.0).prop_map(|(margin, learn_runs, queue_share)| {
        ModelConfig {
            margin,
            learn_runs,
            queue_share,
        }
    })
}

/// Any number a hand-edited or foreign state file could hold (JSON has
/// no NaN or infinity).
fn any_ms() -> impl Strategy<Value = f64> {
    prop_oneof![
        0.0f64..50.0,
        Just(0.0),
        Just(-1.0),
        Just(f64::MIN_POSITIVE),
        Just(1e300),
        Just(f64::MAX),
        prop::num::f64::NORMAL,
    ]
}

fn model_state_strategy() -> impl Strategy<Value = ModelState> {
    (
        0u64..10_000,
        0u32..40,
        0u32..10,
        prop::option::of((
            any_ms(),
            any_ms(),
            prop::collection::vec(any_ms(), 0..6),
            prop::option::of(any_ms()),
            prop::option::of(any_ms()),
            prop::collection::vec(any_ms(), 0..4),
            prop::collection::vec((0u64..10_000, any_ms(), 0u32..40), 0..10),
        )),
        prop::option::of((
            0u32..40,
            0u32..40,
            any_ms(),
            0u32..10,
            any::<bool>(),
            0u32..4,
        )),
        // Any count a hand-edited file could hold.
        prop::collection::vec(prop_oneof![0u32..10, Just(u32::MAX)], 0..6),
    )
        .prop_map(
            |(at_secs, replicas, calm_runs, target, pending, startup_runs)| {
                let label = "GET_/a mean".to_string();
                let mut targets = BTreeMap::new();
                if let Some((u, floor, pairs, last, last_rho, loads, trend)) = target {
                    targets.insert(
                        label.clone(),
                        TargetModel {
                            unloaded_ms: u,
                            floor_ms: floor,
                            // Any number, as a reading held under the floor.
                            low_ms: last.map(|l| l / 2.0),
                            // Any number the pairs hold, as the readings of
                            // pairs of runs too: the fit must stay total.
                            pair_runs: pairs
                                .iter()
                                .enumerate()
                                .map(|(i, &ms)| PairRun {
                                    before: (i % 2 == 0).then_some((replicas, floor)),
                                    load: (i % 2 == 1).then_some(ms / 4.0),
                                    replicas: replicas.saturating_add(1),
                                    ms,
                                })
                                .collect(),
                            pairs,
                            // Any number, as a checked U too.
                            checked_ms: last.map(|l| l * 1.5),
                            last_ms: last,
                            last_rho,
                            // Any reading, count and time, as a breach too.
                            breach: last.map(|ms| Breach {
                                ms,
                                replicas: replicas.max(1),
                                at_secs: at_secs.saturating_sub(u64::from(calm_runs)),
                            }),
                            loads,
                            trend,
                        },
                    );
                }
                ModelState {
                    at_secs,
                    replicas,
                    calm_runs,
                    targets,
                    pending: pending.map(|(from, to, load, runs, arrived, calm)| Pending {
                        from,
                        to,
                        loads: [(label, load)].into_iter().collect(),
                        runs,
                        arrived,
                        calm,
                    }),
                    // Any count a hand-edited file could hold, as gaps too.
                    gaps: startup_runs.iter().map(|&r| u64::from(r)).collect(),
                    startup_runs,
                }
            },
        )
}

fn obs_strategy() -> impl Strategy<Value = Observation> {
    (
        0u32..40,
        prop::option::of((0u64..1000, 0u64..1000, prop::num::f64::ANY)),
        0u64..10_000,
        prop::option::of(0u32..50),
        prop::option::of(0u64..1000),
    )
        .prop_map(|(replicas, stats, at, ready, window)| {
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
                ready_replicas: ready,
                applier_window_secs: window,
            }
        })
}

fn state_strategy() -> impl Strategy<Value = State> {
    (
        0u32..10,
        prop::option::of(0u32..40),
        prop::option::of(0u32..40),
        prop::collection::vec((0u64..10_000, 0u32..40), 0..5),
        prop::option::of(model_state_strategy()),
    )
        .prop_map(|(runs, last, lowered, recs, model)| State {
            runs_since_change: runs,
            last_replicas: last,
            lowered_from: lowered,
            recommendations: recs
                .into_iter()
                .map(|(at_secs, replicas)| Recommendation { at_secs, replicas })
                .collect(),
            model,
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

    /// Run after run, with the state each decision leaves (as `lpa run` and
    /// CPA's evaluate do): the bounds hold, a decay lowers, the state
    /// written is JSON that loads back, and the same run decides the same.
    #[test]
    fn a_sequence_of_runs_keeps_the_invariants(
        p in policy_strategy(),
        s in state_strategy(),
        start in 1u32..30,
        steps in prop::collection::vec((prop::option::of(prop_oneof![any_ms(), prop::num::f64::ANY]), 0u64..3, 1u64..60), 1..25),
    ) {
        let mut state = s;
        let mut replicas = start;
        let mut at = 1_000u64;
        for (mean, failures, gap) in steps {
            at += gap;
            let mut obs = Observation { at_secs: at, current_replicas: replicas, requests: BTreeMap::new(), ..Observation::default() };
            if let Some(m) = mean {
                obs.requests.insert("GET_/a".into(), RequestStats {
                    num_requests: Some(200),
                    num_failures: Some(failures),
                    avg_response_time: Some(m),
                    ..RequestStats::default()
                });
            }
            let d = decide(&obs, &p, &state);
            prop_assert_eq!(&d, &decide(&obs, &p, &state));
            prop_assert!(d.replicas >= p.min_replicas(), "{}", d);
            prop_assert!(d.replicas <= p.max_replicas().unwrap_or(u32::MAX), "{}", d);
            if let Some(Reason::Decay { from, to }) = d.action() {
                prop_assert!(to < from, "{}", d);
            }
            if d.replicas < replicas {
                prop_assert!(d.reasons.iter().any(|r| matches!(r, Reason::Decay { .. } | Reason::Clamped { .. })), "{}", d);
            }
            prop_assert_eq!(p.model().is_some(), d.reasons.iter().any(|r| matches!(r, Reason::ModelLoad { .. } | Reason::ModelFallback { .. })), "{}", d);
            // What is saved loads again (JSON has no NaN: a NaN would be
            // written as null and refused).
            let json = serde_json::to_string(&d.next_state).unwrap();
            let back = serde_json::from_str::<State>(&json);
            prop_assert!(back.is_ok(), "{}: {:?}", json, back);
            state = back.unwrap();
            replicas = d.replicas;
        }
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
