"""Two daphne processes on one Redis: messages, typing, reads and presence cross between them,
and a revoked agent is closed on every process (docs/realtime.md)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from conversations.models import Message
from tests.realtime.clients import (
    AgentClient,
    VisitorClient,
    bootstrap,
    round_trip,
)
from tests.realtime.conftest import KEY_PREFIX, error_lines, run
from tests.wsclient import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.cost(20)
def test_two_processes_carry_messages_typing_reads_and_presence(servers, shop, redis_server, alice):
    a = servers.start(redis_server.url)
    b = servers.start(redis_server.url)
    merchant_id = shop["merchant"].pk
    boot = bootstrap(a.url, shop["key"])
    visitor = VisitorClient([a.ws_url], boot, name="v")  # on A
    bob = AgentClient([b.ws_url], merchant_id, shop["cookie"], name="bob")  # on B
    alice_agent = AgentClient(
        [a.ws_url], merchant_id, session_cookie(alice.user).decode(), name="alice"
    )  # on A
    bob_id, alice_id = shop["bob"].user_id, alice.user_id

    async def scenario():
        await bob.connect()
        n = len(bob.frames)
        await alice_agent.connect()
        await bob.next_frame("presence.changed", n, agent__user_id=alice_id, agent__status="online")
        n = len(bob.frames)
        await visitor.connect()
        await bob.next_frame(
            "visitor.updated", n, visitor__id=boot["visitor_id"], visitor__online=True
        )

        # Messages, both ways (A -> B and B -> A).
        first = await visitor.send("你好")
        created = await bob.next_frame("message.created", 0, message__client_msg_id=first)
        conversation = created["message"]["conversation_id"]
        await bob.open_conversation(conversation)
        await round_trip(visitor, bob, conversation)

        # Collision view and manual presence, B -> A and A -> B (before typing: typing in a
        # conversation also marks it as viewed).
        n_alice = len(alice_agent.frames)
        await bob.send_frame({"type": "conversation.view", "conversation_id": conversation})
        viewers = await alice_agent.next_frame(
            "viewers.changed", n_alice, conversation_id=conversation
        )
        assert [v["user_id"] for v in viewers["viewers"]] == [bob_id]
        n_bob = len(bob.frames)
        await alice_agent.send_frame({"type": "presence.set", "status": "away"})
        await bob.next_frame(
            "presence.changed", n_bob, agent__user_id=alice_id, agent__status="away"
        )

        # Typing: the visitor's draft reaches the agents; an agent's typing reaches the visitor
        # without name or text, and the other agent with both.
        n_bob, n_visitor, n_alice = len(bob.frames), len(visitor.frames), len(alice_agent.frames)
        await visitor.send_frame({"type": "typing", "text": "我想问一下"})
        typing = await bob.next_frame("typing", n_bob, sender_kind="visitor")
        assert (typing["conversation_id"], typing["text"], typing["active"]) == (
            conversation,
            "我想问一下",
            True,
        )
        await bob.send_frame({"type": "typing", "conversation_id": conversation, "active": True})
        typing = await visitor.next_frame("typing", n_visitor, sender_kind="agent")
        assert (typing["active"], typing["user_id"], typing["name"], typing["text"]) == (
            True,
            None,
            "",
            None,
        )
        typing = await alice_agent.next_frame("typing", n_alice, sender_kind="agent")
        assert (typing["user_id"], typing["name"]) == (bob_id, "Bob")

        # Read state: the agent read up to 3 (the visitor sees a tick, no user id); the visitor
        # read the reply.
        n_visitor, n_alice, n_bob = len(visitor.frames), len(alice_agent.frames), len(bob.frames)
        await bob.send_frame(
            {"type": "conversation.read", "conversation_id": conversation, "seq": 3}
        )
        read = await visitor.next_frame("conversation.read", n_visitor, reader="agent")
        assert (read["seq"], read["user_id"]) == (3, None)
        read = await alice_agent.next_frame("conversation.read", n_alice, reader="agent")
        assert (read["seq"], read["user_id"]) == (3, bob_id)
        await visitor.send_frame({"type": "conversation.read", "seq": 3})
        read = await bob.next_frame("conversation.read", n_bob, reader="visitor")
        assert read["seq"] == 3

        # Leaving: the visitor goes offline, alice offline.
        n_bob = len(bob.frames)
        await visitor.close()
        await bob.next_frame(
            "visitor.updated", n_bob, visitor__id=boot["visitor_id"], visitor__online=False
        )
        await alice_agent.close()
        await bob.next_frame(
            "presence.changed", n_bob, agent__user_id=alice_id, agent__status="offline"
        )
        await bob.close()

    run(scenario())
    assert Message.objects.exclude(kind="event").count() == 3  # ("Bob joined" lines aside)
    assert error_lines(a) == [] and error_lines(b) == []


def test_revoked_agent_is_closed_on_every_process(servers, shop, redis_server, settings):
    """Issue 16, finding 2: bob has a tab on each of two daphne processes; deactivating his
    membership here (a third process, as the back office would) closes both with 4403."""
    from channels.layers import channel_layers

    from merchants import services as merchant_services

    a, b = servers.start(redis_server.url), servers.start(redis_server.url)
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": redis_server.url}], "prefix": KEY_PREFIX},
        }
    }
    channel_layers.backends.clear()
    merchant_id, bob = shop["merchant"].pk, shop["bob"]

    async def tab(server):
        ws = await websockets.connect(
            f"{server.ws_url}/ws/agent/{merchant_id}/",
            origin=server.url,
            additional_headers={"Cookie": shop["cookie"]},
        )
        while json.loads(await ws.recv())["type"] != "session.ready":
            pass
        return ws

    async def close_code(ws) -> int | None:
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None

    def deactivate():
        bob.is_active = False
        merchant_services.membership_update(membership=bob)

    async def scenario():
        tabs = [await tab(a), await tab(b)]
        started = time.monotonic()
        await asyncio.to_thread(deactivate)
        codes = [await close_code(ws) for ws in tabs]
        return codes, time.monotonic() - started

    try:
        codes, elapsed = run(scenario())
    finally:
        channel_layers.backends.clear()
    assert codes == [4403, 4403]
    assert elapsed < 5
    assert not error_lines(a) and not error_lines(b)
