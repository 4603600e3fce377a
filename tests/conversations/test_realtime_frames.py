"""The realtime frames of issue 3 through the real ASGI app (session auth, origin checks): resume,
typing, page.view, read events, the collision view, rate limits, the per-visitor socket cap and
heartbeats. Delivery tests run on the in-process layer and on the Redis pub/sub layer."""

import asyncio
import time
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from conversations import services
from conversations.models import Conversation, Message, Visitor, VisitorPageView
from conversations.tokens import visitor_token_issue
from tests import factories
from tests.conversations.realtime_helpers import (
    agent_sock,
    fresh_realtime,  # noqa: F401 (autouse)
    quiet_all,
    run,
    visitor_sock,
)
from tests.wsclient import open_visitor, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.cost(1.5)]  # estimated_seconds

# What people wrote: system lines ("Bob joined", stored when a socket's agent takes a chat) aside.
count_messages = sync_to_async(lambda: Message.objects.exclude(kind="event").count())


@pytest.fixture
def world(acme, other, alice, bob, charlie):
    """Acme: visitor A with a conversation (seq 1 from the visitor), visitor B with another.
    Other: visitor O with a conversation. Cookies for the three agents."""
    va = factories.visitor(acme, name="访客A")
    vb = factories.visitor(acme, name="访客B")
    vo = factories.visitor(other, name="Other visitor")
    return SimpleNamespace(
        acme=acme,
        other=other,
        va=va,
        vb=vb,
        vo=vo,
        ca=factories.visitor_message(va, "hello").conversation_id,
        cb=factories.visitor_message(vb, "b's question").conversation_id,
        co=factories.visitor_message(vo, "other's secret").conversation_id,
        alice=alice,
        bob=bob,
        charlie=charlie,
        cookies={m.user.username: session_cookie(m.user) for m in (alice, bob, charlie)},
    )


async def cast(w) -> SimpleNamespace:
    """Everyone connected and the connect noise (presence, visitor online) drained: bob and
    alice (acme agents), va and va2 (two tabs of visitor A), vb (another acme visitor),
    charlie (other's agent), vo (other's visitor)."""
    s = SimpleNamespace(
        bob=await agent_sock(w.acme.pk, w.cookies["bob"], "bob"),
        alice=await agent_sock(w.acme.pk, w.cookies["alice"], "alice"),
        charlie=await agent_sock(w.other.pk, w.cookies["charlie"], "charlie"),
        va=await visitor_sock(w.acme, w.va, "va"),
        va2=await visitor_sock(w.acme, w.va, "va2"),
        vb=await visitor_sock(w.acme, w.vb, "vb"),
        vo=await visitor_sock(w.other, w.vo, "vo"),
    )
    await quiet_all(*vars(s).values())
    return s


async def close_all(s) -> None:
    for sock in vars(s).values():
        await sock.close()


# --- resume -----------------------------------------------------------------------------------


@pytest.mark.slow  # more than ~2 s of waiting on timers
def test_resume_replays_every_later_message_per_conversation_with_notes_in_pages(acme, other, bob):
    v1, v2, v3 = (factories.visitor(acme) for _ in range(3))
    c1 = factories.visitor_message(v1, "one").conversation_id
    factories.agent_message(bob, c1, "note", private=True)
    factories.agent_message(bob, c1, "three")
    with transaction.atomic():
        c2 = factories.visitor_message(v2, "m1").conversation_id
        for i in range(2, 202):
            factories.visitor_message(v2, f"m{i}")
    c3 = factories.visitor_message(v3, "already seen").conversation_id
    foreign = factories.visitor_message(factories.visitor(other), "other's secret").conversation_id
    cookie = session_cookie(bob.user)

    async def scenario():
        agent = await agent_sock(acme.pk, cookie)
        await agent.drain()
        start = len(agent.log)
        await agent.send(
            {
                "type": "resume",
                "conversations": {
                    str(c1): 1,
                    str(c2): 0,
                    str(c3): 1,
                    str(foreign): 0,
                    "999999": 0,
                },
            }
        )
        await agent.until("resume.done")
        assert await agent.drain() == []
        await agent.close()
        return agent.log[start:]

    frames = run(scenario())
    # Bob's reply claimed c1, and the router gave him c2 and c3: each has its stored "joined"
    # line (conversations/system_lines.py), replayed at its seq like any message.
    assert [f["type"] for f in frames] == ["history"] * 4 + ["resume.done"]
    first, page1, page2, third = frames[:4]
    assert first["conversation_id"] == c1 and first["has_more"] is False
    assert [m["seq"] for m in first["messages"]] == [2, 3, 4]
    assert [(m["body"], m["private"]) for m in first["messages"] if m["kind"] != "event"] == [
        ("note", True),
        ("three", False),
    ]
    assert [m["meta"]["system"] for m in first["messages"] if m["kind"] == "event"] == ["joined"]
    assert page1["conversation_id"] == c2 and page1["has_more"] is True
    assert [m["seq"] for m in page1["messages"]] == list(range(1, 201))
    assert page2["conversation_id"] == c2 and page2["has_more"] is False
    assert [(m["seq"], m["kind"]) for m in page2["messages"]] == [(201, "text"), (202, "event")]
    assert third["conversation_id"] == c3
    assert [(m["seq"], m["kind"]) for m in third["messages"]] == [(2, "event")]
    # The other merchant's conversation was ignored: nothing of it, not even an error.
    assert "other's secret" not in repr(frames)
    assert all(f.get("conversation_id") != foreign for f in frames)


def test_resume_of_only_foreign_or_unknown_ids_still_answers_done(acme, other, bob):
    foreign = factories.visitor_message(factories.visitor(other), "secret").conversation_id
    cookie = session_cookie(bob.user)

    async def scenario():
        agent = await agent_sock(acme.pk, cookie)
        await agent.drain()
        await agent.send({"type": "resume", "conversations": {str(foreign): 0, "424242": 3}})
        done = await agent.until("resume.done")
        assert await agent.drain() == []
        await agent.close()
        return done, agent.log

    done, log = run(scenario())
    assert done == {"type": "resume.done"}
    assert not [f for f in log if f["type"] in ("history", "error")]


@pytest.mark.parametrize(
    "conversations, field",
    [
        ({str(i): 0 for i in range(1, 202)}, "conversations"),
        ({"1": -1}, "conversations.1"),
        ({"abc": 0}, "conversations.abc"),
        ([1, 2], "conversations"),
    ],
)
def test_resume_invalid_is_invalid_frame(acme, bob, conversations, field):
    cookie = session_cookie(bob.user)

    async def scenario():
        agent = await agent_sock(acme.pk, cookie)
        await agent.drain()
        await agent.send({"type": "resume", "conversations": conversations})
        error = await agent.until("error")
        assert error["code"] == "invalid_frame"
        assert any(k.startswith(field) for k in error["fields"]), error["fields"]
        await agent.ping()
        assert not [f for f in agent.log if f["type"] in ("history", "resume.done")]
        await agent.close()

    run(scenario())


def test_resume_with_exactly_200_entries_is_accepted(acme, bob):
    cookie = session_cookie(bob.user)

    async def scenario():
        agent = await agent_sock(acme.pk, cookie)
        await agent.send({"type": "resume", "conversations": {str(i): 0 for i in range(1, 201)}})
        await agent.until("resume.done")
        await agent.close()

    run(scenario())


# --- typing -----------------------------------------------------------------------------------


def test_visitor_typing_reaches_only_this_merchants_agents(world, channel_layer_kind):
    w = world
    before = Message.objects.exclude(kind="event").count()

    async def scenario():
        s = await cast(w)
        await s.va.send({"type": "typing", "text": "我想问 <b>价格</b>"})
        expected = {
            "type": "typing",
            "conversation_id": w.ca,
            "sender_kind": "visitor",
            "user_id": None,
            "name": "",
            "active": True,
            "text": "我想问 <b>价格</b>",
        }
        assert await s.bob.until("typing") == expected
        got = await quiet_all(*vars(s).values())
        assert got["alice"] == [expected]
        assert all(got[n] == [] for n in ("bob", "va", "va2", "vb", "charlie", "vo")), got

        # Empty text: stopped typing.
        await s.va.send({"type": "typing", "text": ""})
        stopped = await s.bob.until("typing")
        assert stopped["active"] is False and stopped["text"] == ""

        # A widget that does not share its draft: typing without text is still typing.
        await s.va.send({"type": "typing", "active": True})
        plain = await s.alice.until_match(lambda f: f["type"] == "typing" and f["active"])
        assert plain["text"] is None and plain["sender_kind"] == "visitor"

        await s.va.send({"type": "typing", "conversation_id": w.ca, "text": "x"})
        error = await s.va.until("error")
        assert error["code"] == "invalid_frame" and "conversation_id" in error["fields"]
        got = await quiet_all(*vars(s).values())
        assert all(got[n] == [] for n in ("va2", "vb", "charlie", "vo")), got
        assert not [
            f for f in got["bob"] + got["alice"] if f["type"] == "typing" and f["text"] == "x"
        ]
        await close_all(s)

    run(scenario())
    assert Message.objects.exclude(kind="event").count() == before  # typing is never stored


@pytest.mark.slow  # more than ~2 s of waiting on timers
def test_agent_typing_reaches_visitor_without_identity_and_agents_with_name(
    world, channel_layer_kind
):
    w = world
    before = Message.objects.exclude(kind="event").count()

    async def scenario():
        s = await cast(w)
        await s.bob.send({"type": "typing", "conversation_id": w.ca, "active": True})
        to_visitor = {
            "type": "typing",
            "conversation_id": w.ca,
            "sender_kind": "agent",
            "user_id": None,
            "name": "",
            "active": True,
            "text": None,
        }
        assert await s.va.until("typing") == to_visitor
        to_agent = await s.alice.until("typing")
        assert to_agent == dict(to_visitor, user_id=w.bob.user_id, name="Bob")
        got = await quiet_all(*vars(s).values())
        assert got["va2"] == [to_visitor]  # every tab of the visitor
        assert not [f for f in got["bob"] if f["type"] == "typing"]  # not echoed to the typist
        assert got["va"] == [] and got["vb"] == [] and got["charlie"] == [] and got["vo"] == []

        await s.bob.send({"type": "typing", "conversation_id": w.ca, "active": False})
        off = await s.va.until("typing")
        assert off["active"] is False and off["name"] == "" and off["user_id"] is None

        # Agents do not send text; another merchant's conversation does not exist for bob.
        for frame, code in [
            ({"type": "typing", "conversation_id": w.ca, "text": "draft"}, "invalid_frame"),
            ({"type": "typing", "conversation_id": w.ca, "text": ""}, "invalid_frame"),
            ({"type": "typing"}, "invalid_frame"),
            ({"type": "typing", "conversation_id": w.co, "active": True}, "not_found"),
            ({"type": "typing", "conversation_id": 987654, "active": True}, "not_found"),
        ]:
            await quiet_all(*vars(s).values())
            await s.bob.send(frame)
            error = await s.bob.until("error")
            assert error["code"] == code, (frame, error)
            got = await quiet_all(*vars(s).values())
            assert all(v == [] for v in got.values()), (frame, got)
        await close_all(s)

    run(scenario())
    assert Message.objects.exclude(kind="event").count() == before


def test_visitor_typing_before_a_conversation_is_dropped_then_reaches_agents(
    acme, bob, channel_layer_kind
):
    visitor = factories.visitor(acme)
    cookie = session_cookie(bob.user)

    async def scenario():
        agent = await agent_sock(acme.pk, cookie, "bob")
        tab1 = await visitor_sock(acme, visitor, "tab1")
        tab2 = await visitor_sock(acme, visitor, "tab2")
        await quiet_all(agent, tab1, tab2)
        await tab1.send({"type": "typing", "text": "hello?"})
        got = await quiet_all(agent, tab1, tab2)
        assert got == {"bob": [], "tab1": [], "tab2": []}  # silently dropped, no error

        await tab1.send({"type": "message.send", "client_msg_id": "first", "body": "hi"})
        ack = await tab1.until("message.ack")
        conversation_id = ack["message"]["conversation_id"]
        await quiet_all(agent, tab1, tab2)
        # The tab that did not send the first message types into the new conversation too.
        for tab in (tab2, tab1):
            await tab.send({"type": "typing", "text": f"from {tab.name}"})
            typing = await agent.until("typing")
            assert typing["conversation_id"] == conversation_id
            assert typing["text"] == f"from {tab.name}"
        for sock in (agent, tab1, tab2):
            await sock.close()

    run(scenario())
    assert Message.objects.exclude(kind="event").count() == 1


# --- page.view ----------------------------------------------------------------------------------


def test_page_view_updates_visitor_and_trail_and_tells_agents_only(world, channel_layer_kind):
    w = world

    async def scenario():
        s = await cast(w)
        url, title = "https://shop.example/p/1?q=<script>", "商品 <1>"
        await s.va.send({"type": "page.view", "url": url, "title": title})
        updated = await s.bob.until("visitor.updated")
        visitor = updated["visitor"]
        assert (visitor["id"], visitor["page_url"], visitor["page_title"]) == (w.va.pk, url, title)
        assert visitor["online"] is True and visitor["name"] == "访客A"
        got = await quiet_all(*vars(s).values())
        assert [f["type"] for f in got["alice"]] == ["visitor.updated"]
        assert all(got[n] == [] for n in ("bob", "va", "va2", "vb", "charlie", "vo")), got

        # The same page again (a reload): no new row, no frame.
        await s.va.send({"type": "page.view", "url": url, "title": title})
        got = await quiet_all(*vars(s).values())
        assert all(v == [] for v in got.values()), got

        await s.va.send({"type": "page.view", "url": "x" * 2001})
        error = await s.va.until("error")
        assert error["code"] == "invalid_frame" and "url" in error["fields"]
        await close_all(s)

    run(scenario())
    row = Visitor.objects.get(pk=w.va.pk)
    assert (row.page_url, row.page_title) == ("https://shop.example/p/1?q=<script>", "商品 <1>")
    assert list(VisitorPageView.objects.filter(visitor=w.va).values_list("url", "merchant_id")) == [
        ("https://shop.example/p/1?q=<script>", w.acme.pk)
    ]
    assert not VisitorPageView.objects.exclude(visitor=w.va).exists()


def test_page_trail_is_bounded(acme, bob, monkeypatch):
    monkeypatch.setattr(services.visitors, "PAGE_TRAIL_LIMIT", 3)
    visitor = factories.visitor(acme)
    cookie = session_cookie(bob.user)

    async def scenario():
        agent = await agent_sock(acme.pk, cookie)
        tab = await visitor_sock(acme, visitor)
        for i in range(6):
            await tab.send(
                {"type": "page.view", "url": f"https://shop.example/{i}", "title": str(i)}
            )
            await agent.until_match(
                lambda f: (
                    f["type"] == "visitor.updated"
                    and f["visitor"]["page_url"] == f"https://shop.example/{i}"
                )
            )
        await tab.close()
        await agent.close()

    run(scenario())
    urls = VisitorPageView.objects.filter(visitor=visitor).order_by("id").values_list("url")
    assert [u for (u,) in urls] == [f"https://shop.example/{i}" for i in (3, 4, 5)]


# --- read events --------------------------------------------------------------------------------


def test_read_events_reach_the_right_sockets_and_update_unread_counts(world, channel_layer_kind):
    w = world
    factories.agent_message(w.bob, w.ca, "reply 2")
    factories.agent_message(w.bob, w.ca, "reply 3")
    factories.agent_message(w.bob, w.ca, "private", private=True)
    conversation = Conversation.objects.get(pk=w.ca)
    assert (conversation.unread_visitor_count, conversation.unread_agent_count) == (2, 1)

    async def scenario():
        s = await cast(w)
        await s.va.send({"type": "conversation.read", "seq": 4})
        by_visitor = {
            "type": "conversation.read",
            "conversation_id": w.ca,
            "reader": "visitor",
            "user_id": None,
            "seq": 4,
        }
        assert await s.bob.until("conversation.read") == by_visitor
        assert await s.alice.until("conversation.read") == by_visitor
        assert await s.va2.until("conversation.read") == by_visitor  # the visitor's other tab
        got = await quiet_all(*vars(s).values())
        assert all(got[n] == [] for n in ("bob", "alice", "va2", "vb", "charlie", "vo")), got

        await s.bob.send({"type": "conversation.read", "conversation_id": w.ca, "seq": 1})
        to_visitor = {
            "type": "conversation.read",
            "conversation_id": w.ca,
            "reader": "agent",
            "user_id": None,
            "seq": 1,
        }
        assert await s.va.until("conversation.read") == to_visitor
        assert await s.va2.until("conversation.read") == to_visitor
        mark = len(s.alice.log)
        assert await s.alice.until("conversation.read") == dict(to_visitor, user_id=w.bob.user_id)
        got = await quiet_all(*vars(s).values())
        assert all(got[n] == [] for n in ("va", "va2", "vb", "charlie", "vo")), got
        # ... and the inbox row with the new unread count (published just before).
        updates = [f for f in s.alice.log[mark:] if f["type"] == "conversation.updated"]
        assert [(u["conversation"]["id"], u["conversation"]["unread_count"]) for u in updates] == [
            (w.ca, 0)
        ]
        assert not [
            f
            for f in s.alice.log[mark:]
            if f["type"] not in ("conversation.updated", "conversation.read")
        ]

        # Reading again up to where it already is: nothing moves, nothing is sent.
        await s.bob.send({"type": "conversation.read", "conversation_id": w.ca, "seq": 1})
        await s.va.send({"type": "conversation.read", "seq": 2})
        got = await quiet_all(*vars(s).values())
        assert all(v == [] for v in got.values()), got
        await close_all(s)

    run(scenario())
    conversation.refresh_from_db()
    assert (conversation.unread_visitor_count, conversation.visitor_last_read_seq) == (0, 4)
    assert (conversation.unread_agent_count, conversation.agent_last_read_seq) == (0, 1)


# --- collision view -----------------------------------------------------------------------------


def test_conversation_view_lists_viewers_with_typing_and_clears_on_close(world, channel_layer_kind):
    w = world
    alice_id, bob_id = w.alice.user_id, w.bob.user_id
    assert alice_id < bob_id  # viewers are listed by user id

    def viewers(frame):
        return [(v["user_id"], v["name"], v["typing"]) for v in frame["viewers"]]

    def about(conversation_id):
        return lambda f: f["type"] == "viewers.changed" and f["conversation_id"] == conversation_id

    async def scenario():
        s = await cast(w)
        s.bob2 = await agent_sock(w.acme.pk, w.cookies["bob"], "bob2")
        await quiet_all(*vars(s).values())

        await s.alice.send({"type": "conversation.view", "conversation_id": w.ca})
        for sock in (s.alice, s.bob, s.bob2):
            assert viewers(await sock.until_match(about(w.ca))) == [(alice_id, "Alice 客服", False)]
        await s.bob.send({"type": "conversation.view", "conversation_id": w.ca})
        both = [(alice_id, "Alice 客服", False), (bob_id, "Bob", False)]
        assert viewers(await s.alice.until_match(about(w.ca))) == both

        await s.bob.send({"type": "typing", "conversation_id": w.ca, "active": True})
        typing = await s.alice.until_match(about(w.ca))
        assert viewers(typing) == [(alice_id, "Alice 客服", False), (bob_id, "Bob", True)]
        await s.bob.send({"type": "typing", "conversation_id": w.ca, "active": False})
        assert viewers(await s.alice.until_match(about(w.ca))) == both

        # bob's second tab views it too: bob is listed once; closing one tab keeps him.
        await s.bob2.send({"type": "conversation.view", "conversation_id": w.ca})
        assert viewers(await s.alice.until_match(about(w.ca))) == both
        await s.bob.close()
        assert viewers(await s.alice.until_match(about(w.ca))) == both
        await s.bob2.close()
        assert viewers(await s.alice.until_match(about(w.ca))) == [(alice_id, "Alice 客服", False)]

        # Switching to another conversation clears the first one.
        await s.alice.send({"type": "conversation.view", "conversation_id": w.cb})
        assert viewers(await s.alice.until_match(about(w.ca))) == []
        assert viewers(await s.alice.until_match(about(w.cb))) == [(alice_id, "Alice 客服", False)]
        await s.alice.send({"type": "conversation.view", "conversation_id": None})
        assert viewers(await s.alice.until_match(about(w.cb))) == []

        # charlie cannot view (or reveal himself in) acme's conversation.
        await quiet_all(s.alice, s.charlie, s.va, s.va2, s.vb, s.vo)
        await s.charlie.send({"type": "conversation.view", "conversation_id": w.ca})
        assert (await s.charlie.until("error"))["code"] == "not_found"
        got = await quiet_all(s.alice, s.charlie, s.va, s.va2, s.vb, s.vo)
        assert all(v == [] for v in got.values()), got
        for sock in (s.va, s.va2, s.vb, s.vo):
            assert not [f for f in sock.log if f["type"] == "viewers.changed"]
        for sock in (s.alice, s.charlie, s.va, s.va2, s.vb, s.vo):
            await sock.close()

    run(scenario())


# --- rate limit ---------------------------------------------------------------------------------


def test_rate_limit_refuses_burst_stores_nothing_charges_pings_and_recovers(world, settings):
    settings.WS_RATE_BURST = 3
    settings.WS_RATE_PER_SECOND = 0.5  # one token per 2 s: no refill during the burst
    w = world
    before = Message.objects.exclude(kind="event").count()

    async def scenario():
        agent = await agent_sock(w.acme.pk, w.cookies["bob"])
        for i in range(6):
            await agent.send(
                {
                    "type": "message.send",
                    "client_msg_id": f"r{i}",
                    "body": f"b{i}",
                    "conversation_id": w.ca,
                }
            )
        answers = []
        while len(answers) < 6:
            frame = await agent.until_match(lambda f: f["type"] in ("message.ack", "error"))
            answers.append(frame)
        acks = [f["client_msg_id"] for f in answers if f["type"] == "message.ack"]
        errors = [f for f in answers if f["type"] == "error"]
        assert acks == ["r0", "r1", "r2"]
        assert [(e["code"], e["ref"]) for e in errors] == [
            ("rate_limited", f"r{i}") for i in (3, 4, 5)
        ]
        assert all(0 < e["retry_after"] <= 2 for e in errors)
        assert await count_messages() == before + 3
        # Pings and other frames are limited too, and the refusal does nothing.
        await agent.send({"type": "ping"})
        assert (await agent.until("error"))["code"] == "rate_limited"
        await agent.send({"type": "typing", "conversation_id": w.ca, "active": True})
        error = await agent.until("error")
        assert error["code"] == "rate_limited"
        await asyncio.sleep(error["retry_after"] + 0.1)
        await agent.send(
            {
                "type": "message.send",
                "client_msg_id": "later",
                "body": "ok",
                "conversation_id": w.ca,
            }
        )
        ack = await agent.until_match(lambda f: f["type"] in ("message.ack", "error"))
        assert ack["type"] == "message.ack" and ack["client_msg_id"] == "later"
        await agent.close()

    run(scenario())
    bodies = set(Message.objects.filter(conversation_id=w.ca).values_list("body", flat=True))
    assert {"b0", "b1", "b2", "ok"} <= bodies and not {"b3", "b4", "b5"} & bodies
    assert Message.objects.exclude(kind="event").count() == before + 4


def test_rate_limit_applies_to_visitor_sockets(acme, settings):
    settings.WS_RATE_BURST = 2  # auth takes one token
    settings.WS_RATE_PER_SECOND = 0.5
    visitor = factories.visitor(acme)

    async def scenario():
        tab = await visitor_sock(acme, visitor)
        for i in range(3):
            await tab.send({"type": "message.send", "client_msg_id": f"v{i}", "body": "x"})
        first = await tab.until_match(lambda f: f["type"] in ("message.ack", "error"))
        assert first["type"] == "message.ack"
        errors = [await tab.until("error") for _ in range(2)]
        assert [e["code"] for e in errors] == ["rate_limited"] * 2
        await tab.send({"type": "ping"})  # charged too: refused, the socket stays up
        assert (await tab.until("error"))["code"] == "rate_limited"
        await asyncio.sleep(2.1)  # one token back
        await tab.ping()
        await tab.close()

    run(scenario())
    assert Message.objects.exclude(kind="event").count() == 1


# --- sockets per visitor ----------------------------------------------------------------------


def test_too_many_sockets_for_one_visitor(world, settings, channel_layer_kind):
    settings.WS_MAX_SOCKETS_PER_VISITOR = 2
    w = world

    async def scenario():
        agent = await agent_sock(w.acme.pk, w.cookies["bob"], "bob")
        await agent.drain()
        tab1 = await visitor_sock(w.acme, w.va, "tab1")
        tab2 = await visitor_sock(w.acme, w.va, "tab2")
        comm, connected, _ = await open_visitor(w.acme)
        assert connected
        token = await sync_to_async(visitor_token_issue)(merchant_id=w.acme.pk, visitor_id=w.va.pk)
        await comm.send_json_to({"type": "auth", "token": token})
        error = await comm.receive_json_from(timeout=5)
        assert error["type"] == "error" and error["code"] == "too_many_sockets"
        assert await comm.receive_output(timeout=5) == {"type": "websocket.close", "code": 4429}
        await comm.disconnect()

        # The two others keep working; the agent heard "online" once, not "offline".
        await tab1.ping()
        await tab2.send({"type": "message.send", "client_msg_id": "m", "body": "still here"})
        await tab2.until("message.ack")
        assert (await tab1.until("message.created"))["message"]["body"] == "still here"
        got = await agent.drain()
        updates = [f for f in agent.log if f["type"] == "visitor.updated"]
        assert [u["visitor"]["online"] for u in updates] == [True], got

        # A slot frees when a tab closes.
        await tab1.close()
        tab3 = await visitor_sock(w.acme, w.va, "tab3")
        await tab3.ping()
        for sock in (tab2, tab3, agent):
            await sock.close()

    run(scenario())
    assert Message.objects.filter(body="still here").count() == 1


# --- heartbeat --------------------------------------------------------------------------------


@pytest.mark.slow  # more than ~2 s of waiting on timers
def test_silent_sockets_are_closed_4408_and_pinging_ones_stay(world, settings):
    settings.WS_HEARTBEAT_TIMEOUT = 1
    w = world

    async def closed_code(comm, timeout=4):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = await comm.receive_output(timeout=deadline - time.monotonic())
            if out["type"] == "websocket.close":
                return out.get("code")
        return None

    async def scenario():
        silent_visitor = await visitor_sock(w.acme, w.va, "silent")
        assert silent_visitor.ready["heartbeat_seconds"] == 1
        silent_agent = await agent_sock(w.acme.pk, w.cookies["alice"], "alice")
        assert silent_agent.ready["heartbeat_seconds"] == 1
        never_authed, connected, _ = await open_visitor(w.acme)
        assert connected
        busy = await agent_sock(w.acme.pk, w.cookies["bob"], "bob")
        busy_visitor = await visitor_sock(w.acme, w.vb, "busy")

        async def keep_pinging():
            for _ in range(9):
                await asyncio.sleep(0.3)
                await busy.ping()
                await busy_visitor.ping()

        codes = await asyncio.gather(
            closed_code(silent_visitor.comm),
            closed_code(silent_agent.comm),
            closed_code(never_authed),
            keep_pinging(),
        )
        assert codes[:3] == [4408, 4408, 4408]
        for comm in (silent_visitor.comm, silent_agent.comm, never_authed):
            await comm.disconnect(timeout=5)
        # Closing the silent visitor's socket tells the agents it went offline.
        offline = await busy.until_match(
            lambda f: f["type"] == "visitor.updated" and f["visitor"]["id"] == w.va.pk
        )
        assert offline["visitor"]["online"] is False
        await busy.ping()
        await busy_visitor.ping()
        await busy.close()
        await busy_visitor.close()

    run(scenario())


def test_rate_limit_also_charges_garbage_and_malformed_pings(acme, bob, settings):
    settings.WS_RATE_BURST = 3
    settings.WS_RATE_PER_SECOND = 0.5
    cookie = session_cookie(bob.user)

    async def scenario():
        agent = await agent_sock(acme.pk, cookie)
        await agent.drain()
        codes = []
        for raw in [
            "not json",
            "[1]",
            '{"type": "ping", "x": 1}',
            "not json",
            "x" * 70000,
            '{"type": "ping", "x": 1}',
            '{"type": "nope"}',
        ]:
            await agent.comm.send_to(text_data=raw)
            codes.append((await agent.until("error"))["code"])
        assert codes == ["invalid_json", "invalid_json", "invalid_frame"] + ["rate_limited"] * 4
        await agent.send({"type": "ping"})  # a well-formed ping is charged too (finding 9)
        assert (await agent.until("error"))["code"] == "rate_limited"
        await agent.close()

    run(scenario())
