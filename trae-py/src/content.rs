//! The content domain: `store.channels`, `store.personas`, `store.evidence` and
//! `store.contradictions` (blocking `trae.Channels`, `trae.Personas`, `trae.Evidence` and
//! `trae.Contradictions`; asyncio the same names in `trae.aio`).
//!
//! Both sets of classes come from one definition, [`content_services!`], expanded once with
//! [`blocking`] and once with [`awaitable`]. Each method converts its arguments, calls one
//! method of a `trae_core::content` service as the store's principal (the system, or the user of
//! `store.as_user(...)`) and converts the answer; every rule, permissions included,
//! (text bounds, scores, inheritance, search, the verification workflow) lives in trae-core.
//!
//! Records come out as dicts in the JSON shape of the HTTP API through [`Record`], each field
//! typed by its Rust type (`crate::convert`): ids `uuid.UUID`, times timezone-aware UTC
//! `datetime`s, dates `datetime.date`s. Inputs go the other
//! way through [`input`]: `uuid.UUID`, `datetime` and `date` values become their JSON text
//! before serde parses the spec.

use std::str::FromStr;
use std::sync::Arc;

use chrono::SecondsFormat;
use pyo3::prelude::*;
use pyo3::types::{PyDate, PyDateTime, PyDict, PyInt, PyList, PyString, PyTuple};
use serde::de::DeserializeOwned;
use trae_core::content as domain;
use trae_core::content::contradiction::ContradictionType;
use trae_core::{Error, RequestMeta};
use uuid::Uuid;

use crate::args;
use crate::convert::{Analyzed, Record};
use crate::handle::{Handle, Nothing, awaitable, blocking};
use crate::types::PageOut;

/// A Python argument value with `uuid.UUID`, `datetime` and `date` made into their JSON text
/// (lists and tuples item by item); a naive `datetime` is a validation error on `field`.
fn jsonable<'py>(
    field: &str,
    value: &Bound<'py, PyAny>,
) -> PyResult<trae_core::Result<Bound<'py, PyAny>>> {
    let py = value.py();
    if value.is_instance_of::<PyDateTime>() {
        return Ok(args::utc(field, Some(value))?.map(|at| {
            let text = at.map_or_else(String::new, |at| {
                at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
            });
            PyString::new(py, &text).into_any()
        }));
    }
    if value.is_instance_of::<PyDate>() {
        return Ok(Ok(value.call_method0("isoformat")?));
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for (i, item) in value.try_iter()?.enumerate() {
            match jsonable(&format!("{field}[{i}]"), &item?)? {
                Ok(item) => items.push(item),
                Err(e) => return Ok(Err(e)),
            }
        }
        return Ok(Ok(PyList::new(py, items)?.into_any()));
    }
    if !value.is_instance_of::<PyString>()
        && let Ok(id) = value.extract::<Uuid>()
    {
        return Ok(Ok(PyString::new(py, &id.to_string()).into_any()));
    }
    Ok(Ok(value.clone()))
}

/// A dict (a spec, or keyword arguments) with its values made [`jsonable`]; anything else is
/// passed on for `args::json_spec` to refuse.
fn jsonable_dict<'py>(given: &Bound<'py, PyAny>) -> PyResult<trae_core::Result<Bound<'py, PyAny>>> {
    let Ok(dict) = given.cast::<PyDict>() else {
        return Ok(Ok(given.clone()));
    };
    let out = PyDict::new(given.py());
    for (key, value) in dict.iter() {
        let field = key.str()?.to_cow()?.into_owned();
        match jsonable(&field, &value)? {
            Ok(value) => out.set_item(key, value)?,
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(out.into_any()))
}

/// The input `T` (a `New*`, `*Patch` or other spec of `trae_core::content`) from a dict and
/// keyword arguments, as `args::json_spec` reads them, after [`jsonable_dict`].
fn input<T: DeserializeOwned>(
    spec: Option<&Bound<'_, PyAny>>,
    fields: Option<&Bound<'_, PyDict>>,
) -> PyResult<trae_core::Result<T>> {
    let spec = match spec.map(jsonable_dict).transpose()? {
        None => None,
        Some(Ok(spec)) => Some(spec),
        Some(Err(e)) => return Ok(Err(e)),
    };
    let fields = match fields.map(|f| jsonable_dict(f.as_any())).transpose()? {
        None => None,
        Some(Ok(fields)) => Some(fields.cast_into::<PyDict>()?),
        Some(Err(e)) => return Ok(Err(e)),
    };
    args::json_spec(spec.as_ref(), fields.as_ref(), &[])
}

/// `error` with its field renamed to `field` when it is a validation error.
fn on_field(error: Error, field: &str) -> Error {
    match error {
        Error::Validation { message, .. } => Error::validation(field, message),
        other => other,
    }
}

/// An optional filter value of a closed set, parsed by the core type; a bad one is a
/// validation error on `field` naming the choices.
fn choice<T: FromStr<Err = Error>>(
    field: &str,
    value: Option<&str>,
) -> trae_core::Result<Option<T>> {
    value
        .map(|v| v.parse::<T>().map_err(|e| on_field(e, field)))
        .transpose()
}

/// An optional id filter (a `uuid.UUID` or its string); a malformed string is a validation
/// error on `field`.
fn optional_id(
    field: &str,
    value: Option<&Bound<'_, PyAny>>,
) -> PyResult<trae_core::Result<Option<Uuid>>> {
    let Some(value) = value else {
        return Ok(Ok(None));
    };
    Ok(args::id(value)?.map(Some).map_err(|e| on_field(e, field)))
}

/// An optional small integer filter; out of range is a validation error on `field`.
fn optional_score(field: &str, value: Option<&Bound<'_, PyInt>>) -> trae_core::Result<Option<u8>> {
    value.map(|v| args::int(field, v)).transpose()
}

/// The filter of `channels.list`.
fn channel_filter(
    platform: Option<&str>,
    is_active: Option<bool>,
) -> trae_core::Result<domain::ChannelFilter> {
    Ok(domain::ChannelFilter {
        platform: choice("platform", platform)?,
        is_active,
    })
}

/// The filter of `personas.list`.
fn persona_filter(
    channel_id: Option<&Bound<'_, PyAny>>,
    parent_id: Option<&Bound<'_, PyAny>>,
    is_active: Option<bool>,
) -> PyResult<trae_core::Result<domain::PersonaFilter>> {
    let channel_id = optional_id("channel_id", channel_id)?;
    let parent_id = optional_id("parent_id", parent_id)?;
    Ok((|| {
        Ok(domain::PersonaFilter {
            channel_id: channel_id?,
            parent_id: parent_id?,
            is_active,
        })
    })())
}

/// The filter of `evidence.list`.
fn evidence_filter(
    q: Option<String>,
    evidence_type: Option<&str>,
    tag: Option<String>,
    min_credibility: Option<&Bound<'_, PyInt>>,
) -> trae_core::Result<domain::EvidenceFilter> {
    Ok(domain::EvidenceFilter {
        q,
        evidence_type: choice("evidence_type", evidence_type)?,
        tag,
        min_credibility: optional_score("min_credibility", min_credibility)?,
    })
}

/// The arguments of `contradictions.list` that are not the page.
struct ContradictionQuery<'a, 'py> {
    subject_name: Option<String>,
    subject_type: Option<&'a str>,
    topic: Option<String>,
    contradiction_type: Option<&'a str>,
    verification_status: Option<&'a str>,
    min_severity: Option<&'a Bound<'py, PyInt>>,
    content_used: Option<bool>,
    tag: Option<String>,
}

impl ContradictionQuery<'_, '_> {
    /// The filter these arguments describe.
    fn filter(self) -> trae_core::Result<domain::ContradictionFilter> {
        Ok(domain::ContradictionFilter {
            subject_name: self.subject_name,
            subject_type: choice("subject_type", self.subject_type)?,
            topic: self.topic,
            contradiction_type: choice::<ContradictionType>(
                "contradiction_type",
                self.contradiction_type,
            )?,
            verification_status: choice("verification_status", self.verification_status)?,
            min_severity: optional_score("min_severity", self.min_severity)?,
            content_used: self.content_used,
            tag: self.tag,
        })
    }
}

/// Where a call from Python comes from, for the audit log: nowhere in particular.
fn meta() -> RequestMeta {
    RequestMeta::default()
}

/// Defines the four content service classes, each method running its work with `$run`.
macro_rules! content_services {
    (
        run: $run:path,
        module: $module:tt,
        classes: ($Channels:ident, $Personas:ident, $Evidence:ident, $Contradictions:ident),
        doc: $doc:tt $(,)?
    ) => {
        #[doc = concat!(
            "The channels content is published on (`store.channels`)", $doc, "\n\n",
            "Records are dicts in the HTTP API's JSON shape (ids `uuid.UUID`, times ",
            "timezone-aware UTC `datetime`s); calls act as the store's principal."
        )]
        #[pyclass(frozen, name = "Channels", module = $module)]
        pub(crate) struct $Channels {
            pub(crate) handle: Arc<Handle>,
        }

        #[pymethods]
        impl $Channels {
            /// Adds a channel and returns it.
            ///
            /// `spec` is a dict in the JSON shape of the HTTP API (`name` required;
            /// `platform`, `url`, `description`, `target_audience`, `content_strategy`,
            /// `posting_schedule`, `is_active`, `metrics`); keyword arguments add to it or
            /// replace its keys. Unknown keys, wrong types and broken rules raise
            /// `ValidationError`; a taken name `Conflict`.
            #[pyo3(signature = (spec = None, /, **fields))]
            fn create<'py>(
                &self,
                py: Python<'py>,
                spec: Option<&Bound<'py, PyAny>>,
                fields: Option<&Bound<'py, PyDict>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let input = input::<domain::NewChannel>(spec, fields)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let channels = &handle.content()?.channels;
                    channels.create(handle.principal(), input?).await.map(Record)
                })
            }

            /// Channel `id` (a `uuid.UUID` or its string); raises `NotFound` when there is
            /// none.
            fn get<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    handle.content()?.channels.get(handle.principal(), id?).await.map(Record)
                })
            }

            /// One `Page` of channels. `platform` and `is_active` filter; `limit` (1–500) and
            /// `offset` choose the page.
            #[pyo3(
                signature = (*, platform = None, is_active = None, limit = None, offset = None),
                text_signature = "($self, *, platform=None, is_active=None, limit=50, offset=0)"
            )]
            fn list<'py>(
                &self,
                py: Python<'py>,
                platform: Option<&str>,
                is_active: Option<bool>,
                limit: Option<&Bound<'py, PyInt>>,
                offset: Option<&Bound<'py, PyInt>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let filter = channel_filter(platform, is_active);
                let page = args::page(limit, offset);
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let channels = &handle.content()?.channels;
                    let page = channels.list(handle.principal(), filter?, page?).await?;
                    Ok(PageOut(page.map(Record)))
                })
            }

            /// Changes the given fields of channel `id` and returns it; the arguments of
            /// `create`, none required, plus `clear` (a list of optional fields to empty).
            /// Raises `NotFound` when there is none.
            #[pyo3(signature = (id, spec = None, /, **fields))]
            fn update<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                spec: Option<&Bound<'py, PyAny>>,
                fields: Option<&Bound<'py, PyDict>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let patch = input::<domain::ChannelPatch>(spec, fields)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let channels = &handle.content()?.channels;
                    channels
                        .update(handle.principal(), id?, patch?)
                        .await
                        .map(Record)
                })
            }

            /// Deletes channel `id` and returns how many personas it was detached from.
            ///
            /// A channel personas use raises `Conflict` unless `detach` is true, which clears
            /// their channel first. Raises `NotFound` when there is none.
            #[pyo3(signature = (id, *, detach = false))]
            fn delete<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                detach: bool,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let channels = &handle.content()?.channels;
                    channels.delete(handle.principal(), id?, detach).await
                })
            }

            fn __repr__(&self) -> String {
                format!("<{}.Channels backend='{}'>", $module, self.handle.backend())
            }
        }

        #[doc = concat!(
            "Author personas, versioned and with variants (`store.personas`)", $doc, "\n\n",
            "Records are dicts in the HTTP API's JSON shape; calls act as the store's principal."
        )]
        #[pyclass(frozen, name = "Personas", module = $module)]
        pub(crate) struct $Personas {
            pub(crate) handle: Arc<Handle>,
        }

        #[pymethods]
        impl $Personas {
            /// Adds a persona (version 1) and returns it.
            ///
            /// `spec` is a dict in the JSON shape of the HTTP API (`name` required;
            /// `is_active`, `parent_id`, `description`, `writing_style`,
            /// `personality_traits`, `expertise_areas`, `tone`, `vocabulary_level`,
            /// `target_audience`, `channel_id`, `content_types`); keyword arguments add to it
            /// or replace its keys. A variant (`parent_id`) inherits every trait it does not
            /// set. Raises `ValidationError` or `Conflict` (a taken name).
            #[pyo3(signature = (spec = None, /, **fields))]
            fn create<'py>(
                &self,
                py: Python<'py>,
                spec: Option<&Bound<'py, PyAny>>,
                fields: Option<&Bound<'py, PyDict>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let input = input::<domain::NewPersona>(spec, fields)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let personas = &handle.content()?.personas;
                    personas.create(handle.principal(), input?).await.map(Record)
                })
            }

            /// Persona `id` with its inherited traits resolved; raises `NotFound` when there
            /// is none.
            fn get<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    handle.content()?.personas.get(handle.principal(), id?).await.map(Record)
                })
            }

            /// One `Page` of personas. `channel_id`, `parent_id` and `is_active` filter;
            /// `limit` (1–500) and `offset` choose the page.
            #[pyo3(
                signature = (*, channel_id = None, parent_id = None, is_active = None,
                             limit = None, offset = None),
                text_signature = "($self, *, channel_id=None, parent_id=None, is_active=None, \
                                  limit=50, offset=0)"
            )]
            fn list<'py>(
                &self,
                py: Python<'py>,
                channel_id: Option<&Bound<'py, PyAny>>,
                parent_id: Option<&Bound<'py, PyAny>>,
                is_active: Option<bool>,
                limit: Option<&Bound<'py, PyInt>>,
                offset: Option<&Bound<'py, PyInt>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let filter = persona_filter(channel_id, parent_id, is_active)?;
                let page = args::page(limit, offset);
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let personas = &handle.content()?.personas;
                    let page = personas.list(handle.principal(), filter?, page?).await?;
                    Ok(PageOut(page.map(Record)))
                })
            }

            /// Changes the given fields of persona `id` and returns it; a real change makes a
            /// new version. The arguments of `create`, none required, plus `clear` (traits or
            /// `parent_id` to empty). Raises `NotFound` when there is none.
            #[pyo3(signature = (id, spec = None, /, **fields))]
            fn update<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                spec: Option<&Bound<'py, PyAny>>,
                fields: Option<&Bound<'py, PyDict>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let patch = input::<domain::PersonaPatch>(spec, fields)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let personas = &handle.content()?.personas;
                    personas
                        .update(handle.principal(), id?, patch?)
                        .await
                        .map(Record)
                })
            }

            /// Deletes persona `id` with its versions. Raises `Conflict` while variants
            /// inherit from it, `NotFound` when there is none.
            fn delete<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let personas = &handle.content()?.personas;
                    personas.delete(handle.principal(), id?).await?;
                    Ok(Nothing)
                })
            }

            /// Every version of persona `id` (a list of dicts), oldest first; raises
            /// `NotFound` when there is none.
            fn versions<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let versions = handle.content()?.personas.versions(handle.principal(), id?).await?;
                    Ok(versions.into_iter().map(Record).collect::<Vec<_>>())
                })
            }

            /// Version `n` of persona `id`; raises `NotFound` when there is none.
            fn version<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                n: &Bound<'py, PyInt>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let n = args::int::<i64>("n", n);
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    handle.content()?.personas.version(handle.principal(), id?, n?).await.map(Record)
                })
            }

            /// The system prompt persona `id` writes with, as `{"persona_id", "name",
            /// "version", "prompt"}`; counts as a use of the persona. Raises `NotFound` when
            /// there is none.
            fn prompt<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    handle.content()?.personas.prompt(handle.principal(), id?).await.map(Record)
                })
            }

            fn __repr__(&self) -> String {
                format!("<{}.Personas backend='{}'>", $module, self.handle.backend())
            }
        }

        #[doc = concat!(
            "The evidence library, full-text searchable (`store.evidence`)", $doc, "\n\n",
            "Records are dicts in the HTTP API's JSON shape; calls act as the store's principal."
        )]
        #[pyclass(frozen, name = "Evidence", module = $module)]
        pub(crate) struct $Evidence {
            pub(crate) handle: Arc<Handle>,
        }

        #[pymethods]
        impl $Evidence {
            /// Adds a piece of evidence and returns it.
            ///
            /// `spec` is a dict in the JSON shape of the HTTP API (`topic` and `content`
            /// required; `source_url`, `source_name`, `evidence_type`, `published_at` (a
            /// timezone-aware `datetime`), `credibility`, `relevance` (0–10), `tags`); keyword
            /// arguments add to it or replace its keys. Raises `ValidationError`.
            #[pyo3(signature = (spec = None, /, **fields))]
            fn create<'py>(
                &self,
                py: Python<'py>,
                spec: Option<&Bound<'py, PyAny>>,
                fields: Option<&Bound<'py, PyDict>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let input = input::<domain::NewEvidence>(spec, fields)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let evidence = &handle.content()?.evidence;
                    evidence.create(handle.principal(), input?).await.map(Record)
                })
            }

            /// Evidence `id`; raises `NotFound` when there is none.
            fn get<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    handle.content()?.evidence.get(handle.principal(), id?).await.map(Record)
                })
            }

            /// One `Page` of evidence. `q` searches the text (words only, best match first;
            /// one without a letter or digit raises `ValidationError`); `evidence_type`,
            /// `tag` and `min_credibility` filter; `limit` (1–500) and `offset` choose the
            /// page.
            #[pyo3(
                signature = (*, q = None, evidence_type = None, tag = None,
                             min_credibility = None, limit = None, offset = None),
                text_signature = "($self, *, q=None, evidence_type=None, tag=None, \
                                  min_credibility=None, limit=50, offset=0)"
            )]
            #[allow(clippy::too_many_arguments)]
            fn list<'py>(
                &self,
                py: Python<'py>,
                q: Option<String>,
                evidence_type: Option<&str>,
                tag: Option<String>,
                min_credibility: Option<&Bound<'py, PyInt>>,
                limit: Option<&Bound<'py, PyInt>>,
                offset: Option<&Bound<'py, PyInt>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let filter = evidence_filter(q, evidence_type, tag, min_credibility);
                let page = args::page(limit, offset);
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let evidence = &handle.content()?.evidence;
                    let page = evidence.list(handle.principal(), filter?, page?).await?;
                    Ok(PageOut(page.map(Record)))
                })
            }

            /// Changes the given fields of evidence `id` and returns it; the arguments of
            /// `create`, none required, plus `clear` (`source_url`, `source_name`,
            /// `published_at`). Raises `NotFound` when there is none.
            #[pyo3(signature = (id, spec = None, /, **fields))]
            fn update<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                spec: Option<&Bound<'py, PyAny>>,
                fields: Option<&Bound<'py, PyDict>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let patch = input::<domain::EvidencePatch>(spec, fields)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let evidence = &handle.content()?.evidence;
                    evidence
                        .update(handle.principal(), id?, patch?)
                        .await
                        .map(Record)
                })
            }

            /// Deletes evidence `id`; raises `NotFound` when there is none.
            fn delete<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let evidence = &handle.content()?.evidence;
                    evidence.delete(handle.principal(), id?).await?;
                    Ok(Nothing)
                })
            }

            fn __repr__(&self) -> String {
                format!("<{}.Evidence backend='{}'>", $module, self.handle.backend())
            }
        }

        #[doc = concat!(
            "The contradiction tracker (`store.contradictions`)", $doc, "\n\n",
            "Records are dicts in the HTTP API's JSON shape (`date_1`/`date_2` are ",
            "`datetime.date`s); calls act as the store's principal, and reviews are audited."
        )]
        #[pyclass(frozen, name = "Contradictions", module = $module)]
        pub(crate) struct $Contradictions {
            pub(crate) handle: Arc<Handle>,
        }

        #[pymethods]
        impl $Contradictions {
            /// Records a contradiction (status "pending") and returns it.
            ///
            /// `spec` is a dict in the JSON shape of the HTTP API (`subject_name`, `topic`,
            /// `statement_1` and `statement_2` required; `subject_type`, `context_1`,
            /// `context_2`, `date_1`, `date_2` (a `datetime.date` or "YYYY-MM-DD"),
            /// `evidence_1`, `evidence_2` (evidence ids), `contradiction_type`, `severity`,
            /// `confidence`, `public_impact`, `tags`); keyword arguments add to it or replace
            /// its keys. Raises `ValidationError`.
            #[pyo3(signature = (spec = None, /, **fields))]
            fn create<'py>(
                &self,
                py: Python<'py>,
                spec: Option<&Bound<'py, PyAny>>,
                fields: Option<&Bound<'py, PyDict>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let input = input::<domain::NewContradiction>(spec, fields)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let contradictions = &handle.content()?.contradictions;
                    contradictions
                        .create(handle.principal(), input?)
                        .await
                        .map(Record)
                })
            }

            /// Contradiction `id`; raises `NotFound` when there is none.
            fn get<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    handle.content()?.contradictions.get(handle.principal(), id?).await.map(Record)
                })
            }

            /// One `Page` of contradictions. Every argument but `limit` (1–500) and `offset`
            /// filters; bad choices raise `ValidationError` naming the valid ones.
            #[pyo3(
                signature = (*, subject_name = None, subject_type = None, topic = None,
                             contradiction_type = None, verification_status = None,
                             min_severity = None, content_used = None, tag = None,
                             limit = None, offset = None),
                text_signature = "($self, *, subject_name=None, subject_type=None, \
                                  topic=None, contradiction_type=None, \
                                  verification_status=None, min_severity=None, \
                                  content_used=None, tag=None, limit=50, offset=0)"
            )]
            #[allow(clippy::too_many_arguments)]
            fn list<'py>(
                &self,
                py: Python<'py>,
                subject_name: Option<String>,
                subject_type: Option<&str>,
                topic: Option<String>,
                contradiction_type: Option<&str>,
                verification_status: Option<&str>,
                min_severity: Option<&Bound<'py, PyInt>>,
                content_used: Option<bool>,
                tag: Option<String>,
                limit: Option<&Bound<'py, PyInt>>,
                offset: Option<&Bound<'py, PyInt>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let filter = ContradictionQuery {
                    subject_name,
                    subject_type,
                    topic,
                    contradiction_type,
                    verification_status,
                    min_severity,
                    content_used,
                    tag,
                }
                .filter();
                let page = args::page(limit, offset);
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let contradictions = &handle.content()?.contradictions;
                    let page = contradictions.list(handle.principal(), filter?, page?).await?;
                    Ok(PageOut(page.map(Record)))
                })
            }

            /// Changes the given fields of contradiction `id` and returns it; the arguments
            /// of `create`, none required, plus `content_used` and `clear` (`context_1`,
            /// `context_2`, `date_1`, `date_2`). Restating a reviewed record sends it back to
            /// "pending". Raises `NotFound` when there is none.
            #[pyo3(signature = (id, spec = None, /, **fields))]
            fn update<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                spec: Option<&Bound<'py, PyAny>>,
                fields: Option<&Bound<'py, PyDict>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let patch = input::<domain::ContradictionPatch>(spec, fields)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let contradictions = &handle.content()?.contradictions;
                    contradictions
                        .update(handle.principal(), id?, patch?, &meta())
                        .await
                        .map(Record)
                })
            }

            /// Deletes contradiction `id`; raises `NotFound` when there is none.
            fn delete<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let contradictions = &handle.content()?.contradictions;
                    contradictions.delete(handle.principal(), id?).await?;
                    Ok(Nothing)
                })
            }

            /// Moves contradiction `id` to `status` ("pending", "verified", "disputed" or
            /// "debunked") with a `note`, audited, and returns it. A blank note raises
            /// `ValidationError`; the status it already has `Conflict`.
            fn verify<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                status: &str,
                note: String,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let status = status.parse::<domain::VerificationStatus>();
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let decision = domain::Verification {
                        status: status?,
                        note,
                    };
                    let contradictions = &handle.content()?.contradictions;
                    contradictions
                        .verify(handle.principal(), id?, decision, &meta())
                        .await
                        .map(Record)
                })
            }

            /// One `Page` of content opportunities, best first: the verified records not yet
            /// used for content, as dicts `{"score", "contradiction"}`, the score being
            /// severity × confidence × public impact.
            #[pyo3(
                signature = (*, limit = None, offset = None),
                text_signature = "($self, *, limit=50, offset=0)"
            )]
            fn opportunities<'py>(
                &self,
                py: Python<'py>,
                limit: Option<&Bound<'py, PyInt>>,
                offset: Option<&Bound<'py, PyInt>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let page = args::page(limit, offset);
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let contradictions = &handle.content()?.contradictions;
                    let page = contradictions.opportunities(handle.principal(), page?).await?;
                    Ok(PageOut(page.map(Record)))
                })
            }

            /// Runs the contradiction engine over the record's two statements, stores its
            /// verdict and returns `{"contradiction", "analysis"}`. Raises `NotFound` when
            /// there is none.
            fn analyze<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let contradictions = &handle.content()?.contradictions;
                    let (contradiction, analysis) =
                        contradictions.analyze(handle.principal(), id?).await?;
                    Ok(Record(Analyzed {
                        contradiction,
                        analysis,
                    }))
                })
            }

            fn __repr__(&self) -> String {
                format!(
                    "<{}.Contradictions backend='{}'>",
                    $module,
                    self.handle.backend()
                )
            }
        }
    };
}

content_services! {
    run: blocking,
    module: "trae",
    classes: (Channels, Personas, Evidence, Contradictions),
    doc: ".",
}

content_services! {
    run: awaitable,
    module: "trae.aio",
    classes: (AsyncChannels, AsyncPersonas, AsyncEvidence, AsyncContradictions),
    doc: "; the methods of the blocking class, each returning an awaitable.",
}

/// The content service objects of one store, made once when it opens.
pub(crate) struct Objects<C, P, E, K> {
    /// `store.channels`.
    pub(crate) channels: Py<C>,
    /// `store.personas`.
    pub(crate) personas: Py<P>,
    /// `store.evidence`.
    pub(crate) evidence: Py<E>,
    /// `store.contradictions`.
    pub(crate) contradictions: Py<K>,
}

/// The blocking content services of a `trae.Store`.
pub(crate) type SyncObjects = Objects<Channels, Personas, Evidence, Contradictions>;

/// The asyncio content services of a `trae.aio.Store`.
pub(crate) type AsyncObjects =
    Objects<AsyncChannels, AsyncPersonas, AsyncEvidence, AsyncContradictions>;

impl SyncObjects {
    /// The blocking services over `handle`.
    pub(crate) fn new(py: Python<'_>, handle: &Arc<Handle>) -> PyResult<Self> {
        let h = || Arc::clone(handle);
        Ok(Self {
            channels: Py::new(py, Channels { handle: h() })?,
            personas: Py::new(py, Personas { handle: h() })?,
            evidence: Py::new(py, Evidence { handle: h() })?,
            contradictions: Py::new(py, Contradictions { handle: h() })?,
        })
    }
}

impl AsyncObjects {
    /// The asyncio services over `handle`.
    pub(crate) fn new(py: Python<'_>, handle: &Arc<Handle>) -> PyResult<Self> {
        let h = || Arc::clone(handle);
        Ok(Self {
            channels: Py::new(py, AsyncChannels { handle: h() })?,
            personas: Py::new(py, AsyncPersonas { handle: h() })?,
            evidence: Py::new(py, AsyncEvidence { handle: h() })?,
            contradictions: Py::new(py, AsyncContradictions { handle: h() })?,
        })
    }
}
