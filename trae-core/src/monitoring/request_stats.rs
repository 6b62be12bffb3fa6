//! Per-route request rate, error rate and latency percentiles over each sampling window, the
//! HTTP layer's [`MetricSource`].
//!
//! The HTTP middleware calls [`RequestStats::record`] once per request (a mutex and a few
//! additions); each sample turns what was recorded since the previous one into gauges and
//! starts a new window. A route seen once keeps reporting (zeros when idle), so alert rules on
//! it resolve when traffic stops.
//!
//! | metric | labels | meaning over the window |
//! |---|---|---|
//! | `trae_http_request_rate` | `route` (none: all routes) | requests per second |
//! | `trae_http_error_ratio` | `route` (none: all routes) | share of responses with status ≥ 500 |
//! | `trae_http_latency_p50_seconds`, `…_p95_…`, `…_p99_…` | `route` (none: all routes) | latency percentiles (bucket upper bounds) |

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::monitoring::metric_series::{MetricSource, Sample};

/// Metric: requests per second.
pub const REQUEST_RATE: &str = "trae_http_request_rate";
/// Metric: share of responses with a 5xx status.
pub const ERROR_RATIO: &str = "trae_http_error_ratio";
/// Metric: median latency in seconds.
pub const LATENCY_P50: &str = "trae_http_latency_p50_seconds";
/// Metric: 95th percentile latency in seconds.
pub const LATENCY_P95: &str = "trae_http_latency_p95_seconds";
/// Metric: 99th percentile latency in seconds.
pub const LATENCY_P99: &str = "trae_http_latency_p99_seconds";

/// Upper bounds of the latency buckets, in seconds; the last bucket is open.
const BOUNDS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];
/// Routes tracked at most; later ones count towards the totals only.
const MAX_ROUTES: usize = 1000;

#[derive(Debug, Clone, Default)]
struct Window {
    count: u64,
    errors: u64,
    buckets: [u64; BOUNDS.len() + 1],
}

impl Window {
    fn add(&mut self, status: u16, latency: Duration) {
        self.count += 1;
        if status >= 500 {
            self.errors += 1;
        }
        let secs = latency.as_secs_f64();
        let i = BOUNDS.partition_point(|b| *b < secs);
        self.buckets[i] += 1;
    }

    /// The upper bound of the bucket holding quantile `q` (0 when empty; the largest bound
    /// for the open bucket).
    fn quantile(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = (q * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return BOUNDS.get(i).copied().unwrap_or(BOUNDS[BOUNDS.len() - 1]);
            }
        }
        BOUNDS[BOUNDS.len() - 1]
    }

    fn samples(&self, secs: f64, route: Option<&str>, out: &mut Vec<Sample>) {
        let rate = if secs > 0.0 {
            self.count as f64 / secs
        } else {
            0.0
        };
        let ratio = if self.count == 0 {
            0.0
        } else {
            self.errors as f64 / self.count as f64
        };
        for (name, value) in [
            (REQUEST_RATE, rate),
            (ERROR_RATIO, ratio),
            (LATENCY_P50, self.quantile(0.50)),
            (LATENCY_P95, self.quantile(0.95)),
            (LATENCY_P99, self.quantile(0.99)),
        ] {
            let sample = Sample::new(name, value);
            out.push(match route {
                Some(r) => sample.label("route", r),
                None => sample,
            });
        }
    }
}

#[derive(Debug)]
struct State {
    started: Instant,
    total: Window,
    routes: HashMap<String, Window>,
}

/// Request counts per route template since the last sample. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RequestStats {
    state: Arc<Mutex<State>>,
}

impl Default for RequestStats {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestStats {
    /// Empty statistics; the first window starts now.
    pub fn new() -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                started: Instant::now(),
                total: Window::default(),
                routes: HashMap::new(),
            })),
        }
    }

    /// Counts one served request.
    pub fn record(&self, route: &str, status: u16, latency: Duration) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.total.add(status, latency);
        if let Some(w) = state.routes.get_mut(route) {
            w.add(status, latency);
        } else if state.routes.len() < MAX_ROUTES {
            let mut w = Window::default();
            w.add(status, latency);
            state.routes.insert(route.to_owned(), w);
        }
    }

    /// The gauges of the window that ends now; a new window begins.
    pub fn take(&self) -> Vec<Sample> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let secs = state.started.elapsed().as_secs_f64();
        state.started = Instant::now();
        let mut out = Vec::with_capacity((state.routes.len() + 1) * 5);
        std::mem::take(&mut state.total).samples(secs, None, &mut out);
        for (route, w) in &mut state.routes {
            std::mem::take(w).samples(secs, Some(route), &mut out);
        }
        out
    }
}

#[async_trait]
impl MetricSource for RequestStats {
    async fn collect(&self, out: &mut Vec<Sample>) {
        out.extend(self.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(samples: &[Sample], name: &str, route: Option<&str>) -> f64 {
        samples
            .iter()
            .find(|s| s.name == name && s.labels.get("route").map(String::as_str) == route)
            .map(|s| s.value)
            .unwrap_or_else(|| panic!("no {name} for {route:?}"))
    }

    #[test]
    fn windows_report_rate_errors_and_percentiles_per_route() {
        let stats = RequestStats::new();
        for _ in 0..98 {
            stats.record("/api/pets", 200, Duration::from_millis(3));
        }
        stats.record("/api/pets", 500, Duration::from_millis(200));
        stats.record("/api/pets", 503, Duration::from_secs(100));
        stats.record("/api/tasks", 200, Duration::from_micros(100));
        let s = stats.take();
        assert!(value(&s, REQUEST_RATE, None) > 0.0);
        assert!((value(&s, ERROR_RATIO, Some("/api/pets")) - 0.02).abs() < 1e-9);
        assert_eq!(value(&s, ERROR_RATIO, Some("/api/tasks")), 0.0);
        assert_eq!(value(&s, LATENCY_P50, Some("/api/pets")), 0.005);
        assert_eq!(value(&s, LATENCY_P99, Some("/api/pets")), 0.25);
        assert_eq!(value(&s, LATENCY_P99, Some("/api/tasks")), 0.0005);
        // 101 requests overall; the slowest lands in the open bucket.
        assert_eq!(value(&s, LATENCY_P95, None), 0.005);

        // A new window: routes seen before report zeros.
        let s = stats.take();
        assert_eq!(value(&s, ERROR_RATIO, Some("/api/pets")), 0.0);
        assert_eq!(value(&s, LATENCY_P99, Some("/api/pets")), 0.0);
        assert_eq!(value(&s, REQUEST_RATE, Some("/api/pets")), 0.0);
    }

    #[test]
    fn the_slowest_request_counts_in_the_open_bucket() {
        let stats = RequestStats::new();
        stats.record("/x", 200, Duration::from_secs(500));
        assert_eq!(value(&stats.take(), LATENCY_P50, Some("/x")), 60.0);
    }
}
