//! Reading a Python or Rust source file just far enough to mutate it and to find tests in it:
//! which bytes are code (not a string or a comment), how deep in brackets each line starts,
//! and where a function's body is.

use std::ops::Range;

/// The language of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Python, tested with pytest.
    Python,
    /// Rust, tested with `cargo test`.
    Rust,
}

impl Language {
    /// The language of a file, by its extension.
    pub fn of(path: &str) -> Option<Self> {
        match path.rsplit_once('.').map(|(_, ext)| ext) {
            Some("py") => Some(Self::Python),
            Some("rs") => Some(Self::Rust),
            _ => None,
        }
    }
}

/// A source text split into lines, with which bytes of each are code.
#[derive(Debug)]
pub struct Source<'a> {
    /// The language.
    pub language: Language,
    /// The lines, without their line ends.
    pub lines: Vec<&'a str>,
    /// For each line, whether each of its bytes is code.
    pub code: Vec<Vec<bool>>,
    /// For each line, the depth of open parentheses and brackets (and, in Python, braces) it
    /// starts inside.
    pub depth: Vec<u32>,
}

impl<'a> Source<'a> {
    /// Scans `text`.
    pub fn scan(text: &'a str, language: Language) -> Self {
        let mask = code_mask(text, language);
        let mut lines = Vec::new();
        let mut code = Vec::new();
        let mut depth = Vec::new();
        let mut open: u32 = 0;
        let mut at = 0;
        for line in text.split('\n') {
            let line_mask = mask[at..at + line.len()].to_vec();
            depth.push(open);
            for (byte, is_code) in line.bytes().zip(&line_mask) {
                if !is_code {
                    continue;
                }
                match (byte, language) {
                    (b'(' | b'[', _) | (b'{', Language::Python) => open += 1,
                    (b')' | b']', _) | (b'}', Language::Python) => open = open.saturating_sub(1),
                    _ => {}
                }
            }
            lines.push(line);
            code.push(line_mask);
            at += line.len() + 1;
        }
        if text.ends_with('\n') {
            lines.pop();
            code.pop();
            depth.pop();
        }
        Self {
            language,
            lines,
            code,
            depth,
        }
    }

    /// Line `index` with everything that is not code blanked out (so a search in it never
    /// matches inside a string or a comment), byte for byte: a character that is not code
    /// becomes as many spaces as it has bytes, so offsets in it are offsets in the line.
    pub fn code_of(&self, index: usize) -> String {
        let mut out = String::with_capacity(self.lines[index].len());
        for (start, c) in self.lines[index].char_indices() {
            if self.code[index][start] {
                out.push(c);
            } else {
                out.extend(std::iter::repeat_n(' ', c.len_utf8()));
            }
        }
        out
    }

    /// Whether line `index` starts (after its indentation) with code rather than inside a
    /// string or a comment.
    pub fn starts_with_code(&self, index: usize) -> bool {
        let line = self.lines[index];
        let indent = line.len() - line.trim_start().len();
        indent < line.len() && self.code[index][indent]
    }

    /// The indentation of line `index`, in bytes.
    pub fn indent(&self, index: usize) -> usize {
        let line = self.lines[index];
        line.len() - line.trim_start().len()
    }

    /// The lines to mutate: the body of `function` when one is named, else the whole file
    /// (in Rust, up to a `#[cfg(test)]` module). `None` when the function is not there.
    pub fn body(&self, function: Option<&str>) -> Option<Range<usize>> {
        let Some(name) = function else {
            let end = match self.language {
                Language::Python => self.lines.len(),
                Language::Rust => (0..self.lines.len())
                    .find(|&i| self.code_of(i).trim_start().starts_with("#[cfg(test)]"))
                    .unwrap_or(self.lines.len()),
            };
            return Some(0..end);
        };
        let start = (0..self.lines.len()).find(|&i| self.defines(i, name))?;
        match self.language {
            Language::Python => {
                let indent = self.indent(start);
                let end = (start + 1..self.lines.len())
                    .find(|&i| {
                        self.depth[i] == 0 && self.starts_with_code(i) && self.indent(i) <= indent
                    })
                    .unwrap_or(self.lines.len());
                Some(start + 1..end)
            }
            Language::Rust => {
                let end = self.block_end(start)?;
                // A one-line function has no body lines of its own.
                Some(start + 1..end.max(start + 1))
            }
        }
    }

    /// In Rust, the line where the first brace opened on or after line `start` is closed.
    pub fn block_end(&self, start: usize) -> Option<usize> {
        let mut braces = 0i64;
        let mut opened = false;
        for i in start..self.lines.len() {
            for (byte, is_code) in self.lines[i].bytes().zip(&self.code[i]) {
                match (byte, is_code) {
                    (b'{', true) => {
                        braces += 1;
                        opened = true;
                    }
                    (b'}', true) => braces -= 1,
                    _ => {}
                }
            }
            if opened && braces <= 0 {
                return Some(i);
            }
        }
        None
    }

    /// Whether line `index` defines the function `name`.
    fn defines(&self, index: usize, name: &str) -> bool {
        let code = self.code_of(index);
        let keyword = match self.language {
            Language::Python => "def",
            Language::Rust => "fn",
        };
        // Words with where each ends, to look right after the name.
        let word = |c: char| c.is_alphanumeric() || c == '_';
        let mut words = Vec::new();
        let mut start = None;
        for (at, c) in code
            .char_indices()
            .chain(std::iter::once((code.len(), ' ')))
        {
            match (word(c), start) {
                (true, None) => start = Some(at),
                (false, Some(from)) => {
                    words.push((&code[from..at], at));
                    start = None;
                }
                _ => {}
            }
        }
        words.windows(2).any(|pair| {
            pair[0].0 == keyword
                && pair[1].0 == name
                && code[pair[1].1..].trim_start().starts_with(['(', '<'])
        })
    }
}

/// For each byte of `text`, whether it is code: not inside a string literal or a comment
/// (the quotes and comment markers count as not code).
pub fn code_mask(text: &str, language: Language) -> Vec<bool> {
    let bytes = text.as_bytes();
    let mut mask = vec![true; bytes.len()];
    let mut i = 0;
    let blank = |mask: &mut Vec<bool>, from: usize, to: usize| {
        for m in &mut mask[from..to.min(bytes.len())] {
            *m = false;
        }
    };
    while i < bytes.len() {
        let end = match (language, bytes[i]) {
            (Language::Python, b'#') | (Language::Rust, b'/')
                if language == Language::Python || bytes.get(i + 1) == Some(&b'/') =>
            {
                line_end(bytes, i)
            }
            (Language::Rust, b'/') if bytes.get(i + 1) == Some(&b'*') => {
                find(bytes, i + 2, b"*/").map_or(bytes.len(), |at| at + 2)
            }
            (Language::Python, quote @ (b'"' | b'\'')) => {
                let triple = bytes.get(i + 1) == Some(&quote) && bytes.get(i + 2) == Some(&quote);
                if triple {
                    let close = [quote; 3];
                    find_unescaped(bytes, i + 3, &close).map_or(bytes.len(), |at| at + 3)
                } else {
                    python_string_end(bytes, i + 1, quote)
                }
            }
            (Language::Rust, b'"') => {
                let raw_start = raw_string_start(bytes, i);
                match raw_start {
                    Some(hashes) => {
                        let mut close = vec![b'"'];
                        close.extend(std::iter::repeat_n(b'#', hashes));
                        find(bytes, i + 1, &close).map_or(bytes.len(), |at| at + close.len())
                    }
                    None => find_unescaped(bytes, i + 1, b"\"").map_or(bytes.len(), |at| at + 1),
                }
            }
            (Language::Rust, b'\'') => char_literal_end(bytes, i).unwrap_or(i),
            _ => i,
        };
        if end > i {
            blank(&mut mask, i, end);
            i = end;
        } else {
            i += 1;
        }
    }
    mask
}

fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |at| from + at)
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from > bytes.len() {
        return None;
    }
    bytes[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|at| from + at)
}

/// The first `needle` from `from` that no backslash escapes.
fn find_unescaped(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let mut i = from;
    while i + needle.len() <= bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if &bytes[i..i + needle.len()] == needle {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Where a one-line Python string that opened before `from` ends (at the line's end when it
/// is not closed: the file is broken there, and the next line is read afresh).
fn python_string_end(bytes: &[u8], from: usize, quote: u8) -> usize {
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' => return i,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// When the `"` at `quote` closes an `r"`, `r#"`, `br"` opener, how many `#` it has.
fn raw_string_start(bytes: &[u8], quote: usize) -> Option<usize> {
    let mut i = quote;
    let mut hashes = 0;
    while i > 0 && bytes[i - 1] == b'#' {
        hashes += 1;
        i -= 1;
    }
    let r = i.checked_sub(1)?;
    if bytes[r] != b'r' {
        return None;
    }
    let before = r.checked_sub(1).map(|b| bytes[b]);
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    match before {
        Some(b'b') if r < 2 || !word(bytes[r - 2]) => Some(hashes),
        Some(b) if word(b) => None,
        _ => Some(hashes),
    }
}

/// Where a Rust char literal opening at `at` ends, or `None` for a lifetime.
fn char_literal_end(bytes: &[u8], at: usize) -> Option<usize> {
    if bytes.get(at + 1) == Some(&b'\\') {
        return find(bytes, at + 2, b"'")
            .filter(|&end| end - at <= 12)
            .map(|end| end + 1);
    }
    let rest = std::str::from_utf8(&bytes[at + 1..]).ok().or_else(|| {
        // Past a multi-byte char's middle: take what is valid.
        let tail = &bytes[at + 1..];
        let valid = std::str::from_utf8(tail).map_or_else(|e| e.valid_up_to(), str::len);
        std::str::from_utf8(&tail[..valid]).ok()
    })?;
    let c = rest.chars().next()?;
    (bytes.get(at + 1 + c.len_utf8()) == Some(&b'\'')).then_some(at + 2 + c.len_utf8())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str, language: Language) -> String {
        text.bytes()
            .zip(code_mask(text, language))
            .map(|(b, c)| if c { b as char } else { '_' })
            .collect()
    }

    #[test]
    fn strings_and_comments_are_not_code() {
        assert_eq!(
            code(
                "x = 'a<b' # c < d\ny = \"\"\"\n< \"\"\" < 2",
                Language::Python
            ),
            "x = _____ _______\ny = _________ < 2"
        );
        assert_eq!(
            code(
                "let a = \"x\\\" < y\"; // < z\nlet c = '<'; fn f<'a>() {} /* < */ r#\"<\"#",
                Language::Rust
            ),
            "let a = _________; ______\nlet c = ___; fn f<'a>() {} _______ r#____"
        );
    }

    #[test]
    fn a_function_body_is_found_in_either_language() {
        let py = "import x\n\n\ndef area(w, h):\n    if w < 0:\n        raise ValueError\n    return w * h\n\n\ndef other():\n    pass\n";
        let source = Source::scan(py, Language::Python);
        // The blank lines before the next `def` belong to the body; they hold nothing to mutate.
        assert_eq!(source.body(Some("area")), Some(4..9));
        assert_eq!(source.body(Some("missing")), None);
        let one_letter = Source::scan("def f(x):\n    return x\n", Language::Python);
        assert_eq!(one_letter.body(Some("f")), Some(1..2));
        assert_eq!(source.body(None), Some(0..11));

        let rs = "pub fn area(w: u32, h: u32) -> u32 {\n    if w > 10 {\n        return 0;\n    }\n    w * h\n}\n\n#[cfg(test)]\nmod tests {\n    fn area_test() {}\n}\n";
        let source = Source::scan(rs, Language::Rust);
        assert_eq!(source.body(Some("area")), Some(1..5));
        assert_eq!(source.body(Some("area_test")), Some(10..10));
        assert_eq!(source.body(None), Some(0..7));
        assert_eq!(Language::of("src/lib.rs"), Some(Language::Rust));
        assert_eq!(Language::of("m.txt"), None);
    }

    #[test]
    fn depth_counts_open_brackets_at_each_line_start() {
        let source = Source::scan("f(a,\n  b)\nx = [\n 1]\n", Language::Python);
        assert_eq!(source.depth, vec![0, 1, 0, 1]);
    }
}
