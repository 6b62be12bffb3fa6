//! The process's metrics recorder, rendered in the Prometheus text format at `/metrics`.
//!
//! One recorder per process: the first [`handle`] call installs it; when something else
//! installed a recorder first (an embedding application), `/metrics` says so instead of
//! rendering nothing.

use std::sync::OnceLock;

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
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "another metrics recorder is installed; /metrics is off");
                    None
                }
            }
        })
        .as_ref()
}
