//! TDD agent runs (issue 23): `tdd_runs`, one row per run with its spec, where it stands
//! and what it spent, and `tdd_steps`, its trajectory; plus the `agents:run` permission for
//! the built-in `developer` role (the agents' commands execute on the server, so `user` does
//! not hold it; `admin` holds every permission without rows).
//!
//! The structured parts (the test command, the budget, test reports, edits, the changed
//! files) are JSON text on both engines. Like `tasks.owner_id`, `owner_id` does not reference
//! `users`: a run keeps naming the user it ran for after that user is deleted, where
//! `ON DELETE SET NULL` would turn it into a run of the system.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const SQLITE_UP: &str = r#"
CREATE TABLE tdd_runs (
    id              BLOB PRIMARY KEY NOT NULL,
    owner_id        BLOB,
    project         TEXT NOT NULL,
    test_command    TEXT NOT NULL CHECK (json_valid(test_command)),
    max_iterations  INTEGER NOT NULL CHECK (max_iterations >= 0),
    model           TEXT,
    budget          TEXT NOT NULL CHECK (json_valid(budget)),
    status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'passed', 'failed',
                        'budget_exhausted', 'stuck', 'cancelled', 'error')),
    reason          TEXT,
    project_digest  TEXT,
    iterations      INTEGER NOT NULL DEFAULT 0 CHECK (iterations >= 0),
    tokens          INTEGER NOT NULL DEFAULT 0 CHECK (tokens >= 0),
    cost            REAL NOT NULL DEFAULT 0,
    final_report    TEXT CHECK (final_report IS NULL OR json_valid(final_report)),
    files           TEXT NOT NULL CHECK (json_valid(files)),
    originals       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(originals)),
    created_at      TEXT NOT NULL,
    started_at      TEXT,
    finished_at     TEXT,
    accepted_at     TEXT
);
CREATE INDEX tdd_runs_owner ON tdd_runs (owner_id, created_at);
CREATE INDEX tdd_runs_status ON tdd_runs (status, created_at);
CREATE INDEX tdd_runs_created ON tdd_runs (created_at, id);
CREATE TABLE tdd_steps (
    run_id          BLOB NOT NULL REFERENCES tdd_runs (id) ON DELETE CASCADE,
    step_index      INTEGER NOT NULL CHECK (step_index >= 0),
    prompt_summary  TEXT,
    answer          TEXT,
    edits           TEXT NOT NULL CHECK (json_valid(edits)),
    report          TEXT CHECK (report IS NULL OR json_valid(report)),
    tokens          INTEGER NOT NULL CHECK (tokens >= 0),
    cost            REAL NOT NULL,
    elapsed_ms      INTEGER NOT NULL CHECK (elapsed_ms >= 0),
    at              TEXT NOT NULL,
    PRIMARY KEY (run_id, step_index)
);
INSERT INTO role_permissions (role, permission)
    SELECT name, 'agents:run' FROM roles WHERE name = 'developer'
    ON CONFLICT DO NOTHING;
"#;

const POSTGRES_UP: &str = r#"
CREATE TABLE tdd_runs (
    id              UUID PRIMARY KEY,
    owner_id        UUID,
    project         TEXT NOT NULL,
    test_command    TEXT NOT NULL,
    max_iterations  INTEGER NOT NULL CHECK (max_iterations >= 0),
    model           TEXT,
    budget          TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'passed', 'failed',
                        'budget_exhausted', 'stuck', 'cancelled', 'error')),
    reason          TEXT,
    project_digest  TEXT,
    iterations      INTEGER NOT NULL DEFAULT 0 CHECK (iterations >= 0),
    tokens          BIGINT NOT NULL DEFAULT 0 CHECK (tokens >= 0),
    cost            DOUBLE PRECISION NOT NULL DEFAULT 0,
    final_report    TEXT,
    files           TEXT NOT NULL,
    originals       TEXT NOT NULL DEFAULT '{}',
    created_at      TIMESTAMPTZ NOT NULL,
    started_at      TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ,
    accepted_at     TIMESTAMPTZ
);
CREATE INDEX tdd_runs_owner ON tdd_runs (owner_id, created_at);
CREATE INDEX tdd_runs_status ON tdd_runs (status, created_at);
CREATE INDEX tdd_runs_created ON tdd_runs (created_at, id);
CREATE TABLE tdd_steps (
    run_id          UUID NOT NULL REFERENCES tdd_runs (id) ON DELETE CASCADE,
    step_index      INTEGER NOT NULL CHECK (step_index >= 0),
    prompt_summary  TEXT,
    answer          TEXT,
    edits           TEXT NOT NULL,
    report          TEXT,
    tokens          BIGINT NOT NULL CHECK (tokens >= 0),
    cost            DOUBLE PRECISION NOT NULL,
    elapsed_ms      BIGINT NOT NULL CHECK (elapsed_ms >= 0),
    at              TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, step_index)
);
INSERT INTO role_permissions (role, permission)
    SELECT name, 'agents:run' FROM roles WHERE name = 'developer'
    ON CONFLICT DO NOTHING;
"#;

const DOWN: &str = "
DELETE FROM role_permissions WHERE permission = 'agents:run';
DROP TABLE tdd_steps;
DROP TABLE tdd_runs;
";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, DOWN, DOWN).await
    }
}
