//! Request history: one record per served request (method, route template, status, latency,
//! client, request id), written in buffered batches off the request path to a bounded table.
//!
//! [`RequestRecorder::record`] never waits: records go to a [`BatchWriter`] (a full buffer
//! drops the record and counts it in `trae_request_history_dropped_total`), whose task writes
//! whatever has queued up every `flush_every`, and trims the table to its retention age and
//! row cap every minute.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::batch_writer::{BatchSink, BatchWriter};
use crate::identity::permission::{Authorizer, Gate};
use crate::monitoring::alert::METRICS_READ;
use crate::{Clock, Page, PageRequest, Principal, Result};

/// Counter of records dropped because the writer fell behind.
pub const DROPPED: &str = "trae_request_history_dropped_total";

/// One served request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// Unique id (UUIDv7).
    pub id: Uuid,
    /// When the request finished.
    pub at: DateTime<Utc>,
    /// HTTP method.
    pub method: String,
    /// The route template (path parameters replaced), never the raw path.
    pub route: String,
    /// Response status.
    pub status: u16,
    /// Time to the response, in microseconds.
    pub latency_us: u64,
    /// Who called: the client IP (from the socket or a trusted proxy).
    pub client: String,
    /// The request id echoed in `X-Request-Id`.
    pub request_id: Option<String>,
}

/// Filters for listing history; every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    /// Only this method.
    pub method: Option<String>,
    /// Only this route template.
    pub route: Option<String>,
    /// Only this status.
    pub status: Option<u16>,
    /// Only this client.
    pub client: Option<String>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
}

/// Where request history lives. Implemented by trae-storage.
#[async_trait]
pub trait RequestHistoryRepository: Send + Sync + 'static {
    /// Appends a batch in one transaction.
    async fn append(&self, batch: &[RequestRecord]) -> Result<()>;
    /// Records matching `filter`, newest first.
    async fn list(&self, filter: &RequestFilter, page: PageRequest) -> Result<Page<RequestRecord>>;
    /// Deletes records older than `before`, then the oldest beyond `max_rows`; returns how
    /// many went.
    async fn trim(&self, before: DateTime<Utc>, max_rows: u64) -> Result<u64>;
}

/// How history is kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestHistoryOptions {
    /// Fraction of requests recorded, 0–1.
    pub sample_rate: f64,
    /// Records older than this are deleted.
    pub retention: Duration,
    /// At most this many records are kept.
    pub max_rows: u64,
    /// How often queued records are written.
    pub flush_every: Duration,
    /// Records that may wait for the writer before new ones are dropped.
    pub buffer: usize,
}

impl Default for RequestHistoryOptions {
    fn default() -> Self {
        Self {
            sample_rate: 1.0,
            retention: Duration::from_secs(7 * 24 * 3600),
            max_rows: 100_000,
            flush_every: Duration::from_secs(1),
            buffer: 10_000,
        }
    }
}

/// Whether a route is kept out of history: health probes and metrics scrapes would drown it.
pub fn excluded(route: &str) -> bool {
    route.starts_with("/api/health")
        || route.starts_with("/metrics")
        || route.starts_with("/api/metrics")
}

/// Writes records and trims the table to its retention age and row cap.
struct HistorySink {
    repo: Arc<dyn RequestHistoryRepository>,
    retention: chrono::Duration,
    max_rows: u64,
}

#[async_trait]
impl BatchSink<RequestRecord> for HistorySink {
    async fn append(&self, batch: &[RequestRecord]) -> Result<()> {
        self.repo.append(batch).await
    }

    async fn trim(&self, now: DateTime<Utc>) -> Result<u64> {
        self.repo.trim(now - self.retention, self.max_rows).await
    }
}

/// Hands records to the background writer. Cheap to clone.
#[derive(Clone)]
pub struct RequestRecorder {
    writer: BatchWriter<RequestRecord>,
    sample_rate: f64,
    repo: Arc<dyn RequestHistoryRepository>,
    gate: Gate,
}

impl std::fmt::Debug for RequestRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestRecorder")
            .field("sample_rate", &self.sample_rate)
            .finish_non_exhaustive()
    }
}

impl RequestRecorder {
    /// Starts the writer on the current tokio runtime; it stops when every recorder is
    /// dropped, writing what is queued first.
    pub fn start(
        repo: Arc<dyn RequestHistoryRepository>,
        clock: Arc<dyn Clock>,
        options: RequestHistoryOptions,
    ) -> Self {
        let sink = HistorySink {
            repo: Arc::clone(&repo),
            retention: chrono::Duration::from_std(options.retention)
                .unwrap_or(chrono::Duration::MAX),
            max_rows: options.max_rows,
        };
        Self {
            writer: BatchWriter::start(
                Arc::new(sink),
                clock,
                options.flush_every,
                options.buffer,
                DROPPED,
            ),
            sample_rate: options.sample_rate.clamp(0.0, 1.0),
            repo,
            gate: Gate::default(),
        }
    }

    /// This recorder, asking `authorizer` whether a principal holds [`METRICS_READ`] to read
    /// the history (without one, only the system may).
    pub fn with_authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.gate = Gate::new(authorizer);
        self
    }

    /// Queues a record unless its route is excluded or sampling skips it (server errors are
    /// never skipped: they are what an operator looks for); never waits.
    pub fn record(&self, record: RequestRecord) {
        if self.keeps(&record.route, record.status, &record.id) {
            self.writer.send(record);
        }
    }

    /// As [`Self::record`], but builds the record (with the id it draws) only when it is
    /// kept: most requests are sampled out or excluded, and a record costs a clock read, an id
    /// and several strings.
    pub fn record_with(&self, route: &str, status: u16, build: impl FnOnce(Uuid) -> RequestRecord) {
        // The route is checked before drawing an id: most excluded requests are probes.
        if excluded(route) {
            return;
        }
        let id = Uuid::now_v7();
        if self.keeps(route, status, &id) {
            self.writer.send(build(id));
        }
    }

    /// Whether a request is kept: its route is not excluded, and it is a server error or
    /// sampling picks its id.
    fn keeps(&self, route: &str, status: u16, id: &Uuid) -> bool {
        !excluded(route) && (status >= 500 || self.sampled(id))
    }

    /// Writes everything queued so far (for tests and orderly shutdown).
    pub async fn flush(&self) {
        self.writer.flush().await;
    }

    /// History matching `filter`, newest first, for a `principal` holding [`METRICS_READ`]
    /// (it names clients and routes).
    pub async fn list(
        &self,
        principal: &Principal,
        filter: &RequestFilter,
        page: PageRequest,
    ) -> Result<Page<RequestRecord>> {
        self.gate.check(principal, METRICS_READ).await?;
        self.repo.list(filter, page).await
    }

    fn sampled(&self, id: &Uuid) -> bool {
        if self.sample_rate >= 1.0 {
            return true;
        }
        // The random half of a v7 id is as good a coin as any.
        crate::backoff::unit_from_bits(id.as_u128() as u64) < self.sample_rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_and_scrapes_are_excluded() {
        assert!(excluded("/api/health/live"));
        assert!(excluded("/api/health"));
        assert!(excluded("/metrics"));
        assert!(excluded("/api/metrics/requests"));
        assert!(!excluded("/api/pets/:id"));
    }
}
