//! The HTTP API in process (poem's test client), on SQLite and PostgreSQL.

use poem::http::StatusCode;
use poem::test::{TestClient, TestResponse};
use poem::{Endpoint, Response};
use serde_json::{Value, json};
use trae_agents::Trae;
use trae_auth::{Registration, RequestMeta};
use trae_core::{Config, Principal};
use trae_server::App;
use trae_storage::{Store, storage_test};

async fn app_with(
    url: &str,
    vars: &[(&str, &str)],
) -> (TestClient<impl Endpoint<Output = Response>>, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut env: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    env.insert("TRAE_DATA_DIR".into(), dir.path().display().to_string());
    env.insert("TRAE_DATABASE_URL".into(), url.to_owned());
    // PostgreSQL needs a shared secrets master key.
    env.entry("TRAE_MASTER_KEY".into())
        .or_insert_with(|| "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYgo=".into());
    let config = Config::from_sources(|k| env.get(k).cloned()).unwrap();
    let store = Store::connect(url).await.unwrap();
    let state = Trae::with_store(config, store.clone()).await.unwrap();
    let token = signed_in(&state, "tester", &["user"]).await;
    let cli = TestClient::new(App::new(&state).await.unwrap().into_endpoint())
        .default_header("authorization", format!("Bearer {token}"));
    (cli, store)
}

/// Creates a user with `roles` through the library and returns an access token for them.
async fn signed_in(state: &Trae, username: &str, roles: &[&str]) -> String {
    let identity = &state.identity();
    identity
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
    let (_, pair) = identity
        .login(username, PASSWORD, &RequestMeta::default())
        .await
        .unwrap();
    pair.access_token
}

/// The password of every test user.
const PASSWORD: &str = "correct horse battery";

async fn app(url: &str) -> TestClient<impl Endpoint<Output = Response>> {
    app_with(url, &[]).await.0
}

async fn body(resp: TestResponse) -> Value {
    resp.0
        .into_body()
        .into_json::<Value>()
        .await
        .unwrap_or(Value::Null)
}

/// Asserts the status and the error envelope, returning the error code.
async fn error_code(resp: TestResponse, status: StatusCode) -> String {
    assert_eq!(resp.0.status(), status);
    let value = body(resp).await;
    let code = value["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error envelope: {value}"));
    assert!(
        value["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{value}"
    );
    code.to_owned()
}

storage_test!(pets_crud_round_trip, |url: String| async move {
    let cli = app(&url).await;
    let resp = cli
        .post("/api/pets")
        .body_json(&json!({"name": "Rex", "species": "dog", "age": 3, "tags": ["good"]}))
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::CREATED);
    let location = resp.0.headers()["location"].to_str().unwrap().to_owned();
    let created = body(resp).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/pets/{id}"));
    assert_eq!(created["name"], "Rex");
    assert_eq!(created["tags"], json!(["good"]));
    assert!(
        created["created_at"].as_str().unwrap().ends_with("+00:00")
            || created["created_at"].as_str().unwrap().ends_with('Z')
    );

    let got = body(cli.get(&location).send().await).await;
    assert_eq!(got, created);

    let patched = cli
        .patch(&location)
        .body_json(&json!({"age": 4}))
        .send()
        .await;
    assert_eq!(patched.0.status(), StatusCode::OK);
    let patched = body(patched).await;
    assert_eq!(
        (patched["age"].as_i64(), &patched["name"]),
        (Some(4), &json!("Rex"))
    );

    cli.post("/api/pets")
        .body_json(&json!({"name": "Tom", "species": "cat", "age": 2}))
        .send()
        .await
        .assert_status(StatusCode::CREATED);
    let dogs = body(cli.get("/api/pets?species=dog").send().await).await;
    assert_eq!(
        (
            dogs["total"].as_u64(),
            dogs["limit"].as_u64(),
            dogs["offset"].as_u64()
        ),
        (Some(1), Some(50), Some(0))
    );
    let tagged = body(cli.get("/api/pets?tag=good&limit=1&offset=0").send().await).await;
    assert_eq!(tagged["items"][0]["id"], json!(id));
    let second = body(cli.get("/api/pets?limit=1&offset=1").send().await).await;
    assert_eq!(
        (
            second["total"].as_u64(),
            second["items"][0]["name"].as_str()
        ),
        (Some(2), Some("Tom"))
    );

    let deleted = cli.delete(&location).send().await;
    assert_eq!(deleted.0.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        error_code(cli.get(&location).send().await, StatusCode::NOT_FOUND).await,
        "not_found"
    );
    assert_eq!(
        error_code(cli.delete(&location).send().await, StatusCode::NOT_FOUND).await,
        "not_found"
    );
});

storage_test!(
    bad_bodies_are_422_and_write_nothing,
    |url: String| async move {
        let cli = app(&url).await;
        let bad = [
            json!({"name": "Rex", "species": "dog", "age": 3, "colour": "brown"}),
            json!({"name": "Rex", "species": "dog", "age": "three"}),
            json!({"name": "Rex", "species": "dragon", "age": 3}),
            json!({"name": "Rex", "age": 3}),
            json!({"name": "", "species": "dog", "age": 3}),
            json!({"name": "x".repeat(101), "species": "dog", "age": 3}),
            json!({"name": "Rex", "species": "dog", "age": 101}),
            json!({"name": "Rex", "species": "dog", "age": -1}),
            json!({"name": "Rex", "species": "dog", "age": 3, "tags": (0..11).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
            json!({"name": "Rex", "species": "dog", "age": 3, "tags": ["x".repeat(33)]}),
            json!({"name": "Rex", "species": "dog", "age": 3, "tags": ["a", "a"]}),
            json!(["not", "an", "object"]),
        ];
        for body in bad {
            let resp = cli.post("/api/pets").body_json(&body).send().await;
            assert_eq!(
                error_code(resp, StatusCode::UNPROCESSABLE_ENTITY).await,
                "validation_failed",
                "{body}"
            );
        }
        let malformed = cli
            .post("/api/pets")
            .content_type("application/json")
            .body("{\"name\": ")
            .send()
            .await;
        let status = malformed.0.status();
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{status}"
        );
        let wrong_type = cli
            .post("/api/pets")
            .content_type("text/plain")
            .body("hi")
            .send()
            .await;
        assert_eq!(
            error_code(wrong_type, StatusCode::UNSUPPORTED_MEDIA_TYPE).await,
            "unsupported_media_type"
        );

        let listed = self::body(cli.get("/api/pets").send().await).await;
        assert_eq!(listed["total"], 0, "nothing was written");

        let pet = self::body(
            cli.post("/api/pets")
                .body_json(&json!({"name": "Rex", "species": "dog", "age": 3}))
                .send()
                .await,
        )
        .await;
        let path = format!("/api/pets/{}", pet["id"].as_str().unwrap());
        for patch in [
            json!({"age": 500}),
            json!({"nickname": "R"}),
            json!({"name": "  "}),
            json!({"species": "lion"}),
        ] {
            let resp = cli.patch(&path).body_json(&patch).send().await;
            assert_eq!(
                error_code(resp, StatusCode::UNPROCESSABLE_ENTITY).await,
                "validation_failed",
                "{patch}"
            );
        }
        assert_eq!(
            self::body(cli.get(&path).send().await).await,
            pet,
            "failed patches changed nothing"
        );
    }
);

storage_test!(
    bad_paths_and_queries_are_client_errors,
    |url: String| async move {
        let cli = app(&url).await;
        for path in ["/api/pets/not-a-uuid", "/api/pets/123"] {
            let resp = cli.get(path).send().await;
            assert_eq!(
                error_code(resp, StatusCode::BAD_REQUEST).await,
                "bad_request",
                "{path}"
            );
        }
        for query in ["limit=0", "limit=501", "offset=-1"] {
            let resp = cli.get(format!("/api/pets?{query}")).send().await;
            assert_eq!(
                error_code(resp, StatusCode::UNPROCESSABLE_ENTITY).await,
                "validation_failed",
                "{query}"
            );
        }
        for query in ["limit=ten", "species=lion"] {
            let resp = cli.get(format!("/api/pets?{query}")).send().await;
            assert_eq!(
                error_code(resp, StatusCode::BAD_REQUEST).await,
                "bad_request",
                "{query}"
            );
        }
        let missing = format!("/api/pets/{}", uuid::Uuid::now_v7());
        assert_eq!(
            error_code(cli.get(&missing).send().await, StatusCode::NOT_FOUND).await,
            "not_found"
        );
        let patch = cli
            .patch(&missing)
            .body_json(&json!({"age": 2}))
            .send()
            .await;
        assert_eq!(error_code(patch, StatusCode::NOT_FOUND).await, "not_found");
    }
);

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let cli = app("sqlite::memory:").await;
    assert_eq!(
        error_code(cli.get("/nope").send().await, StatusCode::NOT_FOUND).await,
        "not_found"
    );
    assert_eq!(
        error_code(cli.get("/api/nope").send().await, StatusCode::NOT_FOUND).await,
        "not_found"
    );
    assert_eq!(
        error_code(
            cli.put("/api/pets").send().await,
            StatusCode::METHOD_NOT_ALLOWED
        )
        .await,
        "method_not_allowed"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_and_write_nothing() {
    let (cli, _store) = app_with("sqlite::memory:", &[("TRAE_MAX_BODY_BYTES", "256")]).await;
    let big = json!({"name": "Rex", "species": "dog", "age": 3, "tags": ["x".repeat(400)]});
    let resp = cli.post("/api/pets").body_json(&big).send().await;
    assert_eq!(
        error_code(resp, StatusCode::PAYLOAD_TOO_LARGE).await,
        "payload_too_large"
    );
    let small = json!({"name": "Rex", "species": "dog", "age": 3});
    cli.post("/api/pets")
        .body_json(&small)
        .send()
        .await
        .assert_status(StatusCode::CREATED);
    let listed = body(cli.get("/api/pets").send().await).await;
    assert_eq!(listed["total"], 1);
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let cli = app("sqlite::memory:").await;
    let resp = cli
        .get("/api/health/live")
        .header("x-request-id", "abc-123")
        .send()
        .await;
    assert_eq!(resp.0.headers()["x-request-id"], "abc-123");
    let resp = cli.get("/api/health/live").send().await;
    let generated = resp.0.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 32);
    // Ids that could smuggle text into logs are replaced.
    let resp = cli
        .get("/api/health/live")
        .header("x-request-id", "a b\"c")
        .send()
        .await;
    assert_ne!(resp.0.headers()["x-request-id"], "a b\"c");
    // Errors carry the id too.
    let resp = cli
        .get("/nope")
        .header("x-request-id", "err-1")
        .send()
        .await;
    assert_eq!(resp.0.headers()["x-request-id"], "err-1");
}

storage_test!(health_reports_the_database, |url: String| async move {
    let (cli, store) = app_with(&url, &[]).await;
    let live = cli.get("/api/health/live").send().await;
    assert_eq!(live.0.status(), StatusCode::OK);
    assert_eq!(body(live).await["status"], "ok");
    let ready = cli.get("/api/health/ready").send().await;
    assert_eq!(ready.0.status(), StatusCode::OK);
    let summary = body(cli.get("/api/health").send().await).await;
    // An optional component that is down (a nearly full disk here) degrades the whole.
    let disk_ok = summary["components"][1]["status"] == "healthy";
    assert_eq!(
        summary["status"],
        if disk_ok { "healthy" } else { "degraded" }
    );
    let names: Vec<&str> = summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["database", "disk", "task_queue", "workers"]);
    let database = &summary["components"][0];
    assert_eq!(database["required"], true);
    assert_eq!(database["status"], "healthy");
    assert_eq!(database["uptime_24h"], 100.0);
    assert!(
        database["total_checks"].as_u64().unwrap() >= 2,
        "{database}"
    );
    let one = body(cli.get("/api/health/components/task_queue").send().await).await;
    assert_eq!(one["status"], "healthy", "{one}");
    assert_eq!(
        error_code(
            cli.get("/api/health/components/nope").send().await,
            StatusCode::NOT_FOUND
        )
        .await,
        "not_found"
    );
    // No host paths, versions or variables leak through health output.
    let text = serde_json::to_string(&summary).unwrap();
    assert!(
        !text.contains("/tmp") && !text.contains(env!("CARGO_PKG_VERSION")),
        "{text}"
    );

    store.close().await;
    let ready = cli.get("/api/health/ready").send().await;
    assert_eq!(
        error_code(ready, StatusCode::SERVICE_UNAVAILABLE).await,
        "unavailable"
    );
    let summary = cli.get("/api/health").send().await;
    assert_eq!(summary.0.status(), StatusCode::SERVICE_UNAVAILABLE);
    let summary = body(summary).await;
    assert_eq!(summary["status"], "critical");
    let database = &summary["components"][0];
    assert_eq!(database["status"], "critical");
    assert_eq!(database["consecutive_failures"], 1);
    assert_eq!(database["last_error"], "the database does not answer");
    let live = cli.get("/api/health/live").send().await;
    assert_eq!(
        live.0.status(),
        StatusCode::OK,
        "liveness does not depend on the database"
    );
    let pets = cli.get("/api/pets").send().await;
    assert_eq!(
        error_code(pets, StatusCode::SERVICE_UNAVAILABLE).await,
        "unavailable"
    );
});

#[tokio::test]
async fn runtime_describes_the_process_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/rt.db?mode=rwc", dir.path().display());
    let (cli, _store) = app_with(
        &url,
        &[
            ("TRAE_JWT_SECRET", "supersecretjwtvalue-supersecretjwtvalue"),
            (
                "TRAE_MASTER_KEY",
                "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYgo=",
            ),
        ],
    )
    .await;
    let resp = cli.get("/api/runtime").send().await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    let text = resp.0.into_body().into_string().await.unwrap();
    assert!(
        !text.contains("supersecretjwtvalue")
            && !text.contains("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYgo="),
        "{text}"
    );
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(value["pid"].as_u64(), Some(u64::from(std::process::id())));
    assert_eq!(value["database_backend"], "sqlite");
    assert!(value["resident_memory_bytes"].as_u64().unwrap() > 1_000_000);
    assert!(value["uptime_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(value["config"]["jwt_secret_configured"], true);
    assert!(value["git_commit"].as_str().is_some_and(|c| !c.is_empty()));
}

#[tokio::test]
async fn discovery_lists_every_operation_of_the_spec() {
    let cli = app("sqlite::memory:").await;
    let spec = body(cli.get("/openapi.json").send().await).await;
    let mut from_spec: Vec<(String, String)> = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            from_spec.push((method.to_uppercase(), path.clone()));
        }
    }
    from_spec.sort();
    let discovery = body(cli.get("/api/discovery").send().await).await;
    let mut listed: Vec<(String, String)> = discovery["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_owned(),
                r["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    listed.sort();
    assert_eq!(listed, from_spec);
    assert!(listed.contains(&("GET".into(), "/api/pets/{id}".into())));
    let pets = discovery["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["operation_id"] == "create_pet")
        .unwrap();
    assert_eq!(
        (pets["summary"].as_str(), pets["tag"].as_str()),
        (Some("Create a pet"), Some("Pets"))
    );
    let services: Vec<&str> = discovery["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        services.contains(&"Pets") && services.contains(&"Health"),
        "{services:?}"
    );
}

#[tokio::test]
async fn docs_spec_and_root_are_served() {
    let cli = app("sqlite::memory:").await;
    let docs = cli.get("/docs").send().await;
    assert_eq!(docs.0.status(), StatusCode::OK);
    let page = docs.0.into_body().into_string().await.unwrap();
    assert!(page.contains("SwaggerUIBundle"), "no Swagger UI");
    let served = cli.get("/openapi.json").send().await;
    let served = served.0.into_body().into_string().await.unwrap();
    // The page shows the served document, with its operations, not an empty one.
    assert!(
        page.contains(&format!("let spec = {served};")),
        "not the served spec"
    );
    assert!(served.contains("/api/pets/{id}"), "{served}");
    let spec = body(cli.get("/openapi.json").send().await).await;
    assert_eq!(spec["info"]["title"], "trae");
    assert!(spec["components"]["schemas"]["ErrorBody"].is_object());
    let root = cli.get("/").send().await;
    assert_eq!(root.0.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(root.0.headers()["location"], "/docs");
}

#[tokio::test]
async fn security_headers_are_on_every_answer() {
    let cli = app("sqlite::memory:").await;
    for resp in [
        cli.get("/api/health/live").send().await,
        cli.get("/api/nope").send().await,
        cli.post("/api/pets")
            .body("{")
            .content_type("application/json")
            .send()
            .await,
        cli.get("/api/health/live")
            .header("x-padding", "a".repeat(17 * 1024))
            .send()
            .await,
    ] {
        let h = resp.0.headers();
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
    }
}

/// trae's layers pass the inner future on instead of wrapping it in an `async fn` each, and
/// the API is not nested in poem's router: async layers held copies of the request and made
/// a request's future 10 KB, copied whole wherever it was boxed (a third of the stack's CPU,
/// issue 20). It is 2.4 KB now; a layer turned back into an `async fn` breaks the bound.
#[tokio::test]
async fn a_request_future_stays_small() {
    let dir = tempfile::tempdir().unwrap();
    let env = |k: &str| (k == "TRAE_DATA_DIR").then(|| dir.path().display().to_string());
    let state = Trae::open(Config::from_sources(env).unwrap())
        .await
        .unwrap();
    let endpoint = App::new(&state).await.unwrap().into_endpoint();
    let request = poem::Request::builder()
        .uri(poem::http::Uri::from_static("/api/health/live"))
        .finish();
    let bytes = std::mem::size_of_val(&endpoint.call(request));
    eprintln!("a request's future: {bytes} bytes");
    assert!(bytes <= 4 * 1024, "a request's future takes {bytes} bytes");
}

#[tokio::test]
async fn cors_admits_configured_origins_only() {
    let (cli, _store) = app_with(
        "sqlite::memory:",
        &[("TRAE_CORS_ORIGINS", "https://app.example.com")],
    )
    .await;
    let resp = cli
        .get("/api/health/live")
        .header("origin", "https://app.example.com")
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    assert_eq!(
        resp.0.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let preflight = cli
        .options("/api/pets")
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await;
    assert!(
        preflight.0.status().is_success(),
        "{}",
        preflight.0.status()
    );
    assert_eq!(
        preflight.0.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let other = cli
        .get("/api/health/live")
        .header("origin", "https://evil.example.net")
        .send()
        .await;
    assert_eq!(other.0.status(), StatusCode::FORBIDDEN);
    assert!(
        other
            .0
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let body = body(other).await;
    assert!(body["error"]["code"].is_string(), "{body}");
}

storage_test!(
    served_requests_are_recorded_off_the_request_path,
    |url: String| async move {
        let dir = tempfile::tempdir().unwrap();
        let env: std::collections::HashMap<String, String> = [
            ("TRAE_DATA_DIR".to_owned(), dir.path().display().to_string()),
            (
                "TRAE_MASTER_KEY".to_owned(),
                "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYgo=".to_owned(),
            ),
            // Every request, not the default sample.
            ("TRAE_REQUEST_HISTORY_PERCENT".to_owned(), "100".to_owned()),
        ]
        .into();
        let config = Config::from_sources(|k| env.get(k).cloned()).unwrap();
        let store = Store::connect(&url).await.unwrap();
        let state = Trae::with_store(config, store).await.unwrap();
        let token = signed_in(&state, "watcher", &["viewer"]).await;
        let cli = TestClient::new(App::new(&state).await.unwrap().into_endpoint())
            .default_header("authorization", format!("Bearer {token}"));
        for _ in 0..3 {
            assert_eq!(cli.get("/api/pets").send().await.0.status(), StatusCode::OK);
        }
        cli.get("/api/pets/00000000-0000-0000-0000-000000000000")
            .send()
            .await;
        cli.get("/api/health/live").send().await;
        state.history().unwrap().flush().await;

        let page = body(cli.get("/api/metrics/requests").send().await).await;
        assert_eq!(page["total"], 4, "health probes are not recorded: {page}");
        let missing = body(cli.get("/api/metrics/requests?status=404").send().await).await;
        assert_eq!(missing["total"], 1);
        let route = missing["items"][0]["route"].as_str().unwrap();
        assert!(
            route.starts_with("/api/pets/:") && !route.contains("0000"),
            "the template, not the path: {route}"
        );
        assert_eq!(missing["items"][0]["method"], "GET");
        assert!(missing["items"][0]["request_id"].is_string());
        let listed = body(
            cli.get("/api/metrics/requests?route=/api/pets")
                .send()
                .await,
        )
        .await;
        assert_eq!(listed["total"], 3);

        let key = body(
            cli.post("/api/auth/api-keys")
                .body_json(&serde_json::json!({"name": "pets only", "scopes": ["pets:read"]}))
                .send()
                .await,
        )
        .await["key"]
            .as_str()
            .unwrap()
            .to_owned();
        let denied = TestClient::new(App::new(&state).await.unwrap().into_endpoint())
            .get("/api/metrics/requests")
            .header("x-api-key", key)
            .send()
            .await;
        assert_eq!(error_code(denied, StatusCode::FORBIDDEN).await, "forbidden");
    }
);

#[tokio::test]
async fn request_history_that_is_off_says_so() {
    let (cli, _store) = app_with("sqlite::memory:", &[("TRAE_REQUEST_HISTORY_PERCENT", "0")]).await;
    cli.get("/api/pets").send().await;
    let resp = cli.get("/api/metrics/requests").send().await;
    assert_eq!(resp.0.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = body(resp).await;
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/m.db?mode=rwc", dir.path().display());
    let (cli, _store) = app_with(&url, &[]).await;
    for _ in 0..3 {
        cli.get("/api/pets").send().await.assert_status_is_ok();
    }
    let resp = cli.get("/metrics").send().await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    let text = resp.0.into_body().into_string().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    let pets: f64 = scrape
        .samples
        .iter()
        .filter(|s| {
            s.metric == "trae_http_requests_total"
                && s.labels.get("route") == Some("/api/pets")
                && s.labels.get("status") == Some("200")
        })
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum();
    assert!(pets >= 3.0, "{text}");
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric.starts_with("trae_http_request_duration_seconds")),
        "{text}"
    );
    // Only callers holding metrics:read.
    let anonymous = TestClient::new(
        App::new(&state_for_metrics(&url).await)
            .await
            .unwrap()
            .into_endpoint(),
    );
    let resp = anonymous.get("/metrics").send().await;
    assert_eq!(resp.0.status(), StatusCode::UNAUTHORIZED);
}

async fn state_for_metrics(url: &str) -> Trae {
    let dir = tempfile::tempdir().unwrap();
    let env: std::collections::HashMap<String, String> = [
        ("TRAE_DATA_DIR".to_owned(), dir.path().display().to_string()),
        (
            "TRAE_MASTER_KEY".to_owned(),
            "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYgo=".to_owned(),
        ),
    ]
    .into();
    let config = Config::from_sources(|k| env.get(k).cloned()).unwrap();
    let store = Store::connect(url).await.unwrap();
    Trae::with_store(config, store).await.unwrap()
}

/// A server on a PostgreSQL-style URL with a password (never connected: the summary is all
/// `/api/runtime` reads), signed in as a viewer and as an admin.
#[tokio::test]
async fn runtime_shows_paths_to_admins_only_and_never_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/rt.db?mode=rwc", dir.path().display());
    let env: std::collections::HashMap<String, String> = [
        ("TRAE_DATA_DIR".to_owned(), dir.path().display().to_string()),
        ("TRAE_DATABASE_URL".to_owned(), url.clone()),
        (
            "TRAE_MASTER_KEY".to_owned(),
            "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYgo=".to_owned(),
        ),
    ]
    .into();
    let config = Config::from_sources(|k| env.get(k).cloned()).unwrap();
    let store = Store::connect(&url).await.unwrap();
    let state = Trae::with_store(config, store).await.unwrap();
    let viewer = signed_in(&state, "viewer1", &["viewer"]).await;
    let admin = signed_in(&state, "admin1", &["admin"]).await;
    let cli = TestClient::new(App::new(&state).await.unwrap().into_endpoint());
    let seen = |token: String| {
        let cli = &cli;
        async move {
            let resp = cli
                .get("/api/runtime")
                .header("authorization", format!("Bearer {token}"))
                .send()
                .await;
            assert_eq!(resp.0.status(), StatusCode::OK);
            resp.0.into_body().into_string().await.unwrap()
        }
    };
    let text = seen(viewer).await;
    let dir_text = dir.path().display().to_string();
    assert!(!text.contains(&dir_text), "a viewer sees no paths: {text}");
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["config"]["data_dir"], Value::Null, "{value}");
    assert_eq!(value["config"]["database_url"], Value::Null, "{value}");
    assert_eq!(value["database_backend"], "sqlite");

    let value: Value = serde_json::from_str(&seen(admin).await).unwrap();
    assert_eq!(value["config"]["data_dir"], dir_text.as_str(), "{value}");
    assert_eq!(value["config"]["database_url"], url.as_str(), "{value}");
}

#[tokio::test]
async fn token_answers_are_never_cached() {
    let cli = app("sqlite::memory:").await;
    let login = cli
        .post("/api/auth/login")
        .body_json(&json!({"username": "tester", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(login.0.status(), StatusCode::OK);
    assert_eq!(login.0.headers()["cache-control"], "no-store");
    assert_eq!(login.0.headers()["pragma"], "no-cache");
    let refresh_token = body(login).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refreshed = cli
        .post("/api/auth/refresh")
        .body_json(&json!({"refresh_token": refresh_token}))
        .send()
        .await;
    assert_eq!(refreshed.0.status(), StatusCode::OK);
    assert_eq!(refreshed.0.headers()["cache-control"], "no-store");
    assert_eq!(refreshed.0.headers()["pragma"], "no-cache");
}

#[tokio::test]
async fn oversized_request_headers_are_431_with_the_error_shape() {
    let cli = app("sqlite::memory:").await;
    let resp = cli
        .get("/api/health/live")
        .header("x-padding", "a".repeat(200 * 1024))
        .send()
        .await;
    assert_eq!(
        error_code(resp, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE).await,
        "headers_too_large"
    );
    // Many headers that are small each count together.
    let mut req = cli.get("/api/health/live");
    for i in 0..40 {
        req = req.header(format!("x-pad-{i}"), "b".repeat(500));
    }
    assert_eq!(
        req.send().await.0.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    // Ordinary requests, credentials included, pass.
    cli.get("/api/pets")
        .header("x-padding", "c".repeat(4 * 1024))
        .send()
        .await
        .assert_status_is_ok();
}

#[tokio::test]
async fn cross_origin_requests_are_refused_when_no_origin_is_configured() {
    let cli = app("sqlite::memory:").await;
    let foreign = cli
        .get("/api/health/live")
        .header("origin", "https://evil.example.net")
        .send()
        .await;
    assert!(
        foreign
            .0
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert_eq!(
        error_code(foreign, StatusCode::FORBIDDEN).await,
        "forbidden"
    );
    // Same origin (the Origin names the Host the request went to), and no Origin at all.
    let same = cli
        .post("/api/pets")
        .header("host", "127.0.0.1:8000")
        .header("origin", "http://127.0.0.1:8000")
        .body_json(&json!({"name": "Rex", "species": "dog", "age": 3}))
        .send()
        .await;
    assert_eq!(same.0.status(), StatusCode::CREATED);
    cli.get("/api/pets").send().await.assert_status_is_ok();

    // With origins configured, the server's own origin still works though it is not listed.
    let (cli, _store) = app_with(
        "sqlite::memory:",
        &[("TRAE_CORS_ORIGINS", "https://app.example.com")],
    )
    .await;
    cli.get("/api/pets")
        .header("host", "trae.example.com")
        .header("origin", "https://trae.example.com")
        .send()
        .await
        .assert_status_is_ok();
}

storage_test!(
    bodies_are_typed_strictly_on_every_route,
    |url: String| async move {
        let cli = app(&url).await;
        let raw = |method: &str, path: &str, text: &str| {
            let req = match method {
                "POST" => cli.post(path),
                "PATCH" => cli.patch(path),
                "PUT" => cli.put(path),
                other => panic!("{other}"),
            };
            req.content_type("application/json").body(text.to_owned())
        };
        for (method, path, text) in [
            (
                "POST",
                "/api/pets",
                r#"{"name": false, "species": "dog", "age": 3}"#,
            ),
            (
                "POST",
                "/api/pets",
                r#"{"name": 7, "species": "dog", "age": 3}"#,
            ),
            (
                "POST",
                "/api/pets",
                r#"{"name": "Rex", "species": "dog", "age": 3, "tags": [1]}"#,
            ),
            (
                "POST",
                "/api/pets",
                r#"{"name": "Rex", "name": "Max", "species": "dog", "age": 3}"#,
            ),
            (
                "POST",
                "/api/auth/login",
                r#"{"username": 12, "password": "x"}"#,
            ),
            (
                "POST",
                "/api/auth/login",
                r#"{"username": "a", "username": "tester", "password": "x"}"#,
            ),
            ("PATCH", "/api/users/me", r#"{"full_name": true}"#),
            ("POST", "/api/tasks", r#"{"kind": 5}"#),
            (
                "POST",
                "/api/tasks",
                r#"{"kind": "noop", "payload": {"a": 1, "a": 2}}"#,
            ),
            ("POST", "/api/auth/api-keys", r#"{"name": 1.5}"#),
            (
                "POST",
                "/api/apis",
                r#"{"name": "m", "capability": "llm.chat", "base_url": "https://x.example", "limits": {"per_minute": 1, "colour": 2}}"#,
            ),
        ] {
            let resp = raw(method, path, text).send().await;
            assert_eq!(
                error_code(resp, StatusCode::UNPROCESSABLE_ENTITY).await,
                "validation_failed",
                "{method} {path} {text}"
            );
        }
        let listed = body(cli.get("/api/pets").send().await).await;
        assert_eq!(listed["total"], 0, "nothing was written");
        let tasks = body(cli.get("/api/tasks").send().await).await;
        assert_eq!(tasks["total"], 0, "nothing was queued");
    }
);
