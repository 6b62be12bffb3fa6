//! An edit a model asked for, and what became of it: applied (and how it was placed) or
//! refused (and why, with the lines it most likely meant).

use serde::{Deserialize, Serialize};

/// One edit block from a model's answer: replace `search` by `replace` in `path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditBlock {
    /// The file, as the model named it (checked before anything is read or written).
    pub path: String,
    /// The text to find; empty to create a new file.
    pub search: String,
    /// The text to put in its place.
    pub replace: String,
    /// The block gives the whole new content of a small file instead of a search text.
    #[serde(default)]
    pub whole_file: bool,
}

/// How a block's search text was found in its file, from the strictest way to the loosest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// Verbatim.
    Exact,
    /// The same lines indented uniformly more or less; the replacement was re-indented.
    Indentation,
    /// After dropping leading or trailing blank lines the file does not have.
    BlankLines,
    /// Every piece around the `...` lines found once, in order; the elided middle kept.
    Elision,
    /// Equal but for spaces and tabs.
    Whitespace,
    /// The file did not exist and the search text was empty: the file was created.
    NewFile,
    /// The whole content of a small file was replaced.
    WholeFile,
}

/// Why a block was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The path is absolute, climbs out of the project, goes into `.git`, or leads outside the
    /// working copy through a symbolic link.
    UnsafePath,
    /// The file does not exist (and the block does not create it).
    MissingFile,
    /// The search text has fewer than ten non-blank characters: too little to place safely.
    TooShort,
    /// The search text was found more than once.
    Ambiguous,
    /// The search text was not found.
    NotFound,
    /// The `...` lines of the search and the replacement do not pair up.
    ElisionMismatch,
    /// A whole-file answer for a file too large to replace whole, or that does not exist.
    WholeFileRefused,
    /// The block was cut off or its markers are out of order.
    Malformed,
}

impl Refusal {
    /// The reason in a sentence, as the model is told it.
    pub fn explain(self) -> &'static str {
        match self {
            Self::UnsafePath => "the path must be relative, inside the project, and not under .git",
            Self::MissingFile => "the file does not exist; to create it, leave SEARCH empty",
            Self::TooShort => {
                "the SEARCH text is too short to place safely; include a few whole lines"
            }
            Self::Ambiguous => {
                "the SEARCH text matches more than one place; include more lines to make it unique"
            }
            Self::NotFound => "the SEARCH text does not match the file",
            Self::ElisionMismatch => {
                "SEARCH and REPLACE must have the same `...` lines, each piece unique in the file"
            }
            Self::WholeFileRefused => {
                "whole-file replacement is only for small existing files; use SEARCH/REPLACE"
            }
            Self::Malformed => "the block is incomplete (SEARCH, =======, REPLACE markers)",
        }
    }
}

/// What became of one block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum EditOutcome {
    /// It was applied.
    Applied {
        /// How its search text was found.
        placement: Placement,
    },
    /// It was not applied.
    Refused {
        /// Why.
        reason: Refusal,
        /// The lines of the file most like the search text ("did you mean"), when any are.
        hint: Option<String>,
    },
}

/// A block and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditResult {
    /// The block as the model wrote it.
    pub block: EditBlock,
    /// Applied or refused.
    #[serde(flatten)]
    pub outcome: EditOutcome,
}

impl EditResult {
    /// Whether the block was applied.
    pub fn applied(&self) -> bool {
        matches!(self.outcome, EditOutcome::Applied { .. })
    }
}

/// `raw` as a normalised path inside the project (`./a//b` is `a/b`, backslashes count as
/// slashes), or `None` when it is empty, absolute, climbs out with `..`, or goes into `.git`.
/// Symbolic links are the working copy's to check, when it writes.
pub fn project_path(raw: &str) -> Option<String> {
    let raw = raw.trim().replace('\\', "/");
    let drive = raw.as_bytes().get(1) == Some(&b':');
    if raw.is_empty() || raw.starts_with('/') || raw.contains('\0') || drive {
        return None;
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." | ".git" => return None,
            part => parts.push(part),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}
