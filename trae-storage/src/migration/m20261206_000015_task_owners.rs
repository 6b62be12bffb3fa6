//! Task owners (issue 19): the user on whose behalf a task was enqueued (directly or through
//! one of their API keys; `NULL` for the system), so reading others' tasks needs
//! `tasks:read_all` and changing them ownership or `tasks:admin`. Existing tasks take their
//! owner from `created_by`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const SQLITE_UP: &str = r#"
ALTER TABLE tasks ADD COLUMN owner_id BLOB;
UPDATE tasks SET owner_id = unhex(replace(substr(created_by, 6), '-', ''))
    WHERE created_by LIKE 'user:%';
UPDATE tasks SET owner_id = (
    SELECT k.owner_id FROM api_keys k
    WHERE k.id = unhex(replace(substr(tasks.created_by, 9), '-', ''))
) WHERE created_by LIKE 'api_key:%';
CREATE INDEX tasks_owner ON tasks (owner_id, created_at);
"#;

const POSTGRES_UP: &str = r#"
ALTER TABLE tasks ADD COLUMN owner_id UUID;
UPDATE tasks SET owner_id = substr(created_by, 6)::uuid WHERE created_by LIKE 'user:%';
UPDATE tasks SET owner_id = k.owner_id FROM api_keys k
    WHERE tasks.created_by LIKE 'api_key:%' AND k.id = substr(tasks.created_by, 9)::uuid;
CREATE INDEX tasks_owner ON tasks (owner_id, created_at);
"#;

const DOWN: &str = "DROP INDEX tasks_owner; ALTER TABLE tasks DROP COLUMN owner_id;";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, DOWN, DOWN).await
    }
}
