"""trae: pets, identity and a durable task queue on SQLite or PostgreSQL, from Python."""

import datetime
import os
import builtins
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import (
    Any,
    Final,
    Generic,
    Literal,
    SupportsIndex,
    TypeAlias,
    TypedDict,
    TypeVar,
    final,
    overload,
)

from . import aio as aio
from . import backup as backup

__all__ = [
    "__version__",
    "aio",
    "Alert",
    "AlertRule",
    "analyze_contradictions",
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
    "backup",
    "Channel",
    "Channels",
    "ChatPiece",
    "ChatResponse",
    "ChatStream",
    "ChatToolCall",
    "ChatUsage",
    "compare_statements",
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
    "Metrics",
    "MetricSeries",
    "ModelEndpoint",
    "NewTask",
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
    "Tasks",
    "TaskSnooze",
    "TaskState",
    "TaskStats",
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
]

_T = TypeVar("_T")

__version__: Final[str]
"""The version of trae (the crate version of trae-py)."""

class TraeError(Exception):
    """Base class of every error trae raises.

    `code` is the stable machine-readable error code of trae-core (`not_found`,
    `validation_failed`, `conflict`, `unauthorized`, `forbidden`, `locked`,
    `invalid_configuration`, `unavailable`, `overloaded`, `rate_limited`, `upstream_failed`,
    `internal`);
    `str(error)` is the message for a human.
    """

    code: str

class NotFound(TraeError):
    """The addressed record does not exist (code `not_found`)."""

class ValidationError(TraeError):
    """Input broke a rule and nothing was written (code `validation_failed`).

    `field` names the offending argument, e.g. `name`, `age`, `tags[2]`, `limit` or `id`;
    the message starts with it too.
    """

    field: str

class Conflict(TraeError):
    """The change would duplicate or contradict an existing record (code `conflict`)."""

class AuthError(TraeError):
    """The credentials are missing, wrong, expired or revoked (code `unauthorized`).

    A wrong password and an unknown user give the same message.
    """

class PermissionDenied(TraeError):
    """The principal is known but may not do this (code `forbidden`); the message names what
    is missing."""

class Locked(TraeError):
    """The account is locked after repeated failed sign-ins (code `locked`).

    `retry_after` is how many seconds remain until it opens again.
    """

    retry_after: int

class ConfigError(TraeError):
    """The configuration, e.g. the database URL, is invalid (code `invalid_configuration`)."""

class Unavailable(TraeError):
    """The database cannot be reached, or the store is closed (code `unavailable`)."""

class HistoryLost(TraeError):
    """The event history asked for is gone (code `history_lost`): `epoch` is not the log's
    (it was restored from a backup), the events after `since` were pruned, or `since` is past
    the end. `reason` says which; `epoch`, `last_seq` and `oldest_seq` are where the log
    stands now: subscribe again from there.
    """

    reason: str
    epoch: str
    last_seq: int
    oldest_seq: int | None

class Overloaded(Unavailable):
    """Too much work is waiting: a task queue's backlog is at its limit
    (`TRAE_QUEUE_MAX_BACKLOG`), so nothing was enqueued (code `overloaded`).

    `retry_after` is how many seconds to wait before trying again (an estimate from the recent
    drain rate).
    """

    retry_after: int

class RateLimitedError(TraeError):
    """Every candidate is at a rate limit, so nothing was sent (code `rate_limited`).

    `retry_after` is how many seconds until a call is next allowed.
    """

    retry_after: float

class UpstreamError(TraeError):
    """An external API call failed: every attempt failed, no endpoint could take it, or the
    outbound policy refused it (code `upstream_failed`); the message lists the attempts."""

class InvalidAnswer(UpstreamError):
    """A model's answer did not have the shape asked for, even after a repair round (code
    `invalid_answer`).

    `path` is the JSON pointer into the answer that failed (`/` for the whole of it).
    """

    path: str

class BudgetExceeded(TraeError):
    """A run's budget cannot pay for a model call, so nothing was sent (code
    `budget_exceeded`).

    `limit` names the limit: `tokens`, `cost` or `wall_time`.
    """

    limit: str

@final
class Pet:
    """A stored pet. Read-only; equal when every field is equal, hashed by id."""

    @property
    def id(self) -> uuid.UUID:
        """The pet's identifier (a UUIDv7, so ids sort by creation time)."""
    @property
    def name(self) -> str:
        """The pet's name, 1–100 characters without surrounding whitespace."""
    @property
    def species(self) -> Literal["dog", "cat", "bird", "fish", "other"]:
        """The species: "dog", "cat", "bird", "fish" or "other"."""
    @property
    def age(self) -> int:
        """The age in years, 0–100."""
    @property
    def tags(self) -> list[str]:
        """The tags, up to 10 distinct strings of 1–32 characters (a new list on each access)."""
    @property
    def created_at(self) -> datetime.datetime:
        """When the pet was created (timezone-aware, UTC)."""
    @property
    def updated_at(self) -> datetime.datetime:
        """When the pet was last changed (timezone-aware, UTC)."""
    def to_dict(self) -> dict[str, Any]:
        """The pet as a new dict of its attributes, with the same Python types."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Page(Generic[_T]):
    """One page of a list: the items on it and how many match in all.

    Iterable, sized and indexable like its `items`.
    """

    @property
    def items(self) -> list[_T]:
        """The items on this page, in the list's order; a new list on each access."""
    @property
    def total(self) -> int:
        """How many items match the filter in all pages (a lower bound when `total_exact` is
        false)."""
    @property
    def total_exact(self) -> bool:
        """Whether `total` is exact; false when a list stopped counting at its cap (tasks
        filtered by tag or owner count at most 10,000 matches)."""
    @property
    def limit(self) -> int:
        """The largest number of items the page could hold, as asked for."""
    @property
    def offset(self) -> int:
        """How many matching items come before this page."""
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[_T]: ...
    @overload
    def __getitem__(self, key: SupportsIndex, /) -> _T: ...
    @overload
    def __getitem__(self, key: slice, /) -> list[_T]: ...

@final
class Pets:
    """The pets of a `Store` (`store.pets`).

    Every rule is checked by trae-core and broken ones raise `ValidationError`, whose `field`
    names the argument.
    """

    def create(
        self, *, name: str, species: str, age: int, tags: builtins.list[str] | None = None
    ) -> Pet:
        """Creates a pet and returns it.

        `name`: 1–100 characters, trimmed. `species`: "dog", "cat", "bird", "fish" or
        "other". `age`: 0–100. `tags`: up to 10 distinct tags of 1–32 characters.
        """
    def get(self, id: uuid.UUID | str) -> Pet:
        """Returns the pet with this id (a `uuid.UUID` or its string form).

        Raises `NotFound` when there is none, `ValidationError` for a malformed id string.
        """
    def list(
        self,
        *,
        species: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[Pet]:
        """Lists pets, oldest first (ties by id), one page at a time.

        `species` and `tag` filter; `limit` (1–500) and `offset` (0 or more) choose the page.
        The page's `total` counts every matching pet.
        """
    def update(
        self,
        id: uuid.UUID | str,
        *,
        name: str | None = None,
        species: str | None = None,
        age: int | None = None,
        tags: builtins.list[str] | None = None,
    ) -> Pet:
        """Changes the given fields of a pet and returns it; fields left `None` keep their value.

        The rules of `create` apply to each given field. `tags` replaces all tags (`[]` removes
        them). Raises `NotFound` when there is no such pet.
        """
    def delete(self, id: uuid.UUID | str) -> None:
        """Deletes a pet. Raises `NotFound` when there is no such pet."""

@final
class Principal:
    """Who acts on a call: a signed-in user, an API key, or the system.

    Get one from `store.auth.authenticate(token_or_key)`, or `Principal.system()` for trae
    itself (what every call uses when given no principal). Read-only; equal when they are the
    same principal.
    """

    @staticmethod
    def system() -> Principal:
        """trae itself, holding every permission (what calls without a principal act as)."""
    @property
    def kind(self) -> Literal["user", "api_key", "system"]:
        """"user", "api_key" or "system"."""
    @property
    def user_id(self) -> uuid.UUID | None:
        """The user acted for: the user, or the key's owner; `None` for the system."""
    @property
    def username(self) -> str | None:
        """The user's username, when known."""
    @property
    def session_id(self) -> uuid.UUID | None:
        """The session of the access token this principal came from, if it came from one."""
    @property
    def key_id(self) -> uuid.UUID | None:
        """The API key's id, for an API key principal."""
    @property
    def roles(self) -> list[str]:
        """The roles of the user (or of the key's owner); empty for the system."""
    @property
    def scopes(self) -> list[str] | None:
        """An API key's scopes (the most it may do); `None` for other principals."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class User:
    """A user account. Read-only; equal when every field is equal, hashed by id.

    Never carries a password or its hash.
    """

    @property
    def id(self) -> uuid.UUID:
        """The user's identifier."""
    @property
    def username(self) -> str:
        """The canonical (lowercase) username."""
    @property
    def email(self) -> str:
        """The canonical (lowercase) email address."""
    @property
    def full_name(self) -> str | None:
        """The display name, or `None`."""
    @property
    def roles(self) -> list[str]:
        """The role names, sorted (a new list on each access)."""
    @property
    def is_active(self) -> bool:
        """Whether the user may sign in."""
    @property
    def created_at(self) -> datetime.datetime:
        """When the user was created (timezone-aware, UTC)."""
    @property
    def updated_at(self) -> datetime.datetime:
        """When the user was last changed (timezone-aware, UTC)."""
    @property
    def last_login_at(self) -> datetime.datetime | None:
        """When the user last signed in (timezone-aware, UTC), or `None`."""
    def to_dict(self) -> dict[str, Any]:
        """The user as a new dict of its attributes, with the same Python types."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class TokenPair:
    """What a sign-in or a refresh hands out: an access token and a refresh token.

    The `repr` never shows the tokens.
    """

    @property
    def access_token(self) -> str:
        """The access token (a JWT) for `Authorization: Bearer`."""
    @property
    def refresh_token(self) -> str:
        """The refresh token for `store.auth.refresh`; it works once."""
    @property
    def token_type(self) -> Literal["bearer"]:
        """Always "bearer"."""
    @property
    def expires_in(self) -> int:
        """Seconds until the access token expires."""
    @property
    def session_id(self) -> uuid.UUID:
        """The session both tokens belong to."""
    @property
    def user(self) -> User | None:
        """The signed-in user after `login`; `None` after `refresh`."""

@final
class ApiKey:
    """An API key as its owner sees it: never the key itself. Read-only; equal when every
    field is equal, hashed by id."""

    @property
    def id(self) -> uuid.UUID:
        """The key's identifier."""
    @property
    def owner_id(self) -> uuid.UUID:
        """The user the key acts for."""
    @property
    def name(self) -> str:
        """What the key is for."""
    @property
    def prefix(self) -> str:
        """The key's first characters, e.g. "trae_Ab3dEf9", to recognise it."""
    @property
    def scopes(self) -> list[str]:
        """The most the key may do, sorted; the owner's current permissions limit it further."""
    @property
    def created_at(self) -> datetime.datetime:
        """When the key was made (timezone-aware, UTC)."""
    @property
    def last_used_at(self) -> datetime.datetime | None:
        """When the key was last used (to the minute), or `None`."""
    @property
    def expires_at(self) -> datetime.datetime | None:
        """When the key stops working, or `None` for never."""
    @property
    def revoked_at(self) -> datetime.datetime | None:
        """When the key was revoked, or `None`."""
    def to_dict(self) -> dict[str, Any]:
        """The key as a new dict of its attributes, with the same Python types."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class CreatedApiKey:
    """A new API key: `key` is shown this once and never retrievable again; `record` is its
    `ApiKey`. The `repr` never shows the key."""

    @property
    def key(self) -> str:
        """The key (`trae_…`): pass it to `store.auth.authenticate`, or send it as `X-API-Key`."""
    @property
    def record(self) -> ApiKey:
        """The stored record of the key."""
    @property
    def id(self) -> uuid.UUID:
        """The key's identifier (`record.id`)."""

@final
class Role:
    """A role and the permissions it grants. Read-only; equal when every field is equal."""

    @property
    def name(self) -> str:
        """The role's name."""
    @property
    def description(self) -> str:
        """What the role is for."""
    @property
    def built_in(self) -> bool:
        """Whether trae defines the role (built-in roles cannot be changed or deleted)."""
    @property
    def permissions(self) -> list[str]:
        """The permissions the role grants, sorted (empty for `admin`, which holds all)."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class AuditEntry:
    """One entry of the audit log: who did what to what, when, and how it ended. Read-only."""

    @property
    def id(self) -> uuid.UUID:
        """The entry's identifier."""
    @property
    def at(self) -> datetime.datetime:
        """When it was recorded (timezone-aware, UTC)."""
    @property
    def actor_kind(self) -> Literal["user", "api_key", "system", "anonymous"]:
        """"user", "api_key", "system" or "anonymous"."""
    @property
    def actor_id(self) -> uuid.UUID | None:
        """The acting user's or key's id, or `None`."""
    @property
    def actor_name(self) -> str | None:
        """A name for the actor when known (for a failed sign-in, the login tried)."""
    @property
    def action(self) -> str:
        """What was done, e.g. "auth.login"."""
    @property
    def target(self) -> str | None:
        """What it was done to, e.g. "user:<id>", or `None`."""
    @property
    def outcome(self) -> Literal["success", "failure", "denied"]:
        """"success", "failure" or "denied"."""
    @property
    def ip(self) -> str | None:
        """The client's IP address, or `None` (always `None` for calls from Python)."""
    @property
    def request_id(self) -> str | None:
        """The request id, or `None` (always `None` for calls from Python)."""
    @property
    def details(self) -> dict[str, Any]:
        """More about the action, as a new dict (secrets redacted)."""
    def to_dict(self) -> dict[str, Any]:
        """The entry as a new dict of its attributes, with the same Python types."""

@final
class Auth:
    """Registration, sign-in, tokens and credentials (`store.auth`)."""

    def register(
        self, username: str, email: str, password: str, full_name: str | None = None
    ) -> User:
        """Registers a new account with the `user` role and returns the `User`.

        `username`: 3–32 characters of a-z, 0-9, `_`, `.`, `-` (case-insensitive).
        `password`: at least 10 characters, not containing the username, not a common one.
        Raises `ValidationError` for a broken rule and `Conflict` when the username or email
        is taken.
        """
    def login(
        self, username: str, password: str, *, client_ip: str | None = None
    ) -> TokenPair:
        """Signs in with a username (or email) and password and starts a session; returns a
        `TokenPair` whose `user` is the signed-in `User`.

        `client_ip`: the address the attempt came from (a web application passes its
        client's); failures are counted per account and address, so a lockout from one
        address does not lock the account for others. Raises `AuthError` with one message for
        every refusal: an unknown user, a wrong password, and an account locked after repeated
        failures (whatever the password) look alike.
        """
    def rotate_signing_key(self, principal: Principal | None = None) -> str:
        """Makes a new access-token signing key and returns its id; the previous key keeps
        verifying for one access-token lifetime, so nobody is signed out. Only the system may
        (raises `PermissionDenied` otherwise); raises `ConfigError` when the key comes from
        `TRAE_JWT_SECRET`. Audited.
        """
    def refresh(self, refresh_token: str) -> TokenPair:
        """Exchanges a refresh token for a new `TokenPair` (its `user` is `None`).

        Each refresh token works once: presenting a used one again ends the whole session,
        and raises `AuthError` like any token that does not work.
        """
    def logout(self, access_token: str) -> None:
        """Ends the session of an access token: it and its refresh token stop working.

        Raises `AuthError` when the token does not work.
        """
    def authenticate(self, token: str) -> Principal:
        """The `Principal` an access token or an API key (`trae_…`) stands for.

        Raises `AuthError` for anything that does not work: a forged, expired or logged-out
        token, a revoked or expired key, a refresh token.
        """
    def authorize(self, principal: Principal, permission: str) -> None:
        """Returns `None` when `principal` holds `permission` (e.g. "pets:write"), else raises
        `PermissionDenied`; `ValidationError` for a malformed permission name."""

@final
class Users:
    """Profiles and user administration (`store.users`).

    Calls without a `principal` act as the store's principal: the system (every permission) for
    `trae.Store(...)`, the user for `store.as_user(...)`, which refuses any other principal.
    """

    def me(self, principal: Principal) -> User:
        """The `User` a principal acts for (a user, or an API key's owner)."""
    def update_me(
        self, principal: Principal, email: str | None = None, full_name: str | None = None
    ) -> User:
        """Changes the signed-in user's own email or display name and returns the `User`.

        Arguments left `None` keep their value; `full_name=""` clears the name.
        """
    def change_password(self, principal: Principal, current: str, new: str) -> None:
        """Changes the signed-in user's own password after checking the current one.

        Their other sessions end; the one `principal` came from stays. Raises
        `ValidationError` (field `current_password`) when `current` is wrong, and
        `PermissionDenied` for a principal that is not a signed-in user.
        """
    def list(
        self,
        principal: Principal | None = None,
        *,
        query: str | None = None,
        role: str | None = None,
        is_active: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[User]:
        """One `Page` of users, by username (needs `users:admin`).

        `query` matches part of a username or email; `role` and `is_active` filter.
        """
    def get(self, id: uuid.UUID | str, principal: Principal | None = None) -> User:
        """The user with this id (needs `users:admin`); raises `NotFound` when there is none."""
    def create(
        self,
        username: str,
        email: str,
        password: str,
        roles: builtins.list[str],
        full_name: str | None = None,
        principal: Principal | None = None,
    ) -> User:
        """Creates a user with the given roles and returns it (needs `users:admin` and every
        permission the roles grant).

        The rules of `auth.register` apply; `roles` must name existing roles, at least one.
        """
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
    ) -> User:
        """Changes a user as an administrator and returns it (needs `users:admin`).

        Arguments left `None` keep their value; `full_name=""` clears the name; `roles`
        replaces every role; `is_active=False` also ends the user's sessions and revokes their
        API keys; `unlock=True` clears failed sign-ins and any lock. Raises `Conflict` for a
        change that would leave no active admin.
        """
    def delete(self, id: uuid.UUID | str, principal: Principal | None = None) -> None:
        """Deletes a user with their sessions and API keys (needs `users:admin`).

        Raises `NotFound` when there is none, `Conflict` for the last active admin.
        """
    def revoke_sessions(self, id: uuid.UUID | str, principal: Principal | None = None) -> int:
        """Ends every session of a user and returns how many ended (needs `users:admin`)."""

@final
class ApiKeys:
    """A signed-in user's API keys (`store.api_keys`)."""

    def create(
        self,
        principal: Principal,
        name: str,
        scopes: builtins.list[str] | None = None,
        expires_in_days: int | None = None,
    ) -> CreatedApiKey:
        """Makes an API key for the signed-in user and returns a `CreatedApiKey`, whose `key`
        is shown this once.

        `scopes`: permissions the key may use, each one the user holds (all of theirs when
        `None`). `expires_in_days`: 1–3650, or `None` for never. Raises `PermissionDenied` for
        a scope the user lacks or a principal that is not a signed-in user.
        """
    def list(self, principal: Principal) -> builtins.list[ApiKey]:
        """The signed-in user's keys (revoked ones too), newest first."""
    def revoke(self, principal: Principal, id: uuid.UUID | str) -> None:
        """Revokes one of the signed-in user's keys; another user's key, or one already
        revoked, is `NotFound`."""

@final
class Policy:
    """Roles and the permissions they grant (`store.policy`; every call needs `policy:admin`)."""

    def roles(self, principal: Principal | None = None) -> list[Role]:
        """Every role, built-in and custom, by name."""
    def role(self, name: str, principal: Principal | None = None) -> Role:
        """The role with this name; raises `NotFound` when there is none."""
    def permissions(self, principal: Principal | None = None) -> list[str]:
        """Every permission trae checks, as names such as "pets:read"."""
    def create_role(
        self,
        name: str,
        description: str = "",
        permissions: list[str] | None = None,
        principal: Principal | None = None,
    ) -> Role:
        """Creates a custom role granting `permissions` (names from `permissions()`, each one
        the principal holds) and returns it.

        `name`: 2–32 characters of a-z, 0-9, `_`, `-`, starting with a letter. Raises
        `Conflict` when the name is taken.
        """
    def update_role(
        self,
        name: str,
        description: str | None = None,
        permissions: list[str] | None = None,
        principal: Principal | None = None,
    ) -> Role:
        """Changes a custom role's description or permissions (the complete new set) and
        returns it; arguments left `None` keep their value.

        Raises `Conflict` for a built-in role and `NotFound` for an unknown one.
        """
    def delete_role(self, name: str, principal: Principal | None = None) -> None:
        """Deletes a custom role; raises `Conflict` for a built-in role or one a user still
        holds, `NotFound` for an unknown one."""

@final
class Audit:
    """The audit log (`store.audit`; reading needs `audit:read`)."""

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
    ) -> Page[AuditEntry]:
        """One `Page` of audit entries, newest first.

        `actor`: a user's or key's id, or a name; `action`: e.g. "auth.login"; `since`
        (inclusive) and `until` (exclusive): timezone-aware datetimes (a naive one raises
        `ValidationError`).
        """

@final
class Store:
    """A trae database and every trae service over it, opened (and migrated) when constructed.

    The configuration is the one `trae serve` reads: the `TRAE_*` environment variables and
    `trae.toml` in the data directory, read when the store opens. Arguments win over both:
    `url` (`sqlite:///path/to/file.db`, created when missing, `sqlite::memory:` or
    `postgres://user:password@host:port/database`; default `TRAE_DATABASE_URL`, else
    `trae.db` in the data directory), `data_dir` (default `TRAE_DATA_DIR`, else the directory
    of a SQLite file named by `url`, else the working directory; it holds `trae.toml` and, on
    SQLite, the secrets master key file), `jwt_secret` and `master_key`. So a store on the
    server's database signs, locks out and decrypts exactly as the server does.

    Use as a context manager to close it at the end of a block:
    `with trae.Store(url) as store: ...`. Raises `ConfigError` for a configuration trae cannot
    use (as `trae serve` refuses to start with it), and `Unavailable` when the database cannot
    be reached.
    """

    def __new__(
        cls,
        url: str | None = None,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        jwt_secret: str | None = None,
        master_key: str | None = None,
    ) -> Store: ...
    def as_user(self, token: str) -> Store:
        """The same open store acting as the user or API key `token` (an access token or a
        `trae_…` key) stands for: every call through it has exactly that principal's
        permissions, as over HTTP, and closing either closes both.

        Raises `AuthError` when the token does not work.
        """
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
        """The secrets vault, opened on first use (see `Secrets`)."""
    @property
    def apis(self) -> Apis:
        """The external API registry: endpoints, usage and request logs (see `Apis`)."""
    @property
    def orchestrator(self) -> Orchestrator:
        """Calls to external APIs by capability, wired on first use (see `Orchestrator`)."""
    @property
    def llm(self) -> Llm:
        """Language models through the API registry: chats, streams, model endpoints and
        budgets (see `Llm`)."""
    @property
    def tdd(self) -> Tdd:
        """The TDD agent: runs executed here, their trajectories and diffs, cancel, accept
        and replay (see `Tdd`)."""
    @property
    def solo(self) -> Solo:
        """The SOLO agent's genesis interviews: start, answer, revise, read, specs (see
        `Solo`)."""
    @property
    def health(self) -> Health:
        """Component health: status, uptime and history, opened on first use (see `Health`)."""
    @property
    def metrics(self) -> Metrics:
        """Metric series and alert rules (see `Metrics`)."""
    @property
    def events(self) -> Events:
        """The event stream: pages and live subscriptions (see `Events`)."""
    @property
    def channels(self) -> Channels:
        """The channels content is published on (see `Channels`)."""
    @property
    def personas(self) -> Personas:
        """Author personas, versioned and with variants (see `Personas`)."""
    @property
    def evidence(self) -> Evidence:
        """The evidence library (see `Evidence`)."""
    @property
    def contradictions(self) -> Contradictions:
        """The contradiction tracker (see `Contradictions`)."""
    @property
    def backend(self) -> Literal["sqlite", "postgres"]:
        """The database engine: "sqlite" or "postgres"."""
    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
    def close(self) -> None:
        """Closes the database connections; later calls raise `Unavailable`. Closing again does
        nothing."""
    def __enter__(self) -> Store: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]: ...

@final
class Secret:
    """A secret's metadata, never its value. Read-only; equal when every field is equal."""

    @property
    def name(self) -> str:
        """The unique name."""
    @property
    def version(self) -> int:
        """The latest version, from 1."""
    @property
    def description(self) -> str | None:
        """What it is for, or `None`."""
    @property
    def tags(self) -> list[str]:
        """The tags, sorted (a new list on each access)."""
    @property
    def created_by(self) -> str:
        """Who set the first version: "user:<id>", "api_key:<id>" or "system"."""
    @property
    def created_at(self) -> datetime.datetime:
        """When the first version was set (timezone-aware, UTC)."""
    @property
    def updated_at(self) -> datetime.datetime:
        """When the latest version was set (timezone-aware, UTC)."""
    def to_dict(self) -> dict[str, Any]:
        """The metadata as a new dict, with the same Python types."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class SecretVersion:
    """One stored version of a secret, never its value. Read-only."""

    @property
    def name(self) -> str:
        """The secret's name."""
    @property
    def version(self) -> int:
        """The version number."""
    @property
    def created_by(self) -> str:
        """Who set it."""
    @property
    def created_at(self) -> datetime.datetime:
        """When it was set (timezone-aware, UTC)."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Secrets:
    """The secrets vault of a store (`store.secrets`), encrypted at rest.

    The vault opens on first use, with the master key `TRAE_MASTER_KEY` (base64 of 32 bytes,
    read from the environment then) or, on a SQLite file without it, the key file `master.key`
    beside the database (created on first use; back it up). An in-memory database gets a key
    that lives as long as the store. On PostgreSQL `TRAE_MASTER_KEY` is required and its
    absence raises `ConfigError`; the store itself opens without it.

    Calls act as the store's principal unless given a `principal`, which then needs `secrets:read` to
    list and describe, `secrets:write` to set, delete and prune, and `secrets:reveal` to read
    a value (else `PermissionDenied`). Set, reveal, delete and prune are audited by name and
    version; values never appear in the audit log, in errors, or in any object's `repr`:
    only `get` and `get_bytes` return one.
    """

    def set(
        self,
        name: str,
        value: str | bytes,
        *,
        description: str | None = None,
        tags: builtins.list[str] | None = None,
        principal: Principal | None = None,
    ) -> Secret:
        """Sets a secret's value as a new version (1 for a new secret) and returns its
        metadata.

        `name`: 1–128 characters of A-Z, a-z, 0-9, `_`, `.`, `-`, not starting with a dot.
        `value`: a `str` (stored as UTF-8) or `bytes`, 1 byte to 64 KiB. `description` (`""`
        clears it) and `tags` (each 1–64 characters of A-Z, a-z, 0-9, `_`, `.`, `:`, `-`; at
        most 32) replace the current ones when given, else stay.
        """
    def get(
        self, name: str, version: int | None = None, *, principal: Principal | None = None
    ) -> str:
        """The value as a `str`: the latest version, or `version`.

        Raises `NotFound` for an unknown secret or version, and `ValidationError` when the
        value is not UTF-8 text (use `get_bytes`).
        """
    def get_bytes(
        self, name: str, version: int | None = None, *, principal: Principal | None = None
    ) -> bytes:
        """The value as `bytes`: the latest version, or `version`."""
    def describe(self, name: str, *, principal: Principal | None = None) -> Secret:
        """A secret's metadata; raises `NotFound` when there is none."""
    def list(
        self,
        prefix: str | None = None,
        *,
        tag: str | None = None,
        limit: int = 50,
        offset: int = 0,
        principal: Principal | None = None,
    ) -> Page[Secret]:
        """One `Page` of secrets' metadata, by name; `prefix` and `tag` filter."""
    def versions(
        self, name: str, *, principal: Principal | None = None
    ) -> builtins.list[SecretVersion]:
        """The stored versions of a secret, newest first; `NotFound` when there is none."""
    def delete(self, name: str, *, principal: Principal | None = None) -> int:
        """Deletes a secret with every version; returns how many versions went. `NotFound`
        when there is no such secret."""
    def prune(self, name: str, keep: int = 1, *, principal: Principal | None = None) -> int:
        """Removes all but the `keep` (at least 1) newest versions; returns how many went."""

_HealthName: TypeAlias = Literal["unknown", "healthy", "degraded", "failing", "critical"]
"""An endpoint's health, the scale components share."""

_RoutingStrategyName: TypeAlias = Literal[
    "priority", "least_loaded", "round_robin", "lowest_latency"
]
"""How a call picks among a capability's endpoints."""

@final
class ApiEndpoint:
    """A registered external API endpoint. Read-only; equal when every field is equal.

    The spec's fields plus what trae learned about it (`health`, `consecutive_failures`,
    `last_check_at`, `last_error`). `auth` names a vault secret, never a value. Dicts and
    lists are new on each access.
    """

    @property
    def name(self) -> str:
        """The unique name."""
    @property
    def capability(self) -> str:
        """The capability it serves, e.g. "text-generation"."""
    @property
    def base_url(self) -> str:
        """The URL call paths are relative to (without a trailing slash)."""
    @property
    def auth(self) -> dict[str, str | None]:
        """How calls authenticate: `{"type", "secret", "name"}` (`type` one of "none",
        "bearer", "basic", "header", "query"; `None` where a type has no such key)."""
    @property
    def priority(self) -> int:
        """Lower is tried first."""
    @property
    def limits(self) -> dict[str, int | None]:
        """`{"per_minute", "per_hour", "per_day"}`; `None` is no limit. A day is any 24 hours."""
    @property
    def cost_per_request(self) -> float:
        """The cost of one call, in the operator's unit."""
    @property
    def timeout_ms(self) -> int:
        """The per-attempt timeout in milliseconds."""
    @property
    def is_active(self) -> bool:
        """Whether calls may pick it."""
    @property
    def health_check(self) -> dict[str, Any]:
        """The scheduled health check: `{"path", "interval_secs"}`."""
    @property
    def tags(self) -> list[str]:
        """The tags, sorted."""
    @property
    def metadata(self) -> dict[str, Any]:
        """Free-form metadata."""
    @property
    def health(self) -> _HealthName:
        """The health as this process sees it."""
    @property
    def consecutive_failures(self) -> int:
        """Failed calls or checks in a row."""
    @property
    def last_check_at(self) -> datetime.datetime | None:
        """When a health check last ran (timezone-aware, UTC)."""
    @property
    def last_error(self) -> str | None:
        """The latest failure (never a credential)."""
    @property
    def created_at(self) -> datetime.datetime:
        """When it was registered (timezone-aware, UTC)."""
    @property
    def updated_at(self) -> datetime.datetime:
        """When its spec or health last changed (timezone-aware, UTC)."""
    def to_spec(self) -> dict[str, Any]:
        """The spec alone, in the shape `Apis.create` and `Apis.update` take."""
    def to_dict(self) -> dict[str, Any]:
        """Every attribute as a new dict, with the same Python types."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class ApiUsage:
    """An endpoint's usage since it was registered. Read-only.

    Attempts reach it in batches a fraction of a second after a call; `Apis.flush()` writes
    the queued ones now.
    """

    @property
    def endpoint(self) -> str:
        """The endpoint's name."""
    @property
    def total(self) -> int:
        """Attempts made."""
    @property
    def successes(self) -> int:
        """Attempts that succeeded."""
    @property
    def failures(self) -> int:
        """Attempts that failed."""
    @property
    def average_latency_ms(self) -> float:
        """Mean latency of all attempts, in milliseconds."""
    @property
    def success_rate(self) -> float:
        """`successes / total` (0 with no attempts)."""
    @property
    def cost(self) -> float:
        """Total cost of the attempts."""
    @property
    def last_used_at(self) -> datetime.datetime | None:
        """When the latest attempt finished (timezone-aware, UTC)."""
    def to_dict(self) -> dict[str, Any]:
        """Every attribute as a new dict."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...

@final
class ApiAttempt:
    """One attempt in an endpoint's request log. Read-only; hashed by id."""

    @property
    def id(self) -> uuid.UUID:
        """The attempt's identifier (a UUIDv7)."""
    @property
    def endpoint(self) -> str:
        """The endpoint's name."""
    @property
    def method(self) -> str:
        """The HTTP method."""
    @property
    def path(self) -> str:
        """The path called, without its query (which may carry a key)."""
    @property
    def status(self) -> int | None:
        """The upstream's status, or `None` when it did not answer."""
    @property
    def latency_ms(self) -> int:
        """Milliseconds to the answer or failure."""
    @property
    def request_bytes(self) -> int:
        """Bytes sent in the body."""
    @property
    def response_bytes(self) -> int:
        """Bytes received in the body."""
    @property
    def error(self) -> str | None:
        """Why it failed (never a credential)."""
    @property
    def success(self) -> bool:
        """Whether it counts as a success (2xx–4xx other than 408 and 429)."""
    @property
    def cost(self) -> float:
        """The cost charged."""
    @property
    def request_id(self) -> str | None:
        """The request id of the call that made it."""
    @property
    def at(self) -> datetime.datetime:
        """When it finished (timezone-aware, UTC)."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    @property
    def model(self) -> str | None:
        """For a language-model call: the model asked for; otherwise `None`."""
    @property
    def prompt_tokens(self) -> int | None:
        """For a language-model call: the tokens of the request; otherwise `None`."""
    @property
    def completion_tokens(self) -> int | None:
        """For a language-model call: the tokens of the answer; otherwise `None`."""

@final
class ApiCallAttempt:
    """One attempt a call made. Read-only."""

    @property
    def endpoint(self) -> str:
        """The endpoint tried."""
    @property
    def status(self) -> int | None:
        """Its status, or `None` when it did not answer."""
    @property
    def latency_ms(self) -> int:
        """Milliseconds to the answer or failure."""
    @property
    def error(self) -> str | None:
        """Why it failed."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...

@final
class ApiCallResult:
    """The upstream's answer to `Orchestrator.call`, whatever its status. Read-only."""

    @property
    def status(self) -> int:
        """The upstream's own status."""
    @property
    def headers(self) -> dict[str, str]:
        """Its headers, lowercase names (of repeated ones the last)."""
    @property
    def body(self) -> bytes:
        """The body, cut at the outbound client's cap (see `truncated`)."""
    @property
    def text(self) -> str:
        """The body decoded as UTF-8, invalid bytes replaced."""
    def json(self) -> Any:
        """The body parsed as JSON (`json.loads`); `ValueError` when it is not JSON."""
    @property
    def truncated(self) -> bool:
        """Whether the body was cut."""
    @property
    def endpoint(self) -> str:
        """The endpoint that answered."""
    @property
    def attempts(self) -> list[ApiCallAttempt]:
        """Every attempt the call made, the answering one last."""

@final
class Apis:
    """The external API registry of a store (`store.apis`).

    Calls act as the store's principal; create, update and delete are audited. Only `check` needs
    credentials: it opens the vault, like `store.orchestrator`, so the rest works on
    PostgreSQL without `TRAE_MASTER_KEY`.
    """

    def create(self, spec: Mapping[str, Any] | None = None, /, **fields: Any) -> ApiEndpoint:
        """Registers an endpoint and returns it.

        `spec` is a dict in the JSON shape of the HTTP API: `name`, `capability` and
        `base_url` required; `auth` (`{"type": "bearer", "secret": "VAULT_NAME"}`, …),
        `priority`, `limits` (`{"per_minute", "per_hour", "per_day"}`), `cost_per_request`,
        `timeout_ms`, `is_active`, `health_check` (`{"path", "interval_secs"}`), `tags` and
        `metadata` optional. Keyword arguments add to it or replace its keys; `None` means the
        default. Unknown keys, wrong types and broken rules raise `ValidationError` (`field`
        names the key); a taken name raises `Conflict`.
        """
    def update(
        self, name: str, spec: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> ApiEndpoint:
        """Replaces the whole spec of the endpoint `name` (whose `name` it must keep) and
        returns it; health, usage and log are kept. `NotFound` when there is none.

        `endpoint.to_spec()` gives a spec to change and pass back.
        """
    def delete(self, name: str) -> None:
        """Removes an endpoint with its log and usage; `NotFound` when there is none."""
    def get(self, name: str) -> ApiEndpoint:
        """The endpoint `name`; `NotFound` when there is none."""
    def list(
        self,
        *,
        capability: str | None = None,
        is_active: bool | None = None,
        tag: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[ApiEndpoint]:
        """One `Page` of endpoints, by priority then name; `capability`, `is_active` and `tag`
        filter."""
    def usage(self, name: str) -> ApiUsage:
        """The endpoint's usage totals; `flush()` first to count the latest attempts."""
    def logs(self, name: str, *, limit: int = 50, offset: int = 0) -> Page[ApiAttempt]:
        """One `Page` of the endpoint's request log, newest first; `flush()` first to see the
        latest attempts."""
    def check(self, name: str) -> ApiEndpoint:
        """Checks the endpoint's health now (a `GET` of its health-check path with its
        credentials; 2xx or 3xx passes) and returns it with the new health. A passing check
        brings a failing endpoint back into rotation."""
    def flush(self) -> None:
        """Writes the attempts still queued for the request log and usage (otherwise written
        every quarter of a second, and when the store closes)."""

@final
class Orchestrator:
    """Calls to external APIs by capability (`store.orchestrator`).

    Wired on first use: credentials come from the vault (on PostgreSQL that needs
    `TRAE_MASTER_KEY`, else `ConfigError`); the outbound policy from the trae configuration
    (`TRAE_OUTBOUND_ALLOW_HOSTS`, `TRAE_OUTBOUND_ALLOW_LOOPBACK` for 127.0.0.1,
    `TRAE_OUTBOUND_TIMEOUT_MS`, or `trae.toml` in `TRAE_DATA_DIR`), read then.
    """

    def call(
        self,
        capability: str,
        path: str,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: bytes | str | Any | None = None,
        strategy: _RoutingStrategyName | None = None,
    ) -> ApiCallResult:
        """Calls `capability` at `path` (and query) under an endpoint's base URL; returns the
        upstream's answer, whatever its status.

        Endpoints are ordered by `strategy` (default "priority"); inactive, failing and
        limited ones are skipped; credentials are injected (`headers` cannot replace them);
        failed attempts (connection errors, timeouts, 5xx, 408, 429) are retried with backoff
        and then failed over, except POST and PATCH once sent. `body`: `bytes` or `str` are
        sent as they are; any other JSON-serialisable value as JSON with
        `content-type: application/json` unless `headers` name one.

        Raises `NotFound` when no endpoint serves `capability`, `RateLimitedError` (with
        `retry_after`) when every endpoint is at a limit, `UpstreamError` when every attempt
        failed or none can take calls, `ValidationError` for a bad method, path, header or
        body.
        """

class ChatToolCall(TypedDict):
    """A tool call of a model's answer: `arguments` is the JSON text the model wrote."""

    id: str
    name: str
    arguments: str

class ToolCallPiece(TypedDict):
    """Part of tool call number `index` of a streamed answer: `id` and `name` come in its
    first piece (else `None`), `arguments` in pieces."""

    index: int
    id: str | None
    name: str | None
    arguments: str

class ChatPiece(TypedDict, total=False):
    """A piece of a streamed answer: `{"content": str}` or `{"tool_call": ToolCallPiece}`."""

    content: str
    tool_call: ToolCallPiece

class ChatUsage(TypedDict):
    """Tokens a model call used."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

class BudgetSpent(TypedDict):
    """What a budget's settled calls spent; `cost` in dollars."""

    tokens: int
    cost: float
    calls: int

_Messages: TypeAlias = str | Sequence[Mapping[str, Any]]
_FinishReason: TypeAlias = Literal["stop", "length", "tool_calls", "content_filter", "unknown"]

@final
class Budget:
    """What a run may spend on model calls: tokens, dollars and wall time, shared by every
    call given it (`store.llm.budget(...)`).

    A call it cannot pay raises `BudgetExceeded` before anything is sent; one it admits is
    capped to what is left.
    """

    @property
    def spent(self) -> BudgetSpent:
        """What settled calls spent (a new dict on each access)."""
    @property
    def limits(self) -> dict[str, int | float | None]:
        """The limits: `{"tokens", "cost", "wall_time", "call_tokens"}` (`wall_time` in
        seconds), `None` where there is none."""
    @property
    def time_left(self) -> float | None:
        """Seconds left of the wall time, or `None` without a wall-time limit."""

@final
class ChatResponse:
    """A model's whole answer. Read-only."""

    @property
    def content(self) -> str | None:
        """The text, or `None` when the model wrote none (e.g. it only called tools)."""
    @property
    def tool_calls(self) -> list[ChatToolCall]:
        """The tools called (a new list on each access)."""
    @property
    def finish_reason(self) -> _FinishReason:
        """Why it ended."""
    @property
    def usage(self) -> ChatUsage:
        """Tokens used."""
    @property
    def usage_reported(self) -> bool:
        """Whether the provider reported the usage (else it is estimated from the text)."""
    @property
    def cost(self) -> float:
        """What it cost in dollars, at the endpoint's price (0 without one)."""
    @property
    def endpoint(self) -> str:
        """The registry endpoint that answered."""
    @property
    def model(self) -> str:
        """The model that answered."""
    @property
    def latency(self) -> float:
        """Seconds from the request to the end of the answer."""
    @property
    def tools_ignored(self) -> bool:
        """Whether the request offered tools and the model called none."""
    @property
    def json(self) -> Any:
        """The answer parsed as JSON and checked against the request's JSON schema, or
        `None` when it asked for none."""
    @property
    def repairs(self) -> int:
        """How many repair rounds the answer took to fit its schema (0 or 1)."""

@final
class ChatStream:
    """A model's answer as it is written: a blocking iterator of `ChatPiece` dicts; `with`
    closes it.

    After the last piece `response` is the whole answer. `close()` stops reading and closes
    the connection to the provider (what was used so far is charged); an error mid-answer
    raises from the iteration.
    """

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
    def __iter__(self) -> ChatStream: ...
    def __next__(self) -> ChatPiece: ...
    def __enter__(self) -> ChatStream: ...
    def __exit__(self, *args: object) -> None: ...

@final
class ModelEndpoint:
    """A model endpoint: an API-registry endpoint of capability `llm.chat` with what its
    metadata says. Read-only."""

    @property
    def endpoint(self) -> str:
        """The registry endpoint's name."""
    @property
    def default_model(self) -> str | None:
        """The model a request that names none gets there."""
    @property
    def models(self) -> list[str]:
        """The models pinned to it; empty when it takes any."""
    @property
    def context_window(self) -> int | None:
        """Its context window in tokens, when known."""
    @property
    def input_price_per_million(self) -> float | None:
        """Dollars per million request tokens, or `None` without a price."""
    @property
    def output_price_per_million(self) -> float | None:
        """Dollars per million answer tokens, or `None` without a price."""
    @property
    def json_schema(self) -> bool:
        """Whether it takes JSON-schema response formats natively."""
    @property
    def is_active(self) -> bool:
        """Whether calls may pick it."""
    @property
    def health(self) -> _HealthName:
        """Its health."""

@final
class Llm:
    """Language models through the API registry (`store.llm`).

    Chats go to endpoints of capability `llm.chat` (base URL ending in `/v1`, an
    OpenAI-compatible chat-completions API) under the store's principal, which needs
    `llm:use`: the registry's routing, limits, failover, vault credentials and request log
    apply. An endpoint's `metadata` says what it serves: `default_model`, `models`,
    `context_window`, `input_price_per_million`, `output_price_per_million`, `json_schema`.
    """

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
    ) -> ChatResponse:
        """The whole answer to `messages`.

        `messages`: OpenAI-shaped dicts (`role`, `content`, an assistant's `tool_calls`, a
        tool's `tool_call_id`), or a `str` meaning one user message. `model` (the endpoint's
        default when left out), `temperature` (0–2), `max_tokens`, `stop`, `seed`,
        `response_format` (`{"type": "json_schema", "json_schema": {"name", "schema"}}`
        checks the answer, with one repair round, into `response.json`), `tools` (OpenAI
        function tools) and `persona_id` (its prompt becomes the first system message) as in
        the OpenAI API. `budget`: the `Budget` the call is charged to (unlimited when left
        out).

        Raises `ValidationError` (with `field`, e.g. `messages[0].role`), `PermissionDenied`
        without `llm:use`, `NotFound` when no endpoint serves the model, `BudgetExceeded`
        (nothing is sent), `RateLimitedError`, `UpstreamError` when the provider fails or
        refuses, `InvalidAnswer` when the answer misses its schema twice.
        """
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
    ) -> ChatStream: ...
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
    ) -> ChatStream:
        """The answer to `messages` as it is written; the arguments of `chat` apply.

        Errors before anything is sent raise here; errors mid-answer raise from the
        iteration. A JSON-schema answer is checked when it ends (no repair round).
        """
    def models(self, *, limit: int = 50, offset: int = 0) -> Page[ModelEndpoint]:
        """One `Page` of the model endpoints, by priority then name. Needs `llm:use`."""
    def budget(
        self,
        *,
        tokens: int | None = None,
        cost: float | None = None,
        wall_time: float | None = None,
        call_tokens: int | None = None,
    ) -> Budget:
        """A new `Budget` for calls to share, timed on the store's clock: `tokens` (requests
        and answers together), `cost` (dollars), `wall_time` (seconds from now) and
        `call_tokens` (a cap on each answer); `None` is no limit."""

_TddRunStatus: TypeAlias = Literal[
    "queued", "running", "passed", "failed", "budget_exhausted", "stuck", "cancelled", "error"
]
_FailureKind: TypeAlias = Literal["failed", "error", "collection", "compile", "command"]
_Placement: TypeAlias = Literal[
    "exact", "indentation", "blank_lines", "elision", "whitespace", "new_file", "whole_file"
]
_Refusal: TypeAlias = Literal[
    "unsafe_path",
    "missing_file",
    "too_short",
    "ambiguous",
    "not_found",
    "elision_mismatch",
    "whole_file_refused",
    "malformed",
]
_BudgetArg: TypeAlias = Budget | Mapping[str, int | float | None]

@final
class TestFailure:
    """One failing test of a `TestReport`. Read-only."""

    @property
    def test_id(self) -> str:
        """The test as its runner names it (for a compile or collection failure, the file)."""
    @property
    def file(self) -> str | None:
        """The file it failed in, relative to the project, or `None` when unknown."""
    @property
    def line(self) -> int | None:
        """The line it failed at, or `None` when unknown."""
    @property
    def message(self) -> str:
        """Why, in one line."""
    @property
    def excerpt(self) -> str:
        """The runner's output about it (traceback, panic, compiler diagnostic), both ends
        kept."""
    @property
    def kind(self) -> _FailureKind:
        """What kind of failure it is."""

@final
class TestReport:
    """What one test run came to. Read-only."""

    @property
    def green(self) -> bool:
        """Whether it was green: the command succeeded and nothing failed."""
    @property
    def passed(self) -> int:
        """Tests that passed."""
    @property
    def failed(self) -> int:
        """Tests that failed (assertions)."""
    @property
    def errors(self) -> int:
        """Tests that errored, collection and compile failures included."""
    @property
    def skipped(self) -> int:
        """Tests skipped."""
    @property
    def exit_code(self) -> int | None:
        """The command's exit code, or `None` when it was killed."""
    @property
    def failures(self) -> list[TestFailure]:
        """Every failure, in the runner's order (a new list on each access)."""

@final
class TddEdit:
    """One edit block of a model's answer and what became of it. Read-only."""

    @property
    def path(self) -> str:
        """The file, as the model named it."""
    @property
    def search(self) -> str:
        """The text to find; empty for a new file."""
    @property
    def replace(self) -> str:
        """The text put in its place."""
    @property
    def whole_file(self) -> bool:
        """Whether the block gave the whole new content of a small file."""
    @property
    def applied(self) -> bool:
        """Whether it was applied."""
    @property
    def placement(self) -> _Placement | None:
        """How an applied block's search text was placed, else `None`."""
    @property
    def refusal(self) -> _Refusal | None:
        """Why a refused block was refused, else `None`."""
    @property
    def hint(self) -> str | None:
        """The lines of the file a refused block most likely meant, when any are."""

@final
class TddStep:
    """One step of a run: step 0 runs the tests as they were; each later step is a model
    round (the prompt, the answer, the edits) and the test run after its edits. Read-only."""

    @property
    def index(self) -> int:
        """0 for the first test run, then 1, 2, … per model round."""
    @property
    def prompt_summary(self) -> str | None:
        """What the model was shown, summarised; `None` for step 0."""
    @property
    def answer(self) -> str | None:
        """The model's answer, whole; `None` for step 0."""
    @property
    def edits(self) -> list[TddEdit]:
        """Every edit block of the answer and what became of it (a new list on each access)."""
    @property
    def report(self) -> TestReport | None:
        """The test run after the edits."""
    @property
    def tokens(self) -> int:
        """Tokens of the model round."""
    @property
    def cost(self) -> float:
        """Dollars of the model round."""
    @property
    def elapsed_ms(self) -> int:
        """How long the step took, model and tests included, in milliseconds."""
    @property
    def at(self) -> datetime.datetime:
        """When the step ended (timezone-aware, UTC)."""

@final
class TddRun:
    """A TDD run. Read-only; `steps` is filled when it was read with `Tdd.get`."""

    @property
    def id(self) -> uuid.UUID:
        """The run's identifier."""
    @property
    def owner_id(self) -> uuid.UUID | None:
        """The user it runs for; `None` for the system."""
    @property
    def project(self) -> str:
        """The project directory (canonical)."""
    @property
    def test(self) -> list[str]:
        """The test command as argv (a new list on each access)."""
    @property
    def max_iterations(self) -> int:
        """Model rounds at most."""
    @property
    def model(self) -> str | None:
        """The model asked; `None` for each provider's default."""
    @property
    def status(self) -> _TddRunStatus:
        """Where it stands; every status but "queued" and "running" is final."""
    @property
    def reason(self) -> str | None:
        """Why it ended as it did, in a sentence; `None` before it ends."""
    @property
    def iterations(self) -> int:
        """Model rounds made."""
    @property
    def tokens(self) -> int:
        """Tokens spent."""
    @property
    def cost(self) -> float:
        """Dollars spent."""
    @property
    def final_report(self) -> TestReport | None:
        """The last test run's report, or `None` before there was one."""
    @property
    def changed_files(self) -> list[str]:
        """The files the run changed, relative to the project (a new list on each access)."""
    @property
    def created_at(self) -> datetime.datetime:
        """When it was created (timezone-aware, UTC)."""
    @property
    def started_at(self) -> datetime.datetime | None:
        """When it began, or `None`."""
    @property
    def finished_at(self) -> datetime.datetime | None:
        """When it ended, or `None`."""
    @property
    def accepted_at(self) -> datetime.datetime | None:
        """When its changes were accepted into the project, or `None`."""
    @property
    def steps(self) -> list[TddStep] | None:
        """Its steps in order when read with `get` (a new list on each access), else `None`."""

@final
class TddFileDiff:
    """One file's change in a `TddRunDiff`. Read-only."""

    @property
    def path(self) -> str:
        """The file, relative to the project."""
    @property
    def diff(self) -> str:
        """The unified diff (`--- a/path`, `+++ b/path`, hunks)."""

@final
class TddRunDiff:
    """A run's changes. Read-only."""

    @property
    def files(self) -> list[TddFileDiff]:
        """One diff per changed file, against the project as it is now (a new list on each
        access)."""
    @property
    def project_changed(self) -> bool:
        """Whether the project changed since the run began (then `accept` refuses)."""

@final
class TddReplay:
    """What replaying a run reached, beside what it recorded. Read-only."""

    @property
    def recorded(self) -> _TddRunStatus:
        """The recorded run's status."""
    @property
    def green(self) -> list[bool]:
        """Whether each replayed step's tests were green, by step index."""
    @property
    def matches(self) -> bool:
        """Whether every replayed step's test run came out as recorded (green or not, and the
        same failing tests)."""
    @property
    def final_report(self) -> TestReport:
        """The last test run of the replay."""

@final
class Tdd:
    """The TDD agent (`store.tdd`).

    A run tests a project in a working copy, shows a model (an API-registry endpoint of
    capability `llm.chat`) the failures, applies the edits it answers with and tests again,
    until the tests pass or the iterations, the budget or the patience run out; the project
    itself changes only on `accept`. Projects must lie inside `TRAE_AGENT_WORKSPACES`. Calls
    act as the store's principal: `agents:run` runs and reads one's own runs, `agents:admin`
    everyone's; a run of someone else's is `NotFound`.
    """

    def run(
        self,
        path: str | os.PathLike[str],
        test: str | Sequence[str],
        *,
        max_iterations: int | None = None,
        model: str | None = None,
        budget: _BudgetArg | None = None,
    ) -> TddRun:
        """Creates a run and executes it here to its end; the finished run (read its steps
        with `get`).

        `path`: the project directory, inside `TRAE_AGENT_WORKSPACES`. `test`: the test
        command as one line (split as a shell splits words, never run by one) or as argv.
        `max_iterations`: model rounds at most, 1–50 (default 5). `model`: the model to ask
        (default: the endpoint's own). `budget`: what the run may spend on models, a
        `Budget` (its limits, counted from the run's start) or a dict of limits as
        `Budget.limits` gives them.

        How the run ended is its `status`, not an exception. Raises `ValidationError` (with
        `field`: `path`, `test`, `max_iterations`, `budget…`) for bad input,
        `PermissionDenied` without `agents:run`. Ctrl-C stops the run, which is stored as
        cancelled, and raises `KeyboardInterrupt`.
        """
    def get(self, id: uuid.UUID | str) -> TddRun:
        """The run with this id, with its `steps`. Raises `NotFound` for a run that does not
        exist or is not the caller's."""
    def list(
        self,
        *,
        status: _TddRunStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[TddRun]:
        """One `Page` of runs, newest first: the caller's own, or everyone's with
        `agents:admin`. `status` filters; `limit` (1–500) and `offset` choose the page."""
    def diff(self, id: uuid.UUID | str) -> TddRunDiff:
        """The run's changes, one unified diff per file against the project as it is now."""
    def cancel(self, id: uuid.UUID | str) -> TddRun:
        """Cancels a run that has not ended (a running one stops at its next step, its test
        command killed) and returns it. Raises `Conflict` when it has ended."""
    def accept(self, id: uuid.UUID | str) -> TddRun:
        """Writes a passed run's changes into the project and returns the run. Raises
        `Conflict` when the run did not pass, was accepted already, or the project changed
        since the run began."""
    def replay(self, id: uuid.UUID | str) -> TddReplay:
        """Re-applies a run's recorded edits, step by step, to a fresh working copy of its
        project and re-runs the tests after each, without a model. Needs what `get` needs;
        Ctrl-C stops it."""

_SoloProjectType: TypeAlias = Literal[
    "web_app", "api", "cli", "library", "data_pipeline", "other"
]
_SoloStatus: TypeAlias = Literal["open", "complete"]
_SoloSource: TypeAlias = Literal["template", "model"]

@final
class SoloTurn:
    """One question of an interview and its answer. Read-only."""

    @property
    def index(self) -> int:
        """Its place, from 0."""
    @property
    def question(self) -> str:
        """The question."""
    @property
    def key(self) -> str | None:
        """The template question's key ("shape", "users", "goals", "features",
        "constraints" or "out_of_scope"), when a template asked it."""
    @property
    def source(self) -> _SoloSource:
        """Who asked."""
    @property
    def fallback(self) -> str | None:
        """Why the model did not ask it, when a template stood in for the model."""
    @property
    def answer(self) -> str | None:
        """The answer; `None` while it waits."""
    @property
    def asked_at(self) -> datetime.datetime:
        """When it was asked (timezone-aware, UTC)."""
    @property
    def answered_at(self) -> datetime.datetime | None:
        """When it was (last) answered, or `None`."""

@final
class SoloInterview:
    """A genesis interview. Read-only."""

    @property
    def id(self) -> uuid.UUID:
        """The interview's identifier."""
    @property
    def owner_id(self) -> uuid.UUID | None:
        """The user it belongs to; `None` for the system."""
    @property
    def project_type(self) -> _SoloProjectType:
        """The project type; it picked the first questions."""
    @property
    def idea(self) -> str:
        """The project idea, as given."""
    @property
    def status(self) -> _SoloStatus:
        """Where it is: open while a question waits for its answer, complete once a spec is
        written."""
    @property
    def turns(self) -> list[SoloTurn]:
        """Every turn in order (a new list on each access)."""
    @property
    def pending(self) -> SoloTurn | None:
        """The turn waiting for its answer, or `None`."""
    @property
    def spec_version(self) -> int:
        """The latest spec's version; 0 before the first spec."""
    @property
    def created_at(self) -> datetime.datetime:
        """When it began (timezone-aware, UTC)."""
    @property
    def updated_at(self) -> datetime.datetime:
        """When it last changed (timezone-aware, UTC)."""

@final
class SoloSpec:
    """One version of an interview's spec. Read-only."""

    @property
    def interview_id(self) -> uuid.UUID:
        """The interview it came from."""
    @property
    def version(self) -> int:
        """1 for the first spec, then one more per new spec."""
    @property
    def project_type(self) -> _SoloProjectType:
        """The project type it was written for."""
    @property
    def spec(self) -> dict[str, Any]:
        """The spec as a new dict, in the shape of its JSON: `title`, `summary`, `goals`,
        `users`, `features` (each `name`, `description`, `acceptance`), `constraints`,
        `out_of_scope`."""
    @property
    def markdown(self) -> str:
        """The spec as markdown."""
    @property
    def source(self) -> _SoloSource:
        """Who wrote it: the model, or the templates from the answers alone."""
    @property
    def created_at(self) -> datetime.datetime:
        """When it was written (timezone-aware, UTC)."""

@final
class Solo:
    """The SOLO agent's genesis interviews (`store.solo`).

    An interview turns a project idea into a spec: the project type's template asks the first
    question, then after each answer the model (an API-registry endpoint of capability
    `llm.chat`) asks the next or writes the spec; without a model, or when its answer is
    unusable, the template's questions go on and the spec is written from their answers.
    Calls act as the store's principal: `agents:run` starts and reads one's own interviews,
    `agents:admin` everyone's; an interview of someone else's is `NotFound`.
    """

    def start(self, project_type: _SoloProjectType, idea: str) -> SoloInterview:
        """Starts an interview; it comes back with its first question pending.

        `project_type`: "web_app", "api", "cli", "library", "data_pipeline" or "other".
        `idea`: the project idea, up to 2,000 characters. Raises `ValidationError` (with
        `field` `project_type` or `idea`) for bad input, `PermissionDenied` without
        `agents:run`.
        """
    def get(self, id: uuid.UUID | str) -> SoloInterview:
        """The interview with this id. Raises `NotFound` for one that does not exist or is not
        the caller's."""
    def list(self, *, limit: int = 50, offset: int = 0) -> Page[SoloInterview]:
        """One `Page` of interviews, newest first: the caller's own, or everyone's with
        `agents:admin`. `limit` (1–500) and `offset` choose the page."""
    def answer(self, id: uuid.UUID | str, answer: str) -> SoloInterview:
        """Answers the waiting question and returns the interview: with the next question
        pending, or complete with its spec written. Raises `ValidationError` (`field`
        `answer`) for a blank or too long answer, `Conflict` when no question waits."""
    def revise(self, id: uuid.UUID | str, index: int, answer: str) -> SoloInterview:
        """Revises the answer of turn `index` and returns the interview: the turns after it
        are dropped and the interview goes on from there; a spec written before stays
        readable as an earlier version. Raises `ValidationError` (`field` `index`) for a turn
        without an answer."""
    def spec(self, id: uuid.UUID | str, version: int | None = None) -> SoloSpec:
        """A version of the interview's spec: the latest when `version` is `None`. Raises
        `NotFound` before the first spec or for a version that does not exist."""

TaskState: TypeAlias = Literal[
    "scheduled", "available", "running", "retryable", "completed", "failed", "cancelled"
]
"""Where a task is in its life."""

class TaskAttemptError(TypedDict):
    """One failed attempt of a task, as `Task.errors` lists it."""

    attempt: int
    """The attempt that failed (1-based)."""
    at: datetime.datetime
    """When it failed (timezone-aware, UTC)."""
    message: str
    """What went wrong, e.g. "ValueError: boom" for a handler that raised."""

class _NewTaskKind(TypedDict):
    kind: str

class NewTask(_NewTaskKind, total=False):
    """One task of `Tasks.enqueue_many`: the arguments of `Tasks.enqueue` as a dict (`kind`
    required)."""

    payload: Any
    queue: str | None
    priority: int | None
    max_attempts: int | None
    run_at: datetime.datetime | None
    unique_key: str | None
    tags: builtins.list[str] | None

@final
class Task:
    """A stored task. Read-only; equal when every stored field is equal, hashed by id.

    JSON values (`payload`, `result`, `progress`) come back as new Python objects on each
    access, as `json.loads` would give them.
    """

    @property
    def id(self) -> uuid.UUID:
        """The task's identifier (a UUIDv7, so ids sort by creation time)."""
    @property
    def queue(self) -> str:
        """The queue it waits in."""
    @property
    def kind(self) -> str:
        """What kind of work it is; selects the handler."""
    @property
    def payload(self) -> Any:
        """The handler's input."""
    @property
    def priority(self) -> int:
        """1 runs first, 10 last."""
    @property
    def state(self) -> TaskState:
        """Where it is in its life."""
    @property
    def attempt(self) -> int:
        """Attempts started so far."""
    @property
    def max_attempts(self) -> int:
        """Attempts it gets before it fails for good."""
    @property
    def run_at(self) -> datetime.datetime:
        """When it may run (next), timezone-aware UTC."""
    @property
    def unique_key(self) -> str | None:
        """While the task is unfinished, enqueueing another with this key returns this one."""
    @property
    def tags(self) -> list[str]:
        """Labels for filtering (a new list on each access)."""
    @property
    def lease_expires_at(self) -> datetime.datetime | None:
        """When the running worker's lease ends unless renewed."""
    @property
    def worker_id(self) -> str | None:
        """The worker holding (or that last held) the lease."""
    @property
    def last_error(self) -> str | None:
        """The most recent failure's message."""
    @property
    def errors(self) -> list[TaskAttemptError]:
        """Every failed attempt, oldest first (a new list on each access)."""
    @property
    def result(self) -> Any:
        """What the handler returned on success (`None` otherwise)."""
    @property
    def progress(self) -> Any:
        """The latest progress its handler reported (`None` when none)."""
    @property
    def created_by(self) -> str:
        """Who enqueued it: "user:<id>", "api_key:<id>" or "system"."""
    @property
    def owner_id(self) -> uuid.UUID | None:
        """The user on whose behalf it was enqueued; `None` for the system and schedules."""
    @property
    def created_at(self) -> datetime.datetime:
        """When it was enqueued."""
    @property
    def started_at(self) -> datetime.datetime | None:
        """When its latest attempt started."""
    @property
    def finished_at(self) -> datetime.datetime | None:
        """When it finished (completed, failed or cancelled)."""
    @property
    def inserted(self) -> bool | None:
        """From `enqueue`/`enqueue_many`: `True` when the call inserted this task, `False` when
        an unfinished task already held its `unique_key` (and this is that task, unchanged).
        `None` on tasks read any other way; not compared by `==`."""
    def to_dict(self) -> dict[str, Any]:
        """The task as a new dict of its stored attributes (not `inserted`)."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class QueueSettings:
    """A queue's settings, as `pause`, `resume` and `set_concurrency_limit` leave them."""

    @property
    def queue(self) -> str: ...
    @property
    def paused(self) -> bool:
        """A paused queue hands out no tasks."""
    @property
    def concurrency_limit(self) -> int | None:
        """At most this many of its tasks run at once, across every worker (`None`: no
        limit)."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class QueueStats:
    """Counts for one queue; `stats["failed"]` is `stats.states["failed"]`."""

    @property
    def queue(self) -> str: ...
    @property
    def paused(self) -> bool: ...
    @property
    def concurrency_limit(self) -> int | None: ...
    @property
    def states(self) -> dict[TaskState, int]:
        """Tasks per state, every state present (a new dict on each access)."""
    @property
    def completed_last_minute(self) -> int:
        """Tasks completed in the last minute."""
    @property
    def oldest_available_age_secs(self) -> float | None:
        """Seconds the oldest due, claimable task has waited past its `run_at` (`None`:
        none)."""
    @property
    def kinds(self) -> list[dict[str, Any]]:
        """Per kind of task, by kind: dicts `{"kind", "states", "completed_last_minute",
        "failed_last_minute", "average_wait_secs", "average_run_secs"}`; the means cover the
        last minute and are `None` when nothing started or finished."""
    def __getitem__(self, state: TaskState, /) -> int:
        """The count of one state; `KeyError` for a name that is not a state."""

@final
class TaskStats:
    """The queue at a glance: one `QueueStats` per queue that has tasks or settings.

    `stats["default"]` is one queue's (`KeyError` when absent); `"x" in stats` asks whether
    there is one.
    """

    @property
    def queues(self) -> list[QueueStats]:
        """Every queue that has tasks or settings, by name."""
    @property
    def totals(self) -> dict[TaskState, int]:
        """Tasks per state over every queue, every state present."""
    def __getitem__(self, queue: str, /) -> QueueStats: ...
    def __contains__(self, queue: object, /) -> bool: ...
    def __len__(self) -> int: ...

@final
class Tasks:
    """The durable task queue of a store (`store.tasks`).

    Calls act as the given `principal`, else as the store's (the system, or the user of
    `store.as_user`), which needs `tasks:read` to read and `tasks:write` to change anything
    (else `PermissionDenied`). Broken rules raise
    `ValidationError` naming the field. Enqueueing into a queue whose waiting tasks are at the
    backlog limit (`TRAE_QUEUE_MAX_BACKLOG`, default 100,000) raises `Overloaded` and writes
    nothing.
    """

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
    ) -> Task:
        """Enqueues one task and returns it; `task.inserted` says whether this call inserted
        it (`False`: an unfinished task already held `unique_key`, and that one is returned).

        `kind` and `queue` (default "default"): 1–128 and 1–64 characters of a-z, 0-9, `_`,
        `.`, `-`. `payload`: any JSON-able value (`None`, bool, int, float, str, list, tuple,
        dict with str keys), at most 256 KiB as JSON (default `{}`). `priority`: 1 (first) –
        10 (last), default 5. `max_attempts`: 1–100, default 5. `run_at`: a timezone-aware
        datetime (in the future: the task is scheduled). `tags`: up to 20 labels.
        """
    def enqueue_many(
        self, tasks: Iterable[NewTask], *, principal: Principal | None = None
    ) -> builtins.list[Task]:
        """Enqueues tasks all or none, in one transaction; returns them in order, each with
        `inserted` set as by `enqueue`.

        A broken rule names the task: `priority` for the first, `tasks[3].priority` for the
        fourth. Unknown or missing keys and wrong types raise `TypeError`.
        """
    def get(self, id: uuid.UUID | str, principal: Principal | None = None) -> Task:
        """The task with this id; raises `NotFound` when there is none."""
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
    ) -> Page[Task]:
        """One `Page` of tasks, newest first; `state`, `queue`, `kind` and `tag` filter."""
    def cancel(self, id: uuid.UUID | str, principal: Principal | None = None) -> Task:
        """Cancels a task that has not finished and returns it (a running handler is told to
        stop). Raises `Conflict` when it already finished, `NotFound` when there is none."""
    def retry(self, id: uuid.UUID | str, principal: Principal | None = None) -> Task:
        """Makes a failed, cancelled, retryable or scheduled task available now and returns it
        (failed and cancelled ones get a fresh set of attempts; the error history stays).
        Raises `Conflict` for a completed or running task."""
    def pause(self, queue: str, principal: Principal | None = None) -> QueueSettings:
        """Stops handing out a queue's tasks (running ones finish)."""
    def resume(self, queue: str, principal: Principal | None = None) -> QueueSettings:
        """Hands out a paused queue's tasks again."""
    def set_concurrency_limit(
        self, queue: str, limit: int | None, principal: Principal | None = None
    ) -> QueueSettings:
        """Limits how many of a queue's tasks run at once across every worker (`None`: no
        limit; 0 raises `ValidationError`: pause the queue instead)."""
    def stats(self, principal: Principal | None = None) -> TaskStats:
        """Counts per queue and state."""

class TaskFatal(Exception):
    """Raise in a handler to fail the task now, without further attempts; `str(error)` is
    recorded as the attempt's error."""

class TaskSnooze(Exception):
    """Raise in a handler to run the task again after `seconds`, without spending an attempt.

    `seconds`: a finite number, 0 or more (`ValueError` otherwise).
    """

    seconds: float
    def __init__(self, seconds: float, *args: object) -> None: ...

@final
class TaskContext:
    """What a plain-function handler gets as its second argument, when it takes two."""

    @property
    def task(self) -> Task:
        """The task as claimed (state "running"; `attempt` counts this one)."""
    @property
    def payload(self) -> Any:
        """The task's input (a new Python object on each access)."""
    def is_cancelled(self) -> bool:
        """Whether the handler should stop: the task was cancelled, its lease lost, or the
        worker is shutting down. A handler that notices should return."""
    def report_progress(self, progress: Any) -> bool:
        """Records `progress` (any JSON-able value) on the task; `False` when the lease is lost.
        Raises `ValidationError` (field `progress`) for a value that is not JSON."""

@final
class RateWindow:
    """One window of a limit after a decision (what `RateLimit-*` headers carry)."""

    @property
    def window(self) -> float:
        """The window's length in seconds."""
    @property
    def limit(self) -> int:
        """Calls admitted per window."""
    @property
    def remaining(self) -> int:
        """Calls this window would still admit now."""
    @property
    def reset_after(self) -> float:
        """Seconds until this window frees another call (0 when nothing is inside it)."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class RateDecision:
    """What the limiter decided about one call; truthy when admitted."""

    @property
    def allowed(self) -> bool:
        """Whether the call is admitted (and charged to every window)."""
    @property
    def retry_after(self) -> float | None:
        """Seconds until a call would be admitted; None when this one was."""
    @property
    def windows(self) -> list[RateWindow]:
        """Each window of the limits, in the order per_minute, per_hour, per_day."""
    def __bool__(self) -> bool: ...

@final
class RateLimiter:
    """Rolling-window rate limits per key, exact: no span of a window's length ever admits
    more than its limit (a "day" is any 24 hours), and a refused call charges no window.
    Thread-safe; in memory only."""

    def __new__(cls) -> RateLimiter: ...
    def check(
        self,
        key: str,
        *,
        per_minute: int | None = None,
        per_hour: int | None = None,
        per_day: int | None = None,
        at: datetime.datetime | None = None,
    ) -> RateDecision:
        """Decides one call of `key` (charging it when admitted). At least one limit is
        required; a zero limit raises `ValidationError` naming `limits.per_minute` (etc.).
        `at` (timezone-aware) replaces the clock, e.g. in tests."""
    def reset(self, key: str) -> bool:
        """Forgets `key`; returns whether it was known."""
    def __len__(self) -> int: ...

@final
class WorkerSummary:
    """What a worker run did. Read-only; equal when every count is."""

    @property
    def claimed(self) -> int:
        """Tasks claimed."""
    @property
    def completed(self) -> int:
        """Attempts that completed."""
    @property
    def failed(self) -> int:
        """Attempts that failed (retry scheduled, or the task failed for good)."""
    @property
    def lost(self) -> int:
        """Outcomes the database refused because the task's lease was lost."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

_H = TypeVar("_H", bound=Callable[..., Any])

@final
class Worker:
    """Runs Python functions as task handlers.

    Register handlers with `@worker.handler("kind")`, then `run()` (blocks until `stop()` or
    Ctrl-C), `run_until_idle()` (until nothing is left to do) or `await run_async()` (on the
    running event loop). A handler takes `payload`, or `(payload, context)`; plain functions
    run on trae's blocking threads, `async def` ones on an event loop (the caller's for
    `run_async`, else one the worker runs on its own thread). Its return value (JSON-able) is
    the task's result; an exception fails the attempt (retried while attempts remain, its
    "Type: message" kept in `Task.errors`), `TaskFatal` fails the task now and
    `TaskSnooze(seconds)` runs it later without spending an attempt. A return value that is
    not JSON fails the attempt with a message saying so. Delivery is at least once: make
    handlers idempotent.

    `store`: a `trae.Store` or `trae.aio.Store`. `queues`: the queues served (a name or a
    sequence of names). `concurrency`: tasks run at once (default: the number of CPUs). `id`:
    recorded on claimed tasks (default host-pid-random). `lease`, `heartbeat`,
    `poll_interval`, `shutdown_grace`: seconds (defaults 300, 1, 1, 10). Broken rules raise
    `ValidationError`.
    """

    def __new__(
        cls,
        store: Store | aio.Store,
        queues: str | Sequence[str] | None = None,
        concurrency: int | None = None,
        *,
        id: str | None = None,
        lease: float | None = None,
        heartbeat: float | None = None,
        poll_interval: float | None = None,
        shutdown_grace: float | None = None,
    ) -> Worker: ...
    @overload
    def handler(
        self, kind: str, func: None = None, *, retry_backoff: float | None = None
    ) -> Callable[[_H], _H]:
        """Registers `func` as the handler of `kind` (replacing any before it): as a decorator,
        `@worker.handler("email.send")`, or directly, `worker.handler("email.send", send)`.

        `retry_backoff`: seconds before the first retry, doubling per attempt up to an hour,
        ± 20 % (default 1; 0 retries at once). Raises `ValidationError` for a malformed kind.
        Registering during a run takes effect at the next run.
        """
    @overload
    def handler(self, kind: str, func: _H, *, retry_backoff: float | None = None) -> _H: ...
    @property
    def kinds(self) -> list[str]:
        """The kinds it has handlers for, sorted."""
    @property
    def id(self) -> str:
        """The id recorded on the tasks it claims."""
    @property
    def queues(self) -> list[str]:
        """The queues it serves."""
    @property
    def concurrency(self) -> int:
        """Tasks it runs at once."""
    @property
    def running(self) -> bool:
        """Whether a run is in progress."""
    def stop(self) -> None:
        """Asks the run in progress (`run()` or `run_async()`) to stop gracefully; safe from any
        thread or handler. Does nothing when not running, nor to `run_until_idle()`."""
    def run(self) -> WorkerSummary:
        """Runs until `stop()` or Ctrl-C, then shuts down gracefully (running handlers get
        `shutdown_grace` seconds; the tasks of those that do not finish are given back).
        Returns the summary; after Ctrl-C raises `KeyboardInterrupt` instead (a second Ctrl-C
        stops waiting). Raises `ValidationError` with no handler registered and `RuntimeError`
        when already running."""
    def run_until_idle(self) -> WorkerSummary:
        """Runs until no task it could claim is due and nothing is running, then returns.
        Ctrl-C aborts it (its claimed tasks are rescued when their lease expires)."""
    def run_async(self) -> Coroutine[Any, Any, WorkerSummary]:
        """Runs on the running event loop until `stop()`; cancelling the coroutine's task stops
        the worker gracefully, waits for that, then raises `CancelledError`."""

_Comparison: TypeAlias = Literal[">", ">=", "<", "<=", "==", "!="]
_Severity: TypeAlias = Literal["low", "medium", "high", "critical"]

@final
class ComponentStatus:
    """One component's health. Read-only; equal when every field is equal."""

    @property
    def name(self) -> str:
        """The component's name, e.g. "database"."""
    @property
    def required(self) -> bool:
        """Whether readiness fails while it is failing or critical."""
    @property
    def status(self) -> _HealthName:
        """The current status."""
    @property
    def last_check(self) -> datetime.datetime | None:
        """When it was last checked (timezone-aware, UTC)."""
    @property
    def last_ok(self) -> datetime.datetime | None:
        """When a check last passed (timezone-aware, UTC)."""
    @property
    def consecutive_failures(self) -> int:
        """Failed checks in a row."""
    @property
    def total_checks(self) -> int:
        """Checks run."""
    @property
    def total_failures(self) -> int:
        """Checks failed."""
    @property
    def uptime_24h(self) -> float | None:
        """Percent of the observed last 24 hours spent up, `None` before the first check."""
    @property
    def uptime_7d(self) -> float | None:
        """Percent of the observed last 7 days spent up, `None` before the first check."""
    @property
    def average_recovery_secs(self) -> float | None:
        """Mean seconds from going down to coming back up, `None` before a recovery."""
    @property
    def last_error(self) -> str | None:
        """The latest failure (no secrets, paths or host versions)."""
    def to_dict(self) -> dict[str, Any]:
        """Every attribute as a new dict, with the same Python types."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...

@final
class HealthTransition:
    """A component's status change. Read-only; equal when every field is equal."""

    @property
    def component(self) -> str:
        """The component."""
    @property
    def from_status(self) -> _HealthName:
        """The status before."""
    @property
    def to_status(self) -> _HealthName:
        """The status after."""
    @property
    def at(self) -> datetime.datetime:
        """When it changed (timezone-aware, UTC)."""
    @property
    def error(self) -> str | None:
        """The failure that caused it; `None` when recovering."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...

@final
class HealthReport:
    """The overall health and each component's. Read-only."""

    @property
    def status(self) -> _HealthName:
        """The worst status of the required components (an optional one that is down makes it
        at most "degraded")."""
    @property
    def ready(self) -> bool:
        """Whether no required component is failing or critical."""
    @property
    def components(self) -> list[ComponentStatus]:
        """Every component's status, by name (a new list on each access)."""

@final
class Health:
    """Component health of a store (`store.health`): the database, the task queue, the
    workers and the data directory's disk, judged by the configured rules (`TRAE_HEALTH_*`).

    Opened on first use: the shared history is restored (so uptime and recovery figures
    include what `trae serve` saw) and every component is checked once. Checks made here are
    recorded in that history and audited. Raises `ConfigError` when the configuration is
    invalid.
    """

    def check(self) -> HealthReport:
        """Checks every built-in component now and returns the report."""
    def check_component(self, name: str) -> ComponentStatus:
        """Checks the built-in component `name` ("database", "task_queue", "workers" or
        "disk") now; raises `NotFound` for any other name."""
    def report(self) -> HealthReport:
        """The report as of the latest checks, without checking anything."""
    def component(self, name: str) -> ComponentStatus:
        """The component `name`'s status; raises `NotFound` when there is none."""
    def history(self, name: str) -> list[HealthTransition]:
        """The component `name`'s status changes over the last 7 days, newest first; raises
        `NotFound` when there is none."""

@final
class MetricSeries:
    """One series of a metric: its labels and its points. Read-only."""

    @property
    def name(self) -> str:
        """The metric's name."""
    @property
    def labels(self) -> dict[str, str]:
        """The series' labels (a new dict on each access)."""
    @property
    def step_secs(self) -> int:
        """Seconds per point."""
    @property
    def points(self) -> list[tuple[datetime.datetime, float]]:
        """`(start of step, average value)` tuples, oldest first (timezone-aware, UTC)."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...

@final
class AlertRule:
    """A stored alert rule. Read-only; equal when every field is equal."""

    @property
    def id(self) -> uuid.UUID:
        """The rule's identifier."""
    @property
    def name(self) -> str:
        """The unique name."""
    @property
    def metric(self) -> str:
        """The metric judged, e.g. "trae_queue_depth"."""
    @property
    def labels(self) -> dict[str, str]:
        """Only series carrying these labels are judged."""
    @property
    def comparison(self) -> _Comparison:
        """How a value is compared with `value`."""
    @property
    def value(self) -> float:
        """The threshold."""
    @property
    def for_secs(self) -> int:
        """Seconds the condition must hold before an alert fires."""
    @property
    def severity(self) -> _Severity:
        """How urgent its alerts are."""
    @property
    def webhook_url(self) -> str | None:
        """The URL POSTed to when an alert fires or resolves."""
    @property
    def enabled(self) -> bool:
        """Whether the rule is judged."""
    @property
    def created_at(self) -> datetime.datetime:
        """When it was created (timezone-aware, UTC)."""
    @property
    def updated_at(self) -> datetime.datetime:
        """When it last changed (timezone-aware, UTC)."""
    def to_spec(self) -> dict[str, Any]:
        """The spec as a new dict, ready for `Metrics.update_rule` after a change."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...

@final
class Alert:
    """An alert: a rule's condition held for one series. Read-only."""

    @property
    def id(self) -> uuid.UUID:
        """The alert's identifier."""
    @property
    def rule_id(self) -> uuid.UUID:
        """The rule that raised it."""
    @property
    def rule_name(self) -> str:
        """The rule's name when it fired."""
    @property
    def metric(self) -> str:
        """The metric."""
    @property
    def labels(self) -> dict[str, str]:
        """The series' labels (a new dict on each access)."""
    @property
    def severity(self) -> _Severity:
        """How urgent."""
    @property
    def comparison(self) -> _Comparison:
        """The rule's comparison."""
    @property
    def threshold(self) -> float:
        """The rule's threshold."""
    @property
    def value(self) -> float:
        """The value that fired it."""
    @property
    def state(self) -> Literal["firing", "resolved"]:
        """Firing or resolved."""
    @property
    def fired_at(self) -> datetime.datetime:
        """When it fired (timezone-aware, UTC)."""
    @property
    def resolved_at(self) -> datetime.datetime | None:
        """When it resolved (timezone-aware, UTC)."""
    @property
    def resolved_value(self) -> float | None:
        """The value that resolved it."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...

@final
class Metrics:
    """Metric series and alert rules of a store (`store.metrics`). Calls act as the store's
    principal (reading needs `metrics:read`, changing rules `alerts:admin`); rule changes are
    audited."""

    def names(self) -> list[str]:
        """Every metric name with stored points, sorted."""
    def query(
        self,
        name: str,
        *,
        since: datetime.datetime | None = None,
        step: int | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> list[MetricSeries]:
        """The series of metric `name`, by labels: from `since` (timezone-aware; default an
        hour ago, at most a day back), `step` seconds per point (a minute or more reads the
        minute averages, of closed minutes only), only series carrying `labels`. Raises `ValidationError` for a bad name, a future `since` or a bad step."""
    def sample(self) -> list[Alert]:
        """Samples the task queue's and the external APIs' gauges now, stores them and judges
        the alert rules; returns the alerts that fired or resolved. Needs `alerts:admin` (it
        writes points and can fire webhooks)."""
    def create_rule(self, spec: Mapping[str, Any] | None = None, /, **fields: Any) -> AlertRule:
        """Adds a rule from a dict in the JSON shape of the HTTP API and keyword arguments
        (`name`, `metric`, `comparison`, `value`, `severity` required; `labels`, `for_secs`,
        `webhook_url`, `enabled`). Raises `ValidationError` or `Conflict` (a taken name)."""
    def update_rule(
        self, id: uuid.UUID | str, spec: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> AlertRule:
        """Replaces rule `id`'s spec; raises `NotFound` when there is none."""
    def delete_rule(self, id: uuid.UUID | str) -> None:
        """Deletes rule `id`; its firing alerts resolve. Raises `NotFound` when there is none."""
    def rule(self, id: uuid.UUID | str) -> AlertRule:
        """Rule `id`; raises `NotFound` when there is none."""
    def rules(self) -> list[AlertRule]:
        """Every rule, by name."""
    def alerts(
        self,
        *,
        state: Literal["firing", "resolved"] | None = None,
        rule_id: uuid.UUID | str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[Alert]:
        """One page of alerts, newest first, filtered by `state` and `rule_id`."""

_Topic: TypeAlias = Literal[
    "tasks", "health", "alerts", "apis", "audit", "content", "backups", "pets", "bench", "system"
]

class Event(TypedDict):
    """One event of the stream, as the HTTP API shows it."""

    seq: int
    id: uuid.UUID
    ts: datetime.datetime
    topic: str
    source: str
    kind: str
    owner_id: uuid.UUID | None
    payload: Any

class EventPage(TypedDict):
    """A page of events: `next` is the `since` of the next page."""

    epoch: str
    events: list[Event]
    next: int

class StreamPosition(TypedDict):
    """Where the event log stands."""

    epoch: str
    last_seq: int
    oldest_seq: int | None

@final
class Events:
    """The event stream of a store (`store.events`): every service's events, kept in the
    database for `TRAE_EVENT_RETENTION_HOURS`.

    `topics` names topics; left out, every topic the store's principal may read. A topic it
    may not read raises `PermissionDenied`; without `tasks:read_all` only its own tasks'
    events show. `since` resumes after that `seq` of `epoch`; history that is gone raises
    `HistoryLost`.
    """

    def page(
        self,
        *,
        since: int | None = None,
        topics: list[_Topic] | None = None,
        epoch: str | None = None,
        limit: int | None = None,
    ) -> EventPage:
        """Events after `since`, oldest first (at most `limit`, default 100, at most 500).
        Without `since` the page is empty and `next` is the end of the log."""
    def subscribe(
        self,
        *,
        topics: list[_Topic] | None = None,
        since: int | None = None,
        epoch: str | None = None,
    ) -> EventSubscription:
        """Follows the stream: what came after `since` (from now when left out), then every
        new event."""
    def position(self) -> StreamPosition:
        """The log's epoch, last `seq` and oldest kept `seq`."""

@final
class EventSubscription:
    """A blocking iterator of `Event` dicts; `with` closes it."""

    @property
    def epoch(self) -> str:
        """The log's epoch."""
    @property
    def last_seq(self) -> int:
        """The last `seq` covered: resume after it."""
    def next(self, timeout: float | None = None) -> Event | None:
        """The next event, or `None` when `timeout` seconds pass without one."""
    def close(self) -> None:
        """Ends the subscription."""
    def __iter__(self) -> EventSubscription: ...
    def __next__(self) -> Event: ...
    def __enter__(self) -> EventSubscription: ...
    def __exit__(self, *args: object) -> None: ...

class ContradictionFinding(TypedDict):
    """One contradicting pair of statements."""

    statement_1: str
    statement_2: str
    type: Literal["direct", "contextual", "temporal", "value", "policy_shift", "audience_based"]
    cue: Literal["negation", "antonym", "quantifier", "numeric", "date", "stance"]
    confidence: float
    explanation: str

class ContradictionAnalysis(TypedDict):
    """The contradiction engine's answer."""

    score: int
    label: Literal["none", "low", "moderate", "high"]
    contradictions: list[ContradictionFinding]

def analyze_contradictions(text: str) -> ContradictionAnalysis:
    """Splits `text` into sentences and finds every contradicting pair (same subject, same
    topic), most confident first; `score` (0–100) is the chance at least one is right."""

def compare_statements(statement_1: str, statement_2: str) -> ContradictionAnalysis:
    """Compares two statements; at most one contradiction."""

# --- the content domain -----------------------------------------------------------------------

_Platform: TypeAlias = Literal[
    "youtube", "twitter", "tiktok", "instagram", "blog", "podcast", "newsletter", "other"
]
_VocabularyLevel: TypeAlias = Literal["basic", "intermediate", "advanced", "expert"]
_EvidenceType: TypeAlias = Literal[
    "quote", "statistic", "fact", "document", "study", "news", "video", "testimony", "other"
]
_SubjectType: TypeAlias = Literal[
    "person", "organization", "publication", "politician", "celebrity", "influencer"
]
_ContradictionType: TypeAlias = Literal[
    "direct", "contextual", "temporal", "value", "policy_shift", "audience_based"
]
_VerificationStatus: TypeAlias = Literal["pending", "verified", "disputed", "debunked"]

class Channel(TypedDict):
    """A channel content is published on, as `store.channels` returns it."""

    id: uuid.UUID
    name: str
    platform: _Platform
    url: str | None
    description: str | None
    target_audience: str | None
    content_strategy: str | None
    posting_schedule: str | None
    is_active: bool
    metrics: dict[str, Any]
    created_at: datetime.datetime
    updated_at: datetime.datetime

class Persona(TypedDict):
    """An author persona with its parent's traits resolved; `inherited` names the traits that
    came from an ancestor."""

    id: uuid.UUID
    name: str
    is_active: bool
    version: int
    parent_id: uuid.UUID | None
    description: str | None
    writing_style: str | None
    personality_traits: list[str] | None
    expertise_areas: list[str] | None
    tone: str | None
    vocabulary_level: _VocabularyLevel | None
    target_audience: str | None
    channel_id: uuid.UUID | None
    content_types: list[str] | None
    inherited: list[str]
    usage_count: int
    last_used_at: datetime.datetime | None
    created_at: datetime.datetime
    updated_at: datetime.datetime

class PersonaVersion(TypedDict):
    """One stored version of a persona: its own traits (nothing inherited) when it was saved."""

    persona_id: uuid.UUID
    version: int
    name: str
    is_active: bool
    parent_id: uuid.UUID | None
    description: str | None
    writing_style: str | None
    personality_traits: list[str] | None
    expertise_areas: list[str] | None
    tone: str | None
    vocabulary_level: _VocabularyLevel | None
    target_audience: str | None
    channel_id: uuid.UUID | None
    content_types: list[str] | None
    changed_at: datetime.datetime
    changed_by: str

class PersonaPrompt(TypedDict):
    """The system prompt a persona writes with."""

    persona_id: uuid.UUID
    name: str
    version: int
    prompt: str

class EvidenceRecord(TypedDict):
    """A piece of evidence, as `store.evidence` returns it (named so as not to clash with the
    `Evidence` service)."""

    id: uuid.UUID
    topic: str
    content: str
    source_url: str | None
    source_name: str | None
    evidence_type: _EvidenceType
    published_at: datetime.datetime | None
    credibility: int
    relevance: int
    tags: list[str]
    created_by: str
    created_at: datetime.datetime
    updated_at: datetime.datetime

class StoredAnalysis(TypedDict):
    """The contradiction engine's verdict as `Contradictions.analyze` stores it on a record."""

    score: int
    label: Literal["none", "low", "moderate", "high"]
    suggested_type: _ContradictionType | None
    cue: Literal["negation", "antonym", "quantifier", "numeric", "date", "stance"] | None
    confidence: float
    explanation: str | None
    analyzed_at: datetime.datetime

class Contradiction(TypedDict):
    """A tracked contradiction, as `store.contradictions` returns it."""

    id: uuid.UUID
    subject_name: str
    subject_type: _SubjectType
    topic: str
    statement_1: str
    statement_2: str
    context_1: str | None
    context_2: str | None
    date_1: datetime.date | None
    date_2: datetime.date | None
    evidence_1: list[uuid.UUID]
    evidence_2: list[uuid.UUID]
    contradiction_type: _ContradictionType
    severity: int
    confidence: float
    verification_status: _VerificationStatus
    public_impact: int
    tags: list[str]
    content_used: bool
    time_gap_days: int | None
    reviewed_by: str | None
    reviewed_at: datetime.datetime | None
    review_note: str | None
    analysis: StoredAnalysis | None
    created_by: str
    created_at: datetime.datetime
    updated_at: datetime.datetime

class Opportunity(TypedDict):
    """A verified, unused contradiction ranked for content: `score` is severity × confidence ×
    public impact."""

    score: float
    contradiction: Contradiction

class AnalyzedContradiction(TypedDict):
    """What `Contradictions.analyze` returns: the updated record and the engine's answer."""

    contradiction: Contradiction
    analysis: ContradictionAnalysis

@final
class Channels:
    """The channels content is published on (`store.channels`). Records are dicts in the HTTP
    API's JSON shape (ids `uuid.UUID`, times timezone-aware UTC `datetime`s); calls act as the
    store's principal (the system, or a user through `store.as_user`)."""

    def create(self, spec: Mapping[str, Any] | None = None, /, **fields: Any) -> Channel:
        """Adds a channel from a dict in the JSON shape of the HTTP API and keyword arguments
        (`name` required; `platform`, `url`, `description`, `target_audience`,
        `content_strategy`, `posting_schedule`, `is_active`, `metrics`). Raises
        `ValidationError`, or `Conflict` for a taken name."""
    def get(self, id: uuid.UUID | str) -> Channel:
        """Channel `id`; raises `NotFound` when there is none."""
    def list(
        self,
        *,
        platform: _Platform | None = None,
        is_active: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[Channel]:
        """One page of channels, filtered by `platform` and `is_active`."""
    def update(
        self, id: uuid.UUID | str, spec: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Channel:
        """Changes the given fields (those of `create`, plus `clear`: optional fields to
        empty); raises `NotFound` when there is none."""
    def delete(self, id: uuid.UUID | str, *, detach: bool = False) -> int:
        """Deletes channel `id`; returns how many personas it was detached from. Raises
        `Conflict` while personas use it unless `detach`, `NotFound` when there is none."""

@final
class Personas:
    """Author personas, versioned and with variants (`store.personas`); calls act as the
    store's principal (the system, or a user through `store.as_user`)."""

    def create(self, spec: Mapping[str, Any] | None = None, /, **fields: Any) -> Persona:
        """Adds a persona (version 1) from a dict and keyword arguments (`name` required;
        `is_active`, `parent_id`, `description`, `writing_style`, `personality_traits`,
        `expertise_areas`, `tone`, `vocabulary_level`, `target_audience`, `channel_id`,
        `content_types`). A variant inherits every trait it does not set from its parent.
        Raises `ValidationError`, or `Conflict` for a taken name."""
    def get(self, id: uuid.UUID | str) -> Persona:
        """Persona `id` with inherited traits resolved; raises `NotFound` when there is none."""
    def list(
        self,
        *,
        channel_id: uuid.UUID | str | None = None,
        parent_id: uuid.UUID | str | None = None,
        is_active: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[Persona]:
        """One page of personas, filtered by `channel_id`, `parent_id` and `is_active`."""
    def update(
        self, id: uuid.UUID | str, spec: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Persona:
        """Changes the given fields (those of `create`, plus `clear`: traits or `parent_id` to
        empty); a real change makes a new version. Raises `NotFound` when there is none."""
    def delete(self, id: uuid.UUID | str) -> None:
        """Deletes persona `id`; raises `Conflict` while variants inherit from it."""
    def versions(self, id: uuid.UUID | str) -> builtins.list[PersonaVersion]:
        """Every version of persona `id`, oldest first."""
    def version(self, id: uuid.UUID | str, n: int) -> PersonaVersion:
        """Version `n` of persona `id`; raises `NotFound` when there is none."""
    def prompt(self, id: uuid.UUID | str) -> PersonaPrompt:
        """The system prompt persona `id` writes with; counts as a use of it."""

@final
class Evidence:
    """The evidence library, full-text searchable (`store.evidence`); calls act as the
    store's principal (the system, or a user through `store.as_user`)."""

    def create(self, spec: Mapping[str, Any] | None = None, /, **fields: Any) -> EvidenceRecord:
        """Adds evidence from a dict and keyword arguments (`topic`, `content` required;
        `source_url`, `source_name`, `evidence_type`, `published_at` (timezone-aware),
        `credibility`, `relevance` (0–10), `tags`). Raises `ValidationError`."""
    def get(self, id: uuid.UUID | str) -> EvidenceRecord:
        """Evidence `id`; raises `NotFound` when there is none."""
    def list(
        self,
        *,
        q: str | None = None,
        evidence_type: _EvidenceType | None = None,
        tag: str | None = None,
        min_credibility: int | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[EvidenceRecord]:
        """One page of evidence: `q` searches the text (best match first; one with no words
        raises `ValidationError`), the others filter."""
    def update(
        self, id: uuid.UUID | str, spec: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> EvidenceRecord:
        """Changes the given fields (those of `create`, plus `clear`: `source_url`,
        `source_name`, `published_at`); raises `NotFound` when there is none."""
    def delete(self, id: uuid.UUID | str) -> None:
        """Deletes evidence `id`; raises `NotFound` when there is none."""

@final
class Contradictions:
    """The contradiction tracker (`store.contradictions`); calls act as the store's principal
    and reviews are audited."""

    def create(self, spec: Mapping[str, Any] | None = None, /, **fields: Any) -> Contradiction:
        """Records a contradiction (status "pending") from a dict and keyword arguments
        (`subject_name`, `topic`, `statement_1`, `statement_2` required; `subject_type`,
        `context_1`, `context_2`, `date_1`, `date_2` (dates or "YYYY-MM-DD"), `evidence_1`,
        `evidence_2` (evidence ids), `contradiction_type`, `severity`, `confidence`,
        `public_impact`, `tags`). Raises `ValidationError`."""
    def get(self, id: uuid.UUID | str) -> Contradiction:
        """Contradiction `id`; raises `NotFound` when there is none."""
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
    ) -> Page[Contradiction]:
        """One page of contradictions, filtered by every argument but `limit` and `offset`."""
    def update(
        self, id: uuid.UUID | str, spec: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Contradiction:
        """Changes the given fields (those of `create`, plus `content_used` and `clear`);
        restating a reviewed record sends it back to "pending"."""
    def delete(self, id: uuid.UUID | str) -> None:
        """Deletes contradiction `id`; raises `NotFound` when there is none."""
    def verify(
        self, id: uuid.UUID | str, status: _VerificationStatus, note: str
    ) -> Contradiction:
        """Moves the record to `status` with a `note`, audited. A blank note raises
        `ValidationError`; the status it already has `Conflict`."""
    def opportunities(self, *, limit: int = 50, offset: int = 0) -> Page[Opportunity]:
        """One page of content opportunities (verified records not yet used for content),
        best first."""
    def analyze(self, id: uuid.UUID | str) -> AnalyzedContradiction:
        """Runs the contradiction engine over the record's statements and stores its verdict."""
