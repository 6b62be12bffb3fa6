//! The task queue service: enqueue, inspect, cancel, retry, pause. Every transition it or a
//! [`Worker`](crate::tasks::worker::Worker) makes is published on the event bus (source `tasks`, kind
//! `task.<state>`) and counted in `trae_task_transitions_total{queue, state}`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::identity::permission::{Authorizer, Gate};
use crate::tasks::task::{
    Enqueued, MAX_BATCH, NewTask, QueueSettings, Task, TaskFilter, TaskPage, TaskRecord,
    TaskRepository, TaskState, TaskStats, validate_queue,
};
use crate::{Clock, Error, EventBus, PageRequest, Principal, Result};

/// The event source of task transitions.
pub const EVENT_SOURCE: &str = "tasks";
/// Counter of task transitions, labelled `queue` and `state`.
pub const TASK_TRANSITIONS: &str = "trae_task_transitions_total";
/// Reading tasks, their results and the queue's figures.
pub const TASKS_READ: &str = "tasks:read";
/// Enqueueing, cancelling and retrying tasks, and pausing and configuring queues.
pub const TASKS_WRITE: &str = "tasks:write";
/// Reading every user's tasks, payloads and results included (others see their own).
pub const TASKS_READ_ALL: &str = "tasks:read_all";
/// Changing anyone's tasks and the queues themselves (pause, resume, concurrency).
pub const TASKS_ADMIN: &str = "tasks:admin";
/// The backlog limit per queue when none is configured (`TRAE_QUEUE_MAX_BACKLOG`).
pub const DEFAULT_MAX_BACKLOG: u64 = 100_000;
/// The longest `Retry-After` a refused enqueue suggests, in seconds.
const MAX_RETRY_AFTER_SECS: u64 = 60;

/// Enqueues and manages tasks. Cheap to clone.
#[derive(Clone)]
pub struct TaskQueue {
    repo: Arc<dyn TaskRepository>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventBus>,
    gate: Gate,
    // Waiting tasks (scheduled, available, retryable) a queue may hold before enqueues into it
    // are refused; `None`: no limit.
    max_backlog: Option<u64>,
    // Kinds whose handlers act with the system's rights need the enqueuer to hold the right
    // the action needs (an `http.request` calling an API needs `apis:call`).
    kind_permissions: Arc<Vec<(String, &'static str)>>,
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
            max_backlog: Some(DEFAULT_MAX_BACKLOG),
            kind_permissions: Arc::default(),
        }
    }

    /// The service refusing enqueues into a queue whose waiting tasks (scheduled, available,
    /// retryable) would exceed `limit` (`None`: no limit; default [`DEFAULT_MAX_BACKLOG`]).
    #[must_use]
    pub fn with_max_backlog(mut self, limit: Option<u64>) -> Self {
        self.max_backlog = limit.filter(|n| *n > 0);
        self
    }

    /// The backlog limit per queue, if any.
    pub fn max_backlog(&self) -> Option<u64> {
        self.max_backlog
    }

    /// The service requiring `permission`, besides `tasks:write`, to enqueue tasks of `kind`.
    #[must_use]
    pub fn with_kind_permission(mut self, kind: &str, permission: &'static str) -> Self {
        Arc::make_mut(&mut self.kind_permissions).push((kind.to_owned(), permission));
        self
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
        let owner = principal.user_id();
        let records = tasks
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let record = t.validate(now, &by).map(|mut r| {
                    r.owner_id = owner;
                    r
                });
                record.map_err(|e| match e {
                    Error::Validation { field, message } if i > 0 => Error::Validation {
                        field: format!("tasks[{i}].{field}"),
                        message,
                    },
                    other => other,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        for (kind, permission) in self.kind_permissions.iter() {
            if records.iter().any(|r| &r.kind == kind) {
                self.gate.check(principal, permission).await?;
            }
        }
        self.check_backlog(&records, now).await?;
        let enqueued = self.repo.enqueue(&records).await?;
        for e in enqueued.iter().filter(|e| e.inserted) {
            self.transitioned(&e.task);
        }
        Ok(enqueued)
    }

    /// Refuses `records` when a queue they go to would hold more than the backlog limit.
    ///
    /// Read from the counters, so the check costs the same at any queue size; it is not
    /// atomic with the insert (concurrent enqueues may overshoot by one batch each), which a
    /// limit meant to keep a backlog bounded, not exact, can afford.
    async fn check_backlog(&self, records: &[TaskRecord], now: DateTime<Utc>) -> Result<()> {
        let Some(limit) = self.max_backlog else {
            return Ok(());
        };
        let mut incoming: std::collections::BTreeMap<String, u64> = Default::default();
        for r in records {
            *incoming.entry(r.queue.clone()).or_default() += 1;
        }
        for (queue, adding) in &incoming {
            if *adding > limit {
                return Err(Error::validation(
                    "tasks",
                    format!(
                        "{adding} tasks for queue {queue:?} exceed its backlog limit of {limit}; \
                         enqueue them in smaller batches"
                    ),
                ));
            }
        }
        let queues: Vec<String> = incoming.keys().cloned().collect();
        let backlog = self.repo.backlog(&queues, now).await?;
        for (queue, adding) in &incoming {
            let b = backlog.get(queue).copied().unwrap_or_default();
            if b.waiting + adding > limit {
                let excess = b.waiting + adding - limit;
                return Err(Error::Overloaded {
                    message: format!(
                        "queue {queue:?} has {} tasks waiting and takes at most {limit}; \
                         try again later",
                        b.waiting
                    ),
                    retry_after_secs: retry_after(excess, b.completed_last_minute),
                });
            }
        }
        Ok(())
    }

    /// One task; needs `tasks:read`, and `tasks:read_all` unless the caller owns it (a task
    /// the caller may not read is `NotFound`, so ids do not tell what exists).
    pub async fn get(&self, principal: &Principal, id: Uuid) -> Result<Task> {
        self.gate.check(principal, TASKS_READ).await?;
        let task = self.repo.get(id).await?;
        match task {
            Some(task) if self.may_read(principal, &task).await? => Ok(task),
            _ => Err(Error::NotFound {
                entity: "task",
                id: id.to_string(),
            }),
        }
    }

    /// Tasks matching `filter`, newest first; needs `tasks:read`. Without `tasks:read_all`
    /// only the caller's own tasks are listed.
    pub async fn list(
        &self,
        principal: &Principal,
        mut filter: TaskFilter,
        page: PageRequest,
    ) -> Result<TaskPage> {
        self.gate.check(principal, TASKS_READ).await?;
        if !self.gate.holds(principal, TASKS_READ_ALL).await? {
            match principal.user_id() {
                Some(me) => filter.owner_id = Some(me),
                None => {
                    return Ok(TaskPage {
                        items: Vec::new(),
                        total: 0,
                        total_exact: true,
                        limit: page.limit(),
                        offset: page.offset(),
                    });
                }
            }
        }
        self.repo.list(&filter, page).await
    }

    /// Cancels a task that has not finished; a running handler is told to stop. Needs
    /// `tasks:write` and ownership, or `tasks:admin`.
    pub async fn cancel(&self, principal: &Principal, id: Uuid) -> Result<Task> {
        self.may_change(principal, id).await?;
        let task = self.repo.cancel(id, self.clock.now()).await?;
        self.transitioned(&task);
        Ok(task)
    }

    /// Makes a failed, cancelled, retryable or scheduled task available now; needs
    /// `tasks:write` and ownership, or `tasks:admin`.
    pub async fn retry(&self, principal: &Principal, id: Uuid) -> Result<Task> {
        self.may_change(principal, id).await?;
        let task = self.repo.retry_now(id, self.clock.now()).await?;
        self.transitioned(&task);
        Ok(task)
    }

    async fn may_read(&self, principal: &Principal, task: &Task) -> Result<bool> {
        Ok(owns(principal, task) || self.gate.holds(principal, TASKS_READ_ALL).await?)
    }

    /// Ownership or `tasks:admin` lets a caller change a task; one it cannot even read is
    /// `NotFound`, one it can read but not change `Forbidden`.
    async fn may_change(&self, principal: &Principal, id: Uuid) -> Result<()> {
        self.gate.check(principal, TASKS_WRITE).await?;
        if self.gate.holds(principal, TASKS_ADMIN).await? {
            return Ok(());
        }
        let Some(task) = self.repo.get(id).await? else {
            return Err(Error::NotFound {
                entity: "task",
                id: id.to_string(),
            });
        };
        if owns(principal, &task) {
            Ok(())
        } else if self.may_read(principal, &task).await? {
            Err(Error::Forbidden(format!(
                "changing another user's task needs the permission {TASKS_ADMIN}"
            )))
        } else {
            Err(Error::NotFound {
                entity: "task",
                id: id.to_string(),
            })
        }
    }

    /// Stops handing out a queue's tasks; running ones finish. Needs `tasks:admin` (pausing
    /// a shared queue stops everyone's work, the alert webhooks' included).
    pub async fn pause(&self, principal: &Principal, queue: &str) -> Result<QueueSettings> {
        self.gate.check(principal, TASKS_ADMIN).await?;
        self.set_paused(queue, true).await
    }

    /// Hands out a paused queue's tasks again; needs `tasks:admin`.
    pub async fn resume(&self, principal: &Principal, queue: &str) -> Result<QueueSettings> {
        self.gate.check(principal, TASKS_ADMIN).await?;
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
    /// limit); needs `tasks:admin`.
    pub async fn set_concurrency_limit(
        &self,
        principal: &Principal,
        queue: &str,
        limit: Option<u32>,
    ) -> Result<QueueSettings> {
        self.gate.check(principal, TASKS_ADMIN).await?;
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

/// Seconds until a queue at its limit has drained `excess` tasks at its rate of the last
/// minute, between 1 and [`MAX_RETRY_AFTER_SECS`] (the longest when nothing completed).
fn retry_after(excess: u64, completed_last_minute: u64) -> u64 {
    if completed_last_minute == 0 {
        return MAX_RETRY_AFTER_SECS;
    }
    (excess * 60)
        .div_ceil(completed_last_minute)
        .clamp(1, MAX_RETRY_AFTER_SECS)
}

/// Whether `principal` acts for the user who enqueued `task` (an API key acts for its owner).
fn owns(principal: &Principal, task: &Task) -> bool {
    task.owner_id.is_some() && task.owner_id == principal.user_id()
}

/// Publishes `task.<state>` for `task` and counts it.
pub fn publish_transition(events: &dyn EventBus, task: &Task) {
    publish(
        events,
        &task.queue,
        task.state,
        task.owner_id,
        serde_json::json!({
            "id": task.id,
            "queue": task.queue,
            "kind": task.kind,
            "state": task.state,
            "attempt": task.attempt,
            "worker_id": task.worker_id,
            "last_error": task.last_error,
            "owner_id": task.owner_id,
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
    owner: Option<Uuid>,
) {
    publish(
        events,
        queue,
        state,
        owner,
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
fn publish(
    events: &dyn EventBus,
    queue: &str,
    state: TaskState,
    owner: Option<Uuid>,
    payload: serde_json::Value,
) {
    metrics::counter!(
        TASK_TRANSITIONS,
        "queue" => queue.to_owned(),
        "state" => state.as_str()
    )
    .increment(1);
    events.publish_owned(EVENT_SOURCE, &format!("task.{state}"), owner, payload);
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

#[cfg(test)]
mod tests {
    use super::retry_after;

    #[test]
    fn retry_after_is_the_time_to_drain_the_excess_within_a_minute() {
        assert_eq!(retry_after(1, 0), 60, "nothing drains: the longest wait");
        assert_eq!(retry_after(1, 2), 30, "2 a minute: one takes 30 s");
        assert_eq!(retry_after(1, 6_000), 1, "never under a second");
        assert_eq!(retry_after(10_000, 60), 60, "never over a minute");
        assert_eq!(retry_after(150, 600), 15);
    }
}
