//! The task queue API: `store.tasks` (blocking `trae.Tasks`, asyncio `trae.aio.Tasks`) and the
//! values it returns, `Task`, `QueueSettings`, `QueueStats` and `TaskStats`.
//!
//! Both service classes come from one definition, [`task_service!`], expanded once with
//! [`blocking`] and once with [`awaitable`], like the identity services. Each method converts its
//! arguments, calls one `trae_core::TaskQueue` method and wraps the answer; every rule (names,
//! priorities, attempts, payload size, which transitions are allowed) lives in trae-core.
//!
//! Calls act as the given `trae.Principal`, else as the store's principal (the system, or the
//! user of `store.as_user`); the task queue decides what they may do (`tasks:read` to read,
//! `tasks:write` to change), as it does for the HTTP API.
//!
//! Payloads, results and progress cross as JSON: Python values in are converted by
//! [`py_to_json`] (`None`, `bool`, `int`, `float`, `str`, `list`, `tuple`, `dict` with `str`
//! keys), values out come back as `json.loads` would give them.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use pyo3::exceptions::{PyKeyError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyList, PyMapping, PyString};
use trae_core::{Error, NewTask, TaskFilter, TaskState};

use crate::args;
use crate::convert::{json_to_py, py_to_json, type_name};
use crate::handle::{Handle, awaitable, blocking};
use crate::identity::Principal;
use crate::types::CappedPageOut;

/// A Python value as JSON for the argument `field`, or a validation error naming it.
pub(crate) fn json_arg(
    field: &str,
    value: &Bound<'_, PyAny>,
) -> trae_core::Result<serde_json::Value> {
    py_to_json(value).map_err(|why| Error::validation(field, why))
}

/// A stored task. Read-only; equal when every stored field is equal, hashed by id.
///
/// Attributes mirror trae-core's task: `id` (`uuid.UUID`, a UUIDv7), `queue`, `kind`,
/// `payload`, `priority` (1 runs first, 10 last), `state`, `attempt`, `max_attempts`, `run_at`,
/// `unique_key`, `tags`, `lease_expires_at`, `worker_id`, `last_error`, `errors` (one dict per
/// failed attempt), `result`, `progress`, `created_by`, `owner_id`, `created_at`, `started_at` and
/// `finished_at`. JSON values come back as new Python objects on each access.
///
/// `inserted` says what `enqueue` did: `True` when the call inserted this task, `False` when
/// an unfinished task already held its `unique_key` and this is that task. It is `None` on
/// tasks read any other way, and is not compared by `==`.
#[pyclass(frozen, eq, hash, module = "trae")]
#[derive(Clone)]
pub(crate) struct Task {
    task: trae_core::Task,
    inserted: Option<bool>,
}

impl Task {
    fn enqueued(e: trae_core::Enqueued) -> Self {
        Self {
            task: e.task,
            inserted: Some(e.inserted),
        }
    }
}

impl From<trae_core::Task> for Task {
    fn from(task: trae_core::Task) -> Self {
        Self {
            task,
            inserted: None,
        }
    }
}

impl PartialEq for Task {
    fn eq(&self, other: &Self) -> bool {
        self.task == other.task
    }
}

impl Hash for Task {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Equal tasks have equal ids, so this agrees with `eq`.
        self.task.id.hash(state);
    }
}

/// The error history of a task as a list of dicts.
fn errors_to_py<'py>(
    py: Python<'py>,
    errors: &[trae_core::tasks::task::TaskAttemptError],
) -> PyResult<Bound<'py, PyList>> {
    let items = errors
        .iter()
        .map(|e| {
            let dict = PyDict::new(py);
            dict.set_item("attempt", e.attempt)?;
            dict.set_item("at", e.at)?;
            dict.set_item("message", &e.message)?;
            Ok(dict)
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

fn opt_json<'py>(
    py: Python<'py>,
    value: Option<&serde_json::Value>,
) -> PyResult<Bound<'py, PyAny>> {
    match value {
        Some(value) => json_to_py(py, value),
        None => Ok(py.None().into_bound(py)),
    }
}

fn quoted(py: Python<'_>, text: &str) -> PyResult<String> {
    Ok(PyString::new(py, text).repr()?.to_cow()?.into_owned())
}

#[pymethods]
impl Task {
    /// The task's identifier (a UUIDv7, so ids sort by creation time).
    #[getter]
    fn id(&self) -> uuid::Uuid {
        self.task.id
    }

    /// The queue it waits in.
    #[getter]
    fn queue(&self) -> &str {
        &self.task.queue
    }

    /// What kind of work it is; selects the handler.
    #[getter]
    fn kind(&self) -> &str {
        &self.task.kind
    }

    /// The handler's input (a new Python object on each access).
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.task.payload)
    }

    /// 1 runs first, 10 last.
    #[getter]
    fn priority(&self) -> i16 {
        self.task.priority
    }

    /// "scheduled", "available", "running", "retryable", "completed", "failed" or
    /// "cancelled".
    #[getter]
    fn state(&self) -> &'static str {
        self.task.state.as_str()
    }

    /// Attempts started so far.
    #[getter]
    fn attempt(&self) -> i32 {
        self.task.attempt
    }

    /// Attempts it gets before it fails for good.
    #[getter]
    fn max_attempts(&self) -> i32 {
        self.task.max_attempts
    }

    /// When it may run (next), timezone-aware UTC.
    #[getter]
    fn run_at(&self) -> DateTime<Utc> {
        self.task.run_at
    }

    /// While the task is unfinished, enqueueing another with this key returns this one.
    #[getter]
    fn unique_key(&self) -> Option<&str> {
        self.task.unique_key.as_deref()
    }

    /// Labels for filtering (a new list on each access).
    #[getter]
    fn tags(&self) -> Vec<String> {
        self.task.tags.clone()
    }

    /// When the running worker's lease ends unless renewed.
    #[getter]
    fn lease_expires_at(&self) -> Option<DateTime<Utc>> {
        self.task.lease_expires_at
    }

    /// The worker holding (or that last held) the lease.
    #[getter]
    fn worker_id(&self) -> Option<&str> {
        self.task.worker_id.as_deref()
    }

    /// The most recent failure's message.
    #[getter]
    fn last_error(&self) -> Option<&str> {
        self.task.last_error.as_deref()
    }

    /// Every failed attempt, oldest first: dicts with `attempt` (int), `at` (datetime) and
    /// `message` (str); a new list on each access.
    #[getter]
    fn errors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        errors_to_py(py, &self.task.errors)
    }

    /// What the handler returned on success (`None` otherwise).
    #[getter]
    fn result<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_json(py, self.task.result.as_ref())
    }

    /// The latest progress its handler reported (`None` when none).
    #[getter]
    fn progress<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        opt_json(py, self.task.progress.as_ref())
    }

    /// Who enqueued it: "user:<id>", "api_key:<id>" or "system".
    #[getter]
    fn created_by(&self) -> &str {
        &self.task.created_by
    }

    /// The user on whose behalf it was enqueued (directly or through an API key); `None` for
    /// the system and schedules. Others need `tasks:read_all` to read it.
    #[getter]
    fn owner_id(&self) -> Option<uuid::Uuid> {
        self.task.owner_id
    }

    /// When it was enqueued.
    #[getter]
    fn created_at(&self) -> DateTime<Utc> {
        self.task.created_at
    }

    /// When its latest attempt started.
    #[getter]
    fn started_at(&self) -> Option<DateTime<Utc>> {
        self.task.started_at
    }

    /// When it finished (completed, failed or cancelled).
    #[getter]
    fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.task.finished_at
    }

    /// From `enqueue`: whether this call inserted the task (`False`: the unfinished task
    /// holding its unique key). `None` on tasks read any other way.
    #[getter]
    fn inserted(&self) -> Option<bool> {
        self.inserted
    }

    /// The task as a new dict of its stored attributes (not `inserted`), with the same Python
    /// types.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let t = &self.task;
        let dict = PyDict::new(py);
        dict.set_item("id", t.id)?;
        dict.set_item("queue", &t.queue)?;
        dict.set_item("kind", &t.kind)?;
        dict.set_item("payload", json_to_py(py, &t.payload)?)?;
        dict.set_item("priority", t.priority)?;
        dict.set_item("state", t.state.as_str())?;
        dict.set_item("attempt", t.attempt)?;
        dict.set_item("max_attempts", t.max_attempts)?;
        dict.set_item("run_at", t.run_at)?;
        dict.set_item("unique_key", &t.unique_key)?;
        dict.set_item("tags", &t.tags)?;
        dict.set_item("lease_expires_at", t.lease_expires_at)?;
        dict.set_item("worker_id", &t.worker_id)?;
        dict.set_item("last_error", &t.last_error)?;
        dict.set_item("errors", errors_to_py(py, &t.errors)?)?;
        dict.set_item("result", opt_json(py, t.result.as_ref())?)?;
        dict.set_item("progress", opt_json(py, t.progress.as_ref())?)?;
        dict.set_item("created_by", &t.created_by)?;
        dict.set_item("owner_id", t.owner_id)?;
        dict.set_item("created_at", t.created_at)?;
        dict.set_item("started_at", t.started_at)?;
        dict.set_item("finished_at", t.finished_at)?;
        Ok(dict)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let t = &self.task;
        Ok(format!(
            "Task(id=UUID('{}'), kind={}, queue={}, state={}, attempt={}/{})",
            t.id,
            quoted(py, &t.kind)?,
            quoted(py, &t.queue)?,
            quoted(py, t.state.as_str())?,
            t.attempt,
            t.max_attempts,
        ))
    }
}

/// A queue's settings, as `pause`, `resume` and `set_concurrency_limit` leave them. Read-only.
///
/// Attributes: `queue`, `paused` (a paused queue hands out no tasks), `concurrency_limit`
/// (at most this many of its tasks run at once across every worker; `None`: no limit).
#[pyclass(frozen, eq, module = "trae")]
#[derive(Clone, PartialEq)]
pub(crate) struct QueueSettings(trae_core::QueueSettings);

#[pymethods]
impl QueueSettings {
    /// The queue.
    #[getter]
    fn queue(&self) -> &str {
        &self.0.queue
    }

    /// Whether it hands out no tasks.
    #[getter]
    fn paused(&self) -> bool {
        self.0.paused
    }

    /// At most this many of its tasks run at once, across every worker (`None`: no limit).
    #[getter]
    fn concurrency_limit(&self) -> Option<u32> {
        self.0.concurrency_limit
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "QueueSettings(queue={}, paused={}, concurrency_limit={})",
            quoted(py, &self.0.queue)?,
            if self.0.paused { "True" } else { "False" },
            self.0
                .concurrency_limit
                .map_or_else(|| "None".to_owned(), |n| n.to_string()),
        ))
    }
}

/// Counts for one queue. Read-only.
///
/// Attributes: `queue`, `paused`, `concurrency_limit`, `states` (a new dict from every state
/// name to its count, zeros included), `completed_last_minute`,
/// `oldest_available_age_secs` (seconds the oldest due, claimable task has waited past its
/// `run_at`, or `None`) and `kinds` (the same per kind of task, with the mean wait and run
/// times of the last minute). `stats[state]` is `stats.states[state]`.
#[pyclass(frozen, module = "trae")]
#[derive(Clone)]
pub(crate) struct QueueStats(trae_core::QueueStats);

#[pymethods]
impl QueueStats {
    /// The queue.
    #[getter]
    fn queue(&self) -> &str {
        &self.0.queue
    }

    /// Whether it is paused.
    #[getter]
    fn paused(&self) -> bool {
        self.0.paused
    }

    /// Its concurrency limit, if any.
    #[getter]
    fn concurrency_limit(&self) -> Option<u32> {
        self.0.concurrency_limit
    }

    /// Tasks per state name, every state present (a new dict on each access).
    #[getter]
    fn states<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for state in TaskState::ALL {
            dict.set_item(
                state.as_str(),
                self.0.states.get(&state).copied().unwrap_or(0),
            )?;
        }
        Ok(dict)
    }

    /// Tasks completed in the last minute.
    #[getter]
    fn completed_last_minute(&self) -> u64 {
        self.0.completed_last_minute
    }

    /// Seconds the oldest due, claimable task has waited past its `run_at` (`None`: none).
    #[getter]
    fn oldest_available_age_secs(&self) -> Option<f64> {
        self.0.oldest_available_age_secs
    }

    /// Per kind of task, by kind: a new list of dicts `{"kind", "states",
    /// "completed_last_minute", "failed_last_minute", "average_wait_secs",
    /// "average_run_secs"}` (the means over the last minute, `None` when nothing started or
    /// finished).
    #[getter]
    fn kinds<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.0
            .kinds
            .iter()
            .map(|k| {
                let dict = PyDict::new(py);
                dict.set_item("kind", &k.kind)?;
                let states = PyDict::new(py);
                for state in TaskState::ALL {
                    states.set_item(state.as_str(), k.states.get(&state).copied().unwrap_or(0))?;
                }
                dict.set_item("states", states)?;
                dict.set_item("completed_last_minute", k.completed_last_minute)?;
                dict.set_item("failed_last_minute", k.failed_last_minute)?;
                dict.set_item("average_wait_secs", k.average_wait_secs)?;
                dict.set_item("average_run_secs", k.average_run_secs)?;
                Ok(dict)
            })
            .collect()
    }

    /// The count of one state; `KeyError` for a name that is not a state.
    fn __getitem__(&self, state: &str) -> PyResult<u64> {
        let state: TaskState = state
            .parse()
            .map_err(|_| PyKeyError::new_err(state.to_owned()))?;
        Ok(self.0.states.get(&state).copied().unwrap_or(0))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let states = self.states(py)?.repr()?.to_cow()?.into_owned();
        Ok(format!(
            "QueueStats(queue={}, paused={}, states={states})",
            quoted(py, &self.0.queue)?,
            if self.0.paused { "True" } else { "False" },
        ))
    }
}

/// The queue at a glance: `queues`, a `QueueStats` for every queue that has tasks or
/// settings, by name. `stats["default"]` is one queue's (`KeyError` when absent), `"x" in
/// stats` asks whether there is one, and `totals` adds the queues up per state.
#[pyclass(frozen, module = "trae")]
pub(crate) struct TaskStats(trae_core::TaskStats);

#[pymethods]
impl TaskStats {
    /// Every queue that has tasks or settings, by name (a new list on each access).
    #[getter]
    fn queues(&self) -> Vec<QueueStats> {
        self.0.queues.iter().cloned().map(QueueStats).collect()
    }

    /// Tasks per state name over every queue, every state present (a new dict).
    #[getter]
    fn totals<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for state in TaskState::ALL {
            let total: u64 = self
                .0
                .queues
                .iter()
                .map(|q| q.states.get(&state).copied().unwrap_or(0))
                .sum();
            dict.set_item(state.as_str(), total)?;
        }
        Ok(dict)
    }

    fn __getitem__(&self, queue: &str) -> PyResult<QueueStats> {
        self.0
            .queues
            .iter()
            .find(|q| q.queue == queue)
            .cloned()
            .map(QueueStats)
            .ok_or_else(|| PyKeyError::new_err(queue.to_owned()))
    }

    fn __contains__(&self, queue: &str) -> bool {
        self.0.queues.iter().any(|q| q.queue == queue)
    }

    fn __len__(&self) -> usize {
        self.0.queues.len()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let queues = self
            .queues()
            .iter()
            .map(|q| q.__repr__(py))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(format!("TaskStats(queues=[{}])", queues.join(", ")))
    }
}

/// The arguments of one task to enqueue, as Python gave them.
struct TaskArgs<'a, 'py> {
    kind: String,
    payload: Option<&'a Bound<'py, PyAny>>,
    queue: Option<String>,
    priority: Option<&'a Bound<'py, PyInt>>,
    max_attempts: Option<&'a Bound<'py, PyInt>>,
    run_at: Option<&'a Bound<'py, PyAny>>,
    unique_key: Option<String>,
    tags: Option<Vec<String>>,
}

/// Converts one task's arguments; `field` names each in errors (`priority`, or
/// `tasks[2].priority` in a batch).
fn new_task(
    a: TaskArgs<'_, '_>,
    field: &dyn Fn(&str) -> String,
) -> PyResult<trae_core::Result<NewTask>> {
    let run_at = match args::utc(&field("run_at"), a.run_at)? {
        Ok(run_at) => run_at,
        Err(e) => return Ok(Err(e)),
    };
    let convert = || -> trae_core::Result<NewTask> {
        Ok(NewTask {
            queue: a.queue,
            kind: a.kind,
            payload: a
                .payload
                .filter(|p| !p.is_none())
                .map(|p| json_arg(&field("payload"), p))
                .transpose()?,
            priority: a
                .priority
                .map(|v| args::int(&field("priority"), v))
                .transpose()?,
            max_attempts: a
                .max_attempts
                .map(|v| args::int(&field("max_attempts"), v))
                .transpose()?,
            run_at,
            unique_key: a.unique_key,
            tags: a.tags.unwrap_or_default(),
        })
    };
    Ok(convert())
}

/// The keys a task dict of `enqueue_many` may have.
const TASK_KEYS: [&str; 8] = [
    "kind",
    "payload",
    "queue",
    "priority",
    "max_attempts",
    "run_at",
    "unique_key",
    "tags",
];

/// Converts the task dicts of `enqueue_many`. Wrong types and unknown or missing keys raise
/// `TypeError` now; broken rules become validation errors named like trae-core's
/// (`priority` for the first task, `tasks[1].priority` for the second).
fn new_tasks<'py>(tasks: &Bound<'py, PyAny>) -> PyResult<trae_core::Result<Vec<NewTask>>> {
    if tasks.is_instance_of::<PyString>() || tasks.is_instance_of::<PyDict>() {
        return Err(PyTypeError::new_err(
            "tasks must be a list of dicts, one per task",
        ));
    }
    let mut out = Vec::new();
    for (i, item) in tasks.try_iter()?.enumerate() {
        let item = item?;
        let label = format!("tasks[{i}]");
        let field = |name: &str| {
            if i == 0 {
                name.to_owned()
            } else {
                format!("tasks[{i}].{name}")
            }
        };
        let Ok(map) = item.cast::<PyMapping>() else {
            return Err(PyTypeError::new_err(format!(
                "{label} must be a dict, not {}",
                type_name(&item)
            )));
        };
        for key in map.keys()?.iter() {
            let known = key
                .cast::<PyString>()
                .ok()
                .and_then(|k| k.to_cow().ok().map(|k| TASK_KEYS.contains(&k.as_ref())))
                .unwrap_or(false);
            if !known {
                return Err(PyTypeError::new_err(format!(
                    "{label} has the unknown key {}; the keys are {}",
                    key.repr()?,
                    TASK_KEYS.join(", ")
                )));
            }
        }
        let get = |key: &str| -> PyResult<Option<Bound<'py, PyAny>>> {
            if map.contains(key)? {
                let value = map.get_item(key)?;
                Ok((!value.is_none()).then_some(value))
            } else {
                Ok(None)
            }
        };
        let typed = |key: &str, e: PyErr| -> PyErr {
            PyTypeError::new_err(format!("{label}[{key:?}]: {}", e.value(item.py())))
        };
        let Some(kind) = get("kind")? else {
            return Err(PyTypeError::new_err(format!("{label} has no 'kind'")));
        };
        let kind: String = kind.extract().map_err(|e| typed("kind", e))?;
        let payload = get("payload")?;
        let queue: Option<String> = get("queue")?
            .map(|v| v.extract())
            .transpose()
            .map_err(|e| typed("queue", e))?;
        let int = |key: &str| -> PyResult<Option<Bound<'py, PyInt>>> {
            get(key)?
                .map(|v| v.cast_into::<PyInt>().map_err(|e| typed(key, e.into())))
                .transpose()
        };
        let priority = int("priority")?;
        let max_attempts = int("max_attempts")?;
        let run_at = get("run_at")?;
        let unique_key: Option<String> = get("unique_key")?
            .map(|v| v.extract())
            .transpose()
            .map_err(|e| typed("unique_key", e))?;
        let tags: Option<Vec<String>> = match get("tags")? {
            Some(v) if v.is_instance_of::<PyString>() => {
                return Err(PyTypeError::new_err(format!(
                    "{label}['tags'] must be a list of str, not str"
                )));
            }
            Some(v) => Some(v.extract().map_err(|e| typed("tags", e))?),
            None => None,
        };
        let converted = new_task(
            TaskArgs {
                kind,
                payload: payload.as_ref(),
                queue,
                priority: priority.as_ref(),
                max_attempts: max_attempts.as_ref(),
                run_at: run_at.as_ref(),
                unique_key,
                tags,
            },
            &field,
        )?;
        match converted {
            Ok(task) => out.push(task),
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(out))
}

/// The filter of `list`.
fn filter(
    state: Option<&str>,
    queue: Option<String>,
    kind: Option<String>,
    tag: Option<String>,
) -> trae_core::Result<TaskFilter> {
    Ok(TaskFilter {
        state: state.map(str::parse).transpose()?,
        queue,
        kind,
        tag,
        ..TaskFilter::default()
    })
}

/// Defines a task service class, each method running its work with `$run`.
macro_rules! task_service {
    (
        run: $run:path,
        module: $module:tt,
        class: $Tasks:ident,
        doc: $doc:tt $(,)?
    ) => {
        #[doc = concat!(
            "The durable task queue of a store (`store.tasks`)", $doc, "\n\n",
            "Calls act as the given `principal`, else as the store's (the system, or the user of ",
            "`store.as_user`), which needs `tasks:read` to read and `tasks:write` to change ",
            "anything. Broken rules raise ",
            "`ValidationError` naming the field."
        )]
        #[pyclass(frozen, name = "Tasks", module = $module)]
        pub(crate) struct $Tasks {
            pub(crate) handle: Arc<Handle>,
        }

        #[pymethods]
        impl $Tasks {
            /// Enqueues one task and returns it; its `inserted` says whether this call
            /// inserted it (`False`: an unfinished task already held `unique_key`, and that
            /// task is returned unchanged).
            ///
            /// `kind` and `queue` (default "default"): 1–128 and 1–64 characters of a-z,
            /// 0-9, `_`, `.`, `-`. `payload`: any JSON-able value, at most 256 KiB as JSON
            /// (default `{}`). `priority`: 1 (first) – 10 (last), default 5.
            /// `max_attempts`: 1–100, default 5. `run_at`: a timezone-aware datetime (in the
            /// future: the task is scheduled). `tags`: up to 20 labels.
            #[pyo3(signature = (kind, payload = None, *, queue = None, priority = None,
                                max_attempts = None, run_at = None, unique_key = None,
                                tags = None, principal = None))]
            #[allow(clippy::too_many_arguments)]
            fn enqueue<'py>(
                &self,
                py: Python<'py>,
                kind: String,
                payload: Option<&Bound<'py, PyAny>>,
                queue: Option<String>,
                priority: Option<&Bound<'py, PyInt>>,
                max_attempts: Option<&Bound<'py, PyInt>>,
                run_at: Option<&Bound<'py, PyAny>>,
                unique_key: Option<String>,
                tags: Option<Vec<String>>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let task = new_task(
                    TaskArgs {
                        kind,
                        payload,
                        queue,
                        priority,
                        max_attempts,
                        run_at,
                        unique_key,
                        tags,
                    },
                    &|f: &str| f.to_owned(),
                )?;
                let principal = self.handle.acting(py, principal)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let tasks = handle.tasks()?;
                    tasks.enqueue(&principal, task?).await.map(Task::enqueued)
                })
            }

            /// Enqueues tasks all or none, in one transaction; returns them in order, each
            /// with `inserted` set as by `enqueue`.
            ///
            /// `tasks`: a list of dicts with the keys of `enqueue` (`kind` required; `payload`,
            /// `queue`, `priority`, `max_attempts`, `run_at`, `unique_key`, `tags`), 1 to
            /// 10 000 of them. A broken rule names the task: `priority` for the first,
            /// `tasks[3].priority` for the fourth.
            #[pyo3(signature = (tasks, *, principal = None))]
            fn enqueue_many<'py>(
                &self,
                py: Python<'py>,
                tasks: &Bound<'py, PyAny>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let input = new_tasks(tasks)?;
                let principal = self.handle.acting(py, principal)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let tasks = handle.tasks()?;
                    let all = tasks.enqueue_many(&principal, input?).await?;
                    Ok(all.into_iter().map(Task::enqueued).collect::<Vec<_>>())
                })
            }

            /// The task with this id (a `uuid.UUID` or its string form); raises `NotFound`
            /// when there is none.
            #[pyo3(signature = (id, principal = None))]
            fn get<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let principal = self.handle.acting(py, principal)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let tasks = handle.tasks()?;
                    tasks.get(&principal, id?).await.map(Task::from)
                })
            }

            /// One `Page` of tasks, newest first.
            ///
            /// `state` (e.g. "failed"), `queue`, `kind` and `tag` filter; `limit` (1–500) and
            /// `offset` choose the page. `total` is exact unless `page.total_exact` is false
            /// (a tag filter, or a caller who sees only their own tasks, counts at most 10,000).
            #[pyo3(
                signature = (principal = None, *, state = None, queue = None, kind = None,
                             tag = None, limit = None, offset = None),
                text_signature = "($self, principal=None, *, state=None, queue=None, \
                                  kind=None, tag=None, limit=50, offset=0)"
            )]
            #[allow(clippy::too_many_arguments)]
            fn list<'py>(
                &self,
                py: Python<'py>,
                principal: Option<PyRef<'py, Principal>>,
                state: Option<&str>,
                queue: Option<String>,
                kind: Option<String>,
                tag: Option<String>,
                limit: Option<&Bound<'py, PyInt>>,
                offset: Option<&Bound<'py, PyInt>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let filter = filter(state, queue, kind, tag);
                let page = args::page(limit, offset);
                let principal = self.handle.acting(py, principal)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let tasks = handle.tasks()?;
                    let listed = tasks.list(&principal, filter?, page?).await?;
                    let page = trae_core::Page {
                        items: listed.items.into_iter().map(Task::from).collect(),
                        total: listed.total,
                        limit: listed.limit,
                        offset: listed.offset,
                    };
                    Ok(CappedPageOut(page, listed.total_exact))
                })
            }

            /// Cancels a task that has not finished and returns it; a running handler is
            /// told to stop. Raises `Conflict` when the task already finished, `NotFound`
            /// when there is none.
            #[pyo3(signature = (id, principal = None))]
            fn cancel<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let principal = self.handle.acting(py, principal)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let tasks = handle.tasks()?;
                    tasks.cancel(&principal, id?).await.map(Task::from)
                })
            }

            /// Makes a failed, cancelled, retryable or scheduled task available now and
            /// returns it (a failed or cancelled one gets a fresh set of attempts; its error
            /// history stays). Raises `Conflict` for a completed or running task.
            #[pyo3(signature = (id, principal = None))]
            fn retry<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let principal = self.handle.acting(py, principal)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let tasks = handle.tasks()?;
                    tasks.retry(&principal, id?).await.map(Task::from)
                })
            }

            /// Stops handing out a queue's tasks (running ones finish); returns its
            /// `QueueSettings`.
            #[pyo3(signature = (queue, principal = None))]
            fn pause<'py>(
                &self,
                py: Python<'py>,
                queue: String,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let principal = self.handle.acting(py, principal)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let tasks = handle.tasks()?;
                    tasks.pause(&principal, &queue).await.map(QueueSettings)
                })
            }

            /// Hands out a paused queue's tasks again; returns its `QueueSettings`.
            #[pyo3(signature = (queue, principal = None))]
            fn resume<'py>(
                &self,
                py: Python<'py>,
                queue: String,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let principal = self.handle.acting(py, principal)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let tasks = handle.tasks()?;
                    tasks.resume(&principal, &queue).await.map(QueueSettings)
                })
            }

            /// Limits how many of a queue's tasks run at once across every worker (`None`: no
            /// limit); returns its `QueueSettings`.
            #[pyo3(signature = (queue, limit, principal = None))]
            fn set_concurrency_limit<'py>(
                &self,
                py: Python<'py>,
                queue: String,
                limit: Option<&Bound<'py, PyInt>>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let limit = limit
                    .map(|l| args::int::<u32>("concurrency_limit", l))
                    .transpose();
                let principal = self.handle.acting(py, principal)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let tasks = handle.tasks()?;
                    tasks
                        .set_concurrency_limit(&principal, &queue, limit?)
                        .await
                        .map(QueueSettings)
                })
            }

            /// Counts per queue and state, as a `TaskStats`.
            #[pyo3(signature = (principal = None))]
            fn stats<'py>(
                &self,
                py: Python<'py>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let principal = self.handle.acting(py, principal)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let tasks = handle.tasks()?;
                    tasks.stats(&principal, ).await.map(TaskStats)
                })
            }

            fn __repr__(&self) -> String {
                format!("<{}.Tasks backend='{}'>", $module, self.handle.backend())
            }
        }
    };
}

task_service! {
    run: blocking,
    module: "trae",
    class: Tasks,
    doc: ".",
}

task_service! {
    run: awaitable,
    module: "trae.aio",
    class: AsyncTasks,
    doc: "; the methods of `trae.Tasks`, each returning an awaitable.",
}
