//! A stand-in Kubernetes API server for driving the real kubectl: plain
//! HTTP/1.1 on 127.0.0.1 (no TLS, no auth), in the test process.
//!
//! It serves what kubectl 1.37 asks for (checked with `kubectl -v=8`):
//! discovery (`/api`, `/apis`, `/api/v1`, `/apis/apps/v1`,
//! `/apis/events.k8s.io/v1`, `/version`; the aggregated-discovery Accept
//! header is answered with the legacy JSON and `application/json`, which
//! kubectl accepts), GET of Deployments, StatefulSets and ReplicaSets, and
//! their `/scale` subresource: GET, PUT (what `kubectl scale
//! --current-replicas` sends; a stale resourceVersion is a 409 Conflict, as
//! the real server answers) and PATCH (what it sends without a
//! precondition). Every request is recorded, and a hook runs before each
//! one so a test can play an outside writer.
//!
//! Events as the real server keeps them (one store, two APIs): POST of an
//! `events.k8s.io/v1` Event (what `kubectl create --raw` sends, chunked and
//! without a Content-Type), checked as the real server checks a new one
//! (required fields, lengths, type; 422 Invalid with its message, 409
//! AlreadyExists); and lists of them through `events.k8s.io/v1` and the core
//! `v1` API, which is what `kubectl get events` reads: converted to core
//! v1 (`involvedObject`, `message`, `reportingComponent`), filtered by
//! `fieldSelector` (the real server's field labels for events; another is
//! a 400), and as a `meta.k8s.io/v1` Table when asked (the server's event
//! columns and cells, every column as the server sends them, so kubectl
//! prints what it prints against a real cluster).
//!
//! Leases (`coordination.k8s.io/v1`) and ConfigMaps (core `v1`), one at a
//! time, as `kubectl get --raw`, `create --raw` and `replace --raw` read
//! and write them: 404 NotFound, 409 AlreadyExists on a create, 409
//! Conflict on a stale `resourceVersion`, a new one on every write; a
//! test can refuse their writes (403, 500).
//!
//! HorizontalPodAutoscalers (`autoscaling/v2`): the list of a namespace's,
//! as the real server answers `kubectl get --raw` of it (a
//! `HorizontalPodAutoscalerList`, items without their own kind), a 403 as
//! RBAC without `list` answers it, or a 404 as a server without the API.

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
    /// After the `?`, as sent (percent-encoded).
    pub query: String,
    pub accept: String,
    pub content_type: String,
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
    /// Makes every scale write, then never answers it: a server that
    /// applied it and answers too late. Other requests as `Normal`.
    ApplyThenHang,
    /// Makes every scale write, then answers it 504: a gateway that gave
    /// up on a server that applied it.
    ApplyThenFail,
    /// Makes the next scale write, then answers it 503 with Retry-After:
    /// client-go sends it again, now with a stale resourceVersion (409),
    /// and kubectl's retry of the conflict reads the count it asked for.
    /// `Normal` after.
    ApplyThenRetry,
}

/// How the `autoscaling/v2` HPA list answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HpaApi {
    Served,
    /// 403, as RBAC without `list` on `horizontalpodautoscalers`.
    Forbidden,
    /// 404, as a server without `autoscaling/v2`.
    Absent,
}

/// A stored workload: kind as the URL names it (`deployments`, ...).
#[derive(Debug, Clone)]
pub struct Object {
    pub replicas: Option<u32>,
    pub resource_version: u64,
}

pub type Objects = BTreeMap<(String, String, String), Object>;
type Hook = Box<dyn FnMut(&Request, &mut Objects) + Send>;
type Matcher = fn(&Request) -> bool;

struct Shared {
    objects: Objects,
    /// Created Events, as `events.k8s.io/v1` objects.
    events: Vec<Value>,
    /// Leases and ConfigMaps by resource, namespace and name, as stored
    /// (`resourceVersion` set).
    stored: BTreeMap<(String, String, String), Value>,
    /// Writes (create, replace) of these resources answered with this
    /// status: 403 as RBAC without the verb, 500 as a failing server.
    refused: BTreeMap<&'static str, u16>,
    /// A holder that writes the next Lease first: just before the next
    /// create or replace of a Lease is answered.
    lease_racer: Option<String>,
    /// Each read of a Lease first relabels it (a new resourceVersion), as
    /// a tool that labels or annotates Leases does.
    relabel_leases: bool,
    /// The next ConfigMap written is deleted just after its write is
    /// answered: `kubectl delete` between two of lpa's cycles.
    delete_written_configmap: bool,
    /// The `data` the next ConfigMap read is given just after the read
    /// is answered: another loop's save between two of lpa's cycles.
    data_after_read: Option<Value>,
    /// Refuse every Event create with 403, as RBAC without `create`.
    forbid_events: bool,
    /// HorizontalPodAutoscalers as stored, and how their API answers.
    hpas: Vec<Value>,
    hpa_api: HpaApi,
    /// An HPA stored just before the first request the test matches is
    /// answered: one created while lpa runs.
    hpa_later: Option<(Matcher, Value)>,
    next_version: u64,
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
            events: Vec::new(),
            stored: BTreeMap::new(),
            refused: BTreeMap::new(),
            lease_racer: None,
            relabel_leases: false,
            delete_written_configmap: false,
            data_after_read: None,
            forbid_events: false,
            hpas: Vec::new(),
            hpa_api: HpaApi::Served,
            hpa_later: None,
            next_version: 100,
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

    /// The Events created so far, as `events.k8s.io/v1` objects.
    pub fn events(&self) -> Vec<Value> {
        self.shared.lock().unwrap().events.clone()
    }

    /// From now on every Event create is refused, as RBAC without
    /// `create` on `events` refuses it.
    pub fn forbid_events(&self) {
        self.shared.lock().unwrap().forbid_events = true;
    }

    /// Stores the HorizontalPodAutoscaler `name` in `namespace`, scaling
    /// `target` (`apps/v1 Deployment web`: apiVersion, kind, name).
    pub fn add_hpa(&self, namespace: &str, name: &str, target: [&str; 3]) {
        let mut s = self.shared.lock().unwrap();
        let hpa = hpas::new(&mut s, namespace, name, target);
        s.hpas.push(hpa);
    }

    /// As [`ApiServer::add_hpa`], just before the first request `when`
    /// matches is answered.
    pub fn add_hpa_at(&self, when: Matcher, namespace: &str, name: &str, target: [&str; 3]) {
        let mut s = self.shared.lock().unwrap();
        let hpa = hpas::new(&mut s, namespace, name, target);
        s.hpa_later = Some((when, hpa));
    }

    pub fn set_hpa_api(&self, api: HpaApi) {
        self.shared.lock().unwrap().hpa_api = api;
    }

    /// The Lease `name` in `namespace`, as stored.
    pub fn lease(&self, namespace: &str, name: &str) -> Option<Value> {
        stored::get(
            &self.shared.lock().unwrap(),
            stored::LEASES,
            namespace,
            name,
        )
    }

    /// Stores `lease` as the Lease `name` in `namespace`, as another
    /// holder would have written it.
    pub fn put_lease(&self, namespace: &str, name: &str, lease: Value) {
        let mut s = self.shared.lock().unwrap();
        stored::store(&mut s, stored::LEASES, namespace, name, lease);
    }

    /// The ConfigMap `name` in `namespace`, as stored.
    pub fn configmap(&self, namespace: &str, name: &str) -> Option<Value> {
        stored::get(
            &self.shared.lock().unwrap(),
            stored::CONFIGMAPS,
            namespace,
            name,
        )
    }

    /// The requests made of ConfigMaps in `namespace`: method and, for a
    /// write, the resourceVersion it named.
    pub fn configmap_calls(&self, namespace: &str) -> Vec<String> {
        let path = format!("/api/v1/namespaces/{namespace}/configmaps");
        self.requests()
            .into_iter()
            .filter(|r| r.path.starts_with(&path))
            .map(|r| {
                let sent: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
                match sent["metadata"]["resourceVersion"].as_str() {
                    Some(v) => format!("{} {v}", r.method),
                    None => r.method,
                }
            })
            .collect()
    }

    /// Stores the ConfigMap `name` in `namespace` with `annotations` and
    /// `data`, as someone else would have written it.
    pub fn put_configmap(&self, namespace: &str, name: &str, annotations: Value, data: Value) {
        let map = json!({"metadata": {"annotations": annotations}, "data": data});
        let mut s = self.shared.lock().unwrap();
        stored::store(&mut s, stored::CONFIGMAPS, namespace, name, map);
    }

    /// From now on every create and replace of a ConfigMap is answered
    /// with `status`: 403 as RBAC without `create`/`update` answers it,
    /// 500 as a failing server; `None` serves them again.
    pub fn refuse_configmap_writes(&self, status: Option<u16>) {
        let refused = &mut self.shared.lock().unwrap().refused;
        match status {
            Some(status) => refused.insert(stored::CONFIGMAPS.plural, status),
            None => refused.remove(stored::CONFIGMAPS.plural),
        };
    }

    /// The next ConfigMap written is deleted right after the write is
    /// answered, as a `kubectl delete` between two cycles deletes it.
    pub fn delete_configmap_once_written(&self) {
        self.shared.lock().unwrap().delete_written_configmap = true;
    }

    /// The next ConfigMap read is given `data` right after the read is
    /// answered, as the deciding loop's next save writes it.
    pub fn configmap_data_after_read(&self, data: Value) {
        self.shared.lock().unwrap().data_after_read = Some(data);
    }

    /// The next create or replace of a Lease finds that `holder` wrote
    /// the Lease just before: another loop that won the race.
    /// Every read of a Lease relabels it first ([`Shared`]'s
    /// `relabel_leases`).
    pub fn relabel_leases(&self) {
        self.shared.lock().unwrap().relabel_leases = true;
    }

    pub fn race_lease_writes(&self, holder: &str) {
        self.shared.lock().unwrap().lease_racer = Some(holder.to_string());
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
            if s.hpa_later.as_ref().is_some_and(|(when, _)| when(&req)) {
                let (_, hpa) = s.hpa_later.take().unwrap();
                s.hpas.push(hpa);
            }
            s.mode
        };
        let mode = match mode {
            Mode::ApplyThenHang if req.is_scale_write() => {
                let _ = answer(&req, &mut shared.lock().unwrap());
                Mode::Hang
            }
            Mode::ApplyThenHang => Mode::Normal,
            Mode::ApplyThenRetry if req.is_scale_write() => {
                let mut s = shared.lock().unwrap();
                let _ = answer(&req, &mut s);
                s.mode = Mode::Normal;
                mode
            }
            Mode::ApplyThenFail | Mode::ApplyThenRetry if !req.is_scale_write() => Mode::Normal,
            mode => mode,
        };
        let (status, body) = match mode {
            Mode::ApplyThenFail => {
                let _ = answer(&req, &mut shared.lock().unwrap());
                (
                    504,
                    status_json(
                        504,
                        "Timeout",
                        "stand-in: the server may still be processing the request",
                    ),
                )
            }
            Mode::ApplyThenRetry => (
                503,
                status_json(503, "ServiceUnavailable", "stand-in: try again"),
            ),
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
            Mode::Normal | Mode::ApplyThenHang => answer(&req, &mut shared.lock().unwrap()),
        };
        let text = body.to_string();
        let reason = match status {
            200 => "OK",
            201 => "Created",
            400 => "Bad Request",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            409 => "Conflict",
            422 => "Unprocessable Entity",
            503 => "Service Unavailable",
            504 => "Gateway Timeout",
            _ => "Internal Server Error",
        };
        let retry = if status == 503 {
            "Retry-After: 1\r\n"
        } else {
            ""
        };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n{retry}Content-Length: {}\r\n\r\n",
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
    let (mut accept, mut content_type) = (String::new(), String::new());
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
            } else if k == "accept" {
                accept = v.to_string();
            } else if k == "content-type" {
                content_type = v.to_string();
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
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Some(Request {
        method,
        path: path.to_string(),
        query: query.to_string(),
        accept,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

pub(super) fn status_json(code: u16, reason: &str, message: &str) -> Value {
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

fn answer(req: &Request, shared: &mut Shared) -> (u16, Value) {
    if let Some(answer) = events::answer(req, shared) {
        return answer;
    }
    if let Some(answer) = stored::answer(req, shared) {
        return answer;
    }
    if let Some(answer) = hpas::answer(req, shared) {
        return answer;
    }
    let objects = &mut shared.objects;
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
            let group = |name: &str| {
                json!({"name": name, "versions": [{"groupVersion": format!("{name}/v1"), "version": "v1"}],
                "preferredVersion": {"groupVersion": format!("{name}/v1"), "version": "v1"}})
            };
            return (
                200,
                json!({"kind": "APIGroupList", "apiVersion": "v1",
                "groups": [group("apps"), group("events.k8s.io")]}),
            );
        }
        ("GET", "/api/v1") => {
            return (
                200,
                json!({"kind": "APIResourceList", "groupVersion": "v1",
                "resources": [events::resource()]}),
            )
        }
        ("GET", "/apis/events.k8s.io/v1") => {
            return (
                200,
                json!({"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": "events.k8s.io/v1", "resources": [events::resource()]}),
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
        "spec": spec, "status": workload_status(obj.replicas.unwrap_or(1))})
}

/// A workload's status with every pod ready at once, as a real API server
/// writes it: a zero `readyReplicas` is left out.
fn workload_status(replicas: u32) -> Value {
    let mut status = json!({"replicas": replicas});
    if replicas > 0 {
        status["readyReplicas"] = json!(replicas);
    }
    status
}

fn scale_json(_plural: &str, ns: &str, name: &str, obj: &Object) -> Value {
    let r = obj.replicas.unwrap_or(1);
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": name, "namespace": ns, "resourceVersion": obj.resource_version.to_string()},
        "spec": {"replicas": r}, "status": {"replicas": r, "selector": format!("app={name}")}})
}

/// Objects kubectl's `--raw` verbs read and write one at a time, kept as
/// the real API server keeps them: Leases (`coordination.k8s.io/v1`) and
/// ConfigMaps (core `v1`). GET one (404 NotFound), POST one (409
/// AlreadyExists when the name is taken), PUT one (409 Conflict when its
/// `resourceVersion` is not the stored one: the optimistic lock leader
/// election and the state's copy rely on); every write stores a new
/// `resourceVersion`.
mod stored {
    use super::{status_json, Request, Shared};
    use serde_json::Value;

    /// A resource served here.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    pub struct Resource {
        /// The path up to the namespace's name.
        prefix: &'static str,
        /// The path segment after it, and the key of its objects.
        pub plural: &'static str,
        /// As the real server names it in messages.
        qualified: &'static str,
        api_version: &'static str,
        kind: &'static str,
    }

    pub const LEASES: Resource = Resource {
        prefix: "/apis/coordination.k8s.io/v1/namespaces/",
        plural: "leases",
        qualified: "leases.coordination.k8s.io",
        api_version: "coordination.k8s.io/v1",
        kind: "Lease",
    };

    pub const CONFIGMAPS: Resource = Resource {
        prefix: "/api/v1/namespaces/",
        plural: "configmaps",
        qualified: "configmaps",
        api_version: "v1",
        kind: "ConfigMap",
    };

    pub fn answer(req: &Request, shared: &mut Shared) -> Option<(u16, Value)> {
        [LEASES, CONFIGMAPS]
            .into_iter()
            .find_map(|r| answer_for(r, req, shared))
    }

    fn answer_for(r: Resource, req: &Request, shared: &mut Shared) -> Option<(u16, Value)> {
        let rest = req.path.strip_prefix(r.prefix)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let (ns, name) = match parts.as_slice() {
            [ns, plural] if *plural == r.plural => (*ns, None),
            [ns, plural, name] if *plural == r.plural => (*ns, Some(*name)),
            _ => return None,
        };
        let not_found = |name: &str| {
            (
                404,
                status_json(
                    404,
                    "NotFound",
                    &format!("{} \"{name}\" not found", r.qualified),
                ),
            )
        };
        let body = || serde_json::from_str::<Value>(&req.body).ok();
        let write = req.method == "POST" || req.method == "PUT";
        if let Some(&code) = shared.refused.get(r.plural).filter(|_| write) {
            let verb = if req.method == "POST" {
                "create"
            } else {
                "update"
            };
            return Some(match code {
                403 => (403, status_json(403, "Forbidden", &format!(
                    "{} \"{}\" is forbidden: User \"system:serviceaccount:{ns}:lpa\" cannot {verb} resource \"{}\" in API group \"{}\" in the namespace \"{ns}\"",
                    r.qualified, name.unwrap_or(""), r.plural,
                    r.api_version.rsplit_once('/').map_or("", |(g, _)| g)))),
                code => (code, status_json(code, "InternalError", "stand-in: internal error")),
            });
        }
        if write && r == LEASES {
            if let Some(racer) = shared.lease_racer.take() {
                race(shared, ns, body(), &racer);
            }
        }
        let key = |name: &str| (r.plural.to_string(), ns.to_string(), name.to_string());
        if let ("GET", Some(name), true) = (
            req.method.as_str(),
            name,
            shared.relabel_leases && r == LEASES,
        ) {
            if let Some(mut o) = shared.stored.get(&key(name)).cloned() {
                o["metadata"]["labels"]["touched"] = shared.next_version.to_string().into();
                store(shared, r, ns, name, o);
            }
        }
        let answer = match (req.method.as_str(), name) {
            ("GET", Some(name)) => match shared.stored.get(&key(name)) {
                Some(o) => (200, o.clone()),
                None => not_found(name),
            },
            ("POST", None) => {
                let Some(object) = body() else {
                    return Some((400, status_json(400, "BadRequest", "body is not JSON")));
                };
                let Some(name) = object["metadata"]["name"].as_str().map(String::from) else {
                    return Some((
                        422,
                        status_json(422, "Invalid", "metadata.name: Required value"),
                    ));
                };
                if shared.stored.contains_key(&key(&name)) {
                    return Some((
                        409,
                        status_json(
                            409,
                            "AlreadyExists",
                            &format!("{} \"{name}\" already exists", r.qualified),
                        ),
                    ));
                }
                (201, store(shared, r, ns, &name, object))
            }
            ("PUT", Some(name)) => {
                let Some(object) = body() else {
                    return Some((400, status_json(400, "BadRequest", "body is not JSON")));
                };
                let Some(stored) = shared.stored.get(&key(name)) else {
                    return Some(not_found(name));
                };
                let sent = object["metadata"]["resourceVersion"].as_str().unwrap_or("");
                if !sent.is_empty() && sent != stored["metadata"]["resourceVersion"] {
                    return Some((409, status_json(409, "Conflict", &format!("Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again", r.qualified))));
                }
                (200, store(shared, r, ns, name, object))
            }
            _ => (
                405,
                status_json(405, "MethodNotAllowed", "method not allowed"),
            ),
        };
        if write && r == CONFIGMAPS && answer.0 < 300 && shared.delete_written_configmap {
            shared.delete_written_configmap = false;
            let name = answer.1["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            shared.stored.remove(&key(&name));
        }
        if req.method == "GET" && r == CONFIGMAPS && answer.0 == 200 {
            if let Some(data) = shared.data_after_read.take() {
                let mut map = answer.1.clone();
                map["data"] = data;
                let name = map["metadata"]["name"].as_str().unwrap_or("").to_string();
                store(shared, r, ns, &name, map);
            }
        }
        Some(answer)
    }

    /// `racer` writes the Lease `sent` names, as its holder, a moment
    /// before `sent` arrives.
    fn race(shared: &mut Shared, ns: &str, sent: Option<Value>, racer: &str) {
        let Some(name) = sent.and_then(|b| b["metadata"]["name"].as_str().map(String::from)) else {
            return;
        };
        let lease = serde_json::json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name},
            "spec": {"holderIdentity": racer, "leaseDurationSeconds": 60}});
        store(shared, LEASES, ns, &name, lease);
    }

    /// Stores `object` as `name` in `ns` with a new `resourceVersion`, as
    /// the server stores a write; returns it as stored.
    pub fn store(
        shared: &mut Shared,
        r: Resource,
        ns: &str,
        name: &str,
        mut object: Value,
    ) -> Value {
        shared.next_version += 1;
        object["apiVersion"] = r.api_version.into();
        object["kind"] = r.kind.into();
        object["metadata"]["name"] = name.into();
        object["metadata"]["namespace"] = ns.into();
        object["metadata"]["resourceVersion"] = shared.next_version.to_string().into();
        shared.stored.insert(
            (r.plural.to_string(), ns.to_string(), name.to_string()),
            object.clone(),
        );
        object
    }

    /// The object `name` in `ns`, as stored.
    pub fn get(shared: &Shared, r: Resource, ns: &str, name: &str) -> Option<Value> {
        shared
            .stored
            .get(&(r.plural.to_string(), ns.to_string(), name.to_string()))
            .cloned()
    }
}

/// HorizontalPodAutoscalers: the `autoscaling/v2` list of a namespace's,
/// the one request lpa makes of them.
mod hpas {
    use lpa_drivers::decision_log::rfc3339;
    use lpa_drivers::run_loop::now_secs;
    use serde_json::{json, Value};

    use super::{status_json, HpaApi, Request, Shared};

    /// An HPA as the real server stores one made by `kubectl autoscale`.
    pub fn new(shared: &mut Shared, ns: &str, name: &str, target: [&str; 3]) -> Value {
        shared.next_version += 1;
        let [api_version, kind, target_name] = target;
        json!({"metadata": {"name": name, "namespace": ns,
                "uid": format!("stand-in-hpa-{}", shared.next_version),
                "resourceVersion": shared.next_version.to_string(),
                "creationTimestamp": rfc3339(now_secs())},
            "spec": {"scaleTargetRef": {"apiVersion": api_version, "kind": kind, "name": target_name},
                "minReplicas": 1, "maxReplicas": 10,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80}}}]},
            "status": {"currentReplicas": 2, "desiredReplicas": 2}})
    }

    pub fn answer(req: &Request, shared: &mut Shared) -> Option<(u16, Value)> {
        let rest = req.path.strip_prefix("/apis/autoscaling/v2/namespaces/")?;
        let (ns, "horizontalpodautoscalers") = rest.split_once('/')? else {
            return None;
        };
        Some(match (shared.hpa_api, req.method.as_str()) {
            (HpaApi::Absent, _) => (
                404,
                status_json(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                ),
            ),
            (HpaApi::Forbidden, _) => {
                let mut status = status_json(403, "Forbidden", &format!(
                    "horizontalpodautoscalers.autoscaling is forbidden: User \"system:serviceaccount:{ns}:lpa\" cannot list resource \"horizontalpodautoscalers\" in API group \"autoscaling\" in the namespace \"{ns}\""));
                status["details"] =
                    json!({"group": "autoscaling", "kind": "horizontalpodautoscalers"});
                (403, status)
            }
            (HpaApi::Served, "GET") => {
                let mut items: Vec<&Value> = shared
                    .hpas
                    .iter()
                    .filter(|h| h["metadata"]["namespace"] == ns)
                    .collect();
                items.sort_by_key(|h| h["metadata"]["name"].to_string());
                (
                    200,
                    json!({"kind": "HorizontalPodAutoscalerList", "apiVersion": "autoscaling/v2",
                        "metadata": {"resourceVersion": shared.next_version.to_string()}, "items": items}),
                )
            }
            (HpaApi::Served, _) => (
                405,
                status_json(405, "MethodNotAllowed", "method not allowed"),
            ),
        })
    }
}

/// Events: one store behind `events.k8s.io/v1` and core `v1`, as the real
/// API server keeps them.
mod events {
    use lpa_drivers::decision_log::rfc3339;
    use lpa_drivers::run_loop::now_secs;
    use serde_json::{json, Value};

    use super::{status_json, Request, Shared};

    /// The `events` resource in a discovery list (both groups list it so).
    pub fn resource() -> Value {
        json!({"name": "events", "singularName": "event", "namespaced": true, "kind": "Event",
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            "shortNames": ["ev"]})
    }

    /// The answer to an Events request; None for any other request.
    pub fn answer(req: &Request, shared: &mut Shared) -> Option<(u16, Value)> {
        let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
        let (core, namespace) = match parts.as_slice() {
            ["api", "v1", "namespaces", ns, "events"] => (true, Some(*ns)),
            ["api", "v1", "events"] => (true, None),
            ["apis", "events.k8s.io", "v1", "namespaces", ns, "events"] => (false, Some(*ns)),
            ["apis", "events.k8s.io", "v1", "events"] => (false, None),
            _ => return None,
        };
        Some(match (req.method.as_str(), namespace) {
            ("POST", Some(ns)) if !core => create(req, ns, shared),
            ("GET", _) => list(req, core, namespace, shared),
            _ => (
                405,
                status_json(405, "MethodNotAllowed", "method not allowed"),
            ),
        })
    }

    fn create(req: &Request, ns: &str, shared: &mut Shared) -> (u16, Value) {
        if shared.forbid_events {
            return (403, status_json(403, "Forbidden", &format!(
                "events.events.k8s.io is forbidden: User \"system:serviceaccount:{ns}:lpa\" cannot create resource \"events\" in API group \"events.k8s.io\" in the namespace \"{ns}\"")));
        }
        let Ok(mut event) = serde_json::from_str::<Value>(&req.body) else {
            return (400, status_json(400, "BadRequest", "the body is not JSON"));
        };
        if event["apiVersion"] != "events.k8s.io/v1" || event["kind"] != "Event" {
            return (400, status_json(400, "BadRequest", &format!(
                "the API version in the data ({}) does not match the expected API version (events.k8s.io/v1)",
                event["apiVersion"])));
        }
        match event["metadata"]["namespace"].as_str() {
            None => event["metadata"]["namespace"] = json!(ns),
            Some(given) if given != ns => {
                return (400, status_json(400, "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on the request"));
            }
            Some(_) => {}
        }
        let name = event["metadata"]["name"].as_str().unwrap_or("").to_string();
        let errors = invalid(&event, ns);
        if !errors.is_empty() {
            let text: Vec<String> = errors
                .iter()
                .map(|(field, why)| format!("{field}: {why}"))
                .collect();
            let text = if text.len() == 1 {
                text[0].clone()
            } else {
                format!("[{}]", text.join(", "))
            };
            let mut status = status_json(
                422,
                "Invalid",
                &format!("Event.events.k8s.io \"{name}\" is invalid: {text}"),
            );
            status["details"] = json!({"name": name, "group": "events.k8s.io", "kind": "Event",
                "causes": errors.iter().map(|(f, why)| json!({"field": f, "message": why})).collect::<Vec<_>>()});
            return (422, status);
        }
        if shared
            .events
            .iter()
            .any(|e| e["metadata"]["namespace"] == ns && e["metadata"]["name"] == name.as_str())
        {
            return (
                409,
                status_json(
                    409,
                    "AlreadyExists",
                    &format!("events.events.k8s.io \"{name}\" already exists"),
                ),
            );
        }
        shared.next_version += 1;
        event["metadata"]["uid"] = json!(format!("stand-in-event-{}", shared.next_version));
        event["metadata"]["resourceVersion"] = json!(shared.next_version.to_string());
        event["metadata"]["creationTimestamp"] = json!(rfc3339(now_secs()));
        shared.events.push(event.clone());
        (201, event)
    }

    /// The real server's checks of a new `events.k8s.io/v1` Event
    /// (`ValidateEventCreate`), as (field, message).
    fn invalid(e: &Value, ns: &str) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        let mut bad = |field: &str, why: String| errors.push((field.to_string(), why));
        let text = |key: &str| e[key].as_str().unwrap_or("");
        let name = e["metadata"]["name"].as_str().unwrap_or("");
        if name.is_empty() {
            bad(
                "metadata.name",
                "Required value: name or generateName is required".into(),
            );
        } else if !is_subdomain(name) {
            bad("metadata.name", format!("Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"));
        }
        if e["regarding"]["namespace"]
            .as_str()
            .unwrap_or("")
            .is_empty()
            && ns != "default"
            && ns != "kube-system"
        {
            bad(
                "involvedObject.namespace",
                "Invalid value: \"\": does not match event.namespace".into(),
            );
        }
        let controller = text("reportingController");
        if controller.is_empty() {
            bad("reportingController", "Required value".into());
        }
        for field in ["reportingInstance", "action", "reason"] {
            if text(field).is_empty() {
                bad(field, "Required value".into());
            } else if text(field).len() > 128 {
                bad(
                    field,
                    "Invalid value: \"\": can have at most 128 characters".into(),
                );
            }
        }
        if text("note").len() > 1024 {
            bad(
                "note",
                "Invalid value: \"\": can have at most 1024 characters".into(),
            );
        }
        if e["eventTime"].as_str().and_then(parse_time).is_none() {
            bad("eventTime", "Required value".into());
        }
        let kind = text("type");
        if kind != "Normal" && kind != "Warning" {
            bad(
                "type",
                format!("Invalid value: \"\": has invalid value: {kind}"),
            );
        }
        for field in [
            "deprecatedFirstTimestamp",
            "deprecatedLastTimestamp",
            "deprecatedCount",
        ] {
            if !e[field].is_null() {
                bad(field, "Invalid value: \"\": needs to be unset".into());
            }
        }
        errors
    }

    fn is_subdomain(s: &str) -> bool {
        s.len() <= 253
            && s.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
    }

    /// The Event as core v1 shows it: the conversion the real server does
    /// between the two APIs of one store.
    fn core_v1(e: &Value) -> Value {
        let mut out = json!({"kind": "Event", "apiVersion": "v1", "metadata": e["metadata"],
            "involvedObject": e["regarding"], "reason": e["reason"], "message": e["note"],
            "source": if e["deprecatedSource"].is_null() { json!({}) } else { e["deprecatedSource"].clone() },
            "firstTimestamp": e["deprecatedFirstTimestamp"], "lastTimestamp": e["deprecatedLastTimestamp"],
            "type": e["type"], "eventTime": e["eventTime"], "action": e["action"],
            "reportingComponent": e["reportingController"], "reportingInstance": e["reportingInstance"]});
        for (from, to) in [
            ("deprecatedCount", "count"),
            ("series", "series"),
            ("related", "related"),
        ] {
            if !e[from].is_null() {
                out[to] = e[from].clone();
            }
        }
        out
    }

    fn list(req: &Request, core: bool, namespace: Option<&str>, shared: &Shared) -> (u16, Value) {
        let selector = query_param(&req.query, "fieldSelector").unwrap_or_default();
        let mut terms = Vec::new();
        for term in selector.split(',').filter(|t| !t.is_empty()) {
            let (key, negate, value) = if let Some((k, v)) = term.split_once("!=") {
                (k, true, v)
            } else if let Some((k, v)) = term.split_once("==") {
                (k, false, v)
            } else if let Some((k, v)) = term.split_once('=') {
                (k, false, v)
            } else {
                return (
                    400,
                    status_json(
                        400,
                        "BadRequest",
                        &format!("invalid selector: '{selector}'; can't understand '{term}'"),
                    ),
                );
            };
            if field(&json!({}), key).is_none() {
                return (
                    400,
                    status_json(
                        400,
                        "BadRequest",
                        &format!("field label not supported: {key}"),
                    ),
                );
            }
            terms.push((key.to_string(), negate, value.to_string()));
        }
        // Each stored Event beside its core v1 form, which selectors and
        // tables read.
        let mut found: Vec<(&Value, Value)> = shared
            .events
            .iter()
            .filter(|e| namespace.is_none_or(|ns| e["metadata"]["namespace"] == ns))
            .map(|e| (e, core_v1(e)))
            .filter(|(_, c)| {
                terms
                    .iter()
                    .all(|(k, negate, v)| (field(c, k).as_deref() == Some(v.as_str())) != *negate)
            })
            .collect();
        // etcd lists by key: namespace, then name.
        found.sort_by_key(|(e, _)| {
            (
                e["metadata"]["namespace"].to_string(),
                e["metadata"]["name"].to_string(),
            )
        });
        let (stored, converted): (Vec<&Value>, Vec<Value>) = found.into_iter().unzip();
        let version = shared.next_version.to_string();
        if req.accept.contains("as=Table") {
            return (200, table(&converted, &version));
        }
        let items = if core {
            converted
        } else {
            stored.into_iter().cloned().collect()
        };
        (
            200,
            json!({"kind": "EventList", "apiVersion": if core { "v1" } else { "events.k8s.io/v1" },
            "metadata": {"resourceVersion": version}, "items": items}),
        )
    }

    /// A core v1 Event's value for a field selector's label; None for a
    /// label the real server does not support for events.
    fn field(e: &Value, label: &str) -> Option<String> {
        let s = |v: &Value| v.as_str().unwrap_or("").to_string();
        Some(match label {
            "metadata.name" => s(&e["metadata"]["name"]),
            "metadata.namespace" => s(&e["metadata"]["namespace"]),
            "involvedObject.kind"
            | "involvedObject.namespace"
            | "involvedObject.name"
            | "involvedObject.uid"
            | "involvedObject.apiVersion"
            | "involvedObject.resourceVersion"
            | "involvedObject.fieldPath" => {
                s(&e["involvedObject"][&label["involvedObject.".len()..]])
            }
            "reason" | "reportingComponent" | "type" => s(&e[label]),
            "source" => s(&e["source"]["component"]),
            _ => return None,
        })
    }

    /// The server's Table of events (its printer, all columns: kubectl
    /// shows those of priority 0 unless `-o wide`).
    fn table(items: &[Value], version: &str) -> Value {
        let column = |name: &str, priority: u8| {
            json!({"name": name, "type": "string", "format": if name == "Name" { "name" } else { "" },
                "description": "", "priority": priority})
        };
        let columns = [
            ("Last Seen", 0),
            ("Type", 0),
            ("Reason", 0),
            ("Object", 0),
            ("Subobject", 1),
            ("Source", 1),
            ("Message", 0),
            ("First Seen", 1),
            ("Count", 1),
            ("Name", 1),
        ]
        .map(|(n, p)| column(n, p));
        let now = now_secs();
        let since = |t: &Value| match t.as_str().and_then(parse_time) {
            Some(at) => human_duration(now as i64 - at),
            None => "<unknown>".to_string(),
        };
        let rows: Vec<Value> = items.iter().map(|e| {
            let s = |v: &Value| v.as_str().unwrap_or("").to_string();
            let first = if e["firstTimestamp"].is_null() { since(&e["eventTime"]) } else { since(&e["firstTimestamp"]) };
            let last = if e["lastTimestamp"].is_null() { first.clone() } else { since(&e["lastTimestamp"]) };
            let (last, count) = match &e["series"] {
                Value::Null => (last, e["count"].as_i64().filter(|c| *c != 0).unwrap_or(1)),
                series => (since(&series["lastObservedTime"]), series["count"].as_i64().unwrap_or(0)),
            };
            let object = &e["involvedObject"];
            let target = match s(&object["name"]).as_str() {
                "" => s(&object["kind"]).to_lowercase(),
                name => format!("{}/{name}", s(&object["kind"]).to_lowercase()),
            };
            let component = Some(s(&e["source"]["component"])).filter(|c| !c.is_empty()).unwrap_or_else(|| s(&e["reportingComponent"]));
            let instance = Some(s(&e["source"]["host"])).filter(|h| !h.is_empty()).unwrap_or_else(|| s(&e["reportingInstance"]));
            let source = if instance.is_empty() { component } else { format!("{component}, {instance}") };
            json!({"cells": [last, s(&e["type"]), s(&e["reason"]), target, s(&object["fieldPath"]), source,
                    s(&e["message"]).trim(), first, count, s(&e["metadata"]["name"])],
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": e["metadata"]}})
        }).collect();
        json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": version},
            "columnDefinitions": columns, "rows": rows})
    }

    /// apimachinery's `duration.HumanDuration`, as the server's printers use it.
    fn human_duration(secs: i64) -> String {
        if secs < -1 {
            return "<invalid>".into();
        }
        if secs < 0 {
            return "0s".into();
        }
        if secs < 120 {
            return format!("{secs}s");
        }
        // `3m5s`, or `3m` on the dot.
        let pair = |big: i64, unit: &str, small: i64, small_unit: &str| match small {
            0 => format!("{big}{unit}"),
            small => format!("{big}{unit}{small}{small_unit}"),
        };
        let minutes = secs / 60;
        if minutes < 10 {
            return pair(minutes, "m", secs % 60, "s");
        }
        if minutes < 180 {
            return format!("{minutes}m");
        }
        let hours = minutes / 60;
        if hours < 8 {
            return pair(hours, "h", minutes % 60, "m");
        }
        if hours < 48 {
            return format!("{hours}h");
        }
        format!("{}d", hours / 24)
    }

    /// `2026-11-28T01:32:41[.123456]Z` as seconds since the epoch.
    fn parse_time(t: &str) -> Option<i64> {
        let t = t.strip_suffix('Z')?;
        let (date, time) = t.split_once('T')?;
        let num = |s: &str| s.parse::<i64>().ok();
        let d: Vec<i64> = date.split('-').map(num).collect::<Option<_>>()?;
        let time = time.split('.').next()?;
        let c: Vec<i64> = time.split(':').map(num).collect::<Option<_>>()?;
        let ([y, m, day], [h, min, s]) = (d.as_slice(), c.as_slice()) else {
            return None;
        };
        // Howard Hinnant's days_from_civil.
        let y = if *m <= 2 { y - 1 } else { *y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (if *m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        Some(days * 86_400 + h * 3600 + min * 60 + s)
    }

    /// A query parameter, percent-decoded.
    fn query_param(query: &str, name: &str) -> Option<String> {
        let raw = query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?;
        let bytes = raw.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).ok()
    }

    #[test]
    fn times_round_trip() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_time("2026-11-28T01:32:41.123456Z"),
            Some(1_795_829_561)
        );
        assert_eq!(rfc3339(1_795_829_561), "2026-11-28T01:32:41Z");
        assert_eq!(
            query_param(
                "a=1&fieldSelector=involvedObject.name%3Dweb&limit=500",
                "fieldSelector"
            )
            .as_deref(),
            Some("involvedObject.name=web")
        );
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(185), "3m5s");
    }
}
