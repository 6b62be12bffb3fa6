//! The process's metrics recorder, rendered in the Prometheus text format at `/metrics`.
//!
//! One recorder per process: the first [`handle`] call installs it; when something else
//! installed a recorder first (an embedding application), `/metrics` says so instead of
//! rendering nothing.
//!
//! The recorder keeps every histogram sample until something drains it: a render, or its
//! upkeep. Nothing else does, so a server nobody scrapes grew by about 22 bytes a request
//! (75 → 122 MB over 2.1 million requests, 573 MB after a long benchmark; issue 20). A thread
//! runs the upkeep every [`UPKEEP_EVERY`] whoever scrapes.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds: 1 and 2.5 of each decade from 1 ms to 2.5 s.
///
/// Every bucket is a line per histogram series at each scrape, and rendering costs 0.6–1 µs a
/// line, so these are few: 8 rather than the 14 (100 µs to 10 s) there were, which takes
/// `/metrics` with 100 routes from about 4,000 lines to 2,800. `histogram_quantile` interpolates
/// within a bucket, so p50/p95/p99 are within a factor of 2.5–4 between 1 ms and 2.5 s;
/// faster requests share the first bucket and slower ones the open one (where a quantile reads
/// as 2.5 s). Latency objectives at 10 ms, 25 ms, 100 ms, 250 ms or 1 s read a bucket exactly,
/// and `/api/metrics` keeps finer in-process percentiles (`trae_http_latency_p99_seconds`).
const BUCKETS: [f64; 8] = [0.001, 0.0025, 0.01, 0.025, 0.1, 0.25, 1.0, 2.5];

/// How often histogram samples are folded into their buckets when nobody scrapes: at most
/// this long's samples wait in memory (at 60,000 requests a second, about 7 MB).
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The installed recorder's handle, installing it on first use; `None` when another recorder
/// was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = match PrometheusBuilder::new().set_buckets(&BUCKETS) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics buckets refused; using summaries");
                    PrometheusBuilder::new()
                }
            };
            match builder.install_recorder() {
                Ok(handle) => {
                    start_upkeep(handle.clone());
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "another metrics recorder is installed; /metrics is off");
                    None
                }
            }
        })
        .as_ref()
}

/// Drains histogram samples into their buckets every [`UPKEEP_EVERY`], for the life of the
/// process (the recorder is process-wide, so is its upkeep); a thread rather than a task so it
/// runs whichever runtime, if any, installed the recorder.
fn start_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("trae-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "metrics upkeep could not start; histograms grow until scraped");
    }
}
