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
