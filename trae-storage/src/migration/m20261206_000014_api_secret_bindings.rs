//! Who bound an API endpoint's secret, and on what right (issue 19): the orchestrator injects
//! a secret only under a recorded binding. Endpoints registered before have none and send no
//! credentials until someone who may use the secret saves them again.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const UP: &str = "ALTER TABLE api_endpoints ADD COLUMN secret_binding TEXT;";
const DOWN: &str = "ALTER TABLE api_endpoints DROP COLUMN secret_binding;";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, UP, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, DOWN, DOWN).await
    }
}
