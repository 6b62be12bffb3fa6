"""trae: pets and identity on SQLite or PostgreSQL, from Python.

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

Calls act as the system unless given a ``principal``. Every rule is checked by trae's Rust
core; broken ones raise ``trae.ValidationError``. All errors derive from ``trae.TraeError``.
``trae.aio`` has the same API for asyncio.
"""

from ._native import (
    ApiKey,
    ApiKeys,
    Audit,
    AuditEntry,
    Auth,
    AuthError,
    ConfigError,
    Conflict,
    CreatedApiKey,
    Locked,
    NotFound,
    Page,
    PermissionDenied,
    Pet,
    Pets,
    Policy,
    Principal,
    Role,
    Store,
    TokenPair,
    TraeError,
    Unavailable,
    User,
    Users,
    ValidationError,
    __version__,
)
from . import aio

__all__ = [
    "ApiKey",
    "ApiKeys",
    "Audit",
    "AuditEntry",
    "Auth",
    "AuthError",
    "ConfigError",
    "Conflict",
    "CreatedApiKey",
    "Locked",
    "NotFound",
    "Page",
    "PermissionDenied",
    "Pet",
    "Pets",
    "Policy",
    "Principal",
    "Role",
    "Store",
    "TokenPair",
    "TraeError",
    "Unavailable",
    "User",
    "Users",
    "ValidationError",
    "__version__",
    "aio",
]
