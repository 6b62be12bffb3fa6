//! [`HealthHistory`] on SQLite and PostgreSQL: component health transitions in the
//! `health_transitions` table.

use crate::sql_pools::{Pools, on_engine, per_engine};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use sqlx::Row;
use trae_core::{Error, HealthHistory, HealthStatus, Result, TransitionRecord};

/// Component health transitions on this database.
#[derive(Debug, Clone)]
pub struct SqlHealthHistory {
    pools: Pools,
}

impl SqlHealthHistory {
    /// A history writing through `writer` and reading through `reader`.
    pub fn new(writer: &DatabaseConnection, reader: &DatabaseConnection) -> Self {
        let pools = Pools::new(writer, reader);
        Self { pools }
    }
}

#[allow(clippy::needless_pass_by_value)] // a `map_err` adapter
fn sql_err(err: sqlx::Error) -> Error {
    crate::error::sqlx_error(&err, "health transition")
}

fn status(text: &str) -> Result<HealthStatus> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| Error::Storage(format!("stored health status {text:?}")))
}

per_engine! {
    pub(super) async fn record(pool: &Pool, t: &TransitionRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO health_transitions (id, component, from_status, to_status, at, error) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(uuid::Uuid::now_v7())
        .bind(t.component.as_str())
        .bind(t.from.as_str())
        .bind(t.to.as_str())
        .bind(t.at)
        .bind(t.error.as_deref())
        .execute(pool)
        .await
        .map_err(sql_err)?;
        Ok(())
    }

    pub(super) async fn since(
        pool: &Pool,
        component: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Vec<TransitionRecord>> {
        let rows = sqlx::query(
            "SELECT component, from_status, to_status, at, error FROM health_transitions \
             WHERE at >= $1 AND ($2 IS NULL OR component = $2) ORDER BY at, id",
        )
        .bind(since)
        .bind(component)
        .fetch_all(pool)
        .await
        .map_err(sql_err)?;
        rows.iter()
            .map(|row| {
                let from: String = row.try_get("from_status").map_err(sql_err)?;
                let to: String = row.try_get("to_status").map_err(sql_err)?;
                Ok(TransitionRecord {
                    component: row.try_get("component").map_err(sql_err)?,
                    from: status(&from)?,
                    to: status(&to)?,
                    at: row.try_get("at").map_err(sql_err)?,
                    error: row.try_get("error").map_err(sql_err)?,
                })
            })
            .collect()
    }

    pub(super) async fn prune(pool: &Pool, before: DateTime<Utc>) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM health_transitions WHERE at < $1")
            .bind(before)
            .execute(pool)
            .await
            .map_err(sql_err)?
            .rows_affected())
    }
}

#[async_trait]
impl HealthHistory for SqlHealthHistory {
    async fn record(&self, transition: &TransitionRecord) -> Result<()> {
        on_engine!(self.pools, writer, record(transition))
    }

    async fn since(
        &self,
        component: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Vec<TransitionRecord>> {
        on_engine!(self.pools, reader, since(component, since))
    }

    async fn prune(&self, before: DateTime<Utc>) -> Result<u64> {
        on_engine!(self.pools, writer, prune(before))
    }
}
