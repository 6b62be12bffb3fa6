//! `/api/tdd/runs` over HTTP, on SQLite and PostgreSQL: a run created, executed by the
//! worker against a scripted OpenAI-compatible server on 127.0.0.1, read with its steps and
//! diff, and accepted; every error status; and each permission attacked (a `user` may not
//! run agents, a developer may not touch another's run).

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

async fn harness(
    url: &str,
    workspace: &std::path::Path,
) -> Harness<impl Endpoint<Output = Response>> {
    let dir = tempfile::tempdir().unwrap();
    let env: std::collections::HashMap<String, String> = [
        ("TRAE_DATA_DIR", dir.path().display().to_string()),
        ("TRAE_ADMIN_USERNAME", "root".to_owned()),
        ("TRAE_ADMIN_PASSWORD", PASSWORD.to_owned()),
        ("TRAE_OUTBOUND_ALLOW_LOOPBACK", "true".to_owned()),
        ("TRAE_AGENT_WORKSPACES", workspace.display().to_string()),
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

const LIB_RS: &str = "pub fn double(x: i32) -> i32 {\n    x + 2\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn doubles_three() {\n        assert_eq!(super::double(3), 6);\n    }\n}\n";
const FIX: &str = "src/lib.rs\n<<<<<<< SEARCH\npub fn double(x: i32) -> i32 {\n    x + 2\n}\n=======\npub fn double(x: i32) -> i32 {\n    x * 2\n}\n>>>>>>> REPLACE\n";

/// A small cargo project with a bug, inside `workspace`.
fn project(workspace: &std::path::Path) -> std::path::PathBuf {
    let project = workspace.join("double");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(
        project.join("Cargo.toml"),
        "[package]\nname = \"double\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(project.join("src/lib.rs"), LIB_RS).unwrap();
    project
}

fn new_run(project: &std::path::Path) -> Value {
    json!({"path": project.display().to_string(), "test": "cargo test --quiet", "max_iterations": 2})
}

storage_test!(
    a_run_is_created_executed_read_and_accepted,
    |url: String| async move {
        let workspace = tempfile::tempdir().unwrap();
        let h = harness(&url, workspace.path()).await;
        let project = project(workspace.path());
        let server = ScriptedLlm::start().await.unwrap();
        h.register(
            "local",
            &server,
            json!({"metadata": {"default_model": "m"}}),
        )
        .await;
        server.push(Reply::text(FIX));
        let dev = h.user_with("dev", "developer").await;

        let resp = h.post("/api/tdd/runs", &dev, &new_run(&project)).await;
        assert_eq!(resp.0.status(), StatusCode::CREATED);
        let location = resp
            .0
            .headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let run = json_of(resp).await;
        assert_eq!(run["status"], "queued");
        assert_eq!(run["test"], json!(["cargo", "test", "--quiet"]));
        assert_eq!(
            location,
            format!("/api/tdd/runs/{}", run["id"].as_str().unwrap())
        );

        h.state
            .worker(vec!["default".into()], 1)
            .unwrap()
            .run_until_idle()
            .await
            .unwrap();
        let detail = json_of(h.get(&location, &dev).await).await;
        assert_eq!(detail["run"]["status"], "passed", "{detail}");
        assert_eq!(detail["run"]["changed_files"], json!(["src/lib.rs"]));
        let steps = detail["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0]["report"]["green"], false);
        assert_eq!(steps[1]["report"]["green"], true);
        assert_eq!(steps[1]["edits"][0]["applied"], true);
        assert_eq!(steps[1]["edits"][0]["placement"], "exact");
        assert!(steps[1]["edits"][0]["refusal"].is_null());

        let diff = json_of(h.get(&format!("{location}/diff"), &dev).await).await;
        assert_eq!(diff["project_changed"], false);
        assert!(
            diff["files"][0]["diff"]
                .as_str()
                .unwrap()
                .contains("+    x * 2")
        );
        let listed = json_of(h.get("/api/tdd/runs?status=passed", &dev).await).await;
        assert_eq!(listed["total"], 1);

        let accepted = h
            .post(&format!("{location}/accept"), &dev, &json!({}))
            .await;
        assert_eq!(accepted.0.status(), StatusCode::OK);
        assert!(json_of(accepted).await["accepted_at"].is_string());
        assert!(
            std::fs::read_to_string(project.join("src/lib.rs"))
                .unwrap()
                .contains("x * 2")
        );
        expect_error(
            h.post(&format!("{location}/accept"), &dev, &json!({}))
                .await,
            StatusCode::CONFLICT,
            "conflict",
        )
        .await;
        expect_error(
            h.post(&format!("{location}/cancel"), &dev, &json!({}))
                .await,
            StatusCode::CONFLICT,
            "conflict",
        )
        .await;
    }
);

storage_test!(
    bad_runs_are_refused_with_clear_errors,
    |url: String| async move {
        let workspace = tempfile::tempdir().unwrap();
        let h = harness(&url, workspace.path()).await;
        let project = project(workspace.path());
        let path = project.display().to_string();
        let outside = tempfile::tempdir().unwrap();
        for (body, field) in [
            (
                json!({"path": outside.path().display().to_string(), "test": "cargo test"}),
                "path",
            ),
            (json!({"path": "/etc", "test": "cargo test"}), "path"),
            (
                json!({"path": format!("{path}/../../.."), "test": "cargo test"}),
                "path",
            ),
            (json!({"path": path, "test": "   "}), "test"),
            (json!({"path": path, "test": "cargo 'test"}), "test"),
            (json!({"path": path}), "test"),
            (
                json!({"path": path, "test": "cargo test", "test_argv": ["cargo", "test"]}),
                "test",
            ),
            (
                json!({"path": path, "test": "cargo test", "max_iterations": 0}),
                "max_iterations",
            ),
            (
                json!({"path": path, "test": "cargo test", "max_iterations": 51}),
                "max_iterations",
            ),
            (
                json!({"path": path, "test": "cargo test", "budget": {"cost": -1.0}}),
                "budget.cost",
            ),
        ] {
            let body_text = body.to_string();
            let error = expect_error(
                h.post("/api/tdd/runs", &h.admin, &body).await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            )
            .await;
            assert!(
                error["error"]["message"].as_str().unwrap().contains(field),
                "{body_text}: {error}"
            );
        }
        for body in [
            json!({"path": path, "test": ["cargo", "test"]}),
            json!({"path": path, "test": "cargo test", "max_iterations": "5"}),
            json!({"path": path, "test": "cargo test", "shell": true}),
            json!({"path": 7, "test": "cargo test"}),
        ] {
            expect_error(
                h.post("/api/tdd/runs", &h.admin, &body).await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            )
            .await;
        }
        expect_error(
            h.get("/api/tdd/runs/not-a-uuid", &h.admin).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
        let missing = format!("/api/tdd/runs/{}", uuid::Uuid::now_v7());
        expect_error(
            h.get(&missing, &h.admin).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        expect_error(
            h.post(&format!("{missing}/accept"), &h.admin, &json!({}))
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        expect_error(
            h.get("/api/tdd/runs?status=nope", &h.admin).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
        let listed = json_of(h.get("/api/tdd/runs", &h.admin).await).await;
        assert_eq!(listed["total"], 0, "nothing half-written: {listed}");
    }
);

storage_test!(
    permissions_are_decided_per_run_and_role,
    |url: String| async move {
        let workspace = tempfile::tempdir().unwrap();
        let h = harness(&url, workspace.path()).await;
        let project = project(workspace.path());
        let user = h.user_with("plain", "user").await;
        let viewer = h.user_with("looker", "viewer").await;
        let alice = h.user_with("alice", "developer").await;
        let mallory = h.user_with("mallory", "developer").await;
        for token in [&user, &viewer] {
            expect_error(
                h.post("/api/tdd/runs", token, &new_run(&project)).await,
                StatusCode::FORBIDDEN,
                "forbidden",
            )
            .await;
            expect_error(
                h.get("/api/tdd/runs", token).await,
                StatusCode::FORBIDDEN,
                "forbidden",
            )
            .await;
            // Nor through the task queue directly.
            let task = json!({"kind": "tdd.run", "payload": {"run_id": uuid::Uuid::now_v7()}});
            expect_error(
                h.post("/api/tasks", token, &task).await,
                StatusCode::FORBIDDEN,
                "forbidden",
            )
            .await;
        }
        expect_error(
            h.cli.get("/api/tdd/runs").send().await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;

        let run = json_of(h.post("/api/tdd/runs", &alice, &new_run(&project)).await).await;
        let at = format!("/api/tdd/runs/{}", run["id"].as_str().unwrap());
        expect_error(
            h.get(&at, &mallory).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        expect_error(
            h.get(&format!("{at}/diff"), &mallory).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        expect_error(
            h.post(&format!("{at}/cancel"), &mallory, &json!({})).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        expect_error(
            h.post(&format!("{at}/accept"), &mallory, &json!({})).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        assert_eq!(
            json_of(h.get("/api/tdd/runs", &mallory).await).await["total"],
            0
        );
        assert_eq!(
            json_of(h.get("/api/tdd/runs", &h.admin).await).await["total"],
            1
        );

        // The owner cancels; a cancelled run cannot be accepted.
        let cancelled = json_of(h.post(&format!("{at}/cancel"), &alice, &json!({})).await).await;
        assert_eq!(cancelled["status"], "cancelled");
        expect_error(
            h.post(&format!("{at}/accept"), &alice, &json!({})).await,
            StatusCode::CONFLICT,
            "conflict",
        )
        .await;
    }
);
