//! [`ChannelRepository`] on SQLite and PostgreSQL, in raw SQL through sqlx.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use sqlx::{QueryBuilder, Row};
use trae_core::content::{Channel, ChannelDeletion, ChannelFilter, ChannelRepository, Platform};
use trae_core::{Error, Page, PageRequest, Result};
use uuid::Uuid;

use crate::persona_repository::SNAPSHOT;
use crate::sql_pools::{Pools, on_engine, per_engine};

/// Channels in the `channels` table.
#[derive(Debug, Clone)]
pub struct SqlChannelRepository {
    pools: Pools,
}

impl SqlChannelRepository {
    /// A repository writing through `writer` and reading through `reader`.
    pub fn new(writer: &DatabaseConnection, reader: &DatabaseConnection) -> Self {
        Self {
            pools: Pools::new(writer, reader),
        }
    }
}

#[allow(clippy::needless_pass_by_value)] // a `map_err` adapter
fn sql_err(err: sqlx::Error) -> Error {
    crate::error::sqlx_error(&err, "channel")
}

const COLUMNS: &str = "id, name, platform, url, description, target_audience, content_strategy, \
    posting_schedule, is_active, metrics, created_at, updated_at";

per_engine! {
    fn channel_of(row: &DbRow) -> Result<Channel> {
        let platform: String = row.try_get("platform").map_err(sql_err)?;
        let metrics: String = row.try_get("metrics").map_err(sql_err)?;
        Ok(Channel {
            id: row.try_get("id").map_err(sql_err)?,
            name: row.try_get("name").map_err(sql_err)?,
            platform: platform
                .parse::<Platform>()
                .map_err(|_| Error::Storage(format!("stored platform {platform:?}")))?,
            url: row.try_get("url").map_err(sql_err)?,
            description: row.try_get("description").map_err(sql_err)?,
            target_audience: row.try_get("target_audience").map_err(sql_err)?,
            content_strategy: row.try_get("content_strategy").map_err(sql_err)?,
            posting_schedule: row.try_get("posting_schedule").map_err(sql_err)?,
            is_active: row.try_get("is_active").map_err(sql_err)?,
            metrics: serde_json::from_str(&metrics)
                .map_err(|e| Error::Storage(format!("stored channel metrics: {e}")))?,
            created_at: row.try_get("created_at").map_err(sql_err)?,
            updated_at: row.try_get("updated_at").map_err(sql_err)?,
        })
    }

    pub(super) async fn insert(pool: &Pool, c: &Channel) -> Result<()> {
        sqlx::query(
            "INSERT INTO channels (id, name, platform, url, description, \
             target_audience, content_strategy, posting_schedule, is_active, metrics, \
             created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(c.id)
        .bind(c.name.as_str())
        .bind(c.platform.as_str())
        .bind(c.url.as_deref())
        .bind(c.description.as_deref())
        .bind(c.target_audience.as_deref())
        .bind(c.content_strategy.as_deref())
        .bind(c.posting_schedule.as_deref())
        .bind(c.is_active)
        .bind(c.metrics.to_string())
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(pool)
        .await
        .map_err(sql_err)?;
        Ok(())
    }

    pub(super) async fn update(pool: &Pool, c: &Channel) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE channels SET name = $2, platform = $3, url = $4, description = $5, \
             target_audience = $6, content_strategy = $7, posting_schedule = $8, \
             is_active = $9, metrics = $10, updated_at = $11 WHERE id = $1",
        )
        .bind(c.id)
        .bind(c.name.as_str())
        .bind(c.platform.as_str())
        .bind(c.url.as_deref())
        .bind(c.description.as_deref())
        .bind(c.target_audience.as_deref())
        .bind(c.content_strategy.as_deref())
        .bind(c.posting_schedule.as_deref())
        .bind(c.is_active)
        .bind(c.metrics.to_string())
        .bind(c.updated_at)
        .execute(pool)
        .await
        .map_err(sql_err)?
        .rows_affected()
            > 0)
    }

    pub(super) async fn get(pool: &Pool, id: Uuid) -> Result<Option<Channel>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM channels WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(sql_err)?
        .as_ref()
        .map(channel_of)
        .transpose()
    }

    fn filtered(select: &str, filter: &ChannelFilter) -> QueryBuilder<Db> {
        let mut q = QueryBuilder::new(format!("SELECT {select} FROM channels WHERE TRUE"));
        if let Some(platform) = filter.platform {
            q.push(" AND platform = ").push_bind(platform.as_str());
        }
        if let Some(active) = filter.is_active {
            q.push(" AND is_active = ").push_bind(active);
        }
        q
    }

    pub(super) async fn list(
        pool: &Pool,
        filter: &ChannelFilter,
        page: PageRequest,
    ) -> Result<Page<Channel>> {
        let total: i64 = filtered("COUNT(*)", filter)
            .build()
            .fetch_one(pool)
            .await
            .map_err(sql_err)?
            .try_get(0)
            .map_err(sql_err)?;
        let mut q = filtered(COLUMNS, filter);
        q.push(format!(
            " ORDER BY name, id LIMIT {} OFFSET {}",
            page.limit(),
            page.offset()
        ));
        let items = q
            .build()
            .fetch_all(pool)
            .await
            .map_err(sql_err)?
            .iter()
            .map(channel_of)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items,
            total: u64::try_from(total).unwrap_or(0),
            limit: page.limit(),
            offset: page.offset(),
        })
    }

    pub(super) async fn delete(
        pool: &Pool,
        id: Uuid,
        detach: bool,
        at: DateTime<Utc>,
        by: &str,
    ) -> Result<ChannelDeletion> {
        let mut tx = pool.begin().await.map_err(sql_err)?;
        // On PostgreSQL, hold the row so no persona starts using it meanwhile; SQLite
        // writes through one connection, so the transaction alone is enough.
        let lock = if PG {
            "SELECT id FROM channels WHERE id = $1 FOR UPDATE"
        } else {
            "SELECT id FROM channels WHERE id = $1"
        };
        if sqlx::query(lock)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(sql_err)?
            .is_none()
        {
            return Ok(ChannelDeletion::NotFound);
        }
        let users: Vec<Uuid> =
            sqlx::query("SELECT id FROM author_personas WHERE channel_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .map_err(sql_err)?
                .iter()
                .map(|r| r.try_get::<Uuid, _>(0))
                .collect::<std::result::Result<_, _>>()
                .map_err(sql_err)?;
        if !users.is_empty() && !detach {
            return Ok(ChannelDeletion::InUse {
                personas: users.len() as u64,
            });
        }
        for persona in &users {
            sqlx::query(
                "UPDATE author_personas SET channel_id = NULL, version = version + 1, \
                 updated_at = $2 WHERE id = $1",
            )
            .bind(persona)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(sql_err)?;
            sqlx::query(SNAPSHOT)
                .bind(persona)
                .bind(by)
                .execute(&mut *tx)
                .await
                .map_err(sql_err)?;
        }
        sqlx::query("DELETE FROM channels WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(sql_err)?;
        tx.commit().await.map_err(sql_err)?;
        Ok(ChannelDeletion::Deleted {
            detached: users.len() as u64,
        })
    }
}

#[async_trait]
impl ChannelRepository for SqlChannelRepository {
    async fn insert(&self, channel: &Channel) -> Result<()> {
        on_engine!(self.pools, writer, insert(channel))
    }

    async fn get(&self, id: Uuid) -> Result<Option<Channel>> {
        on_engine!(self.pools, reader, get(id))
    }

    async fn list(&self, filter: &ChannelFilter, page: PageRequest) -> Result<Page<Channel>> {
        on_engine!(self.pools, reader, list(filter, page))
    }

    async fn update(&self, channel: &Channel) -> Result<bool> {
        on_engine!(self.pools, writer, update(channel))
    }

    async fn delete(
        &self,
        id: Uuid,
        detach: bool,
        at: DateTime<Utc>,
        by: &str,
    ) -> Result<ChannelDeletion> {
        on_engine!(self.pools, writer, delete(id, detach, at, by))
    }
}
