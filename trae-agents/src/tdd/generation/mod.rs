//! Test generation (issue 23): ask the model for tests of a target file or function, run them
//! in a working copy, keep only those that pass on the current code and fail under at least
//! one simple mutation of the target, and report the mutation score. No kept test is one that
//! cannot fail.
//!
//! [`generator`] is the service; [`source`] reads a target far enough to mutate it,
//! [`mutants`] makes the mutations, [`prompt`] asks the model and reads its answer,
//! [`test_items`] finds the tests in that answer and cuts out the ones not kept.

pub mod generator;
pub mod mutants;
pub mod prompt;
pub mod source;
pub mod test_items;

pub use generator::{DEFAULT_ROUNDS, MAX_ROUNDS, NewGeneration, TestGenerator};
