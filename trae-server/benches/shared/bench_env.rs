//! What the load benches share: their knobs and serving an endpoint on an ephemeral port.
//! Included by each bench with `#[path]`; a bench uses what it needs.
#![allow(dead_code)]

use poem::listener::{Acceptor, Listener, TcpListener};

/// A whole-number setting from the environment, or `default`; a bad value stops the bench.
pub(crate) fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be a whole number"))
        })
        .unwrap_or(default)
}

/// Serves `endpoint` on 127.0.0.1 at a free port, on the current runtime; returns `host:port`
/// and the server's task (abort it to stop serving).
pub(crate) async fn serve<E>(endpoint: E) -> (String, tokio::task::JoinHandle<std::io::Result<()>>)
where
    E: poem::IntoEndpoint + Send + 'static,
    E::Endpoint: 'static,
{
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind");
    let addr = acceptor
        .local_addr()
        .into_iter()
        .find_map(|a| a.as_socket_addr().copied())
        .expect("address");
    let server = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(endpoint));
    (addr.to_string(), server)
}
