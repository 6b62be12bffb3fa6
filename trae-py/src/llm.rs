//! Language models (`store.llm`, blocking `trae.Llm`, asyncio `trae.aio.Llm`): chats through
//! the model gateway, whole (`trae.ChatResponse`) or streamed (`trae.ChatStream`, and
//! `trae.aio.ChatStream` to iterate with `async for`), the model endpoints
//! (`trae.ModelEndpoint`), and the run budgets calls share (`trae.Budget`).
//!
//! Both service classes come from one definition ([`llm_service!`]), expanded once with
//! [`blocking`] and once with [`awaitable`]. A request is built as the OpenAI JSON shape and
//! read by [`openai::request_from_wire`], so a bad argument is the same `ValidationError`
//! (naming the field, e.g. `messages[0].role`) the CLI gives. Everything else (who may call,
//! which endpoint answers, failover, budgets, schema checks and the repair round) is the
//! gateway's, under the store's principal.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use trae_agents::ModelStream;
use trae_agents::llm::openai;
use trae_core::{BudgetLimits, ChatChunk, ChatRequest, ChatStream as _, Error, RunBudget};
use uuid::Uuid;

use crate::args;
use crate::convert::{json_to_py, py_to_json, type_name};
use crate::errors::to_py_err;
use crate::handle::{Handle, awaitable, blocking};
use crate::runtime;
use crate::types::PageOut;

/// How often a blocking read of a stream looks for Ctrl-C.
const SIGNAL_CHECK: Duration = Duration::from_millis(200);

/// How many pieces a stream reads ahead of its Python reader; beyond that the provider's
/// connection waits too, so a reader that stops reading stops the answer.
const READ_AHEAD: usize = 32;

/// `repr()` of a Python string.
fn quoted(py: Python<'_>, text: &str) -> PyResult<String> {
    Ok(PyString::new(py, text).repr()?.to_cow()?.into_owned())
}

/// A Python value as JSON, naming where it is not JSON: lists and dicts are walked `depth`
/// levels deep so an error names `messages[0].content` rather than `messages`.
fn json_at(field: &str, value: &Bound<'_, PyAny>, depth: u8) -> trae_core::Result<Value> {
    if depth > 0 {
        if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
            return value
                .try_iter()
                .map_err(|e| Error::validation(field, e.to_string()))?
                .enumerate()
                .map(|(i, item)| {
                    let item = item.map_err(|e| Error::validation(field, e.to_string()))?;
                    json_at(&format!("{field}[{i}]"), &item, depth - 1)
                })
                .collect::<trae_core::Result<_>>()
                .map(Value::Array);
        }
        if let Ok(dict) = value.cast::<PyDict>()
            && dict.keys().iter().all(|k| k.is_instance_of::<PyString>())
        {
            let mut map = serde_json::Map::with_capacity(dict.len());
            for (key, item) in dict.iter() {
                let key = key.to_string();
                let at = format!("{field}.{key}");
                map.insert(key, json_at(&at, &item, depth - 1)?);
            }
            return Ok(Value::Object(map));
        }
    }
    py_to_json(value).map_err(|why| Error::validation(field, why))
}

/// A chat request from the arguments of `chat` and `stream`, read as the OpenAI JSON shape;
/// a validation error names the argument (and the part of it) that is wrong.
#[allow(clippy::too_many_arguments)]
fn request_arg(
    messages: &Bound<'_, PyAny>,
    model: Option<&Bound<'_, PyAny>>,
    temperature: Option<&Bound<'_, PyAny>>,
    max_tokens: Option<&Bound<'_, PyAny>>,
    stop: Option<&Bound<'_, PyAny>>,
    seed: Option<&Bound<'_, PyAny>>,
    response_format: Option<&Bound<'_, PyAny>>,
    tools: Option<&Bound<'_, PyAny>>,
    persona_id: Option<&Bound<'_, PyAny>>,
) -> trae_core::Result<ChatRequest> {
    let mut wire = serde_json::Map::new();
    let messages = match messages.cast::<PyString>() {
        // A plain string is the whole conversation: one user message.
        Ok(text) => serde_json::json!([{"role": "user", "content": text.to_string()}]),
        Err(_) => json_at("messages", messages, 2)?,
    };
    wire.insert("messages".into(), messages);
    let persona_id = match persona_id.filter(|v| !v.is_none()) {
        None => None,
        Some(id) if id.is_instance_of::<PyString>() => Some(json_at("persona_id", id, 0)?),
        Some(id) => Some(
            id.extract::<Uuid>()
                .map(|id| Value::String(id.to_string()))
                .map_err(|_| {
                    Error::validation(
                        "persona_id",
                        format!("must be a uuid.UUID or a str, not {}", type_name(id)),
                    )
                })?,
        ),
    };
    let fields = [
        ("model", model, 0),
        ("temperature", temperature, 0),
        ("max_tokens", max_tokens, 0),
        ("stop", stop, 1),
        ("seed", seed, 0),
        ("response_format", response_format, 2),
        ("tools", tools, 3),
    ];
    for (name, value, depth) in fields {
        if let Some(value) = value.filter(|v| !v.is_none()) {
            wire.insert(name.into(), json_at(name, value, depth)?);
        }
    }
    if let Some(id) = persona_id {
        wire.insert("persona_id".into(), id);
    }
    openai::request_from_wire(&Value::Object(wire))
}

/// The budget a call runs under: the one given, or an unlimited one on the store's clock.
fn budget_arg(handle: &Handle, budget: Option<&Bound<'_, PyAny>>) -> trae_core::Result<RunBudget> {
    match budget.filter(|b| !b.is_none()) {
        None => handle.clock().map(RunBudget::unlimited),
        Some(given) => given
            .cast::<Budget>()
            .map(|budget| budget.get().0.clone())
            .map_err(|_| {
                Error::validation(
                    "budget",
                    format!(
                        "must be a trae.Budget (from store.llm.budget(...)), not {}",
                        type_name(given)
                    ),
                )
            }),
    }
}

/// A whole number of at least `min` for the budget limit `field`, refusing `bool`.
fn whole<T: TryFrom<u64>>(
    field: &str,
    value: Option<&Bound<'_, PyAny>>,
    min: u64,
) -> trae_core::Result<Option<T>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    value
        .cast::<PyInt>()
        .ok()
        .filter(|_| !value.is_instance_of::<PyBool>())
        .and_then(|n| n.extract::<u64>().ok())
        .filter(|n| *n >= min)
        .and_then(|n| T::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| Error::validation(field, format!("must be a whole number, {min} or more")))
}

/// A finite number of at least 0 for the budget limit `field`, refusing `bool`.
fn amount(field: &str, value: Option<&Bound<'_, PyAny>>) -> trae_core::Result<Option<f64>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    let number = (value.is_instance_of::<PyFloat>()
        || (value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>()))
    .then(|| value.extract::<f64>().ok())
    .flatten()
    .filter(|n| n.is_finite() && *n >= 0.0);
    number
        .map(Some)
        .ok_or_else(|| Error::validation(field, "must be a number, 0 or more"))
}

/// Budget limits from `store.llm.budget(...)`'s arguments.
fn limits_arg(
    tokens: Option<&Bound<'_, PyAny>>,
    cost: Option<&Bound<'_, PyAny>>,
    wall_time: Option<&Bound<'_, PyAny>>,
    call_tokens: Option<&Bound<'_, PyAny>>,
) -> trae_core::Result<BudgetLimits> {
    Ok(BudgetLimits {
        tokens: whole("tokens", tokens, 0)?,
        cost: amount("cost", cost)?,
        wall_time: amount("wall_time", wall_time)?
            .map(|secs| {
                Duration::try_from_secs_f64(secs)
                    .map_err(|_| Error::validation("wall_time", "is too long"))
            })
            .transpose()?,
        call_tokens: whole("call_tokens", call_tokens, 1)?,
    })
}

/// The limits a run is given as `budget`: a `trae.Budget`'s, a dict of them (the keys of
/// `Budget.limits`, checked as `store.llm.budget(...)` checks its arguments), or none for
/// `None`. An error names `budget` or the limit under it (`budget.tokens`).
pub(crate) fn limits_of(budget: Option<&Bound<'_, PyAny>>) -> trae_core::Result<BudgetLimits> {
    let Some(given) = budget.filter(|b| !b.is_none()) else {
        return Ok(BudgetLimits::default());
    };
    if let Ok(budget) = given.cast::<Budget>() {
        return Ok(budget.get().0.limits());
    }
    let Ok(dict) = given.cast::<PyDict>() else {
        return Err(Error::validation(
            "budget",
            format!(
                "must be a trae.Budget or a dict of limits (tokens, cost, wall_time, \
                 call_tokens), not {}",
                type_name(given)
            ),
        ));
    };
    const NAMES: [&str; 4] = ["tokens", "cost", "wall_time", "call_tokens"];
    for key in dict.keys() {
        if !NAMES.iter().any(|name| key.eq(*name).unwrap_or(false)) {
            return Err(Error::validation(
                format!("budget.{key}"),
                "is not a limit (tokens, cost, wall_time, call_tokens)",
            ));
        }
    }
    let item = |name: &str| dict.get_item(name).ok().flatten();
    let (tokens, cost, wall_time, call_tokens) = (
        item("tokens"),
        item("cost"),
        item("wall_time"),
        item("call_tokens"),
    );
    limits_arg(
        tokens.as_ref(),
        cost.as_ref(),
        wall_time.as_ref(),
        call_tokens.as_ref(),
    )
    .map_err(|error| match error {
        Error::Validation { field, message } => Error::Validation {
            field: format!("budget.{field}"),
            message,
        },
        other => other,
    })
}

/// What a run may spend on model calls: tokens, dollars and wall time, shared by every call
/// given it (`store.llm.budget(...)`). A call it cannot pay raises `BudgetExceeded` before
/// anything is sent; one it admits is capped to what is left.
#[pyclass(frozen, module = "trae")]
pub(crate) struct Budget(RunBudget);

#[pymethods]
impl Budget {
    /// What settled calls spent: `{"tokens", "cost", "calls"}` (cost in dollars).
    #[getter]
    fn spent<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let spent = self.0.spent();
        let dict = PyDict::new(py);
        dict.set_item("tokens", spent.tokens)?;
        dict.set_item("cost", spent.cost)?;
        dict.set_item("calls", spent.calls)?;
        Ok(dict)
    }

    /// The limits: `{"tokens", "cost", "wall_time", "call_tokens"}` (`wall_time` in
    /// seconds), `None` where there is none.
    #[getter]
    fn limits<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let limits = self.0.limits();
        let dict = PyDict::new(py);
        dict.set_item("tokens", limits.tokens)?;
        dict.set_item("cost", limits.cost)?;
        dict.set_item("wall_time", limits.wall_time.map(|t| t.as_secs_f64()))?;
        dict.set_item("call_tokens", limits.call_tokens)?;
        Ok(dict)
    }

    /// Seconds left of the wall time, or `None` without a wall-time limit.
    #[getter]
    fn time_left(&self) -> Option<f64> {
        self.0.time_left().map(|t| t.as_secs_f64())
    }

    fn __repr__(&self) -> String {
        let limits = self.0.limits();
        let spent = self.0.spent();
        let or_none = |v: Option<String>| v.unwrap_or_else(|| "None".to_owned());
        format!(
            "Budget(tokens={}, cost={}, wall_time={}, call_tokens={}, spent={{'tokens': {}, \
             'cost': {:?}, 'calls': {}}})",
            or_none(limits.tokens.map(|t| t.to_string())),
            or_none(limits.cost.map(|c| format!("{c:?}"))),
            or_none(limits.wall_time.map(|t| format!("{:?}", t.as_secs_f64()))),
            or_none(limits.call_tokens.map(|t| t.to_string())),
            spent.tokens,
            spent.cost,
            spent.calls,
        )
    }
}

/// A model's whole answer. Read-only.
///
/// Attributes: `content` (or `None`), `tool_calls` (dicts `{"id", "name", "arguments"}`,
/// the arguments JSON text as the model wrote it), `finish_reason` ("stop", "length",
/// "tool_calls", "content_filter" or "unknown"), `usage` (`{"prompt_tokens",
/// "completion_tokens", "total_tokens"}`), `usage_reported` (else estimated), `cost` (dollars),
/// `endpoint`, `model`, `latency` (seconds), `tools_ignored`, `json` (the checked answer of a
/// JSON-schema request) and `repairs` (0 or 1).
#[pyclass(frozen, module = "trae")]
pub(crate) struct ChatResponse(trae_core::ChatResponse);

#[pymethods]
impl ChatResponse {
    /// The text, or `None` when the model wrote none (e.g. it only called tools).
    #[getter]
    fn content(&self) -> Option<&str> {
        self.0.content.as_deref()
    }

    /// The tools called: dicts `{"id", "name", "arguments"}` (a new list on each access).
    #[getter]
    fn tool_calls<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let calls = PyList::empty(py);
        for call in &self.0.tool_calls {
            let dict = PyDict::new(py);
            dict.set_item("id", &call.id)?;
            dict.set_item("name", &call.name)?;
            dict.set_item("arguments", &call.arguments)?;
            calls.append(dict)?;
        }
        Ok(calls)
    }

    /// Why it ended: "stop", "length", "tool_calls", "content_filter" or "unknown".
    #[getter]
    fn finish_reason(&self) -> &'static str {
        openai::finish_reason_wire(&self.0.finish_reason)
    }

    /// Tokens used: `{"prompt_tokens", "completion_tokens", "total_tokens"}`.
    #[getter]
    fn usage<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let usage = &self.0.usage;
        let dict = PyDict::new(py);
        dict.set_item("prompt_tokens", usage.prompt_tokens)?;
        dict.set_item("completion_tokens", usage.completion_tokens)?;
        dict.set_item("total_tokens", usage.total())?;
        Ok(dict)
    }

    /// Whether the provider reported the usage (else it is estimated from the text).
    #[getter]
    fn usage_reported(&self) -> bool {
        self.0.usage_reported
    }

    /// What it cost in dollars, at the endpoint's price (0 without one).
    #[getter]
    fn cost(&self) -> f64 {
        self.0.cost
    }

    /// The registry endpoint that answered.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.0.endpoint
    }

    /// The model that answered.
    #[getter]
    fn model(&self) -> &str {
        &self.0.model
    }

    /// Seconds from the request to the end of the answer.
    #[getter]
    fn latency(&self) -> f64 {
        self.0.latency.as_secs_f64()
    }

    /// Whether the request offered tools and the model called none.
    #[getter]
    fn tools_ignored(&self) -> bool {
        self.0.tools_ignored
    }

    /// The answer parsed as JSON and checked against the request's JSON schema, or `None`
    /// when it asked for none (a new value on each access).
    #[getter]
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.0.json {
            Some(json) => json_to_py(py, json),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// How many repair rounds the answer took to fit its schema (0 or 1).
    #[getter]
    fn repairs(&self) -> u32 {
        self.0.repairs
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let r = &self.0;
        // The start of the text is enough to recognise an answer.
        let content = match &r.content {
            Some(text) if text.chars().count() > 60 => {
                let start: String = text.chars().take(60).collect();
                format!("{}…", quoted(py, &start)?)
            }
            Some(text) => quoted(py, text)?,
            None => "None".to_owned(),
        };
        Ok(format!(
            "ChatResponse(endpoint={}, model={}, finish_reason={}, content={content}, \
             tool_calls={}, tokens={}, cost={:?})",
            quoted(py, &r.endpoint)?,
            quoted(py, &r.model)?,
            quoted(py, openai::finish_reason_wire(&r.finish_reason))?,
            r.tool_calls.len(),
            r.usage.total(),
            r.cost,
        ))
    }
}

/// A model endpoint: an API-registry endpoint of capability `llm.chat` with what its metadata
/// says. Read-only.
#[pyclass(frozen, module = "trae")]
pub(crate) struct ModelEndpoint(trae_agents::ModelEndpoint);

#[pymethods]
impl ModelEndpoint {
    /// The registry endpoint's name.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.0.endpoint
    }

    /// The model a request that names none gets there, or `None`.
    #[getter]
    fn default_model(&self) -> Option<&str> {
        self.0.default_model.as_deref()
    }

    /// The models pinned to it; empty when it takes any (a new list on each access).
    #[getter]
    fn models(&self) -> Vec<String> {
        self.0.models.clone()
    }

    /// Its context window in tokens, or `None` when unknown.
    #[getter]
    fn context_window(&self) -> Option<u32> {
        self.0.context_window
    }

    /// Dollars per million request tokens, or `None` without a price.
    #[getter]
    fn input_price_per_million(&self) -> Option<f64> {
        self.0.price.map(|p| p.input_per_million)
    }

    /// Dollars per million answer tokens, or `None` without a price.
    #[getter]
    fn output_price_per_million(&self) -> Option<f64> {
        self.0.price.map(|p| p.output_per_million)
    }

    /// Whether it takes JSON-schema response formats natively (else the schema goes into
    /// the instructions).
    #[getter]
    fn json_schema(&self) -> bool {
        self.0.json_schema
    }

    /// Whether calls may pick it.
    #[getter]
    fn is_active(&self) -> bool {
        self.0.is_active
    }

    /// Its health: "unknown", "healthy", "degraded", "failing" or "critical".
    #[getter]
    fn health(&self) -> &'static str {
        self.0.health.as_str()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let e = &self.0;
        let models = PyList::new(py, &e.models)?.repr()?.to_cow()?.into_owned();
        Ok(format!(
            "ModelEndpoint(endpoint={}, default_model={}, models={models}, is_active={}, \
             health={})",
            quoted(py, &e.endpoint)?,
            e.default_model
                .as_deref()
                .map_or_else(|| Ok("None".to_owned()), |m| quoted(py, m))?,
            if e.is_active { "True" } else { "False" },
            quoted(py, e.health.as_str())?,
        ))
    }
}

/// A piece of a streamed answer as Python sees it.
enum Piece {
    Content(String),
    ToolCall {
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
}

impl<'py> IntoPyObject<'py> for Piece {
    type Target = PyDict;
    type Output = Bound<'py, PyDict>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let dict = PyDict::new(py);
        match self {
            Self::Content(text) => dict.set_item("content", text)?,
            Self::ToolCall {
                index,
                id,
                name,
                arguments,
            } => {
                let call = PyDict::new(py);
                call.set_item("index", index)?;
                call.set_item("id", id)?;
                call.set_item("name", name)?;
                call.set_item("arguments", arguments)?;
                dict.set_item("tool_call", call)?;
            }
        }
        Ok(dict)
    }
}

/// One streamed answer, shared by the Python object and the calls waiting on it. The
/// [`ModelStream`] itself is read by a task ([`pump`]) that ends when the answer does, when
/// `stop` is cancelled or when this is dropped, and dropping the stream closes the provider's
/// connection.
struct Reading {
    pieces: tokio::sync::Mutex<mpsc::Receiver<trae_core::Result<ChatChunk>>>,
    response: Mutex<Option<trae_core::ChatResponse>>,
    model: String,
    endpoint: String,
    stop: CancellationToken,
}

impl Drop for Reading {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Reading {
    /// Starts reading `stream` on the current runtime.
    fn start(stream: ModelStream) -> Arc<Self> {
        let (sender, pieces) = mpsc::channel(READ_AHEAD);
        let stop = CancellationToken::new();
        let reading = Arc::new(Self {
            pieces: tokio::sync::Mutex::new(pieces),
            response: Mutex::new(None),
            model: stream.model().to_owned(),
            endpoint: stream.endpoint().to_owned(),
            stop: stop.clone(),
        });
        tokio::spawn(pump(stream, sender, stop));
        reading
    }

    /// The next piece, or `None` at the end (the whole answer is then in `response`), after
    /// `close()`, or after an error.
    async fn next(&self) -> trae_core::Result<Option<Piece>> {
        if self.stop.is_cancelled() {
            return Ok(None);
        }
        let mut pieces = self.pieces.lock().await;
        let received = tokio::select! {
            () = self.stop.cancelled() => return Ok(None),
            received = pieces.recv() => received,
        };
        Ok(match received.transpose()? {
            None => None,
            Some(ChatChunk::Content(text)) => Some(Piece::Content(text)),
            Some(ChatChunk::ToolCall {
                index,
                id,
                name,
                arguments,
            }) => Some(Piece::ToolCall {
                index,
                id,
                name,
                arguments,
            }),
            Some(ChatChunk::Done(response)) => {
                *self.response.lock().unwrap_or_else(PoisonError::into_inner) = Some(*response);
                None
            }
        })
    }

    fn response(&self) -> Option<ChatResponse> {
        self.response
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .map(ChatResponse)
    }
}

/// Reads `stream` into `sender` until the answer ends, fails, `stop` is cancelled or the
/// reader is gone; then drops the stream, which closes the provider's connection and charges
/// the budget what was used.
async fn pump(
    mut stream: ModelStream,
    sender: mpsc::Sender<trae_core::Result<ChatChunk>>,
    stop: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            () = stop.cancelled() => break,
            () = sender.closed() => break,
            next = stream.next() => next,
        };
        let item = match next {
            Ok(None) => break,
            Ok(Some(chunk)) => Ok(chunk),
            Err(e) => Err(e),
        };
        let last = !matches!(item, Ok(ChatChunk::Content(_) | ChatChunk::ToolCall { .. }));
        tokio::select! {
            () = stop.cancelled() => break,
            sent = sender.send(item) => if sent.is_err() { break },
        }
        if last {
            break;
        }
    }
}

/// A streamed answer on its way to Python, as the blocking or the async iterator.
struct Streaming {
    reading: Arc<Reading>,
    asynchronous: bool,
}

impl<'py> IntoPyObject<'py> for Streaming {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        if self.asynchronous {
            Ok(Bound::new(py, AsyncChatStream(self.reading))?.into_any())
        } else {
            Ok(Bound::new(py, ChatStream(self.reading))?.into_any())
        }
    }
}

/// A model's answer as it is written (`store.llm.stream(...)`): a blocking iterator of
/// pieces, `{"content": str}` or `{"tool_call": {"index", "id", "name", "arguments"}}` (`id`
/// and `name` only in a call's first piece, else `None`).
///
/// After the last piece `response` is the whole `ChatResponse`. `close()` (or leaving a
/// `with` block) stops reading and closes the connection to the provider; what the answer
/// used so far is charged to the budget. An error mid-answer raises from the iteration.
#[pyclass(frozen, name = "ChatStream", module = "trae")]
pub(crate) struct ChatStream(Arc<Reading>);

#[pymethods]
impl ChatStream {
    /// The model asked for.
    #[getter]
    fn model(&self) -> &str {
        &self.0.model
    }

    /// The endpoint answering.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.0.endpoint
    }

    /// The whole answer once the last piece was read, else `None`.
    #[getter]
    fn response(&self) -> Option<ChatResponse> {
        self.0.response()
    }

    /// Stops reading and closes the connection to the provider; iteration ends.
    fn close(&self) {
        self.0.stop.cancel();
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Piece> {
        loop {
            let reading = Arc::clone(&self.0);
            // Short waits with the GIL released, so Ctrl-C is seen between them; a wait cut
            // short loses nothing (a channel's receive can be abandoned and taken up again).
            let next = py.detach(|| {
                runtime().block_on(async move {
                    tokio::time::timeout(SIGNAL_CHECK, reading.next()).await
                })
            });
            match next {
                Err(_) => py.check_signals()?,
                Ok(Ok(Some(piece))) => return Ok(piece),
                Ok(Ok(None)) => return Err(PyStopIteration::new_err(())),
                Ok(Err(e)) => return Err(to_py_err(py, e)),
            }
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) {
        self.close();
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "<trae.ChatStream endpoint={} model={}>",
            quoted(py, &self.0.endpoint)?,
            quoted(py, &self.0.model)?
        ))
    }
}

/// What an async read resolves to: a piece, or the end of the iteration.
struct AsyncPiece(Option<Piece>);

impl<'py> IntoPyObject<'py> for AsyncPiece {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        match self.0 {
            Some(piece) => Ok(piece.into_pyobject(py)?.into_any()),
            None => Err(PyStopAsyncIteration::new_err(())),
        }
    }
}

/// A model's answer as it is written (`await store.llm.stream(...)` in `trae.aio`): an async
/// iterator of the pieces of `trae.ChatStream` (`async for piece in stream:`); `response`,
/// `close()` and `async with` as there.
#[pyclass(frozen, name = "ChatStream", module = "trae.aio")]
pub(crate) struct AsyncChatStream(Arc<Reading>);

#[pymethods]
impl AsyncChatStream {
    /// The model asked for.
    #[getter]
    fn model(&self) -> &str {
        &self.0.model
    }

    /// The endpoint answering.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.0.endpoint
    }

    /// The whole answer once the last piece was read, else `None`.
    #[getter]
    fn response(&self) -> Option<ChatResponse> {
        self.0.response()
    }

    /// Stops reading and closes the connection to the provider; iteration ends.
    fn close(&self) {
        self.0.stop.cancel();
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let reading = Arc::clone(&self.0);
        awaitable(py, async move { reading.next().await.map(AsyncPiece) })
    }

    fn __aenter__<'py>(slf: Py<Self>, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, async move { Ok(slf) })
    }

    #[pyo3(signature = (*_args))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _args: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.close();
        awaitable(py, async move { Ok(false) })
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "<trae.aio.ChatStream endpoint={} model={}>",
            quoted(py, &self.0.endpoint)?,
            quoted(py, &self.0.model)?
        ))
    }
}

/// Defines a language-model service class, each call running its work with `$run`.
macro_rules! llm_service {
    (
        run: $run:path,
        asynchronous: $asynchronous:expr,
        module: $module:tt,
        class: $Llm:ident,
        doc: $doc:tt $(,)?
    ) => {
        #[doc = concat!(
            "Language models through the API registry (`store.llm`)", $doc, "\n\n",
            "Chats go to endpoints of capability `llm.chat` (base URL ending in `/v1`, an ",
            "OpenAI-compatible chat-completions API) under the store's principal, which needs ",
            "`llm:use`: the registry's routing, limits, failover, vault credentials and ",
            "request log apply. An endpoint's `metadata` says what it serves: `default_model`, ",
            "`models`, `context_window`, `input_price_per_million`, `output_price_per_million`, ",
            "`json_schema`."
        )]
        #[pyclass(frozen, name = "Llm", module = $module)]
        pub(crate) struct $Llm {
            pub(crate) handle: Arc<Handle>,
        }

        #[pymethods]
        impl $Llm {
            /// The whole answer to `messages`, as a `ChatResponse`.
            ///
            /// `messages`: a list of OpenAI-shaped dicts (`role` "system", "user",
            /// "assistant" or "tool"; `content`; an assistant's `tool_calls`; a tool's
            /// `tool_call_id`), or a `str` meaning one user message. `model` (the endpoint's
            /// default when left out), `temperature` (0–2), `max_tokens`, `stop` (a str or
            /// up to 4), `seed`, `response_format` (`{"type": "json_schema", "json_schema":
            /// {"name", "schema"}}` checks the answer, with one repair round, into
            /// `response.json`), `tools` (OpenAI function tools) and `persona_id` (its prompt
            /// becomes the first system message) as in the OpenAI API. `budget`: a
            /// `trae.Budget` the call is charged to (unlimited when left out).
            ///
            /// Raises `ValidationError` (with `field`) for a bad argument, `PermissionDenied`
            /// without `llm:use`, `NotFound` when no endpoint serves the model,
            /// `BudgetExceeded` (with `limit`) when the budget cannot pay (nothing is sent),
            /// `RateLimitedError` when every endpoint is at a limit, `UpstreamError` when the
            /// provider fails or refuses, `InvalidAnswer` (with `path`) when the answer misses
            /// its schema twice.
            ///
            /// `stream=True` answers as `stream(...)` does: a `ChatStream` of the pieces.
            #[pyo3(signature = (messages, *, model = None, temperature = None,
                                max_tokens = None, stop = None, seed = None,
                                response_format = None, tools = None, persona_id = None,
                                budget = None, stream = false))]
            #[allow(clippy::too_many_arguments)]
            fn chat<'py>(
                &self,
                py: Python<'py>,
                messages: &Bound<'py, PyAny>,
                model: Option<&Bound<'py, PyAny>>,
                temperature: Option<&Bound<'py, PyAny>>,
                max_tokens: Option<&Bound<'py, PyAny>>,
                stop: Option<&Bound<'py, PyAny>>,
                seed: Option<&Bound<'py, PyAny>>,
                response_format: Option<&Bound<'py, PyAny>>,
                tools: Option<&Bound<'py, PyAny>>,
                persona_id: Option<&Bound<'py, PyAny>>,
                budget: Option<&Bound<'py, PyAny>>,
                stream: bool,
            ) -> PyResult<Bound<'py, PyAny>> {
                if stream {
                    return self.stream(
                        py, messages, model, temperature, max_tokens, stop, seed,
                        response_format, tools, persona_id, budget,
                    );
                }
                let request = request_arg(
                    messages, model, temperature, max_tokens, stop, seed, response_format,
                    tools, persona_id,
                );
                let budget = budget_arg(&self.handle, budget);
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let (request, budget) = (request?, budget?);
                    handle
                        .models()?
                        .chat(handle.principal(), request, &budget)
                        .await
                        .map(ChatResponse)
                })
            }

            /// The answer to `messages` as it is written, as a `ChatStream` of pieces; the
            /// arguments of `chat` apply. Errors before anything is sent (validation,
            /// permission, budget, no endpoint, a provider refusing) raise here; errors
            /// mid-answer raise from the iteration. A JSON-schema answer is checked when it
            /// ends (a stream gets no repair round).
            #[pyo3(signature = (messages, *, model = None, temperature = None,
                                max_tokens = None, stop = None, seed = None,
                                response_format = None, tools = None, persona_id = None,
                                budget = None))]
            #[allow(clippy::too_many_arguments)]
            fn stream<'py>(
                &self,
                py: Python<'py>,
                messages: &Bound<'py, PyAny>,
                model: Option<&Bound<'py, PyAny>>,
                temperature: Option<&Bound<'py, PyAny>>,
                max_tokens: Option<&Bound<'py, PyAny>>,
                stop: Option<&Bound<'py, PyAny>>,
                seed: Option<&Bound<'py, PyAny>>,
                response_format: Option<&Bound<'py, PyAny>>,
                tools: Option<&Bound<'py, PyAny>>,
                persona_id: Option<&Bound<'py, PyAny>>,
                budget: Option<&Bound<'py, PyAny>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let request = request_arg(
                    messages, model, temperature, max_tokens, stop, seed, response_format,
                    tools, persona_id,
                );
                let budget = budget_arg(&self.handle, budget);
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let (request, budget) = (request?, budget?);
                    let stream = handle
                        .models()?
                        .stream(handle.principal(), request, &budget)
                        .await?;
                    Ok(Streaming {
                        reading: Reading::start(stream),
                        asynchronous: $asynchronous,
                    })
                })
            }

            /// One `Page` of the model endpoints (`ModelEndpoint`), by priority then name;
            /// `limit` (1–500) and `offset` choose the page. Needs `llm:use`.
            #[pyo3(
                signature = (*, limit = None, offset = None),
                text_signature = "($self, *, limit=50, offset=0)"
            )]
            fn models<'py>(
                &self,
                py: Python<'py>,
                limit: Option<&Bound<'py, PyInt>>,
                offset: Option<&Bound<'py, PyInt>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let page = args::page(limit, offset);
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let page = handle.models()?.models(handle.principal(), page?).await?;
                    Ok(PageOut(page.map(ModelEndpoint)))
                })
            }

            /// A new `Budget` for calls to share, timed on the store's clock: `tokens`
            /// (requests and answers together), `cost` (dollars), `wall_time` (seconds from
            /// now) and `call_tokens` (a cap on each answer); `None` is no limit. Returns at
            /// once (nothing to await). Raises `ValidationError` for a negative or
            /// non-numeric limit.
            #[pyo3(signature = (*, tokens = None, cost = None, wall_time = None,
                                call_tokens = None))]
            fn budget(
                &self,
                py: Python<'_>,
                tokens: Option<&Bound<'_, PyAny>>,
                cost: Option<&Bound<'_, PyAny>>,
                wall_time: Option<&Bound<'_, PyAny>>,
                call_tokens: Option<&Bound<'_, PyAny>>,
            ) -> PyResult<Budget> {
                let limits = limits_arg(tokens, cost, wall_time, call_tokens)
                    .map_err(|e| to_py_err(py, e))?;
                let clock = self.handle.clock().map_err(|e| to_py_err(py, e))?;
                Ok(Budget(RunBudget::new(limits, clock)))
            }

            fn __repr__(&self) -> String {
                format!("<{}.Llm backend='{}'>", $module, self.handle.backend())
            }
        }
    };
}

llm_service! {
    run: blocking,
    asynchronous: false,
    module: "trae",
    class: Llm,
    doc: ".",
}

llm_service! {
    run: awaitable,
    asynchronous: true,
    module: "trae.aio",
    class: AsyncLlm,
    doc: "; the methods of `trae.Llm`, `chat`, `stream` and `models` returning awaitables.",
}
