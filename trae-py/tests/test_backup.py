"""trae.backup: create, verify and restore, with the database's in-use lock honoured."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest

import trae


def sqlite_url(path: Path) -> str:
    return f"sqlite://{path}"


def pet_names(url: str) -> list[str]:
    with trae.Store(url) as store:
        return sorted(p.name for p in store.pets.list())


def test_create_verify_restore_round_trip(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "source.db")
    with trae.Store(url) as store:
        store.pets.create(name="Rex", species="dog", age=3)
        store.pets.create(name="Tom", species="cat", age=5)
        taken = trae.backup.create(store, out=tmp_path / "backups" / "pets.db")
        # A row written after the backup is not in it.
        store.pets.create(name="Late", species="fish", age=1)
        audited = store.audit.list(action="backup.create")
        assert audited.total == 1
        assert audited.items[0].target == "backup:pets.db"
        assert audited.items[0].actor_kind == "system"

    assert taken.file_name == "pets.db"
    assert taken.path == tmp_path / "backups" / "pets.db"
    assert (taken.kind, taken.format) == ("manual", "sqlite")
    assert taken.size == taken.path.stat().st_size
    assert len(taken.sha256) == 64
    assert taken.created_at.tzinfo is not None
    assert taken.created_at <= datetime.datetime.now(datetime.timezone.utc)
    assert taken.schema_version.startswith("m")
    assert taken.trae_version == trae.__version__
    assert Path(f"{taken.path}.manifest.json").is_file()

    checked = trae.backup.verify(str(taken.path))
    assert (checked.sha256, checked.size) == (taken.sha256, taken.size)

    fresh = tmp_path / "restored.db"
    report = trae.backup.restore(taken.path, sqlite_url(fresh))
    assert report.database == fresh
    assert report.previous is None
    assert report.backup.sha256 == taken.sha256
    assert pet_names(sqlite_url(fresh)) == ["Rex", "Tom"]

    # Restoring over the source forgets the later row and keeps the previous file.
    report = trae.backup.restore(taken.path, url)
    assert report.previous is not None
    assert report.previous.name.startswith("source.db.before-restore-")
    assert pet_names(url) == ["Rex", "Tom"]
    assert pet_names(sqlite_url(report.previous)) == ["Late", "Rex", "Tom"]


def test_create_without_out_writes_to_the_backup_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRAE_BACKUP_DIR", str(tmp_path / "kept"))
    url = sqlite_url(tmp_path / "a.db")
    trae.Store(url).close()
    first = trae.backup.create(url)
    second = trae.backup.create(url)
    assert first.path.parent == tmp_path / "kept"
    assert first.file_name.startswith("trae-") and first.file_name.endswith(".db")
    assert not first.file_name.startswith("trae-scheduled-")
    assert second.file_name != first.file_name
    # The configured database when no target is given.
    monkeypatch.setenv("TRAE_DATABASE_URL", url)
    assert trae.backup.create().path.parent == tmp_path / "kept"


def test_a_postgres_store_is_dumped_with_pg_dump(
    database_url: str, backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A store reads TRAE_BACKUP_DIR when it opens, as `trae serve` does at start.
    monkeypatch.setenv("TRAE_BACKUP_DIR", str(tmp_path / "kept"))
    with trae.Store(database_url) as store:
        store.pets.create(name="Rex", species="dog", age=3)
        taken = trae.backup.create(store)
    assert taken.path.parent == tmp_path / "kept"
    assert taken.format == ("pg_dump" if backend == "postgres" else "sqlite")
    assert taken.file_name.endswith(".dump" if backend == "postgres" else ".db")
    assert trae.backup.verify(taken.path).sha256 == taken.sha256
    if backend == "postgres":
        # PostgreSQL dumps go back with pg_restore; the URL is refused before any use.
        with pytest.raises(trae.ConfigError, match="pg_restore"):
            trae.backup.restore(taken.path, "postgres://nobody@127.0.0.1:1/never_touched")


def test_a_damaged_backup_is_refused(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "a.db")
    with trae.Store(url) as store:
        store.pets.create(name="Rex", species="dog", age=3)
    taken = trae.backup.create(url, out=tmp_path / "a-backup.db")
    data = bytearray(taken.path.read_bytes())
    data[len(data) // 2] ^= 0x5A
    taken.path.write_bytes(bytes(data))

    with pytest.raises(trae.ValidationError, match="checksum mismatch") as caught:
        trae.backup.verify(taken.path)
    assert caught.value.field == "path"
    assert caught.value.code == "validation_failed"

    target = tmp_path / "target.db"
    with trae.Store(sqlite_url(target)) as other:
        other.pets.create(name="Keep", species="cat", age=2)
    with pytest.raises(trae.ValidationError, match="checksum mismatch"):
        trae.backup.restore(taken.path, sqlite_url(target))
    assert pet_names(sqlite_url(target)) == ["Keep"]
    assert not list(tmp_path.glob("target.db.before-restore-*"))

    Path(f"{taken.path}.manifest.json").unlink()
    with pytest.raises(trae.ValidationError, match="manifest"):
        trae.backup.verify(taken.path)


def test_an_in_memory_database_cannot_be_backed_up(tmp_path: Path) -> None:
    with pytest.raises(trae.ConfigError, match="in-memory"):
        trae.backup.create("sqlite::memory:", out=tmp_path / "m.db")
    with pytest.raises(trae.ValidationError, match="target"):
        trae.backup.create(42, out=tmp_path / "m.db")  # type: ignore[arg-type]
    assert not (tmp_path / "m.db").exists()


def test_restore_is_refused_while_a_store_holds_the_database(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "busy.db")
    with trae.Store(url) as store:
        store.pets.create(name="Rex", species="dog", age=3)
        taken = trae.backup.create(store, out=tmp_path / "busy-backup.db")
        with pytest.raises(trae.Conflict, match="in use"):
            trae.backup.restore(taken.path, url)
    # Closed: the lock is gone.
    assert trae.backup.restore(taken.path, url).previous is not None


_HOLDER = """
import sys, trae
store = trae.Store(sys.argv[1])
print("open", flush=True)
sys.stdin.readline()
store.close()
print("closed", flush=True)
sys.stdin.readline()
"""


def test_restore_is_refused_while_another_process_holds_the_database(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "shared.db")
    trae.Store(url).close()
    taken = trae.backup.create(url, out=tmp_path / "shared-backup.db")
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdin is not None and holder.stdout is not None
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(trae.Conflict, match="in use"):
            trae.backup.restore(taken.path, url)
        # Closing the store releases the lock, even while its process lives on.
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "closed"
        trae.backup.restore(taken.path, url)
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(timeout=30) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
