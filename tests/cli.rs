//! The command line itself: help with examples, completions, man page.

use std::process::Command;

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
}

#[test]
fn man_page_documents_every_subcommand() {
    let out = lpa().arg("man").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(
        page.starts_with(".ie"),
        "not roff: {}",
        &page[..40.min(page.len())]
    );
    for sub in SUBCOMMANDS {
        assert!(
            page.contains(&format!(".TH lpa-{sub} ")),
            "no section for {sub}"
        );
    }
    assert!(
        !page.contains("lpa-serve"),
        "hidden commands stay out of the man page"
    );
}

/// The configuration reference names every flag the binary has, so the
/// docs cannot silently fall behind the code.
#[test]
fn configuration_reference_names_every_flag() {
    let out = lpa().arg("man").output().unwrap();
    let page = stdout(&out);
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
