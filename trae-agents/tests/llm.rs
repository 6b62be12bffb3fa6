//! The model gateway against scripted OpenAI-compatible servers on 127.0.0.1, through the
//! real composition root: registry routing, failover, rate limits, budgets, streaming,
//! structured output, tools, personas, permissions and the usage logged per call.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use trae_agents::testing::{Reply, ScriptedLlm};
use trae_agents::{ModelStream, Trae};
use trae_core::{
    ApiEndpointSpec, BudgetLimits, ChatChunk, ChatMessage, ChatRequest, ChatResponse, ChatStream,
    Config, Error, FinishReason, PageRequest, Principal, RequestMeta, ResponseFormat, RunBudget,
    ToolSpec,
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

struct Harness {
    trae: Trae,
    _dir: tempfile::TempDir,
}

async fn open(url: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let trae = Trae::open(config(url, dir.path())).await.unwrap();
    Harness { trae, _dir: dir }
}

async fn sqlite() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/trae.db?mode=rwc", dir.path().display());
    let trae = Trae::open(config(&url, dir.path())).await.unwrap();
    Harness { trae, _dir: dir }
}

impl Harness {
    async fn register(&self, name: &str, server: &ScriptedLlm, priority: i32, metadata: Value) {
        let mut spec = ApiEndpointSpec::new(name, "llm.chat", server.base_url());
        spec.priority = priority;
        spec.timeout_ms = 3_000;
        spec.metadata = metadata;
        self.trae
            .apis()
            .registry()
            .create(&Principal::System, spec, &RequestMeta::default())
            .await
            .unwrap();
    }

    fn budget(&self) -> RunBudget {
        RunBudget::unlimited(self.trae.store().clock())
    }

    fn budget_of(&self, limits: BudgetLimits) -> RunBudget {
        RunBudget::new(limits, self.trae.store().clock())
    }

    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, Error> {
        self.trae
            .models()
            .chat(&Principal::System, request, &self.budget())
            .await
    }

    async fn stream(&self, request: ChatRequest) -> Result<ModelStream, Error> {
        self.trae
            .models()
            .stream(&Principal::System, request, &self.budget())
            .await
    }

    async fn logs(&self, endpoint: &str) -> Vec<trae_core::ApiAttempt> {
        let registry = self.trae.apis().registry();
        registry.flush().await;
        registry
            .logs(&Principal::System, endpoint, PageRequest::default())
            .await
            .unwrap()
            .items
    }
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::user(text)])
}

async fn drain(stream: &mut ModelStream) -> (Vec<ChatChunk>, Result<(), Error>) {
    let mut chunks = Vec::new();
    loop {
        match stream.next().await {
            Ok(Some(c)) => chunks.push(c),
            Ok(None) => return (chunks, Ok(())),
            Err(e) => return (chunks, Err(e)),
        }
    }
}

fn done(chunks: &[ChatChunk]) -> &ChatResponse {
    match chunks.last() {
        Some(ChatChunk::Done(r)) => r,
        other => panic!("the stream did not end with Done: {other:?}"),
    }
}

storage_test!(
    a_chat_answers_through_the_registry_and_logs_model_tokens_and_cost,
    |url: String| async move {
        let h = open(&url).await;
        let server = ScriptedLlm::start().await.unwrap();
        h.register(
            "local",
            &server,
            1,
            json!({"default_model": "smollm2", "input_price_per_million": 1.0,
                   "output_price_per_million": 2.0}),
        )
        .await;
        server.push(Reply::text("Hello there, friend"));
        let answer = h
            .chat(ChatRequest {
                temperature: Some(0.2),
                seed: Some(3),
                ..ask("hi")
            })
            .await
            .unwrap();
        assert_eq!(answer.content.as_deref(), Some("Hello there, friend"));
        assert_eq!(answer.endpoint, "local");
        assert_eq!(answer.finish_reason, FinishReason::Stop);
        assert!(answer.usage_reported);
        assert_eq!(
            (answer.usage.prompt_tokens, answer.usage.completion_tokens),
            (10, 5)
        );
        assert!((answer.cost - (10.0 * 1.0 + 5.0 * 2.0) / 1e6).abs() < 1e-12);
        assert!(!answer.tools_ignored);

        let sent = &server.requests()[0];
        assert_eq!(sent["model"], "smollm2", "the endpoint's default model");
        assert_eq!(sent["messages"], json!([{"role": "user", "content": "hi"}]));
        assert_eq!(sent["seed"], 3);
        assert!(sent.get("stream").is_none());

        let logs = h.logs("local").await;
        assert_eq!(logs.len(), 1);
        let log = &logs[0];
        assert_eq!(log.model.as_deref(), Some("smollm2"));
        assert_eq!(
            (log.prompt_tokens, log.completion_tokens),
            (Some(10), Some(5))
        );
        assert!(
            (log.cost - answer.cost).abs() < 1e-12,
            "the cost in dollars is logged"
        );
        assert!(log.success);
        assert_eq!(log.path, "/chat/completions");
        h.trae.close().await;
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_delivers_pieces_then_the_whole_answer_with_usage() {
    let h = sqlite().await;
    let server = ScriptedLlm::start().await.unwrap();
    h.register("local", &server, 1, json!({"default_model": "m"}))
        .await;
    server.push(Reply::Answer {
        content: Some("The answer is forty-two.".into()),
        tool_calls: vec![("call_1".into(), "lookup".into(), r#"{"q":"life"}"#.into())],
        finish_reason: "tool_calls".into(),
        usage: Some((12, 9)),
        piece: 3,
        delay: Duration::ZERO,
    });
    let mut stream = h.stream(ask("what is it?")).await.unwrap();
    assert_eq!((stream.model(), stream.endpoint()), ("m", "local"));
    let (chunks, end) = drain(&mut stream).await;
    end.unwrap();
    let text: String = chunks
        .iter()
        .filter_map(|c| match c {
            ChatChunk::Content(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "The answer is forty-two.");
    assert!(
        chunks
            .iter()
            .filter(|c| matches!(c, ChatChunk::Content(_)))
            .count()
            > 5,
        "the text arrives in pieces"
    );
    let answer = done(&chunks);
    assert_eq!(
        answer.model, "scripted",
        "the model the provider's chunks name"
    );
    assert_eq!(answer.content.as_deref(), Some("The answer is forty-two."));
    assert_eq!(answer.tool_calls[0].name, "lookup");
    assert_eq!(answer.tool_calls[0].arguments, r#"{"q":"life"}"#);
    assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
    assert_eq!(answer.usage.total(), 21);
    assert!(answer.usage_reported);
    let sent = &server.requests()[0];
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"], json!({"include_usage": true}));
    let accept = server.headers()[0]
        .iter()
        .find(|(n, _)| n == "accept")
        .map(|(_, v)| v.clone());
    assert_eq!(accept.as_deref(), Some("text/event-stream"));
    assert_eq!(stream.next().await.unwrap(), None, "nothing after the end");
    let logs = h.logs("local").await;
    assert_eq!(logs[0].completion_tokens, Some(9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_but_valid_event_streams_read_the_same() {
    let h = sqlite().await;
    let server = ScriptedLlm::start().await.unwrap();
    h.register("local", &server, 1, json!({"default_model": "m"}))
        .await;
    let body = concat!(
        ": keep-alive\r\n\r\n",
        "data: {\"choices\":[{\"delta\":\r\n",
        "data: {\"content\":\"Hel\"}}]}\r\n\r\n",
        ":\n\n",
        "event: message\ndata: {\"choices\":[{\"delta\":{\"content\":\"lo\"},",
        "\"finish_reason\":\"stop\"}]}\n\n"
    )
    .as_bytes();
    // Split inside a line, inside a CRLF and inside a UTF-8-free JSON token; no [DONE] and
    // no usage: the answer still ends, with its usage estimated.
    let pieces: Vec<Vec<u8>> = [&body[..20], &body[20..47], &body[47..48], &body[48..]]
        .iter()
        .map(|p| p.to_vec())
        .collect();
    server.push(Reply::RawStream(pieces));
    let mut stream = h.stream(ask("hi")).await.unwrap();
    let (chunks, end) = drain(&mut stream).await;
    end.unwrap();
    let answer = done(&chunks);
    assert_eq!(answer.content.as_deref(), Some("Hello"));
    assert_eq!(answer.finish_reason, FinishReason::Stop);
    assert!(!answer.usage_reported, "no usage chunk: estimated");
    assert!(answer.usage.prompt_tokens > 0);

    server.push(Reply::RawStream(vec![
        b": nothing but a comment\n\n".to_vec(),
    ]));
    let mut empty = h.stream(ask("hi")).await.unwrap();
    let (_, end) = drain(&mut empty).await;
    let err = end.unwrap_err();
    assert!(matches!(err, Error::Upstream(_)), "{err:?}");
    assert!(err.to_string().contains("before any answer"), "{err}");

    server.push(Reply::RawStream(vec![b"data: {not json}\n\n".to_vec()]));
    let mut garbled = h.stream(ask("hi")).await.unwrap();
    let (_, end) = drain(&mut garbled).await;
    assert!(matches!(end.unwrap_err(), Error::Upstream(_)));
    let logs = h.logs("local").await;
    assert_eq!(logs.iter().filter(|l| !l.success).count(), 2, "{logs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_happens_before_the_answer_starts_and_never_after() {
    let h = sqlite().await;
    let first = ScriptedLlm::start().await.unwrap();
    let second = ScriptedLlm::start().await.unwrap();
    h.register("first", &first, 1, json!({"default_model": "m"}))
        .await;
    h.register("second", &second, 2, json!({"default_model": "m"}))
        .await;
    for _ in 0..3 {
        first.push(Reply::status(503, r#"{"error":{"message":"overloaded"}}"#));
    }
    second.push(Reply::text("from the second"));
    let answer = h.chat(ask("hi")).await.unwrap();
    assert_eq!(answer.endpoint, "second");
    assert_eq!(
        first.requests().len(),
        3,
        "retried on the first, then failed over"
    );

    // A stream that breaks after its first piece is not sent anywhere else (fresh endpoints:
    // three failures in a row made the first one failing, and calls skip it now).
    let primary = ScriptedLlm::start().await.unwrap();
    let backup = ScriptedLlm::start().await.unwrap();
    h.register("primary", &primary, 0, json!({"models": ["s"]}))
        .await;
    h.register("backup", &backup, 3, json!({"models": ["s"]}))
        .await;
    primary.push(Reply::Broken(vec![
        b"data: {\"choices\":[{\"delta\":{\"content\":\"par\"}}]}\n\n".to_vec(),
    ]));
    backup.push(Reply::text("never"));
    let mut stream = h
        .stream(ChatRequest {
            model: Some("s".into()),
            ..ask("hi")
        })
        .await
        .unwrap();
    assert_eq!(stream.endpoint(), "primary");
    let (chunks, end) = drain(&mut stream).await;
    assert_eq!(chunks, [ChatChunk::Content("par".into())]);
    assert!(matches!(end.unwrap_err(), Error::Upstream(_)));
    assert!(
        backup.requests().is_empty(),
        "no retry once tokens were delivered"
    );
    let logs = h.logs("primary").await;
    let broken = logs
        .iter()
        .find(|l| l.error.is_some() && l.status == Some(200));
    assert!(
        broken.is_some(),
        "the broken stream is logged as failed: {logs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_waits_for_retry_after_and_a_4xx_is_not_retried() {
    let h = sqlite().await;
    let server = ScriptedLlm::start().await.unwrap();
    h.register("local", &server, 1, json!({"default_model": "m"}))
        .await;
    server.push(Reply::Status {
        status: 429,
        body: "{}".into(),
        retry_after: Some(1),
    });
    server.push(Reply::text("after the wait"));
    let started = Instant::now();
    let answer = h.chat(ask("hi")).await.unwrap();
    assert_eq!(answer.content.as_deref(), Some("after the wait"));
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After was honoured"
    );

    server.push(Reply::status(
        400,
        r#"{"error":{"message":"model m does not exist"}}"#,
    ));
    let err = h.chat(ask("hi")).await.unwrap_err();
    assert!(matches!(err, Error::Upstream(_)), "{err:?}");
    assert!(err.to_string().contains("model m does not exist"), "{err}");
    assert!(err.to_string().contains("400"), "{err}");
    assert_eq!(server.requests().len(), 3, "the 400 was not retried");

    server.push(Reply::status(200, "<html>not json</html>"));
    let err = h.chat(ask("hi")).await.unwrap_err();
    assert!(err.to_string().contains("not a chat completion"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_pinned_to_endpoints_go_only_there() {
    let h = sqlite().await;
    let cloud = ScriptedLlm::start().await.unwrap();
    let local = ScriptedLlm::start().await.unwrap();
    h.register(
        "openai",
        &cloud,
        1,
        json!({"models": ["gpt-4o-mini"], "context_window": 128000}),
    )
    .await;
    h.register("local", &local, 2, json!({"models": ["smollm2"]}))
        .await;
    local.push(Reply::text("small"));
    let answer = h
        .chat(ChatRequest {
            model: Some("smollm2".into()),
            ..ask("hi")
        })
        .await
        .unwrap();
    assert_eq!(answer.endpoint, "local");
    assert!(
        cloud.requests().is_empty(),
        "the pinned model skips the first endpoint"
    );

    cloud.push(Reply::text("big"));
    let answer = h.chat(ask("hi")).await.unwrap();
    assert_eq!(
        answer.endpoint, "openai",
        "no model named: the first endpoint's default"
    );
    assert_eq!(cloud.requests()[0]["model"], "gpt-4o-mini");

    let err = h
        .chat(ChatRequest {
            model: Some("claude".into()),
            ..ask("hi")
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("claude"), "{err}");

    let listed = h
        .trae
        .models()
        .models(&Principal::System, PageRequest::default())
        .await
        .unwrap();
    let names: Vec<&str> = listed.items.iter().map(|m| m.endpoint.as_str()).collect();
    assert_eq!(names, ["openai", "local"]);
    assert_eq!(listed.total, 2);
    assert_eq!(listed.items[0].context_window, Some(128_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_refuse_before_anything_is_sent_and_cap_the_answer() {
    let h = sqlite().await;
    let server = ScriptedLlm::start().await.unwrap();
    h.register(
        "local",
        &server,
        1,
        json!({"default_model": "m", "context_window": 60,
               "input_price_per_million": 1000.0, "output_price_per_million": 2000.0}),
    )
    .await;
    let models = h.trae.models();
    let tokens = h.budget_of(BudgetLimits {
        tokens: Some(10),
        ..BudgetLimits::default()
    });
    let err = models
        .chat(&Principal::System, ask(&"long ".repeat(40)), &tokens)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::BudgetExceeded {
                limit: "tokens",
                ..
            }
        ),
        "{err:?}"
    );
    let cost = h.budget_of(BudgetLimits {
        cost: Some(0.000_001),
        ..BudgetLimits::default()
    });
    let err = models
        .chat(&Principal::System, ask("hi"), &cost)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BudgetExceeded { limit: "cost", .. }),
        "{err:?}"
    );
    assert!(server.requests().is_empty(), "nothing was sent");

    // The run's tokens and the context window both cap max_tokens.
    server.push(Reply::text("ok"));
    let roomy = h.budget_of(BudgetLimits {
        tokens: Some(1_000),
        call_tokens: Some(500),
        ..BudgetLimits::default()
    });
    let answer = models
        .chat(&Principal::System, ask("hi"), &roomy)
        .await
        .unwrap();
    let sent = server.requests()[0]["max_tokens"].as_u64().unwrap();
    assert!(sent < 60, "capped by the context window: {sent}");
    assert_eq!(roomy.spent().tokens, answer.usage.total());
    assert_eq!(roomy.spent().calls, 1);
    assert!((roomy.spent().cost - answer.cost).abs() < 1e-12);

    // A prompt that fills the window alone finds no endpoint.
    let err = models
        .chat(&Principal::System, ask(&"word ".repeat(100)), &h.budget())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(server.requests().len(), 1);
}

fn plan_schema() -> Value {
    json!({"type": "object", "required": ["steps"],
           "properties": {"steps": {"type": "array", "items": {"type": "string"}}},
           "additionalProperties": false})
}

fn planned(text: &str) -> ChatRequest {
    ChatRequest {
        response_format: Some(ResponseFormat::JsonSchema {
            name: "plan".into(),
            schema: plan_schema(),
        }),
        ..ask(text)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn structured_answers_are_checked_and_repaired_once() {
    let h = sqlite().await;
    let native = ScriptedLlm::start().await.unwrap();
    h.register("native", &native, 1, json!({"default_model": "m"}))
        .await;
    native.push(Reply::text(r#"{"steps": ["a", 2]}"#));
    native.push(Reply::text(r#"{"steps": ["a", "b"]}"#));
    let answer = h.chat(planned("plan it")).await.unwrap();
    assert_eq!(answer.json, Some(json!({"steps": ["a", "b"]})));
    assert_eq!(answer.repairs, 1);
    assert_eq!(answer.usage.prompt_tokens, 20, "both rounds are counted");
    let sent = native.requests();
    assert_eq!(sent[0]["response_format"]["type"], "json_schema");
    assert_eq!(
        sent[0]["response_format"]["json_schema"]["schema"],
        plan_schema()
    );
    let repair = sent[1]["messages"].as_array().unwrap();
    assert_eq!(repair.len(), 3);
    assert_eq!(repair[1]["content"], r#"{"steps": ["a", 2]}"#);
    assert!(
        repair[2]["content"].as_str().unwrap().contains("/steps/1"),
        "{repair:?}"
    );

    native.push(Reply::text("no idea"));
    native.push(Reply::text(r#"{"steps": "one"}"#));
    let err = h.chat(planned("plan it")).await.unwrap_err();
    match err {
        Error::InvalidAnswer { path, .. } => assert_eq!(path, "/steps"),
        other => panic!("{other:?}"),
    }
    assert_eq!(native.requests().len(), 4, "one repair round, no more");

    let err = h
        .chat(ChatRequest {
            response_format: Some(ResponseFormat::JsonSchema {
                name: "bad".into(),
                schema: json!({"type": 12}),
            }),
            ..ask("x")
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Validation { field, .. } if field == "response_format.schema"),
        "{err:?}"
    );
    assert_eq!(native.requests().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_without_schema_mode_is_instructed_instead() {
    let h = sqlite().await;
    let plain = ScriptedLlm::start().await.unwrap();
    h.register(
        "plain",
        &plain,
        1,
        json!({"default_model": "m", "json_schema": false}),
    )
    .await;
    plain.push(Reply::text("```json\n{\"steps\": []}\n```"));
    let answer = h.chat(planned("plan it")).await.unwrap();
    assert_eq!(answer.json, Some(json!({"steps": []})));
    let sent = &plain.requests()[0];
    assert!(sent.get("response_format").is_none());
    let instruction = sent["messages"][0]["content"].as_str().unwrap();
    assert!(instruction.contains("\"steps\""), "{instruction}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_go_out_and_come_back_and_an_ignoring_model_is_reported() {
    let h = sqlite().await;
    let server = ScriptedLlm::start().await.unwrap();
    h.register("local", &server, 1, json!({"default_model": "m"}))
        .await;
    let tools = vec![ToolSpec {
        name: "read_file".into(),
        description: Some("Reads a file".into()),
        parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
    }];
    server.push(Reply::tool_call(
        "call_7",
        "read_file",
        r#"{"path":"a.py"}"#,
    ));
    let answer = h
        .chat(ChatRequest {
            tools: tools.clone(),
            ..ask("read a.py")
        })
        .await
        .unwrap();
    assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
    assert_eq!(answer.tool_calls[0].id, "call_7");
    assert_eq!(
        answer.tool_calls[0].arguments_json().unwrap(),
        json!({"path": "a.py"})
    );
    assert!(!answer.tools_ignored);
    assert_eq!(
        server.requests()[0]["tools"][0]["function"]["name"],
        "read_file"
    );

    // The conversation goes on with the tool's result.
    server.push(Reply::text("I read it and will not call anything"));
    let follow = ChatRequest {
        tools,
        ..ChatRequest::new(vec![
            ChatMessage::user("read a.py"),
            ChatMessage {
                content: None,
                tool_calls: answer.tool_calls.clone(),
                ..ChatMessage::assistant("")
            },
            ChatMessage::tool_result("call_7", "print(1)"),
        ])
    };
    let second = h.chat(follow).await.unwrap();
    assert!(second.tools_ignored, "tools offered, none called: reported");
    let sent = &server.requests()[1]["messages"];
    assert_eq!(sent[1]["tool_calls"][0]["function"]["name"], "read_file");
    assert_eq!(sent[2]["tool_call_id"], "call_7");
    assert_eq!(server.requests().len(), 2, "not looped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_goes_away_closes_the_upstream_stream() {
    let h = sqlite().await;
    let server = ScriptedLlm::start().await.unwrap();
    h.register(
        "local",
        &server,
        1,
        json!({"default_model": "m", "output_price_per_million": 1.0}),
    )
    .await;
    server.push(Reply::Answer {
        content: Some("a long answer that goes on and on ".repeat(20)),
        tool_calls: Vec::new(),
        finish_reason: "stop".into(),
        usage: Some((10, 200)),
        piece: 2,
        delay: Duration::from_millis(20),
    });
    let budget = h.budget();
    let mut stream = h
        .trae
        .models()
        .stream(&Principal::System, ask("talk"), &budget)
        .await
        .unwrap();
    for _ in 0..3 {
        stream.next().await.unwrap().unwrap();
    }
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.cut_short() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        server.cut_short(),
        1,
        "the provider saw the connection close"
    );
    assert_eq!(budget.spent().calls, 1, "what was used is charged");
    assert!(budget.spent().tokens > 10);
    let logs = h.logs("local").await;
    assert_eq!(
        logs[0].error.as_deref(),
        Some("the caller stopped reading"),
        "{logs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persona_becomes_the_system_message() {
    let h = sqlite().await;
    let server = ScriptedLlm::start().await.unwrap();
    h.register("local", &server, 1, json!({"default_model": "m"}))
        .await;
    let persona = h
        .trae
        .content()
        .personas
        .create(
            &Principal::System,
            serde_json::from_value(json!({"name": "Ada", "description": "A careful engineer",
                                          "tone": "formal"}))
            .unwrap(),
        )
        .await
        .unwrap();
    server.push(Reply::text("Good day."));
    h.chat(ChatRequest {
        persona: Some(persona.id),
        ..ChatRequest::new(vec![
            ChatMessage::system("be brief"),
            ChatMessage::user("hi"),
        ])
    })
    .await
    .unwrap();
    let messages = server.requests()[0]["messages"].clone();
    assert_eq!(messages[0]["role"], "system");
    assert!(
        messages[0]["content"].as_str().unwrap().contains("Ada"),
        "{messages}"
    );
    assert_eq!(messages[1]["content"], "be brief");
    let err = h
        .chat(ChatRequest {
            persona: Some(uuid::Uuid::now_v7()),
            ..ask("hi")
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_principals_with_llm_use_may_call_models() {
    let h = sqlite().await;
    let server = ScriptedLlm::start().await.unwrap();
    h.register("local", &server, 1, json!({"default_model": "m"}))
        .await;
    let as_role = |role: &str| Principal::User {
        user_id: uuid::Uuid::now_v7(),
        username: Some(role.to_owned()),
        session_id: None,
        roles: vec![role.to_owned()],
    };
    let viewer = as_role("viewer");
    let models = h.trae.models();
    let budget = h.budget();
    let err = models.chat(&viewer, ask("hi"), &budget).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
    assert!(err.to_string().contains("llm:use"), "{err}");
    assert!(models.stream(&viewer, ask("hi"), &budget).await.is_err());
    assert!(matches!(
        models
            .models(&viewer, PageRequest::default())
            .await
            .unwrap_err(),
        Error::Forbidden(_)
    ));
    assert!(server.requests().is_empty());

    server.push(Reply::text("yes"));
    let user = as_role("user");
    let model = models.acting_for(user);
    let answer = model.chat(ask("hi"), &budget).await.unwrap();
    assert_eq!(answer.content.as_deref(), Some("yes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_and_bad_endpoint_metadata_are_refused_clearly() {
    let h = sqlite().await;
    let server = ScriptedLlm::start().await.unwrap();
    let err = h.chat(ask("hi")).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { .. }),
        "no endpoint yet: {err:?}"
    );
    let mut spec = ApiEndpointSpec::new("bad", "llm.chat", server.base_url());
    spec.metadata = json!({"context_window": "big"});
    let err = h
        .trae
        .apis()
        .registry()
        .create(&Principal::System, spec, &RequestMeta::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Validation { field, .. } if field == "metadata.context_window"),
        "{err:?}"
    );
    h.register("local", &server, 1, json!({"default_model": "m"}))
        .await;
    let err = h
        .chat(ChatRequest {
            temperature: Some(3.0),
            ..ask("hi")
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Validation { field, .. } if field == "temperature"),
        "{err:?}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_come_from_the_vault_and_a_stalled_stream_times_out() {
    let h = sqlite().await;
    let server = ScriptedLlm::start().await.unwrap();
    h.trae
        .vault()
        .await
        .unwrap()
        .set(
            &Principal::System,
            "OPENAI_KEY",
            trae_auth::SetSecret::value("sk-test-5e6f7a8b9c"),
            &RequestMeta::default(),
        )
        .await
        .unwrap();
    let mut spec = ApiEndpointSpec::new("cloud", "llm.chat", server.base_url());
    spec.auth = trae_core::ApiAuth::Bearer {
        secret: "OPENAI_KEY".into(),
    };
    spec.timeout_ms = 300;
    spec.metadata = json!({"default_model": "m"});
    h.trae
        .apis()
        .registry()
        .create(&Principal::System, spec, &RequestMeta::default())
        .await
        .unwrap();
    server.push(Reply::text("ok"));
    h.chat(ask("hi")).await.unwrap();
    let auth = server.headers()[0]
        .iter()
        .find(|(n, _)| n == "authorization")
        .map(|(_, v)| v.clone());
    assert_eq!(auth.as_deref(), Some("Bearer sk-test-5e6f7a8b9c"));

    // Pieces 1 s apart against a 300 ms timeout: the first piece is late already.
    server.push(Reply::Answer {
        content: Some("slow".into()),
        tool_calls: Vec::new(),
        finish_reason: "stop".into(),
        usage: None,
        piece: 1,
        delay: Duration::from_secs(1),
    });
    let started = Instant::now();
    let mut stream = h.stream(ask("hi")).await.unwrap();
    let (chunks, end) = drain(&mut stream).await;
    let err = end.unwrap_err();
    assert!(chunks.is_empty(), "{chunks:?}");
    assert!(matches!(err, Error::Upstream(_)), "{err:?}");
    assert!(err.to_string().contains("within 300 ms"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(server.requests().len(), 2, "a stream is never retried");
}
