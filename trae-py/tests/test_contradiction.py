"""The contradiction engine from Python: ``trae.analyze_contradictions`` and
``trae.compare_statements``. The engine's rules and its labelled set are tested in trae-core;
these tests check that the binding reaches it and answers in the HTTP API's shape."""

from __future__ import annotations

import pytest

import trae


def test_the_originals_worked_example_is_found() -> None:
    found = trae.analyze_contradictions(
        "I never support tax hikes. We must always support tax hikes. I know the budget well."
    )
    assert set(found) == {"score", "label", "contradictions"}
    assert found["label"] == "high" and 70 <= found["score"] <= 100
    (pair,) = found["contradictions"]
    assert pair["statement_1"] == "I never support tax hikes."
    assert pair["statement_2"] == "We must always support tax hikes."
    assert (pair["type"], pair["cue"]) == ("direct", "quantifier")
    assert 0 < pair["confidence"] <= 1
    assert "tax" in pair["explanation"]


def test_compare_statements_tells_contradictions_from_consistent_pairs() -> None:
    negated = trae.compare_statements("I support the bill.", "I don't support the bill.")
    assert [c["cue"] for c in negated["contradictions"]] == ["negation"]
    assert trae.compare_statements("I know the plan.", "I know the plan well.") == {
        "score": 0,
        "label": "none",
        "contradictions": [],
    }
    # Different subjects are not a contradiction.
    assert trae.compare_statements(
        "I support the bill.", "My opponent does not support the bill."
    )["contradictions"] == []
    dated = trae.compare_statements(
        "The company was founded in 1990.", "The company was founded in 1995."
    )
    assert [(c["type"], c["cue"]) for c in dated["contradictions"]] == [("temporal", "date")]


def test_empty_text_and_wrong_types() -> None:
    assert trae.analyze_contradictions("")["score"] == 0
    with pytest.raises(TypeError):
        trae.analyze_contradictions(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        trae.compare_statements("one statement.")  # type: ignore[call-arg]
