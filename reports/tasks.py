"""Thin Celery tasks over reports.rollup; each re-reads the rows, so a late or repeated run
writes the same figures."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.db import OperationalError

from conversations.models import ConversationEvent

from . import receivers, rollup


# A lock wait or deadlock on the pending row (several workers inserting the same day while a
# rebuild deletes it) is retried; the sweep is the last resort, minutes later.
@shared_task(
    name=receivers.ROLLUP_TASK,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=1,
    max_retries=5,
)
def event_rollup(merchant_id: int, event_id: int) -> None:
    """The incremental rollup: have the day of the event's conversation rebuilt (once for the
    facts that come before that rebuild starts)."""
    event = (
        ConversationEvent.objects.filter(merchant_id=merchant_id, pk=event_id)
        .only("conversation_id")
        .first()
    )
    if event is None or event.conversation_id is None:
        return
    rollup.day_rollup_request(merchant_id=merchant_id, conversation_id=event.conversation_id)


@shared_task(name=rollup.PENDING_TASK, acks_late=True)
def pending_rollup(merchant_id: int, day: str) -> bool:
    return rollup.pending_rollup(merchant_id=merchant_id, day=dt.date.fromisoformat(day))


@shared_task(name="reports.tasks.rollup_sweep", acks_late=True)
def rollup_sweep() -> int:
    """The periodic catch-up (kefu/celery.py beat schedule)."""
    return rollup.rollup_sweep()


@shared_task(name="reports.tasks.days_rollup", acks_late=True)
def days_rollup(merchant_id: int, start: str, end: str) -> int:
    """Rebuild a date range on demand (`manage.py reports_rollup` queues or runs it)."""
    return rollup.days_rollup(
        merchant_id=merchant_id,
        start=dt.date.fromisoformat(start),
        end=dt.date.fromisoformat(end),
    )
