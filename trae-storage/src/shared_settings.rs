//! [`SharedSettings`] on SQLite and PostgreSQL: insert-if-absent, then read the winner; and a
//! compare-and-swap update.

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
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

    /// `sql` with `?` placeholders, numbered for PostgreSQL.
    fn statement(&self, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
        let backend = self.writer.get_database_backend();
        let sql = match backend {
            DatabaseBackend::Postgres => {
                let mut n = 0;
                sql.chars()
                    .map(|c| match c {
                        '?' => {
                            n += 1;
                            format!("${n}")
                        }
                        c => c.to_string(),
                    })
                    .collect()
            }
            _ => sql.to_owned(),
        };
        Statement::from_sql_and_values(backend, sql, values)
    }
}

#[async_trait]
impl SharedSettings for SqlSharedSettings {
    async fn get_or_insert(&self, key: &str, candidate: &str) -> Result<String> {
        // The primary key makes the first insert win on every node; the others do nothing.
        self.writer
            .execute_raw(self.statement(
                "INSERT INTO shared_settings (key, value) VALUES (?, ?) \
                 ON CONFLICT (key) DO NOTHING",
                vec![key.into(), candidate.into()],
            ))
            .await
            .map_err(db_error)?;
        self.get(key)
            .await?
            .ok_or_else(|| Error::Storage(format!("shared setting {key} vanished")))
    }

    async fn get(&self, key: &str) -> Result<Option<String>> {
        let row = self
            .writer
            .query_one_raw(self.statement(
                "SELECT value FROM shared_settings WHERE key = ?",
                vec![key.into()],
            ))
            .await
            .map_err(db_error)?;
        row.map(|row| row.try_get("", "value").map_err(db_error))
            .transpose()
    }

    async fn compare_and_swap(&self, key: &str, expected: &str, new: &str) -> Result<bool> {
        let result = self
            .writer
            .execute_raw(self.statement(
                "UPDATE shared_settings SET value = ? WHERE key = ? AND value = ?",
                vec![new.into(), key.into(), expected.into()],
            ))
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected() == 1)
    }
}
