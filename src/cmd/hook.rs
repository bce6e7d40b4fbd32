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

/// CPA's own `downscaleStabilization`, seconds, from its env var (CPA's
/// config reaches the hooks as their env), when set above 0: CPA applies
/// the highest answer of that window, and the decision reads a count
/// above its last answer as that window holding a decay
/// (`Observation::applier_window_secs`), not as a person scaling.
pub(super) fn cpa_window_secs(env: impl Fn(&str) -> Option<String>) -> Option<u64> {
    env("downscaleStabilization")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&w| w > 0)
}

/// `lpa check`'s note on CPA's window: how long it holds each decay. A
/// window shorter than CPA's `interval` (milliseconds, default 15000)
/// holds only the answer of the run itself.
pub(super) fn cpa_window_note(
    policy: &lpa_core::Policy,
    env: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let window = cpa_window_secs(&env)?;
    let interval_ms = env("interval")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(15_000);
    if policy.decay().replicas == 0 || window.saturating_mul(1000) < interval_ms {
        return None;
    }
    Some(format!(
        "CPA's downscaleStabilization ({window}s) delays each decay that long: CPA applies the highest answer of its window, and lpa answers a decay again at each calm run until CPA applies it (the evaluation config's downscaleStabilization holds decays inside the decision instead)"
    ))
}
