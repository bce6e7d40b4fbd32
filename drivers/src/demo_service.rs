//! A small blocking HTTP/1.1 service for demos and tests, not part of the
//! autoscaler: the peer of the load tests, the benchmark and the local
//! demo's replicas, run as `lpa serve`.
//!
//! Thread per connection, keep-alive, bounded everywhere: at most
//! `max_connections` open connections (more are closed at once), a header
//! size cap, an idle timeout, and `/hang` held at most `hang_max`.
//!
//! | endpoint | answer |
//! |---|---|
//! | `/` , `/healthz` | `200 ok` at once |
//! | `/delay?ms=N` | `200` after N ms (N <= 60000) |
//! | `/fibonacci?n=N` | the seed guide's service: n=1 -> 0, n=2 -> 1, n=7 -> 8; `400` for a non-integer |
//! | `/status/CODE` | that status (100..=599) |
//! | `/hang` | no answer: holds the connection until the client goes or `hang_max` |
//!
//! Faults, for the hardening tests. Each takes any suffix (`/fault/reset/fibonacci?n=10`),
//! so a host of `http://addr/fault/reset` puts a policy's own endpoints behind the fault:
//!
//! | endpoint | what the client sees |
//! |---|---|
//! | `/fault/reset` | the head of a 200 promising 1 KiB, 100 bytes of it, then the connection closed (the client reads an early end of the body; std cannot set `SO_LINGER` 0, so it is a FIN, not an RST) |
//! | `/fault/slow` | the head of a 200 promising 64 bytes, then one byte every 100 ms (6.4 s in all, or until the client goes) |
//! | `/fault/huge` | a 200 of 50 MiB, streamed in 64 KiB writes until the client stops reading |
//! | `/fault/status/CODE` | that status, as `/status/CODE` |
//! | `/fault/hang` | as `/hang` |
//! | `/fault/close` | a whole 200 that says `connection: keep-alive`, then the connection closed: a server whose keep-alive timeout ends just as the client sends again |
//!
//! A TLS client hello on the (plain-HTTP) port gets a `400` at once.
//!
//! With `serial`, the server answers one request at a time (a single-core
//! replica) and every request costs `cost`, slept while holding the lock:
//! such a replica serves at most 1/cost requests per second however many
//! clients wait, so latency grows with load as a real saturated service's
//! does, without burning the machine's CPU.
//!
//! ```
//! use lpa_drivers::demo_service::{ServeConfig, Server};
//! let server = Server::bind(&ServeConfig::default()).unwrap();
//! let addr = server.local_addr();
//! let _handle = server.spawn();
//! use std::io::{Read, Write};
//! let mut s = std::net::TcpStream::connect(addr).unwrap();
//! s.write_all(b"GET /fibonacci?n=8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
//! let mut text = String::new();
//! s.read_to_string(&mut text).unwrap();
//! assert!(text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("\r\n\r\n13"));
//! ```

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How the server behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// One request at a time, as a single-threaded replica.
    pub serial: bool,
    /// Added to every request (slept; under `serial`, while holding the lock).
    pub cost: Duration,
    pub max_connections: usize,
    /// The longest `/hang` holds a connection.
    pub hang_max: Duration,
    /// An idle keep-alive connection is closed after this.
    pub idle_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            serial: false,
            cost: Duration::ZERO,
            max_connections: 2048,
            hang_max: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// Request headers larger than this get a 431 and the connection closed.
const MAX_HEAD: usize = 16 * 1024;
/// Request bodies are read and discarded up to this; larger gets a 413.
const MAX_REQUEST_BODY: u64 = 1 << 20;
const MAX_DELAY_MS: u64 = 60_000;

struct State {
    config: ServeConfig,
    open: AtomicUsize,
    serial: Mutex<()>,
    stop: AtomicBool,
}

/// A bound listener, not yet serving.
pub struct Server {
    listener: TcpListener,
    state: Arc<State>,
}

/// A server running on its own thread; stops when dropped.
pub struct ServerHandle {
    addr: SocketAddr,
    state: Arc<State>,
    thread: Option<thread::JoinHandle<()>>,
}

impl ServerHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Server {
    pub fn bind(config: &ServeConfig) -> io::Result<Server> {
        let listener = TcpListener::bind(config.listen)?;
        Ok(Server {
            listener,
            state: Arc::new(State {
                config: config.clone(),
                open: AtomicUsize::new(0),
                serial: Mutex::new(()),
                stop: AtomicBool::new(false),
            }),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves on a background thread.
    pub fn spawn(self) -> ServerHandle {
        let addr = self.local_addr();
        let state = Arc::clone(&self.state);
        let thread = thread::Builder::new()
            .name("lpa-serve".into())
            .spawn(move || self.run())
            .ok();
        ServerHandle {
            addr,
            state,
            thread,
        }
    }

    /// Serves until stopped (forever, from the command line).
    pub fn run(self) {
        for conn in self.listener.incoming() {
            if self.state.stop.load(Ordering::SeqCst) {
                return;
            }
            let Ok(stream) = conn else { continue };
            let state = Arc::clone(&self.state);
            if state.open.fetch_add(1, Ordering::SeqCst) >= state.config.max_connections {
                state.open.fetch_sub(1, Ordering::SeqCst);
                drop(stream);
                continue;
            }
            let spawned = thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    let _ = serve_connection(&state, stream);
                    state.open.fetch_sub(1, Ordering::SeqCst);
                });
            if spawned.is_err() {
                self.state.open.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

struct Request {
    method: String,
    target: String,
    keep_alive: bool,
    content_length: u64,
}

/// Reads one request head; `None` when the client closed the connection.
fn read_head(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Result<Request, u16>>> {
    // A TLS handshake (a record of type 22) on this plain-HTTP port: answer
    // 400 at once, as common HTTP servers do, rather than wait for a line
    // end that never comes. The hello is consumed first so the close is a
    // FIN the client can read the 400 before, not an RST.
    let hello = reader.fill_buf()?;
    if hello.first() == Some(&0x16) {
        let n = hello.len();
        reader.consume(n);
        return Ok(Some(Err(400)));
    }
    let mut head = Vec::with_capacity(512);
    loop {
        let start = head.len();
        let n = reader
            .by_ref()
            .take((MAX_HEAD + 1 - head.len()) as u64)
            .read_until(b'\n', &mut head)?;
        if n == 0 {
            return Ok(if head.is_empty() {
                None
            } else {
                Some(Err(400))
            });
        }
        if head.len() > MAX_HEAD {
            return Ok(Some(Err(431)));
        }
        let line = &head[start..];
        if line == b"\r\n" || line == b"\n" {
            if start == 0 {
                // Tolerate a stray blank line between requests (RFC 9112 2.2).
                head.clear();
                continue;
            }
            break;
        }
    }
    let text = match std::str::from_utf8(&head) {
        Ok(t) => t,
        Err(_) => return Ok(Some(Err(400))),
    };
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Ok(Some(Err(400)));
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Ok(Some(Err(400)));
    }
    let mut keep_alive = version == "HTTP/1.1";
    let mut content_length = None::<u64>;
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Ok(Some(Err(400)));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            // Two lengths that differ leave the body's end unknown (RFC 9112, 6.3).
            // Digits only: Rust's parse takes a sign, HTTP does not.
            match value
                .parse()
                .ok()
                .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
            {
                Some(n) if content_length.is_none_or(|m| m == n) => content_length = Some(n),
                _ => return Ok(Some(Err(400))),
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked request bodies are not needed by any caller here.
            return Ok(Some(Err(501)));
        }
    }
    Ok(Some(Ok(Request {
        method: method.to_string(),
        target: target.to_string(),
        keep_alive,
        content_length: content_length.unwrap_or(0),
    })))
}

fn serve_connection(state: &State, stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(state.config.idle_timeout))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(4096, stream);
    loop {
        if state.stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let req = match read_head(&mut reader)? {
            None => return Ok(()),
            Some(Err(code)) => {
                respond(&mut writer, code, "bad request\n", false)?;
                return Ok(());
            }
            Some(Ok(r)) => r,
        };
        if req.content_length > MAX_REQUEST_BODY {
            respond(&mut writer, 413, "request body too large\n", false)?;
            return Ok(());
        }
        io::copy(
            &mut reader.by_ref().take(req.content_length),
            &mut io::sink(),
        )?;
        let (path, query) = req
            .target
            .split_once('?')
            .unwrap_or((req.target.as_str(), ""));
        if path == "/hang" || fault_of(path) == Some("hang") {
            hang(state, &mut reader);
            return Ok(());
        }
        if fault_of(path) == Some("close") {
            return respond(&mut writer, 200, "ok\n", true);
        }
        if let Some(kind @ ("reset" | "slow" | "huge")) = fault_of(path) {
            return fault(state, &mut writer, kind);
        }
        let path = match (fault_of(path), path.strip_prefix("/fault")) {
            (Some("status"), Some(rest)) => rest.split('/').take(3).collect::<Vec<_>>().join("/"),
            _ => path.to_string(),
        };
        let path = path.as_str();
        let answer = {
            let _turn = state
                .config
                .serial
                .then(|| state.serial.lock().unwrap_or_else(|e| e.into_inner()));
            if !state.config.cost.is_zero() {
                thread::sleep(state.config.cost);
            }
            answer(&req.method, path, query)
        };
        let (code, body) = answer;
        // A HEAD's answer is a GET's head alone; 204 and 304 have no body.
        // Body bytes after either would be read as the next answer's.
        if req.method == "HEAD" || code == 204 || code == 304 {
            respond_head(
                &mut writer,
                code,
                (code != 204).then_some(body.len()),
                req.keep_alive,
            )?;
        } else {
            respond(&mut writer, code, &body, req.keep_alive)?;
        }
        if !req.keep_alive {
            return Ok(());
        }
    }
}

/// Whether the service has an endpoint at `path` (without its query):
/// it answers any other with 404.
pub fn serves(path: &str) -> bool {
    matches!(path, "/" | "/healthz" | "/delay" | "/fibonacci" | "/hang")
        || path.starts_with("/status/")
        || matches!(
            fault_of(path),
            Some("hang" | "close" | "reset" | "slow" | "huge" | "status")
        )
}

/// The fault a `/fault/KIND[/...]` path asks for.
fn fault_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/fault/")?;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// Length the `/fault/huge` answer announces and streams.
const HUGE_BODY: usize = 50 << 20;

/// Misbehaves as `kind` says, then closes the connection.
fn fault(state: &State, w: &mut TcpStream, kind: &str) -> io::Result<()> {
    let head = |len: usize| {
        format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n")
    };
    // A client that stops reading must not hold this thread forever.
    w.set_write_timeout(Some(state.config.idle_timeout))?;
    match kind {
        "reset" => {
            w.write_all(head(1024).as_bytes())?;
            w.write_all(&[b'x'; 100])?;
            w.flush()?;
            // Both directions, so the client reads the end at once rather
            // than after its idle timeout.
            let _ = w.shutdown(std::net::Shutdown::Both);
        }
        "slow" => {
            w.write_all(head(64).as_bytes())?;
            for _ in 0..64 {
                if state.stop.load(Ordering::Relaxed) {
                    break;
                }
                thread::sleep(Duration::from_millis(100));
                // A gone client makes this fail, which ends the trickle.
                w.write_all(b"x")?;
            }
        }
        _ => {
            w.write_all(head(HUGE_BODY).as_bytes())?;
            let chunk = vec![b'x'; 64 * 1024];
            for _ in 0..HUGE_BODY / chunk.len() {
                if state.stop.load(Ordering::Relaxed) {
                    break;
                }
                w.write_all(&chunk)?;
            }
        }
    }
    Ok(())
}

/// Holds the connection without answering until the client closes it or
/// `hang_max` passes.
fn hang(state: &State, reader: &mut BufReader<TcpStream>) {
    let until = Instant::now() + state.config.hang_max;
    let _ = reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = [0u8; 1024];
    while Instant::now() < until && !state.stop.load(Ordering::Relaxed) {
        match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

fn answer(method: &str, path: &str, query: &str) -> (u16, String) {
    if !matches!(
        method,
        "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS"
    ) {
        return (405, format!("method {method} not allowed\n"));
    }
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
    };
    match path {
        "/" | "/healthz" => (200, "ok\n".into()),
        "/delay" => match param("ms").map(|v| v.parse::<u64>()) {
            Some(Ok(ms)) if ms <= MAX_DELAY_MS => {
                thread::sleep(Duration::from_millis(ms));
                (200, "ok\n".into())
            }
            other => (
                400,
                format!(
                    "Value '{}' of ms is not a whole number of milliseconds up to {MAX_DELAY_MS}\n",
                    other.and(param("ms")).unwrap_or("")
                ),
            ),
        },
        "/fibonacci" => {
            let raw = param("n").unwrap_or("");
            match raw.parse::<i64>() {
                Ok(n) => match fibonacci(n) {
                    Some(v) => (200, v.to_string()),
                    None => (
                        400,
                        format!("Value '{raw}' is out of range (expected 1 to 186)\n"),
                    ),
                },
                Err(_) => (400, format!("Value '{raw}' is not an integer\n")),
            }
        }
        _ => {
            if let Some(code) = path.strip_prefix("/status/") {
                return match code.parse::<u16>() {
                    Ok(c) if (200..=599).contains(&c) => (c, format!("status {c}\n")),
                    _ => (
                        400,
                        format!("Value '{code}' is not a status from 200 to 599\n"),
                    ),
                };
            }
            (404, format!("no endpoint {path}\n"))
        }
    }
}

/// The seed guide's code: the first Fibonacci number (n = 1) is 0, the
/// second 1, so n = 7 gives 8. (The guide's prose says 13, which its own
/// code does not return; the code is what the original service ran.)
/// Iterative, exact up to n = 186 (u128).
pub fn fibonacci(n: i64) -> Option<u128> {
    if !(1..=186).contains(&n) {
        return None;
    }
    let (mut a, mut b) = (0u128, 1u128);
    for _ in 1..n {
        (a, b) = (b, a + b);
    }
    Some(a)
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn respond(w: &mut TcpStream, code: u16, body: &str, keep_alive: bool) -> io::Result<()> {
    let head = head(code, Some(body.len()), keep_alive);
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body.as_bytes());
    w.write_all(&out)
}

/// An answer without its body: `length` is the body's a GET would have
/// (none for a 204, which may not say one).
fn respond_head(
    w: &mut TcpStream,
    code: u16,
    length: Option<usize>,
    keep_alive: bool,
) -> io::Result<()> {
    w.write_all(head(code, length, keep_alive).as_bytes())
}

fn head(code: u16, length: Option<usize>, keep_alive: bool) -> String {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let length = length.map_or(String::new(), |n| format!("content-length: {n}\r\n"));
    format!(
        "HTTP/1.1 {code} {}\r\ncontent-type: text/plain\r\n{length}connection: {connection}\r\n\r\n",
        reason(code)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fibonacci_follows_the_seed_guide() {
        assert_eq!(fibonacci(1), Some(0));
        assert_eq!(fibonacci(2), Some(1));
        assert_eq!(fibonacci(7), Some(8));
        assert_eq!(fibonacci(10), Some(34));
        assert_eq!(fibonacci(0), None);
        assert_eq!(fibonacci(187), None);
        assert!(fibonacci(186).is_some());
    }

    #[test]
    fn answers() {
        assert_eq!(answer("GET", "/fibonacci", "n=7"), (200, "8".into()));
        assert_eq!(
            answer("GET", "/fibonacci", "n=abc"),
            (400, "Value 'abc' is not an integer\n".into())
        );
        assert_eq!(answer("GET", "/status/503", "").0, 503);
        assert_eq!(answer("GET", "/status/99", "").0, 400);
        assert_eq!(answer("GET", "/delay", "ms=x").0, 400);
        assert_eq!(answer("GET", "/delay", "ms=1"), (200, "ok\n".into()));
        assert_eq!(answer("GET", "/nope", "").0, 404);
        // serves() says which paths answer() knows.
        for path in [
            "/",
            "/healthz",
            "/delay",
            "/fibonacci",
            "/status/503",
            "/nope",
            "/fibonaci",
            "/status",
            "/api/v1",
        ] {
            assert_eq!(
                serves(path),
                answer("GET", path, "n=3&ms=0").0 != 404,
                "{path}"
            );
        }
    }

    fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(raw).unwrap();
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        text
    }

    #[test]
    fn keep_alive_serves_several_requests_on_one_connection() {
        let server = Server::bind(&ServeConfig::default()).unwrap();
        let handle = server.spawn();
        let text = exchange(
            handle.addr(),
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nPOST /status/503 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(text.matches("HTTP/1.1 ").count(), 3, "{text}");
        assert!(text.contains("HTTP/1.1 503 Service Unavailable"));
        let bad = exchange(handle.addr(), b"NONSENSE\r\n\r\n");
        assert!(bad.starts_with("HTTP/1.1 400 "), "{bad}");
    }

    /// A HEAD, a 204 and a 304 carry no body: bytes after their head were
    /// read as the start of the next answer on a kept-alive connection.
    #[test]
    fn answers_without_a_body_keep_the_connection_in_step() {
        let handle = Server::bind(&ServeConfig::default()).unwrap().spawn();
        let text = exchange(
            handle.addr(),
            b"HEAD /fibonacci?n=10 HTTP/1.1\r\n\r\nGET /status/204 HTTP/1.1\r\n\r\nGET /status/304 HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        let answers: Vec<&str> = text.split("HTTP/1.1 ").skip(1).collect();
        assert_eq!(answers.len(), 4, "{text}");
        assert!(answers[0].starts_with("200 OK") && answers[0].contains("content-length: 2\r\n"));
        assert!(answers[0].ends_with("\r\n\r\n"), "HEAD with a body: {text}");
        assert_eq!(
            answers[1],
            "204 No Content\r\ncontent-type: text/plain\r\nconnection: keep-alive\r\n\r\n"
        );
        assert!(
            answers[2].starts_with("304 Not Modified") && answers[2].ends_with("\r\n\r\n"),
            "{text}"
        );
        assert!(answers[3].ends_with("\r\n\r\nok\n"), "{text}");
        // Two lengths that differ: where the body ends is unknown.
        let two = exchange(
            handle.addr(),
            b"POST /healthz HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde",
        );
        assert!(two.starts_with("HTTP/1.1 400 "), "{two}");
        let signed = exchange(
            handle.addr(),
            b"POST /healthz HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc",
        );
        assert!(signed.starts_with("HTTP/1.1 400 "), "{signed}");
        let same = exchange(
            handle.addr(),
            b"POST /healthz HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
        );
        assert!(same.starts_with("HTTP/1.1 200 "), "{same}");
    }

    #[test]
    fn hang_ends_when_the_client_goes_or_at_hang_max() {
        let config = ServeConfig {
            hang_max: Duration::from_millis(300),
            ..ServeConfig::default()
        };
        let handle = Server::bind(&config).unwrap().spawn();
        let started = Instant::now();
        let text = exchange(handle.addr(), b"GET /hang HTTP/1.1\r\n\r\n");
        assert_eq!(text, "");
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[test]
    fn faults_misbehave_as_documented() {
        let handle = Server::bind(&ServeConfig::default()).unwrap().spawn();
        let reset = exchange(handle.addr(), b"GET /fault/reset/x HTTP/1.1\r\n\r\n");
        assert!(reset.starts_with("HTTP/1.1 200 OK\r\n") && reset.contains("content-length: 1024"));
        assert!(reset.ends_with(&"x".repeat(100)) && !reset.ends_with(&"x".repeat(101)));
        let storm = exchange(
            handle.addr(),
            b"GET /fault/status/503/fibonacci?n=10 HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        assert!(storm.starts_with("HTTP/1.1 503 "), "{storm}");
        let mut s = TcpStream::connect(handle.addr()).unwrap();
        s.write_all(b"GET /fault/huge HTTP/1.1\r\n\r\n").unwrap();
        let mut first = vec![0u8; 1 << 20];
        s.read_exact(&mut first).unwrap();
        assert!(String::from_utf8_lossy(&first).contains(&format!("content-length: {HUGE_BODY}")));
        drop(s);
        let mut s = TcpStream::connect(handle.addr()).unwrap();
        s.write_all(b"GET /fault/slow HTTP/1.1\r\n\r\n").unwrap();
        let started = Instant::now();
        let mut head = vec![0u8; 512];
        let n = s.read(&mut head).unwrap();
        assert!(String::from_utf8_lossy(&head[..n]).contains("content-length: 64"));
        let mut one = [0u8; 1];
        s.read_exact(&mut one).unwrap();
        assert_eq!(&one, b"x");
        assert!(started.elapsed() >= Duration::from_millis(90));
    }
}
