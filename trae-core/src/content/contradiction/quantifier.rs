//! Counts and "none"-type quantifiers: "three employees were injured" against "no employees
//! were injured", and the number words that write counts out ("forty-two").

use super::Statement;
use super::lexicon::{SMALL_NUMBERS, is_in};

/// Words that say a set is empty.
const NONE_WORDS: [&str; 6] = ["no", "none", "nobody", "nothing", "zero", "neither"];

/// Words that say a set is not empty, without a number.
const SOME_WORDS: [&str; 12] = [
    "some",
    "several",
    "many",
    "most",
    "few",
    "dozens",
    "hundreds",
    "thousands",
    "millions",
    "multiple",
    "numerous",
    "someone",
];

const TENS: [&str; 8] = [
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

/// Whether `word` quantifies without naming a thing ("many", "several", "nobody").
pub(super) fn is_quantity_word(word: &str) -> bool {
    is_in(&SOME_WORDS, word) || is_in(&NONE_WORDS, word)
}

/// Whether a subject is part of a group ("most residents", "a few residents"): two parts can
/// hold different views without contradiction.
pub(super) fn is_partial(subject: &[String]) -> bool {
    subject
        .iter()
        .any(|w| is_in(&SOME_WORDS, w) && w != "someone")
}

/// The value of a number written as a word: "seven", "forty", "forty-two".
pub(super) fn number_word(word: &str) -> Option<f64> {
    if let Some(n) = SMALL_NUMBERS.iter().position(|n| *n == word) {
        return Some(n as f64);
    }
    let tens = |w: &str| TENS.iter().position(|t| *t == w).map(|t| 20 + 10 * t);
    if let Some(t) = tens(word) {
        return Some(t as f64);
    }
    let (t, u) = word.split_once('-')?;
    let unit = SMALL_NUMBERS[1..10].iter().position(|n| *n == u)? + 1;
    Some((tens(t)? + unit) as f64)
}

/// The none-type quantifier a statement uses, if any ("no", "nobody", "none of").
pub(super) fn none_word(s: &Statement) -> Option<&str> {
    s.words
        .iter()
        .map(String::as_str)
        .find(|w| is_in(&NONE_WORDS, w))
}

/// A count of one or more that a statement gives: a number before a noun ("three
/// employees", "40 workers"), or a word such as "some" or "several".
pub(super) fn count_word(s: &Statement) -> Option<String> {
    s.words.iter().enumerate().find_map(|(i, w)| {
        if is_in(&SOME_WORDS, w) {
            return Some(w.clone());
        }
        let value = number_word(w).or_else(|| w.replace(',', "").parse::<f64>().ok())?;
        let next = s.stems.get(i + 1)?;
        let counted = value >= 1.0
            && !s.years.contains(&(value as i64))
            && s.quantities.iter().any(|q| &q.unit == next);
        counted.then(|| w.clone())
    })
}
