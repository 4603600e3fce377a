"""Consumers through the real ASGI application (origin checks, session auth), with the
in-process layer and the Redis pub/sub layer the product uses with REDIS_URL."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.core import signing

from conversations import services
from conversations.models import Conversation, Message
from conversations.tokens import SALT, visitor_token_issue
from tests import factories
from tests.wsclient import (
    auth_visitor,
    open_agent,
    open_visitor,
    receive_until,
    session_cookie,
)

pytestmark = pytest.mark.django_db(transaction=True)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def nothing_more(comm, timeout=0.3):
    return await comm.receive_nothing(timeout=timeout)


async def ping_pong(comm):
    """The socket is still open and answering."""
    await comm.send_json_to({"type": "ping"})
    frame, _ = await receive_until(comm, "pong")
    assert frame == {"type": "pong"}


count = sync_to_async(lambda: Message.objects.count())


def test_chat_round_trip_with_ack_delivery_and_private_note(acme, bob, channel_layer_kind):
    visitor = factories.visitor(acme, name="张三")
    cookie = session_cookie(bob.user)

    async def scenario():
        agent, connected, _ = await open_agent(acme.pk, cookie)
        assert connected
        ready = await agent.receive_json_from(timeout=5)
        assert ready["type"] == "session.ready" and ready["role"] == "agent"
        assert ready["display_name"] == "Bob" and ready["protocol"] == 1
        comm, ready = await auth_visitor(acme, visitor)
        assert ready["conversation"] is None and ready["visitor_id"] == visitor.pk

        await comm.send_json_to({"type": "message.send", "client_msg_id": "c1", "body": "你好 👋"})
        ack, _ = await receive_until(comm, "message.ack")
        assert ack["duplicate"] is False
        assert ack["message"]["seq"] == 1 and ack["message"]["body"] == "你好 👋"
        created, _ = await receive_until(agent, "message.created")
        assert created["message"]["id"] == ack["message"]["id"]
        updated, _ = await receive_until(agent, "conversation.updated")
        assert updated["conversation"]["unread_count"] == 1
        assert updated["conversation"]["visitor"]["name"] == "张三"
        conv_id = created["message"]["conversation_id"]

        await agent.send_json_to(
            {
                "type": "message.send",
                "client_msg_id": "n1",
                "body": "internal",
                "conversation_id": conv_id,
                "private": True,
            }
        )
        note_ack, _ = await receive_until(agent, "message.ack")
        assert note_ack["message"]["private"] is True
        await agent.send_json_to(
            {
                "type": "message.send",
                "client_msg_id": "a1",
                "body": "您好",
                "conversation_id": conv_id,
            }
        )
        await receive_until(agent, "message.ack")

        # The visitor sees its own message (broadcast to all its tabs) and the reply, never
        # the note: its frames are seq 1, the system line "Bob joined" and the reply (seq 4).
        seen, states = [], []
        while len(seen) < 3 or not states:
            frame = await comm.receive_json_from(timeout=5)
            if frame["type"] == "availability.changed":
                continue  # the agent's connect, told to visitors: on Redis it may come this late
            if frame["type"] == "conversation.state":
                states.append(frame["conversation"])  # Bob took it by replying: who joined
                continue
            # Ordered delivery: each message once, as `message.created`, in seq order (a line
            # overtaken by the reply is sent from the database before it, never after).
            assert frame["type"] == "message.created", frame
            seqs = [s["seq"] for s in seen]
            assert not seqs or frame["message"]["seq"] > seqs[-1], (seqs, frame)
            seen.append(frame["message"])
        # (The line takes the seq after whatever the conversation had when bob took it.)
        assert [m["kind"] for m in seen] == ["text", "event", "text"]
        assert (seen[0]["seq"], seen[2]["seq"]) == (1, 4)
        assert [(c["assigned"], c["agent_name"]) for c in states] == [(True, "Bob")]
        assert seen[1]["meta"] == {"system": "joined", "agent": "Bob"}
        assert seen[2]["sender_name"] == "Bob" and seen[2]["sender_kind"] == "agent"
        assert all(not m["private"] for m in seen)
        assert await nothing_more(comm)
        await comm.disconnect()
        await agent.disconnect()

    run(scenario())
    assert Message.objects.count() == 4  # visitor, note, the "joined" line, reply


def test_retry_returns_original_and_conflict_is_an_error(acme, channel_layer_kind):
    visitor = factories.visitor(acme)

    async def scenario():
        comm, _ = await auth_visitor(acme, visitor)
        frame = {"type": "message.send", "client_msg_id": "r-1", "body": "hello"}
        await comm.send_json_to(frame)
        first, _ = await receive_until(comm, "message.ack")
        await comm.send_json_to(frame)
        again, _ = await receive_until(comm, "message.ack")
        assert again["duplicate"] is True
        assert again["message"]["id"] == first["message"]["id"]
        await comm.send_json_to(dict(frame, body="changed"))
        error, _ = await receive_until(comm, "error")
        assert error["code"] == "client_msg_id_conflict" and error["ref"] == "r-1"
        await ping_pong(comm)
        await comm.disconnect()

    run(scenario())
    assert list(Message.objects.values_list("body", flat=True)) == ["hello"]


BAD_FRAMES = [
    ("not json", "invalid_json"),
    ("[1, 2]", "invalid_json"),
    (json.dumps({"type": "nope"}), "unknown_type"),
    (json.dumps({"body": "no type"}), "unknown_type"),
    (json.dumps({"type": "message.send", "body": "x"}), "invalid_frame"),
    (
        json.dumps({"type": "message.send", "client_msg_id": "has space", "body": "x"}),
        "invalid_frame",
    ),
    (json.dumps({"type": "message.send", "client_msg_id": "x" * 65, "body": "x"}), "invalid_frame"),
    (json.dumps({"type": "message.send", "client_msg_id": "e1", "body": 5}), "invalid_frame"),
    (
        json.dumps({"type": "message.send", "client_msg_id": "e2", "body": "x", "extra": 1}),
        "invalid_frame",
    ),
    (json.dumps({"type": "message.send", "client_msg_id": "e3", "body": "   "}), "message_empty"),
    (
        json.dumps({"type": "message.send", "client_msg_id": "e4", "body": "长" * 5001}),
        "message_too_long",
    ),
    (
        json.dumps({"type": "message.send", "client_msg_id": "e5", "body": "x", "private": True}),
        "invalid_frame",
    ),
    (
        json.dumps(
            {"type": "message.send", "client_msg_id": "e6", "body": "x", "conversation_id": 1}
        ),
        "invalid_frame",
    ),
    (
        json.dumps({"type": "message.send", "client_msg_id": "e7", "body": "x" * 70000}),
        "frame_too_large",
    ),
    (json.dumps({"type": "conversation.read", "seq": -1}), "invalid_frame"),
    (json.dumps({"type": "auth", "token": "again"}), "already_authenticated"),
]


@pytest.mark.parametrize("raw, code", BAD_FRAMES)
def test_visitor_bad_frames_get_coded_errors_and_socket_stays_up(acme, raw, code):
    visitor = factories.visitor(acme)

    async def scenario():
        comm, _ = await auth_visitor(acme, visitor)
        await comm.send_to(text_data=raw)
        error = await comm.receive_json_from(timeout=5)
        assert error["type"] == "error" and error["code"] == code, error
        assert error["message"]
        await ping_pong(comm)
        await comm.disconnect()

    run(scenario())
    assert not Message.objects.exists() and not Conversation.objects.exists()


AGENT_BAD_FRAMES = [
    ({"type": "auth", "token": "x"}, "unknown_type"),
    ({"type": "message.send", "client_msg_id": "a", "body": "x"}, "invalid_frame"),
    (
        {"type": "message.send", "client_msg_id": "a", "body": "x", "conversation_id": 999999},
        "not_found",
    ),
    ({"type": "conversation.read", "seq": 1}, "invalid_frame"),
    ({"type": "conversation.read", "seq": 1, "conversation_id": 999999}, "not_found"),
]


@pytest.mark.parametrize("frame, code", AGENT_BAD_FRAMES)
def test_agent_bad_frames_get_coded_errors(acme, bob, frame, code):
    cookie = session_cookie(bob.user)

    async def scenario():
        agent, connected, _ = await open_agent(acme.pk, cookie)
        assert connected
        await receive_until(agent, "session.ready")
        await agent.send_json_to(frame)
        error, seen = await receive_until(agent, "error")
        assert error["code"] == code, error
        assert {f["type"] for f in seen} <= {"error", "presence.changed", "queue.changed"}
        await ping_pong(agent)
        await agent.disconnect()

    run(scenario())
    assert not Message.objects.exists()


def test_visitor_must_authenticate_first(acme):
    async def scenario():
        comm, connected, _ = await open_visitor(acme)
        assert connected
        await comm.send_json_to({"type": "message.send", "client_msg_id": "x", "body": "hi"})
        error = await comm.receive_json_from(timeout=5)
        assert error["code"] == "auth_required"
        await ping_pong(comm)  # ping is allowed before auth
        await comm.disconnect()

    run(scenario())
    assert not Message.objects.exists()


@pytest.mark.parametrize("kind", ["garbage", "forged", "expired", "other_merchant"])
def test_bad_tokens_are_refused_with_reason_and_close(acme, other, kind, settings):
    visitor = factories.visitor(acme)
    outsider = factories.visitor(other)
    if kind == "garbage":
        token, code, close = "abc", "token_invalid", 4401
    elif kind == "forged":
        token = signing.dumps({"m": acme.pk, "v": visitor.pk}, salt=SALT, key="not-our-secret")
        code, close = "token_invalid", 4401
    elif kind == "expired":
        token = visitor_token_issue(merchant_id=acme.pk, visitor_id=visitor.pk)
        settings.VISITOR_TOKEN_MAX_AGE = -1
        code, close = "token_expired", 4401
    else:
        token = visitor_token_issue(merchant_id=other.pk, visitor_id=outsider.pk)
        code, close = "merchant_mismatch", 4403

    async def scenario():
        comm, connected, _ = await open_visitor(acme)
        assert connected
        await comm.send_json_to({"type": "auth", "token": token})
        error = await comm.receive_json_from(timeout=5)
        assert error["type"] == "error" and error["code"] == code
        closed = await comm.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": close}

    run(scenario())


@pytest.mark.parametrize(
    "origin, key_kind",
    [
        ("https://evil.example", "good"),
        ("", "good"),
        ("http://127.0.0.1", "unknown"),
        ("http://127.0.0.1", "inactive"),
    ],
)
def test_visitor_handshake_refused_for_wrong_origin_or_key(acme, origin, key_kind):
    if key_kind == "inactive":
        acme.is_active = False
        acme.save()
    key = "no-such-key" if key_kind == "unknown" else acme.widget_key

    async def scenario():
        comm, connected, code = await open_visitor(acme, origin=origin, key=key)
        # Refused before accept: daphne answers the handshake with HTTP 403.
        assert not connected

    run(scenario())


def test_wildcard_origin_pattern(acme):
    acme.allowed_origins = "https://*.shop.example"
    acme.save()

    async def scenario():
        _, ok, _ = await open_visitor(acme, origin="https://m.shop.example")
        _, bad, _ = await open_visitor(acme, origin="https://shop.example.evil")
        return ok, bad

    assert run(scenario()) == (True, False)


def test_agent_socket_requires_session_and_membership(acme, bob, charlie):
    async def scenario():
        anonymous, ok1, code1 = await open_agent(acme.pk, None)
        outsider, ok2, code2 = await open_agent(
            acme.pk, await sync_to_async(session_cookie)(charlie.user)
        )
        foreign_origin, ok3, code3 = await open_agent(
            acme.pk, await sync_to_async(session_cookie)(bob.user), origin="https://evil.example"
        )
        return (ok1, code1), (ok2, code2), (ok3, code3)

    anonymous, outsider, foreign_origin = run(scenario())
    assert anonymous == (False, 4401) and outsider == (False, 4403)
    assert foreign_origin[0] is False


def test_other_merchant_agent_receives_nothing_and_cannot_write(
    acme, bob, charlie, channel_layer_kind
):
    visitor = factories.visitor(acme)
    bob_cookie = session_cookie(bob.user)
    charlie_cookie = session_cookie(charlie.user)

    async def scenario():
        spy, connected, _ = await open_agent(charlie.merchant_id, charlie_cookie)
        assert connected
        await receive_until(spy, "session.ready")
        agent, _, _ = await open_agent(acme.pk, bob_cookie)
        await receive_until(agent, "session.ready")
        comm, _ = await auth_visitor(acme, visitor)
        await comm.send_json_to(
            {"type": "message.send", "client_msg_id": "s1", "body": "secret 秘密"}
        )
        created, _ = await receive_until(agent, "message.created")
        conv_id = created["message"]["conversation_id"]
        await agent.send_json_to(
            {
                "type": "message.send",
                "client_msg_id": "s2",
                "body": "reply",
                "conversation_id": conv_id,
            }
        )
        await receive_until(agent, "message.ack")
        # charlie tries to write into and read acme's conversation through his own socket
        await spy.send_json_to(
            {
                "type": "message.send",
                "client_msg_id": "x",
                "body": "hijack",
                "conversation_id": conv_id,
            }
        )
        error, seen = await receive_until(spy, "error")
        assert error["code"] == "not_found"
        await spy.send_json_to({"type": "conversation.read", "conversation_id": conv_id, "seq": 2})
        error, more = await receive_until(spy, "error")
        assert error["code"] == "not_found"
        assert await nothing_more(spy, 0.5)
        # Charlie's socket saw only his own presence and his errors: nothing of acme's.
        for frame in seen + more:
            # queue.changed: his own merchant's queue, sent on connect (routing).
            assert frame["type"] in ("presence.changed", "error", "queue.changed"), frame
            if frame["type"] == "queue.changed":
                assert frame["total"] == 0
            if frame["type"] == "presence.changed":
                assert frame["agent"]["user_id"] == charlie.user_id
        for c in (spy, agent, comm):
            await c.disconnect()

    run(scenario())
    assert Message.objects.exclude(kind="event").count() == 2  # ("bob joined" aside)
    assert Conversation.objects.get().agent_last_read_seq == 0


def test_other_visitor_of_same_merchant_receives_nothing(acme, bob, channel_layer_kind):
    v1, v2 = factories.visitor(acme), factories.visitor(acme)

    async def scenario():
        a, _ = await auth_visitor(acme, v1)
        b, _ = await auth_visitor(acme, v2)
        await a.send_json_to({"type": "message.send", "client_msg_id": "p", "body": "mine"})
        await receive_until(a, "message.ack")
        assert await nothing_more(b, 0.5)
        await a.disconnect()
        await b.disconnect()

    run(scenario())


def test_reconnect_replays_missed_messages_after_last_seq(acme, bob, channel_layer_kind):
    visitor = factories.visitor(acme)
    first = factories.visitor_message(visitor, "one")
    # Claimed by bob first: the system line "Bob joined" is seq 2.
    services.conversation_claim(
        merchant_id=acme.pk, conversation_id=first.conversation_id, user_id=bob.user_id
    )
    factories.agent_message(bob, first.conversation_id, "two")
    factories.agent_message(bob, first.conversation_id, "note", private=True)
    factories.agent_message(bob, first.conversation_id, "four")

    async def scenario():
        comm, ready = await auth_visitor(acme, visitor, last_seq=1)
        assert ready["conversation"]["last_seq"] == 5
        assert ready["conversation"]["unread_count"] == 2  # the replies, not the line
        history = await comm.receive_json_from(timeout=5)
        assert history["type"] == "history" and history["has_more"] is False
        assert [(m["seq"], m["body"]) for m in history["messages"]] == [
            (2, "Bob已加入会话。"),
            (3, "two"),
            (5, "four"),
        ]
        await comm.send_json_to({"type": "conversation.read", "seq": 5})
        read, _ = await receive_until(comm, "conversation.read")  # to all the visitor's tabs
        assert (read["reader"], read["seq"], read["user_id"]) == ("visitor", 5, None)
        await comm.disconnect()

        again, _ = await auth_visitor(acme, visitor, last_seq=5)
        assert await nothing_more(again)
        await again.disconnect()

    run(scenario())
    assert Conversation.objects.get().unread_visitor_count == 0


@pytest.mark.slow  # more than ~2 s of waiting on timers
def test_history_replay_is_paged(acme, settings):
    visitor = factories.visitor(acme)
    for i in range(205):
        factories.visitor_message(visitor, f"m{i}")

    async def scenario():
        comm, _ = await auth_visitor(acme, visitor)
        first = await comm.receive_json_from(timeout=5)
        second = await comm.receive_json_from(timeout=5)
        await comm.disconnect()
        return first, second

    first, second = run(scenario())
    assert first["has_more"] is True and len(first["messages"]) == 200
    assert second["has_more"] is False
    seqs = [m["seq"] for m in first["messages"] + second["messages"]]
    assert seqs == list(range(1, 206))


def test_agent_read_frame_updates_unread_for_all_agents(acme, alice, bob, channel_layer_kind):
    visitor = factories.visitor(acme)
    m = factories.visitor_message(visitor, "hi")
    cookies = session_cookie(alice.user), session_cookie(bob.user)

    async def scenario():
        a, _, _ = await open_agent(acme.pk, cookies[0])
        b, _, _ = await open_agent(acme.pk, cookies[1])
        await receive_until(a, "session.ready")
        await receive_until(b, "session.ready")
        await b.send_json_to(
            {"type": "conversation.read", "conversation_id": m.conversation_id, "seq": 1}
        )
        # (Routing's conversation.updated, serving the queue as the agents connect, may come
        # first: wait for the one the read causes.)
        while True:
            updated, _ = await receive_until(a, "conversation.updated")
            if updated["conversation"]["unread_count"] == 0:
                break
        await a.disconnect()
        await b.disconnect()

    run(scenario())
