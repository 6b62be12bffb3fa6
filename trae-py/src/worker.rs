//! `trae.Worker`: runs Python functions as the handlers of trae-core's worker runtime.
//!
//! The runtime (claiming, leases, retries, batching, graceful shutdown) is trae-core's
//! `Worker`; this module only adapts Python callables to its `TaskHandler` trait:
//!
//! - a plain function runs on tokio's blocking pool (never on a tokio worker thread), taking the
//!   GIL only there;
//! - an `async def` function runs on an asyncio event loop: the caller's for
//!   `await worker.run_async()`, else one the worker starts on its own thread for the run. The
//!   coroutine is submitted with `asyncio.run_coroutine_threadsafe` and its outcome comes back
//!   through a done-callback and a oneshot channel, so no tokio thread waits on Python; when
//!   trae-core stops the handler (task cancelled, lease lost, shutdown) the asyncio task is
//!   cancelled.
//!
//! A handler's return value (JSON-able) is the task's result; an exception is a failed attempt
//! retried while attempts remain, `trae.TaskFatal` fails the task at once and
//! `trae.TaskSnooze(seconds)` runs it again later without spending an attempt. A value that is
//! not JSON fails the attempt with a message saying so.
//!
//! `worker.run()` releases the GIL and waits in short slices, checking for signals between
//! them: Ctrl-C cancels the run's `CancellationToken`, waits for trae-core's graceful shutdown
//! and then raises `KeyboardInterrupt` (a second Ctrl-C aborts the wait).

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyCFunction, PyInt, PyString};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use trae_core::Error;
use trae_core::backoff::Backoff;
use trae_core::tasks::worker::{
    HandlerResult, TaskFailure, TaskHandler, Worker as CoreWorker, WorkerOptions,
};

use crate::convert::{json_to_py, py_to_json, type_name};
use crate::errors::to_py_err;
use crate::handle::{Handle, awaitable, block_on};
use crate::runtime;
use crate::tasks::{Task, json_arg};

/// How long `run()` waits with the GIL released before it checks for signals.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// The parts of the worker that are simplest in Python: the two exceptions handlers raise,
/// reading a handler's signature, the event-loop thread of a blocking run, and the coroutine
/// `run_async` returns.
const HELPER: &CStr = cr#"
import asyncio
import inspect
import threading


class TaskFatal(Exception):
    """Raise in a handler to fail the task now, without further attempts.

    `str(error)` is recorded as the attempt's error.
    """


class TaskSnooze(Exception):
    """Raise in a handler to run the task again after `seconds`, without spending an attempt.

    `seconds`: a finite number of seconds, 0 or more (`ValueError` otherwise).
    """

    def __init__(self, seconds, *args):
        seconds = float(seconds)
        if not 0.0 <= seconds < float("inf"):
            raise ValueError(f"seconds must be finite and at least 0, got {seconds!r}")
        super().__init__(seconds, *args)
        self.seconds = seconds

    def __str__(self):
        return f"snoozed for {self.seconds:g} s"


TaskFatal.__module__ = "trae"
TaskSnooze.__module__ = "trae"


def describe(func):
    """(is_async, takes_context) of a handler."""
    is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)
    )
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return is_async, False
    positional = 0
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.VAR_POSITIONAL:
            return is_async, True
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            positional += 1
    return is_async, positional >= 2


class LoopThread:
    """An event loop running on its own thread for the async handlers of a blocking run."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, name="trae-worker-loop", daemon=True
        )
        self._thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def close(self):
        async def cancel_the_rest():
            current = asyncio.current_task()
            rest = [task for task in asyncio.all_tasks() if task is not current]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        try:
            asyncio.run_coroutine_threadsafe(cancel_the_rest(), self.loop).result(timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self.loop.close()


async def run_async(start, stop):
    """Runs the worker on the running loop; cancelling stops it gracefully, then re-raises."""
    future = start(asyncio.get_running_loop())
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        stop()
        try:
            await future
        except BaseException:
            pass
        raise
"#;

static HELPER_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn helper(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    HELPER_MODULE
        .get_or_try_init(py, || {
            PyModule::from_code(py, HELPER, c"trae/_worker.py", c"trae._worker").map(Bound::unbind)
        })
        .map(|m| m.bind(py))
}

/// Adds `TaskFatal` and `TaskSnooze` to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let helper = helper(m.py())?;
    m.add("TaskFatal", helper.getattr("TaskFatal")?)?;
    m.add("TaskSnooze", helper.getattr("TaskSnooze")?)?;
    Ok(())
}

/// `type: message` of an exception (just the type when the message is empty).
fn describe_exception(exc: &Bound<'_, PyAny>) -> String {
    let name = type_name(exc);
    match exc.str() {
        Ok(text) if !text.to_string_lossy().is_empty() => {
            format!("{name}: {}", text.to_string_lossy())
        }
        _ => name,
    }
}

/// What an exception a handler raised means for its task.
fn failure(exc: &Bound<'_, PyAny>) -> TaskFailure {
    let py = exc.py();
    let Ok(helper) = helper(py) else {
        return TaskFailure::Retry(describe_exception(exc));
    };
    let is = |name: &str| {
        helper
            .getattr(name)
            .and_then(|class| exc.is_instance(&class))
            .unwrap_or(false)
    };
    if is("TaskFatal") {
        let message = exc
            .str()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        return TaskFailure::Fatal(if message.is_empty() {
            "TaskFatal".to_owned()
        } else {
            message
        });
    }
    if is("TaskSnooze") {
        return match exc
            .getattr("seconds")
            .and_then(|s| s.extract::<f64>())
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
        {
            Some(delay) => TaskFailure::Snooze(delay),
            None => TaskFailure::Retry(format!(
                "TaskSnooze without a valid number of seconds: {}",
                describe_exception(exc)
            )),
        };
    }
    TaskFailure::Retry(describe_exception(exc))
}

/// What a handler's return value means: its result, or a failed attempt when it is not JSON.
fn returned(value: &Bound<'_, PyAny>) -> HandlerResult {
    if value.is_none() {
        return Ok(None);
    }
    if value.hasattr("__await__").unwrap_or(false) {
        // A plain function that returned a coroutine: close it, so it is not left unawaited.
        let _ = value.call_method0("close");
        return Err(TaskFailure::Retry(format!(
            "the handler returned an awaitable ({}); register an `async def` function to have \
             it awaited",
            type_name(value)
        )));
    }
    py_to_json(value)
        .map(Some)
        .map_err(|why| TaskFailure::Retry(format!("the handler's return value {why}")))
}

/// A registered Python handler.
struct HandlerSpec {
    func: Py<PyAny>,
    /// An `async def` function.
    is_async: bool,
    /// It takes `(payload, context)` rather than `(payload)`.
    with_context: bool,
    backoff: Backoff,
}

/// A Python handler as trae-core's worker runs it.
struct PyHandler {
    spec: Arc<HandlerSpec>,
    /// The loop async handlers run on.
    event_loop: Option<Arc<Py<PyAny>>>,
}

#[async_trait]
impl TaskHandler for PyHandler {
    async fn run(&self, ctx: trae_core::TaskContext) -> HandlerResult {
        let spec = Arc::clone(&self.spec);
        if !spec.is_async {
            return tokio::task::spawn_blocking(move || {
                Python::attach(|py| call_blocking(py, &spec, ctx))
            })
            .await
            .unwrap_or_else(|e| Err(TaskFailure::Retry(format!("the handler failed: {e}"))));
        }
        let Some(event_loop) = self.event_loop.clone() else {
            return Err(TaskFailure::Retry(
                "no event loop for an async handler".to_owned(),
            ));
        };
        let (tx, rx) = oneshot::channel();
        let submitted = tokio::task::spawn_blocking(move || {
            Python::attach(|py| submit(py, &spec, &event_loop, ctx, tx))
        })
        .await;
        let future = match submitted {
            Ok(Ok(future)) => future,
            Ok(Err(failure)) => return Err(failure),
            Err(e) => return Err(TaskFailure::Retry(format!("the handler failed: {e}"))),
        };
        // Dropped before the outcome arrives (trae-core stopped the handler): cancel the
        // asyncio task.
        let mut cancel = CancelOnDrop(Some(future));
        let outcome = rx.await.unwrap_or_else(|_| {
            Err(TaskFailure::Retry(
                "the event loop stopped before the handler finished".to_owned(),
            ))
        });
        cancel.disarm();
        outcome
    }

    fn backoff(&self) -> Backoff {
        self.spec.backoff
    }
}

/// Runs a plain function (on a blocking-pool thread, holding the GIL).
fn call_blocking(py: Python<'_>, spec: &HandlerSpec, ctx: trae_core::TaskContext) -> HandlerResult {
    let call = || -> PyResult<Bound<'_, PyAny>> {
        let payload = json_to_py(py, ctx.payload())?;
        let func = spec.func.bind(py);
        if spec.with_context {
            func.call1((payload, TaskContext(ctx.clone())))
        } else {
            func.call1((payload,))
        }
    };
    match call() {
        Ok(value) => returned(&value),
        Err(err) => Err(failure(err.value(py).as_any())),
    }
}

/// Starts an async function's coroutine on `event_loop`; returns its
/// `concurrent.futures.Future`, whose outcome `tx` will receive.
fn submit(
    py: Python<'_>,
    spec: &HandlerSpec,
    event_loop: &Py<PyAny>,
    ctx: trae_core::TaskContext,
    tx: oneshot::Sender<HandlerResult>,
) -> Result<Py<PyAny>, TaskFailure> {
    let coroutine = (|| -> PyResult<Bound<'_, PyAny>> {
        let payload = json_to_py(py, ctx.payload())?;
        let func = spec.func.bind(py);
        if spec.with_context {
            func.call1((payload, AsyncTaskContext(ctx.clone())))
        } else {
            func.call1((payload,))
        }
    })()
    .map_err(|err| failure(err.value(py).as_any()))?;
    let started = (|| -> PyResult<Bound<'_, PyAny>> {
        let future = py.import("asyncio")?.call_method1(
            "run_coroutine_threadsafe",
            (&coroutine, event_loop.bind(py)),
        )?;
        let resolve = Resolve {
            tx: Mutex::new(Some(tx)),
        };
        future.call_method1("add_done_callback", (resolve,))?;
        Ok(future)
    })();
    match started {
        Ok(future) => Ok(future.unbind()),
        Err(err) => {
            if coroutine.hasattr("close").unwrap_or(false) {
                let _ = coroutine.call_method0("close");
            }
            Err(TaskFailure::Retry(format!(
                "the handler could not be started: {}",
                describe_exception(err.value(py).as_any())
            )))
        }
    }
}

/// Cancels a submitted coroutine's future unless disarmed.
struct CancelOnDrop(Option<Py<PyAny>>);

impl CancelOnDrop {
    fn disarm(&mut self) {
        // Dropped without the GIL: pyo3 releases the reference when the GIL is next taken.
        self.0.take();
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(future) = self.0.take() {
            runtime().spawn_blocking(move || {
                Python::attach(|py| {
                    let _ = future.bind(py).call_method0("cancel");
                });
            });
        }
    }
}

/// The done-callback of a submitted coroutine: sends its outcome to the waiting handler.
#[pyclass(frozen)]
struct Resolve {
    tx: Mutex<Option<oneshot::Sender<HandlerResult>>>,
}

#[pymethods]
impl Resolve {
    fn __call__(&self, future: &Bound<'_, PyAny>) {
        let outcome = settle(future);
        if let Some(tx) = self
            .tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = tx.send(outcome);
        }
    }
}

/// The outcome of a finished `concurrent.futures.Future` of a handler.
fn settle(future: &Bound<'_, PyAny>) -> HandlerResult {
    let cancelled = future
        .call_method0("cancelled")
        .and_then(|c| c.is_truthy())
        .unwrap_or(false);
    if cancelled {
        return Err(TaskFailure::Retry("the handler was cancelled".to_owned()));
    }
    match future.call_method0("exception") {
        Ok(exc) if !exc.is_none() => return Err(failure(&exc)),
        Ok(_) => {}
        Err(err) => return Err(failure(err.value(future.py()).as_any())),
    }
    match future.call_method0("result") {
        Ok(value) => returned(&value),
        Err(err) => Err(failure(err.value(future.py()).as_any())),
    }
}

/// What a plain-function handler gets as its second argument (when it takes two): the task, its
/// cancellation, and a way to report progress.
#[pyclass(frozen, module = "trae")]
pub(crate) struct TaskContext(trae_core::TaskContext);

#[pymethods]
impl TaskContext {
    /// The task as claimed (state "running"; `attempt` counts this one).
    #[getter]
    fn task(&self) -> Task {
        Task::from(self.0.task().clone())
    }

    /// The task's input (a new Python object on each access).
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, self.0.payload())
    }

    /// Whether the handler should stop: the task was cancelled, its lease lost, or the worker
    /// is shutting down. A handler that notices should return (its outcome is discarded).
    fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Records `progress` (any JSON-able value) on the task; returns `False` when the lease is
    /// lost (the task is no longer this handler's). Raises `ValidationError` (field
    /// `progress`) for a value that is not JSON.
    fn report_progress(&self, py: Python<'_>, progress: &Bound<'_, PyAny>) -> PyResult<bool> {
        let value = json_arg("progress", progress).map_err(|e| to_py_err(py, e))?;
        let ctx = self.0.clone();
        block_on(py, async move { ctx.report_progress(value).await })
    }

    fn __repr__(&self) -> String {
        format!("<trae.TaskContext task={}>", self.0.task().id)
    }
}

/// What an `async def` handler gets as its second argument (when it takes two): the methods of
/// `trae.TaskContext`, with `report_progress` awaitable.
#[pyclass(frozen, name = "TaskContext", module = "trae.aio")]
pub(crate) struct AsyncTaskContext(trae_core::TaskContext);

#[pymethods]
impl AsyncTaskContext {
    /// The task as claimed (state "running"; `attempt` counts this one).
    #[getter]
    fn task(&self) -> Task {
        Task::from(self.0.task().clone())
    }

    /// The task's input (a new Python object on each access).
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, self.0.payload())
    }

    /// Whether the handler should stop (cancelled, lease lost, or shutting down).
    fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Records `progress` on the task; awaits to `False` when the lease is lost.
    fn report_progress<'py>(
        &self,
        py: Python<'py>,
        progress: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let value = json_arg("progress", progress);
        let ctx = self.0.clone();
        awaitable(py, async move { ctx.report_progress(value?).await })
    }

    fn __repr__(&self) -> String {
        format!("<trae.aio.TaskContext task={}>", self.0.task().id)
    }
}

/// What a worker run did. Read-only; equal when every count is.
///
/// Attributes: `claimed` (tasks claimed), `completed` (attempts that succeeded), `failed`
/// (attempts that failed: retried or dead) and `lost` (outcomes refused because the task's
/// lease was lost, e.g. it was cancelled meanwhile).
#[pyclass(frozen, eq, module = "trae")]
#[derive(Clone, PartialEq)]
pub(crate) struct WorkerSummary(trae_core::WorkerSummary);

#[pymethods]
impl WorkerSummary {
    /// Tasks claimed.
    #[getter]
    fn claimed(&self) -> u64 {
        self.0.claimed
    }

    /// Attempts that completed.
    #[getter]
    fn completed(&self) -> u64 {
        self.0.completed
    }

    /// Attempts that failed (retry scheduled, or the task failed for good).
    #[getter]
    fn failed(&self) -> u64 {
        self.0.failed
    }

    /// Outcomes the database refused because the lease was lost.
    #[getter]
    fn lost(&self) -> u64 {
        self.0.lost
    }

    fn __repr__(&self) -> String {
        let s = &self.0;
        format!(
            "WorkerSummary(claimed={}, completed={}, failed={}, lost={})",
            s.claimed, s.completed, s.failed, s.lost
        )
    }
}

/// What a `Worker` object shares with its runs.
struct Inner {
    handle: Arc<Handle>,
    options: WorkerOptions,
    handlers: Mutex<BTreeMap<String, Arc<HandlerSpec>>>,
    /// The shutdown token of the run in progress.
    run: Mutex<Option<CancellationToken>>,
}

impl Inner {
    fn handlers(&self) -> MutexGuard<'_, BTreeMap<String, Arc<HandlerSpec>>> {
        self.handlers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn current(&self) -> MutexGuard<'_, Option<CancellationToken>> {
        self.run.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(
        &self,
        py: Python<'_>,
        kind: &str,
        func: &Bound<'_, PyAny>,
        backoff: Backoff,
    ) -> PyResult<()> {
        if !func.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "a handler must be callable, not {}",
                type_name(func)
            )));
        }
        let (is_async, with_context): (bool, bool) =
            helper(py)?.getattr("describe")?.call1((func,))?.extract()?;
        self.handlers().insert(
            kind.to_owned(),
            Arc::new(HandlerSpec {
                func: func.clone().unbind(),
                is_async,
                with_context,
                backoff,
            }),
        );
        Ok(())
    }

    fn needs_loop(&self) -> bool {
        self.handlers().values().any(|h| h.is_async)
    }

    /// Marks a run as started; `RuntimeError` when one is in progress.
    fn begin(self: &Arc<Self>) -> PyResult<(CancellationToken, Running)> {
        let mut current = self.current();
        if current.is_some() {
            return Err(PyRuntimeError::new_err("this worker is already running"));
        }
        let token = CancellationToken::new();
        *current = Some(token.clone());
        Ok((token, Running(Arc::clone(self))))
    }

    fn stop(&self) {
        if let Some(token) = self.current().as_ref() {
            token.cancel();
        }
    }

    /// A trae-core worker with every registered handler, async ones running on `event_loop`.
    fn build(&self, event_loop: Option<Arc<Py<PyAny>>>) -> trae_core::Result<CoreWorker> {
        let mut worker = CoreWorker::new(self.handle.tasks()?, self.options.clone())?;
        for (kind, spec) in self.handlers().iter() {
            worker.register(
                kind,
                PyHandler {
                    spec: Arc::clone(spec),
                    event_loop: event_loop.clone(),
                },
            )?;
        }
        Ok(worker)
    }

    /// Starts a run on the running event loop `event_loop`; returns an asyncio future of its
    /// `WorkerSummary`.
    fn start_async(self: &Arc<Self>, py: Python<'_>, event_loop: Py<PyAny>) -> PyResult<Py<PyAny>> {
        let (token, running) = self.begin()?;
        let worker = self
            .build(Some(Arc::new(event_loop)))
            .map_err(|e| to_py_err(py, e))?;
        let future = awaitable(py, async move {
            let _running = running;
            worker.run(token).await.map(WorkerSummary)
        })?;
        Ok(future.unbind())
    }
}

/// Ends the run in progress when dropped.
struct Running(Arc<Inner>);

impl Drop for Running {
    fn drop(&mut self) {
        *self.0.current() = None;
    }
}

/// Waits for a run on the shared runtime with the GIL released, checking for signals every
/// [`SIGNAL_POLL`]. On the first signal error (e.g. `KeyboardInterrupt`) `token` is cancelled
/// and the graceful shutdown awaited before the error is raised; without a token, or on a
/// second signal, the run is aborted.
///
/// The outcome arrives over a std channel polled with a timeout, so noticing a signal never
/// depends on the runtime's timer being driven.
fn wait(
    py: Python<'_>,
    join: JoinHandle<trae_core::Result<trae_core::WorkerSummary>>,
    token: Option<&CancellationToken>,
) -> PyResult<WorkerSummary> {
    let abort = join.abort_handle();
    let (tx, rx) = std::sync::mpsc::channel();
    // A `Receiver` is not `Sync`; the mutex lets the GIL-free closures borrow it.
    let rx = Mutex::new(rx);
    let recv = |timeout: Option<Duration>| {
        let rx = rx.lock().unwrap_or_else(PoisonError::into_inner);
        match timeout {
            Some(timeout) => rx.recv_timeout(timeout),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        }
    };
    runtime().spawn(async move {
        let _ = tx.send(join.await);
    });
    let mut interrupted: Option<PyErr> = None;
    loop {
        let joined = match py.detach(|| recv(Some(SIGNAL_POLL))) {
            Ok(joined) => Some(joined),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                return Err(PyRuntimeError::new_err(
                    "the worker stopped abnormally: its outcome was lost",
                ));
            }
        };
        if let Some(joined) = joined {
            let summary = match joined {
                Ok(Ok(summary)) => Ok(WorkerSummary(summary)),
                Ok(Err(e)) => Err(to_py_err(py, e)),
                Err(e) => Err(PyRuntimeError::new_err(format!(
                    "the worker stopped abnormally: {e}"
                ))),
            };
            return match interrupted {
                Some(err) => Err(err),
                None => summary,
            };
        }
        if let Err(err) = py.check_signals() {
            match (token, interrupted.is_some()) {
                (Some(token), false) => {
                    token.cancel();
                    interrupted = Some(err);
                }
                _ => {
                    abort.abort();
                    let _ = py.detach(|| recv(None));
                    return Err(err);
                }
            }
        }
    }
}

/// A `trae.Store` or `trae.aio.Store`'s open database.
fn store_handle(store: &Bound<'_, PyAny>) -> PyResult<Arc<Handle>> {
    if let Ok(store) = store.cast::<crate::sync::Store>() {
        return Ok(Arc::clone(store.get().handle()));
    }
    if let Ok(store) = store.cast::<crate::aio::AsyncStore>() {
        return Ok(Arc::clone(store.get().handle()));
    }
    Err(PyTypeError::new_err(format!(
        "store must be a trae.Store or a trae.aio.Store, not {}",
        type_name(store)
    )))
}

/// A number of seconds as a duration, or a validation error on `field`.
fn seconds(field: &str, value: f64) -> trae_core::Result<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        Error::validation(
            field,
            format!("must be a finite number of seconds >= 0, got {value}"),
        )
    })
}

/// The retry backoff of a handler: `base` seconds after the first failure, doubling, at most
/// an hour, ± 20 %.
fn backoff(base: Option<f64>) -> trae_core::Result<Backoff> {
    Ok(match base {
        None => Backoff::default(),
        Some(base) => Backoff {
            base: seconds("retry_backoff", base)?,
            ..Backoff::default()
        },
    })
}

/// Runs Python functions as task handlers: `trae.Worker(store, queues=("default",),
/// concurrency=None)`.
///
/// Register handlers with the `@worker.handler("kind")` decorator (plain or `async def`
/// functions taking `payload` or `(payload, context)`), then run it: `run()` blocks until
/// `stop()` or Ctrl-C, `run_until_idle()` until nothing is left to do, and
/// `await run_async()` runs it on the running event loop. The return value of a handler
/// (JSON-able) is the task's result; an exception fails the attempt (retried while attempts
/// remain, its `Type: message` kept in the task's errors), `trae.TaskFatal` fails the task now
/// and `trae.TaskSnooze(seconds)` runs it later without spending an attempt.
///
/// `store`: a `trae.Store` or `trae.aio.Store`. `queues`: the queues served (a name or a
/// sequence of names). `concurrency`: tasks run at once (default: the number of CPUs).
/// `id`: recorded on claimed tasks (default host-pid-random). `lease`, `heartbeat`,
/// `poll_interval`, `shutdown_grace`: seconds (defaults 300, 1, 1, 10). Broken rules raise
/// `ValidationError`.
#[pyclass(frozen, module = "trae")]
pub(crate) struct Worker {
    inner: Arc<Inner>,
}

#[pymethods]
impl Worker {
    #[new]
    #[pyo3(signature = (store, queues = None, concurrency = None, *, id = None, lease = None,
                        heartbeat = None, poll_interval = None, shutdown_grace = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        store: &Bound<'_, PyAny>,
        queues: Option<&Bound<'_, PyAny>>,
        concurrency: Option<&Bound<'_, PyInt>>,
        id: Option<String>,
        lease: Option<f64>,
        heartbeat: Option<f64>,
        poll_interval: Option<f64>,
        shutdown_grace: Option<f64>,
    ) -> PyResult<Self> {
        let handle = store_handle(store)?;
        let queues: Option<Vec<String>> = match queues {
            None => None,
            Some(q) if q.is_instance_of::<PyString>() => Some(vec![q.extract()?]),
            Some(q) => Some(q.extract().map_err(|_| {
                PyTypeError::new_err(format!(
                    "queues must be a str or a sequence of str, not {}",
                    type_name(q)
                ))
            })?),
        };
        let options = (|| -> trae_core::Result<WorkerOptions> {
            let mut options = WorkerOptions::default();
            if let Some(queues) = queues {
                options.queues = queues;
            }
            if let Some(concurrency) = concurrency {
                options.concurrency = crate::args::int("concurrency", concurrency)?;
            }
            if let Some(id) = id {
                if id.trim().is_empty() {
                    return Err(Error::validation("id", "must not be empty"));
                }
                options.id = id;
            }
            if let Some(lease) = lease {
                options.lease = seconds("lease", lease)?;
            }
            if let Some(heartbeat) = heartbeat {
                options.heartbeat = seconds("heartbeat", heartbeat)?;
            }
            if let Some(poll) = poll_interval {
                options.poll_interval = seconds("poll_interval", poll)?;
            }
            if let Some(grace) = shutdown_grace {
                options.shutdown_grace = seconds("shutdown_grace", grace)?;
            }
            // trae-core checks the options (queue names, concurrency, lease vs heartbeat).
            CoreWorker::new(handle.tasks()?, options.clone())?;
            Ok(options)
        })()
        .map_err(|e| to_py_err(py, e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                handle,
                options,
                handlers: Mutex::new(BTreeMap::new()),
                run: Mutex::new(None),
            }),
        })
    }

    /// Registers `func` as the handler of `kind`, replacing any before it.
    ///
    /// As a decorator: `@worker.handler("email.send")`; or directly:
    /// `worker.handler("email.send", send)`, which returns `func`. `func` is a plain or
    /// `async def` function taking `payload`, or `(payload, context)` for a
    /// `trae.TaskContext` (`trae.aio.TaskContext` for async ones). `retry_backoff`: seconds
    /// before the first retry, doubling per attempt up to an hour, ± 20 % (default 1; 0 retries
    /// at once). Raises `ValidationError` for a malformed kind. Registering during a run
    /// takes effect at the next run.
    #[pyo3(signature = (kind, func = None, *, retry_backoff = None))]
    fn handler<'py>(
        &self,
        py: Python<'py>,
        kind: &str,
        func: Option<Bound<'py, PyAny>>,
        retry_backoff: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let checked = trae_core::tasks::task::validate_kind(kind)
            .and_then(|kind| Ok((kind, backoff(retry_backoff)?)));
        let (kind, backoff) = checked.map_err(|e| to_py_err(py, e))?;
        match func {
            Some(func) => {
                self.inner.register(py, &kind, &func, backoff)?;
                Ok(func)
            }
            None => Ok(Bound::new(
                py,
                HandlerDecorator {
                    inner: Arc::clone(&self.inner),
                    kind,
                    backoff,
                },
            )?
            .into_any()),
        }
    }

    /// The kinds it has handlers for, sorted.
    #[getter]
    fn kinds(&self) -> Vec<String> {
        self.inner.handlers().keys().cloned().collect()
    }

    /// The id recorded on the tasks it claims.
    #[getter]
    fn id(&self) -> &str {
        &self.inner.options.id
    }

    /// The queues it serves.
    #[getter]
    fn queues(&self) -> Vec<String> {
        self.inner.options.queues.clone()
    }

    /// Tasks it runs at once.
    #[getter]
    fn concurrency(&self) -> usize {
        self.inner.options.concurrency
    }

    /// Whether a run is in progress.
    #[getter]
    fn running(&self) -> bool {
        self.inner.current().is_some()
    }

    /// Asks the run in progress (`run()` or `run_async()`) to stop: it claims nothing more,
    /// gives running handlers `shutdown_grace` seconds to finish, gives back the tasks of
    /// those that do not, and returns. Safe from any thread or handler; does nothing when not
    /// running (nor to `run_until_idle()`, which ends by itself).
    fn stop(&self) {
        self.inner.stop();
    }

    /// Runs until `stop()` is called or Ctrl-C, then shuts down gracefully and returns a
    /// `WorkerSummary` (after Ctrl-C it raises `KeyboardInterrupt` instead; a second Ctrl-C
    /// stops waiting for running handlers). The GIL is released meanwhile.
    ///
    /// Raises `ValidationError` when no handler is registered and `RuntimeError` when this
    /// worker is already running.
    fn run(&self, py: Python<'_>) -> PyResult<WorkerSummary> {
        let (token, _running) = self.inner.begin()?;
        self.blocking_run(py, |worker| {
            (worker.run(token.clone()), Some(token.clone()))
        })
    }

    /// Runs until no task it could claim is due and nothing is running (a retry due at once
    /// runs first), then returns a `WorkerSummary`. Ctrl-C aborts the run (claimed tasks are
    /// rescued when their lease expires) and raises `KeyboardInterrupt`.
    fn run_until_idle(&self, py: Python<'_>) -> PyResult<WorkerSummary> {
        let (_token, _running) = self.inner.begin()?;
        self.blocking_run(py, |worker| (worker.run_until_idle(), None))
    }

    /// A coroutine that runs the worker on the running event loop (async handlers run on it
    /// too) until `stop()`; it returns a `WorkerSummary`. Cancelling it (e.g. the task it runs
    /// in) stops the worker gracefully, waits for that, then raises `CancelledError`.
    fn run_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = Arc::clone(&self.inner);
        let start = PyCFunction::new_closure(
            py,
            Some(c"start"),
            None,
            move |args, _kwargs| -> PyResult<Py<PyAny>> {
                inner.start_async(args.py(), args.get_item(0)?.unbind())
            },
        )?;
        let inner = Arc::clone(&self.inner);
        let stop = PyCFunction::new_closure(
            py,
            Some(c"stop"),
            None,
            move |_args, _kwargs| -> PyResult<()> {
                inner.stop();
                Ok(())
            },
        )?;
        helper(py)?.getattr("run_async")?.call1((start, stop))
    }

    fn __repr__(&self) -> String {
        format!(
            "<trae.Worker id='{}' queues={:?} kinds={:?}{}>",
            self.inner.options.id,
            self.inner.options.queues,
            self.kinds(),
            if self.running() { " running" } else { "" }
        )
    }
}

impl Worker {
    /// Builds the trae-core worker (with an event loop thread when there are async handlers),
    /// starts `start(worker)` on the shared runtime and waits for it.
    fn blocking_run<F, Fut>(&self, py: Python<'_>, start: F) -> PyResult<WorkerSummary>
    where
        F: FnOnce(CoreWorker) -> (Fut, Option<CancellationToken>),
        Fut: std::future::Future<Output = trae_core::Result<trae_core::WorkerSummary>>
            + Send
            + 'static,
    {
        let loop_thread = if self.inner.needs_loop() {
            Some(helper(py)?.getattr("LoopThread")?.call0()?)
        } else {
            None
        };
        let outcome = (|| {
            let event_loop = loop_thread
                .as_ref()
                .map(|t| t.getattr("loop"))
                .transpose()?
                .map(|l| Arc::new(l.unbind()));
            let worker = self.inner.build(event_loop).map_err(|e| to_py_err(py, e))?;
            let (future, token) = start(worker);
            wait(py, runtime().spawn(future), token.as_ref())
        })();
        let closed = loop_thread.map_or(Ok(()), |t| t.call_method0("close").map(drop));
        let summary = outcome?;
        closed?;
        Ok(summary)
    }
}

/// What `worker.handler(kind)` returns: call it with the handler function to register it.
#[pyclass(frozen, module = "trae")]
pub(crate) struct HandlerDecorator {
    inner: Arc<Inner>,
    kind: String,
    backoff: Backoff,
}

#[pymethods]
impl HandlerDecorator {
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        func: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.inner.register(py, &self.kind, &func, self.backoff)?;
        Ok(func)
    }

    fn __repr__(&self) -> String {
        format!("<trae.Worker.handler kind='{}'>", self.kind)
    }
}
