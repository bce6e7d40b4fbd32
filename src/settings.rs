//! Loading what several subcommands share: the policy with its overrides.

use std::fmt;

use lpa_core::Policy;

use crate::cli::PolicyArgs;

/// A failure of the command: one line for stderr and an exit code.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::new(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

/// Writes data to stdout. A reader that stopped early (`lpa simulate ... |
/// head`) is not an error; `print!` would panic there.
pub fn emit(bytes: &[u8]) -> Result<()> {
    use std::io::{ErrorKind, Write};
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::new(format!("stdout: {e}"))),
    }
}

/// Reads and validates the evaluation config, applies the min/max overrides
/// and prints warnings (unknown fields) to stderr.
pub fn load_policy(args: &PolicyArgs) -> Result<Policy> {
    let path = &args.evaluation_config;
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::new(format!(
            "{name}: cannot read the evaluation config: {e} (set evaluationConfigFilePath or --evaluation-config)"
        ))
    })?;
    let parsed = lpa_core::parse_policy(&name, &text)?;
    for w in &parsed.warnings {
        eprintln!("lpa: warning: {w}");
    }
    let mut policy = parsed.policy;
    if let Some(min) = args.min_replicas {
        policy.min_replicas = min;
    }
    if let Some(max) = args.max_replicas {
        policy.max_replicas = Some(max);
    }
    if let Some(max) = policy.max_replicas {
        if max == 0 || max < policy.min_replicas {
            return Err(Failure::new(format!(
                "maxReplicas {max} is below minReplicas {} (from {name}, --min-replicas/--max-replicas or the minReplicas/maxReplicas env)",
                policy.min_replicas
            )));
        }
    }
    Ok(policy)
}
