//! Request history on real SQLite files and a real PostgreSQL server.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use trae_core::monitoring::request_history::{
    RequestFilter, RequestHistoryOptions, RequestRecord, RequestRecorder,
};
use trae_core::{ManualClock, PageRequest, Principal};
use trae_storage::{Store, storage_test};

/// The hour the records are stamped in; recorders run on a clock set just after it, so
/// retention never depends on the day the test runs.
fn hour() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
}

fn clock() -> std::sync::Arc<ManualClock> {
    std::sync::Arc::new(ManualClock::new(hour() + chrono::Duration::hours(1)))
}

fn record(minute: u32, route: &str, status: u16) -> RequestRecord {
    RequestRecord {
        id: uuid::Uuid::now_v7(),
        at: hour() + chrono::Duration::minutes(i64::from(minute)),
        method: "GET".into(),
        route: route.into(),
        status,
        latency_us: 1500,
        client: "127.0.0.1".into(),
        request_id: Some(format!("req-{minute}")),
    }
}

fn all() -> PageRequest {
    PageRequest::new(Some(500), None).unwrap()
}

storage_test!(append_list_filter_and_trim, |url: String| async move {
    let store = Store::connect(&url).await.unwrap();
    let repo = store.request_history_repository();
    let batch: Vec<_> = (0..10)
        .map(|m| {
            record(
                m,
                if m % 2 == 0 {
                    "/api/pets"
                } else {
                    "/api/pets/:id"
                },
                if m == 9 { 404 } else { 200 },
            )
        })
        .collect();
    repo.append(&batch).await.unwrap();
    let page = repo.list(&RequestFilter::default(), all()).await.unwrap();
    assert_eq!(page.total, 10);
    assert_eq!(page.items[0], batch[9], "newest first, every field kept");
    let by_route = repo
        .list(
            &RequestFilter {
                route: Some("/api/pets/:id".into()),
                ..RequestFilter::default()
            },
            all(),
        )
        .await
        .unwrap();
    assert_eq!(by_route.total, 5);
    let not_found = repo
        .list(
            &RequestFilter {
                status: Some(404),
                ..RequestFilter::default()
            },
            all(),
        )
        .await
        .unwrap();
    assert_eq!(not_found.items, vec![batch[9].clone()]);
    let window = repo
        .list(
            &RequestFilter {
                since: Some(batch[2].at),
                until: Some(batch[5].at),
                ..RequestFilter::default()
            },
            all(),
        )
        .await
        .unwrap();
    assert_eq!(window.total, 3, "since inclusive, until exclusive");

    // Older than minute 3 goes by age, then all but the newest 4 by count.
    let gone = repo.trim(batch[3].at, 4).await.unwrap();
    assert_eq!(gone, 6);
    let left = repo.list(&RequestFilter::default(), all()).await.unwrap();
    let minutes: Vec<_> = left
        .items
        .iter()
        .map(|r| r.request_id.clone().unwrap())
        .collect();
    assert_eq!(minutes, vec!["req-9", "req-8", "req-7", "req-6"]);
});

storage_test!(
    the_recorder_batches_samples_and_skips_probes,
    |url: String| async move {
        let store = Store::connect(&url).await.unwrap();
        let recorder = RequestRecorder::start(
            store.request_history_repository(),
            clock(),
            RequestHistoryOptions {
                flush_every: Duration::from_secs(3600),
                ..RequestHistoryOptions::default()
            },
        );
        for m in 0..5 {
            recorder.record(record(m, "/api/pets", 200));
        }
        recorder.record(record(6, "/api/health/live", 200));
        recorder.record(record(7, "/api/metrics/requests", 200));
        recorder.flush().await;
        let page = recorder
            .list(&Principal::System, &RequestFilter::default(), all())
            .await
            .unwrap();
        assert_eq!(page.total, 5, "health and metrics routes are not recorded");
        // Without an authorizer that knows roles, only the system reads the history.
        let someone = Principal::User {
            user_id: uuid::Uuid::now_v7(),
            username: Some("eve".into()),
            session_id: None,
            roles: vec!["admin".into()],
        };
        let refused = recorder
            .list(&someone, &RequestFilter::default(), all())
            .await
            .unwrap_err();
        assert_eq!(refused.code(), "forbidden", "{refused}");

        let none = RequestRecorder::start(
            store.request_history_repository(),
            clock(),
            RequestHistoryOptions {
                sample_rate: 0.0,
                ..RequestHistoryOptions::default()
            },
        );
        for m in 10..20 {
            none.record(record(m, "/api/pets", 200));
        }
        // Server errors are kept whatever the sampling.
        none.record(record(21, "/api/pets", 500));
        // `record_with` builds a record only when it is kept, with the id it drew.
        let built = std::sync::atomic::AtomicUsize::new(0);
        let build = |id, route: &str, status| {
            built.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            RequestRecord {
                id,
                ..record(22, route, status)
            }
        };
        none.record_with("/api/pets", 200, |id| build(id, "/api/pets", 200));
        none.record_with("/api/health/live", 500, |id| {
            build(id, "/api/health/live", 500)
        });
        none.record_with("/api/pets", 503, |id| build(id, "/api/pets", 503));
        assert_eq!(built.load(std::sync::atomic::Ordering::Relaxed), 1);
        none.flush().await;
        assert_eq!(
            none.list(&Principal::System, &RequestFilter::default(), all())
                .await
                .unwrap()
                .total,
            7
        );
    }
);

storage_test!(
    a_big_backlog_is_trimmed_in_batches_to_the_newest_rows,
    |url: String| async move {
        let store = Store::connect(&url).await.unwrap();
        let repo = store.request_history_repository();
        // 12,000 records a few milliseconds apart, more than two trimming batches over the cap.
        let records: Vec<RequestRecord> = (0..12_000i64)
            .map(|n| RequestRecord {
                at: hour() + chrono::Duration::milliseconds(n * 5),
                request_id: Some(format!("req-{n}")),
                ..record(0, "/api/pets", 200)
            })
            .collect();
        for chunk in records.chunks(2_000) {
            repo.append(chunk).await.unwrap();
        }
        let gone = repo.trim(hour(), 1_000).await.unwrap();
        assert_eq!(gone, 11_000);
        let left = repo
            .list(
                &RequestFilter::default(),
                PageRequest::new(Some(1), None).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(left.total, 1_000);
        assert_eq!(left.items[0].request_id.as_deref(), Some("req-11999"));
        let oldest = repo
            .list(
                &RequestFilter::default(),
                PageRequest::new(Some(1), Some(999)).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(oldest.items[0].request_id.as_deref(), Some("req-11000"));
        // By age too: of the 1,000 left, the 500 older than record 11,500 go.
        let gone = repo
            .trim(hour() + chrono::Duration::milliseconds(11_500 * 5), 100_000)
            .await
            .unwrap();
        assert_eq!(gone, 500);
    }
);
