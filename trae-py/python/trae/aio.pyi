"""trae for asyncio: the API of `trae` with awaitable calls."""

import builtins
import datetime
import os
import uuid
from collections.abc import Awaitable, Generator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, final, overload

from . import (
    _ContradictionType,
    _EvidenceType,
    _Platform,
    _SubjectType,
    _VerificationStatus,
    Alert,
    AnalyzedContradiction,
    Channel,
    Contradiction,
    EvidenceRecord,
    Opportunity,
    Persona,
    PersonaPrompt,
    PersonaVersion,
    AlertRule,
    ComponentStatus,
    HealthReport,
    HealthTransition,
    MetricSeries,
    ApiAttempt,
    ApiCallResult,
    ApiEndpoint,
    ApiKey,
    ApiUsage,
    AuditEntry,
    Budget,
    TddReplay,
    TddRun,
    TddRunDiff,
    SoloInterview,
    SoloSpec,
    _SoloProjectType,
    _BudgetArg,
    _TddRunStatus,
    ChatPiece,
    ChatResponse,
    CreatedApiKey,
    ModelEndpoint,
    _Messages,
    Event,
    EventPage,
    StreamPosition,
    _Topic,
    NewTask,
    Page,
    Pet,
    Principal,
    QueueSettings,
    _RoutingStrategyName,
    Role,
    Secret,
    SecretVersion,
    Task,
    TaskState,
    TaskStats,
    TokenPair,
    User,
)
from . import Worker as Worker

__all__ = [
    "ApiKeys",
    "Apis",
    "Audit",
    "Auth",
    "Channels",
    "ChatStream",
    "Contradictions",
    "Events",
    "EventSubscription",
    "Evidence",
    "Health",
    "Llm",
    "Metrics",
    "Orchestrator",
    "Personas",
    "Pets",
    "Policy",
    "Secrets",
    "Solo",
    "Store",
    "StoreOpener",
    "TaskContext",
    "Tasks",
    "Tdd",
    "Users",
    "Worker",
]

@final
class Pets:
    """The pets of a `trae.aio.Store` (`store.pets`); the methods of `trae.Pets`, awaitable."""

    def create(
        self, *, name: str, species: str, age: int, tags: builtins.list[str] | None = None
    ) -> Awaitable[Pet]:
        """Creates a pet; awaits to the new `Pet`. The rules of `trae.Pets.create` apply."""
    def get(self, id: uuid.UUID | str) -> Awaitable[Pet]:
        """Awaits to the pet with this id (a `uuid.UUID` or its string form).

        Raises `NotFound` when there is none, `ValidationError` for a malformed id string.
        """
    def list(
        self,
        *,
        species: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Awaitable[Page[Pet]]:
        """Awaits to one `Page` of pets, oldest first; the arguments of `trae.Pets.list` apply."""
    def update(
        self,
        id: uuid.UUID | str,
        *,
        name: str | None = None,
        species: str | None = None,
        age: int | None = None,
        tags: builtins.list[str] | None = None,
    ) -> Awaitable[Pet]:
        """Changes the given fields of a pet; awaits to the updated `Pet`. Fields left `None` keep
        their value; the rules of `trae.Pets.update` apply."""
    def delete(self, id: uuid.UUID | str) -> Awaitable[None]:
        """Deletes a pet; awaits to `None`. Raises `NotFound` when there is no such pet."""

@final
class Auth:
    """Registration, sign-in, tokens and credentials (`store.auth`); the methods of
    `trae.Auth`, each returning an awaitable."""

    def register(
        self, username: str, email: str, password: str, full_name: str | None = None
    ) -> Awaitable[User]:
        """Registers a new account with the `user` role; awaits to the `User`."""
    def login(
        self, username: str, password: str, *, client_ip: str | None = None
    ) -> Awaitable[TokenPair]:
        """Signs in (from `client_ip`, when given) and starts a session; awaits to a
        `TokenPair` with its `user`."""
    def rotate_signing_key(self, principal: Principal | None = None) -> Awaitable[str]:
        """Makes a new signing key (system only); awaits to its id."""
    def refresh(self, refresh_token: str) -> Awaitable[TokenPair]:
        """Exchanges a refresh token (once) for a new `TokenPair`."""
    def logout(self, access_token: str) -> Awaitable[None]:
        """Ends the session of an access token."""
    def authenticate(self, token: str) -> Awaitable[Principal]:
        """Awaits to the `Principal` an access token or an API key stands for."""
    def authorize(self, principal: Principal, permission: str) -> Awaitable[None]:
        """Awaits to `None` when `principal` holds `permission`, else raises
        `PermissionDenied`."""

@final
class Users:
    """Profiles and user administration (`store.users`); the methods of `trae.Users`, each
    returning an awaitable."""

    def me(self, principal: Principal) -> Awaitable[User]:
        """Awaits to the `User` a principal acts for."""
    def update_me(
        self, principal: Principal, email: str | None = None, full_name: str | None = None
    ) -> Awaitable[User]:
        """Changes the signed-in user's own email or display name."""
    def change_password(self, principal: Principal, current: str, new: str) -> Awaitable[None]:
        """Changes the signed-in user's own password after checking the current one."""
    def list(
        self,
        principal: Principal | None = None,
        *,
        query: str | None = None,
        role: str | None = None,
        is_active: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Awaitable[Page[User]]:
        """Awaits to one `Page` of users, by username (needs `users:admin`)."""
    def get(self, id: uuid.UUID | str, principal: Principal | None = None) -> Awaitable[User]:
        """Awaits to the user with this id (needs `users:admin`)."""
    def create(
        self,
        username: str,
        email: str,
        password: str,
        roles: builtins.list[str],
        full_name: str | None = None,
        principal: Principal | None = None,
    ) -> Awaitable[User]:
        """Creates a user with the given roles (needs `users:admin`)."""
    def update(
        self,
        id: uuid.UUID | str,
        principal: Principal | None = None,
        *,
        email: str | None = None,
        full_name: str | None = None,
        roles: builtins.list[str] | None = None,
        is_active: bool | None = None,
        unlock: bool = False,
    ) -> Awaitable[User]:
        """Changes a user as an administrator (needs `users:admin`)."""
    def delete(self, id: uuid.UUID | str, principal: Principal | None = None) -> Awaitable[None]:
        """Deletes a user with their sessions and API keys (needs `users:admin`)."""
    def revoke_sessions(
        self, id: uuid.UUID | str, principal: Principal | None = None
    ) -> Awaitable[int]:
        """Ends every session of a user; awaits to how many ended (needs `users:admin`)."""

@final
class ApiKeys:
    """A signed-in user's API keys (`store.api_keys`); the methods of `trae.ApiKeys`, each
    returning an awaitable."""

    def create(
        self,
        principal: Principal,
        name: str,
        scopes: builtins.list[str] | None = None,
        expires_in_days: int | None = None,
    ) -> Awaitable[CreatedApiKey]:
        """Makes an API key for the signed-in user; its `key` is shown this once."""
    def list(self, principal: Principal) -> Awaitable[builtins.list[ApiKey]]:
        """Awaits to the signed-in user's keys, newest first."""
    def revoke(self, principal: Principal, id: uuid.UUID | str) -> Awaitable[None]:
        """Revokes one of the signed-in user's keys."""

@final
class Policy:
    """Roles and their permissions (`store.policy`); the methods of `trae.Policy`, each
    returning an awaitable."""

    def roles(self, principal: Principal | None = None) -> Awaitable[list[Role]]:
        """Awaits to every role, by name."""
    def role(self, name: str, principal: Principal | None = None) -> Awaitable[Role]:
        """Awaits to the role with this name."""
    def permissions(self, principal: Principal | None = None) -> Awaitable[list[str]]:
        """Awaits to every permission trae checks."""
    def create_role(
        self,
        name: str,
        description: str = "",
        permissions: list[str] | None = None,
        principal: Principal | None = None,
    ) -> Awaitable[Role]:
        """Creates a custom role."""
    def update_role(
        self,
        name: str,
        description: str | None = None,
        permissions: list[str] | None = None,
        principal: Principal | None = None,
    ) -> Awaitable[Role]:
        """Changes a custom role's description or permissions."""
    def delete_role(self, name: str, principal: Principal | None = None) -> Awaitable[None]:
        """Deletes a custom role no user holds."""

@final
class Audit:
    """The audit log (`store.audit`); the methods of `trae.Audit`, each returning an
    awaitable."""

    def list(
        self,
        principal: Principal | None = None,
        *,
        actor: uuid.UUID | str | None = None,
        action: str | None = None,
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Awaitable[Page[AuditEntry]]:
        """Awaits to one `Page` of audit entries, newest first (needs `audit:read`)."""

@final
class Store:
    """A trae database for asyncio code; open one with `await Store.open(url)` or
    `async with Store.open(url) as store:`."""

    @staticmethod
    def open(
        url: str | None = None,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        jwt_secret: str | None = None,
        master_key: str | None = None,
    ) -> StoreOpener:
        """Opens (and migrates) the database at `url`; the arguments and configuration rules
        of `trae.Store` apply.

        Await the result for the store, or use it with `async with` to close the store at the
        end of the block. Raises `ConfigError` for a URL trae cannot use or a short
        `jwt_secret`, and `Unavailable` when the database cannot be reached.
        """
    def as_user(self, token: str) -> Awaitable[Store]:
        """The same open store acting as the user or API key `token` stands for (await it);
        the rules of `trae.Store.as_user` apply."""
    @property
    def pets(self) -> Pets:
        """The pets in this store."""
    @property
    def auth(self) -> Auth:
        """Registration, sign-in, tokens and credentials."""
    @property
    def users(self) -> Users:
        """Profiles and user administration."""
    @property
    def api_keys(self) -> ApiKeys:
        """A signed-in user's API keys."""
    @property
    def policy(self) -> Policy:
        """Roles and the permissions they grant."""
    @property
    def audit(self) -> Audit:
        """The audit log."""
    @property
    def tasks(self) -> Tasks:
        """The durable task queue."""
    @property
    def secrets(self) -> Secrets:
        """The secrets vault, opened on first use (see `trae.Secrets`)."""
    @property
    def apis(self) -> Apis:
        """The external API registry (see `trae.Apis`)."""
    @property
    def orchestrator(self) -> Orchestrator:
        """Calls to external APIs by capability, wired on first use (see
        `trae.Orchestrator`)."""
    @property
    def llm(self) -> Llm:
        """Language models through the API registry (see `trae.aio.Llm`)."""
    @property
    def tdd(self) -> Tdd:
        """The TDD agent (see `trae.aio.Tdd`)."""
    @property
    def solo(self) -> Solo:
        """The SOLO agent's genesis interviews (see `trae.aio.Solo`)."""
    @property
    def health(self) -> Health:
        """Component health, opened on first use (see `trae.Health`)."""
    @property
    def metrics(self) -> Metrics:
        """Metric series and alert rules (see `trae.Metrics`)."""
    @property
    def events(self) -> Events:
        """The event stream: pages and live subscriptions (see `trae.Events`)."""
    @property
    def channels(self) -> Channels:
        """The channels content is published on (see `trae.aio.Channels`)."""
    @property
    def personas(self) -> Personas:
        """Author personas, versioned and with variants (see `trae.aio.Personas`)."""
    @property
    def evidence(self) -> Evidence:
        """The evidence library (see `trae.aio.Evidence`)."""
    @property
    def contradictions(self) -> Contradictions:
        """The contradiction tracker (see `trae.aio.Contradictions`)."""
    @property
    def backend(self) -> Literal["sqlite", "postgres"]:
        """The database engine: "sqlite" or "postgres"."""
    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
    def close(self) -> Awaitable[None]:
        """Closes the database connections (await it); later calls raise `Unavailable`. Closing
        again does nothing."""
    def __aenter__(self) -> Awaitable[Store]: ...
    def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> Awaitable[Literal[False]]: ...

@final
class StoreOpener:
    """What `Store.open(url)` returns: await it for the store, or use it with `async with`,
    which closes the store when the block ends."""

    def __await__(self) -> Generator[Any, None, Store]: ...
    def __aenter__(self) -> Awaitable[Store]: ...
    def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> Awaitable[Literal[False]]: ...

@final
class Tasks:
    """The durable task queue of a `trae.aio.Store` (`store.tasks`); the methods of
    `trae.Tasks`, each returning an awaitable."""

    def enqueue(
        self,
        kind: str,
        payload: Any = None,
        *,
        queue: str | None = None,
        priority: int | None = None,
        max_attempts: int | None = None,
        run_at: datetime.datetime | None = None,
        unique_key: str | None = None,
        tags: builtins.list[str] | None = None,
        principal: Principal | None = None,
    ) -> Awaitable[Task]:
        """Enqueues one task; awaits to it, with `inserted` set (the rules of
        `trae.Tasks.enqueue` apply)."""
    def enqueue_many(
        self, tasks: Iterable[NewTask], *, principal: Principal | None = None
    ) -> Awaitable[builtins.list[Task]]:
        """Enqueues tasks all or none; awaits to them in order."""
    def get(self, id: uuid.UUID | str, principal: Principal | None = None) -> Awaitable[Task]:
        """Awaits to the task with this id; raises `NotFound` when there is none."""
    def list(
        self,
        principal: Principal | None = None,
        *,
        state: TaskState | None = None,
        queue: str | None = None,
        kind: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Awaitable[Page[Task]]:
        """Awaits to one `Page` of tasks, newest first."""
    def cancel(
        self, id: uuid.UUID | str, principal: Principal | None = None
    ) -> Awaitable[Task]:
        """Cancels a task that has not finished; `Conflict` when it already finished."""
    def retry(self, id: uuid.UUID | str, principal: Principal | None = None) -> Awaitable[Task]:
        """Makes a failed, cancelled, retryable or scheduled task available now; `Conflict`
        for a completed or running task."""
    def pause(self, queue: str, principal: Principal | None = None) -> Awaitable[QueueSettings]:
        """Stops handing out a queue's tasks."""
    def resume(
        self, queue: str, principal: Principal | None = None
    ) -> Awaitable[QueueSettings]:
        """Hands out a paused queue's tasks again."""
    def set_concurrency_limit(
        self, queue: str, limit: int | None, principal: Principal | None = None
    ) -> Awaitable[QueueSettings]:
        """Limits how many of a queue's tasks run at once (`None`: no limit)."""
    def stats(self, principal: Principal | None = None) -> Awaitable[TaskStats]:
        """Awaits to the counts per queue and state."""

@final
class Secrets:
    """The secrets vault of a `trae.aio.Store` (`store.secrets`); the methods of
    `trae.Secrets`, each returning an awaitable. The vault opens on the first call, with the
    master key rules of `trae.Secrets`."""

    def set(
        self,
        name: str,
        value: str | bytes,
        *,
        description: str | None = None,
        tags: builtins.list[str] | None = None,
        principal: Principal | None = None,
    ) -> Awaitable[Secret]:
        """Sets a secret's value as a new version; awaits to its metadata."""
    def get(
        self, name: str, version: int | None = None, *, principal: Principal | None = None
    ) -> Awaitable[str]:
        """Awaits to the value as a `str` (latest version, or `version`)."""
    def get_bytes(
        self, name: str, version: int | None = None, *, principal: Principal | None = None
    ) -> Awaitable[bytes]:
        """Awaits to the value as `bytes`."""
    def describe(self, name: str, *, principal: Principal | None = None) -> Awaitable[Secret]:
        """Awaits to a secret's metadata; `NotFound` when there is none."""
    def list(
        self,
        prefix: str | None = None,
        *,
        tag: str | None = None,
        limit: int = 50,
        offset: int = 0,
        principal: Principal | None = None,
    ) -> Awaitable[Page[Secret]]:
        """Awaits to one `Page` of secrets' metadata, by name."""
    def versions(
        self, name: str, *, principal: Principal | None = None
    ) -> Awaitable[builtins.list[SecretVersion]]:
        """Awaits to the stored versions, newest first."""
    def delete(self, name: str, *, principal: Principal | None = None) -> Awaitable[int]:
        """Deletes a secret with every version; awaits to how many versions went."""
    def prune(
        self, name: str, keep: int = 1, *, principal: Principal | None = None
    ) -> Awaitable[int]:
        """Removes all but the `keep` newest versions; awaits to how many went."""

@final
class Apis:
    """The external API registry of a `trae.aio.Store` (`store.apis`); the methods of
    `trae.Apis`, each returning an awaitable."""

    def create(
        self, spec: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Awaitable[ApiEndpoint]:
        """Registers an endpoint; awaits to it. The rules of `trae.Apis.create` apply."""
    def update(
        self, name: str, spec: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Awaitable[ApiEndpoint]:
        """Replaces an endpoint's whole spec; awaits to it."""
    def delete(self, name: str) -> Awaitable[None]:
        """Removes an endpoint with its log and usage."""
    def get(self, name: str) -> Awaitable[ApiEndpoint]:
        """Awaits to the endpoint `name`; `NotFound` when there is none."""
    def list(
        self,
        *,
        capability: str | None = None,
        is_active: bool | None = None,
        tag: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Awaitable[Page[ApiEndpoint]]:
        """Awaits to one `Page` of endpoints, by priority then name."""
    def usage(self, name: str) -> Awaitable[ApiUsage]:
        """Awaits to the endpoint's usage totals."""
    def logs(
        self, name: str, *, limit: int = 50, offset: int = 0
    ) -> Awaitable[Page[ApiAttempt]]:
        """Awaits to one `Page` of the endpoint's request log, newest first."""
    def check(self, name: str) -> Awaitable[ApiEndpoint]:
        """Checks the endpoint's health now; awaits to it with the new health."""
    def flush(self) -> Awaitable[None]:
        """Writes the attempts still queued for the request log and usage."""

@final
class Orchestrator:
    """Calls to external APIs by capability (`store.orchestrator`); the methods of
    `trae.Orchestrator`, each returning an awaitable."""

    def call(
        self,
        capability: str,
        path: str,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: bytes | str | Any | None = None,
        strategy: _RoutingStrategyName | None = None,
    ) -> Awaitable[ApiCallResult]:
        """Calls `capability` at `path`; awaits to the upstream's answer. The rules and errors
        of `trae.Orchestrator.call` apply."""

@final
class TaskContext:
    """What an `async def` handler gets as its second argument, when it takes two: the
    methods of `trae.TaskContext`, with `report_progress` awaitable."""

    @property
    def task(self) -> Task:
        """The task as claimed (state "running"; `attempt` counts this one)."""
    @property
    def payload(self) -> Any:
        """The task's input (a new Python object on each access)."""
    def is_cancelled(self) -> bool:
        """Whether the handler should stop (cancelled, lease lost, or shutting down)."""
    def report_progress(self, progress: Any) -> Awaitable[bool]:
        """Records `progress` on the task; awaits to `False` when the lease is lost."""

@final
class Health:
    """Component health of a `trae.aio.Store` (`store.health`); the methods of
    `trae.Health`, each returning an awaitable."""

    def check(self) -> Awaitable[HealthReport]:
        """Checks every built-in component now; awaits to the report."""
    def check_component(self, name: str) -> Awaitable[ComponentStatus]:
        """Checks the built-in component `name` now; `NotFound` for any other name."""
    def report(self) -> Awaitable[HealthReport]:
        """Awaits to the report as of the latest checks."""
    def component(self, name: str) -> Awaitable[ComponentStatus]:
        """Awaits to the component `name`'s status; `NotFound` when there is none."""
    def history(self, name: str) -> Awaitable[builtins.list[HealthTransition]]:
        """Awaits to the component's status changes over the last 7 days, newest first."""

@final
class Events:
    """The event stream of a `trae.aio.Store` (`store.events`); the methods of
    `trae.Events`, each returning an awaitable."""

    def page(
        self,
        *,
        since: int | None = None,
        topics: builtins.list[_Topic] | None = None,
        epoch: str | None = None,
        limit: int | None = None,
    ) -> Awaitable[EventPage]:
        """Awaits to the events after `since`, oldest first."""
    def subscribe(
        self,
        *,
        topics: builtins.list[_Topic] | None = None,
        since: int | None = None,
        epoch: str | None = None,
    ) -> Awaitable[EventSubscription]:
        """Awaits to an async iterator of the events after `since`, then every new one."""
    def position(self) -> Awaitable[StreamPosition]:
        """Awaits to the log's epoch, last `seq` and oldest kept `seq`."""

@final
class EventSubscription:
    """An async iterator of `trae.Event` dicts: `async for event in sub:`."""

    @property
    def epoch(self) -> str:
        """The log's epoch."""
    def last_seq(self) -> Awaitable[int]:
        """Awaits to the last `seq` covered: resume after it."""
    def next(self, timeout: float | None = None) -> Awaitable[Event | None]:
        """Awaits to the next event, or `None` when `timeout` seconds pass without one."""
    def close(self) -> None:
        """Ends the subscription."""
    def __aiter__(self) -> EventSubscription: ...
    def __anext__(self) -> Awaitable[Event]: ...

@final
class Metrics:
    """Metric series and alert rules of a `trae.aio.Store` (`store.metrics`); the methods
    of `trae.Metrics`, each returning an awaitable."""

    def names(self) -> Awaitable[builtins.list[str]]:
        """Awaits to every metric name with stored points, sorted."""
    def query(
        self,
        name: str,
        *,
        since: datetime.datetime | None = None,
        step: int | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Awaitable[builtins.list[MetricSeries]]:
        """Awaits to the series of metric `name`; the rules of `trae.Metrics.query` apply."""
    def sample(self) -> Awaitable[builtins.list[Alert]]:
        """Samples the task queue's and external APIs' gauges, stores them and judges the alert
        rules; awaits to the alerts that fired or resolved."""
    def create_rule(
        self, spec: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Awaitable[AlertRule]:
        """Adds an alert rule; the rules of `trae.Metrics.create_rule` apply."""
    def update_rule(
        self, id: uuid.UUID | str, spec: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Awaitable[AlertRule]:
        """Replaces rule `id`'s spec; awaits to it."""
    def delete_rule(self, id: uuid.UUID | str) -> Awaitable[None]:
        """Deletes rule `id`; its firing alerts resolve."""
    def rule(self, id: uuid.UUID | str) -> Awaitable[AlertRule]:
        """Awaits to rule `id`; `NotFound` when there is none."""
    def rules(self) -> Awaitable[builtins.list[AlertRule]]:
        """Awaits to every rule, by name."""
    def alerts(
        self,
        *,
        state: Literal["firing", "resolved"] | None = None,
        rule_id: uuid.UUID | str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Awaitable[Page[Alert]]:
        """Awaits to one page of alerts, newest first."""

@final
class Channels:
    """The channels of a `trae.aio.Store` (`store.channels`); the methods of `trae.Channels`,
    each returning an awaitable."""

    def create(self, spec: Mapping[str, Any] | None = None, /, **fields: Any) -> Awaitable[Channel]:
        """Adds a channel; the rules of `trae.Channels.create` apply."""
    def get(self, id: uuid.UUID | str) -> Awaitable[Channel]:
        """Awaits to channel `id`; `NotFound` when there is none."""
    def list(
        self,
        *,
        platform: _Platform | None = None,
        is_active: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Awaitable[Page[Channel]]:
        """Awaits to one page of channels."""
    def update(
        self, id: uuid.UUID | str, spec: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Awaitable[Channel]:
        """Changes the given fields of channel `id`; awaits to it."""
    def delete(self, id: uuid.UUID | str, *, detach: bool = False) -> Awaitable[int]:
        """Deletes channel `id`; awaits to how many personas it was detached from."""

@final
class Personas:
    """The personas of a `trae.aio.Store` (`store.personas`); the methods of `trae.Personas`,
    each returning an awaitable."""

    def create(self, spec: Mapping[str, Any] | None = None, /, **fields: Any) -> Awaitable[Persona]:
        """Adds a persona; the rules of `trae.Personas.create` apply."""
    def get(self, id: uuid.UUID | str) -> Awaitable[Persona]:
        """Awaits to persona `id`, inherited traits resolved."""
    def list(
        self,
        *,
        channel_id: uuid.UUID | str | None = None,
        parent_id: uuid.UUID | str | None = None,
        is_active: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Awaitable[Page[Persona]]:
        """Awaits to one page of personas."""
    def update(
        self, id: uuid.UUID | str, spec: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Awaitable[Persona]:
        """Changes the given fields of persona `id`; awaits to it."""
    def delete(self, id: uuid.UUID | str) -> Awaitable[None]:
        """Deletes persona `id`."""
    def versions(self, id: uuid.UUID | str) -> Awaitable[builtins.list[PersonaVersion]]:
        """Awaits to every version of persona `id`, oldest first."""
    def version(self, id: uuid.UUID | str, n: int) -> Awaitable[PersonaVersion]:
        """Awaits to version `n` of persona `id`."""
    def prompt(self, id: uuid.UUID | str) -> Awaitable[PersonaPrompt]:
        """Awaits to the system prompt persona `id` writes with; counts as a use."""

@final
class Evidence:
    """The evidence library of a `trae.aio.Store` (`store.evidence`); the methods of
    `trae.Evidence`, each returning an awaitable."""

    def create(
        self, spec: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Awaitable[EvidenceRecord]:
        """Adds evidence; the rules of `trae.Evidence.create` apply."""
    def get(self, id: uuid.UUID | str) -> Awaitable[EvidenceRecord]:
        """Awaits to evidence `id`."""
    def list(
        self,
        *,
        q: str | None = None,
        evidence_type: _EvidenceType | None = None,
        tag: str | None = None,
        min_credibility: int | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Awaitable[Page[EvidenceRecord]]:
        """Awaits to one page of evidence; `q` searches, best match first."""
    def update(
        self, id: uuid.UUID | str, spec: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Awaitable[EvidenceRecord]:
        """Changes the given fields of evidence `id`; awaits to it."""
    def delete(self, id: uuid.UUID | str) -> Awaitable[None]:
        """Deletes evidence `id`."""

@final
class Contradictions:
    """The contradiction tracker of a `trae.aio.Store` (`store.contradictions`); the methods of
    `trae.Contradictions`, each returning an awaitable."""

    def create(
        self, spec: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Awaitable[Contradiction]:
        """Records a contradiction; the rules of `trae.Contradictions.create` apply."""
    def get(self, id: uuid.UUID | str) -> Awaitable[Contradiction]:
        """Awaits to contradiction `id`."""
    def list(
        self,
        *,
        subject_name: str | None = None,
        subject_type: _SubjectType | None = None,
        topic: str | None = None,
        contradiction_type: _ContradictionType | None = None,
        verification_status: _VerificationStatus | None = None,
        min_severity: int | None = None,
        content_used: bool | None = None,
        tag: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Awaitable[Page[Contradiction]]:
        """Awaits to one page of contradictions."""
    def update(
        self, id: uuid.UUID | str, spec: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Awaitable[Contradiction]:
        """Changes the given fields of contradiction `id`; awaits to it."""
    def delete(self, id: uuid.UUID | str) -> Awaitable[None]:
        """Deletes contradiction `id`."""
    def verify(
        self, id: uuid.UUID | str, status: _VerificationStatus, note: str
    ) -> Awaitable[Contradiction]:
        """Moves the record to `status` with a `note`, audited; awaits to it."""
    def opportunities(self, *, limit: int = 50, offset: int = 0) -> Awaitable[Page[Opportunity]]:
        """Awaits to one page of content opportunities, best first."""
    def analyze(self, id: uuid.UUID | str) -> Awaitable[AnalyzedContradiction]:
        """Runs the contradiction engine over the record's statements; awaits to the result."""

@final
class Llm:
    """Language models through the API registry of a `trae.aio.Store` (`store.llm`); the
    methods of `trae.Llm`, `chat`, `stream` and `models` returning awaitables."""

    @overload
    def chat(
        self,
        messages: _Messages,
        *,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        seed: int | None = None,
        response_format: Mapping[str, Any] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        persona_id: uuid.UUID | str | None = None,
        budget: Budget | None = None,
        stream: Literal[False] = False,
    ) -> Awaitable[ChatResponse]:
        """Awaits to the whole answer to `messages`; the rules of `trae.Llm.chat` apply."""
    @overload
    def chat(
        self,
        messages: _Messages,
        *,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        seed: int | None = None,
        response_format: Mapping[str, Any] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        persona_id: uuid.UUID | str | None = None,
        budget: Budget | None = None,
        stream: Literal[True],
    ) -> Awaitable[ChatStream]: ...
    def stream(
        self,
        messages: _Messages,
        *,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        seed: int | None = None,
        response_format: Mapping[str, Any] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        persona_id: uuid.UUID | str | None = None,
        budget: Budget | None = None,
    ) -> Awaitable[ChatStream]:
        """Awaits to an async iterator of the answer's pieces as it is written; errors before
        anything is sent raise when awaited."""
    def models(
        self, *, limit: int = 50, offset: int = 0
    ) -> Awaitable[Page[ModelEndpoint]]:
        """Awaits to one `Page` of the model endpoints, by priority then name."""
    def budget(
        self,
        *,
        tokens: int | None = None,
        cost: float | None = None,
        wall_time: float | None = None,
        call_tokens: int | None = None,
    ) -> Budget:
        """A new `trae.Budget` (at once: nothing to await); the rules of `trae.Llm.budget`
        apply."""

@final
class ChatStream:
    """A model's answer as it is written: an async iterator of `trae.ChatPiece` dicts
    (`async for piece in stream:`); `async with` closes it."""

    @property
    def model(self) -> str:
        """The model asked for."""
    @property
    def endpoint(self) -> str:
        """The endpoint answering."""
    @property
    def response(self) -> ChatResponse | None:
        """The whole answer once the last piece was read, else `None`."""
    def close(self) -> None:
        """Stops reading and closes the connection to the provider; iteration ends."""
    def __aiter__(self) -> ChatStream: ...
    def __anext__(self) -> Awaitable[ChatPiece]: ...
    def __aenter__(self) -> Awaitable[ChatStream]: ...
    def __aexit__(self, *args: object) -> Awaitable[Literal[False]]: ...

@final
class Tdd:
    """The TDD agent of a `trae.aio.Store` (`store.tdd`); the methods of `trae.Tdd`
    returning awaitables. Cancelling the task awaiting `run` (or `replay`) stops it; the run
    is stored as cancelled."""

    def run(
        self,
        path: str | os.PathLike[str],
        test: str | Sequence[str],
        *,
        max_iterations: int | None = None,
        model: str | None = None,
        budget: _BudgetArg | None = None,
    ) -> Awaitable[TddRun]:
        """Creates a run and executes it to its end; awaits to the finished run. The rules of
        `trae.Tdd.run` apply."""
    def get(self, id: uuid.UUID | str) -> Awaitable[TddRun]:
        """Awaits to the run with this id, with its `steps`."""
    def list(
        self,
        *,
        status: _TddRunStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Awaitable[Page[TddRun]]:
        """Awaits to one `Page` of runs, newest first."""
    def diff(self, id: uuid.UUID | str) -> Awaitable[TddRunDiff]:
        """Awaits to the run's changes, one unified diff per file."""
    def cancel(self, id: uuid.UUID | str) -> Awaitable[TddRun]:
        """Cancels a run that has not ended; awaits to it."""
    def accept(self, id: uuid.UUID | str) -> Awaitable[TddRun]:
        """Writes a passed run's changes into the project; awaits to the run."""
    def replay(self, id: uuid.UUID | str) -> Awaitable[TddReplay]:
        """Replays the run's recorded edits without a model; awaits to a `trae.TddReplay`."""

@final
class Solo:
    """The SOLO agent's genesis interviews of a `trae.aio.Store` (`store.solo`); the methods
    of `trae.Solo` returning awaitables."""

    def start(self, project_type: _SoloProjectType, idea: str) -> Awaitable[SoloInterview]:
        """Starts an interview; awaits to it, its first question pending. The rules of
        `trae.Solo.start` apply."""
    def get(self, id: uuid.UUID | str) -> Awaitable[SoloInterview]:
        """Awaits to the interview with this id."""
    def list(self, *, limit: int = 50, offset: int = 0) -> Awaitable[Page[SoloInterview]]:
        """Awaits to one `Page` of interviews, newest first."""
    def answer(self, id: uuid.UUID | str, answer: str) -> Awaitable[SoloInterview]:
        """Answers the waiting question; awaits to the interview."""
    def revise(
        self, id: uuid.UUID | str, index: int, answer: str
    ) -> Awaitable[SoloInterview]:
        """Revises the answer of turn `index`; awaits to the interview."""
    def spec(
        self, id: uuid.UUID | str, version: int | None = None
    ) -> Awaitable[SoloSpec]:
        """Awaits to a version of the interview's spec (the latest when `version` is `None`)."""
