//! Genesis interviews as a service every binding calls: start one from an idea and a project
//! type (its template asks the first question), answer the waiting question, revise an
//! earlier answer (the turns after it are dropped and asked afresh), read the interview and
//! its spec versions. After each answer the model, when one is configured and answers validly,
//! asks the next question or writes the spec; otherwise the type's template questions go on,
//! and the spec is written from their answers. Each decides permissions (`agents:run` on
//! one's own interviews, `agents:admin` on everyone's) and publishes on topic `solo`.

use std::sync::Arc;

use serde_json::json;
use trae_core::identity::permission::Gate;
use trae_core::llm::budget::RunBudget;
use trae_core::solo::interview::{
    Interview, InterviewRepository, InterviewStatus, MAX_TURNS, ProjectType, QuestionSource, Turn,
    check_answer, check_idea,
};
use trae_core::solo::spec::SpecVersion;
use trae_core::solo::templates;
use trae_core::tdd::run::{AGENTS_ADMIN, AGENTS_RUN};
use trae_core::{Clock, Error, EventBus, Page, PageRequest, Principal};
use uuid::Uuid;

use super::interviewer::{self, Next};
use crate::error::{AgentError, Result};
use crate::llm::gateway::ModelGateway;

/// The event stream topic (and event source) of the SOLO agent.
pub const EVENT_SOURCE: &str = "solo";

/// An interview to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInterview {
    /// The project type (its template asks the first questions).
    pub project_type: ProjectType,
    /// The project idea.
    pub idea: String,
}

/// The interviews service.
#[derive(Clone)]
pub struct Interviews {
    repo: Arc<dyn InterviewRepository>,
    gate: Gate,
    events: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
    models: ModelGateway,
}

impl std::fmt::Debug for Interviews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interviews").finish_non_exhaustive()
    }
}

impl Interviews {
    /// The service over `repo`, deciding through `gate`, asking `models` as the caller.
    pub fn new(
        repo: Arc<dyn InterviewRepository>,
        gate: Gate,
        events: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
        models: ModelGateway,
    ) -> Self {
        Self {
            repo,
            gate,
            events,
            clock,
            models,
        }
    }

    /// Starts an interview: the template's first question waits for its answer.
    pub async fn start(&self, principal: &Principal, new: NewInterview) -> Result<Interview> {
        self.gate.check(principal, AGENTS_RUN).await?;
        let idea = check_idea(&new.idea)?;
        let now = self.now();
        let first = templates::questions(new.project_type)
            .into_iter()
            .next()
            .ok_or_else(|| AgentError::invalid("project_type", "has no questions"))?;
        let interview = Interview {
            id: Uuid::now_v7(),
            owner: principal.user_id(),
            project_type: new.project_type,
            idea,
            status: InterviewStatus::Open,
            turns: vec![Turn {
                index: 0,
                question: first.text.to_owned(),
                key: Some(first.key.to_owned()),
                source: QuestionSource::Template,
                fallback: None,
                answer: None,
                asked_at: now,
                answered_at: None,
            }],
            spec_version: 0,
            created_at: now,
            updated_at: now,
        };
        self.repo.create(&interview).await?;
        self.publish(
            &interview,
            "solo.interview.started",
            json!({ "project_type": interview.project_type.as_str() }),
        );
        self.publish_question(&interview);
        Ok(interview)
    }

    /// An interview the caller may see; `NotFound` otherwise.
    pub async fn get(&self, principal: &Principal, id: Uuid) -> Result<Interview> {
        self.gate.check(principal, AGENTS_RUN).await?;
        let hidden = || AgentError::Core(Error::not_found("interview", id));
        let interview = match self.repo.get(id).await {
            Ok(interview) => interview,
            Err(Error::NotFound { .. }) => return Err(hidden()),
            Err(error) => return Err(error.into()),
        };
        let own = interview.owner.is_some() && interview.owner == principal.user_id();
        if own || self.gate.holds(principal, AGENTS_ADMIN).await? {
            Ok(interview)
        } else {
            Err(hidden())
        }
    }

    /// Interviews, newest first: the caller's own, or everyone's with `agents:admin`.
    pub async fn list(&self, principal: &Principal, page: PageRequest) -> Result<Page<Interview>> {
        self.gate.check(principal, AGENTS_RUN).await?;
        let owner = if self.gate.holds(principal, AGENTS_ADMIN).await? {
            None
        } else {
            // A principal without a user id (the system holds agents:admin) sees its own none.
            Some(principal.user_id().unwrap_or_else(Uuid::nil))
        };
        Ok(self.repo.list(owner, page).await?)
    }

    /// Answers the waiting question; the next question, or the spec, follows.
    pub async fn answer(&self, principal: &Principal, id: Uuid, answer: &str) -> Result<Interview> {
        let answer = check_answer(answer)?;
        let mut interview = self.get(principal, id).await?;
        let Some(pending) = interview.pending() else {
            return Err(AgentError::Core(Error::Conflict(
                "no question is waiting for an answer; revise an earlier answer to go on".into(),
            )));
        };
        let index = pending.index;
        let now = self.now();
        if let Some(turn) = interview.turns.last_mut() {
            turn.answer = Some(answer);
            turn.answered_at = Some(now);
        }
        self.advance(principal, interview, index).await
    }

    /// Revises the answer of turn `index`: the turns after it are dropped (they were asked in
    /// the light of the old answer), and the interview goes on from there; a spec written
    /// before stays as an earlier version.
    pub async fn revise(
        &self,
        principal: &Principal,
        id: Uuid,
        index: u32,
        answer: &str,
    ) -> Result<Interview> {
        let answer = check_answer(answer)?;
        let mut interview = self.get(principal, id).await?;
        let answered = interview
            .turns
            .get(index as usize)
            .is_some_and(|t| t.answer.is_some());
        if !answered {
            return Err(AgentError::invalid(
                "index",
                format!("turn {index} has no answer to revise"),
            ));
        }
        interview.turns.truncate(index as usize + 1);
        let now = self.now();
        if let Some(turn) = interview.turns.last_mut() {
            turn.answer = Some(answer);
            turn.answered_at = Some(now);
        }
        self.advance(principal, interview, index).await
    }

    /// A version of the interview's spec (the latest when `None`).
    pub async fn spec(
        &self,
        principal: &Principal,
        id: Uuid,
        version: Option<u32>,
    ) -> Result<SpecVersion> {
        self.get(principal, id).await?;
        Ok(self.repo.spec(id, version).await?)
    }

    /// After the answer at turn `from`: the model's next question or spec, else the next
    /// template question, else the spec from the answers; stored with the turns from `from` on.
    async fn advance(
        &self,
        principal: &Principal,
        mut interview: Interview,
        from: u32,
    ) -> Result<Interview> {
        let seen = interview.updated_at;
        let open = templates::remaining(&interview);
        let must_finish = interview.turns.len() >= MAX_TURNS as usize;
        let model = self.models.acting_for(principal.clone());
        let budget = RunBudget::unlimited(self.clock.clone());
        let next = interviewer::ask(model.as_ref(), &interview, &open, must_finish, &budget).await;
        let now = self.now();
        let index = u32::try_from(interview.turns.len()).unwrap_or(u32::MAX);
        let (spec, source) = match next {
            Ok(Next::Question(question)) => {
                interview.turns.push(asked(
                    index,
                    question,
                    None,
                    QuestionSource::Model,
                    None,
                    now,
                ));
                (None, QuestionSource::Model)
            }
            Ok(Next::Spec(spec)) => (Some(spec), QuestionSource::Model),
            Err(why) => match open.first() {
                Some(question) if !must_finish => {
                    interview.turns.push(asked(
                        index,
                        question.text.to_owned(),
                        Some(question.key.to_owned()),
                        QuestionSource::Template,
                        Some(why),
                        now,
                    ));
                    (None, QuestionSource::Template)
                }
                _ => (
                    Some(templates::spec_from_answers(&interview)?),
                    QuestionSource::Template,
                ),
            },
        };
        let turns = &interview.turns[from as usize..];
        match spec {
            Some(spec) => {
                let version = SpecVersion {
                    interview_id: interview.id,
                    version: interview.spec_version + 1,
                    project_type: interview.project_type,
                    markdown: spec.to_markdown(),
                    spec,
                    source,
                    created_at: now,
                };
                // The answer that ended the interview and its spec go in together.
                self.repo
                    .replace_turns_with_spec(interview.id, seen, from, turns, &version)
                    .await?;
                interview.updated_at = now;
                interview.spec_version = version.version;
                interview.status = InterviewStatus::Complete;
                self.publish(
                    &interview,
                    "solo.interview.spec",
                    json!({ "version": version.version, "source": source.as_str() }),
                );
            }
            None => {
                self.repo
                    .replace_turns(interview.id, seen, from, turns, InterviewStatus::Open, now)
                    .await?;
                interview.updated_at = now;
                interview.status = InterviewStatus::Open;
                self.publish_question(&interview);
            }
        }
        Ok(interview)
    }

    /// Now, to the microsecond the storage keeps, so what is returned equals what is read
    /// back.
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        use chrono::SubsecRound as _;
        self.clock.now().trunc_subsecs(6)
    }

    fn publish_question(&self, interview: &Interview) {
        if let Some(turn) = interview.pending() {
            self.publish(
                interview,
                "solo.interview.question",
                json!({ "index": turn.index, "source": turn.source.as_str(), "fallback": turn.fallback }),
            );
        }
    }

    fn publish(&self, interview: &Interview, kind: &str, mut payload: serde_json::Value) {
        payload["interview_id"] = json!(interview.id);
        self.events
            .publish_owned(EVENT_SOURCE, kind, interview.owner, payload);
    }
}

fn asked(
    index: u32,
    question: String,
    key: Option<String>,
    source: QuestionSource,
    fallback: Option<String>,
    at: chrono::DateTime<chrono::Utc>,
) -> Turn {
    Turn {
        index,
        question,
        key,
        source,
        fallback,
        answer: None,
        asked_at: at,
        answered_at: None,
    }
}
