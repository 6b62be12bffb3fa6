//! `/api/tdd/runs`: TDD agent runs. Creating one queues a `tdd.run` task that a worker
//! executes; a run is read with its steps, its changes as unified diffs, and accepted into
//! the project (or cancelled) by its owner or an `agents:admin`.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use trae_agents::sandbox::parse_argv;
use trae_agents::{NewRun, RunDetail, RunDiff, TddRuns};
use trae_core::{
    BudgetLimits, EditOutcome, EditResult, FailureKind, PageRequest, Placement, Refusal, RunFilter,
    RunStatus, TddRun, TddStep, TestFailure, TestReport,
};
use uuid::Uuid;

use super::ApiTags;
use super::json_body::JsonBody;
use super::llm::BudgetBody;
use super::page::Page;
use crate::ApiError;
use crate::credentials::Auth;

/// The TDD router.
#[derive(Debug, Clone)]
pub struct TddApi {
    runs: TddRuns,
}

impl TddApi {
    /// A router over the runs service, which decides who may do what.
    pub fn new(runs: TddRuns) -> Self {
        Self { runs }
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "TddRunStatus", rename_all = "snake_case")]
pub enum RunStatusBody {
    /// Waiting for a worker.
    Queued,
    /// In progress.
    Running,
    /// The last test run was green.
    Passed,
    /// Out of iterations, tests failing.
    Failed,
    /// The budget ran out.
    BudgetExhausted,
    /// The same failures after the same edits twice.
    Stuck,
    /// Cancelled.
    Cancelled,
    /// Something other than the tests failed.
    Error,
}

impl From<RunStatus> for RunStatusBody {
    fn from(s: RunStatus) -> Self {
        match s {
            RunStatus::Queued => Self::Queued,
            RunStatus::Running => Self::Running,
            RunStatus::Passed => Self::Passed,
            RunStatus::Failed => Self::Failed,
            RunStatus::BudgetExhausted => Self::BudgetExhausted,
            RunStatus::Stuck => Self::Stuck,
            RunStatus::Cancelled => Self::Cancelled,
            RunStatus::Error => Self::Error,
        }
    }
}

impl From<RunStatusBody> for RunStatus {
    fn from(s: RunStatusBody) -> Self {
        match s {
            RunStatusBody::Queued => Self::Queued,
            RunStatusBody::Running => Self::Running,
            RunStatusBody::Passed => Self::Passed,
            RunStatusBody::Failed => Self::Failed,
            RunStatusBody::BudgetExhausted => Self::BudgetExhausted,
            RunStatusBody::Stuck => Self::Stuck,
            RunStatusBody::Cancelled => Self::Cancelled,
            RunStatusBody::Error => Self::Error,
        }
    }
}

/// Why a test did not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "TestFailureKind", rename_all = "snake_case")]
pub enum FailureKindBody {
    /// An assertion failed.
    Failed,
    /// The test errored outside its assertions.
    Error,
    /// The tests could not be collected.
    Collection,
    /// The code does not compile.
    Compile,
    /// The command failed without saying more.
    Command,
}

impl From<FailureKind> for FailureKindBody {
    fn from(k: FailureKind) -> Self {
        match k {
            FailureKind::Failed => Self::Failed,
            FailureKind::Error => Self::Error,
            FailureKind::Collection => Self::Collection,
            FailureKind::Compile => Self::Compile,
            FailureKind::Command => Self::Command,
        }
    }
}

/// One failing test.
#[derive(Debug, Clone, Object)]
#[oai(rename = "TestFailure")]
pub struct TestFailureBody {
    /// The test as its runner names it (for a compile failure, the file).
    pub test_id: String,
    /// The file it failed in.
    pub file: Option<String>,
    /// The line it failed at.
    pub line: Option<u32>,
    /// Why, in a line.
    pub message: String,
    /// The runner's output about it, both ends kept.
    pub excerpt: String,
    /// What kind of failure.
    pub kind: FailureKindBody,
}

impl From<TestFailure> for TestFailureBody {
    fn from(f: TestFailure) -> Self {
        Self {
            test_id: f.test_id,
            file: f.file,
            line: f.line,
            message: f.message,
            excerpt: f.excerpt,
            kind: f.kind.into(),
        }
    }
}

/// What one test run came to.
#[derive(Debug, Clone, Object)]
#[oai(rename = "TestReport")]
pub struct TestReportBody {
    /// Whether it was green: the command succeeded and nothing failed.
    pub green: bool,
    /// Tests passed.
    pub passed: u32,
    /// Tests failed.
    pub failed: u32,
    /// Tests errored (collection and compile failures included).
    pub errors: u32,
    /// Tests skipped.
    pub skipped: u32,
    /// The command's exit code; `null` when it was killed.
    pub exit_code: Option<i32>,
    /// Every failure.
    pub failures: Vec<TestFailureBody>,
}

impl From<TestReport> for TestReportBody {
    fn from(r: TestReport) -> Self {
        Self {
            green: r.is_green(),
            passed: r.passed,
            failed: r.failed,
            errors: r.errors,
            skipped: r.skipped,
            exit_code: r.exit_code,
            failures: r.failures.into_iter().map(Into::into).collect(),
        }
    }
}

/// How an edit's search text was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "EditPlacement", rename_all = "snake_case")]
pub enum PlacementBody {
    /// Verbatim.
    Exact,
    /// With a uniform indentation offset.
    Indentation,
    /// With blank lines at its ends dropped.
    BlankLines,
    /// Around `...` elisions.
    Elision,
    /// Equal but for spaces and tabs.
    Whitespace,
    /// A new file.
    NewFile,
    /// A small file replaced whole.
    WholeFile,
}

impl From<Placement> for PlacementBody {
    fn from(p: Placement) -> Self {
        match p {
            Placement::Exact => Self::Exact,
            Placement::Indentation => Self::Indentation,
            Placement::BlankLines => Self::BlankLines,
            Placement::Elision => Self::Elision,
            Placement::Whitespace => Self::Whitespace,
            Placement::NewFile => Self::NewFile,
            Placement::WholeFile => Self::WholeFile,
        }
    }
}

/// Why an edit was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "EditRefusal", rename_all = "snake_case")]
pub enum RefusalBody {
    /// The path leaves the project.
    UnsafePath,
    /// The file does not exist.
    MissingFile,
    /// The search text is too short to place safely.
    TooShort,
    /// The search text matches more than one place.
    Ambiguous,
    /// The search text does not match.
    NotFound,
    /// The `...` lines do not pair up.
    ElisionMismatch,
    /// A whole-file answer for a large or missing file.
    WholeFileRefused,
    /// The block was cut off.
    Malformed,
}

impl From<Refusal> for RefusalBody {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::UnsafePath => Self::UnsafePath,
            Refusal::MissingFile => Self::MissingFile,
            Refusal::TooShort => Self::TooShort,
            Refusal::Ambiguous => Self::Ambiguous,
            Refusal::NotFound => Self::NotFound,
            Refusal::ElisionMismatch => Self::ElisionMismatch,
            Refusal::WholeFileRefused => Self::WholeFileRefused,
            Refusal::Malformed => Self::Malformed,
        }
    }
}

/// One edit block of a model's answer and what became of it.
#[derive(Debug, Clone, Object)]
#[oai(rename = "TddEdit")]
pub struct EditBody {
    /// The file, as the model named it.
    pub path: String,
    /// The text to find (empty: a new file).
    pub search: String,
    /// Its replacement.
    pub replace: String,
    /// The block gave a whole small file.
    pub whole_file: bool,
    /// Whether it was applied.
    pub applied: bool,
    /// How it was placed, when applied.
    pub placement: Option<PlacementBody>,
    /// Why it was refused, when refused.
    pub refusal: Option<RefusalBody>,
    /// The lines it most likely meant, when refused.
    pub hint: Option<String>,
}

impl From<EditResult> for EditBody {
    fn from(e: EditResult) -> Self {
        let (applied, placement, refusal, hint) = match e.outcome {
            EditOutcome::Applied { placement } => (true, Some(placement.into()), None, None),
            EditOutcome::Refused { reason, hint } => (false, None, Some(reason.into()), hint),
        };
        Self {
            path: e.block.path,
            search: e.block.search,
            replace: e.block.replace,
            whole_file: e.block.whole_file,
            applied,
            placement,
            refusal,
            hint,
        }
    }
}

/// One step of a run: step 0 runs the tests as they were; each later one is a model round
/// and the test run after its edits.
#[derive(Debug, Clone, Object)]
#[oai(rename = "TddStep")]
pub struct StepBody {
    /// 0, 1, 2, …
    pub index: u32,
    /// What the model was shown, in a line.
    pub prompt_summary: Option<String>,
    /// The model's answer.
    pub answer: Option<String>,
    /// Every edit block of the answer.
    pub edits: Vec<EditBody>,
    /// The test run after the edits.
    pub report: Option<TestReportBody>,
    /// Tokens of the model round.
    pub tokens: u64,
    /// Dollars of the model round.
    pub cost: f64,
    /// How long the step took, in milliseconds.
    pub elapsed_ms: u64,
    /// When it ended.
    pub at: DateTime<Utc>,
}

impl From<TddStep> for StepBody {
    fn from(s: TddStep) -> Self {
        Self {
            index: s.index,
            prompt_summary: s.prompt_summary,
            answer: s.answer,
            edits: s.edits.into_iter().map(Into::into).collect(),
            report: s.report.map(Into::into),
            tokens: s.tokens,
            cost: s.cost,
            elapsed_ms: s.elapsed_ms,
            at: s.at,
        }
    }
}

/// A run.
#[derive(Debug, Clone, Object)]
#[oai(rename = "TddRun")]
pub struct RunBody {
    /// Identifier.
    pub id: Uuid,
    /// The user it runs for; `null` for the system.
    pub owner_id: Option<Uuid>,
    /// The project directory (canonical).
    pub project: String,
    /// The test command as argv.
    pub test: Vec<String>,
    /// Model rounds at most.
    pub max_iterations: u32,
    /// The model asked; `null` for each provider's default.
    pub model: Option<String>,
    /// Where it stands.
    pub status: RunStatusBody,
    /// Why it ended as it did.
    pub reason: Option<String>,
    /// Model rounds made.
    pub iterations: u32,
    /// Tokens spent.
    pub tokens: u64,
    /// Dollars spent.
    pub cost: f64,
    /// The last test run.
    pub final_report: Option<TestReportBody>,
    /// The files the run changed.
    pub changed_files: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it began.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// When its changes were accepted into the project.
    pub accepted_at: Option<DateTime<Utc>>,
}

impl From<TddRun> for RunBody {
    fn from(r: TddRun) -> Self {
        Self {
            id: r.id,
            owner_id: r.owner,
            project: r.spec.project,
            test: r.spec.test_command,
            max_iterations: r.spec.max_iterations,
            model: r.spec.model,
            status: r.status.into(),
            reason: r.reason,
            iterations: r.iterations,
            tokens: r.tokens,
            cost: r.cost,
            final_report: r.final_report.map(Into::into),
            changed_files: r.files.into_keys().collect(),
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            accepted_at: r.accepted_at,
        }
    }
}

/// A run with its steps.
#[derive(Debug, Clone, Object)]
#[oai(rename = "TddRunDetail")]
pub struct RunDetailBody {
    /// The run.
    pub run: RunBody,
    /// Its steps in order.
    pub steps: Vec<StepBody>,
}

impl From<RunDetail> for RunDetailBody {
    fn from(d: RunDetail) -> Self {
        Self {
            run: d.run.into(),
            steps: d.steps.into_iter().map(Into::into).collect(),
        }
    }
}

/// One file's change.
#[derive(Debug, Clone, Object)]
#[oai(rename = "TddFileDiff")]
pub struct FileDiffBody {
    /// The file, relative to the project.
    pub path: String,
    /// The unified diff.
    pub diff: String,
}

/// A run's changes.
#[derive(Debug, Clone, Object)]
#[oai(rename = "TddRunDiff")]
pub struct RunDiffBody {
    /// One diff per changed file, against the project as it is now.
    pub files: Vec<FileDiffBody>,
    /// The project changed since the run began (accept will refuse).
    pub project_changed: bool,
}

impl From<RunDiff> for RunDiffBody {
    fn from(d: RunDiff) -> Self {
        Self {
            files: d
                .files
                .into_iter()
                .map(|f| FileDiffBody {
                    path: f.path,
                    diff: f.diff,
                })
                .collect(),
            project_changed: d.project_changed,
        }
    }
}

/// A run to start.
#[derive(Debug, Clone, Object)]
#[oai(rename = "NewTddRun", deny_unknown_fields)]
pub struct NewRunBody {
    /// The project directory, inside one of the server's `TRAE_AGENT_WORKSPACES`.
    pub path: String,
    /// The test command as one line (`pytest -q`), split like a shell splits words but never
    /// run by one; give this or `test_argv`.
    pub test: Option<String>,
    /// The test command as argv; give this or `test`.
    pub test_argv: Option<Vec<String>>,
    /// Model rounds at most, 1–50 (default 5).
    pub max_iterations: Option<u32>,
    /// The model to ask (default: each provider's own).
    pub model: Option<String>,
    /// What the run may spend on models.
    pub budget: Option<BudgetBody>,
}

impl NewRunBody {
    fn into_new_run(self) -> Result<NewRun, ApiError> {
        let test = match (self.test, self.test_argv) {
            (Some(line), None) => parse_argv(&line)?,
            (None, Some(argv)) => argv,
            _ => {
                return Err(trae_core::Error::validation(
                    "test",
                    "give the test command as `test` (one line) or `test_argv`, not both",
                )
                .into());
            }
        };
        let budget = self.budget.map_or_else(BudgetLimits::default, Into::into);
        Ok(NewRun {
            path: self.path,
            test,
            max_iterations: self.max_iterations,
            model: self.model,
            budget,
        })
    }
}

/// The answer to a create.
#[derive(Debug, ApiResponse)]
pub enum Created {
    /// The run, queued; a worker executes it.
    #[oai(status = 201)]
    Run(Json<RunBody>, #[oai(header = "Location")] String),
}

#[OpenApi(tag = "ApiTags::Agents")]
impl TddApi {
    /// Starts a TDD run on a project inside the server's agent workspaces: its tests are run
    /// in a working copy, a model is shown the failures and edits the code until they pass.
    /// Needs `agents:run`. 422 when the path is outside the workspaces (or does not exist),
    /// the test command is missing or malformed, or a limit is out of range.
    #[oai(
        path = "/api/tdd/runs",
        method = "post",
        operation_id = "create_tdd_run"
    )]
    async fn create(&self, auth: Auth, body: JsonBody<NewRunBody>) -> Result<Created, ApiError> {
        let new = body.0.into_new_run()?;
        let run = self.runs.create(auth.principal(), new).await?;
        let location = format!("/api/tdd/runs/{}", run.id);
        Ok(Created::Run(Json(run.into()), location))
    }

    /// Runs, newest first: your own, or everyone's with `agents:admin`.
    #[oai(path = "/api/tdd/runs", method = "get", operation_id = "list_tdd_runs")]
    async fn list(
        &self,
        auth: Auth,
        status: Query<Option<RunStatusBody>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Page<RunBody>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        let filter = RunFilter {
            status: status.0.map(Into::into),
            ..RunFilter::default()
        };
        let page = self.runs.list(auth.principal(), filter, page).await?;
        Ok(Json(page.into()))
    }

    /// A run with every step (prompt summary, answer, edits applied and refused, test
    /// results, tokens, cost, time). 404 for a run that is not yours (without `agents:admin`).
    #[oai(
        path = "/api/tdd/runs/:id",
        method = "get",
        operation_id = "get_tdd_run"
    )]
    async fn get(&self, auth: Auth, id: Path<Uuid>) -> Result<Json<RunDetailBody>, ApiError> {
        let detail = self.runs.get(auth.principal(), id.0).await?;
        Ok(Json(detail.into()))
    }

    /// The run's changes as unified diffs, one per file.
    #[oai(
        path = "/api/tdd/runs/:id/diff",
        method = "get",
        operation_id = "get_tdd_run_diff"
    )]
    async fn diff(&self, auth: Auth, id: Path<Uuid>) -> Result<Json<RunDiffBody>, ApiError> {
        let diff = self.runs.diff(auth.principal(), id.0).await?;
        Ok(Json(diff.into()))
    }

    /// Cancels a run that has not ended (its test command is killed); 409 when it has.
    #[oai(
        path = "/api/tdd/runs/:id/cancel",
        method = "post",
        operation_id = "cancel_tdd_run"
    )]
    async fn cancel(&self, auth: Auth, id: Path<Uuid>) -> Result<Json<RunBody>, ApiError> {
        let run = self.runs.cancel(auth.principal(), id.0).await?;
        Ok(Json(run.into()))
    }

    /// Writes a passed run's changes into the project. 409 when the run did not pass, was
    /// accepted already, or the project changed since the run began.
    #[oai(
        path = "/api/tdd/runs/:id/accept",
        method = "post",
        operation_id = "accept_tdd_run"
    )]
    async fn accept(&self, auth: Auth, id: Path<Uuid>) -> Result<Json<RunBody>, ApiError> {
        let run = self.runs.accept(auth.principal(), id.0).await?;
        Ok(Json(run.into()))
    }
}
