//! `lpa check`: validate the config and show the policy as lpa will apply it.

use std::process::ExitCode;

use crate::cli::CheckArgs;
use crate::settings::{load_policy, Failure, Result};

pub fn run(args: CheckArgs) -> Result<ExitCode> {
    let policy = load_policy(&args.policy)?;
    let text = if args.json {
        serde_json::to_string_pretty(&policy).map_err(|e| Failure::new(e.to_string()))?
    } else {
        serde_yaml::to_string(&policy).map_err(|e| Failure::new(e.to_string()))?
    };
    println!("{}", text.trim_end());
    eprintln!(
        "lpa check: {} is valid ({} target{})",
        args.policy.evaluation_config.display(),
        policy.targets.len(),
        if policy.targets.len() == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}
