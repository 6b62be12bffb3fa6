//! Metric series, alert rules and component history over HTTP on SQLite and PostgreSQL, and
//! `/metrics` opened to a scraper's network.

use std::net::SocketAddr;

use poem::endpoint::BoxEndpoint;
use poem::http::StatusCode;
use poem::http::uri::Scheme;
use poem::test::TestClient;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, EndpointExt, Request, RequestParts};
use serde_json::{Value, json};
use trae_agents::Trae;
use trae_auth::{Credential, NewKey, Registration, RequestMeta};
use trae_core::{Config, NewTask, Principal};
use trae_server::App;
use trae_storage::{Store, storage_test};

const PASSWORD: &str = "correct horse battery";

/// Sets the request's socket peer from `x-test-peer` (default 192.0.2.1), as TCP would.
struct Peer<E>(E);

impl<E: Endpoint> Endpoint for Peer<E> {
    type Output = E::Output;

    async fn call(&self, req: Request) -> poem::Result<Self::Output> {
        let ip = req.header("x-test-peer").unwrap_or("192.0.2.1").to_owned();
        let peer = SocketAddr::new(ip.parse().expect("x-test-peer is an IP"), 40_000);
        let (parts, body) = req.into_parts();
        let mut http = poem::http::Request::builder()
            .method(parts.method)
            .uri(parts.uri)
            .version(parts.version)
            .body(())
            .expect("request");
        *http.headers_mut() = parts.headers;
        *http.extensions_mut() = parts.extensions;
        let (http, ()) = http.into_parts();
        let parts = RequestParts::from((
            http,
            LocalAddr::default(),
            RemoteAddr(Addr::SocketAddr(peer)),
            Scheme::HTTP,
        ));
        self.0.call(Request::from_parts(parts, body)).await
    }
}

struct Harness {
    cli: TestClient<Peer<BoxEndpoint<'static>>>,
    state: Trae,
    admin: String,
    viewer: String,
    _dir: tempfile::TempDir,
}

async fn signed_in(state: &Trae, username: &str, roles: &[&str]) -> String {
    state
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
            roles.iter().map(|r| (*r).to_owned()).collect(),
            &RequestMeta::default(),
        )
        .await
        .unwrap();
    let (_, pair) = state
        .identity()
        .login(username, PASSWORD, &RequestMeta::default())
        .await
        .unwrap();
    pair.access_token
}

async fn harness(url: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let env: std::collections::HashMap<String, String> = [
        ("TRAE_DATA_DIR", dir.path().display().to_string()),
        ("TRAE_DATABASE_URL", url.to_owned()),
        ("TRAE_METRICS_OPEN_TO", "10.1.0.0/16".to_owned()),
        ("TRAE_RATE_LIMIT", "off".to_owned()),
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
    let admin = signed_in(&state, "root", &["admin"]).await;
    let viewer = signed_in(&state, "watcher", &["viewer"]).await;
    let cli = TestClient::new(Peer(
        App::new(&state).await.unwrap().into_endpoint().boxed(),
    ));
    Harness {
        cli,
        state,
        admin,
        viewer,
        _dir: dir,
    }
}

impl Harness {
    async fn call(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let req = match method {
            "GET" => self.cli.get(path),
            "POST" => self.cli.post(path),
            "PUT" => self.cli.put(path),
            "DELETE" => self.cli.delete(path),
            other => panic!("method {other}"),
        };
        let req = match token {
            Some(t) => req.header("authorization", format!("Bearer {t}")),
            None => req,
        };
        let req = match body {
            Some(b) => req.body_json(&b),
            None => req,
        };
        let resp = req.send().await;
        let status = resp.0.status();
        let text = resp.0.into_body().into_string().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        want: StatusCode,
    ) -> Value {
        let (status, body) = self.call(Some(&self.admin), method, path, body).await;
        assert_eq!(status, want, "{method} {path}: {body}");
        body
    }

    /// One sampling round and its alert evaluation, as `trae serve` runs every 10 s.
    async fn tick(&self) {
        let samples = self.state.metrics().sample().await.unwrap();
        self.state.alerts().evaluate(&samples).await.unwrap();
    }
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error shape: {body}"))
}

storage_test!(series_and_alerts_through_http, |url: String| async move {
    let h = harness(&url).await;
    let tasks = h.state.store().tasks();
    for i in 0..3 {
        tasks
            .enqueue(
                &Principal::System,
                NewTask {
                    queue: Some("mail".into()),
                    ..NewTask::new("noop", json!({ "n": i }))
                },
            )
            .await
            .unwrap();
    }

    // Rules: validation, permissions, conflicts.
    let rule = json!({
        "name": "mail backlog",
        "metric": "trae_queue_depth",
        "labels": {"queue": "mail"},
        "comparison": ">",
        "value": 2,
        "for": 0,
        "severity": "high"
    });
    let (status, body) = h
        .call(None, "POST", "/api/metrics/alerts", Some(rule.clone()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = h
        .call(
            Some(&h.viewer),
            "POST",
            "/api/metrics/alerts",
            Some(rule.clone()),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let mut bad_metric = rule.clone();
    bad_metric["metric"] = json!("Not A Metric");
    let mut bad_comparison = rule.clone();
    bad_comparison["comparison"] = json!("~");
    let mut unknown_field = rule.clone();
    unknown_field["colour"] = json!("red");
    let mut bad_hook = rule.clone();
    bad_hook["webhook_url"] = json!("file:///etc/passwd");
    for bad in [bad_metric, bad_comparison, unknown_field, bad_hook] {
        let body = h
            .admin(
                "POST",
                "/api/metrics/alerts",
                Some(bad.clone()),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        assert_eq!(error_code(&body), "validation_failed", "{bad}: {body}");
    }
    let created = h
        .admin(
            "POST",
            "/api/metrics/alerts",
            Some(rule.clone()),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(created["for"], 0);
    assert_eq!(created["comparison"], ">");
    let id = created["id"].as_str().unwrap().to_owned();
    let body = h
        .admin(
            "POST",
            "/api/metrics/alerts",
            Some(rule.clone()),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(error_code(&body), "conflict");
    let (status, listed) = h
        .call(Some(&h.viewer), "GET", "/api/metrics/alerts", None)
        .await;
    assert_eq!((status, &listed["total"]), (StatusCode::OK, &json!(1)));

    // A sample: the queue is three deep, so the rule fires.
    h.tick().await;
    let series = h
        .admin(
            "GET",
            "/api/metrics?name=trae_queue_depth&labels=queue%3Dmail",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(series["step"], 10);
    assert_eq!(series["series"].as_array().unwrap().len(), 1, "{series}");
    assert_eq!(series["series"][0]["labels"]["queue"], "mail");
    assert_eq!(series["series"][0]["points"][0]["value"], 3.0);
    let names = h
        .admin("GET", "/api/metrics/names", None, StatusCode::OK)
        .await;
    let names: Vec<&str> = names["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    for expected in [
        "trae_queue_depth",
        "trae_http_request_rate",
        "trae_process_memory_bytes",
        "trae_disk_free_bytes",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let firing = h
        .admin(
            "GET",
            "/api/metrics/alerts/history?state=firing",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(firing["total"], 1, "{firing}");
    assert_eq!(firing["items"][0]["rule_name"], "mail backlog");
    assert_eq!(firing["items"][0]["value"], 3.0);
    assert_eq!(firing["items"][0]["severity"], "high");
    let events: Vec<String> = h
        .state
        .store()
        .events()
        .since(0)
        .iter()
        .filter(|e| e.source == "alerts")
        .map(|e| e.kind.clone())
        .collect();
    assert_eq!(events, ["alert.firing"]);

    // Bad series queries are 4xx with the error shape.
    for path in [
        "/api/metrics?name=Bad%20Name",
        "/api/metrics?name=trae_queue_depth&step=15",
        "/api/metrics?name=trae_queue_depth&since=2999-01-01T00:00:00Z",
    ] {
        let body = h
            .admin("GET", path, None, StatusCode::UNPROCESSABLE_ENTITY)
            .await;
        assert_eq!(error_code(&body), "validation_failed", "{path}");
    }
    let (status, _) = h.call(Some(&h.admin), "GET", "/api/metrics", None).await;
    assert!(
        status.is_client_error(),
        "a missing name is refused: {status}"
    );

    // Raising the threshold: the next sample resolves the alert.
    let mut raised = rule.clone();
    raised["value"] = json!(10);
    let updated = h
        .admin(
            "PUT",
            &format!("/api/metrics/alerts/{id}"),
            Some(raised),
            StatusCode::OK,
        )
        .await;
    assert_eq!(updated["value"], 10.0);
    h.tick().await;
    let resolved = h
        .admin(
            "GET",
            "/api/metrics/alerts/history?state=resolved",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(resolved["total"], 1, "{resolved}");
    assert_eq!(resolved["items"][0]["resolved_value"], 3.0);

    h.admin(
        "DELETE",
        &format!("/api/metrics/alerts/{id}"),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    let body = h
        .admin(
            "GET",
            &format!("/api/metrics/alerts/{id}"),
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    assert_eq!(error_code(&body), "not_found");
    let audit = h
        .admin(
            "GET",
            "/api/audit?action=alert_rule.update",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(audit["total"], 1);
    assert_eq!(audit["items"][0]["actor"]["name"], "root");
    let audit = h
        .admin(
            "GET",
            "/api/audit?action=alert_rule.delete",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(audit["total"], 1);

    // Component detail carries its stored history.
    let db = h
        .admin(
            "GET",
            "/api/health/components/database",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(db["status"], "healthy");
    assert_eq!(db["history"][0]["to"], "healthy", "{db}");
});

storage_test!(
    metrics_open_only_to_the_configured_network,
    |url: String| async move {
        let h = harness(&url).await;
        let scraper = h
            .cli
            .get("/metrics")
            .header("x-test-peer", "10.1.2.3")
            .send()
            .await;
        scraper.assert_status_is_ok();
        let outsider = h
            .cli
            .get("/metrics")
            .header("x-test-peer", "10.2.0.1")
            .send()
            .await;
        outsider.assert_status(StatusCode::UNAUTHORIZED);
        let (status, _) = h.call(Some(&h.viewer), "GET", "/metrics", None).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "metrics:read still works from anywhere"
        );
    }
);

storage_test!(
    operational_views_are_refused_without_metrics_read,
    |url: String| async move {
        let h = harness(&url).await;
        let identity = h.state.identity();
        let viewer = identity
            .authenticate(Credential::Bearer(&h.viewer))
            .await
            .unwrap();
        let pets_only = identity
            .api_keys
            .create(
                &viewer,
                NewKey {
                    name: "pets only".into(),
                    scopes: Some(vec!["pets:read".into()]),
                    expires_in_days: None,
                },
                &RequestMeta::default(),
            )
            .await
            .unwrap();
        for path in [
            "/api/health/components",
            "/api/health/components/database",
            "/api/metrics/requests",
            "/api/metrics/names",
            "/api/metrics/alerts",
            "/api/runtime",
            "/api/discovery",
            "/metrics",
            "/api/admin/backups",
        ] {
            let resp = h
                .cli
                .get(path)
                .header("x-api-key", &pets_only.secret)
                .send()
                .await;
            let status = resp.0.status();
            let text = resp.0.into_body().into_string().await.unwrap();
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {text}");
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(error_code(&body), "forbidden", "{path}: {body}");
        }
        // The open summary keeps its status for everyone and lists components only for
        // callers the monitor lets see them.
        let resp = h
            .cli
            .get("/api/health")
            .header("x-api-key", &pets_only.secret)
            .send()
            .await;
        let body: Value =
            serde_json::from_str(&resp.0.into_body().into_string().await.unwrap()).unwrap();
        assert!(body["status"].is_string(), "{body}");
        assert_eq!(body["components"], json!([]), "{body}");
        let (_, body) = h.call(Some(&h.viewer), "GET", "/api/health", None).await;
        assert!(
            body["components"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["name"] == "database")),
            "{body}"
        );
        // A viewer holds metrics:read but not backups:admin.
        let (status, body) = h
            .call(Some(&h.viewer), "GET", "/api/admin/backups", None)
            .await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::FORBIDDEN, "forbidden")
        );
        let (status, body) = h
            .call(Some(&h.viewer), "POST", "/api/admin/backups", None)
            .await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::FORBIDDEN, "forbidden")
        );
    }
);
