"""Idle sockets stay up past 30 s, against a real daphne process and real Redis. A file of
its own: the test mostly waits, so it runs with the wait-bound files (tests/conftest.py)
instead of leaving a worker idle for half a minute."""

from __future__ import annotations

import asyncio

import pytest

from tests.realtime.checks import settle_and_check
from tests.realtime.clients import pair, round_trip
from tests.realtime.conftest import error_lines, run
from tests.realtime.test_faults import start_chat

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.cost(35)
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
