"""trae for asyncio: the API of `trae` with awaitable calls."""

import builtins
import uuid
from collections.abc import Awaitable, Generator
from types import TracebackType
from typing import Any, Literal, final

from . import Page, Pet

__all__ = ["Pets", "Store", "StoreOpener"]

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
    ) -> Awaitable[Page]:
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
class Store:
    """A trae database for asyncio code; open one with `await Store.open(url)` or
    `async with Store.open(url) as store:`."""

    @staticmethod
    def open(url: str) -> StoreOpener:
        """Opens (and migrates) the database at `url`; the URLs of `trae.Store` apply.

        Await the result for the store, or use it with `async with` to close the store at the
        end of the block. Raises `ConfigError` for a URL trae cannot use and `Unavailable` when
        the database cannot be reached.
        """
    @property
    def pets(self) -> Pets:
        """The pets in this store."""
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
