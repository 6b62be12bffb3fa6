//! The engine's word lists (negations, persons, quantifiers, stances, numbers, months,
//! irregular verbs) and the stemmer that matches words against them; antonyms come from
//! WordNet, in [`super::antonym`].

use super::antonym;

pub(super) const NEGATIONS: [&str; 20] = [
    "not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "nowhere", "without",
    "cannot", "refuse", "decline", "deny", "denies", "denied", "denying", "hardly", "barely",
    "scarcely",
];
/// Verbs that admit what follows them: "I admit that I met him" asserts "I met him".
pub(super) const ADMISSIONS: [&str; 5] = ["admit", "acknowledge", "confess", "concede", "confirm"];
/// Verbs that negate the verb after them when followed by "to": "failed to qualify".
pub(super) const FAILURES: [&str; 16] = [
    "fail",
    "fails",
    "failed",
    "failing",
    "refuse",
    "refuses",
    "refused",
    "refusing",
    "decline",
    "declines",
    "declined",
    "declining",
    "neglect",
    "neglects",
    "neglected",
    "neglecting",
];
pub(super) const FIRST_PERSON: [&str; 9] = [
    "i",
    "we",
    "me",
    "us",
    "my",
    "our",
    "myself",
    "ourselves",
    "ours",
];
pub(super) const THIRD_PERSON: [&str; 6] = ["he", "she", "they", "it", "him", "them"];
pub(super) const CLAUSE_BREAKS: [&str; 6] =
    ["but", "although", "though", "while", "whereas", "however"];
/// Words that end a subject: auxiliaries, modals, negations and frequency adverbs.
pub(super) const VERB_MARKERS: [&str; 46] = [
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "am",
    "will",
    "would",
    "shall",
    "should",
    "must",
    "can",
    "could",
    "may",
    "might",
    "do",
    "does",
    "did",
    "has",
    "have",
    "had",
    "not",
    "never",
    "always",
    "said",
    "says",
    "say",
    "claims",
    "claimed",
    "believes",
    "believe",
    "thinks",
    "think",
    "voted",
    "votes",
    "vote",
    "wants",
    "still",
    "already",
    "recently",
    "currently",
    "usually",
    "often",
    "sometimes",
    "now",
];
pub(super) const STOPWORDS: [&str; 82] = [
    "a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "with", "from", "as", "and", "or",
    "that", "this", "these", "those", "is", "are", "was", "were", "be", "been", "being", "am",
    "will", "would", "shall", "should", "must", "can", "could", "may", "might", "do", "does",
    "did", "has", "have", "had", "it", "its", "he", "she", "they", "them", "his", "her", "their",
    "him", "i", "we", "me", "us", "my", "our", "you", "your", "so", "very", "also", "just", "than",
    "then", "there", "here", "about", "into", "over", "said", "says", "say", "ever", "again",
    "longer", "any", "anyone", "anybody", "anything", "anywhere",
];
/// `(positive, negative)` quantifiers.
pub(super) const QUANTIFIERS: [(&str, &str); 12] = [
    ("always", "never"),
    ("sometimes", "never"),
    ("often", "never"),
    ("all", "none"),
    ("all", "no"),
    ("some", "none"),
    ("several", "nothing"),
    ("every", "no"),
    ("everyone", "nobody"),
    ("everybody", "nobody"),
    ("everything", "nothing"),
    ("everywhere", "nowhere"),
];
/// Stances taken through policy verbs.
pub(super) const POLICY_POSITIVE: [&str; 19] = [
    "support", "favor", "favour", "back", "endorse", "approve", "champion", "defend", "advocate",
    "embrace", "welcome", "promote", "want", "for", "accept", "legalise", "legalize", "commit",
    "keep",
];
pub(super) const POLICY_NEGATIVE: [&str; 25] = [
    "oppose",
    "reject",
    "against",
    "ban",
    "veto",
    "block",
    "condemn",
    "denounce",
    "abolish",
    "scrap",
    "end",
    "fight",
    "resist",
    "repeal",
    "criticize",
    "abandon",
    "stop",
    "avoid",
    "phase",
    "outlaw",
    "boycott",
    "dispute",
    "defeat",
    "object",
    "decry",
];
/// Stances taken through evaluations.
pub(super) const VALUE_POSITIVE: [&str; 49] = [
    "good",
    "great",
    "right",
    "beneficial",
    "success",
    "like",
    "love",
    "praise",
    "admire",
    "trust",
    "agree",
    "wise",
    "essential",
    "sensible",
    "legitimate",
    "proud",
    "loyal",
    "friend",
    "productive",
    "prosperity",
    "stronger",
    "save",
    "future",
    "valuable",
    "vital",
    "excellent",
    "investment",
    "fair",
    "benefit",
    "improve",
    "pleased",
    "please",
    "happy",
    "delighted",
    "satisfied",
    "celebrate",
    "applaud",
    "hail",
    "commend",
    "thrilled",
    "excited",
    "impressed",
    "brilliant",
    "superb",
    "triumph",
    "outstanding",
    "wonderful",
    "enthusiastic",
    "effective",
];
pub(super) const VALUE_NEGATIVE: [&str; 54] = [
    "bad",
    "wrong",
    "harmful",
    "mistake",
    "failure",
    "dislike",
    "hate",
    "disaster",
    "distrust",
    "disagree",
    "foolish",
    "terrible",
    "dangerous",
    "criticise",
    "waste",
    "damage",
    "threat",
    "scam",
    "blunder",
    "costly",
    "obstacle",
    "destroy",
    "catastrophic",
    "overreaction",
    "pointless",
    "ruin",
    "exploit",
    "eyesore",
    "past",
    "useless",
    "unfair",
    "worse",
    "worst",
    "enemy",
    "fraud",
    "reckless",
    "disappointed",
    "disappoint",
    "unhappy",
    "dissatisfied",
    "ashamed",
    "deplore",
    "regret",
    "lament",
    "dismayed",
    "upset",
    "angry",
    "embarrassed",
    "awful",
    "dreadful",
    "hostile",
    "disastrous",
    "ineffective",
    "pan",
];
pub(super) const SMALL_NUMBERS: [&str; 21] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
];
pub(super) const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
/// Irregular verb forms and their base, so "knew" meets "know" and "rose" meets "rise".
pub(super) const IRREGULAR: [(&str, &str); 35] = [
    ("fought", "fight"),
    ("knew", "know"),
    ("known", "know"),
    ("rose", "rise"),
    ("risen", "rise"),
    ("fell", "fall"),
    ("fallen", "fall"),
    ("grew", "grow"),
    ("grown", "grow"),
    ("shrank", "shrink"),
    ("shrunk", "shrink"),
    ("won", "win"),
    ("lost", "lose"),
    ("sold", "sell"),
    ("bought", "buy"),
    ("began", "begin"),
    ("begun", "begin"),
    ("made", "make"),
    ("took", "take"),
    ("taken", "take"),
    ("gave", "give"),
    ("given", "give"),
    ("went", "go"),
    ("gone", "go"),
    ("built", "build"),
    ("met", "meet"),
    ("paid", "pay"),
    ("spent", "spend"),
    ("kept", "keep"),
    ("left", "leave"),
    ("told", "tell"),
    ("thought", "think"),
    ("brought", "bring"),
    ("held", "hold"),
    ("saw", "see"),
];
/// Days of the week and seasons: dates when they say when something happened.
pub(super) const DAYS: [&str; 11] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "spring",
    "summer",
    "autumn",
    "winter",
];
/// Words that only say when ("that night", "months before"), left out of the topic.
pub(super) const TIME_WORDS: [&str; 12] = [
    "night",
    "morning",
    "evening",
    "afternoon",
    "ago",
    "yesterday",
    "today",
    "tomorrow",
    "tonight",
    "month",
    "week",
    "day",
];
/// Groups a speaker speaks for: "our company" is the speaker's "we", "our partners" is not.
pub(super) const COLLECTIVES: [&str; 20] = [
    "company",
    "firm",
    "business",
    "party",
    "campaign",
    "team",
    "government",
    "administration",
    "organisation",
    "organization",
    "group",
    "store",
    "shop",
    "club",
    "charity",
    "school",
    "hospital",
    "council",
    "department",
    "agency",
];
/// Units of relative time ("last year", "next week").
pub(super) const TIME_UNITS: [&str; 12] = [
    "year", "month", "week", "day", "quarter", "season", "summer", "winter", "spring", "autumn",
    "term", "decade",
];
/// Verbs too general to make two statements about the same thing.
pub(super) const GENERIC_VERBS: [&str; 12] = [
    "vote", "say", "make", "think", "believe", "claim", "argue", "call", "plan", "want", "get",
    "go",
];

pub(super) fn is_in(list: &[&str], word: &str) -> bool {
    list.contains(&word)
}

/// A crude stem: enough to match "supports", "supported" and "supporting" with "support".
pub(super) fn stem(word: &str) -> String {
    let w = word;
    if let Some((_, base)) = IRREGULAR.iter().find(|(form, _)| *form == w) {
        return (*base).to_owned();
    }
    // Auxiliaries ("had", "did") keep their form: WordNet's "have" and "do" are lexical verbs.
    if !is_in(&STOPWORDS, w)
        && let Some(base) = antonym::base_form(w)
    {
        return base.to_owned();
    }
    if w.ends_with("ss") || w.len() <= 3 {
        return w.to_owned();
    }
    for suffix in ["ing", "ied", "ies", "ed", "es", "s"] {
        // "dangerous", "cannabis", "crisis": an s that is not a plural or a verb ending.
        if suffix == "s" && (w.ends_with("us") || w.ends_with("is")) {
            continue;
        }
        // "taxes" -> "tax", "houses" -> "house", "hopes" -> "hope": "es" is an ending only
        // after a sibilant, and after a single s the e belongs to the word.
        if suffix == "es" && w.len() > 4 {
            let root = &w[..w.len() - 2];
            if root.ends_with('s') && !root.ends_with("ss") {
                return format!("{root}e");
            }
            if !["ss", "x", "z", "ch", "sh", "o"]
                .iter()
                .any(|end| root.ends_with(end))
            {
                continue;
            }
        }
        if let Some(root) = w.strip_suffix(suffix)
            && root.len() >= 3
        {
            return match suffix {
                "ied" | "ies" => format!("{root}y"),
                // "passed" -> "pass", "added" -> "add": a word itself, not "passe".
                "ed" | "ing" if ends_doubled(root) && is_stem_word(root) => root.to_owned(),
                // "raised" -> "rais" + e; keep the e so it matches "raise".
                "ed" | "es" if is_stem_word(&format!("{root}e")) => format!("{root}e"),
                "ing" if is_stem_word(&format!("{root}e")) => format!("{root}e"),
                // "scrapped" -> "scrap", "stopping" -> "stop".
                "ed" | "ing" if doubled(root) => root[..root.len() - 1].to_owned(),
                // "voted" -> "vote": a three-letter consonant-vowel-consonant root lost its e.
                "ed" | "es" | "ing" if short_cvc(root) => format!("{root}e"),
                _ => root.to_owned(),
            };
        }
    }
    w.to_owned()
}

/// Whether `root` is three letters, consonant-vowel-consonant ("vot", "hop").
fn short_cvc(root: &str) -> bool {
    let vowel = |c: u8| matches!(c, b'a' | b'e' | b'i' | b'o' | b'u');
    let b = root.as_bytes();
    b.len() == 3
        && !vowel(b[0])
        && vowel(b[1])
        && !vowel(b[2])
        && !matches!(b[2], b'w' | b'x' | b'y')
}

/// Whether `root` ends in a doubled letter ("pass", "add", "stopp").
fn ends_doubled(root: &str) -> bool {
    let b = root.as_bytes();
    b.len() >= 2 && b[b.len() - 1] == b[b.len() - 2]
}

/// Whether `root` ends in a doubled consonant ("scrapp", "stopp").
fn doubled(root: &str) -> bool {
    let b = root.as_bytes();
    b.len() >= 3
        && b[b.len() - 1] == b[b.len() - 2]
        && !matches!(
            b[b.len() - 1],
            b'a' | b'e' | b'i' | b'o' | b'u' | b'l' | b's'
        )
}

/// Whether `word` is one of the lexicons' words (so a stem ending in e can be restored).
pub(super) fn is_stem_word(word: &str) -> bool {
    is_stance_word(word) || antonym::has_antonym(word)
}

/// Whether `word` takes a stance (support, oppose, good, mistake...).
pub(super) fn is_stance_word(word: &str) -> bool {
    is_in(&POLICY_POSITIVE, word)
        || is_in(&POLICY_NEGATIVE, word)
        || is_in(&VALUE_POSITIVE, word)
        || is_in(&VALUE_NEGATIVE, word)
}

// --- statements -------------------------------------------------------------------------------
