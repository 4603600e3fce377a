"""Counting limits shared by every process: "at most N per S seconds for this key" (an address,
a widget key). The counts live in Django's cache, which is Redis when REDIS_URL is set (every
server process and machine counts together) and process memory without it (the one-process
default). The window slides: the previous window's count is weighted by how much of it still
overlaps, so a burst at a window's edge cannot get twice the limit through.

A limit is written "N/S" in settings (e.g. "120/60"); "0/..." switches it off. What is limited
where, and why the defaults: docs/security.md, "9. Rate limits".
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.signals import setting_changed

PREFIX = "kefu:rl"

# One cache object for the whole process. `django.core.cache.cache` is a different object in
# every asyncio context (asgiref's Local), so each WebSocket consumer that checked a limit got
# a cache of its own with its own Redis pool and kept one Redis connection open for its whole
# life: 10,000 idle sockets were 10,000 Redis clients and ~4 KB of memory each
# (docs/performance.md, "Idle sockets"). Django's Redis and local-memory caches are
# thread-safe, so one instance serves every thread and socket.
_cache = None


def _shared_cache():
    global _cache
    if _cache is None:
        _cache = caches.create_connection(DEFAULT_CACHE_ALIAS)
    return _cache


def _reset_cache(*, setting, **kwargs):
    global _cache
    if setting == "CACHES":  # tests that switch the cache (override_settings)
        _cache = None


setting_changed.connect(_reset_cache)


@dataclass(frozen=True)
class Limit:
    name: str
    count: int
    seconds: int

    @classmethod
    def parse(cls, name: str, spec: str) -> Limit:
        count, _, seconds = spec.partition("/")
        limit = cls(name, int(count), int(seconds or 60))
        if limit.count < 0 or limit.seconds <= 0:
            raise ValueError(f"{name}: a limit is N/S with N >= 0 and S > 0, not {spec!r}")
        return limit


def setting(name: str) -> Limit:
    """The limit a setting names (read each time, so tests and reloads see changes)."""
    return Limit.parse(name, getattr(settings, name))


def hit(limit: Limit, key: str, *, now: float | None = None, count: bool = True) -> float:
    """Count one event for `key`. Returns 0 when it is within the limit, otherwise the seconds
    to wait before trying again (at least 1). Refused events count too: a client hammering past
    the limit stays refused until it slows down. count=False only looks (is `key` over the
    limit already?), for limits on failures, counted when they happen."""
    if limit.count == 0:
        return 0.0
    cache = _shared_cache()
    now = time.time() if now is None else now
    window = int(now // limit.seconds)
    elapsed = now - window * limit.seconds
    current_key = f"{PREFIX}:{limit.name}:{key}:{window}"
    if count:
        # add() then incr(): atomic on Redis and in process memory; the entry outlives the
        # next window, which weighs it.
        cache.add(current_key, 0, timeout=limit.seconds * 2 + 1)
        try:
            current = cache.incr(current_key)
        except ValueError:  # evicted between the two calls
            cache.set(current_key, 1, timeout=limit.seconds * 2 + 1)
            current = 1
    else:
        # Looking: "would one more be refused?"
        current = cache.get(current_key, 0) + 1
    previous = cache.get(f"{PREFIX}:{limit.name}:{key}:{window - 1}", 0)
    weighted = previous * (1 - elapsed / limit.seconds) + current
    if weighted <= limit.count:
        return 0.0
    if current > limit.count:
        # Over within this window: its count weighs on the next one too, so the wait runs past
        # this window's end until that weight lets one more through (current x (1 - t/S) + 1
        # <= count). Only the window's end (the old answer: 32 s with 1 per 600 s) sent the
        # client back to be refused again.
        into_next = limit.seconds * (1 - (limit.count - 1) / current)
        return float(max(1, math.ceil(limit.seconds - elapsed + into_next)))
    # Over only because of the previous window: wait until enough of it has slid out.
    excess = weighted - limit.count
    return float(max(1, math.ceil(excess * limit.seconds / max(previous, 1))))


async def ahit(limit: Limit, key: str, *, count: bool = True) -> float:
    return await sync_to_async(hit, thread_sensitive=False)(limit, key, count=count)
