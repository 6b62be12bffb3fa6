//! `/api/events`: the event stream as JSON pages and as server-sent events. The WebSocket
//! at `/ws/events` ([`crate::event_socket`]) serves the same stream; the library decides who
//! sees which topic.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use poem::web::sse::Event as SseEvent;
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::{EventStream as SsePayload, Json};
use poem_openapi::types::ToJSON;
use poem_openapi::{ApiResponse, Object, OpenApi, Union};
use trae_core::{EventStream, HistoryLost, Read, Resume, StoredEvent, StreamPosition, Topic};
use uuid::Uuid;

use super::ApiTags;
use crate::ApiError;
use crate::credentials::Auth;
use crate::error::ErrorDetail;

/// How often an idle SSE response sends a comment, so proxies keep it open.
const SSE_KEEP_ALIVE: Duration = Duration::from_secs(20);

/// One event of the stream.
#[derive(Debug, Clone, Object)]
#[oai(rename = "StreamEvent")]
pub struct EventBody {
    /// Position in the log: strictly increasing; resume after it.
    pub seq: u64,
    /// Unique id of the event.
    pub id: Uuid,
    /// When it was published.
    pub ts: DateTime<Utc>,
    /// The topic (`tasks`, `health`, `alerts`, `apis`, `audit`, `content`, `backups`, `pets`,
    /// `bench`, `system`).
    pub topic: String,
    /// The part of the system that published it.
    pub source: String,
    /// What happened, e.g. `task.completed`.
    pub kind: String,
    /// The user the event belongs to (a task's owner), if any.
    pub owner_id: Option<Uuid>,
    /// Details, shaped by `kind`.
    pub payload: serde_json::Value,
}

impl From<StoredEvent> for EventBody {
    fn from(e: StoredEvent) -> Self {
        Self {
            seq: e.seq,
            id: e.id,
            ts: e.ts,
            topic: e.topic,
            source: e.source,
            kind: e.kind,
            owner_id: e.owner_id,
            payload: e.payload,
        }
    }
}

/// Where the log stands.
#[derive(Debug, Clone, Object)]
#[oai(rename = "StreamPosition")]
pub struct PositionBody {
    /// The log's identity; `seq`s of another epoch mean nothing here.
    pub epoch: String,
    /// The last `seq` appended (0 before the first event).
    pub last_seq: u64,
    /// The oldest `seq` still kept, if any.
    pub oldest_seq: Option<u64>,
}

impl From<StreamPosition> for PositionBody {
    fn from(p: StreamPosition) -> Self {
        Self {
            epoch: p.epoch,
            last_seq: p.last_seq,
            oldest_seq: p.oldest_seq,
        }
    }
}

/// One page of events.
#[derive(Debug, Clone, Object)]
#[oai(rename = "EventPage")]
pub struct EventPageBody {
    /// The log's epoch: send it back with `since`.
    pub epoch: String,
    /// The events after `since` the caller may see, oldest first.
    pub events: Vec<EventBody>,
    /// Where to continue: the next page's `since` (it may pass events the caller cannot see).
    pub next: u64,
}

/// The history asked for is gone: resume from the current position.
#[derive(Debug, Clone, Object)]
#[oai(rename = "HistoryLost")]
pub struct HistoryLostBody {
    /// `history_lost` and why.
    pub error: ErrorDetail,
    /// Where the log stands now.
    pub position: PositionBody,
}

impl From<HistoryLost> for HistoryLostBody {
    fn from(lost: HistoryLost) -> Self {
        Self {
            error: ErrorDetail {
                code: "history_lost".to_owned(),
                message: lost.reason,
            },
            position: lost.position.into(),
        }
    }
}

/// A page, or the news that its history is gone.
#[derive(Debug, ApiResponse)]
pub enum PageResponse {
    /// The events after `since`.
    #[oai(status = 200)]
    Page(Json<EventPageBody>),
    /// `epoch` is not the log's (it was restored), or the events after `since` were pruned,
    /// or `since` is past the end: start again from `position`.
    #[oai(status = 410)]
    Lost(Json<HistoryLostBody>),
}

/// What an SSE response carries: events (SSE type `event`, id `<epoch>-<seq>`), and at most
/// once, first, the news that the history asked for is gone (SSE type `history_lost`), after
/// which the stream follows from the current end.
#[derive(Debug, Clone, Union)]
#[oai(rename = "StreamItem")]
pub enum StreamItem {
    /// An event.
    Event(EventBody),
    /// The history asked for is gone.
    Lost(HistoryLostBody),
}

/// The `/api/events` router.
#[derive(Debug, Clone)]
pub struct EventsApi {
    events: Option<EventStream>,
}

impl EventsApi {
    /// A router over the event stream (`None`: the database has no event log).
    pub fn new(events: Option<EventStream>) -> Self {
        Self { events }
    }

    fn stream(&self) -> Result<&EventStream, ApiError> {
        self.events.as_ref().ok_or_else(|| {
            trae_core::Error::Unavailable(
                "this database has no event log yet: apply the migrations".into(),
            )
            .into()
        })
    }
}

#[OpenApi(tag = "ApiTags::Events")]
impl EventsApi {
    /// Read a page of events
    ///
    /// Events after `since` (of `epoch`) on `topics` (comma-separated; all the caller may
    /// read when omitted), oldest first. Without `since`, the page is empty and `next` is the
    /// end of the log: poll from there. Each topic needs its permission (docs/events.md);
    /// without `tasks:read_all` a caller sees its own tasks' events only.
    #[oai(path = "/api/events", method = "get", operation_id = "list_events")]
    async fn page(
        &self,
        auth: Auth,
        topics: Query<Option<String>>,
        since: Query<Option<i64>>,
        epoch: Query<Option<String>>,
        limit: Query<Option<i64>>,
    ) -> Result<PageResponse, ApiError> {
        let topics = Topic::parse_list(topics.0.as_deref())?;
        let resume = Resume::parse(since.0, epoch.0)?;
        let read = self
            .stream()?
            .page(auth.principal(), &topics, &resume, limit.0)
            .await?;
        Ok(match read {
            Read::Continued(page) => PageResponse::Page(Json(EventPageBody {
                epoch: page.epoch,
                events: page.events.into_iter().map(EventBody::from).collect(),
                next: page.next,
            })),
            Read::Lost(lost) => PageResponse::Lost(Json(lost.into())),
        })
    }

    /// Follow events as server-sent events
    ///
    /// `text/event-stream` of the events on `topics` (comma-separated; all the caller may
    /// read when omitted), each with SSE id `<epoch>-<seq>`. Resumes after `Last-Event-ID`
    /// (sent by `EventSource` on reconnecting), else after `since` of `epoch`, else from now.
    /// When that history is gone, the first SSE event is `history_lost` (with the position)
    /// and the stream follows from the current end. A comment every 20 s keeps it open.
    #[oai(
        path = "/api/events/stream",
        method = "get",
        operation_id = "stream_events"
    )]
    async fn stream_events(
        &self,
        auth: Auth,
        topics: Query<Option<String>>,
        since: Query<Option<i64>>,
        epoch: Query<Option<String>>,
        #[oai(name = "Last-Event-ID")] last_event_id: Header<Option<String>>,
    ) -> Result<SsePayload<futures_util::stream::BoxStream<'static, StreamItem>>, ApiError> {
        let topics = Topic::parse_list(topics.0.as_deref())?;
        let resume = match last_event_id.0.as_deref() {
            Some(id) if !id.trim().is_empty() => Resume::from_event_id(id)?,
            _ => Resume::parse(since.0, epoch.0)?,
        };
        let (lost, subscription) = self
            .stream()?
            .follow(auth.principal(), &topics, &resume)
            .await?;
        let epoch = subscription.epoch().to_owned();
        let events = futures_util::stream::unfold(subscription, |mut sub| async move {
            // A failed read ends the response; the client reconnects with Last-Event-ID.
            let event = sub.next().await.ok()?;
            Some((
                StreamItem::Event(EventBody::from(std::sync::Arc::unwrap_or_clone(event))),
                sub,
            ))
        });
        let head = futures_util::stream::iter(lost.map(|l| StreamItem::Lost(l.into())));
        Ok(SsePayload::new(head.chain(events).boxed())
            .keep_alive(SSE_KEEP_ALIVE)
            .to_event(move |item| sse_event(&epoch, &item)))
    }
}

/// The SSE form of `item`: JSON data, a type, and for events the resumable id.
fn sse_event(epoch: &str, item: &StreamItem) -> SseEvent {
    let data = match item {
        StreamItem::Event(e) => e.to_json_string(),
        StreamItem::Lost(l) => l.to_json_string(),
    };
    match item {
        StreamItem::Event(e) => SseEvent::message(data)
            .event_type("event")
            .id(Resume::event_id(epoch, e.seq)),
        StreamItem::Lost(_) => SseEvent::message(data).event_type("history_lost"),
    }
}
