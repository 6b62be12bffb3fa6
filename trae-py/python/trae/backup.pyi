"""Backups of a trae database: create, verify and restore, as `trae backup` does."""

import datetime
import os
from pathlib import Path
from typing import Literal, final

from . import Store
from . import aio

__all__ = ["Backup", "RestoreReport", "create", "restore", "verify"]

@final
class Backup:
    """A backup file and its manifest. Read-only."""

    @property
    def file_name(self) -> str:
        """The file name, e.g. `trae-20261126T030000Z.db`."""
    @property
    def path(self) -> Path:
        """The file's path."""
    @property
    def kind(self) -> Literal["manual", "scheduled"]:
        """`"manual"` or `"scheduled"` (scheduled ones are deleted by retention)."""
    @property
    def size(self) -> int:
        """The file's size in bytes."""
    @property
    def sha256(self) -> str:
        """The file's SHA-256, lowercase hex."""
    @property
    def created_at(self) -> datetime.datetime:
        """When it was taken (timezone-aware, UTC)."""
    @property
    def schema_version(self) -> str:
        """The newest migration applied to the database it holds."""
    @property
    def format(self) -> Literal["sqlite", "pg_dump"]:
        """`"sqlite"` (a database file) or `"pg_dump"` (a `pg_dump --format=custom` archive)."""
    @property
    def trae_version(self) -> str:
        """The version of trae that took it."""

@final
class RestoreReport:
    """What a restore did. Read-only."""

    @property
    def backup(self) -> Backup:
        """The backup that was restored."""
    @property
    def database(self) -> Path:
        """The database file that now holds the backup."""
    @property
    def previous(self) -> Path | None:
        """Where the previous database file was kept, if there was one."""

def create(
    target: str | Store | aio.Store | None = None,
    out: str | os.PathLike[str] | None = None,
) -> Backup:
    """Takes a backup of a trae database (a consistent online copy on SQLite, `pg_dump` on
    PostgreSQL) with its manifest `<file>.manifest.json` beside it, as the system.

    `target` is a database URL (opened and closed again like `trae.Store(url)`), a
    `trae.Store` or a `trae.aio.Store`; `None` takes the configured `TRAE_DATABASE_URL`. Every
    backup is recorded in that database's audit log as `backup.create`, and a user's store
    (`store.as_user(...)`) needs `backups:admin`. `out` is where to write it (it must not exist); `None` writes a new
    `trae-<timestamp>.db` (`.dump`) in `TRAE_BACKUP_DIR` (default `<data dir>/backups`).
    The secrets master key is never in a backup: keep it separately.

    Raises `Conflict` while another backup into the same directory runs or when `out`
    exists, `Unavailable` when pg_dump is missing, `ConfigError` for a database that cannot
    be backed up (in-memory).
    """

def verify(path: str | os.PathLike[str]) -> Backup:
    """Checks a backup against its manifest (size and SHA-256) and, for SQLite backups, runs
    SQLite's integrity check; returns the backup. Raises `ValidationError` (field `path`)
    when it fails."""

def restore(path: str | os.PathLike[str], url: str) -> RestoreReport:
    """Replaces the SQLite database at `url` with a verified backup; the previous file is
    kept beside it as `<db>.before-restore-<timestamp>`.

    Refused with `Conflict` while any process uses the database (a `trae.Store` here or in
    another process, `trae serve`, `trae worker`): close them first. A backup that fails
    verification, or holds a schema newer than this trae, raises `ValidationError`;
    PostgreSQL dumps are restored with `pg_restore` instead (`ConfigError`).
    """
