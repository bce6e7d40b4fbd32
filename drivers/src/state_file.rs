//! The decay state file (`decayInfoFilePath`, `{"runs_since_change": N}`),
//! and the one read-decide-write transaction every evaluation goes through
//! ([`StateFile::decide`]): `lpa evaluate` and the run loop of `lpa run`.
//!
//! The original rewrote the file in place without truncating, so a counter
//! going from 10 to 9 left `{"runs_since_change": 9}}` behind and every later
//! run crashed. Here a write goes to a temp file in the same directory
//! (`tempfile`), is fsynced and renamed over the old one (rename is atomic
//! on POSIX), and the directory is fsynced so the rename survives a power
//! cut. A reader sees the old file or the new one, never half of either.
//!
//! CPA can run an evaluation from its scheduler and one from its REST API at
//! the same time; both read-decide-write. An exclusive `flock` on a sibling
//! lock file serialises them so neither update is lost. The lock lives on a
//! separate file because the state file itself is replaced by each rename.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use lpa_core::{Decision, Observation, Policy, State};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file {path}: cannot {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
}

fn io_err(path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> StateError {
    let path = path.to_path_buf();
    move |source| StateError::Io {
        path,
        action,
        source,
    }
}

/// A state file path. Cheap; nothing is touched until [`StateFile::lock`].
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

/// An exclusive hold on the state file, released on drop.
#[derive(Debug)]
pub struct StateLock {
    path: PathBuf,
    _lock: File,
}

/// What loading found, besides the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// The file was there and valid.
    Found,
    /// No file yet: a first run.
    Missing,
    /// Empty or unreadable as state: started fresh. The message says why.
    Corrupt(String),
}

impl StateFile {
    pub fn new(path: impl Into<PathBuf>) -> StateFile {
        StateFile { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the exclusive lock, waiting for another holder to finish.
    pub fn lock(&self) -> Result<StateLock, StateError> {
        let lock_path = self.path.with_file_name(sibling_name(&self.path, "lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&self.path, "create its lock file"))?;
        file.lock().map_err(io_err(&self.path, "lock"))?;
        Ok(StateLock {
            path: self.path.clone(),
            _lock: file,
        })
    }

    /// Reads without locking, for display (`lpa check`).
    pub fn peek(&self) -> Result<(State, Loaded), StateError> {
        read_state(&self.path)
    }

    /// One evaluation, as a transaction under the exclusive lock:
    ///
    /// 1. lock, and load the state (missing or corrupt: a fresh one, and
    ///    [`Decided::loaded`] says so);
    /// 2. `lpa_core::decide(obs, policy, state)`;
    /// 3. `apply` the decision, still under the lock, so no other evaluation
    ///    decides from the state this one is about to replace; it answers
    ///    whether the decision took effect (a dry run answers false);
    /// 4. save the next state only if it did.
    ///
    /// An error here means nothing was decided; a failed save comes back in
    /// [`Decided::saved`], beside the decision it failed to record.
    pub fn decide(
        &self,
        obs: &Observation,
        policy: &Policy,
        apply: impl FnOnce(&Decision) -> bool,
    ) -> Result<Decided, StateError> {
        let lock = self.lock()?;
        let (prior, loaded) = lock.load()?;
        let decision = lpa_core::decide(obs, policy, &prior);
        let saved = if apply(&decision) {
            lock.save(&decision.next_state).map(|()| true)
        } else {
            Ok(false)
        };
        let state = match saved {
            Ok(true) => decision.next_state.clone(),
            _ => prior,
        };
        Ok(Decided {
            decision,
            loaded,
            saved,
            state,
            path: self.path.clone(),
        })
    }
}

/// What [`StateFile::decide`] did.
#[derive(Debug)]
pub struct Decided {
    pub decision: Decision,
    /// What loading found: a corrupt file was replaced by a fresh state.
    pub loaded: Loaded,
    /// Whether the next state was saved (false: the decision did not take
    /// effect), or why saving it failed.
    pub saved: Result<bool, StateError>,
    /// The state the file holds now: the next one when saved, else the
    /// prior (a fresh one when the file was missing or corrupt).
    pub state: State,
    path: PathBuf,
}

impl Decided {
    /// The warning for a corrupt state file that was started afresh.
    pub fn warning(&self) -> Option<String> {
        match &self.loaded {
            Loaded::Corrupt(why) => Some(format!(
                "state file {}: {why}; starting fresh",
                self.path.display()
            )),
            Loaded::Found | Loaded::Missing => None,
        }
    }
}

impl StateLock {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the state. A missing, empty or corrupt file starts fresh: a
    /// crash loop over a bad file would leave the service unscaled forever.
    /// Only a file that exists but cannot be read is an error.
    pub fn load(&self) -> Result<(State, Loaded), StateError> {
        read_state(&self.path)
    }

    /// Replaces the file atomically with `state`: a temp file beside it,
    /// fsynced, renamed over it, then the directory fsynced.
    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let mut json = serde_json::to_vec(state).expect("State serialises");
        json.push(b'\n');
        let dir = parent_dir(&self.path);
        // The prefix marks it as this file's, for remove_stale_temp_files.
        let mut tmp = tempfile::Builder::new()
            .prefix(&temp_prefix(&self.path))
            .tempfile_in(dir)
            .map_err(io_err(&self.path, "create a temp file beside it"))?;
        tmp.write_all(&json).map_err(io_err(&self.path, "write"))?;
        tmp.as_file()
            .sync_all()
            .map_err(io_err(&self.path, "sync"))?;
        // On failure the temp file is removed when the error drops it.
        tmp.persist(&self.path)
            .map_err(|e| io_err(&self.path, "replace")(e.error))?;
        self.remove_stale_temp_files();
        // Persist the rename itself; not all filesystems allow opening a
        // directory for sync, and the data is already safe in the file.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl StateLock {
    /// Temp files of writers killed mid-write (CPA kills a hook past its
    /// timeout). Under the exclusive lock no other writer is active, so any
    /// temp file left beside the state file is stale; without this they
    /// would pile up, one per kill.
    fn remove_stale_temp_files(&self) {
        let prefix = temp_prefix(&self.path);
        let Ok(entries) = fs::read_dir(parent_dir(&self.path)) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// `.decay_info.json.lock` beside `decay_info.json`: hidden, and named
/// after the file it serves.
fn sibling_name(path: &Path, suffix: &str) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".to_string());
    format!(".{name}.{suffix}")
}

/// What this file's temp files start with.
fn temp_prefix(path: &Path) -> String {
    sibling_name(path, "tmp.")
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn read_state(path: &Path) -> Result<(State, Loaded), StateError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok((State::default(), Loaded::Missing))
        }
        Err(e) => return Err(io_err(path, "read")(e)),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok((State::default(), Loaded::Corrupt("file is empty".into())));
    }
    match serde_json::from_slice::<State>(&bytes) {
        Ok(s) => Ok((s, Loaded::Found)),
        Err(e) => Ok((
            State::default(),
            Loaded::Corrupt(format!("not valid state JSON ({e})")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_original_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decay_info.json");
        fs::write(&path, r#"{"runs_since_change": 12}"#).unwrap();
        let sf = StateFile::new(&path);
        let lock = sf.lock().unwrap();
        let (s, how) = lock.load().unwrap();
        assert_eq!((s.runs_since_change, how), (12, Loaded::Found));
        // The original's defect: 12 -> 9 in place left a stray brace.
        let next = State {
            runs_since_change: 9,
            ..State::default()
        };
        lock.save(&next).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\"runs_since_change\":9}\n"
        );
        assert_eq!(lock.load().unwrap(), (next, Loaded::Found));
    }

    #[test]
    fn empty_and_corrupt_files_start_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let sf = StateFile::new(&path);
        assert_eq!(sf.peek().unwrap(), (State::default(), Loaded::Missing));
        fs::write(&path, "").unwrap();
        assert!(matches!(sf.peek().unwrap().1, Loaded::Corrupt(_)));
        fs::write(&path, r#"{"runs_since_change": 9}}"#).unwrap();
        assert!(matches!(sf.peek().unwrap().1, Loaded::Corrupt(_)));
        fs::write(&path, r#"{"runs_since_change": -1}"#).unwrap();
        assert!(matches!(sf.peek().unwrap().1, Loaded::Corrupt(_)));
    }

    #[test]
    fn stale_temp_files_of_killed_writers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decay_info.json");
        let stale = dir.path().join(".decay_info.json.tmp.999999");
        fs::write(&stale, "{\"runs_since_").unwrap();
        let other = dir.path().join("unrelated.json");
        fs::write(&other, "{}").unwrap();
        let lock = StateFile::new(&path).lock().unwrap();
        lock.save(&State::default()).unwrap();
        assert!(!stale.exists());
        assert!(other.exists());
    }

    #[test]
    fn decide_saves_only_a_decision_that_took_effect() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        fs::write(&path, "{\"runs_since_change\": 9}}").unwrap();
        let sf = StateFile::new(&path);
        let policy = lpa_core::parse_policy(
            "p.yaml",
            "targets:\n  - {endpoint: /, type: mean, target: 7}\n",
        )
        .unwrap();
        let obs = Observation {
            current_replicas: 2,
            ..Observation::default()
        };
        // A dry run: decided, the corrupt file left as it was.
        let d = sf.decide(&obs, &policy, |_| false).unwrap();
        assert!(matches!(d.saved, Ok(false)));
        assert_eq!(d.state, State::default());
        let warning = d.warning().unwrap();
        assert!(
            warning.starts_with(&format!(
                "state file {}: not valid state JSON",
                path.display()
            )) && warning.ends_with("; starting fresh"),
            "{warning}"
        );
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\"runs_since_change\": 9}}"
        );
        // Applied: the next state is saved, and what apply saw is what was decided.
        let mut seen = None;
        let d = sf
            .decide(&obs, &policy, |decision| {
                seen = Some(decision.replicas);
                true
            })
            .unwrap();
        assert_eq!(seen, Some(d.decision.replicas));
        assert!(matches!(d.saved, Ok(true)));
        assert_eq!(
            sf.peek().unwrap(),
            (d.decision.next_state.clone(), Loaded::Found)
        );
        assert_eq!(d.state, d.decision.next_state);
        assert!(
            matches!(d.loaded, Loaded::Corrupt(_)),
            "still corrupt before this save"
        );
        assert!(sf
            .decide(&obs, &policy, |_| true)
            .unwrap()
            .warning()
            .is_none());
    }

    #[test]
    fn missing_directory_is_a_clear_error() {
        let sf = StateFile::new("/nonexistent-lpa-dir/decay_info.json");
        let e = sf.lock().unwrap_err().to_string();
        assert!(
            e.starts_with(
                "state file /nonexistent-lpa-dir/decay_info.json: cannot create its lock file:"
            ),
            "{e}"
        );
    }
}
