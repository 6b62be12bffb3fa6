"""The asyncio identity API (``trae.aio``), on SQLite and PostgreSQL.

Each test drives its own event loop with ``asyncio.run``; the blocking tests cover the rules
in depth, these check that the awaitable mirror reaches the same services.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

import trae
import trae.aio

PASSWORD = "correct horse battery"


def test_sign_in_round_trip(database_url: str, backend: str) -> None:
    async def main() -> None:
        async with trae.aio.Store.open(database_url) as store:
            for service, cls in (
                (store.auth, trae.aio.Auth),
                (store.users, trae.aio.Users),
                (store.api_keys, trae.aio.ApiKeys),
                (store.policy, trae.aio.Policy),
                (store.audit, trae.aio.Audit),
            ):
                assert isinstance(service, cls)
                assert repr(service) == f"<trae.aio.{cls.__name__} backend='{backend}'>"
            assert store.users is store.users

            user = await store.auth.register("alice", "alice@example.com", PASSWORD)
            assert isinstance(user, trae.User) and isinstance(user.id, uuid.UUID)

            pair = await store.auth.login("alice", PASSWORD)
            assert isinstance(pair, trae.TokenPair) and pair.user is not None
            alice = await store.auth.authenticate(pair.access_token)
            assert isinstance(alice, trae.Principal)
            assert (alice.kind, alice.user_id) == ("user", user.id)
            assert (await store.users.me(alice)).id == user.id
            assert await store.auth.authorize(alice, "pets:write") is None  # type: ignore[func-returns-value]

            fresh = await store.auth.refresh(pair.refresh_token)
            assert fresh.session_id == pair.session_id and fresh.user is None
            with pytest.raises(trae.AuthError):
                await store.auth.refresh(pair.refresh_token)
            with pytest.raises(trae.AuthError):
                await store.auth.authenticate(fresh.access_token)

            again = await store.auth.login("alice", PASSWORD)
            await store.auth.logout(again.access_token)
            with pytest.raises(trae.AuthError):
                await store.auth.authenticate(again.access_token)

    asyncio.run(main())


def test_administration_and_errors(database_url: str) -> None:
    async def main() -> None:
        async with trae.aio.Store.open(database_url) as store:
            root = await store.users.create("root", "root@example.com", PASSWORD, ["admin"])
            await store.auth.register("alice", "alice@example.com", PASSWORD)
            alice = await store.auth.authenticate(
                (await store.auth.login("alice", PASSWORD)).access_token
            )

            with pytest.raises(trae.PermissionDenied):
                await store.users.list(alice)
            with pytest.raises(trae.PermissionDenied):
                await store.api_keys.create(alice, "too much", scopes=["users:admin"])
            with pytest.raises(trae.Conflict):
                await store.users.update(root.id, roles=["user"])

            page = await store.users.list()
            assert isinstance(page, trae.Page)
            assert [u.username for u in page] == ["alice", "root"]
            assert (await store.users.get(str(root.id))).id == root.id

            created = await store.api_keys.create(alice, "ci", scopes=["pets:read"])
            assert isinstance(created, trae.CreatedApiKey)
            key = await store.auth.authenticate(created.key)
            assert key.kind == "api_key" and key.scopes == ["pets:read"]
            assert [k.id for k in await store.api_keys.list(alice)] == [created.id]
            await store.api_keys.revoke(alice, created.id)
            with pytest.raises(trae.AuthError):
                await store.auth.authenticate(created.key)

            role = await store.policy.create_role("auditor", "Reads the log", ["audit:read"])
            assert isinstance(role, trae.Role)
            assert (await store.policy.role("auditor")) == role
            changed = await store.policy.update_role("auditor", permissions=["pets:read"])
            assert changed.permissions == ["pets:read"]
            assert "auditor" in [r.name for r in await store.policy.roles()]
            assert "audit:read" in await store.policy.permissions()
            await store.policy.delete_role("auditor")
            with pytest.raises(trae.NotFound):
                await store.policy.role("auditor")

            entries = await store.audit.list(action="auth.login")
            assert isinstance(entries, trae.Page) and entries.total == 1
            assert all(isinstance(e, trae.AuditEntry) for e in entries)
            assert await store.users.revoke_sessions(alice.user_id) == 1  # type: ignore[arg-type]

    asyncio.run(main())


def test_lockout_and_validation_are_raised_when_awaited(database_url: str) -> None:
    async def main() -> None:
        async with trae.aio.Store.open(database_url) as store:
            await store.auth.register("alice", "alice@example.com", PASSWORD)
            for _ in range(5):
                with pytest.raises(trae.AuthError):
                    await store.auth.login("alice", "wrong password here", client_ip="192.0.2.1")
            # Locked from that address, not from another.
            with pytest.raises(trae.AuthError):
                await store.auth.login("alice", PASSWORD, client_ip="192.0.2.1")
            assert (await store.auth.login("alice", PASSWORD, client_ip="192.0.2.2")).user

            # Bad values are raised on await, like every other error; wrong types at the call.
            pending = store.auth.register("al", "al@example.com", PASSWORD)
            with pytest.raises(trae.ValidationError) as bad:
                await pending
            assert bad.value.field == "username"
            listing = store.audit.list(since=dt.datetime.now())
            with pytest.raises(trae.ValidationError):
                await listing
            with pytest.raises(TypeError):
                store.users.list("system")  # type: ignore[arg-type]

    asyncio.run(main())


def test_the_asyncio_and_blocking_stores_share_tokens(database_url: str) -> None:
    with trae.Store(database_url) as blocking:
        blocking.auth.register("alice", "alice@example.com", PASSWORD)
        pair = blocking.auth.login("alice", PASSWORD)

    async def main() -> trae.Principal:
        async with trae.aio.Store.open(database_url) as store:
            return await store.auth.authenticate(pair.access_token)

    assert asyncio.run(main()).username == "alice"


def test_open_takes_a_jwt_secret(database_url: str) -> None:
    async def main() -> None:
        with pytest.raises(trae.ConfigError):
            await trae.aio.Store.open(database_url, jwt_secret="short")
        store = await trae.aio.Store.open(database_url, jwt_secret="k" * 32)
        try:
            await store.auth.register("alice", "alice@example.com", PASSWORD)
            pair = await store.auth.login("alice", PASSWORD)
        finally:
            await store.close()
        with pytest.raises(trae.Unavailable):
            await store.users.list()
        with trae.Store(database_url, jwt_secret="k" * 32) as same:
            assert same.auth.authenticate(pair.access_token).username == "alice"

    asyncio.run(main())
