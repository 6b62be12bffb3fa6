"""The blocking API, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import re
import threading
import time
import uuid

import pytest

import trae
from conftest import hold_write_lock

UTC = dt.timezone.utc


def make(pets: trae.Pets, name: str = "Rex", species: str = "dog", age: int = 3, **kw) -> trae.Pet:
    return pets.create(name=name, species=species, age=age, **kw)


# --- create and get ------------------------------------------------------------------------


def test_create_returns_the_stored_pet(pets: trae.Pets) -> None:
    before = dt.datetime.now(UTC)
    pet = pets.create(name="  Rex ", species="dog", age=3, tags=[" good", "loud"])
    after = dt.datetime.now(UTC)

    assert isinstance(pet, trae.Pet)
    assert isinstance(pet.id, uuid.UUID)
    assert pet.id.version == 7
    assert pet.name == "Rex"
    assert pet.species == "dog"
    assert pet.age == 3
    assert pet.tags == ["good", "loud"]
    assert pet.created_at == pet.updated_at
    assert before - dt.timedelta(seconds=1) <= pet.created_at <= after + dt.timedelta(seconds=1)


def test_create_without_tags_gives_an_empty_list(pets: trae.Pets) -> None:
    assert make(pets).tags == []


def test_timestamps_are_aware_utc_datetimes(pets: trae.Pets) -> None:
    pet = pets.get(make(pets).id)
    for stamp in (pet.created_at, pet.updated_at):
        assert isinstance(stamp, dt.datetime)
        assert stamp.tzinfo is not None
        assert stamp.utcoffset() == dt.timedelta(0)


def test_get_returns_what_create_returned(pets: trae.Pets) -> None:
    pet = make(pets, tags=["a", "b"])
    assert pets.get(pet.id) == pet


def test_get_accepts_the_id_as_a_string(pets: trae.Pets) -> None:
    pet = make(pets)
    assert pets.get(str(pet.id)) == pet
    assert pets.get(str(pet.id).upper()) == pet
    assert pets.get(pet.id.hex) == pet


def test_get_unknown_id_raises_not_found(pets: trae.Pets) -> None:
    missing = uuid.uuid4()
    with pytest.raises(trae.NotFound) as info:
        pets.get(missing)
    assert info.value.code == "not_found"
    assert str(missing) in str(info.value)
    assert isinstance(info.value, trae.TraeError)


@pytest.mark.parametrize("bad", ["", "not-a-uuid", "1234", "0190-zzzz"])
def test_malformed_id_string_raises_validation_error(pets: trae.Pets, bad: str) -> None:
    for call in (pets.get, pets.delete, lambda i: pets.update(i, age=1)):
        with pytest.raises(trae.ValidationError) as info:
            call(bad)
        assert not isinstance(info.value, ValueError)
        assert info.value.field == "id"
        assert info.value.code == "validation_failed"
        assert str(info.value).startswith("id:")


def test_id_of_the_wrong_type_raises_type_error(pets: trae.Pets) -> None:
    with pytest.raises(TypeError, match="uuid.UUID or a str"):
        pets.get(12345)  # type: ignore[arg-type]


# --- validation ----------------------------------------------------------------------------

INVALID_CREATE = [
    pytest.param({"name": ""}, "name", id="empty-name"),
    pytest.param({"name": "   "}, "name", id="blank-name"),
    pytest.param({"name": "x" * 101}, "name", id="long-name"),
    pytest.param({"name": "Rex\x00"}, "name", id="control-char-name"),
    pytest.param({"species": "Dog"}, "species", id="capitalised-species"),
    pytest.param({"species": "lizard"}, "species", id="unknown-species"),
    pytest.param({"age": -1}, "age", id="negative-age"),
    pytest.param({"age": 101}, "age", id="old-age"),
    pytest.param({"age": 2**40}, "age", id="huge-age"),
    pytest.param({"age": -(2**70)}, "age", id="enormous-age"),
    pytest.param({"tags": [f"t{i}" for i in range(11)]}, "tags", id="eleven-tags"),
    pytest.param({"tags": [""]}, "tags[0]", id="empty-tag"),
    pytest.param({"tags": ["ok", "x" * 33]}, "tags[1]", id="long-tag"),
    pytest.param({"tags": ["a", " a "]}, "tags[1]", id="duplicate-tag"),
    pytest.param({"tags": ["a\nb"]}, "tags[0]", id="control-char-tag"),
]


@pytest.mark.parametrize(("override", "field"), INVALID_CREATE)
def test_create_rejects_each_broken_rule(pets: trae.Pets, override: dict, field: str) -> None:
    args = {"name": "Rex", "species": "dog", "age": 3, **override}
    with pytest.raises(trae.ValidationError) as info:
        pets.create(**args)
    assert info.value.field == field
    assert info.value.code == "validation_failed"
    assert str(info.value).startswith(f"{field}: ")
    assert pets.list().total == 0, "nothing was written"


@pytest.mark.parametrize(("override", "field"), INVALID_CREATE)
def test_update_rejects_each_broken_rule(pets: trae.Pets, override: dict, field: str) -> None:
    pet = make(pets)
    with pytest.raises(trae.ValidationError) as info:
        pets.update(pet.id, **override)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert pets.get(pet.id) == pet, "nothing was changed"


def test_limits_of_the_rules_are_accepted(pets: trae.Pets) -> None:
    pets.create(name="x" * 100, species="other", age=0)
    pets.create(name="é" * 100, species="fish", age=100, tags=["t" * 32] + [f"t{i}" for i in range(9)])
    assert pets.list().total == 2


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda p: p.create(name=1, species="dog", age=1), id="int-name"),
        pytest.param(lambda p: p.create(name="a", species="dog", age="1"), id="str-age"),
        pytest.param(lambda p: p.create(name="a", species="dog", age=1.5), id="float-age"),
        pytest.param(lambda p: p.create(name="a", species="dog", age=1, tags="ab"), id="str-tags"),
        pytest.param(lambda p: p.create(name="a", species="dog"), id="missing-age"),
        pytest.param(lambda p: p.create("a", "dog", 1), id="positional"),
        pytest.param(lambda p: p.list(limit="5"), id="str-limit"),
    ],
)
def test_arguments_of_the_wrong_type_raise_type_error(pets: trae.Pets, call) -> None:
    with pytest.raises(TypeError):
        call(pets)


# --- list ----------------------------------------------------------------------------------


def test_list_of_an_empty_store(pets: trae.Pets) -> None:
    page = pets.list()
    assert isinstance(page, trae.Page)
    assert (page.items, page.total, page.limit, page.offset) == ([], 0, 50, 0)
    assert len(page) == 0


def test_list_is_oldest_first_and_stable(pets: trae.Pets) -> None:
    created = [make(pets, name=f"pet{i}") for i in range(7)]
    assert pets.list().items == created
    assert pets.list().items == created
    assert [p.id for p in created] == sorted(p.id for p in created)


def test_list_filters_by_species_and_tag(pets: trae.Pets) -> None:
    rex = make(pets, name="Rex", species="dog", tags=["good", "loud"])
    tom = make(pets, name="Tom", species="cat", tags=["good"])
    fido = make(pets, name="Fido", species="dog")

    assert pets.list(species="dog").items == [rex, fido]
    assert pets.list(species="cat").items == [tom]
    assert pets.list(species="bird").items == []
    assert pets.list(tag="good").items == [rex, tom]
    assert pets.list(tag="loud").items == [rex]
    assert pets.list(species="dog", tag="good").items == [rex]
    assert pets.list(species="dog", tag="good").total == 1
    assert pets.list(tag="nobody").total == 0


def test_list_pages_with_limit_and_offset(pets: trae.Pets) -> None:
    created = [make(pets, name=f"pet{i}", species="dog" if i % 2 else "cat") for i in range(5)]

    pages = [pets.list(limit=2, offset=offset) for offset in (0, 2, 4)]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [page.total for page in pages] == [5, 5, 5]
    assert [(page.limit, page.offset) for page in pages] == [(2, 0), (2, 2), (2, 4)]
    assert [pet for page in pages for pet in page] == created

    beyond = pets.list(limit=2, offset=10)
    assert (beyond.items, beyond.total) == ([], 5)

    dogs = pets.list(species="dog", limit=1, offset=1)
    assert dogs.items == [created[3]]
    assert dogs.total == 2

    assert len(pets.list(limit=500)) == 5
    assert pets.list(limit=None, offset=None).limit == 50  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": 2**80}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": -(2**80)}, "offset"),
        ({"species": "dragon"}, "species"),
        ({"tag": ""}, "tag"),
        ({"tag": "x" * 33}, "tag"),
    ],
)
def test_list_rejects_bad_arguments(pets: trae.Pets, kwargs: dict, field: str) -> None:
    with pytest.raises(trae.ValidationError) as info:
        pets.list(**kwargs)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


# --- update and delete ---------------------------------------------------------------------


def test_update_changes_only_the_given_fields(pets: trae.Pets) -> None:
    pet = make(pets, tags=["good"])
    older = pets.update(pet.id, age=4)
    assert (older.name, older.species, older.age, older.tags) == ("Rex", "dog", 4, ["good"])
    assert older.id == pet.id
    assert older.created_at == pet.created_at
    assert older.updated_at >= pet.updated_at
    assert pets.get(pet.id) == older


def test_update_every_field(pets: trae.Pets) -> None:
    pet = make(pets, tags=["good"])
    changed = pets.update(str(pet.id), name=" Max ", species="cat", age=9, tags=["calm", "old"])
    assert (changed.name, changed.species, changed.age, changed.tags) == ("Max", "cat", 9, ["calm", "old"])
    assert pets.get(pet.id) == changed


def test_update_with_empty_tags_removes_them(pets: trae.Pets) -> None:
    pet = make(pets, tags=["good"])
    assert pets.update(pet.id, tags=[]).tags == []
    assert pets.get(pet.id).tags == []


def test_update_with_nothing_returns_the_pet_unchanged(pets: trae.Pets) -> None:
    pet = make(pets)
    assert pets.update(pet.id) == pet


def test_update_unknown_pet_raises_not_found(pets: trae.Pets) -> None:
    with pytest.raises(trae.NotFound):
        pets.update(uuid.uuid4(), age=1)


def test_delete_removes_the_pet(pets: trae.Pets) -> None:
    keep = make(pets, name="Keep")
    gone = make(pets, name="Gone")
    assert pets.delete(gone.id) is None  # type: ignore[func-returns-value]
    with pytest.raises(trae.NotFound):
        pets.get(gone.id)
    assert pets.list().items == [keep]
    with pytest.raises(trae.NotFound) as info:
        pets.delete(str(gone.id))
    assert info.value.code == "not_found"


# --- Pet and Page ----------------------------------------------------------------------------


def test_pet_is_read_only(pets: trae.Pets) -> None:
    pet = make(pets)
    for attr in ("id", "name", "species", "age", "tags", "created_at", "updated_at"):
        with pytest.raises(AttributeError):
            setattr(pet, attr, None)
    pet.tags.append("sneaky")
    assert pet.tags == []


def test_pet_equality_hash_repr_and_dict(pets: trae.Pets) -> None:
    rex = make(pets, tags=["good"])
    tom = make(pets, name="Tom", species="cat")
    assert rex == pets.get(rex.id)
    assert rex != tom
    assert rex != "Rex"
    assert len({rex, pets.get(rex.id), tom}) == 2
    assert repr(rex) == f"Pet(id=UUID('{rex.id}'), name='Rex', species='dog', age=3, tags=['good'])"
    assert rex.to_dict() == {
        "id": rex.id,
        "name": "Rex",
        "species": "dog",
        "age": 3,
        "tags": ["good"],
        "created_at": rex.created_at,
        "updated_at": rex.updated_at,
    }
    changed = pets.update(rex.id, age=4)
    assert changed != rex


def test_page_is_a_sized_iterable_of_pets(pets: trae.Pets) -> None:
    created = [make(pets, name=f"pet{i}") for i in range(3)]
    page = pets.list(limit=2)
    assert len(page) == 2
    assert list(page) == created[:2]
    assert page[0] == created[0]
    assert page[-1] == created[1]
    assert page[:1] == created[:1]
    with pytest.raises(IndexError):
        page[2]
    assert page.items is not page.items, "each access gives a new list"
    page.items.clear()
    assert len(page.items) == 2
    assert repr(page).startswith("Page(items=[Pet(")
    assert repr(page).endswith("total=3, limit=2, offset=0)")


# --- the store -----------------------------------------------------------------------------


def test_store_reports_its_backend(store: trae.Store, backend: str) -> None:
    assert store.backend == backend
    assert store.pets is store.pets
    assert isinstance(store.pets, trae.Pets)
    assert repr(store) == f"<trae.Store backend='{backend}'>"


def test_context_manager_closes_the_store(database_url: str) -> None:
    with trae.Store(database_url) as store:
        assert not store.closed
        pet = make(store.pets)
    assert store.closed
    assert "closed" in repr(store)
    with pytest.raises(trae.Unavailable) as info:
        store.pets.get(pet.id)
    assert info.value.code == "unavailable"
    store.close()  # closing again is harmless


def test_context_manager_closes_on_error_and_does_not_swallow_it(database_url: str) -> None:
    with pytest.raises(KeyError):
        with trae.Store(database_url) as store:
            raise KeyError("boom")
    assert store.closed


def test_data_survives_reopening(database_url: str) -> None:
    with trae.Store(database_url) as store:
        pet = make(store.pets)
    with trae.Store(database_url) as store:
        assert store.pets.get(pet.id) == pet


def test_threads_share_a_store(pets: trae.Pets) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(5):
                make(pets, name=f"t{n}-{i}")
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert pets.list().total == 20


def test_calls_release_the_gil(database_url: str, store: trae.Store) -> None:
    # A create that waits for a lock held outside trae must leave this thread free to run.
    result: list[object] = []
    with hold_write_lock(database_url):
        worker = threading.Thread(target=lambda: result.append(make(store.pets)))
        worker.start()
        time.sleep(0.2)
        started = time.monotonic()
        sum(range(200_000))  # needs the GIL
        assert time.monotonic() - started < 1.0
        assert worker.is_alive(), "the create should still be waiting for the lock"
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert isinstance(result[0], trae.Pet)


# --- errors and module -----------------------------------------------------------------------


def test_bad_url_raises_config_error(tmp_path) -> None:
    with pytest.raises(trae.ConfigError) as info:
        trae.Store(f"mysql://{tmp_path}/x")
    assert info.value.code == "invalid_configuration"
    assert "sqlite" in str(info.value)


def test_unreachable_database_raises_unavailable() -> None:
    with pytest.raises(trae.Unavailable) as info:
        trae.Store("postgres://postgres@127.0.0.1:1/nothing")
    assert info.value.code == "unavailable"


def test_exception_hierarchy_and_codes() -> None:
    expected = {
        trae.TraeError: "internal",
        trae.NotFound: "not_found",
        trae.ValidationError: "validation_failed",
        trae.Conflict: "conflict",
        trae.ConfigError: "invalid_configuration",
        trae.Unavailable: "unavailable",
    }
    for cls, code in expected.items():
        assert issubclass(cls, trae.TraeError)
        assert issubclass(cls, Exception)
        assert cls.__module__ == "trae"
        assert cls.code == code
        assert cls.__doc__
    raised_by_hand = trae.NotFound("pet 1 not found")
    assert raised_by_hand.code == "not_found"


def test_version_is_the_crate_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", trae.__version__)
    assert trae.__version__ == importlib.metadata.version("trae")


def test_public_items_are_documented() -> None:
    import trae.aio

    for module in (trae, trae.aio):
        assert module.__doc__
        for name in module.__all__:
            item = getattr(module, name)
            if isinstance(item, type):
                assert item.__doc__, name
                for attr, value in vars(item).items():
                    if not attr.startswith("_"):
                        assert getattr(value, "__doc__", None), f"{name}.{attr}"
