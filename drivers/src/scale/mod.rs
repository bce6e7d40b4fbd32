//! Scale targets: where the current replica count comes from and where a
//! decision goes. One trait, because there are two implementations: kubectl
//! against a cluster and the local process pool.
//!
//! ```text
//!   run_loop ──replicas()──► ScaleTarget ──► kubectl get ... -o json
//!            ──scale(seen, n)──►         ──► kubectl scale --current-replicas=seen --replicas=n
//! ```
//!
//! A target never overwrites a change made by someone else: `scale` gets the
//! count the caller saw, and answers [`DriverError::Changed`] when the target
//! no longer has it. What a cycle did (scaled, refused, failed) goes back to
//! the target as an [`Event`], which kubectl records on the workload.

pub mod hpa;
pub mod kubectl;
pub mod lease;
mod listener;
pub mod local;
pub mod state_configmap;

use crate::process::ProcessError;

/// Something with a replica count that can be read and changed.
pub trait ScaleTarget {
    /// How the target is named in logs: `deployment/fibonacci -n default`.
    fn describe(&self) -> String;
    /// The current replica count.
    fn replicas(&mut self) -> Result<u32, DriverError>;
    /// How many of them were ready to serve at the last [`replicas`]
    /// read, when the target reports it (the default does not).
    ///
    /// [`replicas`]: ScaleTarget::replicas
    fn ready(&self) -> Option<u32> {
        None
    }
    /// Changes the count from `from` (what the caller saw) to `to`. When the
    /// target is no longer at `from`, nothing is changed and the answer is
    /// [`DriverError::Changed`].
    fn scale(&mut self, from: u32, to: u32) -> Result<(), DriverError>;
    /// Records what a cycle did to the target where the target's watchers
    /// look (kubectl: a Kubernetes Event on the workload). The default
    /// records nothing.
    fn record(&mut self, _event: &Event) -> Result<(), DriverError> {
        Ok(())
    }
    /// Whether this loop may scale the target this cycle, when several
    /// may run: `None` when it is the only one (the default), else what
    /// its Lease says. Called after [`replicas`], so the target is known.
    ///
    /// [`replicas`]: ScaleTarget::replicas
    fn lead(&mut self) -> Result<Option<lease::Lead>, DriverError> {
        Ok(None)
    }
    /// Why this loop may no longer act on what [`ScaleTarget::lead`] said
    /// at the cycle's start (its renewal a whole duration old: another
    /// may hold the Lease now); `None` while it may.
    fn lead_lost(&self) -> Option<String> {
        None
    }
    /// Gives up what [`ScaleTarget::lead`] holds, when the loop ends; what
    /// it did, for the log.
    fn release(&mut self) -> Result<Option<String>, DriverError> {
        Ok(None)
    }
    /// The state as the cluster keeps it, when this loop should decide
    /// from it: before its first decision, and once it takes its Lease
    /// from another loop. `None` when the target keeps none (the
    /// default), it is not due, or there is none yet.
    fn pull_state(&mut self) -> Result<Option<state_configmap::Pulled>, DriverError> {
        Ok(None)
    }
    /// Keeps `json`, the state just saved, where [`ScaleTarget::pull_state`]
    /// reads it; `None` when the target keeps no state (the default).
    fn push_state(&mut self, _json: &str) -> Result<Option<state_configmap::Pushed>, DriverError> {
        Ok(None)
    }
}

/// What a cycle did to the target, as its watchers should hear of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub reason: EventReason,
    /// One line: the decision's summary (and why it was not applied), or
    /// why the load test failed.
    pub note: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventReason {
    ScaledUp,
    ScaledDown,
    /// The count changed outside lpa since it was read: not overwritten.
    ScaleRefused,
    ScaleFailed,
    /// The load test failed: nothing was decided.
    ProbeFailed,
}

impl EventReason {
    /// Its name, as a Kubernetes Event's `reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventReason::ScaledUp => "ScaledUp",
            EventReason::ScaledDown => "ScaledDown",
            EventReason::ScaleRefused => "ScaleRefused",
            EventReason::ScaleFailed => "ScaleFailed",
            EventReason::ProbeFailed => "ProbeFailed",
        }
    }

    /// A scale that happened is normal; the rest wants a look.
    pub fn is_warning(self) -> bool {
        !matches!(self, EventReason::ScaledUp | EventReason::ScaledDown)
    }

    /// What lpa was doing: `Scale`, or `LoadTest`.
    pub fn action(self) -> &'static str {
        match self {
            EventReason::ProbeFailed => "LoadTest",
            _ => "Scale",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The target's count changed since it was read: someone else scaled.
    #[error("{target}: replicas changed outside lpa since they were read (expected {expected}{}{}); not overwritten", seen.map(|s| format!(", now {s}")).unwrap_or_default(), rival.as_ref().map(|r| format!("; {r} scales it too")).unwrap_or_default())]
    Changed {
        target: String,
        expected: u32,
        seen: Option<u32>,
        /// Who else scales the target, when the target can tell (an HPA).
        rival: Option<String>,
    },
    /// The tool could not be started or timed out.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// The tool ran and failed; `stderr` is its own explanation.
    #[error("{command}: exit {code}{}", said(stderr))]
    Failed {
        command: String,
        code: String,
        stderr: String,
    },
    /// The tool's output is not what was asked for.
    #[error("{command}: {message}")]
    Output { command: String, message: String },
    /// The target cannot be addressed as given; caught before anything runs.
    #[error("{0}")]
    Invalid(String),
    /// The scaling tool itself is not there; the caller says how to point
    /// at another.
    #[error("{tool} {program}: cannot start: {source} (install {tool})")]
    NoTool {
        tool: &'static str,
        program: String,
        source: std::io::Error,
    },
}

impl DriverError {
    /// Whether a write that failed so may have been made all the same: a
    /// timeout, a server error (a gateway's 504, a 503), a connection cut
    /// mid-answer; not an answer that refuses it (403, 404, 422, 429, a
    /// 409).
    pub fn may_have_applied(&self) -> bool {
        match self {
            DriverError::Process(ProcessError::Timeout { .. }) => true,
            DriverError::Failed { stderr, .. } => {
                const REFUSED: [&str; 11] = [
                    "(Forbidden)",
                    "(Unauthorized)",
                    "(NotFound)",
                    "(Invalid)",
                    "(BadRequest)",
                    "(Conflict)",
                    "(AlreadyExists)",
                    "(MethodNotAllowed)",
                    "(NotAcceptable)",
                    "(UnsupportedMediaType)",
                    "(TooManyRequests)",
                ];
                // Anything else may have been sent and made: a 5xx after a
                // server's warning line, a client timeout awaiting the
                // answer, a connection lost; read again, it costs a read.
                !REFUSED
                    .iter()
                    .any(|r| stderr.contains(&format!("Error from server {r}")))
            }
            _ => false,
        }
    }
}

/// `: STDERR`, or nothing for a tool killed before it said anything (a
/// signal leaves stderr empty, and `exit signal: 9 (SIGKILL): ` read as
/// something cut off).
fn said(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_refused_by_the_server_was_not_made_one_it_failed_may_have_been() {
        let failed = |stderr: &str| DriverError::Failed {
            command: "kubectl scale deployment/web".into(),
            code: "1".into(),
            stderr: stderr.into(),
        };
        for made in [
            "Error from server (Timeout): the server may still be processing the request",
            "Error from server (InternalError): an error on the server",
            "Error from server (ServiceUnavailable): try again",
            "error: read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer",
            "Warning: a webhook's word Error from server (InternalError): an error on the server",
            "Unable to connect to the server: net/http: request canceled (Client.Timeout exceeded while awaiting headers)",
        ] {
            assert!(failed(made).may_have_applied(), "{made}");
        }
        for refused in [
            "Error from server (Forbidden): deployments.apps \"web\" is forbidden: User cannot update resource \"deployments/scale\"",
            "Error from server (NotFound): deployments.apps \"web\" not found",
            "Error from server (TooManyRequests): slow down",
        ] {
            assert!(!failed(refused).may_have_applied(), "{refused}");
        }
    }

    #[test]
    fn a_failed_tool_with_nothing_on_stderr_ends_at_its_exit() {
        let failed = |stderr: &str| {
            DriverError::Failed {
                command: "kubectl get deployment/web".into(),
                code: "signal: 9 (SIGKILL)".into(),
                stderr: stderr.into(),
            }
            .to_string()
        };
        assert_eq!(
            failed(""),
            "kubectl get deployment/web: exit signal: 9 (SIGKILL)"
        );
        assert_eq!(
            failed("error: not found"),
            "kubectl get deployment/web: exit signal: 9 (SIGKILL): error: not found"
        );
    }
}
