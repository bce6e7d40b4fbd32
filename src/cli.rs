//! Command-line interface. Every flag that the original autoscaler took from
//! the environment keeps its env var name (CPA turns the CR's `config:` list
//! into env vars): flags override env, env overrides defaults.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::styling::Styles;
use clap::builder::StyledStr;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, Parser, Subcommand};
use lpa_core::config::{RequestSpec, WaitTime};
use lpa_drivers::load::{HostUrl, InvalidValue, LoadError, LoadOverrides};
use lpa_drivers::scale::DriverError;
use lpa_drivers::state_file::StateError;

use crate::settings::Failure;

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

/// Parses the command line as clap does, with three additions: a
/// subcommand's help ends with its examples as written, the likeliest
/// wrong flags get the right one as a tip, and a bad value of a flag or
/// its env var is a [`Failure`], one error line like any other bad input.
pub fn parse() -> Result<Cli, Failure> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let mut err = match Cli::try_parse_from(&args) {
        Ok(mut cli) => {
            if let Some(policy) = cli.command.policy_mut() {
                policy.bounds_from_env()?;
            }
            return Ok(cli);
        }
        Err(err) => err,
    };
    let subcommand = subcommand_in(&args);
    match err.kind() {
        ErrorKind::ValueValidation | ErrorKind::InvalidValue => {
            if let Some(line) = value_error(&err, subcommand.as_deref()) {
                return Err(Failure::new(line));
            }
        }
        ErrorKind::DisplayHelp => {
            let _ = err.print();
            if let Some(extra) = subcommand.as_deref().and_then(help_extra) {
                // A reader that stopped early (`| head`) is no error.
                let _ = std::io::stdout()
                    .lock()
                    .write_all(extra.examples.as_bytes());
            }
            std::process::exit(0);
        }
        ErrorKind::UnknownArgument => {
            if let Some((flag, usage)) = subcommand.as_deref().and_then(|s| meant_flag(s, &err)) {
                err.insert(ContextKind::SuggestedArg, ContextValue::String(flag));
                // clap's usage line shows the flag it would have suggested.
                err.insert(ContextKind::Usage, ContextValue::StyledStr(usage));
            }
        }
        _ => {}
    }
    err.exit()
}

/// The subcommand a command line names: the first argument that is not an
/// option (lpa's own options take no value), or the one after `help`.
fn subcommand_in(args: &[OsString]) -> Option<String> {
    let mut words = args
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .filter(|a| !a.starts_with('-'));
    match words.next()? {
        "help" => words.next().map(str::to_string),
        name => Some(name.to_string()),
    }
}

/// Flags other tools spell differently, and what lpa calls them.
const MEANT_FLAGS: &[(&str, &str)] = &[("--url", "host"), ("--config", "evaluation-config")];

/// `--host` for `--url`, `--evaluation-config` for `--config`, where the
/// subcommand has that flag, with the subcommand's usage.
fn meant_flag(subcommand: &str, err: &clap::Error) -> Option<(String, StyledStr)> {
    let Some(ContextValue::String(given)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let given = given.split('=').next().unwrap_or(given);
    let (_, long) = MEANT_FLAGS.iter().find(|(wrong, _)| *wrong == given)?;
    let mut cmd = Cli::command();
    cmd.build();
    let sub = cmd.find_subcommand_mut(subcommand)?;
    let has_flag = sub.get_arguments().any(|a| a.get_long() == Some(*long));
    has_flag.then(|| (format!("--{long}"), sub.render_usage()))
}

// Parsed once per process: boxing the larger variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// CPA evaluate hook: reads CPA's evaluate JSON on stdin, prints {"targetReplicas": N}.
    #[command(after_help = after_help("evaluate"))]
    Evaluate(EvaluateArgs),
    /// Validate the evaluation config and load settings; print the effective policy with defaults filled in.
    #[command(after_help = after_help("check"))]
    Check(CheckArgs),
    /// Simulate a policy against a modelled service, replay a decision log under another policy, or sweep policy parameters.
    #[command(after_help = after_help("simulate"))]
    Simulate(SimulateArgs),
    /// Score a recorded run as a simulation is scored, and draw it: a decision log of lpa run or lpa demo, or a trace of lpa simulate --out.
    #[command(after_help = after_help("report"))]
    Report(ReportArgs),
    /// Run the autoscaler standalone: measure, decide, persist state and scale through kubectl, every interval.
    #[command(after_help = after_help("run"))]
    Run(RunArgs),
    /// Run a load test and print a Locust-like table (or the metric JSON with --json).
    #[command(after_help = after_help("loadtest"))]
    Loadtest(LoadtestArgs),
    /// CPA metric hook: reads CPA's JSON on stdin, load-tests locustHost, prints the metric JSON.
    #[command(after_help = after_help("metric"))]
    Metric(MetricArgs),
    /// A small HTTP test service (/delay, /fibonacci, /status, /hang, /healthz) for tests, benchmarks and the demo.
    #[command(hide = true)]
    Serve(ServeArgs),
    /// Watch the autoscaler work on this machine: the seed guide's fibonacci service on local replicas, a load phase, scale-up, decay.
    #[command(after_help = after_help("demo"))]
    Demo(DemoArgs),
    /// Print a shell completion script: lpa completions bash > /etc/bash_completion.d/lpa
    #[command(after_help = after_help("completions"))]
    Completions(CompletionsArgs),
    /// Print the man page of lpa or of one command (roff), or write them all to a directory.
    #[command(after_help = after_help("man"))]
    Man(ManArgs),
}

/// What a subcommand's help shows after its options: a note, then examples.
pub struct HelpExtra {
    pub name: &'static str,
    /// Prose; clap wraps it to the terminal.
    pub note: &'static str,
    /// Printed as written, after clap's help: clap would re-wrap them to the
    /// terminal's width and split a command mid-line. Each line fits in 100
    /// columns; a command goes on after a line ending in `\`.
    pub examples: &'static str,
}

pub const HELP_EXTRAS: &[HelpExtra] = &[
    HelpExtra {
        name: "evaluate",
        note: "",
        examples: r#"  # as CPA runs it: its JSON on stdin, {"targetReplicas": N} on stdout
  printf %s '{"metrics":[{"resource":"fibonacci","value":' \
    '"{\"requests\":{\"GET_/fibonacci?n=10\":{\"avg_response_time\":9}}}"}],' \
    '"resource":{"spec":{"replicas":2}},"runType":"scaler"}' \
    | lpa evaluate --evaluation-config examples/fibonacci/evaluation_config.yaml \
      --decay-info /tmp/decay_info.json
"#,
    },
    HelpExtra {
        name: "check",
        note: "",
        examples: r#"  lpa check --evaluation-config examples/fibonacci/evaluation_config.yaml
  locustHost=http://fibonacci:5000 locustUsers=20 \
    lpa check --evaluation-config examples/fibonacci/evaluation_config.yaml --json
"#,
    },
    HelpExtra {
        name: "report",
        note: "Inputs: a decision log (JSON lines of lpa run --decision-log, or of lpa demo), or a simulation trace (lpa simulate --scenario ... --out FILE.json or FILE.csv). The outputs of lpa simulate --replay, --sweep and --seeds are not runs and are refused.\n\nScores: cycles over target (a target breached), replica-cycles (replicas summed over the cycles), scale changes (decisions to change the count; reversals go against the previous one) and recovery: from the first breached cycle of each breach episode to the first cycle within every target (every target measured, none breached). A log's cycles are its records, from 1.",
        examples: r#"  lpa report fixtures/replay/decisions.jsonl
  lpa report fixtures/replay/decisions.jsonl --plot decisions.png
  lpa report fixtures/replay/decisions.jsonl --json
  lpa simulate --evaluation-config fixtures/evaluation/seed.yaml \
    --scenario fixtures/scenarios/step.yaml --out step.json && lpa report step.json --plot step.svg
"#,
    },
    HelpExtra {
        name: "simulate",
        note: "",
        examples: r#"  lpa simulate --evaluation-config fixtures/evaluation/seed.yaml \
    --scenario fixtures/scenarios/step.yaml --plot step.png
  lpa simulate --evaluation-config examples/recommended.yaml \
    --replay fixtures/replay/decisions.jsonl
  lpa simulate --evaluation-config fixtures/evaluation/seed.yaml \
    --scenario fixtures/scenarios/step.yaml --sweep fixtures/sweeps/decay.yaml
  lpa simulate --evaluation-config fixtures/evaluation/seed.yaml \
    --scenario fixtures/scenarios/trace.yaml --compare --seeds 20
  lpa simulate --evaluation-config examples/recommended.yaml \
    --scenario fixtures/scenarios/step.yaml --compare --seeds 20 --out step.json
  lpa simulate --evaluation-config examples/recommended.yaml \
    --scenario fixtures/scenarios/spike.yaml --compare --seeds 20 --out spike.json
  lpa simulate --pareto step.json spike.json --plot pareto.svg
"#,
    },
    HelpExtra {
        name: "run",
        note: "SIGINT, SIGTERM or SIGHUP ends the loop after the current step (the state saved, or the last line says why not; exit 0); a second one exits at once.",
        examples: r#"  lpa run --scaler kubectl --target deployment/fibonacci -n default \
    --host http://fibonacci:5000 --evaluation-config examples/fibonacci/evaluation_config.yaml \
    --decay-info decay_info.json --decision-log decisions.jsonl
  # one cycle that changes nothing: decide, log, neither scale nor save the state
  lpa run --scaler kubectl --target deployment/fibonacci --host http://fibonacci:5000 \
    --evaluation-config examples/fibonacci/evaluation_config.yaml --once --dry-run
  lpa run --scaler local --listen 127.0.0.1:5000 \
    --replica-cmd 'python3 -m http.server --bind 127.0.0.1 {port}' \
    --evaluation-config examples/fibonacci/evaluation_config.yaml --decay-info /tmp/lpa-local.json
"#,
    },
    HelpExtra {
        name: "loadtest",
        note: "",
        examples: r#"  lpa serve --listen 127.0.0.1:5000 & sleep 1   # lpa's test service, for these examples
  lpa loadtest --host http://127.0.0.1:5000 --request '/fibonacci?n=10' \
    --users 10 --run-time 5s
  lpa loadtest --evaluation-config examples/fibonacci/evaluation_config.yaml \
    --host http://127.0.0.1:5000 --json
"#,
    },
    HelpExtra {
        name: "metric",
        note: "",
        examples: r#"  lpa serve --listen 127.0.0.1:5000 & sleep 1   # lpa's test service; in a cluster, the Service
  # as CPA runs it: its JSON on stdin, the metric JSON on stdout
  echo '{"resource":{"kind":"Deployment","spec":{"replicas":2}},"runType":"scaler"}' \
    | locustHost=http://127.0.0.1:5000 \
      lpa metric --evaluation-config examples/fibonacci/evaluation_config.yaml
"#,
    },
    HelpExtra {
        name: "demo",
        note: "Ctrl-C stops it early (with the summary so far); every replica is stopped either way.",
        examples: r#"  lpa demo                  # about 2 minutes: calm, load, recover
  lpa demo --evaluation-config examples/recommended.yaml   # the learned model: no blind decays
  lpa demo --calm 6s --load 30s --recover 60s --load-clients 8 --cost 3ms --interval 3s
  lpa demo --decision-log demo.jsonl && lpa simulate \
    --evaluation-config examples/fibonacci/evaluation_config.yaml --replay demo.jsonl
"#,
    },
    HelpExtra {
        name: "completions",
        note: "",
        examples: r#"  lpa completions bash > ~/.local/share/bash-completion/completions/lpa
  lpa completions zsh > ~/.zfunc/_lpa    # with fpath+=~/.zfunc before compinit in ~/.zshrc
"#,
    },
    HelpExtra {
        name: "man",
        note: "",
        examples: r#"  lpa man run | man -l -
  # every page, where man finds them (for lpa in ~/.cargo/bin, ~/.cargo/share/man)
  lpa man --dir ~/.cargo/share/man/man1 && man lpa-run
"#,
    },
];

pub fn help_extra(subcommand: &str) -> Option<&'static HelpExtra> {
    HELP_EXTRAS.iter().find(|e| e.name == subcommand)
}

/// The note, then the Examples heading in clap's header style; [`parse`]
/// prints the examples themselves below it.
fn after_help(subcommand: &str) -> StyledStr {
    let extra = help_extra(subcommand).expect("every subcommand with help has a HelpExtra");
    let header = *Styles::styled().get_header();
    let mut text = String::new();
    if !extra.note.is_empty() {
        text.push_str(extra.note);
        text.push_str("\n\n");
    }
    text.push_str(&format!("{header}Examples:{header:#}"));
    StyledStr::from(text)
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
    /// Overrides the config's minReplicas (CPA's minReplicas, when set in its config). [env: minReplicas=, read as CPA reads it: YAML 1.1, so 0x10 and 16.0 are 16, 017 is octal 15, and ~ is 0]
    #[arg(long, allow_hyphen_values = true, value_name = "N", value_parser = replicas)]
    pub min_replicas: Option<u32>,
    /// Overrides the config's maxReplicas (CPA's maxReplicas, when set in its config). [env: maxReplicas=, read as CPA reads it]
    #[arg(long, allow_hyphen_values = true, value_name = "N", value_parser = replicas)]
    pub max_replicas: Option<u32>,
}

impl Command {
    fn policy_mut(&mut self) -> Option<&mut PolicyArgs> {
        match self {
            Command::Evaluate(a) => Some(&mut a.policy),
            Command::Check(a) => Some(&mut a.policy),
            Command::Simulate(a) => Some(&mut a.policy),
            Command::Run(a) => Some(&mut a.policy),
            Command::Metric(a) => Some(&mut a.policy),
            _ => None,
        }
    }
}

impl PolicyArgs {
    /// The bounds no flag sets, from CPA's env vars `minReplicas` and
    /// `maxReplicas`, read as CPA reads them (YAML 1.1 into a 32-bit zero:
    /// `0x5`, `5.0` and `5 # five` are 5, `017` is octal 15, null or `~`
    /// is 0), where the flag's decimal took `017` for 17 and failed every
    /// evaluation at `0x5`. Empty, one is unset (CPA stops at start-up
    /// on it, which `lpa check` says); blank, it is null, as to Go.
    fn bounds_from_env(&mut self) -> Result<(), Failure> {
        for (bound, name, which) in [
            (&mut self.min_replicas, "minReplicas", "min"),
            (&mut self.max_replicas, "maxReplicas", "max"),
        ] {
            if bound.is_some() {
                continue;
            }
            let Some(text) = std::env::var(name).ok().filter(|v| !v.is_empty()) else {
                continue;
            };
            // Decoded into a zero: null is 0 (lpa check warns of it).
            let json = lpa_core::parse::go_reads_json(&text);
            let n = crate::cmd::hook::go_env_value(&text)
                .and_then(|v| crate::cmd::hook::go_int(&v, 32, json).ok());
            if which == "max" && n == Some(None) {
                return Err(Failure::new(format!(
                    "max replicas (--max-replicas or {name}): invalid value {text:?} (null, which CPA decodes as 0 and so scales the workload to 0; expected a whole number from 1)"
                )));
            }
            *bound = match n.map(|n| u32::try_from(n.unwrap_or(0))) {
                Some(Ok(n)) => Some(n),
                _ => {
                    return Err(Failure::new(format!(
                        "{which} replicas (--{which}-replicas or {name}): invalid value {text:?} (expected {REPLICAS})"
                    )))
                }
            };
        }
        Ok(())
    }
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
    /// Keep the state file's copy in this ConfigMap in the target's
    /// namespace (key state.json): read before each decision, written
    /// after each save, so that a new CPA pod goes on from what the last
    /// one learned. Needs kubectl in the image and RBAC on the ConfigMap.
    #[arg(long, env = "stateConfigMap", value_name = "NAME", value_parser = kube_name)]
    pub state_configmap: Option<String>,
    /// The kubectl binary (--state-configmap).
    #[arg(
        long,
        env = "LPA_KUBECTL",
        default_value = "kubectl",
        value_name = "PATH"
    )]
    pub kubectl: PathBuf,
    /// Each kubectl call is killed after this long (--state-configmap), and
    /// sooner when CPA's evaluate timeout, less half a second for the
    /// answer, comes first.
    #[arg(
        long,
        allow_hyphen_values = true,
        env = "kubectlTimeout",
        default_value = "2s",
        value_name = "DURATION",
        value_parser = positive_duration
    )]
    pub kubectl_timeout: Duration,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Load-test settings (flags or the original env vars), validated and
    /// shown as the load test would run them.
    #[command(flatten)]
    pub load: LoadArgs,
    /// The load driver and locustfile, chosen and translated as `lpa metric` would.
    #[command(flatten)]
    pub driver: DriverArgs,
    /// Print the effective policy as JSON instead of YAML.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run: a decision log or a simulation trace (see the inputs below).
    #[arg(value_name = "LOG")]
    pub log: PathBuf,
    /// Print the scores as JSON.
    #[arg(long)]
    pub json: bool,
    /// Draw the run (replicas and scale decisions, each target against its line, the load when known) as SVG or PNG, by extension.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// The scenario: service model, load profile, initial replicas (YAML).
    #[arg(long, value_name = "FILE", required_unless_present_any = ["replay", "pareto"])]
    pub scenario: Option<PathBuf>,
    /// Re-decide the observations of a decision log (`lpa run`'s JSON lines) under the policy.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["scenario", "sweep"])]
    pub replay: Option<PathBuf>,
    /// Run a grid of policy parameters over the scenario and print the Pareto front.
    #[arg(long, value_name = "FILE", requires = "scenario")]
    pub sweep: Option<PathBuf>,
    /// Overrides the scenario's number of cycles (at most 10 000 000).
    #[arg(long, allow_hyphen_values = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000_000), conflicts_with = "replay")]
    pub cycles: Option<u32>,
    /// Overrides the scenario's seed.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "N",
        conflicts_with = "replay"
    )]
    pub seed: Option<u64>,
    /// Overrides the scenario's latencies measured per cycle (fewer: faster sweeps, noisier measurements; at most 1 000 000).
    #[arg(long, allow_hyphen_values = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000), conflicts_with = "replay")]
    pub samples: Option<u32>,
    /// Write the trace (or the replay, or every sweep point) as JSON or CSV, by extension.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Draw replicas, latency against target and load over time, as SVG or PNG by extension.
    #[arg(long, value_name = "FILE", conflicts_with = "sweep")]
    pub plot: Option<PathBuf>,
    /// What to do with a corrupt line of the replayed log [default: stop].
    // Not `requires = "replay"`: clap waives a requirement that conflicts
    // with an argument present (--replay with --scenario), and it skips
    // one of an argument with a default (clap#3076); simulate checks it.
    #[arg(long, value_enum)]
    pub on_bad_line: Option<BadLine>,
    /// Print only the scores, not the per-cycle table.
    #[arg(long)]
    pub quiet: bool,
    /// Threads for a sweep (default: the number of cores; at most 1024,
    /// where starting them would outlast any sweep).
    #[arg(long, allow_hyphen_values = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024), conflicts_with = "replay")]
    pub jobs: Option<u32>,
    /// Also run the yardsticks on the same scenario and seeds (the seed policy, HPA on CPU, HPA on latency, the oracle) and print one table.
    #[arg(long, requires = "scenario", conflicts_with_all = ["sweep", "replay"])]
    pub compare: bool,
    /// Repeat over N seeds (the scenario's, then +1, +2, ...) and sum the scores (with --sweep, each point's).
    #[arg(long, allow_hyphen_values = true, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000), requires = "scenario", conflicts_with = "replay")]
    pub seeds: u32,
    /// Simulate a yardstick instead of the policy: its per-cycle table, scores, trace and plot.
    #[arg(
        long,
        value_enum,
        value_name = "NAME",
        requires = "scenario",
        conflicts_with_all = ["sweep", "replay"]
    )]
    pub yardstick: Option<YardstickArg>,
    /// Draw the --compare results of these JSON files (written by --compare --out FILE.json), one panel per scenario, to --plot: replica-cycles against cycles over target for every yardstick.
    #[arg(long, value_name = "FILE", num_args = 1.., requires = "plot", conflicts_with_all = ["scenario", "replay", "sweep", "compare", "out", "cycles", "seed", "samples", "seeds", "yardstick", "jobs", "quiet"])]
    pub pareto: Vec<PathBuf>,
}

/// `--yardstick`: who sets the replica count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum YardstickArg {
    /// The policy under test (the default).
    Policy,
    /// The seed guide's rule (+1 on a breach, decay 1 after 3 calm runs) with the policy's targets and bounds.
    Seed,
    /// Kubernetes HPA on CPU with default behaviour, its target utilisation tuned to the model.
    HpaCpu,
    /// HPA on the measured latency (KEDA with a Prometheus latency query).
    HpaLatency,
    /// The fewest replicas that hold every cycle, knowing the load to come.
    Oracle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BadLine {
    /// Report the line and stop (exit 1, nothing on stdout).
    Stop,
    /// Report the line on stderr and go on.
    Skip,
}

/// Where the lpa image and the seed guide put the locustfile.
pub const DEFAULT_LOCUSTFILE: &str = "/locustfile.py";

/// Where `lpa run` reads and applies the replica count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scaler {
    /// A Deployment, StatefulSet or ReplicaSet, through kubectl.
    Kubectl,
    /// A pool of local processes of --replica-cmd behind a round-robin proxy on --listen.
    Local,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Where the replica count is read and applied.
    #[arg(long, value_enum, value_name = "SCALER")]
    pub scaler: Scaler,
    /// The workload to scale: deployment/NAME, statefulset/NAME or replicaset/NAME.
    #[arg(long, value_name = "KIND/NAME", required_if_eq("scaler", "kubectl"))]
    pub target: Option<String>,
    /// The workload's namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Passed to kubectl as --kubeconfig.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Passed to kubectl as --context; must be one of the kubeconfig's contexts.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The kubectl binary.
    #[arg(
        long,
        env = "LPA_KUBECTL",
        default_value = "kubectl",
        value_name = "PATH"
    )]
    pub kubectl: PathBuf,
    /// Each kubectl call is killed after this long (e.g. 30s, 500ms).
    #[arg(long, allow_hyphen_values = true, default_value = "30s", value_name = "DURATION", value_parser = positive_duration)]
    pub kubectl_timeout: Duration,
    /// From the start of one cycle to the start of the next.
    #[arg(long, allow_hyphen_values = true, default_value = "15s", value_name = "DURATION", value_parser = duration)]
    pub interval: Duration,
    /// Run one cycle and exit (non-zero when it failed).
    #[arg(long)]
    pub once: bool,
    /// Run this many cycles and exit (non-zero when any failed).
    #[arg(long, allow_hyphen_values = true, value_name = "N", conflicts_with = "once", value_parser = cycle_count)]
    pub max_cycles: Option<u64>,
    /// Decide and log, but never scale and never save the state.
    #[arg(long)]
    pub dry_run: bool,
    /// Append one JSON line per decided cycle (the input of `lpa simulate --replay`).
    #[arg(long, value_name = "FILE")]
    pub decision_log: Option<PathBuf>,
    /// Before a line would take the decision log past SIZE, rename it to
    /// FILE.1 (replacing the older one) and start FILE anew: at most twice
    /// SIZE on disk. SIZE: bytes, or with k, M, G (1000s) or Ki, Mi, Gi
    /// (1024s), B optional, at least 4kB; off (or 0) never rotates.
    #[arg(
        long,
        allow_hyphen_values = true,
        env = "LPA_DECISION_LOG_MAX_SIZE",
        default_value = "32MiB",
        value_name = "SIZE",
        value_parser = max_size
    )]
    pub decision_log_max_size: MaxSize,
    /// Serve Prometheus metrics on http://ADDR/metrics and a liveness
    /// check on /healthz (e.g. 0.0.0.0:9100; port 0 picks a free one).
    #[arg(long, env = "LPA_METRICS_LISTEN", value_name = "ADDR", value_parser = listen_addr)]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// --scaler kubectl: scale only while holding this coordination.k8s.io
    /// Lease in the target's namespace, so that of several lpa loops on one
    /// target one scales and the rest stand by (taking over when it stops).
    #[arg(long, env = "LPA_LEASE", value_name = "NAME", value_parser = kube_name)]
    pub lease: Option<String>,
    /// --scaler kubectl: keep the state file's copy in this ConfigMap in
    /// the target's namespace (key state.json), written with every save
    /// and read before the first decision and on taking the --lease, so
    /// that a new pod, or a standby taking over, goes on from it.
    #[arg(long, env = "LPA_STATE_CONFIGMAP", value_name = "NAME", value_parser = kube_name)]
    pub state_configmap: Option<String>,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub load: LoadArgs,
    /// --scaler local: the replica command, split into words without a
    /// shell ('...' and "..." quote); {port} becomes each replica's port.
    #[arg(long, value_name = "CMD", required_if_eq("scaler", "local"))]
    pub replica_cmd: Option<String>,
    // The local pool's flags are options, their defaults in the help text,
    // so that one given with --scaler kubectl is refused, not ignored.
    /// --scaler local: where the round-robin proxy listens (port 0 picks a
    /// free one); the load test's host unless --host is given [default:
    /// 127.0.0.1:0].
    #[arg(long, value_name = "ADDR", value_parser = listen_addr)]
    pub listen: Option<std::net::SocketAddr>,
    /// --scaler local: replicas started before the first cycle [default: 1].
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    pub replicas: Option<u32>,
    /// --scaler local: a new replica must accept connections within this
    /// [default: 10s].
    #[arg(long, allow_hyphen_values = true, value_name = "DURATION", value_parser = positive_duration)]
    pub ready_timeout: Option<Duration>,
    /// --scaler local: a replica taken out of rotation may finish its open
    /// connections for this long [default: 5s].
    #[arg(long, allow_hyphen_values = true, value_name = "DURATION", value_parser = duration)]
    pub drain_timeout: Option<Duration>,
    /// The locustfile, translated for lpa's native users as loadtest and
    /// metric translate it (its requests and waits replace the targets';
    /// the config's load.requests win over it). run has no Locust driver.
    #[arg(
        long,
        env = "locustFilePath",
        default_value = DEFAULT_LOCUSTFILE,
        value_name = "FILE"
    )]
    pub locustfile: PathBuf,
}

fn duration(text: &str) -> Result<Duration, String> {
    lpa_core::duration::parse_duration(text).ok_or_else(|| {
        format!("invalid duration {text:?} (expected e.g. 10s, 500ms, 1m30s, or seconds)")
    })
}

/// clap's own range check spelled "at least 1" as `1..18446744073709551615`.
fn cycle_count(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("expected at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a whole number, at least 1".to_string()),
    }
}

fn positive_duration(text: &str) -> Result<Duration, String> {
    match duration(text)? {
        d if d.is_zero() => Err(format!("invalid duration {text:?} (must be above zero)")),
        d => Ok(d),
    }
}

/// The load test's settings, with the original autoscaler's env names.
/// Flags > env > the config's `load:` section > defaults. Each value is
/// parsed as clap reads it; a bad one is one error line that names the
/// setting, its flag and its env var ([`LOAD_FLAGS`]), exit code 1.
#[derive(Debug, Args, Clone, Default)]
pub struct LoadArgs {
    /// The service's base URL, such as http://fibonacci:5000.
    #[arg(long, env = "locustHost", value_name = "URL", value_parser = host)]
    pub host: Option<Unset<HostUrl>>,
    /// Concurrent users [default: load.users, else 10].
    #[arg(
        long,
        env = "locustUsers",
        value_name = "N",
        allow_hyphen_values = true,
        value_parser = users
    )]
    pub users: Option<u32>,
    /// Users started per second [default: load.spawnRate, else 10]. Env
    /// locustHatchRate, or locustSpawnRate.
    #[arg(
        long,
        value_name = "R",
        allow_hyphen_values = true,
        value_parser = spawn_rate
    )]
    pub spawn_rate: Option<f64>,
    /// locustHatchRate, the original's name, when --spawn-rate is not given:
    /// an arg of its own, so that the flag is told from the env var (a flag
    /// equal to locustHatchRate's value was taken for it).
    #[arg(
        long = "locust-hatch-rate",
        env = "locustHatchRate",
        hide = true,
        allow_hyphen_values = true,
        value_parser = spawn_rate
    )]
    pub hatch_rate_env: Option<f64>,
    /// locustSpawnRate, Locust's newer name, when neither --spawn-rate nor
    /// locustHatchRate is set (clap reads one env var per flag).
    #[arg(
        long = "locust-spawn-rate",
        env = "locustSpawnRate",
        hide = true,
        allow_hyphen_values = true,
        value_parser = spawn_rate_or_unset
    )]
    pub spawn_rate_env: Option<Unset<f64>>,
    /// How long the test runs, ramp-up included: seconds, or 5s, 1m
    /// [default: load.runTime, else 5s].
    #[arg(
        long,
        env = "locustRunTime",
        value_name = "DURATION",
        allow_hyphen_values = true,
        value_parser = run_time
    )]
    pub run_time: Option<Duration>,
    /// Open model: total requests per second on a fixed schedule, latency
    /// measured from each send's scheduled time; --users caps concurrency.
    /// More samples without more load: the rate, not the users, sets the
    /// traffic.
    #[arg(
        long,
        value_name = "RPS",
        allow_hyphen_values = true,
        value_parser = arrival_rate
    )]
    pub arrival_rate: Option<f64>,
    /// Each user's wait between tasks, as Locust writes it: between(0.5, 1),
    /// constant(2), constant_pacing(1), constant_throughput(2), or seconds
    /// [default: the locustfile's, else load.waitTime, else between(0.5, 1)].
    #[arg(
        long,
        value_name = "WAIT",
        allow_hyphen_values = true,
        value_parser = wait_time
    )]
    pub wait_time: Option<WaitTime>,
    /// PEM file of the CA certificates to verify https:// hosts against,
    /// instead of the built-in roots (a private CA). Locust gets it as
    /// REQUESTS_CA_BUNDLE and SSL_CERT_FILE (a FastHttpUser verifies nothing
    /// unless insecure = False).
    #[arg(long, env = "LPA_CA_BUNDLE", value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,
}

impl LoadArgs {
    /// The overrides for `LoadPlan::from_config`. The spawn rate's two env
    /// names that disagree are an error: the image sets `locustHatchRate`
    /// (the seed guide's Dockerfile does too), and taking either in silence
    /// would drop the other, whichever the user set last.
    pub fn overrides(&self) -> Result<LoadOverrides, Failure> {
        let newer = self.spawn_rate_env.and_then(Unset::value);
        // --spawn-rate, a flag, wins over both; equal values agree.
        if let (None, Some(hatch), Some(newer)) = (self.spawn_rate, self.hatch_rate_env, newer) {
            if hatch != newer {
                let env = |name| std::env::var(name).unwrap_or_default();
                return Err(Failure::new(format!(
                    "{SPAWN_RATE}: locustHatchRate {:?} and locustSpawnRate {:?} disagree (set one of them: locustSpawnRate is Locust's newer name for locustHatchRate)",
                    env("locustHatchRate"),
                    env("locustSpawnRate")
                )));
            }
        }
        Ok(LoadOverrides {
            host: self.host.clone().and_then(Unset::value),
            users: self.users,
            spawn_rate: self.spawn_rate.or(self.hatch_rate_env).or(newer),
            run_time: self.run_time,
            arrival_rate: self.arrival_rate,
            wait_time: self.wait_time,
            requests: Vec::new(),
            ca_bundle: self.ca_bundle.clone(),
        })
    }
}

/// A setting whose env var may be set to nothing, which means unset (CPA's
/// config list can carry an empty value).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unset<T>(Option<T>);

impl<T> Unset<T> {
    fn value(self) -> Option<T> {
        self.0
    }

    fn parse(
        text: &str,
        parse: impl Fn(&str) -> std::result::Result<T, InvalidValue>,
    ) -> std::result::Result<Unset<T>, InvalidValue> {
        match text.trim() {
            "" => Ok(Unset(None)),
            t => parse(t).map(|v| Unset(Some(v))),
        }
    }
}

/// Each load flag, and each other flag with an env var (its long name, as
/// clap's errors name it), and the words an error about its value starts
/// with: the setting, then every way to set it. A bare name gets its ways
/// from the subcommand's flag: under CPA only the env var is set, and
/// clap's own error names only the flag.
pub const LOAD_FLAGS: &[(&str, &str)] = &[
    ("--host", "host (--host or locustHost)"),
    ("--users", "users (--users or locustUsers)"),
    ("--spawn-rate", SPAWN_RATE),
    ("--locust-spawn-rate", SPAWN_RATE),
    ("--locust-hatch-rate", SPAWN_RATE),
    ("--run-time", "run time (--run-time or locustRunTime)"),
    ("--arrival-rate", "arrival rate (--arrival-rate)"),
    ("--wait-time", "wait time (--wait-time)"),
    ("--request", "request (--request)"),
    ("--load-driver", "load driver"),
    ("--min-replicas", "min replicas"),
    ("--max-replicas", "max replicas"),
    ("--metrics-listen", "metrics address"),
    ("--decision-log-max-size", "decision log max size"),
    // Paths: CPA's config list can carry an empty value, which clap
    // rejects as a usage error naming only the flag.
    ("--evaluation-config", "evaluation config"),
    ("--decay-info", "decay info file"),
    ("--locustfile", "locustfile"),
    ("--locust-bin", "locust executable"),
    ("--ca-bundle", "CA bundle"),
    ("--kubectl", "kubectl"),
];

const SPAWN_RATE: &str = "spawn rate (--spawn-rate, locustHatchRate or locustSpawnRate)";

/// Where the host and the CA bundle come from, for errors about them.
const SET_HOST: &str = "set locustHost or --host";
const CA_BUNDLE: &str = "--ca-bundle or LPA_CA_BUNDLE";

fn host(text: &str) -> std::result::Result<Unset<HostUrl>, InvalidValue> {
    Unset::parse(text, str::parse)
}

fn users(text: &str) -> std::result::Result<u32, InvalidValue> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=lpa_core::config::MAX_USERS).contains(n))
        .ok_or_else(|| InvalidValue::new(text, lpa_core::config::USERS_EXPECTED))
}

/// A finite number above 0.
fn positive(text: &str, expected: &str) -> std::result::Result<f64, InvalidValue> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| InvalidValue::new(text, expected))
}

fn spawn_rate(text: &str) -> std::result::Result<f64, InvalidValue> {
    positive(text, "users per second > 0")
}

fn spawn_rate_or_unset(text: &str) -> std::result::Result<Unset<f64>, InvalidValue> {
    Unset::parse(text, spawn_rate)
}

fn arrival_rate(text: &str) -> std::result::Result<f64, InvalidValue> {
    use lpa_core::config::{ARRIVAL_RATE_EXPECTED, MAX_ARRIVAL_RATE};
    positive(text, ARRIVAL_RATE_EXPECTED).and_then(|r| {
        if r <= MAX_ARRIVAL_RATE {
            Ok(r)
        } else {
            Err(InvalidValue::new(text, ARRIVAL_RATE_EXPECTED))
        }
    })
}

fn run_time(text: &str) -> std::result::Result<Duration, InvalidValue> {
    use lpa_core::config::{MAX_RUN_TIME, RUN_TIME_EXPECTED};
    lpa_core::duration::parse_duration(text)
        .filter(|d| !d.is_zero() && *d <= MAX_RUN_TIME)
        .ok_or_else(|| InvalidValue::new(text, RUN_TIME_EXPECTED))
}

fn wait_time(text: &str) -> std::result::Result<WaitTime, InvalidValue> {
    WaitTime::parse(text).ok_or_else(|| InvalidValue::new(text, WaitTime::EXPECTED))
}

fn request(text: &str) -> std::result::Result<RequestSpec, InvalidValue> {
    RequestSpec::parse(text).ok_or_else(|| {
        InvalidValue::new(
            text,
            "a path such as /api?x=1, optionally after a method: \"POST /api\"",
        )
    })
}

/// The one error line of a bad value of a flag or its env var, as every
/// other bad input has it (clap's own is several lines, exit 2). A load
/// setting is named as its library names it, with its flag and env var;
/// any other by its flag (`--cycles`), and its env var if it has one.
fn value_error(err: &clap::Error, subcommand: Option<&str>) -> Option<String> {
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let flag = arg.split([' ', '=']).next()?;
    let label = match LOAD_FLAGS.iter().find(|(f, _)| *f == flag) {
        // A subcommand whose flag has no env var where others' have one
        // (the demo's --run-time) must not name one.
        Some((_, label))
            if label.contains(" or ")
                && subcommand.is_some_and(|s| env_of(s, flag).is_none())
                && Cli::command()
                    .get_subcommands()
                    .any(|s| env_of(s.get_name(), flag).is_some()) =>
        {
            let name = label.split(" (").next().unwrap_or(label);
            format!("{name} ({flag})")
        }
        Some((_, label)) if label.contains('(') => label.to_string(),
        Some((_, label)) => match subcommand.and_then(|s| env_of(s, flag)) {
            Some(env) => format!("{label} ({flag} or {env})"),
            None => format!("{label} ({flag})"),
        },
        // A positional argument: clap names it by its placeholder, which
        // read as a stray `<SHELL>:` at the head of the line.
        None if flag.starts_with('<') => {
            let name = flag.trim_matches(['<', '>']).to_lowercase();
            match subcommand {
                Some(sub) => format!("{name} (lpa {sub} {})", name.to_uppercase()),
                None => name,
            }
        }
        None => match subcommand.and_then(|s| env_of(s, flag)) {
            Some(env) => format!("{flag} (or {env})"),
            None => flag.to_string(),
        },
    };
    let why = match err.kind() {
        // A value enum's: clap's words, without its usage and help lines.
        ErrorKind::InvalidValue => {
            let Some(ContextValue::String(value)) = err.get(ContextKind::InvalidValue) else {
                return None;
            };
            let Some(ContextValue::Strings(valid)) = err.get(ContextKind::ValidValue) else {
                return None;
            };
            let expected = match valid.split_last() {
                Some((last, [])) => last.clone(),
                Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                // clap's empty value, which only a path's parser rejects.
                None if value.is_empty() => "a path".to_string(),
                None => return None,
            };
            format!("invalid value {value:?} (expected {expected})")
        }
        _ => {
            let source = std::error::Error::source(err)?;
            // lpa's own names its value, redacted where it must be: the
            // raw value beside it showed a URL's password.
            if let Some(ours) = source.downcast_ref::<InvalidValue>() {
                return Some(format!("{label}: {ours}"));
            }
            // std's words ("invalid digit found in string") say what went
            // wrong inside, not what the flag takes.
            let expected = if source.downcast_ref::<std::num::ParseIntError>().is_some() {
                Some("a whole number")
            } else if source.downcast_ref::<std::num::ParseFloatError>().is_some() {
                Some("a number")
            } else {
                None
            };
            let why = source.to_string();
            match (err.get(ContextKind::InvalidValue), expected) {
                (Some(ContextValue::String(value)), Some(expected)) => {
                    format!("invalid value {value:?} (expected {expected})")
                }
                // A parser's words that name no value.
                (Some(ContextValue::String(value)), None) if !why.contains(value.as_str()) => {
                    format!("invalid value {value:?} ({why})")
                }
                _ => why,
            }
        }
    };
    Some(format!("{label}: {why}"))
}

/// The env var of a subcommand's flag (`--max-replicas` of `demo` has none).
fn env_of(subcommand: &str, flag: &str) -> Option<String> {
    let cmd = Cli::command();
    let sub = cmd.find_subcommand(subcommand)?;
    let arg = sub
        .get_arguments()
        .find(|a| a.get_long().map(|l| format!("--{l}")).as_deref() == Some(flag))?;
    arg.get_env().map(|e| e.to_string_lossy().into_owned())
}

/// A replica count of a flag, in decimal: CPA's env var of the same name
/// is read as CPA reads it ([`PolicyArgs::bounds_from_env`]).
fn replicas(text: &str) -> std::result::Result<u32, InvalidValue> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|&n| n <= lpa_core::config::MAX_REPLICAS)
        .ok_or_else(|| InvalidValue::new(text, REPLICAS))
}

/// What a replica count is: Kubernetes' and CPA's are 32-bit signed.
const REPLICAS: &str = "a whole number from 0 to 2147483647";

fn kube_name(text: &str) -> std::result::Result<String, InvalidValue> {
    use lpa_drivers::scale::kubectl::{is_dns1123_subdomain, SUBDOMAIN_RULE};
    if is_dns1123_subdomain(text) {
        Ok(text.to_string())
    } else {
        Err(InvalidValue::new(
            text,
            format!("a Kubernetes name ({SUBDOMAIN_RULE})"),
        ))
    }
}

/// A size bound, `None` for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxSize(pub Option<u64>);

fn max_size(text: &str) -> std::result::Result<MaxSize, InvalidValue> {
    let invalid = || {
        InvalidValue::new(
            text,
            "a size such as 32MiB, 500k or 1048576 (bytes), or off",
        )
    };
    let t = text.trim().to_ascii_lowercase();
    if t == "off" {
        return Ok(MaxSize(None));
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let unit = match unit.trim_start() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "ki" | "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mi" | "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gi" | "gib" => 1 << 30,
        _ => return Err(invalid()),
    };
    let n: u64 = digits.parse().map_err(|_| invalid())?;
    let bytes = n.checked_mul(unit).ok_or_else(invalid)?;
    // A record is about 1.1 kB: under a few, each file held one, past the
    // bound, and every rotation lost the record before.
    if (1..MIN_LOG_SIZE).contains(&bytes) {
        return Err(InvalidValue::new(
            text,
            "at least 4kB (a few records of about 1 kB each), or off",
        ));
    }
    Ok(MaxSize((bytes > 0).then_some(bytes)))
}

const MIN_LOG_SIZE: u64 = 4_000;

fn listen_addr(text: &str) -> std::result::Result<std::net::SocketAddr, InvalidValue> {
    const EXPECTED: &str = "IP:PORT such as 0.0.0.0:9100 (port 0: a free one)";
    let addr: std::net::SocketAddr = text
        .trim()
        .parse()
        .map_err(|_| InvalidValue::new(text, EXPECTED))?;
    // The kernel lets a TCP socket bind a multicast or broadcast address,
    // but no connection ever reaches it: a listener there waits forever.
    // An IPv4 address written as IPv6 (::ffff:224.0.0.1) is that address.
    let ip = addr.ip().to_canonical();
    let group = match ip {
        std::net::IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast(),
        std::net::IpAddr::V6(v6) => v6.is_multicast(),
    };
    if group {
        return Err(InvalidValue::new(
            text,
            format!("the IP:PORT of one host: {ip} is a multicast or broadcast address, which no TCP connection reaches"),
        ));
    }
    Ok(addr)
}

/// The message of a library error, with the flag and env var that set
/// the setting it is about (libraries name settings, not flags).
pub fn error_line(e: &(dyn std::error::Error + 'static)) -> String {
    if let Some(e) = e.downcast_ref::<LoadError>() {
        return match e {
            LoadError::NoHost => {
                format!("{e}: {SET_HOST} (for example http://fibonacci:5000)")
            }
            LoadError::ClassHost { .. } | LoadError::ClassHosts { .. } => {
                format!("{e}; {SET_HOST}")
            }
            LoadError::CaBundle { path, message } => {
                format!("CA bundle ({CA_BUNDLE}) {path}: {message}")
            }
            _ => e.to_string(),
        };
    }
    if let Some(DriverError::NoTool {
        tool,
        program,
        source,
    }) = e.downcast_ref::<DriverError>()
    {
        return format!(
            "{tool} {program}: cannot start: {source} (install {tool}, or pass --kubectl PATH or set LPA_KUBECTL)"
        );
    }
    if let Some(StateError::Io { source, .. }) = e.downcast_ref::<StateError>() {
        // ENOSPC, EFBIG, EDQUOT: the directory is writable, and full.
        if matches!(source.raw_os_error(), Some(27 | 28 | 122)) {
            return format!("{e} (the state file is as it was: free space on its filesystem)");
        }
        // lpa's own refusal (a hundred copies kept aside) is no system's.
        if source.raw_os_error().is_none() {
            return e.to_string();
        }
        // The original needed only the file writable; lpa writes beside it.
        return format!("{e} (set decayInfoFilePath or --decay-info to a file in a writable directory: lpa keeps its lock and temp files beside it)");
    }
    e.to_string()
}

/// Which load generator runs a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LoadDriver {
    /// lpa's own users (--request, the config's load.requests, the translated locustfile, or the targets say what to send).
    Native,
    /// Real Locust running the locustfile.
    Locust,
    /// Locust when the locustfile exists and a locust executable is found, else native.
    Auto,
}

/// The load driver's choice, for the commands that load-test.
#[derive(Debug, Args, Clone)]
pub struct DriverArgs {
    /// native, locust, or auto (Locust when the locustfile exists and
    /// locust is found; the choice and why go to stderr).
    #[arg(
        long,
        env = "loadDriver",
        value_enum,
        default_value = "auto",
        value_name = "DRIVER"
    )]
    pub load_driver: LoadDriver,
    /// The locustfile: run by the Locust driver, or translated for the
    /// native users (its requests and waits replace the targets'; the
    /// config's load.requests, or --request, win over it).
    #[arg(
        long,
        env = "locustFilePath",
        default_value = DEFAULT_LOCUSTFILE,
        value_name = "FILE"
    )]
    pub locustfile: PathBuf,
    /// The locust executable [default: locust on PATH].
    #[arg(long, env = "LOCUST_BIN", value_name = "PATH")]
    pub locust_bin: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LoadtestArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub driver: DriverArgs,
    /// The evaluation config: its `load:` section and targets say what to send.
    #[arg(
        long = "evaluation-config",
        env = "evaluationConfigFilePath",
        value_name = "FILE"
    )]
    pub evaluation_config: Option<PathBuf>,
    /// A request to send, "/path" or "METHOD /path"; repeatable; replaces
    /// the config's requests [default without a config: GET /].
    #[arg(long = "request", value_name = "REQUEST", value_parser = request)]
    pub requests: Vec<RequestSpec>,
    /// Print the metric JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MetricArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub driver: DriverArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free one. Prints "listening on ADDR".
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR", value_parser = listen_addr)]
    pub listen: std::net::SocketAddr,
    /// Answer one request at a time, like a single-threaded replica.
    #[arg(long)]
    pub serial: bool,
    /// Time every request costs (slept; with --serial, while holding the
    /// one-at-a-time lock, so the server does at most 1/cost requests/s).
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value = "0ms",
        value_name = "DURATION"
    )]
    pub cost: String,
    /// The longest /hang holds a connection.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value = "60s",
        value_name = "DURATION"
    )]
    pub hang_max: String,
    /// Connections beyond this are closed at once.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = 2048,
        value_name = "N"
    )]
    pub max_connections: usize,
    /// Exit when stdin reaches EOF: the parent holding the pipe's other end
    /// (the local pool) takes its replicas with it however it dies.
    #[arg(long)]
    pub exit_with_parent: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How long the demo runs before the load (minReplicas, 1 by default, calm).
    #[arg(long, allow_hyphen_values = true, default_value = "9s", value_name = "DURATION", value_parser = duration)]
    pub calm: Duration,
    /// How long the background load runs.
    #[arg(long, allow_hyphen_values = true, default_value = "45s", value_name = "DURATION", value_parser = positive_duration)]
    pub load: Duration,
    /// The longest the demo watches the decay after the load; it ends
    /// earlier once back at minReplicas.
    #[arg(long, allow_hyphen_values = true, default_value = "75s", value_name = "DURATION", value_parser = positive_duration)]
    pub recover: Duration,
    /// Background clients during the load, each looping like the guide's
    /// `while true; do wget -q -O- .../fibonacci?n=23; done`.
    #[arg(long, allow_hyphen_values = true, default_value_t = 6, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub load_clients: u32,
    /// What one request costs a replica, which serves one at a time (slept,
    /// so capacity grows with replicas even on a 2-core machine).
    #[arg(long, allow_hyphen_values = true, default_value = "3ms", value_name = "DURATION", value_parser = duration)]
    pub cost: Duration,
    /// From the start of one cycle to the start of the next.
    #[arg(long, allow_hyphen_values = true, default_value = "3s", value_name = "DURATION", value_parser = positive_duration)]
    pub interval: Duration,
    /// Each cycle's load test (the guide's 10 users).
    #[arg(long, allow_hyphen_values = true, default_value = "2s", value_name = "DURATION", value_parser = positive_duration)]
    pub run_time: Duration,
    /// The policy's maxReplicas [default: the evaluation config's, else 8].
    #[arg(long, allow_hyphen_values = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub max_replicas: Option<u32>,
    /// Where the decision log goes (overwritten) [default: a new directory under the temp dir].
    #[arg(long, value_name = "FILE")]
    pub decision_log: Option<PathBuf>,
    /// Your own evaluation config instead of the seed's (the service has /fibonacci?n=N and /delay?ms=N).
    #[arg(long = "evaluation-config", value_name = "FILE")]
    pub evaluation_config: Option<PathBuf>,
    /// The service's address (the proxy in front of the replicas).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR", value_parser = listen_addr)]
    pub listen: std::net::SocketAddr,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The command whose page to print [default: lpa's own page].
    #[arg(value_name = "COMMAND", conflicts_with = "dir")]
    pub command: Option<String>,
    /// Write every page (lpa.1, lpa-COMMAND.1) into this directory instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error line of `lpa loadtest ARGS`, as `parse` prints it.
    fn load_error(args: &[&str]) -> String {
        let err =
            Cli::try_parse_from(["lpa", "loadtest"].iter().chain(args)).expect_err("a bad value");
        value_error(&err, Some("loadtest"))
            .unwrap_or_else(|| panic!("not a load flag error: {err}"))
    }

    /// `--max-cycles 0` read "0 is not in 1..18446744073709551615".
    #[test]
    fn a_cycle_count_below_one_says_at_least_one() {
        for (value, why) in [
            ("0", "expected at least 1"),
            ("abc", "expected a whole number, at least 1"),
        ] {
            let err =
                Cli::try_parse_from(["lpa", "run", "--scaler", "local", "--max-cycles", value])
                    .expect_err("a bad count");
            assert_eq!(
                value_error(&err, Some("run")).unwrap(),
                format!("--max-cycles: invalid value {value:?} ({why})")
            );
        }
    }

    /// A positional argument is named as a word, not clap's placeholder:
    /// `lpa: error: <SHELL>: invalid value "tcsh"` before.
    #[test]
    fn a_bad_positional_value_names_the_argument() {
        let err = Cli::try_parse_from(["lpa", "completions", "tcsh"]).expect_err("a bad shell");
        assert_eq!(
            value_error(&err, Some("completions")).unwrap(),
            "shell (lpa completions SHELL): invalid value \"tcsh\" (expected bash, elvish, fish, powershell or zsh)"
        );
    }

    #[test]
    fn bad_load_values_name_the_flag_and_env() {
        assert_eq!(
            load_error(&["--users", "0"]),
            "users (--users or locustUsers): invalid value \"0\" (expected a whole number from 1 to 10000 (each user is a thread))"
        );
        assert!(load_error(&["--spawn-rate", "0"]).starts_with(
            "spawn rate (--spawn-rate, locustHatchRate or locustSpawnRate): invalid value \"0\""
        ));
        for bad in ["0", "-1", "0s", "soon", "24h1s", "1e9", "1e12"] {
            assert!(load_error(&["--run-time", bad])
                .starts_with("run time (--run-time or locustRunTime): invalid value"));
        }
        assert!(load_error(&["--wait-time", "soon"])
            .starts_with("wait time (--wait-time): invalid value \"soon\""));
        assert!(load_error(&["--arrival-rate", "inf"])
            .starts_with("arrival rate (--arrival-rate): invalid value \"inf\""));
        assert!(
            load_error(&["--request", "x"]).starts_with("request (--request): invalid value \"x\"")
        );
        // Every bad host is refused by the host's own parser (its tests);
        // here, that its error gets the flag and env var.
        for bad in ["fibonacci:5000", "http://x/?q=1", "http://user:pw@x"] {
            let e = load_error(&["--host", bad]);
            assert!(
                e.starts_with("host (--host or locustHost): invalid value"),
                "{bad}: {e}"
            );
        }
        // Said once, and the password not at all: it was, beside the
        // parser's redacted value.
        assert_eq!(
            load_error(&["--host", "http://user:secret@x:1"]),
            "host (--host or locustHost): invalid value \"http://<redacted>@x:1\" (expected a URL without user:password@ (send credentials as an Authorization header in load.requests[].headers))"
        );
    }

    #[test]
    fn sizes_take_si_and_binary_units_and_off() {
        for (text, bytes) in [
            ("1048576", Some(1_048_576)),
            ("500k", Some(500_000)),
            ("500 KB", Some(500_000)),
            ("32MiB", Some(32 << 20)),
            ("64Mi", Some(64 << 20)),
            ("2G", Some(2_000_000_000)),
            ("1gib", Some(1 << 30)),
            ("off", None),
            ("0", None),
        ] {
            assert_eq!(max_size(text).unwrap(), MaxSize(bytes), "{text}");
        }
        for bad in [
            "",
            "-1",
            "1.5M",
            "10 parsecs",
            "M",
            "99999999999G",
            "1",
            "1B",
            "3999",
        ] {
            assert!(max_size(bad).is_err(), "{bad}");
        }
        assert_eq!(max_size("4kB").unwrap(), MaxSize(Some(4000)));
        let err = Cli::try_parse_from([
            "lpa",
            "run",
            "--scaler",
            "local",
            "--decision-log-max-size",
            "lots",
        ])
        .unwrap_err();
        assert_eq!(
            value_error(&err, Some("run")).unwrap(),
            "decision log max size (--decision-log-max-size or LPA_DECISION_LOG_MAX_SIZE): invalid value \"lots\" (expected a size such as 32MiB, 500k or 1048576 (bytes), or off)"
        );
    }

    #[test]
    fn good_load_values_are_typed_and_empty_ones_unset() {
        let Command::Loadtest(args) = Cli::try_parse_from([
            "lpa",
            "loadtest",
            "--host=HTTP://svc:81/",
            "--users=7",
            "--spawn-rate=2.5",
            "--run-time=1m",
            "--wait-time=constant(2)",
            "--request=post /y",
        ])
        .unwrap()
        .command
        else {
            panic!("loadtest");
        };
        let o = args.load.overrides().unwrap();
        assert_eq!(o.host.unwrap().base(), "http://svc:81");
        assert_eq!(
            (o.users, o.spawn_rate, o.run_time),
            (Some(7), Some(2.5), Some(Duration::from_secs(60)))
        );
        assert_eq!(o.wait_time, WaitTime::parse("constant(2)"));
        assert_eq!(args.requests[0].key(), "POST_/y");
        assert_eq!(host(" ").unwrap(), Unset(None));
        assert_eq!(spawn_rate_or_unset("").unwrap(), Unset(None));
    }

    /// Every flag the table names is a flag of the load settings, and its
    /// words name that flag and its env var.
    #[test]
    fn the_load_flag_table_matches_the_flags() {
        let cmd = Cli::command();
        for (flag, label) in LOAD_FLAGS {
            let arg = ["loadtest", "metric", "run"]
                .iter()
                .flat_map(|s| cmd.find_subcommand(s).unwrap().get_arguments())
                .find(|a| a.get_long().map(|l| format!("--{l}")).as_deref() == Some(*flag))
                .unwrap_or_else(|| panic!("{flag} is not a load, metric or run flag"));
            if !label.contains('(') {
                // Its ways come from the flag itself.
                continue;
            }
            if !arg.is_hide_set() {
                assert!(label.contains(flag), "{label}");
            }
            if let Some(env) = arg.get_env() {
                assert!(label.contains(env.to_str().unwrap()), "{label}");
            }
        }
    }

    #[test]
    fn library_errors_get_the_flags_that_set_what_they_name() {
        let e = LoadError::ClassHosts {
            file: "l.py".into(),
            hosts: "A: http://a:1, B: none".into(),
        };
        assert_eq!(error_line(&e), "l.py: the user classes have different hosts (A: http://a:1, B: none), and lpa load-tests one; set locustHost or --host");
        assert_eq!(
            error_line(&LoadError::NoHost),
            "no host to load-test: set locustHost or --host (for example http://fibonacci:5000)"
        );
        let e = LoadError::CaBundle {
            path: "ca.pem".into(),
            message: "empty".into(),
        };
        assert_eq!(
            error_line(&e),
            "CA bundle (--ca-bundle or LPA_CA_BUNDLE) ca.pem: empty"
        );
    }
}
