//! Component health: each part of the system (the database, the task queue, the workers, an
//! external API, the data directory's disk) is checked on a schedule or on demand, and keeps
//! its status, counters, uptime and recovery times.
//!
//! # Status
//!
//! [`HealthRules`] decide: one failure makes a component degraded, three failing, ten — or
//! one check that reports itself critical — critical; one success makes it healthy again.
//!
//! # Uptime
//!
//! A component is *up* while healthy or degraded and *down* while failing or critical. Uptime
//! over a window (24 hours, 7 days) is the share of the observed part of the window spent up;
//! time before the first check is not observed, so a component added an hour ago with no
//! failure shows 100 %. Intervals older than the longest window are dropped.
//!
//! # Recovery
//!
//! A recovery is the time from going down to coming back up; the average over the recoveries
//! seen is reported.
//!
//! Transitions are published on the event bus (`source: "health"`, `kind:
//! "health.transition"`) and, with an audit log, recorded as `health.transition` entries.
//!
//! # History
//!
//! With a [`HealthHistory`] store, transitions are also kept (for [`LONGEST_WINDOW`]) and
//! read back as a component's history; [`ComponentHealth::restore`] replays them at start so
//! uptime and recovery figures survive a restart.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::{
    ActorRef, AuditLog, Clock, EventBus, HealthRules, HealthStatus, NewAuditEntry, Outcome, Result,
};

/// The event source of health transitions.
pub const EVENT_SOURCE: &str = "health";
/// The longest window uptime is reported over.
pub const LONGEST_WINDOW: Duration = Duration::from_secs(7 * 86_400);

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// It works.
    Ok,
    /// It does not; `critical` when the failure threatens the whole system.
    Failed {
        /// Why, without secrets, paths or versions of the host.
        error: String,
        /// Whether this one failure makes the component critical.
        critical: bool,
    },
}

/// A check of one component.
#[async_trait]
pub trait HealthCheck: Send + Sync + 'static {
    /// Checks the component now.
    async fn check(&self) -> CheckOutcome;
}

/// A component's state, as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentReport {
    /// Its name, e.g. `database`.
    pub name: String,
    /// Whether readiness fails while it is failing or critical.
    pub required: bool,
    /// The current status.
    pub status: HealthStatus,
    /// When it was last checked.
    pub last_check: Option<DateTime<Utc>>,
    /// When a check last passed.
    pub last_ok: Option<DateTime<Utc>>,
    /// Failed checks in a row.
    pub consecutive_failures: u32,
    /// Checks run.
    pub total_checks: u64,
    /// Checks failed.
    pub total_failures: u64,
    /// Share of the observed last 24 hours spent up, 0–100 (`None` before the first check).
    pub uptime_24h: Option<f64>,
    /// Share of the observed last 7 days spent up, 0–100.
    pub uptime_7d: Option<f64>,
    /// Mean time from going down to coming back up, in seconds.
    pub average_recovery_secs: Option<f64>,
    /// The latest failure.
    pub last_error: Option<String>,
}

/// A status change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The component.
    pub name: String,
    /// The status before.
    pub from: HealthStatus,
    /// The status after.
    pub to: HealthStatus,
    /// When.
    pub at: DateTime<Utc>,
}

/// A stored status change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransitionRecord {
    /// The component.
    pub component: String,
    /// The status before.
    pub from: HealthStatus,
    /// The status after.
    pub to: HealthStatus,
    /// When.
    pub at: DateTime<Utc>,
    /// The failure that caused it (none when recovering).
    pub error: Option<String>,
}

/// Where transitions are kept. Implemented by trae-storage on SQLite and PostgreSQL.
#[async_trait]
pub trait HealthHistory: Send + Sync + 'static {
    /// Stores one transition.
    async fn record(&self, transition: &TransitionRecord) -> Result<()>;
    /// Transitions at or after `since`, oldest first; of one component when `component` is
    /// given.
    async fn since(
        &self,
        component: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Vec<TransitionRecord>>;
    /// Deletes transitions older than `before`; returns how many.
    async fn prune(&self, before: DateTime<Utc>) -> Result<u64>;
}

#[derive(Debug)]
struct Tracked {
    required: bool,
    status: HealthStatus,
    last_check: Option<DateTime<Utc>>,
    last_ok: Option<DateTime<Utc>>,
    consecutive_failures: u32,
    total_checks: u64,
    total_failures: u64,
    last_error: Option<String>,
    /// `(since, up)`: the state that began at `since`, oldest first.
    periods: VecDeque<(DateTime<Utc>, bool)>,
    down_since: Option<DateTime<Utc>>,
    recoveries: u64,
    recovery_total: chrono::Duration,
}

impl Tracked {
    fn new(required: bool) -> Self {
        Self {
            required,
            status: HealthStatus::Unknown,
            last_check: None,
            last_ok: None,
            consecutive_failures: 0,
            total_checks: 0,
            total_failures: 0,
            last_error: None,
            periods: VecDeque::new(),
            down_since: None,
            recoveries: 0,
            recovery_total: chrono::Duration::zero(),
        }
    }

    /// Percent of `(now - window, now]` spent up, over the part observed.
    fn uptime(&self, now: DateTime<Utc>, window: Duration) -> Option<f64> {
        let start = now - chrono::Duration::from_std(window).ok()?;
        let mut observed = chrono::Duration::zero();
        let mut up = chrono::Duration::zero();
        for (i, (since, is_up)) in self.periods.iter().enumerate() {
            let end = self.periods.get(i + 1).map_or(now, |next| next.0);
            let from = (*since).max(start);
            if end <= from {
                continue;
            }
            observed += end - from;
            if *is_up {
                up += end - from;
            }
        }
        let first = self.periods.front()?;
        if observed.is_zero() {
            // Checked just now: the one state seen is the whole story.
            return Some(if first.1 { 100.0 } else { 0.0 });
        }
        Some(
            up.num_microseconds().unwrap_or(i64::MAX) as f64 * 100.0
                / observed.num_microseconds().unwrap_or(i64::MAX) as f64,
        )
    }

    fn report(&self, name: &str, now: DateTime<Utc>) -> ComponentReport {
        ComponentReport {
            name: name.to_owned(),
            required: self.required,
            status: self.status,
            last_check: self.last_check,
            last_ok: self.last_ok,
            consecutive_failures: self.consecutive_failures,
            total_checks: self.total_checks,
            total_failures: self.total_failures,
            uptime_24h: self.uptime(now, Duration::from_secs(86_400)),
            uptime_7d: self.uptime(now, LONGEST_WINDOW),
            average_recovery_secs: (self.recoveries > 0).then(|| {
                self.recovery_total.num_milliseconds() as f64 / 1000.0 / self.recoveries as f64
            }),
            last_error: self.last_error.clone(),
        }
    }
}

/// Every component's health on this node. Cheap to clone.
#[derive(Clone)]
pub struct ComponentHealth {
    rules: HealthRules,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventBus>,
    audit: Option<AuditLog>,
    history: Option<Arc<dyn HealthHistory>>,
    components: Arc<Mutex<BTreeMap<String, Tracked>>>,
}

impl std::fmt::Debug for ComponentHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentHealth")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl ComponentHealth {
    /// No components yet, judged by `rules`.
    pub fn new(rules: HealthRules, clock: Arc<dyn Clock>, events: Arc<dyn EventBus>) -> Self {
        Self {
            rules,
            clock,
            events,
            audit: None,
            history: None,
            components: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// This tracker, recording transitions in `audit`.
    pub fn with_audit(mut self, audit: AuditLog) -> Self {
        self.audit = Some(audit);
        self
    }

    /// This tracker, keeping transitions in `history`.
    pub fn with_history(mut self, history: Arc<dyn HealthHistory>) -> Self {
        self.history = Some(history);
        self
    }

    /// Replays the stored transitions of the last [`LONGEST_WINDOW`], so uptime and recovery
    /// figures continue where the previous run left them; statuses stay unknown until the
    /// next check. Old transitions are deleted.
    pub async fn restore(&self) -> Result<()> {
        let Some(history) = &self.history else {
            return Ok(());
        };
        let now = self.clock.now_micros();
        let horizon = now - chrono::Duration::from_std(LONGEST_WINDOW).unwrap_or_default();
        history.prune(horizon).await?;
        let transitions = history.since(None, horizon).await?;
        let mut components = self.lock();
        for tr in transitions {
            let t = components
                .entry(tr.component.clone())
                .or_insert_with(|| Tracked::new(false));
            let up = tr.to.is_up();
            if t.periods.back().is_none_or(|(_, was_up)| *was_up != up) {
                t.periods.push_back((tr.at, up));
            }
            if !up && t.down_since.is_none() {
                t.down_since = Some(tr.at);
            }
            if up && let Some(since) = t.down_since.take() {
                t.recoveries += 1;
                t.recovery_total += tr.at - since;
            }
        }
        Ok(())
    }

    /// `name`'s transitions over the last [`LONGEST_WINDOW`], newest first (empty without a
    /// history store).
    pub async fn history(&self, name: &str) -> Result<Vec<TransitionRecord>> {
        let Some(history) = &self.history else {
            return Ok(Vec::new());
        };
        let horizon = self.clock.now_micros()
            - chrono::Duration::from_std(LONGEST_WINDOW).unwrap_or_default();
        let mut list = history.since(Some(name), horizon).await?;
        list.reverse();
        Ok(list)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Tracked>> {
        self.components
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a component (status unknown until its first check); adding it again only
    /// updates `required`.
    pub fn register(&self, name: &str, required: bool) {
        self.lock()
            .entry(name.to_owned())
            .and_modify(|t| t.required = required)
            .or_insert_with(|| Tracked::new(required));
    }

    /// Runs `check` for `name` and records the outcome.
    pub async fn run_check(&self, name: &str, check: &dyn HealthCheck) -> Result<ComponentReport> {
        let outcome = check.check().await;
        self.record(name, outcome).await
    }

    /// Records a check's outcome for `name` (registered as optional if it was not known);
    /// returns the component's report. A transition that cannot be stored in the history or
    /// audit log (say, because the database is down) is logged and the report still returned.
    pub async fn record(&self, name: &str, outcome: CheckOutcome) -> Result<ComponentReport> {
        let now = self.clock.now_micros();
        let (transition, report) = {
            let mut components = self.lock();
            let t = components
                .entry(name.to_owned())
                .or_insert_with(|| Tracked::new(false));
            let before = t.status;
            t.total_checks += 1;
            t.last_check = Some(now);
            match &outcome {
                CheckOutcome::Ok => {
                    t.consecutive_failures = 0;
                    t.last_ok = Some(now);
                    t.status = HealthStatus::Healthy;
                }
                CheckOutcome::Failed { error, critical } => {
                    t.consecutive_failures = t.consecutive_failures.saturating_add(1);
                    t.total_failures += 1;
                    t.last_error = Some(error.clone());
                    t.status = if *critical {
                        HealthStatus::Critical
                    } else {
                        self.rules.after_failures(t.consecutive_failures)
                    };
                }
            }
            let up = t.status.is_up();
            if t.periods.back().is_none_or(|(_, was_up)| *was_up != up) {
                t.periods.push_back((now, up));
            }
            // Keep one period that started before the longest window, for its start.
            let horizon = now - chrono::Duration::from_std(LONGEST_WINDOW).unwrap_or_default();
            while t.periods.len() > 1 && t.periods[1].0 <= horizon {
                t.periods.pop_front();
            }
            if !up && t.down_since.is_none() {
                t.down_since = Some(now);
            }
            if up && let Some(since) = t.down_since.take() {
                t.recoveries += 1;
                t.recovery_total += now - since;
            }
            let transition = (before != t.status).then(|| Transition {
                name: name.to_owned(),
                from: before,
                to: t.status,
                at: now,
            });
            (transition, t.report(name, now))
        };
        if let Some(tr) = transition
            && let Err(e) = self.announce(&tr, report.last_error.as_deref()).await
        {
            // The status is already recorded here; the history and audit log often live in
            // the very database that just failed, and health must keep reporting then.
            tracing::warn!(component = %tr.name, error = %e, "storing a health transition failed");
        }
        Ok(report)
    }

    async fn announce(&self, tr: &Transition, error: Option<&str>) -> Result<()> {
        tracing::info!(
            component = %tr.name,
            from = tr.from.as_str(),
            to = tr.to.as_str(),
            "component health changed"
        );
        let payload = json!({
            "component": tr.name,
            "from": tr.from.as_str(),
            "to": tr.to.as_str(),
            "error": if tr.to == HealthStatus::Healthy { None } else { error },
        });
        self.events
            .publish(EVENT_SOURCE, "health.transition", payload.clone());
        if let Some(history) = &self.history {
            history
                .record(&TransitionRecord {
                    component: tr.name.clone(),
                    from: tr.from,
                    to: tr.to,
                    at: tr.at,
                    error: if tr.to == HealthStatus::Healthy {
                        None
                    } else {
                        error.map(str::to_owned)
                    },
                })
                .await?;
        }
        if let Some(audit) = &self.audit {
            audit
                .record(NewAuditEntry {
                    actor: ActorRef::system(),
                    action: "health.transition".into(),
                    target: Some(format!("component:{}", tr.name)),
                    outcome: Outcome::Success,
                    ip: None,
                    request_id: None,
                    details: payload,
                })
                .await?;
        }
        Ok(())
    }

    /// One component's report, or `None` for an unknown name.
    pub fn report(&self, name: &str) -> Option<ComponentReport> {
        let now = self.clock.now_micros();
        self.lock().get(name).map(|t| t.report(name, now))
    }

    /// Every component's report, by name.
    pub fn reports(&self) -> Vec<ComponentReport> {
        let now = self.clock.now_micros();
        self.lock()
            .iter()
            .map(|(name, t)| t.report(name, now))
            .collect()
    }

    /// The overall status: the worst of the required components; an optional component that
    /// is down makes it degraded at worst. Unknown while nothing was checked.
    pub fn overall(&self) -> HealthStatus {
        let mut worst: Option<HealthStatus> = None;
        for t in self.lock().values() {
            if t.status == HealthStatus::Unknown {
                continue;
            }
            let status = if t.required || t.status.is_up() {
                t.status
            } else {
                HealthStatus::Degraded
            };
            if worst.is_none_or(|w| status.severity() > w.severity()) {
                worst = Some(status);
            }
        }
        worst.unwrap_or(HealthStatus::Unknown)
    }

    /// Whether the node is ready: no required component is failing or critical.
    pub fn ready(&self) -> bool {
        self.lock()
            .values()
            .all(|t| !t.required || t.status.severity() < HealthStatus::Failing.severity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BroadcastBus, ManualClock};

    fn tracker() -> (ComponentHealth, Arc<ManualClock>, Arc<BroadcastBus>) {
        let clock = Arc::new(ManualClock::new(
            DateTime::parse_from_rfc3339("2026-11-26T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        ));
        let bus = Arc::new(BroadcastBus::new(clock.clone(), 64));
        let health = ComponentHealth::new(HealthRules::default(), clock.clone(), bus.clone());
        (health, clock, bus)
    }

    fn fail() -> CheckOutcome {
        CheckOutcome::Failed {
            error: "connection refused".into(),
            critical: false,
        }
    }

    #[tokio::test]
    async fn statuses_follow_the_rules() {
        let (h, _, _) = tracker();
        h.register("database", true);
        assert_eq!(h.overall(), HealthStatus::Unknown);
        assert!(h.ready(), "unknown is not failing");
        assert_eq!(
            h.record("database", CheckOutcome::Ok).await.unwrap().status,
            HealthStatus::Healthy
        );
        assert_eq!(
            h.record("database", fail()).await.unwrap().status,
            HealthStatus::Degraded
        );
        assert_eq!(
            h.record("database", fail()).await.unwrap().status,
            HealthStatus::Degraded
        );
        let r = h.record("database", fail()).await.unwrap();
        assert_eq!(r.status, HealthStatus::Failing);
        assert_eq!(
            (r.consecutive_failures, r.total_failures, r.total_checks),
            (3, 3, 4)
        );
        assert!(!h.ready());
        for _ in 0..7 {
            h.record("database", fail()).await.unwrap();
        }
        assert_eq!(h.report("database").unwrap().status, HealthStatus::Critical);
        let back = h.record("database", CheckOutcome::Ok).await.unwrap();
        assert_eq!(back.status, HealthStatus::Healthy, "one success heals");
        assert_eq!(back.consecutive_failures, 0);
        assert!(h.ready());

        let critical = h
            .record(
                "disk",
                CheckOutcome::Failed {
                    error: "disk full".into(),
                    critical: true,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            critical.status,
            HealthStatus::Critical,
            "one critical check is enough"
        );
        assert!(h.ready(), "an optional component does not fail readiness");
        assert_eq!(
            h.overall(),
            HealthStatus::Degraded,
            "but it degrades the whole"
        );
    }

    #[tokio::test]
    async fn uptime_and_recovery_arithmetic() {
        let (h, clock, _) = tracker();
        h.register("queue", true);
        h.record("queue", CheckOutcome::Ok).await.unwrap();
        clock.advance(chrono::Duration::hours(18));
        // Down for 6 hours: three failures, then a recovery.
        for _ in 0..3 {
            h.record("queue", fail()).await.unwrap();
        }
        clock.advance(chrono::Duration::hours(6));
        let r = h.record("queue", CheckOutcome::Ok).await.unwrap();
        // Degraded still counts as up: down began at the third failure, which happened at
        // the same instant as the first.
        let up24 = r.uptime_24h.unwrap();
        assert!((up24 - 75.0).abs() < 1e-6, "{up24}");
        assert_eq!(r.average_recovery_secs, Some(6.0 * 3600.0));
        // A day later, all up: the 24 h window has forgotten the outage, 7 d has not.
        clock.advance(chrono::Duration::hours(24));
        let r = h.report("queue").unwrap();
        assert!((r.uptime_24h.unwrap() - 100.0).abs() < 1e-6);
        let up7 = r.uptime_7d.unwrap();
        assert!((up7 - 100.0 * 42.0 / 48.0).abs() < 1e-6, "{up7}");
        // Eight days on, the outage has left every window.
        clock.advance(chrono::Duration::days(8));
        h.record("queue", CheckOutcome::Ok).await.unwrap();
        assert!((h.report("queue").unwrap().uptime_7d.unwrap() - 100.0).abs() < 1e-6);
    }

    #[tokio::test]
    async fn transitions_are_events_without_host_details() {
        let (h, _, bus) = tracker();
        let mut events = bus.subscribe();
        h.record("database", CheckOutcome::Ok).await.unwrap();
        h.record("database", CheckOutcome::Ok).await.unwrap();
        h.record("database", fail()).await.unwrap();
        let first = events.recv().await.unwrap();
        assert_eq!(first.kind, "health.transition");
        assert_eq!(first.payload["to"], "healthy");
        let second = events.recv().await.unwrap();
        assert_eq!(second.payload["from"], "healthy");
        assert_eq!(second.payload["to"], "degraded");
        assert_eq!(second.payload["error"], "connection refused");
        assert!(h.report("nope").is_none());
        assert_eq!(h.reports().len(), 1);
    }
}
