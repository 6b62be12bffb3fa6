//! The task queue service: enqueue, inspect, cancel, retry, pause. Every transition it or a
//! [`Worker`](crate::tasks::worker::Worker) makes is published on the event bus (source `tasks`, kind
//! `task.<state>`) and counted in `trae_task_transitions_total{queue, state}`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::identity::permission::{Authorizer, Gate};
use crate::tasks::task::{
    Enqueued, MAX_BATCH, NewTask, QueueSettings, Task, TaskFilter, TaskRepository, TaskState,
    TaskStats, validate_queue,
};
use crate::{Clock, Error, EventBus, Page, PageRequest, Principal, Result};

/// The event source of task transitions.
pub const EVENT_SOURCE: &str = "tasks";
/// Counter of task transitions, labelled `queue` and `state`.
pub const TASK_TRANSITIONS: &str = "trae_task_transitions_total";
/// Reading tasks, their results and the queue's figures.
pub const TASKS_READ: &str = "tasks:read";
/// Enqueueing, cancelling and retrying tasks, and pausing and configuring queues.
pub const TASKS_WRITE: &str = "tasks:write";

/// Enqueues and manages tasks. Cheap to clone.
#[derive(Clone)]
pub struct TaskQueue {
    repo: Arc<dyn TaskRepository>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventBus>,
    gate: Gate,
}

impl std::fmt::Debug for TaskQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskQueue").finish_non_exhaustive()
    }
}

impl TaskQueue {
    /// The service over `repo`.
    pub fn new(
        repo: Arc<dyn TaskRepository>,
        clock: Arc<dyn Clock>,
        events: Arc<dyn EventBus>,
    ) -> Self {
        Self {
            repo,
            clock,
            events,
            gate: Gate::default(),
        }
    }

    /// The service deciding who may read and change tasks with `authorizer` (by default only
    /// the system may act).
    #[must_use]
    pub fn with_authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.gate = Gate::new(authorizer);
        self
    }

    /// The repository, for workers.
    pub fn repository(&self) -> &Arc<dyn TaskRepository> {
        &self.repo
    }

    /// The event bus transitions are published on.
    pub fn events(&self) -> &Arc<dyn EventBus> {
        &self.events
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Enqueues one task; when its unique key is held by an unfinished task, returns that one
    /// with `inserted: false`.
    pub async fn enqueue(&self, principal: &Principal, task: NewTask) -> Result<Enqueued> {
        let mut all = self.enqueue_many(principal, vec![task]).await?;
        all.pop()
            .ok_or_else(|| Error::Storage("enqueue returned nothing".into()))
    }

    /// Enqueues tasks all or none (every one is validated first), in one transaction.
    pub async fn enqueue_many(
        &self,
        principal: &Principal,
        tasks: Vec<NewTask>,
    ) -> Result<Vec<Enqueued>> {
        self.gate.check(principal, TASKS_WRITE).await?;
        if tasks.is_empty() {
            return Err(Error::validation("tasks", "at least one task"));
        }
        if tasks.len() > MAX_BATCH {
            return Err(Error::validation(
                "tasks",
                format!("at most {MAX_BATCH} tasks per call"),
            ));
        }
        let now = self.clock.now();
        let by = principal.created_by();
        let records = tasks
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                t.validate(now, &by).map_err(|e| match e {
                    Error::Validation { field, message } if i > 0 => Error::Validation {
                        field: format!("tasks[{i}].{field}"),
                        message,
                    },
                    other => other,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let enqueued = self.repo.enqueue(&records).await?;
        for e in enqueued.iter().filter(|e| e.inserted) {
            self.transitioned(&e.task);
        }
        Ok(enqueued)
    }

    /// One task; needs `tasks:read`.
    pub async fn get(&self, principal: &Principal, id: Uuid) -> Result<Task> {
        self.gate.check(principal, TASKS_READ).await?;
        self.repo.get(id).await?.ok_or_else(|| Error::NotFound {
            entity: "task",
            id: id.to_string(),
        })
    }

    /// Tasks matching `filter`, newest first; needs `tasks:read`.
    pub async fn list(
        &self,
        principal: &Principal,
        filter: TaskFilter,
        page: PageRequest,
    ) -> Result<Page<Task>> {
        self.gate.check(principal, TASKS_READ).await?;
        self.repo.list(&filter, page).await
    }

    /// Cancels a task that has not finished; a running handler is told to stop. Needs
    /// `tasks:write`.
    pub async fn cancel(&self, principal: &Principal, id: Uuid) -> Result<Task> {
        self.gate.check(principal, TASKS_WRITE).await?;
        let task = self.repo.cancel(id, self.clock.now()).await?;
        self.transitioned(&task);
        Ok(task)
    }

    /// Makes a failed, cancelled, retryable or scheduled task available now; needs
    /// `tasks:write`.
    pub async fn retry(&self, principal: &Principal, id: Uuid) -> Result<Task> {
        self.gate.check(principal, TASKS_WRITE).await?;
        let task = self.repo.retry_now(id, self.clock.now()).await?;
        self.transitioned(&task);
        Ok(task)
    }

    /// Stops handing out a queue's tasks; running ones finish. Needs `tasks:write`.
    pub async fn pause(&self, principal: &Principal, queue: &str) -> Result<QueueSettings> {
        self.gate.check(principal, TASKS_WRITE).await?;
        self.set_paused(queue, true).await
    }

    /// Hands out a paused queue's tasks again; needs `tasks:write`.
    pub async fn resume(&self, principal: &Principal, queue: &str) -> Result<QueueSettings> {
        self.gate.check(principal, TASKS_WRITE).await?;
        self.set_paused(queue, false).await
    }

    async fn set_paused(&self, queue: &str, paused: bool) -> Result<QueueSettings> {
        let queue = validate_queue(queue)?;
        let mut settings = self.repo.queue_settings(&queue).await?;
        settings.paused = paused;
        self.repo.configure_queue(&settings).await?;
        self.events.publish(
            EVENT_SOURCE,
            if paused {
                "queue.paused"
            } else {
                "queue.resumed"
            },
            serde_json::json!({ "queue": queue }),
        );
        Ok(settings)
    }

    /// Limits how many of a queue's tasks run at once across every worker (`None`: no
    /// limit); needs `tasks:write`.
    pub async fn set_concurrency_limit(
        &self,
        principal: &Principal,
        queue: &str,
        limit: Option<u32>,
    ) -> Result<QueueSettings> {
        self.gate.check(principal, TASKS_WRITE).await?;
        let queue = validate_queue(queue)?;
        if limit == Some(0) {
            return Err(Error::validation(
                "concurrency_limit",
                "must be at least 1 (pause the queue to stop it)",
            ));
        }
        let mut settings = self.repo.queue_settings(&queue).await?;
        settings.concurrency_limit = limit;
        self.repo.configure_queue(&settings).await?;
        Ok(settings)
    }

    /// Counts per queue and state; needs `tasks:read`.
    pub async fn stats(&self, principal: &Principal) -> Result<TaskStats> {
        self.gate.check(principal, TASKS_READ).await?;
        self.repo.stats(self.clock.now()).await
    }

    /// Deletes tasks that finished more than `age` ago; returns how many.
    pub async fn prune(&self, age: Duration) -> Result<u64> {
        let age =
            chrono::Duration::from_std(age).map_err(|_| Error::validation("age", "too large"))?;
        self.repo.prune(self.clock.now() - age).await
    }

    /// Publishes and counts a task's arrival in its current state.
    pub fn transitioned(&self, task: &Task) {
        publish_transition(self.events.as_ref(), task);
    }

    /// Now, by this queue's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// Publishes `task.<state>` for `task` and counts it.
pub fn publish_transition(events: &dyn EventBus, task: &Task) {
    publish(
        events,
        &task.queue,
        task.state,
        serde_json::json!({
            "id": task.id,
            "queue": task.queue,
            "kind": task.kind,
            "state": task.state,
            "attempt": task.attempt,
            "worker_id": task.worker_id,
            "last_error": task.last_error,
        }),
    );
}

/// Publishes and counts a state change known only by its lease (batched completions).
pub fn publish_finish(
    events: &dyn EventBus,
    id: Uuid,
    queue: &str,
    kind: &str,
    attempt: i32,
    state: TaskState,
) {
    publish(
        events,
        queue,
        state,
        serde_json::json!({
            "id": id,
            "queue": queue,
            "kind": kind,
            "state": state,
            "attempt": attempt,
        }),
    );
}

/// Counts a transition and publishes it as `task.<state>`.
fn publish(events: &dyn EventBus, queue: &str, state: TaskState, payload: serde_json::Value) {
    metrics::counter!(
        TASK_TRANSITIONS,
        "queue" => queue.to_owned(),
        "state" => state.as_str()
    )
    .increment(1);
    events.publish(EVENT_SOURCE, &format!("task.{state}"), payload);
}

/// Metric: tasks available to run (due, unclaimed), labelled by `queue`.
pub const QUEUE_DEPTH: &str = "trae_queue_depth";
/// Metric: tasks per state, labelled by `queue` and `state`.
pub const QUEUE_TASKS: &str = "trae_queue_tasks";
/// Metric: tasks completed in the last minute, labelled by `queue`.
pub const QUEUE_THROUGHPUT: &str = "trae_queue_completed_per_minute";
/// Metric: seconds the oldest runnable task has waited past its `run_at`, labelled by `queue`.
pub const QUEUE_OLDEST_WAIT: &str = "trae_queue_oldest_wait_seconds";
/// Metric: tasks available to run, labelled by `queue` and `kind`.
pub const KIND_DEPTH: &str = "trae_queue_kind_depth";
/// Metric: tasks completed in the last minute, labelled by `queue` and `kind`.
pub const KIND_THROUGHPUT: &str = "trae_queue_kind_completed_per_minute";
/// Metric: tasks failed for good in the last minute, labelled by `queue` and `kind`.
pub const KIND_FAILURES: &str = "trae_queue_kind_failed_per_minute";
/// Metric: mean seconds from `run_at` to start over the last minute, labelled by `queue` and
/// `kind` (absent while nothing started).
pub const TASK_WAIT: &str = "trae_task_wait_seconds";
/// Metric: mean seconds from start to finish over the last minute, labelled by `queue` and
/// `kind` (absent while nothing finished).
pub const TASK_RUN: &str = "trae_task_run_seconds";

#[async_trait::async_trait]
impl crate::monitoring::metric_series::MetricSource for TaskQueue {
    async fn collect(&self, out: &mut Vec<crate::monitoring::metric_series::Sample>) {
        use crate::monitoring::metric_series::Sample;
        // Sampling is the system watching itself.
        let stats = match self.repo.stats(self.clock.now()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "task queue statistics unavailable for metrics");
                return;
            }
        };
        for q in stats.queues {
            let count = |state| q.states.get(&state).copied().unwrap_or(0) as f64;
            out.push(
                Sample::new(QUEUE_DEPTH, count(crate::tasks::task::TaskState::Available))
                    .label("queue", &q.queue),
            );
            for (state, n) in &q.states {
                out.push(
                    Sample::new(QUEUE_TASKS, *n as f64)
                        .label("queue", &q.queue)
                        .label("state", state.as_str()),
                );
            }
            out.push(
                Sample::new(QUEUE_THROUGHPUT, q.completed_last_minute as f64)
                    .label("queue", &q.queue),
            );
            out.push(
                Sample::new(
                    QUEUE_OLDEST_WAIT,
                    q.oldest_available_age_secs.unwrap_or(0.0),
                )
                .label("queue", &q.queue),
            );
            for k in &q.kinds {
                let of = |name, value| {
                    Sample::new(name, value)
                        .label("queue", &q.queue)
                        .label("kind", &k.kind)
                };
                let available = k.states.get(&crate::tasks::task::TaskState::Available);
                out.push(of(KIND_DEPTH, available.copied().unwrap_or(0) as f64));
                out.push(of(KIND_THROUGHPUT, k.completed_last_minute as f64));
                out.push(of(KIND_FAILURES, k.failed_last_minute as f64));
                if let Some(wait) = k.average_wait_secs {
                    out.push(of(TASK_WAIT, wait));
                }
                if let Some(run) = k.average_run_secs {
                    out.push(of(TASK_RUN, run));
                }
            }
        }
    }
}
