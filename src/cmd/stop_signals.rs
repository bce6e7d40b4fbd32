//! SIGINT, SIGTERM and SIGHUP for the loops that stop in order.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use lpa_drivers::scale::local;
use signal_hook::iterator::Signals;

use crate::settings::{Failure, Result};

/// The first of `signals` sets every flag in `flags` (the loop sees it and
/// stops in order: the cycle's log, the state, the replicas). A second ends
/// lpa at once, exit 1, for a stop that hangs; it first SIGKILLs the local
/// pool's replicas, which no destructor stops then, and which would
/// otherwise outlive lpa unless they watch their stdin for its death, and
/// the kubectl it runs (with all it started).
///
/// Install before anything a signal must find stopped (the first replica).
///
/// `leftovers` are files and directories only this run uses (the demo's
/// decay state, and until it starts its log), removed before that exit,
/// which no destructor follows either. The caller may change them as it
/// goes.
/// Whether a stop signal ends lpa as its default action would: until a
/// loop installs its own handling ([`install`]).
static DEFAULT_ACTIONS: LazyLock<Arc<AtomicBool>> =
    LazyLock::new(|| Arc::new(AtomicBool::new(true)));

/// As a container's pid 1, a signal without a handler is dropped, not
/// acted on: a SIGTERM while `lpa run` checked a slow API server at start
/// (up to --kubectl-timeout, a pod's whole grace period) was lost, and the
/// loop went on to take the Lease and ran until SIGKILL; `lpa metric` ran
/// its load test out. Until [`install`], SIGINT, SIGTERM and SIGHUP end lpa
/// with 128 + the signal, as a shell reports a process the signal ended.
pub fn default_actions_as_init() {
    if std::process::id() != 1 {
        return;
    }
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        let _ = signal_hook::flag::register_conditional_shutdown(
            signal,
            128 + signal,
            Arc::clone(&DEFAULT_ACTIONS),
        );
    }
}

pub fn install(
    signals: &[i32],
    flags: &[&Arc<AtomicBool>],
    leftovers: Arc<Mutex<Vec<PathBuf>>>,
) -> Result<()> {
    let failed =
        |e: std::io::Error| Failure::new(format!("cannot install the signal handler: {e}"));
    for &signal in signals {
        for &flag in flags {
            // In the handler itself: the loop wakes at once, whatever the
            // thread below is doing.
            signal_hook::flag::register(signal, Arc::clone(flag)).map_err(failed)?;
        }
    }
    // From here a signal stops the loop in order.
    DEFAULT_ACTIONS.store(false, Ordering::SeqCst);
    let mut pending = Signals::new(signals).map_err(failed)?;
    std::thread::Builder::new()
        .name("stop-signals".into())
        .spawn(move || {
            let mut seen = 0;
            for _ in pending.forever() {
                seen += 1;
                if seen > 1 {
                    local::kill_every_replica();
                    lpa_drivers::process::kill_every_group();
                    let paths = leftovers.lock().map(|l| l.clone()).unwrap_or_default();
                    remove_all(&paths);
                    std::process::exit(1);
                }
            }
        })
        .map_err(failed)?;
    Ok(())
}

/// Removes each path, a file or a directory and all it holds, last made
/// first.
pub fn remove_all(paths: &[PathBuf]) {
    for path in paths.iter().rev() {
        if path.is_dir() && !path.is_symlink() {
            let _ = std::fs::remove_dir_all(path);
        } else {
            let _ = std::fs::remove_file(path);
        }
    }
}
