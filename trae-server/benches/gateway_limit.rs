//! What the gateway (per-client rate limits on incoming requests) adds to a request.
//!
//! - `gateway_endpoint/*`: one in-process `Endpoint::call` (no network) of a trivial handler,
//!   `bare` without the middleware and the others with it, in the same run, so the difference
//!   is the middleware's overhead: `anonymous` (charged to the client IP), `bearer` (a valid
//!   access token, verified once and then found in the credential memo), `api_key` (likewise,
//!   an API key), `exempt` (a health path, classified and passed through) and `refused` (a
//!   client over its limit, answered with the 429 body and headers, the handler not called).
//!   Every request is built the same way in every variant, with the client IP already set as
//!   the request context would.
//! - `gateway_decision/*`: [`GatewayLimiter::check`] alone, for one client, and round-robin
//!   over 10,000 clients (a map of 10,000 keys, each call another key).
//!
//! The limits are set far above what a run can reach (10⁹ per minute), so nothing is refused
//! except where that is the point.
//!
//! Run: `cargo bench -p trae-server --bench gateway_limit`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use poem::endpoint::make_sync;
use poem::{Endpoint, EndpointExt, Request};
use trae_agents::Trae;
use trae_auth::{Credential, NewKey, Registration, RequestMeta};
use trae_core::{ClientKey, Config, GatewayLimiter, Principal, RouteGroup, SystemClock};
use trae_server::gateway_limit::GatewayLimit;
use trae_storage::Store;

const PASSWORD: &str = "a long enough password";
const HUGE: &str = "1000000000";

async fn state(dir: &std::path::Path) -> Trae {
    let env = |k: &str| match k {
        "TRAE_DATA_DIR" => Some(dir.display().to_string()),
        "TRAE_DATABASE_URL" => Some("sqlite::memory:".to_owned()),
        "TRAE_RATE_LIMIT_PER_MINUTE" | "TRAE_RATE_LIMIT_LOGIN_PER_MINUTE" => Some(HUGE.to_owned()),
        _ => None,
    };
    let config = Config::from_sources(env).expect("config");
    let store = Store::connect("sqlite::memory:").await.expect("store");
    Trae::with_store(config, store).await.expect("state")
}

/// An access token and an API key of a fresh user.
async fn credentials(state: &Trae) -> (String, String) {
    let identity = &state.identity();
    identity
        .users
        .create(
            &Principal::System,
            Registration {
                username: "bench".into(),
                email: "bench@example.com".into(),
                password: PASSWORD.into(),
                full_name: None,
            },
            vec!["user".to_owned()],
            &RequestMeta::default(),
        )
        .await
        .expect("user");
    let (_, pair) = identity
        .login("bench", PASSWORD, &RequestMeta::default())
        .await
        .expect("login");
    let owner = identity
        .authenticate(Credential::Bearer(&pair.access_token))
        .await
        .expect("principal");
    let key = identity
        .api_keys
        .create(
            &owner,
            NewKey {
                name: "bench".into(),
                scopes: None,
                expires_in_days: None,
            },
            &RequestMeta::default(),
        )
        .await
        .expect("key");
    (pair.access_token, key.secret)
}

fn request(path: &str, header: Option<(&'static str, &str)>) -> Request {
    let mut builder = Request::builder().uri_str(path);
    if let Some((name, value)) = header {
        builder = builder.header(name, value);
    }
    let mut req = builder.finish();
    req.set_data(RequestMeta {
        ip: Some("203.0.113.5".to_owned()),
        request_id: None,
    });
    req
}

fn endpoint(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let state = rt.block_on(state(dir.path()));
    let (token, api_key) = rt.block_on(credentials(&state));
    let bearer = format!("Bearer {token}");
    let identity = Arc::new(state.identity().clone());

    let handler = || make_sync(|_| "ok");
    let bare = handler();
    let gated = rt.block_on(async {
        handler().with(GatewayLimit::new(
            Arc::clone(state.gateway()),
            Arc::clone(&identity),
        ))
    });
    let tight = {
        let config = trae_core::GatewayLimitConfig {
            per_minute: 1,
            ..state.config().rate_limit
        };
        let limiter = GatewayLimiter::new(&config, Arc::new(SystemClock)).expect("limiter");
        rt.block_on(async { handler().with(GatewayLimit::new(Arc::new(limiter), identity)) })
    };
    // Use the tight limiter's one request up front.
    rt.block_on(async { tight.call(request("/api/pets", None)).await.ok() });

    let mut group = c.benchmark_group("gateway_endpoint");
    group.bench_function("bare", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(bare.call(request("/api/pets", None)).await) })
    });
    group.bench_function("anonymous", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(gated.call(request("/api/pets", None)).await) })
    });
    group.bench_function("bearer", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                gated
                    .call(request("/api/pets", Some(("authorization", &bearer))))
                    .await,
            )
        })
    });
    group.bench_function("api_key", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                gated
                    .call(request("/api/pets", Some(("x-api-key", &api_key))))
                    .await,
            )
        })
    });
    group.bench_function("exempt", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(gated.call(request("/api/health/live", None)).await) })
    });
    group.bench_function("refused", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(tight.call(request("/api/pets", None)).await) })
    });
    group.finish();
}

fn decision(c: &mut Criterion) {
    let config = trae_core::GatewayLimitConfig {
        per_minute: 1_000_000_000,
        ..trae_core::GatewayLimitConfig::default()
    };
    let limiter = GatewayLimiter::new(&config, Arc::new(SystemClock)).expect("limiter");
    let one = ClientKey::ip("203.0.113.5".parse().expect("ip"));
    let many: Vec<ClientKey> = (0..10_000_u32)
        .map(|i| ClientKey::ip(std::net::Ipv4Addr::from(0x0a00_0000_u32 + i).into()))
        .collect();
    for client in &many {
        limiter.check(RouteGroup::Default, client);
    }
    let mut group = c.benchmark_group("gateway_decision");
    group.bench_function("one_client", |b| {
        b.iter(|| black_box(limiter.check(RouteGroup::Default, black_box(&one))))
    });
    let mut i = 0;
    group.bench_function("10k_clients", |b| {
        b.iter(|| {
            i = (i + 1) % many.len();
            black_box(limiter.check(RouteGroup::Default, black_box(&many[i])))
        })
    });
    group.finish();
}

criterion_group!(benches, endpoint, decision);
criterion_main!(benches);
