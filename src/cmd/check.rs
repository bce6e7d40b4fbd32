//! `lpa check`: validate the evaluation config and the load-test settings
//! (flags, or the original env vars such as locustUsers) and show both as
//! lpa will apply them, defaults filled in. Nothing is sent anywhere.

use std::process::ExitCode;

use lpa_core::config::EvaluationConfig;
use lpa_core::duration::format_duration;
use lpa_drivers::load::LoadPlan;
use serde::Serialize;

use crate::cli::CheckArgs;
use crate::settings::{load_config, Failure, Result};
use crate::text::count;

/// Stands in for a missing host so the other settings still get checked.
const PLACEHOLDER_HOST: &str = "http://127.0.0.1";

pub fn run(args: CheckArgs) -> Result<ExitCode> {
    let config = load_config(&args.policy)?;
    let policy = &config.policy;
    let mut overrides = args.load.overrides();
    let host_set = overrides
        .host
        .as_deref()
        .is_some_and(|h| !h.trim().is_empty());
    if !host_set {
        overrides.host = Some(PLACEHOLDER_HOST.to_string());
    }
    let plan =
        LoadPlan::from_config(&config, &overrides).map_err(|e| Failure::new(e.to_string()))?;

    let doc = Effective {
        config: &config,
        effective_load: EffectiveLoad::new(&plan, host_set),
    };
    let text = if args.json {
        serde_json::to_string_pretty(&doc).map_err(|e| Failure::new(e.to_string()))?
    } else {
        serde_yaml::to_string(&doc).map_err(|e| Failure::new(e.to_string()))?
    };
    crate::settings::emit(format!("{}\n", text.trim_end()).as_bytes())?;
    if !host_set {
        eprintln!("lpa check: note: no host set (locustHost or --host); metric, loadtest and run need one");
    }
    if policy.max_replicas().is_none() {
        eprintln!("lpa check: note: maxReplicas unbounded: lpa sets no upper limit (under CPA, CPA's own maxReplicas, default 10, still applies)");
    }
    eprintln!(
        "lpa check: {} is valid ({}; {} for {})",
        args.policy.evaluation_config.display(),
        count(policy.targets().len(), "target"),
        count(plan.users, "user"),
        format_duration(plan.run_time),
    );
    Ok(ExitCode::SUCCESS)
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
    host: Option<String>,
    users: u32,
    spawn_rate: f64,
    run_time: String,
    wait_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    arrival_rate: Option<f64>,
    timeout: String,
    grace: String,
    fail_status: u16,
    requests: Vec<RequestView>,
}

#[derive(Serialize)]
struct RequestView {
    method: String,
    path: String,
    name: String,
    weight: u32,
}

impl EffectiveLoad {
    fn new(plan: &LoadPlan, host_set: bool) -> EffectiveLoad {
        EffectiveLoad {
            host: host_set.then(|| plan.host.clone()),
            users: plan.users,
            spawn_rate: plan.spawn_rate,
            run_time: format_duration(plan.run_time),
            wait_time: plan.wait_time.to_string(),
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
        }
    }
}
