//! [`TaskRepository`] on SQLite and PostgreSQL, in raw SQL through sqlx.
//!
//! The logic is written once (the `engine!` macro below) and instantiated for each engine;
//! the differences are few: on SQLite every write transaction starts with `BEGIN IMMEDIATE`
//! on the single writer connection, so several processes sharing one file serialise their
//! claims; on PostgreSQL claims lock their rows with `FOR UPDATE SKIP LOCKED`, claims of a
//! queue with a concurrency limit lock its `task_queues` row, and enqueues `NOTIFY` the other
//! nodes.
//!
//! Times are truncated to microseconds (PostgreSQL's precision) on both engines. On SQLite
//! they are stored as sqlx writes them (RFC 3339 UTC, `+00:00`, 0, 3 or 6 fraction digits),
//! which sorts as text in time order. Tags are stored as `,a,b,` (tags contain no commas)
//! and matched by substring. Every state-changing `UPDATE` restricts `state` to
//! [`TaskState::sources_of`] its target, spelled as literals so the partial indexes apply.

use crate::pg_listener::ListenerTask;
use crate::sql_pools::{Pools, on_engine, per_engine};

mod group_commit;
mod postgres_only;
mod queries;
mod sqlite_only;

use queries::{postgres, sqlite};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::DatabaseConnection;
use serde_json::Value;
use sqlx::AssertSqlSafe;
use sqlx::types::Json;
use tokio::sync::Notify;
use trae_core::tasks::task::{
    ClaimRequest, Enqueued, Finish, KindStats, Lease, Outcome, QueueBacklog, QueueSettings,
    QueueStats, Task, TaskAttemptError, TaskFilter, TaskPage, TaskRecord, TaskRepository,
    TaskState, TaskStats, validate_queue,
};
use trae_core::{Error, PageRequest, Result};
use uuid::Uuid;

/// The PostgreSQL channel enqueues notify, with the queue name as payload.
pub const NOTIFY_CHANNEL: &str = "trae_tasks";

/// Leases per renewal statement (3 parameters each).
const RENEW_CHUNK: usize = 500;
/// Unique keys per holder lookup, ids per error-history lookup.
const LOOKUP_CHUNK: usize = 1000;
/// How often enqueue retries a unique key whose holder finished while it looked.
const UNIQUE_RETRIES: usize = 8;
/// The advisory lock one PostgreSQL node holds while it folds counter deltas ("trae-cnt").
const COMPACT_LOCK: i64 = 0x7472_6165_2d63_6e74;
/// Activity rows are kept this long past the stats window, in seconds.
const ACTIVITY_KEPT_SECS: i64 = 120;
/// How often a reader on PostgreSQL folds the counter deltas first, at most: the deltas it
/// then adds up are about this much activity.
const FOLD_EVERY: Duration = Duration::from_secs(1);

const COLUMNS: &str = "id, queue, kind, payload, priority, state, attempt, max_attempts, run_at, \
    unique_key, tags, lease_expires_at, worker_id, last_error, result, progress, created_by, \
    owner_id, created_at, started_at, finished_at";

/// ` WHERE a AND b`, or nothing for no conditions.
fn where_clause(conds: &[String]) -> String {
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

/// `'a', 'b'` for an `IN (...)` list of states.
fn state_list(states: impl IntoIterator<Item = TaskState>) -> String {
    states
        .into_iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// States both targets may be reached from.
fn sources_of_both(a: TaskState, b: TaskState) -> Vec<TaskState> {
    let other = TaskState::sources_of(b);
    TaskState::sources_of(a)
        .into_iter()
        .filter(|s| other.contains(s))
        .collect()
}

/// The SQL that does not depend on the request, built once from the transition table.
struct Statements {
    /// The states a claim takes tasks from.
    claimable: String,
    /// States holding a unique key.
    unfinished: String,
    /// States that end a task's life.
    finished: String,
    complete: String,
    retry: String,
    fail: String,
    snooze: String,
    release: String,
    insert_error: &'static str,
    progress: String,
    cancel: String,
    retry_now: String,
    rescue: String,
}

static SQL: LazyLock<Statements> = LazyLock::new(|| {
    use TaskState::*;
    let fenced = "WHERE id = $1 AND worker_id = $2 AND attempt = $3 AND state = 'running'";
    let finish = |target: TaskState, set: &str| {
        format!(
            "UPDATE tasks SET state = '{target}', {set}, lease_expires_at = NULL {fenced} \
             AND state IN ({})",
            state_list(TaskState::sources_of(target))
        )
    };
    // Retry now: every source of `available` except a running task (whose lease is only
    // given back by its worker).
    let retry_sources: Vec<_> = TaskState::sources_of(Available)
        .into_iter()
        .filter(|s| *s != Running)
        .collect();
    Statements {
        claimable: state_list(TaskState::sources_of(Running)),
        unfinished: state_list(TaskState::ALL.into_iter().filter(|s| !s.is_finished())),
        finished: state_list(TaskState::FINISHED),
        complete: finish(Completed, "result = $4, finished_at = $5"),
        retry: finish(Retryable, "run_at = $4, last_error = $5"),
        fail: finish(Failed, "finished_at = $4, last_error = $5"),
        snooze: finish(Scheduled, "run_at = $4, attempt = attempt - 1"),
        release: finish(Available, "run_at = $4, attempt = attempt - 1"),
        insert_error: "INSERT INTO task_errors (task_id, attempt, at, message) \
                       VALUES ($1, $2, $3, $4)",
        progress: format!("UPDATE tasks SET progress = $4 {fenced}"),
        cancel: format!(
            "UPDATE tasks SET state = 'cancelled', finished_at = $2, lease_expires_at = NULL \
             WHERE id = $1 AND state IN ({})",
            state_list(TaskState::sources_of(Cancelled))
        ),
        retry_now: format!(
            "UPDATE tasks SET state = 'available', run_at = $2, finished_at = NULL, \
             lease_expires_at = NULL, \
             attempt = CASE WHEN state IN ({finished}) THEN 0 ELSE attempt END \
             WHERE id = $1 AND state IN ({sources})",
            finished = state_list(TaskState::FINISHED),
            sources = state_list(retry_sources),
        ),
        rescue: format!(
            "UPDATE tasks SET \
             state = CASE WHEN attempt < max_attempts THEN 'retryable' ELSE 'failed' END, \
             run_at = CASE WHEN attempt < max_attempts THEN $1 ELSE run_at END, \
             finished_at = CASE WHEN attempt < max_attempts THEN NULL ELSE $1 END, \
             last_error = 'lease expired (worker ' || COALESCE(worker_id, 'unknown') || ')', \
             lease_expires_at = NULL \
             WHERE state = 'running' AND lease_expires_at < $1 AND state IN ({}) \
             RETURNING id, attempt, last_error",
            state_list(sources_of_both(Retryable, Failed))
        ),
    }
});

/// Truncates to microseconds, the precision both engines keep.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

fn encode_tags(tags: &[String]) -> Result<String> {
    if tags.iter().any(|t| t.contains(',') || t.is_empty()) {
        return Err(Error::validation(
            "tags",
            "each tag must be non-empty and without commas",
        ));
    }
    Ok(if tags.is_empty() {
        String::new()
    } else {
        format!(",{},", tags.join(","))
    })
}

fn decode_tags(stored: &str) -> Vec<String> {
    stored
        .split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

#[allow(clippy::needless_pass_by_value)] // a `map_err` adapter
fn sql_err(err: sqlx::Error) -> Error {
    crate::error::sqlx_error(&err, "task")
}

#[allow(clippy::needless_pass_by_value)] // a `map_err` adapter
fn bad_row(err: sqlx::Error) -> Error {
    Error::Storage(format!("malformed task row: {err}"))
}

fn to_count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn limit_to_db(limit: Option<u32>) -> Result<Option<i32>> {
    match limit {
        None => Ok(None),
        Some(0) => Err(Error::validation(
            "concurrency_limit",
            "must be at least 1 (pause the queue to stop it)",
        )),
        Some(n) => i32::try_from(n)
            .map(Some)
            .map_err(|_| Error::validation("concurrency_limit", "too large")),
    }
}

fn limit_from_db(limit: Option<i32>) -> Option<u32> {
    limit.and_then(|n| u32::try_from(n).ok())
}

/// A task as a fresh insert leaves it (no read back needed).
fn inserted_task(r: &TaskRecord) -> Task {
    Task {
        id: r.id,
        queue: r.queue.clone(),
        kind: r.kind.clone(),
        payload: r.payload.clone(),
        priority: r.priority,
        state: r.state,
        attempt: 0,
        max_attempts: r.max_attempts,
        run_at: micros(r.run_at),
        unique_key: r.unique_key.clone(),
        tags: r.tags.clone(),
        lease_expires_at: None,
        worker_id: None,
        last_error: None,
        errors: Vec::new(),
        result: None,
        progress: None,
        created_by: r.created_by.clone(),
        owner_id: r.owner_id,
        created_at: micros(r.created_at),
        started_at: None,
        finished_at: None,
    }
}

fn check_record(r: &TaskRecord) -> Result<()> {
    if !matches!(r.state, TaskState::Scheduled | TaskState::Available) {
        return Err(Error::validation(
            "state",
            format!("a new task is scheduled or available, not {}", r.state),
        ));
    }
    Ok(())
}

/// `?, ?, ...`: `n` anonymous parameters, bound in order. SQLite looks named parameters
/// (`$N`, `?N`) up by a linear scan, which makes binding thousands of them quadratic; a
/// statement with only anonymous ones binds in linear time.
fn anonymous_params(n: usize) -> String {
    let mut out = String::with_capacity(n * 3);
    for i in 0..n {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('?');
    }
    out
}

/// `$from, $from+1, ...` for `n` parameters.
fn params(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The groups a claim selects from: queues without a limit together, each limited queue with
/// the slots it has left.
struct ClaimGroup {
    queues: Vec<String>,
    cap: Option<i64>,
}

/// The claim statement: each group's best due tasks (locked on PostgreSQL), merged, the best
/// `$4` of them made running. Parameters: `$1` now, `$2` worker, `$3` lease end, `$4` limit,
/// then the kinds, then per group its queues and (when limited) its cap.
///
/// With `guarded` (one group, no cap), the statement claims nothing when any of the group's
/// queues has a concurrency limit (and is not paused): the settings are read by the claim
/// itself, and a limited queue sends the caller down the locking path.
fn claim_sql(groups: &[ClaimGroup], kinds: usize, pg: bool, guarded: bool) -> String {
    let claimable = &SQL.claimable;
    let lock = if pg { " FOR UPDATE SKIP LOCKED" } else { "" };
    let kinds_list = params(5, kinds);
    let mut next = 5 + kinds;
    let mut selects = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let queues = params(next, g.queues.len());
        next += g.queues.len();
        let cap = match g.cap {
            Some(_) => {
                next += 1;
                format!("${}", next - 1)
            }
            None => "$4".to_owned(),
        };
        selects.push(format!(
            "SELECT id, priority, run_at FROM (SELECT id, priority, run_at FROM tasks \
             WHERE state IN ({claimable}) AND run_at <= $1 AND queue IN ({queues}) \
             AND kind IN ({kinds_list}) \
             AND NOT EXISTS (SELECT 1 FROM task_queues q WHERE q.queue = tasks.queue AND q.paused) \
             ORDER BY priority, run_at, id LIMIT {cap}{lock}) AS g{i}"
        ));
    }
    let guard = match groups {
        [g] if guarded && g.cap.is_none() => format!(
            " WHERE NOT EXISTS (SELECT 1 FROM task_queues l WHERE l.queue IN ({}) \
             AND l.concurrency_limit IS NOT NULL AND NOT l.paused)",
            params(5 + kinds, g.queues.len())
        ),
        _ => String::new(),
    };
    format!(
        "WITH picked AS MATERIALIZED (SELECT id FROM ({}) AS c{guard} \
         ORDER BY priority, run_at, id LIMIT $4) \
         UPDATE tasks SET state = 'running', attempt = attempt + 1, started_at = $1, \
         worker_id = $2, lease_expires_at = $3 \
         WHERE id IN (SELECT id FROM picked) AND state IN ({claimable}) RETURNING {COLUMNS}",
        selects.join(" UNION ALL ")
    )
}

/// The kinds of outcome `finish` applies, one statement each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FinishKind {
    Completed,
    Retry,
    Failed,
    Snoozed,
    Released,
}

impl FinishKind {
    const ALL: [Self; 5] = [
        Self::Completed,
        Self::Retry,
        Self::Failed,
        Self::Snoozed,
        Self::Released,
    ];

    fn of(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Completed { .. } => Self::Completed,
            Outcome::Retry { .. } => Self::Retry,
            Outcome::Failed { .. } => Self::Failed,
            Outcome::Snoozed { .. } => Self::Snoozed,
            Outcome::Released => Self::Released,
        }
    }

    /// The `SET` list over the joined values `v` (`v_ts`, `v_msg`, `v_res`) and the target.
    fn set(self) -> (&'static str, TaskState) {
        match self {
            Self::Completed => (
                "result = v.v_res, finished_at = v.v_ts",
                TaskState::Completed,
            ),
            Self::Retry => (
                "run_at = v.v_ts, last_error = v.v_msg",
                TaskState::Retryable,
            ),
            Self::Failed => (
                "finished_at = v.v_ts, last_error = v.v_msg",
                TaskState::Failed,
            ),
            Self::Snoozed => (
                "run_at = v.v_ts, attempt = attempt - 1",
                TaskState::Scheduled,
            ),
            Self::Released => (
                "run_at = v.v_ts, attempt = attempt - 1",
                TaskState::Available,
            ),
        }
    }

    /// `UPDATE ... FROM <values> ... RETURNING tasks.id`, fenced like the single-task
    /// statements: lease holder, attempt, running, and a source of the target state.
    fn sql(self, values: &str) -> String {
        let (set, target) = self.set();
        format!(
            "UPDATE tasks SET state = '{target}', {set}, lease_expires_at = NULL FROM {values} \
             WHERE tasks.id = v.v_id AND tasks.worker_id = v.v_worker \
             AND tasks.attempt = v.v_attempt AND tasks.state = 'running' \
             AND tasks.state IN ({}) RETURNING tasks.id",
            state_list(TaskState::sources_of(target))
        )
    }
}

/// `(time column, error, result)` of a finish: the time is the new `run_at` or
/// `finished_at`.
fn finish_values(f: &Finish) -> (DateTime<Utc>, Option<&str>, Option<&Value>) {
    match &f.outcome {
        Outcome::Completed { result } => (micros(f.at), None, result.as_ref()),
        Outcome::Retry { error, at } => (micros(*at), Some(error.as_str()), None),
        Outcome::Failed { error } => (micros(f.at), Some(error.as_str()), None),
        Outcome::Snoozed { until } => (micros(*until), None, None),
        Outcome::Released => (micros(f.at), None, None),
    }
}

/// The error an applied outcome records in the history.
fn finish_error(outcome: &Outcome) -> Option<&str> {
    match outcome {
        Outcome::Retry { error, .. } | Outcome::Failed { error } => Some(error.as_str()),
        _ => None,
    }
}

fn stats_entry(queues: &mut BTreeMap<String, QueueStats>, q: String) -> &mut QueueStats {
    queues.entry(q.clone()).or_insert_with(|| QueueStats {
        queue: q,
        paused: false,
        concurrency_limit: None,
        states: TaskState::ALL.into_iter().map(|s| (s, 0)).collect(),
        completed_last_minute: 0,
        oldest_available_age_secs: None,
        kinds: Vec::new(),
    })
}

fn kind_entry(queue: &mut QueueStats, kind: String) -> &mut KindStats {
    // Kinds are few per queue and stay sorted, so a binary search beats a map here.
    let at = match queue.kinds.binary_search_by(|k| k.kind.cmp(&kind)) {
        Ok(at) => at,
        Err(at) => {
            queue.kinds.insert(at, KindStats::new(kind));
            at
        }
    };
    &mut queue.kinds[at]
}

/// Tasks in the `tasks`, `task_errors`, `task_queues` and `task_schedule_ticks` tables.
///
/// Keep one per database handle ([`crate::Store::task_repository`] does): its wake-ups (and
/// on PostgreSQL its `LISTEN` connection) are shared by every caller.
pub struct SqlTaskRepository {
    pools: Pools,
    notify: Arc<Notify>,
    listener: OnceLock<ListenerTask>,
    /// When this process last folded the deltas before a read (PostgreSQL).
    folded: std::sync::Mutex<Option<std::time::Instant>>,
    /// Concurrent enqueues sharing transactions (SQLite, unless turned off).
    groups: Option<group_commit::EnqueueGroups>,
}

impl std::fmt::Debug for SqlTaskRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlTaskRepository").finish_non_exhaustive()
    }
}

/// Whether `every` has passed since `last` (then `last` becomes now).
fn due(last: &std::sync::Mutex<Option<std::time::Instant>>, every: Duration) -> bool {
    let mut last = last
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if last.is_some_and(|at| at.elapsed() < every) {
        return false;
    }
    *last = Some(std::time::Instant::now());
    true
}

/// Wakes every waiter, and leaves a permit for one that is about to wait.
fn wake(notify: &Notify) {
    notify.notify_waiters();
    notify.notify_one();
}

impl SqlTaskRepository {
    /// A repository writing through `writer` and reading through `reader` (on PostgreSQL the
    /// same pool).
    pub fn new(writer: &DatabaseConnection, reader: &DatabaseConnection) -> Self {
        let pools = Pools::new(writer, reader);
        Self {
            notify: Arc::new(Notify::new()),
            listener: OnceLock::new(),
            folded: std::sync::Mutex::new(None),
            groups: match pools {
                Pools::Sqlite { .. } => Some(group_commit::EnqueueGroups::default()),
                Pools::Postgres(_) => None,
            },
            pools,
        }
    }

    /// Whether concurrent enqueues on SQLite share one transaction (group commit, the
    /// default; see `group_commit`). Turning it off gives each call its own transaction, as
    /// before issue 20, for comparison. PostgreSQL, with a pool of writers, never groups.
    #[must_use]
    pub fn with_grouped_enqueues(mut self, grouped: bool) -> Self {
        self.groups = match (&self.pools, grouped) {
            (Pools::Sqlite { .. }, true) => Some(group_commit::EnqueueGroups::default()),
            _ => None,
        };
        self
    }

    /// Marks a worker write, which enqueue groups let go first (SQLite, when grouping).
    fn urgent(&self) -> Option<group_commit::Urgent<'_>> {
        self.groups
            .as_ref()
            .map(group_commit::EnqueueGroups::urgent)
    }

    /// Compacts the counters: folds deltas, drops counters at zero and activity older than
    /// the stats window at `now`.
    async fn compact(&self, now: DateTime<Utc>) -> Result<()> {
        let before = now.timestamp() - 60 - ACTIVITY_KEPT_SECS;
        on_engine!(self.pools, writer, compact(Some(before)))
    }

    /// On PostgreSQL, folds the deltas before a read when due, so what readers add up stays
    /// small even when no worker runs. A failed fold does not fail the read: the deltas are
    /// still added up.
    async fn fold_before_read(&self) {
        if let Pools::Postgres(pool) = &self.pools
            && due(&self.folded, FOLD_EVERY)
            && let Err(e) = postgres::compact(pool, None).await
        {
            tracing::warn!(error = %e, "folding task counter deltas failed");
        }
    }

    fn wake(&self) {
        wake(&self.notify);
    }

    /// Starts the `LISTEN` task on PostgreSQL the first time someone waits.
    fn ensure_listener(&self) {
        if let Pools::Postgres(pool) = &self.pools {
            self.listener.get_or_init(|| {
                let notify = Arc::clone(&self.notify);
                ListenerTask::spawn(pool.clone(), NOTIFY_CHANNEL, move || wake(&notify))
            });
        }
    }
}

#[async_trait]
impl TaskRepository for SqlTaskRepository {
    async fn enqueue(&self, tasks: &[TaskRecord]) -> Result<Vec<Enqueued>> {
        let out = match (&self.pools, &self.groups) {
            (Pools::Sqlite { writer, .. }, Some(groups)) => groups.enqueue(writer, tasks).await?,
            _ => on_engine!(self.pools, writer, enqueue(tasks))?,
        };
        if out.iter().any(|e| e.inserted) {
            self.wake();
        }
        Ok(out)
    }

    async fn get(&self, id: Uuid) -> Result<Option<Task>> {
        on_engine!(self.pools, reader, get(id))
    }

    async fn list(&self, filter: &TaskFilter, page: PageRequest) -> Result<TaskPage> {
        self.fold_before_read().await;
        on_engine!(self.pools, reader, list(filter, page))
    }

    async fn claim(&self, request: &ClaimRequest) -> Result<Vec<Task>> {
        let _first = self.urgent();
        on_engine!(self.pools, writer, claim(request))
    }

    async fn renew(&self, leases: &[Lease], until: DateTime<Utc>) -> Result<Vec<Uuid>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let _first = self.urgent();
        on_engine!(self.pools, writer, renew(leases, until))
    }

    async fn finish(&self, batch: &[Finish]) -> Result<Vec<bool>> {
        let applied = {
            let _first = self.urgent();
            on_engine!(self.pools, writer, finish(batch))?
        };
        if batch.iter().any(|f| matches!(f.outcome, Outcome::Released)) {
            self.wake();
        }
        Ok(applied)
    }

    async fn rescue_expired(&self, now: DateTime<Utc>) -> Result<Vec<Task>> {
        let rescued = {
            let _first = self.urgent();
            on_engine!(self.pools, writer, rescue_expired(now))?
        };
        if rescued.iter().any(|t| t.state == TaskState::Retryable) {
            self.wake();
        }
        Ok(rescued)
    }

    async fn cancel(&self, id: Uuid, now: DateTime<Utc>) -> Result<Task> {
        on_engine!(self.pools, writer, cancel(id, now))
    }

    async fn retry_now(&self, id: Uuid, now: DateTime<Utc>) -> Result<Task> {
        let task = on_engine!(self.pools, writer, retry_now(id, now))?;
        self.wake();
        Ok(task)
    }

    async fn report_progress(&self, lease: &Lease, progress: &Value) -> Result<bool> {
        on_engine!(self.pools, writer, report_progress(lease, progress))
    }

    async fn configure_queue(&self, settings: &QueueSettings) -> Result<()> {
        on_engine!(self.pools, writer, configure_queue(settings))?;
        if !settings.paused {
            self.wake();
        }
        Ok(())
    }

    async fn queue_settings(&self, queue: &str) -> Result<QueueSettings> {
        on_engine!(self.pools, reader, queue_settings(queue))
    }

    async fn stats(&self, now: DateTime<Utc>) -> Result<TaskStats> {
        self.fold_before_read().await;
        on_engine!(self.pools, reader, stats(now))
    }

    async fn backlog(
        &self,
        queues: &[String],
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<String, QueueBacklog>> {
        self.fold_before_read().await;
        on_engine!(self.pools, reader, backlog(queues, now))
    }

    async fn compact_stats(&self, now: DateTime<Utc>) -> Result<()> {
        self.compact(now).await
    }

    async fn prune(&self, before: DateTime<Utc>) -> Result<u64> {
        on_engine!(self.pools, writer, prune(before))
    }

    async fn enqueue_tick(
        &self,
        schedule: &str,
        tick: DateTime<Utc>,
        task: &TaskRecord,
    ) -> Result<Option<Task>> {
        let enqueued = on_engine!(self.pools, writer, enqueue_tick(schedule, tick, task))?;
        if enqueued.is_some() {
            self.wake();
        }
        Ok(enqueued)
    }

    async fn wait_for_tasks(&self, timeout: Duration) {
        self.ensure_listener();
        let _ = tokio::time::timeout(timeout, self.notify.notified()).await;
    }
}
