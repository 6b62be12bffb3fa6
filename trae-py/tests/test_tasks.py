"""The blocking task queue API (``store.tasks``), on SQLite and PostgreSQL.

The queue's rules are tested in trae-core and trae-storage; these tests check that the binding
reaches them, converts values both ways, and maps errors to the right exceptions.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

import trae

UTC = dt.timezone.utc
PASSWORD = "correct horse battery"


def finish_all(store: trae.Store, kind: str = "job") -> trae.WorkerSummary:
    """Completes every due task of `kind` in the default queue, returning each payload."""
    worker = trae.Worker(store, concurrency=2)
    worker.handler(kind, lambda payload: payload)
    return worker.run_until_idle()


# --- enqueue and get --------------------------------------------------------------------------


def test_enqueue_fills_the_defaults(store: trae.Store) -> None:
    before = dt.datetime.now(UTC)
    task = store.tasks.enqueue("email.send", {"to": "bob@example.com", "n": [1, 2.5, None]})
    assert isinstance(task, trae.Task)
    assert isinstance(task.id, uuid.UUID)
    assert task.inserted is True
    assert (task.kind, task.queue, task.priority, task.max_attempts) == (
        "email.send",
        "default",
        5,
        5,
    )
    assert task.state == "available"
    assert task.attempt == 0
    assert task.payload == {"to": "bob@example.com", "n": [1, 2.5, None]}
    assert task.result is None and task.progress is None
    assert task.errors == [] and task.last_error is None
    assert task.tags == [] and task.unique_key is None
    assert task.created_by == "system"
    assert task.run_at.tzinfo is not None and task.created_at.tzinfo is not None
    assert before - dt.timedelta(seconds=5) <= task.created_at <= dt.datetime.now(UTC)
    assert task.started_at is None and task.finished_at is None
    assert task.worker_id is None and task.lease_expires_at is None

    got = store.tasks.get(task.id)
    assert got == task, "equality ignores `inserted`"
    assert got.inserted is None
    assert hash(got) == hash(task)
    assert store.tasks.get(str(task.id)) == task
    assert got.to_dict()["payload"] == task.payload
    assert set(got.to_dict()) >= {"id", "state", "errors", "result", "finished_at"}
    assert "email.send" in repr(task) and "available" in repr(task)


def test_enqueue_every_argument(store: trae.Store) -> None:
    later = dt.datetime.now(dt.timezone(dt.timedelta(hours=2))) + dt.timedelta(hours=1)
    task = store.tasks.enqueue(
        "report.build",
        ["a", ("b", 1)],
        queue="reports",
        priority=1,
        max_attempts=9,
        run_at=later,
        unique_key="report-1",
        tags=["nightly", "nightly", " big "],
    )
    assert task.queue == "reports"
    assert (task.priority, task.max_attempts) == (1, 9)
    assert task.state == "scheduled", "a future run_at schedules the task"
    assert task.run_at == later
    assert task.run_at.utcoffset() == dt.timedelta(0), "times come back in UTC"
    assert task.unique_key == "report-1"
    assert task.tags == ["nightly", "big"], "trae-core trims and deduplicates tags"
    assert task.payload == ["a", ["b", 1]], "tuples become lists"


def test_payload_defaults_to_an_empty_object(store: trae.Store) -> None:
    assert store.tasks.enqueue("job").payload == {}
    assert store.tasks.enqueue("job", None).payload == {}
    assert store.tasks.enqueue("job", "text").payload == "text"
    assert store.tasks.enqueue("job", 7).payload == 7
    assert store.tasks.enqueue("job", False).payload is False


def test_a_unique_key_returns_the_unfinished_holder(store: trae.Store) -> None:
    first = store.tasks.enqueue("job", {"v": 1}, unique_key="k")
    again = store.tasks.enqueue("job", {"v": 2}, unique_key="k")
    assert first.inserted is True and again.inserted is False
    assert again == first, "the holder comes back unchanged"
    assert again.payload == {"v": 1}
    assert store.tasks.list().total == 1

    store.tasks.cancel(first.id)
    third = store.tasks.enqueue("job", {"v": 3}, unique_key="k")
    assert third.inserted is True and third.id != first.id, "a finished holder frees the key"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"priority": 0}, "priority"),
        ({"priority": 11}, "priority"),
        ({"priority": 2**80}, "priority"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 101}, "max_attempts"),
        ({"queue": "UPPER"}, "queue"),
        ({"queue": ""}, "queue"),
        ({"unique_key": ""}, "unique_key"),
        ({"tags": ["a,b"]}, "tags"),
        ({"tags": [str(i) for i in range(21)]}, "tags"),
        ({"run_at": dt.datetime(2030, 1, 1)}, "run_at"),
        ({"payload": {1, 2}}, "payload"),
        ({"payload": {"x": float("nan")}}, "payload"),
        ({"payload": {1: "int key"}}, "payload"),
        ({"payload": 2**70}, "payload"),
        ({"payload": "x" * (256 * 1024 + 1)}, "payload"),
        ({"kind": "Bad Kind"}, "kind"),
        ({"kind": ""}, "kind"),
    ],
)
def test_broken_rules_name_their_field(store: trae.Store, kwargs: dict, field: str) -> None:
    kwargs = dict(kwargs)  # the parameter is shared by both backends
    kind = kwargs.pop("kind", "job")
    with pytest.raises(trae.ValidationError) as raised:
        store.tasks.enqueue(kind, **kwargs)
    assert raised.value.field == field
    assert raised.value.code == "validation_failed"
    assert field in str(raised.value)
    assert store.tasks.list().total == 0, "nothing was written"


def test_a_payload_nested_in_itself_is_refused(store: trae.Store) -> None:
    cycle: list = []
    cycle.append(cycle)
    with pytest.raises(trae.ValidationError) as raised:
        store.tasks.enqueue("job", cycle)
    assert raised.value.field == "payload"
    assert "levels deep" in str(raised.value)


def test_wrong_python_types_raise_type_error(store: trae.Store) -> None:
    with pytest.raises(TypeError):
        store.tasks.enqueue("job", priority="high")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.tasks.enqueue("job", tags="abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.tasks.enqueue("job", run_at="2030-01-01")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.tasks.get(42)  # type: ignore[arg-type]


def test_get_unknown_and_malformed_ids(store: trae.Store) -> None:
    with pytest.raises(trae.NotFound):
        store.tasks.get(uuid.uuid4())
    with pytest.raises(trae.ValidationError) as raised:
        store.tasks.get("not-a-uuid")
    assert raised.value.field == "id"


# --- enqueue_many -----------------------------------------------------------------------------


def test_enqueue_many_returns_the_tasks_in_order(store: trae.Store) -> None:
    held = store.tasks.enqueue("job", unique_key="held")
    tasks = store.tasks.enqueue_many(
        [
            {"kind": "job", "payload": {"i": 0}},
            {"kind": "other", "payload": [1], "queue": "q2", "priority": 2, "tags": ["t"]},
            {"kind": "job", "unique_key": "held"},
        ]
    )
    assert [t.kind for t in tasks] == ["job", "other", "job"]
    assert [t.inserted for t in tasks] == [True, True, False]
    assert tasks[0].payload == {"i": 0}
    assert (tasks[1].queue, tasks[1].priority, tasks[1].tags) == ("q2", 2, ["t"])
    assert tasks[2] == held
    assert store.tasks.list().total == 3


def test_enqueue_many_is_all_or_none(store: trae.Store) -> None:
    with pytest.raises(trae.ValidationError) as raised:
        store.tasks.enqueue_many([{"kind": "job"}, {"kind": "job", "priority": 99}])
    assert raised.value.field == "tasks[1].priority"
    with pytest.raises(trae.ValidationError) as raised:
        store.tasks.enqueue_many([{"kind": "job"}, {"kind": "job", "payload": {"s": {1}}}])
    assert raised.value.field == "tasks[1].payload"
    with pytest.raises(trae.ValidationError) as raised:
        store.tasks.enqueue_many([{"kind": "BAD"}])
    assert raised.value.field == "kind"
    with pytest.raises(trae.ValidationError) as raised:
        store.tasks.enqueue_many([])
    assert raised.value.field == "tasks"
    assert store.tasks.list().total == 0


def test_enqueue_many_rejects_malformed_dicts(store: trae.Store) -> None:
    with pytest.raises(TypeError, match="unknown key 'prio'"):
        store.tasks.enqueue_many([{"kind": "job", "prio": 1}])  # type: ignore[typeddict-unknown-key]
    with pytest.raises(TypeError, match="kind"):
        store.tasks.enqueue_many([{"payload": {}}])  # type: ignore[typeddict-item]
    with pytest.raises(TypeError):
        store.tasks.enqueue_many(["job"])  # type: ignore[list-item, dict-item]
    with pytest.raises(TypeError):
        store.tasks.enqueue_many({"kind": "job"})  # type: ignore[arg-type, dict-item]
    with pytest.raises(TypeError):
        store.tasks.enqueue_many([{"kind": "job", "priority": "1"}])  # type: ignore[typeddict-item]
    assert store.tasks.list().total == 0


# --- list -------------------------------------------------------------------------------------


def test_list_filters_and_pages(store: trae.Store) -> None:
    a = store.tasks.enqueue("mail", tags=["x"])
    b = store.tasks.enqueue("mail", queue="slow")
    c = store.tasks.enqueue("build", tags=["x", "y"])
    d = store.tasks.enqueue("build", run_at=dt.datetime.now(UTC) + dt.timedelta(days=1))
    store.tasks.cancel(b.id)

    page = store.tasks.list()
    assert isinstance(page, trae.Page)
    assert [t.id for t in page] == [d.id, c.id, b.id, a.id], "newest first"
    assert (page.total, page.limit, page.offset) == (4, 50, 0)

    assert [t.id for t in store.tasks.list(kind="mail")] == [b.id, a.id]
    assert [t.id for t in store.tasks.list(queue="slow")] == [b.id]
    assert [t.id for t in store.tasks.list(tag="x")] == [c.id, a.id]
    assert [t.id for t in store.tasks.list(state="cancelled")] == [b.id]
    assert [t.id for t in store.tasks.list(state="scheduled")] == [d.id]
    assert [t.id for t in store.tasks.list(state="available", kind="build")] == [c.id]

    second = store.tasks.list(limit=2, offset=2)
    assert [t.id for t in second] == [b.id, a.id]
    assert (second.total, second.limit, second.offset) == (4, 2, 2)
    assert store.tasks.list(offset=10).items == []


def test_list_rejects_bad_filters(store: trae.Store) -> None:
    with pytest.raises(trae.ValidationError) as raised:
        store.tasks.list(state="done")  # type: ignore[arg-type]
    assert raised.value.field == "state"
    assert "completed" in str(raised.value)
    with pytest.raises(trae.ValidationError) as raised:
        store.tasks.list(limit=0)
    assert raised.value.field == "limit"
    with pytest.raises(trae.ValidationError) as raised:
        store.tasks.list(offset=-1)
    assert raised.value.field == "offset"


# --- cancel and retry -------------------------------------------------------------------------


def test_cancel_and_retry_rules(store: trae.Store) -> None:
    task = store.tasks.enqueue("job")
    cancelled = store.tasks.cancel(task.id)
    assert cancelled.state == "cancelled"
    assert cancelled.finished_at is not None
    with pytest.raises(trae.Conflict):
        store.tasks.cancel(task.id)

    again = store.tasks.retry(task.id)
    assert again.state == "available"
    with pytest.raises(trae.Conflict):
        store.tasks.retry(task.id)  # already available

    scheduled = store.tasks.enqueue("job", run_at=dt.datetime.now(UTC) + dt.timedelta(hours=1))
    now = store.tasks.retry(scheduled.id)
    assert now.state == "available", "retry runs a waiting task now"


def test_retry_of_a_completed_task_raises(store: trae.Store) -> None:
    task = store.tasks.enqueue("job", {"n": 1})
    summary = finish_all(store)
    assert (summary.claimed, summary.completed) == (1, 1)
    done = store.tasks.get(task.id)
    assert done.state == "completed"
    assert done.result == {"n": 1}
    with pytest.raises(trae.Conflict) as raised:
        store.tasks.retry(task.id)
    assert raised.value.code == "conflict"
    with pytest.raises(trae.Conflict):
        store.tasks.cancel(task.id)


def test_cancel_and_retry_unknown_tasks(store: trae.Store) -> None:
    with pytest.raises(trae.NotFound):
        store.tasks.cancel(uuid.uuid4())
    with pytest.raises(trae.NotFound):
        store.tasks.retry(uuid.uuid4())
    with pytest.raises(trae.ValidationError):
        store.tasks.cancel("nope")


# --- stats, pause, concurrency ----------------------------------------------------------------


def test_stats_count_per_queue_and_state(store: trae.Store) -> None:
    empty = store.tasks.stats()
    assert isinstance(empty, trae.TaskStats)
    assert set(empty.totals.values()) == {0}

    a = store.tasks.enqueue("job")
    store.tasks.enqueue("job")
    store.tasks.enqueue("job", queue="other")
    store.tasks.cancel(a.id)
    store.tasks.enqueue("job", queue="other", run_at=dt.datetime.now(UTC) + dt.timedelta(hours=1))

    stats = store.tasks.stats()
    assert [q.queue for q in stats.queues] == ["default", "other"]
    assert len(stats) == 2 and "default" in stats and "nope" not in stats
    default = stats["default"]
    assert isinstance(default, trae.QueueStats)
    assert default.states == {
        "scheduled": 0,
        "available": 1,
        "running": 0,
        "retryable": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 1,
    }
    assert default["available"] == 1
    assert stats["other"].states["scheduled"] == 1
    assert stats.totals["available"] == 2
    assert default.paused is False and default.concurrency_limit is None
    assert default.completed_last_minute == 0
    assert default.oldest_available_age_secs is None or default.oldest_available_age_secs >= 0
    (job,) = default.kinds
    assert job["kind"] == "job" and job["states"] == default.states
    assert (job["completed_last_minute"], job["failed_last_minute"]) == (0, 0)
    assert job["average_wait_secs"] is None and job["average_run_secs"] is None
    with pytest.raises(KeyError):
        stats["nope"]
    with pytest.raises(KeyError):
        default["done"]  # type: ignore[index]


def test_pause_stops_handing_out_tasks(store: trae.Store) -> None:
    task = store.tasks.enqueue("job", {"n": 1})
    settings = store.tasks.pause("default")
    assert isinstance(settings, trae.QueueSettings)
    assert (settings.queue, settings.paused, settings.concurrency_limit) == (
        "default",
        True,
        None,
    )
    assert store.tasks.stats()["default"].paused is True

    assert finish_all(store).claimed == 0, "a paused queue hands out nothing"
    assert store.tasks.get(task.id).state == "available"

    resumed = store.tasks.resume("default")
    assert resumed.paused is False
    assert finish_all(store).completed == 1
    assert store.tasks.get(task.id).state == "completed"

    with pytest.raises(trae.ValidationError) as raised:
        store.tasks.pause("Not A Queue")
    assert raised.value.field == "queue"


def test_concurrency_limits(store: trae.Store) -> None:
    settings = store.tasks.set_concurrency_limit("default", 3)
    assert settings.concurrency_limit == 3
    assert store.tasks.stats()["default"].concurrency_limit == 3
    assert store.tasks.set_concurrency_limit("default", None).concurrency_limit is None
    with pytest.raises(trae.ValidationError) as raised:
        store.tasks.set_concurrency_limit("default", 0)
    assert raised.value.field == "concurrency_limit"
    with pytest.raises(trae.ValidationError):
        store.tasks.set_concurrency_limit("default", -1)


# --- principals -------------------------------------------------------------------------------


def test_principals_need_the_task_permissions(store: trae.Store) -> None:
    user = store.auth.register("alice", "alice@example.com", PASSWORD)
    alice = store.auth.authenticate(store.auth.login("alice", PASSWORD).access_token)
    store.users.create("vera", "vera@example.com", PASSWORD, ["viewer"])
    vera = store.auth.authenticate(store.auth.login("vera", PASSWORD).access_token)
    store.users.create("mallory", "mallory@example.com", PASSWORD, ["user"])
    mallory = store.auth.authenticate(store.auth.login("mallory", PASSWORD).access_token)

    task = store.tasks.enqueue("job", principal=alice)
    assert task.created_by == f"user:{user.id}"
    assert task.owner_id == user.id
    assert store.tasks.get(task.id, alice) == task
    assert store.tasks.list(alice).total == 1
    assert store.tasks.stats(vera).totals["available"] == 1

    # Others neither read nor change a user's task: to them it does not exist.
    for other in (vera, mallory):
        assert store.tasks.list(other).total == 0
        with pytest.raises(trae.NotFound):
            store.tasks.get(task.id, other)
    for change in (
        lambda: store.tasks.cancel(task.id, mallory),
        lambda: store.tasks.retry(task.id, mallory),
    ):
        with pytest.raises(trae.NotFound):
            change()
    for write in (
        lambda: store.tasks.enqueue("job", principal=vera),
        lambda: store.tasks.enqueue_many([{"kind": "job"}], principal=vera),
        lambda: store.tasks.cancel(task.id, vera),
    ):
        with pytest.raises(trae.PermissionDenied, match="tasks:write"):
            write()
    # Queues are shared: only tasks:admin pauses, resumes or limits them.
    for admin_only in (
        lambda: store.tasks.pause("default", alice),
        lambda: store.tasks.resume("default", alice),
        lambda: store.tasks.set_concurrency_limit("default", 2, alice),
    ):
        with pytest.raises(trae.PermissionDenied, match="tasks:admin"):
            admin_only()
    # An outbound call needs the right to call APIs: a key scoped to tasks alone is refused,
    # and the task it acts for (an API key acts for its owner) is alice's.
    created = store.api_keys.create(alice, "tasks only", ["tasks:read", "tasks:write"])
    key = store.auth.authenticate(created.key)
    with pytest.raises(trae.PermissionDenied, match="apis:call"):
        store.tasks.enqueue("http.request", {"url": "http://127.0.0.1:9/"}, principal=key)
    assert store.tasks.get(task.id, key) == task
    assert store.tasks.get(task.id).state == "available"
    assert store.tasks.cancel(task.id, alice).state == "cancelled"
    assert store.tasks.retry(task.id, trae.Principal.system()).state == "available"


def test_a_closed_store_is_unavailable(database_url: str) -> None:
    store = trae.Store(database_url)
    tasks = store.tasks
    assert store.tasks is tasks
    assert "Tasks" in repr(tasks)
    store.close()
    with pytest.raises(trae.Unavailable):
        tasks.enqueue("job")
    with pytest.raises(trae.Unavailable):
        tasks.stats()


def test_enqueue_past_the_backlog_limit_raises_overloaded(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAE_QUEUE_MAX_BACKLOG", "2")
    with trae.Store(database_url) as store:
        store.tasks.enqueue_many([{"kind": "job"}, {"kind": "job"}])
        with pytest.raises(trae.Overloaded) as raised:
            store.tasks.enqueue("job")
        assert isinstance(raised.value, trae.Unavailable), "a kind of unavailable: retry later"
        assert raised.value.code == "overloaded"
        assert 1 <= raised.value.retry_after <= 60
        assert '"default"' in str(raised.value)
        assert store.tasks.list().total == 2, "nothing refused was written"
        # Other queues have their own backlog; a batch that can never fit is invalid.
        store.tasks.enqueue("job", queue="other")
        with pytest.raises(trae.ValidationError) as invalid:
            store.tasks.enqueue_many([{"kind": "job", "queue": "q"}] * 3)
        assert invalid.value.field == "tasks"


def test_list_totals_past_the_count_cap_say_so(store: trae.Store) -> None:
    for _ in range(2):
        store.tasks.enqueue_many([{"kind": "job", "tags": ["bulk"]}] * 5001)
    by_tag = store.tasks.list(tag="bulk", limit=10)
    assert (by_tag.total, by_tag.total_exact) == (10_000, False), "counted up to the cap"
    everything = store.tasks.list(limit=10)
    assert (everything.total, everything.total_exact) == (10_002, True), "from the counters"
    last = store.tasks.list(tag="bulk", limit=10, offset=10_000)
    assert (len(last), last.total, last.total_exact) == (2, 10_002, True)
