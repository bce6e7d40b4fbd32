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

/// A file name's extension in lower case (`PLOT.PNG`: `png`), which says
/// the format of what lpa writes there.
pub fn extension(path: &std::path::Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
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
