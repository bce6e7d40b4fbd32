//! One loop per workload, however many run: leader election on a
//! `coordination.k8s.io/v1` Lease, through kubectl, as client-go's
//! `leaderelection` package does it.
//!
//! Each cycle the loop reads the Lease. It holds it when the Lease names
//! it, when no one holds it (created new, or released by a holder that
//! stopped), or when its record has not changed for the Lease's duration
//! as this instance's own clock measures it: the holder stopped renewing.
//! Clocks of two hosts are never compared (a `renewTime` from a host whose
//! clock runs ahead would otherwise keep a dead holder's lease alive). A
//! write names the `resourceVersion` it read, so of two instances that
//! both saw the lease free, the API server lets one write and refuses the
//! other (409 Conflict): that one stands by.
//!
//! kubectl's `--raw` verbs make one request each (no discovery), and RBAC
//! sees `get`, `create` and `update` on `coordination.k8s.io` `leases`.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease as KubeLease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;

use super::kubectl::{answered_with, collection_path, Kubectl};
use super::DriverError;

/// What the Lease says this cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lead {
    /// This instance holds the Lease. `news` says how it came to, the
    /// cycle it did (created, taken over, taken back).
    Leader { news: Option<String> },
    /// Another holds it: this instance neither load-tests nor scales.
    Standby { why: String },
}

/// A Lease's leader-election record, as client-go compares it: what
/// changes when its holder renews it or another takes it. Not its
/// resourceVersion, which any write moves: a tool that labels or
/// annotates Leases kept a dead holder's for good.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    holder: Option<String>,
    renew: Option<String>,
    acquire: Option<String>,
    duration: Option<i32>,
    transitions: Option<i32>,
}

/// A Lease this instance competes for.
#[derive(Debug, Clone)]
pub struct Lease {
    kubectl: Kubectl,
    pub name: String,
    /// This instance's name in `holderIdentity`: unique to the process
    /// (`lpa run` makes it of host name, process id and a token).
    pub identity: String,
    /// How long a holder that stops renewing keeps it.
    pub duration: Duration,
    /// The record last read, and when this instance first read it so.
    observed: Option<(Record, Instant)>,
    /// When this instance last sent a write of itself as holder that the
    /// API server took: the send, not the answer, for a standby starts
    /// counting the duration when it reads the write, which may be before
    /// a slow answer reaches this instance.
    renewed: Option<Instant>,
    /// The Lease as the API server answered that write: what a release
    /// writes back, without reading it first.
    written: Option<KubeLease>,
    /// The workload this Lease guards (`deployment/web`), kept in its
    /// [`TARGET_ANNOTATION`]: one Lease name given to loops on two targets
    /// would otherwise keep one of them standing by for good.
    target: Option<String>,
}

/// The annotation naming the workload a Lease guards (or a state
/// ConfigMap keeps the state of).
pub const TARGET_ANNOTATION: &str = "lpa/target";

/// The workload other than `ours` an object's [`TARGET_ANNOTATION`]
/// names; `None` when it names `ours` or none (an object made by hand,
/// which the next write annotates).
pub(crate) fn other_target<'m>(metadata: &'m ObjectMeta, ours: &str) -> Option<&'m str> {
    let theirs = metadata.annotations.as_ref()?.get(TARGET_ANNOTATION)?;
    (theirs != ours).then_some(theirs.as_str())
}

/// `metadata` with [`TARGET_ANNOTATION`] naming `target`, the rest kept.
pub(crate) fn with_target(mut metadata: ObjectMeta, target: &str) -> ObjectMeta {
    metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(TARGET_ANNOTATION.to_string(), target.to_string());
    metadata
}

/// Sets `kubectl`'s timeout to what is left of [`RELEASE_TIMEOUT`] since
/// `started`; whether anything is.
fn left_of_release(kubectl: &mut Kubectl, started: Instant) -> bool {
    kubectl.timeout = RELEASE_TIMEOUT.saturating_sub(started.elapsed());
    !kubectl.timeout.is_zero()
}

/// The longest a release on stopping may take: a pod's grace period is
/// 30 s by default, and the step under way when the signal came may take
/// a whole `--kubectl-timeout` of it. A release that does not make it
/// only hands the Lease over after its duration instead of at once.
pub const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

impl Lease {
    pub fn new(kubectl: Kubectl, name: &str, identity: &str, duration: Duration) -> Lease {
        Lease {
            kubectl,
            name: name.to_string(),
            identity: identity.to_string(),
            duration,
            observed: None,
            renewed: None,
            written: None,
            target: None,
        }
    }

    /// The Lease guards `target` (`deployment/web`): it is written in,
    /// and a Lease that names another is an error, not a standby.
    #[must_use]
    pub fn guarding(mut self, target: &str) -> Lease {
        self.target = Some(target.to_string());
        self
    }

    /// The metadata to write: `metadata` with this Lease's target in.
    fn with_target(&self, metadata: ObjectMeta) -> ObjectMeta {
        match &self.target {
            Some(t) => with_target(metadata, t),
            None => metadata,
        }
    }

    /// `lpa-web` in `default` as `default/lpa-web`.
    fn named(&self, namespace: &str) -> String {
        format!("lease {namespace}/{}", self.name)
    }

    fn path(&self, namespace: &str) -> String {
        format!("{}/{}", collection_path::<KubeLease>(namespace), self.name)
    }

    /// Reads the Lease in `namespace`, and holds it when it can: renewed
    /// when it is this instance's, taken when it is free or its holder
    /// stopped renewing, and otherwise a standby.
    pub fn lead(&mut self, namespace: &str) -> Result<Lead, DriverError> {
        let Some(lease) = self.read(namespace)? else {
            return self.create(namespace);
        };
        if let Some(ours) = &self.target {
            if let Some(theirs) = other_target(&lease.metadata, ours) {
                return Err(DriverError::Invalid(format!(
                    "{} guards {theirs} (its {TARGET_ANNOTATION} annotation), not {ours}: give each target a --lease of its own",
                    self.named(namespace)
                )));
            }
        }
        let spec = lease.spec.clone().unwrap_or_default();
        let record = Record {
            holder: spec.holder_identity.clone().filter(|h| !h.is_empty()),
            renew: spec.renew_time.as_ref().map(|t| t.0.to_string()),
            acquire: spec.acquire_time.as_ref().map(|t| t.0.to_string()),
            duration: spec.lease_duration_seconds,
            transitions: spec.lease_transitions,
        };
        let now = Instant::now();
        let since = match &self.observed {
            Some((seen, at)) if *seen == record => *at,
            _ => now,
        };
        self.observed = Some((record.clone(), since));
        let unchanged = now.duration_since(since);
        // The holder's own word on how long it keeps the lease unrenewed.
        let keeps = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.duration, Duration::from_secs);
        let news = match &record.holder {
            Some(h) if *h == self.identity => (self.renewed.is_none())
                .then(|| format!("{}: held again by {h}", self.named(namespace))),
            None => Some(format!(
                "{}: taken by {} (no holder)",
                self.named(namespace),
                self.identity
            )),
            Some(h) if unchanged >= keeps => Some(format!(
                "{}: taken by {} from {h} (not renewed for {}s)",
                self.named(namespace),
                self.identity,
                unchanged.as_secs()
            )),
            Some(h) => {
                let lost = self.renewed.take().is_some();
                return Ok(Lead::Standby {
                    why: format!(
                        "{} {}held by {h} (renewed {}s ago, as read here)",
                        self.named(namespace),
                        if lost { "lost: now " } else { "" },
                        unchanged.as_secs()
                    ),
                });
            }
        };
        let ours = record.holder.as_deref() == Some(self.identity.as_str());
        let transitions = spec.lease_transitions.unwrap_or(0);
        let stamp = MicroTime(Timestamp::now());
        let spec = LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.duration_secs()),
            acquire_time: if ours {
                spec.acquire_time
            } else {
                Some(stamp.clone())
            },
            renew_time: Some(stamp),
            lease_transitions: Some(if ours {
                transitions
            } else {
                transitions.saturating_add(1)
            }),
            ..spec
        };
        let metadata = self.with_target(lease.metadata);
        self.write(namespace, metadata, spec, news)
    }

    /// Gives the Lease up, if this instance holds it, so a standby takes
    /// it at its next cycle rather than after the duration: the Lease as
    /// this instance last wrote it, written with no holder, within
    /// [`RELEASE_TIMEOUT`]. A write refused (409) since is read again: a
    /// Lease still this instance's (an annotation added by hand, a
    /// rollout's label) is released as read, and one another holds stays
    /// theirs. Returns what it did, for the log.
    pub fn release(&mut self, namespace: &str) -> Result<Option<String>, DriverError> {
        if self.renewed.take().is_none() {
            return Ok(None);
        }
        let started = Instant::now();
        let mut kubectl = self.kubectl.clone();
        kubectl.timeout = kubectl.timeout.min(RELEASE_TIMEOUT);
        let path = self.path(namespace);
        let mut lease = match self.written.take() {
            Some(lease) => lease,
            None => match Lease::read_with(&kubectl, &path)? {
                Some(lease) => lease,
                None => return Ok(None),
            },
        };
        let not_released = |why: &str| {
            Ok(Some(format!(
                "{}: not released: {why}",
                self.named(namespace)
            )))
        };
        for read_again in [false, true] {
            let spec = lease.spec.clone().unwrap_or_default();
            match spec.holder_identity.as_deref() {
                Some(h) if h == self.identity => {}
                Some(h) if read_again && !h.is_empty() => {
                    return not_released(&format!("held by {h} since"))
                }
                _ => return Ok(None),
            }
            let stamp = MicroTime(Timestamp::now());
            // client-go's release: no holder, and a duration of a second.
            let spec = LeaseSpec {
                holder_identity: None,
                lease_duration_seconds: Some(1),
                renew_time: Some(stamp.clone()),
                acquire_time: Some(stamp),
                ..spec
            };
            let body = KubeLease {
                metadata: lease.metadata,
                spec: Some(spec),
            };
            match Lease::put_with(&kubectl, &path, &body) {
                Ok(_) => return Ok(Some(format!("{}: released", self.named(namespace)))),
                Err(e) if answered_with(&e, "Conflict") && !read_again => {
                    // The read, then the write, each get what is left.
                    if !left_of_release(&mut kubectl, started) {
                        break;
                    }
                    lease = match Lease::read_with(&kubectl, &path)? {
                        Some(lease) => lease,
                        None => return Ok(None),
                    };
                    if !left_of_release(&mut kubectl, started) {
                        break;
                    }
                }
                Err(e) if answered_with(&e, "Conflict") => break,
                Err(e) => return Err(e),
            }
        }
        not_released("written by another since")
    }

    /// Whether this instance renewed the Lease within its duration: a
    /// scale is made only then.
    pub fn held(&self) -> bool {
        self.renewed
            .is_some_and(|at| at.elapsed() < self.deadline())
    }

    /// How long after its renewal was sent this instance still scales:
    /// two thirds of the duration (client-go's renew deadline, 10 s of
    /// 15 s). A standby takes the Lease a whole duration after the send
    /// at the earliest, so a scale sent by the deadline has a third of the
    /// duration to land first. A cycle scales after its load test, which
    /// the duration counts three times over (`lpa run`'s
    /// `lease_duration`): the deadline is never what stops a working loop.
    fn deadline(&self) -> Duration {
        self.duration * 2 / 3
    }

    /// Why this instance may no longer hold the Lease: its renewal is a
    /// whole duration old, when a standby may take it. A hold needs no
    /// more (a scale needs [`Lease::held`]): on a slow API server, the
    /// first cycle's renewal, ConfigMap read and load test passed the
    /// scale's deadline, and a working loop decided nothing.
    pub fn lost(&self) -> Option<String> {
        let at = self.renewed?;
        (at.elapsed() >= self.duration).then(|| {
            format!(
                "lease {}: not renewed for {:.1}s, its whole {}s, so another loop may hold it: deciding nothing",
                self.name,
                at.elapsed().as_secs_f64(),
                self.duration_secs()
            )
        })
    }

    /// Why a scale is not made: see [`Lease::held`].
    pub fn not_held(&self) -> String {
        match self.renewed {
            Some(at) => format!(
                "lease {}: not renewed for {:.1}s, past its deadline of {:.1}s (two thirds of its {}s, so that a scale lands before another loop may take it): not scaling",
                self.name,
                at.elapsed().as_secs_f64(),
                self.deadline().as_secs_f64(),
                self.duration_secs()
            ),
            None => format!("lease {}: not held: not scaling", self.name),
        }
    }

    fn duration_secs(&self) -> i32 {
        i32::try_from(self.duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }

    /// The Lease, or `None` when there is none of that name.
    fn read(&self, namespace: &str) -> Result<Option<KubeLease>, DriverError> {
        Lease::read_with(&self.kubectl, &self.path(namespace))
    }

    fn read_with(kubectl: &Kubectl, path: &str) -> Result<Option<KubeLease>, DriverError> {
        kubectl.get_raw(path, "a Lease")
    }

    fn create(&mut self, namespace: &str) -> Result<Lead, DriverError> {
        let stamp = MicroTime(Timestamp::now());
        let body = KubeLease {
            metadata: self.with_target(ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(namespace.to_string()),
                ..ObjectMeta::default()
            }),
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(self.duration_secs()),
                acquire_time: Some(stamp.clone()),
                renew_time: Some(stamp),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        let sent = Instant::now();
        match self
            .kubectl
            .create_raw(&collection_path::<KubeLease>(namespace), &body)
        {
            Ok(out) => {
                self.renewed = Some(sent);
                self.written = Lease::answered(&out);
                Ok(Lead::Leader {
                    news: Some(format!(
                        "{}: created, held by {}",
                        self.named(namespace),
                        self.identity
                    )),
                })
            }
            // Another instance created it between the read and the create.
            Err(e) if answered_with(&e, "AlreadyExists") => Ok(Lead::Standby {
                why: format!(
                    "{} created by another instance first",
                    self.named(namespace)
                ),
            }),
            Err(e) => Err(e),
        }
    }

    fn write(
        &mut self,
        namespace: &str,
        metadata: ObjectMeta,
        spec: LeaseSpec,
        news: Option<String>,
    ) -> Result<Lead, DriverError> {
        let body = KubeLease {
            metadata,
            spec: Some(spec),
        };
        let sent = Instant::now();
        match Lease::put_with(&self.kubectl, &self.path(namespace), &body) {
            Ok(out) => {
                self.renewed = Some(sent);
                self.written = Lease::answered(&out);
                Ok(Lead::Leader { news })
            }
            // Written by another since the read: theirs stands.
            Err(e) if answered_with(&e, "Conflict") => {
                self.renewed = None;
                Ok(Lead::Standby {
                    why: format!(
                        "{} written by another instance first",
                        self.named(namespace)
                    ),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// PUTs `body` to `path`; kubectl's stdout, the server's answer.
    fn put_with(kubectl: &Kubectl, path: &str, body: &KubeLease) -> Result<Vec<u8>, DriverError> {
        kubectl.replace_raw(path, body)
    }

    /// The Lease as the server answered a write (with its new
    /// `resourceVersion`); `None` when the answer is not a Lease, and a
    /// release then reads it first.
    fn answered(out: &[u8]) -> Option<KubeLease> {
        serde_json::from_slice(out).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A kubectl that finds no Lease and answers a create after `delay`.
    fn slow_kubectl(dir: &std::path::Path, delay: &str) -> Kubectl {
        let path = dir.join("kubectl");
        let script = format!(
            "#!/bin/sh\ncase \"$1\" in\n  get) echo 'Error from server (NotFound): leases.coordination.k8s.io \"l\" not found' >&2; exit 1;;\n  *) cat >/dev/null; sleep {delay}; echo '{{}}';;\nesac\n"
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Kubectl::new(&path, Duration::from_secs(10))
    }

    #[test]
    fn held_counts_the_duration_from_when_the_write_was_sent() {
        let dir = tempfile::tempdir().unwrap();
        let kubectl = slow_kubectl(dir.path(), "0.6");
        let mut lease = Lease::new(kubectl, "l", "me_1_0", Duration::from_secs(1));
        let lead = lease.lead("default").unwrap();
        let answered = Instant::now();
        assert!(matches!(lead, Lead::Leader { .. }), "{lead:?}");
        // Counted from the send, before the read that precedes it took
        // however long a busy machine takes: not from the answer.
        let sent = lease.renewed.unwrap();
        assert!(answered - sent >= Duration::from_millis(600));
        // A standby that read the Lease as the server stored it, before
        // the slow answer came back, takes it one duration after the send
        // at the earliest: by then this instance no longer scales.
        std::thread::sleep(
            (sent + Duration::from_millis(1050)).saturating_duration_since(Instant::now()),
        );
        assert!(!lease.held(), "held {:?} after the send", sent.elapsed());
        // A whole duration after the send, another may hold it: a loop
        // decides nothing then, a hold included.
        assert!(lease.lost().is_some_and(
            |why| why.ends_with("its whole 1s, so another loop may hold it: deciding nothing")
        ));
    }

    /// A release refused (409) because the Lease was written since, by
    /// hand and not by another holder, reads it again and releases it:
    /// it stayed this instance's for its whole duration, and the standby
    /// took it 12 s late. One another holds since stays theirs.
    #[test]
    fn a_release_refused_reads_the_lease_again() {
        let dir = tempfile::tempdir().unwrap();
        let release = |holder: &str| {
            let path = dir.path().join("kubectl");
            let lease = format!(
                r#"{{"metadata":{{"name":"l","resourceVersion":"2","annotations":{{"note":"by-hand"}}}},"spec":{{"holderIdentity":"{holder}"}}}}"#
            );
            let refused = dir.path().join(format!("refused-{holder}"));
            let body = dir.path().join(format!("body-{holder}"));
            let script = format!(
                "#!/bin/sh\ncase \"$1\" in\n  get) echo '{lease}';;\n  replace) if [ -e {r} ]; then cat > {b}; echo '{{}}'; else touch {r}; echo 'Error from server (Conflict): the object has been modified' >&2; exit 1; fi;;\nesac\n",
                r = refused.display(),
                b = body.display()
            );
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            let mut lease = Lease::new(
                Kubectl::new(&path, Duration::from_secs(10)),
                "l",
                "me_1_0",
                Duration::from_secs(15),
            );
            lease.renewed = Some(Instant::now());
            lease.written = serde_json::from_str(r#"{"metadata":{"name":"l","resourceVersion":"1"},"spec":{"holderIdentity":"me_1_0"}}"#).ok();
            (
                lease.release("default").unwrap(),
                std::fs::read_to_string(&body).ok(),
            )
        };
        let (said, body) = release("me_1_0");
        assert_eq!(said.as_deref(), Some("lease default/l: released"));
        let body: serde_json::Value = serde_json::from_str(&body.unwrap()).unwrap();
        assert_eq!(body["metadata"]["resourceVersion"], "2");
        assert_eq!(body["metadata"]["annotations"]["note"], "by-hand");
        assert!(body["spec"].get("holderIdentity").is_none(), "{body}");
        let (said, body) = release("other_2_0");
        assert_eq!(
            said.as_deref(),
            Some("lease default/l: not released: held by other_2_0 since")
        );
        assert_eq!(body, None);
    }

    #[test]
    fn a_holder_stops_scaling_a_third_of_the_duration_before_a_standby_may_take_over() {
        let dir = tempfile::tempdir().unwrap();
        let mut lease = Lease::new(
            slow_kubectl(dir.path(), "0"),
            "l",
            "me_1_0",
            Duration::from_secs(3),
        );
        assert!(matches!(
            lease.lead("default").unwrap(),
            Lead::Leader { .. }
        ));
        let sent = lease.renewed.unwrap();
        assert!(lease.held(), "not held {:?} after the send", sent.elapsed());
        std::thread::sleep(
            (sent + Duration::from_millis(2100)).saturating_duration_since(Instant::now()),
        );
        assert!(!lease.held(), "held {:?} after the send", sent.elapsed());
        // Past the deadline of a scale, a hold is still its own.
        assert_eq!(lease.lost(), None);
        let why = lease.not_held();
        assert!(
            why.starts_with("lease l: not renewed for 2.")
                && why.ends_with("past its deadline of 2.0s (two thirds of its 3s, so that a scale lands before another loop may take it): not scaling"),
            "{why}"
        );
    }
}
