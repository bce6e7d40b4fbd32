//! `lpa-drivers`: the I/O around `lpa-core`.
//!
//! Drivers measure (load generation), persist (the state file) and apply
//! (scale targets). They use only `lpa-core`'s public API and hold no policy
//! of their own: every decision is `lpa_core::decide`'s.
//!
//! ```text
//!   state_file ──► State ─┐
//!                         ▼
//!   load ──► Observation ──► lpa_core::decide ──► Decision ──► scale target
//! ```

pub mod decision_log;
pub mod demo_service;
pub mod files;
pub mod load;
pub mod locust;
pub mod metrics;
pub mod process;
pub mod proxy;
pub mod reaper;
pub mod run_loop;
pub mod scale;
pub mod state_file;
pub mod text;
