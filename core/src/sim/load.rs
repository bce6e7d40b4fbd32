//! Load profiles: the offered load, in requests per second, at each cycle.

use std::sync::Arc;

use serde::{Serialize, Serializer};

use super::scenario::MAX_CYCLES;

/// How the offered load moves over the cycles. Rates are requests per
/// second, validated finite and non-negative at parsing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum LoadProfile {
    Constant {
        rate: f64,
    },
    /// `from` until cycle `at`, `to` from then on.
    Step {
        from: f64,
        to: f64,
        at: u32,
    },
    /// `from` until cycle `start`, linear to `to` at cycle `end`, then `to`.
    Ramp {
        from: f64,
        to: f64,
        start: u32,
        end: u32,
    },
    /// `base`, except `peak` for `length` cycles from cycle `at`.
    Spike {
        base: f64,
        peak: f64,
        at: u32,
        length: u32,
    },
    /// `mean + amplitude × sin(2π × cycle / period)`; amplitude <= mean.
    Sine {
        mean: f64,
        amplitude: f64,
        period: u32,
    },
    /// Recorded rates, one per cycle; a scenario runs no cycle past them
    /// (where the last one would hold).
    /// Shared: every seed of a run clones the scenario, and a recording
    /// may be millions of cycles long.
    Csv {
        #[serde(serialize_with = "shared_rates")]
        rates: Arc<[f64]>,
    },
}

fn shared_rates<S: Serializer>(rates: &Arc<[f64]>, s: S) -> Result<S::Ok, S::Error> {
    rates[..].serialize(s)
}

impl LoadProfile {
    /// The offered load at `cycle`, in requests per second.
    pub fn rate(&self, cycle: u32) -> f64 {
        match self {
            LoadProfile::Constant { rate } => *rate,
            LoadProfile::Step { from, to, at } => {
                if cycle < *at {
                    *from
                } else {
                    *to
                }
            }
            LoadProfile::Ramp {
                from,
                to,
                start,
                end,
            } => {
                if cycle <= *start {
                    *from
                } else if cycle >= *end {
                    *to
                } else {
                    let f = f64::from(cycle - start) / f64::from(end - start);
                    from + (to - from) * f
                }
            }
            LoadProfile::Spike {
                base,
                peak,
                at,
                length,
            } => {
                if cycle >= *at && cycle - at < *length {
                    *peak
                } else {
                    *base
                }
            }
            LoadProfile::Sine {
                mean,
                amplitude,
                period,
            } => {
                let phase = std::f64::consts::TAU * f64::from(cycle) / f64::from(*period);
                (mean + amplitude * phase.sin()).max(0.0)
            }
            LoadProfile::Csv { rates } => {
                let i = (cycle as usize).min(rates.len().saturating_sub(1));
                rates.get(i).copied().unwrap_or(0.0)
            }
        }
    }

    /// The cycles where the load steps up, from which the recovery score
    /// counts. A recorded profile steps where it rises by more than 10 %
    /// in one cycle; ramps and sines have no steps.
    pub fn steps(&self, cycles: u32) -> Vec<u32> {
        match self {
            LoadProfile::Step { from, to, at } if to > from && *at < cycles => vec![*at],
            LoadProfile::Spike { base, peak, at, .. } if peak > base && *at < cycles => vec![*at],
            LoadProfile::Csv { rates } => (1..rates.len().min(cycles as usize))
                .filter(|&i| rates[i] > rates[i - 1] * 1.1 && rates[i] > 0.0)
                .map(|i| i as u32)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The natural length of the profile, when it has one (a recording).
    pub fn recorded_cycles(&self) -> Option<u32> {
        match self {
            // Parsing keeps a recording within MAX_CYCLES; saturating
            // all the same, so a profile built in code cannot wrap.
            LoadProfile::Csv { rates } => Some(u32::try_from(rates.len()).unwrap_or(u32::MAX)),
            _ => None,
        }
    }
}

/// Why a CSV of rates was refused. Lines are 1-based lines of the file.
#[derive(Debug, Clone, PartialEq)]
pub enum BadRate {
    /// Not a number, or negative.
    Value { line: usize, value: String },
    /// Above the most the caller allows.
    TooHigh { line: usize, value: String },
    /// Not CSV (an unclosed quote), or not one table (a line with more or
    /// fewer fields than the first).
    Csv { line: usize, message: String },
    /// A `cycle` column's value that is not the cycle after the line
    /// before: the profile has a rate a cycle, none left out.
    Cycle {
        line: usize,
        value: String,
        expected: u64,
    },
}

/// Header names of the rate column, where a header names more than one.
const RATE_NAMES: [&str; 3] = ["requests_per_second", "rps", "rate"];

/// Parses a CSV of rates: one number per line, or the last column of each
/// line (quoted as CSV quotes it: `"1,000"` is one field). Blank lines and
/// `#` comments are skipped; a first line that is not a number is taken as
/// a header. A header's column named `requests_per_second`, `rps` or `rate`
/// is the rate, wherever it stands, else its last column but one named
/// `cycle`; that one must count up by one a line. Every line has as many
/// fields as the first. A rate above `max` is refused.
pub fn parse_rates_csv(text: &str, max: f64) -> Result<Vec<f64>, BadRate> {
    // Behind a byte-order mark the first rate would not read as a number,
    // and be dropped as a header.
    let text = crate::csv_text::without_bom(text);
    // Comments blanked, indented ones too, line ends kept (and so the line
    // numbers): a quote in a comment opens nothing.
    let text: String = text
        .split_inclusive('\n')
        .map(|l| {
            if l.trim_start().starts_with('#') {
                &l[l.trim_end_matches(['\r', '\n']).len()..]
            } else {
                l
            }
        })
        .collect();
    let text = text.as_str();
    if let Some(line) = crate::csv_text::open_quote_line(text, None) {
        return Err(BadRate::Csv {
            line: line as usize,
            message: UNCLOSED.to_string(),
        });
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut lines = crate::csv_text::Lines::new(text);
    let mut rates = Vec::new();
    let mut first = true;
    // Fields a line, the rate's column and the cycle's, once the first
    // line says.
    let mut width = 0;
    let mut rate_at = 0;
    let mut cycle_at: Option<usize> = None;
    let mut last_cycle: Option<u64> = None;
    for record in reader.records() {
        let record = record.map_err(|e| BadRate::Csv {
            line: lines.line_at(e.position()) as usize,
            message: e.to_string(),
        })?;
        let line = lines.line_at(record.position()) as usize;
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        if first {
            width = record.len();
            rate_at = width - 1;
        } else if record.len() != width {
            return Err(BadRate::Csv {
                line,
                message: format!("{} fields where the first line has {width}", record.len()),
            });
        }
        let field = record.get(rate_at).unwrap_or("");
        let bad = |value: &str| BadRate::Value {
            line,
            value: value.to_string(),
        };
        match field.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 && v > max => {
                return Err(BadRate::TooHigh {
                    line,
                    value: field.to_string(),
                })
            }
            Ok(v) if v.is_finite() && v >= 0.0 => rates.push(v),
            Ok(_) => return Err(bad(field)),
            // A header names its column; a first field that starts as a
            // number does (`1O0`, `12,5`) is a mistyped rate, not a header.
            Err(_) if first && !field.starts_with(|c: char| c.is_ascii_digit() || c == '.') => {
                let named = |names: &[&str]| {
                    record
                        .iter()
                        .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
                };
                cycle_at = named(&["cycle"]);
                // Unnamed, the rate is the last column but the cycle's.
                rate_at = named(&RATE_NAMES)
                    .or_else(|| (0..width).rev().find(|&c| Some(c) != cycle_at))
                    .unwrap_or(rate_at);
                cycle_at = cycle_at.filter(|&c| c != rate_at);
                first = false;
                continue;
            }
            Err(_) => return Err(bad(field)),
        }
        if let Some(at) = cycle_at {
            let value = record.get(at).unwrap_or("");
            let expected = last_cycle.map_or(0, |c| c + 1);
            // A spreadsheet may write a whole number as 1.0.
            let whole = value
                .parse::<f64>()
                .ok()
                .filter(|c| c.fract() == 0.0 && (0.0..1e15).contains(c))
                .map(|c| c as u64);
            match whole {
                // The first may be 0 or 1: cycles counted from either.
                Some(c) if last_cycle.is_none() && c <= 1 => last_cycle = Some(c),
                Some(c) if c == expected => last_cycle = Some(c),
                _ => {
                    return Err(BadRate::Cycle {
                        line,
                        value: value.to_string(),
                        expected,
                    })
                }
            }
        }
        first = false;
    }
    Ok(rates)
}

const UNCLOSED: &str = "a quoted field is not closed: it runs to the end of the file";

/// Why a trace of request arrivals could not be turned into rates. Lines
/// are 1-based lines of the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArrivalsError {
    /// No header line: nothing but blank lines and comments.
    #[error("no header line: the file is empty")]
    Empty,
    #[error("no column {column:?} in the header ({})", header.join(", "))]
    NoColumn { column: String, header: Vec<String> },
    #[error("line {line}: {message}")]
    Csv { line: u64, message: String },
    #[error("line {line}: {column}: unparsable timestamp {value:?}")]
    Timestamp {
        line: u64,
        column: String,
        value: String,
    },
    #[error(
        "line {line}: {column}: timestamp {value:?} is before the previous arrival's {previous:?}"
    )]
    OutOfOrder {
        line: u64,
        column: String,
        value: String,
        previous: String,
    },
    #[error("{arrivals} {} over {span_secs}s", if *.arrivals == 1 { "arrival" } else { "arrivals" })]
    TooShort { arrivals: usize, span_secs: f64 },
    /// More whole intervals than a simulation runs cycles: counting them
    /// would take memory in proportion, a typo's worth (a timestamp in
    /// nanoseconds read as seconds).
    #[error("{span_secs}s from the first arrival to the last, {intervals} intervals")]
    TooLong { intervals: u128, span_secs: f64 },
}

/// What an arrivals trace's timestamps may look like, for error messages.
pub const TIMESTAMP_FORMATS: &str =
    "a timestamp: 2023-11-16 18:17:03.9799600, RFC 3339 (2023-11-16T18:17:03Z) or seconds (1700158623.98; under 1e11, so milliseconds are not read as seconds)";

/// Counts a trace's arrivals per interval, from its first timestamp, and
/// returns `scale` × the rate of each whole interval (requests/s). The
/// arrivals after the last whole interval are left out: the trace's end
/// is its last arrival, so that interval was not observed in full.
///
/// `text` is CSV with a header line, which comment lines (`#`) and blank
/// ones may precede; below it every line is data, `#` or not (a channel
/// named `#ops` is an arrival). `column` names the timestamps' column; when
/// `None` it is the first, and a first line whose first field is a
/// timestamp is data, not a header. Timestamps must not go back in time.
/// Memory is the intervals' counts, not the arrivals.
pub fn arrival_rates(
    text: &str,
    column: Option<&str>,
    interval_secs: u64,
    scale: f64,
) -> Result<Vec<f64>, ArrivalsError> {
    let text = crate::csv_text::without_bom(text);
    // The comments and blank lines above the header are passed over (a
    // quote in one opens nothing), and counted for the lines named.
    // Lines end at LF, CRLF or a CR alone, as the crate reads them.
    let bytes = text.as_bytes();
    let (mut start, mut above) = (0, 0u64);
    while start < bytes.len() {
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .map_or(bytes.len(), |i| start + i);
        let t = text[start..end].trim_start();
        if !(t.is_empty() || t.starts_with('#')) {
            break;
        }
        start = end + usize::from(bytes.get(end) == Some(&b'\r'));
        start += usize::from(bytes.get(start) == Some(&b'\n'));
        above += u64::from(end < bytes.len());
    }
    let text = &text[start..];
    // A quote left open in any column swallows the rest of the trace.
    if let Some(line) = crate::csv_text::open_quote_line(text, None) {
        return Err(ArrivalsError::Csv {
            line: above + line,
            message: UNCLOSED.to_string(),
        });
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut lines = crate::csv_text::Lines::new(text);
    let mut records = reader
        .records()
        .filter(|r| r.as_ref().map_or(true, |r| !r.iter().all(str::is_empty)));
    let mut line_of = |p: Option<&csv::Position>| above + lines.line_at(p);
    let csv_error = |e: csv::Error, line: u64| ArrivalsError::Csv {
        line,
        message: e.to_string(),
    };
    let first = match records.next() {
        None => return Err(ArrivalsError::Empty),
        Some(Err(e)) => {
            let line = line_of(e.position());
            return Err(csv_error(e, line));
        }
        Some(Ok(r)) => r,
    };
    // Without a column named, a first line that starts with a timestamp
    // is the first arrival: read as a header, it was lost, and the count
    // started from the second.
    let headless = column.is_none() && first.get(0).and_then(parse_timestamp).is_some();
    let header: Vec<String> = if headless {
        Vec::new()
    } else {
        first.iter().map(str::to_string).collect()
    };
    let index = match column {
        None => 0,
        Some(c) => header
            .iter()
            .position(|h| h == c)
            .ok_or_else(|| ArrivalsError::NoColumn {
                column: c.to_string(),
                header: header.clone(),
            })?,
    };
    let name = header
        .get(index)
        .cloned()
        .unwrap_or_else(|| "column 1".into());
    let interval_ns = i128::from(interval_secs).max(1) * 1_000_000_000;
    let mut counts: Vec<u64> = Vec::new();
    let mut arrivals = 0usize;
    // The first arrival's time, and the previous one's, with its text.
    let mut origin: Option<i128> = None;
    let mut previous: Option<(i128, String)> = None;
    let rows = headless.then_some(Ok(first)).into_iter().chain(records);
    for record in rows {
        let record = record.map_err(|e| {
            let line = line_of(e.position());
            csv_error(e, line)
        })?;
        let line = line_of(record.position());
        let value = record.get(index).unwrap_or("");
        let at = parse_timestamp(value).ok_or_else(|| ArrivalsError::Timestamp {
            line,
            column: name.clone(),
            value: value.to_string(),
        })?;
        if let Some((before, text)) = &previous {
            if at < *before {
                return Err(ArrivalsError::OutOfOrder {
                    line,
                    column: name.clone(),
                    value: value.to_string(),
                    previous: text.clone(),
                });
            }
        }
        let from = *origin.get_or_insert(at);
        let span = at - from;
        let i = span / interval_ns;
        if i > i128::from(MAX_CYCLES) {
            return Err(ArrivalsError::TooLong {
                intervals: i.unsigned_abs(),
                span_secs: (span / 1_000_000_000) as f64,
            });
        }
        // Cannot fail: 0 <= i <= MAX_CYCLES.
        let i = usize::try_from(i).unwrap_or(0);
        if counts.len() <= i {
            counts.resize(i + 1, 0);
        }
        counts[i] += 1;
        arrivals += 1;
        previous = Some((at, value.to_string()));
    }
    let span = match (origin, &previous) {
        (Some(first), Some((last, _))) => last - first,
        _ => 0,
    };
    // The interval the last arrival is in was not observed whole.
    let whole = usize::try_from(span / interval_ns).unwrap_or(0);
    if whole == 0 {
        return Err(ArrivalsError::TooShort {
            arrivals,
            span_secs: span as f64 / 1e9,
        });
    }
    counts.truncate(whole);
    let secs = interval_secs as f64;
    Ok(counts
        .into_iter()
        .map(|n| n as f64 * scale / secs)
        .collect())
}

/// Seconds no trace's timestamp reaches (the year 5138).
const MAX_EPOCH_SECS: i128 = 100_000_000_000;

/// A timestamp in nanoseconds: `2023-11-16 18:17:03.9799600` (UTC, as
/// the Azure traces write it), RFC 3339 (`2023-11-16T18:17:03.98Z`,
/// `...+01:00`), or plain seconds (`1700158623.98`, from any origin).
pub fn parse_timestamp(text: &str) -> Option<i128> {
    let s = text.trim();
    if s.as_bytes().get(4) == Some(&b'-') {
        return parse_datetime(s);
    }
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    let secs: i128 = if whole.is_empty() { 0 } else { digits(whole)? };
    // Seconds past 1e11 are after the year 5000: milliseconds (13 digits
    // now) read as seconds, which would stretch an hour to 41 days.
    if secs >= MAX_EPOCH_SECS {
        return None;
    }
    Some(secs.checked_mul(1_000_000_000)? + nanos(frac)?)
}

/// All ASCII digits, as a number (at most 30 of them).
fn digits(s: &str) -> Option<i128> {
    if s.is_empty() || s.len() > 30 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A fraction of a second's digits as nanoseconds; digits past the ninth
/// are dropped.
fn nanos(frac: &str) -> Option<i128> {
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let kept = &frac[..frac.len().min(9)];
    let padded = format!("{kept:0<9}");
    padded.parse().ok()
}

fn parse_datetime(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        i64::try_from(digits(part)?).ok()
    };
    if b.len() < 19 || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    // 60 is a leap second, which RFC 3339 allows.
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut frac_ns = 0;
    if let Some(r) = rest.strip_prefix('.') {
        let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        if end == 0 {
            return None;
        }
        frac_ns = nanos(&r[..end])?;
        rest = &r[end..];
    }
    let offset_secs = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let zone = &rest[1..];
            if zone.len() != 5 || zone.as_bytes()[2] != b':' {
                return None;
            }
            let (h, m) = (
                i64::try_from(digits(&zone[..2])?).ok()?,
                i64::try_from(digits(&zone[3..])?).ok()?,
            );
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_secs;
    Some(i128::from(secs) * 1_000_000_000 + frac_ns)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`, "chrono-Compatible Low-Level Date Algorithms").
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let step = LoadProfile::Step {
            from: 10.0,
            to: 40.0,
            at: 5,
        };
        assert_eq!((step.rate(4), step.rate(5)), (10.0, 40.0));
        assert_eq!(step.steps(100), vec![5]);
        let ramp = LoadProfile::Ramp {
            from: 0.0,
            to: 100.0,
            start: 10,
            end: 20,
        };
        assert_eq!(
            (ramp.rate(0), ramp.rate(15), ramp.rate(30)),
            (0.0, 50.0, 100.0)
        );
        assert!(ramp.steps(100).is_empty());
        let spike = LoadProfile::Spike {
            base: 1.0,
            peak: 9.0,
            at: 3,
            length: 2,
        };
        let v: Vec<f64> = (0..6).map(|c| spike.rate(c)).collect();
        assert_eq!(v, vec![1.0, 1.0, 1.0, 9.0, 9.0, 1.0]);
        let sine = LoadProfile::Sine {
            mean: 10.0,
            amplitude: 5.0,
            period: 4,
        };
        assert!((sine.rate(1) - 15.0).abs() < 1e-9 && (sine.rate(3) - 5.0).abs() < 1e-9);
    }

    #[test]
    fn arrivals_name_the_right_line_with_crlf_line_ends() {
        assert!(matches!(
            arrival_rates("t\r\n1\r\n3\r\n2\r\n", None, 1, 1.0),
            Err(ArrivalsError::OutOfOrder { line: 4, .. })
        ));
        assert!(matches!(
            arrival_rates("t\n1\n3\n2\n", None, 1, 1.0),
            Err(ArrivalsError::OutOfOrder { line: 4, .. })
        ));
        // Lines above the header count.
        assert!(matches!(
            arrival_rates("# from \"x\n\nt\n1\n3\n2\n", None, 1, 1.0),
            Err(ArrivalsError::OutOfOrder { line: 6, .. })
        ));
        // CR alone, where every line was line 1, a comment above too.
        assert!(matches!(
            arrival_rates("# c\rt\r1\r3\r2\r", None, 1, 1.0),
            Err(ArrivalsError::OutOfOrder { line: 5, .. })
        ));
        assert!(matches!(
            arrival_rates("t\r1\r3\r2\r", None, 1, 1.0),
            Err(ArrivalsError::OutOfOrder { line: 4, .. })
        ));
    }

    #[test]
    fn csv_rates() {
        let r = parse_rates_csv("cycle,rps\n0, 10\n1,11\n\n# burst\n2,30\n", f64::MAX).unwrap();
        assert_eq!(r, vec![10.0, 11.0, 30.0]);
        let p = LoadProfile::Csv { rates: r.into() };
        assert_eq!(p.steps(10), vec![2]);
        assert_eq!(p.rate(99), 30.0);
        let bad = |line, value: &str| {
            Err(BadRate::Value {
                line,
                value: value.into(),
            })
        };
        assert_eq!(parse_rates_csv("10\n-3\n", f64::MAX), bad(2, "-3"));
        assert_eq!(parse_rates_csv("10\nabc\n", f64::MAX), bad(2, "abc"));
        // A first line that starts as a number is a mistyped rate: a header
        // would have dropped it unsaid.
        assert_eq!(parse_rates_csv("1O0\n100\n", f64::MAX), bad(1, "1O0"));
        assert_eq!(parse_rates_csv("0,1O0\n1,100\n", f64::MAX), bad(1, "1O0"));
        assert_eq!(parse_rates_csv("rps\n7\n", f64::MAX), Ok(vec![7.0]));
        // A header names the rate's column wherever it stands, and its
        // cycles count up by one a line, from 0 or 1.
        assert_eq!(
            parse_rates_csv("requests_per_second,cycle\n100,1\n200,2\n", f64::MAX),
            Ok(vec![100.0, 200.0])
        );
        // A rate column of another name beside the cycle's is the rate,
        // wherever the cycle's stands; a cycle may read as 1.0.
        assert_eq!(
            parse_rates_csv("requests,cycle\n500,0.0\n600,1.0\n", f64::MAX),
            Ok(vec![500.0, 600.0])
        );
        let cycle = |line, value: &str, expected| {
            Err(BadRate::Cycle {
                line,
                value: value.into(),
                expected,
            })
        };
        assert_eq!(
            parse_rates_csv("cycle,rps\n0,1\n5,2\n", f64::MAX),
            cycle(3, "5", 1)
        );
        assert_eq!(
            parse_rates_csv("cycle,rps\n0,1\n0,2\n", f64::MAX),
            cycle(3, "0", 1)
        );
        assert_eq!(
            parse_rates_csv("cycle,rps\n2,1\n", f64::MAX),
            cycle(2, "2", 0)
        );
        assert_eq!(
            parse_rates_csv("cycle,rps\n0,1\n1,2,3\n", f64::MAX),
            Err(BadRate::Csv {
                line: 3,
                message: "3 fields where the first line has 2".into()
            })
        );
        assert_eq!(
            parse_rates_csv("10\n1e308\n", 1e6),
            Err(BadRate::TooHigh {
                line: 2,
                value: "1e308".into()
            })
        );
    }

    #[test]
    fn timestamps_in_the_three_forms() {
        let azure = parse_timestamp("2023-11-16 18:17:03.9799600").unwrap();
        // 2023-11-16T18:17:03Z is 1700158623 s after the epoch.
        assert_eq!(azure, 1_700_158_623_979_960_000);
        assert_eq!(parse_timestamp("2023-11-16T18:17:03.97996Z"), Some(azure));
        assert_eq!(
            parse_timestamp("2023-11-16T19:17:03.97996+01:00"),
            Some(azure)
        );
        assert_eq!(parse_timestamp("1700158623.97996"), Some(azure));
        assert_eq!(parse_timestamp(" 12.5 "), Some(12_500_000_000));
        // Milliseconds, as many tools write them, are not seconds.
        assert_eq!(parse_timestamp("1700158623979"), None);
        assert_eq!(
            parse_timestamp("99999999999.5"),
            Some(99_999_999_999_500_000_000)
        );
        assert_eq!(parse_timestamp("1970-01-01 00:00:00"), Some(0));
        assert_eq!(
            parse_timestamp("2024-02-29T00:00:00Z").map(|n| n / 1_000_000_000),
            Some(1_709_164_800)
        );
        for bad in [
            "",
            "abc",
            "-5",
            "1e9",
            "2023-11-16",
            "2023-13-01 00:00:00",
            "2023-02-29 00:00:00",
            "2023-11-16 24:00:00",
            "2023-11-16 18:60:00",
            "2023-11-16X18:17:03",
            "2023-11-16 18:17:03.",
            "2023-11-16 18:17:03+0100",
            "2023-11-16 18:17:03 UTC",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn arrivals_are_counted_per_whole_interval_from_the_first() {
        let text = "# exported \"by hand\n\nTIMESTAMP,tokens\n10.0,1\n10.5,1\n24.9,1\n25.0,1\n26,1\n\n41.2,1\n";
        // Intervals of 15 s from 10: [10, 25) holds 3, [25, 40) holds 2;
        // 41.2 falls in the third, which the trace does not cover whole.
        assert_eq!(
            arrival_rates(text, Some("TIMESTAMP"), 15, 3.0).unwrap(),
            vec![3.0 * 3.0 / 15.0, 3.0 * 2.0 / 15.0]
        );
        assert_eq!(arrival_rates(text, None, 15, 1.0).unwrap().len(), 2);
        assert_eq!(
            arrival_rates(text, Some("when"), 15, 1.0),
            Err(ArrivalsError::NoColumn {
                column: "when".into(),
                header: vec!["TIMESTAMP".into(), "tokens".into()]
            })
        );
        assert_eq!(
            arrival_rates("t\n1\n2\nx\n", None, 1, 1.0),
            Err(ArrivalsError::Timestamp {
                line: 4,
                column: "t".into(),
                value: "x".into()
            })
        );
        assert_eq!(
            arrival_rates("t\n1\n3\n2\n", None, 1, 1.0),
            Err(ArrivalsError::OutOfOrder {
                line: 4,
                column: "t".into(),
                value: "2".into(),
                previous: "3".into()
            })
        );
        // Below the header a `#` starts no comment: a row of channel
        // #ops is an arrival, and one in the time column no timestamp.
        let channels = "channel,T\ngeneral,0\n#ops,1\n#ops,2\n#ops,3\ngeneral,4\ngeneral,25\n";
        assert_eq!(
            arrival_rates(channels, Some("T"), 10, 1.0),
            Ok(vec![0.5, 0.0])
        );
        assert_eq!(
            arrival_rates("t\n1\n# note\n2\n", None, 1, 1.0),
            Err(ArrivalsError::Timestamp {
                line: 3,
                column: "t".into(),
                value: "# note".into()
            })
        );
        // No column named and no header: the first line is an arrival,
        // where it was read as a header and lost.
        assert_eq!(
            arrival_rates("0\n1\n2\n25\n", None, 10, 1.0),
            Ok(vec![0.3, 0.0])
        );
        assert_eq!(
            arrival_rates("0\n1\nx\n", None, 1, 1.0),
            Err(ArrivalsError::Timestamp {
                line: 3,
                column: "column 1".into(),
                value: "x".into()
            })
        );
        let one = arrival_rates("t\n1\n", None, 15, 1.0).unwrap_err();
        assert!(matches!(one, ArrivalsError::TooShort { arrivals: 1, .. }));
        assert_eq!(one.to_string(), "1 arrival over 0s");
        // A row too short for the column reads as an empty timestamp.
        assert_eq!(
            arrival_rates("a,t\n1,1\n2\n", Some("t"), 1, 1.0),
            Err(ArrivalsError::Timestamp {
                line: 3,
                column: "t".into(),
                value: "".into()
            })
        );
    }

    #[test]
    fn a_span_past_the_cycle_limit_is_refused_before_counting() {
        // 10 000 001 intervals of 1 s: one more than a scenario runs.
        let over = format!("t\n0\n{}\n", MAX_CYCLES + 1);
        assert_eq!(
            arrival_rates(&over, None, 1, 1.0),
            Err(ArrivalsError::TooLong {
                intervals: u128::from(MAX_CYCLES) + 1,
                span_secs: f64::from(MAX_CYCLES + 1)
            })
        );
        let at = format!("t\n0\n{MAX_CYCLES}\n");
        assert_eq!(
            arrival_rates(&at, None, 1, 1.0).map(|r| r.len()),
            Ok(MAX_CYCLES as usize)
        );
        // A span no memory could count: refused, not allocated.
        assert!(matches!(
            arrival_rates(
                "t\n0001-01-01 00:00:00\n9999-12-31 23:59:59\n",
                None,
                15,
                1.0
            ),
            Err(ArrivalsError::TooLong { .. })
        ));
    }

    #[test]
    fn rates_behind_a_bom_in_quotes_or_after_a_quoted_comment_are_read() {
        let rates = |t: &str| parse_rates_csv(t, f64::MAX);
        // The first line is a rate, not a header, behind the mark.
        assert_eq!(
            rates("\u{feff}900\n100\n100"),
            Ok(vec![900.0, 100.0, 100.0])
        );
        assert_eq!(rates("\u{feff}rps\n7\n"), Ok(vec![7.0]));
        assert_eq!(rates("cycle,rps\n0,\"12\"\n"), Ok(vec![12.0]));
        assert_eq!(
            rates("cycle,rps\n0,\"1,000\"\n"),
            Err(BadRate::Value {
                line: 2,
                value: "1,000".into()
            })
        );
        // A comment's quote opens nothing.
        assert_eq!(rates("# \"burst\n  # a, \"b\n5\n6\n"), Ok(vec![5.0, 6.0]));
        assert_eq!(
            rates("rps\n5\n\"6\n7\n8\n"),
            Err(BadRate::Csv {
                line: 3,
                message: UNCLOSED.into()
            })
        );
    }

    #[test]
    fn an_arrivals_quote_left_open_is_an_error_at_its_line() {
        let text = "TIMESTAMP,note\n0,a\n10,\"oops\n20,b\n30,c\n40,d\n";
        assert_eq!(
            arrival_rates(text, Some("TIMESTAMP"), 15, 1.0),
            Err(ArrivalsError::Csv {
                line: 3,
                message: UNCLOSED.into()
            })
        );
        let bom = "\u{feff}TIMESTAMP\n0\n10\n20\n";
        assert_eq!(
            arrival_rates(bom, Some("TIMESTAMP"), 15, 15.0),
            Ok(vec![2.0])
        );
    }

    #[test]
    fn an_empty_trace_says_so() {
        for text in ["", "\n\n", "# only a comment\n"] {
            for column in [None, Some("TIMESTAMP")] {
                assert_eq!(
                    arrival_rates(text, column, 15, 1.0),
                    Err(ArrivalsError::Empty),
                    "{text:?} {column:?}"
                );
            }
        }
    }
}
