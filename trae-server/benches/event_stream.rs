//! The event stream (issue 21), against its targets:
//!
//! 1. **Stored events per second** (≥ 20,000 on SQLite, ≥ 10,000 on PostgreSQL): events
//!    published through a store's bus in bursts below the writer's queue, until all are in the
//!    log; beside it, in the same run, the log's raw append rate in batches of 1,000 (the
//!    ceiling).
//! 2. **Publish overhead** (≤ 20 µs on the publishing request): one `publish` on the store's
//!    bus (in-process bus plus the log's queue), against the in-process bus alone, per call,
//!    alternating rounds in one run.
//! 3. **Fan-out over WebSockets** (1,000 subscribers, 1,000 events/s: delivery p99 ≤ 50 ms, no
//!    drops; ≤ 32 KiB per idle connection): a real `trae serve` (the release binary) on a
//!    SQLite file; this process opens the sockets (auth, subscribe to `pets`), reads the
//!    server's RSS before and after, then creates pets over HTTP at the rate and measures each
//!    event from the request that made it to its arrival at every socket.
//! 4. **Across nodes** (PostgreSQL, p99 ≤ 100 ms), when `TRAE_BENCH_DATABASE_URL` names a
//!    server: two `trae serve` on one fresh database; pets created on one node, followed by
//!    sockets on the other.
//!
//! Knobs: `TRAE_BENCH_SUBSCRIBERS` (1000), `TRAE_BENCH_RATES` (`100,1000` events/s, one round
//! each),
//! `TRAE_BENCH_SECS` (10), `TRAE_BENCH_EVENTS` (200000 for phase 1), `TRAE_BENCH_PARTS`
//! (`stored,overhead,fanout,nodes`: the parts to run), `TRAE_BENCH_TRAE` (the `trae` binary
//! the server parts run; this build's by default).
//! Run: `cargo bench -p trae-server --bench event_stream`.

#![allow(clippy::print_stdout)]

#[path = "shared/bench_env.rs"]
mod bench_env;
use bench_env::{Conn, knob};

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use trae_core::{BroadcastBus, EventBus, NewEvent, SystemClock};
use trae_storage::Store;

const TRAE: &str = env!("CARGO_BIN_EXE_trae");
const PASSWORD: &str = "correct horse battery staple";
const MASTER_KEY: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYgo=";

fn main() {
    let subscribers = knob("TRAE_BENCH_SUBSCRIBERS", 1000) as usize;
    let rates: Vec<u64> = std::env::var("TRAE_BENCH_RATES")
        .unwrap_or_else(|_| "100,1000".into())
        .split(',')
        .map(|r| r.trim().parse().expect("TRAE_BENCH_RATES: whole numbers"))
        .collect();
    let secs = knob("TRAE_BENCH_SECS", 10);
    let events = knob("TRAE_BENCH_EVENTS", 200_000);
    let pg = std::env::var("TRAE_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!("event stream bench: {cores} cores");
    let parts =
        std::env::var("TRAE_BENCH_PARTS").unwrap_or_else(|_| "stored,overhead,fanout,nodes".into());
    let part = |name: &str| parts.split(',').any(|p| p.trim() == name);
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temporary directory");
        let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("lib.db").display());
        if part("stored") {
            stored_rate("sqlite", &sqlite, events).await;
            if let Some(admin) = &pg {
                let db = PgDatabase::create(admin, "lib").await;
                stored_rate("postgres", &db.url, events).await;
                db.drop().await;
            }
        }
        if part("overhead") {
            publish_overhead(&sqlite).await;
        }
        if part("fanout") {
            fan_out(subscribers, &rates, secs).await;
        }
        match &pg {
            Some(admin) if part("nodes") => across_nodes(admin, 200, secs).await,
            Some(_) => {}
            None => println!("\nacross nodes: skipped (set TRAE_BENCH_DATABASE_URL)"),
        }
    });
}

// ---------------------------------------------------------------------------------------------
// 1. Stored events per second.
// ---------------------------------------------------------------------------------------------

async fn stored_rate(engine: &str, url: &str, total: u64) {
    let store = Store::connect(url).await.expect("store");
    let stream = store.event_stream().expect("an event log");
    let bus = store.events();
    let payload = json!({"id": "0193f1e2-7c4a-7b5e-9d0f-2a1b3c4d5e6f", "queue": "default", "kind": "noop", "state": "completed", "attempt": 1});
    // Bursts well below the writer's queue (100,000), so nothing is dropped.
    let burst = 20_000u64;
    let before = stream.position().await.expect("position").last_seq;
    let started = Instant::now();
    let mut sent = 0;
    while sent < total {
        let n = burst.min(total - sent);
        for _ in 0..n {
            bus.publish("tasks", "task.completed", payload.clone());
        }
        stream.flush().await;
        sent += n;
    }
    let secs = started.elapsed().as_secs_f64();
    let stored = stream.position().await.expect("position").last_seq - before;
    // The ceiling: the log's own append in batches of 1,000, no queue in front.
    let repo = store.event_repository();
    let batch: Vec<NewEvent> = (0..1000)
        .map(|_| NewEvent {
            id: uuid::Uuid::now_v7(),
            ts: chrono::Utc::now(),
            topic: "tasks".into(),
            source: "tasks".into(),
            kind: "task.completed".into(),
            owner_id: None,
            payload: payload.clone(),
        })
        .collect();
    let raw_started = Instant::now();
    let rounds = (total / 1000).max(1);
    for _ in 0..rounds {
        repo.append(&batch).await.expect("append");
    }
    let raw_secs = raw_started.elapsed().as_secs_f64();
    println!(
        "\nstored events ({engine}): {stored} of {total} published stored in {secs:.2} s = {:.0} events/s \
         (raw append, batches of 1,000: {:.0} events/s)",
        stored as f64 / secs,
        (rounds * 1000) as f64 / raw_secs
    );
    store.close().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Publish overhead.
// ---------------------------------------------------------------------------------------------

async fn publish_overhead(url: &str) {
    let store = Store::connect(url).await.expect("store");
    let stored = store.events();
    let local: Arc<dyn EventBus> = Arc::new(BroadcastBus::new(Arc::new(SystemClock), 1024));
    let payload = json!({"id": "0193f1e2-7c4a-7b5e-9d0f-2a1b3c4d5e6f", "name": "Rex", "species": "dog", "age": 3, "tags": ["good"]});
    let calls = 20_000;
    let mut rows = Vec::new();
    for round in 0..3 {
        for (name, bus) in [
            ("in-process bus only", &local),
            ("store bus (+ log queue)", &stored),
        ] {
            let mut each = Vec::with_capacity(calls);
            for _ in 0..calls {
                let p = payload.clone();
                let t = Instant::now();
                bus.publish("pets", "pet.created", p);
                each.push(t.elapsed().as_nanos() as u64);
            }
            store.event_stream().expect("log").flush().await;
            each.sort_unstable();
            let mean = each.iter().sum::<u64>() as f64 / each.len() as f64 / 1000.0;
            let p99 = each[each.len() * 99 / 100] as f64 / 1000.0;
            rows.push((round, name, mean, p99));
        }
    }
    println!("\npublish overhead per call ({calls} calls per round, rounds alternate):");
    for (round, name, mean, p99) in rows {
        println!("  round {round}  {name:<26} mean {mean:>6.2} µs  p99 {p99:>6.2} µs");
    }
    store.close().await;
}

// ---------------------------------------------------------------------------------------------
// 3. Fan-out over WebSockets.
// ---------------------------------------------------------------------------------------------

/// A `trae serve` child process.
struct Server {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(database_url: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("data dir");
        let log = dir.path().join("server.log");
        // Another build (say, the commit before a change) can be measured the same way.
        let trae = std::env::var("TRAE_BENCH_TRAE").unwrap_or_else(|_| TRAE.to_owned());
        let mut command = Command::new(trae);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TRAE_DATA_DIR", dir.path())
            .env("TRAE_BIND", "127.0.0.1:0")
            .env("TRAE_LOG", "warn,trae_server=info")
            .env("TRAE_LOG_FORMAT", "json")
            .env("TRAE_RATE_LIMIT", "off")
            .env("TRAE_REQUEST_HISTORY_PERCENT", "0")
            .env("TRAE_BACKUP_INTERVAL_HOURS", "0")
            .env("TRAE_ADMIN_USERNAME", "root")
            .env("TRAE_ADMIN_PASSWORD", PASSWORD)
            .env("TRAE_MASTER_KEY", MASTER_KEY)
            .args(["serve", "--workers", "0"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        if let Some(url) = database_url {
            command.env("TRAE_DATABASE_URL", url);
        }
        let mut child = command.spawn().expect("trae serve");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let file = std::fs::File::open(&log).expect("log");
            let addr = std::io::BufReader::new(file)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
                .find_map(|v| v["fields"]["address"].as_str().map(str::to_owned));
            if let Some(addr) = addr {
                return Self {
                    child,
                    addr,
                    _dir: dir,
                };
            }
            assert!(
                child.try_wait().expect("wait").is_none(),
                "trae serve exited"
            );
            assert!(Instant::now() < deadline, "trae serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// CPU time used so far (user + system), in seconds.
    fn cpu_secs(&self) -> f64 {
        cpu_secs(&self.child.id().to_string())
    }

    /// Resident memory in KiB.
    fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

/// CPU time process `pid` (or `self`) used so far (user + system), in seconds.
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // After the command name (in parentheses): fields 14 and 15 are utime and stime.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat")
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribed_socket(addr: &str, token: &str) -> Socket {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws/events"))
        .await
        .expect("ws connect");
    for frame in [
        json!({"type": "auth", "token": token}),
        json!({"type": "subscribe", "topics": ["pets"]}),
    ] {
        ws.send(Message::Text(frame.to_string().into()))
            .await
            .expect("send");
        match ws.next().await {
            Some(Ok(Message::Text(_))) => {}
            other => panic!("no answer to {frame}: {other:?}"),
        }
    }
    ws
}

/// The pet number in an event frame (`"name":"p<n>"`), found without parsing the frame.
fn pet_number(frame: &str) -> Option<usize> {
    let at = frame.find("\"name\":\"p")? + 9;
    let digits: &str = &frame[at..];
    let end = digits.find('"')?;
    digits[..end].parse().ok()
}

/// Each socket's latencies (µs) for the pets it received, until `expected` or `deadline`.
async fn receive(
    mut ws: Socket,
    sent: Arc<Vec<AtomicU64>>,
    base: Instant,
    expected: usize,
    deadline: Instant,
) -> Vec<u32> {
    let mut latencies = Vec::with_capacity(expected);
    while latencies.len() < expected {
        let Ok(next) = tokio::time::timeout_at(deadline.into(), ws.next()).await else {
            break;
        };
        match next {
            Some(Ok(Message::Text(text))) => {
                if let Some(n) = pet_number(&text) {
                    let now = base.elapsed().as_micros() as u64;
                    let at = sent[n].load(Ordering::Acquire);
                    latencies.push(now.saturating_sub(at) as u32);
                }
            }
            Some(Ok(_)) => {}
            _ => break,
        }
    }
    latencies
}

/// Creates `n` pets on `addr` at `rate` per second over a few connections, recording when
/// each request started.
async fn publish_pets(
    addr: &str,
    token: &str,
    n: usize,
    rate: u64,
    sent: Arc<Vec<AtomicU64>>,
    base: Instant,
) {
    // Enough connections that a slow answer does not hold back the rate (25 a second each).
    let lanes = usize::try_from(rate / 25).unwrap_or(64).clamp(4, 64);
    let mut tasks = Vec::new();
    for lane in 0..lanes {
        let (addr, token, sent) = (addr.to_owned(), token.to_owned(), Arc::clone(&sent));
        let every = Duration::from_secs_f64(lanes as f64 / rate as f64);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await;
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for i in (lane..n).step_by(lanes) {
                tick.tick().await;
                sent[i].store(base.elapsed().as_micros() as u64, Ordering::Release);
                let body = json!({"name": format!("p{i}"), "species": "dog", "age": 1}).to_string();
                let (status, body) = conn
                    .send("POST", "/api/pets", Some(&token), Some(&body))
                    .await;
                assert_eq!(status, 201, "create: {body}");
            }
        }));
    }
    for t in tasks {
        t.await.expect("publisher");
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    f64::from(sorted[i]) / 1000.0
}

/// Opens `subscribers` sockets on `follow`, creates pets on `publish` at `rate` for `secs`,
/// and reports delivery latency and drops.
async fn deliver(
    label: &str,
    publish: &Server,
    follow: &Server,
    subscribers: usize,
    rate: u64,
    secs: u64,
    measure_memory: bool,
) {
    let token_p = bench_env::login(&publish.addr, "root", PASSWORD).await;
    let token_f = if std::ptr::eq(publish, follow) {
        token_p.clone()
    } else {
        bench_env::login(&follow.addr, "root", PASSWORD).await
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_before = follow.rss_kib();
    let mut sockets = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        sockets.push(subscribed_socket(&follow.addr, &token_f).await);
    }
    if measure_memory {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let idle_after = follow.rss_kib();
        println!(
            "  server RSS: {idle_before} KiB idle, {idle_after} KiB with {subscribers} idle subscribed sockets: \
             {:.1} KiB per connection",
            (idle_after.saturating_sub(idle_before)) as f64 / subscribers as f64
        );
    }
    let n = (rate * secs) as usize;
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let base = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(secs + 30);
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|ws| tokio::spawn(receive(ws, Arc::clone(&sent), base, n, deadline)))
        .collect();
    let started = Instant::now();
    let cpu_before = (follow.cpu_secs(), cpu_secs("self"));
    // The publisher has a thread and runtime of its own, so the 1,000 readers on this
    // runtime cannot hold back the rate it offers.
    let (addr, token) = (publish.addr.clone(), token_p.clone());
    let publisher = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("publisher runtime")
            .block_on(publish_pets(&addr, &token, n, rate, sent, base));
    });
    tokio::task::spawn_blocking(move || publisher.join().expect("publisher"))
        .await
        .expect("publisher");
    let elapsed = started.elapsed().as_secs_f64();
    let offered = n as f64 / elapsed;
    let server_cores = (follow.cpu_secs() - cpu_before.0) / elapsed;
    let bench_cores = (cpu_secs("self") - cpu_before.1) / elapsed;
    let mut all = Vec::with_capacity(n * readers.len());
    let mut short = 0usize;
    for r in readers {
        let got = r.await.expect("reader");
        if got.len() < n {
            short += 1;
        }
        all.extend(got);
    }
    all.sort_unstable();
    let expected = n * subscribers;
    println!(
        "  {label}: {subscribers} subscribers, {n} events at {offered:.0}/s: {} of {expected} deliveries \
         ({} dropped, {short} sockets short); latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
         following server busy {server_cores:.2} of {} cores, this process (clients, publisher) {bench_cores:.2}",
        all.len(),
        expected - all.len(),
        percentile(&all, 0.50),
        percentile(&all, 0.99),
        percentile(&all, 1.0),
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    );
}

async fn fan_out(subscribers: usize, rates: &[u64], secs: u64) {
    println!("\nfan-out over WebSockets (trae serve, SQLite):");
    let server = Server::start(None);
    for (i, &rate) in rates.iter().enumerate() {
        deliver(
            "same node",
            &server,
            &server,
            subscribers,
            rate,
            secs,
            i == 0,
        )
        .await;
        // The sockets of the last round close; let the server settle.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Across nodes on PostgreSQL.
// ---------------------------------------------------------------------------------------------

/// A fresh database on the server `admin` names, dropped by `drop`.
struct PgDatabase {
    admin: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create(admin: &str, tag: &str) -> Self {
        let name = format!("trae_bench_events_{tag}_{}", std::process::id());
        let pool = sqlx::PgPool::connect(admin).await.expect("PostgreSQL");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&pool)
        .await
        .expect("drop");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await
            .expect("create");
        pool.close().await;
        let (base, _) = admin.rsplit_once('/').expect("a database in the URL");
        Self {
            admin: admin.to_owned(),
            url: format!("{base}/{name}"),
            name,
        }
    }

    async fn drop(self) {
        let pool = sqlx::PgPool::connect(&self.admin)
            .await
            .expect("PostgreSQL");
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&pool)
        .await;
        pool.close().await;
    }
}

async fn across_nodes(admin: &str, rate: u64, secs: u64) {
    println!("\nacross nodes (two trae serve on one PostgreSQL database):");
    let db = PgDatabase::create(admin, "nodes").await;
    {
        let a = Server::start(Some(&db.url));
        let b = Server::start(Some(&db.url));
        deliver("node A -> node B", &a, &b, 10, rate, secs, false).await;
        deliver("node A -> node A", &a, &a, 10, rate, secs, false).await;
    }
    db.drop().await;
}
