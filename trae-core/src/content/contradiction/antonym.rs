//! Antonyms: WordNet 3.0's, derived once into `wordnet/poles.tsv` and
//! `wordnet/opposite_poles.tsv` by `wordnet/generate.py` and embedded here, plus the few pairs
//! of news English that WordNet does not link. Embedding the derived tables keeps the engine
//! free of run-time data files: it works the same on a machine without WordNet.
//!
//! WordNet links antonyms between a few head words ("wet"/"dry"); its other words reach a
//! head as a satellite ("soggy" is similar to "wet") or, for a verb, as a way of doing it
//! ("soar" is a way to "rise"). Two words are antonyms here when one of the heads ("poles")
//! each stands for is the antonym of one of the other's: WordNet's indirect antonymy.

use std::collections::HashMap;
use std::sync::LazyLock;

/// `word<TAB>pole pole...` (WordNet 3.0; licence in `wordnet/`).
const WORDNET_POLES: &str = include_str!("wordnet/poles.tsv");
/// `pole<TAB>pole`: the poles WordNet calls antonyms, each pair once.
const WORDNET_OPPOSITE_POLES: &str = include_str!("wordnet/opposite_poles.tsv");
/// `irregular form<TAB>base form`, for the words in [`WORDNET_POLES`].
const WORDNET_INFLECTIONS: &str = include_str!("wordnet/inflections.tsv");

/// Opposites in the senses news and politics use that WordNet does not link: it opposes
/// "raise" to "lower" but not to "cut", and has no "profit"/"loss" or "safe"/"unsafe" pair.
const NEWS_ANTONYMS: [(&str, &str); 17] = [
    ("up", "down"),
    ("help", "hurt"),
    ("strengthen", "weaken"),
    ("extend", "end"),
    ("grow", "decline"),
    ("rise", "decline"),
    ("raise", "cut"),
    ("raise", "reduce"),
    ("increase", "cut"),
    ("grow", "shrink"),
    ("expand", "reduce"),
    ("boost", "cut"),
    ("higher", "lower"),
    ("safe", "unsafe"),
    ("profit", "loss"),
    ("add", "remove"),
    ("acquit", "convict"),
];

/// Words WordNet opposes in senses that almost never make two claims incompatible: light
/// verbs ("take" against "give" says who acted, not whether), ordinals and sameness words
/// ("first", "same", "other"), and quantifiers, which have their own cue.
const NOT_OPPOSED: [&str; 35] = [
    "have",
    "get",
    "come",
    "make",
    "take",
    "give",
    "stay",
    "leave",
    "depart",
    "arrive",
    "first",
    "last",
    "second",
    "same",
    "different",
    "other",
    "another",
    "next",
    "one",
    "all",
    "any",
    "some",
    "each",
    "every",
    "both",
    "several",
    "like",
    "future",
    "past",
    "will",
    "ever",
    "never",
    "always",
    "usual",
    "various",
];

struct Table {
    poles: HashMap<&'static str, Vec<u32>>,
    /// Each pole's opposite poles.
    opposite_poles: HashMap<u32, Vec<u32>>,
    inflections: HashMap<&'static str, &'static str>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let rows = |text: &'static str| {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| l.split_once('\t'))
    };
    // The tables are generated and checked by the unit tests, so a malformed number cannot
    // reach a user; skipping it keeps the parse total.
    let numbers =
        |text: &str| -> Vec<u32> { text.split(' ').filter_map(|n| n.parse().ok()).collect() };
    let mut poles: HashMap<&'static str, Vec<u32>> = rows(WORDNET_POLES)
        .filter(|(word, _)| !is_not_opposed(word))
        .map(|(word, ids)| (word, numbers(ids)))
        .collect();
    let mut opposite_poles: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut oppose = |a: u32, b: u32| {
        opposite_poles.entry(a).or_default().push(b);
        opposite_poles.entry(b).or_default().push(a);
    };
    let mut first = 0;
    for (a, b) in rows(WORDNET_OPPOSITE_POLES) {
        if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
            oppose(a, b);
            first = first.max(a + 1).max(b + 1);
        }
    }
    // Each news pair is two poles of its own, numbered after WordNet's.
    for (i, (a, b)) in (0u32..).zip(NEWS_ANTONYMS) {
        let (pa, pb) = (first + 2 * i, first + 2 * i + 1);
        poles.entry(a).or_default().push(pa);
        poles.entry(b).or_default().push(pb);
        oppose(pa, pb);
    }
    Table {
        poles,
        opposite_poles,
        inflections: rows(WORDNET_INFLECTIONS).collect(),
    }
});

fn is_not_opposed(word: &str) -> bool {
    NOT_OPPOSED.contains(&word)
}

/// Whether `word` (a base form) has an antonym.
pub(super) fn has_antonym(word: &str) -> bool {
    TABLE.poles.contains_key(word)
}

/// The base form of an irregular inflection WordNet lists ("rose" -> "rise", "worse" ->
/// "bad"), for words that have antonyms.
pub(super) fn base_form(word: &str) -> Option<&'static str> {
    TABLE.inflections.get(word).copied()
}

/// The poles `word` stands for (sorted), reading a comparative, a superlative or an adverb
/// ("higher", "safest", "quickly") as its adjective when it has no antonym of its own.
pub(super) fn poles(word: &str) -> Vec<u32> {
    let mut out = TABLE.poles.get(word).cloned().unwrap_or_default();
    let base = ["est", "er", "ly"].iter().find_map(|suffix| {
        let root = word.strip_suffix(suffix)?;
        let doubled =
            root.len() > 3 && root.as_bytes()[root.len() - 1] == root.as_bytes()[root.len() - 2];
        [root.to_owned(), format!("{root}e")]
            .into_iter()
            .chain(root.strip_suffix('i').map(|r| format!("{r}y")))
            .chain(doubled.then(|| root[..root.len() - 1].to_owned()))
            .find_map(|r| TABLE.poles.get(r.as_str()))
    });
    out.extend(base.into_iter().flatten());
    out.sort_unstable();
    out.dedup();
    out
}

/// The poles opposite to any of `poles` (sorted): a word reaching one of them is an antonym.
pub(super) fn opposites(poles: &[u32]) -> Vec<u32> {
    let mut out: Vec<u32> = poles
        .iter()
        .filter_map(|p| TABLE.opposite_poles.get(p))
        .flatten()
        .copied()
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether two sorted pole lists share a pole.
pub(super) fn meet(a: &[u32], b: &[u32]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

/// Whether the words `a` and `b` are antonyms (see [`poles`]).
pub(super) fn are_antonyms(a: &str, b: &str) -> bool {
    meet(&opposites(&poles(a)), &poles(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_tables_are_well_formed() {
        // The parse above skips a malformed number instead of failing; this makes sure there
        // is none, so a regenerated table cannot lose entries silently.
        fn rows(text: &str) -> Vec<Vec<&str>> {
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| l.split('\t').collect())
                .collect()
        }
        let poles = rows(WORDNET_POLES);
        assert!(poles.len() > 10_000, "{} words", poles.len());
        for row in &poles {
            assert_eq!(row.len(), 2, "{row:?}");
            assert!(
                row[1].split(' ').all(|n| n.parse::<u32>().is_ok()),
                "{row:?}"
            );
        }
        for row in rows(WORDNET_OPPOSITE_POLES) {
            assert!(
                row.len() == 2 && row.iter().all(|n| n.parse::<u32>().is_ok()),
                "{row:?}"
            );
        }
        let words: std::collections::HashSet<&str> = poles.iter().map(|row| row[0]).collect();
        for row in rows(WORDNET_INFLECTIONS) {
            assert!(row.len() == 2 && words.contains(row[1]), "{row:?}");
        }
    }
}
