//! The local scale target: a pool of replica processes of one command, on
//! free loopback ports, behind a per-connection round-robin TCP proxy on
//! the listen address ([`crate::proxy`]). What a Deployment and its Service
//! do on a cluster, on one machine with no cluster.
//!
//! ```text
//!   client ──► listen address (proxy) ──round robin──► replica 1  127.0.0.1:P1  (child process)
//!                                                  └──► replica 2  127.0.0.1:P2
//!   scale up:   spawn CMD with {port} = a free port ─► poll connect until it accepts ─► add to proxy
//!   scale down: remove from proxy (drain) ─► wait for its open connections ─► close stdin,
//!               SIGTERM to its process group ─► grace ─► SIGKILL to what is left of the group
//! ```
//!
//! **The command** is split into argv as a POSIX shell splits words, by
//! the `shlex` crate, and run without a shell ([`ReplicaCommand`]): blanks
//! separate words, '...' and "..." quote, a backslash escapes one
//! character, a `#` that starts a word starts a comment; nothing is
//! expanded (no variables, globs, pipes or redirections). `{port}` is
//! replaced by the replica's port.
//!
//! **Readiness**: a replica gets traffic only once a TCP connect to its port
//! succeeds and, on Linux, the listening socket is held by a process of the
//! replica's process group (`listener.rs`): the free port is free only until
//! the replica binds it, and a process that takes it in between would get
//! the service's traffic. Such a replica is stopped and started again on
//! another free port (at most 3 ports in a row). One that exits first, or
//! does not accept within the ready timeout (counted from its own start),
//! is an error naming the command and quoting its stderr, and a scale-up is
//! all or nothing: the new replicas that did start are stopped.
//!
//! **Stopping**: SIGTERM first lets a real server finish in-flight work, as
//! Kubernetes does before its grace period ends; SIGKILL follows after the
//! grace ([`LocalOptions::stop_grace`], 3 s), or at once when SIGTERM could
//! not be sent. Both go to the replica's process group (rustix's safe
//! `kill(2)`; std signals only its own child), as Kubernetes stops every process of a container: a command that
//! runs its server as a child (a wrapper script without `exec`) must not
//! leave the server behind. A process that makes itself a group or session
//! of its own (a daemon) escapes this, as it would escape a terminal's
//! Ctrl-C. The event says when SIGKILL was needed.
//!
//! **Children never outlive lpa**: the pool stops every replica when it is
//! dropped (normal exit, an error, a panic that unwinds, the run loop's stop
//! flag after SIGINT/SIGTERM); a second Ctrl-C, which exits at once, first
//! SIGKILLs them ([`kill_every_replica`]). For what nothing sees (a SIGKILL
//! of lpa), each replica gets a pipe on its stdin
//! that only lpa holds: `lpa serve --exit-with-parent` exits when it reads
//! EOF there, which the kernel delivers when lpa dies however it dies. Other
//! commands may use the same signal. Replicas run in their own process
//! group, so a Ctrl-C in the terminal reaches lpa only and lpa stops them in
//! order.
//!
//! **Crashes**: a replica that exits on its own is replaced at the next read
//! of the replica count, as a ReplicaSet replaces a pod.

use std::fmt;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use lpa_core::duration::format_duration;
use rustix::process::{kill_process_group, test_kill_process_group, Pid, Signal};

use super::listener::{listener, Listener};
use super::{DriverError, ScaleTarget};
use crate::process::{self, one_line_end};
use crate::proxy::{Backend, Proxy, ProxyOptions};

/// The placeholder replaced by each replica's port.
pub const PORT: &str = "{port}";

/// Stderr kept per replica for error messages: the last this many bytes.
const STDERR_TAIL: usize = 8 * 1024;

/// Ports a replica may find taken before one start is given up: each is
/// a fresh free port, so a second loss is already rare.
const PORT_TRIES: u32 = 3;

/// A replica command, split into words, with `{port}` in at least one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaCommand {
    text: String,
    words: Vec<String>,
}

impl ReplicaCommand {
    /// Splits `text` into argv (see the module docs for the rules).
    pub fn parse(text: &str) -> Result<ReplicaCommand, DriverError> {
        let bad = |why: &str| DriverError::Invalid(format!("replica command {text:?}: {why}"));
        let words = split_words(text).map_err(|why| bad(&why.to_string()))?;
        if words.is_empty() {
            return Err(bad("no program to run"));
        }
        if !words.iter().any(|w| w.contains(PORT)) {
            return Err(bad(
                "no {port} placeholder (where should the replica listen?)",
            ));
        }
        Ok(ReplicaCommand {
            text: text.to_string(),
            words,
        })
    }

    /// A command given as argv already (no splitting).
    pub fn from_argv(words: Vec<String>) -> Result<ReplicaCommand, DriverError> {
        let text = words.join(" ");
        if words.is_empty() || !words.iter().any(|w| w.contains(PORT)) {
            return Err(DriverError::Invalid(format!(
                "replica command {text:?}: needs a program and a {{port}} placeholder"
            )));
        }
        Ok(ReplicaCommand { text, words })
    }

    /// The argv of a replica on `port`.
    pub fn argv(&self, port: u16) -> Vec<String> {
        let port = port.to_string();
        self.words.iter().map(|w| w.replace(PORT, &port)).collect()
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for ReplicaCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why a command cannot be split into words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// A `'` or `"` quote that is not closed.
    #[error("unterminated {0} quote")]
    Quote(char),
    #[error("trailing backslash")]
    Backslash,
}

/// Splits like a POSIX shell's word splitting and quote removal, and
/// nothing more.
fn split_words(text: &str) -> Result<Vec<String>, SplitError> {
    if let Some(words) = shlex::split(text) {
        return Ok(words);
    }
    // shlex says only that the text ended inside a quote or after a
    // backslash. What completes it tells which: a newline after a trailing
    // backslash continues the line, and a ' closes only a ' quote.
    let completes = |end: &str| shlex::split(&format!("{text}{end}")).is_some();
    Err(if completes("\n") {
        SplitError::Backslash
    } else if completes("'") {
        SplitError::Quote('\'')
    } else {
        SplitError::Quote('"')
    })
}

/// Timeouts and limits of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalOptions {
    /// A new replica must accept connections within this.
    pub ready_timeout: Duration,
    /// A replica taken out of rotation may finish its open connections for this long.
    pub drain_timeout: Duration,
    /// After SIGTERM, the wait before SIGKILL.
    pub stop_grace: Duration,
    /// A hard cap on replicas, whatever the policy says: each is a process.
    pub max_replicas: u32,
    pub proxy: ProxyOptions,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            ready_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(5),
            stop_grace: Duration::from_secs(3),
            max_replicas: 64,
            proxy: ProxyOptions::default(),
        }
    }
}

/// How a stopped replica ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It and everything in its process group exited within the grace.
    Exited,
    /// It still ran when the grace ended: SIGKILL, to it and its group.
    Killed { grace: Duration },
    /// It exited, but processes it started were still there when the grace
    /// ended: SIGKILL to them.
    GroupKilled { grace: Duration },
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::Exited => f.write_str("exited after SIGTERM"),
            Ending::Killed { grace } => write!(
                f,
                "still running {} after SIGTERM: killed with SIGKILL",
                format_duration(*grace)
            ),
            Ending::GroupKilled { grace } => write!(
                f,
                "exited after SIGTERM; processes it started were still there {} after: killed with SIGKILL",
                format_duration(*grace)
            ),
        }
    }
}

/// What the pool did, for the caller's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolEvent {
    /// Every connection of the proxy was taken at some moment since the
    /// last cycle read the replicas.
    ProxyFull { max: usize },
    Ready {
        replica: u64,
        pid: u32,
        addr: SocketAddr,
        after: Duration,
    },
    Stopped {
        replica: u64,
        pid: u32,
        /// Taken out of rotation first, and given the drain timeout (a
        /// scale-down), or stopped with the pool at once (lpa's exit).
        drained: bool,
        /// Connections that were still open when the drain timeout ended.
        cut: usize,
        how: Ending,
    },
    Exited {
        replica: u64,
        pid: u32,
        status: String,
        stderr: String,
    },
    /// Another process listened on the replica's port before the replica
    /// did; the replica was stopped and started again on `now`.
    PortTaken {
        replica: u64,
        addr: SocketAddr,
        /// `pid N (name)` of the process that listens there, or "another
        /// process" when lpa cannot look into it.
        by: String,
        now: SocketAddr,
    },
}

impl fmt::Display for PoolEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolEvent::Ready {
                replica,
                pid,
                addr,
                after,
            } => write!(
                f,
                "replica {replica} ready on {addr} (pid {pid}, {} ms)",
                after.as_millis()
            ),
            PoolEvent::Stopped {
                replica,
                pid,
                drained,
                cut,
                how,
            } => {
                let drained = if *drained { "drained and " } else { "" };
                write!(f, "replica {replica} {drained}stopped (pid {pid}, {how})")?;
                if *cut > 0 {
                    write!(f, "; {cut} connection(s) still open were cut")?;
                }
                Ok(())
            }
            PoolEvent::Exited {
                replica,
                pid,
                status,
                stderr,
            } => {
                write!(
                    f,
                    "replica {replica} (pid {pid}) exited on its own: {status}"
                )?;
                if !stderr.is_empty() {
                    write!(f, "; stderr: {stderr}")?;
                }
                Ok(())
            }
            PoolEvent::ProxyFull { max } => write!(
                f,
                "the proxy's {max} connections were all open since the last cycle: a client that came then, the load test's too, waited for one to close, so latency then is the proxy's, and more replicas do not lift it"
            ),
            PoolEvent::PortTaken {
                replica,
                addr,
                by,
                now,
            } => write!(
                f,
                "replica {replica}: {by} took {addr} before the replica listened there, and is left running (if the command starts it as a daemon, outside the replica's process group, lpa cannot stop it: run the server in the foreground); started the replica again on {now}"
            ),
        }
    }
}

/// The process group of every live replica of every pool in this process
/// (each replica leads its own), for the one exit no destructor sees
/// that lpa still chooses: a second stop signal, which ends lpa at once
/// (see [`kill_every_replica`]). A replica is listed from its start until
/// it is dropped, after it was reaped.
static LIVE_GROUPS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn live_groups() -> std::sync::MutexGuard<'static, Vec<u32>> {
    LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner())
}

/// SIGKILLs the process group of every live replica, for an exit that
/// will not wait for the pools to stop them in order: replicas that do not
/// watch their stdin for lpa's death would outlive it.
pub fn kill_every_replica() {
    for &pid in live_groups().iter() {
        signal_group(pid, Some(Signal::KILL));
    }
}

struct Replica {
    number: u64,
    child: Child,
    addr: SocketAddr,
    /// Held only here: dropping it is the replica's EOF watchdog signal.
    stdin: Option<ChildStdin>,
    stderr: Tail,
    backend: Option<Arc<Backend>>,
    started: Instant,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let pid = self.child.id();
        live_groups().retain(|&p| p != pid);
    }
}

/// The last bytes a child wrote to stderr, collected on a thread.
#[derive(Clone)]
struct Tail {
    bytes: Arc<Mutex<Vec<u8>>>,
    done: Arc<AtomicBool>,
}

impl Tail {
    fn collect(pipe: Option<impl Read + Send + 'static>) -> Tail {
        let tail = Tail {
            bytes: Arc::new(Mutex::new(Vec::new())),
            done: Arc::new(AtomicBool::new(false)),
        };
        let t = tail.clone();
        let spawned = thread::Builder::new().stack_size(64 * 1024).spawn(move || {
            if let Some(mut pipe) = pipe {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut bytes = t.bytes.lock().unwrap_or_else(|e| e.into_inner());
                    bytes.extend_from_slice(&buf[..n]);
                    let over = bytes.len().saturating_sub(STDERR_TAIL);
                    bytes.drain(..over);
                }
            }
            t.done.store(true, Ordering::SeqCst);
        });
        if spawned.is_err() {
            tail.done.store(true, Ordering::SeqCst);
        }
        tail
    }

    /// The tail as one line, waiting a little for a child that just exited
    /// to have its last words read.
    fn line(&self) -> String {
        let until = Instant::now() + Duration::from_millis(500);
        while !self.done.load(Ordering::SeqCst) && Instant::now() < until {
            thread::sleep(Duration::from_millis(10));
        }
        let bytes = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        one_line_end(&bytes)
    }
}

fn stderr_note(line: &str) -> String {
    if line.is_empty() {
        "no stderr".to_string()
    } else {
        format!("stderr: {line}")
    }
}

/// Sees the pool's events as they happen.
pub type Observer = Box<dyn FnMut(&PoolEvent) + Send>;

/// The pool. Starts empty; [`ScaleTarget::scale`]`(0, n)` starts the first
/// replicas.
pub struct LocalPool {
    command: ReplicaCommand,
    options: LocalOptions,
    proxy: Proxy,
    replicas: Vec<Replica>,
    /// Replicas that exited and could not be started again yet: owed to
    /// the count until a start succeeds, as a ReplicaSet keeps trying.
    owed: u32,
    next_number: u64,
    observer: Option<Observer>,
    /// Set by a stop signal: a replica's start or drain then ends at once,
    /// where it waited out --ready-timeout or --drain-timeout first.
    stop: Option<Arc<AtomicBool>>,
    /// [`Proxy::times_full`] when last looked at.
    seen_full: u64,
}

impl LocalPool {
    /// Binds the proxy on `listen` (an address in use is an error here,
    /// before any replica starts).
    pub fn new(
        command: ReplicaCommand,
        listen: SocketAddr,
        options: LocalOptions,
    ) -> Result<LocalPool, DriverError> {
        let proxy = Proxy::bind(listen, options.proxy)
            .map_err(|e| DriverError::Invalid(format!("cannot listen on {listen}: {e}")))?;
        Ok(LocalPool {
            command,
            options,
            proxy,
            replicas: Vec::new(),
            owed: 0,
            next_number: 1,
            observer: None,
            stop: None,
            seen_full: 0,
        })
    }

    /// Ends a start or a drain under way once `flag` is set (a stop
    /// signal's): a start fails, and the replicas it started are stopped;
    /// a drain cuts the connections still open.
    pub fn stop_on(&mut self, flag: &Arc<AtomicBool>) {
        self.stop = Some(Arc::clone(flag));
    }

    fn stopping(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
    }

    /// Called with every event as it happens (replica ready, stopped, crashed).
    pub fn set_observer(&mut self, observer: impl FnMut(&PoolEvent) + Send + 'static) {
        self.observer = Some(Box::new(observer));
    }

    /// The address clients use (the proxy's).
    pub fn addr(&self) -> SocketAddr {
        self.proxy.local_addr()
    }

    /// The process ids of the running replicas.
    pub fn pids(&self) -> Vec<u32> {
        self.replicas.iter().map(|r| r.child.id()).collect()
    }

    pub fn command(&self) -> &ReplicaCommand {
        &self.command
    }

    fn emit(&mut self, event: PoolEvent) {
        if let Some(o) = self.observer.as_mut() {
            o(&event);
        }
    }

    /// Stops every replica at once (no drain: nothing is served any more),
    /// SIGTERM then SIGKILL after the grace. Also done on drop.
    pub fn shutdown(&mut self) {
        let all = std::mem::take(&mut self.replicas);
        self.stop_together(all, false);
    }

    /// Stops `leaving` together, as a ReplicaSet's scale-down ends its
    /// pods: all out of rotation at once, with `drain` one drain timeout
    /// for them all, then SIGTERM to each and one grace. One by one, a
    /// scale-down by k took k drains and graces (24 stubborn replicas, 70
    /// s), and `/healthz` called the loop stuck. Each is said stopped with
    /// the connections cut, or, killed from outside since the last look,
    /// as having exited on its own, which the stop must not claim.
    fn stop_together(&mut self, mut leaving: Vec<Replica>, drain: bool) {
        let backends: Vec<Option<Arc<Backend>>> =
            leaving.iter_mut().map(|r| r.backend.take()).collect();
        for b in backends.iter().flatten() {
            self.proxy.remove(b);
        }
        let deadline = Instant::now() + self.options.drain_timeout;
        while drain
            && backends.iter().flatten().any(|b| b.active() > 0)
            && Instant::now() < deadline
            && !self.stopping()
        {
            thread::sleep(Duration::from_millis(10));
        }
        let mut ends = Vec::with_capacity(leaving.len());
        for (r, b) in leaving.iter_mut().zip(&backends) {
            let cut = b.as_ref().map_or(0, |b| b.active());
            let gone = is_zombie(r.child.id());
            r.stdin.take();
            // Unreaped until here: the group is still the replica's.
            terminate(&mut r.child);
            let status = if gone {
                r.child.try_wait().ok().flatten()
            } else {
                None
            };
            ends.push((cut, status));
        }
        let grace = Instant::now() + self.options.stop_grace;
        for (mut r, (cut, status)) in leaving.into_iter().zip(ends) {
            let how = finish(&mut r.child, grace, self.options.stop_grace);
            let pid = r.child.id();
            let event = match status {
                Some(status) => PoolEvent::Exited {
                    replica: r.number,
                    pid,
                    status: status_text(status),
                    stderr: r.stderr.line(),
                },
                None => PoolEvent::Stopped {
                    replica: r.number,
                    pid,
                    drained: drain,
                    cut,
                    how,
                },
            };
            self.emit(event);
        }
    }

    /// Starts `n` replicas and adds them to the proxy once all accept
    /// connections; on any failure none is added and all are stopped.
    fn start(&mut self, n: u32) -> Result<(), DriverError> {
        let mut pending: Vec<Replica> = Vec::new();
        let fail = |pending: &mut Vec<Replica>, e: DriverError| {
            for r in pending.iter_mut() {
                r.stdin.take();
                // Not reaped yet: the group id is still this replica's.
                signal_group(r.child.id(), Some(Signal::KILL));
                let _ = r.child.kill();
                let _ = r.child.wait();
            }
            Err(e)
        };
        for _ in 0..n {
            let number = self.next_number;
            self.next_number += 1;
            match self.spawn(number) {
                Ok(r) => pending.push(r),
                Err(e) => return fail(&mut pending, e),
            }
        }
        let mut ready = vec![false; pending.len()];
        let mut taken = vec![0u32; pending.len()];
        while ready.iter().any(|r| !r) {
            for i in 0..pending.len() {
                if ready[i] {
                    continue;
                }
                let r = &mut pending[i];
                let port = r.addr.port();
                let by = match r.child.try_wait() {
                    // Exited, perhaps because another process holds its port.
                    Ok(Some(status)) => match listener(port, r.child.id()) {
                        Listener::Other(by) => by,
                        _ => {
                            let e = self.not_ready(
                                r,
                                &format!(
                                    "exited ({}) before accepting connections",
                                    status_text(status)
                                ),
                            );
                            return fail(&mut pending, e);
                        }
                    },
                    Ok(None) => {
                        if TcpStream::connect_timeout(&r.addr, Duration::from_millis(200)).is_err()
                        {
                            continue;
                        }
                        match listener(port, r.child.id()) {
                            Listener::Other(by) => by,
                            Listener::Group | Listener::Unknown => {
                                ready[i] = true;
                                continue;
                            }
                        }
                    }
                    Err(e) => {
                        let e = self.not_ready(r, &format!("cannot be watched: {e}"));
                        return fail(&mut pending, e);
                    }
                };
                // The port went to another process between free_port and the
                // replica's bind: that process would get the traffic.
                let by = by.unwrap_or_else(|| "another process".to_string());
                taken[i] += 1;
                if taken[i] >= PORT_TRIES {
                    // Three in a row is rarely chance: more likely the
                    // command has a daemon listen for it (docker run -p).
                    let why = format!(
                        "could not listen: {PORT_TRIES} free ports in a row were taken before the replica bound them, the last by {by}, left running; the replica's own process group must listen on {{port}} (a server the command starts as a daemon, with setsid or a daemon mode, leaves it, and lpa cannot stop it)"
                    );
                    let e = self.not_ready(r, &why);
                    return fail(&mut pending, e);
                }
                let (number, addr) = (r.number, r.addr);
                stop(r, self.options.stop_grace);
                pending[i] = match self.spawn(number) {
                    Ok(again) => again,
                    Err(e) => return fail(&mut pending, e),
                };
                self.emit(PoolEvent::PortTaken {
                    replica: number,
                    addr,
                    by,
                    now: pending[i].addr,
                });
            }
            if ready.iter().all(|r| *r) {
                break;
            }
            if self.stopping() {
                let unready: Vec<String> = pending
                    .iter()
                    .zip(&ready)
                    .filter(|(_, ready)| !**ready)
                    .map(|(r, _)| format!("replica {} (pid {})", r.number, r.child.id()))
                    .collect();
                let e = DriverError::Invalid(format!(
                    "a stop signal came before {} accepted connections: stopped with the rest of this start",
                    unready.join(", ")
                ));
                return fail(&mut pending, e);
            }
            // Each replica has the ready timeout from its own (latest) start.
            if let Some(r) = pending
                .iter()
                .zip(&ready)
                .find(|(r, ready)| !**ready && r.started.elapsed() >= self.options.ready_timeout)
                .map(|(r, _)| r)
            {
                let why = format!(
                    "did not accept connections within {} ms",
                    self.options.ready_timeout.as_millis()
                );
                let e = self.not_ready(r, &why);
                return fail(&mut pending, e);
            }
            thread::sleep(Duration::from_millis(20));
        }
        for mut r in pending {
            r.backend = Some(self.proxy.add(r.addr));
            let event = PoolEvent::Ready {
                replica: r.number,
                pid: r.child.id(),
                addr: r.addr,
                after: r.started.elapsed(),
            };
            self.replicas.push(r);
            self.emit(event);
        }
        Ok(())
    }

    fn not_ready(&self, r: &Replica, why: &str) -> DriverError {
        DriverError::Output {
            command: format!("replica command {:?}", self.command.text()),
            message: format!(
                "replica on {} {why}; {}",
                r.addr,
                stderr_note(&r.stderr.line())
            ),
        }
    }

    fn spawn(&self, number: u64) -> Result<Replica, DriverError> {
        let port = free_port()
            .map_err(|e| DriverError::Invalid(format!("cannot find a free loopback port: {e}")))?;
        let argv = self.command.argv(port);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // A terminal's Ctrl-C reaches lpa only; lpa stops the replicas,
            // and its signals reach what each replica started (its group).
            .process_group(0);
        let mut child = crate::reaper::spawn(&mut cmd).map_err(|e| {
            DriverError::Invalid(format!(
                "replica command {:?}: cannot start {}: {e}",
                self.command.text(),
                argv[0]
            ))
        })?;
        live_groups().push(child.id());
        let stderr = Tail::collect(child.stderr.take());
        Ok(Replica {
            number,
            stdin: child.stdin.take(),
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            stderr,
            backend: None,
            started: Instant::now(),
        })
    }

    /// Drains and stops the `n` newest replicas, together.
    fn stop_newest(&mut self, n: usize) {
        let keep = self.replicas.len().saturating_sub(n);
        let mut leaving = self.replicas.split_off(keep);
        // The newest first, as each was said before.
        leaving.reverse();
        self.stop_together(leaving, true);
    }

    /// Replaces replicas that exited on their own.
    fn replace_exited(&mut self) -> Result<(), DriverError> {
        let mut exited = 0;
        let mut i = 0;
        while i < self.replicas.len() {
            let status = self.replicas[i].child.try_wait().ok().flatten();
            let Some(status) = status else {
                i += 1;
                continue;
            };
            let mut r = self.replicas.remove(i);
            if let Some(b) = r.backend.take() {
                self.proxy.remove(&b);
            }
            // What it started may live on in its group, holding its port
            // after lpa exits. Reaped just now: while the group is found,
            // its id is still this replica's (see finish).
            if signal_group(r.child.id(), None) {
                stop(&mut r, self.options.stop_grace);
            }
            exited += 1;
            let event = PoolEvent::Exited {
                replica: r.number,
                pid: r.child.id(),
                status: status_text(status),
                stderr: r.stderr.line(),
            };
            self.emit(event);
        }
        // A failed start is tried again next cycle: forgotten, the pool
        // would shrink by each replica that failed to restart, to 0, which
        // then reads as autoscaling disabled for good.
        let wanted = self.replicas.len() as u32 + self.owed + exited;
        self.owed = 0;
        if wanted > self.replicas.len() as u32 {
            let missing = wanted - self.replicas.len() as u32;
            if let Err(e) = self.start(missing) {
                self.owed = wanted.saturating_sub(self.replicas.len() as u32);
                return Err(e);
            }
        }
        Ok(())
    }
}

impl Drop for LocalPool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl ScaleTarget for LocalPool {
    fn describe(&self) -> String {
        format!("local pool on {}", self.proxy.local_addr())
    }

    fn replicas(&mut self) -> Result<u32, DriverError> {
        // Full since the last look, or still: the accept loop counts a
        // time full once, however long it lasts.
        let full = self.proxy.times_full();
        let max = self.proxy.max_connections();
        if full > self.seen_full || self.proxy.is_full() {
            self.emit(PoolEvent::ProxyFull { max });
        }
        self.seen_full = full;
        self.replace_exited()?;
        Ok(self.replicas.len() as u32)
    }

    /// A replica joins the pool only once it answers (`scale` waits for
    /// it), so every one counted serves.
    fn ready(&self) -> Option<u32> {
        Some(self.replicas.len() as u32)
    }

    fn scale(&mut self, from: u32, to: u32) -> Result<(), DriverError> {
        let now = self.replicas.len() as u32;
        if now != from {
            return Err(DriverError::Changed {
                target: self.describe(),
                expected: from,
                seen: Some(now),
                rival: None,
            });
        }
        if to > self.options.max_replicas {
            return Err(DriverError::Invalid(format!(
                "{} replicas asked, but the local pool runs at most {}",
                to, self.options.max_replicas
            )));
        }
        if to > now {
            self.start(to - now)?;
        }
        if to < now {
            self.stop_newest((now - to) as usize);
        }
        Ok(())
    }
}

/// A port free now on loopback; the replica binds it right after (another
/// process taking it in between makes that replica fail its start).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// Stops one replica: its stdin closed (the EOF watchdog), SIGTERM, then
/// SIGKILL to what is left after `grace`.
fn stop(r: &mut Replica, grace: Duration) -> Ending {
    r.stdin.take();
    terminate(&mut r.child);
    finish(&mut r.child, Instant::now() + grace, grace)
}

/// Whether the child `pid` has exited and waits to be reaped (Linux's
/// `/proc`; false where it cannot be read).
fn is_zombie(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // "pid (comm) state ...": comm may hold anything, ')' too.
    stat.rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
}

/// Sends SIGTERM to the replica's process group, or SIGKILL to the replica
/// when that fails. The replica is not reaped yet, running or not, so its
/// pid, and the group id equal to it, cannot have been reused.
fn terminate(child: &mut Child) {
    if !signal_group(child.id(), Some(Signal::TERM)) {
        let _ = child.kill();
    }
}

/// Waits until `deadline` for the replica and the rest of its process group
/// to exit, then kills what is left; always reaps the replica.
fn finish(child: &mut Child, deadline: Instant, grace: Duration) -> Ending {
    let pid = child.id();
    let left = deadline.saturating_duration_since(Instant::now());
    if !matches!(process::wait_for(child, left), Ok(Some(_))) {
        // Still unreaped, so the group id is still its own.
        signal_group(pid, Some(Signal::KILL));
        let _ = child.kill();
        let _ = child.wait();
        return Ending::Killed { grace };
    }
    // Reaped; its group may live on (a wrapper that exits on SIGTERM, its
    // server still finishing). The kernel reuses no id that still names a
    // process group, so while a probe finds the group, the id is ours; the
    // id freed and reused between a probe and the SIGKILL would take the
    // pid space wrapping within one pause.
    let mut pause = Duration::from_millis(5);
    while signal_group(pid, None) {
        if Instant::now() >= deadline {
            signal_group(pid, Some(Signal::KILL));
            return Ending::GroupKilled { grace };
        }
        thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
        pause = (pause * 2).min(Duration::from_millis(100));
    }
    Ending::Exited
}

/// Sends `signal` (`None`: only ask whether the group exists) to the
/// process group led by the replica `pid`: each replica leads its own (see
/// [`LocalPool::spawn`]). True when it was delivered.
fn signal_group(pid: u32, signal: Option<Signal>) -> bool {
    let Some(group) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    match signal {
        Some(signal) => kill_process_group(group, signal).is_ok(),
        None => test_kill_process_group(group).is_ok(),
    }
}

fn status_text(status: ExitStatus) -> String {
    match status.code() {
        Some(c) => format!("exit status {c}"),
        None => format!("{status}"),
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_macros)] // a test's stderr is cargo's pipe
mod tests {
    use super::*;

    #[test]
    fn words_split_without_a_shell() {
        let w = |t: &str| split_words(t).unwrap();
        assert_eq!(
            w("lpa serve --listen 127.0.0.1:{port}"),
            ["lpa", "serve", "--listen", "127.0.0.1:{port}"]
        );
        assert_eq!(
            w(r#"  a 'b c' "d \"e\" \n" f\ g '' "#),
            ["a", "b c", r#"d "e" \n"#, "f g", ""]
        );
        assert_eq!(
            w("echo $HOME | cat > x; *"),
            ["echo", "$HOME", "|", "cat", ">", "x;", "*"]
        );
        assert!(split_words("a 'b")
            .unwrap_err()
            .to_string()
            .contains("unterminated"));
        assert!(split_words("a \"b")
            .unwrap_err()
            .to_string()
            .contains("unterminated"));
        assert!(split_words("a \\")
            .unwrap_err()
            .to_string()
            .contains("backslash"));
    }

    /// The rules shlex brings, as a POSIX shell has them.
    #[test]
    fn words_split_as_a_posix_shell_splits_them() {
        let w = |t: &str| split_words(t).unwrap();
        // Tabs and newlines separate words; a backslash-newline joins lines.
        assert_eq!(w("a\tb\nc d\\\ne"), ["a", "b", "c", "de"]);
        // A `#` that starts a word starts a comment, to the end of the line.
        assert_eq!(w("srv {port} # the port\n--x"), ["srv", "{port}", "--x"]);
        assert_eq!(w("srv --tag=a#b"), ["srv", "--tag=a#b"]);
        // In "...", a backslash escapes only $ ` " \ and a newline.
        assert_eq!(w(r#""\$HOME \` \a""#), [r"$HOME ` \a"]);
        assert_eq!(w(r"'\n'"), [r"\n"]);
        assert_eq!(split_words("'a\\"), Err(SplitError::Quote('\'')));
        assert_eq!(split_words("a \"b 'c"), Err(SplitError::Quote('"')));
        assert_eq!(split_words("\"a\\"), Err(SplitError::Quote('"')));
        assert_eq!(split_words("a\\"), Err(SplitError::Backslash));
    }

    #[test]
    fn the_command_needs_a_program_and_a_port() {
        let c = ReplicaCommand::parse("srv --port={port} --metrics {port}").unwrap();
        assert_eq!(c.argv(8080), ["srv", "--port=8080", "--metrics", "8080"]);
        for (text, why) in [
            ("", "no program"),
            ("   ", "no program"),
            ("srv --port 80", "no {port} placeholder"),
            ("srv '{port}", "unterminated"),
        ] {
            let e = ReplicaCommand::parse(text).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("replica command {text:?}: ")) && e.contains(why),
                "{e}"
            );
        }
    }

    fn pool(cmd: &str, ready: Duration) -> LocalPool {
        pool_with(
            cmd,
            LocalOptions {
                ready_timeout: ready,
                ..LocalOptions::default()
            },
        )
    }

    fn pool_with(cmd: &str, options: LocalOptions) -> LocalPool {
        LocalPool::new(
            ReplicaCommand::parse(cmd).unwrap(),
            "127.0.0.1:0".parse().unwrap(),
            options,
        )
        .unwrap()
    }

    /// SIGKILL from another process, as an operator or the OOM killer
    /// ends a replica.
    fn kill_from_outside(pid: u32) {
        let killed = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    }

    fn gone(pid: u32) -> bool {
        // A reaped child has no /proc entry (its pid is not reused this fast).
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    }

    #[test]
    fn a_command_that_exits_at_once_is_an_error_with_its_stderr() {
        let mut p = pool("ls /nonexistent-lpa-dir/{port}", Duration::from_secs(10));
        let e = p.scale(0, 1).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "replica command \"ls /nonexistent-lpa-dir/{port}\": replica on 127.0.0.1:"
            ),
            "{e}"
        );
        assert!(
            e.contains(
                "exited (exit status 2) before accepting connections; stderr: ls: cannot access"
            ),
            "{e}"
        );
        assert_eq!(p.replicas().unwrap(), 0);
    }

    #[test]
    fn a_command_that_never_listens_is_stopped_and_an_error() {
        let mut p = pool("sleep 30 {port}", Duration::from_millis(300));
        let start = Instant::now();
        let e = p.scale(0, 1).unwrap_err().to_string();
        assert!(
            e.contains("did not accept connections within 300 ms; no stderr"),
            "{e}"
        );
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(p.pids().is_empty());
    }

    #[test]
    fn a_missing_program_and_a_listen_address_in_use_are_errors() {
        let mut p = pool("/nonexistent/srv {port}", Duration::from_secs(1));
        let e = p.scale(0, 1).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "replica command \"/nonexistent/srv {port}\": cannot start /nonexistent/srv:"
            ),
            "{e}"
        );

        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let e = LocalPool::new(
            ReplicaCommand::parse("x {port}").unwrap(),
            addr,
            LocalOptions::default(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.starts_with(&format!("cannot listen on {addr}: ")), "{e}");
    }

    /// Python's http.server is a real server that needs no build. python3
    /// is a test peer (scripts/setup-tools.sh makes its venv with it): a
    /// machine without it fails these tests, it does not pass them unchecked.
    fn python() {
        let ok = Command::new("python3")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "these tests run python3 -m http.server: install python3"
        );
    }

    #[test]
    fn a_panic_that_unwinds_stops_the_replicas() {
        python();
        let (tx, rx) = std::sync::mpsc::channel();
        let panicked = thread::spawn(move || {
            let mut p = pool(
                "python3 -m http.server --bind 127.0.0.1 {port}",
                Duration::from_secs(10),
            );
            p.scale(0, 1).unwrap();
            tx.send(p.pids()[0]).unwrap();
            panic!("on purpose, with the pool alive");
        })
        .join();
        assert!(panicked.is_err());
        let pid = rx.recv().unwrap();
        assert!(gone(pid), "replica {pid} outlived the panic");
    }

    /// At lpa's exit nothing is drained: the stop says so, and counts the
    /// connections it cut; a replica killed from outside since the last
    /// look is told as having exited on its own, not as stopped by lpa.
    /// Two replicas of Python's http.server, and the pool's events.
    fn pool_of_two() -> (LocalPool, Arc<Mutex<Vec<PoolEvent>>>) {
        python();
        let mut p = pool(
            "python3 -m http.server --bind 127.0.0.1 {port}",
            Duration::from_secs(10),
        );
        let events = Arc::new(Mutex::new(Vec::new()));
        let e = Arc::clone(&events);
        p.set_observer(move |ev| e.lock().unwrap().push(ev.clone()));
        p.scale(0, 2).unwrap();
        (p, events)
    }

    #[test]
    fn shutdown_says_what_it_cut_and_what_had_died() {
        let (mut p, events) = pool_of_two();
        let pids = p.pids();
        // Round robin: the second connection goes to replica 2.
        let _first = TcpStream::connect(p.addr()).unwrap();
        let open = TcpStream::connect(p.addr()).unwrap();
        kill_from_outside(pids[0]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !is_zombie(pids[0]) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        thread::sleep(Duration::from_millis(100));
        p.shutdown();
        drop(open);
        let said: Vec<String> = events.lock().unwrap()[2..]
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            said.iter().any(|e| e.starts_with(&format!(
                "replica 1 (pid {}) exited on its own: signal: 9",
                pids[0]
            ))),
            "{said:?}"
        );
        assert!(
            said.iter().any(|e| e.starts_with(&format!(
                "replica 2 stopped (pid {}, exited after SIGTERM); 1 connection(s) still open were cut",
                pids[1]
            ))),
            "{said:?}"
        );
        assert!(!said.iter().any(|e| e.contains("drained")), "{said:?}");
    }

    #[test]
    fn scales_up_and_down_through_the_proxy_and_leaves_no_child() {
        let (mut p, events) = pool_of_two();
        assert_eq!(p.replicas().unwrap(), 2);
        let pids = p.pids();
        let get = |addr: SocketAddr| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            std::io::Write::write_all(&mut s, b"GET / HTTP/1.0\r\n\r\n").unwrap();
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            text
        };
        assert!(get(p.addr()).starts_with("HTTP/1.0 200"));
        assert!(matches!(p.scale(1, 3), Err(DriverError::Changed { .. })));
        p.scale(2, 1).unwrap();
        assert_eq!(p.pids(), pids[..1]);
        assert!(gone(pids[1]));
        assert!(get(p.addr()).starts_with("HTTP/1.0 200"));
        // A replica that dies is replaced at the next read, as a ReplicaSet would.
        kill_from_outside(pids[0]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while p.pids() == pids[..1] && Instant::now() < deadline {
            assert_eq!(p.replicas().unwrap(), 1);
            thread::sleep(Duration::from_millis(20));
        }
        let replacement = p.pids();
        assert_eq!(replacement.len(), 1);
        assert_ne!(replacement[0], pids[0]);
        assert!(get(p.addr()).starts_with("HTTP/1.0 200"));
        drop(p);
        assert!(gone(replacement[0]));
        let events = events.lock().unwrap();
        assert!(
            matches!(events[0], PoolEvent::Ready { replica: 1, .. }),
            "{events:?}"
        );
        assert!(
            matches!(
                events[2],
                PoolEvent::Stopped {
                    replica: 2,
                    cut: 0,
                    how: Ending::Exited,
                    ..
                }
            ),
            "{events:?}"
        );
        assert!(
            matches!(events[3], PoolEvent::Exited { replica: 1, .. }),
            "{events:?}"
        );
        assert!(
            matches!(events[4], PoolEvent::Ready { replica: 3, .. }),
            "{events:?}"
        );
        assert_eq!(events.len(), 6, "{events:?}");
    }

    /// Clients that take every connection of the proxy are said at the
    /// next read of the replicas, and for as long as they hold them: the
    /// load test's latency is then the proxy's, which replicas do not lift.
    #[test]
    fn a_full_proxy_is_said() {
        python();
        let options = LocalOptions {
            proxy: ProxyOptions {
                max_connections: 1,
                ..ProxyOptions::default()
            },
            ..LocalOptions::default()
        };
        let mut p = pool_with("python3 -m http.server --bind 127.0.0.1 {port}", options);
        let events = Arc::new(Mutex::new(Vec::new()));
        let e = Arc::clone(&events);
        p.set_observer(move |ev| e.lock().unwrap().push(ev.to_string()));
        p.scale(0, 1).unwrap();
        p.replicas().unwrap();
        let full = |events: &Mutex<Vec<String>>| {
            let events = events.lock().unwrap();
            events
                .iter()
                .filter(|e| e.starts_with("the proxy's 1 connections were all open"))
                .count()
        };
        assert_eq!(full(&events), 0, "{:?}", events.lock().unwrap());
        let held = TcpStream::connect(p.addr()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !p.proxy.is_full() {
            assert!(Instant::now() < deadline, "the connection was not taken");
            thread::sleep(Duration::from_millis(10));
        }
        p.replicas().unwrap();
        p.replicas().unwrap();
        assert_eq!(full(&events), 2, "{:?}", events.lock().unwrap());
        drop(held);
    }

    /// A replica that exits on its own is replaced, and what it started,
    /// still in its group, is stopped: left, it held its port after lpa
    /// exited, a server of nobody's.
    #[test]
    fn what_an_exited_replica_started_is_stopped_with_it() {
        python();
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let go = dir.path().join("go");
        let script = dir.path().join("leaves.sh");
        // The first start leaves its server behind and exits once told
        // (once its server listens, however slow the machine); later ones
        // serve.
        std::fs::write(
            &script,
            format!(
                "if [ -e {p} ]; then exec python3 -m http.server --bind 127.0.0.1 $1; fi\n\
                 python3 -m http.server --bind 127.0.0.1 $1 >/dev/null 2>&1 &\n\
                 echo $! > {p}; while [ ! -e {go} ]; do sleep 0.05; done; exit 3\n",
                p = pids.display(),
                go = go.display()
            ),
        )
        .unwrap();
        let mut p = pool(
            &format!("sh {} {{port}}", script.display()),
            Duration::from_secs(10),
        );
        p.scale(0, 1).unwrap();
        std::fs::write(&go, "").unwrap();
        let first = p.pids()[0];
        let deadline = Instant::now() + Duration::from_secs(15);
        while p.pids() == [first] {
            assert_eq!(p.replicas().unwrap(), 1);
            assert!(Instant::now() < deadline, "the first replica never exited");
            thread::sleep(Duration::from_millis(50));
        }
        let left: u32 = std::fs::read_to_string(&pids)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(gone(left), "its server (pid {left}) outlived it");
        drop(p);
    }

    #[test]
    fn a_replica_that_fails_to_restart_is_tried_again_not_forgotten() {
        python();
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("starts");
        let go = dir.path().join("go");
        let script = dir.path().join("flaky.sh");
        // Serves until told to stop (once it listens, however slow the
        // machine), then fails its first restart, then serves.
        std::fs::write(
            &script,
            format!(
                "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}\n\
                 case $n in\n\
                 1) python3 -m http.server --bind 127.0.0.1 $1 & s=$!\n\
                 \x20  while [ ! -e {go} ]; do sleep 0.05; done; kill $s; wait $s; exit 3 ;;\n\
                 2) echo transient >&2; exit 7 ;;\n\
                 *) exec python3 -m http.server --bind 127.0.0.1 $1 ;;\n\
                 esac\n",
                c = count.display(),
                go = go.display()
            ),
        )
        .unwrap();
        let mut p = pool(
            &format!("sh {} {{port}}", script.display()),
            Duration::from_secs(10),
        );
        p.scale(0, 1).unwrap();
        std::fs::write(&go, "").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let failed = loop {
            match p.replicas() {
                Err(e) => break e,
                Ok(n) => assert_eq!(n, 1),
            }
            assert!(Instant::now() < deadline, "the first replica never exited");
            thread::sleep(Duration::from_millis(50));
        };
        assert!(failed.to_string().contains("transient"), "{failed}");
        // The next read starts it again: the pool is owed its replica, and
        // does not read 0 (autoscaling disabled) for good.
        assert_eq!(p.replicas().unwrap(), 1);
        let pid = p.pids()[0];
        drop(p);
        assert!(gone(pid));
    }
}
