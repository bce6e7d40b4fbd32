//! `lpa check`: validate the evaluation config and the load-test settings
//! (flags, or the original env vars such as locustUsers) and show both as
//! lpa will apply them, defaults filled in: the load driver `lpa metric`
//! would pick, the locustfile translated when the native users would run
//! it, and the probe's plan (users, wait or arrival rate, expected requests
//! per run). A locustfile Locust would run is loaded by Locust, as `lpa
//! metric` would, without starting a user. Nothing is sent anywhere.

use std::process::ExitCode;

use std::time::Duration;

use lpa_core::config::{EvaluationConfig, ScaleUp};
use lpa_core::duration::format_duration;
use lpa_core::log::num;
use lpa_core::Policy;
use lpa_drivers::load::{HostUrl, LoadPlan};
use lpa_drivers::locust::Selection;
use serde::Serialize;

use super::load_driver::{self, Prepared};
use crate::cli::CheckArgs;
use crate::settings::{load_config_under, Failure, Result};
use crate::text::count;

/// Stands in for a missing host so the other settings still get checked.
const PLACEHOLDER_HOST: &str = "http://127.0.0.1";

pub fn run(args: CheckArgs) -> Result<ExitCode> {
    // Under CPA (its config file read), the policy is the evaluate hook's:
    // bounded by CPA's minReplicas and maxReplicas as it is.
    let cpa = super::hook::CpaConfig::load(|k| std::env::var(k).ok());
    let mut config = load_config_under(&args.policy, &cpa.file_bounds)?;
    let name = args.policy.evaluation_config.display().to_string();
    let unbounded = config.policy.max_replicas().is_none();
    let cpa_bound = cpa
        .found
        .then(|| cpa.bound(&mut config.policy, &name))
        .flatten();
    // The printed maxReplicas is then CPA's, which nothing else says.
    let cpa_default = unbounded && config.policy.max_replicas().is_some();
    let policy = &config.policy;
    let overrides = args.load.overrides()?;
    let placeholder: HostUrl = PLACEHOLDER_HOST.parse()?;
    let prepared = load_driver::prepare(
        &args.driver,
        Some(&config),
        &overrides,
        None,
        Some(&placeholder),
    )?;
    if let Selection::Locust { program, .. } = &prepared.selection {
        lpa_drivers::locust::check_loads(program, &args.driver.locustfile)?;
    }
    let plan = &prepared.plan;
    let host_set = overrides.host.is_some() || plan.host != placeholder;

    let doc = Effective {
        config: &config,
        effective_load: EffectiveLoad::new(&prepared, host_set),
    };
    let text = if args.json {
        serde_json::to_string_pretty(&doc).map_err(|e| Failure::new(e.to_string()))?
    } else {
        serde_yaml::to_string(&doc).map_err(|e| Failure::new(e.to_string()))?
    };
    crate::settings::emit(format!("{}\n", text.trim_end()).as_bytes())?;
    if !host_set {
        say!("lpa check: note: no host set (locustHost or --host); metric, loadtest and run need one");
    }
    if policy.max_replicas().is_none() {
        say!("lpa check: note: maxReplicas unbounded: lpa sets no upper limit (under CPA, CPA's own maxReplicas, default 10, still applies)");
    }
    if let (true, Some(max)) = (cpa_default, policy.max_replicas()) {
        say!("lpa check: note: maxReplicas {max} is CPA's default: neither the evaluation config nor CPA's config or env sets one");
    }
    for n in overridden(config.load.as_ref(), &overrides) {
        say!("lpa check: note: {n}");
    }
    if let Some(w) = runaway_warning(policy, plan.timeout) {
        say!("lpa check: warning: {w}");
    }
    let refused = cpa.refused.iter().filter(|_| cpa.found);
    for w in cpa.warning.iter().chain(&cpa_bound).chain(refused) {
        say!("lpa check: warning: {w}");
    }
    if cpa.per_pod() {
        say!("lpa check: warning: {}", super::metric::PER_POD);
    }
    let locust = matches!(prepared.selection, Selection::Locust { .. });
    for w in super::hook::cpa_probe_warnings(plan, locust, &cpa) {
        say!("lpa check: warning: {w}");
    }
    if let Some(n) = super::hook::cpa_window_note(policy, &cpa) {
        say!("lpa check: note: {n}");
    }
    for w in &prepared.warnings {
        say!("lpa check: warning: {w}");
    }
    say!(
        "lpa check: {} is valid ({}); {}",
        args.policy.evaluation_config.display(),
        count(policy.targets().len(), "target"),
        load_driver::driver_line(&prepared),
    );
    Ok(ExitCode::SUCCESS)
}

/// The config's `load:` settings that a flag or an env var replaces: the
/// seed guide's image sets `locustUsers`, `locustRunTime` and
/// `locustHatchRate`, which replaced a `load:` section without a word.
fn overridden(
    load: Option<&lpa_core::config::LoadSpec>,
    o: &lpa_drivers::load::LoadOverrides,
) -> Vec<String> {
    let Some(load) = load else {
        return Vec::new();
    };
    let mut notes = Vec::new();
    let mut note = |flag: &str, field: &str, given: String, config: String| {
        if given != config {
            notes.push(format!(
                "{flag} {given} replaces the evaluation config's load.{field} {config}"
            ));
        }
    };
    if let (Some(g), Some(c)) = (o.users, load.users) {
        note(
            "--users (locustUsers)",
            "users",
            g.to_string(),
            c.to_string(),
        );
    }
    if let (Some(g), Some(c)) = (o.spawn_rate, load.spawn_rate) {
        note(
            "--spawn-rate (locustHatchRate, locustSpawnRate)",
            "spawnRate",
            num(g),
            num(c),
        );
    }
    if let (Some(g), Some(c)) = (o.run_time, load.run_time) {
        note(
            "--run-time (locustRunTime)",
            "runTime",
            format_duration(g),
            format_duration(c),
        );
    }
    notes
}

/// A proportional scale-up bounded by neither `maxChange` nor
/// `maxReplicas` multiplies the replicas by observed / target in one run:
/// a saturated service reads seconds against a target of milliseconds.
/// `lpa run` says it too, before its first cycle: by then it scales for real.
pub(super) fn runaway_warning(policy: &Policy, timeout: Duration) -> Option<String> {
    if policy.max_replicas().is_some() {
        return None;
    }
    let ScaleUp::Proportional {
        max_change: None, ..
    } = policy.scale_up()
    else {
        return None;
    };
    let latency = policy
        .targets()
        .iter()
        .filter(|t| t.kind().unit() == "ms" && t.target() > 0.0)
        .map(|t| t.target())
        .min_by(f64::total_cmp);
    let worst = match latency {
        Some(ms) => format!(
            ", {}x where a request times out at {} against the {}ms target",
            (timeout.as_secs_f64() * 1000.0 / ms).floor(),
            format_duration(timeout),
            num(ms)
        ),
        None => String::new(),
    };
    Some(format!(
        "scaleUp proportional with no maxChange and no maxReplicas: one run can multiply the replicas by observed / target{worst}; set scaleUp.maxChange or maxReplicas"
    ))
}

/// The policy, then the load plan, in the order a user reads them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Effective<'a> {
    #[serde(flatten)]
    config: &'a EvaluationConfig,
    effective_load: EffectiveLoad,
}

/// The load plan as a user reads it. Headers are left out: they may carry
/// credentials, and the config file already shows them to whoever may see.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EffectiveLoad {
    /// `native` or `locust`, and why.
    driver: &'static str,
    driver_reason: String,
    host: Option<String>,
    users: u32,
    spawn_rate: f64,
    run_time: String,
    wait_time: String,
    /// The native users' requests per run, when they wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_requests: Option<u64>,
    /// Users, wait or arrival rate, and expected requests, in words.
    probe: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    arrival_rate: Option<f64>,
    timeout: String,
    grace: String,
    fail_status: u16,
    requests: Vec<RequestView>,
    /// A translated locustfile's user classes and tasks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    user_classes: Vec<ClassView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClassView {
    name: String,
    weight: u32,
    wait_time: String,
    tasks: Vec<TaskView>,
}

#[derive(Serialize)]
struct TaskView {
    name: String,
    weight: u32,
    /// `"GET /path"`, in order.
    requests: Vec<String>,
}

#[derive(Serialize)]
struct RequestView {
    method: String,
    path: String,
    name: String,
    weight: u32,
}

impl EffectiveLoad {
    fn new(prepared: &Prepared, host_set: bool) -> EffectiveLoad {
        let plan: &LoadPlan = &prepared.plan;
        let driver = match &prepared.selection {
            Selection::Native { .. } => "native",
            Selection::Locust { .. } => "locust",
        };
        let native = driver == "native";
        EffectiveLoad {
            driver,
            driver_reason: format!(
                "{}{}",
                prepared.why,
                prepared.translated.as_deref().unwrap_or_default()
            ),
            host: host_set.then(|| plan.host.to_string()),
            users: plan.users,
            spawn_rate: plan.spawn_rate,
            run_time: format_duration(plan.run_time),
            wait_time: if native {
                plan.wait_text()
            } else {
                "the locustfile's".into()
            },
            expected_requests: plan.expected_requests().filter(|_| native),
            probe: load_driver::probe(prepared),
            arrival_rate: plan.arrival_rate,
            timeout: format_duration(plan.timeout),
            grace: format_duration(plan.grace),
            fail_status: plan.fail_status,
            requests: plan
                .requests
                .iter()
                .map(|r| RequestView {
                    method: r.method.to_string(),
                    path: r.path.clone(),
                    name: r.name.clone(),
                    weight: r.weight,
                })
                .collect(),
            user_classes: match prepared.translated {
                None => Vec::new(),
                Some(_) => plan
                    .classes
                    .iter()
                    .map(|c| ClassView {
                        name: c.name.clone(),
                        weight: c.weight,
                        wait_time: c.wait_time.to_string(),
                        tasks: c
                            .tasks
                            .iter()
                            .map(|t| TaskView {
                                name: t.name.clone(),
                                weight: t.weight,
                                requests: t
                                    .requests
                                    .iter()
                                    .map(|&i| {
                                        let r = &plan.requests[i];
                                        format!("{} {}", r.method, r.path)
                                    })
                                    .collect(),
                            })
                            .collect(),
                    })
                    .collect(),
            },
        }
    }
}
