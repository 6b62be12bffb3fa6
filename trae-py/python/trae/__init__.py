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

        # an OpenAI-compatible server (loopback needs TRAE_OUTBOUND_ALLOW_LOOPBACK=true)
        store.apis.create(name="local", capability="llm.chat", base_url="http://127.0.0.1:8080/v1",
                          metadata={"default_model": "smollm2"})
        reply = store.llm.chat("Say hello.", budget=store.llm.budget(tokens=2000))
        reply.content, reply.usage, reply.cost             # a trae.ChatResponse
        for piece in store.llm.stream("Tell me more."):   # {"content": "…"}, as it is written
            print(piece.get("content", ""), end="")

        # a project under TRAE_AGENT_WORKSPACES, its tests made to pass by the model
        run = store.tdd.run("/srv/projects/app", "cargo test", max_iterations=3,
                            budget=store.llm.budget(tokens=50_000))
        run.status, store.tdd.diff(run.id).files           # "passed", [trae.TddFileDiff, …]
        store.tdd.accept(run.id)                          # writes the changes into the project

        # a project idea turned into a spec by a genesis interview, one answer at a time
        interview = store.solo.start("api", "A todo API")  # interview.pending.question: …
        interview = store.solo.answer(interview.id, "todos: list, create")
        store.solo.spec(interview.id).markdown            # once interview.status == "complete"

        store.health.check().status                       # "healthy", … (a trae.HealthReport)
        store.metrics.create_rule(name="backlog", metric="trae_queue_depth",
                                  comparison=">", value=100, severity="high")
        store.metrics.query("trae_queue_depth")           # [trae.MetricSeries, …]

        news = store.channels.create(name="News", platform="youtube")   # dicts, ids uuid.UUID
        ada = store.personas.create(name="Ada", tone="warm", channel_id=news["id"])
        store.personas.prompt(ada["id"])["prompt"]        # "You are Ada.\nTone: warm\n…"
        store.evidence.list(q="tax hikes")                # full-text search, best match first
        claim = store.contradictions.create(subject_name="Smith", topic="taxes",
                                            statement_1="I never support tax hikes.",
                                            statement_2="We must always support tax hikes.")
        store.contradictions.verify(claim["id"], "verified", "Checked the sources.")

    worker = trae.Worker(store, queues=["default"], concurrency=4)

    @worker.handler("email.send")
    def send(payload, ctx):           # or `async def`; `ctx` is optional
        ctx.report_progress({"step": "sending"})
        return {"sent": True}         # the task's result; an exception retries it

    worker.run()                      # until worker.stop() or Ctrl-C

Calls act as the store's principal (the system, or the user of ``store.as_user(token)``)
unless given a ``principal``. Every rule is checked by trae's Rust
core; broken ones raise ``trae.ValidationError``. All errors derive from ``trae.TraeError``.
``trae.aio`` has the same API for asyncio; ``trae.backup`` creates, verifies and restores
backups.
"""

from __future__ import annotations

import datetime as _datetime
import uuid as _uuid
from typing import Any, Dict, List, Literal, Optional, TypedDict

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
    Budget,
    BudgetExceeded,
    Channels,
    ChatResponse,
    ChatStream,
    ConfigError,
    ComponentStatus,
    Conflict,
    Contradictions,
    CreatedApiKey,
    Evidence,
    Events,
    EventSubscription,
    Health,
    HealthReport,
    HealthTransition,
    HistoryLost,
    InvalidAnswer,
    Llm,
    Locked,
    MetricSeries,
    Metrics,
    ModelEndpoint,
    NotFound,
    Orchestrator,
    Overloaded,
    Page,
    PermissionDenied,
    Personas,
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
    Solo,
    SoloInterview,
    SoloSpec,
    SoloTurn,
    Store,
    Task,
    TaskContext,
    TaskFatal,
    Tasks,
    TaskSnooze,
    TaskStats,
    Tdd,
    TddEdit,
    TddFileDiff,
    TddReplay,
    TddRun,
    TddRunDiff,
    TddStep,
    TestFailure,
    TestReport,
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


_Platform = Literal[
    "youtube", "twitter", "tiktok", "instagram", "blog", "podcast", "newsletter", "other"
]
_VocabularyLevel = Literal["basic", "intermediate", "advanced", "expert"]
_EvidenceType = Literal[
    "quote", "statistic", "fact", "document", "study", "news", "video", "testimony", "other"
]
_SubjectType = Literal[
    "person", "organization", "publication", "politician", "celebrity", "influencer"
]
_ContradictionType = Literal[
    "direct", "contextual", "temporal", "value", "policy_shift", "audience_based"
]
_VerificationStatus = Literal["pending", "verified", "disputed", "debunked"]


class Channel(TypedDict):
    """A channel content is published on, as `store.channels` returns it."""

    id: _uuid.UUID
    name: str
    platform: _Platform
    url: Optional[str]
    description: Optional[str]
    target_audience: Optional[str]
    content_strategy: Optional[str]
    posting_schedule: Optional[str]
    is_active: bool
    metrics: Dict[str, Any]
    created_at: _datetime.datetime
    updated_at: _datetime.datetime


class Persona(TypedDict):
    """An author persona with its parent's traits resolved; `inherited` names the traits that
    came from an ancestor."""

    id: _uuid.UUID
    name: str
    is_active: bool
    version: int
    parent_id: Optional[_uuid.UUID]
    description: Optional[str]
    writing_style: Optional[str]
    personality_traits: Optional[List[str]]
    expertise_areas: Optional[List[str]]
    tone: Optional[str]
    vocabulary_level: Optional[_VocabularyLevel]
    target_audience: Optional[str]
    channel_id: Optional[_uuid.UUID]
    content_types: Optional[List[str]]
    inherited: List[str]
    usage_count: int
    last_used_at: Optional[_datetime.datetime]
    created_at: _datetime.datetime
    updated_at: _datetime.datetime


class PersonaVersion(TypedDict):
    """One stored version of a persona: its own traits (nothing inherited) when it was saved."""

    persona_id: _uuid.UUID
    version: int
    name: str
    is_active: bool
    parent_id: Optional[_uuid.UUID]
    description: Optional[str]
    writing_style: Optional[str]
    personality_traits: Optional[List[str]]
    expertise_areas: Optional[List[str]]
    tone: Optional[str]
    vocabulary_level: Optional[_VocabularyLevel]
    target_audience: Optional[str]
    channel_id: Optional[_uuid.UUID]
    content_types: Optional[List[str]]
    changed_at: _datetime.datetime
    changed_by: str


class PersonaPrompt(TypedDict):
    """The system prompt a persona writes with."""

    persona_id: _uuid.UUID
    name: str
    version: int
    prompt: str


class EvidenceRecord(TypedDict):
    """A piece of evidence, as `store.evidence` returns it (named so as not to clash with the
    `Evidence` service)."""

    id: _uuid.UUID
    topic: str
    content: str
    source_url: Optional[str]
    source_name: Optional[str]
    evidence_type: _EvidenceType
    published_at: Optional[_datetime.datetime]
    credibility: int
    relevance: int
    tags: List[str]
    created_by: str
    created_at: _datetime.datetime
    updated_at: _datetime.datetime


class StoredAnalysis(TypedDict):
    """The contradiction engine's verdict as `Contradictions.analyze` stores it on a record."""

    score: int
    label: Literal["none", "low", "moderate", "high"]
    suggested_type: Optional[_ContradictionType]
    cue: Optional[Literal["negation", "antonym", "quantifier", "numeric", "date", "stance"]]
    confidence: float
    explanation: Optional[str]
    analyzed_at: _datetime.datetime


class Contradiction(TypedDict):
    """A tracked contradiction, as `store.contradictions` returns it."""

    id: _uuid.UUID
    subject_name: str
    subject_type: _SubjectType
    topic: str
    statement_1: str
    statement_2: str
    context_1: Optional[str]
    context_2: Optional[str]
    date_1: Optional[_datetime.date]
    date_2: Optional[_datetime.date]
    evidence_1: List[_uuid.UUID]
    evidence_2: List[_uuid.UUID]
    contradiction_type: _ContradictionType
    severity: int
    confidence: float
    verification_status: _VerificationStatus
    public_impact: int
    tags: List[str]
    content_used: bool
    time_gap_days: Optional[int]
    reviewed_by: Optional[str]
    reviewed_at: Optional[_datetime.datetime]
    review_note: Optional[str]
    analysis: Optional[StoredAnalysis]
    created_by: str
    created_at: _datetime.datetime
    updated_at: _datetime.datetime


class Opportunity(TypedDict):
    """A verified, unused contradiction ranked for content: `score` is severity × confidence ×
    public impact."""

    score: float
    contradiction: Contradiction


class AnalyzedContradiction(TypedDict):
    """What `Contradictions.analyze` returns: the updated record and the engine's answer (the
    dict `trae.compare_statements` returns)."""

    contradiction: Contradiction
    analysis: Dict[str, Any]


class ChatToolCall(TypedDict):
    """A tool call of a model's answer, as `ChatResponse.tool_calls` lists it: `arguments` is
    the JSON text the model wrote."""

    id: str
    name: str
    arguments: str


class ToolCallPiece(TypedDict):
    """Part of tool call number `index` of a streamed answer: `id` and `name` come in its first
    piece (else `None`), `arguments` in pieces."""

    index: int
    id: Optional[str]
    name: Optional[str]
    arguments: str


class ChatPiece(TypedDict, total=False):
    """A piece of a streamed answer: `{"content": str}` or `{"tool_call": ToolCallPiece}`."""

    content: str
    tool_call: ToolCallPiece


class ChatUsage(TypedDict):
    """Tokens a model call used (`ChatResponse.usage`)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class BudgetSpent(TypedDict):
    """What a budget's settled calls spent (`Budget.spent`); `cost` in dollars."""

    tokens: int
    cost: float
    calls: int


__all__ = [
    "Alert",
    "AlertRule",
    "AnalyzedContradiction",
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
    "Budget",
    "BudgetExceeded",
    "BudgetSpent",
    "Channel",
    "Channels",
    "ChatPiece",
    "ChatResponse",
    "ChatStream",
    "ChatToolCall",
    "ChatUsage",
    "ComponentStatus",
    "ConfigError",
    "Conflict",
    "Contradiction",
    "Contradictions",
    "CreatedApiKey",
    "Evidence",
    "EvidenceRecord",
    "Events",
    "EventSubscription",
    "Health",
    "HealthReport",
    "HealthTransition",
    "HistoryLost",
    "InvalidAnswer",
    "Llm",
    "Locked",
    "NewTask",
    "MetricSeries",
    "Metrics",
    "ModelEndpoint",
    "NotFound",
    "Opportunity",
    "Orchestrator",
    "Overloaded",
    "Page",
    "PermissionDenied",
    "Persona",
    "PersonaPrompt",
    "Personas",
    "PersonaVersion",
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
    "Solo",
    "SoloInterview",
    "SoloSpec",
    "SoloTurn",
    "Store",
    "StoredAnalysis",
    "Task",
    "TaskAttemptError",
    "TaskContext",
    "TaskFatal",
    "TaskSnooze",
    "TaskState",
    "TaskStats",
    "Tasks",
    "Tdd",
    "TddEdit",
    "TddFileDiff",
    "TddReplay",
    "TddRun",
    "TddRunDiff",
    "TddStep",
    "TestFailure",
    "TestReport",
    "TokenPair",
    "ToolCallPiece",
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
