//! `trae.RateLimiter`: trae-core's exact multi-window rate limiter, usable on its own.

use std::sync::Arc;

use pyo3::prelude::*;
use trae_core::SystemClock;
use trae_core::apis::rate_limit::{
    Decision, RateLimitPolicy, RateLimiter as CoreLimiter, WindowStatus,
};

use crate::args;
use crate::errors::to_py_err;

/// The state of one window after a decision.
#[pyclass(frozen, eq, module = "trae")]
#[derive(Clone, PartialEq)]
pub(crate) struct RateWindow(WindowStatus);

#[pymethods]
impl RateWindow {
    /// The window's length in seconds.
    #[getter]
    fn window(&self) -> f64 {
        self.0.window.as_secs_f64()
    }

    /// Calls admitted per window.
    #[getter]
    fn limit(&self) -> u64 {
        self.0.limit
    }

    /// Calls this window would still admit now.
    #[getter]
    fn remaining(&self) -> u64 {
        self.0.remaining
    }

    /// Seconds until this window frees another call (0 when nothing is inside it).
    #[getter]
    fn reset_after(&self) -> f64 {
        self.0.reset_after.as_secs_f64()
    }

    fn __repr__(&self) -> String {
        format!(
            "RateWindow(window={}, limit={}, remaining={}, reset_after={:.3})",
            self.window(),
            self.0.limit,
            self.0.remaining,
            self.reset_after()
        )
    }
}

/// What the limiter decided about one call.
#[pyclass(frozen, module = "trae")]
pub(crate) struct RateDecision(Decision);

#[pymethods]
impl RateDecision {
    /// Whether the call is admitted (and charged to every window).
    #[getter]
    fn allowed(&self) -> bool {
        self.0.is_allowed()
    }

    /// Seconds until a call would be admitted; `None` when this one was.
    #[getter]
    fn retry_after(&self) -> Option<f64> {
        self.0.retry_after().map(|d| d.as_secs_f64())
    }

    /// Each window of the policy, in order.
    #[getter]
    fn windows(&self) -> Vec<RateWindow> {
        self.0.windows().iter().copied().map(RateWindow).collect()
    }

    fn __bool__(&self) -> bool {
        self.0.is_allowed()
    }

    fn __repr__(&self) -> String {
        match self.0.retry_after() {
            None => "RateDecision(allowed=True)".to_owned(),
            Some(d) => format!(
                "RateDecision(allowed=False, retry_after={:.3})",
                d.as_secs_f64()
            ),
        }
    }
}

/// Rolling-window rate limits per key, exact: no span of a window's length ever admits more
/// than its limit, and a refused call charges no window.
#[pyclass(frozen, module = "trae")]
pub(crate) struct RateLimiter(Arc<CoreLimiter>);

fn policy(
    py: Python<'_>,
    per_minute: Option<u64>,
    per_hour: Option<u64>,
    per_day: Option<u64>,
) -> PyResult<RateLimitPolicy> {
    RateLimitPolicy::from_limits(per_minute, per_hour, per_day).map_err(|e| to_py_err(py, e))
}

#[pymethods]
impl RateLimiter {
    #[new]
    fn new() -> Self {
        Self(Arc::new(CoreLimiter::new(Arc::new(SystemClock))))
    }

    /// Decides one call of `key` under the given limits (at least one), charging it when
    /// admitted; `at` (a timezone-aware datetime) replaces the clock, e.g. in tests.
    #[pyo3(signature = (key, *, per_minute=None, per_hour=None, per_day=None, at=None))]
    fn check(
        &self,
        py: Python<'_>,
        key: &str,
        per_minute: Option<u64>,
        per_hour: Option<u64>,
        per_day: Option<u64>,
        at: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<RateDecision> {
        let policy = policy(py, per_minute, per_hour, per_day)?;
        if policy.is_unlimited() {
            return Err(to_py_err(
                py,
                trae_core::Error::validation(
                    "limits",
                    "give at least one of per_minute, per_hour, per_day",
                ),
            ));
        }
        let at = args::utc("at", at)?.map_err(|e| to_py_err(py, e))?;
        let decision = match at {
            Some(now) => self.0.check_at(key, &policy, now),
            None => self.0.check(key, &policy),
        };
        Ok(RateDecision(decision))
    }

    /// Forgets `key`; returns whether it was known.
    fn reset(&self, key: &str) -> bool {
        self.0.remove(key)
    }

    fn __len__(&self) -> usize {
        self.0.len()
    }
}
