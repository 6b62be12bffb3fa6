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

use crate::sql_pools::{Pools, on_engine, per_engine};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::DatabaseConnection;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgPool};
use tokio::sync::Notify;
use trae_core::task::{
    ClaimRequest, Enqueued, Finish, KindStats, Lease, Outcome, QueueSettings, QueueStats, Task,
    TaskAttemptError, TaskFilter, TaskRecord, TaskRepository, TaskState, TaskStats, validate_queue,
};
use trae_core::{Error, Page, PageRequest, Result};
use uuid::Uuid;

/// The PostgreSQL channel enqueues notify, with the queue name as payload.
pub const NOTIFY_CHANNEL: &str = "trae_tasks";

/// Leases per renewal statement (3 parameters each).
const RENEW_CHUNK: usize = 500;
/// Unique keys per holder lookup, ids per error-history lookup.
const LOOKUP_CHUNK: usize = 1000;
/// How often enqueue retries a unique key whose holder finished while it looked.
const UNIQUE_RETRIES: usize = 8;

const COLUMNS: &str = "id, queue, kind, payload, priority, state, attempt, max_attempts, run_at, \
    unique_key, tags, lease_expires_at, worker_id, last_error, result, progress, created_by, \
    created_at, started_at, finished_at";

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

/// What only SQLite runs: multi-row `VALUES` with anonymous parameters.
mod sqlite_only {
    use super::*;
    use sqlx::Row as _;
    use sqlx::SqliteConnection as Conn;

    /// Rows per multi-row `INSERT` (12 parameters each, under SQLite's 32,766).
    pub(super) const INSERT_CHUNK: usize = 1000;
    /// Outcomes per `finish` statement (6 parameters each).
    pub(super) const FINISH_CHUNK: usize = 1000;

    fn rows(n: usize, width: usize) -> String {
        let one = format!("({})", anonymous_params(width));
        vec![one; n].join(", ")
    }

    pub(super) async fn insert_chunk(
        conn: &mut Conn,
        chunk: &[&TaskRecord],
        keyed: bool,
    ) -> Result<Vec<Uuid>> {
        let mut sql = String::with_capacity(200 + chunk.len() * 40);
        sql.push_str(
            "INSERT INTO tasks (id, queue, kind, payload, priority, state, max_attempts, \
             run_at, unique_key, tags, created_by, created_at) VALUES ",
        );
        sql.push_str(&rows(chunk.len(), 12));
        if keyed {
            sql.push_str(" ON CONFLICT DO NOTHING RETURNING id");
        }
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for r in chunk {
            query = query
                .bind(r.id)
                .bind(r.queue.as_str())
                .bind(r.kind.as_str())
                .bind(Json(&r.payload))
                .bind(r.priority)
                .bind(r.state.as_str())
                .bind(r.max_attempts)
                .bind(micros(r.run_at))
                .bind(r.unique_key.as_deref())
                .bind(encode_tags(&r.tags)?)
                .bind(r.created_by.as_str())
                .bind(micros(r.created_at));
        }
        if keyed {
            let found = query.fetch_all(&mut *conn).await.map_err(sql_err)?;
            found
                .iter()
                .map(|row| row.try_get::<Uuid, _>(0).map_err(bad_row))
                .collect()
        } else {
            let done = query.execute(&mut *conn).await.map_err(sql_err)?;
            let n = usize::try_from(done.rows_affected()).unwrap_or(0);
            Ok(chunk.iter().take(n).map(|r| r.id).collect())
        }
    }

    pub(super) async fn finish_chunk(
        conn: &mut Conn,
        kind: FinishKind,
        chunk: &[&Finish],
    ) -> Result<Vec<Uuid>> {
        let values = format!(
            "(SELECT column1 AS v_id, column2 AS v_worker, column3 AS v_attempt, \
             column4 AS v_ts, column5 AS v_msg, column6 AS v_res FROM (VALUES {})) AS v",
            rows(chunk.len(), 6)
        );
        let mut query = sqlx::query(AssertSqlSafe(kind.sql(&values)));
        for f in chunk {
            let (ts, msg, res) = finish_values(f);
            query = query
                .bind(f.lease.task_id)
                .bind(f.lease.worker_id.as_str())
                .bind(f.lease.attempt)
                .bind(ts)
                .bind(msg)
                .bind(res.map(Json));
        }
        let found = query.fetch_all(&mut *conn).await.map_err(sql_err)?;
        found
            .iter()
            .map(|row| row.try_get::<Uuid, _>(0).map_err(bad_row))
            .collect()
    }

    pub(super) async fn insert_errors(
        conn: &mut Conn,
        errors: &[(Uuid, i32, DateTime<Utc>, &str)],
    ) -> Result<()> {
        let sql = format!(
            "INSERT INTO task_errors (task_id, attempt, at, message) VALUES {}",
            rows(errors.len(), 4)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (id, attempt, at, message) in errors {
            query = query.bind(*id).bind(*attempt).bind(*at).bind(*message);
        }
        query.execute(&mut *conn).await.map_err(sql_err)?;
        Ok(())
    }
}

/// What only PostgreSQL runs: one array parameter per column, `UNNEST`ed, so a statement
/// has a fixed text (prepared once) whatever the number of rows.
mod postgres_only {
    use super::*;
    use sqlx::PgConnection as Conn;
    use sqlx::Row as _;

    /// Rows per `INSERT` (arrays: no parameter limit; bounds a statement's size).
    pub(super) const INSERT_CHUNK: usize = 5000;
    /// Outcomes per `finish` statement.
    pub(super) const FINISH_CHUNK: usize = 5000;

    const INSERT: &str = "INSERT INTO tasks (id, queue, kind, payload, priority, state, \
        max_attempts, run_at, unique_key, tags, created_by, created_at) \
        SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::int2[], \
        $6::text[], $7::int4[], $8::timestamptz[], $9::text[], $10::text[], $11::text[], \
        $12::timestamptz[])";

    pub(super) async fn insert_chunk(
        conn: &mut Conn,
        chunk: &[&TaskRecord],
        keyed: bool,
    ) -> Result<Vec<Uuid>> {
        static KEYED: LazyLock<String> =
            LazyLock::new(|| format!("{INSERT} ON CONFLICT DO NOTHING RETURNING id"));
        let n = chunk.len();
        let mut ids = Vec::with_capacity(n);
        let mut queues = Vec::with_capacity(n);
        let mut kinds = Vec::with_capacity(n);
        let mut payloads = Vec::with_capacity(n);
        let mut priorities = Vec::with_capacity(n);
        let mut states = Vec::with_capacity(n);
        let mut max_attempts = Vec::with_capacity(n);
        let mut run_ats = Vec::with_capacity(n);
        let mut keys = Vec::with_capacity(n);
        let mut tags = Vec::with_capacity(n);
        let mut created_by = Vec::with_capacity(n);
        let mut created_at = Vec::with_capacity(n);
        for r in chunk {
            ids.push(r.id);
            queues.push(r.queue.as_str());
            kinds.push(r.kind.as_str());
            payloads.push(Json(&r.payload));
            priorities.push(r.priority);
            states.push(r.state.as_str());
            max_attempts.push(r.max_attempts);
            run_ats.push(micros(r.run_at));
            keys.push(r.unique_key.as_deref());
            tags.push(encode_tags(&r.tags)?);
            created_by.push(r.created_by.as_str());
            created_at.push(micros(r.created_at));
        }
        let query = sqlx::query(if keyed { KEYED.as_str() } else { INSERT })
            .bind(ids)
            .bind(queues)
            .bind(kinds)
            .bind(payloads)
            .bind(priorities)
            .bind(states)
            .bind(max_attempts)
            .bind(run_ats)
            .bind(keys)
            .bind(tags)
            .bind(created_by)
            .bind(created_at);
        if keyed {
            let found = query.fetch_all(&mut *conn).await.map_err(sql_err)?;
            found
                .iter()
                .map(|row| row.try_get::<Uuid, _>(0).map_err(bad_row))
                .collect()
        } else {
            let done = query.execute(&mut *conn).await.map_err(sql_err)?;
            let n = usize::try_from(done.rows_affected()).unwrap_or(0);
            Ok(chunk.iter().take(n).map(|r| r.id).collect())
        }
    }

    pub(super) async fn finish_chunk(
        conn: &mut Conn,
        kind: FinishKind,
        chunk: &[&Finish],
    ) -> Result<Vec<Uuid>> {
        static SQL: LazyLock<Vec<String>> = LazyLock::new(|| {
            FinishKind::ALL
                .iter()
                .map(|k| {
                    k.sql(
                        "UNNEST($1::uuid[], $2::text[], $3::int4[], $4::timestamptz[], \
                         $5::text[], $6::jsonb[]) AS v(v_id, v_worker, v_attempt, v_ts, v_msg, \
                         v_res)",
                    )
                })
                .collect()
        });
        let sql = SQL[FinishKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)].as_str();
        let n = chunk.len();
        let mut ids = Vec::with_capacity(n);
        let mut workers = Vec::with_capacity(n);
        let mut attempts = Vec::with_capacity(n);
        let mut times = Vec::with_capacity(n);
        let mut messages = Vec::with_capacity(n);
        let mut results = Vec::with_capacity(n);
        for f in chunk {
            let (ts, msg, res) = finish_values(f);
            ids.push(f.lease.task_id);
            workers.push(f.lease.worker_id.as_str());
            attempts.push(f.lease.attempt);
            times.push(ts);
            messages.push(msg);
            results.push(res.map(Json));
        }
        let found = sqlx::query(sql)
            .bind(ids)
            .bind(workers)
            .bind(attempts)
            .bind(times)
            .bind(messages)
            .bind(results)
            .fetch_all(&mut *conn)
            .await
            .map_err(sql_err)?;
        found
            .iter()
            .map(|row| row.try_get::<Uuid, _>(0).map_err(bad_row))
            .collect()
    }

    pub(super) async fn insert_errors(
        conn: &mut Conn,
        errors: &[(Uuid, i32, DateTime<Utc>, &str)],
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO task_errors (task_id, attempt, at, message) \
             SELECT * FROM UNNEST($1::uuid[], $2::int4[], $3::timestamptz[], $4::text[])",
        )
        .bind(errors.iter().map(|e| e.0).collect::<Vec<_>>())
        .bind(errors.iter().map(|e| e.1).collect::<Vec<_>>())
        .bind(errors.iter().map(|e| e.2).collect::<Vec<_>>())
        .bind(errors.iter().map(|e| e.3).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await
        .map_err(sql_err)?;
        Ok(())
    }
}

per_engine! {
    sqlite {
        use super::sqlite_only as special;
    }
    postgres {
        use super::postgres_only as special;
    }

    use sqlx::Row as _;

    type Conn = <Db as sqlx::Database>::Connection;
    type Tx = sqlx::Transaction<'static, Db>;

    /// The placeholders of a statement whose parameters are all bound in order.
    fn seq(from: usize, n: usize) -> String {
        if PG {
            params(from, n)
        } else {
            anonymous_params(n)
        }
    }

    async fn begin(pool: &Pool) -> Result<Tx> {
        if PG {
            pool.begin().await.map_err(sql_err)
        } else {
            pool.begin_with("BEGIN IMMEDIATE").await.map_err(sql_err)
        }
    }

    fn task(row: &DbRow) -> Result<Task> {
        let state: String = row.try_get("state").map_err(bad_row)?;
        let tags: String = row.try_get("tags").map_err(bad_row)?;
        Ok(Task {
            id: row.try_get("id").map_err(bad_row)?,
            queue: row.try_get("queue").map_err(bad_row)?,
            kind: row.try_get("kind").map_err(bad_row)?,
            payload: row
                .try_get::<Json<Value>, _>("payload")
                .map_err(bad_row)?
                .0,
            priority: row.try_get("priority").map_err(bad_row)?,
            state: state.parse()?,
            attempt: row.try_get("attempt").map_err(bad_row)?,
            max_attempts: row.try_get("max_attempts").map_err(bad_row)?,
            run_at: row.try_get("run_at").map_err(bad_row)?,
            unique_key: row.try_get("unique_key").map_err(bad_row)?,
            tags: decode_tags(&tags),
            lease_expires_at: row.try_get("lease_expires_at").map_err(bad_row)?,
            worker_id: row.try_get("worker_id").map_err(bad_row)?,
            last_error: row.try_get("last_error").map_err(bad_row)?,
            errors: Vec::new(),
            result: row
                .try_get::<Option<Json<Value>>, _>("result")
                .map_err(bad_row)?
                .map(|j| j.0),
            progress: row
                .try_get::<Option<Json<Value>>, _>("progress")
                .map_err(bad_row)?
                .map(|j| j.0),
            created_by: row.try_get("created_by").map_err(bad_row)?,
            created_at: row.try_get("created_at").map_err(bad_row)?,
            started_at: row.try_get("started_at").map_err(bad_row)?,
            finished_at: row.try_get("finished_at").map_err(bad_row)?,
        })
    }

    /// Fills in the error history of the tasks that have one (every failure sets
    /// `last_error`, and nothing clears it).
    async fn with_errors(conn: &mut Conn, mut tasks: Vec<Task>) -> Result<Vec<Task>> {
        let ids: Vec<Uuid> = tasks
            .iter()
            .filter(|t| t.last_error.is_some())
            .map(|t| t.id)
            .collect();
        if ids.is_empty() {
            return Ok(tasks);
        }
        let mut errors: HashMap<Uuid, Vec<TaskAttemptError>> = HashMap::new();
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let sql = format!(
                "SELECT task_id, attempt, at, message FROM task_errors \
                 WHERE task_id IN ({}) ORDER BY id",
                seq(1, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *conn).await.map_err(sql_err)? {
                let id: Uuid = row.try_get("task_id").map_err(bad_row)?;
                errors.entry(id).or_default().push(TaskAttemptError {
                    attempt: row.try_get("attempt").map_err(bad_row)?,
                    at: row.try_get("at").map_err(bad_row)?,
                    message: row.try_get("message").map_err(bad_row)?,
                });
            }
        }
        for t in &mut tasks {
            if let Some(e) = errors.remove(&t.id) {
                t.errors = e;
            }
        }
        Ok(tasks)
    }

    async fn fetch_one(conn: &mut Conn, id: Uuid) -> Result<Option<Task>> {
        let sql = const_format_select_by_id();
        let rows = sqlx::query(sql)
            .bind(id)
            .fetch_all(&mut *conn)
            .await
            .map_err(sql_err)?;
        let tasks = rows.iter().map(task).collect::<Result<Vec<_>>>()?;
        Ok(with_errors(conn, tasks).await?.into_iter().next())
    }

    fn const_format_select_by_id() -> &'static str {
        static S: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {COLUMNS} FROM tasks WHERE id = $1"));
        S.as_str()
    }

    async fn fetch_by_ids(conn: &mut Conn, ids: &[Uuid]) -> Result<Vec<Task>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let sql = format!(
                "SELECT {COLUMNS} FROM tasks WHERE id IN ({})",
                seq(1, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *conn).await.map_err(sql_err)? {
                out.push(task(&row)?);
            }
        }
        with_errors(conn, out).await
    }

    /// Inserts `records`, skipping those whose unique key is held; returns the ids
    /// inserted.
    async fn insert_rows(conn: &mut Conn, records: &[&TaskRecord]) -> Result<HashSet<Uuid>> {
        let mut inserted = HashSet::with_capacity(records.len());
        for chunk in records.chunks(special::INSERT_CHUNK) {
            let keyed = chunk.iter().any(|r| r.unique_key.is_some());
            let ids = special::insert_chunk(conn, chunk, keyed).await?;
            if !keyed && ids.len() != chunk.len() {
                return Err(Error::Conflict("a task with this id exists".into()));
            }
            inserted.extend(ids);
        }
        Ok(inserted)
    }

    /// The unfinished tasks holding `keys`, by key.
    async fn holders(conn: &mut Conn, keys: &[&str]) -> Result<HashMap<String, Task>> {
        let mut found = Vec::new();
        for chunk in keys.chunks(LOOKUP_CHUNK) {
            let sql = format!(
                "SELECT {COLUMNS} FROM tasks WHERE unique_key IN ({}) AND state IN ({})",
                seq(1, chunk.len()),
                SQL.unfinished
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for k in chunk {
                query = query.bind(*k);
            }
            for row in query.fetch_all(&mut *conn).await.map_err(sql_err)? {
                found.push(task(&row)?);
            }
        }
        Ok(with_errors(conn, found)
            .await?
            .into_iter()
            .filter_map(|t| t.unique_key.clone().map(|k| (k, t)))
            .collect())
    }

    /// Enqueues inside the caller's transaction.
    async fn enqueue_in(conn: &mut Conn, records: &[TaskRecord]) -> Result<Vec<Enqueued>> {
        for r in records {
            check_record(r)?;
        }
        let mut results: Vec<Option<Enqueued>> = vec![None; records.len()];
        // A key repeated within the batch resolves to its first occurrence.
        let mut first_of: HashMap<&str, usize> = HashMap::new();
        let mut repeats: Vec<(usize, usize)> = Vec::new();
        let mut pending: Vec<usize> = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            match r.unique_key.as_deref() {
                Some(key) => match first_of.get(key) {
                    Some(&first) => repeats.push((i, first)),
                    None => {
                        first_of.insert(key, i);
                        pending.push(i);
                    }
                },
                None => pending.push(i),
            }
        }
        let mut tries = 0;
        while !pending.is_empty() {
            tries += 1;
            if tries > UNIQUE_RETRIES {
                return Err(Error::Conflict(
                    "unique keys kept changing hands; try again".into(),
                ));
            }
            let batch: Vec<&TaskRecord> = pending.iter().map(|&i| &records[i]).collect();
            let inserted = insert_rows(conn, &batch).await?;
            let mut lost = Vec::new();
            for &i in &pending {
                if inserted.contains(&records[i].id) {
                    results[i] = Some(Enqueued {
                        task: inserted_task(&records[i]),
                        inserted: true,
                    });
                } else if records[i].unique_key.is_some() {
                    lost.push(i);
                } else {
                    return Err(Error::Conflict(format!(
                        "task {} already exists",
                        records[i].id
                    )));
                }
            }
            pending.clear();
            if lost.is_empty() {
                break;
            }
            let keys: Vec<&str> = lost
                .iter()
                .filter_map(|&i| records[i].unique_key.as_deref())
                .collect();
            let held = holders(conn, &keys).await?;
            for i in lost {
                let key = records[i].unique_key.as_deref().unwrap_or_default();
                match held.get(key) {
                    Some(t) => {
                        results[i] = Some(Enqueued {
                            task: t.clone(),
                            inserted: false,
                        })
                    }
                    // The holder finished meanwhile: the key is free, insert again.
                    None => pending.push(i),
                }
            }
        }
        for (i, first) in repeats {
            let task = results[first]
                .as_ref()
                .map(|e| e.task.clone())
                .ok_or_else(|| Error::Storage("unresolved unique key".into()))?;
            results[i] = Some(Enqueued {
                task,
                inserted: false,
            });
        }
        results
            .into_iter()
            .map(|r| r.ok_or_else(|| Error::Storage("unresolved enqueue".into())))
            .collect()
    }

    async fn notify_queues<'a>(
        conn: &mut Conn,
        queues: impl IntoIterator<Item = &'a str>,
    ) -> Result<()> {
        if PG {
            let distinct: std::collections::BTreeSet<&str> = queues.into_iter().collect();
            for q in distinct {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(NOTIFY_CHANNEL)
                    .bind(q)
                    .execute(&mut *conn)
                    .await
                    .map_err(sql_err)?;
            }
        }
        Ok(())
    }

    pub(super) async fn enqueue(pool: &Pool, records: &[TaskRecord]) -> Result<Vec<Enqueued>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = begin(pool).await?;
        let out = enqueue_in(&mut tx, records).await?;
        notify_queues(
            &mut tx,
            out.iter().filter(|e| e.inserted).map(|e| e.task.queue.as_str()),
        )
        .await?;
        tx.commit().await.map_err(sql_err)?;
        Ok(out)
    }

    pub(super) async fn enqueue_tick(
        pool: &Pool,
        schedule: &str,
        tick: DateTime<Utc>,
        record: &TaskRecord,
    ) -> Result<Option<Task>> {
        let mut tx = begin(pool).await?;
        let recorded = sqlx::query(
            "INSERT INTO task_schedule_ticks (schedule, tick, task_id, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(schedule)
        .bind(micros(tick))
        .bind(record.id)
        .bind(micros(record.created_at))
        .execute(&mut *tx)
        .await
        .map_err(sql_err)?;
        if recorded.rows_affected() == 0 {
            tx.rollback().await.map_err(sql_err)?;
            return Ok(None);
        }
        let mut out = enqueue_in(&mut tx, std::slice::from_ref(record)).await?;
        let enqueued = out.pop().filter(|e| e.inserted).map(|e| e.task);
        if let Some(t) = &enqueued {
            notify_queues(&mut tx, [t.queue.as_str()]).await?;
        }
        tx.commit().await.map_err(sql_err)?;
        Ok(enqueued)
    }

    pub(super) async fn get(pool: &Pool, id: Uuid) -> Result<Option<Task>> {
        let mut conn = pool.acquire().await.map_err(sql_err)?;
        fetch_one(&mut conn, id).await
    }

    pub(super) async fn list(
        pool: &Pool,
        filter: &TaskFilter,
        page: PageRequest,
    ) -> Result<Page<Task>> {
        let mut conds: Vec<String> = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        if let Some(state) = filter.state {
            binds.push(state.as_str().to_owned());
            conds.push(format!("state = ${}", binds.len()));
        }
        if let Some(queue) = &filter.queue {
            binds.push(queue.clone());
            conds.push(format!("queue = ${}", binds.len()));
        }
        if let Some(kind) = &filter.kind {
            binds.push(kind.clone());
            conds.push(format!("kind = ${}", binds.len()));
        }
        if let Some(tag) = &filter.tag {
            binds.push(format!(",{tag},"));
            conds.push(if PG {
                format!("strpos(tags, ${}) > 0", binds.len())
            } else {
                format!("instr(tags, ${}) > 0", binds.len())
            });
        }
        let where_sql = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let mut conn = pool.acquire().await.map_err(sql_err)?;
        let mut count = sqlx::query(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM tasks{where_sql}"
        )));
        for b in &binds {
            count = count.bind(b.as_str());
        }
        let total: i64 = count
            .fetch_one(&mut *conn)
            .await
            .map_err(sql_err)?
            .try_get(0)
            .map_err(bad_row)?;
        let n = binds.len();
        let mut select = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM tasks{where_sql} ORDER BY created_at DESC, id DESC \
             LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        )));
        for b in &binds {
            select = select.bind(b.as_str());
        }
        let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
        let rows = select
            .bind(i64::from(page.limit()))
            .bind(offset)
            .fetch_all(&mut *conn)
            .await
            .map_err(sql_err)?;
        let items = rows.iter().map(task).collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items: with_errors(&mut conn, items).await?,
            total: to_count(total),
            limit: page.limit(),
            offset: page.offset(),
        })
    }

    /// `(paused, limit)` of every configured queue among `queues`.
    async fn settings_of(
        conn: &mut Conn,
        queues: &[String],
        lock: bool,
    ) -> Result<HashMap<String, (bool, Option<u32>)>> {
        let sql = format!(
            "SELECT queue, paused, concurrency_limit FROM task_queues \
             WHERE queue IN ({}) ORDER BY queue{}",
            params(1, queues.len()),
            if lock && PG { " FOR UPDATE" } else { "" }
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for q in queues {
            query = query.bind(q.as_str());
        }
        let mut out = HashMap::new();
        for row in query.fetch_all(&mut *conn).await.map_err(sql_err)? {
            let queue: String = row.try_get("queue").map_err(bad_row)?;
            let paused: bool = row.try_get("paused").map_err(bad_row)?;
            let limit: Option<i32> = row.try_get("concurrency_limit").map_err(bad_row)?;
            out.insert(queue, (paused, limit_from_db(limit)));
        }
        Ok(out)
    }

    async fn run_claim(
        conn: &mut Conn,
        req: &ClaimRequest,
        groups: &[ClaimGroup],
        guarded: bool,
    ) -> Result<Vec<Task>> {
        let sql = claim_sql(groups, req.kinds.len(), PG, guarded);
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(micros(req.now))
            .bind(req.worker_id.as_str())
            .bind(micros(req.lease_until))
            .bind(i64::from(req.limit));
        for k in &req.kinds {
            query = query.bind(k.as_str());
        }
        for g in groups {
            for q in &g.queues {
                query = query.bind(q.as_str());
            }
            if let Some(cap) = g.cap {
                query = query.bind(cap);
            }
        }
        let rows = query.fetch_all(&mut *conn).await.map_err(sql_err)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut tasks = rows.iter().map(task).collect::<Result<Vec<_>>>()?;
        tasks.sort_by(|a, b| {
            (a.priority, a.run_at, a.id).cmp(&(b.priority, b.run_at, b.id))
        });
        with_errors(conn, tasks).await
    }

    pub(super) async fn claim(pool: &Pool, req: &ClaimRequest) -> Result<Vec<Task>> {
        if req.limit == 0 || req.queues.is_empty() || req.kinds.is_empty() {
            return Ok(Vec::new());
        }
        let mut queues = req.queues.clone();
        queues.sort();
        queues.dedup();
        let mut conn = pool.acquire().await.map_err(sql_err)?;
        // The common case in one statement: no queue limited (paused ones are skipped
        // by the claim itself). It claims nothing when a queue is limited, and then
        // the settings decide.
        let everything = [ClaimGroup {
            queues: queues.clone(),
            cap: None,
        }];
        let claimed = run_claim(&mut conn, req, &everything, true).await?;
        if !claimed.is_empty() {
            return Ok(claimed);
        }
        let settings = settings_of(&mut conn, &queues, false).await?;
        let limited: Vec<String> = queues
            .iter()
            .filter(|q| matches!(settings.get(*q), Some((false, Some(_)))))
            .cloned()
            .collect();
        let free: Vec<String> = queues
            .iter()
            .filter(|q| !matches!(settings.get(*q), Some((true, _)) | Some((_, Some(_)))))
            .cloned()
            .collect();
        if limited.is_empty() {
            // Nothing was due (or a limit was lifted since the claim above; the next
            // claim sees it).
            return Ok(Vec::new());
        }
        drop(conn);
        // Limited queues: serialise their claims (PostgreSQL locks their settings
        // rows; SQLite's write lock covers everything), then count what runs.
        let mut tx = begin(pool).await?;
        let locked = settings_of(&mut tx, &limited, true).await?;
        let sql = format!(
            "SELECT queue, COUNT(*) FROM tasks WHERE state = 'running' AND queue IN ({}) \
             GROUP BY queue",
            params(1, limited.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for q in &limited {
            query = query.bind(q.as_str());
        }
        let mut running: HashMap<String, i64> = HashMap::new();
        for row in query.fetch_all(&mut *tx).await.map_err(sql_err)? {
            running.insert(
                row.try_get(0).map_err(bad_row)?,
                row.try_get(1).map_err(bad_row)?,
            );
        }
        let mut groups = Vec::new();
        let mut unlimited = free;
        for q in limited {
            match locked.get(&q) {
                Some((true, _)) => {}
                Some((false, Some(limit))) => {
                    let left = i64::from(*limit) - running.get(&q).copied().unwrap_or(0);
                    if left > 0 {
                        groups.push(ClaimGroup {
                            queues: vec![q],
                            cap: Some(left.min(i64::from(req.limit))),
                        });
                    }
                }
                // The limit was lifted (or the settings removed) meanwhile.
                _ => unlimited.push(q),
            }
        }
        if !unlimited.is_empty() {
            groups.push(ClaimGroup {
                queues: unlimited,
                cap: None,
            });
        }
        if groups.is_empty() {
            tx.rollback().await.map_err(sql_err)?;
            return Ok(Vec::new());
        }
        let tasks = run_claim(&mut tx, req, &groups, false).await?;
        tx.commit().await.map_err(sql_err)?;
        Ok(tasks)
    }

    pub(super) async fn renew(
        pool: &Pool,
        leases: &[Lease],
        until: DateTime<Utc>,
    ) -> Result<Vec<Uuid>> {
        let mut renewed = HashSet::new();
        let mut conn = pool.acquire().await.map_err(sql_err)?;
        for chunk in leases.chunks(RENEW_CHUNK) {
            // Parameters in order: the lease end, then each lease's three.
            let ph = |i: usize| seq(i, 1);
            let conds: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p = 2 + i * 3;
                    format!(
                        "(id = {} AND worker_id = {} AND attempt = {})",
                        ph(p),
                        ph(p + 1),
                        ph(p + 2)
                    )
                })
                .collect();
            let sql = format!(
                "UPDATE tasks SET lease_expires_at = {} WHERE state = 'running' AND ({}) \
                 RETURNING id",
                ph(1),
                conds.join(" OR ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(micros(until));
            for l in chunk {
                query = query
                    .bind(l.task_id)
                    .bind(l.worker_id.as_str())
                    .bind(l.attempt);
            }
            for row in query.fetch_all(&mut *conn).await.map_err(sql_err)? {
                renewed.insert(row.try_get::<Uuid, _>(0).map_err(bad_row)?);
            }
        }
        let mut out = Vec::with_capacity(renewed.len());
        for l in leases {
            if renewed.remove(&l.task_id) {
                out.push(l.task_id);
            }
        }
        Ok(out)
    }

    pub(super) async fn finish(pool: &Pool, batch: &[Finish]) -> Result<Vec<bool>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = begin(pool).await?;
        let mut seen = HashSet::with_capacity(batch.len());
        let applied = if batch.iter().all(|f| seen.insert(f.lease.task_id)) {
            finish_grouped(&mut tx, batch).await?
        } else {
            // A task twice in one batch: apply in order, one by one.
            finish_each(&mut tx, batch).await?
        };
        tx.commit().await.map_err(sql_err)?;
        Ok(applied)
    }

    /// Distinct tasks: one statement per kind of outcome, then their errors in one
    /// insert.
    async fn finish_grouped(tx: &mut Tx, batch: &[Finish]) -> Result<Vec<bool>> {
        let mut done: HashSet<Uuid> = HashSet::with_capacity(batch.len());
        for kind in FinishKind::ALL {
            let items: Vec<&Finish> = batch
                .iter()
                .filter(|f| FinishKind::of(&f.outcome) == kind)
                .collect();
            for chunk in items.chunks(special::FINISH_CHUNK) {
                done.extend(special::finish_chunk(tx, kind, chunk).await?);
            }
        }
        let errors: Vec<(Uuid, i32, DateTime<Utc>, &str)> = batch
            .iter()
            .filter(|f| done.contains(&f.lease.task_id))
            .filter_map(|f| {
                finish_error(&f.outcome)
                    .map(|m| (f.lease.task_id, f.lease.attempt, micros(f.at), m))
            })
            .collect();
        for chunk in errors.chunks(special::INSERT_CHUNK) {
            special::insert_errors(tx, chunk).await?;
        }
        Ok(batch
            .iter()
            .map(|f| done.contains(&f.lease.task_id))
            .collect())
    }

    async fn finish_each(tx: &mut Tx, batch: &[Finish]) -> Result<Vec<bool>> {
        let sql = &*SQL;
        let mut applied = Vec::with_capacity(batch.len());
        for f in batch {
            let l = &f.lease;
            let at = micros(f.at);
            let base = |s: &'static str| {
                sqlx::query(s).bind(l.task_id).bind(l.worker_id.as_str()).bind(l.attempt)
            };
            let (done, error) = match &f.outcome {
                Outcome::Completed { result } => (
                    base(sql.complete.as_str())
                        .bind(result.as_ref().map(Json))
                        .bind(at)
                        .execute(&mut **tx)
                        .await,
                    None,
                ),
                Outcome::Retry { error, at: when } => (
                    base(sql.retry.as_str())
                        .bind(micros(*when))
                        .bind(error.as_str())
                        .execute(&mut **tx)
                        .await,
                    Some(error),
                ),
                Outcome::Failed { error } => (
                    base(sql.fail.as_str())
                        .bind(at)
                        .bind(error.as_str())
                        .execute(&mut **tx)
                        .await,
                    Some(error),
                ),
                Outcome::Snoozed { until } => (
                    base(sql.snooze.as_str())
                        .bind(micros(*until))
                        .execute(&mut **tx)
                        .await,
                    None,
                ),
                Outcome::Released => (
                    base(sql.release.as_str()).bind(at).execute(&mut **tx).await,
                    None,
                ),
            };
            let ok = done.map_err(sql_err)?.rows_affected() == 1;
            if ok && let Some(message) = error {
                sqlx::query(sql.insert_error)
                    .bind(l.task_id)
                    .bind(l.attempt)
                    .bind(at)
                    .bind(message.as_str())
                    .execute(&mut **tx)
                    .await
                    .map_err(sql_err)?;
            }
            applied.push(ok);
        }
        Ok(applied)
    }

    pub(super) async fn rescue_expired(pool: &Pool, now: DateTime<Utc>) -> Result<Vec<Task>> {
        let now = micros(now);
        let mut tx = begin(pool).await?;
        let rows = sqlx::query(SQL.rescue.as_str())
            .bind(now)
            .fetch_all(&mut *tx)
            .await
            .map_err(sql_err)?;
        if rows.is_empty() {
            tx.rollback().await.map_err(sql_err)?;
            return Ok(Vec::new());
        }
        let mut ids = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: Uuid = row.try_get("id").map_err(bad_row)?;
            let attempt: i32 = row.try_get("attempt").map_err(bad_row)?;
            let message: Option<String> = row.try_get("last_error").map_err(bad_row)?;
            sqlx::query(SQL.insert_error)
                .bind(id)
                .bind(attempt)
                .bind(now)
                .bind(message.unwrap_or_default())
                .execute(&mut *tx)
                .await
                .map_err(sql_err)?;
            ids.push(id);
        }
        let tasks = fetch_by_ids(&mut tx, &ids).await?;
        notify_queues(
            &mut tx,
            tasks
                .iter()
                .filter(|t| t.state == TaskState::Retryable)
                .map(|t| t.queue.as_str()),
        )
        .await?;
        tx.commit().await.map_err(sql_err)?;
        Ok(tasks)
    }

    /// Runs a guarded single-task transition; when it matches nothing, says why.
    async fn transition(
        pool: &Pool,
        sql: &'static str,
        id: Uuid,
        now: DateTime<Utc>,
        refuse: impl FnOnce(TaskState) -> String,
    ) -> Result<Task> {
        let mut tx = begin(pool).await?;
        let done = sqlx::query(sql)
            .bind(id)
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| match sql_err(e) {
                Error::Conflict(_) => Error::Conflict(format!(
                    "task {id} cannot become available: an unfinished task holds its \
                     unique key"
                )),
                other => other,
            })?;
        let current = fetch_one(&mut tx, id).await?;
        let Some(task) = current else {
            tx.rollback().await.map_err(sql_err)?;
            return Err(Error::not_found("task", id));
        };
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(sql_err)?;
            return Err(Error::Conflict(refuse(task.state)));
        }
        if task.state == TaskState::Available {
            notify_queues(&mut tx, [task.queue.as_str()]).await?;
        }
        tx.commit().await.map_err(sql_err)?;
        Ok(task)
    }

    pub(super) async fn cancel(pool: &Pool, id: Uuid, now: DateTime<Utc>) -> Result<Task> {
        transition(pool, SQL.cancel.as_str(), id, now, |state| {
            format!("task {id} is already {state}; only unfinished tasks can be cancelled")
        })
        .await
    }

    pub(super) async fn retry_now(pool: &Pool, id: Uuid, now: DateTime<Utc>) -> Result<Task> {
        transition(pool, SQL.retry_now.as_str(), id, now, |state| {
            format!(
                "task {id} is {state}; only failed, cancelled, retryable or scheduled \
                 tasks can be retried now"
            )
        })
        .await
    }

    pub(super) async fn report_progress(
        pool: &Pool,
        lease: &Lease,
        progress: &Value,
    ) -> Result<bool> {
        let done = sqlx::query(SQL.progress.as_str())
            .bind(lease.task_id)
            .bind(lease.worker_id.as_str())
            .bind(lease.attempt)
            .bind(Json(progress))
            .execute(pool)
            .await
            .map_err(sql_err)?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn configure_queue(pool: &Pool, s: &QueueSettings) -> Result<()> {
        let queue = validate_queue(&s.queue)?;
        let limit = limit_to_db(s.concurrency_limit)?;
        let mut tx = begin(pool).await?;
        sqlx::query(
            "INSERT INTO task_queues (queue, paused, concurrency_limit) VALUES ($1, $2, $3) \
             ON CONFLICT (queue) DO UPDATE SET paused = excluded.paused, \
             concurrency_limit = excluded.concurrency_limit",
        )
        .bind(queue.as_str())
        .bind(s.paused)
        .bind(limit)
        .execute(&mut *tx)
        .await
        .map_err(sql_err)?;
        notify_queues(&mut tx, [queue.as_str()]).await?;
        tx.commit().await.map_err(sql_err)
    }

    pub(super) async fn queue_settings(pool: &Pool, queue: &str) -> Result<QueueSettings> {
        let mut conn = pool.acquire().await.map_err(sql_err)?;
        let found = settings_of(&mut conn, &[queue.to_owned()], false).await?;
        let (paused, concurrency_limit) = found.get(queue).copied().unwrap_or((false, None));
        Ok(QueueSettings {
            queue: queue.to_owned(),
            paused,
            concurrency_limit,
        })
    }

    pub(super) async fn stats(pool: &Pool, now: DateTime<Utc>) -> Result<TaskStats> {
        let now = micros(now);
        let mut conn = pool.acquire().await.map_err(sql_err)?;
        let mut queues: BTreeMap<String, QueueStats> = BTreeMap::new();
        let rows = sqlx::query("SELECT queue, paused, concurrency_limit FROM task_queues")
            .fetch_all(&mut *conn)
            .await
            .map_err(sql_err)?;
        for row in rows {
            let q: String = row.try_get(0).map_err(bad_row)?;
            let s = stats_entry(&mut queues, q);
            s.paused = row.try_get(1).map_err(bad_row)?;
            s.concurrency_limit =
                limit_from_db(row.try_get::<Option<i32>, _>(2).map_err(bad_row)?);
        }
        let rows = sqlx::query(
            "SELECT queue, kind, state, COUNT(*) FROM tasks GROUP BY queue, kind, state",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(sql_err)?;
        for row in rows {
            let q: String = row.try_get(0).map_err(bad_row)?;
            let kind: String = row.try_get(1).map_err(bad_row)?;
            let state: TaskState = row.try_get::<String, _>(2).map_err(bad_row)?.parse()?;
            let n = to_count(row.try_get(3).map_err(bad_row)?);
            let queue = stats_entry(&mut queues, q);
            *queue.states.entry(state).or_default() += n;
            *kind_entry(queue, kind).states.entry(state).or_default() += n;
        }
        // Seconds between two timestamps, as each engine computes them.
        let (run_secs, wait_secs) = if PG {
            (
                "EXTRACT(EPOCH FROM (finished_at - started_at))::float8",
                "EXTRACT(EPOCH FROM (started_at - run_at))::float8",
            )
        } else {
            (
                "(julianday(finished_at) - julianday(started_at)) * 86400.0",
                "(julianday(started_at) - julianday(run_at)) * 86400.0",
            )
        };
        let finished = format!(
            "SELECT queue, kind, state, COUNT(*), SUM({run_secs}) FROM tasks \
             WHERE state IN ('completed', 'failed') AND finished_at >= $1 \
             AND started_at IS NOT NULL GROUP BY queue, kind, state"
        );
        let rows = sqlx::query(AssertSqlSafe(finished))
            .bind(now - chrono::Duration::seconds(60))
            .fetch_all(&mut *conn)
            .await
            .map_err(sql_err)?;
        // (finished, total run seconds) per (queue, kind), for the mean.
        let mut runs: HashMap<(String, String), (u64, f64)> = HashMap::new();
        for row in rows {
            let q: String = row.try_get(0).map_err(bad_row)?;
            let kind: String = row.try_get(1).map_err(bad_row)?;
            let state: TaskState = row.try_get::<String, _>(2).map_err(bad_row)?.parse()?;
            let n = to_count(row.try_get(3).map_err(bad_row)?);
            let secs: Option<f64> = row.try_get(4).map_err(bad_row)?;
            let run = runs.entry((q.clone(), kind.clone())).or_default();
            run.0 += n;
            run.1 += secs.unwrap_or(0.0);
            let queue = stats_entry(&mut queues, q);
            if state == TaskState::Completed {
                queue.completed_last_minute += n;
                kind_entry(queue, kind).completed_last_minute += n;
            } else {
                kind_entry(queue, kind).failed_last_minute += n;
            }
        }
        for ((q, kind), (n, secs)) in runs {
            if n > 0 {
                kind_entry(stats_entry(&mut queues, q), kind).average_run_secs =
                    Some((secs / n as f64).max(0.0));
            }
        }
        let started = format!(
            "SELECT queue, kind, AVG({wait_secs}) FROM tasks \
             WHERE started_at >= $1 GROUP BY queue, kind"
        );
        let rows = sqlx::query(AssertSqlSafe(started))
            .bind(now - chrono::Duration::seconds(60))
            .fetch_all(&mut *conn)
            .await
            .map_err(sql_err)?;
        for row in rows {
            let q: String = row.try_get(0).map_err(bad_row)?;
            let kind: String = row.try_get(1).map_err(bad_row)?;
            let wait: Option<f64> = row.try_get(2).map_err(bad_row)?;
            kind_entry(stats_entry(&mut queues, q), kind).average_wait_secs =
                wait.map(|w| w.max(0.0));
        }
        static OLDEST: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT queue, MIN(run_at) FROM tasks WHERE state IN ({}) \
                 AND run_at <= $1 GROUP BY queue",
                SQL.claimable
            )
        });
        let rows = sqlx::query(OLDEST.as_str())
            .bind(now)
            .fetch_all(&mut *conn)
            .await
            .map_err(sql_err)?;
        for row in rows {
            let q: String = row.try_get(0).map_err(bad_row)?;
            let oldest: Option<DateTime<Utc>> = row.try_get(1).map_err(bad_row)?;
            if let Some(oldest) = oldest {
                let age = (now - oldest).num_microseconds().unwrap_or(i64::MAX);
                stats_entry(&mut queues, q).oldest_available_age_secs =
                    Some(age.max(0) as f64 / 1e6);
            }
        }
        Ok(TaskStats {
            queues: queues.into_values().collect(),
        })
    }

    pub(super) async fn prune(pool: &Pool, before: DateTime<Utc>) -> Result<u64> {
        static PRUNE: LazyLock<String> = LazyLock::new(|| {
            format!(
                "DELETE FROM tasks WHERE state IN ({}) AND finished_at < $1",
                SQL.finished
            )
        });
        let done = sqlx::query(PRUNE.as_str())
            .bind(micros(before))
            .execute(pool)
            .await
            .map_err(sql_err)?;
        Ok(done.rows_affected())
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

/// Aborts the PostgreSQL listener when the repository goes.
struct ListenerTask(tokio::task::JoinHandle<()>);

impl Drop for ListenerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Tasks in the `tasks`, `task_errors`, `task_queues` and `task_schedule_ticks` tables.
///
/// Keep one per database handle ([`crate::Store::task_repository`] does): its wake-ups (and
/// on PostgreSQL its `LISTEN` connection) are shared by every caller.
pub struct SqlTaskRepository {
    pools: Pools,
    notify: Arc<Notify>,
    listener: OnceLock<ListenerTask>,
}

impl std::fmt::Debug for SqlTaskRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlTaskRepository").finish_non_exhaustive()
    }
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
            pools,
            notify: Arc::new(Notify::new()),
            listener: OnceLock::new(),
        }
    }

    fn wake(&self) {
        wake(&self.notify);
    }

    /// Starts the `LISTEN` task on PostgreSQL the first time someone waits.
    fn ensure_listener(&self) {
        if let Pools::Postgres(pool) = &self.pools {
            self.listener.get_or_init(|| {
                ListenerTask(tokio::spawn(listen(pool.clone(), Arc::clone(&self.notify))))
            });
        }
    }
}

/// Turns notifications from every node into wake-ups, reconnecting after errors. Every
/// (re)connection wakes the waiters too: notifications may have been missed meanwhile.
async fn listen(pool: PgPool, notify: Arc<Notify>) {
    let mut delay = Duration::from_millis(100);
    loop {
        match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(NOTIFY_CHANNEL).await {
                Ok(()) => {
                    delay = Duration::from_millis(100);
                    wake(&notify);
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(_)) => {
                                while listener.next_buffered().is_some() {}
                                wake(&notify);
                            }
                            // The connection dropped and came back.
                            Ok(None) => wake(&notify),
                            Err(sqlx::Error::PoolClosed) => return,
                            Err(e) => {
                                tracing::warn!(error = %e, "task notifications lost; reconnecting");
                                break;
                            }
                        }
                    }
                }
                Err(sqlx::Error::PoolClosed) => return,
                Err(e) => tracing::warn!(error = %e, "cannot LISTEN for task notifications"),
            },
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => tracing::warn!(error = %e, "cannot connect to LISTEN for task notifications"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

#[async_trait]
impl TaskRepository for SqlTaskRepository {
    async fn enqueue(&self, tasks: &[TaskRecord]) -> Result<Vec<Enqueued>> {
        let out = on_engine!(self.pools, writer, enqueue(tasks))?;
        if out.iter().any(|e| e.inserted) {
            self.wake();
        }
        Ok(out)
    }

    async fn get(&self, id: Uuid) -> Result<Option<Task>> {
        on_engine!(self.pools, reader, get(id))
    }

    async fn list(&self, filter: &TaskFilter, page: PageRequest) -> Result<Page<Task>> {
        on_engine!(self.pools, reader, list(filter, page))
    }

    async fn claim(&self, request: &ClaimRequest) -> Result<Vec<Task>> {
        on_engine!(self.pools, writer, claim(request))
    }

    async fn renew(&self, leases: &[Lease], until: DateTime<Utc>) -> Result<Vec<Uuid>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        on_engine!(self.pools, writer, renew(leases, until))
    }

    async fn finish(&self, batch: &[Finish]) -> Result<Vec<bool>> {
        let applied = on_engine!(self.pools, writer, finish(batch))?;
        if batch.iter().any(|f| matches!(f.outcome, Outcome::Released)) {
            self.wake();
        }
        Ok(applied)
    }

    async fn rescue_expired(&self, now: DateTime<Utc>) -> Result<Vec<Task>> {
        let rescued = on_engine!(self.pools, writer, rescue_expired(now))?;
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
        on_engine!(self.pools, reader, stats(now))
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
