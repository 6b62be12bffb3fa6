//! The workers `trae serve` and `trae worker` run: the task queue's worker runtime with the
//! built-in task kinds registered.

use std::time::Duration;

use trae_agents::{HttpRequestHandler, Orchestrator, OutboundClient};
use trae_core::{Config, NoopHandler, Worker, WorkerOptions};
use trae_storage::Store;

/// A worker over `store` serving `queues` with `concurrency` tasks at once, with the
/// built-in kinds `noop` and `http.request` (URL calls as `config.outbound` allows; no
/// capability calls) and the recurring schedules of `trae.toml`.
pub fn builtin_worker(
    config: &Config,
    store: &Store,
    queues: Vec<String>,
    concurrency: usize,
) -> trae_core::Result<Worker> {
    builtin_worker_with(config, store, queues, concurrency, None)
}

/// [`builtin_worker`], with `http.request` capability calls going through `orchestrator`.
pub fn builtin_worker_with(
    config: &Config,
    store: &Store,
    queues: Vec<String>,
    concurrency: usize,
    orchestrator: Option<Orchestrator>,
) -> trae_core::Result<Worker> {
    let retention = match config.tasks.retention_hours {
        0 => None,
        hours => Some(Duration::from_secs(u64::from(hours) * 3600)),
    };
    let schedules = config
        .tasks
        .schedules
        .iter()
        .map(|s| s.schedule())
        .collect::<trae_core::Result<Vec<_>>>()?;
    let options = WorkerOptions {
        queues,
        concurrency,
        lease: Duration::from_secs(u64::from(config.tasks.lease_secs)),
        retention,
        schedules,
        ..WorkerOptions::default()
    };
    let outbound = OutboundClient::from_config(&config.outbound)
        .map_err(|e| trae_core::Error::Config(e.to_string()))?;
    let mut worker = Worker::new(store.tasks(), options)?;
    worker.register("noop", NoopHandler)?;
    let http = HttpRequestHandler::new(outbound);
    let http = match orchestrator {
        Some(o) => http.with_orchestrator(o),
        None => http,
    };
    worker.register(trae_agents::http_task::KIND, http)?;
    Ok(worker)
}
