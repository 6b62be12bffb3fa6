//! The secrets vault: secrets, their encrypted versions, the data keys wrapped by each master
//! key, and the master keys' check values.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const SQLITE_UP: &str = r#"
CREATE TABLE secret_master_keys (
    id          TEXT PRIMARY KEY NOT NULL,
    seq         INTEGER NOT NULL UNIQUE,
    key_check   BLOB NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE secrets (
    name            TEXT PRIMARY KEY NOT NULL,
    latest_version  INTEGER NOT NULL,
    description     TEXT,
    tags            TEXT NOT NULL DEFAULT '',
    created_by      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE TABLE secret_versions (
    name        TEXT NOT NULL REFERENCES secrets (name) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    ciphertext  BLOB NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE secret_keys (
    name           TEXT NOT NULL,
    version        INTEGER NOT NULL,
    master_key_id  TEXT NOT NULL REFERENCES secret_master_keys (id),
    wrapped        BLOB NOT NULL,
    PRIMARY KEY (name, version, master_key_id),
    FOREIGN KEY (name, version) REFERENCES secret_versions (name, version) ON DELETE CASCADE
);
CREATE INDEX secret_keys_master_key_id ON secret_keys (master_key_id);
"#;

const POSTGRES_UP: &str = r#"
CREATE TABLE secret_master_keys (
    id          TEXT PRIMARY KEY,
    seq         BIGINT NOT NULL UNIQUE,
    key_check   BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE TABLE secrets (
    name            TEXT PRIMARY KEY,
    latest_version  BIGINT NOT NULL,
    description     TEXT,
    tags            TEXT NOT NULL DEFAULT '',
    created_by      TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE TABLE secret_versions (
    name        TEXT NOT NULL REFERENCES secrets (name) ON DELETE CASCADE,
    version     BIGINT NOT NULL,
    ciphertext  BYTEA NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE secret_keys (
    name           TEXT NOT NULL,
    version        BIGINT NOT NULL,
    master_key_id  TEXT NOT NULL REFERENCES secret_master_keys (id),
    wrapped        BYTEA NOT NULL,
    PRIMARY KEY (name, version, master_key_id),
    FOREIGN KEY (name, version) REFERENCES secret_versions (name, version) ON DELETE CASCADE
);
CREATE INDEX secret_keys_master_key_id ON secret_keys (master_key_id);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = "DROP TABLE secret_keys; DROP TABLE secret_versions; DROP TABLE secrets; \
                   DROP TABLE secret_master_keys;";
        super::execute_for_backend(manager, sql, sql).await
    }
}
