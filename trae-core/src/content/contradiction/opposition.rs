//! Oppositions between two statements: the words of one that are antonyms of words of the
//! other, and the signs that such words describe different objects rather than one object two
//! ways ("small firms" against "large firms", "in the north" against "in the south").

use super::antonym;
use super::lexicon::{NEGATIONS, is_in, is_stance_word};
use super::{Statement, is_content, is_determiner};

/// A word of a statement's predicate that may have an antonym in the other statement, with
/// the poles its stem and its written form stand for (looked up once per statement).
#[derive(Debug, Clone, Default)]
pub(super) struct Opposable {
    stem: String,
    word: String,
    stance: bool,
    stem_poles: Vec<u32>,
    word_poles: Vec<u32>,
    /// The poles opposite to the stem's and to the word's.
    stem_opposites: Vec<u32>,
    word_opposites: Vec<u32>,
}

impl Opposable {
    /// A predicate word, with its poles looked up.
    pub(super) fn new(stem: &str, word: &str) -> Self {
        let (stem_poles, word_poles) = (antonym::poles(stem), antonym::poles(word));
        Self {
            stem: stem.to_owned(),
            word: word.to_owned(),
            stance: is_stance_word(stem),
            stem_opposites: antonym::opposites(&stem_poles),
            word_opposites: antonym::opposites(&word_poles),
            stem_poles,
            word_poles,
        }
    }

    /// Whether the word has an antonym at all.
    pub(super) fn has_antonym(&self) -> bool {
        !self.stem_poles.is_empty() || !self.word_poles.is_empty()
    }
}

/// Two words that are antonyms, one from each statement.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Opposition {
    /// Their stems, as the topic holds them.
    pub(super) stems: (String, String),
    /// The forms that are antonyms, for the explanation.
    pub(super) shown: (String, String),
}

/// The words of `a`'s predicate and of `b`'s that are antonyms, each missing from the other
/// statement. Pairs of stance words are left to the stance cue.
pub(super) fn antonym_pairs(a: &Statement, b: &Statement) -> Vec<Opposition> {
    let mut out = Vec::new();
    for x in &a.opposable {
        for y in &b.opposable {
            if x.stem == y.stem || x.stance && y.stance || b.has(&x.stem) || a.has(&y.stem) {
                continue;
            }
            // "Polluted" is an adjective of its own, not only a form of "pollute".
            let shown = [(&x.stem, &x.stem_opposites), (&x.word, &x.word_opposites)]
                .into_iter()
                .flat_map(|x| {
                    [(&y.stem, &y.stem_poles), (&y.word, &y.word_poles)]
                        .into_iter()
                        .map(move |y| (x, y))
                })
                .find(|((_, opposite), (_, poles))| antonym::meet(opposite, poles));
            if let Some(((sx, _), (sy, _))) = shown {
                out.push(Opposition {
                    stems: (x.stem.clone(), y.stem.clone()),
                    shown: (sx.clone(), sy.clone()),
                });
            }
        }
    }
    out
}

/// Whether the antonyms modify the same noun ("small firms" against "large firms"), so the
/// statements are about two kinds of a thing rather than one thing.
pub(super) fn modifies_same_noun(a: &Statement, b: &Statement, o: &Opposition) -> bool {
    let after = |s: &Statement, word: &str| {
        let i = s.stems.iter().position(|t| t == word)?;
        let before = s.words.get(i.checked_sub(1)?)?;
        // "for small firms", "the old town", "40 new homes"; not "we enabled two-factor".
        let in_noun_phrase = is_determiner(before)
            && !is_in(&["i", "we", "me", "us"], before)
            && !is_in(&NEGATIONS, before)
            || before.starts_with(|c: char| c.is_ascii_digit());
        let (next_word, next_stem) = (s.words.get(i + 1)?, s.stems.get(i + 1)?);
        (in_noun_phrase && is_content(next_stem, next_word)).then(|| next_stem.clone())
    };
    after(a, &o.stems.0).is_some_and(|n| after(b, &o.stems.1) == Some(n))
}

/// Whether both antonyms sit in a prepositional phrase ("in the north", "in the south"): then
/// they say where or which, so the statements are about two places or things.
pub(super) fn places_apart(a: &Statement, b: &Statement, o: &Opposition) -> bool {
    // Not "to": "voted to open" is a verb.
    const PREPOSITIONS: [&str; 11] = [
        "in", "at", "on", "from", "for", "of", "near", "with", "by", "across", "into",
    ];
    let in_phrase = |s: &Statement, word: &str| {
        let Some(i) = s.stems.iter().position(|t| t == word) else {
            return false;
        };
        let before = |k: usize| i.checked_sub(k).map_or("", |j| s.words[j].as_str());
        is_in(&PREPOSITIONS, before(1))
            || is_determiner(before(1)) && is_in(&PREPOSITIONS, before(2))
    };
    in_phrase(a, &o.stems.0) && in_phrase(b, &o.stems.1)
}

/// Whether the subjects are opposite kinds of one thing ("young voters" against "older
/// voters"): then the statements are about different objects.
pub(super) fn subjects_opposed(a: &Statement, b: &Statement) -> bool {
    a.subject_poles.iter().any(|(opposite, _)| {
        b.subject_poles
            .iter()
            .any(|(_, poles)| antonym::meet(opposite, poles))
    })
}
