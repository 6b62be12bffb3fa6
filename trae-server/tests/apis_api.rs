//! The external API registry and orchestrator over HTTP, on SQLite and PostgreSQL, against
//! real HTTP servers on 127.0.0.1 playing the external APIs.

use std::sync::{Arc, Mutex};

use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::test::{TestClient, TestResponse};
use poem::{Endpoint, Request, Response};
use serde_json::{Value, json};
use trae_agents::Trae;
use trae_auth::{Registration, SetSecret};
use trae_core::{Config, Principal, RequestMeta};
use trae_server::App;
use trae_storage::{Store, storage_test};

const PASSWORD: &str = "correct horse battery";
const UPSTREAM_SECRET: &str = "sk-upstream-9d8c7b6a";

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
    // A second node on the same database finds the admin there already.
    state.bootstrap_admin().await.unwrap();
    state
        .vault()
        .await
        .unwrap()
        .set(
            &Principal::System,
            "UPSTREAM_KEY",
            SetSecret::value(UPSTREAM_SECRET),
            &RequestMeta::default(),
        )
        .await
        .unwrap();
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
    assert_eq!(resp.0.status(), status);
    let body = json_of(resp).await;
    assert_eq!(body["error"]["code"], code, "{body}");
    body
}

impl<E: Endpoint<Output = Response>> Harness<E> {
    async fn send(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> TestResponse {
        let req = match method {
            "GET" => self.cli.get(path),
            "POST" => self.cli.post(path),
            "PUT" => self.cli.put(path),
            "DELETE" => self.cli.delete(path),
            other => panic!("{other}"),
        }
        .header("authorization", format!("Bearer {token}"));
        match body {
            Some(b) => req.body_json(b).send().await,
            None => req.send().await,
        }
    }

    async fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let resp = self.send(method, path, &self.admin, body).await;
        let status = resp.0.status();
        let json = json_of(resp).await;
        assert!(status.is_success(), "{method} {path}: {status} {json}");
        json
    }

    /// A user holding only `role`'s permissions, signed in.
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

/// A fake external API: answers `status` with a JSON body and records the headers it saw.
async fn upstream(status: u16) -> (String, Arc<Mutex<Vec<Vec<(String, String)>>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let app = poem::endpoint::make(move |req: Request| {
        let log = Arc::clone(&log);
        async move {
            log.lock().unwrap().push(
                req.headers()
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
                    .collect(),
            );
            Response::builder()
                .status(StatusCode::from_u16(status).unwrap())
                .content_type("application/json")
                .body(json!({"path": req.uri().path()}).to_string())
        }
    });
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    (format!("http://{addr}"), seen)
}

fn endpoint(name: &str, base_url: &str, priority: i32) -> Value {
    json!({
        "name": name,
        "capability": "text-generation",
        "base_url": base_url,
        "auth": {"type": "bearer", "secret": "UPSTREAM_KEY"},
        "priority": priority,
        "limits": {"per_minute": 100},
        "cost_per_request": 0.5,
        "timeout_ms": 2000,
        "tags": ["llm"],
        "metadata": {"region": "eu"}
    })
}

storage_test!(
    registry_crud_permissions_and_validation,
    |url: String| async move {
        let h = harness(&url).await;
        let (base, _) = upstream(200).await;
        let resp = h
            .send(
                "POST",
                "/api/apis",
                &h.admin,
                Some(&endpoint("primary", &base, 1)),
            )
            .await;
        assert_eq!(resp.0.status(), StatusCode::CREATED);
        assert_eq!(
            resp.0.headers().get("location").unwrap(),
            "/api/apis/primary"
        );
        let created = json_of(resp).await;
        assert_eq!(
            created["auth"],
            json!({"type": "bearer", "secret": "UPSTREAM_KEY", "name": null})
        );
        assert_eq!(created["health"], "unknown");
        assert_eq!(created["limits"]["per_minute"], 100);
        assert_eq!(created["health_check"]["path"], "/");
        assert!(
            !created.to_string().contains(UPSTREAM_SECRET),
            "the registry never holds the value"
        );

        expect_error(
            h.send(
                "POST",
                "/api/apis",
                &h.admin,
                Some(&endpoint("primary", &base, 1)),
            )
            .await,
            StatusCode::CONFLICT,
            "conflict",
        )
        .await;
        for (bad, field) in [
            (
                json!({"name": "x", "capability": "c", "base_url": "ftp://h"}),
                "base_url",
            ),
            (
                json!({"name": "x", "capability": "c", "base_url": "http://h", "auth": {"type": "bearer"}}),
                "auth.secret",
            ),
            (
                json!({"name": "x", "capability": "c", "base_url": "http://h", "limits": {"per_minute": 0}}),
                "limits.per_minute",
            ),
            (
                json!({"name": "x", "capability": "c", "base_url": "http://h", "api_key": "sk"}),
                "",
            ),
        ] {
            let body = expect_error(
                h.send("POST", "/api/apis", &h.admin, Some(&bad)).await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            )
            .await;
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains(field), "{bad}: {message}");
        }

        h.ok("POST", "/api/apis", Some(&endpoint("secondary", &base, 2)))
            .await;
        let mut search = endpoint("search", &base, 0);
        search["capability"] = json!("search");
        search["tags"] = json!(["web"]);
        h.ok("POST", "/api/apis", Some(&search)).await;
        let listed = h
            .ok("GET", "/api/apis?capability=text-generation", None)
            .await;
        assert_eq!(listed["total"], 2);
        assert_eq!(listed["items"][0]["name"], "primary");
        let tagged = h.ok("GET", "/api/apis?tag=web", None).await;
        assert_eq!(tagged["total"], 1);

        let mut changed = endpoint("secondary", &base, 7);
        changed["is_active"] = json!(false);
        let updated = h.ok("PUT", "/api/apis/secondary", Some(&changed)).await;
        assert_eq!(updated["priority"], 7);
        assert_eq!(updated["is_active"], false);
        expect_error(
            h.send(
                "PUT",
                "/api/apis/secondary",
                &h.admin,
                Some(&endpoint("renamed", &base, 1)),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        let resp = h.send("DELETE", "/api/apis/search", &h.admin, None).await;
        assert_eq!(resp.0.status(), StatusCode::NO_CONTENT);
        expect_error(
            h.send("GET", "/api/apis/search", &h.admin, None).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;

        // A viewer reads but cannot change or call; a user calls but cannot administer.
        let viewer = h.user_with("vera", "viewer").await;
        assert_eq!(
            h.send("GET", "/api/apis", &viewer, None).await.0.status(),
            StatusCode::OK
        );
        for (method, path, body) in [
            ("POST", "/api/apis", Some(endpoint("v", &base, 1))),
            ("DELETE", "/api/apis/primary", None),
            ("POST", "/api/apis/primary/check", None),
            (
                "POST",
                "/api/apis/call",
                Some(json!({"capability": "text-generation", "path": "/"})),
            ),
        ] {
            expect_error(
                h.send(method, path, &viewer, body.as_ref()).await,
                StatusCode::FORBIDDEN,
                "forbidden",
            )
            .await;
        }
        let user = h.user_with("ulla", "user").await;
        expect_error(
            h.send("POST", "/api/apis", &user, Some(&endpoint("u", &base, 1)))
                .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        let resp = h
            .send(
                "POST",
                "/api/apis/call",
                &user,
                Some(&json!({"capability": "text-generation", "path": "/v1/x"})),
            )
            .await;
        assert_eq!(resp.0.status(), StatusCode::OK);
        expect_error(
            h.cli.get("/api/apis").send().await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;

        // Registry changes are audited.
        let audit = h.ok("GET", "/api/audit?limit=100", None).await;
        let actions: Vec<&str> = audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        for action in ["api.create", "api.update", "api.delete"] {
            assert!(actions.contains(&action), "{actions:?}");
        }
    }
);

storage_test!(
    binding_a_secret_needs_the_right_to_use_it,
    |url: String| async move {
        let h = harness(&url).await;
        let (base, seen) = upstream(200).await;
        let dev = h.user_with("devon", "developer").await;
        let bearer = |headers: &Vec<(String, String)>| {
            headers
                .iter()
                .find(|(n, _)| n == "authorization")
                .map(|(_, v)| v.clone())
        };
        // A developer cannot bind the admin's secret to a host of its choosing, nor change
        // an endpoint the secret is bound to.
        let body = expect_error(
            h.send(
                "POST",
                "/api/apis",
                &dev,
                Some(&endpoint("exfil", &base, 1)),
            )
            .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("secrets:use"),
            "{body}"
        );
        h.ok("POST", "/api/apis", Some(&endpoint("primary", &base, 1)))
            .await;
        let mut moved = endpoint("primary", "http://127.0.0.1:9", 1);
        moved["priority"] = json!(3);
        expect_error(
            h.send("PUT", "/api/apis/primary", &dev, Some(&moved)).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        let kept = h.ok("GET", "/api/apis/primary", None).await;
        assert_eq!(kept["base_url"], base, "the refused change wrote nothing");

        // A secret the developer set itself it may bind, until someone else sets a new value.
        let own = h
            .send(
                "PUT",
                "/api/secrets/DEV_KEY",
                &dev,
                Some(&json!({"value": "dev-own-value"})),
            )
            .await;
        assert!(own.0.status().is_success(), "{}", own.0.status());
        let mut mine = endpoint("mine", &base, 0);
        mine["capability"] = json!("dev-search");
        mine["auth"] = json!({"type": "bearer", "secret": "DEV_KEY"});
        let created = h.send("POST", "/api/apis", &dev, Some(&mine)).await;
        assert_eq!(created.0.status(), StatusCode::CREATED);
        let call = json!({"capability": "dev-search", "path": "/x"});
        let resp = h.send("POST", "/api/apis/call", &dev, Some(&call)).await;
        assert_eq!(resp.0.status(), StatusCode::OK);
        assert_eq!(
            bearer(seen.lock().unwrap().last().unwrap()).as_deref(),
            Some("Bearer dev-own-value")
        );
        // Once someone else sets a new value, the developer may no longer bind or change it
        // (and the vault refuses the old binding at its next read: trae-auth's tests).
        h.ok(
            "PUT",
            "/api/secrets/DEV_KEY",
            Some(&json!({"value": "admin-rotated-value"})),
        )
        .await;
        mine["priority"] = json!(4);
        expect_error(
            h.send("PUT", "/api/apis/mine", &dev, Some(&mine)).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;

        // Base URLs the outbound policy refuses are refused at registration.
        for refused in [
            "http://169.254.169.254/latest",
            "http://[fe80::1]/",
            "http://0.0.0.0/",
            "http://not-allowed.example/",
        ] {
            let mut e = endpoint("meta", refused, 1);
            e["auth"] = json!({"type": "none"});
            let body = expect_error(
                h.send("POST", "/api/apis", &h.admin, Some(&e)).await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            )
            .await;
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("base_url"),
                "{refused}: {body}"
            );
        }
    }
);

storage_test!(
    calls_fail_over_inject_credentials_and_are_logged,
    |url: String| async move {
        let h = harness(&url).await;
        let (failing, failing_seen) = upstream(503).await;
        let (healthy, healthy_seen) = upstream(200).await;
        h.ok("POST", "/api/apis", Some(&endpoint("failing", &failing, 1)))
            .await;
        h.ok("POST", "/api/apis", Some(&endpoint("healthy", &healthy, 2)))
            .await;
        let result = h
            .ok(
                "POST",
                "/api/apis/call",
                Some(&json!({
                    "capability": "text-generation",
                    "method": "GET",
                    "path": "/v1/models",
                    "headers": {"Authorization": "Bearer mine", "X-Trace": "t1"}
                })),
            )
            .await;
        assert_eq!(result["status"], 200);
        assert_eq!(result["endpoint"], "healthy");
        assert_eq!(result["body"], json!({"path": "/v1/models"}));
        let attempts = result["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 4, "{result}");
        assert_eq!(attempts[0]["status"], 503);
        assert_eq!(failing_seen.lock().unwrap().len(), 3);
        let seen = healthy_seen.lock().unwrap()[0].clone();
        let auth: Vec<_> = seen.iter().filter(|(n, _)| n == "authorization").collect();
        assert_eq!(auth.len(), 1);
        assert_eq!(auth[0].1, format!("Bearer {UPSTREAM_SECRET}"));
        assert!(seen.contains(&("x-trace".into(), "t1".into())));

        // The upstream's own 4xx comes back inside a 200.
        let (missing, _) = upstream(404).await;
        let mut lookup = endpoint("lookup", &missing, 1);
        lookup["capability"] = json!("lookup");
        h.ok("POST", "/api/apis", Some(&lookup)).await;
        let result = h
            .ok(
                "POST",
                "/api/apis/call",
                Some(&json!({"capability": "lookup", "path": "/nothing"})),
            )
            .await;
        assert_eq!(result["status"], 404);

        h.state.apis().registry().flush().await;
        let usage = h.ok("GET", "/api/apis/failing/usage", None).await;
        assert_eq!(usage["total"], 3);
        assert_eq!(usage["failures"], 3);
        assert_eq!(usage["success_rate"], 0.0);
        let usage = h.ok("GET", "/api/apis/healthy/usage", None).await;
        assert_eq!(usage["successes"], 1);
        assert_eq!(usage["cost"], 0.5);
        let logs = h.ok("GET", "/api/apis/failing/logs?limit=2", None).await;
        assert_eq!(logs["total"], 3);
        assert_eq!(logs["items"].as_array().unwrap().len(), 2);
        assert_eq!(logs["items"][0]["path"], "/v1/models");
        assert_eq!(logs["items"][0]["status"], 503);
        assert!(logs["items"][0]["request_id"].is_string());
        let failing_now = h.ok("GET", "/api/apis/failing", None).await;
        assert_eq!(failing_now["health"], "failing");
        assert_eq!(failing_now["consecutive_failures"], 3);
        let checked = h.ok("POST", "/api/apis/healthy/check", None).await;
        assert_eq!(checked["health"], "healthy");
        assert!(checked["last_check_at"].is_string());
    }
);

storage_test!(
    every_failure_mode_has_its_status,
    |url: String| async move {
        let h = harness(&url).await;
        expect_error(
            h.send(
                "POST",
                "/api/apis/call",
                &h.admin,
                Some(&json!({"capability": "nothing-here", "path": "/"})),
            )
            .await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;

        // Nothing listens: 502.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let mut dead = endpoint("dead", &closed, 1);
        dead["capability"] = json!("dead");
        h.ok("POST", "/api/apis", Some(&dead)).await;
        let body = expect_error(
            h.send(
                "POST",
                "/api/apis/call",
                &h.admin,
                Some(&json!({"capability": "dead", "path": "/"})),
            )
            .await,
            StatusCode::BAD_GATEWAY,
            "upstream_failed",
        )
        .await;
        assert!(
            body["error"]["message"].as_str().unwrap().contains("dead"),
            "{body}"
        );

        // Limited: 429 with Retry-After.
        let (base, seen) = upstream(200).await;
        let mut limited = endpoint("limited", &base, 1);
        limited["capability"] = json!("limited");
        limited["limits"] = json!({"per_minute": 1});
        h.ok("POST", "/api/apis", Some(&limited)).await;
        let call = json!({"capability": "limited", "path": "/"});
        h.ok("POST", "/api/apis/call", Some(&call)).await;
        let resp = h
            .send("POST", "/api/apis/call", &h.admin, Some(&call))
            .await;
        let retry_after: u64 = resp
            .0
            .headers()
            .get("retry-after")
            .expect("Retry-After")
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((50..=60).contains(&retry_after), "{retry_after}");
        expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        assert_eq!(seen.lock().unwrap().len(), 1);

        // Bad calls are 422 and send nothing.
        for bad in [
            json!({"capability": "limited", "path": "//evil.example/"}),
            json!({"capability": "limited", "path": "/../admin"}),
            json!({"capability": "limited", "path": "/.%2E/.%2e/admin"}),
            json!({"capability": "limited", "path": "/%2e./admin"}),
            json!({"capability": "limited", "path": "/%252e%252e/admin"}),
            json!({"capability": "limited", "path": "/a%2f..%2fadmin"}),
            json!({"capability": "limited", "path": "/", "method": "TRACE"}),
            json!({"capability": "limited", "path": "/", "headers": {"Host": "x"}}),
            json!({"capability": "Not A Capability", "path": "/"}),
            json!({"capability": "limited", "path": "/", "url": "http://evil/"}),
        ] {
            expect_error(
                h.send("POST", "/api/apis/call", &h.admin, Some(&bad)).await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            )
            .await;
        }
        assert_eq!(seen.lock().unwrap().len(), 1);
    }
);

storage_test!(
    http_request_tasks_call_a_capability,
    |url: String| async move {
        let h = harness(&url).await;
        let (base, seen) = upstream(200).await;
        h.ok("POST", "/api/apis", Some(&endpoint("search-a", &base, 1)))
            .await;
        let resp = h
            .send(
                "POST",
                "/api/tasks",
                &h.admin,
                Some(&json!({
                    "kind": "http.request",
                    "payload": {"capability": "text-generation", "path": "/v1/search?q=trae"}
                })),
            )
            .await;
        assert_eq!(resp.0.status(), StatusCode::CREATED);
        let id = json_of(resp).await["id"].as_str().unwrap().to_owned();
        let missing = h
            .send(
                "POST",
                "/api/tasks",
                &h.admin,
                Some(&json!({
                    "kind": "http.request",
                    "payload": {"capability": "no-such-capability", "path": "/"}
                })),
            )
            .await;
        let missing = json_of(missing).await["id"].as_str().unwrap().to_owned();
        h.state
            .worker(vec!["default".into()], 2)
            .unwrap()
            .run_until_idle()
            .await
            .unwrap();
        let task = h.ok("GET", &format!("/api/tasks/{id}"), None).await;
        assert_eq!(task["state"], "completed", "{task}");
        assert_eq!(task["result"]["endpoint"], "search-a");
        assert_eq!(task["result"]["status"], 200);
        assert_eq!(task["result"]["body"], json!({"path": "/v1/search"}));
        let headers = seen.lock().unwrap()[0].clone();
        assert!(headers.contains(&(
            "authorization".to_owned(),
            format!("Bearer {UPSTREAM_SECRET}")
        )));
        let task = h.ok("GET", &format!("/api/tasks/{missing}"), None).await;
        assert_eq!(
            task["state"], "failed",
            "an unknown capability is not retried: {task}"
        );
        assert!(
            task["last_error"]
                .as_str()
                .unwrap()
                .contains("no-such-capability"),
            "{task}"
        );
    }
);

storage_test!(
    two_nodes_share_an_endpoint_limit,
    |url: String| async move {
        let node_a = harness(&url).await;
        let node_b = harness(&url).await;
        let (base, seen) = upstream(200).await;
        let mut spec = endpoint("shared", &base, 1);
        spec["limits"] = json!({"per_minute": 3});
        node_a.ok("POST", "/api/apis", Some(&spec)).await;
        let call = json!({"capability": "text-generation", "path": "/"});
        // Node B sees the endpoint once its snapshot refreshes.
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        node_a.ok("POST", "/api/apis/call", Some(&call)).await;
        node_b.ok("POST", "/api/apis/call", Some(&call)).await;
        node_a.ok("POST", "/api/apis/call", Some(&call)).await;
        // Three calls in the minute across both nodes: the fourth is refused on either.
        for node in [&node_b, &node_a] {
            let resp = node
                .send("POST", "/api/apis/call", &node.admin, Some(&call))
                .await;
            assert!(resp.0.headers().get("retry-after").is_some());
            expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        }
        assert_eq!(seen.lock().unwrap().len(), 3);
    }
);
