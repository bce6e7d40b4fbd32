//! Security through the real binary: credential headers of the config's
//! `load.requests[].headers` are sent as written but never shown, in
//! `lpa check`, `lpa loadtest --json`, `lpa run`'s stderr and decision log.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{fixture, lpa, stderr, stdout, tool};

const SECRETS: [&str; 4] = ["tok-auth", "tok-cookie", "tok-proxy", "tok-set"];

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("eval.yaml");
    std::fs::write(
        &path,
        "targets: [{method: GET, endpoint: /healthz, type: mean, target: 500}]\n\
         load:\n  users: 1\n  runTime: 500ms\n  requests:\n    - path: /healthz\n      headers:\n        \
         Authorization: Bearer tok-auth\n        cookie: sid=tok-cookie\n        \
         Proxy-Authorization: Basic tok-proxy\n        Set-Cookie: tok-set\n        X-Trace: visible-7\n",
    )
    .unwrap();
    path
}

fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} shows {s}: {text}");
    }
}

/// A service that answers 200 and keeps the first request head it reads,
/// to prove the real values are sent. Bounded: 2000 connections or 20 s.
fn recording_service() -> (String, Arc<Mutex<Option<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let first = Arc::new(Mutex::new(None));
    let keep = Arc::clone(&first);
    thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(20);
        for conn in listener.incoming().take(2000) {
            if Instant::now() > until {
                return;
            }
            let Ok(mut conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut head = String::new();
            while !head.ends_with("\r\n\r\n") {
                match reader.read_line(&mut head) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            // The preflight connects and sends nothing.
            if !head.is_empty() {
                keep.lock().unwrap().get_or_insert(head);
            }
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    (format!("http://{addr}"), first)
}

#[test]
fn check_shows_credential_headers_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    for json in [false, true] {
        let mut c = lpa();
        c.arg("check").arg("--evaluation-config").arg(&cfg);
        if json {
            c.arg("--json");
        }
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert_no_secret("lpa check", &text);
        assert!(
            text.contains("visible-7") && text.contains("<redacted>"),
            "{text}"
        );
    }
}

#[test]
fn loadtest_sends_credentials_and_never_prints_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (url, first) = recording_service();
    let out = lpa()
        .args(["loadtest", "--json", "--host", &url])
        .arg("--evaluation-config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_secret("lpa loadtest", &format!("{}{}", stdout(&out), stderr(&out)));
    let head = first.lock().unwrap().clone().expect("a request arrived");
    let head = head.to_ascii_lowercase();
    for s in SECRETS {
        assert!(head.contains(s), "{s} was not sent: {head}");
    }
}

#[test]
fn run_decision_log_and_stderr_never_show_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let log = dir.path().join("decisions.jsonl");
    let replica = format!(
        "{} serve --listen 127.0.0.1:{{port}} --exit-with-parent",
        env!("CARGO_BIN_EXE_lpa")
    );
    let out = lpa()
        .args([
            "run",
            "--scaler",
            "local",
            "--once",
            "--replica-cmd",
            &replica,
        ])
        .args(["--listen", "127.0.0.1:0"])
        .arg("--evaluation-config")
        .arg(&cfg)
        .arg("--decay-info")
        .arg(dir.path().join("decay.json"))
        .arg("--decision-log")
        .arg(&log)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged.lines().count(), 1, "{logged}");
    assert_no_secret("decision log", &logged);
    assert_no_secret("lpa run", &format!("{}{}", stdout(&out), stderr(&out)));
}

/// A private CA and a leaf for 127.0.0.1 signed by it, made with the
/// openssl CLI (scripts/setup-tools.sh installs it where it is missing).
fn private_ca(dir: &std::path::Path) {
    let openssl = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run openssl ({e}): scripts/setup-tools.sh installs Debian's")
            })
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca = openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=lpa test CA",
            ],
        ]
        .concat(),
    );
    assert!(
        ca.status.success(),
        "{}",
        String::from_utf8_lossy(&ca.stderr)
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let leaf_key: Vec<&str> = [
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat();
    let leaf_cert = [
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        "-out",
        "leaf.pem",
    ];
    for args in [&leaf_key[..], &leaf_cert[..]] {
        let o = openssl(args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

/// `openssl s_server -www` on 127.0.0.1 with the leaf: an HTTPS server
/// that answers every GET with 200. Killed when dropped.
struct TlsServer(std::process::Child, u16);

impl TlsServer {
    /// On a port it binds itself (0) and names in its `ACCEPT 127.0.0.1:PORT`
    /// line: a port the test found free and let go could be another
    /// process's by then, and a connect would not tell them apart.
    fn start(dir: &std::path::Path) -> TlsServer {
        let mut child = std::process::Command::new("openssl")
            .args(["s_server", "-www", "-cert", "leaf.pem", "-key", "leaf.key"])
            .args(["-accept", "127.0.0.1:0"])
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        // Reads on to the end, so the server never blocks on a full pipe.
        thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(out)).map_while(Result::ok)
            {
                if let Some(port) = line
                    .strip_prefix("ACCEPT 127.0.0.1:")
                    .and_then(|p| p.trim().parse::<u16>().ok())
                {
                    let _ = tx.send(port);
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("openssl s_server named no port within 10 s");
        TlsServer(child, port)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `lpa loadtest --json` of 1 user for 1 s against the TLS server, with
/// the native driver or Locust running `locustfile`.
fn https_loadtest(
    port: u16,
    ca_bundle: Option<&std::path::Path>,
    locustfile: Option<&str>,
) -> serde_json::Value {
    let mut c = lpa();
    c.args(["loadtest", "--json", "--users", "1", "--run-time", "1s"])
        .args(["--host", &format!("https://127.0.0.1:{port}")]);
    if let Some(locustfile) = locustfile {
        c.args(["--load-driver", "locust", "--locustfile"])
            .arg(fixture(locustfile))
            .env("LOCUST_BIN", tool("locust"))
            // What --ca-bundle sets; requests also reads CURL_CA_BUNDLE.
            .env_remove("REQUESTS_CA_BUNDLE")
            .env_remove("SSL_CERT_FILE")
            .env_remove("CURL_CA_BUNDLE");
    } else {
        c.args(["--request", "/"]);
    }
    if let Some(ca) = ca_bundle {
        c.env("LPA_CA_BUNDLE", ca);
    }
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// The TLS server of a private CA made in a temporary directory, and the
/// CA's PEM there.
fn private_tls_server() -> (TlsServer, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    private_ca(dir.path());
    (TlsServer::start(dir.path()), dir.path().join("ca.pem"), dir)
}

#[test]
fn https_with_a_private_ca_works_with_the_bundle_and_fails_clearly_without() {
    let (server, ca, _dir) = private_tls_server();
    let trusted = https_loadtest(server.1, Some(&ca), None);
    assert!(trusted["num_requests"].as_u64().unwrap() > 0, "{trusted}");
    assert_eq!(trusted["num_requests_fail"], 0, "{trusted}");

    let untrusted = https_loadtest(server.1, None, None);
    let failures = untrusted["failures"].as_object().unwrap();
    assert_eq!(failures.len(), 1, "{untrusted}");
    let error = failures.values().next().unwrap()["error"].as_str().unwrap();
    assert_eq!(error, "tls: invalid peer certificate: unknownissuer");
}

/// --ca-bundle reaches Locust: an HttpUser verifies against it (through
/// lpa_ca_bundle.py), a FastHttpUser with `insecure = False` through
/// SSL_CERT_FILE; without it, the HttpUser's requests fail verification.
#[test]
fn locust_with_a_private_ca_works_with_the_bundle_and_fails_without() {
    let (server, ca, _dir) = private_tls_server();
    for locustfile in ["locust/https_root.py", "locust/https_root_fast.py"] {
        let trusted = https_loadtest(server.1, Some(&ca), Some(locustfile));
        assert_eq!(trusted["run"]["driver"], "locust");
        assert!(
            trusted["num_requests"].as_u64().unwrap() > 0,
            "{locustfile}: {trusted}"
        );
        assert_eq!(trusted["num_requests_fail"], 0, "{locustfile}: {trusted}");
    }

    let untrusted = https_loadtest(server.1, None, Some("locust/https_root.py"));
    assert!(
        untrusted["num_requests"].as_u64().unwrap() > 0,
        "{untrusted}"
    );
    assert_eq!(untrusted["num_requests_fail"], untrusted["num_requests"]);
    let failures = untrusted["failures"].as_object().unwrap();
    assert_eq!(failures.len(), 1, "{untrusted}");
    let error = failures.values().next().unwrap()["error"].as_str().unwrap();
    assert!(error.starts_with("SSLError("), "{error}");
    assert!(error.contains("CERTIFICATE_VERIFY_FAILED"), "{error}");
}

#[test]
fn a_bad_ca_bundle_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    // The bundle is read before a driver is picked: Locust's too.
    let locustfile = format!("--locustfile={}", fixture("locust/https_root.py").display());
    let locust = ["--load-driver", "locust", &locustfile];
    for (path, why, driver) in [
        (not_pem.clone(), "no PEM certificate", &[][..]),
        (dir.path().join("missing.pem"), "no such file", &[]),
        (not_pem.clone(), "no PEM certificate", &locust),
    ] {
        let out = lpa()
            .args([
                "loadtest",
                "--host",
                "https://127.0.0.1:9",
                "--request",
                "/",
            ])
            .args(driver)
            .env("LOCUST_BIN", tool("locust"))
            .arg("--ca-bundle")
            .arg(&path)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert_eq!(stdout(&out), "");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(&format!(
                "lpa: error: CA bundle (--ca-bundle or LPA_CA_BUNDLE) {}: ",
                path.display()
            )) && err.contains(why),
            "{err}"
        );
    }
}
