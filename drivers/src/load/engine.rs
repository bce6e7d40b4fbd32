//! The run: a coordinator thread starting users at the spawn rate, users
//! looping until the deadline, and the collection at deadline + grace.
//!
//! Each user owns a [`Slot`] behind its own mutex: its recordings and the
//! request it has in flight. Only that user and, at the end, the
//! coordinator touch it, so the lock is uncontended; and because the data
//! lives in the slot and not on the user's stack, a user stuck in a hung
//! request can be given up without losing what it measured.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use lpa_core::config::{request_key, WaitTime};
use lpa_core::duration::format_duration;
use lpa_core::sim::SplitMix64;
use lpa_core::stats::Recording;
use lpa_core::wire::{FailureStats, RunInfo};

use super::{failure_words, tally};

use super::http::{self, Prepared, Sent};
use super::transport::Pinned;
use super::{LoadError, LoadOutcome, LoadPlan, Progress, Task, LATE_AFTER};

/// Users need little stack: blocking I/O and small buffers. This keeps a
/// thousand users' address space small with a wide margin over their
/// deepest path (docs/hardening.md); only touched pages count in RSS.
const USER_STACK: usize = 256 * 1024;

/// How often the progress callback runs.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

#[derive(Default)]
struct Slot {
    /// One per request of the plan, by index.
    recordings: Vec<Recording>,
    /// (request index, error) -> count.
    errors: BTreeMap<(usize, String), u64>,
    /// Since when (the intended time in the open model) and which request.
    in_flight: Option<(Instant, usize)>,
    /// Requests that reached the server (answered, or failed after connecting).
    reached: u64,
    late: u64,
    /// Open model: tasks started (each took one slot of the schedule).
    tasks: u64,
    /// Set by the coordinator when it collects: a user answered after that
    /// records nothing more.
    closed: bool,
    /// Ends the user's I/O when the run is over (see [`StopUsers`]).
    stopper: Option<ureq::Agent>,
}

impl Slot {
    fn record(&mut self, index: usize, elapsed: Duration, sent: Sent) {
        let ok = sent == Sent::Ok;
        self.recordings[index].record(elapsed, ok);
        match sent {
            Sent::Ok => self.reached += 1,
            Sent::Failed(e) => {
                self.reached += 1;
                tally(&mut self.errors, index, failure_words(e), 1);
            }
            Sent::NotConnected(e) => tally(&mut self.errors, index, failure_words(e), 1),
        }
    }
}

struct Shared {
    slots: Vec<Mutex<Slot>>,
    prepared: Vec<Prepared>,
    /// The class of each user, by index into the plan's classes.
    user_class: Vec<usize>,
    /// Per class, the cumulative weights of its tasks for the weighted pick.
    task_weights: Vec<Vec<u64>>,
    /// Open model: cumulative class weights (each arrival picks a class).
    class_weights: Vec<u64>,
    start: Instant,
    deadline: Instant,
    /// Open model: the next schedule slot to take.
    next_send: AtomicU64,
    /// The host's addresses for the run.
    pinned: Pinned,
}

/// At the end of [`run`], whichever way it returns: closes every slot and
/// shuts down every user's agent, so a user still waiting on the service
/// stops at once instead of holding its thread and socket until its
/// timeout (reads have no socket timeout unless the plan's is shorter than
/// run time + grace; see `http::agent`).
struct StopUsers<'a>(&'a Shared);

impl Drop for StopUsers<'_> {
    fn drop(&mut self) {
        for slot in &self.0.slots {
            let stopper = {
                let mut s = lock(slot);
                s.closed = true;
                s.stopper.take()
            };
            if let Some(agent) = stopper {
                agent.shutdown();
            }
        }
    }
}

/// Hands the slot the user's stopper; false when the run is already over.
fn register(slot: &Mutex<Slot>, client: &http::Client) -> bool {
    let mut s = lock(slot);
    if s.closed {
        return false;
    }
    s.stopper = Some(client.stopper());
    true
}

fn lock(m: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    // A user that panicked leaves valid data: recordings are appended whole.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the plan. Returns by run time + grace (plus the time to merge) even
/// when the service hangs. `progress` is called about every 250 ms.
pub fn run(
    plan: &LoadPlan,
    progress: Option<&dyn Fn(&Progress)>,
) -> Result<LoadOutcome, LoadError> {
    let prepared = plan
        .requests
        .iter()
        .map(|r| http::prepare(plan, r))
        .collect::<Result<Vec<_>, _>>()?;
    let well_formed = plan.classes.iter().all(|c| {
        !c.tasks.is_empty()
            && c.tasks
                .iter()
                .all(|t| t.requests.iter().all(|&i| i < prepared.len()))
    });
    if prepared.is_empty() || plan.classes.is_empty() || !well_formed {
        return Err(LoadError::Invalid {
            field: "load.requests",
            value: "[]".into(),
            expected: "at least one request (or a target)",
        });
    }
    let pinned = http::preflight(plan)?;

    let task_weights = plan
        .classes
        .iter()
        .map(|c| cumulative(c.tasks.iter().map(|t| t.weight)))
        .collect();
    let start = Instant::now();
    let shared = Arc::new(Shared {
        slots: (0..plan.users)
            .map(|_| {
                Mutex::new(Slot {
                    recordings: vec![Recording::default(); plan.requests.len()],
                    ..Slot::default()
                })
            })
            .collect(),
        prepared,
        user_class: plan.user_classes(),
        task_weights,
        class_weights: cumulative(plan.classes.iter().map(|c| c.weight)),
        start,
        deadline: start + plan.run_time,
        next_send: AtomicU64::new(0),
        pinned,
    });
    let _stop_users = StopUsers(&shared);

    let (done_tx, done_rx) = mpsc::channel::<bool>();
    let report = |started: u32| {
        if let Some(f) = progress {
            let (mut requests, mut failures) = (0, 0);
            for s in &shared.slots[..started as usize] {
                let s = lock(s);
                requests += s
                    .recordings
                    .iter()
                    .map(|r| r.latencies_ns.len() as u64)
                    .sum::<u64>();
                failures += s.recordings.iter().map(|r| r.failures).sum::<u64>();
            }
            f(&Progress {
                elapsed: start.elapsed(),
                run_time: plan.run_time,
                users_started: started,
                users: plan.users,
                requests,
                failures,
            });
        }
    };

    // 1. Start the users: all at once in the open model (the arrival rate
    //    paces it), else one every 1/spawn_rate s from the start.
    let open = plan.arrival_rate.is_some();
    let mut started = 0u32;
    let mut ramp_up = Duration::ZERO;
    let mut last_progress = Instant::now();
    for i in 0..plan.users {
        let at = if open {
            Some(start)
        } else {
            later(start, f64::from(i) / plan.spawn_rate)
        };
        let Some(at) = at.filter(|at| *at < shared.deadline) else {
            break;
        };
        loop {
            let now = Instant::now();
            if now >= at {
                break;
            }
            thread::sleep((at - now).min(PROGRESS_EVERY));
            if last_progress.elapsed() >= PROGRESS_EVERY {
                report(started);
                last_progress = Instant::now();
            }
        }
        let shared_c = Arc::clone(&shared);
        let plan_c = plan.clone();
        let done = done_tx.clone();
        let spawned = thread::Builder::new()
            .name(format!("lpa-user-{i}"))
            .stack_size(USER_STACK)
            .spawn(move || {
                let _done = DoneSignal(done);
                if plan_c.arrival_rate.is_some() {
                    open_user(&plan_c, &shared_c, i);
                } else {
                    closed_user(&plan_c, &shared_c, i);
                }
            });
        match spawned {
            Ok(_) => {
                started += 1;
                ramp_up = start.elapsed();
            }
            // Users already running stop at the deadline by themselves.
            Err(e) => return Err(LoadError::Spawn(e)),
        }
    }
    drop(done_tx);

    // 2. Wait for the users to finish, at most until deadline + grace.
    let give_up = shared.deadline + plan.grace;
    let (mut finished, mut panicked) = (0u32, 0u32);
    while finished < started {
        let now = Instant::now();
        if now >= give_up {
            break;
        }
        match done_rx.recv_timeout((give_up - now).min(PROGRESS_EVERY)) {
            Ok(user_panicked) => {
                finished += 1;
                panicked += u32::from(user_panicked);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if last_progress.elapsed() >= PROGRESS_EVERY {
            report(started);
            last_progress = Instant::now();
        }
    }
    // An open model's users end with the last send its schedule has
    // before the deadline, which can come long before it (one send at
    // 0.4/s in 2 s). The run still lasts its run time: its rate is over
    // that window, as the line and the report say, not over the last send.
    if open && finished >= started {
        let now = Instant::now();
        if now < shared.deadline {
            thread::sleep(shared.deadline - now);
        }
    }
    if panicked > 0 {
        return Err(LoadError::UserPanicked { panicked, started });
    }
    let end = Instant::now();

    // 3. Collect every slot; a request still in flight becomes a failure
    //    with its elapsed time, and its user is stopped on return
    //    (StopUsers).
    let mut merged: Vec<Recording> = vec![Recording::default(); plan.requests.len()];
    let mut errors: BTreeMap<(usize, String), u64> = BTreeMap::new();
    let (mut reached, mut late, mut unfinished, mut tasks) = (0u64, 0u64, 0u64, 0u64);
    for slot in &shared.slots[..started as usize] {
        let mut s = lock(slot);
        s.closed = true;
        if let Some((since, index)) = s.in_flight.take() {
            unfinished += 1;
            let elapsed = end.saturating_duration_since(since);
            s.record(index, elapsed, Sent::Failed(super::UNANSWERED.into()));
        }
        reached += s.reached;
        late += s.late;
        tasks += s.tasks;
        for (i, r) in std::mem::take(&mut s.recordings).into_iter().enumerate() {
            merged[i].merge(r);
        }
        for ((index, error), n) in std::mem::take(&mut s.errors) {
            tally(&mut errors, index, error, n);
        }
    }
    let elapsed = end.duration_since(start);

    // 4. Summarise per request key (two requests may share one) and overall.
    let mut by_key: BTreeMap<String, (usize, Recording)> = BTreeMap::new();
    let mut all = Recording::default();
    for (i, rec) in merged.into_iter().enumerate() {
        all.merge(rec.clone());
        let key = plan.requests[i].key();
        by_key
            .entry(key)
            .or_insert_with(|| (i, Recording::default()))
            .1
            .merge(rec);
    }
    let attempts = all.latencies_ns.len() as u64;
    let num_failures = all.failures;
    if attempts == 0 {
        return Err(LoadError::NothingSent {
            url: plan.host.to_string(),
            run_time: format!("{:?}", plan.run_time),
        });
    }
    if reached == 0 {
        let errors = errors
            .iter()
            .map(|((_, e), n)| format!("{e}: {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(LoadError::NothingReached {
            url: plan.host.to_string(),
            attempts,
            errors,
        });
    }
    let mut requests = BTreeMap::new();
    for (key, (i, rec)) in by_key {
        let r = &plan.requests[i];
        requests.insert(
            key,
            rec.summarize(r.method.as_str(), &r.name, elapsed, &plan.percentiles),
        );
    }
    let mut failures = BTreeMap::new();
    for ((i, error), n) in errors {
        let r = &plan.requests[i];
        let entry = failures
            .entry(format!(
                "{}: {error}",
                request_key(r.method.as_str(), &r.name)
            ))
            .or_insert_with(|| FailureStats {
                method: r.method.to_string(),
                name: r.name.clone(),
                error: error.clone(),
                occurrences: 0,
            });
        entry.occurrences += n;
    }
    let dropped = plan.arrival_rate.map(|rate| {
        let scheduled = (plan.run_time.as_secs_f64() * rate).ceil() as u64;
        scheduled.saturating_sub(tasks)
    });
    let latencies_ns = all.latencies_ns.clone();
    let run = RunInfo {
        driver: Some("native".into()),
        model: Some(if open { "open" } else { "closed" }.into()),
        host: Some(plan.host.to_string()),
        users: Some(plan.users),
        users_started: Some(started),
        spawn_rate: Some(plan.spawn_rate),
        ramp_up_secs: Some(ramp_up.as_secs_f64()),
        run_time: Some(format_duration(plan.run_time)),
        grace: Some(format_duration(plan.grace)),
        timeout: Some(format_duration(plan.timeout)),
        wait_time: Some(plan.wait_text()),
        elapsed_secs: Some(elapsed.as_secs_f64()),
        unfinished: Some(unfinished),
        arrival_rate: plan.arrival_rate,
        late: open.then_some(late),
        dropped,
        aggregate: all.summarize("", "Aggregated", elapsed, &plan.percentiles),
        ..RunInfo::default()
    };
    Ok(LoadOutcome {
        requests,
        failures,
        num_requests: attempts,
        num_failures,
        run,
        latencies_ns,
    })
}

/// Tells the coordinator a user ended, and whether by a panic: a user that
/// panicked stopped measuring early, and a run that reported the rest as
/// the service's latency would feed the decision a partial sample.
struct DoneSignal(mpsc::Sender<bool>);

impl Drop for DoneSignal {
    fn drop(&mut self) {
        let _ = self.0.send(thread::panicking());
    }
}

/// A user's draws (task picks, `between` waits): the plan's seed forked
/// per user, so a run's request mix is reproducible.
fn user_rng(seed: u64, user: u32) -> SplitMix64 {
    SplitMix64::fork(seed, u64::from(user))
}

/// The running sums of weights (each at least 1), for [`pick`].
fn cumulative(weights: impl Iterator<Item = u32>) -> Vec<u64> {
    let mut total = 0u64;
    weights
        .map(|w| {
            total += u64::from(w.max(1));
            total
        })
        .collect()
}

/// A weighted pick: `cumulative` holds the running sums of the weights.
fn pick(cumulative: &[u64], rng: &mut SplitMix64) -> usize {
    let total = *cumulative.last().unwrap_or(&1);
    if cumulative.len() == 1 {
        return 0;
    }
    let x = rng.next_u64() % total;
    cumulative.partition_point(|&c| c <= x)
}

/// `base` plus `secs`; `None` where that cannot be represented, which is
/// past any run's deadline: a valid rate as small as 1e-20/s puts the next
/// start or send 1e20 s away, and `Instant` panics on such an addition.
fn later(base: Instant, secs: f64) -> Option<Instant> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .and_then(|d| base.checked_add(d))
}

/// Sleeps until `until` or the deadline, whichever is first.
fn sleep_until(until: Instant, deadline: Instant) {
    let until = until.min(deadline);
    let now = Instant::now();
    if until > now {
        thread::sleep(until - now);
    }
}

/// Sends request `index` of the plan and records it, timed from `since`
/// (its intended time in the open model). `first`: the first request of a
/// task, which may have been `late`. False when the run is over.
fn send(
    plan: &LoadPlan,
    shared: &Shared,
    client: &http::Client,
    slot: &Mutex<Slot>,
    index: usize,
    since: Instant,
    first: Option<bool>,
) -> bool {
    {
        let mut s = lock(slot);
        s.in_flight = Some((since, index));
        if let Some(late) = first {
            s.tasks += 1;
            s.late += u64::from(late);
        }
    }
    let sent = http::send(client, &shared.prepared[index], plan.fail_status);
    let elapsed = since.elapsed();
    let mut s = lock(slot);
    if s.closed {
        return false;
    }
    s.in_flight = None;
    s.record(index, elapsed, sent);
    true
}

/// Sends a task's requests in order: the first timed from `since` (with
/// `late`, as [`send`] takes it), each later one from when it leaves. A
/// task cut by the deadline stops there, as Locust stops its users. False
/// when the run is over.
fn run_task(
    plan: &LoadPlan,
    shared: &Shared,
    client: &http::Client,
    slot: &Mutex<Slot>,
    task: &Task,
    since: Instant,
    late: Option<bool>,
) -> bool {
    for (n, &index) in task.requests.iter().enumerate() {
        let (since, first) = if n == 0 {
            (since, late)
        } else {
            let now = Instant::now();
            if now >= shared.deadline {
                break;
            }
            (now, None)
        };
        if !send(plan, shared, client, slot, index, since, first) {
            return false;
        }
    }
    true
}

/// Locust's closed model: pick a task of the user's class, run it
/// ([`run_task`]), wait, repeat until the deadline.
fn closed_user(plan: &LoadPlan, shared: &Shared, user: u32) {
    let client = http::agent(plan, &shared.pinned);
    let mut rng = user_rng(plan.seed, user);
    let slot = &shared.slots[user as usize];
    if !register(slot, &client) {
        return;
    }
    let class_index = shared.user_class[user as usize];
    let class = &plan.classes[class_index];
    let weights = &shared.task_weights[class_index];
    loop {
        let began = Instant::now();
        if began >= shared.deadline {
            return;
        }
        let task = &class.tasks[pick(weights, &mut rng)];
        if !run_task(plan, shared, &client, slot, task, began, None) {
            return;
        }
        let wake = match class.wait_time {
            WaitTime::Constant(d) if d.is_zero() => continue,
            WaitTime::Constant(d) => Instant::now().checked_add(d),
            WaitTime::Between(a, b) => Instant::now().checked_add(a + (b - a).mul_f64(rng.unit())),
            // Each task run takes at least the pacing: the wait fills it up.
            WaitTime::ConstantPacing(d) => began.checked_add(d),
            WaitTime::ConstantThroughput(n) => later(began, 1.0 / n),
        };
        sleep_until(wake.unwrap_or(shared.deadline), shared.deadline);
    }
}

/// The open model: take the next slot of a constant schedule, pick a class
/// by weight and one of its tasks, send at the slot's time, and measure
/// from that intended time, so a slow service that makes sends late shows
/// in the latency (no coordinated omission). Waits do not apply.
fn open_user(plan: &LoadPlan, shared: &Shared, user: u32) {
    let rate = plan.arrival_rate.unwrap_or(1.0);
    let client = http::agent(plan, &shared.pinned);
    let mut rng = user_rng(plan.seed, user);
    let slot = &shared.slots[user as usize];
    if !register(slot, &client) {
        return;
    }
    loop {
        let k = shared.next_send.fetch_add(1, Ordering::Relaxed);
        let Some(intended) = later(shared.start, k as f64 / rate).filter(|t| *t < shared.deadline)
        else {
            return;
        };
        let now = Instant::now();
        // A slot the users were too busy to take before the deadline is
        // dropped, as a closed user starts no task after it: sent in the
        // grace, it was cut at its end and counted as the service's
        // failure, though the service answered everything in time.
        if now >= shared.deadline {
            return;
        }
        let is_late = now > intended + LATE_AFTER;
        sleep_until(intended, shared.deadline);
        let class_index = pick(&shared.class_weights, &mut rng);
        let class = &plan.classes[class_index];
        let task = &class.tasks[pick(&shared.task_weights[class_index], &mut rng)];
        if !run_task(plan, shared, &client, slot, task, intended, Some(is_late)) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_that_panics_says_so_as_it_ends() {
        let (tx, rx) = mpsc::channel();
        let quiet = DoneSignal(tx.clone());
        let user = thread::spawn(move || {
            let _done = DoneSignal(tx);
            panic!("a bug in a user");
        });
        assert!(user.join().is_err());
        drop(quiet);
        assert_eq!(rx.iter().collect::<Vec<_>>(), [true, false]);
    }

    #[test]
    fn a_time_past_any_clock_is_none() {
        let now = Instant::now();
        assert_eq!(later(now, 0.5), Some(now + Duration::from_millis(500)));
        assert_eq!(later(now, 1e20), None);
        assert_eq!(later(now, f64::INFINITY), None);
    }

    /// A service that takes the request and never answers: at run time +
    /// grace the user's wait must end and its connection close, not hold
    /// on to the 60 s timeout. Without the stop it would.
    #[test]
    fn a_user_waiting_on_a_hung_service_is_stopped_when_the_run_ends() {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = format!("http://{}", listener.local_addr().unwrap());
        let policy = lpa_core::config::parse_evaluation_config(
            "eval.yaml",
            "targets: [{endpoint: /hang, type: mean, target: 7}]\n\
             load: {users: 1, runTime: 1s, grace: 500ms, timeout: 60s}",
            &Default::default(),
        )
        .unwrap()
        .value;
        let overrides = super::super::LoadOverrides {
            host: Some(host.parse().unwrap()),
            ..Default::default()
        };
        let plan = LoadPlan::from_config(&policy, &overrides).unwrap();
        let service = thread::spawn(move || {
            // The preflight's connection, then the user's.
            let mut conns = listener.incoming().skip(1);
            let mut conn = conns.next().unwrap().unwrap();
            let mut head = [0u8; 1024];
            assert!(conn.read(&mut head).unwrap() > 0);
            conn.set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let waited = Instant::now();
            // Nothing more is sent: the next read sees the user's end.
            let _ = conn.read(&mut head);
            waited.elapsed()
        });
        let outcome = run(&plan, None).unwrap();
        assert_eq!(outcome.run.unfinished, Some(1));
        let held = service.join().unwrap();
        assert!(held < Duration::from_secs(5), "held for {held:?}");
    }

    #[test]
    fn weighted_pick_follows_weights() {
        let cumulative = [3, 4];
        let mut rng = user_rng(7, 0);
        let mut counts = [0u32; 2];
        for _ in 0..40_000 {
            counts[pick(&cumulative, &mut rng)] += 1;
        }
        let share = f64::from(counts[0]) / 40_000.0;
        assert!((share - 0.75).abs() < 0.02, "{counts:?}");
    }
}
