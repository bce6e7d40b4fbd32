//! The decision log: one JSON line per decided cycle of `lpa run`
//! ([`lpa_core::log::DecisionRecord`]), appended to a file. It is what
//! `lpa simulate --replay` reads back, so every line is a whole record and
//! nothing else goes in the file.
//!
//! Each line is written with one `write` on a file opened for append, so
//! two processes logging to the same file interleave whole lines, and a
//! crash leaves at most the last line cut short (a reader skips it).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use lpa_core::log::DecisionRecord;

#[derive(Debug, thiserror::Error)]
#[error("decision log {}: cannot {action}: {source}", path.display())]
pub struct LogError {
    pub path: PathBuf,
    pub action: &'static str,
    pub source: io::Error,
}

/// An open decision log.
#[derive(Debug)]
pub struct DecisionLog {
    path: PathBuf,
    file: File,
}

impl DecisionLog {
    /// Opens (creating if needed) `path` for appending.
    pub fn open(path: impl Into<PathBuf>) -> Result<DecisionLog, LogError> {
        let path = path.into();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| LogError {
                path: path.clone(),
                action: "open for appending",
                source,
            })?;
        Ok(DecisionLog { path, file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as one line, filling in `time` from `at_secs`
    /// when the caller left it empty.
    pub fn append(&mut self, record: &DecisionRecord) -> Result<(), LogError> {
        let mut line = if record.time.is_some() {
            serde_json::to_vec(record)
        } else {
            let mut r = record.clone();
            r.time = Some(rfc3339(r.at_secs));
            serde_json::to_vec(&r)
        }
        .expect("DecisionRecord serialises");
        line.push(b'\n');
        self.file.write_all(&line).map_err(|source| LogError {
            path: self.path.clone(),
            action: "append",
            source,
        })
    }
}

/// Seconds since the Unix epoch as RFC 3339 UTC text: `2026-11-28T01:04:07Z`.
pub fn rfc3339(at_secs: u64) -> String {
    i64::try_from(at_secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map(|t| t.to_string())
        .unwrap_or_else(|| format!("@{at_secs}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lpa_core::{config::parse_policy, decide, Observation, State};

    #[test]
    fn appends_whole_lines_with_rfc3339_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decisions.jsonl");
        let policy = parse_policy(
            "p.yaml",
            "targets:\n  - {endpoint: /, type: mean, target: 7}\n",
        )
        .unwrap();
        let obs = Observation {
            at_secs: 1_795_827_847,
            current_replicas: 2,
            ..Observation::default()
        };
        let record = DecisionRecord::new(
            "deployment/x",
            &obs,
            &decide(&obs, &policy, &State::default()),
        );
        for _ in 0..2 {
            DecisionLog::open(&path).unwrap().append(&record).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let back: DecisionRecord = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(back.time.as_deref(), Some("2026-11-28T01:04:07Z"));
        assert_eq!(back.decided, 2);
    }

    #[test]
    fn unopenable_path_is_a_clear_error() {
        let e = DecisionLog::open("/nonexistent-lpa-dir/d.jsonl")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("decision log /nonexistent-lpa-dir/d.jsonl: cannot open for appending:"),
            "{e}"
        );
    }
}
