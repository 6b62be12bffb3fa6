//! The secrets vault over HTTP, on SQLite and PostgreSQL: the round trip, permissions per
//! route, the audit trail, and values never leaking outside `reveal`.

use poem::http::StatusCode;
use poem::test::{TestClient, TestResponse};
use poem::{Endpoint, Response};
use serde_json::{Value, json};
use trae_agents::Trae;
use trae_auth::{NewRole, Registration, RequestMeta, SetSecret};
use trae_core::{Config, Principal};
use trae_server::App;
use trae_storage::{Store, storage_test};

/// The password of every test user.
const PASSWORD: &str = "correct horse battery";
/// A value no response other than `reveal` may contain.
const VALUE: &str = "sk-live-7f3c9a1e5b2d4c6a8e0f";
/// The value's second version.
const VALUE_2: &str = "sk-live-second-0b1c2d3e4f5a";

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
        ("TRAE_DATABASE_URL", url.to_owned()),
        // PostgreSQL needs a shared secrets master key.
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
    let cli = TestClient::new(App::new(&state).await.unwrap().into_endpoint());
    Harness {
        cli,
        state,
        admin,
        _dir: dir,
    }
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

/// The status and the raw body text.
async fn text(resp: TestResponse) -> (StatusCode, String) {
    let status = resp.0.status();
    (status, resp.0.into_body().into_string().await.unwrap())
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

impl<E: Endpoint<Output = Response>> Harness<E> {
    /// Sends a request as the holder of `token`, with a JSON body when given; returns the
    /// status, the `Cache-Control` header and the body text.
    async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Option<String>, String) {
        let req = match method {
            "GET" => self.cli.get(path),
            "PUT" => self.cli.put(path),
            "POST" => self.cli.post(path),
            "DELETE" => self.cli.delete(path),
            other => panic!("method {other}"),
        }
        .header("authorization", format!("Bearer {token}"));
        let req = match body {
            Some(body) => req.body_json(body),
            None => req,
        };
        let resp = req.send().await;
        let cache = resp
            .0
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_owned());
        let (status, body) = text(resp).await;
        (status, cache, body)
    }

    /// As the admin; asserts 200 and returns the JSON body and its text.
    async fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> (Value, String) {
        let (status, _, text) = self.call(&self.admin, method, path, body).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {text}");
        (json(&text), text)
    }

    /// As `token`; asserts the status and the error code.
    async fn fails(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
        status: StatusCode,
        code: &str,
    ) -> String {
        let (got, _, text) = self.call(token, method, path, body).await;
        assert_eq!(got, status, "{method} {path} {body:?}: {text}");
        let value = json(&text);
        assert_eq!(value["error"]["code"], code, "{method} {path}: {text}");
        value["error"]["message"].as_str().unwrap().to_owned()
    }
}

storage_test!(
    set_describe_list_reveal_prune_delete,
    |url: String| async move {
        let h = harness(&url).await;
        let (first, text) = h
        .ok(
            "PUT",
            "/api/secrets/OPENAI_API_KEY",
            Some(&json!({"value": VALUE, "description": "the model provider", "tags": ["prod", "api:openai"]})),
        )
        .await;
        assert!(
            !text.contains(VALUE),
            "set answers without the value: {text}"
        );
        assert_eq!(first["name"], "OPENAI_API_KEY");
        assert_eq!(first["version"], 1);
        assert_eq!(first["description"], "the model provider");
        assert_eq!(first["tags"], json!(["api:openai", "prod"]));
        assert!(first["created_by"].as_str().unwrap().starts_with("user:"));
        assert!(first.get("value").is_none());

        // A new value without metadata keeps the description and tags.
        let (second, text) = h
            .ok(
                "PUT",
                "/api/secrets/OPENAI_API_KEY",
                Some(&json!({"value": VALUE_2})),
            )
            .await;
        assert!(!text.contains(VALUE_2));
        assert_eq!(second["version"], 2);
        assert_eq!(second["description"], "the model provider");
        assert_eq!(second["created_at"], first["created_at"]);
        h.ok(
            "PUT",
            "/api/secrets/db.password",
            Some(&json!({"value": "hunter2-but-longer", "tags": ["db"]})),
        )
        .await;

        let (got, text) = h.ok("GET", "/api/secrets/OPENAI_API_KEY", None).await;
        assert_eq!(got["version"], 2);
        assert!(!text.contains(VALUE) && !text.contains(VALUE_2), "{text}");

        let (all, text) = h.ok("GET", "/api/secrets", None).await;
        assert!(!text.contains(VALUE) && !text.contains(VALUE_2) && !text.contains("hunter2"));
        assert_eq!(
            (&all["total"], &all["limit"], &all["offset"]),
            (&json!(2), &json!(50), &json!(0))
        );
        let names: Vec<&str> = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["OPENAI_API_KEY", "db.password"]);
        assert!(all["items"][0].get("value").is_none());
        let (by_prefix, _) = h.ok("GET", "/api/secrets?prefix=db.", None).await;
        assert_eq!(by_prefix["total"], 1);
        assert_eq!(by_prefix["items"][0]["name"], "db.password");
        let (by_tag, _) = h.ok("GET", "/api/secrets?tag=prod", None).await;
        assert_eq!(by_tag["items"][0]["name"], "OPENAI_API_KEY");
        assert_eq!(by_tag["total"], 1);
        let (paged, _) = h.ok("GET", "/api/secrets?limit=1&offset=1", None).await;
        assert_eq!(
            (
                paged["total"].as_u64(),
                paged["items"].as_array().unwrap().len()
            ),
            (Some(2), 1)
        );
        assert_eq!(paged["items"][0]["name"], "db.password");

        let (versions, text) = h
            .ok("GET", "/api/secrets/OPENAI_API_KEY/versions", None)
            .await;
        assert!(!text.contains(VALUE) && !text.contains(VALUE_2));
        assert_eq!(versions["total"], 2);
        let numbers: Vec<u64> = versions["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_u64().unwrap())
            .collect();
        assert_eq!(numbers, [2, 1]);

        // Reveal: no body is the latest version; the response is never cached.
        let (status, cache, text) = h
            .call(&h.admin, "POST", "/api/secrets/OPENAI_API_KEY/reveal", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert_eq!(cache.as_deref(), Some("no-store"));
        let revealed = json(&text);
        assert_eq!(revealed["value"], VALUE_2);
        assert_eq!(revealed["version"], 2);
        assert_eq!(revealed["name"], "OPENAI_API_KEY");
        let (status, cache, text) = h
            .call(
                &h.admin,
                "POST",
                "/api/secrets/OPENAI_API_KEY/reveal",
                Some(&json!({"version": 1})),
            )
            .await;
        assert_eq!(
            (status, cache.as_deref()),
            (StatusCode::OK, Some("no-store"))
        );
        assert_eq!(json(&text)["value"], VALUE);
        let (status, _, text) = h
            .call(
                &h.admin,
                "POST",
                "/api/secrets/OPENAI_API_KEY/reveal",
                Some(&json!({})),
            )
            .await;
        assert_eq!(
            (status, json(&text)["version"].as_u64()),
            (StatusCode::OK, Some(2))
        );
        h.fails(
            &h.admin,
            "POST",
            "/api/secrets/OPENAI_API_KEY/reveal",
            Some(&json!({"version": 9})),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;

        // Prune keeps the newest; version 1 is gone.
        let (pruned, _) = h
            .ok(
                "POST",
                "/api/secrets/OPENAI_API_KEY/prune",
                Some(&json!({"keep": 1})),
            )
            .await;
        assert_eq!(
            (pruned["removed"].as_u64(), pruned["kept"].as_u64()),
            (Some(1), Some(1))
        );
        let (versions, _) = h
            .ok("GET", "/api/secrets/OPENAI_API_KEY/versions", None)
            .await;
        assert_eq!(versions["total"], 1);
        h.fails(
            &h.admin,
            "POST",
            "/api/secrets/OPENAI_API_KEY/reveal",
            Some(&json!({"version": 1})),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        let (pruned, _) = h
            .ok("POST", "/api/secrets/OPENAI_API_KEY/prune", None)
            .await;
        assert_eq!(pruned["removed"], 0, "the body may be left out");

        let (status, _, text) = h
            .call(&h.admin, "DELETE", "/api/secrets/OPENAI_API_KEY", None)
            .await;
        assert_eq!((status, text.as_str()), (StatusCode::NO_CONTENT, ""));
        for (method, path) in [
            ("GET", "/api/secrets/OPENAI_API_KEY"),
            ("GET", "/api/secrets/OPENAI_API_KEY/versions"),
            ("POST", "/api/secrets/OPENAI_API_KEY/reveal"),
            ("POST", "/api/secrets/OPENAI_API_KEY/prune"),
            ("DELETE", "/api/secrets/OPENAI_API_KEY"),
        ] {
            h.fails(
                &h.admin,
                method,
                path,
                None,
                StatusCode::NOT_FOUND,
                "not_found",
            )
            .await;
        }
        let (all, _) = h.ok("GET", "/api/secrets", None).await;
        assert_eq!(all["total"], 1);
    }
);

/// Every route with a body it accepts.
fn routes() -> Vec<(&'static str, &'static str, Option<Value>)> {
    vec![
        ("GET", "/api/secrets", None),
        ("GET", "/api/secrets/token", None),
        ("GET", "/api/secrets/token/versions", None),
        ("PUT", "/api/secrets/token", Some(json!({"value": "other"}))),
        ("POST", "/api/secrets/token/reveal", None),
        ("POST", "/api/secrets/token/prune", Some(json!({"keep": 1}))),
        ("DELETE", "/api/secrets/token", None),
    ]
}

storage_test!(each_route_needs_its_permission, |url: String| async move {
    let h = harness(&url).await;
    h.ok("PUT", "/api/secrets/token", Some(&json!({"value": VALUE})))
        .await;

    // No credentials: 401 everywhere.
    for (method, path, _) in routes() {
        let req = match method {
            "GET" => h.cli.get(path),
            "PUT" => h.cli.put(path),
            "POST" => h.cli.post(path),
            _ => h.cli.delete(path),
        };
        let (status, body) = text(req.send().await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
    }

    // A viewer holds no secrets permission: 403 on every route.
    let viewer = signed_in(&h.state, "vera", &["viewer"]).await;
    for (method, path, body) in routes() {
        let message = h
            .fails(
                &viewer,
                method,
                path,
                body.as_ref(),
                StatusCode::FORBIDDEN,
                "forbidden",
            )
            .await;
        assert!(message.contains("secrets:"), "{message}");
    }

    // A custom role with secrets:read lists and describes, but cannot reveal or change.
    h.state
        .identity()
        .policy
        .create_role(
            &Principal::System,
            NewRole {
                name: "secret-reader".into(),
                description: "Sees which secrets exist".into(),
                permissions: vec!["secrets:read".into()],
            },
            &RequestMeta::default(),
        )
        .await
        .unwrap();
    let reader = signed_in(&h.state, "rita", &["secret-reader"]).await;
    for (method, path, body) in routes() {
        let (status, _, text) = h.call(&reader, method, path, body.as_ref()).await;
        let expected = if method == "GET" {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(status, expected, "{method} {path}: {text}");
        assert!(!text.contains(VALUE), "{method} {path}: {text}");
    }
    let message = h
        .fails(
            &reader,
            "POST",
            "/api/secrets/token/reveal",
            None,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    assert!(message.contains("secrets:reveal"), "{message}");

    // The built-in developer role reads and writes but does not reveal.
    let developer = signed_in(&h.state, "dev", &["developer"]).await;
    let (status, _, _) = h
        .call(
            &developer,
            "PUT",
            "/api/secrets/token",
            Some(&json!({"value": VALUE_2})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    h.fails(
        &developer,
        "POST",
        "/api/secrets/token/reveal",
        None,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Nothing the refused callers tried changed the secret.
    let (got, _) = h.ok("GET", "/api/secrets/token", None).await;
    assert_eq!(got["version"], 2);

    // Refused reveals are in the audit log as denials.
    let (denied, _) = h
        .ok("GET", "/api/audit?action=secret.reveal&limit=500", None)
        .await;
    let outcomes: Vec<&str> = denied["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.iter().filter(|o| **o == "denied").count() >= 3,
        "{outcomes:?}"
    );
});

storage_test!(
    set_reveal_and_delete_are_audited_without_the_value,
    |url: String| async move {
        let h = harness(&url).await;
        h.ok(
            "PUT",
            "/api/secrets/smtp.password",
            Some(&json!({"value": VALUE})),
        )
        .await;
        h.ok("POST", "/api/secrets/smtp.password/reveal", None)
            .await;
        let (status, _, _) = h
            .call(&h.admin, "DELETE", "/api/secrets/smtp.password", None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);

        let (audit, text) = h.ok("GET", "/api/audit?limit=500", None).await;
        assert!(
            !text.contains(VALUE),
            "the audit log holds no value: {text}"
        );
        for action in ["secret.set", "secret.reveal", "secret.delete"] {
            let entry = audit["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["action"] == action)
                .unwrap_or_else(|| panic!("no {action} entry: {text}"));
            assert_eq!(entry["target"], "secret:smtp.password", "{entry}");
            assert_eq!(entry["outcome"], "success", "{entry}");
            assert_eq!(entry["actor"]["kind"], "user", "{entry}");
            assert!(entry["request_id"].is_string(), "{entry}");
        }

        // The library's view agrees: no entry's details carry the value.
        let entries = h
            .state
            .identity()
            .audit_entries(
                &Principal::System,
                trae_core::AuditFilter::default(),
                trae_core::PageRequest::new(Some(500), None).unwrap(),
            )
            .await
            .unwrap();
        assert!(
            entries
                .items
                .iter()
                .all(|e| !e.details.to_string().contains(VALUE))
        );
    }
);

storage_test!(bad_input_is_a_clear_4xx, |url: String| async move {
    let h = harness(&url).await;
    let admin = h.admin.clone();
    let unprocessable = |method: &'static str, path: &'static str, body: Option<Value>| {
        let h = &h;
        let admin = admin.clone();
        async move {
            h.fails(
                &admin,
                method,
                path,
                body.as_ref(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            )
            .await
        }
    };

    // Names: a space, a leading dot, a colon, too long.
    for path in [
        "/api/secrets/with%20space",
        "/api/secrets/.hidden",
        "/api/secrets/colon:name",
    ] {
        let versions = format!("{path}/versions");
        let reveal = format!("{path}/reveal");
        let prune = format!("{path}/prune");
        for (method, full) in [
            ("GET", path),
            ("DELETE", path),
            ("GET", versions.as_str()),
            ("POST", reveal.as_str()),
            ("POST", prune.as_str()),
        ] {
            let message = h
                .fails(
                    &admin,
                    method,
                    full,
                    None,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                )
                .await;
            assert!(message.contains("name"), "{message}");
        }
        h.fails(
            &admin,
            "PUT",
            path,
            Some(&json!({"value": "x"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
    let long = format!("/api/secrets/{}", "a".repeat(129));
    h.fails(
        &admin,
        "PUT",
        &long,
        Some(&json!({"value": "x"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;

    // Values and metadata.
    let message = unprocessable("PUT", "/api/secrets/empty", Some(json!({"value": ""}))).await;
    assert!(message.contains("value"), "{message}");
    let big = "x".repeat(64 * 1024 + 1);
    let message = unprocessable("PUT", "/api/secrets/big", Some(json!({"value": big}))).await;
    assert!(message.contains("value"), "{message}");
    unprocessable("PUT", "/api/secrets/a", Some(json!({"value": 42}))).await;
    unprocessable(
        "PUT",
        "/api/secrets/a",
        Some(json!({"description": "no value"})),
    )
    .await;
    unprocessable(
        "PUT",
        "/api/secrets/a",
        Some(json!({"value": "x", "shell": "rm -rf /"})),
    )
    .await;
    unprocessable(
        "PUT",
        "/api/secrets/a",
        Some(json!({"value": "x", "tags": ["has space"]})),
    )
    .await;
    unprocessable(
        "PUT",
        "/api/secrets/a",
        Some(json!({"value": "x", "description": "bell\u{7}"})),
    )
    .await;
    unprocessable("GET", "/api/secrets?limit=0", None).await;
    unprocessable("GET", "/api/secrets?offset=-1", None).await;

    // Exactly 64 KiB is allowed.
    let max = "y".repeat(64 * 1024);
    h.ok("PUT", "/api/secrets/max", Some(&json!({"value": max})))
        .await;
    unprocessable("POST", "/api/secrets/max/prune", Some(json!({"keep": 0}))).await;
    unprocessable(
        "POST",
        "/api/secrets/max/reveal",
        Some(json!({"version": "one"})),
    )
    .await;
    unprocessable(
        "POST",
        "/api/secrets/max/reveal",
        Some(json!({"versoin": 1})),
    )
    .await;
    let malformed = h
        .cli
        .post("/api/secrets/max/reveal")
        .header("authorization", format!("Bearer {admin}"))
        .content_type("application/json")
        .body("{\"version\": ")
        .send()
        .await;
    let status = malformed.0.status();
    assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
        "{status}"
    );
    let wrong_type = h
        .cli
        .post("/api/secrets/max/reveal")
        .header("authorization", format!("Bearer {admin}"))
        .content_type("text/plain")
        .body("1")
        .send()
        .await;
    assert_eq!(wrong_type.0.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Nothing invalid was written.
    let (all, _) = h.ok("GET", "/api/secrets", None).await;
    assert_eq!(all["total"], 1);

    // A value that is not UTF-8 (set through the library) is a 409 on reveal, not a 500.
    h.state
        .vault()
        .await
        .unwrap()
        .set(
            &Principal::System,
            "binary",
            SetSecret::value(vec![0xff, 0xfe, 0x00, 0x01]),
            &RequestMeta::default(),
        )
        .await
        .unwrap();
    let message = h
        .fails(
            &admin,
            "POST",
            "/api/secrets/binary/reveal",
            None,
            StatusCode::CONFLICT,
            "conflict",
        )
        .await;
    assert!(message.contains("UTF-8"), "{message}");
});

storage_test!(
    the_spec_lists_the_secrets_routes,
    |url: String| async move {
        let h = harness(&url).await;
        let spec: Value = serde_json::from_str(&App::new(&h.state).await.unwrap().spec()).unwrap();
        for path in [
            "/api/secrets",
            "/api/secrets/{name}",
            "/api/secrets/{name}/versions",
            "/api/secrets/{name}/reveal",
            "/api/secrets/{name}/prune",
        ] {
            assert!(spec["paths"].get(path).is_some(), "{path} missing");
        }
        let reveal = &spec["paths"]["/api/secrets/{name}/reveal"]["post"];
        assert_eq!(reveal["tags"], json!(["Secrets"]));
        assert_eq!(reveal["requestBody"]["required"], false);
    }
);
