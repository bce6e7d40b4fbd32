//! The state file's copy in the cluster (`lpa run --state-configmap NAME`,
//! and CPA's evaluate hook with `stateConfigMap`): a ConfigMap in the
//! target's namespace whose `state.json` key holds the state file's JSON,
//! so that what a loop learned (the decay counter, the latency model, the
//! recommendations window) outlives its pod, and a standby that takes the
//! Lease over decides from the holder's state. The hook, a new process
//! each evaluation, reads it before each decision.
//!
//! ```text
//!   first decision, lease taken ──► get --raw .../configmaps/NAME ──► StateLock::adopt
//!   each state file save        ──► replace --raw (resourceVersion) │ create --raw when absent
//! ```
//!
//! As with the Lease ([`super::lease`]), kubectl's `--raw` verbs make one
//! request each, every write names the `resourceVersion` last read or
//! written (a ConfigMap written by another since is refused, 409, never
//! overwritten unseen), and the ConfigMap names the workload it belongs
//! to in its `lpa/target` annotation: one given to loops on two targets is
//! an error, not a state mixed from both.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::kubectl::{answered_with, collection_path, Kubectl};
use super::lease::{other_target, with_target, TARGET_ANNOTATION};
use super::DriverError;

/// The data key that holds the state file's JSON.
pub const STATE_KEY: &str = "state.json";

/// The API server refuses a ConfigMap whose data passes 1 MiB
/// (`MaxSecretSize`, which ConfigMaps share); a state past this leaves
/// room for the metadata and is not written.
pub const SIZE_LIMIT: usize = 1_000_000;
/// A state past this is written, with a warning: a few KB is usual, and
/// one that grows this far is on its way to the limit.
pub const SIZE_WARNING: usize = 512 * 1024;

/// The state as the ConfigMap held it when read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// `configmap NS/NAME`, for messages.
    pub named: String,
    /// Its `resourceVersion`: the API server changes it on every write.
    pub version: String,
    /// Its `state.json`, `None` when it has no such key.
    pub json: Option<String>,
}

/// What a write of the state did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `configmap NS/NAME`.
    pub named: String,
    /// The `resourceVersion` the write made.
    pub version: String,
    /// A state near the size limit says so.
    pub warning: Option<String>,
}

/// A ConfigMap this loop keeps its state in.
#[derive(Debug, Clone)]
pub struct StateConfigMap {
    kubectl: Kubectl,
    pub name: String,
    /// The workload whose state it keeps (`deployment/web`).
    target: String,
    /// The ConfigMap as last read or written (its `resourceVersion` is
    /// what the next write names; its other keys are written back as
    /// they were); `None` before a read, when there was none.
    seen: Option<ConfigMap>,
    /// Read it before the next decision: at the first, and once this loop
    /// takes the Lease from another, which wrote it meanwhile.
    pub due: bool,
    /// Read it before every decision (a dry run, which saves nothing and
    /// follows the deciding loop's saves).
    pub every_cycle: bool,
    /// Kept by CPA's evaluate hook (`stateConfigMap` in the
    /// CustomPodAutoscaler's config), a new process each evaluation that
    /// reads it first, where a loop (`--state-configmap`) reads it once.
    pub hook: bool,
}

impl StateConfigMap {
    pub fn new(kubectl: Kubectl, name: &str, target: &str) -> StateConfigMap {
        StateConfigMap {
            kubectl,
            name: name.to_string(),
            target: target.to_string(),
            seen: None,
            due: true,
            every_cycle: false,
            hook: false,
        }
    }

    /// Bounds each kubectl call from now on: a hook's share of what is
    /// left of CPA's timeout.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.kubectl.timeout = timeout;
    }

    /// What the user set it with, for messages.
    fn setting(&self) -> &'static str {
        if self.hook {
            "stateConfigMap"
        } else {
            "--state-configmap"
        }
    }

    /// `configmap default/lpa-state`.
    pub fn named(&self, namespace: &str) -> String {
        format!("configmap {namespace}/{}", self.name)
    }

    fn path(&self, namespace: &str) -> String {
        format!("{}/{}", collection_path::<ConfigMap>(namespace), self.name)
    }

    /// Reads the ConfigMap: `None` when there is none. One that names
    /// another target is an error.
    pub fn read(&mut self, namespace: &str) -> Result<Option<Pulled>, DriverError> {
        let Some(map) = self
            .kubectl
            .get_raw::<ConfigMap>(&self.path(namespace), "a ConfigMap")?
        else {
            self.seen = None;
            return Ok(None);
        };
        if let Some(theirs) = other_target(&map.metadata, &self.target) {
            return Err(DriverError::Invalid(format!(
                "{} keeps the state of {theirs} (its {TARGET_ANNOTATION} annotation), not {}: give each target a {} of its own",
                self.named(namespace),
                self.target,
                self.setting()
            )));
        }
        let version = map.metadata.resource_version.clone().unwrap_or_default();
        let json = map.data.as_ref().and_then(|d| d.get(STATE_KEY).cloned());
        self.seen = Some(map);
        Ok(Some(Pulled {
            named: self.named(namespace),
            version,
            json,
        }))
    }

    /// Writes `json` as the state: a replace naming the version last read
    /// or written, or a create when there was none, or none is left (one
    /// deleted since is created again).
    /// A ConfigMap written by another since (409 Conflict, or created
    /// first: AlreadyExists) is an error saying so, and is read again
    /// before the next write.
    pub fn write(&mut self, namespace: &str, json: &str) -> Result<Pushed, DriverError> {
        // The server counts every key and value of data and binaryData,
        // and a write keeps the keys lpa does not own.
        let others = self.seen.as_ref().map_or(0, |map| {
            let data = map.data.iter().flatten();
            let binary = map.binary_data.iter().flatten();
            data.filter(|(k, _)| *k != STATE_KEY)
                .map(|(k, v)| k.len() + v.len())
                .chain(binary.map(|(k, v)| k.len() + v.0.len()))
                .sum::<usize>()
        });
        let total = others + STATE_KEY.len() + json.len();
        let size = || match others {
            0 => format!("the state is {} bytes", json.len()),
            _ => format!(
                "the state is {} bytes and the ConfigMap's other keys {others}",
                json.len()
            ),
        };
        if total > SIZE_LIMIT {
            return Err(DriverError::Invalid(format!(
                "{}: not written: {}, past the {SIZE_LIMIT} a ConfigMap holds (1 MiB with its metadata)",
                self.named(namespace),
                size()
            )));
        }
        let warning = (total > SIZE_WARNING).then(|| {
            format!(
                "{}: {}, near the {SIZE_LIMIT} a ConfigMap holds",
                self.named(namespace),
                size()
            )
        });
        // What was read keeps its labels, annotations, version and other
        // keys (a note added by hand): only state.json is lpa's.
        let fresh = self.seen.is_none();
        let mut body = self.seen.clone().unwrap_or_else(|| ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(namespace.to_string()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        });
        body.metadata = with_target(body.metadata, &self.target);
        body.data
            .get_or_insert_with(BTreeMap::new)
            .insert(STATE_KEY.to_string(), json.to_string());
        let create = |body: &ConfigMap| {
            self.kubectl
                .create_raw(&collection_path::<ConfigMap>(namespace), body)
        };
        let answer = if fresh {
            create(&body)
        } else {
            match self.kubectl.replace_raw(&self.path(namespace), &body) {
                // Deleted since (by hand, or with its namespace's
                // cleanup): a replace would find none for good; this
                // loop's state is the newest there is, so create it.
                Err(e) if answered_with(&e, "NotFound") => {
                    let mut body = body;
                    body.metadata = ObjectMeta {
                        name: Some(self.name.clone()),
                        namespace: Some(namespace.to_string()),
                        labels: body.metadata.labels,
                        annotations: body.metadata.annotations,
                        ..ObjectMeta::default()
                    };
                    create(&body)
                }
                answer => answer,
            }
        };
        let out = match answer {
            Ok(out) => out,
            Err(e) if answered_with(&e, "Conflict") || answered_with(&e, "AlreadyExists") => {
                let why = if self.hook {
                    // The hook ends here, and the next evaluation reads the
                    // copy first: a read now would only spend CPA's timeout.
                    "written by another since this evaluation read it (a second CPA, or lpa run, with the same ConfigMap?): the next evaluation takes it in place of the state file"
                } else {
                    // Read before the next write: the last read would be
                    // refused again for good.
                    self.read(namespace)?;
                    "written by another since this loop read it (another lpa on the same --state-configmap without a --lease?); read again, the next cycle writes over it"
                };
                return Err(DriverError::Invalid(format!(
                    "{}: not written: {why}",
                    self.named(namespace)
                )));
            }
            Err(e) => return Err(e),
        };
        let written: ConfigMap = serde_json::from_slice(&out).map_err(|e| DriverError::Output {
            command: format!("kubectl --raw {}", self.path(namespace)),
            message: format!("the answer is not a ConfigMap: {e}"),
        })?;
        let version = written
            .metadata
            .resource_version
            .clone()
            .unwrap_or_default();
        self.seen = Some(written);
        Ok(Pushed {
            named: self.named(namespace),
            version,
            warning,
        })
    }
}
