"""Who is connected: agents' and visitors' live sockets, and who has a conversation open.

Each live socket is an entry with an expiry time, refreshed by the socket's heartbeat. With
REDIS_URL the entries live in Redis sorted sets (member = socket, score = expiry), shared by
every server process; a process that dies (kill -9) leaves entries that simply expire. Without
Redis there is one process, and a dict does the same job.

Presence is never a source of truth for messages, only for "online / typing / viewing".
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from dataclasses import dataclass

from django.conf import settings

# A socket's entry lives this long past its last heartbeat: two missed heartbeats and it is gone.
SOCKET_TTL = 60.0


# Keys are relative: RedisStore puts settings.PRESENCE_KEY_PREFIX in front, so two installs (or
# two test runs) sharing one Redis, whose merchant and user ids overlap, never see each other's
# sockets as online.
def _agent_key(merchant_id: int, user_id: int) -> str:
    return f"pres:m{merchant_id}:a{user_id}"


def _visitor_key(merchant_id: int, visitor_id: int) -> str:
    return f"pres:m{merchant_id}:v{visitor_id}"


def _live_visitors_key(merchant_id: int) -> str:
    # One set per merchant, member "visitor:socket": who is on the merchant's site now (the
    # desk's "Visitors now" list) without scanning every visitor's own key.
    return f"live:m{merchant_id}"


def _viewers_key(merchant_id: int, conversation_id: int) -> str:
    return f"view:m{merchant_id}:c{conversation_id}"


def _viewer_member(user_id: int, typing: bool, socket: str) -> str:
    # "user:typing-flag:socket": one entry per socket, so two tabs of one agent count once when
    # listed and closing one tab does not hide the other.
    return f"{user_id}:{1 if typing else 0}:{socket}"


@dataclass(frozen=True)
class Viewer:
    user_id: int
    typing: bool


class MemoryStore:
    """Single-process store: {key: {member: expiry}}."""

    def __init__(self):
        self.sets: dict[str, dict[str, float]] = {}

    async def add(self, key: str, member: str, ttl: float | None = None) -> None:
        # SOCKET_TTL is read at call time (not bound as a default) so it can be tuned.
        self.sets.setdefault(key, {})[member] = time.time() + (SOCKET_TTL if ttl is None else ttl)

    async def remove(self, key: str, member: str) -> None:
        entries = self.sets.get(key)
        if entries is not None:
            entries.pop(member, None)
            if not entries:
                del self.sets[key]

    async def live(self, key: str) -> list[str]:
        now = time.time()
        entries = self.sets.get(key, {})
        for member in [m for m, exp in entries.items() if exp <= now]:
            del entries[member]
        return list(entries)

    async def live_many(self, keys: list[str]) -> list[list[str]]:
        return self.live_many_sync(keys)

    async def refresh(self, adds: list[tuple[str, str]], removes: list[tuple[str, str]]) -> None:
        for key, member in removes:
            await self.remove(key, member)
        for key, member in adds:
            await self.add(key, member)

    def live_many_sync(self, keys: list[str]) -> list[list[str]]:
        now = time.time()
        return [[m for m, exp in self.sets.get(k, {}).items() if exp > now] for k in keys]


class RedisStore:
    """Sorted sets in Redis; one client per event loop (redis.asyncio binds to its loop)."""

    def __init__(self, url: str, prefix: str = "kefu"):
        self.url = url
        self.prefix = prefix + ":"
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._sync = None
        self._sync_lock = threading.Lock()

    def _client(self):
        import redis.asyncio as aioredis

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # A blocking pool: past max_connections a command waits for a free connection.
            # redis-py 8's default pool raises MaxConnectionsError instead, which failed the
            # auth and heartbeat refresh of sockets once ~1,000 of 10,000 idle sockets on one
            # process refreshed at the same moment (found by bench/, docs/realtime.md pitfall 3).
            pool = aioredis.BlockingConnectionPool.from_url(
                self.url,
                decode_responses=True,
                socket_keepalive=True,
                health_check_interval=30,
                max_connections=settings.REDIS_MAX_CONNECTIONS,
                timeout=20,
            )
            client = aioredis.Redis(connection_pool=pool)
            self._clients[loop] = client
        return client

    async def add(self, key: str, member: str, ttl: float | None = None) -> None:
        ttl = SOCKET_TTL if ttl is None else ttl  # read at call time, like MemoryStore.add
        async with self._client().pipeline(transaction=False) as pipe:
            self._queue_add(pipe, key, [member], ttl)
            await pipe.execute()

    def _queue_add(self, pipe, key: str, members: list[str], ttl: float) -> None:
        key = self.prefix + key
        now = time.time()
        pipe.zadd(key, dict.fromkeys(members, now + ttl))
        pipe.zremrangebyscore(key, "-inf", now)
        # The key's own expiry is a backstop for keys nobody touches any more; it must not cut
        # short other members' entries, so never below the normal TTL.
        pipe.expire(key, int(max(ttl, SOCKET_TTL)) + 5)

    async def remove(self, key: str, member: str) -> None:
        await self._client().zrem(self.prefix + key, member)

    async def refresh(self, adds: list[tuple[str, str]], removes: list[tuple[str, str]]) -> None:
        """Many sockets' entries in one round trip: `removes` first, then `adds` (as `add`
        does them, with SOCKET_TTL). The watchdog's tick: one pipeline for a chunk of sockets
        instead of a pipeline per key and socket, each waiting for a pooled connection."""
        if not adds and not removes:
            return
        by_key: dict[str, list[str]] = {}
        for key, member in adds:
            by_key.setdefault(key, []).append(member)
        async with self._client().pipeline(transaction=False) as pipe:
            for key, member in removes:
                pipe.zrem(self.prefix + key, member)
            for key, members in by_key.items():
                self._queue_add(pipe, key, members, SOCKET_TTL)
            await pipe.execute()

    async def live(self, key: str) -> list[str]:
        return await self._client().zrangebyscore(self.prefix + key, time.time(), "+inf")

    async def live_many(self, keys: list[str]) -> list[list[str]]:
        if not keys:
            return []
        now = time.time()
        async with self._client().pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zrangebyscore(self.prefix + key, now, "+inf")
            return await pipe.execute()

    def live_many_sync(self, keys: list[str]) -> list[list[str]]:
        """For sync code (API views): a plain redis-py client, thread-safe through its pool."""
        if not keys:
            return []
        if self._sync is None:
            import redis

            # Under a lock: two request threads racing here made two clients, and the one
            # dropped closed its pool's connections while the other thread was reading from
            # them (a 500 on concurrent widget bootstraps, found by bench/).
            with self._sync_lock:
                if self._sync is None:
                    self._sync = redis.Redis.from_url(self.url, decode_responses=True)
        now = time.time()
        pipe = self._sync.pipeline(transaction=False)
        for key in keys:
            pipe.zrangebyscore(self.prefix + key, now, "+inf")
        return pipe.execute()


_store = None


def store():
    global _store
    if _store is None:
        _store = (
            RedisStore(settings.REDIS_URL, getattr(settings, "PRESENCE_KEY_PREFIX", "kefu"))
            if settings.REDIS_URL
            else MemoryStore()
        )
    return _store


def reset_store() -> None:
    """For tests that switch REDIS_URL or PRESENCE_KEY_PREFIX."""
    global _store
    _store = None


# --- Agents -----------------------------------------------------------------------------------


async def agent_socket_up(merchant_id: int, user_id: int, socket: str) -> None:
    await store().add(_agent_key(merchant_id, user_id), socket)


def agent_entries(
    merchant_id: int, user_id: int, socket: str, viewing: int | None
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(entries to add, entries to remove) that keep a live agent socket present: what
    agent_socket_up and, for the conversation it views, viewer_set(typing=False) write.
    Refreshed by the process's watchdog (refresh)."""
    adds = [(_agent_key(merchant_id, user_id), socket)]
    removes = []
    if viewing:
        key = _viewers_key(merchant_id, viewing)
        adds.append((key, _viewer_member(user_id, False, socket)))
        removes.append((key, _viewer_member(user_id, True, socket)))
    return adds, removes


async def agent_socket_down(merchant_id: int, user_id: int, socket: str) -> None:
    await store().remove(_agent_key(merchant_id, user_id), socket)


async def agents_connected(merchant_id: int, user_ids: list[int]) -> dict[int, bool]:
    lives = await store().live_many([_agent_key(merchant_id, u) for u in user_ids])
    return {u: bool(live) for u, live in zip(user_ids, lives)}


def agents_connected_sync(merchant_id: int, user_ids: list[int]) -> dict[int, bool]:
    """Sync, for the router (conversations.routing): one round trip for all the agents."""
    lives = store().live_many_sync([_agent_key(merchant_id, u) for u in user_ids])
    return {u: bool(live) for u, live in zip(user_ids, lives)}


def agent_status(*, connected: bool, away: bool) -> str:
    if not connected:
        return "offline"
    return "away" if away else "online"


# --- Visitors ---------------------------------------------------------------------------------


async def visitor_socket_up(merchant_id: int, visitor_id: int, socket: str) -> int:
    """Register a visitor socket; returns how many live sockets the visitor has now."""
    for key, member in visitor_entries(merchant_id, visitor_id, socket):
        await store().add(key, member)
    return len(await store().live(_visitor_key(merchant_id, visitor_id)))


def visitor_entries(merchant_id: int, visitor_id: int, socket: str) -> list[tuple[str, str]]:
    """The entries visitor_socket_up writes, for the watchdog's refresh."""
    return [
        (_visitor_key(merchant_id, visitor_id), socket),
        (_live_visitors_key(merchant_id), f"{visitor_id}:{socket}"),
    ]


async def refresh(adds: list[tuple[str, str]], removes: list[tuple[str, str]]) -> None:
    """Renew many sockets' entries at once (agent_entries, visitor_entries)."""
    await store().refresh(adds, removes)


async def visitor_socket_down(merchant_id: int, visitor_id: int, socket: str) -> int:
    key = _visitor_key(merchant_id, visitor_id)
    await store().remove(key, socket)
    await store().remove(_live_visitors_key(merchant_id), f"{visitor_id}:{socket}")
    return len(await store().live(key))


def visitors_online(merchant_id: int, visitor_ids: list[int]) -> dict[int, bool]:
    """Sync, for API views: one round trip for a whole page of visitors."""
    lives = store().live_many_sync([_visitor_key(merchant_id, v) for v in visitor_ids])
    return {v: bool(live) for v, live in zip(visitor_ids, lives)}


async def visitors_live(merchant_id: int) -> set[int]:
    """The merchant's visitors with at least one live socket (any page, any tab)."""
    members = await store().live(_live_visitors_key(merchant_id))
    return {int(m.split(":", 1)[0]) for m in members}


# --- Viewers (collision view) -----------------------------------------------------------------


async def viewer_set(
    merchant_id: int, conversation_id: int, user_id: int, socket: str, typing: bool = False
) -> None:
    key = _viewers_key(merchant_id, conversation_id)
    await store().remove(key, _viewer_member(user_id, not typing, socket))
    await store().add(key, _viewer_member(user_id, typing, socket))


async def viewer_clear(merchant_id: int, conversation_id: int, user_id: int, socket: str) -> None:
    key = _viewers_key(merchant_id, conversation_id)
    for typing in (False, True):
        await store().remove(key, _viewer_member(user_id, typing, socket))


async def viewers(merchant_id: int, conversation_id: int) -> list[Viewer]:
    by_user: dict[int, bool] = {}
    for member in await store().live(_viewers_key(merchant_id, conversation_id)):
        user, flag, _ = member.split(":", 2)
        by_user[int(user)] = by_user.get(int(user), False) or flag == "1"
    return [Viewer(user_id=u, typing=t) for u, t in sorted(by_user.items())]
