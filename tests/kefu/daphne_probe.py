"""The product's ASGI application plus GET /__probe, which reports what the daphne process
serving it keeps per socket (tests/kefu/test_daphne_sockets.py). Served only by that test."""

from __future__ import annotations

import gc
import json

from kefu.asgi import application as kefu_application


def _report() -> dict:
    from daphne.http_protocol import WebRequest
    from daphne.ws_protocol import WebSocketProtocol

    from kefu.daphne_sockets import HANDSHAKE_ATTRIBUTES

    gc.collect()
    sockets, requests = [], []
    for obj in gc.get_objects():
        if isinstance(obj, WebSocketProtocol) and obj.state == obj.STATE_OPEN:
            sockets.append(
                {
                    "queue": type(obj.application_queue).__name__,
                    "handshake_left": [n for n in HANDSHAKE_ATTRIBUTES if hasattr(obj, n)],
                    "request": type(obj.request).__name__,
                    "send_queue": type(obj.send_queue).__name__,
                    "path": obj.request.path,
                }
            )
        elif isinstance(obj, WebRequest):
            requests.append(
                {
                    "uri": obj.uri.decode(),
                    "queue": type(getattr(obj, "application_queue", None)).__name__,
                }
            )
    from twisted.internet import tcp

    return {
        "sockets": sockets,
        "requests": requests,
        "merchant_rows_in_coroutines": _held(),
        "writes_flushed": getattr(tcp.Connection.startWriting, "kefu_flush", False),
    }


def _held() -> int:
    """Merchant rows a coroutine (a socket's application frames) keeps referenced."""
    import types

    from merchants.models import Merchant

    rows = [obj for obj in gc.get_objects() if isinstance(obj, Merchant)]
    held = 0
    for i in range(len(rows)):
        referrers = gc.get_referrers(rows[i])
        held += any(isinstance(r, types.CoroutineType) for r in referrers)
    return held


# GET /__probe/big: a body far larger than one send takes (Twisted sends at most 128 KB per
# call), so the socket waits for writability (kefu/daphne_writes.py).
BIG = bytes(range(256)) * (64 * 1024)  # 16 MB


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] in ("/__probe", "/__probe/big"):
        await receive()
        body = BIG if scope["path"] == "/__probe/big" else json.dumps(_report()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return
    return await kefu_application(scope, receive, send)
