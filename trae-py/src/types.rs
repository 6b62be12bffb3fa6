//! The values the pets API returns, `Pet`, and the `Page` every list returns.

use std::hash::{Hash, Hasher};

use chrono::{DateTime, Utc};
use pyo3::BoundObject;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use uuid::Uuid;

/// A stored pet. Read-only; equal when every field is equal, hashed by id.
///
/// Attributes: `id` (`uuid.UUID`, a UUIDv7, so ids sort by creation time), `name`, `species`
/// (`"dog"`, `"cat"`, `"bird"`, `"fish"` or `"other"`), `age` (years), `tags` (a new list on
/// each access), `created_at` and `updated_at` (timezone-aware UTC datetimes).
#[pyclass(frozen, eq, hash, module = "trae")]
#[derive(Clone, PartialEq)]
pub(crate) struct Pet(trae_core::Pet);

impl From<trae_core::Pet> for Pet {
    fn from(pet: trae_core::Pet) -> Self {
        Self(pet)
    }
}

impl Hash for Pet {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Equal pets have equal ids, so this agrees with `eq`.
        self.0.id.hash(state);
    }
}

#[pymethods]
impl Pet {
    /// The pet's identifier.
    #[getter]
    fn id(&self) -> Uuid {
        self.0.id
    }

    /// The pet's name, 1–100 characters without surrounding whitespace.
    #[getter]
    fn name(&self) -> &str {
        &self.0.name
    }

    /// The species: "dog", "cat", "bird", "fish" or "other".
    #[getter]
    fn species(&self) -> &'static str {
        self.0.species.as_str()
    }

    /// The age in years, 0–100.
    #[getter]
    fn age(&self) -> i32 {
        self.0.age
    }

    /// The tags, up to 10 distinct strings of 1–32 characters (a new list on each access).
    #[getter]
    fn tags(&self) -> Vec<String> {
        self.0.tags.clone()
    }

    /// When the pet was created (timezone-aware, UTC).
    #[getter]
    fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the pet was last changed (timezone-aware, UTC).
    #[getter]
    fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// The pet as a new dict of its attributes, with the same Python types.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("id", self.0.id)?;
        dict.set_item("name", &self.0.name)?;
        dict.set_item("species", self.0.species.as_str())?;
        dict.set_item("age", self.0.age)?;
        dict.set_item("tags", &self.0.tags)?;
        dict.set_item("created_at", self.0.created_at)?;
        dict.set_item("updated_at", self.0.updated_at)?;
        Ok(dict)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let repr = |text: &str| -> PyResult<String> {
            Ok(PyString::new(py, text).repr()?.to_cow()?.into_owned())
        };
        let tags = PyList::new(py, &self.0.tags)?
            .repr()?
            .to_cow()?
            .into_owned();
        Ok(format!(
            "Pet(id=UUID('{}'), name={}, species={}, age={}, tags={tags})",
            self.0.id,
            repr(&self.0.name)?,
            repr(self.0.species.as_str())?,
            self.0.age,
        ))
    }
}

/// One page of a list: the items on it and how many match in all.
///
/// Iterable, sized and indexable like its `items`.
#[pyclass(frozen, module = "trae")]
pub(crate) struct Page {
    items: Vec<Py<PyAny>>,
    total: u64,
    total_exact: bool,
    limit: u32,
    offset: u64,
}

impl Page {
    fn list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.items.iter().map(|item| item.clone_ref(py)))
    }
}

#[pymethods]
impl Page {
    /// The items on this page, in the list's order; a new list on each access.
    #[getter]
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.list(py)
    }

    /// How many items match the filter in all pages (a lower bound when `total_exact` is
    /// false).
    #[getter]
    fn total(&self) -> u64 {
        self.total
    }

    /// Whether `total` is exact; false when a list stopped counting at its cap (tasks
    /// filtered by tag or owner count at most 10,000 matches).
    #[getter]
    fn total_exact(&self) -> bool {
        self.total_exact
    }

    /// The largest number of items the page could hold, as asked for.
    #[getter]
    fn limit(&self) -> u32 {
        self.limit
    }

    /// How many matching items come before this page.
    #[getter]
    fn offset(&self) -> u64 {
        self.offset
    }

    fn __len__(&self) -> usize {
        self.items.len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.list(py)?.try_iter()?.into_any())
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        index: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.list(py)?.as_any().get_item(index)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let items = self.list(py)?.repr()?.to_cow()?.into_owned();
        Ok(format!(
            "Page(items={items}, total={}, limit={}, offset={})",
            self.total, self.limit, self.offset
        ))
    }
}

/// A page from a service, converted into a `Page` (each item into its Python class) when it
/// reaches Python.
pub(crate) struct PageOut<T>(pub(crate) trae_core::Page<T>);

impl<'py, T> IntoPyObject<'py> for PageOut<T>
where
    T: IntoPyObject<'py>,
{
    type Target = Page;
    type Output = Bound<'py, Page>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        CappedPageOut(self.0, true).into_pyobject(py)
    }
}

/// A [`PageOut`] whose total may be a lower bound: the second field says whether it is exact.
pub(crate) struct CappedPageOut<T>(pub(crate) trae_core::Page<T>, pub(crate) bool);

impl<'py, T> IntoPyObject<'py> for CappedPageOut<T>
where
    T: IntoPyObject<'py>,
{
    type Target = Page;
    type Output = Bound<'py, Page>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let (page, total_exact) = (self.0, self.1);
        let items = page
            .items
            .into_iter()
            .map(|item| {
                item.into_pyobject(py)
                    .map(|value| value.into_any().unbind())
                    .map_err(Into::into)
            })
            .collect::<PyResult<_>>()?;
        Bound::new(
            py,
            Page {
                items,
                total: page.total,
                total_exact,
                limit: page.limit,
                offset: page.offset,
            },
        )
    }
}
