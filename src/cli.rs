//! Command-line interface. Every flag that the original autoscaler took from
//! the environment keeps its env var name (CPA turns the CR's `config:` list
//! into env vars): flags override env, env overrides defaults.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "lpa",
    version,
    about = "Latency-driven pod autoscaler: load-tests a service and decides its replica count",
    long_about = "Latency-driven pod autoscaler.\n\nEvery interval lpa load-tests a service for a few seconds, compares the measured latency and errors with the targets of an evaluation config, and decides the replica count: scale up when a target is breached, decay after several calm runs.\n\nRun it as the hooks of a Custom Pod Autoscaler (metric, evaluate), standalone against kubectl (run), or try it locally (demo)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// CPA evaluate hook: reads CPA's evaluate JSON on stdin, prints {"targetReplicas": N}.
    #[command(after_help = "Example (as CPA runs it):\n  echo '{\"metrics\":[{\"resource\":\"fibonacci\",\"value\":\"{\\\"requests\\\":{\\\"GET_/fibonacci?n=10\\\":{\\\"avg_response_time\\\":9}}}\"}],\"resource\":{\"spec\":{\"replicas\":2}},\"runType\":\"scaler\"}' \\\n    | lpa evaluate --evaluation-config evaluation_config.yaml --decay-info /tmp/decay_info.json")]
    Evaluate(EvaluateArgs),
    /// Validate the evaluation config and print the effective policy with defaults filled in.
    Check(CheckArgs),
    /// Simulate a policy against a modelled service, replay a decision log under another policy, or sweep policy parameters.
    #[command(after_help = "Examples:\n  lpa simulate --evaluation-config fixtures/evaluation/seed.yaml --scenario fixtures/scenarios/step.yaml --plot step.png\n  lpa simulate --evaluation-config new.yaml --replay decisions.jsonl\n  lpa simulate --evaluation-config fixtures/evaluation/seed.yaml --scenario fixtures/scenarios/step.yaml --sweep fixtures/sweeps/decay.yaml")]
    Simulate(SimulateArgs),
}

#[derive(Debug, Args, Clone)]
pub struct PolicyArgs {
    /// The evaluation config (targets, decay, extensions).
    #[arg(
        long = "evaluation-config",
        env = "evaluationConfigFilePath",
        default_value = "/evaluation_config.yaml",
        value_name = "FILE"
    )]
    pub evaluation_config: PathBuf,
    /// Overrides the config's minReplicas (CPA's minReplicas, when set in its config).
    #[arg(long, env = "minReplicas", value_name = "N")]
    pub min_replicas: Option<u32>,
    /// Overrides the config's maxReplicas (CPA's maxReplicas, when set in its config).
    #[arg(long, env = "maxReplicas", value_name = "N")]
    pub max_replicas: Option<u32>,
}

#[derive(Debug, Args, Clone)]
pub struct StateArgs {
    /// The decay state file, {"runs_since_change": N}; written atomically.
    #[arg(
        long = "decay-info",
        env = "decayInfoFilePath",
        default_value = "/decay_info.json",
        value_name = "FILE"
    )]
    pub decay_info: PathBuf,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Print the effective policy as JSON instead of YAML.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// The scenario: service model, load profile, initial replicas (YAML).
    #[arg(long, value_name = "FILE", required_unless_present = "replay")]
    pub scenario: Option<PathBuf>,
    /// Re-decide the observations of a decision log (`lpa run`'s JSON lines) under the policy.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["scenario", "sweep"])]
    pub replay: Option<PathBuf>,
    /// Run a grid of policy parameters over the scenario and print the Pareto front.
    #[arg(long, value_name = "FILE", requires = "scenario")]
    pub sweep: Option<PathBuf>,
    /// Overrides the scenario's number of cycles.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub cycles: Option<u32>,
    /// Overrides the scenario's seed.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Write the trace (or the replay, or every sweep point) as JSON or CSV, by extension.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Draw replicas, latency against target and load over time, as SVG or PNG by extension.
    #[arg(long, value_name = "FILE", conflicts_with = "sweep")]
    pub plot: Option<PathBuf>,
    /// What to do with a corrupt line of the replayed log.
    #[arg(long, value_enum, default_value_t = BadLine::Stop, requires = "replay")]
    pub on_bad_line: BadLine,
    /// Print only the scores, not the per-cycle table.
    #[arg(long)]
    pub quiet: bool,
    /// Threads for a sweep (default: the number of cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BadLine {
    /// Report the line and stop (exit 1, nothing on stdout).
    Stop,
    /// Report the line on stderr and go on.
    Skip,
}
