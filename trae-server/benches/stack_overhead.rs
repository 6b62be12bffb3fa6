//! What trae's HTTP stack costs per request (issue 20): `GET /api/health/live` served through
//! the whole app (poem-openapi, request context with its id, span, metrics and history,
//! gateway limit, header and body limits, CORS, allowed methods, security headers) against a
//! bare poem route answering the same JSON, in one process (with jemalloc, as `trae serve`),
//! measured by `wrk` in alternating windows so both see the same machine. It also prints the
//! size of the app's request future, which every layer moves.
//!
//! The app runs with its default settings but for the gateway's per-client limit, raised to
//! 10^9 a minute: `wrk` is one client, and the default 600 would refuse nearly everything
//! (the limiter still runs on every request). Figures per window: requests per second and the
//! process's CPU time per request (both servers live in this process; only the one under load
//! works), and per round the app's share of the bare route's rate (target: at least 75 %).
//!
//! Run: `cargo bench -p trae-server --bench stack_overhead` (needs `wrk`; knobs
//! `TRAE_BENCH_SECS` (default 10), `TRAE_BENCH_ROUNDS` (3), `TRAE_BENCH_CONNECTIONS` (64)).

#![allow(clippy::print_stdout)]

/// The allocator `trae serve` runs with (see its `main.rs`), for both servers.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[path = "shared/bench_env.rs"]
mod bench_env;
use bench_env::knob;

use std::process::Command;
use std::time::{Duration, Instant};

use poem::web::Json;
use poem::{Endpoint, EndpointExt, Route, get, handler};
use trae_agents::Trae;
use trae_core::Config;
use trae_server::App;

#[handler]
fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("stack_overhead: SKIPPED, wrk is not installed (apt-get install wrk)");
        return;
    }
    let secs = knob("TRAE_BENCH_SECS", 10);
    let rounds = knob("TRAE_BENCH_ROUNDS", 3);
    let connections = knob("TRAE_BENCH_CONNECTIONS", 64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    // The services live as long as the run.
    let (bare, app, _trae, future_bytes) = runtime.block_on(async {
        let env = |k: &str| match k {
            "TRAE_DATA_DIR" => Some(dir.path().display().to_string()),
            "TRAE_RATE_LIMIT_PER_MINUTE" => Some("1000000000".to_owned()),
            _ => None,
        };
        let config = Config::from_sources(env).expect("config");
        let trae = Trae::open(config).await.expect("services");
        let bare = serve(Route::new().at("/api/health/live", get(live)).boxed()).await;
        let app = App::new(&trae).await.expect("app").into_endpoint();
        // What every request moves through the layers: the size of the app's call future.
        let request = poem::Request::builder()
            .uri(poem::http::Uri::from_static("/api/health/live"))
            .finish();
        let future_bytes = std::mem::size_of_val(&app.call(request));
        let app = serve(app.boxed()).await;
        (bare, app, trae, future_bytes)
    });
    println!(
        "stack overhead: GET /api/health/live, wrk -t2 -c{connections} -d{secs}s, {rounds} rounds, \
         {} cores, loadavg {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split(' ')
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("the app's request future: {future_bytes} bytes");
    println!(
        "{:<6} {:>12} {:>12} {:>10} {:>12} {:>12}",
        "round", "bare req/s", "trae req/s", "share", "bare µs cpu", "trae µs cpu"
    );
    let mut shares = Vec::new();
    for round in 1..=rounds {
        // Alternate which goes first, so neither always gets the warmer machine.
        let (b, t) = if round % 2 == 1 {
            let b = window(&bare, secs, connections);
            (b, window(&app, secs, connections))
        } else {
            let t = window(&app, secs, connections);
            (window(&bare, secs, connections), t)
        };
        let share = t.0 / b.0;
        shares.push(share);
        println!(
            "{round:<6} {:>12.0} {:>12.0} {:>9.0}% {:>12.1} {:>12.1}",
            b.0,
            t.0,
            100.0 * share,
            b.1,
            t.1
        );
    }
    shares.sort_by(f64::total_cmp);
    let median = shares[shares.len() / 2];
    println!(
        "median share {:.0}% (target at least 75%): {}",
        100.0 * median,
        if median >= 0.75 { "met" } else { "NOT met" }
    );
}

/// Serves `endpoint` on a free port; returns the URL of its `health/live`.
async fn serve(endpoint: poem::endpoint::BoxEndpoint<'static>) -> String {
    format!(
        "http://{}/api/health/live",
        bench_env::serve(endpoint).await.0
    )
}

/// One wrk window against `url`: requests per second, and this process's CPU time per request
/// in microseconds.
fn window(url: &str, secs: u64, connections: u64) -> (f64, f64) {
    let cpu0 = cpu_time();
    let started = Instant::now();
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{secs}s"),
            url,
        ])
        .output()
        .expect("wrk runs");
    let elapsed = started.elapsed();
    let cpu = cpu_time() - cpu0;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("Non-2xx") && !text.contains("Socket errors"),
        "wrk saw errors against {url}:\n{text}"
    );
    let rps: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rate in wrk's output:\n{text}"));
    let requests = rps * elapsed.as_secs_f64();
    (rps, cpu.as_secs_f64() * 1e6 / requests)
}

/// This process's user and system CPU time so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or(vec![], |(_, rest)| rest.split(' ').collect());
    let ticks: u64 =
        fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    // Linux reports in USER_HZ, 100 a second on every platform Rust targets.
    Duration::from_millis(ticks * 10)
}
