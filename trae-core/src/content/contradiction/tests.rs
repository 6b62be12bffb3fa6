use super::*;

fn cue(a: &str, b: &str) -> Option<Cue> {
    compare_statements(a, b)
        .contradictions
        .first()
        .map(|f| f.cue)
}

#[test]
fn the_originals_worked_example_is_a_direct_contradiction_on_one_topic() {
    let found =
        analyze("I never support tax hikes. We must always support tax hikes. I know the budget.");
    assert_eq!(found.contradictions.len(), 1, "{found:?}");
    let f = &found.contradictions[0];
    assert_eq!(f.kind, ContradictionType::Direct);
    assert_eq!(f.cue, Cue::Quantifier);
    assert_eq!(f.statement_1, "I never support tax hikes.");
    assert_eq!(f.statement_2, "We must always support tax hikes.");
    assert!(f.explanation.contains("tax"), "{}", f.explanation);
    assert!(found.score >= 70 && found.label == "high", "{found:?}");
}

#[test]
fn words_match_at_boundaries_only() {
    // "know" holds "no", "notable" holds "not": neither is a negation.
    assert_eq!(
        cue("I know the plan works.", "I know the plan works well."),
        None
    );
    assert_eq!(
        cue(
            "The senator is notable for the bill.",
            "The senator is notable for the bill."
        ),
        None
    );
    assert_eq!(
        cue("I support the bill.", "I don't support the bill."),
        Some(Cue::Negation)
    );
    assert_eq!(
        cue("We can fix the roads.", "We cannot fix the roads."),
        Some(Cue::Negation)
    );
}

#[test]
fn subjects_and_topics_must_agree() {
    assert_eq!(
        cue(
            "I support the bill.",
            "My opponent does not support the bill."
        ),
        None
    );
    assert_eq!(
        cue("I support tax cuts.", "I do not support the war."),
        None
    );
    assert_eq!(
        cue("Acme will raise prices.", "Acme will cut prices."),
        Some(Cue::Antonym)
    );
    assert_eq!(
        cue("I support the bill.", "I do not oppose the bill."),
        None,
        "a negated antonym agrees"
    );
}

#[test]
fn numbers_and_dates_conflict_only_on_the_same_quantity() {
    assert_eq!(
        cue(
            "Unemployment is 5% this year.",
            "Unemployment is 8% this year."
        ),
        Some(Cue::Numeric)
    );
    assert_eq!(
        cue("Unemployment is 5 percent.", "Unemployment is 5%."),
        None
    );
    assert_eq!(
        cue(
            "The company was founded in 1990.",
            "The company was founded in 1995."
        ),
        Some(Cue::Date)
    );
    assert_eq!(
        cue(
            "Revenue was 5 million dollars in 2020.",
            "Revenue was 8 million dollars in 2021."
        ),
        None,
        "different years, different values"
    );
    let f = &compare_statements("Unemployment is 5%.", "Unemployment is 8%.").contradictions[0];
    assert_eq!(f.kind, ContradictionType::Direct);
}

#[test]
fn stances_map_to_policy_or_value_shifts() {
    let f = compare_statements("I support nuclear power.", "I oppose nuclear power.");
    assert_eq!(f.contradictions[0].kind, ContradictionType::PolicyShift);
    assert_eq!(f.contradictions[0].cue, Cue::Stance);
    let f = compare_statements(
        "I support nuclear power.",
        "Nuclear power is a dangerous mistake.",
    );
    assert_eq!(f.contradictions[0].cue, Cue::Stance, "{f:?}");
}

#[test]
fn requests_take_a_text_or_two_statements() {
    let text = AnalysisRequest {
        text: Some("I support the bill. I do not support the bill.".into()),
        ..AnalysisRequest::default()
    };
    assert_eq!(text.run().unwrap().contradictions.len(), 1);
    let pair = AnalysisRequest {
        statement_1: Some("I support the bill.".into()),
        statement_2: Some("I oppose the bill.".into()),
        ..AnalysisRequest::default()
    };
    assert_eq!(pair.run().unwrap().contradictions[0].cue, Cue::Stance);
    let field = |r: AnalysisRequest| match r.run() {
        Err(crate::Error::Validation { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(AnalysisRequest::default()), "text");
    assert_eq!(
        field(AnalysisRequest {
            text: Some("A.".into()),
            statement_1: Some("B.".into()),
            ..AnalysisRequest::default()
        }),
        "text"
    );
    assert_eq!(
        field(AnalysisRequest {
            statement_1: Some("B.".into()),
            ..AnalysisRequest::default()
        }),
        "statement_2"
    );
    assert_eq!(
        field(AnalysisRequest {
            text: Some("   ".into()),
            ..AnalysisRequest::default()
        }),
        "text"
    );
    assert_eq!(
        field(AnalysisRequest {
            text: Some("a".repeat(MAX_TEXT_CHARS + 1)),
            ..AnalysisRequest::default()
        }),
        "text"
    );
}

#[test]
fn sentences_split_at_terminators_not_abbreviations_or_decimals() {
    assert_eq!(
        split_sentences("Dr. Smith said 3.5 is fine. Is it? Yes!"),
        ["Dr. Smith said 3.5 is fine.", "Is it?", "Yes!"]
    );
    assert_eq!(analyze("").score, 0);
    assert_eq!(analyze("").label, "none");
}

#[test]
fn wordnet_antonyms_of_change_and_state_contradict() {
    for (a, b) in [
        ("Prices rose in March.", "Prices fell in March."),
        (
            "Sales increased last quarter.",
            "Sales decreased last quarter.",
        ),
        ("The bridge is safe.", "The bridge is dangerous."),
        (
            "The museum is open on Sundays.",
            "The museum is closed on Sundays.",
        ),
        ("The crowd was huge.", "The crowd was small."),
        ("Our team won the final.", "Our team lost the final."),
        (
            "The company's profits grew.",
            "The company's profits shrank.",
        ),
    ] {
        assert_eq!(cue(a, b), Some(Cue::Antonym), "{a} / {b}");
    }
    let f = &compare_statements("Prices rose.", "Prices fell.").contradictions[0];
    assert!(
        f.explanation.contains("\"rise\" against \"fall\""),
        "{}",
        f.explanation
    );
}

#[test]
fn antonyms_about_different_objects_agree() {
    for (a, b) in [
        ("Gas prices rose.", "Bread prices fell."),
        (
            "Young voters support the plan.",
            "Old voters oppose the plan.",
        ),
        (
            "Exports to Canada increased.",
            "Exports to Mexico decreased.",
        ),
    ] {
        assert_eq!(cue(a, b), None, "{a} / {b}");
    }
}

#[test]
fn agreement_phrased_with_a_negation_is_not_a_contradiction() {
    for (a, b) in [
        ("The results are not bad.", "The results are good."),
        ("We do not oppose the merger.", "We support the merger."),
        ("The bridge is not unsafe.", "The bridge is safe."),
        ("Prices did not rise.", "Prices fell."),
        (
            "It is not uncommon for trains to be late.",
            "Trains are often late.",
        ),
        ("The bread is never stale.", "The bread is always fresh."),
        ("The product is hardly new.", "The product is old."),
    ] {
        assert_eq!(cue(a, b), None, "{a} / {b}");
    }
}

#[test]
fn the_antonym_table_is_embedded() {
    // The engine reads no files: these come from the tables compiled in.
    assert!(antonym::are_antonyms("increase", "decrease"));
    assert!(antonym::are_antonyms("decrease", "increase"));
    assert!(antonym::are_antonyms("higher", "low"));
    assert!(
        antonym::are_antonyms("huge", "tiny"),
        "satellites reach their heads"
    );
    assert!(
        antonym::are_antonyms("soar", "plunge"),
        "troponyms reach theirs"
    );
    assert!(!antonym::are_antonyms("take", "give"));
    assert_eq!(antonym::base_form("sank"), Some("sink"));
}

#[test]
fn denial_contradicts_admission() {
    for (a, b) in [
        ("I never met the ambassador.", "I met the ambassador twice."),
        (
            "He denied meeting the ambassador.",
            "He admitted meeting the ambassador.",
        ),
        ("She denied taking the money.", "She took the money."),
        (
            "I have never met the ambassador.",
            "I admit that I met the ambassador.",
        ),
    ] {
        assert!(cue(a, b).is_some(), "{a} / {b}");
    }
}

#[test]
fn counts_contradict_none() {
    for (a, b) in [
        (
            "Three employees were injured.",
            "No employees were injured.",
        ),
        (
            "Nobody was injured in the fire.",
            "Two people were injured in the fire.",
        ),
        ("None of the workers were paid.", "Some workers were paid."),
    ] {
        assert_eq!(cue(a, b), Some(Cue::Quantifier), "{a} / {b}");
    }
}

#[test]
fn a_hope_or_plan_does_not_contradict_a_past_fact() {
    for (a, b) in [
        (
            "We hope to open the store next year.",
            "The store did not open last year.",
        ),
        ("We plan to hire more staff.", "We did not hire more staff."),
        (
            "The company expects profits to rise.",
            "The company's profits fell.",
        ),
        (
            "The mine closed in 2019.",
            "The mine will not close in 2025.",
        ),
        (
            "We will raise taxes on the wealthy.",
            "We did not raise taxes on the wealthy.",
        ),
        (
            "The government will build 100,000 homes.",
            "The government built 20,000 homes last year.",
        ),
    ] {
        assert_eq!(cue(a, b), None, "{a} / {b}");
    }
}

#[test]
fn different_times_of_day_groups_or_comparisons_are_not_contradictions() {
    for (a, b) in [
        (
            "The water was cold in the morning.",
            "The water was warm in the afternoon.",
        ),
        (
            "She never drinks coffee at night.",
            "She drinks coffee every morning.",
        ),
        (
            "Most residents support the new park.",
            "A few residents oppose the new park.",
        ),
        (
            "Turnout was higher than in 2016.",
            "Turnout was lower than in 2008.",
        ),
        (
            "We reduced our prices in January.",
            "Our prices are higher than our rivals' prices.",
        ),
        ("I speak Spanish.", "My wife doesn't speak Spanish."),
        (
            "Sales declined to 5 million units.",
            "Sales reached 5 million units.",
        ),
        (
            "The first half was brilliant.",
            "The second half was awful.",
        ),
        (
            "The plan is good for farmers.",
            "The plan is bad for consumers.",
        ),
        (
            "The river flooded last spring.",
            "The river did not flood this spring.",
        ),
        (
            "The lake was frozen in January.",
            "The lake was not frozen in July.",
        ),
        (
            "He was a member of the party.",
            "He is no longer a member of the party.",
        ),
        (
            "The road was closed for repairs.",
            "The road is open again.",
        ),
        (
            "The tax rate for small firms is 19%.",
            "The tax rate for large firms is 25%.",
        ),
    ] {
        assert_eq!(cue(a, b), None, "{a} / {b}");
    }
}

#[test]
fn failures_counts_and_speakers_groups_are_read() {
    for (a, b, expected) in [
        (
            "The team qualified for the final.",
            "The team failed to qualify for the final.",
            Cue::Negation,
        ),
        (
            "Our company has never sold customer data.",
            "We sold customer data in 2020.",
            Cue::Negation,
        ),
        (
            "The fire destroyed 300 acres of forest.",
            "The fire destroyed 1,200 acres of forest.",
            Cue::Numeric,
        ),
        (
            "Forty-two people attended the meeting.",
            "Ninety people attended the meeting.",
            Cue::Numeric,
        ),
        ("The motion passed.", "The motion failed.", Cue::Antonym),
        (
            "The company has yet to release the report.",
            "The company released the report.",
            Cue::Negation,
        ),
        (
            "My client was nowhere near the warehouse that night.",
            "My client was at the warehouse that night but left early.",
            Cue::Negation,
        ),
        (
            "The coach was pleased with the result.",
            "The coach was disappointed with the result.",
            Cue::Stance,
        ),
        (
            "The scheme has been a great success.",
            "The scheme has been a costly failure.",
            Cue::Stance,
        ),
    ] {
        assert_eq!(cue(a, b), Some(expected), "{a} / {b}");
    }
}
