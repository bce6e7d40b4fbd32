//! The decision log: one JSON line per decided cycle of `lpa run`
//! ([`lpa_core::log::DecisionRecord`]), appended to a file. It is what
//! `lpa simulate --replay` reads back, so every line is a whole record and
//! nothing else goes in the file.
//!
//! Each line is written with one `write` on a file opened for append, so
//! two processes logging to the same file interleave whole lines, and a
//! crash leaves at most the last line cut short (a reader skips it; the
//! next [`DecisionLog::open`] drops it, so a record never follows it on
//! its line).

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
    cut: Option<u64>,
}

impl DecisionLog {
    /// Opens (creating if needed) `path` for appending.
    pub fn open(path: impl Into<PathBuf>) -> Result<DecisionLog, LogError> {
        let path = path.into();
        let err = |action| {
            let path = path.clone();
            move |source| LogError {
                path,
                action,
                source,
            }
        };
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(err("open for appending"))?;
        let cut = drop_cut_line(&mut file).map_err(err("drop its last line, cut short"))?;
        Ok(DecisionLog { path, file, cut })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bytes of a last line cut short (a crash mid-write) that opening
    /// dropped: appended to, it would have swallowed the next record and
    /// become a bad line in the middle, which readers refuse.
    pub fn dropped(&self) -> Option<u64> {
        self.cut
    }

    /// Reopens the path when the file there is no longer the one open:
    /// logrotate (without copytruncate) renames the log, and every record
    /// would go on into the renamed file.
    fn follow_rotation(&mut self) -> Result<(), LogError> {
        use std::os::unix::fs::MetadataExt;
        let open = self.file.metadata().ok().map(|m| (m.dev(), m.ino()));
        let there = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        if open.is_some() && open != there {
            *self = DecisionLog::open(self.path.clone())?;
        }
        Ok(())
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
        self.follow_rotation()?;
        self.file.write_all(&line).map_err(|source| LogError {
            path: self.path.clone(),
            action: "append",
            source,
        })
    }
}

/// Truncates `file` after its last newline when it does not end with one.
/// Each record is one append-mode `write`, so a file that ends inside a
/// line was cut by a crash, not by another writer mid-record.
fn drop_cut_line(file: &mut File) -> io::Result<Option<u64>> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let buf = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(buf)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            end = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    if end == len {
        return Ok(None);
    }
    file.set_len(end)?;
    Ok(Some(len - end))
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

    /// A hold at 2 replicas, decided at 2026-11-28T01:04:07Z.
    fn a_record() -> DecisionRecord {
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
        DecisionRecord::new(
            "deployment/x",
            &obs,
            &decide(&obs, &policy, &State::default()),
        )
    }

    #[test]
    fn appends_whole_lines_with_rfc3339_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decisions.jsonl");
        let record = a_record();
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

    #[test]
    fn a_last_line_cut_short_is_dropped_before_the_next_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        let record = a_record();
        DecisionLog::open(&path).unwrap().append(&record).unwrap();
        let whole = std::fs::read(&path).unwrap();
        let cut = &whole[..whole.len() / 2];
        // Two whole lines, then half of one; and a file of half a line.
        for (before, kept) in [
            ([&whole[..], &whole[..], cut].concat(), 2),
            (cut.to_vec(), 0),
        ] {
            std::fs::write(&path, &before).unwrap();
            let mut log = DecisionLog::open(&path).unwrap();
            assert_eq!(log.dropped(), Some(cut.len() as u64));
            log.append(&record).unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(text.lines().count(), kept + 1, "{text}");
            assert!(
                text.lines()
                    .all(|l| serde_json::from_str::<DecisionRecord>(l).is_ok()),
                "{text}"
            );
        }
        assert_eq!(DecisionLog::open(&path).unwrap().dropped(), None);
    }

    #[test]
    fn a_rotated_log_is_followed_to_its_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        let mut log = DecisionLog::open(&path).unwrap();
        log.append(&a_record()).unwrap();
        let rotated = dir.path().join("d.jsonl.1");
        std::fs::rename(&path, &rotated).unwrap();
        log.append(&a_record()).unwrap();
        log.append(&a_record()).unwrap();
        let lines = |p: &Path| std::fs::read_to_string(p).unwrap().lines().count();
        assert_eq!((lines(&rotated), lines(&path)), (1, 2));
    }
}
