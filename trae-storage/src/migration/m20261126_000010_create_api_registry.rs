//! The external API registry: endpoints (spec as JSON, health), the attempt log and usage
//! totals.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const SQLITE_UP: &str = r#"
CREATE TABLE api_endpoints (
    name                 TEXT PRIMARY KEY NOT NULL,
    capability           TEXT NOT NULL,
    priority             INTEGER NOT NULL,
    is_active            INTEGER NOT NULL,
    tags                 TEXT NOT NULL,
    spec                 TEXT NOT NULL,
    health               TEXT NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_check_at        TEXT,
    last_error           TEXT,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX api_endpoints_capability ON api_endpoints (capability, priority, name);
CREATE TABLE api_attempts (
    id              BLOB PRIMARY KEY NOT NULL,
    endpoint        TEXT NOT NULL,
    method          TEXT NOT NULL,
    path            TEXT NOT NULL,
    status          INTEGER,
    latency_ms      INTEGER NOT NULL,
    request_bytes   INTEGER NOT NULL,
    response_bytes  INTEGER NOT NULL,
    error           TEXT,
    success         INTEGER NOT NULL,
    cost            REAL NOT NULL,
    request_id      TEXT,
    at              TEXT NOT NULL
);
CREATE INDEX api_attempts_endpoint_at ON api_attempts (endpoint, at);
CREATE INDEX api_attempts_at ON api_attempts (at);
CREATE TABLE api_usage (
    endpoint        TEXT PRIMARY KEY NOT NULL,
    total           INTEGER NOT NULL,
    successes       INTEGER NOT NULL,
    latency_ms_sum  INTEGER NOT NULL,
    cost            REAL NOT NULL,
    last_used_at    TEXT
);
"#;

const POSTGRES_UP: &str = r#"
CREATE TABLE api_endpoints (
    name                 TEXT PRIMARY KEY,
    capability           TEXT NOT NULL,
    priority             INTEGER NOT NULL,
    is_active            BOOLEAN NOT NULL,
    tags                 TEXT NOT NULL,
    spec                 TEXT NOT NULL,
    health               TEXT NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_check_at        TIMESTAMPTZ,
    last_error           TEXT,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX api_endpoints_capability ON api_endpoints (capability, priority, name);
CREATE TABLE api_attempts (
    id              UUID PRIMARY KEY,
    endpoint        TEXT NOT NULL,
    method          TEXT NOT NULL,
    path            TEXT NOT NULL,
    status          INTEGER,
    latency_ms      BIGINT NOT NULL,
    request_bytes   BIGINT NOT NULL,
    response_bytes  BIGINT NOT NULL,
    error           TEXT,
    success         BOOLEAN NOT NULL,
    cost            DOUBLE PRECISION NOT NULL,
    request_id      TEXT,
    at              TIMESTAMPTZ NOT NULL
);
CREATE INDEX api_attempts_endpoint_at ON api_attempts (endpoint, at);
CREATE INDEX api_attempts_at ON api_attempts (at);
CREATE TABLE api_usage (
    endpoint        TEXT PRIMARY KEY,
    total           BIGINT NOT NULL,
    successes       BIGINT NOT NULL,
    latency_ms_sum  BIGINT NOT NULL,
    cost            DOUBLE PRECISION NOT NULL,
    last_used_at    TIMESTAMPTZ
);
"#;

const DOWN: &str = "DROP TABLE api_usage; DROP TABLE api_attempts; DROP TABLE api_endpoints;";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, DOWN, DOWN).await
    }
}
