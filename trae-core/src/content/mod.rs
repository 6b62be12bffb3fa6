//! The content domain: the channels content is published on, the author personas that write
//! it, the evidence it cites, and the contradiction tracker (the map's "hypocrisy tracker")
//! whose records the [`contradiction`] engine scores.
//!
//! Each part is a record type, its rules, a repository port and a service:
//!
//! | module | record | service |
//! |---|---|---|
//! | [`channel`] | [`Channel`] | [`Channels`] |
//! | [`persona`] | [`Persona`] (versioned, with variants) | [`Personas`] |
//! | [`evidence`] | [`Evidence`] (full-text searchable) | [`EvidenceLibrary`] |
//! | [`tracker`] | [`Contradiction`] (with a verification workflow) | [`Contradictions`] |
//!
//! Field rules shared by all four live here: text is trimmed and bounded, optional text that
//! is blank means "none", lists are bounded and distinct, URLs are http or https.

pub mod channel;
pub mod contradiction;
pub mod evidence;
pub mod persona;
pub mod tracker;

pub use channel::{
    Channel, ChannelDeletion, ChannelFilter, ChannelPatch, ChannelRepository, Channels, NewChannel,
    Platform,
};
pub use evidence::{
    Evidence, EvidenceFilter, EvidenceLibrary, EvidencePatch, EvidenceRepository, EvidenceType,
    NewEvidence,
};
pub use persona::{
    NewPersona, Persona, PersonaFilter, PersonaPatch, PersonaPrompt, PersonaRecord,
    PersonaRepository, PersonaTraits, PersonaVersion, Personas, VocabularyLevel,
};
pub use tracker::{
    Contradiction, ContradictionFilter, ContradictionPatch, ContradictionRepository,
    Contradictions, NewContradiction, Opportunity, SubjectType, Verification, VerificationStatus,
};

use crate::{Error, Result};

/// Reading channels, personas, evidence and contradictions.
pub const CONTENT_READ: &str = "content:read";
/// Creating, changing, deleting and analysing them.
pub const CONTENT_WRITE: &str = "content:write";
/// Reviewing a contradiction (verifying, disputing, debunking).
pub use tracker::REVIEW as CONTENT_REVIEW;

/// The longest short text field (names, topics, tones), in characters.
pub const SHORT_MAX_CHARS: usize = 200;
/// The longest long text field (descriptions, statements, evidence content), in characters.
pub const LONG_MAX_CHARS: usize = 20_000;
/// The most items a list field (tags, traits, areas) may hold.
pub const LIST_MAX: usize = 50;
/// The longest list item, in characters.
pub const ITEM_MAX_CHARS: usize = 100;
/// The longest URL, in characters.
pub const URL_MAX_CHARS: usize = 2_000;

/// Declares a closed set of lowercase wire names: `as_str`, `ALL`, `Display`, `FromStr` with
/// a message naming every choice, and serde in the same names.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal, { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];

            /// The name used on the wire and in storage.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::Error;

            fn from_str(s: &str) -> $crate::Result<Self> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| {
                        let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                        $crate::Error::validation(
                            $field,
                            format!("must be one of {}; got {s:?}", names.join(", ")),
                        )
                    })
            }
        }
    };
}
pub(crate) use wire_enum;

/// A required text: trimmed, 1–`max` characters, no control characters but line breaks and
/// tabs when `multiline`.
pub(crate) fn text(field: &str, value: &str, max: usize, multiline: bool) -> Result<String> {
    let trimmed = value.trim();
    let chars = trimmed.chars().count();
    if chars == 0 {
        return Err(Error::validation(field, "must not be empty"));
    }
    if chars > max {
        return Err(Error::validation(
            field,
            format!("must be at most {max} characters, got {chars}"),
        ));
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if trimmed.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(Error::validation(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// An optional text: `None` or blank is "none", anything else follows [`text`].
pub(crate) fn optional_text(
    field: &str,
    value: Option<&str>,
    max: usize,
    multiline: bool,
) -> Result<Option<String>> {
    match value {
        Some(v) if !v.trim().is_empty() => text(field, v, max, multiline).map(Some),
        _ => Ok(None),
    }
}

/// A list of distinct short items, each trimmed and bounded.
pub(crate) fn list(field: &str, items: &[String]) -> Result<Vec<String>> {
    if items.len() > LIST_MAX {
        return Err(Error::validation(
            field,
            format!("at most {LIST_MAX} items, got {}", items.len()),
        ));
    }
    let mut clean: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item = text(&format!("{field}[{i}]"), item, ITEM_MAX_CHARS, false)?;
        if clean.contains(&item) {
            return Err(Error::validation(
                format!("{field}[{i}]"),
                format!("duplicate {item:?}"),
            ));
        }
        clean.push(item);
    }
    Ok(clean)
}

/// An optional http or https URL.
pub(crate) fn url(field: &str, value: Option<&str>) -> Result<Option<String>> {
    let Some(value) = optional_text(field, value, URL_MAX_CHARS, false)? else {
        return Ok(None);
    };
    let lower = value.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') && !value.contains(' ') => {
            Ok(Some(value))
        }
        _ => Err(Error::validation(
            field,
            format!("must be an http or https URL, got {value:?}"),
        )),
    }
}

/// An integer score within `range`.
pub(crate) fn score(field: &str, value: i64, range: std::ops::RangeInclusive<i64>) -> Result<u8> {
    if range.contains(&value) {
        Ok(u8::try_from(value).unwrap_or(u8::MAX))
    } else {
        Err(Error::validation(
            field,
            format!(
                "must be between {} and {}, got {value}",
                range.start(),
                range.end()
            ),
        ))
    }
}

/// Names in `clear` must be among `allowed`; answers whether `name` is cleared.
pub(crate) fn clearing<'a>(
    clear: &'a [String],
    allowed: &[&str],
) -> Result<impl Fn(&str) -> bool + 'a> {
    for name in clear {
        if !allowed.contains(&name.as_str()) {
            return Err(Error::validation(
                "clear",
                format!("cannot clear {name:?}; clearable: {}", allowed.join(", ")),
            ));
        }
    }
    Ok(move |name: &str| clear.iter().any(|c| c == name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(text("f", "  a ", 5, false).unwrap(), "a");
        assert!(text("f", "   ", 5, false).is_err());
        assert!(text("f", "abcdef", 5, false).is_err());
        assert!(text("f", "a\nb", 5, false).is_err());
        assert_eq!(text("f", "a\nb", 5, true).unwrap(), "a\nb");
        assert!(text("f", "a\u{0}b", 5, true).is_err());
        assert_eq!(optional_text("f", Some("  "), 5, false).unwrap(), None);
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert_eq!(
            url("u", Some("https://example.org/a")).unwrap().as_deref(),
            Some("https://example.org/a")
        );
        assert_eq!(url("u", Some("")).unwrap(), None);
        for bad in [
            "ftp://x",
            "https://",
            "example.org",
            "http:///x",
            "https://a b",
        ] {
            assert!(url("u", Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists_are_bounded_and_distinct() {
        assert_eq!(
            list("tags", &[" a ".into(), "b".into()]).unwrap(),
            ["a", "b"]
        );
        let err = list("tags", &["a".into(), "a".into()]).unwrap_err();
        assert!(matches!(err, Error::Validation { ref field, .. } if field == "tags[1]"));
        let many: Vec<String> = (0..=LIST_MAX).map(|i| i.to_string()).collect();
        assert!(list("tags", &many).is_err());
    }

    #[test]
    fn scores_stay_in_range() {
        assert_eq!(score("s", 10, 0..=10).unwrap(), 10);
        assert!(score("s", 11, 0..=10).is_err());
        assert!(score("s", 0, 1..=10).is_err());
    }

    #[test]
    fn only_named_fields_can_be_cleared() {
        let clear = vec!["url".to_owned()];
        let cleared = clearing(&clear, &["url", "description"]).unwrap();
        assert!(cleared("url"));
        assert!(!cleared("description"));
        let bad = vec!["name".to_owned()];
        assert!(clearing(&bad, &["url"]).is_err());
    }
}
