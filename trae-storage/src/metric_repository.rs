//! [`MetricRepository`] on SQLite and PostgreSQL, in raw SQL through sqlx: batched upserts of
//! points, reads by name and time, pruning by age.

use crate::sql_pools::{Pools, on_engine, per_engine};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use sqlx::{AssertSqlSafe, Row};
use trae_core::{Error, MetricRepository, Resolution, Result, StoredPoint};

/// Points per INSERT (5 parameters each, under SQLite's and PostgreSQL's limits).
const CHUNK: usize = 500;

/// Metric points in the `metric_points` table.
#[derive(Debug, Clone)]
pub struct SqlMetricRepository {
    pools: Pools,
}

impl SqlMetricRepository {
    /// A repository writing through `writer` and reading through `reader`.
    pub fn new(writer: &DatabaseConnection, reader: &DatabaseConnection) -> Self {
        let pools = Pools::new(writer, reader);
        Self { pools }
    }
}

#[allow(clippy::needless_pass_by_value)] // a `map_err` adapter
fn sql_err(err: sqlx::Error) -> Error {
    crate::error::sqlx_error(&err, "metric point")
}

fn resolution_code(r: Resolution) -> i32 {
    i32::try_from(r.step_secs()).unwrap_or(i32::MAX)
}

fn upsert_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let b = r * 5;
            format!(
                "(${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5
            )
        })
        .collect();
    format!(
        "INSERT INTO metric_points (resolution, name, labels, at, value) VALUES {} \
         ON CONFLICT (resolution, name, labels, at) DO UPDATE SET value = excluded.value",
        values.join(", ")
    )
}

per_engine! {
    pub(super) async fn write(
        pool: &Pool,
        resolution: Resolution,
        points: &[StoredPoint],
    ) -> Result<()> {
        let mut tx = pool.begin().await.map_err(sql_err)?;
        for chunk in points.chunks(CHUNK) {
            let mut q = sqlx::query(AssertSqlSafe(upsert_sql(chunk.len())));
            for p in chunk {
                q = q
                    .bind(resolution_code(resolution))
                    .bind(p.name.as_str())
                    .bind(p.labels.as_str())
                    .bind(p.at)
                    .bind(p.value);
            }
            q.execute(&mut *tx).await.map_err(sql_err)?;
        }
        tx.commit().await.map_err(sql_err)
    }

    pub(super) async fn read(
        pool: &Pool,
        resolution: Resolution,
        name: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<StoredPoint>> {
        let rows = sqlx::query(
            "SELECT name, labels, at, value FROM metric_points \
             WHERE resolution = $1 AND name = $2 AND at >= $3 ORDER BY labels, at",
        )
        .bind(resolution_code(resolution))
        .bind(name)
        .bind(since)
        .fetch_all(pool)
        .await
        .map_err(sql_err)?;
        rows.iter()
            .map(|row| {
                Ok(StoredPoint {
                    name: row.try_get("name")?,
                    labels: row.try_get("labels")?,
                    at: row.try_get("at")?,
                    value: row.try_get("value")?,
                })
            })
            .collect::<std::result::Result<Vec<_>, sqlx::Error>>()
            .map_err(sql_err)
    }

    pub(super) async fn names(pool: &Pool) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT name FROM metric_points ORDER BY name")
            .fetch_all(pool)
            .await
            .map_err(sql_err)?;
        rows.iter()
            .map(|row| row.try_get::<String, _>(0))
            .collect::<std::result::Result<Vec<_>, sqlx::Error>>()
            .map_err(sql_err)
    }

    pub(super) async fn prune(
        pool: &Pool,
        resolution: Resolution,
        before: DateTime<Utc>,
    ) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM metric_points WHERE resolution = $1 AND at < $2")
                .bind(resolution_code(resolution))
                .bind(before)
                .execute(pool)
                .await
                .map_err(sql_err)?
                .rows_affected(),
        )
    }
}

#[async_trait]
impl MetricRepository for SqlMetricRepository {
    async fn write(&self, resolution: Resolution, points: &[StoredPoint]) -> Result<()> {
        if points.is_empty() {
            return Ok(());
        }
        on_engine!(self.pools, writer, write(resolution, points))
    }

    async fn read(
        &self,
        resolution: Resolution,
        name: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<StoredPoint>> {
        on_engine!(self.pools, reader, read(resolution, name, since))
    }

    async fn names(&self) -> Result<Vec<String>> {
        on_engine!(self.pools, reader, names())
    }

    async fn prune(&self, resolution: Resolution, before: DateTime<Utc>) -> Result<u64> {
        on_engine!(self.pools, writer, prune(resolution, before))
    }
}
