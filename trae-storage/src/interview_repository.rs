//! [`InterviewRepository`] on SQLite and PostgreSQL, in raw SQL through sqlx: interviews in
//! `solo_interviews`, their turns in `solo_turns`, the versions of their spec in `solo_specs`
//! (the spec itself as JSON text).
//!
//! An interview and its turns are read with one statement (a `LEFT JOIN`), so they come from
//! the same snapshot on both engines. Answers race through `updated_at`: `replace_turns` is a
//! conditional `UPDATE … WHERE updated_at = seen` first, so of two callers that read the same
//! interview only one gets to change its turns. For that comparison to hold, times are
//! truncated to microseconds (PostgreSQL's precision) on both engines, `seen` included; on
//! SQLite they are stored as sqlx writes them (RFC 3339 UTC, `+00:00`), which sorts as text
//! in time order.

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::DatabaseConnection;
use sqlx::{AssertSqlSafe, Row};
use trae_core::solo::interview::{
    Interview, InterviewRepository, InterviewStatus, ProjectType, QuestionSource, Turn,
};
use trae_core::solo::spec::SpecVersion;
use trae_core::{Error, Page, PageRequest, Result};
use uuid::Uuid;

use crate::sql_pools::{Pools, on_engine, per_engine, values_rows};

/// Genesis interviews in `solo_interviews`, their turns in `solo_turns`, their specs in
/// `solo_specs`.
#[derive(Debug, Clone)]
pub struct SqlInterviewRepository {
    pools: Pools,
}

impl SqlInterviewRepository {
    /// A repository writing through `writer` and reading through `reader`.
    pub fn new(writer: &DatabaseConnection, reader: &DatabaseConnection) -> Self {
        Self {
            pools: Pools::new(writer, reader),
        }
    }
}

#[allow(clippy::needless_pass_by_value)] // a `map_err` adapter
fn sql_err(err: sqlx::Error) -> Error {
    crate::error::sqlx_error(&err, "interview")
}

/// The entity named in `NotFound` errors about an interview.
const ENTITY: &str = "interview";
/// The entity named in `NotFound` errors about a spec version.
const SPEC_ENTITY: &str = "interview spec";

/// Turns per `INSERT` (9 parameters each, well under SQLite's and PostgreSQL's limits).
const TURNS_PER_INSERT: usize = 200;

/// What `replace_turns` answers when `seen` is no longer the interview's `updated_at`.
const CHANGED_MEANWHILE: &str = "the interview changed meanwhile; reload it";

/// What an interview becomes when its turns are replaced.
#[derive(Clone, Copy)]
enum Next<'a> {
    /// This status, updated at this time.
    Status(InterviewStatus, DateTime<Utc>),
    /// `complete` with this spec as its latest version, updated at the spec's time.
    Spec(&'a SpecVersion),
}

const INTERVIEW_COLUMNS: &str =
    "id, owner_id, project_type, idea, status, spec_version, created_at, updated_at";

const TURN_COLUMNS: &str =
    "interview_id, idx, question, key, source, fallback, answer, asked_at, answered_at";

/// The turn columns as an interview joined with its turns selects them (`t.` prefixed).
const JOINED_TURN_COLUMNS: &str = "t.idx, t.question, t.key, t.source, t.fallback, t.answer, \
    t.asked_at, t.answered_at";

const SPEC_COLUMNS: &str =
    "interview_id, version, project_type, spec, markdown, source, created_at";

/// Truncates to microseconds, the precision both engines keep.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

fn to_i32(field: &str, value: u32) -> Result<i32> {
    i32::try_from(value).map_err(|_| Error::validation(field, format!("{value} is too large")))
}

fn unsigned(column: &str, value: i32) -> Result<u32> {
    u32::try_from(value).map_err(|_| Error::Storage(format!("stored interview {column} {value}")))
}

fn project_type_named(name: &str) -> Result<ProjectType> {
    ProjectType::parse(name)
        .map_err(|_| Error::Storage(format!("stored interview project type {name:?}")))
}

fn status_named(name: &str) -> Result<InterviewStatus> {
    [InterviewStatus::Open, InterviewStatus::Complete]
        .into_iter()
        .find(|s| s.as_str() == name)
        .ok_or_else(|| Error::Storage(format!("stored interview status {name:?}")))
}

fn source_named(name: &str) -> Result<QuestionSource> {
    [QuestionSource::Template, QuestionSource::Model]
        .into_iter()
        .find(|s| s.as_str() == name)
        .ok_or_else(|| Error::Storage(format!("stored interview source {name:?}")))
}

per_engine! {
    sqlite {
        /// `BEGIN IMMEDIATE`: every transaction here writes, so it takes the write lock first.
        async fn begin(pool: &Pool) -> Result<sqlx::Transaction<'static, Db>> {
            pool.begin_with("BEGIN IMMEDIATE").await.map_err(sql_err)
        }
    }
    postgres {
        async fn begin(pool: &Pool) -> Result<sqlx::Transaction<'static, Db>> {
            pool.begin().await.map_err(sql_err)
        }
    }

    /// The interview's own columns of a row (its turns left empty).
    fn interview_of(row: &DbRow) -> Result<Interview> {
        let project_type: String = row.try_get("project_type").map_err(sql_err)?;
        let status: String = row.try_get("status").map_err(sql_err)?;
        let spec_version: i32 = row.try_get("spec_version").map_err(sql_err)?;
        Ok(Interview {
            id: row.try_get("id").map_err(sql_err)?,
            owner: row.try_get("owner_id").map_err(sql_err)?,
            project_type: project_type_named(&project_type)?,
            idea: row.try_get("idea").map_err(sql_err)?,
            status: status_named(&status)?,
            turns: Vec::new(),
            spec_version: unsigned("spec_version", spec_version)?,
            created_at: row.try_get("created_at").map_err(sql_err)?,
            updated_at: row.try_get("updated_at").map_err(sql_err)?,
        })
    }

    /// The turn of a row of an interview joined with its turns; `None` for the row of an
    /// interview without turns.
    fn turn_of(row: &DbRow) -> Result<Option<Turn>> {
        let Some(index) = row.try_get::<Option<i32>, _>("idx").map_err(sql_err)? else {
            return Ok(None);
        };
        let source: String = row.try_get("source").map_err(sql_err)?;
        Ok(Some(Turn {
            index: unsigned("idx", index)?,
            question: row.try_get("question").map_err(sql_err)?,
            key: row.try_get("key").map_err(sql_err)?,
            source: source_named(&source)?,
            fallback: row.try_get("fallback").map_err(sql_err)?,
            answer: row.try_get("answer").map_err(sql_err)?,
            asked_at: row.try_get("asked_at").map_err(sql_err)?,
            answered_at: row.try_get("answered_at").map_err(sql_err)?,
        }))
    }

    /// Interviews with their turns from rows ordered by interview, then turn index.
    fn interviews_of(rows: &[DbRow]) -> Result<Vec<Interview>> {
        let mut interviews: Vec<Interview> = Vec::new();
        for row in rows {
            let id: Uuid = row.try_get("id").map_err(sql_err)?;
            if interviews.last().is_none_or(|i| i.id != id) {
                interviews.push(interview_of(row)?);
            }
            if let (Some(turn), Some(interview)) = (turn_of(row)?, interviews.last_mut()) {
                interview.turns.push(turn);
            }
        }
        Ok(interviews)
    }

    fn spec_of(row: &DbRow) -> Result<SpecVersion> {
        let version: i32 = row.try_get("version").map_err(sql_err)?;
        let project_type: String = row.try_get("project_type").map_err(sql_err)?;
        let spec: String = row.try_get("spec").map_err(sql_err)?;
        let source: String = row.try_get("source").map_err(sql_err)?;
        Ok(SpecVersion {
            interview_id: row.try_get("interview_id").map_err(sql_err)?,
            version: unsigned("version", version)?,
            project_type: project_type_named(&project_type)?,
            spec: serde_json::from_str(&spec)
                .map_err(|e| Error::Storage(format!("stored interview spec: {e}")))?,
            markdown: row.try_get("markdown").map_err(sql_err)?,
            source: source_named(&source)?,
            created_at: row.try_get("created_at").map_err(sql_err)?,
        })
    }

    /// Whether the interview exists, read inside `tx`.
    async fn exists(tx: &mut sqlx::Transaction<'static, Db>, id: Uuid) -> Result<bool> {
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM solo_interviews WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(sql_err)?;
        Ok(found.is_some())
    }

    async fn insert_turns(
        tx: &mut sqlx::Transaction<'static, Db>,
        id: Uuid,
        turns: &[Turn],
    ) -> Result<()> {
        for chunk in turns.chunks(TURNS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO solo_turns ({TURN_COLUMNS}) VALUES {}",
                values_rows(chunk.len(), 9)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for turn in chunk {
                query = query
                    .bind(id)
                    .bind(to_i32("index", turn.index)?)
                    .bind(turn.question.as_str())
                    .bind(turn.key.as_deref())
                    .bind(turn.source.as_str())
                    .bind(turn.fallback.as_deref())
                    .bind(turn.answer.as_deref())
                    .bind(micros(turn.asked_at))
                    .bind(turn.answered_at.map(micros));
            }
            query
                .execute(&mut **tx)
                .await
                .map_err(|e| match e.as_database_error() {
                    Some(db) if db.is_unique_violation() => {
                        Error::validation("turns", "two turns share an index")
                    }
                    _ => sql_err(e),
                })?;
        }
        Ok(())
    }

    pub(super) async fn create(pool: &Pool, interview: &Interview) -> Result<()> {
        let mut tx = begin(pool).await?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO solo_interviews ({INTERVIEW_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )))
        .bind(interview.id)
        .bind(interview.owner)
        .bind(interview.project_type.as_str())
        .bind(interview.idea.as_str())
        .bind(interview.status.as_str())
        .bind(to_i32("spec_version", interview.spec_version)?)
        .bind(micros(interview.created_at))
        .bind(micros(interview.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| match e.as_database_error() {
            Some(db) if db.is_unique_violation() => {
                Error::Conflict(format!("interview {} already exists", interview.id))
            }
            _ => sql_err(e),
        })?;
        insert_turns(&mut tx, interview.id, &interview.turns).await?;
        tx.commit().await.map_err(sql_err)?;
        Ok(())
    }

    /// `SELECT` of interviews (from `source`, aliased `i`) joined with their turns; one row
    /// per turn, one with the turn columns `NULL` for an interview without turns.
    fn joined(source: &str) -> String {
        format!(
            "SELECT i.id, i.owner_id, i.project_type, i.idea, i.status, i.spec_version, \
             i.created_at, i.updated_at, {JOINED_TURN_COLUMNS} \
             FROM {source} i LEFT JOIN solo_turns t ON t.interview_id = i.id"
        )
    }

    pub(super) async fn get(pool: &Pool, id: Uuid) -> Result<Interview> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{} WHERE i.id = $1 ORDER BY t.idx",
            joined("solo_interviews")
        )))
        .bind(id)
        .fetch_all(pool)
        .await
        .map_err(sql_err)?;
        interviews_of(&rows)?
            .pop()
            .ok_or_else(|| Error::not_found(ENTITY, id))
    }

    pub(super) async fn list(
        pool: &Pool,
        owner: Option<Uuid>,
        page: PageRequest,
    ) -> Result<Page<Interview>> {
        let filter = if owner.is_some() { " WHERE owner_id = $1" } else { "" };
        let mut count = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM solo_interviews{filter}"
        )));
        if let Some(owner) = owner {
            count = count.bind(owner);
        }
        let total: i64 = count.fetch_one(pool).await.map_err(sql_err)?;
        // The page is cut from the interviews first, then joined with their turns.
        let page_of_interviews = format!(
            "(SELECT {INTERVIEW_COLUMNS} FROM solo_interviews{filter} \
             ORDER BY created_at DESC, id DESC LIMIT {} OFFSET {})",
            page.limit(),
            page.offset()
        );
        let mut query = sqlx::query(AssertSqlSafe(format!(
            "{} ORDER BY i.created_at DESC, i.id DESC, t.idx",
            joined(&page_of_interviews)
        )));
        if let Some(owner) = owner {
            query = query.bind(owner);
        }
        let rows = query.fetch_all(pool).await.map_err(sql_err)?;
        Ok(Page {
            items: interviews_of(&rows)?,
            total: u64::try_from(total).unwrap_or(0),
            limit: page.limit(),
            offset: page.offset(),
        })
    }

    pub(super) async fn replace_turns(
        pool: &Pool,
        id: Uuid,
        seen: DateTime<Utc>,
        from: u32,
        turns: &[Turn],
        next: Next<'_>,
    ) -> Result<()> {
        let (status, at, spec) = match next {
            Next::Status(status, at) => (status, at, None),
            Next::Spec(spec) => (InterviewStatus::Complete, spec.created_at, Some(spec)),
        };
        if let Some(turn) = turns.iter().find(|t| t.index < from) {
            return Err(Error::validation(
                "turns",
                format!("turn {} comes before the replaced ones (from {from})", turn.index),
            ));
        }
        let from = to_i32("from", from)?;
        let mut tx = begin(pool).await?;
        let updated = sqlx::query(
            "UPDATE solo_interviews SET status = $1, updated_at = $2 \
             WHERE id = $3 AND updated_at = $4",
        )
        .bind(status.as_str())
        .bind(micros(at))
        .bind(id)
        .bind(micros(seen))
        .execute(&mut *tx)
        .await
        .map_err(sql_err)?
        .rows_affected();
        if updated == 0 {
            return Err(if exists(&mut tx, id).await? {
                Error::Conflict(CHANGED_MEANWHILE.to_owned())
            } else {
                Error::not_found(ENTITY, id)
            });
        }
        sqlx::query("DELETE FROM solo_turns WHERE interview_id = $1 AND idx >= $2")
            .bind(id)
            .bind(from)
            .execute(&mut *tx)
            .await
            .map_err(sql_err)?;
        insert_turns(&mut tx, id, turns).await?;
        if let Some(spec) = spec {
            write_spec(&mut tx, spec).await?;
        }
        tx.commit().await.map_err(sql_err)?;
        Ok(())
    }

    pub(super) async fn add_spec(pool: &Pool, spec: &SpecVersion) -> Result<()> {
        let mut tx = begin(pool).await?;
        write_spec(&mut tx, spec).await?;
        tx.commit().await.map_err(sql_err)?;
        Ok(())
    }

    /// Stores a spec version and makes it the interview's latest, `complete`, in `tx`.
    async fn write_spec(
        tx: &mut sqlx::Transaction<'static, Db>,
        spec: &SpecVersion,
    ) -> Result<()> {
        let version = to_i32("version", spec.version)?;
        let json = serde_json::to_string(&spec.spec)
            .map_err(|e| Error::validation("spec", format!("cannot be stored as JSON: {e}")))?;
        // The interview first: on PostgreSQL its row stays locked until the version is in;
        // no row means no interview, told apart before the insert could fail on the
        // foreign key.
        let updated = sqlx::query(
            "UPDATE solo_interviews SET spec_version = $1, status = 'complete', \
             updated_at = $2 WHERE id = $3",
        )
        .bind(version)
        .bind(micros(spec.created_at))
        .bind(spec.interview_id)
        .execute(&mut **tx)
        .await
        .map_err(sql_err)?
        .rows_affected();
        if updated == 0 {
            return Err(Error::not_found(ENTITY, spec.interview_id));
        }
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO solo_specs ({SPEC_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )))
        .bind(spec.interview_id)
        .bind(version)
        .bind(spec.project_type.as_str())
        .bind(json)
        .bind(spec.markdown.as_str())
        .bind(spec.source.as_str())
        .bind(micros(spec.created_at))
        .execute(&mut **tx)
        .await
        .map_err(|e| match e.as_database_error() {
            Some(db) if db.is_unique_violation() => Error::Conflict(format!(
                "interview {} already has a spec version {}",
                spec.interview_id, spec.version
            )),
            _ => sql_err(e),
        })?;
        Ok(())
    }

    pub(super) async fn spec(
        pool: &Pool,
        id: Uuid,
        version: Option<u32>,
    ) -> Result<SpecVersion> {
        let row = match version {
            None => sqlx::query(AssertSqlSafe(format!(
                "SELECT {SPEC_COLUMNS} FROM solo_specs WHERE interview_id = $1 \
                 ORDER BY version DESC LIMIT 1"
            )))
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(sql_err)?,
            Some(v) => sqlx::query(AssertSqlSafe(format!(
                "SELECT {SPEC_COLUMNS} FROM solo_specs WHERE interview_id = $1 AND version = $2"
            )))
            .bind(id)
            .bind(to_i32("version", v)?)
            .fetch_optional(pool)
            .await
            .map_err(sql_err)?,
        };
        row.as_ref().map(spec_of).transpose()?.ok_or_else(|| match version {
            None => Error::not_found(SPEC_ENTITY, id),
            Some(v) => Error::not_found(SPEC_ENTITY, format!("{id} version {v}")),
        })
    }
}

#[async_trait]
impl InterviewRepository for SqlInterviewRepository {
    async fn create(&self, interview: &Interview) -> Result<()> {
        on_engine!(self.pools, writer, create(interview))
    }

    async fn get(&self, id: Uuid) -> Result<Interview> {
        on_engine!(self.pools, reader, get(id))
    }

    async fn list(&self, owner: Option<Uuid>, page: PageRequest) -> Result<Page<Interview>> {
        on_engine!(self.pools, reader, list(owner, page))
    }

    async fn replace_turns(
        &self,
        id: Uuid,
        seen: DateTime<Utc>,
        from: u32,
        turns: &[Turn],
        status: InterviewStatus,
        at: DateTime<Utc>,
    ) -> Result<()> {
        on_engine!(
            self.pools,
            writer,
            replace_turns(id, seen, from, turns, Next::Status(status, at))
        )
    }

    async fn replace_turns_with_spec(
        &self,
        id: Uuid,
        seen: DateTime<Utc>,
        from: u32,
        turns: &[Turn],
        spec: &SpecVersion,
    ) -> Result<()> {
        on_engine!(
            self.pools,
            writer,
            replace_turns(id, seen, from, turns, Next::Spec(spec))
        )
    }

    async fn add_spec(&self, spec: &SpecVersion) -> Result<()> {
        on_engine!(self.pools, writer, add_spec(spec))
    }

    async fn spec(&self, id: Uuid, version: Option<u32>) -> Result<SpecVersion> {
        on_engine!(self.pools, reader, spec(id, version))
    }
}
