//! The kubectl scale target: a Deployment, StatefulSet or ReplicaSet read
//! with `kubectl get KIND/NAME -o json` (parsed with k8s-openapi types) and
//! changed with `kubectl scale KIND/NAME --current-replicas=SEEN
//! --replicas=N`.
//!
//! kubectl runs without a shell (argv only), in its own process group (a
//! Ctrl-C in the terminal must not kill it halfway through a scale; lpa ends
//! after the step instead), with a timeout, and its stderr is kept in the
//! error. Names are still validated against Kubernetes' naming rules before
//! anything runs: a name that is not a Kubernetes name is a typo or an
//! attack, and either way one clear error up front beats a kubectl error
//! every cycle.
//!
//! `--current-replicas` makes kubectl read the `/scale` subresource, compare
//! its `spec.replicas` with SEEN, and write it back with the resourceVersion
//! it read (a conflict on that write is retried by kubectl, and the retry's
//! comparison then fails). Either way a change made by someone else since
//! lpa read the count is never overwritten; it surfaces as
//! [`DriverError::Changed`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as KubeEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use k8s_openapi::Resource;
use lpa_core::names::LABEL_RULE;
pub use lpa_core::names::{is_dns1123_label, is_dns1123_subdomain, SUBDOMAIN_RULE};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::lease::{Lead, Lease};
use super::state_configmap::{Pulled, Pushed, StateConfigMap};
use super::{hpa, DriverError, Event, ScaleTarget};
use crate::process::{self, one_line, ProcessError};

/// The workload kinds with a `/scale` subresource that lpa scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Deployment,
    StatefulSet,
    ReplicaSet,
}

impl Kind {
    pub const EXPECTED: &'static str = "deployment, statefulset or replicaset";

    /// kubectl's names for the kind, including its plural and short forms.
    pub fn parse(text: &str) -> Option<Kind> {
        match text.to_ascii_lowercase().as_str() {
            "deployment" | "deployments" | "deploy" | "deployment.apps" | "deployments.apps" => {
                Some(Kind::Deployment)
            }
            "statefulset" | "statefulsets" | "sts" | "statefulset.apps" | "statefulsets.apps" => {
                Some(Kind::StatefulSet)
            }
            "replicaset" | "replicasets" | "rs" | "replicaset.apps" | "replicasets.apps" => {
                Some(Kind::ReplicaSet)
            }
            _ => None,
        }
    }

    /// The resource name kubectl is given (lowercase singular).
    pub fn resource(self) -> &'static str {
        match self {
            Kind::Deployment => "deployment",
            Kind::StatefulSet => "statefulset",
            Kind::ReplicaSet => "replicaset",
        }
    }

    /// The kind as Kubernetes writes it (`Deployment`).
    pub(crate) fn title(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::ReplicaSet => "ReplicaSet",
        }
    }
}

/// A validated `KIND/NAME` in an optional namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub kind: Kind,
    pub name: String,
    /// `None`: the namespace of the kubeconfig's context.
    pub namespace: Option<String>,
}

impl Workload {
    /// Parses `deployment/NAME` (or `statefulset/`, `replicaset/`) and the
    /// namespace, validating both against Kubernetes' naming rules.
    pub fn parse(target: &str, namespace: Option<&str>) -> Result<Workload, DriverError> {
        let invalid =
            |why: String| DriverError::Invalid(format!("invalid target {target:?}: {why}"));
        let Some((kind, name)) = target.split_once('/') else {
            return Err(invalid(format!(
                "expected KIND/NAME, e.g. deployment/fibonacci (KIND: {})",
                Kind::EXPECTED
            )));
        };
        let kind = Kind::parse(kind).ok_or_else(|| {
            invalid(format!(
                "unknown kind {kind:?} (expected {})",
                Kind::EXPECTED
            ))
        })?;
        if !is_dns1123_subdomain(name) {
            return Err(invalid(format!(
                "name {name:?} is not a valid Kubernetes name ({SUBDOMAIN_RULE})"
            )));
        }
        if let Some(ns) = namespace {
            if !is_dns1123_label(ns) {
                return Err(DriverError::Invalid(format!(
                    "invalid namespace {ns:?}: not a valid Kubernetes namespace ({LABEL_RULE})"
                )));
            }
        }
        Ok(Workload {
            kind,
            name: name.to_string(),
            namespace: namespace.map(str::to_string),
        })
    }

    /// `deployment/web`: the kind as Kubernetes names its resource.
    pub fn reference(&self) -> String {
        format!("{}/{}", self.kind.resource(), self.name)
    }

    /// `seen`, when it is the workload asked for. A kubectl wrapper or
    /// plugin that answered with another object had its count taken for
    /// the target's, and the scale that followed wrote the target.
    /// The API server names every object it returns, and its namespace;
    /// an answer without them is not the API server's.
    pub(crate) fn is_asked_for(&self, seen: Seen) -> Result<Seen, String> {
        let kind = self.kind.title();
        match seen.name.as_deref() {
            None => {
                return Err(format!(
                    "output is a {kind} without metadata.name, which the API server always writes"
                ))
            }
            Some(name) if name != self.name => {
                return Err(format!(
                    "output is the {kind} {name:?}, not {:?} as asked for",
                    self.name
                ))
            }
            Some(_) => {}
        }
        if let Some(asked) = &self.namespace {
            match seen.namespace.as_deref() {
                None => return Err(format!("output is a {kind} without metadata.namespace, which the API server always writes")),
                Some(found) if found != asked => {
                    return Err(format!(
                        "output is a {kind} of namespace {found:?}, not {asked:?} as asked for"
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(seen)
    }
}

/// The kubeconfig files kubectl reads, as it picks them: `--kubeconfig`,
/// else each file of `$KUBECONFIG`, else `~/.kube/config` (with no
/// `$HOME`, `.kube/config` where it runs).
pub fn kubeconfig_files(given: Option<&Path>) -> Vec<PathBuf> {
    if let Some(path) = given {
        return vec![path.to_path_buf()];
    }
    match std::env::var_os("KUBECONFIG").filter(|k| !k.is_empty()) {
        Some(list) => std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_default();
            vec![Path::new(&home).join(".kube/config")]
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.reference())?;
        if let Some(ns) = &self.namespace {
            write!(f, " -n {ns}")?;
        }
        Ok(())
    }
}

/// How kubectl is invoked: the binary, the global flags passed through, and
/// the timeout of each invocation.
#[derive(Debug, Clone)]
pub struct Kubectl {
    pub program: PathBuf,
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub timeout: Duration,
}

/// What [`Kubectl::check`] found out; its Display is for the log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubectlInfo {
    /// kubectl's client version, or `(unknown version)`.
    pub version: String,
    /// The context kubectl uses: `--context`, else the kubeconfig's current
    /// one; None when kubectl did not say (in-cluster, a wrapper).
    pub context: Option<String>,
    /// The namespace kubectl uses without `-n`, as it picks it: the
    /// context's, else in a pod the pod's, else `default`; None without a
    /// context outside a pod (kubectl has no cluster to ask).
    pub namespace: Option<String>,
}

impl fmt::Display for KubectlInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.version)?;
        if let Some(ctx) = &self.context {
            // The current context comes from a file: no control characters
            // may reach the terminal.
            write!(f, " (context {})", ctx.escape_debug())?;
        }
        Ok(())
    }
}

/// The part of `kubectl config view -o json` that [`Kubectl::check`] reads.
#[derive(Clone)]
struct KubeConfig {
    /// Sorted.
    contexts: Vec<String>,
    current: Option<String>,
    /// Each context's namespace, when it names one.
    namespaces: BTreeMap<String, String>,
}

impl KubeConfig {
    /// The namespace kubectl uses in `context` without `-n`: client-go's
    /// rule is the context's, else, where kubectl could use its in-cluster
    /// config, the pod's (`in_cluster`, see [`in_cluster_namespace`]), else
    /// `default`.
    fn namespace(&self, context: &str, in_cluster: Option<&str>) -> String {
        match self.namespaces.get(context) {
            Some(ns) => ns.clone(),
            None => in_cluster.unwrap_or("default").to_string(),
        }
    }
}

/// The contexts of `kubectl config view -o json`; None when it is not
/// kubectl's answer.
fn parse_config(out: &[u8]) -> Option<KubeConfig> {
    let v: serde_json::Value = serde_json::from_slice(out).ok()?;
    if v["kind"] != "Config" {
        return None;
    }
    let list = match &v["contexts"] {
        // kubectl's answer for a kubeconfig with none, or no kubeconfig.
        serde_json::Value::Null => &Vec::new(),
        serde_json::Value::Array(list) => list,
        _ => return None,
    };
    let mut contexts = list
        .iter()
        .map(|c| c["name"].as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()?;
    contexts.sort();
    let namespaces = list
        .iter()
        .filter_map(|c| {
            let ns = c["context"]["namespace"]
                .as_str()
                .filter(|ns| !ns.is_empty())?;
            Some((c["name"].as_str()?.to_string(), ns.to_string()))
        })
        .collect();
    let current = v["current-context"]
        .as_str()
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    Some(KubeConfig {
        contexts,
        current,
        namespaces,
    })
}

/// Where a pod's kubectl finds its service account (client-go's
/// `rest.InClusterConfig`).
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The namespace kubectl takes in a pod without `-n` or a context that
/// names one, as client-go's clientcmd picks it (`inClusterClientConfig`):
/// `POD_NAMESPACE`, else the service account's `namespace` file, else
/// `default`. `None` where kubectl could not use its in-cluster config
/// (clientcmd's `Possible`: both service variables set, the token a file).
fn in_cluster_namespace(env: impl Fn(&str) -> Option<String>, dir: &Path) -> Option<String> {
    let set = |var: &str| env(var).filter(|v| !v.is_empty());
    let token = std::fs::metadata(dir.join("token")).is_ok_and(|m| !m.is_dir());
    if set("KUBERNETES_SERVICE_HOST").is_none()
        || set("KUBERNETES_SERVICE_PORT").is_none()
        || !token
    {
        return None;
    }
    let file = std::fs::read_to_string(dir.join("namespace")).unwrap_or_default();
    let file = Some(file.trim().to_string()).filter(|ns| !ns.is_empty());
    Some(
        set("POD_NAMESPACE")
            .or(file)
            .unwrap_or_else(|| "default".into()),
    )
}

/// The contexts a kubeconfig has, for an error message: quoted (names come
/// from a file) and bounded.
fn contexts_note(contexts: &[String]) -> String {
    const SHOWN: usize = 10;
    if contexts.is_empty() {
        return "it has no contexts".to_string();
    }
    let mut names: Vec<String> = contexts
        .iter()
        .take(SHOWN)
        .map(|c| format!("{c:?}"))
        .collect();
    if contexts.len() > SHOWN {
        names.push(format!("and {} more", contexts.len() - SHOWN));
    }
    format!("its contexts: {}", names.join(", "))
}

/// The least time `kubectl version --client` gets in [`Kubectl::check`].
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

impl Kubectl {
    pub fn new(program: impl Into<PathBuf>, timeout: Duration) -> Kubectl {
        Kubectl {
            program: program.into(),
            kubeconfig: None,
            context: None,
            timeout,
        }
    }

    /// Checks what can be checked before anything talks to a cluster: the
    /// kubeconfig exists, kubectl starts, and the context, when given, is
    /// one of the kubeconfig's. Returns kubectl's client version and the
    /// context it will use, for the log.
    pub fn check(&self) -> Result<KubectlInfo, DriverError> {
        if let Some(path) = &self.kubeconfig {
            // What kubectl would say, in one line: a directory is not a
            // missing file, and a path it cannot reach says why.
            let problem = match std::fs::metadata(path) {
                Ok(m) if m.is_dir() => Some("a directory, not a kubeconfig file".to_string()),
                Ok(_) => None,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("no such file".into()),
                Err(e) => Some(e.to_string()),
            };
            if let Some(problem) = problem {
                return Err(DriverError::Invalid(format!(
                    "kubeconfig {}: {problem}",
                    path.display()
                )));
            }
        }
        if let Some(ctx) = &self.context {
            if ctx.is_empty() || ctx.chars().any(char::is_control) {
                return Err(DriverError::Invalid(format!("invalid context {ctx:?}")));
            }
        }
        let args = [
            "version".to_string(),
            "--client=true".into(),
            "-o".into(),
            "json".into(),
        ];
        // Only "cannot start" and "hangs" fail here: a kubectl wrapper with
        // an odd `version` still gets its chance at the real calls.
        // `version --client` talks to no server; a short --kubectl-timeout
        // meant for a hanging API server must not fail a slow-starting
        // kubectl (a gcloud dispatcher, a loaded machine).
        let mut patient = self.clone();
        patient.timeout = self.timeout.max(CHECK_TIMEOUT);
        let out = match patient.run(&args) {
            Ok(out) => out,
            Err(DriverError::Process(ProcessError::Spawn { program, source })) => {
                return Err(DriverError::NoTool {
                    tool: "kubectl",
                    program,
                    source,
                })
            }
            Err(DriverError::Process(e)) => {
                return Err(DriverError::Output {
                    command: "start-up check".into(),
                    message: format!(
                        "{e} (`version --client` gets at least {}s, whatever --kubectl-timeout)",
                        CHECK_TIMEOUT.as_secs()
                    ),
                })
            }
            Err(_) => Vec::new(),
        };
        let version = serde_json::from_slice::<serde_json::Value>(&out)
            .ok()
            .and_then(|v| {
                v["clientVersion"]["gitVersion"]
                    .as_str()
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "(unknown version)".to_string());
        // A mistyped --context fails every kubectl call of every cycle;
        // kubectl says so only once a cycle runs, after the state lock and
        // the decision log exist. Said here, it is one line and no files.
        // The context kubectl uses, a wrapper's own `--context` included
        // (`config view --minify` is of the context in use; the file's
        // current-context is not a wrapper's): lpa names it on each call.
        let used = match self.context {
            Some(_) => None,
            None => patient.config(true)?,
        };
        let listed = match (&self.context, &used) {
            (None, Some(_)) => used.clone(),
            _ => patient.config(false)?,
        };
        let Some(config) = listed else {
            return Ok(KubectlInfo {
                version,
                context: self.context.clone(),
                namespace: None,
            });
        };
        let context = match &self.context {
            Some(ctx) if !config.contexts.contains(ctx) => {
                return Err(DriverError::Invalid(format!(
                    "context {ctx:?} is not in {} ({})",
                    self.kubeconfig_name(),
                    contexts_note(&config.contexts)
                )))
            }
            Some(ctx) => Some(ctx.clone()),
            None => used
                .and_then(|u| u.current)
                .or_else(|| config.current.clone()),
        };
        let in_cluster =
            in_cluster_namespace(|v| std::env::var(v).ok(), Path::new(SERVICE_ACCOUNT_DIR));
        // No context: kubectl runs on its in-cluster config, or not at all.
        let namespace = match context.as_deref() {
            Some(ctx) => Some(config.namespace(ctx, in_cluster.as_deref())),
            None => in_cluster,
        };
        Ok(KubectlInfo {
            version,
            context,
            namespace,
        })
    }

    /// The kubeconfig as kubectl merges it (`config view` reads files and
    /// never a server). None when this kubectl does not answer it as
    /// kubectl does (a wrapper, a stand-in): the real calls still get their
    /// chance, as with an odd `version`. A kubeconfig kubectl cannot load
    /// is an error: every call of every cycle would fail on it.
    fn config(&self, minify: bool) -> Result<Option<KubeConfig>, DriverError> {
        let mut args = ["config", "view", "-o", "json"].map(String::from).to_vec();
        if minify {
            args.push("--minify".into());
        }
        let out = match self.run(&args) {
            Ok(out) => out,
            Err(DriverError::Failed { stderr, .. })
                if stderr.contains("error loading config file") =>
            {
                return Err(DriverError::Invalid(format!(
                    "{}: kubectl cannot load it: {}",
                    self.kubeconfig_name(),
                    stderr.trim_start_matches("error: ")
                )))
            }
            Err(_) => return Ok(None),
        };
        Ok(parse_config(&out))
    }

    fn kubeconfig_name(&self) -> String {
        match &self.kubeconfig {
            Some(path) => format!("kubeconfig {}", path.display()),
            // Which files kubectl merged, as it chooses them: a user with
            // several kubeconfigs needs to know which one to edit.
            None => match std::env::var_os("KUBECONFIG").filter(|k| !k.is_empty()) {
                Some(list) => format!("the kubeconfig $KUBECONFIG={}", list.to_string_lossy()),
                None => match std::env::var_os("HOME") {
                    Some(home) => format!(
                        "the kubeconfig {}",
                        Path::new(&home).join(".kube/config").display()
                    ),
                    None => "the kubeconfig ~/.kube/config".to_string(),
                },
            },
        }
    }

    fn global_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        // One argv entry each, `--flag=value`: a value can never be read as
        // another flag.
        if let Some(k) = &self.kubeconfig {
            args.push(format!("--kubeconfig={}", k.display()));
        }
        if let Some(c) = &self.context {
            args.push(format!("--context={c}"));
        }
        args
    }

    pub(crate) fn render(&self, args: &[String]) -> String {
        let mut s = self.program.display().to_string();
        for a in args.iter().chain(&self.global_args()) {
            s.push(' ');
            s.push_str(a);
        }
        s
    }

    /// Runs kubectl with `args` (plus the global flags); stdout on success.
    pub(crate) fn run(&self, args: &[String]) -> Result<Vec<u8>, DriverError> {
        self.run_with_input(args, None)
    }

    /// [`Kubectl::run`] with `stdin` fed to kubectl.
    pub(crate) fn run_with_input(
        &self,
        args: &[String],
        stdin: Option<&[u8]>,
    ) -> Result<Vec<u8>, DriverError> {
        let mut cmd = Command::new(&self.program);
        cmd.args(args).args(self.global_args());
        // kubectl waits for a server forever by default. Its own process
        // group outlives lpa killed by a signal it cannot catch (CPA's
        // hook timeout, the OOM killer): bounded, it ends by itself.
        cmd.arg(format!(
            "--request-timeout={}ms",
            self.timeout.as_millis().max(1)
        ));
        let done = process::run_group(&mut cmd, stdin, self.timeout).map_err(|e| match e {
            // Named as the failures are, by the call: "kubectl: timed out"
            // left which of a cycle's calls hung to be guessed, and what
            // kubectl had said of it (a 409 it kept retrying) unsaid.
            ProcessError::Timeout {
                timeout, stderr, ..
            } => ProcessError::Timeout {
                program: self.render(args),
                timeout,
                stderr,
            },
            e => e,
        })?;
        if done.stdout_cut {
            return Err(DriverError::Output {
                command: self.render(args),
                message: format!(
                    "printed more than {} MiB, more than any answer lpa asks for; not read",
                    process::MAX_STDOUT >> 20
                ),
            });
        }
        if done.status.success() {
            return Ok(done.stdout);
        }
        let code = done
            .status
            .code()
            .map(|c| c.to_string())
            .unwrap_or_else(|| done.status.to_string());
        Err(DriverError::Failed {
            command: self.render(args),
            code,
            stderr: kubectl_error(&done.stderr),
        })
    }
}

/// kubectl's own error out of its stderr. client-go logs retries as klog
/// lines (`E1128 01:26:32.743494 26901 memcache.go:381] ...`) before the
/// line that matters (`Error from server ...`, `error: ...`); keep the
/// latter, or the last line when there is nothing else.
fn kubectl_error(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let is_klog = |l: &str| {
        let b = l.as_bytes();
        b.len() > 5
            && b"IWEF".contains(&b[0])
            && b[1..5].iter().all(u8::is_ascii_digit)
            && b[5] == b' '
    };
    let plain: Vec<&str> = lines.iter().copied().filter(|l| !is_klog(l)).collect();
    let chosen = if plain.is_empty() {
        lines.last().copied().unwrap_or("").to_string()
    } else {
        plain.join(" ")
    };
    one_line(chosen.as_bytes())
}

/// The first bytes of an output, for an error message.
fn snippet(out: &[u8]) -> String {
    let line = one_line(out);
    if line.chars().count() > 80 {
        format!("{}...", line.chars().take(77).collect::<String>())
    } else {
        line
    }
}

/// A workload scaled through kubectl.
#[derive(Debug, Clone)]
pub struct KubectlTarget {
    pub kubectl: Kubectl,
    pub workload: Workload,
    /// The Events' `reportingInstance`: this host's name (in a pod, the
    /// pod's).
    pub instance: String,
    /// The last read of the workload: where its Events go.
    seen: Option<Seen>,
    /// The namespace the first read found, where no `-n` was given.
    first_namespace: Option<String>,
    /// The Lease that makes this the one loop scaling the workload, when
    /// several may run ([`Lease`]).
    pub lease: Option<Lease>,
    /// The ConfigMap the state is kept in beside the state file.
    pub state_map: Option<StateConfigMap>,
}

/// The Events' `reportingController`.
pub const CONTROLLER: &str = "lpa";
/// Kubernetes refuses a longer `note` (events.k8s.io/v1 validation).
const NOTE_LIMIT: usize = 1024;

impl KubectlTarget {
    pub fn new(kubectl: Kubectl, workload: Workload) -> KubectlTarget {
        let host = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        KubectlTarget {
            kubectl,
            workload,
            instance: if host.is_empty() {
                CONTROLLER.into()
            } else {
                host
            },
            seen: None,
            first_namespace: None,
            lease: None,
            state_map: None,
        }
    }

    /// The Kubernetes Event (`events.k8s.io/v1`) telling `event` about the
    /// workload as last read, at `now`, and the namespace it goes in.
    pub fn kube_event(
        &self,
        event: &Event,
        now: Timestamp,
    ) -> Result<(String, KubeEvent), DriverError> {
        let seen = self.seen.as_ref();
        let namespace = self.namespace().ok_or_else(|| {
            DriverError::Invalid(format!(
                "{}: no valid namespace known for its events",
                self.workload
            ))
        })?;
        // client-go's naming: the object's name and the time in hex, unique
        // per object and cut to fit a name's 253 characters; a cut that
        // ends in '-' or '.' would make the name invalid.
        let suffix = format!(".{:x}", now.as_nanosecond());
        let stem: String = self
            .workload
            .name
            .chars()
            .take(253 - suffix.len())
            .collect();
        let stem = stem.trim_end_matches(['-', '.']);
        let kind = self.workload.kind;
        let kube = KubeEvent {
            metadata: ObjectMeta {
                name: Some(format!("{stem}{suffix}")),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(now)),
            reason: Some(event.reason.as_str().into()),
            type_: Some(
                if event.reason.is_warning() {
                    "Warning"
                } else {
                    "Normal"
                }
                .into(),
            ),
            action: Some(event.reason.action().into()),
            note: Some(clip(&event.note, NOTE_LIMIT)),
            reporting_controller: Some(CONTROLLER.into()),
            reporting_instance: Some(clip(&self.instance, 128)),
            regarding: Some(ObjectReference {
                api_version: Some("apps/v1".into()),
                kind: Some(kind.title().into()),
                name: Some(self.workload.name.clone()),
                namespace: Some(namespace.clone()),
                uid: seen.and_then(|s| s.uid.clone()),
                ..ObjectReference::default()
            }),
            ..KubeEvent::default()
        };
        Ok((namespace, kube))
    }

    /// The namespace the target is scaled in: `-n`'s, else what a first
    /// read finds (read now when none was yet: a kubectl wrapper's own
    /// `-n` is not the context's, where the HPA check looked). `None`
    /// when that read fails.
    pub fn scaled_namespace(&mut self) -> Option<String> {
        if self.workload.namespace.is_none() && self.first_namespace.is_none() {
            let _ = ScaleTarget::replicas(self);
        }
        self.workload
            .namespace
            .clone()
            .or_else(|| self.first_namespace.clone())
    }

    /// The namespace of the workload as last read (kubectl's context's
    /// when no `-n` was given), else as given.
    fn namespace(&self) -> Option<String> {
        self.seen
            .as_ref()
            .and_then(|s| s.namespace.clone())
            .or_else(|| self.workload.namespace.clone())
            .filter(|ns| is_dns1123_label(ns))
    }

    /// [`KubectlTarget::namespace`], or an error naming `what` needs it.
    fn namespace_for(&self, what: &str) -> Result<String, DriverError> {
        self.namespace().ok_or_else(|| {
            DriverError::Invalid(format!(
                "{}: no valid namespace known for its {what}",
                self.workload
            ))
        })
    }

    /// The HPAs that target the workload now, named for a refused scale
    /// (one list, only then); `None` when there are none or the list
    /// cannot be read: the refusal is said either way.
    fn rival(&self) -> Option<String> {
        let hpas = hpa::targeting(&self.kubectl, &self.namespace()?, &self.workload).ok()??;
        (!hpas.is_empty()).then(|| hpa::named(&hpas))
    }

    fn namespace_args(&self) -> Vec<String> {
        match self
            .workload
            .namespace
            .as_ref()
            .or(self.first_namespace.as_ref())
        {
            Some(ns) => vec!["-n".into(), ns.clone()],
            None => Vec::new(),
        }
    }
}

/// What a read of the workload found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `spec.replicas`; Kubernetes defaults a missing count to 1 for all
    /// three kinds.
    pub replicas: u32,
    /// `metadata.name`, which must be the name asked for.
    pub name: Option<String>,
    /// `metadata.namespace`: where its Events go, also when no `-n` was
    /// given (kubectl used the context's namespace).
    pub namespace: Option<String>,
    pub uid: Option<String>,
    /// `status.readyReplicas`: 0 when there is a status without it
    /// (Kubernetes leaves a zero out), `None` without a status.
    pub ready: Option<u32>,
}

/// Why kubectl's `-o json` output is not the workload asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    #[error("output is empty, expected JSON")]
    Empty,
    #[error("output is not JSON ({message}): {snippet:?}")]
    NotJson { message: String, snippet: String },
    #[error("output is a {found:?}, expected a {expected}")]
    WrongKind {
        found: String,
        expected: &'static str,
    },
    #[error("output has no \"kind\", expected a {expected}")]
    NoKind { expected: &'static str },
    #[error("output is not a valid {kind} ({message})")]
    Invalid { kind: &'static str, message: String },
    #[error("spec.replicas is negative: {0}")]
    NegativeReplicas(i32),
}

/// The workload in a kubectl `-o json` output.
pub fn parse_workload(kind: Kind, json: &[u8]) -> Result<Seen, OutputError> {
    fn typed<T: DeserializeOwned>(json: &[u8], kind: Kind) -> Result<T, OutputError> {
        if json.iter().all(u8::is_ascii_whitespace) {
            return Err(OutputError::Empty);
        }
        let value: serde_json::Value =
            serde_json::from_slice(json).map_err(|e| OutputError::NotJson {
                message: e.to_string(),
                snippet: snippet(json),
            })?;
        // k8s-openapi checks `kind` only when present and defaults a missing
        // spec; `{}` must not read as "1 replica".
        match value.get("kind").and_then(|k| k.as_str()) {
            Some(k) if k == kind.title() => {}
            Some(k) => {
                return Err(OutputError::WrongKind {
                    found: k.to_string(),
                    expected: kind.title(),
                })
            }
            None => {
                return Err(OutputError::NoKind {
                    expected: kind.title(),
                })
            }
        }
        serde_json::from_value(value).map_err(|e| OutputError::Invalid {
            kind: kind.title(),
            message: e.to_string(),
        })
    }
    let (metadata, replicas, ready) = match kind {
        Kind::Deployment => {
            let d = typed::<Deployment>(json, kind)?;
            let ready = d.status.map(|s| s.ready_replicas.unwrap_or(0));
            (d.metadata, d.spec.replicas, ready)
        }
        Kind::StatefulSet => {
            let d = typed::<StatefulSet>(json, kind)?;
            let ready = d.status.map(|s| s.ready_replicas.unwrap_or(0));
            (d.metadata, d.spec.replicas, ready)
        }
        Kind::ReplicaSet => {
            let d = typed::<ReplicaSet>(json, kind)?;
            let ready = d.status.map(|s| s.ready_replicas.unwrap_or(0));
            (d.metadata, d.spec.replicas, ready)
        }
    };
    let replicas = match replicas {
        None => 1,
        Some(r) => u32::try_from(r).map_err(|_| OutputError::NegativeReplicas(r))?,
    };
    Ok(Seen {
        replicas,
        name: metadata.name,
        namespace: metadata.namespace,
        uid: metadata.uid,
        // A count Kubernetes never writes (negative) is no report.
        ready: ready.and_then(|r| u32::try_from(r).ok()),
    })
}

/// kubectl's message when `--current-replicas` does not hold:
/// `error: Expected replicas to be 2, was 5`. Returns the count it saw.
fn precondition_failure(stderr: &str) -> Option<Option<u32>> {
    if let Some(at) = stderr.find("Expected replicas to be ") {
        let rest = &stderr[at..];
        let seen = rest
            .split_once(", was ")
            .and_then(|(_, n)| n.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok());
        return Some(seen);
    }
    // A write conflict that outlived kubectl's own retries.
    if stderr.contains("the object has been modified") {
        return Some(None);
    }
    None
}

impl ScaleTarget for KubectlTarget {
    fn describe(&self) -> String {
        self.workload.to_string()
    }

    fn ready(&self) -> Option<u32> {
        self.seen.as_ref().and_then(|s| s.ready)
    }

    fn replicas(&mut self) -> Result<u32, DriverError> {
        let mut args = vec!["get".to_string(), self.workload.reference()];
        args.extend(self.namespace_args());
        args.extend(["-o".to_string(), "json".to_string()]);
        let out = self.kubectl.run(&args)?;
        let seen = parse_workload(self.workload.kind, &out)
            .map_err(|e| e.to_string())
            .and_then(|seen| self.workload.is_asked_for(seen))
            .map_err(|message| DriverError::Output {
                command: self.kubectl.render(&args),
                message,
            })?;
        let replicas = seen.replicas;
        if self.first_namespace.is_none() {
            // Where kubectl took it without -n (a context's namespace, a
            // wrapper's own -n): every later call names it, so `kubens`
            // beside lpa does not move it. Not in the target's name, which
            // the decision log keeps as the user gave it.
            self.first_namespace = seen.namespace.clone().filter(|ns| is_dns1123_label(ns));
        }
        self.seen = Some(seen);
        Ok(replicas)
    }

    fn scale(&mut self, from: u32, to: u32) -> Result<(), DriverError> {
        if let Some(lease) = self.lease.as_ref().filter(|l| !l.held()) {
            return Err(DriverError::Invalid(lease.not_held()));
        }
        if to > lpa_core::config::MAX_REPLICAS {
            // kubectl would send it as a negative int32.
            return Err(DriverError::Invalid(format!(
                "cannot scale {} to {to}: Kubernetes' replicas are at most {} (set maxReplicas)",
                self.workload,
                lpa_core::config::MAX_REPLICAS
            )));
        }
        let mut args = vec!["scale".to_string(), self.workload.reference()];
        args.extend(self.namespace_args());
        args.push(format!("--current-replicas={from}"));
        args.push(format!("--replicas={to}"));
        match self.kubectl.run(&args) {
            Ok(_) => Ok(()),
            Err(DriverError::Failed {
                stderr,
                command,
                code,
            }) => match precondition_failure(&stderr) {
                Some(seen) => Err(DriverError::Changed {
                    target: self.describe(),
                    expected: from,
                    seen,
                    rival: self.rival(),
                }),
                None => Err(DriverError::Failed {
                    command,
                    code,
                    stderr,
                }),
            },
            Err(e) => Err(e),
        }
    }

    fn lead(&mut self) -> Result<Option<Lead>, DriverError> {
        if self.lease.is_none() {
            return Ok(None);
        }
        let namespace = self.namespace_for("lease")?;
        let Some(lease) = &mut self.lease else {
            return Ok(None);
        };
        let lead = lease.lead(&namespace)?;
        // Taken (or taken back): the holder before wrote the state since.
        if let (Lead::Leader { news: Some(_) }, Some(map)) = (&lead, &mut self.state_map) {
            map.due = true;
        }
        Ok(Some(lead))
    }

    fn pull_state(&mut self) -> Result<Option<Pulled>, DriverError> {
        if !self.state_map.as_ref().is_some_and(|m| m.due) {
            return Ok(None);
        }
        let namespace = self.namespace_for("state configmap")?;
        let Some(map) = self.state_map.as_mut() else {
            return Ok(None);
        };
        let pulled = map.read(&namespace)?;
        map.due = map.every_cycle;
        Ok(pulled)
    }

    fn push_state(&mut self, json: &str) -> Result<Option<Pushed>, DriverError> {
        if self.state_map.is_none() {
            return Ok(None);
        }
        let namespace = self.namespace_for("state configmap")?;
        let Some(map) = self.state_map.as_mut() else {
            return Ok(None);
        };
        // Unread, it may hold a state this loop has not decided from.
        if map.due {
            return Err(DriverError::Invalid(format!(
                "{}: not written: not read yet (read again next cycle)",
                map.named(&namespace)
            )));
        }
        map.write(&namespace, json).map(Some)
    }

    fn lead_lost(&self) -> Option<String> {
        self.lease.as_ref().and_then(Lease::lost)
    }

    fn release(&mut self) -> Result<Option<String>, DriverError> {
        let namespace = self.namespace();
        match (&mut self.lease, namespace) {
            (Some(lease), Some(ns)) => lease.release(&ns),
            _ => Ok(None),
        }
    }

    /// `kubectl create --raw` of the Event: one POST, without kubectl's
    /// discovery and OpenAPI downloads; RBAC sees `create` on
    /// `events.k8s.io` `events`.
    fn record(&mut self, event: &Event) -> Result<(), DriverError> {
        let (namespace, kube) = self.kube_event(event, Timestamp::now())?;
        self.kubectl
            .create_raw(&collection_path::<KubeEvent>(&namespace), &kube)
            .map(drop)
    }
}

/// The API path of the objects of type `R` in `namespace`, for kubectl's
/// `--raw` verbs: `/apis/events.k8s.io/v1/namespaces/default/events`, and
/// for the core group, which has no group in its path,
/// `/api/v1/namespaces/default/configmaps`.
pub(crate) fn collection_path<R: Resource>(namespace: &str) -> String {
    let root = if R::GROUP.is_empty() { "api" } else { "apis" };
    format!(
        "/{root}/{}/namespaces/{namespace}/{}",
        R::API_VERSION,
        R::URL_PATH_SEGMENT
    )
}

/// Whether kubectl failed because the API server answered with the
/// status `reason` (`Conflict`, `AlreadyExists`, `NotFound`): kubectl
/// writes it as `Error from server (Conflict): ...`.
pub(crate) fn answered_with(e: &DriverError, reason: &str) -> bool {
    matches!(e, DriverError::Failed { stderr, .. } if stderr.contains(&format!("({reason})")))
}

/// One request each, through kubectl's `--raw` verbs: no discovery, no
/// OpenAPI download, and RBAC sees exactly `get`, `create` or `update`.
impl Kubectl {
    /// `get --raw PATH` read as `T` (`what` names it in an error), or
    /// `None` when there is no object there (404 NotFound).
    pub(crate) fn get_raw<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> Result<Option<T>, DriverError> {
        let args = ["get", "--raw", path].map(String::from);
        match self.run(&args) {
            Ok(out) => serde_json::from_slice(&out)
                .map(Some)
                .map_err(|e| DriverError::Output {
                    command: self.render(&args),
                    message: format!("not {what}: {e}"),
                }),
            Err(e) if answered_with(&e, "NotFound") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `create --raw COLLECTION -f -` of `body`: POST; the server's answer.
    pub(crate) fn create_raw<T: Serialize>(
        &self,
        collection: &str,
        body: &T,
    ) -> Result<Vec<u8>, DriverError> {
        self.send_raw("create", collection, body)
    }

    /// `replace --raw PATH -f -` of `body`: PUT, refused (409 Conflict)
    /// when the `resourceVersion` it names is not the stored one; the
    /// server's answer.
    pub(crate) fn replace_raw<T: Serialize>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<Vec<u8>, DriverError> {
        self.send_raw("replace", path, body)
    }

    fn send_raw<T: Serialize>(
        &self,
        verb: &str,
        path: &str,
        body: &T,
    ) -> Result<Vec<u8>, DriverError> {
        let json = serde_json::to_vec(body).expect("an object serialises");
        let args = [verb, "--raw", path, "-f", "-"].map(String::from);
        self.run_with_input(&args, Some(&json))
    }
}

/// `text` cut to at most `max` bytes, on a character boundary, marked `…`.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replicas(kind: Kind, json: &[u8]) -> Result<u32, String> {
        parse_workload(kind, json)
            .map(|w| w.replicas)
            .map_err(|e| e.to_string())
    }

    fn fixture(name: &str) -> Vec<u8> {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/kubectl")
            .join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn targets_parse_with_kubectl_kind_names() {
        let w = Workload::parse("deployment/fibonacci", Some("default")).unwrap();
        assert_eq!((w.kind, w.name.as_str()), (Kind::Deployment, "fibonacci"));
        assert_eq!(w.to_string(), "deployment/fibonacci -n default");
        assert_eq!(
            Workload::parse("sts/db-0.x", None).unwrap().kind,
            Kind::StatefulSet
        );
        assert_eq!(
            Workload::parse("ReplicaSet/web-5d9", None).unwrap().kind,
            Kind::ReplicaSet
        );
    }

    #[test]
    fn dangerous_and_malformed_targets_are_rejected() {
        let cases = [
            ("deployment/x;rm -rf /", None, "invalid target \"deployment/x;rm -rf /\": name \"x;rm -rf /\" is not a valid Kubernetes name (DNS-1123 subdomain"),
            ("deployment/$(reboot)", None, "name \"$(reboot)\" is not a valid Kubernetes name"),
            ("deployment/`id`", None, "is not a valid Kubernetes name"),
            ("deployment/-x", None, "is not a valid Kubernetes name"),
            ("deployment/X", None, "is not a valid Kubernetes name"),
            ("deployment/", None, "name \"\" is not a valid Kubernetes name"),
            ("deployment/a/b", None, "is not a valid Kubernetes name"),
            ("deployment/a..b", None, "is not a valid Kubernetes name"),
            ("pod/x", None, "unknown kind \"pod\" (expected deployment, statefulset or replicaset)"),
            ("fibonacci", None, "expected KIND/NAME"),
            ("deployment/x", Some("a.b"), "invalid namespace \"a.b\": not a valid Kubernetes namespace (DNS-1123 label"),
            ("deployment/x", Some("--all-namespaces"), "invalid namespace"),
            ("deployment/x", Some(""), "invalid namespace"),
        ];
        for (target, ns, want) in cases {
            let e = Workload::parse(target, ns).unwrap_err().to_string();
            assert!(e.contains(want), "{target} {ns:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn replicas_from_kubectl_json() {
        assert_eq!(
            replicas(Kind::Deployment, &fixture("deployment.json")),
            Ok(3)
        );
        assert_eq!(
            replicas(Kind::Deployment, &fixture("deployment-no-replicas.json")),
            Ok(1)
        );
        assert_eq!(
            replicas(Kind::StatefulSet, &fixture("statefulset.json")),
            Ok(2)
        );
        assert_eq!(
            replicas(Kind::ReplicaSet, &fixture("replicaset.json")),
            Ok(4)
        );
    }

    #[test]
    fn ready_replicas_come_from_the_status() {
        let ready = |kind, json: &[u8]| parse_workload(kind, json).unwrap().ready;
        assert_eq!(
            ready(Kind::Deployment, &fixture("deployment.json")),
            Some(3)
        );
        assert_eq!(
            ready(Kind::StatefulSet, &fixture("statefulset.json")),
            Some(2)
        );
        // A status without readyReplicas: Kubernetes leaves a zero out.
        assert_eq!(
            ready(Kind::ReplicaSet, &fixture("replicaset.json")),
            Some(0)
        );
        // No status at all: nothing reported.
        let bare = br#"{"kind": "Deployment", "metadata": {"name": "a"}, "spec": {"replicas": 2}}"#;
        assert_eq!(ready(Kind::Deployment, bare), None);
    }

    #[test]
    fn events_name_the_workload_as_read() {
        let seen = parse_workload(Kind::Deployment, &fixture("deployment.json")).unwrap();
        assert_eq!(
            (seen.namespace.as_deref(), seen.uid.as_deref()),
            (
                Some("default"),
                Some("5b0c2c1e-8a0e-4a57-9d41-2f7a3e1f6c10")
            )
        );
        // No -n: the namespace comes from the read.
        let mut target = KubectlTarget::new(
            Kubectl::new("kubectl", Duration::from_secs(1)),
            Workload::parse("deploy/fibonacci", None).unwrap(),
        );
        let event = Event {
            reason: super::super::EventReason::ScaleRefused,
            note: format!("{}é", "x".repeat(1100)),
        };
        let now: Timestamp = "2026-11-28T01:32:41.123456789Z".parse().unwrap();
        assert!(target.kube_event(&event, now).is_err(), "nothing read yet");
        target.seen = Some(seen);
        target.instance = "lpa-7d9f-x2".into();
        let (ns, kube) = target.kube_event(&event, now).unwrap();
        assert_eq!(ns, "default");
        let json = serde_json::to_value(&kube).unwrap();
        assert_eq!(json["apiVersion"], "events.k8s.io/v1");
        assert_eq!(json["kind"], "Event");
        assert_eq!(json["metadata"]["name"], "fibonacci.18ec11789be8c715");
        assert_eq!(json["eventTime"], "2026-11-28T01:32:41.123456Z");
        assert_eq!(
            (&json["reason"], &json["type"], &json["action"]),
            (&"ScaleRefused".into(), &"Warning".into(), &"Scale".into())
        );
        assert_eq!(json["reportingController"], "lpa");
        assert_eq!(json["reportingInstance"], "lpa-7d9f-x2");
        assert_eq!(
            json["regarding"],
            serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "fibonacci",
                "namespace": "default", "uid": "5b0c2c1e-8a0e-4a57-9d41-2f7a3e1f6c10"})
        );
        let note = json["note"].as_str().unwrap();
        assert!(note.len() <= 1024 && note.ends_with("x…"), "{}", note.len());
        // The longest names, cut where a '-' or a '.' would end the stem.
        for name in [
            format!("{}-{}", "a".repeat(235), "b".repeat(17)),
            format!("{}.{}", "a".repeat(235), "b".repeat(17)),
        ] {
            target.workload = Workload::parse(&format!("deploy/{name}"), None).unwrap();
            let (_, kube) = target.kube_event(&event, now).unwrap();
            let event_name = kube.metadata.name.unwrap();
            assert!(
                is_dns1123_subdomain(&event_name),
                "{event_name} ({} characters)",
                event_name.len()
            );
            assert!(event_name.starts_with(&"a".repeat(235)), "{event_name}");
        }
    }

    #[test]
    fn output_of_another_name_or_namespace_is_an_error() {
        let json = |name: &str, ns: &str| {
            format!(
                r#"{{"kind":"Deployment","metadata":{{"name":"{name}","namespace":"{ns}"}},"spec":{{"replicas":2}}}}"#
            )
        };
        let check = |target: &str, ns: Option<&str>, json: String| {
            let seen = parse_workload(Kind::Deployment, json.as_bytes()).unwrap();
            Workload::parse(target, ns)
                .unwrap()
                .is_asked_for(seen)
                .map(|s| s.replicas)
        };
        assert_eq!(
            check("deployment/web", Some("prod"), json("web", "prod")),
            Ok(2)
        );
        assert_eq!(check("deployment/web", None, json("web", "default")), Ok(2));
        assert_eq!(
            check("deployment/web", None, json("api", "default")),
            Err("output is the Deployment \"api\", not \"web\" as asked for".to_string())
        );
        let bare = |target: &str, ns: Option<&str>| {
            let json = br#"{"kind":"Deployment","spec":{"replicas":2}}"#;
            let seen = parse_workload(Kind::Deployment, json).unwrap();
            Workload::parse(target, ns)
                .unwrap()
                .is_asked_for(seen)
                .map(|s| s.replicas)
        };
        assert_eq!(
            bare("deployment/web", None),
            Err(
                "output is a Deployment without metadata.name, which the API server always writes"
                    .to_string()
            )
        );
        let unplaced = br#"{"kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":2}}"#;
        let seen = parse_workload(Kind::Deployment, unplaced).unwrap();
        assert_eq!(
            Workload::parse("deployment/web", Some("prod")).unwrap().is_asked_for(seen).map(|s| s.replicas),
            Err("output is a Deployment without metadata.namespace, which the API server always writes".to_string())
        );
        assert_eq!(
            check("deployment/web", Some("prod"), json("web", "staging")),
            Err(
                "output is a Deployment of namespace \"staging\", not \"prod\" as asked for"
                    .to_string()
            )
        );
    }

    #[test]
    fn output_that_is_not_the_kind_is_an_error() {
        let e = replicas(Kind::Deployment, b"No resources found\n").unwrap_err();
        assert_eq!(
            e,
            "output is not JSON (expected value at line 1 column 1): \"No resources found\""
        );
        let e = replicas(Kind::StatefulSet, &fixture("deployment.json")).unwrap_err();
        assert_eq!(e, "output is a \"Deployment\", expected a StatefulSet");
        let e = replicas(Kind::Deployment, b"{}").unwrap_err();
        assert_eq!(e, "output has no \"kind\", expected a Deployment");
        let e = replicas(
            Kind::Deployment,
            br#"{"kind":"Deployment","spec":{"replicas":"three"}}"#,
        )
        .unwrap_err();
        assert!(
            e.starts_with("output is not a valid Deployment (invalid type: string"),
            "{e}"
        );
        assert_eq!(
            replicas(Kind::Deployment, b"  \n").unwrap_err(),
            "output is empty, expected JSON"
        );
        let e = replicas(
            Kind::Deployment,
            br#"{"kind":"Deployment","apiVersion":"apps/v1","spec":{"replicas":-2}}"#,
        )
        .unwrap_err();
        assert_eq!(e, "spec.replicas is negative: -2");
    }

    #[test]
    fn kubectl_errors_skip_client_go_retry_logs() {
        let stderr = b"E1128 01:26:32.743494 26901 memcache.go:381] \"Couldn't get current server API group list\"\nE1128 01:26:32.785157 26901 memcache.go:381] again\nError from server (InternalError): an error on the server (\"unknown\") has prevented the request from succeeding\n";
        assert_eq!(
            kubectl_error(stderr),
            "Error from server (InternalError): an error on the server (\"unknown\") has prevented the request from succeeding"
        );
        assert_eq!(
            kubectl_error(b"I0101 00:00:00.000000 1 x.go:1] only logs\n"),
            "I0101 00:00:00.000000 1 x.go:1] only logs"
        );
        assert_eq!(kubectl_error(b""), "");
    }

    #[test]
    fn the_namespace_without_n_is_the_contexts_as_kubectl_picks_it() {
        let view = br#"{"kind": "Config", "current-context": "a", "contexts": [
            {"name": "a", "context": {"cluster": "c", "namespace": "shop"}},
            {"name": "b", "context": {"cluster": "c"}},
            {"name": "e", "context": {"cluster": "c", "namespace": ""}}]}"#;
        let config = parse_config(view).unwrap();
        assert_eq!(config.namespace("a", None), "shop");
        assert_eq!(config.namespace("a", Some("pods")), "shop");
        assert_eq!(config.namespace("b", None), "default");
        assert_eq!(config.namespace("e", None), "default");
        // In a pod kubectl takes the pod's namespace.
        assert_eq!(config.namespace("b", Some("pods")), "pods");
    }

    #[test]
    fn in_a_pod_the_namespace_is_the_one_client_go_reads() {
        let dir = tempfile::tempdir().unwrap();
        let pod = |extra: &'static [(&'static str, &'static str)]| {
            move |var: &str| {
                [
                    ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
                    ("KUBERNETES_SERVICE_PORT", "443"),
                ]
                .iter()
                .chain(extra)
                .find(|(k, _)| *k == var)
                .map(|(_, v)| v.to_string())
            }
        };
        // No token: kubectl could not use its in-cluster config.
        assert_eq!(in_cluster_namespace(pod(&[]), dir.path()), None);
        std::fs::write(dir.path().join("token"), "t").unwrap();
        assert_eq!(
            in_cluster_namespace(pod(&[]), dir.path()).as_deref(),
            Some("default")
        );
        std::fs::write(dir.path().join("namespace"), "shop\n").unwrap();
        assert_eq!(
            in_cluster_namespace(pod(&[]), dir.path()).as_deref(),
            Some("shop")
        );
        // The downward API's POD_NAMESPACE comes first, set and not empty.
        assert_eq!(
            in_cluster_namespace(pod(&[("POD_NAMESPACE", "web")]), dir.path()).as_deref(),
            Some("web")
        );
        assert_eq!(
            in_cluster_namespace(pod(&[("POD_NAMESPACE", "")]), dir.path()).as_deref(),
            Some("shop")
        );
        // Both service variables, or none of it.
        let half = |var: &str| (var == "KUBERNETES_SERVICE_HOST").then(|| "10.0.0.1".to_string());
        assert_eq!(in_cluster_namespace(half, dir.path()), None);
    }

    #[test]
    fn the_context_is_named_safely_and_briefly() {
        let info = |context: Option<&str>| KubectlInfo {
            version: "v1.37.1".into(),
            context: context.map(str::to_string),
            namespace: None,
        };
        assert_eq!(info(None).to_string(), "v1.37.1");
        assert_eq!(info(Some("prod")).to_string(), "v1.37.1 (context prod)");
        assert_eq!(
            info(Some("a\nb\x1b[2J")).to_string(),
            "v1.37.1 (context a\\nb\\u{1b}[2J)"
        );
        assert_eq!(contexts_note(&[]), "it has no contexts");
        let many: Vec<String> = (0..12).map(|i| format!("c{i:02}")).collect();
        let note = contexts_note(&many);
        assert!(
            note.starts_with("its contexts: \"c00\", \"c01\","),
            "{note}"
        );
        assert!(note.ends_with("\"c09\", and 2 more"), "{note}");
    }

    #[test]
    fn the_core_group_has_no_group_in_its_path() {
        use k8s_openapi::api::coordination::v1::Lease as KubeLease;
        use k8s_openapi::api::core::v1::ConfigMap;
        assert_eq!(
            collection_path::<ConfigMap>("shop"),
            "/api/v1/namespaces/shop/configmaps"
        );
        assert_eq!(
            collection_path::<KubeLease>("shop"),
            "/apis/coordination.k8s.io/v1/namespaces/shop/leases"
        );
    }

    #[test]
    fn precondition_failures_are_recognised() {
        assert_eq!(
            precondition_failure("error: Expected replicas to be 2, was 5"),
            Some(Some(5))
        );
        assert_eq!(
            precondition_failure("Error from server (Conflict): Operation cannot be fulfilled on deployments.apps \"x\": the object has been modified; please apply your changes to the latest version and try again"),
            Some(None)
        );
        assert_eq!(
            precondition_failure("error: the server doesn't have a resource type \"deployment\""),
            None
        );
    }
}
