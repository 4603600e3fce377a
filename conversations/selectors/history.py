"""A conversation's history: its messages (a page, or what came after a seq), one attachment,
the routing decisions."""

from __future__ import annotations

from django.db.models import QuerySet

from ..models import Attachment, Message, RoutingEvent

HISTORY_PAGE = 200


def message_list(
    *, merchant_id: int, conversation_id: int, include_private: bool = True
) -> QuerySet[Message]:
    # The attachment in the same query: message_out needs it for image and file messages.
    qs = Message.objects.filter(
        merchant_id=merchant_id, conversation_id=conversation_id
    ).select_related("attachment")
    if not include_private:
        qs = qs.filter(is_private=False)
    return qs.order_by("seq")


def message_history_after(
    *,
    merchant_id: int,
    conversation_id: int,
    after_seq: int,
    include_private: bool,
    limit: int = HISTORY_PAGE,
) -> tuple[list[Message], bool]:
    """Messages with seq > after_seq, oldest first, at most `limit`; and whether more follow."""
    rows = list(
        message_list(
            merchant_id=merchant_id,
            conversation_id=conversation_id,
            include_private=include_private,
        ).filter(seq__gt=after_seq)[: limit + 1]
    )
    return rows[:limit], len(rows) > limit


def attachment_get(*, merchant_id: int, attachment_id: int) -> Attachment | None:
    return Attachment.objects.filter(merchant_id=merchant_id, pk=attachment_id).first()


def routing_event_list(*, merchant_id: int, conversation_id: int) -> QuerySet:
    """A conversation's routing decisions, oldest first (the `routing_timeline` index)."""
    return RoutingEvent.objects.filter(
        merchant_id=merchant_id, conversation_id=conversation_id
    ).order_by("id")
