//! Running the server until SIGINT or SIGTERM, then draining in-flight requests.

use std::time::Duration;

use poem::Server;
use poem::listener::{Acceptor, Listener, TcpListener};

use tokio_util::sync::CancellationToken;
use trae_core::{Worker, WorkerSummary};

use trae_agents::Trae;

use crate::App;

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long the worker and the scheduled jobs may take to stop once requests have drained:
/// the worker's grace for running handlers plus as long again for writing their outcomes.
pub const STOP_BACKGROUND_WITHIN: Duration = Duration::from_secs(25);

/// How long the last writes and the database's close may take.
pub const CLOSE_WITHIN: Duration = Duration::from_secs(10);

/// Binds the configured address and serves until a shutdown signal arrives.
pub async fn serve(trae: Trae) -> std::io::Result<()> {
    serve_with_worker(trae, None).await
}

/// Serves, and runs `worker` beside the server until the same shutdown signal; on shutdown the
/// worker stops claiming and gives running handlers its grace period.
pub async fn serve_with_worker(trae: Trae, worker: Option<Worker>) -> std::io::Result<()> {
    let app = App::new(&trae).await.map_err(std::io::Error::other)?;
    let stop_worker = CancellationToken::new();
    let worker = worker.map(|w| {
        tracing::info!(
            worker = %w.options().id,
            concurrency = w.options().concurrency,
            kinds = ?w.kinds(),
            "task worker running in-process"
        );
        tokio::spawn(w.run(stop_worker.clone()))
    });
    // Scheduled health checks of the registered external APIs, until shutdown.
    let checks = tokio::spawn({
        let apis = trae.apis().clone();
        let stop = stop_worker.clone();
        async move { apis.run_health_checks(stop).await }
    });
    // Scheduled checks of the built-in components (database, task queue, workers, disk).
    let component_checks = tokio::spawn({
        let monitor = trae.health().await.map_err(std::io::Error::other)?.clone();
        let stop = stop_worker.clone();
        async move {
            monitor
                .run(
                    trae_storage::component_checks::CHECK_INTERVAL,
                    stop.cancelled_owned(),
                )
                .await;
        }
    });
    // Scheduled backups (TRAE_BACKUP_INTERVAL_HOURS), interrupted by shutdown.
    let backups = tokio::spawn(crate::backup_schedule::run(
        trae.backups().clone(),
        stop_worker.clone(),
    ));
    // Metric samples every 10 s, each judged by the alert rules.
    let sampling = tokio::spawn({
        let series = trae.metrics().clone();
        let alerts = trae.alerts().clone();
        let stop = stop_worker.clone();
        async move {
            series
                .run(stop, |samples| {
                    let alerts = alerts.clone();
                    async move {
                        if let Err(e) = alerts.evaluate(&samples).await {
                            tracing::warn!(error = %e, "evaluating alert rules failed");
                        }
                    }
                })
                .await;
        }
    });
    let served = serve_http(&trae, app).await;
    stop_worker.cancel();
    let background = async {
        let _ = sampling.await;
        let _ = checks.await;
        let _ = component_checks.await;
        let _ = backups.await;
        if let Some(worker) = worker {
            match worker.await {
                Ok(Ok(summary)) => tracing::info!(
                    completed = summary.completed,
                    failed = summary.failed,
                    "task worker stopped"
                ),
                Ok(Err(e)) => tracing::error!(error = %e, "task worker failed"),
                Err(e) => tracing::error!(error = %e, "task worker panicked"),
            }
        }
    };
    // Whatever the database does (a full disk, a lost PostgreSQL), a stop signal ends the
    // process in bounded time: committed work is safe in the database either way, and an
    // unacknowledged task runs again when its lease expires.
    if tokio::time::timeout(STOP_BACKGROUND_WITHIN, background)
        .await
        .is_err()
    {
        tracing::error!(
            seconds = STOP_BACKGROUND_WITHIN.as_secs(),
            "background work did not stop in time; exiting without it"
        );
    }
    // Attempts still queued for the log (and the day limits it restores) are written,
    // unspent shared rate-limit allowances go back, and the database closes.
    if tokio::time::timeout(CLOSE_WITHIN, trae.close())
        .await
        .is_err()
    {
        tracing::error!(
            seconds = CLOSE_WITHIN.as_secs(),
            "closing the database did not finish in time; exiting"
        );
    }
    served
}

/// Runs `worker` until SIGINT or SIGTERM, then shuts it down gracefully.
pub async fn run_worker(worker: Worker) -> trae_core::Result<WorkerSummary> {
    let stop = CancellationToken::new();
    tracing::info!(
        worker = %worker.options().id,
        queues = ?worker.options().queues,
        concurrency = worker.options().concurrency,
        kinds = ?worker.kinds(),
        "task worker running"
    );
    let run = tokio::spawn(worker.run(stop.clone()));
    shutdown_signal().await;
    stop.cancel();
    run.await
        .map_err(|e| trae_core::Error::Storage(format!("the worker panicked: {e}")))?
}

async fn serve_http(trae: &Trae, app: App) -> std::io::Result<()> {
    let bind = trae.config().bind;
    let acceptor = TcpListener::bind(bind).into_acceptor().await?;
    let local = acceptor
        .local_addr()
        .into_iter()
        .find_map(|a| a.as_socket_addr().copied())
        .unwrap_or(bind);
    let sockets = app.shutdown_token();
    let app = app.into_endpoint();
    tracing::info!(
        address = %local,
        backend = trae.store().backend().as_str(),
        ready_ms = (chrono::Utc::now() - trae.opened_at()).num_milliseconds(),
        "trae is serving; API docs at /docs"
    );
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(
            app,
            async move {
                shutdown_signal().await;
                // Open sockets would hold the drain for its whole grace period.
                sockets.cancel();
            },
            Some(SHUTDOWN_GRACE),
        )
        .await?;
    tracing::info!("trae stopped");
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
}
