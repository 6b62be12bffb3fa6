//! [`RequestHistoryRepository`] on SQLite and PostgreSQL, in raw SQL through sqlx: batched
//! appends, filtered listing, and trimming by age and row count.

use crate::sql_pools::{Pools, on_engine, per_engine, values_rows};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use sqlx::{AssertSqlSafe, Row};
use trae_core::monitoring::request_history::{
    RequestFilter, RequestHistoryRepository, RequestRecord,
};
use trae_core::{Error, Page, PageRequest, Result};
use uuid::Uuid;

/// Rows per INSERT (8 parameters each, under SQLite's and PostgreSQL's limits).
const CHUNK: usize = 500;

/// Request history in the `request_history` table.
#[derive(Debug, Clone)]
pub struct SqlRequestHistoryRepository {
    pools: Pools,
}

impl SqlRequestHistoryRepository {
    /// A repository writing through `writer` and reading through `reader`.
    pub fn new(writer: &DatabaseConnection, reader: &DatabaseConnection) -> Self {
        let pools = Pools::new(writer, reader);
        Self { pools }
    }
}

#[allow(clippy::needless_pass_by_value)] // a `map_err` adapter
fn sql_err(err: sqlx::Error) -> Error {
    crate::error::sqlx_error(&err, "request")
}

fn insert_sql(rows: usize) -> String {
    format!(
        "INSERT INTO request_history (id, at, method, route, status, latency_us, client, request_id) VALUES {}",
        values_rows(rows, 8)
    )
}

/// `WHERE …` and its text parameters, numbered from 1.
fn where_clause(filter: &RequestFilter) -> (String, Vec<String>, Vec<DateTime<Utc>>, Option<i32>) {
    let mut conds = Vec::new();
    let mut texts = Vec::new();
    for (column, value) in [
        ("method", &filter.method),
        ("route", &filter.route),
        ("client", &filter.client),
    ] {
        if let Some(v) = value {
            texts.push(v.clone());
            conds.push(format!("{column} = ${}", texts.len()));
        }
    }
    let mut times = Vec::new();
    let mut n = texts.len();
    if let Some(since) = filter.since {
        times.push(since);
        n += 1;
        conds.push(format!("at >= ${n}"));
    }
    if let Some(until) = filter.until {
        times.push(until);
        n += 1;
        conds.push(format!("at < ${n}"));
    }
    let status = filter.status.map(i32::from);
    if status.is_some() {
        n += 1;
        conds.push(format!("status = ${n}"));
    }
    let sql = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    (sql, texts, times, status)
}

/// The most rows one trimming statement deletes.
const TRIM_BATCH: i64 = 5_000;

per_engine! {
    pub(super) async fn append(pool: &Pool, batch: &[RequestRecord]) -> Result<()> {
        let mut tx = pool.begin().await.map_err(sql_err)?;
        for chunk in batch.chunks(CHUNK) {
            let sql = insert_sql(chunk.len());
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for r in chunk {
                q = q
                    .bind(r.id)
                    .bind(r.at)
                    .bind(r.method.as_str())
                    .bind(r.route.as_str())
                    .bind(i32::from(r.status))
                    .bind(i64::try_from(r.latency_us).unwrap_or(i64::MAX))
                    .bind(r.client.as_str())
                    .bind(r.request_id.as_deref());
            }
            q.execute(&mut *tx).await.map_err(sql_err)?;
        }
        tx.commit().await.map_err(sql_err)
    }

    pub(super) async fn list(
        pool: &Pool,
        filter: &RequestFilter,
        page: PageRequest,
    ) -> Result<Page<RequestRecord>> {
        let (where_sql, texts, times, status) = where_clause(filter);
        let bind_all = |sql: String| {
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for t in &texts {
                q = q.bind(t.clone());
            }
            for t in &times {
                q = q.bind(*t);
            }
            if let Some(s) = status {
                q = q.bind(s);
            }
            q
        };
        let total: i64 = bind_all(format!("SELECT COUNT(*) FROM request_history{where_sql}"))
            .fetch_one(pool)
            .await
            .map_err(sql_err)?
            .try_get(0)
            .map_err(sql_err)?;
        let rows = bind_all(format!(
            "SELECT id, at, method, route, status, latency_us, client, request_id \
             FROM request_history{where_sql} ORDER BY at DESC, id DESC LIMIT {} OFFSET {}",
            page.limit(),
            page.offset()
        ))
        .fetch_all(pool)
        .await
        .map_err(sql_err)?;
        let items = rows
            .iter()
            .map(|row| {
                let status: i32 = row.try_get("status")?;
                let latency: i64 = row.try_get("latency_us")?;
                Ok(RequestRecord {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    method: row.try_get("method")?,
                    route: row.try_get("route")?,
                    status: u16::try_from(status).unwrap_or(0),
                    latency_us: u64::try_from(latency).unwrap_or(0),
                    client: row.try_get("client")?,
                    request_id: row.try_get("request_id")?,
                })
            })
            .collect::<std::result::Result<Vec<_>, sqlx::Error>>()
            .map_err(sql_err)?;
        Ok(Page {
            items,
            total: u64::try_from(total).unwrap_or(0),
            limit: page.limit(),
            offset: page.offset(),
        })
    }

    pub(super) async fn trim(pool: &Pool, before: DateTime<Utc>, max_rows: u64) -> Result<u64> {
        // The newest record beyond the row cap, found once; it and everything older go.
        let keep = i64::try_from(max_rows).unwrap_or(i64::MAX);
        let cutoff: Option<(DateTime<Utc>, Uuid)> = sqlx::query_as(
            "SELECT at, id FROM request_history ORDER BY at DESC, id DESC LIMIT 1 OFFSET $1",
        )
        .bind(keep)
        .fetch_optional(pool)
        .await
        .map_err(sql_err)?;
        let (cut_at, cut_id) = match cutoff {
            Some((at, id)) if at >= before => (at, id),
            // The age limit alone reaches further (or the cap is not reached).
            _ => (before, Uuid::nil()),
        };
        // Short transactions of at most TRIM_BATCH rows each, so a big backlog never holds
        // the writer for long and other writes go in between.
        let mut deleted = 0;
        loop {
            let n = sqlx::query(
                "DELETE FROM request_history WHERE id IN (SELECT id FROM request_history \
                 WHERE at < $1 OR (at = $1 AND id <= $2) ORDER BY at, id LIMIT $3)",
            )
            .bind(cut_at)
            .bind(cut_id)
            .bind(TRIM_BATCH)
            .execute(pool)
            .await
            .map_err(sql_err)?
            .rows_affected();
            deleted += n;
            if n < TRIM_BATCH as u64 {
                return Ok(deleted);
            }
            tokio::task::yield_now().await;
        }
    }
}

#[async_trait]
impl RequestHistoryRepository for SqlRequestHistoryRepository {
    async fn append(&self, batch: &[RequestRecord]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        on_engine!(self.pools, writer, append(batch))
    }

    async fn list(&self, filter: &RequestFilter, page: PageRequest) -> Result<Page<RequestRecord>> {
        on_engine!(self.pools, reader, list(filter, page))
    }

    async fn trim(&self, before: DateTime<Utc>, max_rows: u64) -> Result<u64> {
        on_engine!(self.pools, writer, trim(before, max_rows))
    }
}
