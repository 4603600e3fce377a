"""Sockets over time and in numbers, against real daphne processes and real Redis: idle sockets,
heartbeats, 500 sockets dropped at once, two processes sharing one conversation, rate limits
and the per-visitor socket cap. Run with `-s` for the measured numbers (docs/realtime.md)."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import time

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from conversations.models import Message, Visitor
from conversations.tokens import visitor_token_issue
from tests.realtime.checks import settle_and_check
from tests.realtime.clients import (
    SITE_ORIGIN,
    AgentClient,
    VisitorClient,
    bootstrap,
    wait_until,
)
from tests.realtime.conftest import KEY_PREFIX, error_lines, run
from tests.realtime.test_faults import start_chat
from tests.wsclient import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

# docs/realtime.md pitfall 7: daphne logs this when it writes to a socket that just went away.
CLOSED_PROTOCOL = "Attempt to send on a closed protocol"


def pair(server, shop, **kw) -> tuple[VisitorClient, AgentClient]:
    boot = bootstrap(server.url, shop["key"])
    return (
        VisitorClient([server.ws_url], boot, name="v", **kw),
        AgentClient([server.ws_url], shop["merchant"].pk, shop["cookie"], name="a", **kw),
    )


async def round_trip(visitor: VisitorClient, agent: AgentClient, conversation: int) -> None:
    """One message each way, each arriving as a live broadcast."""
    n_agent, n_visitor = len(agent.frames), len(visitor.frames)
    sent = await visitor.send("还在吗？")
    await agent.next_frame("message.created", n_agent, message__client_msg_id=sent)
    reply = await agent.send("在的。", conversation_id=conversation)
    await visitor.next_frame("message.created", n_visitor, message__client_msg_id=reply)


def test_idle_sockets_stay_up_past_30_seconds(servers, shop, redis_server):
    # Default settings: heartbeat timeout 75 s, so clients ping every 25 s (session.ready).
    server = servers.start(redis_server.url)
    visitor, agent = pair(server, shop)

    async def scenario():
        conversation = await start_chat(visitor, agent)
        await asyncio.sleep(32)
        # Redis connections idle as long (docs/realtime.md pitfall 3: a 5 s socket timeout
        # killed idle consumers); both sockets are the ones opened before the wait.
        assert (visitor.ready, agent.ready) == (True, True)
        assert (visitor.connects, agent.connects) == (1, 1)
        await round_trip(visitor, agent, conversation)
        await settle_and_check(conversation, [visitor], [agent])

    run(scenario())
    assert visitor.heartbeat_seconds == agent.heartbeat_seconds == 25
    # One ping each at 25 s, answered.
    assert len(visitor.of_type("pong")) == len(agent.of_type("pong")) == 1
    assert not visitor.close_codes and not agent.close_codes
    assert error_lines(server) == []


def test_silent_sockets_are_closed_with_4408(servers, shop, layer_url):
    server = servers.start(layer_url, WS_HEARTBEAT_TIMEOUT="3")
    quiet_visitor, quiet_agent = pair(server, shop, pings=False)
    talking_visitor, talking_agent = pair(server, shop)
    closed_after: dict[str, float] = {}

    async def never_authenticates():
        start = time.monotonic()
        async with websockets.connect(
            server.ws_url + quiet_visitor.boot["ws_path"], origin=SITE_ORIGIN, ping_interval=None
        ) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            closed_after["unauthenticated"] = time.monotonic() - start
            return closed.value.rcvd.code

    async def watch(client):
        await wait_until(lambda: not client.ready, 10, f"{client.name} to be closed")
        # From its session.ready, i.e. just after its last frame (auth) or its handshake.
        closed_after[client.name] = time.monotonic() - client.ready_at

    quiet_visitor.name, quiet_agent.name = "quiet visitor", "quiet agent"

    async def scenario():
        for client in (quiet_visitor, quiet_agent, talking_visitor, talking_agent):
            await client.connect()
        unauthenticated = asyncio.ensure_future(never_authenticates())
        await asyncio.gather(watch(quiet_visitor), watch(quiet_agent))
        code = await unauthenticated
        await asyncio.sleep(7 - min(closed_after.values()))  # > 2 timeouts in all
        return code

    code = run(scenario())
    assert code == 4408
    assert quiet_visitor.close_codes == quiet_agent.close_codes == [4408]
    # Closed after the timeout, at the watchdog's next tick (timeout / 3).
    assert all(2.9 <= seconds < 5 for seconds in closed_after.values()), closed_after
    # Clients that ping at heartbeat_seconds (here 1) stay.
    assert talking_visitor.heartbeat_seconds == 1
    assert talking_visitor.ready and talking_agent.ready
    assert (talking_visitor.connects, talking_agent.connects) == (1, 1)
    print(
        f"\nheartbeat 3 s: silent sockets closed after "
        f"{ {k: round(v, 2) for k, v in closed_after.items()} } s"
    )


SOCKETS = 500


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


def test_rate_limit_refuses_a_burst_keeps_the_socket_and_spares_others(servers, shop, layer_url):
    server = servers.start(layer_url)  # defaults: 10 frames/s, burst 30
    flooder = VisitorClient([server.ws_url], bootstrap(server.url, shop["key"]), name="flood")
    good, agent = pair(server, shop)
    burst = 300

    async def scenario():
        await flooder.connect()
        conversation = await start_chat(good, agent)
        latencies = []

        async def flood():
            # An abusive client: raw frames as fast as the socket takes them, no retries.
            for i in range(burst):
                await flooder.send_frame(
                    {"type": "message.send", "client_msg_id": f"f-{i}", "body": f"刷屏 {i}"}
                )

        async def chat():
            for i in range(10):
                start = time.monotonic()
                sent = await good.send(f"正常 {i}")
                await wait_until(lambda: sent in good.acks, 10, "the good visitor's ack")
                latencies.append(time.monotonic() - start)
                await asyncio.sleep(0.05)

        start = time.monotonic()
        await asyncio.gather(flood(), chat())
        answered = lambda: {
            f.get("client_msg_id") or f.get("ref")
            for f in flooder.frames
            if f["type"] in ("message.ack", "error")
        }
        await wait_until(
            lambda: len(answered() & {f"f-{i}" for i in range(burst)}) == burst,
            20,
            "an answer to every flood frame",
        )
        elapsed = time.monotonic() - start
        await settle_and_check(conversation, [good], [agent])

        # The socket is still up: it answers a ping at once, with a pong or, when the flood's
        # last frames left its bucket empty (pings are charged too), with rate_limited; and,
        # after waiting as told, may send again.
        n = len(flooder.frames)
        await flooder.send_frame({"type": "ping"})
        await wait_until(
            lambda: any(
                f["type"] == "pong" or f.get("code") == "rate_limited" for f in flooder.frames[n:]
            ),
            5,
            "the flooder's ping answered",
        )
        await asyncio.sleep(max(e["retry_after"] for e in flooder.errors))
        late = await flooder.send("等了一下")
        await wait_until(lambda: late in flooder.acks, 5, "the ack after waiting")

        # A well-behaved client bursting above the limit: its outbox resends what was
        # refused after retry_after, so everything is stored once. The server charges a frame
        # when it handles it, one after another, so 45 messages alone empty the bucket only
        # while storing one takes less than ~33 ms: on a loaded machine they refilled it as
        # fast as they drained it and none was refused. The burst therefore starts with pings,
        # which are charged too but answered at once, written back to back with the messages:
        # the messages meet an empty bucket however slowly each is stored.
        errors_before_burst = len(good.errors)
        for _ in range(35):
            await good.send_frame({"type": "ping"})
        for i in range(45):
            await good.send(f"连发 {i}")
        await settle_and_check(conversation, [good], [agent])
        return latencies, elapsed, errors_before_burst

    latencies, elapsed, errors_before_burst = run(scenario())
    acks = [
        f
        for f in flooder.frames
        if f["type"] == "message.ack" and f["client_msg_id"].startswith("f-")
    ]
    refused = [e for e in flooder.errors if (e.get("ref") or "").startswith("f-")]
    assert len(acks) + len(refused) == burst
    assert {e["code"] for e in refused} == {"rate_limited"}
    assert all(e["retry_after"] > 0 for e in refused)
    # At most the burst plus what refilled while the flood lasted got through.
    assert 30 <= len(acks) <= 30 + 10 * elapsed + 1, (len(acks), elapsed)
    assert flooder.connects == 1 and flooder.ready
    # The other visitor on the same process was neither limited nor held up (its ack comes
    # in ~10-20 ms on an idle machine; the bound leaves room for a loaded CI runner).
    assert max(latencies) < 1.0, latencies
    assert not [e for e in good.errors[:errors_before_burst] if e["code"] == "rate_limited"], (
        "the other visitor was limited during the flood"
    )
    # In its own burst: refused pings (no ref) and messages of the burst, nothing else.
    good_refused = [e for e in good.errors if e["code"] == "rate_limited" and e.get("ref")]
    assert all(
        e["ref"].startswith("v-") and "连发" in good.sent[e["ref"]]["body"] for e in good_refused
    ), good_refused
    assert good_refused, "the 45-message burst was not rate limited"
    print(
        f"\nrate limit: {len(acks)} of {burst} flood frames accepted in {elapsed:.2f} s, "
        f"{len(refused)} refused; the other visitor's ack latency meanwhile "
        f"{min(latencies) * 1000:.0f}-{max(latencies) * 1000:.0f} ms; a well-behaved burst of "
        f"45 got {len(good_refused)} refusals and was stored whole after retries"
    )


def test_a_flooding_socket_is_read_as_fast_as_it_is_stored_and_spares_others(
    servers, shop, layer_url
):
    """Back-pressure (kefu/daphne_sockets.py, docs/realtime.md): a client that sends far more
    than its messages can be stored is not read ahead of its acks beyond a bound; its writes
    wait in its TCP buffers. Nothing is refused, lost or reordered, and another visitor on the
    same process is stored before the flood's backlog is."""
    # No token bucket in the way: the flood must reach the message path.
    server = servers.start(layer_url, WS_RATE_PER_SECOND="100000", WS_RATE_BURST="100000")
    flood_boot = bootstrap(server.url, shop["key"])
    good, agent = pair(server, shop)
    frames = 300
    body = "刷" * 4000  # 12 KB per frame: the kernel's buffers hold a few dozen of them

    async def scenario():
        conversation = await start_chat(good, agent)
        # A small send buffer, so what waits for the server is in its input queue and its
        # receive buffer, not in megabytes of the client's kernel buffer.
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
        ws = await websockets.connect(
            server.ws_url + flood_boot["ws_path"], origin=SITE_ORIGIN, sock=sock, max_size=None
        )
        await ws.send(json.dumps({"type": "auth", "token": flood_boot["token"]}))
        acks, errors, ready = [], [], asyncio.Event()

        async def read():
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] == "session.ready":
                    ready.set()
                elif frame["type"] == "message.ack":
                    acks.append((frame["client_msg_id"], frame["message"]["seq"]))
                elif frame["type"] == "error":
                    errors.append(frame)

        reader = asyncio.ensure_future(read())
        await asyncio.wait_for(ready.wait(), 20)
        sent, ahead = 0, []

        async def flood():
            nonlocal sent
            for i in range(frames):
                frame = {"type": "message.send", "client_msg_id": f"f-{i}", "body": f"{i} {body}"}
                await ws.send(json.dumps(frame, ensure_ascii=False))
                sent += 1
                ahead.append(sent - len(acks))

        quiet = []  # (seconds to the ack, flood acks by then)

        async def chat():
            await asyncio.sleep(0.3)  # the flood's backlog has built up
            for i in range(5):
                start = time.monotonic()
                cid = await good.send(f"正常 {i}")
                await wait_until(lambda: cid in good.acks, 20, "the quiet visitor's ack")
                quiet.append((time.monotonic() - start, len(acks)))
                await asyncio.sleep(0.1)

        await asyncio.gather(flood(), chat())
        await wait_until(lambda: len(acks) == frames or errors, 120, "every flood ack")
        await settle_and_check(conversation, [good], [agent])
        reader.cancel()
        await ws.close()
        return acks, errors, ahead, quiet

    acks, errors, ahead, quiet = run(scenario(), timeout=180)
    assert errors == []
    # Every frame stored once, in sending order, seqs in sending order (the router's line
    # after the first message takes a seq too).
    assert [cid for cid, _ in acks] == [f"f-{i}" for i in range(frames)]
    seqs = [seq for _, seq in acks]
    assert seqs == sorted(set(seqs))
    flooder = Visitor.objects.get(pk=flood_boot["visitor_id"])
    stored = Message.objects.filter(conversation__visitor=flooder, sender_kind="visitor")
    assert stored.count() == frames
    # Without the bound the server read the whole flood at once (all 300 ahead of their acks);
    # with it: 16 frames in the input queue, one 64 KB read, the kernel's buffers.
    assert max(ahead) <= frames // 2, max(ahead)
    # The quiet visitor went before the flood's backlog, each time.
    assert all(flood_acked < frames for _, flood_acked in quiet), quiet
    assert max(seconds for seconds, _ in quiet) < 2.0, quiet
    print(
        f"\nback-pressure: at most {max(ahead)} of {frames} flood frames ahead of their acks; "
        f"the quiet visitor's acks in {min(quiet)[0] * 1000:.0f}-{max(quiet)[0] * 1000:.0f} ms, "
        f"with {quiet[0][1]}-{quiet[-1][1]} of the flood stored by then"
    )


def test_too_many_tabs_get_4429_and_a_closed_tab_frees_its_slot(servers, shop, layer_url):
    server = servers.start(layer_url, WS_MAX_SOCKETS_PER_VISITOR="3")
    boot = bootstrap(server.url, shop["key"])
    tabs = [VisitorClient([server.ws_url], boot, name=f"tab{i}") for i in range(3)]

    async def one_more_tab():
        async with websockets.connect(
            server.ws_url + boot["ws_path"], origin=SITE_ORIGIN, ping_interval=None
        ) as ws:
            await ws.send(json.dumps({"type": "auth", "token": boot["token"]}))
            frame = json.loads(await ws.recv())
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            return frame, closed.value.rcvd.code

    async def scenario():
        for tab in tabs:
            await tab.connect()
        frame, code = await one_more_tab()
        assert (frame["type"], frame["code"], code) == ("error", "too_many_sockets", 4429)
        # The refused tab did not take a slot, and the open tabs are untouched: a message
        # from one reaches the others.
        sent = await tabs[0].send("三个标签页")
        for tab in tabs[1:]:
            await tab.next_frame("message.created", 0, message__client_msg_id=sent)
        await tabs[2].leave()
        fourth = VisitorClient([server.ws_url], boot, name="tab3")
        await fourth.connect()
        await wait_until(lambda: fourth.seqs(tabs[0].conversation) == [1], 5, "the replay")
        for client in (*tabs, fourth):
            await client.close()

    run(scenario())


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
