//! Durations as users write them: `5` (seconds), `5s`, `500ms`, `1m30s`, `2h`.
//!
//! Locust's `-t` accepts the same compound form (`1h30m`), and the original
//! autoscaler's `locustRunTime` was a bare number of seconds, so both parse.

use std::time::Duration;

/// Parses a human duration. A bare number is seconds (fractions allowed).
///
/// Returns `None` for anything else, including negative values; callers turn
/// that into an error naming their own field.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(secs) = text.parse::<f64>() {
        return secs_to_duration(secs);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    secs_to_duration(total)
}

fn secs_to_duration(secs: f64) -> Option<Duration> {
    if secs.is_finite() && (0.0..1e12).contains(&secs) {
        Some(Duration::from_secs_f64(secs))
    } else {
        None
    }
}

/// Formats a duration the way [`parse_duration`] reads it back.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        // Below a millisecond too: 0.0004 s read back as "0s", which
        // is refused.
        format!("{}ms", d.as_nanos() as f64 / 1e6)
    } else if !ms.is_multiple_of(1000) {
        format!("{ms}ms")
    } else {
        format!("{}s", ms / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_read_back_below_a_millisecond_too() {
        for secs in [0.0004, 1.5001, 0.5, 5.0, 90.0] {
            let d = Duration::from_secs_f64(secs);
            assert_eq!(parse_duration(&format_duration(d)), Some(d), "{secs}");
        }
        assert_eq!(format_duration(Duration::from_micros(400)), "0.4ms");
    }

    #[test]
    fn parses_the_forms_users_write() {
        let cases = [
            ("5", 5_000),
            ("0.5", 500),
            ("5s", 5_000),
            ("500ms", 500),
            ("1m", 60_000),
            ("1m30s", 90_000),
            ("1h30m", 5_400_000),
            (" 10s ", 10_000),
        ];
        for (text, ms) in cases {
            assert_eq!(
                parse_duration(text),
                Some(Duration::from_millis(ms)),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_garbage_and_negatives() {
        for text in ["", "-1", "abc", "5x", "s", "1e400", "NaN", "5 s", "m5"] {
            assert_eq!(parse_duration(text), None, "{text}");
        }
    }

    #[test]
    fn format_round_trips() {
        for ms in [0, 500, 1000, 90_000, 1500] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)), Some(d));
        }
    }
}
