"""The content domain from Python on a throwaway SQLite file: a channel, a persona and a variant
of it, evidence search, and a contradiction taken from the engine through review to a content
opportunity.

Build the module first (see trae-py), then run: python examples/content.py
"""

import datetime as dt
import tempfile
from pathlib import Path

import trae


def main() -> None:
    # The engine needs no store: two statements, or a text split into sentences.
    text = "I never support tax hikes. We must always support tax hikes. The weather is nice."
    found = trae.analyze_contradictions(text)
    print(f"engine: score {found['score']} ({found['label']})")
    for c in found["contradictions"]:
        print(f"  {c['type']} via {c['cue']} ({c['confidence']:.2f}): {c['explanation']}")

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{Path(tmp) / 'content.db'}"
        with trae.Store(url) as store:
            channel = store.channels.create(name="Policy watch", platform="newsletter")
            host = store.personas.create(
                name="Analyst",
                channel_id=channel["id"],
                tone="measured",
                writing_style="short paragraphs, sources first",
                expertise_areas=["tax policy"],
            )
            store.personas.update(host["id"], tone="dry")
            variant = store.personas.create(
                name="Analyst for beginners", parent_id=host["id"], vocabulary_level="basic"
            )
            print(f"\npersona {host['name']!r} is at version {store.personas.get(host['id'])['version']}")
            print(f"variant {variant['name']!r} inherits {', '.join(variant['inherited'])}")
            print("its system prompt:\n  " + store.personas.prompt(variant["id"])["prompt"].replace("\n", "\n  "))

            quote = store.evidence.create(
                topic="tax pledge",
                content="In March the senator said: I will never support tax hikes.",
                evidence_type="quote",
                credibility=8,
            )
            store.evidence.create(
                topic="budget vote",
                content="The senator voted for the budget, which raises income tax.",
                evidence_type="document",
                credibility=9,
            )
            hits = store.evidence.list(q="tax hikes")
            print(f"\nsearch 'tax hikes': {[e['topic'] for e in hits]}")

            record = store.contradictions.create(
                subject_name="Senator Example",
                subject_type="politician",
                topic="taxes",
                statement_1="I will never support tax hikes.",
                statement_2="I will always support tax hikes when schools need them.",
                date_1=dt.date(2025, 3, 1),
                date_2=dt.date(2026, 2, 1),
                evidence_1=[quote["id"]],
                severity=7,
                public_impact=8,
            )
            analyzed = store.contradictions.analyze(record["id"])["contradiction"]
            print(
                f"\ntracked: {analyzed['time_gap_days']} days apart, engine suggests "
                f"{analyzed['analysis']['suggested_type']} at {analyzed['confidence']:.2f}"
            )
            store.contradictions.verify(record["id"], "verified", "both quotes checked")
            best = store.contradictions.opportunities().items[0]
            print(f"top opportunity: {best['contradiction']['subject_name']} (score {best['score']:.2f})")


if __name__ == "__main__":
    main()
