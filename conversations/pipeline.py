"""The post-commit step for stored visitor messages: the one caller of the bot turn
(conversations.bot) and the router (conversations.routing) for a visitor message. Who runs it,
and why each message is handled exactly once and in seq order: docs/architecture.md, "A
message, end to end", step 7.

- `visitor_messages_process`: the step, for one conversation.
- `StepRunner` / `collecting`: in a server process, off the database thread, after a batch's
  events and acks (conversations.batching).
- `visitor_message_stored`: for any other caller of the visitor-message services, right after
  its commit.
- `visitor_messages_sweep`: for what a process that died before its step left waiting.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

from asgiref.sync import async_to_sync
from celery import shared_task
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError, close_old_connections, transaction
from django.db.models import F
from django.utils import timezone

from . import bot, realtime, routing
from .models import Conversation, Message
from .services.messages import needs_bot_or_router

logger = logging.getLogger(__name__)

# Conversations the sweep takes per run (the rest wait for the next run).
SWEEP_LIMIT = 500
# Seconds a runner thread waits for the event loop to send one transaction's events.
PUBLISH_TIMEOUT = 10


def visitor_messages_process(*, merchant_id: int, conversation_id: int, publish=None) -> int:
    """Run the step for every visitor message of the conversation it has not handled yet, in
    seq order; returns how many it handed to the bot or the router (not those passed over).

    Each transaction's events are sent by `publish(events)` right after its commit, before the
    next transaction starts (default: one hop from this thread to the event loop; inside an
    outer realtime.deferred_publishes they join it). Right after, not once at the end: a
    later write by someone else (an agent opening the conversation clears its unread count)
    must not be overtaken by this step's older `conversation.updated`.

    Never raises for one message's failure:
    - a database error (deadlock, lost connection) rolls back that message's turn and the
      pointer, and leaves the message for the next run or the sweep;
    - any other error (a bug) is logged and the pointer moves past the message, as the
      after-commit hook did before: retrying a bug would fail again and hold up every later
      message of the conversation. (The bot turns its own errors into a hand-over.)"""
    if realtime.publishes_deferred():
        publish = _joined
    handled = 0
    while True:
        seq = None
        try:
            with _publishing(publish), transaction.atomic():
                conversation = (
                    Conversation.objects.select_for_update()
                    .filter(merchant_id=merchant_id, pk=conversation_id)
                    .first()
                )
                if conversation is None or conversation.pipeline_seq >= conversation.last_seq:
                    return handled
                if _passed_over(conversation):
                    _advance(conversation_id, None)
                    return handled
                pending = list(
                    Message.objects.filter(
                        conversation_id=conversation_id,
                        seq__gt=conversation.pipeline_seq,
                        sender_kind=Message.SenderKind.VISITOR,
                    )
                    .order_by("seq")
                    .values_list("pk", "seq")[:2]
                )
                if pending:
                    message_id, seq = pending[0]
                    _bot_or_router(
                        merchant_id=merchant_id,
                        conversation_id=conversation_id,
                        message_id=message_id,
                        started=seq == 1,
                        reopened=seq == conversation.pipeline_reopened_seq,
                    )
                    handled += 1
                _advance(conversation_id, pending[1][1] - 1 if len(pending) > 1 else None)
            if len(pending) < 2:
                # The pointer is at last_seq: nothing waited under the lock, and a message
                # stored after this commit starts a run of its own (the runner's `again`), so
                # no empty transaction to find that out (three statements per new conversation).
                return handled
        except DatabaseError:
            logger.exception(
                "post-commit step failed on conversation %s; left for a retry", conversation_id
            )
            return handled
        except Exception:
            logger.exception(
                "post-commit step failed on conversation %s message seq %s; skipped",
                conversation_id,
                seq,
            )
            with _publishing(publish), transaction.atomic():
                if (
                    seq is None
                    or not Conversation.objects.select_for_update()
                    .filter(pk=conversation_id, pipeline_seq__lt=seq)
                    .exists()
                ):
                    return handled
                _advance(conversation_id, seq)


def _passed_over(conversation: Conversation) -> bool:
    """Whether every visitor message still waiting is one the bot and the router would pass
    over (seen under the row lock): the first message was handled, none waiting reopened the
    conversation, and it is assigned or queued without the bot, the state in which the store
    path does not trigger the step at all (services.messages.needs_bot_or_router). Such
    messages wait only because they were stored while an earlier one was still unrouted
    (a burst of new conversations): the pointer moves past all of them in this transaction,
    instead of one transaction of five or six statements and a commit per message, run by the
    process's step threads beside its event loop and database thread (docs/performance.md,
    "Latest run")."""
    if conversation.pipeline_seq < 1:
        return False  # the conversation's first message (started) has not been handled
    if conversation.pipeline_seq < conversation.pipeline_reopened_seq <= conversation.last_seq:
        return False
    return not needs_bot_or_router(conversation, False, False)


def _advance(conversation_id: int, seq: int | None) -> None:
    """Move the pointer (the caller holds the row lock): to `seq` while visitor messages wait
    after it, else to last_seq (including the bot's replies just stored): nothing waits."""
    rows = Conversation.objects.filter(pk=conversation_id)
    if seq is None:
        rows.update(pipeline_seq=F("last_seq"), pipeline_pending_since=None)
    else:
        rows.update(pipeline_seq=seq)


def _bot_or_router(
    *, merchant_id: int, conversation_id: int, message_id: int, started: bool, reopened: bool
) -> None:
    """The bot answers if it owns the conversation (or takes a new one); otherwise the router
    assigns, queues or leaves it. Both run inside the step's transaction (savepoints)."""
    if bot.visitor_message_received(
        merchant_id=merchant_id,
        conversation_id=conversation_id,
        message_id=message_id,
        started=started,
    ):
        return  # the bot keeps the conversation for now
    routing.visitor_message_received(
        merchant_id=merchant_id,
        conversation_id=conversation_id,
        message_id=message_id,
        started=started,
        reopened=reopened,
    )


def _publish_now(events: list) -> None:
    if events:
        async_to_sync(realtime.apublish_events)(events)


def _joined(events: list) -> None:
    """The events went to the caller's own collection."""


@contextmanager
def _publishing(publish):
    """Collect the events of the transaction inside and hand them to `publish` after its
    commit (a rollback leaves none: Django drops its on_commit callbacks)."""
    if publish is _joined:
        yield
        return
    try:
        with realtime.deferred_publishes() as events:
            yield
    finally:
        (publish or _publish_now)(events)


# --- Triggers --------------------------------------------------------------------------------

_collector = threading.local()


@contextmanager
def collecting():
    """Within this block (a consumer's database thread), the conversations whose stored
    messages need the step are collected in the yielded list as (merchant_id, conversation_id)
    instead of running the step in this thread; the caller hands them to `runner()`."""
    pending: list[tuple[int, int]] = []
    _collector.pending = pending
    try:
        yield pending
    finally:
        _collector.pending = None


def visitor_message_stored(sender, *, merchant_id: int, conversation_id: int, **kwargs) -> None:
    """Receiver of signals.visitor_message_stored (after the commit): collected for the runner
    inside `collecting()`, else run now in the caller's thread."""
    pending = getattr(_collector, "pending", None)
    if pending is not None:
        if (merchant_id, conversation_id) not in pending:
            pending.append((merchant_id, conversation_id))
        return
    visitor_messages_process(merchant_id=merchant_id, conversation_id=conversation_id)


class StepRunner:
    """One per event loop: runs the step off the database thread, one run per conversation at
    a time (a conversation submitted while its run is under way gets one more run after it,
    which picks up whatever was stored meanwhile); the events of each of the step's commits are
    sent from the loop before its next transaction starts. With PIPELINE_THREADS = 0 (the
    SQLite default: one writer at a time anyway, and two writing threads would only meet
    SQLite's lock errors) the step runs in Channels' database thread, after the acks."""

    def __init__(self, threads: int):
        self.executor = (
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pipeline")
            if threads > 0
            else None
        )
        self.running: set[int] = set()
        self.again: set[int] = set()

    def submit(self, merchant_id: int, conversation_id: int) -> None:
        if conversation_id in self.running:
            self.again.add(conversation_id)
            return
        self.running.add(conversation_id)
        asyncio.ensure_future(self._run(merchant_id, conversation_id))

    async def _run(self, merchant_id: int, conversation_id: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                self.again.discard(conversation_id)
                try:
                    if self.executor is None:
                        await database_sync_to_async(visitor_messages_process)(
                            merchant_id=merchant_id, conversation_id=conversation_id
                        )
                    else:
                        await loop.run_in_executor(
                            self.executor, _in_executor_thread, merchant_id, conversation_id, loop
                        )
                except Exception:
                    logger.exception("post-commit step on conversation %s failed", conversation_id)
                if conversation_id not in self.again:
                    return
        finally:
            self.running.discard(conversation_id)


def _in_executor_thread(merchant_id: int, conversation_id: int, loop) -> None:
    def publish(events: list) -> None:
        # Sent by the process's own loop (its channel layer connections), waited for here.
        if not events:
            return
        # A loop that is not running now (shutting down) will most likely never send them: this
        # thread waited PUBLISH_TIMEOUT for nothing, holding the process's exit. Clients resume
        # from the database. (A loop stopping after this check still costs the wait.)
        if not loop.is_running():
            logger.info(
                "the event loop stopped: %d events of conversation %s not sent",
                len(events),
                conversation_id,
            )
            return
        sending = realtime.apublish_events(events)
        try:
            future = asyncio.run_coroutine_threadsafe(sending, loop)
        except RuntimeError:  # the loop is closed
            sending.close()
            return
        try:
            future.result(PUBLISH_TIMEOUT)
        except Exception:
            logger.exception("publishing the post-commit step's events failed")

    # As database_sync_to_async does around each call: drop connections past their age.
    close_old_connections()
    try:
        visitor_messages_process(
            merchant_id=merchant_id, conversation_id=conversation_id, publish=publish
        )
    finally:
        close_old_connections()


_runners: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def runner() -> StepRunner:
    """The runner of the running event loop (a process has one; tests may run several)."""
    loop = asyncio.get_running_loop()
    found = _runners.get(loop)
    if found is None:
        found = _runners[loop] = StepRunner(settings.PIPELINE_THREADS)
    return found


# --- Sweep -------------------------------------------------------------------------------------


def visitor_messages_sweep(*, now=None) -> int:
    """Beat safety net: run the step for conversations whose visitor messages have waited for
    it longer than PIPELINE_SWEEP_GRACE seconds (the process that stored them was killed or
    restarted before its runner got to them, or a database error left them). The grace keeps
    the sweep out of the live runners' way; if both meet, the pointer makes one of them a
    no-op. Returns how many visitor messages it handled."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.PIPELINE_SWEEP_GRACE)
    waiting = list(
        Conversation.objects.filter(pipeline_pending_since__lt=cutoff)
        .order_by("pipeline_pending_since")
        .values_list("merchant_id", "id")[:SWEEP_LIMIT]
    )
    return sum(
        visitor_messages_process(merchant_id=merchant_id, conversation_id=conversation_id)
        for merchant_id, conversation_id in waiting
    )


@shared_task(acks_late=True)
def pipeline_sweep() -> int:
    """Beat, every 30 s. Here and not in tasks.py: the step calls the router, which queues
    tasks, so tasks.py importing the step would close an import cycle; the worker has this
    module loaded by ConversationsConfig.ready()."""
    return visitor_messages_sweep()
