//! One user's HTTP: its ureq Agent, prepared requests, and how an outcome
//! is classified into a failure kind. The connections under the agent are
//! [`transport`]'s.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lpa_core::config::RequestSpec;
use ureq::http::{self, HeaderName, HeaderValue, Method, Uri};
use ureq::{Agent, Timeout};

use super::transport::{self, Pinned};
use super::{LoadPlan, MAX_BODY};

/// A request ready to send many times: parsed once, cloned per send.
#[derive(Debug, Clone)]
pub(super) struct Prepared {
    method: Method,
    uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Vec<u8>,
    /// Follow redirects as python-requests does: [`follow`].
    follow_redirects: bool,
}

/// How one request ended.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Sent {
    Ok,
    /// The server answered (or the exchange failed after connecting).
    Failed(String),
    /// The request never reached the server.
    NotConnected(String),
}

/// A request of the plan that HTTP cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("invalid method {0:?}")]
    Method(String),
    #[error("invalid URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("invalid header name {0:?}")]
    HeaderName(String),
    /// The value as shown: a credential's is redacted.
    #[error("invalid value of header {name}: {shown:?}")]
    HeaderValue { name: String, shown: String },
}

pub(super) fn prepare(plan: &LoadPlan, r: &RequestSpec) -> Result<Prepared, RequestError> {
    // As Locust's HttpUser sends it (`/café` as `/caf%C3%A9`, `%zz` as
    // `%25zz`), where its raw bytes went on the request line, which RFC
    // 9112 holds to ASCII, and a bad escape a strict server refuses.
    let url = as_requests_sends(&plan.url(r));
    let method = Method::from_bytes(r.method.as_str().as_bytes())
        .map_err(|_| RequestError::Method(r.method.to_string()))?;
    let uri: Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| RequestError::Url {
            reason: e.to_string(),
            url,
        })?;
    let mut headers = Vec::with_capacity(r.headers.len());
    for (k, v) in &r.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| RequestError::HeaderName(k.clone()))?;
        let value = HeaderValue::from_str(v).map_err(|_| RequestError::HeaderValue {
            name: k.clone(),
            shown: lpa_core::config::redact_header(k, v).to_string(),
        })?;
        headers.push((name, value));
    }
    Ok(Prepared {
        method,
        uri,
        headers,
        body: r.body.clone().unwrap_or_default().into_bytes(),
        follow_redirects: r.follow_redirects,
    })
}

/// A user's agent: one keep-alive connection. Connecting is bounded by the
/// plan's timeout; reads and writes by it only when it is shorter than run
/// time + grace, set once per connection, since at run time + grace the
/// engine shuts the agent down ([`Client::stopper`]) and a socket timeout
/// would cost a timer on every read. A user holds only what the plan
/// needs: no proxies (the service is measured directly, as Locust's
/// FastHttpUser does), an output buffer for the longest request head line
/// (ureq fails on a line that does not fit), an input buffer for a whole
/// response head ([`INPUT_BUFFER`]). The measurements behind this
/// are in docs/hardening.md. Connections and addresses: [`transport`].
pub(super) fn agent(plan: &LoadPlan, pinned: &Pinned) -> Client {
    let t = Some(plan.timeout);
    let per_io = (plan.timeout < plan.run_time + plan.grace).then_some(plan.timeout);
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(bundle) = &plan.ca_bundle {
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(
            &bundle
                .certificates
                .iter()
                .map(|der| ureq::tls::Certificate::from_der(der).to_owned())
                .collect::<Vec<_>>(),
        ));
    }
    let config = Agent::config_builder()
        .tls_config(tls.build())
        .http_status_as_error(false)
        .timeout_connect(t)
        .timeout_per_read(per_io)
        .timeout_per_write(per_io)
        .proxy(None)
        .max_redirects(0)
        .max_idle_connections(1)
        .max_idle_connections_per_host(1)
        .input_buffer_size(INPUT_BUFFER)
        // One byte under the buffer: a head that fills it is ureq's
        // LargeResponseHeader, which names it, where a full buffer that
        // could take no more read as the connection closed.
        .max_response_header_size(INPUT_BUFFER - 1)
        .output_buffer_size(output_buffer_size(plan))
        .user_agent("lpa")
        .build();
    let stale = Arc::new(AtomicBool::new(false));
    // A redirect may lead from an http host to https.
    let tls = plan.host.is_https() || follows_redirects(plan);
    let agent = transport::agent(config, tls, pinned, Arc::clone(&stale));
    Client { agent, stale }
}

/// A user's agent, and what its connections say about the last request.
pub(super) struct Client {
    agent: Agent,
    /// Set when the last request failed on a kept-alive connection the
    /// server had closed: see [`transport::WatchStale`].
    stale: Arc<AtomicBool>,
}

impl Client {
    /// A handle that ends this user's I/O from another thread: reads and
    /// writes in flight fail at once, and so does every later request.
    pub(super) fn stopper(&self) -> Agent {
        self.agent.clone()
    }
}

/// The largest response head a user reads: Node's and HAProxy's limit, and
/// twice nginx's default buffer. A head of a 9 KiB Content-Security-Policy
/// failed at 8 KiB, counted as the service's error, where curl and
/// Python's http.client (Locust) read it. Each user holds this much: at
/// 1 000 users a KiB here is a MB of RSS.
const INPUT_BUFFER: usize = 16 * 1024;
const MIN_OUTPUT_BUFFER: usize = 2 * 1024;

fn follows_redirects(plan: &LoadPlan) -> bool {
    plan.requests.iter().any(|r| r.follow_redirects)
}

/// The longest head line a request of the plan can have, with room for
/// the lines ureq adds (Host, User-Agent, Content-Length, ...), rounded up
/// to a KiB. A plan that follows redirects gets at least the input
/// buffer: a Location fits in the response head that carried it, so the
/// request line made of it fits too.
fn output_buffer_size(plan: &LoadPlan) -> usize {
    let longest = plan
        .requests
        .iter()
        .flat_map(|r| {
            // "METHOD /path HTTP/1.1\r\n" (the URL bounds the path) and
            // "Name: value\r\n".
            let line = r.method.as_str().len() + plan.url(r).len() + 16;
            let headers = r.headers.iter().map(|(k, v)| k.len() + v.len() + 4);
            std::iter::once(line).chain(headers)
        })
        .max()
        .unwrap_or(0);
    let min = if follows_redirects(plan) {
        INPUT_BUFFER
    } else {
        MIN_OUTPUT_BUFFER
    };
    (longest + 512).next_multiple_of(1024).max(min)
}

/// Sends one request and reads the whole body; a status at or above
/// `fail_status` is a failure `"HTTP 503"`.
///
/// Building, exchanging and draining are three functions kept apart
/// (`inline(never)`): a user thread's stack is as deep as its deepest
/// frame, and one frame for all three is deep (docs/hardening.md).
///
/// An idempotent request that failed only because its kept-alive
/// connection was stale is sent once more on a new connection (see
/// [`transport::WatchStale`]); the caller's clock runs through both attempts.
///
/// A request that follows redirects and is answered by one goes on in
/// [`follow`]; the caller's clock runs through the whole chain, as
/// Locust's does.
pub(super) fn send(client: &Client, p: &Prepared, fail_status: u16) -> Sent {
    let response = match exchange_retrying(client, p) {
        Ok(r) => r,
        Err(sent) => return sent,
    };
    if p.follow_redirects && location(&response).is_some() {
        return follow(client, p, response, fail_status);
    }
    finish(response, fail_status)
}

/// One request, sent once more if only its kept-alive connection was
/// stale.
fn exchange_retrying(client: &Client, p: &Prepared) -> Result<http::Response<ureq::Body>, Sent> {
    client.stale.store(false, Ordering::Relaxed);
    match attempt(&client.agent, p) {
        Ok(r) => Ok(r),
        Err(_) if client.stale.swap(false, Ordering::Relaxed) && p.method.is_idempotent() => {
            attempt(&client.agent, p).map_err(|e| classify(&e))
        }
        Err(e) => Err(classify(&e)),
    }
}

/// The body read, and the status judged.
fn finish(response: http::Response<ureq::Body>, fail_status: u16) -> Sent {
    let status = response.status().as_u16();
    // ureq passes over 100 and 103 to the answer after them; a 101 is the
    // end of HTTP on the connection, valid only after an Upgrade, which
    // lpa never sends. Read as an answer, it timed a service that never
    // answered as a fast success.
    if status == 101 {
        return Sent::Failed(
            "HTTP 101 Switching Protocols, to a request that asked for none".into(),
        );
    }
    if let Err(sent) = drain(response) {
        return sent;
    }
    if status >= fail_status {
        Sent::Failed(format!("HTTP {status}"))
    } else {
        Sent::Ok
    }
}

/// Where a response redirects to: requests follows a 301, 302, 303, 307
/// or 308 that has a Location (`Response.is_redirect`); any other answer,
/// a 3xx without Location too, is the final one.
fn location(response: &http::Response<ureq::Body>) -> Option<&HeaderValue> {
    matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308)
        .then(|| response.headers().get(http::header::LOCATION))
        .flatten()
}

/// The redirects after the first answer, as python-requests'
/// `Session.resolve_redirects` follows them: each redirect's body read,
/// the next request built by [`next_hop`], at most
/// [`RequestSpec::MAX_REDIRECTS`] (the next one is a failure, as requests'
/// `TooManyRedirects`). The final answer is judged as any other.
#[cold]
#[inline(never)]
fn follow(
    client: &Client,
    first: &Prepared,
    mut response: http::Response<ureq::Body>,
    fail_status: u16,
) -> Sent {
    let mut hop: Option<Prepared> = None;
    let mut followed = 0;
    loop {
        let Some(to) = location(&response).cloned() else {
            return finish(response, fail_status);
        };
        let status = response.status().as_u16();
        if let Err(sent) = drain(response) {
            return sent;
        }
        if followed == RequestSpec::MAX_REDIRECTS {
            return Sent::Failed(format!(
                "too many redirects (more than {})",
                RequestSpec::MAX_REDIRECTS
            ));
        }
        let next = match next_hop(hop.as_ref().unwrap_or(first), status, to.as_bytes()) {
            Ok(next) => next,
            Err(why) => return Sent::Failed(why),
        };
        followed += 1;
        response = match exchange_retrying(client, &next) {
            Ok(r) => r,
            // The service answered: a redirect to a place that does not
            // (refused, unknown, a certificate not trusted) is the
            // service's failure, named as the hop's, not "no request
            // reached" the service.
            Err(Sent::NotConnected(e) | Sent::Failed(e)) => {
                return Sent::Failed(format!("redirect to {}: {e}", host_port(&next.uri)));
            }
            // classify never answers Ok.
            Err(Sent::Ok) => return Sent::Ok,
        };
        hop = Some(next);
    }
}

/// `host:port` of a URL, the port its scheme's when none is written, and
/// no credentials (a Location's `user:password@` went into the failure's
/// words, and so into the metric JSON and CPA's log).
fn host_port(uri: &Uri) -> String {
    let host = uri.host().unwrap_or("");
    let default = if uri.scheme_str() == Some("https") {
        443
    } else {
        80
    };
    format!("{host}:{}", uri.port_u16().unwrap_or(default))
}

/// The request a redirect asks for, built as requests'
/// `SessionRedirectMixin` builds it: the Location resolved against the
/// URL it answered (`urljoin`), then prepared as the first request is
/// ([`as_requests_sends`]); a 302 or 303 turns
/// any method but HEAD into GET and a 301 turns POST into GET; every
/// redirect but 307 and 308 drops the body and its Content-Type; Cookie
/// is dropped (lpa keeps no cookie jar) and Authorization too when the
/// host, scheme or port changes (`should_strip_auth`).
fn next_hop(prev: &Prepared, status: u16, location: &[u8]) -> Result<Prepared, String> {
    let shown = String::from_utf8_lossy(location);
    let url = as_requests_sends(&join(&prev.uri, &shown));
    let uri: Uri = url
        .parse()
        .map_err(|_| format!("redirect to an invalid URL {shown:?}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(format!("redirect to a URL that is not http(s): {shown:?}"));
    }
    let method = match (status, &prev.method) {
        (302 | 303, m) if *m != Method::HEAD => Method::GET,
        (301, &Method::POST) => Method::GET,
        (_, m) => m.clone(),
    };
    let keep_body = matches!(status, 307 | 308);
    let strip_auth = strips_auth(&prev.uri, &uri);
    let headers = prev
        .headers
        .iter()
        .filter(|(k, _)| {
            let body_header = *k == http::header::CONTENT_TYPE
                || *k == http::header::CONTENT_LENGTH
                || *k == http::header::TRANSFER_ENCODING;
            !(*k == http::header::COOKIE
                || (*k == http::header::AUTHORIZATION && strip_auth)
                || (body_header && !keep_body))
        })
        .cloned()
        .collect();
    Ok(Prepared {
        method,
        uri,
        headers,
        body: if keep_body {
            prev.body.clone()
        } else {
            Vec::new()
        },
        follow_redirects: true,
    })
}

/// requests' `should_strip_auth`: Authorization goes on to the same host
/// with the same scheme and port (a default port written or not), or from
/// http on 80 to https on 443.
fn strips_auth(old: &Uri, new: &Uri) -> bool {
    let host = |u: &Uri| u.host().map(str::to_ascii_lowercase);
    if host(old) != host(new) {
        return true;
    }
    let (os, ns) = (old.scheme_str(), new.scheme_str());
    let (op, np) = (old.port_u16(), new.port_u16());
    if os == Some("http")
        && matches!(op, None | Some(80))
        && ns == Some("https")
        && matches!(np, None | Some(443))
    {
        return false;
    }
    let default = if os == Some("https") { 443 } else { 80 };
    let is_default = |p: Option<u16>| p.is_none_or(|p| p == default);
    !(os == ns && (op == np || (is_default(op) && is_default(np))))
}

/// A URL as python-requests prepares it (`PreparedRequest.prepare_url`):
/// urllib3's `parse_url` normalises the path (dot segments removed) and
/// the path and query (`_encode_invalid_chars`), then `requote_uri`
/// unquotes the unreserved escapes and quotes the rest; the fragment is
/// not sent. Locust's HttpUser sends what this gives.
fn as_requests_sends(url: &str) -> String {
    let url = url.split('#').next().unwrap_or_default();
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let path_at = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    let (origin, rest) = url.split_at(path_at);
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    // urllib3's _PATH_CHARS and _QUERY_CHARS.
    const PATH: &[u8] = b"-._~!$&'()*+,;=:@/";
    // urllib3's `_remove_path_dot_segments`, for a path from `/`.
    let path = if path.is_empty() {
        String::new()
    } else {
        remove_dot_segments(path)
    };
    let mut out = format!("{origin}{}", encode_invalid(&path, PATH));
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        out.push('?');
        out.push_str(&encode_invalid(query, b"-._~!$&'()*+,;=:@/?"));
    }
    requote_uri(&out)
}

/// urllib3's `_encode_invalid_chars`: escapes upper-cased; a byte not
/// `allowed` (nor an alphanumeric) escaped; a `%` kept only when every
/// `%` starts an escape, else each is `%25`.
fn encode_invalid(part: &str, allowed: &[u8]) -> String {
    let bytes = part.as_bytes();
    let is_escape = |i: usize| {
        bytes.len() > i + 2 && bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit()
    };
    let all_escapes = (0..bytes.len())
        .filter(|&i| bytes[i] == b'%')
        .all(is_escape);
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' && all_escapes {
            out.push('%');
            out.push(bytes[i + 1].to_ascii_uppercase() as char);
            out.push(bytes[i + 2].to_ascii_uppercase() as char);
            i += 3;
            continue;
        }
        quote(&mut out, b, allowed);
        i += 1;
    }
    out
}

/// `b` as it is when an alphanumeric or in `safe`, else escaped.
fn quote(out: &mut String, b: u8, safe: &[u8]) {
    if b.is_ascii_alphanumeric() || safe.contains(&b) {
        out.push(b as char);
    } else {
        out.push_str(&format!("%{b:02X}"));
    }
}

/// requests' `requote_uri`: the escapes of unreserved characters unquoted
/// (`%41` as `A`), then every byte but the unreserved, the reserved and
/// `%` quoted; with an escape that is not hex (`%zz`), `%` is quoted too.
fn requote_uri(uri: &str) -> String {
    let bytes = uri.as_bytes();
    let mut unquoted = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let mut valid = true;
    while i < bytes.len() {
        let (b, h) = (bytes[i], bytes.get(i + 1..i + 3));
        if let (b'%', Some(h)) = (b, h) {
            if h.iter().all(u8::is_ascii_alphanumeric) {
                match u8::from_str_radix(std::str::from_utf8(h).unwrap_or("zz"), 16) {
                    Ok(c) if c.is_ascii_alphanumeric() || b"-._~".contains(&c) => {
                        unquoted.push(c);
                        i += 3;
                        continue;
                    }
                    Ok(_) => {}
                    Err(_) => valid = false,
                }
            }
        }
        unquoted.push(b);
        i += 1;
    }
    let (from, safe): (&[u8], &[u8]) = if valid {
        (&unquoted, b"!#$%&'()*+,/:;=?@[]~-._")
    } else {
        (bytes, b"!#$&'()*+,/:;=?@[]~-._")
    };
    let mut out = String::with_capacity(from.len());
    for &b in from {
        quote(&mut out, b, safe);
    }
    out
}

/// A reference resolved against the URL it came from (RFC 3986, 5.2, as
/// Python's `urljoin`).
fn join(base: &Uri, reference: &str) -> String {
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map_or("", |a| a.as_str());
    let has_scheme = reference.split_once(':').is_some_and(|(s, _)| {
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    if has_scheme {
        return reference.to_string();
    }
    if let Some(rest) = reference.strip_prefix("//") {
        return format!("{scheme}://{rest}");
    }
    let base_path = base.path();
    let target = if reference.is_empty() {
        base.path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_string()
    } else if reference.starts_with('?') {
        format!("{base_path}{reference}")
    } else {
        let (path, query) = match reference.find('?') {
            Some(i) => reference.split_at(i),
            None => (reference, ""),
        };
        let merged = if path.starts_with('/') {
            path.to_string()
        } else {
            let dir = base_path.rfind('/').map_or("/", |i| &base_path[..=i]);
            format!("{dir}{path}")
        };
        format!("{}{query}", remove_dot_segments(&merged))
    };
    format!("{scheme}://{authority}{target}")
}

/// RFC 3986, 5.2.4, for a path starting with `/`.
fn remove_dot_segments(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." => {}
            ".." => {
                out.pop();
            }
            s => {
                out.push(s);
                continue;
            }
        }
        if last {
            out.push("");
        }
    }
    format!("/{}", out.join("/"))
}

/// One try: the request built and exchanged.
///
/// A request without content whose method does not anticipate any goes
/// without a body, so without `content-length: 0` (RFC 9110, 8.6), as
/// Locust's clients send it; an empty POST, PUT or PATCH says 0, or some
/// servers answer 411.
fn attempt(agent: &Agent, p: &Prepared) -> Result<http::Response<ureq::Body>, ureq::Error> {
    let no_content = matches!(
        p.method,
        Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS | Method::TRACE
    );
    if p.body.is_empty() && no_content {
        exchange(agent, build(p, ())?)
    } else {
        exchange(agent, build(p, p.body.as_slice())?)
    }
}

#[inline(never)]
fn build<B>(p: &Prepared, body: B) -> Result<http::Request<B>, http::Error> {
    let mut builder = http::Request::builder()
        .method(p.method.clone())
        .uri(p.uri.clone());
    for (k, v) in &p.headers {
        builder = builder.header(k, v);
    }
    builder.body(body)
}

#[inline(never)]
fn exchange(
    agent: &Agent,
    request: http::Request<impl ureq::AsSendBody>,
) -> Result<http::Response<ureq::Body>, ureq::Error> {
    agent.run(request)
}

/// Reads the body to the end, at most [`MAX_BODY`] bytes.
///
/// Not `io::copy`, which zeroes a larger buffer on every call; ureq
/// buffers the socket, so a small buffer here costs no syscalls.
#[inline(never)]
fn drain(mut response: http::Response<ureq::Body>) -> Result<(), Sent> {
    let mut reader = response.body_mut().as_reader();
    let mut buf = [0u8; 2048];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(classify_io(&e)),
        }
        if total > MAX_BODY {
            return Err(Sent::Failed("response body over 10 MiB".into()));
        }
    }
}

pub(super) fn classify(e: &ureq::Error) -> Sent {
    match e {
        ureq::Error::Timeout(Timeout::Connect | Timeout::Resolve) => {
            Sent::NotConnected("timeout connecting".into())
        }
        ureq::Error::Timeout(_) => Sent::Failed("timeout".into()),
        ureq::Error::HostNotFound => Sent::NotConnected("unknown host".into()),
        // prepare() checked every part, so this is not expected.
        ureq::Error::Http(e) => Sent::NotConnected(format!("invalid request: {e}")),
        ureq::Error::ConnectionFailed => Sent::NotConnected("connection failed".into()),
        ureq::Error::Io(io) => classify_io(io),
        ureq::Error::Tls(why) => Sent::Failed(format!("tls: {why}")),
        ureq::Error::Rustls(why) => {
            Sent::Failed(format!("tls: {}", why.to_string().to_lowercase()))
        }
        ureq::Error::LargeResponseHeader(..) => {
            Sent::Failed(format!("response head over {} KiB", INPUT_BUFFER / 1024))
        }
        other => Sent::Failed(other.to_string().to_lowercase()),
    }
}

fn classify_io(e: &io::Error) -> Sent {
    if let Some(inner) = e.get_ref().and_then(|r| r.downcast_ref::<ureq::Error>()) {
        return classify(inner);
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Sent::NotConnected("connection refused".into()),
        io::ErrorKind::ConnectionReset => Sent::Failed("connection reset".into()),
        io::ErrorKind::ConnectionAborted => Sent::Failed("connection aborted".into()),
        io::ErrorKind::UnexpectedEof => Sent::Failed("connection closed early".into()),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Sent::Failed("timeout".into()),
        io::ErrorKind::AddrNotAvailable
        | io::ErrorKind::NetworkUnreachable
        | io::ErrorKind::HostUnreachable => Sent::NotConnected(e.kind().to_string().to_lowercase()),
        // rustls reports a failed handshake or a record that is not TLS
        // (a plain-HTTP port) as InvalidData around its own error; ureq's
        // errors were taken out above, so this one is the TLS layer's.
        io::ErrorKind::InvalidData if e.get_ref().is_some() => {
            Sent::Failed(format!("tls: {}", e.to_string().to_lowercase()))
        }
        _ => Sent::Failed(e.to_string().to_lowercase()),
    }
}

/// Resolves the host and opens one connection before the users start, so
/// an unknown name or a refused port is one clear error at once rather
/// than a run of failures. Returns the addresses for the run, the one
/// that answered first.
pub(super) fn preflight(plan: &LoadPlan) -> Result<Pinned, super::LoadError> {
    use std::net::{TcpStream, ToSocketAddrs};
    let url = &plan.host;
    let name = url
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let mut addrs: Vec<_> = match (name.as_str(), url.port()).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => {
            return Err(super::LoadError::UnknownHost {
                host: name,
                url: url.to_string(),
                message: e.to_string(),
            })
        }
    };
    let connect_timeout = plan.timeout.min(Duration::from_secs(5));
    let mut last = String::from("no address");
    let answered =
        addrs.iter().position(
            |addr| match TcpStream::connect_timeout(addr, connect_timeout) {
                Ok(_) => true,
                Err(e) => {
                    last = format!("{addr}: {}", e.to_string().to_lowercase());
                    false
                }
            },
        );
    let Some(i) = answered else {
        return Err(super::LoadError::Unreachable {
            url: url.to_string(),
            message: last,
        });
    };
    addrs[..=i].rotate_right(1);
    Pinned::new(url.base(), &addrs).ok_or_else(|| super::LoadError::Invalid {
        field: "host",
        value: url.to_string(),
        expected: super::HOST_EXPECTED,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::LoadOverrides;

    fn plan(config: &str) -> LoadPlan {
        let policy =
            lpa_core::config::parse_evaluation_config("eval.yaml", config, &Default::default())
                .unwrap()
                .value;
        let host = LoadOverrides {
            host: Some("http://127.0.0.1:5000".parse().unwrap()),
            ..LoadOverrides::default()
        };
        LoadPlan::from_config(&policy, &host).unwrap()
    }

    #[test]
    fn a_request_http_cannot_carry_is_an_error_that_shows_it() {
        let plan = plan("targets: [{endpoint: /a, type: mean, target: 7}]");
        let mut r = plan.requests[0].clone();
        r.headers
            .insert("Authorization".into(), "Bearer x\ny".into());
        assert_eq!(
            prepare(&plan, &r).unwrap_err().to_string(),
            "invalid value of header Authorization: \"<redacted>\""
        );
        r.headers.clear();
        r.headers.insert("bad name".into(), "v".into());
        assert_eq!(
            prepare(&plan, &r).unwrap_err(),
            RequestError::HeaderName("bad name".into())
        );
    }

    /// A hop's failure names its host and port, the scheme's when none is
    /// written, and never its credentials.
    #[test]
    fn a_hop_is_named_by_host_and_port_alone() {
        for (url, named) in [
            ("http://admin:s3cret@127.0.0.1:1/x", "127.0.0.1:1"),
            ("http://127.0.0.1/x", "127.0.0.1:80"),
            ("https://[::1]/x", "[::1]:443"),
        ] {
            assert_eq!(host_port(&url.parse().unwrap()), named, "{url}");
        }
    }

    /// A path goes out as Locust's HttpUser (python-requests over urllib3)
    /// sends it: each pair's right side is the request line Locust 2.47
    /// sent for the left one, read off a raw socket.
    #[test]
    fn a_path_is_quoted_as_requests_quotes_it() {
        let plan = plan("targets: [{endpoint: /a, type: mean, target: 7}]");
        let mut r = plan.requests[0].clone();
        for (path, sent) in [
            ("/caf\u{e9}?q=\u{fc}", "/caf%C3%A9?q=%C3%BC"),
            ("/raw\\n", "/raw%5Cn"),
            ("/a b", "/a%20b"),
            ("/q?x=%41&y=[1]", "/q?x=A&y=%5B1%5D"),
            ("/a[1]?b=[2]", "/a%5B1%5D?b=%5B2%5D"),
            ("/%zz", "/%25zz"),
            ("/a%", "/a%25"),
            ("/%4", "/%254"),
            ("/%7e~", "/~~"),
            ("/%e9", "/%E9"),
            ("/a/../b/./c", "/b/c"),
            ("/%2e%2E/x", "/../x"),
            ("/?", "/"),
            ("/page#part", "/page"),
        ] {
            r.path = path.into();
            let uri = prepare(&plan, &r).unwrap().uri;
            assert_eq!(uri.path_and_query().unwrap().as_str(), sent, "{path}");
        }
    }

    fn hop(method: Method, url: &str, headers: &[(&str, &str)], body: &str) -> Prepared {
        Prepared {
            method,
            uri: url.parse().unwrap(),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        HeaderName::from_bytes(k.as_bytes()).unwrap(),
                        HeaderValue::from_str(v).unwrap(),
                    )
                })
                .collect(),
            body: body.as_bytes().to_vec(),
            follow_redirects: true,
        }
    }

    /// Python's urljoin, as requests resolves a Location.
    #[test]
    fn a_location_is_resolved_against_the_url_it_answered() {
        let base: Uri = "http://h:5000/a/b/c?q=1".parse().unwrap();
        for (location, url) in [
            ("/x?y=2", "http://h:5000/x?y=2"),
            ("d", "http://h:5000/a/b/d"),
            ("../d", "http://h:5000/a/d"),
            ("./", "http://h:5000/a/b/"),
            ("..", "http://h:5000/a/"),
            ("?z=3", "http://h:5000/a/b/c?z=3"),
            ("", "http://h:5000/a/b/c?q=1"),
            ("//other:81/p", "http://other:81/p"),
            ("https://s/p", "https://s/p"),
            ("/a/./b/../../c", "http://h:5000/c"),
        ] {
            assert_eq!(join(&base, location), url, "{location}");
        }
        // Then sent as the first request is.
        assert_eq!(
            as_requests_sends(&join(&base, "/a b/\u{e9}?x=%41#frag")),
            "http://h:5000/a%20b/%C3%A9?x=A"
        );
    }

    /// requests' rebuild_method and the headers it purges.
    #[test]
    fn the_next_request_is_built_as_requests_builds_it() {
        let form = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", "Bearer t"),
            ("Cookie", "c=1"),
            ("X-Id", "7"),
        ];
        let post = hop(Method::POST, "http://h/form", &form, "a=1");
        let names = |p: &Prepared| -> Vec<String> {
            p.headers.iter().map(|(k, _)| k.to_string()).collect()
        };
        for status in [301, 302, 303] {
            let next = next_hop(&post, status, b"/done").unwrap();
            assert_eq!(
                (&next.method, next.uri.to_string().as_str()),
                (&Method::GET, "http://h/done")
            );
            assert!(next.body.is_empty());
            assert_eq!(names(&next), ["authorization", "x-id"], "{status}");
        }
        for status in [307, 308] {
            let next = next_hop(&post, status, b"/done").unwrap();
            assert_eq!(
                (&next.method, next.body.as_slice()),
                (&Method::POST, &b"a=1"[..])
            );
            assert_eq!(names(&next), ["content-type", "authorization", "x-id"]);
        }
        let put = hop(Method::PUT, "http://h/x", &[], "b");
        let next = next_hop(&put, 301, b"/y").unwrap();
        assert_eq!((next.method, next.body.len()), (Method::PUT, 0));
        let head = hop(Method::HEAD, "http://h/x", &[], "");
        assert_eq!(next_hop(&head, 303, b"/y").unwrap().method, Method::HEAD);
        // Authorization goes on only to the same origin, or up to https.
        let get = hop(Method::GET, "http://h/x", &[("Authorization", "t")], "");
        for (location, kept) in [
            ("http://h:80/y", true),
            ("https://h/y", true),
            ("http://h:8080/y", false),
            ("http://other/y", false),
        ] {
            let next = next_hop(&get, 302, location.as_bytes()).unwrap();
            assert_eq!(!next.headers.is_empty(), kept, "{location}");
        }
        assert_eq!(
            next_hop(&get, 302, b"ftp://h/y").unwrap_err(),
            "redirect to a URL that is not http(s): \"ftp://h/y\""
        );
    }

    #[test]
    fn the_output_buffer_fits_the_longest_head_line() {
        let seed = "targets: [{endpoint: /fibonacci?n=10, type: mean, target: 7}]";
        assert_eq!(output_buffer_size(&plan(seed)), MIN_OUTPUT_BUFFER);
        let token = "t".repeat(5000);
        let long = format!(
            "{seed}\nload: {{requests: [{{path: /a, headers: {{Authorization: Bearer {token}}}}}]}}"
        );
        let size = output_buffer_size(&plan(&long));
        assert!(
            size >= "Authorization: Bearer \r\n".len() + token.len(),
            "{size}"
        );
        assert_eq!(size % 1024, 0);
        let path = format!(
            "{seed}\nload: {{requests: [{{path: /{}}}]}}",
            "p".repeat(3000)
        );
        assert!(output_buffer_size(&plan(&path)) >= 3000 + "GET / HTTP/1.1\r\n".len());
    }
}
