"""The asyncio API (``trae.aio``), on SQLite and PostgreSQL.

Each test drives its own event loop with ``asyncio.run``, so no pytest plugin is needed.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

import trae
import trae.aio
from conftest import hold_write_lock


def test_crud_round_trip(database_url: str, backend: str) -> None:
    async def main() -> None:
        store = await trae.aio.Store.open(database_url)
        try:
            assert isinstance(store, trae.aio.Store)
            assert store.backend == backend
            assert isinstance(store.pets, trae.aio.Pets)
            assert store.pets is store.pets

            rex = await store.pets.create(name=" Rex ", species="dog", age=3, tags=["good"])
            assert isinstance(rex, trae.Pet)
            assert isinstance(rex.id, uuid.UUID)
            assert rex.name == "Rex"
            tom = await store.pets.create(name="Tom", species="cat", age=5)

            assert await store.pets.get(rex.id) == rex
            assert await store.pets.get(str(tom.id)) == tom

            page = await store.pets.list()
            assert isinstance(page, trae.Page)
            assert (page.items, page.total, page.limit, page.offset) == ([rex, tom], 2, 50, 0)
            assert (await store.pets.list(species="cat")).items == [tom]
            assert (await store.pets.list(tag="good")).items == [rex]
            second = await store.pets.list(limit=1, offset=1)
            assert (second.items, second.total) == ([tom], 2)

            older = await store.pets.update(rex.id, age=4)
            assert (older.name, older.age, older.tags) == ("Rex", 4, ["good"])
            assert await store.pets.get(rex.id) == older

            assert await store.pets.delete(tom.id) is None  # type: ignore[func-returns-value]
            with pytest.raises(trae.NotFound):
                await store.pets.get(tom.id)
            assert (await store.pets.list()).items == [older]
        finally:
            await store.close()
        assert store.closed

    asyncio.run(main())


def test_errors_match_the_blocking_api(database_url: str) -> None:
    async def main() -> None:
        async with trae.aio.Store.open(database_url) as store:
            with pytest.raises(trae.ValidationError) as info:
                await store.pets.create(name="", species="dog", age=1)
            assert info.value.field == "name"
            with pytest.raises(trae.ValidationError) as info:
                await store.pets.create(name="Rex", species="dragon", age=1)
            assert info.value.field == "species"
            with pytest.raises(trae.ValidationError) as info:
                await store.pets.update(uuid.uuid4(), age=101)
            assert info.value.field == "age"
            with pytest.raises(trae.ValidationError) as info:
                await store.pets.get("not-a-uuid")
            assert info.value.field == "id"
            with pytest.raises(trae.ValidationError) as info:
                await store.pets.list(limit=0)
            assert info.value.field == "limit"
            with pytest.raises(trae.NotFound) as nf:
                await store.pets.delete(uuid.uuid4())
            assert nf.value.code == "not_found"
            with pytest.raises(TypeError):
                store.pets.get(1.5)  # type: ignore[arg-type]
            assert (await store.pets.list()).total == 0

    asyncio.run(main())


def test_validation_errors_are_raised_when_awaited(database_url: str) -> None:
    async def main() -> None:
        async with trae.aio.Store.open(database_url) as store:
            pending = store.pets.get("not-a-uuid")  # no exception yet
            with pytest.raises(trae.ValidationError):
                await pending

    asyncio.run(main())


def test_calls_return_futures_without_blocking(database_url: str) -> None:
    async def main() -> None:
        async with trae.aio.Store.open(database_url) as store:
            pending = store.pets.list()
            assert isinstance(pending, asyncio.Future)
            assert not pending.done()
            assert (await pending).total == 0

    asyncio.run(main())


def test_event_loop_runs_while_a_call_waits(database_url: str) -> None:
    # A create that waits for a lock held outside trae must not stop other coroutines.
    async def main() -> None:
        async with trae.aio.Store.open(database_url) as store:
            with hold_write_lock(database_url):
                create = asyncio.ensure_future(store.pets.create(name="Rex", species="dog", age=3))
                ticks = 0
                started = time.monotonic()
                while time.monotonic() - started < 0.3:
                    await asyncio.sleep(0.01)
                    ticks += 1
                assert ticks >= 5
                assert not create.done(), "the create should still be waiting for the lock"
            pet = await asyncio.wait_for(create, timeout=10)
            assert pet.name == "Rex"

    asyncio.run(main())


def test_concurrent_calls(database_url: str) -> None:
    async def main() -> None:
        async with trae.aio.Store.open(database_url) as store:
            created = await asyncio.gather(
                *(store.pets.create(name=f"pet{i}", species="fish", age=i) for i in range(20))
            )
            page = await store.pets.list(limit=500)
            assert page.total == 20
            assert sorted(p.id for p in page) == sorted(p.id for p in created)

    asyncio.run(main())


def test_async_with_on_the_opener_closes_the_store(database_url: str) -> None:
    async def main() -> trae.aio.Store:
        opener = trae.aio.Store.open(database_url)
        assert isinstance(opener, trae.aio.StoreOpener)
        async with opener as store:
            assert isinstance(store, trae.aio.Store)
            assert not store.closed
            await store.pets.create(name="Rex", species="dog", age=3)
        assert store.closed
        with pytest.raises(trae.Unavailable):
            await store.pets.list()
        return store

    asyncio.run(main())


def test_async_with_on_an_open_store_closes_it(database_url: str) -> None:
    async def main() -> None:
        store = await trae.aio.Store.open(database_url)
        async with store as entered:
            assert entered is store
            await store.pets.create(name="Rex", species="dog", age=3)
        assert store.closed
        await store.close()  # closing again is harmless
        assert "closed" in repr(store)

        # The data is there for the next store.
        async with trae.aio.Store.open(database_url) as again:
            assert (await again.pets.list()).total == 1

    asyncio.run(main())


def test_async_with_closes_on_error_and_does_not_swallow_it(database_url: str) -> None:
    async def main() -> None:
        with pytest.raises(KeyError):
            async with trae.aio.Store.open(database_url) as store:
                raise KeyError("boom")
        assert store.closed

    asyncio.run(main())


def test_open_errors_are_raised_when_awaited(tmp_path) -> None:
    async def main() -> None:
        with pytest.raises(trae.ConfigError):
            await trae.aio.Store.open(f"mysql://{tmp_path}/x")
        with pytest.raises(trae.Unavailable):
            async with trae.aio.Store.open("postgres://postgres@127.0.0.1:1/nothing"):
                pass  # pragma: no cover

    asyncio.run(main())


def test_sync_and_async_stores_share_the_database(database_url: str) -> None:
    with trae.Store(database_url) as store:
        pet = store.pets.create(name="Rex", species="dog", age=3)

        async def main() -> None:
            async with trae.aio.Store.open(database_url) as astore:
                assert await astore.pets.get(pet.id) == pet

        asyncio.run(main())
