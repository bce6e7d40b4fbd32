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
