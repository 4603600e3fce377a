"""Helpers to open sockets through the real ASGI application (origin checks, session auth)."""

from __future__ import annotations

import json

from channels.testing import WebsocketCommunicator
from django.test import Client

from conversations.tokens import visitor_token_issue
from kefu.asgi import application

ORIGIN = "http://127.0.0.1"
# The handshake's bound, as for every frame below. WebsocketCommunicator's own default is 1 s,
# which an agent's connect (session, membership, presence, queue snapshot) overran on a loaded
# machine: the socket was accepted, later; waiting for that longer proves the same thing.
CONNECT_TIMEOUT = 5


async def open_visitor(merchant, *, origin: str = ORIGIN, key: str | None = None):
    comm = WebsocketCommunicator(
        application,
        f"/ws/visitor/?key={key or merchant.widget_key}",
        headers=[(b"origin", origin.encode()), (b"host", b"127.0.0.1")],
    )
    connected, code = await comm.connect(timeout=CONNECT_TIMEOUT)
    return comm, connected, code


async def auth_visitor(merchant, visitor, *, last_seq: int = 0):
    comm, connected, _ = await open_visitor(merchant)
    assert connected
    token = visitor_token_issue(merchant_id=merchant.pk, visitor_id=visitor.pk)
    await comm.send_json_to({"type": "auth", "token": token, "last_seq": last_seq})
    ready = await comm.receive_json_from(timeout=5)
    assert ready["type"] == "session.ready", ready
    return comm, ready


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def open_agent(merchant_id: int, cookie: bytes | None, *, origin: str = "http://127.0.0.1"):
    headers = [(b"origin", origin.encode()), (b"host", b"127.0.0.1")]
    if cookie:
        headers.append((b"cookie", cookie))
    comm = WebsocketCommunicator(application, f"/ws/agent/{merchant_id}/", headers=headers)
    connected, code = await comm.connect(timeout=CONNECT_TIMEOUT)
    return comm, connected, code


async def receive_until(comm, frame_type: str, timeout: float = 5):
    """Frames up to and including the first of `frame_type`."""
    seen = []
    while True:
        frame = await comm.receive_json_from(timeout=timeout)
        seen.append(frame)
        if frame["type"] == frame_type:
            return frame, seen


async def send_raw(comm, text: str):
    await comm.send_to(text_data=text)


def dumps(frame: dict) -> str:
    return json.dumps(frame, ensure_ascii=False)
