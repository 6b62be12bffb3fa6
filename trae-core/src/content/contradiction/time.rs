//! When statements hold: the times they name, and the words that say a state has changed
//! since. A state can change between two times ("the factory closed in 2016", "it reopened in
//! 2019"), so opposite states at different times are no contradiction.

use std::collections::BTreeSet;

use super::Statement;
use super::lexicon::{DAYS, IRREGULAR, MONTHS, TIME_UNITS, TIME_WORDS, is_in};

/// Whether both statements say when, and never the same time: years, or "last year" against
/// "next year", "yesterday" against "today".
pub(super) fn different_times(a: &Statement, b: &Statement) -> bool {
    let (ta, tb) = (times(a), times(b));
    !ta.is_empty() && !tb.is_empty() && ta.is_disjoint(&tb) || changed_since(a, b)
}

/// Whether one statement is about the future and the other about the past.
pub(super) fn future_against_past(a: &Statement, b: &Statement) -> bool {
    a.future && !b.future && is_past(b) || b.future && !a.future && is_past(a)
}

/// Whether a statement is in the past tense: a past auxiliary, or a main verb in -ed or an
/// irregular past form right after the subject ("the store closed", "prices rose").
fn is_past(s: &Statement) -> bool {
    let auxiliary = s
        .words
        .iter()
        .any(|w| is_in(&["was", "were", "had", "did"], w));
    let verb = s
        .words
        .get(s.subject_end)
        .is_some_and(|w| w.ends_with("ed") || IRREGULAR.iter().any(|(form, _)| form == w));
    auxiliary || verb
}

/// Whether one statement is in the past tense and the other says the present differs from it
/// ("he was a member" against "he is no longer a member", "the road is open again").
fn changed_since(a: &Statement, b: &Statement) -> bool {
    let past = |s: &Statement| {
        s.words
            .iter()
            .any(|w| is_in(&["was", "were", "had", "did"], w))
    };
    let changed_now = |s: &Statement| {
        !past(s)
            && s.words.iter().enumerate().any(|(i, w)| {
                let next = s.words.get(i + 1).map(String::as_str).unwrap_or("");
                matches!(w.as_str(), "again" | "anymore") || w == "no" && next == "longer"
            })
    };
    past(a) && changed_now(b) || past(b) && changed_now(a)
}

/// The times a statement names: its years and relative times ("last year", "today").
fn times(s: &Statement) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = s.years.iter().map(i64::to_string).collect();
    // Weekdays and seasons are read with the word before them, below.
    out.extend(s.dates.iter().filter(|d| !is_in(&DAYS, d)).cloned());
    const RELATIVE: [&str; 5] = ["last", "next", "this", "previous", "coming"];
    for (i, w) in s.words.iter().enumerate() {
        let next = s.words.get(i + 1).map(String::as_str).unwrap_or("");
        let prev = if i > 0 { s.words[i - 1].as_str() } else { "" };
        match w.as_str() {
            "now" | "currently" => {
                out.insert(w.clone());
            }
            // "at night" against "every morning", "on Monday" against "on Sunday"; "last
            // spring" is counted whole below.
            _ if i >= s.subject_end
                && (is_in(&TIME_WORDS, w) || is_in(&DAYS, w))
                && !is_in(&RELATIVE, prev) =>
            {
                out.insert(w.clone());
            }
            "last" | "next" | "this" | "previous" | "coming"
                if is_in(&TIME_UNITS, next) || is_in(&MONTHS, next) =>
            {
                out.insert(format!("{w} {next}"));
            }
            _ => {}
        }
    }
    out
}
