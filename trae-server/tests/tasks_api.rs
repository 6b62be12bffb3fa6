//! The task queue over HTTP, on SQLite and PostgreSQL, with the built-in worker kinds.

use std::time::Duration;

use poem::http::StatusCode;
use poem::test::{TestClient, TestResponse};
use poem::{Endpoint, Response};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trae_agents::Trae;
use trae_core::Config;
use trae_server::App;
use trae_storage::{Store, storage_test};

// This binary uses only part of the shared helpers.
#[allow(dead_code)]
mod common;

const PASSWORD: &str = "correct horse battery";

struct Harness<E> {
    cli: TestClient<E>,
    state: Trae,
    token: String,
    _dir: tempfile::TempDir,
}

async fn harness(url: &str, vars: &[(&str, &str)]) -> Harness<impl Endpoint<Output = Response>> {
    let dir = tempfile::tempdir().unwrap();
    let mut env: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    env.insert("TRAE_DATA_DIR".into(), dir.path().display().to_string());
    // PostgreSQL needs a shared secrets master key.
    env.entry("TRAE_MASTER_KEY".into())
        .or_insert_with(|| "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYgo=".into());
    env.insert("TRAE_ADMIN_USERNAME".into(), "root".into());
    env.insert("TRAE_ADMIN_PASSWORD".into(), PASSWORD.into());
    let config = Config::from_sources(|k| env.get(k).cloned()).unwrap();
    let store = Store::connect(url).await.unwrap();
    let state = Trae::with_store(config, store).await.unwrap();
    state.bootstrap_admin().await.unwrap().expect("first admin");
    let cli = TestClient::new(App::new(&state).await.unwrap().into_endpoint());
    let login = cli
        .post("/api/auth/login")
        .body_json(&json!({"username": "root", "password": PASSWORD}))
        .send()
        .await;
    let token = json_of(login).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    Harness {
        cli,
        state,
        token,
        _dir: dir,
    }
}

async fn json_of(resp: TestResponse) -> Value {
    resp.0
        .into_body()
        .into_json::<Value>()
        .await
        .unwrap_or(Value::Null)
}

async fn expect_error(resp: TestResponse, status: StatusCode, code: &str) -> Value {
    assert_eq!(resp.0.status(), status);
    let body = json_of(resp).await;
    assert_eq!(body["error"]["code"], code, "{body}");
    body
}

impl<E: Endpoint<Output = Response>> Harness<E> {
    async fn post(&self, path: &str, body: &Value) -> TestResponse {
        self.cli
            .post(path)
            .header("authorization", format!("Bearer {}", self.token))
            .body_json(body)
            .send()
            .await
    }

    async fn get(&self, path: &str) -> TestResponse {
        self.cli
            .get(path)
            .header("authorization", format!("Bearer {}", self.token))
            .send()
            .await
    }

    async fn ok_json(&self, resp: TestResponse) -> Value {
        assert_eq!(resp.0.status(), StatusCode::OK);
        json_of(resp).await
    }

    /// Runs the built-in worker until nothing is due.
    async fn run_worker(&self) {
        self.state
            .worker(vec!["default".into()], 2)
            .unwrap()
            .run_until_idle()
            .await
            .unwrap();
    }
}

storage_test!(
    enqueue_one_a_duplicate_and_a_batch,
    |url: String| async move {
        let h = harness(&url, &[]).await;
        let resp = h
            .post(
                "/api/tasks",
                &json!({"kind": "noop", "payload": {"a": 1}, "priority": 2, "unique_key": "nightly", "tags": ["x"]}),
            )
            .await;
        assert_eq!(resp.0.status(), StatusCode::CREATED);
        let location = resp.0.headers()["location"].to_str().unwrap().to_owned();
        let task = json_of(resp).await;
        assert_eq!(
            location,
            format!("/api/tasks/{}", task["id"].as_str().unwrap())
        );
        assert_eq!(task["state"], "available");
        assert_eq!(task["priority"], 2);
        assert_eq!(task["queue"], "default");
        assert_eq!(task["payload"], json!({"a": 1}));
        assert!(task["created_by"].as_str().unwrap().starts_with("user:"));

        let again = h
            .post(
                "/api/tasks",
                &json!({"kind": "noop", "unique_key": "nightly"}),
            )
            .await;
        assert_eq!(again.0.status(), StatusCode::OK, "the holder comes back");
        assert_eq!(json_of(again).await["id"], task["id"]);

        let got = h.ok_json(h.get(&location).await).await;
        assert_eq!(got["id"], task["id"]);

        let batch = h
            .post(
                "/api/tasks",
                &json!({"tasks": [{"kind": "noop"}, {"kind": "noop", "queue": "mail"}, {"kind": "noop", "run_at": "2099-01-01T00:00:00Z"}]}),
            )
            .await;
        assert_eq!(batch.0.status(), StatusCode::CREATED);
        let batch = json_of(batch).await;
        let states: Vec<_> = batch["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["state"].clone())
            .collect();
        assert_eq!(
            states,
            vec![json!("available"), json!("available"), json!("scheduled")]
        );
    }
);

storage_test!(
    bad_tasks_are_422_and_leave_nothing_behind,
    |url: String| async move {
        let h = harness(&url, &[]).await;
        let body = expect_error(
            h.post("/api/tasks", &json!({"kind": "noop", "priority": 11}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("priority"),
            "{body}"
        );
        expect_error(
            h.post("/api/tasks", &json!({"kind": "noop", "shell": "rm -rf /"}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        let body = expect_error(
            h.post(
                "/api/tasks",
                &json!({"tasks": [{"kind": "noop"}, {"kind": "Bad Kind"}]}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("tasks[1].kind"),
            "{body}"
        );
        expect_error(
            h.post("/api/tasks", &json!({"tasks": []})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        let page = h.ok_json(h.get("/api/tasks").await).await;
        assert_eq!(page["total"], 0, "nothing of the bad batch was written");
        expect_error(
            h.get("/api/tasks?state=done").await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
        expect_error(
            h.get("/api/tasks/00000000-0000-0000-0000-000000000000")
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
);

storage_test!(
    credentials_and_permissions_are_required,
    |url: String| async move {
        let h = harness(&url, &[]).await;
        let anonymous = h
            .cli
            .post("/api/tasks")
            .body_json(&json!({"kind": "noop"}))
            .send()
            .await;
        expect_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let key = h
            .post(
                "/api/auth/api-keys",
                &json!({"name": "reader", "scopes": ["tasks:read"]}),
            )
            .await;
        assert_eq!(key.0.status(), StatusCode::CREATED);
        let key = json_of(key).await["key"].as_str().unwrap().to_owned();
        let read = h
            .cli
            .get("/api/tasks")
            .header("x-api-key", &key)
            .send()
            .await;
        assert_eq!(read.0.status(), StatusCode::OK);
        let write = h
            .cli
            .post("/api/tasks")
            .header("x-api-key", &key)
            .body_json(&json!({"kind": "noop"}))
            .send()
            .await;
        expect_error(write, StatusCode::FORBIDDEN, "forbidden").await;
    }
);

storage_test!(
    list_filters_cancel_retry_stats_and_pause,
    |url: String| async move {
        let h = harness(&url, &[]).await;
        h.post(
            "/api/tasks",
            &json!({"tasks": [
                {"kind": "noop", "tags": ["red"]},
                {"kind": "noop", "tags": ["blue"]},
                {"kind": "http.request", "payload": {"url": "http://127.0.0.1:9/"}, "queue": "outbound"},
            ]}),
        )
        .await;
        let red = h.ok_json(h.get("/api/tasks?tag=red").await).await;
        assert_eq!(red["total"], 1);
        let outbound = h
            .ok_json(h.get("/api/tasks?queue=outbound&kind=http.request").await)
            .await;
        assert_eq!(outbound["total"], 1);
        let page = h.ok_json(h.get("/api/tasks?limit=2&offset=0").await).await;
        assert_eq!(
            (
                page["total"].clone(),
                page["items"].as_array().unwrap().len()
            ),
            (json!(3), 2)
        );

        let id = red["items"][0]["id"].as_str().unwrap().to_owned();
        let cancelled = h
            .ok_json(h.post(&format!("/api/tasks/{id}/cancel"), &json!({})).await)
            .await;
        assert_eq!(cancelled["state"], "cancelled");
        expect_error(
            h.post(&format!("/api/tasks/{id}/cancel"), &json!({})).await,
            StatusCode::CONFLICT,
            "conflict",
        )
        .await;
        let retried = h
            .ok_json(h.post(&format!("/api/tasks/{id}/retry"), &json!({})).await)
            .await;
        assert_eq!(retried["state"], "available");

        h.run_worker().await;
        let done = h.ok_json(h.get(&format!("/api/tasks/{id}")).await).await;
        assert_eq!(done["state"], "completed");
        expect_error(
            h.post(&format!("/api/tasks/{id}/retry"), &json!({})).await,
            StatusCode::CONFLICT,
            "conflict",
        )
        .await;

        let paused = h
            .ok_json(h.post("/api/tasks/queues/outbound/pause", &json!({})).await)
            .await;
        assert_eq!(
            paused,
            json!({"queue": "outbound", "paused": true, "concurrency_limit": null})
        );
        let stats = h.ok_json(h.get("/api/tasks/stats").await).await;
        let queues = stats["queues"].as_array().unwrap();
        let default = queues.iter().find(|q| q["queue"] == "default").unwrap();
        assert_eq!(default["states"]["completed"], 2);
        assert_eq!(default["states"]["available"], 0);
        assert!(default["completed_last_minute"].as_u64().unwrap() >= 2);
        // Per kind: the counts add up to the queue's, and finished kinds have latencies.
        let kinds = default["kinds"].as_array().unwrap();
        assert!(!kinds.is_empty());
        let completed: u64 = kinds
            .iter()
            .map(|k| k["states"]["completed"].as_u64().unwrap())
            .sum();
        assert_eq!(completed, 2);
        for k in kinds.iter().filter(|k| k["completed_last_minute"] != 0) {
            assert!(k["average_run_secs"].as_f64().unwrap() >= 0.0, "{k}");
            assert!(k["average_wait_secs"].as_f64().unwrap() >= 0.0, "{k}");
        }
        let outbound = queues.iter().find(|q| q["queue"] == "outbound").unwrap();
        assert_eq!(outbound["paused"], true);
        assert_eq!(outbound["states"]["available"], 1);
        let resumed = h
            .ok_json(
                h.post("/api/tasks/queues/outbound/resume", &json!({}))
                    .await,
            )
            .await;
        assert_eq!(resumed["paused"], false);
        expect_error(
            h.post("/api/tasks/queues/Not%20A%20Queue/pause", &json!({}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
);

/// A request with a bearer token.
async fn as_user(
    cli: &TestClient<impl Endpoint<Output = Response>>,
    token: &str,
    method: &str,
    path: &str,
) -> TestResponse {
    let req = match method {
        "GET" => cli.get(path),
        _ => cli.post(path).body_json(&json!({})),
    };
    req.header("authorization", format!("Bearer {token}"))
        .send()
        .await
}

storage_test!(tasks_belong_to_their_enqueuer, |url: String| async move {
    let h = harness(&url, &[]).await;
    let alice = common::signed_in(&h.state, "alice", &["user"]).await;
    let mallory = common::signed_in(&h.state, "mallory", &["user"]).await;
    let viewer = common::signed_in(&h.state, "vera", &["viewer"]).await;
    let made = h
            .cli
            .post("/api/tasks")
            .header("authorization", format!("Bearer {alice}"))
            .body_json(&json!({"kind": "noop", "payload": {"secret": "alice's"}, "run_at": "2999-01-01T00:00:00Z"}))
            .send()
            .await;
    assert_eq!(made.0.status(), StatusCode::CREATED);
    let id = json_of(made).await["id"].as_str().unwrap().to_owned();

    // Another user and a viewer neither see it nor can change it.
    for token in [&mallory, &viewer] {
        let list = json_of(as_user(&h.cli, token, "GET", "/api/tasks").await).await;
        assert_eq!(list["total"], 0, "{list}");
        expect_error(
            as_user(&h.cli, token, "GET", &format!("/api/tasks/{id}")).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    for action in ["cancel", "retry"] {
        expect_error(
            as_user(
                &h.cli,
                &mallory,
                "POST",
                &format!("/api/tasks/{id}/{action}"),
            )
            .await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    // Users may not pause or resume a queue, nor limit it.
    for action in ["pause", "resume"] {
        expect_error(
            as_user(
                &h.cli,
                &alice,
                "POST",
                &format!("/api/tasks/queues/default/{action}"),
            )
            .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    // Enqueuing an outbound call needs the right to call APIs: a key scoped to tasks
    // alone is refused (it acts for alice, so it sees her task).
    let key = h
        .cli
        .post("/api/auth/api-keys")
        .header("authorization", format!("Bearer {alice}"))
        .body_json(&json!({"name": "tasks only", "scopes": ["tasks:read", "tasks:write"]}))
        .send()
        .await;
    assert_eq!(key.0.status(), StatusCode::CREATED);
    let key = json_of(key).await["key"].as_str().unwrap().to_owned();
    let outbound = h
        .cli
        .post("/api/tasks")
        .header("x-api-key", &key)
        .body_json(&json!({"kind": "http.request", "payload": {"url": "http://127.0.0.1:9/"}}))
        .send()
        .await;
    let body = expect_error(outbound, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(body.to_string().contains("apis:call"), "{body}");
    let seen = h
        .cli
        .get(format!("/api/tasks/{id}"))
        .header("x-api-key", &key)
        .send()
        .await;
    assert_eq!(seen.0.status(), StatusCode::OK);

    // The owner sees and changes it; the admin sees everyone's.
    let mine = json_of(as_user(&h.cli, &alice, "GET", "/api/tasks").await).await;
    assert_eq!(mine["total"], 1);
    assert_eq!(mine["items"][0]["payload"]["secret"], "alice's");
    let all = h.ok_json(h.get("/api/tasks").await).await;
    assert_eq!(all["total"], 1);
    let cancelled = as_user(&h.cli, &alice, "POST", &format!("/api/tasks/{id}/cancel")).await;
    assert_eq!(cancelled.0.status(), StatusCode::OK);
    let retried = h.post(&format!("/api/tasks/{id}/retry"), &json!({})).await;
    assert_eq!(retried.0.status(), StatusCode::OK);
    // Nothing the refused calls tried was done: the task is as the owner and admin left it.
    let task = h.ok_json(h.get(&format!("/api/tasks/{id}")).await).await;
    assert_eq!(task["state"], "available");
});

/// A one-shot HTTP server on 127.0.0.1 answering `status` with a JSON body; returns its URL.
async fn upstream(status: u16) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 8192];
            let _ = socket.read(&mut buf).await;
            let body = r#"{"pong":true}"#;
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    url
}

storage_test!(
    http_request_tasks_call_out_through_the_allow_list,
    |url: String| async move {
        let h = harness(&url, &[("TRAE_OUTBOUND_ALLOW_LOOPBACK", "true")]).await;
        let ok = upstream(200).await;
        let teapot = upstream(418).await;
        let ok_id = json_of(
            h.post("/api/tasks", &json!({"kind": "http.request", "payload": {"url": ok, "method": "POST", "body": {"ping": 1}}}))
                .await,
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let teapot_id = json_of(
            h.post(
                "/api/tasks",
                &json!({"kind": "http.request", "payload": {"url": teapot}}),
            )
            .await,
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        tokio::time::timeout(Duration::from_secs(30), h.run_worker())
            .await
            .unwrap();
        let done = h.ok_json(h.get(&format!("/api/tasks/{ok_id}")).await).await;
        assert_eq!(done["state"], "completed", "{done}");
        assert_eq!(done["result"]["status"], 200);
        assert_eq!(done["result"]["body"], json!({"pong": true}));
        let failed = h
            .ok_json(h.get(&format!("/api/tasks/{teapot_id}")).await)
            .await;
        assert_eq!(failed["state"], "failed", "a 4xx is not retried: {failed}");
        assert_eq!(failed["attempt"], 1);
        assert!(failed["last_error"].as_str().unwrap().contains("418"));
    }
);

storage_test!(
    loopback_calls_fail_unless_allowed,
    |url: String| async move {
        let h = harness(&url, &[]).await;
        let target = upstream(200).await;
        let id = json_of(
            h.post(
                "/api/tasks",
                &json!({"kind": "http.request", "payload": {"url": target}}),
            )
            .await,
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        h.run_worker().await;
        let t = h.ok_json(h.get(&format!("/api/tasks/{id}")).await).await;
        assert_eq!(t["state"], "failed", "{t}");
        assert!(
            t["last_error"].as_str().unwrap().contains("loopback"),
            "{t}"
        );
    }
);

storage_test!(
    enqueue_past_the_backlog_limit_answers_503_with_retry_after,
    |url: String| async move {
        let h = harness(&url, &[("TRAE_QUEUE_MAX_BACKLOG", "2")]).await;
        let batch = json!({"tasks": [{"kind": "noop"}, {"kind": "noop"}]});
        assert_eq!(
            h.post("/api/tasks", &batch).await.0.status(),
            StatusCode::CREATED
        );
        let resp = h.post("/api/tasks", &json!({"kind": "noop"})).await;
        assert_eq!(resp.0.status(), StatusCode::SERVICE_UNAVAILABLE);
        let retry_after: u64 = resp.0.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        let body = expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, "overloaded").await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("\"default\""), "{message}");
        // A batch that could never fit is a bad request, not "try later".
        let too_big = json!({"tasks": [{"kind": "noop", "queue": "q"}, {"kind": "noop", "queue": "q"}, {"kind": "noop", "queue": "q"}]});
        expect_error(
            h.post("/api/tasks", &too_big).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        let listed = h.ok_json(h.get("/api/tasks").await).await;
        assert_eq!(listed["total"], 2, "nothing refused was written");
        assert_eq!(listed["total_exact"], true);
        // Once the worker drains the queue, enqueues are taken again.
        h.run_worker().await;
        assert_eq!(
            h.post("/api/tasks", &json!({"kind": "noop"}))
                .await
                .0
                .status(),
            StatusCode::CREATED
        );
        // The spec declares the refusal and its header on the enqueue route.
        let spec: Value = serde_json::from_str(&App::new(&h.state).await.unwrap().spec()).unwrap();
        let refused = &spec["paths"]["/api/tasks"]["post"]["responses"]["503"];
        assert!(
            refused["description"]
                .as_str()
                .unwrap()
                .contains("overloaded"),
            "{refused}"
        );
        assert!(refused["headers"]["Retry-After"].is_object(), "{refused}");
        let page = &spec["components"]["schemas"]["TaskPage"]["properties"];
        assert!(page["total_exact"].is_object(), "{page}");
    }
);
