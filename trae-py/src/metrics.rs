//! Metric series and alert rules (`store.metrics`, blocking `trae.Metrics`, asyncio
//! `trae.aio.Metrics`) and the values they return: `MetricSeries`, `AlertRule` and `Alert`.
//!
//! The services are `trae_core::MetricSeries` and `trae_core::Alerts` over the store's
//! repositories, as `trae serve` wires them: series are read from what any process stored
//! (the server samples every 10 s), rule changes are audited, and a rule's webhook is
//! delivered by an `http.request` task. From Python, `sample()` samples the gauges every
//! process can read (the task queue's and the external APIs' activity), stores them and
//! judges the rules, as the server does.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt};
use trae_core::monitoring::metric_series::SeriesQuery;
use trae_core::{AlertFilter, AlertRuleSpec, AlertState, Error, Labels, RequestMeta};
use uuid::Uuid;

use crate::args;
use crate::handle::{Handle, Nothing, awaitable, blocking};
use crate::types::PageOut;

/// One series of a metric: its labels and its points. Read-only; equal when every field is
/// equal.
///
/// Attributes: `name`, `labels` (a new dict on each access), `step_secs` (seconds per point)
/// and `points` (a new list of `(datetime, float)` tuples, oldest first: the start of each
/// step, timezone-aware UTC, and the average over it).
#[pyclass(frozen, eq, module = "trae")]
#[derive(Clone, PartialEq)]
pub(crate) struct MetricSeries {
    name: String,
    step_secs: u32,
    series: trae_core::monitoring::metric_series::Series,
}

#[pymethods]
impl MetricSeries {
    /// The metric's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The series' labels.
    #[getter]
    fn labels(&self) -> BTreeMap<String, String> {
        self.series.labels.clone()
    }

    /// Seconds per point.
    #[getter]
    fn step_secs(&self) -> u32 {
        self.step_secs
    }

    /// `(start of step, average value)` tuples, oldest first.
    #[getter]
    fn points(&self) -> Vec<(DateTime<Utc>, f64)> {
        self.series.points.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "MetricSeries(name={:?}, labels={:?}, step_secs={}, points={})",
            self.name,
            self.series.labels,
            self.step_secs,
            self.series.points.len()
        )
    }
}

/// A stored alert rule. Read-only; equal when every field is equal.
///
/// Attributes: `id` (`uuid.UUID`), `name`, `metric`, `labels` (a new dict on each access),
/// `comparison` (">", ">=", "<", "<=", "==" or "!="), `value`, `for_secs`, `severity` ("low",
/// "medium", "high" or "critical"), `webhook_url`, `enabled`, `created_at` and `updated_at`
/// (timezone-aware UTC).
#[pyclass(frozen, eq, module = "trae")]
#[derive(Clone, PartialEq)]
pub(crate) struct AlertRule(trae_core::AlertRule);

#[pymethods]
impl AlertRule {
    /// The rule's identifier.
    #[getter]
    fn id(&self) -> Uuid {
        self.0.id
    }

    /// The unique name.
    #[getter]
    fn name(&self) -> &str {
        &self.0.spec.name
    }

    /// The metric judged, e.g. "trae_queue_depth".
    #[getter]
    fn metric(&self) -> &str {
        &self.0.spec.metric
    }

    /// Only series carrying these labels are judged.
    #[getter]
    fn labels(&self) -> BTreeMap<String, String> {
        self.0.spec.labels.clone()
    }

    /// How a value is compared with `value`.
    #[getter]
    fn comparison(&self) -> &'static str {
        self.0.spec.comparison.as_str()
    }

    /// The threshold.
    #[getter]
    fn value(&self) -> f64 {
        self.0.spec.value
    }

    /// Seconds the condition must hold before an alert fires.
    #[getter]
    fn for_secs(&self) -> u32 {
        self.0.spec.for_secs
    }

    /// "low", "medium", "high" or "critical".
    #[getter]
    fn severity(&self) -> &'static str {
        self.0.spec.severity.as_str()
    }

    /// The URL POSTed to when an alert fires or resolves, or `None`.
    #[getter]
    fn webhook_url(&self) -> Option<&str> {
        self.0.spec.webhook_url.as_deref()
    }

    /// Whether the rule is judged.
    #[getter]
    fn enabled(&self) -> bool {
        self.0.spec.enabled
    }

    /// When it was created (timezone-aware UTC).
    #[getter]
    fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When it last changed (timezone-aware UTC).
    #[getter]
    fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// The spec as a new dict, ready for `update_rule` after a change.
    fn to_spec<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = &self.0.spec;
        let dict = PyDict::new(py);
        dict.set_item("name", &s.name)?;
        dict.set_item("metric", &s.metric)?;
        dict.set_item("labels", &s.labels)?;
        dict.set_item("comparison", s.comparison.as_str())?;
        dict.set_item("value", s.value)?;
        dict.set_item("for_secs", s.for_secs)?;
        dict.set_item("severity", s.severity.as_str())?;
        dict.set_item("webhook_url", s.webhook_url.as_deref())?;
        dict.set_item("enabled", s.enabled)?;
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        let s = &self.0.spec;
        format!(
            "AlertRule(name={:?}, metric={:?}, comparison={:?}, value={}, for_secs={}, \
             severity={:?})",
            s.name,
            s.metric,
            s.comparison.as_str(),
            s.value,
            s.for_secs,
            s.severity.as_str()
        )
    }
}

/// An alert: a rule's condition held for one series. Read-only; equal when every field is
/// equal.
///
/// Attributes: `id` and `rule_id` (`uuid.UUID`), `rule_name`, `metric`, `labels` (a new dict
/// on each access), `severity`, `comparison`, `threshold`, `value` (the value that fired it),
/// `state` ("firing" or "resolved"), `fired_at`, `resolved_at` (timezone-aware UTC, or `None`)
/// and `resolved_value`.
#[pyclass(frozen, eq, module = "trae")]
#[derive(Clone, PartialEq)]
pub(crate) struct Alert(trae_core::Alert);

#[pymethods]
impl Alert {
    /// The alert's identifier.
    #[getter]
    fn id(&self) -> Uuid {
        self.0.id
    }

    /// The rule that raised it.
    #[getter]
    fn rule_id(&self) -> Uuid {
        self.0.rule_id
    }

    /// The rule's name when it fired.
    #[getter]
    fn rule_name(&self) -> &str {
        &self.0.rule_name
    }

    /// The metric.
    #[getter]
    fn metric(&self) -> &str {
        &self.0.metric
    }

    /// The series' labels.
    #[getter]
    fn labels(&self) -> BTreeMap<String, String> {
        self.0.labels.clone()
    }

    /// "low", "medium", "high" or "critical".
    #[getter]
    fn severity(&self) -> &'static str {
        self.0.severity.as_str()
    }

    /// The rule's comparison.
    #[getter]
    fn comparison(&self) -> &'static str {
        self.0.comparison.as_str()
    }

    /// The rule's threshold.
    #[getter]
    fn threshold(&self) -> f64 {
        self.0.threshold
    }

    /// The value that fired it.
    #[getter]
    fn value(&self) -> f64 {
        self.0.value
    }

    /// "firing" or "resolved".
    #[getter]
    fn state(&self) -> &'static str {
        self.0.state.as_str()
    }

    /// When it fired (timezone-aware UTC).
    #[getter]
    fn fired_at(&self) -> DateTime<Utc> {
        self.0.fired_at
    }

    /// When it resolved (timezone-aware UTC), or `None` while firing.
    #[getter]
    fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.0.resolved_at
    }

    /// The value that resolved it, or `None`.
    #[getter]
    fn resolved_value(&self) -> Option<f64> {
        self.0.resolved_value
    }

    fn __repr__(&self) -> String {
        format!(
            "Alert(rule_name={:?}, labels={:?}, state={:?}, value={})",
            self.0.rule_name,
            self.0.labels,
            self.0.state.as_str(),
            self.0.value
        )
    }
}

/// A rule spec from a dict and keyword arguments (see `Metrics.create_rule`).
fn rule_arg(
    spec: Option<&Bound<'_, PyAny>>,
    fields: Option<&Bound<'_, PyDict>>,
) -> PyResult<trae_core::Result<AlertRuleSpec>> {
    args::json_spec(spec, fields, &[])
}

/// An alert filter from `state` and `rule_id`.
fn alert_filter(
    state: Option<&str>,
    rule_id: Option<&Bound<'_, PyAny>>,
) -> PyResult<trae_core::Result<AlertFilter>> {
    let rule_id = match rule_id {
        None => None,
        Some(value) => match args::id(value)? {
            Ok(id) => Some(id),
            Err(e) => return Ok(Err(e)),
        },
    };
    let state = match state {
        None => None,
        Some(name) => match AlertState::parse(name.trim()) {
            Some(state) => Some(state),
            None => {
                return Ok(Err(Error::validation(
                    "state",
                    format!("firing or resolved, got {name:?}"),
                )));
            }
        },
    };
    Ok(Ok(AlertFilter { state, rule_id }))
}

/// A series query from Python arguments.
fn series_query(
    name: String,
    since: Option<&Bound<'_, PyAny>>,
    step: Option<&Bound<'_, PyInt>>,
    labels: Option<Labels>,
) -> PyResult<trae_core::Result<SeriesQuery>> {
    let since = args::utc("since", since)?;
    Ok((|| {
        Ok(SeriesQuery {
            name,
            since: since?,
            step_secs: step.map(|s| args::int("step", s)).transpose()?,
            labels: labels.unwrap_or_default(),
        })
    })())
}

/// Where a call from Python comes from, for the audit log: nowhere in particular.
fn meta() -> RequestMeta {
    RequestMeta::default()
}

/// Defines a metrics service class, each method running its work with `$run`.
macro_rules! metrics_service {
    (
        run: $run:path,
        module: $module:tt,
        class: $Metrics:ident,
        doc: $doc:tt $(,)?
    ) => {
        #[doc = concat!(
                    "Metric series and alert rules of a store (`store.metrics`)", $doc, "\n\n",
                    "Calls act as the store's principal (reading needs `metrics:read`, changing ",
                    "rules `alerts:admin`); rule changes are audited."
                )]
        #[pyclass(frozen, name = "Metrics", module = $module)]
        pub(crate) struct $Metrics {
            pub(crate) handle: Arc<Handle>,
        }

        #[pymethods]
        impl $Metrics {
            /// Every metric name with stored points, sorted.
            fn names<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                $run(py, async move { handle.monitoring()?.0.names(handle.principal()).await })
            }

            /// The series of metric `name` (a list of `MetricSeries`, by labels).
            ///
            /// `since` (a timezone-aware datetime; default an hour ago, at most a day back)
            /// picks the first point: within the last hour points are 10 s apart, before it a
            /// minute. `step` (seconds, a multiple of that) averages points into longer steps
            /// (a step of a minute or more reads the minute averages, of closed minutes only);
            /// `labels` keeps only series carrying them. A bad name, a future `since` or a
            /// step that is no multiple raise `ValidationError`.
            #[pyo3(
                        signature = (name, *, since = None, step = None, labels = None),
                        text_signature = "($self, name, *, since=None, step=None, labels=None)"
                    )]
            fn query<'py>(
                &self,
                py: Python<'py>,
                name: String,
                since: Option<&Bound<'py, PyAny>>,
                step: Option<&Bound<'py, PyInt>>,
                labels: Option<Labels>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let query = series_query(name, since, step, labels)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let set = handle.monitoring()?.0.query(handle.principal(), &query?).await?;
                    Ok(set
                        .series
                        .into_iter()
                        .map(|series| MetricSeries {
                            name: set.name.clone(),
                            step_secs: set.step_secs,
                            series,
                        })
                        .collect::<Vec<_>>())
                })
            }

            /// Samples the task queue's and the external APIs' gauges now, stores them and
            /// judges the alert rules against them; returns the alerts that fired or resolved
            /// (a list of `Alert`). Needs `alerts:admin`: it writes points and can fire
            /// webhooks.
            fn sample<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let (series, alerts) = handle.monitoring()?;
                    let round = alerts.sample_now(handle.principal(), series).await?;
                    Ok(round
                        .fired
                        .into_iter()
                        .chain(round.resolved)
                        .map(Alert)
                        .collect::<Vec<_>>())
                })
            }

            /// Adds an alert rule and returns it as an `AlertRule`.
            ///
            /// `spec` is a dict in the JSON shape of the HTTP API (`name`, `metric`,
            /// `comparison`, `value` and `severity` required; `labels`, `for_secs`,
            /// `webhook_url`, `enabled`); keyword arguments add to it or replace its keys.
            /// Unknown keys, wrong types and broken rules raise `ValidationError`; a taken
            /// name `Conflict`.
            #[pyo3(signature = (spec = None, /, **fields))]
            fn create_rule<'py>(
                &self,
                py: Python<'py>,
                spec: Option<&Bound<'py, PyAny>>,
                fields: Option<&Bound<'py, PyDict>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let spec = rule_arg(spec, fields)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let alerts = &handle.monitoring()?.1;
                    alerts
                        .create_rule(handle.principal(), spec?, &meta())
                        .await
                        .map(AlertRule)
                })
            }

            /// Replaces the spec of rule `id` (a `uuid.UUID` or its string) and returns it;
            /// its firing alerts resolve when the rule stops judging them. The arguments of
            /// `create_rule` apply; raises `NotFound` when there is none.
            #[pyo3(signature = (id, spec = None, /, **fields))]
            fn update_rule<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                spec: Option<&Bound<'py, PyAny>>,
                fields: Option<&Bound<'py, PyDict>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let spec = rule_arg(spec, fields)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let alerts = &handle.monitoring()?.1;
                    alerts
                        .update_rule(handle.principal(), id?, spec?, &meta())
                        .await
                        .map(AlertRule)
                })
            }

            /// Deletes rule `id`; its firing alerts resolve. Raises `NotFound` when there is
            /// none.
            fn delete_rule<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let alerts = &handle.monitoring()?.1;
                    alerts
                        .delete_rule(handle.principal(), id?, &meta())
                        .await?;
                    Ok(Nothing)
                })
            }

            /// Rule `id` as an `AlertRule`; raises `NotFound` when there is none.
            fn rule<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    handle.monitoring()?.1.rule(handle.principal(), id?).await.map(AlertRule)
                })
            }

            /// Every rule (a list of `AlertRule`), by name.
            fn rules<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let rules = handle.monitoring()?.1.rules(handle.principal()).await?;
                    Ok(rules.into_iter().map(AlertRule).collect::<Vec<_>>())
                })
            }

            /// One `Page` of alerts, newest first. `state` ("firing" or "resolved") and
            /// `rule_id` filter; `limit` (1–500) and `offset` choose the page.
            #[pyo3(
                        signature = (*, state = None, rule_id = None, limit = None, offset = None),
                        text_signature = "($self, *, state=None, rule_id=None, limit=50, offset=0)"
                    )]
            fn alerts<'py>(
                &self,
                py: Python<'py>,
                state: Option<&str>,
                rule_id: Option<&Bound<'py, PyAny>>,
                limit: Option<&Bound<'py, PyInt>>,
                offset: Option<&Bound<'py, PyInt>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let filter = alert_filter(state, rule_id)?;
                let page = args::page(limit, offset);
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let alerts = &handle.monitoring()?.1;
                    let page = alerts.alerts(handle.principal(), &filter?, page?).await?;
                    Ok(PageOut(page.map(Alert)))
                })
            }

            fn __repr__(&self) -> String {
                format!("<{}.Metrics backend='{}'>", $module, self.handle.backend())
            }
        }
    };
}

metrics_service! {
    run: blocking,
    module: "trae",
    class: Metrics,
    doc: ".",
}

metrics_service! {
    run: awaitable,
    module: "trae.aio",
    class: AsyncMetrics,
    doc: "; the methods of `trae.Metrics`, each returning an awaitable.",
}
