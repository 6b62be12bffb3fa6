//! Where agents run what they did not write: a [`WorkingCopy`] of the user's project (a git
//! worktree with the uncommitted changes carried over, or a plain copy) that edits go to
//! instead of the project, and [`SandboxedCommand`]s run in it as argv (never a shell) with an
//! environment allow-list, wall-time, output, CPU and memory limits, and filesystem writes
//! confined by Landlock to the working copy and its scratch directory.

pub mod command;
pub mod confinement;
pub mod working_copy;

pub use command::{CommandLimits, CommandRun, SandboxedCommand, parse_argv};
pub use working_copy::{FileDiff, WorkingCopy, project_digest, unified_diff, write_into_project};
