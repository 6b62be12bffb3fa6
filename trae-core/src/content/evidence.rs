//! Evidence: quotes, statistics, documents and other sources content cites, searchable by
//! full text over topic and content (SQLite FTS5 ranked by bm25, PostgreSQL tsvector ranked
//! by ts_rank; a topic match weighs more than a content match on both).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::channel::EVENT_SOURCE;
use super::{CONTENT_READ, CONTENT_WRITE};
use super::{
    LONG_MAX_CHARS, SHORT_MAX_CHARS, clearing, list, optional_text, score, text, url, wire_enum,
};
use crate::identity::permission::{Authorizer, Gate};
use crate::{Clock, Error, EventBus, Page, PageRequest, Principal, Result};

/// The most words a search may hold.
pub const QUERY_MAX_TERMS: usize = 32;

wire_enum!(
    /// What kind of source a piece of evidence is.
    EvidenceType, "evidence_type", {
        /// Someone's words.
        Quote => "quote",
        /// A number with a source.
        Statistic => "statistic",
        /// An established fact.
        Fact => "fact",
        /// A document.
        Document => "document",
        /// A study or paper.
        Study => "study",
        /// A news report.
        News => "news",
        /// A video.
        Video => "video",
        /// A witness's account.
        Testimony => "testimony",
        /// Anything else.
        Other => "other",
    }
);

/// A stored piece of evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Identifier (UUIDv7).
    pub id: Uuid,
    /// What it is about, 1–200 characters.
    pub topic: String,
    /// The evidence itself.
    pub content: String,
    /// Where it comes from, http or https.
    pub source_url: Option<String>,
    /// Who published it.
    pub source_name: Option<String>,
    /// What kind of source it is.
    pub evidence_type: EvidenceType,
    /// When the source published it.
    pub published_at: Option<DateTime<Utc>>,
    /// How trustworthy the source is, 0–10.
    pub credibility: u8,
    /// How relevant it is to its topic, 0–10.
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

/// The fields of evidence to record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEvidence {
    /// What it is about.
    pub topic: String,
    /// The evidence itself.
    pub content: String,
    /// Where it comes from.
    pub source_url: Option<String>,
    /// Who published it.
    pub source_name: Option<String>,
    /// What kind of source it is (default other).
    pub evidence_type: Option<EvidenceType>,
    /// When the source published it.
    pub published_at: Option<DateTime<Utc>>,
    /// 0–10 (default 5).
    pub credibility: Option<i64>,
    /// 0–10 (default 5).
    pub relevance: Option<i64>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A change to evidence: `None` keeps a field, `clear` empties optional ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidencePatch {
    /// New topic.
    pub topic: Option<String>,
    /// New content.
    pub content: Option<String>,
    /// New source address.
    pub source_url: Option<String>,
    /// New source name.
    pub source_name: Option<String>,
    /// New kind.
    pub evidence_type: Option<EvidenceType>,
    /// New publication time.
    pub published_at: Option<DateTime<Utc>>,
    /// New credibility.
    pub credibility: Option<i64>,
    /// New relevance.
    pub relevance: Option<i64>,
    /// New tags, replacing the old.
    pub tags: Option<Vec<String>>,
    /// Optional fields to empty: source_url, source_name, published_at.
    #[serde(default)]
    pub clear: Vec<String>,
}

/// Which evidence a list returns. Without `q`, newest first; with it, best match first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvidenceFilter {
    /// Full-text search over topic and content: every word must match (stemmed).
    pub q: Option<String>,
    /// Only this kind.
    pub evidence_type: Option<EvidenceType>,
    /// Only evidence carrying this tag.
    pub tag: Option<String>,
    /// Only evidence at least this credible.
    pub min_credibility: Option<u8>,
}

/// Storage of evidence.
#[async_trait]
pub trait EvidenceRepository: Send + Sync + 'static {
    /// Stores new evidence and indexes it for search.
    async fn insert(&self, evidence: &Evidence) -> Result<()>;
    /// Reads one piece of evidence.
    async fn get(&self, id: Uuid) -> Result<Option<Evidence>>;
    /// Which of `ids` exist.
    async fn existing(&self, ids: &[Uuid]) -> Result<Vec<Uuid>>;
    /// Lists evidence matching `filter`; `filter.q` is already reduced to plain words.
    async fn list(&self, filter: &EvidenceFilter, page: PageRequest) -> Result<Page<Evidence>>;
    /// Replaces evidence's fields and its index entry; false when it no longer exists.
    async fn update(&self, evidence: &Evidence) -> Result<bool>;
    /// Deletes evidence (and its links from contradictions); false when it did not exist.
    async fn delete(&self, id: Uuid) -> Result<bool>;
}

/// A search reduced to its words: letters and digits, lowercased, at most
/// [`QUERY_MAX_TERMS`]; `None` when nothing searchable is left. Neither search engine's
/// query syntax reaches the database, so any input is safe.
pub fn search_terms(q: &str) -> Option<String> {
    let terms: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(QUERY_MAX_TERMS)
        .map(str::to_lowercase)
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// The evidence service.
#[derive(Clone)]
pub struct EvidenceLibrary {
    gate: Gate,
    repo: Arc<dyn EvidenceRepository>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventBus>,
}

impl fmt::Debug for EvidenceLibrary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvidenceLibrary").finish_non_exhaustive()
    }
}

impl EvidenceLibrary {
    /// A service over `repo`.
    pub fn new(
        repo: Arc<dyn EvidenceRepository>,
        clock: Arc<dyn Clock>,
        events: Arc<dyn EventBus>,
    ) -> Self {
        Self {
            repo,
            clock,
            gate: Gate::default(),
            events,
        }
    }

    /// The service deciding who may read and change with `authorizer` (by default only the
    /// system may act).
    #[must_use]
    pub fn with_authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.gate = Gate::new(authorizer);
        self
    }

    /// Records evidence.
    pub async fn create(&self, principal: &Principal, input: NewEvidence) -> Result<Evidence> {
        self.gate.check(principal, CONTENT_WRITE).await?;
        let now = self.clock.now_micros();
        let evidence = Evidence {
            id: Uuid::now_v7(),
            topic: text("topic", &input.topic, SHORT_MAX_CHARS, false)?,
            content: text("content", &input.content, LONG_MAX_CHARS, true)?,
            source_url: url("source_url", input.source_url.as_deref())?,
            source_name: optional_text(
                "source_name",
                input.source_name.as_deref(),
                SHORT_MAX_CHARS,
                false,
            )?,
            evidence_type: input.evidence_type.unwrap_or(EvidenceType::Other),
            published_at: input.published_at,
            credibility: score("credibility", input.credibility.unwrap_or(5), 0..=10)?,
            relevance: score("relevance", input.relevance.unwrap_or(5), 0..=10)?,
            tags: list("tags", &input.tags)?,
            created_by: principal.created_by(),
            created_at: now,
            updated_at: now,
        };
        self.repo.insert(&evidence).await?;
        self.publish("evidence.created", &evidence);
        Ok(evidence)
    }

    /// Reads evidence.
    pub async fn get(&self, principal: &Principal, id: Uuid) -> Result<Evidence> {
        self.gate.check(principal, CONTENT_READ).await?;
        self.find(id).await
    }

    /// Reads a record for a caller already authorized.
    async fn find(&self, id: Uuid) -> Result<Evidence> {
        self.repo
            .get(id)
            .await?
            .ok_or_else(|| Error::not_found("evidence", id))
    }

    /// Lists or searches evidence. A search with no words in it is a validation error.
    pub async fn list(
        &self,
        principal: &Principal,
        mut filter: EvidenceFilter,
        page: PageRequest,
    ) -> Result<Page<Evidence>> {
        self.gate.check(principal, CONTENT_READ).await?;
        if let Some(q) = &filter.q {
            filter.q = Some(search_terms(q).ok_or_else(|| {
                Error::validation("q", "must contain at least one letter or digit")
            })?);
        }
        if let Some(c) = filter.min_credibility {
            score("min_credibility", i64::from(c), 0..=10)?;
        }
        self.repo.list(&filter, page).await
    }

    /// Changes the fields named in `patch`.
    pub async fn update(
        &self,
        principal: &Principal,
        id: Uuid,
        patch: EvidencePatch,
    ) -> Result<Evidence> {
        self.gate.check(principal, CONTENT_WRITE).await?;
        let cleared = clearing(&patch.clear, &["source_url", "source_name", "published_at"])?;
        let mut e = self.find(id).await?;
        if let Some(topic) = &patch.topic {
            e.topic = text("topic", topic, SHORT_MAX_CHARS, false)?;
        }
        if let Some(content) = &patch.content {
            e.content = text("content", content, LONG_MAX_CHARS, true)?;
        }
        if patch.source_url.is_some() {
            e.source_url = url("source_url", patch.source_url.as_deref())?;
        }
        if patch.source_name.is_some() {
            e.source_name = optional_text(
                "source_name",
                patch.source_name.as_deref(),
                SHORT_MAX_CHARS,
                false,
            )?;
        }
        if let Some(kind) = patch.evidence_type {
            e.evidence_type = kind;
        }
        if patch.published_at.is_some() {
            e.published_at = patch.published_at;
        }
        if let Some(c) = patch.credibility {
            e.credibility = score("credibility", c, 0..=10)?;
        }
        if let Some(r) = patch.relevance {
            e.relevance = score("relevance", r, 0..=10)?;
        }
        if let Some(tags) = &patch.tags {
            e.tags = list("tags", tags)?;
        }
        if cleared("source_url") {
            e.source_url = None;
        }
        if cleared("source_name") {
            e.source_name = None;
        }
        if cleared("published_at") {
            e.published_at = None;
        }
        e.updated_at = self.clock.now_micros().max(e.created_at);
        if !self.repo.update(&e).await? {
            return Err(Error::not_found("evidence", id));
        }
        self.publish("evidence.updated", &e);
        Ok(e)
    }

    /// Deletes evidence; contradictions citing it lose the link.
    pub async fn delete(&self, principal: &Principal, id: Uuid) -> Result<()> {
        self.gate.check(principal, CONTENT_WRITE).await?;
        if !self.repo.delete(id).await? {
            return Err(Error::not_found("evidence", id));
        }
        self.events.publish(
            EVENT_SOURCE,
            "evidence.deleted",
            serde_json::json!({ "id": id }),
        );
        Ok(())
    }

    fn publish(&self, kind: &str, evidence: &Evidence) {
        let payload = serde_json::json!({
            "id": evidence.id,
            "topic": evidence.topic,
            "evidence_type": evidence.evidence_type,
        });
        self.events.publish(EVENT_SOURCE, kind, payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms_keep_only_words() {
        assert_eq!(search_terms("Tax  hikes!").as_deref(), Some("tax hikes"));
        assert_eq!(
            search_terms(r#""quoted" OR NEAR(x) * -y"#).as_deref(),
            Some("quoted or near x y")
        );
        assert_eq!(search_terms(" -*- "), None);
        let long = "w ".repeat(100);
        assert_eq!(
            search_terms(&long).unwrap().split(' ').count(),
            QUERY_MAX_TERMS
        );
    }
}
