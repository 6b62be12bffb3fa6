"""Component health (``store.health``) and metric series with alert rules (``store.metrics``)
from Python, blocking and asyncio, on SQLite and PostgreSQL.

Status rules, uptime arithmetic, roll-ups and alert evaluation are tested in trae-core and
trae-storage with a manual clock; these tests check that the binding reaches those services,
converts arguments and answers both ways, and raises the right errors.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

import trae
import trae.aio

UTC = dt.timezone.utc
BUILTIN = ["database", "disk", "task_queue", "workers"]


def backlog_rule(**overrides):
    spec = {
        "name": "backlog",
        "metric": "trae_queue_depth",
        "labels": {"queue": "default"},
        "comparison": ">",
        "value": 0,
        "severity": "high",
    }
    spec.update(overrides)
    return spec


# --- health -----------------------------------------------------------------------------------


def test_health_checks_every_builtin_component(store: trae.Store) -> None:
    report = store.health.check()
    assert isinstance(report, trae.HealthReport)
    assert [c.name for c in report.components] == BUILTIN
    assert report.ready is True
    assert report.status in ("healthy", "degraded")
    by_name = {c.name: c for c in report.components}
    database = by_name["database"]
    assert database.required is True and by_name["disk"].required is False
    assert database.status == "healthy"
    # Checked once when opened and once by check().
    assert database.total_checks == 2 and database.total_failures == 0
    assert database.uptime_24h == 100.0
    assert database.last_check is not None and database.last_check.tzinfo is not None
    assert database.to_dict()["status"] == "healthy"

    again = store.health.check_component("database")
    assert again.total_checks == 3
    assert store.health.component("database") == again
    assert store.health.report().ready is True

    history = store.health.history("database")
    assert [(t.from_status, t.to_status) for t in history] == [("unknown", "healthy")]
    assert history[0].component == "database" and history[0].error is None

    # Transitions are audited as the server audits them.
    entries = store.audit.list(action="health.transition")
    assert {e.target for e in entries} >= {"component:database", "component:task_queue"}


def test_health_names_unknown_components_and_refuses_after_close(database_url: str) -> None:
    store = trae.Store(database_url)
    with pytest.raises(trae.NotFound, match="api:search"):
        store.health.check_component("api:search")
    with pytest.raises(trae.NotFound, match="nothing"):
        store.health.component("nothing")
    with pytest.raises(trae.NotFound):
        store.health.history("nothing")
    store.close()
    with pytest.raises(trae.Unavailable, match="closed"):
        store.health.report()


def test_health_rules_come_from_the_configuration(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAE_HEALTH_DEGRADED_AFTER", "4")
    monkeypatch.setenv("TRAE_HEALTH_FAILING_AFTER", "2")
    # The store reads the configuration `trae serve` reads, when it opens, and refuses a
    # broken one as the server refuses to start.
    with pytest.raises(trae.ConfigError, match="TRAE_HEALTH_FAILING_AFTER"):
        trae.Store(database_url)
    monkeypatch.setenv("TRAE_HEALTH_FAILING_AFTER", "5")
    with trae.Store(database_url) as store:
        assert store.health.report().ready is True


# --- metrics and alerts -----------------------------------------------------------------------


def test_alert_rules_round_trip_and_are_audited(store: trae.Store) -> None:
    metrics = store.metrics
    rule = metrics.create_rule(backlog_rule(), for_secs=60)
    assert isinstance(rule, trae.AlertRule) and isinstance(rule.id, uuid.UUID)
    assert (rule.name, rule.metric, rule.comparison, rule.value) == (
        "backlog",
        "trae_queue_depth",
        ">",
        0.0,
    )
    assert (rule.for_secs, rule.severity, rule.enabled, rule.webhook_url) == (60, "high", True, None)
    assert rule.labels == {"queue": "default"}
    assert metrics.rule(rule.id) == rule
    assert metrics.rule(str(rule.id)) == rule
    assert metrics.rules() == [rule]

    spec = rule.to_spec()
    spec.update(value=10, severity="critical", enabled=False)
    updated = metrics.update_rule(rule.id, spec)
    assert (updated.value, updated.severity, updated.enabled) == (10.0, "critical", False)
    assert updated.created_at == rule.created_at and updated.updated_at >= rule.updated_at

    actions = [e.action for e in store.audit.list(action="alert_rule.update")]
    assert actions == ["alert_rule.update"]
    metrics.delete_rule(rule.id)
    assert metrics.rules() == []
    with pytest.raises(trae.NotFound):
        metrics.rule(rule.id)
    with pytest.raises(trae.NotFound):
        metrics.delete_rule(rule.id)
    assert store.audit.list(action="alert_rule.delete").total == 1


def test_alert_rule_errors_name_their_field(store: trae.Store) -> None:
    metrics = store.metrics
    with pytest.raises(trae.ValidationError, match="comparison"):
        metrics.create_rule(backlog_rule(comparison="about"))
    with pytest.raises(trae.ValidationError, match="colour"):
        metrics.create_rule(backlog_rule(colour="red"))
    with pytest.raises(trae.ValidationError, match="severity"):
        spec = backlog_rule()
        del spec["severity"]
        metrics.create_rule(spec)
    with pytest.raises(trae.ValidationError, match="metric"):
        metrics.create_rule(backlog_rule(metric="Queue Depth"))
    with pytest.raises(trae.ValidationError, match="webhook_url"):
        metrics.create_rule(backlog_rule(webhook_url="ftp://example.com/hook"))
    with pytest.raises(trae.ValidationError, match="id"):
        metrics.rule("not-a-uuid")
    with pytest.raises(TypeError, match="spec must be a dict"):
        metrics.create_rule(["backlog"])
    with pytest.raises(TypeError):
        metrics.rule(42)
    with pytest.raises(trae.ValidationError, match="state"):
        metrics.alerts(state="burning")
    # Nothing half-written stayed behind.
    assert metrics.rules() == []
    metrics.create_rule(backlog_rule())
    with pytest.raises(trae.Conflict):
        metrics.create_rule(backlog_rule())
    assert len(metrics.rules()) == 1


def test_samples_fire_and_resolve_alerts_and_are_queryable(store: trae.Store) -> None:
    metrics = store.metrics
    rule = metrics.create_rule(backlog_rule())
    store.apis.create(name="search-a", capability="search", base_url="https://a.example")
    assert metrics.sample() == []

    task = store.tasks.enqueue("report.build", {"n": 1})
    changed = metrics.sample()
    assert [(a.rule_name, a.state, a.value) for a in changed] == [("backlog", "firing", 1.0)]
    alert = changed[0]
    assert alert.rule_id == rule.id and alert.labels == {"queue": "default"}
    assert (alert.severity, alert.comparison, alert.threshold) == ("high", ">", 0.0)
    assert alert.resolved_at is None and alert.fired_at.tzinfo is not None
    firing = metrics.alerts(state="firing")
    assert firing.total == 1 and firing.items == [alert]

    store.tasks.cancel(task.id)
    changed = metrics.sample()
    assert [(a.state, a.resolved_value) for a in changed] == [("resolved", 0.0)]
    assert metrics.alerts(state="firing").total == 0
    assert metrics.alerts(rule_id=rule.id, state="resolved").total == 1

    assert "trae_queue_depth" in metrics.names()
    series = metrics.query("trae_queue_depth", labels={"queue": "default"})
    assert len(series) == 1
    depth = series[0]
    assert depth.name == "trae_queue_depth" and depth.labels == {"queue": "default"}
    assert depth.step_secs == 10
    assert depth.points, "three samples were stored"
    at, value = depth.points[-1]
    assert at.tzinfo is not None and value == 0.0, "the latest sample wins its 10 s slot"
    assert metrics.query("trae_queue_depth", labels={"queue": "elsewhere"}) == []
    # Every registered external API has its call rate sampled, calls or not.
    (calls,) = metrics.query("trae_api_calls_per_minute")
    assert calls.labels == {"endpoint": "search-a"}
    assert calls.points[-1][1] == 0.0

    with pytest.raises(trae.ValidationError, match="name"):
        metrics.query("Not A Metric")
    with pytest.raises(trae.ValidationError, match="since"):
        metrics.query("trae_queue_depth", since=dt.datetime.now(UTC) + dt.timedelta(hours=1))
    with pytest.raises(trae.ValidationError, match="since"):
        metrics.query("trae_queue_depth", since=dt.datetime(2026, 1, 1))
    with pytest.raises(trae.ValidationError, match="step"):
        metrics.query("trae_queue_depth", step=15)


def test_the_asyncio_api_reaches_the_same_services(database_url: str) -> None:
    async def scenario() -> None:
        async with trae.aio.Store.open(database_url) as store:
            report = await store.health.check()
            assert [c.name for c in report.components] == BUILTIN
            assert (await store.health.component("task_queue")).status == "healthy"
            with pytest.raises(trae.NotFound):
                await store.health.history("nothing")

            rule = await store.metrics.create_rule(backlog_rule(value=0.5, comparison=">="))
            await store.tasks.enqueue("report.build", {})
            fired = await store.metrics.sample()
            assert [a.rule_id for a in fired] == [rule.id]
            assert (await store.metrics.alerts()).total == 1
            assert "trae_queue_tasks" in await store.metrics.names()
            await store.metrics.delete_rule(rule.id)
            assert await store.metrics.rules() == []
            with pytest.raises(trae.ValidationError, match="comparison"):
                await store.metrics.create_rule(backlog_rule(comparison="~"))

    asyncio.run(scenario())
