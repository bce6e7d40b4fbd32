//! The host a load test is sent to, validated once: `scheme://host[:port]`,
//! optionally with a path prefix that every request path is appended to.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// A value that is not one a setting takes. It names the value and what
/// was expected, not the setting: the caller knows where the value came
/// from (a flag, an env var, a locustfile) and says so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} (expected {expected})")]
pub struct InvalidValue {
    pub value: String,
    pub expected: String,
}

impl InvalidValue {
    pub fn new(value: &str, expected: impl Into<String>) -> InvalidValue {
        InvalidValue {
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}

/// A validated host: `http` or `https` (in any case, as URLs allow), a
/// name or address, a port, and an optional path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostUrl {
    /// The URL as requests are built from it: lower-case scheme, no
    /// trailing slash.
    base: String,
    /// The name or address as given; an IPv6 address keeps its brackets.
    host: String,
    port: u16,
    https: bool,
}

/// What a host looks like, for error messages.
pub const HOST_EXPECTED: &str = "an http:// or https:// URL such as http://fibonacci:5000";

impl HostUrl {
    /// `http://fibonacci:5000`, or with a path prefix `http://svc/api`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The name or address, an IPv6 address in brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn is_https(&self) -> bool {
        self.https
    }
}

impl fmt::Display for HostUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

/// A service listening on a local address: `http://ADDR`.
impl From<SocketAddr> for HostUrl {
    fn from(addr: SocketAddr) -> HostUrl {
        HostUrl {
            base: format!("http://{addr}"),
            host: match addr {
                SocketAddr::V4(a) => a.ip().to_string(),
                SocketAddr::V6(a) => format!("[{}]", a.ip()),
            },
            port: addr.port(),
            https: false,
        }
    }
}

/// `text` without its scheme, when the scheme is `scheme` in any case.
fn strip_scheme<'a>(text: &'a str, scheme: &str) -> Option<&'a str> {
    let head = text.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme)
        .then(|| &text[scheme.len()..])
}

impl FromStr for HostUrl {
    type Err = InvalidValue;

    /// Parses `http://name[:port][/prefix]`; a bracketed IPv6 address works.
    fn from_str(text: &str) -> Result<HostUrl, InvalidValue> {
        let bad = || InvalidValue::new(text, HOST_EXPECTED);
        let (https, rest) = match (
            strip_scheme(text, "http://"),
            strip_scheme(text, "https://"),
        ) {
            (Some(r), _) => (false, r),
            (_, Some(r)) => (true, r),
            _ => return Err(bad()),
        };
        let scheme = if https { "https" } else { "http" };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let prefix = path.trim_end_matches('/');
        if let Some((_, after)) = authority.rsplit_once('@') {
            // The error must not echo a password back into logs.
            return Err(InvalidValue::new(
                &format!("{scheme}://<redacted>@{after}{prefix}"),
                "a URL without user:password@ (send credentials as an Authorization header in load.requests[].headers)",
            ));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        if let Some(at) = path.find(['?', '#']) {
            // The likeliest cause: a target's URL pasted whole as the host.
            let endpoint = if at == 0 {
                format!("/{path}")
            } else {
                path.to_string()
            };
            return Err(InvalidValue::new(
                text,
                format!(
                    "scheme://host[:port] such as {scheme}://{authority}, with no query: \
                     a host has at most a path prefix, and {endpoint} belongs in the targets' endpoint"
                ),
            ));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').ok_or_else(bad)?;
            if addr.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad());
            }
            (format!("[{addr}]"), after.strip_prefix(':'))
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        let name_ok = host.starts_with('[')
            || (!host.is_empty()
                && host.split('.').all(|label| {
                    !label.is_empty()
                        && !label.starts_with('-')
                        && label
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                }));
        if !name_ok {
            return Err(bad());
        }
        let port = match port {
            None if https => 443,
            None => 80,
            // The scheme is right; the port is what to fix, and the message
            // says so rather than asking for a URL it already has.
            Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(|| {
                InvalidValue::new(
                    text,
                    format!("a port from 1 to 65535 after the host, not {p:?}"),
                )
            })?,
        };
        Ok(HostUrl {
            base: format!("{scheme}://{authority}{prefix}"),
            host,
            port,
            https,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<HostUrl, InvalidValue> {
        text.parse()
    }

    #[test]
    fn hosts() {
        let h = parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (h.host(), h.port(), h.is_https()),
            ("127.0.0.1", 8080, false)
        );
        let h = parse("https://svc.ns.svc.cluster.local/api/").unwrap();
        assert_eq!(
            (h.base(), h.port()),
            ("https://svc.ns.svc.cluster.local/api", 443)
        );
        assert_eq!(parse("http://[::1]:81").unwrap().host(), "[::1]");
        for bad in BAD_HOSTS {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid value"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_bad_port_is_named_as_the_port() {
        for (host, port) in [
            ("http://127.0.0.1:99999", "99999"),
            ("http://x:0", "0"),
            ("https://x:port", "port"),
        ] {
            let e = parse(host).unwrap_err().to_string();
            assert!(
                e.ends_with(&format!(
                    "(expected a port from 1 to 65535 after the host, not {port:?})"
                )),
                "{host}: {e}"
            );
        }
    }

    const BAD_HOSTS: &[&str] = &[
        "fibonacci:5000",
        "ftp://x",
        "http://",
        "http://a b",
        "http://x:99999",
        "http://x:0",
        "http://x:port",
        "http://-x",
        "http://x/?q=1",
        "http://[zz]",
        "http://user:pw@x",
    ];

    #[test]
    fn a_password_in_the_host_is_never_echoed() {
        let e = parse("https://admin:hunter2@svc:8443/api")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2") && !e.contains("admin"), "{e}");
        assert!(e.contains("https://<redacted>@svc:8443/api"), "{e}");
    }

    #[test]
    fn a_scheme_in_upper_case_is_a_scheme() {
        let h = parse("HTTP://127.0.0.1:5000").unwrap();
        assert_eq!((h.base(), h.port()), ("http://127.0.0.1:5000", 5000));
        let h = parse("Https://svc/api").unwrap();
        assert_eq!(
            (h.base(), h.port(), h.is_https()),
            ("https://svc/api", 443, true)
        );
    }

    /// A target's whole URL given as the host: the error says which part
    /// is the host and where the rest goes.
    #[test]
    fn a_query_in_the_host_says_where_it_belongs() {
        let e = parse("http://127.0.0.1:5000/fibonacci?n=10")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "invalid value \"http://127.0.0.1:5000/fibonacci?n=10\" (expected scheme://host[:port] \
             such as http://127.0.0.1:5000, with no query: a host has at most a path prefix, and \
             /fibonacci?n=10 belongs in the targets' endpoint)"
        );
        let e = parse("http://svc?n=1").unwrap_err().to_string();
        assert!(
            e.contains("such as http://svc, with no query") && e.contains(", and /?n=1 belongs"),
            "{e}"
        );
    }

    #[test]
    fn a_local_address_is_a_host() {
        let h = HostUrl::from("127.0.0.1:5000".parse::<SocketAddr>().unwrap());
        assert_eq!(h, parse("http://127.0.0.1:5000").unwrap());
        let h = HostUrl::from("[::1]:81".parse::<SocketAddr>().unwrap());
        assert_eq!(h, parse("http://[::1]:81").unwrap());
    }
}
