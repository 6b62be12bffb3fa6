//! Failed logins counted per (account, client address) as well as per account (issue 19), so
//! a stranger cannot lock someone out from elsewhere: `users.failed_login_addresses` holds the
//! per-address counts as JSON, swapped together with the account-wide count under
//! `login_version`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = "ALTER TABLE users ADD COLUMN failed_login_addresses TEXT;";
        super::execute_for_backend(manager, sql, sql).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = "ALTER TABLE users DROP COLUMN failed_login_addresses;";
        super::execute_for_backend(manager, sql, sql).await
    }
}
