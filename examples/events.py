"""A client of the event stream from Python, on a throwaway SQLite file: follow the tasks
topic live while a worker runs tasks, then resume after the last event seen, and meet lost
history.

Build the module first (see trae-py), then run: python examples/events.py
"""

import tempfile
import threading
from pathlib import Path

import trae


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{Path(tmp) / 'events.db'}"
        with trae.Store(url) as store:
            start = store.events.page()  # an empty page: where the log ends now
            print(f"epoch {start['epoch']}, following after seq {start['next']}")

            worker = trae.Worker(store, concurrency=2)

            @worker.handler("greet")
            def greet(payload, ctx):
                ctx.report_progress({"step": "greeting"})
                return f"hello, {payload['name']}"

            for name in ("Ada", "Grace"):
                store.tasks.enqueue("greet", {"name": name})
            runner = threading.Thread(target=worker.run_until_idle)
            runner.start()

            # Follow live: every transition of both tasks, in the order they committed.
            completed = 0
            last = start["next"]
            with store.events.subscribe(topics=["tasks"], since=start["next"]) as sub:
                while completed < 2:
                    event = sub.next(timeout=10)
                    if event is None:
                        raise SystemExit("no event within 10 s")
                    p = event["payload"]
                    print(f"#{event['seq']:<3} {event['kind']:<16} {p.get('kind')} {p.get('state') or p.get('progress')}")
                    completed += event["kind"] == "task.completed"
                    last = event["seq"]
            runner.join()

            # Resume after what was seen: a page of what came since (nothing, here).
            page = store.events.page(since=last, topics=["tasks"], epoch=start["epoch"])
            print(f"after seq {last}: {len(page['events'])} more task events")

            # A position from another log (here, a made-up epoch) is refused, with where the
            # log stands now.
            try:
                store.events.page(since=last, epoch="0" * 32)
            except trae.HistoryLost as lost:
                print(f"history lost ({lost.reason}); resume from seq {lost.last_seq}")


if __name__ == "__main__":
    main()
