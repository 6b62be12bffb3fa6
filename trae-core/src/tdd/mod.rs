//! The TDD agent's domain (issue 23): what a test run reports.

pub mod test_report;
