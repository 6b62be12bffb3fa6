//! The orchestrator against real HTTP servers on 127.0.0.1 playing external APIs (healthy,
//! failing, slow, rate-limiting), with the registry on a real SQLite file and credentials in
//! a real vault.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Request, Response};
use trae_agents::{AgentError, ApiCall, Orchestrator, OrchestratorOptions, OutboundClient};
use trae_auth::{MasterKey, SetSecret, Vault};
use trae_core::backoff::Backoff;
use trae_core::{
    ApiAuth, ApiEndpointSpec, ApiLimits, ApiRegistry, HealthStatus, OutboundConfig, PageRequest,
    Principal, RateLimiter, RegistryOptions, RequestMeta, RoutingStrategy,
};
use trae_storage::Store;

/// What a fake upstream saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
}

/// How a fake upstream answers its n-th request (0-based).
type Script = Arc<dyn Fn(usize) -> Answer + Send + Sync>;

#[derive(Clone)]
enum Answer {
    Status(u16, &'static str),
    TooMany(&'static str),
    Slow(Duration),
}

struct Upstream {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    fn hits(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn last(&self) -> Seen {
        self.seen.lock().unwrap().last().cloned().unwrap()
    }
}

async fn upstream(script: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Upstream {
    let script: Script = Arc::new(script);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let count = Arc::new(AtomicUsize::new(0));
    let app = poem::endpoint::make(move |req: Request| {
        let script = Arc::clone(&script);
        let log = Arc::clone(&log);
        let count = Arc::clone(&count);
        async move {
            log.lock().unwrap().push(Seen {
                method: req.method().to_string(),
                uri: req.uri().to_string(),
                headers: req
                    .headers()
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
                    .collect(),
            });
            match script(count.fetch_add(1, Ordering::SeqCst)) {
                Answer::Status(status, body) => Response::builder()
                    .status(poem::http::StatusCode::from_u16(status).unwrap())
                    .content_type("application/json")
                    .body(body),
                Answer::TooMany(retry_after) => Response::builder()
                    .status(poem::http::StatusCode::TOO_MANY_REQUESTS)
                    .header("Retry-After", retry_after)
                    .body("slow down"),
                Answer::Slow(d) => {
                    tokio::time::sleep(d).await;
                    Response::builder().body("late")
                }
            }
        }
    });
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    Upstream {
        url: format!("http://{addr}/v1"),
        seen,
    }
}

/// A port nothing listens on.
async fn closed_url() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

struct Harness {
    store: Store,
    vault: Vault,
    registry: ApiRegistry,
    orchestrator: Orchestrator,
    _dir: tempfile::TempDir,
}

const SECRET: &str = "sk-live-4f9a8b7c6d5e";

fn fast_options() -> OrchestratorOptions {
    OrchestratorOptions {
        backoff: Backoff {
            base: Duration::from_millis(10),
            factor: 2.0,
            max: Duration::from_millis(50),
            jitter: 0.0,
        },
        retry_after_cap: Duration::from_secs(2),
        ..OrchestratorOptions::default()
    }
}

fn orchestrator_over(store: &Store, vault: &Vault, registry: &ApiRegistry) -> Orchestrator {
    let client = OutboundClient::from_config(&OutboundConfig {
        allow_hosts: Vec::new(),
        allow_loopback: true,
        timeout_ms: 10_000,
    })
    .unwrap();
    Orchestrator::new(
        registry.clone(),
        client,
        Arc::new(RateLimiter::new(store.clock())),
        Arc::new(vault.clone()),
        fast_options(),
    )
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/trae.db?mode=rwc", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    let vault = Vault::open_with_key(
        store.secret_repository(),
        MasterKey::generate().unwrap(),
        store.clock(),
    )
    .await
    .unwrap();
    vault
        .set(
            &Principal::System,
            "UPSTREAM_KEY",
            SetSecret::value(SECRET),
            &RequestMeta::default(),
        )
        .await
        .unwrap();
    let registry = ApiRegistry::start(
        store.api_repository(),
        store.clock(),
        store.events(),
        RegistryOptions::default(),
    );
    let orchestrator = orchestrator_over(&store, &vault, &registry);
    Harness {
        store,
        vault,
        registry,
        orchestrator,
        _dir: dir,
    }
}

impl Harness {
    async fn register(
        &self,
        name: &str,
        base_url: &str,
        priority: i32,
        change: impl FnOnce(&mut ApiEndpointSpec),
    ) {
        let mut spec = ApiEndpointSpec::new(name, "text-generation", base_url);
        spec.priority = priority;
        spec.timeout_ms = 2_000;
        change(&mut spec);
        self.registry
            .create(&Principal::System, spec, &RequestMeta::default())
            .await
            .unwrap();
    }

    async fn get(&self, path: &str) -> Result<trae_agents::ApiResponse, AgentError> {
        self.orchestrator
            .call(
                &trae_core::Principal::System,
                "text-generation",
                ApiCall {
                    method: "GET".into(),
                    path: path.into(),
                    ..ApiCall::default()
                },
            )
            .await
    }
}

fn ok(_: usize) -> Answer {
    Answer::Status(200, r#"{"ok":true}"#)
}

#[tokio::test]
async fn routes_by_priority_and_injects_credentials_the_caller_cannot_replace() {
    let h = harness().await;
    let primary = upstream(ok).await;
    let secondary = upstream(ok).await;
    h.register("secondary", &secondary.url, 2, |_| {}).await;
    h.register("primary", &primary.url, 1, |s| {
        s.auth = ApiAuth::Bearer {
            secret: "UPSTREAM_KEY".into(),
        }
    })
    .await;
    let response = h
        .orchestrator
        .call(
            &trae_core::Principal::System,
            "text-generation",
            ApiCall {
                method: "POST".into(),
                path: "/chat?stream=false".into(),
                headers: vec![
                    ("Authorization".into(), "Bearer attacker".into()),
                    ("X-Trace".into(), "abc".into()),
                ],
                body: Some(b"{}".to_vec()),
                request_id: Some("req-42".into()),
                ..ApiCall::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.endpoint, "primary");
    assert_eq!(response.attempts.len(), 1);
    assert_eq!(secondary.hits(), 0);
    let seen = primary.last();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.uri, "/v1/chat?stream=false");
    let auth: Vec<_> = seen
        .headers
        .iter()
        .filter(|(n, _)| n == "authorization")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(auth, [format!("Bearer {SECRET}")]);
    assert!(seen.headers.contains(&("x-trace".into(), "abc".into())));

    // Header, query and basic auth.
    let header = upstream(ok).await;
    let query = upstream(ok).await;
    let basic = upstream(ok).await;
    for (name, up, auth) in [
        (
            "h",
            &header,
            ApiAuth::Header {
                secret: "UPSTREAM_KEY".into(),
                name: "X-API-Key".into(),
            },
        ),
        (
            "q",
            &query,
            ApiAuth::Query {
                secret: "UPSTREAM_KEY".into(),
                name: "api_key".into(),
            },
        ),
        (
            "b",
            &basic,
            ApiAuth::Basic {
                secret: "UPSTREAM_KEY".into(),
            },
        ),
    ] {
        let mut spec = ApiEndpointSpec::new(name, name, &up.url);
        spec.auth = auth;
        h.registry
            .create(&Principal::System, spec, &RequestMeta::default())
            .await
            .unwrap();
        h.orchestrator
            .call(
                &trae_core::Principal::System,
                name,
                ApiCall {
                    method: "GET".into(),
                    path: "/x?api_key=mine&y=1".into(),
                    headers: vec![("x-api-key".into(), "mine".into())],
                    ..ApiCall::default()
                },
            )
            .await
            .unwrap();
    }
    let h_seen = header.last();
    let keys: Vec<_> = h_seen
        .headers
        .iter()
        .filter(|(n, _)| n == "x-api-key")
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(keys, [SECRET]);
    let q_seen = query.last();
    assert!(
        q_seen.uri.contains(&format!("api_key={SECRET}")) && !q_seen.uri.contains("mine"),
        "{}",
        q_seen.uri
    );
    assert!(q_seen.uri.contains("y=1"));
    let b_seen = basic.last();
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(SECRET)
    );
    assert!(b_seen.headers.contains(&("authorization".into(), expected)));

    // The attempt log keeps the path without its query (which may hold a key).
    h.registry.flush().await;
    let logs = h
        .registry
        .logs(
            &trae_core::Principal::System,
            "q",
            PageRequest::new(Some(10), None).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(logs.items[0].path, "/x");
    let logs = h
        .registry
        .logs(
            &trae_core::Principal::System,
            "primary",
            PageRequest::new(Some(10), None).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(logs.items[0].request_id.as_deref(), Some("req-42"));
    assert_eq!(logs.items[0].request_bytes, 2);
    assert_eq!(logs.items[0].response_bytes, 11);
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_then_failed_over_and_then_skipped() {
    let h = harness().await;
    let failing = upstream(|_| Answer::Status(503, "down")).await;
    let healthy = upstream(ok).await;
    h.register("failing", &failing.url, 1, |_| {}).await;
    h.register("healthy", &healthy.url, 2, |_| {}).await;
    let response = h.get("/generate").await.unwrap();
    assert_eq!(response.endpoint, "healthy");
    assert_eq!(failing.hits(), 3, "three attempts before failing over");
    let statuses: Vec<_> = response.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(503), Some(200)]);
    assert_eq!(
        h.registry
            .get(&trae_core::Principal::System, "failing")
            .await
            .unwrap()
            .health,
        HealthStatus::Failing
    );
    // Failing now: skipped until a check passes.
    let response = h.get("/generate").await.unwrap();
    assert_eq!(response.attempts.len(), 1);
    assert_eq!(failing.hits(), 3);
    let checked = h
        .orchestrator
        .check(&trae_core::Principal::System, "failing")
        .await
        .unwrap();
    assert_eq!(checked.health, HealthStatus::Failing, "its check fails too");
    assert!(checked.last_check_at.is_some());

    h.registry.flush().await;
    let usage = h
        .registry
        .usage(&trae_core::Principal::System, "failing")
        .await
        .unwrap();
    assert_eq!((usage.total, usage.failures), (3, 3));
    let usage = h
        .registry
        .usage(&trae_core::Principal::System, "healthy")
        .await
        .unwrap();
    assert_eq!((usage.total, usage.successes), (2, 2));
}

#[tokio::test]
async fn a_passing_check_brings_an_endpoint_back() {
    let h = harness().await;
    // Fails its first three requests, then recovers.
    let flaky = upstream(|n| {
        if n < 3 {
            Answer::Status(500, "oops")
        } else {
            Answer::Status(200, "ok")
        }
    })
    .await;
    h.register("flaky", &flaky.url, 1, |s| {
        s.health_check.path = "/health".into()
    })
    .await;
    let err = h.get("/x").await.unwrap_err();
    assert!(matches!(err, AgentError::Upstream(_)), "{err:?}");
    assert!(err.to_string().contains("flaky: status 500"), "{err}");
    let err = h.get("/x").await.unwrap_err();
    assert!(err.to_string().contains("flaky is failing"), "{err}");
    let checked = h
        .orchestrator
        .check(&trae_core::Principal::System, "flaky")
        .await
        .unwrap();
    assert_eq!(checked.health, HealthStatus::Healthy);
    assert_eq!(flaky.last().uri, "/v1/health");
    assert_eq!(h.get("/x").await.unwrap().status, 200);
}

#[tokio::test]
async fn a_slow_endpoint_times_out_and_fails_over() {
    let h = harness().await;
    let slow = upstream(|_| Answer::Slow(Duration::from_secs(5))).await;
    let fast = upstream(ok).await;
    h.register("slow", &slow.url, 1, |s| s.timeout_ms = 150)
        .await;
    h.register("fast", &fast.url, 2, |_| {}).await;
    let started = Instant::now();
    let response = h.get("/x").await.unwrap();
    assert_eq!(response.endpoint, "fast");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let first = &response.attempts[0];
    assert!(
        first.error.as_deref().unwrap().contains("timed out"),
        "{first:?}"
    );
    assert!(first.latency_ms >= 140, "{first:?}");
}

#[tokio::test]
async fn retry_after_is_honoured_up_to_the_cap() {
    let h = harness().await;
    let limited_once = upstream(|n| {
        if n == 0 {
            Answer::TooMany("1")
        } else {
            Answer::Status(200, "ok")
        }
    })
    .await;
    h.register("once", &limited_once.url, 1, |_| {}).await;
    let started = Instant::now();
    let response = h.get("/x").await.unwrap();
    assert_eq!(response.endpoint, "once");
    assert_eq!(limited_once.hits(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    // A 429 is the endpoint protecting itself, not ill health.
    assert_ne!(
        h.registry
            .get(&trae_core::Principal::System, "once")
            .await
            .unwrap()
            .health,
        HealthStatus::Degraded
    );

    // A Retry-After beyond the cap moves on at once.
    let h = harness().await;
    let long = upstream(|_| Answer::TooMany("120")).await;
    let other = upstream(ok).await;
    h.register("long", &long.url, 1, |_| {}).await;
    h.register("other", &other.url, 2, |_| {}).await;
    let started = Instant::now();
    let response = h.get("/x").await.unwrap();
    assert_eq!(response.endpoint, "other");
    assert_eq!(long.hits(), 1);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn non_idempotent_requests_are_retried_only_when_never_sent() {
    let h = harness().await;
    let failing = upstream(|_| Answer::Status(500, "boom")).await;
    let healthy = upstream(ok).await;
    h.register("failing", &failing.url, 1, |_| {}).await;
    h.register("healthy", &healthy.url, 2, |_| {}).await;
    let post = ApiCall {
        method: "POST".into(),
        path: "/charge".into(),
        body: Some(b"{}".to_vec()),
        ..ApiCall::default()
    };
    let response = h
        .orchestrator
        .call(
            &trae_core::Principal::System,
            "text-generation",
            post.clone(),
        )
        .await
        .unwrap();
    assert_eq!(response.status, 500, "the upstream's own answer comes back");
    assert_eq!(response.endpoint, "failing");
    assert_eq!(
        failing.hits(),
        1,
        "a POST that reached the server is not repeated"
    );
    assert_eq!(healthy.hits(), 0);

    // Nothing listens on the first endpoint: the POST provably was not sent, so it fails over.
    let h = harness().await;
    let healthy = upstream(ok).await;
    h.register("closed", &closed_url().await, 1, |_| {}).await;
    h.register("healthy", &healthy.url, 2, |_| {}).await;
    let response = h
        .orchestrator
        .call(&trae_core::Principal::System, "text-generation", post)
        .await
        .unwrap();
    assert_eq!(response.endpoint, "healthy");
    assert_eq!(healthy.last().method, "POST");
    assert!(
        response.attempts[0]
            .error
            .as_deref()
            .unwrap()
            .starts_with("connect"),
        "{:?}",
        response.attempts
    );
}

#[tokio::test]
async fn rate_limits_skip_an_endpoint_and_say_when_the_next_call_is_allowed() {
    let h = harness().await;
    let limited = upstream(ok).await;
    h.register("limited", &limited.url, 1, |s| {
        s.limits = ApiLimits {
            per_minute: Some(2),
            per_hour: Some(100),
            per_day: None,
        }
    })
    .await;
    for _ in 0..2 {
        assert_eq!(h.get("/x").await.unwrap().endpoint, "limited");
    }
    let err = h.get("/x").await.unwrap_err();
    let AgentError::Limited { retry_after, .. } = err else {
        panic!("expected Limited, got {err:?}");
    };
    assert!(
        retry_after > Duration::from_secs(50) && retry_after <= Duration::from_secs(60),
        "{retry_after:?}"
    );
    assert_eq!(limited.hits(), 2, "a refused call sends nothing");

    // With a spare endpoint, the limited one is skipped.
    let spare = upstream(ok).await;
    h.register("spare", &spare.url, 2, |_| {}).await;
    let response = h.get("/x").await.unwrap();
    assert_eq!(response.endpoint, "spare");
    assert_eq!(response.attempts.len(), 1);
    assert_eq!(limited.hits(), 2);
}

#[tokio::test]
async fn a_restart_keeps_the_day_quota() {
    let h = harness().await;
    let up = upstream(ok).await;
    h.register("daily", &up.url, 1, |s| {
        s.limits = ApiLimits {
            per_minute: None,
            per_hour: None,
            per_day: Some(3),
        }
    })
    .await;
    for _ in 0..3 {
        h.get("/x").await.unwrap();
    }
    assert!(matches!(h.get("/x").await, Err(AgentError::Limited { .. })));
    h.registry.flush().await;

    // A new process: a fresh registry, limiter and orchestrator over the same database.
    let registry = ApiRegistry::start(
        h.store.api_repository(),
        h.store.clock(),
        h.store.events(),
        RegistryOptions::default(),
    );
    let restarted = orchestrator_over(&h.store, &h.vault, &registry);
    let err = restarted
        .call(
            &trae_core::Principal::System,
            "text-generation",
            ApiCall {
                method: "GET".into(),
                path: "/x".into(),
                ..ApiCall::default()
            },
        )
        .await
        .unwrap_err();
    let AgentError::Limited { retry_after, .. } = err else {
        panic!("the day quota was reset by the restart: {err:?}");
    };
    assert!(retry_after > Duration::from_secs(86_000), "{retry_after:?}");
    assert_eq!(up.hits(), 3);
}

#[tokio::test]
async fn bad_calls_and_missing_capabilities_are_clear_errors() {
    let h = harness().await;
    let up = upstream(ok).await;
    h.register("a", &up.url, 1, |_| {}).await;
    let err = h
        .orchestrator
        .call(
            &trae_core::Principal::System,
            "image-generation",
            ApiCall {
                method: "GET".into(),
                path: "/".into(),
                ..ApiCall::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::NotFound(_)), "{err:?}");
    for (method, path, headers, field) in [
        ("TRACE", "/", vec![], "method"),
        ("GET", "//evil.example/", vec![], "path"),
        ("GET", "/../admin", vec![], "path"),
        ("GET", "/.%2E/.%2e/admin", vec![], "path"),
        ("GET", "/%2e./admin", vec![], "path"),
        (
            "GET",
            "/",
            vec![("Host".to_owned(), "evil".to_owned())],
            "headers",
        ),
        (
            "GET",
            "/",
            vec![("X".to_owned(), "a\nb".to_owned())],
            "headers",
        ),
    ] {
        let err = h
            .orchestrator
            .call(
                &trae_core::Principal::System,
                "text-generation",
                ApiCall {
                    method: method.into(),
                    path: path.into(),
                    headers,
                    ..ApiCall::default()
                },
            )
            .await
            .unwrap_err();
        match err {
            AgentError::Invalid { field: f, .. } => assert_eq!(f, field, "{method} {path}"),
            other => panic!("{method} {path}: {other:?}"),
        }
    }
    assert_eq!(up.hits(), 0);

    // A credential that is not in the vault: the endpoint is skipped, the error names it
    // and never holds a value.
    let h = harness().await;
    let up = upstream(ok).await;
    h.register("keyless", &up.url, 1, |s| {
        s.auth = ApiAuth::Bearer {
            secret: "MISSING".into(),
        }
    })
    .await;
    let err = h.get("/x").await.unwrap_err();
    assert!(matches!(err, AgentError::Upstream(_)), "{err:?}");
    assert!(err.to_string().contains("MISSING"), "{err}");
    assert_eq!(up.hits(), 0);

    // Inactive endpoints are never called.
    let h = harness().await;
    let up = upstream(ok).await;
    h.register("off", &up.url, 1, |s| s.is_active = false).await;
    let err = h.get("/x").await.unwrap_err();
    assert!(err.to_string().contains("off is inactive"), "{err}");
}

#[tokio::test]
async fn strategies_spread_calls() {
    let h = harness().await;
    let a = upstream(ok).await;
    let b = upstream(ok).await;
    h.register("a", &a.url, 1, |_| {}).await;
    h.register("b", &b.url, 2, |_| {}).await;
    for _ in 0..4 {
        h.orchestrator
            .call(
                &trae_core::Principal::System,
                "text-generation",
                ApiCall {
                    method: "GET".into(),
                    path: "/".into(),
                    strategy: Some(RoutingStrategy::RoundRobin),
                    ..ApiCall::default()
                },
            )
            .await
            .unwrap();
    }
    assert_eq!((a.hits(), b.hits()), (2, 2));
}
