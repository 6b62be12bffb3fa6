//! The contradiction engine on its labelled set (`tests/data/contradiction_pairs.tsv`): fails
//! when precision or recall drops below the figures recorded in docs/benchmarks.md.
//!
//! `cargo test -p trae-core --test contradiction_set -- --nocapture` prints the figures, per
//! cue, and every pair the engine gets wrong.

use std::collections::BTreeMap;

use trae_core::content::contradiction::compare_statements;

/// The recorded figures (docs/benchmarks.md); the engine must not fall below them.
const MIN_PRECISION: f64 = 0.985;
const MIN_RECALL: f64 = 0.970;

struct Pair {
    contradiction: bool,
    cue: String,
    a: String,
    b: String,
}

fn pairs() -> Vec<Pair> {
    let text = include_str!("data/contradiction_pairs.tsv");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("label\tcue\tstatement_1\tstatement_2"),
        "the header"
    );
    lines
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let fields: Vec<&str> = l.split('\t').collect();
            assert_eq!(fields.len(), 4, "four fields: {l}");
            Pair {
                contradiction: match fields[0] {
                    "contradiction" => true,
                    "consistent" => false,
                    other => panic!("unknown label {other:?}"),
                },
                cue: fields[1].to_owned(),
                a: fields[2].to_owned(),
                b: fields[3].to_owned(),
            }
        })
        .collect()
}

#[test]
fn precision_and_recall_hold_on_the_labelled_set() {
    let pairs = pairs();
    assert!(
        pairs.len() >= 200,
        "at least 200 pairs, got {}",
        pairs.len()
    );
    let (mut tp, mut fp, mut fn_, mut tn) = (0u32, 0u32, 0u32, 0u32);
    // cue -> (right, total)
    let mut per_cue: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let mut wrong = Vec::new();
    for p in &pairs {
        let found = compare_statements(&p.a, &p.b);
        let said = !found.contradictions.is_empty();
        match (p.contradiction, said) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fn_ += 1,
            (false, false) => tn += 1,
        }
        let entry = per_cue.entry(p.cue.clone()).or_default();
        entry.1 += 1;
        if p.contradiction == said {
            entry.0 += 1;
        } else {
            let why = found
                .contradictions
                .first()
                .map_or_else(String::new, |f| f.explanation.clone());
            wrong.push(format!(
                "{} [{}] {:?} / {:?} {why}",
                if said { "FP" } else { "FN" },
                p.cue,
                p.a,
                p.b
            ));
        }
    }
    let precision = f64::from(tp) / f64::from((tp + fp).max(1));
    let recall = f64::from(tp) / f64::from((tp + fn_).max(1));
    eprintln!(
        "pairs {}: tp {tp}, fp {fp}, fn {fn_}, tn {tn}; precision {precision:.3}, recall {recall:.3}",
        pairs.len()
    );
    for (cue, (right, total)) in &per_cue {
        eprintln!("  {cue:<18} {right:>3}/{total:<3}");
    }
    for w in &wrong {
        eprintln!("  {w}");
    }
    assert!(
        precision >= MIN_PRECISION && recall >= MIN_RECALL,
        "precision {precision:.3} (min {MIN_PRECISION}), recall {recall:.3} (min {MIN_RECALL})"
    );
}
