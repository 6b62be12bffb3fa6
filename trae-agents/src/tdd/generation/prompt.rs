//! What the model is asked for tests with, and how its answer is read: one fenced code block
//! (or, without a fence, an answer that is code), the tests taken from it.

use std::fmt::Write as _;

use trae_core::tdd::test_report::keep_both_ends;

use super::source::Language;
use super::test_items::RUST_MODULE;

/// The system prompt of test generation.
pub const SYSTEM_PROMPT: &str = "You write unit tests that pin down the current behaviour of existing code, so that any change to that behaviour makes a test fail. Assert exact expected values. Cover the boundaries: values at, just below and just above every comparison and constant in the code, every branch, and every error the code raises. Answer with exactly one fenced code block holding the tests, and nothing else.";

/// The most bytes of the target shown.
const MAX_TARGET_BYTES: usize = 16 * 1024;

/// What the model needs to know about the target.
#[derive(Debug)]
pub struct Target<'a> {
    /// The target file, relative to the project.
    pub path: &'a str,
    /// Its content.
    pub content: &'a str,
    /// The function to test, when one was named.
    pub function: Option<&'a str>,
    /// The language.
    pub language: Language,
}

/// The first round's request.
pub fn request(target: &Target<'_>) -> String {
    let mut out = String::new();
    let what = target
        .function
        .map_or_else(|| "the code".to_owned(), |f| format!("the function `{f}`"));
    let _ = writeln!(out, "Write tests for {what} in `{}`.\n", target.path);
    match target.language {
        Language::Python => {
            let module = python_module(target.path);
            let _ = writeln!(
                out,
                "Write a pytest file: import what you test with `from {module} import ...`, and write top-level functions named `test_...` (no classes). Each test should check one behaviour."
            );
        }
        Language::Rust => {
            let _ = writeln!(
                out,
                "Write `#[test]` functions only. They will be put in a module `{RUST_MODULE}` at the end of `{}` that starts with `use super::*;`, so private items are in scope. Each test should check one behaviour.",
                target.path
            );
        }
    }
    let content = keep_both_ends(target.content, MAX_TARGET_BYTES);
    let fence = match target.language {
        Language::Python => "python",
        Language::Rust => "rust",
    };
    let _ = write!(out, "\n{}\n```{fence}\n{content}", target.path);
    if !content.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("```\n");
    out
}

/// A later round's request: what became of the tests before, and the mutants they missed.
pub fn retry(first: &str, feedback: &str) -> String {
    format!("{first}\nYour previous tests could not be kept:\n{feedback}\nWrite new tests.\n")
}

/// The import path of a Python file (`src/` layouts included).
pub fn python_module(path: &str) -> String {
    let path = path.strip_prefix("src/").unwrap_or(path);
    let path = path.strip_suffix(".py").unwrap_or(path);
    let path = path.strip_suffix("/__init__").unwrap_or(path);
    path.replace('/', ".")
}

/// The code in a model's answer: the fenced block that holds tests (the first fenced block
/// when none does), or the whole answer when it has no fence and holds tests; `None` when it
/// holds no code.
pub fn extract_code(answer: &str, language: Language) -> Option<String> {
    let marker = match language {
        Language::Python => "def test",
        Language::Rust => "#[test]",
    };
    let blocks = fenced_blocks(answer);
    if let Some(block) = blocks.iter().find(|b| b.contains(marker)) {
        return Some(block.clone());
    }
    if let Some(first) = blocks.into_iter().next() {
        return Some(first);
    }
    answer
        .contains(marker)
        .then(|| answer.trim().to_owned() + "\n")
}

/// Every block between fences of three or more backticks or tildes.
fn fenced_blocks(answer: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in answer.lines() {
        let trimmed = line.trim_start();
        let fence: String = trimmed
            .chars()
            .take_while(|c| *c == '`' || *c == '~')
            .collect();
        let is_fence = fence.len() >= 3
            && fence
                .chars()
                .all(|c| c == fence.chars().next().unwrap_or('`'));
        match open.as_mut() {
            None if is_fence => open = Some((fence, String::new())),
            None => {}
            Some((opener, body)) => {
                if is_fence && trimmed.trim_end() == opener.as_str() {
                    blocks.push(std::mem::take(body));
                    open = None;
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    // A block cut off by the answer's end still counts: the tests in it are judged as any.
    if let Some((_, body)) = open
        && !body.trim().is_empty()
    {
        blocks.push(body);
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tests_block_is_taken_from_the_answer() {
        let answer = "Here:\n```python\nx = 1\n```\nand\n~~~py\nfrom m import f\n\ndef test_f():\n    assert f() == 1\n~~~\n";
        assert_eq!(
            extract_code(answer, Language::Python).unwrap(),
            "from m import f\n\ndef test_f():\n    assert f() == 1\n"
        );
        assert_eq!(
            extract_code("#[test]\nfn a() {}", Language::Rust).unwrap(),
            "#[test]\nfn a() {}\n"
        );
        assert_eq!(
            extract_code("I cannot help with that.", Language::Python),
            None
        );
        assert_eq!(
            extract_code("```rust\n#[test]\nfn cut() {", Language::Rust).unwrap(),
            "#[test]\nfn cut() {\n"
        );
    }

    #[test]
    fn the_request_names_the_module_and_shows_the_target() {
        let target = Target {
            path: "src/shop/cart.py",
            content: "def total(x):\n    return x\n",
            function: Some("total"),
            language: Language::Python,
        };
        let text = request(&target);
        assert!(
            text.contains("the function `total` in `src/shop/cart.py`"),
            "{text}"
        );
        assert!(text.contains("from shop.cart import ..."), "{text}");
        assert!(
            text.contains("```python\ndef total(x):\n    return x\n```"),
            "{text}"
        );
        assert_eq!(python_module("pkg/__init__.py"), "pkg");
    }
}
