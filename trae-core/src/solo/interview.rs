//! The genesis interview: a project idea and its type, then questions and answers, until a
//! spec can be written. Each turn records who asked (the type's template or the model), so an
//! interview shows how it was conducted; an answer can be revised, which drops the turns asked
//! after it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::spec::SpecVersion;
use crate::{Error, Page, PageRequest, Result};

/// The most characters of a project idea.
pub const MAX_IDEA_CHARS: usize = 2_000;
/// The most characters of one answer.
pub const MAX_ANSWER_CHARS: usize = 4_000;
/// The most turns of one interview; after the last answer a spec is written.
pub const MAX_TURNS: u32 = 20;

/// What kind of project an interview is about; it picks the first questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectType {
    /// A web application with pages.
    WebApp,
    /// An HTTP API.
    Api,
    /// A command-line tool.
    Cli,
    /// A library for other programs.
    Library,
    /// A data pipeline.
    DataPipeline,
    /// Anything else.
    Other,
}

impl ProjectType {
    /// Every project type.
    pub const ALL: [Self; 6] = [
        Self::WebApp,
        Self::Api,
        Self::Cli,
        Self::Library,
        Self::DataPipeline,
        Self::Other,
    ];

    /// Its wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WebApp => "web_app",
            Self::Api => "api",
            Self::Cli => "cli",
            Self::Library => "library",
            Self::DataPipeline => "data_pipeline",
            Self::Other => "other",
        }
    }

    /// The type named `name`, or a validation error listing the types.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == name.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|t| t.as_str()).collect();
                Error::validation(
                    "project_type",
                    format!(
                        "unknown project type {name:?}; types are {}",
                        names.join(", ")
                    ),
                )
            })
    }
}

/// Who asked a question or wrote a spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionSource {
    /// The project type's template.
    Template,
    /// The model.
    Model,
}

impl QuestionSource {
    /// Its wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Template => "template",
            Self::Model => "model",
        }
    }
}

/// Where an interview is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterviewStatus {
    /// A question waits for its answer.
    Open,
    /// A spec was written from the answers.
    Complete,
}

impl InterviewStatus {
    /// Its wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Complete => "complete",
        }
    }
}

/// One question and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// Its place, from 0.
    pub index: u32,
    /// The question.
    pub question: String,
    /// The template question's key (`goals`, `features`, …), when a template asked it.
    pub key: Option<String>,
    /// Who asked.
    pub source: QuestionSource,
    /// Why the model did not ask it, when a template stood in for the model.
    pub fallback: Option<String>,
    /// The answer, once given.
    pub answer: Option<String>,
    /// When it was asked.
    pub asked_at: DateTime<Utc>,
    /// When it was (last) answered.
    pub answered_at: Option<DateTime<Utc>>,
}

/// A genesis interview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interview {
    /// Its id.
    pub id: Uuid,
    /// The user it belongs to (`None`: the system).
    pub owner: Option<Uuid>,
    /// The project type.
    pub project_type: ProjectType,
    /// The project idea, as the user put it.
    pub idea: String,
    /// Where it is.
    pub status: InterviewStatus,
    /// Its turns, in order; the last is unanswered while it is open.
    pub turns: Vec<Turn>,
    /// The latest spec's version (0: none yet).
    pub spec_version: u32,
    /// When it began.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Interview {
    /// The question waiting for an answer, if any.
    pub fn pending(&self) -> Option<&Turn> {
        self.turns.last().filter(|t| t.answer.is_none())
    }
}

/// Checks an answer: not blank, not too long, no control characters but line breaks and
/// tabs. Returns it trimmed.
pub fn check_answer(answer: &str) -> Result<String> {
    check_text("answer", answer, MAX_ANSWER_CHARS)
}

/// The most characters of a question a model asks.
pub const MAX_QUESTION_CHARS: usize = 1_000;

/// Checks a question a model asks like an answer (it is shown to people, terminals
/// included, so no control characters).
pub fn check_question(question: &str) -> Result<String> {
    check_text("question", question, MAX_QUESTION_CHARS)
}

/// Checks a project idea like an answer.
pub fn check_idea(idea: &str) -> Result<String> {
    check_text("idea", idea, MAX_IDEA_CHARS)
}

fn check_text(field: &str, text: &str, max: usize) -> Result<String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::validation(field, "must not be blank"));
    }
    if text.chars().count() > max {
        return Err(Error::validation(
            field,
            format!("at most {max} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(Error::validation(field, "must not hold control characters"));
    }
    Ok(text.to_owned())
}

/// Where interviews and their specs are kept.
#[async_trait]
pub trait InterviewRepository: Send + Sync + 'static {
    /// Stores a new interview with its turns.
    async fn create(&self, interview: &Interview) -> Result<()>;
    /// An interview with its turns, or `NotFound`.
    async fn get(&self, id: Uuid) -> Result<Interview>;
    /// Interviews, newest first: `owner`'s, or everyone's when `None`.
    async fn list(&self, owner: Option<Uuid>, page: PageRequest) -> Result<Page<Interview>>;
    /// In one transaction: replaces the turns from index `from` on with `turns`, and sets the
    /// status and the update time. `Conflict` when the interview's `updated_at` is no longer
    /// `seen` (another answer came first).
    async fn replace_turns(
        &self,
        id: Uuid,
        seen: DateTime<Utc>,
        from: u32,
        turns: &[Turn],
        status: InterviewStatus,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Like [`InterviewRepository::replace_turns`], and in the same transaction stores `spec`
    /// as the interview's latest version, the interview `complete` (updated at the spec's
    /// time): the answer that ended an interview and its spec are written together or not
    /// at all. A duplicate version is a `Conflict`.
    async fn replace_turns_with_spec(
        &self,
        id: Uuid,
        seen: DateTime<Utc>,
        from: u32,
        turns: &[Turn],
        spec: &SpecVersion,
    ) -> Result<()>;
    /// In one transaction: stores a spec version and makes it the interview's latest, with
    /// the interview `complete`.
    async fn add_spec(&self, spec: &SpecVersion) -> Result<()>;
    /// One version of an interview's spec (the latest when `None`), or `NotFound`.
    async fn spec(&self, id: Uuid, version: Option<u32>) -> Result<SpecVersion>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_answers_are_checked() {
        assert_eq!(
            ProjectType::parse("data_pipeline").unwrap(),
            ProjectType::DataPipeline
        );
        assert!(matches!(
            ProjectType::parse("game"),
            Err(Error::Validation { field, .. }) if field == "project_type"
        ));
        assert_eq!(check_answer("  yes\n").unwrap(), "yes");
        assert!(check_answer(" ").is_err());
        assert!(check_answer("a\u{7}b").is_err());
        assert!(check_answer(&"x".repeat(MAX_ANSWER_CHARS + 1)).is_err());
        assert!(check_idea("line one\nline two").is_ok());
    }
}
