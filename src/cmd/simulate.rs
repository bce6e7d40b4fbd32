//! `lpa simulate`: a policy against a modelled service (`--scenario`), a
//! recorded decision log under another policy (`--replay`), or a grid of
//! policies (`--sweep`). The simulation itself is `lpa_core::sim`, pure and
//! seeded; this module reads files, prints tables, writes traces and plots,
//! and runs sweep points on a thread pool.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use lpa_core::csv_text;
use lpa_core::log::{num, time_back, DecisionRecord};
use lpa_core::sim::bound::Bound;
use lpa_core::sim::replay::{replay, ReplayRow, ReplaySummary};
use lpa_core::sim::sweep::{pareto_front, parse_sweep, Outcome, Point};
use lpa_core::sim::yardstick::{self, Comparison, Oracle, Unreachable, Yardstick};
use lpa_core::sim::{self, LoadProfile, Recovery, Scenario, Scores, TargetLabel, Trace, TraceRow};
use lpa_core::Policy;
use lpa_drivers::state_file::parent_dir;
use rayon::prelude::*;
use serde::Serialize;

use super::output::{cannot_write, stage_with, write_file};
use super::report::{cut_short, simulate_output, time_back_warning, unrecorded, CUT_SHORT};
use crate::cli::{BadLine, SimulateArgs, YardstickArg};
use crate::plot;
use crate::settings::{load_config, read_record_text, read_settings_text, Failure, Result};
use crate::text::{count, extension};

mod pareto;

pub fn run(args: SimulateArgs) -> Result<ExitCode> {
    super::output::remove_staged_on_signal()?;
    if let (Some(_), None) = (args.on_bad_line, &args.replay) {
        return Err(Failure::new(
            "--on-bad-line: says what to do with a corrupt line of a decision log; use it with --replay",
        ));
    }
    let inputs = [
        (
            "--evaluation-config",
            Some(args.policy.evaluation_config.as_path()),
        ),
        ("--scenario", args.scenario.as_deref()),
        ("--replay", args.replay.as_deref()),
        ("--sweep", args.sweep.as_deref()),
    ];
    let inputs = inputs
        .into_iter()
        .filter_map(|(flag, path)| Some((flag, path?)))
        .chain(args.pareto.iter().map(|p| ("--pareto", p.as_path())));
    outputs_apart(&args, inputs)?;
    if let (false, Some(plot)) = (args.pareto.is_empty(), &args.plot) {
        pareto::draw(&args.pareto, plot)?;
        say!("lpa simulate: plot written to {}", plot.display());
        return Ok(ExitCode::SUCCESS);
    }
    // Output names and places are checked before any work, so a typo
    // costs nothing.
    let out = args.out.as_deref().map(OutFormat::of).transpose()?;
    if let Some(p) = &args.plot {
        plot::Format::of(p).map_err(Failure::new)?;
    }
    for path in args.out.iter().chain(&args.plot) {
        writable(path)?;
    }
    if args.seeds > 1 && args.sweep.is_none() {
        if args.plot.is_some() {
            return Err(Failure::new("--plot draws one run: use it without --seeds"));
        }
        if out == Some(OutFormat::Csv) {
            return Err(Failure::new(format!(
                "--out {}: a CSV holds one run's cycles; with --seeds write a .json file (the summed scores)",
                args.out.as_deref().unwrap_or(Path::new("")).display()
            )));
        }
    }
    if args.compare && out == Some(OutFormat::Csv) {
        // A trace's CSV has no place for the yardsticks: written, the
        // comparison the command was run for would be lost unsaid.
        return Err(Failure::new(format!(
            "--out {}: a CSV holds one run's cycles, not the comparison; with --compare write a .json file (the scores and the baselines)",
            args.out.as_deref().unwrap_or(Path::new("")).display()
        )));
    }
    let policy = load_config(&args.policy)?.policy;
    if let Some(log) = &args.replay {
        if args.plot.is_some() {
            return Err(Failure::new(
                "--plot draws a simulation: use it with --scenario, not --replay",
            ));
        }
        return replay_log(&args, log, &policy, out);
    }
    let scenario_path = args
        .scenario
        .as_deref()
        .ok_or_else(|| Failure::new("--scenario or --replay is required"))?;
    let (mut scenario, data) = load_scenario(scenario_path)?;
    outputs_apart(
        &args,
        data.iter()
            .map(|p| ("the data file of --scenario", p.as_path())),
    )?;
    if let Some(c) = args.cycles {
        cut_to(&mut scenario, c, scenario_path)?;
    }
    if let Some(s) = args.seed {
        scenario.seed = s;
    }
    if let Some(n) = args.samples {
        scenario.service.samples = n;
    }
    if let Some(spec) = &args.sweep {
        return sweep(&args, spec, &scenario, &policy, out);
    }
    simulate_scenario(&args, &scenario, &policy, out)
}

/// A scenario under the policy or a yardstick, over one seed or several,
/// and with `--compare` beside every yardstick.
fn simulate_scenario(
    args: &SimulateArgs,
    scenario: &Scenario,
    policy: &Policy,
    out: Option<OutFormat>,
) -> Result<ExitCode> {
    let which = args.yardstick.map_or(Yardstick::Policy, yardstick_of);
    let runs = seed_runs(scenario, args.seeds);
    // One seed keeps its trace (table, plot, rows) where something shows
    // it; several only sum. A long run's trace is most of its memory.
    let shown = !args.quiet || args.out.is_some() || args.plot.is_some();
    let trace = if runs.len() == 1 && shown {
        Some(match which {
            Yardstick::Policy => sim::simulate(scenario, policy),
            other => yardstick::simulate(scenario, policy, other)?,
        })
    } else {
        None
    };
    let scores = match &trace {
        Some(t) => t.scores.clone(),
        None => {
            let each = runs
                .par_iter()
                .map(|s| yardstick::outcome(s, policy, which).map(|o| o.scores))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            sum(each, Scores::add).unwrap_or_default()
        }
    };
    let results = Results {
        // The oracle has no noise: every seed plans the same counts.
        oracle: Oracle::plan(scenario, policy).map(|o| o.replica_cycles() * u64::from(args.seeds)),
        comparison: if args.compare {
            let each = runs
                .par_iter()
                .map(|s| yardstick::compare(s, policy))
                .collect();
            sum(each, Comparison::add)
        } else {
            None
        },
        bound: Bound::of(scenario, policy),
        trace,
        scores,
    };
    let Results {
        trace,
        scores,
        oracle,
        comparison,
        bound,
    } = &results;
    let staged = match args.out.as_deref().zip(out) {
        Some((path, format)) => Some(stage_with(path, |w| match (format, &trace) {
            (OutFormat::Csv, Some(t)) => w.write_all(trace_csv(t).as_bytes()),
            _ => {
                let report = Report::new(scenario, &runs, policy, which, &results);
                serde_json::to_writer_pretty(&mut *w, &report)?;
                w.write_all(b"\n")
            }
        })?),
        None => None,
    };
    let mut drawn = None;
    if let (Some(path), Some(trace)) = (&args.plot, &trace) {
        let s = &trace.scores;
        let config = &args.policy.evaluation_config;
        let by = match which {
            Yardstick::Policy => config.file_name().map_or_else(
                || config.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            other => other.name().to_string(),
        };
        let mut picture = super::report::SimTrace::of(trace).picture();
        picture.capacity = Some(scenario.service.capacity);
        picture.title = format!(
            "scenario {} under {by} (seed {}, {} of {}s)",
            scenario.name,
            scenario.seed,
            count(s.cycles, "cycle"),
            scenario.interval_secs
        );
        picture.subtitle = format!(
            "{} over target, {} replica-cycles, {} ({}); recovery: {}",
            count(s.cycles_over_target, "cycle"),
            s.replica_cycles,
            count(s.scale_changes, "scale change"),
            count(s.reversals, "reversal"),
            recovery_text(s, scenario)
        );
        drawn = Some((plot::prepare(&picture, path).map_err(Failure::new)?, path));
    }
    // Both or neither, a stop signal meanwhile included.
    super::output::placing(|| -> Result<()> {
        if let Some(staged) = staged {
            staged.keep()?;
        }
        if let Some((drawn, path)) = drawn {
            drawn.keep().map_err(Failure::new)?;
            say!("lpa simulate: plot written to {}", path.display());
        }
        Ok(())
    })?;
    let mut text = scores_text(scores, scenario, &runs, which, oracle, bound);
    if let Some(c) = &comparison {
        text.push('\n');
        text.push_str(&compare_table(c, bound, scenario, &runs));
    }
    crate::settings::emit_with(|out| {
        if let (false, Some(trace)) = (args.quiet, &trace) {
            trace_table(trace, out)?;
            out.write_all(b"\n")?;
        }
        out.write_all(text.as_bytes())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn yardstick_of(arg: YardstickArg) -> Yardstick {
    match arg {
        YardstickArg::Policy => Yardstick::Policy,
        YardstickArg::Seed => Yardstick::Seed,
        YardstickArg::HpaCpu => Yardstick::HpaCpu,
        YardstickArg::HpaLatency => Yardstick::HpaLatency,
        YardstickArg::Oracle => Yardstick::Oracle,
    }
}

/// Sums per-seed results in seed order: the first one carries the load
/// steps every seed shares.
fn sum<T>(each: Vec<T>, add: impl Fn(&mut T, &T)) -> Option<T> {
    let mut iter = each.into_iter();
    let mut total = iter.next()?;
    for t in iter {
        add(&mut total, &t);
    }
    Some(total)
}

/// What a scenario run came to.
struct Results {
    /// One seed's trace; `None` over several.
    trace: Option<Trace>,
    /// The policy's, or the yardstick's, summed over the seeds.
    scores: Scores,
    /// The oracle's replica-cycles over the seeds.
    oracle: std::result::Result<u64, Unreachable>,
    comparison: Option<Comparison>,
    /// The least replica-cycles any policy can expect for a count of
    /// cycles over target.
    bound: Bound,
}

/// `--out FILE.json`: the trace (one seed) or the summed scores
/// (several), with the oracle's cost and, with `--compare`, the yardsticks.
#[derive(Serialize)]
struct Report<'a> {
    scenario: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seeds: Option<Vec<u64>>,
    interval_secs: u64,
    targets: Vec<TargetLabel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rows: Option<&'a [TraceRow]>,
    /// Set when a yardstick ran instead of the policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    yardstick: Option<&'static str>,
    scores: &'a Scores,
    /// `null` when no replica count holds the targets.
    oracle_replica_cycles: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    baselines: Option<Baselines<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oracle: Option<Option<&'a Scores>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_cycles_over_target: Option<BTreeMap<&'static str, Option<u32>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hpa_cpu_target_utilization: Option<Option<u32>>,
    /// Per yardstick (without `--compare`, for the run's own), the fewest
    /// replica-cycles any policy can expect with its cycles over target
    /// (`null` for a yardstick that could not run).
    bound_replica_cycles: BTreeMap<&'static str, Option<u64>>,
    /// The bound's corners, (cycles over target, replica-cycles), up to a
    /// third past the most any yardstick had: what `--pareto` draws.
    #[serde(skip_serializing_if = "Option::is_none")]
    bound_curve: Option<Vec<(f64, f64)>>,
}

#[derive(Serialize)]
struct Baselines<'a> {
    seed: &'a Scores,
    hpa_cpu: Option<&'a Scores>,
    hpa_latency: &'a Scores,
}

impl<'a> Report<'a> {
    fn new(
        scenario: &'a Scenario,
        runs: &[Scenario],
        policy: &Policy,
        which: Yardstick,
        results: &'a Results,
    ) -> Report<'a> {
        let comparison = results.comparison.as_ref();
        Report {
            scenario: &scenario.name,
            seed: (runs.len() == 1).then_some(scenario.seed),
            seeds: (runs.len() > 1).then(|| runs.iter().map(|s| s.seed).collect()),
            interval_secs: scenario.interval_secs,
            targets: TargetLabel::of(policy),
            rows: results.trace.as_ref().map(|t| t.rows.as_slice()),
            yardstick: (which != Yardstick::Policy).then(|| which.name()),
            scores: &results.scores,
            oracle_replica_cycles: results.oracle.as_ref().ok().copied(),
            baselines: comparison.map(|c| Baselines {
                seed: &c.seed.scores,
                hpa_cpu: c.hpa_cpu.as_ref().map(|o| &o.scores),
                hpa_latency: &c.hpa_latency.scores,
            }),
            oracle: comparison.map(|c| c.oracle.as_ref().map(|o| &o.scores)),
            model_cycles_over_target: comparison.map(|c| {
                Yardstick::ALL
                    .iter()
                    .map(|&y| (y.key(), c.outcome(y).map(|o| o.model_cycles_over_target)))
                    .collect()
            }),
            hpa_cpu_target_utilization: comparison.map(|c| c.hpa_cpu_target_percent),
            // Every yardstick's with --compare, else the run's own.
            bound_replica_cycles: match comparison {
                Some(c) => Yardstick::ALL
                    .iter()
                    .map(|&y| {
                        let least = c
                            .outcome(y)
                            .map(|o| least_for(&results.bound, &o.scores, runs.len()));
                        (y.key(), least)
                    })
                    .collect(),
                None => BTreeMap::from([(
                    which.key(),
                    Some(least_for(&results.bound, &results.scores, runs.len())),
                )]),
            },
            bound_curve: comparison.map(|c| {
                let most = Yardstick::ALL
                    .iter()
                    .filter_map(|&y| c.outcome(y))
                    .map(|o| o.scores.cycles_over_target)
                    .max()
                    .unwrap_or(0);
                let runs = u32::try_from(runs.len()).unwrap_or(u32::MAX);
                results.bound.curve(runs, f64::from(most.max(1)) * 1.35)
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutFormat {
    Json,
    Csv,
}

impl OutFormat {
    fn of(path: &Path) -> Result<OutFormat> {
        match extension(path).as_deref() {
            Some("json") => Ok(OutFormat::Json),
            Some("csv") => Ok(OutFormat::Csv),
            _ => Err(Failure::new(format!(
                "--out {}: unknown format (expected a .json or .csv file name)",
                path.display()
            ))),
        }
    }
}

/// `--cycles N` over the scenario's own: past a recording's end the load
/// is unknown (refused, as in the file); what a shorter run cuts off (a
/// step, a spike, a change of the service) is said, where the run went on
/// without it and said the profile had no step.
fn cut_to(scenario: &mut Scenario, cycles: u32, path: &Path) -> Result<()> {
    if let Some(n) = scenario.load.recorded_cycles().filter(|&n| cycles > n) {
        return Err(Failure::new(format!(
            "--cycles {cycles}: {}'s recording (load.file) holds {n} intervals, and past them its load is unknown; at most {n}",
            path.display()
        )));
    }
    for (field, at) in scenario.events_past(cycles) {
        say!(
            "lpa simulate: warning: --cycles {cycles} ends the run before {field} {at} of {}: the run holds none of it",
            path.display()
        );
    }
    if let Some((what, end)) = scenario.load_cut_off(cycles) {
        say!(
            "lpa simulate: warning: --cycles {cycles} ends the run before the {what} of {} ends ({end}): the run holds part of it",
            path.display()
        );
    }
    scenario.cycles = cycles;
    Ok(())
}

/// The scenario, and the data files it read (a CSV load profile, a trace
/// of arrivals).
fn load_scenario(path: &Path) -> Result<(Scenario, Vec<PathBuf>)> {
    let name = path.display().to_string();
    let text = read_settings_text(path)
        .map_err(|e| Failure::new(format!("{name}: cannot read the scenario: {e}")))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    // A CSV load profile is named relative to the scenario file.
    let mut data = Vec::new();
    let mut read = |rel: &str| {
        data.push(dir.join(rel));
        read_record_text(&dir.join(rel))
    };
    let scenario = sim::parse_scenario(&name, &text, &mut read)?;
    Ok((scenario, data))
}

/// Refuses `--out` or `--plot` naming one of the `inputs` (`(flag, path)`):
/// written, the output would destroy the input (`--replay run.jsonl --out
/// run.jsonl` replaced the recorded run with the replay's table).
fn outputs_apart<'a>(
    args: &SimulateArgs,
    inputs: impl IntoIterator<Item = (&'a str, &'a Path)>,
) -> Result<()> {
    let outputs = [("--out", &args.out), ("--plot", &args.plot)];
    let outputs: Vec<(&str, &Path)> = outputs
        .into_iter()
        .filter_map(|(flag, path)| Some((flag, path.as_deref()?)))
        .collect();
    for input in inputs {
        for &output in &outputs {
            crate::settings::distinct_files(output, input)?;
        }
    }
    Ok(())
}

/// Whether `path` names a file that can be written: its directory exists
/// and it is not a directory itself.
fn writable(path: &Path) -> Result<()> {
    let dir = parent_dir(path);
    match std::fs::metadata(dir) {
        Err(e) => return Err(cannot_write(path, e)),
        Ok(m) if !m.is_dir() => {
            return Err(cannot_write(path, ErrorKind::NotADirectory.into()));
        }
        Ok(_) => {}
    }
    if path.is_dir() {
        return Err(cannot_write(path, ErrorKind::IsADirectory.into()));
    }
    Ok(())
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    let mut s = serde_json::to_string_pretty(v).map_err(|e| Failure::new(e.to_string()))?;
    s.push('\n');
    Ok(s)
}

fn label(t: &TargetLabel) -> String {
    format!("{}<={}{}", t.kind, num(t.target), t.unit)
}

/// An observed value, with `!` when it breaches its target, or when
/// nothing served it (`down`: the cycle is over target, however fast the
/// refusals read).
fn observed_cell(v: Option<f64>, t: &TargetLabel, down: bool) -> String {
    match v {
        None => "-".to_string(),
        Some(v) if down || v > t.target => format!("{v:.2}!"),
        Some(v) => format!("{v:.2}"),
    }
}

fn trace_table(trace: &Trace, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    for (i, t) in trace.targets.iter().enumerate() {
        writeln!(out, "# target {}: {t} (! marks a breach)", i + 1)?;
    }
    let heads: Vec<String> = trace.targets.iter().map(label).collect();
    let widths: Vec<usize> = heads.iter().map(|h| h.len().max(9)).collect();
    write!(
        out,
        "{:>5} {:>7} {:>8} {:>5} {:>8}",
        "cycle", "time_s", "load/s", "ready", "replicas"
    )?;
    for (h, w) in heads.iter().zip(&widths) {
        write!(out, " {h:>w$}")?;
    }
    writeln!(out, " {:>7}  decision", "decided")?;
    for r in &trace.rows {
        write!(
            out,
            "{:>5} {:>7} {:>8.1} {:>5} {:>8}",
            r.cycle, r.at_secs, r.load, r.ready, r.replicas
        )?;
        for ((v, t), w) in r.observed.iter().zip(&trace.targets).zip(&widths) {
            write!(out, " {:>w$}", observed_cell(*v, t, r.ready == 0))?;
        }
        writeln!(out, " {:>7}  {}", r.decided, r.action)?;
    }
    Ok(())
}

fn trace_csv(trace: &Trace) -> String {
    use super::report::{TRACE_HEAD, TRACE_TAIL};
    let mut head: Vec<String> = TRACE_HEAD.map(String::from).to_vec();
    head.extend(trace.targets.iter().map(ToString::to_string));
    head.extend(TRACE_TAIL.map(String::from));
    let rows = trace.rows.iter().map(|r| {
        let mut row = vec![
            r.cycle.to_string(),
            r.at_secs.to_string(),
            r.load.to_string(),
            r.ready.to_string(),
            r.replicas.to_string(),
            r.backlog.to_string(),
        ];
        row.extend(
            r.observed
                .iter()
                .map(|v| v.map(|v| v.to_string()).unwrap_or_default()),
        );
        row.extend([
            r.failures.to_string(),
            r.breached.to_string(),
            r.decided.to_string(),
            r.action.clone(),
        ]);
        row
    });
    csv_text::write(std::iter::once(head).chain(rows))
}

/// A load change recovery counts from, named by the profile's kind.
fn rise(load: &LoadProfile) -> &'static str {
    match load {
        LoadProfile::Spike { .. } => "spike",
        LoadProfile::Csv { .. } => "load rise",
        _ => "step",
    }
}

fn recovery_text(s: &Scores, scenario: &Scenario) -> String {
    let rise = rise(&scenario.load);
    let one = |r: &Recovery| match r.cycles {
        Some(0) => format!("{rise} at cycle {}: never over target", r.step_at),
        Some(c) => format!("{rise} at cycle {}: {}", r.step_at, count(c, "cycle")),
        None => format!("{rise} at cycle {}: not recovered by the end", r.step_at),
    };
    match s.recoveries.as_slice() {
        [] => format!(
            "no load step in the run's {}",
            count(scenario.cycles, "cycle")
        ),
        few @ [_] | few @ [_, _] | few @ [_, _, _] => {
            few.iter().map(one).collect::<Vec<_>>().join("; ")
        }
        // A recorded load rises often: the slowest rise says enough.
        many => {
            let slowest = many
                .iter()
                .max_by_key(|r| r.cycles.map_or(u64::MAX, u64::from))
                .map(one)
                .unwrap_or_default();
            let calm = many.iter().filter(|r| r.cycles == Some(0)).count();
            format!(
                "{}, {calm} never over target; slowest: {slowest}",
                count(many.len(), rise)
            )
        }
    }
}

/// The scenario over `seeds` seeds: its own, then +1, +2, ...
fn seed_runs(scenario: &Scenario, seeds: u32) -> Vec<Scenario> {
    (0..u64::from(seeds))
        .map(|i| Scenario {
            seed: scenario.seed.wrapping_add(i),
            ..scenario.clone()
        })
        .collect()
}

/// Which runs the scores are of: `seed 1`, or `seeds 1 to 20 (summed)`.
fn runs_text(runs: &[Scenario]) -> String {
    match runs {
        [one] => format!("seed {}", one.seed),
        [first, .., last] => format!(
            "seeds {} to {} ({} runs summed)",
            first.seed,
            last.seed,
            runs.len()
        ),
        [] => String::new(),
    }
}

fn scores_text(
    s: &Scores,
    scenario: &Scenario,
    runs: &[Scenario],
    which: Yardstick,
    oracle: &std::result::Result<u64, Unreachable>,
    bound: &Bound,
) -> String {
    let by = match which {
        Yardstick::Policy => String::new(),
        other => format!(", yardstick {}", other.name()),
    };
    let mut out = format!(
        "scores: scenario {}{by}, {}, {} of {}s\n",
        scenario.name,
        runs_text(runs),
        count(s.cycles, "cycle"),
        scenario.interval_secs
    );
    let vs_oracle = match oracle {
        Ok(o) => vs_oracle(s, *o),
        Err(e) => format!("- ({e})"),
    };
    let vs_bound = vs_bound(s, least_for(bound, s, runs.len()));
    out.push_str(&crate::text::score_lines(
        s,
        &[("vs oracle", vs_oracle), ("vs bound", vs_bound)],
        &recovery_text(s, scenario),
    ));
    out
}

/// The score line `vs oracle`, for `lpa simulate` and `lpa report`.
pub(super) fn vs_oracle(s: &Scores, oracle: u64) -> String {
    format!(
        "{} (the oracle's {oracle}: the fewest that hold every cycle)",
        ratio(s.replica_cycles, Some(oracle))
    )
}

/// The score line `vs bound`, for `lpa simulate` and `lpa report`.
pub(super) fn vs_bound(s: &Scores, least: u64) -> String {
    format!(
        "{} ({least}: the fewest any policy can expect for {} over target)",
        ratio(s.replica_cycles, Some(least)),
        count(s.cycles_over_target, "cycle")
    )
}

/// `1.21x`: replica-cycles against the oracle's.
fn ratio(cost: u64, oracle: Option<u64>) -> String {
    match oracle {
        Some(o) if o > 0 => format!("{:.2}x", cost as f64 / o as f64),
        _ => "-".to_string(),
    }
}

/// The slowest recovery from a load step: cycles, `never`, or `-`.
fn worst_recovery(s: &Scores) -> String {
    match s.worst_recovery() {
        None => "-".to_string(),
        Some(None) => "never".to_string(),
        Some(Some(c)) => c.to_string(),
    }
}

/// The bound at `s`'s cycles over target over `runs` seeds, rounded down
/// (it stays a lower bound). A count read is judged as an expectation of
/// half a cycle more, which reads that count or fewer about half the time
/// or more: as an expectation, a 0 read asked for the count that makes
/// every chance nil (below 1e-12), more than the oracle spent for its own
/// 0 (1193 beside 1192 on the step with minReplicas 10).
fn least_for(bound: &Bound, s: &Scores, runs: usize) -> u64 {
    let runs = u32::try_from(runs).unwrap_or(u32::MAX);
    bound
        .least(f64::from(s.cycles_over_target) + 0.5, runs)
        .floor() as u64
}

/// `--compare`: the policy beside every yardstick, one row each.
fn compare_table(c: &Comparison, bound: &Bound, scenario: &Scenario, runs: &[Scenario]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "compare: scenario {}, {}, {} cycles of {}s each",
        scenario.name,
        runs_text(runs),
        scenario.cycles,
        scenario.interval_secs
    );
    let _ = writeln!(
        out,
        "{:<12} {:>11} {:>10} {:>14} {:>9} {:>8} {:>9} {:>8}",
        "yardstick",
        "over_target",
        "over_model",
        "replica_cycles",
        "vs_oracle",
        "vs_bound",
        "reversals",
        "recovery"
    );
    let oracle = c.oracle.as_ref().map(|o| o.scores.replica_cycles);
    for y in Yardstick::ALL {
        match c.outcome(y) {
            Some(o) => {
                let s = &o.scores;
                let least = Some(least_for(bound, s, runs.len()));
                let _ = writeln!(
                    out,
                    "{:<12} {:>11} {:>10} {:>14} {:>9} {:>8} {:>9} {:>8}",
                    y.name(),
                    s.cycles_over_target,
                    o.model_cycles_over_target,
                    s.replica_cycles,
                    ratio(s.replica_cycles, oracle),
                    ratio(s.replica_cycles, least),
                    s.reversals,
                    worst_recovery(s)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "{:<12} {:>11}  (cannot hold the targets under the model)",
                    y.name(),
                    "-"
                );
            }
        }
    }
    if let Some(p) = c.hpa_cpu_target_percent {
        let _ = writeln!(
            out,
            "hpa-cpu targets {p} % CPU: the highest utilisation that holds every target at steady state under the model."
        );
    }
    out.push_str(
        "over_target: as measured, the load test's noise included; over_model: on the model's noise-free values;\nrecovery: cycles from the slowest load step back within every target.\n",
    );
    out.push_str("vs_bound: replica-cycles against the fewest any policy can expect to spend with as many cycles over target,\neven one that knows the load ahead and whose replicas start at once (docs/algorithm.md, \"Yardsticks\").\n");
    out
}

// ---- replay ---------------------------------------------------------------

fn read_records(path: &Path, on_bad: BadLine) -> Result<Vec<(usize, DecisionRecord)>> {
    let name = path.display().to_string();
    let text = crate::settings::read_log_text(path)
        .map_err(|e| Failure::new(format!("{name}: cannot read the decision log: {e}")))?;
    // Read as a log, another output fails at its first line, and skipping
    // bad lines skips them all.
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let doc = serde_json::from_str::<serde_json::Value>(&text).ok();
    if let Some(what) = simulate_output(first, doc.as_ref()) {
        return Err(Failure::new(format!(
            "{name}: this is the output of `{}`, not a decision log; --replay re-decides the records of lpa run --decision-log or lpa demo",
            what.command()
        )));
    }
    let mut records = Vec::new();
    let last = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .last()
        .map(|(i, _)| i);
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{name}:{}", i + 1);
        let record = serde_json::from_str::<DecisionRecord>(line);
        if let Err(e) = &record {
            if cut_short(e, last == Some(i), &text) {
                say!("lpa simulate: warning: {at}: {CUT_SHORT}");
                continue;
            }
        }
        let record = record
            .map_err(|e| format!("{at}: corrupt decision record: {e}"))
            .and_then(|r| match r.observation.implausible() {
                None => Ok(r),
                Some(bad) => Err(bad.at(&at, "observation").to_string()),
            })
            // What `lpa report` refuses of a record, replay refuses too:
            // an `at_secs` past the year 9999 was re-decided and printed.
            .and_then(|r| match unrecorded(&r) {
                None => Ok(r),
                Some(bad) => Err(format!("{at}: {bad}")),
            });
        match record {
            Ok(r) => records.push((i + 1, r)),
            Err(msg) => match on_bad {
                BadLine::Stop => {
                    return Err(Failure::new(format!(
                        "{msg} (--on-bad-line skip to go on without it)"
                    )))
                }
                BadLine::Skip => say!("lpa simulate: warning: {msg}; skipped"),
            },
        }
    }
    if records.is_empty() {
        return Err(Failure::new(format!(
            "{name}: no decision records to replay"
        )));
    }
    // The times decide sees: a live run whose clock went back saw the same.
    let times = records.iter().map(|(l, r)| (*l, r.observation.at_secs));
    if let Some(back) = time_back(times) {
        say!(
            "lpa simulate: warning: {}",
            time_back_warning(
                &name,
                &back,
                "re-decided at its own time, in the log's order"
            )
        );
    }
    Ok(records)
}

const CAVEAT: &str = "caveat: the observations were measured under the recorded replica counts; where the new policy chose other counts, the latencies it would have seen differ, and replay cannot know how.";

fn replay_log(
    args: &SimulateArgs,
    log: &Path,
    policy: &Policy,
    out: Option<OutFormat>,
) -> Result<ExitCode> {
    let records = read_records(log, args.on_bad_line.unwrap_or(BadLine::Stop))?;
    warn_unmeasured(log, &records, policy);
    let (rows, summary) = replay(&records, policy);
    if let Some((path, format)) = args.out.as_deref().zip(out) {
        let text = match format {
            OutFormat::Json => json(&serde_json::json!({ "rows": rows, "summary": summary }))?,
            OutFormat::Csv => replay_csv(&rows),
        };
        write_file(path, text.as_bytes())?;
    }
    let mut text = String::new();
    if !args.quiet {
        text.push_str(&replay_table(&rows, policy));
        text.push('\n');
    }
    text.push_str(&replay_summary(&summary, log, args));
    let _ = writeln!(text, "{CAVEAT}");
    crate::settings::emit(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// A target whose request no record measured (a renamed endpoint, most
/// likely) has no data in any new decision, so the new policy never
/// decays: the table shows it only as holds, and `--quiet` not at all.
fn warn_unmeasured(log: &Path, records: &[(usize, DecisionRecord)], policy: &Policy) {
    let measured: BTreeSet<&str> = records
        .iter()
        .flat_map(|(_, r)| r.observation.requests.keys().map(String::as_str))
        .collect();
    let has: Vec<&str> = measured.iter().copied().collect();
    for t in policy.targets() {
        let key = t.key();
        if !measured.contains(key.as_str()) {
            say!(
                "lpa simulate: warning: target {}: no record of {} measured {key} (its requests: {}), so the new policy has no data for it",
                t.label(),
                log.display(),
                if has.is_empty() {
                    "none".to_string()
                } else {
                    lpa_core::text::escape_controls(&has.join(", "))
                }
            );
        }
    }
}

fn replay_table(rows: &[ReplayRow], policy: &Policy) -> String {
    let labels = TargetLabel::of(policy);
    let heads: Vec<String> = labels.iter().map(label).collect();
    let widths: Vec<usize> = heads.iter().map(|h| h.len().max(9)).collect();
    let mut out = String::new();
    let _ = write!(out, "{:>5} {:>11} {:>7}", "line", "at_secs", "current");
    for (h, w) in heads.iter().zip(&widths) {
        let _ = write!(out, " {h:>w$}");
    }
    let _ = writeln!(
        out,
        " {:>8} {:>4}    recorded decision | new decision",
        "recorded", "new"
    );
    for r in rows {
        let _ = write!(out, "{:>5} {:>11} {:>7}", r.line, r.at_secs, r.current);
        for ((v, t), w) in r.observed.iter().zip(&labels).zip(&widths) {
            let _ = write!(out, " {:>w$}", observed_cell(*v, t, false));
        }
        let mark = if r.new == r.recorded { ' ' } else { '*' };
        let _ = writeln!(
            out,
            " {:>8} {:>4} {mark}  {} | {}",
            r.recorded, r.new, r.recorded_action, r.new_action
        );
    }
    out
}

fn replay_csv(rows: &[ReplayRow]) -> String {
    let head = [
        "line",
        "at_secs",
        "current",
        "recorded",
        "new",
        "recorded_action",
        "new_action",
    ]
    .map(String::from)
    .to_vec();
    let body = rows.iter().map(|r| {
        vec![
            r.line.to_string(),
            r.at_secs.to_string(),
            r.current.to_string(),
            r.recorded.to_string(),
            r.new.to_string(),
            r.recorded_action.clone(),
            r.new_action.clone(),
        ]
    });
    csv_text::write(std::iter::once(head).chain(body))
}

fn replay_summary(s: &ReplaySummary, log: &Path, args: &SimulateArgs) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "replay: {} of {} under {}",
        count(s.records, "record"),
        log.display(),
        args.policy.evaluation_config.display()
    );
    let _ = writeln!(
        out,
        "  same decision       {} of {} (* marks the others: new higher {}, new lower {})",
        s.agreed, s.records, s.new_higher, s.new_lower
    );
    let _ = writeln!(
        out,
        // `lpa report` sums the counts each record ran at; a replay, the
        // counts decided, which serve the interval after: one record apart.
        "  replica-cycles      recorded {}, new {} (each decision's count for the interval after it)",
        s.recorded_replica_cycles, s.new_replica_cycles
    );
    out
}

// ---- sweep ----------------------------------------------------------------

/// Simulated cycles from which a sweep says how many it runs before it
/// starts: fixtures/sweeps/bench-1000.yaml on step.yaml, 120 000 cycles,
/// takes 0.16 s on two cores, so this is minutes, and more with more
/// samples a cycle.
const LONG_SWEEP_CYCLES: u64 = 100_000_000;

fn sweep(
    args: &SimulateArgs,
    spec_path: &Path,
    scenario: &Scenario,
    base: &Policy,
    out: Option<OutFormat>,
) -> Result<ExitCode> {
    let name = spec_path.display().to_string();
    let text = read_settings_text(spec_path)
        .map_err(|e| Failure::new(format!("{name}: cannot read the sweep spec: {e}")))?;
    let spec = parse_sweep(&name, &text)?;
    let points = spec
        .points(base)
        .map_err(|e| Failure::new(format!("{name}: {e}")))?;
    let threads = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |j| j as usize,
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Failure::new(format!("cannot start {threads} sweep threads: {e}")))?;
    let started = Instant::now();
    let policies = points
        .iter()
        .map(|p| p.policy(base))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Failure::new(format!("{}: {e}", args.policy.evaluation_config.display())))?;
    let runs = seed_runs(scenario, args.seeds);
    let cycles = points.len() as u64 * runs.len() as u64 * u64::from(scenario.cycles);
    if cycles >= LONG_SWEEP_CYCLES {
        // Each limit alone is generous; their product can be years, run
        // without a word.
        say!(
            "lpa simulate: note: {} x {} x {} cycles = {cycles} simulated cycles before any output; Ctrl-C stops it",
            count(points.len() as u64, "point"),
            count(runs.len() as u64, "seed"),
            scenario.cycles,
        );
    }
    // Every point is judged by the evaluation config's targets, whatever
    // target it decides by: one yardstick for the whole front.
    let judge = base.targets();
    let outcomes: Vec<Outcome> = pool.install(|| {
        points
            .par_iter()
            .zip(&policies)
            .map(|(p, policy)| Outcome {
                point: p.clone(),
                scores: sum(
                    runs.iter()
                        .map(|s| sim::score_judged(s, policy, judge))
                        .collect(),
                    Scores::add,
                )
                .unwrap_or_default(),
            })
            .collect()
    });
    let elapsed = started.elapsed();
    // Timing is not data: stderr, so stdout stays the same run to run.
    say!(
        "lpa simulate: {} x {} x {} in {:.2}s on {}",
        count(outcomes.len() as u64, "point"),
        count(runs.len() as u64, "seed"),
        count(scenario.cycles, "cycle"),
        elapsed.as_secs_f64(),
        count(threads as u64, "thread")
    );
    let bound = Bound::of(scenario, base);
    let points: Vec<SweepPoint> = outcomes
        .iter()
        .map(|o| SweepPoint {
            point: &o.point,
            scores: &o.scores,
            bound_replica_cycles: least_for(&bound, &o.scores, runs.len()),
        })
        .collect();
    if let Some((path, format)) = args.out.as_deref().zip(out) {
        let text = match format {
            OutFormat::Json => json(&points)?,
            OutFormat::Csv => sweep_csv(&points),
        };
        write_file(path, text.as_bytes())?;
    }
    let front = pareto_front(&outcomes);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "sweep: {} over scenario {} ({}, {}); Pareto front of cost vs cycles over target, best first:",
        count(outcomes.len() as u64, "point"),
        scenario.name,
        runs_text(&runs),
        count(scenario.cycles, "cycle")
    );
    let judged: Vec<String> = TargetLabel::of(base)
        .iter()
        .map(ToString::to_string)
        .collect();
    let _ = writeln!(
        text,
        "every point judged by the evaluation config's targets ({}), whatever target it decides by",
        judged.join(", ")
    );
    let _ = writeln!(
        text,
        "{:>4} {:>11} {:>14} {:>8} {:>7} {:>9} {:>14}  parameters",
        "rank",
        "over_target",
        "replica_cycles",
        "vs_bound",
        "changes",
        "reversals",
        "worst_recovery"
    );
    for (i, o) in front.iter().enumerate() {
        let s = &o.scores;
        let rec = worst_recovery(s);
        let least = least_for(&bound, s, runs.len());
        let _ = writeln!(
            text,
            "{:>4} {:>11} {:>14} {:>8} {:>7} {:>9} {:>14}  {}",
            i + 1,
            s.cycles_over_target,
            s.replica_cycles,
            ratio(s.replica_cycles, Some(least)),
            s.scale_changes,
            s.reversals,
            rec,
            o.point.label()
        );
    }
    let _ = writeln!(
        text,
        "vs_bound: replica-cycles against the fewest any policy can expect to spend with as many cycles over target (docs/algorithm.md, \"The bound\")."
    );
    crate::settings::emit(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// A sweep point as `--out` writes it: its parameters, its scores and
/// the bound at its cycles over target.
#[derive(Serialize)]
struct SweepPoint<'a> {
    point: &'a Point,
    scores: &'a Scores,
    bound_replica_cycles: u64,
}

fn sweep_csv(outcomes: &[SweepPoint<'_>]) -> String {
    let head = [
        "unchanged_runs",
        "decay_replicas",
        "scale_up",
        "target",
        "margin",
        "learn_runs",
        "queue_share",
        "downscale_stabilization",
        "cycles_over_target",
        "replica_cycles",
        "scale_changes",
        "reversals",
        "peak_replicas",
        "bound_replica_cycles",
    ]
    .map(String::from)
    .to_vec();
    let body = outcomes.iter().map(|o| {
        let p = o.point;
        let up = match p.scale_up {
            lpa_core::config::ScaleUp::Step { replicas } => format!("step+{replicas}"),
            lpa_core::config::ScaleUp::Proportional { tolerance, .. } => {
                format!("proportional tol={tolerance}")
            }
        };
        let s = o.scores;
        vec![
            p.unchanged_runs.to_string(),
            p.decay_replicas.to_string(),
            up,
            p.target.to_string(),
            p.margin.map(|m| m.to_string()).unwrap_or_default(),
            p.learn_runs.map(|n| n.to_string()).unwrap_or_default(),
            p.queue_share.map(|q| q.to_string()).unwrap_or_default(),
            p.downscale_stabilization
                .map(lpa_core::duration::format_duration)
                .unwrap_or_default(),
            s.cycles_over_target.to_string(),
            s.replica_cycles.to_string(),
            s.scale_changes.to_string(),
            s.reversals.to_string(),
            s.peak_replicas.to_string(),
            o.bound_replica_cycles.to_string(),
        ]
    });
    csv_text::write(std::iter::once(head).chain(body))
}
