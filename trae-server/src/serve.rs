//! Running the server until SIGINT or SIGTERM, then draining in-flight requests.

use std::time::Duration;

use poem::Server;
use poem::listener::{Acceptor, Listener, TcpListener};

use crate::{App, AppState};

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Binds the configured address and serves until a shutdown signal arrives.
pub async fn serve(state: AppState) -> std::io::Result<()> {
    let bind = state.config.bind;
    let acceptor = TcpListener::bind(bind).into_acceptor().await?;
    let local = acceptor
        .local_addr()
        .into_iter()
        .find_map(|a| a.as_socket_addr().copied())
        .unwrap_or(bind);
    let app = App::new(&state).into_endpoint();
    tracing::info!(
        address = %local,
        backend = state.store.backend().as_str(),
        ready_ms = (chrono::Utc::now() - state.started_at).num_milliseconds(),
        "trae is serving; API docs at /docs"
    );
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app, shutdown_signal(), Some(SHUTDOWN_GRACE))
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
