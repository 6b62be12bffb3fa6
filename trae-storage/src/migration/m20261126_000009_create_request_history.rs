//! Request history: one row per served request, trimmed by age and row count by its writer.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const SQLITE_UP: &str = r#"
CREATE TABLE request_history (
    id          BLOB PRIMARY KEY NOT NULL,
    at          TEXT NOT NULL,
    method      TEXT NOT NULL,
    route       TEXT NOT NULL,
    status      INTEGER NOT NULL,
    latency_us  INTEGER NOT NULL,
    client      TEXT NOT NULL,
    request_id  TEXT
);
CREATE INDEX request_history_at ON request_history (at, id);
CREATE INDEX request_history_route_at ON request_history (route, at);
"#;

const POSTGRES_UP: &str = r#"
CREATE TABLE request_history (
    id          UUID PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    method      TEXT NOT NULL,
    route       TEXT NOT NULL,
    status      INTEGER NOT NULL,
    latency_us  BIGINT NOT NULL,
    client      TEXT NOT NULL,
    request_id  TEXT
);
CREATE INDEX request_history_at ON request_history (at, id);
CREATE INDEX request_history_route_at ON request_history (route, at);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(
            manager,
            "DROP TABLE request_history;",
            "DROP TABLE request_history;",
        )
        .await
    }
}
