//! The task counters (issue 20) on both engines: `stats`, list totals and the backlog limit
//! read counters kept by triggers, so after every kind of transition they must agree with the
//! tasks themselves, before and after the counters are compacted.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use trae_core::tasks::task::{
    ClaimRequest, Finish, LIST_COUNT_CAP, Lease, NewTask, Outcome, TaskFilter, TaskRecord,
    TaskRepository, TaskState,
};
use trae_core::{Error, PageRequest, Principal};
use trae_storage::{Store, storage_test};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

fn record(task: NewTask) -> TaskRecord {
    task.validate(t0(), "system").expect("a valid task")
}

fn task(kind: &str, queue: &str) -> NewTask {
    NewTask {
        queue: Some(queue.to_owned()),
        ..NewTask::new(kind, json!({}))
    }
}

async fn claim(
    repo: &Arc<dyn TaskRepository>,
    queue: &str,
    kind: &str,
    limit: u32,
    now: DateTime<Utc>,
    lease_secs: i64,
) -> Vec<Lease> {
    repo.claim(&ClaimRequest {
        worker_id: "w".into(),
        queues: vec![queue.to_owned()],
        kinds: vec![kind.to_owned()],
        limit,
        now,
        lease_until: now + secs(lease_secs),
    })
    .await
    .expect("claim")
    .iter()
    .map(|t| t.lease().expect("a claimed task has a lease"))
    .collect()
}

fn finish(lease: Lease, outcome: Outcome, at: DateTime<Utc>) -> Finish {
    Finish { lease, outcome, at }
}

type Counts = BTreeMap<(String, String, TaskState), u64>;

/// Every task, counted by hand: listed page by page, each counted by queue, kind and state.
async fn counted_by_hand(repo: &Arc<dyn TaskRepository>) -> Counts {
    let mut counts = Counts::new();
    let mut seen = 0u64;
    loop {
        let page = repo
            .list(
                &TaskFilter::default(),
                PageRequest::new(Some(500), Some(seen as i64)).unwrap(),
            )
            .await
            .expect("list");
        if page.items.is_empty() {
            return counts;
        }
        seen += page.items.len() as u64;
        for t in page.items {
            *counts.entry((t.queue, t.kind, t.state)).or_default() += 1;
        }
    }
}

/// The counts `stats` reports, zeros left out.
async fn counted_by_stats(repo: &Arc<dyn TaskRepository>) -> Counts {
    let mut counts = Counts::new();
    for q in repo.stats(t0()).await.expect("stats").queues {
        let mut per_state: BTreeMap<TaskState, u64> = BTreeMap::new();
        for k in q.kinds {
            for (state, n) in k.states {
                *per_state.entry(state).or_default() += n;
                if n > 0 {
                    counts.insert((q.queue.clone(), k.kind.clone(), state), n);
                }
            }
        }
        assert_eq!(
            per_state
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .collect::<Vec<_>>(),
            q.states
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .collect::<Vec<_>>(),
            "queue {}: kinds add up to the queue",
            q.queue
        );
    }
    counts
}

/// Stats, the list totals of every state/queue/kind filter and the backlog all agree with the
/// tasks, before and after compaction.
async fn assert_counts_agree(repo: &Arc<dyn TaskRepository>, step: &str) {
    for pass in ["before compaction", "after compaction"] {
        let truth = counted_by_hand(repo).await;
        assert_eq!(counted_by_stats(repo).await, truth, "{step}, {pass}: stats");
        let total: u64 = truth.values().sum();
        let all = repo
            .list(
                &TaskFilter::default(),
                PageRequest::new(Some(1), None).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            (all.total, all.total_exact),
            (total, true),
            "{step}, {pass}: list"
        );
        for ((queue, kind, state), n) in &truth {
            let filter = TaskFilter {
                state: Some(*state),
                queue: Some(queue.clone()),
                kind: Some(kind.clone()),
                ..TaskFilter::default()
            };
            // A page of one, so the total comes from the counters, not from the page.
            let page = repo
                .list(&filter, PageRequest::new(Some(1), None).unwrap())
                .await
                .unwrap();
            assert_eq!(page.total, *n, "{step}, {pass}: {queue}/{kind}/{state}");
        }
        let queues: Vec<String> = truth.keys().map(|(q, _, _)| q.clone()).collect();
        let backlog = repo.backlog(&queues, t0()).await.unwrap();
        for q in &queues {
            let waiting: u64 = truth
                .iter()
                .filter(|((queue, _, s), _)| queue == q && TaskState::CLAIMABLE.contains(s))
                .map(|(_, n)| n)
                .sum();
            assert_eq!(
                backlog.get(q).map_or(0, |b| b.waiting),
                waiting,
                "{step}, {pass}: backlog of {q}"
            );
        }
        repo.compact_stats(t0()).await.expect("compact");
    }
}

storage_test!(counters_follow_every_transition, |url: String| async move {
    let store = Store::connect(&url).await.expect("open the test store");
    let repo = store.task_repository();
    assert_counts_agree(&repo, "empty").await;

    // Enqueue: available, scheduled, another kind, another queue; a held unique key
    // inserts nothing.
    let keyed = NewTask {
        unique_key: Some("k".into()),
        ..task("noop", "default")
    };
    repo.enqueue(&[
        record(task("noop", "default")),
        record(task("noop", "default")),
        record(task("noop", "default")),
        record(task("noop", "default")),
        record(task("noop", "default")),
        record(NewTask {
            run_at: Some(t0() + secs(3600)),
            max_attempts: Some(1),
            ..task("noop", "default")
        }),
        record(keyed.clone()),
        record(task("mail", "default")),
        record(task("noop", "other")),
    ])
    .await
    .unwrap();
    let again = repo.enqueue(&[record(keyed)]).await.unwrap();
    assert!(!again[0].inserted);
    assert_counts_agree(&repo, "enqueue").await;

    // Claim, then each outcome: completed, retry, failed, snoozed, released.
    let leases = claim(&repo, "default", "noop", 5, t0(), 30).await;
    assert_eq!(leases.len(), 5);
    assert_counts_agree(&repo, "claim").await;
    let at = t0() + secs(1);
    let applied = repo
        .finish(&[
            finish(leases[0].clone(), Outcome::Completed { result: None }, at),
            finish(
                leases[1].clone(),
                Outcome::Retry {
                    error: "again".into(),
                    at: t0() + secs(5),
                },
                at,
            ),
            finish(
                leases[2].clone(),
                Outcome::Failed {
                    error: "dead".into(),
                },
                at,
            ),
            finish(
                leases[3].clone(),
                Outcome::Snoozed {
                    until: t0() + secs(7200),
                },
                at,
            ),
            finish(leases[4].clone(), Outcome::Released, at),
        ])
        .await
        .unwrap();
    assert_eq!(applied, vec![true; 5]);
    // A refused outcome (the lease is spent) changes nothing.
    let refused = repo
        .finish(&[finish(
            leases[0].clone(),
            Outcome::Completed { result: None },
            at,
        )])
        .await
        .unwrap();
    assert_eq!(refused, vec![false]);
    assert_counts_agree(&repo, "finish").await;

    // Cancel a waiting task and a running one; retry a failed and a cancelled one now.
    let running = claim(&repo, "default", "noop", 1, t0() + secs(2), 30).await;
    repo.cancel(running[0].task_id, t0() + secs(2))
        .await
        .unwrap();
    let waiting = repo
        .list(
            &TaskFilter {
                state: Some(TaskState::Available),
                kind: Some("mail".into()),
                ..TaskFilter::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    repo.cancel(waiting.items[0].id, t0() + secs(2))
        .await
        .unwrap();
    assert!(matches!(
        repo.cancel(waiting.items[0].id, t0()).await,
        Err(Error::Conflict(_))
    ));
    assert_counts_agree(&repo, "cancel").await;
    repo.retry_now(leases[2].task_id, t0() + secs(3))
        .await
        .unwrap();
    repo.retry_now(waiting.items[0].id, t0() + secs(3))
        .await
        .unwrap();
    assert_counts_agree(&repo, "retry now").await;

    // Rescue: leases that expire go back to retryable, or fail when no attempt is left.
    let short = claim(&repo, "default", "noop", 10, t0() + secs(4000), 1).await;
    assert!(!short.is_empty());
    let rescued = repo.rescue_expired(t0() + secs(4100)).await.unwrap();
    assert_eq!(rescued.len(), short.len());
    assert!(rescued.iter().any(|t| t.state == TaskState::Failed));
    assert!(rescued.iter().any(|t| t.state == TaskState::Retryable));
    assert_counts_agree(&repo, "rescue").await;

    // A recurring tick, then pruning and deleting finished tasks.
    repo.enqueue_tick("nightly", t0(), &record(task("noop", "ticks")))
        .await
        .unwrap()
        .expect("the first tick is enqueued");
    assert_counts_agree(&repo, "tick").await;
    let pruned = repo.prune(t0() + secs(100_000)).await.unwrap();
    assert!(pruned >= 3, "{pruned}");
    assert_counts_agree(&repo, "prune").await;
});

storage_test!(
    list_totals_never_count_past_the_cap,
    |url: String| async move {
        let store = Store::connect(&url).await.expect("open the test store");
        let repo = store.task_repository();
        let over = LIST_COUNT_CAP + 5;
        let records: Vec<_> = (0..over)
            .map(|_| {
                record(NewTask {
                    tags: vec!["bulk".into()],
                    ..task("noop", "default")
                })
            })
            .collect();
        repo.enqueue(&records).await.unwrap();
        let first = PageRequest::new(Some(20), None).unwrap();
        // By state, queue and kind: exact, from the counters.
        let all = repo.list(&TaskFilter::default(), first).await.unwrap();
        assert_eq!((all.total, all.total_exact), (over, true));
        assert_eq!(all.items.len(), 20);
        let available = TaskFilter {
            state: Some(TaskState::Available),
            ..TaskFilter::default()
        };
        let page = repo.list(&available, first).await.unwrap();
        assert_eq!((page.total, page.total_exact), (over, true));
        // By tag: counted up to the cap, and said so.
        let bulk = TaskFilter {
            tag: Some("bulk".into()),
            ..TaskFilter::default()
        };
        let page = repo.list(&bulk, first).await.unwrap();
        assert_eq!((page.total, page.total_exact), (LIST_COUNT_CAP, false));
        assert_eq!(page.items.len(), 20);
        // The last page knows its total exactly without counting.
        let last = repo
            .list(
                &bulk,
                PageRequest::new(Some(20), Some(over as i64 - 3)).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            (last.total, last.total_exact, last.items.len()),
            (over, true, 3)
        );
        // Few matches: exact.
        repo.enqueue(&[record(NewTask {
            tags: vec!["rare".into()],
            ..task("noop", "default")
        })])
        .await
        .unwrap();
        let rare = TaskFilter {
            tag: Some("rare".into()),
            ..TaskFilter::default()
        };
        let page = repo.list(&rare, first).await.unwrap();
        assert_eq!((page.total, page.total_exact), (1, true));
    }
);

storage_test!(
    enqueue_past_the_backlog_limit_is_refused,
    |url: String| async move {
        let store = Store::connect(&url).await.expect("open the test store");
        let tasks = store.tasks().with_max_backlog(Some(3));
        let system = Principal::System;
        let noop = |queue: &str| task("noop", queue);
        tasks
            .enqueue_many(&system, vec![noop("default"), noop("default")])
            .await
            .unwrap();
        tasks.enqueue(&system, noop("default")).await.unwrap();
        match tasks.enqueue(&system, noop("default")).await {
            Err(Error::Overloaded {
                message,
                retry_after_secs,
            }) => {
                assert!(message.contains("\"default\""), "{message}");
                assert!(message.contains('3'), "{message}");
                // Nothing completed in the last minute: the longest suggestion.
                assert_eq!(retry_after_secs, 60);
            }
            other => panic!("expected Overloaded, got {other:?}"),
        }
        let stats = tasks.stats(&system).await.unwrap();
        assert_eq!(
            stats.queues[0].states[&TaskState::Available],
            3,
            "the refused task was not written"
        );
        // Another queue has its own backlog.
        tasks.enqueue(&system, noop("other")).await.unwrap();
        // A batch that could never fit is invalid, not "try later".
        match tasks
            .enqueue_many(&system, (0..4).map(|_| noop("fresh")).collect())
            .await
        {
            Err(Error::Validation { field, .. }) => assert_eq!(field, "tasks"),
            other => panic!("expected a validation error, got {other:?}"),
        }
        // Started tasks no longer wait: room again.
        let repo = store.task_repository();
        let now = Utc::now();
        let claimed = repo
            .claim(&ClaimRequest {
                worker_id: "w".into(),
                queues: vec!["default".into()],
                kinds: vec!["noop".into()],
                limit: 2,
                now,
                lease_until: now + secs(30),
            })
            .await
            .unwrap();
        assert_eq!(claimed.len(), 2);
        tasks
            .enqueue_many(&system, vec![noop("default"), noop("default")])
            .await
            .unwrap();
        // Completions of the last minute set the suggested wait: 2 a minute, 1 too many.
        let done: Vec<Finish> = claimed
            .iter()
            .map(|t| finish(t.lease().unwrap(), Outcome::Completed { result: None }, now))
            .collect();
        repo.finish(&done).await.unwrap();
        match tasks.enqueue(&system, noop("default")).await {
            Err(Error::Overloaded {
                retry_after_secs, ..
            }) => assert_eq!(retry_after_secs, 30),
            other => panic!("expected Overloaded, got {other:?}"),
        }
        // No limit, no refusal.
        let unlimited = store.tasks().with_max_backlog(None);
        assert_eq!(unlimited.max_backlog(), None);
        unlimited.enqueue(&system, noop("default")).await.unwrap();
    }
);
