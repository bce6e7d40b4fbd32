//! Running a child process as ripgrep's grep-cli does: no shell, stdout and
//! stderr drained on their own threads (a full pipe must never deadlock the
//! child), a timeout that kills, and stderr kept for the error message.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::process::{kill_process_group, Pid, Signal};

/// A finished child's output.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    /// The first [`MAX_STDOUT`] bytes.
    pub stdout: Vec<u8>,
    /// Whether there was more than that, read and dropped.
    pub stdout_cut: bool,
    /// The first [`MAX_STDERR`] bytes: error messages and tracebacks lead.
    pub stderr: Vec<u8>,
}

impl Finished {
    /// Stderr as one trimmed line for error messages.
    pub fn stderr_line(&self) -> String {
        one_line(&self.stderr)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("{program}: cannot start: {source}")]
    Spawn { program: String, source: io::Error },
    #[error("{program}: timed out after {}s and was killed{}", timeout.as_secs_f64(), stderr_suffix(stderr))]
    Timeout {
        program: String,
        timeout: Duration,
        stderr: String,
    },
    #[error("{program}: {source}")]
    Io { program: String, source: io::Error },
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(" (stderr: {stderr})")
    }
}

/// Collapses output to one line, bounded, for an error message.
pub fn one_line(bytes: &[u8]) -> String {
    let joined = joined(bytes);
    if joined.chars().count() > 500 {
        format!("{}...", joined.chars().take(497).collect::<String>())
    } else {
        joined
    }
}

/// [`one_line`] keeping the end: where a program's last words are its
/// cause (a Python traceback ends in the error; its start is the stack).
pub fn one_line_end(bytes: &[u8]) -> String {
    let joined = joined(bytes);
    let count = joined.chars().count();
    if count > 500 {
        format!(
            "...{}",
            joined.chars().skip(count - 497).collect::<String>()
        )
    } else {
        joined
    }
}

/// One line, its control characters escaped: a replica's or kubectl's
/// stderr reached the terminal with its colour codes and bells.
fn joined(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    lpa_core::text::escape_controls(&text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Output kept of each stream; a runaway child cannot exhaust memory. The
/// largest answer lpa asks kubectl for is a list of HPAs, a few MB in a
/// large namespace; 64 MiB a stream let a broken wrapper take lpa to
/// 270 MB, past the 128Mi its deploy/run pod may use.
pub const MAX_STDOUT: u64 = 16 << 20;
pub const MAX_STDERR: u64 = 4 << 20;

/// Runs `cmd` to completion or until `timeout`, feeding `stdin` if given.
pub fn run(
    cmd: &mut Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<Finished, ProcessError> {
    run_as(cmd, stdin, timeout, false)
}

/// [`run`], the child leading a process group of its own, which
/// [`kill_every_group`] ends with all it started.
pub fn run_group(
    cmd: &mut Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<Finished, ProcessError> {
    std::os::unix::process::CommandExt::process_group(cmd, 0);
    run_as(cmd, stdin, timeout, true)
}

/// The process groups [`run_group`] leads now.
static GROUPS: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

fn groups() -> std::sync::MutexGuard<'static, Vec<u32>> {
    GROUPS.lock().unwrap_or_else(|e| e.into_inner())
}

/// SIGKILLs every process group [`run_group`] leads now, for an exit that
/// will not wait for them: a `kubectl scale` that a second stop signal
/// left went on retrying a conflict for minutes after lpa had gone, and
/// applied a count lpa never saved.
pub fn kill_every_group() {
    for &pid in groups().iter() {
        if let Some(group) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
            let _ = kill_process_group(group, Signal::KILL);
        }
    }
}

/// A child's pid in [`GROUPS`] while this lives.
struct Listed(Option<u32>);

impl Drop for Listed {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            groups().retain(|&p| p != pid);
        }
    }
}

fn run_as(
    cmd: &mut Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
    grouped: bool,
) -> Result<Finished, ProcessError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = crate::reaper::spawn(cmd).map_err(|source| ProcessError::Spawn {
        program: program.clone(),
        source,
    })?;
    if grouped {
        groups().push(child.id());
    }
    // Out of the list once reaped (every return below reaps it first).
    let _listed = Listed(grouped.then_some(child.id()));
    let io = |source| ProcessError::Io {
        program: program.clone(),
        source,
    };
    // A thread that cannot start (the pid limit reached) fails this call,
    // where std's thread::spawn panicked and ended lpa.
    let threads = drain(child.stdout.take(), MAX_STDOUT).and_then(|out| {
        let err = drain(child.stderr.take(), MAX_STDERR)?;
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let data = data.to_vec();
            // A child that exits without reading gets EPIPE here; its exit
            // status is the answer that matters.
            thread::Builder::new().spawn(move || {
                let _ = pipe.write_all(&data);
            })?;
        }
        Ok((out, err))
    });
    let (out, err) = match threads {
        Ok(drains) => drains,
        Err(e) => {
            let _ = wait_timeout(&mut child, Duration::ZERO);
            return Err(io(e));
        }
    };
    let status = wait_timeout(&mut child, timeout).map_err(io)?;
    let read_by = Instant::now() + PIPE_GRACE;
    let (stdout, stdout_cut) = out.finish(read_by);
    let (stderr, _) = err.finish(read_by);
    match status {
        Some(status) => Ok(Finished {
            status,
            stdout,
            stdout_cut,
            stderr,
        }),
        None => Err(ProcessError::Timeout {
            program,
            timeout,
            stderr: one_line(&stderr),
        }),
    }
}

/// How long the pipes are read once the child has ended. Whatever it wrote
/// is in them by then and takes microseconds to read; a pipe still open
/// past this is held by a process it left behind (a wrapper's `sleep 50 &`,
/// a locustfile's `subprocess.Popen`), which would otherwise hold lpa: a
/// 2 s Locust run returned after 50 s, a `--kubectl-timeout 2s` call
/// after 8 s.
const PIPE_GRACE: Duration = Duration::from_secs(1);

/// How often a draining thread looks whether it has been told to stop.
const POLL_STEP: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 50_000_000,
};

/// A stream read on its own thread, which stops when the pipe closes or
/// when [`Drain::finish`] says so, whichever comes first.
struct Drain {
    stop: Arc<AtomicBool>,
    done: mpsc::Receiver<(Vec<u8>, bool)>,
}

impl Drain {
    /// What was read, waiting for the pipe to close until `by` at most.
    fn finish(self, by: Instant) -> (Vec<u8>, bool) {
        let wait = by.saturating_duration_since(Instant::now());
        if let Ok(read) = self.done.recv_timeout(wait) {
            return read;
        }
        self.stop.store(true, Ordering::Relaxed);
        self.done.recv().unwrap_or_default()
    }
}

/// The first `keep` bytes of a stream, and whether it had more. The rest
/// is read and dropped, not left in the pipe: a child then blocked on it,
/// or killed by SIGPIPE, was blamed for lpa's limit ("exit signal: 13").
/// The thread waits in `poll`, not `read`, so that it can be stopped while
/// the pipe is open, and the pipe closed, rather than left blocked on it.
fn drain<R: Read + AsFd + Send + 'static>(pipe: Option<R>, keep: u64) -> io::Result<Drain> {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, done) = mpsc::channel();
    let told = Arc::clone(&stop);
    thread::Builder::new().spawn(move || {
        let read = pipe.map_or_else(Default::default, |pipe| read_until(pipe, keep, &told));
        let _ = tx.send(read);
    })?;
    Ok(Drain { stop, done })
}

fn read_until<R: Read + AsFd>(mut pipe: R, keep: u64, stop: &AtomicBool) -> (Vec<u8>, bool) {
    let keep = usize::try_from(keep).unwrap_or(usize::MAX);
    let (mut kept, mut more) = (Vec::new(), false);
    let mut chunk = vec![0; 64 << 10];
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(&pipe, PollFlags::IN)];
        match poll(&mut fds, Some(&POLL_STEP)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => break,
        }
        match pipe.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                let room = keep - kept.len();
                kept.extend_from_slice(&chunk[..n.min(room)]);
                more |= n > room;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    (kept, more)
}

/// Waits for the child; on timeout kills it (and reaps it) and returns None.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let status = wait_for(child, timeout)?;
    if status.is_none() {
        // A child that leads its own group (kubectl runs so) takes its
        // children with it: a wrapper script's `sleep` would otherwise hold
        // the output pipes open, and the timeout would wait on it. For any
        // other child no group has its id (it is alive and unreaped, so its
        // pid names only it), and this does nothing.
        if let Some(group) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) {
            let _ = kill_process_group(group, Signal::KILL);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    Ok(status)
}

/// Waits for the child up to `timeout`; None when it still runs then, left
/// running and unreaped (its pid still names it) for the caller to decide.
pub fn wait_for(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_status() {
        let f = run(
            Command::new("sh").args(["-c", "cat; echo oops >&2; exit 3"]),
            Some(b"hello"),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(f.stdout, b"hello");
        assert_eq!(f.stderr_line(), "oops");
        assert_eq!(f.status.code(), Some(3));
    }

    /// Past the limit the output is read to the end, kept only in part, and
    /// the child ends as it would have (no SIGPIPE from a closed pipe).
    #[test]
    fn output_past_the_limit_is_cut_and_the_child_ends_normally() {
        let script = format!(
            "head -c {} /dev/zero; head -c {} /dev/zero >&2; exit 4",
            MAX_STDOUT + 1000,
            MAX_STDERR + 1000
        );
        let f = run(
            Command::new("sh").args(["-c", &script]),
            None,
            Duration::from_secs(20),
        )
        .unwrap();
        assert_eq!(f.status.code(), Some(4));
        assert_eq!(f.stdout.len() as u64, MAX_STDOUT);
        assert!(f.stdout_cut);
        assert_eq!(f.stderr.len() as u64, MAX_STDERR);
        let f = run(
            Command::new("sh").args(["-c", "echo ok"]),
            None,
            Duration::from_secs(10),
        )
        .unwrap();
        assert!(!f.stdout_cut);
    }

    #[test]
    fn times_out_and_kills() {
        let start = Instant::now();
        let e = run(
            Command::new("sleep").arg("30"),
            None,
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(matches!(e, ProcessError::Timeout { .. }), "{e}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    /// A wrapper whose own child holds the output pipes (a shell script
    /// running `sleep`, not `exec sleep`): run in its own group, as kubectl
    /// is, the timeout takes the whole group.
    #[test]
    fn times_out_and_kills_a_wrappers_children_too() {
        use std::os::unix::process::CommandExt;
        let start = Instant::now();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30; echo done"]).process_group(0);
        let e = run(&mut cmd, None, Duration::from_millis(200)).unwrap_err();
        assert!(matches!(e, ProcessError::Timeout { .. }), "{e}");
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
    }

    /// A process the child left behind holding its output pipes (a
    /// wrapper's `sleep 20 &`) neither holds lpa past the child's exit nor
    /// costs the output the child wrote; nor, past a timeout, when it left
    /// the child's group.
    #[test]
    fn a_process_left_holding_the_pipes_does_not_hold_lpa() {
        use std::os::unix::process::CommandExt;
        let start = Instant::now();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 20 & echo answer; echo said >&2"])
            .process_group(0);
        let f = run(&mut cmd, None, Duration::from_secs(30)).unwrap();
        assert_eq!(
            (f.stdout.as_slice(), f.stderr_line().as_str()),
            (&b"answer\n"[..], "said")
        );
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        let start = Instant::now();
        let e = run(
            Command::new("sh").args(["-c", "setsid sleep 20 & echo late >&2; sleep 20"]),
            None,
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(e.to_string().ends_with("(stderr: late)"), "{e}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn one_line_keeps_the_start_or_the_end() {
        let long = format!("Traceback {} OSError: in use", "frame\n".repeat(200));
        assert!(one_line(long.as_bytes()).starts_with("Traceback frame"));
        let end = one_line_end(long.as_bytes());
        assert!(
            end.starts_with("...") && end.ends_with("frame OSError: in use"),
            "{end}"
        );
        assert_eq!(end.chars().count(), 500);
        assert_eq!(one_line_end(b" a\n b "), "a b");
        assert_eq!(
            one_line(b"bad \x1b[31mred\x07\n"),
            "bad \\u{1b}[31mred\\u{7}"
        );
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let e = run(
            &mut Command::new("/nonexistent/kubectl"),
            None,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/kubectl: cannot start:"),
            "{e}"
        );
    }
}
