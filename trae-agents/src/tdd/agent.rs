//! The TDD loop: run the tests in a working copy; while they fail, show the model the
//! failures and the files they point to, apply the edit blocks it answers with, and run the
//! tests again; until they pass, the iterations or the budget run out, the run is cancelled,
//! or it is stuck (the same failures after the same edits, twice). Every step is stored and
//! published on the event stream (topic `tdd`) as it ends, and a run is `passed` only when its
//! last test run was green.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio_util::sync::CancellationToken;
use trae_core::llm::budget::RunBudget;
use trae_core::llm::chat::{ChatMessage, ChatModel, ChatRequest};
use trae_core::tdd::edit::{EditOutcome, EditResult, Refusal};
use trae_core::tdd::run::{RunEnd, RunStatus, TddRepository, TddRun, TddStep};
use trae_core::tdd::test_report::TestReport;
use trae_core::{Clock, EventBus};
use uuid::Uuid;

use super::context::{self, Round, SYSTEM_PROMPT};
use super::edits::{ParsedBlock, apply_blocks, parse_blocks};
use super::test_runner::run_tests;
use crate::error::{AgentError, Result};
use crate::sandbox::{CommandLimits, SandboxedCommand, WorkingCopy, project_digest};

/// The event stream topic (and event source) of TDD runs.
pub const EVENT_SOURCE: &str = "tdd";

/// How the agent runs commands and talks to the model.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// Where working copies are made (the system's temporary directory when `None`).
    pub scratch: Option<PathBuf>,
    /// Limits of each test command.
    pub limits: CommandLimits,
    /// Variables set for test commands on top of the inherited allow-list.
    pub env: BTreeMap<String, String>,
    /// Paths outside the working copy that test commands may write to (a shared cargo target
    /// directory, say).
    pub writable: Vec<PathBuf>,
    /// The most tokens a round's prompt may take.
    pub context_tokens: usize,
    /// The most tokens of one answer.
    pub answer_tokens: u32,
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            scratch: None,
            limits: CommandLimits::default(),
            env: BTreeMap::new(),
            writable: Vec::new(),
            context_tokens: 6_000,
            answer_tokens: 2_048,
        }
    }
}

/// The TDD agent: runs stored runs to their end.
#[derive(Clone)]
pub struct TddAgent {
    repo: Arc<dyn TddRepository>,
    events: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
    settings: AgentSettings,
}

impl std::fmt::Debug for TddAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TddAgent")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// How a run's loop ended, before it is stored.
struct Ending {
    status: RunStatus,
    reason: String,
    report: Option<TestReport>,
}

impl Ending {
    fn new(status: RunStatus, reason: impl Into<String>, report: Option<&TestReport>) -> Self {
        Self {
            status,
            reason: reason.into(),
            report: report.cloned(),
        }
    }
}

/// What a replay reached, beside what the run recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// The recorded run's status.
    pub recorded: RunStatus,
    /// Whether each replayed step's tests were green, by step index.
    pub green: Vec<bool>,
    /// Whether every replayed step's test run came out as recorded (green or not, and the
    /// same failing tests).
    pub matches: bool,
    /// The last test run of the replay.
    pub final_report: TestReport,
}

impl TddAgent {
    /// An agent storing runs in `repo` and publishing their steps on `events`.
    pub fn new(
        repo: Arc<dyn TddRepository>,
        events: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
        settings: AgentSettings,
    ) -> Self {
        Self {
            repo,
            events,
            clock,
            settings,
        }
    }

    /// Its settings.
    pub fn settings(&self) -> &AgentSettings {
        &self.settings
    }

    /// Where it keeps runs.
    pub fn repository(&self) -> &Arc<dyn TddRepository> {
        &self.repo
    }

    /// Ends a run that cannot be executed (`error`, with `reason`), if it has not ended.
    pub async fn abandon(&self, id: Uuid, reason: &str) -> Result<()> {
        let end = RunEnd {
            status: RunStatus::Error,
            reason: reason.to_owned(),
            final_report: None,
            files: BTreeMap::new(),
            originals: BTreeMap::new(),
        };
        self.repo.finish(id, &end, self.clock.now()).await?;
        Ok(())
    }

    /// Runs the queued run `id` to its end with `model`, and returns it as stored. `cancel`
    /// stops it between steps and kills a running test command; the run is also stopped when
    /// its stored status becomes final meanwhile (cancelled from another node).
    pub async fn execute(
        &self,
        id: Uuid,
        model: Arc<dyn ChatModel>,
        cancel: CancellationToken,
    ) -> Result<TddRun> {
        let run = self.repo.get(id).await?;
        let project = PathBuf::from(&run.spec.project);
        let scratch = self.settings.scratch.clone();
        let prepared = tokio::task::spawn_blocking(move || {
            let digest = project_digest(&project)?;
            let copy = WorkingCopy::create(&project, scratch.as_deref())?;
            Ok::<_, AgentError>((copy, digest))
        })
        .await
        .map_err(|e| AgentError::Sandbox(format!("making the working copy: {e}")))
        .and_then(|made| made);
        let (copy, digest) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                // A run that cannot begin ends now rather than staying queued.
                self.abandon(id, &error.to_string()).await?;
                return Err(error);
            }
        };
        self.repo.start(id, &digest, self.clock.now()).await?;
        self.publish(
            &run,
            "tdd.run.started",
            json!({ "project": run.spec.project, "max_iterations": run.spec.max_iterations }),
        );

        let watch = self.watch_for_cancellation(id, cancel.clone());
        let ending = match self.iterate(&run, &copy, model, &cancel).await {
            Ok(ending) => ending,
            Err(AgentError::Core(trae_core::Error::BudgetExceeded { message, .. })) => {
                Ending::new(RunStatus::BudgetExhausted, message, None)
            }
            Err(error) => Ending::new(RunStatus::Error, error.to_string(), None),
        };
        watch.abort();
        let ending = if cancel.is_cancelled() && ending.status != RunStatus::Passed {
            Ending {
                status: RunStatus::Cancelled,
                reason: "cancelled".into(),
                ..ending
            }
        } else {
            ending
        };
        let end = RunEnd {
            status: ending.status,
            reason: ending.reason,
            final_report: ending.report,
            files: copy.changed_files(),
            originals: copy.original_files(),
        };
        self.repo.finish(id, &end, self.clock.now()).await?;
        let stored = self.repo.get(id).await?;
        self.publish(
            &stored,
            "tdd.run.finished",
            json!({ "status": stored.status, "reason": stored.reason, "iterations": stored.iterations, "tokens": stored.tokens, "cost": stored.cost }),
        );
        Ok(stored)
    }

    /// Re-applies a run's recorded edits, step by step, to a fresh working copy of its
    /// project (the files the run changed put back as they were when it began, so an accepted
    /// run replays too) and re-runs the tests after each, without a model: a trajectory is
    /// replayable when every step comes out as recorded.
    pub async fn replay(&self, id: Uuid, cancel: &CancellationToken) -> Result<Replay> {
        let run = self.repo.get(id).await?;
        let steps = self.repo.steps(id).await?;
        let project = PathBuf::from(&run.spec.project);
        let scratch = self.settings.scratch.clone();
        let copy =
            tokio::task::spawn_blocking(move || WorkingCopy::create(&project, scratch.as_deref()))
                .await
                .map_err(|e| AgentError::Sandbox(format!("making the working copy: {e}")))??;
        for (path, original) in &run.originals {
            match original {
                Some(content) => copy.write(path, content)?,
                None => copy.remove(path)?,
            }
        }
        let mut green = Vec::new();
        let mut matches = true;
        let mut last = None;
        for step in &steps {
            let blocks: Vec<ParsedBlock> = step
                .edits
                .iter()
                .filter(|edit| edit.applied())
                .map(|edit| ParsedBlock {
                    block: edit.block.clone(),
                    complete: true,
                })
                .collect();
            if !blocks.is_empty() {
                let plan = apply_blocks(&blocks, |path| copy.read(path));
                if plan.applied() != blocks.len() {
                    matches = false;
                }
                for (path, content) in &plan.changed {
                    copy.write(path, content)?;
                }
            }
            if step.report.is_none() {
                continue;
            }
            let (report, _) = run_tests(&self.command(&run, &copy), cancel).await?;
            let recorded = step.report.as_ref().expect("checked above");
            matches &=
                report.is_green() == recorded.is_green() && failing(&report) == failing(recorded);
            green.push(report.is_green());
            last = Some(report);
        }
        Ok(Replay {
            recorded: run.status,
            green,
            matches,
            final_report: last.unwrap_or_default(),
        })
    }

    async fn iterate(
        &self,
        run: &TddRun,
        copy: &WorkingCopy,
        model: Arc<dyn ChatModel>,
        cancel: &CancellationToken,
    ) -> Result<Ending> {
        let budget = RunBudget::new(run.spec.budget, self.clock.clone());
        let command_line = shell_words::join(&run.spec.test_command);

        let started = Instant::now();
        self.progress(run, 0, "testing");
        let (mut report, _) = run_tests(&self.command(run, copy), cancel).await?;
        self.record(run, step(run.id, 0, started, self.clock.now()), &report)
            .await?;
        if report.is_green() {
            return Ok(Ending::new(
                RunStatus::Passed,
                "the tests already pass",
                Some(&report),
            ));
        }
        let mut previous_edits: Vec<EditResult> = Vec::new();
        let mut seen: Vec<Signature> = Vec::new();
        for index in 1..=run.spec.max_iterations {
            if cancel.is_cancelled() {
                return Ok(Ending::new(
                    RunStatus::Cancelled,
                    "cancelled",
                    Some(&report),
                ));
            }
            if budget.time_left().is_some_and(|left| left.is_zero()) {
                return Ok(Ending::new(
                    RunStatus::BudgetExhausted,
                    "the run's wall time is spent",
                    Some(&report),
                ));
            }
            let started = Instant::now();
            self.progress(run, index, "asking_model");
            let prompt = context::build(
                Round {
                    command: &command_line,
                    report: &report,
                    previous_edits: &previous_edits,
                    token_budget: self.settings.context_tokens,
                },
                |path| copy.read(path),
            );
            let mut request = ChatRequest::new(vec![
                ChatMessage::system(SYSTEM_PROMPT),
                ChatMessage::user(prompt.message),
            ]);
            request.model = run.spec.model.clone();
            request.temperature = Some(0.0);
            request.max_tokens = Some(self.settings.answer_tokens);
            let answer = tokio::select! {
                answer = model.chat(request, &budget) => answer?,
                () = cancel.cancelled() => return Ok(Ending::new(RunStatus::Cancelled, "cancelled", Some(&report))),
            };
            let text = answer.content.clone().unwrap_or_default();

            self.progress(run, index, "editing");
            let edits = self.apply(copy, &text);
            self.progress(run, index, "testing");
            let (next, _) = run_tests(&self.command(run, copy), cancel).await?;
            report = next;
            let mut record = step(run.id, index, started, self.clock.now());
            record.prompt_summary = Some(prompt.summary);
            record.answer = Some(text);
            record.edits = edits.clone();
            record.tokens = answer.usage.total();
            record.cost = answer.cost;
            self.record(run, record, &report).await?;

            if report.is_green() {
                return Ok(Ending::new(
                    RunStatus::Passed,
                    format!("the tests pass after {index} model rounds"),
                    Some(&report),
                ));
            }
            if cancel.is_cancelled() {
                return Ok(Ending::new(
                    RunStatus::Cancelled,
                    "cancelled",
                    Some(&report),
                ));
            }
            let signature = (failing(&report), applied(&edits));
            if seen.contains(&signature) {
                return Ok(Ending::new(
                    RunStatus::Stuck,
                    "the same failures after the same edits twice",
                    Some(&report),
                ));
            }
            seen.push(signature);
            previous_edits = edits;
        }
        Ok(Ending::new(
            RunStatus::Failed,
            format!(
                "the tests still fail after {} model rounds",
                run.spec.max_iterations
            ),
            Some(&report),
        ))
    }

    /// Parses the answer, applies the blocks that fit to the working copy, and says what
    /// became of each; a file that cannot be written refuses every block on it.
    fn apply(&self, copy: &WorkingCopy, answer: &str) -> Vec<EditResult> {
        let blocks = parse_blocks(answer);
        let plan = apply_blocks(&blocks, |path| copy.read(path));
        let mut results = plan.results;
        for (path, content) in &plan.changed {
            if copy.write(path, content).is_err() {
                for result in results.iter_mut().filter(|r| {
                    r.applied()
                        && super::edits::project_path(&r.block.path).as_deref()
                            == Some(path.as_str())
                }) {
                    result.outcome = EditOutcome::Refused {
                        reason: Refusal::UnsafePath,
                        hint: None,
                    };
                }
            }
        }
        results
    }

    /// The test command of `run`, in `copy`.
    fn command(&self, run: &TddRun, copy: &WorkingCopy) -> SandboxedCommand {
        let mut writable = vec![copy.root().to_path_buf(), copy.tmp().to_path_buf()];
        writable.extend(self.settings.writable.iter().cloned());
        SandboxedCommand {
            argv: run.spec.test_command.clone(),
            cwd: copy.root().to_path_buf(),
            writable,
            tmp: copy.tmp().to_path_buf(),
            env: self.settings.env.clone(),
            limits: self.settings.limits.clone(),
        }
    }

    async fn record(&self, run: &TddRun, mut step: TddStep, report: &TestReport) -> Result<()> {
        step.report = Some(report.clone());
        self.repo.add_step(&step).await?;
        let applied = step.edits.iter().filter(|e| e.applied()).count();
        self.publish(
            run,
            "tdd.step",
            json!({
                "index": step.index,
                "max_iterations": run.spec.max_iterations,
                "green": report.is_green(),
                "passed": report.passed,
                "failed": report.failed,
                "errors": report.errors,
                "edits_applied": applied,
                "edits_refused": step.edits.len() - applied,
                "tokens": step.tokens,
                "cost": step.cost,
                "elapsed_ms": step.elapsed_ms,
            }),
        );
        Ok(())
    }

    fn progress(&self, run: &TddRun, index: u32, phase: &str) {
        self.publish(
            run,
            "tdd.progress",
            json!({ "index": index, "max_iterations": run.spec.max_iterations, "phase": phase }),
        );
    }

    fn publish(&self, run: &TddRun, kind: &str, mut payload: serde_json::Value) {
        payload["run_id"] = json!(run.id);
        self.events
            .publish_owned(EVENT_SOURCE, kind, run.owner, payload);
    }

    /// Cancels `cancel` when the stored run becomes final (cancelled elsewhere).
    fn watch_for_cancellation(
        &self,
        id: Uuid,
        cancel: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let repo = self.repo.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if let Ok(run) = repo.get(id).await
                    && run.status.is_final()
                {
                    cancel.cancel();
                    return;
                }
            }
        })
    }
}

fn step(run_id: Uuid, index: u32, started: Instant, at: chrono::DateTime<chrono::Utc>) -> TddStep {
    TddStep {
        run_id,
        index,
        prompt_summary: None,
        answer: None,
        edits: Vec::new(),
        report: None,
        tokens: 0,
        cost: 0.0,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        at,
    }
}

/// What stuck detection compares: the failing tests with their messages, and the edits
/// applied.
type Signature = (Vec<(String, String)>, Vec<String>);

/// The failing tests and their messages, in a stable order.
fn failing(report: &TestReport) -> Vec<(String, String)> {
    let mut failing: Vec<(String, String)> = report
        .failures
        .iter()
        .map(|f| (f.test_id.clone(), f.message.clone()))
        .collect();
    failing.sort();
    failing
}

/// The applied edits, as text.
fn applied(edits: &[EditResult]) -> Vec<String> {
    edits
        .iter()
        .filter(|e| e.applied())
        .map(|e| format!("{}\n{}\n{}", e.block.path, e.block.search, e.block.replace))
        .collect()
}
