//! Modality: whether a statement asserts a fact or a hope, plan, intention or prediction. A
//! plan set against a past fact is no contradiction ("we hope to open next year" against "it
//! did not open last year"): plans are not yet facts.

use super::lexicon::is_in;
use super::{Statement, is_determiner};

/// Words that put what follows them in the future or the wished-for, not the factual.
const IRREALIS: [&str; 16] = [
    "hope", "plan", "intend", "aim", "expect", "predict", "forecast", "wish", "want", "promise",
    "pledge", "vow", "aspire", "seek", "goal", "target",
];

/// Words that mark a statement as about the future.
const FUTURE: [&str; 4] = ["will", "shall", "going", "tomorrow"];

/// Whether a statement states a hope, plan, intention or prediction: an irrealis word used
/// as a verb ("plans to", "is planning a tour", "forecasts that") or naming what is to come
/// ("our aim is to"), not as a thing ("I know the plan").
pub(super) fn is_irrealis(words: &[String], stems: &[String]) -> bool {
    let word = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    (0..words.len()).any(|i| {
        if !is_in(&IRREALIS, &stems[i]) {
            return false;
        }
        let looks_ahead = matches!(word(i + 1), "to" | "that")
            || matches!(word(i + 1), "is" | "was") && word(i + 2) == "to";
        let inflected = words[i] != stems[i] && i > 0 && !is_determiner(word(i - 1));
        looks_ahead || inflected
    }) || words.windows(2).any(|w| w[0] == "going" && w[1] == "to")
}

/// Whether a statement is about the future.
pub(super) fn is_future(words: &[String]) -> bool {
    words.iter().any(|w| is_in(&FUTURE, w))
}

/// Whether one statement is a hope or plan and the other a fact about the past or present:
/// the plan may still come true, so they do not conflict.
pub(super) fn plan_against_fact(a: &Statement, b: &Statement) -> bool {
    let plan_and_fact = |p: &Statement, f: &Statement| p.irrealis && !f.irrealis && !f.future;
    plan_and_fact(a, b) || plan_and_fact(b, a)
}
