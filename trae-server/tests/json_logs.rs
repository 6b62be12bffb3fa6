//! The JSON access log of the real `trae` binary: every request's line names its id, its
//! principal, route, status and latency, and no credential ever reaches the log.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// A `trae serve` process with JSON logs on a fresh data directory, killed on drop.
struct Server {
    child: Child,
    addr: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_trae"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TRAE_DATA_DIR", dir.path())
            .env("TRAE_BIND", "127.0.0.1:0")
            .env("TRAE_LOG", "info")
            .env("TRAE_LOG_FORMAT", "json")
            .env("TRAE_ADMIN_USERNAME", "root")
            .env("TRAE_ADMIN_PASSWORD", PASSWORD)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(addr) = lines(&text)
                .iter()
                .find_map(|v| v["fields"]["address"].as_str().map(str::to_owned))
            {
                return Self {
                    child,
                    addr,
                    log,
                    _dir: dir,
                };
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("trae serve exited early ({status}):\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "trae serve did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends one request with `X-Request-Id: request_id`; the status and the JSON body.
    fn request(
        &self,
        method: &str,
        path: &str,
        request_id: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (u16, Value) {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nX-Request-Id: {request_id}\r\n",
            self.addr
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    /// The whole log once the access line of `request_id` is in it.
    fn log_after(&self, request_id: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if access_line(&text, request_id).is_some() {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "no access line for {request_id}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn access_line(text: &str, request_id: &str) -> Option<Value> {
    lines(text)
        .into_iter()
        .find(|v| v["fields"]["message"] == "served" && v["span"]["id"] == request_id)
}

/// The access line of `request_id`, checked for the fields every access line has.
fn served(server: &Server, request_id: &str, route: &str, status: u16) -> Value {
    let line = access_line(&server.log_after(request_id), request_id).unwrap();
    assert_eq!(line["level"], "INFO", "{line}");
    assert!(line["timestamp"].is_string(), "{line}");
    assert_eq!(line["span"]["name"], "request", "{line}");
    assert_eq!(line["fields"]["route"], route, "{line}");
    assert_eq!(line["fields"]["status"], status, "{line}");
    assert!(line["fields"]["latency_us"].is_u64(), "{line}");
    line
}

#[test]
fn access_lines_name_the_principal_and_never_a_credential() {
    let server = Server::start();

    let (status, _) = server.request("GET", "/api/health/live", "anon-1", &[], None);
    assert_eq!(status, 200);
    let line = served(&server, "anon-1", "/api/health/live", 200);
    assert_eq!(line["span"]["principal"], "anonymous");
    assert_eq!(line["span"]["method"], "GET");
    assert_eq!(line["span"]["path"], "/api/health/live");

    let (status, login) = server.request(
        "POST",
        "/api/auth/login",
        "login-1",
        &[],
        Some(&json!({"username": "root", "password": PASSWORD})),
    );
    assert_eq!(status, 200, "{login}");
    served(&server, "login-1", "/api/auth/login", 200);
    let token = login["access_token"].as_str().unwrap().to_owned();
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();
    let user_id = login["user"]["id"].as_str().unwrap();
    let bearer = format!("Bearer {token}");

    let (status, created) = server.request(
        "POST",
        "/api/auth/api-keys",
        "user-1",
        &[("Authorization", &bearer)],
        Some(&json!({"name": "logs"})),
    );
    assert_eq!(status, 201, "{created}");
    let line = served(&server, "user-1", "/api/auth/api-keys", 201);
    assert_eq!(line["span"]["principal"], format!("user:{user_id}"));
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap();

    let (status, _) = server.request("GET", "/api/auth/me", "key-1", &[("X-API-Key", &key)], None);
    assert_eq!(status, 200);
    let line = served(&server, "key-1", "/api/auth/me", 200);
    assert_eq!(line["span"]["principal"], format!("api_key:{key_id}"));

    // Credentials that do not resolve name nobody.
    let (status, _) = server.request(
        "GET",
        "/api/auth/me",
        "bad-1",
        &[("Authorization", "Bearer not-a-token")],
        None,
    );
    assert_eq!(status, 401);
    let line = served(&server, "bad-1", "/api/auth/me", 401);
    assert_eq!(line["span"]["principal"], "anonymous");

    let log = server.log_after("bad-1");
    for secret in [token.as_str(), &refresh, &key, PASSWORD] {
        assert!(
            !log.contains(secret),
            "a credential reached the log:\n{log}"
        );
    }
}
