//! Locust's failure kinds: its failures CSV (`Method,Name,Error,Occurrences,
//! First Seen,Last Seen` in Locust 2.47) into the metric JSON's `failures`,
//! keyed `"{METHOD}_{name}: {error}"` as the native driver keys them.
//!
//! The CSV is written by [`PLUGIN`] at Locust's exit, not by `--csv` (see
//! the plugin for why). Columns are found by their header, so a Locust that
//! adds or moves columns still reads.

use std::collections::BTreeMap;

use lpa_core::config::request_key;
use lpa_core::csv_text::{self, CsvError};
use lpa_core::wire::FailureStats;

use crate::load::{failure_words, tally};

/// The Python module lpa loads beside the locustfile; it writes
/// [`CSV_NAME`] into its own directory when Locust exits.
pub const PLUGIN: &str = include_str!("lpa_failures.py");
/// The plugin's file name (Locust takes only `.py` locustfiles).
pub const PLUGIN_NAME: &str = "lpa_failures.py";
/// The CSV the plugin writes.
pub const CSV_NAME: &str = "failures.csv";

/// Why a failures CSV cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FailuresError {
    #[error("empty file")]
    Empty,
    #[error(transparent)]
    Csv(#[from] CsvError),
    #[error("no {column} column in header {header}")]
    NoColumn {
        column: &'static str,
        header: String,
    },
    #[error("row {row}: {fields} fields, header has {header}")]
    Short {
        row: usize,
        fields: usize,
        header: usize,
    },
    #[error("row {row}: occurrences {value:?} is not a count")]
    Count { row: usize, value: String },
}

/// The failure kinds of a failures CSV. Rows whose error differs only in a
/// memory address become one kind (see [`normalise`]).
pub fn parse(text: &str) -> Result<BTreeMap<String, FailureStats>, FailuresError> {
    let mut records = csv_text::read(text)?.into_iter().map(|r| r.fields);
    let header = records.next().ok_or(FailuresError::Empty)?;
    let column = |column: &'static str| {
        header
            .iter()
            .position(|h| h == column)
            .ok_or_else(|| FailuresError::NoColumn {
                column,
                header: header.join(","),
            })
    };
    let (method, name, error, occurrences) = (
        column("Method")?,
        column("Name")?,
        column("Error")?,
        column("Occurrences")?,
    );
    let mut rows = Vec::new();
    for (i, row) in records.enumerate() {
        let field = |col: usize| {
            row.get(col)
                .map(String::as_str)
                .ok_or(FailuresError::Short {
                    row: i + 2,
                    fields: row.len(),
                    header: header.len(),
                })
        };
        let count = field(occurrences)?;
        let count: u64 = count.parse().map_err(|_| FailuresError::Count {
            row: i + 2,
            value: count.to_string(),
        })?;
        let request = (
            field(method)?.to_ascii_uppercase(),
            field(name)?.to_string(),
        );
        rows.push((request, failure_words(normalise(field(error)?)), count));
    }
    // Bounded as the native driver's are (Locust's words hold the URL),
    // the most frequent kept: Locust writes its rows in no useful order.
    rows.sort_by_key(|row| std::cmp::Reverse(row.2));
    let mut kinds: BTreeMap<((String, String), String), u64> = BTreeMap::new();
    for (request, error, count) in rows {
        tally(&mut kinds, request, error, count);
    }
    Ok(kinds
        .into_iter()
        .map(|(((method, name), error), occurrences)| {
            let key = format!("{}: {error}", request_key(&method, &name));
            let stats = FailureStats {
                method,
                name,
                error,
                occurrences,
            };
            (key, stats)
        })
        .collect())
}

/// Masks memory addresses as Locust itself does (`StatsError.parse_error`:
/// `object at 0x7f3a...` -> `object at 0x....`). Locust masks only the
/// first `object at` of an error, so an error naming a function or lambda
/// (`<function <lambda> at 0x7f...>`) gets a row per address: one failure
/// kind split into as many rows as objects the run happened to allocate. The
/// address says nothing about what failed, and the kinds are counted for a
/// person (and evaluate's top-three line), so lpa masks every ` at 0x<hex>`.
pub fn normalise(error: &str) -> String {
    const AT: &str = " at 0x";
    let mut out = String::with_capacity(error.len());
    let mut rest = error;
    while let Some(i) = rest.find(AT) {
        let after = &rest[i + AT.len()..];
        let hex = after
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(after.len());
        out.push_str(&rest[..i + AT.len()]);
        if hex > 0 {
            out.push_str("....");
        }
        rest = &after[hex..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Python's `csv.writer` quotes a field with a comma, quote or line
    /// break (an error string a locustfile made itself), doubles quotes,
    /// and ends lines in `\r\n`.
    #[test]
    fn quoted_fields_doubled_quotes_and_line_breaks() {
        let text =
            "Method,Name,Error,Occurrences\r\nGET,\"x, y\",\"say \"\"hi\"\"\r\ntwice\",2\r\n";
        let f = &parse(text).unwrap()["GET_x, y: say \"hi\"\r\ntwice"];
        assert_eq!((f.name.as_str(), f.occurrences), ("x, y", 2));
        assert_eq!(
            parse("Method\r\n\"open").unwrap_err().to_string(),
            "a quoted field is not closed (record 2)"
        );
    }

    #[test]
    fn addresses_are_masked_everywhere_and_nothing_else_changes() {
        assert_eq!(
            normalise(
                "RuntimeError(<function <lambda> at 0x7f3a9c1b2d30>, <object object at 0x....>)"
            ),
            "RuntimeError(<function <lambda> at 0x....>, <object object at 0x....>)"
        );
        assert_eq!(
            normalise("ConnectionRefusedError(111, 'Connection refused')"),
            "ConnectionRefusedError(111, 'Connection refused')"
        );
        assert_eq!(normalise("ends at 0x"), "ends at 0x");
        assert_eq!(normalise("at 0xg"), "at 0xg");
    }

    /// Locust words a failure with its URL: a Location unlike every other
    /// made a kind per request. Kept as the native driver's are: 32 kinds
    /// of each request, the most frequent, the rest "other", each cut at
    /// 200 characters; none goes uncounted, and another request's kinds
    /// keep their places.
    #[test]
    fn kinds_are_bounded_as_the_native_drivers() {
        let mut csv = String::from("Method,Name,Error,Occurrences\n");
        for i in 0..40 {
            let pad = "x".repeat(300);
            csv.push_str(&format!("GET,/a,InvalidURL('app:/cb?n={i}&pad={pad}'),2\n"));
        }
        csv.push_str("GET,/a,HTTPError('503'),50\nGET,/b,HTTPError('500'),7\n");
        let failures = parse(&csv).unwrap();
        assert_eq!(failures.len(), 34);
        let other = &failures["GET_/a: other failures (a run keeps 32 kinds)"];
        assert_eq!(other.occurrences, 18);
        assert_eq!(failures["GET_/a: HTTPError('503')"].occurrences, 50);
        assert_eq!(failures["GET_/b: HTTPError('500')"].occurrences, 7);
        assert_eq!(failures.values().map(|f| f.occurrences).sum::<u64>(), 137);
        assert!(failures.values().all(|f| f.error.chars().count() <= 203));
    }

    /// A real failures CSV (fixtures/locust/recorded/README.md): its kinds
    /// add up to the failures of Locust's JSON of the same run, per request.
    #[test]
    fn recorded_failure_kinds_add_up_to_the_json() {
        let csv = include_str!("../../../fixtures/locust/recorded/failure_kinds_failures.csv");
        let json = include_str!("../../../fixtures/locust/recorded/failure_kinds.json");
        let failures = parse(csv).unwrap();
        let entries = super::super::stats::parse_entries(json).unwrap();
        for e in &entries {
            let kinds: u64 = failures
                .values()
                .filter(|f| f.method == e.method && f.name == e.name)
                .map(|f| f.occurrences)
                .sum();
            assert_eq!(kinds, e.num_failures, "{} {}", e.method, e.name);
        }
        let errors: Vec<(&str, &str)> = failures
            .iter()
            .map(|(k, f)| (k.as_str(), f.error.as_str()))
            .collect();
        assert_eq!(
            errors,
            [
                (
                    "GET_/delay?ms=1: CatchResponseError('body said \"no\", twice\\nthen stopped')",
                    "CatchResponseError('body said \"no\", twice\\nthen stopped')"
                ),
                (
                    "GET_/status/503: HTTPError('503 Server Error: Service Unavailable for url: /status/503')",
                    "HTTPError('503 Server Error: Service Unavailable for url: /status/503')"
                ),
                (
                    "GET_lambda: RuntimeError(<function Kinds.lambda_.<locals>.<lambda> at 0x....>)",
                    "RuntimeError(<function Kinds.lambda_.<locals>.<lambda> at 0x....>)"
                ),
                (
                    "GET_refused: ConnectionRefusedError(111, 'Connection refused')",
                    "ConnectionRefusedError(111, 'Connection refused')"
                ),
            ]
        );
    }

    #[test]
    fn odd_files_do_not_panic() {
        for text in [
            "\"",
            "\r",
            "\r\r\n\n",
            ",,,\n",
            "Method,Name,Error,Occurrences\n\"a\"b,c,d,1\n",
            "Method,Name,Error,Occurrences\nGET,é,x at 0xé at 0x,1",
            "Occurrences,Error,Name,Method\n18446744073709551616,e,n,m\n",
        ] {
            let _ = parse(text);
        }
        assert_eq!(normalise("é at 0xffé"), "é at 0x....é");
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let err = |text| parse(text).unwrap_err().to_string();
        assert_eq!(err(""), "empty file");
        assert_eq!(
            err("Method,Name,Error\r\n"),
            "no Occurrences column in header Method,Name,Error"
        );
        assert_eq!(
            err("Method,Name,Error,Occurrences\r\nGET,/x,boom,many\r\n"),
            "row 2: occurrences \"many\" is not a count"
        );
        assert_eq!(
            err("Method,Name,Error,Occurrences\r\nGET,/x\r\n"),
            "row 2: 2 fields, header has 4"
        );
        // A header alone: a run without failures.
        assert!(
            parse("Method,Name,Error,Occurrences,First Seen,Last Seen\r\n")
                .unwrap()
                .is_empty()
        );
    }

    /// The plugin words an unanswered request as the native driver does,
    /// so a hang is one failure kind whichever driver ran.
    #[test]
    fn the_plugin_words_an_unanswered_request_as_the_native_driver() {
        let line = format!("NO_RESPONSE = \"{}\"", crate::load::UNANSWERED);
        assert!(PLUGIN.contains(&line), "{line}");
    }
}
