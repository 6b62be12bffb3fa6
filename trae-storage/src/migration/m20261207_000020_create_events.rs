//! The event log (issue 21): `events`, numbered by `seq`, and `event_stream`, the one row
//! holding the log's epoch and the last `seq` handed out.
//!
//! Every append updates that row first and keeps it locked until it commits (SQLite: the
//! write lock; PostgreSQL: the row lock), so appends are numbered in commit order and a
//! reader never sees `seq` N+1 before N. The epoch is random, made here; a restore gives a
//! new one.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const SQLITE_UP: &str = r#"
CREATE TABLE event_stream (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    epoch     TEXT NOT NULL,
    last_seq  INTEGER NOT NULL
);
INSERT INTO event_stream (id, epoch, last_seq) VALUES (1, lower(hex(randomblob(16))), 0);
CREATE TABLE events (
    seq       INTEGER PRIMARY KEY,
    id        BLOB NOT NULL,
    ts        TEXT NOT NULL,
    topic     TEXT NOT NULL,
    source    TEXT NOT NULL,
    kind      TEXT NOT NULL,
    owner_id  BLOB,
    payload   TEXT NOT NULL CHECK (json_valid(payload))
);
CREATE INDEX events_topic ON events (topic, seq);
"#;

const POSTGRES_UP: &str = r#"
CREATE TABLE event_stream (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    epoch     TEXT NOT NULL,
    last_seq  BIGINT NOT NULL
);
INSERT INTO event_stream (id, epoch, last_seq)
    VALUES (1, replace(gen_random_uuid()::text, '-', ''), 0);
CREATE TABLE events (
    seq       BIGINT PRIMARY KEY,
    id        UUID NOT NULL,
    ts        TIMESTAMPTZ NOT NULL,
    topic     TEXT NOT NULL,
    source    TEXT NOT NULL,
    kind      TEXT NOT NULL,
    owner_id  UUID,
    payload   JSONB NOT NULL
);
CREATE INDEX events_topic ON events (topic, seq);
"#;

const DOWN: &str = r#"
DROP TABLE events;
DROP TABLE event_stream;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, DOWN, DOWN).await
    }
}
