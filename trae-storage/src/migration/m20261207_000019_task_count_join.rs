//! The PostgreSQL task-counter trigger joined its two transition tables with a nested loop
//! (issue 20). The planner estimates a transition table at one row, so
//! `trae_new JOIN trae_old ON o.id = n.id` compared every new row with every old one: an
//! acknowledgement of 512 tasks spent 38 ms in the trigger against 9 ms in the `UPDATE`
//! itself, and the cost grew with the square of the batch. Planning the function without
//! nested loops gives a hash join, linear in the rows a statement changed.
//!
//! A function-level setting rather than a rewrite: it applies to every statement in the
//! function, including ones added later, and leaves the counting rules untouched. SQLite's
//! triggers are per row and have no such join.

use sea_orm::DatabaseBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        postgres_only(
            manager,
            "ALTER FUNCTION trae_tasks_counted_update() SET enable_nestloop = off",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        postgres_only(
            manager,
            "ALTER FUNCTION trae_tasks_counted_update() RESET enable_nestloop",
        )
        .await
    }
}

async fn postgres_only(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    if db.get_database_backend() == DatabaseBackend::Postgres {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}
