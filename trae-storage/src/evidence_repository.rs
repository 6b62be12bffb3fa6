//! [`EvidenceRepository`] on SQLite and PostgreSQL, in raw SQL through sqlx. Search uses
//! FTS5 ranked by `bm25` (topic weighted twice the content) on SQLite and the weighted
//! `search` tsvector ranked by `ts_rank` on PostgreSQL; ties go to the newest.

use async_trait::async_trait;
use sea_orm::DatabaseConnection;
use sqlx::{QueryBuilder, Row};
use trae_core::content::{Evidence, EvidenceFilter, EvidenceRepository, EvidenceType};
use trae_core::{Error, Page, PageRequest, Result};
use uuid::Uuid;

use crate::sql_pools::{Pools, on_engine, per_engine};

/// Evidence in the `evidence` table and its search index.
#[derive(Debug, Clone)]
pub struct SqlEvidenceRepository {
    pools: Pools,
}

impl SqlEvidenceRepository {
    /// A repository writing through `writer` and reading through `reader`.
    pub fn new(writer: &DatabaseConnection, reader: &DatabaseConnection) -> Self {
        Self {
            pools: Pools::new(writer, reader),
        }
    }
}

#[allow(clippy::needless_pass_by_value)] // a `map_err` adapter
fn sql_err(err: sqlx::Error) -> Error {
    crate::error::sqlx_error(&err, "evidence")
}

const COLUMNS: &str = "e.id, e.topic, e.content, e.source_url, e.source_name, e.evidence_type, \
    e.published_at, e.credibility, e.relevance, e.tags, e.created_by, e.created_at, e.updated_at";

/// An FTS5 query matching every word: each quoted, so none is read as an operator.
fn fts5_query(terms: &str) -> String {
    terms
        .split(' ')
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(" ")
}

per_engine! {
    fn evidence_of(row: &DbRow) -> Result<Evidence> {
        let kind: String = row.try_get("evidence_type").map_err(sql_err)?;
        let tags: String = row.try_get("tags").map_err(sql_err)?;
        let small = |col: &str| -> Result<u8> {
            let v: i16 = row.try_get(col).map_err(sql_err)?;
            u8::try_from(v).map_err(|_| Error::Storage(format!("stored {col} {v}")))
        };
        Ok(Evidence {
            id: row.try_get("id").map_err(sql_err)?,
            topic: row.try_get("topic").map_err(sql_err)?,
            content: row.try_get("content").map_err(sql_err)?,
            source_url: row.try_get("source_url").map_err(sql_err)?,
            source_name: row.try_get("source_name").map_err(sql_err)?,
            evidence_type: kind
                .parse::<EvidenceType>()
                .map_err(|_| Error::Storage(format!("stored evidence type {kind:?}")))?,
            published_at: row.try_get("published_at").map_err(sql_err)?,
            credibility: small("credibility")?,
            relevance: small("relevance")?,
            tags: serde_json::from_str(&tags)
                .map_err(|e| Error::Storage(format!("stored evidence tags: {e}")))?,
            created_by: row.try_get("created_by").map_err(sql_err)?,
            created_at: row.try_get("created_at").map_err(sql_err)?,
            updated_at: row.try_get("updated_at").map_err(sql_err)?,
        })
    }

    pub(super) async fn insert(pool: &Pool, e: &Evidence) -> Result<()> {
        sqlx::query(
            "INSERT INTO evidence (id, topic, content, source_url, source_name, \
             evidence_type, published_at, credibility, relevance, tags, created_by, \
             created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(e.id)
        .bind(e.topic.as_str())
        .bind(e.content.as_str())
        .bind(e.source_url.as_deref())
        .bind(e.source_name.as_deref())
        .bind(e.evidence_type.as_str())
        .bind(e.published_at)
        .bind(i16::from(e.credibility))
        .bind(i16::from(e.relevance))
        .bind(serde_json::Value::from(e.tags.clone()).to_string())
        .bind(e.created_by.as_str())
        .bind(e.created_at)
        .bind(e.updated_at)
        .execute(pool)
        .await
        .map_err(sql_err)?;
        Ok(())
    }

    pub(super) async fn update(pool: &Pool, e: &Evidence) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE evidence SET topic = $2, content = $3, source_url = $4, \
             source_name = $5, evidence_type = $6, published_at = $7, credibility = $8, \
             relevance = $9, tags = $10, updated_at = $11 WHERE id = $1",
        )
        .bind(e.id)
        .bind(e.topic.as_str())
        .bind(e.content.as_str())
        .bind(e.source_url.as_deref())
        .bind(e.source_name.as_deref())
        .bind(e.evidence_type.as_str())
        .bind(e.published_at)
        .bind(i16::from(e.credibility))
        .bind(i16::from(e.relevance))
        .bind(serde_json::Value::from(e.tags.clone()).to_string())
        .bind(e.updated_at)
        .execute(pool)
        .await
        .map_err(sql_err)?
        .rows_affected()
            > 0)
    }

    pub(super) async fn get(pool: &Pool, id: Uuid) -> Result<Option<Evidence>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM evidence e WHERE e.id = $1"
        )))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(sql_err)?
        .as_ref()
        .map(evidence_of)
        .transpose()
    }

    pub(super) async fn existing(pool: &Pool, ids: &[Uuid]) -> Result<Vec<Uuid>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<Db>::new("SELECT id FROM evidence WHERE id IN (");
        let mut list = q.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        q.push(")");
        q.build()
            .fetch_all(pool)
            .await
            .map_err(sql_err)?
            .iter()
            .map(|r| r.try_get::<Uuid, _>(0).map_err(sql_err))
            .collect()
    }

    fn filtered(select: &str, filter: &EvidenceFilter) -> QueryBuilder<Db> {
        let mut q = QueryBuilder::new(format!("SELECT {select} FROM evidence e"));
        match &filter.q {
            Some(terms) if PG => {
                q.push(" WHERE e.search @@ plainto_tsquery('english', ")
                    .push_bind(terms.clone())
                    .push(")");
            }
            Some(terms) => {
                q.push(
                    " JOIN evidence_fts ON evidence_fts.rowid = e.seq \
                     WHERE evidence_fts MATCH ",
                )
                .push_bind(fts5_query(terms));
            }
            None => {
                q.push(" WHERE TRUE");
            }
        }
        if let Some(kind) = filter.evidence_type {
            q.push(" AND e.evidence_type = ").push_bind(kind.as_str());
        }
        if let Some(min) = filter.min_credibility {
            q.push(" AND e.credibility >= ").push_bind(i16::from(min));
        }
        if let Some(tag) = &filter.tag {
            if PG {
                q.push(" AND e.tags::jsonb @> ")
                    .push_bind(serde_json::json!([tag]).to_string())
                    .push("::jsonb");
            } else {
                q.push(" AND EXISTS (SELECT 1 FROM json_each(e.tags) WHERE json_each.value = ")
                    .push_bind(tag.clone())
                    .push(")");
            }
        }
        q
    }

    pub(super) async fn list(
        pool: &Pool,
        filter: &EvidenceFilter,
        page: PageRequest,
    ) -> Result<Page<Evidence>> {
        let total: i64 = filtered("COUNT(*)", filter)
            .build()
            .fetch_one(pool)
            .await
            .map_err(sql_err)?
            .try_get(0)
            .map_err(sql_err)?;
        let mut q = filtered(COLUMNS, filter);
        match &filter.q {
            Some(terms) if PG => {
                q.push(" ORDER BY ts_rank(e.search, plainto_tsquery('english', ")
                    .push_bind(terms.clone())
                    .push(")) DESC,");
            }
            // bm25 is lower for a better match; the topic column weighs double.
            Some(_) => {
                q.push(" ORDER BY bm25(evidence_fts, 2.0, 1.0),");
            }
            None => {
                q.push(" ORDER BY");
            }
        }
        q.push(format!(
            " e.created_at DESC, e.id DESC LIMIT {} OFFSET {}",
            page.limit(),
            page.offset()
        ));
        let items = q
            .build()
            .fetch_all(pool)
            .await
            .map_err(sql_err)?
            .iter()
            .map(evidence_of)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items,
            total: u64::try_from(total).unwrap_or(0),
            limit: page.limit(),
            offset: page.offset(),
        })
    }

    pub(super) async fn delete(pool: &Pool, id: Uuid) -> Result<bool> {
        Ok(sqlx::query("DELETE FROM evidence WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map_err(sql_err)?
            .rows_affected()
            > 0)
    }
}

#[async_trait]
impl EvidenceRepository for SqlEvidenceRepository {
    async fn insert(&self, evidence: &Evidence) -> Result<()> {
        on_engine!(self.pools, writer, insert(evidence))
    }

    async fn get(&self, id: Uuid) -> Result<Option<Evidence>> {
        on_engine!(self.pools, reader, get(id))
    }

    async fn existing(&self, ids: &[Uuid]) -> Result<Vec<Uuid>> {
        on_engine!(self.pools, reader, existing(ids))
    }

    async fn list(&self, filter: &EvidenceFilter, page: PageRequest) -> Result<Page<Evidence>> {
        on_engine!(self.pools, reader, list(filter, page))
    }

    async fn update(&self, evidence: &Evidence) -> Result<bool> {
        on_engine!(self.pools, writer, update(evidence))
    }

    async fn delete(&self, id: Uuid) -> Result<bool> {
        on_engine!(self.pools, writer, delete(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts5_queries_quote_every_term() {
        assert_eq!(fts5_query("tax or near"), r#""tax" "or" "near""#);
    }
}
