//! The command line itself: help with examples, completions, man page.

use std::process::{Command, Stdio};

use crate::support::{lpa, stderr, stdout};

const SUBCOMMANDS: &[&str] = &[
    "metric", "evaluate", "run", "loadtest", "simulate", "report", "check", "demo",
];

#[test]
fn every_subcommand_has_help_with_an_example() {
    let out = lpa().arg("--help").output().unwrap();
    assert!(out.status.success());
    let top = stdout(&out);
    for sub in SUBCOMMANDS {
        assert!(top.contains(sub), "lpa --help lacks {sub}");
        let out = lpa().args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub}: {}", stderr(&out));
        let help = stdout(&out);
        assert!(
            help.contains("Example") && help.matches(&format!("lpa {sub}")).count() >= 2,
            "{sub} --help shows no example:\n{help}"
        );
    }
}

#[test]
fn bash_completion_is_valid_bash_and_knows_the_subcommands() {
    let out = lpa().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let script = stdout(&out);
    for sub in SUBCOMMANDS {
        assert!(script.contains(sub), "{sub}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lpa.bash");
    std::fs::write(&path, &script).unwrap();
    let check = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(check.status.success(), "{}", stderr(&check));
    // What bash offers after `lpa <TAB>`: every command but the hidden
    // test service.
    let offered = Command::new("bash")
        .arg("-c")
        .arg(r#"source "$1"; COMP_WORDS=(lpa ""); COMP_CWORD=1; COMP_LINE="lpa "; COMP_POINT=4; _lpa lpa "" lpa; printf '%s\n' "${COMPREPLY[@]}""#)
        .arg("bash")
        .arg(&path)
        .output()
        .unwrap();
    assert!(offered.status.success(), "{}", stderr(&offered));
    let offered: Vec<String> = stdout(&offered).lines().map(str::to_string).collect();
    for sub in SUBCOMMANDS {
        assert!(offered.iter().any(|o| o == sub), "{sub} not in {offered:?}");
    }
    assert!(!offered.iter().any(|o| o == "serve"), "{offered:?}");
}

/// The Examples block at the end of a help text: the lines after the line
/// `Examples:`.
fn examples_block(help: &str) -> Vec<String> {
    let lines: Vec<&str> = help.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == "Examples:")
        .unwrap_or_else(|| panic!("no Examples: heading in\n{help}"));
    lines[start + 1..]
        .iter()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Run from the checkout's root, as the README's commands are, every
/// file an example reads is there or written by an example before it.
#[test]
fn the_files_help_examples_read_are_in_the_checkout() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let reads = [
        "--evaluation-config",
        "--scenario",
        "--sweep",
        "--replay",
        "--pareto",
        "--locustfile",
    ];
    let writes = ["--out", "--decision-log", "--plot"];
    for sub in SUBCOMMANDS {
        let out = lpa().args([sub, "--help"]).output().unwrap();
        let block = examples_block(&stdout(&out)).join(" ").replace('\\', " ");
        let words: Vec<&str> = block.split_whitespace().collect();
        let mut written: Vec<&str> = Vec::new();
        let mut flag = "";
        for (i, &word) in words.iter().enumerate() {
            if word.starts_with("--") {
                flag = word;
                continue;
            }
            let read = reads.contains(&flag) || (i > 1 && words[i - 2..i] == ["lpa", "report"]);
            if writes.contains(&flag) {
                written.push(word);
            } else if read && !word.starts_with('-') {
                assert!(
                    written.contains(&word) || root.join(word).is_file(),
                    "lpa {sub} --help: an example reads {word}, which is not in the checkout"
                );
            }
            // --pareto takes several files; any other flag one value.
            if flag != "--pareto" {
                flag = "";
            }
        }
    }
}

/// The examples that load-test start the service they load and run as
/// printed (on a free port in place of 5000), where before they assumed a
/// service a new user has not got: metric's http://fibonacci:5000 exists
/// only in a cluster, loadtest's 127.0.0.1:5000 was refused.
#[test]
fn load_testing_examples_run_as_printed_against_the_test_service() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_lpa"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for sub in ["loadtest", "metric"] {
        let out = lpa().args([sub, "--help"]).output().unwrap();
        let block = examples_block(&stdout(&out));
        assert!(
            block[0]
                .trim_start()
                .starts_with("lpa serve --listen 127.0.0.1:5000 &"),
            "lpa {sub}: {block:?}"
        );
        let script = block
            .join("\n")
            .replace("127.0.0.1:5000", &format!("127.0.0.1:{port}"));
        let script = format!("set -e\ntrap 'kill $(jobs -p)' EXIT\n{script}\n");
        let run = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("PATH", &path)
            .env_remove("locustHost")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(run.status.success(), "lpa {sub}:\n{}", stderr(&run));
        assert!(
            stdout(&run).contains("\"GET_/fibonacci?n=10\""),
            "lpa {sub}: {}",
            stdout(&run)
        );
    }
}

/// Copied from a terminal, every example runs as printed: clap re-wraps
/// help text to the terminal, so the examples must come out the same at
/// any width, fit in 100 columns, and break lines only after a `\`.
#[test]
fn help_examples_are_never_rewrapped_and_copy_as_commands() {
    let mut first: Option<Vec<String>> = None;
    for sub in SUBCOMMANDS.iter().chain(&["man", "completions"]) {
        for (columns, args) in [
            ("100", vec![*sub, "-h"]),
            ("100", vec![*sub, "--help"]),
            ("40", vec![*sub, "--help"]),
            ("250", vec!["help", *sub]),
        ] {
            let out = lpa().args(&args).env("COLUMNS", columns).output().unwrap();
            assert!(out.status.success(), "{args:?}: {}", stderr(&out));
            let block = examples_block(&stdout(&out));
            if let Some(first) = &first {
                assert_eq!(&block, first, "lpa {args:?} at {columns} columns");
            }
            first.get_or_insert(block);
        }
        let block = first.take().unwrap();
        let mut continued = false;
        for line in &block {
            assert!(
                line.len() <= 100,
                "lpa {sub}: {} columns: {line}",
                line.len()
            );
            let indent = line.len() - line.trim_start().len();
            let text = line.trim_start();
            if continued {
                assert!(indent >= 4, "lpa {sub}: a continuation is indented: {line}");
            } else {
                assert_eq!(indent, 2, "lpa {sub}: a command starts at column 2: {line}");
                let starts = ["lpa ", "echo ", "printf ", "#"];
                let assigns = text.split_once('=').is_some_and(|(var, _)| {
                    !var.is_empty() && var.chars().all(|c| c.is_ascii_alphanumeric())
                });
                assert!(
                    starts.iter().any(|s| text.starts_with(s)) || assigns || text == "lpa demo",
                    "lpa {sub}: a broken line: {line}"
                );
            }
            continued = text.ends_with('\\') && !text.starts_with('#');
        }
        assert!(!continued, "lpa {sub}: the last example ends with a \\");
        let script = block.join("\n");
        let syntax = Command::new("bash")
            .args(["-n", "-c", &script])
            .output()
            .unwrap();
        assert!(
            syntax.status.success(),
            "lpa {sub}: {}\n{script}",
            stderr(&syntax)
        );
        assert!(
            block.iter().any(|l| l.contains(&format!("lpa {sub}"))),
            "lpa {sub}: no example runs lpa {sub}"
        );
    }
}

/// What other tools call --host and --evaluation-config: an error with the
/// right flag as a tip (exit 2, as for any unknown flag), only where the
/// subcommand has that flag.
#[test]
fn likeliest_wrong_flags_get_the_right_one_as_a_tip() {
    for (args, tip) in [
        (
            &["loadtest", "--url", "http://127.0.0.1:5000"][..],
            "--host",
        ),
        (
            &["run", "--scaler", "local", "--url=http://127.0.0.1:5000"],
            "--host",
        ),
        (&["metric", "--url", "http://x"], "--host"),
        (&["check", "--config", "c.yaml"], "--evaluation-config"),
        (&["evaluate", "--config", "c.yaml"], "--evaluation-config"),
        // clap alone would suggest --kubeconfig here.
        (&["run", "--config", "c.yaml"], "--evaluation-config"),
        (&["demo", "--config=c.yaml"], "--evaluation-config"),
    ] {
        let out = lpa().args(args).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!("tip: a similar argument exists: '{tip}'")),
            "{args:?}: {err}"
        );
        let usage = err.lines().find(|l| l.starts_with("Usage:")).unwrap();
        assert!(!usage.contains("kubeconfig"), "{args:?}: {usage}");
        assert!(out.stdout.is_empty());
    }
    // evaluate has no --host: no tip rather than a wrong one.
    let out = lpa().args(["evaluate", "--url", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr(&out).contains("tip:"), "{}", stderr(&out));
}

/// All man pages, as `lpa man --dir` writes them.
fn man_pages() -> (tempfile::TempDir, Vec<(String, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let out = lpa()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut pages = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        pages.push((name, std::fs::read_to_string(&path).unwrap()));
    }
    pages.sort();
    (dir, pages)
}

/// `--dir` naming a file is one line saying so, where it read as a failure
/// to write the page `FILE/lpa.1` ("File exists"); the file is untouched.
#[test]
fn man_dir_that_is_a_file_is_one_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pages");
    std::fs::write(&file, "mine").unwrap();
    let out = lpa().args(["man", "--dir"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        format!(
            "lpa: error: --dir {}: cannot make a directory for the man pages: it is a file, not a directory\n",
            file.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
}

/// A page's name taken by a directory is an error before any page is put
/// in place: the pages already there stay as they were, where the pages
/// before it were replaced and the command then failed.
#[test]
fn man_dir_with_a_page_in_the_way_writes_no_page() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lpa-man.1")).unwrap();
    std::fs::write(dir.path().join("lpa.1"), "old").unwrap();
    let out = lpa()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "lpa: error: {}: cannot write: is a directory\n",
            dir.path().join("lpa-man.1").display()
        )
    );
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["lpa-man.1", "lpa.1"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("lpa.1")).unwrap(),
        "old"
    );
}

/// One page per subcommand, as lpa(1) names them in its SUBCOMMANDS
/// section: every `lpa-NAME(1)` it mentions is a page that exists.
#[test]
fn man_page_documents_every_subcommand() {
    let (_dir, pages) = man_pages();
    let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
    for (name, page) in &pages {
        assert!(
            page.starts_with(".ie"),
            "{name}: not roff: {}",
            &page[..40.min(page.len())]
        );
    }
    for sub in SUBCOMMANDS {
        let file = format!("lpa-{sub}.1");
        let (_, page) = pages
            .iter()
            .find(|(n, _)| *n == file)
            .unwrap_or_else(|| panic!("no {file} in {names:?}"));
        assert!(
            page.contains(&format!(".TH lpa-{sub} ")),
            "no section for {sub}"
        );
        assert!(page.contains(".SH EXAMPLES"), "{file}");
        let out = lpa().args(["man", sub]).output().unwrap();
        assert_eq!(&stdout(&out), page, "lpa man {sub} prints {file}");
    }
    let main = &pages.iter().find(|(n, _)| n == "lpa.1").unwrap().1;
    assert_eq!(&stdout(&lpa().arg("man").output().unwrap()), main);
    let main = main.replace("\\-", "-");
    let mut referenced = 0;
    for piece in main.split("lpa-").skip(1) {
        let Some((name, _)) = piece.split_once("(1)") else {
            continue;
        };
        referenced += 1;
        assert!(
            names.contains(&format!("lpa-{name}.1").as_str()),
            "lpa(1) refers to lpa-{name}(1), which has no page: {names:?}"
        );
    }
    assert!(referenced >= SUBCOMMANDS.len(), "lpa(1) names the pages");
    assert!(
        !names.iter().any(|n| n.contains("serve")) && !main.contains("lpa-serve"),
        "hidden commands stay out of the man pages"
    );
    let out = lpa().args(["man", "nonsense"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("\"nonsense\""), "{}", stderr(&out));
}

/// groff formats every page without a warning (`-ww`: all of them), and the
/// examples come out of a terminal rendering exactly as the help prints
/// them: plain hyphens and apostrophes, no line filled or broken.
#[test]
fn man_pages_render_without_warnings_and_examples_verbatim() {
    if let Err(e) = Command::new("groff").arg("--version").output() {
        panic!("cannot run groff ({e}): scripts/setup-tools.sh installs Debian's groff-base");
    }
    let (dir, pages) = man_pages();
    for (name, _) in &pages {
        let path = dir.path().join(name);
        for width in ["60n", "100n"] {
            let check = Command::new("groff")
                .args(["-ww", "-man", "-Tutf8", "-z", &format!("-rLL={width}")])
                .arg(&path)
                .output()
                .unwrap();
            assert!(check.status.success(), "{name}: {}", stderr(&check));
            assert_eq!(stderr(&check), "", "{name} at {width}: groff warns");
        }
        let Some(sub) = name.strip_prefix("lpa-").and_then(|n| n.strip_suffix(".1")) else {
            continue;
        };
        let help = lpa().args([sub, "--help"]).output().unwrap();
        let examples = examples_block(&stdout(&help));
        let text = Command::new("groff")
            .args(["-man", "-Tutf8", "-rLL=100n", "-P-cbou"])
            .arg(&path)
            .output()
            .unwrap();
        let text = stdout(&text);
        let section: Vec<&str> = text
            .lines()
            .skip_while(|l| *l != "EXAMPLES")
            .skip(1)
            .take_while(|l| l.is_empty() || l.starts_with(' '))
            .filter(|l| !l.is_empty())
            .collect();
        let indent = section[0].len() - section[0].trim_start().len();
        let section: Vec<String> = section
            .iter()
            .map(|l| format!("  {}", &l[indent..]))
            .collect();
        assert_eq!(section, examples, "{name}: EXAMPLES as rendered");
    }
}

/// The configuration reference names every flag the binary has, so the
/// docs cannot silently fall behind the code.
#[test]
fn configuration_reference_names_every_flag() {
    let (_dir, pages) = man_pages();
    // The flags the pages document, not other programs' flags in examples.
    let page: String = pages
        .iter()
        .map(|(_, text)| text.split(".SH EXAMPLES").next().unwrap())
        .collect();
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md"),
    )
    .unwrap();
    let mut missing = Vec::new();
    // roff escapes dashes: \-\-flag
    let page = page.replace("\\-", "-");
    for piece in page.split("--").skip(1) {
        let flag: String = piece
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        if flag.len() < 2 || flag == "help" || flag == "version" {
            continue;
        }
        if !doc.contains(&format!("--{flag}")) && !missing.contains(&flag) {
            missing.push(flag);
        }
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md lacks --{}",
        missing.join(", --")
    );
}

/// Under CPA only the env var is set: a bad value of a setting with an env
/// var is one line naming the setting, its flag and its env var, exit 1,
/// as the load settings' are, not clap's usage error (exit 2).
#[test]
fn a_bad_env_var_is_one_error_line_naming_the_env_var_and_the_flag() {
    for (command, var, value, line) in [
        (
            "check",
            "loadDriver",
            "foo",
            "load driver (--load-driver or loadDriver): invalid value \"foo\" (expected native, locust or auto)",
        ),
        (
            "check",
            "maxReplicas",
            "x",
            "max replicas (--max-replicas or maxReplicas): invalid value \"x\" (expected a whole number from 0 to 2147483647)",
        ),
        (
            "check",
            "maxReplicas",
            "2147483648",
            "max replicas (--max-replicas or maxReplicas): invalid value \"2147483648\" (expected a whole number from 0 to 2147483647)",
        ),
        (
            "evaluate",
            "minReplicas",
            "-1",
            "min replicas (--min-replicas or minReplicas): invalid value \"-1\" (expected a whole number from 0 to 2147483647)",
        ),
        (
            "run",
            "LPA_METRICS_LISTEN",
            "bad",
            "metrics address (--metrics-listen or LPA_METRICS_LISTEN): invalid value \"bad\" (expected IP:PORT such as 0.0.0.0:9100 (port 0: a free one))",
        ),
        (
            "run",
            "LPA_DECISION_LOG_MAX_SIZE",
            "-5M",
            "decision log max size (--decision-log-max-size or LPA_DECISION_LOG_MAX_SIZE): invalid value \"-5M\" (expected a size such as 32MiB, 500k or 1048576 (bytes), or off)",
        ),
    ] {
        let mut cmd = lpa();
        cmd.arg(command);
        if command == "run" {
            cmd.args(["--scaler", "local", "--replica-cmd", "x {port}", "--once"]);
        }
        let out = cmd.env(var, value).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{var}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{var}");
        assert_eq!(stderr(&out), format!("lpa: error: {line}\n"));
    }
}

/// Every other flag's bad value is the same one line naming the flag and
/// the value, exit 1, where clap printed three lines and exited 2.
#[test]
fn a_bad_flag_value_is_one_error_line_naming_the_flag_and_value() {
    let step = "fixtures/scenarios/step.yaml";
    for (args, line) in [
        (
            vec!["simulate", "--scenario", step, "--cycles", "0"],
            "--cycles: 0 is not in 1..=10000000",
        ),
        (
            vec!["simulate", "--scenario", step, "--seeds", "x"],
            "--seeds: invalid value \"x\" (expected a whole number)",
        ),
        // A negative value was clap's "unexpected argument '-1' found" and
        // its usage, naming no flag.
        (
            vec!["simulate", "--scenario", step, "--cycles", "-1"],
            "--cycles: -1 is not in 1..=10000000",
        ),
        (
            vec!["run", "--scaler", "local", "--interval", "-1s"],
            "--interval: invalid duration \"-1s\" (expected e.g. 10s, 500ms, 1m30s, or seconds)",
        ),
        (
            vec!["run", "--scaler", "local", "--decision-log-max-size", "-5"],
            "decision log max size (--decision-log-max-size or LPA_DECISION_LOG_MAX_SIZE): invalid value \"-5\" (expected a size such as 32MiB, 500k or 1048576 (bytes), or off)",
        ),
        (
            vec!["evaluate", "--min-replicas", "3000000000"],
            "min replicas (--min-replicas): invalid value \"3000000000\" (expected a whole number from 0 to 2147483647)",
        ),
        // The demo's --run-time has no env var; `lpa run`'s has.
        (
            vec!["demo", "--run-time", "0"],
            "run time (--run-time): invalid duration \"0\" (must be above zero)",
        ),
        (
            vec!["demo", "--max-replicas", "-2"],
            "max replicas (--max-replicas): -2 is not in 1..=64",
        ),
        (
            vec!["simulate", "--scenario", step, "--on-bad-line", "ignore"],
            "--on-bad-line: invalid value \"ignore\" (expected stop or skip)",
        ),
        (
            vec!["run", "--scaler", "local", "--decision-log-max-size", "1.5GB"],
            "decision log max size (--decision-log-max-size or LPA_DECISION_LOG_MAX_SIZE): invalid value \"1.5GB\" (expected a size such as 32MiB, 500k or 1048576 (bytes), or off)",
        ),
        (
            vec!["run", "--scaler", "helm", "--once"],
            "--scaler: invalid value \"helm\" (expected kubectl or local)",
        ),
    ] {
        let out = lpa()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr(&out), format!("lpa: error: {line}\n"));
    }
}

/// CPA's config list can carry an empty value (`value: ""`), which reaches
/// the hooks as an env var set to nothing. A path set so is the same one
/// line naming the setting and its env var, exit 1: clap's own error named
/// only a flag the user never passed, on three lines, exit 2.
#[test]
fn an_empty_path_env_var_is_one_error_line_naming_it() {
    for (command, var, label) in [
        (
            "evaluate",
            "decayInfoFilePath",
            "decay info file (--decay-info or decayInfoFilePath)",
        ),
        (
            "evaluate",
            "evaluationConfigFilePath",
            "evaluation config (--evaluation-config or evaluationConfigFilePath)",
        ),
        (
            "metric",
            "locustFilePath",
            "locustfile (--locustfile or locustFilePath)",
        ),
        (
            "metric",
            "LOCUST_BIN",
            "locust executable (--locust-bin or LOCUST_BIN)",
        ),
        (
            "metric",
            "LPA_CA_BUNDLE",
            "CA bundle (--ca-bundle or LPA_CA_BUNDLE)",
        ),
    ] {
        let out = lpa()
            .arg(command)
            .env(var, "")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{var}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{var}");
        assert_eq!(
            stderr(&out),
            format!("lpa: error: {label}: invalid value \"\" (expected a path)\n")
        );
    }
}

/// stderr a pipe whose reader has gone (a log shipper restarted): a
/// warning must not stop the command, and an error keeps its exit code.
/// `eprintln!` panicked there: exit 101, and no answer on stdout.
#[test]
fn a_closed_stderr_changes_neither_the_answer_nor_the_exit_code() {
    let run = |args: &[&str]| {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = lpa()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(writer)
            .output()
            .unwrap();
        (out.status.code(), stdout(&out))
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("evaluation.yaml");
    std::fs::write(
        &config,
        "targets:\n  - {method: GET, endpoint: /x, type: mean, target: 7, colour: red}\n",
    )
    .unwrap();
    let (code, out) = run(&["check", "--evaluation-config", config.to_str().unwrap()]);
    assert_eq!(code, Some(0), "a warning on a closed stderr");
    assert!(out.contains("target: 7.0"), "{out}");
    let missing = dir.path().join("missing.yaml");
    let (code, out) = run(&["check", "--evaluation-config", missing.to_str().unwrap()]);
    assert_eq!(code, Some(1), "an error on a closed stderr");
    assert_eq!(out, "");
}
