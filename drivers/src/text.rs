//! Words for people: lpa's lines are read, not parsed.

/// A count with its noun, plural unless one: `1 reversal`, `0 reversals`.
/// Nouns here all take a plain `s`.
pub fn count<N: TryInto<u64>>(n: N, noun: &str) -> String {
    let n: u64 = n.try_into().unwrap_or(u64::MAX);
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
