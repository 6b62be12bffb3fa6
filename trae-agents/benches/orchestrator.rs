//! The orchestrator's overhead per call (target: < 10 % over a direct reqwest call to the
//! same local server answering in 1 ms), measured in one run: a plain `reqwest::Client` call,
//! then the same call through the orchestrator (registry snapshot, limits with three windows,
//! a bearer credential from the vault, the outbound policy, health, the attempt log and the
//! shared limit counter on a real SQLite file).

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Request, Response};
use trae_agents::{ApiCall, Orchestrator, OrchestratorOptions, OutboundClient};
use trae_auth::{MasterKey, SetSecret, Vault};
use trae_core::apis::shared_quota::SharedQuota;
use trae_core::{
    ApiAuth, ApiEndpointSpec, ApiLimits, ApiRegistry, OutboundConfig, Principal, RateLimiter,
    RegistryOptions, RequestMeta,
};
use trae_storage::Store;

/// A local server answering every request after `delay` (none: at once).
async fn server(delay: Option<Duration>) -> String {
    let app = poem::endpoint::make(move |_: Request| async move {
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        Response::builder()
            .content_type("application/json")
            .body(r#"{"ok":true}"#)
    });
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind");
    let addr = acceptor.local_addr()[0]
        .as_socket_addr()
        .copied()
        .expect("address");
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    format!("http://{addr}")
}

fn overhead(c: &mut Criterion) {
    // The target's setting (a 1 ms server: tokio's timer makes it about 2 ms), then a server
    // answering at once, which shows the overhead in absolute terms.
    measure(
        c,
        "api_call_to_a_1ms_server",
        Some(Duration::from_millis(1)),
    );
    measure(c, "api_call_to_an_instant_server", None);
}

fn measure(c: &mut Criterion, group_name: &str, delay: Option<Duration>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let (base, orchestrator) = runtime.block_on(async {
        let base = server(delay).await;
        let url = format!("sqlite://{}/bench.db?mode=rwc", dir.path().display());
        let store = Store::connect(&url).await.expect("store");
        let vault = Vault::open_with_key(
            store.secret_repository(),
            MasterKey::generate().expect("key"),
            store.clock(),
        )
        .await
        .expect("vault");
        vault
            .set(
                &Principal::System,
                "KEY",
                SetSecret::value("sk-bench"),
                &RequestMeta::default(),
            )
            .await
            .expect("secret");
        let registry = ApiRegistry::start(
            store.api_repository(),
            store.clock(),
            store.events(),
            RegistryOptions::default(),
        );
        let mut spec = ApiEndpointSpec::new("bench", "bench", &base);
        spec.auth = ApiAuth::Bearer {
            secret: "KEY".into(),
        };
        spec.limits = ApiLimits {
            per_minute: Some(10_000_000),
            per_hour: Some(100_000_000),
            per_day: Some(1_000_000_000),
        };
        registry
            .create(&Principal::System, spec, &RequestMeta::default())
            .await
            .expect("endpoint");
        let client = OutboundClient::from_config(&OutboundConfig {
            allow_hosts: Vec::new(),
            allow_loopback: true,
            timeout_ms: 10_000,
        })
        .expect("client");
        let orchestrator = Orchestrator::new(
            registry,
            client,
            Arc::new(RateLimiter::new(store.clock())),
            Arc::new(vault),
            OrchestratorOptions::default(),
        )
        .with_shared_quota(SharedQuota::new(store.quota_repository(), store.clock()));
        (base, orchestrator)
    });
    let direct = reqwest::Client::new();
    let url = format!("{base}/v1/chat");
    let mut group = c.benchmark_group(group_name);
    group.measurement_time(Duration::from_secs(15));
    group.bench_function("direct_reqwest", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = direct
                .get(&url)
                .header("authorization", "Bearer sk-bench")
                .send()
                .await
                .expect("send");
            response.bytes().await.expect("body")
        });
    });
    group.bench_function("orchestrator", |b| {
        b.to_async(&runtime).iter(|| async {
            orchestrator
                .call(
                    &trae_core::Principal::System,
                    "bench",
                    ApiCall {
                        method: "GET".into(),
                        path: "/v1/chat".into(),
                        ..ApiCall::default()
                    },
                )
                .await
                .expect("call")
        });
    });
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
