"""The product's ASGI application with two measuring aids for the benchmark, nothing else:

- every SQL statement any thread of this process runs is counted (a Django execute wrapper
  installed on each new database connection);
- with BENCH_CHANNEL_LAYER=core, the channels_redis core layer replaces the pub/sub layer
  (to measure both); BENCH_MAX_BATCH=N caps conversations.batching's batch (1 = the old
  one-transaction-per-message path, for comparison);
- GET /__bench/stats answers {"queries", "rss_kb", "sockets", "pid", "batches", "batched"}
  for this process (batches = visitor-message transactions, batched = messages in them).

It is served only by bench/stack.py; production serves kefu.asgi:application.
"""

from __future__ import annotations

import json
import os
import threading

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings")
django.setup()
from django.conf import settings  # noqa: E402

if os.environ.get("BENCH_CHANNEL_LAYER") == "core" and settings.REDIS_URL:
    # The other channels_redis layer, for the layer comparison (docs/realtime.md pitfalls 1-3):
    # same hosts and prefix, capacity raised so it does not drop at its default of 100.
    _config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    settings.CHANNEL_LAYERS["default"] = {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [dict(h, socket_timeout=None) for h in _config["hosts"]],
            "prefix": _config["prefix"],
            "capacity": 10_000,
        },
    }

from kefu.asgi import application as kefu_application  # noqa: E402

if os.environ.get("BENCH_MAX_BATCH"):
    # A/B measurement of conversations.batching: 1 = one message per transaction.
    from conversations import batching

    batching.MAX_BATCH = int(os.environ["BENCH_MAX_BATCH"])

from django.db.backends.signals import connection_created  # noqa: E402

_lock = threading.Lock()
_counts = {"queries": 0, "sockets": 0}


def _count(execute, sql, params, many, context):
    with _lock:
        _counts["queries"] += 1
    return execute(sql, params, many, context)


def _install(sender, connection, **kwargs):
    if _count not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count)


connection_created.connect(_install)


def _rss_kb() -> int:
    with open(f"/proc/{os.getpid()}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/__bench/stats":
        from conversations import batching

        writers = list(batching._writers.values())
        body = json.dumps(
            dict(
                _counts,
                rss_kb=_rss_kb(),
                pid=os.getpid(),
                batches=sum(w.batches for w in writers),
                batched=sum(w.messages for w in writers),
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return
    if scope["type"] == "websocket":
        _counts["sockets"] += 1  # event-loop thread only
        try:
            return await kefu_application(scope, receive, send)
        finally:
            _counts["sockets"] -= 1
    return await kefu_application(scope, receive, send)
