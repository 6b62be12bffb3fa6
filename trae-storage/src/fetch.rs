//! Fetching rows: one page of a query with the total it pages through, or the one row a
//! unique key names.

use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait, QuerySelect, Select};
use trae_core::{PageRequest, Result};

use crate::error::db_error;

/// Runs `select` (already filtered and ordered) for one page, and counts every match.
pub(crate) async fn fetch_page<E>(
    select: Select<E>,
    page: PageRequest,
    db: &DatabaseConnection,
) -> Result<(Vec<E::Model>, u64)>
where
    E: EntityTrait,
    E::Model: Sync,
{
    let total = select.clone().count(db).await.map_err(db_error)?;
    let rows = select
        .limit(u64::from(page.limit()))
        .offset(page.offset())
        .all(db)
        .await
        .map_err(db_error)?;
    Ok((rows, total))
}

/// The row a unique key (a primary key or unique column) selects, if any.
///
/// sea-orm's `.one()` appends a bound `LIMIT ?`, which makes SQLite (3.47 and later)
/// re-prepare the statement on every call; a unique key returns at most one row anyway, so
/// reading all rows keeps the cached prepared statement. This is the hot path of every
/// lookup by id.
pub(crate) async fn fetch_unique<E, C>(select: Select<E>, db: &C) -> Result<Option<E::Model>>
where
    E: EntityTrait,
    C: sea_orm::ConnectionTrait,
{
    Ok(select.all(db).await.map_err(db_error)?.into_iter().next())
}
