"""The TDD agent from Python (``store.tdd``), blocking and asyncio, on seeded-bug projects
(trae-agents/tests/tdd_projects) copied into a workspace, against a scripted
OpenAI-compatible server on 127.0.0.1 (``scripted_llm``) and, when installed, a real small
model served by llama.cpp (the ``smollm2`` fixture of conftest.py).

The loop, its endings, edit placement, replays and the permission rules are tested in
trae-agents; these tests check that the binding reaches them under the store's principal,
converts runs, steps, edits, reports, diffs and replays, maps errors, and that Ctrl-C and
asyncio cancellation stop a run cleanly.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import pathlib
import shutil
import signal
import sys
import threading
import time
import uuid
from typing import Any, Callable, Iterator

import pytest

import trae
import trae.aio
from scripted_llm import ScriptedLlm, text

PASSWORD = "correct horse battery"
PROJECTS = pathlib.Path(__file__).resolve().parents[2] / "trae-agents" / "tests" / "tdd_projects"
CARGO_TEST = "cargo test --quiet"


@pytest.fixture
def workspace(tmp_path: pathlib.Path) -> pathlib.Path:
    """The directory runs may work under (`TRAE_AGENT_WORKSPACES`)."""
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def agent_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path, workspace: pathlib.Path
) -> None:
    """Lets the gateway call 127.0.0.1 and runs work in `workspace`, with no `trae.toml` from
    the working directory (set before the `store` fixture opens its store)."""
    monkeypatch.setenv("TRAE_OUTBOUND_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("TRAE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRAE_AGENT_WORKSPACES", str(workspace))


@pytest.fixture
def server() -> Iterator[ScriptedLlm]:
    with ScriptedLlm() as scripted:
        yield scripted


def register(store: trae.Store, server: ScriptedLlm) -> None:
    """Registers `server` as the priced `llm.chat` endpoint "local" (default model "m")."""
    store.apis.create(
        name="local",
        capability="llm.chat",
        base_url=server.base_url,
        timeout_ms=20_000,
        metadata={
            "default_model": "m",
            "input_price_per_million": 1.0,
            "output_price_per_million": 2.0,
        },
    )


def scenario(name: str) -> dict[str, Any]:
    """The seeded bug's scenario: `test` (argv), `failing_before`, `fix`, `wrong_fix`."""
    loaded: dict[str, Any] = json.loads((PROJECTS / name / "scenario.json").read_text())
    return loaded


def project(workspace: pathlib.Path, name: str, as_name: str | None = None) -> pathlib.Path:
    """A copy of the seeded-bug project `name` in the workspace, without its scenario."""
    target = workspace / (as_name or name)
    shutil.copytree(PROJECTS / name, target)
    (target / "scenario.json").unlink()
    return target


def slow_project(workspace: pathlib.Path) -> tuple[pathlib.Path, list[str]]:
    """A project whose test command sleeps for a minute, and that command."""
    path = workspace / "slow"
    path.mkdir()
    (path / "README").write_text("nothing to fix\n")
    return path, [sys.executable, "-c", "import time; time.sleep(60)"]


def token_for(store: trae.Store, username: str, role: str) -> str:
    store.users.create(
        username=username, email=f"{username}@example.com", password=PASSWORD, roles=[role]
    )
    return store.auth.login(username, PASSWORD).access_token


def wait_for(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def aware(stamp: datetime.datetime | None) -> bool:
    return stamp is not None and stamp.utcoffset() == datetime.timedelta(0)


# --- runs that end ----------------------------------------------------------------------------


def test_a_fixed_run_passes_shows_its_trajectory_diff_and_replay_and_is_accepted_once(
    store: trae.Store, server: ScriptedLlm, workspace: pathlib.Path
) -> None:
    register(store, server)
    path = project(workspace, "rs_missing_case")
    seeded = scenario("rs_missing_case")
    before = (path / "src" / "lib.rs").read_text()
    server.push(text(seeded["fix"]))

    run = store.tdd.run(path, CARGO_TEST, max_iterations=3)
    assert isinstance(run, trae.TddRun)
    assert (run.status, run.iterations, run.reason) == (
        "passed",
        1,
        "the tests pass after 1 model rounds",
    ), run.reason
    assert isinstance(run.id, uuid.UUID) and run.owner_id is None, "the system's own run"
    assert (run.project, run.test) == (str(path.resolve()), ["cargo", "test", "--quiet"])
    assert (run.max_iterations, run.model) == (3, None)
    assert run.tokens > 0 and run.cost > 0
    assert run.final_report is not None and run.final_report.green
    assert run.changed_files == ["src/lib.rs"]
    assert all(aware(t) for t in (run.created_at, run.started_at, run.finished_at))
    assert run.accepted_at is None and run.steps is None, "steps come with get()"
    assert "'passed'" in repr(run)

    detail = store.tdd.get(run.id)
    assert store.tdd.get(str(run.id)).id == run.id
    assert detail.status == "passed" and detail.steps is not None
    first, round_one = detail.steps
    assert isinstance(first, trae.TddStep) and first.index == 0
    assert (first.prompt_summary, first.answer, first.edits, first.tokens) == (None, None, [], 0)
    assert first.report is not None and not first.report.green
    assert first.report.exit_code not in (0, None) and first.report.failed >= 1
    [failure] = [
        f for f in first.report.failures if "rejects_out_of_range_codes" in f.test_id
    ]
    assert isinstance(failure, trae.TestFailure) and failure.kind == "failed"
    assert failure.message and failure.excerpt
    assert round_one.index == 1 and round_one.answer == seeded["fix"]
    assert round_one.prompt_summary and "failures" in round_one.prompt_summary
    assert round_one.tokens > 0 and round_one.cost > 0 and round_one.elapsed_ms > 0
    assert aware(round_one.at)
    [edit] = round_one.edits
    assert isinstance(edit, trae.TddEdit)
    assert (edit.path, edit.applied, edit.placement, edit.refusal, edit.hint) == (
        "src/lib.rs",
        True,
        "exact",
        None,
        None,
    )
    assert "500..=599" in edit.replace and not edit.whole_file
    assert round_one.report is not None and round_one.report.green
    assert round_one.report.failures == [] and round_one.report.exit_code == 0
    prompt = server.requests[0]["messages"][1]["content"]
    assert "rejects_out_of_range_codes" in prompt, "the model was shown the failure"

    diff = store.tdd.diff(run.id)
    assert isinstance(diff, trae.TddRunDiff) and diff.project_changed is False
    [changed] = diff.files
    assert isinstance(changed, trae.TddFileDiff) and changed.path == "src/lib.rs"
    assert "+        500..=599 => StatusClass::ServerError," in changed.diff
    assert (path / "src" / "lib.rs").read_text() == before, "untouched until accepted"

    replay = store.tdd.replay(run.id)
    assert isinstance(replay, trae.TddReplay)
    assert (replay.recorded, replay.green, replay.matches) == ("passed", [False, True], True)
    assert replay.final_report.green
    assert len(server.requests) == 1, "a replay asks no model"

    accepted = store.tdd.accept(run.id)
    assert aware(accepted.accepted_at) and accepted.status == "passed"
    assert "500..=599 => StatusClass::ServerError" in (path / "src" / "lib.rs").read_text()
    with pytest.raises(trae.Conflict) as twice:
        store.tdd.accept(run.id)
    assert twice.value.code == "conflict" and "accepted already" in str(twice.value)
    with pytest.raises(trae.Conflict):
        store.tdd.cancel(run.id)

    page = store.tdd.list()
    assert isinstance(page, trae.Page) and page.total == 1
    assert [r.id for r in page] == [run.id] and page[0].steps is None
    assert store.tdd.list(status="passed").total == 1
    assert store.tdd.list(status="failed", limit=1, offset=0).total == 0
    with pytest.raises(trae.NotFound):
        store.tdd.get(uuid.uuid4())


def test_a_wrong_fix_with_one_round_fails_and_cannot_be_accepted(
    store: trae.Store, server: ScriptedLlm, workspace: pathlib.Path
) -> None:
    register(store, server)
    path = project(workspace, "rs_compile_error")
    server.push(text(scenario("rs_compile_error")["wrong_fix"]))
    run = store.tdd.run(path, ["cargo", "test", "--quiet"], max_iterations=1, model="m")
    assert (run.status, run.iterations, run.model) == ("failed", 1, "m"), run.reason
    assert run.final_report is not None and not run.final_report.green
    assert server.requests[0]["model"] == "m"
    [first, last] = store.tdd.get(run.id).steps or []
    assert first.report is not None and first.report.failures[0].kind == "compile"
    [edit] = last.edits
    assert edit.applied, "the wrong fix applies; it just does not compile either"
    with pytest.raises(trae.Conflict, match="only a passed run"):
        store.tdd.accept(run.id)
    assert store.tdd.list(status="failed").total == 1


def test_a_python_project_runs_its_pytest_argv(
    store: trae.Store, server: ScriptedLlm, workspace: pathlib.Path
) -> None:
    register(store, server)
    path = project(workspace, "py_wrong_operator")
    seeded = scenario("py_wrong_operator")
    argv = [sys.executable, *seeded["test"][1:]]
    server.push(text(seeded["fix"]))
    run = store.tdd.run(str(path), argv, max_iterations=1)
    assert run.status == "passed", run.reason
    assert run.test == argv and run.changed_files == ["shop/shipping.py"]
    first = (store.tdd.get(run.id).steps or [])[0]
    assert first.report is not None
    failing = [f.test_id for f in first.report.failures]
    assert all(any(want in got for got in failing) for want in seeded["failing_before"]), failing


def test_a_budget_too_small_is_exhausted_before_any_request(
    store: trae.Store, server: ScriptedLlm, workspace: pathlib.Path
) -> None:
    register(store, server)
    path = project(workspace, "rs_missing_case")
    server.push(text(scenario("rs_missing_case")["fix"]))
    for budget in (store.llm.budget(tokens=50), {"tokens": 50, "cost": None}):
        run = store.tdd.run(path, CARGO_TEST, budget=budget)
        assert run.status == "budget_exhausted", run.reason
        assert (run.tokens, run.iterations, run.changed_files) == (0, 0, [])
    assert server.requests == [], "the model was never called"


# --- bad input and who may do what ------------------------------------------------------------


def test_bad_input_raises_validation_errors_naming_the_field(
    store: trae.Store, server: ScriptedLlm, workspace: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    register(store, server)
    path = project(workspace, "rs_missing_case")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (workspace / "file.txt").write_text("not a directory")
    cases: list[tuple[Any, dict[str, Any], str]] = [
        (path, {"test": ""}, "test"),
        (path, {"test": "   "}, "test"),
        (path, {"test": []}, "test"),
        (path, {"test": [""]}, "test"),
        (path, {"test": "cargo 'unclosed"}, "test"),
        (path, {"test": 42}, "test"),
        (path, {"test": ["cargo", 1]}, "test"),
        (elsewhere, {}, "path"),
        ("/etc", {}, "path"),
        (workspace / "no-such-project", {}, "path"),
        (f"{path}/../..", {}, "path"),
        (workspace / "file.txt", {}, "path"),
        ("", {}, "path"),
        (path, {"max_iterations": 0}, "max_iterations"),
        (path, {"max_iterations": 51}, "max_iterations"),
        (path, {"max_iterations": -1}, "max_iterations"),
        (path, {"max_iterations": 2**70}, "max_iterations"),
        (path, {"max_iterations": True}, "max_iterations"),
        (path, {"max_iterations": "3"}, "max_iterations"),
        (path, {"budget": "lots"}, "budget"),
        (path, {"budget": {"tokens": -1}}, "budget.tokens"),
        (path, {"budget": {"speed": 1}}, "budget.speed"),
        (path, {"budget": {"wall_time": float("nan")}}, "budget.wall_time"),
    ]
    for where, extra, field in cases:
        arguments: dict[str, Any] = {"test": CARGO_TEST, **extra}
        with pytest.raises(trae.ValidationError) as err:
            store.tdd.run(where, **arguments)
        assert err.value.field == field, (where, extra, str(err.value))
        assert err.value.code == "validation_failed"
    with pytest.raises(trae.ValidationError) as err:
        store.tdd.list(status="green")  # type: ignore[arg-type]
    assert err.value.field == "status"
    with pytest.raises(trae.ValidationError) as err:
        store.tdd.list(limit=0)
    assert err.value.field == "limit"
    with pytest.raises(trae.ValidationError) as err:
        store.tdd.get("not-a-uuid")
    assert err.value.field == "id"
    with pytest.raises(TypeError):
        store.tdd.get(42)  # type: ignore[arg-type]
    assert store.tdd.list().total == 0, "nothing was created"
    assert server.requests == []


def test_only_agents_run_may_run_and_a_run_is_hidden_from_other_developers(
    store: trae.Store, server: ScriptedLlm, workspace: pathlib.Path
) -> None:
    register(store, server)
    path = project(workspace, "rs_missing_case")
    for role in ("viewer", "user"):
        refused = store.as_user(token_for(store, f"{role}1", role))
        with pytest.raises(trae.PermissionDenied, match="agents:run"):
            refused.tdd.run(path, CARGO_TEST)
        with pytest.raises(trae.PermissionDenied):
            refused.tdd.list()
    assert store.tdd.list().total == 0 and server.requests == []

    alice_token = token_for(store, "alice", "developer")
    alice = store.as_user(alice_token)
    mallory = store.as_user(token_for(store, "mallory", "developer"))
    server.push(text(scenario("rs_missing_case")["fix"]))
    run = alice.tdd.run(path, CARGO_TEST, max_iterations=1)
    assert run.status == "passed", run.reason
    assert run.owner_id == store.auth.authenticate(alice_token).user_id

    for attempt in (
        mallory.tdd.get,
        mallory.tdd.diff,
        mallory.tdd.cancel,
        mallory.tdd.accept,
        mallory.tdd.replay,
    ):
        with pytest.raises(trae.NotFound) as hidden:
            attempt(run.id)
        assert hidden.value.code == "not_found", attempt
    assert mallory.tdd.list().total == 0, "another developer's runs are not listed"
    assert alice.tdd.list().total == 1 and store.tdd.list().total == 1
    assert alice.tdd.get(run.id).steps is not None
    assert alice.tdd.accept(run.id).accepted_at is not None


# --- stopping a run ---------------------------------------------------------------------------


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need the main thread"
)
def test_ctrl_c_cancels_a_running_run(store: trae.Store, workspace: pathlib.Path) -> None:
    path, argv = slow_project(workspace)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            store.tdd.run(path, argv)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 10, "the test command was killed"
    [run] = store.tdd.list()
    assert (run.status, run.reason) == ("cancelled", "cancelled"), "stored before raising"
    assert run.finished_at is not None


def test_cancel_stops_a_run_waiting_in_another_thread(
    store: trae.Store, workspace: pathlib.Path
) -> None:
    path, argv = slow_project(workspace)
    finished: list[trae.TddRun] = []
    worker = threading.Thread(target=lambda: finished.append(store.tdd.run(path, argv)))
    started = time.monotonic()
    worker.start()
    running = wait_for(lambda: store.tdd.list(status="running").items)
    assert running, "the run started"
    cancelled = store.tdd.cancel(running[0].id)
    assert cancelled.status == "cancelled"
    worker.join(timeout=20)
    assert not worker.is_alive() and time.monotonic() - started < 20
    [run] = finished
    assert (run.id, run.status) == (cancelled.id, "cancelled")


# --- asyncio ----------------------------------------------------------------------------------


def test_asyncio_mirror(
    database_url: str, server: ScriptedLlm, workspace: pathlib.Path
) -> None:
    path = project(workspace, "rs_missing_case")
    slow, argv = slow_project(workspace)

    async def main() -> None:
        async with trae.aio.Store.open(database_url) as store:
            assert isinstance(store.tdd, trae.aio.Tdd)
            await store.apis.create(
                name="local",
                capability="llm.chat",
                base_url=server.base_url,
                timeout_ms=20_000,
                metadata={"default_model": "m"},
            )
            server.push(text(scenario("rs_missing_case")["fix"]))
            run = await store.tdd.run(path, CARGO_TEST, max_iterations=2)
            assert isinstance(run, trae.TddRun) and run.status == "passed", run.reason
            detail, page, diff = await asyncio.gather(
                store.tdd.get(run.id), store.tdd.list(), store.tdd.diff(run.id)
            )
            assert [s.index for s in detail.steps or []] == [0, 1]
            assert [r.id for r in page] == [run.id]
            assert [f.path for f in diff.files] == ["src/lib.rs"]
            assert (await store.tdd.replay(run.id)).matches
            assert (await store.tdd.accept(run.id)).accepted_at is not None
            with pytest.raises(trae.ValidationError) as bad:
                await store.tdd.run(path, "")
            assert bad.value.field == "test"
            with pytest.raises(trae.NotFound):
                await store.tdd.get(uuid.uuid4())

            # Cancelling the awaiting task stops the run, which records that it was cancelled.
            waiting = asyncio.ensure_future(store.tdd.run(slow, argv))
            for _ in range(400):
                running = (await store.tdd.list(status="running")).items
                if running:
                    break
                await asyncio.sleep(0.05)
            assert running, "the run started"
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            for _ in range(400):
                stopped = await store.tdd.get(running[0].id)
                if stopped.status != "running":
                    break
                await asyncio.sleep(0.05)
            assert stopped.status == "cancelled"

    asyncio.run(main())


def test_classes_are_exported() -> None:
    for name in (
        "Tdd",
        "TddRun",
        "TddStep",
        "TddEdit",
        "TddFileDiff",
        "TddRunDiff",
        "TddReplay",
        "TestReport",
        "TestFailure",
    ):
        assert name in trae.__all__ and hasattr(trae, name), name
    assert "Tdd" in trae.aio.__all__ and hasattr(trae.aio, "Tdd")


# --- a real model -----------------------------------------------------------------------------


def test_a_real_model_run_ends_cleanly_with_a_whole_trajectory(
    smollm2: str,
    tmp_path: pathlib.Path,
    workspace: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Reading the ~850-token prompt takes a CPU-bound llama.cpp 7 s on two idle cores and
    # several times that on busy ones: beyond the default 30 s outbound limit, after which
    # the gateway would retry and the run end in `error`.
    monkeypatch.setenv("TRAE_OUTBOUND_TIMEOUT_MS", "300000")
    path = project(workspace, "rs_missing_case")
    with trae.Store(f"sqlite://{tmp_path / 'real.db'}") as store:
        store.apis.create(
            name="smollm2",
            capability="llm.chat",
            base_url=smollm2,
            timeout_ms=300_000,
            metadata={"models": ["smollm2"]},
        )
        budget = store.llm.budget(tokens=8_000, call_tokens=128)
        run = store.tdd.run(path, CARGO_TEST, max_iterations=1, model="smollm2", budget=budget)
        # A 135M model is not expected to fix it; the run must end as a run, not an error.
        assert run.status in ("passed", "failed", "stuck", "budget_exhausted"), run.reason
        assert run.tokens > 0 and run.iterations == 1
        first, round_one = store.tdd.get(run.id).steps or []
        assert first.report is not None and not first.report.green
        assert round_one.prompt_summary and round_one.answer is not None
        assert round_one.report is not None and round_one.tokens > 0
