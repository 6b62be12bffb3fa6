//! The event stream (`store.events`, blocking `trae.Events`, asyncio `trae.aio.Events`) and
//! its subscriptions: a blocking iterator (`trae.EventSubscription`) and an async one
//! (`trae.aio.EventSubscription`).
//!
//! Events are dicts with the keys of the HTTP API's events (`seq`, `id` a `uuid.UUID`, `ts` a
//! timezone-aware UTC `datetime`, `topic`, `source`, `kind`, `owner_id`, `payload`). History
//! that is gone (another epoch, pruned, or a `since` past the end) raises `trae.HistoryLost`
//! with the current position. Who may read which topic is the library's decision, under the
//! store's principal.

use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tokio_util::sync::CancellationToken;
use trae_core::{EventPage, HistoryLost as Lost, Read, Resume, StoredEvent, Subscription, Topic};

use crate::convert::json_to_py;
use crate::errors::{HistoryLost, to_py_err};
use crate::handle::{Handle, awaitable, block_on, blocking};
use crate::runtime;

/// How often a blocking wait looks for Ctrl-C.
const SIGNAL_CHECK: Duration = Duration::from_millis(200);

/// An event as a dict.
fn event_dict<'py>(py: Python<'py>, e: &StoredEvent) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("seq", e.seq)?;
    dict.set_item("id", e.id)?;
    dict.set_item("ts", e.ts)?;
    dict.set_item("topic", &e.topic)?;
    dict.set_item("source", &e.source)?;
    dict.set_item("kind", &e.kind)?;
    dict.set_item("owner_id", e.owner_id)?;
    dict.set_item("payload", json_to_py(py, &e.payload)?)?;
    Ok(dict)
}

/// The `HistoryLost` exception for `lost`, with `reason`, `epoch`, `last_seq` and
/// `oldest_seq` set.
fn lost_err(py: Python<'_>, lost: &Lost) -> PyErr {
    let err = HistoryLost::new_err(lost.reason.clone());
    let value = err.value(py);
    let set = (|| -> PyResult<()> {
        value.setattr("code", "history_lost")?;
        value.setattr("reason", &lost.reason)?;
        value.setattr("epoch", &lost.position.epoch)?;
        value.setattr("last_seq", lost.position.last_seq)?;
        value.setattr("oldest_seq", lost.position.oldest_seq)?;
        Ok(())
    })();
    match set {
        Ok(()) => err,
        Err(e) => e,
    }
}

/// A page (or lost history) on its way to Python.
struct PageOut(Read<EventPage>);

impl<'py> IntoPyObject<'py> for PageOut {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let page = match self.0 {
            Read::Continued(page) => page,
            Read::Lost(lost) => return Err(lost_err(py, &lost)),
        };
        let events = PyList::empty(py);
        for e in &page.events {
            events.append(event_dict(py, e)?)?;
        }
        let dict = PyDict::new(py);
        dict.set_item("epoch", page.epoch)?;
        dict.set_item("events", events)?;
        dict.set_item("next", page.next)?;
        Ok(dict.into_any())
    }
}

/// The next event of a subscription, `None` after a timeout, or the end of it.
enum Next {
    Event(Arc<StoredEvent>),
    TimedOut,
    Ended,
}

/// One followed stream, shared by the Python object and the calls waiting on it.
struct Follow {
    subscription: tokio::sync::Mutex<Subscription>,
    epoch: String,
    closed: CancellationToken,
}

impl Follow {
    /// The next event within `timeout` (forever when `None`).
    async fn next(&self, timeout: Option<Duration>) -> trae_core::Result<Next> {
        let wait = async {
            let mut sub = self.subscription.lock().await;
            sub.next().await
        };
        let timed = async {
            match timeout {
                Some(t) => tokio::time::timeout(t, wait).await.ok(),
                None => Some(wait.await),
            }
        };
        tokio::select! {
            () = self.closed.cancelled() => Ok(Next::Ended),
            next = timed => match next {
                None => Ok(Next::TimedOut),
                Some(Ok(event)) => Ok(Next::Event(event)),
                Some(Err(e)) => Err(e),
            },
        }
    }

    async fn last_seq(&self) -> u64 {
        self.subscription.lock().await.last_seq()
    }
}

/// Starts following `topics` from `resume` as the handle's principal.
async fn follow(
    handle: &Handle,
    topics: Vec<String>,
    resume: Resume,
) -> trae_core::Result<Read<Arc<Follow>>> {
    let topics = Topic::parse_names(&topics)?;
    let stream = handle.events()?;
    Ok(
        match stream
            .subscribe(handle.principal(), &topics, &resume)
            .await?
        {
            Read::Continued(sub) => Read::Continued(Arc::new(Follow {
                epoch: sub.epoch().to_owned(),
                subscription: tokio::sync::Mutex::new(sub),
                closed: CancellationToken::new(),
            })),
            Read::Lost(lost) => Read::Lost(lost),
        },
    )
}

/// A blocking iterator over the events of a subscription (`store.events.subscribe(...)`).
///
/// `for event in sub:` waits for each event (Ctrl-C interrupts); `sub.next(timeout=...)`
/// returns `None` when nothing came in time. `close()` (or leaving a `with` block) ends it.
/// `epoch` and `last_seq` say where to resume. Raises `Unavailable` when the store closes.
#[pyclass(frozen, name = "EventSubscription", module = "trae")]
pub(crate) struct EventSubscription(Arc<Follow>);

#[pymethods]
impl EventSubscription {
    /// The log's epoch.
    #[getter]
    fn epoch(&self) -> &str {
        &self.0.epoch
    }

    /// The last `seq` this subscription has covered: resume after it.
    #[getter]
    fn last_seq(&self, py: Python<'_>) -> PyResult<u64> {
        let follow = Arc::clone(&self.0);
        block_on(py, async move { Ok(follow.last_seq().await) })
    }

    /// The next event (a dict), or `None` when `timeout` seconds pass without one; raises
    /// `StopIteration` once closed.
    #[pyo3(signature = (timeout = None))]
    fn next<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let timeout = crate::args::timeout(timeout).map_err(|e| to_py_err(py, e))?;
        match self.wait(py, timeout)? {
            Next::Event(event) => Ok(event_dict(py, &event)?.into_any()),
            Next::TimedOut => Ok(py.None().into_bound(py)),
            Next::Ended => Err(PyStopIteration::new_err(())),
        }
    }

    /// Ends the subscription; a waiting `next` returns.
    fn close(&self) {
        self.0.closed.cancel();
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        match self.wait(py, None)? {
            Next::Event(event) => event_dict(py, &event),
            Next::TimedOut | Next::Ended => Err(PyStopIteration::new_err(())),
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) {
        self.close();
    }

    fn __repr__(&self) -> String {
        format!("<trae.EventSubscription epoch='{}'>", self.0.epoch)
    }
}

impl EventSubscription {
    /// Waits with the GIL released, looking for Ctrl-C between short waits.
    fn wait(&self, py: Python<'_>, timeout: Option<Duration>) -> PyResult<Next> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            let slice = match deadline {
                Some(at) => at
                    .saturating_duration_since(std::time::Instant::now())
                    .min(SIGNAL_CHECK),
                None => SIGNAL_CHECK,
            };
            let follow = Arc::clone(&self.0);
            let next = py
                .detach(|| runtime().block_on(follow.next(Some(slice))))
                .map_err(|e| to_py_err(py, e))?;
            match next {
                Next::TimedOut => {
                    py.check_signals()?;
                    if deadline.is_some_and(|at| std::time::Instant::now() >= at) {
                        return Ok(Next::TimedOut);
                    }
                }
                other => return Ok(other),
            }
        }
    }
}

/// An async iterator over the events of a subscription (`await store.events.subscribe(...)`
/// in `trae.aio`): `async for event in sub:`; `await sub.next(timeout=...)` gives `None` when
/// nothing came in time; `close()` ends it.
#[pyclass(frozen, name = "EventSubscription", module = "trae.aio")]
pub(crate) struct AsyncEventSubscription(Arc<Follow>);

/// What an async wait resolves to.
struct AsyncNext {
    next: Next,
    /// `__anext__` ends with `StopAsyncIteration`; `next()` returns `None` on a timeout.
    iterating: bool,
}

impl<'py> IntoPyObject<'py> for AsyncNext {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        match self.next {
            Next::Event(event) => Ok(event_dict(py, &event)?.into_any()),
            Next::TimedOut if !self.iterating => Ok(py.None().into_bound(py)),
            Next::TimedOut | Next::Ended => Err(PyStopAsyncIteration::new_err(())),
        }
    }
}

#[pymethods]
impl AsyncEventSubscription {
    /// The log's epoch.
    #[getter]
    fn epoch(&self) -> &str {
        &self.0.epoch
    }

    /// The last `seq` this subscription has covered, awaitable.
    fn last_seq<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let follow = Arc::clone(&self.0);
        awaitable(py, async move { Ok(follow.last_seq().await) })
    }

    /// Awaits the next event (a dict), or `None` when `timeout` seconds pass without one;
    /// raises `StopAsyncIteration` once closed.
    #[pyo3(signature = (timeout = None))]
    fn next<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let timeout = crate::args::timeout(timeout).map_err(|e| to_py_err(py, e))?;
        let follow = Arc::clone(&self.0);
        awaitable(py, async move {
            let next = follow.next(timeout).await?;
            Ok(AsyncNext {
                next,
                iterating: false,
            })
        })
    }

    /// Ends the subscription; a waiting `next` resolves.
    fn close(&self) {
        self.0.closed.cancel();
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let follow = Arc::clone(&self.0);
        awaitable(py, async move {
            let next = follow.next(None).await?;
            Ok(AsyncNext {
                next,
                iterating: true,
            })
        })
    }

    fn __repr__(&self) -> String {
        format!("<trae.aio.EventSubscription epoch='{}'>", self.0.epoch)
    }
}

/// A subscription (or lost history) on its way to Python, as the blocking or async iterator.
struct Subscribed {
    read: Read<Arc<Follow>>,
    asynchronous: bool,
}

impl<'py> IntoPyObject<'py> for Subscribed {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        match self.read {
            Read::Lost(lost) => Err(lost_err(py, &lost)),
            Read::Continued(follow) if self.asynchronous => {
                Ok(Bound::new(py, AsyncEventSubscription(follow))?.into_any())
            }
            Read::Continued(follow) => Ok(Bound::new(py, EventSubscription(follow))?.into_any()),
        }
    }
}

/// Defines an events service class, each method running its work with `$run`.
macro_rules! events_service {
    (
        run: $run:path,
        asynchronous: $asynchronous:expr,
        module: $module:tt,
        class: $Events:ident,
        doc: $doc:tt $(,)?
    ) => {
        #[doc = concat!(
            "The event stream of a store (`store.events`)", $doc, "\n\n",
            "Every service's events, kept in the database for `TRAE_EVENT_RETENTION_HOURS`. ",
            "`topics` is a list of topic names (`tasks`, `health`, `alerts`, `apis`, `audit`, ",
            "`content`, `backups`, `pets`, `bench`, `system`); left out, every topic the store's principal ",
            "may read. A topic it may not read raises `PermissionDenied`; without ",
            "`tasks:read_all` only its own tasks' events show. `since` resumes after that ",
            "`seq` of `epoch`; history that is gone raises `HistoryLost`."
        )]
        #[pyclass(frozen, name = "Events", module = $module)]
        pub(crate) struct $Events {
            pub(crate) handle: Arc<Handle>,
        }

        #[pymethods]
        impl $Events {
            /// A page of events after `since`: a dict with `epoch`, `events` (dicts, oldest
            /// first, at most `limit`, default 100, at most 500) and `next` (the `since` of
            /// the next page). Without `since` the page is empty and `next` is the end.
            #[pyo3(signature = (*, since = None, topics = None, epoch = None, limit = None))]
            fn page<'py>(
                &self,
                py: Python<'py>,
                since: Option<i64>,
                topics: Option<Vec<String>>,
                epoch: Option<String>,
                limit: Option<i64>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let topics = Topic::parse_names(&topics.unwrap_or_default())?;
                    let resume = Resume::parse(since, epoch)?;
                    let read = handle
                        .events()?
                        .page(handle.principal(), &topics, &resume, limit)
                        .await?;
                    Ok(PageOut(read))
                })
            }

            /// Follows the stream: replays what came after `since` (from now when left out),
            /// then every new event, as an iterator of dicts.
            #[pyo3(signature = (*, topics = None, since = None, epoch = None))]
            fn subscribe<'py>(
                &self,
                py: Python<'py>,
                topics: Option<Vec<String>>,
                since: Option<i64>,
                epoch: Option<String>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let resume = Resume::parse(since, epoch)?;
                    let read = follow(&handle, topics.unwrap_or_default(), resume).await?;
                    Ok(Subscribed {
                        read,
                        asynchronous: $asynchronous,
                    })
                })
            }

            /// Where the log stands: a dict with `epoch`, `last_seq` and `oldest_seq`.
            fn position<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let position = handle.events()?.position().await?;
                    Ok(PositionOut(position))
                })
            }

            fn __repr__(&self) -> String {
                format!("<{}.Events backend='{}'>", $module, self.handle.backend())
            }
        }
    };
}

/// A stream position as a dict.
struct PositionOut(trae_core::StreamPosition);

impl<'py> IntoPyObject<'py> for PositionOut {
    type Target = PyDict;
    type Output = Bound<'py, PyDict>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let dict = PyDict::new(py);
        dict.set_item("epoch", self.0.epoch)?;
        dict.set_item("last_seq", self.0.last_seq)?;
        dict.set_item("oldest_seq", self.0.oldest_seq)?;
        Ok(dict)
    }
}

events_service! {
    run: blocking,
    asynchronous: false,
    module: "trae",
    class: Events,
    doc: ".",
}

events_service! {
    run: awaitable,
    asynchronous: true,
    module: "trae.aio",
    class: AsyncEvents,
    doc: "; the methods of `trae.Events`, each returning an awaitable.",
}
