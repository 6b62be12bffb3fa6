//! The TDD agent's domain (issue 23): what a test run reports, what became of the edits a
//! model asked for, the runs with their trajectories, and generated tests with the mutants
//! they are measured against.

pub mod edit;
pub mod generation;
pub mod run;
pub mod test_report;
