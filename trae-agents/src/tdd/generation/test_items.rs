//! The tests in a generated file, by name and lines, so that each can be judged on its own and
//! the ones not kept cut out: Python's top-level `test_*` functions and `Test*` classes, Rust's
//! `#[test]` functions. Whatever else the file holds (imports, helpers) stays.

use std::collections::BTreeSet;
use std::ops::Range;

use super::source::{Language, Source};

/// The name of the module generated Rust tests are put in, appended to the target.
pub const RUST_MODULE: &str = "trae_generated";

/// One test in a generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestItem {
    /// Its name (a function's, or a Python test class's).
    pub name: String,
    /// Its lines, attributes and decorators included.
    pub lines: Range<usize>,
}

/// The tests in `code`, in order.
pub fn test_items(code: &str, language: Language) -> Vec<TestItem> {
    let source = Source::scan(code, language);
    match language {
        Language::Python => python_items(&source),
        Language::Rust => rust_items(&source),
    }
}

fn python_items(source: &Source<'_>) -> Vec<TestItem> {
    let top_level =
        |i: usize| source.indent(i) == 0 && source.depth[i] == 0 && source.starts_with_code(i);
    let mut items = Vec::new();
    for i in 0..source.lines.len() {
        if !top_level(i) {
            continue;
        }
        let code = source.code_of(i);
        let name = ["def ", "async def ", "class "]
            .iter()
            .find_map(|keyword| code.strip_prefix(keyword))
            .map(|rest| {
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            });
        // pytest collects `test*` functions, `Test*` classes and any `unittest.TestCase`.
        let test_case = code.starts_with("class ") && code.contains("TestCase");
        let Some(name) =
            name.filter(|n| n.starts_with("test") || n.starts_with("Test") || test_case)
        else {
            continue;
        };
        // Its decorators, a decorator over several lines (black splits long ones) included.
        let mut start = i;
        while start > 0 {
            let mut above = start - 1;
            while above > 0 && source.depth[above] > 0 {
                above -= 1;
            }
            if !source.lines[above].starts_with('@') {
                break;
            }
            start = above;
        }
        let end = (i + 1..source.lines.len())
            .find(|&j| top_level(j))
            .unwrap_or(source.lines.len());
        items.push(TestItem {
            name,
            lines: start..end,
        });
    }
    items
}

fn rust_items(source: &Source<'_>) -> Vec<TestItem> {
    let mut items = Vec::new();
    let mut i = 0;
    while i < source.lines.len() {
        let code = source.code_of(i);
        let Some(after) = test_attribute(&code) else {
            i += 1;
            continue;
        };
        let mut start = i;
        while start > 0 && source.code_of(start - 1).trim_start().starts_with("#[") {
            start -= 1;
        }
        // `#[test] fn one_line() {}` has its function on the attribute's own line.
        let same_line = after.contains("fn ").then_some(i);
        let Some(fn_line) = same_line.or_else(|| {
            (i + 1..source.lines.len()).find(|&j| {
                let code = source.code_of(j);
                !code.trim_start().starts_with("#[") && !code.trim().is_empty()
            })
        }) else {
            break;
        };
        let code = source.code_of(fn_line);
        let name = code
            .split_once("fn ")
            .map(|(_, rest)| {
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .unwrap_or_default();
        let end = source
            .block_end(fn_line)
            .map_or(source.lines.len(), |e| e + 1);
        if !name.is_empty() {
            items.push(TestItem {
                name,
                lines: start..end,
            });
        }
        i = end.max(i + 1);
    }
    items
}

/// When the line of code is a test attribute (`#[test]`, `#[tokio::test(…)]`, `#[rstest]`,
/// `#[test_case(…)]`), what follows it on the line.
fn test_attribute(code: &str) -> Option<&str> {
    let inner = code.trim_start().strip_prefix("#[")?;
    let close = inner.find(']')?;
    let path = inner[..close].split('(').next().unwrap_or_default().trim();
    let last = path.rsplit("::").next().unwrap_or(path);
    matches!(last, "test" | "rstest" | "test_case").then(|| &inner[close + 1..])
}

/// `code` without the tests in `items` whose names are not in `keep`, runs of blank lines
/// left behind cut to two.
pub fn prune(code: &str, items: &[TestItem], keep: &BTreeSet<String>) -> String {
    let dropped: Vec<&Range<usize>> = items
        .iter()
        .filter(|item| !keep.contains(&item.name))
        .map(|item| &item.lines)
        .collect();
    let mut out = String::with_capacity(code.len());
    let mut blanks: u32 = 0;
    for (i, line) in code.lines().enumerate() {
        if dropped.iter().any(|range| range.contains(&i)) {
            continue;
        }
        if line.trim().is_empty() {
            blanks += 1;
            if blanks > 2 {
                continue;
            }
        } else {
            blanks = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    format!("{}\n", out.trim_matches('\n'))
}

/// The Rust tests a model wrote, as the body of [`RUST_MODULE`]: a wrapping
/// `#[cfg(test)] mod … { use super::*; … }` taken off, indentation made flush.
pub fn rust_module_body(code: &str) -> String {
    let mut lines: Vec<&str> = code.lines().collect();
    let wrapped = lines
        .iter()
        .position(|l| {
            let t = l.trim();
            t.starts_with("mod ") && t.ends_with('{')
        })
        .filter(|&at| {
            lines[..at].iter().all(|l| {
                let t = l.trim();
                t.is_empty() || t.starts_with("#[cfg(test)]") || t.starts_with("//")
            })
        });
    if let Some(at) = wrapped
        && let Some(close) = lines.iter().rposition(|l| l.trim() == "}")
        && close > at
    {
        lines = lines[at + 1..close].to_vec();
    }
    let lines: Vec<&str> = lines
        .into_iter()
        .filter(|l| l.trim() != "use super::*;")
        .collect();
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut body = String::new();
    for line in lines {
        body.push_str(line.get(indent..).unwrap_or(line.trim_start()));
        body.push('\n');
    }
    body.trim_matches('\n').to_owned() + "\n"
}

/// `target` with the test module appended around `body`.
pub fn with_rust_module(target: &str, body: &str) -> String {
    let mut out = target.trim_end_matches('\n').to_owned();
    out.push_str("\n\n#[cfg(test)]\nmod ");
    out.push_str(RUST_MODULE);
    out.push_str(" {\n    use super::*;\n\n");
    for line in body.lines() {
        if !line.trim().is_empty() {
            out.push_str("    ");
            out.push_str(line);
        }
        out.push('\n');
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_tests_are_found_with_their_decorators_and_pruned() {
        let code = "import pytest\nfrom shop import cost\n\n\n@pytest.mark.parametrize('x', [1])\ndef test_a(x):\n    assert cost(x) == 1\n\n\ndef helper():\n    return 2\n\n\ndef test_b():\n    s = \"\"\"\ndef test_fake(): pass\n\"\"\"\n    assert helper() == 2\n\n\nclass TestGroup:\n    def test_c(self):\n        assert True\n";
        let items = test_items(code, Language::Python);
        let names: Vec<_> = items
            .iter()
            .map(|i| (i.name.as_str(), i.lines.clone()))
            .collect();
        assert_eq!(
            names,
            vec![("test_a", 4..9), ("test_b", 13..20), ("TestGroup", 20..23)]
        );
        let kept = prune(code, &items, &BTreeSet::from(["test_b".to_owned()]));
        assert!(kept.contains("def helper()") && kept.contains("def test_b"));
        assert!(
            !kept.contains("test_a") && !kept.contains("TestGroup"),
            "{kept}"
        );
        assert!(!kept.contains("\n\n\n\n"), "{kept}");
    }

    #[test]
    fn every_form_of_test_is_found_so_none_escapes_judgement() {
        let py = "import pytest\nimport unittest\n\n\n@pytest.mark.parametrize(\n    \"x\",\n    [1, 2],\n)\ndef test_a(x):\n    assert x\n\n\nclass Checks(unittest.TestCase):\n    def test_b(self):\n        self.assertTrue(True)\n";
        let items = test_items(py, Language::Python);
        let names: Vec<_> = items
            .iter()
            .map(|i| (i.name.as_str(), i.lines.clone()))
            .collect();
        assert_eq!(names, vec![("test_a", 4..12), ("Checks", 12..15)]);
        let kept = prune(py, &items, &BTreeSet::from(["Checks".to_owned()]));
        assert_eq!(
            kept,
            "import pytest\nimport unittest\n\n\nclass Checks(unittest.TestCase):\n    def test_b(self):\n        self.assertTrue(True)\n"
        );

        let rs = "#[tokio::test(flavor = \"multi_thread\")]\nasync fn a() {\n    assert!(true);\n}\n\n#[test] fn b() { assert!(true) }\n\n#[rstest]\nfn c() {}\n\n#[derive(Debug)]\nstruct NotATest;\n";
        let items = test_items(rs, Language::Rust);
        let names: Vec<_> = items
            .iter()
            .map(|i| (i.name.as_str(), i.lines.clone()))
            .collect();
        assert_eq!(names, vec![("a", 0..4), ("b", 5..6), ("c", 7..9)]);
    }

    #[test]
    fn rust_tests_are_unwrapped_found_and_put_in_the_module() {
        let answer = "#[cfg(test)]\nmod tests {\n    use super::*;\n\n    #[test]\n    #[should_panic]\n    fn rejects() {\n        pick(0);\n    }\n\n    fn helper() -> u32 { 1 }\n\n    #[test]\n    fn picks() {\n        let s = \"}\";\n        assert_eq!(pick(1), helper());\n    }\n}\n";
        let body = rust_module_body(answer);
        assert!(
            body.starts_with("#[test]\n#[should_panic]\nfn rejects() {\n"),
            "{body}"
        );
        let items = test_items(&body, Language::Rust);
        let names: Vec<_> = items
            .iter()
            .map(|i| (i.name.as_str(), i.lines.clone()))
            .collect();
        assert_eq!(names, vec![("rejects", 0..5), ("picks", 8..13)]);
        let kept = prune(&body, &items, &BTreeSet::from(["picks".to_owned()]));
        let file = with_rust_module("pub fn pick(x: u32) -> u32 { x }\n", &kept);
        assert_eq!(
            file,
            "pub fn pick(x: u32) -> u32 { x }\n\n#[cfg(test)]\nmod trae_generated {\n    use super::*;\n\n    fn helper() -> u32 { 1 }\n\n    #[test]\n    fn picks() {\n        let s = \"}\";\n        assert_eq!(pick(1), helper());\n    }\n}\n"
        );
    }
}
