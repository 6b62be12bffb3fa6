//! The simple mutations of a target that generated tests must catch: a comparison flipped, a
//! literal changed, a statement removed. One mutation per mutant, on one line, in code only
//! (never in a string or a comment), so that each mutant differs from the target in one
//! behaviour a test can pin down.

use std::ops::Range;

use trae_core::tdd::generation::{Mutant, MutationKind};

use super::source::{Language, Source};

/// The most mutants tried for one target; past it, an evenly spaced selection (each costs a
/// test run).
pub const MAX_MUTANTS: usize = 60;

/// Comparisons and what each flips to. Binary operators are written with a space on each
/// side by rustfmt and black alike, and generics (`Vec<u8>`) and arrows (`->`, `=>`) never
/// are, so only spaced operators are taken.
const FLIPS: &[(&str, &str)] = &[
    (" <= ", " > "),
    (" >= ", " < "),
    (" == ", " != "),
    (" != ", " == "),
    (" < ", " >= "),
    (" > ", " <= "),
];

/// Lines that declare rather than compute: never mutated.
const PYTHON_DECLARATIONS: &[&str] = &["def ", "async def ", "class ", "@", "import ", "from "];
const RUST_DECLARATIONS: &[&str] = &[
    "fn ",
    "pub fn ",
    "pub(crate) fn ",
    "async fn ",
    "pub async fn ",
    "use ",
    "pub use ",
    "#",
    "mod ",
    "pub mod ",
    "impl",
    "struct ",
    "pub struct ",
    "enum ",
    "pub enum ",
    "trait ",
    "pub trait ",
    "type ",
    "pub type ",
    "where",
];

/// Statements whose removal is not a statement removed but a block or a binding broken.
const PYTHON_KEEP: &[&str] = &[
    "def", "class", "import", "from", "if", "elif", "else", "for", "while", "try", "except",
    "finally", "with", "pass", "global", "nonlocal", "async", "match", "case",
];
const RUST_KEEP: &[&str] = &[
    "let", "use", "mod", "const", "static", "type", "pub", "extern", "struct", "enum", "impl",
    "fn", "}", "#",
];

/// Every mutant of the lines `body` of `text`, in line order, each with the whole mutated
/// text; at most [`MAX_MUTANTS`].
pub fn mutants(text: &str, language: Language, body: Range<usize>) -> Vec<(Mutant, String)> {
    let source = Source::scan(text, language);
    let mut found = Vec::new();
    for index in body {
        if index >= source.lines.len() || !source.starts_with_code(index) {
            continue;
        }
        let code = source.code_of(index);
        let trimmed = code.trim_start();
        let declarations = match language {
            Language::Python => PYTHON_DECLARATIONS,
            Language::Rust => RUST_DECLARATIONS,
        };
        if declarations.iter().any(|d| trimmed.starts_with(d)) {
            continue;
        }
        let line = source.lines[index];
        let mut add = |kind, after: String| {
            found.push(Mutant {
                kind,
                line: u32::try_from(index + 1).unwrap_or(u32::MAX),
                before: line.to_owned(),
                after,
            });
        };
        for (from, to) in FLIPS {
            for (at, _) in code.match_indices(from) {
                add(
                    MutationKind::FlippedComparison,
                    format!("{}{to}{}", &line[..at], &line[at + from.len()..]),
                );
            }
        }
        for (range, replacement) in constants(&code, language) {
            add(
                MutationKind::ChangedConstant,
                format!(
                    "{}{replacement}{}",
                    &line[..range.start],
                    &line[range.end..]
                ),
            );
        }
        if let Some(after) = removal(&source, index, &code) {
            add(MutationKind::RemovedStatement, after);
        }
    }
    let found = spread(found, MAX_MUTANTS);
    found
        .into_iter()
        .map(|mutant| {
            let mutated = replace_line(text, mutant.line as usize - 1, &mutant.after);
            (mutant, mutated)
        })
        .collect()
}

/// The literals of a line of code and what each changes to: an integer plus one, a boolean
/// negated.
fn constants(code: &str, language: Language) -> Vec<(Range<usize>, String)> {
    let bytes = code.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(word(bytes[i - 1]) || bytes[i - 1] == b'.');
        if bytes[i].is_ascii_digit() && starts_word {
            let end = i + bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
            // `0x1F`, `0b10`, `0o7`: another base; left alone.
            let radix = matches!(bytes.get(end), Some(b'x' | b'b' | b'o'));
            // At the top of u64 there is no `plus one`: no mutant rather than an unchanged one.
            if !radix
                && let Some(value) = code[i..end]
                    .parse::<u64>()
                    .ok()
                    .and_then(|v| v.checked_add(1))
            {
                found.push((i..end, value.to_string()));
            }
            i = end;
            continue;
        }
        if starts_word && word(bytes[i]) {
            let end = i + bytes[i..].iter().take_while(|&&b| word(b)).count();
            let flipped = match (language, &code[i..end]) {
                (Language::Python, "True") => Some("False"),
                (Language::Python, "False") => Some("True"),
                (Language::Rust, "true") => Some("false"),
                (Language::Rust, "false") => Some("true"),
                _ => None,
            };
            if let Some(flipped) = flipped {
                found.push((i..end, flipped.to_owned()));
            }
            i = end;
            continue;
        }
        i += 1;
    }
    found
}

/// Line `index` removed, when it is one whole simple statement: in Python `pass` takes its
/// place (a block may not be empty); in Rust the line is left blank.
fn removal(source: &Source<'_>, index: usize, code: &str) -> Option<String> {
    let trimmed = code.trim();
    let ends_balanced = source
        .depth
        .get(index + 1)
        .is_none_or(|&next| next == source.depth[index]);
    if source.depth[index] != 0 || !ends_balanced || trimmed.is_empty() {
        return None;
    }
    let first = trimmed
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '}' || c == '#'))
        .next()
        .unwrap_or("");
    let indent = &source.lines[index][..source.indent(index)];
    match source.language {
        Language::Python => {
            let continued = index > 0 && source.lines[index - 1].trim_end().ends_with('\\');
            if continued
                || trimmed.ends_with([':', ',', '\\'])
                || PYTHON_KEEP.contains(&first)
                || trimmed.starts_with('@')
            {
                return None;
            }
            Some(format!("{indent}pass"))
        }
        Language::Rust => {
            if !trimmed.ends_with(';') || RUST_KEEP.contains(&first) || trimmed.starts_with('}') {
                return None;
            }
            Some(String::new())
        }
    }
}

/// At most `max` of `items`, evenly spaced, in order.
fn spread<T>(items: Vec<T>, max: usize) -> Vec<T> {
    let len = items.len();
    if len <= max {
        return items;
    }
    items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| (i * max) / len != ((i + 1) * max) / len)
        .map(|(_, item)| item)
        .collect()
}

/// `text` with its line `index` replaced by `line`, line ends kept.
fn replace_line(text: &str, index: usize, line: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for (i, piece) in text.split_inclusive('\n').enumerate() {
        if i == index {
            out.push_str(line);
            if piece.ends_with('\n') {
                out.push('\n');
            }
        } else {
            out.push_str(piece);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn afters(
        text: &str,
        language: Language,
        function: Option<&str>,
    ) -> Vec<(MutationKind, u32, String)> {
        let body = Source::scan(text, language).body(function).unwrap();
        mutants(text, language, body)
            .into_iter()
            .map(|(m, mutated)| {
                assert_eq!(
                    mutated.lines().nth(m.line as usize - 1),
                    Some(m.after.as_str())
                );
                (m.kind, m.line, m.after)
            })
            .collect()
    }

    #[test]
    fn python_comparisons_constants_and_statements_are_mutated_in_code_only() {
        let text = "LIMIT = 50\n\n\ndef shipping(total, express=False):\n    \"\"\"Free at or over 50 < no.\"\"\"\n    if total >= LIMIT:  # at 50 < x\n        return 0\n    fee = 5\n    log(\"fee\", fee)\n    return fee\n";
        use MutationKind::*;
        assert_eq!(
            afters(text, Language::Python, Some("shipping")),
            vec![
                (
                    FlippedComparison,
                    6,
                    "    if total < LIMIT:  # at 50 < x".into()
                ),
                (ChangedConstant, 7, "        return 1".into()),
                (RemovedStatement, 7, "        pass".into()),
                (ChangedConstant, 8, "    fee = 6".into()),
                (RemovedStatement, 8, "    pass".into()),
                (RemovedStatement, 9, "    pass".into()),
                (RemovedStatement, 10, "    pass".into()),
            ]
        );
        // The whole file: the module constant too, but never the `def` line's default.
        let all = afters(text, Language::Python, None);
        assert_eq!(all[0], (ChangedConstant, 1, "LIMIT = 51".into()));
        assert!(all.iter().all(|(_, line, _)| *line != 4));
    }

    #[test]
    fn rust_generics_arrows_lets_and_tests_are_left_alone() {
        let text = "pub fn pick(v: Vec<u32>, hi: bool) -> Option<u32> {\n    let mut n = 0x1F;\n    n += 2;\n    match hi {\n        true => v.iter().copied().find(|x| *x > n),\n        false => None,\n    }\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() { assert!(1 < 2); }\n}\n";
        use MutationKind::*;
        assert_eq!(
            afters(text, Language::Rust, None),
            vec![
                (ChangedConstant, 3, "    n += 3;".into()),
                (RemovedStatement, 3, String::new()),
                (
                    FlippedComparison,
                    5,
                    "        true => v.iter().copied().find(|x| *x <= n),".into()
                ),
                (
                    ChangedConstant,
                    5,
                    "        false => v.iter().copied().find(|x| *x > n),".into()
                ),
                (ChangedConstant, 6, "        true => None,".into()),
            ]
        );
    }

    #[test]
    fn offsets_hold_after_characters_of_several_bytes() {
        let text = "def f(x):\n    labels = {\"日本\": 1, \"café\": 2}\n    return x > 3\n";
        assert_eq!(
            afters(text, Language::Python, Some("f")),
            vec![
                (
                    MutationKind::ChangedConstant,
                    2,
                    "    labels = {\"日本\": 2, \"café\": 2}".into()
                ),
                (
                    MutationKind::ChangedConstant,
                    2,
                    "    labels = {\"日本\": 1, \"café\": 3}".into()
                ),
                (MutationKind::RemovedStatement, 2, "    pass".into()),
                (
                    MutationKind::FlippedComparison,
                    3,
                    "    return x <= 3".into()
                ),
                (MutationKind::ChangedConstant, 3, "    return x > 4".into()),
                (MutationKind::RemovedStatement, 3, "    pass".into()),
            ]
        );
        // No plus one past u64::MAX.
        let top = format!("def g():\n    return {}\n", u64::MAX);
        assert_eq!(
            afters(&top, Language::Python, Some("g")),
            vec![(MutationKind::RemovedStatement, 2, "    pass".into())]
        );
    }

    #[test]
    fn many_mutants_are_cut_to_an_even_spread() {
        let picked = spread((0..150).collect(), 60);
        assert_eq!(picked.len(), 60);
        assert_eq!(picked.first(), Some(&2));
        assert!(picked.windows(2).all(|w| w[1] - w[0] <= 3));
        assert_eq!(spread(vec![1, 2], 60), vec![1, 2]);
    }
}
