//! The command line itself: help with examples, completions, man page.

use std::process::Command;

use crate::support::{lpa, stderr, stdout};

const SUBCOMMANDS: &[&str] = &[
    "metric", "evaluate", "run", "loadtest", "simulate", "check", "demo",
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
