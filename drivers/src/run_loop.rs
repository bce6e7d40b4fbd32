//! The standalone run loop of `lpa run`, written once for every scale
//! target (kubectl, the local pool) and every load driver.
//!
//! Each cycle, in order:
//!
//! 1. **Stop?** A stop request (SIGINT, SIGTERM or SIGHUP sets the flag) ends the loop
//!    here, between cycles, with the state file as the last cycle left it.
//! 2. **Read** the current replica count from the target
//!    ([`ScaleTarget::replicas`]). A failure ends the cycle: logged, no state
//!    change.
//!    A stop request that arrived during the read ends the loop here:
//!    a loop on its way out neither takes its target's Lease nor
//!    load-tests.
//!    Then, when several loops may scale it, **lead**: the target's Lease
//!    ([`ScaleTarget::lead`]) says whether this loop scales it. A standby
//!    ends the cycle here, having load-tested and changed nothing; so does
//!    a failure to read or write the Lease. A dry run skips this step.
//!    Then, when the target keeps a copy of the state
//!    ([`ScaleTarget::pull_state`]: `--state-configmap`) and this is the
//!    loop's first decision or it just took the Lease, **pull** it: it
//!    replaces the state file's unless the file is as new
//!    ([`StateFile::adopt`]). A copy that cannot be read or is not state
//!    is a warning, and the file decides; only one kept for another
//!    target fails the cycle. A dry run reads it too, before every
//!    decision (it follows the deciding loop's saves), but only decides
//!    from it: it saves it nowhere.
//! 3. **Measure**: run the load test (the `measure` step, given the current
//!    count). A failure ends the cycle the same way.
//! 4. **Stop?** again: a stop request that arrived during the measurement
//!    ends the loop before anything is decided, so nothing is half done.
//! 5. **Lock** the state file and load the state (a missing or corrupt file
//!    starts fresh). The lock is held through steps 6–8, so another lpa
//!    sharing the file (or a CPA hook) cannot interleave its own
//!    read-decide-write: steps 5–8 are [`StateFile::decide`], the same
//!    transaction `lpa evaluate` runs, with step 7 as its `apply`.
//! 6. **Decide**: `lpa_core::decide(observation, policy, state)`. All policy
//!    lives there; this loop only carries data.
//! 7. **Apply**, unless this is a dry run or the count is unchanged:
//!    [`ScaleTarget::scale`] from the count read in step 2. If someone else
//!    changed the count meanwhile, the target refuses ([`DriverError::Changed`]):
//!    nothing is overwritten, and the core notices the outside change on
//!    the next cycle (the state still names the old count) and resets its
//!    decay counter.
//! 8. **Save** the next state, only when the decision took effect (applied,
//!    or nothing to apply) and this is not a dry run. Applying before saving
//!    is deliberate: a failed or refused scale then leaves no trace in the
//!    state, and a crash between the two only makes the next cycle see an
//!    "outside" change, which resets a counter that a scale reset anyway.
//!    A save that fails after the scale (a full disk) keeps the state in
//!    memory: the next cycle decides from it, not from the file's older
//!    one, which would read the loop's own scale as an outside change
//!    every cycle until the disk had room, and so hold every decay.
//!    A state saved is then **pushed** to the target's copy
//!    ([`ScaleTarget::push_state`]), if it keeps one: a failure there is a
//!    warning, for the file holds the state and the next save pushes again.
//! 9. **Log** one [`DecisionRecord`] line (what was observed against each
//!    target, current, decided, reasons, applied or why not).
//! 10. **Tell** the target what the cycle did to it
//!     ([`ScaleTarget::record`]: kubectl records a Kubernetes Event on the
//!     workload): a scale applied, refused or failed, or a failed load
//!     test; not for a hold, never in a dry run. A failure to record is a
//!     warning of the cycle, never its failure. Then report the [`Cycle`]
//!     to the caller, who prints the human-readable line (and, in `lpa
//!     run`, updates its metrics).
//! 11. **Wait** until `interval` after the cycle's start (at once if the
//!     cycle took longer), waking within [`STOP_POLL`] of a stop request.
//!
//! ```text
//!   ┌─► stop? ─► read ─► measure ─► stop? ─► lock ─► decide ─► apply ─► save ─► log ─► tell ─► wait ─┐
//!   │                                       └────── StateFile::decide ──────┘                          │
//!   └──────────────────────────────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! [`RunLoop`] holds the parts (target, measure step, policy, state file,
//! decision log, stop flag) and the [`Options`]; [`RunLoop::run`] drives it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lpa_core::log::{DecisionRecord, Outcome};
use lpa_core::wire::MetricReport;
use lpa_core::{Observation, Policy, State};

use crate::decision_log::{rfc3339, DecisionLog};
use crate::scale::lease::Lead;
use crate::scale::{DriverError, Event, EventReason, ScaleTarget};
use crate::state_file::StateFile;

/// How often a waiting loop looks at the stop flag.
pub const STOP_POLL: Duration = Duration::from_millis(50);

#[derive(Debug, Clone)]
pub struct Options {
    /// From the start of one cycle to the start of the next.
    pub interval: Duration,
    /// Stop after this many cycles (`--once` is 1); `None` runs until stopped.
    pub max_cycles: Option<u64>,
    /// Decide and log, never scale, never save state.
    pub dry_run: bool,
}

/// The step a cycle failed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Read,
    Lease,
    /// Reading the state the cluster keeps (`--state-configmap`).
    StateMap,
    Measure,
    State,
    Apply,
    Log,
}

impl Step {
    pub const ALL: [Step; 7] = [
        Step::Read,
        Step::Lease,
        Step::StateMap,
        Step::Measure,
        Step::State,
        Step::Apply,
        Step::Log,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Read => "read replicas",
            Step::Lease => "lease",
            Step::StateMap => "state configmap",
            Step::Measure => "load test",
            Step::State => "state file",
            Step::Apply => "scale",
            Step::Log => "decision log",
        }
    }
}

/// What one cycle did, for the caller's log line.
#[derive(Debug)]
pub struct Cycle {
    /// 1-based.
    pub number: u64,
    /// From the cycle's start to its end (before the wait).
    pub duration: Duration,
    /// The decision, when the cycle got that far (also when applying it
    /// failed afterwards).
    pub record: Option<DecisionRecord>,
    /// The state the file holds after the cycle, when it got that far.
    pub state: Option<State>,
    /// The failure that ended the cycle or hit it after the decision.
    pub failure: Option<(Step, String)>,
    /// Things worth a warning that did not stop the cycle.
    pub warnings: Vec<String>,
    /// What changed in the loop's Lease this cycle (taken, created).
    pub notes: Vec<String>,
    /// Why the cycle stopped after the read: another loop holds the
    /// target's Lease, and this one stands by.
    pub standby: Option<String>,
    /// Whether this loop led this cycle: it held the target's Lease (or
    /// needs none) to its decision. `false` in a dry run, when it lost
    /// the Lease, or when the cycle ended before it knew (the replicas
    /// could not be read): it acts on nothing then.
    pub leads: bool,
    /// The state saved could not be kept in the cluster too (the
    /// warning says why).
    pub state_map_failed: bool,
    /// The cycle saved the state file (a standby, a dry run, a scale
    /// refused or a cycle failed before it saves none).
    pub saved: bool,
}

/// How the loop ended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub cycles: u64,
    pub failed_cycles: u64,
    /// Ended by a stop request rather than by `max_cycles`.
    pub stopped: bool,
    /// Why the state of the last decision applied could not be saved,
    /// tried once more at the end (a disk still full): the file holds an
    /// older one.
    pub unsaved: Option<String>,
}

/// The loop and the parts it drives. `measure` is the load test: given
/// the current replica count, it returns the metric report or why not.
pub struct RunLoop<'a, T: ?Sized, M> {
    pub target: &'a mut T,
    pub measure: M,
    pub policy: &'a Policy,
    pub state: &'a StateFile,
    pub log: Option<&'a mut DecisionLog>,
    pub options: Options,
    /// Set by a signal handler; see steps 1, 4 and 11.
    pub stop: &'a AtomicBool,
}

impl<T, M, E> RunLoop<'_, T, M>
where
    T: ScaleTarget + ?Sized,
    M: FnMut(u32) -> Result<MetricReport, E>,
    E: std::fmt::Display,
{
    /// Runs until `options.max_cycles` or a stop request. See the module
    /// docs for the steps. `report` sees every cycle as it ends.
    pub fn run(&mut self, mut report: impl FnMut(&Cycle)) -> Summary {
        let mut summary = Summary::default();
        // A dry run's copy of the cluster's state: it decides from it
        // each cycle, and saves it nowhere.
        let mut dry_prior = None;
        // The state of a decision applied whose save failed (step 8).
        let mut unsaved = None;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                summary.stopped = true;
                break;
            }
            let started = Instant::now();
            let number = summary.cycles + 1;
            let Some(mut cycle) = self.cycle(number, &mut dry_prior, &mut unsaved) else {
                // Stopped after the read or between measuring and
                // deciding: nothing was changed.
                summary.stopped = true;
                break;
            };
            // A dry run writes nothing anywhere, Events included.
            if let Some(event) = event(&cycle).filter(|_| !self.options.dry_run) {
                if let Err(e) = self.target.record(&event) {
                    cycle.warnings.push(format!(
                        "cannot record the {} event on {}: {e}",
                        event.reason.as_str(),
                        self.target.describe()
                    ));
                }
            }
            cycle.duration = started.elapsed();
            summary.cycles = number;
            if cycle.failure.is_some() {
                summary.failed_cycles += 1;
            }
            report(&cycle);
            if self.options.max_cycles.is_some_and(|max| number >= max) {
                break;
            }
            if !wait(started + self.options.interval, self.stop) {
                summary.stopped = true;
                break;
            }
        }
        if let Some(state) = unsaved {
            if let Err(e) = self.state.lock().and_then(|lock| lock.save(&state)) {
                summary.unsaved = Some(e.to_string());
            }
        }
        summary
    }

    /// One cycle; `None` when a stop request arrived before the decision.
    fn cycle(
        &mut self,
        number: u64,
        dry_prior: &mut Option<State>,
        unsaved: &mut Option<State>,
    ) -> Option<Cycle> {
        let mut out = Cycle {
            number,
            duration: Duration::ZERO,
            record: None,
            state: None,
            failure: None,
            warnings: Vec::new(),
            notes: Vec::new(),
            standby: None,
            leads: false,
            state_map_failed: false,
            saved: false,
        };
        let failed = |mut out: Cycle, step: Step, e: String| {
            out.failure = Some((step, e));
            Some(out)
        };

        let current = match self.target.replicas() {
            Ok(n) => n,
            Err(e) => return failed(out, Step::Read, e.to_string()),
        };
        if self.stop.load(Ordering::SeqCst) {
            return None;
        }
        // A dry run scales nothing: it neither needs the Lease nor takes
        // it from the loop that scales.
        if !self.options.dry_run {
            match self.target.lead() {
                Ok(None) => {}
                Ok(Some(Lead::Leader { news })) => out.notes.extend(news),
                Ok(Some(Lead::Standby { why })) => {
                    out.standby = Some(why);
                    return Some(out);
                }
                Err(e) => return failed(out, Step::Lease, e.to_string()),
            }
        }
        // A dry run acts on nothing, and takes no Lease: it read 1 beside
        // the loop that holds it.
        out.leads = !self.options.dry_run;
        if let Err(e) = self.pull_state(&mut out, dry_prior) {
            return failed(out, Step::StateMap, e);
        }
        let metric = match (self.measure)(current) {
            Ok(m) => m,
            Err(e) => return failed(out, Step::Measure, e.to_string()),
        };
        if self.stop.load(Ordering::SeqCst) {
            return None;
        }

        let obs = Observation {
            at_secs: now_secs(),
            current_replicas: current,
            requests: metric.requests,
            ready_replicas: self.target.ready(),
            // The loop applies its own answers: a count above its last
            // one is someone else's doing.
            applier_window_secs: None,
        };
        let dry_run = self.options.dry_run;
        let target = &mut *self.target;
        let mut outcome = Outcome::Applied;
        let mut apply_failure = None;
        let mut applied_late = None;
        let mut lost = None;
        let decided = self.state.lock().and_then(|lock| {
            let prior = unsaved.as_ref().or(dry_prior.as_ref());
            lock.decide_from(prior, &obs, self.policy, |decision| {
                if dry_run {
                    outcome = Outcome::DryRun;
                    return false;
                }
                // A loop held up past its Lease's duration (a stopped
                // process, a frozen node, the state's lock held long by
                // an evaluation by hand) may have been replaced: a hold it
                // logged and saved was a second loop deciding, as a scale
                // would be (which the scale's own, earlier, deadline
                // refuses).
                if let Some(why) = target.lead_lost() {
                    lost = Some(why);
                    return false;
                }
                if decision.replicas == current {
                    return true;
                }
                match target.scale(current, decision.replicas) {
                    Ok(()) => true,
                    // The count asked for, found by the precondition: lpa's
                    // own write, which client-go sent again after a 503
                    // with Retry-After and the retry met as a conflict, or
                    // another's to the same count. Either way the count is
                    // lpa's decision; not where an HPA scales the target
                    // too, which the refusal must name.
                    Err(e @ DriverError::Changed {
                        seen, rival: None, ..
                    }) if seen == Some(decision.replicas) => {
                        applied_late = Some(format!(
                            "{e}; the count is the {} asked for (lpa's own write, sent again after a 503, or another's to the same count): taken as applied",
                            decision.replicas
                        ));
                        true
                    }
                    Err(e @ DriverError::Changed { seen, .. }) => {
                        outcome = Outcome::OutsideChange {
                            seen,
                            detail: e.to_string(),
                        };
                        false
                    }
                    Err(e) => {
                        // A write that timed out or failed may have been
                        // made (the server applied it, and answered late or
                        // with a 504): read again. Taken as failed, the
                        // next cycle read the count it asked for as someone
                        // else's change.
                        let timeout = matches!(
                            e,
                            DriverError::Process(crate::process::ProcessError::Timeout { .. })
                        );
                        let now = e
                            .may_have_applied()
                            .then(|| target.replicas().ok())
                            .flatten();
                        if now == Some(decision.replicas) {
                            applied_late = Some(format!(
                                "{e}; read again, the count is the {} asked for: applied",
                                decision.replicas
                            ));
                            return true;
                        }
                        let error = match now {
                            Some(n) => format!("{e}; read again, the count is {n}"),
                            None if timeout => format!("{e}; whether it was applied is unknown"),
                            None => e.to_string(),
                        };
                        apply_failure = Some((Step::Apply, error.clone()));
                        outcome = Outcome::ScaleFailed { error };
                        false
                    }
                }
            })
        });
        out.warnings.extend(applied_late);
        if let Some(why) = lost {
            out.leads = false;
            return failed(out, Step::Lease, why);
        }
        let decided = match decided {
            Ok(d) => d,
            Err(e) => return failed(out, Step::State, e.to_string()),
        };
        out.warnings.extend(decided.warning());
        out.failure = apply_failure;
        match &decided.saved {
            Err(e) => {
                out.failure = Some((
                    Step::State,
                    format!(
                        "{e}; kept in memory, the next cycle decides from it and saves it again"
                    ),
                ));
                *unsaved = Some(decided.decision.next_state.clone());
            }
            Ok(true) => {
                out.saved = true;
                *unsaved = None;
                self.push_state(&decided.state, &mut out);
            }
            Ok(false) => {}
        }

        let mut record = DecisionRecord::new(&self.target.describe(), &obs, &decided.decision);
        record.time = Some(rfc3339(obs.at_secs));
        record.outcome = outcome;
        if let Some(log) = self.log.as_deref_mut() {
            match log.append(&record) {
                Ok(None) => {}
                // The line is in; the log only grows past its bound.
                Ok(Some(e)) => out.warnings.push(e.to_string()),
                // A cycle fails for its first failed step; a lost line
                // after it is said beside it, not left unsaid.
                Err(e) if out.failure.is_some() => out.warnings.push(e.to_string()),
                Err(e) => out.failure = Some((Step::Log, e.to_string())),
            }
        }
        out.record = Some(record);
        out.state = Some(decided.state);
        Some(out)
    }
}

impl<T, M> RunLoop<'_, T, M>
where
    T: ScaleTarget + ?Sized,
{
    /// Step 2's end: the state the cluster keeps, when due, replaces the
    /// file's (see [`StateFile::adopt`] for which copy wins). One it
    /// cannot read is a warning, and the file decides (read again next
    /// cycle); only one that belongs to another target fails the cycle.
    fn pull_state(&mut self, out: &mut Cycle, dry_prior: &mut Option<State>) -> Result<(), String> {
        let pulled = match self.target.pull_state() {
            Ok(Some(pulled)) => pulled,
            Ok(None) => return Ok(()),
            Err(e @ DriverError::Invalid(_)) => return Err(e.to_string()),
            Err(e) => {
                out.warnings.push(format!(
                    "cannot read the state's copy in the cluster: {e}; deciding from the state file {}, and reading it again next cycle",
                    self.state.path().display()
                ));
                return Ok(());
            }
        };
        let taken = self.state.take(&pulled, self.options.dry_run);
        // A dry run decides from the copy it read last, or from the file.
        *dry_prior = taken.prior;
        out.notes.extend(taken.note);
        out.warnings.extend(taken.warning);
        Ok(())
    }

    /// Step 8's end: the state just saved goes to the cluster too. A
    /// failure is a warning: the file holds it, and the cluster's copy
    /// is written again next cycle.
    fn push_state(&mut self, state: &State, out: &mut Cycle) {
        let json = serde_json::to_string(state).expect("State serialises");
        // None: no ConfigMap to keep it in.
        let Some(written) = self.target.push_state(&json).transpose() else {
            return;
        };
        let written = self.state.written(written);
        out.state_map_failed = written.failed;
        out.warnings.extend(written.warnings);
    }
}

/// What the target's watchers hear of a cycle: a scale applied, refused
/// or failed, or a failed load test. Nothing for a hold or a dry run.
fn event(cycle: &Cycle) -> Option<Event> {
    let Some(r) = &cycle.record else {
        return match &cycle.failure {
            Some((Step::Measure, e)) => Some(Event {
                reason: EventReason::ProbeFailed,
                note: format!("load test failed: {e}"),
            }),
            _ => None,
        };
    };
    if r.decided == r.current {
        return None;
    }
    let reason = match &r.outcome {
        Outcome::Applied if r.decided > r.current => EventReason::ScaledUp,
        Outcome::Applied => EventReason::ScaledDown,
        Outcome::DryRun => return None,
        Outcome::OutsideChange { .. } => EventReason::ScaleRefused,
        Outcome::ScaleFailed { .. } => EventReason::ScaleFailed,
    };
    let note = if r.outcome.is_applied() {
        r.summary.clone()
    } else {
        format!("{} (not applied: {})", r.summary, r.outcome)
    };
    Some(Event { reason, note })
}

/// Seconds since the Unix epoch: the observation's time.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Sleeps until `deadline`; false when a stop request came first.
fn wait(deadline: Instant, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        thread::sleep(STOP_POLL.min(deadline - now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state_file::Loaded;
    use lpa_core::config::parse_policy;
    use lpa_core::stats::RequestStats;
    use lpa_core::Reason;

    /// A scale target in memory; `outside` changes the count at the next
    /// `scale` call, as another writer would.
    struct Fake {
        replicas: u32,
        outside: Option<u32>,
        scaled: Vec<(u32, u32)>,
        fail_reads: bool,
        fail_scales: bool,
        lead_lost: Option<String>,
        events: Vec<Event>,
    }

    impl ScaleTarget for Fake {
        fn describe(&self) -> String {
            "fake/x".into()
        }
        fn replicas(&mut self) -> Result<u32, DriverError> {
            if self.fail_reads {
                return Err(DriverError::Invalid("read failed".into()));
            }
            Ok(self.replicas)
        }
        fn scale(&mut self, from: u32, to: u32) -> Result<(), DriverError> {
            if self.fail_scales {
                return Err(DriverError::Invalid("scale failed".into()));
            }
            if let Some(n) = self.outside.take() {
                self.replicas = n;
            }
            if self.replicas != from {
                return Err(DriverError::Changed {
                    target: "fake/x".into(),
                    expected: from,
                    seen: Some(self.replicas),
                    rival: None,
                });
            }
            self.scaled.push((from, to));
            self.replicas = to;
            Ok(())
        }
        fn record(&mut self, event: &Event) -> Result<(), DriverError> {
            self.events.push(event.clone());
            Ok(())
        }
        fn lead_lost(&self) -> Option<String> {
            self.lead_lost.clone()
        }
    }

    fn policy() -> Policy {
        parse_policy(
            "p.yaml",
            "targets:\n  - {endpoint: /, type: mean, target: 7}\ndecay: {replicas: 1, unchangedRuns: 2}\n",
        )
        .unwrap()
    }

    fn metric(mean_ms: f64) -> MetricReport {
        let mut m = MetricReport::default();
        m.requests.insert(
            "GET_/".into(),
            RequestStats {
                num_requests: Some(10),
                num_failures: Some(0),
                avg_response_time: Some(mean_ms),
                ..RequestStats::default()
            },
        );
        m
    }

    fn options(cycles: u64, dry_run: bool) -> Options {
        Options {
            interval: Duration::ZERO,
            max_cycles: Some(cycles),
            dry_run,
        }
    }

    fn drive(
        target: &mut Fake,
        measure: impl FnMut(u32) -> Result<MetricReport, String>,
        state: &StateFile,
        options: Options,
        stop: &AtomicBool,
        report: impl FnMut(&Cycle),
    ) -> Summary {
        RunLoop {
            target,
            measure,
            policy: &policy(),
            state,
            log: None,
            options,
            stop,
        }
        .run(report)
    }

    fn fake(replicas: u32) -> Fake {
        Fake {
            replicas,
            outside: None,
            scaled: Vec::new(),
            fail_reads: false,
            fail_scales: false,
            lead_lost: None,
            events: Vec::new(),
        }
    }

    #[test]
    fn scales_up_then_decays_after_calm_runs() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateFile::new(dir.path().join("s.json"));
        let mut target = fake(2);
        let means = [20.0, 1.0, 1.0, 1.0];
        let mut i = 0;
        let mut measure = |_| {
            i += 1;
            Ok(metric(means[i - 1]))
        };
        let mut cycles = Vec::new();
        let s = drive(
            &mut target,
            &mut measure,
            &state,
            options(4, false),
            &AtomicBool::new(false),
            |c| cycles.push(c.record.as_ref().unwrap().decided),
        );
        assert_eq!(
            s,
            Summary {
                cycles: 4,
                failed_cycles: 0,
                stopped: false,
                unsaved: None
            }
        );
        assert_eq!(cycles, vec![3, 3, 3, 2]);
        assert_eq!(target.scaled, vec![(2, 3), (3, 2)]);
        let reasons: Vec<EventReason> = target.events.iter().map(|e| e.reason).collect();
        assert_eq!(reasons, [EventReason::ScaledUp, EventReason::ScaledDown]);
        assert_eq!(
            target.events[0].note,
            "GET_/ mean 20ms > 7ms BREACH; scale up 2 -> 3"
        );
    }

    #[test]
    fn outside_change_is_not_overwritten_and_resets_the_counter_next_cycle() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateFile::new(dir.path().join("s.json"));
        let mut target = fake(2);
        target.outside = Some(5);
        let mut records = Vec::new();
        let stop = AtomicBool::new(false);
        drive(
            &mut target,
            &mut |_| Ok(metric(20.0)),
            &state,
            options(1, false),
            &stop,
            |c| records.push(c.record.clone().unwrap()),
        );
        let r = &records[0];
        match &r.outcome {
            Outcome::OutsideChange { seen, detail } => {
                assert_eq!(*seen, Some(5));
                assert!(detail.contains("replicas changed outside lpa"), "{r:?}");
            }
            other => panic!("not refused: {other:?}"),
        }
        assert!(target.scaled.is_empty());
        assert_eq!(target.replicas, 5);
        assert_eq!(target.events.len(), 1);
        assert_eq!(target.events[0].reason, EventReason::ScaleRefused);
        assert!(
            target.events[0].note.ends_with(
                "scale up 2 -> 3 (not applied: fake/x: replicas changed outside lpa since they were read (expected 2, now 5); not overwritten; the decay counter resets next cycle)"
            ),
            "{:?}",
            target.events[0]
        );
        assert!(state.peek().unwrap().1 == Loaded::Missing, "no state saved");
        // A prior state that expected 2 sees 5 on the next cycle.
        state
            .lock()
            .unwrap()
            .save(&lpa_core::State {
                runs_since_change: 1,
                last_replicas: Some(2),
                ..Default::default()
            })
            .unwrap();
        drive(
            &mut target,
            &mut |_| Ok(metric(1.0)),
            &state,
            options(1, false),
            &stop,
            |c| records.push(c.record.clone().unwrap()),
        );
        assert_eq!(
            records[1].reasons[0],
            Reason::OutsideChange {
                expected: 2,
                seen: 5
            }
        );
        assert_eq!(state.peek().unwrap().0.runs_since_change, 1);
    }

    #[test]
    fn dry_run_neither_scales_nor_saves() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateFile::new(dir.path().join("s.json"));
        let mut target = fake(2);
        let mut records = Vec::new();
        drive(
            &mut target,
            &mut |_| Ok(metric(20.0)),
            &state,
            options(3, true),
            &AtomicBool::new(false),
            |c| records.push(c.record.clone().unwrap()),
        );
        assert!(target.scaled.is_empty());
        assert!(records
            .iter()
            .all(|r| r.decided == 3 && r.outcome == Outcome::DryRun));
        assert!(target.events.is_empty(), "a dry run records nothing");
        assert_eq!(state.peek().unwrap().1, Loaded::Missing);
    }

    #[test]
    fn failures_change_nothing_and_the_loop_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateFile::new(dir.path().join("s.json"));
        let mut target = fake(2);
        target.fail_reads = true;
        let mut failures = Vec::new();
        let s = drive(
            &mut target,
            &mut |_| Ok(metric(20.0)),
            &state,
            options(2, false),
            &AtomicBool::new(false),
            |c| failures.push(c.failure.clone().unwrap()),
        );
        assert_eq!(s.failed_cycles, 2);
        assert_eq!(failures[0], (Step::Read, "read failed".to_string()));
        assert!(target.events.is_empty());
        let mut target = fake(2);
        let s = drive(
            &mut target,
            &mut |_| Err("no host".to_string()),
            &state,
            options(1, false),
            &AtomicBool::new(false),
            |_| {},
        );
        assert_eq!(s.failed_cycles, 1);
        assert_eq!(state.peek().unwrap().1, Loaded::Missing);
        assert_eq!(
            target.events,
            [Event {
                reason: EventReason::ProbeFailed,
                note: "load test failed: no host".into()
            }]
        );
    }

    /// A loop whose Lease renewal grew a whole duration old during the
    /// cycle (a paused process) neither decides, logs nor saves: another
    /// loop may lead by then. A hold was logged and saved as applied.
    #[test]
    fn a_lead_lost_during_the_cycle_decides_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateFile::new(dir.path().join("s.json"));
        let mut target = Fake {
            lead_lost: Some("lease l: not renewed for 15.0s".into()),
            ..fake(2)
        };
        let mut cycles = Vec::new();
        RunLoop {
            target: &mut target,
            measure: &mut |_| Ok::<_, String>(metric(3.0)),
            policy: &policy(),
            state: &state,
            log: None,
            options: options(1, false),
            stop: &AtomicBool::new(false),
        }
        .run(|c| cycles.push((c.failure.clone(), c.record.is_some(), c.leads)));
        assert_eq!(
            cycles,
            [(
                Some((Step::Lease, "lease l: not renewed for 15.0s".into())),
                false,
                false
            )]
        );
        assert_eq!(state.peek().unwrap().1, Loaded::Missing);
    }

    /// A cycle that failed at one step and then lost its log line says
    /// both: the first as its failure, the line lost as a warning.
    #[test]
    fn a_lost_log_line_after_a_failed_step_is_said_too() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateFile::new(dir.path().join("s.json"));
        let mut target = Fake {
            fail_scales: true,
            ..fake(2)
        };
        // Every write fails there: ENOSPC.
        let mut log = DecisionLog::open("/dev/full").unwrap();
        let mut cycles = Vec::new();
        RunLoop {
            target: &mut target,
            measure: &mut |_| Ok::<_, String>(metric(20.0)),
            policy: &policy(),
            state: &state,
            log: Some(&mut log),
            options: options(1, false),
            stop: &AtomicBool::new(false),
        }
        .run(|c| cycles.push((c.failure.clone(), c.warnings.clone())));
        let (failure, warnings) = &cycles[0];
        assert_eq!(
            failure.as_ref().map(|f| f.0),
            Some(Step::Apply),
            "{failure:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("decision log /dev/full: cannot ")),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_stop_during_the_measurement_ends_before_deciding() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateFile::new(dir.path().join("s.json"));
        let stop = AtomicBool::new(false);
        let mut target = fake(2);
        let mut measure = |_| {
            stop.store(true, Ordering::SeqCst);
            Ok(metric(20.0))
        };
        let s = drive(
            &mut target,
            &mut measure,
            &state,
            options(5, false),
            &stop,
            |_| {},
        );
        assert_eq!(
            s,
            Summary {
                cycles: 0,
                failed_cycles: 0,
                stopped: true,
                unsaved: None
            }
        );
        assert!(target.scaled.is_empty());
    }
}
