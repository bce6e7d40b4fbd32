//! One parse path for every text lpa-core reads: the YAML files (evaluation
//! config, scenarios, sweeps) and the JSON wire formats (CPA stdin, metric
//! JSON).
//!
//! ```text
//!  text ──► Value ──► serde_ignored (unknown keys) ──► serde_path_to_error (path)
//!                         ──► #[derive(Deserialize)] raw types ──► validate ──► typed result
//! ```
//!
//! Leaf fields are newtypes that check themselves and fail with
//! `invalid value X (expected Y)`; everything else serde reports is put in
//! the same words, so every failure is one [`ParseError`] naming the file,
//! the field path (`targets[2].type`), the value and what was expected.
//! Checks that need several fields (`maxReplicas >= minReplicas`) run after
//! deserializing, on the raw types, and report through the same error.

use std::fmt;
use std::time::Duration;

use serde::de::{self, DeserializeOwned, Deserializer};
use serde::Deserialize;

use crate::duration::parse_duration;

/// Which syntax a text is in; it decides how values are shown in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    /// A recorded trace's rows (arrivals, rates).
    Csv,
}

/// What every parser of lpa-core fails with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    #[error("{file}: {}: {message}", match .format { Format::Yaml => "malformed YAML", Format::Json => "not JSON", Format::Csv => "malformed CSV" })]
    Syntax {
        file: String,
        format: Format,
        message: String,
    },
    #[error("{file}: {path}: invalid value {value} (expected {expected})")]
    Invalid {
        file: String,
        path: String,
        value: String,
        expected: String,
    },
    #[error("{file}: {path}: missing (expected {expected})")]
    Missing {
        file: String,
        path: String,
        expected: String,
    },
    /// A key the dialect does not have, where unknown keys are errors.
    #[error("{file}: {path}: invalid value (unknown field) (expected one of {}{})", .known.join(", "), suggestion_text(.suggestion, "; "))]
    Unknown {
        file: String,
        path: String,
        known: Vec<String>,
        suggestion: Option<String>,
    },
}

fn suggestion_text(s: &Option<String>, sep: &str) -> String {
    s.as_ref()
        .map(|s| format!("{sep}did you mean {s:?}?"))
        .unwrap_or_default()
}

/// The fields a dialect knows, by where they sit: the path of the mapping
/// with list indices as `[]` (`""` for the top level, `targets[]`), and
/// the names a raw type accepts there ([`fields_of`]).
pub(crate) type Known<'a> = &'a [(&'a str, &'static [&'static str])];

/// Something accepted but probably not meant: an unknown field, a number
/// written as a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: String,
    pub path: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.path, self.message)
    }
}

/// A parse result plus the warnings the caller should print.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    pub value: T,
    pub warnings: Vec<Warning>,
}

/// The one rule for keys lpa does not know: they never pass silently. In
/// what a running autoscaler reads (the evaluation config) they are
/// warnings, since a typo must not take scaling down; in what an offline
/// tool reads (scenarios, sweeps) they are errors, since a typo would
/// silently simulate something else. Wire formats are other programs'
/// objects (a whole Deployment) and are read, not checked, beyond lpa's
/// fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnknownKeys {
    Warn,
    Deny,
    Ignore,
}

/// Where in a document a value sits, and the file it came from: what the
/// validation step after deserializing reports through.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At<'a> {
    pub(crate) file: &'a str,
    pub(crate) format: Format,
}

impl At<'_> {
    pub(crate) fn invalid(&self, path: &str, value: impl Show, expected: &str) -> ParseError {
        ParseError::Invalid {
            file: self.file.to_string(),
            path: path.to_string(),
            value: value.show(self.format),
            expected: expected.to_string(),
        }
    }

    pub(crate) fn missing(&self, path: &str, expected: &str) -> ParseError {
        ParseError::Missing {
            file: self.file.to_string(),
            path: path.to_string(),
            expected: expected.to_string(),
        }
    }

    pub(crate) fn warning(&self, path: &str, message: String) -> Warning {
        Warning {
            file: self.file.to_string(),
            path: path.to_string(),
            message,
        }
    }
}

/// A value as an error shows it.
pub(crate) trait Show {
    fn show(&self, format: Format) -> String;
}

impl Show for &Raw {
    fn show(&self, format: Format) -> String {
        show(&self.0, format)
    }
}

impl Show for &str {
    fn show(&self, _: Format) -> String {
        self.to_string()
    }
}

impl Show for String {
    fn show(&self, _: Format) -> String {
        self.clone()
    }
}

/// serde_yaml puts a duplicate key "at line L column C" of the mapping's
/// first key, which in a long mapping is not where the second one is: the
/// line is moved to the duplicate's, the first one's named beside it. A
/// key it cannot find in block style (a flow mapping, an escaped key)
/// keeps serde_yaml's position.
fn duplicate_at_its_line(text: &str, message: &str) -> String {
    let find = || -> Option<String> {
        let (head, rest) = message.split_once("duplicate entry with key \"")?;
        let (key, line, column, tail) = match rest.split_once("\" at line ") {
            Some((key, rest)) => {
                let (line, rest) = rest.split_once(" column ")?;
                let digits = rest
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len());
                let (column, tail) = rest.split_at(digits);
                (
                    key,
                    line.parse::<usize>().ok()?,
                    column.parse::<usize>().ok()?,
                    tail,
                )
            }
            // The top level's, which serde_yaml gives no position.
            None => (rest.strip_suffix('"')?, 1, 1, ""),
        };
        if key.contains(['\\', '"', '\'']) || line == 0 || column == 0 {
            return None;
        }
        let indent = column - 1;
        let names_key = |after: &str| {
            [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
                .iter()
                .any(|k| {
                    after
                        .strip_prefix(k.as_str())
                        .is_some_and(|r| r.trim_start().starts_with(':'))
                })
        };
        let mut seen = Vec::new();
        for (n, l) in text.lines().enumerate().skip(line - 1) {
            let n = n + 1;
            let content = l.trim_start();
            if n > line && !content.is_empty() && !content.starts_with('#') {
                let at = l.chars().count() - content.chars().count();
                if at < indent {
                    break;
                }
                if at > indent {
                    continue;
                }
            }
            let after: String = l.chars().skip(indent).collect();
            if names_key(&after) {
                seen.push(n);
            }
        }
        let (first, second) = (*seen.first()?, *seen.get(1)?);
        Some(format!(
            "{head}duplicate entry with key \"{key}\" at line {second} column {column} (first at line {first}){tail}"
        ))
    };
    find().unwrap_or_else(|| message.to_string())
}

/// Above serde_yaml's limit of 128 nested levels, so that nothing it could
/// read is refused: brackets in plain scalars (`/a[0]`) count here too.
const MAX_FLOW_DEPTH: usize = 200;

/// A YAML document as a value, for YAML that is no settings file of lpa's
/// (CPA's config and its env vars), read as CPA's decoder reads it (Go's
/// YAMLOrJSONDecoder): the first document, merge keys applied. Refused
/// past [`MAX_FLOW_DEPTH`] as [`from_yaml`] refuses it.
pub fn yaml_value(text: &str) -> Result<serde_yaml::Value, String> {
    use de::DeserializeSeed;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(message) = too_deep(text).or_else(|| too_many_nodes(text)) {
        return Err(message);
    }
    // A second document CPA never reads; read whole, lpa refused the
    // file, and CPA's maxReplicas: 5 went unread.
    let mut value = match serde_yaml::Deserializer::from_str(text).next() {
        Some(first) => LastWins.deserialize(first).map_err(|e| e.to_string())?,
        None => serde_yaml::Value::Null,
    };
    // Go reads JSON without merge keys, and YAML's in the order written.
    let merges = if go_reads_json(text) {
        Ok(())
    } else {
        apply_merge_keys(&mut value, &mut String::new(), Merge::InOrder)
    };
    merges.map_err(|(at, v)| {
        format!(
            "{at}: a merge of {}, not a mapping or a list of mappings",
            show(&v, Format::Yaml)
        )
    })?;
    Ok(value)
}

/// A YAML value with the last of a key written twice in a mapping, as
/// Go's goyaml.v2 (and its JSON) keeps it, where serde_yaml refuses the
/// file: CPA ran with the second `maxReplicas`, and lpa with none.
struct LastWins;

impl<'de> de::DeserializeSeed<'de> for LastWins {
    type Value = serde_yaml::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> de::Visitor<'de> for LastWins {
    type Value = serde_yaml::Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
        Ok(b.into())
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
        Ok(n.into())
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
        Ok(n.into())
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
        Ok(n.into())
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(text.into())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(serde_yaml::Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(serde_yaml::Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        de::DeserializeSeed::deserialize(self, d)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(LastWins)? {
            items.push(item);
        }
        Ok(serde_yaml::Value::Sequence(items))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut mapping = serde_yaml::Mapping::new();
        while let Some(key) = map.next_key_seed(LastWins)? {
            // In place of the first: Go's JSON sets a field from each key
            // in turn, so of two spellings of one field (`maxReplicas`,
            // `MaxReplicas`) the later one's last place would win, where
            // this keeps the first's place.
            let value = map.next_value_seed(LastWins)?;
            mapping.insert(key, value);
        }
        Ok(serde_yaml::Value::Mapping(mapping))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        use de::VariantAccess;
        let (tag, contents) = data.variant::<String>()?;
        let value = contents.newtype_variant_seed(LastWins)?;
        Ok(serde_yaml::Value::Tagged(Box::new(
            serde_yaml::value::TaggedValue {
                tag: serde_yaml::value::Tag::new(tag),
                value,
            },
        )))
    }
}

/// More values than any file of settings holds (a few hundred), its
/// aliases expanded: 340 KB that merged one 5000-key anchor into 9000
/// mappings made 45 million values, 3 GB, and an abort. Text counts a
/// value per [`BYTES_PER_NODE`] bytes: one 400 KB string aliased 75 000
/// times asked for 30 GB. A number's text is not seen, but each alias of
/// it is parsed again: a number counts as the longest text one could
/// have in the file ([`number_values`]), where a 500 KB `0x0...01`
/// aliased 120 000 times counted as 120 000 values and took 135 s. A file
/// without aliases is read once, whatever it holds, and not counted.
const MAX_NODES: u64 = 1_000_000;
const BYTES_PER_NODE: u64 = 32;

/// The most keys of one mapping, its merges (`<<`) included, that are
/// numbers with a fraction, or hold one: serde_yaml hashes every float
/// alike, and each such key is compared with every other (a 1 MB file of
/// `0.`, `1.`, ... keys took minutes; 1000 merged mappings of 100 each,
/// 52 s). A file of settings has none.
const MAX_FLOAT_KEYS: u64 = 100;

/// Why [`Nodes`] stopped.
#[derive(Clone, Copy)]
enum Refused {
    FloatKeys,
    /// A key that is a list or a mapping: serde_yaml hashes a mapping as
    /// the XOR of its entries' hashes, which keys can be chosen to
    /// cancel (3000 such keys of 936 KB took 9.2 s). Go's YAML refuses
    /// such a key, and a file of settings has none.
    CollectionKey,
}

/// Why `text` is refused unread, when its first document holds more than
/// [`MAX_NODES`] values with its aliases expanded, or a mapping with more
/// than [`MAX_FLOAT_KEYS`] float keys, found without keeping any value
/// (and stopped at the limit). Other errors are the parse's to report.
fn too_many_nodes(text: &str) -> Option<String> {
    let aliased = has_alias(text);
    let read = if aliased {
        read_once(text, MAX_NODES, number_values(text))?
    } else {
        read_once(text, u64::MAX, 1)?
    };
    match read.refused {
        Some(Refused::FloatKeys) => return Some(format!("a mapping with more than {MAX_FLOAT_KEYS} keys, its merges (<<) included, that are numbers with a fraction (such as 1.5:), which take time that grows with their square to read; a file of settings has none")),
        Some(Refused::CollectionKey) => return Some("a key that is a list or a mapping (such as ? [a, b]), which a file of settings never has".to_string()),
        None => {}
    }
    (read.count > MAX_NODES).then(|| {
        format!("more than {MAX_NODES} values (or {} MB of text) once its aliases (*name) are expanded; a file of settings holds a few hundred", MAX_NODES * BYTES_PER_NODE / 1_000_000)
    })
}

/// Whether `text` may hold an alias: a `*` with a name after it, where a
/// YAML token starts (a line's start, a space, or `[ { , : ?` before it;
/// libyaml also breaks lines at NEL, LS and PS, whose UTF-8 ends in 0x85,
/// 0xa8 or 0xa9, and passes over a byte order mark, ending in 0xbf, at a
/// line's start). One in a string or a comment reads as one, and costs
/// only a count.
fn has_alias(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.windows(2).enumerate().any(|(i, w)| {
        w[0] == b'*'
            && !(w[1].is_ascii_whitespace() || b",[]{}".contains(&w[1]))
            && (i == 0
                || bytes[i - 1].is_ascii_whitespace()
                || b"[{,:?\x85\xa8\xa9\xbf".contains(&bytes[i - 1]))
    })
}

/// What a number counts toward [`MAX_NODES`]: its text at its longest, the
/// longest run written as a YAML number is (`0x...`, digits and `.e+-_`;
/// in a file of settings, a dozen characters; a hex digest is no number).
/// A tag can make a number of a quoted scalar, whose text may be folded
/// over lines and escaped (`!!int "0x000\` ...): with a tag, the longest
/// scalar a tag could make one of ([`longest_tagged`]).
fn number_values(text: &str) -> u64 {
    let tagged = ["!!", "!<", "%TAG"].iter().any(|t| text.contains(t));
    let run = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || "._+-".contains(c)))
        .filter(|run| number_like(run))
        .map(str::len)
        .max()
        .unwrap_or(0);
    let tagged = if tagged { longest_tagged(text) } else { 0 };
    1 + run.max(tagged) as u64 / BYTES_PER_NODE
}

/// At least the length of the longest scalar in `text` a tag could make a
/// number of: the longest string of the text read once with each `!!` tag
/// made one of lpa's own (`!x`), under which serde_yaml keeps a quoted
/// scalar's text; the whole text where a verbatim tag or a %TAG directive
/// could name `int` too, or where the text does not read so. Its quotes
/// counted, two quoted words or a comment's around a scenario's numbers
/// refused it.
fn longest_tagged(text: &str) -> usize {
    if text.contains("!<") || text.contains("%TAG") {
        return text.len();
    }
    match read_once(&text.replace("!!", "!x"), MAX_NODES, 1) {
        Some(read) if read.whole => read.longest,
        _ => text.len(),
    }
}

/// What [`Nodes`] found of the first document of `text`, each number
/// counted `number`, stopped past `limit`; `None` without a document.
fn read_once(text: &str, limit: u64, number: u64) -> Option<ReadOnce> {
    use de::DeserializeSeed;
    let (count, refused) = (std::cell::Cell::new(0), std::cell::Cell::new(None));
    let longest = std::cell::Cell::new(0);
    let document = serde_yaml::Deserializer::from_str(text).next()?;
    let nodes = Nodes {
        count: &count,
        limit,
        number,
        refused: &refused,
        longest: &longest,
    };
    let whole = nodes.deserialize(document).is_ok();
    Some(ReadOnce {
        whole,
        count: count.get(),
        refused: refused.get(),
        longest: longest.get(),
    })
}

struct ReadOnce {
    /// Read to its end: under the limit, nothing refused, no error.
    whole: bool,
    count: u64,
    refused: Option<Refused>,
    /// The longest string.
    longest: usize,
}

/// Whether `run` is written as a YAML number may be: a sign, then `0x`,
/// `0o` or `0b` and their digits, or decimal digits with `.`, `_` and an
/// exponent.
fn number_like(run: &str) -> bool {
    let run = run.trim_start_matches(['+', '-']);
    let digits = |rest: &str, radix: u32| rest.chars().all(|c| c.is_digit(radix) || c == '_');
    let lower = run.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("0x") {
        digits(rest, 16)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        digits(rest, 8)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        digits(rest, 2)
    } else {
        run.bytes().any(|b| b.is_ascii_digit())
            && run
                .bytes()
                .all(|b| b.is_ascii_digit() || b"._eE+-".contains(&b))
    }
}

/// Counts the values of a document, and fails past its limit, at a key
/// that is a list or a mapping, or at a mapping of too many float keys.
#[derive(Clone, Copy)]
struct Nodes<'c> {
    count: &'c std::cell::Cell<u64>,
    /// [`MAX_NODES`] where aliases may expand values; none where each is
    /// read once.
    limit: u64,
    /// What a number counts: [`number_values`].
    number: u64,
    refused: &'c std::cell::Cell<Option<Refused>>,
    /// The longest string read.
    longest: &'c std::cell::Cell<usize>,
}

/// What [`Nodes`] saw of a value.
#[derive(Clone, Copy, Default)]
struct Seen {
    /// It is or holds a float.
    float: bool,
    /// It is a list or a mapping.
    collection: bool,
    /// Of a mapping, its float keys, its merges' included; of a list, its
    /// mappings' (a merge of several).
    float_keys: u64,
    /// It is `<<`, a merge's key.
    merge: bool,
}

impl Nodes<'_> {
    fn one<E: de::Error>(&self) -> Result<Seen, E> {
        self.add(1)
    }

    fn add<E: de::Error>(&self, n: u64) -> Result<Seen, E> {
        self.count.set(self.count.get().saturating_add(n));
        if self.count.get() > self.limit {
            return Err(E::custom("too many values"));
        }
        Ok(Seen::default())
    }

    fn refuse<E: de::Error>(&self, why: Refused) -> E {
        self.refused.set(Some(why));
        E::custom("refused")
    }
}

impl<'de> de::DeserializeSeed<'de> for Nodes<'_> {
    type Value = Seen;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Seen, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> de::Visitor<'de> for Nodes<'_> {
    type Value = Seen;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Seen, E> {
        self.one()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Seen, E> {
        self.add(self.number)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Seen, E> {
        self.add(self.number)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Seen, E> {
        let seen = self.add(self.number)?;
        Ok(Seen {
            float: true,
            ..seen
        })
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Seen, E> {
        self.longest.set(self.longest.get().max(text.len()));
        let seen = self.add(1 + text.len() as u64 / BYTES_PER_NODE)?;
        Ok(Seen {
            merge: text == "<<",
            ..seen
        })
    }
    fn visit_unit<E: de::Error>(self) -> Result<Seen, E> {
        self.one()
    }
    fn visit_none<E: de::Error>(self) -> Result<Seen, E> {
        self.one()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Seen, D::Error> {
        de::DeserializeSeed::deserialize(self, d)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Seen, A::Error> {
        let mut seen = Seen {
            collection: true,
            ..self.one()?
        };
        while let Some(item) = seq.next_element_seed(self)? {
            seen.float |= item.float;
            seen.float_keys = seen.float_keys.saturating_add(item.float_keys);
        }
        Ok(seen)
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Seen, A::Error> {
        let mut seen = Seen {
            collection: true,
            ..self.one()?
        };
        while let Some(key) = map.next_key_seed(self)? {
            if key.collection {
                return Err(self.refuse(Refused::CollectionKey));
            }
            let value = map.next_value_seed(self)?;
            let keys = if key.merge {
                value.float_keys
            } else {
                u64::from(key.float)
            };
            seen.float_keys = seen.float_keys.saturating_add(keys);
            if seen.float_keys > MAX_FLOAT_KEYS {
                return Err(self.refuse(Refused::FloatKeys));
            }
            seen.float |= key.float | value.float;
        }
        Ok(seen)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Seen, A::Error> {
        use de::VariantAccess;
        let (tag, variant) = data.variant_seed(self)?;
        let seen = variant.newtype_variant_seed(self)?;
        Ok(Seen {
            float: tag.float | seen.float,
            ..seen
        })
    }
}

/// Why `text` is refused unread, when its brackets open more than
/// [`MAX_FLOW_DEPTH`] deep, counted without parsing. libyaml scans the
/// whole document before serde_yaml's depth limit stops it, in time that
/// grows with the square of the depth: 100 000 `[` after `a: ` took 19 s,
/// and the 1 MiB a settings file may hold would take half an hour.
fn too_deep(text: &str) -> Option<String> {
    let mut depth = 0usize;
    let (mut line, mut column) = (1, 0);
    for c in text.chars() {
        column += 1;
        match c {
            '\n' => (line, column) = (line + 1, 0),
            '[' | '{' => depth += 1,
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_FLOW_DEPTH {
            return Some(format!(
                "more than {MAX_FLOW_DEPTH} nested [ or {{ at line {line} column {column}; a document nested that deep cannot be read"
            ));
        }
    }
    None
}

/// Parses a YAML document into `T`. `known` names the fields of each
/// mapping, for the message about an unknown key.
pub(crate) fn from_yaml<T: DeserializeOwned>(
    file: &str,
    text: &str,
    unknown: UnknownKeys,
    known: Known<'_>,
) -> Result<Parsed<T>, ParseError> {
    // Windows editors save UTF-8 with a byte order mark, which serde_yaml
    // reads as the start of a second document.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(message) = too_deep(text).or_else(|| too_many_nodes(text)) {
        return Err(ParseError::Syntax {
            file: file.to_string(),
            format: Format::Yaml,
            message,
        });
    }
    let mut root: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        integer_too_large(file, &e.to_string()).unwrap_or_else(|| ParseError::Syntax {
            file: file.to_string(),
            format: Format::Yaml,
            message: duplicate_at_its_line(text, &e.to_string()),
        })
    })?;
    // An empty document is an empty mapping: every field then reads as
    // missing, which names what to write.
    if root.is_null() {
        root = serde_yaml::Value::Mapping(Default::default());
    }
    // Merge keys (`<<: *defaults`), which PyYAML applied for the original:
    // serde_yaml keeps `<<` as a key of its own unless told.
    apply_merge_keys(&mut root, &mut String::new(), Merge::OwnKeysWin).map_err(
        |(path, value)| ParseError::Invalid {
            file: file.to_string(),
            path,
            value: show(&value, Format::Yaml),
            expected:
                "a mapping or a list of mappings to merge, such as <<: *defaults or <<: [*a, *b]"
                    .to_string(),
        },
    )?;
    if let Some((path, value)) = tagged(&root, &mut String::new()) {
        return Err(ParseError::Invalid {
            file: file.to_string(),
            path: if path.is_empty() { "(top level)".to_string() } else { path },
            value: show(value, Format::Yaml),
            expected: "a value without a tag: lpa reads YAML's own types, and would drop a tag such as !custom".to_string(),
        });
    }
    from_tree(file, Format::Yaml, &root, unknown, known, &mut |path| {
        value_at(&root, path).map(|v| show(v, Format::Yaml))
    })
}

/// `path` (`a.b[0]`) one mapping key deeper: `.key`, or the key as the
/// document writes it when it is not a string.
fn push_key(path: &mut String, key: &serde_yaml::Value) {
    if !path.is_empty() {
        path.push('.');
    }
    match key {
        serde_yaml::Value::String(k) => path.push_str(k),
        other => path.push_str(&show(other, Format::Yaml)),
    }
}

/// The first value with a tag YAML's core schema does not resolve (those
/// it does are numbers and strings by now), and where: serde read
/// `targets: !custom [...]` as the list, the tag gone in silence.
fn tagged<'v>(
    value: &'v serde_yaml::Value,
    path: &mut String,
) -> Option<(String, &'v serde_yaml::Value)> {
    use serde_yaml::Value;
    let len = path.len();
    match value {
        Value::Tagged(_) => Some((path.clone(), value)),
        Value::Mapping(mapping) => mapping.iter().find_map(|(key, child)| {
            path.truncate(len);
            push_key(path, key);
            // A key's tag too (`!custom maxReplicas: 5`).
            if let Value::Tagged(_) = key {
                return Some((path.clone(), key));
            }
            tagged(child, path)
        }),
        Value::Sequence(list) => list.iter().enumerate().find_map(|(i, child)| {
            path.truncate(len);
            path.push_str(&format!("[{i}]"));
            tagged(child, path)
        }),
        _ => None,
    }
}

const INTEGER_TOO_LARGE: &str =
    "a whole number of at most 64 bits: quote it if it is text, or write it as 1e23";

/// A whole number past 64 bits is valid YAML that serde_yaml's values
/// cannot hold: its "invalid type: integer `N` as u128" read as malformed
/// YAML. Every number lpa reads fits far inside 64 bits.
fn integer_too_large(file: &str, message: &str) -> Option<ParseError> {
    let (path, rest) = message.split_once(": invalid type: integer `")?;
    let (digits, rest) = rest.split_once('`')?;
    (rest.starts_with(" as u128") || rest.starts_with(" as i128")).then(|| ParseError::Invalid {
        file: file.to_string(),
        path: path.to_string(),
        value: digits.to_string(),
        expected: INTEGER_TOO_LARGE.to_string(),
    })
}

/// How a mapping's own keys and those it merges meet.
#[derive(Clone, Copy)]
enum Merge {
    /// As PyYAML and YAML's spec: the mapping's own keys win.
    OwnKeysWin,
    /// As Go's goyaml.v2 (CPA's config): in the order written, a merge
    /// over the keys before it, and the keys after it over the merge
    /// (`maxReplicas: 4` then `<<: {maxReplicas: 5}` is 5 to CPA).
    InOrder,
}

/// Whether Go's YAMLOrJSONDecoder reads `text` as JSON: its first 10
/// bytes, spaces trimmed, start with `{` (GuessJSONStream).
pub fn go_reads_json(text: &str) -> bool {
    let head = &text.as_bytes()[..text.len().min(10)];
    String::from_utf8_lossy(head).trim_start().starts_with('{')
}

/// Applies the merge keys under `value`, in `order`; of `<<: [*a, *b]`
/// the earlier mapping wins. A merged mapping's own `<<` is applied before it is merged
/// (`b: &b {<<: *a}` then `<<: *b` takes `a`'s keys too), where serde_yaml's
/// `apply_merge` left it a key of its own. Children come first, so each
/// node is visited once: the work is bounded by the document as loaded,
/// aliases expanded (serde_yaml bounds that expansion and the nesting).
/// `Err`: where (`targets[0].<<`) a merge value that is not a mapping or a
/// list of mappings is, and that value.
fn apply_merge_keys(
    value: &mut serde_yaml::Value,
    path: &mut String,
    order: Merge,
) -> Result<(), (String, serde_yaml::Value)> {
    use serde_yaml::Value;
    let len = path.len();
    match value {
        Value::Mapping(mapping) => {
            for (key, child) in mapping.iter_mut() {
                push_key(path, key);
                apply_merge_keys(child, path, order)?;
                path.truncate(len);
            }
            let Some(at) = mapping.keys().position(|k| k.as_str() == Some("<<")) else {
                return Ok(());
            };
            let merge = mapping.shift_remove("<<").unwrap_or_default();
            let here = |v| {
                let at = if path.is_empty() {
                    "<<".to_string()
                } else {
                    format!("{path}.<<")
                };
                Err((at, v))
            };
            let sources = match merge {
                Value::Mapping(m) => vec![m],
                Value::Sequence(list) => {
                    let mut sources = Vec::with_capacity(list.len());
                    for item in list {
                        match item {
                            Value::Mapping(m) => sources.push(m),
                            other => return here(other),
                        }
                    }
                    sources
                }
                other => return here(other),
            };
            match order {
                Merge::OwnKeysWin => {
                    for source in sources {
                        for (k, v) in source {
                            mapping.entry(k).or_insert(v);
                        }
                    }
                }
                Merge::InOrder => {
                    // The keys before `<<`, then the merged (the earlier
                    // source winning), then the keys after it, each over
                    // what came before.
                    let mut merged = serde_yaml::Mapping::new();
                    let mut own = std::mem::take(mapping).into_iter();
                    merged.extend(own.by_ref().take(at));
                    for source in sources.into_iter().rev() {
                        merged.extend(source);
                    }
                    merged.extend(own);
                    *mapping = merged;
                }
            }
        }
        Value::Sequence(list) => {
            for (i, child) in list.iter_mut().enumerate() {
                path.push_str(&format!("[{i}]"));
                apply_merge_keys(child, path, order)?;
                path.truncate(len);
            }
        }
        Value::Tagged(tagged) => apply_merge_keys(&mut tagged.value, path, order)?,
        _ => {}
    }
    Ok(())
}

/// Parses a JSON text into `T`; unknown keys are ignored (see
/// [`UnknownKeys`]).
pub(crate) fn from_json<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, ParseError> {
    let root: serde_json::Value = serde_json::from_str(text).map_err(|e| ParseError::Syntax {
        file: what.to_string(),
        format: Format::Json,
        message: e.to_string(),
    })?;
    from_json_value(what, &root)
}

/// [`from_json`] for a value already parsed.
pub(crate) fn from_json_value<T: DeserializeOwned>(
    what: &str,
    root: &serde_json::Value,
) -> Result<T, ParseError> {
    from_tree(
        what,
        Format::Json,
        root,
        UnknownKeys::Ignore,
        &[],
        &mut |path| json_at(root, path).map(show_json),
    )
    .map(|p| p.value)
}

fn from_tree<'a, T, D>(
    file: &str,
    format: Format,
    root: &'a D,
    unknown: UnknownKeys,
    known: Known<'_>,
    shown_at: &mut dyn FnMut(&[Segment]) -> Option<String>,
) -> Result<Parsed<T>, ParseError>
where
    T: DeserializeOwned,
    &'a D: Deserializer<'a>,
    <&'a D as Deserializer<'a>>::Error: fmt::Display,
{
    let mut ignored = Vec::new();
    let mut more = 0usize;
    let depth = |s: &Vec<Segment>| s.iter().filter(|x| matches!(x, Segment::Key(_))).count();
    let result = {
        // No more kept than are said: 2000 targets merging 2000 unknown
        // keys each (84 KB of YAML) made 4 million warning lines. The
        // shallowest are kept: a typo at the top, below twenty nested
        // ones, was the one left unsaid.
        let mut note = |path: serde_ignored::Path<'_>| {
            let path = ignored_path(&path);
            if ignored.len() < MAX_UNKNOWN_SAID {
                ignored.push(path);
                return;
            }
            more += 1;
            if let Some(deepest) = (0..ignored.len()).max_by_key(|&i| depth(&ignored[i])) {
                if depth(&path) < depth(&ignored[deepest]) {
                    ignored.remove(deepest);
                    ignored.push(path);
                }
            }
        };
        let de = serde_ignored::Deserializer::new(root, &mut note);
        serde_path_to_error::deserialize::<_, T>(de)
    };
    let value = match result {
        Ok(v) => v,
        Err(e) => {
            let segments = segments(e.path());
            let message = e.into_inner().to_string();
            return Err(translate(file, &segments, &message, shown_at));
        }
    };
    let at = At { file, format };
    let mut warnings = Vec::new();
    // Outer fields before inner ones, document order within a level: a typo
    // at the top reads first.
    ignored.sort_by_key(|s| s.iter().filter(|x| matches!(x, Segment::Key(_))).count());
    for segments in ignored {
        let path = render_path(&segments);
        let Some((Segment::Key(name), parent)) = segments.split_last() else {
            continue;
        };
        let here = known_at(known, parent);
        let suggestion = suggest(name, here);
        match unknown {
            UnknownKeys::Ignore => {}
            UnknownKeys::Deny => {
                return Err(ParseError::Unknown {
                    file: file.to_string(),
                    path,
                    known: here.iter().map(|s| s.to_string()).collect(),
                    suggestion,
                })
            }
            UnknownKeys::Warn => {
                let hint = suggestion
                    .map(|s| format!("did you mean {s:?}?; "))
                    .unwrap_or_default();
                warnings.push(at.warning(
                    &path,
                    format!(
                        "unknown field {name:?} ignored ({hint}known here: {})",
                        here.join(", ")
                    ),
                ))
            }
        }
    }
    if more > 0 && unknown == UnknownKeys::Warn {
        warnings.push(at.warning(
            "(others)",
            format!("{more} more unknown fields ignored, none above those listed (not listed one by one)"),
        ));
    }
    Ok(Parsed { value, warnings })
}

/// The unknown fields said one by one; more are counted.
const MAX_UNKNOWN_SAID: usize = 20;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

fn segments(path: &serde_path_to_error::Path) -> Vec<Segment> {
    use serde_path_to_error::Segment as S;
    path.iter()
        .filter_map(|s| match s {
            S::Seq { index } => Some(Segment::Index(*index)),
            S::Map { key } => Some(Segment::Key(key.clone())),
            S::Enum { variant } => Some(Segment::Key(variant.clone())),
            S::Unknown => None,
        })
        .collect()
}

fn ignored_path(path: &serde_ignored::Path<'_>) -> Vec<Segment> {
    use serde_ignored::Path as P;
    let mut out = match path {
        P::Root => return Vec::new(),
        P::Seq { parent, .. }
        | P::Map { parent, .. }
        | P::Some { parent }
        | P::NewtypeStruct { parent }
        | P::NewtypeVariant { parent } => ignored_path(parent),
    };
    match path {
        P::Seq { index, .. } => out.push(Segment::Index(*index)),
        P::Map { key, .. } => out.push(Segment::Key(key.clone())),
        _ => {}
    }
    out
}

fn known_at(known: Known<'_>, parent: &[Segment]) -> &'static [&'static str] {
    let pattern = join_path(parent, |_| "[]".to_string());
    known
        .iter()
        .find(|(p, _)| *p == pattern)
        .map_or(&[], |(_, f)| f)
}

/// `targets[2].type`; the root is `(top level)`.
fn render_path(segments: &[Segment]) -> String {
    let out = join_path(segments, |i| format!("[{i}]"));
    if out.is_empty() {
        "(top level)".to_string()
    } else {
        out
    }
}

/// Keys joined by dots, each index as `index` writes it.
fn join_path(segments: &[Segment], index: impl Fn(usize) -> String) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                // A key with a line break or an escape sequence in it, quoted
                // and escaped: the message stays one line, and a terminal
                // shows it rather than obeys it.
                if k.chars().any(char::is_control) {
                    out.push_str(&format!("{k:?}"));
                } else {
                    out.push_str(k);
                }
            }
            Segment::Index(i) => out.push_str(&index(*i)),
        }
    }
    out
}

/// Puts what serde says in lpa's words. A newtype's own message is already
/// `invalid value X (expected Y)`; serde's built-in ones (a list where a
/// mapping belongs, an unknown variant) are rewritten with the value as the
/// document has it.
fn translate(
    file: &str,
    segments: &[Segment],
    message: &str,
    shown_at: &mut dyn FnMut(&[Segment]) -> Option<String>,
) -> ParseError {
    if let Some(rest) = message.strip_prefix(INVALID) {
        if let Some((value, expected)) = rest.split_once(SEP) {
            // The document's own rendering, unless the newtype chose what
            // to show (a credential is shown redacted).
            let value = if value.is_empty() {
                shown_at(segments).unwrap_or_else(|| "(unreadable)".to_string())
            } else {
                value.to_string()
            };
            return ParseError::Invalid {
                file: file.to_string(),
                path: render_path(segments),
                value,
                expected: expected.to_string(),
            };
        }
    }
    // A key that is no name (`1:`, `~:`, `true:`): said as the key, where
    // the whole mapping holding it was shown.
    if let Some(head) = message.strip_suffix(", expected field identifier") {
        let key = match head.strip_prefix("invalid type: ").unwrap_or(head) {
            "unit value" => "~ (null)".to_string(),
            key => key.replace('`', ""),
        };
        return ParseError::Invalid {
            file: file.to_string(),
            path: render_path(segments),
            value: format!("{key} as a key"),
            expected: "a field name, which is a string".to_string(),
        };
    }
    // serde's own messages end in ", expected WHAT" (invalid type, unknown
    // variant, invalid length).
    let expected = message
        .rsplit_once(", expected ")
        .map(|(_, e)| readable_expectation(e))
        .unwrap_or_else(|| message.to_string());
    let value = shown_at(segments).unwrap_or_else(|| "(unreadable)".to_string());
    ParseError::Invalid {
        file: file.to_string(),
        path: render_path(segments),
        value,
        expected,
    }
}

fn readable_expectation(serde_words: &str) -> String {
    let e = serde_words.trim();
    if e.starts_with("struct ") || e == "a map" {
        "a mapping of fields".to_string()
    } else if e == "a sequence" {
        "a list".to_string()
    } else if e == "f64" || e == "f32" {
        "a number".to_string()
    } else if let Some(max) = match e {
        "u8" => Some(u64::from(u8::MAX)),
        "u16" => Some(u64::from(u16::MAX)),
        "u32" => Some(u64::from(u32::MAX)),
        "u64" | "usize" => Some(u64::MAX),
        _ => None,
    } {
        // The range, not ">= 0": 4294967296 was refused as not ">= 0".
        format!("a whole number from 0 to {max}")
    } else if ["i8", "i16", "i32", "i64", "isize"].contains(&e) {
        "a whole number".to_string()
    } else {
        e.replace('`', "")
    }
}

// A newtype's error travels through serde as text; these markers let
// `translate` take it apart again without guessing.
const INVALID: &str = "\u{1}invalid\u{1}";
const SEP: &str = "\u{1}expected\u{1}";

/// The error a newtype returns for a bad value; the value is shown as the
/// document has it.
pub(crate) fn invalid<E: de::Error>(expected: &str) -> E {
    E::custom(format_args!("{INVALID}{SEP}{expected}"))
}

/// [`invalid`], showing `shown` in place of the value (a redaction).
pub(crate) fn invalid_shown<E: de::Error>(shown: &str, expected: &str) -> E {
    E::custom(format_args!("{INVALID}{shown}{SEP}{expected}"))
}

/// A value as the document had it, kept for the error messages of checks
/// that run after deserializing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Raw(serde_yaml::Value);

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
        serde_yaml::Value::deserialize(d).map(Raw)
    }
}

impl Raw {
    pub(crate) fn value(&self) -> &serde_yaml::Value {
        &self.0
    }

    /// YAML and JSON show scalars alike; collections as YAML flow text.
    pub(crate) fn shown(&self) -> String {
        show(&self.0, Format::Yaml)
    }

    /// A number, or (with `quoted`) a string that parses as one: the
    /// original read its fields with Python's `int()` and `float()`.
    pub(crate) fn number(&self) -> Option<(f64, bool)> {
        match &self.0 {
            serde_yaml::Value::Number(n) => n.as_f64().map(|v| (v, false)),
            _ if self.octal_like() => None,
            serde_yaml::Value::String(s) => s.trim().parse::<f64>().ok().map(|v| (v, true)),
            _ => None,
        }
    }

    /// `010`: octal 8 to the original's YAML 1.1 (PyYAML), a string to
    /// serde_yaml, which lpa read as 10, with a warning that it was
    /// quoted. Quoted or not (the value no longer says), it is refused
    /// with [`OCTAL`].
    pub(crate) fn octal_like(&self) -> bool {
        self.0.as_str().is_some_and(|s| {
            let digits = s.trim().trim_start_matches(['-', '+']);
            digits.len() > 1
                && digits.starts_with('0')
                && digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
        })
    }

    /// A whole number >= 0 that fits u32, a decimal with no fraction
    /// (`3.0`, which the original's `int()` read as 3), or a string of a
    /// whole number; and how it was written.
    pub(crate) fn count(&self) -> Option<(u32, Spelling)> {
        match &self.0 {
            serde_yaml::Value::Number(n) => match n.as_u64() {
                Some(n) => u32::try_from(n).ok().map(|n| (n, Spelling::Whole)),
                None => n
                    .as_f64()
                    .filter(|v| v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(v))
                    .map(|v| (v as u32, Spelling::Decimal)),
            },
            _ if self.octal_like() => None,
            serde_yaml::Value::String(s) => {
                s.trim().parse::<u32>().ok().map(|n| (n, Spelling::Quoted))
            }
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        self.0.as_str()
    }
}

/// Renders a value for an error message: strings quoted, others as the
/// document's syntax writes them, on one line.
/// A value for an error message, on one line and cut as [`show_json`]
/// cuts: a file that is not YAML of fields at all (`/etc/passwd`) is one
/// scalar, and the line would carry all of it.
fn show(v: &serde_yaml::Value, format: Format) -> String {
    use serde_yaml::Value;
    match (v, format) {
        (Value::String(s), _) => cut(format!("{s:?}")),
        (Value::Null, _) => "null".to_string(),
        (_, Format::Json) => serde_json::to_value(v)
            .map(|j| show_json(&j))
            .unwrap_or_else(|_| cut(format!("{v:?}"))),
        (other, Format::Yaml | Format::Csv) => cut(serde_yaml::to_string(other)
            .map(|s| s.trim_end().replace('\n', " "))
            .unwrap_or_else(|_| format!("{other:?}"))),
    }
}

/// A JSON value for an error message: on one line, cut at 80 characters.
pub fn show_json(v: &serde_json::Value) -> String {
    cut(v.to_string())
}

fn cut(s: String) -> String {
    if s.chars().count() > 80 {
        format!("{}...", s.chars().take(77).collect::<String>())
    } else {
        s
    }
}

fn value_at<'v>(root: &'v serde_yaml::Value, path: &[Segment]) -> Option<&'v serde_yaml::Value> {
    path.iter().try_fold(root, |v, s| match s {
        Segment::Key(k) => v.get(k.as_str()),
        Segment::Index(i) => v.get(*i),
    })
}

fn json_at<'v>(root: &'v serde_json::Value, path: &[Segment]) -> Option<&'v serde_json::Value> {
    path.iter().try_fold(root, |v, s| match s {
        Segment::Key(k) => v.get(k.as_str()),
        Segment::Index(i) => v.get(*i),
    })
}

/// A required field found missing beside an unknown one that reads like it
/// (`target:` where `targets:` belongs) is that one misspelt: the error
/// says so, since the unknown field's warning, which would have, is not
/// shown when the file fails.
pub(crate) fn name_the_typo(error: ParseError, warnings: &[Warning]) -> ParseError {
    let ParseError::Missing {
        file,
        path,
        expected,
    } = error
    else {
        return error;
    };
    let split = |p: &str| -> (String, String) {
        match p.rsplit_once('.') {
            Some((parent, leaf)) => (parent.to_string(), leaf.to_string()),
            None => (String::new(), p.to_string()),
        }
    };
    let (parent, field) = split(&path);
    let typo = warnings.iter().find_map(|w| {
        let (at, name) = split(&w.path);
        (w.file == file
            && at == parent
            && w.message.starts_with("unknown field")
            && suggest(&name, &[field.as_str()]).is_some())
        .then_some(name)
    });
    let expected = match typo {
        Some(name) => {
            format!("{expected}; {name:?} is there, an unknown field: did you mean {field:?}?")
        }
        None => expected,
    };
    ParseError::Missing {
        file,
        path,
        expected,
    }
}

/// The closest known field name, for a typo: same letters ignoring case,
/// `_` and `-` (`unchanged_runs` for `unchangedRuns`), or at most two edits.
fn suggest(name: &str, fields: &[&str]) -> Option<String> {
    let fold = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let folded = fold(name);
    if let Some(f) = fields.iter().find(|f| fold(f) == folded) {
        return Some(f.to_string());
    }
    fields
        .iter()
        .map(|f| (edit_distance(&folded, &fold(f)), f))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, f)| f.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// The field names a derived struct accepts: what its `Deserialize` passes
/// to `deserialize_struct`. Feeds "did you mean" from the types
/// themselves, so the list cannot drift from them.
pub(crate) fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe(&'static [&'static str]);
    #[derive(Debug)]
    struct Stop;
    impl fmt::Display for Stop {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("probe")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Stop
        }
    }
    impl<'de> Deserializer<'de> for &mut Probe {
        type Error = Stop;
        fn deserialize_any<V: de::Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0 = fields;
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    let mut probe = Probe(&[]);
    let _ = T::deserialize(&mut probe);
    probe.0
}

// Leaf newtypes shared by the dialects.

/// A duration as users write it: `30s`, `5m`, `500ms`, or a number of
/// seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DurationField(pub(crate) Duration);

pub(crate) const DURATION_EXPECTED: &str = "seconds, or a duration such as 30s, 5m, 500ms";

impl<'de> Deserialize<'de> for DurationField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Raw::deserialize(d)?;
        duration_of(raw.value())
            .map(DurationField)
            .ok_or_else(|| invalid(DURATION_EXPECTED))
    }
}

/// A YAML number of seconds or a duration string, as users write them.
pub(crate) fn duration_of(value: &serde_yaml::Value) -> Option<Duration> {
    match value {
        serde_yaml::Value::Number(n) => n.as_f64().and_then(|s| parse_duration(&s.to_string())),
        serde_yaml::Value::String(s) => parse_duration(s),
        _ => None,
    }
}

/// How a whole number was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spelling {
    /// `3`.
    Whole,
    /// `"3"`.
    Quoted,
    /// `3.0`.
    Decimal,
}

/// What a count of lpa's (`decay.unchangedRuns`, `minReplicas`) may be: a
/// bare ">= 0" read as wrong for 4294967296, which is >= 0 but too large.
const COUNT: &str = "a whole number from 0 to 4294967295";

/// A whole number >= 0 (u32). One quoted, or written as a decimal with no
/// fraction, is accepted and remembered, so the caller can warn.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Count {
    pub(crate) value: u32,
    pub(crate) raw: Raw,
    pub(crate) spelling: Spelling,
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Raw::deserialize(d)?;
        match raw.count() {
            Some((value, spelling)) => Ok(Count {
                value,
                raw,
                spelling,
            }),
            None if raw.octal_like() => Err(invalid(OCTAL)),
            None => Err(invalid(COUNT)),
        }
    }
}

/// A bound of the replica count: a [`Count`] of at most 2147483647, as
/// Kubernetes' (and CPA's) replicas are 32-bit signed: kubectl sent
/// 4294967295 as -1, and 4294967296 was said to be past 4294967295.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReplicaCount(pub(crate) Count);

/// What a [`ReplicaCount`] may be.
const REPLICA_COUNT: &str = "a whole number from 0 to 2147483647, as Kubernetes' replicas";

impl<'de> Deserialize<'de> for ReplicaCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Raw::deserialize(d)?;
        match raw.count() {
            Some((value, spelling)) if value <= i32::MAX as u32 => Ok(ReplicaCount(Count {
                value,
                raw,
                spelling,
            })),
            None if raw.octal_like() => Err(invalid(OCTAL)),
            _ => Err(invalid(REPLICA_COUNT)),
        }
    }
}

/// What a number with a leading zero is refused for (see
/// [`Raw::octal_like`]).
pub(crate) const OCTAL: &str = "a number without a leading zero: the original's YAML read 010 as octal (8), and YAML 1.2 reads it as 10; write the number meant";

/// A string (a number or a boolean is taken as its text, as YAML users
/// expect of `name: 404`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Text {
    pub(crate) value: String,
    pub(crate) raw: Raw,
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Raw::deserialize(d)?;
        let value = match raw.value() {
            serde_yaml::Value::String(s) => s.clone(),
            serde_yaml::Value::Number(n) => n.to_string(),
            serde_yaml::Value::Bool(b) => b.to_string(),
            _ => return Err(invalid("a string")),
        };
        Ok(Text { value, raw })
    }
}

/// Deserializes `T` from a string through its `FromStr`-like parser, for
/// values whose parse lives with their type.
pub(crate) fn from_text<'de, D, T>(
    d: D,
    parse: impl FnOnce(&str) -> Option<T>,
    expected: &str,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let raw = Raw::deserialize(d)?;
    let text = match raw.value() {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    text.as_deref()
        .and_then(parse)
        .ok_or_else(|| invalid(expected))
}

/// For tests and callers that build a `Raw` from a plain value.
impl From<serde_yaml::Value> for Raw {
    fn from(v: serde_yaml::Value) -> Raw {
        Raw(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Aliases that expand past what any file of settings holds are
    /// refused before the tree is built: 340 KB made 45 million values.
    #[test]
    fn aliases_expanding_past_a_million_values_are_refused_unbuilt() {
        let keys: Vec<String> = (0..2000).map(|i| format!("k{i}: 1")).collect();
        let mut text = format!("base: &b {{{}}}\nitems:\n", keys.join(", "));
        for _ in 0..600 {
            text.push_str("  - *b\n");
        }
        let e = parse(&text, UnknownKeys::Warn).unwrap_err().to_string();
        assert_eq!(e, "d.yaml: malformed YAML: more than 1000000 values (or 32 MB of text) once its aliases (*name) are expanded; a file of settings holds a few hundred");
        let long = format!(
            "s: &s \"{}\"\nitems: [{}]\n",
            "x".repeat(400_000),
            ["*s"; 100].join(", ")
        );
        assert!(too_many_nodes(&long).is_some());
        // A number is parsed again at each alias: 500 KB of one, aliased
        // 120 000 times, took 135 s.
        for number in [
            format!("0x{}1", "0".repeat(500_000)),
            format!("1.{}", "0".repeat(500_000)),
        ] {
            let numbers = format!("n: &n {number}\nitems: [{}]\n", ["*n"; 120_000].join(", "));
            assert!(too_many_nodes(&numbers).is_some());
        }
        // Nor when a tag makes a number of a quoted scalar folded over
        // lines, whose runs are short.
        let folded = format!(
            "n: &n !!int \"0x{}1\"\nitems: [{}]\n",
            vec!["0".repeat(20); 20_000].join("\\\n  "),
            ["*n"; 120_000].join(", ")
        );
        assert!(too_many_nodes(&folded).is_some());
        // A verbatim tag with its name %-escaped, or a %TAG after a CR.
        for (directive, tag) in [
            ("", "!<tag:yaml.org%2C2002:int>"),
            ("%TAG !e! tag:yaml.org,2002:\r---\n", "!e!int"),
        ] {
            let text = format!("{directive}{}", folded.replace("!!int", tag));
            assert!(too_many_nodes(&text).is_some(), "{tag}");
        }
        // An alias after a flow key's `?`, after a line break of
        // Unicode's (NEL, LS), or after a byte order mark at a line's
        // start, which libyaml passes over: a 5000-key anchor 9000 times.
        let keys: Vec<String> = (0..5000).map(|i| format!("k{i}: 1")).collect();
        for before in ["?", "\u{85}", "\u{2028}", "\u{feff}"] {
            let text = format!(
                "base: &b {{{}}}\nl: [{}]\n",
                keys.join(", "),
                vec![format!("{before}*b"); 9000].join(",\n")
            );
            assert!(too_many_nodes(&text).is_some(), "{before:?}");
        }
        // A tag beside an anchor and many numbers, with no quoted scalar
        // a tag could make a long number of, is read (a scenario of 1200
        // changes with one `!!float` was refused).
        let changes: Vec<String> = (0..1200)
            .map(|i| format!("    - {{at: {}, capacity: {}}}", i * 5, 500 + i % 7))
            .collect();
        let scenario = format!(
            "load: &l {{type: step, from: 400, to: 1500}}\n# as *l\nservice:\n  baseLatency: !!float 2\n  changes:\n{}\n",
            changes.join("\n")
        );
        assert!(too_many_nodes(&scenario).is_none());
        // Nor with quoted words, and `"` in comments, around them.
        let quoted = format!(
            "# the \"release\" scenario\nname: \"release #2\"\n{scenario}other: {{type: \"constant\"}}\n# end of \"release\"\n"
        );
        assert!(too_many_nodes(&quoted).is_none());
        // A long hex digest is no number: 60 000 numbers beside one, with
        // an alias or without, are read.
        let floats = ["0.125"; 60_000].join(", ");
        let digest = "3a5f".repeat(128);
        let plain = format!("sig: {digest}\nbody: [{floats}]\n");
        assert!(too_many_nodes(&plain).is_none());
        let aliased = format!("sig: &s {digest}\nagain: *s\nbody: [{floats}]\n");
        assert!(too_many_nodes(&aliased).is_none());
        assert!(yaml_value(&text)
            .unwrap_err()
            .starts_with("more than 1000000 values"));
        // 200 of them (800 000 values) are read.
        text.truncate(text.len() - 400 * "  - *b\n".len());
        assert!(too_many_nodes(&text).is_none());
    }

    /// serde_yaml hashes every float alike: a mapping of float keys took
    /// time that grows with their square, 5.7 s for 250 KB and minutes for
    /// 1 MB, with no alias to count; so did 1000 merged mappings of 100
    /// float keys each (52 s), and keys that are mappings, whose hash is
    /// the XOR of their entries' (9.2 s). Refused at once; a hundred float
    /// keys are read.
    #[test]
    fn a_mapping_of_many_float_keys_is_refused_unbuilt() {
        let keys = |n: usize, key: &dyn Fn(usize) -> String| {
            let keys: Vec<String> = (0..n).map(key).collect();
            format!("x: {{{}}}\n", keys.join(", "))
        };
        let e = |text: &str| parse(text, UnknownKeys::Warn).unwrap_err().to_string();
        let floats = "d.yaml: malformed YAML: a mapping with more than 100 keys, its merges (<<) included, that are numbers with a fraction";
        for key in [&(|i| format!("{i}.")) as &dyn Fn(usize) -> String, &|i| {
            format!("!t {i}e-1")
        }] {
            assert!(e(&keys(60_000, key)).starts_with(floats), "{}", key(1));
            assert!(too_many_nodes(&keys(100, key)).is_none());
        }
        let sources: Vec<String> = (0..1000)
            .map(|m| {
                keys(100, &|i| format!("{}.: 0", m * 100 + i))[3..]
                    .trim()
                    .to_string()
            })
            .collect();
        let merged = format!("x: {{<<: [{}]}}\n", sources.join(", "));
        assert!(e(&merged).starts_with(floats));
        assert!(too_many_nodes(&format!("x: {{<<: [{}]}}\n", sources[0])).is_none());
        for key in [&(|i| format!("[{i}]")) as &dyn Fn(usize) -> String, &|i| {
            format!("? {{a: {i}}}")
        }] {
            assert_eq!(
                e(&keys(1, key)),
                "d.yaml: malformed YAML: a key that is a list or a mapping (such as ? [a, b]), which a file of settings never has"
            );
        }
        // Many floats as values, or as keys of many mappings, are read.
        let values: Vec<String> = (0..60_000).map(|i| format!("k{i}: {i}.5")).collect();
        assert!(too_many_nodes(&format!("x: {{{}}}\n", values.join(", "))).is_none());
        let small = vec!["{1.5: a, 2.5: b}"; 10_000].join(", ");
        assert!(too_many_nodes(&format!("x: [{small}]\n")).is_none());
    }

    #[test]
    fn a_tag_is_refused_where_it_would_be_dropped() {
        let e = |t: &str| parse(t, UnknownKeys::Warn).unwrap_err().to_string();
        assert_eq!(
            e("items: [{count: 1}, !custom {count: 2}]\n"),
            "d.yaml: items[1]: invalid value !custom count: 2 (expected a value without a tag: lpa reads YAML's own types, and would drop a tag such as !custom)"
        );
        assert!(parse("items: !!seq [{count: !!int 1}]\n", UnknownKeys::Warn).is_ok());
        assert_eq!(
            e("items: [{!custom count: 1}]\n"),
            "d.yaml: items[0].!custom count: invalid value !custom count (expected a value without a tag: lpa reads YAML's own types, and would drop a tag such as !custom)"
        );
    }

    /// CPA's config as CPA's decoder reads it: merge keys applied, and
    /// the first document alone, where lpa refused a second and read the
    /// merge key as a key of its own (and so CPA's default maxReplicas).
    #[test]
    fn cpa_yaml_is_read_as_go_reads_it() {
        let max = |text: &str| {
            yaml_value(text)
                .unwrap()
                .get("maxReplicas")
                .and_then(serde_yaml::Value::as_u64)
        };
        assert_eq!(max("defaults: &d {maxReplicas: 5}\n<<: *d\n"), Some(5));
        assert_eq!(max("maxReplicas: 5\n---\nmaxReplicas: 7\n"), Some(5));
        // In the order written, as goyaml.v2 merges: a merge over the
        // keys before it, and the keys after it over the merge; JSON has
        // no merge keys.
        assert_eq!(max("maxReplicas: 4\n<<: {maxReplicas: 5}\n"), Some(5));
        assert_eq!(max("<<: {maxReplicas: 5}\nmaxReplicas: 4\n"), Some(4));
        assert_eq!(max("<<: [{maxReplicas: 5}, {maxReplicas: 6}]\n"), Some(5));
        assert_eq!(max(r#"{"<<": {"maxReplicas": 5}}"#), None);
        // A key written twice is the last one to Go (goyaml.v2, and its
        // JSON), where serde_yaml refuses the file.
        assert_eq!(max("maxReplicas: 5\nmaxReplicas: 6\n"), Some(6));
        assert_eq!(max(r#"{"maxReplicas": 5, "maxReplicas": 6}"#), Some(6));
        // Otherwise the value serde_yaml reads, tags included.
        let text = "a: [1, -2, 2.5, x, null, true, !foo {b: c}, ~]\nb: {c: !!str 1}\n";
        assert_eq!(
            yaml_value(text).unwrap(),
            serde_yaml::from_str::<serde_yaml::Value>(text).unwrap()
        );
        assert_eq!(yaml_value("").unwrap(), serde_yaml::Value::Null);
        assert_eq!(
            yaml_value("<<: 3\n").unwrap_err(),
            "<<: a merge of 3, not a mapping or a list of mappings"
        );
    }

    // Fields are read by the deserializer under test, not by the tests.
    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", expecting = "a mapping of fields")]
    struct Doc {
        items: Option<Vec<Item>>,
        wait: Option<DurationField>,
    }

    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", expecting = "a mapping of fields")]
    struct Item {
        count: Option<Count>,
        unchanged_runs: Option<Count>,
    }

    fn parse(text: &str, unknown: UnknownKeys) -> Result<Parsed<Doc>, ParseError> {
        let known = [("", fields_of::<Doc>()), ("items[]", fields_of::<Item>())];
        from_yaml("d.yaml", text, unknown, &known)
    }

    #[test]
    fn paths_values_and_expectations() {
        let e = |t: &str| parse(t, UnknownKeys::Warn).unwrap_err().to_string();
        assert_eq!(
            e("items: [{count: 1}, {count: -2}]"),
            "d.yaml: items[1].count: invalid value -2 (expected a whole number from 0 to 4294967295)"
        );
        assert_eq!(
            e("items: [{count: 1}, 7]"),
            "d.yaml: items[1]: invalid value 7 (expected a mapping of fields)"
        );
        assert_eq!(
            e("items: {a: 1}"),
            "d.yaml: items: invalid value a: 1 (expected a list)"
        );
        assert_eq!(
            e("wait: soon"),
            "d.yaml: wait: invalid value \"soon\" (expected seconds, or a duration such as 30s, 5m, 500ms)"
        );
        assert_eq!(
            e("[1, 2]"),
            "d.yaml: (top level): invalid value - 1 - 2 (expected a mapping of fields)"
        );
        assert!(e("items: [").starts_with("d.yaml: malformed YAML: "));
    }

    #[test]
    fn a_duplicate_key_is_named_at_its_own_line() {
        let e = |t: &str| parse(t, UnknownKeys::Warn).unwrap_err().to_string();
        let text = "items:\n  - count: 1\n    # a comment\n    unchangedRuns: 2\n    nested:\n      count: 4\n    count: 3\nwait: 1\n";
        assert_eq!(
            e(text),
            "d.yaml: malformed YAML: items[0]: duplicate entry with key \"count\" at line 7 column 5 (first at line 2)"
        );
        // The top level's, which serde_yaml gives no position, too.
        assert_eq!(
            e("# settings\nwait: 1\nitems:\n  - count: 1\nwait: 2\n"),
            "d.yaml: malformed YAML: duplicate entry with key \"wait\" at line 5 column 1 (first at line 2)"
        );
        // Flow style keeps serde_yaml's own position.
        assert!(e("items: [{count: 1, count: 2}]\n")
            .contains("duplicate entry with key \"count\" at line 1 column "));
    }

    #[test]
    fn an_integer_past_64_bits_is_named_not_called_malformed() {
        let e = |t: &str| parse(t, UnknownKeys::Warn).unwrap_err().to_string();
        assert_eq!(
            e("items: [{count: 99999999999999999999999}]\n"),
            format!("d.yaml: items[0].count: invalid value 99999999999999999999999 (expected {INTEGER_TOO_LARGE})")
        );
        assert_eq!(
            e("wait: -99999999999999999999999\n"),
            format!("d.yaml: wait: invalid value -99999999999999999999999 (expected {INTEGER_TOO_LARGE})")
        );
    }

    #[test]
    fn unknown_keys_by_rule_with_suggestions() {
        let text = "items: [{count: 1, unchanged_runs: 2, cuont: 3}]\nextra: 1\n";
        let p = parse(text, UnknownKeys::Warn).unwrap();
        let shown: Vec<String> = p.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "d.yaml: extra: unknown field \"extra\" ignored (known here: items, wait)",
                "d.yaml: items[0].unchanged_runs: unknown field \"unchanged_runs\" ignored (did you mean \"unchangedRuns\"?; known here: count, unchangedRuns)",
                "d.yaml: items[0].cuont: unknown field \"cuont\" ignored (did you mean \"count\"?; known here: count, unchangedRuns)",
            ]
        );
        assert_eq!(
            parse(text, UnknownKeys::Deny).unwrap_err().to_string(),
            "d.yaml: extra: invalid value (unknown field) (expected one of items, wait)"
        );
        assert_eq!(
            parse("items: [{unchanged_runs: 2}]", UnknownKeys::Deny).unwrap_err().to_string(),
            "d.yaml: items[0].unchanged_runs: invalid value (unknown field) (expected one of count, unchangedRuns; did you mean \"unchangedRuns\"?)"
        );
        assert!(parse(text, UnknownKeys::Ignore)
            .unwrap()
            .warnings
            .is_empty());
    }

    #[test]
    fn merge_keys_are_applied_and_the_mapping_own_keys_win() {
        let p = parse(
            "items: [{<<: {count: 1, unchangedRuns: 2}, count: 3}]",
            UnknownKeys::Deny,
        )
        .unwrap();
        let item = p.value.items.unwrap().remove(0);
        assert_eq!(item.count.unwrap().value, 3);
        assert_eq!(item.unchanged_runs.unwrap().value, 2);
    }

    /// A merged mapping's own `<<` is applied too, as PyYAML does, in a
    /// merge list as well; the nearer keys win.
    #[test]
    fn nested_merge_keys_are_applied() {
        let items = |text: &str| {
            parse(text, UnknownKeys::Ignore)
                .unwrap()
                .value
                .items
                .unwrap()
                .into_iter()
                .map(|i| (i.count.map(|c| c.value), i.unchanged_runs.map(|c| c.value)))
                .collect::<Vec<_>>()
        };
        let text = "\
x: &a {count: 1, unchangedRuns: 1}
y: &b {<<: *a, count: 2}
z: &c {<<: *b}
w: &d {unchangedRuns: 4}
v: &e {<<: *d}
items:
  - <<: *c
  - {<<: *c, unchangedRuns: 3}
  - <<: [*b, *e]
  - <<: [*e, *b]
";
        assert_eq!(
            items(text),
            [
                (Some(2), Some(1)),
                (Some(2), Some(3)),
                (Some(2), Some(1)),
                (Some(2), Some(4)),
            ]
        );
        assert_eq!(
            items("items: [{<<: [{<<: {count: 5}}, {<<: {count: 6}, unchangedRuns: 7}]}]"),
            [(Some(5), Some(7))]
        );
    }

    #[test]
    fn a_merge_value_not_a_mapping_names_where_it_is() {
        let e = |t: &str| parse(t, UnknownKeys::Warn).unwrap_err().to_string();
        let expected = "(expected a mapping or a list of mappings to merge, such as <<: *defaults or <<: [*a, *b])";
        assert_eq!(
            e("items: [{count: 1}, {<<: 5}]"),
            format!("d.yaml: items[1].<<: invalid value 5 {expected}")
        );
        assert_eq!(
            e("items: [{<<: [{count: 1}, [2]]}]"),
            format!("d.yaml: items[0].<<: invalid value - 2 {expected}")
        );
        assert_eq!(
            e("1: {<<: x}"),
            format!("d.yaml: 1.<<: invalid value \"x\" {expected}")
        );
        assert_eq!(
            e("<<: x"),
            format!("d.yaml: <<: invalid value \"x\" {expected}")
        );
    }

    #[test]
    fn quoted_numbers_are_remembered() {
        let p = parse("items: [{count: \"3\"}]", UnknownKeys::Deny).unwrap();
        let c = p.value.items.unwrap().remove(0).count.unwrap();
        assert_eq!((c.value, c.spelling), (3, Spelling::Quoted));
    }

    #[test]
    fn json_values_show_as_json() {
        #[derive(Debug, Deserialize)]
        struct J {
            #[allow(dead_code)]
            n: Count,
        }
        let e = from_json::<J>("stdin", r#"{"n": {"a": [1, 2]}}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "stdin: n: invalid value {\"a\":[1,2]} (expected a whole number from 0 to 4294967295)"
        );
        assert!(from_json::<J>("stdin", "{")
            .unwrap_err()
            .to_string()
            .starts_with("stdin: not JSON: "));
    }
}
