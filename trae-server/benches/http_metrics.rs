//! What the request context (request id, client IP, span, access line, HTTP metrics) adds to
//! a request, and how long `/metrics` takes to render with many routes.
//!
//! - `request_context/*`: one in-process `Endpoint::call` (no network) of a trivial handler
//!   behind a `Route` (so the route template is known, as in the server), `bare` without the
//!   middleware and the others with it, in the same run, so the difference is the
//!   middleware's overhead. The Prometheus recorder is installed and the middleware counts
//!   into a `RequestStats` as in `trae serve` (there is no request history: it needs a
//!   database).
//!   `no_log` has no log subscriber (the middleware's own work: id, IP, span, metrics, stats);
//!   `json_log` and `text_log` add the subscriber `TRAE_LOG_FORMAT` selects, writing the access
//!   line to a sink, so they include formatting it but not the write to stderr.
//! - `request_context_parts/*`: pieces of that work alone, to see where it goes: a new request
//!   id; the two HTTP metrics as the middleware records them (`http_metrics`: its series found
//!   among the handles it keeps, two atomic adds) and as it did before, labels built per
//!   request and looked up in the recorder (`http_metrics_labels`); and the `RequestStats` count.
//! - `metrics_render/100_routes`: `PrometheusHandle::render` after the request metrics of 100
//!   route templates × 2 methods × 3 statuses (600 counters, 200 histograms of 8 buckets),
//!   with 10 new latency samples per histogram since the last render, as a scrape would find;
//!   `50_routes` likewise with half of them (trae itself has about 50 route templates).
//!
//! Run: `cargo bench -p trae-server --bench http_metrics`.

#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use poem::endpoint::make_sync;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Body, Endpoint, EndpointExt, Request, RequestParts, Route};
use trae_core::RequestStats;
use trae_core::monitoring::telemetry::{HTTP_REQUEST_SECONDS, HTTP_REQUESTS};
use trae_server::request_context::{HttpMetrics, RequestContext};

/// A request as the server hands it over: a socket peer and a local address.
fn request() -> Request {
    let (parts, ()) = poem::http::Request::get("/api/pets/42")
        .header("user-agent", "bench")
        .body(())
        .expect("request")
        .into_parts();
    let peer: SocketAddr = "203.0.113.5:40000".parse().expect("peer");
    let local: SocketAddr = "127.0.0.1:8000".parse().expect("local");
    let parts = RequestParts::from((
        parts,
        LocalAddr(Addr::from(local)),
        RemoteAddr(Addr::from(peer)),
        Scheme::HTTP,
    ));
    Request::from_parts(parts, Body::empty())
}

fn json_subscriber() -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_writer(std::io::sink)
        .with_ansi(false)
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .finish()
}

fn text_subscriber() -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_writer(std::io::sink)
        .with_ansi(false)
        .finish()
}

fn request_context(c: &mut Criterion) {
    trae_server::prometheus::handle().expect("the Prometheus recorder");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let route = || Route::new().at("/api/pets/:id", make_sync(|_| "ok"));
    let bare = route();
    let wrapped = route().with(RequestContext::new(&[]).with_stats(RequestStats::new()));

    let mut group = c.benchmark_group("request_context");
    group.bench_function("bare", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(bare.call(request()).await) })
    });
    group.bench_function("no_log", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(wrapped.call(request()).await) })
    });
    // The runtime is current-thread, so the thread's default subscriber sees every call.
    tracing::subscriber::with_default(json_subscriber(), || {
        group.bench_function("json_log", |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(wrapped.call(request()).await) })
        });
    });
    tracing::subscriber::with_default(text_subscriber(), || {
        group.bench_function("text_log", |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(wrapped.call(request()).await) })
        });
    });
    group.finish();
}

fn parts(c: &mut Criterion) {
    trae_server::prometheus::handle().expect("the Prometheus recorder");
    let method = poem::http::Method::GET;
    let route = "/api/pets/:id".to_owned();
    let status = poem::http::StatusCode::OK;
    let mut group = c.benchmark_group("request_context_parts");
    group.bench_function("request_id", |b| {
        b.iter(|| {
            let mut buf = uuid::Uuid::encode_buffer();
            black_box(
                uuid::Uuid::new_v4()
                    .simple()
                    .encode_lower(&mut buf)
                    .to_owned(),
            )
        })
    });
    let metrics = HttpMetrics::default();
    group.bench_function("http_metrics", |b| {
        b.iter(|| {
            metrics.record(
                black_box(&route),
                &method,
                status.as_u16(),
                Duration::from_micros(250),
            )
        })
    });
    let stats = RequestStats::new();
    group.bench_function("request_stats", |b| {
        b.iter(|| {
            stats.record(
                black_box(&route),
                status.as_u16(),
                Duration::from_micros(250),
            )
        })
    });
    group.bench_function("http_metrics_labels", |b| {
        b.iter(|| {
            metrics::counter!(HTTP_REQUESTS, "method" => method.to_string(), "route" => route.clone(), "status" => status.as_u16().to_string()).increment(1);
            metrics::histogram!(HTTP_REQUEST_SECONDS, "method" => method.to_string(), "route" => route.clone())
                .record(black_box(0.000_25));
        })
    });
    group.finish();
}

const ROUTES: usize = 100;
const METHODS: [&str; 2] = ["GET", "POST"];
const STATUSES: [&str; 3] = ["200", "400", "404"];

/// Latency samples since the last scrape: 10 per histogram, the counters moved to match.
fn traffic(routes: &[String]) {
    for route in routes {
        for method in METHODS {
            for status in STATUSES {
                metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status)
                    .increment(10);
            }
            let histogram = metrics::histogram!(HTTP_REQUEST_SECONDS, "method" => method, "route" => route.clone());
            for i in 0..10_u32 {
                histogram.record(0.0002 * f64::from(i + 1));
            }
        }
    }
}

fn render(c: &mut Criterion) {
    let handle = trae_server::prometheus::handle().expect("the Prometheus recorder");
    let routes: Vec<String> = (0..ROUTES)
        .map(|i| format!("/api/bench/resource{i}/:id"))
        .collect();
    let mut group = c.benchmark_group("metrics_render");
    // The recorder cannot forget series, so the smaller set is measured first.
    for count in [50, ROUTES] {
        let routes = &routes[..count];
        traffic(routes);
        let text = handle.render();
        println!(
            "metrics_render/{count}_routes: {} lines, {} bytes",
            text.lines().count(),
            text.len()
        );
        group.bench_function(format!("{count}_routes"), |b| {
            b.iter_batched(
                || traffic(routes),
                |()| black_box(handle.render()),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, request_context, parts, render);
criterion_main!(benches);
