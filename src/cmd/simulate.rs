//! `lpa simulate`: a policy against a modelled service (`--scenario`), a
//! recorded decision log under another policy (`--replay`), or a grid of
//! policies (`--sweep`). The simulation itself is `lpa_core::sim`, pure and
//! seeded; this module reads files, prints tables, writes traces and plots,
//! and runs sweep points on a thread pool.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use lpa_core::log::DecisionRecord;
use lpa_core::sim::replay::{replay, ReplayRow, ReplaySummary};
use lpa_core::sim::sweep::{pareto_front, parse_sweep, Outcome};
use lpa_core::sim::{self, LoadProfile, Scenario, Scores, TargetLabel, Trace};
use lpa_core::Policy;
use rayon::prelude::*;

use crate::cli::{BadLine, SimulateArgs};
use crate::plot;
use crate::settings::{load_config, Failure, Result};
use crate::text::count;

pub fn run(args: SimulateArgs) -> Result<ExitCode> {
    // Output names are checked before any work, so a typo costs nothing.
    let out = args.out.as_deref().map(OutFormat::of).transpose()?;
    if let Some(p) = &args.plot {
        plot::Format::of(p).map_err(Failure::new)?;
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
    let mut scenario = load_scenario(scenario_path)?;
    if let Some(c) = args.cycles {
        scenario.cycles = c;
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
    let trace = sim::simulate(&scenario, &policy);
    if let Some((path, format)) = args.out.as_deref().zip(out) {
        let text = match format {
            OutFormat::Json => json(&trace)?,
            OutFormat::Csv => trace_csv(&trace),
        };
        write_file(path, text.as_bytes())?;
    }
    if let Some(path) = &args.plot {
        let s = &trace.scores;
        let config = &args.policy.evaluation_config;
        let mut picture = super::report::SimTrace::of(&trace).picture();
        picture.capacity = Some(scenario.service.capacity);
        picture.title = format!(
            "scenario {} under {} (seed {}, {} of {}s)",
            scenario.name,
            config.file_name().map_or_else(
                || config.display().to_string(),
                |n| n.to_string_lossy().into_owned()
            ),
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
            recovery_text(s, &scenario)
        );
        plot::draw(&picture, path).map_err(Failure::new)?;
        eprintln!("lpa simulate: plot written to {}", path.display());
    }
    let mut text = String::new();
    if !args.quiet {
        text.push_str(&trace_table(&trace));
        text.push('\n');
    }
    text.push_str(&scores_text(&trace.scores, &scenario));
    crate::settings::emit(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutFormat {
    Json,
    Csv,
}

impl OutFormat {
    fn of(path: &Path) -> Result<OutFormat> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("json") => Ok(OutFormat::Json),
            Some("csv") => Ok(OutFormat::Csv),
            _ => Err(Failure::new(format!(
                "--out {}: unknown format (expected a .json or .csv file name)",
                path.display()
            ))),
        }
    }
}

fn load_scenario(path: &Path) -> Result<Scenario> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::new(format!("{name}: cannot read the scenario: {e}")))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    // A CSV load profile is named relative to the scenario file.
    let mut read = |rel: &str| std::fs::read_to_string(dir.join(rel));
    Ok(sim::parse_scenario(&name, &text, &mut read)?)
}

/// Writes through a temporary file in the same directory and a rename, so
/// a failed run never leaves half a trace behind.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let fail = |e: std::io::Error| Failure::new(format!("{}: cannot write: {e}", path.display()));
    let tmp = path.with_file_name(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    let mut s = serde_json::to_string_pretty(v).map_err(|e| Failure::new(e.to_string()))?;
    s.push('\n');
    Ok(s)
}

fn label(t: &TargetLabel) -> String {
    format!("{}<={}{}", t.kind, num(t.target), t.unit)
}

fn num(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// An observed value, with `!` when it breaches its target.
fn observed_cell(v: Option<f64>, t: &TargetLabel) -> String {
    match v {
        None => "-".to_string(),
        Some(v) if v > t.target => format!("{v:.2}!"),
        Some(v) => format!("{v:.2}"),
    }
}

fn trace_table(trace: &Trace) -> String {
    let mut out = String::new();
    for (i, t) in trace.targets.iter().enumerate() {
        let _ = writeln!(
            out,
            "# target {}: {} {} <= {}{} (! marks a breach)",
            i + 1,
            t.key,
            t.kind,
            num(t.target),
            t.unit
        );
    }
    let heads: Vec<String> = trace.targets.iter().map(label).collect();
    let widths: Vec<usize> = heads.iter().map(|h| h.len().max(9)).collect();
    let _ = write!(
        out,
        "{:>5} {:>7} {:>8} {:>5} {:>8}",
        "cycle", "time_s", "load/s", "ready", "replicas"
    );
    for (h, w) in heads.iter().zip(&widths) {
        let _ = write!(out, " {h:>w$}");
    }
    let _ = writeln!(out, " {:>7}  decision", "decided");
    for r in &trace.rows {
        let _ = write!(
            out,
            "{:>5} {:>7} {:>8.1} {:>5} {:>8}",
            r.cycle, r.at_secs, r.load, r.ready, r.replicas
        );
        for ((v, t), w) in r.observed.iter().zip(&trace.targets).zip(&widths) {
            let _ = write!(out, " {:>w$}", observed_cell(*v, t));
        }
        let _ = writeln!(out, " {:>7}  {}", r.decided, r.action);
    }
    out
}

fn trace_csv(trace: &Trace) -> String {
    let mut out = String::from("cycle,at_secs,load,ready,replicas,backlog");
    for t in &trace.targets {
        let _ = write!(
            out,
            ",{}",
            csv_field(&format!(
                "{} {} <= {}{}",
                t.key,
                t.kind,
                num(t.target),
                t.unit
            ))
        );
    }
    out.push_str(",failures,breached,decided,action\n");
    for r in &trace.rows {
        let _ = write!(
            out,
            "{},{},{},{},{},{}",
            r.cycle, r.at_secs, r.load, r.ready, r.replicas, r.backlog
        );
        for v in &r.observed {
            match v {
                Some(v) => {
                    let _ = write!(out, ",{v}");
                }
                None => out.push(','),
            }
        }
        let _ = writeln!(
            out,
            ",{},{},{},{}",
            r.failures,
            r.breached,
            r.decided,
            csv_field(&r.action)
        );
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
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
    if s.recoveries.is_empty() {
        return "no load steps in this profile".to_string();
    }
    let rise = rise(&scenario.load);
    s.recoveries
        .iter()
        .map(|r| match r.cycles {
            Some(0) => format!("{rise} at cycle {}: never over target", r.step_at),
            Some(c) => format!("{rise} at cycle {}: {}", r.step_at, count(c, "cycle")),
            None => format!("{rise} at cycle {}: not recovered by the end", r.step_at),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn scores_text(s: &Scores, scenario: &Scenario) -> String {
    let mut out = format!(
        "scores: scenario {}, seed {}, {} of {}s\n",
        scenario.name,
        scenario.seed,
        count(s.cycles, "cycle"),
        scenario.interval_secs
    );
    out.push_str(&score_lines(s, &recovery_text(s, scenario)));
    out
}

/// The scores' lines, as `lpa report` prints them too.
pub(crate) fn score_lines(s: &Scores, recovery: &str) -> String {
    let cycles = s.cycles.max(1);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  cycles over target  {} ({:.1} %)",
        s.cycles_over_target,
        100.0 * f64::from(s.cycles_over_target) / f64::from(cycles)
    );
    let _ = writeln!(
        out,
        "  replica-cycles      {} (mean {:.2} replicas, peak {})",
        s.replica_cycles,
        s.replica_cycles as f64 / f64::from(cycles),
        s.peak_replicas
    );
    let _ = writeln!(
        out,
        "  scale changes       {} ({})",
        s.scale_changes,
        count(s.reversals, "reversal")
    );
    let _ = writeln!(out, "  recovery            {recovery}");
    out
}

// ---- replay ---------------------------------------------------------------

fn read_records(path: &Path, on_bad: BadLine) -> Result<Vec<(usize, DecisionRecord)>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::new(format!("{name}: cannot read the decision log: {e}")))?;
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<DecisionRecord>(line) {
            Ok(r) => records.push((i + 1, r)),
            Err(e) => {
                let msg = format!("{name}:{}: corrupt decision record: {e}", i + 1);
                match on_bad {
                    BadLine::Stop => {
                        return Err(Failure::new(format!(
                            "{msg} (--on-bad-line skip to go on without it)"
                        )))
                    }
                    BadLine::Skip => eprintln!("lpa simulate: warning: {msg}; skipped"),
                }
            }
        }
    }
    if records.is_empty() {
        return Err(Failure::new(format!(
            "{name}: no decision records to replay"
        )));
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
    let records = read_records(log, args.on_bad_line)?;
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
            let _ = write!(out, " {:>w$}", observed_cell(*v, t));
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
    let mut out = String::from("line,at_secs,current,recorded,new,recorded_action,new_action\n");
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            r.line,
            r.at_secs,
            r.current,
            r.recorded,
            r.new,
            csv_field(&r.recorded_action),
            csv_field(&r.new_action)
        );
    }
    out
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
        "  replica-cycles      recorded {}, new {}",
        s.recorded_replica_cycles, s.new_replica_cycles
    );
    out
}

// ---- sweep ----------------------------------------------------------------

fn sweep(
    args: &SimulateArgs,
    spec_path: &Path,
    scenario: &Scenario,
    base: &Policy,
    out: Option<OutFormat>,
) -> Result<ExitCode> {
    let name = spec_path.display().to_string();
    let text = std::fs::read_to_string(spec_path)
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
    let outcomes: Vec<Outcome> = pool.install(|| {
        points
            .par_iter()
            .zip(&policies)
            .map(|(p, policy)| Outcome {
                point: p.clone(),
                scores: sim::score(scenario, policy),
            })
            .collect()
    });
    let elapsed = started.elapsed();
    // Timing is not data: stderr, so stdout stays the same run to run.
    eprintln!(
        "lpa simulate: {} x {} in {:.2}s on {}",
        count(outcomes.len() as u64, "point"),
        count(scenario.cycles, "cycle"),
        elapsed.as_secs_f64(),
        count(threads as u64, "thread")
    );
    if let Some((path, format)) = args.out.as_deref().zip(out) {
        let text = match format {
            OutFormat::Json => json(&outcomes)?,
            OutFormat::Csv => sweep_csv(&outcomes),
        };
        write_file(path, text.as_bytes())?;
    }
    let front = pareto_front(&outcomes);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "sweep: {} over scenario {} (seed {}, {}); Pareto front of cost vs cycles over target, best first:",
        count(outcomes.len() as u64, "point"),
        scenario.name,
        scenario.seed,
        count(scenario.cycles, "cycle")
    );
    let _ = writeln!(
        text,
        "{:>4} {:>11} {:>14} {:>7} {:>9} {:>14}  parameters",
        "rank", "over_target", "replica_cycles", "changes", "reversals", "worst_recovery"
    );
    for (i, o) in front.iter().enumerate() {
        let s = &o.scores;
        let rec = match s.worst_recovery() {
            None => "-".to_string(),
            Some(None) => "never".to_string(),
            Some(Some(c)) => c.to_string(),
        };
        let _ = writeln!(
            text,
            "{:>4} {:>11} {:>14} {:>7} {:>9} {:>14}  {}",
            i + 1,
            s.cycles_over_target,
            s.replica_cycles,
            s.scale_changes,
            s.reversals,
            rec,
            o.point.label()
        );
    }
    crate::settings::emit(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn sweep_csv(outcomes: &[Outcome]) -> String {
    let mut out = String::from(
        "unchanged_runs,decay_replicas,scale_up,target,cycles_over_target,replica_cycles,scale_changes,reversals,peak_replicas\n",
    );
    for o in outcomes {
        let p = &o.point;
        let up = match p.scale_up {
            lpa_core::config::ScaleUp::Step { replicas } => format!("step+{replicas}"),
            lpa_core::config::ScaleUp::Proportional { tolerance, .. } => {
                format!("proportional tol={tolerance}")
            }
        };
        let s = &o.scores;
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{}",
            p.unchanged_runs,
            p.decay_replicas,
            up,
            p.target,
            s.cycles_over_target,
            s.replica_cycles,
            s.scale_changes,
            s.reversals,
            s.peak_replicas
        );
    }
    out
}
