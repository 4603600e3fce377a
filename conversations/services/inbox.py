"""Inbox triage: snooze (until a time, or until the visitor writes again) and priority. Any
active agent of the merchant may use them on any of its open conversations; each change reaches
every agent as `conversation.updated` after the commit. The wake-ups: a visitor message
(services.store.message_append), a resolve (routing.resolve_locked), and for timed snoozes the
beat task `conversations.tasks.snooze_wake` (snooze_wake_due below)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from kefu.errors import KefuError
from merchants.models import Membership

from .. import protocol, realtime, selectors, timeline
from ..models import Conversation
from .store import conversation_lock

# Agent-set priorities; a strongly negative visitor message raises to HIGH (store.py's
# NEGATIVE_PRIORITY is the same value).
PRIORITY_NORMAL, PRIORITY_HIGH, PRIORITY_URGENT = 0, 10, 20
PRIORITIES = (PRIORITY_NORMAL, PRIORITY_HIGH, PRIORITY_URGENT)
# A snooze ends at most this far ahead.
SNOOZE_MAX = timedelta(days=365)


def _actor_check(merchant_id: int, actor_user_id: int | None) -> None:
    if actor_user_id is None:
        return  # an API token acts for the whole merchant
    if not Membership.objects.filter(
        merchant_id=merchant_id, user_id=actor_user_id, is_active=True, user__is_active=True
    ).exists():
        raise KefuError(protocol.ErrorCode.FORBIDDEN, "Not an agent of this merchant.")


def conversation_snooze(
    *,
    merchant_id: int,
    conversation_id: int,
    actor_user_id: int | None,
    until: datetime | None,
) -> Conversation:
    """Snooze an open conversation until `until` (None: until the visitor writes again). It
    leaves the open views for the snoozed one; a visitor message wakes it either way."""
    now = timezone.now()
    if until is not None:
        if until.tzinfo is None:
            raise KefuError(
                protocol.ErrorCode.INVALID_FRAME, "Give a time with its time zone.", field="until"
            )
        if until <= now:
            raise KefuError(
                protocol.ErrorCode.INVALID_FRAME, "The time must be in the future.", field="until"
            )
        if until > now + SNOOZE_MAX:
            raise KefuError(
                protocol.ErrorCode.INVALID_FRAME,
                "Snooze for at most a year.",
                field="until",
            )
    with transaction.atomic():
        _actor_check(merchant_id, actor_user_id)
        conversation = conversation_lock(merchant_id=merchant_id, conversation_id=conversation_id)
        if conversation.status not in selectors.ACTIVE:
            raise KefuError(
                protocol.ErrorCode.CONVERSATION_CLOSED, "Only open conversations can be snoozed."
            )
        conversation.snoozed_at = now
        conversation.snoozed_until = until
        conversation.save(update_fields=["snoozed_at", "snoozed_until"])
        timeline.conversation_changed(conversation, queue_moved=False)
    return conversation


def conversation_unsnooze(
    *, merchant_id: int, conversation_id: int, actor_user_id: int | None
) -> Conversation:
    """Wake a snoozed conversation now (nothing to do when it is not snoozed)."""
    with transaction.atomic():
        _actor_check(merchant_id, actor_user_id)
        conversation = conversation_lock(merchant_id=merchant_id, conversation_id=conversation_id)
        if conversation.snoozed_at is not None:
            _wake(conversation)
    return conversation


def _wake(conversation: Conversation) -> None:
    conversation.snoozed_at = conversation.snoozed_until = None
    conversation.save(update_fields=["snoozed_at", "snoozed_until"])
    timeline.conversation_changed(conversation, queue_moved=False)


def conversation_set_priority(
    *, merchant_id: int, conversation_id: int, actor_user_id: int | None, priority: int
) -> Conversation:
    """Set a conversation's priority (PRIORITIES). A queued conversation moves in the queue
    (it is served by priority first), so agents get the new queue too."""
    if priority not in PRIORITIES:
        raise KefuError(
            protocol.ErrorCode.INVALID_FRAME,
            f"Priority is one of {', '.join(map(str, PRIORITIES))}.",
            field="priority",
        )
    with transaction.atomic():
        _actor_check(merchant_id, actor_user_id)
        conversation = conversation_lock(merchant_id=merchant_id, conversation_id=conversation_id)
        if conversation.priority != priority:
            conversation.priority = priority
            conversation.save(update_fields=["priority"])
            queued = conversation.queued_at is not None and conversation.assignee_id is None
            timeline.conversation_changed(conversation, queue_moved=queued)
    return conversation


@realtime.publishing
def snooze_wake_due(*, limit: int = 500) -> int:
    """Wake timed snoozes whose time has come (the beat task). Each one under its row lock,
    re-checked there: a visitor message or an agent may have woken or re-snoozed it meanwhile.
    Returns how many it woke."""
    now = timezone.now()
    due = list(
        Conversation.objects.filter(snoozed_until__lte=now)
        .order_by("snoozed_until")
        .values_list("merchant_id", "id")[:limit]
    )
    woke = 0
    for merchant_id, conversation_id in due:
        with transaction.atomic():
            conversation = conversation_lock(
                merchant_id=merchant_id, conversation_id=conversation_id
            )
            if conversation.snoozed_until is not None and conversation.snoozed_until <= now:
                _wake(conversation)
                woke += 1
    return woke
