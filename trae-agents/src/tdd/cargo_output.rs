//! `cargo test --message-format=json`: compile errors from cargo's JSON messages, test
//! failures from libtest's output (unit tests, integration tests and doctests, every test
//! binary's `test result` line summed).

use serde_json::Value;
use trae_core::tdd::test_report::{
    FailureKind, MAX_EXCERPT_BYTES, TestFailure, TestReport, keep_both_ends,
};

use super::location;

/// The report `cargo test`'s output gives; `exit_code` is the command's. A failing run that
/// names no failure (cargo itself failed) is one failure of the command.
pub fn parse(output: &str, exit_code: Option<i32>) -> TestReport {
    let mut report = TestReport {
        exit_code,
        ..TestReport::default()
    };
    let mut failed_tests: Vec<String> = Vec::new();
    for line in output.lines() {
        if line.starts_with('{') {
            if let Ok(message) = serde_json::from_str::<Value>(line)
                && let Some(f) = compile_error(&message)
            {
                report.errors += 1;
                report.failures.push(f);
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("test ")
            && let Some((name, verdict)) = rest.rsplit_once(" ... ")
        {
            if verdict.trim() == "FAILED" && !failed_tests.iter().any(|n| n == name) {
                failed_tests.push(name.to_owned());
            }
            continue;
        }
        // `cargo test --quiet` (libtest's terse format) prints `NAME --- FAILED` instead.
        if let Some(name) = line.strip_suffix(" --- FAILED")
            && !name.is_empty()
            && !name.starts_with(char::is_whitespace)
            && !failed_tests.iter().any(|n| n == name)
        {
            failed_tests.push(name.to_owned());
            continue;
        }
        if let Some(totals) = line.strip_prefix("test result: ") {
            add_totals(&mut report, totals);
        }
    }
    for name in failed_tests {
        let section = section_of(output, &name);
        let doctest = doctest_location(&name);
        let (file, line) = location(&section)
            .or(doctest)
            .map_or((None, None), |(f, l)| (Some(f), Some(l)));
        let message = panic_message(&section);
        report.failures.push(TestFailure {
            test_id: name,
            file,
            line,
            message,
            excerpt: keep_both_ends(section.trim_end(), MAX_EXCERPT_BYTES),
            kind: FailureKind::Failed,
        });
    }
    if report.failures.is_empty() && exit_code != Some(0) {
        report.errors += 1;
        report.failures.push(super::command_output::failure(
            "cargo test",
            output,
            exit_code,
        ));
    }
    report
}

/// A compiler error as a failure; `None` for anything else cargo says.
fn compile_error(message: &Value) -> Option<TestFailure> {
    if message["reason"] != "compiler-message" || message["message"]["level"] != "error" {
        return None;
    }
    let diagnostic = &message["message"];
    let spans = diagnostic["spans"].as_array();
    let primary = spans.and_then(|s| s.iter().find(|s| s["is_primary"] == true));
    let file = primary
        .and_then(|s| s["file_name"].as_str())
        .map(str::to_owned);
    let line = primary
        .and_then(|s| s["line_start"].as_u64())
        .and_then(|l| u32::try_from(l).ok());
    let text = diagnostic["message"].as_str().unwrap_or("compile error");
    Some(TestFailure {
        test_id: file.clone().unwrap_or_else(|| {
            message["target"]["name"]
                .as_str()
                .unwrap_or("build")
                .to_owned()
        }),
        file,
        line,
        message: text.to_owned(),
        excerpt: keep_both_ends(
            diagnostic["rendered"].as_str().unwrap_or(text).trim_end(),
            MAX_EXCERPT_BYTES,
        ),
        kind: FailureKind::Compile,
    })
}

/// Adds `1 passed; 2 failed; 0 ignored; ...` to the report.
fn add_totals(report: &mut TestReport, totals: &str) {
    for part in totals.split(';') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let Some(n) = words.iter().find_map(|w| w.parse::<u32>().ok()) else {
            continue;
        };
        match words.last().copied() {
            Some("passed") => report.passed += n,
            Some("failed") => report.failed += n,
            Some("ignored") => report.skipped += n,
            _ => {}
        }
    }
}

/// libtest's `---- NAME stdout ----` section of a failed test.
fn section_of(output: &str, name: &str) -> String {
    let header = format!("---- {name} stdout ----");
    let mut lines = output.lines();
    if !lines.any(|l| l.trim() == header) {
        return String::new();
    }
    lines
        .take_while(|l| {
            !(l.starts_with("---- ") || l.trim() == "failures:" || l.starts_with("test result: "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A doctest's name says where it is: `src/lib.rs - add (line 5)`.
fn doctest_location(name: &str) -> Option<(String, u32)> {
    let (file, rest) = name.split_once(" - ")?;
    let at = rest.rfind("(line ")?;
    let line = rest[at + 6..].trim_end_matches(')').parse().ok()?;
    Some((file.to_owned(), line))
}

/// The panic's message: the lines after `panicked at ...:` up to a note or the end.
fn panic_message(section: &str) -> String {
    let mut lines = section.lines().skip_while(|l| !l.contains("panicked at "));
    let Some(first) = lines.next() else {
        return section
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("failed")
            .trim()
            .to_owned();
    };
    // Since Rust 1.73 the message is on the next lines; before, after the location.
    let inline = first
        .split_once("', ")
        .map(|(m, _)| m)
        .and_then(|m| m.split_once("panicked at '"))
        .map(|(_, m)| m.to_owned());
    inline.unwrap_or_else(|| {
        lines
            .take_while(|l| !l.starts_with("note:") && !l.starts_with("stack backtrace"))
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_terse_format_of_cargo_test_quiet() {
        let output = "\nrunning 3 tests\n.. 2/3\ntests::rejects --- FAILED\n\nfailures:\n\n---- tests::rejects stdout ----\n\nthread 'tests::rejects' (7) panicked at src/lib.rs:44:9:\nassertion `left == right` failed\n  left: A\n right: B\n\n\nfailures:\n    tests::rejects\n\ntest result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.12s\n";
        let report = parse(output, Some(101));
        assert_eq!((report.passed, report.failed), (2, 1));
        assert_eq!(report.failures.len(), 1);
        let failure = &report.failures[0];
        assert_eq!(failure.test_id, "tests::rejects");
        assert_eq!(
            (failure.file.as_deref(), failure.line),
            (Some("src/lib.rs"), Some(44))
        );
        assert!(
            failure.message.contains("left == right"),
            "{}",
            failure.message
        );
    }

    const TESTS: &str = r#"{"reason":"compiler-artifact","package_id":"calc 0.1.0","target":{"name":"calc"}}
{"reason":"compiler-message","package_id":"calc","target":{"name":"calc"},"message":{"level":"warning","message":"unused variable: `x`","spans":[],"rendered":"warning: unused"}}
{"reason":"build-finished","success":true}

running 3 tests
test tests::adds ... ok
test tests::subtracts ... FAILED
test tests::slow ... ignored

failures:

---- tests::subtracts stdout ----

thread 'tests::subtracts' panicked at src/lib.rs:14:9:
assertion `left == right` failed
  left: -1
 right: 1
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace


failures:
    tests::subtracts

test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s

running 1 test
test src/lib.rs - add (line 5) ... FAILED

failures:

---- src/lib.rs - add (line 5) stdout ----
Test executable failed (exit status: 101).

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.10s
"#;

    #[test]
    fn libtest_failures_unit_and_doctest_are_read_with_their_places() {
        let r = parse(TESTS, Some(101));
        assert_eq!((r.passed, r.failed, r.skipped), (1, 2, 1));
        let f = &r.failures[0];
        assert_eq!(f.test_id, "tests::subtracts");
        assert_eq!((f.file.as_deref(), f.line), (Some("src/lib.rs"), Some(14)));
        assert_eq!(
            f.message,
            "assertion `left == right` failed left: -1 right: 1"
        );
        assert!(f.excerpt.contains("right: 1"));
        let d = &r.failures[1];
        assert_eq!(d.test_id, "src/lib.rs - add (line 5)");
        assert_eq!((d.file.as_deref(), d.line), (Some("src/lib.rs"), Some(5)));
        assert!(!r.is_green());
    }

    #[test]
    fn compile_errors_come_from_the_json_messages() {
        let out = r#"{"reason":"compiler-message","package_id":"calc","target":{"name":"calc"},"message":{"level":"error","message":"mismatched types","spans":[{"file_name":"src/lib.rs","line_start":3,"is_primary":true},{"file_name":"src/other.rs","line_start":1,"is_primary":false}],"rendered":"error[E0308]: mismatched types\n --> src/lib.rs:3:5\n"}}
{"reason":"build-finished","success":false}
error: could not compile `calc` (lib test) due to 1 previous error"#;
        let r = parse(out, Some(101));
        assert_eq!(r.failures.len(), 1);
        let f = &r.failures[0];
        assert_eq!(f.kind, FailureKind::Compile);
        assert_eq!((f.file.as_deref(), f.line), (Some("src/lib.rs"), Some(3)));
        assert_eq!(f.message, "mismatched types");
        assert!(f.excerpt.contains("E0308"));
        assert_eq!(r.errors, 1);
    }

    #[test]
    fn a_clean_run_is_green_and_a_silent_failure_is_not() {
        let clean = "running 2 tests\ntest a ... ok\ntest b ... ok\n\ntest result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n";
        let r = parse(clean, Some(0));
        assert_eq!(r.passed, 2);
        assert!(r.is_green());
        let broken = parse("error: no such command: `tset`", Some(101));
        assert_eq!(broken.failures[0].kind, FailureKind::Command);
        assert!(!broken.is_green());
    }
}
