"""trae: pets on SQLite or PostgreSQL, from Python.

Open a store, then work with its pets::

    import trae

    with trae.Store("sqlite:///pets.db") as store:
        rex = store.pets.create(name="Rex", species="dog", age=3, tags=["good"])
        page = store.pets.list(species="dog")

Every rule is checked by trae's Rust core; broken ones raise ``trae.ValidationError``. All
errors derive from ``trae.TraeError``. ``trae.aio`` has the same API for asyncio.
"""

from ._native import (
    ConfigError,
    Conflict,
    NotFound,
    Page,
    Pet,
    Pets,
    Store,
    TraeError,
    Unavailable,
    ValidationError,
    __version__,
)
from . import aio

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
