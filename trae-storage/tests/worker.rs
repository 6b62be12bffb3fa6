//! The worker runtime of trae-core over real SQLite files and a real PostgreSQL server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use trae_core::backoff::Backoff;
use trae_core::tasks::recurring::Schedule;
use trae_core::{
    HandlerResult, NewTask, PageRequest, Principal, TaskContext, TaskFailure, TaskFilter,
    TaskHandler, TaskQueue, TaskState, Worker, WorkerOptions, handler_fn,
};
use trae_storage::{Store, storage_test};

async fn queue(url: &str) -> (Store, TaskQueue) {
    let store = Store::connect(url).await.expect("open the test store");
    let tasks = store.tasks();
    (store, tasks)
}

fn options() -> WorkerOptions {
    WorkerOptions {
        concurrency: 4,
        lease: Duration::from_secs(2),
        heartbeat: Duration::from_millis(100),
        poll_interval: Duration::from_millis(100),
        shutdown_grace: Duration::from_millis(300),
        ..WorkerOptions::default()
    }
}

fn task(kind: &str, payload: serde_json::Value) -> NewTask {
    NewTask::new(kind, payload)
}

/// Fails every attempt, retrying at once.
struct Failing {
    fatal: bool,
}

#[async_trait]
impl TaskHandler for Failing {
    async fn run(&self, ctx: TaskContext) -> HandlerResult {
        let message = format!("boom on attempt {}", ctx.task().attempt);
        if self.fatal {
            Err(TaskFailure::Fatal(message))
        } else {
            Err(TaskFailure::Retry(message))
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff {
            base: Duration::ZERO,
            ..Backoff::default()
        }
    }
}

async fn wait_for_state(tasks: &TaskQueue, id: uuid::Uuid, state: TaskState) -> trae_core::Task {
    for _ in 0..200 {
        let t = tasks.get(&trae_core::Principal::System, id).await.unwrap();
        if t.state == state {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "task {id} never reached {state}; it is {:?}",
        tasks.get(&trae_core::Principal::System, id).await.unwrap()
    );
}

storage_test!(
    a_worker_burns_down_every_task_once,
    |url: String| async move {
        let (_store, tasks) = queue(&url).await;
        let batch: Vec<NewTask> = (0..60)
            .map(|n| task("count", serde_json::json!({ "n": n })))
            .collect();
        tasks.enqueue_many(&Principal::System, batch).await.unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut worker = Worker::new(tasks.clone(), options()).unwrap();
        let record = Arc::clone(&seen);
        worker
            .register(
                "count",
                handler_fn(move |ctx: TaskContext| {
                    let record = Arc::clone(&record);
                    async move {
                        let n = ctx.payload()["n"].as_i64().unwrap();
                        record.lock().unwrap().push(n);
                        Ok(Some(serde_json::json!({ "double": n * 2 })))
                    }
                }),
            )
            .unwrap();
        let summary = worker.run_until_idle().await.unwrap();
        assert_eq!(summary.claimed, 60);
        assert_eq!(summary.completed, 60);
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_unstable();
        assert_eq!(
            seen,
            (0..60).collect::<Vec<_>>(),
            "each task ran exactly once"
        );
        let done = tasks
            .list(
                &trae_core::Principal::System,
                TaskFilter {
                    state: Some(TaskState::Completed),
                    ..TaskFilter::default()
                },
                PageRequest::new(Some(500), None).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(done.total, 60);
        let one = &done.items[0];
        let n = one.payload["n"].as_i64().unwrap();
        assert_eq!(one.result, Some(serde_json::json!({ "double": n * 2 })));
        assert_eq!(one.attempt, 1);
        assert!(one.finished_at.is_some());
    }
);

storage_test!(
    failures_retry_then_land_in_the_dead_letter_with_every_error,
    |url: String| async move {
        let (_store, tasks) = queue(&url).await;
        let enqueued = tasks
            .enqueue(
                &Principal::System,
                NewTask {
                    max_attempts: Some(3),
                    ..task("fails", serde_json::json!({}))
                },
            )
            .await
            .unwrap();
        let mut worker = Worker::new(tasks.clone(), options()).unwrap();
        worker.register("fails", Failing { fatal: false }).unwrap();
        let summary = worker.run_until_idle().await.unwrap();
        assert_eq!(summary.failed, 3);
        let dead = tasks
            .get(&trae_core::Principal::System, enqueued.task.id)
            .await
            .unwrap();
        assert_eq!(dead.state, TaskState::Failed);
        assert_eq!(dead.attempt, 3);
        let messages: Vec<_> = dead.errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            vec![
                "boom on attempt 1",
                "boom on attempt 2",
                "boom on attempt 3"
            ]
        );
        assert_eq!(dead.last_error.as_deref(), Some("boom on attempt 3"));

        // Retry-now gives a dead task a fresh set of attempts and keeps its history.
        let revived = tasks
            .retry(&trae_core::Principal::System, dead.id)
            .await
            .unwrap();
        assert_eq!(revived.state, TaskState::Available);
        assert_eq!(revived.attempt, 0);
        assert_eq!(revived.errors.len(), 3);
    }
);

storage_test!(a_fatal_failure_is_not_retried, |url: String| async move {
    let (_store, tasks) = queue(&url).await;
    let id = tasks
        .enqueue(&Principal::System, task("fatal", serde_json::json!({})))
        .await
        .unwrap()
        .task
        .id;
    let mut worker = Worker::new(tasks.clone(), options()).unwrap();
    worker.register("fatal", Failing { fatal: true }).unwrap();
    worker.run_until_idle().await.unwrap();
    let t = tasks.get(&trae_core::Principal::System, id).await.unwrap();
    assert_eq!(t.state, TaskState::Failed);
    assert_eq!(t.attempt, 1, "one attempt of five spent");
    assert_eq!(t.errors.len(), 1);
});

storage_test!(
    a_panicking_handler_fails_its_attempt_not_the_worker,
    |url: String| async move {
        let (_store, tasks) = queue(&url).await;
        let id = tasks
            .enqueue(
                &Principal::System,
                NewTask {
                    max_attempts: Some(1),
                    ..task("panics", serde_json::json!({}))
                },
            )
            .await
            .unwrap()
            .task
            .id;
        let mut worker = Worker::new(tasks.clone(), options()).unwrap();
        worker
            .register(
                "panics",
                handler_fn(|_ctx: TaskContext| async move {
                    if true {
                        panic!("handler bug");
                    }
                    Ok(None)
                }),
            )
            .unwrap();
        worker.run_until_idle().await.unwrap();
        let t = tasks.get(&trae_core::Principal::System, id).await.unwrap();
        assert_eq!(t.state, TaskState::Failed);
        assert!(
            t.last_error.as_deref().unwrap().contains("handler bug"),
            "{:?}",
            t.last_error
        );
    }
);

storage_test!(
    a_snooze_does_not_spend_an_attempt,
    |url: String| async move {
        let (_store, tasks) = queue(&url).await;
        let id = tasks
            .enqueue(&Principal::System, task("sleepy", serde_json::json!({})))
            .await
            .unwrap()
            .task
            .id;
        let mut worker = Worker::new(tasks.clone(), options()).unwrap();
        worker
            .register(
                "sleepy",
                handler_fn(|_ctx: TaskContext| async move {
                    Err(TaskFailure::Snooze(Duration::from_secs(3600)))
                }),
            )
            .unwrap();
        worker.run_until_idle().await.unwrap();
        let t = tasks.get(&trae_core::Principal::System, id).await.unwrap();
        assert_eq!(t.state, TaskState::Scheduled);
        assert_eq!(t.attempt, 0);
        assert!(t.run_at > tasks.now() + chrono::Duration::minutes(59));
    }
);

storage_test!(
    cancelling_a_running_task_stops_its_handler,
    |url: String| async move {
        let (_store, tasks) = queue(&url).await;
        let id = tasks
            .enqueue(&Principal::System, task("long", serde_json::json!({})))
            .await
            .unwrap()
            .task
            .id;
        let observed = Arc::new(AtomicBool::new(false));
        let mut worker = Worker::new(tasks.clone(), options()).unwrap();
        let flag = Arc::clone(&observed);
        worker
            .register(
                "long",
                handler_fn(move |ctx: TaskContext| {
                    let flag = Arc::clone(&flag);
                    async move {
                        tokio::select! {
                            _ = ctx.cancelled() => {
                                flag.store(true, Ordering::SeqCst);
                                Err(TaskFailure::Fatal("stopped".into()))
                            }
                            _ = tokio::time::sleep(Duration::from_secs(60)) => Ok(None),
                        }
                    }
                }),
            )
            .unwrap();
        let stop = CancellationToken::new();
        let run = tokio::spawn(worker.run(stop.clone()));
        wait_for_state(&tasks, id, TaskState::Running).await;
        let cancelled = tasks
            .cancel(&trae_core::Principal::System, id)
            .await
            .unwrap();
        assert_eq!(cancelled.state, TaskState::Cancelled);
        for _ in 0..100 {
            if observed.load(Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            observed.load(Ordering::SeqCst),
            "the handler saw the cancel"
        );
        stop.cancel();
        let summary = run.await.unwrap().unwrap();
        assert_eq!(summary.completed, 0);
        let t = tasks.get(&trae_core::Principal::System, id).await.unwrap();
        assert_eq!(
            t.state,
            TaskState::Cancelled,
            "the handler's outcome was dropped"
        );
        assert!(t.errors.is_empty());
    }
);

storage_test!(
    shutdown_releases_unfinished_tasks_without_spending_attempts,
    |url: String| async move {
        let (_store, tasks) = queue(&url).await;
        let id = tasks
            .enqueue(&Principal::System, task("stuck", serde_json::json!({})))
            .await
            .unwrap()
            .task
            .id;
        let mut worker = Worker::new(tasks.clone(), options()).unwrap();
        worker
            .register(
                "stuck",
                handler_fn(|_ctx: TaskContext| async move {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(None)
                }),
            )
            .unwrap();
        let stop = CancellationToken::new();
        let run = tokio::spawn(worker.run(stop.clone()));
        wait_for_state(&tasks, id, TaskState::Running).await;
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), run)
            .await
            .expect("shutdown finishes within the grace period and the cancel grace")
            .unwrap()
            .unwrap();
        let t = tasks.get(&trae_core::Principal::System, id).await.unwrap();
        assert_eq!(t.state, TaskState::Available);
        assert_eq!(t.attempt, 0, "a released attempt is not counted");
        assert_eq!(t.lease_expires_at, None);
    }
);

storage_test!(
    a_dead_workers_task_runs_again_after_its_lease,
    |url: String| async move {
        let (_store, tasks) = queue(&url).await;
        let id = tasks
            .enqueue(&Principal::System, task("once", serde_json::json!({})))
            .await
            .unwrap()
            .task
            .id;
        // A worker claims it and dies: nothing renews or finishes the lease.
        let now = tasks.now();
        let claimed = tasks
            .repository()
            .claim(&trae_core::ClaimRequest {
                worker_id: "ghost".into(),
                queues: vec!["default".into()],
                kinds: vec!["once".into()],
                limit: 1,
                now,
                lease_until: now + chrono::Duration::milliseconds(300),
            })
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        let ghost_lease = claimed[0].lease().unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;

        let runs = Arc::new(AtomicUsize::new(0));
        let mut worker = Worker::new(tasks.clone(), options()).unwrap();
        let count = Arc::clone(&runs);
        worker
            .register(
                "once",
                handler_fn(move |_ctx: TaskContext| {
                    let count = Arc::clone(&count);
                    async move {
                        count.fetch_add(1, Ordering::SeqCst);
                        Ok(None)
                    }
                }),
            )
            .unwrap();
        worker.run_until_idle().await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let t = tasks.get(&trae_core::Principal::System, id).await.unwrap();
        assert_eq!(t.state, TaskState::Completed);
        assert_eq!(t.attempt, 2, "the lost attempt counts");
        assert!(
            t.errors[0].message.contains("lease expired"),
            "{:?}",
            t.errors
        );

        // The ghost cannot complete it afterwards.
        let applied = tasks
            .repository()
            .finish(&[trae_core::Finish {
                lease: ghost_lease,
                outcome: trae_core::TaskOutcome::Completed { result: None },
                at: tasks.now(),
            }])
            .await
            .unwrap();
        assert_eq!(applied, vec![false]);
    }
);

storage_test!(
    progress_and_events_are_published,
    |url: String| async move {
        let (store, tasks) = queue(&url).await;
        let mut events = store.events().subscribe();
        let id = tasks
            .enqueue(&Principal::System, task("steps", serde_json::json!({})))
            .await
            .unwrap()
            .task
            .id;
        let mut worker = Worker::new(tasks.clone(), options()).unwrap();
        worker
            .register(
                "steps",
                handler_fn(|ctx: TaskContext| async move {
                    assert!(
                        ctx.report_progress(serde_json::json!({"done": 1, "of": 2}))
                            .await?
                    );
                    Ok(None)
                }),
            )
            .unwrap();
        worker.run_until_idle().await.unwrap();
        let t = tasks.get(&trae_core::Principal::System, id).await.unwrap();
        assert_eq!(t.progress, Some(serde_json::json!({"done": 1, "of": 2})));
        let mut kinds = Vec::new();
        while let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(200), events.recv()).await
        {
            if e.source == "tasks" && e.payload["id"] == serde_json::json!(id) {
                kinds.push(e.kind.clone());
            }
        }
        assert_eq!(
            kinds,
            vec![
                "task.available",
                "task.running",
                "task.progress",
                "task.completed"
            ]
        );
    }
);

storage_test!(
    recurring_ticks_are_enqueued_once_across_workers,
    |url: String| async move {
        let (_store, tasks) = queue(&url).await;
        let schedule = Schedule::new(
            "every-second",
            "* * * * * *",
            task("tick", serde_json::json!({})),
        )
        .unwrap();
        let stop = CancellationToken::new();
        let mut runs = Vec::new();
        for _ in 0..3 {
            let mut worker = Worker::new(
                tasks.clone(),
                WorkerOptions {
                    schedules: vec![schedule.clone()],
                    ..options()
                },
            )
            .unwrap();
            worker
                .register(
                    "tick",
                    handler_fn(|_ctx: TaskContext| async move { Ok(None) }),
                )
                .unwrap();
            runs.push(tokio::spawn(worker.run(stop.clone())));
        }
        tokio::time::sleep(Duration::from_millis(3500)).await;
        stop.cancel();
        for run in runs {
            run.await.unwrap().unwrap();
        }
        let all = tasks
            .list(
                &trae_core::Principal::System,
                TaskFilter {
                    kind: Some("tick".into()),
                    ..TaskFilter::default()
                },
                PageRequest::new(Some(500), None).unwrap(),
            )
            .await
            .unwrap();
        let mut ticks: Vec<_> = all.items.iter().map(|t| t.run_at).collect();
        ticks.sort();
        let before = ticks.len();
        ticks.dedup();
        assert_eq!(before, ticks.len(), "no tick enqueued twice: {ticks:?}");
        assert!(
            (2..=5).contains(&ticks.len()),
            "about one tick a second over 3.5 s: {ticks:?}"
        );
        assert!(
            all.items
                .iter()
                .all(|t| t.created_by == "schedule:every-second")
        );
    }
);

/// The real repository, except that outcomes cannot be written (as on a full disk).
struct AcksFail(Arc<dyn trae_core::TaskRepository>);

#[async_trait]
impl trae_core::TaskRepository for AcksFail {
    async fn enqueue(
        &self,
        tasks: &[trae_core::TaskRecord],
    ) -> trae_core::Result<Vec<trae_core::Enqueued>> {
        self.0.enqueue(tasks).await
    }
    async fn get(&self, id: uuid::Uuid) -> trae_core::Result<Option<trae_core::Task>> {
        self.0.get(id).await
    }
    async fn list(
        &self,
        filter: &TaskFilter,
        page: PageRequest,
    ) -> trae_core::Result<trae_core::TaskPage> {
        self.0.list(filter, page).await
    }
    async fn claim(
        &self,
        request: &trae_core::ClaimRequest,
    ) -> trae_core::Result<Vec<trae_core::Task>> {
        self.0.claim(request).await
    }
    async fn renew(
        &self,
        leases: &[trae_core::Lease],
        until: chrono::DateTime<chrono::Utc>,
    ) -> trae_core::Result<Vec<uuid::Uuid>> {
        self.0.renew(leases, until).await
    }
    async fn finish(&self, _batch: &[trae_core::Finish]) -> trae_core::Result<Vec<bool>> {
        Err(trae_core::Error::Unavailable(
            "the database's disk is full".into(),
        ))
    }
    async fn rescue_expired(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> trae_core::Result<Vec<trae_core::Task>> {
        self.0.rescue_expired(now).await
    }
    async fn cancel(
        &self,
        id: uuid::Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> trae_core::Result<trae_core::Task> {
        self.0.cancel(id, now).await
    }
    async fn retry_now(
        &self,
        id: uuid::Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> trae_core::Result<trae_core::Task> {
        self.0.retry_now(id, now).await
    }
    async fn report_progress(
        &self,
        lease: &trae_core::Lease,
        progress: &serde_json::Value,
    ) -> trae_core::Result<bool> {
        self.0.report_progress(lease, progress).await
    }
    async fn configure_queue(&self, settings: &trae_core::QueueSettings) -> trae_core::Result<()> {
        self.0.configure_queue(settings).await
    }
    async fn queue_settings(&self, queue: &str) -> trae_core::Result<trae_core::QueueSettings> {
        self.0.queue_settings(queue).await
    }
    async fn stats(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> trae_core::Result<trae_core::TaskStats> {
        self.0.stats(now).await
    }
    async fn backlog(
        &self,
        queues: &[String],
        now: chrono::DateTime<chrono::Utc>,
    ) -> trae_core::Result<std::collections::BTreeMap<String, trae_core::QueueBacklog>> {
        self.0.backlog(queues, now).await
    }
    async fn compact_stats(&self, now: chrono::DateTime<chrono::Utc>) -> trae_core::Result<()> {
        self.0.compact_stats(now).await
    }
    async fn prune(&self, before: chrono::DateTime<chrono::Utc>) -> trae_core::Result<u64> {
        self.0.prune(before).await
    }
    async fn enqueue_tick(
        &self,
        schedule: &str,
        tick: chrono::DateTime<chrono::Utc>,
        task: &trae_core::TaskRecord,
    ) -> trae_core::Result<Option<trae_core::Task>> {
        self.0.enqueue_tick(schedule, tick, task).await
    }
    async fn wait_for_tasks(&self, timeout: Duration) {
        self.0.wait_for_tasks(timeout).await;
    }
}

storage_test!(
    shutdown_ends_in_bounded_time_when_outcomes_cannot_be_written,
    |url: String| async move {
        let store = Store::connect(&url).await.unwrap();
        let tasks = TaskQueue::new(
            Arc::new(AcksFail(store.task_repository())),
            store.clock(),
            store.events(),
        );
        let batch: Vec<NewTask> = (0..8)
            .map(|n| task("quick", serde_json::json!({ "n": n })))
            .collect();
        tasks.enqueue_many(&Principal::System, batch).await.unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let mut worker = Worker::new(tasks.clone(), options()).unwrap();
        worker
            .register("quick", {
                let ran = Arc::clone(&ran);
                handler_fn(move |_ctx| {
                    let ran = Arc::clone(&ran);
                    async move {
                        ran.fetch_add(1, Ordering::SeqCst);
                        Ok(None)
                    }
                })
            })
            .unwrap();
        let stop = CancellationToken::new();
        let run = tokio::spawn(worker.run(stop.clone()));
        for _ in 0..200 {
            if ran.load(Ordering::SeqCst) >= 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(ran.load(Ordering::SeqCst) >= 4, "tasks ran");
        stop.cancel();
        // Before the fix the worker retried its acknowledgements forever and never returned.
        let summary = tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("the worker stops although its outcomes cannot be written")
            .unwrap()
            .unwrap();
        assert_eq!(summary.completed, 0, "nothing was acknowledged");
        store.close().await;
    }
);
