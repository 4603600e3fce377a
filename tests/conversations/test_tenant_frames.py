"""Tenant and audience matrix for every WebSocket frame type (tests/conversations/tenant_frames.py
has the world and the cases): charlie, an agent of merchant "other", tries every agent client
frame against acme's objects; acme's activity produces every server frame type, and none of it
reaches charlie, vo or the other acme visitor; agent-only frames never reach any visitor socket.
test_tenant_frames_visitors.py has the visitors' cases.
"""

from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async

from conversations import services
from tests.conversations.realtime_helpers import (
    agent_sock,
    fresh_realtime,  # noqa: F401 (autouse)
    quiet_all,
    run,
    visitor_sock,
)
from tests.conversations.tenant_frames import (
    CASES,
    CLIENT_TYPES,
    SERVER_TYPES,
    VISITOR_TYPES,
    case_frame_type,
    outsider_frame_touches_nothing_of_acme,
    world,  # noqa: F401 (fixture)
)

# cost: seven sockets and two 0.4 s silences a case (tests/conftest.py, estimated_seconds)
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.cost(1)]

AGENT_CASES = [c for c in CASES if c[1] == "charlie"]


def test_the_outsider_matrix_covers_every_client_frame_type():
    # Every case runs in this file or in test_tenant_frames_visitors.py, by its actor.
    assert {actor for _, actor, _, _ in CASES} == {"charlie", "vo", "vb"}
    for actor in ("charlie", "vo"):
        covered = {case_frame_type(c) for c in CASES if c[1] == actor}
        assert covered == CLIENT_TYPES, (actor, CLIENT_TYPES - covered)


@pytest.mark.parametrize("case", AGENT_CASES, ids=[c[0] for c in AGENT_CASES])
def test_outsider_frame_touches_nothing_of_acme(channel_layer_kind, world, case):  # noqa: F811 (the fixture)
    outsider_frame_touches_nothing_of_acme(world, case)


# --- acme's activity against everyone else ----------------------------------------------------


def test_acme_activity_reaches_no_outsider_and_agent_frames_no_visitor(
    channel_layer_kind,
    world,  # noqa: F811 (the fixture)
):
    w = world
    bob_id = w.bob.user_id

    async def scenario():
        # The bystanders connect first and are drained: all they may receive later is nothing.
        charlie = await agent_sock(w.other.pk, w.cookies["charlie"], "charlie")
        vo = await visitor_sock(w.other, w.vo, "vo", last_seq=1)
        vb = await visitor_sock(w.acme, w.vb, "vb", last_seq=1)
        bob = await agent_sock(w.acme.pk, w.cookies["bob"], "bob")
        alice = await agent_sock(w.acme.pk, w.cookies["alice"], "alice")
        await quiet_all(charlie, vo, vb, bob, alice)
        marks = {s.name: len(s.log) for s in (charlie, vo, vb)}

        # Visitor A opens two tabs; the first replays everything (the note must be left out).
        va = await visitor_sock(w.acme, w.va, "va", last_seq=0)
        va2 = await visitor_sock(w.acme, w.va, "va2", last_seq=3)
        await va.until("history")
        await va.send({"type": "message.send", "client_msg_id": "q2", "body": "A again"})
        await va.until("message.ack")
        await bob.send(
            {
                "type": "message.send",
                "client_msg_id": "n2",
                "body": "second note",
                "conversation_id": w.ca,
                "private": True,
            }
        )
        await bob.until("message.ack")
        await bob.send(
            {
                "type": "message.send",
                "client_msg_id": "r2",
                "body": "bob answers",
                "conversation_id": w.ca,
            }
        )
        await bob.until("message.ack")
        await bob.send({"type": "typing", "conversation_id": w.ca, "active": True})
        await va.until("typing")
        await va.send({"type": "typing", "text": "A drafts"})
        await alice.until_match(lambda f: f["type"] == "typing" and f["sender_kind"] == "visitor")
        await va.send({"type": "page.view", "url": "https://acme.example/cart", "title": "Cart"})
        await alice.until_match(
            lambda f: (
                f["type"] == "visitor.updated"
                and f["visitor"]["page_url"] == "https://acme.example/cart"
            )
        )
        await va.send({"type": "conversation.read", "seq": 6})
        await alice.until_match(
            lambda f: f["type"] == "conversation.read" and f["reader"] == "visitor"
        )
        await bob.send({"type": "conversation.read", "conversation_id": w.ca, "seq": 4})
        await alice.until_match(
            lambda f: f["type"] == "conversation.read" and f["reader"] == "agent"
        )
        await bob.send({"type": "presence.set", "status": "away"})
        await alice.until_match(
            lambda f: f["type"] == "presence.changed" and f["agent"]["status"] == "away"
        )
        await bob.send({"type": "presence.set", "status": "online"})
        await alice.send({"type": "conversation.view", "conversation_id": w.ca})
        await bob.until("viewers.changed")
        await bob.send({"type": "resume", "conversations": {str(w.ca): 0}})
        await bob.until("resume.done")
        # Routing: resolve and reopen A's conversation (A's tabs get conversation.state).
        await bob.send(
            {"type": "conversation.status", "conversation_id": w.ca, "status": "resolved"}
        )
        await va.until("conversation.state")
        await bob.send({"type": "conversation.status", "conversation_id": w.ca, "status": "open"})
        await alice.until_match(
            lambda f: f["type"] == "routing.event" and f["event"]["kind"] == "claimed"
        )
        # Customers (issue 13): a label made, applied; a note about visitor A.
        label = await sync_to_async(services.label_create)(
            merchant_id=w.acme.pk, is_manager=True, name="acme-only"
        )
        await alice.until("labels.changed")
        await sync_to_async(services.conversation_labels_change)(
            merchant_id=w.acme.pk, conversation_id=w.ca, add=[label.pk], actor_user_id=bob_id
        )
        await alice.until("conversation.labels")
        await sync_to_async(services.customer_note_create)(
            merchant_id=w.acme.pk, visitor_id=w.va.pk, author_id=bob_id, author_name="Bob", body="n"
        )
        await alice.until("visitor.profile_changed")
        # Visitors now and the supervisor screen: answers to alice alone.
        await alice.send({"type": "visitors.live"})
        await alice.until("visitors.live")
        await alice.send({"type": "supervisor.snapshot"})
        await alice.until("supervisor.snapshot")
        for sock in (bob, va):
            await sock.ping()
            await sock.send({"type": "nope"})
            await sock.until("error")
        await va2.close()
        await va.close()
        await alice.until_match(
            lambda f: f["type"] == "visitor.updated" and f["visitor"]["online"] is False
        )
        await bob.close()
        await alice.until_match(
            lambda f: f["type"] == "presence.changed" and f["agent"]["status"] == "offline"
        )
        await quiet_all(charlie, vo, vb, alice)
        for sock in (charlie, vo, vb, alice):
            await sock.close()
        return SimpleNamespace(
            charlie=charlie, vo=vo, vb=vb, bob=bob, alice=alice, va=va, va2=va2, marks=marks
        )

    s = run(scenario())

    # Nothing of acme's activity reached the other merchant or the other acme visitor (who,
    # like every acme visitor, only learns that acme's availability changed).
    for name in ("charlie", "vo"):
        assert getattr(s, name).log[s.marks[name] :] == [], name
    assert {f["type"] for f in s.vb.log[s.marks["vb"] :]} <= {"availability.changed"}

    # Every server frame type was produced (so the checks below are not hollow) ...
    seen = {f["type"] for sock in (s.bob, s.alice, s.va, s.va2) for f in sock.log}
    assert seen == SERVER_TYPES, SERVER_TYPES - seen
    agent_frames = s.alice.log + s.bob.log
    assert any(f["type"] == "message.created" and f["message"]["private"] for f in agent_frames)
    assert any(
        f["type"] == "history" and any(m["private"] for m in f["messages"]) for f in agent_frames
    )
    assert any(f["type"] == "typing" and f["name"] == "Bob" for f in s.alice.log)
    assert any(f["type"] == "conversation.read" and f["user_id"] == bob_id for f in s.alice.log)
    assert any(f["type"] == "typing" and f["text"] == "A drafts" for f in s.alice.log)

    # ... and the visitor's sockets got only what a visitor may see.
    for sock in (s.va, s.va2):
        assert sock.log, sock.name
        for f in sock.log:
            assert f["type"] in VISITOR_TYPES, (sock.name, f)
            if f["type"] == "session.ready":
                assert f["agents"] == [] and f["user_id"] is None
            if f["type"] in ("message.created", "message.ack"):
                assert f["message"]["private"] is False
                assert f["message"]["conversation_id"] == w.ca
            if f["type"] == "history":
                assert f["conversation_id"] == w.ca
                assert not [m for m in f["messages"] if m["private"]]
            if f["type"] == "typing":
                assert f["conversation_id"] == w.ca
                assert (f["sender_kind"], f["user_id"], f["name"], f["text"]) == (
                    "agent",
                    None,
                    "",
                    None,
                )
            if f["type"] == "conversation.read":
                assert f["user_id"] is None and f["conversation_id"] == w.ca
            if f["type"] == "conversation.state":
                assert f["conversation"]["id"] == w.ca
            if f["type"] == "availability.changed":  # the merchant's, no agent named
                assert set(f["availability"]) == {"open", "agents", "offline_form", "next_opening"}
        assert "note" not in repr(sock.log)
    # The first tab was replayed the conversation without the note.
    history = next(f for f in s.va.log if f["type"] == "history")
    # (With the system line saying who joined: the visitor's to see.)
    assert [m["body"] for m in history["messages"] if m["kind"] != "event"] == [
        "A's question",
        "acme reply",
    ]
