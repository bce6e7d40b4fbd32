//! CSV text in and out, as RFC 4180 has it and Python's `csv` module and
//! spreadsheets write it, through the `csv` crate: a field with a comma,
//! quote, CR or LF is quoted, its quotes doubled, and may hold line breaks.
//! Text in, text out; the caller reads and writes the files.

/// One record and the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: u64,
    pub fields: Vec<String>,
}

/// Text that is not CSV.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("a quoted field is not closed (record {record})")]
    OpenQuote { record: usize, line: u64 },
    #[error("line {line}: {message}")]
    Malformed { line: u64, message: String },
}

/// The 1-based line a csv-crate position is on, for the records of one
/// reader, whose positions only move forward: each line end is counted
/// once. The crate's own line count misses CRLF line ends, and its byte
/// offset may fall on the line ends before a record (a blank line, the LF
/// of a CRLF): the record starts at the first byte after them. Counting from the start for
/// every record made a large file quadratic (a trace of 300 000 rows read
/// for minutes).
pub(crate) struct Lines<'a> {
    bytes: &'a [u8],
    at: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(text: &'a str) -> Lines<'a> {
        Lines {
            bytes: text.as_bytes(),
            at: 0,
            line: 1,
        }
    }

    pub(crate) fn line_at(&mut self, p: Option<&csv::Position>) -> u64 {
        let bytes = self.bytes;
        let mut at = p.map_or(0, |p| p.byte() as usize).min(bytes.len());
        while bytes.get(at).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
            at += 1;
        }
        if at < self.at {
            (self.at, self.line) = (0, 1);
        }
        // A line ends at LF, or at a CR alone (the classic Mac's line end,
        // which the crate reads as one too).
        let ends = (self.at..at).filter(|&i| {
            bytes[i] == b'\n' || (bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
        });
        self.line += ends.count() as u64;
        self.at = at;
        self.line
    }
}

/// Whether `text` has a quote that is never closed. The crate reads one
/// to the end of the text without a word; quotes come in pairs, so an odd
/// count is that quote. Lines starting with `comment` are left out, as
/// the crate skips them unread.
pub(crate) fn unclosed_quote(text: &str, comment: Option<u8>) -> bool {
    let quotes: usize = text
        .split('\n')
        .filter(|l| comment.is_none_or(|c| l.as_bytes().first() != Some(&c)))
        .map(|l| l.matches('"').count())
        .sum();
    quotes % 2 == 1
}

/// The line of the record an unclosed quote opens in (the last one the
/// crate reads, as it runs to the end), if `text` has one; checked before
/// the records are, whose last field holds the rest of the text.
pub(crate) fn open_quote_line(text: &str, comment: Option<u8>) -> Option<u64> {
    if !unclosed_quote(text, comment) {
        return None;
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(comment)
        .from_reader(text.as_bytes());
    let mut record = csv::ByteRecord::new();
    let (mut lines, mut line) = (Lines::new(text), 1);
    while let Ok(true) = reader.read_byte_record(&mut record) {
        line = lines.line_at(record.position());
    }
    Some(line)
}

/// `text` without the byte-order mark spreadsheets put before UTF-8.
pub(crate) fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// The records of `text`, blank lines left out.
pub fn read(text: &str) -> Result<Vec<Record>, CsvError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut lines = Lines::new(text);
    let mut records = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| CsvError::Malformed {
            line: lines.line_at(e.position()),
            message: e.to_string(),
        })?;
        if record.len() == 1 && record[0].trim().is_empty() {
            continue;
        }
        records.push(Record {
            line: lines.line_at(record.position()),
            fields: record.iter().map(str::to_string).collect(),
        });
    }
    if unclosed_quote(text, None) {
        return Err(CsvError::OpenQuote {
            record: records.len(),
            line: records.last().map_or(1, |r| r.line),
        });
    }
    Ok(records)
}

/// Rows as CSV text, each ending in `\n`.
pub fn write<R, F>(rows: impl IntoIterator<Item = R>) -> String
where
    R: IntoIterator<Item = F>,
    F: AsRef<str>,
{
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    for row in rows {
        writer
            .write_record(row.into_iter().map(|f| f.as_ref().to_string()))
            .expect("a CSV writer on memory cannot fail");
    }
    let bytes = writer
        .into_inner()
        .expect("a CSV writer on memory cannot fail");
    String::from_utf8(bytes).expect("CSV of text is text")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<Vec<String>> {
        read(text).unwrap().into_iter().map(|r| r.fields).collect()
    }

    #[test]
    fn quoted_fields_doubled_quotes_and_line_breaks() {
        let text =
            "a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\r\nlines\"\r\n\r\n  \nplain,,end\r\n";
        assert_eq!(
            fields(text),
            [
                vec!["a", "b", "c"],
                vec!["x, y", "say \"hi\"", "two\r\nlines"],
                vec!["plain", "", "end"],
            ]
        );
        let lines = |text| -> Vec<u64> { read(text).unwrap().iter().map(|r| r.line).collect() };
        assert_eq!(lines(text), [1, 2, 6]);
        assert_eq!(lines("a\n\nb\nc"), [1, 3, 4]);
        assert_eq!(lines("a\r\n\r\nb\r\nc"), [1, 3, 4]);
        assert_eq!(fields("a,b\n1,2"), [["a", "b"], ["1", "2"]]);
        assert_eq!(
            read("a\r\n\"open").unwrap_err().to_string(),
            "a quoted field is not closed (record 2)"
        );
    }

    /// Counted as it goes, a line is what counting from the start gives,
    /// and a position behind the last one counts from the start again.
    #[test]
    fn lines_counted_as_they_go_match_lines_counted_from_the_start() {
        let text = "a\r\n\r\n\"b\nc\",d\n\ne\nf";
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let positions: Vec<csv::Position> = reader
            .records()
            .map(|r| r.unwrap().position().unwrap().clone())
            .collect();
        let mut lines = Lines::new(text);
        let forward: Vec<u64> = positions.iter().map(|p| lines.line_at(Some(p))).collect();
        let fresh: Vec<u64> = positions
            .iter()
            .map(|p| Lines::new(text).line_at(Some(p)))
            .collect();
        assert_eq!(forward, fresh);
        assert_eq!(forward, [1, 3, 6, 7]);
        assert_eq!(lines.line_at(Some(&positions[1])), 3);
        assert_eq!(lines.line_at(None), 1);
    }

    /// What is written reads back the same, a CR included (a field with
    /// one must be quoted, or it ends the record).
    #[test]
    fn written_text_reads_back() {
        let rows = [
            vec!["plain", "a, b", "say \"hi\""],
            vec!["cr\ronly", "lf\nonly", ""],
        ];
        let text = write(&rows);
        assert_eq!(
            text,
            "plain,\"a, b\",\"say \"\"hi\"\"\"\n\"cr\ronly\",\"lf\nonly\",\n"
        );
        assert_eq!(fields(&text), rows);
    }
}
