//! `/metrics` (Prometheus text), `/api/metrics` (JSON time series), `/api/metrics/alerts`
//! (alert rules and the alerts they raised) and `/api/metrics/requests` (request history).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use trae_auth::RequestMeta;
use trae_core::monitoring::metric_series::parse_labels_key;
use trae_core::monitoring::request_history::{RequestFilter, RequestRecorder};
use trae_core::{
    Alert, AlertFilter, AlertRule, AlertRuleSpec, AlertState, Alerts, Error, MetricSeries,
    PageRequest, SeriesQuery,
};
use uuid::Uuid;

use super::ApiTags;
use super::json_body::JsonBody;
use super::page::Page;
use crate::ApiError;
use crate::credentials::{Auth, OptionalAuth};

/// The metrics router.
#[derive(Debug, Clone)]
pub struct MetricsApi {
    history: Option<RequestRecorder>,
    series: MetricSeries,
    alerts: Alerts,
    open_to: Vec<ipnet::IpNet>,
}

impl MetricsApi {
    /// A router over request history (`None` when history is off), metric series and alert
    /// rules (each deciding who may read or change it); clients in `open_to` read `/metrics`
    /// without credentials.
    pub fn new(
        history: Option<RequestRecorder>,
        series: MetricSeries,
        alerts: Alerts,
        open_to: Vec<ipnet::IpNet>,
    ) -> Self {
        Self {
            history,
            series,
            alerts,
            open_to,
        }
    }

    /// Whether the client may scrape `/metrics` without credentials.
    fn open_for(&self, meta: &RequestMeta) -> bool {
        meta.ip
            .as_deref()
            .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
            .is_some_and(|ip| self.open_to.iter().any(|net| net.contains(&ip)))
    }
}

/// One series: its labels and `[time, value]` points.
#[derive(Debug, Clone, Object)]
#[oai(rename = "MetricSeries")]
pub struct SeriesBody {
    /// The series' labels.
    pub labels: BTreeMap<String, String>,
    /// `(start of step, average value)`, oldest first.
    pub points: Vec<PointBody>,
}

/// One point of a series.
#[derive(Debug, Clone, Object)]
#[oai(rename = "MetricPoint")]
pub struct PointBody {
    /// The start of the step.
    pub at: DateTime<Utc>,
    /// The average value over the step.
    pub value: f64,
}

/// A metric's series over a range.
#[derive(Debug, Clone, Object)]
#[oai(rename = "MetricSeriesSet")]
pub struct SeriesSetBody {
    /// The metric name.
    pub name: String,
    /// Seconds per point.
    pub step: u32,
    /// The earliest time covered.
    pub since: DateTime<Utc>,
    /// Every matching series.
    pub series: Vec<SeriesBody>,
}

/// Metric names with stored points.
#[derive(Debug, Clone, Object)]
#[oai(rename = "MetricNames")]
pub struct NamesBody {
    /// The names, sorted.
    pub names: Vec<String>,
}

/// How a value is compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ComparisonBody {
    /// Greater than.
    #[oai(rename = ">")]
    Gt,
    /// Greater than or equal.
    #[oai(rename = ">=")]
    Gte,
    /// Less than.
    #[oai(rename = "<")]
    Lt,
    /// Less than or equal.
    #[oai(rename = "<=")]
    Lte,
    /// Equal.
    #[oai(rename = "==")]
    Eq,
    /// Not equal.
    #[oai(rename = "!=")]
    Ne,
}

impl From<ComparisonBody> for trae_core::Comparison {
    fn from(c: ComparisonBody) -> Self {
        match c {
            ComparisonBody::Gt => Self::Above,
            ComparisonBody::Gte => Self::AtLeast,
            ComparisonBody::Lt => Self::Below,
            ComparisonBody::Lte => Self::AtMost,
            ComparisonBody::Eq => Self::Equal,
            ComparisonBody::Ne => Self::NotEqual,
        }
    }
}

impl From<trae_core::Comparison> for ComparisonBody {
    fn from(c: trae_core::Comparison) -> Self {
        use trae_core::Comparison as C;
        match c {
            C::Above => Self::Gt,
            C::AtLeast => Self::Gte,
            C::Below => Self::Lt,
            C::AtMost => Self::Lte,
            C::Equal => Self::Eq,
            C::NotEqual => Self::Ne,
        }
    }
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum SeverityBody {
    /// Worth a look.
    Low,
    /// Needs attention soon.
    Medium,
    /// Needs attention now.
    High,
    /// Something is down.
    Critical,
}

impl From<SeverityBody> for trae_core::Severity {
    fn from(s: SeverityBody) -> Self {
        match s {
            SeverityBody::Low => Self::Low,
            SeverityBody::Medium => Self::Medium,
            SeverityBody::High => Self::High,
            SeverityBody::Critical => Self::Critical,
        }
    }
}

impl From<trae_core::Severity> for SeverityBody {
    fn from(s: trae_core::Severity) -> Self {
        use trae_core::Severity as S;
        match s {
            S::Low => Self::Low,
            S::Medium => Self::Medium,
            S::High => Self::High,
            S::Critical => Self::Critical,
        }
    }
}

/// An alert rule as written.
#[derive(Debug, Clone, Object)]
#[oai(rename = "AlertRuleSpec", deny_unknown_fields)]
pub struct RuleSpecBody {
    /// Unique name, 1–100 characters.
    pub name: String,
    /// The metric judged (docs/operations.md lists them), e.g. `trae_queue_depth`.
    pub metric: String,
    /// Only series carrying these labels (default: every series of the metric).
    pub labels: Option<BTreeMap<String, String>>,
    /// How a value is compared with `value`.
    pub comparison: ComparisonBody,
    /// The threshold.
    pub value: f64,
    /// Seconds the condition must hold before the alert fires (default 0).
    #[oai(rename = "for")]
    pub for_secs: Option<u32>,
    /// How urgent the alert is.
    pub severity: SeverityBody,
    /// An http(s) URL that receives a JSON POST when an alert fires and resolves (its host
    /// must be on `TRAE_OUTBOUND_ALLOW_HOSTS`).
    pub webhook_url: Option<String>,
    /// Whether the rule is evaluated (default true).
    pub enabled: Option<bool>,
}

impl From<RuleSpecBody> for AlertRuleSpec {
    fn from(b: RuleSpecBody) -> Self {
        Self {
            name: b.name,
            metric: b.metric,
            labels: b.labels.unwrap_or_default(),
            comparison: b.comparison.into(),
            value: b.value,
            for_secs: b.for_secs.unwrap_or(0),
            severity: b.severity.into(),
            webhook_url: b.webhook_url,
            enabled: b.enabled.unwrap_or(true),
        }
    }
}

/// A stored alert rule.
#[derive(Debug, Clone, Object)]
#[oai(rename = "AlertRule")]
pub struct RuleBody {
    /// Identifier.
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// The metric judged.
    pub metric: String,
    /// Only series carrying these labels.
    pub labels: BTreeMap<String, String>,
    /// How a value is compared with `value`.
    pub comparison: ComparisonBody,
    /// The threshold.
    pub value: f64,
    /// Seconds the condition must hold before the alert fires.
    #[oai(rename = "for")]
    pub for_secs: u32,
    /// How urgent.
    pub severity: SeverityBody,
    /// Where alerts are POSTed.
    pub webhook_url: Option<String>,
    /// Whether the rule is evaluated.
    pub enabled: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<AlertRule> for RuleBody {
    fn from(r: AlertRule) -> Self {
        Self {
            id: r.id,
            name: r.spec.name,
            metric: r.spec.metric,
            labels: r.spec.labels,
            comparison: r.spec.comparison.into(),
            value: r.spec.value,
            for_secs: r.spec.for_secs,
            severity: r.spec.severity.into(),
            webhook_url: r.spec.webhook_url,
            enabled: r.spec.enabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Firing or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum AlertStateBody {
    /// The condition holds.
    Firing,
    /// The condition stopped holding.
    Resolved,
}

/// An alert a rule raised.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Alert")]
pub struct AlertBody {
    /// Identifier.
    pub id: Uuid,
    /// The rule that raised it.
    pub rule_id: Uuid,
    /// The rule's name when it fired.
    pub rule_name: String,
    /// The metric.
    pub metric: String,
    /// The series' labels.
    pub labels: BTreeMap<String, String>,
    /// How urgent.
    pub severity: SeverityBody,
    /// The rule's comparison.
    pub comparison: ComparisonBody,
    /// The rule's threshold.
    pub threshold: f64,
    /// The value that fired it.
    pub value: f64,
    /// Firing or resolved.
    pub state: AlertStateBody,
    /// When it fired.
    pub fired_at: DateTime<Utc>,
    /// When it resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The value that resolved it (none when its rule was changed or deleted).
    pub resolved_value: Option<f64>,
}

impl From<Alert> for AlertBody {
    fn from(a: Alert) -> Self {
        Self {
            id: a.id,
            rule_id: a.rule_id,
            rule_name: a.rule_name,
            metric: a.metric,
            labels: a.labels,
            severity: a.severity.into(),
            comparison: a.comparison.into(),
            threshold: a.threshold,
            value: a.value,
            state: match a.state {
                AlertState::Firing => AlertStateBody::Firing,
                AlertState::Resolved => AlertStateBody::Resolved,
            },
            fired_at: a.fired_at,
            resolved_at: a.resolved_at,
            resolved_value: a.resolved_value,
        }
    }
}

/// A created rule, with its location.
#[derive(Debug, ApiResponse)]
pub enum RuleCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<RuleBody>, #[oai(header = "Location")] String),
}

/// Nothing to return.
#[derive(Debug, ApiResponse)]
pub enum RuleDeleted {
    /// Deleted; its firing alerts resolved.
    #[oai(status = 204)]
    NoContent,
}

/// One served request.
#[derive(Debug, Clone, Object)]
#[oai(rename = "RequestRecord")]
pub struct RequestRecordBody {
    /// Identifier.
    pub id: Uuid,
    /// When it finished.
    pub at: DateTime<Utc>,
    /// HTTP method.
    pub method: String,
    /// Route template (path parameters replaced).
    pub route: String,
    /// Response status.
    pub status: u16,
    /// Latency in microseconds.
    pub latency_us: u64,
    /// Client IP.
    pub client: String,
    /// Request id.
    pub request_id: Option<String>,
}

#[OpenApi(tag = "ApiTags::Metrics")]
impl MetricsApi {
    /// Every metric in the Prometheus text format (metrics:read)
    ///
    /// Request counts and latency histograms per route template, task transitions, external
    /// API attempts, rate-limit refusals; docs/operations.md lists the names.
    #[oai(path = "/metrics", method = "get", operation_id = "prometheus_metrics")]
    async fn prometheus(
        &self,
        auth: OptionalAuth,
        meta: Data<&RequestMeta>,
    ) -> Result<PlainText<String>, ApiError> {
        if !self.open_for(meta.0) {
            self.series.readable_by(auth.signed_in()?).await?;
        }
        let handle = crate::prometheus::handle().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "another metrics recorder is installed in this process",
            )
        })?;
        Ok(PlainText(handle.render()))
    }

    /// A metric's time series (metrics:read)
    ///
    /// `name` is a metric (see `/api/metrics/names`); `since` defaults to an hour ago and
    /// reaches back a day at most; `step` (seconds, default 10 within the last hour, 60
    /// beyond) averages points; `labels` (`queue=default,state=running`) keeps matching
    /// series only.
    #[oai(path = "/api/metrics", method = "get", operation_id = "metric_series")]
    async fn series(
        &self,
        auth: Auth,
        name: Query<String>,
        since: Query<Option<DateTime<Utc>>>,
        step: Query<Option<u32>>,
        labels: Query<Option<String>>,
    ) -> Result<Json<SeriesSetBody>, ApiError> {
        let set = self
            .series
            .query(
                auth.principal(),
                &SeriesQuery {
                    name: name.0,
                    since: since.0,
                    step_secs: step.0,
                    labels: labels
                        .0
                        .as_deref()
                        .map(parse_labels_key)
                        .unwrap_or_default(),
                },
            )
            .await?;
        Ok(Json(SeriesSetBody {
            name: set.name,
            step: set.step_secs,
            since: set.since,
            series: set
                .series
                .into_iter()
                .map(|s| SeriesBody {
                    labels: s.labels,
                    points: s
                        .points
                        .into_iter()
                        .map(|(at, value)| PointBody { at, value })
                        .collect(),
                })
                .collect(),
        }))
    }

    /// Metric names with stored points (metrics:read)
    #[oai(
        path = "/api/metrics/names",
        method = "get",
        operation_id = "metric_names"
    )]
    async fn names(&self, auth: Auth) -> Result<Json<NamesBody>, ApiError> {
        Ok(Json(NamesBody {
            names: self.series.names(auth.principal()).await?,
        }))
    }

    /// Alert rules (metrics:read), by name; page with `limit` (1–500, default 50) and `offset`
    #[oai(
        path = "/api/metrics/alerts",
        method = "get",
        operation_id = "list_alert_rules"
    )]
    async fn rules(
        &self,
        auth: Auth,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Page<RuleBody>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        let rules = self.alerts.rule_page(auth.principal(), page).await?;
        Ok(Json(rules.into()))
    }

    /// Adds an alert rule (alerts:admin); audited
    #[oai(
        path = "/api/metrics/alerts",
        method = "post",
        operation_id = "create_alert_rule"
    )]
    async fn create_rule(
        &self,
        auth: Auth,
        meta: Data<&RequestMeta>,
        body: JsonBody<RuleSpecBody>,
    ) -> Result<RuleCreated, ApiError> {
        let principal = auth.principal();
        let rule = self
            .alerts
            .create_rule(principal, body.0.into(), meta.0)
            .await?;
        let location = format!("/api/metrics/alerts/{}", rule.id);
        Ok(RuleCreated::Created(Json(rule.into()), location))
    }

    /// Alerts raised, newest first (metrics:read); filter by `state` and `rule_id`
    #[oai(
        path = "/api/metrics/alerts/history",
        method = "get",
        operation_id = "list_alerts"
    )]
    async fn alert_history(
        &self,
        auth: Auth,
        state: Query<Option<AlertStateBody>>,
        rule_id: Query<Option<Uuid>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Page<AlertBody>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        let filter = AlertFilter {
            state: state.0.map(|s| match s {
                AlertStateBody::Firing => AlertState::Firing,
                AlertStateBody::Resolved => AlertState::Resolved,
            }),
            rule_id: rule_id.0,
        };
        let found = self.alerts.alerts(auth.principal(), &filter, page).await?;
        Ok(Json(found.into()))
    }

    /// One alert rule (metrics:read)
    #[oai(
        path = "/api/metrics/alerts/:id",
        method = "get",
        operation_id = "get_alert_rule"
    )]
    async fn rule(&self, auth: Auth, id: Path<Uuid>) -> Result<Json<RuleBody>, ApiError> {
        Ok(Json(self.alerts.rule(auth.principal(), id.0).await?.into()))
    }

    /// Replaces an alert rule (alerts:admin); audited
    #[oai(
        path = "/api/metrics/alerts/:id",
        method = "put",
        operation_id = "update_alert_rule"
    )]
    async fn update_rule(
        &self,
        auth: Auth,
        meta: Data<&RequestMeta>,
        id: Path<Uuid>,
        body: JsonBody<RuleSpecBody>,
    ) -> Result<Json<RuleBody>, ApiError> {
        let principal = auth.principal();
        let rule = self
            .alerts
            .update_rule(principal, id.0, body.0.into(), meta.0)
            .await?;
        Ok(Json(rule.into()))
    }

    /// Deletes an alert rule (alerts:admin); its firing alerts resolve; audited
    #[oai(
        path = "/api/metrics/alerts/:id",
        method = "delete",
        operation_id = "delete_alert_rule"
    )]
    async fn delete_rule(
        &self,
        auth: Auth,
        meta: Data<&RequestMeta>,
        id: Path<Uuid>,
    ) -> Result<RuleDeleted, ApiError> {
        let principal = auth.principal();
        self.alerts.delete_rule(principal, id.0, meta.0).await?;
        Ok(RuleDeleted::NoContent)
    }

    /// Request history
    ///
    /// Newest first; health and metrics routes are not recorded. Filter by `method`, `route`
    /// (template), `status`, `client`, `since`, `until`; page with `limit` and `offset`.
    #[oai(
        path = "/api/metrics/requests",
        method = "get",
        operation_id = "request_history"
    )]
    #[allow(clippy::too_many_arguments)] // poem-openapi takes one argument per query parameter
    async fn requests(
        &self,
        auth: Auth,
        method: Query<Option<String>>,
        route: Query<Option<String>>,
        status: Query<Option<u16>>,
        client: Query<Option<String>>,
        since: Query<Option<DateTime<Utc>>>,
        until: Query<Option<DateTime<Utc>>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Page<RequestRecordBody>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        let history = self.history.as_ref().ok_or_else(|| {
            Error::Unavailable("request history is off (TRAE_REQUEST_HISTORY_PERCENT=0)".into())
        })?;
        let filter = RequestFilter {
            method: method.0.map(|m| m.to_ascii_uppercase()),
            route: route.0,
            status: status.0,
            client: client.0,
            since: since.0,
            until: until.0,
        };
        let page = history.list(auth.principal(), &filter, page).await?;
        Ok(Json(Page {
            total: page.total,
            limit: page.limit,
            offset: page.offset,
            items: page
                .items
                .into_iter()
                .map(|r| RequestRecordBody {
                    id: r.id,
                    at: r.at,
                    method: r.method,
                    route: r.route,
                    status: r.status,
                    latency_us: r.latency_us,
                    client: r.client,
                    request_id: r.request_id,
                })
                .collect(),
        }))
    }
}
