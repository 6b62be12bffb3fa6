//! [`ContradictionRepository`] on SQLite and PostgreSQL, in raw SQL through sqlx. Evidence
//! links live in `contradiction_evidence` (deleting evidence removes its links); a status
//! change and its audit entry commit together.

use std::collections::HashMap;

use async_trait::async_trait;
use sea_orm::DatabaseConnection;
use sqlx::{QueryBuilder, Row};
use trae_core::content::{
    Contradiction, ContradictionFilter, ContradictionRepository, SubjectType, VerificationStatus,
};
use trae_core::identity::audit::AuditEntry;
use trae_core::{Error, Page, PageRequest, Result};
use uuid::Uuid;

use crate::sql_pools::{Pools, on_engine, per_engine};

/// Contradiction records in the `contradictions` table.
#[derive(Debug, Clone)]
pub struct SqlContradictionRepository {
    pools: Pools,
}

impl SqlContradictionRepository {
    /// A repository writing through `writer` and reading through `reader`.
    pub fn new(writer: &DatabaseConnection, reader: &DatabaseConnection) -> Self {
        Self {
            pools: Pools::new(writer, reader),
        }
    }
}

#[allow(clippy::needless_pass_by_value)] // a `map_err` adapter
fn sql_err(err: sqlx::Error) -> Error {
    crate::error::sqlx_error(&err, "contradiction")
}

/// A link to missing evidence, said plainly.
fn link_err(err: Error) -> Error {
    match err {
        Error::Conflict(m) if m.starts_with("references a missing record") => {
            Error::validation("evidence", "a linked piece of evidence no longer exists")
        }
        other => other,
    }
}

fn stored<T: std::str::FromStr>(what: &str, value: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| Error::Storage(format!("stored {what} {value:?}")))
}

per_engine! {
    type Tx<'c> = sqlx::Transaction<'c, Db>;

    fn record_of(row: &DbRow) -> Result<Contradiction> {
        let text = |c: &str| row.try_get::<String, _>(c).map_err(sql_err);
        let small = |c: &str| -> Result<u8> {
            let v: i16 = row.try_get(c).map_err(sql_err)?;
            u8::try_from(v).map_err(|_| Error::Storage(format!("stored {c} {v}")))
        };
        let analysis: Option<String> = row.try_get("analysis").map_err(sql_err)?;
        Ok(Contradiction {
            id: row.try_get("id").map_err(sql_err)?,
            subject_name: text("subject_name")?,
            subject_type: stored::<SubjectType>("subject type", &text("subject_type")?)?,
            topic: text("topic")?,
            statement_1: text("statement_1")?,
            statement_2: text("statement_2")?,
            context_1: row.try_get("context_1").map_err(sql_err)?,
            context_2: row.try_get("context_2").map_err(sql_err)?,
            date_1: row.try_get("date_1").map_err(sql_err)?,
            date_2: row.try_get("date_2").map_err(sql_err)?,
            evidence_1: Vec::new(),
            evidence_2: Vec::new(),
            contradiction_type: stored("contradiction type", &text("contradiction_type")?)?,
            severity: small("severity")?,
            confidence: row.try_get("confidence").map_err(sql_err)?,
            verification_status: stored(
                "verification status",
                &text("verification_status")?,
            )?,
            public_impact: small("public_impact")?,
            tags: serde_json::from_str(&text("tags")?)
                .map_err(|e| Error::Storage(format!("stored contradiction tags: {e}")))?,
            content_used: row.try_get("content_used").map_err(sql_err)?,
            time_gap_days: row.try_get("time_gap_days").map_err(sql_err)?,
            reviewed_by: row.try_get("reviewed_by").map_err(sql_err)?,
            reviewed_at: row.try_get("reviewed_at").map_err(sql_err)?,
            review_note: row.try_get("review_note").map_err(sql_err)?,
            analysis: analysis
                .map(|a| {
                    serde_json::from_str(&a).map_err(|e| {
                        Error::Storage(format!("stored contradiction analysis: {e}"))
                    })
                })
                .transpose()?,
            created_by: text("created_by")?,
            created_at: row.try_get("created_at").map_err(sql_err)?,
            updated_at: row.try_get("updated_at").map_err(sql_err)?,
        })
    }

    /// Fills in the evidence links of `records`.
    async fn with_links<'e, E>(executor: E, mut records: Vec<Contradiction>) -> Result<Vec<Contradiction>>
    where
        E: sqlx::Executor<'e, Database = Db>,
    {
        if records.is_empty() {
            return Ok(records);
        }
        let mut q = QueryBuilder::<Db>::new(
            "SELECT contradiction_id, side, evidence_id FROM contradiction_evidence \
             WHERE contradiction_id IN (",
        );
        let mut list = q.separated(", ");
        for r in &records {
            list.push_bind(r.id);
        }
        q.push(") ORDER BY contradiction_id, side, position");
        let mut links: HashMap<Uuid, (Vec<Uuid>, Vec<Uuid>)> = HashMap::new();
        for row in q.build().fetch_all(executor).await.map_err(sql_err)? {
            let id: Uuid = row.try_get(0).map_err(sql_err)?;
            let side: i16 = row.try_get(1).map_err(sql_err)?;
            let evidence: Uuid = row.try_get(2).map_err(sql_err)?;
            let entry = links.entry(id).or_default();
            if side == 1 {
                entry.0.push(evidence);
            } else {
                entry.1.push(evidence);
            }
        }
        for r in &mut records {
            if let Some((one, two)) = links.remove(&r.id) {
                r.evidence_1 = one;
                r.evidence_2 = two;
            }
        }
        Ok(records)
    }

    async fn write_links(tx: &mut Tx<'_>, c: &Contradiction) -> Result<()> {
        sqlx::query("DELETE FROM contradiction_evidence WHERE contradiction_id = $1")
            .bind(c.id)
            .execute(&mut **tx)
            .await
            .map_err(sql_err)?;
        for (side, ids) in [(1_i16, &c.evidence_1), (2, &c.evidence_2)] {
            for (position, evidence) in ids.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO contradiction_evidence \
                     (contradiction_id, side, evidence_id, position) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(c.id)
                .bind(side)
                .bind(*evidence)
                .bind(i32::try_from(position).unwrap_or(i32::MAX))
                .execute(&mut **tx)
                .await
                .map_err(|e| link_err(sql_err(e)))?;
            }
        }
        Ok(())
    }

    async fn append_audit(tx: &mut Tx<'_>, e: &AuditEntry) -> Result<()> {
        let sql = if PG {
            "INSERT INTO audit_log (id, at, actor_kind, actor_id, actor_name, action, \
             target, outcome, ip, request_id, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)"
        } else {
            "INSERT INTO audit_log (id, at, actor_kind, actor_id, actor_name, action, \
             target, outcome, ip, request_id, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        };
        sqlx::query(sql)
            .bind(e.id)
            .bind(e.at)
            .bind(e.actor.kind.as_str())
            .bind(e.actor.id)
            .bind(e.actor.name.clone())
            .bind(e.action.as_str())
            .bind(e.target.clone())
            .bind(e.outcome.as_str())
            .bind(e.ip.clone())
            .bind(e.request_id.clone())
            .bind(e.details.to_string())
            .execute(&mut **tx)
            .await
            .map_err(sql_err)?;
        Ok(())
    }

    fn analysis_json(c: &Contradiction) -> Result<Option<String>> {
        c.analysis
            .as_ref()
            .map(|a| {
                serde_json::to_string(a)
                    .map_err(|e| Error::Storage(format!("contradiction analysis: {e}")))
            })
            .transpose()
    }

    pub(super) async fn insert(pool: &Pool, c: &Contradiction) -> Result<()> {
        let mut tx = pool.begin().await.map_err(sql_err)?;
        sqlx::query(
            "INSERT INTO contradictions (id, subject_name, subject_type, topic, \
             statement_1, statement_2, context_1, context_2, date_1, date_2, \
             contradiction_type, severity, confidence, verification_status, \
             public_impact, tags, content_used, time_gap_days, reviewed_by, reviewed_at, \
             review_note, analysis, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
             $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)",
        )
        .bind(c.id)
        .bind(c.subject_name.as_str())
        .bind(c.subject_type.as_str())
        .bind(c.topic.as_str())
        .bind(c.statement_1.as_str())
        .bind(c.statement_2.as_str())
        .bind(c.context_1.clone())
        .bind(c.context_2.clone())
        .bind(c.date_1)
        .bind(c.date_2)
        .bind(c.contradiction_type.as_str())
        .bind(i16::from(c.severity))
        .bind(c.confidence)
        .bind(c.verification_status.as_str())
        .bind(i16::from(c.public_impact))
        .bind(serde_json::Value::from(c.tags.clone()).to_string())
        .bind(c.content_used)
        .bind(c.time_gap_days)
        .bind(c.reviewed_by.clone())
        .bind(c.reviewed_at)
        .bind(c.review_note.clone())
        .bind(analysis_json(c)?)
        .bind(c.created_by.as_str())
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(sql_err)?;
        write_links(&mut tx, c).await?;
        tx.commit().await.map_err(sql_err)
    }

    pub(super) async fn update(
        pool: &Pool,
        c: &Contradiction,
        status: VerificationStatus,
        audit: Option<&AuditEntry>,
    ) -> Result<bool> {
        let mut tx = pool.begin().await.map_err(sql_err)?;
        let changed = sqlx::query(
            "UPDATE contradictions SET subject_name = $3, subject_type = $4, topic = $5, \
             statement_1 = $6, statement_2 = $7, context_1 = $8, context_2 = $9, \
             date_1 = $10, date_2 = $11, contradiction_type = $12, severity = $13, \
             confidence = $14, verification_status = $15, public_impact = $16, \
             tags = $17, content_used = $18, time_gap_days = $19, reviewed_by = $20, \
             reviewed_at = $21, review_note = $22, analysis = $23, updated_at = $24 \
             WHERE id = $1 AND verification_status = $2",
        )
        .bind(c.id)
        .bind(status.as_str())
        .bind(c.subject_name.as_str())
        .bind(c.subject_type.as_str())
        .bind(c.topic.as_str())
        .bind(c.statement_1.as_str())
        .bind(c.statement_2.as_str())
        .bind(c.context_1.clone())
        .bind(c.context_2.clone())
        .bind(c.date_1)
        .bind(c.date_2)
        .bind(c.contradiction_type.as_str())
        .bind(i16::from(c.severity))
        .bind(c.confidence)
        .bind(c.verification_status.as_str())
        .bind(i16::from(c.public_impact))
        .bind(serde_json::Value::from(c.tags.clone()).to_string())
        .bind(c.content_used)
        .bind(c.time_gap_days)
        .bind(c.reviewed_by.clone())
        .bind(c.reviewed_at)
        .bind(c.review_note.clone())
        .bind(analysis_json(c)?)
        .bind(c.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(sql_err)?
        .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        write_links(&mut tx, c).await?;
        if let Some(entry) = audit {
            append_audit(&mut tx, entry).await?;
        }
        tx.commit().await.map_err(sql_err)?;
        Ok(true)
    }

    pub(super) async fn get(pool: &Pool, id: Uuid) -> Result<Option<Contradiction>> {
        let Some(row) = sqlx::query("SELECT * FROM contradictions WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(sql_err)?
        else {
            return Ok(None);
        };
        Ok(with_links(pool, vec![record_of(&row)?]).await?.pop())
    }

    fn filtered(select: &str, f: &ContradictionFilter) -> QueryBuilder<Db> {
        let mut q = QueryBuilder::new(format!("SELECT {select} FROM contradictions WHERE TRUE"));
        if let Some(v) = &f.subject_name {
            q.push(" AND lower(subject_name) = lower(").push_bind(v.clone()).push(")");
        }
        if let Some(v) = f.subject_type {
            q.push(" AND subject_type = ").push_bind(v.as_str());
        }
        if let Some(v) = &f.topic {
            q.push(" AND lower(topic) = lower(").push_bind(v.clone()).push(")");
        }
        if let Some(v) = f.contradiction_type {
            q.push(" AND contradiction_type = ").push_bind(v.as_str());
        }
        if let Some(v) = f.verification_status {
            q.push(" AND verification_status = ").push_bind(v.as_str());
        }
        if let Some(v) = f.min_severity {
            q.push(" AND severity >= ").push_bind(i16::from(v));
        }
        if let Some(v) = f.content_used {
            q.push(" AND content_used = ").push_bind(v);
        }
        if let Some(tag) = &f.tag {
            if PG {
                q.push(" AND tags::jsonb @> ")
                    .push_bind(serde_json::json!([tag]).to_string())
                    .push("::jsonb");
            } else {
                q.push(" AND EXISTS (SELECT 1 FROM json_each(tags) WHERE json_each.value = ")
                    .push_bind(tag.clone())
                    .push(")");
            }
        }
        q
    }

    async fn page(
        pool: &Pool,
        filter: &ContradictionFilter,
        order: &str,
        page: PageRequest,
    ) -> Result<Page<Contradiction>> {
        let total: i64 = filtered("COUNT(*)", filter)
            .build()
            .fetch_one(pool)
            .await
            .map_err(sql_err)?
            .try_get(0)
            .map_err(sql_err)?;
        let mut q = filtered("*", filter);
        q.push(format!(
            " ORDER BY {order} LIMIT {} OFFSET {}",
            page.limit(),
            page.offset()
        ));
        let records = q
            .build()
            .fetch_all(pool)
            .await
            .map_err(sql_err)?
            .iter()
            .map(record_of)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items: with_links(pool, records).await?,
            total: u64::try_from(total).unwrap_or(0),
            limit: page.limit(),
            offset: page.offset(),
        })
    }

    pub(super) async fn list(
        pool: &Pool,
        filter: &ContradictionFilter,
        p: PageRequest,
    ) -> Result<Page<Contradiction>> {
        page(pool, filter, "created_at DESC, id DESC", p).await
    }

    pub(super) async fn opportunities(
        pool: &Pool,
        p: PageRequest,
    ) -> Result<Page<Contradiction>> {
        let filter = ContradictionFilter {
            verification_status: Some(VerificationStatus::Verified),
            content_used: Some(false),
            ..ContradictionFilter::default()
        };
        page(
            pool,
            &filter,
            "severity * confidence * public_impact DESC, created_at DESC, id DESC",
            p,
        )
        .await
    }

    pub(super) async fn delete(pool: &Pool, id: Uuid) -> Result<bool> {
        Ok(sqlx::query("DELETE FROM contradictions WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map_err(sql_err)?
            .rows_affected()
            > 0)
    }
}

#[async_trait]
impl ContradictionRepository for SqlContradictionRepository {
    async fn insert(&self, record: &Contradiction) -> Result<()> {
        on_engine!(self.pools, writer, insert(record))
    }

    async fn get(&self, id: Uuid) -> Result<Option<Contradiction>> {
        // From the writer: an update reads the status it then conditions on.
        on_engine!(self.pools, writer, get(id))
    }

    async fn list(
        &self,
        filter: &ContradictionFilter,
        page: PageRequest,
    ) -> Result<Page<Contradiction>> {
        on_engine!(self.pools, reader, list(filter, page))
    }

    async fn opportunities(&self, page: PageRequest) -> Result<Page<Contradiction>> {
        on_engine!(self.pools, reader, opportunities(page))
    }

    async fn update(
        &self,
        record: &Contradiction,
        status: VerificationStatus,
        audit: Option<&AuditEntry>,
    ) -> Result<bool> {
        on_engine!(self.pools, writer, update(record, status, audit))
    }

    async fn delete(&self, id: Uuid) -> Result<bool> {
        on_engine!(self.pools, writer, delete(id))
    }
}
