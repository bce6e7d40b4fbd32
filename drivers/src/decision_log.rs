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
//!
//! With a size bound ([`DecisionLog::max_size`]), a record that would take
//! the file past it first renames the file to `FILE.1` (replacing an
//! older one) and starts `FILE` anew: the log then holds at most twice the
//! bound (plus one line, when a line alone is larger), every line whole in
//! one of the two files, the older lines in `FILE.1`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use lpa_core::log::DecisionRecord;

#[derive(Debug, thiserror::Error)]
#[error("decision log {}: cannot {action}: {source}", path.display())]
pub struct LogError {
    pub path: PathBuf,
    pub action: std::borrow::Cow<'static, str>,
    pub source: io::Error,
}

/// How long a rotation waits for another process to free the log's lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// An open decision log.
#[derive(Debug)]
pub struct DecisionLog {
    path: PathBuf,
    file: File,
    cut: Option<u64>,
    max_size: Option<u64>,
    /// A failed append left part of its line that could not be dropped
    /// then: dropped before the next (in a pipe, ended by a newline).
    torn: bool,
    /// A named pipe, written without waiting.
    pipe: bool,
}

impl DecisionLog {
    /// Opens (creating if needed) `path` for appending.
    pub fn open(path: impl Into<PathBuf>) -> Result<DecisionLog, LogError> {
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        let path = path.into();
        let err = |action| io_error(&path, action);
        // A named pipe is written without waiting and without a read end
        // of lpa's own: opened to read too, a pipe whose reader had gone
        // or stopped filled up, and the next record's write held the loop
        // for good (no scaling, SIGTERM unheard). Now a full pipe, or one
        // no process reads, fails that record, and the loop goes on.
        if std::fs::metadata(&path).is_ok_and(|m| m.file_type().is_fifo()) {
            let file = OpenOptions::new()
                .append(true)
                .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
                .open(&path)
                .map_err(err(
                    "open for appending (a named pipe: a process must read it)",
                ))?;
            return Ok(DecisionLog {
                path,
                file,
                cut: None,
                max_size: None,
                torn: false,
                pipe: true,
            });
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(err("open for appending"))?;
        let cut = drop_cut_line(&mut file).map_err(err("drop its last line, cut short"))?;
        Ok(DecisionLog {
            path,
            file,
            cut,
            max_size: None,
            torn: false,
            pipe: false,
        })
    }

    /// Rotates the file before a record would take it past `bytes`
    /// (`None`: never).
    #[must_use]
    pub fn max_size(mut self, bytes: Option<u64>) -> DecisionLog {
        self.max_size = bytes;
        self
    }

    /// Where rotation moves the older lines: `FILE.1`.
    pub fn rotated_path(&self) -> PathBuf {
        DecisionLog::rotated(&self.path)
    }

    /// Where rotation moves the older lines of the log at `path`.
    pub fn rotated(path: &Path) -> PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(".1");
        PathBuf::from(name)
    }

    /// Whether the path names a regular file itself, which rotation can
    /// rename: a symlink would be renamed, not the log it names (FILE then
    /// a new file beside the link, the log's lines no longer where it
    /// points), and `/dev/stdout` redirected to a file is a link in `/dev`.
    /// Such a log is not rotated.
    pub fn rotatable(&self) -> bool {
        std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.file_type().is_file())
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

    /// Whether the path no longer names the open file: logrotate (without
    /// copytruncate) or another lpa rotating the same log renamed it.
    fn moved(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let open = self.file.metadata().ok().map(|m| (m.dev(), m.ino()));
        let there = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        open.is_some() && open != there
    }

    /// Reopens the path; the open file's lock, if any, goes with it.
    fn reopen(&mut self) -> Result<(), LogError> {
        *self = DecisionLog::open(self.path.clone())?.max_size(self.max_size);
        Ok(())
    }

    fn error(&self, action: &'static str) -> impl FnOnce(io::Error) -> LogError {
        io_error(&self.path, action)
    }

    /// Renames the file to `FILE.1` and starts `FILE` anew when `next`
    /// more bytes would take it past the bound. A file holding nothing is
    /// never rotated, so a line larger than the bound still goes in whole.
    ///
    /// Under an exclusive lock on the open file: another lpa appending to
    /// the same log that found it full too waits, then sees the path name
    /// a new file and follows it, where renaming that one as well would
    /// have replaced the first's `FILE.1`, lines and all.
    fn rotate_for(&mut self, next: u64) -> Result<(), LogError> {
        let Some(max) = self.max_size else {
            return Ok(());
        };
        loop {
            let len = self
                .file
                .metadata()
                .map_err(self.error("read its size"))?
                .len();
            if len == 0 || len.saturating_add(next) <= max || !self.rotatable() {
                return Ok(());
            }
            self.lock_to_rotate()?;
            if self.moved() {
                self.reopen()?;
                continue;
            }
            let to = self.rotated_path();
            if let Err(source) = std::fs::rename(&self.path, &to) {
                let _ = self.file.unlock();
                return Err(LogError {
                    path: self.path.clone(),
                    action: format!("rotate it (rename to {})", to.display()).into(),
                    source,
                });
            }
            let reopened = self.reopen();
            if reopened.is_err() {
                // Still the renamed file: another writer must not wait on it.
                let _ = self.file.unlock();
            }
            return reopened;
        }
    }

    /// Takes the exclusive lock for a rotation, waiting at most
    /// [`LOCK_WAIT`]: another lpa holds it only to rename and reopen, so a
    /// lock held longer is some other process's (a `flock FILE cmd`, a
    /// writer stopped mid-rotation), and the loop must not stop scaling
    /// behind it. `Err`: this line goes in unrotated, the next one tries
    /// again.
    fn lock_to_rotate(&self) -> Result<(), LogError> {
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match self.file.try_lock() {
                Ok(()) => return Ok(()),
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(LogError {
                        path: self.path.clone(),
                        action: format!(
                            "lock it to rotate (another process held its lock for {} s; it grows past its bound until the lock is free)",
                            LOCK_WAIT.as_secs()
                        )
                        .into(),
                        source: io::ErrorKind::WouldBlock.into(),
                    })
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(self.error("lock it to rotate")(e))
                }
            }
        }
    }

    /// Appends one record as one line, filling in `time` from `at_secs`
    /// when the caller left it empty. `Ok(Some(e))`: the line went in, but
    /// rotating the file before it failed (it stays where it was and grows).
    pub fn append(&mut self, record: &DecisionRecord) -> Result<Option<LogError>, LogError> {
        let mut line = if record.time.is_some() {
            serde_json::to_vec(record)
        } else {
            let mut r = record.clone();
            r.time = Some(rfc3339(r.at_secs));
            serde_json::to_vec(&r)
        }
        .expect("DecisionRecord serialises");
        line.push(b'\n');
        if self.moved() {
            self.reopen()?;
        }
        if self.pipe {
            return self.write_to_pipe(&line).map(|()| None);
        }
        if self.torn {
            drop_cut_line(&mut self.file)
                .map_err(self.error("drop the part of a line a failed append left"))?;
            self.torn = false;
        }
        let rotation = self.rotate_for(line.len() as u64).err();
        if let Err(e) = self.file.write_all(&line) {
            // A full disk takes the line up to its last free block: the
            // part left would have the next line joined to it, and no
            // reader would take either.
            self.torn = drop_cut_line(&mut self.file).is_err();
            return Err(self.error("append")(e));
        }
        Ok(rotation)
    }
}

impl DecisionLog {
    /// A pipe written without waiting takes a line whole up to 4096 bytes
    /// (PIPE_BUF), and may take part of a longer one: the rest is waited
    /// for, up to [`PIPE_WAIT`]. A line still cut then is ended by a
    /// newline before the next record, where the next was joined to it
    /// and both were lost to readers.
    fn write_to_pipe(&mut self, line: &[u8]) -> Result<(), LogError> {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let data = if self.torn {
            [b"\n", line].concat()
        } else {
            line.to_vec()
        };
        let deadline = std::time::Instant::now() + PIPE_WAIT;
        let mut written = 0;
        while written < data.len() {
            match self.file.write(&data[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        && written > 0
                        && std::time::Instant::now() < deadline =>
                {
                    let step = Timespec {
                        tv_sec: 0,
                        tv_nsec: 50_000_000,
                    };
                    let _ = poll(&mut [PollFd::new(&self.file, PollFlags::OUT)], Some(&step));
                }
                Err(e) => {
                    self.torn |= written > 0;
                    return Err(self.error("append")(e));
                }
            }
        }
        self.torn = false;
        Ok(())
    }
}

/// How long the rest of a line a pipe took part of is waited for.
const PIPE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn io_error(path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> LogError {
    let path = path.to_path_buf();
    move |source| LogError {
        path,
        action: action.into(),
        source,
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

    /// A named pipe in `dir`.
    fn a_pipe(dir: &tempfile::TempDir) -> PathBuf {
        let path = dir.path().join("log.fifo");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &path,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        )
        .unwrap();
        path
    }

    /// A read end of the pipe at `path` that waits for nothing.
    fn read_end(path: &Path) -> File {
        use std::os::unix::fs::OpenOptionsExt;
        OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(path)
            .unwrap()
    }

    #[test]
    fn a_named_pipe_full_or_unread_fails_a_record_and_never_waits() {
        let dir = tempfile::tempdir().unwrap();
        let path = a_pipe(&dir);
        // No reader: said at once.
        let e = DecisionLog::open(&path).unwrap_err().to_string();
        assert!(e.contains("a named pipe: a process must read it"), "{e}");
        // A reader that never reads: the pipe fills, and a record fails.
        let _reader = read_end(&path);
        let mut log = DecisionLog::open(&path).unwrap();
        let failed = (0..10_000).find_map(|_| log.append(&a_record()).err());
        let e = failed.expect("a full pipe fails a record").to_string();
        assert!(e.contains("append"), "{e}");
    }

    /// A pipe may take part of a line past 4096 bytes: the next record
    /// then starts a line of its own, where it was joined to the part.
    #[test]
    fn a_long_record_cut_in_a_pipe_is_not_joined_to_the_next() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let path = a_pipe(&dir);
        let mut reader = read_end(&path);
        let mut log = DecisionLog::open(&path).unwrap();
        let mut long = a_record();
        long.target = "x".repeat(20_000);
        let mut read = Vec::new();
        let mut appended = 0;
        for _ in 0..40 {
            appended += usize::from(log.append(&long).is_ok());
        }
        let mut drain = |read: &mut Vec<u8>| {
            let mut chunk = [0u8; 65536];
            while let Ok(n) = reader.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                read.extend_from_slice(&chunk[..n]);
            }
        };
        drain(&mut read);
        appended += usize::from(log.append(&long).is_ok());
        drain(&mut read);
        let text = String::from_utf8(read).unwrap();
        let whole = text
            .lines()
            .filter(|l| serde_json::from_str::<DecisionRecord>(l).is_ok())
            .count();
        assert_eq!(whole, appended, "{} lines", text.lines().count());
        assert!(!text.contains("}{"));
    }

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

    fn line_count(p: &Path) -> usize {
        std::fs::read_to_string(p).map_or(0, |t| t.lines().count())
    }

    /// Appends `n` records through `log`, each with its own `at_secs`
    /// (from `first`), so the lines tell which record each is.
    fn append_numbered(log: &mut DecisionLog, first: u64, n: u64) {
        for i in first..first + n {
            let mut r = a_record();
            r.at_secs = i;
            r.time = None;
            assert!(log.append(&r).unwrap().is_none());
        }
    }

    fn numbers(p: &Path) -> Vec<u64> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<DecisionRecord>(l).unwrap().at_secs)
            .collect()
    }

    /// A log in `dir` holding record 0, and that line's size.
    fn one_line_log(dir: &Path) -> (PathBuf, DecisionLog, u64) {
        let path = dir.join("d.jsonl");
        let mut log = DecisionLog::open(&path).unwrap();
        append_numbered(&mut log, 0, 1);
        let line = std::fs::metadata(&path).unwrap().len();
        (path, log, line)
    }

    #[test]
    fn a_line_that_would_pass_the_bound_goes_into_a_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let (path, log, line) = one_line_log(dir.path());
        // Room for two lines and a half.
        let max = line * 5 / 2;
        let mut log = log.max_size(Some(max));
        append_numbered(&mut log, 1, 4);
        let rotated = log.rotated_path();
        assert_eq!(rotated, dir.path().join("d.jsonl.1"));
        assert_eq!((numbers(&rotated), numbers(&path)), (vec![2, 3], vec![4]));
        for p in [&path, &rotated] {
            assert!(std::fs::metadata(p).unwrap().len() <= max);
        }
    }

    #[test]
    fn a_line_larger_than_the_bound_goes_in_whole_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        let mut log = DecisionLog::open(&path).unwrap().max_size(Some(10));
        append_numbered(&mut log, 0, 3);
        assert_eq!(
            (numbers(&log.rotated_path()), numbers(&path)),
            (vec![1], vec![2])
        );
    }

    #[test]
    fn without_a_bound_the_log_is_never_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        let mut log = DecisionLog::open(&path).unwrap().max_size(None);
        append_numbered(&mut log, 0, 50);
        assert_eq!(line_count(&path), 50);
        assert!(!log.rotated_path().exists());
    }

    /// Two writers on one log: the second follows the first's rotation
    /// instead of rotating the new file too, which would have replaced
    /// FILE.1 with it and lost the lines FILE.1 held.
    #[test]
    fn two_writers_rotating_one_log_lose_no_line() {
        let dir = tempfile::tempdir().unwrap();
        let (path, a, line) = one_line_log(dir.path());
        let max = line * 4;
        let mut a = a.max_size(Some(max));
        let mut b = DecisionLog::open(&path).unwrap().max_size(Some(max));
        append_numbered(&mut a, 1, 3);
        // Both see a full file; a rotates it, b must not rotate a's new one.
        append_numbered(&mut a, 4, 1);
        append_numbered(&mut b, 5, 1);
        assert_eq!(
            (numbers(&a.rotated_path()), numbers(&path)),
            (vec![0, 1, 2, 3], vec![4, 5])
        );
    }

    /// A lock on the log held by another process (not an lpa rotating,
    /// which holds it for a rename) delays the line at most LOCK_WAIT: it
    /// goes in unrotated with a warning, where the loop waited for good.
    #[test]
    fn a_lock_held_elsewhere_delays_a_line_but_never_stops_it() {
        let dir = tempfile::tempdir().unwrap();
        let (path, log, _) = one_line_log(dir.path());
        let mut log = log.max_size(Some(10));
        let holder = File::open(&path).unwrap();
        holder.lock().unwrap();
        let (sent, got) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let r = log.append(&a_record()).map(|e| e.map(|e| e.to_string()));
            let _ = sent.send(r.map_err(|e| e.to_string()));
        });
        let warning = got
            .recv_timeout(LOCK_WAIT * 5)
            .expect("append returned while the lock was held")
            .unwrap()
            .expect("a warning");
        assert!(
            warning.starts_with(&format!(
                "decision log {}: cannot lock it to rotate (another process held its lock for 2 s;",
                path.display()
            )),
            "{warning}"
        );
        assert_eq!(line_count(&path), 2);
        assert!(!dir.path().join("d.jsonl.1").exists());
    }

    /// A log reached through a symlink grows where the link points: the
    /// link is not what rotation may rename. Regression: the link became
    /// FILE.1 and the next lines went into a new file beside it.
    #[test]
    fn a_log_through_a_symlink_is_not_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("kept.jsonl");
        let path = dir.path().join("d.jsonl");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let mut log = DecisionLog::open(&path).unwrap().max_size(Some(10));
        assert!(!log.rotatable());
        append_numbered(&mut log, 0, 3);
        assert!(std::fs::symlink_metadata(&path).unwrap().is_symlink());
        assert_eq!(numbers(&target), [0, 1, 2]);
        assert!(!log.rotated_path().exists());
    }

    #[test]
    fn a_rotation_that_fails_still_appends_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        let mut log = DecisionLog::open(&path).unwrap().max_size(Some(10));
        append_numbered(&mut log, 0, 1);
        // A directory with something in it cannot be renamed over.
        std::fs::create_dir_all(log.rotated_path().join("x")).unwrap();
        let e = log.append(&a_record()).unwrap().expect("a rotation error");
        assert!(
            e.to_string().starts_with(&format!(
                "decision log {}: cannot rotate it (rename to {}.1):",
                path.display(),
                path.display()
            )),
            "{e}"
        );
        assert_eq!(line_count(&path), 2);
    }
}
