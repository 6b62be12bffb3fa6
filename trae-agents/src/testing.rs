//! A scripted OpenAI-compatible server for tests (feature `testing`): a real HTTP server on
//! 127.0.0.1 that answers `POST /v1/chat/completions` with the replies queued on it, whole
//! or as server-sent events (as the request's `stream` asks), and records what it was sent.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt as _;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Body, Request, Response};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// One scripted reply.
#[derive(Debug, Clone)]
pub enum Reply {
    /// An answer: whole, or streamed in pieces of `piece` characters when the request asks
    /// for a stream.
    Answer {
        /// Its text.
        content: Option<String>,
        /// Tool calls: (id, name, arguments).
        tool_calls: Vec<(String, String, String)>,
        /// `finish_reason` as the wire says it.
        finish_reason: String,
        /// (prompt, completion) tokens to report; `None` reports no usage.
        usage: Option<(u32, u32)>,
        /// Characters per streamed piece (at least 1).
        piece: usize,
        /// The wait before each streamed piece.
        delay: Duration,
    },
    /// A status with a body, and `Retry-After` seconds when set.
    Status {
        /// The status.
        status: u16,
        /// The body.
        body: String,
        /// `Retry-After`, in seconds.
        retry_after: Option<u64>,
    },
    /// These raw bytes as a `text/event-stream` body, each piece sent as it is, 5 ms apart.
    RawStream(Vec<Vec<u8>>),
    /// These raw bytes as a `text/event-stream` body, then the connection breaks.
    Broken(Vec<Vec<u8>>),
    /// No answer before `Duration` has passed, then a plain text.
    Slow(Duration),
}

impl Reply {
    /// A plain text answer with usage, finished by `stop`.
    pub fn text(content: &str) -> Self {
        Self::Answer {
            content: Some(content.to_owned()),
            tool_calls: Vec::new(),
            finish_reason: "stop".into(),
            usage: Some((
                10,
                u32::try_from(content.len().div_ceil(4)).unwrap_or(u32::MAX),
            )),
            piece: 4,
            delay: Duration::ZERO,
        }
    }

    /// An answer that calls one tool.
    pub fn tool_call(id: &str, name: &str, arguments: &str) -> Self {
        Self::Answer {
            content: None,
            tool_calls: vec![(id.into(), name.into(), arguments.into())],
            finish_reason: "tool_calls".into(),
            usage: Some((20, 5)),
            piece: 4,
            delay: Duration::ZERO,
        }
    }

    /// A status answer without `Retry-After`.
    pub fn status(status: u16, body: &str) -> Self {
        Self::Status {
            status,
            body: body.into(),
            retry_after: None,
        }
    }
}

#[derive(Default)]
struct State {
    replies: VecDeque<Reply>,
    requests: Vec<Value>,
    headers: Vec<Vec<(String, String)>>,
}

/// The server. It stops when dropped.
pub struct ScriptedLlm {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    cut_short: Arc<AtomicUsize>,
    stop: CancellationToken,
}

impl std::fmt::Debug for ScriptedLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedLlm")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for ScriptedLlm {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn sse(data: &Value) -> Vec<u8> {
    format!("data: {data}\n\n").into_bytes()
}

/// The events of `reply` streamed as OpenAI does: a role chunk, content and tool-call pieces,
/// the finishing chunk, the usage chunk and `[DONE]`.
fn stream_events(
    content: Option<&str>,
    tool_calls: &[(String, String, String)],
    finish_reason: &str,
    usage: Option<(u32, u32)>,
    piece: usize,
) -> Vec<Vec<u8>> {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0,
               "model": "scripted", "choices": [{"index": 0, "delta": delta,
               "finish_reason": finish}]})
    };
    let mut events = vec![sse(&chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    ))];
    if let Some(text) = content {
        let chars: Vec<char> = text.chars().collect();
        for part in chars.chunks(piece.max(1)) {
            let part: String = part.iter().collect();
            events.push(sse(&chunk(json!({"content": part}), Value::Null)));
        }
    }
    for (i, (id, name, arguments)) in tool_calls.iter().enumerate() {
        events.push(sse(&chunk(
            json!({"tool_calls": [{"index": i, "id": id, "type": "function",
                   "function": {"name": name, "arguments": ""}}]}),
            Value::Null,
        )));
        let chars: Vec<char> = arguments.chars().collect();
        for part in chars.chunks(piece.max(1)) {
            let part: String = part.iter().collect();
            events.push(sse(&chunk(
                json!({"tool_calls": [{"index": i, "function": {"arguments": part}}]}),
                Value::Null,
            )));
        }
    }
    events.push(sse(&chunk(json!({}), json!(finish_reason))));
    if let Some((prompt, completion)) = usage {
        events.push(sse(
            &json!({"id": "chatcmpl-scripted", "object": "chat.completion.chunk",
            "created": 0, "model": "scripted", "choices": [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion}}),
        ));
    }
    events.push(b"data: [DONE]\n\n".to_vec());
    events
}

/// Counts a stream the client dropped before its end.
struct EndGuard {
    ended: bool,
    cut_short: Arc<AtomicUsize>,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        if !self.ended {
            self.cut_short.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn event_stream(
    pieces: Vec<Vec<u8>>,
    delay: Duration,
    cut_short: Arc<AtomicUsize>,
    breaks: bool,
) -> Response {
    let guard = EndGuard {
        ended: false,
        cut_short,
    };
    let mut pieces: Vec<Option<Vec<u8>>> = pieces.into_iter().map(Some).collect();
    if breaks {
        pieces.push(None);
    }
    let stream = futures_util::stream::unfold(
        (pieces.into_iter(), guard),
        move |(mut pieces, mut guard)| async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            match pieces.next() {
                Some(Some(piece)) => Some((
                    Ok::<_, std::io::Error>(bytes::Bytes::from(piece)),
                    (pieces, guard),
                )),
                Some(None) => {
                    guard.ended = true;
                    Some((
                        Err(std::io::Error::other("broken on purpose")),
                        (pieces, guard),
                    ))
                }
                None => {
                    guard.ended = true;
                    drop(guard);
                    None
                }
            }
        },
    )
    .boxed();
    let mut response = Response::builder().content_type("text/event-stream");
    if breaks {
        // A length the body never reaches: the connection closes short of it, which a
        // client cannot mistake for the end of a chunked body.
        response = response.header("content-length", "1000000");
    }
    response.body(Body::from_bytes_stream(stream))
}

fn whole(
    content: Option<&str>,
    tool_calls: &[(String, String, String)],
    finish_reason: &str,
    usage: Option<(u32, u32)>,
) -> Response {
    let calls: Vec<Value> = tool_calls
        .iter()
        .map(|(id, name, arguments)| {
            json!({"id": id, "type": "function",
                   "function": {"name": name, "arguments": arguments}})
        })
        .collect();
    let mut message = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    let mut body = json!({"id": "chatcmpl-scripted", "object": "chat.completion", "created": 0,
        "model": "scripted", "choices": [{"index": 0, "message": message,
        "finish_reason": finish_reason}]});
    if let Some((prompt, completion)) = usage {
        body["usage"] = json!({"prompt_tokens": prompt, "completion_tokens": completion,
                               "total_tokens": prompt + completion});
    }
    Response::builder()
        .content_type("application/json")
        .body(body.to_string())
}

impl ScriptedLlm {
    /// Starts a server on a free port of 127.0.0.1.
    pub async fn start() -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State::default()));
        let cut_short = Arc::new(AtomicUsize::new(0));
        let stop = CancellationToken::new();
        let app = {
            let state = Arc::clone(&state);
            let cut_short = Arc::clone(&cut_short);
            poem::endpoint::make(move |mut req: Request| {
                let state = Arc::clone(&state);
                let cut_short = Arc::clone(&cut_short);
                async move {
                    if req.uri().path() != "/v1/chat/completions" {
                        return Response::builder()
                            .status(poem::http::StatusCode::NOT_FOUND)
                            .body("no such route");
                    }
                    let body = req.take_body().into_vec().await.unwrap_or_default();
                    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let streaming = request["stream"] == json!(true);
                    let reply = {
                        let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
                        s.requests.push(request);
                        s.headers.push(
                            req.headers()
                                .iter()
                                .map(|(n, v)| {
                                    (n.to_string(), v.to_str().unwrap_or_default().to_owned())
                                })
                                .collect(),
                        );
                        s.replies.pop_front()
                    };
                    match reply {
                        None => Response::builder()
                            .status(poem::http::StatusCode::INTERNAL_SERVER_ERROR)
                            .body("the script has no reply left"),
                        Some(Reply::Status {
                            status,
                            body,
                            retry_after,
                        }) => {
                            let mut r = Response::builder()
                                .status(
                                    poem::http::StatusCode::from_u16(status)
                                        .unwrap_or(poem::http::StatusCode::IM_A_TEAPOT),
                                )
                                .content_type("application/json");
                            if let Some(secs) = retry_after {
                                r = r.header("Retry-After", secs.to_string());
                            }
                            r.body(body)
                        }
                        Some(Reply::Broken(pieces)) => {
                            event_stream(pieces, Duration::from_millis(5), cut_short, true)
                        }
                        Some(Reply::Slow(wait)) => {
                            tokio::time::sleep(wait).await;
                            Response::builder().body("late")
                        }
                        Some(Reply::RawStream(pieces)) => {
                            event_stream(pieces, Duration::from_millis(5), cut_short, false)
                        }
                        Some(Reply::Answer {
                            content,
                            tool_calls,
                            finish_reason,
                            usage,
                            piece,
                            delay,
                        }) if streaming => event_stream(
                            stream_events(
                                content.as_deref(),
                                &tool_calls,
                                &finish_reason,
                                usage,
                                piece,
                            ),
                            delay,
                            cut_short,
                            false,
                        ),
                        Some(Reply::Answer {
                            content,
                            tool_calls,
                            finish_reason,
                            usage,
                            ..
                        }) => whole(content.as_deref(), &tool_calls, &finish_reason, usage),
                    }
                }
            })
        };
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .ok_or_else(|| std::io::Error::other("the listener has no address"))?;
        let stopped = stop.clone();
        tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    app,
                    async move { stopped.cancelled().await },
                    Some(Duration::from_millis(100)),
                )
                .await;
        });
        Ok(Self {
            addr,
            state,
            cut_short,
            stop,
        })
    }

    /// The base URL to register (`http://127.0.0.1:PORT/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues a reply.
    pub fn push(&self, reply: Reply) {
        self.lock().replies.push_back(reply);
    }

    /// The request bodies received, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.lock().requests.clone()
    }

    /// The headers of the requests received (lowercase names), oldest first.
    pub fn headers(&self) -> Vec<Vec<(String, String)>> {
        self.lock().headers.clone()
    }

    /// How many streams the client stopped reading before their end.
    pub fn cut_short(&self) -> usize {
        self.cut_short.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
