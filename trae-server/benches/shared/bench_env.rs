//! What the load benches share: their knobs and serving an endpoint on an ephemeral port.
//! Included by each bench with `#[path]`; a bench uses what it needs.
#![allow(dead_code)]

use poem::listener::{Acceptor, Listener, TcpListener};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A whole-number setting from the environment, or `default`; a bad value stops the bench.
pub(crate) fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be a whole number"))
        })
        .unwrap_or(default)
}

/// Serves `endpoint` on 127.0.0.1 at a free port, on the current runtime; returns `host:port`
/// and the server's task (abort it to stop serving).
pub(crate) async fn serve<E>(endpoint: E) -> (String, tokio::task::JoinHandle<std::io::Result<()>>)
where
    E: poem::IntoEndpoint + Send + 'static,
    E::Endpoint: 'static,
{
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind");
    let addr = acceptor
        .local_addr()
        .into_iter()
        .find_map(|a| a.as_socket_addr().copied())
        .expect("address");
    let server = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(endpoint));
    (addr.to_string(), server)
}

/// One keep-alive HTTP/1.1 connection.
pub(crate) struct Conn {
    stream: BufReader<TcpStream>,
    addr: String,
}

impl Conn {
    pub(crate) async fn open(addr: &str) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream: BufReader::new(stream),
            addr: addr.to_owned(),
        }
    }

    /// Sends one request and reads the whole answer: (status, body).
    pub(crate) async fn send(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, String) {
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        if let Some(token) = token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body = body.unwrap_or("");
        if method == "POST" {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        request.push_str(body);
        self.stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .expect("write");
        let mut line = String::new();
        self.stream.read_line(&mut line).await.expect("status line");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("a status line, got {line:?}"));
        let mut length = None;
        let mut chunked = false;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.expect("header");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
                if name == "content-length" {
                    length = value.parse::<usize>().ok();
                } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
                    chunked = true;
                }
            }
        }
        let mut out = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await.expect("chunk size");
                let size = usize::from_str_radix(line.trim(), 16).expect("a chunk size");
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk).await.expect("chunk");
                if size == 0 {
                    break;
                }
                out.extend_from_slice(&chunk[..size]);
            }
        } else if let Some(n) = length {
            out.resize(n, 0);
            self.stream.read_exact(&mut out).await.expect("body");
        }
        (status, String::from_utf8_lossy(&out).into_owned())
    }
}

/// Signs `username` in on `addr`; returns the access token.
pub(crate) async fn login(addr: &str, username: &str, password: &str) -> String {
    let mut conn = Conn::open(addr).await;
    let body = serde_json::json!({"username": username, "password": password}).to_string();
    let (status, body) = conn
        .send("POST", "/api/auth/login", None, Some(&body))
        .await;
    assert_eq!(status, 200, "login: {body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("login JSON");
    json["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}
