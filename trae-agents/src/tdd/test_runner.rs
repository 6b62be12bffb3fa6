//! Running a project's tests in a working copy and reading the result: the command is
//! recognised as pytest, `cargo test`, `cargo nextest` or anything else, given the flags that
//! make its report readable (pytest's `--junitxml` and `-rA`, cargo's `--message-format=json`),
//! and its output read by the matching parser.

use std::path::Path;

use tokio_util::sync::CancellationToken;
use trae_core::tdd::test_report::TestReport;

use super::{cargo_output, command_output, junit, pytest_summary};
use crate::error::Result;
use crate::sandbox::{CommandRun, SandboxedCommand};

/// Which runner a command is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunnerKind {
    /// pytest (`pytest …`, `python -m pytest …`).
    Pytest,
    /// `cargo test …`.
    Cargo,
    /// `cargo nextest run …` (its JUnit report, when its profile writes one).
    Nextest,
    /// Anything else: exit code and output tail.
    Command,
}

/// Where pytest is asked to write its JUnit report, under the scratch directory.
const JUNIT_FILE: &str = "trae-junit.xml";

/// The runner `argv` is.
pub fn runner_kind(argv: &[String]) -> RunnerKind {
    let program = argv
        .first()
        .map(|p| p.rsplit('/').next().unwrap_or(p))
        .unwrap_or("");
    let rest: Vec<&str> = argv.iter().skip(1).map(String::as_str).collect();
    if program == "pytest" || program == "py.test" || rest.windows(2).any(|w| w == ["-m", "pytest"])
    {
        RunnerKind::Pytest
    } else if program == "cargo" && rest.first() == Some(&"nextest") {
        RunnerKind::Nextest
    } else if program == "cargo" && rest.first() == Some(&"test") {
        RunnerKind::Cargo
    } else {
        RunnerKind::Command
    }
}

/// The argv actually run: the user's, with the flags that make the report readable.
pub fn effective_argv(argv: &[String], tmp: &Path) -> Vec<String> {
    let mut argv = argv.to_vec();
    match runner_kind(&argv) {
        RunnerKind::Pytest => {
            if !argv
                .iter()
                .any(|a| a.starts_with("--junitxml") || a.starts_with("--junit-xml"))
            {
                argv.push(format!("--junitxml={}", tmp.join(JUNIT_FILE).display()));
            }
            if !argv.iter().any(|a| a.starts_with("-r")) {
                argv.push("-rA".into());
            }
        }
        RunnerKind::Cargo => {
            if !argv.iter().any(|a| a.starts_with("--message-format")) {
                // Before a `--` that starts the test binary's own arguments.
                let at = argv.iter().position(|a| a == "--").unwrap_or(argv.len());
                argv.insert(at, "--message-format=json".into());
            }
        }
        RunnerKind::Nextest | RunnerKind::Command => {}
    }
    argv
}

/// Runs the tests as `command` says (its argv is the user's; the flags are added here) and
/// reads the report. The command's own run is returned too, for the trajectory.
pub async fn run_tests(
    command: &SandboxedCommand,
    cancel: &CancellationToken,
) -> Result<(TestReport, CommandRun)> {
    let kind = runner_kind(&command.argv);
    let junit_path = command.tmp.join(JUNIT_FILE);
    // A report left by the previous run must not be read as this one's.
    let _ = std::fs::remove_file(&junit_path);
    let mut effective = command.clone();
    effective.argv = effective_argv(&command.argv, &command.tmp);
    let run = effective.run(cancel).await?;
    let output = format!("{}\n{}", run.stdout, run.stderr);
    let code = run.exit_code;
    let report = match kind {
        RunnerKind::Pytest => match std::fs::read_to_string(&junit_path)
            .ok()
            .map(|xml| junit::parse(&xml, code))
        {
            Some(Ok(report)) => report,
            _ => pytest_summary::parse(&output, code),
        },
        RunnerKind::Cargo => cargo_output::parse(&output, code),
        RunnerKind::Nextest => nextest_junit(&command.cwd)
            .and_then(|xml| junit::parse(&xml, code).ok())
            .unwrap_or_else(|| command_output::parse(&command.argv.join(" "), &output, code)),
        RunnerKind::Command => command_output::parse(&command.argv.join(" "), &output, code),
    };
    Ok((report, run))
}

/// The JUnit report nextest wrote (`target/nextest/<profile>/junit.xml`), if its profile
/// writes one.
fn nextest_junit(root: &Path) -> Option<String> {
    let dir = std::fs::read_dir(root.join("target/nextest")).ok()?;
    dir.filter_map(|entry| entry.ok())
        .find_map(|entry| std::fs::read_to_string(entry.path().join("junit.xml")).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn recognises_runners_and_adds_their_report_flags() {
        let tmp = Path::new("/scratch");
        assert_eq!(
            runner_kind(&argv(&["python", "-m", "pytest", "-q"])),
            RunnerKind::Pytest
        );
        assert_eq!(
            runner_kind(&argv(&["/venv/bin/pytest"])),
            RunnerKind::Pytest
        );
        assert_eq!(
            runner_kind(&argv(&["cargo", "nextest", "run"])),
            RunnerKind::Nextest
        );
        assert_eq!(runner_kind(&argv(&["make", "test"])), RunnerKind::Command);
        assert_eq!(
            effective_argv(&argv(&["pytest", "-q"]), tmp),
            argv(&["pytest", "-q", "--junitxml=/scratch/trae-junit.xml", "-rA"])
        );
        assert_eq!(
            effective_argv(&argv(&["cargo", "test", "--", "--nocapture"]), tmp),
            argv(&[
                "cargo",
                "test",
                "--message-format=json",
                "--",
                "--nocapture"
            ])
        );
        assert_eq!(
            effective_argv(&argv(&["make", "test"]), tmp),
            argv(&["make", "test"])
        );
    }
}
