//! What the model is shown in one round: how to answer (SEARCH/REPLACE blocks), the failing
//! tests with their excerpts, the files their tracebacks and diagnostics point to (whole when
//! small, else windowed around the lines named), and what became of its previous edits, all
//! within a token budget (about four bytes a token): past it, windows narrow, then files and
//! failures go, and long excerpts lose their middle.

use std::collections::BTreeMap;

use trae_core::tdd::edit::{EditOutcome, EditResult};
use trae_core::tdd::test_report::{TestReport, keep_both_ends};

/// How the model must answer.
pub const SYSTEM_PROMPT: &str = "You fix failing tests by editing the project's source code. \
Answer with a short explanation, then one or more edit blocks, each exactly like this:\n\n\
path/to/file.py\n```\n<<<<<<< SEARCH\nexact lines copied from the file\n=======\nthe lines to put in their place\n>>>>>>> REPLACE\n```\n\n\
Rules: the SEARCH part must match the file's lines exactly (indentation included) and match \
only one place, so include a few whole lines around the change. To create a file, leave SEARCH \
empty. Paths are relative to the project. Change the code, not the tests, unless a test is \
clearly wrong. Make the smallest change that makes the tests pass.";

/// About how many bytes make a token.
const BYTES_PER_TOKEN: usize = 4;
/// A file this short is shown whole.
const WHOLE_FILE_LINES: usize = 200;
/// Lines shown on each side of a line a failure names, at first.
const WINDOW: usize = 30;

/// The user message of one round, and a summary of it for the trajectory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// What the model is sent.
    pub message: String,
    /// What it contained, in a line (failures and files), for the trajectory.
    pub summary: String,
}

/// What a round's prompt is built from.
#[derive(Debug, Clone, Copy)]
pub struct Round<'a> {
    /// The test command, as the user gave it.
    pub command: &'a str,
    /// The last test run.
    pub report: &'a TestReport,
    /// The previous round's edits (empty in the first round).
    pub previous_edits: &'a [EditResult],
    /// The most tokens the message may take.
    pub token_budget: usize,
}

/// The prompt of a round; `read` gives the working copy's files.
pub fn build(round: Round<'_>, read: impl Fn(&str) -> Option<String>) -> Prompt {
    let places = places(round.report, &read);
    let budget = round.token_budget.max(256) * BYTES_PER_TOKEN;
    let mut window = WINDOW;
    let mut failures = round.report.failures.len();
    let mut files = places.len();
    let mut excerpt = trae_core::tdd::test_report::MAX_EXCERPT_BYTES;
    loop {
        let message = render(round, &places, &read, window, failures, files, excerpt);
        let fits = message.len() <= budget;
        let smallest = window <= 3 && files <= 1 && failures <= 1 && excerpt <= 512;
        if fits || smallest {
            let message = keep_both_ends(&message, budget);
            let summary = summary(round.report, failures, &places[..files]);
            return Prompt { message, summary };
        }
        // Narrow step by step: windows, excerpts, then fewer files and failures.
        if window > 3 {
            window /= 2;
        } else if excerpt > 512 {
            excerpt /= 2;
        } else if files > 1 {
            files -= 1;
        } else {
            failures -= 1;
        }
    }
}

/// Files the failures point to, in order of first mention, each with the lines named.
fn places(report: &TestReport, read: &impl Fn(&str) -> Option<String>) -> Vec<(String, Vec<u32>)> {
    let mut order: Vec<String> = Vec::new();
    let mut lines: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut note = |file: &str, line: Option<u32>| {
        let file = file.trim_start_matches("./").to_owned();
        if read(&file).is_none() {
            return;
        }
        if !lines.contains_key(&file) {
            order.push(file.clone());
        }
        let named = lines.entry(file).or_default();
        if let Some(line) = line
            && !named.contains(&line)
        {
            named.push(line);
        }
    };
    for failure in &report.failures {
        if let Some(file) = &failure.file {
            note(file, failure.line);
        }
        for (file, line) in frames(&failure.excerpt) {
            note(&file, Some(line));
        }
    }
    order
        .into_iter()
        .map(|file| {
            let named = lines.remove(&file).unwrap_or_default();
            (file, named)
        })
        .collect()
}

/// `path.ext:LINE` references in a traceback, a panic or a compiler diagnostic
/// (`  --> src/lib.rs:4:5`, `tests/test_a.py:12: in test_a`, `File "a.py", line 3`).
pub fn frames(text: &str) -> Vec<(String, u32)> {
    let mut found = Vec::new();
    for line in text.lines() {
        if let Some(at) = line.find("File \"") {
            let rest = &line[at + 6..];
            if let Some(end) = rest.find('"') {
                let number: String = rest[end..]
                    .trim_start_matches("\", line ")
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                if let Ok(number) = number.parse() {
                    found.push((rest[..end].to_owned(), number));
                }
            }
            continue;
        }
        for token in line.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',') {
            let mut parts = token.split(':');
            let (Some(path), Some(number)) = (parts.next(), parts.next()) else {
                continue;
            };
            let looks_like_file = path.rsplit_once('.').is_some_and(|(stem, ext)| {
                !stem.is_empty()
                    && (1..=4).contains(&ext.len())
                    && ext.chars().all(|c| c.is_ascii_alphanumeric())
            });
            if looks_like_file && let Ok(number) = number.parse() {
                found.push((path.to_owned(), number));
            }
        }
    }
    found
}

#[allow(clippy::too_many_arguments)]
fn render(
    round: Round<'_>,
    places: &[(String, Vec<u32>)],
    read: &impl Fn(&str) -> Option<String>,
    window: usize,
    failures: usize,
    files: usize,
    excerpt: usize,
) -> String {
    let report = round.report;
    let mut out = format!(
        "The test command `{}` fails: {} passed, {} failed, {} errors.\n\n",
        round.command, report.passed, report.failed, report.errors
    );
    if !round.previous_edits.is_empty() {
        out.push_str(&previous(round.previous_edits));
    }
    out.push_str("## Failures\n\n");
    for failure in report.failures.iter().take(failures) {
        let place = match (&failure.file, failure.line) {
            (Some(file), Some(line)) => format!(" at {file}:{line}"),
            (Some(file), None) => format!(" in {file}"),
            _ => String::new(),
        };
        out.push_str(&format!(
            "### {}{place}\n{}\n```\n{}\n```\n\n",
            failure.test_id,
            failure.message,
            keep_both_ends(&failure.excerpt, excerpt)
        ));
    }
    if report.failures.len() > failures {
        out.push_str(&format!(
            "({} more failures left out)\n\n",
            report.failures.len() - failures
        ));
    }
    out.push_str("## Files\n\n");
    for (file, named) in places.iter().take(files) {
        let Some(content) = read(file) else { continue };
        out.push_str(&format!(
            "{file}\n```\n{}```\n\n",
            excerpt_of(&content, named, window)
        ));
    }
    out
}

/// What the model was told about its previous edits.
fn previous(edits: &[EditResult]) -> String {
    let mut out = String::from("## Your previous edits\n\n");
    for edit in edits {
        match &edit.outcome {
            EditOutcome::Applied { .. } => {
                out.push_str(&format!("- {}: applied\n", edit.block.path));
            }
            EditOutcome::Refused { reason, hint } => {
                out.push_str(&format!(
                    "- {}: NOT applied: {}\n",
                    edit.block.path,
                    reason.explain()
                ));
                if let Some(hint) = hint {
                    out.push_str(&format!("  {}\n", hint.replace('\n', "\n  ")));
                }
            }
        }
    }
    out.push_str(
        "The tests were run again after the applied edits; this is what they say now.\n\n",
    );
    out
}

/// A file whole when short, else the windows around its named lines (merged), with a line
/// saying how many lines each gap leaves out.
fn excerpt_of(content: &str, named: &[u32], window: usize) -> String {
    let lines: Vec<&str> = content.lines().collect();
    if lines.len() <= WHOLE_FILE_LINES || named.is_empty() {
        let shown = if lines.len() <= WHOLE_FILE_LINES {
            lines.len()
        } else {
            2 * window
        };
        let mut out: String = lines[..shown].iter().map(|l| format!("{l}\n")).collect();
        if shown < lines.len() {
            out.push_str(&format!("... ({} more lines)\n", lines.len() - shown));
        }
        return out;
    }
    let mut spans: Vec<(usize, usize)> = named
        .iter()
        .map(|&line| {
            let at = (line as usize).saturating_sub(1).min(lines.len() - 1);
            (
                at.saturating_sub(window),
                (at + window + 1).min(lines.len()),
            )
        })
        .collect();
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    let mut out = String::new();
    let mut shown_to = 0;
    for (start, end) in merged {
        if start > shown_to {
            out.push_str(&format!("... ({} lines)\n", start - shown_to));
        }
        for line in &lines[start..end] {
            out.push_str(line);
            out.push('\n');
        }
        shown_to = end;
    }
    if shown_to < lines.len() {
        out.push_str(&format!("... ({} lines)\n", lines.len() - shown_to));
    }
    out
}

fn summary(report: &TestReport, failures: usize, files: &[(String, Vec<u32>)]) -> String {
    let ids: Vec<&str> = report
        .failures
        .iter()
        .take(failures)
        .map(|f| f.test_id.as_str())
        .collect();
    let files: Vec<&str> = files.iter().map(|(f, _)| f.as_str()).collect();
    format!(
        "{} failures ({}); files: {}",
        report.failures.len(),
        ids.join(", "),
        if files.is_empty() {
            "none".to_owned()
        } else {
            files.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use trae_core::tdd::test_report::{FailureKind, TestFailure};

    fn report(excerpt: &str) -> TestReport {
        TestReport {
            failed: 1,
            failures: vec![TestFailure {
                test_id: "tests/test_m.py::test_total".into(),
                file: Some("tests/test_m.py".into()),
                line: Some(3),
                message: "assert 3 == 4".into(),
                excerpt: excerpt.into(),
                kind: FailureKind::Failed,
            }],
            exit_code: Some(1),
            ..TestReport::default()
        }
    }

    #[test]
    fn frames_come_from_tracebacks_panics_and_diagnostics() {
        let text = "tests/test_m.py:3: in test_total\nm.py:12: AssertionError\n  --> src/lib.rs:4:5\n  File \"pkg/a.py\", line 9, in f\nversion 1.2: fine";
        assert_eq!(
            frames(text),
            vec![
                ("tests/test_m.py".into(), 3),
                ("m.py".into(), 12),
                ("src/lib.rs".into(), 4),
                ("pkg/a.py".into(), 9)
            ]
        );
    }

    #[test]
    fn shows_the_failure_and_the_files_it_names() {
        let files = |path: &str| match path {
            "tests/test_m.py" => Some(
                "from m import total\n\ndef test_total():\n    assert total([1, 2]) == 4\n"
                    .to_owned(),
            ),
            "m.py" => Some("def total(xs):\n    return sum(xs)\n".to_owned()),
            _ => None,
        };
        let report = report("tests/test_m.py:3: in test_total\nm.py:2: in total\nE assert 3 == 4");
        let prompt = build(
            Round {
                command: "pytest -q",
                report: &report,
                previous_edits: &[],
                token_budget: 4000,
            },
            files,
        );
        assert!(
            prompt
                .message
                .contains("### tests/test_m.py::test_total at tests/test_m.py:3")
        );
        assert!(
            prompt
                .message
                .contains("m.py\n```\ndef total(xs):\n    return sum(xs)\n```")
        );
        assert_eq!(
            prompt.summary,
            "1 failures (tests/test_m.py::test_total); files: tests/test_m.py, m.py"
        );
    }

    #[test]
    fn stays_within_its_budget_keeping_both_ends_of_long_files() {
        let big: String = (1..=2000).map(|i| format!("line_{i} = {i}\n")).collect();
        let files = |path: &str| (path == "big.py").then(|| big.clone());
        let report = report("big.py:1500: in f\nE boom");
        let prompt = build(
            Round {
                command: "pytest",
                report: &report,
                previous_edits: &[],
                token_budget: 600,
            },
            files,
        );
        assert!(
            prompt.message.len() <= 600 * BYTES_PER_TOKEN,
            "{}",
            prompt.message.len()
        );
        assert!(prompt.message.contains("line_1500 = 1500"));
        assert!(!prompt.message.contains("line_100 = 100\n"));
    }
}
