//! The load driver of `lpa loadtest` and `lpa metric`: lpa's native users, or
//! real Locust running the user's locustfile (`--load-driver`, env
//! `loadDriver`). Both end in the same metric JSON, so `decide` cannot tell
//! them apart.
//!
//! 1. Pick the driver: `auto` takes Locust when the locustfile exists and a
//!    `locust` executable is found (`LOCUST_BIN`, else `PATH`); the open
//!    model (`--arrival-rate`) only exists natively.
//! 2. Build the [`LoadPlan`] (host, users, spawn rate, run time, grace,
//!    percentiles: flags > env > config > defaults). What the native users
//!    send: `--request`, else the config's `load.requests`, else the
//!    locustfile translated (`lpa_core::locustfile`; one that cannot be is
//!    an error, never dropped), else the targets.
//! 3. Run it, then say on stderr which driver ran and why, the probe's plan
//!    and what it measured (after the run, so that bad input leaves only
//!    its error line).

use std::path::Path;

use lpa_core::config::{EvaluationConfig, LoadSpec, RequestSpec};
use lpa_core::duration::format_duration;
use lpa_core::locustfile;
use lpa_core::wire::MetricReport;
use lpa_drivers::load::{HostUrl, LoadError, LoadOutcome, LoadOverrides, LoadPlan};
use lpa_drivers::locust::{
    self, DriverChoice, LocateError, LocustPlan, SelectError, Selection, Why,
};

use super::load_text::{announce, announce_locust, run_with_progress};
use crate::cli::{DriverArgs, LoadDriver};
use crate::settings::{Failure, Result};

/// What a load test measured, by the driver that ran it.
pub(super) enum Measured {
    Native(Box<LoadOutcome>),
    Locust(Box<MetricReport>),
}

impl Measured {
    /// The metric JSON, with the replica count the caller knows.
    pub(super) fn into_report(self, current_replicas: Option<u32>) -> MetricReport {
        match self {
            Measured::Native(outcome) => outcome.into_report(current_replicas),
            Measured::Locust(mut report) => {
                report.current_replicas = current_replicas;
                *report
            }
        }
    }
}

/// A load test ready to run: the driver, the plan, and what to say about
/// where the plan came from.
pub(super) struct Prepared {
    pub selection: Selection,
    /// Why this driver, in words: `auto: no locustfile at /locustfile.py`.
    pub why: String,
    pub plan: LoadPlan,
    /// Inside the driver line's parentheses, after the reason:
    /// `; translated FILE: 1 user class, 1 task`.
    pub translated: Option<String>,
    /// After them: why an existing locustfile is not what the users send.
    pub not_used: Option<&'static str>,
    /// Printed after the driver line.
    pub warnings: Vec<String>,
}

/// Where the native users' requests come from.
enum Source<'a> {
    /// `--request`, `load.requests` or the targets.
    Config,
    /// Nothing says: loadtest without a config sends this.
    Fallback(&'a RequestSpec),
    Locustfile,
}

/// Picks the driver and builds the plan. `fallback` is what to send when
/// nothing else says (loadtest without a config: `/`); `placeholder_host`
/// stands in for a missing host (`lpa check`).
pub(super) fn prepare(
    args: &DriverArgs,
    config: Option<&EvaluationConfig>,
    overrides: &LoadOverrides,
    fallback: Option<&RequestSpec>,
    placeholder_host: Option<&HostUrl>,
) -> Result<Prepared> {
    let load = config.and_then(|c| c.load.as_ref());
    let targets = config.map_or(&[][..], |c| c.policy.targets());
    let (selection, why) = select(args, load, overrides)?;
    let file = &args.locustfile;
    let exists = file.exists();
    let given = !overrides.requests.is_empty();
    let load_requests = load.is_some_and(|l| !l.requests.is_empty());
    let mut warnings = Vec::new();
    let mut not_used = None;
    let source = match &selection {
        Selection::Locust { .. } => {
            if overrides.wait_time.is_some() {
                warnings.push("--wait-time is ignored: the locustfile's wait_time decides what Locust waits (--load-driver native applies it)".to_string());
            }
            Source::Config
        }
        Selection::Native { .. } if given || load_requests => {
            if exists {
                not_used = Some(if given {
                    "not using the locustfile (--request says what to send)"
                } else {
                    "not using the locustfile (the evaluation config's load.requests says what to send)"
                });
            }
            Source::Config
        }
        Selection::Native { .. } if exists => Source::Locustfile,
        Selection::Native { .. } => {
            // The default is absent wherever no locustfile is meant (the
            // image without one); a path set by hand and absent is a typo
            // more likely than not, and the targets' requests went out in
            // its place with only the driver line's note.
            if file.as_os_str() != crate::cli::DEFAULT_LOCUSTFILE {
                warnings.push(format!(
                    "locustfile {} (locustFilePath or --locustfile) does not exist: its requests are not sent",
                    file.display()
                ));
            }
            match fallback {
                Some(request) if targets.is_empty() => Source::Fallback(request),
                _ => Source::Config,
            }
        }
    };
    let mut translated = None;
    // Who says what is sent, for a target that nothing sends.
    let sender = match source {
        Source::Config if given => "--request".to_string(),
        Source::Config => "the evaluation config's load.requests".to_string(),
        Source::Locustfile => file.display().to_string(),
        Source::Fallback(_) => String::new(),
    };
    let plan = match source {
        Source::Config => build(overrides, placeholder_host, |o| {
            LoadPlan::from_parts(load, targets, o)
        })?,
        Source::Fallback(request) => build(overrides, placeholder_host, |o| {
            let o = LoadOverrides {
                requests: vec![request.clone()],
                ..o.clone()
            };
            LoadPlan::from_parts(load, targets, &o)
        })?,
        Source::Locustfile => {
            let (locust_plan, notes) = translate(file, load, overrides)?;
            warnings.extend(notes);
            // Locust's own settings: the native users run every task, and
            // a run that Locust would have held to some tasks sent others.
            if matches!(selection, Selection::Native { .. }) {
                for var in ["LOCUST_TAGS", "LOCUST_EXCLUDE_TAGS"] {
                    if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
                        warnings.push(format!(
                            "{var}={} is Locust's: the native users run every task of {}, tagged or not",
                            v.to_string_lossy(),
                            file.display()
                        ));
                    }
                }
            }
            translated = Some(format!(
                "; translated {}: {}",
                file.display(),
                locust_plan.summary()
            ));
            let name = file.display().to_string();
            build(overrides, placeholder_host, |o| {
                LoadPlan::from_locustfile(load, targets, o, &name, &locust_plan)
            })?
        }
    };
    // Locust sends what its locustfile says, which lpa does not know.
    if matches!(selection, Selection::Native { .. }) {
        let sent: std::collections::HashSet<String> =
            plan.requests.iter().map(|r| r.key()).collect();
        for target in targets {
            if !sent.contains(&target.key()) {
                warnings.push(format!(
                    "target {} {}: {sender} sends no such request (method and name), so it will have no data",
                    target.key(),
                    target.kind()
                ));
            }
        }
    }
    Ok(Prepared {
        selection,
        why,
        plan,
        translated,
        not_used,
        warnings,
    })
}

/// Builds a plan; without any host, with the placeholder when there is one.
fn build(
    overrides: &LoadOverrides,
    placeholder_host: Option<&HostUrl>,
    make: impl Fn(&LoadOverrides) -> std::result::Result<LoadPlan, LoadError>,
) -> Result<LoadPlan> {
    match (make(overrides), placeholder_host) {
        (Err(LoadError::NoHost), Some(h)) => make(&LoadOverrides {
            host: Some(h.clone()),
            ..overrides.clone()
        }),
        (result, _) => result,
    }
    .map_err(Failure::from)
}

/// The driver for these settings (the open model only runs natively), and
/// why, in the words of lpa's flags and env vars.
fn select(
    args: &DriverArgs,
    load: Option<&LoadSpec>,
    overrides: &LoadOverrides,
) -> Result<(Selection, String)> {
    let choice = match args.load_driver {
        LoadDriver::Native => DriverChoice::Native,
        LoadDriver::Locust => DriverChoice::Locust,
        LoadDriver::Auto => DriverChoice::Auto,
    };
    let open = overrides.arrival_rate.is_some() || load.is_some_and(|l| l.arrival_rate.is_some());
    let word = driver_word(choice);
    let file = args.locustfile.display();
    let selection = locust::select(choice, &args.locustfile, args.locust_bin.as_deref(), open)
        .map_err(|e| {
            let why = match e {
                SelectError::NoLocustfile(_) => {
                    format!("{e} (set locustFilePath or --locustfile)")
                }
                SelectError::NoLocust(e) => located(&e),
                SelectError::OpenModel => OPEN_MODEL.to_string(),
            };
            Failure::new(format!("{word}: {why}"))
        })?;
    let why = match &selection {
        Selection::Locust { program, why } => match why {
            Why::Found(_) => format!("{word}: locustfile {file} and {} found", program.display()),
            _ => format!("{word}: {} -f {file}", program.display()),
        },
        Selection::Native { why } => match why {
            Why::NoLocustfile(_) => format!("{word}: no locustfile at {file}"),
            Why::NoLocust(_, e) => format!("{word}: locustfile {file} exists but {}", located(e)),
            Why::OldApi(_) => format!(
                "{word}: locustfile {file} is written for Locust before 1.0, which Locust 1.0 and later reject; translated for the native users instead"
            ),
            Why::OpenModel => format!("{word}: {OPEN_MODEL}"),
            // Said as auto says it: a locustfile named by a flag and
            // missing would otherwise go unused without a word.
            Why::Asked if !args.locustfile.exists() => {
                format!("{word}: no locustfile at {file}")
            }
            Why::Asked | Why::Found(_) => word.to_string(),
        },
    };
    Ok((selection, why))
}

const OPEN_MODEL: &str =
    "--arrival-rate (open model) needs the native driver; Locust's users are a closed model";

/// Why no Locust was found, with the env var that names one.
fn located(e: &LocateError) -> String {
    match e {
        LocateError::NotExecutable(_) => format!("LOCUST_BIN {e}"),
        LocateError::NotOnPath => format!("{e} (set LOCUST_BIN)"),
    }
}

/// Reads and translates the locustfile. The warnings say what of the config
/// it overrides.
fn translate(
    file: &Path,
    load: Option<&LoadSpec>,
    overrides: &LoadOverrides,
) -> Result<(locustfile::LocustPlan, Vec<String>)> {
    let name = file.display().to_string();
    let source = lpa_drivers::locust::read_source(file)
        .map_err(|e| Failure::new(format!("{name}: cannot read the locustfile: {e}")))?;
    let plan = locustfile::translate(&name, &source)?;
    let mut warnings = Vec::new();
    if overrides.wait_time.is_none() {
        if load.is_some_and(|l| l.wait_time.is_some()) {
            warnings.push(format!(
                "load.waitTime of the evaluation config is not used: {name}'s waits decide (--wait-time overrides both)"
            ));
        }
        for class in plan.classes.iter().filter(|c| c.default_wait) {
            warnings.push(format!(
                "{name}:{}: class {} sets no wait_time: Locust's default constant(0), its users send as fast as the service answers",
                class.line, class.name
            ));
        }
    }
    Ok((plan, warnings))
}

fn driver_word(choice: DriverChoice) -> &'static str {
    match choice {
        DriverChoice::Native => "--load-driver native",
        DriverChoice::Locust => "--load-driver locust",
        DriverChoice::Auto => "auto",
    }
}

/// `load driver native (why; translated ...): the probe's plan`: what runs,
/// why, and what it sends.
pub(super) fn driver_line(prepared: &Prepared) -> String {
    let why = &prepared.why;
    match &prepared.selection {
        Selection::Native { .. } => format!(
            "load driver native ({why}{}){}: {}",
            prepared.translated.as_deref().unwrap_or(""),
            prepared
                .not_used
                .map(|n| format!(", {n}"))
                .unwrap_or_default(),
            probe(prepared)
        ),
        Selection::Locust { .. } => {
            format!("load driver locust ({why}): {}", probe(prepared))
        }
    }
}

/// The probe's plan in words: users, wait or arrival rate, and expected
/// requests per run (Locust's waits are its locustfile's).
pub(super) fn probe(prepared: &Prepared) -> String {
    let plan = &prepared.plan;
    match &prepared.selection {
        Selection::Native { .. } => plan.describe(),
        Selection::Locust { .. } => format!(
            "{} at {}/s for {}, requests and waits as the locustfile says",
            crate::text::count(plan.users, "user"),
            plan.spawn_rate,
            format_duration(plan.run_time)
        ),
    }
}

/// Runs the selected driver and reports the run on stderr.
pub(super) fn measure(cmd: &str, prepared: &Prepared, args: &DriverArgs) -> Result<Measured> {
    let plan = &prepared.plan;
    let say = || {
        say!("lpa {cmd}: {}", driver_line(prepared));
        for w in &prepared.warnings {
            say!("lpa {cmd}: warning: {w}");
        }
    };
    match &prepared.selection {
        Selection::Native { .. } => {
            let outcome = run_with_progress(plan)?;
            say();
            announce(cmd, plan, &outcome);
            Ok(Measured::Native(Box::new(outcome)))
        }
        Selection::Locust { program, .. } => {
            let locust_plan =
                LocustPlan::from_load_plan(plan, program.clone(), args.locustfile.clone());
            let locust::LocustOutcome { report, warnings } = locust::run(&locust_plan)?;
            say();
            announce_locust(cmd, plan, &report);
            for w in warnings {
                say!("lpa {cmd}: warning: {w}");
            }
            Ok(Measured::Locust(Box::new(report)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(driver: LoadDriver, locustfile: &Path, locust_bin: &Path) -> Result<String> {
        let args = DriverArgs {
            load_driver: driver,
            locustfile: locustfile.to_path_buf(),
            locust_bin: Some(locust_bin.to_path_buf()),
        };
        select(&args, None, &LoadOverrides::default()).map(|(_, why)| why)
    }

    /// The driver's reasons and errors name the flags and env vars that
    /// change them.
    #[test]
    fn reasons_and_errors_name_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("locustfile.py");
        let missing = dir.path().join("missing.py");
        std::fs::write(&file, "").unwrap();
        let notbin = dir.path().join("nope");
        let e = why(LoadDriver::Locust, &missing, &notbin).unwrap_err();
        assert!(
            e.message.starts_with("--load-driver locust: locustfile ")
                && e.message
                    .ends_with("does not exist (set locustFilePath or --locustfile)"),
            "{e}"
        );
        let e = why(LoadDriver::Locust, &file, &notbin).unwrap_err();
        assert!(
            e.message.starts_with("--load-driver locust: LOCUST_BIN "),
            "{e}"
        );
        let w = why(LoadDriver::Auto, &file, &notbin).unwrap();
        assert_eq!(
            w,
            format!(
                "auto: locustfile {} exists but LOCUST_BIN {} is not an executable file",
                file.display(),
                notbin.display()
            )
        );
        assert_eq!(
            located(&LocateError::NotOnPath),
            "no locust executable on PATH (set LOCUST_BIN)"
        );
        assert_eq!(
            why(LoadDriver::Native, &file, &notbin).unwrap(),
            "--load-driver native"
        );
    }
}
