//! A buffered background writer: records handed over without waiting, written in batches by
//! one task, with periodic trimming of what is too old. Request history and the external API
//! attempt log both write this way, off their request paths.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use crate::{Clock, Result};

/// The largest batch written at once.
const MAX_BATCH: usize = 1_000;
/// How often the sink is trimmed.
const TRIM_EVERY: chrono::Duration = chrono::Duration::minutes(1);

/// Where a [`BatchWriter`] writes.
#[async_trait]
pub trait BatchSink<T>: Send + Sync + 'static {
    /// Appends a batch.
    async fn append(&self, batch: &[T]) -> Result<()>;
    /// Deletes what is too old at `now`; returns how many records went.
    async fn trim(&self, now: DateTime<Utc>) -> Result<u64>;
}

enum Message<T> {
    Record(T),
    Flush(oneshot::Sender<()>),
}

/// Hands records to the background task. Cheap to clone; the task stops when every clone is
/// dropped, writing what is queued first.
pub struct BatchWriter<T> {
    tx: mpsc::Sender<Message<T>>,
    dropped: &'static str,
}

impl<T> Clone for BatchWriter<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            dropped: self.dropped,
        }
    }
}

impl<T: Send + Sync + 'static> BatchWriter<T> {
    /// Starts the task on the current tokio runtime: it writes what has queued every
    /// `flush_every` (or at once when [`MAX_BATCH`] records wait) and trims every minute.
    /// Records that find `buffer` records waiting, or whose batch fails to write, are dropped
    /// and counted in the counter named `dropped`.
    pub fn start(
        sink: Arc<dyn BatchSink<T>>,
        clock: Arc<dyn Clock>,
        flush_every: Duration,
        buffer: usize,
        dropped: &'static str,
    ) -> Self {
        let (tx, rx) = mpsc::channel(buffer.max(1));
        tokio::spawn(run(sink, clock, flush_every, dropped, rx));
        Self { tx, dropped }
    }

    /// Queues a record; never waits.
    pub fn send(&self, record: T) {
        if self.tx.try_send(Message::Record(record)).is_err() {
            metrics::counter!(self.dropped).increment(1);
        }
    }

    /// Writes everything queued so far (for tests and orderly shutdown).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn run<T: Send + Sync + 'static>(
    sink: Arc<dyn BatchSink<T>>,
    clock: Arc<dyn Clock>,
    flush_every: Duration,
    dropped: &'static str,
    mut rx: mpsc::Receiver<Message<T>>,
) {
    let mut batch: Vec<T> = Vec::new();
    let mut last_trim: Option<DateTime<Utc>> = None;
    let mut tick = tokio::time::interval(flush_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = rx.recv() => match message {
                Some(Message::Record(r)) => {
                    batch.push(r);
                    if batch.len() >= MAX_BATCH {
                        append(sink.as_ref(), &mut batch, dropped).await;
                    }
                }
                Some(Message::Flush(done)) => {
                    while let Ok(Message::Record(r)) = rx.try_recv() {
                        batch.push(r);
                    }
                    append(sink.as_ref(), &mut batch, dropped).await;
                    let _ = done.send(());
                }
                None => {
                    append(sink.as_ref(), &mut batch, dropped).await;
                    return;
                }
            },
            _ = tick.tick() => {
                append(sink.as_ref(), &mut batch, dropped).await;
                let now = clock.now();
                if last_trim.is_none_or(|at| now - at >= TRIM_EVERY) {
                    last_trim = Some(now);
                    if let Err(e) = sink.trim(now).await {
                        tracing::warn!(error = %e, counter = dropped, "trimming failed");
                    }
                }
            }
        }
    }
}

async fn append<T: Send + Sync + 'static>(
    sink: &dyn BatchSink<T>,
    batch: &mut Vec<T>,
    dropped: &'static str,
) {
    if batch.is_empty() {
        return;
    }
    if let Err(e) = sink.append(batch).await {
        tracing::warn!(error = %e, records = batch.len(), counter = dropped, "a batch write failed; dropped");
        metrics::counter!(dropped).increment(batch.len() as u64);
    }
    batch.clear();
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::ManualClock;

    #[derive(Default)]
    struct Memory {
        rows: Mutex<Vec<u32>>,
        batches: Mutex<usize>,
        fail: bool,
    }

    #[async_trait]
    impl BatchSink<u32> for Memory {
        async fn append(&self, batch: &[u32]) -> Result<()> {
            if self.fail {
                return Err(crate::Error::Storage("down".into()));
            }
            *self.batches.lock().unwrap() += 1;
            self.rows.lock().unwrap().extend_from_slice(batch);
            Ok(())
        }

        async fn trim(&self, _now: DateTime<Utc>) -> Result<u64> {
            Ok(0)
        }
    }

    #[tokio::test]
    async fn records_arrive_in_batches_and_flush_waits_for_them() {
        let sink = Arc::new(Memory::default());
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let writer = BatchWriter::start(
            sink.clone(),
            clock,
            Duration::from_secs(3600),
            100,
            "test_dropped",
        );
        for i in 0..50 {
            writer.send(i);
        }
        writer.flush().await;
        assert_eq!(*sink.rows.lock().unwrap(), (0..50).collect::<Vec<_>>());
        assert!(*sink.batches.lock().unwrap() <= 2, "one write, not fifty");
    }

    #[tokio::test]
    async fn a_failing_sink_drops_and_keeps_running() {
        let sink = Arc::new(Memory {
            fail: true,
            ..Memory::default()
        });
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let writer = BatchWriter::start(sink.clone(), clock, Duration::from_secs(3600), 10, "x");
        writer.send(1);
        writer.flush().await;
        writer.send(2);
        writer.flush().await;
        assert!(sink.rows.lock().unwrap().is_empty());
    }
}
