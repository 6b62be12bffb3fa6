"""Language models from Python (``store.llm``), blocking and asyncio, against a scripted
OpenAI-compatible server on 127.0.0.1 (``scripted_llm``) and, when installed, a real small
model served by llama.cpp (the ``smollm2`` fixture of conftest.py).

Routing, failover, budgets, schema checks and the repair round are tested in trae-agents;
these tests check that the binding reaches them, converts requests, answers, pieces and
errors both ways, passes the store's principal, and closes the provider's connection when
Python stops reading.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import pathlib
import signal
import threading
import time
import uuid
from typing import Any, Iterator

import pytest

import trae
import trae.aio
from scripted_llm import Answer, RawStream, ScriptedLlm, event, status, text, tool_call

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def outbound_env(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    """Lets the gateway call 127.0.0.1, with no `trae.toml` from the working directory (set
    before the `store` fixture opens its store)."""
    monkeypatch.setenv("TRAE_OUTBOUND_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("TRAE_DATA_DIR", str(tmp_path))


@pytest.fixture
def server() -> Iterator[ScriptedLlm]:
    with ScriptedLlm() as scripted:
        yield scripted


@pytest.fixture
def second() -> Iterator[ScriptedLlm]:
    with ScriptedLlm() as scripted:
        yield scripted


def register(
    store: trae.Store, name: str, server: ScriptedLlm, priority: int = 1, **metadata: Any
) -> None:
    """Registers `server` as the `llm.chat` endpoint `name` (default model "m")."""
    store.apis.create(
        name=name,
        capability="llm.chat",
        base_url=server.base_url,
        priority=priority,
        timeout_ms=5000,
        metadata=metadata or {"default_model": "m"},
    )


def token_for(store: trae.Store, username: str, role: str) -> str:
    store.users.create(
        username=username, email=f"{username}@example.com", password=PASSWORD, roles=[role]
    )
    return store.auth.login(username, PASSWORD).access_token


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


# --- whole answers ----------------------------------------------------------------------------


def test_a_chat_answers_with_usage_and_cost_and_sends_the_openai_request(
    store: trae.Store, server: ScriptedLlm
) -> None:
    register(
        store,
        "local",
        server,
        default_model="m",
        input_price_per_million=1.0,
        output_price_per_million=2.0,
    )
    server.push(text("Hello there, friend"))
    answer = store.llm.chat("hi", temperature=0.2, seed=3, stop="END")
    assert isinstance(answer, trae.ChatResponse)
    assert answer.content == "Hello there, friend"
    assert (answer.endpoint, answer.model) == ("local", "scripted"), "the provider's model name"
    assert answer.finish_reason == "stop"
    assert answer.usage == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    assert answer.usage_reported is True
    assert answer.cost == pytest.approx((10 * 1.0 + 5 * 2.0) / 1e6)
    assert isinstance(answer.latency, float) and 0 < answer.latency < 5
    assert (answer.tool_calls, answer.tools_ignored, answer.json, answer.repairs) == (
        [],
        False,
        None,
        0,
    )
    assert "'local'" in repr(answer) and "Hello there" in repr(answer)

    [sent] = server.requests
    assert sent["model"] == "m", "the endpoint's default model"
    assert sent["messages"] == [{"role": "user", "content": "hi"}]
    assert sent["temperature"] == pytest.approx(0.2)
    assert (sent["seed"], sent["stop"]) == (3, ["END"])
    assert "stream" not in sent

    store.apis.flush()
    usage = store.apis.usage("local")
    assert (usage.total, usage.successes) == (1, 1)
    assert usage.cost == pytest.approx(answer.cost), "the dollars are logged with the attempt"
    [attempt] = store.apis.logs("local")
    assert (attempt.path, attempt.model) == ("/chat/completions", "m")
    assert (attempt.prompt_tokens, attempt.completion_tokens) == (10, 5)


def test_messages_go_out_as_given(store: trae.Store, server: ScriptedLlm) -> None:
    register(store, "local", server)
    server.push(text("ok"))
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "again"},
    ]
    store.llm.chat(tuple(messages), model="other", max_tokens=7)
    sent = server.requests[0]
    assert sent["messages"] == messages
    assert (sent["model"], sent["max_tokens"]) == ("other", 7)


def test_a_persona_named_by_uuid_or_str_becomes_the_system_message(
    store: trae.Store, server: ScriptedLlm
) -> None:
    register(store, "local", server)
    ada = store.personas.create(name="Ada", description="A careful engineer", tone="formal")
    server.push(text("Good day."), text("Good day again."))
    store.llm.chat("hi", persona_id=ada["id"])
    store.llm.chat("hi", persona_id=str(ada["id"]))
    for sent in server.requests:
        assert sent["messages"][0]["role"] == "system"
        assert "Ada" in sent["messages"][0]["content"]
        assert sent["messages"][1] == {"role": "user", "content": "hi"}
    with pytest.raises(trae.NotFound):
        store.llm.chat("hi", persona_id=uuid.uuid4())
    assert len(server.requests) == 2


def test_tools_go_out_and_their_calls_come_back(store: trae.Store, server: ScriptedLlm) -> None:
    register(store, "local", server)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "read_file",
                "description": "Reads a file",
                "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
            },
        }
    ]
    server.push(tool_call("call_7", "read_file", '{"path":"a.py"}'))
    answer = store.llm.chat("read a.py", tools=tools)
    assert answer.finish_reason == "tool_calls"
    assert answer.tool_calls == [
        {"id": "call_7", "name": "read_file", "arguments": '{"path":"a.py"}'}
    ]
    assert json.loads(answer.tool_calls[0]["arguments"]) == {"path": "a.py"}
    assert answer.content is None and answer.tools_ignored is False
    assert server.requests[0]["tools"] == tools

    # The conversation goes on with the tool's result, in the OpenAI shape.
    server.push(text("I read it and will not call anything"))
    follow: list[dict[str, Any]] = [
        {"role": "user", "content": "read a.py"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
                for call in answer.tool_calls
            ],
        },
        {"role": "tool", "tool_call_id": "call_7", "content": "print(1)"},
    ]
    second = store.llm.chat(follow, tools=tools)
    assert second.tools_ignored is True, "tools offered, none called: reported"
    sent = server.requests[1]["messages"]
    assert sent[1]["tool_calls"][0]["function"] == {
        "name": "read_file",
        "arguments": '{"path":"a.py"}',
    }
    assert (sent[2]["role"], sent[2]["tool_call_id"]) == ("tool", "call_7")


PLAN_SCHEMA = {
    "type": "object",
    "required": ["steps"],
    "properties": {"steps": {"type": "array", "items": {"type": "string"}}},
    "additionalProperties": False,
}
PLAN_FORMAT = {"type": "json_schema", "json_schema": {"name": "plan", "schema": PLAN_SCHEMA}}


def test_structured_answers_are_checked_repaired_once_then_refused(
    store: trae.Store, server: ScriptedLlm
) -> None:
    register(store, "local", server)
    server.push(text('{"steps": ["a", 2]}'), text('{"steps": ["a", "b"]}'))
    answer = store.llm.chat("plan it", response_format=PLAN_FORMAT)
    assert answer.json == {"steps": ["a", "b"]}
    assert answer.repairs == 1
    assert answer.usage["prompt_tokens"] == 20, "both rounds are counted"
    first, repair = server.requests
    assert first["response_format"] == PLAN_FORMAT
    assert len(repair["messages"]) == 3
    assert repair["messages"][1] == {"role": "assistant", "content": '{"steps": ["a", 2]}'}
    assert "/steps/1" in repair["messages"][2]["content"]

    server.push(text("no idea"), text('{"steps": "one"}'))
    with pytest.raises(trae.InvalidAnswer) as invalid:
        store.llm.chat("plan it", response_format=PLAN_FORMAT)
    assert invalid.value.path == "/steps"
    assert invalid.value.code == "invalid_answer"
    assert isinstance(invalid.value, trae.UpstreamError)
    assert len(server.requests) == 4, "one repair round, no more"


# --- budgets ----------------------------------------------------------------------------------


def test_budgets_refuse_before_sending_and_a_shared_one_adds_up(
    store: trae.Store, server: ScriptedLlm
) -> None:
    register(
        store,
        "local",
        server,
        default_model="m",
        input_price_per_million=1000.0,
        output_price_per_million=2000.0,
    )
    tight = store.llm.budget(tokens=10)
    with pytest.raises(trae.BudgetExceeded) as over:
        store.llm.chat("long " * 40, budget=tight)
    assert (over.value.limit, over.value.code) == ("tokens", "budget_exceeded")
    with pytest.raises(trae.BudgetExceeded) as poor:
        store.llm.stream("hi", budget=store.llm.budget(cost=0.000001))
    assert poor.value.limit == "cost"
    assert server.requests == [], "nothing was sent"
    assert tight.spent == {"tokens": 0, "cost": 0.0, "calls": 0}

    shared = store.llm.budget(tokens=10_000, cost=10.0, wall_time=60, call_tokens=500)
    assert isinstance(shared, trae.Budget)
    assert shared.limits == {"tokens": 10_000, "cost": 10.0, "wall_time": 60.0, "call_tokens": 500}
    assert 59 < (shared.time_left or 0) <= 60
    server.push(text("one"), text("two, streamed", piece=5))
    first = store.llm.chat("hi", budget=shared)
    with store.llm.stream("again", budget=shared) as stream:
        list(stream)
    streamed = stream.response
    assert streamed is not None
    spent = shared.spent
    assert spent["calls"] == 2
    assert spent["tokens"] == first.usage["total_tokens"] + streamed.usage["total_tokens"]
    assert spent["cost"] == pytest.approx(first.cost + streamed.cost)
    assert all(sent["max_tokens"] <= 500 for sent in server.requests), "capped per call"
    assert "Budget(tokens=10000" in repr(shared)

    unlimited = store.llm.budget()
    assert unlimited.time_left is None
    assert unlimited.limits == {"tokens": None, "cost": None, "wall_time": None, "call_tokens": None}

    for bad, field in (
        ({"tokens": -1}, "tokens"),
        ({"tokens": True}, "tokens"),
        ({"tokens": 1.5}, "tokens"),
        ({"cost": "a lot"}, "cost"),
        ({"cost": -0.5}, "cost"),
        ({"wall_time": float("nan")}, "wall_time"),
        ({"wall_time": 1e300}, "wall_time"),
        ({"call_tokens": 0}, "call_tokens"),
    ):
        with pytest.raises(trae.ValidationError) as err:
            store.llm.budget(**bad)
        assert err.value.field == field, bad


# --- streams ----------------------------------------------------------------------------------


def test_a_stream_yields_pieces_then_the_whole_answer(
    store: trae.Store, server: ScriptedLlm
) -> None:
    register(store, "local", server)
    server.push(
        Answer(
            content="The answer is forty-two.",
            tool_calls=[("call_1", "lookup", '{"q":"life"}')],
            finish_reason="tool_calls",
            usage=(12, 9),
            piece=3,
        )
    )
    with store.llm.stream([{"role": "user", "content": "what is it?"}]) as stream:
        assert isinstance(stream, trae.ChatStream)
        assert (stream.model, stream.endpoint, stream.response) == ("m", "local", None)
        pieces = list(stream)
    texts = [p["content"] for p in pieces if "content" in p]
    calls = [p["tool_call"] for p in pieces if "tool_call" in p]
    assert len(texts) + len(calls) == len(pieces)
    assert "".join(texts) == "The answer is forty-two." and len(texts) > 5, "in pieces"
    assert calls[0] == {"index": 0, "id": "call_1", "name": "lookup", "arguments": ""}
    assert all(c["index"] == 0 and c["id"] is None and c["name"] is None for c in calls[1:])
    assert "".join(c["arguments"] for c in calls) == '{"q":"life"}'

    answer = stream.response
    assert isinstance(answer, trae.ChatResponse)
    assert answer.content == "The answer is forty-two."
    assert answer.tool_calls == [{"id": "call_1", "name": "lookup", "arguments": '{"q":"life"}'}]
    assert (answer.finish_reason, answer.endpoint, answer.model) == (
        "tool_calls",
        "local",
        "scripted",
    ), "the model the provider's chunks name"

    assert answer.usage["total_tokens"] == 21 and answer.usage_reported

    # chat(stream=True) is the same stream.
    server.push(Answer(content="again", piece=2))
    with store.llm.chat("once more", stream=True) as again:
        assert isinstance(again, trae.ChatStream)
        assert "".join(p.get("content", "") for p in again) == "again"
    assert again.response is not None and again.response.content == "again"
    assert server.requests[-1]["stream"] is True
    with pytest.raises(StopIteration):
        next(stream)

    sent = server.requests[0]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert server.headers[0]["accept"] == "text/event-stream"


def test_closing_a_stream_early_closes_the_upstream_connection(
    store: trae.Store, server: ScriptedLlm
) -> None:
    register(store, "local", server, default_model="m", output_price_per_million=1.0)
    long_answer = "a long answer that goes on and on " * 20
    server.push(Answer(content=long_answer, usage=(10, 200), piece=2, delay=0.02))
    budget = store.llm.budget()
    with store.llm.stream("talk", budget=budget) as stream:
        first = [next(stream) for _ in range(3)]
    assert all("content" in piece for piece in first)
    assert list(stream) == [], "closed: the iteration ends"
    assert stream.response is None
    assert server.wait_cut_short(1) == 1, "the provider saw the connection close"
    assert wait_for(lambda: budget.spent["calls"] == 1), "what was used is charged"
    assert budget.spent["tokens"] > 10
    store.apis.flush()
    [attempt] = store.apis.logs("local")
    assert attempt.error == "the caller stopped reading"

    # A stream Python lets go of without closing it is closed too.
    server.push(Answer(content=long_answer, piece=2, delay=0.02))
    dropped = store.llm.stream("talk")
    next(dropped)
    del dropped
    gc.collect()
    assert server.wait_cut_short(2) == 2


def test_an_error_mid_answer_raises_from_the_iteration(
    store: trae.Store, server: ScriptedLlm
) -> None:
    register(store, "local", server)
    server.push(
        RawStream([event({"content": "par"}), b"data: {not json}\n\n"]),
        RawStream([event({"content": "tial"})], cut=True),
    )
    for expected in ("par", "tial"):
        stream = store.llm.stream("hi")
        assert next(stream) == {"content": expected}
        with pytest.raises(trae.UpstreamError) as failed:
            next(stream)
        assert failed.value.code == "upstream_failed" and "local" in str(failed.value)
        assert list(stream) == [] and stream.response is None
    assert len(server.requests) == 2, "not retried once the answer had begun"


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need the main thread"
)
def test_ctrl_c_interrupts_a_waiting_stream(store: trae.Store, server: ScriptedLlm) -> None:
    register(store, "local", server)
    server.push(Answer(content="slow", piece=1, delay=1.0))
    with store.llm.stream("hi") as stream:
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            next(stream)
        assert time.monotonic() - started < 1, "seen between short waits"


# --- failures ---------------------------------------------------------------------------------


def test_a_503_endpoint_fails_over_to_the_next(
    store: trae.Store, server: ScriptedLlm, second: ScriptedLlm
) -> None:
    register(store, "first", server, priority=1)
    register(store, "second", second, priority=2)
    server.push(*[status(503, {"error": {"message": "overloaded"}}) for _ in range(3)])
    second.push(text("from the second"))
    answer = store.llm.chat("hi")
    assert (answer.endpoint, answer.content) == ("second", "from the second")
    assert len(server.requests) == 3, "retried on the first, then failed over"


def test_a_429_waits_for_retry_after(store: trae.Store, server: ScriptedLlm) -> None:
    register(store, "local", server)
    server.push(status(429, retry_after=1), text("after the wait"))
    started = time.monotonic()
    assert store.llm.chat("hi").content == "after the wait"
    assert time.monotonic() - started >= 0.9, "Retry-After was honoured"


def test_a_provider_400_is_an_upstream_error(store: trae.Store, server: ScriptedLlm) -> None:
    register(store, "local", server)
    server.push(status(400, {"error": {"message": "model m does not exist"}}))
    with pytest.raises(trae.UpstreamError) as failed:
        store.llm.chat("hi")
    assert not isinstance(failed.value, trae.InvalidAnswer)
    assert failed.value.code == "upstream_failed"
    assert "model m does not exist" in str(failed.value) and "400" in str(failed.value)
    assert len(server.requests) == 1, "a 400 is not retried"


def test_an_unknown_pinned_model_is_not_found(store: trae.Store, server: ScriptedLlm) -> None:
    register(store, "pinned", server, models=["x"])
    with pytest.raises(trae.NotFound) as missing:
        store.llm.chat("hi", model="y")
    assert "y" in str(missing.value) and missing.value.code == "not_found"
    with pytest.raises(trae.NotFound):
        store.llm.stream("hi", model="y")
    assert server.requests == []
    server.push(text("from x"))
    assert store.llm.chat("hi", model="x").content == "from x"
    assert server.requests[0]["model"] == "x"


def test_bad_arguments_raise_validation_errors_naming_the_field(
    store: trae.Store, server: ScriptedLlm
) -> None:
    register(store, "local", server)
    user = {"role": "user", "content": "x"}
    cases: list[tuple[Any, dict[str, Any], str]] = [
        ([{"role": "robot", "content": "x"}], {}, "messages[0].role"),
        ([user, {"content": "x"}], {}, "messages[1].role"),
        (user, {}, "messages"),
        (42, {}, "messages"),
        (None, {}, "messages"),
        ([user, "hello"], {}, "messages[1]"),
        ([{"role": "user", "content": 5}], {}, "messages[0].content"),
        ([{"role": "user", "content": object()}], {}, "messages[0].content"),
        ([{"role": "user", "content": "x", "mood": "happy"}], {}, "messages[0].mood"),
        ("hi", {"model": 7}, "model"),
        ("hi", {"temperature": "hot"}, "temperature"),
        ("hi", {"temperature": 3.0}, "temperature"),
        ("hi", {"max_tokens": -1}, "max_tokens"),
        ("hi", {"seed": "s"}, "seed"),
        ("hi", {"stop": [1]}, "stop[0]"),
        ("hi", {"stop": [object()]}, "stop[0]"),
        ("hi", {"persona_id": "not-a-uuid"}, "persona_id"),
        ("hi", {"persona_id": 3.5}, "persona_id"),
        ("hi", {"response_format": {"type": "yaml"}}, "response_format.type"),
        ("hi", {"tools": [{"type": "function"}]}, "tools[0].function"),
        ("hi", {"tools": "all of them"}, "tools"),
        ("hi", {"budget": "lots"}, "budget"),
    ]
    for messages, extra, field in cases:
        for call in (store.llm.chat, store.llm.stream):
            with pytest.raises(trae.ValidationError) as err:
                call(messages, **extra)
            assert err.value.field == field, (messages, extra, str(err.value))
            assert err.value.code == "validation_failed"
    assert server.requests == [], "nothing was sent"


def test_a_closed_store_is_unavailable(tmp_path: pathlib.Path) -> None:
    store = trae.Store(f"sqlite://{tmp_path / 'closed.db'}")
    llm = store.llm
    store.close()
    for call in (lambda: llm.chat("hi"), lambda: llm.models(), lambda: llm.budget()):
        with pytest.raises(trae.Unavailable):
            call()


# --- models -----------------------------------------------------------------------------------


def test_models_lists_the_llm_endpoints_with_their_metadata(
    store: trae.Store, server: ScriptedLlm, second: ScriptedLlm
) -> None:
    register(
        store,
        "openai",
        server,
        priority=1,
        models=["gpt-4o-mini", "gpt-4o"],
        context_window=128000,
        input_price_per_million=0.15,
        output_price_per_million=0.6,
    )
    register(store, "local", second, priority=2, default_model="smollm2", json_schema=False)
    store.apis.create(name="search", capability="search", base_url="https://a.example")
    page = store.llm.models()
    assert isinstance(page, trae.Page) and page.total == 2
    assert [m.endpoint for m in page] == ["openai", "local"], "by priority"
    cloud, local = page
    assert isinstance(cloud, trae.ModelEndpoint)
    assert (cloud.models, cloud.default_model, cloud.context_window) == (
        ["gpt-4o-mini", "gpt-4o"],
        None,
        128000,
    )
    assert (cloud.input_price_per_million, cloud.output_price_per_million) == (0.15, 0.6)
    assert (cloud.json_schema, cloud.is_active, cloud.health) == (True, True, "unknown")
    assert (local.default_model, local.models, local.context_window) == ("smollm2", [], None)
    assert (local.input_price_per_million, local.output_price_per_million) == (None, None)
    assert local.json_schema is False
    assert "'openai'" in repr(cloud) and "gpt-4o-mini" in repr(cloud)
    later = store.llm.models(limit=1, offset=1)
    assert ([m.endpoint for m in later], later.total) == (["local"], 2)
    with pytest.raises(trae.ValidationError) as err:
        store.llm.models(limit=0)
    assert err.value.field == "limit"


# --- who may call -----------------------------------------------------------------------------


def test_a_viewer_is_refused_and_a_user_may_call_models(
    store: trae.Store, server: ScriptedLlm
) -> None:
    register(store, "local", server)
    viewer = store.as_user(token_for(store, "vera", "viewer"))
    for attempt in (
        lambda: viewer.llm.chat("hi"),
        lambda: viewer.llm.stream("hi"),
        lambda: viewer.llm.models(),
        lambda: viewer.llm.chat("hi", budget=store.llm.budget()),
    ):
        with pytest.raises(trae.PermissionDenied) as denied:
            attempt()
        assert "llm:use" in str(denied.value)
    assert server.requests == [], "a refused call sends nothing"

    user_token = token_for(store, "ada", "user")
    ada = store.as_user(user_token)
    server.push(text("yes"), text("streamed yes"))
    assert ada.llm.chat("hi").content == "yes"
    assert "".join(p["content"] for p in ada.llm.stream("hi")) == "streamed yes"
    assert [m.endpoint for m in ada.llm.models()] == ["local"]

    # A key of that user scoped to other things may not use models on the user's behalf.
    key = store.api_keys.create(
        store.auth.authenticate(user_token), name="ci", scopes=["pets:read"]
    )
    with pytest.raises(trae.PermissionDenied, match="llm:use"):
        store.as_user(key.key).llm.chat("hi")
    assert len(server.requests) == 2


def test_exceptions_and_classes_are_exported() -> None:
    assert issubclass(trae.InvalidAnswer, trae.UpstreamError)
    assert issubclass(trae.BudgetExceeded, trae.TraeError)
    assert (trae.InvalidAnswer.code, trae.InvalidAnswer.path) == ("invalid_answer", "")
    assert (trae.BudgetExceeded.code, trae.BudgetExceeded.limit) == ("budget_exceeded", "")
    for name in (
        "InvalidAnswer",
        "BudgetExceeded",
        "Llm",
        "ChatResponse",
        "ChatStream",
        "ModelEndpoint",
        "Budget",
    ):
        assert name in trae.__all__ and hasattr(trae, name), name
    for name in ("Llm", "ChatStream"):
        assert name in trae.aio.__all__ and hasattr(trae.aio, name), name


# --- asyncio ----------------------------------------------------------------------------------


def test_asyncio_mirror(database_url: str, server: ScriptedLlm) -> None:
    async def main() -> None:
        async with trae.aio.Store.open(database_url) as store:
            assert isinstance(store.llm, trae.aio.Llm)
            await store.apis.create(
                name="local",
                capability="llm.chat",
                base_url=server.base_url,
                timeout_ms=5000,
                metadata={"default_model": "m"},
            )
            server.push(text("async hello"), text("streamed reply", piece=3))
            answers = await asyncio.gather(store.llm.chat("hi"), store.llm.models())
            answer, models = answers
            assert isinstance(answer, trae.ChatResponse) and answer.content == "async hello"
            assert [m.endpoint for m in models] == ["local"]

            stream = await store.llm.stream("hi")
            assert isinstance(stream, trae.aio.ChatStream)
            assert (stream.endpoint, stream.response) == ("local", None)
            pieces = [piece async for piece in stream]
            assert "".join(p["content"] for p in pieces) == "streamed reply"
            assert len(pieces) > 1
            assert stream.response is not None and stream.response.content == "streamed reply"

            budget = store.llm.budget(tokens=5)
            with pytest.raises(trae.BudgetExceeded) as over:
                await store.llm.chat("long " * 40, budget=budget)
            assert over.value.limit == "tokens"
            with pytest.raises(trae.ValidationError) as bad:
                await store.llm.stream([{"role": "robot", "content": "x"}])
            assert bad.value.field == "messages[0].role"

            server.push(Answer(content="on and on " * 50, piece=2, delay=0.02))
            async with await store.llm.stream("talk") as early:
                assert "content" in await early.__anext__()
            assert [piece async for piece in early] == []
            assert server.wait_cut_short(1) == 1, "the provider saw the connection close"
            assert len(server.requests) == 3

    asyncio.run(main())


# --- a real model -----------------------------------------------------------------------------


def test_a_real_model_answers_whole_and_streamed(
    smollm2: str, tmp_path: pathlib.Path
) -> None:
    with trae.Store(f"sqlite://{tmp_path / 'real.db'}") as store:
        store.apis.create(
            name="smollm2",
            capability="llm.chat",
            base_url=smollm2,
            timeout_ms=60000,
            metadata={"models": ["smollm2"]},
        )
        ask = [{"role": "user", "content": "Say hello in three words."}]
        answer = store.llm.chat(ask, model="smollm2", max_tokens=16, temperature=0)
        assert answer.content and answer.content.strip(), answer
        assert answer.usage_reported is True
        assert answer.usage["completion_tokens"] > 0 and answer.endpoint == "smollm2"
        assert answer.finish_reason in ("stop", "length")

        with store.llm.stream(ask, model="smollm2", max_tokens=16, temperature=0) as stream:
            pieces = list(stream)
        assert pieces and all("content" in piece for piece in pieces)
        streamed = stream.response
        assert streamed is not None
        assert streamed.content == "".join(piece["content"] for piece in pieces)
        assert streamed.usage_reported is True, "stream_options.include_usage"

        # A JSON-schema answer end to end: llama.cpp constrains the model with the schema,
        # and trae checks what comes back.
        schema = {
            "type": "object",
            "properties": {"word": {"type": "string", "maxLength": 12}},
            "required": ["word"],
            "additionalProperties": False,
        }
        shaped = store.llm.chat(
            [{"role": "user", "content": "Give one word for the sea."}],
            model="smollm2",
            max_tokens=48,
            temperature=0,
            response_format={"type": "json_schema", "json_schema": {"name": "word", "schema": schema}},
        )
        assert isinstance(shaped.json, dict) and isinstance(shaped.json["word"], str), shaped
        assert set(shaped.json) == {"word"}
