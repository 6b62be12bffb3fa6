//! The SOLO agent's genesis interview through the composition root, on SQLite and
//! PostgreSQL: without a model the templates ask every question and write the spec; with the
//! scripted OpenAI-compatible server on 127.0.0.1 the model asks follow-ups and writes the
//! spec; a model whose answers fail validation twice is replaced by the template (and the
//! turn says why); a revised answer drops the turns after it and versions the spec; bad input
//! and conflicts are refused; only `agents:run` may interview, and only the owner (or
//! `agents:admin`) sees an interview.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use trae_agents::testing::{Reply, ScriptedLlm};
use trae_agents::{AgentError, NewInterview, Trae};
use trae_core::{
    ApiEndpointSpec, Config, Error, InterviewStatus, PageRequest, Principal, ProjectType,
    QuestionSource, RequestMeta,
};
use trae_storage::storage_test;

fn config(url: &str, dir: &std::path::Path) -> Config {
    let env: HashMap<&str, String> = HashMap::from([
        ("TRAE_DATABASE_URL", url.to_owned()),
        ("TRAE_DATA_DIR", dir.display().to_string()),
        ("TRAE_OUTBOUND_ALLOW_LOOPBACK", "true".to_owned()),
        (
            "TRAE_MASTER_KEY",
            "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYgo=".to_owned(),
        ),
    ]);
    Config::from_sources(|k| env.get(k).cloned()).expect("config")
}

async fn open(url: Option<String>) -> (Trae, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = url.unwrap_or_else(|| format!("sqlite://{}/trae.db?mode=rwc", dir.path().display()));
    (Trae::open(config(&url, dir.path())).await.unwrap(), dir)
}

async fn with_model(trae: &Trae) -> ScriptedLlm {
    let llm = ScriptedLlm::start().await.unwrap();
    let mut spec = ApiEndpointSpec::new("local", "llm.chat", llm.base_url());
    spec.metadata = json!({"default_model": "scripted"});
    trae.apis()
        .registry()
        .create(&Principal::System, spec, &RequestMeta::default())
        .await
        .unwrap();
    llm
}

fn user(role: &str) -> Principal {
    Principal::User {
        user_id: uuid::Uuid::now_v7(),
        username: Some(role.to_owned()),
        session_id: None,
        roles: vec![role.to_owned()],
    }
}

fn new_api() -> NewInterview {
    NewInterview {
        project_type: ProjectType::Api,
        idea: "A todo API for small teams".into(),
    }
}

const ANSWERS: [&str; 6] = [
    "todos: create, list, complete",
    "developers\nteam leads",
    "track work\nsee what is left",
    "create a todo: POST /todos answers 201\nlist todos: GET /todos lists them",
    "Python 3.11",
    "none",
];

storage_test!(
    without_a_model_the_templates_run_the_interview,
    |url: String| async move {
        let (trae, _dir) = open(Some(url)).await;
        let mut events = trae.store().events().subscribe();
        let alice = user("developer");
        let interviews = trae.interviews();
        let mut interview = interviews.start(&alice, new_api()).await.unwrap();
        assert_eq!(interview.turns.len(), 1);
        assert_eq!(interview.turns[0].key.as_deref(), Some("shape"));
        for answer in ANSWERS {
            assert_eq!(interview.status, InterviewStatus::Open);
            interview = interviews
                .answer(&alice, interview.id, answer)
                .await
                .unwrap();
        }
        assert_eq!(interview.status, InterviewStatus::Complete);
        assert_eq!(interview.spec_version, 1);
        let keys: Vec<_> = interview
            .turns
            .iter()
            .map(|t| t.key.clone().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "shape",
                "users",
                "goals",
                "features",
                "constraints",
                "out_of_scope"
            ]
        );
        // Every question after the first stood in for the model, and says why.
        for turn in &interview.turns[1..] {
            assert_eq!(turn.source, QuestionSource::Template);
            assert!(
                turn.fallback.as_deref().is_some_and(|f| !f.is_empty()),
                "{turn:?}"
            );
        }
        let spec = interviews.spec(&alice, interview.id, None).await.unwrap();
        assert_eq!((spec.version, spec.source), (1, QuestionSource::Template));
        assert_eq!(spec.spec.users, ["developers", "team leads"]);
        assert_eq!(spec.spec.features[1].acceptance, ["GET /todos lists them"]);
        assert!(spec.spec.out_of_scope.is_empty());
        assert!(spec.markdown.starts_with("# A todo API for small teams\n"));
        assert!(spec.markdown.contains("- [ ] POST /todos answers 201"));

        // Stored: a fresh read gives the same interview.
        assert_eq!(
            interviews.get(&alice, interview.id).await.unwrap(),
            interview
        );

        let mut kinds = Vec::new();
        while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(200), events.recv())
            .await
            .map(Result::ok)
        {
            if event.source == "solo" {
                assert_eq!(event.payload["interview_id"], json!(interview.id));
                kinds.push(event.kind.clone());
            }
        }
        assert_eq!(
            kinds.first().map(String::as_str),
            Some("solo.interview.started")
        );
        assert_eq!(
            kinds
                .iter()
                .filter(|k| *k == "solo.interview.question")
                .count(),
            6
        );
        assert_eq!(
            kinds.last().map(String::as_str),
            Some("solo.interview.spec")
        );
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_asks_follow_ups_and_writes_the_spec() {
    let (trae, _dir) = open(None).await;
    let llm = with_model(&trae).await;
    let alice = user("developer");
    let interviews = trae.interviews();
    let interview = interviews.start(&alice, new_api()).await.unwrap();

    llm.push(Reply::text(
        &json!({"type": "question", "question": "Should todos have due dates?"}).to_string(),
    ));
    let interview = interviews
        .answer(&alice, interview.id, ANSWERS[0])
        .await
        .unwrap();
    let asked = interview.pending().unwrap();
    assert_eq!(
        (asked.question.as_str(), asked.source, asked.key.as_deref()),
        ("Should todos have due dates?", QuestionSource::Model, None)
    );
    let request = &llm.requests()[0];
    assert_eq!(request["response_format"]["type"], "json_schema");
    let prompt = request["messages"][1]["content"].as_str().unwrap();
    assert!(
        prompt.contains("A1: todos: create, list, complete"),
        "{prompt}"
    );
    assert!(prompt.contains("Who will use it"), "{prompt}");

    llm.push(Reply::text(
        &json!({"type": "spec", "spec": {
            "title": "Team todos",
            "goals": ["track work"],
            "users": ["developers"],
            "features": [{"name": "due dates", "description": "todos can be due", "acceptance": ["a todo past its date is listed as overdue"]}],
            "out_of_scope": ["billing"],
        }})
        .to_string(),
    ));
    let interview = interviews
        .answer(&alice, interview.id, "yes, optional ones")
        .await
        .unwrap();
    assert_eq!(interview.status, InterviewStatus::Complete);
    let spec = interviews.spec(&alice, interview.id, None).await.unwrap();
    assert_eq!(spec.source, QuestionSource::Model);
    assert_eq!(spec.spec.title, "Team todos");
    assert!(spec.markdown.contains("### due dates"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_that_fail_validation_twice_give_way_to_the_template() {
    let (trae, _dir) = open(None).await;
    let llm = with_model(&trae).await;
    let alice = user("developer");
    let interviews = trae.interviews();
    let interview = interviews.start(&alice, new_api()).await.unwrap();
    // Fits the schema, but a spec without features is no spec; twice.
    let hollow = json!({"type": "spec", "spec": {"title": "x", "goals": ["g"], "features": []}});
    llm.push(Reply::text(&hollow.to_string()));
    llm.push(Reply::text(&hollow.to_string()));
    let interview = interviews
        .answer(&alice, interview.id, ANSWERS[0])
        .await
        .unwrap();
    assert_eq!(llm.requests().len(), 2);
    let second = llm.requests()[1]["messages"].as_array().unwrap().clone();
    assert!(
        second.last().unwrap()["content"]
            .as_str()
            .unwrap()
            .contains("cannot be used: the spec is not valid")
    );
    let turn = interview.pending().unwrap();
    assert_eq!(
        (turn.source, turn.key.as_deref()),
        (QuestionSource::Template, Some("users"))
    );
    assert!(
        turn.fallback
            .as_deref()
            .unwrap()
            .contains("did not validate twice"),
        "{turn:?}"
    );
}

storage_test!(
    a_revised_answer_drops_later_turns_and_versions_the_spec,
    |url: String| async move {
        let (trae, _dir) = open(Some(url)).await;
        let alice = user("developer");
        let interviews = trae.interviews();
        let mut interview = interviews.start(&alice, new_api()).await.unwrap();
        for answer in ANSWERS {
            interview = interviews
                .answer(&alice, interview.id, answer)
                .await
                .unwrap();
        }
        let first = interviews.spec(&alice, interview.id, None).await.unwrap();

        let revised = interviews
            .revise(&alice, interview.id, 2, "ship by Friday")
            .await
            .unwrap();
        assert_eq!(revised.status, InterviewStatus::Open);
        assert_eq!(revised.turns.len(), 4);
        assert_eq!(revised.turns[2].answer.as_deref(), Some("ship by Friday"));
        assert_eq!(revised.pending().unwrap().key.as_deref(), Some("features"));
        let mut interview = revised;
        for answer in &ANSWERS[3..] {
            interview = interviews
                .answer(&alice, interview.id, answer)
                .await
                .unwrap();
        }
        assert_eq!(
            (interview.status, interview.spec_version),
            (InterviewStatus::Complete, 2)
        );
        let latest = interviews.spec(&alice, interview.id, None).await.unwrap();
        assert_eq!(latest.version, 2);
        assert_eq!(latest.spec.goals, ["ship by Friday"]);
        assert_eq!(
            interviews
                .spec(&alice, interview.id, Some(1))
                .await
                .unwrap(),
            first
        );
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_conflicts_are_refused() {
    let (trae, _dir) = open(None).await;
    let alice = user("developer");
    let interviews = trae.interviews();
    for idea in ["   ", &"x".repeat(2_001), "a\u{0}b"] {
        let refused = interviews
            .start(
                &alice,
                NewInterview {
                    idea: idea.to_owned(),
                    ..new_api()
                },
            )
            .await;
        assert!(
            matches!(refused, Err(AgentError::Core(Error::Validation { ref field, .. })) if field == "idea"),
            "{refused:?}"
        );
    }
    let interview = interviews.start(&alice, new_api()).await.unwrap();
    for answer in ["", &"y".repeat(4_001)] {
        let refused = interviews.answer(&alice, interview.id, answer).await;
        assert!(
            matches!(refused, Err(AgentError::Core(Error::Validation { .. }))),
            "{refused:?}"
        );
    }
    for index in [0, 7] {
        let refused = interviews.revise(&alice, interview.id, index, "x").await;
        assert!(
            matches!(refused, Err(AgentError::Invalid { ref field, .. }) if field == "index"),
            "{refused:?}"
        );
    }
    assert!(matches!(
        interviews.spec(&alice, interview.id, None).await,
        Err(AgentError::Core(Error::NotFound { .. }))
    ));
    let mut done = interview;
    for answer in ANSWERS {
        done = interviews.answer(&alice, done.id, answer).await.unwrap();
    }
    assert!(matches!(
        interviews.answer(&alice, done.id, "more").await,
        Err(AgentError::Core(Error::Conflict(_)))
    ));
    assert!(matches!(
        interviews.get(&alice, uuid::Uuid::now_v7()).await,
        Err(AgentError::Core(Error::NotFound { .. }))
    ));
    // Nothing half-written: the refusals left the interview as it was.
    assert_eq!(interviews.get(&alice, done.id).await.unwrap(), done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_agents_run_interviews_and_only_owners_or_admins_see_them() {
    let (trae, _dir) = open(None).await;
    let interviews = trae.interviews();
    for role in ["viewer", "user"] {
        let refused = interviews.start(&user(role), new_api()).await;
        assert!(
            matches!(refused, Err(AgentError::Core(Error::Forbidden(ref m))) if m.contains("agents:run")),
            "{role}: {refused:?}"
        );
        assert!(matches!(
            interviews.list(&user(role), PageRequest::default()).await,
            Err(AgentError::Core(Error::Forbidden(_)))
        ));
    }
    let alice = user("developer");
    let mallory = user("developer");
    let interview = interviews.start(&alice, new_api()).await.unwrap();
    let hidden =
        |r: Result<_, AgentError>| matches!(r, Err(AgentError::Core(Error::NotFound { .. })));
    assert!(hidden(
        interviews.get(&mallory, interview.id).await.map(|_| ())
    ));
    assert!(hidden(
        interviews
            .answer(&mallory, interview.id, "mine now")
            .await
            .map(|_| ())
    ));
    assert!(hidden(
        interviews
            .revise(&mallory, interview.id, 0, "x")
            .await
            .map(|_| ())
    ));
    assert!(hidden(
        interviews
            .spec(&mallory, interview.id, None)
            .await
            .map(|_| ())
    ));
    assert_eq!(
        interviews
            .list(&mallory, PageRequest::default())
            .await
            .unwrap()
            .total,
        0
    );
    assert_eq!(
        interviews
            .list(&alice, PageRequest::default())
            .await
            .unwrap()
            .total,
        1
    );
    let admin = user("admin");
    assert_eq!(
        interviews.get(&admin, interview.id).await.unwrap().id,
        interview.id
    );
    assert_eq!(
        interviews
            .list(&admin, PageRequest::default())
            .await
            .unwrap()
            .total,
        1
    );
    // Mallory's attempt changed nothing.
    assert_eq!(
        interviews.get(&alice, interview.id).await.unwrap(),
        interview
    );
}
