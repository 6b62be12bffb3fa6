//! TDD runs as a service every binding calls: create (a run stored as `queued` and a queue
//! task of kind `tdd.run` that executes it), list, get with steps, diff, cancel and accept,
//! each deciding permissions (`agents:run` on one's own runs, `agents:admin` on everyone's)
//! and confining projects to the allowed workspaces (`TRAE_AGENT_WORKSPACES`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use trae_core::identity::permission::Gate;
use trae_core::llm::budget::BudgetLimits;
use trae_core::tasks::task::NewTask;
use trae_core::tasks::task_queue::TaskQueue;
use trae_core::tdd::run::{
    AGENTS_ADMIN, AGENTS_RUN, DEFAULT_MAX_ITERATIONS, RunEnd, RunFilter, RunSpec, RunStatus,
    TddRepository, TddRun, TddStep,
};
use trae_core::{Clock, Error, Page, PageRequest, Principal};
use uuid::Uuid;

use super::workspaces::Workspaces;
use crate::error::{AgentError, Result};
use crate::sandbox::{FileDiff, project_digest, unified_diff, write_into_project};

/// The task kind that executes a run.
pub const TASK_KIND: &str = "tdd.run";

/// A run to create.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewRun {
    /// The project's directory; must be inside an allowed workspace.
    pub path: String,
    /// The test command as argv (see [`crate::sandbox::parse_argv`] for a command line).
    pub test: Vec<String>,
    /// Model rounds at most (default 5).
    pub max_iterations: Option<u32>,
    /// The model to ask.
    pub model: Option<String>,
    /// The run's budget.
    pub budget: BudgetLimits,
}

/// A run with its steps.
#[derive(Debug, Clone, PartialEq)]
pub struct RunDetail {
    /// The run.
    pub run: TddRun,
    /// Its steps, in order.
    pub steps: Vec<TddStep>,
}

/// The changes of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunDiff {
    /// One unified diff per changed file, against the project as it is now.
    pub files: Vec<FileDiff>,
    /// Whether the project changed since the run began (then accept refuses, and the diff is
    /// against the changed files).
    pub project_changed: bool,
}

/// The TDD runs service.
#[derive(Clone)]
pub struct TddRuns {
    repo: Arc<dyn TddRepository>,
    tasks: TaskQueue,
    gate: Gate,
    clock: Arc<dyn Clock>,
    workspaces: Workspaces,
}

impl std::fmt::Debug for TddRuns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TddRuns")
            .field("workspaces", &self.workspaces)
            .finish_non_exhaustive()
    }
}

impl TddRuns {
    /// The service over `repo`, queueing on `tasks`, deciding through `gate`, with projects
    /// allowed under `workspaces` (none: no project is allowed).
    pub fn new(
        repo: Arc<dyn TddRepository>,
        tasks: TaskQueue,
        gate: Gate,
        clock: Arc<dyn Clock>,
        workspaces: Vec<PathBuf>,
    ) -> Self {
        let workspaces = Workspaces::new(workspaces);
        Self {
            repo,
            tasks,
            gate,
            clock,
            workspaces,
        }
    }

    /// The repository, for the agent that executes runs.
    pub fn repository(&self) -> &Arc<dyn TddRepository> {
        &self.repo
    }

    /// Creates a run and queues the task that executes it; needs `agents:run`.
    pub async fn create(&self, principal: &Principal, new: NewRun) -> Result<TddRun> {
        let run = self.prepare(principal, new).await?;
        let mut task = NewTask::new(TASK_KIND, json!({ "run_id": run.id }));
        // A run is not idempotent (it spends model budget): one attempt.
        task.max_attempts = Some(1);
        if let Err(error) = self.tasks.enqueue(principal, task).await {
            let end = RunEnd {
                status: RunStatus::Error,
                reason: format!("could not be queued: {error}"),
                final_report: None,
                files: Default::default(),
                originals: Default::default(),
            };
            self.repo.finish(run.id, &end, self.clock.now()).await?;
            return Err(error.into());
        }
        Ok(run)
    }

    /// Creates a run without queueing it, for a caller that executes it itself (the CLI,
    /// Python); needs `agents:run`, and the same checks as [`TddRuns::create`].
    pub async fn prepare(&self, principal: &Principal, new: NewRun) -> Result<TddRun> {
        self.gate.check(principal, AGENTS_RUN).await?;
        let spec = RunSpec {
            project: new.path.clone(),
            test_command: new.test,
            max_iterations: new.max_iterations.unwrap_or(DEFAULT_MAX_ITERATIONS),
            model: new.model.filter(|m| !m.trim().is_empty()),
            budget: new.budget,
        };
        spec.validate()?;
        let project = self.workspaces.confine(&spec.project)?;
        let run = TddRun {
            id: Uuid::now_v7(),
            owner: principal.user_id(),
            spec: RunSpec {
                project: project.to_string_lossy().into_owned(),
                ..spec
            },
            status: RunStatus::Queued,
            reason: None,
            project_digest: None,
            iterations: 0,
            tokens: 0,
            cost: 0.0,
            final_report: None,
            files: Default::default(),
            originals: Default::default(),
            created_at: self.clock.now(),
            started_at: None,
            finished_at: None,
            accepted_at: None,
        };
        self.repo.create(&run).await?;
        Ok(run)
    }

    /// A run with its steps; a run the caller may not see is `NotFound`.
    pub async fn get(&self, principal: &Principal, id: Uuid) -> Result<RunDetail> {
        let run = self.visible(principal, id).await?;
        let steps = self.repo.steps(id).await?;
        Ok(RunDetail { run, steps })
    }

    /// Runs, newest first: the caller's own, or everyone's with `agents:admin`.
    pub async fn list(
        &self,
        principal: &Principal,
        mut filter: RunFilter,
        page: PageRequest,
    ) -> Result<Page<TddRun>> {
        self.gate.check(principal, AGENTS_RUN).await?;
        if !self.gate.holds(principal, AGENTS_ADMIN).await? {
            match principal.user_id() {
                Some(me) => filter.owner = Some(me),
                None => return Ok(Page::of(Vec::new(), page)),
            }
        }
        Ok(self.repo.list(&filter, page).await?)
    }

    /// The run's changes as unified diffs against the project as it is now.
    pub async fn diff(&self, principal: &Principal, id: Uuid) -> Result<RunDiff> {
        let run = self.visible(principal, id).await?;
        tokio::task::spawn_blocking(move || {
            let project = Path::new(&run.spec.project);
            let changed = match &run.project_digest {
                Some(digest) => project_digest(project)
                    .map(|now| now != *digest)
                    .unwrap_or(true),
                None => false,
            };
            let files = run
                .files
                .iter()
                .map(|(path, after)| {
                    let before = std::fs::read_to_string(project.join(path)).ok();
                    FileDiff {
                        path: path.clone(),
                        diff: unified_diff(path, before.as_deref(), after.as_deref()),
                    }
                })
                .collect();
            RunDiff {
                files,
                project_changed: changed,
            }
        })
        .await
        .map_err(|e| AgentError::Sandbox(format!("diffing: {e}")))
    }

    /// Cancels a run that has not ended (a running one stops at its next step, its test
    /// command killed); `Conflict` when it has.
    pub async fn cancel(&self, principal: &Principal, id: Uuid) -> Result<TddRun> {
        let run = self.visible(principal, id).await?;
        let end = RunEnd {
            status: RunStatus::Cancelled,
            reason: "cancelled".into(),
            final_report: run.final_report.clone(),
            files: run.files.clone(),
            originals: run.originals.clone(),
        };
        if !self.repo.finish(id, &end, self.clock.now()).await? {
            return Err(Error::Conflict(format!(
                "the run has already ended ({})",
                run.status.as_str()
            ))
            .into());
        }
        Ok(self.repo.get(id).await?)
    }

    /// Writes a passed run's changes into the project; `Conflict` when the run did not pass,
    /// was accepted already, or the project changed since the run began.
    pub async fn accept(&self, principal: &Principal, id: Uuid) -> Result<TddRun> {
        let run = self.visible(principal, id).await?;
        if run.status != RunStatus::Passed {
            return Err(Error::Conflict(format!(
                "only a passed run's changes can be accepted; this one is {}",
                run.status.as_str()
            ))
            .into());
        }
        if run.accepted_at.is_some() {
            return Err(Error::Conflict("the run's changes were accepted already".into()).into());
        }
        let digest = run
            .project_digest
            .clone()
            .ok_or_else(|| Error::Conflict("the run never started".into()))?;
        let project = PathBuf::from(&run.spec.project);
        let files = run.files.clone();
        tokio::task::spawn_blocking(move || write_into_project(&project, &digest, &files))
            .await
            .map_err(|e| AgentError::Sandbox(format!("accepting: {e}")))??;
        self.repo.mark_accepted(id, self.clock.now()).await?;
        Ok(self.repo.get(id).await?)
    }

    /// The run, when the caller may see it: its owner with `agents:run`, or `agents:admin`.
    async fn visible(&self, principal: &Principal, id: Uuid) -> Result<TddRun> {
        self.gate.check(principal, AGENTS_RUN).await?;
        let hidden = || {
            AgentError::Core(Error::NotFound {
                entity: "tdd run",
                id: id.to_string(),
            })
        };
        let run = match self.repo.get(id).await {
            Ok(run) => run,
            Err(Error::NotFound { .. }) => return Err(hidden()),
            Err(error) => return Err(error.into()),
        };
        let own = run.owner.is_some() && run.owner == principal.user_id();
        if own || self.gate.holds(principal, AGENTS_ADMIN).await? {
            Ok(run)
        } else {
            Err(hidden())
        }
    }
}
