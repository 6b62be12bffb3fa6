//! `/api/solo/interviews`: the SOLO agent's genesis interviews. Start one from an idea and a
//! project type, answer the waiting question, revise an earlier answer, read the interview
//! and its spec (markdown and JSON, versioned). Who may do what is decided by the service.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use trae_agents::{Interviews, NewInterview};
use trae_core::{
    Feature, Interview, InterviewStatus, PageRequest, ProjectType, QuestionSource, Spec,
    SpecVersion, Turn,
};
use uuid::Uuid;

use super::ApiTags;
use super::json_body::JsonBody;
use super::page::Page;
use crate::ApiError;
use crate::credentials::Auth;

/// The SOLO router.
#[derive(Debug, Clone)]
pub struct SoloApi {
    interviews: Interviews,
}

impl SoloApi {
    /// A router over the interviews service, which decides who may do what.
    pub fn new(interviews: Interviews) -> Self {
        Self { interviews }
    }
}

/// What kind of project an interview is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "SoloProjectType", rename_all = "snake_case")]
pub enum ProjectTypeBody {
    /// A web application with pages.
    WebApp,
    /// An HTTP API.
    Api,
    /// A command-line tool.
    Cli,
    /// A library.
    Library,
    /// A data pipeline.
    DataPipeline,
    /// Anything else.
    Other,
}

impl From<ProjectType> for ProjectTypeBody {
    fn from(t: ProjectType) -> Self {
        match t {
            ProjectType::WebApp => Self::WebApp,
            ProjectType::Api => Self::Api,
            ProjectType::Cli => Self::Cli,
            ProjectType::Library => Self::Library,
            ProjectType::DataPipeline => Self::DataPipeline,
            ProjectType::Other => Self::Other,
        }
    }
}

impl From<ProjectTypeBody> for ProjectType {
    fn from(t: ProjectTypeBody) -> Self {
        match t {
            ProjectTypeBody::WebApp => Self::WebApp,
            ProjectTypeBody::Api => Self::Api,
            ProjectTypeBody::Cli => Self::Cli,
            ProjectTypeBody::Library => Self::Library,
            ProjectTypeBody::DataPipeline => Self::DataPipeline,
            ProjectTypeBody::Other => Self::Other,
        }
    }
}

/// Who asked a question or wrote a spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "SoloSource", rename_all = "snake_case")]
pub enum SourceBody {
    /// The project type's template.
    Template,
    /// The model.
    Model,
}

impl From<QuestionSource> for SourceBody {
    fn from(s: QuestionSource) -> Self {
        match s {
            QuestionSource::Template => Self::Template,
            QuestionSource::Model => Self::Model,
        }
    }
}

/// Where an interview is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "SoloInterviewStatus", rename_all = "snake_case")]
pub enum StatusBody {
    /// A question waits for its answer.
    Open,
    /// A spec was written.
    Complete,
}

impl From<InterviewStatus> for StatusBody {
    fn from(s: InterviewStatus) -> Self {
        match s {
            InterviewStatus::Open => Self::Open,
            InterviewStatus::Complete => Self::Complete,
        }
    }
}

/// One question and its answer.
#[derive(Debug, Clone, Object)]
#[oai(rename = "SoloTurn")]
pub struct TurnBody {
    /// Its place, from 0.
    pub index: u32,
    /// The question.
    pub question: String,
    /// The template question's key, when a template asked it.
    pub key: Option<String>,
    /// Who asked.
    pub source: SourceBody,
    /// Why the model did not ask it, when a template stood in.
    pub fallback: Option<String>,
    /// The answer; `null` while it waits.
    pub answer: Option<String>,
    /// When it was asked.
    pub asked_at: DateTime<Utc>,
    /// When it was (last) answered.
    pub answered_at: Option<DateTime<Utc>>,
}

impl From<Turn> for TurnBody {
    fn from(t: Turn) -> Self {
        Self {
            index: t.index,
            question: t.question,
            key: t.key,
            source: t.source.into(),
            fallback: t.fallback,
            answer: t.answer,
            asked_at: t.asked_at,
            answered_at: t.answered_at,
        }
    }
}

/// A genesis interview.
#[derive(Debug, Clone, Object)]
#[oai(rename = "SoloInterview")]
pub struct InterviewBody {
    /// Identifier.
    pub id: Uuid,
    /// The user it belongs to; `null` for the system.
    pub owner_id: Option<Uuid>,
    /// The project type.
    pub project_type: ProjectTypeBody,
    /// The project idea.
    pub idea: String,
    /// Where it is.
    pub status: StatusBody,
    /// Its turns in order; while it is open the last one waits for an answer.
    pub turns: Vec<TurnBody>,
    /// The latest spec's version; 0 before the first.
    pub spec_version: u32,
    /// When it began.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Interview> for InterviewBody {
    fn from(i: Interview) -> Self {
        Self {
            id: i.id,
            owner_id: i.owner,
            project_type: i.project_type.into(),
            idea: i.idea,
            status: i.status.into(),
            turns: i.turns.into_iter().map(Into::into).collect(),
            spec_version: i.spec_version,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

/// A feature of a spec.
#[derive(Debug, Clone, Object)]
#[oai(rename = "SoloFeature")]
pub struct FeatureBody {
    /// A short name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Checks that show it works.
    pub acceptance: Vec<String>,
}

impl From<Feature> for FeatureBody {
    fn from(f: Feature) -> Self {
        Self {
            name: f.name,
            description: f.description,
            acceptance: f.acceptance,
        }
    }
}

/// A spec's content.
#[derive(Debug, Clone, Object)]
#[oai(rename = "SoloSpecContent")]
pub struct SpecContentBody {
    /// The project's name or one-line idea.
    pub title: String,
    /// What it is.
    pub summary: String,
    /// What it must achieve.
    pub goals: Vec<String>,
    /// Who uses it.
    pub users: Vec<String>,
    /// What it must do.
    pub features: Vec<FeatureBody>,
    /// Limits it must respect.
    pub constraints: Vec<String>,
    /// What it will not do.
    pub out_of_scope: Vec<String>,
}

impl From<Spec> for SpecContentBody {
    fn from(s: Spec) -> Self {
        Self {
            title: s.title,
            summary: s.summary,
            goals: s.goals,
            users: s.users,
            features: s.features.into_iter().map(Into::into).collect(),
            constraints: s.constraints,
            out_of_scope: s.out_of_scope,
        }
    }
}

/// One version of an interview's spec.
#[derive(Debug, Clone, Object)]
#[oai(rename = "SoloSpec")]
pub struct SpecBody {
    /// The interview it came from.
    pub interview_id: Uuid,
    /// Its version, from 1.
    pub version: u32,
    /// The project type.
    pub project_type: ProjectTypeBody,
    /// The spec.
    pub spec: SpecContentBody,
    /// The spec as markdown.
    pub markdown: String,
    /// Who wrote it: the model, or the templates from the answers.
    pub source: SourceBody,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<SpecVersion> for SpecBody {
    fn from(s: SpecVersion) -> Self {
        Self {
            interview_id: s.interview_id,
            version: s.version,
            project_type: s.project_type.into(),
            spec: s.spec.into(),
            markdown: s.markdown,
            source: s.source.into(),
            created_at: s.created_at,
        }
    }
}

/// An interview to start.
#[derive(Debug, Clone, Object)]
#[oai(rename = "NewSoloInterview", deny_unknown_fields)]
pub struct NewInterviewBody {
    /// The project type; it picks the first questions.
    pub project_type: ProjectTypeBody,
    /// The project idea, up to 2,000 characters.
    pub idea: String,
}

/// An answer.
#[derive(Debug, Clone, Object)]
#[oai(rename = "SoloAnswer", deny_unknown_fields)]
pub struct AnswerBody {
    /// The answer, up to 4,000 characters.
    pub answer: String,
}

/// The answer to a start.
#[derive(Debug, ApiResponse)]
pub enum Started {
    /// The interview, with its first question waiting.
    #[oai(status = 201)]
    Interview(Json<InterviewBody>, #[oai(header = "Location")] String),
}

#[OpenApi(tag = "ApiTags::Agents")]
impl SoloApi {
    /// Starts a genesis interview: the project type's template asks the first question.
    /// Needs `agents:run`. 422 for a blank or too long idea or an unknown project type.
    #[oai(
        path = "/api/solo/interviews",
        method = "post",
        operation_id = "start_solo_interview"
    )]
    async fn start(
        &self,
        auth: Auth,
        body: JsonBody<NewInterviewBody>,
    ) -> Result<Started, ApiError> {
        let new = NewInterview {
            project_type: body.0.project_type.into(),
            idea: body.0.idea,
        };
        let interview = self.interviews.start(auth.principal(), new).await?;
        let location = format!("/api/solo/interviews/{}", interview.id);
        Ok(Started::Interview(Json(interview.into()), location))
    }

    /// Interviews, newest first: your own, or everyone's with `agents:admin`.
    #[oai(
        path = "/api/solo/interviews",
        method = "get",
        operation_id = "list_solo_interviews"
    )]
    async fn list(
        &self,
        auth: Auth,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Page<InterviewBody>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        let page = self.interviews.list(auth.principal(), page).await?;
        Ok(Json(page.into()))
    }

    /// An interview with its turns. 404 for one that is not yours (without `agents:admin`).
    #[oai(
        path = "/api/solo/interviews/:id",
        method = "get",
        operation_id = "get_solo_interview"
    )]
    async fn get(&self, auth: Auth, id: Path<Uuid>) -> Result<Json<InterviewBody>, ApiError> {
        let interview = self.interviews.get(auth.principal(), id.0).await?;
        Ok(Json(interview.into()))
    }

    /// Answers the waiting question; the answer holds the next question or, when the
    /// interview is done, `status: complete` with a new spec version. 409 when no question
    /// waits (or another answer came first).
    #[oai(
        path = "/api/solo/interviews/:id/answer",
        method = "post",
        operation_id = "answer_solo_interview"
    )]
    async fn answer(
        &self,
        auth: Auth,
        id: Path<Uuid>,
        body: JsonBody<AnswerBody>,
    ) -> Result<Json<InterviewBody>, ApiError> {
        let interview = self
            .interviews
            .answer(auth.principal(), id.0, &body.0.answer)
            .await?;
        Ok(Json(interview.into()))
    }

    /// Revises the answer of turn `index`: the turns after it are dropped and the interview
    /// goes on from there (a spec written before stays as an earlier version). 422 when that
    /// turn has no answer; 409 when another answer came first.
    #[oai(
        path = "/api/solo/interviews/:id/turns/:index/answer",
        method = "put",
        operation_id = "revise_solo_answer"
    )]
    async fn revise(
        &self,
        auth: Auth,
        id: Path<Uuid>,
        index: Path<u32>,
        body: JsonBody<AnswerBody>,
    ) -> Result<Json<InterviewBody>, ApiError> {
        let interview = self
            .interviews
            .revise(auth.principal(), id.0, index.0, &body.0.answer)
            .await?;
        Ok(Json(interview.into()))
    }

    /// The interview's spec: the latest version, or `version`. 404 before the first.
    #[oai(
        path = "/api/solo/interviews/:id/spec",
        method = "get",
        operation_id = "get_solo_spec"
    )]
    async fn spec(
        &self,
        auth: Auth,
        id: Path<Uuid>,
        version: Query<Option<u32>>,
    ) -> Result<Json<SpecBody>, ApiError> {
        let spec = self
            .interviews
            .spec(auth.principal(), id.0, version.0)
            .await?;
        Ok(Json(spec.into()))
    }
}
