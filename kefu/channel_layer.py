"""channels_redis's pub/sub layer with a lighter inbox per channel (settings.CHANNEL_LAYERS).

The layer keeps one `asyncio.Queue` per socket's channel for the messages Redis delivers to it.
An empty asyncio.Queue holds four deques (items, getters, putters, and its `finished` event's
waiters), about 3 KB, and a socket's channel is empty almost all the time: at 10,000 idle
sockets that was 30 MB of one process (docs/performance.md, "Idle sockets"). `Inbox` does the
two things the layer asks of it (`put_nowait` from the receive loop, `get` from the one consumer
reading the channel) with a deque that exists only while messages wait. Everything else is
channels_redis 4.3's own code, unchanged.
"""

from __future__ import annotations

import asyncio
import collections

from channels_redis import pubsub
from channels_redis.utils import _wrap_close


class Inbox:
    """A single-reader FIFO: a channel is read by one consumer at a time (Channels' contract
    for a specific channel)."""

    __slots__ = ("_items", "_waiter")

    def __init__(self):
        self._items: collections.deque | None = None
        self._waiter: asyncio.Future | None = None

    def put_nowait(self, item) -> None:
        if self._items is None:
            self._items = collections.deque()
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self):
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._items.popleft()
        if not self._items:
            self._items = None  # give the deque's block back between messages
        return item

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        return not self._items


class _LoopLayer(pubsub.RedisPubSubLoopLayer):
    async def _subscribe_to_channel(self, channel):
        self.channels[channel] = Inbox()
        shard = self._get_shard(channel)
        await shard.subscribe(channel)


class RedisPubSubChannelLayer(pubsub.RedisPubSubChannelLayer):
    """channels_redis.pubsub.RedisPubSubChannelLayer whose channels use `Inbox`."""

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        try:
            return self._layers[loop]
        except KeyError:
            layer = self._layers[loop] = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
            return layer
