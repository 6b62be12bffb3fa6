//! The shared counter of API rate-limit reservations: one row per batch a node reserved.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const SQLITE_UP: &str = r#"
CREATE TABLE api_quota_grants (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    key     TEXT NOT NULL,
    at      TEXT NOT NULL,
    count   INTEGER NOT NULL
);
CREATE INDEX api_quota_grants_key_at ON api_quota_grants (key, at);
"#;

const POSTGRES_UP: &str = r#"
CREATE TABLE api_quota_grants (
    id      BIGSERIAL PRIMARY KEY,
    key     TEXT NOT NULL,
    at      TIMESTAMPTZ NOT NULL,
    count   BIGINT NOT NULL
);
CREATE INDEX api_quota_grants_key_at ON api_quota_grants (key, at);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(
            manager,
            "DROP TABLE api_quota_grants;",
            "DROP TABLE api_quota_grants;",
        )
        .await
    }
}
