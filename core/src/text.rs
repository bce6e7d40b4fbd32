//! Text from outside (a server's, a file's, a process's) shown in lpa's
//! lines.

/// `text` with its control characters escaped as Rust writes them
/// (`\u{1b}`, `\n`): an escape sequence in a header, a path or a process's
/// stderr would otherwise reach the terminal, or a log, as is.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn controls_are_escaped_and_the_rest_kept() {
        assert_eq!(
            super::escape_controls("a\u{1b}[31m\"é\"\n\u{9b}"),
            "a\\u{1b}[31m\"é\"\\n\\u{9b}"
        );
    }
}
