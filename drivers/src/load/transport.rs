//! The connections under a user's ureq Agent: a TCP transport, the watch
//! for stale kept-alive connections, and the host's addresses looked up
//! once. Everything here builds on `ureq::unversioned`, which has no semver
//! promise (ureq is pinned to an exact version for it): a ureq upgrade
//! starts here.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::uri::{Authority, Scheme};
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, RustlsConnector,
    ShutdownHandle, Transport,
};
use ureq::{Agent, Timeout};

/// An agent on `config` whose connections are TCP, plus rustls when
/// `https`, resolved by `pinned`, with `stale` set as [`WatchStale`] says.
pub(super) fn agent(config: Config, https: bool, pinned: &Pinned, stale: Arc<AtomicBool>) -> Agent {
    let watch = WatchStale(stale);
    let tcp = ().chain(Tcp);
    // A chain without TLS cannot send an https request in clear: ureq
    // refuses a non-TLS transport for an https URI.
    if https {
        Agent::with_parts(
            config,
            tcp.chain(RustlsConnector::default()).chain(watch),
            pinned.clone(),
        )
    } else {
        Agent::with_parts(config, tcp.chain(watch), pinned.clone())
    }
}

/// ureq's TCP connector and transport, but for the look at a kept-alive
/// connection: one `recv(MSG_PEEK | MSG_DONTWAIT)`, where ureq's takes
/// three syscalls (docs/hardening.md).
#[derive(Debug)]
struct Tcp;

impl Connector<()> for Tcp {
    type Out = TcpConn;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _: Option<()>,
    ) -> Result<Option<TcpConn>, ureq::Error> {
        let timeout = details.timeout.not_zero().map(|t| *t);
        let mut last = None;
        for addr in details.addrs.iter() {
            let connected = match timeout {
                Some(t) => TcpStream::connect_timeout(addr, t),
                None => TcpStream::connect(addr),
            };
            match connected {
                Ok(stream) => {
                    if details.config.no_delay() {
                        stream.set_nodelay(true)?;
                    }
                    let stream = Arc::new(stream);
                    (details.register_shutdown)(
                        Arc::downgrade(&stream) as Weak<dyn ShutdownHandle>
                    )?;
                    let buffers = LazyBuffers::new(
                        details.config.input_buffer_size(),
                        details.config.output_buffer_size(),
                    );
                    return Ok(Some(TcpConn {
                        stream,
                        buffers,
                        read_timeout: None,
                        write_timeout: None,
                    }));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                    ) =>
                {
                    return Err(ureq::Error::Timeout(Timeout::Connect));
                }
                // As ureq: the next address may answer (IPv6 down, IPv4 up).
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or(ureq::Error::ConnectionFailed, ureq::Error::Io))
    }
}

struct TcpConn {
    stream: Arc<TcpStream>,
    buffers: LazyBuffers,
    /// The socket's timeouts as last set: a `setsockopt` only on a change.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl fmt::Debug for TcpConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpConn")
            .field("peer", &self.stream.peer_addr().ok())
            .finish()
    }
}

/// The remaining budget of a stage, or the timeout error once it is spent.
fn budget(timeout: NextTimeout) -> Result<Option<Duration>, ureq::Error> {
    if timeout.after.is_zero() {
        return Err(ureq::Error::Timeout(timeout.reason));
    }
    Ok(timeout.not_zero().map(|t| *t))
}

/// A socket timeout expires as `EAGAIN`; ureq reports it as its timeout.
fn io_error(e: io::Error, timeout: NextTimeout) -> ureq::Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ureq::Error::Timeout(timeout.reason),
        _ => ureq::Error::Io(e),
    }
}

impl Transport for TcpConn {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        let t = budget(timeout)?;
        if t != self.write_timeout {
            self.stream.set_write_timeout(t)?;
            self.write_timeout = t;
        }
        let output = &self.buffers.output()[..amount];
        (&*self.stream)
            .write_all(output)
            .map_err(|e| io_error(e, timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        let t = budget(timeout)?;
        if t != self.read_timeout {
            self.stream.set_read_timeout(t)?;
            self.read_timeout = t;
        }
        let input = self.buffers.input_append_buf();
        let n = loop {
            match (&*self.stream).read(input) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other.map_err(|e| io_error(e, timeout))?,
            }
        };
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    /// Open when nothing is waiting to be read: an end of stream means
    /// the server closed it, and bytes nobody asked for mean the last
    /// answer was not what it said (ureq drops the connection either way).
    fn is_open(&mut self) -> bool {
        use rustix::net::{recv, RecvFlags};
        let mut byte = [0u8; 1];
        matches!(
            recv(
                &*self.stream,
                &mut byte[..],
                RecvFlags::PEEK | RecvFlags::DONTWAIT
            ),
            Err(rustix::io::Errno::AGAIN)
        )
    }

    fn is_tls(&self) -> bool {
        false
    }
}

/// Marks a request that failed because the kept-alive connection it was
/// sent on was already closed by the server: sending failed, or the
/// connection ended before the first byte of the answer.
///
/// A server may close an idle connection at any moment (its keep-alive
/// timeout), and one that closes right after an answer without saying
/// `connection: close` races ureq's check of pooled connections, which
/// then hands out a dead one. Counting that as the service failing would
/// read as a breach and scale up; browsers and urllib3 instead retry an
/// idempotent request once on a new connection (RFC 9110, 9.2.2), and so
/// does [`super::http::send`]. A connection that never answered anything is not
/// stale: its failure is the service's.
#[derive(Debug)]
pub(super) struct WatchStale(Arc<AtomicBool>);

impl<In: Transport> Connector<In> for WatchStale {
    type Out = Watched<In>;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(|inner| Watched {
            inner,
            stale: Arc::clone(&self.0),
            answered_before: false,
            answered: false,
            probed: None,
        }))
    }
}

#[derive(Debug)]
pub(super) struct Watched<T> {
    inner: T,
    stale: Arc<AtomicBool>,
    /// Bytes came in before the request now being sent: the connection is
    /// a kept-alive one.
    answered_before: bool,
    /// Bytes came in since the request now being sent.
    answered: bool,
    /// When the connection was last found open, if no request was sent
    /// since.
    probed: Option<Instant>,
}

/// How long a connection found open stays open without a second look.
///
/// ureq looks at a kept-alive connection twice per request, when it goes
/// back to the pool and when it is taken out; for a user that does not
/// wait the two are microseconds apart, and the second would tell nothing
/// new. A close in between costs one retry ([`WatchStale`]), not a failure.
const FRESH_PROBE: Duration = Duration::from_millis(1);

impl<T: Transport> Watched<T> {
    fn mark_if_stale(&self, dead: bool) {
        if dead && self.answered_before && !self.answered {
            self.stale.store(true, Ordering::Relaxed);
        }
    }
}

impl<T: Transport> Transport for Watched<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if self.answered {
            self.answered_before = true;
            self.answered = false;
        }
        self.probed = None;
        let sent = self.inner.transmit_output(amount, timeout);
        self.mark_if_stale(sent.as_ref().is_err_and(closed));
        sent
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let got = self.inner.await_input(timeout);
        match &got {
            Ok(true) => self.answered = true,
            // End of stream before a byte of the answer.
            Ok(false) => self.mark_if_stale(true),
            Err(e) => self.mark_if_stale(closed(e)),
        }
        got
    }

    fn is_open(&mut self) -> bool {
        if self.probed.is_some_and(|at| at.elapsed() < FRESH_PROBE) {
            return true;
        }
        let open = self.inner.is_open();
        self.probed = open.then(Instant::now);
        open
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

/// An error that says the peer had closed the connection (not a timeout:
/// a slow service must stay a failure).
fn closed(e: &ureq::Error) -> bool {
    let ureq::Error::Io(io) = e else {
        return false;
    };
    matches!(
        io.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

/// The host's addresses, looked up once per run by
/// [`super::http::preflight`], the one that answered first.
///
/// ureq asks its resolver on every request, and `getaddrinfo` has no cache:
/// in a cluster, DNS round trips would be timed as the service's latency.
/// Locust (urllib3) too looks a name up only to open a connection.
#[derive(Debug, Clone)]
pub(super) struct Pinned {
    scheme: Scheme,
    authority: Authority,
    addrs: ResolvedSocketAddrs,
}

impl Pinned {
    pub(super) fn new(base: &str, addrs: &[SocketAddr]) -> Option<Pinned> {
        let uri: Uri = base.parse().ok()?;
        let mut pinned = DefaultResolver::default().empty();
        // As ureq's own resolver, keep the first 16.
        for a in addrs {
            if pinned.try_push(*a).is_err() {
                break;
            }
        }
        Some(Pinned {
            scheme: uri.scheme()?.clone(),
            authority: uri.authority()?.clone(),
            addrs: pinned,
        })
    }
}

impl Resolver for Pinned {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if uri.scheme() == Some(&self.scheme) && uri.authority() == Some(&self.authority) {
            return Ok(self.addrs.clone());
        }
        // Requests are built on the host, so this is not reached; a URI
        // elsewhere gets a lookup of its own rather than the host's address.
        DefaultResolver::default().resolve(uri, config, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::http::preflight;
    use crate::load::{LoadOverrides, LoadPlan};

    fn plan_for(host: &str) -> LoadPlan {
        let policy = lpa_core::config::parse_evaluation_config(
            "eval.yaml",
            "targets: [{endpoint: /a, type: mean, target: 7}]",
            &Default::default(),
        )
        .unwrap()
        .value;
        let overrides = LoadOverrides {
            host: Some(host.parse().unwrap()),
            ..LoadOverrides::default()
        };
        LoadPlan::from_config(&policy, &overrides).unwrap()
    }

    #[test]
    fn the_host_is_looked_up_once_and_the_answering_address_goes_first() {
        // Only 127.0.0.1 listens; "localhost" may list ::1 first, which
        // would refuse every new connection before the right one.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let plan = plan_for(&format!("http://localhost:{}/prefix", addr.port()));
        let pinned = preflight(&plan).unwrap();
        assert_eq!(pinned.addrs.first(), Some(&addr), "{:?}", pinned.addrs);
        assert!(pinned.addrs.iter().all(|a| a.port() == addr.port()));

        let config = Agent::config_builder().build();
        let uri: Uri = format!("http://LOCALHOST:{}/prefix/a?x=1", addr.port())
            .parse()
            .unwrap();
        let got = pinned
            .resolve(&uri, &config, NextTimeout::default())
            .unwrap();
        assert_eq!(&got[..], &pinned.addrs[..]);

        // Another authority is looked up, not given the host's address.
        let other: Uri = "http://127.0.0.2:9/".parse().unwrap();
        let got = pinned
            .resolve(&other, &config, NextTimeout::default())
            .unwrap();
        assert_eq!(&got[..], &["127.0.0.2:9".parse::<SocketAddr>().unwrap()]);
    }

    #[test]
    fn a_kept_alive_connection_is_open_only_while_idle_and_unread() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let conn = |listener: &std::net::TcpListener| {
            let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (server, _) = listener.accept().unwrap();
            let conn = TcpConn {
                stream: Arc::new(stream),
                buffers: LazyBuffers::new(64, 64),
                read_timeout: None,
                write_timeout: None,
            };
            (conn, server)
        };
        let settle = || std::thread::sleep(Duration::from_millis(50));

        let (mut idle, _server) = conn(&listener);
        assert!(idle.is_open());
        // The look does not block, however often it is asked.
        assert!(idle.is_open());

        let (mut chatty, mut server) = conn(&listener);
        server.write_all(b"x").unwrap();
        settle();
        assert!(!chatty.is_open(), "bytes nobody asked for");
        // A peek: the byte is still there for whoever reads.
        assert!(chatty.await_input(NextTimeout::default()).unwrap());

        let (mut closed, server) = conn(&listener);
        drop(server);
        settle();
        assert!(!closed.is_open(), "closed by the server");
    }
}
