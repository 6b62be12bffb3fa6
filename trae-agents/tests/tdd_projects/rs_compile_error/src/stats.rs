/// Number of whitespace-separated words in `text`.
pub fn word_count(text: &str) -> u32 {
    text.split_whitespace().count()
}

/// The longest word in `text` (the first one on a tie), ignoring punctuation
/// at either end of a word.
pub fn longest_word(text: &str) -> Option<&str> {
    let mut best: Option<&str> = None;
    for word in text.split_whitespace() {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric());
        if word.is_empty() {
            continue;
        }
        if best.map_or(true, |b| word.len() > b.len()) {
            best = Some(word);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_words() {
        assert_eq!(word_count("the quick  brown\tfox\n"), 4);
        assert_eq!(word_count("   "), 0);
    }

    #[test]
    fn finds_longest_word() {
        assert_eq!(longest_word("a bb, ccc! dd"), Some("ccc"));
        assert_eq!(longest_word("..."), None);
    }
}
