//! A Python file's bytes as Python 3 reads them (PEP 263): UTF-8, unless a
//! comment on line 1, or on line 2 below a blank or comment line 1, declares
//! `coding: NAME`. Of the other codings lpa reads Latin-1 and ASCII, which
//! are what locustfiles declare in practice. A file whose bytes are all
//! ASCII reads the same in any coding that keeps ASCII as it is (cp1252,
//! koi8-r, shift_jis, ...); other bytes in those, and any other coding
//! (utf-7, EBCDIC, a name Python does not know), lpa refuses, with the
//! line and the name, rather than misread. [`decode_for_scan`] reads such
//! a file for a search of ASCII names, where Locust runs it.
//!
//! ```
//! use lpa_core::python_source::decode;
//!
//! let latin = b"# -*- coding: latin-1 -*-\n# caf\xe9\n";
//! assert_eq!(decode(latin).unwrap(), "# -*- coding: latin-1 -*-\n# caf\u{e9}\n");
//! let err = decode(b"x = 1\n# caf\xe9\n").unwrap_err();
//! assert!(err.starts_with("line 2 is not UTF-8"), "{err}");
//! ```

/// What a coding declaration names, as Python's codec lookup normalises
/// it (lower case, `_` as `-`).
enum Coding {
    Utf8,
    Latin1,
    Ascii,
    /// A coding lpa has no table for that keeps ASCII as it is (cp1252,
    /// koi8-r, shift_jis, ...).
    Other,
}

impl Coding {
    fn named(name: &str) -> Option<Coding> {
        let name = name.to_ascii_lowercase().replace('_', "-");
        match name.as_str() {
            "utf-8" | "utf8" | "u8" | "utf" | "cp65001" => Some(Coding::Utf8),
            "latin-1" | "latin1" | "latin" | "l1" | "iso-8859-1" | "iso8859-1" | "8859"
            | "cp819" | "iso-latin-1" | "iso-ir-100" | "csisolatin1" | "ibm819" => {
                Some(Coding::Latin1)
            }
            "ascii" | "us-ascii" | "us" | "646" | "ansi-x3.4-1968" | "iso646-us" | "cp367" => {
                Some(Coding::Ascii)
            }
            // CPython's tokenizer takes "utf-8-..." and "latin-1-..." as
            // their stems (get_normal_name).
            n if n.starts_with("utf-8-") => Some(Coding::Utf8),
            n if ["latin-1-", "iso-8859-1-", "iso-latin-1-"]
                .iter()
                .any(|stem| n.starts_with(stem)) =>
            {
                Some(Coding::Latin1)
            }
            n if keeps_ascii(n) => Some(Coding::Other),
            _ => None,
        }
    }
}

/// Whether `name` (lower case, `-` for `_`) is one of Python's codecs
/// whose ASCII bytes read as ASCII. Not utf-7 (`+` starts a run), EBCDIC
/// (cp037), UTF-16 or 32, or the ISO-2022 and HZ codings (escapes), nor a
/// name Python does not know: an ASCII file in those is not its ASCII.
fn keeps_ascii(name: &str) -> bool {
    let digits = |rest: &str, ok: &dyn Fn(u32) -> bool| rest.parse::<u32>().is_ok_and(ok);
    let name = name
        .strip_prefix("windows-")
        .map_or(name.to_string(), |n| format!("cp{n}"));
    let n = name.as_str();
    if let Some(rest) = n.strip_prefix("cp") {
        return digits(rest, &|c| {
            (1250..=1258).contains(&c)
                || [
                    437, 737, 775, 850, 852, 855, 856, 857, 858, 860, 861, 862, 863, 864, 865, 866,
                    869, 874, 932, 949, 950, 1006, 1125,
                ]
                .contains(&c)
        });
    }
    for stem in ["iso-8859-", "iso8859-", "8859-"] {
        if let Some(rest) = n.strip_prefix(stem) {
            return digits(rest, &|c| (2..=16).contains(&c) && c != 12);
        }
    }
    if let Some(rest) = n.strip_prefix("latin").map(|r| r.trim_start_matches('-')) {
        return digits(rest, &|c| (2..=10).contains(&c));
    }
    matches!(
        n,
        "koi8-r"
            | "koi8-u"
            | "koi8-t"
            | "mac-roman"
            | "mac-cyrillic"
            | "mac-greek"
            | "mac-iceland"
            | "mac-latin2"
            | "mac-turkish"
            | "gbk"
            | "gb2312"
            | "gb18030"
            | "big5"
            | "big5hkscs"
            | "big5-hkscs"
            | "shift-jis"
            | "sjis"
            | "s-jis"
            | "shiftjis"
            | "euc-jp"
            | "eucjp"
            | "euc-kr"
            | "euckr"
            | "euc-jis-2004"
            | "euc-jisx0213"
            | "johab"
            | "tis-620"
            | "ptcp154"
            | "kz1048"
            | "hp-roman8"
    )
}

/// The source as text, or why it cannot be read, starting "line N".
pub fn decode(bytes: &[u8]) -> Result<String, String> {
    let declared = declaration(bytes);
    let coding = match &declared {
        None => Coding::Utf8,
        // Python too refuses a BOM beside another coding.
        Some((line, name))
            if bytes.starts_with(b"\xef\xbb\xbf")
                && !matches!(Coding::named(name), Some(Coding::Utf8)) =>
        {
            return Err(format!(
                "line {line} declares coding {name} in a file that starts with UTF-8's byte order mark"
            ))
        }
        Some((line, name)) => Coding::named(name).ok_or_else(|| {
            format!("line {line} declares coding {name}, which lpa does not read (it reads UTF-8, Latin-1, ASCII, and ASCII text in a coding that keeps it, such as cp1252); save the file as UTF-8")
        })?,
    };
    let line_of = |at: usize| bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
    match coding {
        Coding::Utf8 => String::from_utf8(bytes.to_vec()).map_err(|e| {
            let line = line_of(e.utf8_error().valid_up_to());
            match &declared {
                Some((at, name)) => format!("line {line} is not {name}, which line {at} declares"),
                None => format!("line {line} is not UTF-8, which Python reads without a coding declaration (# -*- coding: NAME -*- on line 1 or 2)"),
            }
        }),
        Coding::Latin1 => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
        ascii_or_other => match bytes.iter().position(|b| !b.is_ascii()) {
            Some(at) => {
                let (line, name) = declared.unwrap_or_default();
                let at = line_of(at);
                Err(match ascii_or_other {
                    Coding::Ascii => format!("line {at} is not {name}, which line {line} declares"),
                    _ => format!("line {at} is not ASCII, and line {line} declares coding {name}, which lpa does not read (it reads UTF-8, Latin-1 and ASCII); save the file as UTF-8"),
                })
            }
            // ASCII is UTF-8.
            None => Ok(String::from_utf8_lossy(bytes).into_owned()),
        },
    }
}

/// The source for a search of ASCII names (the pre-1.0 API): as [`decode`]
/// reads it, or, in a coding lpa does not read, with its other bytes
/// replaced. Locust, which reads that coding, is left to run the file.
pub fn decode_for_scan(bytes: &[u8]) -> Result<String, String> {
    match decode(bytes) {
        Err(_)
            if declaration(bytes)
                .is_some_and(|(_, n)| matches!(Coding::named(&n), None | Some(Coding::Other))) =>
        {
            Ok(String::from_utf8_lossy(bytes).into_owned())
        }
        read => read,
    }
}

/// The line (1 or 2) and name of the coding declaration, found as CPython's
/// tokenizer finds it (get_coding_spec): a comment line holding `coding`
/// then `:` or `=`, spaces, and the name's letters, digits, `-`, `_`, `.`.
fn declaration(bytes: &[u8]) -> Option<(usize, String)> {
    let mut lines = bytes.split(|&b| b == b'\n');
    let first = lines.next()?;
    let first = first.strip_prefix(b"\xef\xbb\xbf").unwrap_or(first);
    if let Some(name) = coding_spec(first) {
        return Some((1, name));
    }
    // Line 2 counts only below a blank or comment line (tokenize's blank_re).
    let rest = first.trim_ascii_start();
    if !(rest.is_empty() || rest.starts_with(b"#")) {
        return None;
    }
    coding_spec(lines.next()?).map(|name| (2, name))
}

fn coding_spec(line: &[u8]) -> Option<String> {
    let comment = line
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\x0c'))
        .filter(|&at| line[at] == b'#')?;
    let line = &line[comment..];
    (0..line.len()).find_map(|at| {
        let after = line[at..].strip_prefix(b"coding")?;
        let after = after
            .strip_prefix(b":")
            .or_else(|| after.strip_prefix(b"="))?;
        let start = after.iter().position(|b| !matches!(b, b' ' | b'\t'))?;
        let name: Vec<u8> = after[start..]
            .iter()
            .copied()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            .collect();
        (!name.is_empty()).then(|| String::from_utf8_lossy(&name).into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codings_are_read_as_python_reads_them() {
        // The emacs and vim spellings, on line 1 or below a shebang.
        for head in [
            "# -*- coding: latin-1 -*-\n",
            "#!/usr/bin/env python\n# vim: set fileencoding=iso-8859-1 :\n",
            "\n# coding=Latin_1\n",
        ] {
            let mut source = head.as_bytes().to_vec();
            source.extend(b"x = '\xe9'\n");
            let text = decode(&source).unwrap();
            assert!(text.ends_with("x = '\u{e9}'\n"), "{head:?}: {text:?}");
        }
        // Below a line of code, line 2 declares nothing (tokenize.py's
        // blank_re): the file is UTF-8.
        let err = decode(b"import locust\n# coding: latin-1\nx = '\xe9'\n").unwrap_err();
        assert!(
            err.starts_with("line 3 is not UTF-8, which Python reads"),
            "{err}"
        );
        // Line 3 never declares.
        assert!(decode(b"\n\n# coding: latin-1\n'\xe9'\n").is_err());
        assert_eq!(
            decode(b"# coding: utf-8\n'\xc3\xa9'\n").unwrap(),
            "# coding: utf-8\n'\u{e9}'\n"
        );
        assert_eq!(
            decode(b"# coding: utf-8\n\n'\xe9'\n").unwrap_err(),
            "line 3 is not utf-8, which line 1 declares"
        );
        assert_eq!(
            decode(b"# coding: ascii\n'\xc3\xa9'\n").unwrap_err(),
            "line 2 is not ascii, which line 1 declares"
        );
        // Another coding: its ASCII is ASCII; its other bytes lpa cannot
        // read, but a search for Locust's names can.
        assert_eq!(
            decode(b"# coding: cp1252\nx = 1\n").unwrap(),
            "# coding: cp1252\nx = 1\n"
        );
        let cp1252 = b"# coding: cp1252\n\n# \x80 \xe9\n";
        assert_eq!(
            decode(cp1252).unwrap_err(),
            "line 3 is not ASCII, and line 1 declares coding cp1252, which lpa does not read (it reads UTF-8, Latin-1 and ASCII); save the file as UTF-8"
        );
        assert!(decode_for_scan(cp1252)
            .unwrap()
            .starts_with("# coding: cp1252\n\n# "));
        assert!(decode_for_scan(b"x = '\xe9'\n").is_err());
        // Not a coding whose ASCII is ASCII, or not one Python knows: as
        // lpa cannot tell what Python reads, refused (a search still reads
        // the file for Locust, which decides).
        for name in ["utf-7", "utf-16", "cp037", "nonsense"] {
            let text = format!("# coding: {name}\nx = 1\n");
            assert_eq!(
                decode(text.as_bytes()).unwrap_err(),
                format!("line 1 declares coding {name}, which lpa does not read (it reads UTF-8, Latin-1, ASCII, and ASCII text in a coding that keeps it, such as cp1252); save the file as UTF-8")
            );
            assert_eq!(decode_for_scan(text.as_bytes()).unwrap(), text);
        }
        for name in [
            "koi8-r",
            "shift_jis",
            "windows-1251",
            "iso-8859-15",
            "latin-2",
            "cp850",
        ] {
            assert!(
                decode(format!("# coding: {name}\nx = 1\n").as_bytes()).is_ok(),
                "{name}"
            );
        }
        // Emacs's names, as CPython's get_normal_name stems them.
        assert!(decode(b"# -*- coding: iso-latin-1-unix -*-\n'\xe9'\n").is_ok());
        // A BOM is UTF-8's mark, and no declaration; "coding" in code is none.
        assert_eq!(decode(b"\xef\xbb\xbfx = 1\n").unwrap(), "\u{feff}x = 1\n");
        assert_eq!(
            decode(b"coding = 'latin-1'\n").unwrap(),
            "coding = 'latin-1'\n"
        );
        assert!(decode(b"").unwrap().is_empty());
        assert_eq!(
            decode(b"\xef\xbb\xbf# coding: latin-1\n").unwrap_err(),
            "line 1 declares coding latin-1 in a file that starts with UTF-8's byte order mark"
        );
    }
}
