//! The durable task queue: tasks, their error history, per-queue settings and the ticks of
//! recurring schedules (kept forever, so a tick is enqueued at most once).
//!
//! The state lists in the partial indexes mirror `TaskState::CLAIMABLE` (claim index), the
//! unfinished states (unique keys) and `TaskState::FINISHED` (pruning); the repository's
//! queries spell the same lists literally so the planners can use these indexes.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const SQLITE_UP: &str = r#"
CREATE TABLE tasks (
    id                BLOB PRIMARY KEY NOT NULL,
    queue             TEXT NOT NULL CHECK (length(queue) BETWEEN 1 AND 64),
    kind              TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 128),
    payload           TEXT NOT NULL CHECK (json_valid(payload)),
    priority          INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 10),
    state             TEXT NOT NULL CHECK (state IN ('scheduled', 'available', 'running', 'retryable', 'completed', 'failed', 'cancelled')),
    attempt           INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts      INTEGER NOT NULL CHECK (max_attempts BETWEEN 1 AND 100),
    run_at            TEXT NOT NULL,
    unique_key        TEXT CHECK (length(unique_key) BETWEEN 1 AND 255),
    tags              TEXT NOT NULL DEFAULT '',
    lease_expires_at  TEXT,
    worker_id         TEXT,
    last_error        TEXT,
    result            TEXT CHECK (result IS NULL OR json_valid(result)),
    progress          TEXT CHECK (progress IS NULL OR json_valid(progress)),
    created_by        TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    started_at        TEXT,
    finished_at       TEXT
);
CREATE INDEX tasks_claim ON tasks (queue, priority, run_at, id)
    WHERE state IN ('scheduled', 'available', 'retryable');
CREATE UNIQUE INDEX tasks_unique_key ON tasks (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('scheduled', 'available', 'running', 'retryable');
CREATE INDEX tasks_running ON tasks (queue, lease_expires_at) WHERE state = 'running';
CREATE INDEX tasks_finished ON tasks (finished_at)
    WHERE state IN ('completed', 'failed', 'cancelled');
CREATE INDEX tasks_queue_state ON tasks (queue, state);
CREATE INDEX tasks_created ON tasks (created_at, id);
CREATE TABLE task_errors (
    id       INTEGER PRIMARY KEY,
    task_id  BLOB NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt  INTEGER NOT NULL,
    at       TEXT NOT NULL,
    message  TEXT NOT NULL
);
CREATE INDEX task_errors_task_id ON task_errors (task_id, id);
CREATE TABLE task_queues (
    queue              TEXT PRIMARY KEY NOT NULL,
    paused             INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    concurrency_limit  INTEGER CHECK (concurrency_limit >= 1)
);
CREATE TABLE task_schedule_ticks (
    schedule    TEXT NOT NULL,
    tick        TEXT NOT NULL,
    task_id     BLOB,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (schedule, tick)
);
"#;

const POSTGRES_UP: &str = r#"
CREATE TABLE tasks (
    id                UUID PRIMARY KEY,
    queue             TEXT NOT NULL CHECK (char_length(queue) BETWEEN 1 AND 64),
    kind              TEXT NOT NULL CHECK (char_length(kind) BETWEEN 1 AND 128),
    payload           JSONB NOT NULL,
    priority          SMALLINT NOT NULL CHECK (priority BETWEEN 1 AND 10),
    state             TEXT NOT NULL CHECK (state IN ('scheduled', 'available', 'running', 'retryable', 'completed', 'failed', 'cancelled')),
    attempt           INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts      INTEGER NOT NULL CHECK (max_attempts BETWEEN 1 AND 100),
    run_at            TIMESTAMPTZ NOT NULL,
    unique_key        TEXT CHECK (char_length(unique_key) BETWEEN 1 AND 255),
    tags              TEXT NOT NULL DEFAULT '',
    lease_expires_at  TIMESTAMPTZ,
    worker_id         TEXT,
    last_error        TEXT,
    result            JSONB,
    progress          JSONB,
    created_by        TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    started_at        TIMESTAMPTZ,
    finished_at       TIMESTAMPTZ
);
CREATE INDEX tasks_claim ON tasks (queue, priority, run_at, id)
    WHERE state IN ('scheduled', 'available', 'retryable');
CREATE UNIQUE INDEX tasks_unique_key ON tasks (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('scheduled', 'available', 'running', 'retryable');
CREATE INDEX tasks_running ON tasks (queue, lease_expires_at) WHERE state = 'running';
CREATE INDEX tasks_finished ON tasks (finished_at)
    WHERE state IN ('completed', 'failed', 'cancelled');
CREATE INDEX tasks_queue_state ON tasks (queue, state);
CREATE INDEX tasks_created ON tasks (created_at, id);
CREATE TABLE task_errors (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id  UUID NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt  INTEGER NOT NULL,
    at       TIMESTAMPTZ NOT NULL,
    message  TEXT NOT NULL
);
CREATE INDEX task_errors_task_id ON task_errors (task_id, id);
CREATE TABLE task_queues (
    queue              TEXT PRIMARY KEY,
    paused             BOOLEAN NOT NULL DEFAULT FALSE,
    concurrency_limit  INTEGER CHECK (concurrency_limit >= 1)
);
CREATE TABLE task_schedule_ticks (
    schedule    TEXT NOT NULL,
    tick        TIMESTAMPTZ NOT NULL,
    task_id     UUID,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (schedule, tick)
);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = "DROP TABLE task_schedule_ticks; DROP TABLE task_queues; \
                   DROP TABLE task_errors; DROP TABLE tasks;";
        super::execute_for_backend(manager, sql, sql).await
    }
}
