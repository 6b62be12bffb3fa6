//! The event stream over real sockets: the WebSocket at `/ws/events` (a real tokio-tungstenite
//! client), server-sent events and JSON pages at `/api/events`, on SQLite and PostgreSQL.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use trae_agents::Trae;
use trae_auth::{Credential, RequestMeta};
use trae_server::App;
use trae_storage::storage_test;
use uuid::Uuid;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long any expected frame may take.
const WAIT: Duration = Duration::from_secs(15);

/// A served node: its address, and the token that closes its sockets as a shutdown would.
struct Node {
    trae: Trae,
    addr: SocketAddr,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

async fn node(url: &str, env: &[(&str, &str)]) -> Node {
    let (trae, dir) = common::state(url, env).await;
    serve(trae, dir).await
}

/// Serves `trae` on a free loopback port.
async fn serve(trae: Trae, dir: tempfile::TempDir) -> Node {
    let app = App::new(&trae).await.unwrap();
    let shutdown = app.shutdown_token();
    let acceptor =
        poem::listener::Listener::into_acceptor(poem::listener::TcpListener::bind("127.0.0.1:0"))
            .await
            .unwrap();
    let addr = poem::listener::Acceptor::local_addr(&acceptor)[0]
        .as_socket_addr()
        .copied()
        .unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app.into_endpoint()));
    Node {
        trae,
        addr,
        shutdown,
        _dir: dir,
    }
}

impl Node {
    /// Publishes `n` pet events (numbered from `from`) and waits until they are in the log.
    async fn publish_pets(&self, from: u32, n: u32) {
        let bus = self.trae.store().events();
        for i in from..from + n {
            bus.publish("pets", "pet.created", json!({ "n": i }));
        }
        self.trae.events().unwrap().flush().await;
    }

    /// Where the log stands once everything published so far (sign-ins' audit entries
    /// included) is in it.
    async fn position(&self) -> trae_core::StreamPosition {
        let events = self.trae.events().unwrap();
        events.flush().await;
        events.position().await.unwrap()
    }

    async fn user_id(&self, token: &str) -> Uuid {
        self.trae
            .identity()
            .authenticate(Credential::Bearer(token))
            .await
            .unwrap()
            .user_id()
            .unwrap()
    }

    async fn socket(&self) -> Socket {
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws/events", self.addr))
            .await
            .unwrap();
        socket
    }

    /// A socket authenticated with `token`.
    async fn signed_in_socket(&self, token: &str) -> Socket {
        let mut socket = self.socket().await;
        send(&mut socket, json!({"type": "auth", "token": token})).await;
        let frame = recv(&mut socket).await;
        assert_eq!(frame.json()["type"], "authenticated", "{frame:?}");
        socket
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let (status, _, body) = http(self.addr, "GET", path, token, &[]).await;
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }
}

/// A frame from the server, pings skipped.
#[derive(Debug)]
enum Frame {
    Json(Value),
    Closed(u16, String),
}

impl Frame {
    fn json(&self) -> &Value {
        match self {
            Self::Json(v) => v,
            Self::Closed(code, reason) => panic!("closed with {code}: {reason}"),
        }
    }
}

async fn send(socket: &mut Socket, frame: Value) {
    socket
        .send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

async fn recv(socket: &mut Socket) -> Frame {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("no frame in time");
        match message {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] != "ping" {
                    return Frame::Json(value);
                }
            }
            Some(Ok(Message::Close(frame))) => {
                return match frame {
                    Some(f) => Frame::Closed(u16::from(f.code), f.reason.to_string()),
                    None => Frame::Closed(1005, String::new()),
                };
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Frame::Closed(1006, e.to_string()),
            None => return Frame::Closed(1006, "ended".into()),
        }
    }
}

/// The next frame, which must be a close: its code and reason.
async fn closed(socket: &mut Socket) -> (u16, String) {
    match recv(socket).await {
        Frame::Closed(code, reason) => (code, reason),
        Frame::Json(v) => panic!("expected a close, got {v}"),
    }
}

/// The next `n` event frames.
async fn events(socket: &mut Socket, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    while out.len() < n {
        let frame = recv(socket).await;
        let v = frame.json();
        assert_eq!(v["type"], "event", "{v}");
        out.push(v.clone());
    }
    out
}

/// One HTTP/1.1 request on a fresh connection: status, head and body (a streamed body is
/// read until the connection closes, so only for finite answers).
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\nauthorization: Bearer {token}\r\n"
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut text)
        .await
        .unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    // Chunked bodies of JSON answers: take the JSON between the chunk sizes.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body.lines()
            .filter(|l| l.starts_with('{') || l.starts_with('['))
            .collect::<Vec<_>>()
            .join("")
    } else {
        body.to_owned()
    };
    (status, head.to_owned(), body)
}

/// An open SSE response: reads `event`/`history_lost` messages as (type, id, data).
struct Sse {
    lines: tokio::io::Lines<BufReader<tokio::net::TcpStream>>,
}

impl Sse {
    async fn open(addr: SocketAddr, path: &str, token: &str, headers: &[(&str, &str)]) -> Self {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut request =
            format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n");
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut lines = BufReader::new(stream).lines();
        let status = lines.next_line().await.unwrap().unwrap();
        assert!(status.contains(" 200 "), "{status}");
        Self { lines }
    }

    async fn message(&mut self) -> (String, Option<String>, Value) {
        let (mut kind, mut id, mut data) = (String::new(), None, None);
        loop {
            let line = tokio::time::timeout(WAIT, self.lines.next_line())
                .await
                .expect("no SSE line in time")
                .unwrap()
                .expect("the SSE response ended");
            if let Some(v) = line.strip_prefix("event: ") {
                kind = v.to_owned();
            } else if let Some(v) = line.strip_prefix("id: ") {
                id = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str(v).unwrap());
            } else if line.is_empty()
                && let Some(data) = data.take()
            {
                return (kind, id, data);
            }
        }
    }
}

storage_test!(
    socket_replays_then_follows_without_gap_or_repeat,
    |url: String| async move {
        let node = node(&url, &[]).await;
        let admin = common::signed_in(&node.trae, "root", &["admin"]).await;
        let start = node.position().await;
        node.publish_pets(0, 5).await;

        let mut socket = node.signed_in_socket(&admin).await;
        send(
        &mut socket,
        json!({"type": "subscribe", "topics": ["pets"], "since": start.last_seq, "epoch": start.epoch}),
    )
    .await;
        let subscribed = recv(&mut socket).await;
        assert_eq!(subscribed.json()["type"], "subscribed");
        assert_eq!(subscribed.json()["epoch"], json!(start.epoch));
        // Publishing goes on while the socket replays and switches over to live.
        let publisher = {
            let bus = node.trae.store().events();
            tokio::spawn(async move {
                for i in 5..305 {
                    bus.publish("pets", "pet.created", json!({ "n": i }));
                    if i % 50 == 0 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            })
        };
        let got = events(&mut socket, 305).await;
        publisher.await.unwrap();
        let ns: Vec<u64> = got
            .iter()
            .map(|e| e["payload"]["n"].as_u64().unwrap())
            .collect();
        assert_eq!(
            ns,
            (0..305).collect::<Vec<_>>(),
            "every event once, in order"
        );
        let seqs: Vec<u64> = got.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "consecutive seqs"
        );
        assert_eq!(seqs[0], start.last_seq + 1);
        for key in [
            "seq", "id", "ts", "topic", "source", "kind", "owner_id", "payload",
        ] {
            assert!(got[0].get(key).is_some(), "{key} in {}", got[0]);
        }

        // A page over HTTP shows the same events.
        let (status, page) = node
            .get(
                &format!(
                    "/api/events?topics=pets&since={}&epoch={}&limit=3",
                    start.last_seq, start.epoch
                ),
                &admin,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["events"].as_array().unwrap().len(), 3);
        assert_eq!(page["events"][0]["seq"], got[0]["seq"]);
        assert_eq!(page["events"][0]["id"], got[0]["id"]);
        assert_eq!(page["next"], got[2]["seq"]);
    }
);

storage_test!(
    bad_frames_and_credentials_get_their_close_codes,
    |url: String| async move {
        let node = node(&url, &[]).await;
        let admin = common::signed_in(&node.trae, "root", &["admin"]).await;
        // A healthy socket beside the bad ones keeps getting events throughout.
        let mut healthy = node.signed_in_socket(&admin).await;
        send(
            &mut healthy,
            json!({"type": "subscribe", "topics": ["pets"]}),
        )
        .await;
        assert_eq!(recv(&mut healthy).await.json()["type"], "subscribed");

        let mut s = node.socket().await;
        s.send(Message::Text("not json".into())).await.unwrap();
        assert_eq!(closed(&mut s).await.0, 4400);

        let mut s = node.socket().await;
        send(&mut s, json!({"type": "subscribe", "topics": ["pets"]})).await;
        let (code, reason) = closed(&mut s).await;
        assert_eq!(code, 4401);
        assert!(reason.contains("auth"), "{reason}");

        let mut s = node.socket().await;
        send(&mut s, json!({"type": "auth", "token": "not-a-token"})).await;
        assert_eq!(closed(&mut s).await.0, 4401);

        let mut s = node.signed_in_socket(&admin).await;
        send(&mut s, json!({"type": "subscribe", "topics": "pets"})).await;
        assert_eq!(closed(&mut s).await.0, 4400, "topics must be a list");

        let mut s = node.signed_in_socket(&admin).await;
        send(&mut s, json!({"type": "subscribe", "topics": ["nope"]})).await;
        let error = recv(&mut s).await;
        assert_eq!(error.json()["type"], "error");
        assert_eq!(error.json()["code"], "validation_failed");
        send(&mut s, json!({"type": "subscribe", "since": -1})).await;
        assert_eq!(recv(&mut s).await.json()["code"], "validation_failed");

        let mut silent = node.socket().await;
        let started = std::time::Instant::now();
        assert_eq!(closed(&mut silent).await.0, 4408);
        assert!(
            started.elapsed() >= Duration::from_secs(4),
            "closed after the 5 s allowed"
        );

        node.publish_pets(0, 2).await;
        let got = events(&mut healthy, 2).await;
        assert_eq!(got[1]["payload"]["n"], 1);
    }
);

storage_test!(
    topics_are_read_under_their_permissions,
    |url: String| async move {
        let node = node(&url, &[]).await;
        let viewer = common::signed_in(&node.trae, "vera", &["viewer"]).await;
        let other = common::signed_in(&node.trae, "otto", &["viewer"]).await;
        let admin = common::signed_in(&node.trae, "root", &["admin"]).await;
        let vera = node.user_id(&viewer).await;
        let otto = node.user_id(&other).await;

        // A topic the viewer may not read: an error frame, and the socket stays usable.
        let mut s = node.signed_in_socket(&viewer).await;
        send(&mut s, json!({"type": "subscribe", "topics": ["audit"]})).await;
        let refused = recv(&mut s).await;
        assert_eq!(refused.json()["type"], "error");
        assert_eq!(refused.json()["code"], "forbidden");
        let start = node.position().await;
        send(
            &mut s,
            json!({"type": "subscribe", "topics": ["tasks"], "since": start.last_seq}),
        )
        .await;
        assert_eq!(recv(&mut s).await.json()["topics"], json!(["tasks"]));
        let bus = node.trae.store().events();
        bus.publish_owned(
            "tasks",
            "task.completed",
            Some(otto),
            json!({"who": "otto"}),
        );
        bus.publish_owned(
            "tasks",
            "task.completed",
            Some(vera),
            json!({"who": "vera"}),
        );
        bus.publish_owned("tasks", "task.completed", None, json!({"who": "nobody"}));
        bus.publish_owned(
            "tasks",
            "task.completed",
            Some(vera),
            json!({"who": "vera again"}),
        );
        node.trae.events().unwrap().flush().await;
        let seen = events(&mut s, 2).await;
        assert_eq!(seen[0]["payload"]["who"], "vera");
        assert_eq!(seen[1]["payload"]["who"], "vera again");

        // The same rules over HTTP.
        let since = format!("since={}", start.last_seq);
        let (status, page) = node
            .get(&format!("/api/events?topics=tasks&{since}"), &viewer)
            .await;
        assert_eq!(status, 200);
        let whos: Vec<&str> = page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["payload"]["who"].as_str().unwrap())
            .collect();
        assert_eq!(whos, ["vera", "vera again"]);
        let (status, page) = node
            .get(&format!("/api/events?topics=tasks&{since}"), &admin)
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            page["events"].as_array().unwrap().len(),
            4,
            "tasks:read_all sees all"
        );
        let (status, body) = node.get("/api/events?topics=audit", &viewer).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "forbidden");
        let (status, body) = node.get("/api/events?topics=audit", "").await;
        assert_eq!(status, 401, "{body}");
        let (status, _, _) = http(
            node.addr,
            "GET",
            "/api/events/stream?topics=audit",
            &viewer,
            &[],
        )
        .await;
        assert_eq!(status, 403);
        // Without topics the viewer follows what it may read: never the audit log.
        let (status, page) = node
            .get(&format!("/api/events?{since}&limit=500"), &viewer)
            .await;
        assert_eq!(status, 200);
        assert!(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["topic"] != "audit")
        );

        // A fresh `auth` frame with another user's token narrows what the socket follows.
        let mut s = node.signed_in_socket(&admin).await;
        send(&mut s, json!({"type": "subscribe", "topics": ["audit"]})).await;
        assert_eq!(control(&mut s).await["type"], "subscribed");
        send(&mut s, json!({"type": "auth", "token": viewer})).await;
        assert_eq!(control(&mut s).await["type"], "authenticated");
        let ended = control(&mut s).await;
        assert_eq!(
            (ended["type"].as_str(), ended["code"].as_str()),
            (Some("error"), Some("forbidden"))
        );
    }
);

/// The next frame that is not an event.
async fn control(socket: &mut Socket) -> Value {
    loop {
        let frame = recv(socket).await;
        if frame.json()["type"] != "event" {
            return frame.json().clone();
        }
    }
}

storage_test!(
    pages_answer_lost_history_with_the_position,
    |url: String| async move {
        let node = node(&url, &[]).await;
        let admin = common::signed_in(&node.trae, "root", &["admin"]).await;
        node.publish_pets(0, 3).await;
        let position = node.position().await;

        let (status, page) = node.get("/api/events?topics=pets", &admin).await;
        assert_eq!(status, 200);
        assert_eq!(page["events"], json!([]), "no since: nothing before now");
        assert_eq!(page["next"], position.last_seq);

        let (status, lost) = node
            .get(
                "/api/events?since=1&epoch=0123456789abcdef0123456789abcdef",
                &admin,
            )
            .await;
        assert_eq!(status, 410, "{lost}");
        assert_eq!(lost["error"]["code"], "history_lost");
        assert_eq!(lost["position"]["epoch"], json!(position.epoch));
        assert_eq!(lost["position"]["last_seq"], json!(position.last_seq));
        let (status, lost) = node
            .get(
                &format!("/api/events?since={}", position.last_seq + 10),
                &admin,
            )
            .await;
        assert_eq!(status, 410, "{lost}");

        for (query, field) in [
            ("since=-1", "since"),
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("topics=pets,nope", "topics"),
        ] {
            let (status, body) = node.get(&format!("/api/events?{query}"), &admin).await;
            assert_eq!(status, 422, "{query}: {body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with(field),
                "{query}: {body}"
            );
        }

        // Over the socket: a `history_lost` frame with the position, then a fresh subscribe.
        let mut s = node.signed_in_socket(&admin).await;
        send(
            &mut s,
            json!({"type": "subscribe", "since": 1, "epoch": "0123456789abcdef0123456789abcdef"}),
        )
        .await;
        let lost = recv(&mut s).await;
        assert_eq!(lost.json()["type"], "history_lost");
        assert_eq!(
            lost.json()["position"]["last_seq"],
            json!(position.last_seq)
        );
        send(&mut s, json!({"type": "subscribe", "topics": ["pets"]})).await;
        assert_eq!(recv(&mut s).await.json()["type"], "subscribed");
        node.publish_pets(3, 1).await;
        assert_eq!(events(&mut s, 1).await[0]["payload"]["n"], 3);
    }
);

storage_test!(sse_resumes_after_last_event_id, |url: String| async move {
    let node = node(&url, &[]).await;
    let admin = common::signed_in(&node.trae, "root", &["admin"]).await;
    let start = node.position().await;
    let path = format!(
        "/api/events/stream?topics=pets&since={}&epoch={}",
        start.last_seq, start.epoch
    );
    let mut sse = Sse::open(node.addr, &path, &admin, &[]).await;
    node.publish_pets(0, 3).await;
    let (kind, first_id, first) = sse.message().await;
    assert_eq!(kind, "event");
    assert_eq!(first["payload"]["n"], 0);
    let first_id = first_id.unwrap();
    assert_eq!(first_id, format!("{}-{}", start.epoch, first["seq"]));
    drop(sse);

    // Reconnecting with Last-Event-ID continues right after it.
    let mut sse = Sse::open(
        node.addr,
        "/api/events/stream?topics=pets",
        &admin,
        &[("Last-Event-ID", &first_id)],
    )
    .await;
    let (_, _, next) = sse.message().await;
    assert_eq!(next["payload"]["n"], 1);
    assert_eq!(next["seq"], json!(first["seq"].as_u64().unwrap() + 1));

    // An id of another epoch: `history_lost` first, then live events.
    let mut sse = Sse::open(
        node.addr,
        "/api/events/stream?topics=pets",
        &admin,
        &[("Last-Event-ID", "0123456789abcdef0123456789abcdef-2")],
    )
    .await;
    let (kind, _, lost) = sse.message().await;
    assert_eq!(kind, "history_lost");
    assert_eq!(lost["error"]["code"], "history_lost");
    node.publish_pets(3, 1).await;
    let (kind, _, live) = sse.message().await;
    assert_eq!(kind, "event");
    assert_eq!(live["payload"]["n"], 3);

    let (status, _, body) = http(
        node.addr,
        "GET",
        "/api/events/stream",
        &admin,
        &[("Last-Event-ID", "garbage")],
    )
    .await;
    assert_eq!(status, 422, "{body}");
});

storage_test!(
    a_slow_consumer_is_closed_and_resumes,
    |url: String| async move {
        let node = node(&url, &[]).await;
        let admin = common::signed_in(&node.trae, "root", &["admin"]).await;
        let start = node.position().await;
        let mut s = node.signed_in_socket(&admin).await;
        send(
            &mut s,
            json!({"type": "subscribe", "topics": ["pets"], "since": start.last_seq}),
        )
        .await;
        assert_eq!(recv(&mut s).await.json()["type"], "subscribed");
        // The client reads nothing while far more than the socket buffers and the 1,024-frame
        // queue can hold arrives: 12,000 events of 4 KiB.
        let filler = "x".repeat(4096);
        let bus = node.trae.store().events();
        for i in 0..12_000u32 {
            bus.publish("pets", "pet.created", json!({ "n": i, "filler": filler }));
            if i % 1000 == 999 {
                node.trae.events().unwrap().flush().await;
            }
        }
        node.trae.events().unwrap().flush().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        // Now read: events up to some seq N, then the close saying to resume after N.
        let mut last = start.last_seq;
        let (code, reason) = loop {
            match recv(&mut s).await {
                Frame::Json(v) => {
                    assert_eq!(
                        v["seq"].as_u64().unwrap(),
                        last + 1,
                        "no gap before the close"
                    );
                    last = v["seq"].as_u64().unwrap();
                }
                Frame::Closed(code, reason) => break (code, reason),
            }
        };
        assert_eq!(code, 4409, "{reason}");
        assert_eq!(reason, format!("slow consumer; resume after seq {last}"));
        assert!(
            last < start.last_seq + 12_000,
            "it was closed before the end"
        );
        let mut again = node.signed_in_socket(&admin).await;
        send(
            &mut again,
            json!({"type": "subscribe", "topics": ["pets"], "since": last, "epoch": start.epoch}),
        )
        .await;
        assert_eq!(recv(&mut again).await.json()["type"], "subscribed");
        let next = events(&mut again, 1).await;
        assert_eq!(next[0]["seq"], json!(last + 1));

        // A replay of all of it to a client that reads is never cut short: history goes at
        // the client's pace.
        let mut reader = node.signed_in_socket(&admin).await;
        send(
            &mut reader,
            json!({"type": "subscribe", "topics": ["pets"], "since": start.last_seq, "epoch": start.epoch}),
        )
        .await;
        assert_eq!(recv(&mut reader).await.json()["type"], "subscribed");
        let replayed = events(&mut reader, 12_000).await;
        assert_eq!(replayed[11_999]["payload"]["n"], 11_999);
    }
);

storage_test!(
    logout_and_shutdown_close_sockets,
    |url: String| async move {
        let node = node(&url, &[("TRAE_SESSION_CACHE_SECS", "1")]).await;
        let token = common::signed_in(&node.trae, "vera", &["viewer"]).await;
        let mut s = node.signed_in_socket(&token).await;
        send(&mut s, json!({"type": "subscribe", "topics": ["tasks"]})).await;
        assert_eq!(recv(&mut s).await.json()["type"], "subscribed");
        let principal = node
            .trae
            .identity()
            .authenticate(Credential::Bearer(&token))
            .await
            .unwrap();
        let started = std::time::Instant::now();
        node.trae
            .identity()
            .logout(&principal, &RequestMeta::default())
            .await
            .unwrap();
        let (code, reason) = closed(&mut s).await;
        assert_eq!(code, 4401, "{reason}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );

        let admin = common::signed_in(&node.trae, "root", &["admin"]).await;
        let mut s = node.signed_in_socket(&admin).await;
        node.shutdown.cancel();
        assert_eq!(closed(&mut s).await.0, 1001);
    }
);

storage_test!(
    two_nodes_and_a_worker_share_one_stream,
    |url: String| async move {
        let a = node(&url, &[]).await;
        let b = node(&url, &[]).await;
        let (worker_trae, _worker_dir) = common::state(&url, &[]).await;
        let admin = common::signed_in(&a.trae, "root", &["admin"]).await;
        let start = a.position().await;
        let mut on_a = a.signed_in_socket(&admin).await;
        let mut on_b = b.signed_in_socket(&admin).await;
        for socket in [&mut on_a, &mut on_b] {
            send(
            socket,
            json!({"type": "subscribe", "topics": ["tasks"], "since": start.last_seq, "epoch": start.epoch}),
        )
        .await;
            assert_eq!(recv(socket).await.json()["type"], "subscribed");
        }
        let in_worker = match worker_trae
            .events()
            .unwrap()
            .subscribe(
                &trae_core::Principal::System,
                &[trae_core::Topic::Tasks],
                &trae_core::Resume {
                    since: Some(start.last_seq),
                    epoch: Some(start.epoch.clone()),
                },
            )
            .await
            .unwrap()
        {
            trae_core::Read::Continued(sub) => sub,
            trae_core::Read::Lost(lost) => panic!("{lost:?}"),
        };

        // Enqueued through node A; run by the worker, another process in all but name.
        let task = a
            .trae
            .tasks()
            .enqueue(
                &trae_core::Principal::System,
                trae_core::NewTask::new("noop", json!({"n": 1})),
            )
            .await
            .unwrap();
        let stop = CancellationToken::new();
        let worker = worker_trae.worker(vec!["default".into()], 2).unwrap();
        let running = tokio::spawn(worker.run(stop.clone()));

        // Each process appends its own events in batches, so the node's `task.available` may be
        // numbered after the worker's `task.running` (docs/events.md, "Order"): the three arrive,
        // in the same order everywhere.
        let seen_a = events(&mut on_a, 3).await;
        let seen_b = events(&mut on_b, 3).await;
        for seen in [&seen_a, &seen_b] {
            let mut got: Vec<&str> = seen.iter().map(|e| e["kind"].as_str().unwrap()).collect();
            got.sort_unstable();
            assert_eq!(got, ["task.available", "task.completed", "task.running"]);
            assert!(
                seen.iter()
                    .all(|e| e["payload"]["id"] == json!(task.task.id))
            );
        }
        let position = |seen: &[Value], kind: &str| seen.iter().position(|e| e["kind"] == kind);
        assert!(
            position(&seen_a, "task.running") < position(&seen_a, "task.completed"),
            "one process's events keep their order"
        );
        let seqs = |seen: &[Value]| seen.iter().map(|e| e["seq"].clone()).collect::<Vec<_>>();
        assert_eq!(seqs(&seen_a), seqs(&seen_b), "one log, one numbering");
        let mut in_worker = in_worker;
        let mut worker_seen = Vec::new();
        while worker_seen.len() < 3 {
            let event = tokio::time::timeout(WAIT, in_worker.next())
                .await
                .unwrap()
                .unwrap();
            worker_seen.push(json!(event.seq));
        }
        assert_eq!(worker_seen, seqs(&seen_a));
        stop.cancel();
        running.await.unwrap().unwrap();
        worker_trae.close().await;
    }
);

storage_test!(
    an_expired_token_is_refused_and_ends_its_socket,
    |url: String| async move {
        let clock = std::sync::Arc::new(trae_core::ManualClock::new(chrono::Utc::now()));
        let dir = tempfile::tempdir().unwrap();
        let vars: std::collections::HashMap<&str, String> = [
            ("TRAE_DATA_DIR", dir.path().display().to_string()),
            ("TRAE_DATABASE_URL", url.clone()),
            ("TRAE_MASTER_KEY", common::MASTER_KEY.to_owned()),
            ("TRAE_SESSION_CACHE_SECS", "1".to_owned()),
        ]
        .into_iter()
        .collect();
        let config = trae_core::Config::from_sources(|k| vars.get(k).cloned()).unwrap();
        let store = trae_storage::Store::connect_with(
            &url,
            trae_storage::StoreOptions {
                clock: clock.clone(),
                ..trae_storage::StoreOptions::default()
            },
        )
        .await
        .unwrap();
        let trae = Trae::with_store(config, store).await.unwrap();
        let node = serve(trae, dir).await;
        let token = common::signed_in(&node.trae, "vera", &["viewer"]).await;
        let mut open = node.signed_in_socket(&token).await;
        // Past the access token's 15 minutes: a new socket is refused, an open one is closed at
        // its next check.
        clock.advance(chrono::Duration::minutes(16));
        let mut late = node.socket().await;
        send(&mut late, json!({"type": "auth", "token": token})).await;
        let (code, reason) = closed(&mut late).await;
        assert_eq!(code, 4401, "{reason}");
        let (code, reason) = closed(&mut open).await;
        assert_eq!(code, 4401, "{reason}");
    }
);
