"""Many sockets of one process closing at once, with the channels_redis pub/sub layer on a real
Redis: the layer is left cleanly (no "Unexpected exception while cleaning-up channel", no
channel or group left subscribed) even when the server gives up waiting for the consumers and
cancels them, as daphne does after its application_close_timeout (docs/realtime.md pitfall 9).
And the process-wide watchdog (conversations.consumers.housekeeping) watches each socket once
and forgets it when it goes."""

from __future__ import annotations

import asyncio
import logging
import secrets

import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from conversations.consumers import housekeeping
from conversations.models import Visitor
from conversations.tokens import visitor_token_issue
from kefu.asgi import application
from tests.conftest import _reset_layers
from tests.realtime.clients import SITE_ORIGIN, wait_until
from tests.realtime.conftest import run
from tests.wsclient import open_visitor, receive_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SOCKETS = 300
PREFIX = "kefumass"


def _layers(url: str) -> dict:
    return {
        "default": {
            "BACKEND": "kefu.channel_layer.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": url, "socket_timeout": None}], "prefix": PREFIX},
        }
    }


@pytest.mark.parametrize("cancelled", [False, True], ids=["disconnect", "disconnect+cancel"])
def test_many_sockets_closing_at_once_leave_no_subscription_and_no_error(
    acme, redis_server, caplog, cancelled
):
    from channels.layers import get_channel_layer

    acme.allowed_origins = SITE_ORIGIN
    acme.save()
    anonymous = [secrets.token_urlsafe(12) for _ in range(SOCKETS)]
    Visitor.objects.bulk_create([Visitor(merchant=acme, anonymous_id=a) for a in anonymous])
    ids = list(Visitor.objects.filter(anonymous_id__in=anonymous).values_list("pk", flat=True))
    tokens = [visitor_token_issue(merchant_id=acme.pk, visitor_id=i) for i in ids]
    r = redis_server.client()

    async def open_one(token, gate):
        async with gate:
            comm = WebsocketCommunicator(
                application,
                f"/ws/visitor/?key={acme.widget_key}",
                headers=[(b"origin", SITE_ORIGIN.encode()), (b"host", b"127.0.0.1")],
            )
            connected, _ = await comm.connect(timeout=30)  # a loaded machine is slow
            assert connected
            await comm.send_json_to({"type": "auth", "token": token})
            await receive_until(comm, "session.ready", timeout=20)
            return comm

    async def scenario():
        layer = get_channel_layer()
        gate = asyncio.Semaphore(10)
        comms = await asyncio.gather(*(open_one(t, gate) for t in tokens))
        # Each socket: its own channel and its visitor group; all: the merchant's visitors group.
        assert len(housekeeping.subscriptions(layer)) == 2 * SOCKETS + 1
        assert len(r.pubsub_channels(f"{PREFIX}*")) == 2 * SOCKETS + 1
        # One watchdog for all of them, not one task per socket.
        assert housekeeping.watched_count() == SOCKETS
        tasks_before = len(asyncio.all_tasks())

        caplog.clear()
        for comm in comms:  # every client gone at the same moment
            await comm.send_input({"type": "websocket.disconnect", "code": 1006})
        if cancelled:
            # The server stops waiting for them (daphne: application_close_timeout) while
            # most are still in their disconnect handler or leaving the layer.
            await asyncio.sleep(0.02)
            for comm in comms:
                comm.future.cancel()
        await asyncio.gather(*(comm.future for comm in comms), return_exceptions=True)
        await wait_until(
            lambda: not r.pubsub_channels(f"{PREFIX}*"), 20, "every subscription to go"
        )
        assert housekeeping.subscriptions(layer) == set()
        assert housekeeping.watched_count() == 0
        assert len(asyncio.all_tasks()) < tasks_before - SOCKETS  # nothing per socket remains

        # The layer still works for the next socket of the same visitor.
        comm = await open_one(tokens[0], asyncio.Semaphore(1))
        await wait_until(
            lambda: len(r.pubsub_channels(f"{PREFIX}*")) == 3, 10, "the new socket's channels"
        )
        await comm.disconnect()
        await wait_until(lambda: not r.pubsub_channels(f"{PREFIX}*"), 10, "it to leave")
        await layer.flush()  # this event loop's Redis connections end with it

    with override_settings(CHANNEL_LAYERS=_layers(redis_server.url)):
        _reset_layers()
        try:
            with caplog.at_level(logging.WARNING):
                run(scenario(), timeout=300)
        finally:
            _reset_layers()
    errors = [
        rec
        for rec in caplog.records
        if rec.levelno >= logging.ERROR or rec.name.startswith("channels_redis")
    ]
    assert errors == [], [rec.getMessage() for rec in errors]


def test_the_watchdog_closes_silent_sockets_and_keeps_the_pinging_ones(acme, settings):
    """The process-wide watchdog (one task) still closes a silent socket with 4408 after
    WS_HEARTBEAT_TIMEOUT while a pinging one stays, and stops when no socket is left."""
    settings.WS_HEARTBEAT_TIMEOUT = 1
    acme.allowed_origins = SITE_ORIGIN
    acme.save()

    async def scenario():
        silent, connected, _ = await open_visitor(acme, origin=SITE_ORIGIN)
        assert connected
        pinging, connected, _ = await open_visitor(acme, origin=SITE_ORIGIN)
        assert connected
        assert housekeeping.watched_count() == 2
        for _ in range(8):  # 1.6 s: past the timeout plus a tick
            await pinging.send_json_to({"type": "ping"})
            await receive_until(pinging, "pong")
            await asyncio.sleep(0.2)
        closed = await silent.receive_output(timeout=1)
        assert closed == {"type": "websocket.close", "code": 4408}
        await silent.send_input({"type": "websocket.disconnect", "code": 4408})
        await pinging.send_json_to({"type": "ping"})
        await receive_until(pinging, "pong")
        assert housekeeping.watched_count() == 1
        await pinging.disconnect()
        await silent.wait(timeout=2)
        assert housekeeping.watched_count() == 0

    run(scenario())
