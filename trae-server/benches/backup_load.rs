//! A SQLite backup of a large database while the server answers health probes: the backup's
//! rate, and `GET /api/health/live` latency before and during it.
//!
//! Builds a database of `TRAE_BENCH_BACKUP_MB` MiB (default 1024) in a temporary directory:
//! trae's schema plus a table of 1,000-byte random rows with an index, filled in 16 MiB
//! transactions. Then, twice:
//!
//! - `process`: the real `trae serve` binary on the database, and `trae_storage::backup::create`
//!   in this process, as `trae backup create` beside a running server;
//! - `in-process`: the server's app on this process's multi-threaded runtime (as many
//!   workers as cores, as `trae serve`) and the backup spawned on the same runtime, as a
//!   backup taken inside `trae serve`; no log subscriber here.
//!
//! A probe thread sends `GET /api/health/live` on a new connection `TRAE_BENCH_RPS` times a
//! second (default 20) on a fixed schedule, and measures each from its scheduled start, so a
//! stalled server also delays the probes queued behind it. Latencies are reported for a
//! baseline of `TRAE_BENCH_BASELINE_SECS` (default 15) without a backup, then during the
//! backup: its `VACUUM INTO` and its checksum pass apart, and together.
//!
//! `TRAE_BENCH_DIR` chooses where the temporary directory goes (the system's temporary
//! directory by default); it needs about three times the database size. Everything is deleted
//! at the end.
//!
//! Run: `cargo bench -p trae-server --bench backup_load` (smoke: `TRAE_BENCH_BACKUP_MB=64`).

#![allow(clippy::print_stdout)]

#[path = "shared/bench_env.rs"]
mod bench_env;
use bench_env::knob;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::{Connection, SqliteConnection};
use trae_agents::Trae;
use trae_core::Config;
use trae_server::App;
use trae_storage::Store;

const TRAE: &str = env!("CARGO_BIN_EXE_trae");
const ROW_BYTES: u64 = 1000;
const CHUNK_BYTES: u64 = 16 << 20;

fn main() {
    // `cargo bench` passes `--bench`; this binary takes no arguments of its own.
    let mb = knob("TRAE_BENCH_BACKUP_MB", 1024);
    let rps = knob("TRAE_BENCH_RPS", 20).max(1);
    let baseline = Duration::from_secs(knob("TRAE_BENCH_BASELINE_SECS", 15));
    let parent = std::env::var_os("TRAE_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::Builder::new()
        .prefix("trae-bench-backup")
        .tempdir_in(parent)
        .expect("temporary directory");
    let db = dir.path().join("trae.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let started = Instant::now();
    let (size, rows) = runtime.block_on(fill(&url, mb << 20));
    println!(
        "database: {:.0} MiB in {:.1} s ({rows} rows of {ROW_BYTES} bytes)",
        mib(size),
        started.elapsed().as_secs_f64(),
    );
    println!("probes: GET /api/health/live, {rps}/s, new connection each\n");

    let interval = Duration::from_secs(1) / u32::try_from(rps).unwrap_or(u32::MAX);
    {
        let server = ServerProcess::start(dir.path(), &url);
        let report = scenario(&runtime, &server.addr, &url, dir.path(), interval, baseline);
        report.print(
            "process (trae serve + backup::create in another process)",
            size,
        );
    }
    {
        let addr = runtime.block_on(serve_in_process(dir.path(), &url));
        let report = scenario(&runtime, &addr, &url, dir.path(), interval, baseline);
        report.print("in-process (backup on the server's runtime)", size);
    }
    drop(runtime);
    dir.close().expect("remove the temporary directory");
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// Migrates a fresh database at `url` and grows it to about `target` bytes; its size and the
/// rows added.
async fn fill(url: &str, target: u64) -> (u64, i64) {
    Store::connect(url).await.expect("migrate").close().await;
    let mut conn = SqliteConnection::connect(url).await.expect("connect");
    // Only the build goes without fsync; the backup reads a normal WAL database.
    sqlx::raw_sql(
        "PRAGMA synchronous = OFF;
         CREATE TABLE bench_payload (
             id INTEGER PRIMARY KEY,
             kind TEXT NOT NULL,
             at INTEGER NOT NULL,
             body BLOB NOT NULL);
         CREATE INDEX bench_payload_kind_at ON bench_payload (kind, at);",
    )
    .execute(&mut conn)
    .await
    .expect("create the table");
    let rows = i64::try_from(CHUNK_BYTES / ROW_BYTES).expect("rows");
    let row_bytes = i64::try_from(ROW_BYTES).expect("row size");
    loop {
        let size = db_size(&mut conn).await;
        if size >= target {
            sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut conn)
                .await
                .expect("checkpoint");
            let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM bench_payload")
                .fetch_one(&mut conn)
                .await
                .expect("count");
            conn.close().await.expect("close");
            return (size, rows);
        }
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
             INSERT INTO bench_payload (kind, at, body)
             SELECT 'kind' || (abs(random()) % 16), abs(random()) % 1000000000, randomblob(?2)
             FROM n",
        )
        .bind(rows)
        .bind(row_bytes)
        .execute(&mut conn)
        .await
        .expect("insert rows");
    }
}

async fn db_size(conn: &mut SqliteConnection) -> u64 {
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(&mut *conn)
        .await
        .expect("page count");
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&mut *conn)
        .await
        .expect("page size");
    u64::try_from(pages * page_size).unwrap_or(0)
}

/// `trae serve` on the database, killed on drop.
struct ServerProcess {
    child: Child,
    addr: String,
}

impl ServerProcess {
    fn start(dir: &Path, url: &str) -> Self {
        let log = dir.join("server.log");
        let mut child = Command::new(TRAE)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TRAE_DATA_DIR", dir)
            .env("TRAE_DATABASE_URL", url)
            .env("TRAE_BIND", "127.0.0.1:0")
            .env("TRAE_LOG", "info")
            .env("TRAE_LOG_FORMAT", "json")
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start trae serve");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(addr) = text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find_map(|v| v["fields"]["address"].as_str().map(str::to_owned))
            {
                return Self { child, addr };
            }
            if let Some(status) = child.try_wait().expect("wait") {
                panic!("trae serve exited early ({status}):\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "trae serve did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves the app on the current runtime, as `trae serve` does; returns its address.
async fn serve_in_process(dir: &Path, url: &str) -> String {
    let env = |k: &str| match k {
        "TRAE_DATA_DIR" => Some(dir.display().to_string()),
        "TRAE_DATABASE_URL" => Some(url.to_owned()),
        _ => None,
    };
    let config = Config::from_sources(env).expect("config");
    let store = Store::connect(url).await.expect("store");
    let state = Trae::with_store(config, store).await.expect("state");
    let app = App::new(&state).await.unwrap().into_endpoint();
    bench_env::serve(app).await.0
}

/// One probe: when it was due and how long after that its response ended.
struct Probe {
    due: Instant,
    latency: Duration,
    ok: bool,
}

fn probe_once(addr: &str) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "GET /api/health/live HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        Ok(response.starts_with(b"HTTP/1.1 200"))
    };
    attempt().unwrap_or(false)
}

/// Probes `addr` every `interval` until `stop`.
fn probe_loop(addr: &str, interval: Duration, stop: &AtomicBool) -> Vec<Probe> {
    let mut probes = Vec::new();
    let mut due = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let ok = probe_once(addr);
        probes.push(Probe {
            due,
            latency: due.elapsed(),
            ok,
        });
        due += interval;
    }
    probes
}

/// When each phase of a scenario began and ended.
struct Phases {
    baseline: Instant,
    backup: Instant,
    vacuumed: Instant,
    done: Instant,
    backup_bytes: u64,
}

struct Report {
    probes: Vec<Probe>,
    phases: Phases,
}

fn scenario(
    runtime: &tokio::runtime::Runtime,
    addr: &str,
    url: &str,
    dir: &Path,
    interval: Duration,
    baseline: Duration,
) -> Report {
    assert!(probe_once(addr), "the server answers /api/health/live");
    let stop = Arc::new(AtomicBool::new(false));
    let prober = std::thread::spawn({
        let (addr, stop) = (addr.to_owned(), Arc::clone(&stop));
        move || probe_loop(&addr, interval, &stop)
    });
    let start = Instant::now();
    std::thread::sleep(baseline);
    let out = dir.join("backup").join("trae-backup.db");
    let backup = Instant::now();
    let (vacuumed, backup_bytes) = runtime.block_on({
        let url = url.to_owned();
        async move {
            // Spawned, so in the in-process scenario it shares the server's worker threads.
            tokio::spawn(async move {
                let mut last = Instant::now();
                let manifest = trae_storage::backup::create(&url, &out, |_, _| {
                    last = Instant::now();
                })
                .await
                .expect("backup");
                (last, manifest.size)
            })
            .await
            .expect("backup task")
        }
    });
    let done = Instant::now();
    // A short tail, to see the server settle.
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let probes = prober.join().expect("prober");
    std::fs::remove_dir_all(dir.join("backup")).expect("remove the backup");
    Report {
        probes,
        phases: Phases {
            baseline: start,
            backup,
            vacuumed,
            done,
            backup_bytes,
        },
    }
}

impl Report {
    fn window(&self, from: Instant, to: Instant) -> (Vec<Duration>, usize) {
        let within: Vec<&Probe> = self
            .probes
            .iter()
            .filter(|p| p.due >= from && p.due < to)
            .collect();
        let errors = within.iter().filter(|p| !p.ok).count();
        let mut latencies: Vec<Duration> = within.iter().map(|p| p.latency).collect();
        latencies.sort();
        (latencies, errors)
    }

    fn print(&self, name: &str, db_bytes: u64) {
        let p = &self.phases;
        let total = (p.done - p.backup).as_secs_f64();
        let vacuum = (p.vacuumed - p.backup).as_secs_f64();
        println!("== {name}");
        println!(
            "backup: {:.0} MiB database -> {:.0} MiB file in {total:.1} s = {:.0} MiB/s \
             (VACUUM INTO {vacuum:.1} s = {:.0} MiB/s; checksum and manifest {:.1} s)",
            mib(db_bytes),
            mib(p.backup_bytes),
            mib(db_bytes) / total,
            mib(db_bytes) / vacuum,
            total - vacuum,
        );
        println!(
            "{:<22} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9}",
            "/api/health/live", "probes", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        for (label, from, to) in [
            ("baseline", p.baseline, p.backup),
            ("during backup", p.backup, p.done),
            ("  VACUUM INTO", p.backup, p.vacuumed),
            ("  checksum", p.vacuumed, p.done),
        ] {
            let (latencies, errors) = self.window(from, to);
            let at = |q: f64| {
                if latencies.is_empty() {
                    return f64::NAN;
                }
                let i = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
                latencies[i - 1].as_secs_f64() * 1000.0
            };
            println!(
                "{label:<22} {:>6} {errors:>6} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                latencies.len(),
                at(0.5),
                at(0.9),
                at(0.99),
                at(1.0),
            );
        }
        println!();
    }
}
