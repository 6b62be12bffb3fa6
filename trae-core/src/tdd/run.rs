//! A TDD run and its trajectory: what was asked (a project, a test command, limits), every
//! step (the tests, what the model was shown and answered, the edits applied and refused,
//! tokens, cost, time), and how it ended.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::edit::EditResult;
use super::test_report::TestReport;
use crate::llm::budget::BudgetLimits;
use crate::page::{Page, PageRequest};
use crate::{Error, Result};

/// Runs the agents on a project: the agents' commands execute on the server, so the
/// built-in `developer` role holds it, not `user`.
pub const AGENTS_RUN: &str = "agents:run";
/// Sees, cancels and accepts everyone's agent runs.
pub const AGENTS_ADMIN: &str = "agents:admin";

/// Where a run stands; the last six are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Created, waiting for a worker.
    Queued,
    /// In progress.
    Running,
    /// The final test run was green.
    Passed,
    /// Out of iterations with the tests still failing.
    Failed,
    /// The run's budget (tokens, cost, wall time) ran out.
    BudgetExhausted,
    /// The same failure after the same edit twice: going on would repeat itself.
    Stuck,
    /// Cancelled by its owner.
    Cancelled,
    /// Something other than the tests failed (the model, the sandbox).
    Error,
}

impl RunStatus {
    /// Every status.
    pub const ALL: [Self; 8] = [
        Self::Queued,
        Self::Running,
        Self::Passed,
        Self::Failed,
        Self::BudgetExhausted,
        Self::Stuck,
        Self::Cancelled,
        Self::Error,
    ];

    /// The status's name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::BudgetExhausted => "budget_exhausted",
            Self::Stuck => "stuck",
            Self::Cancelled => "cancelled",
            Self::Error => "error",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| Error::validation("status", format!("unknown run status {name:?}")))
    }

    /// Whether the run has ended.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }
}

/// What a run is asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The project's directory, as given (checked against the allowed workspaces).
    pub project: String,
    /// The test command as argv.
    pub test_command: Vec<String>,
    /// The most model rounds (default 5).
    pub max_iterations: u32,
    /// The model to ask (`None`: each provider's default).
    pub model: Option<String>,
    /// The run's budget.
    pub budget: BudgetLimits,
}

/// The default number of model rounds.
pub const DEFAULT_MAX_ITERATIONS: u32 = 5;
/// The most model rounds a run may ask for.
pub const MAX_ITERATIONS_LIMIT: u32 = 50;

impl RunSpec {
    /// Checks the parts that need no filesystem: a test command, a sane iteration count and a
    /// budget that can be spent.
    pub fn validate(&self) -> Result<()> {
        if self.project.trim().is_empty() {
            return Err(Error::validation("path", "the project path is empty"));
        }
        if self
            .test_command
            .first()
            .is_none_or(|p| p.trim().is_empty())
        {
            return Err(Error::validation("test", "the test command is empty"));
        }
        self.budget.validate()?;
        if !(1..=MAX_ITERATIONS_LIMIT).contains(&self.max_iterations) {
            return Err(Error::validation(
                "max_iterations",
                format!("must be between 1 and {MAX_ITERATIONS_LIMIT}"),
            ));
        }
        Ok(())
    }
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TddRun {
    /// Its id.
    pub id: Uuid,
    /// The user it runs for (`None`: the system).
    pub owner: Option<Uuid>,
    /// What it was asked.
    pub spec: RunSpec,
    /// Where it stands.
    pub status: RunStatus,
    /// Why it ended as it did, in a sentence.
    pub reason: Option<String>,
    /// A digest of the project's files when the run began (accept refuses when it changed).
    pub project_digest: Option<String>,
    /// Model rounds made.
    pub iterations: u32,
    /// Tokens spent.
    pub tokens: u64,
    /// Dollars spent.
    pub cost: f64,
    /// The last test run's report.
    pub final_report: Option<TestReport>,
    /// The files the run changed, with their final content (`None`: deleted).
    pub files: BTreeMap<String, Option<String>>,
    /// The same files as they were when the run began (`None`: absent), so a replay starts
    /// from there even after an accept.
    pub originals: BTreeMap<String, Option<String>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it began.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// When its changes were accepted into the project.
    pub accepted_at: Option<DateTime<Utc>>,
}

/// One step of a run: step 0 runs the tests as they are; each later step is a model round
/// (the prompt, the answer, the edits) followed by a test run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TddStep {
    /// The run.
    pub run_id: Uuid,
    /// 0 for the first test run, then 1, 2, … per model round.
    pub index: u32,
    /// What the model was shown, summarised (the failures named, the files included).
    pub prompt_summary: Option<String>,
    /// The model's answer, whole.
    pub answer: Option<String>,
    /// Every edit block of the answer and what became of it.
    pub edits: Vec<EditResult>,
    /// The test run after the edits.
    pub report: Option<TestReport>,
    /// Tokens of the model round.
    pub tokens: u64,
    /// Dollars of the model round.
    pub cost: f64,
    /// How long the step took, model and tests included, in milliseconds.
    pub elapsed_ms: u64,
    /// When the step ended.
    pub at: DateTime<Utc>,
}

/// What the end of a run changes.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEnd {
    /// How it ended.
    pub status: RunStatus,
    /// Why, in a sentence.
    pub reason: String,
    /// The last test run's report.
    pub final_report: Option<TestReport>,
    /// The files changed, with their final content.
    pub files: BTreeMap<String, Option<String>>,
    /// The same files as they were when the run began.
    pub originals: BTreeMap<String, Option<String>>,
}

/// Which runs to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only this owner's runs.
    pub owner: Option<Uuid>,
    /// Only runs in this status.
    pub status: Option<RunStatus>,
}

/// Where runs and their steps are kept.
#[async_trait::async_trait]
pub trait TddRepository: Send + Sync + 'static {
    /// Stores a new run (status `queued`).
    async fn create(&self, run: &TddRun) -> Result<()>;
    /// Marks a run running, with the project digest it starts from. Fails with `Conflict`
    /// unless it was queued.
    async fn start(&self, id: Uuid, digest: &str, at: DateTime<Utc>) -> Result<()>;
    /// Appends a step and adds its tokens and cost to the run (and counts a model round when
    /// the step has an answer), in one transaction.
    async fn add_step(&self, step: &TddStep) -> Result<()>;
    /// Ends a run that has not ended: `Ok(false)` when it already had.
    async fn finish(&self, id: Uuid, end: &RunEnd, at: DateTime<Utc>) -> Result<bool>;
    /// Records that a run's changes were accepted; `Conflict` when they already were.
    async fn mark_accepted(&self, id: Uuid, at: DateTime<Utc>) -> Result<()>;
    /// A run, or `NotFound`.
    async fn get(&self, id: Uuid) -> Result<TddRun>;
    /// A run's steps in order.
    async fn steps(&self, id: Uuid) -> Result<Vec<TddStep>>;
    /// Runs, newest first.
    async fn list(&self, filter: &RunFilter, page: PageRequest) -> Result<Page<TddRun>>;
}
