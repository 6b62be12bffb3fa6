//! [`SharedSettings`] on SQLite and PostgreSQL: insert-if-absent, then read the winner.

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use trae_core::{Error, Result, SharedSettings};

use crate::error::db_error;

/// Shared settings in the `shared_settings` table.
#[derive(Debug, Clone)]
pub struct SqlSharedSettings {
    writer: DatabaseConnection,
}

impl SqlSharedSettings {
    /// Settings written and read through `writer`, so a value just inserted is always seen.
    pub fn new(writer: DatabaseConnection) -> Self {
        Self { writer }
    }
}

#[async_trait]
impl SharedSettings for SqlSharedSettings {
    async fn get_or_insert(&self, key: &str, candidate: &str) -> Result<String> {
        let backend = self.writer.get_database_backend();
        // The primary key makes the first insert win on every node; the others do nothing.
        let insert = match backend {
            sea_orm::DatabaseBackend::Postgres => {
                "INSERT INTO shared_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"
            }
            _ => {
                "INSERT INTO shared_settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"
            }
        };
        self.writer
            .execute_raw(Statement::from_sql_and_values(
                backend,
                insert,
                [key.into(), candidate.into()],
            ))
            .await
            .map_err(db_error)?;
        let select = match backend {
            sea_orm::DatabaseBackend::Postgres => {
                "SELECT value FROM shared_settings WHERE key = $1"
            }
            _ => "SELECT value FROM shared_settings WHERE key = ?",
        };
        let row = self
            .writer
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                select,
                [key.into()],
            ))
            .await
            .map_err(db_error)?
            .ok_or_else(|| Error::Storage(format!("shared setting {key} vanished")))?;
        row.try_get("", "value").map_err(db_error)
    }
}
