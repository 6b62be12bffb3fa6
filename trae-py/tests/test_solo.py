"""The SOLO agent's genesis interviews from Python (``store.solo``), blocking and asyncio,
on the project-type templates (no model is registered, so the templates ask every question
and write the spec from the answers).

The interview's rules (checks on ideas and answers, revisions, who asks next, the spec
written from the answers, permissions) are tested in trae-agents; these tests check that the
binding reaches them under the store's principal, converts interviews, turns and specs, and
maps errors to ``trae.TraeError`` subclasses with a message.
"""

from __future__ import annotations

import asyncio
import datetime
import pathlib
import uuid
from typing import Any, Callable, TypeVar

import pytest

import trae
import trae.aio

PASSWORD = "correct horse battery"
IDEA = "A todo API\nfor small teams"
# The template questions of every project type, in order, and an answer to each.
ANSWERS = [
    ("shape", "todos: list, create, complete"),
    ("users", "- developers\n- team leads"),
    ("goals", "track work\nshare lists"),
    (
        "features",
        "create a todo: POST /todos answers 201\nlist todos: GET /todos lists them newest first",
    ),
    ("constraints", "Rust\nPostgreSQL"),
    ("out_of_scope", "billing"),
]

E = TypeVar("E", bound=trae.TraeError)


@pytest.fixture(autouse=True)
def agent_env(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    """No `trae.toml` from the working directory (set before the `store` fixture opens its
    store)."""
    monkeypatch.setenv("TRAE_DATA_DIR", str(tmp_path))


def token_for(store: trae.Store, username: str, role: str) -> str:
    store.users.create(
        username=username, email=f"{username}@example.com", password=PASSWORD, roles=[role]
    )
    return store.auth.login(username, PASSWORD).access_token


def aware(stamp: datetime.datetime | None) -> bool:
    return stamp is not None and stamp.utcoffset() == datetime.timedelta(0)


def interview_to_the_end(solo: trae.Solo) -> trae.SoloInterview:
    """An 'api' interview on `IDEA` with every template question answered from `ANSWERS`."""
    interview = solo.start("api", IDEA)
    for key, answer in ANSWERS:
        pending = interview.pending
        assert pending is not None and pending.key == key, (key, interview.turns)
        interview = solo.answer(interview.id, answer)
    return interview


# --- a whole interview ------------------------------------------------------------------------


def test_a_template_interview_ends_in_a_spec_and_a_revision_writes_version_two(
    store: trae.Store,
) -> None:
    started = store.solo.start("api", IDEA)
    assert isinstance(started, trae.SoloInterview)
    assert isinstance(started.id, uuid.UUID) and started.owner_id is None, "the system's own"
    assert (started.project_type, started.idea, started.status, started.spec_version) == (
        "api",
        IDEA,
        "open",
        0,
    )
    assert aware(started.created_at) and aware(started.updated_at)
    [first] = started.turns
    assert isinstance(first, trae.SoloTurn)
    assert (first.index, first.key, first.source, first.fallback, first.answer) == (
        0,
        "shape",
        "template",
        None,
        None,
    )
    assert "resources" in first.question and aware(first.asked_at) and first.answered_at is None
    assert started.pending is not None and started.pending.index == 0
    assert "'api'" in repr(started) and "'open'" in repr(started)
    assert "'shape'" in repr(first)

    interview = started
    for key, answer in ANSWERS:
        pending = interview.pending
        assert pending is not None and pending.key == key
        interview = store.solo.answer(str(interview.id), answer)
        answered = interview.turns[pending.index]
        assert answered.answer == answer.strip() and aware(answered.answered_at)
    assert (interview.status, interview.spec_version, interview.pending) == ("complete", 1, None)
    turns = interview.turns
    assert [t.key for t in turns] == [key for key, _ in ANSWERS]
    assert [t.index for t in turns] == list(range(6))
    assert all(t.source == "template" for t in turns)
    assert all(t.fallback for t in turns[1:]), "the templates stood in for the missing model"

    spec = store.solo.spec(interview.id)
    assert isinstance(spec, trae.SoloSpec)
    assert (spec.interview_id, spec.version, spec.project_type, spec.source) == (
        interview.id,
        1,
        "api",
        "template",
    )
    assert spec.markdown.startswith("# A todo API\n"), spec.markdown
    assert "- [ ] POST /todos answers 201" in spec.markdown
    body: dict[str, Any] = spec.spec
    assert body["title"] == "A todo API"
    assert body["users"] == ["developers", "team leads"]
    assert body["goals"] == ["track work", "share lists"]
    assert body["features"][0] == {
        "name": "create a todo",
        "description": "",
        "acceptance": ["POST /todos answers 201"],
    }
    assert body["constraints"] == ["Rust", "PostgreSQL"] and body["out_of_scope"] == ["billing"]
    assert spec.spec is not spec.spec, "a new dict on each access"
    assert aware(spec.created_at) and "version=1" in repr(spec)

    got = store.solo.get(interview.id)
    assert (got.id, got.status, len(got.turns)) == (interview.id, "complete", 6)
    assert got.turns[5].answer == "billing"

    revised = store.solo.revise(interview.id, 5, "billing\nmobile apps")
    assert (revised.status, revised.spec_version, len(revised.turns)) == ("complete", 2, 6)
    assert revised.turns[5].answer == "billing\nmobile apps"
    latest = store.solo.spec(interview.id)
    assert latest.version == 2 and latest.spec["out_of_scope"] == ["billing", "mobile apps"]
    first_spec = store.solo.spec(interview.id, 1)
    assert first_spec.version == 1 and first_spec.spec["out_of_scope"] == ["billing"]
    assert store.solo.spec(interview.id, version=2).markdown == latest.markdown

    # Revising an earlier turn drops the turns after it; the templates ask them again.
    reopened = store.solo.revise(interview.id, 1, "operators")
    assert (reopened.status, reopened.spec_version, len(reopened.turns)) == ("open", 2, 3)
    assert reopened.pending is not None and reopened.pending.key == "goals"
    assert store.solo.spec(interview.id).version == 2, "the old spec stays readable"

    page = store.solo.list()
    assert isinstance(page, trae.Page) and page.total == 1
    assert [i.id for i in page] == [interview.id]
    other = store.solo.start("cli", "A tool")
    assert [i.id for i in store.solo.list()] == [other.id, interview.id], "newest first"
    assert [i.id for i in store.solo.list(limit=1, offset=1)] == [interview.id]


# --- asyncio ----------------------------------------------------------------------------------


def test_asyncio_mirror(database_url: str) -> None:
    async def main() -> None:
        async with trae.aio.Store.open(database_url) as store:
            assert isinstance(store.solo, trae.aio.Solo)
            interview = await store.solo.start("web_app", "A recipe site")
            assert isinstance(interview, trae.SoloInterview)
            assert interview.project_type == "web_app" and interview.status == "open"
            for _, answer in ANSWERS:
                interview = await store.solo.answer(interview.id, answer)
            assert (interview.status, interview.spec_version) == ("complete", 1)
            got, page, spec = await asyncio.gather(
                store.solo.get(interview.id),
                store.solo.list(),
                store.solo.spec(interview.id),
            )
            assert got.id == interview.id and len(got.turns) == 6
            assert [i.id for i in page] == [interview.id]
            assert spec.markdown.startswith("# A recipe site\n") and spec.source == "template"
            revised = await store.solo.revise(interview.id, 5, "payments")
            assert revised.spec_version == 2
            assert (await store.solo.spec(interview.id, 1)).version == 1

            # Errors are raised when awaited, as the same exceptions.
            pending = store.solo.start("game", "A game")  # type: ignore[arg-type]
            with pytest.raises(trae.ValidationError) as bad:
                await pending
            assert bad.value.field == "project_type"
            with pytest.raises(trae.NotFound):
                await store.solo.get(uuid.uuid4())
            with pytest.raises(trae.Conflict):
                await store.solo.answer(interview.id, "more")

    asyncio.run(main())


# --- bad input and who may do what ------------------------------------------------------------


def test_bad_input_raises_trae_errors_with_a_message(store: trae.Store) -> None:
    def raises(kind: type[E], call: Callable[[], object]) -> E:
        with pytest.raises(kind) as err:
            call()
        assert str(err.value), "a message"
        assert isinstance(err.value, trae.TraeError)
        return err.value

    for idea in ("", "   \n"):
        blank = raises(trae.ValidationError, lambda: store.solo.start("api", idea))
        assert blank.field == "idea" and "blank" in str(blank)
    unknown = raises(
        trae.ValidationError,
        lambda: store.solo.start("game", "A game"),  # type: ignore[arg-type]
    )
    assert unknown.field == "project_type" and unknown.code == "validation_failed"
    for name in ("web_app", "api", "cli", "library", "data_pipeline", "other"):
        assert name in str(unknown), "the message names the types"
    assert store.solo.list().total == 0, "nothing was started"

    interview = store.solo.start("library", "A date library")
    blank_answer = raises(trae.ValidationError, lambda: store.solo.answer(interview.id, "  "))
    assert blank_answer.field == "answer"
    unanswered = raises(trae.ValidationError, lambda: store.solo.revise(interview.id, 0, "x"))
    assert unanswered.field == "index" and "no answer" in str(unanswered)
    beyond = raises(trae.ValidationError, lambda: store.solo.revise(interview.id, 7, "x"))
    assert beyond.field == "index"
    negative = raises(trae.ValidationError, lambda: store.solo.revise(interview.id, -1, "x"))
    assert negative.field == "index"
    no_spec = raises(trae.NotFound, lambda: store.solo.spec(interview.id))
    assert no_spec.code == "not_found"
    assert store.solo.get(interview.id).turns[0].answer is None, "nothing was written"

    done = interview_to_the_end(store.solo)
    complete = raises(trae.Conflict, lambda: store.solo.answer(done.id, "one more thing"))
    assert complete.code == "conflict" and "revise" in str(complete)
    raises(trae.NotFound, lambda: store.solo.spec(done.id, 2))
    raises(trae.ValidationError, lambda: store.solo.spec(done.id, -1))

    missing = uuid.uuid4()
    raises(trae.NotFound, lambda: store.solo.get(missing))
    raises(trae.NotFound, lambda: store.solo.answer(missing, "yes"))
    raises(trae.NotFound, lambda: store.solo.revise(missing, 0, "yes"))
    raises(trae.NotFound, lambda: store.solo.spec(missing))
    bad_id = raises(trae.ValidationError, lambda: store.solo.get("not-a-uuid"))
    assert bad_id.field == "id"
    with pytest.raises(TypeError):
        store.solo.get(42)  # type: ignore[arg-type]
    with pytest.raises(trae.ValidationError) as limit:
        store.solo.list(limit=0)
    assert limit.value.field == "limit"


def test_only_agents_run_may_interview_and_an_interview_is_hidden_from_other_developers(
    store: trae.Store,
) -> None:
    user = store.as_user(token_for(store, "plain", "user"))
    with pytest.raises(trae.PermissionDenied, match="agents:run"):
        user.solo.start("api", IDEA)
    with pytest.raises(trae.PermissionDenied):
        user.solo.list()
    assert store.solo.list().total == 0

    alice_token = token_for(store, "alice", "developer")
    alice = store.as_user(alice_token)
    mallory = store.as_user(token_for(store, "mallory", "developer"))
    interview = interview_to_the_end(alice.solo)
    assert interview.owner_id == store.auth.authenticate(alice_token).user_id

    attempts: list[Callable[[], object]] = [
        lambda: mallory.solo.get(interview.id),
        lambda: mallory.solo.answer(interview.id, "mine now"),
        lambda: mallory.solo.revise(interview.id, 0, "mine now"),
        lambda: mallory.solo.spec(interview.id),
        lambda: mallory.solo.spec(interview.id, 1),
    ]
    for attempt in attempts:
        with pytest.raises(trae.NotFound) as hidden:
            attempt()
        assert hidden.value.code == "not_found"
    assert mallory.solo.list().total == 0, "another developer's interviews are not listed"
    with pytest.raises(trae.PermissionDenied):
        user.solo.get(interview.id)

    mine = alice.solo.get(interview.id)
    assert (mine.spec_version, mine.turns[0].answer) == (1, ANSWERS[0][1])
    assert alice.solo.spec(interview.id).version == 1, "the failed attempts changed nothing"
    assert alice.solo.list().total == 1 and store.solo.list().total == 1, "the system sees all"


def test_classes_are_exported() -> None:
    for name in ("Solo", "SoloInterview", "SoloTurn", "SoloSpec"):
        assert name in trae.__all__ and hasattr(trae, name), name
    assert "Solo" in trae.aio.__all__ and hasattr(trae.aio, "Solo")
