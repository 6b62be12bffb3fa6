//! Login lockout over HTTP, on SQLite and PostgreSQL (issue 19): failures count per
//! (account, client address) with a higher account-wide threshold, and a locked name answers
//! exactly like an unknown one.
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
use trae_server::App;
use trae_storage::storage_test;

mod common;

use common::PASSWORD;

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
    _state: trae_agents::Trae,
    _dir: tempfile::TempDir,
}

async fn harness(url: &str, env: &[(&str, &str)]) -> Harness {
    let (state, dir) = common::state(url, env).await;
    common::signed_in(&state, "ada", &["admin"]).await;
    Harness {
        cli: TestClient::new(Peer(
            App::new(&state).await.unwrap().into_endpoint().boxed(),
        )),
        _state: state,
        _dir: dir,
    }
}

/// Status, `Retry-After` and body of a login: everything a caller can see but the timing.
type Seen = (StatusCode, Option<String>, Value);

async fn login(h: &Harness, name: &str, password: &str, ip: &str) -> Seen {
    let resp: TestResponse = h
        .cli
        .post("/api/auth/login")
        .header("x-test-peer", ip)
        .body_json(&json!({"username": name, "password": password}))
        .send()
        .await;
    let status = resp.0.status();
    let retry = resp
        .0
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.0.into_body().into_json::<Value>().await.unwrap();
    (status, retry, body)
}

fn refused(seen: &Seen) {
    assert_eq!(seen.0, StatusCode::UNAUTHORIZED, "{seen:?}");
    assert_eq!(seen.2["error"]["code"], "unauthorized", "{seen:?}");
}

storage_test!(
    a_locked_address_does_not_lock_the_account_from_another,
    |url: String| async move {
        let h = harness(&url, &[]).await;
        let attacker = "203.0.113.9";
        for _ in 0..8 {
            refused(&login(&h, "ada", "wrong password!", attacker).await);
        }
        refused(&login(&h, "ada", PASSWORD, attacker).await);
        let own = login(&h, "ada", PASSWORD, "198.51.100.7").await;
        assert_eq!(own.0, StatusCode::OK, "{own:?}");
    }
);

storage_test!(
    unknown_and_locked_names_answer_alike,
    |url: String| async move {
        let h = harness(&url, &[]).await;
        let ip = "203.0.113.9";
        for _ in 0..5 {
            login(&h, "ada", "wrong password!", ip).await;
        }
        // ada is now locked for this address; nobody does not exist. The caller cannot tell.
        let locked = login(&h, "ada", "wrong password!", ip).await;
        let locked_right = login(&h, "ada", PASSWORD, ip).await;
        let unknown = login(&h, "nobody", "wrong password!", ip).await;
        refused(&locked);
        assert_eq!(locked, unknown);
        assert_eq!(locked_right, unknown);
        assert_eq!(unknown.1, None, "no Retry-After gives a lock away");
    }
);

storage_test!(
    the_account_wide_threshold_locks_every_address,
    |url: String| async move {
        let h = harness(&url, &[("TRAE_LOCKOUT_ACCOUNT_MAX_FAILURES", "6")]).await;
        for n in 0..6 {
            refused(&login(&h, "ada", "wrong password!", &format!("192.0.2.{}", n + 10)).await);
        }
        refused(&login(&h, "ada", PASSWORD, "198.51.100.7").await);
    }
);
