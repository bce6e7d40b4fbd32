//! A per-connection round-robin TCP proxy: what kube-proxy does for a
//! Service in front of a Deployment's ready pods, so the local pool behaves
//! like a cluster under load.
//!
//! ```text
//!   client ──► listen address ──► accept (waits while max_connections are open)
//!                                   │ next ready backend, round robin; one that
//!                                   │ refuses the connection is skipped
//!                                   ▼
//!              client ◄─── copy ───► backend   (two threads per connection;
//!                                               a half-close is passed on)
//! ```
//!
//! Balancing is per connection, not per request, as kube-proxy's: a client
//! that keeps its connection alive stays on one backend. A backend taken out
//! with [`Proxy::remove`] gets no new connection, and its open ones go on
//! until they end, which is how the pool drains a replica before stopping it
//! ([`Backend::active`] counts them).
//!
//! Bounded: at most `max_connections` open connections (two threads each;
//! the listen backlog holds the rest), a connect timeout per backend, and
//! an idle timeout (no byte either way) per connection.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// Limits of the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyOptions {
    /// Open connections at most; further clients wait in the listen backlog.
    pub max_connections: usize,
    pub connect_timeout: Duration,
    /// A connection with no byte in either direction for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions {
            max_connections: 256,
            connect_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// How often a blocked copy looks at the idle timeout and the stop flag.
const TICK: Duration = Duration::from_millis(500);
/// Copy threads need little stack: one buffer and blocking calls.
const STACK: usize = 64 * 1024;

/// One address the proxy forwards to.
#[derive(Debug)]
pub struct Backend {
    addr: SocketAddr,
    active: AtomicUsize,
    connections: AtomicU64,
}

impl Backend {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections open through the proxy to this backend now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Connections forwarded to this backend so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
}

struct Shared {
    options: ProxyOptions,
    backends: Mutex<Vec<Arc<Backend>>>,
    next: AtomicUsize,
    open: Mutex<usize>,
    freed: Condvar,
    stop: AtomicBool,
    started: Instant,
    /// Times every connection was taken, and whether they are now: a
    /// client that comes then waits for one to close.
    full: AtomicU64,
    full_now: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data stays valid if a holder panicked: plain counters and lists.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running proxy; stops accepting when dropped (open connections end on
/// their own, at the latest at the idle timeout).
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<thread::JoinHandle<()>>,
}

impl Proxy {
    /// Binds `listen` and starts accepting, with no backend yet (a client
    /// that comes before the first backend is closed at once).
    pub fn bind(listen: SocketAddr, options: ProxyOptions) -> io::Result<Proxy> {
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            options: ProxyOptions {
                max_connections: options.max_connections.max(1),
                ..options
            },
            backends: Mutex::new(Vec::new()),
            next: AtomicUsize::new(0),
            open: Mutex::new(0),
            freed: Condvar::new(),
            stop: AtomicBool::new(false),
            started: Instant::now(),
            full: AtomicU64::new(0),
            full_now: AtomicBool::new(false),
        });
        let accept = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("lpa-proxy".into())
                .spawn(move || accept_loop(&listener, &shared))?
        };
        Ok(Proxy {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// How many times so far every connection was taken, so that the next
    /// client waited for one to close: then latency is the proxy's, and
    /// more backends do not lift it.
    pub fn times_full(&self) -> u64 {
        self.shared.full.load(Ordering::SeqCst)
    }

    /// Whether every connection is taken now.
    pub fn is_full(&self) -> bool {
        self.shared.full_now.load(Ordering::SeqCst)
    }

    pub fn max_connections(&self) -> usize {
        self.shared.options.max_connections
    }

    /// The address clients connect to (the bound port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds a ready backend; it gets new connections from now on.
    pub fn add(&self, addr: SocketAddr) -> Arc<Backend> {
        let backend = Arc::new(Backend {
            addr,
            active: AtomicUsize::new(0),
            connections: AtomicU64::new(0),
        });
        lock(&self.shared.backends).push(Arc::clone(&backend));
        backend
    }

    /// Takes a backend out of rotation: no new connection goes to it once
    /// this returns; its open connections go on.
    pub fn remove(&self, backend: &Arc<Backend>) {
        lock(&self.shared.backends).retain(|b| !Arc::ptr_eq(b, backend));
    }

    /// The backends in rotation, in order.
    pub fn backends(&self) -> Vec<SocketAddr> {
        lock(&self.shared.backends).iter().map(|b| b.addr).collect()
    }

    /// Slots taken now: the connections open through the proxy, and,
    /// while any is free, the one the accept loop holds for the next
    /// client (taken before it accepts, so a full proxy accepts no more).
    pub fn taken_slots(&self) -> usize {
        *lock(&self.shared.open)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.freed.notify_all();
        // Wakes the blocking accept.
        let wake = reachable(self.addr);
        let woken = TcpStream::connect_timeout(&wake, Duration::from_secs(1)).is_ok();
        if let Some(t) = self.accept.take() {
            // Unwoken, the accept loop may block for good (an address no
            // connection reaches): it is left to end with the process,
            // where joining it hung the caller.
            if woken || t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

/// Where this machine reaches a listener bound to `addr`: a listener on
/// every interface (0.0.0.0, ::) is reached on loopback.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => {
            SocketAddr::from(([127, 0, 0, 1], a.port()))
        }
        SocketAddr::V6(a) if a.ip().is_unspecified() => {
            SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], a.port()))
        }
        a => a,
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    loop {
        // Wait for a free slot before accepting: waiting clients queue in
        // the kernel's backlog instead of costing threads here.
        {
            let mut open = lock(&shared.open);
            if *open >= shared.options.max_connections {
                shared.full.fetch_add(1, Ordering::SeqCst);
                shared.full_now.store(true, Ordering::SeqCst);
            }
            while *open >= shared.options.max_connections && !shared.stop.load(Ordering::SeqCst) {
                open = shared
                    .freed
                    .wait_timeout(open, TICK)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
            shared.full_now.store(false, Ordering::SeqCst);
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            *open += 1;
        }
        let client = match listener.accept() {
            Ok((s, _)) => s,
            Err(_) => {
                release(shared);
                // EMFILE and friends: back off instead of spinning.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if shared.stop.load(Ordering::SeqCst) {
            release(shared);
            return;
        }
        let conn_shared = Arc::clone(shared);
        let spawned = thread::Builder::new().stack_size(STACK).spawn(move || {
            serve(&conn_shared, client);
            release(&conn_shared);
        });
        if spawned.is_err() {
            release(shared);
        }
    }
}

fn release(shared: &Shared) {
    *lock(&shared.open) -= 1;
    shared.freed.notify_one();
}

/// Counts a connection on its backend for as long as it is open.
struct Assigned(Arc<Backend>);

impl Drop for Assigned {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The next backend in rotation, counted as in use. The count is taken
/// under the list's lock, so once [`Proxy::remove`] returns no connection
/// can still be added to a removed backend.
fn pick(shared: &Shared) -> Option<Assigned> {
    let backends = lock(&shared.backends);
    if backends.is_empty() {
        return None;
    }
    let i = shared.next.fetch_add(1, Ordering::SeqCst) % backends.len();
    let b = Arc::clone(&backends[i]);
    b.active.fetch_add(1, Ordering::SeqCst);
    Some(Assigned(b))
}

/// Connects to the next backend that accepts, trying each at most once.
fn connect(shared: &Shared) -> Option<(Assigned, TcpStream)> {
    let tries = lock(&shared.backends).len();
    for _ in 0..tries {
        let assigned = pick(shared)?;
        if let Ok(s) = TcpStream::connect_timeout(&assigned.0.addr, shared.options.connect_timeout)
        {
            assigned.0.connections.fetch_add(1, Ordering::SeqCst);
            return Some((assigned, s));
        }
    }
    None
}

fn serve(shared: &Arc<Shared>, client: TcpStream) {
    let Some((_assigned, upstream)) = connect(shared) else {
        // No backend could take it: the client sees the connection closed.
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (Ok(client2), Ok(upstream2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let activity = Arc::new(AtomicU64::new(millis(shared)));
    let up = {
        let shared = Arc::clone(shared);
        let activity = Arc::clone(&activity);
        thread::Builder::new()
            .stack_size(STACK)
            .spawn(move || pump(&shared, client2, upstream2, &activity))
    };
    pump(shared, upstream, client, &activity);
    if let Ok(t) = up {
        let _ = t.join();
    }
}

fn millis(shared: &Shared) -> u64 {
    shared.started.elapsed().as_millis() as u64
}

/// Copies `from` to `to` until EOF (passed on as a half-close), an error
/// (both sockets shut, which also ends the other direction), the idle
/// timeout or the proxy's stop.
fn pump(shared: &Shared, mut from: TcpStream, mut to: TcpStream, activity: &AtomicU64) {
    let _ = from.set_read_timeout(Some(TICK));
    let idle = shared.options.idle_timeout.as_millis() as u64;
    let mut buf = [0u8; 16 * 1024];
    let close = |from: &TcpStream, to: &TcpStream| {
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    };
    loop {
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    close(&from, &to);
                    return;
                }
                activity.store(millis(shared), Ordering::Relaxed);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                let quiet = millis(shared).saturating_sub(activity.load(Ordering::Relaxed));
                if quiet >= idle || shared.stop.load(Ordering::SeqCst) {
                    close(&from, &to);
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                close(&from, &to);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    /// A backend that answers each line with its name and the line, and
    /// counts connections.
    fn echo(name: &'static str) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&count);
        thread::spawn(move || {
            for s in listener.incoming().take(200) {
                let Ok(s) = s else { return };
                c.fetch_add(1, Ordering::SeqCst);
                thread::spawn(move || {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut w = s.try_clone().unwrap();
                    for line in io::BufReader::new(s).lines().take(100) {
                        let Ok(line) = line else { return };
                        if writeln!(w, "{name} {line}").is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, count)
    }

    fn ask(stream: &mut io::BufReader<TcpStream>, line: &str) -> String {
        writeln!(stream.get_mut(), "{line}").unwrap();
        let mut out = String::new();
        stream.read_line(&mut out).unwrap();
        out.trim_end().to_string()
    }

    fn open(addr: SocketAddr) -> io::BufReader<TcpStream> {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        io::BufReader::new(s)
    }

    fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ok() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn each_new_connection_goes_to_the_next_backend_and_stays_there() {
        let (a, _) = echo("a");
        let (b, _) = echo("b");
        let proxy = Proxy::bind("127.0.0.1:0".parse().unwrap(), ProxyOptions::default()).unwrap();
        proxy.add(a);
        proxy.add(b);
        let mut names = Vec::new();
        for i in 0..4 {
            let mut conn = open(proxy.local_addr());
            let first = ask(&mut conn, &format!("x{i}"));
            // A kept-alive connection stays on its backend.
            let second = ask(&mut conn, "again");
            assert_eq!(first[..1], second[..1], "{first} / {second}");
            names.push(first);
        }
        assert_eq!(names, ["a x0", "b x1", "a x2", "b x3"]);
    }

    #[test]
    fn a_removed_backend_gets_no_new_connection_and_keeps_its_open_ones() {
        let (a, _) = echo("a");
        let (b, b_count) = echo("b");
        let proxy = Proxy::bind("127.0.0.1:0".parse().unwrap(), ProxyOptions::default()).unwrap();
        proxy.add(a);
        let backend_b = proxy.add(b);
        // Ask on the first connection before opening the second: backends
        // are picked on each connection's own thread, so two connections
        // opened back to back may be picked in either order.
        let mut on_a = open(proxy.local_addr());
        assert_eq!(ask(&mut on_a, "0"), "a 0");
        let mut on_b = open(proxy.local_addr());
        assert_eq!(ask(&mut on_b, "1"), "b 1");
        assert_eq!(backend_b.active(), 1);

        proxy.remove(&backend_b);
        assert_eq!(proxy.backends(), vec![a]);
        for i in 0..3 {
            let mut c = open(proxy.local_addr());
            assert_eq!(ask(&mut c, &i.to_string()), format!("a {i}"));
        }
        assert_eq!(
            b_count.load(Ordering::SeqCst),
            1,
            "no new connection to the drained backend"
        );
        // The open connection is drained, not cut.
        assert_eq!(ask(&mut on_b, "2"), "b 2");
        drop(on_b);
        wait_for("the drained backend to have no connection", || {
            backend_b.active() == 0
        });
        assert_eq!(backend_b.connections(), 1);
    }

    #[test]
    fn a_refusing_backend_is_skipped_and_no_backend_closes_the_client() {
        let proxy = Proxy::bind("127.0.0.1:0".parse().unwrap(), ProxyOptions::default()).unwrap();
        let mut lonely = open(proxy.local_addr());
        let mut buf = String::new();
        assert_eq!(
            lonely.read_line(&mut buf).unwrap_or(0),
            0,
            "closed without a backend"
        );

        // A port held bound without listening: connects are refused, and
        // no other process can take it while the test runs.
        let held = rustix::net::socket(
            rustix::net::AddressFamily::INET,
            rustix::net::SocketType::STREAM,
            None,
        )
        .unwrap();
        rustix::net::bind(
            &held,
            &std::net::SocketAddrV4::new([127, 0, 0, 1].into(), 0),
        )
        .unwrap();
        let dead = SocketAddr::try_from(rustix::net::getsockname(&held).unwrap()).unwrap();
        let (a, _) = echo("a");
        proxy.add(dead);
        proxy.add(a);
        for i in 0..3 {
            let mut c = open(proxy.local_addr());
            assert_eq!(ask(&mut c, &i.to_string()), format!("a {i}"));
        }
    }

    #[test]
    fn a_half_close_is_passed_on_and_connections_are_bounded() {
        // A backend that reads to EOF, then answers the byte count and closes.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for s in listener.incoming().take(20) {
                let Ok(mut s) = s else { return };
                thread::spawn(move || {
                    let mut data = Vec::new();
                    let _ = s.read_to_end(&mut data);
                    let _ = write!(s, "{}", data.len());
                });
            }
        });
        let options = ProxyOptions {
            max_connections: 2,
            ..ProxyOptions::default()
        };
        let proxy = Proxy::bind("127.0.0.1:0".parse().unwrap(), options).unwrap();
        proxy.add(addr);
        let mut held: Vec<TcpStream> = (0..2)
            .map(|_| TcpStream::connect(proxy.local_addr()).unwrap())
            .collect();
        wait_for("both slots taken", || proxy.taken_slots() == 2);
        wait_for("the proxy full", || proxy.times_full() == 1);
        // A third client waits in the backlog until a slot frees.
        let mut third = TcpStream::connect(proxy.local_addr()).unwrap();
        third
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        third.write_all(b"hello").unwrap();
        third.shutdown(Shutdown::Write).unwrap();
        thread::sleep(Duration::from_millis(100));
        assert_eq!(proxy.taken_slots(), 2);
        let mut first = held.remove(0);
        first.write_all(b"abc").unwrap();
        first.shutdown(Shutdown::Write).unwrap();
        let mut answer = String::new();
        first.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, "3");
        let mut answer = String::new();
        third.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, "5");
        wait_for("full again, the third in the freed slot", || {
            proxy.times_full() == 2
        });
    }
}
