"""Presence: agents' online/away/offline across tabs and merchants, visitors' online/offline,
and expiry of entries whose socket died without a disconnect. Each test that involves delivery
or the store runs twice: in-memory store and layer, then Redis store and layer."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from conversations import presence
from conversations.tokens import visitor_token_issue
from merchants.models import Membership
from tests import factories
from tests.conversations.realtime_helpers import (
    agent_sock,
    fresh_realtime,  # noqa: F401 (autouse)
    quiet_all,
    run,
    visitor_sock,
)
from tests.wsclient import open_visitor, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["memory", "redis"])
def store_kind(request):
    return request.param


def statuses(ready) -> dict[int, tuple[str, str]]:
    return {a["user_id"]: (a["name"], a["status"]) for a in ready["agents"]}


def presence_of(user_id):
    return lambda f: f["type"] == "presence.changed" and f["agent"]["user_id"] == user_id


# --- agents -----------------------------------------------------------------------------------


def test_agent_online_away_offline_across_tabs(acme, alice, bob, charlie, channel_layer_kind):
    visitor = factories.visitor(acme)
    factories.visitor_message(visitor, "hi")
    cookies = {m.user.username: session_cookie(m.user) for m in (alice, bob, charlie)}
    bob_id = bob.user_id

    async def scenario():
        watcher = await agent_sock(acme.pk, cookies["alice"], "alice")
        spy = await agent_sock(charlie.merchant_id, cookies["charlie"], "charlie")
        guest = await visitor_sock(acme, visitor, "visitor")
        await quiet_all(watcher, spy, guest)

        tab1 = await agent_sock(acme.pk, cookies["bob"], "bob1")
        assert statuses(tab1.ready)[bob_id] == ("Bob", "online")
        assert (await watcher.until_match(presence_of(bob_id)))["agent"] == {
            "user_id": bob_id,
            "name": "Bob",
            "status": "online",
        }
        tab2 = await agent_sock(acme.pk, cookies["bob"], "bob2")
        await quiet_all(watcher, tab1, tab2)

        await tab1.send({"type": "presence.set", "status": "away"})
        assert (await watcher.until_match(presence_of(bob_id)))["agent"]["status"] == "away"
        # Every tab of bob, this one included, shows the same status.
        assert (await tab1.until_match(presence_of(bob_id)))["agent"]["status"] == "away"
        assert (await tab2.until_match(presence_of(bob_id)))["agent"]["status"] == "away"
        assert await sync_to_async(lambda: Membership.objects.get(pk=bob.pk).is_away)() is True

        # Closing the tab that did not set "away" leaves bob connected and still away.
        await tab2.close()
        assert (await watcher.until_match(presence_of(bob_id)))["agent"]["status"] == "away"

        # Away survives a reconnect (it is stored, not per socket).
        tab3 = await agent_sock(acme.pk, cookies["bob"], "bob3")
        assert statuses(tab3.ready)[bob_id] == ("Bob", "away")
        assert (await watcher.until_match(presence_of(bob_id)))["agent"]["status"] == "away"

        await tab3.send({"type": "presence.set", "status": "online"})
        assert (await watcher.until_match(presence_of(bob_id)))["agent"]["status"] == "online"
        await tab3.close()
        assert (await watcher.until_match(presence_of(bob_id)))["agent"]["status"] == "online"
        await tab1.close()  # the last socket
        assert (await watcher.until_match(presence_of(bob_id)))["agent"]["status"] == "offline"

        got = await quiet_all(spy, guest)
        # The visitor learns the merchant's availability (its status line), never who is there.
        assert got["charlie"] == [] and {f["type"] for f in got["visitor"]} <= {
            "availability.changed"
        }
        assert not [
            f
            for f in spy.log + guest.log
            if f["type"] == "presence.changed" and f["agent"]["user_id"] != charlie.user_id
        ]
        assert not [f for f in guest.log if f["type"] == "presence.changed"]
        for sock in (watcher, spy, guest):
            await sock.close()

    run(scenario())
    assert Membership.objects.get(pk=bob.pk).is_away is False


def test_presence_set_invalid_status_changes_nothing(acme, bob):
    cookie = session_cookie(bob.user)

    async def scenario():
        tab = await agent_sock(acme.pk, cookie)
        await tab.drain()
        for status in ("offline", "busy", None):
            await tab.send({"type": "presence.set", "status": status})
            error = await tab.until("error")
            assert error["code"] == "invalid_frame" and "status" in error["fields"]
        assert await tab.drain() == []
        await tab.close()

    run(scenario())
    assert Membership.objects.get(pk=bob.pk).is_away is False


def test_session_ready_lists_only_this_merchants_agents(
    acme, other, alice, bob, charlie, channel_layer_kind
):
    # dave works for both merchants, is connected to other only; erin left acme.
    dave_acme = factories.member(acme, "dave", display_name="Dave")
    factories.member(other, "dave", display_name="Dave at Other")
    dave_acme.user.refresh_from_db()  # membership_add set the password again: new session hash
    erin = factories.member(acme, "erin", display_name="Erin")
    erin.is_active = False
    erin.save()
    cookies = {m.user.username: session_cookie(m.user) for m in (bob, charlie, dave_acme)}

    async def scenario():
        spy = await agent_sock(other.pk, cookies["charlie"], "charlie")
        dave_at_other = await agent_sock(other.pk, cookies["dave"], "dave@other")
        tab = await agent_sock(acme.pk, cookies["bob"], "bob")
        agents = tab.ready["agents"]
        assert [(a["user_id"], a["name"], a["status"]) for a in agents] == [
            (alice.user_id, "Alice 客服", "offline"),
            (bob.user_id, "Bob", "online"),
            (dave_acme.user_id, "Dave", "offline"),
        ]
        # The other side sees its own staff only.
        assert {a["user_id"]: a["status"] for a in dave_at_other.ready["agents"]} == {
            charlie.user_id: "online",
            dave_acme.user_id: "online",
        }
        await quiet_all(spy, dave_at_other, tab)

        dave_at_acme = await agent_sock(acme.pk, cookies["dave"], "dave@acme")
        frame = await tab.until_match(presence_of(dave_acme.user_id))
        assert frame["agent"] == {"user_id": dave_acme.user_id, "name": "Dave", "status": "online"}
        # Away at acme is not away at other.
        await dave_at_acme.send({"type": "presence.set", "status": "away"})
        assert (await tab.until_match(presence_of(dave_acme.user_id)))["agent"]["status"] == "away"
        got = await quiet_all(spy, dave_at_other)
        assert got == {"charlie": [], "dave@other": []}
        again = await agent_sock(other.pk, cookies["charlie"], "charlie2")
        at_other = {a["user_id"]: a["status"] for a in again.ready["agents"]}
        assert at_other[dave_acme.user_id] == "online"
        for sock in (spy, dave_at_other, tab, dave_at_acme, again):
            await sock.close()

    run(scenario())


def availability_changed(f):
    return f["type"] == "availability.changed"


def test_visitors_follow_the_merchants_availability(acme, other, bob, charlie, channel_layer_kind):
    """The widget's status line: session.ready says online / away / offline, and every change
    of an agent's presence reaches the merchant's visitors, never another merchant's."""
    guest = factories.visitor(acme)
    outsider = factories.visitor(other)
    cookies = session_cookie(bob.user), session_cookie(charlie.user)

    async def scenario():
        visitor = await visitor_sock(acme, guest, "visitor")
        assert visitor.ready["availability"] == {
            "open": True,
            "agents": "offline",
            "offline_form": True,
            "next_opening": None,
        }
        spy = await visitor_sock(other, outsider, "other's visitor")
        charlie_tab = await agent_sock(other.pk, cookies[1], "charlie")
        assert (await spy.until_match(availability_changed))["availability"]["agents"] == "online"
        await quiet_all(visitor, spy, charlie_tab)

        tab = await agent_sock(acme.pk, cookies[0], "bob")
        got = (await visitor.until_match(availability_changed))["availability"]
        assert (got["agents"], got["offline_form"]) == ("online", False)
        await tab.send({"type": "presence.set", "status": "away"})
        got = (await visitor.until_match(availability_changed))["availability"]
        assert (got["agents"], got["offline_form"]) == ("away", True)
        await tab.send({"type": "presence.set", "status": "online"})
        assert (await visitor.until_match(availability_changed))["availability"]["agents"] == (
            "online"
        )
        await tab.close()
        assert (await visitor.until_match(availability_changed))["availability"]["agents"] == (
            "offline"
        )
        # A socket opened now starts from the current state.
        late = await visitor_sock(acme, guest, "late")
        assert late.ready["availability"]["agents"] == "offline"
        # Acme's agent never showed up at Other's visitors.
        assert [f for f in (await spy.drain()) if availability_changed(f)] == []
        for sock in (visitor, spy, charlie_tab, late):
            await sock.close()

    run(scenario())


# --- visitors ---------------------------------------------------------------------------------


@pytest.mark.slow  # more than ~2 s of waiting on timers
def test_visitor_online_on_first_socket_offline_after_last(acme, bob, charlie, channel_layer_kind):
    visitor = factories.visitor(acme, name="访客")
    conversation_id = factories.visitor_message(visitor, "hi").conversation_id
    bystander = factories.visitor(acme)
    cookies = session_cookie(bob.user), session_cookie(charlie.user)

    def about_visitor(f):
        return f["type"] == "visitor.updated" and f["visitor"]["id"] == visitor.pk

    async def scenario():
        agent = await agent_sock(acme.pk, cookies[0], "bob")
        spy = await agent_sock(charlie.merchant_id, cookies[1], "charlie")
        other_visitor = await visitor_sock(acme, bystander, "bystander")
        await quiet_all(agent, spy, other_visitor)

        tab1 = await visitor_sock(acme, visitor, "tab1")
        online = await agent.until_match(about_visitor)
        assert online["visitor"]["online"] is True and online["visitor"]["name"] == "访客"
        tab2 = await visitor_sock(acme, visitor, "tab2")
        await tab2.send({"type": "page.view", "url": "https://shop.example/b", "title": "B"})
        moved = await agent.until_match(about_visitor)
        assert (moved["visitor"]["page_url"], moved["visitor"]["online"]) == (
            "https://shop.example/b",
            True,
        )
        assert await quiet_all(agent) == {"bob": []}  # the second tab is not a second "online"

        await tab2.close()
        assert await quiet_all(agent) == {"bob": []}  # one tab left: still online
        await tab1.close()
        offline = await agent.until_match(about_visitor)
        assert offline["visitor"]["online"] is False
        # The frame carries the visitor as stored, not as the closing tab last knew it.
        assert offline["visitor"]["page_url"] == "https://shop.example/b"
        stopped = await agent.until("typing")
        assert (stopped["conversation_id"], stopped["active"]) == (conversation_id, False)

        got = await quiet_all(spy, other_visitor)
        assert got == {"charlie": [], "bystander": []}
        assert not [f for f in other_visitor.log if f["type"] == "visitor.updated"]
        for sock in (agent, spy, other_visitor):
            await sock.close()

    run(scenario())


# --- expiry of dead sockets -------------------------------------------------------------------


def watched() -> int:
    """Sockets the process's watchdog refreshes (conversations.consumers.housekeeping)."""
    from conversations.consumers import housekeeping

    return housekeeping.watched_count()


def test_agent_socket_killed_without_disconnect_expires(acme, alice, bob, store_kind, monkeypatch):
    monkeypatch.setattr(presence, "SOCKET_TTL", 0.6)
    cookies = session_cookie(alice.user), session_cookie(bob.user)

    async def scenario():
        doomed = await agent_sock(acme.pk, cookies[1], "bob")
        # Let the connect work (its own presence.changed) finish first: redis-py 8.1 swallows
        # a cancel that lands while it opens a connection, and the app would then live on.
        await doomed.until("presence.changed")
        assert watched() == 1
        # The server drops the application instance without a disconnect (as daphne does
        # when a consumer outlives application_close_timeout, or a process dies).
        doomed.comm.future.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(doomed.comm.future, 5)
        assert watched() == 0  # nothing keeps refreshing the dead socket's presence
        first = await agent_sock(acme.pk, cookies[0], "alice")
        assert statuses(first.ready)[bob.user_id][1] == "online"  # not expired yet
        await asyncio.sleep(0.8)
        second = await agent_sock(acme.pk, cookies[0], "alice2")
        assert statuses(second.ready)[bob.user_id][1] == "offline"
        for sock in (first, second):
            await sock.close()

    run(scenario())


def test_short_ttl_entries_expire_for_agents_visitors_and_viewers(
    acme, alice, bob, store_kind, settings
):
    settings.WS_MAX_SOCKETS_PER_VISITOR = 1
    visitor = factories.visitor(acme)
    conversation_id = factories.visitor_message(visitor, "hi").conversation_id
    cookie = session_cookie(bob.user)
    store = presence.store()
    assert type(store).__name__ == {"memory": "MemoryStore", "redis": "RedisStore"}[store_kind]

    def viewers_of(f):
        return f["type"] == "viewers.changed" and f["conversation_id"] == conversation_id

    async def auth_code():
        comm, connected, _ = await open_visitor(acme)
        assert connected
        token = await sync_to_async(visitor_token_issue)(merchant_id=acme.pk, visitor_id=visitor.pk)
        await comm.send_json_to({"type": "auth", "token": token})
        frame = await comm.receive_json_from(timeout=5)
        await comm.disconnect(timeout=5)
        return frame["type"] if frame["type"] != "error" else frame["code"]

    async def scenario():
        # Ghosts of sockets that died without a disconnect, living 3 s (0.4 s expired before the checks below ran on a loaded CI machine).
        await store.add(presence._agent_key(acme.pk, alice.user_id), "ghost-a", ttl=3)
        await store.add(presence._visitor_key(acme.pk, visitor.pk), "ghost-v", ttl=3)
        await store.add(
            presence._viewers_key(acme.pk, conversation_id), f"{alice.user_id}:1:ghost-a", ttl=3
        )

        tab = await agent_sock(acme.pk, cookie, "bob")
        assert statuses(tab.ready)[alice.user_id][1] == "online"
        assert await auth_code() == "too_many_sockets"  # the ghost holds the only slot
        await tab.send({"type": "conversation.view", "conversation_id": conversation_id})
        listed = await tab.until_match(viewers_of)
        assert [(v["user_id"], v["typing"]) for v in listed["viewers"]] == [
            (alice.user_id, True),
            (bob.user_id, False),
        ]
        await tab.close()

        await asyncio.sleep(3.2)
        tab = await agent_sock(acme.pk, cookie, "bob2")
        assert statuses(tab.ready)[alice.user_id][1] == "offline"
        assert await auth_code() == "session.ready"
        await tab.send({"type": "conversation.view", "conversation_id": conversation_id})
        listed = await tab.until_match(viewers_of)
        assert [v["user_id"] for v in listed["viewers"]] == [bob.user_id]
        await tab.close()

    run(scenario())


def test_the_watchdog_keeps_live_sockets_present_past_their_ttl(
    acme, bob, store_kind, settings, monkeypatch
):
    """Entries live SOCKET_TTL past their last refresh; the process's watchdog renews every
    live socket's at each tick, in one store round trip per chunk of sockets (housekeeping,
    presence.refresh): agent, visitor, the visitors-now list and the conversation viewed."""
    monkeypatch.setattr(presence, "SOCKET_TTL", 1.0)
    settings.WS_HEARTBEAT_TIMEOUT = 1.5  # a tick every 0.5 s (housekeeping.tick)
    visitor = factories.visitor(acme)
    conversation_id = factories.visitor_message(visitor, "hi").conversation_id
    cookie = session_cookie(bob.user)
    store = presence.store()

    async def scenario():
        # A ghost written like a socket's entry but never refreshed: gone after the TTL, which
        # shows the entries below live on only through the refresh.
        await store.add(presence._agent_key(acme.pk, 999_999), "ghost")
        agent = await agent_sock(acme.pk, cookie, "bob")
        await agent.send({"type": "conversation.view", "conversation_id": conversation_id})
        await agent.until_match(lambda f: f["type"] == "viewers.changed")
        guest = await visitor_sock(acme, visitor)
        for _ in range(6):  # 3 s, three TTLs; the pings keep both sockets from timing out
            await asyncio.sleep(0.5)
            await agent.ping()
            await guest.ping()
        connected = await presence.agents_connected(acme.pk, [bob.user_id, 999_999])
        assert connected == {bob.user_id: True, 999_999: False}
        assert await presence.visitors_live(acme.pk) == {visitor.pk}
        assert [v.user_id for v in await presence.viewers(acme.pk, conversation_id)] == [
            bob.user_id
        ]
        for sock in (agent, guest):
            await sock.close()
        assert await presence.visitors_live(acme.pk) == set()

    run(scenario())


def test_stores_expire_remove_and_batch(store_kind, settings):
    store = presence.store()
    key_a, key_b = "pres:m1:a1", "pres:m1:a2"

    async def scenario():
        await store.add(key_a, "s1")
        await store.add(key_a, "short", ttl=0.2)
        await store.add(key_b, "s2")
        assert sorted(await store.live(key_a)) == ["s1", "short"]
        await asyncio.sleep(0.3)
        assert await store.live(key_a) == ["s1"]
        assert await store.live_many([key_a, key_b, "pres:m1:a3"]) == [["s1"], ["s2"], []]
        await store.remove(key_a, "s1")
        await store.remove(key_a, "never-there")
        assert await store.live(key_a) == []

    run(scenario())
    assert store.live_many_sync([key_a, key_b]) == [[], ["s2"]]
    if store_kind == "redis":
        # Another prefix (another install or test run on the same Redis) sees nothing.
        stranger = presence.RedisStore(settings.REDIS_URL, settings.PRESENCE_KEY_PREFIX + "x")
        assert stranger.live_many_sync([key_b]) == [[]]

        async def ttl():
            # A short-lived member does not cut the key's backstop expiry below the socket TTL.
            await store.add(key_b, "short", ttl=0.1)
            client = store._client()
            return await client.ttl(store.prefix + key_b)

        assert run(ttl()) >= presence.SOCKET_TTL


def test_a_consumer_that_fails_still_frees_its_presence(acme):
    """A handler that raises ends the consumer without a websocket.disconnect (in production: a
    broadcast sent to a socket the client had just closed). Its presence entry must go, or the
    visitor's tab slot stays taken until it expires."""
    from channels.layers import get_channel_layer

    from conversations import realtime

    visitor = factories.visitor(acme)

    async def scenario():
        sock = await visitor_sock(acme, visitor)
        assert await sync_to_async(presence.visitors_online)(acme.pk, [visitor.pk]) == {
            visitor.pk: True
        }
        # A forwarded frame that cannot be sent (not JSON-serialisable) makes dispatch raise.
        await get_channel_layer().group_send(
            realtime.visitor_group(visitor.pk),
            {
                "type": "conversation.state",
                "frame": {"type": "conversation.state", "bad": object()},
            },
        )
        with pytest.raises(TypeError):
            await sock.comm.wait(5)
        assert await sync_to_async(presence.visitors_online)(acme.pk, [visitor.pk]) == {
            visitor.pk: False
        }

    run(scenario())
