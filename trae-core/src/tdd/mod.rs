//! The TDD agent's domain (issue 23): what a test run reports, what became of the edits a
//! model asked for, and the runs with their trajectories.

pub mod edit;
pub mod run;
pub mod test_report;
