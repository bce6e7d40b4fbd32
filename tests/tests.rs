//! Integration tests: one binary (link time), one module per area. Every
//! test spawns the real `lpa` binary against real peers on 127.0.0.1.

// A test's stderr is cargo's pipe, read to the end.
#![allow(clippy::disallowed_macros)]

mod support;

mod check;
mod cli;
mod demo;
mod deploy;
mod evaluate;
mod faults;
mod hardening;
mod kubectl;
mod load;
mod local;
mod locust;
mod locustfile;
mod metric;
mod metrics;
mod report;
mod security;
mod simulate;
mod stop;
