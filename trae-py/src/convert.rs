//! The one way values cross the binding: Rust records become Python values typed by the
//! Rust type of each field (a `Uuid` a `uuid.UUID`, a `DateTime<Utc>` an aware `datetime`, a
//! `NaiveDate` a `date`, a wire enum its name, the caller's own JSON what `json.loads` gives),
//! and Python values become JSON ([`py_to_json`]) where a service takes the caller's JSON.

use chrono::{DateTime, NaiveDate, Utc};
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::Value;
use trae_core::content as domain;
use trae_core::content::contradiction::{Analysis, ContradictionType, Cue, Finding};
use uuid::Uuid;

/// A Rust value as a Python value, chosen by its Rust type.
pub(crate) trait ToPy {
    /// The Python value.
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>>;
}

/// A record on its way to Python: converted by [`ToPy`] when it gets there.
pub(crate) struct Record<T>(pub(crate) T);

impl<'py, T: ToPy> IntoPyObject<'py> for Record<T> {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        self.0.to_py(py)
    }
}

/// Types pyo3 converts itself (uuid, chrono and the scalars).
macro_rules! native {
    ($($t:ty),+ $(,)?) => {
        $(impl ToPy for $t {
            fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                self.clone().into_bound_py_any(py)
            }
        })+
    };
}

native!(
    String,
    bool,
    u8,
    u32,
    i64,
    u64,
    f64,
    Uuid,
    DateTime<Utc>,
    NaiveDate
);

impl ToPy for &'static str {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyString::new(py, self).into_any())
    }
}

impl<T: ToPy> ToPy for Option<T> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Some(value) => value.to_py(py),
            None => Ok(py.None().into_bound(py)),
        }
    }
}

impl<T: ToPy> ToPy for Vec<T> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let items = self
            .iter()
            .map(|item| item.to_py(py))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyList::new(py, items)?.into_any())
    }
}

/// The caller's own JSON, as `json.loads` would give it.
impl ToPy for Value {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, self)
    }
}

/// Enums that cross as their wire name.
macro_rules! by_name {
    ($($t:ty),+ $(,)?) => {
        $(impl ToPy for $t {
            fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                Ok(PyString::new(py, self.as_str()).into_any())
            }
        })+
    };
}

by_name!(
    domain::Platform,
    domain::EvidenceType,
    domain::VocabularyLevel,
    domain::SubjectType,
    domain::VerificationStatus,
    ContradictionType,
    Cue,
);

/// A dict of `key => value` pairs, each value converted by its type.
macro_rules! dict {
    ($py:expr, { $($key:literal => $value:expr),+ $(,)? }) => {{
        let dict = PyDict::new($py);
        $(dict.set_item($key, ToPy::to_py(&$value, $py)?)?;)+
        dict
    }};
}

/// Structs that cross as a dict of their fields, in the order of the HTTP API's JSON.
macro_rules! record {
    ($t:ty, |$this:ident| { $($key:literal => $value:expr),+ $(,)? }) => {
        impl ToPy for $t {
            fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                let $this = self;
                Ok(dict!(py, { $($key => $value),+ }).into_any())
            }
        }
    };
}

record!(domain::Channel, |c| {
    "id" => c.id,
    "name" => c.name,
    "platform" => c.platform,
    "url" => c.url,
    "description" => c.description,
    "target_audience" => c.target_audience,
    "content_strategy" => c.content_strategy,
    "posting_schedule" => c.posting_schedule,
    "is_active" => c.is_active,
    "metrics" => c.metrics,
    "created_at" => c.created_at,
    "updated_at" => c.updated_at,
});

record!(domain::Evidence, |e| {
    "id" => e.id,
    "topic" => e.topic,
    "content" => e.content,
    "source_url" => e.source_url,
    "source_name" => e.source_name,
    "evidence_type" => e.evidence_type,
    "published_at" => e.published_at,
    "credibility" => e.credibility,
    "relevance" => e.relevance,
    "tags" => e.tags,
    "created_by" => e.created_by,
    "created_at" => e.created_at,
    "updated_at" => e.updated_at,
});

/// A persona's traits, into `dict` (they are flattened into personas and their versions).
fn put_traits(dict: &Bound<'_, PyDict>, traits: &domain::PersonaTraits) -> PyResult<()> {
    let py = dict.py();
    let own = dict!(py, {
        "description" => traits.description,
        "writing_style" => traits.writing_style,
        "personality_traits" => traits.personality_traits,
        "expertise_areas" => traits.expertise_areas,
        "tone" => traits.tone,
        "vocabulary_level" => traits.vocabulary_level,
        "target_audience" => traits.target_audience,
        "channel_id" => traits.channel_id,
    });
    dict.update(own.as_mapping())
}

impl ToPy for domain::Persona {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let dict = dict!(py, {
            "id" => self.id,
            "name" => self.name,
            "is_active" => self.is_active,
            "version" => self.version,
            "parent_id" => self.parent_id,
        });
        put_traits(&dict, &self.traits)?;
        dict.update(
            dict!(py, {
                "inherited" => self.inherited,
                "usage_count" => self.usage_count,
                "last_used_at" => self.last_used_at,
                "created_at" => self.created_at,
                "updated_at" => self.updated_at,
            })
            .as_mapping(),
        )?;
        Ok(dict.into_any())
    }
}

impl ToPy for domain::PersonaVersion {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let dict = dict!(py, {
            "persona_id" => self.persona_id,
            "version" => self.version,
            "name" => self.name,
            "is_active" => self.is_active,
            "parent_id" => self.parent_id,
        });
        put_traits(&dict, &self.traits)?;
        dict.update(
            dict!(py, {
                "changed_at" => self.changed_at,
                "changed_by" => self.changed_by,
            })
            .as_mapping(),
        )?;
        Ok(dict.into_any())
    }
}

record!(domain::PersonaPrompt, |p| {
    "persona_id" => p.persona_id,
    "name" => p.name,
    "version" => p.version,
    "prompt" => p.prompt,
});

record!(domain::tracker::StoredAnalysis, |a| {
    "score" => a.score,
    "label" => a.label,
    "suggested_type" => a.suggested_type,
    "cue" => a.cue,
    "confidence" => a.confidence,
    "explanation" => a.explanation,
    "analyzed_at" => a.analyzed_at,
});

record!(domain::Contradiction, |c| {
    "id" => c.id,
    "subject_name" => c.subject_name,
    "subject_type" => c.subject_type,
    "topic" => c.topic,
    "statement_1" => c.statement_1,
    "statement_2" => c.statement_2,
    "context_1" => c.context_1,
    "context_2" => c.context_2,
    "date_1" => c.date_1,
    "date_2" => c.date_2,
    "evidence_1" => c.evidence_1,
    "evidence_2" => c.evidence_2,
    "contradiction_type" => c.contradiction_type,
    "severity" => c.severity,
    "confidence" => c.confidence,
    "verification_status" => c.verification_status,
    "public_impact" => c.public_impact,
    "tags" => c.tags,
    "content_used" => c.content_used,
    "time_gap_days" => c.time_gap_days,
    "reviewed_by" => c.reviewed_by,
    "reviewed_at" => c.reviewed_at,
    "review_note" => c.review_note,
    "analysis" => c.analysis,
    "created_by" => c.created_by,
    "created_at" => c.created_at,
    "updated_at" => c.updated_at,
});

record!(domain::Opportunity, |o| {
    "score" => o.score,
    "contradiction" => o.contradiction,
});

record!(Finding, |f| {
    "statement_1" => f.statement_1,
    "statement_2" => f.statement_2,
    "type" => f.kind,
    "cue" => f.cue,
    "confidence" => f.confidence,
    "explanation" => f.explanation,
});

record!(Analysis, |a| {
    "score" => a.score,
    "label" => a.label,
    "contradictions" => a.contradictions,
});

/// A contradiction after `analyze`, with the engine's full answer.
pub(crate) struct Analyzed {
    /// The record with its stored verdict.
    pub(crate) contradiction: domain::Contradiction,
    /// The engine's answer.
    pub(crate) analysis: Analysis,
}

record!(Analyzed, |a| {
    "contradiction" => a.contradiction,
    "analysis" => a.analysis,
});

/// A JSON value as the plain Python value `json.loads` would give.
pub(crate) fn json_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_bound_py_any(py)?,
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_bound_py_any(py)?
            } else if let Some(u) = n.as_u64() {
                u.into_bound_py_any(py)?
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)?
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => items.to_py(py)?,
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, json_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// How deeply lists and dicts may nest in a value converted to JSON.
const MAX_JSON_DEPTH: usize = 64;

/// A Python value as JSON, or why it is not one (the message completes "`field` …").
///
/// Accepts `None`, `bool`, `int` (within 64 bits), finite `float`, `str`, `list`, `tuple` and
/// `dict` with `str` keys, and subclasses of these; anything else, NaN and infinities, and
/// nesting deeper than 64 levels (which also stops reference cycles) are refused.
pub(crate) fn py_to_json(value: &Bound<'_, PyAny>) -> Result<serde_json::Value, String> {
    to_json(value, 0)
}

fn to_json(value: &Bound<'_, PyAny>, depth: usize) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    if depth > MAX_JSON_DEPTH {
        return Err(format!(
            "must not nest lists and dicts more than {MAX_JSON_DEPTH} levels deep"
        ));
    }
    if value.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(i) = value.cast::<PyInt>() {
        if let Ok(i) = i.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = i.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(format!(
            "contains the integer {i}, which is too large for JSON"
        ));
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        let f = f.value();
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("contains {f}, which JSON cannot represent"));
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Value::String(
            s.to_cow().map_err(|e| e.to_string())?.into_owned(),
        ));
    }
    if let Ok(list) = value.cast::<PyList>() {
        return list
            .iter()
            .map(|item| to_json(&item, depth + 1))
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    if let Ok(tuple) = value.cast::<PyTuple>() {
        return tuple
            .iter()
            .map(|item| to_json(&item, depth + 1))
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        let mut map = serde_json::Map::with_capacity(dict.len());
        for (key, item) in dict.iter() {
            let Ok(key) = key.cast::<PyString>() else {
                return Err(format!(
                    "contains a dict key of type {}; JSON object keys must be str",
                    type_name(&key)
                ));
            };
            let key = key.to_cow().map_err(|e| e.to_string())?.into_owned();
            map.insert(key, to_json(&item, depth + 1)?);
        }
        return Ok(Value::Object(map));
    }
    Err(format!(
        "contains a value of type {}, which is not JSON-serialisable (use None, bool, int, \
         float, str, list, tuple or dict)",
        type_name(value)
    ))
}

/// The name of a value's type, for messages.
pub(crate) fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string())
}
