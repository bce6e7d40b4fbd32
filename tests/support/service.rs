//! A tiny HTTP service to load-test, in the test process on 127.0.0.1:
//! answers every request with 200 after a delay the test can change while
//! it runs (slow: a breach; fast: calm). Keep-alive, bounded idle time.
//! Keeps the head and the body of every request it was sent.
//!
//! Redirects, answered at once (the delay is the page's): `/redirect/CODE/PATH`
//! answers CODE with `Location: /PATH`, so `/redirect/302/page` leads to
//! `/page`, and `/redirect/CODE/abs/URL` with `Location: URL`; `/loop`
//! answers 302 to itself; `/scatter` answers 302 to a Location unlike any
//! other (numbered, long, of a scheme no client follows).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

pub struct Service {
    port: u16,
    delay_ms: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    /// Head and body of every request, in arrival order.
    requests: Arc<Mutex<Vec<(String, String)>>>,
    accept: Option<thread::JoinHandle<()>>,
}

impl Service {
    pub fn start(delay_ms: u64) -> Service {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind service");
        let port = listener.local_addr().unwrap().port();
        let delay = Arc::new(AtomicU64::new(delay_ms));
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (d2, s2, r2) = (delay.clone(), stop.clone(), requests.clone());
        let accept = thread::spawn(move || {
            for conn in listener.incoming() {
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (d3, s3, r3) = (d2.clone(), s2.clone(), r2.clone());
                thread::spawn(move || serve(conn, &d3, &s3, &r3));
            }
        });
        Service {
            port,
            delay_ms: delay,
            stop,
            requests,
            accept: Some(accept),
        }
    }

    /// Every request so far: its head (as [`Service::heads`]) and its body.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.requests.lock().unwrap().clone()
    }

    /// The request line and header lines of every request so far, each
    /// head one string with its lines ending in CRLF.
    pub fn heads(&self) -> Vec<String> {
        self.requests().into_iter().map(|(head, _)| head).collect()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set_delay_ms(&self, ms: u64) {
        self.delay_ms.store(ms, Ordering::SeqCst);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn serve(
    conn: TcpStream,
    delay: &AtomicU64,
    stop: &AtomicBool,
    requests: &Mutex<Vec<(String, String)>>,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut writer) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    while !stop.load(Ordering::SeqCst) {
        // Request line and headers, then a body of Content-Length bytes.
        let mut head = String::new();
        match reader.read_line(&mut head) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut length = 0u64;
        loop {
            let mut h = String::new();
            match reader.read_line(&mut h) {
                Ok(0) | Err(_) => return,
                Ok(_) if h.trim_end().is_empty() => break,
                Ok(_) => {}
            }
            if let Some((name, value)) = h.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            head.push_str(&h);
        }
        let mut body = Vec::new();
        if (&mut reader).take(length).read_to_end(&mut body).is_err() {
            return;
        }
        let path = head.split(' ').nth(1).unwrap_or_default();
        let redirect = match path.strip_prefix("/redirect/") {
            Some(rest) => rest.split_once('/').map(|(code, to)| {
                let to = match to.strip_prefix("abs/") {
                    Some(url) => url.to_string(),
                    None => format!("/{to}"),
                };
                (code.to_string(), to)
            }),
            None if path == "/loop" => Some(("302".to_string(), "/loop".to_string())),
            None if path == "/scatter" => {
                let n = requests.lock().unwrap().len();
                let pad = "x".repeat(300);
                Some(("302".to_string(), format!("app:/cb?n={n}&pad={pad}")))
            }
            None => None,
        };
        let head_only = head.starts_with("HEAD ");
        requests
            .lock()
            .unwrap()
            .push((head, String::from_utf8_lossy(&body).into_owned()));
        let body = "ok\n";
        // One write: a head and a body written apart wait on the client's
        // delayed ACK (Nagle), 40 ms per request.
        let answer = match redirect {
            Some((code, to)) => format!(
                "HTTP/1.1 {code} Redirect\r\nLocation: {to}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            ),
            None => {
                thread::sleep(Duration::from_millis(delay.load(Ordering::SeqCst)));
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
            }
        };
        // A HEAD's answer has no body (RFC 9110, 9.3.2).
        let answer = if head_only { answer } else { answer + body };
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}
