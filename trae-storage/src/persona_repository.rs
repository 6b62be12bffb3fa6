//! [`PersonaRepository`] on SQLite and PostgreSQL, in raw SQL through sqlx. Every write of
//! a persona copies the row, as written, into `persona_versions` in the same transaction
//! ([`SNAPSHOT`]), so the history is exactly the sequence of stored states.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use sqlx::{QueryBuilder, Row};
use trae_core::content::{
    PersonaFilter, PersonaRecord, PersonaRepository, PersonaTraits, PersonaVersion, VocabularyLevel,
};
use trae_core::{Error, Page, PageRequest, Result};
use uuid::Uuid;

use crate::sql_pools::{Pools, on_engine, per_engine};

/// Author personas in the `author_personas` table, their history in `persona_versions`.
#[derive(Debug, Clone)]
pub struct SqlPersonaRepository {
    pools: Pools,
}

impl SqlPersonaRepository {
    /// A repository writing through `writer` and reading through `reader`.
    pub fn new(writer: &DatabaseConnection, reader: &DatabaseConnection) -> Self {
        Self {
            pools: Pools::new(writer, reader),
        }
    }
}

#[allow(clippy::needless_pass_by_value)] // a `map_err` adapter
fn sql_err(err: sqlx::Error) -> Error {
    crate::error::sqlx_error(&err, "persona")
}

/// Copies persona `$1` as it now stands into `persona_versions`, made by `$2`.
pub(crate) const SNAPSHOT: &str = "INSERT INTO persona_versions (persona_id, version, name, \
    is_active, parent_id, description, writing_style, personality_traits, expertise_areas, tone, \
    vocabulary_level, target_audience, channel_id, content_types, changed_at, changed_by) \
    SELECT id, version, name, is_active, parent_id, description, writing_style, \
    personality_traits, expertise_areas, tone, vocabulary_level, target_audience, channel_id, \
    content_types, updated_at, $2 FROM author_personas WHERE id = $1";

const TRAIT_COLUMNS: &str = "description, writing_style, personality_traits, expertise_areas, \
    tone, vocabulary_level, target_audience, channel_id, content_types";

fn list_json(items: Option<&Vec<String>>) -> Option<String> {
    items.map(|v| serde_json::Value::from(v.clone()).to_string())
}

fn list_of(column: &str, text: Option<String>) -> Result<Option<Vec<String>>> {
    text.map(|t| {
        serde_json::from_str(&t)
            .map_err(|e| Error::Storage(format!("stored persona {column}: {e}")))
    })
    .transpose()
}

per_engine! {
    fn traits_of(row: &DbRow) -> Result<PersonaTraits> {
        let level: Option<String> = row.try_get("vocabulary_level").map_err(sql_err)?;
        Ok(PersonaTraits {
            description: row.try_get("description").map_err(sql_err)?,
            writing_style: row.try_get("writing_style").map_err(sql_err)?,
            personality_traits: list_of(
                "personality_traits",
                row.try_get("personality_traits").map_err(sql_err)?,
            )?,
            expertise_areas: list_of(
                "expertise_areas",
                row.try_get("expertise_areas").map_err(sql_err)?,
            )?,
            tone: row.try_get("tone").map_err(sql_err)?,
            vocabulary_level: level
                .map(|l| {
                    l.parse::<VocabularyLevel>().map_err(|_| {
                        Error::Storage(format!("stored vocabulary level {l:?}"))
                    })
                })
                .transpose()?,
            target_audience: row.try_get("target_audience").map_err(sql_err)?,
            channel_id: row.try_get("channel_id").map_err(sql_err)?,
            content_types: list_of(
                "content_types",
                row.try_get("content_types").map_err(sql_err)?,
            )?,
        })
    }

    fn record_of(row: &DbRow) -> Result<PersonaRecord> {
        Ok(PersonaRecord {
            id: row.try_get("id").map_err(sql_err)?,
            name: row.try_get("name").map_err(sql_err)?,
            is_active: row.try_get("is_active").map_err(sql_err)?,
            version: row.try_get("version").map_err(sql_err)?,
            parent_id: row.try_get("parent_id").map_err(sql_err)?,
            traits: traits_of(row)?,
            usage_count: row.try_get("usage_count").map_err(sql_err)?,
            last_used_at: row.try_get("last_used_at").map_err(sql_err)?,
            created_at: row.try_get("created_at").map_err(sql_err)?,
            updated_at: row.try_get("updated_at").map_err(sql_err)?,
        })
    }

    fn version_of(row: &DbRow) -> Result<PersonaVersion> {
        Ok(PersonaVersion {
            persona_id: row.try_get("persona_id").map_err(sql_err)?,
            version: row.try_get("version").map_err(sql_err)?,
            name: row.try_get("name").map_err(sql_err)?,
            is_active: row.try_get("is_active").map_err(sql_err)?,
            parent_id: row.try_get("parent_id").map_err(sql_err)?,
            traits: traits_of(row)?,
            changed_at: row.try_get("changed_at").map_err(sql_err)?,
            changed_by: row.try_get("changed_by").map_err(sql_err)?,
        })
    }

    /// Binds the nine trait columns in [`TRAIT_COLUMNS`] order.
    fn bind_traits<'q>(
        q: sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>,
        t: &PersonaTraits,
    ) -> sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments> {
        q.bind(t.description.clone())
            .bind(t.writing_style.clone())
            .bind(list_json(t.personality_traits.as_ref()))
            .bind(list_json(t.expertise_areas.as_ref()))
            .bind(t.tone.clone())
            .bind(t.vocabulary_level.map(|l| l.as_str()))
            .bind(t.target_audience.clone())
            .bind(t.channel_id)
            .bind(list_json(t.content_types.as_ref()))
    }

    pub(super) async fn insert(pool: &Pool, p: &PersonaRecord, by: &str) -> Result<()> {
        let mut tx = pool.begin().await.map_err(sql_err)?;
        let q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO author_personas (id, name, is_active, version, parent_id, \
             usage_count, last_used_at, created_at, updated_at, {TRAIT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        )))
        .bind(p.id)
        .bind(p.name.as_str())
        .bind(p.is_active)
        .bind(p.version)
        .bind(p.parent_id)
        .bind(p.usage_count)
        .bind(p.last_used_at)
        .bind(p.created_at)
        .bind(p.updated_at);
        bind_traits(q, &p.traits)
            .execute(&mut *tx)
            .await
            .map_err(sql_err)?;
        sqlx::query(SNAPSHOT)
            .bind(p.id)
            .bind(by)
            .execute(&mut *tx)
            .await
            .map_err(sql_err)?;
        tx.commit().await.map_err(sql_err)
    }

    pub(super) async fn update(
        pool: &Pool,
        p: &PersonaRecord,
        expected: i64,
        by: &str,
    ) -> Result<bool> {
        let mut tx = pool.begin().await.map_err(sql_err)?;
        let q = sqlx::query(
            "UPDATE author_personas SET name = $3, is_active = $4, version = $5, \
             parent_id = $6, updated_at = $7, description = $8, writing_style = $9, \
             personality_traits = $10, expertise_areas = $11, tone = $12, \
             vocabulary_level = $13, target_audience = $14, channel_id = $15, \
             content_types = $16 WHERE id = $1 AND version = $2",
        )
        .bind(p.id)
        .bind(expected)
        .bind(p.name.as_str())
        .bind(p.is_active)
        .bind(p.version)
        .bind(p.parent_id)
        .bind(p.updated_at);
        let changed = bind_traits(q, &p.traits)
            .execute(&mut *tx)
            .await
            .map_err(sql_err)?
            .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        sqlx::query(SNAPSHOT)
            .bind(p.id)
            .bind(by)
            .execute(&mut *tx)
            .await
            .map_err(sql_err)?;
        tx.commit().await.map_err(sql_err)?;
        Ok(true)
    }

    pub(super) async fn get(pool: &Pool, id: Uuid) -> Result<Option<PersonaRecord>> {
        sqlx::query("SELECT * FROM author_personas WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(sql_err)?
            .as_ref()
            .map(record_of)
            .transpose()
    }

    fn filtered(select: &str, filter: &PersonaFilter) -> QueryBuilder<Db> {
        let mut q =
            QueryBuilder::new(format!("SELECT {select} FROM author_personas WHERE TRUE"));
        if let Some(channel) = filter.channel_id {
            q.push(" AND channel_id = ").push_bind(channel);
        }
        if let Some(parent) = filter.parent_id {
            q.push(" AND parent_id = ").push_bind(parent);
        }
        if let Some(active) = filter.is_active {
            q.push(" AND is_active = ").push_bind(active);
        }
        q
    }

    pub(super) async fn list(
        pool: &Pool,
        filter: &PersonaFilter,
        page: PageRequest,
    ) -> Result<Page<PersonaRecord>> {
        let total: i64 = filtered("COUNT(*)", filter)
            .build()
            .fetch_one(pool)
            .await
            .map_err(sql_err)?
            .try_get(0)
            .map_err(sql_err)?;
        let mut q = filtered("*", filter);
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
            .map(record_of)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items,
            total: u64::try_from(total).unwrap_or(0),
            limit: page.limit(),
            offset: page.offset(),
        })
    }

    pub(super) async fn delete(pool: &Pool, id: Uuid) -> Result<bool> {
        Ok(sqlx::query("DELETE FROM author_personas WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map_err(sql_err)?
            .rows_affected()
            > 0)
    }

    pub(super) async fn versions(pool: &Pool, id: Uuid) -> Result<Vec<PersonaVersion>> {
        sqlx::query("SELECT * FROM persona_versions WHERE persona_id = $1 ORDER BY version")
            .bind(id)
            .fetch_all(pool)
            .await
            .map_err(sql_err)?
            .iter()
            .map(version_of)
            .collect()
    }

    pub(super) async fn version(
        pool: &Pool,
        id: Uuid,
        version: i64,
    ) -> Result<Option<PersonaVersion>> {
        sqlx::query("SELECT * FROM persona_versions WHERE persona_id = $1 AND version = $2")
            .bind(id)
            .bind(version)
            .fetch_optional(pool)
            .await
            .map_err(sql_err)?
            .as_ref()
            .map(version_of)
            .transpose()
    }

    pub(super) async fn record_use(
        pool: &Pool,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE author_personas SET usage_count = usage_count + 1, \
             last_used_at = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(at)
        .execute(pool)
        .await
        .map_err(sql_err)?
        .rows_affected()
            > 0)
    }
}

#[async_trait]
impl PersonaRepository for SqlPersonaRepository {
    async fn insert(&self, persona: &PersonaRecord, by: &str) -> Result<()> {
        on_engine!(self.pools, writer, insert(persona, by))
    }

    async fn get(&self, id: Uuid) -> Result<Option<PersonaRecord>> {
        // From the writer: an update's optimistic check must see the latest version.
        on_engine!(self.pools, writer, get(id))
    }

    async fn list(&self, filter: &PersonaFilter, page: PageRequest) -> Result<Page<PersonaRecord>> {
        on_engine!(self.pools, reader, list(filter, page))
    }

    async fn update(&self, persona: &PersonaRecord, expected: i64, by: &str) -> Result<bool> {
        on_engine!(self.pools, writer, update(persona, expected, by))
    }

    async fn delete(&self, id: Uuid) -> Result<bool> {
        on_engine!(self.pools, writer, delete(id))
    }

    async fn versions(&self, id: Uuid) -> Result<Vec<PersonaVersion>> {
        on_engine!(self.pools, reader, versions(id))
    }

    async fn version(&self, id: Uuid, version: i64) -> Result<Option<PersonaVersion>> {
        on_engine!(self.pools, reader, version(id, version))
    }

    async fn record_use(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool> {
        on_engine!(self.pools, writer, record_use(id, at))
    }
}
