//! The queue benchmark behind `trae bench queue`: how fast this database enqueues, burns down
//! and starts tasks, measured with `noop` tasks through the real queue and worker runtime.
//!
//! Three phases, each reported:
//! 1. **enqueue**: `tasks` no-op tasks in batches of `batch`;
//! 2. **burn-down**: `workers` workers (each running `concurrency` at once) drain them;
//! 3. **latency**: with the workers idle, `latency_samples` tasks are enqueued one at a time
//!    and the time from enqueue to start (`started_at − created_at`) is recorded.
//!
//! Progress goes to a callback (the CLI draws a bar) and to the event bus as `bench.progress`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::tasks::task::{NewTask, TaskState};
use crate::tasks::task_queue::TaskQueue;
use crate::tasks::worker::{NoopHandler, Worker, WorkerOptions};
use crate::{Error, Principal, Result};

/// What to run.
#[derive(Debug, Clone)]
pub struct QueueBenchOptions {
    /// No-op tasks to enqueue and burn down.
    pub tasks: u32,
    /// Tasks per enqueue call.
    pub batch: u32,
    /// Workers draining the queue.
    pub workers: u32,
    /// Tasks each worker runs at once.
    pub concurrency: u32,
    /// Tasks enqueued one by one for the latency phase.
    pub latency_samples: u32,
    /// The queue the benchmark's tasks go to.
    pub queue: String,
}

impl Default for QueueBenchOptions {
    fn default() -> Self {
        Self {
            tasks: 10_000,
            batch: 1_000,
            workers: 1,
            concurrency: 64,
            latency_samples: 200,
            queue: "bench".into(),
        }
    }
}

/// Where the benchmark is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchPhase {
    /// Enqueueing.
    Enqueue,
    /// Draining.
    BurnDown,
    /// Measuring enqueue-to-start latency.
    Latency,
}

impl BenchPhase {
    /// Its name, e.g. `"burn-down"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enqueue => "enqueue",
            Self::BurnDown => "burn-down",
            Self::Latency => "latency",
        }
    }
}

/// Percentiles of a set of durations, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples` (milliseconds); zeros when empty.
    pub fn of(mut samples: Vec<f64>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            samples[rank - 1]
        };
        Self {
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: samples[samples.len() - 1],
        }
    }
}

/// What the benchmark measured.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueBenchReport {
    /// Tasks enqueued per second in the enqueue phase.
    pub enqueue_per_sec: f64,
    /// Tasks completed per second in the burn-down phase.
    pub burn_down_per_sec: f64,
    /// Seconds the burn-down took.
    pub burn_down_secs: f64,
    /// Enqueue-to-start latency with idle workers.
    pub start_latency_ms: Percentiles,
    /// Tasks that did not complete (should be 0).
    pub not_completed: u64,
}

/// Runs the benchmark on `queue`'s database, reporting `(phase, done, total)` to `progress`.
pub async fn run(
    queue: &TaskQueue,
    options: &QueueBenchOptions,
    progress: impl Fn(BenchPhase, u64, u64) + Send + Sync + 'static,
) -> Result<QueueBenchReport> {
    if options.tasks == 0 || options.batch == 0 || options.workers == 0 || options.concurrency == 0
    {
        return Err(Error::validation(
            "bench",
            "tasks, batch, workers and concurrency must be at least 1",
        ));
    }
    // The benchmark enqueues its whole load up front, on purpose past any backlog limit.
    let queue = &queue.clone().with_max_backlog(None);
    let progress = Arc::new(progress);
    let events = Arc::clone(queue.events());
    let report = {
        let progress = Arc::clone(&progress);
        move |phase: BenchPhase, done: u64, total: u64| {
            progress(phase, done, total);
            events.publish(
                "bench",
                "bench.progress",
                serde_json::json!({"phase": phase.as_str(), "done": done, "total": total}),
            );
        }
    };
    let total = u64::from(options.tasks);
    let task = || NewTask {
        queue: Some(options.queue.clone()),
        ..NewTask::new("noop", serde_json::json!({}))
    };

    // 1. Enqueue.
    let started = Instant::now();
    let mut enqueued = 0u64;
    while enqueued < total {
        let n = (total - enqueued).min(u64::from(options.batch));
        let batch = (0..n).map(|_| task()).collect();
        queue.enqueue_many(&Principal::System, batch).await?;
        enqueued += n;
        report(BenchPhase::Enqueue, enqueued, total);
    }
    let enqueue_per_sec = total as f64 / started.elapsed().as_secs_f64();

    // 2. Burn down.
    let stop = CancellationToken::new();
    let mut running = Vec::new();
    let started = Instant::now();
    for _ in 0..options.workers {
        let mut worker = Worker::new(
            queue.clone(),
            WorkerOptions {
                queues: vec![options.queue.clone()],
                concurrency: options.concurrency as usize,
                ..WorkerOptions::default()
            },
        )?;
        worker.register("noop", NoopHandler)?;
        running.push(tokio::spawn(worker.run(stop.clone())));
    }
    let burn_down_secs = loop {
        let left = unfinished(queue, &options.queue).await?;
        report(BenchPhase::BurnDown, total - left.min(total), total);
        if left == 0 {
            break started.elapsed().as_secs_f64();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // 3. Latency with idle workers: one task at a time, each waited for.
    let samples = u64::from(options.latency_samples);
    let mut ids = Vec::with_capacity(samples as usize);
    for i in 0..samples {
        let e = queue.enqueue(&Principal::System, task()).await?;
        ids.push(e.task.id);
        let deadline = Instant::now() + Duration::from_secs(10);
        while queue.get(&crate::Principal::System, e.task.id).await?.state != TaskState::Completed {
            if Instant::now() > deadline {
                return Err(Error::Unavailable(
                    "a latency sample did not complete within 10 s".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        report(BenchPhase::Latency, i + 1, samples);
    }
    stop.cancel();
    for r in running {
        r.await
            .map_err(|e| Error::Storage(format!("a bench worker panicked: {e}")))??;
    }
    let mut latencies = Vec::with_capacity(ids.len());
    for id in ids {
        let t = queue.get(&crate::Principal::System, id).await?;
        if let Some(started_at) = t.started_at {
            latencies
                .push((started_at - t.created_at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
        }
    }
    let not_completed = unfinished(queue, &options.queue).await?;
    Ok(QueueBenchReport {
        enqueue_per_sec,
        burn_down_per_sec: total as f64 / burn_down_secs,
        burn_down_secs,
        start_latency_ms: Percentiles::of(latencies),
        not_completed,
    })
}

/// Tasks of `queue` not yet completed.
async fn unfinished(queue: &TaskQueue, name: &str) -> Result<u64> {
    let stats = queue.stats(&crate::Principal::System).await?;
    Ok(stats
        .queues
        .iter()
        .filter(|q| q.queue == name)
        .flat_map(|q| q.states.iter())
        .filter(|(state, _)| **state != TaskState::Completed)
        .map(|(_, n)| *n)
        .sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of((1..=100).map(f64::from).collect());
        assert_eq!((p.p50, p.p95, p.p99, p.max), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(vec![]), Percentiles::default());
        assert_eq!(Percentiles::of(vec![7.0]).p99, 7.0);
    }
}
