//! The external API registry and orchestrator from Rust: two endpoints serve one capability,
//! the preferred one is down, the call fails over; the credential comes from the vault.
//!
//! `cargo run -p trae-agents --example external_apis` (an SQLite file in a temporary
//! directory; two local HTTP servers play the external APIs).

// An example reports to the terminal.
#![allow(clippy::print_stdout)]

use std::sync::Arc;

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

/// A local server answering every request with `status`, echoing whether it saw a credential.
async fn fake_api(status: u16) -> Result<String, Box<dyn std::error::Error>> {
    let app = poem::endpoint::make(move |req: Request| async move {
        let authorized = req.headers().contains_key("authorization");
        Response::builder()
            .status(poem::http::StatusCode::from_u16(status).unwrap_or_default())
            .content_type("application/json")
            .body(format!(r#"{{"answer": 42, "authorized": {authorized}}}"#))
    });
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
    let addr = acceptor.local_addr()[0]
        .as_socket_addr()
        .copied()
        .ok_or("no address")?;
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    Ok(format!("http://{addr}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Store::connect(&format!(
        "sqlite://{}/trae.db?mode=rwc",
        dir.path().display()
    ))
    .await?;
    let meta = RequestMeta::default();

    // The credential lives in the vault; the registry only names it.
    let vault = Vault::open_with_key(
        store.secret_repository(),
        MasterKey::generate()?,
        store.clock(),
    )
    .await?;
    vault
        .set(
            &Principal::System,
            "ANSWERS_KEY",
            SetSecret::value("sk-example"),
            &meta,
        )
        .await?;

    let registry = ApiRegistry::start(
        store.api_repository(),
        store.clock(),
        store.events(),
        RegistryOptions::default(),
    )
    .with_audit(store.audit());
    for (name, status, priority) in [("primary", 503, 1), ("backup", 200, 2)] {
        let mut spec = ApiEndpointSpec::new(name, "answers", fake_api(status).await?);
        spec.priority = priority;
        spec.auth = ApiAuth::Bearer {
            secret: "ANSWERS_KEY".into(),
        };
        spec.limits = ApiLimits {
            per_minute: Some(60),
            per_hour: None,
            per_day: Some(1000),
        };
        registry.create(&Principal::System, spec, &meta).await?;
    }

    // Loopback is allowed here only because the example's APIs run on 127.0.0.1.
    let client = OutboundClient::from_config(&OutboundConfig {
        allow_hosts: Vec::new(),
        allow_loopback: true,
        timeout_ms: 5_000,
    })?;
    let orchestrator = Orchestrator::new(
        registry.clone(),
        client,
        Arc::new(RateLimiter::new(store.clock())),
        Arc::new(vault),
        OrchestratorOptions::default(),
    )
    .with_shared_quota(SharedQuota::new(store.quota_repository(), store.clock()));

    let answer = orchestrator
        .call(
            &trae_core::Principal::System,
            "answers",
            ApiCall {
                method: "GET".into(),
                path: "/v1/answer".into(),
                ..ApiCall::default()
            },
        )
        .await?;
    println!(
        "{} answered {}: {}",
        answer.endpoint,
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    for attempt in &answer.attempts {
        println!(
            "  attempt at {}: status {:?}, {} ms, error {:?}",
            attempt.endpoint, attempt.status, attempt.latency_ms, attempt.error
        );
    }
    assert_eq!(answer.endpoint, "backup");

    orchestrator.shutdown().await;
    for name in ["primary", "backup"] {
        let usage = registry.usage(&trae_core::Principal::System, name).await?;
        let health = registry
            .get(&trae_core::Principal::System, name)
            .await?
            .health;
        println!(
            "{name}: {} attempts, {} failed, health {}",
            usage.total,
            usage.failures,
            health.as_str()
        );
    }
    Ok(())
}
