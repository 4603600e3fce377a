"""Issue 13, the agent desk: "Visitors now" with proactive invitations, and the supervisor
screen (watch, join, whisper, each agent's load), at frame level (docs/desk.md)."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from conversations import selectors, services
from conversations.models import Conversation, Message, RoutingEvent, Visitor, VisitorPageView
from tests import factories
from tests.conversations.realtime_helpers import (
    agent_sock,
    fresh_realtime,  # noqa: F401 (autouse)
    quiet_all,
    run,
    visitor_sock,
)
from tests.wsclient import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def _page(visitor, url, ago: timedelta):
    row = VisitorPageView.objects.create(
        merchant_id=visitor.merchant_id, visitor=visitor, url=url, title=url.rsplit("/", 1)[-1]
    )
    VisitorPageView.objects.filter(pk=row.pk).update(viewed_at=timezone.now() - ago)


@pytest.fixture
def world(acme, other, alice, bob, charlie):
    now = timezone.now()
    # New: two pages this visit (the bootstrap page and one more).
    new = factories.visitor(
        acme, name="新访客", page_url="https://acme.example/", page_title="Home"
    )
    _page(new, "https://acme.example/shoes", timedelta(minutes=2))
    # Returning: first seen two days ago, a page an hour and a half ago (another visit).
    back = factories.visitor(acme, name="回头客", page_url="https://acme.example/cart")
    Visitor.objects.filter(pk=back.pk).update(first_seen_at=now - timedelta(days=2))
    VisitorPageView.objects.filter(visitor=back).update(viewed_at=now - timedelta(minutes=5))
    _page(back, "https://acme.example/old", timedelta(minutes=90))
    # Already chatting, with bob.
    chatting = factories.visitor(acme, name="在聊", page_url="https://acme.example/help")
    chat = factories.visitor_message(chatting, "help").conversation_id
    services.conversation_claim(merchant_id=acme.pk, conversation_id=chat, user_id=bob.user_id)
    offline = factories.visitor(acme, name="离线", page_url="https://acme.example/x")
    blocked = factories.visitor(acme, name="被封", page_url="https://acme.example/y")
    services.visitor_block(
        merchant_id=acme.pk, visitor_id=blocked.pk, actor_user_id=alice.user_id, reason="spam"
    )
    theirs = factories.visitor(other, name="Other's", page_url="https://other.example/")
    return SimpleNamespace(
        acme=acme,
        other=other,
        new=new,
        back=back,
        chatting=chatting,
        chat=chat,
        offline=offline,
        blocked=Visitor.objects.get(pk=blocked.pk),
        theirs=theirs,
        alice=alice,
        bob=bob,
        charlie=charlie,
        cookies={m.user.username: session_cookie(m.user) for m in (alice, bob, charlie)},
    )


async def online(w):
    """The acme visitors new, back, chatting and blocked on the site, and other's visitor."""
    return SimpleNamespace(
        new=await visitor_sock(w.acme, w.new, "new"),
        back=await visitor_sock(w.acme, w.back, "back"),
        chatting=await visitor_sock(w.acme, w.chatting, "chatting", last_seq=1),
        blocked=await visitor_sock(w.acme, w.blocked, "blocked"),
        theirs=await visitor_sock(w.other, w.theirs, "theirs"),
    )


def test_visitors_now_lists_the_merchants_online_visitors_with_their_visit(
    world, channel_layer_kind
):
    w = world

    async def scenario():
        v = await online(w)
        bob = await agent_sock(w.acme.pk, w.cookies["bob"], "bob")
        charlie = await agent_sock(w.other.pk, w.cookies["charlie"], "charlie")
        await bob.send({"type": "visitors.live"})
        listed = await bob.until("visitors.live")
        # charlie asks for acme's visitors by id: they are not online for him.
        await charlie.send(
            {"type": "visitors.live", "visitor_ids": [w.new.pk, w.back.pk, w.theirs.pk]}
        )
        theirs = await charlie.until("visitors.live")
        # A visitor leaves: asking for that row again says it is gone.
        await v.new.close()
        await bob.until_match(
            lambda f: f["type"] == "visitor.updated" and f["visitor"]["online"] is False
        )
        await bob.send({"type": "visitors.live", "visitor_ids": [w.new.pk, w.back.pk]})
        after = await bob.until("visitors.live")
        for sock in (*vars(v).values(), bob, charlie):
            if sock is not v.new:
                await sock.close()
        return listed, theirs, after

    listed, theirs, after = run(scenario())
    rows = {r["id"]: r for r in listed["visitors"]}
    assert set(rows) == {w.new.pk, w.back.pk, w.chatting.pk, w.blocked.pk}  # not offline's
    new, back, chatting = rows[w.new.pk], rows[w.back.pk], rows[w.chatting.pk]
    assert (new["pages_seen"], new["returning"], new["conversation_id"]) == (2, False, None)
    assert new["page_url"] == "https://acme.example/"
    # The page 90 minutes ago was another visit: one page in this one, and they came back.
    assert (back["pages_seen"], back["returning"]) == (1, True)
    assert (chatting["conversation_id"], chatting["assignee_id"]) == (w.chat, w.bob.user_id)
    assert rows[w.blocked.pk]["blocked"] is True and new["blocked"] is False
    assert [r["id"] for r in theirs["visitors"]] == [w.theirs.pk]
    assert theirs["gone"] == sorted([w.new.pk, w.back.pk])
    assert [r["id"] for r in after["visitors"]] == [w.back.pk]
    assert after["gone"] == [w.new.pk]


def test_visitors_now_rows_take_three_queries(world, django_assert_num_queries):
    w = world
    ids = [w.new.pk, w.back.pk, w.chatting.pk, w.blocked.pk, w.offline.pk]
    with django_assert_num_queries(3):
        rows = selectors.visitors_live_rows(merchant_id=w.acme.pk, visitor_ids=ids)
    assert len(rows) == 5
    # Another merchant's ids give nothing.
    assert selectors.visitors_live_rows(merchant_id=w.other.pk, visitor_ids=ids) == []


def test_invite_starts_a_conversation_assigned_to_the_agent_in_order(world, channel_layer_kind):
    w = world

    async def scenario():
        v = await online(w)
        bob = await agent_sock(w.acme.pk, w.cookies["bob"], "bob")
        alice = await agent_sock(w.acme.pk, w.cookies["alice"], "alice")
        await quiet_all(*vars(v).values(), bob, alice)
        invite = {
            "type": "visitor.invite",
            "visitor_id": w.new.pk,
            "client_msg_id": "inv-1",
            "body": "需要帮忙吗？",
        }
        await bob.send(invite)
        ack = await bob.until("message.ack")
        got = await v.new.until("message.created")
        await v.new.drain()
        # Published by the claim, before the message: the widget's header names the agent.
        state = next(f for f in v.new.log if f["type"] == "conversation.state")
        # Retried (a lost ack): the stored message again, nothing new.
        await bob.send(invite)
        again = await bob.until("message.ack")
        # The visitor answers in the same conversation, after the invitation.
        await v.new.send({"type": "message.send", "client_msg_id": "v-1", "body": "好的"})
        answer = await v.new.until("message.ack")
        seen = await quiet_all(*vars(v).values(), alice)
        for sock in (*vars(v).values(), bob, alice):
            await sock.close()
        return ack, got, state, again, answer, seen

    ack, got, state, again, answer, seen = run(scenario())
    message = ack["message"]
    assert (message["seq"], message["sender_kind"], message["meta"]) == (
        1,
        "agent",
        {"invite": True},
    )
    assert got["message"]["id"] == message["id"] and got["message"]["meta"]["invite"] is True
    assert state["conversation"]["assigned"] is True
    assert state["conversation"]["agent_name"] == "Bob"
    assert again["duplicate"] is True and again["message"]["id"] == message["id"]
    assert answer["message"]["seq"] == 2
    assert answer["message"]["conversation_id"] == message["conversation_id"]
    conversation = Conversation.objects.get(pk=message["conversation_id"])
    assert (conversation.visitor_id, conversation.assignee_id) == (w.new.pk, w.bob.user_id)
    assert conversation.status == Conversation.Status.OPEN
    assert Message.objects.filter(conversation=conversation).count() == 2
    event = RoutingEvent.objects.get(conversation=conversation)
    assert (event.kind, event.rule, event.to_user_id) == ("claimed", "invite", w.bob.user_id)
    # No other visitor heard of it; acme's other agents see the conversation appear.
    for name in ("back", "chatting", "blocked", "theirs"):
        assert seen[name] == [], name
    assert any(
        f["type"] == "conversation.updated" and f["conversation"]["id"] == conversation.pk
        for f in seen["alice"]
    )


def test_invite_is_refused_for_a_blocked_visitor_another_agents_chat_and_outsiders(
    world, channel_layer_kind
):
    w = world

    async def scenario():
        v = await online(w)
        bob = await agent_sock(w.acme.pk, w.cookies["bob"], "bob")
        alice = await agent_sock(w.acme.pk, w.cookies["alice"], "alice")
        charlie = await agent_sock(w.other.pk, w.cookies["charlie"], "charlie")
        await quiet_all(*vars(v).values(), bob, alice, charlie)
        answers = {}
        for name, sock, visitor_id, body in (
            ("blocked", bob, w.blocked.pk, "hi"),
            ("taken", alice, w.chatting.pk, "hi"),
            ("outsider", charlie, w.new.pk, "hi"),
            ("empty", bob, w.new.pk, "   "),
        ):
            await sock.send(
                {
                    "type": "visitor.invite",
                    "visitor_id": visitor_id,
                    "client_msg_id": f"inv-{name}",
                    "body": body,
                }
            )
            answers[name] = await sock.until("error")
            await sock.ping()  # the socket stays up
        seen = await quiet_all(*vars(v).values(), bob, alice)
        for sock in (*vars(v).values(), bob, alice, charlie):
            await sock.close()
        return answers, seen

    answers, seen = run(scenario())
    assert {k: (a["code"], a["ref"]) for k, a in answers.items()} == {
        "blocked": ("visitor_blocked", "inv-blocked"),
        "taken": ("already_assigned", "inv-taken"),
        "outsider": ("not_found", "inv-outsider"),
        "empty": ("message_empty", "inv-empty"),
    }
    assert all(frames == [] for frames in seen.values()), seen
    assert not Conversation.objects.filter(visitor__in=[w.new, w.blocked]).exists()
    assert (
        Message.objects.filter(conversation_id=w.chat).exclude(kind=Message.Kind.EVENT).count() == 1
    )


def test_supervisor_sees_load_joins_with_a_reason_and_whispers_only_to_agents(
    world, channel_layer_kind
):
    w = world
    # A second, unassigned conversation, and bob full at a capacity of 1: with room, the queue
    # would give him the second one when his socket comes online, before or after the snapshot.
    waiting = factories.visitor_message(w.new, "anyone?").conversation_id
    type(w.bob).objects.filter(pk=w.bob.pk).update(max_concurrent=1)

    async def scenario():
        chatting = await visitor_sock(w.acme, w.chatting, "chatting", last_seq=1)
        bob = await agent_sock(w.acme.pk, w.cookies["bob"], "bob")
        alice = await agent_sock(w.acme.pk, w.cookies["alice"], "alice")
        await quiet_all(chatting, bob, alice)
        await alice.send({"type": "supervisor.snapshot"})
        snapshot = await alice.until("supervisor.snapshot")
        # Plain agents are refused, on every supervisor action.
        await bob.send({"type": "supervisor.snapshot"})
        refused_snapshot = await bob.until("error")
        await bob.send({"type": "conversation.join", "conversation_id": waiting, "reason": "x"})
        refused_join = await bob.until("error")
        await bob.ping()
        # Whisper: a private note into bob's chat; the visitor gets nothing.
        await alice.send(
            {
                "type": "message.send",
                "conversation_id": w.chat,
                "client_msg_id": "w-1",
                "body": "先问订单号",
                "private": True,
            }
        )
        await alice.until("message.ack")
        whisper = await bob.until("message.created")
        visitor_heard = await chatting.drain()
        # Join: alice takes bob's chat over, saying why.
        await alice.send({"type": "conversation.join", "conversation_id": w.chat, "reason": "VIP"})
        event = await bob.until("routing.event")
        state = await chatting.until("conversation.state")
        await alice.send({"type": "conversation.join", "conversation_id": w.chat, "reason": " "})
        blank = await alice.until("error")
        for sock in (chatting, bob, alice):
            await sock.close()
        return snapshot, refused_snapshot, refused_join, whisper, visitor_heard, event, state, blank

    snapshot, refused_snapshot, refused_join, whisper, heard, event, state, blank = run(scenario())
    agents = {a["user_id"]: a for a in snapshot["agents"]}
    assert agents[w.bob.user_id] | {"name": None} == {
        "user_id": w.bob.user_id,
        "name": None,
        "role": "agent",
        "status": "online",
        "open_count": 1,
        "capacity": 1,
    }
    assert agents[w.alice.user_id]["role"] == "owner"
    assert {c["id"] for c in snapshot["conversations"]} == {w.chat, waiting}
    assert refused_snapshot["code"] == refused_join["code"] == "forbidden"
    assert whisper["message"]["private"] is True and whisper["message"]["body"] == "先问订单号"
    assert heard == []  # the visitor group got nothing of the whisper
    assert (event["event"]["rule"], event["event"]["kind"]) == ("supervisor_join", "reassigned")
    assert "VIP" in event["event"]["reason"]
    assert (event["event"]["from_user_id"], event["event"]["to_user_id"]) == (
        w.bob.user_id,
        w.alice.user_id,
    )
    assert state["conversation"]["agent_name"] == "Alice 客服"
    assert Conversation.objects.get(pk=w.chat).assignee_id == w.alice.user_id
    assert (blank["code"], blank["fields"]) == ("invalid_frame", {"reason": "Say why you join."})


def test_supervisor_snapshot_and_join_stay_within_the_merchant(world, channel_layer_kind):
    w = world

    async def scenario():
        charlie = await agent_sock(w.other.pk, w.cookies["charlie"], "charlie")
        bob = await agent_sock(w.acme.pk, w.cookies["bob"], "bob")
        await quiet_all(charlie, bob)
        await charlie.send({"type": "supervisor.snapshot"})
        snapshot = await charlie.until("supervisor.snapshot")
        await charlie.send({"type": "conversation.join", "conversation_id": w.chat, "reason": "x"})
        refused = await charlie.until("error")
        heard = await bob.drain()
        for sock in (charlie, bob):
            await sock.close()
        return snapshot, refused, heard

    snapshot, refused, heard = run(scenario())
    assert [a["user_id"] for a in snapshot["agents"]] == [w.charlie.user_id]
    assert snapshot["conversations"] == []
    assert refused["code"] == "not_found"
    assert heard == []
    assert Conversation.objects.get(pk=w.chat).assignee_id == w.bob.user_id


def test_supervisor_snapshot_takes_three_queries(world, django_assert_num_queries):
    w = world
    for _ in range(3):
        factories.visitor_message(factories.visitor(w.acme), "more")
    connected = {w.bob.user_id: True}
    with django_assert_num_queries(3):
        frame = selectors.supervisor_snapshot(merchant_id=w.acme.pk, connected=connected)
    assert len(frame.conversations) == 4
    statuses = {a.user_id: a.status for a in frame.agents}
    assert statuses == {w.alice.user_id: "offline", w.bob.user_id: "online"}
