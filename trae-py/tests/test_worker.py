"""``trae.Worker``: Python handlers run by trae-core's worker, on SQLite and PostgreSQL.

Retry timing, leases and batching are trae-core's and tested there; these tests check that
Python handlers (plain and async) are called, that their results, exceptions and progress
reach the task, and that a run starts and stops as documented.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import threading
import time

import pytest

import trae

UTC = dt.timezone.utc


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# --- construction and registration ------------------------------------------------------------


def test_the_options_are_checked_by_trae_core(store: trae.Store) -> None:
    worker = trae.Worker(store, queues="mail", concurrency=3, id="w-1")
    assert (worker.queues, worker.concurrency, worker.id) == (["mail"], 3, "w-1")
    assert trae.Worker(store).queues == ["default"]
    assert trae.Worker(store, ("a", "b")).queues == ["a", "b"]
    assert worker.kinds == [] and worker.running is False

    for kwargs, field in [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": -1}, "concurrency"),
        ({"queues": ["Bad Queue"]}, "queue"),
        ({"queues": []}, "queues"),
        ({"lease": 1.0, "heartbeat": 1.0}, "lease"),
        ({"poll_interval": -1.0}, "poll_interval"),
        ({"shutdown_grace": float("nan")}, "shutdown_grace"),
        ({"id": " "}, "id"),
    ]:
        with pytest.raises(trae.ValidationError) as raised:
            trae.Worker(store, **kwargs)
        assert raised.value.field == field, kwargs
    with pytest.raises(TypeError):
        trae.Worker("sqlite::memory:")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        trae.Worker(store, queues=[1])  # type: ignore[list-item]


def test_handlers_register_by_decorator_or_call(store: trae.Store) -> None:
    worker = trae.Worker(store)

    @worker.handler("b.kind")
    def b(payload):
        return payload

    async def a(payload, ctx):
        return payload

    assert worker.handler("a-kind", a, retry_backoff=0) is a
    assert b.__name__ == "b", "the decorator returns the function"
    assert worker.kinds == ["a-kind", "b.kind"]

    with pytest.raises(trae.ValidationError) as raised:
        worker.handler("Bad Kind")
    assert raised.value.field == "kind"
    with pytest.raises(trae.ValidationError) as raised:
        worker.handler("", b)
    assert raised.value.field == "kind"
    with pytest.raises(trae.ValidationError) as raised:
        worker.handler("x", b, retry_backoff=-1)
    assert raised.value.field == "retry_backoff"
    with pytest.raises(TypeError):
        worker.handler("x", 42)  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        worker.handler("x")(42)  # type: ignore[type-var]
    assert worker.kinds == ["a-kind", "b.kind"]


def test_a_worker_without_handlers_refuses_to_run(store: trae.Store) -> None:
    worker = trae.Worker(store)
    with pytest.raises(trae.ValidationError) as raised:
        worker.run_until_idle()
    assert raised.value.field == "handlers"
    with pytest.raises(trae.ValidationError):
        worker.run()
    assert worker.running is False


# --- plain handlers ---------------------------------------------------------------------------


def test_plain_handler_results_are_stored(store: trae.Store) -> None:
    tasks = [store.tasks.enqueue("double", {"n": n}) for n in range(5)]
    other = store.tasks.enqueue("unhandled")
    threads: set[str] = set()
    worker = trae.Worker(store, concurrency=3)

    @worker.handler("double")
    def double(payload):
        threads.add(threading.current_thread().name)
        return {"doubled": payload["n"] * 2, "list": (1, "two")}

    summary = worker.run_until_idle()
    assert isinstance(summary, trae.WorkerSummary)
    assert (summary.claimed, summary.completed, summary.failed, summary.lost) == (5, 5, 0, 0)
    assert summary == summary and "completed=5" in repr(summary)
    for n, task in enumerate(tasks):
        done = store.tasks.get(task.id)
        assert done.state == "completed"
        assert done.result == {"doubled": n * 2, "list": [1, "two"]}
        assert done.attempt == 1
        assert done.worker_id == worker.id
        assert done.finished_at is not None
    assert store.tasks.get(other.id).state == "available", "kinds without a handler wait"
    assert threading.main_thread().name not in threads, "handlers run off the calling thread"
    assert worker.running is False


def test_a_none_result_is_stored_as_none(store: trae.Store) -> None:
    task = store.tasks.enqueue("job")
    worker = trae.Worker(store)
    worker.handler("job", lambda payload: None)
    assert worker.run_until_idle().completed == 1
    done = store.tasks.get(task.id)
    assert (done.state, done.result) == ("completed", None)


def test_an_exception_retries_then_fails_with_every_message(store: trae.Store) -> None:
    task = store.tasks.enqueue("flaky", {"n": 1}, max_attempts=3)
    calls: list[int] = []
    worker = trae.Worker(store)

    @worker.handler("flaky", retry_backoff=0)
    def flaky(payload, ctx):
        calls.append(ctx.task.attempt)
        raise ValueError(f"boom {ctx.task.attempt}")

    summary = worker.run_until_idle()
    assert calls == [1, 2, 3]
    assert (summary.claimed, summary.completed, summary.failed) == (3, 0, 3)
    failed = store.tasks.get(task.id)
    assert failed.state == "failed"
    assert failed.attempt == 3
    assert [e["message"] for e in failed.errors] == [
        "ValueError: boom 1",
        "ValueError: boom 2",
        "ValueError: boom 3",
    ]
    assert [e["attempt"] for e in failed.errors] == [1, 2, 3]
    assert all(e["at"].tzinfo is not None for e in failed.errors)
    assert failed.last_error == "ValueError: boom 3"
    assert failed.result is None

    # A dead task can be retried by hand; its history stays.
    again = store.tasks.retry(task.id)
    assert again.state == "available" and len(again.errors) == 3


def test_an_exception_with_attempts_left_is_retryable(store: trae.Store) -> None:
    task = store.tasks.enqueue("flaky", max_attempts=2)
    worker = trae.Worker(store)
    worker.handler("flaky", lambda payload: 1 / 0)  # default backoff: about a second
    summary = worker.run_until_idle()
    assert (summary.claimed, summary.failed) == (1, 1)
    waiting = store.tasks.get(task.id)
    assert waiting.state == "retryable"
    assert waiting.last_error == "ZeroDivisionError: division by zero"
    assert waiting.run_at > waiting.started_at


def test_task_fatal_fails_at_once_and_snooze_waits(store: trae.Store) -> None:
    fatal = store.tasks.enqueue("fatal", max_attempts=5)
    snoozed = store.tasks.enqueue("snooze", max_attempts=5)
    worker = trae.Worker(store)

    @worker.handler("fatal")
    def fail(payload):
        raise trae.TaskFatal("bad input, do not retry")

    @worker.handler("snooze")
    def snooze(payload):
        raise trae.TaskSnooze(3600)

    summary = worker.run_until_idle()
    assert summary.claimed == 2
    dead = store.tasks.get(fatal.id)
    assert (dead.state, dead.attempt, dead.last_error) == ("failed", 1, "bad input, do not retry")
    later = store.tasks.get(snoozed.id)
    assert later.state == "scheduled"
    assert later.run_at > dt.datetime.now(UTC) + dt.timedelta(minutes=55)
    assert later.errors == [], "a snooze is not a failure"

    assert trae.TaskSnooze(1.5).seconds == 1.5
    assert isinstance(trae.TaskFatal("x"), Exception)
    with pytest.raises(ValueError):
        trae.TaskSnooze(-1)
    with pytest.raises(ValueError):
        trae.TaskSnooze(float("inf"))


def test_a_result_that_is_not_json_fails_the_attempt(store: trae.Store) -> None:
    task = store.tasks.enqueue("bad", max_attempts=1)
    coroutine_task = store.tasks.enqueue("coro", max_attempts=1)
    worker = trae.Worker(store)
    worker.handler("bad", lambda payload: {"s": {1, 2}})

    async def later():
        return 1

    worker.handler("coro", lambda payload: later())
    summary = worker.run_until_idle()
    assert (summary.claimed, summary.failed) == (2, 2)
    failed = store.tasks.get(task.id)
    assert failed.state == "failed"
    assert "not JSON-serialisable" in failed.last_error
    assert "set" in failed.last_error
    assert "async def" in store.tasks.get(coroutine_task.id).last_error


def test_context_progress_and_task(store: trae.Store) -> None:
    task = store.tasks.enqueue("steps", {"steps": 3})
    seen: dict = {}
    worker = trae.Worker(store)

    @worker.handler("steps")
    def steps(payload, ctx):
        assert isinstance(ctx, trae.TaskContext)
        seen["task"] = ctx.task
        seen["payload"] = ctx.payload
        seen["cancelled"] = ctx.is_cancelled()
        for i in range(payload["steps"]):
            seen.setdefault("held", []).append(ctx.report_progress({"done": i + 1}))
        try:
            ctx.report_progress({"bad": object()})
        except trae.ValidationError as e:
            seen["error_field"] = e.field
        return "ok"

    assert worker.run_until_idle().completed == 1
    assert seen["task"].id == task.id
    assert seen["task"].state == "running" and seen["task"].attempt == 1
    assert seen["payload"] == {"steps": 3}
    assert seen["cancelled"] is False
    assert seen["held"] == [True, True, True]
    assert seen["error_field"] == "progress"
    done = store.tasks.get(task.id)
    assert (done.result, done.progress) == ("ok", {"done": 3})


def test_cancelling_a_running_task_tells_its_handler(store: trae.Store) -> None:
    task = store.tasks.enqueue("long")
    seen: dict = {}
    worker = trae.Worker(store, heartbeat=0.1, lease=2)

    @worker.handler("long")
    def long(payload, ctx):
        store.tasks.cancel(ctx.task.id)
        deadline = time.monotonic() + 10
        while not ctx.is_cancelled() and time.monotonic() < deadline:
            time.sleep(0.02)
        seen["noticed"] = ctx.is_cancelled()
        seen["progress_held"] = ctx.report_progress("late")
        return "ignored"

    summary = worker.run_until_idle()
    assert seen == {"noticed": True, "progress_held": False}
    assert summary.lost == 1 and summary.completed == 0
    cancelled = store.tasks.get(task.id)
    assert cancelled.state == "cancelled"
    assert cancelled.result is None


# --- async handlers ---------------------------------------------------------------------------


def test_async_handler_results_are_stored(store: trae.Store) -> None:
    tasks = [store.tasks.enqueue("aio", {"n": n}) for n in range(4)]
    loops: set[int] = set()
    worker = trae.Worker(store, concurrency=4)

    @worker.handler("aio")
    async def handle(payload, ctx):
        assert isinstance(ctx, trae.aio.TaskContext)
        loops.add(id(asyncio.get_running_loop()))
        await asyncio.sleep(0.05)
        assert await ctx.report_progress({"half": payload["n"]}) is True
        return {"n": payload["n"], "thread": threading.current_thread().name}

    summary = worker.run_until_idle()
    assert (summary.claimed, summary.completed, summary.failed) == (4, 4, 0)
    for n, task in enumerate(tasks):
        done = store.tasks.get(task.id)
        assert done.state == "completed"
        assert done.result == {"n": n, "thread": "trae-worker-loop"}
        assert done.progress == {"half": n}
    assert len(loops) == 1, "every coroutine ran on the worker's one loop"
    assert not any(t.name == "trae-worker-loop" for t in threading.enumerate()), (
        "the loop thread ends with the run"
    )


def test_async_handler_exceptions_retry_and_fail(store: trae.Store) -> None:
    task = store.tasks.enqueue("aio", max_attempts=2)
    fatal = store.tasks.enqueue("fatal")
    worker = trae.Worker(store)

    @worker.handler("aio", retry_backoff=0)
    async def boom(payload):
        await asyncio.sleep(0)
        raise RuntimeError("async boom")

    @worker.handler("fatal")
    async def fail(payload):
        raise trae.TaskFatal("stop")

    summary = worker.run_until_idle()
    assert summary.failed == 3
    failed = store.tasks.get(task.id)
    assert failed.state == "failed"
    assert [e["message"] for e in failed.errors] == ["RuntimeError: async boom"] * 2
    assert store.tasks.get(fatal.id).last_error == "stop"


def test_plain_and_async_handlers_together(store: trae.Store) -> None:
    a = store.tasks.enqueue("plain", 1)
    b = store.tasks.enqueue("coro", 2)
    worker = trae.Worker(store)
    worker.handler("plain", lambda n: n + 10)

    @worker.handler("coro")
    async def coro(n):
        return n + 20

    assert worker.run_until_idle().completed == 2
    assert store.tasks.get(a.id).result == 11
    assert store.tasks.get(b.id).result == 22


# --- running and stopping ---------------------------------------------------------------------


def test_run_until_stopped_from_another_thread(store: trae.Store) -> None:
    worker = trae.Worker(store, poll_interval=0.1)
    worker.handler("job", lambda payload: payload * 2)
    outcome: dict = {}

    def run() -> None:
        outcome["summary"] = worker.run()

    runner = threading.Thread(target=run)
    runner.start()
    try:
        wait_for(lambda: worker.running)
        task = store.tasks.enqueue("job", 21)
        wait_for(lambda: store.tasks.get(task.id).state == "completed")
        assert store.tasks.get(task.id).result == 42
    finally:
        worker.stop()
        runner.join(timeout=30)
    assert not runner.is_alive()
    assert outcome["summary"].completed == 1
    assert worker.running is False
    worker.stop()  # not running: nothing happens


def test_stop_from_a_handler_and_run_again(store: trae.Store) -> None:
    worker = trae.Worker(store)
    task = store.tasks.enqueue("last")

    @worker.handler("last")
    def last(payload):
        assert worker.running
        with pytest.raises(RuntimeError, match="already running"):
            worker.run_until_idle()
        worker.stop()
        return "bye"

    summary = worker.run()
    assert (summary.claimed, summary.completed) == (1, 1)
    assert store.tasks.get(task.id).result == "bye"

    # The same worker runs again.
    store.tasks.enqueue("last")
    assert worker.run().completed == 1


def test_shutdown_lets_a_running_handler_finish(store: trae.Store) -> None:
    task = store.tasks.enqueue("slow")
    worker = trae.Worker(store, shutdown_grace=10)

    @worker.handler("slow")
    def slow(payload):
        worker.stop()
        time.sleep(0.5)
        return "finished"

    assert worker.run().completed == 1
    assert store.tasks.get(task.id).state == "completed"


def test_shutdown_gives_back_a_handler_that_does_not_finish(store: trae.Store) -> None:
    task = store.tasks.enqueue("stuck")
    worker = trae.Worker(store, shutdown_grace=0.2)

    @worker.handler("stuck")
    async def stuck(payload):
        worker.stop()
        await asyncio.sleep(60)

    started = time.monotonic()
    summary = worker.run()
    assert time.monotonic() - started < 20
    assert summary.completed == 0
    back = store.tasks.get(task.id)
    assert back.state == "available", "the task is released for another worker"
    assert back.errors == []


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need the main thread"
)
def test_ctrl_c_stops_gracefully_then_raises(store: trae.Store) -> None:
    task = store.tasks.enqueue("interrupted")
    worker = trae.Worker(store)

    @worker.handler("interrupted")
    def interrupted(payload):
        # Sent while the run is certainly in progress; the run notices within 0.1 s, stops
        # claiming and waits (shutdown_grace) for this handler.
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)
        return "done anyway"

    with pytest.raises(KeyboardInterrupt):
        worker.run()
    assert worker.running is False
    done = store.tasks.get(task.id)
    assert (done.state, done.result) == ("completed", "done anyway")
