"""The product's ASGI application with two measuring aids for the benchmark, nothing else:

- every SQL statement any thread of this process runs is counted (a Django execute wrapper
  installed on each new database connection);
- with BENCH_CHANNEL_LAYER=core, the channels_redis core layer replaces the pub/sub layer
  (to measure both); BENCH_MAX_BATCH=N caps conversations.batching's batch (1 = the old
  one-transaction-per-message path, for comparison);
- GET /__bench/stats answers {"queries", "rss_kb", "sockets", "pid", "batches", "batched",
  "gc"} for this process (batches = visitor-message transactions, batched = messages in them;
  gc = the garbage collector's runs per generation with their pauses, total and longest, and
  the pauses of 20 ms or more with the perf_counter time they ended);
- with BENCH_SQL_TEXT=1 the statements are also counted by text (literals and IN lists folded)
  and by the thread that ran them, with the wall time of the batches and of the post-commit
  step's runs; GET /__bench/sql answers those counts and restarts them
  (which statements a phase runs per message: docs/performance.md, "Latest run");
- BENCH_GC_FREEZE=0 undoes kefu/asgi.py's gc.freeze() (A/B of the collector's pauses);
- BENCH_GC_THRESHOLD=a,b,c sets the collector's thresholds (gc.set_threshold), for A/B;
- with BENCH_TRACE=1 each visitor message's path is stamped stage by stage (GET /__bench/trace,
  bench/loop_profile.py);
- with BENCH_TRACEMALLOC=N (frames kept per allocation), GET /__bench/tracemalloc?base=1 takes
  a baseline snapshot and GET /__bench/tracemalloc answers the top allocations grown since it
  and the objects the collector tracks grown per socket, by type
  (what an idle socket holds: bench/sockets.py --tracemalloc).

It is served only by bench/stack.py; production serves kefu.asgi:application.
"""

from __future__ import annotations

import collections
import gc
import json
import os
import re
import threading
import time

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

# The collector's pauses (the event loop and the database thread both stop for them).
_gc = {"runs": [0, 0, 0], "ms": [0.0, 0.0, 0.0], "max_ms": [0.0, 0.0, 0.0], "long": []}
_gc_started = [0.0]


def _gc_callback(phase, info):
    if phase == "start":
        _gc_started[0] = time.perf_counter()
        return
    now = time.perf_counter()
    ms, generation = (now - _gc_started[0]) * 1000, info["generation"]
    _gc["runs"][generation] += 1
    _gc["ms"][generation] += ms
    _gc["max_ms"][generation] = max(_gc["max_ms"][generation], ms)
    if ms >= 20:
        _gc["long"].append((round(now, 3), generation, round(ms, 1), info["collected"]))


gc.callbacks.append(_gc_callback)
if os.environ.get("BENCH_GC_FREEZE") == "0":
    # A/B of kefu/asgi.py's gc.freeze(): the startup heap back in the collector's generations.
    gc.unfreeze()
if os.environ.get("BENCH_GC_THRESHOLD"):
    # A/B of the collector's thresholds, "gen0,gen1,gen2" (gc.set_threshold).
    gc.set_threshold(*(int(n) for n in os.environ["BENCH_GC_THRESHOLD"].split(",")))

_timed: collections.Counter = collections.Counter()
if os.environ.get("BENCH_SQL_TEXT"):
    # Wall time of the database thread's batches and of the step's runs, with the statements.
    import time

    from conversations import batching, pipeline

    def _timing(name, function):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                with _lock:
                    _timed[f"~{name} ms"] += (time.perf_counter() - started) * 1000
                    _timed[f"~{name} calls"] += 1

        return timed

    batching._store = _timing("batch", batching._store)
    pipeline.visitor_messages_process = _timing("step", pipeline.visitor_messages_process)

if os.environ.get("BENCH_SWITCH_INTERVAL"):
    # A/B of the GIL's switch interval (docs/performance.md, "The event loop per message").
    import sys

    sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))

if os.environ.get("BENCH_MAX_WAITING_FRAMES"):
    # A/B of the back-pressure window (kefu/daphne_sockets.py; docs/performance.md, "Overload").
    from kefu import daphne_sockets

    daphne_sockets.MAX_WAITING_FRAMES = int(os.environ["BENCH_MAX_WAITING_FRAMES"])

_trace: dict = {}
if os.environ.get("BENCH_TRACE"):
    # Where a visitor message's time goes (bench/loop_profile.py): time.perf_counter() (the
    # system-wide monotonic clock, the load generator's too) at each stage of the path, by
    # client_msg_id: handed to the writer, its batch in and out of the database thread, its
    # events published, its message.created sent on an agent socket. GET /__bench/trace.
    import time

    from conversations import batching
    from conversations.consumers import base as consumers_base

    def _stamp(cid, stage):
        if cid:
            _trace.setdefault(cid, {})[stage] = time.perf_counter()

    def _client_msg_id(event):
        # A collected event carries its frame as JSON text (realtime.text_event): read the id
        # out of it without decoding the whole frame.
        text = event.get("text")
        if text is None:
            return event["frame"]["message"].get("client_msg_id")
        start = text.find('"client_msg_id":"')
        if start < 0:
            return None
        start += len('"client_msg_id":"')
        return text[start : text.index('"', start)]

    _writer_send = batching.VisitorMessageWriter.send

    async def _traced_send(self, **kwargs):
        _stamp(kwargs.get("client_msg_id"), "queued")
        return await _writer_send(self, **kwargs)

    batching.VisitorMessageWriter.send = _traced_send
    _store_fn = batching._store

    def _traced_store(sends):
        started = time.perf_counter()
        try:
            return _store_fn(sends)
        finally:
            ended = time.perf_counter()
            with _lock:  # the database thread
                for kwargs in sends:
                    stages = _trace.setdefault(kwargs.get("client_msg_id"), {})
                    stages["db_start"], stages["db_end"] = started, ended

    batching._store = _traced_store
    _apublish = batching.realtime.apublish_events

    async def _traced_apublish(events):
        cids = {
            f["message"].get("client_msg_id")
            for _g, f in events
            if f.get("type") == "message.created"
        }
        for cid in cids:
            _stamp(cid, "publish_start")
        try:
            return await _apublish(events)
        finally:
            for cid in cids:
                _stamp(cid, "published")

    batching.realtime.apublish_events = _traced_apublish
    _dispatch = consumers_base.FrameConsumer.dispatch

    async def _traced_dispatch(self, message):
        if message["type"] == "message.created" and self.role == "agent":
            cid = _client_msg_id(message)
            _stamp(cid, "agent_received")
            await _dispatch(self, message)
            _stamp(cid, "agent_sent")
            return
        await _dispatch(self, message)

    consumers_base.FrameConsumer.dispatch = _traced_dispatch

    # Before the writer: the frame read off the socket by daphne, then taken by its consumer.
    import sys

    _cid = re.compile(r'"client_msg_id":\s*"([^"]+)"')
    _receive = consumers_base.FrameConsumer.receive

    async def _traced_receive(self, text_data=None, bytes_data=None):
        if text_data and self.role == "visitor":
            found = _cid.search(text_data)
            if found:
                _stamp(found.group(1), "received")
        return await _receive(self, text_data, bytes_data)

    consumers_base.FrameConsumer.receive = _traced_receive
    _send_ack = consumers_base.FrameConsumer.send_ack

    async def _traced_send_ack(self, message, created, client_msg_id):
        _stamp(client_msg_id, "ack_start")
        await _send_ack(self, message, created, client_msg_id)
        _stamp(client_msg_id, "ack_sent")

    consumers_base.FrameConsumer.send_ack = _traced_send_ack
    if "daphne.server" in sys.modules:  # never import daphne (its reactor) under uvicorn
        from daphne.ws_protocol import WebSocketProtocol

        _on_message = WebSocketProtocol.onMessage

        def _traced_on_message(self, payload, isBinary):
            found = _cid.search(payload.decode("utf8", "replace"))
            if found:
                _stamp(found.group(1), "read")
            return _on_message(self, payload, isBinary)

        WebSocketProtocol.onMessage = _traced_on_message

if os.environ.get("BENCH_TRACEMALLOC"):
    import tracemalloc

    tracemalloc.start(int(os.environ["BENCH_TRACEMALLOC"]))
_snapshots: dict = {}

_lock = threading.Lock()
_counts = {"queries": 0, "sockets": 0}


_by_text: collections.Counter = collections.Counter()
_BY_TEXT = bool(os.environ.get("BENCH_SQL_TEXT"))


def _statement_key(sql: str) -> str:
    thread = threading.current_thread().name.split("_")[0].rstrip("-0123456789")
    text = re.sub(r"(%s|\?)(\s*,\s*(%s|\?))+", "%s...", sql)
    text = re.sub(r"\(\s*%s\.\.\.\s*\)(\s*,\s*\(\s*%s\.\.\.\s*\))+", "(%s...)...", text)
    text = re.sub(r"\b\d+\b", "N", re.sub(r"`s\d+_x\d+`", "`sN`", text))
    return f"[{thread}] {text[:220]}"


def _count(execute, sql, params, many, context):
    with _lock:
        _counts["queries"] += 1
        if _BY_TEXT:
            _by_text[_statement_key(sql)] += 1
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


def _tracemalloc_report(query: str) -> bytes:
    import gc
    import tracemalloc

    gc.collect()
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    objects = _objects_by_type()
    if "base=1" in query or "base" not in _snapshots:
        _snapshots["base"], _snapshots["objects"] = snapshot, objects
        _snapshots["sockets"] = _counts["sockets"]
        return b"baseline taken\n"
    lines = []
    # Objects the collector tracks (containers), by type: count and shallow bytes grown,
    # per socket opened since the baseline.
    sockets = max(1, _counts["sockets"] - _snapshots["sockets"])
    grown = {
        name: (
            n - _snapshots["objects"].get(name, (0, 0))[0],
            size - _snapshots["objects"].get(name, (0, 0))[1],
        )
        for name, (n, size) in objects.items()
    }
    lines.append(f"== gc-tracked objects grown per socket ({sockets} sockets)")
    for name, (n, size) in sorted(grown.items(), key=lambda kv: -kv[1][1])[:40]:
        lines.append(f"{n / sockets:8.2f} objects {size / sockets:9.0f} B  {name}")
    for key in ("lineno", "traceback"):
        stats = snapshot.compare_to(_snapshots["base"], key)
        total = sum(s.size_diff for s in stats)
        lines.append(f"== by {key}: total {total / 1024:.0f} KiB grown")
        for stat in stats[:40]:
            lines.append(f"{stat.size_diff / 1024:9.1f} KiB {stat.count_diff:+8d} blocks")
            frames = (
                stat.traceback.format()[-2 * 6 :] if key == "traceback" else [str(stat.traceback)]
            )
            lines.extend("      " + f for f in frames)
    return ("\n".join(lines) + "\n").encode()


def _objects_by_type() -> dict:
    import gc
    import sys

    counts: dict = {}
    for obj in gc.get_objects():
        kind = type(obj)
        name = f"{kind.__module__}.{kind.__qualname__}"
        n, size = counts.get(name, (0, 0))
        counts[name] = (n + 1, size + sys.getsizeof(obj))
    return counts


async def _answer(send, body: bytes, content_type: bytes) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type)]}
    )
    await send({"type": "http.response.body", "body": body})


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/__bench/tracemalloc":
        await _answer(send, _tracemalloc_report(scope["query_string"].decode()), b"text/plain")
        return
    if scope["type"] == "http" and scope["path"] == "/__bench/trace":
        with _lock:
            body = json.dumps(_trace).encode()
            _trace.clear()
        await _answer(send, body, b"application/json")
        return
    if scope["type"] == "http" and scope["path"] == "/__bench/sql":
        with _lock:
            body = json.dumps(dict(_by_text.most_common(), **_timed)).encode()
            _by_text.clear()
            _timed.clear()
        await _answer(send, body, b"application/json")
        return
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
                gc=_gc,
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
