"""The embedded SQLite default under light concurrent use, as `make run` serves it: one daphne
process (every socket of it shares one database thread) and, beside it, the Celery worker whose
beat tasks read and then write in one transaction. Several visitors and an agent send and read
at once; nothing may be lost to `database is locked` (kefu/settings.py, the SQLite block)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from conversations.models import Conversation, Message, Visitor
from tests.realtime.clients import AgentClient, VisitorClient, bootstrap, wait_until
from tests.realtime.conftest import error_lines, run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

VISITORS = 4
MESSAGES = 6


class SweepingWorker(threading.Thread):
    """What the Celery worker's beat tasks do meanwhile (routing and pipeline sweeps): read the
    merchant's rows, then write, in one transaction. Under SQLite's default deferred BEGIN the
    read takes a shared lock that cannot become a write lock while daphne writes, and one side
    gets `database is locked` at once, busy timeout or not."""

    def __init__(self, merchant_id: int):
        super().__init__(daemon=True)
        self.merchant_id = merchant_id
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.rounds = 0

    def run(self):
        try:
            while not self.stop.is_set():
                try:
                    with transaction.atomic():
                        ids = list(
                            Visitor.objects.filter(merchant_id=self.merchant_id).values_list(
                                "pk", flat=True
                            )
                        )
                        time.sleep(0.005)
                        Visitor.objects.filter(pk__in=ids).update(last_seen_at=timezone.now())
                    self.rounds += 1
                except Exception as exc:  # recorded, asserted by the test
                    self.errors.append(repr(exc))
                time.sleep(0.002)
        finally:
            close_old_connections()
            connection.close()


def test_sqlite_survives_concurrent_sockets_and_a_sweeping_worker(servers, shop):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only: this is the embedded default's proof")
    server = servers.start()  # no REDIS_URL: the in-process layer, as `make run` without Redis
    merchant = shop["merchant"]
    visitors = [
        VisitorClient([server.ws_url], bootstrap(server.url, shop["key"]), name=f"v{i}")
        for i in range(VISITORS)
    ]
    agent = AgentClient([server.ws_url], merchant.pk, shop["cookie"], name="bob")
    worker = SweepingWorker(merchant.pk)

    async def visitor_talks(visitor: VisitorClient) -> None:
        for n in range(MESSAGES):
            await visitor.send(f"{visitor.name} 第{n}条")
            await visitor.send_frame({"type": "conversation.read", "seq": visitor.last_seq()})
            await asyncio.sleep(0.01)

    async def agent_answers() -> None:
        """Replies to and reads every conversation as its messages come in."""
        answered: dict[int, int] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for conversation, seqs in list(agent.shown.items()):
                top = max(seqs)
                if answered.get(conversation, 0) < top:
                    answered[conversation] = top
                    await agent.send_frame(
                        {"type": "conversation.read", "conversation_id": conversation, "seq": top}
                    )
                    await agent.send("收到", conversation_id=conversation)
            if len(answered) == VISITORS and all(
                sum(1 for m in agent.shown[c].values() if m["sender_kind"] == "visitor") == MESSAGES
                for c in answered
            ):
                return
            await asyncio.sleep(0.01)

    async def scenario():
        await agent.connect()
        await asyncio.gather(*(v.connect() for v in visitors))
        worker.start()
        await asyncio.gather(agent_answers(), *(visitor_talks(v) for v in visitors))
        # Every message sent is stored and acknowledged: nothing waits in an outbox.
        for client in (agent, *visitors):
            await wait_until(lambda c=client: not c.outbox, 30, f"{client.name}'s outbox")
        for client in (agent, *visitors):
            await client.close()

    try:
        run(scenario(), timeout=150)
    finally:
        worker.stop.set()
        worker.join(10)

    log_errors = error_lines(server)
    refused = [e for c in (agent, *visitors) for e in c.errors]
    assert not worker.errors, worker.errors[:3]
    assert worker.rounds > 10  # it really ran beside the sockets
    assert not refused, refused[:3]
    assert not log_errors, log_errors[:10]
    assert Message.objects.filter(merchant=merchant, sender_kind="visitor").count() == (
        VISITORS * MESSAGES
    )
    assert Conversation.objects.filter(merchant=merchant).count() == VISITORS
