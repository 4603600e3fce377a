"""channels_redis's pub/sub layer (4.3) with two changes, used through settings.CHANNEL_LAYERS:

- **A lighter inbox per channel.** The layer keeps one `asyncio.Queue` per socket's channel
  for the messages Redis delivers to it. An empty asyncio.Queue holds four deques (items,
  getters, putters, and its `finished` event's waiters), about 3 KB, and a socket's channel is
  empty almost all the time: at 10,000 idle sockets that was 30 MB of one process
  (docs/performance.md, "Idle sockets"). `Inbox` does the two things the layer asks of it
  (`put_nowait` from the receive loop, `get` from the one consumer reading the channel) with a
  deque that exists only while messages wait.
- **Unsubscribing without waiting in the closing consumer** (docs/realtime.md pitfall 9):
  a channel or group that is no longer needed leaves the layer's maps at once and is
  unsubscribed in batches by one task per layer (`unsubscribe_later`).
- **Several group messages in one round trip** (`group_send_many`): the PUBLISH commands of
  one batch of events go to Redis in one pipeline per shard, in their order, instead of one
  command, one write system call and one reply per event (docs/performance.md, "The event
  loop per message").

Everything else is channels_redis's own code.
"""

from __future__ import annotations

import asyncio
import collections
import logging

from channels_redis import pubsub
from channels_redis.utils import _wrap_close

logger = logging.getLogger(__name__)

# Names per UNSUBSCRIBE command.
UNSUBSCRIBE_CHUNK = 500


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


class _Unsubscriber:
    """Sends the UNSUBSCRIBE commands of one pub/sub layer (one per event loop) in batches."""

    __slots__ = ("layer", "pending", "task")

    def __init__(self, layer):
        self.layer = layer
        self.pending: list[str] = []
        self.task: asyncio.Task | None = None

    def add(self, name: str) -> None:
        self.pending.append(name)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            while self.pending:
                names, self.pending = self.pending, []
                by_shard: dict = {}
                for name in names:
                    by_shard.setdefault(self.layer._get_shard(name), []).append(name)
                for shard, batch in by_shard.items():
                    await self._unsubscribe(shard, batch)
        finally:
            self.task = None

    async def _unsubscribe(self, shard, names: list[str]) -> None:
        layer = self.layer
        try:
            async with shard._lock:
                # Checked under the shard's lock: a socket may have joined the same group
                # since (group_add subscribes under this lock only if the name is not in
                # _subscribed_to, so it subscribes again right after us).
                gone = [
                    n
                    for n in dict.fromkeys(names)
                    if n in shard._subscribed_to
                    and n not in layer.channels
                    and n not in layer.groups
                ]
                if not gone:
                    return
                shard._ensure_redis()
                shard._ensure_receiver()
                for start in range(0, len(gone), UNSUBSCRIBE_CHUNK):
                    await shard._pubsub.unsubscribe(*gone[start : start + UNSUBSCRIBE_CHUNK])
                shard._subscribed_to.difference_update(gone)
        except Exception:  # noqa: BLE001 - logged; retried below
            # Redis gone: redis-py keeps the names in its own list and would subscribe them
            # again on reconnect; try again in a second, like the layer's receive loop.
            logger.warning("unsubscribing %d closed channels failed; retrying", len(names))
            await asyncio.sleep(1)
            self.pending.extend(names)


def unsubscribe_later(layer, name: str) -> None:
    """Have `name` (a channel or group channel already taken out of `layer.channels` /
    `layer.groups`) unsubscribed soon, in a batch, by a task that nothing cancels half-way."""
    unsubscriber = getattr(layer, "_kefu_unsubscriber", None)
    if unsubscriber is None:
        unsubscriber = layer._kefu_unsubscriber = _Unsubscriber(layer)
    unsubscriber.add(name)


class _LoopLayer(pubsub.RedisPubSubLoopLayer):
    async def _subscribe_to_channel(self, channel):
        inbox = self.channels[channel] = Inbox()
        try:
            await self._get_shard(channel).subscribe(channel)
        except BaseException:  # cancelled while waiting for the lock: not a channel any more
            if self.channels.get(channel) is inbox:
                del self.channels[channel]
            unsubscribe_later(self, channel)
            raise
        if self.channels.get(channel) is not inbox:  # dropped while it was being subscribed
            unsubscribe_later(self, channel)

    async def group_add(self, group, channel):
        group_channel = self._get_group_channel_name(group)
        try:
            await super().group_add(group, channel)
        finally:
            # The socket left (or was cancelled) while the subscription waited for the lock:
            # the subscription that went out after its release is not wanted.
            if group_channel not in self.groups:
                unsubscribe_later(self, group_channel)

    async def group_send_many(self, messages: list[tuple[str, dict]]) -> None:
        """`group_send` for each (group, message), in this order, one Redis pipeline per shard
        (one write, one read) under the shard's lock, as `group_send` publishes. Redis runs a
        connection's commands in the order it reads them, so the messages of one group reach
        its subscribers in list order, as consecutive `group_send`s would. Raises if the
        shard's pipeline failed (Redis down): as a failed `group_send`, none or some of its
        messages went out."""
        by_shard: dict = {}
        for group, message in messages:
            channel = self._get_group_channel_name(group)
            by_shard.setdefault(self._get_shard(channel), []).append(
                (channel, self.channel_layer.serialize(message))
            )

        async def publish(shard, items) -> None:
            async with shard._lock:
                shard._ensure_redis()
                pipe = shard._redis.pipeline(transaction=False)
                for channel, data in items:
                    pipe.publish(channel, data)
                await pipe.execute()

        if len(by_shard) == 1:
            await publish(*next(iter(by_shard.items())))
            return
        results = await asyncio.gather(
            *(publish(shard, items) for shard, items in by_shard.items()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def receive(self, channel):
        """channels_redis's receive(), except the clean-up when Channels cancels it (the
        consumer ended): the channel is dropped at once and unsubscribed later in a batch.
        channels_redis awaited the shard's lock inside the cancelled task; a second
        cancellation there (daphne cancels a consumer that outlives its
        application_close_timeout again every second) logged a traceback and left the channel
        subscribed (docs/realtime.md pitfall 9)."""
        if channel not in self.channels:
            await self._subscribe_to_channel(channel)
        inbox = self.channels[channel]
        try:
            message = await inbox.get()
        except (TimeoutError, asyncio.CancelledError, GeneratorExit):
            if self.channels.get(channel) is inbox:
                del self.channels[channel]
                unsubscribe_later(self, channel)
            raise
        return self.channel_layer.deserialize(message)


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
