//! The in-process worker under HTTP load (issue 20): how many tasks per second it completes
//! with the HTTP stack idle and while concurrent enqueues and reads go through it, on one
//! SQLite file, in one process, as `trae serve` runs them.
//!
//! For each mode (`TRAE_BENCH_MODES`, default `ungrouped,grouped`: enqueues in a transaction
//! each, as before issue 20, then grouped into shared transactions, the default since;
//! `no-event-log` is `grouped` with events kept in-process only, as before issue 21), on a
//! fresh database in a temporary directory:
//!
//! 1. the app is served on 127.0.0.1 on this process's runtime (as many workers as cores), with
//!    the rate limits and the backlog limit off and an admin signed in;
//! 2. the queue is filled with no-op tasks (through the library, topped up to
//!    `TRAE_BENCH_BACKLOG`, default 100,000, before every window), so the worker never idles;
//! 3. the in-process worker starts (`trae serve`'s: the default queue, concurrency = cores);
//! 4. `TRAE_BENCH_ROUNDS` (default 2) rounds of an *unloaded* window and a *loaded* window of
//!    `TRAE_BENCH_SECS` (default 15) each. In a loaded window `TRAE_BENCH_CONNECTIONS`
//!    (default 64) keep-alive connections send requests back to back, in a fixed mix of ten:
//!    five `POST /api/tasks` of one no-op task, two `GET /api/tasks?limit=20`, two
//!    `GET /api/tasks/{id}` of a task just enqueued, one `GET /api/tasks/stats`.
//!
//! The worker's rate is its completed tasks (from the queue's counters) over the window; HTTP
//! figures are requests per second and latency percentiles per kind of request.
//!
//! `TRAE_BENCH_RATE` (default 0: closed loop) offers that many requests a second across the
//! connections instead, as a soak at a set rate does (the operator's soak enqueued 660 tasks a
//! second: 1,320 requests a second in this mix); `TRAE_BENCH_CONCURRENCY` sets the worker's concurrency
//! (default: cores, as `trae serve`).
//!
//! Run: `cargo bench -p trae-server --bench queue_soak` (smoke: `TRAE_BENCH_SECS=3`).

#![allow(clippy::print_stdout)]

#[path = "shared/bench_env.rs"]
mod bench_env;
use bench_env::{Conn, knob};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use trae_agents::Trae;
use trae_core::{Config, NewTask, Principal, TaskState};
use trae_server::App;
use trae_storage::{Store, StoreOptions};

const PASSWORD: &str = "correct horse battery staple";

fn main() {
    let secs = knob("TRAE_BENCH_SECS", 15);
    let rounds = knob("TRAE_BENCH_ROUNDS", 2);
    let connections = knob("TRAE_BENCH_CONNECTIONS", 64);
    let backlog = knob("TRAE_BENCH_BACKLOG", 100_000);
    let rate = knob("TRAE_BENCH_RATE", 0);
    let modes = std::env::var("TRAE_BENCH_MODES").unwrap_or_else(|_| "ungrouped,grouped".into());
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let concurrency = knob("TRAE_BENCH_CONCURRENCY", cores as u64) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let offered = if rate == 0 {
        "as fast as they go".to_owned()
    } else {
        format!("{rate} req/s offered")
    };
    println!(
        "queue soak: {cores} cores, windows of {secs} s, {rounds} rounds, {connections} connections \
         ({offered}), backlog topped up to {backlog}, worker concurrency {concurrency}"
    );
    for mode in modes.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let (grouped, event_log) = match mode {
            "grouped" => (true, true),
            "ungrouped" => (false, true),
            "no-event-log" => (true, false),
            other => panic!("unknown mode {other:?}: grouped, ungrouped or no-event-log"),
        };
        runtime.block_on(soak(
            mode,
            grouped,
            event_log,
            Duration::from_secs(secs),
            rounds,
            Load { connections, rate },
            backlog,
            concurrency,
        ));
    }
}

/// What one window measured.
struct Window {
    loaded: bool,
    worker_per_sec: f64,
    /// Events appended to the event log per second (0 without it).
    events_per_sec: f64,
    requests: Vec<(&'static str, Vec<f64>)>,
    secs: f64,
}

#[allow(clippy::too_many_arguments)]
async fn soak(
    mode: &str,
    grouped: bool,
    event_log: bool,
    window: Duration,
    rounds: u64,
    load_shape: Load,
    backlog: u64,
    concurrency: usize,
) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("trae.db").display());
    let env = |k: &str| match k {
        "TRAE_DATA_DIR" => Some(dir.path().display().to_string()),
        "TRAE_DATABASE_URL" => Some(url.clone()),
        "TRAE_ADMIN_USERNAME" => Some("root".to_owned()),
        "TRAE_ADMIN_PASSWORD" => Some(PASSWORD.to_owned()),
        // The load comes from one client; the gateway's per-client limit would measure itself.
        "TRAE_RATE_LIMIT" => Some("off".to_owned()),
        // The backlog grows on purpose here.
        "TRAE_QUEUE_MAX_BACKLOG" => Some("0".to_owned()),
        _ => None,
    };
    let config = Config::from_sources(env).expect("config");
    let options = StoreOptions {
        group_enqueues: grouped,
        event_log,
        ..StoreOptions::default()
    };
    let store = Store::connect_with(&url, options).await.expect("store");
    let trae = Trae::with_store(config, store).await.expect("services");
    trae.bootstrap_admin().await.expect("admin");
    let app = App::new(&trae).await.expect("app").into_endpoint();
    let (addr, server) = bench_env::serve(app).await;
    let token = bench_env::login(&addr, "root", PASSWORD).await;

    let queue = trae.tasks();
    top_up(&trae, backlog).await;
    let stop_worker = CancellationToken::new();
    let worker = trae
        .worker(vec!["default".into()], concurrency)
        .expect("worker");
    let worker = tokio::spawn(worker.run(stop_worker.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut windows = Vec::new();
    for _ in 0..rounds {
        for loaded in [false, true] {
            top_up(&trae, backlog).await;
            let before = completed(&trae).await;
            let logged_before = logged(&trae).await;
            let started = Instant::now();
            let requests = if loaded {
                load(&addr, &token, load_shape, window).await
            } else {
                tokio::time::sleep(window).await;
                Vec::new()
            };
            let secs = started.elapsed().as_secs_f64();
            let done = completed(&trae).await - before;
            let stored = logged(&trae).await - logged_before;
            let w = Window {
                loaded,
                worker_per_sec: done as f64 / secs,
                events_per_sec: stored as f64 / secs,
                requests,
                secs,
            };
            report(mode, &w);
            windows.push(w);
        }
    }
    stop_worker.cancel();
    let summary = worker.await.expect("worker task").expect("worker");
    server.abort();
    let mean = |loaded: bool| {
        let rates: Vec<f64> = windows
            .iter()
            .filter(|w| w.loaded == loaded)
            .map(|w| w.worker_per_sec)
            .collect();
        rates.iter().sum::<f64>() / rates.len().max(1) as f64
    };
    let (unloaded, loaded) = (mean(false), mean(true));
    let left = queue
        .stats(&Principal::System)
        .await
        .expect("stats")
        .queues
        .into_iter()
        .find(|q| q.queue == "default")
        .map_or(0, |q| q.states[&TaskState::Available]);
    println!(
        "{mode:>9}  summary: worker unloaded {unloaded:.0}/s, loaded {loaded:.0}/s, \
         loaded/unloaded {:.2}; worker claimed {}, completed {}, lost {}; {left} tasks left\n",
        loaded / unloaded.max(f64::MIN_POSITIVE),
        summary.claimed,
        summary.completed,
        summary.lost,
    );
    trae.store().close().await;
}

/// The event log's last `seq` (0 without an event log).
async fn logged(trae: &Trae) -> u64 {
    match trae.events() {
        Ok(events) => events.position().await.map_or(0, |p| p.last_seq),
        Err(_) => 0,
    }
}

fn report(mode: &str, w: &Window) {
    let label = if w.loaded { "loaded" } else { "unloaded" };
    let mut line = format!(
        "{mode:>9}  {label:>8}  worker {:>6.0} tasks/s, events stored {:>6.0}/s",
        w.worker_per_sec, w.events_per_sec
    );
    let total: usize = w.requests.iter().map(|(_, l)| l.len()).sum();
    if total > 0 {
        line.push_str(&format!("  | http {:>6.0} req/s", total as f64 / w.secs));
        for (kind, latencies) in &w.requests {
            let p = percentiles(latencies.clone());
            line.push_str(&format!(
                "  | {kind} {:.0}/s p50 {:.1} p99 {:.1} ms",
                latencies.len() as f64 / w.secs,
                p.0,
                p.1
            ));
        }
    }
    println!("{line}");
}

/// (p50, p99) in milliseconds, nearest rank.
fn percentiles(mut ms: Vec<f64>) -> (f64, f64) {
    if ms.is_empty() {
        return (0.0, 0.0);
    }
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
    (at(0.5), at(0.99))
}

/// Tasks of the default queue completed so far (from the counters).
async fn completed(trae: &Trae) -> u64 {
    trae.tasks()
        .stats(&Principal::System)
        .await
        .expect("stats")
        .queues
        .into_iter()
        .find(|q| q.queue == "default")
        .map_or(0, |q| q.states[&TaskState::Completed])
}

/// Enqueues no-op tasks until `backlog` wait, so the worker never runs dry in a window.
async fn top_up(trae: &Trae, backlog: u64) {
    let tasks = trae.tasks();
    let waiting = tasks
        .stats(&Principal::System)
        .await
        .expect("stats")
        .queues
        .into_iter()
        .find(|q| q.queue == "default")
        .map_or(0, |q| q.states[&TaskState::Available]);
    let mut missing = backlog.saturating_sub(waiting);
    while missing > 0 {
        let n = missing.min(10_000);
        let batch = (0..n)
            .map(|_| NewTask::new("noop", serde_json::json!({})))
            .collect();
        tasks
            .enqueue_many(&Principal::System, batch)
            .await
            .expect("top up");
        missing -= n;
    }
}

/// Signs the admin in over HTTP; returns the access token.
const KINDS: [&str; 4] = ["enqueue", "list", "get", "stats"];

/// The HTTP load of a loaded window.
#[derive(Debug, Clone, Copy)]
struct Load {
    /// Keep-alive connections, each sending one request at a time.
    connections: u64,
    /// Requests per second offered across them; 0: each sends its next as soon as it has
    /// an answer (closed loop).
    rate: u64,
}

/// Runs the request loops of `shape` for `window`; returns each kind's latencies (ms).
async fn load(
    addr: &str,
    token: &str,
    shape: Load,
    window: Duration,
) -> Vec<(&'static str, Vec<f64>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut loops = tokio::task::JoinSet::new();
    // At a set rate each connection sends on its own clock, the connections staggered; a
    // late answer skips the ticks it missed rather than bursting to catch up.
    let period = (shape.rate > 0)
        .then(|| Duration::from_secs_f64(shape.connections as f64 / shape.rate as f64));
    for c in 0..shape.connections {
        let (addr, token, stop) = (addr.to_owned(), token.to_owned(), Arc::clone(&stop));
        loops.spawn(async move {
            let mut conn = Conn::open(&addr).await;
            let mut ticks = period.map(|period| {
                let offset = period.mul_f64(c as f64 / shape.connections as f64);
                let mut ticks =
                    tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                ticks
            });
            let mut latencies: [Vec<f64>; 4] = Default::default();
            let mut last_id = String::new();
            // Each connection starts at another point of the mix.
            let mut i = c as usize;
            while !stop.load(Ordering::Relaxed) {
                if let Some(ticks) = &mut ticks {
                    ticks.tick().await;
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                let step = i % 10;
                i += 1;
                let kind = match step {
                    0..=4 => 0,
                    5 | 6 => 1,
                    7 | 8 if !last_id.is_empty() => 2,
                    7 | 8 => 1,
                    _ => 3,
                };
                let started = Instant::now();
                let (status, body) = match kind {
                    0 => {
                        conn.send(
                            "POST",
                            "/api/tasks",
                            Some(&token),
                            Some(r#"{"kind":"noop"}"#),
                        )
                        .await
                    }
                    1 => {
                        conn.send("GET", "/api/tasks?limit=20", Some(&token), None)
                            .await
                    }
                    2 => {
                        conn.send("GET", &format!("/api/tasks/{last_id}"), Some(&token), None)
                            .await
                    }
                    _ => {
                        conn.send("GET", "/api/tasks/stats", Some(&token), None)
                            .await
                    }
                };
                latencies[kind].push(started.elapsed().as_secs_f64() * 1000.0);
                assert!(
                    (200..300).contains(&status),
                    "{} answered {status}: {body}",
                    KINDS[kind]
                );
                if kind == 0 {
                    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
                    last_id = json["id"].as_str().unwrap_or_default().to_owned();
                }
            }
            latencies
        });
    }
    tokio::time::sleep(window).await;
    stop.store(true, Ordering::Relaxed);
    let mut all: [Vec<f64>; 4] = Default::default();
    while let Some(done) = loops.join_next().await {
        for (into, from) in all.iter_mut().zip(done.expect("a load loop")) {
            into.extend(from);
        }
    }
    KINDS.into_iter().zip(all).collect()
}
