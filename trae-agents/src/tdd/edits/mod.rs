//! Edits from a model's answer, applied safely: [`blocks`] reads SEARCH/REPLACE blocks (and
//! whole small files) out of the answer, [`placement`] places one search text in one file,
//! and [`apply_blocks`] runs every block over a set of files in order, each block seeing the
//! ones before it, so that the blocks that fit are applied and the others are refused with a
//! reason and the most similar lines.

pub mod blocks;
pub mod placement;

use std::collections::BTreeMap;
pub use trae_core::tdd::edit::project_path;

use trae_core::tdd::edit::{EditOutcome, EditResult, Placement, Refusal};

pub use blocks::{ParsedBlock, parse_blocks};

/// The largest file a whole-file answer may replace.
pub const MAX_WHOLE_FILE_BYTES: usize = 2 * 1024;

/// What applying a set of blocks came to: each block's result, and the new content of every
/// file that changed (or was created).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EditPlan {
    /// One result per block, in the answer's order.
    pub results: Vec<EditResult>,
    /// The files that changed, by project-relative path, with their new content.
    pub changed: BTreeMap<String, String>,
}

impl EditPlan {
    /// How many blocks were applied.
    pub fn applied(&self) -> usize {
        self.results.iter().filter(|r| r.applied()).count()
    }
}

/// Applies `blocks` in order to the files `read` gives (by normalised project path; `None`
/// when there is no such file), without writing anything: the caller writes
/// [`EditPlan::changed`].
pub fn apply_blocks(blocks: &[ParsedBlock], read: impl Fn(&str) -> Option<String>) -> EditPlan {
    let mut plan = EditPlan::default();
    for parsed in blocks {
        let outcome = match apply_one(parsed, &read, &plan.changed) {
            Ok((path, content, placement)) => {
                plan.changed.insert(path, content);
                EditOutcome::Applied { placement }
            }
            Err(miss) => EditOutcome::Refused {
                reason: miss.reason,
                hint: miss.hint,
            },
        };
        plan.results.push(EditResult {
            block: parsed.block.clone(),
            outcome,
        });
    }
    plan
}

fn apply_one(
    parsed: &ParsedBlock,
    read: &impl Fn(&str) -> Option<String>,
    changed: &BTreeMap<String, String>,
) -> Result<(String, String, Placement), placement::Miss> {
    let refuse = |reason| placement::Miss { reason, hint: None };
    if !parsed.complete {
        return Err(refuse(Refusal::Malformed));
    }
    let block = &parsed.block;
    let path = project_path(&block.path).ok_or_else(|| refuse(Refusal::UnsafePath))?;
    let current = changed.get(&path).cloned().or_else(|| read(&path));
    if block.whole_file {
        return match current {
            Some(old) if old.len() <= MAX_WHOLE_FILE_BYTES => {
                Ok((path, block.replace.clone(), Placement::WholeFile))
            }
            _ => Err(refuse(Refusal::WholeFileRefused)),
        };
    }
    match current {
        None if block.search.trim().is_empty() => {
            Ok((path, block.replace.clone(), Placement::NewFile))
        }
        None => Err(refuse(Refusal::MissingFile)),
        Some(content) => {
            let (content, placement) = placement::place(&content, &block.search, &block.replace)?;
            Ok((path, content, placement))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_paths_stay_inside() {
        assert_eq!(project_path("./src//a.py").as_deref(), Some("src/a.py"));
        assert_eq!(project_path("src\\a.py").as_deref(), Some("src/a.py"));
        for bad in [
            "",
            "/etc/passwd",
            "../x.py",
            "src/../../x",
            ".git/config",
            "a/.git/x",
            "C:/x",
            ".",
        ] {
            assert_eq!(project_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn later_blocks_see_earlier_ones_and_refusals_change_nothing() {
        let answer = "a.py\n<<<<<<< SEARCH\nvalue = first()\n=======\nvalue = second()\n>>>>>>> REPLACE\n\
                      <<<<<<< SEARCH\nvalue = second()\n=======\nvalue = third()\n>>>>>>> REPLACE\n\
                      ../b.py\n<<<<<<< SEARCH\nsomething = 1\n=======\nx\n>>>>>>> REPLACE\n\
                      new/c.py\n<<<<<<< SEARCH\n=======\nprint('hi')\n>>>>>>> REPLACE\n";
        let blocks = parse_blocks(answer);
        let plan = apply_blocks(&blocks, |path| {
            (path == "a.py").then(|| "value = first()\n".to_owned())
        });
        assert_eq!(plan.applied(), 3);
        assert_eq!(plan.changed["a.py"], "value = third()\n");
        assert_eq!(plan.changed["new/c.py"], "print('hi')\n");
        assert_eq!(
            plan.results[2].outcome,
            EditOutcome::Refused {
                reason: Refusal::UnsafePath,
                hint: None
            }
        );
    }

    #[test]
    fn whole_files_only_for_small_existing_ones() {
        let blocks = parse_blocks("a.py\n```\nprint(2)\n```\n");
        let small = apply_blocks(&blocks, |_| Some("print(1)\n".into()));
        assert_eq!(small.changed["a.py"], "print(2)\n");
        let large = apply_blocks(&blocks, |_| Some("#".repeat(MAX_WHOLE_FILE_BYTES + 1)));
        assert!(large.changed.is_empty());
        let missing = apply_blocks(&blocks, |_| None);
        assert!(missing.changed.is_empty());
    }
}
