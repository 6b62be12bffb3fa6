//! Tasks: the records of the durable queue, their states and the one table of allowed
//! transitions, the input rules, and the repository port storage implements.
//!
//! A task is claimed by a worker under a *lease* (worker id + attempt). Every change a worker
//! makes afterwards (renewal, completion, retry) is *fenced* by that lease: once the lease is
//! lost (expired and re-claimed, or the task cancelled), the old worker's writes match no row.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, PageRequest, Result};

/// The queue a task goes to when the caller names none.
pub const DEFAULT_QUEUE: &str = "default";
/// The priority a task gets when the caller names none (1 runs first, 10 last).
pub const DEFAULT_PRIORITY: i16 = 5;
/// Attempts a task gets when the caller names none.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 5;
/// The most attempts a task may be given.
pub const MAX_ATTEMPTS_LIMIT: i32 = 100;
/// The most tasks one enqueue call may carry.
pub const MAX_BATCH: usize = 10_000;
/// The largest payload (serialised JSON) a task may carry.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for its `run_at`, set in the future at enqueue or by a snooze.
    Scheduled,
    /// Ready to be claimed.
    Available,
    /// Claimed by a worker holding a lease.
    Running,
    /// An attempt failed; it runs again at `run_at`.
    Retryable,
    /// Done; `result` holds what the handler returned.
    Completed,
    /// Every attempt failed (the dead letter); `errors` holds each one.
    Failed,
    /// Cancelled before it finished.
    Cancelled,
}

impl TaskState {
    /// Every state, in life order.
    pub const ALL: [Self; 7] = [
        Self::Scheduled,
        Self::Available,
        Self::Running,
        Self::Retryable,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The states a worker may claim from (when `run_at` has come).
    pub const CLAIMABLE: [Self; 3] = [Self::Scheduled, Self::Available, Self::Retryable];

    /// The states that end a task's life; a unique key is free again once its holder is in one.
    pub const FINISHED: [Self; 3] = [Self::Completed, Self::Failed, Self::Cancelled];

    /// The wire name, e.g. `"retryable"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Available => "available",
            Self::Running => "running",
            Self::Retryable => "retryable",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the task's life is over.
    pub fn is_finished(self) -> bool {
        Self::FINISHED.contains(&self)
    }

    /// Whether a task may move from `self` to `next`. The one table of allowed transitions:
    /// storage builds its guarded updates from [`TaskState::sources_of`], which reads it.
    pub fn can_become(self, next: Self) -> bool {
        use TaskState::*;
        match (self, next) {
            // Claimed (a due scheduled or retryable task is claimed directly).
            (Scheduled | Available | Retryable, Running) => true,
            // Finished attempts: done, failed for good, retry later, or snoozed.
            (Running, Completed | Failed | Retryable | Scheduled) => true,
            // A lease given back on shutdown.
            (Running, Available) => true,
            // Cancel while waiting or running.
            (Scheduled | Available | Running | Retryable, Cancelled) => true,
            // Retry now: a dead or cancelled task, or one waiting for its backoff.
            (Failed | Cancelled | Retryable | Scheduled, Available) => true,
            _ => false,
        }
    }

    /// Every state from which a task may move to `next`.
    pub fn sources_of(next: Self) -> Vec<Self> {
        Self::ALL
            .into_iter()
            .filter(|s| s.can_become(next))
            .collect()
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskState {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|s| s.as_str()).collect();
                Error::validation("state", format!("must be one of {}", names.join(", ")))
            })
    }
}

/// One failed attempt, kept in the task's error history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskAttemptError {
    /// The attempt that failed (1-based).
    pub attempt: i32,
    /// When it failed.
    pub at: DateTime<Utc>,
    /// What went wrong.
    pub message: String,
}

/// A task as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Unique id (UUIDv7, so ids sort by creation).
    pub id: Uuid,
    /// The queue it waits in.
    pub queue: String,
    /// What kind of work it is; selects the handler.
    pub kind: String,
    /// The handler's input.
    pub payload: serde_json::Value,
    /// 1 runs first, 10 last.
    pub priority: i16,
    /// Where it is in its life.
    pub state: TaskState,
    /// Attempts started so far.
    pub attempt: i32,
    /// Attempts it gets before it fails for good.
    pub max_attempts: i32,
    /// When it may run (next).
    pub run_at: DateTime<Utc>,
    /// While an unfinished task holds a key, enqueueing another with it returns this one.
    pub unique_key: Option<String>,
    /// Free-form labels for filtering.
    pub tags: Vec<String>,
    /// When the running worker's lease ends unless renewed.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// The worker holding (or that last held) the lease.
    pub worker_id: Option<String>,
    /// The most recent failure.
    pub last_error: Option<String>,
    /// Every failed attempt, oldest first.
    pub errors: Vec<TaskAttemptError>,
    /// What the handler returned on success.
    pub result: Option<serde_json::Value>,
    /// The latest progress its handler reported.
    pub progress: Option<serde_json::Value>,
    /// Who enqueued it, as `user:<id>`, `api_key:<id>` or `system`.
    pub created_by: String,
    /// The user on whose behalf it was enqueued (directly or through one of their API keys);
    /// `None` for the system and schedules.
    pub owner_id: Option<Uuid>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When its latest attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished (completed, failed or cancelled).
    pub finished_at: Option<DateTime<Utc>>,
}

impl Task {
    /// The lease the current attempt runs under, when running.
    pub fn lease(&self) -> Option<Lease> {
        (self.state == TaskState::Running).then(|| Lease {
            task_id: self.id,
            worker_id: self.worker_id.clone().unwrap_or_default(),
            attempt: self.attempt,
        })
    }
}

/// A task to enqueue, as a caller gives it; [`NewTask::validate`] turns it into a
/// [`TaskRecord`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewTask {
    /// The queue (default `"default"`).
    pub queue: Option<String>,
    /// What kind of work it is.
    pub kind: String,
    /// The handler's input (default `{}`).
    pub payload: Option<serde_json::Value>,
    /// 1–10, 1 first (default 5).
    pub priority: Option<i16>,
    /// 1–100 (default 5).
    pub max_attempts: Option<i32>,
    /// Run no earlier than this.
    pub run_at: Option<DateTime<Utc>>,
    /// Deduplicates against unfinished tasks holding the same key.
    pub unique_key: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
}

impl NewTask {
    /// A task of `kind` with `payload` and every default.
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            payload: Some(payload),
            ..Self::default()
        }
    }

    /// Checks every rule and fills the defaults; `created_by` names the enqueuer.
    pub fn validate(self, now: DateTime<Utc>, created_by: &str) -> Result<TaskRecord> {
        let queue = match self.queue {
            Some(q) => validate_queue(&q)?,
            None => DEFAULT_QUEUE.to_owned(),
        };
        let kind = validate_kind(&self.kind)?;
        let payload = self.payload.unwrap_or_else(|| serde_json::json!({}));
        if payload.to_string().len() > MAX_PAYLOAD_BYTES {
            return Err(Error::validation(
                "payload",
                format!("must be at most {MAX_PAYLOAD_BYTES} bytes of JSON"),
            ));
        }
        let priority = self.priority.unwrap_or(DEFAULT_PRIORITY);
        if !(1..=10).contains(&priority) {
            return Err(Error::validation(
                "priority",
                format!("must be between 1 and 10, got {priority}"),
            ));
        }
        let max_attempts = self.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(&max_attempts) {
            return Err(Error::validation(
                "max_attempts",
                format!("must be between 1 and {MAX_ATTEMPTS_LIMIT}, got {max_attempts}"),
            ));
        }
        let unique_key = match self.unique_key {
            Some(key) if key.is_empty() || key.len() > 255 => {
                return Err(Error::validation(
                    "unique_key",
                    "must be 1 to 255 characters",
                ));
            }
            other => other,
        };
        let tags = validate_tags(&self.tags)?;
        let run_at = self.run_at.unwrap_or(now);
        let state = if run_at > now {
            TaskState::Scheduled
        } else {
            TaskState::Available
        };
        Ok(TaskRecord {
            id: Uuid::now_v7(),
            queue,
            kind,
            payload,
            priority,
            state,
            max_attempts,
            run_at,
            unique_key,
            tags,
            created_by: created_by.to_owned(),
            owner_id: None,
            created_at: now,
        })
    }
}

/// A validated task, ready to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    /// Its id.
    pub id: Uuid,
    /// Its queue.
    pub queue: String,
    /// Its kind.
    pub kind: String,
    /// Its payload.
    pub payload: serde_json::Value,
    /// 1–10.
    pub priority: i16,
    /// `Scheduled` or `Available`.
    pub state: TaskState,
    /// 1–100.
    pub max_attempts: i32,
    /// When it may run.
    pub run_at: DateTime<Utc>,
    /// Its unique key.
    pub unique_key: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Who enqueued it.
    pub created_by: String,
    /// The user on whose behalf it is enqueued, if any.
    pub owner_id: Option<Uuid>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// What enqueueing one task did.
#[derive(Debug, Clone, PartialEq)]
pub struct Enqueued {
    /// The new task, or the unfinished one already holding its unique key.
    pub task: Task,
    /// Whether `task` is new.
    pub inserted: bool,
}

/// Checks a queue name: 1–64 characters of `[a-z0-9_.-]`.
pub fn validate_queue(name: &str) -> Result<String> {
    validate_name("queue", name, 64)
}

/// Checks a task kind: 1–128 characters of `[a-z0-9_.-]`, e.g. `http.request`.
pub fn validate_kind(kind: &str) -> Result<String> {
    validate_name("kind", kind, 128)
}

fn validate_name(field: &str, value: &str, max: usize) -> Result<String> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        });
    if ok {
        Ok(value.to_owned())
    } else {
        Err(Error::validation(
            field,
            format!("must be 1 to {max} characters of a-z, 0-9, '_', '.' and '-'"),
        ))
    }
}

fn validate_tags(tags: &[String]) -> Result<Vec<String>> {
    if tags.len() > 20 {
        return Err(Error::validation("tags", "at most 20 tags"));
    }
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = tag.trim();
        if tag.is_empty() || tag.len() > 64 || tag.contains(',') {
            return Err(Error::validation(
                "tags",
                "each tag must be 1 to 64 characters without commas",
            ));
        }
        if !out.iter().any(|t| t == tag) {
            out.push(tag.to_owned());
        }
    }
    Ok(out)
}

/// Filters for listing tasks; every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Only tasks in this state.
    pub state: Option<TaskState>,
    /// Only tasks in this queue.
    pub queue: Option<String>,
    /// Only tasks of this kind.
    pub kind: Option<String>,
    /// Only tasks carrying this tag.
    pub tag: Option<String>,
    /// Only tasks owned by this user (the queue sets it for callers who may not read all).
    pub owner_id: Option<Uuid>,
}

/// Fences a worker's writes to one attempt of one task.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The task.
    pub task_id: Uuid,
    /// The worker that claimed it.
    pub worker_id: String,
    /// The attempt the claim started.
    pub attempt: i32,
}

/// A worker asking for work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    /// Who is claiming; recorded on each task.
    pub worker_id: String,
    /// The queues it serves.
    pub queues: Vec<String>,
    /// The kinds it has handlers for.
    pub kinds: Vec<String>,
    /// At most this many tasks.
    pub limit: u32,
    /// Tasks due at or before this time are claimable.
    pub now: DateTime<Utc>,
    /// The lease each claimed task gets.
    pub lease_until: DateTime<Utc>,
}

/// How an attempt ended, as the worker reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The handler succeeded.
    Completed {
        /// What it returned.
        result: Option<serde_json::Value>,
    },
    /// The handler failed and attempts remain: run again at `at`.
    Retry {
        /// What went wrong.
        error: String,
        /// When to try again.
        at: DateTime<Utc>,
    },
    /// The handler failed for good (attempts exhausted, or it said not to retry).
    Failed {
        /// What went wrong.
        error: String,
    },
    /// Run again at `until` without spending an attempt.
    Snoozed {
        /// When.
        until: DateTime<Utc>,
    },
    /// The worker gave the task back unfinished (shutdown); the attempt is not counted.
    Released,
}

impl Outcome {
    /// The state the outcome moves a running task to.
    pub fn next_state(&self) -> TaskState {
        match self {
            Self::Completed { .. } => TaskState::Completed,
            Self::Retry { .. } => TaskState::Retryable,
            Self::Failed { .. } => TaskState::Failed,
            Self::Snoozed { .. } => TaskState::Scheduled,
            Self::Released => TaskState::Available,
        }
    }
}

/// One fenced completion in a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    /// The lease the attempt ran under.
    pub lease: Lease,
    /// How it ended.
    pub outcome: Outcome,
    /// When.
    pub at: DateTime<Utc>,
}

/// A queue's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSettings {
    /// The queue.
    pub queue: String,
    /// Paused queues hand out no tasks.
    pub paused: bool,
    /// At most this many of its tasks run at once, across every worker.
    pub concurrency_limit: Option<u32>,
}

/// Counts for one queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueStats {
    /// The queue.
    pub queue: String,
    /// Whether it is paused.
    pub paused: bool,
    /// Its concurrency limit, if any.
    pub concurrency_limit: Option<u32>,
    /// Tasks per state (every state present, zeros included).
    pub states: BTreeMap<TaskState, u64>,
    /// Tasks completed in the last minute.
    pub completed_last_minute: u64,
    /// Seconds the oldest due, claimable task has waited past its `run_at`.
    pub oldest_available_age_secs: Option<f64>,
    /// The same figures per kind of task, by kind.
    #[serde(default)]
    pub kinds: Vec<KindStats>,
}

/// Counts and latencies for one kind of task in one queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindStats {
    /// The kind.
    pub kind: String,
    /// Tasks per state (every state present, zeros included).
    pub states: BTreeMap<TaskState, u64>,
    /// Tasks completed in the last minute.
    pub completed_last_minute: u64,
    /// Tasks that failed for good in the last minute.
    pub failed_last_minute: u64,
    /// Mean seconds from `run_at` to a worker starting it, over the attempts started in the
    /// last minute (`None`: none started).
    pub average_wait_secs: Option<f64>,
    /// Mean seconds from start to finish of the tasks completed or failed in the last minute
    /// (`None`: none finished).
    pub average_run_secs: Option<f64>,
}

impl KindStats {
    /// A kind with nothing counted yet.
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            states: TaskState::ALL.into_iter().map(|s| (s, 0)).collect(),
            completed_last_minute: 0,
            failed_last_minute: 0,
            average_wait_secs: None,
            average_run_secs: None,
        }
    }
}

/// The most matching tasks a list counts for its `total` when the filter is one the counters
/// cannot answer (a tag or an owner): past it the count stops and says so.
pub const LIST_COUNT_CAP: u64 = 10_000;

/// One page of tasks: a [`Page`](crate::Page) whose `total` is exact when `total_exact` holds;
/// otherwise the count stopped at [`LIST_COUNT_CAP`] and more tasks than `total` match.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskPage {
    /// The tasks on this page, newest first.
    pub items: Vec<Task>,
    /// How many tasks match: exact, or a lower bound when `total_exact` is false.
    pub total: u64,
    /// Whether `total` is the exact number of matching tasks.
    pub total_exact: bool,
    /// The limit the page was asked with.
    pub limit: u32,
    /// The offset the page was asked with.
    pub offset: u64,
}

/// How much work waits in one queue, as the backlog limit reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueBacklog {
    /// Scheduled, available and retryable tasks: enqueued and not yet started or finished.
    pub waiting: u64,
    /// Tasks the queue completed in the last minute (its recent drain rate).
    pub completed_last_minute: u64,
}

/// The queue at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStats {
    /// Every queue that has tasks or settings, by name.
    pub queues: Vec<QueueStats>,
}

/// Where tasks live. Implemented by trae-storage on SQLite and PostgreSQL.
///
/// Writes that move a task between states must only match rows whose current state is one of
/// [`TaskState::sources_of`] the target, so a transition the table forbids changes nothing.
#[async_trait]
pub trait TaskRepository: Send + Sync + 'static {
    /// Inserts tasks, all or none. A task whose unique key an unfinished task holds is not
    /// inserted; the holder comes back with `inserted: false`. Enforced by a constraint.
    async fn enqueue(&self, tasks: &[TaskRecord]) -> Result<Vec<Enqueued>>;

    /// One task, with its error history.
    async fn get(&self, id: Uuid) -> Result<Option<Task>>;

    /// Tasks matching `filter`, newest first. The total comes from the counters when the
    /// filter is by state, queue and kind only; a tag or owner filter counts matching rows up
    /// to [`LIST_COUNT_CAP`], so no page counts the whole table.
    async fn list(&self, filter: &TaskFilter, page: PageRequest) -> Result<TaskPage>;

    /// Atomically claims up to `limit` due tasks of the requested queues and kinds, best
    /// priority first, then oldest `run_at`, skipping paused queues and honouring queue
    /// concurrency limits; each becomes running with `attempt + 1` under the request's lease.
    async fn claim(&self, request: &ClaimRequest) -> Result<Vec<Task>>;

    /// Extends the leases still held to `until`; returns the ids renewed. A lease not renewed
    /// is lost (expired and taken, or the task cancelled): its handler should stop.
    async fn renew(&self, leases: &[Lease], until: DateTime<Utc>) -> Result<Vec<Uuid>>;

    /// Applies a batch of outcomes in one transaction, each fenced by its lease; returns, in
    /// order, whether each was applied. Errors of failed attempts join the history.
    async fn finish(&self, batch: &[Finish]) -> Result<Vec<bool>>;

    /// Running tasks whose lease expired before `now`: retryable now if attempts remain,
    /// failed otherwise, each with a "lease expired" error. Returns the tasks changed.
    async fn rescue_expired(&self, now: DateTime<Utc>) -> Result<Vec<Task>>;

    /// Cancels a task that is not finished; `Conflict` when it is, `NotFound` when absent.
    async fn cancel(&self, id: Uuid, now: DateTime<Utc>) -> Result<Task>;

    /// Makes a failed, cancelled or waiting task available now; a failed or cancelled one
    /// gets a fresh set of attempts (its error history stays). `Conflict` otherwise.
    async fn retry_now(&self, id: Uuid, now: DateTime<Utc>) -> Result<Task>;

    /// Records the latest progress a running attempt reported (fenced by its lease).
    async fn report_progress(&self, lease: &Lease, progress: &serde_json::Value) -> Result<bool>;

    /// Changes a queue's settings, creating them on first use.
    async fn configure_queue(&self, settings: &QueueSettings) -> Result<()>;

    /// A queue's settings (defaults when never configured).
    async fn queue_settings(&self, queue: &str) -> Result<QueueSettings>;

    /// Counts per queue, kind and state, and the last minute's activity, read from counters
    /// kept with every change: the cost does not grow with the number of tasks.
    async fn stats(&self, now: DateTime<Utc>) -> Result<TaskStats>;

    /// The backlog of each of `queues` (queues without tasks are absent), from the counters.
    async fn backlog(
        &self,
        queues: &[String],
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<String, QueueBacklog>>;

    /// Housekeeping of the counters `stats` reads (folding pending deltas, dropping activity
    /// older than the stats window). Workers call it every heartbeat; it is cheap when there
    /// is nothing to do.
    async fn compact_stats(&self, _now: DateTime<Utc>) -> Result<()> {
        Ok(())
    }

    /// Deletes finished tasks that finished before `before`; returns how many.
    async fn prune(&self, before: DateTime<Utc>) -> Result<u64>;

    /// Enqueues `task` for `schedule`'s `tick` unless that tick was recorded before, ever;
    /// the tick and the task commit together. Returns the task when this call enqueued it.
    async fn enqueue_tick(
        &self,
        schedule: &str,
        tick: DateTime<Utc>,
        task: &TaskRecord,
    ) -> Result<Option<Task>>;

    /// Waits until tasks may have become available (an enqueue here or, on PostgreSQL, on any
    /// node) or `timeout` passes. Returns early at least on every enqueue in this process.
    async fn wait_for_tasks(&self, timeout: Duration);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-26T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn the_transition_table() {
        use TaskState::*;
        assert_eq!(
            TaskState::sources_of(Running),
            vec![Scheduled, Available, Retryable]
        );
        assert_eq!(
            TaskState::sources_of(Cancelled),
            vec![Scheduled, Available, Running, Retryable]
        );
        assert_eq!(TaskState::sources_of(Completed), vec![Running]);
        for finished in TaskState::FINISHED {
            assert!(!finished.can_become(Running), "{finished} never runs again");
            assert!(!finished.can_become(Cancelled));
            assert!(!finished.can_become(Completed));
        }
        assert!(
            !Completed.can_become(Available),
            "completed work is not redone"
        );
        assert!(Failed.can_become(Available), "a dead task can be retried");
    }

    #[test]
    fn states_round_trip_their_wire_names() {
        for state in TaskState::ALL {
            assert_eq!(state.as_str().parse::<TaskState>().unwrap(), state);
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                serde_json::json!(state.as_str())
            );
        }
        let err = "done".parse::<TaskState>().unwrap_err();
        assert!(err.to_string().contains("completed"), "{err}");
    }

    #[test]
    fn defaults_fill_in() {
        let record = NewTask::new("noop", serde_json::json!({"n": 1}))
            .validate(now(), "system")
            .unwrap();
        assert_eq!(record.queue, "default");
        assert_eq!(record.priority, 5);
        assert_eq!(record.max_attempts, 5);
        assert_eq!(record.state, TaskState::Available);
        assert_eq!(record.run_at, now());
        assert_eq!(record.created_by, "system");
    }

    #[test]
    fn future_tasks_are_scheduled() {
        let record = NewTask {
            run_at: Some(now() + chrono::Duration::minutes(5)),
            ..NewTask::new("noop", serde_json::json!({}))
        }
        .validate(now(), "system")
        .unwrap();
        assert_eq!(record.state, TaskState::Scheduled);
    }

    #[test]
    fn bad_input_names_its_field() {
        let cases = [
            (
                NewTask {
                    priority: Some(0),
                    ..NewTask::new("noop", serde_json::json!({}))
                },
                "priority",
            ),
            (
                NewTask {
                    priority: Some(11),
                    ..NewTask::new("noop", serde_json::json!({}))
                },
                "priority",
            ),
            (
                NewTask {
                    max_attempts: Some(0),
                    ..NewTask::new("noop", serde_json::json!({}))
                },
                "max_attempts",
            ),
            (NewTask::new("Bad Kind", serde_json::json!({})), "kind"),
            (NewTask::new("", serde_json::json!({})), "kind"),
            (
                NewTask {
                    queue: Some("UPPER".into()),
                    ..NewTask::new("noop", serde_json::json!({}))
                },
                "queue",
            ),
            (
                NewTask {
                    unique_key: Some(String::new()),
                    ..NewTask::new("noop", serde_json::json!({}))
                },
                "unique_key",
            ),
            (
                NewTask {
                    tags: vec!["a,b".into()],
                    ..NewTask::new("noop", serde_json::json!({}))
                },
                "tags",
            ),
            (
                NewTask::new("noop", serde_json::json!("x".repeat(MAX_PAYLOAD_BYTES))),
                "payload",
            ),
        ];
        for (task, field) in cases {
            match task.validate(now(), "system") {
                Err(Error::Validation { field: f, .. }) => assert_eq!(f, field),
                other => panic!("expected a validation error on {field}, got {other:?}"),
            }
        }
    }

    #[test]
    fn outcomes_map_to_allowed_transitions() {
        let outcomes = [
            Outcome::Completed { result: None },
            Outcome::Retry {
                error: "x".into(),
                at: now(),
            },
            Outcome::Failed { error: "x".into() },
            Outcome::Snoozed { until: now() },
            Outcome::Released,
        ];
        for outcome in outcomes {
            assert!(TaskState::Running.can_become(outcome.next_state()));
        }
    }
}
