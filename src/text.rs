//! Small text helpers for what lpa prints.

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

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn plural_unless_one() {
        assert_eq!(count(1u32, "reversal"), "1 reversal");
        assert_eq!(count(0u32, "reversal"), "0 reversals");
        assert_eq!(count(12u64, "scale change"), "12 scale changes");
    }
}
