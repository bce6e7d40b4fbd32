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
//!   timeout: 1000         # ms; slower requests fail (optional)
//! load: {type: step, from: 400, to: 1200, at: 20}
//! # or {type: arrivals, file: trace.csv, timeColumn: TIMESTAMP, scale: 95}:
//! # the trace's arrivals counted per interval from its first timestamp,
//! # times `scale` (default 1); cycles default to its whole intervals.
//! ```

use serde_yaml::{Mapping, Value};

use super::load::{arrival_rates, parse_rates_csv, ArrivalsError, LoadProfile, TIMESTAMP_FORMATS};
use super::model::Service;
use super::Scenario;
use crate::config::{show, ConfigError};
use crate::duration::parse_duration;

/// Beyond these a trace or a cycle's samples would not fit in memory: a
/// typo, not a simulation.
pub const MAX_CYCLES: u32 = 10_000_000;
pub const MAX_SAMPLES: u32 = 1_000_000;

/// Parses a scenario. `file` names it in errors; `read` returns the text of
/// a file the scenario refers to (a load CSV), relative to the scenario.
pub fn parse_scenario(
    file: &str,
    text: &str,
    read: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<Scenario, ConfigError> {
    let root: Value = serde_yaml::from_str(text).map_err(|e| ConfigError::Syntax {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    let p = Fields { file };
    let map = p.mapping(&root, "(top level)")?;
    p.known(
        map,
        "",
        &[
            "name", "interval", "cycles", "seed", "replicas", "service", "load",
        ],
    )?;
    let name = match map.get("name") {
        None => default_name(file),
        Some(v) => v
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| p.invalid("name", v, "a string"))?,
    };
    let interval_secs = match map.get("interval") {
        None => 15,
        Some(v) => {
            let text = match v {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => String::new(),
            };
            match parse_duration(&text) {
                Some(d) if (1..=86_400).contains(&d.as_secs()) && d.subsec_nanos() == 0 => {
                    d.as_secs()
                }
                _ => {
                    return Err(p.invalid(
                        "interval",
                        v,
                        "whole seconds from 1 to a day: 15, 15s, 1m",
                    ))
                }
            }
        }
    };
    let service = p.service(map.get("service"))?;
    let load = p.load(map.get("load"), interval_secs, read)?;
    let cycles = match map.get("cycles") {
        Some(v) => p.bounded(v, "cycles", 1, MAX_CYCLES)?,
        None => load.recorded_cycles().unwrap_or(100),
    };
    let seed = match map.get("seed") {
        Some(v) => v
            .as_u64()
            .ok_or_else(|| p.invalid("seed", v, "a whole number >= 0"))?,
        None => 1,
    };
    let replicas = match map.get("replicas") {
        Some(v) => p.uint(v, "replicas", 0)?,
        None => 1,
    };
    Ok(Scenario {
        name,
        interval_secs,
        cycles,
        seed,
        replicas,
        service,
        load,
    })
}

fn default_name(file: &str) -> String {
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    base.strip_suffix(".yaml")
        .or_else(|| base.strip_suffix(".yml"))
        .unwrap_or(base)
        .to_string()
}

struct Fields<'f> {
    file: &'f str,
}

impl Fields<'_> {
    fn invalid(&self, field: &str, value: &Value, expected: &str) -> ConfigError {
        ConfigError::invalid(self.file, field, value, expected)
    }

    fn missing(&self, field: &str, expected: &str) -> ConfigError {
        ConfigError::missing(self.file, field, expected)
    }

    fn mapping<'v>(&self, v: &'v Value, field: &str) -> Result<&'v Mapping, ConfigError> {
        v.as_mapping()
            .ok_or_else(|| self.invalid(field, v, "a mapping of fields"))
    }

    fn known(&self, map: &Mapping, prefix: &str, known: &[&str]) -> Result<(), ConfigError> {
        for key in map.keys() {
            let name = key
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| show(key));
            if !known.contains(&name.as_str()) {
                let field = if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}.{name}")
                };
                return Err(ConfigError::Invalid {
                    file: self.file.to_string(),
                    field,
                    value: "(unknown field)".to_string(),
                    expected: format!("one of {}", known.join(", ")),
                });
            }
        }
        Ok(())
    }

    fn uint(&self, v: &Value, field: &str, min: u32) -> Result<u32, ConfigError> {
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|&n| n >= min)
            .ok_or_else(|| self.invalid(field, v, &format!("a whole number >= {min}")))
    }

    fn bounded(&self, v: &Value, field: &str, min: u32, max: u32) -> Result<u32, ConfigError> {
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|&n| n >= min && n <= max)
            .ok_or_else(|| self.invalid(field, v, &format!("a whole number from {min} to {max}")))
    }

    /// A rate or other quantity: finite and at least `min` (strictly above
    /// it when `strict`).
    fn number(
        &self,
        v: &Value,
        field: &str,
        min: f64,
        strict: bool,
        what: &str,
    ) -> Result<f64, ConfigError> {
        let ok = |x: f64| x.is_finite() && if strict { x > min } else { x >= min };
        match v.as_f64() {
            Some(x) if ok(x) => Ok(x),
            _ => Err(self.invalid(field, v, what)),
        }
    }

    fn rate(&self, map: &Mapping, field: &str) -> Result<f64, ConfigError> {
        let path = format!("load.{field}");
        let v = map
            .get(field)
            .ok_or_else(|| self.missing(&path, "a rate in requests/s, >= 0"))?;
        self.number(v, &path, 0.0, false, "a rate in requests/s, >= 0")
    }

    fn cycle(&self, map: &Mapping, field: &str, min: u32) -> Result<u32, ConfigError> {
        let path = format!("load.{field}");
        let v = map
            .get(field)
            .ok_or_else(|| self.missing(&path, &format!("a cycle number >= {min}")))?;
        self.uint(v, &path, min)
    }

    fn service(&self, v: Option<&Value>) -> Result<Service, ConfigError> {
        let v = v.ok_or_else(|| self.missing("service", "a mapping with at least capacity"))?;
        let map = self.mapping(v, "service")?;
        self.known(
            map,
            "service",
            &[
                "capacity",
                "baseLatency",
                "startupCycles",
                "samples",
                "timeout",
            ],
        )?;
        let mut s = Service::default();
        let cap = map.get("capacity").ok_or_else(|| {
            self.missing("service.capacity", "requests/s one replica serves, > 0")
        })?;
        s.capacity = self.number(
            cap,
            "service.capacity",
            0.0,
            true,
            "requests/s one replica serves, > 0",
        )?;
        if let Some(v) = map.get("baseLatency") {
            s.base_latency_ms =
                self.number(v, "service.baseLatency", 0.0, false, "milliseconds >= 0")?;
        }
        if let Some(v) = map.get("startupCycles") {
            s.startup_cycles = self.uint(v, "service.startupCycles", 0)?;
        }
        if let Some(v) = map.get("samples") {
            s.samples = self.bounded(v, "service.samples", 1, MAX_SAMPLES)?;
        }
        if let Some(v) = map.get("timeout") {
            s.timeout_ms =
                Some(self.number(v, "service.timeout", 0.0, true, "milliseconds > 0")?);
        }
        Ok(s)
    }

    /// A trace's fault, named by its file and line where it has one.
    fn arrivals_error(
        &self,
        path: &str,
        fv: &Value,
        map: &Mapping,
        interval_secs: u64,
        e: ArrivalsError,
    ) -> ConfigError {
        let at =
            |line: u64, column: String, value: String, expected: String| ConfigError::Invalid {
                file: format!("{path}:{line}"),
                field: column,
                value: format!("{value:?}"),
                expected,
            };
        match e {
            ArrivalsError::NoColumn { header, .. } => self.invalid(
                "load.timeColumn",
                map.get("timeColumn").unwrap_or(fv),
                &format!("a column of {path}: {}", header.join(", ")),
            ),
            ArrivalsError::Csv { line, message } => ConfigError::Invalid {
                file: format!("{path}:{line}"),
                field: "(row)".to_string(),
                value: "(unreadable)".to_string(),
                expected: format!("a CSV row: {message}"),
            },
            ArrivalsError::Timestamp {
                line,
                column,
                value,
            } => at(line, column, value, TIMESTAMP_FORMATS.to_string()),
            ArrivalsError::OutOfOrder {
                line,
                column,
                value,
                previous,
            } => at(
                line,
                column,
                value,
                format!(
                    "a time at or after the previous arrival's {previous}: timestamps out of order"
                ),
            ),
            e @ ArrivalsError::TooShort { .. } => {
                let expected =
                    format!("arrivals spanning at least one interval ({interval_secs}s), not {e}");
                self.invalid("load.file", fv, &expected)
            }
        }
    }

    /// The text of the file `load.file` names, with the name and its value.
    fn load_file<'v>(
        &self,
        map: &'v Mapping,
        what: &str,
        read: &mut dyn FnMut(&str) -> Result<String, String>,
    ) -> Result<(&'v str, &'v Value, String), ConfigError> {
        let fv = map
            .get("file")
            .ok_or_else(|| self.missing("load.file", what))?;
        let path = fv
            .as_str()
            .ok_or_else(|| self.invalid("load.file", fv, "a file name"))?;
        let text = read(path)
            .map_err(|e| self.invalid("load.file", fv, &format!("a readable CSV ({e})")))?;
        Ok((path, fv, text))
    }

    fn load(
        &self,
        v: Option<&Value>,
        interval_secs: u64,
        read: &mut dyn FnMut(&str) -> Result<String, String>,
    ) -> Result<LoadProfile, ConfigError> {
        const TYPES: &str = "constant, step, ramp, spike, sine, csv or arrivals";
        let v = v.ok_or_else(|| self.missing("load", &format!("a load profile: type {TYPES}")))?;
        let map = self.mapping(v, "load")?;
        let kind = map
            .get("type")
            .ok_or_else(|| self.missing("load.type", TYPES))?;
        let profile = match kind.as_str() {
            Some("constant") => {
                self.known(map, "load", &["type", "rate"])?;
                LoadProfile::Constant {
                    rate: self.rate(map, "rate")?,
                }
            }
            Some("step") => {
                self.known(map, "load", &["type", "from", "to", "at"])?;
                LoadProfile::Step {
                    from: self.rate(map, "from")?,
                    to: self.rate(map, "to")?,
                    at: self.cycle(map, "at", 0)?,
                }
            }
            Some("ramp") => {
                self.known(map, "load", &["type", "from", "to", "start", "end"])?;
                let start = self.cycle(map, "start", 0)?;
                let end = self.cycle(map, "end", start.saturating_add(1))?;
                LoadProfile::Ramp {
                    from: self.rate(map, "from")?,
                    to: self.rate(map, "to")?,
                    start,
                    end,
                }
            }
            Some("spike") => {
                self.known(map, "load", &["type", "base", "peak", "at", "length"])?;
                LoadProfile::Spike {
                    base: self.rate(map, "base")?,
                    peak: self.rate(map, "peak")?,
                    at: self.cycle(map, "at", 0)?,
                    length: self.cycle(map, "length", 1)?,
                }
            }
            Some("sine") => {
                self.known(map, "load", &["type", "mean", "amplitude", "period"])?;
                let mean = self.rate(map, "mean")?;
                let av = map
                    .get("amplitude")
                    .ok_or_else(|| self.missing("load.amplitude", "requests/s, 0 to mean"))?;
                let amplitude =
                    self.number(av, "load.amplitude", 0.0, false, "requests/s, 0 to mean")?;
                if amplitude > mean {
                    return Err(self.invalid(
                        "load.amplitude",
                        av,
                        &format!("at most the mean ({mean}): the rate would go negative"),
                    ));
                }
                LoadProfile::Sine {
                    mean,
                    amplitude,
                    period: self.cycle(map, "period", 2)?,
                }
            }
            Some("csv") => {
                self.known(map, "load", &["type", "file"])?;
                let (path, fv, text) =
                    self.load_file(map, "a CSV of requests/s, one cycle a line", read)?;
                let rates =
                    parse_rates_csv(&text).map_err(|(line, value)| ConfigError::Invalid {
                        file: format!("{path}:{line}"),
                        field: "requests/s".to_string(),
                        value,
                        expected: "a rate >= 0".to_string(),
                    })?;
                if rates.is_empty() {
                    return Err(self.invalid("load.file", fv, "a CSV with at least one rate"));
                }
                LoadProfile::Csv { rates }
            }
            Some("arrivals") => {
                self.known(map, "load", &["type", "file", "timeColumn", "scale"])?;
                let column = match map.get("timeColumn") {
                    None => None,
                    Some(v) => Some(
                        v.as_str()
                            .ok_or_else(|| self.invalid("load.timeColumn", v, "a column name"))?,
                    ),
                };
                let scale = match map.get("scale") {
                    None => 1.0,
                    Some(v) => self.number(v, "load.scale", 0.0, true, "a factor > 0")?,
                };
                let (path, fv, text) =
                    self.load_file(map, "a CSV of request arrivals, one a line", read)?;
                let rates = arrival_rates(&text, column, interval_secs, scale)
                    .map_err(|e| self.arrivals_error(path, fv, map, interval_secs, e))?;
                LoadProfile::Csv { rates }
            }
            _ => return Err(self.invalid("load.type", kind, TYPES)),
        };
        Ok(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ConfigError> {
        parse_scenario("s.yaml", text, &mut |p| {
            if p == "rates.csv" {
                Ok("rps\n10\n20\n-1\n".into())
            } else {
                Err("no such file".into())
            }
        })
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
            Ok(LoadProfile::Csv { rates: vec![2.0] })
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
        assert_eq!(
            e("{type: arrivals, file: t.csv}", "t\n1\n2\n").unwrap_err(),
            "s.yaml: load.file: invalid value \"t.csv\" (expected arrivals spanning at least one interval (15s), not 2 arrivals over 1s)"
        );
    }
}
