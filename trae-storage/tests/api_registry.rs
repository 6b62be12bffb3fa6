//! The external API registry on real SQLite files and a real PostgreSQL server.

use std::time::Duration;

use trae_core::apis::api_endpoint::ApiEndpointFilter;
use trae_core::{
    ApiAttempt, ApiAuth, ApiEndpointSpec, ApiRegistry, AuditFilter, Error, HealthStatus,
    Observation, PageRequest, Principal, RegistryOptions, RequestMeta,
};
use trae_storage::{Store, storage_test};

fn page() -> PageRequest {
    PageRequest::new(Some(100), None).unwrap()
}

fn registry(store: &Store) -> ApiRegistry {
    ApiRegistry::start(
        store.api_repository(),
        store.clock(),
        store.events(),
        RegistryOptions::default(),
    )
    .with_audit(store.audit())
}

fn spec(name: &str, capability: &str, priority: i32) -> ApiEndpointSpec {
    let mut spec = ApiEndpointSpec::new(name, capability, "https://api.example.com/v1/");
    spec.priority = priority;
    spec.tags = vec!["llm".into(), format!("p{priority}")];
    spec.auth = ApiAuth::Bearer {
        secret: "OPENAI_KEY".into(),
    };
    spec
}

fn attempt(endpoint: &str, success: bool, at: chrono::DateTime<chrono::Utc>) -> ApiAttempt {
    ApiAttempt {
        id: uuid::Uuid::now_v7(),
        endpoint: endpoint.into(),
        method: "POST".into(),
        path: "/chat".into(),
        status: Some(if success { 200 } else { 503 }),
        latency_ms: if success { 10 } else { 30 },
        request_bytes: 12,
        response_bytes: 34,
        error: (!success).then(|| "503".to_owned()),
        success,
        cost: 0.25,
        request_id: Some("req-1".into()),
        at,
        model: success.then(|| "smollm2".to_owned()),
        prompt_tokens: success.then_some(21),
        completion_tokens: success.then_some(u32::MAX),
    }
}

storage_test!(crud_filters_and_audit, |url: String| async move {
    let store = Store::connect(&url).await.unwrap();
    let apis = registry(&store);
    let meta = RequestMeta::default();
    let a = apis
        .create(
            &Principal::System,
            spec("alpha", "text-generation", 2),
            &meta,
        )
        .await
        .unwrap();
    assert_eq!(a.health, HealthStatus::Unknown);
    assert_eq!(a.spec.base_url, "https://api.example.com/v1");
    apis.create(
        &Principal::System,
        spec("beta", "text-generation", 1),
        &meta,
    )
    .await
    .unwrap();
    apis.create(&Principal::System, spec("gamma", "search", 0), &meta)
        .await
        .unwrap();

    let dup = apis
        .create(&Principal::System, spec("alpha", "search", 0), &meta)
        .await
        .unwrap_err();
    assert!(matches!(dup, Error::Conflict(_)), "{dup:?}");

    let mut bad = spec("delta", "search", 0);
    bad.base_url = "ftp://x".into();
    assert!(matches!(
        apis.create(&Principal::System, bad, &meta).await,
        Err(Error::Validation { .. })
    ));
    assert!(matches!(
        apis.get(&trae_core::Principal::System, "delta").await,
        Err(Error::NotFound { .. })
    ));

    let text = apis
        .list(
            &trae_core::Principal::System,
            &ApiEndpointFilter {
                capability: Some("text-generation".into()),
                ..Default::default()
            },
            page(),
        )
        .await
        .unwrap();
    let names: Vec<_> = text.items.iter().map(|e| e.name().to_owned()).collect();
    assert_eq!(names, ["beta", "alpha"], "by priority");
    assert_eq!(text.total, 2);
    let tagged = apis
        .list(
            &trae_core::Principal::System,
            &ApiEndpointFilter {
                tag: Some("p0".into()),
                ..Default::default()
            },
            page(),
        )
        .await
        .unwrap();
    assert_eq!(tagged.items.len(), 1);
    assert_eq!(tagged.items[0].name(), "gamma");
    // A tag that is a substring of another never matches it.
    let partial = apis
        .list(
            &trae_core::Principal::System,
            &ApiEndpointFilter {
                tag: Some("ll".into()),
                ..Default::default()
            },
            page(),
        )
        .await
        .unwrap();
    assert_eq!(partial.total, 0);

    let mut changed = spec("alpha", "text-generation", 5);
    changed.is_active = false;
    let updated = apis
        .update(&Principal::System, "alpha", changed, &meta)
        .await
        .unwrap();
    assert!(!updated.spec.is_active);
    assert_eq!(updated.spec.priority, 5);
    let inactive = apis
        .list(
            &trae_core::Principal::System,
            &ApiEndpointFilter {
                is_active: Some(false),
                ..Default::default()
            },
            page(),
        )
        .await
        .unwrap();
    assert_eq!(inactive.items.len(), 1);
    let renamed = apis
        .update(&Principal::System, "alpha", spec("other", "x", 0), &meta)
        .await
        .unwrap_err();
    assert!(matches!(renamed, Error::Validation { .. }), "{renamed:?}");
    let missing = apis
        .update(&Principal::System, "nope", spec("nope", "x", 0), &meta)
        .await
        .unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing:?}");

    apis.delete(&Principal::System, "gamma", &meta)
        .await
        .unwrap();
    assert!(matches!(
        apis.delete(&Principal::System, "gamma", &meta).await,
        Err(Error::NotFound { .. })
    ));
    assert!(apis.endpoints_for("search").await.unwrap().is_empty());
    assert_eq!(
        apis.endpoints_for("text-generation").await.unwrap().len(),
        2
    );

    let audit = store
        .audit()
        .list(AuditFilter::default(), page())
        .await
        .unwrap();
    let actions: Vec<_> = audit.items.iter().map(|e| e.action.as_str()).collect();
    for action in ["api.create", "api.update", "api.delete"] {
        assert!(actions.contains(&action), "{actions:?}");
    }
    let create = audit
        .items
        .iter()
        .find(|e| e.action == "api.create" && e.target.as_deref() == Some("api:alpha"))
        .unwrap();
    assert_eq!(create.details["auth_vault_name"], "OPENAI_KEY");
    assert_eq!(create.details["auth_type"], "bearer");
});

storage_test!(attempts_usage_and_day_history, |url: String| async move {
    let store = Store::connect(&url).await.unwrap();
    let apis = registry(&store);
    let meta = RequestMeta::default();
    apis.create(
        &Principal::System,
        spec("alpha", "text-generation", 0),
        &meta,
    )
    .await
    .unwrap();
    let now = chrono::Utc::now();
    for i in 0..5 {
        apis.record_attempt(attempt("alpha", i != 4, now - chrono::Duration::minutes(i)));
    }
    // Two days old: in the log until trimmed, not in the day's history.
    apis.record_attempt(attempt("alpha", true, now - chrono::Duration::hours(48)));
    // An endpoint that does not exist: dropped, nothing half-written.
    apis.record_attempt(attempt("ghost", true, now));
    apis.flush().await;

    let usage = apis
        .usage(&trae_core::Principal::System, "alpha")
        .await
        .unwrap();
    assert_eq!(usage.total, 6);
    assert_eq!(usage.successes, 5);
    assert_eq!(usage.failures, 1);
    assert!((usage.average_latency_ms - (5.0 * 10.0 + 30.0) / 6.0).abs() < 1e-9);
    assert!((usage.cost - 1.5).abs() < 1e-9);
    assert!((usage.success_rate - 5.0 / 6.0).abs() < 1e-9);
    let last = usage.last_used_at.unwrap();
    assert!((last - now).num_milliseconds().abs() < 2, "{last} vs {now}");

    let logs = apis
        .logs(&trae_core::Principal::System, "alpha", page())
        .await
        .unwrap();
    assert_eq!(logs.total, 6);
    assert!(logs.items[0].at >= logs.items[1].at, "newest first");
    assert_eq!(logs.items[0].request_id.as_deref(), Some("req-1"));
    let failed = logs.items.iter().find(|a| !a.success).unwrap();
    assert_eq!(failed.status, Some(503));
    assert_eq!(failed.error.as_deref(), Some("503"));
    assert_eq!(
        (failed.model.as_deref(), failed.prompt_tokens),
        (None, None)
    );
    let answered = logs.items.iter().find(|a| a.success).unwrap();
    assert_eq!(answered.model.as_deref(), Some("smollm2"));
    assert_eq!(
        (answered.prompt_tokens, answered.completion_tokens),
        (Some(21), Some(u32::MAX)),
        "token counts survive the round trip, the largest too"
    );

    let day = apis
        .recent_attempt_times("alpha", Duration::from_secs(86_400))
        .await
        .unwrap();
    assert_eq!(day.len(), 5);
    assert!(matches!(
        apis.usage(&trae_core::Principal::System, "ghost").await,
        Err(Error::NotFound { .. })
    ));

    let trimmed = store
        .api_repository()
        .trim_attempts(now - chrono::Duration::hours(24))
        .await
        .unwrap();
    assert_eq!(trimmed, 1);
    assert_eq!(
        apis.logs(&trae_core::Principal::System, "alpha", page())
            .await
            .unwrap()
            .total,
        5
    );
    assert_eq!(
        apis.usage(&trae_core::Principal::System, "alpha")
            .await
            .unwrap()
            .total,
        6,
        "totals outlive the log"
    );

    apis.delete(&Principal::System, "alpha", &meta)
        .await
        .unwrap();
    apis.create(
        &Principal::System,
        spec("alpha", "text-generation", 0),
        &meta,
    )
    .await
    .unwrap();
    assert_eq!(
        apis.usage(&trae_core::Principal::System, "alpha")
            .await
            .unwrap()
            .total,
        0,
        "a new endpoint starts clean"
    );
    assert_eq!(
        apis.logs(&trae_core::Principal::System, "alpha", page())
            .await
            .unwrap()
            .total,
        0
    );
});

storage_test!(
    last_minute_activity_per_endpoint_feeds_metrics,
    |url: String| async move {
        use trae_core::monitoring::metric_series::MetricSource;
        let store = Store::connect(&url).await.unwrap();
        let apis = registry(&store);
        let meta = RequestMeta::default();
        for name in ["alpha", "beta", "idle"] {
            apis.create(&Principal::System, spec(name, "search", 0), &meta)
                .await
                .unwrap();
        }
        let now = chrono::Utc::now();
        let ago = |secs| now - chrono::Duration::seconds(secs);
        apis.record_attempt(attempt("alpha", true, ago(5)));
        apis.record_attempt(attempt("alpha", false, ago(10)));
        apis.record_attempt(attempt("alpha", true, ago(20)));
        // Older than a minute: in the log, not in the activity.
        apis.record_attempt(attempt("alpha", false, ago(300)));
        apis.record_attempt(attempt("beta", false, ago(1)));
        apis.flush().await;

        let activity = store.api_repository().activity(ago(60)).await.unwrap();
        let seen: Vec<(&str, u64, u64)> = activity
            .iter()
            .map(|a| (a.endpoint.as_str(), a.calls, a.failures))
            .collect();
        assert_eq!(seen, [("alpha", 3, 1), ("beta", 1, 1)]);
        assert!((activity[0].average_latency_ms - 50.0 / 3.0).abs() < 1e-9);

        let mut samples = Vec::new();
        apis.collect(&mut samples).await;
        let value = |name: &str, endpoint: &str| {
            samples
                .iter()
                .find(|s| {
                    s.name == name && s.labels.get("endpoint").map(String::as_str) == Some(endpoint)
                })
                .map(|s| s.value)
        };
        assert_eq!(value("trae_api_calls_per_minute", "alpha"), Some(3.0));
        assert_eq!(value("trae_api_failures_per_minute", "beta"), Some(1.0));
        assert_eq!(value("trae_api_latency_ms", "beta"), Some(30.0));
        assert_eq!(
            value("trae_api_calls_per_minute", "idle"),
            Some(0.0),
            "every registered endpoint has a series"
        );
        assert_eq!(
            value("trae_api_latency_ms", "idle"),
            None,
            "no calls, no mean"
        );
    }
);

storage_test!(health_follows_calls_and_checks, |url: String| async move {
    let store = Store::connect(&url).await.unwrap();
    let apis = registry(&store);
    let meta = RequestMeta::default();
    let e = apis
        .create(
            &Principal::System,
            spec("alpha", "text-generation", 0),
            &meta,
        )
        .await
        .unwrap();
    let mut events = store.events().subscribe();
    let fail = || Observation::Failure {
        error: "connection refused".into(),
    };
    assert_eq!(apis.observe(&e, fail()).await, HealthStatus::Degraded);
    assert_eq!(apis.observe(&e, fail()).await, HealthStatus::Degraded);
    assert_eq!(apis.observe(&e, fail()).await, HealthStatus::Failing);
    let now = apis
        .get(&trae_core::Principal::System, "alpha")
        .await
        .unwrap();
    assert!(!now.is_callable(), "failing endpoints are skipped");
    assert_eq!(now.consecutive_failures, 3);
    assert_eq!(now.last_error.as_deref(), Some("connection refused"));
    // A successful call that was in flight does not revive it; a check does.
    assert_eq!(
        apis.observe(&e, Observation::Success { latency_ms: 1 })
            .await,
        HealthStatus::Failing
    );
    let checked = apis
        .record_check(&e, Observation::Success { latency_ms: 1 })
        .await
        .unwrap();
    assert_eq!(checked.health, HealthStatus::Healthy);
    assert!(checked.last_check_at.is_some());
    assert_eq!(checked.consecutive_failures, 0);

    // The row holds the latest status for other nodes and restarts.
    let fresh = registry(&store);
    let stored = fresh
        .get(&trae_core::Principal::System, "alpha")
        .await
        .unwrap();
    assert_eq!(stored.health, HealthStatus::Healthy);
    assert!(stored.last_check_at.is_some());

    let mut kinds = Vec::new();
    while let Ok(Ok(event)) = tokio::time::timeout(Duration::from_millis(50), events.recv()).await {
        kinds.push((event.kind.clone(), event.payload["to"].clone()));
    }
    assert_eq!(
        kinds,
        [
            ("api.health".to_owned(), serde_json::json!("degraded")),
            ("api.health".to_owned(), serde_json::json!("failing")),
            ("api.health".to_owned(), serde_json::json!("healthy")),
        ]
    );
});
