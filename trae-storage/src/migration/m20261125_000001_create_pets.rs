//! The pets table of the example API.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const SQLITE_UP: &str = r#"
CREATE TABLE pets (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    species     TEXT NOT NULL CHECK (species IN ('dog', 'cat', 'bird', 'fish', 'other')),
    age         INTEGER NOT NULL CHECK (age BETWEEN 0 AND 100),
    tags        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags) AND json_type(tags) = 'array'),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX pets_created_at_id ON pets (created_at, id);
CREATE INDEX pets_species_created_at_id ON pets (species, created_at, id);
"#;

const POSTGRES_UP: &str = r#"
CREATE TABLE pets (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    species     TEXT NOT NULL CHECK (species IN ('dog', 'cat', 'bird', 'fish', 'other')),
    age         INTEGER NOT NULL CHECK (age BETWEEN 0 AND 100),
    tags        JSONB NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(tags) = 'array'),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX pets_created_at_id ON pets (created_at, id);
CREATE INDEX pets_species_created_at_id ON pets (species, created_at, id);
CREATE INDEX pets_tags ON pets USING GIN (tags jsonb_path_ops);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = "DROP TABLE pets";
        super::execute_for_backend(manager, sql, sql).await
    }
}
