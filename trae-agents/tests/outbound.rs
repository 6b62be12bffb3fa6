//! The outbound client against real HTTP servers on 127.0.0.1.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use trae_agents::{AgentError, OutboundClient, OutboundPolicy};
use trae_core::OutboundConfig;
use url::Url;

/// A server answering every connection with `response` (raw HTTP/1.1), counting connections;
/// with `response` empty it accepts and never answers.
async fn server(response: Vec<u8>) -> (Url, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&hits);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = socket.read(&mut buf).await;
                if response.is_empty() {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    return;
                }
                let _ = socket.write_all(&response).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (url, hits)
}

fn response(status: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for h in headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn client(loopback: bool, timeout_ms: u32) -> OutboundClient {
    OutboundClient::new(OutboundPolicy::from_config(&OutboundConfig {
        allow_hosts: Vec::new(),
        allow_loopback: loopback,
        timeout_ms,
    }))
    .unwrap()
}

#[tokio::test]
async fn a_call_returns_status_headers_and_body() {
    let (url, hits) = server(response(
        "200 OK",
        &["content-type: application/json", "x-trace: a", "x-trace: b"],
        br#"{"ok":true}"#,
    ))
    .await;
    let r = client(true, 5000)
        .send(
            reqwest::Method::POST,
            &url,
            &[("x-request".into(), "1".into())],
            Some(b"hello".to_vec()),
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, br#"{"ok":true}"#);
    assert!(!r.truncated);
    assert!(
        r.headers.contains(&("x-trace".into(), "a, b".into())),
        "{:?}",
        r.headers
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn loopback_is_refused_before_connecting_unless_allowed() {
    let (url, hits) = server(response("200 OK", &[], b"")).await;
    let err = client(false, 5000)
        .send(reqwest::Method::GET, &url, &[], None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::Refused(_)), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no connection was made");
}

#[tokio::test]
async fn redirects_are_returned_not_followed() {
    let (target, target_hits) = server(response("200 OK", &[], b"secret")).await;
    let location = format!("location: {target}");
    let (url, _) = server(response("302 Found", &[&location], b"")).await;
    let r = client(true, 5000)
        .send(reqwest::Method::GET, &url, &[], None, None)
        .await
        .unwrap();
    assert_eq!(r.status, 302);
    assert_eq!(target_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let (url, _) = server(Vec::new()).await;
    let started = Instant::now();
    let err = client(true, 300)
        .send(reqwest::Method::GET, &url, &[], None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::Timeout(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A per-call timeout shorter than the policy's wins.
    let started = Instant::now();
    let err = client(true, 10_000)
        .send(
            reqwest::Method::GET,
            &url,
            &[],
            None,
            Some(Duration::from_millis(200)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::Timeout(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn large_bodies_are_cut_off() {
    let big = vec![b'x'; 3 * 1024 * 1024];
    let (url, _) = server(response("200 OK", &[], &big)).await;
    let r = client(true, 10_000)
        .send(reqwest::Method::GET, &url, &[], None, None)
        .await
        .unwrap();
    assert!(r.truncated);
    assert_eq!(r.body.len(), trae_agents::outbound::MAX_RESPONSE_BYTES);
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error_nothing_was_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let err = client(true, 5000)
        .send(reqwest::Method::GET, &url, &[], None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::Connect(_)), "{err}");
}
