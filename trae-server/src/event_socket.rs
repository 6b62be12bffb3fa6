//! `GET /ws/events`: the event stream over a WebSocket.
//!
//! The token never travels in the URL (URLs end up in logs): the first frame must be
//! `{"type":"auth","token":"…"}` (an access token or an API key) within 5 s. Then
//! `{"type":"subscribe","topics":[…],"since":N,"epoch":"…"}` replays from the log and follows
//! live; a later `subscribe` replaces it, a later `auth` refreshes the credential. The server
//! sends `event`, `subscribed`, `history_lost`, `error` and, every 20 s, `ping` frames. The
//! library decides who reads which topic; this module speaks the protocol. Close codes are in
//! [`close`] and docs/events.md.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use poem::web::websocket::{CloseCode, Message, WebSocket, WebSocketConfig, WebSocketStream};
use poem::web::{Data, RemoteAddr};
use poem::{IntoResponse, handler};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use trae_auth::{Credential, Identity};
use trae_core::{
    Error, EventStream, HistoryLost, Principal, Read, Resume, StoredEvent, StreamPosition,
    Subscription, Topic,
};

/// The close codes of `/ws/events` (besides 1001, server going away, and 1011, the stream
/// failed).
pub mod close {
    /// A frame that is not JSON, or not a frame this protocol knows.
    pub const MALFORMED: u16 = 4400;
    /// Not authenticated: the first frame was not `auth`, the credential is invalid or
    /// expired, or the session ended (logout, deactivation, key revoked).
    pub const UNAUTHENTICATED: u16 = 4401;
    /// No `auth` frame within the time allowed.
    pub const AUTH_TIMEOUT: u16 = 4408;
    /// The client fell behind its buffer; the reason says `resume after seq N`.
    pub const SLOW_CONSUMER: u16 = 4409;
}

/// Settings of the socket endpoint.
#[derive(Debug, Clone, Copy)]
pub struct SocketOptions {
    /// How long a new socket has to send its `auth` frame.
    pub auth_within: Duration,
    /// How often the server sends `{"type":"ping"}`.
    pub ping_every: Duration,
    /// How often the credential is checked again (a revoked session closes the socket).
    pub recheck_every: Duration,
    /// Frames waiting for a slow client before it is closed with [`close::SLOW_CONSUMER`].
    pub buffer: usize,
}

impl SocketOptions {
    /// The defaults, rechecking credentials at half the session cache's lifetime (between
    /// 1 and 30 s), so a session revoked on this node closes its sockets within
    /// `TRAE_SESSION_CACHE_SECS`.
    pub fn for_session_cache(session_cache_secs: u32) -> Self {
        Self {
            auth_within: Duration::from_secs(5),
            ping_every: Duration::from_secs(20),
            recheck_every: Duration::from_millis(u64::from(session_cache_secs) * 500)
                .clamp(Duration::from_secs(1), Duration::from_secs(30)),
            buffer: 1024,
        }
    }
}

/// What the socket endpoint needs: the stream, identity for credentials, the server's
/// shutdown, and the frames of recent events.
#[derive(Clone)]
pub struct EventSocket {
    events: Option<EventStream>,
    identity: Arc<Identity>,
    options: SocketOptions,
    shutdown: CancellationToken,
    frames: Arc<FrameCache>,
}

/// Recent events' frames, so an event followed by many sockets is encoded once (every
/// socket gets the same bytes: nothing in a frame depends on who reads it).
struct FrameCache {
    slots: Vec<std::sync::Mutex<Option<CachedFrame>>>,
}

/// An event's `seq` and `id` (a restored log reuses `seq`s), and its frame.
type CachedFrame = (u64, uuid::Uuid, Arc<str>);

impl FrameCache {
    /// Frames kept: more than the events one fan-out burst holds in flight.
    const SLOTS: u64 = 1024;

    fn new() -> Self {
        Self {
            slots: (0..Self::SLOTS)
                .map(|_| std::sync::Mutex::new(None))
                .collect(),
        }
    }

    /// The `event` frame of `event`, encoded on first use.
    fn frame(&self, event: &StoredEvent) -> Arc<str> {
        let slot = &self.slots[usize::try_from(event.seq % Self::SLOTS).unwrap_or(0)];
        let mut slot = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((seq, id, text)) = slot.as_ref()
            && *seq == event.seq
            && *id == event.id
        {
            return Arc::clone(text);
        }
        let text: Arc<str> = ServerFrame::Event(event).text().into();
        *slot = Some((event.seq, event.id, Arc::clone(&text)));
        text
    }
}

impl std::fmt::Debug for EventSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSocket")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl EventSocket {
    /// The endpoint's state; sockets close with 1001 when `shutdown` is cancelled.
    pub fn new(
        events: Option<EventStream>,
        identity: Arc<Identity>,
        options: SocketOptions,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            events,
            identity,
            options,
            shutdown,
            frames: Arc::new(FrameCache::new()),
        }
    }
}

/// Upgrades `GET /ws/events` and serves the socket.
#[handler]
pub(crate) fn events_socket(
    ws: WebSocket,
    Data(socket): Data<&EventSocket>,
    remote: &RemoteAddr,
) -> impl IntoResponse {
    let socket = socket.clone();
    let remote = remote.to_string();
    // Small buffers: an idle socket holds what it is sent, not 128 KiB each way, and a
    // client's frames (auth, subscribe) are tiny.
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024));
    ws.config(config).on_upgrade(move |stream| async move {
        tracing::debug!(remote, "event socket opened");
        serve(stream, socket).await;
        tracing::debug!(remote, "event socket closed");
    })
}

/// A frame from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientFrame {
    Auth {
        token: String,
    },
    Subscribe {
        #[serde(default)]
        topics: Vec<String>,
        #[serde(default)]
        since: Option<i64>,
        #[serde(default)]
        epoch: Option<String>,
    },
    Unsubscribe,
    Pong,
}

/// A frame to the client.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerFrame<'a> {
    Authenticated {
        user_id: Option<uuid::Uuid>,
    },
    Subscribed {
        epoch: &'a str,
        since: u64,
        topics: Vec<&'static str>,
    },
    Event(&'a StoredEvent),
    HistoryLost {
        reason: &'a str,
        position: &'a StreamPosition,
    },
    Error {
        code: &'a str,
        message: &'a str,
    },
    Ping,
}

impl ServerFrame<'_> {
    fn text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"type":"ping"}"#.to_owned())
    }
}

/// What goes to the writer, in order.
enum Out {
    /// Frames written together (one write where they fit), each holding a permit of the
    /// socket's buffer until it is written.
    Frames(Vec<Arc<str>>),
    Close(u16, String),
}

/// Why the socket ends.
struct Closing {
    code: u16,
    reason: String,
}

impl Closing {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

/// How long a replay may wait for a client to read before it counts as a slow consumer.
const REPLAY_STALL: Duration = Duration::from_secs(10);

/// The most events sent to the writer at once.
const EVENT_BATCH: usize = 64;

/// The most frames written before a flush.
const WRITE_BATCH: usize = 256;

/// How long the goodbye (queued frames, then the close frame) may take.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

async fn serve(stream: WebSocketStream, socket: EventSocket) {
    let (mut sink, mut incoming) = stream.split();
    // The buffer is counted in frames: each queued frame holds a permit until it is written.
    let room = Arc::new(Semaphore::new(socket.options.buffer.max(1)));
    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    let freed = Arc::clone(&room);
    let writer = tokio::spawn(async move {
        'out: while let Some(first) = rx.recv().await {
            // What queued meanwhile goes out with the same flush (one write where it fits).
            let (mut next, mut written, mut close) = (Some(first), 0usize, None);
            while let Some(out) = next.take() {
                match out {
                    Out::Frames(frames) => {
                        for text in frames {
                            if sink.feed(Message::Text(text.to_string())).await.is_err() {
                                break 'out;
                            }
                            written += 1;
                        }
                    }
                    Out::Close(code, reason) => close = Some((code, reason)),
                }
                if close.is_none() && written < WRITE_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            if sink.flush().await.is_err() {
                break;
            }
            freed.add_permits(written);
            if let Some((code, reason)) = close {
                let _ = sink
                    .send(Message::Close(Some((CloseCode::from(code), reason))))
                    .await;
                break;
            }
        }
        // Nothing will free room any more: a replay waiting for it ends now (1001) instead
        // of holding the session for REPLAY_STALL after the client is gone.
        freed.close();
        let _ = sink.close().await;
    });
    let mut session = Session {
        socket: &socket,
        tx: &tx,
        room: &room,
        principal: None,
        token: None,
        subscription: None,
        topics: Vec::new(),
        delivered: 0,
    };
    let closing = session.run(&mut incoming).await;
    drop(session);
    let goodbye = async {
        if let Some(closing) = closing {
            let _ = tx.send(Out::Close(closing.code, closing.reason));
        }
        drop(tx);
        let _ = writer.await;
    };
    // A client that reads nothing never takes its goodbye; it is dropped after the wait.
    let _ = tokio::time::timeout(CLOSE_WITHIN, goodbye).await;
}

struct Session<'a> {
    socket: &'a EventSocket,
    tx: &'a mpsc::UnboundedSender<Out>,
    room: &'a Semaphore,
    principal: Option<Principal>,
    token: Option<String>,
    subscription: Option<Subscription>,
    topics: Vec<Topic>,
    /// The `seq` of the last event queued to the client (or where its subscription began).
    delivered: u64,
}

impl Session<'_> {
    /// Serves frames until the socket should close; `None` when the client went away.
    async fn run(
        &mut self,
        incoming: &mut futures_util::stream::SplitStream<WebSocketStream>,
    ) -> Option<Closing> {
        let options = self.socket.options;
        // The first frame: `auth`, in time.
        let first = tokio::select! {
            () = self.socket.shutdown.cancelled() => {
                return Some(Closing::new(1001, "the server is shutting down"));
            }
            next = tokio::time::timeout(options.auth_within, incoming.next()) => next,
        };
        let frame = match first {
            Err(_) => {
                return Some(Closing::new(
                    close::AUTH_TIMEOUT,
                    "no auth frame in time: send {\"type\":\"auth\",\"token\":...} first",
                ));
            }
            Ok(None | Some(Err(_))) => return None,
            Ok(Some(Ok(message))) => message,
        };
        match parse(frame) {
            Ok(Some(ClientFrame::Auth { token })) => {
                if let Err(closing) = self.authenticate(token).await {
                    return Some(closing);
                }
            }
            Ok(Some(_)) => {
                return Some(Closing::new(
                    close::UNAUTHENTICATED,
                    "the first frame must be {\"type\":\"auth\",\"token\":...}",
                ));
            }
            Ok(None) => return None,
            Err(closing) => return Some(closing),
        }
        let mut ping = tokio::time::interval(options.ping_every);
        ping.reset();
        let mut recheck = tokio::time::interval(options.recheck_every);
        recheck.reset();
        loop {
            tokio::select! {
                () = self.socket.shutdown.cancelled() => {
                    return Some(Closing::new(1001, "the server is shutting down"));
                }
                message = incoming.next() => {
                    let Some(Ok(message)) = message else { return None };
                    match parse(message) {
                        Ok(Some(frame)) => {
                            if let Err(closing) = self.handle(frame).await {
                                return Some(closing);
                            }
                        }
                        Ok(None) => return None,
                        Err(closing) => return Some(closing),
                    }
                }
                events = next_events(self.subscription.as_mut(), EVENT_BATCH.min(options.buffer.max(1))) => {
                    match events {
                        Ok(events) => {
                            if let Err(closing) = self.send_events(&events).await {
                                return Some(closing);
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "an event socket's stream failed");
                            return Some(Closing::new(1011, "the event stream failed; resume later"));
                        }
                    }
                }
                _ = ping.tick() => {
                    if let Err(closing) = self.send(&ServerFrame::Ping) {
                        return Some(closing);
                    }
                }
                _ = recheck.tick() => {
                    if let Err(closing) = self.recheck().await {
                        return Some(closing);
                    }
                }
            }
        }
    }

    /// Queues a frame; `Err` with the slow-consumer close when the buffer is full.
    fn send(&self, frame: &ServerFrame<'_>) -> Result<(), Closing> {
        self.queue(vec![frame.text().into()])
    }

    /// Queues `frames` if the buffer has room for them all.
    fn queue(&self, frames: Vec<Arc<str>>) -> Result<(), Closing> {
        match self.room.try_acquire_many(permits(&frames)) {
            Ok(permits) => permits.forget(),
            Err(_) => return Err(self.slow_consumer()),
        }
        self.tx
            .send(Out::Frames(frames))
            .map_err(|_| Closing::new(1001, "the connection is closing"))
    }

    fn slow_consumer(&self) -> Closing {
        Closing::new(
            close::SLOW_CONSUMER,
            format!("slow consumer; resume after seq {}", self.delivered),
        )
    }

    /// Queues events: while the subscription replays history, waiting for room (the client
    /// reads a backlog at its own pace, within [`REPLAY_STALL`]); once live, closing a client
    /// whose buffer is full.
    async fn send_events(&mut self, events: &[Arc<StoredEvent>]) -> Result<(), Closing> {
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(());
        };
        let frames: Vec<Arc<str>> = events.iter().map(|e| self.socket.frames.frame(e)).collect();
        if self
            .subscription
            .as_ref()
            .is_some_and(Subscription::replaying)
        {
            match tokio::time::timeout(REPLAY_STALL, self.room.acquire_many(permits(&frames))).await
            {
                Ok(Ok(permits)) => permits.forget(),
                Ok(Err(_)) => return Err(Closing::new(1001, "the connection is closing")),
                Err(_) => return Err(self.slow_consumer()),
            }
            self.tx
                .send(Out::Frames(frames))
                .map_err(|_| Closing::new(1001, "the connection is closing"))?;
        } else {
            self.queue(frames)?;
        }
        self.delivered = last;
        Ok(())
    }

    async fn handle(&mut self, frame: ClientFrame) -> Result<(), Closing> {
        match frame {
            ClientFrame::Auth { token } => self.authenticate(token).await,
            ClientFrame::Subscribe {
                topics,
                since,
                epoch,
            } => self.subscribe(&topics, since, epoch).await,
            ClientFrame::Unsubscribe => {
                self.subscription = None;
                Ok(())
            }
            ClientFrame::Pong => Ok(()),
        }
    }

    async fn authenticate(&mut self, token: String) -> Result<(), Closing> {
        match self
            .socket
            .identity
            .authenticate(Credential::Bearer(&token))
            .await
        {
            Ok(principal) => {
                self.send(&ServerFrame::Authenticated {
                    user_id: principal.user_id(),
                })?;
                // A fresh credential may be another user's: what is followed narrows now.
                self.narrow(&principal).await?;
                self.principal = Some(principal);
                self.token = Some(token);
                Ok(())
            }
            Err(e @ Error::Unauthenticated(_)) => {
                Err(Closing::new(close::UNAUTHENTICATED, short(&e.to_string())))
            }
            Err(e) => {
                self.error(e.code(), &e.to_string())?;
                if self.principal.is_none() {
                    return Err(Closing::new(1011, "cannot check credentials now"));
                }
                Ok(())
            }
        }
    }

    /// Checks the credential again and narrows (or ends) the subscription to what the
    /// principal may now read.
    async fn recheck(&mut self) -> Result<(), Closing> {
        let Some(token) = self.token.clone() else {
            return Ok(());
        };
        let principal = match self
            .socket
            .identity
            .authenticate(Credential::Bearer(&token))
            .await
        {
            Ok(principal) => principal,
            Err(Error::Unauthenticated(_)) => {
                return Err(Closing::new(
                    close::UNAUTHENTICATED,
                    "the session ended or the credential expired",
                ));
            }
            // The database is away: keep serving what was allowed until it answers.
            Err(_) => return Ok(()),
        };
        self.narrow(&principal).await?;
        self.principal = Some(principal);
        Ok(())
    }

    /// Shows the subscription only what `principal` may read now; ends it with an `error`
    /// frame when that is nothing of what it asked for.
    async fn narrow(&mut self, principal: &Principal) -> Result<(), Closing> {
        let (Some(stream), true) = (&self.socket.events, self.subscription.is_some()) else {
            return Ok(());
        };
        match stream.visibility(principal, &self.topics).await {
            Ok(visibility) => {
                if let Some(sub) = self.subscription.as_mut() {
                    sub.restrict(visibility);
                }
                Ok(())
            }
            Err(e @ Error::Forbidden(_)) => {
                self.subscription = None;
                self.error(e.code(), &e.to_string())
            }
            // The database is away: keep serving what was allowed until it answers.
            Err(_) => Ok(()),
        }
    }

    async fn subscribe(
        &mut self,
        topics: &[String],
        since: Option<i64>,
        epoch: Option<String>,
    ) -> Result<(), Closing> {
        let Some(principal) = self.principal.clone() else {
            return Err(Closing::new(close::UNAUTHENTICATED, "authenticate first"));
        };
        let Some(stream) = self.socket.events.clone() else {
            return self.error("unavailable", "this database has no event log yet");
        };
        let request = Topic::parse_names(topics)
            .and_then(|topics| Ok((topics, Resume::parse(since, epoch)?)));
        let (topics, resume) = match request {
            Ok(parsed) => parsed,
            Err(e) => return self.error(e.code(), &e.to_string()),
        };
        self.subscription = None;
        match stream.subscribe(&principal, &topics, &resume).await {
            Ok(Read::Continued(sub)) => {
                self.send(&ServerFrame::Subscribed {
                    epoch: sub.epoch(),
                    since: sub.last_seq(),
                    topics: sub.topics().map(Topic::as_str).collect(),
                })?;
                self.topics = topics;
                self.delivered = sub.last_seq();
                self.subscription = Some(sub);
                Ok(())
            }
            Ok(Read::Lost(HistoryLost { position, reason })) => {
                self.send(&ServerFrame::HistoryLost {
                    reason: &reason,
                    position: &position,
                })
            }
            Err(e) => self.error(e.code(), &e.to_string()),
        }
    }

    fn error(&self, code: &str, message: &str) -> Result<(), Closing> {
        self.send(&ServerFrame::Error { code, message })
    }
}

/// The next events of `subscription`, as many as are at hand (never more than the buffer
/// holds); pending forever without a subscription.
async fn next_events(
    subscription: Option<&mut Subscription>,
    max: usize,
) -> trae_core::Result<Vec<Arc<StoredEvent>>> {
    match subscription {
        Some(sub) => sub.next_batch(max).await,
        None => std::future::pending().await,
    }
}

/// The buffer permits `frames` take.
fn permits(frames: &[Arc<str>]) -> u32 {
    u32::try_from(frames.len()).unwrap_or(u32::MAX)
}

/// A client frame, `Ok(None)` when the client closed, or the close for a malformed one.
fn parse(message: Message) -> Result<Option<ClientFrame>, Closing> {
    let text = match message {
        Message::Text(text) => text,
        Message::Close(_) => return Ok(None),
        // Control frames are answered by the WebSocket layer.
        Message::Ping(_) | Message::Pong(_) => {
            return Ok(Some(ClientFrame::Pong));
        }
        Message::Binary(_) => {
            return Err(Closing::new(close::MALFORMED, "frames are JSON text"));
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Closing::new(close::MALFORMED, short(&format!("malformed frame: {e}"))))
}

/// A close reason fits in 123 bytes.
fn short(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}
