//! Test generation's domain: the simple mutations of a target that generated tests are
//! measured against, what became of each proposed test, and the mutation score. A test is kept
//! only when it passes on the current code and fails under at least one mutation, so no kept
//! test is one that cannot fail.

use serde::{Deserialize, Serialize};

/// A kind of simple mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MutationKind {
    /// A comparison turned into its negation (`<` into `>=`, `==` into `!=`).
    FlippedComparison,
    /// A literal changed (a number's integer digits plus one, a boolean negated).
    ChangedConstant,
    /// A statement removed (`pass` in its place in Python).
    RemovedStatement,
}

impl MutationKind {
    /// Its wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FlippedComparison => "flipped_comparison",
            Self::ChangedConstant => "changed_constant",
            Self::RemovedStatement => "removed_statement",
        }
    }
}

/// One mutation of one line of the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mutant {
    /// What was mutated.
    pub kind: MutationKind,
    /// The line, 1-based.
    pub line: u32,
    /// The line as it is.
    pub before: String,
    /// The line as mutated.
    pub after: String,
}

/// What running the tests against a mutant came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum MutantOutcome {
    /// These tests (passing on the current code) failed under it.
    Killed {
        /// The tests that failed.
        by: Vec<String>,
    },
    /// Every test still passed: nothing generated pins this behaviour down.
    Survived,
    /// The tests ran out of time under it (a loop that no longer ends); counted as detected,
    /// credited to no test.
    TimedOut,
    /// It did not compile or import, so it says nothing about the tests; left out of the score.
    Stillborn,
}

/// A mutant and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutantResult {
    /// The mutation.
    pub mutant: Mutant,
    /// What the tests did under it.
    pub outcome: MutantOutcome,
}

/// What became of one proposed test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum TestVerdict {
    /// Kept: it passes now and kills `kills` mutants.
    Kept {
        /// How many mutants it kills.
        kills: u32,
    },
    /// Dropped: it fails on the current code (a wrong expectation, or it does not compile).
    FailsOnCurrentCode {
        /// Why, in one line.
        message: String,
    },
    /// Dropped: it passed under every mutant, so it cannot fail.
    CannotFail,
}

/// One proposed test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratedTest {
    /// Its function name.
    pub name: String,
    /// What became of it.
    pub verdict: TestVerdict,
}

impl GeneratedTest {
    /// Whether it was kept.
    pub fn kept(&self) -> bool {
        matches!(self.verdict, TestVerdict::Kept { .. })
    }
}

/// A test generation: the tests proposed for a target, those kept, and how well they catch
/// the target's mutants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// The project directory, canonical.
    pub project: String,
    /// The target file, relative to the project.
    pub target: String,
    /// The function the tests are for, when one was named.
    pub function: Option<String>,
    /// The file the kept tests go into, relative to the project (for Rust, the target
    /// itself, with a `#[cfg(test)]` module appended).
    pub test_file: String,
    /// That file's content with only the kept tests; `None` when none was kept.
    pub content: Option<String>,
    /// Every test the model proposed in the round that counted, with its verdict.
    pub tests: Vec<GeneratedTest>,
    /// Every mutant tried, with its outcome against the kept tests.
    pub mutants: Vec<MutantResult>,
    /// The project's digest when generation began (writing the tests into the project
    /// refuses if it changed since).
    pub project_digest: String,
    /// Model rounds asked.
    pub rounds: u32,
    /// Tokens spent.
    pub tokens: u64,
    /// Dollars spent.
    pub cost: f64,
}

impl Generation {
    /// The kept tests.
    pub fn kept(&self) -> impl Iterator<Item = &GeneratedTest> {
        self.tests.iter().filter(|t| t.kept())
    }

    /// Mutants that count: every one that compiled.
    pub fn viable_mutants(&self) -> usize {
        self.mutants
            .iter()
            .filter(|m| m.outcome != MutantOutcome::Stillborn)
            .count()
    }

    /// Mutants detected by the kept tests (killed, or timed out).
    pub fn detected_mutants(&self) -> usize {
        self.mutants
            .iter()
            .filter(|m| {
                matches!(
                    m.outcome,
                    MutantOutcome::Killed { .. } | MutantOutcome::TimedOut
                )
            })
            .count()
    }

    /// Detected over viable mutants, in [0, 1]; `None` when no mutant was viable.
    pub fn mutation_score(&self) -> Option<f64> {
        let viable = self.viable_mutants();
        // Counts of mutants stay far below 2^52: exact as f64.
        #[allow(clippy::cast_precision_loss)]
        (viable > 0).then(|| self.detected_mutants() as f64 / viable as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mutant(outcome: MutantOutcome) -> MutantResult {
        MutantResult {
            mutant: Mutant {
                kind: MutationKind::ChangedConstant,
                line: 1,
                before: "x = 1".into(),
                after: "x = 2".into(),
            },
            outcome,
        }
    }

    #[test]
    fn the_score_counts_detected_over_viable_mutants() {
        let mut generation = Generation {
            project: "/p".into(),
            target: "m.py".into(),
            function: None,
            test_file: "tests/test_m_generated.py".into(),
            content: None,
            tests: vec![],
            mutants: vec![],
            project_digest: String::new(),
            rounds: 1,
            tokens: 0,
            cost: 0.0,
        };
        assert_eq!(generation.mutation_score(), None);
        generation.mutants = vec![
            mutant(MutantOutcome::Killed {
                by: vec!["test_a".into()],
            }),
            mutant(MutantOutcome::TimedOut),
            mutant(MutantOutcome::Survived),
            mutant(MutantOutcome::Stillborn),
            mutant(MutantOutcome::Survived),
        ];
        assert_eq!(generation.viable_mutants(), 4);
        assert_eq!(generation.detected_mutants(), 2);
        assert_eq!(generation.mutation_score(), Some(0.5));
        assert_eq!(MutationKind::RemovedStatement.as_str(), "removed_statement");
        let wire = serde_json::to_value(TestVerdict::Kept { kills: 2 }).unwrap();
        assert_eq!(wire, serde_json::json!({"verdict": "kept", "kills": 2}));
    }
}
