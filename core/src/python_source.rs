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

use crate::python_codings::CODINGS;

/// What a coding declaration names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Utf8,
    Latin1,
    Ascii,
    /// A coding lpa has no table for that keeps ASCII as it is (cp1252,
    /// koi8-r, shift_jis, ...).
    Other,
}

impl Coding {
    /// The coding Python reads for `name`, when lpa reads it: its
    /// tokenizer's own names first (`get_normal_name`), then its codec
    /// lookup's ([`CODINGS`]), which refuses `latin-2` and knows `ms932`.
    fn named(name: &str) -> Option<Coding> {
        match tokenizer_name(name) {
            Some(coding) => Some(coding),
            None => {
                let key = lookup_key(name);
                let find = |key: &str| {
                    let i = CODINGS.binary_search_by(|(n, ..)| n.cmp(&key)).ok()?;
                    Some(CODINGS[i])
                };
                // An alias is looked up again with `_` for `.`; a module's
                // name is not (`iso.8859.1` is read, `euc.jp` is not).
                find(&key).map(|(_, coding, _)| coding).or_else(|| {
                    find(&key.replace('.', "_"))
                        .filter(|&(_, _, alias)| alias)
                        .map(|(_, coding, _)| coding)
                })
            }
        }
    }
}

/// CPython's tokenizer reads "utf-8", "latin-1" and names that start with
/// them (`utf-8-...`, `iso-latin-1-...`) itself, before any lookup: of its
/// first 12 characters, lower case, `_` read as `-` (get_normal_name). It
/// takes a byte order mark beside these UTF-8 names only.
fn tokenizer_name(name: &str) -> Option<Coding> {
    let name: String = name
        .chars()
        .take(12)
        .map(|c| {
            if c == '_' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    let stem = |s: &str| name == s || name.starts_with(&format!("{s}-"));
    if stem("utf-8") {
        Some(Coding::Utf8)
    } else if ["latin-1", "iso-8859-1", "iso-latin-1"]
        .into_iter()
        .any(stem)
    {
        Some(Coding::Latin1)
    } else {
        None
    }
}

/// `name` as Python's codec lookup looks it up: lower case, each run of
/// characters other than letters, digits and `.` one `_`, none at the ends
/// (`encodings.normalize_encoding`).
fn lookup_key(name: &str) -> String {
    let mut key = String::new();
    let mut gap = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            if gap && !key.is_empty() {
                key.push('_');
            }
            key.push(c.to_ascii_lowercase());
            gap = false;
        } else {
            gap = true;
        }
    }
    key
}

/// The source as text, or why it cannot be read, starting "line N".
pub fn decode(bytes: &[u8]) -> Result<String, String> {
    let declared = declaration(bytes);
    let coding = match &declared {
        None => Coding::Utf8,
        // Python too refuses a BOM beside another coding.
        Some((line, name))
            if bytes.starts_with(b"\xef\xbb\xbf")
                && tokenizer_name(name) != Some(Coding::Utf8) =>
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
        // Python's codec lookup does not know latin-2 (it knows latin2),
        // windows-874, 8859-15 or euc.jp.
        for name in [
            "utf-7",
            "utf-16",
            "cp037",
            "nonsense",
            "latin-2",
            "windows-874",
            "8859-15",
            "euc.jp",
        ] {
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
            "latin2",
            "cp850",
            "ms932",
            "tis620",
            "1252",
            "l2",
            "macroman",
            "iso.8859.15",
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
        // Python takes a BOM beside its tokenizer's own "utf-8" only:
        // "encoding problem: utf8 with BOM".
        for name in ["latin-1", "utf8", "u8"] {
            assert_eq!(
                decode(format!("\u{feff}# coding: {name}\n").as_bytes()).unwrap_err(),
                format!("line 1 declares coding {name} in a file that starts with UTF-8's byte order mark")
            );
        }
        assert!(decode("\u{feff}# coding: UTF_8_sig\n".as_bytes()).is_ok());
    }
}
