//! What one run of a project's tests reports: counts, and each failure with the test it
//! belongs to, where it failed and why, as the agent shows it to a model.

use serde::{Deserialize, Serialize};

/// Why a test did not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// An assertion failed (or the test panicked).
    Failed,
    /// The test errored outside its assertions (a fixture, a setup, an exception).
    Error,
    /// The tests could not be collected (an import error, a syntax error).
    Collection,
    /// The code does not compile.
    Compile,
    /// The command failed and its output says nothing more precise.
    Command,
}

/// One failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestFailure {
    /// The test, as its runner names it (`tests/test_x.py::test_a`, `tests::adds`); for a
    /// compile or collection failure, the file.
    pub test_id: String,
    /// The file it failed in, relative to the project, when known.
    pub file: Option<String>,
    /// The line it failed at, when known.
    pub line: Option<u32>,
    /// Why, in one line.
    pub message: String,
    /// The runner's output about it (traceback, panic, compiler diagnostic), cut to
    /// [`MAX_EXCERPT_BYTES`] keeping both ends.
    pub excerpt: String,
    /// What kind of failure it is.
    pub kind: FailureKind,
}

/// The longest excerpt kept of one failure.
pub const MAX_EXCERPT_BYTES: usize = 4 * 1024;

/// What a test run came to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestReport {
    /// Tests that passed.
    pub passed: u32,
    /// Tests that failed (assertions).
    pub failed: u32,
    /// Tests that errored, collection and compile failures included.
    pub errors: u32,
    /// Tests skipped.
    pub skipped: u32,
    /// Every failure, in the runner's order.
    pub failures: Vec<TestFailure>,
    /// The command's exit code (`None` when it was killed).
    pub exit_code: Option<i32>,
}

impl TestReport {
    /// Whether the run is green: the command succeeded and nothing failed. A run whose
    /// command failed is never green, whatever the parsed counts say.
    pub fn is_green(&self) -> bool {
        self.exit_code == Some(0)
            && self.failures.is_empty()
            && self.failed == 0
            && self.errors == 0
    }
}

/// `text` cut to at most `max` bytes by dropping its middle (the start says what ran, the end
/// says how it ended), on character boundaries, with a marker saying how much went.
pub fn keep_both_ends(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let marker_room = 48;
    let half = max.saturating_sub(marker_room) / 2;
    let mut head = half;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - half;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{}\n[... {} bytes cut ...]\n{}",
        &text[..head],
        tail - head,
        &text[tail..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_keeps_both_ends_within_the_cap() {
        let text = format!(
            "{}{}{}",
            "a".repeat(5000),
            "λ".repeat(1000),
            "z".repeat(5000)
        );
        let cut = keep_both_ends(&text, 1024);
        assert!(cut.len() <= 1024, "{}", cut.len());
        assert!(cut.starts_with("aaa") && cut.ends_with("zzz"));
        assert!(cut.contains("bytes cut"));
        assert_eq!(keep_both_ends("short", 1024), "short");
        let multibyte = "λ".repeat(2000);
        let cut = keep_both_ends(&multibyte, 101);
        assert!(cut.len() <= 101 && cut.starts_with('λ') && cut.ends_with('λ'));
    }

    #[test]
    fn only_a_clean_exit_without_failures_is_green() {
        let clean = TestReport {
            passed: 3,
            exit_code: Some(0),
            ..TestReport::default()
        };
        assert!(clean.is_green());
        assert!(
            !TestReport {
                exit_code: Some(1),
                ..clean.clone()
            }
            .is_green()
        );
        assert!(
            !TestReport {
                exit_code: None,
                ..clean.clone()
            }
            .is_green()
        );
        assert!(!TestReport { errors: 1, ..clean }.is_green());
    }
}
