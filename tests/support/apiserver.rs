//! A stand-in Kubernetes API server for driving the real kubectl: plain
//! HTTP/1.1 on 127.0.0.1 (no TLS, no auth), in the test process.
//!
//! It serves what kubectl 1.37 asks for (checked with `kubectl -v=8`):
//! discovery (`/api`, `/apis`, `/api/v1`, `/apis/apps/v1`, `/version`; the
//! aggregated-discovery Accept header is answered with the legacy JSON and
//! `application/json`, which kubectl accepts), GET of Deployments,
//! StatefulSets and ReplicaSets, and their `/scale` subresource: GET, PUT
//! (what `kubectl scale --current-replicas` sends; a stale resourceVersion
//! is a 409 Conflict, as the real server answers) and PATCH (what it sends
//! without a precondition). Every request is recorded, and a hook runs
//! before each one so a test can play an outside writer.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Without the query string.
    pub path: String,
    pub body: String,
}

impl Request {
    pub fn is_scale_write(&self) -> bool {
        self.path.ends_with("/scale") && (self.method == "PUT" || self.method == "PATCH")
    }
}

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Every request: 500 Internal Server Error.
    Fail,
    /// Reads the request and never answers (until the server is dropped).
    Hang,
}

/// A stored workload: kind as the URL names it (`deployments`, ...).
#[derive(Debug, Clone)]
pub struct Object {
    pub replicas: Option<u32>,
    pub resource_version: u64,
}

pub type Objects = BTreeMap<(String, String, String), Object>;
type Hook = Box<dyn FnMut(&Request, &mut Objects) + Send>;

struct Shared {
    objects: Objects,
    requests: Vec<Request>,
    mode: Mode,
    hook: Option<Hook>,
}

pub struct ApiServer {
    port: u16,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    accept: Option<thread::JoinHandle<()>>,
}

/// Connections idle longer than this are closed: every loop here is bounded.
const IDLE: Duration = Duration::from_secs(30);
/// The longest a `Mode::Hang` answer is held back.
const HANG_MAX: Duration = Duration::from_secs(120);

impl ApiServer {
    pub fn start() -> ApiServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind stand-in API server");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Shared {
            objects: BTreeMap::new(),
            requests: Vec::new(),
            mode: Mode::Normal,
            hook: None,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, st2) = (shared.clone(), stop.clone());
        let accept = thread::spawn(move || {
            for conn in listener.incoming() {
                if st2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (s3, st3) = (s2.clone(), st2.clone());
                thread::spawn(move || serve(conn, &s3, &st3));
            }
        });
        ApiServer {
            port,
            shared,
            stop,
            accept: Some(accept),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Adds a workload: `kind` is `deployments`, `statefulsets` or
    /// `replicasets`; `replicas: None` leaves `spec.replicas` out.
    pub fn add(&self, kind: &str, namespace: &str, name: &str, replicas: Option<u32>) {
        self.shared.lock().unwrap().objects.insert(
            (kind.into(), namespace.into(), name.into()),
            Object {
                replicas,
                resource_version: 1,
            },
        );
    }

    pub fn replicas(&self, kind: &str, namespace: &str, name: &str) -> Option<u32> {
        let s = self.shared.lock().unwrap();
        s.objects[&(kind.to_string(), namespace.to_string(), name.to_string())].replicas
    }

    pub fn set_mode(&self, mode: Mode) {
        self.shared.lock().unwrap().mode = mode;
    }

    /// Runs before every request is answered, with the stored objects.
    pub fn on_request(&self, hook: impl FnMut(&Request, &mut Objects) + Send + 'static) {
        self.shared.lock().unwrap().hook = Some(Box::new(hook));
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().unwrap().requests.clone()
    }

    /// The PUTs and PATCHes of `/scale`: the writes.
    pub fn scale_writes(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(Request::is_scale_write)
            .collect()
    }

    /// Writes a kubeconfig pointing at this server (context `stand-in`,
    /// namespace `default`, no credentials) into `dir`.
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: stand-in\n  cluster:\n    server: {}\nusers:\n- name: nobody\n  user: {{}}\ncontexts:\n- name: stand-in\n  context:\n    cluster: stand-in\n    user: nobody\n    namespace: default\ncurrent-context: stand-in\n",
            self.url()
        );
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn serve(conn: TcpStream, shared: &Mutex<Shared>, stop: &AtomicBool) {
    let _ = conn.set_read_timeout(Some(IDLE));
    let mut writer = match conn.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(conn);
    // Keep-alive: kubectl reuses one connection for several requests.
    while !stop.load(Ordering::SeqCst) {
        let Some(req) = read_request(&mut reader) else {
            break;
        };
        let mode = {
            let mut s = shared.lock().unwrap();
            s.requests.push(req.clone());
            if let Some(mut hook) = s.hook.take() {
                hook(&req, &mut s.objects);
                s.hook = Some(hook);
            }
            s.mode
        };
        let (status, body) = match mode {
            Mode::Hang => {
                let until = Instant::now() + HANG_MAX;
                while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                    thread::sleep(Duration::from_millis(20));
                }
                break;
            }
            Mode::Fail => (
                500,
                status_json(500, "InternalError", "stand-in: internal error"),
            ),
            Mode::Normal => answer(&req, &mut shared.lock().unwrap().objects),
        };
        let text = body.to_string();
        let reason = match status {
            200 => "OK",
            404 => "Not Found",
            409 => "Conflict",
            422 => "Unprocessable Entity",
            _ => "Internal Server Error",
        };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            text.len()
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(text.as_bytes()).is_err()
        {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "content-length" {
                length = v.parse().ok()?;
            } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if length > 0 {
        body.resize(length.min(16 << 20), 0);
        reader.read_exact(&mut body).ok()?;
    }
    let path = target.split('?').next().unwrap_or("").to_string();
    Some(Request {
        method,
        path,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn status_json(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

fn kind_of(plural: &str) -> Option<&'static str> {
    match plural {
        "deployments" => Some("Deployment"),
        "statefulsets" => Some("StatefulSet"),
        "replicasets" => Some("ReplicaSet"),
        _ => None,
    }
}

fn resources() -> Value {
    let mut list = Vec::new();
    for (plural, singular, kind, short) in [
        ("deployments", "deployment", "Deployment", "deploy"),
        ("statefulsets", "statefulset", "StatefulSet", "sts"),
        ("replicasets", "replicaset", "ReplicaSet", "rs"),
    ] {
        list.push(json!({"name": plural, "singularName": singular, "namespaced": true, "kind": kind,
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"], "shortNames": [short]}));
        list.push(json!({"name": format!("{plural}/scale"), "singularName": "", "namespaced": true,
            "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1", "resources": list})
}

fn answer(req: &Request, objects: &mut Objects) -> (u16, Value) {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/version") => {
            return (
                200,
                json!({"major": "1", "minor": "37", "gitVersion": "v1.37.0-stand-in",
                "platform": "linux/amd64"}),
            )
        }
        ("GET", "/api") => {
            return (
                200,
                json!({"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
            )
        }
        ("GET", "/apis") => {
            return (
                200,
                json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [{"name": "apps",
                "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]}),
            )
        }
        ("GET", "/api/v1") => {
            return (
                200,
                json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": []}),
            )
        }
        ("GET", "/apis/apps/v1") => return (200, resources()),
        _ => {}
    }
    // /apis/apps/v1/namespaces/{ns}/{plural}/{name}[/scale]
    let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let (ns, plural, name, scale) = match parts.as_slice() {
        ["apis", "apps", "v1", "namespaces", ns, plural, name] => (*ns, *plural, *name, false),
        ["apis", "apps", "v1", "namespaces", ns, plural, name, "scale"] => {
            (*ns, *plural, *name, true)
        }
        _ => {
            return (
                404,
                status_json(
                    404,
                    "NotFound",
                    &format!(
                        "the server could not find the requested resource ({})",
                        req.path
                    ),
                ),
            )
        }
    };
    let Some(kind) = kind_of(plural) else {
        return (
            404,
            status_json(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ),
        );
    };
    let key = (plural.to_string(), ns.to_string(), name.to_string());
    let Some(obj) = objects.get_mut(&key) else {
        return (
            404,
            status_json(
                404,
                "NotFound",
                &format!("{plural}.apps \"{name}\" not found"),
            ),
        );
    };
    match (req.method.as_str(), scale) {
        ("GET", false) => (200, object_json(kind, ns, name, obj)),
        ("GET", true) => (200, scale_json(plural, ns, name, obj)),
        ("PUT", true) => {
            let Ok(body) = serde_json::from_str::<Value>(&req.body) else {
                return (422, status_json(422, "Invalid", "body is not JSON"));
            };
            let sent_rv = body["metadata"]["resourceVersion"].as_str().unwrap_or("");
            if !sent_rv.is_empty() && sent_rv != obj.resource_version.to_string() {
                return (409, status_json(409, "Conflict", &format!("Operation cannot be fulfilled on {plural}.apps \"{name}\": the object has been modified; please apply your changes to the latest version and try again")));
            }
            let Some(n) = body["spec"]["replicas"].as_u64() else {
                return (422, status_json(422, "Invalid", "spec.replicas missing"));
            };
            obj.replicas = Some(n as u32);
            obj.resource_version += 1;
            (200, scale_json(plural, ns, name, obj))
        }
        ("PATCH", true) => {
            let Some(n) = serde_json::from_str::<Value>(&req.body)
                .ok()
                .and_then(|b| b["spec"]["replicas"].as_u64())
            else {
                return (
                    422,
                    status_json(422, "Invalid", "patch without spec.replicas"),
                );
            };
            obj.replicas = Some(n as u32);
            obj.resource_version += 1;
            (200, scale_json(plural, ns, name, obj))
        }
        _ => (
            405,
            status_json(405, "MethodNotAllowed", "method not allowed"),
        ),
    }
}

fn object_json(kind: &str, ns: &str, name: &str, obj: &Object) -> Value {
    let mut spec = json!({"selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": name, "image": "stand-in:1"}]}}});
    if let Some(r) = obj.replicas {
        spec["replicas"] = json!(r);
    }
    json!({"apiVersion": "apps/v1", "kind": kind,
        "metadata": {"name": name, "namespace": ns, "resourceVersion": obj.resource_version.to_string(),
                     "uid": format!("stand-in-{name}"), "generation": obj.resource_version},
        "spec": spec, "status": {"replicas": obj.replicas.unwrap_or(1)}})
}

fn scale_json(_plural: &str, ns: &str, name: &str, obj: &Object) -> Value {
    let r = obj.replicas.unwrap_or(1);
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": name, "namespace": ns, "resourceVersion": obj.resource_version.to_string()},
        "spec": {"replicas": r}, "status": {"replicas": r, "selector": format!("app={name}")}})
}
