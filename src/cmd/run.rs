//! `lpa run`: the standalone autoscaler loop.
//!
//! Everything that can be checked is checked before anything runs: the
//! target's name (Kubernetes naming rules, so nothing shell-like ever
//! reaches kubectl), the evaluation config, the load plan, the kubeconfig,
//! that kubectl starts, that no HorizontalPodAutoscaler scales the target
//! too (`lpa_drivers::scale::hpa`), the state file and the decision log.
//! Then `lpa_drivers::run_loop::RunLoop` does the cycles (its docs list
//! the steps) and this module prints one line per cycle on stderr.
//!
//! With `--scaler kubectl`, each scale applied, refused or failed and each
//! failed load test is a Kubernetes Event on the workload (the run loop
//! hands it to `KubectlTarget::record`); a failure to record one is a
//! warning line.
//!
//! With `--state-configmap NAME` (`--scaler kubectl` only), the state
//! file has a copy in the ConfigMap NAME (`KubectlTarget::state_map`),
//! which the run loop pulls and pushes; a dry run, which saves no state,
//! reads it and decides from it, but writes nothing.
//!
//! With `--metrics-listen`, Prometheus metrics and `/healthz` are served
//! from `lpa_drivers::metrics` on their own thread; the measure step and
//! each cycle's report update them.
//!
//! `--scaler local` runs the target as a pool of local processes behind a
//! round-robin proxy (`lpa_drivers::scale::local`); the pool's replica
//! starts and stops are logged here too, and it stops every replica when
//! this command ends.
//!
//! Exit: 0 after a stop signal (the state saved, or the last line says why
//! not) or a bounded run without failures; 1 when a bounded run (`--once`,
//! `--max-cycles`) had a failed cycle. A second SIGINT, SIGTERM or SIGHUP exits at once with 1.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lpa_core::config::EvaluationConfig;
use lpa_core::duration::format_duration;
use lpa_core::log::Outcome;
use lpa_drivers::decision_log::DecisionLog;
use lpa_drivers::load::{self, LoadOverrides, LoadPlan};
use lpa_drivers::metrics::{Metrics, MetricsServer};
use lpa_drivers::run_loop::{Cycle, Options, RunLoop};
use lpa_drivers::scale::hpa;
use lpa_drivers::scale::kubectl::{Kubectl, KubectlTarget, Workload};
use lpa_drivers::scale::lease::Lease;
use lpa_drivers::scale::local::{LocalOptions, LocalPool, ReplicaCommand};
use lpa_drivers::scale::state_configmap::{StateConfigMap, STATE_KEY};
use lpa_drivers::scale::ScaleTarget;
use lpa_drivers::state_file::{StateClaim, StateFile};

use super::{load_driver, stop_signals};
use crate::cli::{DriverArgs, LoadDriver, RunArgs, Scaler};
use crate::settings::{load_config, Failure, Result};
use crate::text::count;

/// Where the local pool's proxy listens by default (`lpa run --help`).
const DEFAULT_LISTEN: std::net::SocketAddr = std::net::SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    0,
));

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let mut target = match args.scaler {
        Scaler::Local => return local(&args),
        Scaler::Kubectl => {
            let local_only = [
                args.replica_cmd
                    .as_ref()
                    .map(|c| format!("--replica-cmd {c:?}")),
                args.replicas.map(|n| format!("--replicas {n}")),
                args.listen.map(|a| format!("--listen {a}")),
                args.ready_timeout
                    .map(|d| format!("--ready-timeout {}", format_duration(d))),
                args.drain_timeout
                    .map(|d| format!("--drain-timeout {}", format_duration(d))),
            ];
            // Taken in silence, `--replicas 3` reads as the workload's size.
            if let Some(flag) = local_only.into_iter().flatten().next() {
                return Err(Failure::new(format!(
                    "{flag}: is for the local pool of --scaler local; --scaler kubectl has no pool: it scales --target in the cluster"
                )));
            }
            let spec = args
                .target
                .as_deref()
                .ok_or_else(|| Failure::new("--target is required with --scaler kubectl"))?;
            let workload = Workload::parse(spec, args.namespace.as_deref())?;
            let mut kubectl = Kubectl::new(&args.kubectl, args.kubectl_timeout);
            kubectl.kubeconfig = args.kubeconfig.clone();
            kubectl.context = args.context.clone();
            KubectlTarget::new(kubectl, workload)
        }
    };
    let config = load_config(&args.policy)?;
    let (plan, mut notes) = load_plan(&args, &config, &args.load.overrides()?)?;
    let policy = config.policy;
    let kubectl = target.kubectl.check()?;
    // Every later call names the context kubectl uses now (and the
    // namespace its first read finds, KubectlTarget): kubectl reads the
    // kubeconfig's current context on each call, and a `kubectl config
    // use-context` run beside lpa (a shared ~/.kube/config) moved the loop,
    // its state and its Lease to another cluster mid-run.
    if target.kubectl.context.is_none() {
        target.kubectl.context.clone_from(&kubectl.context);
    }
    // Where kubectl scales it, which a wrapper's own -n may make another
    // than the context's.
    let scaled = target
        .scaled_namespace()
        .or_else(|| kubectl.namespace.clone());
    notes.extend(check_hpas(&target, scaled.as_deref(), args.dry_run)?);
    if let Some(name) = &args.lease {
        let identity = lease_identity(&target.instance);
        let duration = lease_duration(args.interval, plan.run_time + plan.grace);
        notes.push(if args.dry_run {
            format!("lease {name}: neither read nor taken in a dry run, which scales nothing")
        } else {
            format!(
                "lease {name}: scales only while holding it, as {identity}; a holder that stops renewing keeps it {}",
                format_duration(duration)
            )
        });
        target.lease = Some(
            Lease::new(target.kubectl.clone(), name, &identity, duration)
                .guarding(&target.workload.reference()),
        );
    }
    if let Some(name) = &args.state_configmap {
        notes.push(if args.dry_run {
            format!("state configmap {name}: read before each decision, never written in a dry run, which saves no state")
        } else {
            format!(
                "state: kept in configmap {name} too (key {STATE_KEY}), read before the first decision{}",
                if args.lease.is_some() { " and on taking the lease" } else { "" }
            )
        });
        let mut map =
            StateConfigMap::new(target.kubectl.clone(), name, &target.workload.reference());
        // A dry run follows the deciding loop's saves.
        map.every_cycle = args.dry_run;
        target.state_map = Some(map);
    }
    // A cycle's kubectl calls (reading the count, scaling, reading again
    // after a scale that timed out, the Event; the Lease, the state's
    // ConfigMap pulled and pushed) may each take their timeout: a loop
    // waiting on a slow API server is not stuck.
    let calls = 4 + u32::from(args.lease.is_some()) + 2 * u32::from(args.state_configmap.is_some());
    let outputs = outputs(&args, &plan, calls * args.kubectl_timeout)?;
    drive(
        &mut target,
        &format!("via kubectl {kubectl}"),
        &policy,
        &plan,
        &notes,
        outputs,
        &args,
    )
}

/// Refuses a workload a HorizontalPodAutoscaler scales too (the two would
/// scale over each other); a dry run, which scales nothing, is only warned.
/// A list it cannot read is a warning: the check is advisory, and a Role
/// from before it (no `list` on HPAs) must keep working. `namespace` is
/// kubectl's without `-n`.
fn check_hpas(
    target: &KubectlTarget,
    namespace: Option<&str>,
    dry_run: bool,
) -> Result<Option<String>> {
    let workload = &target.workload;
    let skipped = |why: &str| {
        format!(
            "warning: not checked for a HorizontalPodAutoscaler on {}: {why}",
            workload.reference()
        )
    };
    let Some(namespace) = workload.namespace.as_deref().or(namespace) else {
        return Ok(Some(skipped(
            "its namespace is not known before the first read (kubectl has no context, and no in-cluster config); pass -n",
        )));
    };
    Ok(match hpa::check(&target.kubectl, namespace, workload) {
        hpa::Check::Clear => None,
        hpa::Check::Taken(hpas) if dry_run => Some(format!(
            "warning: {}; a dry run scales nothing, so it runs",
            hpa::conflict(workload, &hpas)
        )),
        hpa::Check::Taken(hpas) => return Err(Failure::new(hpa::conflict(workload, &hpas))),
        hpa::Check::Skipped(why) => Some(skipped(&why)),
    })
}

const RUN_WAY_OUT: &str = "describe the load in the evaluation config's `load:` section (load.requests), which the native users then send instead (lpa run sends with the native users only; Locust itself runs the locustfile under the CPA hooks, in the image with Locust)";

/// The native users' plan, the locustfile translated as `lpa loadtest`
/// translates it (one that cannot be is an error), and the lines to say
/// after the first one (where the load came from, warnings). The loop runs
/// only the native driver: its probe runs every interval, in process.
fn load_plan(
    args: &RunArgs,
    config: &EvaluationConfig,
    overrides: &LoadOverrides,
) -> Result<(LoadPlan, Vec<String>)> {
    let driver = DriverArgs {
        load_driver: LoadDriver::Native,
        locustfile: args.locustfile.clone(),
        locust_bin: None,
    };
    // The loop runs only the native users: of the ways out of a locustfile
    // they cannot send, Locust's image is the CPA hooks', not run's.
    let prepared =
        load_driver::prepare(&driver, Some(config), overrides, None, None).map_err(|e| {
            let ways = lpa_core::locustfile::WAYS_OUT;
            Failure::new(e.message.replace(ways, RUN_WAY_OUT))
        })?;
    // `; translated FILE: 1 user class, 1 task`: where the requests and
    // waits on the first line came from.
    let source = prepared
        .translated
        .map(|t| format!("load:{}", t.trim_start_matches(';')))
        .or_else(|| {
            prepared
                .not_used
                .map(|n| format!("load: {n} {}", args.locustfile.display()))
        });
    let warnings = prepared.warnings.iter().map(|w| format!("warning: {w}"));
    let mut notes: Vec<String> = source.into_iter().chain(warnings).collect();
    // run reads neither loadDriver nor LOCUST_BIN: a Locust asked for that
    // way would otherwise go unused without a word.
    if std::env::var("loadDriver").is_ok_and(|d| d.trim().eq_ignore_ascii_case("locust")) {
        notes.push(
            "warning: loadDriver=locust is not used: lpa run sends with its native users only (Locust runs the locustfile under the CPA hooks, in the image with Locust)"
                .to_string(),
        );
    }
    Ok((prepared.plan, notes))
}

/// `--scaler local`: the pool binds its listen address and starts its first
/// replicas only after everything else was checked.
fn local(args: &RunArgs) -> Result<ExitCode> {
    if let Some(name) = &args.lease {
        return Err(Failure::new(format!(
            "--lease {name}: a Lease is kept in a cluster; it needs --scaler kubectl"
        )));
    }
    if let Some(name) = &args.state_configmap {
        return Err(Failure::new(format!(
            "--state-configmap {name}: a ConfigMap is kept in a cluster; it needs --scaler kubectl (the local pool's state is the --decay-info file)"
        )));
    }
    // These name a workload and a cluster that the local pool never asks:
    // taken in silence, `--target deployment/web` reads as if it scaled web.
    let kubectl_only = [
        args.target.as_ref().map(|t| format!("--target {t}")),
        args.namespace.as_ref().map(|n| format!("--namespace {n}")),
        args.kubeconfig
            .as_ref()
            .map(|k| format!("--kubeconfig {}", k.display())),
        args.context.as_ref().map(|c| format!("--context {c}")),
    ];
    if let Some(flag) = kubectl_only.into_iter().flatten().next() {
        return Err(Failure::new(format!(
            "{flag}: names a workload in a cluster; it needs --scaler kubectl (--scaler local scales the processes of --replica-cmd)"
        )));
    }
    let text = args
        .replica_cmd
        .as_deref()
        .ok_or_else(|| Failure::new("--replica-cmd is required with --scaler local"))?;
    let command = ReplicaCommand::parse(text)?;
    let mut config = load_config(&args.policy)?;
    let defaults = LocalOptions::default();
    let mut options = LocalOptions {
        ready_timeout: args.ready_timeout.unwrap_or(defaults.ready_timeout),
        drain_timeout: args.drain_timeout.unwrap_or(defaults.drain_timeout),
        ..defaults
    };
    // A cycle may wait for a new replica, and for an old one to drain and
    // stop: a loop doing so is not stuck.
    let waits = options.ready_timeout + options.drain_timeout + options.stop_grace;
    let mut overrides = args.load.overrides()?;
    // Each of the load test's users keeps a connection to the proxy open:
    // under fewer connections than users the probe queued behind itself,
    // and read its own wait as latency (300 users on the 256 connections
    // scaled to maxReplicas, cycle after cycle). Room for the users and as
    // many others as before.
    let users = {
        let mut placeholder = overrides.clone();
        placeholder.host.get_or_insert("http://127.0.0.1".parse()?);
        load_plan(args, &config, &placeholder)?.0.users
    };
    options.proxy.max_connections += users as usize;
    let start = args.replicas.unwrap_or(1);
    // Checked before the pool listens, so a bad count is the only line. A
    // pool of 0 holds at 0 as a workload scaled to zero does: a loop that
    // never scales, where 0 was surely a slip.
    let pool_max = options.max_replicas;
    if start == 0 || start > pool_max {
        return Err(Failure::new(format!(
            "--replicas {}: the local pool starts 1 to {pool_max} replicas (at 0, lpa holds at 0: it never scales a workload up from zero)",
            start
        )));
    }
    let listen = args.listen.unwrap_or(DEFAULT_LISTEN);
    let mut pool = LocalPool::new(command, listen, options)?;
    if overrides.host.is_none() {
        overrides.host = Some(pool.addr().into());
    }
    let (plan, mut warnings) = load_plan(args, &config, &overrides)?;
    // Past the pool's limit every scale-up would fail, cycle after cycle:
    // decide within it instead, as a workload's quota would bound it.
    let policy = &mut config.policy;
    if policy.max_replicas().is_none_or(|m| m > pool_max) {
        let asked = [
            ("minReplicas", Some(policy.min_replicas())),
            ("maxReplicas", policy.max_replicas()),
        ];
        for (field, n) in asked {
            if let Some(n) = n.filter(|&n| n > pool_max) {
                warnings.push(format!(
                    "warning: {field} {n}: the local pool runs at most {pool_max} replicas; lpa decides at most {pool_max}"
                ));
            }
        }
        let min = policy.min_replicas().min(pool_max);
        policy
            .set_replica_bounds(min, Some(pool_max))
            .map_err(|e| Failure::new(e.to_string()))?;
    }
    // Started past the policy's bound, they are stopped again at the first
    // cycle: said, as a slip it likely is (a way to watch a scale-down too).
    if let Some(max) = policy.max_replicas().filter(|&m| start > m) {
        warnings.push(format!(
            "warning: --replicas {}: above maxReplicas {max} (the evaluation config's, or --max-replicas); the first cycle stops what is past it",
            start
        ));
    }
    let outputs = outputs(args, &plan, waits)?;
    pool.set_observer(|e| say!("lpa run: local: {e}"));
    pool.stop_on(&outputs.stop);
    say!("lpa run: local: listening on {}", pool.addr());
    if let Err(e) = pool.scale(0, start) {
        if outputs.stop.load(Ordering::SeqCst) {
            say!("lpa run: local: {e}");
            say!("lpa run: stopped by signal after 0 cycles; state untouched (no cycle ran)");
            return Ok(ExitCode::SUCCESS);
        }
        return Err(e.into());
    }
    let via = format!("running {:?}", text);
    drive(
        &mut pool,
        &via,
        &config.policy,
        &plan,
        &warnings,
        outputs,
        args,
    )
}

/// This process's `holderIdentity`: the host name (a pod's), the process
/// id, and a token drawn at start. Host and pid alone are not unique: two
/// containers of one pod share its host name, as pods with `hostNetwork`
/// share their node's, and each runs lpa as pid 1 of its own; with the
/// same name both would take the Lease as their own. A loop restarted in
/// its pod is then a new holder, as client-go's host name and UUID make
/// it: it waits out the duration of the Lease its former self held.
fn lease_identity(host: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    // std seeds each RandomState from the OS's randomness.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!(
        "{host}_{}_{:08x}",
        std::process::id(),
        hasher.finish() as u32
    )
}

/// How long a holder that stops renewing keeps the Lease: three of its
/// cycles (a cycle is the interval, or its load test when that is longer),
/// as `/healthz` waits before it calls a loop stuck, and at least 10 s.
/// A loop renews at each cycle's start, so a slow cycle or two never
/// hands the Lease over; one that stopped hands it over within this.
fn lease_duration(interval: Duration, load_test: Duration) -> Duration {
    let cycles = 3 * interval.max(load_test);
    Duration::from_secs(cycles.as_secs_f64().ceil() as u64).max(Duration::from_secs(10))
}

/// Where `lpa run` writes: the state file, the decision log, and the
/// metrics endpoint.
struct Outputs {
    state: StateFile,
    /// Held for the loop's life: one loop per state file.
    claim: StateClaim,
    log: Option<DecisionLog>,
    metrics: Option<(Arc<Metrics>, MetricsServer)>,
    /// Set by SIGINT, SIGTERM or SIGHUP.
    stop: Arc<AtomicBool>,
}

/// The outputs, checked (and the metrics address bound) before anything
/// runs. `waits`: what a working cycle may wait for besides its load test.
fn outputs(args: &RunArgs, plan: &LoadPlan, waits: Duration) -> Result<Outputs> {
    // First: a port it cannot have is an error that leaves no file made
    // (the state's claim and lock, the decision log).
    let metrics = match args.metrics_listen {
        Some(addr) => {
            // With an interval shorter than a cycle's load test and waits
            // (0: back to back), cycles end that far apart, and a working
            // loop must not read as stuck: one waiting for a replica within
            // --ready-timeout answered 503, "the loop is stuck".
            let period = args.interval.max(plan.run_time + plan.grace + waits);
            let metrics = Arc::new(Metrics::new(env!("CARGO_PKG_VERSION"), period));
            let server = MetricsServer::start(addr, Arc::clone(&metrics)).map_err(|e| {
                Failure::new(format!(
                    "--metrics-listen {addr} (env LPA_METRICS_LISTEN): cannot listen: {e}"
                ))
            })?;
            Some((metrics, server))
        }
        None => None,
    };
    // What the loop reads; an output on one would destroy it.
    let mut inputs = vec![
        ("--evaluation-config", args.policy.evaluation_config.clone()),
        ("--locustfile (locustFilePath)", args.locustfile.clone()),
    ];
    inputs.extend(args.load.ca_bundle.clone().map(|p| ("--ca-bundle", p)));
    if args.scaler == Scaler::Kubectl {
        let files = lpa_drivers::scale::kubectl::kubeconfig_files(args.kubeconfig.as_deref());
        inputs.extend(files.into_iter().map(|p| ("the kubeconfig", p)));
    }
    let mut outputs: Vec<(&str, PathBuf)> = Vec::new();
    if let Some(log) = &args.decision_log {
        outputs.push(("--decision-log", log.clone()));
        // Rotation replaces FILE.1 with the log: it is an output too.
        if args.decision_log_max_size.0.is_some() {
            outputs.push(("--decision-log's rotation to", DecisionLog::rotated(log)));
        }
    }
    for (flag, output) in &outputs {
        for (input, path) in &inputs {
            crate::settings::distinct_files((flag, output), (input, path))?;
        }
    }
    let others = [inputs, outputs].concat();
    crate::settings::apart_from_state("--decay-info", &args.state.decay_info, &others)?;
    let state = StateFile::new(&args.state.decay_info);
    let claim = state.claim()?;
    // A state file that cannot be written fails every cycle; say so once,
    // up front. Taking the lock creates only the sibling lock file.
    drop(state.lock()?);
    let log = match &args.decision_log {
        Some(path) => {
            let log = DecisionLog::open(path)?.max_size(args.decision_log_max_size.0);
            if args.decision_log_max_size.0.is_some() && !log.rotatable() {
                say!(
                    "lpa run: warning: decision log {}: not a regular file (a symlink, a device or a pipe): --decision-log-max-size does not rotate it (off says so and silences this)",
                    path.display()
                );
            }
            if let Some(bytes) = log.dropped() {
                say!(
                    "lpa run: warning: decision log {}: its last line was cut short (a crash mid-write): dropped those {bytes} bytes, so the next record starts a line",
                    path.display()
                );
            }
            Some(log)
        }
        None => None,
    };
    // Installed before the local pool starts its first replicas: a signal
    // while they start ends the run through the loop, which stops them,
    // where the default action left them running. SIGHUP (the terminal
    // closed) likewise.
    let stop = Arc::new(AtomicBool::new(false));
    stop_signals::install(
        &[
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ],
        &[&stop],
        Default::default(),
    )?;
    Ok(Outputs {
        state,
        claim,
        log,
        metrics,
        stop,
    })
}

/// The loop itself, the same for every scale target. Its first line says
/// what runs and the probe's plan (with `--scaler local`, after the pool's
/// own start).
fn drive<T: ScaleTarget + ?Sized>(
    target: &mut T,
    via: &str,
    policy: &lpa_core::Policy,
    plan: &LoadPlan,
    notes: &[String],
    outputs: Outputs,
    args: &RunArgs,
) -> Result<ExitCode> {
    let Outputs {
        state,
        claim: _claim,
        mut log,
        metrics,
        stop,
    } = outputs;
    let metrics = metrics.as_ref().map(|(metrics, server)| {
        say!(
            "lpa run: metrics on http://{0}/metrics, liveness on http://{0}/healthz",
            server.addr()
        );
        metrics.as_ref()
    });

    let options = Options {
        interval: args.interval,
        max_cycles: if args.once { Some(1) } else { args.max_cycles },
        dry_run: args.dry_run,
    };
    let name = target.describe();
    say!(
        "lpa run: {name} {via}; load {}: {}; {}{}",
        plan.host,
        plan.describe(),
        match options.max_cycles {
            Some(1) => "one cycle".to_string(),
            Some(n) => format!("{n} cycles, every {}", format_duration(options.interval)),
            None => format!("every {}", format_duration(options.interval)),
        },
        if options.dry_run {
            "; dry run: nothing is scaled or saved"
        } else {
            ""
        }
    );

    for n in notes {
        say!("lpa run: {n}");
    }
    if let Some(w) = super::check::runaway_warning(policy, plan.timeout) {
        say!("lpa run: warning: {w}");
    }
    // An interval of 0 asks for cycles back to back; any other that the
    // load test fills leaves the service under lpa's load all the time,
    // which every reading then includes.
    if !options.interval.is_zero() && plan.run_time >= options.interval {
        say!(
            "lpa run: warning: the load test runs {} of every {} interval: cycles run back to back and the service is always under lpa's load; keep --interval above the run time plus the scaling calls",
            format_duration(plan.run_time),
            format_duration(options.interval)
        );
    }

    let measure = |current: u32| -> std::result::Result<_, load::LoadError> {
        let outcome = load::run(plan, None)?;
        if let Some(m) = metrics {
            m.observe_probe(
                outcome.num_requests,
                outcome.num_failures,
                &outcome.latencies_ns,
            );
        }
        Ok(outcome.into_report(Some(current)))
    };
    let once = options.max_cycles == Some(1);
    let dry_run = options.dry_run;
    let mut last_failure = None;
    let mut saved = false;
    let summary = RunLoop {
        target: &mut *target,
        measure,
        policy,
        state: &state,
        log: log.as_mut(),
        options,
        stop: &stop,
    }
    .run(|cycle| {
        if let Some(m) = metrics {
            m.observe_cycle(cycle);
        }
        // With --once a failure is the command's error line; saying it in
        // the cycle's line too would say it twice.
        print_cycle(&name, cycle, !once);
        saved |= cycle.saved;
        if let Some((step, e)) = &cycle.failure {
            last_failure = Some(format!("{}: {e}", step.name()));
        }
    });

    match target.release() {
        Ok(Some(done)) => say!("lpa run: {done}"),
        Ok(None) => {}
        Err(e) => say!("lpa run: warning: cannot release the lease: {e}"),
    }
    if summary.stopped {
        say!(
            "lpa run: stopped by signal after {}; state {}",
            count(summary.cycles, "cycle"),
            if dry_run {
                "untouched (dry run)".to_string()
            } else if summary.cycles == 0 {
                "untouched (no cycle ran)".to_string()
            } else if let Some(why) = &summary.unsaved {
                format!("of the last cycle not saved ({why}): the file holds an older one")
            } else if !saved {
                "untouched (no cycle decided and saved it)".to_string()
            } else {
                format!("saved in {}", state.path().display())
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    match last_failure {
        Some(last) if summary.cycles == 1 => Err(Failure::new(last)),
        Some(last) => Err(Failure::new(format!(
            "{} of {} cycles failed; the last: {last}",
            summary.failed_cycles, summary.cycles
        ))),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// One readable line per cycle on stderr; the JSON line is the record.
/// Without `with_failure` the caller says the cycle's failure (`--once`'s
/// error line), and the decision's line says only that its scale failed.
fn print_cycle(name: &str, cycle: &Cycle, with_failure: bool) {
    for w in &cycle.warnings {
        say!("lpa: warning: {w}");
    }
    let n = cycle.number;
    for note in &cycle.notes {
        say!("lpa run: #{n} {name}: {note}");
    }
    if let Some(why) = &cycle.standby {
        say!("lpa run: #{n} {name}: standby: {why}");
    }
    match (&cycle.record, &cycle.failure) {
        (Some(r), failure) => {
            let outcome = match &r.outcome {
                Outcome::Applied if r.decided == r.current => "unchanged".to_string(),
                Outcome::Applied => format!("scaled {} -> {}", r.current, r.decided),
                Outcome::ScaleFailed { .. } if !with_failure => {
                    "not applied: scale failed".to_string()
                }
                not_applied => format!("not applied: {not_applied}"),
            };
            say!(
                "lpa run: #{n} {name}: {} => {} ({outcome})",
                r.summary,
                r.decided
            );
            if let Some((step, e)) = failure {
                if r.outcome.is_applied() && with_failure {
                    say!("lpa run: #{n} {name}: {} failed: {e}", step.name());
                }
            }
        }
        (None, Some((step, e))) if with_failure => {
            say!(
                "lpa run: #{n} {name}: {} failed: {e} (nothing changed)",
                step.name()
            );
        }
        (None, _) => {}
    }
}
