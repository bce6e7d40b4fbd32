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
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use lpa_core::{Decision, Observation, Policy, State};

use crate::scale::state_configmap::{Pulled, Pushed};
use crate::scale::DriverError;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file {path}: cannot {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    #[error("state file {}: is {what}, not a regular file: each save replaces the state file whole, which would put a file in its place; give the path of a file, or of none yet", path.display())]
    NotAFile { path: PathBuf, what: &'static str },
    #[error("state file {}: is read-only to lpa: each save replaces it; make it writable, or give another path", path.display())]
    ReadOnly { path: PathBuf },
    #[error("state file {}: its {role} {} is {what}, not a regular file: lpa makes it, as a file, and reads nothing there; remove it", path.display(), sibling.display())]
    Sibling {
        path: PathBuf,
        role: &'static str,
        sibling: PathBuf,
        what: &'static str,
    },
    #[error("state file {}: in use by another lpa run (it holds {}): two loops on one state file would mix their decay counters and models; give each its own --decay-info", path.display(), owner.display())]
    InUse { path: PathBuf, owner: PathBuf },
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

/// One loop's claim on a state file ([`StateFile::claim`]), released on
/// drop or exit.
#[derive(Debug)]
pub struct StateClaim {
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
    /// Read, less the fields that were not valid state: each says which
    /// and why, or which was read as the number it spelled.
    Salvaged(Vec<String>),
}

impl StateFile {
    pub fn new(path: impl Into<PathBuf>) -> StateFile {
        StateFile { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sibling file `.NAME.suffix` a lock is taken on, opened (created
    /// if need be, never truncated), and its path.
    fn lock_file(&self, suffix: &str, action: &'static str) -> Result<(File, PathBuf), StateError> {
        let state = regular_file(&self.path)?;
        let resolved = resolve(&self.path)?;
        let path = sibling(&resolved, suffix);
        let role = if suffix == "lock" {
            "lock file"
        } else {
            "owner lock file"
        };
        // Created here, or opened as it is: an existing one is opened as
        // its own file, never through a link (a root run chowned what a
        // link the directory's owner planted there named: /etc/shadow),
        // and never a named pipe (whose open waited for a reader forever).
        let (file, created) = match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => (file, true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => (
                open_own(
                    OpenOptions::new().write(true),
                    &path,
                    (&resolved, role, action),
                )?,
                false,
            ),
            Err(e) => return Err(io_err(&resolved, action)(e)),
        };
        // The state file's owner's, as a save keeps the file's: a lock a
        // root run by hand created stopped every later evaluation of the
        // service account ("cannot create its lock file").
        if let (true, Some(state)) = (created, state) {
            let _ = std::os::unix::fs::fchown(&file, Some(state.uid()), Some(state.gid()));
        }
        Ok((file, path))
    }

    /// Takes the exclusive lock, waiting for another holder to finish.
    pub fn lock(&self) -> Result<StateLock, StateError> {
        let (file, _) = self.lock_file("lock", "create its lock file")?;
        file.lock().map_err(io_err(&self.path, "lock"))?;
        Ok(StateLock {
            path: self.path.clone(),
            _lock: file,
        })
    }

    /// Claims the file for one loop's lifetime (`lpa run`), beside the
    /// lock each transaction takes: a second loop on the same file fails
    /// here, at once, where the transactions' lock would let both run and
    /// interleave their cycles. The claim ends with the process.
    pub fn claim(&self) -> Result<StateClaim, StateError> {
        let (file, owner) = self.lock_file("owner", "create its owner lock file")?;
        match file.try_lock() {
            Ok(()) => Ok(StateClaim { _lock: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StateError::InUse {
                path: self.path.clone(),
                owner,
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(io_err(&self.path, "lock")(e)),
        }
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
        self.lock()?.decide_from(None, obs, policy, apply)
    }
}

impl StateLock {
    /// [`StateFile::decide`] under this lock, taken already, from `prior`
    /// in place of the file's state when given (a dry run's copy of the
    /// cluster's, which it does not save). A hook holds the lock from its
    /// read of the cluster's copy to its write, so that an evaluation at
    /// the same time reads no copy that this one's write makes stale.
    pub fn decide_from(
        &self,
        prior: Option<&State>,
        obs: &Observation,
        policy: &Policy,
        apply: impl FnOnce(&Decision) -> bool,
    ) -> Result<Decided, StateError> {
        let target = resolve(&self.path)?;
        let (prior, loaded, bytes) = match prior {
            Some(p) => (p.clone(), Loaded::Found, Some(Vec::new())),
            None => read(&target)?,
        };
        let decision = lpa_core::decide(obs, policy, &prior);
        let mut kept = None;
        let saved = if apply(&decision) {
            // Whatever the file held that the new state will not is kept
            // first: a failed copy saves nothing rather than lose it.
            let keep = match (&loaded, &bytes) {
                (Loaded::Found | Loaded::Missing, _) => Ok(None),
                (Loaded::Salvaged(changes), _) if numbers_only(changes) => Ok(None),
                (_, Some(bytes)) if is_blank(bytes) => Ok(None),
                (_, bytes) => keep_aside(&target, bytes.as_deref()).map(Some),
            };
            keep.and_then(|k| {
                kept = k;
                self.save(&decision.next_state).map(|()| true)
            })
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
            kept,
            path: self.path.clone(),
        })
    }
}

/// What [`StateFile::adopt`] did with the state the cluster keeps.
#[derive(Debug, Clone, PartialEq)]
pub enum Adopted {
    /// It replaced the file's (or, not saved, decides in its place).
    Cluster(State),
    /// The file was last in step with this very version of it: no one
    /// wrote it since, so the file is as new, or newer (this loop's writes
    /// to the cluster failed since). Kept.
    Local,
    /// It is not valid state: the file kept. The message says why.
    Invalid(String),
    /// It was read in part, as a state file is (the message says what
    /// was dropped or read as a number), and replaced the file's; set
    /// when something was dropped, not only numbers read.
    Salvaged(State, String, bool),
    /// It holds no state yet (no `state.json`: one created by hand, so
    /// that lpa needs no `create`): the file kept.
    Empty,
}

impl StateFile {
    /// Takes the state the cluster keeps (`pulled`, read at a loop's first
    /// decision or when it takes its Lease over) in place of the file's,
    /// unless the file was last in step with this very version: the API
    /// server changes a `resourceVersion` on every write, so an equal one
    /// says no one wrote the cluster's copy since, and the file holds the
    /// same state or a newer one (saved while the writes to the cluster
    /// failed). Versions are only compared for equality, and no clock is
    /// read. Anything else, a file never in step with it included (a new
    /// pod's empty directory) or one removed or emptied since it was,
    /// takes the cluster's: saved in the file
    /// when `save`, else only returned (a dry run writes nothing).
    pub fn adopt(&self, pulled: &Pulled, save: bool) -> Result<Adopted, StateError> {
        self.lock()?.adopt(pulled, save)
    }

    /// [`StateFile::adopt`], told as a loop or a hook logs it: the state
    /// to decide from in place of the file's (a dry run's, which saves
    /// none), and the line that says what became of the cluster's copy.
    pub fn take(&self, pulled: &Pulled, dry_run: bool) -> Taken {
        let adopted = self.lock().and_then(|lock| lock.adopt(pulled, !dry_run));
        told(adopted, pulled, dry_run, &self.path)
    }

    /// Notes that the file is in step with version `version` of the
    /// cluster's copy `named`, just written or adopted. A note lost (a
    /// crash before it) only makes the next start take the cluster's copy.
    pub fn synced(&self, named: &str, version: &str) -> Result<(), StateError> {
        note_synced(&self.path, named, version)
    }

    /// What became of a write of the saved state to the cluster, told as
    /// a loop or a hook logs it; one that took notes the file in step with
    /// the version it made.
    pub fn written(&self, written: Result<Pushed, DriverError>) -> Written {
        told_write(written, &self.path)
    }
}

impl StateLock {
    /// [`StateFile::adopt`] under this lock, taken already.
    pub fn adopt(&self, pulled: &Pulled, save: bool) -> Result<Adopted, StateError> {
        // Read as itself, as it is written: a named pipe there held this
        // read forever. One that is no file is no note.
        let synced = read_own(&synced_path(&self.path), 4096)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        // A file removed or emptied since (by hand: saves are atomic)
        // holds nothing, whatever the note beside it says.
        let holds_state = || {
            matches!(
                read(&self.path),
                Ok((_, Loaded::Found | Loaded::Salvaged(_), _))
            )
        };
        if synced.trim() == format!("{} {}", pulled.named, pulled.version) && holds_state() {
            return Ok(Adopted::Local);
        }
        let Some(json) = &pulled.json else {
            return Ok(Adopted::Empty);
        };
        let (state, salvaged) = match parse(json.as_bytes()) {
            (state, Loaded::Found) => (state, None),
            (_, Loaded::Corrupt(why)) => return Ok(Adopted::Invalid(why)),
            // As a state file with a bad field: the rest is what was learned.
            (state, Loaded::Salvaged(changes)) => {
                (state, Some((changes.join("; "), !numbers_only(&changes))))
            }
            (_, Loaded::Missing) => unreachable!("parse finds bytes"),
        };
        if save {
            self.save(&state)?;
            self.synced(&pulled.named, &pulled.version)?;
        }
        Ok(match salvaged {
            None => Adopted::Cluster(state),
            Some((why, dropped)) => Adopted::Salvaged(state, why, dropped),
        })
    }

    /// [`StateFile::take`] under this lock, taken already.
    pub fn take(&self, pulled: &Pulled, dry_run: bool) -> Taken {
        told(self.adopt(pulled, !dry_run), pulled, dry_run, &self.path)
    }

    /// [`StateFile::synced`] under this lock, taken already.
    pub fn synced(&self, named: &str, version: &str) -> Result<(), StateError> {
        note_synced(&self.path, named, version)
    }

    /// [`StateFile::written`] under this lock, taken already.
    pub fn written(&self, written: Result<Pushed, DriverError>) -> Written {
        told_write(written, &self.path)
    }
}

/// The sibling file naming the cluster copy's version the file was last
/// in step with: `configmap NS/NAME RESOURCEVERSION`.
fn synced_path(path: &Path) -> PathBuf {
    sibling(
        &resolve(path).unwrap_or_else(|_| path.to_path_buf()),
        "synced",
    )
}

/// The file `.NAME.suffix` beside `resolved`, the state file through its
/// links: beside the link, a file reached by two paths (a link left by a
/// migration, and its target) had a lock for each, and two writers at
/// once lost updates and removed each other's temp files.
fn sibling(resolved: &Path, suffix: &str) -> PathBuf {
    resolved.with_file_name(sibling_name(resolved, suffix))
}

fn note_synced(path: &Path, named: &str, version: &str) -> Result<(), StateError> {
    // As the lock files are opened.
    let action = "note its version in the cluster";
    open_own(
        OpenOptions::new().write(true).create(true).truncate(true),
        &synced_path(path),
        (path, "version file", action),
    )?
    .write_all(format!("{named} {version}\n").as_bytes())
    .map_err(io_err(path, action))
}

/// `O_NOFOLLOW | O_NONBLOCK`: see [`open_own`].
const OWN: i32 = (rustix::fs::OFlags::NOFOLLOW.bits() | rustix::fs::OFlags::NONBLOCK.bits()) as i32;

/// Opens `sibling`, a file lpa keeps beside the state file, as itself:
/// `O_NOFOLLOW` (a link in its place is refused, not followed) and
/// `O_NONBLOCK` (a named pipe is refused at once, where opening it to
/// write waited for a reader), then refused unless it is a regular file.
/// Errors name the state file, what the sibling is to it (`role`), and
/// `action`.
fn open_own(
    options: &mut OpenOptions,
    sibling: &Path,
    (state, role, action): (&Path, &'static str, &'static str),
) -> Result<File, StateError> {
    use rustix::io::Errno;
    let not_own = |what| StateError::Sibling {
        path: state.to_path_buf(),
        role,
        sibling: sibling.to_path_buf(),
        what,
    };
    let file = options.custom_flags(OWN).open(sibling).map_err(|e| {
        match e.raw_os_error().map(Errno::from_raw_os_error) {
            Some(Errno::LOOP) => not_own("a symbolic link"),
            // What opening a pipe no one reads, or a socket, to write says.
            Some(Errno::NXIO) => not_own(
                fs::symlink_metadata(sibling)
                    .ok()
                    .and_then(|m| not_regular(m.file_type()))
                    .unwrap_or("a named pipe"),
            ),
            Some(Errno::ISDIR) => not_own("a directory"),
            _ => io_err(state, action)(e),
        }
    })?;
    let kind = file.metadata().map_err(io_err(state, action))?.file_type();
    match not_regular(kind) {
        Some(what) => Err(not_own(what)),
        None => Ok(file),
    }
}

/// The first `max` bytes of `path`, a file lpa keeps, opened as
/// [`open_own`] opens it; an error when it is no regular file.
fn read_own(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = OpenOptions::new().read(true).custom_flags(OWN).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// What became of the cluster's copy `pulled`, told as a loop or a hook
/// logs it ([`StateFile::take`]).
fn told(
    adopted: Result<Adopted, StateError>,
    pulled: &Pulled,
    dry_run: bool,
    path: &Path,
) -> Taken {
    let (named, version) = (&pulled.named, &pulled.version);
    let mut taken = Taken::default();
    match adopted {
        Ok(Adopted::Cluster(state)) if dry_run => {
            taken.prior = Some(state);
            taken.note = Some(format!(
                "state: read from {named} (resourceVersion {version}): the dry run decides from it, and writes neither it nor the state file"
            ));
        }
        Ok(Adopted::Cluster(_)) => {
            taken.note = Some(format!(
                "state: read from {named} (resourceVersion {version}), in place of the state file's"
            ));
        }
        Ok(Adopted::Local) => {
            taken.in_step = true;
            taken.note = Some(format!(
                "state: {named} (resourceVersion {version}) is unchanged since the state file was last in step with it: the file, as new or newer, decides"
            ));
        }
        Ok(Adopted::Salvaged(state, why, dropped)) => {
            // No copy of the cluster's is kept, as a file's is: what was
            // dropped (a newer lpa's fields, after a rollback) is gone
            // with the next save, which was said nowhere (helper A23).
            let after = match (dry_run, dropped) {
                (true, _) => " (the dry run writes neither)",
                (false, true) => "; the next save writes it without what was dropped",
                (false, false) => "",
            };
            taken.warning = Some(format!(
                "{named} (resourceVersion {version}): read in part ({why}): the rest decides, in place of the state file's{after}"
            ));
            if dry_run {
                taken.prior = Some(state);
            }
        }
        Ok(Adopted::Empty) => {
            taken.note = Some(format!(
                "state: {named} (resourceVersion {version}) holds no state yet: the state file decides, and its save is written there"
            ));
        }
        Ok(Adopted::Invalid(why)) => {
            taken.warning = Some(format!(
                "{named}: not valid state ({why}): deciding from the state file {}; the next save writes over it",
                path.display()
            ));
        }
        Err(e) => {
            taken.warning = Some(format!(
                "{named}: not taken in place of the state file: {e}"
            ));
        }
    }
    taken
}

/// [`StateFile::written`]'s telling.
fn told_write(written: Result<Pushed, DriverError>, path: &Path) -> Written {
    match written {
        Ok(pushed) => {
            let mut warnings: Vec<String> = pushed.warning.into_iter().collect();
            if let Err(e) = note_synced(path, &pushed.named, &pushed.version) {
                warnings.push(e.to_string());
            }
            Written {
                warnings,
                failed: false,
            }
        }
        Err(e) => Written {
            warnings: vec![format!(
                "state saved in {} but not in the cluster: {e}",
                path.display()
            )],
            failed: true,
        },
    }
}

/// What [`StateFile::written`] made of a write to the cluster.
#[derive(Debug, Default)]
pub struct Written {
    pub warnings: Vec<String>,
    /// The write failed: the file holds the state, and the next save
    /// writes the cluster's copy again.
    pub failed: bool,
}

/// What [`StateFile::take`] made of the cluster's copy of the state.
#[derive(Debug, Default)]
pub struct Taken {
    /// Decide from this in place of the file's state: a dry run's copy,
    /// which is not saved.
    pub prior: Option<State>,
    /// The file was in step with the copy read, and decides: the usual
    /// case, which a hook run every interval does not log.
    pub in_step: bool,
    pub note: Option<String>,
    pub warning: Option<String>,
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
    /// Where the file's original bytes were kept before a state read less
    /// than all of them replaced it.
    pub kept: Option<PathBuf>,
    path: PathBuf,
}

impl Decided {
    /// The warning for a state file read in part or not at all, and where
    /// its original went.
    pub fn warning(&self) -> Option<String> {
        let kept = match &self.kept {
            Some(k) => format!("; the original is kept in {}", k.display()),
            None => String::new(),
        };
        match &self.loaded {
            Loaded::Corrupt(why) => Some(format!(
                "state file {}: {why}; starting fresh{kept}",
                self.path.display()
            )),
            // The original's `int()` read them so: nothing was lost.
            Loaded::Salvaged(changes) if numbers_only(changes) => Some(format!(
                "state file {}: {}; nothing else changed",
                self.path.display(),
                changes.join("; ")
            )),
            Loaded::Salvaged(changes) => Some(format!(
                "state file {}: {}; kept the rest{kept}",
                self.path.display(),
                changes.join("; ")
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
        let target = resolve(&self.path)?;
        let existing = regular_file(&target)?;
        // Nor is a file lpa may not write replaced with one it may.
        if existing.is_some() && rustix::fs::access(&target, rustix::fs::Access::WRITE_OK).is_err()
        {
            return Err(StateError::ReadOnly { path: target });
        }
        let dir = parent_dir(&target);
        // The prefix marks it as this file's, for remove_stale_temp_files.
        let mut tmp = tempfile::Builder::new()
            .prefix(&temp_prefix(&target))
            .tempfile_in(dir)
            .map_err(io_err(&self.path, "create a temp file beside it"))?;
        // Through the File: NamedTempFile's own write names the temp file
        // in its error, which is gone by the time the error is read.
        // The replacement is the file its reader knew: its mode and owner
        // kept, where each save made it 0600 and the saver's (a root run by
        // hand left a file the service account could no longer read). An
        // owner only root may give stays the saver's.
        if let Some(meta) = &existing {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            let file = tmp.as_file();
            let _ = std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()));
            file.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))
                .map_err(io_err(&self.path, "set the mode of"))?;
        }
        tmp.as_file_mut()
            .write_all(&json)
            .map_err(io_err(&self.path, "write"))?;
        tmp.as_file()
            .sync_all()
            .map_err(io_err(&self.path, "sync"))?;
        // On failure the temp file is removed when the error drops it.
        tmp.persist(&target)
            .map_err(|e| io_err(&self.path, "replace")(e.error))?;
        remove_stale_temp_files(&target);
        // Persist the rename itself; not all filesystems allow opening a
        // directory for sync, and the data is already safe in the file.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// Temp files of writers killed mid-write (CPA kills a hook past its
/// timeout). Under the exclusive lock no other writer is active, so any
/// temp file left beside the state file is stale; without this they would
/// pile up, one per kill.
fn remove_stale_temp_files(target: &Path) {
    let prefix = temp_prefix(target);
    let Ok(entries) = fs::read_dir(parent_dir(target)) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The file `path` names, through any symlinks, whether it exists or not:
/// a save replaces that file, not the link (a link to a file on a volume
/// became a file beside it, and the volume's kept the old state).
fn resolve(path: &Path) -> Result<PathBuf, StateError> {
    let mut at = path.to_path_buf();
    // Linux's own limit on links followed in one lookup.
    for _ in 0..40 {
        match fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = fs::read_link(&at).map_err(io_err(path, "read the link"))?;
                at = parent_dir(&at).join(to);
            }
            _ => return Ok(at),
        }
    }
    Err(io_err(path, "follow the link")(
        io::Error::from_raw_os_error(rustix::io::Errno::LOOP.raw_os_error()),
    ))
}

/// Where `path` leads, through any symlinks, as its directory (by device
/// and inode, so a directory mounted twice, as a volume and a subPath
/// of it, is one) and its name: one entry of one directory, whether a
/// file is there yet or not. None when the directory cannot be found.
pub fn entry(path: &Path) -> Option<((u64, u64), std::ffi::OsString)> {
    let at = resolve(path).ok()?;
    let dir = fs::metadata(parent_dir(&at)).ok()?;
    Some(((dir.dev(), dir.ino()), at.file_name()?.to_owned()))
}

impl StateFile {
    /// Whether `other` names a file this state file writes or removes:
    /// the state (through any link), its lock, owner and synced files, or
    /// one of its temp files, which a save removes as stale. Any other
    /// input or output there would be lost.
    pub fn writes(&self, other: &Path) -> bool {
        let Some(other) = entry(other) else {
            return false;
        };
        let resolved = resolve(&self.path).unwrap_or_else(|_| self.path.clone());
        let at = |suffix: &str| entry(&sibling(&resolved, suffix));
        let state = entry(&self.path);
        let temp = state.as_ref().is_some_and(|(dir, name)| {
            *dir == other.0
                && other
                    .1
                    .to_string_lossy()
                    .starts_with(&temp_prefix(Path::new(name)))
        });
        temp || [state, at("lock"), at("owner"), at("synced")].contains(&Some(other))
    }
}

/// What `path` names, through symlinks, when it is a regular file; None
/// when nothing is there yet. Anything else is an error: a device is no
/// state, and a save would replace it (`--decay-info /dev/null`, run as
/// root, put a file in /dev/null's place for the whole machine); a named
/// pipe would hold the read until a writer came.
fn regular_file(path: &Path) -> Result<Option<fs::Metadata>, StateError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path, "read")(e)),
    };
    match not_regular(meta.file_type()) {
        None => Ok(Some(meta)),
        Some(what) => Err(StateError::NotAFile {
            path: path.to_path_buf(),
            what,
        }),
    }
}

/// What a file that is not a regular one is, in words.
fn not_regular(kind: fs::FileType) -> Option<&'static str> {
    Some(if kind.is_file() {
        return None;
    } else if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_fifo() {
        "a named pipe"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file"
    })
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

/// The directory a file's path names, `.` for a bare file name: where a
/// file written through a temporary sibling gets its temporary file.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn read_state(path: &Path) -> Result<(State, Loaded), StateError> {
    read(path).map(|(state, loaded, _)| (state, loaded))
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// The state, what loading found, and the bytes it was read from: None
/// when there were more than a state may hold, which are not read.
fn read(path: &Path) -> Result<(State, Loaded, Option<Vec<u8>>), StateError> {
    let Some(meta) = regular_file(path)? else {
        return Ok((State::default(), Loaded::Missing, Some(Vec::new())));
    };
    let mut bytes = Vec::new();
    let read =
        File::open(path).and_then(|f| f.take(MAX_STATE_BYTES as u64 + 1).read_to_end(&mut bytes));
    match read {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok((State::default(), Loaded::Missing, Some(Vec::new())))
        }
        Err(e) => return Err(io_err(path, "read")(e)),
    }
    if bytes.len() > MAX_STATE_BYTES {
        let size = meta.len().max(bytes.len() as u64);
        return Ok((State::default(), Loaded::Corrupt(too_large(size)), None));
    }
    let (state, loaded) = parse(&bytes);
    Ok((state, loaded, Some(bytes)))
}

fn too_large(size: u64) -> String {
    format!("file is {size} bytes, more than the {MAX_STATE_BYTES} a state may be")
}

/// The most a state file may hold. lpa writes a few KiB: the runs of its
/// windows (15 minutes, or the downscale stabilization's, at one a run)
/// and a model of fixed size; 4 MiB is over 100 000 runs. Reading JSON
/// takes about 50 times its size in memory where it is walked as a value
/// (the check for arrays where objects belong): a 54 MB file took 3 GB,
/// and a bigger one ended the process.
const MAX_STATE_BYTES: usize = 4 << 20;

/// The state in a state file's bytes (or a state ConfigMap's), and what
/// reading them found. Public for the fuzzer (fuzz/fuzz_targets/state.rs):
/// the bytes come from outside, a file anyone may edit or a ConfigMap
/// anyone with RBAC on it may.
pub fn parse(bytes: &[u8]) -> (State, Loaded) {
    if bytes.len() > MAX_STATE_BYTES {
        return (
            State::default(),
            Loaded::Corrupt(too_large(bytes.len() as u64)),
        );
    }
    // Windows editors save UTF-8 with a byte order mark, which JSON forbids.
    let json = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if is_blank(json) {
        return (State::default(), Loaded::Corrupt("file is empty".into()));
    }
    // serde reads a struct from an array too, field by field in order
    // (`[5, 2]` as 5 calm runs at 2 replicas): only an object is state.
    if let Some(kind) = not_an_object(json) {
        let why = Loaded::Corrupt(format!("holds {kind}, not a state object"));
        return (State::default(), why);
    }
    let (state, loaded, read) = parse_known(json);
    let unknown = unknown_fields(&read);
    match (state, loaded) {
        (s, Loaded::Found) if unknown.is_empty() => (s, Loaded::Found),
        (s, Loaded::Found) => (s, Loaded::Salvaged(unknown)),
        (s, Loaded::Salvaged(mut dropped)) => {
            dropped.extend(unknown);
            (s, Loaded::Salvaged(dropped))
        }
        corrupt => corrupt,
    }
}

/// The keys of `json` that no field of [`State`] reads: a newer lpa's, or
/// a name misspelt by hand. serde passes over them, and the next save
/// drops them: said, so that the original kept beside the file has them.
fn unknown_fields(json: &[u8]) -> Vec<String> {
    fn steps(path: &serde_ignored::Path<'_>, out: &mut Vec<Step>) {
        use serde_ignored::Path;
        match path {
            Path::Root => {}
            Path::Seq { parent, index } => {
                steps(parent, out);
                out.push(Step::Index(*index));
            }
            Path::Map { parent, key } => {
                steps(parent, out);
                out.push(Step::Key(key.clone()));
            }
            Path::Some { parent }
            | Path::NewtypeStruct { parent }
            | Path::NewtypeVariant { parent } => steps(parent, out),
        }
    }
    let mut unknown = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(json);
    // What does not parse is said by the parse itself.
    let _ = serde_ignored::deserialize::<_, _, State>(&mut de, |path| {
        let mut path_steps = Vec::new();
        steps(&path, &mut path_steps);
        unknown.push(show_path(&path_steps));
    });
    if unknown.is_empty() {
        return unknown;
    }
    // In one order however the document was reprinted.
    unknown.sort();
    vec![format!(
        "dropped {}, which lpa's state does not have (a newer lpa's? misspelt?)",
        unknown.join(", ")
    )]
}

/// Whether reading changed nothing but numbers written as text or whole
/// decimals (`"3"`, `2.0`), read as the numbers they are: a file of the
/// Python original's, which lost nothing and is not kept aside as corrupt.
fn numbers_only(changes: &[String]) -> bool {
    changes.iter().all(|c| c.starts_with(READ_AS))
}

/// How a change of [`numbers_only`] starts.
const READ_AS: &str = "read ";

/// The state in `json`, with what reading it dropped or could not read,
/// and the document the state was read from at last (what was dropped
/// taken out).
fn parse_known(json: &[u8]) -> (State, Loaded, Vec<u8>) {
    let (s, loaded, read) = parse_or_salvage(json);
    let Loaded::Found = loaded else {
        return (s, loaded, read);
    };
    let Some((text, mut dropped)) = without_arrays_for_objects(json, &s) else {
        return (s, loaded, read);
    };
    match parse_or_salvage(&text) {
        (s, Loaded::Found, read) => (s, Loaded::Salvaged(dropped), read),
        (s, Loaded::Salvaged(more), read) => {
            dropped.extend(more);
            (s, Loaded::Salvaged(dropped), read)
        }
        corrupt => corrupt,
    }
}

/// The state in `json`: as written, or what [`salvage`] keeps of it, or
/// none (corrupt); and the document it was read from.
fn parse_or_salvage(json: &[u8]) -> (State, Loaded, Vec<u8>) {
    let e = match serde_json::from_slice::<State>(json) {
        Ok(s) => return (s, Loaded::Found, json.to_vec()),
        Err(e) => e,
    };
    match salvage(json) {
        // Nothing dropped: the value read past what the state could
        // not, a key given twice (a hand edit). It keeps the last.
        Some((s, dropped, read)) if dropped.is_empty() => {
            let mut why = without_position(&e);
            if why.starts_with("duplicate field") {
                why.push_str(": read the last one");
            }
            (s, Loaded::Salvaged(vec![why]), read)
        }
        Some((s, dropped, read)) => (s, Loaded::Salvaged(dropped), read),
        None => (
            State::default(),
            Loaded::Corrupt(format!("not valid state JSON ({e})")),
            Vec::new(),
        ),
    }
}

/// What JSON other than an object the document is (`an array`), or
/// `None` for an object or what does not parse.
fn not_an_object(json: &[u8]) -> Option<&'static str> {
    use serde_json::Value;
    match serde_json::from_slice::<Value>(json).ok()? {
        Value::Object(_) => None,
        Value::Array(_) => Some("an array"),
        Value::Number(_) => Some("a number"),
        Value::String(_) => Some("a string"),
        Value::Bool(_) => Some("a boolean"),
        Value::Null => Some("null"),
    }
}

/// The document without the arrays it holds where the state has an
/// object, and what was dropped; `None` when it has none. serde reads a
/// struct from an array too, field by field in order: a hand-written
/// `"recommendations": [[100, 3]]` was read as a recommendation of 3
/// replicas at 100 s, a guess at what the writer meant.
fn without_arrays_for_objects(json: &[u8], read: &State) -> Option<(Vec<u8>, Vec<String>)> {
    use serde_json::Value;
    fn walk(doc: &Value, read: &Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        match (doc, read) {
            (Value::Array(_), Value::Object(_)) => out.push(path.clone()),
            (Value::Object(d), Value::Object(r)) => {
                for (k, v) in r {
                    if let Some(dv) = d.get(k) {
                        path.push(Step::Key(k.clone()));
                        walk(dv, v, path, out);
                        path.pop();
                    }
                }
            }
            (Value::Array(d), Value::Array(r)) => {
                for (i, (dv, v)) in d.iter().zip(r).enumerate() {
                    path.push(Step::Index(i));
                    walk(dv, v, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut doc: Value = serde_json::from_slice(json).ok()?;
    let read = serde_json::to_value(read).ok()?;
    let mut paths = Vec::new();
    walk(&doc, &read, &mut Vec::new(), &mut paths);
    if paths.is_empty() {
        return None;
    }
    let mut dropped = Vec::new();
    // Last first: an element's removal moves the indices after it.
    for path in paths.iter().rev() {
        let (last, parent) = path.split_last()?;
        remove(parent_of(&mut doc, parent)?, last)?;
        dropped.push(format!(
            "dropped {} (an array where an object belongs)",
            show_path(path)
        ));
    }
    dropped.reverse();
    Some((serde_json::to_vec_pretty(&doc).ok()?, dropped))
}

/// A step of a path into a JSON value.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// The value at `path` in `doc`.
fn parent_of<'a>(
    doc: &'a mut serde_json::Value,
    path: &[Step],
) -> Option<&'a mut serde_json::Value> {
    path.iter().try_fold(doc, |v, s| match s {
        Step::Key(k) => v.get_mut(k),
        Step::Index(i) => v.get_mut(*i),
    })
}

/// Removes `step` from `parent`; `None` when it is not there.
fn remove(parent: &mut serde_json::Value, step: &Step) -> Option<serde_json::Value> {
    use serde_json::Value;
    match (parent, step) {
        (Value::Object(m), Step::Key(k)) => m.remove(k),
        (Value::Array(a), Step::Index(i)) if *i < a.len() => Some(a.remove(*i)),
        _ => None,
    }
}

/// The state in a JSON document that is not all valid state: each field
/// whose value is not valid is dropped (an object that lacks a required
/// field then goes as a whole), so one bad field does not cost the decay
/// counter and the learned model. `None` when the document is not JSON, or
/// is not an object of state at all.
///
/// serde reports no path, only a line: the document is printed one field
/// to a line, so the line an error names is the field to drop.
fn salvage(json: &[u8]) -> Option<(State, Vec<String>, Vec<u8>)> {
    use serde_json::Value;
    let mut doc: Value = serde_json::from_slice(json).ok()?;
    if !doc.is_object() {
        return None;
    }
    let mut dropped = Vec::new();
    let mut counter_reset = false;
    // Paths whose value was read as a number once: if that did not do,
    // the value goes.
    let mut read_as = Vec::new();
    // Each round drops or fixes one value. A file with more bad values
    // than this is not a state with a few bad fields, and each round
    // reprints it: past this it starts fresh (its bytes kept all the same).
    for _ in 0..100 {
        let text = serde_json::to_string_pretty(&doc).ok()?;
        let e = match serde_json::from_str::<State>(&text) {
            Ok(s) => return Some((s, dropped, text.into_bytes())),
            Err(e) => e,
        };
        let why = without_position(&e);
        let mut lines = vec![Vec::new()];
        line_paths(&doc, &mut Vec::new(), &mut lines);
        let path = lines.get(e.line().checked_sub(1)?)?.clone();
        if path.is_empty() {
            // The counter is the one field the state cannot go without;
            // counting from 0 is what a fresh state would do.
            if counter_reset || !why.contains("`runs_since_change`") {
                return None;
            }
            counter_reset = true;
            if !dropped.iter().any(|d| d.contains("runs_since_change")) {
                // Else the warning would say nothing of what was changed.
                dropped.push("runs_since_change missing (counted from 0)".into());
            }
            doc.as_object_mut()?
                .insert("runs_since_change".into(), 0.into());
            continue;
        }
        let (last, parent) = path.split_last()?;
        let parent = parent_of(&mut doc, parent)?;
        let shown = show_path(&path);
        let value = match last {
            Step::Key(k) => parent.get_mut(k),
            Step::Index(i) => parent.get_mut(*i),
        }?;
        let wants_number = ["u32", "u64", "f64"]
            .iter()
            .any(|t| why.ends_with(&format!("expected {t}")));
        if why.starts_with("invalid type") && wants_number && !read_as.contains(&shown) {
            if let Some(number) = same_number(value) {
                dropped.push(format!("{READ_AS}{shown} {value} as {number}"));
                *value = number;
                read_as.push(shown);
                continue;
            }
        }
        remove(parent, last)?;
        dropped.push(format!("dropped {shown} ({why})"));
    }
    None
}

/// The number a value written otherwise means exactly: `"3"`, `3.0` and
/// `"3.0"` are 3, where a count is asked for. Nothing is rounded or guessed.
fn same_number(v: &serde_json::Value) -> Option<serde_json::Value> {
    use serde_json::Value;
    match v {
        // `"3.0"` is 3 as `3.0` is: a count must not be dropped for a
        // spelling its number form is read in.
        Value::String(s) => {
            let n = Value::Number(serde_json::from_str::<serde_json::Number>(s.trim()).ok()?);
            Some(same_number(&n).unwrap_or(n))
        }
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64()?;
            // Below 2^53 every whole f64 is exactly its integer.
            (f.fract() == 0.0 && (0.0..9_007_199_254_740_992.0).contains(&f))
                .then(|| Value::from(f as u64))
        }
        _ => None,
    }
}

/// The path of the value on each line of `serde_json::to_string_pretty`'s
/// output (its closing bracket's line too), after `out`'s lines.
fn line_paths(v: &serde_json::Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    use serde_json::Value;
    let children: Vec<(Step, &Value)> = match v {
        Value::Object(m) => m.iter().map(|(k, c)| (Step::Key(k.clone()), c)).collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, c)| (Step::Index(i), c))
            .collect(),
        _ => return,
    };
    if children.is_empty() {
        return;
    }
    for (step, child) in children {
        path.push(step);
        out.push(path.clone());
        line_paths(child, path, out);
        path.pop();
    }
    out.push(path.clone());
}

/// `model.targets["GET_/ mean"].floor_ms`, `model.trend[3]`.
fn show_path(path: &[Step]) -> String {
    let plain = |k: &str| k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let quoted = |k: &str| serde_json::Value::from(k).to_string();
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) if s.is_empty() && plain(k) => s.push_str(k),
            // A key of the file's, which may hold an escape sequence.
            Step::Key(k) if s.is_empty() => s.push_str(&quoted(k)),
            Step::Key(k) if plain(k) => {
                s.push('.');
                s.push_str(k);
            }
            Step::Key(k) => s.push_str(&format!("[{}]", quoted(k))),
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    // JSON leaves DEL and the C1 controls as they are.
    lpa_core::text::escape_controls(&s)
}

/// serde_json's message without " at line L column C", which would name
/// a line of the reprinted document, not of the file.
fn without_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Copies the state file's bytes to `FILE.corrupt` beside it (or
/// `FILE.corrupt.2`, ... when an earlier copy is there and differs),
/// atomically and never over another file; a copy already holding these
/// bytes is reused, so a file that stays bad is kept once. Bytes too many
/// to read (None) are kept by a hard link to the file, which copies
/// nothing (a sparse 1 GiB file was copied block by block), or by a copy
/// where the filesystem has no hard links.
fn keep_aside(path: &Path, bytes: Option<&[u8]>) -> Result<PathBuf, StateError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".to_string());
    let dir = parent_dir(path);
    let synced = |kept: PathBuf| {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(kept)
    };
    for n in 1..=100 {
        let kept = match n {
            1 => path.with_file_name(format!("{name}.corrupt")),
            n => path.with_file_name(format!("{name}.corrupt.{n}")),
        };
        match bytes {
            // Read as itself: a named pipe there held the state's lock
            // forever, and a link to /dev/zero read until memory ran out.
            // One that is not a file takes its name all the same.
            Some(bytes) => match read_own(&kept, bytes.len() as u64 + 1) {
                Ok(b) if b == bytes => return Ok(kept),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(_) => continue,
            },
            None => match fs::hard_link(path, &kept) {
                Ok(()) => return synced(kept),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(_) => {}
            },
        }
        let mut tmp = tempfile::Builder::new()
            .prefix(&temp_prefix(path))
            .tempfile_in(dir)
            .map_err(io_err(path, "create a temp file beside it"))?;
        // Through the File, as `save` writes: NamedTempFile's own write
        // wraps the error with the temp file's name, which hides the
        // system's code (a full disk's) and is gone when it is read.
        let file = tmp.as_file_mut();
        match bytes {
            Some(bytes) => file.write_all(bytes),
            None => File::open(path).and_then(|mut f| io::copy(&mut f, file).map(drop)),
        }
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(io_err(path, "keep a copy of it"))?;
        match tmp.persist_noclobber(&kept) {
            Ok(_) => return synced(kept),
            // Another process took the name in between: the next one.
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(path, "keep a copy of it")(e.error)),
        }
    }
    Err(io_err(path, "keep a copy of it")(io::Error::other(
        "100 earlier copies are beside it; remove some",
    )))
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
        fs::write(&path, "\"state\"").unwrap();
        assert!(matches!(sf.peek().unwrap().1, Loaded::Corrupt(_)));
        fs::write(&path, "[5, 2]").unwrap();
        assert_eq!(
            sf.peek().unwrap(),
            (
                State::default(),
                Loaded::Corrupt("holds an array, not a state object".into())
            )
        );
    }

    /// serde refuses a key given twice where the salvage's value keeps the
    /// last: the warning said nothing ("state file s.json: ; kept the rest").
    #[test]
    fn a_key_given_twice_is_named_and_the_last_read() {
        let (state, loaded) = parse(br#"{"runs_since_change": 2, "runs_since_change": 5}"#);
        assert_eq!(state.runs_since_change, 5);
        assert_eq!(
            loaded,
            Loaded::Salvaged(vec![
                "duplicate field `runs_since_change`: read the last one".into()
            ])
        );
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

    /// A file reached by two paths (a link and its target) is one file
    /// to lock: with a lock beside each path, two writers at once lost
    /// updates, and each removed the other's temp file as stale.
    #[test]
    fn a_file_and_a_link_to_it_share_one_lock() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("a")).unwrap();
        fs::create_dir(dir.path().join("b")).unwrap();
        let target = dir.path().join("a/decay.json");
        let link = dir.path().join("b/decay.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let _claim = StateFile::new(&link).claim().unwrap();
        assert!(matches!(
            StateFile::new(&target).claim(),
            Err(StateError::InUse { .. })
        ));
        let lock = StateFile::new(&target).lock().unwrap();
        assert!(StateFile::new(&link)
            .lock_file("lock", "lock")
            .unwrap()
            .0
            .try_lock()
            .is_err());
        drop(lock);
        assert!(!dir.path().join("b/.decay.json.lock").exists());
    }

    /// A policy with one mean target, and an observation at 2 replicas
    /// with no statistics.
    /// A save replaces the file a symlink names, and the link stays: a
    /// state file linked to a volume keeps its state there.
    #[test]
    fn a_symlinked_state_file_is_saved_where_it_links() {
        let dir = tempfile::tempdir().unwrap();
        let volume = dir.path().join("volume");
        fs::create_dir(&volume).unwrap();
        let link = dir.path().join("decay_info.json");
        std::os::unix::fs::symlink("volume/state.json", &link).unwrap();
        let sf = StateFile::new(&link);
        let (policy, obs) = mean_target_at_two();
        for _ in 0..2 {
            let d = sf.decide(&obs, &policy, |_| true).unwrap();
            assert!(matches!(d.saved, Ok(true)), "{:?}", d.saved);
            assert_eq!(sf.peek().unwrap(), (d.decision.next_state, Loaded::Found));
            assert!(fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink());
            assert_eq!(
                fs::read(volume.join("state.json")).unwrap(),
                fs::read(&link).unwrap()
            );
        }
    }

    /// Neither a device nor a named pipe is read or replaced, and nothing
    /// is made beside one; a file too large to be state is not read, and is
    /// kept aside whole without a copy.
    #[test]
    fn what_is_no_state_file_is_not_read_or_replaced() {
        let e = StateFile::new("/dev/null").lock().unwrap_err();
        assert_eq!(
            e.to_string(),
            "state file /dev/null: is a character device, not a regular file: each save replaces the state file whole, which would put a file in its place; give the path of a file, or of none yet"
        );
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.json");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let e = StateFile::new(&fifo).peek().unwrap_err();
        assert!(
            e.to_string()
                .contains(": is a named pipe, not a regular file"),
            "{e}"
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);

        use std::os::unix::fs::MetadataExt;
        let big = dir.path().join("big.json");
        let len = 64 << 20;
        File::create(&big).unwrap().set_len(len).unwrap();
        let inode = fs::metadata(&big).unwrap().ino();
        let (policy, obs) = mean_target_at_two();
        let d = StateFile::new(&big)
            .decide(&obs, &policy, |_| true)
            .unwrap();
        let warning = d.warning().unwrap();
        assert!(
            warning.contains(&format!(": file is {len} bytes, more than the 4194304"))
                && warning.ends_with("big.json.corrupt"),
            "{warning}"
        );
        let kept = fs::metadata(dir.path().join("big.json.corrupt")).unwrap();
        assert_eq!((kept.ino(), kept.len()), (inode, len));
        assert!(fs::metadata(&big).unwrap().len() < 1000);
    }

    fn mean_target_at_two() -> (lpa_core::Policy, Observation) {
        let policy = lpa_core::parse_policy(
            "p.yaml",
            "targets:\n  - {endpoint: /, type: mean, target: 7}\n",
        )
        .unwrap();
        let obs = Observation {
            current_replicas: 2,
            ..Observation::default()
        };
        (policy, obs)
    }

    #[test]
    fn decide_saves_only_a_decision_that_took_effect() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        fs::write(&path, "{\"runs_since_change\": 9}}").unwrap();
        let sf = StateFile::new(&path);
        let (policy, obs) = mean_target_at_two();
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

    /// A save replaces the file with one of its mode, where each save
    /// made it 0600 (and a root save took it from its owner).
    #[test]
    fn a_save_keeps_the_files_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        fs::write(&path, "{\"runs_since_change\": 1}").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let sf = StateFile::new(&path);
        sf.lock().unwrap().save(&State::default()).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o644);
        assert_eq!(sf.peek().unwrap(), (State::default(), Loaded::Found));
        // Run by root (as CI is), a save and the lock it creates are the
        // file's owner's.
        if rustix::process::geteuid().is_root() {
            use std::os::unix::fs::MetadataExt;
            let other = dir.path().join("o.json");
            fs::write(&other, "{}").unwrap();
            std::os::unix::fs::chown(&other, Some(65534), Some(65534)).unwrap();
            StateFile::new(&other)
                .lock()
                .unwrap()
                .save(&State::default())
                .unwrap();
            for file in [other.clone(), dir.path().join(".o.json.lock")] {
                let meta = fs::metadata(&file).unwrap();
                assert_eq!((meta.uid(), meta.gid()), (65534, 65534), "{file:?}");
            }
            // A link planted where a lock goes is not followed: a root
            // run gave the file it named to the state file's owner.
            let victim = dir.path().join("victim");
            fs::write(&victim, "secret").unwrap();
            let planted = dir.path().join("p.json");
            fs::write(&planted, "{}").unwrap();
            std::os::unix::fs::chown(&planted, Some(65534), Some(65534)).unwrap();
            std::os::unix::fs::symlink(&victim, dir.path().join(".p.json.lock")).unwrap();
            assert!(StateFile::new(&planted).lock().is_err());
            assert_eq!(fs::metadata(&victim).unwrap().uid(), 0);
        }
    }

    #[test]
    fn a_sibling_that_is_not_a_file_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        fs::write(&path, r#"{"runs_since_change": 1}"#).unwrap();
        let sf = StateFile::new(&path);
        let at = |suffix: &str| dir.path().join(format!(".s.json.{suffix}"));
        let fifo = |at: &Path| {
            rustix::fs::mkfifoat(
                rustix::fs::CWD,
                at,
                rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
            )
            .unwrap()
        };
        let refused = |suffix: &str, role: &str, what: &str, e: StateError| {
            assert_eq!(
                e.to_string(),
                format!(
                    "state file {}: its {role} {} is {what}, not a regular file: lpa makes it, as a file, and reads nothing there; remove it",
                    path.display(),
                    at(suffix).display()
                )
            );
        };
        // A named pipe: opening it to write waited for a reader forever.
        for suffix in ["lock", "owner"] {
            fifo(&at(suffix));
        }
        refused("lock", "lock file", "a named pipe", sf.lock().unwrap_err());
        refused(
            "owner",
            "owner lock file",
            "a named pipe",
            sf.claim().unwrap_err(),
        );
        fs::remove_file(at("lock")).unwrap();
        fs::remove_file(at("owner")).unwrap();
        fs::create_dir(at("owner")).unwrap();
        refused(
            "owner",
            "owner lock file",
            "a directory",
            sf.claim().unwrap_err(),
        );
        std::os::unix::fs::symlink(&path, at("lock")).unwrap();
        refused(
            "lock",
            "lock file",
            "a symbolic link",
            sf.lock().unwrap_err(),
        );
        fs::remove_file(at("lock")).unwrap();
        fifo(&at("synced"));
        let lock = sf.lock().unwrap();
        refused(
            "synced",
            "version file",
            "a named pipe",
            lock.synced("configmap default/s", "7").unwrap_err(),
        );
        // Read, a named pipe there is no note, where the read waited for
        // a writer forever; written, it is refused as above.
        let pulled = Pulled {
            named: "configmap default/s".into(),
            version: "7".into(),
            json: Some(r#"{"runs_since_change": 2}"#.into()),
        };
        assert!(matches!(
            lock.adopt(&pulled, false),
            Ok(Adopted::Cluster(_))
        ));
        drop(lock);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            r#"{"runs_since_change": 1}"#
        );
        // A socket is said to be one, where opening it read as a pipe's.
        fs::remove_dir(at("owner")).unwrap();
        let _socket = std::os::unix::net::UnixListener::bind(at("owner")).unwrap();
        refused(
            "owner",
            "owner lock file",
            "a socket",
            sf.claim().unwrap_err(),
        );
        // A corrupt state is kept aside past names that are no files: a
        // named pipe there held the state's lock forever.
        for name in ["s.json.corrupt", "s.json.corrupt.2"] {
            fifo(&dir.path().join(name));
        }
        let kept = keep_aside(&path, Some(b"garbage")).unwrap();
        assert_eq!(kept, dir.path().join("s.json.corrupt.3"));
        assert_eq!(fs::read(&kept).unwrap(), b"garbage");
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

    const LEARNED: &str = r#"{"runs_since_change":2,"last_replicas":3,
 "recommendations":[{"at_secs":100,"replicas":3}],
 "model":{"at_secs":100,"replicas":3,"calm_runs":4,
  "targets":{"GET_/ mean":{"unloaded_ms":4.0,"floor_ms":4.5,"loads":[0.5],
   "trend":[[90,6.0,3],[100,6.0,3]]},
   "GET_/x mean":{"unloaded_ms":5.0,"floor_ms":5.0}}}}"#;

    #[test]
    fn an_array_where_an_object_belongs_is_dropped_not_read_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let sf = StateFile::new(&path);
        fs::write(&path, LEARNED).unwrap();
        let (good, _) = sf.peek().unwrap();
        // serde alone read these as a recommendation of 3 at 100 s, and
        // as a model of the target whose unloaded latency is 4 ms.
        let text = LEARNED
            .replace(
                r#""recommendations":[{"at_secs":100,"replicas":3}]"#,
                r#""recommendations":[[100,3],{"at_secs":100,"replicas":3},[7,7]]"#,
            )
            .replace(
                r#""GET_/x mean":{"unloaded_ms":5.0,"floor_ms":5.0}"#,
                r#""GET_/x mean":[5.0,5.0]"#,
            );
        fs::write(&path, text).unwrap();
        let (s, how) = sf.peek().unwrap();
        assert_eq!(
            how,
            Loaded::Salvaged(vec![
                r#"dropped model.targets["GET_/x mean"] (an array where an object belongs)"#.into(),
                "dropped recommendations[0] (an array where an object belongs)".into(),
                "dropped recommendations[2] (an array where an object belongs)".into(),
            ])
        );
        let mut want = good.clone();
        want.model.as_mut().unwrap().targets.remove("GET_/x mean");
        assert_eq!(s, want);
        // The model's trend is a list of lists, as written: read as it is.
        fs::write(&path, LEARNED).unwrap();
        assert_eq!(sf.peek().unwrap(), (good, Loaded::Found));
    }

    /// A key no field reads (a newer lpa's, a misspelt one) went in
    /// silence at the next save; now it is said, with its path, and the
    /// rest is read as it was.
    #[test]
    fn an_unknown_field_is_said_and_the_rest_read() {
        let (good, _) = parse(LEARNED.as_bytes());
        let text = LEARNED
            .replace(
                r#"{"runs_since_change""#,
                r#"{"format_version":3,"runs_since_change""#,
            )
            .replace(
                r#""unloaded_ms":5.0,"#,
                r#""unloaded_ms":5.0,"floor ms":1,"#,
            )
            .replace(r#""calm_runs":4,"#, r#""calm_runs":4,"window":[1,2],"#);
        assert_ne!(text, LEARNED);
        let (s, how) = parse(text.as_bytes());
        assert_eq!(s, good);
        let unknown = r#"dropped format_version, model.targets["GET_/x mean"]["floor ms"], model.window, which lpa's state does not have (a newer lpa's? misspelt?)"#.to_string();
        assert_eq!(how, Loaded::Salvaged(vec![unknown.clone()]));
        // Beside a bad field, both are said, the unknown ones after it too.
        let bad = text.replace(r#""replicas":3}]"#, r#""replicas":-3}]"#);
        let (_, how) = parse(bad.as_bytes());
        let Loaded::Salvaged(said) = how else {
            panic!("{how:?}")
        };
        assert!(
            said[0].starts_with("dropped recommendations[0].replicas"),
            "{said:?}"
        );
        assert_eq!(said.last().unwrap(), &unknown);
        // A key's escape sequence is not sent to the terminal, at the top
        // as below it.
        let odd = LEARNED.replace(
            r#"{"runs_since_change""#,
            r#"{"\u001b[31mred\u0007":1,"a\nb\u007f":2,"runs_since_change""#,
        );
        let (_, how) = parse(odd.as_bytes());
        assert_eq!(
            how,
            Loaded::Salvaged(vec![r#"dropped "\u001b[31mred\u0007", "a\nb\u{7f}", which lpa's state does not have (a newer lpa's? misspelt?)"#.to_string()])
        );
    }

    #[test]
    fn a_bad_field_is_dropped_alone_and_a_bom_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let sf = StateFile::new(&path);
        fs::write(&path, LEARNED).unwrap();
        let (good, how) = sf.peek().unwrap();
        assert_eq!(how, Loaded::Found);

        fs::write(&path, format!("\u{feff}{LEARNED}")).unwrap();
        assert_eq!(sf.peek().unwrap(), (good.clone(), Loaded::Found));

        // A required field of the wrong type: its object goes, nothing else.
        fs::write(
            &path,
            LEARNED.replace(r#""floor_ms":4.5"#, r#""floor_ms":null"#),
        )
        .unwrap();
        let (s, how) = sf.peek().unwrap();
        let Loaded::Salvaged(dropped) = how else {
            panic!("{how:?}")
        };
        assert_eq!(
            dropped,
            [
                r#"dropped model.targets["GET_/ mean"].floor_ms (invalid type: null, expected f64)"#,
                r#"dropped model.targets["GET_/ mean"] (missing field `floor_ms`)"#
            ]
        );
        let mut want = good.clone();
        want.model.as_mut().unwrap().targets.remove("GET_/ mean");
        assert_eq!(s, want);

        // An optional one goes alone.
        fs::write(&path, LEARNED.replace("[0.5]", r#""0.5""#)).unwrap();
        let (s, _) = sf.peek().unwrap();
        let mut want = good.clone();
        let t = want
            .model
            .as_mut()
            .unwrap()
            .targets
            .get_mut("GET_/ mean")
            .unwrap();
        t.loads.clear();
        assert_eq!(s, want);

        // A count spelled as a string or a whole float is that count.
        fs::write(
            &path,
            LEARNED
                .replace(r#""runs_since_change":2"#, r#""runs_since_change":2.0"#)
                .replace(r#""calm_runs":4"#, r#""calm_runs":"4""#),
        )
        .unwrap();
        assert_eq!(
            sf.peek().unwrap(),
            (
                good.clone(),
                Loaded::Salvaged(vec![
                    r#"read model.calm_runs "4" as 4"#.into(),
                    "read runs_since_change 2.0 as 2".into()
                ])
            )
        );

        // A bad counter counts from 0, and the model stays.
        fs::write(
            &path,
            LEARNED.replace(r#""runs_since_change":2"#, r#""runs_since_change":2.5"#),
        )
        .unwrap();
        let (s, how) = sf.peek().unwrap();
        assert!(matches!(how, Loaded::Salvaged(_)), "{how:?}");
        assert_eq!(
            s,
            State {
                runs_since_change: 0,
                ..good.clone()
            }
        );

        // A missing one is said, not an empty warning.
        fs::write(&path, "{}").unwrap();
        assert_eq!(
            sf.peek().unwrap(),
            (
                State::default(),
                Loaded::Salvaged(vec!["runs_since_change missing (counted from 0)".into()])
            )
        );
    }

    #[test]
    fn the_clusters_copy_wins_unless_the_file_was_in_step_with_that_very_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let sf = StateFile::new(&path);
        let pulled = |version: &str, json: &str| Pulled {
            named: "configmap default/lpa-state".into(),
            version: version.into(),
            json: Some(json.into()),
        };
        let count = || sf.peek().unwrap().0.runs_since_change;
        // A new pod: no file, nothing in step with anything.
        assert_eq!(
            sf.adopt(&pulled("7", r#"{"runs_since_change":2}"#), true)
                .unwrap(),
            Adopted::Cluster(State {
                runs_since_change: 2,
                ..State::default()
            })
        );
        assert_eq!(count(), 2);
        // This loop saved on, and its writes to the cluster failed: the
        // cluster still holds version 7, which the file was in step with.
        sf.lock()
            .unwrap()
            .save(&State {
                runs_since_change: 3,
                ..State::default()
            })
            .unwrap();
        assert_eq!(
            sf.adopt(&pulled("7", r#"{"runs_since_change":2}"#), true)
                .unwrap(),
            Adopted::Local
        );
        assert_eq!(count(), 3);
        // Another loop wrote it since: its state wins; a dry run only
        // reads it.
        let theirs = pulled("9", r#"{"runs_since_change":0}"#);
        let want = Adopted::Cluster(State::default());
        assert_eq!(sf.adopt(&theirs, false).unwrap(), want);
        assert_eq!(count(), 3);
        assert_eq!(sf.adopt(&theirs, true).unwrap(), want);
        assert_eq!(count(), 0);
        // One written by this loop is in step again.
        sf.synced("configmap default/lpa-state", "11").unwrap();
        assert_eq!(sf.adopt(&pulled("11", "{}"), true).unwrap(), Adopted::Local);
        // What is not state leaves the file as it is.
        assert_eq!(
            sf.adopt(&pulled("12", "{"), true).unwrap(),
            Adopted::Invalid(
                "not valid state JSON (EOF while parsing an object at line 1 column 1)".into()
            )
        );
        let none = Pulled {
            json: None,
            ..pulled("13", "")
        };
        assert_eq!(sf.adopt(&none, true).unwrap(), Adopted::Empty);
        assert_eq!(count(), 0);
    }

    #[test]
    fn a_clusters_copy_with_a_bad_field_is_taken_less_that_field_as_a_file_is() {
        let dir = tempfile::tempdir().unwrap();
        let sf = StateFile::new(dir.path().join("s.json"));
        // A hand edit of the ConfigMap wrote the count as a string.
        let pulled = Pulled {
            named: "configmap default/lpa-state".into(),
            version: "7".into(),
            json: Some(r#"{"runs_since_change":"2","last_replicas":3}"#.into()),
        };
        let Adopted::Salvaged(state, why, _) = sf.adopt(&pulled, true).unwrap() else {
            panic!("not taken in part");
        };
        assert_eq!((state.runs_since_change, state.last_replicas), (2, Some(3)));
        assert!(why.contains("runs_since_change"), "{why}");
        assert_eq!(sf.peek().unwrap().0, state);
        // The count read as a number loses nothing; a newer lpa's field is
        // lost with the next save, which is said, as no copy is kept.
        let told_of = |json: &str| {
            let pulled = Pulled {
                json: Some(json.into()),
                ..pulled.clone()
            };
            let fresh = StateFile::new(dir.path().join(format!("{}.json", json.len())));
            let adopted = fresh.adopt(&pulled, true);
            told(adopted, &pulled, false, sf.path()).warning.unwrap()
        };
        let lost = "the next save writes it without what was dropped";
        let w = told_of(r#"{"runs_since_change":"2"}"#);
        assert!(!w.contains(lost), "{w}");
        let w = told_of(r#"{"runs_since_change":2,"from_a_newer_lpa":[1]}"#);
        assert!(
            w.contains("dropped from_a_newer_lpa") && w.contains(lost),
            "{w}"
        );
    }

    #[test]
    fn a_state_file_removed_or_emptied_after_its_sync_takes_the_clusters_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let sf = StateFile::new(&path);
        let pulled = Pulled {
            named: "configmap default/lpa-state".into(),
            version: "7".into(),
            json: Some(r#"{"runs_since_change":2}"#.into()),
        };
        let theirs = Adopted::Cluster(State {
            runs_since_change: 2,
            ..State::default()
        });
        assert_eq!(sf.adopt(&pulled, true).unwrap(), theirs);
        // The file removed by hand, its .synced note left beside it: the
        // file holds nothing, not the state of version 7 or a newer one.
        fs::remove_file(&path).unwrap();
        assert_eq!(sf.adopt(&pulled, true).unwrap(), theirs);
        assert_eq!(sf.peek().unwrap().0.runs_since_change, 2);
        // Emptied: the same.
        fs::write(&path, "").unwrap();
        assert_eq!(sf.adopt(&pulled, true).unwrap(), theirs);
        assert_eq!(sf.peek().unwrap().0.runs_since_change, 2);
    }

    #[test]
    fn what_a_save_would_lose_is_kept_aside_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let sf = StateFile::new(&path);
        let (policy, obs) = mean_target_at_two();
        // A number written as text loses nothing read as the number; a
        // word, dropped, does.
        let good = LEARNED.replace("\"calm_runs\":4", "\"calm_runs\":\"4\"");
        fs::write(&path, &good).unwrap();
        let d = sf.decide(&obs, &policy, |_| true).unwrap();
        assert_eq!(d.kept, None, "{:?}", d.warning());
        let bad = LEARNED.replace("\"calm_runs\":4", "\"calm_runs\":\"four\"");
        fs::write(&path, &bad).unwrap();
        let d = sf.decide(&obs, &policy, |_| false).unwrap();
        assert_eq!(d.kept, None, "a dry run changes nothing");
        let d = sf.decide(&obs, &policy, |_| true).unwrap();
        let kept = dir.path().join("s.json.corrupt");
        assert_eq!(d.kept.as_deref(), Some(kept.as_path()));
        assert!(d
            .warning()
            .unwrap()
            .ends_with(&format!("; the original is kept in {}", kept.display())));
        assert_eq!(fs::read_to_string(&kept).unwrap(), bad);
        assert!(matches!(d.loaded, Loaded::Salvaged(_)), "the rest was read");
        // The same bytes again reuse the copy; others go beside it.
        fs::write(&path, &bad).unwrap();
        assert_eq!(
            sf.decide(&obs, &policy, |_| true).unwrap().kept,
            Some(kept.clone())
        );
        fs::write(&path, "{").unwrap();
        let d = sf.decide(&obs, &policy, |_| true).unwrap();
        assert_eq!(d.kept, Some(dir.path().join("s.json.corrupt.2")));
        assert!(d.warning().unwrap().contains("starting fresh"));
        assert_eq!(fs::read_to_string(&kept).unwrap(), bad);
    }
}
