"""What a process does for all its sockets at once, instead of once per socket:

- **One watchdog per event loop** (`watch` / `unwatch`): a single task wakes every tick, closes
  the sockets whose client went silent (4408 after WS_HEARTBEAT_TIMEOUT) and refreshes the
  presence entries of the others. One asyncio task, coroutine frame and timer per socket cost
  about 2 KB each at 10,000 idle sockets (docs/performance.md, "Idle sockets").
- **Leaving the pub/sub layer without waiting** (`release`): a closing socket drops its channel
  and groups from channels_redis's pub/sub layer synchronously, and the UNSUBSCRIBE commands go
  out in batches from one task per layer. Left to channels_redis, each closing socket waited
  for the shard's lock once per name (its own channel, its groups) behind every other closing
  socket; when thousands closed at once daphne cancelled the ones still waiting after its
  application_close_timeout, and each logged "Unexpected exception while cleaning-up channel"
  and left its channel subscribed for the life of the process (docs/realtime.md pitfall 9).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref

from django.conf import settings

from kefu.channel_layer import unsubscribe_later

from .. import presence

logger = logging.getLogger(__name__)

PRESENCE_REFRESH_SECONDS = 20.0
# Sockets whose presence entries go in one Redis pipeline (one round trip, one pooled
# connection). A socket's own pipelines (three round trips, 200 sockets at a time, each taking a
# connection from the pool and opening one the first time) took 20-48 % of the event loop in
# the ticks that fell into a saturation phase (docs/performance.md, "Round 2").
REFRESH_CHUNK = 500


def tick() -> float:
    """How often the watchdog looks: a silent socket is closed between WS_HEARTBEAT_TIMEOUT and
    that plus one tick after its last frame."""
    return min(PRESENCE_REFRESH_SECONDS, max(settings.WS_HEARTBEAT_TIMEOUT / 3, 0.2))


# --- The watchdog ---------------------------------------------------------------------------


WATCHDOG = "kefu-watchdog"  # the task's name (tests/e2e/asgi.py does not wait for it)


class _Watch:
    """The watched sockets of one event loop and the one task that checks them."""

    __slots__ = ("sockets", "task", "__weakref__")

    def __init__(self):
        self.sockets: set = set()
        self.task: asyncio.Task | None = None

    def add(self, consumer) -> None:
        self.sockets.add(consumer)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run(), name=WATCHDOG)

    async def _run(self) -> None:
        try:
            # Stops when no socket is left (a test's event loop can then end cleanly); the next
            # socket starts it again. The check and the reset below run without an await in
            # between, so a socket added meanwhile always finds a running task or none.
            while self.sockets:
                await asyncio.sleep(tick())
                await self._scan()
        finally:
            self.task = None

    async def _scan(self) -> None:
        timeout = settings.WS_HEARTBEAT_TIMEOUT
        now = time.monotonic()
        live = []
        for consumer in list(self.sockets):
            if getattr(consumer, "closing", False):
                continue
            if now - consumer.last_frame > timeout:
                self.sockets.discard(consumer)
                try:
                    await consumer.close(code=4408)
                except Exception:  # the socket went away meanwhile: its disconnect cleans up
                    logger.debug("closing a silent socket failed", exc_info=True)
            else:
                live.append(consumer)
        failed = 0
        first: BaseException | None = None
        for start in range(0, len(live), REFRESH_CHUNK):
            chunk = live[start : start + REFRESH_CHUNK]
            adds, removes = [], []
            for consumer in chunk:
                add, remove = consumer.presence_entries()
                adds += add
                removes += remove
            try:
                await presence.refresh(adds, removes)
            except Exception as exc:  # noqa: BLE001 - counted and logged once below
                failed += len(chunk)
                first = first or exc
        if failed:
            # One line per tick, not one per socket: with Redis down that was 10,000 tracebacks
            # every 20 s. The entries expire and come back with the first refresh that works.
            logger.error(
                "presence refresh failed for %d of %d sockets", failed, len(live), exc_info=first
            )


_watches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def watch(consumer) -> None:
    """Check this socket's heartbeat and refresh its presence until `unwatch`. The consumer
    has `last_frame` (time.monotonic()), `closing`, `close(code)` and `presence_entries()`."""
    loop = asyncio.get_running_loop()
    w = _watches.get(loop)
    if w is None:
        w = _watches[loop] = _Watch()
    w.add(consumer)


def unwatch(consumer) -> None:
    for w in list(_watches.values()):
        w.sockets.discard(consumer)


def watched_count() -> int:
    """Sockets watched in this event loop (tests)."""
    w = _watches.get(asyncio.get_running_loop())
    return len(w.sockets) if w else 0


# --- Leaving the pub/sub layer ----------------------------------------------------------------


def release(channel_layer, channel: str, groups: list[str]) -> bool:
    """Take `channel` out of `groups` and out of the layer, at once and without awaiting
    (nothing can cancel it half-way); the UNSUBSCRIBE commands follow in batches. False when
    the layer is not channels_redis's pub/sub layer: then use group_discard."""
    try:
        from channels_redis.pubsub import RedisPubSubChannelLayer
    except ImportError:  # pragma: no cover - channels_redis is a dependency
        return False
    if not isinstance(channel_layer, RedisPubSubChannelLayer):
        return False
    layer = channel_layer._get_layer()  # this event loop's
    names = []
    for group in groups:
        group_channel = layer._get_group_channel_name(group)
        members = layer.groups.get(group_channel)
        if members is None or channel not in members:
            continue
        members.discard(channel)
        if not members:
            del layer.groups[group_channel]
            names.append(group_channel)
    # Without its queue, the layer's receive() finds nothing to clean up when Channels cancels
    # it (channels_redis.pubsub.RedisPubSubLoopLayer.receive), and messages still arriving
    # for this channel are dropped.
    if layer.channels.pop(channel, None) is not None:
        names.append(channel)
    for name in names:
        unsubscribe_later(layer, name)
    return True


def subscriptions(channel_layer) -> set[str]:
    """The names this process's pub/sub layer is subscribed to in this event loop (tests)."""
    layer = channel_layer._get_layer()
    return set().union(*(shard._subscribed_to for shard in layer._shards))
