//! The apply chain against a labelled corpus of model answers (tests/edit_corpus): at least
//! 95 % of the cases must come out as labelled and none may be applied to the wrong place.
//! `tuning.json` is what the rules were tuned on; `heldout.json` was written independently
//! and never looked at while tuning; both figures are asserted and printed.

use std::collections::BTreeMap;

use serde::Deserialize;
use trae_agents::tdd::edits::{apply_blocks, parse_blocks};

#[derive(Deserialize)]
struct Case {
    name: String,
    category: String,
    files: BTreeMap<String, String>,
    answer: String,
    expected: BTreeMap<String, String>,
}

/// How a case came out.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// As labelled.
    Correct,
    /// Left the files as they were where a change was labelled: a missed edit, not a harm.
    Missed,
    /// Changed the files into anything but the labelled result.
    Wrong,
}

fn judge(case: &Case) -> Verdict {
    let plan = apply_blocks(&parse_blocks(&case.answer), |path| {
        case.files.get(path).cloned()
    });
    let mut after = case.files.clone();
    after.extend(plan.changed);
    if after == case.expected {
        Verdict::Correct
    } else if after == case.files {
        Verdict::Missed
    } else {
        Verdict::Wrong
    }
}

fn score(file: &str) -> (usize, usize, Vec<String>, Vec<String>) {
    let path = format!("{}/tests/edit_corpus/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("corpus");
    let cases: Vec<Case> = serde_json::from_str(&text).expect("corpus json");
    let mut correct = 0;
    let (mut missed, mut wrong) = (Vec::new(), Vec::new());
    for case in &cases {
        match judge(case) {
            Verdict::Correct => correct += 1,
            Verdict::Missed => missed.push(format!("{} ({})", case.name, case.category)),
            Verdict::Wrong => wrong.push(format!("{} ({})", case.name, case.category)),
        }
    }
    eprintln!(
        "{file}: {correct}/{} correct ({:.1} %), {} missed, {} wrong\n  missed: {missed:?}\n  wrong: {wrong:?}",
        cases.len(),
        100.0 * correct as f64 / cases.len() as f64,
        missed.len(),
        wrong.len(),
    );
    (correct, cases.len(), missed, wrong)
}

fn assert_corpus(file: &str) {
    let (correct, total, _, wrong) = score(file);
    assert!(total >= 75, "{file} has only {total} cases");
    assert!(
        wrong.is_empty(),
        "{file}: applied to the wrong place: {wrong:?}"
    );
    assert!(
        correct * 100 >= total * 95,
        "{file}: only {correct} of {total} correct"
    );
}

#[test]
fn the_tuning_corpus_applies_correctly_and_never_wrongly() {
    assert_corpus("tuning.json");
}

#[test]
fn the_held_out_corpus_applies_correctly_and_never_wrongly() {
    assert_corpus("heldout.json");
}
