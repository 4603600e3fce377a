"""A message sent through the API reaches the workspace socket after commit, in the very shape
the API returned; a private note sent through the API never reaches the visitor."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from tests import factories
from tests.wsclient import auth_visitor, open_agent, receive_until, session_cookie

from .conftest import token_client

pytestmark = pytest.mark.django_db(transaction=True)


async def written(sock) -> dict:
    """The next message.created of something written, past system lines ("Bob joined")."""
    while True:
        frame, _ = await receive_until(sock, "message.created")
        if frame["message"]["kind"] != "event":
            return frame


def test_api_send_is_broadcast_in_the_api_shape(acme, bob, channel_layer_kind):
    visitor = factories.visitor(acme, name="王五")
    conversation = factories.visitor_message(visitor, "你好").conversation
    client = token_client(factories.api_token(acme, name="CRM"))
    cookie = session_cookie(bob.user)
    url = f"/api/v1/conversations/{conversation.pk}/messages/"
    post = sync_to_async(lambda data: client.post(url, data, format="json"))
    get = sync_to_async(lambda path: client.get(path).json())

    async def scenario():
        agent, connected, _ = await open_agent(acme.pk, cookie)
        assert connected
        await receive_until(agent, "session.ready")
        visitor_socket, _ = await auth_visitor(acme, visitor, last_seq=1)

        note = await post({"body": "内部：VIP 🌟", "private": True, "client_msg_id": "n-1"})
        reply = await post({"body": "您好 😀", "client_msg_id": "r-1"})
        assert (note.status_code, reply.status_code) == (201, 201)

        created = await written(agent)
        assert created["message"] == note.json()
        created = await written(agent)
        assert created["message"] == reply.json()
        updated, _ = await receive_until(agent, "conversation.updated")
        api_row = await get(f"/api/v1/conversations/{conversation.pk}/")
        # The event does not know the visitor's presence (null = keep what you had); the API
        # looks it up. Everything else is the same shape and values.
        assert updated["conversation"]["visitor"].pop("online") is None
        assert api_row["visitor"].pop("online") is True  # its socket is open in this test
        # Nor its labels (null: keep what you had); the API row loads them.
        assert updated["conversation"].pop("label_ids") is None
        assert api_row.pop("label_ids") == []
        assert updated["conversation"] == api_row

        # The visitor gets the reply and nothing else: not the note. (Routing may tell it its
        # conversation's state first: bob's socket coming online drained the queue; and the
        # merchant's availability, as bob's presence went out.)
        # (And the system line "Bob joined", which the same drain stored: live, or as
        # `history` when the socket fills the seqs before the reply.)
        frame, seen = await receive_until(visitor_socket, "message.created")
        while frame["message"]["kind"] == "event":
            assert frame["message"]["meta"]["system"] == "joined"
            frame, more = await receive_until(visitor_socket, "message.created")
            seen += more
        assert {f["type"] for f in seen[:-1]} <= {
            "conversation.state",
            "availability.changed",
            "message.created",
            "history",
        }
        assert frame["message"] == reply.json()
        assert await visitor_socket.receive_nothing(timeout=0.3)
        await visitor_socket.disconnect()
        await agent.disconnect()

    asyncio.run(asyncio.wait_for(scenario(), 30))
