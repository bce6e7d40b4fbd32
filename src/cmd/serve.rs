//! `lpa serve` (hidden): the test HTTP service as its own process, so tests,
//! the benchmark and the demo load a real separate peer.

use std::process::ExitCode;

use lpa_core::duration::parse_duration;
use lpa_drivers::demo_service::{ServeConfig, Server};

use crate::cli::ServeArgs;
use crate::settings::{print_line, Failure, Result};

pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let listen = args.listen;
    let duration = |flag: &str, text: &str| {
        parse_duration(text).ok_or_else(|| {
            Failure::new(format!(
                "{flag}: invalid value {text:?} (expected a duration such as 2ms or 1s)"
            ))
        })
    };
    if args.max_connections == 0 {
        return Err(Failure::new(
            "--max-connections: invalid value 0 (expected at least 1)",
        ));
    }
    let config = ServeConfig {
        listen,
        serial: args.serial,
        cost: duration("--cost", &args.cost)?,
        hang_max: duration("--hang-max", &args.hang_max)?,
        max_connections: args.max_connections,
        ..ServeConfig::default()
    };
    let server = Server::bind(&config)
        .map_err(|e| Failure::new(format!("cannot listen on {listen}: {e}")))?;
    print_line(&format!("listening on {}", server.local_addr()))?;
    if args.exit_with_parent {
        // No unsafe prctl: the parent holds our stdin's only writer, and
        // EOF there means it is gone, however it went.
        std::thread::Builder::new()
            .name("stdin-eof".into())
            .spawn(|| {
                let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
                std::process::exit(0);
            })
            .map_err(|e| {
                Failure::new(format!("--exit-with-parent: cannot start its thread: {e}"))
            })?;
    }
    server.run();
    Ok(ExitCode::SUCCESS)
}
