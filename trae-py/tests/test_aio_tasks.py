"""The asyncio task queue API (``trae.aio``: ``store.tasks`` and ``Worker.run_async``), on
SQLite and PostgreSQL.

Each test drives its own event loop with ``asyncio.run``, so no pytest plugin is needed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import uuid

import pytest

import trae
import trae.aio

UTC = dt.timezone.utc


async def wait_until_done(store: trae.aio.Store, ids: list[uuid.UUID], timeout: float = 20) -> None:
    async def poll() -> None:
        while True:
            states = [(await store.tasks.get(i)).state for i in ids]
            if all(s in ("completed", "failed") for s in states):
                return
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


def test_the_queue_api_mirrors_the_blocking_one(database_url: str) -> None:
    async def main() -> None:
        async with trae.aio.Store.open(database_url) as store:
            assert isinstance(store.tasks, trae.aio.Tasks)
            assert store.tasks is store.tasks

            task = await store.tasks.enqueue("mail", {"to": "bob"}, unique_key="m", tags=["t"])
            assert isinstance(task, trae.Task) and task.inserted is True
            again = await store.tasks.enqueue("mail", {"to": "eve"}, unique_key="m")
            assert again.inserted is False and again == task
            assert await store.tasks.get(task.id) == task
            assert await store.tasks.get(str(task.id)) == task

            more = await store.tasks.enqueue_many(
                [{"kind": "build"}, {"kind": "build", "queue": "slow", "priority": 1}]
            )
            assert [t.inserted for t in more] == [True, True]

            page = await store.tasks.list(kind="build")
            assert isinstance(page, trae.Page)
            assert [t.id for t in page] == [more[1].id, more[0].id]
            assert (await store.tasks.list(tag="t")).items == [task]
            assert (await store.tasks.list(limit=1, offset=1)).total == 3

            cancelled = await store.tasks.cancel(task.id)
            assert cancelled.state == "cancelled"
            with pytest.raises(trae.Conflict):
                await store.tasks.cancel(task.id)
            assert (await store.tasks.retry(task.id)).state == "available"

            paused = await store.tasks.pause("slow")
            assert isinstance(paused, trae.QueueSettings) and paused.paused
            assert (await store.tasks.resume("slow")).paused is False
            limited = await store.tasks.set_concurrency_limit("slow", 2)
            assert limited.concurrency_limit == 2

            stats = await store.tasks.stats()
            assert isinstance(stats, trae.TaskStats)
            assert stats["default"]["available"] == 2
            assert stats["slow"].concurrency_limit == 2

    asyncio.run(main())


def test_errors_are_raised_when_awaited(database_url: str) -> None:
    async def main() -> None:
        async with trae.aio.Store.open(database_url) as store:
            pending = store.tasks.enqueue("job", priority=0)
            with pytest.raises(trae.ValidationError) as raised:
                await pending
            assert raised.value.field == "priority"
            with pytest.raises(trae.ValidationError) as raised:
                await store.tasks.enqueue("job", {"x": {1}})
            assert raised.value.field == "payload"
            with pytest.raises(trae.ValidationError) as raised:
                await store.tasks.enqueue_many([{"kind": "job"}, {"kind": "NO"}])
            assert raised.value.field == "tasks[1].kind"
            with pytest.raises(trae.ValidationError) as raised:
                await store.tasks.list(state="nope")  # type: ignore[arg-type]
            assert raised.value.field == "state"
            with pytest.raises(trae.NotFound):
                await store.tasks.get(uuid.uuid4())
            with pytest.raises(TypeError):
                store.tasks.enqueue("job", tags="x")  # type: ignore[arg-type]
            assert (await store.tasks.list()).total == 0

    asyncio.run(main())


def test_run_async_runs_handlers_on_the_callers_loop(database_url: str) -> None:
    async def main() -> None:
        async with trae.aio.Store.open(database_url) as store:
            assert trae.aio.Worker is trae.Worker
            worker = trae.aio.Worker(store, poll_interval=0.1)
            loop = asyncio.get_running_loop()
            seen: dict = {}

            @worker.handler("coro")
            async def coro(payload, ctx):
                seen["same_loop"] = asyncio.get_running_loop() is loop
                assert await ctx.report_progress("half") is True
                await asyncio.sleep(0.01)
                return {"n": payload["n"] + 1}

            @worker.handler("plain")
            def plain(payload):
                seen["plain_thread"] = threading.current_thread() is not threading.main_thread()
                return payload["n"] * 10

            runner = asyncio.create_task(worker.run_async())
            a = await store.tasks.enqueue("coro", {"n": 1})
            b = await store.tasks.enqueue("plain", {"n": 2})
            await wait_until_done(store, [a.id, b.id])
            assert worker.running
            worker.stop()
            summary = await asyncio.wait_for(runner, 20)

            assert isinstance(summary, trae.WorkerSummary)
            assert (summary.claimed, summary.completed) == (2, 2)
            assert seen == {"same_loop": True, "plain_thread": True}
            done = await store.tasks.get(a.id)
            assert (done.result, done.progress) == ({"n": 2}, "half")
            assert (await store.tasks.get(b.id)).result == 20
            assert worker.running is False

    asyncio.run(main())


def test_cancelling_run_async_stops_the_worker_gracefully(database_url: str) -> None:
    async def main() -> None:
        async with trae.aio.Store.open(database_url) as store:
            worker = trae.Worker(store, shutdown_grace=10)
            started = asyncio.Event()

            @worker.handler("slow")
            async def slow(payload):
                started.set()
                await asyncio.sleep(0.3)
                return "finished in the grace period"

            task = await store.tasks.enqueue("slow")
            runner = asyncio.create_task(worker.run_async())
            await asyncio.wait_for(started.wait(), 20)
            runner.cancel()
            with pytest.raises(asyncio.CancelledError):
                await runner
            assert worker.running is False, "cancellation waited for the shutdown"
            done = await store.tasks.get(task.id)
            assert (done.state, done.result) == ("completed", "finished in the grace period")

    asyncio.run(main())


def test_run_async_errors(database_url: str) -> None:
    async def main() -> None:
        async with trae.aio.Store.open(database_url) as store:
            worker = trae.Worker(store)
            with pytest.raises(trae.ValidationError) as raised:
                await worker.run_async()
            assert raised.value.field == "handlers"
            assert worker.running is False

            worker.handler("job", lambda p: p)
            runner = asyncio.create_task(worker.run_async())
            while not worker.running:
                await asyncio.sleep(0.01)
            with pytest.raises(RuntimeError, match="already running"):
                await worker.run_async()
            worker.stop()
            assert (await asyncio.wait_for(runner, 20)).claimed == 0

    asyncio.run(main())


def test_run_async_coroutine_can_be_made_outside_a_loop(database_url: str) -> None:
    with trae.Store(database_url) as store:
        task = store.tasks.enqueue("job", 5)
        worker = trae.Worker(store)

        @worker.handler("job")
        async def job(n):
            worker.stop()
            return n * n

        summary = asyncio.run(worker.run_async())
        assert summary.completed == 1
        assert store.tasks.get(task.id).result == 25


def test_overloaded_is_raised_when_awaited(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAE_QUEUE_MAX_BACKLOG", "1")

    async def main() -> None:
        async with trae.aio.Store.open(database_url) as store:
            await store.tasks.enqueue("job")
            with pytest.raises(trae.Overloaded) as raised:
                await store.tasks.enqueue("job")
            assert raised.value.retry_after >= 1
            assert (await store.tasks.list()).total_exact

    asyncio.run(main())
