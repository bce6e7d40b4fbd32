//! Scenario files: YAML text to a [`Scenario`], with errors that name the
//! file, the field and the bad value. Unknown fields are errors here: a
//! typo in a simulation would silently simulate something else.
//!
//! ```yaml
//! name: step              # optional, defaults to the file name
//! interval: 15s           # between cycles (default 15s)
//! cycles: 120             # default 100, or the CSV's length
//! seed: 1                 # default 1
//! replicas: 2             # at cycle 0, all serving (default 1)
//! service:
//!   capacity: 500         # requests/s one replica serves (required)
//!   baseLatency: 2        # ms outside the queue (default 1)
//!   startupCycles: 1      # cycles before a new replica serves (default 1)
//!   samples: 200          # latencies measured per cycle (default 200)
//!   timeout: 1000         # ms, above baseLatency; slower requests fail (optional)
//!   changes:              # from cycle `at` on (optional): a release, a
//!     - {at: 40, capacity: 700, baseLatency: 1.5}   # dependency that sped up
//! load: {type: step, from: 400, to: 1200, at: 20}
//! # or {type: arrivals, file: trace.csv, timeColumn: TIMESTAMP, scale: 95}:
//! # the trace's arrivals counted per interval from its first timestamp,
//! # times `scale` (default 1); cycles default to its whole intervals.
//! ```

use serde::Deserialize;

use super::load::{
    arrival_rates, parse_rates_csv, ArrivalsError, BadRate, LoadProfile, TIMESTAMP_FORMATS,
};
use super::model::{Service, ServiceChange};
use super::Scenario;
use crate::log::num;
use crate::parse::{
    fields_of, from_yaml, At, Count, Format, ParseError, Raw, Spelling, Text, UnknownKeys,
};

/// Beyond these a trace or a cycle's samples would not fit in memory: a
/// typo, not a simulation.
pub const MAX_CYCLES: u32 = 10_000_000;
pub const MAX_SAMPLES: u32 = 1_000_000;

/// The most replicas a load may need at the service's least capacity.
/// Kubernetes supports at most 150 000 pods in a cluster (its documented
/// limits for large clusters), so a load beyond this is a typo (a rate
/// in requests per hour, an exponent) that no autoscaler could serve; and
/// the bound (`bound::Bound::of`) weighs every replica count up to about
/// twice the need, each cycle, which at a million replicas' worth is
/// seconds a cycle and minutes a scenario.
pub const MAX_NEED: u32 = 150_000;

/// The highest rate a scenario's load may offer: [`MAX_NEED`] replicas of
/// the least capacity the service ever has.
#[derive(Clone, Copy)]
struct Ceiling {
    capacity: f64,
}

impl Ceiling {
    fn rate(self) -> f64 {
        f64::from(MAX_NEED) * self.capacity
    }

    /// What a rate must be, for an error message.
    fn expected(self) -> String {
        format!(
            "a rate at most {} requests/s: {MAX_NEED} replicas of {} requests/s, more than a Kubernetes cluster runs",
            shown(self.rate()),
            shown(self.capacity)
        )
    }
}

/// A rate for a message: as the log writes it, but in exponent form where
/// that would run to hundreds of digits or round to 0.
fn shown(x: f64) -> String {
    if x == 0.0 || (1e-3..1e15).contains(&x.abs()) {
        num(x)
    } else {
        format!("{x:e}")
    }
}

/// Where a scenario's file references are read from: returns the text of a
/// file the scenario names (a load CSV), relative to the scenario.
pub type ReadFile<'a> = dyn FnMut(&str) -> Result<String, std::io::Error> + 'a;

/// Parses a scenario. `file` names it in errors; `read` returns the text of
/// a file the scenario refers to.
pub fn parse_scenario(
    file: &str,
    text: &str,
    read: &mut ReadFile<'_>,
) -> Result<Scenario, ParseError> {
    let known = [
        ("", fields_of::<RawScenario>()),
        ("service", fields_of::<RawService>()),
        ("service.changes[]", fields_of::<RawChange>()),
        ("load", fields_of::<RawProfile>()),
    ];
    let raw = from_yaml::<RawScenario>(file, text, UnknownKeys::Deny, &known)?.value;
    let at = At {
        file,
        format: Format::Yaml,
    };
    raw.check(at, read)
}

#[derive(Deserialize)]
#[serde(expecting = "a mapping of fields")]
struct RawScenario {
    name: Option<Text>,
    interval: Option<Raw>,
    cycles: Option<Raw>,
    seed: Option<Raw>,
    replicas: Option<Count>,
    service: Option<RawService>,
    load: Option<RawProfile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a mapping of fields")]
struct RawService {
    capacity: Option<Raw>,
    base_latency: Option<Raw>,
    startup_cycles: Option<Count>,
    samples: Option<Count>,
    timeout: Option<Raw>,
    changes: Option<Vec<RawChange>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a mapping of fields")]
struct RawChange {
    at: Option<Raw>,
    capacity: Option<Raw>,
    base_latency: Option<Raw>,
}

/// Every field any load type has; which ones a type takes is checked
/// after, so a field of another type is named as unknown for this one.
#[derive(Deserialize)]
#[serde(expecting = "a mapping of fields")]
struct RawProfile {
    #[serde(rename = "type")]
    kind: Option<Raw>,
    rate: Option<Raw>,
    from: Option<Raw>,
    to: Option<Raw>,
    at: Option<Raw>,
    start: Option<Raw>,
    end: Option<Raw>,
    base: Option<Raw>,
    peak: Option<Raw>,
    length: Option<Raw>,
    mean: Option<Raw>,
    amplitude: Option<Raw>,
    period: Option<Raw>,
    file: Option<Raw>,
    #[serde(rename = "timeColumn")]
    time_column: Option<Raw>,
    scale: Option<Raw>,
}

const RATE: &str = "a rate in requests/s, >= 0";

impl RawScenario {
    fn check(self, at: At, read: &mut ReadFile<'_>) -> Result<Scenario, ParseError> {
        // The name heads every table and plot: a line break or an escape
        // sequence in it would reach the terminal as is.
        if let Some(t) = self
            .name
            .as_ref()
            .filter(|t| t.value.chars().any(char::is_control))
        {
            return Err(at.invalid("name", &t.raw, "a name without control characters"));
        }
        let name = self.name.map_or_else(|| default_name(at.file), |t| t.value);
        let interval_secs = match self.interval {
            None => 15,
            Some(raw) => whole_seconds(&raw).ok_or_else(|| {
                at.invalid(
                    "interval",
                    &raw,
                    "whole seconds from 1 to a day: 15, 15s, 1m",
                )
            })?,
        };
        let (service, changes) = self
            .service
            .ok_or_else(|| at.missing("service", "a mapping with at least capacity"))?
            .check(at)?;
        let ceiling = Ceiling {
            capacity: changes
                .iter()
                .filter_map(|c| c.capacity)
                .fold(service.capacity, f64::min),
        };
        let load = self
            .load
            .ok_or_else(|| at.missing("load", &format!("a load profile: type {TYPES}")))?
            .check(at, interval_secs, ceiling, read)?;
        let cycles = match self.cycles {
            Some(raw) => whole_u32(&raw)
                .filter(|n| (1..=MAX_CYCLES).contains(n))
                .ok_or_else(|| {
                    at.invalid(
                        "cycles",
                        &raw,
                        &format!("a whole number from 1 to {MAX_CYCLES}"),
                    )
                })?,
            None => load.recorded_cycles().unwrap_or(100),
        };
        // Past the recording the load is unknown: it held the last
        // interval's rate, in silence (a trace's busiest, for hours).
        if let Some(n) = load.recorded_cycles().filter(|&n| cycles > n) {
            return Err(at.invalid(
                "cycles",
                cycles.to_string(),
                &format!("at most the recording's {n} intervals (load.file)"),
            ));
        }
        let seed = match self.seed {
            None => 1,
            Some(raw) => raw
                .value()
                .as_u64()
                .ok_or_else(|| at.invalid("seed", &raw, "a whole number >= 0"))?,
        };
        let scenario = Scenario {
            name,
            interval_secs,
            cycles,
            seed,
            // More than a cluster runs is a typo, as for the load: it would
            // run, and score billions of replica-cycles.
            replicas: self
                .replicas
                .map_or(Ok(1), |c| bounded(at, &c, "replicas", 0, MAX_NEED))?,
            service,
            changes,
            load,
        };
        // A change, step, spike or ramp past the last cycle would silently
        // never happen: the scenario would run without what it was
        // written for.
        if let Some((field, at_cycle)) = scenario.events_past(cycles).into_iter().next() {
            return Err(at.invalid(
                &field,
                at_cycle.to_string(),
                &format!("a cycle the scenario runs, < cycles ({cycles})"),
            ));
        }
        Ok(scenario)
    }
}

fn whole_seconds(raw: &Raw) -> Option<u64> {
    let text = match raw.value() {
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::String(s) => s.clone(),
        _ => return None,
    };
    crate::duration::parse_duration(&text)
        .filter(|d| (1..=86_400).contains(&d.as_secs()) && d.subsec_nanos() == 0)
        .map(|d| d.as_secs())
}

/// A whole number that fits a cycle count, or `None`.
fn whole_u32(raw: &Raw) -> Option<u32> {
    raw.value().as_u64().and_then(|n| u32::try_from(n).ok())
}

fn default_name(file: &str) -> String {
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    base.strip_suffix(".yaml")
        .or_else(|| base.strip_suffix(".yml"))
        .unwrap_or(base)
        .to_string()
}

fn bounded(at: At, c: &Count, path: &str, min: u32, max: u32) -> Result<u32, ParseError> {
    if (min..=max).contains(&c.value) && c.spelling == Spelling::Whole {
        Ok(c.value)
    } else {
        Err(at.invalid(path, &c.raw, &format!("a whole number from {min} to {max}")))
    }
}

/// A finite number at least `min` (strictly above it when `strict`).
fn number(
    at: At,
    raw: &Raw,
    path: &str,
    min: f64,
    strict: bool,
    what: &str,
) -> Result<f64, ParseError> {
    match raw.value().as_f64() {
        Some(x) if x.is_finite() && if strict { x > min } else { x >= min } => Ok(x),
        _ => Err(at.invalid(path, raw, what)),
    }
}

const CAPACITY: &str = "requests/s one replica serves, > 0";
const BASE_LATENCY: &str = "milliseconds >= 0";

impl RawService {
    fn check(self, at: At) -> Result<(Service, Vec<ServiceChange>), ParseError> {
        let mut s = Service::default();
        let cap = self
            .capacity
            .ok_or_else(|| at.missing("service.capacity", CAPACITY))?;
        s.capacity = number(at, &cap, "service.capacity", 0.0, true, CAPACITY)?;
        if let Some(v) = self.base_latency {
            s.base_latency_ms = number(at, &v, "service.baseLatency", 0.0, false, BASE_LATENCY)?;
        }
        if let Some(c) = self.startup_cycles {
            s.startup_cycles = bounded(at, &c, "service.startupCycles", 0, MAX_CYCLES)?;
        }
        if let Some(c) = self.samples {
            s.samples = bounded(at, &c, "service.samples", 1, MAX_SAMPLES)?;
        }
        if let Some(v) = self.timeout {
            // At or below the latency of an idle replica every request
            // fails from the first cycle: a timeout written in seconds.
            let base = s.base_latency_ms;
            let what = format!(
                "milliseconds above service.baseLatency, {}: at or below it every request times out",
                crate::log::num(base)
            );
            s.timeout_ms = Some(number(at, &v, "service.timeout", base, true, &what)?);
        }
        let mut changes: Vec<ServiceChange> = Vec::new();
        for (i, c) in self.changes.unwrap_or_default().into_iter().enumerate() {
            let path = |f: &str| format!("service.changes[{i}].{f}");
            let after = changes.last().map_or(1, |c| c.at.saturating_add(1));
            let expected = format!("a cycle number >= {after}, after the change before");
            let raw = c.at.ok_or_else(|| at.missing(&path("at"), &expected))?;
            let cycle = whole_u32(&raw)
                .filter(|&n| n >= after)
                .ok_or_else(|| at.invalid(&path("at"), &raw, &expected))?;
            if c.capacity.is_none() && c.base_latency.is_none() {
                return Err(at.missing(
                    &format!("service.changes[{i}]"),
                    "capacity or baseLatency, or both",
                ));
            }
            let capacity = c
                .capacity
                .map(|v| number(at, &v, &path("capacity"), 0.0, true, CAPACITY))
                .transpose()?;
            let base_latency_ms = c
                .base_latency
                .as_ref()
                .map(|v| number(at, v, &path("baseLatency"), 0.0, false, BASE_LATENCY))
                .transpose()?;
            // As for service.baseLatency: at or above the timeout every
            // request fails from this cycle on.
            if let (Some(base), Some(timeout), Some(raw)) =
                (base_latency_ms, s.timeout_ms, &c.base_latency)
            {
                if base >= timeout {
                    let what = format!(
                        "milliseconds >= 0 below service.timeout, {}: at or above it every request times out",
                        crate::log::num(timeout)
                    );
                    return Err(at.invalid(&path("baseLatency"), raw, &what));
                }
            }
            changes.push(ServiceChange {
                at: cycle,
                capacity,
                base_latency_ms,
            });
        }
        Ok((s, changes))
    }
}

/// A file the scenario names, as the user can open it: the name is
/// relative to the scenario's directory, which is not the user's. Joined,
/// not normalized: `a/../b` is `b` only if `a` is no symbolic link.
fn shown_path(scenario: &str, path: &str) -> String {
    let dir = std::path::Path::new(scenario)
        .parent()
        .unwrap_or(std::path::Path::new(""));
    dir.join(path).display().to_string()
}

const TYPES: &str = "constant, step, ramp, spike, sine, csv or arrivals";

impl RawProfile {
    /// The fields each type takes, `type` included.
    fn allowed(kind: &str) -> &'static [&'static str] {
        match kind {
            "constant" => &["type", "rate"],
            "step" => &["type", "from", "to", "at"],
            "ramp" => &["type", "from", "to", "start", "end"],
            "spike" => &["type", "base", "peak", "at", "length"],
            "sine" => &["type", "mean", "amplitude", "period"],
            "csv" => &["type", "file"],
            "arrivals" => &["type", "file", "timeColumn", "scale"],
            _ => &[],
        }
    }

    fn given(&self) -> Vec<(&'static str, &Raw)> {
        [
            ("rate", &self.rate),
            ("from", &self.from),
            ("to", &self.to),
            ("at", &self.at),
            ("start", &self.start),
            ("end", &self.end),
            ("base", &self.base),
            ("peak", &self.peak),
            ("length", &self.length),
            ("mean", &self.mean),
            ("amplitude", &self.amplitude),
            ("period", &self.period),
            ("file", &self.file),
            ("timeColumn", &self.time_column),
            ("scale", &self.scale),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect()
    }

    /// The text of the file `load.file` names, with the name as errors
    /// show it ([`shown_path`]) and the field's value.
    fn file_text<'r>(
        &'r self,
        at: At,
        what: &str,
        read: &mut ReadFile<'_>,
    ) -> Result<(String, &'r Raw, String), ParseError> {
        let fv = self
            .file
            .as_ref()
            .ok_or_else(|| at.missing("load.file", what))?;
        let path = fv
            .as_str()
            .ok_or_else(|| at.invalid("load.file", fv, "a file name"))?;
        let text = read(path)
            .map_err(|e| at.invalid("load.file", fv, &format!("a readable CSV ({e})")))?;
        Ok((shown_path(at.file, path), fv, text))
    }

    /// A trace's fault, named by its file and line where it has one.
    fn arrivals_error(
        &self,
        at: At,
        path: &str,
        fv: &Raw,
        interval_secs: u64,
        e: ArrivalsError,
    ) -> ParseError {
        let in_file =
            |line: u64, column: String, value: String, expected: String| ParseError::Invalid {
                file: format!("{path}:{line}"),
                path: crate::text::escape_controls(&column),
                value: format!("{value:?}"),
                expected,
            };
        match e {
            ArrivalsError::Empty => at.invalid(
                "load.file",
                fv,
                &format!("a CSV of request arrivals with a header line: {path} is empty"),
            ),
            ArrivalsError::NoColumn { header, .. } => at.invalid(
                "load.timeColumn",
                self.time_column.as_ref().unwrap_or(fv),
                &format!(
                    "a column of {path}: {}",
                    header
                        .iter()
                        .map(|h| crate::text::escape_controls(h))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            ArrivalsError::Csv { line, message } => ParseError::Syntax {
                file: format!("{path}:{line}"),
                format: crate::parse::Format::Csv,
                message,
            },
            ArrivalsError::Timestamp {
                line,
                column,
                value,
            } => in_file(line, column, value, TIMESTAMP_FORMATS.to_string()),
            ArrivalsError::OutOfOrder {
                line,
                column,
                value,
                previous,
            } => in_file(
                line,
                column,
                value,
                format!(
                    "a time at or after the previous arrival's {}: timestamps out of order",
                    crate::text::escape_controls(&previous)
                ),
            ),
            e @ ArrivalsError::TooShort { .. } => {
                let expected =
                    format!("arrivals spanning at least one interval ({interval_secs}s), not {e}");
                at.invalid("load.file", fv, &expected)
            }
            e @ ArrivalsError::TooLong { .. } => {
                let expected = format!(
                    "arrivals spanning at most {MAX_CYCLES} intervals ({interval_secs}s each), the most cycles a scenario runs, not {e}"
                );
                at.invalid("load.file", fv, &expected)
            }
        }
    }

    fn check(
        self,
        at: At,
        interval_secs: u64,
        ceiling: Ceiling,
        read: &mut ReadFile<'_>,
    ) -> Result<LoadProfile, ParseError> {
        let kind_raw = self
            .kind
            .as_ref()
            .ok_or_else(|| at.missing("load.type", TYPES))?;
        let kind = kind_raw.as_str().unwrap_or("");
        let allowed = RawProfile::allowed(kind);
        if allowed.is_empty() {
            return Err(at.invalid("load.type", kind_raw, TYPES));
        }
        if let Some((field, _)) = self.given().into_iter().find(|(k, _)| !allowed.contains(k)) {
            return Err(ParseError::Unknown {
                file: at.file.to_string(),
                path: format!("load.{field}"),
                known: allowed.iter().map(|s| s.to_string()).collect(),
                suggestion: None,
            });
        }
        let rate = |v: &Option<Raw>, field: &str| -> Result<f64, ParseError> {
            let path = format!("load.{field}");
            let raw = v.as_ref().ok_or_else(|| at.missing(&path, RATE))?;
            let x = number(at, raw, &path, 0.0, false, RATE)?;
            if x > ceiling.rate() {
                return Err(at.invalid(&path, raw, &ceiling.expected()));
            }
            Ok(x)
        };
        let cycle = |v: &Option<Raw>, field: &str, min: u32| -> Result<u32, ParseError> {
            let path = format!("load.{field}");
            let expected = format!("a cycle number >= {min}");
            let raw = v.as_ref().ok_or_else(|| at.missing(&path, &expected))?;
            whole_u32(raw).filter(|&n| n >= min).ok_or_else(|| {
                let expected = format!("a whole number from {min} to {}", u32::MAX);
                at.invalid(&path, raw, &expected)
            })
        };
        Ok(match kind {
            "constant" => LoadProfile::Constant {
                rate: rate(&self.rate, "rate")?,
            },
            "step" => LoadProfile::Step {
                from: rate(&self.from, "from")?,
                to: rate(&self.to, "to")?,
                at: cycle(&self.at, "at", 0)?,
            },
            "ramp" => {
                let start = cycle(&self.start, "start", 0)?;
                let end = cycle(&self.end, "end", start.saturating_add(1))?;
                LoadProfile::Ramp {
                    from: rate(&self.from, "from")?,
                    to: rate(&self.to, "to")?,
                    start,
                    end,
                }
            }
            "spike" => LoadProfile::Spike {
                base: rate(&self.base, "base")?,
                peak: rate(&self.peak, "peak")?,
                at: cycle(&self.at, "at", 0)?,
                length: cycle(&self.length, "length", 1)?,
            },
            "sine" => {
                let mean = rate(&self.mean, "mean")?;
                const AMPLITUDE: &str = "requests/s, 0 to mean";
                let av = self
                    .amplitude
                    .as_ref()
                    .ok_or_else(|| at.missing("load.amplitude", AMPLITUDE))?;
                let amplitude = number(at, av, "load.amplitude", 0.0, false, AMPLITUDE)?;
                if amplitude > mean {
                    return Err(at.invalid(
                        "load.amplitude",
                        av,
                        &format!("at most the mean ({mean}): the rate would go negative"),
                    ));
                }
                LoadProfile::Sine {
                    mean,
                    amplitude,
                    period: cycle(&self.period, "period", 2)?,
                }
            }
            "csv" => {
                let (path, fv, text) =
                    self.file_text(at, "a CSV of requests/s, one cycle a line", read)?;
                let path = path.as_str();
                let rates = parse_rates_csv(&text, ceiling.rate()).map_err(|e| {
                    let (line, path_in, value, expected) = match e {
                        // As an arrivals trace's unreadable row.
                        BadRate::Csv { line, message } => {
                            return ParseError::Syntax {
                                file: format!("{path}:{line}"),
                                format: crate::parse::Format::Csv,
                                message,
                            }
                        }
                        BadRate::Value { line, value } => {
                            (line, "requests/s", value, "a rate >= 0".to_string())
                        }
                        BadRate::TooHigh { line, value } => {
                            (line, "requests/s", value, ceiling.expected())
                        }
                        BadRate::Cycle {
                            line,
                            value,
                            expected,
                        } => (
                            line,
                            "cycle",
                            value,
                            format!("{expected}: a line a cycle, in order, none left out"),
                        ),
                    };
                    ParseError::Invalid {
                        file: format!("{path}:{line}"),
                        path: path_in.to_string(),
                        value,
                        expected,
                    }
                })?;
                if rates.is_empty() {
                    return Err(at.invalid("load.file", fv, "a CSV with at least one rate"));
                }
                if rates.len() > MAX_CYCLES as usize {
                    let expected = format!(
                        "a CSV of at most {MAX_CYCLES} rates, the most cycles a scenario runs, not {}",
                        rates.len()
                    );
                    return Err(at.invalid("load.file", fv, &expected));
                }
                LoadProfile::Csv {
                    rates: rates.into(),
                }
            }
            _ => {
                let column = match &self.time_column {
                    None => None,
                    Some(v) => Some(
                        v.as_str()
                            .ok_or_else(|| at.invalid("load.timeColumn", v, "a column name"))?,
                    ),
                };
                let scale = match &self.scale {
                    None => 1.0,
                    Some(v) => number(at, v, "load.scale", 0.0, true, "a factor > 0")?,
                };
                let (path, fv, text) =
                    self.file_text(at, "a CSV of request arrivals, one a line", read)?;
                let path = path.as_str();
                let rates = arrival_rates(&text, column, interval_secs, scale)
                    .map_err(|e| self.arrivals_error(at, path, fv, interval_secs, e))?;
                if let Some((cycle, r)) =
                    rates.iter().enumerate().find(|(_, &r)| r > ceiling.rate())
                {
                    // The scale is what brought it there, when there is one.
                    let (field, value) = match &self.scale {
                        Some(v) => ("load.scale", v),
                        None => ("load.file", fv),
                    };
                    let expected = format!(
                        "{}; {path}'s interval {cycle} comes to {} requests/s",
                        ceiling.expected(),
                        shown(*r)
                    );
                    return Err(at.invalid(field, value, &expected));
                }
                LoadProfile::Csv {
                    rates: rates.into(),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ParseError> {
        parse_scenario("s.yaml", text, &mut |p| {
            if p == "rates.csv" {
                Ok("rps\n10\n20\n-1\n".into())
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such file",
                ))
            }
        })
    }

    #[test]
    fn service_changes_parse_in_order_and_name_a_bad_one() {
        let s = parse("service: {capacity: 500, changes: [{at: 40, capacity: 800}, {at: 80, baseLatency: 3}]}\nload: {type: constant, rate: 1}\n").unwrap();
        assert_eq!(
            s.changes,
            [
                ServiceChange {
                    at: 40,
                    capacity: Some(800.0),
                    base_latency_ms: None
                },
                ServiceChange {
                    at: 80,
                    capacity: None,
                    base_latency_ms: Some(3.0)
                },
            ]
        );
        let e = |changes: &str| {
            parse(&format!("service: {{capacity: 500, changes: {changes}}}\nload: {{type: constant, rate: 1}}\n"))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            e("[{at: 40, capacity: 800}, {at: 40, capacity: 700}]"),
            "s.yaml: service.changes[1].at: invalid value 40 (expected a cycle number >= 41, after the change before)"
        );
        assert_eq!(
            e("[{at: 0, capacity: 800}]"),
            "s.yaml: service.changes[0].at: invalid value 0 (expected a cycle number >= 1, after the change before)"
        );
        assert_eq!(
            e("[{at: 5, capacity: -1}]"),
            "s.yaml: service.changes[0].capacity: invalid value -1 (expected requests/s one replica serves, > 0)"
        );
        assert!(
            e("[{at: 5}]").contains("service.changes[0]"),
            "{}",
            e("[{at: 5}]")
        );
        assert!(
            e("[{at: 5, capacty: 2}]").contains("service.changes[0].capacty"),
            "{}",
            e("[{at: 5, capacty: 2}]")
        );
        assert!(e("[{capacity: 2}]").contains("service.changes[0].at"));
        assert_eq!(
            e("[{at: 100, capacity: 800}]"),
            "s.yaml: service.changes[0].at: invalid value 100 (expected a cycle the scenario runs, < cycles (100))"
        );
    }

    #[test]
    fn a_load_event_past_the_last_cycle_is_an_error() {
        let e = |load: &str| {
            parse(&format!(
                "cycles: 100\nservice: {{capacity: 500}}\nload: {load}\n"
            ))
            .unwrap_err()
            .to_string()
        };
        assert_eq!(
            e("{type: step, from: 1, to: 2, at: 500}"),
            "s.yaml: load.at: invalid value 500 (expected a cycle the scenario runs, < cycles (100))"
        );
        assert!(e("{type: spike, base: 1, peak: 2, at: 100, length: 3}")
            .contains("load.at: invalid value 100"));
        assert!(e("{type: ramp, from: 1, to: 2, start: 120, end: 200}")
            .contains("load.start: invalid value 120"));
        // A ramp that ends past the last cycle is a ramp cut short, no error.
        assert!(parse("cycles: 100\nservice: {capacity: 500}\nload: {type: ramp, from: 1, to: 2, start: 50, end: 200}\n").is_ok());
    }

    #[test]
    fn defaults_and_shapes() {
        let s = parse("service: {capacity: 100}\nload: {type: constant, rate: 50}\n").unwrap();
        assert_eq!(
            (
                s.name.as_str(),
                s.interval_secs,
                s.cycles,
                s.seed,
                s.replicas
            ),
            ("s", 15, 100, 1, 1)
        );
        let s = parse("interval: 1m\nservice: {capacity: 100}\nload: {type: ramp, from: 0, to: 9, start: 1, end: 5}\n").unwrap();
        assert_eq!(s.interval_secs, 60);
        assert_eq!(
            s.load,
            LoadProfile::Ramp {
                from: 0.0,
                to: 9.0,
                start: 1,
                end: 5
            }
        );
    }

    #[test]
    fn errors_name_field_and_value() {
        let e = |t: &str| parse(t).unwrap_err().to_string();
        assert_eq!(
            e("service: {capacity: 100}\nload: {type: step, from: -5, to: 10, at: 3}\n"),
            "s.yaml: load.from: invalid value -5 (expected a rate in requests/s, >= 0)"
        );
        assert_eq!(
            e("service: {capacity: 0}\nload: {type: constant, rate: 1}\n"),
            "s.yaml: service.capacity: invalid value 0 (expected requests/s one replica serves, > 0)"
        );
        assert_eq!(
            e("service: {capacity: 1}\nload: {type: sine, mean: 10, amplitude: 20, period: 5}\n"),
            "s.yaml: load.amplitude: invalid value 20 (expected at most the mean (10): the rate would go negative)"
        );
        assert_eq!(
            e("cycles: 99999999999\nservice: {capacity: 1}\nload: {type: constant, rate: 1}\n"),
            "s.yaml: cycles: invalid value 99999999999 (expected a whole number from 1 to 10000000)"
        );
        assert!(e("service: {capacity: 1}\nload: {type: wave}\n")
            .contains("load.type: invalid value \"wave\""));
        assert_eq!(
            e("name: \"a\\nb\\e[31m\"\nservice: {capacity: 1}\nload: {type: constant, rate: 1}\n"),
            "s.yaml: name: invalid value \"a\\nb\\u{1b}[31m\" (expected a name without control characters)"
        );
        assert!(
            e("service: {capacity: 1, capacty: 2}\nload: {type: constant, rate: 1}\n")
                .contains("service.capacty")
        );
        assert_eq!(
            e("service: {capacity: 1}\nload: {type: csv, file: rates.csv}\n"),
            "rates.csv:4: requests/s: invalid value -1 (expected a rate >= 0)"
        );
        assert!(
            e("service: {capacity: 1}\nload: {type: csv, file: nope.csv}\n")
                .contains("no such file")
        );
    }

    #[test]
    fn arrivals_errors_name_the_file_line_field_and_value() {
        let e = |load: &str, csv: &str| {
            let text = format!("service: {{capacity: 1}}\nload: {load}\n");
            parse_scenario("s.yaml", &text, &mut |_| Ok(csv.to_string()))
                .map(|s| s.load)
                .map_err(|e| e.to_string())
        };
        let ok = "TIMESTAMP,x\n2023-11-16 18:17:03.0,1\n2023-11-16 18:17:20.5,1\n";
        assert_eq!(
            e(
                "{type: arrivals, file: t.csv, timeColumn: TIMESTAMP, scale: 30}",
                ok
            ),
            Ok(LoadProfile::Csv {
                rates: vec![2.0].into()
            })
        );
        assert_eq!(
            e("{type: arrivals, file: t.csv, scale: 0}", ok).unwrap_err(),
            "s.yaml: load.scale: invalid value 0 (expected a factor > 0)"
        );
        assert_eq!(
            e("{type: arrivals, file: t.csv, timeColumn: TIMESTAMP}", "TIMESTAMP\n2023-11-16 18:17:03\n2023-11-16 25:00:00\n")
                .unwrap_err(),
            format!("t.csv:3: TIMESTAMP: invalid value \"2023-11-16 25:00:00\" (expected {TIMESTAMP_FORMATS})")
        );
        assert_eq!(
            e("{type: arrivals, file: t.csv}", "t\n20\n40\n30\n").unwrap_err(),
            "t.csv:4: t: invalid value \"30\" (expected a time at or after the previous arrival's 40: timestamps out of order)"
        );
        assert_eq!(
            e("{type: arrivals, file: t.csv, timeColumn: TS}", ok).unwrap_err(),
            "s.yaml: load.timeColumn: invalid value \"TS\" (expected a column of t.csv: TIMESTAMP, x)"
        );
        // A header's escape sequence is shown, not sent to the terminal.
        assert_eq!(
            e("{type: arrivals, file: t.csv, timeColumn: TS}", "a,\"T\u{1b}[31m\"\n1,1\n").unwrap_err(),
            "s.yaml: load.timeColumn: invalid value \"TS\" (expected a column of t.csv: a, T\\u{1b}[31m)"
        );
        assert_eq!(
            e("{type: arrivals, file: t.csv}", "t\n1\n2\n").unwrap_err(),
            "s.yaml: load.file: invalid value \"t.csv\" (expected arrivals spanning at least one interval (15s), not 2 arrivals over 1s)"
        );
    }

    #[test]
    fn a_load_past_the_most_replicas_a_cluster_runs_is_refused() {
        let e = |service: &str, load: &str, csv: &str| {
            let text = format!("service: {service}\nload: {load}\n");
            parse_scenario("s.yaml", &text, &mut |_| Ok(csv.to_string()))
                .map(|s| s.load.rate(0))
                .map_err(|e| e.to_string())
        };
        let at_500 = "(expected a rate at most 75000000 requests/s: 150000 replicas of 500 requests/s, more than a Kubernetes cluster runs";
        assert_eq!(
            e("{capacity: 500}", "{type: constant, rate: 75000000}", ""),
            Ok(75e6)
        );
        assert_eq!(
            e("{capacity: 500}", "{type: constant, rate: 1e12}", "").unwrap_err(),
            format!("s.yaml: load.rate: invalid value 1000000000000.0 {at_500})")
        );
        // The least capacity the service has, a change's included.
        assert_eq!(
            e(
                "{capacity: 1000, changes: [{at: 5, capacity: 500}]}",
                "{type: step, from: 1, to: 1e8, at: 3}",
                ""
            )
            .unwrap_err(),
            format!("s.yaml: load.to: invalid value 100000000.0 {at_500})")
        );
        // A capacity typed a millionfold too small is named, not rounded
        // to 0.
        assert_eq!(
            e("{capacity: 1e-6}", "{type: constant, rate: 1}", "").unwrap_err(),
            "s.yaml: load.rate: invalid value 1 (expected a rate at most 0.15 requests/s: 150000 replicas of 1e-6 requests/s, more than a Kubernetes cluster runs)"
        );
        assert_eq!(
            e(
                "{capacity: 500}",
                "{type: csv, file: r.csv}",
                "rps\n1\n1e308\n"
            )
            .unwrap_err(),
            format!("r.csv:3: requests/s: invalid value 1e308 {at_500})")
        );
        assert_eq!(
            e(
                "{capacity: 500}",
                "{type: arrivals, file: t.csv, scale: 1e12}",
                "t\n0\n1\n2\n15\n"
            )
            .unwrap_err(),
            format!("s.yaml: load.scale: invalid value 1000000000000.0 {at_500}; t.csv's interval 0 comes to 200000000000 requests/s)")
        );
    }

    #[test]
    fn a_named_file_is_shown_from_the_scenario_s_directory() {
        let e = |file: &str| {
            let text = "service: {capacity: 1}\nload: {type: csv, file: ../r.csv}\n";
            parse_scenario(file, text, &mut |_| Ok("rps\n1\n-1\n".into()))
                .unwrap_err()
                .to_string()
        };
        assert!(
            e("dir/s.yaml").starts_with("dir/../r.csv:3: requests/s"),
            "{}",
            e("dir/s.yaml")
        );
        assert!(e("/a/s.yaml").starts_with("/a/../r.csv:3: "));
        assert!(e("s.yaml").starts_with("../r.csv:3: "));
    }
}
