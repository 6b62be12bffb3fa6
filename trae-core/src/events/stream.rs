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
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::batch_writer::{BatchSink, BatchWriter};
use crate::events::envelope::Event;
use crate::events::log::{EventRepository, NewEvent, StoredEvent, StreamPosition};
use crate::events::topic::Topic;
use crate::identity::permission::{Authorizer, Gate};
use crate::{Clock, Error, Principal, Result};

/// Counter of events that could not be stored (queue full or a failed batch).
pub const EVENTS_DROPPED: &str = "trae_events_dropped_total";

/// The most events one read of the log returns, and the largest page.
pub const READ_BATCH: u32 = 500;
/// The page size when a reader names none.
pub const DEFAULT_PAGE: u32 = 100;
/// The longest epoch a reader may name (the log's are 32 characters).
const MAX_EPOCH_LEN: usize = 64;

/// What the follower fans out.
#[derive(Debug, Clone)]
enum Fanned {
    /// The next events of the log, in `seq` order: one read's worth, so a subscriber wakes
    /// once per read rather than once per event.
    Events(Arc<[Arc<StoredEvent>]>),
    /// The follower skipped the log up to this `seq` (it had no subscribers): a subscriber
    /// behind it reads the log.
    Skipped(u64),
}

/// What a principal may see of the stream: topics, and on the topics of owned things (tasks,
/// TDD runs), whose events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visibility {
    topics: BTreeSet<Topic>,
    /// Topics of which only the principal's own events are visible.
    own_only: BTreeSet<Topic>,
    /// The principal's user id (`None`: not a user, so owning nothing).
    user: Option<Uuid>,
}

impl Visibility {
    /// The topics visible.
    pub fn topics(&self) -> impl Iterator<Item = Topic> + '_ {
        self.topics.iter().copied()
    }

    /// Whether `event` is visible.
    pub fn shows(&self, event: &StoredEvent) -> bool {
        let Some(topic) = Topic::named(&event.topic) else {
            return false;
        };
        if !self.topics.contains(&topic) {
            return false;
        }
        !self.own_only.contains(&topic) || (self.user.is_some() && event.owner_id == self.user)
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

impl Resume {
    /// A resume point from a client's `since` and `epoch`; a negative `since` or an
    /// overlong epoch is a validation error.
    pub fn parse(since: Option<i64>, epoch: Option<String>) -> Result<Self> {
        let since = since
            .map(|n| u64::try_from(n).map_err(|_| Error::validation("since", "must be 0 or more")))
            .transpose()?;
        let epoch = epoch.map(|e| e.trim().to_owned()).filter(|e| !e.is_empty());
        if epoch.as_ref().is_some_and(|e| e.len() > MAX_EPOCH_LEN) {
            return Err(Error::validation(
                "epoch",
                format!("must be at most {MAX_EPOCH_LEN} characters"),
            ));
        }
        Ok(Self { since, epoch })
    }

    /// A resume point from an SSE `Last-Event-ID`: `<epoch>-<seq>` as [`Resume::event_id`]
    /// writes it, or a bare `seq`.
    pub fn from_event_id(id: &str) -> Result<Self> {
        let id = id.trim();
        let (epoch, seq) = match id.rsplit_once('-') {
            Some((epoch, seq)) => (Some(epoch.to_owned()), seq),
            None => (None, id),
        };
        let since = seq.parse::<i64>().map_err(|_| {
            Error::validation(
                "Last-Event-ID",
                format!("must be <epoch>-<seq> or <seq>, got {id:?}"),
            )
        })?;
        Self::parse(Some(since), epoch)
    }

    /// The SSE event id of the event `seq` under `epoch`.
    pub fn event_id(epoch: &str, seq: u64) -> String {
        format!("{epoch}-{seq}")
    }
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
    /// Reads of the log the fan-out holds for a slow subscriber before it must go back to
    /// the log.
    pub fan_out: usize,
    /// The shortest time between two reads of the log for the fan-out: under load, what
    /// was appended meanwhile goes to every subscriber together (one wake-up and one write
    /// per subscriber instead of several); after a quiet spell an event goes at once.
    pub fan_out_every: Duration,
}

impl EventStreamOptions {
    /// These options, keeping events as long and as many as `config` says.
    #[must_use]
    pub fn keeping(self, config: &crate::EventConfig) -> Self {
        Self {
            retention: chrono::Duration::hours(i64::from(config.retention_hours)),
            max_rows: u64::from(config.max_rows),
            ..self
        }
    }
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
            // Fewer wake-ups and writes per subscriber under load; measured in
            // docs/benchmarks.md.
            fan_out_every: Duration::from_millis(25),
        }
    }
}

/// The event stream of one process. Cheap to clone; [`EventStream::close`] (or dropping the
/// last clone) stops its tasks.
#[derive(Clone)]
pub struct EventStream {
    inner: Arc<Inner>,
    gate: Gate,
}

struct Inner {
    repo: Arc<dyn EventRepository>,
    clock: Arc<dyn Clock>,
    writer: BatchWriter<NewEvent>,
    fan_out: broadcast::Sender<Fanned>,
    wake: Arc<Notify>,
    stop: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
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
    /// Starts the writer and the follower on the current tokio runtime. Only the system
    /// principal may read until [`EventStream::with_authorizer`] names a role authority.
    pub async fn start(
        repo: Arc<dyn EventRepository>,
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
        repo.watch(Arc::clone(&wake));
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
            options.fan_out_every,
            start,
        ));
        Ok(Self {
            gate: Gate::default(),
            inner: Arc::new(Inner {
                repo,
                clock,
                writer,
                fan_out,
                wake,
                stop,
            }),
        })
    }

    /// This stream, deciding who reads which topic through `authorizer`.
    #[must_use]
    pub fn with_authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.gate = Gate::new(authorizer);
        self
    }

    /// Queues `event` (already published in-process) for the log under the topic its source
    /// names, owned by `owner`; never waits. An event whose source is no topic stays
    /// in-process only; false then.
    pub fn store(&self, event: &Event, owner: Option<Uuid>) -> bool {
        let Some(topic) = Topic::named(&event.source) else {
            return false;
        };
        self.inner.writer.send(NewEvent {
            id: event.id,
            ts: event.ts,
            topic: topic.as_str().to_owned(),
            source: event.source.clone(),
            kind: event.kind.clone(),
            owner_id: owner,
            payload: event.payload.clone(),
        });
        true
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
        let gate = &self.gate;
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
        let mut own_only = BTreeSet::new();
        for (topic, read_all) in [
            (Topic::Tasks, crate::tasks::task_queue::TASKS_READ_ALL),
            (Topic::Tdd, crate::tdd::run::AGENTS_ADMIN),
            (Topic::Solo, crate::tdd::run::AGENTS_ADMIN),
        ] {
            if visible.contains(&topic) && !gate.holds(principal, read_all).await? {
                own_only.insert(topic);
            }
        }
        Ok(Visibility {
            topics: visible,
            own_only,
            user: principal.user_id(),
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

    /// Up to `limit` events ([`DEFAULT_PAGE`] when `None`, at most [`READ_BATCH`]) after
    /// `resume` that `principal` may see of `topics`. The page covers up to `limit` events
    /// of the log, so it may hold fewer visible ones; `next` is where to go on.
    pub async fn page(
        &self,
        principal: &Principal,
        topics: &[Topic],
        resume: &Resume,
        limit: Option<i64>,
    ) -> Result<Read<EventPage>> {
        let limit = match limit {
            None => DEFAULT_PAGE,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| (1..=READ_BATCH).contains(n))
                .ok_or_else(|| {
                    Error::validation("limit", format!("must be between 1 and {READ_BATCH}"))
                })?,
        };
        let visibility = self.visibility(principal, topics).await?;
        let (position, since) = match self.resume_at(resume).await? {
            Read::Continued(at) => at,
            Read::Lost(lost) => return Ok(Read::Lost(lost)),
        };
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
            pending: VecDeque::new(),
            catching_up: true,
            replaying: true,
            live,
        }))
    }

    /// [`EventStream::subscribe`] for a reader that goes on whatever happened: when the
    /// history it asked for is gone, it follows from the end of the log, and is told what was
    /// lost.
    pub async fn follow(
        &self,
        principal: &Principal,
        topics: &[Topic],
        resume: &Resume,
    ) -> Result<(Option<HistoryLost>, Subscription)> {
        match self.subscribe(principal, topics, resume).await? {
            Read::Continued(sub) => Ok((None, sub)),
            Read::Lost(lost) => match self
                .subscribe(principal, topics, &Resume::default())
                .await?
            {
                Read::Continued(sub) => Ok((Some(lost), sub)),
                // Without `since` there is no history to lose.
                Read::Lost(again) => Err(Error::Unavailable(again.reason)),
            },
        }
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
    /// Events read or received and not yet taken, in `seq` order, hidden ones included.
    pending: VecDeque<Arc<StoredEvent>>,
    /// Reading the log rather than the fan-out (at the start, and after falling behind).
    catching_up: bool,
    /// Still replaying the history it resumed from (until the log is first exhausted).
    replaying: bool,
    live: broadcast::Receiver<Fanned>,
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

    /// The topics it shows.
    pub fn topics(&self) -> impl Iterator<Item = Topic> + '_ {
        self.visibility.topics()
    }

    /// Whether it is still replaying the history it resumed from (a reader may take that at
    /// its own pace; once live, it has to keep up).
    pub fn replaying(&self) -> bool {
        self.replaying
    }

    /// Shows only what `visibility` allows from now on (the reader's permissions changed).
    pub fn restrict(&mut self, visibility: Visibility) {
        self.visibility = visibility;
    }

    /// The next visible event; `Unavailable` when the stream closed.
    pub async fn next(&mut self) -> Result<Arc<StoredEvent>> {
        loop {
            if let Some(event) = self.take_visible() {
                return Ok(event);
            }
            self.fill().await?;
        }
    }

    /// The next visible events, at least one and at most `max` (`max` 0 counts as 1): all
    /// that are at hand once the first is, so a reader can send them together.
    pub async fn next_batch(&mut self, max: usize) -> Result<Vec<Arc<StoredEvent>>> {
        let first = self.next().await?;
        let mut batch = vec![first];
        while batch.len() < max {
            if let Some(event) = self.take_visible() {
                batch.push(event);
                continue;
            }
            // What the fan-out holds already, without waiting for more.
            match self.live.try_recv() {
                Ok(fanned) => self.accept(fanned),
                Err(broadcast::error::TryRecvError::Lagged(_)) => self.catching_up = true,
                Err(_) => break,
            }
            if self.catching_up && self.pending.is_empty() {
                break;
            }
        }
        Ok(batch)
    }

    /// The first visible event of `pending`, moving `last` over the hidden ones before it.
    fn take_visible(&mut self) -> Option<Arc<StoredEvent>> {
        while let Some(event) = self.pending.pop_front() {
            self.last = event.seq;
            if self.visibility.shows(&event) {
                return Some(event);
            }
        }
        None
    }

    /// The last `seq` read or received: the log continues after it.
    fn tail(&self) -> u64 {
        self.pending.back().map_or(self.last, |e| e.seq)
    }

    /// Adds to `pending`: a page of the log while catching up, else what the fan-out sends.
    async fn fill(&mut self) -> Result<()> {
        if self.catching_up {
            // Every topic, so the position advances over hidden events too and the fan-out
            // continues right after it.
            let page = self.repo.since(self.tail(), None, READ_BATCH).await?;
            if page.is_empty() {
                self.catching_up = false;
                self.replaying = false;
            } else {
                self.pending.extend(page.into_iter().map(Arc::new));
            }
            return Ok(());
        }
        match self.live.recv().await {
            Ok(fanned) => self.accept(fanned),
            Err(broadcast::error::RecvError::Lagged(_)) => self.catching_up = true,
            Err(broadcast::error::RecvError::Closed) => {
                return Err(Error::Unavailable("the event stream closed".into()));
            }
        }
        Ok(())
    }

    /// Takes what the fan-out sent: the events that continue `pending` without a gap; on a
    /// gap (events this subscription has not seen, or a skip past it), the log is read.
    fn accept(&mut self, fanned: Fanned) {
        match fanned {
            Fanned::Events(events) => {
                for event in events.iter() {
                    let tail = self.tail();
                    if event.seq <= tail {
                        continue;
                    }
                    if event.seq != tail + 1 {
                        self.catching_up = true;
                        return;
                    }
                    self.pending.push_back(Arc::clone(event));
                }
            }
            Fanned::Skipped(upto) => {
                if upto > self.tail() {
                    self.catching_up = true;
                }
            }
        }
    }
}

/// Reads what the log gains and fans it out, in `seq` order, until `stop`.
async fn follow(
    repo: Arc<dyn EventRepository>,
    fan_out: broadcast::Sender<Fanned>,
    wake: Arc<Notify>,
    stop: CancellationToken,
    poll_every: Duration,
    fan_out_every: Duration,
    mut last: u64,
) {
    let mut fanned_at: Option<tokio::time::Instant> = None;
    // Without subscribers the log is not read; `last` is then stale, and the first read after
    // one arrives starts from the end of the log, telling subscribers what it skipped (one
    // that is behind catches up from the log itself).
    let mut stale = false;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(poll_every) => {}
        }
        if fan_out.receiver_count() == 0 {
            stale = true;
            continue;
        }
        if let Some(at) = fanned_at {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep_until(at + fan_out_every) => {}
            }
        }
        if stale {
            match repo.position().await {
                Ok(position) => {
                    last = position.last_seq;
                    stale = false;
                    let _ = fan_out.send(Fanned::Skipped(last));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading the event log's position failed; retrying");
                    continue;
                }
            }
        }
        loop {
            match repo.since(last, None, READ_BATCH).await {
                Ok(events) => {
                    let full = events.len() == READ_BATCH as usize;
                    let Some(end) = events.last().map(|e| e.seq) else {
                        break;
                    };
                    last = end;
                    fanned_at = Some(tokio::time::Instant::now());
                    // No subscribers is not an error.
                    let _ =
                        fan_out.send(Fanned::Events(events.into_iter().map(Arc::new).collect()));
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
