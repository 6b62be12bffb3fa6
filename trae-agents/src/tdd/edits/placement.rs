//! Placing one search text in one file, from the strictest way to the loosest: exact, a
//! uniform indentation offset, blank lines at the ends dropped, `...` elision, and equal but
//! for spaces and tabs. Every way needs exactly one place; two places at any step is a
//! refusal, never a guess, because a looser step can only find more.

use trae_core::tdd::edit::{Placement, Refusal};

/// The fewest non-blank characters a search text may have.
pub const MIN_SEARCH_CHARS: usize = 10;

/// Where a search text did not fit, for the refusal's "did you mean".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Miss {
    /// Why.
    pub reason: Refusal,
    /// The lines of the file most like the search text, or where it was found more than once.
    pub hint: Option<String>,
}

impl Miss {
    fn bare(reason: Refusal) -> Self {
        Self { reason, hint: None }
    }
}

/// `content` with `search` replaced by `replace`, and how `search` was found.
pub fn place(content: &str, search: &str, replace: &str) -> Result<(String, Placement), Miss> {
    if search.chars().filter(|c| !c.is_whitespace()).count() < MIN_SEARCH_CHARS {
        return Err(Miss::bare(Refusal::TooShort));
    }
    let file = Text::new(content);
    let search = lines_of(search);
    let replace = lines_of(replace);
    let trimmed = trim_blank_ends(&search, &replace);

    let mut attempts: Vec<(Placement, Finder)> = vec![
        (Placement::Exact, Finder::Exact),
        (Placement::Indentation, Finder::Indented),
    ];
    if trimmed.is_some() {
        attempts.push((Placement::BlankLines, Finder::Exact));
        attempts.push((Placement::BlankLines, Finder::Indented));
    }
    for (placement, finder) in attempts {
        let (s, r) = match placement {
            Placement::BlankLines => trimmed.clone().expect("attempted only when trimmed"),
            _ => (search.clone(), replace.clone()),
        };
        match finder.find(&file.lines, &s, &r)? {
            Some((at, lines)) => return Ok((file.splice(at, s.len(), &lines), placement)),
            None => continue,
        }
    }
    if search.iter().any(|line| is_elision(line)) {
        return elide(&file, &search, &replace)
            .map(|lines| (file.with(&lines), Placement::Elision));
    }
    for (s, r) in std::iter::once((search.clone(), replace)).chain(trimmed) {
        if let Some((at, lines)) = Finder::Spacing.find(&file.lines, &s, &r)? {
            return Ok((file.splice(at, s.len(), &lines), Placement::Whitespace));
        }
    }
    Err(Miss {
        reason: Refusal::NotFound,
        hint: closest(&file.lines, &search),
    })
}

/// A file as lines without their endings, and how to put it back together.
struct Text<'a> {
    lines: Vec<&'a str>,
    eol: &'static str,
    final_newline: bool,
}

impl<'a> Text<'a> {
    fn new(content: &'a str) -> Self {
        let eol = if content.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        let final_newline = content.ends_with('\n');
        let body = content.strip_suffix('\n').unwrap_or(content);
        let lines = if content.is_empty() {
            Vec::new()
        } else {
            body.split('\n')
                .map(|line| line.strip_suffix('\r').unwrap_or(line))
                .collect()
        };
        Self {
            lines,
            eol,
            final_newline,
        }
    }

    fn with(&self, lines: &[String]) -> String {
        let mut out = lines.join(self.eol);
        if self.final_newline && !lines.is_empty() {
            out.push_str(self.eol);
        }
        out
    }

    /// The text with `len` lines from `at` replaced by `lines`, built in one string.
    fn splice(&self, at: usize, len: usize, lines: &[String]) -> String {
        let kept = self.lines[..at].iter().chain(&self.lines[at + len..]);
        let size: usize = kept.map(|l| l.len() + 2).sum::<usize>()
            + lines.iter().map(|l| l.len() + 2).sum::<usize>();
        let mut out = String::with_capacity(size);
        let all = self.lines[..at]
            .iter()
            .copied()
            .chain(lines.iter().map(String::as_str))
            .chain(self.lines[at + len..].iter().copied());
        let mut any = false;
        for (i, line) in all.enumerate() {
            if i > 0 {
                out.push_str(self.eol);
            }
            out.push_str(line);
            any = true;
        }
        if self.final_newline && any {
            out.push_str(self.eol);
        }
        out
    }
}

fn lines_of(text: &str) -> Vec<String> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    if text.is_empty() {
        return Vec::new();
    }
    body.split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line).to_owned())
        .collect()
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

fn is_elision(line: &str) -> bool {
    line.trim() == "..."
}

/// The search text without its leading and trailing blank lines, and the replacement without
/// as many of its own; `None` when the search text has none.
fn trim_blank_ends(search: &[String], replace: &[String]) -> Option<(Vec<String>, Vec<String>)> {
    let lead = search.iter().take_while(|l| is_blank(l)).count();
    if lead == search.len() {
        return None;
    }
    let trail = search.iter().rev().take_while(|l| is_blank(l)).count();
    if lead == 0 && trail == 0 {
        return None;
    }
    let r_lead = replace.iter().take_while(|l| is_blank(l)).count().min(lead);
    let r_trail = replace
        .iter()
        .rev()
        .take_while(|l| is_blank(l))
        .count()
        .min(trail)
        .min(replace.len() - r_lead);
    Some((
        search[lead..search.len() - trail].to_vec(),
        replace[r_lead..replace.len() - r_trail].to_vec(),
    ))
}

/// One way of comparing the search text with the file.
#[derive(Clone, Copy)]
enum Finder {
    Exact,
    Indented,
    Spacing,
}

impl Finder {
    /// Where the one match starts and what replaces it, `None` without a match, a miss when
    /// the search text matches more than one place.
    fn find(
        self,
        file: &[&str],
        search: &[String],
        replace: &[String],
    ) -> Result<Option<(usize, Vec<String>)>, Miss> {
        if search.is_empty() || search.len() > file.len() {
            return Ok(None);
        }
        let shape = match self {
            Self::Indented => match shape_of(search) {
                Some(shape) => Some(shape),
                None => return Ok(None),
            },
            _ => None,
        };
        let mut found: Vec<(usize, Vec<String>)> = Vec::new();
        let mut starts = Vec::new();
        for at in 0..=file.len() - search.len() {
            let window = &file[at..at + search.len()];
            let placed = match self {
                Self::Exact => exact(window, search).then(|| replace.to_vec()),
                Self::Indented => shape
                    .as_ref()
                    .and_then(|shape| indented(window, search, replace, shape)),
                Self::Spacing => spaced(window, search, replace),
            };
            if let Some(lines) = placed {
                starts.push(at);
                found.push((at, lines));
            }
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => Err(ambiguous(&starts)),
        }
    }
}

fn ambiguous(starts: &[usize]) -> Miss {
    let lines: Vec<String> = starts.iter().map(|at| (at + 1).to_string()).collect();
    Miss {
        reason: Refusal::Ambiguous,
        hint: Some(format!("it matches at lines {}", lines.join(", "))),
    }
}

fn exact(window: &[&str], search: &[String]) -> bool {
    window.iter().zip(search).all(|(f, s)| *f == s)
}

fn indent_of(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// The window is the search text indented uniformly by another amount: the replacement,
/// re-indented by the same change.
fn indented(
    window: &[&str],
    search: &[String],
    replace: &[String],
    shape: &Shape<'_>,
) -> Option<Vec<String>> {
    let Shape { base, first, body } = *shape;
    let target = window[first].strip_suffix(body)?;
    if !is_blank(target) || target == base {
        return None;
    }
    for (f, s) in window.iter().zip(search) {
        if is_blank(s) {
            if !is_blank(f) {
                return None;
            }
        } else if f.strip_prefix(target) != Some(&s[base.len()..]) {
            return None;
        }
    }
    replace
        .iter()
        .map(|line| reindent(line, base, target))
        .collect()
}

/// What every window is compared with for an indentation offset, worked out once per search.
#[derive(Clone, Copy)]
struct Shape<'a> {
    /// The search text's own least indentation, which every non-blank line starts with.
    base: &'a str,
    /// Its first non-blank line.
    first: usize,
    /// That line without `base`.
    body: &'a str,
}

fn shape_of(search: &[String]) -> Option<Shape<'_>> {
    let base = search
        .iter()
        .filter(|l| !is_blank(l))
        .map(|l| indent_of(l))
        .min_by_key(|indent| indent.len())?;
    if search.iter().any(|l| !is_blank(l) && !l.starts_with(base)) {
        return None;
    }
    let first = search.iter().position(|l| !is_blank(l))?;
    Some(Shape {
        base,
        first,
        body: &search[first][base.len()..],
    })
}

/// `line` moved from under `base` to under `target`; `None` when that cannot be said (a line
/// outdented past `base` in a different kind of whitespace).
fn reindent(line: &str, base: &str, target: &str) -> Option<String> {
    if is_blank(line) {
        return Some(String::new());
    }
    if let Some(rest) = line.strip_prefix(base) {
        return Some(format!("{target}{rest}"));
    }
    // Outdented past the search text's own indentation: shift by the same count when every
    // indentation involved is spaces only.
    let own = indent_of(line);
    let spaces = |s: &str| s.chars().all(|c| c == ' ');
    if !(spaces(own) && spaces(base) && spaces(target)) {
        return None;
    }
    let width = (own.len() + target.len()).checked_sub(base.len())?;
    Some(format!("{}{}", " ".repeat(width), line.trim_start()))
}

/// Every run of spaces and tabs as one space, and none at the ends.
fn squeezed(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether two lines are equal but for spaces and tabs (without allocating).
fn same_but_spacing(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// The window equals the search text but for spaces and tabs: the replacement, with each
/// indentation the search text used swapped for the file's.
fn spaced(window: &[&str], search: &[String], replace: &[String]) -> Option<Vec<String>> {
    if !window
        .iter()
        .zip(search)
        .all(|(f, s)| same_but_spacing(f, s))
    {
        return None;
    }
    let mapping: Vec<(&str, &str)> = search
        .iter()
        .zip(window)
        .filter(|(s, _)| !is_blank(s))
        .map(|(s, f)| (indent_of(s), indent_of(f)))
        .collect();
    Some(
        replace
            .iter()
            .map(|line| {
                let own = indent_of(line);
                match mapping.iter().find(|(from, _)| *from == own) {
                    Some((_, to)) => format!("{to}{}", &line[own.len()..]),
                    None => line.clone(),
                }
            })
            .collect(),
    )
}

/// `...` elision: the pieces between the `...` lines each found exactly once, in order, and
/// each replaced by the replacement's piece at the same place; what lies between is kept.
fn elide(file: &Text<'_>, search: &[String], replace: &[String]) -> Result<Vec<String>, Miss> {
    let pieces = |lines: &[String]| -> Vec<Vec<String>> {
        lines
            .split(|l| is_elision(l))
            .map(<[String]>::to_vec)
            .collect()
    };
    let (s_pieces, r_pieces) = (pieces(search), pieces(replace));
    if s_pieces.len() != r_pieces.len() {
        return Err(Miss::bare(Refusal::ElisionMismatch));
    }
    let mut out: Vec<String> = Vec::with_capacity(file.lines.len());
    let mut from = 0;
    for (s, r) in s_pieces.iter().zip(&r_pieces) {
        let s = trimmed_piece(s);
        if s.is_empty() {
            if trimmed_piece(r).is_empty() {
                continue;
            }
            // Text to put next to an elided part, with nothing to anchor it.
            return Err(Miss::bare(Refusal::ElisionMismatch));
        }
        let starts: Vec<usize> = (0..=file.lines.len().saturating_sub(s.len()))
            .filter(|&at| {
                at + s.len() <= file.lines.len() && exact(&file.lines[at..at + s.len()], s)
            })
            .collect();
        match starts.as_slice() {
            [] => {
                return Err(Miss {
                    reason: Refusal::NotFound,
                    hint: closest(&file.lines, s),
                });
            }
            [at] if *at >= from => {
                out.extend(file.lines[from..*at].iter().map(|l| (*l).to_owned()));
                out.extend(trimmed_piece(r).iter().cloned());
                from = at + s.len();
            }
            [_] => return Err(Miss::bare(Refusal::ElisionMismatch)),
            many => return Err(ambiguous(many)),
        }
    }
    out.extend(file.lines[from..].iter().map(|l| (*l).to_owned()));
    Ok(out)
}

/// A piece without the blank lines that surround the `...` lines.
fn trimmed_piece(piece: &[String]) -> &[String] {
    let lead = piece.iter().take_while(|l| is_blank(l)).count();
    let trail = piece[lead..]
        .iter()
        .rev()
        .take_while(|l| is_blank(l))
        .count();
    &piece[lead..piece.len() - trail]
}

/// The lines of the file most like the search text (most lines equal but for spacing, then
/// the longest common starts of the others), with their line numbers, when any line is equal.
fn closest(file: &[&str], search: &[String]) -> Option<String> {
    let wanted: Vec<String> = search
        .iter()
        .filter(|l| !is_blank(l))
        .map(|l| squeezed(l))
        .collect();
    if wanted.is_empty() || file.is_empty() {
        return None;
    }
    let span = search.len().min(file.len());
    let searched: Vec<String> = search.iter().map(|l| squeezed(l)).collect();
    // Each line of the file squeezed once, not once per window it falls in.
    let lines: Vec<String> = file.iter().map(|l| squeezed(l)).collect();
    let mut best = (0, 0, 0);
    for at in 0..=file.len() - span {
        let window = &lines[at..at + span];
        let equal = window
            .iter()
            .filter(|line| !line.is_empty() && wanted.contains(line))
            .count();
        let alike: usize = window
            .iter()
            .zip(&searched)
            .map(|(line, wanted)| {
                line.bytes()
                    .zip(wanted.bytes())
                    .take_while(|(a, b)| a == b)
                    .count()
            })
            .sum();
        if (equal, alike) > (best.1, best.2) {
            best = (at, equal, alike);
        }
    }
    (best.1 > 0).then(|| {
        let (at, _, _) = best;
        let mut hint = format!("did you mean lines {}-{}:\n", at + 1, at + span);
        for line in &file[at..at + span] {
            hint.push_str(line);
            hint.push('\n');
        }
        hint
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "class Cart:\n    def total(self):\n        return sum(self.items)\n\n    def count(self):\n        return len(self.items)\n";

    fn placed(search: &str, replace: &str) -> (String, Placement) {
        place(FILE, search, replace).expect("placed")
    }

    #[test]
    fn exact_first() {
        let (out, how) = placed(
            "        return sum(self.items)\n",
            "        return sum(self.items) * 2\n",
        );
        assert_eq!(how, Placement::Exact);
        assert!(out.contains("return sum(self.items) * 2\n\n    def count"));
    }

    #[test]
    fn a_uniform_indentation_offset_is_carried_into_the_replacement() {
        let (out, how) = placed(
            "def count(self):\n    return len(self.items)\n",
            "def count(self):\n    if not self.items:\n        return 0\n    return len(self.items)\n",
        );
        assert_eq!(how, Placement::Indentation);
        assert!(out.ends_with("    def count(self):\n        if not self.items:\n            return 0\n        return len(self.items)\n"));
    }

    #[test]
    fn blank_ends_the_file_lacks_are_dropped() {
        let (out, how) = placed(
            "\n        return len(self.items)\n\n",
            "\n        return len(self.items) + 0\n\n",
        );
        assert_eq!(how, Placement::BlankLines);
        assert!(out.ends_with("return len(self.items) + 0\n"));
    }

    #[test]
    fn elision_keeps_the_middle_and_refuses_a_repeated_piece() {
        let (out, how) = placed(
            "class Cart:\n...\n        return len(self.items)\n",
            "class Basket:\n...\n        return len(self.items or [])\n",
        );
        assert_eq!(how, Placement::Elision);
        assert!(out.starts_with("class Basket:\n    def total(self):"));
        assert!(out.ends_with("len(self.items or [])\n"));
        let twice = "def a():\n    return None\n\ndef b():\n    return None\n";
        let miss = place(
            twice,
            "def a():\n...\n    return None\n",
            "def a():\n...\n    return 1\n",
        )
        .unwrap_err();
        assert_eq!(miss.reason, Refusal::Ambiguous);
        let miss = place(
            FILE,
            "class Cart:\n...\n        return len(self.items)\n",
            "class Cart:\n        return 0\n",
        )
        .unwrap_err();
        assert_eq!(miss.reason, Refusal::ElisionMismatch);
    }

    #[test]
    fn spacing_differences_are_forgiven_last() {
        let (out, how) = placed(
            "        return   sum(self.items)  \n",
            "        return sum(self.items or [])\n",
        );
        assert_eq!(how, Placement::Whitespace);
        assert!(out.contains("return sum(self.items or [])\n"));
    }

    #[test]
    fn refuses_short_ambiguous_and_missing_text_with_a_hint() {
        assert_eq!(
            place(FILE, "self):\n", "x").unwrap_err().reason,
            Refusal::TooShort
        );
        let twice = place(FILE, "return \n", "x\n").unwrap_err();
        assert_eq!(twice.reason, Refusal::TooShort);
        let ambiguous = place(FILE, "(self.items)\n", "x\n");
        assert_eq!(ambiguous.unwrap_err().reason, Refusal::NotFound);
        let file = "def a():\n    return None\n\ndef b():\n    return None\n";
        let miss = place(file, "    return None\n", "    return 1\n").unwrap_err();
        assert_eq!(miss.reason, Refusal::Ambiguous);
        assert_eq!(miss.hint.as_deref(), Some("it matches at lines 2, 5"));
        let miss = place(
            FILE,
            "    def count(self):\n        return len(self.things)\n",
            "x\n",
        )
        .unwrap_err();
        assert_eq!(miss.reason, Refusal::NotFound);
        assert_eq!(
            miss.hint.as_deref(),
            Some("did you mean lines 5-6:\n    def count(self):\n        return len(self.items)\n")
        );
    }

    #[test]
    fn keeps_line_endings_and_a_missing_final_newline() {
        let (out, _) = place(
            "a = 1\r\nvalue = compute()\r\n",
            "value = compute()\n",
            "value = 2\n",
        )
        .unwrap();
        assert_eq!(out, "a = 1\r\nvalue = 2\r\n");
        let (out, _) = place(
            "first_line()\nlast_line()",
            "last_line()\n",
            "final_line()\n",
        )
        .unwrap();
        assert_eq!(out, "first_line()\nfinal_line()");
    }
}
