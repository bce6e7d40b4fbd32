//! lpa as a container's pid 1 (the `run` image has no init). A process
//! whose parent exits is handed to pid 1, and pid 1 alone can reap it: a
//! `--kubectl` wrapper's `echo >> log &`, an exec credential plugin's
//! child, what a killed kubectl's group left, each stayed a zombie for
//! the pod's life (one a kubectl call), until its pid limit made every
//! cycle fail with "Cannot fork" and lpa panicked.
//!
//! As pid 1, lpa reaps every child of its own that it did not start:
//! what it starts ([`spawn`]) is its callers' to wait for, as `std`'s
//! `Child` expects (a child reaped under it answers its `wait` with
//! "No child processes").

use std::collections::HashMap;
use std::io;
use std::process::{Child, Command};
use std::sync::{Mutex, PoisonError, RwLock};
use std::thread;
use std::time::Duration;

use rustix::process::{Pid, WaitOptions};

/// Held to start a child and note it, and by a sweep to read and reap:
/// a sweep never sees a child of lpa's own before it is noted.
static GATE: RwLock<()> = RwLock::new(());
/// The children lpa started: pid, and its start time (the kernel's ticks
/// since boot), which tells it from a later process given its pid.
static OWN: Mutex<Option<HashMap<u32, u64>>> = Mutex::new(None);

/// How often pid 1 looks for orphans to reap.
const SWEEP: Duration = Duration::from_millis(250);

/// Starts `cmd`, noted as lpa's own: every child a long-lived lpa starts
/// goes through here.
pub fn spawn(cmd: &mut Command) -> io::Result<Child> {
    let _gate = GATE.read().unwrap_or_else(PoisonError::into_inner);
    let child = cmd.spawn()?;
    if let Some(started) = stat(child.id()).map(|s| s.started) {
        own()
            .get_or_insert_with(HashMap::new)
            .insert(child.id(), started);
    }
    Ok(child)
}

/// As pid 1, reaps orphans every [`SWEEP`], on a thread of its own, for
/// the process's life. Elsewhere an init reaps them, and this does
/// nothing.
pub fn start_if_init() {
    if std::process::id() != 1 {
        return;
    }
    // Without a thread (the pid limit reached already) nothing is reaped;
    // lpa runs as it did.
    let _ = thread::Builder::new().name("reaper".into()).spawn(|| loop {
        sweep();
        thread::sleep(SWEEP);
    });
}

/// Reaps each exited child of this process that it did not start, and
/// forgets those of its own that are gone.
fn sweep() {
    let _gate = GATE.write().unwrap_or_else(PoisonError::into_inner);
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    let parent = std::process::id();
    let mut own = own();
    let noted = own.get_or_insert_with(HashMap::new);
    let mut children = HashMap::new();
    for pid in entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
    {
        if let Some(s) = stat(pid).filter(|s| s.parent == parent) {
            children.insert(pid, s);
        }
    }
    // Reaped by their callers: a pid reused by an orphan is not lpa's.
    noted.retain(|pid, started| children.get(pid).is_some_and(|s| s.started == *started));
    for (pid, s) in children {
        if let (true, false, Some(pid)) = (
            s.zombie,
            noted.contains_key(&pid),
            Pid::from_raw(pid as i32),
        ) {
            let _ = rustix::process::waitpid(Some(pid), WaitOptions::NOHANG);
        }
    }
}

fn own() -> std::sync::MutexGuard<'static, Option<HashMap<u32, u64>>> {
    OWN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What `/proc/PID/stat` says of a process.
struct Stat {
    parent: u32,
    zombie: bool,
    started: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name, in parentheses, may hold spaces and parentheses itself.
    let fields: Vec<&str> = text
        .get(text.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    // After the name: state (3), ppid (4), ..., starttime (22).
    Some(Stat {
        zombie: *fields.first()? == "Z",
        parent: fields.get(1)?.parse().ok()?,
        started: fields.get(19)?.parse().ok()?,
    })
}
