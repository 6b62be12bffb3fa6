//! JUnit XML, as pytest (`--junitxml`, both `xunit1` and the default `xunit2`) and
//! cargo-nextest write it: each `<testcase>` with a `<failure>` or `<error>` becomes a
//! [`TestFailure`]; `<skipped>` counts as skipped; the rest passed.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use trae_core::tdd::test_report::{
    FailureKind, MAX_EXCERPT_BYTES, TestFailure, TestReport, keep_both_ends,
};

use super::location;

/// The test case being read.
#[derive(Default)]
struct Case {
    classname: String,
    name: String,
    file: Option<String>,
    line: Option<u32>,
    outcome: Option<(FailureKind, String)>,
    body: String,
    skipped: bool,
}

fn attribute(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.try_get_attribute(name)
        .ok()
        .flatten()
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// The report a JUnit document gives, or why it cannot be read. `exit_code` is the test
/// command's.
pub fn parse(xml: &str, exit_code: Option<i32>) -> Result<TestReport, String> {
    let mut reader = Reader::from_str(xml);
    let mut report = TestReport {
        exit_code,
        ..TestReport::default()
    };
    let mut case: Option<Case> = None;
    let mut in_outcome = false;
    let mut seen_suite = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("the JUnit report is not XML: {e}"))?;
        match event {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testsuite" => {
                seen_suite = true;
            }
            Event::Start(e) if e.name().as_ref() == b"testcase" => case = Some(start_case(&e)),
            Event::Empty(e) if e.name().as_ref() == b"testcase" => {
                finish_case(start_case(&e), &mut report);
            }
            Event::Start(e) if is_outcome(&e) => {
                in_outcome = e.name().as_ref() != b"skipped";
                record_outcome(case.as_mut(), &e);
            }
            Event::Empty(e) if is_outcome(&e) => record_outcome(case.as_mut(), &e),
            Event::Text(t) if in_outcome => {
                if let (Some(c), Ok(text)) = (case.as_mut(), t.unescape()) {
                    c.body.push_str(&text);
                }
            }
            Event::CData(t) if in_outcome => {
                if let Some(c) = case.as_mut() {
                    c.body.push_str(&String::from_utf8_lossy(&t.into_inner()));
                }
            }
            Event::End(e) if matches!(e.name().as_ref(), b"failure" | b"error") => {
                in_outcome = false;
            }
            Event::End(e) if e.name().as_ref() == b"testcase" => {
                if let Some(c) = case.take() {
                    finish_case(c, &mut report);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_suite {
        return Err("the JUnit report has no <testsuite>".into());
    }
    Ok(report)
}

fn is_outcome(e: &BytesStart<'_>) -> bool {
    matches!(e.name().as_ref(), b"failure" | b"error" | b"skipped")
}

fn record_outcome(case: Option<&mut Case>, e: &BytesStart<'_>) {
    let Some(c) = case else { return };
    let message = attribute(e, "message").unwrap_or_default();
    match e.name().as_ref() {
        b"skipped" => c.skipped = true,
        b"failure" => c.outcome = Some((FailureKind::Failed, message)),
        _ if c.outcome.is_none() => c.outcome = Some((FailureKind::Error, message)),
        _ => {}
    }
}

fn start_case(e: &BytesStart<'_>) -> Case {
    Case {
        classname: attribute(e, "classname").unwrap_or_default(),
        name: attribute(e, "name").unwrap_or_default(),
        file: attribute(e, "file"),
        line: attribute(e, "line").and_then(|l| l.parse().ok()),
        ..Case::default()
    }
}

/// A pytest test id from a JUnit case: `tests/test_x.py::TestC::test_a`. pytest's `xunit2`
/// leaves out `file`, so the path comes from the dotted `classname` (a class name starts with
/// a capital letter by convention).
fn test_id(c: &Case) -> String {
    if c.classname.is_empty() {
        return c.name.clone();
    }
    // nextest: classname is the binary, name the test path.
    if c.name.contains("::") {
        return c.name.clone();
    }
    let parts: Vec<&str> = c.classname.split('.').collect();
    let split = parts
        .iter()
        .position(|p| p.starts_with(|ch: char| ch.is_ascii_uppercase()))
        .unwrap_or(parts.len());
    let module = parts[..split].join("/");
    let path = match &c.file {
        Some(file) => file.clone(),
        None => format!("{module}.py"),
    };
    let mut id = path;
    for class in &parts[split..] {
        id.push_str("::");
        id.push_str(class);
    }
    id.push_str("::");
    id.push_str(&c.name);
    id
}

fn finish_case(c: Case, report: &mut TestReport) {
    let test_id = test_id(&c);
    let Case {
        classname,
        file,
        line,
        outcome,
        body,
        skipped,
        ..
    } = c;
    let Some((mut kind, message)) = outcome else {
        if skipped {
            report.skipped += 1;
        } else {
            report.passed += 1;
        }
        return;
    };
    // pytest reports a module it cannot import as an error of a case named after the module.
    if kind == FailureKind::Error
        && (message.contains("collection failure") || classname.is_empty())
    {
        kind = FailureKind::Collection;
    }
    match kind {
        FailureKind::Failed => report.failed += 1,
        _ => report.errors += 1,
    }
    let (file, line) = location(&body).map_or((file, line), |(f, l)| (Some(f), Some(l)));
    let message = if message.trim().is_empty() {
        body.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .trim()
            .to_owned()
    } else {
        message.lines().next().unwrap_or_default().trim().to_owned()
    };
    report.failures.push(TestFailure {
        test_id,
        file,
        line,
        message,
        excerpt: keep_both_ends(body.trim_end(), MAX_EXCERPT_BYTES),
        kind,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYTEST_XUNIT2: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="1" failures="2" skipped="1" tests="6" time="0.05">
<testcase classname="tests.test_math" name="test_add" time="0.001" />
<testcase classname="tests.test_math" name="test_sub" time="0.001"><failure message="assert -1 == 1&#10; +  where -1 = sub(1, 2)">def test_sub():
&gt;       assert sub(1, 2) == 1
E       assert -1 == 1

tests/test_math.py:7: AssertionError</failure></testcase>
<testcase classname="tests.test_math.TestDiv" name="test_zero" time="0.001"><failure message="ZeroDivisionError: division by zero">tests/test_math.py:12: in test_zero
    div(1, 0)
src/calc.py:9: in div
    return a / b
E   ZeroDivisionError: division by zero

src/calc.py:9: ZeroDivisionError</failure></testcase>
<testcase classname="tests.test_math" name="test_skip" time="0.0"><skipped type="pytest.skip" message="later">skipped</skipped></testcase>
<testcase classname="" name="tests.test_broken" time="0.0"><error message="collection failure">ImportError while importing test module 'tests/test_broken.py'.
E   ModuleNotFoundError: No module named 'nope'</error></testcase>
<testcase classname="tests.test_math" name="test_mul" time="0.001" />
</testsuite></testsuites>"#;

    #[test]
    fn pytest_failures_errors_and_collection_failures_are_read() {
        let r = parse(PYTEST_XUNIT2, Some(1)).unwrap();
        assert_eq!((r.passed, r.failed, r.errors, r.skipped), (2, 2, 1, 1));
        let f = &r.failures;
        assert_eq!(f[0].test_id, "tests/test_math.py::test_sub");
        assert_eq!(
            (f[0].file.as_deref(), f[0].line),
            (Some("tests/test_math.py"), Some(7))
        );
        assert_eq!(f[0].message, "assert -1 == 1");
        assert!(
            f[0].excerpt.contains("assert sub(1, 2) == 1"),
            "{}",
            f[0].excerpt
        );
        assert_eq!(f[1].test_id, "tests/test_math.py::TestDiv::test_zero");
        assert_eq!(
            (f[1].file.as_deref(), f[1].line),
            (Some("src/calc.py"), Some(9)),
            "the innermost frame"
        );
        assert_eq!(f[2].kind, FailureKind::Collection);
        assert_eq!(f[2].test_id, "tests.test_broken");
        assert!(!r.is_green());
    }

    #[test]
    fn nextest_cases_keep_their_rust_paths_and_panic_locations() {
        let xml = r#"<testsuites name="nextest-run" tests="2" failures="1" errors="0"><testsuite name="calc" tests="2" disabled="0" errors="0" failures="1">
<testcase name="tests::adds" classname="calc" timestamp="2026-12-07T10:00:00Z" time="0.01"/>
<testcase name="tests::subtracts" classname="calc" time="0.01"><failure type="test failure">thread 'tests::subtracts' panicked at src/lib.rs:14:9:
assertion `left == right` failed
  left: -1
 right: 1</failure><system-out></system-out></testcase>
</testsuite></testsuites>"#;
        let r = parse(xml, Some(100)).unwrap();
        assert_eq!((r.passed, r.failed), (1, 1));
        let f = &r.failures[0];
        assert_eq!(f.test_id, "tests::subtracts");
        assert_eq!((f.file.as_deref(), f.line), (Some("src/lib.rs"), Some(14)));
        assert_eq!(f.message, "right: 1", "no message attribute: the last line");
    }

    #[test]
    fn what_is_not_junit_says_so() {
        assert!(
            parse("<html><body>", Some(1))
                .unwrap_err()
                .contains("testsuite")
        );
        assert!(parse("<testsuite><testcase></oops>", Some(1)).is_err());
        assert!(parse("", Some(0)).is_err());
    }
}
