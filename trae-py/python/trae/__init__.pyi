"""trae: pets on SQLite or PostgreSQL, from Python."""

import datetime
import builtins
import uuid
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Final, Literal, SupportsIndex, final, overload

from . import aio as aio

__all__ = [
    "ConfigError",
    "Conflict",
    "NotFound",
    "Page",
    "Pet",
    "Pets",
    "Store",
    "TraeError",
    "Unavailable",
    "ValidationError",
    "__version__",
    "aio",
]

__version__: Final[str]
"""The version of trae (the crate version of trae-py)."""

class TraeError(Exception):
    """Base class of every error trae raises.

    `code` is the stable machine-readable error code of trae-core (`not_found`,
    `validation_failed`, `conflict`, `invalid_configuration`, `unavailable`, `internal`);
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

class ConfigError(TraeError):
    """The configuration, e.g. the database URL, is invalid (code `invalid_configuration`)."""

class Unavailable(TraeError):
    """The database cannot be reached, or the store is closed (code `unavailable`)."""

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
class Page:
    """One page of a list: the pets on it and how many match in all.

    Iterable, sized and indexable like its `items`.
    """

    @property
    def items(self) -> list[Pet]:
        """The pets on this page, oldest first (ties by id); a new list on each access."""
    @property
    def total(self) -> int:
        """How many pets match the filter in all pages."""
    @property
    def limit(self) -> int:
        """The largest number of items the page could hold, as asked for."""
    @property
    def offset(self) -> int:
        """How many matching pets come before this page."""
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[Pet]: ...
    @overload
    def __getitem__(self, key: SupportsIndex, /) -> Pet: ...
    @overload
    def __getitem__(self, key: slice, /) -> list[Pet]: ...

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
    ) -> Page:
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
class Store:
    """A trae database, opened (and migrated) when constructed.

    `url` is `sqlite:///path/to/file.db` (the file is created when missing), `sqlite::memory:`
    or `postgres://user:password@host:port/database`. Use as a context manager to close it at
    the end of a block: `with trae.Store(url) as store: ...`.

    Raises `ConfigError` for a URL trae cannot use and `Unavailable` when the database cannot
    be reached.
    """

    def __new__(cls, url: str) -> Store: ...
    @property
    def pets(self) -> Pets:
        """The pets in this store."""
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
