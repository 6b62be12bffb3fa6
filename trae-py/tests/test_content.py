"""The content domain from Python: ``store.channels``, ``store.personas``, ``store.evidence`` and
``store.contradictions``, blocking and asyncio, on SQLite and PostgreSQL.

The rules (text bounds, inheritance, search ranking, the verification workflow) are tested in
trae-core and trae-storage; these tests check that the binding reaches those services, converts
arguments and records both ways (ids as ``uuid.UUID``, times as timezone-aware ``datetime``,
dates as ``datetime.date``) and raises the right errors.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

import trae
import trae.aio

UTC = dt.timezone.utc



# Shaped like ids and times under id-like and time-like keys: the caller's own JSON still comes
# back exactly as given, because records are converted by their Rust field types, not by names.
CALLER_JSON = {
    "id": "not-a-uuid",
    "owner_id": "01890a5d-ac96-774b-bcce-b302099a8057",
    "created_at": "2026-01-01T00:00:00Z",
    "date_1": "2026-01-01",
    "subscribers": 10,
}

def is_utc(value: object) -> bool:
    return isinstance(value, dt.datetime) and value.utcoffset() == dt.timedelta(0)


# --- channels ---------------------------------------------------------------------------------


def test_channels_round_trip(store: trae.Store) -> None:
    channels = store.channels
    assert isinstance(channels, trae.Channels)
    assert store.channels is channels

    news = channels.create(
        {"name": " Daily news ", "platform": "youtube"},
        url="https://youtube.example/news",
        description="What happened today.",
        metrics=CALLER_JSON,
    )
    assert isinstance(news, dict)
    assert isinstance(news["id"], uuid.UUID)
    assert (news["name"], news["platform"], news["is_active"]) == (
        "Daily news",
        "youtube",
        True,
    )
    assert news["url"] == "https://youtube.example/news"
    # The caller's own JSON comes back as given.
    assert news["metrics"] == CALLER_JSON
    assert all(isinstance(v, (str, int)) for v in news["metrics"].values())
    assert is_utc(news["created_at"]) and news["created_at"] == news["updated_at"]
    assert news["target_audience"] is None

    blog = channels.create(name="Blog", platform="blog", is_active=False)
    assert blog["platform"] == "blog"
    assert channels.get(news["id"]) == news
    assert channels.get(str(blog["id"])) == blog

    page = channels.list()
    assert isinstance(page, trae.Page)
    assert (page.total, page.limit, page.offset) == (2, 50, 0)
    assert {c["id"] for c in page} == {news["id"], blog["id"]}
    assert channels.list(platform="youtube").items == [news]
    assert channels.list(is_active=False).items == [blog]
    assert channels.list(limit=1).total == 2

    changed = channels.update(news["id"], posting_schedule="daily", clear=["url"])
    assert (changed["posting_schedule"], changed["url"]) == ("daily", None)
    assert changed["description"] == "What happened today."
    assert changed["updated_at"] >= news["updated_at"]
    assert channels.get(news["id"]) == changed

    with pytest.raises(trae.Conflict):
        channels.create(name="Blog")
    assert channels.delete(blog["id"]) == 0
    with pytest.raises(trae.NotFound):
        channels.get(blog["id"])
    with pytest.raises(trae.NotFound):
        channels.delete(blog["id"])


def test_a_channel_in_use_is_deleted_only_with_detach(store: trae.Store) -> None:
    channel = store.channels.create(name="Podcast", platform="podcast")
    host = store.personas.create(name="Host", channel_id=channel["id"])
    assert host["channel_id"] == channel["id"]
    assert store.personas.list(channel_id=str(channel["id"])).items == [host]

    with pytest.raises(trae.Conflict, match="detach"):
        store.channels.delete(channel["id"])
    assert store.channels.get(channel["id"]) == channel

    assert store.channels.delete(channel["id"], detach=True) == 1
    assert store.personas.get(host["id"])["channel_id"] is None
    with pytest.raises(trae.NotFound):
        store.channels.get(channel["id"])


# --- personas ---------------------------------------------------------------------------------


def test_persona_versions_and_a_variant_inheriting_its_parent(store: trae.Store) -> None:
    personas = store.personas
    ada = personas.create(
        name="Ada",
        description="A careful science writer.",
        tone="warm",
        personality_traits=["curious", "precise"],
        vocabulary_level="advanced",
    )
    assert isinstance(ada["id"], uuid.UUID)
    assert (ada["version"], ada["parent_id"], ada["inherited"]) == (1, None, [])
    assert (ada["usage_count"], ada["last_used_at"]) == (0, None)
    assert is_utc(ada["created_at"])

    ada2 = personas.update(ada["id"], writing_style="short sentences")
    assert ada2["version"] == 2
    assert ada2["writing_style"] == "short sentences" and ada2["tone"] == "warm"
    # An update that changes nothing makes no version.
    assert personas.update(ada["id"], tone="warm")["version"] == 2

    versions = personas.versions(ada["id"])
    assert [v["version"] for v in versions] == [1, 2]
    first = versions[0]
    assert first["persona_id"] == ada["id"] and isinstance(first["persona_id"], uuid.UUID)
    assert is_utc(first["changed_at"]) and first["changed_by"] == "system"
    assert first["writing_style"] is None
    assert personas.version(ada["id"], 2) == versions[1]
    with pytest.raises(trae.NotFound):
        personas.version(ada["id"], 3)

    variant = personas.create(name="Ada for kids", parent_id=ada["id"], vocabulary_level="basic")
    assert variant["parent_id"] == ada["id"]
    assert variant["tone"] == "warm"  # from the parent's current version
    assert variant["writing_style"] == "short sentences"
    assert variant["vocabulary_level"] == "basic"  # its own
    assert "tone" in variant["inherited"] and "writing_style" in variant["inherited"]
    assert "vocabulary_level" not in variant["inherited"]
    assert personas.list(parent_id=ada["id"]).items == [variant]

    # The variant follows later changes of its parent.
    personas.update(ada["id"], tone="dry")
    assert personas.get(variant["id"])["tone"] == "dry"

    with pytest.raises(trae.Conflict):
        personas.delete(ada["id"])
    # Clearing parent_id makes it stand alone: the inherited traits go.
    alone = personas.update(variant["id"], clear=["parent_id"])
    assert (alone["parent_id"], alone["tone"], alone["inherited"]) == (None, None, [])
    assert personas.delete(ada["id"]) is None
    with pytest.raises(trae.NotFound):
        personas.get(ada["id"])


def test_prompt_renders_the_persona_and_counts_a_use(store: trae.Store) -> None:
    channel = store.channels.create(name="Science Weekly", platform="newsletter")
    ada = store.personas.create(
        name="Ada",
        description="A careful science writer.",
        tone="warm",
        expertise_areas=["physics", "biology"],
        channel_id=channel["id"],
    )
    prompt = store.personas.prompt(ada["id"])
    assert set(prompt) == {"persona_id", "name", "version", "prompt"}
    assert (prompt["persona_id"], prompt["name"], prompt["version"]) == (ada["id"], "Ada", 1)
    text = prompt["prompt"]
    assert text.startswith("You are Ada: A careful science writer.\n")
    assert "Tone: warm\n" in text
    assert "Expertise: physics, biology\n" in text
    assert "Channel: Science Weekly on newsletter\n" in text
    used = store.personas.get(ada["id"])
    assert used["usage_count"] == 1 and is_utc(used["last_used_at"])
    with pytest.raises(trae.NotFound):
        store.personas.prompt(uuid.uuid4())


# --- evidence ---------------------------------------------------------------------------------


def test_evidence_round_trip_and_search_order(store: trae.Store) -> None:
    evidence = store.evidence
    cet = dt.timezone(dt.timedelta(hours=1))
    in_content = evidence.create(
        topic="Budget",
        content="The council debated tax hikes among many other things.",
        evidence_type="news",
        credibility=6,
    )
    in_topic = evidence.create(
        {"topic": "Tax hikes", "content": "The mayor's speech in full."},
        evidence_type="quote",
        source_url="https://example.org/speech",
        published_at=dt.datetime(2024, 3, 1, 13, 0, tzinfo=cet),
        credibility=9,
        tags=["speech", "mayor"],
    )
    unrelated = evidence.create(topic="Parks", content="New trees were planted.")

    assert isinstance(in_topic["id"], uuid.UUID)
    assert in_topic["published_at"] == dt.datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    assert is_utc(in_topic["published_at"])
    assert (in_topic["evidence_type"], in_topic["credibility"], in_topic["relevance"]) == (
        "quote",
        9,
        5,
    )
    assert in_topic["tags"] == ["speech", "mayor"]
    assert in_topic["created_by"] == "system"
    assert unrelated["evidence_type"] == "other"
    assert evidence.get(in_topic["id"]) == in_topic

    found = evidence.list(q="tax hikes")
    assert [e["id"] for e in found] == [in_topic["id"], in_content["id"]]
    assert found.total == 2
    assert evidence.list(q="TAX!").total == 2
    assert [e["id"] for e in evidence.list(evidence_type="news")] == [in_content["id"]]
    assert [e["id"] for e in evidence.list(tag="mayor")] == [in_topic["id"]]
    assert [e["id"] for e in evidence.list(min_credibility=8)] == [in_topic["id"]]
    with pytest.raises(trae.ValidationError) as caught:
        evidence.list(q=" -*- ")
    assert caught.value.field == "q"
    with pytest.raises(trae.ValidationError) as caught:
        evidence.list(min_credibility=11)
    assert caught.value.field == "min_credibility"

    changed = evidence.update(in_topic["id"], relevance=8, clear=["published_at", "source_url"])
    assert (changed["relevance"], changed["published_at"], changed["source_url"]) == (8, None, None)
    with pytest.raises(trae.ValidationError) as caught:
        evidence.update(in_topic["id"], published_at=dt.datetime(2024, 3, 1, 12, 0))
    assert caught.value.field == "published_at" and "timezone" in str(caught.value)

    assert evidence.delete(unrelated["id"]) is None
    with pytest.raises(trae.NotFound):
        evidence.get(unrelated["id"])


# --- contradictions ---------------------------------------------------------------------------


def tax_claim(**overrides):
    spec = {
        "subject_name": "Mayor Smith",
        "subject_type": "politician",
        "topic": "taxes",
        "statement_1": "I never support tax hikes.",
        "statement_2": "We must always support tax hikes.",
    }
    spec.update(overrides)
    return spec


def test_contradiction_round_trip_and_verification(store: trae.Store) -> None:
    speech = store.evidence.create(topic="Speech", content="I never support tax hikes.")
    vote = store.evidence.create(topic="Vote", content="Voted for the tax increase.")
    contradictions = store.contradictions
    record = contradictions.create(
        tax_claim(),
        date_1=dt.date(2020, 1, 1),
        date_2="2021-01-01",
        evidence_1=[speech["id"]],
        evidence_2=[str(vote["id"])],
        severity=8,
        confidence=0.75,
        tags=["taxes"],
    )
    assert isinstance(record["id"], uuid.UUID)
    assert (record["date_1"], record["date_2"]) == (dt.date(2020, 1, 1), dt.date(2021, 1, 1))
    assert type(record["date_1"]) is dt.date
    assert record["time_gap_days"] == 366
    assert record["evidence_1"] == [speech["id"]] and record["evidence_2"] == [vote["id"]]
    assert all(isinstance(i, uuid.UUID) for i in record["evidence_1"] + record["evidence_2"])
    assert (record["verification_status"], record["contradiction_type"]) == ("pending", "direct")
    assert (record["reviewed_by"], record["reviewed_at"], record["analysis"]) == (None, None, None)
    assert is_utc(record["created_at"]) and record["created_by"] == "system"
    assert contradictions.get(record["id"]) == record

    with pytest.raises(trae.ValidationError) as caught:
        contradictions.create(tax_claim(), evidence_1=[uuid.uuid4()])
    assert caught.value.field == "evidence_1"

    verified = contradictions.verify(record["id"], "verified", "Checked both sources.")
    assert verified["verification_status"] == "verified"
    assert verified["reviewed_by"] == "system"
    assert is_utc(verified["reviewed_at"])
    assert verified["review_note"] == "Checked both sources."
    with pytest.raises(trae.ValidationError) as caught:
        contradictions.verify(record["id"], "disputed", "   ")
    assert caught.value.field == "note"
    with pytest.raises(trae.Conflict, match="already verified"):
        contradictions.verify(record["id"], "verified", "Again.")
    with pytest.raises(trae.ValidationError) as caught:
        contradictions.verify(record["id"], "approved", "Fine.")
    assert caught.value.field == "status" and "debunked" in str(caught.value)
    assert store.audit.list(action="contradiction.verify").total == 1

    assert contradictions.list(verification_status="verified").items == [verified]
    assert contradictions.list(verification_status="pending").total == 0
    assert contradictions.list(subject_type="politician", min_severity=8).total == 1
    assert contradictions.list(tag="taxes", content_used=False).total == 1

    used = contradictions.update(record["id"], content_used=True, clear=["date_2"])
    assert (used["content_used"], used["date_2"], used["time_gap_days"]) == (True, None, None)
    # Restating it sends it back for review.
    restated = contradictions.update(record["id"], statement_2="Taxes must rise.")
    assert (restated["verification_status"], restated["reviewed_by"]) == ("pending", None)

    assert contradictions.delete(record["id"]) is None
    with pytest.raises(trae.NotFound):
        contradictions.get(record["id"])


def test_opportunities_rank_verified_unused_records(store: trae.Store) -> None:
    c = store.contradictions
    low = c.create(tax_claim(topic="low"), severity=2, confidence=0.5, public_impact=2)
    high = c.create(tax_claim(topic="high"), severity=9, confidence=0.9, public_impact=9)
    mid = c.create(tax_claim(topic="mid"), severity=5, confidence=0.8, public_impact=5)
    pending = c.create(tax_claim(topic="pending"), severity=10, confidence=1.0, public_impact=10)
    used = c.create(tax_claim(topic="used"), severity=10, confidence=1.0, public_impact=10)
    for record in (low, high, mid, used):
        c.verify(record["id"], "verified", "Checked.")
    c.update(used["id"], content_used=True)
    assert c.get(pending["id"])["verification_status"] == "pending"

    page = c.opportunities()
    assert isinstance(page, trae.Page) and page.total == 3
    assert [o["contradiction"]["id"] for o in page] == [high["id"], mid["id"], low["id"]]
    assert set(page[0]) == {"score", "contradiction"}
    assert page[0]["score"] == pytest.approx(9 * 0.9 * 9)
    assert is_utc(page[0]["contradiction"]["created_at"])
    assert [o["contradiction"]["id"] for o in c.opportunities(limit=1, offset=1)] == [mid["id"]]


def test_analyze_stores_the_engines_verdict(store: trae.Store) -> None:
    record = store.contradictions.create(tax_claim(contradiction_type="value"))
    result = store.contradictions.analyze(record["id"])
    assert set(result) == {"contradiction", "analysis"}
    analysis = result["analysis"]
    assert analysis["label"] == "high"
    assert analysis["contradictions"][0]["type"] == "direct"
    stored = result["contradiction"]["analysis"]
    assert stored["suggested_type"] == "direct"
    assert is_utc(stored["analyzed_at"])
    assert result["contradiction"]["contradiction_type"] == "value"  # only suggested
    assert store.contradictions.get(record["id"]) == result["contradiction"]


# --- errors -----------------------------------------------------------------------------------


def test_bad_choices_and_unknown_fields_name_their_field(store: trae.Store) -> None:
    cases = [
        (lambda: store.channels.list(platform="YouTube"), "platform", "youtube, twitter"),
        (lambda: store.evidence.list(evidence_type="rumour"), "evidence_type", "statistic"),
        (
            lambda: store.contradictions.list(verification_status="done"),
            "verification_status",
            "pending",
        ),
        (lambda: store.contradictions.list(subject_type="cat"), "subject_type", "politician"),
        (
            lambda: store.contradictions.list(contradiction_type="big"),
            "contradiction_type",
            "policy_shift",
        ),
        (lambda: store.personas.list(parent_id="nope"), "parent_id", "UUID"),
        (lambda: store.channels.create(name="X", colour="red"), "colour", "unknown field"),
        (lambda: store.channels.create(name="X", platform="tv"), "platform", "unknown variant"),
        (lambda: store.channels.create(), "name", "missing field"),
        (lambda: store.personas.create(name="P", vocabulary_level="huge"), "vocabulary_level", ""),
        (lambda: store.evidence.create(topic="T", content="C", credibility=11), "credibility", ""),
        (lambda: store.channels.update(uuid.uuid4(), clear=["name"]), "clear", "clearable"),
        (lambda: store.channels.get("not-a-uuid"), "id", "UUID"),
        (lambda: store.contradictions.create(tax_claim(date_1="1 May")), "date_1", ""),
    ]
    for call, field, words in cases:
        with pytest.raises(trae.ValidationError) as caught:
            call()
        assert caught.value.field == field, (field, str(caught.value))
        assert str(caught.value).startswith(f"{field}: ")
        assert words in str(caught.value)
    with pytest.raises(TypeError, match="spec must be a dict"):
        store.channels.create(["name"])  # type: ignore[arg-type]
    with pytest.raises(trae.NotFound):
        store.channels.update(uuid.uuid4(), name="X")


# --- asyncio ----------------------------------------------------------------------------------


def test_the_asyncio_api_reaches_the_same_services(database_url: str) -> None:
    async def main() -> None:
        async with trae.aio.Store.open(database_url) as store:
            assert isinstance(store.channels, trae.aio.Channels)
            assert isinstance(store.personas, trae.aio.Personas)
            assert isinstance(store.evidence, trae.aio.Evidence)
            assert isinstance(store.contradictions, trae.aio.Contradictions)

            channel = await store.channels.create(name="Clips", platform="tiktok")
            persona = await store.personas.create(name="Quick", channel_id=channel["id"])
            assert (await store.personas.prompt(persona["id"]))["version"] == 1
            source = await store.evidence.create(topic="Tax hikes", content="A speech.")
            assert (await store.evidence.list(q="tax"))[0]["id"] == source["id"]

            record = await store.contradictions.create(tax_claim(), evidence_1=[source["id"]])
            assert isinstance(record["id"], uuid.UUID)
            assert await store.contradictions.get(record["id"]) == record
            page = await store.contradictions.list(topic="taxes")
            assert isinstance(page, trae.Page) and page.items == [record]

            assert (await store.contradictions.opportunities()).total == 0
            verified = await store.contradictions.verify(record["id"], "verified", "Sourced.")
            assert (verified["verification_status"], verified["reviewed_by"]) == (
                "verified",
                "system",
            )
            # Errors are raised when the call is awaited.
            pending = store.contradictions.verify(record["id"], "verified", "Again.")
            with pytest.raises(trae.Conflict):
                await pending
            with pytest.raises(trae.ValidationError):
                await store.channels.list(platform="radio")
            assert (await store.contradictions.opportunities()).total == 1
            analyzed = await store.contradictions.analyze(record["id"])
            assert analyzed["analysis"]["contradictions"][0]["type"] == "direct"
            assert await store.channels.delete(channel["id"], detach=True) == 1
            assert await store.evidence.delete(source["id"]) is None
        with pytest.raises(trae.Unavailable):
            await store.channels.list()

    asyncio.run(main())
