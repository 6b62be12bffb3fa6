//! Metric series, alert rules and component health history on real SQLite files and a real
//! PostgreSQL server, driven by a manual clock.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use trae_core::monitoring::metric_series::{MetricSource, Sample, SeriesQuery};
use trae_core::{
    AlertFilter, AlertRuleSpec, AlertState, Alerts, BroadcastBus, CheckOutcome, Comparison,
    ComponentHealth, Error, EventBus, HealthRules, HealthStatus, Labels, ManualClock, MetricSeries,
    PageRequest, Principal, RequestMeta, Resolution, Severity, TaskFilter,
};
use trae_storage::component_checks::WORKER_STALL;
use trae_storage::{HealthMonitor, Store, StoreOptions, storage_test};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
}

/// A source whose value the test sets.
#[derive(Default)]
struct Dial(std::sync::Mutex<f64>);

impl Dial {
    fn set(&self, v: f64) {
        *self.0.lock().unwrap() = v;
    }
}

struct DialSource(Arc<Dial>);

#[async_trait]
impl MetricSource for DialSource {
    async fn collect(&self, out: &mut Vec<Sample>) {
        let v = *self.0.0.lock().unwrap();
        out.push(Sample::new("test_depth", v).label("queue", "a"));
        out.push(Sample::new("test_depth", v * 2.0).label("queue", "b"));
    }
}

storage_test!(series_roll_up_query_and_expire, |url: String| async move {
    let store = Store::connect(&url).await.unwrap();
    let clock = Arc::new(ManualClock::new(start()));
    let series = MetricSeries::new(store.metric_repository(), clock.clone());
    let dial = Arc::new(Dial::default());
    series.add_source(Arc::new(DialSource(dial.clone())));

    // Two minutes of samples every 10 s: 0, 1, 2, … 11.
    for i in 0..12 {
        dial.set(f64::from(i));
        let samples = series.sample().await.unwrap();
        assert_eq!(samples.len(), 2);
        clock.advance(chrono::TimeDelta::seconds(10));
    }
    // The next sample closes the second minute.
    series.sample().await.unwrap();
    assert_eq!(series.latest().len(), 2);

    let fine = series
        .query(
            &trae_core::Principal::System,
            &SeriesQuery {
                name: "test_depth".into(),
                since: Some(start()),
                ..SeriesQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(fine.step_secs, 10);
    assert_eq!(fine.series.len(), 2);
    let a = &fine.series[0];
    assert_eq!(a.labels.get("queue").map(String::as_str), Some("a"));
    assert_eq!(a.points.len(), 13);
    assert_eq!(a.points[0], (start(), 0.0));
    assert_eq!(a.points[5].1, 5.0);

    // A 30 s step averages three points each.
    let stepped = series
        .query(
            &trae_core::Principal::System,
            &SeriesQuery {
                name: "test_depth".into(),
                since: Some(start()),
                step_secs: Some(30),
                labels: Labels::from([("queue".to_owned(), "b".to_owned())]),
            },
        )
        .await
        .unwrap();
    assert_eq!(stepped.series.len(), 1, "the label filter keeps queue b");
    assert_eq!(stepped.series[0].points[0].1, 2.0, "(0+2+4)/3");
    assert_eq!(stepped.series[0].points[1].1, 8.0, "(6+8+10)/3");

    // Minutes are averaged into the coarse series.
    let coarse = series
        .query(
            &trae_core::Principal::System,
            &SeriesQuery {
                name: "test_depth".into(),
                since: Some(start()),
                step_secs: Some(60),
                ..SeriesQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(coarse.step_secs, 60);
    assert_eq!(
        coarse.series[0].points,
        vec![
            (start(), 2.5),
            (start() + chrono::TimeDelta::minutes(1), 8.5)
        ]
    );

    // Bad queries say what is wrong.
    for (query, field) in [
        (
            SeriesQuery {
                name: "Bad Name".into(),
                ..SeriesQuery::default()
            },
            "name",
        ),
        (
            SeriesQuery {
                name: "x".into(),
                step_secs: Some(15),
                ..SeriesQuery::default()
            },
            "step",
        ),
        (
            SeriesQuery {
                name: "x".into(),
                step_secs: Some(5),
                ..SeriesQuery::default()
            },
            "step",
        ),
        (
            SeriesQuery {
                name: "x".into(),
                since: Some(start() + chrono::TimeDelta::days(1)),
                ..SeriesQuery::default()
            },
            "since",
        ),
    ] {
        match series.query(&trae_core::Principal::System, &query).await {
            Err(Error::Validation { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected a {field} error, got {other:?}"),
        }
    }
    assert_eq!(
        series.names(&trae_core::Principal::System,).await.unwrap(),
        vec!["test_depth".to_owned()]
    );

    // Two hours later the fine points are gone, the coarse ones stay for a day.
    clock.advance(chrono::TimeDelta::seconds(2 * 3600));
    series.sample().await.unwrap();
    let repo = store.metric_repository();
    let old_fine = repo
        .read(Resolution::Fine, "test_depth", start())
        .await
        .unwrap();
    assert!(
        old_fine
            .iter()
            .all(|p| p.at > start() + chrono::TimeDelta::hours(1)),
        "fine points past an hour are pruned"
    );
    let coarse = repo
        .read(Resolution::Coarse, "test_depth", start())
        .await
        .unwrap();
    assert!(coarse.iter().any(|p| p.at == start()), "coarse points stay");
    store.close().await;
});

fn rule(name: &str, for_secs: u32) -> AlertRuleSpec {
    AlertRuleSpec {
        name: name.into(),
        metric: "test_depth".into(),
        labels: Labels::new(),
        comparison: Comparison::Above,
        value: 10.0,
        for_secs,
        severity: Severity::High,
        webhook_url: Some("http://127.0.0.1:9/hook".into()),
        enabled: true,
    }
}

fn sample(queue: &str, v: f64) -> Sample {
    Sample::new("test_depth", v).label("queue", queue)
}

storage_test!(
    alerts_fire_after_their_duration_once_and_resolve,
    |url: String| async move {
        let store = Store::connect(&url).await.unwrap();
        let clock = Arc::new(ManualClock::new(start()));
        let bus = Arc::new(BroadcastBus::new(clock.clone(), 64));
        let mut events = bus.subscribe();
        let tasks = store.tasks();
        let alerts = Alerts::new(
            store.alert_repository(),
            clock.clone(),
            bus.clone(),
            Some(store.audit()),
            Some(tasks.clone()),
        );
        // A second node evaluating the same rules.
        let other = Alerts::new(
            store.alert_repository(),
            clock.clone(),
            bus.clone(),
            None,
            None,
        );
        let admin = Principal::System;
        let meta = RequestMeta::default();
        let created = alerts
            .create_rule(&admin, rule("deep queue", 30), &meta)
            .await
            .unwrap();
        match alerts
            .create_rule(&admin, rule("deep queue", 0), &meta)
            .await
        {
            Err(Error::Conflict(m)) => assert!(m.contains("deep queue"), "{m}"),
            other => panic!("expected a conflict, got {other:?}"),
        }

        // Above the threshold, but not yet for 30 s.
        let high = [sample("a", 50.0), sample("b", 1.0)];
        assert!(alerts.evaluate(&high).await.unwrap().fired.is_empty());
        clock.advance(chrono::TimeDelta::seconds(20));
        assert!(alerts.evaluate(&high).await.unwrap().fired.is_empty());
        clock.advance(chrono::TimeDelta::seconds(10));
        let fired = alerts.evaluate(&high).await.unwrap().fired;
        assert_eq!(fired.len(), 1, "only queue a is deep");
        assert_eq!(fired[0].labels.get("queue").map(String::as_str), Some("a"));
        assert_eq!(fired[0].value, 50.0);
        assert_eq!(fired[0].state, AlertState::Firing);
        // The other node sees it held long enough too, but the alert is already firing.
        other.evaluate(&high).await.unwrap();
        clock.advance(chrono::TimeDelta::seconds(60));
        let again = other.evaluate(&high).await.unwrap();
        assert!(
            again.fired.is_empty(),
            "one firing alert per rule and series"
        );

        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (event.source.as_str(), event.kind.as_str()),
            ("alerts", "alert.firing")
        );

        // The webhook went to the task queue as an http.request task.
        let queued = tasks
            .list(
                &trae_core::Principal::System,
                TaskFilter {
                    kind: Some("http.request".into()),
                    ..TaskFilter::default()
                },
                PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(queued.total, 1);
        let payload = &queued.items[0].payload;
        assert_eq!(payload["url"], "http://127.0.0.1:9/hook");
        assert_eq!(payload["body"]["event"], "alert.firing");

        // Below the threshold: resolved, once.
        let low = [sample("a", 3.0), sample("b", 1.0)];
        let resolved = alerts.evaluate(&low).await.unwrap().resolved;
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].state, AlertState::Resolved);
        assert_eq!(resolved[0].resolved_value, Some(3.0));
        assert!(other.evaluate(&low).await.unwrap().resolved.is_empty());

        let listed = alerts
            .alerts(
                &trae_core::Principal::System,
                &AlertFilter::default(),
                PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(listed.total, 1);
        let firing = alerts
            .alerts(
                &trae_core::Principal::System,
                &AlertFilter {
                    state: Some(AlertState::Firing),
                    rule_id: None,
                },
                PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(firing.total, 0);

        // Firing again, then deleting the rule resolves it.
        let zero = alerts
            .create_rule(
                &admin,
                AlertRuleSpec {
                    name: "at once".into(),
                    for_secs: 0,
                    webhook_url: None,
                    ..rule("x", 0)
                },
                &meta,
            )
            .await
            .unwrap();
        assert_eq!(
            alerts.evaluate(&high).await.unwrap().fired.len(),
            1,
            "for 0 fires at once"
        );
        alerts.delete_rule(&admin, zero.id, &meta).await.unwrap();
        let firing = alerts
            .alerts(
                &trae_core::Principal::System,
                &AlertFilter {
                    state: Some(AlertState::Firing),
                    rule_id: None,
                },
                PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(firing.total, 0, "a deleted rule's alerts resolve");
        assert!(matches!(
            alerts.delete_rule(&admin, zero.id, &meta).await,
            Err(Error::NotFound { .. })
        ));

        // Rule changes are audited.
        let audit = store.audit();
        let entries = audit
            .list(
                trae_core::AuditFilter {
                    action: Some("alert_rule.create".into()),
                    ..Default::default()
                },
                PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(entries.total, 2);
        let updated = alerts
            .update_rule(
                &admin,
                created.id,
                AlertRuleSpec {
                    enabled: false,
                    ..rule("deep queue", 30)
                },
                &meta,
            )
            .await
            .unwrap();
        assert!(!updated.spec.enabled);
        assert_eq!(
            alerts
                .rule(&trae_core::Principal::System, created.id)
                .await
                .unwrap(),
            updated
        );
        store.close().await;
    }
);

storage_test!(
    health_history_survives_a_restart,
    |url: String| async move {
        let store = Store::connect(&url).await.unwrap();
        let clock = Arc::new(ManualClock::new(start()));
        let bus: Arc<dyn EventBus> = Arc::new(BroadcastBus::new(clock.clone(), 64));
        let health = ComponentHealth::new(HealthRules::default(), clock.clone(), bus.clone())
            .with_history(store.health_history());
        health.register("database", true);
        health.record("database", CheckOutcome::Ok).await.unwrap();
        clock.advance(chrono::TimeDelta::seconds(3600));
        health
            .record(
                "database",
                CheckOutcome::Failed {
                    error: "down".into(),
                    critical: true,
                },
            )
            .await
            .unwrap();
        clock.advance(chrono::TimeDelta::seconds(600));
        health.record("database", CheckOutcome::Ok).await.unwrap();
        clock.advance(chrono::TimeDelta::seconds(1800));

        let history = health.history("database").await.unwrap();
        assert_eq!(history.len(), 3, "{history:?}");
        assert_eq!(history[0].to, HealthStatus::Healthy, "newest first");
        assert_eq!(history[1].to, HealthStatus::Critical);
        assert_eq!(history[1].error.as_deref(), Some("down"));
        let before = health.report("database").unwrap();

        // A new process on the same database.
        let restarted = ComponentHealth::new(HealthRules::default(), clock.clone(), bus)
            .with_history(store.health_history());
        restarted.register("database", true);
        restarted.restore().await.unwrap();
        let after = restarted.report("database").unwrap();
        assert_eq!(
            after.status,
            HealthStatus::Unknown,
            "status waits for the next check"
        );
        assert_eq!(after.uptime_24h, before.uptime_24h);
        assert_eq!(after.average_recovery_secs, Some(600.0));
        let up = after.uptime_24h.unwrap();
        assert!((up - 100.0 * 5400.0 / 6000.0).abs() < 0.01, "{up}");
        store.close().await;
    }
);

storage_test!(
    health_monitor_checks_the_builtin_components,
    |url: String| async move {
        let clock = Arc::new(ManualClock::new(start()));
        let bus: Arc<dyn EventBus> = Arc::new(BroadcastBus::new(clock.clone(), 64));
        let options = StoreOptions {
            clock: clock.clone(),
            events: bus,
            ..StoreOptions::default()
        };
        let store = Store::connect_with(&url, options).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let rules = HealthRules {
            degraded_after: 1,
            failing_after: 2,
            critical_after: 3,
            ..HealthRules::default()
        };
        let monitor = HealthMonitor::open(&store, rules, dir.path().to_path_buf(), None)
            .await
            .unwrap();
        let names: Vec<String> = monitor
            .reports(&Principal::System)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["database", "disk", "task_queue", "workers"]);
        for report in monitor.reports(&Principal::System).await.unwrap() {
            assert_eq!(report.total_checks, 1, "{report:?}");
            assert_eq!(
                report.required,
                matches!(report.name.as_str(), "database" | "task_queue")
            );
        }
        let database = monitor.health().report("database").unwrap();
        assert_eq!(database.status, HealthStatus::Healthy);

        // A due task nobody claims: the workers fall behind once it waited past the stall
        // limit, and their status follows the configured rules.
        store
            .tasks()
            .enqueue(
                &Principal::System,
                trae_core::NewTask::new("report", serde_json::json!({})),
            )
            .await
            .unwrap();
        assert_eq!(
            monitor
                .check(&Principal::System, "workers")
                .await
                .unwrap()
                .status,
            HealthStatus::Healthy
        );
        clock.advance(chrono::TimeDelta::from_std(WORKER_STALL + Duration::from_secs(1)).unwrap());
        let workers = monitor.check(&Principal::System, "workers").await.unwrap();
        assert_eq!(workers.status, HealthStatus::Degraded);
        assert!(
            workers
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("\"default\"") && e.contains("for a worker")),
            "{workers:?}"
        );
        assert_eq!(
            monitor
                .check(&Principal::System, "workers")
                .await
                .unwrap()
                .status,
            HealthStatus::Failing
        );
        // Workers are optional: the system stays ready.
        assert!(monitor.health().ready());
        // A paused queue is not waiting for workers.
        store
            .tasks()
            .pause(&trae_core::Principal::System, "default")
            .await
            .unwrap();
        assert_eq!(
            monitor
                .check(&Principal::System, "workers")
                .await
                .unwrap()
                .status,
            HealthStatus::Healthy
        );

        let (report, history) = monitor
            .component(&Principal::System, "workers")
            .await
            .unwrap();
        assert_eq!(report.total_failures, 2);
        let moves: Vec<_> = history.iter().map(|t| (t.from, t.to)).collect();
        assert_eq!(
            moves,
            [
                (HealthStatus::Failing, HealthStatus::Healthy),
                (HealthStatus::Degraded, HealthStatus::Failing),
                (HealthStatus::Healthy, HealthStatus::Degraded),
                (HealthStatus::Unknown, HealthStatus::Healthy),
            ],
            "newest first"
        );
        assert!(matches!(
            monitor.check(&Principal::System, "api:search").await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            monitor.component(&Principal::System, "nothing").await,
            Err(Error::NotFound { .. })
        ));

        // Once the database is gone the required component is critical at once.
        store.close().await;
        let database = monitor.check(&Principal::System, "database").await.unwrap();
        assert_eq!(database.status, HealthStatus::Critical);
        assert_eq!(
            database.last_error.as_deref(),
            Some("the database does not answer")
        );
        assert!(!monitor.health().ready());
    }
);
