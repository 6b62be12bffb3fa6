//! The TDD agent (issue 23): [`agent`] runs the loop (test, show the model the failures,
//! apply its edits, test again) in a working copy, storing and publishing every step. It
//! reads what test runners report through [`test_runner`]: pytest's JUnit XML ([`junit`]) or,
//! without it, its `-rA` summary ([`pytest_summary`]); cargo's JSON compiler messages and
//! libtest's output ([`cargo_output`]); any other command by its exit code and the tail of
//! its output ([`command_output`]). [`context`] builds what the model is shown and [`edits`]
//! applies what it answers. [`generation`] writes tests that are shown to be able to fail.
//! [`workspaces`] confines both to the allowed directories.

pub mod agent;
pub mod cargo_output;
pub mod command_output;
pub mod context;
pub mod edits;
pub mod generation;
pub mod junit;
pub mod pytest_summary;
pub mod runs;
pub mod task;
pub mod test_runner;
pub mod workspaces;

/// Where a traceback or a panic says it failed: the innermost Python frame (`path.py:LINE:`)
/// or the first Rust panic location (`panicked at path.rs:LINE:COL`).
pub(crate) fn location(text: &str) -> Option<(String, u32)> {
    if let Some(at) = text.find("panicked at ") {
        let rest = &text[at + "panicked at ".len()..];
        let spot = rest.split([':', '\n']).collect::<Vec<_>>();
        if let (Some(file), Some(line)) = (spot.first(), spot.get(1))
            && let Ok(line) = line.trim().parse()
        {
            return Some(((*file).to_owned(), line));
        }
    }
    text.lines().rev().find_map(python_frame)
}

/// `path.py:LINE: ...` (pytest's short frames) as its file and line.
fn python_frame(line: &str) -> Option<(String, u32)> {
    let at = line.find(".py:")?;
    let file = &line[..at + 3];
    if file.is_empty() || file.contains(char::is_whitespace) {
        return None;
    }
    let rest = &line[at + 4..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let after = rest.get(digits.len()..)?;
    if digits.is_empty() || !after.starts_with(':') {
        return None;
    }
    Some((file.to_owned(), digits.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_come_from_the_innermost_frame_or_the_panic() {
        let py = "tests/test_a.py:4: in test_a\n    f()\nsrc/m.py:9: in f\nE   boom\n\nsrc/m.py:10: ValueError";
        assert_eq!(location(py), Some(("src/m.py".into(), 10)));
        let rs = "thread 'adds' panicked at src/lib.rs:14:9:\nassertion failed";
        assert_eq!(location(rs), Some(("src/lib.rs".into(), 14)));
        assert_eq!(location("nothing here"), None);
        assert_eq!(location("see a.py:x: no"), None);
    }
}
