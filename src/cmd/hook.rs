//! What the CPA hooks (`lpa metric`, `lpa evaluate`) share: CPA's JSON on
//! stdin. Each answers with one line through `settings::print_line`.

use std::io::Read;

use crate::settings::{Failure, Result};

/// CPA's inputs are small; a runaway producer must not exhaust memory.
const MAX_STDIN: u64 = 16 << 20;

/// All of stdin, up to [`MAX_STDIN`]; `hook` names it in the error.
pub(super) fn read_stdin(hook: &str) -> Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .take(MAX_STDIN)
        .read_to_string(&mut input)
        .map_err(|e| Failure::new(format!("{hook} stdin: cannot read: {e}")))?;
    Ok(input)
}

/// CPA's own `downscaleStabilization` (seconds, its env var) keeps the
/// highest answer of that window. lpa answers the count it runs at until
/// the run that decays, so with a window of an interval or more (CPA's
/// `interval`, milliseconds, default 15000) the count before the decay is
/// always in it: CPA never applies a decay, and lpa, seeing its answer
/// unapplied, starts counting calm runs again. lpa's own window holds a
/// decay inside the decision, where the count of calm runs survives it.
pub(super) fn cpa_window_warning(
    policy: &lpa_core::Policy,
    env: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let secs = |name: &str, per_sec: f64| {
        env(name)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| v / per_sec)
    };
    let window = secs("downscaleStabilization", 1.0)?;
    let interval = secs("interval", 1000.0).unwrap_or(15.0);
    if policy.decay().replicas == 0 || window <= 0.0 || window < interval {
        return None;
    }
    Some(format!(
        "CPA's downscaleStabilization ({window}s) is at least its interval ({interval}s): CPA keeps the highest answer of that window, which always holds the count before a decay, so no decay takes effect; set CPA's downscaleStabilization to 0 and the evaluation config's downscaleStabilization instead (lpa's window holds decays the same way, inside the decision)"
    ))
}
