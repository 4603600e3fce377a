"""500 sockets of one daphne process dropped at once leave nothing behind (presence, groups,
Redis subscriptions), against a real daphne and real Redis. Run with `-s` for the measured
numbers (docs/realtime.md)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time

import pytest
import websockets

from conversations.models import Visitor
from conversations.tokens import visitor_token_issue
from tests.realtime.checks import settle_and_check
from tests.realtime.clients import (
    SITE_ORIGIN,
    AgentClient,
    VisitorClient,
    bootstrap,
    round_trip,
    wait_until,
)
from tests.realtime.conftest import KEY_PREFIX, error_lines, run

pytestmark = pytest.mark.django_db(transaction=True)

# docs/realtime.md pitfall 7: daphne logs this when it writes to a socket that just went away.
CLOSED_PROTOCOL = "Attempt to send on a closed protocol"

SOCKETS = 500


@pytest.mark.cost(45)
def test_500_sockets_dropped_at_once_leave_nothing_behind(servers, shop, redis_server):
    server = servers.start(redis_server.url)
    merchant = shop["merchant"]
    anonymous = [secrets.token_urlsafe(18) for _ in range(SOCKETS)]
    Visitor.objects.bulk_create([Visitor(merchant=merchant, anonymous_id=a) for a in anonymous])
    ids = list(Visitor.objects.filter(anonymous_id__in=anonymous).values_list("pk", flat=True))
    tokens = [visitor_token_issue(merchant_id=merchant.pk, visitor_id=i) for i in ids]
    agent = AgentClient([server.ws_url], merchant.pk, shop["cookie"], name="a")
    path = f"/ws/visitor/?key={shop['key']}"
    r = redis_server.client()
    presence = f"{KEY_PREFIX}:pres:m{merchant.pk}:v*"
    groups = [f"{KEY_PREFIX}__group__v{i}" for i in ids]

    def online(flag: bool) -> set[int]:
        return {
            f["visitor"]["id"]
            for f in agent.of_type("visitor.updated")
            if f["visitor"]["online"] is flag
        }

    async def open_socket(token: str, gate: asyncio.Semaphore):
        async with gate:  # like browsers arriving over a second, not one SYN flood
            ws = await websockets.connect(
                server.ws_url + path, origin=SITE_ORIGIN, ping_interval=None, open_timeout=30
            )
            await ws.send(json.dumps({"type": "auth", "token": token}))
            while json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] != "session.ready":
                pass
            return ws

    async def scenario():
        await agent.connect()
        start = time.monotonic()
        gate = asyncio.Semaphore(50)
        sockets = await asyncio.gather(*(open_socket(t, gate) for t in tokens))
        opened = time.monotonic() - start
        await wait_until(lambda: online(True) >= set(ids), 20, "500 visitors online")
        assert len(r.keys(presence)) == SOCKETS
        assert all(n == 1 for _, n in r.pubsub_numsub(*groups))

        start = time.monotonic()
        for ws in sockets:
            ws.transport.abort()  # all at once, no close frames
        await wait_until(lambda: online(False) >= set(ids), 30, "500 visitors offline")
        dropped = time.monotonic() - start
        # No presence entry and no group subscription is left for any of them.
        await wait_until(lambda: not r.keys(presence), 10, "presence entries to go")
        assert all(n == 0 for _, n in r.pubsub_numsub(*groups))

        # The server still delivers: a new visitor and the agent chat.
        boot = bootstrap(server.url, shop["key"])
        visitor = VisitorClient([server.ws_url], boot, name="v")
        await visitor.connect()
        first = await visitor.send("刚才好多人")
        await wait_until(lambda: first in visitor.acks, 10, "the new visitor's ack")
        conversation = visitor.acks[first]["conversation_id"]
        await agent.open_conversation(conversation)
        await round_trip(visitor, agent, conversation)
        await settle_and_check(conversation, [visitor], [agent])
        return opened, dropped

    opened, dropped = run(scenario())
    harmless = [line for line in server.log().splitlines() if CLOSED_PROTOCOL in line]
    assert error_lines(server, allowed=(CLOSED_PROTOCOL,)) == []
    assert agent.connects == 1 and not agent.close_codes
    print(
        f"\n{SOCKETS} sockets: opened and authenticated in {opened:.1f} s; after dropping "
        f"them at once the agent saw all {SOCKETS} offline within {dropped:.2f} s; "
        f"'{CLOSED_PROTOCOL}' lines: {len(harmless)}"
    )
