//! `lpa report LOG`: the scores of a recorded run, and its picture.
//!
//! Reads a decision log (`lpa run --decision-log`, `lpa demo`: one
//! [`DecisionRecord`] per line) or a simulation trace (`lpa simulate
//! --scenario ... --out FILE.json|FILE.csv`), scores it with the same
//! [`Scorer`] a simulation uses, prints the scores (or `--json`), and with
//! `--plot` draws it through [`crate::plot`].
//!
//! A recorded run knows no load steps, so recovery counts from the first
//! breached cycle of each breach episode to the first cycle within every
//! target (measured, none breached); a cycle with no data for a target is
//! neither over target nor within.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use lpa_core::config::TargetKind;
use lpa_core::csv_text::{self, CsvError};
use lpa_core::log::{self, DecisionRecord};
use lpa_core::sim::{Recovery, Scorer, Scores, Trace};
use lpa_core::Reason;
use serde::{Deserialize, Serialize};

use crate::cli::ReportArgs;
use crate::plot::{self, clock, target_label, Measure, Outcome, TargetSeries};
use crate::settings::{Failure, Result};
use crate::text::count;

pub fn run(args: ReportArgs) -> Result<ExitCode> {
    super::output::remove_staged_on_signal()?;
    if let Some(p) = &args.plot {
        plot::Format::of(p).map_err(Failure::new)?;
        crate::settings::distinct_files(("--plot", p), ("the log", &args.log))?;
    }
    let recorded = read(&args.log)?;
    let scores = recorded.score();
    if let Some(path) = &args.plot {
        draw(&recorded, &scores, &args.log, path)?;
        say!("lpa report: plot written to {}", path.display());
    }
    let text = if args.json {
        let mut s = serde_json::to_string_pretty(&recorded.json(&args.log, &scores))
            .map_err(|e| Failure::new(e.to_string()))?;
        s.push('\n');
        s
    } else {
        recorded.text(&args.log, &scores)
    };
    crate::settings::emit(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// Draws the run of the decision log (or trace) at `log` to `path`, as
/// `lpa report LOG --plot PATH` does.
/// `load`, when given, names a load measured beside the log and holds its
/// rate for each record (the demo's background load).
pub(crate) fn plot_log(log: &Path, path: &Path, load: Option<(&str, &[f64])>) -> Result<()> {
    let mut recorded = read(log)?;
    if let Some((label, rates)) = load {
        recorded.picture.load_label = Some(label.to_string());
        for (c, r) in recorded.picture.cycles.iter_mut().zip(rates) {
            c.load = Some(*r);
        }
    }
    draw(&recorded, &recorded.score(), log, path)
}

fn draw(recorded: &Recorded, scores: &Scores, log: &Path, path: &Path) -> Result<()> {
    let mut picture = recorded.picture.clone();
    let name = log.file_name().map_or_else(
        || log.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    picture.title = recorded.title(&name);
    picture.subtitle = subtitle(scores, recorded);
    plot::draw(&picture, path).map_err(Failure::new)
}

/// Where a run came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Source {
    DecisionLog,
    SimulationTrace,
}

/// A run read back: its picture (which carries every cycle) and what the
/// scores and the text need besides.
pub(crate) struct Recorded {
    source: Source,
    /// What was scaled (`local`, `deployment/fibonacci`), or the scenario.
    subject: String,
    /// Per cycle: its number as printed, and the time printed with it
    /// (seconds into the run: a log's decision, a trace's `at_secs`).
    numbers: Vec<(u32, f64)>,
    /// A cycle that met every target: measured, none breached.
    within: Vec<bool>,
    first_time: Option<String>,
    picture: plot::Run,
    /// A simulation trace's yardsticks, as `lpa simulate` printed them:
    /// the oracle's replica-cycles and the bound's.
    oracle: Option<u64>,
    bound: Option<u64>,
}

impl Recorded {
    pub(crate) fn score(&self) -> Scores {
        let mut scorer = Scorer::recorded();
        for ((c, (n, _)), within) in self
            .picture
            .cycles
            .iter()
            .zip(&self.numbers)
            .zip(&self.within)
        {
            let breached = c.measures.iter().any(|m| m.breached);
            scorer.add_cycle(*n, c.current, breached, *within, c.decided);
        }
        scorer.finish()
    }

    fn duration(&self) -> f64 {
        let c = &self.picture.cycles;
        c.last().map_or(0.0, |l| l.end) - c.first().map_or(0.0, |f| f.start)
    }

    fn time_of(&self, cycle: u32) -> f64 {
        self.numbers
            .iter()
            .find(|(n, _)| *n == cycle)
            .map_or(0.0, |(_, t)| *t)
    }

    fn title(&self, name: &str) -> String {
        let what = match self.source {
            Source::DecisionLog => format!("decision log {name} ({})", self.subject),
            Source::SimulationTrace if self.subject.is_empty() => {
                format!("simulation trace {name}")
            }
            Source::SimulationTrace => {
                format!("simulation trace {name} (scenario {})", self.subject)
            }
        };
        // The log's target and time are its writer's words: an escape
        // sequence in them reached the terminal, and a control character
        // made the SVG's XML invalid.
        lpa_core::text::escape_controls(&format!(
            "{what}: {} over {}{}",
            count(self.picture.cycles.len(), "cycle"),
            clock(self.duration()),
            self.first_time
                .as_ref()
                .map_or(String::new(), |t| format!(", from {t}"))
        ))
    }

    /// The recoveries, the first `listed` of them one by one, the rest in
    /// a count with the slowest.
    fn recovery_text(&self, s: &Scores, listed: usize) -> String {
        if s.recoveries.is_empty() {
            return "no breach".to_string();
        }
        let one = |r: &Recovery| {
            let at = self.time_of(r.step_at);
            let start = format!("breach at cycle {} ({})", r.step_at, clock(at));
            match r.cycles {
                Some(c) => format!(
                    "{start}: {} ({})",
                    count(c, "cycle"),
                    clock(self.time_of(r.step_at + c) - at)
                ),
                None => format!("{start}: not within every target by the end"),
            }
        };
        let mut parts: Vec<String> = s.recoveries.iter().take(listed).map(one).collect();
        let rest = &s.recoveries[listed.min(s.recoveries.len())..];
        // Unrecovered first, then the most cycles.
        let slowest = rest
            .iter()
            .max_by_key(|r| r.cycles.map_or(u64::MAX, u64::from));
        match slowest {
            None => {}
            Some(r) if parts.is_empty() => parts.push(format!(
                "{}, the slowest {}",
                count(rest.len(), "breach episode"),
                one(r)
            )),
            Some(r) => parts.push(format!("{} more, the slowest {}", rest.len(), one(r))),
        }
        parts.join("; ")
    }

    fn decisions(&self) -> Decisions {
        let mut d = Decisions::default();
        for c in self
            .picture
            .cycles
            .iter()
            .filter(|c| c.decided != c.current)
        {
            d.changes += 1;
            match c.outcome {
                Outcome::Applied => d.applied += 1,
                Outcome::Refused => d.refused += 1,
                Outcome::Failed => d.failed += 1,
                Outcome::DryRun => d.dry_run += 1,
            }
        }
        d
    }

    fn text(&self, log: &Path, s: &Scores) -> String {
        let mut out = format!("report: {}\n", self.title(&log.display().to_string()));
        let versus: Vec<(&str, String)> = [
            self.oracle
                .map(|o| ("vs oracle", super::simulate::vs_oracle(s, o))),
            self.bound
                .map(|b| ("vs bound", super::simulate::vs_bound(s, b))),
        ]
        .into_iter()
        .flatten()
        .collect();
        out.push_str(&crate::text::score_lines(
            s,
            &versus,
            &self.recovery_text(s, 5),
        ));
        if self.source == Source::DecisionLog {
            let d = self.decisions();
            let mut parts = vec![format!("{} applied", d.applied)];
            for (n, what) in [
                (d.refused, "refused (replicas changed outside lpa)"),
                (d.failed, "failed"),
                (d.dry_run, "not applied (dry run)"),
            ] {
                if n > 0 {
                    parts.push(format!("{n} {what}"));
                }
            }
            let _ = writeln!(
                out,
                "  decisions to scale  {}: {}",
                d.changes,
                parts.join(", ")
            );
        }
        out
    }

    fn json<'a>(&'a self, log: &'a Path, scores: &'a Scores) -> Json<'a> {
        Json {
            file: log.display().to_string(),
            source: self.source,
            subject: &self.subject,
            duration_secs: self.duration(),
            scores,
            oracle_replica_cycles: self.oracle,
            bound_replica_cycles: self.bound,
            decisions: (self.source == Source::DecisionLog).then(|| self.decisions()),
        }
    }
}

fn subtitle(s: &Scores, r: &Recorded) -> String {
    format!(
        "{} over target, {} replica-cycles (peak {}), {} ({}); recovery: {}",
        count(s.cycles_over_target, "cycle"),
        s.replica_cycles,
        s.peak_replicas,
        count(s.scale_changes, "scale change"),
        count(s.reversals, "reversal"),
        r.recovery_text(s, if s.recoveries.len() == 1 { 1 } else { 0 })
    )
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "snake_case")]
struct Decisions {
    /// Decisions whose count differed from the current one.
    changes: u32,
    applied: u32,
    refused: u32,
    failed: u32,
    dry_run: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
struct Json<'a> {
    file: String,
    source: Source,
    subject: &'a str,
    duration_secs: f64,
    scores: &'a Scores,
    #[serde(skip_serializing_if = "Option::is_none")]
    oracle_replica_cycles: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bound_replica_cycles: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decisions: Option<Decisions>,
}

/// Reads a decision log or a simulation trace, by content.
fn read(path: &Path) -> Result<Recorded> {
    let name = path.display().to_string();
    let text = crate::settings::read_log_text(path)
        .map_err(|e| Failure::new(format!("{name}: cannot read: {e}")))?;
    if text.trim().is_empty() {
        return Err(Failure::new(format!(
            "{name}: empty: no decision records to report"
        )));
    }
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    // A pretty-printed trace read as itself: through a JSON tree first, it
    // took five times its size (1.3 GB for 265 MB).
    if first.trim() == "{" {
        if let Ok(trace) = serde_json::from_str::<SimTrace>(&text) {
            if !trace.rows.is_empty() && trace.summary.is_none() {
                trace.check(&name, &|i| format!("{name}: rows[{i}]"))?;
                return Ok(trace.recorded());
            }
        }
    }
    // A trace is one JSON document; a decision log is one per line (and a
    // one-line log is a document too, so the shape decides).
    let parsed = serde_json::from_str::<serde_json::Value>(&text);
    // A log's first line is a whole record; a lone `{` opens a trace that
    // `lpa simulate --out` pretty-printed, so its error is the document's.
    if let (Err(e), "{") = (&parsed, first.trim()) {
        return Err(Failure::new(format!(
            "{name}: not a simulation trace: the JSON does not parse: {e}"
        )));
    }
    match (simulate_output(first, parsed.as_ref().ok()), parsed) {
        (Some(SimulateOutput::Trace), Ok(value)) => {
            let trace: SimTrace = serde_json::from_value(value)
                .map_err(|e| Failure::new(format!("{name}: not a simulation trace: {e}")))?;
            if trace.rows.is_empty() {
                return Err(Failure::new(format!("{name}: the trace has no cycles")));
            }
            trace.check(&name, &|i| format!("{name}: rows[{i}]"))?;
            Ok(trace.recorded())
        }
        // Not JSON: its CSV header named it.
        (Some(SimulateOutput::Trace), Err(_)) => Ok(SimTrace::from_csv(&name, &text)?.recorded()),
        (Some(other), _) => Err(not_a_run(&name, other.command())),
        (None, _) => Ok(log_run(&read_log(&name, &text)?)),
    }
}

/// What `lpa simulate` writes besides decision logs, told apart by a CSV's
/// header or a JSON document's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SimulateOutput {
    Trace,
    Replay,
    Sweep,
    Seeds,
}

impl SimulateOutput {
    pub(crate) fn command(self) -> &'static str {
        match self {
            SimulateOutput::Trace => "lpa simulate --scenario ... --out",
            SimulateOutput::Replay => "lpa simulate --replay --out",
            SimulateOutput::Sweep => "lpa simulate --sweep --out",
            SimulateOutput::Seeds => "lpa simulate --seeds N --out",
        }
    }
}

/// Which output of `lpa simulate` a file is, from its first non-blank line
/// and the whole text as one JSON document (`None` when it is not one);
/// `None` for a decision log or anything else.
pub(crate) fn simulate_output(
    first: &str,
    doc: Option<&serde_json::Value>,
) -> Option<SimulateOutput> {
    for (head, what) in [
        ("cycle,at_secs,", SimulateOutput::Trace),
        ("line,at_secs,", SimulateOutput::Replay),
        ("unchanged_runs,", SimulateOutput::Sweep),
    ] {
        if first.starts_with(head) {
            return Some(what);
        }
    }
    let doc = doc?;
    if doc.is_array() {
        return Some(SimulateOutput::Sweep);
    }
    let rows = doc.get("rows").is_some();
    if rows && doc.get("summary").is_some() {
        Some(SimulateOutput::Replay)
    } else if rows {
        Some(SimulateOutput::Trace)
    } else if doc.get("scores").is_some() {
        // Several seeds keep only their summed scores: no cycle to draw.
        Some(SimulateOutput::Seeds)
    } else {
        None
    }
}

fn not_a_run(name: &str, what: &str) -> Failure {
    Failure::new(format!(
        "{name}: this is the output of `{what}`, not a run; report the decision log (lpa run, lpa demo) or a trace of `lpa simulate --scenario ... --out`"
    ))
}

/// A value a run can record: a latency, a rate, a load. Negative, NaN or
/// infinite, it is another program's, or an edit's.
fn measurable(v: f64) -> bool {
    v.is_finite() && v >= 0.0
}

/// What no run of lpa records: a time past the year 9999, or a target's
/// reason with a negative or infinite value. Scored, they read as a run
/// that lasted 584 billion years, or a breach or calm no run measured.
pub(crate) fn unrecorded(r: &DecisionRecord) -> Option<String> {
    // 9999-12-31T23:59:59Z, the last second RFC 3339 can write.
    const LAST_SECOND: u64 = 253_402_300_799;
    if r.at_secs > LAST_SECOND {
        return Some(format!(
            "at_secs: invalid value {} (expected seconds since 1970 up to {LAST_SECOND}, the end of the year 9999)",
            r.at_secs
        ));
    }
    r.reasons
        .iter()
        .enumerate()
        .find_map(|(i, reason)| match reason {
            Reason::Target {
                observed,
                target,
                breached,
                ..
            } => [("observed", observed), ("target", target)]
                .into_iter()
                .find(|(_, v)| !measurable(**v))
                .map(|(field, v)| {
                    format!("reasons[{i}].{field}: invalid value {v} (expected a number >= 0)")
                })
                // Scored as written, a flag that disagrees with its own
                // numbers counted a breach that was none, or hid one.
                .or_else(|| {
                    (*breached != (observed > target)).then(|| {
                        format!(
                            "reasons[{i}].breached: invalid value {breached} (expected {}: observed {observed} against target {target}, as lpa writes it)",
                            observed > target
                        )
                    })
                }),
            _ => None,
        })
}

/// Whether a record that did not parse is the log's last line cut short
/// without its newline: a crash mid-write (the log writes whole lines),
/// left out with [`CUT_SHORT`] by `lpa report` and `--replay` alike.
pub(crate) fn cut_short(e: &serde_json::Error, last: bool, text: &str) -> bool {
    last && !text.ends_with('\n') && e.is_eof()
}

pub(crate) const CUT_SHORT: &str = "the last line is cut short (a crash while writing?); left out";

/// The records of a decision log, with their line numbers. A last line
/// cut short without its newline is a crash mid-write (the log writes
/// whole lines): skipped with a warning. Any other bad line is an error.
fn read_log(name: &str, text: &str) -> Result<Vec<DecisionRecord>> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    let mut records = Vec::with_capacity(lines.len());
    let mut times = Vec::with_capacity(lines.len());
    for (k, &(i, line)) in lines.iter().enumerate() {
        match serde_json::from_str::<DecisionRecord>(line) {
            Ok(r) => {
                // Refused as the metric hook refuses it: scored, a
                // negative latency reads as calm, a huge one as a breach
                // no replica count could meet.
                if let Some(bad) = r.observation.implausible() {
                    return Err(bad.at(&format!("{name}:{}", i + 1), "observation").into());
                }
                if let Some(bad) = unrecorded(&r) {
                    return Err(Failure::new(format!("{name}:{}: {bad}", i + 1)));
                }
                times.push((i + 1, r.at_secs));
                records.push(r);
            }
            Err(e) if cut_short(&e, k + 1 == lines.len(), text) => {
                say!("lpa report: warning: {name}:{}: {CUT_SHORT}", i + 1);
            }
            Err(e) => {
                return Err(Failure::new(format!(
                    "{name}:{}: not a decision record: {e}",
                    i + 1
                )))
            }
        }
    }
    if records.is_empty() {
        return Err(Failure::new(format!(
            "{name}: no decision records to report"
        )));
    }
    if let Some(back) = log::time_back(times) {
        say!(
            "lpa report: warning: {}",
            time_back_warning(name, &back, "read as taking no time")
        );
    }
    Ok(records)
}

/// The one warning for a decision log whose time goes back, however many
/// records do; `what` says what became of them.
pub(crate) fn time_back_warning(name: &str, back: &log::TimeBack, what: &str) -> String {
    let all = match back.lines {
        1 => "the only such line,".to_string(),
        n => format!("{n} such lines in all, each"),
    };
    format!(
        "{name}:{}: at_secs {} is before {} of line {} (a clock set back, or logs joined out of order); {all} {what}",
        back.line, back.at_secs, back.latest_secs, back.latest_line
    )
}

/// What became of a logged decision, as the plot marks it.
fn outcome(r: &DecisionRecord) -> Outcome {
    match r.outcome {
        log::Outcome::Applied => Outcome::Applied,
        log::Outcome::DryRun => Outcome::DryRun,
        log::Outcome::OutsideChange { .. } => Outcome::Refused,
        log::Outcome::ScaleFailed { .. } => Outcome::Failed,
    }
}

/// A decision log as a run: cycle n is the log's n-th record; it spans
/// from the previous decision to its own (the first, one typical interval).
fn log_run(records: &[DecisionRecord]) -> Recorded {
    let mut keys: Vec<(String, TargetKind)> = Vec::new();
    for r in records {
        for reason in &r.reasons {
            if let Reason::Target { key, kind, .. } | Reason::NoData { key, kind } = reason {
                if !keys.iter().any(|(k, t)| k == key && t == kind) {
                    keys.push((key.clone(), *kind));
                }
            }
        }
    }
    let mut gaps: Vec<u64> = records
        .windows(2)
        .map(|w| w[1].at_secs.saturating_sub(w[0].at_secs))
        .filter(|g| *g > 0)
        .collect();
    gaps.sort_unstable();
    let typical = gaps.get(gaps.len() / 2).copied().unwrap_or(1) as f64;
    let origin = records[0].at_secs as f64 - typical;
    let mut subjects: Vec<&str> = Vec::new();
    let mut cycles = Vec::with_capacity(records.len());
    let mut numbers = Vec::with_capacity(records.len());
    let mut within = Vec::with_capacity(records.len());
    let mut start = 0.0;
    for (i, r) in records.iter().enumerate() {
        if !subjects.contains(&r.target.as_str()) {
            subjects.push(&r.target);
        }
        // A time before the latest above it (read_log warned) is held
        // there: cycles stay in the log's order, and that one takes no time.
        let end = (r.at_secs as f64 - origin).max(start);
        let measures: Vec<Measure> = keys
            .iter()
            .map(|(key, kind)| {
                r.reasons
                    .iter()
                    .find_map(|reason| match reason {
                        Reason::Target {
                            key: k,
                            kind: t,
                            observed,
                            target,
                            breached,
                        } if k == key && t == kind => Some(Measure {
                            observed: Some(*observed),
                            target: Some(*target),
                            breached: *breached,
                        }),
                        _ => None,
                    })
                    .unwrap_or_default()
            })
            .collect();
        within.push(
            !measures.is_empty() && measures.iter().all(|m| m.observed.is_some() && !m.breached),
        );
        numbers.push((i as u32 + 1, end));
        cycles.push(plot::Cycle {
            start,
            end,
            current: r.current,
            ready: None,
            decided: r.decided,
            outcome: outcome(r),
            measures,
            load: None,
        });
        start = end;
    }
    Recorded {
        source: Source::DecisionLog,
        subject: subjects.join(", "),
        numbers,
        within,
        first_time: records[0].time.clone(),
        oracle: None,
        bound: None,
        picture: plot::Run {
            targets: keys
                .iter()
                .map(|(key, kind)| TargetSeries {
                    label: target_label(key, &kind.to_string()),
                    unit: kind.unit().to_string(),
                })
                .collect(),
            cycles,
            ..plot::Run::default()
        },
    }
}

/// A simulation trace as `lpa simulate --out` writes it (JSON), or its CSV
/// read back into the same shape; only what a report needs.
#[derive(Debug, Deserialize)]
pub(crate) struct SimTrace {
    #[serde(default)]
    scenario: String,
    interval_secs: u64,
    targets: Vec<SimTarget>,
    rows: Vec<SimRow>,
    #[serde(default)]
    oracle_replica_cycles: Option<u64>,
    /// The run's own bound, keyed by what ran (`policy`, or a yardstick).
    #[serde(default)]
    bound_replica_cycles: BTreeMap<String, Option<u64>>,
    /// A replay's rows come with its summary: no trace.
    #[serde(default)]
    summary: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct SimTarget {
    key: String,
    kind: String,
    target: f64,
    unit: String,
}

#[derive(Debug, Deserialize)]
struct SimRow {
    cycle: u32,
    at_secs: u64,
    load: f64,
    ready: u32,
    replicas: u32,
    observed: Vec<Option<f64>>,
    decided: u32,
}

/// The columns of a CSV trace before its targets', and after.
pub(crate) const TRACE_HEAD: [&str; 6] =
    ["cycle", "at_secs", "load", "ready", "replicas", "backlog"];
pub(crate) const TRACE_TAIL: [&str; 4] = ["failures", "breached", "decided", "action"];

impl SimTrace {
    /// The trace of a simulation that just ran, for its plot.
    pub(crate) fn of(trace: &Trace) -> SimTrace {
        SimTrace {
            scenario: trace.scenario.clone(),
            interval_secs: trace.interval_secs,
            targets: trace
                .targets
                .iter()
                .map(|t| SimTarget {
                    key: t.key.clone(),
                    kind: t.kind.clone(),
                    target: t.target,
                    unit: t.unit.clone(),
                })
                .collect(),
            rows: trace
                .rows
                .iter()
                .map(|r| SimRow {
                    cycle: r.cycle,
                    at_secs: r.at_secs,
                    load: r.load,
                    ready: r.ready,
                    replicas: r.replicas,
                    observed: r.observed.clone(),
                    decided: r.decided,
                })
                .collect(),
            // For its plot only, which draws no yardstick.
            oracle_replica_cycles: None,
            bound_replica_cycles: BTreeMap::new(),
            summary: None,
        }
    }

    /// `cycle,at_secs,load,ready,replicas,backlog,<one column a target>,failures,breached,decided,action`
    /// ([`TRACE_HEAD`], the targets, [`TRACE_TAIL`]),
    /// a target's column named `KEY KIND <= VALUEUNIT`.
    fn from_csv(name: &str, text: &str) -> Result<SimTrace> {
        let bad = |line: u64, what: String| Failure::new(format!("{name}:{line}: {what}"));
        let mut records = csv_text::read(text)
            .map_err(|e| match e {
                CsvError::OpenQuote { line, .. } => bad(line, e.to_string()),
                CsvError::Malformed { .. } => Failure::new(format!("{name}: {e}")),
            })?
            .into_iter();
        let head = records
            .next()
            .ok_or_else(|| Failure::new(format!("{name}: empty")))?
            .fields;
        let n = head.len().checked_sub(10).ok_or_else(|| {
            bad(
                1,
                format!("{} columns, a trace has at least 10", head.len()),
            )
        })?;
        let targets = head[6..6 + n]
            .iter()
            .map(|h| {
                parse_target_head(h).ok_or_else(|| {
                    bad(
                        1,
                        format!("column {h:?} is not a target (KEY KIND <= VALUE)"),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // The other columns by name, as simulate writes them: a column
        // renamed or moved is another file's, whose values would be read
        // as these.
        let named = TRACE_HEAD
            .iter()
            .zip(0..)
            .chain(TRACE_TAIL.iter().zip(6 + n..));
        for (want, c) in named {
            if head[c] != *want {
                return Err(bad(
                    1,
                    format!(
                        "column {} is {:?}, where a trace has {want:?}",
                        c + 1,
                        head[c]
                    ),
                ));
            }
        }
        let mut rows: Vec<SimRow> = Vec::new();
        let mut row_lines = Vec::new();
        for record in records {
            let (line, f) = (record.line, record.fields);
            if f.len() != head.len() {
                return Err(bad(
                    line,
                    format!("{}, the header has {}", count(f.len(), "field"), head.len()),
                ));
            }
            let field = |c: usize| -> Result<f64> {
                f[c].parse::<f64>()
                    .ok()
                    .filter(|v| measurable(*v))
                    .ok_or_else(|| {
                        bad(line, format!("{} {:?} is not a number >= 0", head[c], f[c]))
                    })
            };
            let whole = |c: usize| -> Result<u64> {
                f[c].parse::<u64>().map_err(|_| {
                    bad(
                        line,
                        format!("{} {:?} is not a whole number", head[c], f[c]),
                    )
                })
            };
            let count = |c: usize| -> Result<u32> {
                u32::try_from(whole(c)?).map_err(|_| {
                    bad(
                        line,
                        format!("{} {:?} is more than 4294967295", head[c], f[c]),
                    )
                })
            };
            if !["true", "false"].contains(&f[6 + n + 1].as_str()) {
                return Err(bad(
                    line,
                    format!("breached {:?} is neither true nor false", f[6 + n + 1]),
                ));
            }
            let observed = (6..6 + n)
                .map(|c| {
                    if f[c].is_empty() {
                        Ok(None)
                    } else {
                        field(c).map(Some)
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            // Not scored, but a row with a bad one is not simulate's.
            field(5)?;
            whole(6 + n)?;
            let row = SimRow {
                cycle: count(0)?,
                at_secs: whole(1)?,
                load: field(2)?,
                ready: count(3)?,
                replicas: count(4)?,
                observed,
                decided: count(6 + n + 2)?,
            };
            rows.push(row);
            row_lines.push(line);
        }
        if rows.is_empty() {
            return Err(Failure::new(format!("{name}: the trace has no cycles")));
        }
        let interval_secs = rows
            .windows(2)
            .map(|w| w[1].at_secs.saturating_sub(w[0].at_secs))
            .find(|g| *g > 0)
            .unwrap_or(1);
        let trace = SimTrace {
            // The CSV does not name its scenario, nor hold the yardsticks.
            scenario: String::new(),
            interval_secs,
            targets,
            rows,
            oracle_replica_cycles: None,
            bound_replica_cycles: BTreeMap::new(),
            summary: None,
        };
        trace.check(name, &|i| format!("{name}:{}", row_lines[i]))?;
        Ok(trace)
    }

    /// What simulate writes, from either file (`at` names row i): a
    /// trace edited by hand, or another program's, was read and scored.
    fn check(&self, name: &str, at: &dyn Fn(usize) -> String) -> Result<()> {
        let fail = |what: String| Err(Failure::new(what));
        // A scenario's interval: whole seconds from 1 to a day.
        if !(1..=86_400).contains(&self.interval_secs) {
            return fail(format!(
                "{name}: interval_secs {}: a scenario's cycle lasts from 1 s to a day",
                self.interval_secs
            ));
        }
        if self.targets.is_empty() {
            return fail(format!(
                "{name}: targets: none, where a policy has one or more"
            ));
        }
        for (i, t) in self.targets.iter().enumerate() {
            let kind = TargetKind::parse(&t.kind);
            let most = if kind == Some(TargetKind::ErrorRate) {
                1.0
            } else {
                f64::MAX
            };
            if kind.is_none() || !(t.target.is_finite() && (0.0..=most).contains(&t.target)) {
                return fail(format!(
                    "{name}: targets[{i}]: {:?} <= {} is no target (expected mean, median, min, max or pNN and a value >= 0, or errorRate and a fraction from 0 to 1)",
                    t.kind, t.target
                ));
            }
        }
        for (i, r) in self.rows.iter().enumerate() {
            if r.observed.len() != self.targets.len() {
                return fail(format!(
                    "{}: {} observed, for {}",
                    at(i),
                    count(r.observed.len(), "value"),
                    count(self.targets.len(), "target")
                ));
            }
            if let Some(v) = r.observed.iter().flatten().find(|v| !measurable(**v)) {
                return fail(format!("{}: observed {v} is not a number >= 0", at(i)));
            }
            if !measurable(r.load) {
                return fail(format!("{}: load {} is not a number >= 0", at(i), r.load));
            }
            // The model's ready replicas are some of those it runs.
            if r.ready > r.replicas {
                return fail(format!(
                    "{}: ready {} above replicas {}: a replica is ready only once it runs",
                    at(i),
                    r.ready,
                    r.replicas
                ));
            }
            // One row a cycle, in order, as simulate writes them.
            if let Some(last) = i.checked_sub(1).map(|j| &self.rows[j]) {
                if Some(r.cycle) != last.cycle.checked_add(1) {
                    return fail(format!(
                        "{}: cycle {} after cycle {}: a trace has one row a cycle, in order",
                        at(i),
                        r.cycle,
                        last.cycle
                    ));
                }
            }
            // Cycle c starts c intervals in, as simulate counts time.
            let start = u64::from(r.cycle).saturating_mul(self.interval_secs);
            if r.at_secs != start {
                return fail(format!(
                    "{}: at_secs {}, where cycle {} of {} s starts at {start}",
                    at(i),
                    r.at_secs,
                    r.cycle,
                    self.interval_secs
                ));
            }
        }
        Ok(())
    }

    /// As a run: cycle c spans `[c, c + 1)` intervals; every decision applied.
    pub(crate) fn recorded(&self) -> Recorded {
        let interval = self.interval_secs as f64;
        let mut cycles = Vec::with_capacity(self.rows.len());
        let mut within = Vec::with_capacity(self.rows.len());
        for r in &self.rows {
            // With nothing ready, the load test's requests were refused:
            // over target, as the simulation scored it.
            let down = r.ready == 0;
            let measures: Vec<Measure> = r
                .observed
                .iter()
                .zip(&self.targets)
                .map(|(v, t)| Measure {
                    observed: *v,
                    target: Some(t.target),
                    breached: down || v.is_some_and(|v| v > t.target),
                })
                .collect();
            within.push(measures.iter().all(|m| m.observed.is_some() && !m.breached));
            cycles.push(plot::Cycle {
                start: r.at_secs as f64,
                end: r.at_secs as f64 + interval,
                current: r.replicas,
                ready: Some(r.ready),
                decided: r.decided,
                outcome: Outcome::Applied,
                measures,
                load: Some(r.load),
            });
        }
        Recorded {
            source: Source::SimulationTrace,
            subject: self.scenario.clone(),
            numbers: self
                .rows
                .iter()
                .map(|r| (r.cycle, r.at_secs as f64))
                .collect(),
            within,
            first_time: None,
            oracle: self.oracle_replica_cycles,
            bound: match self.bound_replica_cycles.len() {
                1 => self.bound_replica_cycles.values().next().copied().flatten(),
                _ => self.bound_replica_cycles.get("policy").copied().flatten(),
            },
            picture: plot::Run {
                targets: self
                    .targets
                    .iter()
                    .map(|t| TargetSeries {
                        label: target_label(&t.key, &t.kind),
                        unit: t.unit.clone(),
                    })
                    .collect(),
                cycles,
                ..plot::Run::default()
            },
        }
    }

    pub(crate) fn picture(&self) -> plot::Run {
        self.recorded().picture
    }
}

/// `GET_/fibonacci?n=10 mean <= 7ms` as simulate's CSV names a target column.
fn parse_target_head(h: &str) -> Option<SimTarget> {
    let (left, value) = h.rsplit_once(" <= ")?;
    let (key, kind) = left.rsplit_once(' ')?;
    let (number, unit) = match value.strip_suffix("ms") {
        Some(n) => (n, "ms"),
        None => (value, ""),
    };
    Some(SimTarget {
        key: key.to_string(),
        kind: kind.to_string(),
        target: number.parse().ok()?,
        unit: unit.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_and_target_heads() {
        let f = &csv_text::read(r#"1,"a, ""b""",,x"#).unwrap()[0].fields;
        assert_eq!(f, &["1", r#"a, "b""#, "", "x"]);
        let t = parse_target_head("GET_/fibonacci?n=10 p99.9 <= 7.5ms").unwrap();
        assert_eq!(
            (t.key.as_str(), t.kind.as_str(), t.target, t.unit.as_str()),
            ("GET_/fibonacci?n=10", "p99.9", 7.5, "ms")
        );
        let t = parse_target_head("GET_/a errorRate <= 0.01").unwrap();
        assert_eq!((t.target, t.unit.as_str()), (0.01, ""));
        assert!(parse_target_head("failures").is_none());
    }
}
