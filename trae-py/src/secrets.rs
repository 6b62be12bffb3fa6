//! The secrets vault: `store.secrets` (blocking `trae.Secrets`, asyncio `trae.aio.Secrets`) and
//! the values it returns, `Secret` and `SecretVersion`.
//!
//! Both service classes come from one definition, [`secrets_service!`], expanded once with
//! [`blocking`] and once with [`awaitable`]. Each method converts its arguments, calls one
//! `trae_auth::Vault` method and wraps the answer; every rule (names, value sizes, tags, who
//! may reveal) and the audit trail live in trae-auth.
//!
//! The vault is opened on the first use of `store.secrets`, not with the store, so a store
//! that never touches secrets needs no master key (the composition root,
//! `trae_agents::Trae::vault`, says where the key comes from). Values cross into Python only as the `str` or `bytes` that `get` and `get_bytes`
//! return: no object trae returns holds one, so no `repr` can show one.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyInt, PyList, PyString};
use trae_auth::{RequestMeta, SecretValue, SetSecret};
use trae_core::{Error, SecretFilter};

use crate::args;
use crate::handle::{Handle, awaitable, blocking};
use crate::identity::Principal;
use crate::types::PageOut;

/// Where a call from Python comes from, for the audit log: nowhere in particular.
fn meta() -> RequestMeta {
    RequestMeta::default()
}

/// A value from Python: `str` (stored as UTF-8) or `bytes`.
fn value_arg(value: &Bound<'_, PyAny>) -> PyResult<SecretValue> {
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(SecretValue::new(text.to_cow()?.as_bytes()));
    }
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok(SecretValue::new(bytes.as_bytes()));
    }
    Err(PyTypeError::new_err(format!(
        "value must be a str or bytes, not {}",
        value.get_type().name()?
    )))
}

/// A revealed value on its way to Python: becomes a `str` (or `bytes`), and the Rust copy is
/// zeroed when dropped.
struct Revealed {
    value: SecretValue,
    as_bytes: bool,
}

impl<'py> IntoPyObject<'py> for Revealed {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        if self.as_bytes {
            return Ok(PyBytes::new(py, self.value.expose()).into_any());
        }
        // Checked before the call returned, so this cannot fail.
        let text = self
            .value
            .expose_str()
            .map_err(|e| PyTypeError::new_err(e.to_string()))?;
        Ok(PyString::new(py, text).into_any())
    }
}

/// A secret's metadata, never its value. Read-only; equal when every field is equal.
///
/// Attributes: `name`, `version` (the latest, from 1), `description` (or `None`), `tags`
/// (sorted, a new list on each access), `created_by` (`"user:<id>"`, `"api_key:<id>"` or
/// `"system"`), `created_at` (the first version) and `updated_at` (the latest version),
/// timezone-aware UTC datetimes.
#[pyclass(frozen, eq, hash, module = "trae")]
#[derive(Clone, PartialEq)]
pub(crate) struct Secret(trae_core::Secret);

impl Hash for Secret {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Equal secrets have equal names and versions, so this agrees with `eq`.
        self.0.name.hash(state);
        self.0.version.hash(state);
    }
}

fn quoted(py: Python<'_>, text: &str) -> PyResult<String> {
    Ok(PyString::new(py, text).repr()?.to_cow()?.into_owned())
}

#[pymethods]
impl Secret {
    /// The unique name.
    #[getter]
    fn name(&self) -> &str {
        &self.0.name
    }

    /// The latest version, from 1.
    #[getter]
    fn version(&self) -> u32 {
        self.0.version
    }

    /// What it is for, or `None`.
    #[getter]
    fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// The tags, sorted (a new list on each access).
    #[getter]
    fn tags(&self) -> Vec<String> {
        self.0.tags.clone()
    }

    /// Who set the first version.
    #[getter]
    fn created_by(&self) -> &str {
        &self.0.created_by
    }

    /// When the first version was set (timezone-aware, UTC).
    #[getter]
    fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the latest version was set (timezone-aware, UTC).
    #[getter]
    fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// The secret's metadata as a new dict, with the same Python types.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = &self.0;
        let dict = PyDict::new(py);
        dict.set_item("name", &s.name)?;
        dict.set_item("version", s.version)?;
        dict.set_item("description", &s.description)?;
        dict.set_item("tags", &s.tags)?;
        dict.set_item("created_by", &s.created_by)?;
        dict.set_item("created_at", s.created_at)?;
        dict.set_item("updated_at", s.updated_at)?;
        Ok(dict)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let tags = PyList::new(py, &self.0.tags)?
            .repr()?
            .to_cow()?
            .into_owned();
        Ok(format!(
            "Secret(name={}, version={}, tags={tags})",
            quoted(py, &self.0.name)?,
            self.0.version,
        ))
    }
}

/// One stored version of a secret, never its value. Read-only.
///
/// Attributes: `name`, `version`, `created_by` and `created_at` (timezone-aware UTC).
#[pyclass(frozen, eq, hash, module = "trae")]
#[derive(Clone, PartialEq)]
pub(crate) struct SecretVersion(trae_core::SecretVersion);

impl Hash for SecretVersion {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.name.hash(state);
        self.0.version.hash(state);
    }
}

#[pymethods]
impl SecretVersion {
    /// The secret's name.
    #[getter]
    fn name(&self) -> &str {
        &self.0.name
    }

    /// The version number.
    #[getter]
    fn version(&self) -> u32 {
        self.0.version
    }

    /// Who set it.
    #[getter]
    fn created_by(&self) -> &str {
        &self.0.created_by
    }

    /// When it was set (timezone-aware, UTC).
    #[getter]
    fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "SecretVersion(name={}, version={}, created_by={})",
            quoted(py, &self.0.name)?,
            self.0.version,
            quoted(py, &self.0.created_by)?,
        ))
    }
}

/// A version number from Python, or a validation error.
fn version_arg(version: Option<&Bound<'_, PyInt>>) -> trae_core::Result<Option<u32>> {
    version.map(|v| args::int::<u32>("version", v)).transpose()
}

/// Defines a secrets service class, each method running its work with `$run`.
macro_rules! secrets_service {
    (
        run: $run:path,
        module: $module:tt,
        class: $Secrets:ident,
        doc: $doc:tt $(,)?
    ) => {
        #[doc = concat!(
            "The secrets vault of a store (`store.secrets`)", $doc, "\n\n",
            "Calls act as the store's principal unless given a `principal`, which then needs ",
            "`secrets:read` to list and describe, `secrets:write` to set, delete and prune, ",
            "and `secrets:reveal` to read a value. Set, reveal, delete and prune are audited ",
            "(names and versions, never values). The vault opens on first use: on PostgreSQL ",
            "that needs `TRAE_MASTER_KEY`, else `ConfigError`."
        )]
        #[pyclass(frozen, name = "Secrets", module = $module)]
        pub(crate) struct $Secrets {
            pub(crate) handle: Arc<Handle>,
        }

        #[pymethods]
        impl $Secrets {
            /// Sets a secret's value as a new version (1 for a new secret) and returns its
            /// `Secret` metadata.
            ///
            /// `name`: 1–128 characters of A-Z, a-z, 0-9, `_`, `.`, `-`, not starting with a
            /// dot. `value`: a `str` (stored as UTF-8) or `bytes`, 1 byte to 64 KiB.
            /// `description` (`""` clears it) and `tags` (each 1–64 characters of A-Z, a-z,
            /// 0-9, `_`, `.`, `:`, `-`; at most 32) replace the current ones when given.
            #[pyo3(signature = (name, value, *, description = None, tags = None,
                                principal = None))]
            fn set<'py>(
                &self,
                py: Python<'py>,
                name: String,
                value: &Bound<'py, PyAny>,
                description: Option<String>,
                tags: Option<Vec<String>>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let input = SetSecret {
                    value: value_arg(value)?,
                    description,
                    tags,
                };
                let principal = self.handle.acting(py, principal)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let vault = handle.vault().await?;
                    vault.set(&principal, &name, input, &meta()).await.map(Secret)
                })
            }

            /// The value of a secret as a `str`: the latest version, or `version`.
            ///
            /// Raises `NotFound` for an unknown secret or version, and `ValidationError`
            /// when the value is not UTF-8 text (read it with `get_bytes`).
            #[pyo3(signature = (name, version = None, *, principal = None))]
            fn get<'py>(
                &self,
                py: Python<'py>,
                name: String,
                version: Option<&Bound<'py, PyInt>>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let version = version_arg(version);
                let principal = self.handle.acting(py, principal)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let vault = handle.vault().await?;
                    let revealed = vault.get(&principal, &name, version?, &meta()).await?;
                    revealed.value.expose_str().map_err(|_| {
                        Error::validation(
                            "value",
                            format!(
                                "secret {name} version {} is not UTF-8 text; read it with \
                                 get_bytes()",
                                revealed.version
                            ),
                        )
                    })?;
                    Ok(Revealed {
                        value: revealed.value,
                        as_bytes: false,
                    })
                })
            }

            /// The value of a secret as `bytes`: the latest version, or `version`.
            #[pyo3(signature = (name, version = None, *, principal = None))]
            fn get_bytes<'py>(
                &self,
                py: Python<'py>,
                name: String,
                version: Option<&Bound<'py, PyInt>>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let version = version_arg(version);
                let principal = self.handle.acting(py, principal)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let vault = handle.vault().await?;
                    let revealed = vault.get(&principal, &name, version?, &meta()).await?;
                    Ok(Revealed {
                        value: revealed.value,
                        as_bytes: true,
                    })
                })
            }

            /// A secret's `Secret` metadata (never its value); raises `NotFound` when there
            /// is none.
            #[pyo3(signature = (name, *, principal = None))]
            fn describe<'py>(
                &self,
                py: Python<'py>,
                name: String,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let principal = self.handle.acting(py, principal)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let vault = handle.vault().await?;
                    vault.describe(&principal, &name).await.map(Secret)
                })
            }

            /// One `Page` of `Secret` metadata, by name.
            ///
            /// `prefix` (names starting with it) and `tag` filter; `limit` (1–500) and
            /// `offset` choose the page.
            #[pyo3(
                signature = (prefix = None, *, tag = None, limit = None, offset = None,
                             principal = None),
                text_signature = "($self, prefix=None, *, tag=None, limit=50, offset=0, \
                                  principal=None)"
            )]
            fn list<'py>(
                &self,
                py: Python<'py>,
                prefix: Option<String>,
                tag: Option<String>,
                limit: Option<&Bound<'py, PyInt>>,
                offset: Option<&Bound<'py, PyInt>>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let page = args::page(limit, offset);
                let filter = SecretFilter { prefix, tag };
                let principal = self.handle.acting(py, principal)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let vault = handle.vault().await?;
                    let page = vault.list(&principal, &filter, page?).await?;
                    Ok(PageOut(page.map(Secret)))
                })
            }

            /// The stored versions of a secret, newest first, as `SecretVersion`s; raises
            /// `NotFound` when there is no such secret.
            #[pyo3(signature = (name, *, principal = None))]
            fn versions<'py>(
                &self,
                py: Python<'py>,
                name: String,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let principal = self.handle.acting(py, principal)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let vault = handle.vault().await?;
                    let versions = vault.versions(&principal, &name).await?;
                    Ok(versions.into_iter().map(SecretVersion).collect::<Vec<_>>())
                })
            }

            /// Deletes a secret with every version; returns how many versions went. Raises
            /// `NotFound` when there is no such secret.
            #[pyo3(signature = (name, *, principal = None))]
            fn delete<'py>(
                &self,
                py: Python<'py>,
                name: String,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let principal = self.handle.acting(py, principal)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let vault = handle.vault().await?;
                    vault.delete(&principal, &name, &meta()).await
                })
            }

            /// Removes all but the `keep` (at least 1) newest versions of a secret; returns
            /// how many went.
            #[pyo3(signature = (name, keep = None, *, principal = None),
                   text_signature = "($self, name, keep=1, *, principal=None)")]
            fn prune<'py>(
                &self,
                py: Python<'py>,
                name: String,
                keep: Option<&Bound<'py, PyInt>>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let keep = keep.map(|k| args::int::<u32>("keep", k)).transpose();
                let principal = self.handle.acting(py, principal)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let vault = handle.vault().await?;
                    let keep = keep?.unwrap_or(1);
                    vault.prune(&principal, &name, keep, &meta()).await
                })
            }

            fn __repr__(&self) -> String {
                format!("<{}.Secrets backend='{}'>", $module, self.handle.backend())
            }
        }
    };
}

secrets_service! {
    run: blocking,
    module: "trae",
    class: Secrets,
    doc: ".",
}

secrets_service! {
    run: awaitable,
    module: "trae.aio",
    class: AsyncSecrets,
    doc: "; the methods of `trae.Secrets`, each returning an awaitable.",
}
