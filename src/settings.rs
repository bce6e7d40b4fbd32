//! Loading what several subcommands share: the policy with its overrides.

use std::fmt;
use std::path::Path;

use lpa_core::config::{parse_evaluation_config, EvaluationConfig, Override, Overrides};

use crate::cli::PolicyArgs;

/// A failure of the command: one line for stderr and an exit code.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error + 'static> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::new(crate::cli::error_line(&e))
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

/// Writes data to stdout. A reader that stopped early (`lpa simulate ... |
/// head`) is not an error; `print!` would panic there.
pub fn emit(bytes: &[u8]) -> Result<()> {
    emit_with(|out| out.write_all(bytes))
}

/// [`emit`] of what `write` writes, buffered: a long output (a trace of
/// millions of cycles) goes out as it is made, where a string of it all
/// was more memory than the trace itself.
pub fn emit_with(write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>) -> Result<()> {
    use std::io::{ErrorKind, Write};
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::new(format!("stdout: {e}"))),
    }
}

/// Writes one line to stdout, flushed. Unlike [`emit`], a reader gone
/// early is an error too: a CPA hook's answer, `lpa serve`'s address or
/// `lpa loadtest`'s result is either delivered or the command fails.
pub fn print_line(line: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| Failure::new(format!("stdout: {e}")))
}

/// Reads and validates the evaluation config with the replica bounds of
/// the flags or env (`--min-replicas`/`minReplicas`, ...) applied, and
/// prints its warnings (unknown fields, quoted numbers) to stderr.
pub fn load_config(args: &PolicyArgs) -> Result<EvaluationConfig> {
    load_config_under(args, &Overrides::default())
}

/// [`load_config`], with the bounds `fallback` sets (CPA's config file)
/// where no flag or env var sets them.
pub fn load_config_under(args: &PolicyArgs, fallback: &Overrides) -> Result<EvaluationConfig> {
    let first = |flag: Option<u32>, source: &str, fallback: &Option<Override>| {
        flag.map(|value| Override {
            value,
            source: source.into(),
        })
        .or_else(|| fallback.clone())
    };
    let overrides = Overrides {
        min_replicas: first(
            args.min_replicas,
            "--min-replicas or env minReplicas",
            &fallback.min_replicas,
        ),
        max_replicas: first(
            args.max_replicas,
            "--max-replicas or env maxReplicas",
            &fallback.max_replicas,
        ),
    };
    read_config(
        &args.evaluation_config,
        &overrides,
        " (set evaluationConfigFilePath or --evaluation-config)",
    )
}

/// Reads an evaluation config file and parses it as [`parse_config`];
/// `hint` ends the error when it cannot be read (how to name another).
pub fn read_config(path: &Path, overrides: &Overrides, hint: &str) -> Result<EvaluationConfig> {
    let name = path.display().to_string();
    let text = read_settings_text(path).map_err(|e| {
        Failure::new(format!(
            "{name}: cannot read the evaluation config: {e}{hint}"
        ))
    })?;
    parse_config(&name, &text, overrides)
}

/// The most of a record lpa reads whole: a decision log, a trace of
/// arrivals, a simulation's JSON. A decision log is held as records at
/// about 5.5 times its size (a 243 MB log took 1.34 GB in `lpa report`,
/// and a 974 MB one ended it with an allocation failure at 3.8 GB), so
/// past 256 MiB, about six weeks of 15 s decisions on one target (a
/// record of one takes about 1.1 KB; three weeks on two) and eight times
/// the log's default rotation size, a cut of it is asked for (`tail -n`).
const MAX_RECORD_TEXT: u64 = 1 << 28;

/// A file of settings as text, read no further than
/// [`lpa_drivers::files::MAX_SETTINGS_BYTES`]:
/// a path to `/dev/zero` or an endless pipe read until memory ran out,
/// and ended lpa with no error line.
pub fn read_settings_text(path: &Path) -> std::io::Result<String> {
    utf8_text(lpa_drivers::files::read_settings(path)?, false)
}

/// A recorded log or trace as text, read no further than
/// [`MAX_RECORD_TEXT`], for the same reason as [`read_settings_text`]. A
/// byte order mark (a spreadsheet's CSV, an editor's save) is no text.
pub fn read_record_text(path: &Path) -> std::io::Result<String> {
    utf8_text(record_bytes(path)?, false)
}

/// A decision log as [`read_record_text`] reads it, forgiving what a crash
/// leaves at its end, which is no record: zero bytes (blocks a file system
/// allotted but never wrote, after a power loss) are dropped, and bytes of
/// the unterminated last line that are not UTF-8 (a character cut in two)
/// end that line there, so it reads as a line cut short, which the readers
/// leave out with a warning.
pub fn read_log_text(path: &Path) -> std::io::Result<String> {
    let mut bytes = record_bytes(path)?;
    bytes.truncate(bytes.iter().rposition(|&b| b != 0).map_or(0, |at| at + 1));
    utf8_text(bytes, true)
}

fn record_bytes(path: &Path) -> std::io::Result<Vec<u8>> {
    let why = "more than lpa reads at once; give it a part of the file (a decision log's or a CSV trace's last lines: a JSON trace cannot be cut, and lpa simulate --out FILE.csv writes the same trace in a third of the bytes)";
    let mut bytes = lpa_drivers::files::read_at_most(path, MAX_RECORD_TEXT, why)?;
    if bytes.starts_with(b"\xef\xbb\xbf") {
        bytes.drain(..3);
    }
    Ok(bytes)
}

/// `bytes` as text, or the line that is not UTF-8; with `cut_tail`, a
/// character cut in two at the end (a crash's, zeros after it a power
/// loss's) ends the text there instead. Another bad byte of the last
/// line is bad text: a whole record with one was left out in silence.
pub(crate) fn utf8_text(bytes: Vec<u8>, cut_tail: bool) -> std::io::Result<String> {
    let e = match String::from_utf8(bytes) {
        Ok(text) => return Ok(text),
        Err(e) => e,
    };
    let at = e.utf8_error().valid_up_to();
    let mut bytes = e.into_bytes();
    let end = bytes.iter().rposition(|&b| b != 0).map_or(at, |i| i + 1);
    let cut_in_two =
        std::str::from_utf8(&bytes[at..end.max(at)]).is_err_and(|e| e.error_len().is_none());
    if cut_tail && cut_in_two {
        bytes.truncate(at);
        return String::from_utf8(bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e));
    }
    let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("line {line} is not UTF-8 text"),
    ))
}

/// All of `from` as text, or None when it holds more than `max` bytes, of
/// which no more than one past `max` are read.
pub fn read_text_at_most(from: impl std::io::Read, max: u64) -> std::io::Result<Option<String>> {
    use std::io::Read;
    let mut text = String::new();
    from.take(max + 1).read_to_string(&mut text)?;
    Ok((text.len() as u64 <= max).then_some(text))
}

/// Parses evaluation config text and prints its warnings.
pub fn parse_config(name: &str, text: &str, overrides: &Overrides) -> Result<EvaluationConfig> {
    let parsed = parse_evaluation_config(name, text, overrides)?;
    for w in &parsed.warnings {
        say!("lpa: warning: {w}");
    }
    Ok(parsed.value)
}

/// Refuses an output file (`(flag, path)`) that is the input file, by
/// device and inode, whatever the paths say: writing it destroyed the
/// input (a decision log given the evaluation config's path appended JSON
/// to it). A path of no file yet is no other file.
pub fn distinct_files(output: (&str, &Path), input: (&str, &Path)) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    match (id(output.1), id(input.1)) {
        (Some(a), Some(b)) if a == b => Err(Failure::new(format!(
            "{} {} is the same file as {} {}: writing it would destroy that; give it another path",
            output.0,
            output.1.display(),
            input.0,
            input.1.display()
        ))),
        _ => Ok(()),
    }
}

/// Refuses an input or output (`(flag, path)`) that is one of the state
/// file's own files (`flag_state` names it): the state, or the lock,
/// owner and temp files beside it, which lpa writes and removes (a
/// config named `.NAME.tmp.x` was deleted as a stale temp file).
pub fn apart_from_state<P: AsRef<Path>>(
    flag_state: &str,
    state: &Path,
    others: &[(&str, P)],
) -> Result<()> {
    let file = lpa_drivers::state_file::StateFile::new(state);
    match others.iter().find(|(_, p)| file.writes(p.as_ref())) {
        Some((flag, path)) => Err(Failure::new(format!(
            "{flag} {} is {flag_state} {}'s own file (the state, or the .NAME.lock, .NAME.owner, .NAME.synced or .NAME.tmp.* beside it), which lpa writes or removes: give it another path",
            path.as_ref().display(),
            state.display()
        ))),
        None => Ok(()),
    }
}
