//! Load profiles: the offered load, in requests per second, at each cycle.

use serde::Serialize;

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
    /// Recorded rates, one per cycle; the last one holds past the end.
    Csv {
        rates: Vec<f64>,
    },
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
            LoadProfile::Csv { rates } => Some(rates.len() as u32),
            _ => None,
        }
    }
}

/// Parses a CSV of rates: one number per line, or the last column of each
/// line. Blank lines and `#` comments are skipped; a first line that is not
/// a number is taken as a header. Errors carry the 1-based line number.
pub fn parse_rates_csv(text: &str) -> Result<Vec<f64>, (usize, String)> {
    let mut rates = Vec::new();
    let mut first = true;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let field = line.rsplit(',').next().unwrap_or(line).trim();
        match field.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => rates.push(v),
            Ok(_) => return Err((i + 1, field.to_string())),
            Err(_) if first => {}
            Err(_) => return Err((i + 1, field.to_string())),
        }
        first = false;
    }
    Ok(rates)
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
    fn csv_rates() {
        let r = parse_rates_csv("cycle,rps\n0, 10\n1,11\n\n# burst\n2,30\n").unwrap();
        assert_eq!(r, vec![10.0, 11.0, 30.0]);
        let p = LoadProfile::Csv { rates: r };
        assert_eq!(p.steps(10), vec![2]);
        assert_eq!(p.rate(99), 30.0);
        assert_eq!(parse_rates_csv("10\n-3\n"), Err((2, "-3".to_string())));
        assert_eq!(parse_rates_csv("10\nabc\n"), Err((2, "abc".to_string())));
    }
}
