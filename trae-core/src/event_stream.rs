//! The event stream service (issue 21): events kept in the event log, read back as pages or
//! followed live, by topic, under the permission of each topic.
//!
//! Publishing never waits and never fails the operation that publishes: events queue for a
//! background writer that appends them in batches (a failed batch is counted in
//! [`EVENTS_DROPPED`] and logged). One follower task per process reads what the log gains
//! (woken by its own appends, by [`EventStream::wake`] when another node says it appended,
//! and every `poll_every` otherwise) and fans it out in `seq` order to this process's
//! subscribers. A subscriber first replays the log from where it resumes, then follows the
//! fan-out; the switch-over is by `seq`, so nothing is missed or repeated, and a subscriber
//! that falls behind the fan-out's buffer goes back to the log.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::batch_writer::{BatchSink, BatchWriter};
use crate::event_log::{EventRepository, NewEvent, StoredEvent, StreamPosition};
use crate::identity::permission::{Authorizer, Gate};
use crate::{Clock, Error, Principal, Result};

/// Counter of events that could not be stored (queue full or a failed batch).
pub const EVENTS_DROPPED: &str = "trae_events_dropped_total";

/// The most events one read of the log returns.
const READ_BATCH: u32 = 500;

/// What events are about; each topic is read under its own permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// Task transitions; a user sees their own tasks' events, `tasks:read_all` everyone's.
    Tasks,
    /// Component health transitions.
    Health,
    /// Alerts firing and resolving.
    Alerts,
    /// The external API registry.
    Apis,
    /// The audit log.
    Audit,
    /// Channels, personas, evidence and contradictions.
    Content,
    /// Backups taken and restored.
    Backups,
    /// The example pets API.
    Pets,
    /// Progress of `trae bench` runs.
    Bench,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Self; 9] = [
        Self::Tasks,
        Self::Health,
        Self::Alerts,
        Self::Apis,
        Self::Audit,
        Self::Content,
        Self::Backups,
        Self::Pets,
        Self::Bench,
    ];

    /// The topic's name, as stored and as clients name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tasks => "tasks",
            Self::Health => "health",
            Self::Alerts => "alerts",
            Self::Apis => "apis",
            Self::Audit => "audit",
            Self::Content => "content",
            Self::Backups => "backups",
            Self::Pets => "pets",
            Self::Bench => "bench",
        }
    }

    /// The topic named `name`, or a validation error listing the topics.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|t| t.as_str()).collect();
                Error::validation(
                    "topics",
                    format!("unknown topic {name:?}; topics are {}", names.join(", ")),
                )
            })
    }

    /// The permission that reads the topic (for tasks: a user's own tasks' events).
    pub fn permission(self) -> &'static str {
        match self {
            Self::Tasks => crate::tasks::task_queue::TASKS_READ,
            Self::Health | Self::Alerts => crate::monitoring::alert::METRICS_READ,
            Self::Apis => crate::apis::api_registry::APIS_READ,
            Self::Audit => "audit:read",
            Self::Content => crate::content::CONTENT_READ,
            Self::Backups => "backups:admin",
            Self::Pets => crate::pet::PETS_READ,
            Self::Bench => crate::tasks::task_queue::TASKS_ADMIN,
        }
    }
}

/// What a principal may see of the stream: topics, and whose task events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visibility {
    topics: BTreeSet<Topic>,
    /// `Some(user)` when only that user's task events are visible; `None` when all are.
    own_tasks: Option<Option<Uuid>>,
}

impl Visibility {
    /// The topics visible.
    pub fn topics(&self) -> impl Iterator<Item = Topic> + '_ {
        self.topics.iter().copied()
    }

    /// Whether `event` is visible.
    pub fn shows(&self, event: &StoredEvent) -> bool {
        let Ok(topic) = Topic::parse(&event.topic) else {
            return false;
        };
        if !self.topics.contains(&topic) {
            return false;
        }
        match (topic, self.own_tasks) {
            (Topic::Tasks, Some(user)) => user.is_some() && event.owner_id == user,
            _ => true,
        }
    }

    fn names(&self) -> Vec<String> {
        self.topics.iter().map(|t| t.as_str().to_owned()).collect()
    }
}

/// Where a reader resumes: after `since` in the log of `epoch`. Without `since` a reader
/// starts at the end (only what comes next); without `epoch` it trusts `since` as is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resume {
    /// The last `seq` the reader has.
    pub since: Option<u64>,
    /// The epoch that `seq` belongs to.
    pub epoch: Option<String>,
}

/// One page of the stream for a reader.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    /// The log's epoch.
    pub epoch: String,
    /// The events after the reader's position that it may see, oldest first.
    pub events: Vec<StoredEvent>,
    /// Where to resume next: the last `seq` this page covered, hidden events included.
    pub next: u64,
}

/// Why a reader cannot resume where it asked: its history is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryLost {
    /// Where the log stands now; resume from `last_seq` of `epoch` (or page from
    /// `oldest_seq`).
    pub position: StreamPosition,
    /// Why: another epoch, pruned, or a position the log never reached.
    pub reason: String,
}

/// A page, or the news that the history asked for is gone.
#[derive(Debug, Clone, PartialEq)]
pub enum Read<T> {
    /// The reader's history is there; here is what follows.
    Continued(T),
    /// The reader's history is gone; it must start again from the current position.
    Lost(HistoryLost),
}

/// Settings of an [`EventStream`].
#[derive(Debug, Clone, Copy)]
pub struct EventStreamOptions {
    /// How often queued events are appended.
    pub flush_every: Duration,
    /// Events that may wait for the writer before new ones are dropped.
    pub buffer: usize,
    /// How long events are kept.
    pub retention: chrono::Duration,
    /// The most events kept.
    pub max_rows: u64,
    /// How often the follower looks at the log when nothing woke it (another process's
    /// appends on SQLite are found this way).
    pub poll_every: Duration,
    /// Events the fan-out holds for a slow subscriber before it must go back to the log.
    pub fan_out: usize,
}

impl Default for EventStreamOptions {
    fn default() -> Self {
        Self {
            flush_every: Duration::from_millis(10),
            buffer: 100_000,
            retention: chrono::Duration::hours(72),
            max_rows: 1_000_000,
            poll_every: Duration::from_millis(250),
            fan_out: 4_096,
        }
    }
}

/// The event stream of one process. Cheap to clone; [`EventStream::close`] stops its tasks.
#[derive(Clone)]
pub struct EventStream {
    inner: Arc<Inner>,
}

struct Inner {
    repo: Arc<dyn EventRepository>,
    gate: Gate,
    clock: Arc<dyn Clock>,
    writer: BatchWriter<NewEvent>,
    fan_out: broadcast::Sender<Arc<StoredEvent>>,
    wake: Arc<Notify>,
    stop: CancellationToken,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("subscribers", &self.inner.fan_out.receiver_count())
            .finish_non_exhaustive()
    }
}

/// Appends for the writer and wakes the follower after each commit.
struct LogSink {
    repo: Arc<dyn EventRepository>,
    wake: Arc<Notify>,
    retention: chrono::Duration,
    max_rows: u64,
}

#[async_trait]
impl BatchSink<NewEvent> for LogSink {
    async fn append(&self, batch: &[NewEvent]) -> Result<()> {
        self.repo.append(batch).await?;
        self.wake.notify_one();
        Ok(())
    }

    async fn trim(&self, now: DateTime<Utc>) -> Result<u64> {
        self.repo.prune(now - self.retention, self.max_rows).await
    }
}

impl EventStream {
    /// Starts the writer and the follower on the current tokio runtime; reads are decided by
    /// `authorizer`.
    pub async fn start(
        repo: Arc<dyn EventRepository>,
        authorizer: Arc<dyn Authorizer>,
        clock: Arc<dyn Clock>,
        options: EventStreamOptions,
    ) -> Result<Self> {
        let wake = Arc::new(Notify::new());
        let sink = Arc::new(LogSink {
            repo: Arc::clone(&repo),
            wake: Arc::clone(&wake),
            retention: options.retention,
            max_rows: options.max_rows,
        });
        let writer = BatchWriter::start(
            sink,
            Arc::clone(&clock),
            options.flush_every,
            options.buffer,
            EVENTS_DROPPED,
        );
        let (fan_out, _) = broadcast::channel(options.fan_out.max(1));
        let stop = CancellationToken::new();
        // The follower starts at the end of the log: subscribers replay the past themselves.
        let start = repo.position().await?.last_seq;
        tokio::spawn(follow(
            Arc::clone(&repo),
            fan_out.clone(),
            Arc::clone(&wake),
            stop.clone(),
            options.poll_every,
            start,
        ));
        Ok(Self {
            inner: Arc::new(Inner {
                repo,
                gate: Gate::new(authorizer),
                clock,
                writer,
                fan_out,
                wake,
                stop,
            }),
        })
    }

    /// Queues an event on `topic`, owned by `owner` where it belongs to a user; never waits.
    pub fn publish(
        &self,
        topic: Topic,
        source: &str,
        kind: &str,
        owner: Option<Uuid>,
        payload: serde_json::Value,
    ) {
        self.inner.writer.send(NewEvent {
            id: Uuid::now_v7(),
            ts: self.inner.clock.now(),
            topic: topic.as_str().to_owned(),
            source: source.to_owned(),
            kind: kind.to_owned(),
            owner_id: owner,
            payload,
        });
    }

    /// Appends everything queued so far and lets the follower see it.
    pub async fn flush(&self) {
        self.inner.writer.flush().await;
    }

    /// Tells the follower the log has grown (another node's NOTIFY).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Stops the follower; live subscriptions end.
    pub fn close(&self) {
        self.inner.stop.cancel();
    }

    /// Where the log stands.
    pub async fn position(&self) -> Result<StreamPosition> {
        self.inner.repo.position().await
    }

    /// What `principal` may see of `topics` (all it may read when empty); `Forbidden` names
    /// a topic asked for that it may not read, or says it may read none.
    pub async fn visibility(&self, principal: &Principal, topics: &[Topic]) -> Result<Visibility> {
        let gate = &self.inner.gate;
        let mut visible = BTreeSet::new();
        if topics.is_empty() {
            for topic in Topic::ALL {
                if gate.holds(principal, topic.permission()).await? {
                    visible.insert(topic);
                }
            }
            // Following a stream it can see nothing of would wait forever for nothing.
            if visible.is_empty() {
                return Err(Error::Forbidden(
                    "no topic of the event stream is readable with these permissions".into(),
                ));
            }
        } else {
            for &topic in topics {
                gate.check(principal, topic.permission()).await?;
                visible.insert(topic);
            }
        }
        let own_tasks = if visible.contains(&Topic::Tasks)
            && !gate
                .holds(principal, crate::tasks::task_queue::TASKS_READ_ALL)
                .await?
        {
            Some(principal.user_id())
        } else {
            None
        };
        Ok(Visibility {
            topics: visible,
            own_tasks,
        })
    }

    /// Checks `resume` against the log: the position a reader continues after, or why it
    /// cannot.
    async fn resume_at(&self, resume: &Resume) -> Result<Read<(StreamPosition, u64)>> {
        let position = self.inner.repo.position().await?;
        let lost = |reason: String| {
            Ok(Read::Lost(HistoryLost {
                position: position.clone(),
                reason,
            }))
        };
        if let Some(epoch) = &resume.epoch
            && *epoch != position.epoch
        {
            return lost(format!(
                "epoch {epoch} is not the log's (now {}): the log was restored or replaced",
                position.epoch
            ));
        }
        let Some(since) = resume.since else {
            let at = position.last_seq;
            return Ok(Read::Continued((position, at)));
        };
        if since > position.last_seq {
            return lost(format!(
                "seq {since} is past the log's last ({})",
                position.last_seq
            ));
        }
        // Pruned history: the next event the reader needs is older than the oldest kept.
        let next_needed = since + 1;
        let pruned = match position.oldest_seq {
            Some(oldest) => next_needed < oldest,
            None => since < position.last_seq,
        };
        if pruned {
            return lost(format!(
                "events after seq {since} were pruned (retention or row cap)"
            ));
        }
        Ok(Read::Continued((position, since)))
    }

    /// Up to `limit` events after `resume` that `principal` may see of `topics`.
    pub async fn page(
        &self,
        principal: &Principal,
        topics: &[Topic],
        resume: &Resume,
        limit: u32,
    ) -> Result<Read<EventPage>> {
        let visibility = self.visibility(principal, topics).await?;
        let (position, since) = match self.resume_at(resume).await? {
            Read::Continued(at) => at,
            Read::Lost(lost) => return Ok(Read::Lost(lost)),
        };
        let limit = limit.clamp(1, READ_BATCH);
        let names = visibility.names();
        let rows = self.inner.repo.since(since, Some(&names), limit).await?;
        // A short page reached the end of what had committed when the position was read.
        let next = match rows.last() {
            Some(last) if rows.len() == limit as usize => last.seq,
            Some(last) => last.seq.max(position.last_seq),
            None => since.max(position.last_seq),
        };
        let events = rows.into_iter().filter(|e| visibility.shows(e)).collect();
        Ok(Read::Continued(EventPage {
            epoch: position.epoch,
            events,
            next,
        }))
    }

    /// Follows the stream for `principal`: what it may see of `topics`, from `resume` on.
    pub async fn subscribe(
        &self,
        principal: &Principal,
        topics: &[Topic],
        resume: &Resume,
    ) -> Result<Read<Subscription>> {
        let visibility = self.visibility(principal, topics).await?;
        // Listen before reading the position, so nothing published in between is missed.
        let live = self.inner.fan_out.subscribe();
        let (position, since) = match self.resume_at(resume).await? {
            Read::Continued(at) => at,
            Read::Lost(lost) => return Ok(Read::Lost(lost)),
        };
        Ok(Read::Continued(Subscription {
            repo: Arc::clone(&self.inner.repo),
            visibility,
            epoch: position.epoch,
            last: since,
            backlog: VecDeque::new(),
            catching_up: true,
            live,
        }))
    }
}

/// A reader following the stream: [`Subscription::next`] yields each visible event once, in
/// `seq` order.
pub struct Subscription {
    repo: Arc<dyn EventRepository>,
    visibility: Visibility,
    epoch: String,
    /// The last `seq` covered, hidden events included.
    last: u64,
    backlog: VecDeque<StoredEvent>,
    /// Reading the log rather than the fan-out (at the start, and after falling behind).
    catching_up: bool,
    live: broadcast::Receiver<Arc<StoredEvent>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("epoch", &self.epoch)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The log's epoch.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The last `seq` this subscription has covered: resume after it.
    pub fn last_seq(&self) -> u64 {
        self.last
    }

    /// The next visible event; `Unavailable` when the stream closed.
    pub async fn next(&mut self) -> Result<Arc<StoredEvent>> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                self.last = event.seq;
                if self.visibility.shows(&event) {
                    return Ok(Arc::new(event));
                }
                continue;
            }
            if self.catching_up {
                // Every topic, so `last` advances over hidden events too and the fan-out
                // continues right after it.
                let page = self.repo.since(self.last, None, READ_BATCH).await?;
                if page.is_empty() {
                    self.catching_up = false;
                } else {
                    self.backlog.extend(page);
                }
                continue;
            }
            match self.live.recv().await {
                Ok(event) if event.seq <= self.last => {}
                Ok(event) if event.seq == self.last + 1 => {
                    self.last = event.seq;
                    if self.visibility.shows(&event) {
                        return Ok(event);
                    }
                }
                // Ahead of what this subscription has: the log has what lies between.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => self.catching_up = true,
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(Error::Unavailable("the event stream closed".into()));
                }
            }
        }
    }
}

/// Reads what the log gains and fans it out, in `seq` order, until `stop`.
async fn follow(
    repo: Arc<dyn EventRepository>,
    fan_out: broadcast::Sender<Arc<StoredEvent>>,
    wake: Arc<Notify>,
    stop: CancellationToken,
    poll_every: Duration,
    mut last: u64,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(poll_every) => {}
        }
        loop {
            match repo.since(last, None, READ_BATCH).await {
                Ok(events) => {
                    let full = events.len() == READ_BATCH as usize;
                    for event in events {
                        last = event.seq;
                        // No subscribers is not an error.
                        let _ = fan_out.send(Arc::new(event));
                    }
                    if !full {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading the event log failed; retrying");
                    break;
                }
            }
        }
    }
}
