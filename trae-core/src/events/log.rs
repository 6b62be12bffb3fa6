//! The persisted event stream (issue 21): events numbered by the database, in commit order,
//! under an epoch that tells a resuming reader whether the history it asks for still exists.
//!
//! [`EventRepository`] is the port; trae-storage implements it on SQLite and PostgreSQL. Its
//! promise is the one a resuming reader needs: `seq` grows by one per event, and an event
//! becomes visible only after every event with a lower `seq` is, so a reader that has seen
//! everything up to `N` and asks for what follows `N` never misses an event that commits
//! later with a smaller number. (PostgreSQL sequences do not give that: they are handed out
//! before commit, and concurrent transactions commit out of order.)

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::Result;

/// An event to append: the envelope without its `seq`, which the log assigns.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Unique id of the event.
    pub id: Uuid,
    /// When it was published.
    pub ts: DateTime<Utc>,
    /// The stream it belongs to (`tasks`, `health`, `alerts`, …); each has a read permission.
    pub topic: String,
    /// The part of the system that published it, e.g. "tasks".
    pub source: String,
    /// What happened, e.g. "task.completed".
    pub kind: String,
    /// The user the event belongs to, where one does (a user's own task events).
    pub owner_id: Option<Uuid>,
    /// Details, shaped by `kind`.
    pub payload: serde_json::Value,
}

/// An event as stored: the envelope with its position in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Position in the log: strictly increasing, without gaps at commit.
    pub seq: u64,
    /// Unique id of the event.
    pub id: Uuid,
    /// When it was published.
    pub ts: DateTime<Utc>,
    /// The stream it belongs to.
    pub topic: String,
    /// The part of the system that published it.
    pub source: String,
    /// What happened.
    pub kind: String,
    /// The user the event belongs to, if any.
    pub owner_id: Option<Uuid>,
    /// Details, shaped by `kind`.
    pub payload: serde_json::Value,
}

/// Where the log stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamPosition {
    /// The log's identity: made with the events table, new after a restore from backup. A
    /// `seq` means nothing under another epoch.
    pub epoch: String,
    /// The `seq` of the last event appended (0 before the first).
    pub last_seq: u64,
    /// The `seq` of the oldest event still kept, if any; older ones were pruned.
    pub oldest_seq: Option<u64>,
}

/// Storage of the event log.
#[async_trait]
pub trait EventRepository: Send + Sync {
    /// Appends `events` in order, numbered after every event committed before them, in one
    /// transaction; returns their `seq`s. Appends from several connections or processes are
    /// numbered in the order they commit.
    async fn append(&self, events: &[NewEvent]) -> Result<Vec<u64>>;

    /// Up to `limit` events with `seq` greater than `after`, oldest first, only of `topics`
    /// when given.
    async fn since(
        &self,
        after: u64,
        topics: Option<&[String]>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>>;

    /// The epoch, the last `seq` and the oldest kept.
    async fn position(&self) -> Result<StreamPosition>;

    /// Deletes events published before `before` and all but the newest `max_rows`, oldest
    /// first, in short transactions; returns how many went.
    async fn prune(&self, before: DateTime<Utc>, max_rows: u64) -> Result<u64>;

    /// Gives the log a new epoch (after a restore: `seq`s a client holds from before may now
    /// name other events); returns it.
    async fn renew_epoch(&self) -> Result<String>;

    /// Wakes `wake` whenever another process may have appended, where the database can say
    /// so (PostgreSQL's `NOTIFY`); elsewhere readers poll.
    fn watch(&self, wake: Arc<Notify>) {
        let _ = wake;
    }
}
