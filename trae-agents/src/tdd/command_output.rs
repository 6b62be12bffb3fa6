//! Any test command: it passed when it exited 0; otherwise its failure is the tail of its
//! output, where commands say what went wrong.

use trae_core::tdd::test_report::{
    FailureKind, MAX_EXCERPT_BYTES, TestFailure, TestReport, keep_both_ends,
};

/// The report of a command that is not a known runner.
pub fn parse(command: &str, output: &str, exit_code: Option<i32>) -> TestReport {
    let mut report = TestReport {
        exit_code,
        ..TestReport::default()
    };
    if exit_code == Some(0) {
        report.passed = 1;
    } else {
        report.errors = 1;
        report.failures.push(failure(command, output, exit_code));
    }
    report
}

/// The one failure of `command`: how it ended and the end of what it printed.
pub fn failure(command: &str, output: &str, exit_code: Option<i32>) -> TestFailure {
    let ended = match exit_code {
        Some(code) => format!("{command} exited with {code}"),
        None => format!("{command} was killed"),
    };
    let last = output
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::trim)
        .unwrap_or_default();
    TestFailure {
        test_id: command.to_owned(),
        file: None,
        line: None,
        message: if last.is_empty() {
            ended
        } else {
            format!("{ended}: {last}")
        },
        excerpt: tail(output, MAX_EXCERPT_BYTES),
        kind: FailureKind::Command,
    }
}

/// The last `max` bytes of `text` (from a line start where one is near), with a marker when
/// cut: a command's verdict is at its end.
fn tail(text: &str, max: usize) -> String {
    let text = text.trim_end();
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let start = text[start..].find('\n').map_or(start, |nl| start + nl + 1);
    // Also keep the first line, which says what ran.
    let first = text.lines().next().unwrap_or_default();
    keep_both_ends(
        &format!("{first}\n[...]\n{}", &text[start..]),
        max + first.len() + 8,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_code_decides_and_the_tail_explains() {
        let green = parse("make test", "ok\n", Some(0));
        assert!(green.is_green());
        let long = format!("start\n{}\nFAIL: widget breaks\n", "noise\n".repeat(5000));
        let red = parse("make test", &long, Some(2));
        assert!(!red.is_green());
        let f = &red.failures[0];
        assert_eq!(f.message, "make test exited with 2: FAIL: widget breaks");
        assert!(f.excerpt.ends_with("FAIL: widget breaks"), "{}", f.excerpt);
        assert!(f.excerpt.starts_with("start"));
        assert!(f.excerpt.len() < MAX_EXCERPT_BYTES + 64);
        let killed = parse("slow", "", None);
        assert_eq!(killed.failures[0].message, "slow was killed");
    }
}
