//! `trae.analyze_contradictions(text)` and `trae.compare_statements(a, b)`: the contradiction
//! engine of `trae_core::content::contradiction`, answering in the JSON shape of the HTTP API as dicts.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use trae_core::content::contradiction::{self, Analysis};

/// The analysis as a dict `{"score", "label", "contradictions": [{"statement_1",
/// "statement_2", "type", "cue", "confidence", "explanation"}]}`.
fn to_dict<'py>(py: Python<'py>, analysis: &Analysis) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("score", analysis.score)?;
    dict.set_item("label", analysis.label)?;
    let found = analysis
        .contradictions
        .iter()
        .map(|f| {
            let item = PyDict::new(py);
            item.set_item("statement_1", &f.statement_1)?;
            item.set_item("statement_2", &f.statement_2)?;
            item.set_item("type", f.kind.as_str())?;
            item.set_item("cue", f.cue.as_str())?;
            item.set_item("confidence", f.confidence)?;
            item.set_item("explanation", &f.explanation)?;
            Ok(item)
        })
        .collect::<PyResult<Vec<_>>>()?;
    dict.set_item("contradictions", found)?;
    Ok(dict)
}

/// Splits `text` into sentences and finds every contradicting pair (same subject, same
/// topic); returns `{"score", "label", "contradictions"}`.
#[pyfunction]
fn analyze_contradictions<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyDict>> {
    let analysis = py.detach(|| contradiction::analyze(text));
    to_dict(py, &analysis)
}

/// Compares two statements; returns `{"score", "label", "contradictions"}` with at most one
/// contradiction.
#[pyfunction]
fn compare_statements<'py>(
    py: Python<'py>,
    statement_1: &str,
    statement_2: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let analysis = py.detach(|| contradiction::compare_statements(statement_1, statement_2));
    to_dict(py, &analysis)
}

/// Adds the functions to the native module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(analyze_contradictions, m)?)?;
    m.add_function(wrap_pyfunction!(compare_statements, m)?)?;
    Ok(())
}
