//! SOLO agent genesis interviews (issue 24): `solo_interviews`, one row per interview with
//! its idea and where it stands, `solo_turns`, its questions and answers in order, and
//! `solo_specs`, the versions of the spec written from them.
//!
//! The spec is JSON text on both engines. Like `tdd_runs.owner_id`, `owner_id` does not
//! reference `users`: an interview keeps naming the user it was held with after that user is
//! deleted, where `ON DELETE SET NULL` would turn it into an interview of the system. The
//! project type and the question source carry no `CHECK`, so a new kind needs no table
//! rebuild on SQLite; the repository refuses names it does not know when it reads them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const SQLITE_UP: &str = r#"
CREATE TABLE solo_interviews (
    id              BLOB PRIMARY KEY NOT NULL,
    owner_id        BLOB,
    project_type    TEXT NOT NULL,
    idea            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('open', 'complete')),
    spec_version    INTEGER NOT NULL DEFAULT 0 CHECK (spec_version >= 0),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX solo_interviews_owner ON solo_interviews (owner_id, created_at);
CREATE INDEX solo_interviews_created ON solo_interviews (created_at, id);
CREATE TABLE solo_turns (
    interview_id    BLOB NOT NULL REFERENCES solo_interviews (id) ON DELETE CASCADE,
    idx             INTEGER NOT NULL CHECK (idx >= 0),
    question        TEXT NOT NULL,
    key             TEXT,
    source          TEXT NOT NULL,
    fallback        TEXT,
    answer          TEXT,
    asked_at        TEXT NOT NULL,
    answered_at     TEXT,
    PRIMARY KEY (interview_id, idx)
);
CREATE TABLE solo_specs (
    interview_id    BLOB NOT NULL REFERENCES solo_interviews (id) ON DELETE CASCADE,
    version         INTEGER NOT NULL CHECK (version >= 1),
    project_type    TEXT NOT NULL,
    spec            TEXT NOT NULL CHECK (json_valid(spec)),
    markdown        TEXT NOT NULL,
    source          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (interview_id, version)
);
"#;

const POSTGRES_UP: &str = r#"
CREATE TABLE solo_interviews (
    id              UUID PRIMARY KEY,
    owner_id        UUID,
    project_type    TEXT NOT NULL,
    idea            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('open', 'complete')),
    spec_version    INTEGER NOT NULL DEFAULT 0 CHECK (spec_version >= 0),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX solo_interviews_owner ON solo_interviews (owner_id, created_at);
CREATE INDEX solo_interviews_created ON solo_interviews (created_at, id);
CREATE TABLE solo_turns (
    interview_id    UUID NOT NULL REFERENCES solo_interviews (id) ON DELETE CASCADE,
    idx             INTEGER NOT NULL CHECK (idx >= 0),
    question        TEXT NOT NULL,
    key             TEXT,
    source          TEXT NOT NULL,
    fallback        TEXT,
    answer          TEXT,
    asked_at        TIMESTAMPTZ NOT NULL,
    answered_at     TIMESTAMPTZ,
    PRIMARY KEY (interview_id, idx)
);
CREATE TABLE solo_specs (
    interview_id    UUID NOT NULL REFERENCES solo_interviews (id) ON DELETE CASCADE,
    version         INTEGER NOT NULL CHECK (version >= 1),
    project_type    TEXT NOT NULL,
    spec            TEXT NOT NULL,
    markdown        TEXT NOT NULL,
    source          TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (interview_id, version)
);
"#;

const DOWN: &str = "
DROP TABLE solo_specs;
DROP TABLE solo_turns;
DROP TABLE solo_interviews;
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
