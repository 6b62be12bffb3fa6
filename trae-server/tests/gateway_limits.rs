//! Per-client rate limits on incoming requests, through the whole middleware chain in process
//! (poem's test client; SQLite, since the limiter itself is in memory).
//!
//! poem's test client has no socket peer, so [`Peer`] gives each request the address in its
//! `x-test-peer` header (default 192.0.2.1), as a TCP connection would.

use std::net::SocketAddr;

use poem::endpoint::BoxEndpoint;
use poem::http::StatusCode;
use poem::http::uri::Scheme;
use poem::test::{TestClient, TestResponse};
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, EndpointExt, Request, RequestParts};
use serde_json::{Value, json};
use trae_agents::Trae;
use trae_auth::{Credential, NewKey, Registration, RequestMeta};
use trae_core::{Config, Principal};
use trae_server::App;
use trae_storage::Store;

const PASSWORD: &str = "a long enough password";

/// Sets the request's socket peer from `x-test-peer`.
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
    _dir: tempfile::TempDir,
}

async fn harness(vars: &[(&str, &str)]) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut env: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    env.insert("TRAE_DATA_DIR".into(), dir.path().display().to_string());
    env.insert("TRAE_DATABASE_URL".into(), "sqlite::memory:".into());
    let config = Config::from_sources(|k| env.get(k).cloned()).unwrap();
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let state = Trae::with_store(config, store).await.unwrap();
    Harness {
        cli: TestClient::new(Peer(
            App::new(&state).await.unwrap().into_endpoint().boxed(),
        )),
        state,
        _dir: dir,
    }
}

impl Harness {
    /// Creates a user and returns an access token for them.
    async fn user(&self, username: &str) -> String {
        let identity = &self.state.identity();
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
                vec!["user".to_owned()],
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

    /// GET `path` from `ip` with `headers`.
    async fn get(&self, path: &str, ip: &str, headers: &[(&str, &str)]) -> TestResponse {
        let mut req = self.cli.get(path).header("x-test-peer", ip);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.send().await
    }

    async fn login(&self, username: &str, ip: &str) -> TestResponse {
        self.cli
            .post("/api/auth/login")
            .header("x-test-peer", ip)
            .body_json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
    }
}

fn header(resp: &TestResponse, name: &str) -> Option<String> {
    resp.0
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

fn number(resp: &TestResponse, name: &str) -> u64 {
    header(resp, name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a whole number"))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Asserts a refusal: 429, the JSON error shape, `Retry-After` and the `RateLimit-*` headers.
async fn assert_refused(resp: TestResponse, limit: u64) {
    resp.assert_status(StatusCode::TOO_MANY_REQUESTS);
    let retry = number(&resp, "retry-after");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(number(&resp, "ratelimit-limit"), limit);
    assert_eq!(number(&resp, "ratelimit-remaining"), 0);
    assert_eq!(number(&resp, "ratelimit-reset"), retry);
    assert!(header(&resp, "x-request-id").is_some());
    let body: Value = resp.0.into_body().into_json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(body["error"]["message"].as_str().unwrap().contains("retry"));
}

#[tokio::test]
async fn the_31st_login_in_a_minute_from_one_ip_is_refused() {
    let h = harness(&[]).await;
    h.user("ada").await;
    let ip = "198.51.100.7";
    for n in 0..30_u64 {
        let resp = h.login("ada", ip).await;
        resp.assert_status_is_ok();
        assert_eq!(number(&resp, "ratelimit-limit"), 30);
        assert_eq!(number(&resp, "ratelimit-remaining"), 29 - n);
        assert!((1..=60).contains(&number(&resp, "ratelimit-reset")));
        assert_eq!(
            header(&resp, "ratelimit-policy").as_deref(),
            Some("30;w=60")
        );
        assert_eq!(header(&resp, "retry-after"), None);
    }
    assert_refused(h.login("ada", ip).await, 30).await;
    // Register and refresh share the sign-in bucket...
    let register = h
        .cli
        .post("/api/auth/register")
        .header("x-test-peer", ip)
        .body_json(&json!({"username": "bob", "email": "bob@example.com", "password": PASSWORD}))
        .send()
        .await;
    assert_refused(register, 30).await;
    // ...but not the rest of the API, nor another address.
    let me = h.get("/api/auth/me", ip, &[]).await;
    me.assert_status(StatusCode::UNAUTHORIZED);
    assert_eq!(number(&me, "ratelimit-limit"), 600);
    h.login("ada", "198.51.100.8").await.assert_status_is_ok();
}

#[tokio::test]
async fn spelling_a_sign_in_path_differently_does_not_leave_its_group() {
    let h = harness(&[("TRAE_RATE_LIMIT_LOGIN_PER_MINUTE", "7")]).await;
    for path in [
        "/api/auth/login",
        "/api/auth/login/",
        "/api/auth/login?next=/",
        "/api/auth/%6Cogin",
        "/api//auth/login",
        "/API/auth/login",
    ] {
        let resp = h
            .cli
            .post(path)
            .header("x-test-peer", "192.0.2.77")
            .body_json(&json!({"username": "nobody", "password": PASSWORD}))
            .send()
            .await;
        let status = resp.0.status();
        // Whatever reaches the login handler (401: bad credentials) counts as a sign-in.
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(number(&resp, "ratelimit-limit"), 7, "{path}");
        } else {
            assert!(
                matches!(
                    status,
                    StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
                ),
                "{path}: {status}"
            );
        }
    }
}

#[tokio::test]
async fn a_token_does_not_buy_more_sign_ins() {
    let h = harness(&[("TRAE_RATE_LIMIT_LOGIN_PER_MINUTE", "2")]).await;
    let token = h.user("ada").await;
    let ip = "198.51.100.7";
    for _ in 0..2 {
        h.login("ada", ip).await.assert_status_is_ok();
    }
    let with_token = h
        .cli
        .post("/api/auth/login")
        .header("x-test-peer", ip)
        .header("authorization", bearer(&token))
        .body_json(&json!({"username": "ada", "password": PASSWORD}))
        .send()
        .await;
    assert_refused(with_token, 2).await;
}

#[tokio::test]
async fn health_and_docs_are_never_limited() {
    let h = harness(&[("TRAE_RATE_LIMIT_PER_MINUTE", "2")]).await;
    for _ in 0..20 {
        for path in ["/api/health/live", "/api/health/ready", "/api/health"] {
            let resp = h.get(path, "192.0.2.9", &[]).await;
            resp.assert_status_is_ok();
            assert_eq!(header(&resp, "ratelimit-limit"), None, "{path}");
        }
    }
    for path in ["/openapi.json", "/docs", "/"] {
        for _ in 0..5 {
            let resp = h.get(path, "192.0.2.9", &[]).await;
            assert_ne!(resp.0.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
            assert_eq!(header(&resp, "ratelimit-limit"), None, "{path}");
        }
    }
    // The same client is limited elsewhere: the limit is on, health is simply exempt.
    for _ in 0..2 {
        h.get("/api/pets", "192.0.2.9", &[]).await;
    }
    assert_refused(h.get("/api/pets", "192.0.2.9", &[]).await, 2).await;
    h.get("/api/health/live", "192.0.2.9", &[])
        .await
        .assert_status_is_ok();
}

#[tokio::test]
async fn allowed_responses_carry_the_headers_errors_included() {
    let h = harness(&[("TRAE_RATE_LIMIT_PER_MINUTE", "5")]).await;
    let token = h.user("ada").await;
    let auth = bearer(&token);
    let ok = h
        .get("/api/auth/me", "192.0.2.1", &[("authorization", &auth)])
        .await;
    ok.assert_status_is_ok();
    let not_found = h
        .get("/api/nope", "192.0.2.1", &[("authorization", &auth)])
        .await;
    not_found.assert_status(StatusCode::NOT_FOUND);
    let unauthorized = h.get("/api/auth/me", "192.0.2.1", &[]).await;
    unauthorized.assert_status(StatusCode::UNAUTHORIZED);
    for (resp, remaining) in [(&ok, 4), (&not_found, 3), (&unauthorized, 4)] {
        assert_eq!(number(resp, "ratelimit-limit"), 5);
        assert_eq!(number(resp, "ratelimit-remaining"), remaining);
        assert!((1..=60).contains(&number(resp, "ratelimit-reset")));
        assert_eq!(header(resp, "ratelimit-policy").as_deref(), Some("5;w=60"));
        assert_eq!(header(resp, "retry-after"), None);
    }
    // Errors keep the JSON shape.
    let body: Value = not_found.0.into_body().into_json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn two_users_have_separate_buckets() {
    let h = harness(&[("TRAE_RATE_LIMIT_PER_MINUTE", "3")]).await;
    let ada = bearer(&h.user("ada").await);
    let bob = bearer(&h.user("bob").await);
    let ip = "203.0.113.10";
    for _ in 0..3 {
        h.get("/api/auth/me", ip, &[("authorization", &ada)])
            .await
            .assert_status_is_ok();
    }
    assert_refused(
        h.get("/api/auth/me", ip, &[("authorization", &ada)]).await,
        3,
    )
    .await;
    // Same address, another user: a full budget.
    for remaining in (0..3).rev() {
        let resp = h.get("/api/auth/me", ip, &[("authorization", &bob)]).await;
        resp.assert_status_is_ok();
        assert_eq!(number(&resp, "ratelimit-remaining"), remaining);
    }
    // Ada is limited wherever she comes from; the address itself still has its own budget.
    assert_refused(
        h.get("/api/auth/me", "203.0.113.11", &[("authorization", &ada)])
            .await,
        3,
    )
    .await;
    h.get("/api/auth/me", ip, &[])
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn made_up_credentials_do_not_escape_the_ip_bucket() {
    let h = harness(&[("TRAE_RATE_LIMIT_PER_MINUTE", "3")]).await;
    let ada = bearer(&h.user("ada").await);
    let ip = "203.0.113.20";
    // A different invalid credential each time: all charged to the address.
    let fakes = [
        (
            "authorization",
            "Bearer eyJhbGciOiJIUzI1NiJ9.e30.forged".to_owned(),
        ),
        ("x-api-key", "trae_madeup0000000000000000000001".to_owned()),
        (
            "authorization",
            "Bearer trae_madeup0000000000000000000002".to_owned(),
        ),
    ];
    for (name, value) in &fakes {
        h.get("/api/auth/me", ip, &[(name, value)])
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    }
    assert_refused(
        h.get(
            "/api/auth/me",
            ip,
            &[("authorization", "Bearer another-fake")],
        )
        .await,
        3,
    )
    .await;
    assert_refused(
        h.get(
            "/api/auth/me",
            ip,
            &[("x-api-key", "trae_madeup0000000000000000000003")],
        )
        .await,
        3,
    )
    .await;
    assert_refused(h.get("/api/auth/me", ip, &[]).await, 3).await;
    // A real user behind the same address is not held up by it.
    h.get("/api/auth/me", ip, &[("authorization", &ada)])
        .await
        .assert_status_is_ok();
    // A token signed with another key is as good as made up.
    let foreign = harness(&[]).await;
    let foreign_token = bearer(&foreign.user("eve").await);
    assert_refused(
        h.get("/api/auth/me", ip, &[("authorization", &foreign_token)])
            .await,
        3,
    )
    .await;
}

#[tokio::test]
async fn an_api_key_has_its_own_bucket() {
    let h = harness(&[("TRAE_RATE_LIMIT_PER_MINUTE", "3")]).await;
    let token = h.user("ada").await;
    let identity = &h.state.identity();
    let owner = identity
        .authenticate(Credential::Bearer(&token))
        .await
        .unwrap();
    let key = identity
        .api_keys
        .create(
            &owner,
            NewKey {
                name: "ci".into(),
                scopes: None,
                expires_in_days: None,
            },
            &RequestMeta::default(),
        )
        .await
        .unwrap()
        .secret;
    let ip = "203.0.113.30";
    for remaining in (0..3).rev() {
        let resp = h.get("/api/auth/me", ip, &[("x-api-key", &key)]).await;
        assert_ne!(resp.0.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(number(&resp, "ratelimit-remaining"), remaining);
    }
    assert_refused(h.get("/api/auth/me", ip, &[("x-api-key", &key)]).await, 3).await;
    // The same key as a Bearer credential is the same client.
    assert_refused(
        h.get("/api/auth/me", ip, &[("authorization", &bearer(&key))])
            .await,
        3,
    )
    .await;
    // The key's owner signed in, and the address, each have their own budget.
    h.get("/api/auth/me", ip, &[("authorization", &bearer(&token))])
        .await
        .assert_status_is_ok();
    h.get("/api/auth/me", ip, &[])
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_a_bucket() {
    let h = harness(&[
        ("TRAE_RATE_LIMIT_LOGIN_PER_MINUTE", "1"),
        ("TRAE_TRUSTED_PROXIES", "10.0.0.1/32"),
    ])
    .await;
    let login = |peer: &'static str, forwarded: &'static str| {
        h.cli
            .post("/api/auth/login")
            .header("x-test-peer", peer)
            .header("x-forwarded-for", forwarded)
            .body_json(&json!({"username": "nobody", "password": PASSWORD}))
            .send()
    };
    login("10.0.0.1", "198.51.100.1")
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    login("10.0.0.1", "198.51.100.2")
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    assert_refused(login("10.0.0.1", "198.51.100.1").await, 1).await;
    // An untrusted peer's X-Forwarded-For is ignored: it cannot pose as someone new.
    login("192.0.2.50", "198.51.100.3")
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    assert_refused(login("192.0.2.50", "198.51.100.4").await, 1).await;
}

#[tokio::test]
async fn switched_off_nothing_is_limited() {
    let h = harness(&[
        ("TRAE_RATE_LIMIT", "off"),
        ("TRAE_RATE_LIMIT_PER_MINUTE", "1"),
        ("TRAE_RATE_LIMIT_LOGIN_PER_MINUTE", "1"),
    ])
    .await;
    for _ in 0..5 {
        let resp = h.get("/api/pets", "192.0.2.1", &[]).await;
        resp.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(header(&resp, "ratelimit-limit"), None);
        let login = h.login("nobody", "192.0.2.1").await;
        login.assert_status(StatusCode::UNAUTHORIZED);
        assert_eq!(header(&login, "ratelimit-limit"), None);
    }
}
