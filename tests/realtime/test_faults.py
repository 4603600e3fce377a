"""Faults with real processes: a daphne killed with SIGKILL, Redis restarted empty, a connection
cut between `message.send` and its ack. Clients behave like the front ends (tests/realtime/
clients.py) and the end state is checked against the database: sent = stored = shown, once.

The numbers printed here (reconnect time, messages in flight, duplicates) are the ones quoted
in docs/realtime.md; run with `-s` to see them.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Message
from tests.conftest import redis_url
from tests.realtime.checks import settle_and_check
from tests.realtime.clients import AgentClient, VisitorClient, bootstrap, wait_until
from tests.realtime.conftest import KEY_PREFIX, RedisServer, error_lines, run

pytestmark = pytest.mark.django_db(transaction=True)

# Rate limits are tested in test_sockets; here they would only slow the senders down.
FAST = {"WS_RATE_PER_SECOND": "1000", "WS_RATE_BURST": "1000"}
# Seconds between sends on each side (~30 messages/s each): below what one process stores
# (~90/s here: one database thread per process, ~11 ms per commit), so queues stay short.
SEND_EVERY = 0.03


async def start_chat(visitor: VisitorClient, agent: AgentClient) -> int:
    await agent.connect()
    await visitor.connect()
    first = await visitor.send("你好，在吗？")
    await wait_until(lambda: first in visitor.acks, 10, "the first ack")
    conversation = visitor.acks[first]["conversation_id"]
    await agent.open_conversation(conversation)
    return conversation


async def pump(client, stop: asyncio.Event, **fields) -> None:
    """A person typing fast: a message every SEND_EVERY seconds, connected or not (the outbox
    keeps what cannot go out)."""
    n = 0
    while not stop.is_set():
        await client.send(f"{client.name} #{n} 消息", **fields)
        n += 1
        await asyncio.sleep(SEND_EVERY)


def unacked(client) -> int:
    return len(client.outbox)


def test_kill_9_of_one_server_loses_and_doubles_nothing(servers, shop, redis_server):
    a = servers.start(redis_server.url, **FAST)
    b = servers.start(redis_server.url, **FAST)
    boot = bootstrap(a.url, shop["key"])
    # Each client lists both servers, as nginx would: the visitor starts on A, the agent on B.
    visitor = VisitorClient([a.ws_url, b.ws_url], boot, name="v", auto_reconnect=True)
    agent = AgentClient(
        [b.ws_url, a.ws_url], shop["merchant"].pk, shop["cookie"], name="a", auto_reconnect=True
    )

    async def scenario():
        conversation = await start_chat(visitor, agent)
        assert (visitor.base, agent.base) == (a.ws_url, b.ws_url)
        stop = asyncio.Event()
        pumps = [
            asyncio.ensure_future(pump(visitor, stop)),
            asyncio.ensure_future(pump(agent, stop, conversation_id=conversation)),
        ]
        await asyncio.sleep(1.0)
        # A burst right before the kill, so messages are in flight: some committed on A
        # without an ack, some mid-transaction, some not read yet.
        for n in range(20):
            await visitor.send(f"burst {n}")
        await asyncio.sleep(0.05)
        in_flight = unacked(visitor)
        a.proc.kill()  # SIGKILL: no close frames, open transactions die with their connection
        killed = time.monotonic()
        await wait_until(
            lambda: visitor.ready and visitor.base == b.ws_url, 20, "the visitor to reconnect to B"
        )
        back = time.monotonic() - killed
        await asyncio.sleep(1.0)  # keep sending through the survivor
        stop.set()
        await asyncio.gather(*pumps)
        rows = await settle_and_check(conversation, [visitor], [agent])
        return rows, in_flight, back

    rows, in_flight, back = run(scenario())
    assert a.proc.wait(5) == -9
    # The visitor moved to the survivor once; the agent, already there, never dropped.
    assert visitor.base == b.ws_url and len(visitor.reconnect_seconds) == 1
    assert agent.connects == 1 and not agent.close_codes
    assert back < 5, f"reconnect took {back:.2f} s"
    assert len(rows) > 100 and in_flight > 0
    assert error_lines(b) == [], "the surviving server logged errors"
    retried = sum(f["type"] == "message.ack" and f["duplicate"] for f in visitor.frames)
    print(
        f"\nkill -9: {len(rows)} messages stored; {in_flight} visitor messages unacknowledged "
        f"at the kill, {retried} of them had been stored by A (their resend got "
        f"duplicate=true); kill to session.ready on B {back * 1000:.0f} ms (drop noticed to "
        f"ready {visitor.reconnect_seconds[0] * 1000:.0f} ms); copies dropped by seq "
        f"{visitor.duplicates} (visitor) {agent.duplicates} (agent); holes filled by the server "
        f"{visitor.filled} (visitor); agent resumes {agent.gap_resumes}"
    )


def live_created(client, client_msg_id: str) -> bool:
    """The client got this message as a live `message.created` (not from the database)."""
    return any(
        f["type"] == "message.created" and f["message"]["client_msg_id"] == client_msg_id
        for f in client.frames
    )


def test_redis_restart_loses_and_doubles_nothing_and_delivery_recovers(servers, shop, tmp_path):
    redis_url()  # a run without Redis skips this loudly (CI: fails)
    own = RedisServer(tmp_path)  # never the shared Redis: this one is killed
    try:
        # A short heartbeat, so presence (lost with Redis) is rebuilt within seconds.
        env = dict(FAST, WS_HEARTBEAT_TIMEOUT="6")
        a = servers.start(own.url, **env)
        b = servers.start(own.url, **env)
        boot = bootstrap(a.url, shop["key"])
        visitor = VisitorClient([a.ws_url], boot, name="v", auto_reconnect=True)
        agent = AgentClient(
            [b.ws_url], shop["merchant"].pk, shop["cookie"], name="a", auto_reconnect=True
        )
        merchant_id = shop["merchant"].pk

        async def scenario():
            conversation = await start_chat(visitor, agent)
            stop = asyncio.Event()
            pumps = [
                asyncio.ensure_future(pump(visitor, stop)),
                asyncio.ensure_future(pump(agent, stop, conversation_id=conversation)),
            ]
            await asyncio.sleep(1.0)
            before = await sync_to_async(Message.objects.count)()
            own.stop()
            await asyncio.sleep(2.0)
            during = await sync_to_async(Message.objects.count)() - before
            own.start()
            restarted = time.monotonic()
            presence = f"{KEY_PREFIX}:pres:m{merchant_id}:*"
            # Delivery across processes works again once a visitor message sent after the
            # restart reaches the agent as a live broadcast.
            probe_sent = len(visitor.sent)
            await wait_until(
                lambda: any(live_created(agent, i) for i in list(visitor.sent)[probe_sent:]),
                20,
                "live delivery after the restart",
            )
            recovered = time.monotonic() - restarted
            await asyncio.sleep(1.0)
            stop.set()
            await asyncio.gather(*pumps)
            rows = await settle_and_check(conversation, [visitor], [agent])

            # Quiet now: each way, one message must arrive live, not through the database.
            errors_before = [len(error_lines(s)) for s in (a, b)]
            probe = await visitor.send("恢复了吗？")
            await wait_until(lambda: live_created(agent, probe), 5, "visitor -> agent live")
            reply = await agent.send("恢复了。", conversation_id=conversation)
            await wait_until(lambda: live_created(visitor, reply), 5, "agent -> visitor live")
            # Presence, lost with Redis (it restarts empty), is rebuilt by the sockets'
            # heartbeat refresh: one entry for the visitor, one for the agent.
            await wait_until(
                lambda: len(own.client().keys(presence)) == 2, 10, "presence entries to come back"
            )
            await settle_and_check(conversation, [visitor], [agent])
            errors_after = [len(error_lines(s)) for s in (a, b)]
            return rows, during, recovered, errors_before, errors_after

        rows, during, recovered, errors_before, errors_after = run(scenario())
        # Stores went on during the outage (MySQL is the source of truth) and nothing
        # logged an error once Redis was back.
        assert during > 20, f"only {during} messages stored while Redis was down"
        assert recovered < 10
        assert errors_after == errors_before, "errors logged after Redis came back"
        # The sockets stayed open through the outage: clients needed no reconnect.
        assert visitor.connects == 1 and agent.connects == 1
        print(
            f"\nredis restart: {len(rows)} messages, {during} stored during the 2 s outage; "
            f"live delivery back {recovered * 1000:.0f} ms after Redis started; holes the "
            f"server filled for the visitor {visitor.filled}; agent resumes "
            f"{agent.gap_resumes}; copies dropped by seq {visitor.duplicates} (visitor) "
            f"{agent.duplicates} (agent); error lines logged during the outage "
            f"{errors_before}"
        )
    finally:
        own.stop()


def test_cut_between_send_and_ack_stores_once_and_shows_once(servers, shop, layer_url):
    server = servers.start(layer_url, **FAST)
    boot = bootstrap(server.url, shop["key"])
    visitor = VisitorClient([server.ws_url], boot, name="v")
    agent = AgentClient([server.ws_url], shop["merchant"].pk, shop["cookie"], name="a")

    async def cut_after_send(client, body: str, *, stored_first: bool, **fields) -> bool:
        """Send, lose the connection before the ack is read, reconnect: the outbox resends
        the same client_msg_id. Returns whether the server had stored it before the cut."""
        if stored_first:
            client.deaf = True  # the ack is lost on the way
        client_msg_id = await client.send(body, **fields)
        exists = sync_to_async(Message.objects.filter(client_msg_id=client_msg_id).exists)
        if stored_first:
            deadline = time.monotonic() + 5
            while not await exists():
                assert time.monotonic() < deadline, "the message was not stored"
                await asyncio.sleep(0.005)
        await client.cut()
        client.deaf = False
        had = await exists()
        await client.connect()
        await wait_until(lambda: client_msg_id in client.acks, 5, "the ack after reconnect")
        return had

    async def scenario():
        conversation = await start_chat(visitor, agent)
        outcomes = []
        for round_ in range(10):
            # Deterministic: stored, ack lost. Racy: cut right after the frame left.
            for stored_first in (True, False):
                outcomes.append(
                    await cut_after_send(visitor, f"访客 {round_}", stored_first=stored_first)
                )
                outcomes.append(
                    await cut_after_send(
                        agent,
                        f"客服 {round_}",
                        stored_first=stored_first,
                        conversation_id=conversation,
                    )
                )
        rows = await settle_and_check(conversation, [visitor], [agent])
        return rows, outcomes

    rows, outcomes = run(scenario())
    # 1 opening message + 40 cut sends, each stored exactly once (checked above); and the
    # system line saying the agent joined (conversations/system_lines.py).
    assert len([m for m in rows if m.kind != "event"]) == 41
    # Each round: visitor then agent with the ack lost, then both with a racy cut. The
    # ack-lost sends were stored before the cut, and their retry was answered as a duplicate.
    assert all(had for i, had in enumerate(outcomes) if i % 4 < 2)
    assert visitor.duplicate_acks == 0  # the first ack it saw is the retry's
    retried = [
        f for f in visitor.frames + agent.frames if f["type"] == "message.ack" and f["duplicate"]
    ]
    assert len(retried) >= 20
    print(
        f"\ncut mid-send: {sum(outcomes)} of {len(outcomes)} sends were stored before the cut "
        f"(their retry got duplicate=true); {len(retried)} duplicate acks; copies dropped by "
        f"seq {visitor.duplicates} (visitor) {agent.duplicates} (agent)"
    )
