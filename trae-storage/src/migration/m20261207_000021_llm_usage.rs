//! Language models (issue 22): the `llm:use` permission for the built-in `user` and
//! `developer` roles, and the tokens and model of each API attempt, so a model call's usage
//! and cost sit in the request log beside every other call.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const UP: &str = "
ALTER TABLE api_attempts ADD COLUMN model TEXT;
ALTER TABLE api_attempts ADD COLUMN prompt_tokens BIGINT;
ALTER TABLE api_attempts ADD COLUMN completion_tokens BIGINT;
INSERT INTO role_permissions (role, permission)
    SELECT name, 'llm:use' FROM roles WHERE name IN ('user', 'developer')
    ON CONFLICT DO NOTHING;
";

const DOWN: &str = "
DELETE FROM role_permissions WHERE permission = 'llm:use';
ALTER TABLE api_attempts DROP COLUMN completion_tokens;
ALTER TABLE api_attempts DROP COLUMN prompt_tokens;
ALTER TABLE api_attempts DROP COLUMN model;
";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(UP)
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(DOWN)
            .await
            .map(|_| ())
    }
}
