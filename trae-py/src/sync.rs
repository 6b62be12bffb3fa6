//! The blocking API: `trae.Store` and `trae.Pets` (the identity services are in
//! `services`).
//!
//! Each call releases the GIL while the shared tokio runtime does the work, so other Python
//! threads run meanwhile.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyInt, PyType};

use crate::apis::{Apis, Orchestrator};
use crate::args;
use crate::content::{Channels, Contradictions, Evidence, Personas, SyncObjects};
use crate::events::Events;
use crate::handle::{Handle, block_on};
use crate::health::Health;
use crate::llm::Llm;
use crate::metrics::Metrics;
use crate::secrets::Secrets;
use crate::services::{ApiKeys, Audit, Auth, Policy, SyncServices, Users};
use crate::solo::Solo;
use crate::tasks::Tasks;
use crate::tdd::Tdd;
use crate::types::{PageOut, Pet};

/// A trae database and every trae service over it, opened (and migrated) when constructed.
///
/// The configuration is the one `trae serve` reads: the `TRAE_*` environment variables and
/// `trae.toml` in the data directory, read when the store opens. Arguments win over both:
/// `url` (`sqlite:///path/to/file.db`, created when missing, `sqlite::memory:` or
/// `postgres://user:password@host:port/database`; default `TRAE_DATABASE_URL`, else
/// `trae.db` in the data directory), `data_dir` (default `TRAE_DATA_DIR`, else the directory
/// of a SQLite file named by `url`, else the working directory; it holds `trae.toml` and, on
/// SQLite, the secrets master key file), `jwt_secret` and `master_key`. So a store on the
/// server's database signs, locks out and decrypts exactly as the server does.
///
/// Use as a context manager to close it at the end of a block:
/// `with trae.Store(url) as store: ...`. Raises `ConfigError` for a configuration trae cannot
/// use (as `trae serve` refuses to start with it), and `Unavailable` when the database cannot
/// be reached.
#[pyclass(frozen, module = "trae")]
pub(crate) struct Store {
    handle: Arc<Handle>,
    pets: Py<Pets>,
    services: SyncServices,
    tasks: Py<Tasks>,
    secrets: Py<Secrets>,
    apis: Py<Apis>,
    orchestrator: Py<Orchestrator>,
    llm: Py<Llm>,
    tdd: Py<Tdd>,
    solo: Py<Solo>,
    health: Py<Health>,
    metrics: Py<Metrics>,
    events: Py<Events>,
    content: SyncObjects,
}

impl Store {
    /// The Python objects over `handle`.
    fn over(py: Python<'_>, handle: Arc<Handle>) -> PyResult<Self> {
        let pets = Py::new(
            py,
            Pets {
                handle: Arc::clone(&handle),
            },
        )?;
        let services = SyncServices::new(py, &handle)?;
        let tasks = Py::new(
            py,
            Tasks {
                handle: Arc::clone(&handle),
            },
        )?;
        let secrets = Py::new(
            py,
            Secrets {
                handle: Arc::clone(&handle),
            },
        )?;
        let apis = Py::new(
            py,
            Apis {
                handle: Arc::clone(&handle),
            },
        )?;
        let orchestrator = Py::new(
            py,
            Orchestrator {
                handle: Arc::clone(&handle),
            },
        )?;
        let llm = Py::new(
            py,
            Llm {
                handle: Arc::clone(&handle),
            },
        )?;
        let tdd = Py::new(
            py,
            Tdd {
                handle: Arc::clone(&handle),
            },
        )?;
        let solo = Py::new(
            py,
            Solo {
                handle: Arc::clone(&handle),
            },
        )?;
        let health = Py::new(
            py,
            Health {
                handle: Arc::clone(&handle),
            },
        )?;
        let metrics = Py::new(
            py,
            Metrics {
                handle: Arc::clone(&handle),
            },
        )?;
        let events = Py::new(
            py,
            Events {
                handle: Arc::clone(&handle),
            },
        )?;
        let content = SyncObjects::new(py, &handle)?;
        Ok(Self {
            handle,
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
        })
    }

    /// The open database, for the objects built over a store (`trae.Worker`).
    pub(crate) fn handle(&self) -> &Arc<Handle> {
        &self.handle
    }
}

#[pymethods]
impl Store {
    #[new]
    #[pyo3(signature = (url = None, *, data_dir = None, jwt_secret = None, master_key = None))]
    fn new(
        py: Python<'_>,
        url: Option<String>,
        data_dir: Option<std::path::PathBuf>,
        jwt_secret: Option<String>,
        master_key: Option<String>,
    ) -> PyResult<Self> {
        let overrides = args::config_overrides(url, data_dir, jwt_secret, master_key);
        let handle = block_on(py, Handle::connect(overrides))?;
        Self::over(py, handle)
    }

    /// The same open store acting as the user or API key `token` (an access token or a
    /// `trae_…` key) stands for: every call through it has exactly that principal's
    /// permissions, as over HTTP, and closing either closes both.
    ///
    /// Raises `AuthError` when the token does not work.
    fn as_user(&self, py: Python<'_>, token: String) -> PyResult<Self> {
        let handle = Arc::clone(&self.handle);
        let handle = block_on(py, async move { handle.as_user(&token).await })?;
        Self::over(py, handle)
    }
    /// The pets in this store.
    #[getter]
    fn pets(&self, py: Python<'_>) -> Py<Pets> {
        self.pets.clone_ref(py)
    }

    /// Registration, sign-in, tokens and credentials.
    #[getter]
    fn auth(&self, py: Python<'_>) -> Py<Auth> {
        self.services.auth.clone_ref(py)
    }

    /// Profiles and user administration.
    #[getter]
    fn users(&self, py: Python<'_>) -> Py<Users> {
        self.services.users.clone_ref(py)
    }

    /// A signed-in user's API keys.
    #[getter]
    fn api_keys(&self, py: Python<'_>) -> Py<ApiKeys> {
        self.services.api_keys.clone_ref(py)
    }

    /// Roles and the permissions they grant.
    #[getter]
    fn policy(&self, py: Python<'_>) -> Py<Policy> {
        self.services.policy.clone_ref(py)
    }

    /// The audit log.
    #[getter]
    fn audit(&self, py: Python<'_>) -> Py<Audit> {
        self.services.audit.clone_ref(py)
    }

    /// The durable task queue.
    #[getter]
    fn tasks(&self, py: Python<'_>) -> Py<Tasks> {
        self.tasks.clone_ref(py)
    }

    /// The secrets vault (opened on first use; see `trae.Secrets`).
    #[getter]
    fn secrets(&self, py: Python<'_>) -> Py<Secrets> {
        self.secrets.clone_ref(py)
    }

    /// The external API registry: endpoints, usage and request logs (see `trae.Apis`).
    #[getter]
    fn apis(&self, py: Python<'_>) -> Py<Apis> {
        self.apis.clone_ref(py)
    }

    /// Calls to external APIs by capability (wired on first use; see `trae.Orchestrator`).
    #[getter]
    fn orchestrator(&self, py: Python<'_>) -> Py<Orchestrator> {
        self.orchestrator.clone_ref(py)
    }

    /// Language models through the API registry: chats, streams, model endpoints and
    /// budgets (see `trae.Llm`).
    #[getter]
    fn llm(&self, py: Python<'_>) -> Py<Llm> {
        self.llm.clone_ref(py)
    }

    /// The TDD agent: runs executed here, their trajectories and diffs, cancel, accept and
    /// replay (see `trae.Tdd`).
    #[getter]
    fn tdd(&self, py: Python<'_>) -> Py<Tdd> {
        self.tdd.clone_ref(py)
    }

    /// The SOLO agent's genesis interviews: start, answer, revise, read, specs (see
    /// `trae.Solo`).
    #[getter]
    fn solo(&self, py: Python<'_>) -> Py<Solo> {
        self.solo.clone_ref(py)
    }

    /// Component health: the built-in components' status, uptime and history (opened on
    /// first use; see `trae.Health`).
    #[getter]
    fn health(&self, py: Python<'_>) -> Py<Health> {
        self.health.clone_ref(py)
    }

    /// Metric series and alert rules (see `trae.Metrics`).
    #[getter]
    fn metrics(&self, py: Python<'_>) -> Py<Metrics> {
        self.metrics.clone_ref(py)
    }

    /// The event stream: pages and live subscriptions (see `trae.Events`).
    #[getter]
    fn events(&self, py: Python<'_>) -> Py<Events> {
        self.events.clone_ref(py)
    }

    /// The channels content is published on (see `trae.Channels`).
    #[getter]
    fn channels(&self, py: Python<'_>) -> Py<Channels> {
        self.content.channels.clone_ref(py)
    }

    /// Author personas, versioned and with variants (see `trae.Personas`).
    #[getter]
    fn personas(&self, py: Python<'_>) -> Py<Personas> {
        self.content.personas.clone_ref(py)
    }

    /// The evidence library (see `trae.Evidence`).
    #[getter]
    fn evidence(&self, py: Python<'_>) -> Py<Evidence> {
        self.content.evidence.clone_ref(py)
    }

    /// The contradiction tracker (see `trae.Contradictions`).
    #[getter]
    fn contradictions(&self, py: Python<'_>) -> Py<Contradictions> {
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

    /// Closes the database connections; later calls raise `Unavailable`. Closing again does
    /// nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let handle = Arc::clone(&self.handle);
        block_on(py, async move {
            handle.close().await;
            Ok(())
        })
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyType>>,
        _exc_value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = if self.handle.is_closed() {
            " closed"
        } else {
            ""
        };
        format!("<trae.Store backend='{}'{state}>", self.handle.backend())
    }
}

/// The pets of a `Store` (`store.pets`).
///
/// Every rule is checked by trae-core and broken ones raise `ValidationError`, whose `field`
/// names the argument.
#[pyclass(frozen, module = "trae")]
pub(crate) struct Pets {
    handle: Arc<Handle>,
}

#[pymethods]
impl Pets {
    /// Creates a pet and returns it.
    ///
    /// `name`: 1–100 characters, trimmed. `species`: "dog", "cat", "bird", "fish" or
    /// "other". `age`: 0–100. `tags`: up to 10 distinct tags of 1–32 characters.
    #[pyo3(signature = (*, name, species, age, tags = None))]
    fn create(
        &self,
        py: Python<'_>,
        name: String,
        species: &str,
        age: &Bound<'_, PyInt>,
        tags: Option<Vec<String>>,
    ) -> PyResult<Pet> {
        let input = args::new_pet(name, species, age, tags);
        block_on(py, Arc::clone(&self.handle).create(input)).map(Pet::from)
    }

    /// Returns the pet with this id (a `uuid.UUID` or its string form).
    ///
    /// Raises `NotFound` when there is none, `ValidationError` for a malformed id string.
    fn get(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<Pet> {
        let id = args::id(id)?;
        block_on(py, Arc::clone(&self.handle).get(id)).map(Pet::from)
    }

    /// Lists pets, oldest first (ties by id), one page at a time.
    ///
    /// `species` and `tag` filter; `limit` (1–500) and `offset` (0 or more) choose the page.
    /// The page's `total` counts every matching pet.
    #[pyo3(
        signature = (*, species = None, tag = None, limit = None, offset = None),
        text_signature = "($self, *, species=None, tag=None, limit=50, offset=0)"
    )]
    fn list(
        &self,
        py: Python<'_>,
        species: Option<&str>,
        tag: Option<String>,
        limit: Option<&Bound<'_, PyInt>>,
        offset: Option<&Bound<'_, PyInt>>,
    ) -> PyResult<PageOut<Pet>> {
        let query = args::list(species, tag, limit, offset);
        block_on(py, Arc::clone(&self.handle).list(query)).map(|page| PageOut(page.map(Pet::from)))
    }

    /// Changes the given fields of a pet and returns it; fields left `None` keep their value.
    ///
    /// The rules of `create` apply to each given field. `tags` replaces all tags (`[]` removes
    /// them). Raises `NotFound` when there is no such pet.
    #[pyo3(signature = (id, *, name = None, species = None, age = None, tags = None))]
    fn update(
        &self,
        py: Python<'_>,
        id: &Bound<'_, PyAny>,
        name: Option<String>,
        species: Option<&str>,
        age: Option<&Bound<'_, PyInt>>,
        tags: Option<Vec<String>>,
    ) -> PyResult<Pet> {
        let id = args::id(id)?;
        let patch = args::patch(name, species, age, tags);
        block_on(py, Arc::clone(&self.handle).update(id, patch)).map(Pet::from)
    }

    /// Deletes a pet. Raises `NotFound` when there is no such pet.
    fn delete(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<()> {
        let id = args::id(id)?;
        block_on(py, Arc::clone(&self.handle).delete(id))
    }

    fn __repr__(&self) -> String {
        format!("<trae.Pets backend='{}'>", self.handle.backend())
    }
}
