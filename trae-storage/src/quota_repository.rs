//! [`QuotaRepository`] on SQLite and PostgreSQL: the shared counter of rate-limit
//! reservations. A reservation runs under one lock per key: `BEGIN IMMEDIATE` on SQLite (the
//! whole database's write lock, shared by every process on the file), a transaction-scoped
//! advisory lock on PostgreSQL.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use sqlx::{AssertSqlSafe, Row};
use trae_core::apis::shared_quota::{Grant, QuotaRepository};
use trae_core::{Error, Result};

use crate::sql_pools::{Pools, on_engine, per_engine};

/// Reservations in the `api_quota_grants` table.
#[derive(Debug, Clone)]
pub struct SqlQuotaRepository {
    pools: Pools,
}

impl SqlQuotaRepository {
    /// A repository writing through `writer`.
    pub fn new(writer: &DatabaseConnection) -> Self {
        // Every call writes (a reservation takes the write lock), so there is no reader.
        Self {
            pools: Pools::new(writer, writer),
        }
    }
}

#[allow(clippy::needless_pass_by_value)] // a `map_err` adapter
fn sql_err(err: sqlx::Error) -> Error {
    crate::error::sqlx_error(&err, "api quota")
}

fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

fn since(now: DateTime<Utc>, window: Duration) -> DateTime<Utc> {
    now - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

per_engine! {
    pub(super) async fn reserve(
        pool: &Pool,
        key: &str,
        windows: &[(Duration, u64)],
        want: u64,
        now: DateTime<Utc>,
    ) -> Result<Grant> {
        let now = micros(now);
        let mut tx = if PG {
            let mut tx = pool.begin().await.map_err(sql_err)?;
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext('trae-api-quota:' || $1))")
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(sql_err)?;
            tx
        } else {
            pool.begin_with("BEGIN IMMEDIATE").await.map_err(sql_err)?
        };
        let sums: Vec<String> = (0..windows.len())
            .map(|i| format!("CAST(COALESCE(SUM(CASE WHEN at > ${} THEN count END), 0) AS BIGINT)", i + 2))
            .collect();
        let mut q = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM api_quota_grants WHERE key = $1",
            sums.join(", ")
        )))
        .bind(key);
        for (window, _) in windows {
            q = q.bind(since(now, *window));
        }
        let row = q.fetch_one(&mut *tx).await.map_err(sql_err)?;
        let mut granted = want;
        let mut fullest: Option<(Duration, u64)> = None;
        for (i, (window, limit)) in windows.iter().enumerate() {
            let used: i64 = row.try_get(i).map_err(sql_err)?;
            let used = u64::try_from(used).unwrap_or(0);
            let room = limit.saturating_sub(used);
            if room == 0 {
                // Permits that must leave this window before one more fits.
                fullest = Some((*window, used + 1 - limit));
            }
            granted = granted.min(room);
        }
        if granted > 0 {
            let id: i64 = sqlx::query(
                "INSERT INTO api_quota_grants (key, at, count) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(key)
            .bind(now)
            .bind(to_i64(granted))
            .fetch_one(&mut *tx)
            .await
            .map_err(sql_err)?
            .try_get(0)
            .map_err(sql_err)?;
            tx.commit().await.map_err(sql_err)?;
            return Ok(Grant {
                granted,
                id,
                retry_after: None,
            });
        }
        let mut retry_after = Duration::from_secs(1);
        if let Some((window, need)) = fullest {
            let rows = sqlx::query(
                "SELECT at, count FROM api_quota_grants WHERE key = $1 AND at > $2 ORDER BY at",
            )
            .bind(key)
            .bind(since(now, window))
            .fetch_all(&mut *tx)
            .await
            .map_err(sql_err)?;
            let mut freed = 0_u64;
            for r in &rows {
                let at: DateTime<Utc> = r.try_get(0).map_err(sql_err)?;
                let count: i64 = r.try_get(1).map_err(sql_err)?;
                freed += u64::try_from(count).unwrap_or(0);
                if freed >= need {
                    let leaves = at + chrono::Duration::from_std(window).unwrap_or_default();
                    retry_after = (leaves - now).to_std().unwrap_or_default().max(Duration::from_millis(1));
                    break;
                }
            }
        }
        tx.commit().await.map_err(sql_err)?;
        Ok(Grant {
            granted: 0,
            id: 0,
            retry_after: Some(retry_after),
        })
    }

    pub(super) async fn release(pool: &Pool, key: &str, id: i64, count: u64) -> Result<()> {
        sqlx::query(
            "UPDATE api_quota_grants SET count = CASE WHEN count > $3 THEN count - $3 ELSE 0 END \
             WHERE key = $1 AND id = $2",
        )
        .bind(key)
        .bind(id)
        .bind(to_i64(count))
        .execute(pool)
        .await
        .map_err(sql_err)?;
        Ok(())
    }

    pub(super) async fn trim(pool: &Pool, before: DateTime<Utc>) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM api_quota_grants WHERE at < $1")
            .bind(before)
            .execute(pool)
            .await
            .map_err(sql_err)?
            .rows_affected())
    }
}

#[async_trait]
impl QuotaRepository for SqlQuotaRepository {
    async fn reserve(
        &self,
        key: &str,
        windows: &[(Duration, u64)],
        want: u64,
        now: DateTime<Utc>,
    ) -> Result<Grant> {
        on_engine!(self.pools, writer, reserve(key, windows, want, now))
    }

    async fn release(&self, key: &str, id: i64, count: u64) -> Result<()> {
        on_engine!(self.pools, writer, release(key, id, count))
    }

    async fn trim(&self, before: DateTime<Utc>) -> Result<u64> {
        on_engine!(self.pools, writer, trim(before))
    }
}
