//! `lpa evaluate`: the CPA evaluate hook.
//!
//! 1. Read CPA's JSON from stdin (v2, or the v0 shapes).
//! 2. Load and validate the evaluation config.
//! 3. With `stateConfigMap` (`--state-configmap`), read the state's copy
//!    in the cluster: one a new pod has not got (its emptyDir went with the
//!    old pod) replaces the state file's.
//! 4. Decide under the state file's lock (`StateLock::decide_from`, the
//!    run loop's transaction too): load the state (a corrupt file starts
//!    fresh), `decide`, save the next state unless this is an
//!    `api_dry_run`, and write it to the ConfigMap too. The lock is taken
//!    before step 3 and held through the write.
//! 5. Only then print `{"targetReplicas": N}`: on any error stdout stays
//!    empty and the exit is non-zero, which CPA reads as "do not scale".

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use lpa_core::wire::{parse_evaluate_input, MetricReport, Resource};
use lpa_core::State;
use lpa_drivers::run_loop::now_secs;
use lpa_drivers::scale::kubectl::Kubectl;
use lpa_drivers::scale::state_configmap::StateConfigMap;
use lpa_drivers::scale::DriverError;
use lpa_drivers::state_file::{StateFile, StateLock};

use super::hook;
use crate::cli::{EvaluateArgs, DEFAULT_LOCUSTFILE};
use crate::settings::{load_config_under, print_line, Failure, Result};

/// What an evaluation keeps of CPA's evaluate timeout for itself past
/// its kubectl calls: its start, the decision and the answer.
const ANSWER_MARGIN: Duration = Duration::from_millis(500);
/// A kubectl call given less than this would not get its answer.
const SHORTEST_CALL: Duration = Duration::from_millis(100);

pub fn run(args: EvaluateArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let eval = parse_evaluate_input(&hook::read_stdin("evaluate")?)?;
    let cpa = hook::CpaConfig::load(|k| std::env::var(k).ok());
    if let Some(w) = &cpa.warning {
        say!("lpa: warning: {w}");
    }
    let mut policy = load_config_under(&args.policy, &cpa.file_bounds)?.policy;
    let name = args.policy.evaluation_config.display().to_string();
    if let Some(w) = cpa.bound(&mut policy, &name) {
        say!("lpa: warning: {w}");
    }
    let current = eval.current_replicas().ok_or_else(|| {
        Failure::new("evaluate stdin: resource.spec.replicas: missing, and no metric carries current_replicas")
    })?;
    let mut obs = eval.observation(now_secs(), current);
    obs.applier_window_secs = cpa.window_secs();

    // CPA scales after this answer: the decision takes effect unless dry.
    let dry = eval.run_type.is_dry_run();
    let name = eval.resource.name.as_deref().unwrap_or("target");
    let deadline = cpa.evaluate_timeout_ms.map(|ms| {
        (
            ms,
            started + Duration::from_millis(ms).saturating_sub(ANSWER_MARGIN),
        )
    });
    let mut copy = ClusterCopy::new(&args, &eval.resource, deadline);
    // What the hooks read: a state saved over one would destroy it.
    let locustfile = std::env::var_os("locustFilePath")
        .filter(|p| !p.is_empty())
        .map_or_else(|| DEFAULT_LOCUSTFILE.into(), PathBuf::from);
    let ca_bundle = std::env::var_os("LPA_CA_BUNDLE").filter(|p| !p.is_empty());
    let mut inputs = vec![
        (
            "--evaluation-config (evaluationConfigFilePath)",
            args.policy.evaluation_config.clone(),
        ),
        ("CPA's config (configPath)", cpa.path.clone()),
        ("the metric hook's locustFilePath", locustfile),
    ];
    inputs.extend(ca_bundle.map(|p| ("the metric hook's LPA_CA_BUNDLE", p.into())));
    if copy.is_some() {
        let files = lpa_drivers::scale::kubectl::kubeconfig_files(None);
        inputs.extend(files.into_iter().map(|p| ("the kubeconfig", p)));
    }
    crate::settings::apart_from_state(
        "--decay-info (decayInfoFilePath)",
        &args.state.decay_info,
        &inputs,
    )?;
    // Held from the copy's read to its write: an evaluation at the same
    // time (CPA's REST API beside its scheduler) that read the copy
    // before this one wrote it would take it over this one's save.
    let state = StateFile::new(&args.state.decay_info).lock()?;
    let prior = match &mut copy {
        Some(copy) => copy.pull(&state, dry, name)?,
        None => None,
    };
    let decided = state.decide_from(prior.as_ref(), &obs, &policy, |_| !dry)?;
    // A failed save is the one line: a "starting fresh" before it would
    // tell of a state nothing used (CPA gets no answer), and the next
    // evaluation warns again, the file being as it was.
    if let Err(e) = decided.saved {
        return Err(e.into());
    }
    if let Some(w) = decided.warning() {
        say!("lpa: warning: {w}");
    }
    if let Some(copy) = &mut copy {
        if !dry {
            copy.push(&state, &decided.state);
        }
    }
    drop(state);
    let decision = decided.decision;

    say!(
        "lpa evaluate: {name}: {decision}{} => {} {}{}",
        failure_kinds(&eval.metrics),
        eval.answer_key(),
        decision.replicas,
        if dry {
            " (dry run: state not saved)"
        } else {
            ""
        }
    );
    print_line(&eval.answer(decision.replicas))?;
    Ok(ExitCode::SUCCESS)
}

/// The state's copy in the cluster (`--state-configmap`, CPA config
/// `stateConfigMap`): the ConfigMap in the target's namespace, read before
/// each decision and written after each save, so that a new CPA pod (its
/// emptyDir gone with the old one) goes on from what the last one learned.
/// Every failure but a ConfigMap of another target is a warning, and the
/// state file decides: CPA must get its answer.
struct ClusterCopy {
    map: StateConfigMap,
    namespace: String,
    /// Read this evaluation: a copy not read may hold a state newer than
    /// the file's, and is not written over.
    read: bool,
    /// CPA's evaluate timeout (ms), and when the kubectl calls must be
    /// done for the answer to reach CPA before it: a wait for the lock
    /// (an evaluation at the same time) or a slow API server spends it.
    deadline: Option<(u64, Instant)>,
    timeout: Duration,
}

impl ClusterCopy {
    fn new(
        args: &EvaluateArgs,
        resource: &Resource,
        deadline: Option<(u64, Instant)>,
    ) -> Option<ClusterCopy> {
        let name = args.state_configmap.as_deref()?;
        let (Some(kind), Some(target), Some(namespace)) =
            (&resource.kind, &resource.name, &resource.namespace)
        else {
            say!("lpa: warning: stateConfigMap {name}: CPA's input names no kind, name and namespace of the target (CPA before v1?): the state is kept in the state file only");
            return None;
        };
        // As `lpa run` names it (`deployment/web`): one ConfigMap is one
        // workload's, whichever of the two keeps it.
        let target = format!("{}/{target}", kind.to_ascii_lowercase());
        let kubectl = Kubectl::new(&args.kubectl, args.kubectl_timeout);
        let mut map = StateConfigMap::new(kubectl, name, &target);
        map.hook = true;
        Some(ClusterCopy {
            map,
            namespace: namespace.clone(),
            read: false,
            deadline,
            timeout: args.kubectl_timeout,
        })
    }

    /// Bounds the next kubectl call by what is left before the deadline;
    /// why not, when too little is left for one.
    fn budget(&mut self) -> std::result::Result<(), String> {
        let Some((ms, deadline)) = self.deadline else {
            return Ok(());
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left < SHORTEST_CALL {
            return Err(format!(
                "no time left before CPA's evaluate timeout ({ms} ms)"
            ));
        }
        self.map.set_timeout(self.timeout.min(left));
        Ok(())
    }

    /// Reads the copy; the state to decide from in place of the file's
    /// when a dry run takes it (one that saves takes it into the file).
    fn pull(&mut self, state: &StateLock, dry: bool, name: &str) -> Result<Option<State>> {
        let pulled = match self.budget() {
            Ok(()) => match self.map.read(&self.namespace) {
                Ok(Some(pulled)) => Ok(pulled),
                Ok(None) => {
                    self.read = true;
                    return Ok(None);
                }
                Err(e @ DriverError::Invalid(_)) => {
                    return Err(Failure::new(format!("state configmap: {e}")))
                }
                Err(e) => Err(e.to_string()),
            },
            Err(why) => Err(why),
        };
        let pulled = match pulled {
            Ok(pulled) => pulled,
            Err(why) => {
                say!(
                    "lpa: warning: cannot read the state's copy in the cluster: {why}; deciding from the state file {}, and not writing the copy this time",
                    state.path().display()
                );
                return Ok(None);
            }
        };
        self.read = true;
        let taken = state.take(&pulled, dry);
        // In step is every evaluation's case: only a change is news.
        if let Some(note) = taken.note.filter(|_| !taken.in_step) {
            say!("lpa evaluate: {name}: {note}");
        }
        if let Some(w) = taken.warning {
            say!("lpa: warning: {w}");
        }
        Ok(taken.prior)
    }

    /// Writes the state just saved. A failure is a warning: the file
    /// holds it, and the next evaluation writes it again.
    fn push(&mut self, state: &StateLock, saved: &State) {
        if !self.read {
            return;
        }
        let json = serde_json::to_string(saved).expect("State serialises");
        let written = self.budget().map_err(DriverError::Invalid);
        let written = written.and_then(|()| self.map.write(&self.namespace, &json));
        for w in state.written(written).warnings {
            say!("lpa: warning: {w}");
        }
    }
}

/// The most frequent failure kinds of the metrics (`; failures: HTTP 503
/// x40, connection reset x2`), so the one stderr line says what went wrong
/// and not only how often; empty when no metric names its failures.
fn failure_kinds(metrics: &[MetricReport]) -> String {
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    for f in metrics.iter().flat_map(|m| m.failures.values()) {
        *kinds.entry(f.error.as_str()).or_default() += f.occurrences;
    }
    let mut kinds: Vec<_> = kinds.into_iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if kinds.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = kinds
        .iter()
        .take(3)
        .map(|(error, n)| format!("{error} x{n}"))
        .collect();
    let more = match kinds.len().saturating_sub(3) {
        0 => String::new(),
        n => format!(" and {n} more kinds"),
    };
    format!("; failures: {}{more}", shown.join(", "))
}
