//! The exception hierarchy and the mappings onto it: [`to_py_err`] for `trae_core::Error`,
//! [`agent_to_py_err`] for `trae_agents::AgentError` (which defers to the first for core
//! errors).

use pyo3::BoundObject;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyType;

create_exception!(
    trae,
    TraeError,
    PyException,
    "Base class of every error trae raises.\n\n`code` is the stable machine-readable error code of trae-core (`not_found`, \
     `validation_failed`, `conflict`, `unauthorized`, `forbidden`, `locked`, \
     `invalid_configuration`, `unavailable`, `overloaded`, `rate_limited`, `upstream_failed`, `internal`); \
     `str(error)` is the message for a \
     human."
);
create_exception!(
    trae,
    NotFound,
    TraeError,
    "The addressed record does not exist (code `not_found`)."
);
create_exception!(
    trae,
    ValidationError,
    TraeError,
    "Input broke a rule and nothing was written (code `validation_failed`).\n\n`field` names \
     the offending argument, e.g. `name`, `age`, `tags[2]`, `limit` or `id`; the message \
     starts with it too."
);
create_exception!(
    trae,
    Conflict,
    TraeError,
    "The change would duplicate or contradict an existing record (code `conflict`)."
);
create_exception!(
    trae,
    AuthError,
    TraeError,
    "The credentials are missing, wrong, expired or revoked (code `unauthorized`).\n\nA wrong \
     password and an unknown user give the same message."
);
create_exception!(
    trae,
    PermissionDenied,
    TraeError,
    "The principal is known but may not do this (code `forbidden`); the message names what is \
     missing."
);
create_exception!(
    trae,
    Locked,
    TraeError,
    "The account is locked after repeated failed sign-ins (code `locked`).\n\n`retry_after` is \
     how many seconds remain until it opens again."
);
create_exception!(
    trae,
    ConfigError,
    TraeError,
    "The configuration, e.g. the database URL, is invalid (code `invalid_configuration`)."
);
create_exception!(
    trae,
    Unavailable,
    TraeError,
    "The database cannot be reached, or the store is closed (code `unavailable`)."
);
create_exception!(
    trae,
    Overloaded,
    Unavailable,
    "Too much work is waiting: a task queue's backlog is at its limit \
     (`TRAE_QUEUE_MAX_BACKLOG`), so nothing was enqueued (code `overloaded`).\n\n`retry_after` \
     is how many seconds to wait before trying again (an estimate from the recent drain rate)."
);

create_exception!(
    trae,
    RateLimitedError,
    TraeError,
    "Every candidate is at a rate limit, so nothing was sent (code `rate_limited`).\n\n\
     `retry_after` is how many seconds (a float) until a call is next allowed."
);
create_exception!(
    trae,
    UpstreamError,
    TraeError,
    "An external API call failed: every attempt failed, no endpoint could take it, or the \
     outbound policy refused it (code `upstream_failed`); the message lists the attempts."
);

create_exception!(
    trae,
    InvalidAnswer,
    UpstreamError,
    "A model's answer did not have the shape asked for, even after a repair round (code \
     `invalid_answer`).\n\n`path` is the JSON pointer into the answer that failed (`/` for \
     the whole of it)."
);
create_exception!(
    trae,
    BudgetExceeded,
    TraeError,
    "A run's budget cannot pay for a model call, so nothing was sent (code \
     `budget_exceeded`).\n\n`limit` names the limit: `tokens`, `cost` or `wall_time`."
);

create_exception!(
    trae,
    HistoryLost,
    TraeError,
    "The event history asked for is gone (code `history_lost`): `epoch` is not the log's (it \
     was restored from a backup), the events after `since` were pruned, or `since` is past the \
     end. `reason` says which; `epoch`, `last_seq` and `oldest_seq` are where the log stands \
     now: subscribe again from there."
);

/// Adds the exception classes to the module, each with its `code` as a class attribute so that
/// instances raised from Python code carry one too.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let classes: [(Bound<'_, PyType>, &str); 15] = [
        (py.get_type::<TraeError>(), "internal"),
        (py.get_type::<NotFound>(), "not_found"),
        (py.get_type::<ValidationError>(), "validation_failed"),
        (py.get_type::<Conflict>(), "conflict"),
        (py.get_type::<AuthError>(), "unauthorized"),
        (py.get_type::<PermissionDenied>(), "forbidden"),
        (py.get_type::<Locked>(), "locked"),
        (py.get_type::<ConfigError>(), "invalid_configuration"),
        (py.get_type::<Unavailable>(), "unavailable"),
        (py.get_type::<Overloaded>(), "overloaded"),
        (py.get_type::<RateLimitedError>(), "rate_limited"),
        (py.get_type::<UpstreamError>(), "upstream_failed"),
        (py.get_type::<InvalidAnswer>(), "invalid_answer"),
        (py.get_type::<BudgetExceeded>(), "budget_exceeded"),
        (py.get_type::<HistoryLost>(), "history_lost"),
    ];
    for (class, code) in classes {
        class.setattr("code", code)?;
        m.add(class.name()?, class)?;
    }
    py.get_type::<ValidationError>().setattr("field", "")?;
    py.get_type::<Locked>().setattr("retry_after", 0)?;
    py.get_type::<Overloaded>().setattr("retry_after", 0)?;
    py.get_type::<RateLimitedError>()
        .setattr("retry_after", 0.0)?;
    py.get_type::<InvalidAnswer>().setattr("path", "")?;
    py.get_type::<BudgetExceeded>().setattr("limit", "")?;
    let lost = py.get_type::<HistoryLost>();
    lost.setattr("reason", "")?;
    lost.setattr("epoch", "")?;
    lost.setattr("last_seq", 0)?;
    lost.setattr("oldest_seq", 0)?;
    Ok(())
}

/// Turns a core error into the matching Python exception, with `code` (and `field` for
/// validation errors, `retry_after` for a locked account) set on the instance. The one place
/// errors are mapped.
pub(crate) fn to_py_err(py: Python<'_>, err: trae_core::Error) -> PyErr {
    use trae_core::Error;

    let code = err.code();
    let message = err.to_string();
    let mut field = None;
    let mut retry_after = None;
    let mut extra: Option<(&str, Py<PyAny>)> = None;
    let exception = match err {
        Error::NotFound { .. } => NotFound::new_err(message),
        Error::Validation { field: f, .. } => {
            field = Some(f);
            ValidationError::new_err(message)
        }
        Error::Conflict(_) => Conflict::new_err(message),
        Error::Unauthenticated(_) => AuthError::new_err(message),
        Error::Forbidden(_) => PermissionDenied::new_err(message),
        Error::Locked { retry_after_secs } => {
            retry_after = Some(retry_after_secs);
            Locked::new_err(message)
        }
        Error::Config(_) => ConfigError::new_err(message),
        Error::Unavailable(_) => Unavailable::new_err(message),
        Error::Overloaded {
            retry_after_secs, ..
        } => {
            retry_after = Some(retry_after_secs);
            Overloaded::new_err(message)
        }
        Error::Upstream(_) => UpstreamError::new_err(message),
        Error::RateLimited { retry_after_ms, .. } => {
            extra = float_attr(py, "retry_after", retry_after_ms as f64 / 1000.0);
            RateLimitedError::new_err(message)
        }
        Error::InvalidAnswer { path, .. } => {
            extra = str_attr(py, "path", &path);
            InvalidAnswer::new_err(message)
        }
        Error::BudgetExceeded { limit, .. } => {
            extra = str_attr(py, "limit", limit);
            BudgetExceeded::new_err(message)
        }
        // Storage failures, and any variant trae-core adds later.
        _ => TraeError::new_err(message),
    };
    let value = exception.value(py);
    let annotated = value
        .setattr("code", code)
        .and_then(|()| field.map_or(Ok(()), |field| value.setattr("field", field)))
        .and_then(|()| retry_after.map_or(Ok(()), |secs| value.setattr("retry_after", secs)))
        .and_then(|()| extra.map_or(Ok(()), |(name, v)| value.setattr(name, v)));
    match annotated {
        Ok(()) => exception,
        Err(e) => e,
    }
}

fn float_attr<'a>(py: Python<'_>, name: &'a str, value: f64) -> Option<(&'a str, Py<PyAny>)> {
    Some((
        name,
        pyo3::types::PyFloat::new(py, value).into_any().unbind(),
    ))
}

fn str_attr<'a>(py: Python<'_>, name: &'a str, value: &str) -> Option<(&'a str, Py<PyAny>)> {
    Some((
        name,
        pyo3::types::PyString::new(py, value).into_any().unbind(),
    ))
}

/// Turns an orchestrator error into the matching Python exception: invalid input is a
/// `ValidationError` (with `field`), no endpoint for a capability `NotFound`, every endpoint
/// limited `RateLimitedError` (with `retry_after` in seconds), an unusable configuration
/// `ConfigError`, a core error whatever [`to_py_err`] makes of it, and every other failure
/// (all attempts failed, refused by the outbound policy, timeouts, broken connections)
/// `UpstreamError`.
pub(crate) fn agent_to_py_err(py: Python<'_>, err: trae_agents::AgentError) -> PyErr {
    use trae_agents::AgentError as E;

    let (exception, code) = match err {
        E::Core(e) => return to_py_err(py, e),
        E::Invalid { field, message } => {
            return to_py_err(py, trae_core::Error::Validation { field, message });
        }
        E::NotFound(message) => (NotFound::new_err(message), "not_found"),
        E::Limited {
            message,
            retry_after,
        } => {
            let exception = RateLimitedError::new_err(message);
            if let Err(e) = exception
                .value(py)
                .setattr("retry_after", retry_after.as_secs_f64())
            {
                return e;
            }
            (exception, "rate_limited")
        }
        E::Config(message) => (
            ConfigError::new_err(format!("configuration: {message}")),
            "invalid_configuration",
        ),
        E::Sandbox(message) => (
            TraeError::new_err(format!("sandbox: {message}")),
            "sandbox_failed",
        ),
        other @ (E::Upstream(_)
        | E::Refused(_)
        | E::Timeout(_)
        | E::Transport(_)
        | E::Connect(_)) => (UpstreamError::new_err(other.to_string()), "upstream_failed"),
    };
    match exception.value(py).setattr("code", code) {
        Ok(()) => exception,
        Err(e) => e,
    }
}

/// The outcome of an orchestrator call, converted to Python when the caller receives it: the
/// value, or the exception [`agent_to_py_err`] maps the error to.
///
/// A service future returns this inside its `trae_core::Result`, so one future can fail with
/// either kind of error and still run through [`crate::handle::blocking`] or
/// [`crate::handle::awaitable`].
pub(crate) struct AgentAnswer<T>(pub(crate) Result<T, trae_agents::AgentError>);

impl<T> AgentAnswer<T> {
    /// `work`'s outcome as the runners take it: an agent error becomes its exception when
    /// the answer reaches Python.
    pub(crate) async fn of(
        work: impl std::future::Future<Output = Result<T, trae_agents::AgentError>>,
    ) -> trae_core::Result<Self> {
        Ok(Self(work.await))
    }
}

impl<'py, T> IntoPyObject<'py> for AgentAnswer<T>
where
    T: IntoPyObject<'py>,
{
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        match self.0 {
            Ok(value) => value
                .into_pyobject(py)
                .map(|v| v.into_any().into_bound())
                .map_err(Into::into),
            Err(err) => Err(agent_to_py_err(py, err)),
        }
    }
}

/// The outcome of a database call, converted to Python when the caller receives it: the value,
/// or the mapped exception.
///
/// The asyncio futures return this so that the exception is built, like the value, while the
/// GIL is held for the conversion rather than inside a tokio task.
pub(crate) struct Answer<T>(pub(crate) trae_core::Result<T>);

impl<'py, T> IntoPyObject<'py> for Answer<T>
where
    T: IntoPyObject<'py>,
{
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        match self.0 {
            Ok(value) => value
                .into_pyobject(py)
                .map(|v| v.into_any().into_bound())
                .map_err(Into::into),
            Err(err) => Err(to_py_err(py, err)),
        }
    }
}
