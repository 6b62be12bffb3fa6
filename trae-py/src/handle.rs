//! An open store shared by the Python objects that use it, and the calls both APIs make.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::BoundObject;
use pyo3::prelude::*;
use pyo3::types::PyNone;
use trae_agents::{Orchestrator, Trae};
use trae_auth::{Credential, Identity, Vault};
use trae_core::{
    ApiRegistry, Config, ConfigOverrides, NewPet, PageRequest, Pet, PetFilter, PetPatch, Pets,
    Principal,
};
use trae_storage::backup::DatabaseLock;
use uuid::Uuid;

use crate::errors::{Answer, to_py_err};
use crate::runtime;

/// The services of one open database (built by the composition root, [`Trae`]), whether
/// Python closed it, and the principal its calls act as.
pub(crate) struct Handle {
    opened: Arc<Opened>,
    /// Who the calls through this handle act as: the system for `trae.Store(...)`, a user or
    /// API key for `store.as_user(...)`.
    principal: Principal,
}

/// What every handle over one open store shares.
struct Opened {
    trae: Trae,
    /// The SQLite database's shared "in use" lock, held until close so a restore refuses
    /// while this store is open.
    in_use: Mutex<Option<DatabaseLock>>,
    closed: AtomicBool,
}

impl Handle {
    /// Opens the database `overrides` and the configuration name (the same `TRAE_*`
    /// variables and `trae.toml` as `trae serve`, the overrides winning), creating a SQLite
    /// file and applying migrations as needed, and builds the services over it. Calls act as
    /// the system: the process that opened the database owns it.
    pub(crate) async fn connect(overrides: ConfigOverrides) -> trae_core::Result<Arc<Self>> {
        let config = Config::load_with(&overrides)?;
        let in_use = DatabaseLock::shared(&config.database_url)
            .map_err(|e| trae_core::Error::Unavailable(e.to_string()))?;
        // The registry's and history's writers are spawned on the current runtime: ours.
        let trae = Trae::open(config).await?;
        Ok(Arc::new(Self {
            opened: Arc::new(Opened {
                trae,
                in_use: Mutex::new(in_use),
                closed: AtomicBool::new(false),
            }),
            principal: Principal::System,
        }))
    }

    /// A handle over the same open store whose calls act as the user or API key `token`
    /// stands for, with exactly the permissions the HTTP API would give it.
    pub(crate) async fn as_user(&self, token: &str) -> trae_core::Result<Arc<Self>> {
        let identity = self.identity().await?;
        // A bearer credential is an access token or an API key, as `auth.authenticate` takes.
        let principal = identity.authenticate(Credential::Bearer(token)).await?;
        Ok(Arc::new(Self {
            opened: Arc::clone(&self.opened),
            principal,
        }))
    }

    /// Who calls through this handle act as.
    pub(crate) fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Who one call acts as: the principal it was given, else this handle's. A handle acting
    /// as a user (`store.as_user(...)`) refuses any other principal, so a user's handle cannot
    /// be turned into the system's by passing `Principal.system()`.
    pub(crate) fn acting(
        &self,
        py: Python<'_>,
        given: Option<PyRef<'_, crate::identity::Principal>>,
    ) -> PyResult<Principal> {
        let Some(given) = given else {
            return Ok(self.principal.clone());
        };
        if matches!(self.principal, Principal::System) || given.0 == self.principal {
            return Ok(given.0.clone());
        }
        Err(to_py_err(
            py,
            trae_core::Error::Forbidden(
                "this store acts as a user; a call on it cannot act as another principal".into(),
            ),
        ))
    }

    /// The identity services; `Unavailable` once the store is closed.
    pub(crate) async fn identity(&self) -> trae_core::Result<&Identity> {
        self.open()?;
        Ok(self.opened.trae.identity())
    }

    /// The secrets vault, opened on first use with the master key the configuration read at
    /// `trae.Store(...)` names; a failed open is not remembered. `Unavailable` once closed.
    pub(crate) async fn vault(&self) -> trae_core::Result<&Vault> {
        self.open()?;
        self.opened.trae.vault().await
    }

    /// The external API registry; `Unavailable` once the store is closed. Needs no
    /// credentials, so it works on PostgreSQL without `TRAE_MASTER_KEY`.
    pub(crate) fn apis(&self) -> trae_core::Result<&ApiRegistry> {
        self.open()?;
        Ok(self.opened.trae.apis().registry())
    }

    /// The orchestrator over [`Self::apis`]; it reads credentials from the vault when a call
    /// needs them. `Unavailable` once the store is closed.
    pub(crate) async fn orchestrator(&self) -> trae_core::Result<&Orchestrator> {
        self.open()?;
        Ok(self.opened.trae.apis())
    }

    /// Component health, opened on first use with the configured rules (`TRAE_HEALTH_*`)
    /// and data directory; a failed open is not remembered. `Unavailable` once closed.
    pub(crate) async fn health(&self) -> trae_core::Result<&trae_storage::HealthMonitor> {
        self.open()?;
        self.opened.trae.health().await
    }

    /// The metric series and alert services; `Unavailable` once closed.
    pub(crate) fn monitoring(
        &self,
    ) -> trae_core::Result<(&trae_core::MetricSeries, &trae_core::Alerts)> {
        self.open()?;
        Ok((self.opened.trae.metrics(), self.opened.trae.alerts()))
    }

    /// The content services (channels, personas, evidence, contradictions); `Unavailable`
    /// once closed.
    pub(crate) fn content(&self) -> trae_core::Result<&trae_agents::Content> {
        self.open()?;
        Ok(self.opened.trae.content())
    }

    /// The model gateway: chats with the models of the `llm.chat` endpoints;
    /// `Unavailable` once closed.
    pub(crate) fn models(&self) -> trae_core::Result<&trae_agents::ModelGateway> {
        self.open()?;
        Ok(self.opened.trae.models())
    }

    /// The composition root itself, for the TDD agent: its runs service (`tdd()`), the agent
    /// (`tdd_agent()`) and in-process runs (`run_tdd`) span several services. `Unavailable`
    /// once closed.
    pub(crate) fn trae(&self) -> trae_core::Result<&Trae> {
        self.open()?;
        Ok(&self.opened.trae)
    }

    /// The clock of this database's services, which times budgets' wall-time limits;
    /// `Unavailable` once closed.
    pub(crate) fn clock(&self) -> trae_core::Result<Arc<dyn trae_core::Clock>> {
        self.open()?;
        Ok(self.opened.trae.store().clock())
    }

    /// The event stream of this database; `Unavailable` once closed (or without an event
    /// log).
    pub(crate) fn events(&self) -> trae_core::Result<&trae_core::EventStream> {
        self.open()?;
        self.opened.trae.events()
    }

    /// The backup service of this database; `Unavailable` once closed.
    pub(crate) fn backups(&self) -> trae_core::Result<&trae_storage::Backups> {
        self.open()?;
        Ok(self.opened.trae.backups())
    }

    fn open(&self) -> trae_core::Result<()> {
        if self.is_closed() {
            return Err(trae_core::Error::Unavailable("the store is closed".into()));
        }
        Ok(())
    }

    /// The database engine, `"sqlite"` or `"postgres"`.
    pub(crate) fn backend(&self) -> &'static str {
        self.opened.trae.store().backend().as_str()
    }

    /// Whether the store was closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.opened.closed.load(Ordering::Acquire)
    }

    /// Writes the queued API attempts and releases unspent shared rate-limit allowances, then
    /// closes the connections; later calls fail with `Unavailable`. Closing twice is harmless.
    pub(crate) async fn close(&self) {
        if !self.opened.closed.swap(true, Ordering::AcqRel) {
            self.opened.trae.close().await;
            self.opened
                .in_use
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
        }
    }

    /// The task queue service; `Unavailable` once the store is closed.
    pub(crate) fn tasks(&self) -> trae_core::Result<trae_core::TaskQueue> {
        self.open()?;
        Ok(self.opened.trae.tasks())
    }

    fn pets(&self) -> trae_core::Result<&Pets> {
        self.open()?;
        Ok(self.opened.trae.pets())
    }

    /// `Pets::create` with input converted from Python.
    pub(crate) async fn create(
        self: Arc<Self>,
        input: trae_core::Result<NewPet>,
    ) -> trae_core::Result<Pet> {
        self.pets()?.create(&self.principal, input?).await
    }

    /// `Pets::get` with an id converted from Python.
    pub(crate) async fn get(
        self: Arc<Self>,
        id: trae_core::Result<Uuid>,
    ) -> trae_core::Result<Pet> {
        self.pets()?.get(&self.principal, id?).await
    }

    /// `Pets::list` with a filter and page converted from Python.
    pub(crate) async fn list(
        self: Arc<Self>,
        query: trae_core::Result<(PetFilter, PageRequest)>,
    ) -> trae_core::Result<trae_core::Page<Pet>> {
        let (filter, page) = query?;
        self.pets()?.list(&self.principal, filter, page).await
    }

    /// `Pets::update` with an id and patch converted from Python.
    pub(crate) async fn update(
        self: Arc<Self>,
        id: trae_core::Result<Uuid>,
        patch: trae_core::Result<PetPatch>,
    ) -> trae_core::Result<Pet> {
        let id = id?;
        self.pets()?.update(&self.principal, id, patch?).await
    }

    /// `Pets::delete` with an id converted from Python.
    pub(crate) async fn delete(
        self: Arc<Self>,
        id: trae_core::Result<Uuid>,
    ) -> trae_core::Result<()> {
        self.pets()?.delete(&self.principal, id?).await
    }
}

/// The value of a call that returns nothing: becomes `None` (a bare `()` would become `()`).
pub(crate) struct Nothing;

impl<'py> IntoPyObject<'py> for Nothing {
    type Target = PyNone;
    type Output = Borrowed<'py, 'py, PyNone>;
    type Error = Infallible;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        Ok(PyNone::get(py))
    }
}

/// Runs `work` on the shared runtime with the GIL released, and maps its error.
pub(crate) fn block_on<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    F: Future<Output = trae_core::Result<T>> + Send,
    T: Send,
{
    py.detach(|| runtime().block_on(work))
        .map_err(|err| to_py_err(py, err))
}

/// Runs `work` like [`block_on`] and converts its value into a Python object: the blocking
/// counterpart of [`awaitable`], so one method body can serve both APIs.
pub(crate) fn blocking<'py, T, F>(py: Python<'py>, work: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = trae_core::Result<T>> + Send,
    T: Send + IntoPyObject<'py>,
{
    block_on(py, work)?
        .into_pyobject(py)
        .map(|value| value.into_any().into_bound())
        .map_err(Into::into)
}

/// Starts `work` on the shared runtime and returns an asyncio future of its outcome; the
/// running event loop is never blocked.
pub(crate) fn awaitable<'py, T, F>(py: Python<'py>, work: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = trae_core::Result<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    runtime();
    pyo3_async_runtimes::tokio::future_into_py(py, async move { Ok(Answer(work.await)) })
}
