//! One page of a query together with the total number of rows it pages through.

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
