"""External APIs from Python: the registry (``store.apis``) and the orchestrator
(``store.orchestrator``), blocking and asyncio, against real HTTP servers on 127.0.0.1.

Routing, limits, retries, failover, health and credential injection are tested in trae-core
and trae-agents; these tests check that the binding reaches them, converts specs, calls and
answers both ways, maps the orchestrator's errors, and needs credentials only for calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

import trae
import trae.aio

PASSWORD = "correct horse battery"
UTC = dt.timezone.utc
#: base64 of 32 bytes, the master key the PostgreSQL variant shares.
MASTER_KEY = "BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU="


# --- upstream servers -------------------------------------------------------------------------


@dataclasses.dataclass
class Seen:
    """One request an upstream received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Upstream:
    """An HTTP server on 127.0.0.1 in a thread; `mode` says how it answers, `seen` records
    every request."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with upstream.lock:
                    upstream.seen.append(
                        Seen(
                            self.command,
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                        )
                    )
                    count = len(upstream.seen)
                if upstream.mode == "down" or (upstream.mode == "flaky" and count == 1):
                    status = 503 if upstream.mode == "down" else 429
                    payload = b'{"error": "try later"}'
                    self.send_response(status)
                    if status == 429:
                        self.send_header("Retry-After", "1")
                else:
                    status = 200
                    payload = json.dumps(
                        {"ok": True, "method": self.command, "path": self.path}
                    ).encode()
                    self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Upstream", upstream.mode)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def healthy() -> Iterator[Upstream]:
    """Answers 200 with JSON and records what it received."""
    upstream = Upstream("ok")
    yield upstream
    upstream.close()


@pytest.fixture
def down() -> Iterator[Upstream]:
    """Always answers 503."""
    upstream = Upstream("down")
    yield upstream
    upstream.close()


@pytest.fixture
def flaky() -> Iterator[Upstream]:
    """Answers 429 with `Retry-After: 1` once, then 200."""
    upstream = Upstream("flaky")
    yield upstream
    upstream.close()


@pytest.fixture(autouse=True)
def outbound_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Lets the orchestrator call 127.0.0.1, with no `trae.toml` from the working directory."""
    monkeypatch.setenv("TRAE_OUTBOUND_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("TRAE_DATA_DIR", str(tmp_path))


@pytest.fixture
def api_store(database_url: str, backend: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[trae.Store]:
    """A store whose orchestrator opens: `TRAE_MASTER_KEY` on PostgreSQL, the key file on
    SQLite."""
    if backend == "postgres":
        monkeypatch.setenv("TRAE_MASTER_KEY", MASTER_KEY)
    else:
        monkeypatch.delenv("TRAE_MASTER_KEY", raising=False)
    with trae.Store(database_url) as store:
        yield store


@pytest.fixture
def sqlite_store(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[trae.Store]:
    """A SQLite store for the orchestrator's behaviours (the same code runs on PostgreSQL)."""
    monkeypatch.delenv("TRAE_MASTER_KEY", raising=False)
    with trae.Store(f"sqlite://{tmp_path / 'apis.db'}") as store:
        yield store


# --- the registry -----------------------------------------------------------------------------


def test_crud_without_credentials(
    database_url: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry needs no master key, even on PostgreSQL; only calls and checks do."""
    monkeypatch.delenv("TRAE_MASTER_KEY", raising=False)
    with trae.Store(database_url) as store:
        apis = store.apis
        assert isinstance(apis, trae.Apis) and store.apis is apis
        assert isinstance(store.orchestrator, trae.Orchestrator)
        before = dt.datetime.now(UTC)
        created = apis.create(
            {
                "name": "search-a",
                "capability": "search",
                "base_url": "https://a.example/v1/",
                "auth": {"type": "header", "secret": "SEARCH_KEY", "name": "X-API-Key"},
                "limits": {"per_minute": 60, "per_day": 1000},
                "cost_per_request": 0.5,
                "tags": ["eu", "cheap"],
                "metadata": {"owner": "ml", "nested": {"x": [1, None]}},
            },
            priority=2,
        )
        assert isinstance(created, trae.ApiEndpoint)
        assert (created.name, created.capability) == ("search-a", "search")
        assert created.base_url == "https://a.example/v1", "normalized by the registry"
        assert created.auth == {"type": "header", "secret": "SEARCH_KEY", "name": "X-API-Key"}
        assert created.limits == {"per_minute": 60, "per_hour": None, "per_day": 1000}
        assert created.priority == 2 and created.cost_per_request == 0.5
        assert created.timeout_ms == 30000 and created.is_active is True
        assert created.health_check == {"path": "/", "interval_secs": 60}
        assert created.tags == ["cheap", "eu"]
        assert created.metadata == {"owner": "ml", "nested": {"x": [1, None]}}
        assert created.health == "unknown" and created.consecutive_failures == 0
        assert created.last_check_at is None and created.last_error is None
        assert created.created_at.tzinfo is not None
        assert before - dt.timedelta(seconds=5) <= created.created_at <= dt.datetime.now(UTC)
        assert "search-a" in repr(created) and "SEARCH_KEY" not in repr(created)
        assert created.to_dict()["auth"] == created.auth
        assert created.to_dict()["updated_at"] == created.updated_at

        got = apis.get("search-a")
        # Compared as Python sees them: the registry stamps `create` with nanoseconds, which
        # PostgreSQL keeps to the microsecond.
        assert got.to_dict() == created.to_dict()
        assert got == apis.get("search-a") and hash(got) == hash(apis.get("search-a"))

        spec = created.to_spec()
        spec["priority"] = 7
        spec["is_active"] = False
        updated = apis.update("search-a", spec)
        assert (updated.priority, updated.is_active) == (7, False)
        assert updated.created_at == created.created_at
        assert updated.auth == created.auth
        again = apis.update(
            "search-a", name="search-a", capability="search", base_url="https://a.example"
        )
        assert again.auth == {"type": "none", "secret": None, "name": None}, "a full replacement"
        with pytest.raises(trae.ValidationError) as err:
            apis.update("search-a", spec | {"name": "renamed"})
        assert err.value.field == "name"
        with pytest.raises(trae.NotFound):
            apis.update("nothing", spec | {"name": "nothing"})

        usage = apis.usage("search-a")
        assert isinstance(usage, trae.ApiUsage)
        assert (usage.endpoint, usage.total, usage.success_rate, usage.last_used_at) == (
            "search-a",
            0,
            0.0,
            None,
        )
        logs = apis.logs("search-a")
        assert isinstance(logs, trae.Page) and logs.total == 0

        apis.delete("search-a")
        for call in (
            lambda: apis.get("search-a"),
            lambda: apis.delete("search-a"),
            lambda: apis.usage("search-a"),
            lambda: apis.logs("search-a"),
        ):
            with pytest.raises(trae.NotFound) as missing:
                call()
            assert missing.value.code == "not_found"

        if backend == "postgres":
            # Credentials are read from the vault only when an endpoint needs them: without
            # TRAE_MASTER_KEY an endpoint without credentials is still called (and fails here
            # to resolve: `.example` never does), one with a vault secret is a configuration
            # error.
            apis.create(name="open", capability="search", base_url="https://a.example")
            with pytest.raises(trae.UpstreamError) as refused:
                store.orchestrator.call("search", "/q")
            assert "open: connect" in str(refused.value)
            assert "credentials" not in str(refused.value)
            apis.create(
                name="p",
                capability="keyed",
                base_url="https://a.example",
                auth={"type": "bearer", "secret": "TOKEN"},
            )
            with pytest.raises(trae.UpstreamError) as unavailable:
                store.orchestrator.call("keyed", "/q")
            assert "credentials unavailable" in str(unavailable.value)
            assert "TRAE_MASTER_KEY is required" in str(unavailable.value)


def test_specs_that_break_rules_raise_validation_errors(sqlite_store: trae.Store) -> None:
    apis = sqlite_store.apis
    base = {"name": "a", "capability": "c", "base_url": "https://a.example"}
    cases = [
        (base | {"base_url": "ftp://a.example"}, "base_url"),
        (base | {"base_url": "not a url"}, "base_url"),
        (base | {"base_url": "https://user:pw@a.example"}, "base_url"),
        (base | {"secret_value": "sk-123"}, "secret_value"),
        (base | {"auth": {"type": "bearer", "secret": "K", "value": "x"}}, "auth.value"),
        ({"name": "a", "capability": "c"}, "base_url"),
        (base | {"capability": "Text Gen"}, "capability"),
        (base | {"limits": {"per_minute": 0}}, "limits.per_minute"),
        (base | {"timeout_ms": 0}, "timeout_ms"),
        (base | {"priority": "high"}, "priority"),
        (base | {"metadata": [1, 2]}, "metadata"),
        (base | {"tags": [object()]}, "spec"),
    ]
    for spec, field in cases:
        with pytest.raises(trae.ValidationError) as err:
            apis.create(spec)
        assert err.value.code == "validation_failed"
        assert err.value.field == field, (spec, str(err.value))
    with pytest.raises(trae.ValidationError) as unknown:
        apis.create(base, secret_value="sk-123")
    assert "unknown field `secret_value`" in str(unknown.value)
    with pytest.raises(TypeError, match="spec must be a dict"):
        apis.create("https://a.example")  # type: ignore[arg-type]
    assert apis.list().total == 0, "nothing was written"

    apis.create(base | {"priority": None, "auth": {"type": "none", "secret": None}})
    with pytest.raises(trae.Conflict) as dup:
        apis.create(base)
    assert dup.value.code == "conflict"
    with pytest.raises(trae.ValidationError):
        apis.get("bad name")
    with pytest.raises(trae.ValidationError) as limit:
        apis.list(limit=0)
    assert limit.value.field == "limit"


def test_list_filters_and_pages(sqlite_store: trae.Store) -> None:
    apis = sqlite_store.apis
    apis.create(name="b", capability="search", base_url="https://b.example", priority=2, tags=["eu"])
    apis.create(name="a", capability="search", base_url="https://a.example", priority=1)
    apis.create(
        name="c", capability="text-generation", base_url="https://c.example", is_active=False
    )
    assert [e.name for e in apis.list()] == ["c", "a", "b"], "by priority, then name"
    page = apis.list(capability="search")
    assert [e.name for e in page] == ["a", "b"] and page.total == 2
    assert [e.name for e in apis.list(is_active=False)] == ["c"]
    assert [e.name for e in apis.list(tag="eu")] == ["b"]
    second = apis.list(capability="search", limit=1, offset=1)
    assert (second.total, len(second), second[0].name) == (2, 1, "b")
    with pytest.raises(trae.ValidationError) as err:
        apis.list(capability="Not Valid")
    assert err.value.field == "capability"


# --- the orchestrator -------------------------------------------------------------------------


def test_failover_from_a_failing_endpoint(
    sqlite_store: trae.Store, down: Upstream, healthy: Upstream
) -> None:
    apis = sqlite_store.apis
    apis.create(name="primary", capability="search", base_url=down.url, priority=0)
    apis.create(name="backup", capability="search", base_url=healthy.url, priority=1)
    result = sqlite_store.orchestrator.call("search", "/q?text=trae")
    assert isinstance(result, trae.ApiCallResult)
    assert (result.status, result.endpoint, result.truncated) == (200, "backup", False)
    assert result.json() == {"ok": True, "method": "GET", "path": "/q?text=trae"}
    assert json.loads(result.text) == result.json() and isinstance(result.body, bytes)
    assert result.headers["content-type"] == "application/json"
    assert result.headers["x-upstream"] == "ok"
    attempts = result.attempts
    assert all(isinstance(a, trae.ApiCallAttempt) for a in attempts)
    assert [(a.endpoint, a.status) for a in attempts] == [
        ("primary", 503),
        ("primary", 503),
        ("primary", 503),
        ("backup", 200),
    ]
    assert attempts[-1].error is None and attempts[0].error is not None
    assert all(a.latency_ms >= 0 for a in attempts)
    assert len(down.seen) == 3 and len(healthy.seen) == 1
    assert "backup" in repr(result)
    assert sqlite_store.apis.get("primary").health == "failing"

    apis.flush()
    usage = apis.usage("primary")
    assert (usage.total, usage.successes, usage.failures, usage.success_rate) == (3, 0, 3, 0.0)
    backup = apis.usage("backup")
    assert (backup.total, backup.successes, backup.success_rate) == (1, 1, 1.0)
    assert backup.last_used_at is not None and backup.last_used_at.tzinfo is not None
    assert backup.to_dict()["total"] == 1
    logs = apis.logs("primary")
    assert logs.total == 3 and all(isinstance(a, trae.ApiAttempt) for a in logs)
    first = logs[0]
    assert (first.endpoint, first.method, first.path, first.status) == (
        "primary",
        "GET",
        "/q",
        503,
    ), "logged without the query"
    assert first.success is False and isinstance(first.id, uuid.UUID)
    assert first.at.tzinfo is not None
    assert [a.at for a in logs] == sorted((a.at for a in logs), reverse=True)
    assert apis.logs("primary", limit=1, offset=2).items == [logs[2]]

    with pytest.raises(trae.UpstreamError) as failed:
        # The backup is gone and the primary is failing: nothing can take the call.
        apis.delete("backup")
        sqlite_store.orchestrator.call("search", "/q")
    assert failed.value.code == "upstream_failed"
    checked = apis.check("primary")
    assert isinstance(checked, trae.ApiEndpoint) and checked.health == "failing"
    assert checked.last_check_at is not None and "503" in (checked.last_error or "")


def test_bearer_credentials_come_from_the_vault_and_win(
    sqlite_store: trae.Store, healthy: Upstream
) -> None:
    sqlite_store.secrets.set("UPSTREAM_TOKEN", "tok-from-vault")
    sqlite_store.apis.create(
        name="private",
        capability="private",
        base_url=healthy.url,
        auth={"type": "bearer", "secret": "UPSTREAM_TOKEN"},
    )
    result = sqlite_store.orchestrator.call(
        "private",
        "/data",
        method="POST",
        headers={"Authorization": "Bearer forged", "X-Trace": "t-1"},
        body={"query": "trae", "n": [1, 2]},
    )
    assert result.status == 200 and result.json()["method"] == "POST"
    seen = healthy.seen[-1]
    assert seen.headers["authorization"] == "Bearer tok-from-vault"
    assert seen.headers["x-trace"] == "t-1"
    assert seen.headers["content-type"] == "application/json"
    assert json.loads(seen.body) == {"query": "trae", "n": [1, 2]}
    assert "tok-from-vault" not in repr(result)


def test_bodies_are_sent_as_given(sqlite_store: trae.Store, healthy: Upstream) -> None:
    sqlite_store.apis.create(name="echo", capability="echo", base_url=healthy.url)
    call = sqlite_store.orchestrator.call
    call("echo", "/", "PUT", body=b"\x00raw")
    assert healthy.seen[-1].body == b"\x00raw" and "content-type" not in healthy.seen[-1].headers
    call("echo", "/", "POST", body="plain text")
    assert healthy.seen[-1].body == b"plain text"
    call("echo", "/", "POST", {"Content-Type": "application/vnd.x+json"}, [1, "two"])
    assert healthy.seen[-1].headers["content-type"] == "application/vnd.x+json"
    assert json.loads(healthy.seen[-1].body) == [1, "two"]
    assert call("echo", "/", strategy="round_robin").status == 200
    for bad, field in (
        (lambda: call("echo", "/", body={"x": object()}), "body"),
        (lambda: call("echo", "/", strategy="fastest"), "strategy"),
        (lambda: call("echo", "//evil.example/x"), "path"),
        (lambda: call("echo", "/", method="BREW"), "method"),
        (lambda: call("echo", "/", headers={"Host": "evil.example"}), None),
        (lambda: call("Bad Capability", "/"), "capability"),
    ):
        with pytest.raises(trae.ValidationError) as err:
            bad()
        if field is not None:
            assert err.value.field == field


def test_a_429_is_retried_after_retry_after(sqlite_store: trae.Store, flaky: Upstream) -> None:
    sqlite_store.apis.create(name="flaky", capability="gen", base_url=flaky.url)
    started = time.monotonic()
    result = sqlite_store.orchestrator.call("gen", "/complete")
    assert time.monotonic() - started >= 0.9, "waited for Retry-After"
    assert result.status == 200
    assert [(a.endpoint, a.status) for a in result.attempts] == [("flaky", 429), ("flaky", 200)]
    assert len(flaky.seen) == 2


def test_limits_raise_rate_limited_with_retry_after(
    sqlite_store: trae.Store, healthy: Upstream
) -> None:
    sqlite_store.apis.create(
        name="scarce", capability="scarce", base_url=healthy.url, limits={"per_minute": 1}
    )
    assert sqlite_store.orchestrator.call("scarce", "/").status == 200
    with pytest.raises(trae.RateLimitedError) as err:
        sqlite_store.orchestrator.call("scarce", "/")
    assert isinstance(err.value, trae.TraeError)
    assert err.value.code == "rate_limited"
    assert isinstance(err.value.retry_after, float)
    assert 55 <= err.value.retry_after <= 60
    assert len(healthy.seen) == 1, "a limited call sends nothing"


def test_limits_are_shared_by_stores_on_one_database(
    tmp_path, healthy: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRAE_MASTER_KEY", raising=False)
    url = f"sqlite://{tmp_path / 'shared.db'}"
    with trae.Store(url) as first, trae.Store(url) as second:
        first.apis.create(
            name="scarce", capability="scarce", base_url=healthy.url, limits={"per_minute": 1}
        )
        assert first.orchestrator.call("scarce", "/").status == 200
        with pytest.raises(trae.RateLimitedError):
            second.orchestrator.call("scarce", "/")
    assert len(healthy.seen) == 1


def test_unknown_capability_is_not_found(sqlite_store: trae.Store) -> None:
    with pytest.raises(trae.NotFound) as err:
        sqlite_store.orchestrator.call("nobody-serves-this", "/")
    assert err.value.code == "not_found"
    assert "nobody-serves-this" in str(err.value)
    with pytest.raises(trae.NotFound):
        sqlite_store.apis.check("missing")


def test_loopback_is_refused_unless_configured(
    tmp_path, healthy: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The configuration is read when the store opens, as `trae serve` reads it at start; a
    # base URL the outbound policy refuses is refused when it is registered.
    monkeypatch.setenv("TRAE_OUTBOUND_ALLOW_LOOPBACK", "false")
    with trae.Store(f"sqlite://{tmp_path / 'loopback.db'}") as store:
        with pytest.raises(trae.ValidationError) as err:
            store.apis.create(name="local", capability="local", base_url=healthy.url)
        assert "TRAE_OUTBOUND_ALLOW_LOOPBACK" in str(err.value)
        for refused in ("http://169.254.169.254/latest", "http://elsewhere.test/"):
            with pytest.raises(trae.ValidationError, match="base_url"):
                store.apis.create(name="meta", capability="meta", base_url=refused)
        assert store.apis.list().total == 0
    assert healthy.seen == []


def test_binding_a_secret_needs_the_right_to_use_it(
    sqlite_store: trae.Store, healthy: Upstream
) -> None:
    store = sqlite_store
    store.secrets.set("ADMIN_TOKEN", "admin-only-value")
    store.users.create("devon", "devon@example.com", PASSWORD, ["developer"])
    dev = store.as_user(store.auth.login("devon", PASSWORD).access_token)
    spec = {"name": "exfil", "capability": "x", "base_url": healthy.url,
            "auth": {"type": "bearer", "secret": "ADMIN_TOKEN"}}
    with pytest.raises(trae.PermissionDenied, match="secrets:use"):
        dev.apis.create(spec)
    store.apis.create({**spec, "name": "admins"})
    with pytest.raises(trae.PermissionDenied, match="secrets:use"):
        dev.apis.update("admins", {**spec, "name": "admins", "priority": 9})
    assert store.apis.get("admins").priority != 9
    # A value the developer set itself it may bind.
    dev.secrets.set("DEV_TOKEN", "dev-value")
    mine = dev.apis.create(
        {**spec, "name": "mine", "capability": "mine",
         "auth": {"type": "bearer", "secret": "DEV_TOKEN"}}
    )
    assert mine.name == "mine"
    assert dev.orchestrator.call("mine", "/").status == 200
    assert healthy.seen[-1].headers["authorization"] == "Bearer dev-value"


def test_new_exceptions_are_exported() -> None:
    for name, code in (("RateLimitedError", "rate_limited"), ("UpstreamError", "upstream_failed")):
        cls = getattr(trae, name)
        assert issubclass(cls, trae.TraeError) and cls.code == code and name in trae.__all__
    assert trae.RateLimitedError.retry_after == 0.0
    for name in ("Apis", "Orchestrator", "ApiEndpoint", "ApiUsage", "ApiAttempt", "ApiCallResult"):
        assert name in trae.__all__, name
    for name in ("Apis", "Orchestrator"):
        assert name in trae.aio.__all__, name


def test_closed_store_is_unavailable(tmp_path) -> None:
    store = trae.Store(f"sqlite://{tmp_path / 'closed.db'}")
    store.apis.create(name="a", capability="c", base_url="https://a.example")
    store.close()
    with pytest.raises(trae.Unavailable):
        store.apis.get("a")
    with pytest.raises(trae.Unavailable):
        store.orchestrator.call("c", "/")


# --- PostgreSQL and SQLite: a call end to end ---------------------------------------------------


def test_a_call_with_usage_on_both_backends(api_store: trae.Store, healthy: Upstream) -> None:
    api_store.secrets.set("KEY", "k-123")
    api_store.apis.create(
        name="keyed",
        capability="keyed",
        base_url=healthy.url,
        auth={"type": "query", "secret": "KEY", "name": "api_key"},
        cost_per_request=0.25,
    )
    result = api_store.orchestrator.call("keyed", "/items?page=2")
    assert result.status == 200 and result.endpoint == "keyed"
    assert healthy.seen[-1].path == "/items?page=2&api_key=k-123"
    api_store.apis.flush()
    usage = api_store.apis.usage("keyed")
    assert (usage.total, usage.successes, usage.cost) == (1, 1, 0.25)
    [attempt] = api_store.apis.logs("keyed")
    assert attempt.path == "/items" and "k-123" not in repr(attempt)
    assert api_store.apis.check("keyed").health == "healthy"


# --- asyncio ----------------------------------------------------------------------------------


def test_asyncio_mirror(tmp_path, healthy: Upstream, down: Upstream, monkeypatch) -> None:
    monkeypatch.delenv("TRAE_MASTER_KEY", raising=False)

    async def main() -> None:
        async with trae.aio.Store.open(f"sqlite://{tmp_path / 'aio.db'}") as store:
            assert isinstance(store.apis, trae.aio.Apis)
            assert isinstance(store.orchestrator, trae.aio.Orchestrator)
            created = await store.apis.create(
                {"name": "down", "capability": "search", "base_url": down.url}
            )
            assert isinstance(created, trae.ApiEndpoint)
            await store.apis.create(
                name="up", capability="search", base_url=healthy.url, priority=5
            )
            page = await store.apis.list(capability="search")
            assert [e.name for e in page] == ["down", "up"]
            results = await asyncio.gather(
                store.orchestrator.call("search", "/a"),
                store.orchestrator.call("search", "/b"),
            )
            assert {r.endpoint for r in results} == {"up"}, "failed over"
            assert {r.json()["path"] for r in results} == {"/a", "/b"}
            posted = await store.orchestrator.call("search", "/c", "POST", body={"x": 1})
            assert (posted.endpoint, posted.json()["method"]) == ("up", "POST")
            assert json.loads(healthy.seen[-1].body) == {"x": 1}
            await store.apis.flush()
            usage = await store.apis.usage("up")
            assert isinstance(usage, trae.ApiUsage) and usage.total == 3
            logs = await store.apis.logs("down")
            assert logs.total >= 3
            with pytest.raises(trae.NotFound):
                await store.orchestrator.call("nothing", "/")
            with pytest.raises(trae.ValidationError):
                await store.apis.create(name="x", capability="c", base_url="ftp://x")
            await store.apis.delete("up")
            with pytest.raises(trae.NotFound):
                await store.apis.get("up")

    asyncio.run(main())
