"""trae for asyncio: the API of ``trae`` with awaitable calls.

::

    import trae.aio

    async with trae.aio.Store.open("sqlite:///pets.db") as store:
        rex = await store.pets.create(name="Rex", species="dog", age=3)
        page = await store.pets.list()

``store = await trae.aio.Store.open(url)`` opens a store to close with ``await store.close()``
(or ``async with store:``). Work runs on trae's own threads; the event loop is never blocked.
Results are the ``trae.Pet`` and ``trae.Page`` of the blocking API, errors the same
``trae.TraeError`` subclasses.
"""

from ._native import AsyncPets as Pets
from ._native import AsyncStore as Store
from ._native import StoreOpener

__all__ = ["Pets", "Store", "StoreOpener"]
