//! `/api/contradictions`: the contradiction tracker (the map's "hypocrisy tracker") and the
//! contradiction engine (`content:read`, `content:write`, `content:review`).

use chrono::{DateTime, NaiveDate, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use trae_auth::RequestMeta;
use trae_core::PageRequest;
use trae_core::content::contradiction::{Analysis, AnalysisRequest};
use trae_core::content::{ContradictionFilter, Contradictions};
use uuid::Uuid;

use super::ApiTags;
use super::content_wire::{
    ContradictionTypeBody, Deleted, SubjectTypeBody, VerificationStatusBody, input, output, outputs,
};
use super::json_body::JsonBody;
use super::page::Page;
use crate::ApiError;
use crate::credentials::Auth;

/// The contradictions router.
#[derive(Debug, Clone)]
pub struct ContradictionsApi {
    contradictions: Contradictions,
}

impl ContradictionsApi {
    /// A router over the tracker, which decides who may do what.
    pub fn new(contradictions: Contradictions) -> Self {
        Self { contradictions }
    }
}

/// What the engine said about a stored record when last asked.
#[derive(Debug, Clone, Object)]
#[oai(rename = "StoredContradictionAnalysis")]
pub struct StoredAnalysisBody {
    /// The engine's score, 0–100.
    pub score: u8,
    /// none, low, moderate or high.
    pub label: String,
    /// The type the engine suggests, when it found a contradiction.
    pub suggested_type: Option<ContradictionTypeBody>,
    /// The cue that fired: negation, antonym, quantifier, numeric, date or stance.
    pub cue: Option<String>,
    /// The engine's confidence, 0–1 (0 when it found nothing).
    pub confidence: f64,
    /// Why, in a sentence.
    pub explanation: Option<String>,
    /// When the analysis ran.
    pub analyzed_at: DateTime<Utc>,
}

/// A contradiction record.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Contradiction")]
pub struct ContradictionBody {
    /// Identifier.
    pub id: Uuid,
    /// Who made the statements.
    pub subject_name: String,
    /// What kind of subject.
    pub subject_type: SubjectTypeBody,
    /// What the statements are about.
    pub topic: String,
    /// The first statement.
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
    pub contradiction_type: ContradictionTypeBody,
    /// How serious, 1–10.
    pub severity: u8,
    /// How sure, 0–1.
    pub confidence: f64,
    /// Where it stands in review.
    pub verification_status: VerificationStatusBody,
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
    pub analysis: Option<StoredAnalysisBody>,
    /// Who recorded it.
    pub created_by: String,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A contradiction to record; it starts `pending`.
#[derive(Debug, Clone, Object)]
#[oai(rename = "NewContradiction", deny_unknown_fields)]
pub struct NewContradictionBody {
    /// Who made the statements, 1–200 characters.
    pub subject_name: String,
    /// What kind of subject (default person).
    pub subject_type: Option<SubjectTypeBody>,
    /// What the statements are about, 1–200 characters.
    pub topic: String,
    /// The first statement.
    pub statement_1: String,
    /// The conflicting statement.
    pub statement_2: String,
    /// Context of the first.
    pub context_1: Option<String>,
    /// Context of the second.
    pub context_2: Option<String>,
    /// Date of the first.
    pub date_1: Option<NaiveDate>,
    /// Date of the second.
    pub date_2: Option<NaiveDate>,
    /// Evidence ids for the first (at most 50).
    #[oai(default)]
    pub evidence_1: Vec<Uuid>,
    /// Evidence ids for the second.
    #[oai(default)]
    pub evidence_2: Vec<Uuid>,
    /// How they conflict (default direct).
    pub contradiction_type: Option<ContradictionTypeBody>,
    /// 1–10 (default 5).
    pub severity: Option<i64>,
    /// 0–1 (default 0.5).
    pub confidence: Option<f64>,
    /// 1–10 (default 5).
    pub public_impact: Option<i64>,
    /// Distinct tags.
    #[oai(default)]
    pub tags: Vec<String>,
}

/// Fields to change; absent fields keep their value. The status changes only through
/// `/verify`; changing the statements, their dates or the subject of a reviewed record
/// sends it back to pending.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ContradictionPatch", deny_unknown_fields)]
pub struct ContradictionPatchBody {
    /// New subject.
    pub subject_name: Option<String>,
    /// New subject type.
    pub subject_type: Option<SubjectTypeBody>,
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
    pub contradiction_type: Option<ContradictionTypeBody>,
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
    #[oai(default)]
    pub clear: Vec<String>,
}

/// A reviewer's decision.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Verification", deny_unknown_fields)]
pub struct VerificationBody {
    /// The new status.
    pub status: VerificationStatusBody,
    /// Why, 1–2,000 characters.
    pub note: String,
}

/// A verified, unused record and how good an opportunity it is.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ContradictionOpportunity")]
pub struct OpportunityBody {
    /// severity × confidence × public impact (0–100).
    pub score: f64,
    /// The record.
    pub contradiction: ContradictionBody,
}

/// A stored record after the engine ran over it.
#[derive(Debug, Clone, Object)]
#[oai(rename = "AnalyzedContradiction")]
pub struct AnalyzedBody {
    /// The record, its confidence and analysis filled in.
    pub contradiction: ContradictionBody,
    /// The engine's full answer.
    pub analysis: AnalysisBody,
}

/// A recorded contradiction.
#[derive(Debug, ApiResponse)]
pub enum Created {
    /// The record was created, pending review.
    #[oai(status = 201)]
    Created(Json<ContradictionBody>, #[oai(header = "Location")] String),
}

/// What to analyse: `text`, or `statement_1` and `statement_2`.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ContradictionAnalysisRequest", deny_unknown_fields)]
pub struct AnalyzeBody {
    /// A text whose sentences are compared pairwise (at most 100,000 characters).
    pub text: Option<String>,
    /// The first of two statements.
    pub statement_1: Option<String>,
    /// The second of two statements.
    pub statement_2: Option<String>,
}

/// One contradicting pair.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ContradictionFinding")]
pub struct FindingBody {
    /// The first statement.
    pub statement_1: String,
    /// The second statement.
    pub statement_2: String,
    /// direct, contextual, temporal, value, policy_shift or audience_based.
    #[oai(rename = "type")]
    pub kind: String,
    /// The cue that fired: negation, antonym, quantifier, numeric, date or stance.
    pub cue: String,
    /// How sure the engine is, 0–1.
    pub confidence: f64,
    /// Why, in a sentence.
    pub explanation: String,
}

/// The engine's answer.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ContradictionAnalysis")]
pub struct AnalysisBody {
    /// 0–100: how likely at least one contradiction is real.
    pub score: u8,
    /// none, low, moderate or high.
    pub label: String,
    /// Every contradicting pair, most confident first.
    pub contradictions: Vec<FindingBody>,
}

impl From<Analysis> for AnalysisBody {
    fn from(a: Analysis) -> Self {
        Self {
            score: a.score,
            label: a.label.to_owned(),
            contradictions: a
                .contradictions
                .into_iter()
                .map(|f| FindingBody {
                    statement_1: f.statement_1,
                    statement_2: f.statement_2,
                    kind: f.kind.as_str().to_owned(),
                    cue: f.cue.as_str().to_owned(),
                    confidence: f.confidence,
                    explanation: f.explanation,
                })
                .collect(),
        }
    }
}

#[OpenApi(tag = "ApiTags::Content")]
impl ContradictionsApi {
    /// List contradictions (content:read)
    ///
    /// Newest first. Filter by `subject_name` and `topic` (exact, any case), `subject_type`,
    /// `contradiction_type`, `verification_status`, `min_severity`, `content_used` and `tag`.
    #[oai(
        path = "/api/contradictions",
        method = "get",
        operation_id = "list_contradictions"
    )]
    #[allow(clippy::too_many_arguments)] // one per query parameter
    async fn list(
        &self,
        auth: Auth,
        subject_name: Query<Option<String>>,
        subject_type: Query<Option<SubjectTypeBody>>,
        topic: Query<Option<String>>,
        contradiction_type: Query<Option<ContradictionTypeBody>>,
        verification_status: Query<Option<VerificationStatusBody>>,
        min_severity: Query<Option<u8>>,
        content_used: Query<Option<bool>>,
        tag: Query<Option<String>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Page<ContradictionBody>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        let filter = ContradictionFilter {
            subject_name: subject_name.0,
            subject_type: subject_type.0.map(Into::into),
            topic: topic.0,
            contradiction_type: contradiction_type.0.map(Into::into),
            verification_status: verification_status.0.map(Into::into),
            min_severity: min_severity.0,
            content_used: content_used.0,
            tag: tag.0,
        };
        let page = self
            .contradictions
            .list(auth.principal(), filter, page)
            .await?;
        Ok(Json(Page {
            items: outputs(&page.items)?,
            total: page.total,
            limit: page.limit,
            offset: page.offset,
        }))
    }

    /// Record a contradiction (content:write)
    #[oai(
        path = "/api/contradictions",
        method = "post",
        operation_id = "create_contradiction"
    )]
    async fn create(
        &self,
        auth: Auth,
        body: JsonBody<NewContradictionBody>,
    ) -> Result<Created, ApiError> {
        let principal = auth.principal();
        let record = self
            .contradictions
            .create(principal, input(&body.0)?)
            .await?;
        let location = format!("/api/contradictions/{}", record.id);
        Ok(Created::Created(Json(output(&record)?), location))
    }

    /// Content opportunities (content:read)
    ///
    /// Verified records not yet used for content, ranked by severity × confidence × public
    /// impact; equal scores newest first.
    #[oai(
        path = "/api/contradictions/opportunities",
        method = "get",
        operation_id = "contradiction_opportunities"
    )]
    async fn opportunities(
        &self,
        auth: Auth,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Page<OpportunityBody>>, ApiError> {
        let page = self
            .contradictions
            .opportunities(auth.principal(), PageRequest::new(limit.0, offset.0)?)
            .await?;
        Ok(Json(Page {
            items: outputs(&page.items)?,
            total: page.total,
            limit: page.limit,
            offset: page.offset,
        }))
    }

    /// Get a contradiction (content:read)
    #[oai(
        path = "/api/contradictions/:id",
        method = "get",
        operation_id = "get_contradiction"
    )]
    async fn get(&self, auth: Auth, id: Path<Uuid>) -> Result<Json<ContradictionBody>, ApiError> {
        Ok(Json(output(
            &self.contradictions.get(auth.principal(), id.0).await?,
        )?))
    }

    /// Change some fields of a contradiction (content:write)
    #[oai(
        path = "/api/contradictions/:id",
        method = "patch",
        operation_id = "update_contradiction"
    )]
    async fn update(
        &self,
        auth: Auth,
        id: Path<Uuid>,
        body: JsonBody<ContradictionPatchBody>,
        meta: Data<&RequestMeta>,
    ) -> Result<Json<ContradictionBody>, ApiError> {
        let principal = auth.principal();
        let record = self
            .contradictions
            .update(principal, id.0, input(&body.0)?, &meta)
            .await?;
        Ok(Json(output(&record)?))
    }

    /// Delete a contradiction (content:write)
    #[oai(
        path = "/api/contradictions/:id",
        method = "delete",
        operation_id = "delete_contradiction"
    )]
    async fn delete(&self, auth: Auth, id: Path<Uuid>) -> Result<Deleted, ApiError> {
        let principal = auth.principal();
        self.contradictions.delete(principal, id.0).await?;
        Ok(Deleted::Deleted)
    }

    /// Review a contradiction (content:review)
    ///
    /// Moves the record to `status` with a `note`, recording the reviewer and the time.
    /// Every move, and every refused attempt, is in the audit log
    /// (`contradiction.verify`). Moving to the status it already has is 409.
    #[oai(
        path = "/api/contradictions/:id/verify",
        method = "post",
        operation_id = "verify_contradiction"
    )]
    async fn verify(
        &self,
        auth: Auth,
        id: Path<Uuid>,
        body: JsonBody<VerificationBody>,
        meta: Data<&RequestMeta>,
    ) -> Result<Json<ContradictionBody>, ApiError> {
        // The tracker decides, and audits, who may review (content:review).
        let principal = auth.principal();
        let record = self
            .contradictions
            .verify(principal, id.0, input(&body.0)?, &meta)
            .await?;
        Ok(Json(output(&record)?))
    }

    /// Run the engine over a stored contradiction (content:write)
    ///
    /// Stores the engine's analysis on the record and its confidence as the record's
    /// confidence; the engine's type is kept as `analysis.suggested_type`, the record's own
    /// type is left as it is.
    #[oai(
        path = "/api/contradictions/:id/analyze",
        method = "post",
        operation_id = "analyze_stored_contradiction"
    )]
    async fn analyze_stored(
        &self,
        auth: Auth,
        id: Path<Uuid>,
    ) -> Result<Json<AnalyzedBody>, ApiError> {
        let principal = auth.principal();
        let (record, analysis) = self.contradictions.analyze(principal, id.0).await?;
        Ok(Json(AnalyzedBody {
            contradiction: output(&record)?,
            analysis: analysis.into(),
        }))
    }

    /// Find contradictions in a text or between two statements (content:read)
    ///
    /// Statements contradict when they have one subject (a speaker's "I" and "we" are one) and
    /// one topic, and a cue fires: a negation, an antonym, opposite quantifiers, opposite
    /// stances, or different numbers or dates for the same thing. No model is involved.
    #[oai(
        path = "/api/contradictions/analyze",
        method = "post",
        operation_id = "analyze_contradictions"
    )]
    async fn analyze(
        &self,
        auth: Auth,
        body: JsonBody<AnalyzeBody>,
    ) -> Result<Json<AnalysisBody>, ApiError> {
        let request = AnalysisRequest {
            text: body.0.text,
            statement_1: body.0.statement_1,
            statement_2: body.0.statement_2,
        };
        let analysis = self
            .contradictions
            .analyze_request(auth.principal(), request)
            .await?;
        Ok(Json(analysis.into()))
    }
}
