//! `/api/evidence`: sources content cites, with full-text search (`content:read`,
//! `content:write`).

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use trae_core::PageRequest;
use trae_core::content::{EvidenceFilter, EvidenceLibrary};
use uuid::Uuid;

use super::ApiTags;
use super::content_wire::{Deleted, EvidenceTypeBody, input, output, outputs};
use super::json_body::JsonBody;
use super::page::Page;
use crate::ApiError;
use crate::credentials::Auth;

/// The evidence router.
#[derive(Debug, Clone)]
pub struct EvidenceApi {
    evidence: EvidenceLibrary,
}

impl EvidenceApi {
    /// A router over the evidence service, which decides who may do what.
    pub fn new(evidence: EvidenceLibrary) -> Self {
        Self { evidence }
    }
}

/// A piece of evidence.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Evidence")]
pub struct EvidenceBody {
    /// Identifier.
    pub id: Uuid,
    /// What it is about.
    pub topic: String,
    /// The evidence itself.
    pub content: String,
    /// Where it comes from.
    pub source_url: Option<String>,
    /// Who published it.
    pub source_name: Option<String>,
    /// What kind of source it is.
    pub evidence_type: EvidenceTypeBody,
    /// When the source published it.
    pub published_at: Option<DateTime<Utc>>,
    /// How trustworthy the source is, 0–10.
    pub credibility: u8,
    /// How relevant it is, 0–10.
    pub relevance: u8,
    /// Tags.
    pub tags: Vec<String>,
    /// Who recorded it: `user:<id>`, `api_key:<id>` or `system`.
    pub created_by: String,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Evidence to record.
#[derive(Debug, Clone, Object)]
#[oai(rename = "NewEvidence", deny_unknown_fields)]
pub struct NewEvidenceBody {
    /// What it is about, 1–200 characters.
    pub topic: String,
    /// The evidence itself, up to 20,000 characters.
    pub content: String,
    /// Where it comes from, http or https.
    pub source_url: Option<String>,
    /// Who published it.
    pub source_name: Option<String>,
    /// What kind of source it is (default other).
    pub evidence_type: Option<EvidenceTypeBody>,
    /// When the source published it.
    pub published_at: Option<DateTime<Utc>>,
    /// 0–10 (default 5).
    pub credibility: Option<i64>,
    /// 0–10 (default 5).
    pub relevance: Option<i64>,
    /// Distinct tags.
    #[oai(default)]
    pub tags: Vec<String>,
}

/// Fields to change; absent fields keep their value.
#[derive(Debug, Clone, Object)]
#[oai(rename = "EvidencePatch", deny_unknown_fields)]
pub struct EvidencePatchBody {
    /// New topic.
    pub topic: Option<String>,
    /// New content.
    pub content: Option<String>,
    /// New source address.
    pub source_url: Option<String>,
    /// New source name.
    pub source_name: Option<String>,
    /// New kind.
    pub evidence_type: Option<EvidenceTypeBody>,
    /// New publication time.
    pub published_at: Option<DateTime<Utc>>,
    /// New credibility.
    pub credibility: Option<i64>,
    /// New relevance.
    pub relevance: Option<i64>,
    /// New tags, replacing the old.
    pub tags: Option<Vec<String>>,
    /// Optional fields to empty: source_url, source_name, published_at.
    #[oai(default)]
    pub clear: Vec<String>,
}

/// Recorded evidence.
#[derive(Debug, ApiResponse)]
pub enum Created {
    /// The evidence was recorded.
    #[oai(status = 201)]
    Created(Json<EvidenceBody>, #[oai(header = "Location")] String),
}

#[OpenApi(tag = "ApiTags::Content")]
impl EvidenceApi {
    /// List or search evidence (content:read)
    ///
    /// With `q`, a full-text search over topic and content: every word must match (stemmed,
    /// so "tax" finds "taxes"), best match first, a topic match above a content match
    /// (SQLite FTS5's bm25, PostgreSQL's ts_rank). Without it, newest first. Filter by
    /// `evidence_type`, `tag` and `min_credibility`.
    #[oai(path = "/api/evidence", method = "get", operation_id = "list_evidence")]
    #[allow(clippy::too_many_arguments)] // one per query parameter
    async fn list(
        &self,
        auth: Auth,
        q: Query<Option<String>>,
        evidence_type: Query<Option<EvidenceTypeBody>>,
        tag: Query<Option<String>>,
        min_credibility: Query<Option<u8>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Page<EvidenceBody>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        let filter = EvidenceFilter {
            q: q.0,
            evidence_type: evidence_type.0.map(Into::into),
            tag: tag.0,
            min_credibility: min_credibility.0,
        };
        let page = self.evidence.list(auth.principal(), filter, page).await?;
        Ok(Json(Page {
            items: outputs(&page.items)?,
            total: page.total,
            limit: page.limit,
            offset: page.offset,
        }))
    }

    /// Record evidence (content:write)
    #[oai(
        path = "/api/evidence",
        method = "post",
        operation_id = "create_evidence"
    )]
    async fn create(
        &self,
        auth: Auth,
        body: JsonBody<NewEvidenceBody>,
    ) -> Result<Created, ApiError> {
        let principal = auth.principal();
        let evidence = self.evidence.create(principal, input(&body.0)?).await?;
        let location = format!("/api/evidence/{}", evidence.id);
        Ok(Created::Created(Json(output(&evidence)?), location))
    }

    /// Get a piece of evidence (content:read)
    #[oai(
        path = "/api/evidence/:id",
        method = "get",
        operation_id = "get_evidence"
    )]
    async fn get(&self, auth: Auth, id: Path<Uuid>) -> Result<Json<EvidenceBody>, ApiError> {
        Ok(Json(output(
            &self.evidence.get(auth.principal(), id.0).await?,
        )?))
    }

    /// Change some fields of a piece of evidence (content:write)
    #[oai(
        path = "/api/evidence/:id",
        method = "patch",
        operation_id = "update_evidence"
    )]
    async fn update(
        &self,
        auth: Auth,
        id: Path<Uuid>,
        body: JsonBody<EvidencePatchBody>,
    ) -> Result<Json<EvidenceBody>, ApiError> {
        let principal = auth.principal();
        let evidence = self
            .evidence
            .update(principal, id.0, input(&body.0)?)
            .await?;
        Ok(Json(output(&evidence)?))
    }

    /// Delete a piece of evidence (content:write)
    ///
    /// Contradictions citing it lose the link.
    #[oai(
        path = "/api/evidence/:id",
        method = "delete",
        operation_id = "delete_evidence"
    )]
    async fn delete(&self, auth: Auth, id: Path<Uuid>) -> Result<Deleted, ApiError> {
        let principal = auth.principal();
        self.evidence.delete(principal, id.0).await?;
        Ok(Deleted::Deleted)
    }
}
