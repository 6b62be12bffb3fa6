"""trae: pets, identity and a durable task queue on SQLite or PostgreSQL, from Python.

Open a store, then work with its services::

    import trae

    with trae.Store("sqlite:///trae.db") as store:
        rex = store.pets.create(name="Rex", species="dog", age=3, tags=["good"])
        page = store.pets.list(species="dog")

        store.auth.register("alice", "alice@example.com", "correct horse battery")
        tokens = store.auth.login("alice", "correct horse battery")
        alice = store.auth.authenticate(tokens.access_token)   # a trae.Principal
        store.users.list()            # as the system: every permission
        store.users.list(alice)       # as alice: raises trae.PermissionDenied

        task = store.tasks.enqueue("email.send", {"to": "bob@example.com"})

        store.apis.create(name="search-a", capability="search", base_url="https://a.example")
        answer = store.orchestrator.call("search", "/q?text=trae")   # a trae.ApiCallResult

        store.health.check().status                       # "healthy", … (a trae.HealthReport)
        store.metrics.create_rule(name="backlog", metric="trae_queue_depth",
                                  comparison=">", value=100, severity="high")
        store.metrics.query("trae_queue_depth")           # [trae.MetricSeries, …]

    worker = trae.Worker(store, queues=["default"], concurrency=4)

    @worker.handler("email.send")
    def send(payload, ctx):           # or `async def`; `ctx` is optional
        ctx.report_progress({"step": "sending"})
        return {"sent": True}         # the task's result; an exception retries it

    worker.run()                      # until worker.stop() or Ctrl-C

Calls act as the system unless given a ``principal``. Every rule is checked by trae's Rust
core; broken ones raise ``trae.ValidationError``. All errors derive from ``trae.TraeError``.
``trae.aio`` has the same API for asyncio; ``trae.backup`` creates, verifies and restores
backups.
"""

from __future__ import annotations

import datetime as _datetime
from typing import Any, List, Literal, Optional, TypedDict

from ._native import (
    analyze_contradictions,
    compare_statements,
    Alert,
    AlertRule,
    ApiAttempt,
    ApiCallAttempt,
    ApiCallResult,
    ApiEndpoint,
    ApiKey,
    ApiKeys,
    Apis,
    ApiUsage,
    Audit,
    AuditEntry,
    Auth,
    AuthError,
    ConfigError,
    ComponentStatus,
    Conflict,
    CreatedApiKey,
    Health,
    HealthReport,
    HealthTransition,
    Locked,
    MetricSeries,
    Metrics,
    NotFound,
    Orchestrator,
    Page,
    PermissionDenied,
    Pet,
    Pets,
    Policy,
    Principal,
    QueueSettings,
    QueueStats,
    RateDecision,
    RateLimitedError,
    RateLimiter,
    RateWindow,
    Role,
    Secret,
    Secrets,
    SecretVersion,
    Store,
    Task,
    TaskContext,
    TaskFatal,
    Tasks,
    TaskSnooze,
    TaskStats,
    TokenPair,
    TraeError,
    Unavailable,
    UpstreamError,
    User,
    Users,
    ValidationError,
    Worker,
    WorkerSummary,
    __version__,
)
from . import aio
from . import backup

TaskState = Literal[
    "scheduled", "available", "running", "retryable", "completed", "failed", "cancelled"
]
"""Where a task is in its life (`Task.state`)."""


class TaskAttemptError(TypedDict):
    """One failed attempt of a task, as `Task.errors` lists it."""

    attempt: int
    at: _datetime.datetime
    message: str


class _NewTaskKind(TypedDict):
    kind: str


class NewTask(_NewTaskKind, total=False):
    """One task of `Tasks.enqueue_many`: the arguments of `Tasks.enqueue` as a dict (`kind`
    required)."""

    payload: Any
    queue: Optional[str]
    priority: Optional[int]
    max_attempts: Optional[int]
    run_at: Optional[_datetime.datetime]
    unique_key: Optional[str]
    tags: Optional[List[str]]


__all__ = [
    "Alert",
    "AlertRule",
    "ApiAttempt",
    "ApiCallAttempt",
    "ApiCallResult",
    "ApiEndpoint",
    "ApiKey",
    "ApiKeys",
    "Apis",
    "ApiUsage",
    "Audit",
    "AuditEntry",
    "Auth",
    "AuthError",
    "ComponentStatus",
    "ConfigError",
    "Conflict",
    "CreatedApiKey",
    "Health",
    "HealthReport",
    "HealthTransition",
    "Locked",
    "NewTask",
    "MetricSeries",
    "Metrics",
    "NotFound",
    "Orchestrator",
    "Page",
    "PermissionDenied",
    "Pet",
    "Pets",
    "Policy",
    "Principal",
    "QueueSettings",
    "QueueStats",
    "RateDecision",
    "RateLimitedError",
    "RateLimiter",
    "RateWindow",
    "Role",
    "Secret",
    "Secrets",
    "SecretVersion",
    "Store",
    "Task",
    "TaskAttemptError",
    "TaskContext",
    "TaskFatal",
    "TaskSnooze",
    "TaskState",
    "TaskStats",
    "Tasks",
    "TokenPair",
    "TraeError",
    "Unavailable",
    "UpstreamError",
    "User",
    "Users",
    "ValidationError",
    "Worker",
    "WorkerSummary",
    "__version__",
    "aio",
    "analyze_contradictions",
    "backup",
    "compare_statements",
]
