//! The asyncio API: `trae.aio.Store` and `trae.aio.Pets`, with the semantics of the blocking
//! ones (the asyncio identity services are in `services`). Each method returns an asyncio future that the shared tokio runtime completes.
//!
//! Arguments of the wrong Python type raise `TypeError` at the call; everything else, including
//! validation errors, is raised when the future is awaited.

use std::sync::{Arc, Mutex, PoisonError};

use pyo3::prelude::*;
use pyo3::types::{PyInt, PyType};

use crate::apis::{AsyncApis, AsyncOrchestrator};
use crate::args;
use crate::content::{
    AsyncChannels, AsyncContradictions, AsyncEvidence, AsyncObjects, AsyncPersonas,
};
use crate::events::AsyncEvents;
use crate::handle::{Handle, Nothing, awaitable};
use crate::health::AsyncHealth;
use crate::llm::AsyncLlm;
use crate::metrics::AsyncMetrics;
use crate::secrets::AsyncSecrets;
use crate::services::{
    AsyncApiKeys, AsyncAudit, AsyncAuth, AsyncPolicy, AsyncServices, AsyncUsers,
};
use crate::solo::AsyncSolo;
use crate::tasks::AsyncTasks;
use crate::tdd::AsyncTdd;
use crate::types::{PageOut, Pet};

/// An open store as it reaches Python: becomes a `trae.aio.Store`.
struct Opened(Arc<Handle>);

impl<'py> IntoPyObject<'py> for Opened {
    type Target = AsyncStore;
    type Output = Bound<'py, AsyncStore>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let pets = Py::new(
            py,
            AsyncPets {
                handle: Arc::clone(&self.0),
            },
        )?;
        let services = AsyncServices::new(py, &self.0)?;
        let tasks = Py::new(
            py,
            AsyncTasks {
                handle: Arc::clone(&self.0),
            },
        )?;
        let secrets = Py::new(
            py,
            AsyncSecrets {
                handle: Arc::clone(&self.0),
            },
        )?;
        let apis = Py::new(
            py,
            AsyncApis {
                handle: Arc::clone(&self.0),
            },
        )?;
        let orchestrator = Py::new(
            py,
            AsyncOrchestrator {
                handle: Arc::clone(&self.0),
            },
        )?;
        let llm = Py::new(
            py,
            AsyncLlm {
                handle: Arc::clone(&self.0),
            },
        )?;
        let tdd = Py::new(
            py,
            AsyncTdd {
                handle: Arc::clone(&self.0),
            },
        )?;
        let solo = Py::new(
            py,
            AsyncSolo {
                handle: Arc::clone(&self.0),
            },
        )?;
        let health = Py::new(
            py,
            AsyncHealth {
                handle: Arc::clone(&self.0),
            },
        )?;
        let metrics = Py::new(
            py,
            AsyncMetrics {
                handle: Arc::clone(&self.0),
            },
        )?;
        let events = Py::new(
            py,
            AsyncEvents {
                handle: Arc::clone(&self.0),
            },
        )?;
        let content = AsyncObjects::new(py, &self.0)?;
        Bound::new(
            py,
            AsyncStore {
                handle: self.0,
                pets,
                services,
                tasks,
                secrets,
                apis,
                orchestrator,
                llm,
                tdd,
                solo,
                health,
                metrics,
                events,
                content,
            },
        )
    }
}

/// A trae database for asyncio code; open one with `await Store.open(url)` or
/// `async with Store.open(url) as store:`.
#[pyclass(frozen, name = "Store", module = "trae.aio")]
pub(crate) struct AsyncStore {
    handle: Arc<Handle>,
    pets: Py<AsyncPets>,
    services: AsyncServices,
    tasks: Py<AsyncTasks>,
    secrets: Py<AsyncSecrets>,
    apis: Py<AsyncApis>,
    orchestrator: Py<AsyncOrchestrator>,
    llm: Py<AsyncLlm>,
    tdd: Py<AsyncTdd>,
    solo: Py<AsyncSolo>,
    health: Py<AsyncHealth>,
    metrics: Py<AsyncMetrics>,
    events: Py<AsyncEvents>,
    content: AsyncObjects,
}

impl AsyncStore {
    /// The open database, for the objects built over a store (`trae.Worker`).
    pub(crate) fn handle(&self) -> &Arc<Handle> {
        &self.handle
    }
}

#[pymethods]
impl AsyncStore {
    /// Opens (and migrates) the database at `url`; the arguments and configuration rules of
    /// `trae.Store` apply.
    ///
    /// Await the result for the store, or use it with `async with` to close the store at the
    /// end of the block. Raises `ConfigError` for a URL trae cannot use or a short
    /// `jwt_secret`, and `Unavailable` when the database cannot be reached.
    #[staticmethod]
    #[pyo3(signature = (url = None, *, data_dir = None, jwt_secret = None, master_key = None))]
    fn open(
        url: Option<String>,
        data_dir: Option<std::path::PathBuf>,
        jwt_secret: Option<String>,
        master_key: Option<String>,
    ) -> StoreOpener {
        StoreOpener {
            overrides: crate::args::config_overrides(url, data_dir, jwt_secret, master_key),
            opened: Arc::new(Mutex::new(None)),
        }
    }

    /// The pets in this store.
    #[getter]
    fn pets(&self, py: Python<'_>) -> Py<AsyncPets> {
        self.pets.clone_ref(py)
    }

    /// Registration, sign-in, tokens and credentials.
    #[getter]
    fn auth(&self, py: Python<'_>) -> Py<AsyncAuth> {
        self.services.auth.clone_ref(py)
    }

    /// Profiles and user administration.
    #[getter]
    fn users(&self, py: Python<'_>) -> Py<AsyncUsers> {
        self.services.users.clone_ref(py)
    }

    /// A signed-in user's API keys.
    #[getter]
    fn api_keys(&self, py: Python<'_>) -> Py<AsyncApiKeys> {
        self.services.api_keys.clone_ref(py)
    }

    /// Roles and the permissions they grant.
    #[getter]
    fn policy(&self, py: Python<'_>) -> Py<AsyncPolicy> {
        self.services.policy.clone_ref(py)
    }

    /// The audit log.
    #[getter]
    fn audit(&self, py: Python<'_>) -> Py<AsyncAudit> {
        self.services.audit.clone_ref(py)
    }

    /// The durable task queue.
    #[getter]
    fn tasks(&self, py: Python<'_>) -> Py<AsyncTasks> {
        self.tasks.clone_ref(py)
    }

    /// The secrets vault (opened on first use; see `trae.aio.Secrets`).
    #[getter]
    fn secrets(&self, py: Python<'_>) -> Py<AsyncSecrets> {
        self.secrets.clone_ref(py)
    }

    /// The external API registry (see `trae.aio.Apis`).
    #[getter]
    fn apis(&self, py: Python<'_>) -> Py<AsyncApis> {
        self.apis.clone_ref(py)
    }

    /// Calls to external APIs by capability (wired on first use; see
    /// `trae.aio.Orchestrator`).
    #[getter]
    fn orchestrator(&self, py: Python<'_>) -> Py<AsyncOrchestrator> {
        self.orchestrator.clone_ref(py)
    }

    /// Language models through the API registry (see `trae.aio.Llm`).
    #[getter]
    fn llm(&self, py: Python<'_>) -> Py<AsyncLlm> {
        self.llm.clone_ref(py)
    }

    /// The TDD agent (see `trae.aio.Tdd`).
    #[getter]
    fn tdd(&self, py: Python<'_>) -> Py<AsyncTdd> {
        self.tdd.clone_ref(py)
    }

    /// The SOLO agent's genesis interviews (see `trae.aio.Solo`).
    #[getter]
    fn solo(&self, py: Python<'_>) -> Py<AsyncSolo> {
        self.solo.clone_ref(py)
    }

    /// Component health (opened on first use; see `trae.aio.Health`).
    #[getter]
    fn health(&self, py: Python<'_>) -> Py<AsyncHealth> {
        self.health.clone_ref(py)
    }

    /// Metric series and alert rules (see `trae.aio.Metrics`).
    #[getter]
    fn metrics(&self, py: Python<'_>) -> Py<AsyncMetrics> {
        self.metrics.clone_ref(py)
    }

    /// The event stream: pages and live subscriptions (see `trae.aio.Events`).
    #[getter]
    fn events(&self, py: Python<'_>) -> Py<AsyncEvents> {
        self.events.clone_ref(py)
    }

    /// The channels content is published on (see `trae.aio.Channels`).
    #[getter]
    fn channels(&self, py: Python<'_>) -> Py<AsyncChannels> {
        self.content.channels.clone_ref(py)
    }

    /// Author personas, versioned and with variants (see `trae.aio.Personas`).
    #[getter]
    fn personas(&self, py: Python<'_>) -> Py<AsyncPersonas> {
        self.content.personas.clone_ref(py)
    }

    /// The evidence library (see `trae.aio.Evidence`).
    #[getter]
    fn evidence(&self, py: Python<'_>) -> Py<AsyncEvidence> {
        self.content.evidence.clone_ref(py)
    }

    /// The contradiction tracker (see `trae.aio.Contradictions`).
    #[getter]
    fn contradictions(&self, py: Python<'_>) -> Py<AsyncContradictions> {
        self.content.contradictions.clone_ref(py)
    }

    /// The database engine: "sqlite" or "postgres".
    #[getter]
    fn backend(&self) -> &'static str {
        self.handle.backend()
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// The same open store acting as the user or API key `token` stands for (await it); the
    /// rules of `trae.Store.as_user` apply.
    fn as_user<'py>(&self, py: Python<'py>, token: String) -> PyResult<Bound<'py, PyAny>> {
        let handle = Arc::clone(&self.handle);
        awaitable(py, async move { handle.as_user(&token).await.map(Opened) })
    }

    /// Closes the database connections (await it); later calls raise `Unavailable`. Closing
    /// again does nothing.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let handle = Arc::clone(&self.handle);
        awaitable(py, async move {
            handle.close().await;
            Ok(Nothing)
        })
    }

    fn __aenter__<'py>(slf: Py<Self>, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, async move { Ok(slf) })
    }

    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _exc_type: Option<&Bound<'py, PyType>>,
        _exc_value: Option<&Bound<'py, PyAny>>,
        _traceback: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let handle = Arc::clone(&self.handle);
        awaitable(py, async move {
            handle.close().await;
            Ok(false)
        })
    }

    fn __repr__(&self) -> String {
        let state = if self.handle.is_closed() {
            " closed"
        } else {
            ""
        };
        format!(
            "<trae.aio.Store backend='{}'{state}>",
            self.handle.backend()
        )
    }
}

/// What `Store.open(url)` returns: await it for the store, or use it with `async with`, which
/// closes the store when the block ends.
#[pyclass(frozen, module = "trae.aio")]
pub(crate) struct StoreOpener {
    /// What the caller set in code, winning over the environment and `trae.toml`.
    overrides: trae_core::ConfigOverrides,
    /// The store `__aenter__` opened, for `__aexit__` to close.
    opened: Arc<Mutex<Option<Arc<Handle>>>>,
}

#[pymethods]
impl StoreOpener {
    fn __await__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let overrides = self.overrides.clone();
        let future = awaitable(
            py,
            async move { Handle::connect(overrides).await.map(Opened) },
        )?;
        future.call_method0("__await__")
    }

    fn __aenter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let overrides = self.overrides.clone();
        let opened = Arc::clone(&self.opened);
        awaitable(py, async move {
            let handle = Handle::connect(overrides).await?;
            let previous = opened
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .replace(Arc::clone(&handle));
            if let Some(previous) = previous {
                previous.close().await;
            }
            Ok(Opened(handle))
        })
    }

    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _exc_type: Option<&Bound<'py, PyType>>,
        _exc_value: Option<&Bound<'py, PyAny>>,
        _traceback: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let handle = self
            .opened
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        awaitable(py, async move {
            if let Some(handle) = handle {
                handle.close().await;
            }
            Ok(false)
        })
    }

    fn __repr__(&self) -> String {
        "<trae.aio.StoreOpener>".to_owned()
    }
}

/// The pets of a `trae.aio.Store` (`store.pets`); the methods of `trae.Pets`, awaitable.
#[pyclass(frozen, name = "Pets", module = "trae.aio")]
pub(crate) struct AsyncPets {
    handle: Arc<Handle>,
}

#[pymethods]
impl AsyncPets {
    /// Creates a pet; awaits to the new `Pet`. The rules of `trae.Pets.create` apply.
    #[pyo3(signature = (*, name, species, age, tags = None))]
    fn create<'py>(
        &self,
        py: Python<'py>,
        name: String,
        species: &str,
        age: &Bound<'py, PyInt>,
        tags: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let input = args::new_pet(name, species, age, tags);
        let handle = Arc::clone(&self.handle);
        awaitable(py, async move { handle.create(input).await.map(Pet::from) })
    }

    /// Awaits to the pet with this id (a `uuid.UUID` or its string form).
    ///
    /// Raises `NotFound` when there is none, `ValidationError` for a malformed id string.
    fn get<'py>(&self, py: Python<'py>, id: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let id = args::id(id)?;
        let handle = Arc::clone(&self.handle);
        awaitable(py, async move { handle.get(id).await.map(Pet::from) })
    }

    /// Awaits to one `Page` of pets, oldest first; the arguments of `trae.Pets.list` apply.
    #[pyo3(
        signature = (*, species = None, tag = None, limit = None, offset = None),
        text_signature = "($self, *, species=None, tag=None, limit=50, offset=0)"
    )]
    fn list<'py>(
        &self,
        py: Python<'py>,
        species: Option<&str>,
        tag: Option<String>,
        limit: Option<&Bound<'py, PyInt>>,
        offset: Option<&Bound<'py, PyInt>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let query = args::list(species, tag, limit, offset);
        let handle = Arc::clone(&self.handle);
        awaitable(py, async move {
            handle
                .list(query)
                .await
                .map(|page| PageOut(page.map(Pet::from)))
        })
    }

    /// Changes the given fields of a pet; awaits to the updated `Pet`. Fields left `None` keep
    /// their value; the rules of `trae.Pets.update` apply.
    #[pyo3(signature = (id, *, name = None, species = None, age = None, tags = None))]
    fn update<'py>(
        &self,
        py: Python<'py>,
        id: &Bound<'py, PyAny>,
        name: Option<String>,
        species: Option<&str>,
        age: Option<&Bound<'py, PyInt>>,
        tags: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let id = args::id(id)?;
        let patch = args::patch(name, species, age, tags);
        let handle = Arc::clone(&self.handle);
        awaitable(
            py,
            async move { handle.update(id, patch).await.map(Pet::from) },
        )
    }

    /// Deletes a pet; awaits to `None`. Raises `NotFound` when there is no such pet.
    fn delete<'py>(&self, py: Python<'py>, id: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let id = args::id(id)?;
        let handle = Arc::clone(&self.handle);
        awaitable(py, async move { handle.delete(id).await.map(|()| Nothing) })
    }

    fn __repr__(&self) -> String {
        format!("<trae.aio.Pets backend='{}'>", self.handle.backend())
    }
}
