//! Landlock: filesystem writes allowed only under the paths a command may change. Landlock
//! restricts the calling thread and what it starts, so a command is spawned from a thread
//! made for it, which restricts itself first; the server's own threads are never restricted.

use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus, path_beneath_rules,
};

/// The Landlock ABI the rules are written for; a newer kernel enforces them as they are.
const ABI_VERSION: ABI = ABI::V5;

/// How far the current thread was confined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confined {
    /// Every rule is enforced.
    Fully,
    /// The kernel enforces only part of the rules (an older Landlock).
    Partly,
    /// The kernel has no Landlock: writes are not confined.
    Not,
}

/// Confines the calling thread (and every process it starts from now on): reading and
/// executing anywhere, writing only under `writable` (and to `/dev/null`).
pub fn confine_this_thread(writable: &[PathBuf]) -> Result<Confined, String> {
    let all = AccessFs::from_all(ABI_VERSION);
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)
        .and_then(|ruleset| ruleset.create())
        .and_then(|ruleset| {
            ruleset.add_rules(path_beneath_rules(["/"], AccessFs::from_read(ABI_VERSION)))
        })
        .and_then(|ruleset| {
            ruleset.add_rules(path_beneath_rules(
                ["/dev/null"],
                AccessFs::from_read(ABI_VERSION) | AccessFs::WriteFile,
            ))
        })
        .and_then(|ruleset| ruleset.add_rules(path_beneath_rules(writable, all)))
        .and_then(|ruleset| ruleset.restrict_self())
        .map_err(|error| error.to_string())?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => Confined::Fully,
        RulesetStatus::PartiallyEnforced => Confined::Partly,
        RulesetStatus::NotEnforced => Confined::Not,
    })
}
