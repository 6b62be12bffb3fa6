"""Backups of a trae database: create, verify and restore, as ``trae backup`` does.

::

    import trae

    taken = trae.backup.create("sqlite:///trae.db")          # or a trae.Store, or None
    trae.backup.verify(taken.path)                           # size, sha256, integrity_check
    trae.backup.restore(taken.path, "sqlite:///restored.db") # refused while the db is in use

A backup holds the database only, never the secrets master key (``TRAE_MASTER_KEY`` or the
data directory's key file): keep that separately. Errors are ``trae.TraeError`` subclasses:
a backup that fails its checks raises ``trae.ValidationError``, a database in use or a backup
already running ``trae.Conflict``, a missing pg_dump ``trae.Unavailable``.
"""

from ._native import Backup, RestoreReport
from ._native import backup_create as create
from ._native import backup_restore as restore
from ._native import backup_verify as verify

__all__ = ["Backup", "RestoreReport", "create", "restore", "verify"]
