"""The event stream from Python: pages, blocking and async subscriptions, lost history, each
topic under its permission, and the same events over the server's WebSocket (the `websockets`
package) and from another process on the same database."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest

import trae
import trae.aio
from served import ADMIN_PASSWORD, request, server

PASSWORD = "correct horse battery"
OTHER_EPOCH = "0123456789abcdef0123456789abcdef"


def _user(store: trae.Store, username: str, role: str) -> trae.Store:
    store.users.create(
        username=username, email=f"{username}@example.com", password=PASSWORD, roles=[role]
    )
    return store.as_user(store.auth.login(username, PASSWORD).access_token)


def _end(store: trae.Store) -> int:
    return store.events.page()["next"]


def _settled(read, done, within: float = 10.0):
    """`read()` once `done(result)` holds: events reach the log within a writer batch
    (10 ms), not with the call that published them."""
    deadline = time.monotonic() + within
    while True:
        result = read()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.02)


def _until(sub: trae.EventSubscription, kind: str) -> dict:
    """The next event of `kind` (others skipped); fails after 10 s without one."""
    while True:
        event = sub.next(timeout=10)
        assert event is not None, f"no {kind} event in time"
        if event["kind"] == kind:
            return event


def test_pages_replay_what_the_services_published(store: trae.Store) -> None:
    start = _end(store)
    rex = store.pets.create(name="Rex", species="dog", age=3)
    store.pets.create(name="Tom", species="cat", age=2)
    with store.events.subscribe(topics=["pets"], since=start) as sub:
        first = _until(sub, "pet.created")
    assert first["payload"]["id"] == str(rex.id)
    page = _settled(
        lambda: store.events.page(since=start, topics=["pets"], limit=1),
        lambda p: len(p["events"]) == 1,
    )
    assert [e["kind"] for e in page["events"]] == ["pet.created"]
    event = page["events"][0]
    assert set(event) == {"seq", "id", "ts", "topic", "source", "kind", "owner_id", "payload"}
    assert isinstance(event["id"], uuid.UUID) and isinstance(event["ts"], datetime)
    assert event["ts"].tzinfo is not None
    assert event == first
    assert page["next"] == event["seq"]
    following = _settled(
        lambda: store.events.page(since=page["next"], topics=["pets"], epoch=page["epoch"]),
        lambda p: len(p["events"]) == 1,
    )
    assert [e["payload"]["name"] for e in following["events"]] == ["Tom"]
    position = store.events.position()
    assert position["epoch"] == page["epoch"] and position["last_seq"] >= following["next"]


def test_a_subscription_replays_then_follows_live(store: trae.Store) -> None:
    start = _end(store)
    store.pets.create(name="Before", species="dog", age=1)
    with store.events.subscribe(topics=["pets"], since=start) as sub:
        assert _until(sub, "pet.created")["payload"]["name"] == "Before"
        assert sub.next(timeout=0.2) is None, "nothing more yet"
        store.pets.create(name="After", species="dog", age=1)
        assert _until(sub, "pet.created")["payload"]["name"] == "After"
        assert sub.last_seq >= start + 2
        assert len(sub.epoch) == 32
    with pytest.raises(StopIteration):
        sub.next(timeout=1)
    with pytest.raises(StopIteration):
        next(sub)


def test_lost_history_raises_with_the_position(store: trae.Store) -> None:
    store.pets.create(name="Rex", species="dog", age=3)
    position = store.events.position()
    with pytest.raises(trae.HistoryLost) as lost:
        store.events.subscribe(since=1, epoch=OTHER_EPOCH)
    assert lost.value.code == "history_lost"
    assert lost.value.epoch == position["epoch"]
    assert lost.value.last_seq >= position["last_seq"]
    assert "epoch" in lost.value.reason
    with pytest.raises(trae.HistoryLost) as past:
        store.events.page(since=position["last_seq"] + 100)
    assert "past" in past.value.reason
    assert isinstance(past.value, trae.TraeError)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.events.page(since=-1), "since"),
        (lambda s: s.events.page(limit=0), "limit"),
        (lambda s: s.events.page(limit=501), "limit"),
        (lambda s: s.events.page(topics=["nope"]), "topics"),
        (lambda s: s.events.subscribe(topics=["tasks", "nope"]), "topics"),
        (lambda s: s.events.subscribe(since=0).next(timeout=-1), "timeout"),
    ],
)
def test_bad_arguments_raise_validation_errors(store: trae.Store, call, field: str) -> None:
    with pytest.raises(trae.ValidationError) as bad:
        call(store)
    assert bad.value.field == field, str(bad.value)


def test_each_topic_is_read_under_its_permission(store: trae.Store) -> None:
    viewer = _user(store, "vera", "viewer")
    ada = _user(store, "ada", "user")
    bob = _user(store, "bob", "user")
    start = _end(store)
    mine = ada.tasks.enqueue("noop", {"who": "ada"})
    bob.tasks.enqueue("noop", {"who": "bob"})
    for topic in ("audit", "backups", "bench"):
        with pytest.raises(trae.PermissionDenied):
            viewer.events.page(topics=[topic])
        with pytest.raises(trae.PermissionDenied):
            viewer.events.subscribe(topics=[topic])
    # A user sees their own tasks' events, not another user's; the system sees both.
    everyone = _settled(
        lambda: store.events.page(since=start, topics=["tasks"])["events"],
        lambda events: len({e["payload"]["id"] for e in events}) == 2,
    )
    assert len({e["payload"]["id"] for e in everyone}) == 2
    own = ada.events.page(since=start, topics=["tasks"])["events"]
    assert own and {e["payload"]["id"] for e in own} == {str(mine.id)}
    assert all(e["owner_id"] is not None for e in own)
    # Without topics: only what the reader may read.
    readable = viewer.events.page(since=start, limit=500)["events"]
    assert readable == [] or all(e["topic"] not in ("audit", "backups") for e in readable)
    with ada.events.subscribe(topics=["tasks"], since=start) as sub:
        assert _until(sub, "task.available")["payload"]["id"] == str(mine.id)
        assert sub.next(timeout=0.3) is None, "bob's task is not shown to ada"


def test_async_subscriptions_iterate(database_url: str) -> None:
    async def main() -> None:
        async with trae.aio.Store.open(database_url) as store:
            start = (await store.events.page())["next"]
            sub = await store.events.subscribe(topics=["pets"], since=start)
            await store.pets.create(name="Rex", species="dog", age=3)
            seen = []
            async for event in sub:
                seen.append(event["payload"]["name"])
                if len(seen) == 1:
                    await store.pets.create(name="Tom", species="cat", age=2)
                if len(seen) == 2:
                    sub.close()
            assert seen == ["Rex", "Tom"]
            assert await sub.last_seq() > start
            again = await store.events.subscribe(topics=["pets"], since=start)
            assert (await again.next(timeout=5))["payload"]["name"] == "Rex"
            assert await again.next(timeout=0.2) is not None
            assert await again.next(timeout=0.2) is None
            with pytest.raises(trae.HistoryLost):
                await store.events.subscribe(since=1, epoch=OTHER_EPOCH)
            viewer_token = None
            await store.users.create(
                username="vera", email="vera@example.com", password=PASSWORD, roles=["viewer"]
            )
            viewer_token = (await store.auth.login("vera", PASSWORD)).access_token
            viewer = await store.as_user(viewer_token)
            with pytest.raises(trae.PermissionDenied):
                await viewer.events.subscribe(topics=["audit"])

    asyncio.run(main())


def test_the_server_socket_and_python_see_the_same_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    websockets = pytest.importorskip("websockets")
    for name in ("TRAE_MASTER_KEY", "TRAE_DATA_DIR", "TRAE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with server(tmp_path) as base:
        token = request(
            base, "POST", "/api/auth/login", {"username": "root", "password": ADMIN_PASSWORD}
        )["access_token"]
        start = request(base, "GET", "/api/events?topics=pets", token=token)

        async def follow_socket() -> list[dict]:
            url = base.replace("http://", "ws://") + "/ws/events"
            async with websockets.connect(url) as ws:
                await ws.send(json.dumps({"type": "auth", "token": token}))
                assert json.loads(await ws.recv())["type"] == "authenticated"
                await ws.send(
                    json.dumps(
                        {
                            "type": "subscribe",
                            "topics": ["pets"],
                            "since": start["next"],
                            "epoch": start["epoch"],
                        }
                    )
                )
                assert json.loads(await ws.recv())["type"] == "subscribed"
                for name in ("Rex", "Tom"):
                    request(
                        base,
                        "POST",
                        "/api/pets",
                        {"name": name, "species": "dog", "age": 1},
                        token,
                    )
                got = []
                while len(got) < 2:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if frame["type"] == "event":
                        got.append(frame)
                # A frame that is not JSON closes the socket with 4400.
                await ws.send("not json")
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 10)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
                return got

        frames = asyncio.run(follow_socket())
        assert [f["payload"]["name"] for f in frames] == ["Rex", "Tom"]
        # Python on the same file, in this other process, reads the same events.
        with trae.Store(data_dir=tmp_path) as store:
            page = _settled(
                lambda: store.events.page(
                    since=start["next"], topics=["pets"], epoch=start["epoch"]
                ),
                lambda p: len(p["events"]) == 2,
            )
            assert [e["seq"] for e in page["events"]] == [f["seq"] for f in frames]
            assert [str(e["id"]) for e in page["events"]] == [f["id"] for f in frames]
            with store.events.subscribe(topics=["pets"], since=page["next"]) as sub:
                request(base, "POST", "/api/pets", {"name": "Zed", "species": "cat", "age": 1}, token)
                event = _until(sub, "pet.created")
                assert event["payload"]["name"] == "Zed"
