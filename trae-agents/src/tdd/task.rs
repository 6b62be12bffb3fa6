//! The queue task that executes a TDD run (kind `tdd.run`, payload `{"run_id"}`): the run's
//! model calls act for its owner with the roles they hold now (a user since deactivated or
//! stripped of `llm:use` is refused), and cancelling the task cancels the run.

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use trae_core::Principal;
use trae_core::identity::user::UserRepository;
use trae_core::tasks::worker::{HandlerResult, TaskContext, TaskFailure, TaskHandler};
use uuid::Uuid;

use super::agent::TddAgent;
use crate::llm::gateway::ModelGateway;

/// Executes `tdd.run` tasks.
#[derive(Clone)]
pub struct TddRunHandler {
    agent: TddAgent,
    models: ModelGateway,
    users: Arc<dyn UserRepository>,
}

impl std::fmt::Debug for TddRunHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TddRunHandler").finish_non_exhaustive()
    }
}

impl TddRunHandler {
    /// A handler running `agent` with models from `models`, acting for owners found in
    /// `users`.
    pub fn new(agent: TddAgent, models: ModelGateway, users: Arc<dyn UserRepository>) -> Self {
        Self {
            agent,
            models,
            users,
        }
    }

    /// The principal a run acts as: its owner as they are now, or the system.
    async fn principal(&self, owner: Option<Uuid>) -> Result<Principal, String> {
        let Some(owner) = owner else {
            return Ok(Principal::System);
        };
        match self.users.get(owner).await {
            Ok(Some(stored)) if stored.user.is_active => Ok(Principal::User {
                user_id: owner,
                username: Some(stored.user.username),
                session_id: None,
                roles: stored.user.roles,
            }),
            Ok(_) => Err("the run's owner no longer exists or is deactivated".into()),
            Err(error) => Err(error.to_string()),
        }
    }
}

#[async_trait]
impl TaskHandler for TddRunHandler {
    async fn run(&self, ctx: TaskContext) -> HandlerResult {
        let run_id = ctx
            .payload()
            .get("run_id")
            .and_then(|v| v.as_str())
            .and_then(|v| Uuid::parse_str(v).ok())
            .ok_or_else(|| TaskFailure::Fatal("the payload needs a run_id".into()))?;
        let repo = self.agent.repository().clone();
        let run = repo
            .get(run_id)
            .await
            .map_err(|e| TaskFailure::Fatal(e.to_string()))?;
        // Only the task its creation queued may execute a run: a task someone enqueued
        // through /api/tasks with another user's run id would act as that user.
        if ctx.task().owner_id != run.owner {
            return Err(TaskFailure::Fatal(
                "the task and the run belong to different owners".into(),
            ));
        }
        let principal = match self.principal(run.owner).await {
            Ok(principal) => principal,
            Err(reason) => {
                let _ = self.agent.abandon(run_id, &reason).await;
                return Err(TaskFailure::Fatal(reason));
            }
        };
        let model = self.models.acting_for(principal);
        let cancel = CancellationToken::new();
        let execution = self.agent.execute(run_id, model, cancel.clone());
        tokio::pin!(execution);
        // A cancelled task lets the run end itself (its command killed, its status stored).
        let ended = tokio::select! {
            ended = &mut execution => ended,
            () = ctx.cancelled() => {
                cancel.cancel();
                execution.await
            }
        };
        let run = ended.map_err(|e| TaskFailure::Fatal(e.to_string()))?;
        Ok(Some(serde_json::json!({
            "run_id": run.id,
            "status": run.status,
            "reason": run.reason,
            "iterations": run.iterations,
        })))
    }
}
