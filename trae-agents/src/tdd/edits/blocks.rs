//! Reading edit blocks out of a model's answer, leniently: Aider's SEARCH/REPLACE format with
//! markers of five to nine characters, with or without fences, with the file path on the line
//! before (plain, in backticks or bold, after `#` or `File:`) or on the fence line, carried
//! over to the next block when a block names none; and, only when an answer has no such block,
//! fenced whole files under a path line.

use trae_core::tdd::edit::EditBlock;

/// A block as read: complete, or cut off (and then refused as malformed, never applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedBlock {
    /// What the block asks for (`path` is empty when no path was given anywhere before it).
    pub block: EditBlock,
    /// Whether the block had all three markers in order.
    pub complete: bool,
}

/// Every edit block of `answer`, in order.
pub fn parse_blocks(answer: &str) -> Vec<ParsedBlock> {
    let body = answer.strip_suffix('\n').unwrap_or(answer);
    let lines: Vec<&str> = body
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .collect();
    let blocks = search_replace_blocks(&lines);
    if blocks.is_empty() {
        whole_files(&lines)
    } else {
        blocks
    }
}

fn search_replace_blocks(lines: &[&str]) -> Vec<ParsedBlock> {
    let mut blocks = Vec::new();
    let mut path = String::new();
    let mut at = 0;
    while at < lines.len() {
        if !is_marker(lines[at], '<', Some("SEARCH")) {
            at += 1;
            continue;
        }
        if let Some(named) = path_before(lines, at) {
            path = named;
        }
        let search_from = at + 1;
        let next_search = (search_from..lines.len())
            .find(|&i| is_marker(lines[i], '<', Some("SEARCH")))
            .unwrap_or(lines.len());
        let divider = (search_from..next_search).find(|&i| is_marker(lines[i], '=', None));
        let Some(divider) = divider else {
            blocks.push(malformed(&path, &lines[search_from..next_search]));
            at = next_search;
            continue;
        };
        let end = (divider + 1..next_search)
            .find(|&i| is_marker(lines[i], '>', Some("REPLACE")))
            // A model that forgot the closing marker but closed its fence.
            .or_else(|| (divider + 1..next_search).find(|&i| is_fence(lines[i])));
        let Some(end) = end else {
            blocks.push(malformed(&path, &lines[search_from..divider]));
            at = next_search;
            continue;
        };
        blocks.push(ParsedBlock {
            block: EditBlock {
                path: path.clone(),
                search: joined(&lines[search_from..divider]),
                replace: joined(&lines[divider + 1..end]),
                whole_file: false,
            },
            complete: true,
        });
        at = end + 1;
    }
    blocks
}

fn malformed(path: &str, search: &[&str]) -> ParsedBlock {
    ParsedBlock {
        block: EditBlock {
            path: path.to_owned(),
            search: joined(search),
            replace: String::new(),
            whole_file: false,
        },
        complete: false,
    }
}

/// Fenced blocks right under a path line (or with the path on the fence line): each the new
/// content of that file.
fn whole_files(lines: &[&str]) -> Vec<ParsedBlock> {
    let mut blocks = Vec::new();
    let mut at = 0;
    while at < lines.len() {
        let Some(fence) = fence_opener(lines[at]) else {
            at += 1;
            continue;
        };
        let close = (at + 1..lines.len()).find(|&i| lines[i].trim() == fence.marker);
        let Some(close) = close else { break };
        let path = fence.path.or_else(|| {
            at.checked_sub(1)
                .and_then(|before| path_line(lines[before]))
        });
        if let Some(path) = path {
            blocks.push(ParsedBlock {
                block: EditBlock {
                    path,
                    search: String::new(),
                    replace: joined(&lines[at + 1..close]),
                    whole_file: true,
                },
                complete: true,
            });
        }
        at = close + 1;
    }
    blocks
}

/// Lines as text, each ending in a newline.
fn joined(lines: &[&str]) -> String {
    let mut text = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// `<<<<<<< SEARCH`, `=======` or `>>>>>>> REPLACE` with five to nine marker characters.
fn is_marker(line: &str, mark: char, word: Option<&str>) -> bool {
    let line = line.trim();
    let run = line.chars().take_while(|&c| c == mark).count();
    if !(5..=9).contains(&run) {
        return false;
    }
    let rest = line[run..].trim();
    match word {
        Some(word) => rest.eq_ignore_ascii_case(word),
        None => rest.is_empty(),
    }
}

fn is_fence(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with("```") || line.starts_with("~~~")
}

struct Fence {
    marker: &'static str,
    path: Option<String>,
}

/// An opening fence, with a path when its info string holds one (```` ```python src/a.py ````).
fn fence_opener(line: &str) -> Option<Fence> {
    let line = line.trim();
    let marker = ["```", "~~~"].into_iter().find(|m| line.starts_with(m))?;
    let info = line[marker.len()..].trim();
    let path = info.split_whitespace().find_map(path_token);
    Some(Fence { marker, path })
}

/// The path named just before a SEARCH marker: on the fence line, or on the line before the
/// fence (or before the marker when there is no fence), blank lines skipped.
fn path_before(lines: &[&str], marker: usize) -> Option<String> {
    let mut at = marker;
    let mut looked = 0;
    while at > 0 && looked < 3 {
        at -= 1;
        let line = lines[at];
        if line.trim().is_empty() {
            continue;
        }
        looked += 1;
        if let Some(fence) = fence_opener(line) {
            if fence.path.is_some() {
                return fence.path;
            }
            continue;
        }
        return path_line(line);
    }
    None
}

/// A line that is nothing but a path, perhaps decorated: `` `a.py` ``, `**a.py**`, `# a.py`,
/// `File: a.py`, `a.py:`.
fn path_line(line: &str) -> Option<String> {
    let mut text = line.trim();
    text = text.trim_start_matches('#').trim_start();
    for label in ["File:", "file:", "Filename:", "filename:", "Path:", "path:"] {
        if let Some(rest) = text.strip_prefix(label) {
            text = rest.trim_start();
        }
    }
    let text = text.trim_end_matches(':');
    let text = text.trim_matches(|c| matches!(c, '`' | '*' | '"' | '\''));
    path_token(text.trim_end_matches(':'))
}

/// A token that looks like a path: no spaces, a dot or a slash, not a sentence's end.
fn path_token(token: &str) -> Option<String> {
    let token = token.trim_matches(|c| matches!(c, '`' | '*' | '"' | '\''));
    let plausible = !token.is_empty()
        && token.len() <= 300
        && !token.contains(char::is_whitespace)
        && (token.contains('/') || token.contains('.'))
        && !token.ends_with('.')
        && !token.starts_with("```")
        && !token.chars().all(|c| c == '.');
    plausible.then(|| token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(answer: &str) -> EditBlock {
        let blocks = parse_blocks(answer);
        assert_eq!(blocks.len(), 1, "{blocks:?}");
        assert!(blocks[0].complete);
        blocks[0].block.clone()
    }

    #[test]
    fn reads_a_fenced_block_under_its_path() {
        let block = one(
            "Fix:\n\nsrc/calc.py\n```python\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n```\nDone.",
        );
        assert_eq!(block.path, "src/calc.py");
        assert_eq!(block.search, "    return a - b\n");
        assert_eq!(block.replace, "    return a + b\n");
    }

    #[test]
    fn is_lenient_about_markers_fences_and_decorated_paths() {
        for path_line in [
            "`a/b.rs`",
            "**a/b.rs**",
            "# a/b.rs",
            "File: a/b.rs",
            "a/b.rs:",
        ] {
            let block = one(&format!(
                "{path_line}\n~~~rust\n<<<<< SEARCH\nlet x = 1;\n=========\nlet x = 2;\n>>>>>>>>> REPLACE\n~~~\n"
            ));
            assert_eq!(block.path, "a/b.rs", "{path_line}");
            assert_eq!(block.replace, "let x = 2;\n");
        }
        let on_fence =
            one("```rust src/lib.rs\n<<<<<<< SEARCH\nfn a() {}\n=======\n>>>>>>> REPLACE\n```");
        assert_eq!(on_fence.path, "src/lib.rs");
        assert_eq!(on_fence.replace, "");
        let bare =
            one("src/lib.rs\n<<<<<<< SEARCH\nfn a() {}\n=======\nfn b() {}\n>>>>>>> REPLACE");
        assert_eq!(bare.path, "src/lib.rs");
    }

    #[test]
    fn carries_the_path_over_and_marks_cut_off_blocks() {
        let blocks = parse_blocks(
            "m.py\n<<<<<<< SEARCH\na = 1\n=======\na = 2\n>>>>>>> REPLACE\n\n<<<<<<< SEARCH\nb = 1\n=======\nb = 2\n>>>>>>> REPLACE\n<<<<<<< SEARCH\nc = 1\n",
        );
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[1].block.path, "m.py");
        assert!(blocks[1].complete);
        assert!(!blocks[2].complete);
        assert_eq!(blocks[2].block.search, "c = 1\n");
    }

    #[test]
    fn a_forgotten_closing_marker_ends_at_the_fence() {
        let block = one("a.py\n```\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n```\n");
        assert_eq!(block.replace, "x = 2\n");
    }

    #[test]
    fn whole_files_only_without_search_blocks() {
        let blocks =
            parse_blocks("Here it is:\n\nsrc/small.py\n```python\ndef f():\n    return 1\n```\n");
        assert_eq!(blocks.len(), 1);
        assert!(blocks[0].block.whole_file);
        assert_eq!(blocks[0].block.path, "src/small.py");
        assert_eq!(blocks[0].block.replace, "def f():\n    return 1\n");
        // A fence under prose is an illustration, not a file.
        assert!(parse_blocks("The output was:\n```\nFAILED\n```\n").is_empty());
    }
}
