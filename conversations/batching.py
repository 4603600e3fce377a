"""Per-process batching of visitor messages: the visitor sockets' sends waiting at one moment are
stored in one transaction, with one commit.

Why: every database call of a Channels process runs in one thread, one after another, and a
commit waits for the log flush (~10 ms here), so one message per transaction caps a process at
roughly 1 / (queries + flush) messages per second however many cores or sockets it has. Here
the sends that arrive while a batch is in the database thread wait and go together in the next
one: at low load a batch is one message (no added delay), under load batches grow and the flush
and the thread hop are shared. The guarantees do not change (docs/realtime.md):

- a message is acknowledged only after the transaction that stored it committed;
- each send is isolated in a savepoint, so one refused send (conflicting client_msg_id, body too
  long, visitor gone) gets its own error and the others are stored;
- rows are locked in visitor-id order (visitor, then its conversation, as in
  message_send_by_visitor), so two processes' batches take shared rows in the same order and
  cannot deadlock; a visitor's own sends keep their order, so their seqs follow sending order;
- the events of the batch are collected after their commits and published from the event loop
  in commit order, before the acks, instead of one blocking thread-to-loop hop per event
  (realtime.deferred_publishes); while one batch is published the next one is already being
  stored;
- the post-commit step (the bot turn, the router: conversations.pipeline) does not run in this
  thread: the batch's conversations that need it are collected and handed to the process's
  step runner after the batch's events and acks;
- if the batch transaction fails as a whole (a deadlock, a lost connection), each send is
  retried alone through message_send_by_visitor, so an error reaches only the send that has it.

Whose sends go first when more wait than one batch takes (overload). A socket's frames are
handled one after another (Channels awaits each handler), so a socket has at most one send
here, and the others wait in its input queue; a flooding socket's backlog is that queue. Sends
are taken in two classes, like a fair queue's sparse and bulk flows: a send from a socket with
at most `SPARSE_WAITING` frames waiting behind it (a person typing, a quiet visitor, whose next
message may arrive while this one is stored) goes in the next batch; sends from sockets with
more waiting (backlogged) go in arrival order, `BACKLOGGED_SHARE` of them beside the sparse
ones (so many sparse sockets cannot starve them, and the transaction the sparse ones wait for
stays short), a full batch when no sparse send waits. A quiet
visitor's message thus waits for at most the batch in the database thread and its own, not for
one send of every flooding socket of the process. Order is unchanged where it is promised: one
socket's sends are one after another anyway; sends of two sockets waiting at the same time were
sent concurrently and have no order between them. How far a socket may run ahead of its acks
is bounded where its frames are read (kefu/daphne_sockets.py).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import weakref

from channels.db import database_sync_to_async

from . import pipeline, realtime, services

logger = logging.getLogger(__name__)

# Upper bound of sends per transaction: keeps row locks short and one batch's latency bounded.
MAX_BATCH = 64
# Backlogged sockets' sends in a batch that holds sparse ones: places kept for them, and no more.
BACKLOGGED_SHARE = 16
# Frames waiting behind a send up to which its socket counts as sparse (module docstring).
SPARSE_WAITING = 2


class VisitorMessageWriter:
    """One per event loop. `send(...)` takes message_send_by_visitor's keyword arguments and
    returns what it returns (or raises what it raises).

    Two stages, so the database thread never waits for Redis: `_drain` stores batch after
    batch; `_publish` sends each stored batch's events and then answers its sends, batch by
    batch in commit order (events before acks, as when each send published in its thread)."""

    def __init__(self):
        # Sends of sparse sockets, and of backlogged ones (module docstring).
        self.pending: list[tuple[dict, asyncio.Future]] = []
        self.backlogged: list[tuple[dict, asyncio.Future]] = []
        # (batch, results, events, conversations needing the post-commit step)
        self.stored: collections.deque = collections.deque()
        self.draining = self.publishing = False
        self.batches = self.messages = 0  # transactions run and sends stored through them

    async def send(self, *, waiting: int = 0, **kwargs):
        """`waiting`: frames of the sending socket waiting behind this one."""
        future = asyncio.get_running_loop().create_future()
        queue = self.pending if waiting <= SPARSE_WAITING else self.backlogged
        queue.append((kwargs, future))
        if not self.draining:
            self.draining = True
            asyncio.ensure_future(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self.pending or self.backlogged:
                batch = self._next_batch()
                sends = [k for k, _ in batch]
                self.batches += 1
                self.messages += len(sends)
                results, events, steps = [], [], []
                try:
                    try:
                        results, events, steps = await database_sync_to_async(_store)(sends)
                    except Exception:
                        logger.exception("batch store failed; every send goes alone")
                        results, events, steps = await database_sync_to_async(_store_one_by_one)(
                            sends
                        )
                except BaseException as exc:  # never leave a socket waiting for an answer
                    results = [exc] * len(batch)
                    if not isinstance(exc, Exception):
                        _answer(batch, results)
                        raise
                    logger.exception("storing a batch failed")
                self.stored.append((batch, results, events, steps))
                if not self.publishing:
                    self.publishing = True
                    asyncio.ensure_future(self._publish())
        finally:
            self.draining = False

    def _next_batch(self) -> list[tuple[dict, asyncio.Future]]:
        sparse = min(len(self.pending), MAX_BATCH - min(len(self.backlogged), BACKLOGGED_SHARE))
        batch, self.pending = self.pending[:sparse], self.pending[sparse:]
        # A batch with sparse sends takes only the backlogged sends' share: its transaction,
        # which the sparse sends wait for, stays short (a quarter of a full one at most).
        room = BACKLOGGED_SHARE if batch else MAX_BATCH
        batch += self.backlogged[:room]
        del self.backlogged[:room]
        room = MAX_BATCH - len(batch)
        if room and self.pending:  # few backlogged sends: the sparse ones left fill the batch
            batch += self.pending[:room]
            del self.pending[:room]
        return batch

    async def _publish(self) -> None:
        try:
            while self.stored:
                batch, results, events, steps = self.stored.popleft()
                try:
                    await realtime.apublish_events(events)
                finally:
                    _answer(batch, results)
                    # After the message's own events, so the bot's answer follows it.
                    for merchant_id, conversation_id in steps:
                        pipeline.runner().submit(merchant_id, conversation_id)
        finally:
            self.publishing = False


def _answer(batch, results) -> None:
    for (_, future), result in zip(batch, results):
        if future.done():
            continue  # the socket went away meanwhile
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


def _store(sends: list[dict]):
    with realtime.deferred_publishes() as events, pipeline.collecting() as steps:
        results = services.message_send_by_visitor_batch(sends)
    return results, events, steps


def _store_one_by_one(sends: list[dict]):
    results = []
    with realtime.deferred_publishes() as events, pipeline.collecting() as steps:
        for kwargs in sends:
            try:
                results.append(services.message_send_by_visitor(**kwargs))
            except Exception as exc:  # noqa: BLE001 - handed to that send's consumer
                results.append(exc)
    return results, events, steps


_writers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def writer() -> VisitorMessageWriter:
    """The writer of the running event loop (a process has one; tests may run several)."""
    loop = asyncio.get_running_loop()
    found = _writers.get(loop)
    if found is None:
        found = _writers[loop] = VisitorMessageWriter()
    return found
