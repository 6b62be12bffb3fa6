//! The content domain: channels, author personas with their versions, evidence with its
//! full-text index, and contradiction records with their evidence links.
//!
//! Evidence search: on SQLite an external-content FTS5 table (porter stemming) kept in step
//! by triggers, keyed by `evidence.seq` (an INTEGER PRIMARY KEY, so `VACUUM` cannot renumber
//! it); on PostgreSQL a stored, weighted `tsvector` column with a GIN index. Both weigh the
//! topic above the content.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const SQLITE_UP: &str = r#"
CREATE TABLE channels (
    id                BLOB PRIMARY KEY NOT NULL,
    name              TEXT NOT NULL UNIQUE,
    platform          TEXT NOT NULL,
    url               TEXT,
    description       TEXT,
    target_audience   TEXT,
    content_strategy  TEXT,
    posting_schedule  TEXT,
    is_active         BOOLEAN NOT NULL,
    metrics           TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);

CREATE TABLE author_personas (
    id                  BLOB PRIMARY KEY NOT NULL,
    name                TEXT NOT NULL UNIQUE,
    is_active           BOOLEAN NOT NULL,
    version             INTEGER NOT NULL,
    parent_id           BLOB REFERENCES author_personas (id),
    description         TEXT,
    writing_style       TEXT,
    personality_traits  TEXT,
    expertise_areas     TEXT,
    tone                TEXT,
    vocabulary_level    TEXT,
    target_audience     TEXT,
    channel_id          BLOB REFERENCES channels (id),
    content_types       TEXT,
    usage_count         INTEGER NOT NULL DEFAULT 0,
    last_used_at        TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX author_personas_parent ON author_personas (parent_id);
CREATE INDEX author_personas_channel ON author_personas (channel_id);

CREATE TABLE persona_versions (
    persona_id          BLOB NOT NULL REFERENCES author_personas (id) ON DELETE CASCADE,
    version             INTEGER NOT NULL,
    name                TEXT NOT NULL,
    is_active           BOOLEAN NOT NULL,
    parent_id           BLOB,
    description         TEXT,
    writing_style       TEXT,
    personality_traits  TEXT,
    expertise_areas     TEXT,
    tone                TEXT,
    vocabulary_level    TEXT,
    target_audience     TEXT,
    channel_id          BLOB,
    content_types       TEXT,
    changed_at          TEXT NOT NULL,
    changed_by          TEXT NOT NULL,
    PRIMARY KEY (persona_id, version)
);

CREATE TABLE evidence (
    seq            INTEGER PRIMARY KEY,
    id             BLOB NOT NULL UNIQUE,
    topic          TEXT NOT NULL,
    content        TEXT NOT NULL,
    source_url     TEXT,
    source_name    TEXT,
    evidence_type  TEXT NOT NULL,
    published_at   TEXT,
    credibility    INTEGER NOT NULL,
    relevance      INTEGER NOT NULL,
    tags           TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX evidence_created ON evidence (created_at, id);

CREATE VIRTUAL TABLE evidence_fts USING fts5 (
    topic, content, content = 'evidence', content_rowid = 'seq', tokenize = 'porter unicode61'
);
CREATE TRIGGER evidence_fts_insert AFTER INSERT ON evidence BEGIN
    INSERT INTO evidence_fts (rowid, topic, content) VALUES (new.seq, new.topic, new.content);
END;
CREATE TRIGGER evidence_fts_delete AFTER DELETE ON evidence BEGIN
    INSERT INTO evidence_fts (evidence_fts, rowid, topic, content)
        VALUES ('delete', old.seq, old.topic, old.content);
END;
CREATE TRIGGER evidence_fts_update AFTER UPDATE OF topic, content ON evidence BEGIN
    INSERT INTO evidence_fts (evidence_fts, rowid, topic, content)
        VALUES ('delete', old.seq, old.topic, old.content);
    INSERT INTO evidence_fts (rowid, topic, content) VALUES (new.seq, new.topic, new.content);
END;

CREATE TABLE contradictions (
    id                   BLOB PRIMARY KEY NOT NULL,
    subject_name         TEXT NOT NULL,
    subject_type         TEXT NOT NULL,
    topic                TEXT NOT NULL,
    statement_1          TEXT NOT NULL,
    statement_2          TEXT NOT NULL,
    context_1            TEXT,
    context_2            TEXT,
    date_1               TEXT,
    date_2               TEXT,
    contradiction_type   TEXT NOT NULL,
    severity             INTEGER NOT NULL CHECK (severity BETWEEN 1 AND 10),
    confidence           REAL NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    verification_status  TEXT NOT NULL,
    public_impact        INTEGER NOT NULL CHECK (public_impact BETWEEN 1 AND 10),
    tags                 TEXT NOT NULL,
    content_used         BOOLEAN NOT NULL,
    time_gap_days        INTEGER,
    reviewed_by          TEXT,
    reviewed_at          TEXT,
    review_note          TEXT,
    analysis             TEXT,
    created_by           TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX contradictions_created ON contradictions (created_at, id);
CREATE INDEX contradictions_status ON contradictions (verification_status, content_used);

CREATE TABLE contradiction_evidence (
    contradiction_id  BLOB NOT NULL REFERENCES contradictions (id) ON DELETE CASCADE,
    side              INTEGER NOT NULL CHECK (side IN (1, 2)),
    evidence_id       BLOB NOT NULL REFERENCES evidence (id) ON DELETE CASCADE,
    position          INTEGER NOT NULL,
    PRIMARY KEY (contradiction_id, side, evidence_id)
);
CREATE INDEX contradiction_evidence_evidence ON contradiction_evidence (evidence_id);
"#;

const POSTGRES_UP: &str = r#"
CREATE TABLE channels (
    id                UUID PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    platform          TEXT NOT NULL,
    url               TEXT,
    description       TEXT,
    target_audience   TEXT,
    content_strategy  TEXT,
    posting_schedule  TEXT,
    is_active         BOOLEAN NOT NULL,
    metrics           TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE author_personas (
    id                  UUID PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    is_active           BOOLEAN NOT NULL,
    version             BIGINT NOT NULL,
    parent_id           UUID REFERENCES author_personas (id),
    description         TEXT,
    writing_style       TEXT,
    personality_traits  TEXT,
    expertise_areas     TEXT,
    tone                TEXT,
    vocabulary_level    TEXT,
    target_audience     TEXT,
    channel_id          UUID REFERENCES channels (id),
    content_types       TEXT,
    usage_count         BIGINT NOT NULL DEFAULT 0,
    last_used_at        TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX author_personas_parent ON author_personas (parent_id);
CREATE INDEX author_personas_channel ON author_personas (channel_id);

CREATE TABLE persona_versions (
    persona_id          UUID NOT NULL REFERENCES author_personas (id) ON DELETE CASCADE,
    version             BIGINT NOT NULL,
    name                TEXT NOT NULL,
    is_active           BOOLEAN NOT NULL,
    parent_id           UUID,
    description         TEXT,
    writing_style       TEXT,
    personality_traits  TEXT,
    expertise_areas     TEXT,
    tone                TEXT,
    vocabulary_level    TEXT,
    target_audience     TEXT,
    channel_id          UUID,
    content_types       TEXT,
    changed_at          TIMESTAMPTZ NOT NULL,
    changed_by          TEXT NOT NULL,
    PRIMARY KEY (persona_id, version)
);

CREATE TABLE evidence (
    id             UUID PRIMARY KEY,
    topic          TEXT NOT NULL,
    content        TEXT NOT NULL,
    source_url     TEXT,
    source_name    TEXT,
    evidence_type  TEXT NOT NULL,
    published_at   TIMESTAMPTZ,
    credibility    SMALLINT NOT NULL,
    relevance      SMALLINT NOT NULL,
    tags           TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    search         TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('english', topic), 'A') ||
        setweight(to_tsvector('english', content), 'B')
    ) STORED
);
CREATE INDEX evidence_created ON evidence (created_at, id);
CREATE INDEX evidence_search ON evidence USING GIN (search);

CREATE TABLE contradictions (
    id                   UUID PRIMARY KEY,
    subject_name         TEXT NOT NULL,
    subject_type         TEXT NOT NULL,
    topic                TEXT NOT NULL,
    statement_1          TEXT NOT NULL,
    statement_2          TEXT NOT NULL,
    context_1            TEXT,
    context_2            TEXT,
    date_1               DATE,
    date_2               DATE,
    contradiction_type   TEXT NOT NULL,
    severity             SMALLINT NOT NULL CHECK (severity BETWEEN 1 AND 10),
    confidence           DOUBLE PRECISION NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    verification_status  TEXT NOT NULL,
    public_impact        SMALLINT NOT NULL CHECK (public_impact BETWEEN 1 AND 10),
    tags                 TEXT NOT NULL,
    content_used         BOOLEAN NOT NULL,
    time_gap_days        BIGINT,
    reviewed_by          TEXT,
    reviewed_at          TIMESTAMPTZ,
    review_note          TEXT,
    analysis             TEXT,
    created_by           TEXT NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX contradictions_created ON contradictions (created_at, id);
CREATE INDEX contradictions_status ON contradictions (verification_status, content_used);

CREATE TABLE contradiction_evidence (
    contradiction_id  UUID NOT NULL REFERENCES contradictions (id) ON DELETE CASCADE,
    side              SMALLINT NOT NULL CHECK (side IN (1, 2)),
    evidence_id       UUID NOT NULL REFERENCES evidence (id) ON DELETE CASCADE,
    position          INTEGER NOT NULL,
    PRIMARY KEY (contradiction_id, side, evidence_id)
);
CREATE INDEX contradiction_evidence_evidence ON contradiction_evidence (evidence_id);
"#;

const SQLITE_DOWN: &str = "DROP TABLE contradiction_evidence; DROP TABLE contradictions; \
    DROP TRIGGER evidence_fts_update; DROP TRIGGER evidence_fts_delete; \
    DROP TRIGGER evidence_fts_insert; DROP TABLE evidence_fts; DROP TABLE evidence; \
    DROP TABLE persona_versions; DROP TABLE author_personas; DROP TABLE channels;";

const POSTGRES_DOWN: &str = "DROP TABLE contradiction_evidence; DROP TABLE contradictions; \
    DROP TABLE evidence; DROP TABLE persona_versions; DROP TABLE author_personas; \
    DROP TABLE channels;";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, SQLITE_DOWN, POSTGRES_DOWN).await
    }
}
