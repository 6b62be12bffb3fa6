"""The secrets vault (``store.secrets``, blocking and asyncio), on SQLite and PostgreSQL.

The vault's rules (encryption, names, sizes, rotation) are tested in trae-auth; these tests
check that the binding reaches them, converts values both ways, keeps values out of every
``repr``, maps errors, and opens the vault only when it is used.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import stat
from typing import Iterator

import pytest

import trae
import trae.aio

UTC = dt.timezone.utc
PASSWORD = "correct horse battery"
VALUE = "sk-py-9d2e7c4b1a6f3e8d"
#: base64 of 32 bytes, the master key the PostgreSQL variant shares.
MASTER_KEY = "BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU="


@pytest.fixture
def vault_store(
    database_url: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[trae.Store]:
    """A store whose vault opens: with ``TRAE_MASTER_KEY`` on PostgreSQL, with the key file
    beside the database on SQLite."""
    if backend == "postgres":
        monkeypatch.setenv("TRAE_MASTER_KEY", MASTER_KEY)
    else:
        monkeypatch.delenv("TRAE_MASTER_KEY", raising=False)
    with trae.Store(database_url) as store:
        yield store


def signed_in(store: trae.Store, username: str, roles: list[str]) -> trae.Principal:
    store.users.create(username, f"{username}@example.com", PASSWORD, roles)
    return store.auth.authenticate(store.auth.login(username, PASSWORD).access_token)


# --- the round trip ---------------------------------------------------------------------------


def test_set_get_describe_list_versions_prune_delete(vault_store: trae.Store) -> None:
    secrets = vault_store.secrets
    before = dt.datetime.now(UTC)
    first = secrets.set(
        "OPENAI_API_KEY", VALUE, description="the model provider", tags=["prod", "api:openai"]
    )
    assert isinstance(first, trae.Secret)
    assert (first.name, first.version) == ("OPENAI_API_KEY", 1)
    assert first.description == "the model provider"
    assert first.tags == ["api:openai", "prod"]
    assert first.created_by == "system"
    assert first.created_at.tzinfo is not None
    assert before - dt.timedelta(seconds=5) <= first.created_at <= dt.datetime.now(UTC)
    assert not hasattr(first, "value")

    second = secrets.set("OPENAI_API_KEY", "second-value")
    assert second.version == 2
    assert second.description == "the model provider", "metadata not given is kept"
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at
    cleared = secrets.set("OPENAI_API_KEY", "third-value", description="", tags=[])
    assert (cleared.version, cleared.description, cleared.tags) == (3, None, [])

    assert secrets.get("OPENAI_API_KEY") == "third-value"
    assert secrets.get("OPENAI_API_KEY", 1) == VALUE
    assert secrets.get("OPENAI_API_KEY", version=2) == "second-value"
    assert secrets.describe("OPENAI_API_KEY") == cleared
    assert hash(secrets.describe("OPENAI_API_KEY")) == hash(cleared)
    assert cleared.to_dict() == {
        "name": "OPENAI_API_KEY",
        "version": 3,
        "description": None,
        "tags": [],
        "created_by": "system",
        "created_at": first.created_at,
        "updated_at": cleared.updated_at,
    }

    secrets.set("db.password", "hunter2-but-longer", tags=["db"])
    page = secrets.list()
    assert isinstance(page, trae.Page)
    assert [s.name for s in page] == ["OPENAI_API_KEY", "db.password"]
    assert (page.total, page.limit, page.offset) == (2, 50, 0)
    assert [s.name for s in secrets.list("db.")] == ["db.password"]
    assert [s.name for s in secrets.list(tag="db")] == ["db.password"]
    second_page = secrets.list(limit=1, offset=1)
    assert (second_page.total, len(second_page), second_page[0].name) == (2, 1, "db.password")

    versions = secrets.versions("OPENAI_API_KEY")
    assert [v.version for v in versions] == [3, 2, 1]
    assert all(isinstance(v, trae.SecretVersion) for v in versions)
    assert versions[0].name == "OPENAI_API_KEY" and versions[0].created_by == "system"

    assert secrets.prune("OPENAI_API_KEY", 2) == 1
    assert [v.version for v in secrets.versions("OPENAI_API_KEY")] == [3, 2]
    assert secrets.prune("OPENAI_API_KEY") == 1, "keeps one by default"
    with pytest.raises(trae.NotFound):
        secrets.get("OPENAI_API_KEY", 2)

    assert secrets.delete("OPENAI_API_KEY") == 1
    for call in (
        lambda: secrets.get("OPENAI_API_KEY"),
        lambda: secrets.describe("OPENAI_API_KEY"),
        lambda: secrets.versions("OPENAI_API_KEY"),
        lambda: secrets.delete("OPENAI_API_KEY"),
        lambda: secrets.prune("OPENAI_API_KEY"),
    ):
        with pytest.raises(trae.NotFound) as err:
            call()
        assert err.value.code == "not_found"
    assert secrets.list().total == 1


def test_bytes_values_round_trip_and_text_needs_utf8(vault_store: trae.Store) -> None:
    secrets = vault_store.secrets
    raw = bytes([0xFF, 0x00, 0xFE, 0x10])
    secrets.set("binary", raw)
    assert secrets.get_bytes("binary") == raw
    with pytest.raises(trae.ValidationError) as err:
        secrets.get("binary")
    assert "get_bytes" in str(err.value)
    secrets.set("text", "naïve ✓")
    assert secrets.get("text") == "naïve ✓"
    assert secrets.get_bytes("text") == "naïve ✓".encode()


# --- no value in any repr ---------------------------------------------------------------------


def test_values_appear_in_no_repr_or_error(vault_store: trae.Store) -> None:
    secrets = vault_store.secrets
    secret = secrets.set("token", VALUE, description="desc", tags=["t"])
    shown = [
        repr(secret),
        str(secret),
        repr(secret.to_dict()),
        repr(secrets.describe("token")),
        repr(secrets.list()),
        repr(secrets.versions("token")),
        repr(secrets),
        repr(vault_store),
    ]
    for text in shown:
        assert VALUE not in text, text
    assert repr(secret).startswith("Secret(name='token', version=1")
    assert repr(secrets).startswith("<trae.Secrets backend=")

    too_big = "x" * (64 * 1024) + VALUE
    with pytest.raises(trae.ValidationError) as err:
        secrets.set("token", too_big)
    assert VALUE not in str(err.value) and VALUE not in repr(err.value)

    secrets.get("token")
    entries = vault_store.audit.list(limit=500)
    actions = {e.action for e in entries}
    assert {"secret.set", "secret.reveal"} <= actions, actions
    for entry in entries:
        assert VALUE not in repr(entry) and VALUE not in repr(entry.details)


# --- bad input --------------------------------------------------------------------------------


def test_broken_rules_raise_validation_errors(vault_store: trae.Store) -> None:
    secrets = vault_store.secrets
    for bad_name in ["", ".hidden", "with space", "slash/name", "a" * 129]:
        with pytest.raises(trae.ValidationError) as err:
            secrets.set(bad_name, "x")
        assert err.value.field == "name", bad_name
        with pytest.raises(trae.ValidationError):
            secrets.get(bad_name)
    for bad_value in ["", b"", "x" * (64 * 1024 + 1)]:
        with pytest.raises(trae.ValidationError) as err:
            secrets.set("v", bad_value)
        assert err.value.field == "value"
    secrets.set("v", "y" * (64 * 1024))
    with pytest.raises(trae.ValidationError) as err:
        secrets.set("v", "x", tags=["has space"])
    assert err.value.field == "tags"
    with pytest.raises(trae.ValidationError) as err:
        secrets.set("v", "x", description="bell\a")
    assert err.value.field == "description"
    with pytest.raises(trae.ValidationError) as err:
        secrets.prune("v", 0)
    assert err.value.field == "keep_latest"
    with pytest.raises(trae.ValidationError) as err:
        secrets.get("v", -1)
    assert err.value.field == "version"
    with pytest.raises(trae.ValidationError) as err:
        secrets.list(limit=0)
    assert err.value.field == "limit"
    with pytest.raises(TypeError):
        secrets.set("v", 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        secrets.get("v", 1, None)  # type: ignore[misc]
    assert secrets.describe("v").version == 1, "nothing invalid was written"


# --- principals and the audit log -------------------------------------------------------------


def test_principals_need_the_secrets_permissions(vault_store: trae.Store) -> None:
    secrets = vault_store.secrets
    secrets.set("token", VALUE)
    vault_store.policy.create_role(
        "secret-reader", "Sees which secrets exist", ["secrets:read"]
    )
    reader = signed_in(vault_store, "rita", ["secret-reader"])
    viewer = signed_in(vault_store, "vera", ["viewer"])
    admin = signed_in(vault_store, "ada", ["admin"])

    assert [s.name for s in secrets.list(principal=reader)] == ["token"]
    assert secrets.describe("token", principal=reader).version == 1
    assert len(secrets.versions("token", principal=reader)) == 1
    refused = [
        lambda p: secrets.get("token", principal=p),
        lambda p: secrets.get_bytes("token", principal=p),
        lambda p: secrets.set("token", "other", principal=p),
        lambda p: secrets.delete("token", principal=p),
        lambda p: secrets.prune("token", principal=p),
    ]
    for call in refused:
        with pytest.raises(trae.PermissionDenied) as err:
            call(reader)
        assert err.value.code == "forbidden"
        assert VALUE not in str(err.value)
    with pytest.raises(trae.PermissionDenied) as err:
        secrets.get("token", principal=reader)
    assert "secrets:reveal" in str(err.value)
    for call in refused + [
        lambda p: secrets.list(principal=p),
        lambda p: secrets.describe("token", principal=p),
        lambda p: secrets.versions("token", principal=p),
    ]:
        with pytest.raises(trae.PermissionDenied):
            call(viewer)

    assert secrets.get("token", principal=admin) == VALUE
    changed = secrets.set("token", "by-admin", principal=admin)
    assert changed.version == 2
    assert secrets.versions("token")[0].created_by == f"user:{admin.user_id}"

    reveals = vault_store.audit.list(action="secret.reveal", limit=500)
    outcomes = sorted(e.outcome for e in reveals)
    assert outcomes.count("denied") >= 3 and "success" in outcomes, outcomes


# --- where the master key comes from ----------------------------------------------------------


def test_sqlite_key_file_sits_beside_the_database(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRAE_MASTER_KEY", raising=False)
    url = f"sqlite://{tmp_path / 'app.db'}"
    with trae.Store(url) as store:
        assert not (tmp_path / "master.key").exists(), "the store opens without the vault"
        store.pets.create(name="Rex", species="dog", age=3)
        assert not (tmp_path / "master.key").exists()
        store.secrets.set("token", VALUE)
        key_file = tmp_path / "master.key"
        assert key_file.exists()
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    with trae.Store(url) as again:
        assert again.secrets.get("token") == VALUE, "a second store shares the key file"
    key_file.unlink()
    with trae.Store(url) as lost:
        with pytest.raises(trae.ConfigError) as err:
            lost.secrets.get("token")
        assert "master key file" in str(err.value) and "missing" in str(err.value)


def test_in_memory_store_gets_a_key_for_its_lifetime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRAE_MASTER_KEY", raising=False)
    with trae.Store("sqlite::memory:") as store:
        store.secrets.set("token", VALUE)
        assert store.secrets.get("token") == VALUE


def test_a_wrong_master_key_is_a_config_error(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite://{tmp_path / 'app.db'}"
    monkeypatch.setenv("TRAE_MASTER_KEY", MASTER_KEY)
    with trae.Store(url) as store:
        store.secrets.set("token", VALUE)
    monkeypatch.setenv("TRAE_MASTER_KEY", "BgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgY=")
    with trae.Store(url) as store:
        with pytest.raises(trae.ConfigError) as err:
            store.secrets.get("token")
        assert "wrong secrets master key" in str(err.value)
        assert err.value.code == "invalid_configuration"
    monkeypatch.setenv("TRAE_MASTER_KEY", "not base64!")
    with trae.Store(url) as store:
        with pytest.raises(trae.ConfigError) as err:
            store.secrets.list()
        assert "TRAE_MASTER_KEY" in str(err.value)


def test_postgres_opens_without_a_master_key_until_secrets_are_used(
    database_url: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgres":
        pytest.skip("the key file makes SQLite work without TRAE_MASTER_KEY")
    monkeypatch.delenv("TRAE_MASTER_KEY", raising=False)
    with trae.Store(database_url) as store:
        store.pets.create(name="Rex", species="dog", age=3)
        store.tasks.enqueue("job")
        with pytest.raises(trae.ConfigError) as err:
            store.secrets.set("token", VALUE)
        assert isinstance(err.value, trae.TraeError)
        assert "TRAE_MASTER_KEY is required" in str(err.value)
    # The configuration is read when a store opens, as `trae serve` reads it at start:
    # with the key set, a new store works.
    monkeypatch.setenv("TRAE_MASTER_KEY", MASTER_KEY)
    with trae.Store(database_url) as store:
        store.secrets.set("token", VALUE)
        assert store.secrets.get("token") == VALUE

    async def without_key() -> None:
        monkeypatch.delenv("TRAE_MASTER_KEY")
        async with trae.aio.Store.open(database_url) as store:
            assert (await store.pets.list()).total == 1
            with pytest.raises(trae.ConfigError):
                await store.secrets.get("token")

    asyncio.run(without_key())


# --- asyncio ----------------------------------------------------------------------------------


def test_the_asyncio_api_mirrors_the_blocking_one(
    database_url: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "postgres":
        monkeypatch.setenv("TRAE_MASTER_KEY", MASTER_KEY)
    else:
        monkeypatch.delenv("TRAE_MASTER_KEY", raising=False)

    async def main() -> None:
        async with trae.aio.Store.open(database_url) as store:
            secrets = store.secrets
            assert isinstance(secrets, trae.aio.Secrets)
            assert repr(secrets).startswith("<trae.aio.Secrets backend=")
            secret = await secrets.set("token", VALUE, description="d", tags=["x"])
            assert isinstance(secret, trae.Secret) and secret.version == 1
            assert (await secrets.set("token", b"v2")).version == 2
            assert await secrets.get("token", 1) == VALUE
            assert await secrets.get_bytes("token") == b"v2"
            assert (await secrets.describe("token")).description == "d"
            page = await secrets.list(tag="x")
            assert [s.name for s in page] == ["token"]
            assert [v.version for v in await secrets.versions("token")] == [2, 1]
            assert await secrets.prune("token", 1) == 1
            pending = secrets.set("bad name", "x")
            with pytest.raises(trae.ValidationError):
                await pending
            assert await secrets.delete("token") == 1
            with pytest.raises(trae.NotFound):
                await secrets.get("token")

    asyncio.run(main())
