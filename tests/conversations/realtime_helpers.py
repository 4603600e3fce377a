"""Shared by the realtime frame tests: sockets that keep a log of every frame they received,
and an autouse fixture giving each test a fresh channel layer and presence store.

Test modules import `fresh_realtime` (an autouse fixture) so it applies to them.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from conversations import presence
from tests.conftest import redis_url
from tests.wsclient import auth_visitor, open_agent, receive_until

__all__ = [
    "QUIET",
    "Sock",
    "agent_sock",
    "visitor_sock",
    "run",
    "fresh_realtime",
    "quiet_all",
]

# Silence this long means "nothing more is coming" (the Redis layer delivers in milliseconds).
QUIET = 0.4


def run(coro, timeout: float = 60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture(autouse=True)
def fresh_realtime(request, settings):
    """The in-process layer and a MemoryStore, unless the test asks for `channel_layer_kind`
    (then Redis for both when it is "redis") or `store_kind`. Redis presence keys get a prefix
    of their own, so parallel runs and earlier tests never show up as online."""
    from channels.layers import channel_layers

    kind = "memory"
    if "channel_layer_kind" in request.fixturenames:
        kind = request.getfixturevalue("channel_layer_kind")
    else:
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
        channel_layers.backends.clear()
    if "store_kind" in request.fixturenames:
        kind = request.getfixturevalue("store_kind")
    if kind == "redis":
        settings.REDIS_URL = redis_url()
        run_id = os.environ["KEFU_TEST_RUN"]
        settings.PRESENCE_KEY_PREFIX = f"kefutest{run_id}{uuid.uuid4().hex[:6]}"
    else:
        settings.REDIS_URL = ""
    presence.reset_store()
    yield kind
    presence.reset_store()
    channel_layers.backends.clear()


class Sock:
    """A socket and every frame it received, in order."""

    def __init__(self, comm, name: str, first=()):
        self.comm, self.name = comm, name
        self.log: list[dict] = list(first)
        self.ready: dict | None = None

    async def send(self, frame: dict) -> None:
        await self.comm.send_json_to(frame)

    async def until(self, frame_type: str, timeout: float = 5) -> dict:
        frame, seen = await receive_until(self.comm, frame_type, timeout)
        self.log.extend(seen)
        return frame

    async def until_match(self, predicate, timeout: float = 5) -> dict:
        """The first frame for which predicate(frame) is true (earlier ones are logged)."""
        while True:
            frame = await self.comm.receive_json_from(timeout=timeout)
            self.log.append(frame)
            if predicate(frame):
                return frame

    async def drain(self, quiet: float = QUIET) -> list[dict]:
        """Every frame that arrives until the socket has been silent for `quiet` seconds.
        (receive_nothing, unlike a receive that times out, does not kill the application.)"""
        got = []
        while not await self.comm.receive_nothing(timeout=quiet):
            got.append(await self.comm.receive_json_from(timeout=5))
        self.log.extend(got)
        return got

    async def ping(self) -> None:
        """The socket is still open and answering."""
        await self.send({"type": "ping"})
        assert (await self.until("pong")) == {"type": "pong"}

    async def close(self) -> None:
        await self.comm.disconnect(timeout=5)


async def agent_sock(merchant_id: int, cookie: bytes, name: str = "agent") -> Sock:
    comm, connected, code = await open_agent(merchant_id, cookie)
    assert connected, code
    sock = Sock(comm, name)
    sock.ready = await sock.until("session.ready")
    return sock


async def visitor_sock(merchant, visitor, name: str = "visitor", last_seq: int = 0) -> Sock:
    comm, ready = await auth_visitor(merchant, visitor, last_seq=last_seq)
    sock = Sock(comm, name, [ready])
    sock.ready = ready
    return sock


async def quiet_all(*socks: Sock, quiet: float = QUIET) -> dict[str, list[dict]]:
    """Drain every socket at once; {name: frames received}."""
    results = await asyncio.gather(*(s.drain(quiet) for s in socks))
    return {s.name: r for s, r in zip(socks, results)}
