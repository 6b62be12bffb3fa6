"""A tour of the trae Python API on a throwaway SQLite file.

Build the module first (see trae-py), then run: python examples/pets.py
"""

import tempfile
from pathlib import Path

import trae


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{Path(tmp) / 'pets.db'}"
        with trae.Store(url) as store:
            print(f"trae {trae.__version__} on {store.backend}")

            rex = store.pets.create(name="Rex", species="dog", age=3, tags=["good", "loud"])
            store.pets.create(name="Tom", species="cat", age=5)
            print("created", rex)

            page = store.pets.list(species="dog")
            print(f"{page.total} dog(s):", [pet.name for pet in page])

            rex = store.pets.update(rex.id, age=4, tags=["good"])
            print("updated", rex.name, "is now", rex.age, "with tags", rex.tags)

            store.pets.delete(rex.id)
            print("deleted; left:", [pet.name for pet in store.pets.list()])

            try:
                store.pets.create(name="   ", species="dog", age=2)
            except trae.ValidationError as error:
                print(f"rejected ({error.code}, field {error.field!r}): {error}")

            try:
                store.pets.get(rex.id)
            except trae.NotFound as error:
                print("gone:", error)


if __name__ == "__main__":
    main()
