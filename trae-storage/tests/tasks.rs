//! The task repository (the storage half of the durable queue) on real SQLite files and a real
//! PostgreSQL server: claims, leases, unique keys, wake-ups.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use trae_core::tasks::task::{
    ClaimRequest, Finish, Lease, NewTask, Outcome, QueueSettings, Task, TaskFilter, TaskRecord,
    TaskRepository, TaskState,
};
use trae_core::{Error, PageRequest};
use trae_storage::{Store, storage_test};
use uuid::Uuid;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

fn record(task: NewTask) -> TaskRecord {
    task.validate(t0(), "system").expect("a valid task")
}

fn task(kind: &str) -> NewTask {
    NewTask::new(kind, json!({"kind": kind}))
}

async fn repo(url: &str) -> (Store, Arc<dyn TaskRepository>) {
    let store = Store::connect(url).await.expect("open the test store");
    let repo = store.task_repository();
    (store, repo)
}

fn claim_req(
    worker: &str,
    queues: &[&str],
    kinds: &[&str],
    limit: u32,
    now: DateTime<Utc>,
) -> ClaimRequest {
    ClaimRequest {
        worker_id: worker.to_owned(),
        queues: queues.iter().map(|q| (*q).to_owned()).collect(),
        kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
        limit,
        now,
        lease_until: now + secs(30),
    }
}

async fn claim(
    repo: &Arc<dyn TaskRepository>,
    worker: &str,
    limit: u32,
    now: DateTime<Utc>,
) -> Vec<Task> {
    repo.claim(&claim_req(worker, &["default"], &["noop"], limit, now))
        .await
        .expect("claim")
}

async fn enqueue_one(repo: &Arc<dyn TaskRepository>, t: NewTask) -> Task {
    let mut out = repo.enqueue(&[record(t)]).await.expect("enqueue");
    assert_eq!(out.len(), 1);
    let e = out.pop().unwrap();
    assert!(e.inserted);
    e.task
}

fn finish(lease: Lease, outcome: Outcome, at: DateTime<Utc>) -> Finish {
    Finish { lease, outcome, at }
}

async fn get(repo: &Arc<dyn TaskRepository>, id: Uuid) -> Task {
    repo.get(id).await.expect("get").expect("the task exists")
}

storage_test!(enqueued_task_reads_back, |url: String| async move {
    let (_store, repo) = repo(&url).await;
    let created = enqueue_one(
        &repo,
        NewTask {
            queue: Some("mail".into()),
            priority: Some(2),
            max_attempts: Some(7),
            tags: vec!["a".into(), "b_%".into()],
            unique_key: Some("k1".into()),
            ..task("noop")
        },
    )
    .await;
    let read = get(&repo, created.id).await;
    assert_eq!(read, created);
    assert_eq!(read.state, TaskState::Available);
    assert_eq!(read.attempt, 0);
    assert_eq!(read.max_attempts, 7);
    assert_eq!(read.tags, vec!["a".to_owned(), "b_%".to_owned()]);
    assert_eq!(read.payload, json!({"kind": "noop"}));
    assert_eq!(read.run_at, t0());
    assert_eq!(read.created_by, "system");
    assert!(repo.get(Uuid::now_v7()).await.unwrap().is_none());
});

storage_test!(
    claims_best_priority_then_oldest_run_at,
    |url: String| async move {
        let (_store, repo) = repo(&url).await;
        let mk = |p: i16, offset: i64| {
            record(NewTask {
                priority: Some(p),
                run_at: Some(t0() - secs(offset)),
                ..task("noop")
            })
        };
        // (priority, seconds before t0)
        let records = vec![
            mk(5, 10),
            mk(1, 1),
            mk(5, 30),
            mk(10, 100),
            mk(1, 5),
            mk(3, 0),
        ];
        repo.enqueue(&records).await.unwrap();
        let got = claim(&repo, "w1", 4, t0()).await;
        let order: Vec<Uuid> = got.iter().map(|t| t.id).collect();
        let expected = vec![records[4].id, records[1].id, records[5].id, records[2].id];
        assert_eq!(order, expected);
        for t in &got {
            assert_eq!(t.state, TaskState::Running);
            assert_eq!(t.attempt, 1);
            assert_eq!(t.worker_id.as_deref(), Some("w1"));
            assert_eq!(t.lease_expires_at, Some(t0() + secs(30)));
            assert_eq!(t.started_at, Some(t0()));
        }
        let rest: Vec<Uuid> = claim(&repo, "w1", 10, t0())
            .await
            .iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(rest, vec![records[0].id, records[3].id]);
        assert!(claim(&repo, "w1", 10, t0()).await.is_empty());
    }
);

storage_test!(scheduled_tasks_wait_for_run_at, |url: String| async move {
    let (_store, repo) = repo(&url).await;
    let later = enqueue_one(
        &repo,
        NewTask {
            run_at: Some(t0() + secs(60)),
            ..task("noop")
        },
    )
    .await;
    assert_eq!(later.state, TaskState::Scheduled);
    assert!(claim(&repo, "w", 10, t0()).await.is_empty());
    assert!(claim(&repo, "w", 10, t0() + secs(59)).await.is_empty());
    let got = claim(&repo, "w", 10, t0() + secs(60)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, later.id);
});

storage_test!(
    claims_only_requested_kinds_and_queues,
    |url: String| async move {
        let (_store, repo) = repo(&url).await;
        let a = enqueue_one(&repo, task("noop")).await;
        let b = enqueue_one(&repo, task("other")).await;
        let c = enqueue_one(
            &repo,
            NewTask {
                queue: Some("mail".into()),
                ..task("noop")
            },
        )
        .await;
        let got = claim(&repo, "w", 10, t0()).await;
        assert_eq!(got.iter().map(|t| t.id).collect::<Vec<_>>(), vec![a.id]);
        let got = repo
            .claim(&claim_req(
                "w",
                &["mail", "default"],
                &["other", "noop"],
                10,
                t0(),
            ))
            .await
            .unwrap();
        let ids: HashSet<Uuid> = got.iter().map(|t| t.id).collect();
        assert_eq!(ids, HashSet::from([b.id, c.id]));
    }
);

storage_test!(
    paused_queue_hands_out_nothing_until_resumed,
    |url: String| async move {
        let (_store, repo) = repo(&url).await;
        let defaults = repo.queue_settings("default").await.unwrap();
        assert_eq!(
            defaults,
            QueueSettings {
                queue: "default".into(),
                paused: false,
                concurrency_limit: None
            }
        );
        let t = enqueue_one(&repo, task("noop")).await;
        repo.configure_queue(&QueueSettings {
            paused: true,
            ..defaults.clone()
        })
        .await
        .unwrap();
        assert!(repo.queue_settings("default").await.unwrap().paused);
        assert!(claim(&repo, "w", 10, t0()).await.is_empty());
        repo.configure_queue(&defaults).await.unwrap();
        let got = claim(&repo, "w", 10, t0()).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, t.id);
    }
);

storage_test!(
    concurrency_limit_holds_across_claimers,
    |url: String| async move {
        let (_s1, repo1) = repo(&url).await;
        let (_s2, repo2) = repo(&url).await;
        repo1
            .configure_queue(&QueueSettings {
                queue: "default".into(),
                paused: false,
                concurrency_limit: Some(3),
            })
            .await
            .unwrap();
        let records: Vec<_> = (0..20).map(|_| record(task("noop"))).collect();
        repo1.enqueue(&records).await.unwrap();
        let mut claimers = tokio::task::JoinSet::new();
        for i in 0..8 {
            let repo = if i % 2 == 0 {
                repo1.clone()
            } else {
                repo2.clone()
            };
            claimers.spawn(async move { claim(&repo, &format!("w{i}"), 5, t0()).await });
        }
        let mut claimed = Vec::new();
        while let Some(got) = claimers.join_next().await {
            claimed.extend(got.unwrap());
        }
        assert_eq!(claimed.len(), 3, "the limit is 3");
        assert!(claim(&repo2, "late", 5, t0()).await.is_empty());
        let done = claimed[0].lease().unwrap();
        let applied = repo1
            .finish(&[finish(done, Outcome::Completed { result: None }, t0())])
            .await
            .unwrap();
        assert_eq!(applied, vec![true]);
        assert_eq!(claim(&repo2, "late", 5, t0()).await.len(), 1);
        assert!(claim(&repo1, "later", 5, t0()).await.is_empty());
        // Lifting the limit frees the rest.
        repo1
            .configure_queue(&QueueSettings {
                queue: "default".into(),
                paused: false,
                concurrency_limit: None,
            })
            .await
            .unwrap();
        assert_eq!(claim(&repo1, "later", 50, t0()).await.len(), 16);
    }
);

storage_test!(
    unique_key_under_concurrent_enqueue,
    |url: String| async move {
        let (_s1, repo1) = repo(&url).await;
        let (_s2, repo2) = repo(&url).await;
        let mut enqueuers = tokio::task::JoinSet::new();
        for i in 0..20 {
            let repo = if i % 2 == 0 {
                repo1.clone()
            } else {
                repo2.clone()
            };
            enqueuers.spawn(async move {
                let rec = record(NewTask {
                    unique_key: Some("only-one".into()),
                    ..task("noop")
                });
                repo.enqueue(&[rec]).await.expect("enqueue").pop().unwrap()
            });
        }
        let mut results = Vec::new();
        while let Some(r) = enqueuers.join_next().await {
            results.push(r.unwrap());
        }
        assert_eq!(results.iter().filter(|e| e.inserted).count(), 1);
        let ids: HashSet<Uuid> = results.iter().map(|e| e.task.id).collect();
        assert_eq!(ids.len(), 1, "everyone sees the one holder");
        let page = repo1
            .list(&TaskFilter::default(), PageRequest::default())
            .await
            .unwrap();
        assert_eq!(page.total, 1);
        // Once the holder finishes, the key is free again.
        let got = claim(&repo1, "w", 1, t0()).await;
        repo1
            .finish(&[finish(
                got[0].lease().unwrap(),
                Outcome::Completed {
                    result: Some(json!(1)),
                },
                t0(),
            )])
            .await
            .unwrap();
        let again = repo2
            .enqueue(&[record(NewTask {
                unique_key: Some("only-one".into()),
                ..task("noop")
            })])
            .await
            .unwrap()
            .pop()
            .unwrap();
        assert!(again.inserted);
        assert_ne!(again.task.id, got[0].id);
    }
);

storage_test!(
    batch_with_a_repeated_key_makes_one_task,
    |url: String| async move {
        let (_store, repo) = repo(&url).await;
        let keyed = |k: &str| {
            record(NewTask {
                unique_key: Some(k.into()),
                ..task("noop")
            })
        };
        let batch = vec![keyed("k"), record(task("noop")), keyed("k"), keyed("j")];
        let out = repo.enqueue(&batch).await.unwrap();
        assert_eq!(
            out.iter().map(|e| e.inserted).collect::<Vec<_>>(),
            vec![true, true, false, true]
        );
        assert_eq!(out[2].task.id, batch[0].id);
        assert_eq!(out[0].task.id, batch[0].id);
        // Against an existing holder, the whole batch resolves to it.
        let out = repo.enqueue(&[keyed("k"), keyed("k")]).await.unwrap();
        assert!(out.iter().all(|e| !e.inserted && e.task.id == batch[0].id));
        assert_eq!(
            repo.list(&TaskFilter::default(), PageRequest::default())
                .await
                .unwrap()
                .total,
            3
        );
    }
);

storage_test!(batch_is_all_or_none, |url: String| async move {
    let (_store, repo) = repo(&url).await;
    let mut bad = record(task("noop"));
    bad.priority = 11; // bypasses validation: the CHECK constraint refuses it
    let batch = vec![record(task("noop")), bad, record(task("noop"))];
    let err = repo.enqueue(&batch).await.unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err:?}");
    let page = repo
        .list(&TaskFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.total, 0);
    // A big batch goes in whole, across insert chunks.
    let big: Vec<_> = (0..2500).map(|_| record(task("noop"))).collect();
    let out = repo.enqueue(&big).await.unwrap();
    assert_eq!(out.len(), 2500);
    assert!(
        out.iter()
            .zip(&big)
            .all(|(e, r)| e.inserted && e.task.id == r.id)
    );
    let page = repo
        .list(&TaskFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.total, 2500);
});

storage_test!(
    contended_batch_claims_hand_out_each_task_once,
    |url: String| async move {
        let mut stores = Vec::new();
        for _ in 0..3 {
            stores.push(repo(&url).await);
        }
        let records: Vec<_> = (0..300).map(|_| record(task("noop"))).collect();
        stores[0].1.enqueue(&records).await.unwrap();
        let mut claimers = tokio::task::JoinSet::new();
        for i in 0..6 {
            let repo = stores[i % 3].1.clone();
            claimers.spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = claim(&repo, &format!("w{i}"), 7, t0()).await;
                    if got.is_empty() {
                        return mine;
                    }
                    assert!(got.len() <= 7);
                    mine.extend(got.into_iter().map(|t| t.id));
                }
            });
        }
        let mut all = Vec::new();
        while let Some(r) = claimers.join_next().await {
            all.extend(r.unwrap());
        }
        let unique: HashSet<Uuid> = all.iter().copied().collect();
        assert_eq!(all.len(), 300, "every task handed out");
        assert_eq!(unique.len(), 300, "no task handed out twice");
    }
);

storage_test!(leases_fence_every_write, |url: String| async move {
    let (_store, repo) = repo(&url).await;
    let t = enqueue_one(&repo, task("noop")).await;
    let old = claim(&repo, "old", 1, t0()).await.pop().unwrap();
    let lease = old.lease().unwrap();
    assert_eq!(lease.attempt, 1);
    let wrong_worker = Lease {
        worker_id: "someone".into(),
        ..lease.clone()
    };
    let stale = Lease {
        attempt: 0,
        ..lease.clone()
    };
    assert!(
        repo.renew(&[wrong_worker.clone(), stale.clone()], t0() + secs(60))
            .await
            .unwrap()
            .is_empty()
    );
    let applied = repo
        .finish(&[
            finish(wrong_worker, Outcome::Completed { result: None }, t0()),
            finish(stale, Outcome::Completed { result: None }, t0()),
        ])
        .await
        .unwrap();
    assert_eq!(applied, vec![false, false]);
    assert!(
        !repo
            .report_progress(
                &Lease {
                    worker_id: "x".into(),
                    ..lease.clone()
                },
                &json!(1)
            )
            .await
            .unwrap()
    );
    assert_eq!(
        repo.renew(std::slice::from_ref(&lease), t0() + secs(40))
            .await
            .unwrap(),
        vec![t.id]
    );
    assert_eq!(
        get(&repo, t.id).await.lease_expires_at,
        Some(t0() + secs(40))
    );
    // Not expired yet at the lease end itself.
    assert!(
        repo.rescue_expired(t0() + secs(40))
            .await
            .unwrap()
            .is_empty()
    );
    let rescued = repo.rescue_expired(t0() + secs(41)).await.unwrap();
    assert_eq!(rescued.len(), 1);
    assert_eq!(rescued[0].state, TaskState::Retryable);
    assert_eq!(rescued[0].run_at, t0() + secs(41));
    assert_eq!(
        rescued[0].last_error.as_deref(),
        Some("lease expired (worker old)")
    );
    assert_eq!(rescued[0].errors.len(), 1);
    assert_eq!(rescued[0].errors[0].attempt, 1);
    let new = claim(&repo, "new", 1, t0() + secs(41)).await.pop().unwrap();
    assert_eq!(new.attempt, 2);
    let new_lease = new.lease().unwrap();
    assert!(
        repo.renew(std::slice::from_ref(&lease), t0() + secs(90))
            .await
            .unwrap()
            .is_empty()
    );
    let applied = repo
        .finish(&[
            finish(
                lease,
                Outcome::Completed {
                    result: Some(json!("old")),
                },
                t0() + secs(42),
            ),
            finish(
                new_lease,
                Outcome::Completed {
                    result: Some(json!("new")),
                },
                t0() + secs(42),
            ),
        ])
        .await
        .unwrap();
    assert_eq!(applied, vec![false, true]);
    let done = get(&repo, t.id).await;
    assert_eq!(done.state, TaskState::Completed);
    assert_eq!(done.result, Some(json!("new")));
    assert_eq!(done.finished_at, Some(t0() + secs(42)));
    assert_eq!(done.worker_id.as_deref(), Some("new"));
    assert_eq!(done.attempt, 2);
});

storage_test!(
    rescue_fails_a_task_out_of_attempts,
    |url: String| async move {
        let (_store, repo) = repo(&url).await;
        let t = enqueue_one(
            &repo,
            NewTask {
                max_attempts: Some(1),
                ..task("noop")
            },
        )
        .await;
        claim(&repo, "w", 1, t0()).await;
        let rescued = repo.rescue_expired(t0() + secs(31)).await.unwrap();
        assert_eq!(rescued.len(), 1);
        let got = get(&repo, t.id).await;
        assert_eq!(got.state, TaskState::Failed);
        assert_eq!(got.finished_at, Some(t0() + secs(31)));
        assert_eq!(got.lease_expires_at, None);
        assert_eq!(got.errors.len(), 1);
        assert_eq!(got.errors[0].message, "lease expired (worker w)");
        assert!(claim(&repo, "w", 1, t0() + secs(100)).await.is_empty());
    }
);

storage_test!(cancel_stops_a_running_task, |url: String| async move {
    let (_store, repo) = repo(&url).await;
    let t = enqueue_one(&repo, task("noop")).await;
    let lease = claim(&repo, "w", 1, t0())
        .await
        .pop()
        .unwrap()
        .lease()
        .unwrap();
    let cancelled = repo.cancel(t.id, t0() + secs(1)).await.unwrap();
    assert_eq!(cancelled.state, TaskState::Cancelled);
    assert_eq!(cancelled.finished_at, Some(t0() + secs(1)));
    assert!(
        repo.renew(std::slice::from_ref(&lease), t0() + secs(60))
            .await
            .unwrap()
            .is_empty()
    );
    let applied = repo
        .finish(&[finish(
            lease,
            Outcome::Completed { result: None },
            t0() + secs(2),
        )])
        .await
        .unwrap();
    assert_eq!(applied, vec![false]);
    assert_eq!(get(&repo, t.id).await.state, TaskState::Cancelled);
    match repo.cancel(t.id, t0()).await {
        Err(Error::Conflict(m)) => assert!(m.contains("cancelled"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(matches!(
        repo.cancel(Uuid::now_v7(), t0()).await,
        Err(Error::NotFound { .. })
    ));
    // A waiting task is cancelled too and never claimed.
    let w = enqueue_one(&repo, task("noop")).await;
    assert_eq!(
        repo.cancel(w.id, t0()).await.unwrap().state,
        TaskState::Cancelled
    );
    assert!(claim(&repo, "w", 1, t0()).await.is_empty());
});

storage_test!(
    retry_now_gives_a_dead_task_fresh_attempts,
    |url: String| async move {
        let (_store, repo) = repo(&url).await;
        let t = enqueue_one(
            &repo,
            NewTask {
                max_attempts: Some(2),
                ..task("noop")
            },
        )
        .await;
        let lease = claim(&repo, "w", 1, t0())
            .await
            .pop()
            .unwrap()
            .lease()
            .unwrap();
        let applied = repo
            .finish(&[finish(
                lease,
                Outcome::Retry {
                    error: "boom 1".into(),
                    at: t0() + secs(10),
                },
                t0() + secs(1),
            )])
            .await
            .unwrap();
        assert_eq!(applied, vec![true]);
        let waiting = get(&repo, t.id).await;
        assert_eq!(waiting.state, TaskState::Retryable);
        assert_eq!(waiting.run_at, t0() + secs(10));
        assert!(claim(&repo, "w", 1, t0() + secs(9)).await.is_empty());
        let lease = claim(&repo, "w", 1, t0() + secs(10))
            .await
            .pop()
            .unwrap()
            .lease()
            .unwrap();
        assert_eq!(lease.attempt, 2);
        // Retry now on a running task is refused.
        assert!(matches!(
            repo.retry_now(t.id, t0()).await,
            Err(Error::Conflict(_))
        ));
        repo.finish(&[finish(
            lease,
            Outcome::Failed {
                error: "boom 2".into(),
            },
            t0() + secs(11),
        )])
        .await
        .unwrap();
        let dead = get(&repo, t.id).await;
        assert_eq!(dead.state, TaskState::Failed);
        assert_eq!(dead.last_error.as_deref(), Some("boom 2"));
        assert_eq!(
            dead.errors
                .iter()
                .map(|e| (e.attempt, e.message.as_str(), e.at))
                .collect::<Vec<_>>(),
            vec![
                (1, "boom 1", t0() + secs(1)),
                (2, "boom 2", t0() + secs(11))
            ]
        );
        let revived = repo.retry_now(t.id, t0() + secs(20)).await.unwrap();
        assert_eq!(revived.state, TaskState::Available);
        assert_eq!(revived.attempt, 0);
        assert_eq!(revived.finished_at, None);
        assert_eq!(revived.run_at, t0() + secs(20));
        assert_eq!(revived.errors.len(), 2, "history kept");
        let again = claim(&repo, "w", 1, t0() + secs(20)).await.pop().unwrap();
        assert_eq!(again.attempt, 1);
        assert_eq!(again.errors.len(), 2);
        repo.finish(&[finish(
            again.lease().unwrap(),
            Outcome::Completed { result: None },
            t0() + secs(21),
        )])
        .await
        .unwrap();
        match repo.retry_now(t.id, t0()).await {
            Err(Error::Conflict(m)) => assert!(m.contains("completed"), "{m}"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        // A scheduled task is pulled forward.
        let s = enqueue_one(
            &repo,
            NewTask {
                run_at: Some(t0() + secs(3600)),
                ..task("noop")
            },
        )
        .await;
        let now = repo.retry_now(s.id, t0() + secs(30)).await.unwrap();
        assert_eq!(
            (now.state, now.run_at, now.attempt),
            (TaskState::Available, t0() + secs(30), 0)
        );
        assert!(
            matches!(repo.retry_now(s.id, t0()).await, Err(Error::Conflict(_))),
            "available already"
        );
        assert!(matches!(
            repo.retry_now(Uuid::now_v7(), t0()).await,
            Err(Error::NotFound { .. })
        ));
    }
);

storage_test!(
    snooze_and_release_spend_no_attempt,
    |url: String| async move {
        let (_store, repo) = repo(&url).await;
        let t = enqueue_one(&repo, task("noop")).await;
        let lease = claim(&repo, "w", 1, t0())
            .await
            .pop()
            .unwrap()
            .lease()
            .unwrap();
        repo.finish(&[finish(
            lease,
            Outcome::Snoozed {
                until: t0() + secs(5),
            },
            t0(),
        )])
        .await
        .unwrap();
        let snoozed = get(&repo, t.id).await;
        assert_eq!(
            (
                snoozed.state,
                snoozed.attempt,
                snoozed.run_at,
                snoozed.lease_expires_at
            ),
            (TaskState::Scheduled, 0, t0() + secs(5), None)
        );
        assert!(claim(&repo, "w", 1, t0() + secs(4)).await.is_empty());
        let lease = claim(&repo, "w", 1, t0() + secs(5))
            .await
            .pop()
            .unwrap()
            .lease()
            .unwrap();
        assert_eq!(lease.attempt, 1);
        repo.finish(&[finish(lease, Outcome::Released, t0() + secs(6))])
            .await
            .unwrap();
        let released = get(&repo, t.id).await;
        assert_eq!(
            (released.state, released.attempt, released.run_at),
            (TaskState::Available, 0, t0() + secs(6))
        );
        assert_eq!(claim(&repo, "w", 1, t0() + secs(6)).await[0].attempt, 1);
    }
);

storage_test!(
    progress_is_recorded_under_the_lease,
    |url: String| async move {
        let (_store, repo) = repo(&url).await;
        let t = enqueue_one(&repo, task("noop")).await;
        let lease = claim(&repo, "w", 1, t0())
            .await
            .pop()
            .unwrap()
            .lease()
            .unwrap();
        assert!(
            repo.report_progress(&lease, &json!({"done": 3, "of": 10}))
                .await
                .unwrap()
        );
        assert_eq!(
            get(&repo, t.id).await.progress,
            Some(json!({"done": 3, "of": 10}))
        );
        repo.finish(&[finish(
            lease.clone(),
            Outcome::Completed { result: None },
            t0(),
        )])
        .await
        .unwrap();
        assert!(
            !repo
                .report_progress(&lease, &json!({"done": 4}))
                .await
                .unwrap()
        );
        assert_eq!(
            get(&repo, t.id).await.progress,
            Some(json!({"done": 3, "of": 10}))
        );
    }
);

storage_test!(stats_count_every_state, |url: String| async move {
    let (_store, repo) = repo(&url).await;
    let now = t0() + secs(100);
    repo.enqueue(&[
        record(NewTask {
            run_at: Some(t0() - secs(50)),
            ..task("noop")
        }),
        record(task("noop")),
        record(task("noop")),
        record(NewTask {
            run_at: Some(t0() + secs(3600)),
            ..task("noop")
        }),
    ])
    .await
    .unwrap();
    repo.configure_queue(&QueueSettings {
        queue: "idle".into(),
        paused: true,
        concurrency_limit: Some(2),
    })
    .await
    .unwrap();
    let a = claim(&repo, "w", 1, t0())
        .await
        .pop()
        .unwrap()
        .lease()
        .unwrap();
    repo.finish(&[finish(
        a,
        Outcome::Completed { result: None },
        now - secs(30),
    )])
    .await
    .unwrap();
    let b = claim(&repo, "w", 1, t0())
        .await
        .pop()
        .unwrap()
        .lease()
        .unwrap();
    repo.finish(&[finish(
        b,
        Outcome::Completed { result: None },
        now - secs(61),
    )])
    .await
    .unwrap();
    claim(&repo, "w", 1, t0()).await;
    let stats = repo.stats(now).await.unwrap();
    assert_eq!(stats.queues.len(), 2);
    let d = &stats.queues[0];
    assert_eq!(d.queue, "default");
    let counts: Vec<(TaskState, u64)> = d.states.iter().map(|(s, n)| (*s, *n)).collect();
    assert_eq!(
        counts,
        vec![
            (TaskState::Scheduled, 1),
            (TaskState::Available, 0),
            (TaskState::Running, 1),
            (TaskState::Retryable, 0),
            (TaskState::Completed, 2),
            (TaskState::Failed, 0),
            (TaskState::Cancelled, 0),
        ]
    );
    assert_eq!(d.completed_last_minute, 1);
    assert_eq!(
        d.oldest_available_age_secs, None,
        "the scheduled one is not due"
    );
    let idle = &stats.queues[1];
    assert_eq!(
        (idle.queue.as_str(), idle.paused, idle.concurrency_limit),
        ("idle", true, Some(2))
    );
    assert!(idle.states.values().all(|n| *n == 0));
    assert_eq!(idle.states.len(), 7);
    repo.enqueue(&[record(NewTask {
        run_at: Some(t0() - secs(20)),
        ..task("noop")
    })])
    .await
    .unwrap();
    let stats = repo.stats(now).await.unwrap();
    assert_eq!(stats.queues[0].oldest_available_age_secs, Some(120.0));
});

storage_test!(
    stats_break_queues_down_by_kind_with_latencies,
    |url: String| async move {
        let (_store, repo) = repo(&url).await;
        repo.enqueue(&[
            record(task("build")),
            record(task("build")),
            record(task("build")),
            record(task("mail")),
        ])
        .await
        .unwrap();
        // Two builds start 4 s after they were due; one completes after 6 s, one fails after 8 s.
        let started = t0() + secs(4);
        let claimed = repo
            .claim(&claim_req("w", &["default"], &["build"], 2, started))
            .await
            .unwrap();
        assert_eq!(claimed.len(), 2);
        let leases: Vec<Lease> = claimed.iter().map(|t| t.lease().unwrap()).collect();
        repo.finish(&[
            finish(
                leases[0].clone(),
                Outcome::Completed { result: None },
                started + secs(6),
            ),
            finish(
                leases[1].clone(),
                Outcome::Failed {
                    error: "broken".into(),
                },
                started + secs(8),
            ),
        ])
        .await
        .unwrap();

        let stats = repo.stats(t0() + secs(30)).await.unwrap();
        let d = &stats.queues[0];
        assert_eq!(d.completed_last_minute, 1);
        let kinds: Vec<&str> = d.kinds.iter().map(|k| k.kind.as_str()).collect();
        assert_eq!(kinds, ["build", "mail"]);
        let build = &d.kinds[0];
        assert_eq!(build.states[&TaskState::Available], 1);
        assert_eq!(build.states[&TaskState::Completed], 1);
        assert_eq!(build.states[&TaskState::Failed], 1);
        assert_eq!(build.states.len(), 7, "every state present");
        assert_eq!(
            (build.completed_last_minute, build.failed_last_minute),
            (1, 1)
        );
        let wait = build.average_wait_secs.unwrap();
        assert!((wait - 4.0).abs() < 0.01, "{wait}");
        let run = build.average_run_secs.unwrap();
        assert!((run - 7.0).abs() < 0.01, "{run}");
        let mail = &d.kinds[1];
        assert_eq!(mail.states[&TaskState::Available], 1);
        assert_eq!(
            (mail.completed_last_minute, mail.failed_last_minute),
            (0, 0)
        );
        assert_eq!(
            (mail.average_wait_secs, mail.average_run_secs),
            (None, None)
        );
        let per_kind: u64 = d.kinds.iter().map(|k| k.states.values().sum::<u64>()).sum();
        assert_eq!(
            per_kind,
            d.states.values().sum::<u64>(),
            "kinds add up to the queue"
        );

        // A minute later the windows are empty; the counts stay.
        let later = repo.stats(t0() + secs(200)).await.unwrap();
        let build = &later.queues[0].kinds[0];
        assert_eq!(
            (build.completed_last_minute, build.failed_last_minute),
            (0, 0)
        );
        assert_eq!(
            (build.average_wait_secs, build.average_run_secs),
            (None, None)
        );
        assert_eq!(build.states[&TaskState::Completed], 1);
    }
);

storage_test!(prune_deletes_old_finished_tasks, |url: String| async move {
    let (_store, repo) = repo(&url).await;
    let records: Vec<_> = (0..3).map(|_| record(task("noop"))).collect();
    repo.enqueue(&records).await.unwrap();
    let leases: Vec<_> = claim(&repo, "w", 2, t0())
        .await
        .iter()
        .map(|t| t.lease().unwrap())
        .collect();
    repo.finish(&[
        finish(
            leases[0].clone(),
            Outcome::Failed { error: "x".into() },
            t0() + secs(10),
        ),
        finish(
            leases[1].clone(),
            Outcome::Completed { result: None },
            t0() + secs(20),
        ),
    ])
    .await
    .unwrap();
    assert_eq!(
        repo.prune(t0() + secs(10)).await.unwrap(),
        0,
        "strictly before"
    );
    assert_eq!(repo.prune(t0() + secs(11)).await.unwrap(), 1);
    assert!(repo.get(leases[0].task_id).await.unwrap().is_none());
    assert_eq!(repo.prune(t0() + secs(3600)).await.unwrap(), 1);
    let page = repo
        .list(&TaskFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.total, 1, "the unfinished task stays");
});

storage_test!(a_tick_is_enqueued_exactly_once, |url: String| async move {
    let (_s1, repo1) = repo(&url).await;
    let (_s2, repo2) = repo(&url).await;
    let tick = t0();
    let mut callers = tokio::task::JoinSet::new();
    for i in 0..10 {
        let repo = if i % 2 == 0 {
            repo1.clone()
        } else {
            repo2.clone()
        };
        callers.spawn(async move {
            repo.enqueue_tick("nightly", tick, &record(task("noop")))
                .await
                .unwrap()
        });
    }
    let mut made = Vec::new();
    while let Some(r) = callers.join_next().await {
        made.extend(r.unwrap());
    }
    assert_eq!(made.len(), 1);
    let page = repo1
        .list(&TaskFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    let lease = claim(&repo1, "w", 1, t0())
        .await
        .pop()
        .unwrap()
        .lease()
        .unwrap();
    repo1
        .finish(&[finish(lease, Outcome::Completed { result: None }, t0())])
        .await
        .unwrap();
    repo1.prune(t0() + secs(1)).await.unwrap();
    assert!(
        repo2
            .enqueue_tick("nightly", tick, &record(task("noop")))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        repo2
            .enqueue_tick("nightly", tick + secs(60), &record(task("noop")))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        repo2
            .enqueue_tick("weekly", tick, &record(task("noop")))
            .await
            .unwrap()
            .is_some()
    );
});

storage_test!(
    list_filters_and_orders_newest_first,
    |url: String| async move {
        let (_store, repo) = repo(&url).await;
        let mk = |kind: &str, queue: &str, tags: &[&str], age: i64| {
            let mut r = record(NewTask {
                queue: Some(queue.into()),
                tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                ..task(kind)
            });
            r.created_at = t0() - secs(age);
            r
        };
        let records = vec![
            mk("a", "q1", &["red", "x_y"], 30),
            mk("b", "q1", &["blue"], 20),
            mk("a", "q2", &["red"], 10),
            mk("c", "q2", &["xzy"], 0),
        ];
        repo.enqueue(&records).await.unwrap();
        let ids = |p: trae_core::TaskPage| p.items.iter().map(|t| t.id).collect::<Vec<_>>();
        let all = repo
            .list(&TaskFilter::default(), PageRequest::default())
            .await
            .unwrap();
        assert_eq!(all.total, 4);
        assert_eq!(
            ids(all),
            vec![records[3].id, records[2].id, records[1].id, records[0].id]
        );
        let red = TaskFilter {
            tag: Some("red".into()),
            ..Default::default()
        };
        assert_eq!(
            ids(repo.list(&red, PageRequest::default()).await.unwrap()),
            vec![records[2].id, records[0].id]
        );
        let underscore = TaskFilter {
            tag: Some("x_y".into()),
            ..Default::default()
        };
        assert_eq!(
            ids(repo
                .list(&underscore, PageRequest::default())
                .await
                .unwrap()),
            vec![records[0].id]
        );
        let upper = TaskFilter {
            tag: Some("RED".into()),
            ..Default::default()
        };
        assert_eq!(
            repo.list(&upper, PageRequest::default())
                .await
                .unwrap()
                .total,
            0
        );
        let f = TaskFilter {
            kind: Some("a".into()),
            queue: Some("q2".into()),
            ..Default::default()
        };
        assert_eq!(
            ids(repo.list(&f, PageRequest::default()).await.unwrap()),
            vec![records[2].id]
        );
        let page = repo
            .list(
                &TaskFilter::default(),
                PageRequest::new(Some(2), Some(1)).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!((page.total, page.limit, page.offset), (4, 2, 1));
        assert_eq!(ids(page), vec![records[2].id, records[1].id]);
        let running = TaskFilter {
            state: Some(TaskState::Running),
            ..Default::default()
        };
        assert_eq!(
            repo.list(&running, PageRequest::default())
                .await
                .unwrap()
                .total,
            0
        );
    }
);

storage_test!(wait_for_tasks_wakes_on_enqueue, |url: String| async move {
    let (_s1, repo1) = repo(&url).await;
    // Nothing enqueued: the wait runs out (after any wake-up the listener's start causes).
    repo1.wait_for_tasks(Duration::from_millis(200)).await;
    repo1.wait_for_tasks(Duration::from_millis(50)).await;
    let waiter = {
        let repo = repo1.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            repo.wait_for_tasks(Duration::from_secs(10)).await;
            start.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    enqueue_one(&repo1, task("noop")).await;
    let waited = waiter.await.unwrap();
    assert!(waited < Duration::from_secs(2), "woke after {waited:?}");
    assert!(
        waited >= Duration::from_millis(90),
        "woke before the enqueue: {waited:?}"
    );
});

storage_test!(
    wait_for_tasks_wakes_across_stores_on_postgres,
    |url: String| async move {
        if !url.starts_with("postgres") {
            return; // one SQLite process has no other nodes to hear from
        }
        let (_s1, repo1) = repo(&url).await;
        let (_s2, repo2) = repo(&url).await;
        // Start the listener and let its start-up wake-up pass.
        repo2.wait_for_tasks(Duration::from_millis(300)).await;
        repo2.wait_for_tasks(Duration::from_millis(100)).await;
        let waiter = {
            let repo = repo2.clone();
            tokio::spawn(async move {
                let start = Instant::now();
                repo.wait_for_tasks(Duration::from_secs(10)).await;
                start.elapsed()
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        enqueue_one(&repo1, task("noop")).await;
        let waited = waiter.await.unwrap();
        assert!(waited < Duration::from_secs(2), "woke after {waited:?}");
        assert!(
            waited >= Duration::from_millis(90),
            "woke before the enqueue: {waited:?}"
        );
    }
);
