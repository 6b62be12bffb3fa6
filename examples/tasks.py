"""The task queue from Python on a throwaway SQLite file: enqueue, run a worker with a plain
and an async handler, and read the results.

Build the module first (see trae-py), then run: python examples/tasks.py
"""

import asyncio
import tempfile
from pathlib import Path

import trae


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{Path(tmp) / 'tasks.db'}"
        with trae.Store(url) as store:
            worker = trae.Worker(store, concurrency=4)

            @worker.handler("add")
            def add(payload):
                return {"sum": payload["a"] + payload["b"]}

            @worker.handler("shout")
            async def shout(payload):
                await asyncio.sleep(0.01)
                return payload["text"].upper()

            @worker.handler("flaky", retry_backoff=0)
            def flaky(payload):
                raise RuntimeError("the upstream is down")

            added = store.tasks.enqueue("add", {"a": 2, "b": 3})
            shouted = store.tasks.enqueue("shout", {"text": "hello"}, priority=1)
            flaked = store.tasks.enqueue("flaky", {}, max_attempts=2)
            again = store.tasks.enqueue("add", {"a": 1, "b": 1}, unique_key="once")
            dup = store.tasks.enqueue("add", {"a": 1, "b": 1}, unique_key="once")
            print("unique key kept one task:", again.id == dup.id, "inserted:", dup.inserted)

            summary = worker.run_until_idle()
            print(f"claimed {summary.claimed}, completed {summary.completed}, failed {summary.failed}")
            for task in (added, shouted, flaked):
                t = store.tasks.get(task.id)
                print(f"{t.kind}: {t.state} after {t.attempt} attempt(s), result={t.result!r}")
            print("errors kept:", [e["message"] for e in store.tasks.get(flaked.id).errors])


if __name__ == "__main__":
    main()
