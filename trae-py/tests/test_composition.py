"""One composition root: `trae.Store` is built like `trae serve`, reads the same configuration,
and acts with a user's exact permissions through `store.as_user(...)`."""

from __future__ import annotations

from pathlib import Path

import pytest

import trae
from served import ADMIN_PASSWORD, request, server

PASSWORD = "correct horse battery"


def _user_token(store: trae.Store, username: str, role: str) -> str:
    store.users.create(
        username=username, email=f"{username}@example.com", password=PASSWORD, roles=[role]
    )
    return store.auth.login(username, PASSWORD).access_token


# --- acting as a user ---------------------------------------------------------------------------


def test_a_viewer_reads_but_is_refused_every_pet_write(store: trae.Store) -> None:
    rex = store.pets.create(name="Rex", species="dog", age=3)
    viewer = store.as_user(_user_token(store, "watcher", "viewer"))
    assert viewer.pets.get(rex.id).name == "Rex"
    assert viewer.pets.list().total == 1
    for write in (
        lambda: viewer.pets.create(name="Tom", species="cat", age=2),
        lambda: viewer.pets.update(rex.id, age=4),
        lambda: viewer.pets.delete(rex.id),
    ):
        with pytest.raises(trae.PermissionDenied) as denied:
            write()
        assert "pets:write" in str(denied.value)
    assert store.pets.get(rex.id).age == 3, "nothing was written"
    assert store.pets.list().total == 1


def test_a_user_may_write_pets_and_an_api_key_acts_as_its_owner(store: trae.Store) -> None:
    token = _user_token(store, "ada", "user")
    ada = store.as_user(token)
    tom = ada.pets.create(name="Tom", species="cat", age=2)
    assert ada.pets.update(tom.id, age=3).age == 3
    key = store.api_keys.create(store.auth.authenticate(token), name="ci", scopes=["pets:read"])
    by_key = store.as_user(key.key)
    assert by_key.pets.get(tom.id).name == "Tom"
    with pytest.raises(trae.PermissionDenied):
        by_key.pets.delete(tom.id)


def test_a_users_store_acts_as_that_user_for_identity_and_secrets_too(store: trae.Store) -> None:
    viewer = store.as_user(_user_token(store, "watcher", "viewer"))
    assert viewer.users.me(viewer.auth.authenticate(_login(store, "watcher"))).username == (
        "watcher"
    )
    for write in (
        lambda: viewer.users.list(),
        lambda: viewer.users.create(
            username="mallory", email="m@example.com", password=PASSWORD, roles=["admin"]
        ),
        lambda: viewer.tasks.pause("default"),
    ):
        with pytest.raises(trae.PermissionDenied):
            write()
    assert [u.username for u in store.users.list().items] == ["watcher"]
    if store.backend == "sqlite":  # PostgreSQL's vault needs TRAE_MASTER_KEY
        with pytest.raises(trae.PermissionDenied):
            viewer.secrets.set("stolen", "value")
        assert store.secrets.list().total == 0


def test_a_users_store_cannot_be_made_to_act_as_the_system(store: trae.Store) -> None:
    viewer = store.as_user(_user_token(store, "watcher", "viewer"))
    system = trae.Principal.system()
    for escalation in (
        lambda: viewer.users.create(
            username="mallory",
            email="m@example.com",
            password=PASSWORD,
            roles=["admin"],
            principal=system,
        ),
        lambda: viewer.tasks.enqueue("sneaky", principal=system),
    ):
        with pytest.raises(trae.PermissionDenied) as denied:
            escalation()
        assert "another principal" in str(denied.value)
    assert [u.username for u in store.users.list().items] == ["watcher"]
    assert store.tasks.list().total == 0
    # Its own principal, passed explicitly, is the same as passing none.
    me = viewer.auth.authenticate(_login(store, "watcher"))
    assert viewer.users.me(me).username == "watcher"


def _login(store: trae.Store, username: str) -> str:
    return store.auth.login(username, PASSWORD).access_token


def test_as_user_refuses_a_token_that_does_not_work(store: trae.Store) -> None:
    for token in ("", "not-a-token", "trae_not_a_key"):
        with pytest.raises(trae.AuthError):
            store.as_user(token)


def test_as_user_shares_the_open_store(tmp_path: Path) -> None:
    store = trae.Store(f"sqlite://{tmp_path / 'shared.db'}")
    viewer = store.as_user(_user_token(store, "watcher", "viewer"))
    store.close()
    assert viewer.closed
    with pytest.raises(trae.Unavailable):
        viewer.pets.list()


def test_the_asyncio_store_acts_as_a_user_too(database_url: str) -> None:
    import asyncio

    async def scenario() -> None:
        async with trae.aio.Store.open(database_url) as store:
            await store.users.create(
                username="watcher",
                email="watcher@example.com",
                password=PASSWORD,
                roles=["viewer"],
            )
            pair = await store.auth.login("watcher", PASSWORD)
            viewer = await store.as_user(pair.access_token)
            assert (await viewer.pets.list()).total == 0
            with pytest.raises(trae.PermissionDenied):
                await viewer.pets.create(name="Rex", species="dog", age=3)

    asyncio.run(scenario())


# --- the same configuration as the server -------------------------------------------------------


def test_lockout_settings_apply_to_python_as_to_the_server(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with trae.Store(database_url) as store:
        store.auth.register("ada", "ada@example.com", PASSWORD)
        store.auth.register("bob", "bob@example.com", PASSWORD)
        # The default (5 failures) does not lock after two.
        for _ in range(2):
            with pytest.raises(trae.AuthError):
                store.auth.login("bob", "wrong password 1")
        assert store.auth.login("bob", PASSWORD).user is not None
    monkeypatch.setenv("TRAE_LOCKOUT_MAX_FAILURES", "2")
    with trae.Store(database_url) as store:
        for _ in range(2):
            with pytest.raises(trae.AuthError):
                store.auth.login("ada", "wrong password 1")
        # Locked: the right password is refused like a wrong one.
        with pytest.raises(trae.AuthError):
            store.auth.login("ada", PASSWORD)
        assert [e.outcome for e in store.audit.list(action="auth.lockout")] == ["success"]


def test_trae_toml_beside_the_database_is_read(tmp_path: Path) -> None:
    (tmp_path / "trae.toml").write_text('lockout_max_failures = 1\n')
    with trae.Store(f"sqlite://{tmp_path / 'trae.db'}") as store:
        store.auth.register("ada", "ada@example.com", PASSWORD)
        with pytest.raises(trae.AuthError):
            store.auth.login("ada", "wrong password 1")
        with pytest.raises(trae.AuthError):
            store.auth.login("ada", PASSWORD)


def test_python_reads_a_secret_the_server_wrote_in_its_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TRAE_MASTER_KEY", "TRAE_DATA_DIR", "TRAE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with server(tmp_path) as base:
        token = request(
            base, "POST", "/api/auth/login", {"username": "root", "password": ADMIN_PASSWORD}
        )["access_token"]
        request(base, "PUT", "/api/secrets/UPSTREAM", {"value": "s3cret"}, token)
        # While the server runs, and on its data directory alone: the same database, the same
        # master key file, the same signing key.
        with trae.Store(data_dir=tmp_path) as store:
            assert store.secrets.get("UPSTREAM") == "s3cret"
            assert store.auth.authenticate(token).kind == "user"
    assert (tmp_path / "master.key").is_file()
    with trae.Store(f"sqlite://{tmp_path / 'trae.db'}") as by_url:
        assert by_url.secrets.get("UPSTREAM") == "s3cret", "the key file is found beside the file"


def test_a_viewer_reads_content_but_is_refused_every_content_write(store: trae.Store) -> None:
    channel = store.channels.create(name="Science Weekly", platform="podcast")
    persona = store.personas.create(name="Ada", channel_id=channel["id"])
    evidence = store.evidence.create(topic="Vote", content="Voting record.")
    record = store.contradictions.create(
        subject_name="Sen. Smith",
        topic="taxes",
        statement_1="I will never raise taxes.",
        statement_2="I voted to raise taxes.",
    )
    viewer = store.as_user(_user_token(store, "vera", "viewer"))
    assert viewer.channels.get(channel["id"])["name"] == "Science Weekly"
    assert viewer.personas.prompt(persona["id"])
    assert viewer.evidence.list().total == 1
    assert viewer.contradictions.get(record["id"])["topic"] == "taxes"
    for write in (
        lambda: viewer.channels.create(name="X"),
        lambda: viewer.channels.update(channel["id"], name="Y"),
        lambda: viewer.channels.delete(channel["id"]),
        lambda: viewer.personas.create(name="Bob"),
        lambda: viewer.personas.delete(persona["id"]),
        lambda: viewer.evidence.create(topic="T", content="C"),
        lambda: viewer.evidence.delete(evidence["id"]),
        lambda: viewer.contradictions.analyze(record["id"]),
        lambda: viewer.contradictions.delete(record["id"]),
    ):
        with pytest.raises(trae.PermissionDenied) as denied:
            write()
        assert "content:write" in str(denied.value)
    with pytest.raises(trae.PermissionDenied) as review:
        viewer.contradictions.verify(record["id"], "verified", "checked the record")
    assert "content:review" in str(review.value)
    assert store.channels.get(channel["id"])["name"] == "Science Weekly", "nothing was written"
    assert store.channels.list().total == 1 and store.personas.list().total == 1
    assert store.contradictions.get(record["id"])["verification_status"] == "pending"


def test_a_viewer_sees_only_its_own_tasks_and_is_refused_every_task_write(
    store: trae.Store,
) -> None:
    job = store.tasks.enqueue("job", payload={"n": 1})
    viewer = store.as_user(_user_token(store, "vera", "viewer"))
    # The system's task is not the viewer's: without tasks:read_all it does not exist for it.
    with pytest.raises(trae.NotFound):
        viewer.tasks.get(job.id)
    assert viewer.tasks.list().total == 0
    assert viewer.tasks.stats() is not None
    for write, needs in (
        (lambda: viewer.tasks.enqueue("job"), "tasks:write"),
        (lambda: viewer.tasks.enqueue_many([{"kind": "job"}]), "tasks:write"),
        (lambda: viewer.tasks.cancel(job.id), "tasks:write"),
        (lambda: viewer.tasks.retry(job.id), "tasks:write"),
        (lambda: viewer.tasks.pause("default"), "tasks:admin"),
        (lambda: viewer.tasks.resume("default"), "tasks:admin"),
        (lambda: viewer.tasks.set_concurrency_limit("default", 2), "tasks:admin"),
    ):
        with pytest.raises(trae.PermissionDenied) as denied:
            write()
        assert needs in str(denied.value)
    assert store.tasks.get(job.id).state == "available", "nothing changed"
    assert store.tasks.list().total == 1
    # An explicit principal still wins over the store's.
    with pytest.raises(trae.PermissionDenied):
        store.tasks.cancel(job.id, principal=store.auth.authenticate(_user_token(store, "vic", "viewer")))


def test_a_viewer_reads_metrics_but_is_refused_alert_administration(store: trae.Store) -> None:
    spec = {
        "name": "backlog",
        "metric": "trae_queue_depth",
        "comparison": ">",
        "value": 0,
        "severity": "high",
    }
    rule = store.metrics.create_rule(spec)
    viewer = store.as_user(_user_token(store, "vera", "viewer"))
    assert [r.name for r in viewer.metrics.rules()] == ["backlog"]
    assert viewer.metrics.rule(rule.id).name == "backlog"
    assert viewer.metrics.alerts().total == 0
    assert isinstance(viewer.metrics.names(), list)
    for write in (
        lambda: viewer.metrics.create_rule({**spec, "name": "mine"}),
        lambda: viewer.metrics.update_rule(rule.id, {**spec, "value": 5}),
        lambda: viewer.metrics.delete_rule(rule.id),
    ):
        with pytest.raises(trae.PermissionDenied) as denied:
            write()
        assert "alerts:admin" in str(denied.value)
    assert [(r.name, r.value) for r in store.metrics.rules()] == [("backlog", 0.0)]
    nobody = store.as_user(
        store.api_keys.create(
            store.auth.authenticate(_user_token(store, "kim", "user")), name="k", scopes=["pets:read"]
        ).key
    )
    with pytest.raises(trae.PermissionDenied):
        nobody.metrics.rules()
    for operational in (
        lambda: nobody.health.report(),
        lambda: nobody.health.check(),
        lambda: nobody.health.check_component("database"),
        lambda: nobody.health.component("database"),
        lambda: nobody.health.history("database"),
    ):
        with pytest.raises(trae.PermissionDenied) as denied:
            operational()
        assert "metrics:read" in str(denied.value)
    assert viewer.health.component("database").name == "database"
    with pytest.raises(trae.PermissionDenied) as denied:
        viewer.metrics.sample()
    assert "alerts:admin" in str(denied.value)
    assert store.metrics.names() == [], "the refused round sampled nothing"


def test_a_viewer_is_refused_backups(store: trae.Store, tmp_path: Path) -> None:
    viewer = store.as_user(_user_token(store, "vera", "viewer"))
    with pytest.raises(trae.PermissionDenied) as denied:
        trae.backup.create(viewer, tmp_path / "stolen.db")
    assert "backups:admin" in str(denied.value)
    assert not (tmp_path / "stolen.db").exists()
    if store.backend == "sqlite":  # pg_dump backups are covered by test_backup.py
        assert trae.backup.create(store, tmp_path / "mine.db").size > 0


def test_a_viewer_reads_apis_but_is_refused_changes_calls_and_checks(store: trae.Store) -> None:
    store.apis.create(name="search", capability="search", base_url="https://a.example")
    viewer = store.as_user(_user_token(store, "vera", "viewer"))
    assert viewer.apis.get("search").name == "search"
    assert viewer.apis.list().total == 1
    for write, needed in (
        (lambda: viewer.apis.create(name="x", capability="x", base_url="https://b.example"), "apis:admin"),
        (lambda: viewer.apis.delete("search"), "apis:admin"),
        (lambda: viewer.apis.check("search"), "apis:admin"),
        (lambda: viewer.orchestrator.call("search", "/q"), "apis:call"),
    ):
        with pytest.raises(trae.PermissionDenied) as denied:
            write()
        assert needed in str(denied.value)
    assert store.apis.list().total == 1, "nothing was written"
