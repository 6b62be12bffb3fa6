//! Component health (`store.health`, blocking `trae.Health`, asyncio `trae.aio.Health`) and
//! the values it returns: `HealthReport`, `ComponentStatus` and `HealthTransition`.
//!
//! The service is `trae_storage::HealthMonitor`, the one `trae serve` runs: the built-in
//! components (database, task queue, workers, the data directory's disk) judged by the
//! configured rules (`TRAE_HEALTH_*`), with transitions kept in the database's shared history
//! and audited. It is opened on first use, which restores that history and checks every
//! component once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use trae_core::{ComponentReport, HealthStatus, TransitionRecord};

use crate::handle::{Handle, awaitable, blocking};

/// One component's health. Read-only; equal when every field is equal.
///
/// Attributes: `name`, `required` (readiness fails while a required component is failing or
/// critical), `status` ("unknown", "healthy", "degraded", "failing" or "critical"),
/// `last_check` and `last_ok` (timezone-aware UTC, or `None`), `consecutive_failures`,
/// `total_checks`, `total_failures`, `uptime_24h` and `uptime_7d` (percent of the observed
/// window spent healthy or degraded, `None` before the first check), `average_recovery_secs`
/// (`None` before the first recovery) and `last_error`.
#[pyclass(frozen, eq, module = "trae")]
#[derive(Clone, PartialEq)]
pub(crate) struct ComponentStatus(ComponentReport);

#[pymethods]
impl ComponentStatus {
    /// The component's name, e.g. "database".
    #[getter]
    fn name(&self) -> &str {
        &self.0.name
    }

    /// Whether readiness fails while it is failing or critical.
    #[getter]
    fn required(&self) -> bool {
        self.0.required
    }

    /// "unknown", "healthy", "degraded", "failing" or "critical".
    #[getter]
    fn status(&self) -> &'static str {
        self.0.status.as_str()
    }

    /// When it was last checked (timezone-aware UTC), or `None`.
    #[getter]
    fn last_check(&self) -> Option<DateTime<Utc>> {
        self.0.last_check
    }

    /// When a check last passed (timezone-aware UTC), or `None`.
    #[getter]
    fn last_ok(&self) -> Option<DateTime<Utc>> {
        self.0.last_ok
    }

    /// Failed checks in a row.
    #[getter]
    fn consecutive_failures(&self) -> u32 {
        self.0.consecutive_failures
    }

    /// Checks run.
    #[getter]
    fn total_checks(&self) -> u64 {
        self.0.total_checks
    }

    /// Checks failed.
    #[getter]
    fn total_failures(&self) -> u64 {
        self.0.total_failures
    }

    /// Percent of the observed last 24 hours spent up, or `None` before the first check.
    #[getter]
    fn uptime_24h(&self) -> Option<f64> {
        self.0.uptime_24h
    }

    /// Percent of the observed last 7 days spent up, or `None` before the first check.
    #[getter]
    fn uptime_7d(&self) -> Option<f64> {
        self.0.uptime_7d
    }

    /// Mean seconds from going down to coming back up, or `None` before a recovery.
    #[getter]
    fn average_recovery_secs(&self) -> Option<f64> {
        self.0.average_recovery_secs
    }

    /// The latest failure (no secrets, paths or host versions), or `None`.
    #[getter]
    fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }

    /// Every attribute as a new dict, with the same Python types.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let r = &self.0;
        let dict = PyDict::new(py);
        dict.set_item("name", &r.name)?;
        dict.set_item("required", r.required)?;
        dict.set_item("status", r.status.as_str())?;
        dict.set_item("last_check", r.last_check)?;
        dict.set_item("last_ok", r.last_ok)?;
        dict.set_item("consecutive_failures", r.consecutive_failures)?;
        dict.set_item("total_checks", r.total_checks)?;
        dict.set_item("total_failures", r.total_failures)?;
        dict.set_item("uptime_24h", r.uptime_24h)?;
        dict.set_item("uptime_7d", r.uptime_7d)?;
        dict.set_item("average_recovery_secs", r.average_recovery_secs)?;
        dict.set_item("last_error", r.last_error.as_deref())?;
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        let r = &self.0;
        format!(
            "ComponentStatus(name={:?}, status={:?}, required={}, consecutive_failures={})",
            r.name,
            r.status.as_str(),
            if r.required { "True" } else { "False" },
            r.consecutive_failures
        )
    }
}

/// A component's status change. Read-only; equal when every field is equal.
///
/// Attributes: `component`, `from_status`, `to_status`, `at` (timezone-aware UTC) and `error`
/// (the failure that caused it; `None` when recovering).
#[pyclass(frozen, eq, module = "trae")]
#[derive(Clone, PartialEq)]
pub(crate) struct HealthTransition(TransitionRecord);

#[pymethods]
impl HealthTransition {
    /// The component.
    #[getter]
    fn component(&self) -> &str {
        &self.0.component
    }

    /// The status before.
    #[getter(from_status)]
    fn status_before(&self) -> &'static str {
        self.0.from.as_str()
    }

    /// The status after.
    #[getter(to_status)]
    fn status_after(&self) -> &'static str {
        self.0.to.as_str()
    }

    /// When it changed (timezone-aware UTC).
    #[getter]
    fn at(&self) -> DateTime<Utc> {
        self.0.at
    }

    /// The failure that caused it, or `None` when recovering.
    #[getter]
    fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }

    fn __repr__(&self) -> String {
        format!(
            "HealthTransition(component={:?}, from_status={:?}, to_status={:?}, at='{}')",
            self.0.component,
            self.0.from.as_str(),
            self.0.to.as_str(),
            self.0.at.to_rfc3339()
        )
    }
}

/// The overall health and each component's. Read-only.
///
/// Attributes: `status` (the worst status of the required components; an optional one that
/// is down makes it at most "degraded"), `ready` (no required component failing or critical)
/// and `components` (a new list of `ComponentStatus`, by name, on each access).
#[pyclass(frozen, module = "trae")]
pub(crate) struct HealthReport {
    status: HealthStatus,
    ready: bool,
    components: Vec<ComponentReport>,
}

#[pymethods]
impl HealthReport {
    /// "unknown", "healthy", "degraded", "failing" or "critical".
    #[getter]
    fn status(&self) -> &'static str {
        self.status.as_str()
    }

    /// Whether no required component is failing or critical.
    #[getter]
    fn ready(&self) -> bool {
        self.ready
    }

    /// Every component's `ComponentStatus`, by name.
    #[getter]
    fn components(&self) -> Vec<ComponentStatus> {
        self.components
            .iter()
            .cloned()
            .map(ComponentStatus)
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "HealthReport(status={:?}, ready={}, components={})",
            self.status.as_str(),
            if self.ready { "True" } else { "False" },
            self.components.len()
        )
    }
}

/// The report of `monitor` as it stands, for a `principal` who may see the components.
async fn report(
    monitor: &trae_storage::HealthMonitor,
    principal: &trae_core::Principal,
) -> trae_core::Result<HealthReport> {
    Ok(HealthReport {
        status: monitor.health().overall(),
        ready: monitor.health().ready(),
        components: monitor.reports(principal).await?,
    })
}

/// Defines a health service class, each method running its work with `$run`.
macro_rules! health_service {
    (
        run: $run:path,
        module: $module:tt,
        class: $Health:ident,
        doc: $doc:tt $(,)?
    ) => {
        #[doc = concat!(
            "Component health of a store (`store.health`)", $doc, "\n\n",
            "Opened on first use: the shared history is restored (so uptime and recovery ",
            "figures include what `trae serve` saw) and every built-in component is checked ",
            "once. Checks made here are recorded in that history and audited. Raises ",
            "`ConfigError` when the trae configuration (`TRAE_HEALTH_*`) is invalid."
        )]
        #[pyclass(frozen, name = "Health", module = $module)]
        pub(crate) struct $Health {
            pub(crate) handle: Arc<Handle>,
        }

        #[pymethods]
        impl $Health {
            /// Checks every built-in component now and returns the `HealthReport`.
            fn check<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let monitor = handle.health().await?;
                    monitor.check_all().await;
                    report(monitor, handle.principal()).await
                })
            }

            /// Checks the built-in component `name` ("database", "task_queue", "workers" or
            /// "disk") now and returns its `ComponentStatus`; raises `NotFound` for any other
            /// name.
            fn check_component<'py>(
                &self,
                py: Python<'py>,
                name: String,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let monitor = handle.health().await?;
                    monitor.check(handle.principal(), &name).await.map(ComponentStatus)
                })
            }

            /// The `HealthReport` as of the latest checks, without checking anything.
            fn report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                $run(py, async move { report(handle.health().await?, handle.principal()).await })
            }

            /// The component `name`'s `ComponentStatus`; raises `NotFound` when there is none.
            fn component<'py>(&self, py: Python<'py>, name: String) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let monitor = handle.health().await?;
                    let (report, _) = monitor.component(handle.principal(), &name).await?;
                    Ok(ComponentStatus(report))
                })
            }

            /// The component `name`'s status changes over the last 7 days (a list of
            /// `HealthTransition`, newest first); raises `NotFound` when there is none.
            fn history<'py>(&self, py: Python<'py>, name: String) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let monitor = handle.health().await?;
                    let (_, history) = monitor.component(handle.principal(), &name).await?;
                    Ok(history
                        .into_iter()
                        .map(HealthTransition)
                        .collect::<Vec<_>>())
                })
            }

            fn __repr__(&self) -> String {
                format!("<{}.Health backend='{}'>", $module, self.handle.backend())
            }
        }
    };
}

health_service! {
    run: blocking,
    module: "trae",
    class: Health,
    doc: ".",
}

health_service! {
    run: awaitable,
    module: "trae.aio",
    class: AsyncHealth,
    doc: "; the methods of `trae.Health`, each returning an awaitable.",
}
