//! Identity over HTTP, on SQLite and PostgreSQL: registration, sign-in, tokens, lockout,
//! profiles, API keys, administration, policy and the audit log, with the attacks the rules
//! exist to stop.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use poem::http::StatusCode;
use poem::test::{TestClient, TestResponse};
use poem::{Endpoint, Response};
use serde_json::{Value, json};
use trae_agents::Trae;
use trae_core::{Config, ManualClock};
use trae_server::App;
use trae_storage::{Store, StoreOptions, storage_test};

const PASSWORD: &str = "correct horse battery";

struct Harness<E> {
    cli: TestClient<E>,
    clock: Arc<ManualClock>,
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
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
    ));
    let options = StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    let store = Store::connect_with(url, options).await.unwrap();
    let state = Trae::with_store(config, store).await.unwrap();
    state.bootstrap_admin().await.unwrap().expect("first admin");
    Harness {
        cli: TestClient::new(App::new(&state).await.unwrap().into_endpoint()),
        clock,
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

/// Asserts the status and the error envelope; returns the body.
async fn expect_error(resp: TestResponse, status: StatusCode, code: &str) -> Value {
    assert_eq!(resp.0.status(), status);
    let body = json_of(resp).await;
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    body
}

impl<E: Endpoint<Output = Response>> Harness<E> {
    async fn register(&self, name: &str) -> TestResponse {
        self.cli
            .post("/api/auth/register")
            .body_json(&json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD}))
            .send()
            .await
    }

    async fn login(&self, name: &str, password: &str) -> TestResponse {
        self.cli
            .post("/api/auth/login")
            .body_json(&json!({"username": name, "password": password}))
            .send()
            .await
    }

    /// Registers (if needed) and signs in; returns the login body.
    async fn user(&self, name: &str) -> Value {
        let _ = self.register(name).await;
        let resp = self.login(name, PASSWORD).await;
        assert_eq!(resp.0.status(), StatusCode::OK);
        json_of(resp).await
    }

    async fn token(&self, name: &str) -> String {
        self.user(name).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn get(&self, path: &str, token: &str) -> TestResponse {
        self.cli
            .get(path)
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
    }

    async fn send(&self, method: &str, path: &str, token: &str, body: &Value) -> TestResponse {
        let req = match method {
            "POST" => self.cli.post(path),
            "PATCH" => self.cli.patch(path),
            "DELETE" => self.cli.delete(path),
            _ => self.cli.put(path),
        };
        req.header("authorization", format!("Bearer {token}"))
            .body_json(body)
            .send()
            .await
    }
}

storage_test!(
    registration_gives_the_user_role_only,
    |url: String| async move {
        let h = harness(&url, &[]).await;
        let resp = h.register("ada").await;
        assert_eq!(resp.0.status(), StatusCode::CREATED);
        let user = json_of(resp).await;
        assert_eq!(user["roles"], json!(["user"]));
        assert!(user.get("password_hash").is_none() && user.get("password").is_none());

        let escalate = h
            .cli
            .post("/api/auth/register")
            .body_json(&json!({"username": "eve", "email": "eve@example.com", "password": PASSWORD, "roles": ["admin"]}))
            .send()
            .await;
        expect_error(
            escalate,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        expect_error(h.register("ADA").await, StatusCode::CONFLICT, "conflict").await;
        let weak = h
            .cli
            .post("/api/auth/register")
            .body_json(
                &json!({"username": "bob", "email": "bob@example.com", "password": "password123"}),
            )
            .send()
            .await;
        expect_error(weak, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        // Nothing was half-written: bob can still register properly.
        assert_eq!(h.register("bob").await.0.status(), StatusCode::CREATED);
    }
);

storage_test!(closed_registration_is_403, |url: String| async move {
    let h = harness(&url, &[("TRAE_REGISTRATION", "closed")]).await;
    expect_error(h.register("ada").await, StatusCode::FORBIDDEN, "forbidden").await;
    // The bootstrap admin can still sign in.
    assert_eq!(h.login("root", PASSWORD).await.0.status(), StatusCode::OK);
});

storage_test!(sign_in_refresh_reuse_and_logout, |url: String| async move {
    let h = harness(&url, &[]).await;
    h.register("ada").await;
    let wrong = expect_error(
        h.login("ada", "not the password").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let unknown = expect_error(
        h.login("nobody", "not the password").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(wrong, unknown, "no user enumeration");

    let login = h.user("ada").await;
    assert_eq!(login["token_type"], "bearer");
    assert!(login["expires_in"].as_i64().unwrap() > 800);
    assert_eq!(login["user"]["username"], "ada");
    let access = login["access_token"].as_str().unwrap();
    let refresh = login["refresh_token"].as_str().unwrap();
    let me = json_of(h.get("/api/auth/me", access).await).await;
    assert_eq!(me["username"], "ada");
    // The profile route answers GET too (it was PATCH only: 405).
    let profile = json_of(h.get("/api/users/me", access).await).await;
    assert_eq!(profile, me);
    expect_error(
        h.get("/api/users/me", "not-a-token").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // Login by email works too.
    assert_eq!(
        h.login("ADA@example.com", PASSWORD).await.0.status(),
        StatusCode::OK
    );

    // A refresh token is not an access token, nor an access token a refresh token.
    let resp = h.get("/api/auth/me", refresh).await;
    assert_eq!(resp.0.headers()["www-authenticate"], "Bearer");
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let resp = h
        .cli
        .post("/api/auth/refresh")
        .body_json(&json!({"refresh_token": access}))
        .send()
        .await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let resp = h
        .cli
        .post("/api/auth/refresh")
        .body_json(&json!({"refresh_token": refresh}))
        .send()
        .await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    let next = json_of(resp).await;
    let next_access = next["access_token"].as_str().unwrap().to_owned();
    assert_ne!(next["refresh_token"], login["refresh_token"]);
    assert_eq!(
        h.get("/api/auth/me", &next_access).await.0.status(),
        StatusCode::OK
    );

    // Replaying the used refresh token revokes the whole family.
    let replay = h
        .cli
        .post("/api/auth/refresh")
        .body_json(&json!({"refresh_token": refresh}))
        .send()
        .await;
    expect_error(replay, StatusCode::UNAUTHORIZED, "unauthorized").await;
    expect_error(
        h.get("/api/auth/me", &next_access).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let resp = h
        .cli
        .post("/api/auth/refresh")
        .body_json(&json!({"refresh_token": next["refresh_token"]}))
        .send()
        .await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Logout ends the session at once.
    let fresh = h.token("ada").await;
    let out = h.send("POST", "/api/auth/logout", &fresh, &json!({})).await;
    assert_eq!(out.0.status(), StatusCode::NO_CONTENT);
    expect_error(
        h.get("/api/auth/me", &fresh).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // Forged tokens: tampered payload, alg none, garbage.
    let parts: Vec<&str> = next_access.split('.').collect();
    let forged = format!("{}.{}x.{}", parts[0], parts[1], parts[2]);
    let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);
    for bad in [forged.as_str(), none.as_str(), "garbage"] {
        expect_error(
            h.get("/api/auth/me", bad).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    let anonymous = h.cli.get("/api/pets").send().await;
    assert_eq!(anonymous.0.headers()["www-authenticate"], "Bearer");
    expect_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
});

storage_test!(
    a_lockout_answers_like_bad_credentials_until_it_expires,
    |url: String| async move {
        let h = harness(&url, &[]).await;
        h.register("ada").await;
        let unknown = expect_error(
            h.login("nobody", "wrong password!").await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        for _ in 0..5 {
            expect_error(
                h.login("ada", "wrong password!").await,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            )
            .await;
        }
        // Locked (for this client's address): the right password is refused, and the answer
        // is the one an unknown name gets, so lockout tells nobody which names exist.
        let right = h.login("ada", PASSWORD).await;
        assert!(right.0.headers().get("retry-after").is_none());
        let right = expect_error(right, StatusCode::UNAUTHORIZED, "unauthorized").await;
        assert_eq!(right, unknown);

        h.clock
            .advance(Duration::minutes(15) + Duration::seconds(1));
        assert_eq!(h.login("ada", PASSWORD).await.0.status(), StatusCode::OK);
    }
);

storage_test!(
    lockout_settings_from_the_environment_apply_over_http,
    |url: String| async move {
        // The same setting locks a Python store after two failures (trae-py
        // test_composition.py): one configuration, read by one composition root.
        let h = harness(&url, &[("TRAE_LOCKOUT_MAX_FAILURES", "2")]).await;
        h.register("ada").await;
        for _ in 0..2 {
            expect_error(
                h.login("ada", "wrong password!").await,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            )
            .await;
        }
        let right = h.login("ada", PASSWORD).await;
        expect_error(right, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
);

storage_test!(
    a_viewer_reads_pets_but_every_write_is_refused,
    |url: String| async move {
        let h = harness(&url, &[]).await;
        let admin = h.token("root").await;
        let created = h
            .cli
            .post("/api/pets")
            .header("authorization", format!("Bearer {admin}"))
            .body_json(&json!({"name": "Rex", "species": "dog", "age": 3}))
            .send()
            .await;
        let id = json_of(created).await["id"].as_str().unwrap().to_owned();
        let admin_users = h
            .cli
            .post("/api/admin/users")
            .header("authorization", format!("Bearer {admin}"))
            .body_json(&json!({
                "username": "watcher", "email": "watcher@example.com",
                "password": PASSWORD, "roles": ["viewer"]
            }))
            .send()
            .await;
        assert_eq!(admin_users.0.status(), StatusCode::CREATED);
        let viewer = format!("Bearer {}", h.token("watcher").await);
        let read = h
            .cli
            .get(format!("/api/pets/{id}"))
            .header("authorization", &viewer)
            .send()
            .await;
        assert_eq!(read.0.status(), StatusCode::OK);
        let writes = [
            h.cli
                .post("/api/pets")
                .body_json(&json!({"name": "Tom", "species": "cat", "age": 2})),
            h.cli
                .patch(format!("/api/pets/{id}"))
                .body_json(&json!({"age": 4})),
            h.cli.delete(format!("/api/pets/{id}")),
        ];
        for write in writes {
            let refused = write.header("authorization", &viewer).send().await;
            let body = expect_error(refused, StatusCode::FORBIDDEN, "forbidden").await;
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("pets:write"),
                "{body}"
            );
        }
        let unchanged = h
            .cli
            .get(format!("/api/pets/{id}"))
            .header("authorization", &viewer)
            .send()
            .await;
        assert_eq!(json_of(unchanged).await["age"], 3, "nothing was written");
    }
);

storage_test!(
    profile_edits_cannot_touch_roles_and_password_changes_end_other_sessions,
    |url: String| async move {
        let h = harness(&url, &[]).await;
        let one = h.token("ada").await;
        let two = h.token("ada").await;
        for body in [
            json!({"roles": ["admin"]}),
            json!({"is_active": false}),
            json!({"email": "nope"}),
        ] {
            let resp = h.send("PATCH", "/api/users/me", &one, &body).await;
            expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        }
        let resp = h
            .send(
                "PATCH",
                "/api/users/me",
                &one,
                &json!({"full_name": "Ada Lovelace"}),
            )
            .await;
        assert_eq!(resp.0.status(), StatusCode::OK);
        let user = json_of(resp).await;
        assert_eq!(user["full_name"], "Ada Lovelace");
        assert_eq!(user["roles"], json!(["user"]));
        let cleared = json_of(
            h.send("PATCH", "/api/users/me", &one, &json!({"full_name": null}))
                .await,
        )
        .await;
        assert_eq!(cleared["full_name"], Value::Null);

        let wrong = h.send("POST", "/api/users/me/password", &one, &json!({"current_password": "nope nope nope", "new_password": "a brand new secret"})).await;
        expect_error(wrong, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        let ok = h
            .send(
                "POST",
                "/api/users/me/password",
                &one,
                &json!({"current_password": PASSWORD, "new_password": "a brand new secret"}),
            )
            .await;
        assert_eq!(ok.0.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            h.get("/api/auth/me", &one).await.0.status(),
            StatusCode::OK,
            "this session stays"
        );
        expect_error(
            h.get("/api/auth/me", &two).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        expect_error(
            h.login("ada", PASSWORD).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        assert_eq!(
            h.login("ada", "a brand new secret").await.0.status(),
            StatusCode::OK
        );
    }
);

storage_test!(
    api_keys_are_scoped_owned_and_revocable,
    |url: String| async move {
        let h = harness(&url, &[]).await;
        let ada = h.token("ada").await;
        let bob = h.token("bob").await;
        let escalate = h
            .send(
                "POST",
                "/api/auth/api-keys",
                &ada,
                &json!({"name": "x", "scopes": ["users:admin"]}),
            )
            .await;
        expect_error(escalate, StatusCode::FORBIDDEN, "forbidden").await;
        let resp = h
            .send(
                "POST",
                "/api/auth/api-keys",
                &ada,
                &json!({"name": "reader", "scopes": ["pets:read"], "expires_in_days": 30}),
            )
            .await;
        assert_eq!(resp.0.status(), StatusCode::CREATED);
        let created = json_of(resp).await;
        let key = created["key"].as_str().unwrap().to_owned();
        let id = created["id"].as_str().unwrap().to_owned();
        assert!(key.starts_with("trae_"));
        assert_eq!(created["scopes"], json!(["pets:read"]));

        let via_header = h
            .cli
            .get("/api/pets")
            .header("x-api-key", &key)
            .send()
            .await;
        assert_eq!(via_header.0.status(), StatusCode::OK);
        assert_eq!(h.get("/api/pets", &key).await.0.status(), StatusCode::OK);
        let write = h
            .send(
                "POST",
                "/api/pets",
                &key,
                &json!({"name": "Rex", "species": "dog", "age": 3}),
            )
            .await;
        expect_error(write, StatusCode::FORBIDDEN, "forbidden").await;
        // A key is not a refresh token, and an access token is not a key.
        let resp = h
            .cli
            .post("/api/auth/refresh")
            .body_json(&json!({"refresh_token": key}))
            .send()
            .await;
        expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let resp = h
            .cli
            .get("/api/pets")
            .header("x-api-key", &ada)
            .send()
            .await;
        expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
        // A key cannot mint keys.
        let resp = h
            .send(
                "POST",
                "/api/auth/api-keys",
                &key,
                &json!({"name": "child"}),
            )
            .await;
        expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;

        let listed = json_of(h.get("/api/auth/api-keys", &ada).await).await;
        assert_eq!(listed["total"], 1);
        assert!(!listed.to_string().contains(&key), "the key is shown once");
        assert_eq!(
            json_of(h.get("/api/auth/api-keys", &bob).await).await["total"],
            0
        );
        let stolen = h
            .send(
                "DELETE",
                &format!("/api/auth/api-keys/{id}"),
                &bob,
                &json!({}),
            )
            .await;
        expect_error(stolen, StatusCode::NOT_FOUND, "not_found").await;
        let revoked = h
            .send(
                "DELETE",
                &format!("/api/auth/api-keys/{id}"),
                &ada,
                &json!({}),
            )
            .await;
        assert_eq!(revoked.0.status(), StatusCode::NO_CONTENT);
        expect_error(
            h.get("/api/pets", &key).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
);

storage_test!(administration_policy_and_audit, |url: String| async move {
    let h = harness(&url, &[]).await;
    let ada = h.token("ada").await;
    let root = h.token("root").await;
    for path in [
        "/api/admin/users",
        "/api/policy/roles",
        "/api/policy/permissions",
        "/api/audit",
    ] {
        expect_error(h.get(path, &ada).await, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let users = json_of(h.get("/api/admin/users?query=ad&limit=10", &root).await).await;
    assert_eq!(users["total"], 1);
    let ada_id = users["items"][0]["id"].as_str().unwrap().to_owned();
    let root_id = json_of(h.get("/api/auth/me", &root).await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The last admin cannot be demoted, deactivated or deleted.
    for (method, body) in [
        ("PATCH", json!({"roles": ["user"]})),
        ("PATCH", json!({"is_active": false})),
        ("DELETE", json!({})),
    ] {
        let resp = h
            .send(method, &format!("/api/admin/users/{root_id}"), &root, &body)
            .await;
        expect_error(resp, StatusCode::CONFLICT, "conflict").await;
    }
    let bad_role = h
        .send(
            "PATCH",
            &format!("/api/admin/users/{ada_id}"),
            &root,
            &json!({"roles": ["wizard"]}),
        )
        .await;
    expect_error(
        bad_role,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;

    // A custom role, granted and then felt at once.
    let resp = h.send("POST", "/api/policy/roles", &root, &json!({"name": "auditor", "description": "Reads the log", "permissions": ["audit:read"]})).await;
    assert_eq!(resp.0.status(), StatusCode::CREATED);
    let dup = h
        .send(
            "POST",
            "/api/policy/roles",
            &root,
            &json!({"name": "auditor"}),
        )
        .await;
    expect_error(dup, StatusCode::CONFLICT, "conflict").await;
    let typo = h
        .send(
            "POST",
            "/api/policy/roles",
            &root,
            &json!({"name": "typo", "permissions": ["audit:raed"]}),
        )
        .await;
    expect_error(typo, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let resp = h
        .send(
            "PATCH",
            &format!("/api/admin/users/{ada_id}"),
            &root,
            &json!({"roles": ["user", "auditor"]}),
        )
        .await;
    assert_eq!(json_of(resp).await["roles"], json!(["auditor", "user"]));
    let log = h.get("/api/audit?action=auth.login&limit=5", &ada).await;
    assert_eq!(log.0.status(), StatusCode::OK);
    let log = json_of(log).await;
    assert!(log["total"].as_u64().unwrap() >= 2);
    assert!(!log.to_string().contains(PASSWORD));
    let builtin = h
        .send("DELETE", "/api/policy/roles/admin", &root, &json!({}))
        .await;
    expect_error(builtin, StatusCode::CONFLICT, "conflict").await;
    let held = h
        .send("DELETE", "/api/policy/roles/auditor", &root, &json!({}))
        .await;
    expect_error(held, StatusCode::CONFLICT, "conflict").await;
    let perms = json_of(h.get("/api/policy/permissions", &root).await).await;
    assert!(
        perms["items"]
            .as_array()
            .unwrap()
            .contains(&json!("users:admin"))
    );

    // Deactivating ends her sessions; unlocking and reactivating lets her back in.
    let resp = h
        .send(
            "PATCH",
            &format!("/api/admin/users/{ada_id}"),
            &root,
            &json!({"is_active": false}),
        )
        .await;
    assert_eq!(json_of(resp).await["is_active"], false);
    expect_error(
        h.get("/api/auth/me", &ada).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        h.login("ada", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let resp = h
        .send(
            "PATCH",
            &format!("/api/admin/users/{ada_id}"),
            &root,
            &json!({"is_active": true, "unlock": true}),
        )
        .await;
    assert_eq!(resp.0.status(), StatusCode::OK);
    let ada = h.token("ada").await;
    let ended = json_of(
        h.send(
            "POST",
            &format!("/api/admin/users/{ada_id}/revoke-sessions"),
            &root,
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(ended["sessions_ended"], 1);
    expect_error(
        h.get("/api/auth/me", &ada).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    let updates = json_of(h.get("/api/audit?action=user.update", &root).await).await;
    assert!(updates["total"].as_u64().unwrap() >= 3, "{updates}");
    assert_eq!(updates["items"][0]["actor"]["name"], "root");
    let bad = h.get("/api/audit?since=yesterday", &root).await;
    assert!(bad.0.status().is_client_error());
    let resp = h
        .send(
            "DELETE",
            &format!("/api/admin/users/{ada_id}"),
            &root,
            &json!({}),
        )
        .await;
    assert_eq!(resp.0.status(), StatusCode::NO_CONTENT);
    expect_error(
        h.get(&format!("/api/admin/users/{ada_id}"), &root).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
});

#[tokio::test]
async fn the_spec_declares_both_schemes_and_protects_routes() {
    let h = harness("sqlite::memory:", &[]).await;
    let spec = json_of(h.cli.get("/openapi.json").send().await).await;
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["Bearer"]["scheme"], "bearer");
    assert_eq!(schemes["ApiKey"]["name"], "X-API-Key");
    assert_eq!(schemes["ApiKey"]["in"], "header");
    let pets = &spec["paths"]["/api/pets"]["get"]["security"];
    assert!(
        pets.to_string().contains("Bearer") && pets.to_string().contains("ApiKey"),
        "{pets}"
    );
    for open in ["/api/auth/login", "/api/auth/register", "/api/auth/refresh"] {
        assert!(
            spec["paths"][open]["post"].get("security").is_none(),
            "{open}"
        );
    }
    assert!(
        spec["paths"]["/api/health/live"]["get"]
            .get("security")
            .is_none()
    );
}
