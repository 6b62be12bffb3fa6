//! The contradiction tracker (the map's "hypocrisy tracker"): records of a subject saying two
//! things that conflict, with the evidence for each side, a verification workflow and a
//! ranking of verified, unused records as content opportunities.
//!
//! Verification is a workflow, not a field: a record is created `pending`; only a principal
//! holding `content:review` moves it to another status, always with a note, and each move is
//! written to the audit log in the same transaction as the change. Editing a record's
//! statements, dates or subject after review sends it back to `pending`, since the review
//! no longer covers what it says.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::channel::EVENT_SOURCE;
use super::{CONTENT_READ, CONTENT_WRITE};
use super::{
    EvidenceRepository, LONG_MAX_CHARS, SHORT_MAX_CHARS, clearing, list, optional_text, score,
    text, wire_enum,
};
use crate::content::contradiction::{self, Analysis, ContradictionType, Cue};
use crate::identity::audit::{AuditEntry, AuditLog, Outcome, RequestMeta};
use crate::identity::permission::{Authorizer, Gate};
use crate::{Clock, Error, EventBus, Page, PageRequest, Principal, Result};

/// The permission that moves a record's verification status.
pub const REVIEW: &str = "content:review";
/// The longest review note, in characters.
pub const NOTE_MAX_CHARS: usize = 2_000;
/// The most evidence links on one side of a record.
pub const EVIDENCE_MAX: usize = 50;

wire_enum!(
    /// Who made the statements.
    SubjectType, "subject_type", {
        /// A private person.
        Person => "person",
        /// A company or institution.
        Organization => "organization",
        /// A newspaper, magazine or site.
        Publication => "publication",
        /// An elected or appointed official.
        Politician => "politician",
        /// A public figure.
        Celebrity => "celebrity",
        /// A social-media personality.
        Influencer => "influencer",
    }
);

wire_enum!(
    /// Where a record stands in review.
    VerificationStatus, "status", {
        /// Not reviewed yet.
        Pending => "pending",
        /// A reviewer confirmed it.
        Verified => "verified",
        /// A reviewer found it contested.
        Disputed => "disputed",
        /// A reviewer found it false.
        Debunked => "debunked",
    }
);

/// What the engine said about a stored record when last asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAnalysis {
    /// The engine's score, 0–100.
    pub score: u8,
    /// none, low, moderate or high.
    pub label: String,
    /// The type the engine suggests, when it found a contradiction.
    pub suggested_type: Option<ContradictionType>,
    /// The cue that fired.
    pub cue: Option<Cue>,
    /// The engine's confidence, 0–1 (0 when it found nothing).
    pub confidence: f64,
    /// Why, in a sentence.
    pub explanation: Option<String>,
    /// When the analysis ran.
    pub analyzed_at: DateTime<Utc>,
}

/// A stored contradiction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contradiction {
    /// Identifier (UUIDv7).
    pub id: Uuid,
    /// Who made the statements.
    pub subject_name: String,
    /// What kind of subject.
    pub subject_type: SubjectType,
    /// What the statements are about.
    pub topic: String,
    /// The earlier (or first) statement.
    pub statement_1: String,
    /// The conflicting statement.
    pub statement_2: String,
    /// Where and to whom the first was said.
    pub context_1: Option<String>,
    /// Where and to whom the second was said.
    pub context_2: Option<String>,
    /// When the first was said.
    pub date_1: Option<NaiveDate>,
    /// When the second was said.
    pub date_2: Option<NaiveDate>,
    /// Evidence for the first statement.
    pub evidence_1: Vec<Uuid>,
    /// Evidence for the second statement.
    pub evidence_2: Vec<Uuid>,
    /// How the statements conflict.
    pub contradiction_type: ContradictionType,
    /// How serious, 1–10.
    pub severity: u8,
    /// How sure, 0–1.
    pub confidence: f64,
    /// Where it stands in review.
    pub verification_status: VerificationStatus,
    /// How much the public would care, 1–10.
    pub public_impact: u8,
    /// Tags.
    pub tags: Vec<String>,
    /// Whether content has been made from it.
    pub content_used: bool,
    /// Days between the two dates, when both are known.
    pub time_gap_days: Option<i64>,
    /// Who last moved its verification status.
    pub reviewed_by: Option<String>,
    /// When.
    pub reviewed_at: Option<DateTime<Utc>>,
    /// The reviewer's note.
    pub review_note: Option<String>,
    /// The engine's last analysis.
    pub analysis: Option<StoredAnalysis>,
    /// Who recorded it.
    pub created_by: String,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Contradiction {
    /// severity × confidence × public impact: how good a content opportunity it is (0–100).
    pub fn opportunity_score(&self) -> f64 {
        f64::from(self.severity) * self.confidence * f64::from(self.public_impact)
    }
}

/// The fields of a contradiction to record. It starts `pending`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewContradiction {
    /// Who made the statements.
    pub subject_name: String,
    /// What kind of subject (default person).
    pub subject_type: Option<SubjectType>,
    /// What the statements are about.
    pub topic: String,
    /// The first statement.
    pub statement_1: String,
    /// The conflicting statement.
    pub statement_2: String,
    /// Context of the first.
    pub context_1: Option<String>,
    /// Context of the second.
    pub context_2: Option<String>,
    /// Date of the first (YYYY-MM-DD).
    pub date_1: Option<NaiveDate>,
    /// Date of the second.
    pub date_2: Option<NaiveDate>,
    /// Evidence ids for the first.
    #[serde(default)]
    pub evidence_1: Vec<Uuid>,
    /// Evidence ids for the second.
    #[serde(default)]
    pub evidence_2: Vec<Uuid>,
    /// How they conflict (default direct).
    pub contradiction_type: Option<ContradictionType>,
    /// 1–10 (default 5).
    pub severity: Option<i64>,
    /// 0–1 (default 0.5).
    pub confidence: Option<f64>,
    /// 1–10 (default 5).
    pub public_impact: Option<i64>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A change to a record: `None` keeps a field, `clear` empties optional ones. The
/// verification status changes only through [`Contradictions::verify`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContradictionPatch {
    /// New subject.
    pub subject_name: Option<String>,
    /// New subject type.
    pub subject_type: Option<SubjectType>,
    /// New topic.
    pub topic: Option<String>,
    /// New first statement.
    pub statement_1: Option<String>,
    /// New second statement.
    pub statement_2: Option<String>,
    /// New first context.
    pub context_1: Option<String>,
    /// New second context.
    pub context_2: Option<String>,
    /// New first date.
    pub date_1: Option<NaiveDate>,
    /// New second date.
    pub date_2: Option<NaiveDate>,
    /// New evidence for the first, replacing the old.
    pub evidence_1: Option<Vec<Uuid>>,
    /// New evidence for the second.
    pub evidence_2: Option<Vec<Uuid>>,
    /// New type.
    pub contradiction_type: Option<ContradictionType>,
    /// New severity.
    pub severity: Option<i64>,
    /// New confidence.
    pub confidence: Option<f64>,
    /// New impact.
    pub public_impact: Option<i64>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// Mark content as made from it (or not).
    pub content_used: Option<bool>,
    /// Optional fields to empty: context_1, context_2, date_1, date_2.
    #[serde(default)]
    pub clear: Vec<String>,
}

/// A reviewer's decision.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    /// The new status.
    pub status: VerificationStatus,
    /// Why, 1–2,000 characters.
    pub note: String,
}

/// Which records a list returns (newest first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContradictionFilter {
    /// Only this subject (exact, case-insensitive).
    pub subject_name: Option<String>,
    /// Only this kind of subject.
    pub subject_type: Option<SubjectType>,
    /// Only this topic (exact, case-insensitive).
    pub topic: Option<String>,
    /// Only this type.
    pub contradiction_type: Option<ContradictionType>,
    /// Only this status.
    pub verification_status: Option<VerificationStatus>,
    /// Only at least this severe.
    pub min_severity: Option<u8>,
    /// Only used (true) or unused (false) records.
    pub content_used: Option<bool>,
    /// Only records carrying this tag.
    pub tag: Option<String>,
}

/// A verified, unused record and how good an opportunity it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Opportunity {
    /// severity × confidence × public impact.
    pub score: f64,
    /// The record.
    pub contradiction: Contradiction,
}

/// Storage of contradiction records.
#[async_trait]
pub trait ContradictionRepository: Send + Sync + 'static {
    /// Stores a new record with its evidence links.
    async fn insert(&self, record: &Contradiction) -> Result<()>;
    /// Reads one record.
    async fn get(&self, id: Uuid) -> Result<Option<Contradiction>>;
    /// Lists records matching `filter`, newest first.
    async fn list(
        &self,
        filter: &ContradictionFilter,
        page: PageRequest,
    ) -> Result<Page<Contradiction>>;
    /// Verified, unused records by severity × confidence × impact, then newest first.
    async fn opportunities(&self, page: PageRequest) -> Result<Page<Contradiction>>;
    /// Replaces a record's fields and links if its status is still `status`, appending
    /// `audit` (when given) in the same transaction; false otherwise or when it is gone.
    async fn update(
        &self,
        record: &Contradiction,
        status: VerificationStatus,
        audit: Option<&AuditEntry>,
    ) -> Result<bool>;
    /// Deletes a record; false when it did not exist.
    async fn delete(&self, id: Uuid) -> Result<bool>;
}

/// The contradiction tracker service.
#[derive(Clone)]
pub struct Contradictions {
    repo: Arc<dyn ContradictionRepository>,
    evidence: Arc<dyn EvidenceRepository>,
    audit: AuditLog,
    gate: Gate,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventBus>,
}

impl fmt::Debug for Contradictions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Contradictions").finish_non_exhaustive()
    }
}

/// Days from `a` to `b`, unsigned, when both are known.
pub fn time_gap_days(a: Option<NaiveDate>, b: Option<NaiveDate>) -> Option<i64> {
    Some((b? - a?).num_days().abs())
}

fn confidence(value: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(Error::validation(
            "confidence",
            format!("must be between 0 and 1, got {value}"),
        ))
    }
}

fn evidence_ids(field: &str, ids: &[Uuid]) -> Result<Vec<Uuid>> {
    if ids.len() > EVIDENCE_MAX {
        return Err(Error::validation(
            field,
            format!("at most {EVIDENCE_MAX} links, got {}", ids.len()),
        ));
    }
    let mut clean = Vec::with_capacity(ids.len());
    for id in ids {
        if !clean.contains(id) {
            clean.push(*id);
        }
    }
    Ok(clean)
}

fn statement(field: &str, value: &str) -> Result<String> {
    text(field, value, LONG_MAX_CHARS, true)
}

impl Contradictions {
    /// A service over `repo`, checking evidence links in `evidence`, recording verification
    /// in `audit`. Only the system principal may review until [`with_authorizer`] names an
    /// authority.
    ///
    /// [`with_authorizer`]: Self::with_authorizer
    pub fn new(
        repo: Arc<dyn ContradictionRepository>,
        evidence: Arc<dyn EvidenceRepository>,
        audit: AuditLog,
        clock: Arc<dyn Clock>,
        events: Arc<dyn EventBus>,
    ) -> Self {
        Self {
            repo,
            evidence,
            audit,
            gate: Gate::default(),
            clock,
            events,
        }
    }

    /// Runs the contradiction engine on a text or two statements for a caller holding
    /// `content:read`, off the async threads (a long text compares many pairs).
    pub async fn analyze_request(
        &self,
        principal: &Principal,
        request: contradiction::AnalysisRequest,
    ) -> Result<Analysis> {
        self.gate.check(principal, CONTENT_READ).await?;
        tokio::task::spawn_blocking(move || request.run())
            .await
            .map_err(|e| Error::Unavailable(format!("the analysis stopped: {e}")))?
    }

    /// This service, deciding who may read, change and review with `authorizer`.
    #[must_use]
    pub fn with_authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.gate = Gate::new(authorizer);
        self
    }

    /// Records a contradiction, `pending`.
    pub async fn create(
        &self,
        principal: &Principal,
        input: NewContradiction,
    ) -> Result<Contradiction> {
        self.gate.check(principal, CONTENT_WRITE).await?;
        let now = self.clock.now_micros();
        let record = Contradiction {
            id: Uuid::now_v7(),
            subject_name: text("subject_name", &input.subject_name, SHORT_MAX_CHARS, false)?,
            subject_type: input.subject_type.unwrap_or(SubjectType::Person),
            topic: text("topic", &input.topic, SHORT_MAX_CHARS, false)?,
            statement_1: statement("statement_1", &input.statement_1)?,
            statement_2: statement("statement_2", &input.statement_2)?,
            context_1: optional_text(
                "context_1",
                input.context_1.as_deref(),
                LONG_MAX_CHARS,
                true,
            )?,
            context_2: optional_text(
                "context_2",
                input.context_2.as_deref(),
                LONG_MAX_CHARS,
                true,
            )?,
            date_1: input.date_1,
            date_2: input.date_2,
            evidence_1: evidence_ids("evidence_1", &input.evidence_1)?,
            evidence_2: evidence_ids("evidence_2", &input.evidence_2)?,
            contradiction_type: input
                .contradiction_type
                .unwrap_or(ContradictionType::Direct),
            severity: score("severity", input.severity.unwrap_or(5), 1..=10)?,
            confidence: confidence(input.confidence.unwrap_or(0.5))?,
            verification_status: VerificationStatus::Pending,
            public_impact: score("public_impact", input.public_impact.unwrap_or(5), 1..=10)?,
            tags: list("tags", &input.tags)?,
            content_used: false,
            time_gap_days: time_gap_days(input.date_1, input.date_2),
            reviewed_by: None,
            reviewed_at: None,
            review_note: None,
            analysis: None,
            created_by: principal.created_by(),
            created_at: now,
            updated_at: now,
        };
        self.check_evidence(&record).await?;
        self.repo.insert(&record).await?;
        self.publish("contradiction.created", &record);
        Ok(record)
    }

    /// Reads a record.
    pub async fn get(&self, principal: &Principal, id: Uuid) -> Result<Contradiction> {
        self.gate.check(principal, CONTENT_READ).await?;
        self.find(id).await
    }

    /// Reads a record for a caller already authorized.
    async fn find(&self, id: Uuid) -> Result<Contradiction> {
        self.repo
            .get(id)
            .await?
            .ok_or_else(|| Error::not_found("contradiction", id))
    }

    /// Lists records, newest first.
    pub async fn list(
        &self,
        principal: &Principal,
        filter: ContradictionFilter,
        page: PageRequest,
    ) -> Result<Page<Contradiction>> {
        self.gate.check(principal, CONTENT_READ).await?;
        if let Some(s) = filter.min_severity {
            score("min_severity", i64::from(s), 1..=10)?;
        }
        self.repo.list(&filter, page).await
    }

    /// Verified records not yet used for content, best opportunity first.
    pub async fn opportunities(
        &self,
        principal: &Principal,
        page: PageRequest,
    ) -> Result<Page<Opportunity>> {
        self.gate.check(principal, CONTENT_READ).await?;
        Ok(self.repo.opportunities(page).await?.map(|c| Opportunity {
            score: c.opportunity_score(),
            contradiction: c,
        }))
    }

    /// Changes the fields named in `patch`. Changing what was said, when, or by whom sends a
    /// reviewed record back to `pending` (audited as `contradiction.review_reset`).
    pub async fn update(
        &self,
        principal: &Principal,
        id: Uuid,
        patch: ContradictionPatch,
        meta: &RequestMeta,
    ) -> Result<Contradiction> {
        self.gate.check(principal, CONTENT_WRITE).await?;
        let cleared = clearing(
            &patch.clear,
            &["context_1", "context_2", "date_1", "date_2"],
        )?;
        let old = self.find(id).await?;
        let mut c = old.clone();
        if let Some(v) = &patch.subject_name {
            c.subject_name = text("subject_name", v, SHORT_MAX_CHARS, false)?;
        }
        if let Some(v) = patch.subject_type {
            c.subject_type = v;
        }
        if let Some(v) = &patch.topic {
            c.topic = text("topic", v, SHORT_MAX_CHARS, false)?;
        }
        if let Some(v) = &patch.statement_1 {
            c.statement_1 = statement("statement_1", v)?;
        }
        if let Some(v) = &patch.statement_2 {
            c.statement_2 = statement("statement_2", v)?;
        }
        if patch.context_1.is_some() {
            c.context_1 = optional_text(
                "context_1",
                patch.context_1.as_deref(),
                LONG_MAX_CHARS,
                true,
            )?;
        }
        if patch.context_2.is_some() {
            c.context_2 = optional_text(
                "context_2",
                patch.context_2.as_deref(),
                LONG_MAX_CHARS,
                true,
            )?;
        }
        if patch.date_1.is_some() {
            c.date_1 = patch.date_1;
        }
        if patch.date_2.is_some() {
            c.date_2 = patch.date_2;
        }
        for (field, slot) in [
            ("context_1", &mut c.context_1),
            ("context_2", &mut c.context_2),
        ] {
            if cleared(field) {
                *slot = None;
            }
        }
        for (field, slot) in [("date_1", &mut c.date_1), ("date_2", &mut c.date_2)] {
            if cleared(field) {
                *slot = None;
            }
        }
        if let Some(v) = &patch.evidence_1 {
            c.evidence_1 = evidence_ids("evidence_1", v)?;
        }
        if let Some(v) = &patch.evidence_2 {
            c.evidence_2 = evidence_ids("evidence_2", v)?;
        }
        if let Some(v) = patch.contradiction_type {
            c.contradiction_type = v;
        }
        if let Some(v) = patch.severity {
            c.severity = score("severity", v, 1..=10)?;
        }
        if let Some(v) = patch.confidence {
            c.confidence = confidence(v)?;
        }
        if let Some(v) = patch.public_impact {
            c.public_impact = score("public_impact", v, 1..=10)?;
        }
        if let Some(v) = &patch.tags {
            c.tags = list("tags", v)?;
        }
        if let Some(v) = patch.content_used {
            c.content_used = v;
        }
        c.time_gap_days = time_gap_days(c.date_1, c.date_2);
        if c == old {
            return Ok(old);
        }
        self.check_evidence(&c).await?;
        let restated = c.subject_name != old.subject_name
            || c.statement_1 != old.statement_1
            || c.statement_2 != old.statement_2
            || c.date_1 != old.date_1
            || c.date_2 != old.date_2;
        let audit = if restated && old.verification_status != VerificationStatus::Pending {
            c.verification_status = VerificationStatus::Pending;
            c.reviewed_by = None;
            c.reviewed_at = None;
            c.review_note = None;
            Some(self.audit.prepare(meta.audit_entry(
                principal.actor(),
                "contradiction.review_reset",
                Some(format!("contradiction:{id}")),
                Outcome::Success,
                serde_json::json!({ "from": old.verification_status, "to": "pending" }),
            ))?)
        } else {
            None
        };
        c.updated_at = self.clock.now_micros().max(c.created_at);
        self.store(&c, old.verification_status, audit.as_ref())
            .await?;
        if let Some(entry) = &audit {
            self.audit.announce(entry);
        }
        self.publish("contradiction.updated", &c);
        Ok(c)
    }

    /// Moves a record to `decision.status` with a note. Needs `content:review`; every move,
    /// and every refused attempt, is audited.
    pub async fn verify(
        &self,
        principal: &Principal,
        id: Uuid,
        decision: Verification,
        meta: &RequestMeta,
    ) -> Result<Contradiction> {
        let target = Some(format!("contradiction:{id}"));
        if let Err(denied) = self.gate.check(principal, REVIEW).await {
            self.audit
                .record(meta.audit_entry(
                    principal.actor(),
                    "contradiction.verify",
                    target,
                    Outcome::Denied,
                    serde_json::json!({ "to": decision.status }),
                ))
                .await?;
            return Err(denied);
        }
        let note = text("note", &decision.note, NOTE_MAX_CHARS, true)?;
        let old = self.find(id).await?;
        if old.verification_status == decision.status {
            return Err(Error::Conflict(format!(
                "the contradiction is already {}",
                decision.status
            )));
        }
        let now = self.clock.now_micros();
        let mut c = old.clone();
        c.verification_status = decision.status;
        c.reviewed_by = Some(principal.created_by());
        c.reviewed_at = Some(now);
        c.review_note = Some(note.clone());
        c.updated_at = now.max(c.created_at);
        let audit = self.audit.prepare(meta.audit_entry(
            principal.actor(),
            "contradiction.verify",
            target,
            Outcome::Success,
            serde_json::json!({
                "from": old.verification_status,
                "to": decision.status,
                "note": note,
            }),
        ))?;
        self.store(&c, old.verification_status, Some(&audit))
            .await?;
        self.audit.announce(&audit);
        self.publish("contradiction.verified", &c);
        Ok(c)
    }

    /// Runs the contradiction engine over the record's two statements and stores what it
    /// found: the analysis, and its confidence as the record's confidence. The type the
    /// record carries is left to people; the engine's is kept as a suggestion.
    pub async fn analyze(
        &self,
        principal: &Principal,
        id: Uuid,
    ) -> Result<(Contradiction, Analysis)> {
        self.gate.check(principal, CONTENT_WRITE).await?;
        let old = self.find(id).await?;
        // Two statements compare in microseconds: no need to leave the async thread.
        let analysis = contradiction::compare_statements(&old.statement_1, &old.statement_2);
        let top = analysis.contradictions.first();
        let now = self.clock.now_micros();
        let mut c = old.clone();
        c.analysis = Some(StoredAnalysis {
            score: analysis.score,
            label: analysis.label.to_owned(),
            suggested_type: top.map(|f| f.kind),
            cue: top.map(|f| f.cue),
            confidence: top.map_or(0.0, |f| f.confidence),
            explanation: top.map(|f| f.explanation.clone()),
            analyzed_at: now,
        });
        c.confidence = top.map_or(0.0, |f| f.confidence);
        c.updated_at = now.max(c.created_at);
        self.store(&c, old.verification_status, None).await?;
        self.publish("contradiction.analyzed", &c);
        Ok((c, analysis))
    }

    /// Deletes a record.
    pub async fn delete(&self, principal: &Principal, id: Uuid) -> Result<()> {
        self.gate.check(principal, CONTENT_WRITE).await?;
        if !self.repo.delete(id).await? {
            return Err(Error::not_found("contradiction", id));
        }
        self.events.publish(
            EVENT_SOURCE,
            "contradiction.deleted",
            serde_json::json!({ "id": id }),
        );
        Ok(())
    }

    async fn store(
        &self,
        c: &Contradiction,
        status: VerificationStatus,
        audit: Option<&AuditEntry>,
    ) -> Result<()> {
        if self.repo.update(c, status, audit).await? {
            return Ok(());
        }
        match self.repo.get(c.id).await? {
            None => Err(Error::not_found("contradiction", c.id)),
            Some(_) => Err(Error::Conflict(
                "the contradiction was reviewed while this change was made; read it and try \
                 again"
                    .into(),
            )),
        }
    }

    async fn check_evidence(&self, c: &Contradiction) -> Result<()> {
        for (field, ids) in [("evidence_1", &c.evidence_1), ("evidence_2", &c.evidence_2)] {
            if ids.is_empty() {
                continue;
            }
            let found = self.evidence.existing(ids).await?;
            if let Some(missing) = ids.iter().find(|id| !found.contains(id)) {
                return Err(Error::validation(
                    field,
                    format!("no evidence with id {missing}"),
                ));
            }
        }
        Ok(())
    }

    fn publish(&self, kind: &str, c: &Contradiction) {
        let payload = serde_json::json!({
            "id": c.id,
            "subject_name": c.subject_name,
            "verification_status": c.verification_status,
        });
        self.events.publish(EVENT_SOURCE, kind, payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_gap_is_unsigned_days_when_both_dates_are_known() {
        let d = |s: &str| Some(s.parse::<NaiveDate>().unwrap());
        assert_eq!(time_gap_days(d("2020-01-01"), d("2020-03-01")), Some(60));
        assert_eq!(time_gap_days(d("2020-03-01"), d("2020-01-01")), Some(60));
        assert_eq!(time_gap_days(d("2020-03-01"), None), None);
    }

    #[test]
    fn confidence_is_a_probability() {
        assert!(confidence(0.0).is_ok());
        assert!(confidence(1.0).is_ok());
        assert!(confidence(1.01).is_err());
        assert!(confidence(f64::NAN).is_err());
    }

    #[test]
    fn evidence_links_are_deduplicated_and_bounded() {
        let a = Uuid::now_v7();
        assert_eq!(evidence_ids("e", &[a, a]).unwrap(), vec![a]);
        let many: Vec<Uuid> = (0..=EVIDENCE_MAX).map(|_| Uuid::now_v7()).collect();
        assert!(evidence_ids("e", &many).is_err());
    }
}
