"""trae for asyncio: the API of ``trae`` with awaitable calls.

::

    import trae.aio

    async with trae.aio.Store.open("sqlite:///trae.db") as store:
        rex = await store.pets.create(name="Rex", species="dog", age=3)
        tokens = await store.auth.login("alice", "correct horse battery")
        alice = await store.auth.authenticate(tokens.access_token)
        me = await store.users.me(alice)
        task = await store.tasks.enqueue("email.send", {"to": "bob@example.com"})
        news = await store.channels.create(name="News", platform="youtube")
        run = await store.tdd.run("/srv/projects/app", "pytest -q")   # a trae.TddRun
        interview = await store.solo.start("cli", "A log grepper")   # a trae.SoloInterview
        reply = await store.llm.chat("Say hello.")          # a trae.ChatResponse
        async for piece in await store.llm.stream("More."):  # {"content": "…"}, as written
            print(piece.get("content", ""), end="")

        worker = trae.aio.Worker(store)   # trae.Worker, under this name too

        @worker.handler("email.send")
        async def send(payload, ctx):     # a trae.aio.TaskContext
            await ctx.report_progress({"step": "sending"})
            return {"sent": True}

        await worker.run_async()          # until worker.stop() or the task is cancelled

``store = await trae.aio.Store.open(url)`` opens a store to close with ``await store.close()``
(or ``async with store:``). Work runs on trae's own threads; the event loop is never blocked.
Results are the values of the blocking API (``trae.Pet``, ``trae.User``, ``trae.Page``, …),
errors the same ``trae.TraeError`` subclasses.
"""

from ._native import AsyncApiKeys as ApiKeys
from ._native import AsyncApis as Apis
from ._native import AsyncAudit as Audit
from ._native import AsyncAuth as Auth
from ._native import AsyncChatStream as ChatStream
from ._native import AsyncChannels as Channels
from ._native import AsyncContradictions as Contradictions
from ._native import AsyncEvents as Events
from ._native import AsyncEventSubscription as EventSubscription
from ._native import AsyncEvidence as Evidence
from ._native import AsyncHealth as Health
from ._native import AsyncLlm as Llm
from ._native import AsyncMetrics as Metrics
from ._native import AsyncOrchestrator as Orchestrator
from ._native import AsyncPersonas as Personas
from ._native import AsyncPets as Pets
from ._native import AsyncPolicy as Policy
from ._native import AsyncSecrets as Secrets
from ._native import AsyncSolo as Solo
from ._native import AsyncStore as Store
from ._native import AsyncTaskContext as TaskContext
from ._native import AsyncTasks as Tasks
from ._native import AsyncTdd as Tdd
from ._native import AsyncUsers as Users
from ._native import Worker
from ._native import StoreOpener

__all__ = [
    "ApiKeys",
    "Apis",
    "Audit",
    "Auth",
    "Channels",
    "ChatStream",
    "Contradictions",
    "Events",
    "EventSubscription",
    "Evidence",
    "Health",
    "Llm",
    "Metrics",
    "Orchestrator",
    "Personas",
    "Pets",
    "Policy",
    "Secrets",
    "Solo",
    "Store",
    "StoreOpener",
    "TaskContext",
    "Tasks",
    "Tdd",
    "Users",
    "Worker",
]
