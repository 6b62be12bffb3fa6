//! `/api/tasks`: the durable task queue.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Union};
use trae_core::{NewTask, PageRequest, TaskFilter, TaskQueue, TaskState};
use uuid::Uuid;

use super::ApiTags;
use super::json_body::JsonBody;
use crate::ApiError;
use crate::credentials::Auth;

/// The tasks router.
#[derive(Debug, Clone)]
pub struct TasksApi {
    tasks: TaskQueue,
}

impl TasksApi {
    /// A router over the task queue, which decides who may do what.
    pub fn new(tasks: TaskQueue) -> Self {
        Self { tasks }
    }
}

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "TaskState", rename_all = "snake_case")]
pub enum TaskStateBody {
    /// Waiting for its `run_at`.
    Scheduled,
    /// Ready to be claimed.
    Available,
    /// Claimed by a worker.
    Running,
    /// An attempt failed; it runs again at `run_at`.
    Retryable,
    /// Done.
    Completed,
    /// Every attempt failed (the dead letter).
    Failed,
    /// Cancelled.
    Cancelled,
}

impl From<TaskState> for TaskStateBody {
    fn from(s: TaskState) -> Self {
        match s {
            TaskState::Scheduled => Self::Scheduled,
            TaskState::Available => Self::Available,
            TaskState::Running => Self::Running,
            TaskState::Retryable => Self::Retryable,
            TaskState::Completed => Self::Completed,
            TaskState::Failed => Self::Failed,
            TaskState::Cancelled => Self::Cancelled,
        }
    }
}

impl From<TaskStateBody> for TaskState {
    fn from(s: TaskStateBody) -> Self {
        match s {
            TaskStateBody::Scheduled => Self::Scheduled,
            TaskStateBody::Available => Self::Available,
            TaskStateBody::Running => Self::Running,
            TaskStateBody::Retryable => Self::Retryable,
            TaskStateBody::Completed => Self::Completed,
            TaskStateBody::Failed => Self::Failed,
            TaskStateBody::Cancelled => Self::Cancelled,
        }
    }
}

/// One failed attempt.
#[derive(Debug, Clone, Object)]
#[oai(rename = "TaskAttemptError")]
pub struct TaskErrorBody {
    /// The attempt (1-based).
    pub attempt: i32,
    /// When it failed.
    pub at: DateTime<Utc>,
    /// What went wrong.
    pub message: String,
}

/// A task.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Task")]
pub struct TaskBody {
    /// Identifier.
    pub id: Uuid,
    /// Queue.
    pub queue: String,
    /// Kind; selects the handler.
    pub kind: String,
    /// The handler's input.
    pub payload: serde_json::Value,
    /// 1 runs first, 10 last.
    pub priority: i16,
    /// State.
    pub state: TaskStateBody,
    /// Attempts started.
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// When it may run (next).
    pub run_at: DateTime<Utc>,
    /// Deduplication key.
    pub unique_key: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
    /// When the running worker's lease ends.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// The worker holding (or that last held) it.
    pub worker_id: Option<String>,
    /// The latest failure.
    pub last_error: Option<String>,
    /// Every failed attempt, oldest first.
    pub errors: Vec<TaskErrorBody>,
    /// What the handler returned.
    pub result: Option<serde_json::Value>,
    /// The latest progress reported.
    pub progress: Option<serde_json::Value>,
    /// Who enqueued it.
    pub created_by: String,
    /// The user it was enqueued for (directly or through an API key); `null` for the system.
    pub owner_id: Option<Uuid>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When its latest attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<trae_core::Task> for TaskBody {
    fn from(t: trae_core::Task) -> Self {
        Self {
            id: t.id,
            queue: t.queue,
            kind: t.kind,
            payload: t.payload,
            priority: t.priority,
            state: t.state.into(),
            attempt: t.attempt,
            max_attempts: t.max_attempts,
            run_at: t.run_at,
            unique_key: t.unique_key,
            tags: t.tags,
            lease_expires_at: t.lease_expires_at,
            worker_id: t.worker_id,
            last_error: t.last_error,
            errors: t
                .errors
                .into_iter()
                .map(|e| TaskErrorBody {
                    attempt: e.attempt,
                    at: e.at,
                    message: e.message,
                })
                .collect(),
            result: t.result,
            progress: t.progress,
            created_by: t.created_by,
            owner_id: t.owner_id,
            created_at: t.created_at,
            started_at: t.started_at,
            finished_at: t.finished_at,
        }
    }
}

/// One page of tasks, newest first.
#[derive(Debug, Clone, Object)]
#[oai(rename = "TaskPage")]
pub struct TaskPageBody {
    /// The tasks on this page.
    pub items: Vec<TaskBody>,
    /// How many tasks match in all: exact when `total_exact` is true; otherwise a lower bound
    /// (a `tag` filter, or a caller who sees only their own tasks, counts at most 10,000
    /// matches, so a page never counts the whole table).
    pub total: u64,
    /// Whether `total` is the exact number of matching tasks.
    pub total_exact: bool,
    /// The page size asked for.
    pub limit: u32,
    /// The offset asked for.
    pub offset: u64,
}

impl From<trae_core::TaskPage> for TaskPageBody {
    fn from(p: trae_core::TaskPage) -> Self {
        Self {
            total: p.total,
            total_exact: p.total_exact,
            limit: p.limit,
            offset: p.offset,
            items: p.items.into_iter().map(Into::into).collect(),
        }
    }
}

/// A task to enqueue.
#[derive(Debug, Clone, Object)]
#[oai(rename = "NewTask", deny_unknown_fields)]
pub struct NewTaskBody {
    /// What kind of work, e.g. `http.request` or `noop`.
    pub kind: String,
    /// The handler's input (default `{}`).
    pub payload: Option<serde_json::Value>,
    /// Queue (default `default`): 1–64 characters of a-z, 0-9, `_`, `.`, `-`.
    pub queue: Option<String>,
    /// 1–10, 1 first (default 5).
    pub priority: Option<i16>,
    /// 1–100 (default 5).
    pub max_attempts: Option<i32>,
    /// Run no earlier than this.
    pub run_at: Option<DateTime<Utc>>,
    /// While an unfinished task holds this key, enqueueing returns that task instead.
    pub unique_key: Option<String>,
    /// Up to 20 labels.
    #[oai(default)]
    pub tags: Vec<String>,
}

impl From<NewTaskBody> for NewTask {
    fn from(b: NewTaskBody) -> Self {
        Self {
            queue: b.queue,
            kind: b.kind,
            payload: b.payload,
            priority: b.priority,
            max_attempts: b.max_attempts,
            run_at: b.run_at,
            unique_key: b.unique_key,
            tags: b.tags,
        }
    }
}

/// Several tasks to enqueue, all or none.
#[derive(Debug, Clone, Object)]
#[oai(rename = "NewTaskBatch", deny_unknown_fields)]
pub struct NewTaskBatch {
    /// 1–10,000 tasks.
    pub tasks: Vec<NewTaskBody>,
}

/// One task, or a batch.
#[derive(Debug, Clone, Union)]
#[oai(rename = "EnqueueRequest", one_of)]
pub enum EnqueueBody {
    /// A batch.
    Batch(NewTaskBatch),
    /// One task.
    One(NewTaskBody),
}

/// Enqueued tasks.
#[derive(Debug, Clone, Object)]
#[oai(rename = "TaskBatch")]
pub struct TaskBatch {
    /// The tasks, in the order given (an existing holder where a unique key was taken).
    pub tasks: Vec<TaskBody>,
}

/// What a 201 holds: the task, or the batch.
#[derive(Debug, Clone, Union)]
#[oai(rename = "EnqueuedBody", one_of)]
pub enum EnqueuedBody {
    /// One task enqueued.
    Task(Box<TaskBody>),
    /// A batch enqueued.
    Batch(TaskBatch),
}

/// What enqueueing did.
#[derive(Debug, ApiResponse)]
pub enum Enqueued {
    /// The task (with `Location`) or the batch was enqueued. One variant: two 201 variants
    /// would leave only one of their schemas in the spec.
    #[oai(status = 201)]
    Created(
        Json<EnqueuedBody>,
        #[oai(header = "Location")] Option<String>,
    ),
    /// An unfinished task already holds the unique key; this is it.
    #[oai(status = 200)]
    Existing(Json<Box<TaskBody>>),
}

/// A queue's counts.
#[derive(Debug, Clone, Object)]
#[oai(rename = "QueueStats")]
pub struct QueueStatsBody {
    /// The queue.
    pub queue: String,
    /// Whether it is paused.
    pub paused: bool,
    /// At most this many of its tasks run at once.
    pub concurrency_limit: Option<u32>,
    /// Tasks per state.
    pub states: BTreeMap<String, u64>,
    /// Tasks completed in the last minute.
    pub completed_last_minute: u64,
    /// Seconds the oldest due task has waited.
    pub oldest_available_age_secs: Option<f64>,
    /// The same figures per kind of task, by kind.
    pub kinds: Vec<KindStatsBody>,
}

/// One kind of task's counts and latencies in a queue.
#[derive(Debug, Clone, Object)]
#[oai(rename = "KindStats")]
pub struct KindStatsBody {
    /// The kind.
    pub kind: String,
    /// Tasks per state.
    pub states: BTreeMap<String, u64>,
    /// Tasks completed in the last minute.
    pub completed_last_minute: u64,
    /// Tasks failed for good in the last minute.
    pub failed_last_minute: u64,
    /// Mean seconds from due to started, over the attempts started in the last minute.
    pub average_wait_secs: Option<f64>,
    /// Mean seconds from start to finish, over the tasks finished in the last minute.
    pub average_run_secs: Option<f64>,
}

/// State names and counts, as the API shows them.
fn state_counts(states: BTreeMap<trae_core::TaskState, u64>) -> BTreeMap<String, u64> {
    states
        .into_iter()
        .map(|(s, n)| (s.as_str().to_owned(), n))
        .collect()
}

/// The queue at a glance.
#[derive(Debug, Clone, Object)]
#[oai(rename = "TaskStats")]
pub struct TaskStatsBody {
    /// Every queue with tasks or settings.
    pub queues: Vec<QueueStatsBody>,
}

/// A queue's settings.
#[derive(Debug, Clone, Object)]
#[oai(rename = "QueueSettings")]
pub struct QueueSettingsBody {
    /// The queue.
    pub queue: String,
    /// Paused queues hand out no tasks.
    pub paused: bool,
    /// At most this many of its tasks run at once.
    pub concurrency_limit: Option<u32>,
}

impl From<trae_core::QueueSettings> for QueueSettingsBody {
    fn from(s: trae_core::QueueSettings) -> Self {
        Self {
            queue: s.queue,
            paused: s.paused,
            concurrency_limit: s.concurrency_limit,
        }
    }
}

#[OpenApi(tag = "ApiTags::Tasks")]
impl TasksApi {
    /// Enqueue one task or a batch
    ///
    /// One task answers 201 with the task, or 200 with the unfinished task that already holds
    /// its `unique_key`. `{"tasks": [...]}` enqueues all or none and answers 201. When a queue
    /// already holds as many waiting tasks as `TRAE_QUEUE_MAX_BACKLOG` allows, nothing is
    /// enqueued and the answer is 503 `overloaded` with `Retry-After` (seconds).
    #[oai(path = "/api/tasks", method = "post", operation_id = "enqueue_tasks")]
    async fn enqueue(&self, auth: Auth, body: JsonBody<EnqueueBody>) -> Result<Enqueued, ApiError> {
        let principal = auth.principal();
        match body.0 {
            EnqueueBody::One(task) => {
                let e = self.tasks.enqueue(principal, task.into()).await?;
                let location = format!("/api/tasks/{}", e.task.id);
                Ok(if e.inserted {
                    Enqueued::Created(
                        Json(EnqueuedBody::Task(Box::new(e.task.into()))),
                        Some(location),
                    )
                } else {
                    Enqueued::Existing(Json(Box::new(e.task.into())))
                })
            }
            EnqueueBody::Batch(batch) => {
                let tasks = batch.tasks.into_iter().map(Into::into).collect();
                let all = self.tasks.enqueue_many(principal, tasks).await?;
                Ok(Enqueued::Created(
                    Json(EnqueuedBody::Batch(TaskBatch {
                        tasks: all.into_iter().map(|e| e.task.into()).collect(),
                    })),
                    None,
                ))
            }
        }
    }

    /// List tasks
    ///
    /// Newest first. Filter by `state`, `queue`, `kind` and `tag`; page with `limit`
    /// (1–500, default 50) and `offset`. `total` is exact unless `total_exact` is false (see
    /// `TaskPage`).
    #[oai(path = "/api/tasks", method = "get", operation_id = "list_tasks")]
    #[allow(clippy::too_many_arguments)] // poem-openapi takes one argument per query parameter
    async fn list(
        &self,
        auth: Auth,
        state: Query<Option<TaskStateBody>>,
        queue: Query<Option<String>>,
        kind: Query<Option<String>>,
        tag: Query<Option<String>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<TaskPageBody>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        let filter = TaskFilter {
            state: state.0.map(Into::into),
            queue: queue.0,
            kind: kind.0,
            tag: tag.0,
            ..TaskFilter::default()
        };
        let page = self.tasks.list(auth.principal(), filter, page).await?;
        Ok(Json(page.into()))
    }

    /// Counts per queue and state
    ///
    /// Also tasks completed in the last minute and the age of the oldest due task.
    #[oai(path = "/api/tasks/stats", method = "get", operation_id = "task_stats")]
    async fn stats(&self, auth: Auth) -> Result<Json<TaskStatsBody>, ApiError> {
        let stats = self.tasks.stats(auth.principal()).await?;
        Ok(Json(TaskStatsBody {
            queues: stats
                .queues
                .into_iter()
                .map(|q| QueueStatsBody {
                    queue: q.queue,
                    paused: q.paused,
                    concurrency_limit: q.concurrency_limit,
                    states: state_counts(q.states),
                    completed_last_minute: q.completed_last_minute,
                    oldest_available_age_secs: q.oldest_available_age_secs,
                    kinds: q
                        .kinds
                        .into_iter()
                        .map(|k| KindStatsBody {
                            kind: k.kind,
                            states: state_counts(k.states),
                            completed_last_minute: k.completed_last_minute,
                            failed_last_minute: k.failed_last_minute,
                            average_wait_secs: k.average_wait_secs,
                            average_run_secs: k.average_run_secs,
                        })
                        .collect(),
                })
                .collect(),
        }))
    }

    /// Get a task
    #[oai(path = "/api/tasks/:id", method = "get", operation_id = "get_task")]
    async fn get(&self, auth: Auth, id: Path<Uuid>) -> Result<Json<TaskBody>, ApiError> {
        Ok(Json(self.tasks.get(auth.principal(), id.0).await?.into()))
    }

    /// Cancel a task
    ///
    /// Scheduled, available, retryable and running tasks; a running handler is told to stop.
    /// A finished task answers 409.
    #[oai(
        path = "/api/tasks/:id/cancel",
        method = "post",
        operation_id = "cancel_task"
    )]
    async fn cancel(&self, auth: Auth, id: Path<Uuid>) -> Result<Json<TaskBody>, ApiError> {
        Ok(Json(
            self.tasks.cancel(auth.principal(), id.0).await?.into(),
        ))
    }

    /// Retry a task now
    ///
    /// A failed or cancelled task gets a fresh set of attempts; a retryable or scheduled one
    /// runs now. Others answer 409.
    #[oai(
        path = "/api/tasks/:id/retry",
        method = "post",
        operation_id = "retry_task"
    )]
    async fn retry(&self, auth: Auth, id: Path<Uuid>) -> Result<Json<TaskBody>, ApiError> {
        Ok(Json(self.tasks.retry(auth.principal(), id.0).await?.into()))
    }

    /// Pause a queue
    ///
    /// Workers stop claiming its tasks; running ones finish.
    #[oai(
        path = "/api/tasks/queues/:queue/pause",
        method = "post",
        operation_id = "pause_queue"
    )]
    async fn pause(
        &self,
        auth: Auth,
        queue: Path<String>,
    ) -> Result<Json<QueueSettingsBody>, ApiError> {
        Ok(Json(
            self.tasks.pause(auth.principal(), &queue.0).await?.into(),
        ))
    }

    /// Resume a queue
    #[oai(
        path = "/api/tasks/queues/:queue/resume",
        method = "post",
        operation_id = "resume_queue"
    )]
    async fn resume(
        &self,
        auth: Auth,
        queue: Path<String>,
    ) -> Result<Json<QueueSettingsBody>, ApiError> {
        Ok(Json(
            self.tasks.resume(auth.principal(), &queue.0).await?.into(),
        ))
    }
}
