//! Metric time series: gauges sampled every 10 seconds from [`MetricSource`]s, stored so a
//! restart keeps history, and read back as JSON series.
//!
//! # Resolution and retention
//!
//! | resolution | kept for | written |
//! |---|---|---|
//! | 10 s ([`Resolution::Fine`]) | 1 hour | every sample |
//! | 1 min ([`Resolution::Coarse`]) | 1 day | the average of a minute's samples, when the minute ends |
//!
//! A query over the last hour reads the fine series, one reaching further back the coarse
//! one; a `step` larger than the resolution averages the points in each step.
//!
//! # Names
//!
//! A series is a metric name plus labels (`trae_queue_depth{queue="default"}`). The names are
//! listed in docs/operations.md; alert rules refer to them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::identity::permission::{Authorizer, Gate};
use crate::{Clock, ConfigSummary, Error, Principal, Result};

/// The permission that shows where this server keeps its data (the data directory and the
/// database URL in `/api/runtime`). Whoever holds it may copy the whole database through a
/// backup already, so the location tells them nothing more; everyone else sees neither.
pub const HOST_DETAILS: &str = crate::identity::permission::BACKUPS_ADMIN;

/// How often sources are sampled.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(10);

/// Label names and values of one series, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// One value of one series at the time of sampling.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// The metric name, e.g. `trae_queue_depth`.
    pub name: String,
    /// The series' labels, e.g. `queue = default`.
    pub labels: Labels,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// A sample of `name` with no labels.
    pub fn new(name: &str, value: f64) -> Self {
        Self {
            name: name.to_owned(),
            labels: Labels::new(),
            value,
        }
    }

    /// The same sample with one more label.
    #[must_use]
    pub fn label(mut self, name: &str, value: impl Into<String>) -> Self {
        self.labels.insert(name.to_owned(), value.into());
        self
    }
}

/// The stored form of labels: `name=value` pairs joined by commas, sorted by name; commas,
/// equals signs and backslashes in values are escaped.
pub fn labels_key(labels: &Labels) -> String {
    let mut out = String::new();
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push('=');
        for c in v.chars() {
            if matches!(c, ',' | '=' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// Labels from their stored form (see [`labels_key`]).
pub fn parse_labels_key(key: &str) -> Labels {
    let mut labels = Labels::new();
    let mut name = String::new();
    let mut value = String::new();
    let mut in_value = false;
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    value.push(next);
                }
            }
            '=' if !in_value => in_value = true,
            ',' => {
                labels.insert(std::mem::take(&mut name), std::mem::take(&mut value));
                in_value = false;
            }
            c if in_value => value.push(c),
            c => name.push(c),
        }
    }
    if !name.is_empty() {
        labels.insert(name, value);
    }
    labels
}

/// The two resolutions series are kept at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// One point per 10 seconds, kept for an hour.
    Fine,
    /// One point per minute, kept for a day.
    Coarse,
}

impl Resolution {
    /// Seconds between points.
    pub fn step_secs(self) -> u32 {
        match self {
            Self::Fine => 10,
            Self::Coarse => 60,
        }
    }

    /// How long points are kept.
    pub fn retention(self) -> TimeDelta {
        match self {
            Self::Fine => TimeDelta::hours(1),
            Self::Coarse => TimeDelta::days(1),
        }
    }
}

/// One stored point.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPoint {
    /// The metric name.
    pub name: String,
    /// The labels in their stored form ([`labels_key`]).
    pub labels: String,
    /// The start of the interval the point describes.
    pub at: DateTime<Utc>,
    /// The value.
    pub value: f64,
}

/// Where points live. Implemented by trae-storage on SQLite and PostgreSQL.
#[async_trait]
pub trait MetricRepository: Send + Sync + 'static {
    /// Stores points; a point for an existing (name, labels, at) replaces it, so nodes that
    /// sample the same shared value at the same time agree.
    async fn write(&self, resolution: Resolution, points: &[StoredPoint]) -> Result<()>;

    /// Points of `name` at or after `since`, ordered by labels, then time.
    async fn read(
        &self,
        resolution: Resolution,
        name: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<StoredPoint>>;

    /// Every metric name with a stored point, sorted.
    async fn names(&self) -> Result<Vec<String>>;

    /// Deletes points older than `before`; returns how many.
    async fn prune(&self, resolution: Resolution, before: DateTime<Utc>) -> Result<u64>;
}

/// Something that reports gauges when sampled: the task queue, the HTTP layer, the process.
#[async_trait]
pub trait MetricSource: Send + Sync + 'static {
    /// Appends the current values to `out`. A source that cannot be read adds nothing (and
    /// logs why) rather than failing the whole sample.
    async fn collect(&self, out: &mut Vec<Sample>);
}

/// What a series query asks for.
#[derive(Debug, Clone, Default)]
pub struct SeriesQuery {
    /// The metric name.
    pub name: String,
    /// The earliest point wanted (default: an hour ago; at most a day ago).
    pub since: Option<DateTime<Utc>>,
    /// Seconds per point, a multiple of the resolution read (default: the resolution).
    pub step_secs: Option<u32>,
    /// Only series carrying these labels.
    pub labels: Labels,
}

/// One series of a query's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// The series' labels.
    pub labels: Labels,
    /// `(start of step, average value)`, oldest first.
    pub points: Vec<(DateTime<Utc>, f64)>,
}

/// A query's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesSet {
    /// The metric name.
    pub name: String,
    /// Seconds per point.
    pub step_secs: u32,
    /// The earliest time covered.
    pub since: DateTime<Utc>,
    /// Every matching series, by labels.
    pub series: Vec<Series>,
}

#[derive(Default)]
struct Rollup {
    /// The minute being accumulated.
    minute: Option<DateTime<Utc>>,
    /// `(name, labels key)` → (sum, count) over that minute.
    sums: HashMap<(String, String), (f64, u32)>,
    last_prune: Option<DateTime<Utc>>,
}

struct Inner {
    repo: Arc<dyn MetricRepository>,
    clock: Arc<dyn Clock>,
    sources: RwLock<Vec<Arc<dyn MetricSource>>>,
    rollup: Mutex<Rollup>,
    latest: RwLock<Vec<Sample>>,
}

/// Samples sources, stores the series with retention, and answers queries. Cheap to clone.
#[derive(Clone)]
pub struct MetricSeries {
    inner: Arc<Inner>,
    gate: Gate,
}

impl std::fmt::Debug for MetricSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricSeries").finish_non_exhaustive()
    }
}

/// Step start → (sum, count) of one series' points.
type Buckets = BTreeMap<DateTime<Utc>, (f64, u32)>;

/// How often old points are deleted.
const PRUNE_EVERY: TimeDelta = TimeDelta::minutes(10);
/// The most series points one query may return before it is refused.
const MAX_POINTS: usize = 100_000;

fn floor(at: DateTime<Utc>, secs: u32) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::seconds(i64::from(secs)))
        .unwrap_or(at)
}

/// Whether `name` is a metric name: `[a-z_:][a-z0-9_:]*`, at most 200 bytes.
pub fn is_metric_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b':')
        && !name.as_bytes()[0].is_ascii_digit()
}

impl MetricSeries {
    /// Series stored in `repo`, timed by `clock`, with no sources yet.
    pub fn new(repo: Arc<dyn MetricRepository>, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                repo,
                clock,
                sources: RwLock::new(Vec::new()),
                rollup: Mutex::new(Rollup::default()),
                latest: RwLock::new(Vec::new()),
            }),
            gate: Gate::default(),
        }
    }

    /// The service deciding who may read series with `authorizer` (by default only the
    /// system may act). Sampling is the system's own work and needs no permission.
    #[must_use]
    pub fn with_authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.gate = Gate::new(authorizer);
        self
    }

    /// Adds a source sampled from now on.
    pub fn add_source(&self, source: Arc<dyn MetricSource>) {
        self.inner
            .sources
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(source);
    }

    /// Samples every source now, stores the points (and a minute's averages when a minute
    /// ended), deletes points past retention now and then, and returns the samples.
    pub async fn sample(&self) -> Result<Vec<Sample>> {
        let sources = self
            .inner
            .sources
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut samples = Vec::new();
        for source in sources {
            source.collect(&mut samples).await;
        }
        samples.retain(|s| s.value.is_finite());
        let now = self.inner.clock.now();
        let at = floor(now, Resolution::Fine.step_secs());
        let fine: Vec<StoredPoint> = samples
            .iter()
            .map(|s| StoredPoint {
                name: s.name.clone(),
                labels: labels_key(&s.labels),
                at,
                value: s.value,
            })
            .collect();
        let (coarse, prune) = self.roll(&fine, now);
        self.inner.repo.write(Resolution::Fine, &fine).await?;
        if !coarse.is_empty() {
            self.inner.repo.write(Resolution::Coarse, &coarse).await?;
        }
        if prune {
            for resolution in [Resolution::Fine, Resolution::Coarse] {
                self.inner
                    .repo
                    .prune(resolution, now - resolution.retention())
                    .await?;
            }
        }
        *self
            .inner
            .latest
            .write()
            .unwrap_or_else(PoisonError::into_inner) = samples.clone();
        Ok(samples)
    }

    /// Adds `fine` to the minute's sums; returns the averages of a minute that ended, and
    /// whether it is time to prune.
    fn roll(&self, fine: &[StoredPoint], now: DateTime<Utc>) -> (Vec<StoredPoint>, bool) {
        let minute = floor(now, Resolution::Coarse.step_secs());
        let mut rollup = self
            .inner
            .rollup
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut ended = Vec::new();
        if let Some(previous) = rollup.minute
            && previous != minute
        {
            ended = rollup
                .sums
                .drain()
                .map(|((name, labels), (sum, count))| StoredPoint {
                    name,
                    labels,
                    at: previous,
                    value: sum / f64::from(count.max(1)),
                })
                .collect();
        }
        rollup.minute = Some(minute);
        for p in fine {
            let entry = rollup
                .sums
                .entry((p.name.clone(), p.labels.clone()))
                .or_insert((0.0, 0));
            entry.0 += p.value;
            entry.1 += 1;
        }
        let prune = rollup.last_prune.is_none_or(|at| now - at >= PRUNE_EVERY);
        if prune {
            rollup.last_prune = Some(now);
        }
        (ended, prune)
    }

    /// The samples of the last [`sample`](Self::sample) call.
    pub fn latest(&self) -> Vec<Sample> {
        self.inner
            .latest
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `Ok` when `principal` may read this server's operational figures (`metrics:read`):
    /// the series, the Prometheus exposition, runtime and route figures; else `Forbidden`.
    pub async fn readable_by(&self, principal: &Principal) -> Result<()> {
        self.gate
            .check(principal, crate::monitoring::alert::METRICS_READ)
            .await
    }

    /// What `principal` may see of this server's configuration `summary`: needs
    /// `metrics:read`; where the data lives (the data directory and the database URL, whose
    /// path or host says where to find the data) only with [`HOST_DETAILS`], else `None`.
    pub async fn runtime_config(
        &self,
        principal: &Principal,
        summary: &ConfigSummary,
    ) -> Result<ConfigSummary> {
        self.readable_by(principal).await?;
        let mut shown = summary.clone();
        match self.gate.check(principal, HOST_DETAILS).await {
            Ok(()) => {}
            Err(Error::Forbidden(_)) => {
                shown.data_dir = None;
                shown.database_url = None;
            }
            Err(e) => return Err(e),
        }
        Ok(shown)
    }

    /// Every metric name with stored points; needs `metrics:read`.
    pub async fn names(&self, principal: &Principal) -> Result<Vec<String>> {
        self.gate
            .check(principal, crate::monitoring::alert::METRICS_READ)
            .await?;
        self.inner.repo.names().await
    }

    /// The series of `query.name` since `query.since`, one point per `query.step_secs`;
    /// needs `metrics:read`.
    pub async fn query(&self, principal: &Principal, query: &SeriesQuery) -> Result<SeriesSet> {
        self.gate
            .check(principal, crate::monitoring::alert::METRICS_READ)
            .await?;
        if !is_metric_name(&query.name) {
            return Err(Error::validation(
                "name",
                "a metric name such as trae_queue_depth ([a-z_:][a-z0-9_:]*)",
            ));
        }
        let now = self.inner.clock.now();
        let since = query.since.unwrap_or(now - TimeDelta::hours(1));
        if since > now {
            return Err(Error::validation("since", "must not be in the future"));
        }
        // Older than a day is gone; say what is covered rather than refuse.
        let since = since.max(now - Resolution::Coarse.retention());
        let resolution = match query.step_secs {
            _ if since < now - Resolution::Fine.retention() => Resolution::Coarse,
            Some(step) if step >= Resolution::Coarse.step_secs() => Resolution::Coarse,
            _ => Resolution::Fine,
        };
        let base = resolution.step_secs();
        let step = query.step_secs.unwrap_or(base);
        if !(10..=86_400).contains(&step) {
            return Err(Error::validation(
                "step",
                "seconds per point, between 10 and 86400",
            ));
        }
        if !step.is_multiple_of(base) {
            return Err(Error::validation(
                "step",
                format!("must be a multiple of {base} seconds for this range"),
            ));
        }
        let since = floor(since, step);
        let points = self.inner.repo.read(resolution, &query.name, since).await?;
        if points.len() > MAX_POINTS {
            return Err(Error::validation(
                "since",
                "too many points; ask for a shorter range or a larger step",
            ));
        }
        let mut series: Vec<Series> = Vec::new();
        let mut current: Option<(String, Buckets)> = None;
        let mut flush = |labels: String, buckets: Buckets| {
            let labels = parse_labels_key(&labels);
            if query.labels.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                series.push(Series {
                    labels,
                    points: buckets
                        .into_iter()
                        .map(|(at, (sum, n))| (at, sum / f64::from(n.max(1))))
                        .collect(),
                });
            }
        };
        for p in points {
            if current
                .as_ref()
                .is_some_and(|(labels, _)| *labels != p.labels)
                && let Some((labels, buckets)) = current.take()
            {
                flush(labels, buckets);
            }
            let (_, buckets) = current.get_or_insert_with(|| (p.labels.clone(), BTreeMap::new()));
            let bucket = buckets.entry(floor(p.at, step)).or_insert((0.0, 0));
            bucket.0 += p.value;
            bucket.1 += 1;
        }
        if let Some((labels, buckets)) = current.take() {
            flush(labels, buckets);
        }
        Ok(SeriesSet {
            name: query.name.clone(),
            step_secs: step,
            since,
            series,
        })
    }

    /// Samples every [`SAMPLE_INTERVAL`] until `stop`, handing each sample to `then` (the
    /// alert rules); a failed sample is logged and the next one tried.
    pub async fn run<F, Fut>(&self, stop: CancellationToken, then: F)
    where
        F: Fn(Vec<Sample>) -> Fut + Send,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.sample().await {
                Ok(samples) => then(samples).await,
                Err(e) => tracing::warn!(error = %e, "storing metric samples failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_through_their_stored_form() {
        let mut labels = Labels::new();
        labels.insert("queue".into(), "a,b=c\\d".into());
        labels.insert("kind".into(), "http".into());
        let key = labels_key(&labels);
        assert_eq!(key, "kind=http,queue=a\\,b\\=c\\\\d");
        assert_eq!(parse_labels_key(&key), labels);
        assert_eq!(parse_labels_key(""), Labels::new());
        assert_eq!(labels_key(&Labels::new()), "");
    }

    #[test]
    fn metric_names_are_checked() {
        assert!(is_metric_name("trae_queue_depth"));
        assert!(is_metric_name("a:b_1"));
        assert!(!is_metric_name(""));
        assert!(!is_metric_name("1abc"));
        assert!(!is_metric_name("Trae"));
        assert!(!is_metric_name("x y"));
    }
}
