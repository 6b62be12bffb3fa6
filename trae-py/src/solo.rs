//! The SOLO agent's genesis interviews (`store.solo`, blocking `trae.Solo`, asyncio
//! `trae.aio.Solo`): start one from a project idea and type, answer the waiting question,
//! revise an earlier answer, read interviews (`trae.SoloInterview`, `trae.SoloTurn`) and
//! their spec versions (`trae.SoloSpec`).
//!
//! Both service classes come from one definition ([`solo_service!`]), expanded once with
//! [`blocking`] and once with [`awaitable`]. Everything else (who may see which interview,
//! the checks on ideas and answers, who asks the next question, when the spec is written) is
//! `trae_agents::Interviews`', under the store's principal; attribute names and strings are
//! those of the HTTP API's bodies (`/api/solo/interviews`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyString};
use trae_agents::{AgentError, NewInterview};
use trae_core::{Interview, ProjectType, SpecVersion, Turn};
use uuid::Uuid;

use crate::args;
use crate::convert::json_to_py;
use crate::errors::AgentAnswer;
use crate::handle::{Handle, awaitable, blocking};
use crate::types::PageOut;

/// `repr()` of a Python string.
fn quoted(py: Python<'_>, text: &str) -> PyResult<String> {
    Ok(PyString::new(py, text).repr()?.to_cow()?.into_owned())
}

/// `repr()` of an optional Python string.
fn quoted_opt(py: Python<'_>, text: Option<&str>) -> PyResult<String> {
    text.map_or_else(|| Ok("None".to_owned()), |text| quoted(py, text))
}

/// One question of an interview and its answer. Read-only.
///
/// Attributes: `index` (its place, from 0), `question`, `key` (the template question's key:
/// "shape", "users", "goals", "features", "constraints" or "out_of_scope"; `None` for a
/// model's own question), `source` ("template" or "model"), `fallback` (why the model did not
/// ask it, when a template stood in), `answer` (`None` while it waits), `asked_at` and
/// `answered_at` (timezone-aware UTC).
#[pyclass(frozen, module = "trae")]
pub(crate) struct SoloTurn(Turn);

#[pymethods]
impl SoloTurn {
    /// Its place, from 0.
    #[getter]
    fn index(&self) -> u32 {
        self.0.index
    }

    /// The question.
    #[getter]
    fn question(&self) -> &str {
        &self.0.question
    }

    /// The template question's key, when a template asked it.
    #[getter]
    fn key(&self) -> Option<&str> {
        self.0.key.as_deref()
    }

    /// Who asked: "template" or "model".
    #[getter]
    fn source(&self) -> &'static str {
        self.0.source.as_str()
    }

    /// Why the model did not ask it, when a template stood in for the model.
    #[getter]
    fn fallback(&self) -> Option<&str> {
        self.0.fallback.as_deref()
    }

    /// The answer; `None` while it waits.
    #[getter]
    fn answer(&self) -> Option<&str> {
        self.0.answer.as_deref()
    }

    /// When it was asked (timezone-aware, UTC).
    #[getter]
    fn asked_at(&self) -> DateTime<Utc> {
        self.0.asked_at
    }

    /// When it was (last) answered, or `None`.
    #[getter]
    fn answered_at(&self) -> Option<DateTime<Utc>> {
        self.0.answered_at
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "SoloTurn(index={}, key={}, source={}, question={}, answer={})",
            self.0.index,
            quoted_opt(py, self.0.key.as_deref())?,
            quoted(py, self.0.source.as_str())?,
            quoted(py, &self.0.question)?,
            quoted_opt(py, self.0.answer.as_deref())?,
        ))
    }
}

/// A genesis interview. Read-only.
///
/// Attributes: `id` (`uuid.UUID`), `owner_id` (the user it belongs to; `None` for the
/// system), `project_type` ("web_app", "api", "cli", "library", "data_pipeline" or "other"),
/// `idea`, `status` ("open" while a question waits, "complete" once a spec is written),
/// `turns` (`SoloTurn`s in order), `pending` (the turn waiting for its answer, or `None`),
/// `spec_version` (the latest spec's version; 0 before the first), `created_at` and
/// `updated_at` (timezone-aware UTC).
#[pyclass(frozen, module = "trae")]
pub(crate) struct SoloInterview(Interview);

#[pymethods]
impl SoloInterview {
    /// The interview's identifier.
    #[getter]
    fn id(&self) -> Uuid {
        self.0.id
    }

    /// The user it belongs to; `None` for the system.
    #[getter]
    fn owner_id(&self) -> Option<Uuid> {
        self.0.owner
    }

    /// "web_app", "api", "cli", "library", "data_pipeline" or "other".
    #[getter]
    fn project_type(&self) -> &'static str {
        self.0.project_type.as_str()
    }

    /// The project idea, as given.
    #[getter]
    fn idea(&self) -> &str {
        &self.0.idea
    }

    /// "open" while a question waits for its answer, "complete" once a spec is written.
    #[getter]
    fn status(&self) -> &'static str {
        self.0.status.as_str()
    }

    /// Every turn in order (a new list on each access).
    #[getter]
    fn turns(&self) -> Vec<SoloTurn> {
        self.0.turns.iter().cloned().map(SoloTurn).collect()
    }

    /// The turn waiting for its answer, or `None`.
    #[getter]
    fn pending(&self) -> Option<SoloTurn> {
        self.0.pending().cloned().map(SoloTurn)
    }

    /// The latest spec's version; 0 before the first spec.
    #[getter]
    fn spec_version(&self) -> u32 {
        self.0.spec_version
    }

    /// When it began (timezone-aware, UTC).
    #[getter]
    fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When it last changed (timezone-aware, UTC).
    #[getter]
    fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "SoloInterview(id=UUID('{}'), project_type={}, status={}, turns={}, \
             spec_version={})",
            self.0.id,
            quoted(py, self.0.project_type.as_str())?,
            quoted(py, self.0.status.as_str())?,
            self.0.turns.len(),
            self.0.spec_version,
        ))
    }
}

/// One version of an interview's spec. Read-only.
///
/// Attributes: `interview_id` (`uuid.UUID`), `version` (1 for the first, one more per spec
/// after a revised answer), `project_type`, `spec` (the spec as a new dict: `title`,
/// `summary`, `goals`, `users`, `features` (each `name`, `description`, `acceptance`),
/// `constraints`, `out_of_scope`), `markdown`, `source` ("model", or "template" when written
/// from the answers alone) and `created_at` (timezone-aware UTC).
#[pyclass(frozen, module = "trae")]
pub(crate) struct SoloSpec(SpecVersion);

#[pymethods]
impl SoloSpec {
    /// The interview it came from.
    #[getter]
    fn interview_id(&self) -> Uuid {
        self.0.interview_id
    }

    /// 1 for the first spec, then one more per new spec.
    #[getter]
    fn version(&self) -> u32 {
        self.0.version
    }

    /// The project type it was written for.
    #[getter]
    fn project_type(&self) -> &'static str {
        self.0.project_type.as_str()
    }

    /// The spec as a new dict, in the shape of its JSON.
    #[getter]
    fn spec<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let spec = serde_json::to_value(&self.0.spec)
            .map_err(|e| PyTypeError::new_err(format!("cannot convert the spec: {e}")))?;
        json_to_py(py, &spec)
    }

    /// The spec as markdown.
    #[getter]
    fn markdown(&self) -> &str {
        &self.0.markdown
    }

    /// Who wrote it: "model", or "template" when written from the answers alone.
    #[getter]
    fn source(&self) -> &'static str {
        self.0.source.as_str()
    }

    /// When it was written (timezone-aware, UTC).
    #[getter]
    fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "SoloSpec(interview_id=UUID('{}'), version={}, source={}, title={})",
            self.0.interview_id,
            self.0.version,
            quoted(py, self.0.source.as_str())?,
            quoted(py, &self.0.spec.title)?,
        ))
    }
}

/// Defines a SOLO interviews service class whose calls run with `$run`.
macro_rules! solo_service {
    (
        run: $run:path,
        module: $module:tt,
        class: $Solo:ident,
        doc: $doc:tt $(,)?
    ) => {
        #[doc = concat!(
            "The SOLO agent's genesis interviews (`store.solo`)", $doc, "\n\n",
            "An interview turns a project idea into a spec: the project type's template ",
            "asks the first question, then after each answer the model (an API-registry ",
            "endpoint of capability `llm.chat`) asks the next or writes the spec; without ",
            "a model, or when its answer is unusable, the template's questions go on and ",
            "the spec is written from their answers. Calls act as the store's principal: ",
            "`agents:run` starts and reads one's own interviews, `agents:admin` everyone's; ",
            "an interview of someone else's is `NotFound`."
        )]
        #[pyclass(frozen, name = "Solo", module = $module)]
        pub(crate) struct $Solo {
            pub(crate) handle: Arc<Handle>,
        }

        #[pymethods]
        impl $Solo {
            /// Starts an interview; the `SoloInterview`, with its first question pending.
            ///
            /// `project_type`: "web_app", "api", "cli", "library", "data_pipeline" or
            /// "other". `idea`: the project idea, up to 2,000 characters. Raises
            /// `ValidationError` (with `field` `project_type` or `idea`) for bad input,
            /// `PermissionDenied` without `agents:run`.
            fn start<'py>(
                &self,
                py: Python<'py>,
                project_type: &str,
                idea: String,
            ) -> PyResult<Bound<'py, PyAny>> {
                let project_type = ProjectType::parse(project_type);
                let handle = Arc::clone(&self.handle);
                $run(py, AgentAnswer::of(async move {
                    let new = NewInterview { project_type: project_type?, idea };
                    let interview =
                        handle.trae()?.interviews().start(handle.principal(), new).await?;
                    Ok::<_, AgentError>(SoloInterview(interview))
                }))
            }

            /// The interview with this id (a `uuid.UUID` or its string form). Raises
            /// `NotFound` for one that does not exist or is not the caller's.
            fn get<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let handle = Arc::clone(&self.handle);
                $run(py, AgentAnswer::of(async move {
                    let interview = handle.trae()?.interviews().get(handle.principal(), id?).await?;
                    Ok::<_, AgentError>(SoloInterview(interview))
                }))
            }

            /// One `Page` of interviews, newest first: the caller's own, or everyone's with
            /// `agents:admin`. `limit` (1–500) and `offset` choose the page.
            #[pyo3(
                signature = (*, limit = None, offset = None),
                text_signature = "($self, *, limit=50, offset=0)"
            )]
            fn list<'py>(
                &self,
                py: Python<'py>,
                limit: Option<&Bound<'py, PyInt>>,
                offset: Option<&Bound<'py, PyInt>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let page = args::page(limit, offset);
                let handle = Arc::clone(&self.handle);
                $run(py, AgentAnswer::of(async move {
                    let interviews =
                        handle.trae()?.interviews().list(handle.principal(), page?).await?;
                    Ok::<_, AgentError>(PageOut(interviews.map(SoloInterview)))
                }))
            }

            /// Answers the waiting question and returns the interview: with the next
            /// question pending, or complete with its spec written. Raises
            /// `ValidationError` (`field` `answer`) for a blank or too long answer,
            /// `Conflict` when no question waits.
            fn answer<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                answer: String,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let handle = Arc::clone(&self.handle);
                $run(py, AgentAnswer::of(async move {
                    let interview = handle
                        .trae()?
                        .interviews()
                        .answer(handle.principal(), id?, &answer)
                        .await?;
                    Ok::<_, AgentError>(SoloInterview(interview))
                }))
            }

            /// Revises the answer of turn `index` and returns the interview: the turns
            /// after it are dropped and the interview goes on from there; a spec written
            /// before stays readable as an earlier version. Raises `ValidationError`
            /// (`field` `index`) for a turn without an answer.
            fn revise<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                index: &Bound<'py, PyInt>,
                answer: String,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let index = args::int::<u32>("index", index);
                let handle = Arc::clone(&self.handle);
                $run(py, AgentAnswer::of(async move {
                    let interview = handle
                        .trae()?
                        .interviews()
                        .revise(handle.principal(), id?, index?, &answer)
                        .await?;
                    Ok::<_, AgentError>(SoloInterview(interview))
                }))
            }

            /// A version of the interview's spec as a `SoloSpec`: the latest when
            /// `version` is `None`. Raises `NotFound` before the first spec or for a
            /// version that does not exist.
            #[pyo3(signature = (id, version = None))]
            fn spec<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                version: Option<&Bound<'py, PyInt>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let id = args::id(id)?;
                let version = version.map(|v| args::int::<u32>("version", v)).transpose();
                let handle = Arc::clone(&self.handle);
                $run(py, AgentAnswer::of(async move {
                    let spec = handle
                        .trae()?
                        .interviews()
                        .spec(handle.principal(), id?, version?)
                        .await?;
                    Ok::<_, AgentError>(SoloSpec(spec))
                }))
            }

            fn __repr__(&self) -> String {
                format!("<{}.Solo backend='{}'>", $module, self.handle.backend())
            }
        }
    };
}

solo_service! {
    run: blocking,
    module: "trae",
    class: Solo,
    doc: ".",
}

solo_service! {
    run: awaitable,
    module: "trae.aio",
    class: AsyncSolo,
    doc: "; the methods of `trae.Solo` returning awaitables.",
}
