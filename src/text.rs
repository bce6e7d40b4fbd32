//! Small text helpers for what lpa prints.

use std::fmt::Write as _;

use lpa_core::sim::Scores;

// One rule for a count's noun, the load plan's lines (lpa-drivers) and these.
pub use lpa_drivers::text::count;

/// A file name's extension in lower case (`PLOT.PNG`: `png`), which says
/// the format of what lpa writes there.
pub fn extension(path: &std::path::Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// The scores' lines of a simulation (`lpa simulate`) or a recorded run
/// (`lpa report`); only a simulation has yardsticks to compare with
/// (`versus`: their names, `vs oracle`, and what the cost is against them).
pub fn score_lines(s: &Scores, versus: &[(&str, String)], recovery: &str) -> String {
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
    for (name, v) in versus {
        let _ = writeln!(out, "  {name:<19} {v}");
    }
    let _ = writeln!(
        out,
        "  scale changes       {} ({})",
        s.scale_changes,
        count(s.reversals, "reversal")
    );
    let _ = writeln!(out, "  recovery            {recovery}");
    out
}

#[cfg(test)]
mod tests {
    use super::{count, extension};

    #[test]
    fn extensions_in_lower_case() {
        assert_eq!(extension("a/Plot.PNG".as_ref()).as_deref(), Some("png"));
        assert_eq!(extension("trace".as_ref()), None);
    }

    #[test]
    fn plural_unless_one() {
        assert_eq!(count(1u32, "reversal"), "1 reversal");
        assert_eq!(count(0u32, "reversal"), "0 reversals");
        assert_eq!(count(12u64, "scale change"), "12 scale changes");
    }
}
