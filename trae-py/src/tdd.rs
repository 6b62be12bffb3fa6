//! The TDD agent (`store.tdd`, blocking `trae.Tdd`, asyncio `trae.aio.Tdd`): runs executed
//! in-process to their end, read back with their trajectory (`trae.TddRun`, `trae.TddStep`,
//! `trae.TddEdit`, `trae.TestReport`, `trae.TestFailure`), their changes as diffs
//! (`trae.TddRunDiff`), cancelled, accepted into the project, and replayed
//! (`trae.TddReplay`).
//!
//! Both service classes come from one definition ([`tdd_service!`]), expanded once with
//! [`blocking`] and [`interruptible`] and once with [`awaitable`] and [`cancel_on_drop`].
//! Everything else (who may run and see what, which projects are allowed, the limits, the
//! loop itself) is the library's, under the store's principal; attribute names and status
//! strings are those of the HTTP API's bodies (`/api/tdd/runs`).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pyo3::BoundObject;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyString};
use serde::Serialize;
use tokio::task::JoinError;
use tokio_util::sync::CancellationToken;
use trae_agents::sandbox::{FileDiff, parse_argv};
use trae_agents::{AgentError, NewRun, Replay, RunDetail, RunDiff};
use trae_core::{EditOutcome, Error, RunFilter, RunStatus};
use uuid::Uuid;

use crate::args;
use crate::convert::type_name;
use crate::errors::{AgentAnswer, to_py_err};
use crate::handle::{Handle, awaitable, blocking};
use crate::llm::limits_of;
use crate::runtime;
use crate::types::PageOut;

/// How often a blocking run looks for Ctrl-C.
const SIGNAL_CHECK: Duration = Duration::from_millis(200);

/// `repr()` of a Python string.
fn quoted(py: Python<'_>, text: &str) -> PyResult<String> {
    Ok(PyString::new(py, text).repr()?.to_cow()?.into_owned())
}

/// `repr()` of an optional Python string.
fn quoted_opt(py: Python<'_>, text: Option<&str>) -> PyResult<String> {
    text.map_or_else(|| Ok("None".to_owned()), |text| quoted(py, text))
}

/// The name an enum of trae-core has on the wire (its serde name, as the HTTP API shows it).
fn wire_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `Python`'s spelling of a bool.
fn py_bool(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

/// One failing test of a `TestReport`. Read-only.
///
/// Attributes: `test_id` (as its runner names it; for a compile or collection failure, the
/// file), `file` and `line` (where it failed, when known), `message` (why, in one line),
/// `excerpt` (the runner's output about it, both ends kept) and `kind` ("failed", "error",
/// "collection", "compile" or "command").
#[pyclass(frozen, module = "trae")]
pub(crate) struct TestFailure(trae_core::TestFailure);

#[pymethods]
impl TestFailure {
    /// The test as its runner names it (for a compile or collection failure, the file).
    #[getter]
    fn test_id(&self) -> &str {
        &self.0.test_id
    }

    /// The file it failed in, relative to the project, or `None` when unknown.
    #[getter]
    fn file(&self) -> Option<&str> {
        self.0.file.as_deref()
    }

    /// The line it failed at, or `None` when unknown.
    #[getter]
    fn line(&self) -> Option<u32> {
        self.0.line
    }

    /// Why, in one line.
    #[getter]
    fn message(&self) -> &str {
        &self.0.message
    }

    /// The runner's output about it (traceback, panic, compiler diagnostic), both ends kept.
    #[getter]
    fn excerpt(&self) -> &str {
        &self.0.excerpt
    }

    /// "failed", "error", "collection", "compile" or "command".
    #[getter]
    fn kind(&self) -> String {
        wire_name(&self.0.kind)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "TestFailure(test_id={}, kind={}, file={}, line={}, message={})",
            quoted(py, &self.0.test_id)?,
            quoted(py, &wire_name(&self.0.kind))?,
            quoted_opt(py, self.0.file.as_deref())?,
            self.0
                .line
                .map_or_else(|| "None".to_owned(), |l| l.to_string()),
            quoted(py, &self.0.message)?,
        ))
    }
}

/// What one test run came to. Read-only.
///
/// Attributes: `green` (the command succeeded and nothing failed), `passed`, `failed`,
/// `errors` (collection and compile failures included), `skipped`, `exit_code` (`None` when
/// the command was killed) and `failures` (`TestFailure`s, in the runner's order).
#[pyclass(frozen, module = "trae")]
pub(crate) struct TestReport(trae_core::TestReport);

#[pymethods]
impl TestReport {
    /// Whether it was green: the command succeeded and nothing failed.
    #[getter]
    fn green(&self) -> bool {
        self.0.is_green()
    }

    /// Tests that passed.
    #[getter]
    fn passed(&self) -> u32 {
        self.0.passed
    }

    /// Tests that failed (assertions).
    #[getter]
    fn failed(&self) -> u32 {
        self.0.failed
    }

    /// Tests that errored, collection and compile failures included.
    #[getter]
    fn errors(&self) -> u32 {
        self.0.errors
    }

    /// Tests skipped.
    #[getter]
    fn skipped(&self) -> u32 {
        self.0.skipped
    }

    /// The command's exit code, or `None` when it was killed.
    #[getter]
    fn exit_code(&self) -> Option<i32> {
        self.0.exit_code
    }

    /// Every failure, in the runner's order (a new list on each access).
    #[getter]
    fn failures(&self) -> Vec<TestFailure> {
        self.0.failures.iter().cloned().map(TestFailure).collect()
    }

    fn __repr__(&self) -> String {
        let r = &self.0;
        format!(
            "TestReport(green={}, passed={}, failed={}, errors={}, skipped={}, exit_code={}, \
             failures={})",
            py_bool(r.is_green()),
            r.passed,
            r.failed,
            r.errors,
            r.skipped,
            r.exit_code
                .map_or_else(|| "None".to_owned(), |c| c.to_string()),
            r.failures.len(),
        )
    }
}

/// One edit block of a model's answer and what became of it. Read-only.
///
/// Attributes: `path` (as the model named it), `search` (empty for a new file), `replace`,
/// `whole_file`, `applied`, `placement` (how an applied block was placed: "exact",
/// "indentation", "blank_lines", "elision", "whitespace", "new_file" or "whole_file"; else
/// `None`), `refusal` (why a refused block was refused: "unsafe_path", "missing_file",
/// "too_short", "ambiguous", "not_found", "elision_mismatch", "whole_file_refused" or
/// "malformed"; else `None`) and `hint` (the lines a refused block most likely meant).
#[pyclass(frozen, module = "trae")]
pub(crate) struct TddEdit(trae_core::EditResult);

#[pymethods]
impl TddEdit {
    /// The file, as the model named it.
    #[getter]
    fn path(&self) -> &str {
        &self.0.block.path
    }

    /// The text to find; empty for a new file.
    #[getter]
    fn search(&self) -> &str {
        &self.0.block.search
    }

    /// The text put in its place.
    #[getter]
    fn replace(&self) -> &str {
        &self.0.block.replace
    }

    /// Whether the block gave the whole new content of a small file.
    #[getter]
    fn whole_file(&self) -> bool {
        self.0.block.whole_file
    }

    /// Whether it was applied.
    #[getter]
    fn applied(&self) -> bool {
        self.0.applied()
    }

    /// How an applied block's search text was placed, else `None`.
    #[getter]
    fn placement(&self) -> Option<String> {
        match &self.0.outcome {
            EditOutcome::Applied { placement } => Some(wire_name(placement)),
            EditOutcome::Refused { .. } => None,
        }
    }

    /// Why a refused block was refused, else `None`.
    #[getter]
    fn refusal(&self) -> Option<String> {
        match &self.0.outcome {
            EditOutcome::Applied { .. } => None,
            EditOutcome::Refused { reason, .. } => Some(wire_name(reason)),
        }
    }

    /// The lines of the file a refused block most likely meant, when any are.
    #[getter]
    fn hint(&self) -> Option<&str> {
        match &self.0.outcome {
            EditOutcome::Applied { .. } => None,
            EditOutcome::Refused { hint, .. } => hint.as_deref(),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "TddEdit(path={}, applied={}, placement={}, refusal={})",
            quoted(py, &self.0.block.path)?,
            py_bool(self.0.applied()),
            quoted_opt(py, self.placement().as_deref())?,
            quoted_opt(py, self.refusal().as_deref())?,
        ))
    }
}

/// One step of a run: step 0 runs the tests as they were; each later step is a model round
/// (the prompt, the answer, the edits) and the test run after its edits. Read-only.
///
/// Attributes: `index`, `prompt_summary` (what the model was shown, in a line; `None` for
/// step 0), `answer` (the model's answer, whole), `edits` (`TddEdit`s), `report` (the
/// `TestReport` after the edits), `tokens` and `cost` (of the model round), `elapsed_ms`
/// and `at` (when it ended, timezone-aware UTC).
#[pyclass(frozen, module = "trae")]
pub(crate) struct TddStep(trae_core::TddStep);

#[pymethods]
impl TddStep {
    /// 0 for the first test run, then 1, 2, … per model round.
    #[getter]
    fn index(&self) -> u32 {
        self.0.index
    }

    /// What the model was shown, summarised; `None` for step 0.
    #[getter]
    fn prompt_summary(&self) -> Option<&str> {
        self.0.prompt_summary.as_deref()
    }

    /// The model's answer, whole; `None` for step 0.
    #[getter]
    fn answer(&self) -> Option<&str> {
        self.0.answer.as_deref()
    }

    /// Every edit block of the answer and what became of it (a new list on each access).
    #[getter]
    fn edits(&self) -> Vec<TddEdit> {
        self.0.edits.iter().cloned().map(TddEdit).collect()
    }

    /// The test run after the edits.
    #[getter]
    fn report(&self) -> Option<TestReport> {
        self.0.report.clone().map(TestReport)
    }

    /// Tokens of the model round.
    #[getter]
    fn tokens(&self) -> u64 {
        self.0.tokens
    }

    /// Dollars of the model round.
    #[getter]
    fn cost(&self) -> f64 {
        self.0.cost
    }

    /// How long the step took, model and tests included, in milliseconds.
    #[getter]
    fn elapsed_ms(&self) -> u64 {
        self.0.elapsed_ms
    }

    /// When the step ended (timezone-aware, UTC).
    #[getter]
    fn at(&self) -> DateTime<Utc> {
        self.0.at
    }

    fn __repr__(&self) -> String {
        let s = &self.0;
        let applied = s.edits.iter().filter(|e| e.applied()).count();
        format!(
            "TddStep(index={}, green={}, edits_applied={applied}, edits_refused={}, tokens={}, \
             elapsed_ms={})",
            s.index,
            s.report.as_ref().map_or("None", |r| py_bool(r.is_green())),
            s.edits.len() - applied,
            s.tokens,
            s.elapsed_ms,
        )
    }
}

/// A TDD run. Read-only.
///
/// Attributes: `id` (`uuid.UUID`), `owner_id` (the user it runs for; `None` for the
/// system), `project` (the canonical project directory), `test` (the test command as argv),
/// `max_iterations`, `model` (`None`: each provider's default), `status` ("queued",
/// "running", "passed", "failed", "budget_exhausted", "stuck", "cancelled" or "error"),
/// `reason` (why it ended so, in a sentence), `iterations` (model rounds made), `tokens`,
/// `cost` (dollars), `final_report` (the last `TestReport`), `changed_files`, `created_at`,
/// `started_at`, `finished_at`, `accepted_at` (timezone-aware UTC) and `steps` (the
/// `TddStep`s when read with `get`, else `None`).
#[pyclass(frozen, module = "trae")]
pub(crate) struct TddRun {
    run: trae_core::TddRun,
    steps: Option<Vec<trae_core::TddStep>>,
}

impl From<trae_core::TddRun> for TddRun {
    fn from(run: trae_core::TddRun) -> Self {
        Self { run, steps: None }
    }
}

impl From<RunDetail> for TddRun {
    fn from(detail: RunDetail) -> Self {
        Self {
            run: detail.run,
            steps: Some(detail.steps),
        }
    }
}

#[pymethods]
impl TddRun {
    /// The run's identifier.
    #[getter]
    fn id(&self) -> Uuid {
        self.run.id
    }

    /// The user it runs for; `None` for the system.
    #[getter]
    fn owner_id(&self) -> Option<Uuid> {
        self.run.owner
    }

    /// The project directory (canonical).
    #[getter]
    fn project(&self) -> &str {
        &self.run.spec.project
    }

    /// The test command as argv (a new list on each access).
    #[getter]
    fn test(&self) -> Vec<String> {
        self.run.spec.test_command.clone()
    }

    /// Model rounds at most.
    #[getter]
    fn max_iterations(&self) -> u32 {
        self.run.spec.max_iterations
    }

    /// The model asked; `None` for each provider's default.
    #[getter]
    fn model(&self) -> Option<&str> {
        self.run.spec.model.as_deref()
    }

    /// "queued", "running", "passed", "failed", "budget_exhausted", "stuck", "cancelled" or
    /// "error".
    #[getter]
    fn status(&self) -> &'static str {
        self.run.status.as_str()
    }

    /// Why it ended as it did, in a sentence; `None` before it ends.
    #[getter]
    fn reason(&self) -> Option<&str> {
        self.run.reason.as_deref()
    }

    /// Model rounds made.
    #[getter]
    fn iterations(&self) -> u32 {
        self.run.iterations
    }

    /// Tokens spent.
    #[getter]
    fn tokens(&self) -> u64 {
        self.run.tokens
    }

    /// Dollars spent.
    #[getter]
    fn cost(&self) -> f64 {
        self.run.cost
    }

    /// The last test run's report, or `None` before there was one.
    #[getter]
    fn final_report(&self) -> Option<TestReport> {
        self.run.final_report.clone().map(TestReport)
    }

    /// The files the run changed, relative to the project (a new list on each access).
    #[getter]
    fn changed_files(&self) -> Vec<String> {
        self.run.files.keys().cloned().collect()
    }

    /// When it was created (timezone-aware, UTC).
    #[getter]
    fn created_at(&self) -> DateTime<Utc> {
        self.run.created_at
    }

    /// When it began, or `None`.
    #[getter]
    fn started_at(&self) -> Option<DateTime<Utc>> {
        self.run.started_at
    }

    /// When it ended, or `None`.
    #[getter]
    fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.run.finished_at
    }

    /// When its changes were accepted into the project, or `None`.
    #[getter]
    fn accepted_at(&self) -> Option<DateTime<Utc>> {
        self.run.accepted_at
    }

    /// Its steps in order when read with `get` (a new list on each access), else `None`.
    #[getter]
    fn steps(&self) -> Option<Vec<TddStep>> {
        self.steps
            .as_ref()
            .map(|steps| steps.iter().cloned().map(TddStep).collect())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let r = &self.run;
        Ok(format!(
            "TddRun(id=UUID('{}'), status={}, iterations={}, tokens={}, project={})",
            r.id,
            quoted(py, r.status.as_str())?,
            r.iterations,
            r.tokens,
            quoted(py, &r.spec.project)?,
        ))
    }
}

/// One file's change in a `TddRunDiff`. Read-only.
///
/// Attributes: `path` (relative to the project) and `diff` (a unified diff).
#[pyclass(frozen, module = "trae")]
pub(crate) struct TddFileDiff(FileDiff);

#[pymethods]
impl TddFileDiff {
    /// The file, relative to the project.
    #[getter]
    fn path(&self) -> &str {
        &self.0.path
    }

    /// The unified diff (`--- a/path`, `+++ b/path`, hunks).
    #[getter]
    fn diff(&self) -> &str {
        &self.0.diff
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("TddFileDiff(path={})", quoted(py, &self.0.path)?))
    }
}

/// A run's changes. Read-only.
///
/// Attributes: `files` (a `TddFileDiff` per changed file, against the project as it is now)
/// and `project_changed` (the project changed since the run began, so `accept` refuses).
#[pyclass(frozen, module = "trae")]
pub(crate) struct TddRunDiff(RunDiff);

#[pymethods]
impl TddRunDiff {
    /// One diff per changed file, against the project as it is now (a new list on each
    /// access).
    #[getter]
    fn files(&self) -> Vec<TddFileDiff> {
        self.0.files.iter().cloned().map(TddFileDiff).collect()
    }

    /// Whether the project changed since the run began (then `accept` refuses).
    #[getter]
    fn project_changed(&self) -> bool {
        self.0.project_changed
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let paths = self
            .0
            .files
            .iter()
            .map(|f| quoted(py, &f.path))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(format!(
            "TddRunDiff(files=[{}], project_changed={})",
            paths.join(", "),
            py_bool(self.0.project_changed)
        ))
    }
}

/// What replaying a run reached, beside what it recorded. Read-only.
///
/// Attributes: `recorded` (the run's status), `green` (whether each replayed step's tests
/// were green, by step index), `matches` (every step came out as recorded) and
/// `final_report` (the replay's last `TestReport`).
#[pyclass(frozen, module = "trae")]
pub(crate) struct TddReplay(Replay);

#[pymethods]
impl TddReplay {
    /// The recorded run's status.
    #[getter]
    fn recorded(&self) -> &'static str {
        self.0.recorded.as_str()
    }

    /// Whether each replayed step's tests were green, by step index (a new list on each
    /// access).
    #[getter]
    fn green(&self) -> Vec<bool> {
        self.0.green.clone()
    }

    /// Whether every replayed step's test run came out as recorded (green or not, and the
    /// same failing tests).
    #[getter]
    fn matches(&self) -> bool {
        self.0.matches
    }

    /// The last test run of the replay.
    #[getter]
    fn final_report(&self) -> TestReport {
        TestReport(self.0.final_report.clone())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let green = self
            .0
            .green
            .iter()
            .map(|g| py_bool(*g))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(format!(
            "TddReplay(recorded={}, green=[{green}], matches={})",
            quoted(py, self.0.recorded.as_str())?,
            py_bool(self.0.matches)
        ))
    }
}

/// The test command: a command line, split as a POSIX shell splits words (never run by
/// one), or its argv.
fn test_arg(test: &Bound<'_, PyAny>) -> Result<Vec<String>, AgentError> {
    if let Ok(line) = test.cast::<PyString>() {
        return parse_argv(&line.to_string());
    }
    test.extract::<Vec<String>>().map_err(|_| {
        AgentError::invalid(
            "test",
            format!(
                "must be a command line (str) or its argv (a list of str), not {}",
                type_name(test)
            ),
        )
    })
}

/// The most model rounds, as given; a whole number out of range is clamped so that the
/// service's own range check is the one that answers.
fn iterations_arg(value: Option<&Bound<'_, PyAny>>) -> trae_core::Result<Option<u32>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    let Some(number) = value
        .cast::<PyInt>()
        .ok()
        .filter(|_| !value.is_instance_of::<PyBool>())
    else {
        return Err(Error::validation(
            "max_iterations",
            format!("must be a whole number, not {}", type_name(value)),
        ));
    };
    Ok(Some(number.extract::<u32>().unwrap_or_else(|_| {
        if number.lt(0).unwrap_or(false) {
            0
        } else {
            u32::MAX
        }
    })))
}

/// A run to create, from `run(...)`'s arguments.
fn new_run(
    path: PathBuf,
    test: &Bound<'_, PyAny>,
    max_iterations: Option<&Bound<'_, PyAny>>,
    model: Option<String>,
    budget: Option<&Bound<'_, PyAny>>,
) -> Result<NewRun, AgentError> {
    let path = path
        .into_os_string()
        .into_string()
        .map_err(|_| AgentError::invalid("path", "must be valid UTF-8"))?;
    Ok(NewRun {
        path,
        test: test_arg(test)?,
        max_iterations: iterations_arg(max_iterations)?,
        model,
        budget: limits_of(budget)?,
    })
}

/// The status filter of `list`.
fn status_arg(status: Option<&str>) -> trae_core::Result<Option<RunStatus>> {
    status.map(RunStatus::parse).transpose()
}

/// The outcome of work spawned on the runtime; a panic in it resumes here.
fn joined<T>(joined: Result<trae_core::Result<T>, JoinError>) -> trae_core::Result<T> {
    match joined {
        Ok(outcome) => outcome,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(Error::Unavailable(format!("the work was stopped: {e}"))),
    }
}

/// Runs `work` to its end as a task of its own on the shared runtime, waiting for it with
/// the GIL released in short slices so that Ctrl-C is seen. When a signal handler raises
/// (KeyboardInterrupt), `cancel` is cancelled and the work is waited for as it winds down (a
/// run stops at once and is stored as cancelled), then the exception is raised.
fn interruptible<'py, T, F>(
    py: Python<'py>,
    cancel: CancellationToken,
    work: F,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = trae_core::Result<T>> + Send + 'static,
    T: IntoPyObject<'py> + Send + 'static,
{
    let mut task = runtime().spawn(work);
    let outcome = loop {
        let waited = py.detach(|| {
            runtime().block_on(async { tokio::time::timeout(SIGNAL_CHECK, &mut task).await })
        });
        match waited {
            Ok(outcome) => break outcome,
            Err(_) => {
                if let Err(interrupt) = py.check_signals() {
                    cancel.cancel();
                    let _ = py.detach(|| runtime().block_on(&mut task));
                    return Err(interrupt);
                }
            }
        }
    };
    joined(outcome)
        .map_err(|e| to_py_err(py, e))?
        .into_pyobject(py)
        .map(|value| value.into_any().into_bound())
        .map_err(Into::into)
}

/// Starts `work` as a task of its own on the shared runtime and returns an asyncio future of
/// its outcome. Cancelling the future cancels `cancel`, so the work winds down (a run stops
/// at once and is stored as cancelled) rather than being dropped mid-step.
fn cancel_on_drop<'py, T, F>(
    py: Python<'py>,
    cancel: CancellationToken,
    work: F,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = trae_core::Result<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    awaitable(py, async move {
        // Dropped, with this future, when the asyncio future is cancelled.
        let guard = cancel.drop_guard();
        let outcome = tokio::spawn(work).await;
        guard.disarm();
        joined(outcome)
    })
}

/// Defines a TDD service class: quick calls run with `$run`, runs and replays with
/// `$to_end`.
macro_rules! tdd_service {
    (
        run: $run:path,
        to_end: $to_end:path,
        module: $module:tt,
        class: $Tdd:ident,
        doc: $doc:tt $(,)?
    ) => {
        #[doc = concat!(
            "The TDD agent (`store.tdd`)", $doc, "\n\n",
            "A run tests a project in a working copy, shows a model (an API-registry endpoint ",
            "of capability `llm.chat`) the failures, applies the edits it answers with and ",
            "tests again, until the tests pass or the iterations, the budget or the patience ",
            "run out; the project itself changes only on `accept`. Projects must lie inside ",
            "`TRAE_AGENT_WORKSPACES`. Calls act as the store's principal: `agents:run` runs ",
            "and reads one's own runs, `agents:admin` everyone's; a run of someone else's is ",
            "`NotFound`."
        )]
        #[pyclass(frozen, name = "Tdd", module = $module)]
        pub(crate) struct $Tdd {
            pub(crate) handle: Arc<Handle>,
        }

        #[pymethods]
        impl $Tdd {
            /// Creates a run and executes it here to its end; the finished `TddRun` (read
            /// its steps with `get`).
            ///
            /// `path`: the project directory, inside `TRAE_AGENT_WORKSPACES`. `test`: the
            /// test command as one line (split as a shell splits words, never run by one)
            /// or as argv. `max_iterations`: model rounds at most, 1–50 (default 5).
            /// `model`: the model to ask (default: the endpoint's own). `budget`: what the
            /// run may spend on models, a `trae.Budget` (its limits, counted from the
            /// run's start) or a dict of limits as `Budget.limits` gives them.
            ///
            /// How the run ended is its `status`, not an exception. Raises
            /// `ValidationError` (with `field`: `path`, `test`, `max_iterations`, `budget…`)
            /// for bad input, `PermissionDenied` without `agents:run`. Ctrl-C (or
            /// cancelling the awaiting task) stops the run, which is stored as cancelled.
            #[pyo3(signature = (path, test, *, max_iterations = None, model = None,
                                budget = None))]
            fn run<'py>(
                &self,
                py: Python<'py>,
                path: PathBuf,
                test: &Bound<'py, PyAny>,
                max_iterations: Option<&Bound<'py, PyAny>>,
                model: Option<String>,
                budget: Option<&Bound<'py, PyAny>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let new = new_run(path, test, max_iterations, model, budget);
                let handle = Arc::clone(&self.handle);
                let cancel = CancellationToken::new();
                let stop = cancel.clone();
                $to_end(py, cancel, AgentAnswer::of(async move {
                    let run = handle.trae()?.run_tdd(handle.principal(), new?, stop).await?;
                    Ok::<_, AgentError>(TddRun::from(run))
                }))
            }

            /// The run with this id (a `uuid.UUID` or its string form), with its `steps`.
            /// Raises `NotFound` for a run that does not exist or is not the caller's.
            fn get<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let handle = Arc::clone(&self.handle);
                $run(py, AgentAnswer::of(async move {
                    let detail = handle.trae()?.tdd().get(handle.principal(), id?).await?;
                    Ok::<_, AgentError>(TddRun::from(detail))
                }))
            }

            /// One `Page` of runs, newest first: the caller's own, or everyone's with
            /// `agents:admin`. `status` filters; `limit` (1–500) and `offset` choose the
            /// page.
            #[pyo3(
                signature = (*, status = None, limit = None, offset = None),
                text_signature = "($self, *, status=None, limit=50, offset=0)"
            )]
            fn list<'py>(
                &self,
                py: Python<'py>,
                status: Option<&str>,
                limit: Option<&Bound<'py, PyInt>>,
                offset: Option<&Bound<'py, PyInt>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let status = status_arg(status);
                let page = args::page(limit, offset);
                let handle = Arc::clone(&self.handle);
                $run(py, AgentAnswer::of(async move {
                    let filter = RunFilter {
                        status: status?,
                        ..RunFilter::default()
                    };
                    let runs = handle.trae()?.tdd().list(handle.principal(), filter, page?).await?;
                    Ok::<_, AgentError>(PageOut(runs.map(TddRun::from)))
                }))
            }

            /// The run's changes as a `TddRunDiff`, one unified diff per file against the
            /// project as it is now.
            fn diff<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let handle = Arc::clone(&self.handle);
                $run(py, AgentAnswer::of(async move {
                    let diff = handle.trae()?.tdd().diff(handle.principal(), id?).await?;
                    Ok::<_, AgentError>(TddRunDiff(diff))
                }))
            }

            /// Cancels a run that has not ended (a running one stops at its next step, its
            /// test command killed) and returns it. Raises `Conflict` when it has ended.
            fn cancel<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let handle = Arc::clone(&self.handle);
                $run(py, AgentAnswer::of(async move {
                    let run = handle.trae()?.tdd().cancel(handle.principal(), id?).await?;
                    Ok::<_, AgentError>(TddRun::from(run))
                }))
            }

            /// Writes a passed run's changes into the project and returns the run. Raises
            /// `Conflict` when the run did not pass, was accepted already, or the project
            /// changed since the run began.
            fn accept<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let handle = Arc::clone(&self.handle);
                $run(py, AgentAnswer::of(async move {
                    let run = handle.trae()?.tdd().accept(handle.principal(), id?).await?;
                    Ok::<_, AgentError>(TddRun::from(run))
                }))
            }

            /// Re-applies a run's recorded edits, step by step, to a fresh working copy of
            /// its project and re-runs the tests after each, without a model; a
            /// `TddReplay`. Needs what `get` needs; Ctrl-C stops it.
            fn replay<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let handle = Arc::clone(&self.handle);
                let cancel = CancellationToken::new();
                let stop = cancel.clone();
                $to_end(py, cancel, AgentAnswer::of(async move {
                    let (trae, id) = (handle.trae()?, id?);
                    let replay = trae.replay_tdd(handle.principal(), id, &stop).await?;
                    Ok::<_, AgentError>(TddReplay(replay))
                }))
            }

            fn __repr__(&self) -> String {
                format!("<{}.Tdd backend='{}'>", $module, self.handle.backend())
            }
        }
    };
}

tdd_service! {
    run: blocking,
    to_end: interruptible,
    module: "trae",
    class: Tdd,
    doc: ".",
}

tdd_service! {
    run: awaitable,
    to_end: cancel_on_drop,
    module: "trae.aio",
    class: AsyncTdd,
    doc: "; the methods of `trae.Tdd` returning awaitables.",
}
