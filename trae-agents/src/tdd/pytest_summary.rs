//! pytest's short test summary (`-rA`), for when no JUnit report was written: `FAILED id -
//! message` and `ERROR id - message` lines, and the final `N failed, M passed` line.

use trae_core::tdd::test_report::{
    FailureKind, MAX_EXCERPT_BYTES, TestFailure, TestReport, keep_both_ends,
};

use super::location;

/// The report pytest's output gives; `exit_code` is the command's. Code 2 to 5 without any
/// failure line (interrupted, internal error, usage error, no tests) is one failure of the
/// command, so a broken run is never mistaken for a green one.
pub fn parse(output: &str, exit_code: Option<i32>) -> TestReport {
    let mut report = TestReport {
        exit_code,
        ..TestReport::default()
    };
    for line in output.lines() {
        let (kind, rest) = if let Some(rest) = line.strip_prefix("FAILED ") {
            (FailureKind::Failed, rest)
        } else if let Some(rest) = line.strip_prefix("ERROR ") {
            (FailureKind::Error, rest)
        } else {
            continue;
        };
        let (id, message) = match rest.split_once(" - ") {
            Some((id, message)) => (id.trim(), message.trim()),
            None => (rest.trim(), ""),
        };
        // A collection error names a file, not a test.
        let kind = if kind == FailureKind::Error && !id.contains("::") {
            FailureKind::Collection
        } else {
            kind
        };
        let file = id.split("::").next().map(str::to_owned);
        let section = section_of(output, id);
        let (file, line) = location(&section).map_or((file, None), |(f, l)| (Some(f), Some(l)));
        report.failures.push(TestFailure {
            test_id: id.to_owned(),
            file,
            line,
            message: message.to_owned(),
            excerpt: keep_both_ends(section.trim_end(), MAX_EXCERPT_BYTES),
            kind,
        });
    }
    if let Some(totals) = output.lines().rev().find(|l| is_totals(l)) {
        for part in totals
            .trim_matches(|c: char| c == '=' || c.is_whitespace())
            .split(", ")
        {
            let mut words = part.split_whitespace();
            let (Some(n), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else { continue };
            match what {
                "passed" => report.passed = n,
                "failed" => report.failed = n,
                "error" | "errors" => report.errors = n,
                "skipped" => report.skipped = n,
                _ => {}
            }
        }
    }
    let counted = report
        .failures
        .iter()
        .filter(|f| f.kind != FailureKind::Failed)
        .count();
    report.errors = report
        .errors
        .max(u32::try_from(counted).unwrap_or(u32::MAX));
    if report.failures.is_empty() && matches!(exit_code, Some(2..=5) | None) {
        report.errors += 1;
        report
            .failures
            .push(super::command_output::failure("pytest", output, exit_code));
    }
    report
}

fn is_totals(line: &str) -> bool {
    line.starts_with('=')
        && line.contains(" in ")
        && ["passed", "failed", "error", "skipped", "no tests ran"]
            .iter()
            .any(|w| line.contains(w))
}

/// The part of pytest's output about `id`: its `___ name ___` section, when there is one.
fn section_of(output: &str, id: &str) -> String {
    let name = id.rsplit("::").next().unwrap_or(id);
    let mut lines = output.lines();
    let header = |l: &str| {
        let title = l.trim_matches('_').trim();
        l.starts_with('_') && (title == name || title.ends_with(&format!(" {name}")))
    };
    if !lines.any(header) {
        return String::new();
    }
    lines
        .take_while(|l| !(l.starts_with("___") || l.starts_with("===")))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\
============================= test session starts ==============================
collected 4 items / 1 error

tests/test_math.py .F.                                                    [100%]

==================================== ERRORS ====================================
_____________________ ERROR collecting tests/test_broken.py _____________________
E   ModuleNotFoundError: No module named 'nope'
=================================== FAILURES ===================================
___________________________________ test_sub ___________________________________

    def test_sub():
>       assert sub(1, 2) == 1
E       assert -1 == 1

tests/test_math.py:7: AssertionError
=========================== short test summary info ============================
PASSED tests/test_math.py::test_add
FAILED tests/test_math.py::test_sub - assert -1 == 1
ERROR tests/test_broken.py - ModuleNotFoundError: No module named 'nope'
==================== 1 failed, 2 passed, 1 error in 0.05s =====================
";

    #[test]
    fn failed_and_error_lines_become_failures_with_their_sections() {
        let r = parse(OUTPUT, Some(1));
        assert_eq!((r.passed, r.failed, r.errors), (2, 1, 1));
        let f = &r.failures[0];
        assert_eq!(f.test_id, "tests/test_math.py::test_sub");
        assert_eq!(
            (f.file.as_deref(), f.line),
            (Some("tests/test_math.py"), Some(7))
        );
        assert_eq!(f.message, "assert -1 == 1");
        assert!(f.excerpt.contains("assert sub(1, 2) == 1"), "{}", f.excerpt);
        let c = &r.failures[1];
        assert_eq!(
            (c.kind, c.test_id.as_str()),
            (FailureKind::Collection, "tests/test_broken.py")
        );
        assert!(c.excerpt.contains("No module named"), "{}", c.excerpt);
        assert!(!r.is_green());
    }

    #[test]
    fn a_broken_run_without_failure_lines_is_still_a_failure() {
        let r = parse(
            "ERROR: usage: pytest [options]\npytest: error: unrecognized arguments",
            Some(4),
        );
        assert_eq!(r.failures.len(), 1);
        assert_eq!(r.failures[0].kind, FailureKind::Command);
        assert!(!r.is_green());
        let green = parse("=== 3 passed in 0.01s ===", Some(0));
        assert_eq!(green.passed, 3);
        assert!(green.is_green());
        let none = parse("=== no tests ran in 0.01s ===", Some(5));
        assert!(!none.is_green(), "no tests is not a pass");
    }
}
