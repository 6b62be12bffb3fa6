//! [`EventRepository`] on SQLite and PostgreSQL, in raw SQL through sqlx: the event log in
//! `events`, numbered through the one row of `event_stream`.
//!
//! An append first adds its number of events to `event_stream.last_seq` and holds that row
//! until it commits (SQLite: the database's write lock, taken by `BEGIN IMMEDIATE`;
//! PostgreSQL: the row lock of the `UPDATE`, which a concurrent append waits on and then
//! re-reads). Appends are therefore numbered in the order they commit, on one node or many,
//! and a reader never sees a `seq` before every smaller one.

use std::sync::{Arc, OnceLock};

use crate::pg_listener::ListenerTask;
use crate::sql_pools::{Pools, on_engine, per_engine, values_rows};
use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::DatabaseConnection;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Row};
use tokio::sync::Notify;
use trae_core::{Error, EventRepository, NewEvent, Result, StoredEvent, StreamPosition};
use uuid::Uuid;

/// Rows per INSERT (8 parameters each, well under SQLite's and PostgreSQL's limits).
const CHUNK: usize = 200;
/// The most rows one pruning statement deletes, so pruning never holds the writer for long.
const PRUNE_BATCH: i64 = 5_000;
/// The advisory lock PostgreSQL nodes prune under ("trae-evp" as bytes).
const PRUNE_LOCK: i64 = 0x7472_6165_2d65_7670;
/// The PostgreSQL channel an append notifies at commit.
pub const NOTIFY_CHANNEL: &str = "trae_events";

/// The event log in the `events` and `event_stream` tables.
pub struct SqlEventRepository {
    pools: Pools,
    /// The `LISTEN` connection on PostgreSQL, once someone watches.
    listener: OnceLock<ListenerTask>,
}

impl std::fmt::Debug for SqlEventRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlEventRepository").finish_non_exhaustive()
    }
}

impl SqlEventRepository {
    /// A repository writing through `writer` and reading through `reader`.
    pub fn new(writer: &DatabaseConnection, reader: &DatabaseConnection) -> Self {
        Self {
            pools: Pools::new(writer, reader),
            listener: OnceLock::new(),
        }
    }
}

#[allow(clippy::needless_pass_by_value)] // a `map_err` adapter
fn sql_err(err: sqlx::Error) -> Error {
    crate::error::sqlx_error(&err, "event")
}

fn to_seq(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn from_seq(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn insert_sql(rows: usize) -> String {
    format!(
        "INSERT INTO events (seq, id, ts, topic, source, kind, owner_id, payload) VALUES {}",
        values_rows(rows, 8)
    )
}

per_engine! {
    sqlite {
        async fn begin(pool: &Pool) -> Result<sqlx::Transaction<'static, Db>> {
            pool.begin_with("BEGIN IMMEDIATE").await.map_err(sql_err)
        }

        /// Another process sharing the file finds appends by polling.
        async fn announce(_tx: &mut sqlx::Transaction<'static, Db>) -> Result<()> {
            Ok(())
        }

        /// SQLite's write lock already lets one process prune at a time.
        async fn may_prune(_tx: &mut sqlx::Transaction<'static, Db>) -> Result<bool> {
            Ok(true)
        }
    }
    postgres {
        async fn begin(pool: &Pool) -> Result<sqlx::Transaction<'static, Db>> {
            pool.begin().await.map_err(sql_err)
        }

        /// Wakes the followers of every node at commit.
        async fn announce(tx: &mut sqlx::Transaction<'static, Db>) -> Result<()> {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(NOTIFY_CHANNEL)
                .execute(&mut **tx)
                .await
                .map_err(sql_err)?;
            Ok(())
        }

        /// One node prunes at a time: a batch goes ahead only under a transaction-scoped
        /// advisory lock, and a node that finds it taken leaves the pruning to its holder.
        async fn may_prune(tx: &mut sqlx::Transaction<'static, Db>) -> Result<bool> {
            sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                .bind(PRUNE_LOCK)
                .fetch_one(&mut **tx)
                .await
                .map_err(sql_err)
        }
    }

    pub(super) async fn append(pool: &Pool, events: &[NewEvent]) -> Result<Vec<u64>> {
        let count = i64::try_from(events.len())
            .map_err(|_| Error::validation("events", "too many events in one append"))?;
        let mut tx = begin(pool).await?;
        // Numbering first: the row stays locked until commit, which orders appends.
        let last: i64 = sqlx::query_scalar(
            "UPDATE event_stream SET last_seq = last_seq + $1 WHERE id = 1 RETURNING last_seq",
        )
        .bind(count)
        .fetch_one(&mut *tx)
        .await
        .map_err(sql_err)?;
        let first = last - count + 1;
        let mut seq = first;
        for chunk in events.chunks(CHUNK) {
            let mut q = sqlx::query(AssertSqlSafe(insert_sql(chunk.len())));
            for e in chunk {
                q = q
                    .bind(seq)
                    .bind(e.id)
                    // Microseconds: what PostgreSQL keeps, so both engines read back alike.
                    .bind(e.ts.trunc_subsecs(6))
                    .bind(e.topic.as_str())
                    .bind(e.source.as_str())
                    .bind(e.kind.as_str())
                    .bind(e.owner_id)
                    .bind(Json(&e.payload));
                seq += 1;
            }
            q.execute(&mut *tx).await.map_err(sql_err)?;
        }
        announce(&mut tx).await?;
        tx.commit().await.map_err(sql_err)?;
        Ok((first..=last).map(to_seq).collect())
    }

    pub(super) async fn since(
        pool: &Pool,
        after: u64,
        topics: Option<&[String]>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        let topic_filter = match topics {
            Some(topics) => {
                let params: Vec<String> = (0..topics.len()).map(|i| format!("${}", i + 3)).collect();
                format!(" AND topic IN ({})", params.join(", "))
            }
            None => String::new(),
        };
        let mut q = sqlx::query(AssertSqlSafe(format!(
            "SELECT seq, id, ts, topic, source, kind, owner_id, payload FROM events \
             WHERE seq > $1{topic_filter} ORDER BY seq LIMIT $2"
        )))
        .bind(from_seq(after))
        .bind(i64::from(limit));
        for t in topics.unwrap_or_default() {
            q = q.bind(t.as_str());
        }
        let rows = q.fetch_all(pool).await.map_err(sql_err)?;
        rows.iter()
            .map(|row| {
                let seq: i64 = row.try_get("seq")?;
                let payload: Json<serde_json::Value> = row.try_get("payload")?;
                Ok(StoredEvent {
                    seq: to_seq(seq),
                    id: row.try_get("id")?,
                    ts: row.try_get("ts")?,
                    topic: row.try_get("topic")?,
                    source: row.try_get("source")?,
                    kind: row.try_get("kind")?,
                    owner_id: row.try_get("owner_id")?,
                    payload: payload.0,
                })
            })
            .collect::<std::result::Result<Vec<_>, sqlx::Error>>()
            .map_err(sql_err)
    }

    pub(super) async fn position(pool: &Pool) -> Result<StreamPosition> {
        let row = sqlx::query(
            "SELECT epoch, last_seq, (SELECT MIN(seq) FROM events) AS oldest \
             FROM event_stream WHERE id = 1",
        )
        .fetch_one(pool)
        .await
        .map_err(sql_err)?;
        let last: i64 = row.try_get("last_seq").map_err(sql_err)?;
        let oldest: Option<i64> = row.try_get("oldest").map_err(sql_err)?;
        Ok(StreamPosition {
            epoch: row.try_get("epoch").map_err(sql_err)?,
            last_seq: to_seq(last),
            oldest_seq: oldest.map(to_seq),
        })
    }

    pub(super) async fn prune(pool: &Pool, before: DateTime<Utc>, max_rows: u64) -> Result<u64> {
        // Everything up to `cut` goes: the older of the row cap's boundary and the first
        // event young enough to keep. Found by walking from the oldest event, so the walk
        // costs what is deleted, not the size of the log.
        let last: i64 = sqlx::query_scalar("SELECT last_seq FROM event_stream WHERE id = 1")
            .fetch_one(pool)
            .await
            .map_err(sql_err)?;
        let over_cap = last.saturating_sub(from_seq(max_rows));
        let first_young: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM events WHERE ts >= $1 ORDER BY seq LIMIT 1")
                .bind(before)
                .fetch_optional(pool)
                .await
                .map_err(sql_err)?;
        let too_old = first_young.map_or(last, |seq| seq - 1);
        let cut = over_cap.max(too_old);
        // Short transactions of at most PRUNE_BATCH rows, so appends go in between.
        let mut deleted = 0;
        loop {
            let mut tx = begin(pool).await?;
            if !may_prune(&mut tx).await? {
                tx.commit().await.map_err(sql_err)?;
                return Ok(deleted);
            }
            let n = sqlx::query(
                "DELETE FROM events WHERE seq IN \
                 (SELECT seq FROM events WHERE seq <= $1 ORDER BY seq LIMIT $2)",
            )
            .bind(cut)
            .bind(PRUNE_BATCH)
            .execute(&mut *tx)
            .await
            .map_err(sql_err)?
            .rows_affected();
            tx.commit().await.map_err(sql_err)?;
            deleted += n;
            if n < PRUNE_BATCH as u64 {
                return Ok(deleted);
            }
            tokio::task::yield_now().await;
        }
    }

    pub(super) async fn renew_epoch(pool: &Pool) -> Result<String> {
        let epoch = Uuid::new_v4().simple().to_string();
        sqlx::query("UPDATE event_stream SET epoch = $1 WHERE id = 1")
            .bind(epoch.as_str())
            .execute(pool)
            .await
            .map_err(sql_err)?;
        Ok(epoch)
    }
}

#[async_trait]
impl EventRepository for SqlEventRepository {
    async fn append(&self, events: &[NewEvent]) -> Result<Vec<u64>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        on_engine!(self.pools, writer, append(events))
    }

    async fn since(
        &self,
        after: u64,
        topics: Option<&[String]>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        if topics.is_some_and(<[String]>::is_empty) {
            return Ok(Vec::new());
        }
        on_engine!(self.pools, reader, since(after, topics, limit))
    }

    async fn position(&self) -> Result<StreamPosition> {
        on_engine!(self.pools, reader, position())
    }

    async fn prune(&self, before: DateTime<Utc>, max_rows: u64) -> Result<u64> {
        on_engine!(self.pools, writer, prune(before, max_rows))
    }

    async fn renew_epoch(&self) -> Result<String> {
        on_engine!(self.pools, writer, renew_epoch())
    }

    fn watch(&self, wake: Arc<Notify>) {
        if let Pools::Postgres(pool) = &self.pools {
            self.listener.get_or_init(|| {
                ListenerTask::spawn(pool.clone(), NOTIFY_CHANNEL, move || wake.notify_one())
            });
        }
    }
}
