//! The worker runtime: claims tasks for the kinds it has handlers for, runs up to
//! `concurrency` at once, renews their leases, acknowledges outcomes in batches, enqueues
//! recurring schedules' ticks, and shuts down gracefully.
//!
//! Delivery is at least once: a handler may run again after a crash or a lost lease, so
//! handlers must be idempotent. A handler whose lease is lost, or whose task is cancelled, is
//! stopped (its future dropped at its next await) and its outcome discarded.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::backoff::Backoff;
use crate::tasks::recurring::Schedule;
use crate::tasks::task::{
    ClaimRequest, Finish, Lease, Outcome, Task, TaskRepository, validate_kind,
};
use crate::tasks::task_queue::{TaskQueue, publish_finish, publish_transition};
use crate::{Error, Result};

/// How long a handler told to stop may take to return before it is aborted.
const CANCEL_GRACE: Duration = Duration::from_secs(1);

/// How a handler reports that an attempt did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskFailure {
    /// Failed; retry after the handler's backoff while attempts remain.
    Retry(String),
    /// Failed in a way retrying cannot fix: the task fails now.
    Fatal(String),
    /// Not now: run again after this long, without spending an attempt.
    Snooze(Duration),
}

impl<E: std::fmt::Display> From<E> for TaskFailure {
    fn from(error: E) -> Self {
        Self::Retry(error.to_string())
    }
}

/// What a handler gets: the task, a way to report progress, and cancellation.
#[derive(Clone)]
pub struct TaskContext {
    task: Task,
    cancel: CancellationToken,
    repo: Arc<dyn TaskRepository>,
    queue: TaskQueue,
}

impl std::fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskContext")
            .field("task", &self.task.id)
            .finish_non_exhaustive()
    }
}

impl TaskContext {
    /// The task as claimed (state running, `attempt` counting this one).
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// The task's input.
    pub fn payload(&self) -> &serde_json::Value {
        &self.task.payload
    }

    /// Whether the handler should stop: the task was cancelled, the lease was lost, or the
    /// worker is shutting down and its grace period is over (the handler is dropped a second
    /// later).
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Resolves when the handler should stop.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await;
    }

    /// Records progress on the task and publishes `task.progress`; false when the lease is
    /// lost.
    pub async fn report_progress(&self, progress: serde_json::Value) -> Result<bool> {
        let Some(lease) = self.task.lease() else {
            return Ok(false);
        };
        let held = self.repo.report_progress(&lease, &progress).await?;
        if held {
            self.queue.events().publish_owned(
                crate::tasks::task_queue::EVENT_SOURCE,
                "task.progress",
                self.task.owner_id,
                serde_json::json!({
                    "id": self.task.id,
                    "queue": self.task.queue,
                    "kind": self.task.kind,
                    "progress": progress,
                }),
            );
        }
        Ok(held)
    }
}

/// The outcome a handler returns: a result on success.
pub type HandlerResult = std::result::Result<Option<serde_json::Value>, TaskFailure>;

/// Runs tasks of one kind.
#[async_trait]
pub trait TaskHandler: Send + Sync + 'static {
    /// Runs one attempt.
    async fn run(&self, ctx: TaskContext) -> HandlerResult;

    /// The wait before each retry of this kind.
    fn backoff(&self) -> Backoff {
        Backoff::default()
    }
}

type BoxedRun =
    Box<dyn Fn(TaskContext) -> Pin<Box<dyn Future<Output = HandlerResult> + Send>> + Send + Sync>;

/// A handler from an async closure, with the default backoff.
pub fn handler_fn<F, Fut>(f: F) -> impl TaskHandler
where
    F: Fn(TaskContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    struct FnHandler(BoxedRun);
    #[async_trait]
    impl TaskHandler for FnHandler {
        async fn run(&self, ctx: TaskContext) -> HandlerResult {
            (self.0)(ctx).await
        }
    }
    FnHandler(Box::new(move |ctx| Box::pin(f(ctx))))
}

/// The built-in `noop` kind: succeeds at once with no result (benchmarks, smoke tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopHandler;

#[async_trait]
impl TaskHandler for NoopHandler {
    async fn run(&self, _ctx: TaskContext) -> HandlerResult {
        Ok(None)
    }
}

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Recorded on every task it claims; unique per worker (default host-pid-random).
    pub id: String,
    /// The queues it serves (default `["default"]`).
    pub queues: Vec<String>,
    /// Tasks it runs at once.
    pub concurrency: usize,
    /// How long a claim holds a task before another worker may take it.
    pub lease: Duration,
    /// How often it renews leases, checks for cancellations and rescues expired leases.
    pub heartbeat: Duration,
    /// How long it sleeps when idle before looking again, if nothing wakes it.
    pub poll_interval: Duration,
    /// The most outcomes it acknowledges in one transaction.
    pub ack_batch: usize,
    /// On shutdown, how long running handlers get to finish before their tasks are released.
    pub shutdown_grace: Duration,
    /// Recurring schedules it enqueues (every worker may carry the same ones: each tick is
    /// enqueued once).
    pub schedules: Vec<Schedule>,
    /// Finished tasks older than this are deleted (checked every minute); `None` keeps them.
    pub retention: Option<Duration>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            id: default_worker_id(),
            queues: vec![crate::tasks::task::DEFAULT_QUEUE.to_owned()],
            concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            lease: Duration::from_secs(300),
            heartbeat: Duration::from_secs(1),
            poll_interval: Duration::from_secs(1),
            ack_batch: 512,
            shutdown_grace: Duration::from_secs(10),
            schedules: Vec::new(),
            retention: None,
        }
    }
}

/// A worker id unique enough to tell workers apart in the task table.
pub fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    let random = Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &random[..8])
}

/// What a worker did before it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerSummary {
    /// Tasks it claimed.
    pub claimed: u64,
    /// Attempts that completed.
    pub completed: u64,
    /// Attempts that failed (retry scheduled or dead).
    pub failed: u64,
    /// Outcomes the database refused because the lease was lost.
    pub lost: u64,
}

/// Runs handlers for claimed tasks. Build it, register handlers, then [`Worker::run`].
pub struct Worker {
    queue: TaskQueue,
    handlers: HashMap<String, Arc<dyn TaskHandler>>,
    options: WorkerOptions,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.options.id)
            .field("kinds", &self.kinds())
            .finish_non_exhaustive()
    }
}

struct Running {
    lease: Lease,
    cancel: CancellationToken,
}

struct Ack {
    finish: Finish,
    queue: String,
    kind: String,
    owner: Option<Uuid>,
}

#[derive(Default)]
struct Counters {
    claimed: AtomicUsize,
    completed: AtomicUsize,
    failed: AtomicUsize,
    lost: AtomicUsize,
}

/// State shared by a running worker's loops.
struct Shared {
    queue: TaskQueue,
    repo: Arc<dyn TaskRepository>,
    handlers: HashMap<String, Arc<dyn TaskHandler>>,
    options: WorkerOptions,
    running: Mutex<HashMap<Uuid, Running>>,
    /// Claimed and not yet acknowledged (or dropped).
    outstanding: AtomicUsize,
    /// Signalled when a handler finishes or an ack batch lands.
    progress: Notify,
    counters: Counters,
}

impl Worker {
    /// A worker over `queue` with `options` and no handlers yet.
    pub fn new(queue: TaskQueue, options: WorkerOptions) -> Result<Self> {
        if options.concurrency == 0 {
            return Err(Error::validation("concurrency", "must be at least 1"));
        }
        if options.queues.is_empty() {
            return Err(Error::validation("queues", "at least one queue"));
        }
        for q in &options.queues {
            crate::tasks::task::validate_queue(q)?;
        }
        if options.lease < Duration::from_secs(1) || options.heartbeat * 2 > options.lease {
            return Err(Error::validation(
                "lease",
                "must be at least 1 s and at least twice the heartbeat",
            ));
        }
        Ok(Self {
            queue,
            handlers: HashMap::new(),
            options,
        })
    }

    /// Registers the handler for `kind`, replacing any before it.
    pub fn register(&mut self, kind: &str, handler: impl TaskHandler) -> Result<&mut Self> {
        let kind = validate_kind(kind)?;
        self.handlers.insert(kind, Arc::new(handler));
        Ok(self)
    }

    /// Registers a shared handler for `kind`.
    pub fn register_arc(&mut self, kind: &str, handler: Arc<dyn TaskHandler>) -> Result<&mut Self> {
        let kind = validate_kind(kind)?;
        self.handlers.insert(kind, handler);
        Ok(self)
    }

    /// The kinds it has handlers for, sorted.
    pub fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<_> = self.handlers.keys().cloned().collect();
        kinds.sort();
        kinds
    }

    /// Its options.
    pub fn options(&self) -> &WorkerOptions {
        &self.options
    }

    /// Runs until `shutdown` is cancelled, then stops claiming, gives running handlers
    /// `shutdown_grace` to finish, releases the tasks of those that did not, and returns.
    pub async fn run(self, shutdown: CancellationToken) -> Result<WorkerSummary> {
        self.run_inner(shutdown, false).await
    }

    /// Runs until no task it could claim is due and nothing is running, then returns.
    pub async fn run_until_idle(self) -> Result<WorkerSummary> {
        self.run_inner(CancellationToken::new(), true).await
    }

    async fn run_inner(
        self,
        shutdown: CancellationToken,
        until_idle: bool,
    ) -> Result<WorkerSummary> {
        if self.handlers.is_empty() {
            return Err(Error::validation(
                "handlers",
                "register at least one handler",
            ));
        }
        let shared = Arc::new(Shared {
            repo: Arc::clone(self.queue.repository()),
            queue: self.queue,
            handlers: self.handlers,
            options: self.options,
            running: Mutex::new(HashMap::new()),
            outstanding: AtomicUsize::new(0),
            progress: Notify::new(),
            counters: Counters::default(),
        });
        // Tasks of workers that died become claimable before the first claim, not a heartbeat
        // later.
        if let Ok(rescued) = shared.repo.rescue_expired(shared.queue.now()).await {
            for task in &rescued {
                publish_transition(shared.queue.events().as_ref(), task);
            }
        }
        let (ack_tx, ack_rx) = mpsc::unbounded_channel::<Ack>();
        let give_up_acks = CancellationToken::new();
        let mut acker = tokio::spawn(acknowledge(
            Arc::clone(&shared),
            ack_rx,
            give_up_acks.clone(),
        ));
        let stop_background = CancellationToken::new();
        let heartbeat = tokio::spawn(heartbeat(Arc::clone(&shared), stop_background.clone()));
        let permits = Arc::new(Semaphore::new(shared.options.concurrency));
        let handlers_cancel = CancellationToken::new();
        let mut kinds: Vec<String> = shared.handlers.keys().cloned().collect();
        kinds.sort();
        let mut tasks = tokio::task::JoinSet::new();

        let outcome: Result<()> = async {
            loop {
                if shutdown.is_cancelled() {
                    return Ok(());
                }
                while tasks.try_join_next().is_some() {}
                let free = permits.available_permits();
                if free == 0 {
                    tokio::select! {
                        _ = shared.progress.notified() => {}
                        _ = shutdown.cancelled() => {}
                    }
                    continue;
                }
                // Read before claiming: with nothing outstanding, no outcome can land between
                // this claim and the idle check below, so an empty claim really means idle.
                let settled_before_claim = shared.outstanding.load(Ordering::SeqCst) == 0;
                let now = shared.queue.now();
                let request = ClaimRequest {
                    worker_id: shared.options.id.clone(),
                    queues: shared.options.queues.clone(),
                    kinds: kinds.clone(),
                    limit: free as u32,
                    now,
                    lease_until: now + to_chrono(shared.options.lease),
                };
                let claimed = match shared.repo.claim(&request).await {
                    Ok(claimed) => claimed,
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming tasks failed; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(shared.options.poll_interval) => {}
                            _ = shutdown.cancelled() => {}
                        }
                        continue;
                    }
                };
                let got = claimed.len();
                for task in claimed {
                    let permit = Arc::clone(&permits)
                        .try_acquire_owned()
                        .map_err(|_| Error::Storage("claimed more tasks than asked".into()))?;
                    shared.counters.claimed.fetch_add(1, Ordering::Relaxed);
                    shared.outstanding.fetch_add(1, Ordering::SeqCst);
                    publish_transition(shared.queue.events().as_ref(), &task);
                    let cancel = handlers_cancel.child_token();
                    if let Some(lease) = task.lease() {
                        shared.lock_running().insert(
                            task.id,
                            Running {
                                lease,
                                cancel: cancel.clone(),
                            },
                        );
                    }
                    tasks.spawn(execute(
                        Arc::clone(&shared),
                        task,
                        cancel,
                        shutdown.clone(),
                        ack_tx.clone(),
                        permit,
                    ));
                }
                if got < free {
                    if until_idle && got == 0 && settled_before_claim {
                        return Ok(());
                    }
                    if until_idle {
                        // Wait for the running tasks (their retries may be due at once).
                        tokio::select! {
                            _ = shared.progress.notified() => {}
                            _ = tokio::time::sleep(shared.options.poll_interval) => {}
                        }
                    } else {
                        tokio::select! {
                            _ = shared.repo.wait_for_tasks(shared.options.poll_interval) => {}
                            _ = shared.progress.notified() => {}
                            _ = shutdown.cancelled() => {}
                        }
                    }
                }
            }
        }
        .await;

        // Graceful shutdown: let running handlers finish within the grace period, then stop
        // them; their executions release the tasks.
        let grace = tokio::time::sleep(shared.options.shutdown_grace);
        tokio::pin!(grace);
        loop {
            tokio::select! {
                joined = tasks.join_next() => if joined.is_none() { break },
                _ = &mut grace => {
                    handlers_cancel.cancel();
                    while tasks.join_next().await.is_some() {}
                    break;
                }
            }
        }
        drop(ack_tx);
        // Outcomes get one more grace period to be written; a database that cannot take them
        // (a full disk) must not hold the shutdown: their leases expire and the tasks run
        // again elsewhere (at least once, as always).
        if tokio::time::timeout(shared.options.shutdown_grace, &mut acker)
            .await
            .is_err()
        {
            give_up_acks.cancel();
            if tokio::time::timeout(Duration::from_secs(1), &mut acker)
                .await
                .is_err()
            {
                acker.abort();
            }
        }
        stop_background.cancel();
        let _ = heartbeat.await;
        outcome?;
        let c = &shared.counters;
        Ok(WorkerSummary {
            claimed: c.claimed.load(Ordering::Relaxed) as u64,
            completed: c.completed.load(Ordering::Relaxed) as u64,
            failed: c.failed.load(Ordering::Relaxed) as u64,
            lost: c.lost.load(Ordering::Relaxed) as u64,
        })
    }
}

impl Shared {
    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn settle_one(&self) {
        self.outstanding.fetch_sub(1, Ordering::SeqCst);
        self.progress.notify_waiters();
        self.progress.notify_one();
    }
}

async fn execute(
    shared: Arc<Shared>,
    task: Task,
    cancel: CancellationToken,
    shutdown: CancellationToken,
    acks: mpsc::UnboundedSender<Ack>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let Some(lease) = task.lease() else {
        shared.settle_one();
        return;
    };
    let handler = Arc::clone(&shared.handlers[&task.kind]);
    let ctx = TaskContext {
        task: task.clone(),
        cancel: cancel.clone(),
        repo: Arc::clone(&shared.repo),
        queue: shared.queue.clone(),
    };
    // Its own task, so a panicking handler fails one attempt instead of the worker.
    let mut run = {
        let handler = Arc::clone(&handler);
        tokio::spawn(async move { handler.run(ctx).await })
    };
    let joined = tokio::select! {
        joined = &mut run => Some(joined),
        _ = cancel.cancelled() => {
            // A cooperative handler gets a moment to notice and return; then it is stopped.
            let joined = tokio::time::timeout(CANCEL_GRACE, &mut run).await.ok();
            run.abort();
            joined
        }
    };
    let result = match joined {
        _ if cancel.is_cancelled() => None,
        Some(Ok(result)) => Some(result),
        Some(Err(e)) if e.is_panic() => Some(Err(TaskFailure::Retry(format!(
            "handler panicked: {}",
            panic_message(e)
        )))),
        Some(Err(e)) => Some(Err(TaskFailure::Retry(format!("handler stopped: {e}")))),
        None => None,
    };
    shared.lock_running().remove(&task.id);
    drop(permit);
    let now = shared.queue.now();
    let outcome = match result {
        Some(Ok(result)) => Outcome::Completed { result },
        Some(Err(TaskFailure::Retry(error))) if task.attempt < task.max_attempts => {
            let delay = handler.backoff().delay_now(task.attempt);
            Outcome::Retry {
                error,
                at: now + to_chrono(delay),
            }
        }
        Some(Err(TaskFailure::Retry(error) | TaskFailure::Fatal(error))) => {
            Outcome::Failed { error }
        }
        Some(Err(TaskFailure::Snooze(d))) => Outcome::Snoozed {
            until: now + to_chrono(d),
        },
        // Stopped by shutdown: give the task back without spending the attempt.
        None if shutdown.is_cancelled() => Outcome::Released,
        // Cancelled or lease lost: the task is no longer ours to finish.
        None => {
            shared.counters.lost.fetch_add(1, Ordering::Relaxed);
            shared.settle_one();
            return;
        }
    };
    let ack = Ack {
        finish: Finish {
            lease,
            outcome,
            at: now,
        },
        queue: task.queue,
        kind: task.kind,
        owner: task.owner_id,
    };
    if acks.send(ack).is_err() {
        shared.settle_one();
    }
}

fn panic_message(e: tokio::task::JoinError) -> String {
    let payload = e.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// Acknowledges outcomes in batches: whatever has queued up while the previous batch was
/// being written goes in the next transaction.
async fn acknowledge(
    shared: Arc<Shared>,
    mut acks: mpsc::UnboundedReceiver<Ack>,
    give_up: CancellationToken,
) {
    let mut batch: Vec<Ack> = Vec::new();
    while let Some(first) = acks.recv().await {
        batch.push(first);
        while batch.len() < shared.options.ack_batch {
            match acks.try_recv() {
                Ok(ack) => batch.push(ack),
                Err(_) => break,
            }
        }
        let finishes: Vec<Finish> = batch.iter().map(|a| a.finish.clone()).collect();
        let mut delay = Duration::from_millis(50);
        let applied = loop {
            match shared.repo.finish(&finishes).await {
                Ok(applied) => break applied,
                Err(e) => {
                    // Keep the batch: the leases protect the tasks meanwhile, and a lease
                    // that expires makes these outcomes (rightly) refused.
                    tracing::warn!(error = %e, "acknowledging tasks failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = give_up.cancelled() => {
                            tracing::error!(
                                outcomes = batch.len(),
                                "shutting down with outcomes unwritten: their tasks run again \
                                 when their leases expire"
                            );
                            return;
                        }
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        };
        for (ack, applied) in batch.drain(..).zip(applied) {
            let state = ack.finish.outcome.next_state();
            if applied {
                match &ack.finish.outcome {
                    Outcome::Completed { .. } => {
                        shared.counters.completed.fetch_add(1, Ordering::Relaxed);
                    }
                    Outcome::Retry { .. } | Outcome::Failed { .. } => {
                        shared.counters.failed.fetch_add(1, Ordering::Relaxed);
                    }
                    Outcome::Snoozed { .. } | Outcome::Released => {}
                }
                publish_finish(
                    shared.queue.events().as_ref(),
                    ack.finish.lease.task_id,
                    &ack.queue,
                    &ack.kind,
                    ack.finish.lease.attempt,
                    state,
                    ack.owner,
                );
            } else {
                shared.counters.lost.fetch_add(1, Ordering::Relaxed);
                tracing::info!(task = %ack.finish.lease.task_id, "outcome refused: the lease was lost");
            }
            shared.settle_one();
        }
    }
}

/// Renews leases, stops handlers whose lease is lost, rescues expired leases, and enqueues
/// due recurring ticks, every heartbeat.
async fn heartbeat(shared: Arc<Shared>, stop: CancellationToken) {
    let mut last_tick_check: Option<DateTime<Utc>> = None;
    let mut last_prune: Option<DateTime<Utc>> = None;
    loop {
        let now = shared.queue.now();
        let leases: Vec<Lease> = shared
            .lock_running()
            .values()
            .map(|r| r.lease.clone())
            .collect();
        if !leases.is_empty() {
            match shared
                .repo
                .renew(&leases, now + to_chrono(shared.options.lease))
                .await
            {
                Ok(renewed) => {
                    let running = shared.lock_running();
                    for lease in &leases {
                        // The same task may be running again under a newer lease by now (it
                        // finished and was re-claimed); only the attempt renewed here is lost.
                        if !renewed.contains(&lease.task_id)
                            && let Some(r) = running.get(&lease.task_id)
                            && r.lease == *lease
                        {
                            r.cancel.cancel();
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "renewing leases failed"),
            }
        }
        match shared.repo.rescue_expired(now).await {
            Ok(rescued) => {
                for task in &rescued {
                    publish_transition(shared.queue.events().as_ref(), task);
                }
                if !rescued.is_empty() {
                    shared.progress.notify_one();
                }
            }
            Err(e) => tracing::warn!(error = %e, "rescuing expired leases failed"),
        }
        if let Err(e) = shared.repo.compact_stats(now).await {
            tracing::warn!(error = %e, "compacting the queue's counters failed");
        }
        for schedule in &shared.options.schedules {
            if let Some(tick) = schedule.latest_tick(now, last_tick_check) {
                match schedule.record(now, tick) {
                    Ok(record) => match shared
                        .repo
                        .enqueue_tick(&schedule.name, tick, &record)
                        .await
                    {
                        Ok(Some(task)) => shared.queue.transitioned(&task),
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(schedule = %schedule.name, error = %e, "enqueueing a tick failed")
                        }
                    },
                    Err(e) => {
                        tracing::warn!(schedule = %schedule.name, error = %e, "a schedule's task is invalid")
                    }
                }
            }
        }
        last_tick_check = Some(now);
        if let Some(retention) = shared.options.retention
            && last_prune.is_none_or(|at| now - at >= chrono::Duration::minutes(1))
        {
            last_prune = Some(now);
            match shared.queue.prune(retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(pruned = n, "deleted finished tasks past retention"),
                Err(e) => tracing::warn!(error = %e, "pruning finished tasks failed"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(shared.options.heartbeat) => {}
            _ = stop.cancelled() => return,
        }
    }
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
