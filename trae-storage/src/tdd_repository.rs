//! [`TddRepository`] on SQLite and PostgreSQL, in raw SQL through sqlx: runs in `tdd_runs`,
//! their steps in `tdd_steps`. The structured parts (the test command, the budget, reports,
//! edits, the changed files) are stored as JSON text.
//!
//! Each state change is one conditional `UPDATE` (`WHERE status IN (…)`, `WHERE accepted_at IS
//! NULL`), so two callers racing for the same change cannot both succeed; only when it
//! changes nothing is the row read again, to tell an unknown run from one in the wrong state.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{QueryBuilder, Row};
use trae_core::tdd::run::{RunEnd, RunFilter, RunSpec, RunStatus, TddRepository, TddRun, TddStep};
use trae_core::{Error, Page, PageRequest, Result};
use uuid::Uuid;

use crate::sql_pools::{Pools, on_engine, per_engine};

/// TDD runs in the `tdd_runs` table, their steps in `tdd_steps`.
#[derive(Debug, Clone)]
pub struct SqlTddRepository {
    pools: Pools,
}

impl SqlTddRepository {
    /// A repository writing through `writer` and reading through `reader`.
    pub fn new(writer: &DatabaseConnection, reader: &DatabaseConnection) -> Self {
        Self {
            pools: Pools::new(writer, reader),
        }
    }
}

#[allow(clippy::needless_pass_by_value)] // a `map_err` adapter
fn sql_err(err: sqlx::Error) -> Error {
    crate::error::sqlx_error(&err, "tdd run")
}

/// The entity named in `NotFound` errors.
const ENTITY: &str = "tdd run";

const RUN_COLUMNS: &str = "id, owner_id, project, test_command, max_iterations, model, budget, \
    status, reason, project_digest, iterations, tokens, cost, final_report, files, originals, \
    created_at, started_at, finished_at, accepted_at";

const STEP_COLUMNS: &str =
    "run_id, step_index, prompt_summary, answer, edits, report, tokens, cost, elapsed_ms, at";

/// The statuses a run has not ended in, as an SQL list (mirrors `RunStatus::is_final`).
const NOT_FINAL: &str = "('queued', 'running')";

fn to_json(field: &str, value: &impl Serialize) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| Error::validation(field, format!("cannot be stored as JSON: {e}")))
}

fn from_json<T: DeserializeOwned>(column: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Storage(format!("stored tdd {column}: {e}")))
}

fn to_i64(field: &str, value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::validation(field, format!("{value} is too large")))
}

fn to_i32(field: &str, value: u32) -> Result<i32> {
    i32::try_from(value).map_err(|_| Error::validation(field, format!("{value} is too large")))
}

fn unsigned<T: TryFrom<i64>>(column: &str, value: i64) -> Result<T> {
    T::try_from(value).map_err(|_| Error::Storage(format!("stored tdd {column} {value}")))
}

fn status_named(name: &str) -> Result<RunStatus> {
    RunStatus::parse(name).map_err(|_| Error::Storage(format!("stored tdd run status {name:?}")))
}

per_engine! {
    fn run_of(row: &DbRow) -> Result<TddRun> {
        let test_command: String = row.try_get("test_command").map_err(sql_err)?;
        let budget: String = row.try_get("budget").map_err(sql_err)?;
        let status: String = row.try_get("status").map_err(sql_err)?;
        let final_report: Option<String> = row.try_get("final_report").map_err(sql_err)?;
        let files: String = row.try_get("files").map_err(sql_err)?;
        let originals: String = row.try_get("originals").map_err(sql_err)?;
        let max_iterations: i32 = row.try_get("max_iterations").map_err(sql_err)?;
        let iterations: i32 = row.try_get("iterations").map_err(sql_err)?;
        let tokens: i64 = row.try_get("tokens").map_err(sql_err)?;
        Ok(TddRun {
            id: row.try_get("id").map_err(sql_err)?,
            owner: row.try_get("owner_id").map_err(sql_err)?,
            spec: RunSpec {
                project: row.try_get("project").map_err(sql_err)?,
                test_command: from_json("test_command", &test_command)?,
                max_iterations: unsigned("max_iterations", i64::from(max_iterations))?,
                model: row.try_get("model").map_err(sql_err)?,
                budget: from_json("budget", &budget)?,
            },
            status: status_named(&status)?,
            reason: row.try_get("reason").map_err(sql_err)?,
            project_digest: row.try_get("project_digest").map_err(sql_err)?,
            iterations: unsigned("iterations", i64::from(iterations))?,
            tokens: unsigned("tokens", tokens)?,
            cost: row.try_get("cost").map_err(sql_err)?,
            final_report: final_report
                .map(|r| from_json("final_report", &r))
                .transpose()?,
            files: from_json("files", &files)?,
            originals: from_json("originals", &originals)?,
            created_at: row.try_get("created_at").map_err(sql_err)?,
            started_at: row.try_get("started_at").map_err(sql_err)?,
            finished_at: row.try_get("finished_at").map_err(sql_err)?,
            accepted_at: row.try_get("accepted_at").map_err(sql_err)?,
        })
    }

    fn step_of(row: &DbRow) -> Result<TddStep> {
        let index: i32 = row.try_get("step_index").map_err(sql_err)?;
        let edits: String = row.try_get("edits").map_err(sql_err)?;
        let report: Option<String> = row.try_get("report").map_err(sql_err)?;
        let tokens: i64 = row.try_get("tokens").map_err(sql_err)?;
        let elapsed_ms: i64 = row.try_get("elapsed_ms").map_err(sql_err)?;
        Ok(TddStep {
            run_id: row.try_get("run_id").map_err(sql_err)?,
            index: unsigned("step_index", i64::from(index))?,
            prompt_summary: row.try_get("prompt_summary").map_err(sql_err)?,
            answer: row.try_get("answer").map_err(sql_err)?,
            edits: from_json("edits", &edits)?,
            report: report.map(|r| from_json("report", &r)).transpose()?,
            tokens: unsigned("tokens", tokens)?,
            cost: row.try_get("cost").map_err(sql_err)?,
            elapsed_ms: unsigned("elapsed_ms", elapsed_ms)?,
            at: row.try_get("at").map_err(sql_err)?,
        })
    }

    /// The run's status, or `None` when there is no such run.
    async fn status_of(pool: &Pool, id: Uuid) -> Result<Option<RunStatus>> {
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM tdd_runs WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err(sql_err)?;
        status.as_deref().map(status_named).transpose()
    }

    pub(super) async fn create(pool: &Pool, run: &TddRun) -> Result<()> {
        let spec = &run.spec;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO tdd_runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
        )))
        .bind(run.id)
        .bind(run.owner)
        .bind(spec.project.as_str())
        .bind(to_json("test_command", &spec.test_command)?)
        .bind(to_i32("max_iterations", spec.max_iterations)?)
        .bind(spec.model.as_deref())
        .bind(to_json("budget", &spec.budget)?)
        .bind(run.status.as_str())
        .bind(run.reason.as_deref())
        .bind(run.project_digest.as_deref())
        .bind(to_i32("iterations", run.iterations)?)
        .bind(to_i64("tokens", run.tokens)?)
        .bind(run.cost)
        .bind(run.final_report.as_ref().map(|r| to_json("final_report", r)).transpose()?)
        .bind(to_json("files", &run.files)?)
        .bind(to_json("originals", &run.originals)?)
        .bind(run.created_at)
        .bind(run.started_at)
        .bind(run.finished_at)
        .bind(run.accepted_at)
        .execute(pool)
        .await
        .map_err(sql_err)?;
        Ok(())
    }

    pub(super) async fn start(
        pool: &Pool,
        id: Uuid,
        digest: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let started = sqlx::query(
            "UPDATE tdd_runs SET status = 'running', project_digest = $2, started_at = $3 \
             WHERE id = $1 AND status = 'queued'",
        )
        .bind(id)
        .bind(digest)
        .bind(at)
        .execute(pool)
        .await
        .map_err(sql_err)?
        .rows_affected();
        if started > 0 {
            return Ok(());
        }
        match status_of(pool, id).await? {
            None => Err(Error::not_found(ENTITY, id)),
            Some(status) => Err(Error::Conflict(format!(
                "tdd run {id} is {}: only a queued run can start",
                status.as_str()
            ))),
        }
    }

    pub(super) async fn add_step(pool: &Pool, step: &TddStep) -> Result<()> {
        let index = to_i32("index", step.index)?;
        let tokens = to_i64("tokens", step.tokens)?;
        let elapsed_ms = to_i64("elapsed_ms", step.elapsed_ms)?;
        let edits = to_json("edits", &step.edits)?;
        let report = step.report.as_ref().map(|r| to_json("report", r)).transpose()?;
        let mut tx = pool.begin().await.map_err(sql_err)?;
        // The run first: on PostgreSQL its row stays locked until the step is in, so
        // concurrent steps add up; on SQLite the update takes the write lock.
        let counted = sqlx::query(
            "UPDATE tdd_runs SET tokens = tokens + $2, cost = cost + $3, \
             iterations = iterations + $4 WHERE id = $1",
        )
        .bind(step.run_id)
        .bind(tokens)
        .bind(step.cost)
        .bind(i32::from(step.answer.is_some()))
        .execute(&mut *tx)
        .await
        .map_err(sql_err)?
        .rows_affected();
        if counted == 0 {
            return Err(Error::not_found(ENTITY, step.run_id));
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO tdd_steps ({STEP_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )))
        .bind(step.run_id)
        .bind(index)
        .bind(step.prompt_summary.as_deref())
        .bind(step.answer.as_deref())
        .bind(edits)
        .bind(report)
        .bind(tokens)
        .bind(step.cost)
        .bind(elapsed_ms)
        .bind(step.at)
        .execute(&mut *tx)
        .await
        .map_err(|e| match e.as_database_error() {
            Some(db) if db.is_unique_violation() => Error::Conflict(format!(
                "tdd run {} already has a step {}",
                step.run_id, step.index
            )),
            _ => sql_err(e),
        })?;
        tx.commit().await.map_err(sql_err)?;
        Ok(())
    }

    pub(super) async fn finish(
        pool: &Pool,
        id: Uuid,
        end: &RunEnd,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        if !end.status.is_final() {
            return Err(Error::validation(
                "status",
                format!("a run cannot end as {}", end.status.as_str()),
            ));
        }
        let final_report = end
            .final_report
            .as_ref()
            .map(|r| to_json("final_report", r))
            .transpose()?;
        let ended = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE tdd_runs SET status = $2, reason = $3, final_report = $4, files = $5, \
             finished_at = $6, originals = $7 WHERE id = $1 AND status IN {NOT_FINAL}"
        )))
        .bind(id)
        .bind(end.status.as_str())
        .bind(end.reason.as_str())
        .bind(final_report)
        .bind(to_json("files", &end.files)?)
        .bind(at)
        .bind(to_json("originals", &end.originals)?)
        .execute(pool)
        .await
        .map_err(sql_err)?
        .rows_affected();
        if ended > 0 {
            return Ok(true);
        }
        match status_of(pool, id).await? {
            None => Err(Error::not_found(ENTITY, id)),
            Some(_) => Ok(false),
        }
    }

    pub(super) async fn mark_accepted(pool: &Pool, id: Uuid, at: DateTime<Utc>) -> Result<()> {
        let accepted = sqlx::query(
            "UPDATE tdd_runs SET accepted_at = $2 WHERE id = $1 AND accepted_at IS NULL",
        )
        .bind(id)
        .bind(at)
        .execute(pool)
        .await
        .map_err(sql_err)?
        .rows_affected();
        if accepted > 0 {
            return Ok(());
        }
        match status_of(pool, id).await? {
            None => Err(Error::not_found(ENTITY, id)),
            Some(_) => Err(Error::Conflict(format!(
                "the changes of tdd run {id} were already accepted"
            ))),
        }
    }

    pub(super) async fn get(pool: &Pool, id: Uuid) -> Result<TddRun> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM tdd_runs WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(sql_err)?
        .as_ref()
        .map(run_of)
        .transpose()?
        .ok_or_else(|| Error::not_found(ENTITY, id))
    }

    pub(super) async fn steps(pool: &Pool, id: Uuid) -> Result<Vec<TddStep>> {
        let steps = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {STEP_COLUMNS} FROM tdd_steps WHERE run_id = $1 ORDER BY step_index"
        )))
        .bind(id)
        .fetch_all(pool)
        .await
        .map_err(sql_err)?
        .iter()
        .map(step_of)
        .collect::<Result<Vec<_>>>()?;
        if steps.is_empty() && status_of(pool, id).await?.is_none() {
            return Err(Error::not_found(ENTITY, id));
        }
        Ok(steps)
    }

    fn filtered(select: &str, filter: &RunFilter) -> QueryBuilder<Db> {
        let mut q = QueryBuilder::new(format!("SELECT {select} FROM tdd_runs WHERE TRUE"));
        if let Some(owner) = filter.owner {
            q.push(" AND owner_id = ").push_bind(owner);
        }
        if let Some(status) = filter.status {
            q.push(" AND status = ").push_bind(status.as_str());
        }
        q
    }

    pub(super) async fn list(
        pool: &Pool,
        filter: &RunFilter,
        page: PageRequest,
    ) -> Result<Page<TddRun>> {
        let total: i64 = filtered("COUNT(*)", filter)
            .build()
            .fetch_one(pool)
            .await
            .map_err(sql_err)?
            .try_get(0)
            .map_err(sql_err)?;
        let mut q = filtered(RUN_COLUMNS, filter);
        q.push(format!(
            " ORDER BY created_at DESC, id DESC LIMIT {} OFFSET {}",
            page.limit(),
            page.offset()
        ));
        let items = q
            .build()
            .fetch_all(pool)
            .await
            .map_err(sql_err)?
            .iter()
            .map(run_of)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items,
            total: u64::try_from(total).unwrap_or(0),
            limit: page.limit(),
            offset: page.offset(),
        })
    }
}

#[async_trait]
impl TddRepository for SqlTddRepository {
    async fn create(&self, run: &TddRun) -> Result<()> {
        on_engine!(self.pools, writer, create(run))
    }

    async fn start(&self, id: Uuid, digest: &str, at: DateTime<Utc>) -> Result<()> {
        on_engine!(self.pools, writer, start(id, digest, at))
    }

    async fn add_step(&self, step: &TddStep) -> Result<()> {
        on_engine!(self.pools, writer, add_step(step))
    }

    async fn finish(&self, id: Uuid, end: &RunEnd, at: DateTime<Utc>) -> Result<bool> {
        on_engine!(self.pools, writer, finish(id, end, at))
    }

    async fn mark_accepted(&self, id: Uuid, at: DateTime<Utc>) -> Result<()> {
        on_engine!(self.pools, writer, mark_accepted(id, at))
    }

    async fn get(&self, id: Uuid) -> Result<TddRun> {
        on_engine!(self.pools, reader, get(id))
    }

    async fn steps(&self, id: Uuid) -> Result<Vec<TddStep>> {
        on_engine!(self.pools, reader, steps(id))
    }

    async fn list(&self, filter: &RunFilter, page: PageRequest) -> Result<Page<TddRun>> {
        on_engine!(self.pools, reader, list(filter, page))
    }
}
