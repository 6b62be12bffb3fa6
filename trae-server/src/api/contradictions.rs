//! `/api/contradictions`: the contradiction engine over HTTP (`content:read`). The stored
//! hypocrisy tracker joins this router with issue 7's content domain.

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use trae_auth::Identity;
use trae_core::contradiction::{Analysis, AnalysisRequest};

use super::ApiTags;
use crate::ApiError;
use crate::credentials::Auth;

/// Reading content and analysing it.
const READ: &str = "content:read";

/// The contradictions router.
#[derive(Debug, Clone)]
pub struct ContradictionsApi {
    identity: Identity,
}

impl ContradictionsApi {
    /// A router authorizing with `identity`.
    pub fn new(identity: Identity) -> Self {
        Self { identity }
    }
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
        body: Json<AnalyzeBody>,
    ) -> Result<Json<AnalysisBody>, ApiError> {
        auth.require(&self.identity, READ).await?;
        let request = AnalysisRequest {
            text: body.0.text,
            statement_1: body.0.statement_1,
            statement_2: body.0.statement_2,
        };
        // Long texts compare many pairs: off the request threads.
        let analysis = tokio::task::spawn_blocking(move || request.run())
            .await
            .map_err(|e| trae_core::Error::Unavailable(format!("the analysis stopped: {e}")))??;
        Ok(Json(analysis.into()))
    }
}
