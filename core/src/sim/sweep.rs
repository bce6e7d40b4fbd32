//! Sweeps: a grid of policy parameters over one scenario, and the Pareto
//! front of cost (replica-cycles) against cycles over target.
//!
//! A spec names the parameters to vary; the others keep the evaluation
//! config's values. Each is a value, a list, or a range:
//!
//! ```yaml
//! unchangedRuns: {from: 1, to: 8}      # step 1 by default
//! decayReplicas: [1, 2]
//! scaleUp: [step, proportional]
//! stepReplicas: [1, 2]                  # for step
//! tolerance: [0, 0.1, 0.2]              # for proportional
//! target: {from: 5, to: 9, step: 1}     # the first target's value
//! margin: [0.05, 0.1, 0.2]              # model.margin, with a model
//! learnRuns: [2, 3, 5]                   # model.learnRuns, with a model
//! queueShare: [0.3, 0.5, 0.75]           # model.queueShare, with a model
//! downscaleStabilization: [0, 30s, 5m]    # durations, or {from, to, step} in seconds
//! ```
//!
//! A point's label and `--out` row name `margin` whenever the config has a
//! model, and `learnRuns`, `queueShare` and `downscaleStabilization` only
//! when they are swept: most sweeps leave them, and a label is read on one
//! line.
//!
//! Every point decides by its own parameters and is judged by the
//! evaluation config's targets (the caller's [`super::score_judged`]), so
//! a point that scales at a looser target is over the one held.
//!
//! This module builds the grid and picks the front; running the points (in
//! parallel) is the caller's, through [`super::score`].

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use super::Scores;
use crate::config::{Policy, PolicyError, ScaleUp};
use crate::duration::format_duration;
use crate::parse::{
    duration_of, fields_of, from_yaml, invalid, invalid_shown, At, Format, ParseError, Raw,
    UnknownKeys,
};
/// More points than this is a mistake, not a sweep.
pub const MAX_POINTS: usize = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    Step,
    Proportional,
}

/// The parsed spec: the values of each swept parameter; `None` keeps the
/// evaluation config's.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SweepSpec {
    pub unchanged_runs: Option<Vec<u32>>,
    pub decay_replicas: Option<Vec<u32>>,
    pub scale_up: Option<Vec<Mode>>,
    pub step_replicas: Option<Vec<u32>>,
    pub tolerance: Option<Vec<f64>>,
    pub target: Option<Vec<f64>>,
    pub margin: Option<Vec<f64>>,
    pub learn_runs: Option<Vec<u32>>,
    pub queue_share: Option<Vec<f64>>,
    pub downscale_stabilization: Option<Vec<Duration>>,
}

/// One point of the grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Point {
    pub unchanged_runs: u32,
    pub decay_replicas: u32,
    pub scale_up: ScaleUp,
    pub target: f64,
    /// `model.margin`, when the evaluation config has a model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub margin: Option<f64>,
    /// `model.learnRuns`, when swept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learn_runs: Option<u32>,
    /// `model.queueShare`, when swept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_share: Option<f64>,
    /// `downscaleStabilization`, when swept.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::config::ser_opt_duration"
    )]
    pub downscale_stabilization: Option<Duration>,
}

impl Point {
    /// The base policy with this point's parameters.
    pub fn policy(&self, base: &Policy) -> Result<Policy, PolicyError> {
        let mut p = base.clone();
        p.set_decay(crate::config::Decay {
            unchanged_runs: self.unchanged_runs,
            replicas: self.decay_replicas,
            ..base.decay()
        })?;
        p.set_scale_up(self.scale_up)?;
        p.set_target_value(0, self.target)?;
        if let Some(model) = base.model() {
            p.set_model(Some(crate::config::ModelConfig {
                margin: self.margin.unwrap_or(model.margin),
                learn_runs: self.learn_runs.unwrap_or(model.learn_runs),
                queue_share: self.queue_share.unwrap_or(model.queue_share),
            }))?;
        }
        if let Some(w) = self.downscale_stabilization {
            p.set_downscale_stabilization(w);
        }
        Ok(p)
    }

    /// `unchangedRuns=3 decay=1 step+1 target=7`.
    pub fn label(&self) -> String {
        let up = match self.scale_up {
            ScaleUp::Step { replicas } => format!("step+{replicas}"),
            ScaleUp::Proportional { tolerance, .. } => format!("proportional tol={tolerance}"),
        };
        let mut model = String::new();
        if let Some(m) = self.margin {
            model += &format!(" margin={m}");
        }
        if let Some(n) = self.learn_runs {
            model += &format!(" learnRuns={n}");
        }
        if let Some(s) = self.queue_share {
            model += &format!(" queueShare={s}");
        }
        if let Some(w) = self.downscale_stabilization {
            model += &format!(" downscaleStabilization={}", format_duration(w));
        }
        format!(
            "unchangedRuns={} decay={} {up} target={}{model}",
            self.unchanged_runs, self.decay_replicas, self.target
        )
    }
}

/// A point and how it scored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub point: Point,
    pub scores: Scores,
}

/// Parses a sweep spec. An empty list or range is an error naming the field.
pub fn parse_sweep(file: &str, text: &str) -> Result<SweepSpec, ParseError> {
    let known = [("", fields_of::<RawSweep>())];
    let raw = from_yaml::<RawSweep>(file, text, UnknownKeys::Deny, &known)?.value;
    let at = At {
        file,
        format: Format::Yaml,
    };
    let counts =
        |v: Option<Values>, field: &str, min: u32| -> Result<Option<Vec<u32>>, ParseError> {
            v.map(|v| {
                v.0.iter()
                    .map(|x| {
                        x.value()
                            .as_u64()
                            .and_then(|n| u32::try_from(n).ok())
                            .filter(|&n| n >= min)
                            .ok_or_else(|| {
                                let expected = format!("whole numbers from {min} to {}", u32::MAX);
                                at.invalid(field, x, &expected)
                            })
                    })
                    .collect()
            })
            .transpose()
        };
    let numbers_in = |v: Option<Values>,
                      field: &str,
                      ok: fn(f64) -> bool,
                      expected: &str|
     -> Result<Option<Vec<f64>>, ParseError> {
        v.map(|v| {
            v.0.iter()
                .map(|x| {
                    x.value()
                        .as_f64()
                        .filter(|f| f.is_finite() && ok(*f))
                        .ok_or_else(|| at.invalid(field, x, expected))
                })
                .collect()
        })
        .transpose()
    };
    let numbers = |v, field| numbers_in(v, field, |f| f >= 0.0, "numbers >= 0");
    let modes = raw
        .scale_up
        .map(|v| {
            v.0.iter()
                .map(|m| match m.as_str() {
                    Some("step") => Ok(Mode::Step),
                    Some("proportional") => Ok(Mode::Proportional),
                    _ => Err(at.invalid("scaleUp", m, "step or proportional")),
                })
                .collect()
        })
        .transpose()?;
    let spec = SweepSpec {
        unchanged_runs: counts(raw.unchanged_runs, "unchangedRuns", 0)?,
        decay_replicas: counts(raw.decay_replicas, "decayReplicas", 0)?,
        scale_up: modes,
        step_replicas: counts(raw.step_replicas, "stepReplicas", 1)?,
        // As the config's scaleUp.tolerance, named here: the point's policy
        // would fail on it, blaming the evaluation config.
        tolerance: numbers_in(
            raw.tolerance,
            "tolerance",
            |f| (0.0..1.0).contains(&f),
            "fractions from 0 up to (not including) 1",
        )?,
        target: numbers(raw.target, "target")?,
        margin: numbers_in(
            raw.margin,
            "margin",
            |f| (0.0..1.0).contains(&f),
            "fractions from 0 up to (not including) 1",
        )?,
        learn_runs: counts(raw.learn_runs, "learnRuns", 1)?,
        // As the config's model.queueShare: nothing queueing has no curve.
        queue_share: numbers_in(
            raw.queue_share,
            "queueShare",
            |f| f > 0.0 && f <= 1.0,
            "shares above 0 and up to 1",
        )?,
        downscale_stabilization: raw
            .downscale_stabilization
            .map(|v| {
                v.0.iter()
                    .map(|x| {
                        duration_of(x.value()).ok_or_else(|| {
                            at.invalid(
                                "downscaleStabilization",
                                x,
                                "durations: seconds, or 30s, 5m",
                            )
                        })
                    })
                    .collect()
            })
            .transpose()?,
    };
    // Nothing swept is the config's one point: a file left empty, or
    // every line commented out, ran as a sweep and said nothing of it.
    if spec == SweepSpec::default() {
        return Err(at.missing(
            "a parameter to sweep",
            &format!("one or more of {}", known[0].1.join(", ")),
        ));
    }
    Ok(spec)
}

#[derive(Deserialize)]
#[serde(
    rename_all = "camelCase",
    expecting = "a mapping of parameters to sweep"
)]
struct RawSweep {
    // `default` so that `tolerance:` (null) reaches `Values`, which names
    // it as an empty range, instead of reading as "not swept".
    #[serde(default, deserialize_with = "present")]
    unchanged_runs: Option<Values>,
    #[serde(default, deserialize_with = "present")]
    decay_replicas: Option<Values>,
    #[serde(default, deserialize_with = "present")]
    scale_up: Option<Values>,
    #[serde(default, deserialize_with = "present")]
    step_replicas: Option<Values>,
    #[serde(default, deserialize_with = "present")]
    tolerance: Option<Values>,
    #[serde(default, deserialize_with = "present")]
    target: Option<Values>,
    #[serde(default, deserialize_with = "present")]
    margin: Option<Values>,
    #[serde(default, deserialize_with = "present")]
    learn_runs: Option<Values>,
    #[serde(default, deserialize_with = "present")]
    queue_share: Option<Values>,
    #[serde(default, deserialize_with = "present")]
    downscale_stabilization: Option<Values>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Values>, D::Error> {
    Values::deserialize(d).map(Some)
}

/// A swept parameter's values: a scalar, a non-empty list, or a range
/// `{from, to, step}` (step 1 by default), expanded.
struct Values(Vec<Raw>);

const EMPTY: &str = "at least one value: the range is empty";

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde_yaml::Value;
        let raw = Raw::deserialize(d)?;
        match raw.value() {
            Value::Sequence(items) if items.is_empty() => Err(invalid(EMPTY)),
            Value::Sequence(items) => Ok(Values(items.iter().cloned().map(Raw::from).collect())),
            Value::Mapping(m) => range(m).map(Values),
            Value::Null => Err(invalid(EMPTY)),
            other => Ok(Values(vec![Raw::from(other.clone())])),
        }
    }
}

fn range<E: serde::de::Error>(m: &serde_yaml::Mapping) -> Result<Vec<Raw>, E> {
    use serde_yaml::Value;
    for key in m.keys() {
        if !matches!(key.as_str(), Some("from" | "to" | "step")) {
            return Err(invalid("a value, a list, or {from, to, step}"));
        }
    }
    let num = |k: &str, d: Option<f64>| -> Result<f64, E> {
        match m.get(k) {
            Some(x) => x.as_f64().filter(|f| f.is_finite()).ok_or_else(|| {
                invalid_shown(&Raw::from(x.clone()).shown(), &format!("{k}: a number"))
            }),
            None => d.ok_or_else(|| invalid(&format!("{k} in {{from, to, step}}"))),
        }
    };
    let (from, to, step) = (
        num("from", None)?,
        num("to", None)?,
        num("step", Some(1.0))?,
    );
    if step <= 0.0 {
        return Err(invalid_shown(&step.to_string(), "a step > 0"));
    }
    if to < from {
        return Err(invalid(EMPTY));
    }
    // Counted in whole steps so 0.1 increments do not drift past `to`.
    // Checked as a float: `as usize` saturates a huge count, and the + 1
    // after it would wrap to an empty range. Never NaN: to >= from and the
    // step is finite and > 0; an infinite span is too many.
    let steps = ((to - from) / step + 1e-9).floor();
    if steps >= MAX_POINTS as f64 {
        return Err(invalid(&format!("at most {MAX_POINTS} values")));
    }
    let n = steps as usize + 1;
    Ok((0..n)
        .map(|i| {
            let x = from + step * i as f64;
            let x = (x * 1e9).round() / 1e9;
            Raw::from(if x.fract() == 0.0 && x.abs() < 1e15 {
                Value::Number((x as i64).into())
            } else {
                Value::Number(x.into())
            })
        })
        .collect())
}

/// Why a grid cannot be run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SweepError {
    #[error("the sweep has {total} points, more than {MAX_POINTS}: narrow a range")]
    TooManyPoints { total: usize },
    #[error("{0}: the evaluation config has no model: section, so no {0} to vary")]
    NoModel(&'static str),
    /// A scale-up parameter of a mode no point scales up by.
    #[error("{field}: {why}, so no {field} to vary")]
    NoMode { field: &'static str, why: String },
    #[error("a point of the grid is not a valid policy: {0}")]
    Policy(#[from] PolicyError),
}

impl SweepSpec {
    /// The grid: every combination, tolerance only for proportional and
    /// step sizes only for step modes.
    pub fn points(&self, base: &Policy) -> Result<Vec<Point>, SweepError> {
        let one = |v: &Option<Vec<u32>>, d: u32| v.clone().unwrap_or_else(|| vec![d]);
        let runs = one(&self.unchanged_runs, base.decay.unchanged_runs);
        let decays = one(&self.decay_replicas, base.decay.replicas);
        let (base_mode, base_step, base_tol, max_change) = match base.scale_up {
            ScaleUp::Step { replicas } => (Mode::Step, replicas, 0.1, None),
            ScaleUp::Proportional {
                tolerance,
                max_change,
            } => (Mode::Proportional, 1, tolerance, max_change),
        };
        let modes = self.scale_up.clone().unwrap_or_else(|| vec![base_mode]);
        // A swept value no point uses would be dropped without a word.
        for (field, swept, mode, name) in [
            (
                "tolerance",
                self.tolerance.is_some(),
                Mode::Proportional,
                "proportional",
            ),
            (
                "stepReplicas",
                self.step_replicas.is_some(),
                Mode::Step,
                "step",
            ),
        ] {
            if swept && !modes.contains(&mode) {
                let why = if self.scale_up.is_some() {
                    format!("the sweep's scaleUp has no {name}")
                } else {
                    format!("the evaluation config's scaleUp is not {name} and the sweep has no scaleUp")
                };
                return Err(SweepError::NoMode { field, why });
            }
        }
        let mut ups = Vec::new();
        for m in modes {
            match m {
                Mode::Step => ups.extend(
                    one(&self.step_replicas, base_step)
                        .into_iter()
                        .map(|replicas| ScaleUp::Step { replicas }),
                ),
                Mode::Proportional => ups.extend(
                    self.tolerance
                        .clone()
                        .unwrap_or_else(|| vec![base_tol])
                        .into_iter()
                        .map(|tolerance| ScaleUp::Proportional {
                            tolerance,
                            max_change,
                        }),
                ),
            }
        }
        let base_target = base.targets.first().map_or(0.0, |t| t.target);
        let targets = self.target.clone().unwrap_or_else(|| vec![base_target]);
        let model = base.model();
        let no_model = [
            ("margin", self.margin.is_some()),
            ("learnRuns", self.learn_runs.is_some()),
            ("queueShare", self.queue_share.is_some()),
        ];
        if let (Some((field, _)), None) = (no_model.iter().find(|(_, swept)| *swept), model) {
            return Err(SweepError::NoModel(field));
        }
        let margins: Vec<Option<f64>> = match &self.margin {
            Some(m) => m.iter().copied().map(Some).collect(),
            None => vec![model.map(|m| m.margin)],
        };
        // Not swept: None, the config's value, left out of the label.
        let learn = swept(&self.learn_runs);
        let shares = swept(&self.queue_share);
        let windows = swept(&self.downscale_stabilization);
        // Saturating: five lists of a million values each overflow a usize.
        let total = [
            runs.len(),
            decays.len(),
            ups.len(),
            targets.len(),
            margins.len(),
            learn.len(),
            shares.len(),
            windows.len(),
        ]
        .into_iter()
        .fold(1usize, usize::saturating_mul);
        if total > MAX_POINTS {
            return Err(SweepError::TooManyPoints { total });
        }
        if total == 0 {
            // A spec built in code with an empty list: no combination.
            return Ok(Vec::new());
        }
        // Every combination, the first parameter varying slowest.
        let first = Point {
            unchanged_runs: runs[0],
            decay_replicas: decays[0],
            scale_up: ups[0],
            target: targets[0],
            margin: margins[0],
            learn_runs: learn[0],
            queue_share: shares[0],
            downscale_stabilization: windows[0],
        };
        let mut points = vec![first];
        points = across(points, &runs, |p, v| p.unchanged_runs = v);
        points = across(points, &decays, |p, v| p.decay_replicas = v);
        points = across(points, &ups, |p, v| p.scale_up = v);
        points = across(points, &targets, |p, v| p.target = v);
        points = across(points, &margins, |p, v| p.margin = v);
        points = across(points, &learn, |p, v| p.learn_runs = v);
        points = across(points, &shares, |p, v| p.queue_share = v);
        points = across(points, &windows, |p, v| p.downscale_stabilization = v);
        Ok(points)
    }
}

/// Each point once per value of one more parameter.
fn across<T: Copy>(points: Vec<Point>, values: &[T], set: impl Fn(&mut Point, T)) -> Vec<Point> {
    let mut out = Vec::with_capacity(points.len() * values.len());
    for p in points {
        for &v in values {
            let mut q = p.clone();
            set(&mut q, v);
            out.push(q);
        }
    }
    out
}

/// A swept model knob's values, or one `None`: the config's, unnamed.
fn swept<T: Copy>(values: &Option<Vec<T>>) -> Vec<Option<T>> {
    match values {
        Some(v) => v.iter().copied().map(Some).collect(),
        None => vec![None],
    }
}

/// The Pareto front of (replica-cycles, cycles over target), both lower is
/// better: the outcomes no other outcome beats on one without losing on the
/// other. Best first: fewest cycles over target, then cheapest; equal
/// scores keep the first point of the grid.
pub fn pareto_front(outcomes: &[Outcome]) -> Vec<Outcome> {
    let mut sorted: Vec<&Outcome> = outcomes.iter().collect();
    sorted.sort_by_key(|o| (o.scores.cycles_over_target, o.scores.replica_cycles));
    let mut front: Vec<Outcome> = Vec::new();
    let mut cheapest = u64::MAX;
    for o in sorted {
        // Sorted by over-target first, so a point is on the front iff it is
        // strictly cheaper than every point before it.
        if o.scores.replica_cycles < cheapest {
            cheapest = o.scores.replica_cycles;
            front.push(o.clone());
        }
    }
    front
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_policy;

    fn base() -> Policy {
        parse_policy("seed", "targets: [{endpoint: /a, type: mean, target: 7}]").unwrap()
    }

    #[test]
    fn grid_from_lists_and_ranges() {
        let spec = parse_sweep(
            "s.yaml",
            "unchangedRuns: {from: 1, to: 3}\nscaleUp: [step, proportional]\ntolerance: {from: 0, to: 0.2, step: 0.1}\ntarget: 7\n",
        )
        .unwrap();
        assert_eq!(spec.unchanged_runs, Some(vec![1, 2, 3]));
        assert_eq!(spec.tolerance, Some(vec![0.0, 0.1, 0.2]));
        let points = spec.points(&base()).unwrap();
        // 3 runs × (1 step + 3 tolerances) × 1 decay × 1 target.
        assert_eq!(points.len(), 12);
        assert_eq!(
            points[1].label(),
            "unchangedRuns=1 decay=1 proportional tol=0 target=7"
        );
        let p = points[1].policy(&base()).unwrap();
        assert_eq!(p.decay().unchanged_runs, 1);
    }

    #[test]
    fn a_margin_is_swept_only_under_a_model() {
        let spec = parse_sweep("s.yaml", "margin: {from: 0.05, to: 0.15, step: 0.05}\n").unwrap();
        assert_eq!(spec.margin, Some(vec![0.05, 0.1, 0.15]));
        assert_eq!(spec.points(&base()), Err(SweepError::NoModel("margin")));
        let model = parse_policy(
            "m",
            "targets: [{endpoint: /a, type: mean, target: 7}]\nmodel: {margin: 0.1, learnRuns: 5}\n",
        )
        .unwrap();
        let points = spec.points(&model).unwrap();
        assert_eq!(points.len(), 3);
        assert_eq!(
            points[2].label(),
            "unchangedRuns=3 decay=1 step+1 target=7 margin=0.15"
        );
        let m = points[2].policy(&model).unwrap().model().unwrap();
        // The margin changes; the rest of the model stays the config's.
        assert_eq!((m.margin, m.learn_runs), (0.15, 5));
        // Not swept: the config's margin, named in the label.
        let unswept = parse_sweep("s.yaml", "unchangedRuns: 2\n").unwrap();
        assert_eq!(unswept.points(&model).unwrap()[0].margin, Some(0.1));
        assert_eq!(unswept.points(&base()).unwrap()[0].margin, None);
        assert!(!unswept.points(&base()).unwrap()[0]
            .label()
            .contains("margin"));
    }

    #[test]
    fn learn_runs_and_queue_share_are_swept_only_under_a_model_and_named_only_when_swept() {
        let spec = parse_sweep("s.yaml", "learnRuns: [2, 5]\nqueueShare: [0.25, 1]\n").unwrap();
        assert_eq!(spec.points(&base()), Err(SweepError::NoModel("learnRuns")));
        let model = parse_policy(
            "m",
            "targets: [{endpoint: /a, type: mean, target: 7}]\nmodel: {margin: 0.2, learnRuns: 4, queueShare: 0.6}\n",
        )
        .unwrap();
        let points = spec.points(&model).unwrap();
        assert_eq!(points.len(), 4);
        assert_eq!(
            points[1].label(),
            "unchangedRuns=3 decay=1 step+1 target=7 margin=0.2 learnRuns=2 queueShare=1"
        );
        let m = points[1].policy(&model).unwrap().model().unwrap();
        assert_eq!((m.margin, m.learn_runs, m.queue_share), (0.2, 2, 1.0));
        // One swept, the other the config's, unnamed.
        let one = parse_sweep("s.yaml", "queueShare: 0.3\n").unwrap();
        let p = &one.points(&model).unwrap()[0];
        assert_eq!(
            p.label(),
            "unchangedRuns=3 decay=1 step+1 target=7 margin=0.2 queueShare=0.3"
        );
        let m = p.policy(&model).unwrap().model().unwrap();
        assert_eq!((m.learn_runs, m.queue_share), (4, 0.3));

        let e = |t: &str| parse_sweep("s.yaml", t).unwrap_err().to_string();
        assert_eq!(
            e("queueShare: [0.5, 0]\n"),
            "s.yaml: queueShare: invalid value 0 (expected shares above 0 and up to 1)"
        );
        assert!(e("queueShare: 1.5\n").contains("queueShare: invalid value 1.5"));
        assert_eq!(
            e("learnRuns: {from: 0, to: 2}\n"),
            "s.yaml: learnRuns: invalid value 0 (expected whole numbers from 1 to 4294967295)"
        );
    }

    #[test]
    fn a_downscale_stabilization_window_is_swept_as_durations_or_seconds() {
        let spec = parse_sweep("s.yaml", "downscaleStabilization: [0, 30s, 5m, 90]\n").unwrap();
        let secs = |v: &[Duration]| v.iter().map(|d| d.as_secs()).collect::<Vec<_>>();
        assert_eq!(
            secs(spec.downscale_stabilization.as_deref().unwrap()),
            [0, 30, 300, 90]
        );
        let range = parse_sweep(
            "s.yaml",
            "downscaleStabilization: {from: 0, to: 120, step: 60}\n",
        )
        .unwrap();
        assert_eq!(
            secs(range.downscale_stabilization.as_deref().unwrap()),
            [0, 60, 120]
        );
        let points = spec.points(&base()).unwrap();
        assert_eq!(points.len(), 4);
        assert_eq!(
            points[2].label(),
            "unchangedRuns=3 decay=1 step+1 target=7 downscaleStabilization=300s"
        );
        let p = points[2].policy(&base()).unwrap();
        assert_eq!(p.downscale_stabilization(), Duration::from_secs(300));
        assert_eq!(
            serde_json::to_value(&points[1]).unwrap()["downscaleStabilization"],
            "30s"
        );
        // Not swept: the config's window, unnamed.
        let config = parse_policy(
            "c",
            "targets: [{endpoint: /a, type: mean, target: 7}]\ndownscaleStabilization: 2m\n",
        )
        .unwrap();
        let unswept = parse_sweep("s.yaml", "unchangedRuns: 2\n").unwrap();
        let q = &unswept.points(&config).unwrap()[0];
        assert!(!q.label().contains("downscale"), "{}", q.label());
        assert_eq!(
            q.policy(&config).unwrap().downscale_stabilization(),
            Duration::from_secs(120)
        );
        for bad in ["[30s, soon]", "-5", "true"] {
            let e = parse_sweep("s.yaml", &format!("downscaleStabilization: {bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("s.yaml: downscaleStabilization: invalid value")
                    && e.ends_with("(expected durations: seconds, or 30s, 5m)"),
                "{e}"
            );
        }
    }

    #[test]
    fn empty_ranges_name_the_field() {
        let e = |t: &str| parse_sweep("s.yaml", t).unwrap_err().to_string();
        assert_eq!(
            e("unchangedRuns: []\n"),
            "s.yaml: unchangedRuns: invalid value [] (expected at least one value: the range is empty)"
        );
        assert_eq!(
            e("target: {from: 9, to: 5}\n"),
            "s.yaml: target: invalid value from: 9 to: 5 (expected at least one value: the range is empty)"
        );
        assert!(e("tolerance:\n").contains("tolerance: invalid value null"));
        assert!(e("scaleUp: [fast]\n").contains("scaleUp: invalid value \"fast\""));
        assert!(e("decay: [1]\n").contains("decay: invalid value (unknown field)"));
    }

    #[test]
    fn pareto_front_drops_dominated_points() {
        let point = base();
        let mk = |over: u32, cost: u64| Outcome {
            point: Point {
                unchanged_runs: over,
                decay_replicas: 1,
                scale_up: point.scale_up,
                target: 7.0,
                margin: None,
                learn_runs: None,
                queue_share: None,
                downscale_stabilization: None,
            },
            scores: Scores {
                cycles_over_target: over,
                replica_cycles: cost,
                ..Scores::default()
            },
        };
        let all = vec![
            mk(5, 100),
            mk(1, 300),
            mk(3, 200),
            mk(4, 250),
            mk(0, 500),
            mk(1, 300),
        ];
        let front: Vec<(u32, u64)> = pareto_front(&all)
            .iter()
            .map(|o| (o.scores.cycles_over_target, o.scores.replica_cycles))
            .collect();
        assert_eq!(front, vec![(0, 500), (1, 300), (3, 200), (5, 100)]);
    }

    #[test]
    fn a_range_too_long_to_count_is_too_many_values_not_none() {
        for range in [
            "unchangedRuns: {from: 1, to: 1e300}",
            "target: {from: 0, to: 1e19, step: 0.5}",
            "tolerance: {from: 0, to: 0.5, step: 1e-300}",
            "target: {from: -1e308, to: 1e308}",
            "target: {from: 0, to: 1000000}",
        ] {
            let e = parse_sweep("s.yaml", range).err().map(|e| e.to_string());
            assert!(
                e.as_ref()
                    .is_some_and(|e| e.contains("(expected at most 1000000 values)")),
                "{range}: {e:?}"
            );
        }
        let most = parse_sweep("s.yaml", "target: {from: 1, to: 1000000}").unwrap();
        assert_eq!(most.target.map(|t| t.len()), Some(MAX_POINTS));
    }

    #[test]
    fn a_tolerance_is_checked_here_and_must_have_a_proportional_point() {
        let e = |t: &str| parse_sweep("s.yaml", t).unwrap_err().to_string();
        for bad in ["1", "1e308", "-0.1"] {
            assert_eq!(
                e(&format!("scaleUp: [proportional]\ntolerance: [{bad}]\n")),
                format!("s.yaml: tolerance: invalid value {bad} (expected fractions from 0 up to (not including) 1)")
            );
        }
        let unused = |t: &str| parse_sweep("s.yaml", t).unwrap().points(&base());
        assert_eq!(
            unused("tolerance: [0.1, 0.2, 0.3]\n").unwrap_err().to_string(),
            "tolerance: the evaluation config's scaleUp is not proportional and the sweep has no scaleUp, so no tolerance to vary"
        );
        assert_eq!(
            unused("scaleUp: [step]\ntolerance: [0.1]\n")
                .unwrap_err()
                .to_string(),
            "tolerance: the sweep's scaleUp has no proportional, so no tolerance to vary"
        );
        assert_eq!(
            unused("scaleUp: proportional\nstepReplicas: [1, 2]\n")
                .unwrap_err()
                .to_string(),
            "stepReplicas: the sweep's scaleUp has no step, so no stepReplicas to vary"
        );
        let proportional = parse_policy(
            "p",
            "targets: [{endpoint: /a, type: mean, target: 7}]\nscaleUp: {mode: proportional}\n",
        )
        .unwrap();
        let spec = parse_sweep("s.yaml", "tolerance: [0.1, 0.2, 0.3]\n").unwrap();
        assert_eq!(spec.points(&proportional).unwrap().len(), 3);
    }
}
