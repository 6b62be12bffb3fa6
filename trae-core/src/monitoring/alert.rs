//! Alert rules over metric series: a rule fires when a series' value has met its threshold
//! for `for_secs`, and resolves at the first sample that no longer meets it.
//!
//! A rule names a metric (see [`crate::monitoring::metric_series`]) and optionally labels; every series
//! of that metric carrying those labels is judged on its own, so one rule on
//! `trae_queue_depth` raises one alert per queue. Firing and resolved alerts are stored
//! (at most one firing alert per rule and series, enforced by the database so many nodes
//! evaluating the same rules raise it once), published as events (`source: "alerts"`,
//! kinds `alert.firing` and `alert.resolved`) and, when the rule has a webhook, delivered by
//! an `http.request` task, which the task queue retries. Rule changes are audited
//! (`alert_rule.create`, `alert_rule.update`, `alert_rule.delete`).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::identity::audit::RequestMeta;
use crate::identity::permission::{Authorizer, Gate};
use crate::monitoring::metric_series::{Labels, Sample, labels_key};
use crate::tasks::task::NewTask;
use crate::{
    AuditLog, Clock, Error, EventBus, Outcome, Page, PageRequest, Principal, Result, TaskQueue,
};

/// The event source of alerts.
pub const EVENT_SOURCE: &str = "alerts";
/// The task kind that delivers webhooks.
const WEBHOOK_KIND: &str = "http.request";
/// Attempts at delivering one webhook.
const WEBHOOK_ATTEMPTS: i32 = 8;

/// How a value is compared with a rule's threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    /// Greater than.
    #[serde(rename = ">", alias = "gt")]
    Above,
    /// Greater than or equal.
    #[serde(rename = ">=", alias = "gte")]
    AtLeast,
    /// Less than.
    #[serde(rename = "<", alias = "lt")]
    Below,
    /// Less than or equal.
    #[serde(rename = "<=", alias = "lte")]
    AtMost,
    /// Equal.
    #[serde(rename = "==", alias = "eq")]
    Equal,
    /// Not equal.
    #[serde(rename = "!=", alias = "ne")]
    NotEqual,
}

impl Comparison {
    /// Whether `value` meets `threshold` under this comparison.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::Above => value > threshold,
            Self::AtLeast => value >= threshold,
            Self::Below => value < threshold,
            Self::AtMost => value <= threshold,
            Self::Equal => value == threshold,
            Self::NotEqual => value != threshold,
        }
    }

    /// The operator, e.g. `>=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Above => ">",
            Self::AtLeast => ">=",
            Self::Below => "<",
            Self::AtMost => "<=",
            Self::Equal => "==",
            Self::NotEqual => "!=",
        }
    }

    /// The comparison an operator names.
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Needs attention soon.
    Medium,
    /// Needs attention now.
    High,
    /// Something is down.
    Critical,
}

impl Severity {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// The severity a lowercase name names.
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
}

/// What a rule says, as a client writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleSpec {
    /// Unique name, 1–100 characters.
    pub name: String,
    /// The metric judged, e.g. `trae_queue_depth`.
    pub metric: String,
    /// Only series carrying these labels.
    #[serde(default)]
    pub labels: Labels,
    /// How a value is compared with `value`.
    pub comparison: Comparison,
    /// The threshold.
    pub value: f64,
    /// Seconds the condition must hold before the alert fires (0: at once).
    #[serde(default)]
    pub for_secs: u32,
    /// How urgent the alert is.
    pub severity: Severity,
    /// An http(s) URL that receives a JSON POST when the alert fires and when it resolves.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Whether the rule is evaluated.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

impl AlertRuleSpec {
    /// The spec with its rules checked.
    pub fn validated(mut self) -> Result<Self> {
        self.name = self.name.trim().to_owned();
        if self.name.is_empty() || self.name.chars().count() > 100 {
            return Err(Error::validation("name", "1 to 100 characters"));
        }
        if !crate::monitoring::metric_series::is_metric_name(&self.metric) {
            return Err(Error::validation(
                "metric",
                "a metric name such as trae_queue_depth ([a-z_:][a-z0-9_:]*)",
            ));
        }
        if !self.value.is_finite() {
            return Err(Error::validation("value", "a finite number"));
        }
        if self.for_secs > 7 * 86_400 {
            return Err(Error::validation("for_secs", "at most 604800 (7 days)"));
        }
        if self.labels.len() > 20 {
            return Err(Error::validation("labels", "at most 20 labels"));
        }
        if let Some(url) = &self.webhook_url {
            let parsed = url::Url::parse(url)
                .map_err(|e| Error::validation("webhook_url", format!("not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(Error::validation(
                    "webhook_url",
                    "an absolute http or https URL",
                ));
            }
        }
        Ok(self)
    }
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRule {
    /// Identifier.
    pub id: Uuid,
    /// What the rule says.
    #[serde(flatten)]
    pub spec: AlertRuleSpec,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Whether an alert is still on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// The condition holds.
    Firing,
    /// The condition stopped holding.
    Resolved,
}

impl AlertState {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Resolved => "resolved",
        }
    }

    /// The state a lowercase name names.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "firing" => Some(Self::Firing),
            "resolved" => Some(Self::Resolved),
            _ => None,
        }
    }
}

/// One alert: a rule's condition held for one series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Identifier.
    pub id: Uuid,
    /// The rule that raised it.
    pub rule_id: Uuid,
    /// The rule's name when it fired.
    pub rule_name: String,
    /// The metric.
    pub metric: String,
    /// The series' labels.
    pub labels: Labels,
    /// How urgent.
    pub severity: Severity,
    /// The rule's comparison.
    pub comparison: Comparison,
    /// The rule's threshold.
    pub threshold: f64,
    /// The value that fired it.
    pub value: f64,
    /// Firing or resolved.
    pub state: AlertState,
    /// When it fired.
    pub fired_at: DateTime<Utc>,
    /// When it resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The value that resolved it.
    pub resolved_value: Option<f64>,
}

/// Which alerts to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFilter {
    /// Only alerts in this state.
    pub state: Option<AlertState>,
    /// Only alerts of this rule.
    pub rule_id: Option<Uuid>,
}

/// Where rules and alerts live. Implemented by trae-storage on SQLite and PostgreSQL.
#[async_trait]
pub trait AlertRepository: Send + Sync + 'static {
    /// Inserts a rule; a taken name is a conflict.
    async fn insert_rule(&self, rule: &AlertRule) -> Result<()>;
    /// Replaces a rule; false when it does not exist; a taken name is a conflict.
    async fn update_rule(&self, rule: &AlertRule) -> Result<bool>;
    /// Deletes a rule; false when it does not exist.
    async fn delete_rule(&self, id: Uuid) -> Result<bool>;
    /// One rule.
    async fn get_rule(&self, id: Uuid) -> Result<Option<AlertRule>>;
    /// Every rule, by name.
    async fn list_rules(&self) -> Result<Vec<AlertRule>>;
    /// Stores a firing alert unless one is already firing for its rule and labels (false).
    async fn open_alert(&self, alert: &Alert) -> Result<bool>;
    /// Resolves the firing alert of `rule_id` for `labels` (stored form); returns it, or
    /// `None` when none was firing.
    async fn resolve_alert(
        &self,
        rule_id: Uuid,
        labels: &str,
        at: DateTime<Utc>,
        value: Option<f64>,
    ) -> Result<Option<Alert>>;
    /// Every firing alert.
    async fn firing(&self) -> Result<Vec<Alert>>;
    /// Alerts matching `filter`, newest first.
    async fn list_alerts(&self, filter: &AlertFilter, page: PageRequest) -> Result<Page<Alert>>;
}

struct Inner {
    repo: Arc<dyn AlertRepository>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventBus>,
    audit: Option<AuditLog>,
    webhooks: Option<TaskQueue>,
    /// `(rule, labels)` → when the condition started holding, for rules not yet firing.
    pending: Mutex<HashMap<(Uuid, String), DateTime<Utc>>>,
}

/// Alert rules and their evaluation. Cheap to clone.
#[derive(Clone)]
pub struct Alerts {
    inner: Arc<Inner>,
    gate: Gate,
}

/// Reading metric series, alert rules and alerts.
pub const METRICS_READ: &str = "metrics:read";
/// Creating, changing and deleting alert rules.
pub const ALERTS_ADMIN: &str = "alerts:admin";

impl fmt::Debug for Alerts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alerts").finish_non_exhaustive()
    }
}

/// What one evaluation changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// Alerts that fired.
    pub fired: Vec<Alert>,
    /// Alerts that resolved.
    pub resolved: Vec<Alert>,
}

impl Alerts {
    /// Rules and alerts in `repo`; `audit` records rule changes; `webhooks` delivers webhooks
    /// (without it, rules with a webhook still fire but nothing is sent).
    pub fn new(
        repo: Arc<dyn AlertRepository>,
        clock: Arc<dyn Clock>,
        events: Arc<dyn EventBus>,
        audit: Option<AuditLog>,
        webhooks: Option<TaskQueue>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                repo,
                clock,
                events,
                audit,
                webhooks,
                pending: Mutex::new(HashMap::new()),
            }),
            gate: Gate::default(),
        }
    }

    /// The service deciding who may read and change rules with `authorizer` (by default only
    /// the system may act).
    #[must_use]
    pub fn with_authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.gate = Gate::new(authorizer);
        self
    }

    /// Adds a rule.
    pub async fn create_rule(
        &self,
        principal: &Principal,
        spec: AlertRuleSpec,
        meta: &RequestMeta,
    ) -> Result<AlertRule> {
        self.gate.check(principal, ALERTS_ADMIN).await?;
        let spec = spec.validated()?;
        let now = self.inner.clock.now_micros();
        let rule = AlertRule {
            id: Uuid::now_v7(),
            spec,
            created_at: now,
            updated_at: now,
        };
        self.inner.repo.insert_rule(&rule).await?;
        self.audit(principal, "alert_rule.create", &rule, meta)
            .await?;
        Ok(rule)
    }

    /// Replaces a rule's spec; its firing alerts resolve when the rule changes what it judges.
    pub async fn update_rule(
        &self,
        principal: &Principal,
        id: Uuid,
        spec: AlertRuleSpec,
        meta: &RequestMeta,
    ) -> Result<AlertRule> {
        self.gate.check(principal, ALERTS_ADMIN).await?;
        let spec = spec.validated()?;
        let Some(old) = self.inner.repo.get_rule(id).await? else {
            return Err(Error::not_found("alert rule", id));
        };
        let rule = AlertRule {
            id,
            spec,
            created_at: old.created_at,
            updated_at: self.inner.clock.now_micros(),
        };
        if !self.inner.repo.update_rule(&rule).await? {
            return Err(Error::not_found("alert rule", id));
        }
        self.forget(id);
        if !rule.spec.enabled
            || rule.spec.metric != old.spec.metric
            || rule.spec.labels != old.spec.labels
        {
            self.resolve_all_of(id).await?;
        }
        self.audit(principal, "alert_rule.update", &rule, meta)
            .await?;
        Ok(rule)
    }

    /// Deletes a rule; its firing alerts resolve.
    pub async fn delete_rule(
        &self,
        principal: &Principal,
        id: Uuid,
        meta: &RequestMeta,
    ) -> Result<()> {
        self.gate.check(principal, ALERTS_ADMIN).await?;
        let Some(rule) = self.inner.repo.get_rule(id).await? else {
            return Err(Error::not_found("alert rule", id));
        };
        self.resolve_all_of(id).await?;
        if !self.inner.repo.delete_rule(id).await? {
            return Err(Error::not_found("alert rule", id));
        }
        self.forget(id);
        self.audit(principal, "alert_rule.delete", &rule, meta)
            .await
    }

    /// One rule; needs `metrics:read`.
    pub async fn rule(&self, principal: &Principal, id: Uuid) -> Result<AlertRule> {
        self.gate.check(principal, METRICS_READ).await?;
        self.inner
            .repo
            .get_rule(id)
            .await?
            .ok_or_else(|| Error::not_found("alert rule", id))
    }

    /// Every rule, by name; needs `metrics:read`.
    pub async fn rules(&self, principal: &Principal) -> Result<Vec<AlertRule>> {
        self.gate.check(principal, METRICS_READ).await?;
        self.inner.repo.list_rules().await
    }

    /// One page of the rules, by name; needs `metrics:read`. Rules are few (each is judged on
    /// every sampling round), so the page is cut from the whole list.
    pub async fn rule_page(
        &self,
        principal: &Principal,
        page: PageRequest,
    ) -> Result<Page<AlertRule>> {
        let rules = self.rules(principal).await?;
        let total = rules.len() as u64;
        let skip = usize::try_from(page.offset()).unwrap_or(usize::MAX);
        Ok(Page {
            items: rules
                .into_iter()
                .skip(skip)
                .take(page.limit() as usize)
                .collect(),
            total,
            limit: page.limit(),
            offset: page.offset(),
        })
    }

    /// Alerts matching `filter`, newest first; needs `metrics:read`.
    pub async fn alerts(
        &self,
        principal: &Principal,
        filter: &AlertFilter,
        page: PageRequest,
    ) -> Result<Page<Alert>> {
        self.gate.check(principal, METRICS_READ).await?;
        self.inner.repo.list_alerts(filter, page).await
    }

    /// One sampling round on demand, as `principal` (who needs [`ALERTS_ADMIN`]: it writes
    /// points and can fire webhooks): samples every source of `series`, then evaluates the
    /// rules against the samples. Nothing is sampled for a principal refused.
    pub async fn sample_now(
        &self,
        principal: &Principal,
        series: &crate::MetricSeries,
    ) -> Result<Evaluation> {
        self.gate.check(principal, ALERTS_ADMIN).await?;
        let samples = series.sample().await?;
        self.evaluate(&samples).await
    }

    /// Judges every enabled rule against `samples` (one sampling round): fires alerts whose
    /// condition has held for the rule's `for_secs`, resolves firing ones whose condition no
    /// longer holds. Series a rule matches that are absent from `samples` keep their state.
    pub async fn evaluate(&self, samples: &[Sample]) -> Result<Evaluation> {
        let now = self.inner.clock.now_micros();
        let rules = self.inner.repo.list_rules().await?;
        let firing: HashMap<(Uuid, String), Alert> = self
            .inner
            .repo
            .firing()
            .await?
            .into_iter()
            .map(|a| ((a.rule_id, labels_key(&a.labels)), a))
            .collect();
        let mut out = Evaluation::default();
        for rule in rules.iter().filter(|r| r.spec.enabled) {
            for sample in samples.iter().filter(|s| {
                s.name == rule.spec.metric
                    && rule
                        .spec
                        .labels
                        .iter()
                        .all(|(k, v)| s.labels.get(k) == Some(v))
            }) {
                let key = (rule.id, labels_key(&sample.labels));
                let holds = rule.spec.comparison.holds(sample.value, rule.spec.value);
                let is_firing = firing.contains_key(&key);
                if holds && !is_firing {
                    let since = *self.pending().entry(key.clone()).or_insert(now);
                    if now - since >= TimeDelta::seconds(i64::from(rule.spec.for_secs)) {
                        self.pending().remove(&key);
                        if let Some(alert) = self.fire(rule, sample, now).await? {
                            out.fired.push(alert);
                        }
                    }
                } else if !holds {
                    self.pending().remove(&key);
                    if is_firing
                        && let Some(alert) = self
                            .inner
                            .repo
                            .resolve_alert(rule.id, &key.1, now, Some(sample.value))
                            .await?
                    {
                        self.announce(rule.spec.webhook_url.as_deref(), &alert)
                            .await;
                        out.resolved.push(alert);
                    }
                }
            }
        }
        Ok(out)
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<(Uuid, String), DateTime<Utc>>> {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn forget(&self, rule: Uuid) {
        self.pending().retain(|(id, _), _| *id != rule);
    }

    async fn fire(
        &self,
        rule: &AlertRule,
        sample: &Sample,
        now: DateTime<Utc>,
    ) -> Result<Option<Alert>> {
        let alert = Alert {
            id: Uuid::now_v7(),
            rule_id: rule.id,
            rule_name: rule.spec.name.clone(),
            metric: sample.name.clone(),
            labels: sample.labels.clone(),
            severity: rule.spec.severity,
            comparison: rule.spec.comparison,
            threshold: rule.spec.value,
            value: sample.value,
            state: AlertState::Firing,
            fired_at: now,
            resolved_at: None,
            resolved_value: None,
        };
        // Another node may have raised it first; then it is theirs to announce.
        if !self.inner.repo.open_alert(&alert).await? {
            return Ok(None);
        }
        self.announce(rule.spec.webhook_url.as_deref(), &alert)
            .await;
        Ok(Some(alert))
    }

    async fn resolve_all_of(&self, rule: Uuid) -> Result<()> {
        let now = self.inner.clock.now_micros();
        let webhook = self
            .inner
            .repo
            .get_rule(rule)
            .await?
            .and_then(|r| r.spec.webhook_url);
        for alert in self.inner.repo.firing().await? {
            if alert.rule_id != rule {
                continue;
            }
            if let Some(resolved) = self
                .inner
                .repo
                .resolve_alert(rule, &labels_key(&alert.labels), now, None)
                .await?
            {
                self.announce(webhook.as_deref(), &resolved).await;
            }
        }
        Ok(())
    }

    /// Logs, publishes and (with a webhook) enqueues delivery of an alert's change. A failed
    /// enqueue is logged: the alert itself is stored either way.
    async fn announce(&self, webhook: Option<&str>, alert: &Alert) {
        let kind = format!("alert.{}", alert.state.as_str());
        let payload = serde_json::to_value(alert).unwrap_or_default();
        match alert.state {
            AlertState::Firing => tracing::warn!(
                rule = %alert.rule_name, metric = %alert.metric, value = alert.value,
                severity = alert.severity.as_str(), "alert firing"
            ),
            AlertState::Resolved => tracing::info!(
                rule = %alert.rule_name, metric = %alert.metric, "alert resolved"
            ),
        }
        self.inner
            .events
            .publish(EVENT_SOURCE, &kind, payload.clone());
        let (Some(url), Some(queue)) = (webhook, &self.inner.webhooks) else {
            return;
        };
        let task = NewTask {
            max_attempts: Some(WEBHOOK_ATTEMPTS),
            unique_key: Some(format!("alert:{}:{}", alert.id, alert.state.as_str())),
            tags: vec!["alert-webhook".into()],
            ..NewTask::new(
                WEBHOOK_KIND,
                json!({
                    "url": url,
                    "method": "POST",
                    "headers": {"content-type": "application/json"},
                    "body": {"event": kind, "alert": payload},
                }),
            )
        };
        if let Err(e) = queue.enqueue(&Principal::System, task).await {
            tracing::warn!(error = %e, alert = %alert.id, "enqueueing the alert webhook failed");
        }
    }

    async fn audit(
        &self,
        principal: &Principal,
        action: &str,
        rule: &AlertRule,
        meta: &RequestMeta,
    ) -> Result<()> {
        let Some(audit) = &self.inner.audit else {
            return Ok(());
        };
        audit
            .record(meta.audit_entry(
                principal.actor(),
                action,
                Some(format!("alert_rule:{}", rule.id)),
                Outcome::Success,
                json!({
                    "name": rule.spec.name,
                    "metric": rule.spec.metric,
                    "comparison": rule.spec.comparison.as_str(),
                    "value": rule.spec.value,
                    "for_secs": rule.spec.for_secs,
                    "severity": rule.spec.severity.as_str(),
                    "enabled": rule.spec.enabled,
                    "webhook": rule.spec.webhook_url.is_some(),
                }),
            ))
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_hold_as_written() {
        assert!(Comparison::Above.holds(2.0, 1.0));
        assert!(!Comparison::Above.holds(1.0, 1.0));
        assert!(Comparison::AtLeast.holds(1.0, 1.0));
        assert!(Comparison::Below.holds(0.5, 1.0));
        assert!(Comparison::AtMost.holds(1.0, 1.0));
        assert!(Comparison::Equal.holds(1.0, 1.0));
        assert!(Comparison::NotEqual.holds(2.0, 1.0));
        assert_eq!(Comparison::parse(">="), Some(Comparison::AtLeast));
        assert_eq!(Comparison::parse("gt"), Some(Comparison::Above));
        assert_eq!(Comparison::parse("~"), None);
    }

    fn spec() -> AlertRuleSpec {
        AlertRuleSpec {
            name: "deep queue".into(),
            metric: "trae_queue_depth".into(),
            labels: Labels::new(),
            comparison: Comparison::Above,
            value: 100.0,
            for_secs: 60,
            severity: Severity::High,
            webhook_url: None,
            enabled: true,
        }
    }

    #[test]
    fn specs_are_validated() {
        assert!(spec().validated().is_ok());
        let bad = |f: fn(&mut AlertRuleSpec), field: &str| {
            let mut s = spec();
            f(&mut s);
            match s.validated() {
                Err(Error::Validation { field: got, .. }) => assert_eq!(got, field),
                other => panic!("expected a {field} error, got {other:?}"),
            }
        };
        bad(|s| s.name = "  ".into(), "name");
        bad(|s| s.metric = "Queue Depth".into(), "metric");
        bad(|s| s.value = f64::NAN, "value");
        bad(|s| s.for_secs = 8 * 86_400, "for_secs");
        bad(
            |s| s.webhook_url = Some("ftp://x.example".into()),
            "webhook_url",
        );
        bad(|s| s.webhook_url = Some("not a url".into()), "webhook_url");
    }
}
