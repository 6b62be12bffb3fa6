//! Black-box tests of the real `trae` binary over real HTTP on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const TRAE: &str = env!("CARGO_BIN_EXE_trae");

/// The password `Server::start` gives the bootstrap admin `root`.
const ADMIN_PASSWORD: &str = "correct horse battery";

/// A `trae serve` process on a fresh data directory, killed on drop.
struct Server {
    child: Child,
    addr: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `trae serve` with `vars` (plus a fresh data dir and JSON logs) and waits until
    /// it reports its address.
    fn start(vars: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        let mut command = trae(dir.path(), vars);
        if !vars.iter().any(|(k, _)| *k == "TRAE_ADMIN_USERNAME") {
            command
                .env("TRAE_ADMIN_USERNAME", "root")
                .env("TRAE_ADMIN_PASSWORD", ADMIN_PASSWORD);
        }
        command
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if !vars.iter().any(|(k, _)| *k == "PORT" || *k == "TRAE_BIND") {
            command.env("TRAE_BIND", "127.0.0.1:0");
        }
        let mut child = command.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(addr) = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
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

    /// Sends SIGTERM and waits up to `within` for a successful exit.
    fn stop_with_sigterm(&mut self, within: Duration) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "trae did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "exit status {status}");
    }

    fn data_dir(&self) -> &Path {
        self._dir.path()
    }

    /// `Bearer <token>` for the bootstrap admin.
    fn admin(&self) -> String {
        let login = self.request(
            "POST",
            "/api/auth/login",
            &[],
            Some(&json!({"username": "root", "password": ADMIN_PASSWORD})),
        );
        assert_eq!(login.status, 200, "{}", login.body);
        format!("Bearer {}", login.json()["access_token"].as_str().unwrap())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
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
        self.raw(&[head.as_bytes(), body.as_bytes()].concat())
    }

    fn raw(&self, bytes: &[u8]) -> Reply {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(bytes).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        Reply::parse(&response)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn parse(raw: &[u8]) -> Self {
        let mut reader = BufReader::new(raw);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            headers.push((k.to_ascii_lowercase(), v.trim().to_owned()));
        }
        let mut body = String::new();
        reader.read_to_string(&mut body).unwrap();
        Self {
            status,
            headers,
            body,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn trae(data_dir: &Path, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(TRAE);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TRAE_DATA_DIR", data_dir)
        .env("TRAE_LOG", "info")
        .env("TRAE_LOG_FORMAT", "json");
    for (k, v) in vars {
        command.env(k, v);
    }
    command
}

fn run(data_dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> Output {
    trae(data_dir, vars).args(args).output().unwrap()
}

#[test]
fn serves_the_api_on_a_sqlite_file_in_the_data_dir() {
    let server = Server::start(&[]);
    assert!(
        server.data_dir().join("trae.db").exists(),
        "the default database is trae.db in TRAE_DATA_DIR"
    );
    assert_eq!(
        server.request("GET", "/api/health/ready", &[], None).status,
        200
    );

    let admin = server.admin();
    let auth = [("Authorization", admin.as_str())];
    let created = server.request(
        "POST",
        "/api/pets",
        &auth,
        Some(&json!({"name": "Rex", "species": "dog", "age": 3})),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let location = created.header("location").unwrap().to_owned();
    let got = server.request("GET", &location, &auth, None);
    assert_eq!(
        (got.status, got.json()["name"].as_str()),
        (200, Some("Rex"))
    );

    let runtime = server.request("GET", "/api/runtime", &auth, None).json();
    assert_eq!(runtime["database_backend"], "sqlite");
    assert_eq!(server.request("GET", "/api/pets", &[], None).status, 401);
    assert_eq!(server.request("GET", "/docs", &[], None).status, 200);
}

#[test]
fn chunked_bodies_over_the_limit_are_413() {
    let server = Server::start(&[("TRAE_MAX_BODY_BYTES", "1024")]);
    let admin = server.admin();
    let chunked = |payload: &str| {
        let mut raw = format!(
            "POST /api/pets HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: {admin}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        for chunk in payload.as_bytes().chunks(100) {
            raw.push_str(&format!(
                "{:x}\r\n{}\r\n",
                chunk.len(),
                std::str::from_utf8(chunk).unwrap()
            ));
        }
        raw.push_str("0\r\n\r\n");
        server.raw(raw.as_bytes())
    };
    let big =
        json!({"name": "Rex", "species": "dog", "age": 3, "tags": ["x".repeat(2000)]}).to_string();
    let reply = chunked(&big);
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert_eq!(reply.json()["error"]["code"], "payload_too_large");

    let small = json!({"name": "Rex", "species": "dog", "age": 3}).to_string();
    assert_eq!(
        chunked(&small).status,
        201,
        "a chunked body under the limit is accepted"
    );
    let listed = server
        .request("GET", "/api/pets", &[("Authorization", &admin)], None)
        .json();
    assert_eq!(listed["total"], 1, "the oversized body wrote nothing");
}

#[test]
fn every_log_line_of_a_request_names_its_id() {
    let server = Server::start(&[]);
    let admin = server.admin();
    let reply = server.request(
        "POST",
        "/api/pets",
        &[("X-Request-Id", "trace-me-42"), ("Authorization", &admin)],
        Some(&json!({"name": "Rex", "species": "dog", "age": 300})),
    );
    assert_eq!(reply.status, 422);
    assert_eq!(reply.header("x-request-id"), Some("trace-me-42"));
    std::thread::sleep(Duration::from_millis(100));
    let lines: Vec<Value> = server
        .log()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &Value| v["span"]["id"] == "trace-me-42")
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "served" && l["fields"]["status"] == 422),
        "the access line carries the request id: {lines:?}"
    );
}

#[test]
fn sigterm_drains_and_exits_cleanly() {
    let mut server = Server::start(&[]);
    assert_eq!(
        server.request("GET", "/api/health/live", &[], None).status,
        200
    );
    server.stop_with_sigterm(Duration::from_secs(15));
    let log = server.log();
    assert!(
        log.contains("SIGTERM received") && log.contains("trae stopped"),
        "{log}"
    );
}

#[test]
fn port_sets_the_port_and_trae_bind_wins() {
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let port = free_port().to_string();
    let server = Server::start(&[("PORT", &port)]);
    assert_eq!(server.addr, format!("127.0.0.1:{port}"));
    drop(server);

    let bind = format!("127.0.0.1:{}", free_port());
    let server = Server::start(&[("PORT", "1"), ("TRAE_BIND", &bind)]);
    assert_eq!(server.addr, bind);
}

#[test]
fn invalid_configuration_exits_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("TRAE_BIND", "nonsense"),
        ("TRAE_LOG_FORMAT", "xml"),
        ("TRAE_DATABASE_URL", "mysql://x/y"),
    ] {
        let out = run(dir.path(), &[(var, value)], &["serve"]);
        assert!(!out.status.success(), "{var}={value} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(var), "{var}={value}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    std::fs::write(dir.path().join("trae.toml"), "bind = 8000\n").unwrap();
    let out = run(dir.path(), &[], &["serve"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("trae.toml"));
}

#[test]
fn migrate_reports_and_moves_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let text = |out: Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let status = text(run(dir.path(), &[], &["migrate", "status"]));
    assert!(
        status.contains("pending") && status.contains("create_pets"),
        "{status}"
    );
    let up = text(run(dir.path(), &[], &["migrate", "up"]));
    assert!(up.contains("applied") && !up.contains("pending"), "{up}");
    let down = text(run(dir.path(), &[], &["migrate", "down", "--steps", "1"]));
    assert!(down.contains("pending"), "{down}");
}

#[test]
fn openapi_prints_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &[], &["openapi"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(spec["paths"]["/api/pets/{id}"]["patch"].is_object());
    assert!(
        !dir.path().join("trae.db").exists(),
        "printing the spec touches no database"
    );
}

/// A secrets master key the PostgreSQL nodes of a test share (base64 of 32 bytes).
const PG_MASTER_KEY: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYgo=";

#[tokio::test]
async fn serves_on_postgresql() {
    let Some(db) = trae_storage::testing::TestDatabase::postgres("serves_on_postgresql").await
    else {
        return;
    };
    let url = db.url.clone();
    trae_storage::testing::with_database(db, |url2: String| async move {
        assert_eq!(url, url2);
        // Without a shared secrets master key a PostgreSQL node refuses to start.
        let dir = tempfile::tempdir().unwrap();
        let out = run(dir.path(), &[("TRAE_DATABASE_URL", &url2)], &["serve"]);
        assert!(!out.status.success(), "served without TRAE_MASTER_KEY");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("TRAE_MASTER_KEY is required with PostgreSQL"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        let server = Server::start(&[
            ("TRAE_DATABASE_URL", &url2),
            ("TRAE_MASTER_KEY", PG_MASTER_KEY),
        ]);
        assert!(!server.data_dir().join("trae.db").exists());
        assert_eq!(
            server.request("GET", "/api/health/ready", &[], None).status,
            200
        );
        let admin = server.admin();
        let auth = [("Authorization", admin.as_str())];
        let created = server.request(
            "POST",
            "/api/pets",
            &auth,
            Some(&json!({"name": "Rex", "species": "dog", "age": 3, "tags": ["pg"]})),
        );
        assert_eq!(created.status, 201, "{}", created.body);
        let listed = server
            .request("GET", "/api/pets?tag=pg", &auth, None)
            .json();
        assert_eq!(listed["total"], 1);
        assert_eq!(
            server.request("GET", "/api/runtime", &auth, None).json()["database_backend"],
            "postgres"
        );
        // A second node on the same database accepts the first node's token: the signing
        // key lives in the database.
        let other = Server::start(&[
            ("TRAE_DATABASE_URL", &url2),
            ("TRAE_MASTER_KEY", PG_MASTER_KEY),
        ]);
        assert_eq!(
            other.request("GET", "/api/auth/me", &auth, None).status,
            200
        );
    })
    .await;
}

#[test]
fn user_create_makes_an_account_from_stdin_or_trae_password() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = trae(dir.path(), &[])
        .args([
            "user",
            "create",
            "Grace",
            "--email",
            "grace@example.com",
            "--role",
            "admin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long admin password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("created user grace") && stdout.contains("admin"),
        "{stdout}"
    );

    let weak = run(
        dir.path(),
        &[("TRAE_PASSWORD", "short")],
        &["user", "create", "bob", "--email", "bob@example.com"],
    );
    assert!(!weak.status.success());
    let stderr = String::from_utf8_lossy(&weak.stderr);
    assert!(stderr.contains("password"), "{stderr}");
    let taken = run(
        dir.path(),
        &[("TRAE_PASSWORD", "another long password")],
        &["user", "create", "grace", "--email", "g2@example.com"],
    );
    assert!(!taken.status.success());
    assert!(String::from_utf8_lossy(&taken.stderr).contains("already exists"));

    // The account works against a server on the same data directory, and no bootstrap admin
    // is created beside it.
    let server = Server::start(&[
        ("TRAE_DATA_DIR", dir.path().to_str().unwrap()),
        ("TRAE_ADMIN_USERNAME", "root"),
        ("TRAE_ADMIN_PASSWORD", ADMIN_PASSWORD),
    ]);
    let login = server.request(
        "POST",
        "/api/auth/login",
        &[],
        Some(&json!({"username": "grace", "password": "a long admin password"})),
    );
    assert_eq!(login.status, 200, "{}", login.body);
    assert_eq!(login.json()["user"]["roles"], json!(["admin"]));
    let root = server.request(
        "POST",
        "/api/auth/login",
        &[],
        Some(&json!({"username": "root", "password": ADMIN_PASSWORD})),
    );
    assert_eq!(
        root.status, 401,
        "an admin existed, so none was bootstrapped"
    );
}

#[test]
fn the_client_ip_comes_from_a_trusted_proxy_only() {
    let failed_login_ip = |server: &Server| {
        let reply = server.request(
            "POST",
            "/api/auth/login",
            &[("X-Forwarded-For", "203.0.113.7")],
            Some(&json!({"username": "nobody", "password": "whatever it is"})),
        );
        assert_eq!(reply.status, 401);
        let admin = server.admin();
        let log = server
            .request(
                "GET",
                "/api/audit?action=auth.login&limit=50",
                &[("Authorization", &admin)],
                None,
            )
            .json();
        log["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["outcome"] == "failure")
            .map(|e| e["ip"].as_str().unwrap_or_default().to_owned())
            .unwrap()
    };
    let direct = Server::start(&[]);
    assert_eq!(
        failed_login_ip(&direct),
        "127.0.0.1",
        "an untrusted peer's header is ignored"
    );
    let proxied = Server::start(&[("TRAE_TRUSTED_PROXIES", "127.0.0.1/32")]);
    assert_eq!(failed_login_ip(&proxied), "203.0.113.7");
}

/// Runs `trae args…` with `stdin` piped in.
fn run_with_stdin(data_dir: &Path, vars: &[(&str, &str)], args: &[&str], stdin: &[u8]) -> Output {
    let mut child = trae(data_dir, vars)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// The output of a command that must succeed.
fn succeeded(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The stderr of a command that must fail.
fn failed(out: Output) -> String {
    assert!(
        !out.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[test]
fn secrets_cli_sets_from_stdin_gets_lists_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let value = "sk-cli-4e1d9b7a2c5f8e3d";
    let set = succeeded(run_with_stdin(
        d,
        &[],
        &[
            "secrets",
            "set",
            "OPENAI_API_KEY",
            "--description",
            "the model provider",
            "--tag",
            "prod",
        ],
        format!("{value}\n").as_bytes(),
    ));
    assert!(
        set.contains("OPENAI_API_KEY") && set.contains("version 1"),
        "{set}"
    );
    assert!(!set.contains(value));
    // The key file was created beside the database, private to its owner.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(d.join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // `get` prints the value and one newline, nothing else; one trailing newline was
    // stripped on the way in, so a value's own newlines survive.
    let get = run(d, &[], &["secrets", "get", "OPENAI_API_KEY"]);
    assert_eq!(succeeded(get), format!("{value}\n"));
    succeeded(run_with_stdin(
        d,
        &[],
        &["secrets", "set", "OPENAI_API_KEY"],
        b"two\n\n",
    ));
    let get = run(d, &[], &["secrets", "get", "OPENAI_API_KEY"]);
    assert_eq!(succeeded(get), "two\n\n");
    let first = run(
        d,
        &[],
        &["secrets", "get", "OPENAI_API_KEY", "--version", "1"],
    );
    assert_eq!(succeeded(first), format!("{value}\n"));

    let list = succeeded(run(d, &[], &["secrets", "list"]));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("DESCRIPTION"),
        "{list}"
    );
    assert!(
        lines[1].starts_with("OPENAI_API_KEY")
            && lines[1].contains(" 2 ")
            && lines[1].ends_with("the model provider"),
        "{list}"
    );
    assert!(!list.contains(value) && !list.contains("two"), "{list}");
    let none = succeeded(run(d, &[], &["secrets", "list", "--prefix", "DB_"]));
    assert_eq!(none.lines().count(), 1, "only the header: {none}");
    let versions = succeeded(run(d, &[], &["secrets", "versions", "OPENAI_API_KEY"]));
    assert_eq!(versions.lines().count(), 3, "{versions}");
    assert!(versions.contains("system"), "{versions}");

    // The value is never an argument, and an empty one is refused.
    let argv = failed(run(d, &[], &["secrets", "set", "OTHER", "inline-value"]));
    assert!(argv.contains("unexpected argument"), "{argv}");
    let empty = failed(run_with_stdin(d, &[], &["secrets", "set", "OTHER"], b"\n"));
    assert!(empty.contains("no value on stdin"), "{empty}");
    let bad = failed(run_with_stdin(
        d,
        &[],
        &["secrets", "set", "bad name"],
        b"x",
    ));
    assert!(bad.contains("name"), "{bad}");

    let deleted = succeeded(run(d, &[], &["secrets", "delete", "OPENAI_API_KEY"]));
    assert!(deleted.contains("2 versions"), "{deleted}");
    let gone = run(d, &[], &["secrets", "get", "OPENAI_API_KEY"]);
    assert!(gone.stdout.is_empty());
    let stderr = failed(gone);
    assert!(
        stderr.contains("secret OPENAI_API_KEY not found"),
        "{stderr}"
    );
    assert!(!stderr.contains(value));
    let list = succeeded(run(d, &[], &["secrets", "list"]));
    assert_eq!(list.lines().count(), 1, "{list}");
}

#[test]
fn secrets_cli_rotation_keeps_the_old_key_reading_until_it_is_retired() {
    const K1: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    const K2: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
    const K3: &str = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=";
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let with = |key: &'static str| [("TRAE_MASTER_KEY", key)];
    succeeded(run_with_stdin(
        d,
        &with(K1),
        &["secrets", "set", "token"],
        b"v1",
    ));

    let keys = succeeded(run(d, &with(K1), &["secrets", "master-keys"]));
    assert_eq!(keys.lines().count(), 2, "{keys}");
    let k1_id = keys
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();

    let rotated = succeeded(run_with_stdin(
        d,
        &with(K1),
        &["secrets", "rotate-master-key"],
        format!("{K2}\n").as_bytes(),
    ));
    assert!(rotated.contains(&format!("from {k1_id}")), "{rotated}");
    assert!(rotated.contains("TRAE_MASTER_KEY"), "{rotated}");
    assert!(!rotated.contains(K2), "the key is never printed: {rotated}");

    // During the overlap the old key still reads what existed at the rotation, but cannot
    // write; the new key reads and writes, and versions it writes are its alone.
    let get = |key: &'static str| run(d, &with(key), &["secrets", "get", "token"]);
    assert_eq!(succeeded(get(K1)), "v1\n");
    assert_eq!(succeeded(get(K2)), "v1\n");
    let refused = failed(run_with_stdin(
        d,
        &with(K1),
        &["secrets", "set", "token"],
        b"v3",
    ));
    assert!(refused.contains("rotated"), "{refused}");
    succeeded(run_with_stdin(
        d,
        &with(K2),
        &["secrets", "set", "token"],
        b"v2",
    ));
    assert_eq!(succeeded(get(K2)), "v2\n");
    let newer = failed(get(K1));
    assert!(newer.contains("load the current master key"), "{newer}");
    let v1 = |key: &'static str| {
        run(
            d,
            &with(key),
            &["secrets", "get", "token", "--version", "1"],
        )
    };
    assert_eq!(succeeded(v1(K1)), "v1\n");
    let unknown = failed(run(d, &with(K3), &["secrets", "get", "token"]));
    assert!(unknown.contains("wrong secrets master key"), "{unknown}");

    // Retiring the old key ends the overlap: its holder fails clearly, the new key reads.
    let retired = succeeded(run(d, &with(K2), &["secrets", "retire-master-key", &k1_id]));
    assert!(retired.contains(&k1_id), "{retired}");
    let stale = failed(v1(K1));
    assert!(stale.contains(&k1_id), "{stale}");
    assert_eq!(succeeded(v1(K2)), "v1\n");
    assert_eq!(succeeded(get(K2)), "v2\n");

    // The new key may also come from a file; a malformed one changes nothing.
    let bad = failed(run_with_stdin(
        d,
        &with(K2),
        &["secrets", "rotate-master-key"],
        b"not a key",
    ));
    assert!(bad.contains("base64"), "{bad}");
    let key_file = d.join("k3.key");
    std::fs::write(&key_file, K3).unwrap();
    succeeded(run(
        d,
        &with(K2),
        &[
            "secrets",
            "rotate-master-key",
            "--key-file",
            key_file.to_str().unwrap(),
        ],
    ));
    assert_eq!(succeeded(get(K3)), "v2\n");
}

#[test]
fn secrets_cli_rotation_replaces_the_sqlite_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    succeeded(run_with_stdin(
        d,
        &[],
        &["secrets", "set", "token"],
        b"kept",
    ));
    let old = std::fs::read_to_string(d.join("master.key")).unwrap();
    const NEW: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
    let rotated = succeeded(run_with_stdin(
        d,
        &[],
        &["secrets", "rotate-master-key"],
        NEW.as_bytes(),
    ));
    assert!(rotated.contains("key file"), "{rotated}");
    assert_eq!(
        std::fs::read_to_string(d.join("master.key"))
            .unwrap()
            .trim(),
        NEW
    );
    assert_eq!(
        succeeded(run(d, &[], &["secrets", "get", "token"])),
        "kept\n"
    );
    let old_key = [("TRAE_MASTER_KEY", old.trim())];
    assert_eq!(
        succeeded(run(d, &old_key, &["secrets", "get", "token"])),
        "kept\n",
        "the previous key still reads during the overlap"
    );
}

#[test]
fn backup_cli_creates_verifies_and_restores_a_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let user = |name: &str| {
        run(
            d,
            &[("TRAE_PASSWORD", "a long enough password")],
            &[
                "user",
                "create",
                name,
                "--email",
                &format!("{name}@example.com"),
            ],
        )
    };
    succeeded(user("alice"));

    // The default location: <data dir>/backups/trae-<timestamp>.db, with its manifest.
    let created = succeeded(run(d, &[], &["backup", "create"]));
    let path = created
        .lines()
        .find_map(|l| l.strip_prefix("backup"))
        .map(|p| PathBuf::from(p.trim()))
        .unwrap_or_else(|| panic!("no path in {created}"));
    assert!(path.starts_with(d.join("backups")), "{}", path.display());
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("trae-") && name.ends_with(".db"), "{name}");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(d.join("backups").join(format!("{name}.manifest.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(
        manifest["size"].as_u64().unwrap(),
        std::fs::metadata(&path).unwrap().len()
    );
    assert_eq!(manifest["sha256"].as_str().unwrap().len(), 64);
    assert!(
        manifest["schema_version"]
            .as_str()
            .unwrap()
            .starts_with('m')
    );
    assert!(manifest["trae_version"].is_string() && manifest["created_at"].is_string());
    let backup = path.to_str().unwrap();
    let verified = succeeded(run(d, &[], &["backup", "verify", backup]));
    assert!(verified.starts_with("ok"), "{verified}");

    // --out, and an existing file is never overwritten.
    let out = d.join("elsewhere").join("copy.db");
    succeeded(run(
        d,
        &[],
        &["backup", "create", "--out", out.to_str().unwrap()],
    ));
    let again = failed(run(
        d,
        &[],
        &["backup", "create", "--out", out.to_str().unwrap()],
    ));
    assert!(again.contains("already exists"), "{again}");

    // bob arrives after the backup; restoring forgets him, so he can be created again.
    succeeded(user("bob"));
    let stderr = failed(user("bob"));
    assert!(!stderr.contains("panicked"), "{stderr}");
    let restored = succeeded(run(d, &[], &["backup", "restore", backup]));
    assert!(restored.contains("previous"), "{restored}");
    assert!(std::fs::read_dir(d).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("trae.db.before-restore-")
    }));
    succeeded(user("bob"));
    let stderr = failed(user("alice"));
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A flipped byte fails verification and restore.
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let stderr = failed(run(d, &[], &["backup", "verify", backup]));
    assert!(stderr.contains("checksum mismatch"), "{stderr}");
    let stderr = failed(run(d, &[], &["backup", "restore", backup]));
    assert!(stderr.contains("checksum mismatch"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn backup_restore_is_refused_while_trae_serve_runs() {
    let server = Server::start(&[]);
    let d = server.data_dir().to_path_buf();
    // An online backup works while the server runs.
    let out = d.join("live.db");
    succeeded(run(
        &d,
        &[],
        &["backup", "create", "--out", out.to_str().unwrap()],
    ));
    succeeded(run(&d, &[], &["backup", "verify", out.to_str().unwrap()]));
    let stderr = failed(run(&d, &[], &["backup", "restore", out.to_str().unwrap()]));
    assert!(stderr.contains("in use"), "{stderr}");
    assert_eq!(
        server.request("GET", "/api/health/ready", &[], None).status,
        200
    );
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("live.db");
    std::fs::copy(&out, &kept).unwrap();
    std::fs::copy(
        d.join("live.db.manifest.json"),
        dir.path().join("live.db.manifest.json"),
    )
    .unwrap();
    drop(server);
    // The data dir went with the server; restore into a fresh one once nothing holds it.
    let fresh = tempfile::tempdir().unwrap();
    let restored = succeeded(run(
        fresh.path(),
        &[],
        &["backup", "restore", kept.to_str().unwrap()],
    ));
    assert!(restored.contains("restored"), "{restored}");
    let status = succeeded(run(fresh.path(), &[], &["migrate", "status"]));
    assert!(!status.contains("pending"), "{status}");
}

#[tokio::test]
async fn backup_on_postgresql_uses_pg_dump_or_says_it_is_missing() {
    let Some(db) = trae_storage::testing::TestDatabase::postgres("backup_on_postgresql").await
    else {
        return;
    };
    trae_storage::testing::with_database(db, |url: String| async move {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let vars = [("TRAE_DATABASE_URL", url.as_str())];
        succeeded(run(d, &vars, &["migrate", "up"]));
        let out = d.join("pg.dump");
        let create = run(
            d,
            &vars,
            &["backup", "create", "--out", out.to_str().unwrap()],
        );
        let path = std::env::var_os("PATH").unwrap_or_default();
        let has_pg_dump = std::env::split_paths(&path).any(|p| p.join("pg_dump").is_file());
        if has_pg_dump {
            succeeded(create);
            let bytes = std::fs::read(&out).unwrap();
            assert!(bytes.starts_with(b"PGDMP"), "a pg_dump custom archive");
            let verified = succeeded(run(d, &vars, &["backup", "verify", out.to_str().unwrap()]));
            assert!(verified.starts_with("ok"), "{verified}");
            let stderr = failed(run(d, &vars, &["backup", "restore", out.to_str().unwrap()]));
            assert!(stderr.contains("pg_restore"), "{stderr}");
        } else {
            let stderr = failed(create);
            assert!(stderr.contains("pg_dump"), "{stderr}");
        }
        // Without pg_dump on PATH the error names it.
        let empty = tempfile::tempdir().unwrap();
        let missing = d.join("missing.dump");
        let stderr = failed(run(
            d,
            &[
                ("TRAE_DATABASE_URL", url.as_str()),
                ("PATH", empty.path().to_str().unwrap()),
            ],
            &["backup", "create", "--out", missing.to_str().unwrap()],
        ));
        assert!(stderr.contains("pg_dump is not installed"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!missing.exists());
    })
    .await;
}

#[test]
fn auth_cli_rotates_the_signing_key_and_refuses_a_configured_secret() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first = succeeded(run(d, &[], &["auth", "rotate-signing-key"]));
    assert!(first.starts_with("new signing key "), "{first}");
    assert!(
        d.join("master.key").exists(),
        "the signing keys are sealed by the data directory's master key"
    );
    let second = succeeded(run(d, &[], &["auth", "rotate-signing-key"]));
    let new_kid = first.lines().next().unwrap().rsplit(' ').next().unwrap();
    assert!(
        second.contains(&format!("retired signing key {new_kid}")),
        "{second}"
    );
    let refused = failed(run(
        d,
        &[(
            "TRAE_JWT_SECRET",
            "a configured secret of at least thirty-two bytes",
        )],
        &["auth", "rotate-signing-key"],
    ));
    assert!(refused.contains("TRAE_JWT_SECRET"), "{refused}");
}

#[test]
fn sigterm_checkpoints_so_the_database_file_alone_is_a_cold_copy() {
    let mut server = Server::start(&[("TRAE_REQUEST_HISTORY_PERCENT", "100")]);
    let admin = server.admin();
    for n in 0..20 {
        let reply = server.request(
            "POST",
            "/api/pets",
            &[("Authorization", &admin)],
            Some(&json!({"name": format!("pet {n}"), "species": "cat", "age": 2})),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    server.stop_with_sigterm(Duration::from_secs(30));
    let log = server.log();
    assert!(
        !log.contains("batch write failed"),
        "history was dropped:\n{log}"
    );
    let wal = server.data_dir().join("trae.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "committed data left in the -wal file after a clean stop"
    );
    // Only the .db file, copied cold, into a directory of its own.
    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_dir.path().join("trae.db");
    std::fs::copy(server.data_dir().join("trae.db"), &copy).unwrap();
    let rows = count_rows(&copy, "pets");
    assert_eq!(rows, 20, "every pet is in the copied file");
    let history = count_rows(&copy, "request_history");
    assert!(
        history >= 21,
        "the request history was written before the close: {history}"
    );
}

/// Rows of `table` in the SQLite file at `path`, read with a plain connection.
fn count_rows(path: &Path, table: &str) -> i64 {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sqlx::Connection;
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .read_only(true);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .unwrap();
            let n: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
            n
        })
}

#[test]
fn a_data_directory_without_its_parent_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("unmounted-volume").join("trae");
    let out = run(
        dir.path(),
        &[("TRAE_DATA_DIR", missing.to_str().unwrap())],
        &["serve"],
    );
    assert!(!out.status.success(), "started on a missing volume");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(stderr.contains("unmounted-volume"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !dir.path().join("unmounted-volume").exists(),
        "nothing was made"
    );
}

#[test]
fn events_tail_follows_the_server_from_another_process() {
    let server = Server::start(&[]);
    let admin = server.admin();
    let auth = [("Authorization", admin.as_str())];
    let start = server
        .request("GET", "/api/events?topics=pets", &auth, None)
        .json();
    let pet = |name: &str| {
        let created = server.request(
            "POST",
            "/api/pets",
            &auth,
            Some(&json!({"name": name, "species": "dog", "age": 1})),
        );
        assert_eq!(created.status, 201, "{}", created.body);
    };
    pet("Rex");
    let since = start["next"].to_string();
    let epoch = start["epoch"].as_str().unwrap().to_owned();
    let mut tail = trae(server.data_dir(), &[])
        .args(["events", "tail", "--json", "--topics", "pets"])
        .args(["--since", &since, "--epoch", &epoch])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, read) = std::sync::mpsc::channel();
    let stdout = tail.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let next = || -> Value {
        let line = read
            .recv_timeout(Duration::from_secs(20))
            .expect("no line from trae events tail");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    // The replay, then what the server publishes while the tail runs (found by polling the
    // SQLite file from this other process).
    let replayed = next();
    assert_eq!(
        (
            replayed["kind"].as_str(),
            replayed["payload"]["name"].as_str()
        ),
        (Some("pet.created"), Some("Rex"))
    );
    pet("Tom");
    let live = next();
    assert_eq!(live["payload"]["name"], "Tom");
    assert_eq!(
        live["seq"].as_u64().unwrap(),
        replayed["seq"].as_u64().unwrap() + 1
    );
    let pid = tail.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tail.wait().unwrap();
    assert!(status.success(), "{status}");

    // Readable lines; lost history is reported and the tail goes on from the end.
    let mut readable = trae(server.data_dir(), &[("TRAE_LOG", "warn")])
        .args([
            "events", "tail", "--topics", "pets", "--since", "1", "--epoch",
        ])
        .arg("0123456789abcdef0123456789abcdef")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = readable.stderr.take().unwrap();
    let mut err_lines = BufReader::new(stderr).lines();
    let first = err_lines.next().unwrap().unwrap();
    assert!(first.starts_with("history lost: epoch"), "{first}");
    let following = err_lines.next().unwrap().unwrap();
    assert!(following.starts_with("following epoch"), "{following}");
    pet("Zed");
    let stdout = readable.stdout.take().unwrap();
    let line = BufReader::new(stdout).lines().next().unwrap().unwrap();
    assert!(line.contains("  pets     pet.created"), "{line}");
    assert!(line.contains("\"Zed\""), "{line}");
    readable.kill().unwrap();
    let _ = readable.wait();

    let refused = run(
        server.data_dir(),
        &[],
        &["events", "tail", "--topics", "nope"],
    );
    let message = failed(refused);
    assert!(message.contains("unknown topic \"nope\""), "{message}");
}

#[test]
fn llm_cli_streams_an_answer_prints_json_and_lists_models() {
    use trae_agents::testing::{Reply as LlmReply, ScriptedLlm};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let llm = runtime.block_on(ScriptedLlm::start()).unwrap();
    let loopback = [("TRAE_OUTBOUND_ALLOW_LOOPBACK", "true")];
    let server = Server::start(&loopback);
    let auth = server.admin();
    let created = server.request(
        "POST",
        "/api/apis",
        &[("Authorization", &auth)],
        Some(
            &json!({"name": "local", "capability": "llm.chat", "base_url": llm.base_url(),
                     "metadata": {"models": ["smollm2"], "context_window": 2048}}),
        ),
    );
    assert_eq!(created.status, 201, "{}", created.body);

    llm.push(LlmReply::text("Hello from the script"));
    let out = run(
        server.data_dir(),
        &loopback,
        &[
            "llm",
            "chat",
            "hi there",
            "--system",
            "be brief",
            "--max-tokens",
            "50",
        ],
    );
    let summary = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(succeeded(out), "Hello from the script\n");
    assert!(summary.contains("on local: 10 + 6 tokens"), "{summary}");
    let logged = summary
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["fields"]["message"] == "model call")
        .unwrap_or_else(|| panic!("no model call logged: {summary}"));
    assert_eq!(logged["fields"]["model"], "smollm2");
    assert_eq!(logged["fields"]["endpoint"], "local");
    assert_eq!(logged["fields"]["completion_tokens"], 6);
    assert!(logged["fields"]["latency_ms"].is_u64());
    assert!(
        !summary.contains("hi there") && !summary.contains("Hello from"),
        "prompts and answers stay out of the log: {summary}"
    );
    let sent = &llm.requests()[0];
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["model"], "smollm2");
    assert_eq!(sent["max_tokens"], 50);
    assert_eq!(sent["messages"][0]["content"], "be brief");

    llm.push(LlmReply::text("from stdin"));
    let out = run_with_stdin(
        server.data_dir(),
        &loopback,
        &["llm", "chat", "--json"],
        b"a prompt on stdin",
    );
    let answer: Value = serde_json::from_str(&succeeded(out)).unwrap();
    assert_eq!(answer["content"], "from stdin");
    assert_eq!(answer["endpoint"], "local");
    assert_eq!(
        llm.requests()[1]["messages"][0]["content"],
        "a prompt on stdin"
    );

    let listed = succeeded(run(server.data_dir(), &loopback, &["llm", "models"]));
    assert!(
        listed.starts_with("local  default=-  serves=smollm2  window=2048"),
        "{listed}"
    );
    let listed: Value = serde_json::from_str(&succeeded(run(
        server.data_dir(),
        &loopback,
        &["llm", "models", "--json"],
    )))
    .unwrap();
    assert_eq!(listed[0]["models"], json!(["smollm2"]));

    let refused = failed(run(
        server.data_dir(),
        &loopback,
        &["llm", "chat", "hi", "--model", "gpt-9"],
    ));
    assert!(refused.contains("gpt-9"), "{refused}");
    let refused = failed(run(
        server.data_dir(),
        &loopback,
        &["llm", "chat", "hi", "--temperature", "7"],
    ));
    assert!(refused.contains("temperature"), "{refused}");
    let refused = failed(run(
        server.data_dir(),
        &loopback,
        &["llm", "chat", "hi", "--persona", "nobody"],
    ));
    assert!(refused.contains("persona_id"), "{refused}");
    assert_eq!(llm.requests().len(), 2, "refused calls send nothing");

    let persona = server.request(
        "POST",
        "/api/personas",
        &[("Authorization", &auth)],
        Some(&json!({"name": "Grace", "description": "A rear admiral of compilers"})),
    );
    assert_eq!(persona.status, 201, "{}", persona.body);
    let id = persona.json()["id"].as_str().unwrap().to_owned();
    llm.push(LlmReply::text("Aye."));
    let out = run(
        server.data_dir(),
        &loopback,
        &["llm", "chat", "report", "--persona", &id],
    );
    assert_eq!(succeeded(out), "Aye.\n");
    let system = llm.requests()[2]["messages"][0].clone();
    assert_eq!(system["role"], "system");
    assert!(
        system["content"].as_str().unwrap().contains("Grace"),
        "{system}"
    );
}
