//! PostgreSQL notifications on a channel turned into in-process wake-ups: how a node learns
//! that another node enqueued a task or appended events.

use std::time::Duration;

use sqlx::PgPool;

/// A `LISTEN` connection's task; dropping it stops listening.
pub(crate) struct ListenerTask(tokio::task::JoinHandle<()>);

impl Drop for ListenerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl ListenerTask {
    /// Listens on `channel` through a connection of `pool`, calling `wake` for each burst of
    /// notifications and after every (re)connection (notifications may have been missed
    /// meanwhile), until the pool closes or the task is dropped.
    pub(crate) fn spawn(
        pool: PgPool,
        channel: &'static str,
        wake: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        Self(tokio::spawn(listen(pool, channel, wake)))
    }
}

async fn listen(pool: PgPool, channel: &'static str, wake: impl Fn() + Send + Sync + 'static) {
    let mut delay = Duration::from_millis(100);
    loop {
        match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(channel).await {
                Ok(()) => {
                    delay = Duration::from_millis(100);
                    wake();
                    loop {
                        // sqlx's listener notices a closing pool only while it waits, so a
                        // pool closed between two waits (right after a notification) would
                        // leave it waiting forever on its connection, and `Pool::close` with
                        // it. The event is taken before the check, so no close slips between.
                        let closed = pool.close_event();
                        if pool.is_closed() {
                            return;
                        }
                        let received = tokio::select! {
                            () = closed => return,
                            received = listener.try_recv() => received,
                        };
                        match received {
                            Ok(Some(_)) => {
                                while listener.next_buffered().is_some() {}
                                wake();
                            }
                            // The connection dropped and came back.
                            Ok(None) => wake(),
                            Err(sqlx::Error::PoolClosed) => return,
                            Err(e) => {
                                tracing::warn!(error = %e, channel, "notifications lost; reconnecting");
                                break;
                            }
                        }
                    }
                }
                Err(sqlx::Error::PoolClosed) => return,
                Err(e) => tracing::warn!(error = %e, channel, "cannot LISTEN"),
            },
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => tracing::warn!(error = %e, channel, "cannot connect to LISTEN"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
