//! `lpa-core`: the pure decision core of lpa, the latency-driven autoscaler.
//!
//! It parses configs and wire formats, summarises latency samples and decides
//! replica counts. It does no I/O: no files, sockets, clock, environment or
//! unseeded randomness. Drivers (`lpa-drivers`) measure and apply; this crate
//! only maps data to data, so every decision can be replayed and tested.
//!
//! ```text
//!  samples ──► stats::Recording::summarize ──► RequestStats ─┐
//!  metric JSON ──► wire::parse_metric ───────────────────────┤
//!                                                            ▼
//!  config text ──► config::parse_policy ──► Policy ──► decide(&Observation, &Policy, &State)
//!                                                            │
//!                                       Decision { replicas, next_state, reasons }
//! ```
//!
//! ```
//! use lpa_core::{config::parse_policy, decide, Observation, State, stats::RequestStats};
//!
//! let policy = parse_policy("evaluation_config.yaml", "
//! targets:
//!   - {method: GET, endpoint: /fibonacci?n=10, type: mean, target: 7}
//! decay: {replicas: 1, unchangedRuns: 3}
//! ").unwrap();
//!
//! let mut obs = Observation { at_secs: 0, current_replicas: 2, ..Default::default() };
//! obs.requests.insert("GET_/fibonacci?n=10".into(), RequestStats {
//!     num_requests: Some(120),
//!     avg_response_time: Some(9.5),
//!     ..Default::default()
//! });
//! let d = decide(&obs, &policy, &State::default());
//! assert_eq!(d.replicas, 3);
//! assert_eq!(d.to_string(), "GET_/fibonacci?n=10 mean 9.5ms > 7ms BREACH; scale up 2 -> 3");
//! ```

pub mod config;
pub mod csv_text;
pub mod decide;
pub mod duration;
pub mod locustfile;
pub mod log;
pub mod names;
pub mod parse;
mod python_codings;
pub mod python_source;
pub mod sim;
pub mod stats;
pub mod text;
pub mod wire;

pub use config::{parse_policy, Policy};
pub use decide::{decide, Decision, Observation, Reason, State};
