//! The contradiction engine: finds pairs of statements by one subject about one topic that
//! cannot both hold, and says why. No model is involved; every finding names the cue that
//! fired and how sure the engine is.
//!
//! # How a pair is judged
//!
//! 1. Both statements are split into words at word boundaries (contractions expanded:
//!    "don't" is "do not", "can't" and "cannot" are "can not"), so "know" never matches "no".
//!    "Failed to", "refused to" and "declined to" read as "not"; "deny" is a negation; "admit",
//!    "acknowledge", "confess", "concede" and "confirm" assert what follows them.
//! 2. **Same subject**: the subject's head word must agree. A speaker's "I" and "we" are one
//!    subject, and so is the speaker's group ("our company"), but not "my wife"; "he", "she",
//!    "they" and "it" agree with any third-person subject; a statement about the topic itself
//!    ("nuclear power is a mistake") agrees with a speaker talking about that topic ("I
//!    support nuclear power"); a none-type subject ("nobody from our campaign") agrees with a
//!    member of its group ("our campaign manager").
//! 3. **Same objects**: subjects that are antonyms of each other ("young voters", "old
//!    voters"), antonyms that modify one noun ("small firms", "large firms"), two parts of a
//!    group ("most residents", "a few residents") and comparisons with different things
//!    ("higher than in 2016", "lower than in 2008") are about different objects: no finding.
//! 4. **Facts, not plans**: a hope, plan, intention or prediction ("we hope to open next
//!    year") set against a statement of past or present fact ("it did not open last year")
//!    is no contradiction; two plans, or a plan and a future, can be. Nor is what will happen
//!    against what did ("we will raise taxes", "we did not raise taxes"), except for a stance.
//! 5. **Same topic**: the content words left once subjects, function words and the cue words
//!    are removed must share at least half of the smaller set.
//! 6. **Cues**, first match wins:
//!
//! | cue | fires when | contradiction type |
//! |---|---|---|
//! | `quantifier` | one says always/all/every/everyone/everything, the other never/none/no/nobody/nothing; or one gives a count ("three", "40", "several", "many") and the other a none-type quantifier ("no", "none", "nobody", "zero") | direct |
//! | `antonym` | the statements use two words that are antonyms in WordNet 3.0 (module `antonym`: rise/fall, increase/decrease, safe/dangerous, huge/tiny, edible/inedible…) with the same negation parity | direct |
//! | `negation` | a negation (not, no, never, nor, neither, without, deny, failed to, no longer…) scopes over the shared topic in one statement only | direct |
//! | `stance` | one statement takes a positive stance on the topic, the other a negative one (support/oppose, good/mistake, pleased/disappointed…), negations counted | policy_shift (policy verbs) or value (evaluations) |
//! | `numeric` | the same quantity (same unit) has different values, in the same year if any ("forty-two" and "1,200" are counts) | direct |
//! | `date` | the only numbers are years, dates or weekdays, and they differ | temporal |
//!
//! A negation and an antonym together cancel ("I do not oppose the bill" agrees with "I support
//! the bill", "the results are not bad" with "the results are good", "the bread is never
//! stale" with "the bread is always fresh"). A negation's scope runs from it to the end of its
//! clause (a comma, semicolon or "but", "although", "while", "whereas", "however"). A change of
//! state (negation, antonym or quantifier) between two different times ("closed in 2016",
//! "reopened in 2019"; "last year", "this year"; "at night", "every morning") is no
//! contradiction; a change of stance between two times is, and the hypocrisy tracker looks
//! for exactly that.
//!
//! # Scores
//!
//! Each finding has a confidence 0–1 (the cue's base confidence times how much of the topic
//! the statements share). A text's score, 0–100, is the chance that at least one finding is
//! right (`1 - Π(1 - confidence)`), labelled `none` (0), `low` (< 40), `moderate` (< 70) or
//! `high`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Antonyms from WordNet 3.0, embedded.
mod antonym;
/// The word lists and the stemmer.
mod lexicon;
/// Facts against hopes, plans and predictions.
mod modality;
/// Antonyms between two statements, and when they mean different objects.
mod opposition;
/// Counts, none-type quantifiers and number words.
mod quantifier;
/// The times statements name, and changes since.
mod time;

use lexicon::{
    ADMISSIONS, CLAUSE_BREAKS, COLLECTIVES, DAYS, FAILURES, FIRST_PERSON, GENERIC_VERBS, IRREGULAR,
    MONTHS, NEGATIONS, POLICY_NEGATIVE, POLICY_POSITIVE, QUANTIFIERS, STOPWORDS, THIRD_PERSON,
    TIME_WORDS, VALUE_NEGATIVE, VALUE_POSITIVE, VERB_MARKERS, is_in, is_stance_word, stem,
};
use opposition::{
    Opposable, Opposition, antonym_pairs, modifies_same_noun, places_apart, subjects_opposed,
};

/// How two statements conflict, as the hypocrisy tracker classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContradictionType {
    /// One says what the other denies.
    Direct,
    /// The statements conflict only in context.
    Contextual,
    /// The statements conflict about when.
    Temporal,
    /// The subject's values changed.
    Value,
    /// The subject's policy position changed.
    PolicyShift,
    /// The subject told different audiences different things.
    AudienceBased,
}

impl ContradictionType {
    /// Every type, in declaration order.
    pub const ALL: [Self; 6] = [
        Self::Direct,
        Self::Contextual,
        Self::Temporal,
        Self::Value,
        Self::PolicyShift,
        Self::AudienceBased,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Contextual => "contextual",
            Self::Temporal => "temporal",
            Self::Value => "value",
            Self::PolicyShift => "policy_shift",
            Self::AudienceBased => "audience_based",
        }
    }
}

impl std::str::FromStr for ContradictionType {
    type Err = crate::Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                crate::Error::validation(
                    "contradiction_type",
                    format!(
                        "must be one of direct, contextual, temporal, value, policy_shift, \
                         audience_based; got {s:?}"
                    ),
                )
            })
    }
}

impl std::fmt::Display for ContradictionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which cue made the engine call a pair a contradiction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cue {
    /// A negation in one statement only.
    Negation,
    /// The two words of an antonym pair.
    Antonym,
    /// Opposite quantifiers (always/never, all/none).
    Quantifier,
    /// Different values of the same quantity.
    Numeric,
    /// Different years for the same event.
    Date,
    /// Opposite stances on the same topic.
    Stance,
}

impl Cue {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Negation => "negation",
            Self::Antonym => "antonym",
            Self::Quantifier => "quantifier",
            Self::Numeric => "numeric",
            Self::Date => "date",
            Self::Stance => "stance",
        }
    }

    /// How sure the cue is on its own, before topic overlap is considered.
    fn base_confidence(self) -> f64 {
        match self {
            Self::Quantifier => 0.9,
            Self::Negation => 0.85,
            Self::Antonym => 0.8,
            Self::Numeric | Self::Date => 0.75,
            Self::Stance => 0.7,
        }
    }
}

/// One contradicting pair of statements.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The first statement, as given.
    pub statement_1: String,
    /// The second statement, as given.
    pub statement_2: String,
    /// The kind of contradiction.
    #[serde(rename = "type")]
    pub kind: ContradictionType,
    /// The cue that fired.
    pub cue: Cue,
    /// How sure the engine is, 0–1.
    pub confidence: f64,
    /// Why, in a sentence.
    pub explanation: String,
}

/// The engine's answer for a text or a pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// 0–100: how likely the text holds at least one contradiction.
    pub score: u8,
    /// `none`, `low`, `moderate` or `high`.
    pub label: &'static str,
    /// Every contradicting pair, most confident first.
    pub contradictions: Vec<Finding>,
}

impl Analysis {
    fn of(mut contradictions: Vec<Finding>) -> Self {
        contradictions.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        let miss: f64 = contradictions.iter().map(|f| 1.0 - f.confidence).product();
        let score = ((1.0 - miss) * 100.0).round().clamp(0.0, 100.0) as u8;
        let label = match score {
            0 => "none",
            1..40 => "low",
            40..70 => "moderate",
            _ => "high",
        };
        Self {
            score,
            label,
            contradictions,
        }
    }
}

/// The most characters a text or statement may have.
pub const MAX_TEXT_CHARS: usize = 100_000;

/// What to analyse: a text, or two statements.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnalysisRequest {
    /// A text whose sentences are compared pairwise.
    pub text: Option<String>,
    /// The first of two statements.
    pub statement_1: Option<String>,
    /// The second of two statements.
    pub statement_2: Option<String>,
}

impl AnalysisRequest {
    /// Analyses the text, or compares the two statements: exactly one of the two forms, each
    /// non-blank and at most [`MAX_TEXT_CHARS`] characters.
    pub fn run(&self) -> crate::Result<Analysis> {
        use crate::Error;
        let check = |field: &str, value: &str| {
            if value.trim().is_empty() {
                return Err(Error::validation(field, "must not be blank"));
            }
            if value.chars().count() > MAX_TEXT_CHARS {
                return Err(Error::validation(
                    field,
                    format!("at most {MAX_TEXT_CHARS} characters"),
                ));
            }
            Ok(())
        };
        match (&self.text, &self.statement_1, &self.statement_2) {
            (Some(text), None, None) => {
                check("text", text)?;
                Ok(analyze(text))
            }
            (None, Some(a), Some(b)) => {
                check("statement_1", a)?;
                check("statement_2", b)?;
                Ok(compare_statements(a, b))
            }
            (Some(_), _, _) => Err(Error::validation(
                "text",
                "give either text or statement_1 and statement_2, not both",
            )),
            (None, None, _) => Err(Error::validation(
                "text",
                "give text, or statement_1 and statement_2",
            )),
            (None, Some(_), None) => Err(Error::validation("statement_2", "is required")),
        }
    }
}

/// Compares two statements.
pub fn compare_statements(statement_1: &str, statement_2: &str) -> Analysis {
    Analysis::of(judge(statement_1, statement_2).into_iter().collect())
}

/// The most sentences [`analyze`] compares pairwise; later ones are ignored.
pub const MAX_SENTENCES: usize = 300;

/// Splits `text` into sentences and compares every pair.
pub fn analyze(text: &str) -> Analysis {
    let sentences = split_sentences(text);
    let sentences = &sentences[..sentences.len().min(MAX_SENTENCES)];
    let parsed: Vec<Statement> = sentences.iter().map(|s| Statement::parse(s)).collect();
    let mut found = Vec::new();
    for (i, a) in parsed.iter().enumerate() {
        for (j, b) in parsed.iter().enumerate().skip(i + 1) {
            if let Some(f) = judge_parsed(a, b, sentences[i], sentences[j]) {
                found.push(f);
            }
        }
    }
    Analysis::of(found)
}

/// The sentences of `text`: split after `.`, `!` or `?` followed by a space or the end, not
/// after common abbreviations or a decimal point.
pub fn split_sentences(text: &str) -> Vec<&str> {
    const ABBREVIATIONS: [&str; 10] = [
        "mr", "mrs", "ms", "dr", "st", "sen", "rep", "gov", "prof", "vs",
    ];
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for (i, ch) in text.char_indices() {
        if !matches!(ch, '.' | '!' | '?') {
            continue;
        }
        let next = bytes.get(i + 1).copied();
        if next.is_some_and(|b| !b.is_ascii_whitespace()) {
            continue;
        }
        let before = &text[start..i];
        let last_word = before
            .rsplit(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or("")
            .to_lowercase();
        if ch == '.'
            && (ABBREVIATIONS.contains(&last_word.as_str())
                || last_word.len() == 1 && !before.trim_end().ends_with(char::is_numeric))
        {
            continue;
        }
        let sentence = text[start..=i].trim();
        if !sentence.is_empty() {
            out.push(sentence);
        }
        start = i + 1;
    }
    let rest = text[start..].trim();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

fn judge(a: &str, b: &str) -> Option<Finding> {
    judge_parsed(&Statement::parse(a), &Statement::parse(b), a, b)
}

// --- lexicons ---------------------------------------------------------------------------------

/// A number in a statement and what it counts.
#[derive(Debug, Clone, PartialEq)]
struct Quantity {
    value: f64,
    unit: String,
}

/// A statement taken apart.
#[derive(Debug, Clone, Default)]
struct Statement {
    /// Lowercase words, contractions expanded; clause breaks as ",".
    words: Vec<String>,
    /// Stems of `words`.
    stems: Vec<String>,
    /// The subject's head: "speaker", a third-person pronoun class "pronoun", or a word.
    subject: String,
    /// Where the subject span ends (the index of its first word after it).
    subject_end: usize,
    /// The stems of the subject span (for "the statement is about the topic").
    subject_stems: BTreeSet<String>,
    /// Whose the subject is, when a possessive says: "speaker" (my, our) or "other" (his,
    /// her, their, other).
    owner: Option<&'static str>,
    /// Stems of every content word, cue words included (to tell events apart).
    content: BTreeSet<String>,
    /// Calendar dates mentioned, as "month day" or "month".
    dates: Vec<String>,
    /// Stems of the content words.
    topic: BTreeSet<String>,
    /// For each word, whether a negation scopes over it.
    negated: Vec<bool>,
    /// The predicate's words that have antonyms.
    opposable: Vec<Opposable>,
    /// The poles of the subject's words that have antonyms, with their opposites.
    subject_poles: Vec<(Vec<u32>, Vec<u32>)>,
    /// What the statement compares with: the words after "than".
    reference: Option<Vec<String>>,
    /// Whether it states a hope, plan, intention or prediction.
    irrealis: bool,
    /// Whether it is about the future.
    future: bool,
    /// Whether its subject is part of a group ("most residents").
    partial: bool,
    /// Years mentioned.
    years: Vec<i64>,
    /// Other numbers with their units.
    quantities: Vec<Quantity>,
}

impl Statement {
    fn parse(text: &str) -> Self {
        let words = words(text);
        let stems: Vec<String> = words.iter().map(|w| stem(w)).collect();
        let (subject, subject_end) = subject_of(&words);
        let subject_stems = stems[..subject_end]
            .iter()
            .filter(|s| !is_in(&STOPWORDS, s) && !is_in(&FIRST_PERSON, s))
            .cloned()
            .collect();
        let negated = negation_scope(&words);
        let (years, dates, quantities) = numbers(&words);
        let owner = words[..subject_end].iter().find_map(|w| match w.as_str() {
            "my" | "our" => Some("speaker"),
            "his" | "her" | "their" | "other" | "its" => Some("other"),
            _ => None,
        });
        // A time word after the subject only says when ("that night"); in the subject it names
        // the thing ("the morning train").
        let when = |i: usize, s: &str| i >= subject_end && is_in(&TIME_WORDS, s);
        let content = stems
            .iter()
            .zip(&words)
            .enumerate()
            .filter(|(i, (s, _))| !when(*i, s))
            .map(|(_, pair)| pair)
            .filter(|(s, w)| {
                *w != ","
                    && !is_in(&STOPWORDS, w)
                    && !is_in(&NEGATIONS, w)
                    && !is_in(&FIRST_PERSON, w)
                    && !is_in(&THIRD_PERSON, w)
                    && !is_in(&CLAUSE_BREAKS, w)
                    && !is_in(&MONTHS, w)
                    && !is_in(&DAYS, w)
                    && !is_in(&ADMISSIONS, s)
                    && quantifier::number_word(w).is_none()
                    && !QUANTIFIERS.iter().any(|(a, b)| a == s || b == s)
                    && !quantifier::is_quantity_word(w)
                    && !w.starts_with(|c: char| c.is_ascii_digit())
                    && !s.ends_with("ly")
            })
            .map(|(s, _)| s.clone())
            .collect();
        let topic = stems
            .iter()
            .zip(&words)
            .enumerate()
            .filter(|(i, (s, _))| (*i >= subject_end || subject != "speaker") && !when(*i, s))
            .map(|(_, pair)| pair)
            .filter(|(s, w)| is_content(s, w))
            .map(|(s, _)| s.clone())
            .collect();
        let from = if subject == "speaker" { 0 } else { subject_end };
        let opposable = stems
            .iter()
            .zip(&words)
            .skip(from)
            .filter(|(st, w)| {
                is_content(st, w) || is_stance_word(st) || w.ends_with("ly") && w.len() > 4
            })
            .map(|(st, w)| Opposable::new(st, w))
            .filter(Opposable::has_antonym)
            .collect();
        let subject_poles = if subject == "speaker" {
            Vec::new()
        } else {
            stems[..subject_end]
                .iter()
                .map(|s| antonym::poles(s))
                .filter(|p| !p.is_empty())
                .map(|p| (antonym::opposites(&p), p))
                .collect()
        };
        let reference = words.iter().position(|w| w == "than").map(|at| {
            words[at + 1..]
                .iter()
                .take_while(|w| *w != ",")
                .cloned()
                .collect()
        });
        let irrealis = modality::is_irrealis(&words, &stems);
        let future = modality::is_future(&words);
        let partial = quantifier::is_partial(&words[..subject_end]);
        Self {
            words,
            stems,
            subject,
            subject_end,
            opposable,
            subject_poles,
            reference,
            irrealis,
            future,
            partial,
            subject_stems,
            owner,
            content,
            topic,
            negated,
            years,
            dates,
            quantities,
        }
    }

    /// Negations outside a quantifier role, counted where they scope over a shared word.
    fn negation_parity(&self, shared: &BTreeSet<String>, skip_quantifiers: bool) -> bool {
        let mut parity = false;
        let mut clause_has_shared = vec![false; self.words.len()];
        // A negation counts when its clause holds a shared topic word or a cue word.
        let mut clause_start = 0;
        for i in 0..=self.words.len() {
            if i == self.words.len() || self.words[i] == "," {
                let hit = (clause_start..i)
                    .any(|j| shared.contains(&self.stems[j]) || is_cue_word(&self.stems[j]));
                for flag in &mut clause_has_shared[clause_start..i] {
                    *flag = hit;
                }
                clause_start = i + 1;
            }
        }
        for (i, w) in self.words.iter().enumerate() {
            if !is_in(&NEGATIONS, w) || !clause_has_shared[i] {
                continue;
            }
            if skip_quantifiers && QUANTIFIERS.iter().any(|(_, neg)| neg == w) {
                continue;
            }
            parity = !parity;
        }
        parity
    }

    /// The sign of the statement's stance (+1, -1, or 0 for none) and whether it is a policy
    /// stance, ignoring negations.
    fn stance(&self) -> (i32, bool) {
        let mut sign = 0;
        let mut policy = false;
        // "for" takes a stance only when no policy verb does: "banned cannabis for adults".
        let verb = self
            .stems
            .iter()
            .any(|s| s != "for" && is_in(&POLICY_POSITIVE, s) || is_in(&POLICY_NEGATIVE, s));
        // The word as written counts too: "ashamed" stems to no lexicon word.
        let words = self.stems.iter().zip(&self.words);
        for (s, w) in words.filter(|(s, _)| !verb || *s != "for") {
            let has = |list: &[&str]| is_in(list, s) || is_in(list, w);
            if has(&POLICY_POSITIVE) {
                sign = 1;
                policy = true;
            } else if has(&POLICY_NEGATIVE) {
                sign = -1;
                policy = true;
            } else if has(&VALUE_POSITIVE) && sign == 0 {
                sign = 1;
            } else if has(&VALUE_NEGATIVE) && sign == 0 {
                sign = -1;
            }
        }
        (sign, policy)
    }

    /// The topic words of the first clause.
    fn main_clause_topic(&self) -> BTreeSet<String> {
        let end = self
            .words
            .iter()
            .position(|w| w == ",")
            .unwrap_or(self.words.len());
        self.stems[..end]
            .iter()
            .filter(|s| self.topic.contains(*s))
            .cloned()
            .collect()
    }

    /// Whether a negation is followed by a word with a negative prefix whose root is its
    /// antonym ("not uncommon", "not unlikely", "not insignificant").
    fn litotes(&self) -> bool {
        self.words.windows(2).any(|w| {
            is_in(&NEGATIONS, &w[0])
                && ["un", "in", "im", "il", "ir", "dis", "non"]
                    .iter()
                    .any(|p| {
                        w[1].strip_prefix(p)
                            .is_some_and(|root| antonym::are_antonyms(root, &w[1]))
                    })
        })
    }

    fn has(&self, word: &str) -> bool {
        self.words.iter().any(|w| w == word) || self.stems.iter().any(|s| s == word)
    }
}

fn is_cue_word(stem: &str) -> bool {
    is_stance_word(stem) || QUANTIFIERS.iter().any(|(a, b)| *a == stem || *b == stem)
}

fn is_content(stem: &str, word: &str) -> bool {
    word != ","
        && !is_in(&STOPWORDS, word)
        && !is_in(&NEGATIONS, word)
        && !is_in(&FIRST_PERSON, word)
        && !is_in(&THIRD_PERSON, word)
        && !is_cue_word(stem)
        && !is_stance_word(word)
        && !is_in(&CLAUSE_BREAKS, word)
        && !word.starts_with(|c: char| c.is_ascii_digit())
        && quantifier::number_word(word).is_none()
        && !quantifier::is_quantity_word(word)
        && !is_in(&MONTHS, word)
        && !is_in(&DAYS, word)
        && !is_in(&ADMISSIONS, stem)
        && !word.ends_with("ly")
        && !matches!(
            word,
            "percent" | "%" | "million" | "billion" | "thousand" | "year" | "years"
        )
}

/// Lowercase words with contractions expanded; `,` for clause breaks; numbers kept whole
/// ("3.5", "1,000", "5%" as "5" "%", "$20" as "$" "20").
fn words(text: &str) -> Vec<String> {
    let text = text
        .replace(['\u{2019}', '\u{2018}'], "'")
        .replace(['\u{2014}', '\u{2013}'], ",")
        .to_lowercase();
    let mut out: Vec<String> = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() {
            let mut j = i;
            while j < chars.len()
                && (chars[j].is_ascii_digit()
                    || (matches!(chars[j], '.' | ',')
                        && chars.get(j + 1).is_some_and(char::is_ascii_digit)))
            {
                j += 1;
            }
            // The comma stays: "1,200" is a count, never a year.
            out.push(chars[i..j].iter().collect());
            i = j;
        } else if c.is_alphanumeric() {
            let mut j = i;
            while j < chars.len()
                && (chars[j].is_alphanumeric()
                    || (matches!(chars[j], '\'' | '-')
                        && chars.get(j + 1).is_some_and(|n| n.is_alphanumeric())))
            {
                j += 1;
            }
            let word: String = chars[i..j].iter().collect();
            push_word(&mut out, &word);
            i = j;
        } else {
            match c {
                '%' => out.push("%".into()),
                '$' | '€' | '£' => out.push("$".into()),
                ',' | ';' | ':' | '(' | ')' if out.last().is_some_and(|w| w != ",") => {
                    out.push(",".into());
                }
                _ => {}
            }
            i += 1;
        }
    }
    // "failed to qualify", "refused to answer", "has yet to release": the verb after is
    // negated; "declined to 5%" is a fall, not a refusal.
    for i in 0..out.len().saturating_sub(2) {
        let verb_follows = out[i + 2].starts_with(|c: char| c.is_alphabetic())
            && quantifier::number_word(&out[i + 2]).is_none();
        if (is_in(&FAILURES, &out[i]) || out[i] == "yet") && out[i + 1] == "to" && verb_follows {
            out[i] = "not".into();
        }
    }
    out
}

/// Pushes `word`, expanding contractions and splitting clause-breaking conjunctions off.
fn push_word(out: &mut Vec<String>, word: &str) {
    let expanded: &[&str] = match word {
        "won't" => &["will", "not"],
        "can't" | "cannot" => &["can", "not"],
        "shan't" => &["shall", "not"],
        "ain't" => &["is", "not"],
        "i'm" => &["i", "am"],
        _ => &[],
    };
    if !expanded.is_empty() {
        out.extend(expanded.iter().map(|w| (*w).to_owned()));
        return;
    }
    if let Some(root) = word.strip_suffix("n't") {
        out.push(root.to_owned());
        out.push("not".to_owned());
        return;
    }
    let root = ["'s", "'re", "'ve", "'ll", "'d", "'m"]
        .iter()
        .find_map(|suffix| word.strip_suffix(suffix))
        .unwrap_or(word);
    if is_in(&CLAUSE_BREAKS, root) && out.last().is_some_and(|w| w != ",") {
        out.push(",".into());
    }
    // "I'll" says the future as "I will" does.
    if word.ends_with("'ll") {
        out.push(root.to_owned());
        out.push("will".into());
        return;
    }
    // "no longer" and "no one" read as one negation.
    if root == "one" && out.last().is_some_and(|w| w == "no") {
        out.pop();
        out.push("nobody".into());
        return;
    }
    out.push(root.to_owned());
}

/// Whether `w` opens or links a noun phrase (an article, a possessive, a quantifier, a
/// preposition that heads a modifier: "the", "our", "every", "for").
fn is_determiner(w: &str) -> bool {
    matches!(
        w,
        "the"
            | "a"
            | "an"
            | "my"
            | "our"
            | "his"
            | "her"
            | "their"
            | "its"
            | "this"
            | "these"
            | "those"
            | "of"
            | "in"
            | "for"
            | "from"
    ) || QUANTIFIERS.iter().any(|(a, b)| *a == w || *b == w)
        || is_in(&FIRST_PERSON, w)
        || is_in(&NEGATIONS, w)
        || quantifier::number_word(w).is_some()
        || w.starts_with(|c: char| c.is_ascii_digit())
        || matches!(w, "many" | "most" | "few" | "least" | "at")
}

/// The subject's head and where the subject span ends.
///
/// The span ends at the first auxiliary, modal, negation or lexicon verb after the first word,
/// or at a word ending in -s or -ed that follows a noun; failing both, at the first word
/// that follows a content word.
fn subject_of(words: &[String]) -> (String, usize) {
    let marker = |i: usize, w: &str| {
        i >= 1
            && (is_in(&VERB_MARKERS, w)
                || is_in(
                    &["i", "we", "he", "she", "they", "it", "you"],
                    &words[i - 1],
                )
                || is_stance_word(&stem(w))
                || antonym::base_form(w).is_some()
                || IRREGULAR.iter().any(|(form, _)| *form == w)
                || w == ","
                || ((w.ends_with("ed") || (w.ends_with('s') && !w.ends_with("ss")))
                    && !is_determiner(&words[i - 1])))
    };
    let end = words
        .iter()
        .enumerate()
        .position(|(i, w)| marker(i, w))
        .or_else(|| {
            (1..words.len()).find(|&i| {
                !is_determiner(&words[i - 1])
                    && !is_in(&STOPWORDS, &words[i - 1])
                    && !is_in(&STOPWORDS, &words[i])
            })
        })
        .unwrap_or(words.len().min(1));
    let span = &words[..end];
    if span.iter().any(|w| is_in(&["i", "we"], w)) {
        return ("speaker".to_owned(), end);
    }
    let head = span
        .iter()
        .rev()
        .find(|w| {
            (!is_in(&STOPWORDS, w) || is_in(&THIRD_PERSON, w))
                && !is_determiner(w)
                && !w.ends_with("ly")
        })
        .map(String::as_str)
        .unwrap_or("");
    let subject = if is_in(&["me", "us"], head) {
        "speaker".to_owned()
    } else if is_in(&THIRD_PERSON, head) {
        "pronoun".to_owned()
    } else {
        stem(head)
    };
    (subject, end)
}

/// For each word, whether a negation earlier in its clause scopes over it.
fn negation_scope(words: &[String]) -> Vec<bool> {
    let mut out = Vec::with_capacity(words.len());
    let mut active = false;
    for w in words {
        if w == "," {
            active = false;
        }
        out.push(active);
        if is_in(&NEGATIONS, w) {
            active = true;
        }
    }
    out
}

/// The years, calendar dates ("march 4", or a month alone) and the other quantities a
/// statement mentions.
fn numbers(words: &[String]) -> (Vec<i64>, Vec<String>, Vec<Quantity>) {
    let mut years = Vec::new();
    let mut dates = Vec::new();
    let mut quantities = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let next = words.get(i + 1).map(String::as_str).unwrap_or("");
        let prev = if i > 0 { words[i - 1].as_str() } else { "" };
        if is_in(&DAYS, w) {
            dates.push(w.clone());
            continue;
        }
        if is_in(&MONTHS, w) {
            // "may" is a month only next to a number.
            let day = [prev, next]
                .into_iter()
                .find(|d| d.parse::<u32>().is_ok_and(|d| (1..=31).contains(&d)));
            if w != "may" || day.is_some() {
                dates.push(day.map_or_else(|| w.clone(), |d| format!("{w} {d}")));
            }
            continue;
        }
        let value = match quantifier::number_word(w) {
            Some(n) => n,
            None => match w.replace(',', "").parse::<f64>() {
                Ok(v) => v,
                Err(_) => continue,
            },
        };
        if is_in(&MONTHS, next) || is_in(&MONTHS, prev) && w.len() <= 2 {
            // A day of a month, counted with its month.
            continue;
        }
        if !w.contains(['.', ','])
            && (1000.0..=2100.0).contains(&value)
            && w.len() == 4
            && !matches!(next, "%" | "percent" | "million" | "billion" | "thousand")
            && prev != "$"
        {
            years.push(value as i64);
            continue;
        }
        let (scale, unit_at) = match next {
            "thousand" => (1e3, i + 2),
            "million" => (1e6, i + 2),
            "billion" => (1e9, i + 2),
            _ => (1.0, i + 1),
        };
        let unit = if prev == "$" {
            "$".to_owned()
        } else {
            match words.get(unit_at).map(String::as_str) {
                Some("%" | "percent" | "per") => "%".to_owned(),
                Some(u) if u != "," && !is_in(&STOPWORDS, u) => stem(u),
                _ => String::new(),
            }
        };
        quantities.push(Quantity {
            value: value * scale,
            unit,
        });
    }
    (years, dates, quantities)
}

// --- judging ----------------------------------------------------------------------------------

fn same_subject(a: &Statement, b: &Statement) -> bool {
    // "our party" and "their party", or "she" and "her union leader", are two subjects.
    if a.owner.is_some() && b.owner.is_some() && a.owner != b.owner {
        return false;
    }
    if (a.subject == "pronoun" && b.owner == Some("other"))
        || (b.subject == "pronoun" && a.owner == Some("other"))
    {
        return false;
    }
    if a.subject == b.subject {
        return true;
    }
    // "Our company" is the speaker's "we"; "my wife" and "our partners" are other people.
    let ours = |s: &Statement| {
        s.subject == "speaker" || s.owner == Some("speaker") && is_in(&COLLECTIVES, &s.subject)
    };
    if ours(a) && ours(b) {
        return true;
    }
    // "Nobody from our campaign" and "our campaign manager": a none-type subject covers any
    // member of the group it names.
    let nobody = |none: &Statement, other: &Statement| {
        none.subject_stems
            .iter()
            .all(|s| quantifier::is_quantity_word(s))
            && none.words[..none.subject_end]
                .iter()
                .any(|w| is_in(&["nobody", "none", "nothing", "no"], w))
            && other.subject != "speaker"
            || none
                .words
                .first()
                .is_some_and(|w| w == "nobody" || w == "none")
                && other.subject_stems.iter().any(|s| none.content.contains(s))
    };
    if nobody(a, b) || nobody(b, a) {
        return true;
    }
    let third = |s: &Statement| s.subject != "speaker" && !s.subject.is_empty();
    if (a.subject == "pronoun" && third(b)) || (b.subject == "pronoun" && third(a)) {
        return true;
    }
    // An evaluation of the topic ("nuclear power is a mistake") answers a speaker's stance
    // on it ("I support nuclear power").
    let about = |speaker: &Statement, other: &Statement| {
        speaker.subject == "speaker"
            && !other.subject_stems.is_empty()
            && other
                .subject_stems
                .iter()
                .all(|s| speaker.topic.contains(s))
    };
    about(a, b) || about(b, a)
}

/// Whether the statements are about the same specific thing, as `cue` needs:
///
/// - numbers and dates conflict only between statements saying the same thing apart from them
///   (every content word shared, the same years for a number);
/// - a stance conflicts only on a shared object, beyond the subject and verbs such as "vote";
/// - otherwise, when each statement has a content word the other lacks ("in schools" against
///   "in restaurants"), they are about different things.
fn same_specifics(
    a: &Statement,
    b: &Statement,
    topics: (&BTreeSet<String>, &BTreeSet<String>),
    shared: &BTreeSet<String>,
    cue: Cue,
) -> bool {
    match cue {
        Cue::Numeric => a.content == b.content && a.years == b.years && a.dates == b.dates,
        Cue::Date => a.content == b.content,
        // When both statements name the same subject, their shared words must go beyond it.
        Cue::Stance => {
            let subject_word = |s: &String| {
                a.subject == b.subject && (a.subject_stems.contains(s) || s == &a.subject)
            };
            // Two pure evaluations of one subject ("the scheme has been a great success",
            // "a costly failure") are about that subject.
            let only_subject = |t: &BTreeSet<String>| t.iter().all(subject_word);
            shared
                .iter()
                .any(|s| !subject_word(s) && !is_in(&GENERIC_VERBS, s))
                || a.subject == b.subject && only_subject(topics.0) && only_subject(topics.1)
        }
        // "Opens at nine" and "closes at five" are about two times of day.
        Cue::Antonym if !a.quantities.is_empty() && !b.quantities.is_empty() => {
            a.quantities == b.quantities
                && (topics.0.is_subset(topics.1) || topics.1.is_subset(topics.0))
        }
        Cue::Negation | Cue::Antonym | Cue::Quantifier => {
            nested(topics.0, topics.1)
                // "Was nowhere near the warehouse" and "was at the warehouse, but left
                // early": the main clauses are about one thing, the aside adds to it.
                || cue == Cue::Negation && nested(&a.main_clause_topic(), &b.main_clause_topic())
        }
    }
}

/// Whether one topic holds the other and they share a word.
fn nested(a: &BTreeSet<String>, b: &BTreeSet<String>) -> bool {
    (a.is_subset(b) || b.is_subset(a)) && !a.is_disjoint(b)
}

/// The shared topic stems and the share of the smaller topic they cover.
fn shared_topic(a: &BTreeSet<String>, b: &BTreeSet<String>) -> (BTreeSet<String>, f64) {
    let shared: BTreeSet<String> = a.intersection(b).cloned().collect();
    let smaller = a.len().min(b.len());
    let overlap = if smaller == 0 {
        0.0
    } else {
        shared.len() as f64 / smaller as f64
    };
    (shared, overlap)
}

fn judge_parsed(a: &Statement, b: &Statement, text_a: &str, text_b: &str) -> Option<Finding> {
    if !same_subject(a, b) || subjects_opposed(a, b) || different_references(a, b) {
        return None;
    }
    if modality::plan_against_fact(a, b) || a.partial && b.partial {
        return None;
    }
    // The words of an antonym pair are the cue, not the topic: "prices rose" and "prices
    // fell" share their whole topic, "prices".
    // Stance words stay in the topic then too ("acquitted of fraud" against "convicted of
    // fraud" is about fraud).
    let antonyms = antonym_pairs(a, b);
    if antonyms
        .iter()
        .any(|o| modifies_same_noun(a, b, o) || places_apart(a, b, o))
    {
        return None;
    }
    let (topic_a, topic_b) = if antonyms.is_empty() {
        (a.topic.clone(), b.topic.clone())
    } else {
        // Every opposed word goes: "speeding up" against "slowing down" is one opposition.
        let cue_word = |t: &String| antonyms.iter().any(|o| &o.stems.0 == t || &o.stems.1 == t);
        let without = |s: &Statement| -> BTreeSet<String> {
            let subject = |t: &String| s.subject == "speaker" && s.subject_stems.contains(t);
            s.content
                .iter()
                .filter(|t| !cue_word(t) && !subject(t))
                .cloned()
                .collect()
        };
        (without(a), without(b))
    };
    let (shared, overlap) = shared_topic(&topic_a, &topic_b);
    if shared.is_empty() || overlap < 0.5 {
        return None;
    }
    let (cue, kind, explanation) = find_cue(a, b, &shared, antonyms.first())?;
    // A comparison ("higher than our competitors' prices") is no opposite of a change ("we
    // reduced our prices").
    if cue == Cue::Antonym && a.reference.is_some() != b.reference.is_some() {
        return None;
    }
    if !same_specifics(a, b, (&topic_a, &topic_b), &shared, cue) {
        return None;
    }
    // A state or an event can change between two times ("the factory closed in 2016", "it
    // reopened in 2019"); a stance that changes is what the hypocrisy tracker looks for.
    if matches!(cue, Cue::Negation | Cue::Antonym | Cue::Quantifier) && time::different_times(a, b)
    {
        return None;
    }
    // What will happen and what did happen are two times too ("we will raise taxes", "we did
    // not raise taxes"; "the bridge will cost $5 billion", "the old one cost $2 billion").
    if cue != Cue::Stance && time::future_against_past(a, b) {
        return None;
    }
    let confidence = (cue.base_confidence() * (0.6 + 0.4 * overlap) * 1000.0).round() / 1000.0;
    let topic: Vec<&str> = shared.iter().map(String::as_str).collect();
    Some(Finding {
        statement_1: text_a.to_owned(),
        statement_2: text_b.to_owned(),
        kind,
        cue,
        confidence,
        explanation: format!("{explanation} (shared topic: {})", topic.join(", ")),
    })
}

fn find_cue(
    a: &Statement,
    b: &Statement,
    shared: &BTreeSet<String>,
    antonyms: Option<&Opposition>,
) -> Option<(Cue, ContradictionType, String)> {
    let (stance_a, policy_a) = a.stance();
    let (stance_b, policy_b) = b.stance();
    // Quantifiers: "always" against "never" with the same stance. With an antonym pair as
    // well, "never stale" and "always fresh" agree: the antonym step below decides.
    for (all, none) in QUANTIFIERS.iter().filter(|_| antonyms.is_none()) {
        let flipped = (a.has(all) && b.has(none)) || (a.has(none) && b.has(all));
        if flipped
            && a.negation_parity(shared, true) == b.negation_parity(shared, true)
            && stance_a == stance_b
        {
            return Some((
                Cue::Quantifier,
                ContradictionType::Direct,
                format!("quantifier conflict: \"{all}\" against \"{none}\""),
            ));
        }
    }
    let neg_a = a.negation_parity(shared, false);
    let neg_b = b.negation_parity(shared, false);
    // A count against a none-type quantifier: "three employees" against "no employees".
    for (none_side, count_side) in [(a, b), (b, a)] {
        let none = quantifier::none_word(none_side);
        let count = quantifier::count_word(count_side);
        if let (Some(none), Some(count)) = (none, count)
            && quantifier::none_word(count_side).is_none()
            && !count_side.negation_parity(shared, true)
            && antonyms.is_none()
        {
            return Some((
                Cue::Quantifier,
                ContradictionType::Direct,
                format!("count against none: \"{count}\" against \"{none}\""),
            ));
        }
    }
    if let Some(Opposition { shown: (x, y), .. }) = antonyms {
        // "not raise" and "cut" agree.
        return (neg_a == neg_b).then(|| {
            (
                Cue::Antonym,
                ContradictionType::Direct,
                format!("antonym pair: \"{x}\" against \"{y}\""),
            )
        });
    }
    let polarity = |stance: i32, negated: bool| {
        let s = if stance == 0 { 1 } else { stance };
        if negated { -s } else { s }
    };
    if polarity(stance_a, neg_a) != polarity(stance_b, neg_b) {
        if neg_a != neg_b && (stance_a == stance_b || stance_a == 0 || stance_b == 0) {
            let (negating, text) = if neg_a { ("first", a) } else { ("second", b) };
            // "Not uncommon" says "common": a negated negative word affirms.
            if text.litotes() {
                return None;
            }
            let scope = negated_span(text);
            return Some((
                Cue::Negation,
                ContradictionType::Direct,
                format!("negation flip: the {negating} statement negates \"{scope}\""),
            ));
        }
        if neg_a == neg_b && stance_a != 0 && stance_b != 0 {
            let kind = if policy_a || policy_b {
                ContradictionType::PolicyShift
            } else {
                ContradictionType::Value
            };
            return Some((
                Cue::Stance,
                kind,
                format!(
                    "stance shift: {} in one statement, {} in the other",
                    if stance_a > 0 { "for" } else { "against" },
                    if stance_b > 0 { "for" } else { "against" }
                ),
            ));
        }
        return None;
    }
    numeric_conflict(a, b)
}

/// The words a statement's first effective negation scopes over, for explanations.
fn negated_span(s: &Statement) -> String {
    let start = s.negated.iter().position(|n| *n).unwrap_or(0);
    let from = start.saturating_sub(1);
    s.words[from..]
        .iter()
        .take_while(|w| *w != ",")
        .take(8)
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

fn numeric_conflict(a: &Statement, b: &Statement) -> Option<(Cue, ContradictionType, String)> {
    let differing_years =
        !a.years.is_empty() && !b.years.is_empty() && a.years.iter().all(|y| !b.years.contains(y));
    let differing_dates =
        !a.dates.is_empty() && !b.dates.is_empty() && a.dates.iter().all(|d| !b.dates.contains(d));
    if a.quantities.is_empty() && b.quantities.is_empty() {
        return (differing_years || differing_dates).then(|| {
            let when = |s: &Statement| {
                s.dates
                    .iter()
                    .cloned()
                    .chain(s.years.iter().map(i64::to_string))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            (
                Cue::Date,
                ContradictionType::Temporal,
                format!("date conflict: {} against {}", when(a), when(b)),
            )
        });
    }
    if differing_years {
        // Different periods: different values are expected.
        return None;
    }
    for qa in &a.quantities {
        let same_unit: Vec<&Quantity> = b.quantities.iter().filter(|q| q.unit == qa.unit).collect();
        if same_unit.is_empty() || same_unit.iter().any(|q| close(q.value, qa.value)) {
            continue;
        }
        // Each side's own values: a conflict only if b never states a's value.
        let qb = same_unit[0];
        let unit = if qa.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", qa.unit)
        };
        return Some((
            Cue::Numeric,
            ContradictionType::Direct,
            format!(
                "numeric conflict: {}{unit} against {}{unit}",
                number_text(qa.value),
                number_text(qb.value)
            ),
        ));
    }
    None
}

/// Whether both statements compare with something ("higher than in 2016"), and with different
/// things: then they are about different comparisons.
fn different_references(a: &Statement, b: &Statement) -> bool {
    matches!((&a.reference, &b.reference), (Some(x), Some(y)) if x != y)
}

fn close(x: f64, y: f64) -> bool {
    (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
}

fn number_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests;
