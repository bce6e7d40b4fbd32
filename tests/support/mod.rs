//! Test support: spawning the real binary with a clean environment.

#![allow(dead_code)]

pub mod apiserver;
pub mod service;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The env vars lpa reads; cleared so the developer's shell cannot leak in.
const LPA_ENV: &[&str] = &[
    "locustHost",
    "locustUsers",
    "locustHatchRate",
    "locustSpawnRate",
    "locustRunTime",
    "locustFilePath",
    "evaluationConfigFilePath",
    "decayInfoFilePath",
    "minReplicas",
    "maxReplicas",
    "loadDriver",
    "LOCUST_BIN",
    "LPA_CA_BUNDLE",
    "LPA_KUBECTL",
    "LPA_METRICS_LISTEN",
    "LPA_DECISION_LOG_MAX_SIZE",
    "KUBECONFIG",
    "LPA_LEASE",
    "LPA_STATE_CONFIGMAP",
    "stateConfigMap",
    "kubectlTimeout",
    // CPA's, which its hooks inherit.
    "configPath",
    "downscaleStabilization",
    "interval",
    "evaluate",
];

pub fn lpa() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lpa"));
    for v in LPA_ENV {
        c.env_remove(v);
    }
    c
}

/// `text` written to `name` in `dir`: a file (a locustfile, a config) a
/// test makes for itself.
pub fn written(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `run` under a limit of `kib` KiB on every file it writes, as a full
/// disk: SIGXFSZ ignored, a write past it fails with EFBIG.
/// Runs `cmd`, and sends it `signal` (`-INT`, `-TERM`) once a file other
/// than `kept` is seen in `dir` (the temporary file of what it writes);
/// returns its output, and what other than `kept` is left in `dir`.
pub fn stopped_while_staged(
    cmd: &mut Command,
    dir: &std::path::Path,
    kept: &[&str],
    signal: &str,
) -> (Output, Vec<std::ffi::OsString>) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let others = || {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| !kept.iter().any(|k| n == k))
            .collect::<Vec<_>>()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while others().is_empty() {
        assert!(
            std::time::Instant::now() < deadline && child.try_wait().unwrap().is_none(),
            "no temporary file seen while it was written"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let killed = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    (child.wait_with_output().unwrap(), others())
}

pub fn file_size_limit(run: &Command, kib: u32) -> Command {
    let mut limited = Command::new("bash");
    limited
        .args([
            "-c",
            &format!(r#"trap '' XFSZ; ulimit -f {kib}; exec "$@""#),
            "bash",
        ])
        .arg(run.get_program())
        .args(run.get_args())
        .stdin(Stdio::null());
    for (k, v) in run.get_envs() {
        match v {
            Some(v) => limited.env(k, v),
            None => limited.env_remove(k),
        };
    }
    limited
}

/// Runs a command with `stdin`, returning its output.
pub fn run_with_stdin(mut cmd: Command, stdin: &str) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn lpa");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.as_bytes().to_vec();
    let writer = std::thread::spawn(move || {
        // The child may exit before reading everything; that is its answer.
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait lpa");
    writer.join().unwrap();
    out
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fixture file under `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// Where the pinned tools (kubectl, locust) live, installed by
/// scripts/setup-tools.sh; falls back to PATH.
pub fn tool(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("LPA_TOOLS_BIN") {
        let p = PathBuf::from(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".tools/venv/bin")
        .join(name);
    if local.exists() {
        return local;
    }
    PathBuf::from(name)
}

/// A loopback address where connections are refused for as long as the
/// returned socket lives: it holds the port bound without listening, so,
/// unlike a port bound and let go, no other process can take it meanwhile.
pub fn refused_addr() -> (rustix::fd::OwnedFd, std::net::SocketAddr) {
    use rustix::net::{bind, getsockname, socket, AddressFamily, SocketType};
    let fd = socket(AddressFamily::INET, SocketType::STREAM, None).expect("a TCP socket");
    bind(
        &fd,
        &std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 0),
    )
    .expect("bind 127.0.0.1:0");
    let addr = getsockname(&fd)
        .ok()
        .and_then(|a| std::net::SocketAddr::try_from(a).ok())
        .expect("the bound address");
    (fd, addr)
}
