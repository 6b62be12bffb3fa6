//! An open store shared by the Python objects that use it, and the calls both APIs make.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::prelude::*;
use pyo3::types::PyNone;
use trae_core::{NewPet, PageRequest, Pet, PetFilter, PetPatch, Pets};
use uuid::Uuid;

use crate::errors::{Answer, to_py_err};
use crate::runtime;

/// One open `trae_storage::Store` and whether Python closed it.
pub(crate) struct Handle {
    store: trae_storage::Store,
    pets: Pets,
    closed: AtomicBool,
}

impl Handle {
    /// Opens the database at `url`, creating a SQLite file and applying migrations as needed.
    pub(crate) async fn connect(url: String) -> trae_core::Result<Arc<Self>> {
        let store = trae_storage::Store::connect(&url).await?;
        Ok(Arc::new(Self {
            pets: store.pets(),
            store,
            closed: AtomicBool::new(false),
        }))
    }

    /// The database engine, `"sqlite"` or `"postgres"`.
    pub(crate) fn backend(&self) -> &'static str {
        self.store.backend().as_str()
    }

    /// Whether the store was closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes the connections; later calls fail with `Unavailable`. Closing twice is harmless.
    pub(crate) async fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.store.close().await;
        }
    }

    fn pets(&self) -> trae_core::Result<&Pets> {
        if self.is_closed() {
            return Err(trae_core::Error::Unavailable("the store is closed".into()));
        }
        Ok(&self.pets)
    }

    /// `Pets::create` with input converted from Python.
    pub(crate) async fn create(
        self: Arc<Self>,
        input: trae_core::Result<NewPet>,
    ) -> trae_core::Result<Pet> {
        self.pets()?.create(input?).await
    }

    /// `Pets::get` with an id converted from Python.
    pub(crate) async fn get(
        self: Arc<Self>,
        id: trae_core::Result<Uuid>,
    ) -> trae_core::Result<Pet> {
        self.pets()?.get(id?).await
    }

    /// `Pets::list` with a filter and page converted from Python.
    pub(crate) async fn list(
        self: Arc<Self>,
        query: trae_core::Result<(PetFilter, PageRequest)>,
    ) -> trae_core::Result<trae_core::Page<Pet>> {
        let (filter, page) = query?;
        self.pets()?.list(filter, page).await
    }

    /// `Pets::update` with an id and patch converted from Python.
    pub(crate) async fn update(
        self: Arc<Self>,
        id: trae_core::Result<Uuid>,
        patch: trae_core::Result<PetPatch>,
    ) -> trae_core::Result<Pet> {
        let id = id?;
        self.pets()?.update(id, patch?).await
    }

    /// `Pets::delete` with an id converted from Python.
    pub(crate) async fn delete(
        self: Arc<Self>,
        id: trae_core::Result<Uuid>,
    ) -> trae_core::Result<()> {
        self.pets()?.delete(id?).await
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
