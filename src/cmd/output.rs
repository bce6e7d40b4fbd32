//! Files a command writes for the user (traces, plots, man pages): each
//! written beside its path and renamed into place, so a failed run (a full
//! disk, a plot that cannot be drawn) never leaves half a file behind.

use std::path::{Path, PathBuf};

use lpa_drivers::state_file::parent_dir;

use crate::settings::{Failure, Result};

/// Writes `bytes` to `path` through a staged file.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    stage_file(path, bytes)?.keep()
}

/// An output written beside its path, put in place by [`Staged::keep`]
/// once everything else the command writes is ready: a plot that cannot
/// be drawn leaves an earlier `--out` file as it was. Dropped, it is
/// removed.
pub struct Staged {
    /// Taken by [`Staged::keep`].
    tmp: Option<tempfile::NamedTempFile>,
    path: PathBuf,
}

impl Staged {
    pub fn keep(mut self) -> Result<()> {
        let Some(tmp) = self.tmp.take() else {
            return Ok(());
        };
        let at = tmp.path().to_path_buf();
        let kept = tmp
            .persist(&self.path)
            .map_err(|e| cannot_write(&self.path, e.error));
        unstaged(&at);
        kept.map(drop)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let at = tmp.path().to_path_buf();
            drop(tmp);
            unstaged(&at);
        }
    }
}

/// The temporary files staged and not yet kept or dropped: a signal that
/// ends the command removes them ([`remove_staged_on_signal`]).
static STAGED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn staged() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    STAGED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Held while outputs are renamed into place, and by a signal's removal
/// before it removes: a signal between two renames (`--out` kept, its
/// `--plot` not yet) left a new trace beside an old plot.
static PLACING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `place`, which renames outputs into place, whole: a stop signal
/// meanwhile ends the command once it returns.
pub fn placing<T>(place: impl FnOnce() -> T) -> T {
    let _placing = PLACING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    place()
}

/// Notes a temporary file another writer stages (a plot's), for a signal
/// to remove.
pub fn note_staged(at: &Path) {
    staged().push(at.to_path_buf());
}

pub fn unstaged(at: &Path) {
    staged().retain(|p| p != at);
}

/// From here, SIGINT, SIGTERM or SIGHUP removes the files staged and ends
/// the command with 128 + the signal, as their default action would: a
/// `lpa simulate --out` stopped while it wrote left a hidden temporary
/// file of 326 MB beside its output, and `lpa report --plot` one of its
/// plot. For commands without a loop of their own to stop (simulate,
/// report).
pub fn remove_staged_on_signal() -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let failed =
        |e: std::io::Error| Failure::new(format!("cannot install the signal handler: {e}"));
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]).map_err(failed)?;
    std::thread::Builder::new()
        .name("staged-cleanup".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let _placing = PLACING
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for path in staged().iter() {
                    let _ = std::fs::remove_file(path);
                }
                std::process::exit(128 + signal);
            }
        })
        .map_err(failed)?;
    Ok(())
}

pub fn stage_file(path: &Path, bytes: &[u8]) -> Result<Staged> {
    stage_with(path, |w| w.write_all(bytes))
}

/// [`stage_file`] of what `write` writes, buffered: a long output goes to
/// the file as it is made, never whole in memory.
pub fn stage_with(
    path: &Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<Staged> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let fail = |e| cannot_write(path, e);
    // Said now, not when it is renamed into place: by then the outputs
    // staged with it may have replaced theirs.
    if path.is_dir() {
        return Err(fail(std::io::ErrorKind::IsADirectory.into()));
    }
    let dir = parent_dir(path);
    // tempfile's own mode is private (0600); an output is as readable as
    // any new file (0666 less the umask), like the plot beside it.
    let tmp = tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(fail)?;
    note_staged(tmp.path());
    let mut staged_tmp = Staged {
        tmp: None,
        path: path.to_path_buf(),
    };
    let tmp = staged_tmp.tmp.insert(tmp);
    let mut buffered = std::io::BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
    write(&mut buffered)
        .and_then(|()| buffered.flush())
        .map_err(fail)?;
    drop(buffered);
    Ok(staged_tmp)
}

/// The system's words for why `path` cannot be written, without the
/// temporary file's name that tempfile adds to them.
pub fn cannot_write(path: &Path, e: std::io::Error) -> Failure {
    let text = e.to_string();
    let e = text
        .rsplit_once(" at path \"")
        .map_or(text.as_str(), |(words, _)| words);
    Failure::new(format!("{}: cannot write: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn an_output_file_gets_the_mode_of_any_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let mode = |name: &str| {
            let m = std::fs::metadata(dir.path().join(name)).unwrap();
            m.permissions().mode() & 0o777
        };
        std::fs::write(dir.path().join("plain"), "x").unwrap();
        super::write_file(&dir.path().join("trace.json"), b"{}").unwrap();
        assert_eq!(mode("trace.json"), mode("plain"));
        assert_eq!(std::fs::read(dir.path().join("trace.json")).unwrap(), b"{}");
    }
}
