//! Settings every node must share, such as a generated JWT signing key.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(
            manager,
            "CREATE TABLE shared_settings (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL, \
             created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));",
            "CREATE TABLE shared_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, \
             created_at TIMESTAMPTZ NOT NULL DEFAULT now());",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = "DROP TABLE shared_settings;";
        super::execute_for_backend(manager, sql, sql).await
    }
}
