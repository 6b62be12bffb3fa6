//! Group commit of enqueues on SQLite's single writer connection.
//!
//! SQLite has one writer connection, and sqlx hands it out first come, first served. Under a
//! load of concurrent single-task enqueues (one transaction each, as `POST /api/tasks` makes)
//! the writer's queue holds one transaction per waiting request, and a worker's claim and its
//! acknowledgement each wait behind all of them: with 64 enqueuers the worker got one turn in
//! 65, and its throughput fell to a small fraction of its unloaded rate (issue 20).
//!
//! Here concurrent enqueues join one transaction instead: a caller queues its records, waits
//! for the *enqueue turn*, and whoever holds the turn writes everything queued so far (up to
//! [`GROUP_ROWS`] rows) in one transaction. So at most one enqueue transaction is ever waiting
//! for the writer, the worker's claims and acknowledgements wait behind at most that one, and
//! enqueues themselves commit hundreds at a time instead of one by one.
//!
//! The worker's own writes (claims, acknowledgements, lease renewals, rescues) also get the
//! *reserved turn*: they mark themselves [`EnqueueGroups::urgent`] while they wait for and use
//! the writer, and the holder of the enqueue turn lets them go first, for at most
//! [`MAX_YIELD`], before it writes its group (which meanwhile grows). So a busy HTTP side
//! delays the worker by at most one group transaction, and the worker delays enqueues by at
//! most a few milliseconds.
//!
//! Semantics stay those of one transaction per call: a batch's records stay together and in
//! order; a unique key taken by an earlier request of the group resolves to that holder, as it
//! would one transaction later; if the group's transaction fails, each request is retried in a
//! transaction of its own, so one caller's bad batch cannot fail another's. A caller that gives
//! up (its future dropped) before its turn is skipped, not written later.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::SqlitePool;
use tokio::sync::{Notify, oneshot};
use trae_core::tasks::task::{Enqueued, TaskRecord};
use trae_core::{Error, Result};

use super::queries::sqlite;

/// The most rows one group transaction writes (a single larger call still goes in whole).
pub(super) const GROUP_ROWS: usize = 10_000;
/// The longest an enqueue group waits for the worker's writes to finish before it writes.
pub(super) const MAX_YIELD: Duration = Duration::from_millis(5);

/// One caller's records and where its answer goes.
struct Request {
    records: Vec<TaskRecord>,
    answer: oneshot::Sender<Result<Vec<Enqueued>>>,
}

/// Enqueues waiting for the writer, and the turn that writes them.
#[derive(Default)]
pub(super) struct EnqueueGroups {
    waiting: Mutex<Vec<Request>>,
    turn: Arc<tokio::sync::Mutex<()>>,
    /// Worker writes waiting for or using the writer.
    urgent: AtomicUsize,
    /// Signalled when the last urgent write is done.
    calm: Notify,
}

/// Marks a worker write as urgent while it lives.
pub(super) struct Urgent<'a>(&'a EnqueueGroups);

impl Drop for Urgent<'_> {
    fn drop(&mut self) {
        if self.0.urgent.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.calm.notify_waiters();
        }
    }
}

impl EnqueueGroups {
    /// Marks a worker write (claim, acknowledgement, renewal, rescue) until the guard drops:
    /// enqueue groups let it use the writer first.
    pub(super) fn urgent(&self) -> Urgent<'_> {
        self.urgent.fetch_add(1, Ordering::SeqCst);
        Urgent(self)
    }

    /// Waits, at most [`MAX_YIELD`], until no worker write is pending.
    async fn yield_to_worker(&self) {
        let deadline = tokio::time::Instant::now() + MAX_YIELD;
        loop {
            let calm = self.calm.notified();
            tokio::pin!(calm);
            // Registered before the check, so a wake-up in between is not lost.
            calm.as_mut().enable();
            if self.urgent.load(Ordering::SeqCst) == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, calm).await.is_err() {
                return;
            }
        }
    }

    /// Enqueues `records` in a group transaction on `writer`.
    pub(super) async fn enqueue(
        &self,
        writer: &SqlitePool,
        records: &[TaskRecord],
    ) -> Result<Vec<Enqueued>> {
        let (answer, mut answered) = oneshot::channel();
        self.lock().push(Request {
            records: records.to_vec(),
            answer,
        });
        loop {
            let turn = Arc::clone(&self.turn).lock_owned().await;
            // An earlier turn may have written this request already.
            if let Ok(result) = answered.try_recv() {
                return result;
            }
            self.yield_to_worker().await;
            let group = self.take_group();
            if !group.is_empty() {
                // Written on its own task holding the turn, so that a caller dropped meanwhile
                // (a client that hung up) cannot cut a transaction others wait on.
                let writer = writer.clone();
                let written = tokio::spawn(async move {
                    write(&writer, group).await;
                    drop(turn);
                });
                if written.await.is_err() {
                    return Err(Error::Storage("a group enqueue panicked".into()));
                }
            }
            match answered.try_recv() {
                Ok(result) => return result,
                // Past the group's row limit: this request waits for the next turn.
                Err(oneshot::error::TryRecvError::Empty) => {}
                Err(oneshot::error::TryRecvError::Closed) => {
                    return Err(Error::Storage("a group enqueue was lost".into()));
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Request>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The requests of the next group, oldest first: callers still waiting, up to
    /// [`GROUP_ROWS`] rows (at least one request).
    fn take_group(&self) -> Vec<Request> {
        let mut waiting = self.lock();
        waiting.retain(|r| !r.answer.is_closed());
        let mut rows = 0;
        let mut n = 0;
        for r in waiting.iter() {
            if n > 0 && rows + r.records.len() > GROUP_ROWS {
                break;
            }
            rows += r.records.len();
            n += 1;
        }
        waiting.drain(..n).collect()
    }
}

/// Writes `group` in one transaction and answers each request; when that fails and the group
/// has several requests, each is written on its own.
async fn write(writer: &SqlitePool, group: Vec<Request>) {
    if group.len() == 1 {
        for r in group {
            let result = sqlite::enqueue(writer, &r.records).await;
            let _ = r.answer.send(result);
        }
        return;
    }
    let all: Vec<TaskRecord> = group.iter().flat_map(|r| r.records.clone()).collect();
    match sqlite::enqueue(writer, &all).await {
        Ok(mut out) => {
            for r in group {
                let rest = out.split_off(r.records.len().min(out.len()));
                let mine = std::mem::replace(&mut out, rest);
                let _ = r.answer.send(Ok(mine));
            }
        }
        Err(_) => {
            for r in group {
                let result = sqlite::enqueue(writer, &r.records).await;
                let _ = r.answer.send(result);
            }
        }
    }
}
