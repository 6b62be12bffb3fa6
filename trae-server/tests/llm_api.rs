//! `/api/llm` over HTTP, on SQLite and PostgreSQL, against scripted OpenAI-compatible
//! servers on 127.0.0.1: whole and streamed answers in the OpenAI shape, the model list,
//! every error status, and each permission attacked.

use poem::Endpoint;
use poem::Response;
use poem::http::StatusCode;
use poem::test::{TestClient, TestResponse};
use serde_json::{Value, json};
use trae_agents::Trae;
use trae_agents::testing::{Reply, ScriptedLlm};
use trae_auth::Registration;
use trae_core::{Config, Principal, RequestMeta};
use trae_server::App;
use trae_storage::{Store, storage_test};

const PASSWORD: &str = "correct horse battery";

struct Harness<E> {
    cli: TestClient<E>,
    state: Trae,
    admin: String,
    _dir: tempfile::TempDir,
}

async fn harness(url: &str) -> Harness<impl Endpoint<Output = Response>> {
    let dir = tempfile::tempdir().unwrap();
    let env: std::collections::HashMap<String, String> = [
        ("TRAE_DATA_DIR", dir.path().display().to_string()),
        ("TRAE_ADMIN_USERNAME", "root".to_owned()),
        ("TRAE_ADMIN_PASSWORD", PASSWORD.to_owned()),
        ("TRAE_OUTBOUND_ALLOW_LOOPBACK", "true".to_owned()),
        (
            "TRAE_MASTER_KEY",
            "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYgo=".to_owned(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = Config::from_sources(|k| env.get(k).cloned()).unwrap();
    let store = Store::connect(url).await.unwrap();
    let state = Trae::with_store(config, store).await.unwrap();
    state.bootstrap_admin().await.unwrap();
    let cli = TestClient::new(App::new(&state).await.unwrap().into_endpoint());
    let admin = token(&cli, "root").await;
    Harness {
        cli,
        state,
        admin,
        _dir: dir,
    }
}

async fn token<E: Endpoint<Output = Response>>(cli: &TestClient<E>, username: &str) -> String {
    let login = cli
        .post("/api/auth/login")
        .body_json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await;
    json_of(login).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn json_of(resp: TestResponse) -> Value {
    resp.0
        .into_body()
        .into_json::<Value>()
        .await
        .unwrap_or(Value::Null)
}

async fn expect_error(resp: TestResponse, status: StatusCode, code: &str) -> Value {
    let got = resp.0.status();
    let body = json_of(resp).await;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    body
}

impl<E: Endpoint<Output = Response>> Harness<E> {
    async fn post(&self, path: &str, token: &str, body: &Value) -> TestResponse {
        self.cli
            .post(path)
            .header("authorization", format!("Bearer {token}"))
            .body_json(body)
            .send()
            .await
    }

    async fn get(&self, path: &str, token: &str) -> TestResponse {
        self.cli
            .get(path)
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
    }

    async fn register(&self, name: &str, server: &ScriptedLlm, body: Value) {
        let mut spec = json!({"name": name, "capability": "llm.chat",
                              "base_url": server.base_url(), "timeout_ms": 3000});
        for (k, v) in body.as_object().unwrap() {
            spec[k] = v.clone();
        }
        let resp = self.post("/api/apis", &self.admin, &spec).await;
        assert_eq!(
            resp.0.status(),
            StatusCode::CREATED,
            "{}",
            json_of(resp).await
        );
    }

    async fn user_with(&self, username: &str, role: &str) -> String {
        self.state
            .identity()
            .users
            .create(
                &Principal::System,
                Registration {
                    username: username.into(),
                    email: format!("{username}@example.com"),
                    password: PASSWORD.into(),
                    full_name: None,
                },
                vec![role.into()],
                &RequestMeta::default(),
            )
            .await
            .unwrap();
        token(&self.cli, username).await
    }
}

fn hello() -> Value {
    json!({"messages": [{"role": "user", "content": "hi"}]})
}

storage_test!(
    a_chat_answers_in_the_openai_shape_and_lands_in_the_log,
    |url: String| async move {
        let h = harness(&url).await;
        let server = ScriptedLlm::start().await.unwrap();
        h.register(
            "local",
            &server,
            json!({"metadata": {"default_model": "smollm2", "context_window": 2048,
                                "input_price_per_million": 0.5,
                                "output_price_per_million": 1.5}}),
        )
        .await;
        server.push(Reply::tool_call("call_1", "read", r#"{"path":"a"}"#));
        let resp = h
            .post(
                "/api/llm/chat",
                &h.admin,
                &json!({"messages": [{"role": "system", "content": "be brief"},
                                     {"role": "user", "content": "read a"}],
                        "temperature": 0, "max_tokens": 100, "stop": ["END"], "seed": 1,
                        "tools": [{"type": "function", "function": {"name": "read",
                                   "parameters": {"type": "object"}}}]}),
            )
            .await;
        assert_eq!(resp.0.status(), StatusCode::OK);
        let body = json_of(resp).await;
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(
            body["model"], "scripted",
            "the model the provider says answered"
        );
        assert_eq!(server.requests()[0]["model"], "smollm2");
        assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
        let choice = &body["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["role"], "assistant");
        assert_eq!(choice["message"]["content"], Value::Null);
        assert_eq!(
            choice["message"]["tool_calls"][0],
            json!({"id": "call_1", "type": "function",
                   "function": {"name": "read", "arguments": "{\"path\":\"a\"}"}})
        );
        assert_eq!(
            body["usage"],
            json!({"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25})
        );
        assert_eq!(body["trae"]["endpoint"], "local");
        assert!(
            (body["trae"]["cost"].as_f64().unwrap() - (20.0 * 0.5 + 5.0 * 1.5) / 1e6).abs() < 1e-12
        );
        let sent = &server.requests()[0];
        assert_eq!(sent["max_tokens"], 100);
        assert_eq!(sent["tools"][0]["function"]["name"], "read");

        h.state.apis().registry().flush().await;
        let logs = json_of(h.get("/api/apis/local/logs", &h.admin).await).await;
        let log = &logs["items"][0];
        assert_eq!(log["model"], "smollm2");
        assert_eq!(log["prompt_tokens"], 20);
        assert_eq!(log["completion_tokens"], 5);

        let usage = json_of(h.get("/api/apis/local/usage", &h.admin).await).await;
        assert_eq!(usage["total"], 1, "{usage}");
        assert!(
            (usage["cost"].as_f64().unwrap() - body["trae"]["cost"].as_f64().unwrap()).abs()
                < 1e-12,
            "{usage}"
        );

        let models = json_of(h.get("/api/llm/models", &h.admin).await).await;
        assert_eq!(models["total"], 1);
        let m = &models["items"][0];
        assert_eq!(m["endpoint"], "local");
        assert_eq!(m["default_model"], "smollm2");
        assert_eq!(m["context_window"], 2048);
        assert_eq!(m["output_price_per_million"], 1.5);
        assert_eq!(m["models"], json!([]));
        h.state.close().await;
    }
);

#[tokio::test]
async fn a_streamed_chat_is_server_sent_chunks_ending_in_done() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
    let h = harness(&url).await;
    let server = ScriptedLlm::start().await.unwrap();
    h.register(
        "local",
        &server,
        json!({"metadata": {"default_model": "m"}}),
    )
    .await;
    server.push(Reply::text("Hello, streaming world"));
    let mut request = hello();
    request["stream"] = json!(true);
    let resp = h.post("/api/llm/chat", &h.admin, &request).await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    let content_type = resp.0.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let text = resp.0.into_body().into_string().await.unwrap();
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{text}");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(streamed, "Hello, streaming world");
    assert!(chunks.len() > 3, "in pieces: {text}");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["usage"]["prompt_tokens"], 10);
    assert_eq!(last["trae"]["endpoint"], "local");
    assert_eq!(server.requests()[0]["stream"], true);
}

#[tokio::test]
async fn every_failure_has_its_status_and_code() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
    let h = harness(&url).await;
    expect_error(
        h.post("/api/llm/chat", &h.admin, &hello()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let server = ScriptedLlm::start().await.unwrap();
    h.register(
        "local",
        &server,
        json!({"metadata": {"models": ["m"], "output_price_per_million": 1.0},
               "limits": {"per_minute": 3}}),
    )
    .await;
    let bad_bodies = [
        json!({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}),
        json!({"messages": [{"role": "user", "content": "hi"}], "n": 2}),
        json!({"messages": [{"role": "wizard", "content": "hi"}]}),
        json!({"messages": []}),
        json!({"messages": "hi"}),
        json!({"messages": [{"role": "user", "content": "hi"}],
               "response_format": {"type": "json_schema"}}),
        json!({"messages": [{"role": "user", "content": "hi"}], "temperature": 9}),
        json!({"messages": [{"role": "tool", "content": "42"}]}),
        json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": -1}),
    ];
    for body in &bad_bodies {
        let err = expect_error(
            h.post("/api/llm/chat", &h.admin, body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert!(!err["error"]["message"].as_str().unwrap().is_empty());
    }
    let mut poor = hello();
    poor["budget"] = json!({"cost": 0.0});
    expect_error(
        h.post("/api/llm/chat", &h.admin, &poor).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "budget_exceeded",
    )
    .await;
    let mut unknown = hello();
    unknown["model"] = json!("gpt-9");
    expect_error(
        h.post("/api/llm/chat", &h.admin, &unknown).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert!(
        server.requests().is_empty(),
        "nothing was sent for a refused call"
    );

    server.push(Reply::status(
        401,
        r#"{"error":{"message":"invalid api key"}}"#,
    ));
    let err = expect_error(
        h.post("/api/llm/chat", &h.admin, &hello()).await,
        StatusCode::BAD_GATEWAY,
        "upstream_failed",
    )
    .await;
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid api key")
    );

    let mut structured = hello();
    structured["response_format"] = json!({"type": "json_schema", "json_schema":
        {"name": "n", "schema": {"type": "object", "required": ["a"]}}});
    server.push(Reply::text("[]"));
    server.push(Reply::text("{}"));
    let err = expect_error(
        h.post("/api/llm/chat", &h.admin, &structured).await,
        StatusCode::BAD_GATEWAY,
        "invalid_answer",
    )
    .await;
    assert!(
        err["error"]["message"].as_str().unwrap().contains("/"),
        "{err}"
    );

    // Three calls so far this minute: the fourth is limited before it is sent.
    let sent = server.requests().len();
    let resp = h.post("/api/llm/chat", &h.admin, &hello()).await;
    assert!(resp.0.headers().contains_key("retry-after"));
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(server.requests().len(), sent);
}

#[tokio::test]
async fn only_llm_use_may_chat_or_list_models() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
    let h = harness(&url).await;
    let server = ScriptedLlm::start().await.unwrap();
    h.register(
        "local",
        &server,
        json!({"metadata": {"default_model": "m"}}),
    )
    .await;
    let viewer = h.user_with("vera", "viewer").await;
    for resp in [
        h.post("/api/llm/chat", &viewer, &hello()).await,
        h.get("/api/llm/models", &viewer).await,
    ] {
        let err = expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains("llm:use"),
            "{err}"
        );
    }
    let mut streamed = hello();
    streamed["stream"] = json!(true);
    expect_error(
        h.post("/api/llm/chat", &viewer, &streamed).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let anonymous = h.cli.post("/api/llm/chat").body_json(&hello()).send().await;
    expect_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(server.requests().is_empty());

    let user = h.user_with("uma", "user").await;
    server.push(Reply::text("allowed"));
    let resp = h.post("/api/llm/chat", &user, &hello()).await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    assert_eq!(
        json_of(resp).await["choices"][0]["message"]["content"],
        "allowed"
    );
    assert_eq!(
        h.get("/api/llm/models", &user).await.0.status(),
        StatusCode::OK
    );
}
