//! What the CPA hooks (`lpa metric`, `lpa evaluate`) share: CPA's JSON on
//! stdin, one answer line on stdout.

use std::io::{Read, Write};

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

/// The hook's answer: one line on stdout, flushed, or an error (CPA then
/// does not scale).
pub(super) fn answer(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| Failure::new(format!("stdout: {e}")))
}
